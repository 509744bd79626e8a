//! Proves that mixing allocates nothing once the mixer is built: a counting global
//! allocator watches the calling thread while frames are mixed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentphone_audio::mixer::Mixer;
use agentphone_audio::FRAME_SAMPLES;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only this thread's allocations count: the test harness allocates on others.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// GlobalAlloc contract; the counter and the const thread-local never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same layout as the caller gave us, forwarded to System.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; `ptr` was allocated by System with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn mixing_allocates_nothing_after_construction() {
    let mut m = Mixer::new(8).expect("valid size");
    let ids: Vec<_> = (0..8).map(|_| m.add().expect("room")).collect();
    let frame = [1000.0f32; FRAME_SAMPLES];

    // The counter itself must work, or a zero below proves nothing.
    WATCHING.with(|w| w.set(true));
    drop(std::hint::black_box(vec![0u8; 16]));
    WATCHING.with(|w| w.set(false));
    assert_eq!(ALLOCATIONS.swap(0, Ordering::Relaxed), 1);

    WATCHING.with(|w| w.set(true));
    for k in 0..200 {
        for (leg, &id) in ids.iter().enumerate() {
            m.set_input(id, &frame).expect("present");
            if k == 50 {
                m.set_muted(id, leg % 2 == 0).expect("present");
            }
            if k == 100 && leg == 3 {
                m.set_held(id, true).expect("present");
            }
        }
        m.mix();
        for &id in &ids {
            std::hint::black_box(m.output(id).expect("present"));
            std::hint::black_box(m.heard_level(id).expect("present").smoothed());
        }
    }
    m.remove(ids[7]).expect("present");
    m.mix();
    let again = m.add().expect("room");
    m.mix();
    WATCHING.with(|w| w.set(false));
    std::hint::black_box(again);
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 0, "mix path allocated");
}

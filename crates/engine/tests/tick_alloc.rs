//! Proves that a tick allocates nothing: a counting global allocator watches
//! the test thread while a busy engine (eight legs decoding, cleaning, mixing,
//! encoding, one held with music, the room recorded) ticks.

mod sim;

use agentphone_audio::source::Tone;
use agentphone_audio::wav::WavRecorder;
use agentphone_audio::{Frame, FRAME_SAMPLES};
use agentphone_engine::room::Room;
use agentphone_engine::{record, Command, PartId, RecordTarget, RoomId};
use sim::{tone, Sim, TICK};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
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
fn a_busy_tick_neither_allocates_nor_frees() {
    let mut sim = Sim::new();
    sim.engine.handle(Command::AddRoom {
        room: RoomId(1),
        audio: Box::new(Room::new()),
    });
    for i in 1..=8 {
        sim.add_remote(i, tone(200.0 + 97.0 * i as f64, 5_000.0));
        sim.engine.handle(Command::Join {
            part: PartId(i),
            room: RoomId(1),
        });
        sim.engine.handle(Command::Denoise {
            part: PartId(i),
            on: i % 2 == 0,
        });
    }
    sim.engine.handle(Command::MusicOnHold {
        source: Some(Box::new(Tone::new(300.0, -20.0).unwrap())),
    });
    sim.engine.handle(Command::Hold {
        part: PartId(3),
        held: true,
    });
    let path =
        std::env::temp_dir().join(format!("agentphone-tick-alloc-{}.wav", std::process::id()));
    let (tap, mut writer) = record(WavRecorder::create(&path, 1).unwrap());
    sim.engine.handle(Command::Record {
        target: RecordTarget::Room(RoomId(1)),
        tap: Some(tap),
    });
    // Warm up: chains arrive, buffers fill, first packets go out.
    sim.run(100);
    while sim.engine.poll_event().is_some() {}

    // The counter itself must work, or a zero below proves nothing.
    WATCHING.with(|w| w.set(true));
    drop(std::hint::black_box(vec![0u8; 16]));
    WATCHING.with(|w| w.set(false));
    assert_eq!(ALLOCATIONS.swap(0, Ordering::Relaxed), 2);

    let mic: Frame = [0.0; FRAME_SAMPLES];
    let mut out: Frame = [0.0; FRAME_SAMPLES];
    for _ in 0..300 {
        for r in &mut sim.remotes {
            r.send_due(sim.t0, sim.elapsed);
        }
        WATCHING.with(|w| w.set(true));
        sim.engine.tick(sim.t0 + sim.elapsed, &mic, &mut out);
        WATCHING.with(|w| w.set(false));
        for r in &mut sim.remotes {
            r.receive();
        }
        writer.drain().unwrap();
        sim.elapsed += TICK;
    }
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "a tick allocated or freed"
    );
    assert!(sim.remotes.iter().all(|r| r.heard.len() > 48_000 * 3));
    let _ = std::fs::remove_file(&path);
}

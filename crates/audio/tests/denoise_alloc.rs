//! The per-frame path must not allocate: a counting global allocator watches the
//! test thread while a denoiser processes many frames of varied audio.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentphone_audio::denoise::{DenoiseBatch, Denoiser, Kernel, Model};
use agentphone_audio::FRAME_SAMPLES;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised, so reading it never allocates inside the allocator.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if WATCHING.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call unchanged to the system allocator; the only extra
// work is a thread-local read and an atomic increment, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Speech-like test signal: a voiced buzz switching on and off over noise, plus
/// stretches of silence and of full-scale clipping, so every branch runs.
fn frame(i: usize, out: &mut [f32; FRAME_SAMPLES]) {
    let mut seed = (i as u32).wrapping_mul(2_654_435_761);
    for (n, s) in out.iter_mut().enumerate() {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = ((seed >> 9) as f32 / (1u32 << 23) as f32 - 0.5) * 2000.0;
        let t = (i * FRAME_SAMPLES + n) as f32 / 48_000.0;
        let voiced = if (i / 30).is_multiple_of(2) {
            8000.0 * (t * 2.0 * std::f32::consts::PI * 140.0).sin().powi(3)
        } else {
            0.0
        };
        *s = match i % 100 {
            90..=94 => 0.0,
            95 => f32::NAN,
            96 => 40_000.0,
            _ => voiced + noise,
        };
    }
}

#[test]
fn process_does_not_allocate() {
    for kernel in Kernel::ALL.into_iter().filter(|k| k.is_available()) {
        let mut d = Denoiser::with_kernel(kernel).unwrap();
        let mut input = [0.0f32; FRAME_SAMPLES];
        let mut output = [0.0f32; FRAME_SAMPLES];
        ALLOCS.store(0, Ordering::Relaxed);
        WATCHING.with(|w| w.set(true));
        for i in 0..500 {
            frame(i, &mut input);
            d.process(&input, &mut output);
        }
        d.reset();
        d.process(&input, &mut output);
        WATCHING.with(|w| w.set(false));
        let n = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(n, 0, "{kernel:?}: {n} allocations in 501 frames");
    }
}

#[test]
fn batch_process_does_not_allocate() {
    for kernel in Kernel::ALL.into_iter().filter(|k| k.is_available()) {
        let mut b = DenoiseBatch::new(Model::default_model(), 8, kernel).unwrap();
        let mut inputs = [[0.0f32; FRAME_SAMPLES]; 8];
        let mut outputs = [[0.0f32; FRAME_SAMPLES]; 8];
        let mut vads = [0.0f32; 8];
        ALLOCS.store(0, Ordering::Relaxed);
        WATCHING.with(|w| w.set(true));
        for i in 0..200 {
            for (l, f) in inputs.iter_mut().enumerate() {
                frame(i + 13 * l, f);
            }
            b.process(&inputs, &mut outputs, &mut vads).unwrap();
        }
        b.reset_leg(2);
        b.process(&inputs, &mut outputs, &mut vads).unwrap();
        WATCHING.with(|w| w.set(false));
        let n = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(n, 0, "{kernel:?}: {n} allocations in 201 batch steps");
    }
}

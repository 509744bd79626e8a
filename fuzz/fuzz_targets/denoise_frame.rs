//! Fuzzes the denoiser with arbitrary frame sequences (any f32 bit patterns,
//! including NaN and infinities): it must never panic and never output NaN.
#![no_main]

use agentphone_audio::denoise::{Denoiser, Kernel};
use agentphone_audio::FRAME_SAMPLES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // Any concrete kernel; one this CPU cannot run becomes the dispatched one.
    let kernel = Kernel::ALL[usize::from(sel) % Kernel::ALL.len()];
    let kernel = if kernel.is_available() {
        kernel
    } else {
        Kernel::Auto
    };
    let Ok(mut d) = Denoiser::with_kernel(kernel) else {
        return;
    };
    let mut input = [0.0f32; FRAME_SAMPLES];
    let mut output = [0.0f32; FRAME_SAMPLES];
    for chunk in rest.chunks(FRAME_SAMPLES * 4).take(16) {
        input.fill(0.0);
        for (s, b) in input.iter_mut().zip(chunk.chunks_exact(4)) {
            *s = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let vad = d.process(&input, &mut output);
        assert!((0.0..=1.0).contains(&vad));
        assert!(output.iter().all(|s| s.is_finite()));
    }
});

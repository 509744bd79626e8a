//! Fuzzes the denoiser with arbitrary frame sequences (any f32 bit patterns,
//! including NaN and infinities), alone and as legs of a `DenoiseBatch`: it
//! must never panic and never output NaN, and a batch leg equals the single
//! denoiser fed the same frames.
#![no_main]

use agentphone_audio::denoise::{DenoiseBatch, Denoiser, Kernel, Model};
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
    // A batch of two legs on the same kernel: the frame and its negation.
    let Ok(mut batch) = DenoiseBatch::new(Model::default_model(), 2, kernel) else {
        return;
    };
    let mut pair = [[0.0f32; FRAME_SAMPLES]; 2];
    let mut pair_out = [[0.0f32; FRAME_SAMPLES]; 2];
    let mut vads = [0.0f32; 2];
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
        pair[0] = input;
        for (n, s) in pair[1].iter_mut().zip(&input) {
            *n = -s;
        }
        assert!(batch.process(&pair, &mut pair_out, &mut vads).is_ok());
        assert!(vads.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(pair_out.iter().flatten().all(|s| s.is_finite()));
        // Leg 0 is the single denoiser's twin.
        assert_eq!(vads[0].to_bits(), vad.to_bits());
    }
});

//! 8 kHz ⇄ 48 kHz resampling for the narrowband codecs (G.711).
//!
//! The ratio is the fixed integer 6, so a polyphase FIR does the job exactly:
//! one Kaiser-windowed sinc low-pass (cut-off 4 kHz, transition 3.5–4.5 kHz,
//! ≥ 70 dB stop-band) shared by both directions. We keep our own instead of a
//! general resampler because the integer ratio lets every output sample cost
//! 41 multiply-adds with a known, whole-sample delay of 2.5 ms per direction
//! (20 samples at 8 kHz), and nothing is allocated after construction.

use thiserror::Error;

/// Integer ratio between the internal rate and the narrowband rate.
pub const RATIO: usize = 6;
/// Taps per polyphase branch.
const TAPS_PER_PHASE: usize = 41;
/// Length of the prototype filter (odd, so its delay is a whole sample).
const PROTO_LEN: usize = 241;
/// Padded length, a multiple of [`RATIO`] (the padding taps are zero).
const TAPS: usize = TAPS_PER_PHASE * RATIO;
/// The downsampler's taps, padded (zeros on the oldest side) to whole
/// blocks of the dot product, so it has no scalar tail.
const DOWN_TAPS: usize = 256;
/// Group delay of one direction, in 48 kHz samples.
pub const DELAY_48K: usize = (PROTO_LEN - 1) / 2;
/// Group delay of one direction, in 8 kHz samples.
pub const DELAY_8K: usize = DELAY_48K / RATIO;
/// Kaiser β for about 75 dB of stop-band attenuation.
const KAISER_BETA: f64 = 7.2;

/// Errors from the resamplers.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResampleError {
    /// The output buffer cannot hold the samples the input produces.
    #[error("output buffer holds {got} samples, {needed} are needed")]
    OutputTooSmall {
        /// Samples the call would produce.
        needed: usize,
        /// Capacity of the buffer passed.
        got: usize,
    },
}

/// Zeroth-order modified Bessel function of the first kind (series expansion).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= half / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The prototype low-pass at 48 kHz with unity DC gain, padded to [`TAPS`]:
/// designed once per process (a Kaiser window of Bessel sums), not for each
/// resampler, since every G.711 call builds two of them when it starts.
fn prototype() -> &'static [f64; TAPS] {
    static PROTOTYPE: std::sync::OnceLock<[f64; TAPS]> = std::sync::OnceLock::new();
    PROTOTYPE.get_or_init(design_prototype)
}

fn design_prototype() -> [f64; TAPS] {
    let mut h = [0.0f64; TAPS];
    let fc = 4_000.0 / 48_000.0; // cut-off as a fraction of the 48 kHz rate
    let m = (PROTO_LEN - 1) as f64;
    let denom = bessel_i0(KAISER_BETA);
    for (n, tap) in h.iter_mut().enumerate().take(PROTO_LEN) {
        let x = n as f64 - m / 2.0;
        let sinc = if x == 0.0 {
            2.0 * fc
        } else {
            (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
        };
        let r = 2.0 * n as f64 / m - 1.0;
        let w = bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / denom;
        *tap = sinc * w;
    }
    let sum: f64 = h.iter().sum();
    for tap in h.iter_mut() {
        *tap /= sum;
    }
    h
}

/// Lanes of the upsampler's per-tap vector: the six phases, padded to a
/// whole AVX register.
const LANES: usize = 8;

/// Upsamples 8 kHz to 48 kHz, keeping its filter state across calls.
#[derive(Clone)]
pub struct Upsampler {
    /// `taps[k][p]` = 6·h[p + 6·(40 - k)] (lanes 6 and 7 zero): for each
    /// history sample, its weight in all six outputs, so one input costs 41
    /// vector multiply-adds instead of six dot products each ending in a
    /// horizontal sum. The gain of 6 restores the level lost by
    /// zero-stuffing.
    taps: [[f32; LANES]; TAPS_PER_PHASE],
    /// Input history, newest last, stored twice so a window is one slice.
    hist: [f32; 2 * TAPS_PER_PHASE],
    pos: usize,
}

impl Default for Upsampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler {
    /// A fresh upsampler with silent history.
    pub fn new() -> Self {
        let h = prototype();
        let mut taps = [[0.0f32; LANES]; TAPS_PER_PHASE];
        for (k, lanes) in taps.iter_mut().enumerate() {
            for (p, c) in lanes.iter_mut().take(RATIO).enumerate() {
                // Reversed so the history is walked in time order.
                *c = (RATIO as f64 * h[p + RATIO * (TAPS_PER_PHASE - 1 - k)]) as f32;
            }
        }
        Self {
            taps,
            hist: [0.0; 2 * TAPS_PER_PHASE],
            pos: 0,
        }
    }

    /// Forgets the history (start of a new stream).
    pub fn reset(&mut self) {
        self.hist = [0.0; 2 * TAPS_PER_PHASE];
        self.pos = 0;
    }

    /// Resamples `input` (8 kHz) into `output` (48 kHz); returns the samples
    /// written, always `6 × input.len()`.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<usize, ResampleError> {
        let needed = input.len() * RATIO;
        if output.len() < needed {
            return Err(ResampleError::OutputTooSmall {
                needed,
                got: output.len(),
            });
        }
        let output = &mut output[..needed];
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            avx2::upsample(self, input, output);
            return Ok(needed);
        }
        self.run(input, output);
        Ok(needed)
    }

    /// `output.len() == 6 * input.len()`. Inlined into each instruction-set
    /// entry so the compiler vectorises it for that set.
    #[inline(always)]
    fn run(&mut self, input: &[f32], output: &mut [f32]) {
        for (&x, out) in input.iter().zip(output.chunks_exact_mut(RATIO)) {
            self.hist[self.pos] = x;
            self.hist[self.pos + TAPS_PER_PHASE] = x;
            self.pos = (self.pos + 1) % TAPS_PER_PHASE;
            let window = &self.hist[self.pos..self.pos + TAPS_PER_PHASE];
            // Four chains of additions, not one: each add waits for the
            // previous one in its chain (the latency, not the arithmetic,
            // bounds a single chain).
            let mut acc = [[0.0f32; LANES]; 4];
            let (wq, wr) = window.split_at(TAPS_PER_PHASE / 4 * 4);
            let (tq, tr) = self.taps.split_at(wq.len());
            for (w4, t4) in wq.chunks_exact(4).zip(tq.chunks_exact(4)) {
                for j in 0..4 {
                    for (a, &c) in acc[j].iter_mut().zip(&t4[j]) {
                        *a += w4[j] * c;
                    }
                }
            }
            for (&w, lanes) in wr.iter().zip(tr) {
                for (a, &c) in acc[0].iter_mut().zip(lanes) {
                    *a += w * c;
                }
            }
            for (p, o) in out.iter_mut().enumerate() {
                *o = (acc[0][p] + acc[1][p]) + (acc[2][p] + acc[3][p]);
            }
        }
    }
}

/// Input samples the downsampler takes in one step (a 10 ms frame).
const DOWN_CHUNK: usize = 480;
/// Input history the next output needs besides its newest sample.
const DOWN_HIST: usize = DOWN_TAPS - 1;

/// Downsamples 48 kHz to 8 kHz, keeping its filter state across calls.
#[derive(Clone)]
pub struct Downsampler {
    /// Prototype reversed, so the dot product runs over history in time order.
    taps: [f32; DOWN_TAPS],
    /// The last `DOWN_HIST` inputs, then room for a chunk: every output's
    /// window is one contiguous slice, written once per input sample (a ring
    /// stored twice cost two stores and a modulo per sample, and vector loads
    /// that overlapped the stores just made).
    buf: Box<[f32; DOWN_HIST + DOWN_CHUNK]>,
    /// Input samples since the last output (0..6).
    phase: usize,
}

impl Default for Downsampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Downsampler {
    /// A fresh downsampler with silent history.
    pub fn new() -> Self {
        let h = prototype();
        let mut taps = [0.0f32; DOWN_TAPS];
        // The newest sample (last) meets h[0]; the padding meets the oldest.
        for (i, t) in taps.iter_mut().enumerate().skip(DOWN_TAPS - TAPS) {
            *t = h[DOWN_TAPS - 1 - i] as f32;
        }
        Self {
            taps,
            buf: Box::new([0.0; DOWN_HIST + DOWN_CHUNK]),
            phase: 0,
        }
    }

    /// Forgets the history (start of a new stream).
    pub fn reset(&mut self) {
        self.buf.fill(0.0);
        self.phase = 0;
    }

    /// Samples [`process`](Self::process) will produce for `input_len` inputs.
    pub fn output_len(&self, input_len: usize) -> usize {
        (self.phase + input_len).div_ceil(RATIO) - self.phase.div_ceil(RATIO)
    }

    /// Resamples `input` (48 kHz) into `output` (8 kHz); returns the samples
    /// written. Any input length is accepted: the phase carries over, so
    /// 480-sample frames give exactly 80 samples each.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<usize, ResampleError> {
        let needed = self.output_len(input.len());
        if output.len() < needed {
            return Err(ResampleError::OutputTooSmall {
                needed,
                got: output.len(),
            });
        }
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return Ok(avx2::downsample(self, input, output));
        }
        Ok(self.run(input, output))
    }

    /// `output` holds [`output_len`](Self::output_len) samples; returns how
    /// many were written. Inlined like [`Upsampler::run`].
    #[inline(always)]
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> usize {
        let mut written = 0;
        for chunk in input.chunks(DOWN_CHUNK) {
            let n = chunk.len();
            self.buf[DOWN_HIST..DOWN_HIST + n].copy_from_slice(chunk);
            // Output m is computed on input 6m (phase 0), so the delay is a
            // whole number of 8 kHz samples. Input `i` of the chunk is
            // `buf[DOWN_HIST + i]`, the newest of the window `buf[i..]`.
            let mut i = (RATIO - self.phase) % RATIO;
            while i < n {
                output[written] = dot(&self.buf[i..i + DOWN_TAPS], &self.taps);
                written += 1;
                i += RATIO;
            }
            self.phase = (self.phase + n) % RATIO;
            self.buf.copy_within(n..n + DOWN_HIST, 0);
        }
        written
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // 32 accumulators in four independent chains of 8 lanes: the compiler
    // vectorises them without reassociation flags (four AVX registers in the
    // AVX2 entry, eight SSE ones otherwise), and four chains hide the
    // latency of each addition, which one chain would wait out every step.
    const BLOCK: usize = 4 * LANES;
    let mut acc = [[0.0f32; LANES]; 4];
    let (ac, ar) = a.split_at(a.len() / BLOCK * BLOCK);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(BLOCK).zip(bc.chunks_exact(BLOCK)) {
        for (j, chain) in acc.iter_mut().enumerate() {
            for (i, a) in chain.iter_mut().enumerate() {
                *a += x[j * LANES + i] * y[j * LANES + i];
            }
        }
    }
    let mut lanes = [0.0f32; LANES];
    for (i, l) in lanes.iter_mut().enumerate() {
        *l = (acc[0][i] + acc[1][i]) + (acc[2][i] + acc[3][i]);
    }
    let mut sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for (x, y) in ar.iter().zip(br) {
        sum += x * y;
    }
    sum
}

/// The same loops compiled for AVX2, chosen at run time: the baseline
/// x86-64 build has 4-lane SSE only, and every G.711 leg runs both
/// directions every 10 ms (most of a G.711 conference's mixing time).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use super::{Downsampler, Upsampler};

    /// Whether this CPU runs AVX2 (std caches the answer).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    pub(super) fn upsample(up: &mut Upsampler, input: &[f32], output: &mut [f32]) {
        debug_assert!(available());
        // SAFETY: the only requirement of a `target_feature` function is
        // that the CPU has the features; every caller checks `available()`
        // (std's run-time detection) first, and the function body is safe
        // code with no other precondition.
        unsafe { upsample_avx2(up, input, output) }
    }

    pub(super) fn downsample(down: &mut Downsampler, input: &[f32], output: &mut [f32]) -> usize {
        debug_assert!(available());
        // SAFETY: as in `upsample`: callers check `available()` first.
        unsafe { downsample_avx2(down, input, output) }
    }

    #[target_feature(enable = "avx2")]
    fn upsample_avx2(up: &mut Upsampler, input: &[f32], output: &mut [f32]) {
        up.run(input, output);
    }

    #[target_feature(enable = "avx2")]
    fn downsample_avx2(down: &mut Downsampler, input: &[f32], output: &mut [f32]) -> usize {
        down.run(input, output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, len: usize, amp: f64) -> Vec<f32> {
        (0..len)
            .map(|n| (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / rate).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn tone_survives_round_trip_with_high_snr() {
        let input = tone(1_000.0, 8_000.0, 8_000, 10_000.0);
        let mut up = Upsampler::new();
        let mut down = Downsampler::new();
        let mut wide = vec![0.0; 480];
        let mut back = Vec::new();
        let mut narrow = [0.0; 80];
        for chunk in input.chunks(80) {
            let n = up.process(chunk, &mut wide).unwrap();
            let m = down.process(&wide[..n], &mut narrow).unwrap();
            back.extend_from_slice(&narrow[..m]);
        }
        let delay = 2 * DELAY_8K;
        let settled = 200;
        let signal = &input[settled - delay..input.len() - delay];
        let out = &back[settled..];
        let err: Vec<f32> = signal.iter().zip(out).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(signal) / rms(&err)).log10();
        assert!(snr > 40.0, "round-trip SNR {snr:.1} dB");
    }

    #[test]
    fn five_khz_is_rejected_by_downsampling() {
        let input = tone(5_000.0, 48_000.0, 48_000, 10_000.0);
        let mut down = Downsampler::new();
        let mut out = vec![0.0; 8_000];
        let n = down.process(&input, &mut out).unwrap();
        assert_eq!(n, 8_000);
        let atten = 20.0 * (rms(&input) / rms(&out[100..])).log10();
        assert!(atten >= 50.0, "5 kHz attenuated only {atten:.1} dB");
    }

    #[test]
    fn upsampled_image_is_rejected() {
        // A 3 kHz tone at 8 kHz images at 5 kHz after zero-stuffing.
        let input = tone(3_000.0, 8_000.0, 8_000, 10_000.0);
        let mut up = Upsampler::new();
        let mut wide = vec![0.0; 48_000];
        up.process(&input, &mut wide).unwrap();
        // Project onto 5 kHz to measure the image alone.
        let (mut re, mut im) = (0.0f64, 0.0f64);
        let span = &wide[1_000..];
        for (n, &v) in span.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * 5_000.0 * n as f64 / 48_000.0;
            re += f64::from(v) * ph.cos();
            im += f64::from(v) * ph.sin();
        }
        let image_amp = 2.0 * (re * re + im * im).sqrt() / span.len() as f64;
        assert!(
            image_amp < 10_000.0 * 10f64.powf(-50.0 / 20.0),
            "image {image_amp}"
        );
    }

    #[test]
    fn frame_by_frame_equals_one_shot() {
        let input = tone(440.0, 48_000.0, 4_800, 8_000.0);
        let mut one = Downsampler::new();
        let mut whole = vec![0.0; 800];
        one.process(&input, &mut whole).unwrap();
        // Odd chunk sizes cross phase boundaries on purpose.
        let mut pieces = Downsampler::new();
        let mut parts = Vec::new();
        let mut buf = [0.0; 200];
        for chunk in input.chunks(173) {
            let n = pieces.process(chunk, &mut buf).unwrap();
            parts.extend_from_slice(&buf[..n]);
        }
        assert_eq!(parts, whole);

        let narrow = tone(440.0, 8_000.0, 800, 8_000.0);
        let mut one = Upsampler::new();
        let mut whole = vec![0.0; 4_800];
        one.process(&narrow, &mut whole).unwrap();
        let mut pieces = Upsampler::new();
        let mut parts = Vec::new();
        let mut buf = [0.0; 480];
        for chunk in narrow.chunks(80) {
            let n = pieces.process(chunk, &mut buf).unwrap();
            parts.extend_from_slice(&buf[..n]);
        }
        assert_eq!(parts, whole);
    }

    /// The AVX2 entry runs the same loops as the portable one; only the
    /// summation's register width differs, so results agree to rounding.
    #[test]
    fn avx2_and_portable_agree() {
        #[cfg(target_arch = "x86_64")]
        {
            if !avx2::available() {
                println!("this CPU has no AVX2: only the portable resampler was tested");
                return;
            }
            let narrow = tone(1_234.0, 8_000.0, 800, 12_000.0);
            let (mut a, mut b) = (Upsampler::new(), Upsampler::new());
            let (mut wa, mut wb) = (vec![0.0; 4_800], vec![0.0; 4_800]);
            for (i, chunk) in narrow.chunks(80).enumerate() {
                let span = i * 480..(i + 1) * 480;
                a.run(chunk, &mut wa[span.clone()]);
                avx2::upsample(&mut b, chunk, &mut wb[span]);
            }
            let wide = tone(2_345.0, 48_000.0, 4_800, 12_000.0);
            let (mut c, mut d) = (Downsampler::new(), Downsampler::new());
            let (mut na, mut nb) = (vec![0.0; 800], vec![0.0; 800]);
            let mut n = 0;
            for chunk in wide.chunks(480) {
                let got = c.run(chunk, &mut na[n..]);
                assert_eq!(avx2::downsample(&mut d, chunk, &mut nb[n..]), got);
                n += got;
            }
            assert_eq!(n, 800);
            for (x, y) in wa.iter().zip(&wb).chain(na.iter().zip(&nb)) {
                assert!((x - y).abs() <= 0.01, "{x} vs {y}");
            }
            assert!(wa.iter().any(|&v| v.abs() > 1_000.0));
        }
    }

    #[test]
    fn dc_passes_at_unity_gain() {
        let mut up = Upsampler::new();
        let mut wide = vec![0.0; 2_400];
        up.process(&[1_000.0; 400], &mut wide).unwrap();
        assert!(wide[600..].iter().all(|&v| (v - 1_000.0).abs() < 1.0));
    }

    #[test]
    fn short_output_is_an_error() {
        let mut up = Upsampler::new();
        let mut out = [0.0; 10];
        assert_eq!(
            up.process(&[0.0; 2], &mut out),
            Err(ResampleError::OutputTooSmall {
                needed: 12,
                got: 10
            })
        );
        let mut down = Downsampler::new();
        assert_eq!(down.output_len(480), 80);
        assert!(down.process(&[0.0; 480], &mut out).is_err());
    }
}

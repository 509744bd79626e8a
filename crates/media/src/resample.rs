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

/// The prototype low-pass at 48 kHz with unity DC gain, padded to [`TAPS`]
/// (a Kaiser window of Bessel sums). Designed twice per process, once for
/// each direction's shared coefficients ([`up_taps`], [`down_taps`]).
fn prototype() -> [f64; TAPS] {
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

/// Input samples the upsampler takes in one step (a 10 ms frame).
const UP_CHUNK: usize = 80;
/// Inputs before the newest that an output's window needs.
const UP_HIST: usize = TAPS_PER_PHASE - 1;

/// The upsampler's coefficients: `[k][p]` = 6·h[p + 6·(40 - k)] (lanes 6
/// and 7 zero): for each history sample, its weight in all six outputs, so
/// one input costs 41 vector multiply-adds instead of six dot products each
/// ending in a horizontal sum. The gain of 6 restores the level lost by
/// zero-stuffing.
type UpTaps = [[f32; LANES]; TAPS_PER_PHASE];

/// The coefficients every upsampler of the process reads. One copy, not one
/// per resampler: an audio tick runs every leg's resamplers once, 10 ms
/// after the last time, when other work has pushed them out of the caches;
/// a shared copy is fetched once a tick, a copy per leg once per leg.
fn up_taps() -> &'static UpTaps {
    static UP: std::sync::OnceLock<UpTaps> = std::sync::OnceLock::new();
    UP.get_or_init(|| {
        let h = prototype();
        let mut taps = [[0.0f32; LANES]; TAPS_PER_PHASE];
        for (k, lanes) in taps.iter_mut().enumerate() {
            for (p, c) in lanes.iter_mut().take(RATIO).enumerate() {
                // Reversed so the history is walked in time order.
                *c = (RATIO as f64 * h[p + RATIO * (TAPS_PER_PHASE - 1 - k)]) as f32;
            }
        }
        taps
    })
}

/// Upsamples 8 kHz to 48 kHz, keeping its filter state across calls.
#[derive(Clone)]
pub struct Upsampler {
    /// The last `UP_HIST` inputs. The state is only this: the coefficients
    /// are shared ([`up_taps`]) and the working window lives on the stack
    /// during a call (see [`Upsampler::run_chunks`]), so a leg's resampler
    /// touches a few cache lines of its own per tick.
    hist: [f32; UP_HIST],
}

impl Default for Upsampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler {
    /// A fresh upsampler with silent history.
    pub fn new() -> Self {
        // Designed now, off the audio thread, rather than at the first call.
        let _ = up_taps();
        Self {
            hist: [0.0; UP_HIST],
        }
    }

    /// Forgets the history (start of a new stream).
    pub fn reset(&mut self) {
        self.hist = [0.0; UP_HIST];
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
        self.run_chunks(input, &mut output[..needed], simd());
        Ok(needed)
    }

    /// [`process`](Self::process) with the kernel chosen by the caller
    /// (`simd`: the x86 one, which the caller has checked is available).
    fn run_chunks(&mut self, input: &[f32], output: &mut [f32], simd: bool) {
        let taps = up_taps();
        // The history, then room for a chunk: input `i` of a chunk is
        // `buf[UP_HIST + i]` and its window the slice `buf[i..]`, so
        // neighbouring inputs' windows overlap and can share each tap load.
        // On the stack, which every leg's call reuses while it is in cache.
        let mut buf = [0.0f32; UP_HIST + UP_CHUNK];
        buf[..UP_HIST].copy_from_slice(&self.hist);
        for (chunk, out) in input
            .chunks(UP_CHUNK)
            .zip(output.chunks_mut(UP_CHUNK * RATIO))
        {
            let n = chunk.len();
            buf[UP_HIST..UP_HIST + n].copy_from_slice(chunk);
            if simd {
                #[cfg(target_arch = "x86_64")]
                x86::upsample(&buf[..UP_HIST + n], taps, out);
            } else {
                Self::run(&buf[..UP_HIST + n], taps, out);
            }
            buf.copy_within(n..n + UP_HIST, 0);
        }
        self.hist.copy_from_slice(&buf[..UP_HIST]);
    }

    /// The portable kernel: `buf` is the history and a chunk of `n` inputs,
    /// `output.len() == 6 * n`.
    fn run(buf: &[f32], taps: &UpTaps, output: &mut [f32]) {
        let n = buf.len() - UP_HIST;
        for (i, out) in output.chunks_exact_mut(RATIO).enumerate().take(n) {
            let window = &buf[i..i + TAPS_PER_PHASE];
            // Four chains of additions, not one: each add waits for the
            // previous one in its chain (the latency, not the arithmetic,
            // bounds a single chain).
            let mut acc = [[0.0f32; LANES]; 4];
            let (wq, wr) = window.split_at(TAPS_PER_PHASE / 4 * 4);
            let (tq, tr) = taps.split_at(wq.len());
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

/// The downsampler's coefficients: the prototype reversed, so the dot
/// product runs over history in time order; shared as [`up_taps`] is.
fn down_taps() -> &'static [f32; DOWN_TAPS] {
    static DOWN: std::sync::OnceLock<[f32; DOWN_TAPS]> = std::sync::OnceLock::new();
    DOWN.get_or_init(|| {
        let h = prototype();
        let mut taps = [0.0f32; DOWN_TAPS];
        // The newest sample (last) meets h[0]; the padding meets the oldest.
        for (i, t) in taps.iter_mut().enumerate().skip(DOWN_TAPS - TAPS) {
            *t = h[DOWN_TAPS - 1 - i] as f32;
        }
        taps
    })
}

/// Downsamples 48 kHz to 8 kHz, keeping its filter state across calls.
#[derive(Clone)]
pub struct Downsampler {
    /// The last `DOWN_HIST` inputs (the working window is on the stack, as
    /// the upsampler's).
    hist: [f32; DOWN_HIST],
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
        let _ = down_taps();
        Self {
            hist: [0.0; DOWN_HIST],
            phase: 0,
        }
    }

    /// Forgets the history (start of a new stream).
    pub fn reset(&mut self) {
        self.hist = [0.0; DOWN_HIST];
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
        Ok(self.run_chunks(input, output, simd()))
    }

    /// [`process`](Self::process) with the kernel chosen by the caller, as
    /// for the upsampler; returns the samples written.
    fn run_chunks(&mut self, input: &[f32], output: &mut [f32], simd: bool) -> usize {
        let taps = down_taps();
        // The history, then room for a chunk: every output's window is one
        // contiguous slice, written once per input sample (a ring stored
        // twice cost two stores and a modulo per sample, and vector loads
        // that overlapped the stores just made). On the stack, as the
        // upsampler's.
        let mut buf = [0.0f32; DOWN_HIST + DOWN_CHUNK];
        buf[..DOWN_HIST].copy_from_slice(&self.hist);
        let mut written = 0;
        for chunk in input.chunks(DOWN_CHUNK) {
            let n = chunk.len();
            buf[DOWN_HIST..DOWN_HIST + n].copy_from_slice(chunk);
            // Output m is computed on input 6m (phase 0), so the delay is a
            // whole number of 8 kHz samples. Input `i` of the chunk is
            // `buf[DOWN_HIST + i]`, the newest of the window `buf[i..]`.
            let first = (RATIO - self.phase) % RATIO;
            let count = n.saturating_sub(first).div_ceil(RATIO);
            let out = &mut output[written..written + count];
            let window = &buf[..DOWN_HIST + n];
            if simd {
                #[cfg(target_arch = "x86_64")]
                x86::downsample(window, taps, first, out);
            } else {
                Self::run(window, taps, first, out);
            }
            written += count;
            self.phase = (self.phase + n) % RATIO;
            buf.copy_within(n..n + DOWN_HIST, 0);
        }
        self.hist.copy_from_slice(&buf[..DOWN_HIST]);
        written
    }

    /// The portable kernel: output `j` is the window of `buf` ending at
    /// chunk input `first + 6j`.
    fn run(buf: &[f32], taps: &[f32; DOWN_TAPS], first: usize, output: &mut [f32]) {
        for (j, o) in output.iter_mut().enumerate() {
            let i = first + RATIO * j;
            *o = dot(&buf[i..i + DOWN_TAPS], taps);
        }
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

/// Whether the x86 kernels run on this CPU.
fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    return x86::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX2 + FMA kernels, chosen at run time: every G.711 leg runs both
/// directions every 10 ms, most of a G.711 conference's audio tick. Written
/// with intrinsics because the compiler's own vectorisation of the portable
/// loops used 4- and 2-lane registers with shuffles (the upsampler's six
/// used lanes, the downsampler's accumulator layout) and ran 3-10× slower.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use super::{UpTaps, DOWN_TAPS, RATIO, TAPS_PER_PHASE, UP_HIST};
    use std::arch::x86_64::*;

    /// Whether this CPU runs AVX2 and FMA (std caches the answer).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    /// Upsamples the `n` inputs that follow the history in `buf`
    /// (`UP_HIST + n` long) into `out` (`6 * n`).
    pub(super) fn upsample(buf: &[f32], taps: &UpTaps, out: &mut [f32]) {
        let n = buf.len().saturating_sub(UP_HIST);
        assert!(available() && buf.len() > UP_HIST && out.len() == RATIO * n);
        // SAFETY: the CPU has AVX2 and FMA (checked above, the only
        // requirement of the `target_feature` function); the lengths
        // asserted are the ones its body's pointer arithmetic relies on.
        unsafe { upsample_avx2(buf, taps, n, out) }
    }

    /// Downsamples into `out`: output `j` ends at chunk input `first + 6j`
    /// of `buf` (the history, then the chunk).
    pub(super) fn downsample(buf: &[f32], taps: &[f32; DOWN_TAPS], first: usize, out: &mut [f32]) {
        let last_end = first + RATIO * out.len().saturating_sub(1) + DOWN_TAPS;
        assert!(available() && (out.is_empty() || last_end <= buf.len()));
        // SAFETY: as in `upsample`: features checked, and every window read,
        // `buf[first + 6j .. first + 6j + DOWN_TAPS]` for j < out.len(),
        // lies in `buf` (asserted for the last, the others start earlier).
        unsafe { downsample_avx2(buf, taps, first, out) }
    }

    /// Six outputs (lanes 0-5) of each input; two inputs at a time so each
    /// tap vector loaded serves both, in eight chains of multiply-adds (four
    /// an input) so the adds' latency is hidden.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn upsample_avx2(buf: &[f32], taps: &UpTaps, n: usize, out: &mut [f32]) {
        // SAFETY (whole body): `buf` holds UP_HIST + n samples (asserted by
        // the caller), the window of input i is buf[i..i + 41] with
        // i + 41 <= UP_HIST + n; `taps` has 41 rows of 8; outputs of input i
        // go to out[6i..6i + 8], inside `out` (6n long) for i < n - 1, and
        // for the last input through a 6-lane masked store.
        unsafe {
            let buf = buf.as_ptr();
            let taps = taps.as_ptr().cast::<f32>();
            let mask = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
            let o = out.as_mut_ptr();
            let mut i = 0;
            while i + 2 <= n {
                let [a, b] = window_sums(buf, taps, [i, i + 1]);
                // Full stores, in time order: lanes 6 and 7 land on the
                // next input's outputs, which its own store then writes;
                // only the chunk's last input needs the (slower) masked one.
                _mm256_storeu_ps(o.add(RATIO * i), a);
                if i + 2 < n {
                    _mm256_storeu_ps(o.add(RATIO * (i + 1)), b);
                } else {
                    _mm256_maskstore_ps(o.add(RATIO * (i + 1)), mask, b);
                }
                i += 2;
            }
            if i < n {
                let [a] = window_sums(buf, taps, [i]);
                _mm256_maskstore_ps(o.add(RATIO * i), mask, a);
            }
        }
    }

    /// The six outputs (lanes 0-5) of each input whose window starts at
    /// `buf[starts[m]]`: each tap vector is loaded once for all of them,
    /// and each input sums in four chains (tap k in chain k % 4).
    #[inline(always)]
    unsafe fn window_sums<const M: usize>(
        buf: *const f32,
        taps: *const f32,
        starts: [usize; M],
    ) -> [__m256; M] {
        // SAFETY: the caller (`upsample_avx2`, AVX2 and FMA enabled) passes
        // window starts with start + 41 <= its buffer's length and `taps`
        // of 41 rows of 8.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 4]; M];
            let step = |acc: &mut [[__m256; 4]; M], k: usize, c: usize| {
                let t = _mm256_loadu_ps(taps.add(8 * k));
                for (a, &at) in acc.iter_mut().zip(&starts) {
                    a[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*buf.add(at + k)), t, a[c]);
                }
            };
            // Unrolled by the chain so the accumulators stay in registers
            // (an array indexed by `k % 4` in a loop was kept in memory).
            for k in (0..TAPS_PER_PHASE / 4 * 4).step_by(4) {
                for c in 0..4 {
                    step(&mut acc, k + c, c);
                }
            }
            for k in TAPS_PER_PHASE / 4 * 4..TAPS_PER_PHASE {
                step(&mut acc, k, 0);
            }
            acc.map(|a| sum4(a))
        }
    }

    #[inline(always)]
    unsafe fn sum4(a: [__m256; 4]) -> __m256 {
        // SAFETY: plain register arithmetic; AVX is enabled by every caller.
        unsafe { _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])) }
    }

    /// Eight outputs at a time, one accumulator each (eight independent
    /// chains): each tap vector is loaded once for the eight windows, and
    /// the eight sums come out of one transposing reduction instead of
    /// eight horizontal sums.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn downsample_avx2(buf: &[f32], taps: &[f32; DOWN_TAPS], first: usize, out: &mut [f32]) {
        // SAFETY (whole body): window j is buf[first + 6j ..][..DOWN_TAPS],
        // inside `buf` for every j < out.len() (asserted by the caller), and
        // only such windows are read; taps hold DOWN_TAPS = 8·m floats;
        // the vector store goes to out[j..j + 8] only when j + 8 <= len.
        unsafe {
            let buf = buf.as_ptr();
            let taps = taps.as_ptr();
            let o = out.as_mut_ptr();
            let len = out.len();
            let mut j = 0;
            while j < len {
                // A last, partial group repeats its last window in the
                // unused lanes: every output is summed the same way whatever
                // group it falls in, so the chunking of the input never
                // changes a sample.
                let w = |l: usize| buf.add(first + RATIO * (j + l).min(len - 1));
                let windows = [w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7)];
                let mut acc = [_mm256_setzero_ps(); 8];
                for k in (0..DOWN_TAPS).step_by(8) {
                    let t = _mm256_loadu_ps(taps.add(k));
                    for (a, w) in acc.iter_mut().zip(windows) {
                        *a = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(k)), t, *a);
                    }
                }
                let sums = sums8(acc);
                if j + 8 <= len {
                    _mm256_storeu_ps(o.add(j), sums);
                } else {
                    let mut lanes = [0.0f32; 8];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), sums);
                    out[j..].copy_from_slice(&lanes[..len - j]);
                }
                j += 8;
            }
        }
    }

    /// Lane l of the result is the sum of all eight lanes of `a[l]`.
    #[inline(always)]
    unsafe fn sums8(a: [__m256; 8]) -> __m256 {
        // SAFETY: plain register arithmetic; AVX is enabled by every caller.
        unsafe {
            // Pairwise sums within each 128-bit half: after two rounds each
            // half of u0 holds a0..a3's partial sums, of u1 a4..a7's.
            let t0 = _mm256_hadd_ps(a[0], a[1]);
            let t1 = _mm256_hadd_ps(a[2], a[3]);
            let t2 = _mm256_hadd_ps(a[4], a[5]);
            let t3 = _mm256_hadd_ps(a[6], a[7]);
            let u0 = _mm256_hadd_ps(t0, t1);
            let u1 = _mm256_hadd_ps(t2, t3);
            // Low halves (lanes 0-3 of each sum) plus high halves.
            _mm256_add_ps(
                _mm256_permute2f128_ps(u0, u1, 0x20),
                _mm256_permute2f128_ps(u0, u1, 0x31),
            )
        }
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

    /// The x86 kernels sum in another order and with fused multiply-adds;
    /// their results agree with the portable ones to rounding, whatever the
    /// chunk sizes and phases (odd lengths reach the remainder paths).
    #[test]
    fn simd_and_portable_agree() {
        if !simd() {
            println!("this CPU has no AVX2+FMA: only the portable resampler was tested");
            return;
        }
        let narrow = tone(1_234.0, 8_000.0, 803, 12_000.0);
        let (mut a, mut b) = (Upsampler::new(), Upsampler::new());
        let (mut wa, mut wb) = (vec![0.0; 6 * 803], vec![0.0; 6 * 803]);
        let mut at = 0;
        for chunk in narrow.chunks(81).chain(narrow.chunks(3)).take(30) {
            let span = at..at + 6 * chunk.len();
            if span.end > wa.len() {
                break;
            }
            a.run_chunks(chunk, &mut wa[span.clone()], false);
            b.run_chunks(chunk, &mut wb[span.clone()], true);
            at = span.end;
        }
        let wide = tone(2_345.0, 48_000.0, 4_801, 12_000.0);
        let (mut c, mut d) = (Downsampler::new(), Downsampler::new());
        let (mut na, mut nb) = (vec![0.0; 801], vec![0.0; 801]);
        let mut n = 0;
        for chunk in wide.chunks(481).chain(wide[..77].chunks(7)) {
            if n + c.output_len(chunk.len()) > na.len() {
                break;
            }
            let got = c.run_chunks(chunk, &mut na[n..], false);
            assert_eq!(d.run_chunks(chunk, &mut nb[n..], true), got);
            n += got;
        }
        assert!(n >= 790, "{n}");
        for (x, y) in wa.iter().zip(&wb).chain(na.iter().zip(&nb)) {
            assert!((x - y).abs() <= 0.01, "{x} vs {y}");
        }
        assert!(wa[..at].iter().any(|&v| v.abs() > 1_000.0));
        assert!(na[..n].iter().any(|&v| v.abs() > 1_000.0));
    }

    proptest::proptest! {
        /// Any signal in any chunking: the x86 kernels give the portable
        /// kernels' samples to rounding (full-scale input, so 0.05 is a
        /// few float steps of the 41- or 241-term sums).
        #[test]
        fn simd_matches_portable_for_any_chunking(
            samples in proptest::collection::vec(-32_768.0f32..32_768.0, 1..1_500),
            cuts in proptest::collection::vec(1usize..700, 1..8),
        ) {
            if !simd() {
                return Ok(());
            }
            let (mut a, mut b) = (Upsampler::new(), Upsampler::new());
            let (mut c, mut d) = (Downsampler::new(), Downsampler::new());
            let (mut wide_a, mut wide_b) = (vec![0.0; 6 * 700], vec![0.0; 6 * 700]);
            let (mut nar_a, mut nar_b) = (vec![0.0; 700], vec![0.0; 700]);
            let mut at = 0;
            for &cut in cuts.iter().cycle() {
                if at >= samples.len() {
                    break;
                }
                let chunk = &samples[at..(at + cut).min(samples.len())];
                at += chunk.len();
                let n = 6 * chunk.len();
                a.run_chunks(chunk, &mut wide_a[..n], false);
                b.run_chunks(chunk, &mut wide_b[..n], true);
                for (x, y) in wide_a[..n].iter().zip(&wide_b[..n]) {
                    proptest::prop_assert!((x - y).abs() <= 0.05, "up: {} vs {}", x, y);
                }
                let m = c.run_chunks(chunk, &mut nar_a, false);
                proptest::prop_assert_eq!(d.run_chunks(chunk, &mut nar_b, true), m);
                for (x, y) in nar_a[..m].iter().zip(&nar_b[..m]) {
                    proptest::prop_assert!((x - y).abs() <= 0.05, "down: {} vs {}", x, y);
                }
            }
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

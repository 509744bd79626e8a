//! Offline sample-rate conversion for files: windowed-sinc interpolation with a
//! Kaiser window, designed for 80 dB stopband attenuation (passband to 90 % of the
//! lower Nyquist frequency, stopband from the lower Nyquist frequency on).
//!
//! Used once when a file is opened, never per frame, so clarity wins over speed:
//! the kernel is tabulated finely and linearly interpolated for any rate ratio.

/// Kaiser β for about 80 dB attenuation (β = 0.1102 (A − 8.7)).
const BETA: f64 = 7.857;
/// Kernel table resolution, entries per input sample.
const PHASES: usize = 512;

/// Resamples mono `input` from `from` Hz to `to` Hz. Rates of zero or equal rates
/// return the input unchanged.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || from == 0 || to == 0 || input.is_empty() {
        return input.to_vec();
    }
    let kernel = Kernel::new(from, to);
    let n_out = (input.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let (from64, to64) = (u64::from(from), u64::from(to));
    (0..n_out)
        .map(|k| {
            // Exact position of output sample k on the input grid.
            let pos = k as u64 * from64;
            let i = (pos / to64) as i64;
            let frac = (pos % to64) as f64 / to64 as f64;
            kernel.interpolate(input, i, frac)
        })
        .collect()
}

struct Kernel {
    /// h(x) for x = j / PHASES, j = 0..=half * PHASES + 1 (the kernel is even).
    table: Vec<f32>,
    /// Half width in input samples.
    half: i64,
}

impl Kernel {
    fn new(from: u32, to: u32) -> Self {
        let ratio = (f64::from(to) / f64::from(from)).min(1.0);
        // Cutoff in cycles per input sample, centred on the transition band.
        let fc = 0.475 * ratio;
        let transition = 0.05 * ratio;
        let taps = (80.0 - 7.95) / (14.36 * transition);
        let half = (taps / 2.0).ceil() as i64;
        let i0_beta = bessel_i0(BETA);
        let table = (0..=(half as usize * PHASES + 1))
            .map(|j| {
                let x = j as f64 / PHASES as f64;
                let r = x / half as f64;
                let window = if r >= 1.0 {
                    0.0
                } else {
                    bessel_i0(BETA * (1.0 - r * r).sqrt()) / i0_beta
                };
                (2.0 * fc * sinc(2.0 * fc * x) * window) as f32
            })
            .collect();
        Kernel { table, half }
    }

    fn at(&self, x: f64) -> f32 {
        let p = x.abs() * PHASES as f64;
        let j = p as usize;
        if j + 1 >= self.table.len() {
            return 0.0;
        }
        let t = (p - j as f64) as f32;
        self.table[j] + t * (self.table[j + 1] - self.table[j])
    }

    fn interpolate(&self, input: &[f32], i: i64, frac: f64) -> f32 {
        let lo = (i - self.half + 1).max(0);
        let hi = (i + self.half).min(input.len() as i64 - 1);
        let mut acc = 0.0f32;
        for n in lo..=hi {
            acc += input[n as usize] * self.at((i - n) as f64 + frac);
        }
        acc
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-16 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(f: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (10_000.0 * (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect()
    }

    /// Amplitude at `f` over a window (Hann-weighted, amplitude-corrected).
    fn amplitude(x: &[f32], f: f64, rate: u32) -> f64 {
        let n = x.len() as f64;
        let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos();
            let ph = 2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate);
            re += w * f64::from(s) * ph.cos();
            im -= w * f64::from(s) * ph.sin();
            wsum += w;
        }
        2.0 * (re * re + im * im).sqrt() / wsum
    }

    #[test]
    fn passband_tone_keeps_its_amplitude_and_frequency() {
        for from in [8_000, 16_000, 22_050, 44_100, 96_000] {
            let out = resample(&sine(1000.0, from, from as usize), from, 48_000);
            assert_eq!(out.len(), 48_000);
            let a = amplitude(&out[2000..46_000], 1000.0, 48_000);
            assert!((a - 10_000.0).abs() < 50.0, "{from} Hz: amplitude {a}");
        }
    }

    #[test]
    fn tones_above_the_output_nyquist_are_removed_by_at_least_60_db() {
        let out = resample(&sine(30_000.0, 96_000, 96_000), 96_000, 48_000);
        let peak = out[2000..46_000].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(
            20.0 * (peak / 10_000.0).log10() < -60.0,
            "alias peak {peak}"
        );
    }
}

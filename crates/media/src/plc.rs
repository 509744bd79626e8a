//! Packet loss concealment for G.711 by pitch-waveform repetition, after
//! ITU-T G.711 Appendix I.
//!
//! Works on 10 ms frames of 8 kHz audio. Good frames pass through delayed by
//! 3.75 ms ([`DELAY`] samples): that look-behind is what lets the first
//! concealed frame overlap-add into audio that has not been played yet, so the
//! switch to synthetic speech has no step. During a loss the last pitch period
//! is repeated (one, then two, then three periods, to avoid a buzzy tone),
//! attenuated by 20 % per 10 ms from the second frame on and silent after
//! 60 ms; the first good frame after a loss is cross-faded with the synthetic
//! continuation over 4 ms plus 4 ms per further lost frame.
//!
//! Constants and structure follow the Appendix I description; the code is our
//! own.
//!
//! Beyond Appendix I: when the packet after a gap is already at hand (the
//! jitter buffer holds it), [`G711Plc::conceal_before`] bridges the gap from
//! both sides. Across the gap the forward continuation fades into the next
//! packet's start repeated backwards by its own pitch period, so the gap ends
//! on the very waveform that follows it and the first good frame needs no
//! merge. Appendix I's merge cross-fades a synthetic continuation that has
//! drifted in phase and shape from the real speech into it; offline (PCMU,
//! 20 ms packets, 5 % random loss, espeak-ng speech, 8 seeds) bridging lifts
//! PESQ-WB from 2.26 to about 2.6 against 3.03 without loss.
//!
//! Comfort noise instead of dead silence: good frames feed a
//! [`BackgroundEstimator`] (the level and spectral shape of the pauses in
//! the received audio). From the second lost frame on, as Appendix I fades
//! the repeated speech out, noise of that level and shape fades in in its
//! place, so a long loss ends up as the far end's background rather than
//! silence, and the first good frame fades in from it. A stream without
//! pauses (no estimate) fades to silence as before.
//!
//! RFC 3389 comfort noise (a CN packet from a peer that stopped sending in
//! silence) plays through the same path: [`G711Plc::set_comfort_noise`]
//! sets the generator from the packet, [`G711Plc::comfort_noise`] produces
//! its frames as if received (so a loss after it conceals noise, not the
//! speech before it), and the next good frame fades the noise out over
//! 4 ms.

use crate::cn::{BackgroundEstimator, CnParams, NoiseGenerator};

/// Samples in one 10 ms frame at 8 kHz.
pub const FRAME: usize = 80;
/// Output delay of good frames, in 8 kHz samples (3.75 ms).
pub const DELAY: usize = POVERLAP_MAX;

const PITCH_MIN: usize = 40; // 200 Hz
const PITCH_MAX: usize = 120; // 66.7 Hz
const PITCH_DIFF: usize = PITCH_MAX - PITCH_MIN;
const POVERLAP_MAX: usize = PITCH_MAX >> 2;
const HISTORY: usize = PITCH_MAX * 3 + POVERLAP_MAX;
const NDEC: usize = 2;
const CORR_LEN: usize = 160;
const CORR_BUF_LEN: usize = CORR_LEN + PITCH_MAX;
const CORR_MIN_POWER: f32 = 250.0;
const EOVERLAP_INCR: usize = 32;
const ATTEN_FAC: f32 = 0.2;
const ATTEN_INCR: f32 = ATTEN_FAC / FRAME as f32;
/// Lost frames after which the repeated speech has faded out (60 ms) and
/// only the background (comfort noise, or silence without an estimate) is
/// left.
const MAX_SYNTH_FRAMES: usize = 6;
/// Samples over which comfort noise from CN packets fades into the speech
/// that follows it (4 ms).
const CN_FADE: usize = 32;

/// G.711 Appendix I concealment state for one stream.
#[derive(Clone)]
pub struct G711Plc {
    /// Recent output history, newest last.
    history: [f32; HISTORY],
    /// Copy of the history the synthetic signal is cut from.
    pitch_buf: [f32; HISTORY],
    /// The last quarter period before the loss, as first synthesised.
    last_q: [f32; POVERLAP_MAX],
    erase_count: usize,
    pitch: usize,
    poverlap: usize,
    /// Read position inside the repeated block.
    poffset: usize,
    /// Length of the repeated block (1–3 pitch periods).
    pitch_blen: usize,
    /// The first frame of the packet the last concealed frame was bridged
    /// into: when that frame arrives, no merge is needed; when another does,
    /// it is merged with this one (the bridged gap's continuation).
    seam: Option<[f32; FRAME]>,
    /// The background of the received audio, for filling long losses.
    background: BackgroundEstimator,
    /// Noise of the background (during a loss) or of the peer's CN packets.
    noise: NoiseGenerator,
    /// The last frame was comfort noise from a CN packet (the peer is in
    /// discontinuous transmission).
    cn: bool,
}

impl Default for G711Plc {
    fn default() -> Self {
        Self::new()
    }
}

impl G711Plc {
    /// Fresh state (silent history).
    pub fn new() -> Self {
        Self {
            history: [0.0; HISTORY],
            pitch_buf: [0.0; HISTORY],
            last_q: [0.0; POVERLAP_MAX],
            erase_count: 0,
            pitch: PITCH_MIN,
            poverlap: PITCH_MIN >> 2,
            poffset: 0,
            pitch_blen: PITCH_MIN,
            seam: None,
            background: BackgroundEstimator::new(),
            noise: NoiseGenerator::new(),
            cn: false,
        }
    }

    /// Forgets everything (new stream).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Frames concealed in the current loss (0 when the last frame was good).
    pub fn lost_frames(&self) -> usize {
        self.erase_count
    }

    /// Passes a received frame through (in place, delayed by [`DELAY`]),
    /// merging it smoothly with the concealment if a loss just ended.
    pub fn good_frame(&mut self, frame: &mut [f32; FRAME]) {
        self.background.update(frame);
        if self.cn && self.erase_count == 0 {
            // Speech after comfort noise: fade the noise out over its start.
            let mut noise = [0.0f32; CN_FADE];
            self.noise.fill(&mut noise);
            for (i, (s, n)) in frame.iter_mut().zip(noise).enumerate() {
                let w = (i + 1) as f32 / (CN_FADE + 1) as f32;
                *s = clamp(w * *s + (1.0 - w) * n);
            }
        }
        self.cn = false;
        self.accept(frame);
    }

    /// Sets the comfort noise of an RFC 3389 CN packet: frames from
    /// [`comfort_noise`](Self::comfort_noise) follow it until the next good
    /// frame. An update within a noise period glides to the new level and
    /// shape; the first of a period takes them at once.
    pub fn set_comfort_noise(&mut self, params: &CnParams) {
        self.noise.set_params(params, !self.cn);
        self.cn = true;
    }

    /// Whether comfort noise from a CN packet is playing (no good frame
    /// since).
    pub fn in_comfort_noise(&self) -> bool {
        self.cn
    }

    /// A frame of the CN packet's comfort noise, played like a received
    /// frame (merged after a loss, delayed by [`DELAY`]).
    pub fn comfort_noise(&mut self, out: &mut [f32; FRAME]) {
        self.noise.fill(out);
        self.accept(out);
    }

    /// Saves a frame that is not concealment, merging it with the
    /// concealment's continuation if a loss just ended.
    fn accept(&mut self, frame: &mut [f32; FRAME]) {
        if self.erase_count > 0 {
            let olen = (self.poverlap + (self.erase_count - 1) * EOVERLAP_INCR).min(FRAME);
            match self.seam.take() {
                // The gap already leads into this frame.
                Some(seam) if seam == *frame => {}
                // It led into another one: fade from that one's start.
                Some(seam) => cross_fade(frame, &seam[..olen], 1.0, &[]),
                None => {
                    let mut synth = [0.0f32; FRAME];
                    self.synth(&mut synth[..olen]);
                    let gain = 1.0 - (self.erase_count as f32 - 1.0) * ATTEN_FAC;
                    let mut noise = [0.0f32; FRAME];
                    let end = gain - ATTEN_INCR * olen as f32;
                    let noise = self.background_noise(&mut noise[..olen], end);
                    cross_fade(frame, &synth[..olen], gain, noise);
                }
            }
            self.erase_count = 0;
        }
        self.save(frame);
    }

    /// Fills `buf` with background noise when some is needed (an estimate
    /// exists and the speech gain, `end_gain` at the end of `buf`, drops
    /// below 1); returns the filled part, empty when none is.
    fn background_noise<'a>(&mut self, buf: &'a mut [f32], end_gain: f32) -> &'a [f32] {
        if end_gain >= 1.0 || self.noise.target_rms() <= 0.0 {
            return &[];
        }
        self.noise.fill(buf);
        buf
    }

    /// Produces a frame of concealment for a lost frame.
    pub fn conceal(&mut self, out: &mut [f32; FRAME]) {
        self.seam = None;
        self.synthesise(out);
        self.erase_count += 1;
        self.save(out);
    }

    /// Produces frame `index` of a gap of `frames` lost frames that `next`
    /// (the decoded packet after the gap, 8 kHz, at least one frame) follows.
    /// The forward concealment fades linearly over the whole gap into `next`'s
    /// start repeated backwards by its pitch period, so the gap's last sample
    /// leads into `next[0]`; when the frame after the last one is `next`, it
    /// plays without a merge. Falls back to [`conceal`](Self::conceal) when
    /// `next` is shorter than a frame or `index` is outside the gap.
    pub fn conceal_before(
        &mut self,
        out: &mut [f32; FRAME],
        next: &[f32],
        index: usize,
        frames: usize,
    ) {
        let Some(p) = backward_period(next).filter(|_| index < frames) else {
            return self.conceal(out);
        };
        self.synthesise(out);
        let len = frames * FRAME;
        for (i, s) in out.iter_mut().enumerate() {
            let j = index * FRAME + i;
            let dist = len - j;
            let b = next[dist.div_ceil(p) * p - dist];
            let w = (j as f32 + 0.5) / len as f32;
            *s = clamp((1.0 - w) * *s + w * b);
        }
        self.seam = (index + 1 == frames).then(|| {
            let mut seam = [0.0; FRAME];
            seam.copy_from_slice(&next[..FRAME]);
            seam
        });
        self.erase_count += 1;
        self.save(out);
    }

    /// Appendix I's synthetic frame for the current erase count (not saved).
    fn synthesise(&mut self, out: &mut [f32; FRAME]) {
        match self.erase_count {
            0 => self.start_loss(out),
            1 | 2 => self.extend_period(out),
            n if n >= MAX_SYNTH_FRAMES => {
                *out = [0.0; FRAME];
                if self.noise.target_rms() > 0.0 {
                    self.noise.fill(out);
                }
            }
            _ => {
                self.synth(out);
                self.scale(out);
            }
        }
    }

    fn start_loss(&mut self, out: &mut [f32; FRAME]) {
        // The background the loss will fade into, as estimated until now.
        match self.background.params() {
            Some(p) => self.noise.set_params(&p, true),
            None => self.noise.set(0.0, &[], true),
        }
        self.pitch_buf = self.history;
        self.pitch = self.find_pitch();
        self.poverlap = self.pitch >> 2;
        let end = HISTORY;
        let po = self.poverlap;
        self.last_q[..po].copy_from_slice(&self.pitch_buf[end - po..end]);
        self.poffset = 0;
        self.pitch_blen = self.pitch;
        // Blend the period before the last one into the tail, so the wrap from
        // the block's end back to its start is continuous.
        let start = end - self.pitch_blen;
        overlap_add_in_buf(
            &mut self.pitch_buf,
            &self.last_q[..po],
            start - po,
            end - po,
        );
        // The delayed output has not played these samples yet: replace them.
        self.history[HISTORY - po..].copy_from_slice(&self.pitch_buf[end - po..end]);
        self.synth(out);
    }

    fn extend_period(&mut self, out: &mut [f32; FRAME]) {
        let po = self.poverlap;
        let mut tail = [0.0f32; POVERLAP_MAX];
        let save = self.poffset;
        self.synth(&mut tail[..po]);
        self.poffset = save;
        while self.poffset > self.pitch {
            self.poffset -= self.pitch;
        }
        self.pitch_blen += self.pitch;
        let end = HISTORY;
        let start = end - self.pitch_blen;
        overlap_add_in_buf(
            &mut self.pitch_buf,
            &self.last_q[..po],
            start - po,
            end - po,
        );
        self.synth(out);
        // Cross-fade from the old block's continuation into the new one.
        for i in 0..po {
            let rw = (i + 1) as f32 / po as f32;
            out[i] = clamp((1.0 - rw) * tail[i] + rw * out[i]);
        }
        self.scale(out);
    }

    /// Copies `out.len()` samples of the repeated block.
    fn synth(&mut self, out: &mut [f32]) {
        let start = HISTORY - self.pitch_blen;
        let mut done = 0;
        while done < out.len() {
            let cnt = (self.pitch_blen - self.poffset).min(out.len() - done);
            let from = start + self.poffset;
            out[done..done + cnt].copy_from_slice(&self.pitch_buf[from..from + cnt]);
            self.poffset += cnt;
            if self.poffset == self.pitch_blen {
                self.poffset = 0;
            }
            done += cnt;
        }
    }

    /// Linear fade of 20 % per frame, starting from the gain this frame
    /// number begins at, with the background noise fading in as the speech
    /// fades out.
    fn scale(&mut self, out: &mut [f32; FRAME]) {
        let mut g = 1.0 - (self.erase_count as f32 - 1.0) * ATTEN_FAC;
        let mut noise = [0.0f32; FRAME];
        let noise = self.background_noise(&mut noise, g - ATTEN_FAC);
        for (i, s) in out.iter_mut().enumerate() {
            let gain = g.clamp(0.0, 1.0);
            let n = noise.get(i).copied().unwrap_or(0.0);
            *s = *s * gain + n * (1.0 - gain);
            g -= ATTEN_INCR;
        }
    }

    /// Appends `frame` to the history and replaces it by the delayed output.
    fn save(&mut self, frame: &mut [f32; FRAME]) {
        self.history.copy_within(FRAME.., 0);
        self.history[HISTORY - FRAME..].copy_from_slice(frame);
        let from = HISTORY - FRAME - POVERLAP_MAX;
        frame.copy_from_slice(&self.history[from..from + FRAME]);
    }

    /// Pitch period (40–120 samples) of the end of `pitch_buf` by normalised
    /// cross-correlation: a coarse search on every second lag and sample, then
    /// a fine search around the best coarse lag.
    fn find_pitch(&self) -> usize {
        let buf = &self.pitch_buf;
        let l = &buf[HISTORY - CORR_LEN..];
        let r0 = HISTORY - CORR_BUF_LEN;
        let score = |r: &[f32], energy: f32| -> f32 {
            let corr: f32 = (0..CORR_LEN).step_by(NDEC).map(|i| r[i] * l[i]).sum();
            corr / energy.max(CORR_MIN_POWER).sqrt()
        };
        let mut energy: f32 = (0..CORR_LEN)
            .step_by(NDEC)
            .map(|i| buf[r0 + i].powi(2))
            .sum();
        let mut best = score(&buf[r0..], energy);
        let mut best_j = 0;
        let mut j = NDEC;
        while j <= PITCH_DIFF {
            let r = r0 + j;
            energy += buf[r - NDEC + CORR_LEN].powi(2) - buf[r - NDEC].powi(2);
            let c = score(&buf[r..], energy);
            if c >= best {
                best = c;
                best_j = j;
            }
            j += NDEC;
        }
        let lo = best_j.saturating_sub(NDEC - 1);
        let hi = (best_j + NDEC - 1).min(PITCH_DIFF);
        let full = |r: usize| -> f32 {
            let e: f32 = buf[r..r + CORR_LEN].iter().map(|v| v * v).sum();
            let c: f32 = buf[r..r + CORR_LEN].iter().zip(l).map(|(a, b)| a * b).sum();
            c / e.max(CORR_MIN_POWER).sqrt()
        };
        let mut fine_best = full(r0 + lo);
        let mut fine_j = lo;
        for j in lo + 1..=hi {
            let c = full(r0 + j);
            if c > fine_best {
                fine_best = c;
                fine_j = j;
            }
        }
        PITCH_MAX - fine_j
    }
}

/// The pitch period (40–120 samples) at the start of `next`, by normalised
/// correlation of its start with itself one lag on (the longest window the
/// packet allows, at least 40 samples); None when `next` is shorter than a
/// frame.
fn backward_period(next: &[f32]) -> Option<usize> {
    if next.len() < FRAME {
        return None;
    }
    let hi = PITCH_MAX.min(next.len() - PITCH_MIN);
    let mut best = (PITCH_MIN, f32::MIN);
    for lag in PITCH_MIN..=hi {
        let w = (next.len() - lag).min(CORR_LEN);
        let (a, b) = (&next[..w], &next[lag..lag + w]);
        let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
        for (&x, &y) in a.iter().zip(b) {
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        let c = ab / (aa * bb).sqrt().max(CORR_MIN_POWER);
        if c > best.1 {
            best = (lag, c);
        }
    }
    Some(best.0)
}

/// Cross-fades the continuation `synth` of what played before `frame` into
/// its start, carrying on the attenuation `gain` the loss had reached
/// (falling 20 % a frame further) and the background `noise` (empty: none)
/// that filled in for the attenuated part.
fn cross_fade(frame: &mut [f32; FRAME], synth: &[f32], gain: f32, noise: &[f32]) {
    let n = synth.len();
    let incr = 1.0 / n as f32;
    let mut gain = gain.max(0.0);
    let mut rw = incr;
    for (i, (s, &f)) in frame.iter_mut().zip(synth).enumerate() {
        let g = gain.min(1.0);
        let cont = g * f + (1.0 - g) * noise.get(i).copied().unwrap_or(0.0);
        *s = clamp((1.0 - rw).max(0.0) * cont + rw * *s);
        gain = (gain - ATTEN_INCR).max(0.0);
        rw += incr;
    }
}

/// Fades `last_q` out while fading `buf[from..]` in, writing to `buf[to..]`.
fn overlap_add_in_buf(buf: &mut [f32; HISTORY], last_q: &[f32], from: usize, to: usize) {
    let n = last_q.len();
    let incr = 1.0 / n as f32;
    for (i, &q) in last_q.iter().enumerate() {
        let rw = (i + 1) as f32 * incr;
        buf[to + i] = clamp((1.0 - rw) * q + rw * buf[from + i]);
    }
}

#[inline]
fn clamp(x: f32) -> f32 {
    x.clamp(-32_768.0, 32_767.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, freq: f32, amp: f32) -> f32 {
        amp * (2.0 * std::f32::consts::PI * freq * n as f32 / 8_000.0).sin()
    }

    /// Runs `good` frames of a tone, then `lost` concealed frames, then
    /// `after` good frames; returns the delayed output.
    fn run(freq: f32, good: usize, lost: usize, after: usize) -> Vec<f32> {
        let mut plc = G711Plc::new();
        let mut out = Vec::new();
        let mut n = 0;
        for f in 0..good + lost + after {
            let mut frame = [0.0f32; FRAME];
            for s in frame.iter_mut() {
                *s = sine(n, freq, 10_000.0);
                n += 1;
            }
            if f >= good && f < good + lost {
                plc.conceal(&mut frame);
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        out
    }

    fn max_step(x: &[f32]) -> f32 {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn good_frames_pass_through_delayed() {
        let out = run(440.0, 10, 0, 0);
        for (n, &v) in out.iter().enumerate().skip(DELAY) {
            assert!((v - sine(n - DELAY, 440.0, 10_000.0)).abs() < 0.01);
        }
    }

    #[test]
    fn pitch_of_a_tone_is_found() {
        let mut plc = G711Plc::new();
        let mut n = 0;
        for _ in 0..10 {
            let mut frame = [0.0f32; FRAME];
            for s in frame.iter_mut() {
                *s = sine(n, 100.0, 10_000.0); // 80-sample period
                n += 1;
            }
            plc.good_frame(&mut frame);
        }
        plc.pitch_buf = plc.history;
        assert_eq!(plc.find_pitch(), 80);
    }

    #[test]
    fn concealed_sine_continues_without_discontinuity() {
        // 330 Hz: a period of 24.2 samples, so the repeated block never
        // matches exactly and the overlap-adds have to do their job.
        let out = run(330.0, 20, 1, 10);
        let natural = 2.0 * std::f32::consts::PI * 330.0 / 8_000.0 * 10_000.0;
        let step = max_step(&out[DELAY + 1..]);
        assert!(step < 1.6 * natural, "max step {step} vs natural {natural}");
        // The concealed frame carries the tone at full level, not silence.
        let lost = &out[20 * FRAME + DELAY..21 * FRAME];
        let peak = lost.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 8_000.0, "peak {peak}");
    }

    #[test]
    fn multi_frame_loss_stays_smooth() {
        let out = run(210.0, 20, 3, 10);
        let natural = 2.0 * std::f32::consts::PI * 210.0 / 8_000.0 * 10_000.0;
        let step = max_step(&out[DELAY + 1..]);
        assert!(step < 1.6 * natural, "max step {step} vs natural {natural}");
    }

    #[test]
    fn long_loss_fades_to_silence() {
        let out = run(250.0, 20, 10, 0);
        let energy = |frame: usize| -> f32 {
            let s = &out[frame * FRAME..(frame + 1) * FRAME];
            s.iter().map(|v| v * v).sum::<f32>()
        };
        // Loss starts at frame 20 (output delayed by 30 samples).
        assert!(energy(22) < energy(21));
        assert!(energy(24) < energy(22));
        for f in 27..30 {
            assert_eq!(energy(f), 0.0, "frame {f} after 60 ms of loss");
        }
    }

    /// A 200 Hz tone for `before` frames, then 250 Hz with another phase:
    /// speech that changes during a gap of `lost` frames. Frames at `lost_at`
    /// are concealed, bridged into the frame after the gap when `bridge`.
    /// Returns the output and the input (the truth).
    fn changing_tone(lost_at: usize, lost: usize, bridge: bool) -> (Vec<f32>, Vec<f32>) {
        let total = lost_at + lost + 10;
        let truth: Vec<f32> = (0..total * FRAME)
            .map(|n| {
                if n < (lost_at + 1) * FRAME {
                    sine(n, 200.0, 10_000.0)
                } else {
                    sine(n + 7, 250.0, 8_000.0)
                }
            })
            .collect();
        let mut plc = G711Plc::new();
        let mut out = Vec::new();
        for f in 0..total {
            let mut frame = [0.0f32; FRAME];
            frame.copy_from_slice(&truth[f * FRAME..(f + 1) * FRAME]);
            if (lost_at..lost_at + lost).contains(&f) {
                if bridge {
                    let next = &truth[(lost_at + lost) * FRAME..(lost_at + lost + 2) * FRAME];
                    plc.conceal_before(&mut frame, next, f - lost_at, lost);
                } else {
                    plc.conceal(&mut frame);
                }
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        (out, truth)
    }

    #[test]
    fn a_bridged_gap_ends_on_the_next_packet_exactly() {
        // A 20 ms packet (two frames) lost at frame 20.
        let (out, truth) = changing_tone(20, 2, true);
        let resume = 22 * FRAME;
        // From the first good frame on, the output is the input, delayed:
        // no merge with a synthetic continuation.
        for n in resume + DELAY..out.len() {
            assert!((out[n] - truth[n - DELAY]).abs() < 0.01, "sample {n}");
        }
        // And the gap leads into it without a step larger than the tones'.
        let natural = 2.0 * std::f32::consts::PI * 250.0 / 8_000.0 * 10_000.0;
        let step = max_step(&out[DELAY + 1..]);
        assert!(step < 1.6 * natural, "max step {step} vs natural {natural}");
    }

    #[test]
    fn bridging_is_closer_to_the_truth_than_appendix_i_alone() {
        let err = |bridge: bool| {
            let (out, truth) = changing_tone(20, 2, bridge);
            // The gap and the merge after it, in output time.
            (20 * FRAME + DELAY..24 * FRAME)
                .map(|n| (out[n] - truth[n - DELAY]).powi(2))
                .sum::<f32>()
        };
        let (plain, bridged) = (err(false), err(true));
        assert!(bridged < 0.7 * plain, "bridged {bridged} vs plain {plain}");
    }

    #[test]
    fn a_frame_other_than_the_bridged_one_is_merged() {
        // The gap was bridged into a packet that then is not what plays (the
        // jitter buffer skipped it): the frame that does play is merged as
        // after any loss, so there is no step.
        let mut plc = G711Plc::new();
        let mut out = Vec::new();
        let mut n = 0;
        let tone = |plc: &mut G711Plc, out: &mut Vec<f32>, n: &mut usize, lost: bool| {
            let mut frame = [0.0f32; FRAME];
            for s in frame.iter_mut() {
                *s = sine(*n, 210.0, 10_000.0);
                *n += 1;
            }
            if lost {
                let unrelated: Vec<f32> = (0..160).map(|k| sine(k, 300.0, 10_000.0)).collect();
                plc.conceal_before(&mut frame, &unrelated, 0, 1);
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        };
        for f in 0..30 {
            tone(&mut plc, &mut out, &mut n, f == 20);
        }
        assert_eq!(plc.lost_frames(), 0);
        let natural = 2.0 * std::f32::consts::PI * 300.0 / 8_000.0 * 10_000.0;
        let step = max_step(&out[DELAY + 1..]);
        assert!(step < 1.6 * natural, "max step {step} vs natural {natural}");
    }

    #[test]
    fn a_short_next_packet_falls_back_to_appendix_i() {
        let mut a = G711Plc::new();
        let mut b = G711Plc::new();
        let mut n = 0;
        for _ in 0..10 {
            let mut frame = [0.0f32; FRAME];
            for s in frame.iter_mut() {
                *s = sine(n, 250.0, 10_000.0);
                n += 1;
            }
            let mut copy = frame;
            a.good_frame(&mut frame);
            b.good_frame(&mut copy);
        }
        let (mut fa, mut fb) = ([0.0f32; FRAME], [0.0f32; FRAME]);
        a.conceal(&mut fa);
        b.conceal_before(&mut fb, &[1.0; FRAME - 1], 0, 1);
        assert_eq!(fa, fb);
        assert_eq!(b.lost_frames(), 1);
    }

    /// Speech stand-in with pauses: 200 ms bursts of a 180 Hz tone with a
    /// harmonic at about −20 dBov, alternating with 200 ms pauses, all over
    /// low-pass background noise of `noise_rms`.
    fn bursts_over_noise(frames: usize, noise_rms: f32) -> Vec<f32> {
        let mut g = NoiseGenerator::new();
        g.set(noise_rms, &[-0.6, 0.2], true);
        let mut x = vec![0.0f32; frames * FRAME];
        g.fill(&mut x);
        for (n, v) in x.iter_mut().enumerate() {
            if (n / FRAME / 20).is_multiple_of(2) {
                *v += sine(n, 180.0, 3_000.0) + sine(n, 360.0, 1_500.0);
            }
        }
        x
    }

    /// Plays `input` through a PLC, frames for which `lost(f)` concealed.
    fn play_lossy(input: &[f32], lost: impl Fn(usize) -> bool) -> (Vec<f32>, G711Plc) {
        let mut plc = G711Plc::new();
        let mut out = Vec::with_capacity(input.len());
        for (f, chunk) in input.chunks_exact(FRAME).enumerate() {
            let mut frame = [0.0f32; FRAME];
            frame.copy_from_slice(chunk);
            if lost(f) {
                plc.conceal(&mut frame);
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        (out, plc)
    }

    fn rms_of(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    fn db(a: f32, b: f32) -> f32 {
        20.0 * (a / b).log10()
    }

    /// Output frame `f` (the output is delayed by [`DELAY`]).
    fn out_frame(out: &[f32], f: usize) -> &[f32] {
        &out[f * FRAME + DELAY..(f + 1) * FRAME + DELAY]
    }

    #[test]
    fn a_long_loss_fills_with_the_background_not_silence() {
        // −50 dBov background; 350 ms lost from the middle of a burst to
        // the start of the next.
        let noise = crate::cn::rms_of_level(50);
        let input = bursts_over_noise(240, noise);
        let (start, len) = (165, 35);
        let (out, plc) = play_lossy(&input, |f| (start..start + len).contains(&f));
        let estimate = plc.background.rms().expect("a background estimate");
        assert!(
            db(estimate, noise).abs() < 2.0,
            "estimate {estimate} vs {noise}"
        );
        // After the 60 ms fade the gap is the background: within 3 dB of
        // it, frame by frame, not silence and not the repeated burst.
        for f in start + 7..start + len - 1 {
            let level = db(rms_of(out_frame(&out, f)), noise);
            assert!(
                level.abs() < 3.0,
                "frame {f}: {level:.1} dB from the background"
            );
        }
        // Bounded: no concealed frame louder than the burst before it.
        let before = rms_of(&out[(start - 5) * FRAME..start * FRAME]);
        for f in start..start + len {
            let r = rms_of(out_frame(&out, f));
            assert!(
                r <= 1.2 * before,
                "frame {f}: {r} vs {before} before the loss"
            );
        }
        // No clicks: no step between samples beyond what the input has.
        let natural = max_step(&input);
        let step = max_step(&out[DELAY + 1..]);
        assert!(
            step < 1.3 * natural,
            "max step {step} vs the input's {natural}"
        );
        // And the audio comes back: the burst after the gap at full level.
        let after = rms_of(&out[(start + len + 2) * FRAME..(start + len + 8) * FRAME]);
        assert!(
            db(after, before).abs() < 1.5,
            "after {after} vs before {before}"
        );
    }

    #[test]
    fn scripted_loss_patterns_stay_bounded_and_smooth() {
        let noise = crate::cn::rms_of_level(45);
        let input = bursts_over_noise(300, noise);
        let natural = max_step(&input);
        type Pattern = (&'static str, fn(usize) -> bool);
        let patterns: [Pattern; 4] = [
            ("every 5th frame", |f| f >= 50 && f % 5 == 0),
            ("bursts of 8 every 25", |f| f >= 50 && f % 25 < 8),
            ("one 500 ms gap in a pause", |f| (180..230).contains(&f)),
            ("pairs", |f| f >= 50 && f % 10 < 2),
        ];
        for (name, lost) in patterns {
            let (out, _) = play_lossy(&input, lost);
            assert!(out.iter().all(|v| v.is_finite()), "{name}");
            let step = max_step(&out[DELAY + 1..]);
            assert!(step < 1.3 * natural, "{name}: max step {step} vs {natural}");
            // No frame louder than the loudest input frame.
            let loudest = input.chunks_exact(FRAME).map(rms_of).fold(0.0f32, f32::max);
            for f in 0..299 {
                let r = rms_of(out_frame(&out, f));
                assert!(r <= 1.1 * loudest, "{name}: frame {f} at {r} vs {loudest}");
            }
            // Every long gap is filled near the background once faded.
            for f in 0..299 {
                let run = (0..=f).rev().take_while(|&g| lost(g)).count();
                if run >= 8 && lost(f + 1) {
                    let level = db(rms_of(out_frame(&out, f)), noise);
                    assert!(level.abs() < 4.0, "{name}: frame {f} {level:.1} dB");
                }
            }
        }
    }

    #[test]
    fn comfort_noise_from_a_cn_packet_plays_at_its_level_and_fades_into_speech() {
        let mut plc = G711Plc::new();
        let mut out = Vec::new();
        let mut n = 0;
        let mut tone = |plc: &mut G711Plc, out: &mut Vec<f32>| {
            let mut frame = [0.0f32; FRAME];
            for s in frame.iter_mut() {
                *s = sine(n, 200.0, 2_000.0);
                n += 1;
            }
            plc.good_frame(&mut frame);
            out.extend_from_slice(&frame);
        };
        for _ in 0..10 {
            tone(&mut plc, &mut out);
        }
        // −40 dBov, low-pass (k₁ = −0.5).
        let params = CnParams::parse(&[40, 63]).unwrap();
        plc.set_comfort_noise(&params);
        assert!(plc.in_comfort_noise());
        for _ in 0..50 {
            let mut frame = [0.0f32; FRAME];
            plc.comfort_noise(&mut frame);
            out.extend_from_slice(&frame);
        }
        for _ in 0..10 {
            tone(&mut plc, &mut out);
        }
        assert!(!plc.in_comfort_noise());
        let span = &out[15 * FRAME..58 * FRAME];
        let level = db(rms_of(span), params.rms());
        assert!(
            level.abs() < 1.0,
            "comfort noise {level:.2} dB from the packet's level"
        );
        // The joins (speech → noise, noise → speech) have no click: no step
        // larger than the tone's own plus the noise's.
        let natural = 2.0 * std::f32::consts::PI * 200.0 / 8_000.0 * 2_000.0;
        let join = |at: usize| max_step(&out[at * FRAME - 40..at * FRAME + 80]);
        for at in [10, 60] {
            let step = join(at);
            assert!(
                step < natural + 4.0 * params.rms(),
                "join at frame {at}: {step}"
            );
        }
    }

    #[test]
    fn audio_resumes_after_long_loss() {
        let out = run(250.0, 20, 10, 5);
        let tail = &out[32 * FRAME..];
        let peak = tail.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 9_000.0, "peak after resume {peak}");
    }
}

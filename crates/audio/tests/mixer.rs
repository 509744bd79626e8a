//! Conference mixer behaviour as a listener would check it: who hears whom, at what
//! level, without clicks, without wrap-around.

use agentphone_audio::mixer::{MixError, Mixer, ParticipantId, CLIP_LIMIT, MAX_PARTICIPANTS};
use agentphone_audio::{Frame, FRAME_SAMPLES, SAMPLE_RATE};
use proptest::prelude::*;

const AMP: f32 = 3000.0;

/// Frequencies that fit a whole number of cycles in a 10 ms frame, so one frame's
/// DFT bin measures them without leakage.
fn freq(leg: usize) -> f32 {
    300.0 + 200.0 * leg as f32
}

/// Frame `index` of a continuous sine (or cosine) tone.
fn tone(f: f32, amp: f32, index: usize, cosine: bool) -> Frame {
    let mut out = [0.0; FRAME_SAMPLES];
    for (i, s) in out.iter_mut().enumerate() {
        let n = (index * FRAME_SAMPLES + i) as f64;
        let ph = 2.0 * std::f64::consts::PI * f as f64 * n / SAMPLE_RATE as f64;
        *s = amp * if cosine { ph.cos() } else { ph.sin() } as f32;
    }
    out
}

/// Amplitude of the component at `f` (a multiple of 100 Hz) in one frame.
fn amplitude_at(frame: &Frame, f: f32) -> f32 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (n, &x) in frame.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * f as f64 * n as f64 / SAMPLE_RATE as f64;
        re += x as f64 * ph.cos();
        im -= x as f64 * ph.sin();
    }
    (2.0 * (re * re + im * im).sqrt() / FRAME_SAMPLES as f64) as f32
}

fn db(ratio: f32) -> f32 {
    20.0 * ratio.max(1e-12).log10()
}

/// A mixer with `n` legs, each playing its own tone; `frames` mixed.
fn conference(n: usize) -> (Mixer, Vec<ParticipantId>) {
    let mut m = Mixer::new(MAX_PARTICIPANTS).expect("valid size");
    let ids = (0..n).map(|_| m.add().expect("room")).collect();
    (m, ids)
}

fn run(m: &mut Mixer, ids: &[ParticipantId], start: usize, frames: usize) {
    for k in start..start + frames {
        for (leg, &id) in ids.iter().enumerate() {
            if let Ok(input) = m.input_mut(id) {
                *input = tone(freq(leg), AMP, k, false);
            }
        }
        m.mix();
    }
}

/// Asserts that `id` hears exactly the legs in `heard` (at `AMP * gain`) and none of
/// the others (below -60 dB).
fn assert_hears(m: &Mixer, ids: &[ParticipantId], listener: usize, heard: &[(usize, f32)]) {
    let out = m.output(ids[listener]).expect("listener present");
    for leg in 0..ids.len() {
        let a = amplitude_at(out, freq(leg));
        match heard.iter().find(|(l, _)| *l == leg) {
            Some(&(_, gain)) => {
                let want = AMP * gain;
                assert!(
                    (a - want).abs() < want * 0.01,
                    "leg {listener} hears leg {leg} at {a}, expected {want}"
                );
            }
            None => assert!(
                db(a / AMP) < -60.0,
                "leg {listener} hears leg {leg} at {:.1} dB, expected silence",
                db(a / AMP)
            ),
        }
    }
}

fn all_but(n: usize, skip: &[usize]) -> Vec<(usize, f32)> {
    (0..n)
        .filter(|l| !skip.contains(l))
        .map(|l| (l, 1.0))
        .collect()
}

#[test]
fn each_of_eight_legs_hears_exactly_the_seven_others() {
    let (mut m, ids) = conference(8);
    run(&mut m, &ids, 0, 3);
    for listener in 0..8 {
        assert_hears(&m, &ids, listener, &all_but(8, &[listener]));
    }
}

#[test]
fn held_leg_is_neither_heard_nor_hears() {
    let (mut m, ids) = conference(4);
    run(&mut m, &ids, 0, 2);
    m.set_held(ids[2], true).expect("known leg");
    run(&mut m, &ids, 2, 2);
    let held_out = m.output(ids[2]).expect("held leg still present");
    assert!(
        held_out.iter().all(|s| s.abs() < 1e-3),
        "held leg hears the mix"
    );
    for listener in [0, 1, 3] {
        assert_hears(&m, &ids, listener, &all_but(4, &[listener, 2]));
    }
    m.set_held(ids[2], false).expect("known leg");
    run(&mut m, &ids, 4, 2);
    assert_hears(&m, &ids, 2, &all_but(4, &[2]));
    assert_hears(&m, &ids, 0, &all_but(4, &[0]));
}

#[test]
fn muted_leg_is_not_heard_but_still_hears() {
    let (mut m, ids) = conference(3);
    m.set_muted(ids[1], true).expect("known leg");
    run(&mut m, &ids, 0, 3);
    assert_hears(&m, &ids, 0, &[(2, 1.0)]);
    assert_hears(&m, &ids, 2, &[(0, 1.0)]);
    assert_hears(&m, &ids, 1, &[(0, 1.0), (2, 1.0)]);
}

#[test]
fn gain_scales_what_others_hear_of_a_leg() {
    let (mut m, ids) = conference(3);
    m.set_gain(ids[1], 0.5).expect("valid gain");
    run(&mut m, &ids, 0, 3);
    assert_hears(&m, &ids, 0, &[(1, 0.5), (2, 1.0)]);
    assert_hears(&m, &ids, 1, &[(0, 1.0), (2, 1.0)]);
    assert_eq!(
        m.set_gain(ids[1], f32::NAN).unwrap_err().to_string(),
        MixError::InvalidGain(f32::NAN).to_string()
    );
    assert!(m.set_gain(ids[1], -1.0).is_err());
}

#[test]
fn missing_input_counts_as_silence() {
    let (mut m, ids) = conference(2);
    run(&mut m, &ids, 0, 3);
    m.mix();
    let out = m.output(ids[0]).expect("present");
    // Within one frame the old input is gone; nothing stale is replayed.
    assert!(out.iter().all(|&s| s == 0.0));
}

/// Largest sample-to-sample step in a run of frames.
fn max_step(frames: &[Frame]) -> f32 {
    let all: Vec<f32> = frames.iter().flatten().copied().collect();
    all.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn joining_and_leaving_mid_tone_does_not_click() {
    let (fa, fc, amp) = (500.0, 700.0, 12_000.0);
    let mut m = Mixer::new(8).expect("valid");
    let (a, b) = (m.add().expect("room"), m.add().expect("room"));
    let mut heard_by_b = Vec::new();
    let mut c = None;
    for k in 0..12 {
        if k == 4 {
            c = Some(m.add().expect("room"));
        }
        if k == 8 {
            m.remove(c.expect("joined")).expect("present");
        }
        m.set_input(a, &tone(fa, amp, k, false)).expect("present");
        if let Some(c) = c {
            // A cosine starts at its peak: without a ramp that is a full-amplitude step.
            let _ = m.set_input(c, &tone(fc, amp, k, true));
        }
        m.mix();
        heard_by_b.push(*m.output(b).expect("present"));
    }
    // The steepest a click-free signal can be: both tones' slopes plus the ramp.
    let slope = 2.0 * std::f32::consts::PI * (fa + fc) * amp / SAMPLE_RATE as f32;
    let bound = slope + amp / 240.0 + 1.0;
    let step = max_step(&heard_by_b[1..]);
    assert!(step <= bound, "step {step} above click bound {bound}");
    // And C really was heard in between, then gone.
    assert!((amplitude_at(&heard_by_b[6], fc) - amp).abs() < amp * 0.01);
    assert!(db(amplitude_at(&heard_by_b[10], fc) / amp) < -60.0);
    assert!(
        m.output(c.expect("joined")).is_err(),
        "removed id still answers"
    );
}

#[test]
fn eight_full_scale_legs_saturate_without_wrapping() {
    let (mut m, ids) = conference(8);
    for k in 0..4 {
        for &id in &ids {
            let frame: Frame = std::array::from_fn(|i| {
                // Full-scale square wave, all legs in phase: the worst case.
                if (i / 24 + k) % 2 == 0 {
                    32_767.0
                } else {
                    -32_768.0
                }
            });
            m.set_input(id, &frame).expect("present");
        }
        m.mix();
        for &id in &ids {
            let out = m.output(id).expect("present");
            for (i, &s) in out.iter().enumerate() {
                assert!(s.abs() <= CLIP_LIMIT, "sample {s} beyond full scale");
                if k > 0 {
                    // Seven positive inputs must not come out negative (wrap-around).
                    let positive = (i / 24 + k) % 2 == 0;
                    assert_eq!(s >= 0.0, positive, "sign flipped at {i}: {s}");
                }
            }
        }
    }
}

#[test]
fn ninth_participant_is_refused_citing_r_conf_2() {
    let (mut m, _ids) = conference(8);
    let err = m.add().unwrap_err();
    assert_eq!(err, MixError::Full { max: 8 });
    let msg = err.to_string();
    assert!(
        msg.contains("R-CONF-2") && msg.contains("at most eight participants"),
        "{msg}"
    );
    assert!(matches!(Mixer::new(9), Err(MixError::InvalidCapacity(9))));
}

#[test]
fn slot_freed_by_a_leaver_can_be_taken_at_once() {
    let (mut m, ids) = conference(8);
    m.remove(ids[3]).expect("present");
    let newcomer = m.add().expect("room after a leave");
    assert_eq!(m.len(), 8);
    assert!(m.participants().any(|p| p == newcomer));
    assert!(m.participants().all(|p| p != ids[3]));
}

#[test]
fn after_the_agent_leaves_the_others_still_hear_each_other() {
    // Leg 0 is the agent hosting the mix, 1 the customer, 2 a consulted party.
    let (mut m, ids) = conference(3);
    run(&mut m, &ids, 0, 2);
    m.remove(ids[0]).expect("agent present");
    run(&mut m, &ids, 2, 2);
    assert_hears(&m, &ids, 1, &[(2, 1.0)]);
    assert_hears(&m, &ids, 2, &[(1, 1.0)]);
    assert_eq!(
        m.output(ids[0]).unwrap_err(),
        MixError::UnknownParticipant(ids[0])
    );
}

#[test]
fn meters_report_what_each_leg_says_and_hears() {
    let (mut m, ids) = conference(2);
    m.set_muted(ids[1], true).expect("present");
    run(&mut m, &ids, 0, 5);
    // A 3000-amplitude sine: 20*log10(3000/32768) - 3.01 = -23.8 dBFS RMS.
    let said = m.spoken_level(ids[0]).expect("present").last();
    assert!((said.rms_dbfs + 23.8).abs() < 0.2, "{said:?}");
    let heard = m.heard_level(ids[1]).expect("present").last();
    assert!((heard.rms_dbfs + 23.8).abs() < 0.2, "{heard:?}");
    // Leg 0 hears nothing: leg 1 is muted.
    assert!(m.heard_level(ids[0]).expect("present").last().rms_dbfs < -100.0);
}

proptest! {
    #[test]
    fn garbage_input_never_produces_nan_or_overflow(
        samples in proptest::collection::vec(proptest::num::f32::ANY, 3 * FRAME_SAMPLES),
    ) {
        let (mut m, ids) = conference(3);
        for _ in 0..2 {
            for (leg, &id) in ids.iter().enumerate() {
                let input = m.input_mut(id).expect("present");
                input.copy_from_slice(&samples[leg * FRAME_SAMPLES..(leg + 1) * FRAME_SAMPLES]);
            }
            m.mix();
            for &id in &ids {
                let out = m.output(id).expect("present");
                prop_assert!(out.iter().all(|s| s.is_finite() && s.abs() <= CLIP_LIMIT));
            }
        }
    }
}

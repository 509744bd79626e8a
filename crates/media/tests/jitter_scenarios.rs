//! Jitter buffer scenarios on a fake clock: scripted arrivals, a pop every
//! 20 ms, and checks of what a listener would notice (order, gaps, delay).

use std::time::{Duration, Instant};

use agentphone_media::jitter::{JitterBuffer, JitterConfig, Playout, Stretch};

const STEP_TS: u32 = 160; // 20 ms at 8 kHz

/// One scripted arrival.
#[derive(Clone, Copy)]
struct Arrival {
    at_us: i64,
    seq: u16,
    ts: u32,
    silent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Packet {
        seq: u16,
        silent: bool,
        stretch: Stretch,
    },
    Missing,
    Empty,
}

struct Run {
    outs: Vec<Out>,
    /// `stats().delay_ms` after each pop.
    delays: Vec<u32>,
    /// `stats().target_ms` after each pop.
    targets: Vec<u32>,
    /// For each `Missing`: the slot's sequence number (from its timestamp) and
    /// the sequence number of the packet offered for FEC, if any.
    fec: Vec<(u16, Option<u16>)>,
    jb: JitterBuffer,
}

impl Run {
    fn played(&self) -> Vec<u16> {
        self.outs
            .iter()
            .filter_map(|o| match o {
                Out::Packet { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    }

    /// Missing results after play-out started.
    fn missing_after(&self, from_pop: usize) -> usize {
        self.outs[from_pop..]
            .iter()
            .filter(|o| **o == Out::Missing)
            .count()
    }

    /// The pop that played packet `seq`.
    fn pop_of(&self, seq: u16) -> usize {
        self.outs
            .iter()
            .position(|o| matches!(o, Out::Packet { seq: s, .. } if *s == seq))
            .expect("played")
    }

    fn first_packet_pop(&self) -> usize {
        self.outs
            .iter()
            .position(|o| matches!(o, Out::Packet { .. }))
            .expect("something played")
    }
}

fn silence(p: &[u8]) -> bool {
    p.first() == Some(&0)
}

fn config() -> JitterConfig {
    JitterConfig {
        silence: Some(silence),
        ..JitterConfig::new(8_000, 20)
    }
}

/// Feeds `arrivals` (any order) and pops every 20 ms (phase 7 ms) until
/// `end_us`.
fn simulate(cfg: JitterConfig, arrivals: &[Arrival], end_us: i64) -> Run {
    simulate_stretching(cfg, arrivals, end_us, 0)
}

/// As [`simulate`], with a caller that honours stretch hints: a shortened
/// packet plays `period_us` less, a lengthened one that much more, so the next
/// pop comes that much earlier or later.
fn simulate_stretching(
    cfg: JitterConfig,
    arrivals: &[Arrival],
    end_us: i64,
    period_us: i64,
) -> Run {
    simulate_with(cfg, arrivals, end_us, period_us, false)
}

/// As [`simulate_stretching`]; with `red` each packet also carries the one
/// before it (RFC 2198), pushed as its redundant copy.
fn simulate_with(
    cfg: JitterConfig,
    arrivals: &[Arrival],
    end_us: i64,
    period_us: i64,
    red: bool,
) -> Run {
    let mut arrivals = arrivals.to_vec();
    arrivals.sort_by_key(|a| a.at_us);
    let t0 = Instant::now();
    let at = |us: i64| t0 + Duration::from_micros(us as u64);
    let mut jb = JitterBuffer::new(cfg);
    let (mut outs, mut delays, mut targets, mut fec) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut next = 0;
    let mut pop_us = 7_000;
    while pop_us <= end_us {
        while next < arrivals.len() && arrivals[next].at_us <= pop_us {
            let a = arrivals[next];
            jb.push(
                at(a.at_us),
                a.seq,
                a.ts,
                &[u8::from(!a.silent), a.seq as u8],
            );
            // (A sender's first packet has nothing before it to carry.)
            if red && a.seq > 0 {
                let seq = a.seq - 1;
                jb.push_redundant(
                    at(a.at_us),
                    seq,
                    a.ts.wrapping_sub(STEP_TS),
                    &[u8::from(!a.silent), seq as u8],
                );
            }
            next += 1;
        }
        let out = match jb.pop(at(pop_us)) {
            Playout::Packet {
                payload,
                seq,
                stretch,
                ..
            } => {
                assert_eq!(payload[1], seq as u8, "payload belongs to its seq");
                Out::Packet {
                    seq,
                    silent: payload[0] == 0,
                    stretch,
                }
            }
            Playout::Missing { ts, next } => {
                fec.push(((ts / STEP_TS) as u16, next.map(|p| u16::from(p[1]))));
                Out::Missing
            }
            Playout::Empty => Out::Empty,
        };
        pop_us += match out {
            Out::Packet {
                stretch: Stretch::Shorten,
                ..
            } => 20_000 - period_us,
            Out::Packet {
                stretch: Stretch::Lengthen,
                ..
            } => 20_000 + period_us,
            _ => 20_000,
        };
        outs.push(out);
        delays.push(jb.stats().delay_ms);
        targets.push(jb.stats().target_ms);
    }
    Run {
        outs,
        delays,
        targets,
        fec,
        jb,
    }
}

/// Packets `0..n` sent every 20 ms, each arriving `delay(k)` µs later.
fn stream(n: usize, mut delay: impl FnMut(usize) -> i64) -> Vec<Arrival> {
    (0..n)
        .map(|k| Arrival {
            at_us: k as i64 * 20_000 + delay(k),
            seq: k as u16,
            ts: k as u32 * STEP_TS,
            silent: false,
        })
        .collect()
}

/// Deterministic uniform noise in [-1, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn assert_strictly_increasing(seqs: &[u16]) {
    for w in seqs.windows(2) {
        assert!(w[1] > w[0], "out of order: {} then {}", w[0], w[1]);
    }
}

#[test]
fn steady_stream_plays_everything_with_small_delay() {
    let run = simulate(config(), &stream(500, |_| 30_000), 10_200_000);
    assert_eq!(run.played(), (0..500).collect::<Vec<u16>>());
    let start = run.first_packet_pop();
    assert_eq!(run.missing_after(start) - run.missing_after(start + 500), 0);
    assert!(start <= 3, "playback starts within 60 ms, at pop {start}");
    assert!(
        run.delays[start..500].iter().all(|&d| d <= 40),
        "{:?}",
        &run.delays[..20]
    );
}

#[test]
fn loss_bursts_are_concealed_exactly() {
    let lost = |k: usize| (100..106).contains(&k) || (300..303).contains(&k) || k == 400;
    let arrivals: Vec<_> = stream(500, |_| 30_000)
        .into_iter()
        .filter(|a| !lost(a.seq as usize))
        .collect();
    let run = simulate(config(), &arrivals, 10_200_000);
    let expect: Vec<u16> = (0..500).filter(|&k| !lost(k as usize)).collect();
    assert_eq!(run.played(), expect);
    let start = run.first_packet_pop();
    // The last pop after the stream ends conceals too; count within it.
    let within = run.outs[start..start + 500]
        .iter()
        .filter(|o| **o == Out::Missing)
        .count();
    assert_eq!(within, 10);
    let s = run.jb.stats();
    assert_eq!(s.lost, 10);
    assert_eq!(s.late, 0);
    // Each gap is concealed in place: the packet after it keeps its slot.
    let pos_106 = run
        .outs
        .iter()
        .position(|o| matches!(o, Out::Packet { seq: 106, .. }));
    let pos_99 = run
        .outs
        .iter()
        .position(|o| matches!(o, Out::Packet { seq: 99, .. }));
    assert_eq!(pos_106.unwrap() - pos_99.unwrap(), 7);
}

#[test]
fn reordered_packets_play_in_order() {
    // Every tenth packet is overtaken by its successor (28 ms extra delay).
    let run = simulate(
        config(),
        &stream(600, |k| if k % 10 == 3 { 58_000 } else { 30_000 }),
        12_200_000,
    );
    let played = run.played();
    assert_strictly_increasing(&played);
    let s = run.jb.stats();
    assert_eq!(s.reordered, 60);
    // The very first overtaken packet teaches the buffer the delay it needs
    // and may come too late; none after it.
    assert!(s.late <= 1, "late {}", s.late);
    assert_eq!(played.len() as u64, 600 - s.late);
    let start = run.first_packet_pop();
    let after_first = run.missing_after(start + 10) - run.missing_after(start + 590);
    assert_eq!(after_first, 0);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut arrivals = stream(300, |_| 25_000);
    let dups: Vec<_> = arrivals
        .iter()
        .filter(|a| a.seq % 7 == 0)
        .map(|a| Arrival {
            at_us: a.at_us + 3_000,
            ..*a
        })
        .collect();
    arrivals.extend(dups);
    let run = simulate(config(), &arrivals, 6_200_000);
    assert_eq!(run.played(), (0..300).collect::<Vec<u16>>());
    assert_eq!(run.jb.stats().duplicates, 43);
}

#[test]
fn forty_ms_jitter_is_absorbed_after_warm_up() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let arrivals = stream(3_000, |_| 50_000 + (noise.next() * 40_000.0) as i64);
    let run = simulate(config(), &arrivals, 60_200_000);
    let played = run.played();
    assert_strictly_increasing(&played);
    // Warm-up: the buffer learns the jitter in the first seconds.
    let warm = 150;
    let late_after_warm = run.outs[warm..3_000]
        .iter()
        .filter(|o| **o == Out::Missing)
        .count();
    assert!(
        late_after_warm <= 15,
        "{late_after_warm} concealed after warm-up"
    );
    assert!(played.len() >= 2_950, "played {}", played.len());
    let max_delay = run.delays[warm..].iter().copied().max().unwrap_or(0);
    let s = run.jb.stats();
    assert!(
        (70..=130).contains(&s.target_ms),
        "target {} ms",
        s.target_ms
    );
    assert!(max_delay <= 150, "delay reached {max_delay} ms");
}

/// A sender whose clock runs `ppm` parts per million fast (positive) or
/// slow, with talk spurts of 1 s followed by 0.4 s of silence packets.
fn drifting(n: usize, ppm: i64) -> Vec<Arrival> {
    (0..n)
        .map(|k| {
            let sent = k as i64 * 20_000 * (1_000_000 - ppm) / 1_000_000;
            Arrival {
                at_us: sent + 30_000,
                seq: k as u16,
                ts: k as u32 * STEP_TS,
                silent: k % 70 >= 50,
            }
        })
        .collect()
}

fn check_slow_drift(ppm: i64) {
    // Five minutes of audio.
    let n = 15_000;
    let run = simulate(config(), &drifting(n, ppm), n as i64 * 20_000);
    let start = run.first_packet_pop();
    let last = run.outs.len() - 5;
    assert_eq!(
        run.missing_after(start)
            .saturating_sub(run.missing_after(last)),
        0
    );
    let max_delay = run.delays[start..last].iter().copied().max().unwrap_or(0);
    assert!(max_delay <= 50, "delay drifted to {max_delay} ms");
    // Every adjustment fell on silence: skipped or repeated packets are
    // silent ones.
    let played = run.played();
    for w in played.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if b == a {
            assert!(a % 70 >= 50, "speech packet {a} repeated");
        } else {
            assert_eq!(b, a + 1, "gap {a}..{b}");
        }
    }
    // 0.1 % of 300 s is 300 ms: about 15 silent packets played twice.
    let repeats = played.windows(2).filter(|w| w[0] == w[1]).count();
    assert!((10..=20).contains(&repeats), "repeated {repeats}");
}

#[test]
fn fast_sender_clock_keeps_delay_bounded() {
    let n = 15_000;
    let run = simulate(config(), &drifting(n, 1_000), n as i64 * 20_000);
    let start = run.first_packet_pop();
    // The fast sender finishes 300 ms early: leave out the end.
    let last = run.outs.len() - 30;
    let max_delay = run.delays[start..last].iter().copied().max().unwrap_or(0);
    assert!(max_delay <= 50, "delay drifted to {max_delay} ms");
    assert_eq!(
        run.outs[start..last]
            .iter()
            .filter(|o| **o == Out::Missing)
            .count(),
        0
    );
    let played = run.played();
    assert_strictly_increasing(&played);
    for w in played.windows(2) {
        for skipped in w[0] as usize + 1..w[1] as usize {
            assert!(skipped % 70 >= 50, "speech packet {skipped} dropped");
        }
    }
    let dropped = run.jb.stats().dropped;
    assert!((10..=20).contains(&dropped), "dropped {dropped}");
}

#[test]
fn slow_sender_clock_keeps_delay_bounded() {
    check_slow_drift(-1_000);
}

#[test]
fn network_outage_of_500_ms_is_concealed_then_play_resumes() {
    let arrivals: Vec<_> = stream(500, |_| 30_000)
        .into_iter()
        .filter(|a| !(200..225).contains(&a.seq))
        .collect();
    let run = simulate(config(), &arrivals, 10_200_000);
    let played = run.played();
    assert_strictly_increasing(&played);
    assert_eq!(played.len(), 475);
    let start = run.first_packet_pop();
    assert_eq!(
        run.outs[start..start + 500]
            .iter()
            .filter(|o| **o == Out::Missing)
            .count(),
        25
    );
    assert_eq!(run.jb.stats().lost, 25);
    assert!(run.delays[start..].iter().all(|&d| d <= 40));
}

#[test]
fn stall_of_500_ms_resyncs_without_unbounded_delay() {
    // Packets 200..225 are held by the network and delivered in one burst.
    let arrivals = stream(1_500, |k| {
        if (200..225).contains(&k) {
            30_000 + (225 - k as i64) * 20_000
        } else {
            30_000
        }
    });
    let run = simulate(config(), &arrivals, 30_200_000);
    let played = run.played();
    assert_strictly_increasing(&played);
    // Everything from the end of the stall on is played.
    // After the resync everything plays in order, nothing is concealed, and
    // the delay, raised by the stall, is brought down by dropping a few
    // packets (the stream has no silence to drop instead).
    let resumed = run
        .outs
        .iter()
        .position(|o| matches!(o, Out::Packet { seq, .. } if *seq >= 225))
        .unwrap_or(0);
    assert_eq!(
        run.missing_after(resumed) - run.missing_after(resumed + 1_200),
        0
    );
    let first_after = played.iter().position(|&s| s >= 225).unwrap_or(0);
    let after = &played[first_after..];
    assert!(
        after.len() >= 1_260,
        "played {} of 1275 after the stall",
        after.len()
    );
    let s = run.jb.stats();
    assert_eq!(s.resyncs, 1);
    // About 12 stale burst packets skipped at the resync, and 9 to bring
    // 200 ms of delay back to 20.
    assert!(s.dropped <= 25, "dropped {}", s.dropped);
    let max_delay = run.delays.iter().copied().max().unwrap_or(0);
    assert!(max_delay <= 260, "delay reached {max_delay} ms");
    // Long after the stall the delay has come back down.
    let tail = *run.delays.last().unwrap_or(&0);
    assert!(tail <= 60, "delay still {tail} ms at the end");
}

#[test]
fn sequence_and_timestamp_wrap_are_seamless() {
    let arrivals: Vec<_> = stream(400, |_| 30_000)
        .into_iter()
        .map(|a| Arrival {
            seq: a.seq.wrapping_add(65_400),
            ts: a.ts.wrapping_add(u32::MAX - 20 * STEP_TS + 1),
            ..a
        })
        .collect();
    let run = simulate(config(), &arrivals, 8_200_000);
    let expect: Vec<u16> = (0..400u16).map(|k| k.wrapping_add(65_400)).collect();
    assert_eq!(run.played(), expect);
    assert_eq!(run.jb.stats().lost, 0);
}

#[test]
fn reset_starts_over_on_a_new_stream() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut jb = JitterBuffer::new(config());
    for k in 0..10u16 {
        jb.push(
            at(u64::from(k) * 20),
            1_000 + k,
            50_000 + u32::from(k) * 160,
            &[1, 1],
        );
    }
    assert!(matches!(jb.pop(at(25)), Playout::Packet { seq: 1_000, .. }));
    jb.reset();
    assert!(jb.is_empty());
    // The new stream: unrelated numbering.
    jb.push(at(210), 7, 9_999_999, &[1, 2]);
    assert_eq!(
        jb.pop(at(215)),
        Playout::Empty,
        "waits for the target delay"
    );
    jb.push(at(230), 8, 9_999_999 + 160, &[1, 3]);
    let out = jb.pop(at(235));
    assert!(matches!(out, Playout::Packet { seq: 7, .. }), "{out:?}");
    assert!(matches!(jb.pop(at(255)), Playout::Packet { seq: 8, .. }));
}

#[test]
fn timestamp_jump_without_reset_resyncs() {
    let mut arrivals = stream(200, |_| 30_000);
    for a in arrivals.iter_mut().skip(100) {
        a.ts = a.ts.wrapping_add(80_000_000);
    }
    let run = simulate(config(), &arrivals, 4_200_000);
    let played = run.played();
    assert_strictly_increasing(&played);
    assert!(
        played.ends_with(&(110..200).collect::<Vec<u16>>()),
        "{played:?}"
    );
    assert_eq!(run.jb.stats().resyncs, 1);
}

#[test]
fn missing_hands_over_the_next_packet_for_fec() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut jb = JitterBuffer::new(config());
    jb.push(at(0), 1, 160, &[1, 1]);
    jb.push(at(40), 3, 480, &[1, 3]);
    assert!(matches!(jb.pop(at(25)), Playout::Packet { seq: 1, .. }));
    assert_eq!(
        jb.pop(at(45)),
        Playout::Missing {
            ts: 320,
            next: Some(&[1u8, 3][..])
        }
    );
    assert!(matches!(jb.pop(at(65)), Playout::Packet { seq: 3, .. }));
    assert_eq!(jb.stats().lost, 1);
}

#[test]
fn oversized_payload_is_refused() {
    let mut jb = JitterBuffer::new(config());
    jb.push(Instant::now(), 1, 0, &[0u8; 2_000]);
    assert!(jb.is_empty());
    assert_eq!(jb.stats().dropped, 1);
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any arrival script, redundant copies among it: no panic (nor a
        /// counter underflow), only pushed packets come out, a speech
        /// packet is never handed out twice in a row, and the buffer never
        /// holds more than its capacity.
        #[test]
        fn arbitrary_arrivals_are_handled(
            events in proptest::collection::vec((0u64..30_000, any::<u16>(), any::<u32>(), any::<bool>()), 1..300)
        ) {
            let t0 = Instant::now();
            let mut jb = JitterBuffer::new(config());
            let mut now_us = 0u64;
            let mut pushed = std::collections::HashSet::new();
            let mut last_played: Option<(u16, u8)> = None;
            for (i, (dt, seq, ts, pop)) in events.into_iter().enumerate() {
                now_us += dt;
                let at = t0 + Duration::from_micros(now_us);
                if pop {
                    if let Playout::Packet { payload, seq, .. } = jb.pop(at) {
                        // Payload is [speech flag, push index].
                        prop_assert!(pushed.contains(&(seq, payload[1])), "never pushed");
                        prop_assert_ne!(last_played, Some((seq, payload[1])), "speech repeated");
                        last_played = Some((seq, payload[1]));
                    }
                } else {
                    jb.push(at, seq, ts, &[1, i as u8]);
                    pushed.insert((seq, i as u8));
                    // Every third packet carries a copy of one before it.
                    if i % 3 == 0 {
                        let back = (ts % 3) as u16 + 1;
                        let copy = seq.wrapping_sub(back);
                        jb.push_redundant(at, copy, ts.wrapping_sub(160 * u32::from(back)), &[1, i as u8]);
                        pushed.insert((copy, i as u8));
                    }
                }
                prop_assert!(jb.len() <= 64);
            }
        }
    }
}

fn fec_config() -> JitterConfig {
    JitterConfig {
        fec: true,
        ..config()
    }
}

fn stretch_config() -> JitterConfig {
    JitterConfig {
        stretch: true,
        ..fec_config()
    }
}

#[test]
fn clean_link_keeps_its_low_delay_with_fec_on() {
    let run = simulate(fec_config(), &stream(500, |_| 30_000), 10_200_000);
    assert_eq!(run.played(), (0..500).collect::<Vec<u16>>());
    let start = run.first_packet_pop();
    assert!(run.delays[start..500].iter().all(|&d| d <= 40));
    // (The pops after the stream ends meet gaps: leave them out.)
    assert!(
        run.targets[..start + 500].iter().all(|&t| t == 20),
        "no look-ahead without loss"
    );
}

/// A steady link (30 ms) with single losses every 50 packets from 100 on
/// and a burst of three at 400: the arrivals, and which packets were lost.
fn steady_with_single_losses_and_a_burst() -> (Vec<Arrival>, impl Fn(usize) -> bool) {
    let lost =
        |k: usize| ((100..400).contains(&k) && k.is_multiple_of(50)) || (400..403).contains(&k);
    let arrivals = stream(1_300, |_| 30_000)
        .into_iter()
        .filter(|a| !lost(a.seq as usize))
        .collect();
    (arrivals, lost)
}

#[test]
fn loss_on_a_steady_link_is_rebuilt_from_fec_without_added_delay() {
    let (arrivals, lost) = steady_with_single_losses_and_a_burst();
    let run = simulate_stretching(stretch_config(), &arrivals, 26_200_000, 5_000);
    // The 20 ms a clean link needs already holds the next packet when a
    // lost one is due: every lost packet but the burst's first two (whose
    // next packets are lost too) is offered the next one for FEC.
    let fec: Vec<_> = run.fec.iter().copied().filter(|f| f.0 < 1_300).collect();
    // (The payload carries the low byte of its sequence number.)
    let next = |k: u16| Some((k + 1) & 0xff);
    let mut expect: Vec<_> = (100..400).step_by(50).map(|k| (k, next(k))).collect();
    expect.extend([(400, None), (401, None), (402, next(402))]);
    assert_eq!(fec, expect);
    // So the delay stays where a clean link has it: no look-ahead, nothing
    // lengthened to build one.
    let start = run.first_packet_pop();
    assert!(run.targets[..start + 1_290].iter().all(|&t| t == 20));
    assert!(run.outs.iter().all(|o| !matches!(
        o,
        Out::Packet {
            stretch: Stretch::Lengthen,
            ..
        }
    )));
    let played: Vec<u16> = (0..1_300).filter(|&k| !lost(k as usize)).collect();
    assert_eq!(run.played(), played);
}

/// Odd packets take 15 ms longer than even ones: too little jitter to raise
/// the 20 ms target, enough that the packet after a lost even one is not here
/// when the lost one is due. Single losses every 50 packets from 100 on, then
/// 15 s without loss. The arrivals, and which packets were lost.
fn odd_packets_late_with_single_losses() -> (Vec<Arrival>, impl Fn(usize) -> bool) {
    let lost = |k: usize| (100..400).contains(&k) && k.is_multiple_of(50);
    let arrivals = stream(1_300, |k| if k % 2 == 1 { 45_000 } else { 30_000 })
        .into_iter()
        .filter(|a| !lost(a.seq as usize))
        .collect();
    (arrivals, lost)
}

#[test]
fn fec_that_comes_too_late_brings_one_packet_of_look_ahead() {
    let (arrivals, lost) = odd_packets_late_with_single_losses();
    let run = simulate_stretching(stretch_config(), &arrivals, 26_200_000, 5_000);
    let fec: Vec<_> = run.fec.iter().copied().filter(|f| f.0 < 1_300).collect();
    // The first loss is concealed (its next packet came after it was due).
    // That starts the look-ahead, which waits for a pause or a gap to grow
    // (this stream has no pause): at the second loss the slot is held one
    // packet time, after which the next packet is here; from then on one
    // packet of look-ahead rebuilds every loss.
    let next = |k: u16| Some((k + 1) & 0xff);
    let mut expect = vec![(100, None), (150, None), (150, next(150))];
    expect.extend((200..400).step_by(50).map(|k| (k, next(k))));
    assert_eq!(fec, expect);
    let before_the_hold = run.pop_of(120);
    assert_eq!(run.targets[before_the_hold], 40);
    assert!(run.delays[before_the_hold] < 40, "grown before the hold");
    assert_eq!(run.targets[run.pop_of(380)], 40);
    assert!(run.delays[run.pop_of(380)] >= 40, "not grown at the hold");
    // The hold built the look-ahead: nothing was lengthened for it.
    assert!(run.outs.iter().all(|o| !matches!(
        o,
        Out::Packet {
            stretch: Stretch::Lengthen,
            ..
        }
    )));
    // 10 s after the last loss the look-ahead is gone again.
    assert_eq!(run.targets[run.pop_of(1_250)], 20);
    assert!(run.delays[run.pop_of(1_290)] <= 40, "delay came back down");
    let played: Vec<u16> = (0..1_300).filter(|&k| !lost(k as usize)).collect();
    assert_eq!(run.played(), played);
}

#[test]
fn redundancy_fills_every_loss_whose_next_packet_arrives() {
    // Each packet carries the one before it (RFC 2198).
    let (arrivals, _) = steady_with_single_losses_and_a_burst();
    let run = simulate_with(stretch_config(), &arrivals, 26_200_000, 5_000, true);
    // Only the burst's first two are not played as packets: their copies
    // were lost with the packets after them (the third's came in time, with
    // the fourth).
    let played: Vec<u16> = (0..1_300).filter(|k| !(400..402).contains(k)).collect();
    assert_eq!(run.played(), played);
    // The copy played at 100 started the look-ahead; with no pause in this
    // stream it grew at the burst: the slot is held once, 400 is concealed
    // (401 is lost too) and 401 is rebuilt from 402's FEC, which the
    // look-ahead brought in time.
    let fec: Vec<_> = run.fec.iter().copied().filter(|f| f.0 < 1_300).collect();
    assert_eq!(fec, [(400, None), (400, None), (401, Some(402 & 0xff))]);
    let stats = run.jb.stats();
    assert_eq!((stats.redundant, stats.lost), (7, 2));
    // Copies of packets that did arrive are neither duplicates nor received.
    assert_eq!(stats.duplicates, 0);
    assert_eq!(stats.received, arrivals.len() as u64);
    assert_eq!(run.targets[run.pop_of(99)], 20, "no look-ahead before loss");
    assert_eq!(run.targets[run.pop_of(380)], 40);
    assert!(run.delays[run.pop_of(380)] < 40, "speech was not stretched");
    assert!(run.outs.iter().all(|o| !matches!(
        o,
        Out::Packet {
            stretch: Stretch::Lengthen,
            ..
        }
    )));
    // 10 s after the last copy the look-ahead is gone.
    assert_eq!(run.targets[run.pop_of(1_290)], 20);
}

/// A steady link with redundancy and talk spurts of 1 s between 0.4 s
/// pauses: a single loss at 100, then two in a row at 300.
#[test]
fn the_look_ahead_grows_in_a_pause_and_rebuilds_a_double_loss_from_a_copy() {
    let lost = |k: usize| k == 100 || k == 300 || k == 301;
    let arrivals: Vec<Arrival> = stream(1_000, |_| 30_000)
        .into_iter()
        .map(|a| Arrival {
            silent: a.seq % 70 >= 50,
            ..a
        })
        .filter(|a| !lost(a.seq as usize))
        .collect();
    let run = simulate_with(stretch_config(), &arrivals, 20_000_000, 5_000, true);
    // 100 is played from its copy, which starts the look-ahead. Speech goes
    // on unstretched; a silent packet well inside the next pause (120-139)
    // is played twice, and the delay is one packet longer from there (until
    // the look-ahead lapses, 10 s after the last loss).
    let stretched = |o: &Out| {
        matches!(
            o,
            Out::Packet {
                stretch: Stretch::Lengthen | Stretch::Shorten,
                ..
            }
        )
    };
    // (The start settles within the first packets, before any loss.) Nor
    // is speech shortened when the look-ahead goes: it waits for a pause.
    assert!(!run.outs[run.pop_of(50)..].iter().any(stretched));
    assert!(run.delays[run.pop_of(119)] < 40, "grown inside speech");
    let repeated: Vec<u16> = run
        .played()
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert_eq!(repeated.len(), 1, "one packet played twice: {repeated:?}");
    assert!((126..140).contains(&repeated[0]), "{repeated:?}");
    assert!(run.delays[run.pop_of(200)] >= 40);
    // At 300 the copy of 301 (inside 302) is here in time: its FEC rebuilds
    // 300, and 301 plays from the copy. Nothing is concealed.
    let fec: Vec<_> = run.fec.iter().copied().filter(|f| f.0 < 1_000).collect();
    assert_eq!(fec, [(300, Some(301 & 0xff))]);
    // 10 s after the last loss (302) the look-ahead goes in the next pause
    // (820-839): one silent packet is dropped there, nothing in speech.
    let heard: Vec<u16> = run.played().into_iter().filter(|&k| k < 990).collect();
    let dropped: Vec<u16> = (0..990)
        .filter(|&k| k != 300 && !heard.contains(&k))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!((826..840).contains(&dropped[0]), "{dropped:?}");
    assert!(run.delays[run.pop_of(850)] < 40);
    // (The stream's last packets are still in the buffer when the run ends.)
    let mut played: Vec<u16> = (0..990).filter(|&k| k != 300 && k != dropped[0]).collect();
    played.insert(
        played.iter().position(|&k| k == repeated[0]).unwrap(),
        repeated[0],
    );
    assert_eq!(heard, played);
}

#[test]
fn a_copy_that_comes_after_its_slot_played_is_dropped_and_teaches_nothing() {
    // The copy of lost packet 100 comes with 101, after 100 was due. The
    // gap at 150 is held a packet time, after which its copy is here; the
    // look-ahead then catches every later one.
    let (arrivals, _) = odd_packets_late_with_single_losses();
    let run = simulate_with(stretch_config(), &arrivals, 26_200_000, 5_000, true);
    let played: Vec<u16> = (0..1_300).filter(|&k| k != 100).collect();
    assert_eq!(run.played(), played);
    let stats = run.jb.stats();
    assert_eq!((stats.redundant, stats.lost, stats.late), (5, 1, 0));
}

#[test]
fn a_packet_overtaken_by_its_copy_is_not_counted_recovered_nor_duplicate() {
    // Every tenth packet from 100 on comes 30 ms late, after the next one
    // (which carries its copy) but before it is due.
    let arrivals = stream(500, |k| {
        if k >= 100 && k.is_multiple_of(10) {
            60_000
        } else {
            30_000
        }
    });
    let run = simulate_with(fec_config(), &arrivals, 10_200_000, 0, true);
    let stats = run.jb.stats();
    assert_eq!(
        (
            stats.redundant,
            stats.duplicates,
            stats.lost,
            stats.received
        ),
        (0, 0, 0, 500)
    );
    assert_eq!(run.played(), (0..500).collect::<Vec<u16>>());
}

#[test]
fn copies_filling_losses_keep_the_look_ahead_they_need() {
    // Even packets take 30 ms, odd ones 60 ms: jitter sets the target. Every
    // 50th packet from 100 to 1000 is lost, and each loss's copy comes with
    // an odd packet, too late for the jitter alone. The first loss is
    // concealed and starts the look-ahead; from then on the copies come in
    // time, so play-out sees no more gaps, yet the look-ahead must last as
    // long as the loss does: letting it lapse after 10 s would shorten the
    // speech, then lengthen it again at the next late copy.
    let lost = |k: usize| (100..=1_000).contains(&k) && k.is_multiple_of(50);
    let arrivals: Vec<_> = stream(2_000, |k| if k % 2 == 1 { 60_000 } else { 30_000 })
        .into_iter()
        .filter(|a| !lost(a.seq as usize))
        .collect();
    let run = simulate_with(stretch_config(), &arrivals, 40_200_000, 5_000, true);
    let played: Vec<u16> = (0..2_000).filter(|&k| k != 100).collect();
    assert_eq!(run.played(), played);
    let (before, with) = (run.targets[run.pop_of(90)], run.targets[run.pop_of(110)]);
    assert_eq!(with, before + 20, "one packet of look-ahead");
    assert!(
        run.targets[run.pop_of(110)..run.pop_of(1_190)]
            .iter()
            .all(|&t| t == with),
        "the look-ahead holds while loss goes on"
    );
    assert!(run.outs[run.pop_of(110)..run.pop_of(1_190)]
        .iter()
        .all(|o| matches!(
            o,
            Out::Packet {
                stretch: Stretch::None,
                ..
            }
        )));
    // 10 s after the last loss it would go, but waits for a pause to go
    // in; this stream has none, so it goes 5 s later.
    assert_eq!(run.targets[run.pop_of(1_600)], with);
    assert_eq!(run.targets[run.pop_of(1_900)], before);
}

#[test]
fn a_single_late_packet_costs_one_rebuilt_frame_not_seconds_of_delay() {
    // A steady 30 ms link whose packet 300 alone takes 150 ms (a Wi-Fi
    // retry burst): it comes after its slot, which FEC rebuilt from packet
    // 301; the target stays where the link has it instead of rising to
    // 120 ms for the next ten seconds.
    let arrivals = stream(1_000, |k| if k == 300 { 150_000 } else { 30_000 });
    let run = simulate_stretching(stretch_config(), &arrivals, 20_200_000, 5_000);
    let start = run.first_packet_pop();
    assert!(run.targets[..start + 990].iter().all(|&t| t == 20));
    let played: Vec<u16> = (0..1_000).filter(|&k| k != 300).collect();
    assert_eq!(run.played(), played);
    let fec: Vec<_> = run.fec.iter().copied().filter(|f| f.0 < 1_000).collect();
    assert_eq!(fec, [(300, Some(301 & 0xff))]);
    assert_eq!(run.jb.stats().late, 1);
    // Two such packets within the window are a slow path, and the target
    // follows at once.
    let arrivals = stream(1_000, |k| {
        if k == 300 || k == 360 {
            150_000
        } else {
            30_000
        }
    });
    let run = simulate_stretching(stretch_config(), &arrivals, 20_200_000, 5_000);
    assert_eq!(run.targets[run.pop_of(359)], 20);
    assert!(
        run.targets[run.pop_of(370)] >= 120,
        "{}",
        run.targets[run.pop_of(370)]
    );
}

#[test]
fn without_fec_loss_adds_no_delay() {
    let lost = |k: usize| k >= 100 && k.is_multiple_of(50);
    let arrivals: Vec<_> = stream(500, |_| 30_000)
        .into_iter()
        .filter(|a| !lost(a.seq as usize))
        .collect();
    let run = simulate(config(), &arrivals, 10_200_000);
    assert!(run.targets.iter().all(|&t| t == 20));
}

/// Speech throughout (no silence to drop): a 3 s burst of 0-120 ms jitter,
/// then a steady 30 ms.
fn burst_then_calm() -> Vec<Arrival> {
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    stream(2_000, |k| {
        if (200..350).contains(&k) {
            30_000 + ((noise.next() + 1.0) * 60_000.0) as i64
        } else {
            30_000
        }
    })
}

#[test]
fn delay_follows_jitter_back_down_inside_speech() {
    let run = simulate_stretching(stretch_config(), &burst_then_calm(), 40_200_000, 5_000);
    let played = run.played();
    assert_strictly_increasing(&played);
    let peak = run.delays.iter().copied().max().unwrap_or(0);
    assert!(peak >= 100, "the burst raised the delay to {peak} ms");
    // Once the burst has left the estimator's window, the target never grows
    // again, and the delay follows it down without a silence to drop.
    let calm = 350 + 150;
    let end = run.delays.len() - 100;
    for w in run.targets[calm..end].windows(2) {
        assert!(
            w[1] <= w[0],
            "target grew after the burst: {} -> {}",
            w[0],
            w[1]
        );
    }
    assert!(run.delays[end] <= 45, "delay still {} ms", run.delays[end]);
    // It came down by shortening speech, not dropping it: every packet after
    // the burst played.
    let skipped: Vec<u16> = (360..2_000u16).filter(|k| !played.contains(k)).collect();
    assert!(
        skipped.is_empty(),
        "speech dropped after the burst: {skipped:?}"
    );
}

#[test]
fn without_stretching_the_delay_stays_high_until_silence() {
    // Today's behaviour, for contrast: speech is only dropped every 2 s.
    let run = simulate(fec_config(), &burst_then_calm(), 40_200_000);
    let stretched = simulate_stretching(stretch_config(), &burst_then_calm(), 40_200_000, 5_000);
    let mid = 1_000;
    assert!(
        stretched.delays[mid] + 10 <= run.delays[mid],
        "stretching {} ms vs dropping {} ms at 20 s",
        stretched.delays[mid],
        run.delays[mid]
    );
}

#[test]
fn stretch_decisions_are_bounded() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let arrivals = stream(3_000, |_| 50_000 + (noise.next() * 40_000.0) as i64);
    let run = simulate_stretching(stretch_config(), &arrivals, 62_200_000, 5_000);
    let mut shortened = 0;
    let mut lengthened = 0;
    for (i, o) in run.outs.iter().enumerate() {
        match o {
            Out::Packet {
                stretch: Stretch::Shorten,
                ..
            } => {
                shortened += 1;
                // Only well above target.
                assert!(run.delays[i] > run.targets[i] + 15, "pop {i}");
            }
            Out::Packet {
                stretch: Stretch::Lengthen,
                ..
            } => {
                lengthened += 1;
                // (Both in whole ms, truncated: below target may read equal.)
                assert!(
                    run.delays[i] <= run.targets[i],
                    "pop {i}: delay {} target {}",
                    run.delays[i],
                    run.targets[i]
                );
            }
            _ => {}
        }
    }
    // A steady 40 ms of jitter needs few moves once learned.
    assert!(
        shortened + lengthened <= 300,
        "{shortened} shortened, {lengthened} lengthened of 3000"
    );
    let played = run.played();
    assert_strictly_increasing(&played);
    assert!(played.len() >= 2_950, "played {}", played.len());
}

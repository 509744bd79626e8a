//! Audio through a lossy, jittery network: `agentphone call` ⇄ `agentphone answer`
//! with the RTP of both directions passing through an in-test UDP relay
//! (`common::relay`) that drops 10 % of the packets and delays each by 0-80 ms
//! (40 ms ± 40 ms, so packets arrive reordered). The call must complete, each
//! side's jitter buffer must report its delay and losses, and what each side
//! recorded must still correlate with the speech fixture the other side played.
//!
//! The same relay with no impairment gives the baseline, and the one-way added
//! delay (framing + jitter buffer) the README quotes:
//! `cargo test --test audio_impairment -- --nocapture` prints both.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::audio::{best_match, find_pieces, read, Match, RATE};
use common::process::Peer;
use common::relay::{rewrite_sdp, Impairment, Relay, RelayStats};
use common::{agentphone, fixture, ports::free_port, WorkDir};

/// Lowest correlation accepted under 10 % loss and 0-80 ms jitter, each
/// 200 ms piece at its own lag (see [`heard`]). Measured on the 2-core
/// machine: 0.94-0.97 for both codecs, idle or under four busy loops; a lost
/// packet costs its piece part of its waveform even when well concealed.
/// Unrelated audio or silence scores near 0.
const PCMU_MIN_CORRELATION: f64 = 0.85;
/// See [`PCMU_MIN_CORRELATION`].
const OPUS_MIN_CORRELATION: f64 = 0.85;
/// Relay ≤ 80 ms + jitter buffer ≤ 200 ms (its ceiling) + a packet + start
/// offset between the two sides. Measured: 86-109 ms.
const MAX_LAG_MS: f64 = 320.0;

/// 10 % loss, 0-80 ms delay.
fn lossy_jittery(seed: u64) -> Impairment {
    Impairment {
        loss: 0.10,
        delay_min: Duration::ZERO,
        delay_max: Duration::from_millis(80),
        seed,
    }
}

/// What one side's `media stopped` log line said about its jitter buffer.
#[derive(Debug, Clone, Copy)]
struct JitterReport {
    received: u64,
    lost: u64,
    concealed: u64,
    delay_ms: u64,
}

impl JitterReport {
    /// Reads the `media stopped` line's `key=value` fields from a log.
    fn from_log(log: &str) -> Option<Self> {
        let line = agentphone::media_stopped(log)?;
        let fields: HashMap<&str, u64> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        Some(Self {
            received: *fields.get("received")?,
            lost: *fields.get("lost")?,
            concealed: *fields.get("concealed")?,
            delay_ms: *fields.get("delay_ms")?,
        })
    }
}

/// Everything one relayed call produced.
#[derive(Debug)]
struct Outcome {
    relay: RelayStats,
    /// What the caller heard (the callee's speech) and its jitter buffer.
    caller: (Match, JitterReport),
    /// What the callee heard (the caller's speech) and its jitter buffer.
    callee: (Match, JitterReport),
}

impl Outcome {
    /// One-way delay estimate: the mean of both directions' lags. Each side
    /// starts its media at a slightly different moment (the callee when it sends
    /// 200, the caller when it receives it); that offset adds to one direction's
    /// lag and subtracts from the other's, so the mean cancels it.
    fn one_way_ms(&self) -> f64 {
        (self.caller.0.lag_ms + self.callee.0.lag_ms) / 2.0
    }

    /// The one-way delay less the relay's own mean delay: what agentphone adds
    /// (framing, jitter buffer, codec and resampler) on top of the network.
    fn added_ms(&self) -> f64 {
        let relay =
            (self.relay.to_caller.mean_delay_ms() + self.relay.to_callee.mean_delay_ms()) / 2.0;
        self.one_way_ms() - relay
    }
}

/// Runs one 5 s call with `codec` through a relay applying `impairment`.
fn relayed_call(test: &str, codec: &str, impairment: Impairment) -> Outcome {
    let dir = WorkDir::new(test);
    let speech = fixture("audio/speech.wav");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("loopback address");
    let relay = Relay::start(listen, impairment, Duration::from_secs(60));
    let record_dir = dir.file("callee-recordings");
    let listen = listen.to_string();
    let mut callee = Side {
        name: "callee",
        args: vec!["answer", "--listen", &listen, "--max-calls", "1"],
        record: vec!["--record-dir", agentphone::arg(&record_dir)],
    }
    .spawn(&dir, codec, &speech);
    assert!(
        callee.wait_for_output("listening on", Duration::from_secs(10)),
        "callee did not start:\n{}",
        callee.report()
    );
    let caller_wav = dir.file("caller-heard.wav");
    let target = format!("sip:bob@{}", relay.sip_addr());
    let mut caller = Side {
        name: "caller",
        args: vec!["call", &target, "--duration", "5"],
        record: vec!["--record", agentphone::arg(&caller_wav)],
    }
    .spawn(&dir, codec, &speech);
    agentphone::expect_success(&mut caller, CALL_LIMIT, &[&callee]);
    agentphone::expect_success(&mut callee, Duration::from_secs(10), &[]);
    let relay_stats = relay.stats();
    drop(relay);
    let reference = read(&speech);
    let heard = |wav: &Path, peer: &Peer| (heard(&reference, wav), jitter_report(peer));
    let outcome = Outcome {
        relay: relay_stats,
        caller: heard(&caller_wav, &caller),
        callee: heard(&agentphone::only_recording_in(&record_dir), &callee),
    };
    eprintln!(
        "{test}: {outcome:#?}\n{test}: one-way {:.1} ms",
        outcome.one_way_ms()
    );
    outcome
}

/// Each agentphone's time limit.
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// One end of the call: its verb and address, and where it records. Both ends
/// play the speech fixture with the same codec.
struct Side<'a> {
    name: &'a str,
    args: Vec<&'a str>,
    record: Vec<&'a str>,
}

impl Side<'_> {
    fn spawn(&self, dir: &WorkDir, codec: &str, speech: &Path) -> Peer {
        let mut args = self.args.clone();
        args.extend(["--codec", codec, "--play", agentphone::arg(speech)]);
        args.extend(&self.record);
        agentphone::spawn(dir, self.name, &args, &[], CALL_LIMIT)
    }
}

/// Where `reference` lines up in the recording `wav`, which must hold all of
/// it: the lag of the whole (the one-way delay the README quotes), and the
/// correlation of each 200 ms piece at its own lag. The jitter buffer may move
/// its delay mid-call (a late packet on a loaded machine, then a silent packet
/// dropped to come back down), and one lag for the whole call would count the
/// audio after that step as not heard (CI saw 0.58 on a clean relay so).
fn heard(reference: &[f32], wav: &Path) -> Match {
    let heard = read(wav);
    // A 5 s call: the 4 s of speech must fit in the file.
    assert!(
        heard.len() >= reference.len(),
        "{} holds {:.2} s only",
        wav.display(),
        heard.len() as f64 / RATE as f64
    );
    Match {
        correlation: find_pieces(reference, &heard).correlation,
        ..best_match(reference, &heard)
    }
}

/// The jitter buffer figures `peer` logged when its media stopped.
fn jitter_report(peer: &Peer) -> JitterReport {
    JitterReport::from_log(&peer.output()).unwrap_or_else(|| {
        panic!(
            "{} logged no `media stopped` line with the jitter buffer's figures\n{}",
            peer.name(),
            peer.report()
        )
    })
}

/// The relay did what was asked: enough packets each way, about 10 % dropped,
/// delays spread over 0-80 ms, and some packets overtaken.
fn assert_impaired(o: &Outcome) {
    for (way, d) in [
        ("to callee", o.relay.to_callee),
        ("to caller", o.relay.to_caller),
    ] {
        // 5 s at 20 ms a packet is 250 packets; allow a slow start.
        assert!(d.received >= 200, "relay {way}: only {d:?}");
        let loss = d.loss_ratio();
        assert!(
            (0.06..=0.14).contains(&loss),
            "relay {way}: loss {loss:.3} {d:?}"
        );
        assert!(
            d.delay_min_ms < 10.0 && d.delay_max_ms > 70.0,
            "relay {way}: {d:?}"
        );
        assert!(d.delay_max_ms <= 80.0, "relay {way}: {d:?}");
        assert!(d.reordered > 0, "relay {way}: nothing reordered {d:?}");
    }
}

/// Both jitter buffers saw the loss and report a delay that covers the jitter.
fn assert_jitter_reported(o: &Outcome) {
    for (who, (_, j), relayed) in [
        ("caller", o.caller, o.relay.to_caller),
        ("callee", o.callee, o.relay.to_callee),
    ] {
        // Every packet it took in came through the relay, and most of them did.
        assert!(
            j.received <= relayed.forwarded && j.received * 2 >= relayed.forwarded,
            "{who}: jitter buffer took {} of the {} packets relayed: {j:?}",
            j.received,
            relayed.forwarded
        );
        assert!(
            j.lost + j.concealed > 0,
            "{who}: 10 % loss but the jitter buffer reports none: {j:?}"
        );
        // Packets arrive spread over 80 ms: a buffer that did not grow well past
        // its 20 ms floor would be dropping the late half (measured 81-103 ms).
        assert!(
            (50..=200).contains(&j.delay_ms),
            "{who}: jitter buffer delay {} ms: not adapted to 0-80 ms jitter, or \
             above its 200 ms ceiling: {j:?}",
            j.delay_ms
        );
    }
}

fn assert_heard(codec: &str, o: &Outcome, min_correlation: f64, max_lag_ms: f64) {
    for (who, (m, _)) in [("caller", o.caller), ("callee", o.callee)] {
        assert!(
            m.correlation >= min_correlation,
            "{codec}: {who} heard audio correlating {:.3} with the fixture (need {min_correlation})",
            m.correlation
        );
        assert!(
            m.lag_ms < max_lag_ms,
            "{codec}: {who} heard the fixture {:.1} ms late (bound {max_lag_ms})",
            m.lag_ms
        );
    }
}

#[test]
fn pcmu_call_survives_loss_and_jitter() {
    let o = relayed_call("impair-pcmu", "pcmu", lossy_jittery(0x5EED_0001));
    assert_impaired(&o);
    assert_jitter_reported(&o);
    assert_heard("pcmu", &o, PCMU_MIN_CORRELATION, MAX_LAG_MS);
}

#[test]
fn opus_call_survives_loss_and_jitter() {
    let o = relayed_call("impair-opus", "opus", lossy_jittery(0x5EED_0002));
    assert_impaired(&o);
    assert_jitter_reported(&o);
    assert_heard("opus", &o, OPUS_MIN_CORRELATION, MAX_LAG_MS);
}

/// The relay alone changes nothing: audio as good as a direct call. Its lags are
/// the one-way added delay of agentphone itself (framing + jitter buffer).
#[test]
fn relay_without_impairment_is_transparent() {
    let o = relayed_call("impair-none", "pcmu", Impairment::none());
    for (way, d) in [
        ("to callee", o.relay.to_callee),
        ("to caller", o.relay.to_caller),
    ] {
        assert!(d.received >= 200 && d.dropped == 0, "relay {way}: {d:?}");
    }
    assert_heard("pcmu", &o, 0.8, 200.0);
}

/// The one-way added delay quoted in the README, per codec and network: no
/// impairment, 0-80 ms jitter alone, and jitter with 10 % loss.
#[test]
#[ignore = "measurement: cargo test --test audio_impairment one_way_delay -- --ignored --nocapture"]
fn one_way_delay() {
    let jitter_only = Impairment {
        loss: 0.0,
        ..lossy_jittery(0x5EED_0003)
    };
    let networks = [
        ("loopback", Impairment::none()),
        ("0-80 ms jitter", jitter_only),
        ("jitter + 10 % loss", lossy_jittery(0x5EED_0004)),
    ];
    let mut rows = Vec::new();
    for codec in ["pcmu", "pcma", "opus"] {
        for (network, impairment) in networks {
            let o = relayed_call(&format!("delay-{codec}"), codec, impairment);
            rows.push(format!(
                "| {codec} | {network} | {:.1} / {:.1} | {:.1} | {:.1} | {} / {} | {:.3} / {:.3} |",
                o.caller.0.lag_ms,
                o.callee.0.lag_ms,
                o.one_way_ms(),
                o.added_ms(),
                o.caller.1.delay_ms,
                o.callee.1.delay_ms,
                o.caller.0.correlation,
                o.callee.0.correlation,
            ));
        }
    }
    println!(
        "| codec | network | lag caller / callee (ms) | one-way (ms) | added by agentphone (ms) \
         | jitter buffer caller / callee (ms) | correlation caller / callee |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}

#[test]
fn relay_rewrites_the_sdp_it_forwards() {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n";
    let msg = format!(
        "SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let relay_media: SocketAddr = "127.0.0.1:5555".parse().expect("address");
    let (out, announced) = rewrite_sdp(msg.as_bytes(), relay_media);
    let out = String::from_utf8(out).expect("text");
    assert_eq!(announced, Some("127.0.0.1:40000".parse().expect("address")));
    let (head, new_body) = out.split_once("\r\n\r\n").expect("head and body");
    assert!(
        new_body.contains("m=audio 5555 RTP/AVP 0 8 101\r\n"),
        "{out}"
    );
    assert!(!new_body.contains("40000"), "{out}");
    assert!(
        head.contains(&format!("Content-Length: {}", new_body.len())),
        "{out}"
    );
    // A message without SDP passes unchanged.
    let bye = b"BYE sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(rewrite_sdp(bye, relay_media), (bye.to_vec(), None));
}

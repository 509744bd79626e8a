//! Sound cards on a machine without one: `--audio-device` must fail before any
//! SIP is sent, with a message naming the device, and never panic.

mod common;

use common::{agentphone, WorkDir};
use std::time::Duration;

#[test]
fn a_missing_sound_card_is_a_clear_error_for_call_and_answer() {
    let dir = WorkDir::new("audio-device-missing");
    for args in [
        vec![
            "call",
            "sip:bob@127.0.0.1:9",
            "--audio-device",
            "headset-xyz",
        ],
        vec![
            "answer",
            "--listen",
            "127.0.0.1:0",
            "--audio-device",
            "headset-xyz",
        ],
    ] {
        let mut p = agentphone::spawn(&dir, args[0], &args, &[], Duration::from_secs(20));
        let status = p.wait(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.code() == Some(1)),
            "{} with a missing device must exit 1, not panic ({status:?}):\n{}",
            args[0],
            p.report()
        );
        let out = p.output();
        assert!(
            out.contains("cannot open audio device 'headset-xyz'"),
            "the error does not name the device:\n{out}"
        );
        assert!(!out.contains("panicked"), "{out}");
        assert!(
            !out.contains("INVITE"),
            "nothing may be sent before the device opens:\n{out}"
        );
    }
}

#[test]
fn play_and_audio_device_are_exclusive() {
    let dir = WorkDir::new("audio-device-play");
    let mut p = agentphone::spawn(
        &dir,
        "call",
        &[
            "call",
            "sip:bob@127.0.0.1:9",
            "--audio-device",
            "default",
            "--play",
            "x.wav",
        ],
        &[],
        Duration::from_secs(10),
    );
    let status = p.wait(Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{}", p.report());
    assert!(p.output().contains("cannot be used with"), "{}", p.output());
}

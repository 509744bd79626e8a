#![no_main]
//! Arbitrary text as a peer's offer and as a peer's answer to our offer, with
//! SRTP off, best effort and mandatory (SDES `a=crypto` lines), and as the
//! value of one `a=crypto` line.

use std::net::{IpAddr, Ipv4Addr};

use agentphone_media::offer_answer::{
    answer, parse_crypto, process_answer, LocalMedia, SdpSession,
};
use agentphone_media::srtp::{SrtpPolicy, SrtpSuite};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_crypto(text);
    for policy in [SrtpPolicy::Off, SrtpPolicy::Optional, SrtpPolicy::Mandatory] {
        let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)), 40000)
            .with_srtp(policy, &SrtpSuite::ALL);
        let _ = answer(text, &local);
        let mut session = SdpSession::new(local);
        let offer = session.offer();
        let _ = process_answer(&offer, text);
        let _ = session.answer(text);
    }
});

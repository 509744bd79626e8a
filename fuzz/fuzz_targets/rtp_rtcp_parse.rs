#![no_main]
//! Arbitrary datagrams into the RTP receive path, the RTCP report parser and
//! SRTP/SRTCP unprotection in every suite.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use agentphone_media::offer_answer::PayloadFormat;
use agentphone_media::rtcp_stats::{NtpTime, RtcpSession};
use agentphone_media::rtp_stream::{RtpReceiver, RtpSender};
use agentphone_media::srtp::{SrtpKey, SrtpReceiver, SrtpSuite};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let from: SocketAddr = ([192, 0, 2, 1], 4000).into();
    let mut rx = RtpReceiver::new(&[
        PayloadFormat::pcmu(),
        PayloadFormat::opus(111),
        PayloadFormat::telephone_event(101, 8000),
    ]);
    // The whole input, then its chunks as a stream of packets (exercises stats).
    let _ = rx.receive(now, from, data);
    for (i, chunk) in data.chunks(24).enumerate() {
        let _ = rx.receive(now + Duration::from_millis(20 * i as u64), from, chunk);
    }
    let ntp = NtpTime::from_system_time(SystemTime::UNIX_EPOCH);
    let mut rtcp = RtcpSession::new(now, "fuzz");
    let _ = rtcp.handle_packet(now, ntp, 0x1234, data);
    let tx = RtpSender::with_start(0x1234, 0, 0, 0, 8000);
    let _ = rtcp.build_report(now, ntp, &tx, &mut rx);
    let _ = rtcp.quality(&tx, &rx);
    for suite in SrtpSuite::ALL {
        let key = SrtpKey::from_bytes(suite, &[7u8; 30][..suite.key_len() + suite.salt_len()]);
        let Ok(mut srtp) = key.and_then(|k| SrtpReceiver::new(&k)) else {
            return;
        };
        let _ = srtp.unprotect_rtp(data);
        let _ = srtp.unprotect_rtcp(data);
    }
});

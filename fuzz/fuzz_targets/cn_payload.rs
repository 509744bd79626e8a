//! Fuzzes the RFC 3389 comfort noise payload parser and what it drives: any
//! bytes either parse (anything but an empty payload does) or are refused;
//! a parsed description writes back to one that parses to itself, and the
//! noise it gives is finite and within the 16-bit range, and so (up to the
//! upsampler's ringing) is a PCMU decoder's CN path: noise, the pause after
//! it, then speech.
#![no_main]

use agentphone_media::cn::{CnError, CnParams, NoiseGenerator, MAX_ORDER};
use agentphone_media::codec::{CodecKind, Decoder};
use libfuzzer_sys::fuzz_target;

fn bounded(x: &[f32]) -> bool {
    x.iter().all(|s| s.is_finite() && s.abs() <= 32_768.0)
}

/// The decoder's 48 kHz output: its 8 kHz samples are within ±32768, and the
/// 6x upsampler's worst case is the sum of |h| over one phase, 2.57 (measured
/// from its impulse response), which full-scale noise (CN near 0 dBov) can
/// approach; the engine's final conversion saturates. Beyond that bound the
/// path would have gone wrong.
fn sane(x: &[f32]) -> bool {
    x.iter().all(|s| s.is_finite() && s.abs() <= 2.6 * 32_768.0)
}

fuzz_target!(|data: &[u8]| {
    let params = match CnParams::parse(data) {
        Ok(p) => p,
        Err(CnError::Empty) => {
            assert!(data.is_empty());
            return;
        }
    };
    assert!(params.level_dbov <= 127 && params.order <= MAX_ORDER);
    let mut buf = [0u8; MAX_ORDER + 1];
    let n = params.write(&mut buf).expect("room for any order");
    assert_eq!(CnParams::parse(&buf[..n]), Ok(params));

    let mut generator = NoiseGenerator::new();
    generator.set_params(&params, true);
    let mut noise = [0.0f32; 160];
    generator.fill(&mut noise);
    assert!(bounded(&noise));

    let mut decoder = Decoder::new(CodecKind::Pcmu).expect("PCMU decoder");
    let mut out = [0.0f32; 960];
    decoder.decode(&[0x80; 160], &mut out).expect("speech");
    decoder
        .decode_comfort_noise(data, &mut out)
        .expect("a CN payload");
    assert!(sane(&out) && decoder.in_comfort_noise());
    decoder.conceal(&mut out).expect("the pause");
    assert!(sane(&out));
    decoder
        .decode(&[0xFF; 160], &mut out)
        .expect("speech again");
    assert!(sane(&out) && !decoder.in_comfort_noise());
});

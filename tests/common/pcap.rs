//! Reading the RTP audio of a pcap capture (SIPp's `play_pcap_audio` files),
//! independently of agentphone's own codecs, so a recording can be checked against
//! what was sent.

/// Debian sip-tester's PCMA speech capture (236 packets of 30 ms, 7.08 s).
pub const G711A_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// Copies g711a.pcap into the work dir, where SIPp scenarios name it (relative
/// to SIPp's working directory); returns its audio decoded here.
pub fn copy_g711a(dir: &super::WorkDir) -> Vec<f32> {
    let pcap = dir.file("g711a.pcap");
    std::fs::copy(G711A_PCAP, &pcap)
        .unwrap_or_else(|e| panic!("{G711A_PCAP} (Debian sip-tester) cannot be copied: {e}"));
    pcma_48k(&std::fs::read(&pcap).unwrap_or_else(|e| panic!("read {}: {e}", pcap.display())))
}

/// Decodes the PCMA (payload type 8) RTP packets of a classic pcap capture
/// (Ethernet, IPv4, UDP) in capture order (the order SIPp sends them) to 48 kHz samples, on the ±32768
/// scale recordings are read with.
pub fn pcma_48k(file: &[u8]) -> Vec<f32> {
    let narrow: Vec<f32> = records(file)
        .filter_map(rtp_of_frame)
        .filter(|(pt, _)| *pt == 8)
        .flat_map(|(_, payload)| payload.iter())
        .map(|&a| f32::from(alaw_to_linear(a)))
        .collect();
    upsample_6(&narrow)
}

/// The frames of a little-endian microsecond pcap file.
fn records(file: &[u8]) -> impl Iterator<Item = &[u8]> {
    assert_eq!(
        file.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "not a little-endian pcap file"
    );
    let mut at = 24;
    std::iter::from_fn(move || {
        let header = file.get(at..at + 16)?;
        let len = u32::from_le_bytes(header[8..12].try_into().ok()?) as usize;
        let frame = file.get(at + 16..at + 16 + len)?;
        at += 16 + len;
        Some(frame)
    })
}

/// (payload type, payload) of an Ethernet/IPv4/UDP/RTP frame.
fn rtp_of_frame(frame: &[u8]) -> Option<(u8, &[u8])> {
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let rtp = ip.get(ihl + 8..)?;
    let csrc = usize::from(rtp.first()? & 0x0f) * 4;
    Some((rtp.get(1)? & 0x7f, rtp.get(12 + csrc..)?))
}

/// ITU-T G.711 A-law expansion (as in the reference g711.c), 16-bit range.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let segment = (a & 0x70) >> 4;
    let mantissa = i16::from(a & 0x0f) << 4;
    let magnitude = match segment {
        0 => mantissa + 8,
        1 => mantissa + 0x108,
        s => (mantissa + 0x108) << (s - 1),
    };
    if a & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }
}

/// 8 kHz to 48 kHz by linear interpolation: enough for a correlation check
/// (speech energy sits far below the images it leaves above 4 kHz).
fn upsample_6(narrow: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(narrow.len() * 6);
    for (i, &x) in narrow.iter().enumerate() {
        let next = narrow.get(i + 1).copied().unwrap_or(x);
        out.extend((0..6).map(|k| x + (next - x) * k as f32 / 6.0));
    }
    out
}

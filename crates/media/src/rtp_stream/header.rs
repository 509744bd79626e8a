//! The RTP fixed header (RFC 3550 §5.1), read and written in place.
//!
//! The `rtp` crate's `Packet` owns `Vec`s and `Bytes`; the per-packet path here must
//! not allocate, so this small codec borrows the datagram instead. Tests check it
//! against the `rtp` crate byte for byte.

/// Length of the fixed RTP header (no CSRCs, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// Why a datagram is not an RTP packet we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the header it announces.
    #[error("RTP packet truncated: {len} bytes, header needs {need}")]
    Truncated {
        /// Datagram length.
        len: usize,
        /// Bytes the header claims.
        need: usize,
    },
    /// Version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// Padding count is zero or longer than the payload.
    #[error("RTP padding of {padding} bytes does not fit a {available}-byte payload")]
    BadPadding {
        /// Padding count from the last byte.
        padding: usize,
        /// Bytes after the header.
        available: usize,
    },
    /// Packet type 200..=204 in the second byte: RTCP sent to the RTP port.
    #[error("RTCP packet (type {0}) on the RTP port")]
    Rtcp(u8),
    /// The output buffer is too small for header plus payload.
    #[error("output buffer of {have} bytes, need {need}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Payload type above 127.
    #[error("payload type {0} out of range 0..=127")]
    PayloadTypeOutOfRange(u8),
}

/// The fixed-header fields agentphone uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit (start of a talk spurt / of a DTMF event).
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Header fields.
    pub header: RtpHeader,
    /// Payload without CSRCs, extension or padding.
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a datagram as RTP. Never panics; every length is checked.
pub fn parse_rtp(data: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let len = data.len();
    if len < RTP_HEADER_LEN {
        return Err(RtpError::Truncated {
            len,
            need: RTP_HEADER_LEN,
        });
    }
    let version = data[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    if (200..=204).contains(&data[1]) {
        return Err(RtpError::Rtcp(data[1]));
    }
    let padding = data[0] & 0x20 != 0;
    let extension = data[0] & 0x10 != 0;
    let csrc_count = usize::from(data[0] & 0x0f);
    let mut offset = RTP_HEADER_LEN + 4 * csrc_count;
    if extension {
        if len < offset + 4 {
            return Err(RtpError::Truncated {
                len,
                need: offset + 4,
            });
        }
        offset += 4 + 4 * usize::from(be16(data, offset + 2));
    }
    if len < offset {
        return Err(RtpError::Truncated { len, need: offset });
    }
    let mut end = len;
    if padding {
        let pad = usize::from(data[len - 1]);
        if pad == 0 || pad > len - offset {
            return Err(RtpError::BadPadding {
                padding: pad,
                available: len - offset,
            });
        }
        end -= pad;
    }
    Ok(RtpPacket {
        header: RtpHeader {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7f,
            sequence: be16(data, 2),
            timestamp: be32(data, 4),
            ssrc: be32(data, 8),
        },
        payload: &data[offset..end],
    })
}

/// Writes header and payload into `out`; returns the packet length.
pub fn write_rtp(out: &mut [u8], header: &RtpHeader, payload: &[u8]) -> Result<usize, RtpError> {
    if header.payload_type > 127 {
        return Err(RtpError::PayloadTypeOutOfRange(header.payload_type));
    }
    let need = RTP_HEADER_LEN + payload.len();
    if out.len() < need {
        return Err(RtpError::BufferTooSmall {
            need,
            have: out.len(),
        });
    }
    out[0] = 0x80;
    out[1] = (u8::from(header.marker) << 7) | header.payload_type;
    out[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&header.ssrc.to_be_bytes());
    out[RTP_HEADER_LEN..need].copy_from_slice(payload);
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Buf, Bytes};
    use rtp::packet::Packet;
    use webrtc_util::{Marshal, Unmarshal};

    fn sample() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 111,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn written_packet_reads_back_in_the_rtp_crate() {
        let mut buf = [0u8; 64];
        let n = write_rtp(&mut buf, &sample(), b"hello").expect("fits");
        let mut raw = Bytes::copy_from_slice(&buf[..n]);
        let p = Packet::unmarshal(&mut raw).expect("rtp crate parses our packet");
        assert!(!raw.has_remaining());
        assert_eq!(p.header.payload_type, 111);
        assert_eq!(p.header.sequence_number, 0xfffe);
        assert_eq!(p.header.timestamp, 0xdead_beef);
        assert_eq!(p.header.ssrc, 0x1234_5678);
        assert!(p.header.marker);
        assert_eq!(&p.payload[..], b"hello");
    }

    #[test]
    fn rtp_crate_packet_with_csrc_extension_padding_parses() {
        let mut p = Packet::default();
        p.header.version = 2;
        p.header.payload_type = 0;
        p.header.sequence_number = 7;
        p.header.timestamp = 160;
        p.header.ssrc = 99;
        p.header.csrc = vec![1, 2];
        p.header.extension = true;
        p.header.extension_profile = 0xBEDE;
        p.header
            .set_extension(1, Bytes::from_static(&[0xAA, 0xBB]))
            .expect("extension");
        p.payload = Bytes::from_static(b"abc");
        let mut raw = p.marshal().expect("marshal").to_vec();
        // Add 3 bytes of padding by hand: P bit, then pad bytes ending in the count.
        raw[0] |= 0x20;
        raw.extend_from_slice(&[0, 0, 3]);
        let parsed = parse_rtp(&raw).expect("parses");
        assert_eq!(parsed.payload, b"abc");
        assert_eq!(parsed.header.sequence, 7);
        assert_eq!(parsed.header.ssrc, 99);
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        assert!(matches!(
            parse_rtp(&[0x80; 5]),
            Err(RtpError::Truncated { .. })
        ));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(parse_rtp(&v1), Err(RtpError::BadVersion(1)));
        let mut csrc = [0u8; 12];
        csrc[0] = 0x8f; // 15 CSRCs announced, none present
        assert!(matches!(parse_rtp(&csrc), Err(RtpError::Truncated { .. })));
        let mut pad = [0u8; 13];
        pad[0] = 0xa0;
        pad[12] = 5; // padding longer than the payload
        assert!(matches!(parse_rtp(&pad), Err(RtpError::BadPadding { .. })));
        let mut rtcp = [0u8; 12];
        rtcp[0] = 0x80;
        rtcp[1] = 200;
        assert_eq!(parse_rtp(&rtcp), Err(RtpError::Rtcp(200)));
        let mut small = [0u8; 13];
        assert!(matches!(
            write_rtp(&mut small, &sample(), b"xx"),
            Err(RtpError::BufferTooSmall { need: 14, .. })
        ));
    }
}

//! RFC 2198 redundant audio (RED) payloads: each packet carries, beside its
//! own frame (the primary block), copies of earlier frames (redundant blocks)
//! so one lost packet is rebuilt from the next one instead of concealed. For
//! Opus this is what browsers send (`red/48000/2` with `a=fmtp:63 111/111`).
//!
//! ```text
//!  redundant block header (4 bytes):  |1| block PT | timestamp offset (14) | block length (10) |
//!  primary block header (1 byte):     |0| block PT |
//!  then the blocks' data, in the same order as their headers
//! ```
//!
//! Parsing borrows the payload and allocates nothing; writing goes into a
//! caller's buffer.

use thiserror::Error;

/// Largest timestamp offset a redundant block header can carry (14 bits).
pub const MAX_TS_OFFSET: u32 = (1 << 14) - 1;
/// Largest redundant block a header can describe (10 bits).
pub const MAX_BLOCK_LEN: usize = (1 << 10) - 1;

/// Why a RED payload could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RedError {
    /// The payload ends inside the block headers (no primary header found).
    #[error("RED payload of {len} bytes ends inside its block headers")]
    Truncated {
        /// Payload length.
        len: usize,
    },
    /// The redundant blocks' lengths add up to more than the payload holds.
    #[error("RED blocks claim {claimed} bytes, the payload holds {available}")]
    Overrun {
        /// Bytes the headers describe.
        claimed: usize,
        /// Bytes after the headers.
        available: usize,
    },
    /// A payload type above 127.
    #[error("payload type {0} does not fit 7 bits")]
    PayloadType(u8),
    /// A redundant block too long or too old for its header's fields.
    #[error("redundant block of {len} bytes at offset {ts_offset} does not fit its header (at most {MAX_BLOCK_LEN} bytes, offset {MAX_TS_OFFSET})")]
    BlockTooLarge {
        /// Block length in bytes.
        len: usize,
        /// Its timestamp offset.
        ts_offset: u32,
    },
    /// The output buffer is too small.
    #[error("RED payload needs {needed} bytes, the buffer holds {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Buffer size.
        got: usize,
    },
}

/// One block of a RED payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedBlock<'a> {
    /// The block's payload type.
    pub payload_type: u8,
    /// How far before the packet's RTP timestamp this block's timestamp is
    /// (0 for the primary block).
    pub ts_offset: u32,
    /// The block's encoded frame.
    pub data: &'a [u8],
}

/// A parsed RED payload.
#[derive(Debug, Clone, Copy)]
pub struct Red<'a> {
    /// The redundant blocks' 4-byte headers.
    headers: &'a [u8],
    primary_type: u8,
    /// Every block's data, redundant ones first.
    body: &'a [u8],
}

/// Reads a RED payload.
pub fn parse(payload: &[u8]) -> Result<Red<'_>, RedError> {
    let truncated = RedError::Truncated { len: payload.len() };
    let mut at = 0;
    let mut claimed = 0usize;
    loop {
        let first = *payload.get(at).ok_or(truncated.clone())?;
        if first & 0x80 == 0 {
            break;
        }
        let header = payload.get(at..at + 4).ok_or(truncated.clone())?;
        claimed += block_len(header);
        at += 4;
    }
    let body = &payload[at + 1..];
    if claimed > body.len() {
        return Err(RedError::Overrun {
            claimed,
            available: body.len(),
        });
    }
    Ok(Red {
        headers: &payload[..at],
        primary_type: payload[at] & 0x7f,
        body,
    })
}

fn block_len(header: &[u8]) -> usize {
    usize::from(header[2] & 0x03) << 8 | usize::from(header[3])
}

impl<'a> Red<'a> {
    /// The redundant blocks, oldest first as senders write them.
    pub fn redundant(&self) -> impl Iterator<Item = RedBlock<'a>> + 'a {
        let body = self.body;
        let mut start = 0;
        self.headers.chunks_exact(4).map(move |h| {
            let len = block_len(h);
            let block = RedBlock {
                payload_type: h[0] & 0x7f,
                ts_offset: u32::from(h[1]) << 6 | u32::from(h[2] >> 2),
                data: &body[start..start + len],
            };
            start += len;
            block
        })
    }

    /// The packet's own frame.
    pub fn primary(&self) -> RedBlock<'a> {
        let redundant: usize = self.headers.chunks_exact(4).map(block_len).sum();
        RedBlock {
            payload_type: self.primary_type,
            ts_offset: 0,
            data: &self.body[redundant..],
        }
    }
}

/// Writes a RED payload of `redundant` blocks (oldest first) and the
/// `primary` block into `out`; returns its length.
pub fn write(
    redundant: &[RedBlock<'_>],
    primary: RedBlock<'_>,
    out: &mut [u8],
) -> Result<usize, RedError> {
    let needed = redundant.iter().map(|b| 4 + b.data.len()).sum::<usize>() + 1 + primary.data.len();
    if needed > out.len() {
        return Err(RedError::BufferTooSmall {
            needed,
            got: out.len(),
        });
    }
    for b in redundant.iter().chain([&primary]) {
        if b.payload_type > 127 {
            return Err(RedError::PayloadType(b.payload_type));
        }
    }
    let mut at = 0;
    for b in redundant {
        if b.data.len() > MAX_BLOCK_LEN || b.ts_offset > MAX_TS_OFFSET {
            return Err(RedError::BlockTooLarge {
                len: b.data.len(),
                ts_offset: b.ts_offset,
            });
        }
        let len = b.data.len();
        out[at] = 0x80 | b.payload_type;
        out[at + 1] = (b.ts_offset >> 6) as u8;
        out[at + 2] = ((b.ts_offset & 0x3f) << 2) as u8 | (len >> 8) as u8;
        out[at + 3] = len as u8;
        at += 4;
    }
    out[at] = primary.payload_type;
    at += 1;
    for b in redundant.iter().chain([&primary]) {
        out[at..at + b.data.len()].copy_from_slice(b.data);
        at += b.data.len();
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(payload_type: u8, ts_offset: u32, data: &[u8]) -> RedBlock<'_> {
        RedBlock {
            payload_type,
            ts_offset,
            data,
        }
    }

    #[test]
    fn reads_the_example_of_rfc_2198() {
        // RFC 2198 §3's layout: one redundant block of PT 111, 960 units
        // earlier, 3 bytes; then the primary, PT 111, 2 bytes.
        // 960 = 15 << 6: byte 1 holds its top 8 bits, byte 2 its low 6 (0).
        let payload = [0x80 | 111, 15, 0, 3, 111, 1, 2, 3, 9, 8];
        let red = parse(&payload).expect("parses");
        let old: Vec<_> = red.redundant().collect();
        assert_eq!(old, [block(111, 960, &[1, 2, 3])]);
        assert_eq!(red.primary(), block(111, 0, &[9, 8]));
    }

    #[test]
    fn a_packet_without_redundancy_is_one_header_byte() {
        let mut out = [0; 8];
        let n = write(&[], block(111, 0, &[7, 7]), &mut out).expect("fits");
        assert_eq!(&out[..n], [111, 7, 7]);
        let red = parse(&out[..n]).expect("parses");
        assert_eq!(red.redundant().count(), 0);
        assert_eq!(red.primary().data, [7, 7]);
    }

    #[test]
    fn refuses_what_does_not_add_up() {
        assert_eq!(parse(&[]).unwrap_err(), RedError::Truncated { len: 0 });
        // A redundant header cut short, and one with no primary header after it.
        assert!(matches!(
            parse(&[0x80 | 111, 0]),
            Err(RedError::Truncated { .. })
        ));
        assert!(matches!(
            parse(&[0x80 | 111, 0, 0, 0]),
            Err(RedError::Truncated { .. })
        ));
        // A block longer than what follows the headers.
        assert_eq!(
            parse(&[0x80 | 111, 0, 4, 3, 111, 1, 2]).unwrap_err(),
            RedError::Overrun {
                claimed: 3,
                available: 2
            }
        );
        let mut out = [0; 2_000];
        let long = [0; MAX_BLOCK_LEN + 1];
        assert!(matches!(
            write(&[block(111, 960, &long)], block(111, 0, &[1]), &mut out),
            Err(RedError::BlockTooLarge { .. })
        ));
        assert!(matches!(
            write(
                &[block(111, MAX_TS_OFFSET + 1, &[1])],
                block(111, 0, &[1]),
                &mut out
            ),
            Err(RedError::BlockTooLarge { .. })
        ));
        assert_eq!(
            write(&[], block(128, 0, &[1]), &mut out).unwrap_err(),
            RedError::PayloadType(128)
        );
        assert_eq!(
            write(
                &[block(111, 960, &[1, 2])],
                block(111, 0, &[3]),
                &mut out[..7]
            )
            .unwrap_err(),
            RedError::BufferTooSmall { needed: 8, got: 7 }
        );
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(
            blocks in proptest::collection::vec(
                (0u8..128, 0u32..=MAX_TS_OFFSET, proptest::collection::vec(any::<u8>(), 0..300)),
                0..4,
            ),
            primary_type in 0u8..128,
            primary in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let redundant: Vec<RedBlock<'_>> =
                blocks.iter().map(|(pt, off, d)| block(*pt, *off, d)).collect();
            let mut out = [0; 1_500];
            let n = write(&redundant, block(primary_type, 0, &primary), &mut out).expect("fits");
            let red = parse(&out[..n]).expect("reads back");
            prop_assert_eq!(red.redundant().collect::<Vec<_>>(), redundant);
            prop_assert_eq!(red.primary(), block(primary_type, 0, &primary));
        }

        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(red) = parse(&bytes) {
                let total: usize = red.redundant().map(|b| b.data.len()).sum::<usize>()
                    + red.primary().data.len();
                prop_assert!(total < bytes.len());
            }
        }
    }
}

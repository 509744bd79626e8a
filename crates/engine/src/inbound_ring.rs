//! The inbound ring of a leg: what the network half hands the audio half.
//!
//! A ring of whole [`Inbound`] items would reserve [`MAX_PAYLOAD`] bytes per
//! slot: 128 slots of 1.5 KB are 190 KiB per leg, though a G.711 packet is
//! 160 bytes. So the items carry only a packet's header, and payloads go
//! through a byte ring sized for the bit rate, not for the largest packet.
//! Pushing and popping still never allocate.
//!
//! Both rings are single producer, single consumer. The sender writes the
//! payload bytes before committing the header, and the receiver reads a
//! header before the bytes, so a header it sees always has its bytes there
//! (each ring's commit is a release, each read an acquire).

use crate::chain::Chain;
use crate::packet::{Inbound, InboundPacket, MAX_PAYLOAD};
use rtrb::{PopError, PushError, RingBuffer};
use std::time::Instant;

/// Payload bytes the ring holds: 1.28 s of 10 ms G.711 packets, 1.5 s of
/// Opus at 128 kbit/s. A faster sender whose audio thread stalls loses
/// packets sooner, counted as ring overflow like a full item ring.
pub const INBOUND_BYTES: usize = 24 * 1024;

/// An item as it sits in the ring: a packet without its payload.
enum Item {
    Packet {
        arrival: Instant,
        seq: u16,
        ts: u32,
        len: u16,
    },
    Chain(Box<Chain>),
    Restart,
    PeerLoss {
        fraction_lost: u8,
    },
}

/// The network half's end.
pub struct InboundSender {
    items: rtrb::Producer<Item>,
    bytes: rtrb::Producer<u8>,
}

/// The audio half's end.
pub struct InboundReceiver {
    items: rtrb::Consumer<Item>,
    bytes: rtrb::Consumer<u8>,
}

/// A ring of `slots` items and [`INBOUND_BYTES`] of payload.
pub fn inbound_ring(slots: usize) -> (InboundSender, InboundReceiver) {
    inbound_ring_with(slots, INBOUND_BYTES)
}

fn inbound_ring_with(slots: usize, bytes: usize) -> (InboundSender, InboundReceiver) {
    let (items_tx, items_rx) = RingBuffer::new(slots);
    let (bytes_tx, bytes_rx) = RingBuffer::new(bytes);
    (
        InboundSender {
            items: items_tx,
            bytes: bytes_tx,
        },
        InboundReceiver {
            items: items_rx,
            bytes: bytes_rx,
        },
    )
}

impl InboundSender {
    /// Queues `item` for the audio half; hands it back when either ring is
    /// full (nothing of it is queued then).
    // The item comes back by value: boxing the error would allocate per push.
    #[allow(clippy::result_large_err)]
    pub fn push(&mut self, item: Inbound) -> Result<(), PushError<Inbound>> {
        if self.items.is_full() {
            return Err(PushError::Full(item));
        }
        let queued = match item {
            Inbound::Packet(p) => {
                let payload = p.payload();
                if self.bytes.slots() < payload.len() {
                    return Err(PushError::Full(Inbound::Packet(p)));
                }
                let Ok(chunk) = self.bytes.write_chunk_uninit(payload.len()) else {
                    return Err(PushError::Full(Inbound::Packet(p)));
                };
                chunk.fill_from_iter(payload.iter().copied());
                Item::Packet {
                    arrival: p.arrival,
                    seq: p.seq,
                    ts: p.ts,
                    len: payload.len() as u16,
                }
            }
            Inbound::Chain(c) => Item::Chain(c),
            Inbound::Restart => Item::Restart,
            Inbound::PeerLoss { fraction_lost } => Item::PeerLoss { fraction_lost },
        };
        // Only this sender fills the item ring, and it had room above.
        if self.items.push(queued).is_err() {
            unreachable!("the item ring had a free slot a moment ago");
        }
        Ok(())
    }
}

impl InboundReceiver {
    /// The next item, its payload copied out of the byte ring.
    pub fn pop(&mut self) -> Result<Inbound, PopError> {
        Ok(match self.items.pop()? {
            Item::Packet {
                arrival,
                seq,
                ts,
                len,
            } => {
                let len = usize::from(len);
                let mut data = [0u8; MAX_PAYLOAD];
                // The sender committed these bytes before the header.
                let chunk = self
                    .bytes
                    .read_chunk(len)
                    .expect("a packet's payload is in the byte ring before its header");
                let (a, b) = chunk.as_slices();
                data[..a.len()].copy_from_slice(a);
                data[a.len()..len].copy_from_slice(b);
                chunk.commit_all();
                let packet = InboundPacket::new(arrival, seq, ts, &data[..len])
                    .expect("the sender took only payloads that fit");
                Inbound::Packet(packet)
            }
            Item::Chain(c) => Inbound::Chain(c),
            Item::Restart => Inbound::Restart,
            Item::PeerLoss { fraction_lost } => Inbound::PeerLoss { fraction_lost },
        })
    }
}

#[cfg(test)]
// `Inbound` is not `Debug` (it carries a whole chain), so a refused push
// cannot be `expect`ed directly.
#[allow(clippy::ok_expect)]
mod tests {
    use super::*;

    fn packet(seq: u16, len: usize) -> Inbound {
        let payload: Vec<u8> = (0..len).map(|i| (i as u16 ^ seq) as u8).collect();
        Inbound::Packet(
            InboundPacket::new(Instant::now(), seq, u32::from(seq) * 160, &payload).unwrap(),
        )
    }

    fn expect_packet(item: Inbound, seq: u16, len: usize) {
        let Inbound::Packet(p) = item else {
            panic!("expected packet {seq}");
        };
        assert_eq!(p.seq, seq);
        assert_eq!(p.ts, u32::from(seq) * 160);
        let want: Vec<u8> = (0..len).map(|i| (i as u16 ^ seq) as u8).collect();
        assert_eq!(p.payload(), &want[..], "payload of {seq}");
    }

    #[test]
    fn payloads_come_out_whole_and_in_order_across_the_byte_rings_wrap() {
        // 1000 bytes of payload room: packets of 300 wrap it every few.
        let (mut tx, mut rx) = inbound_ring_with(4, 1000);
        for seq in 0..50u16 {
            tx.push(packet(seq, 300)).ok().expect("room");
            if seq % 2 == 1 {
                expect_packet(rx.pop().unwrap(), seq - 1, 300);
                expect_packet(rx.pop().unwrap(), seq, 300);
            }
        }
        assert!(rx.pop().is_err());
    }

    #[test]
    fn a_full_byte_ring_hands_the_packet_back_and_queues_nothing() {
        let (mut tx, mut rx) = inbound_ring_with(8, 1000);
        tx.push(packet(1, 600)).ok().expect("room");
        let Err(PushError::Full(back)) = tx.push(packet(2, 600)) else {
            panic!("600 more bytes do not fit in 400");
        };
        expect_packet(back, 2, 600);
        tx.push(Inbound::Restart)
            .ok()
            .expect("a header needs no bytes");
        expect_packet(rx.pop().unwrap(), 1, 600);
        assert!(matches!(rx.pop().unwrap(), Inbound::Restart));
        assert!(rx.pop().is_err());
    }

    #[test]
    fn a_full_item_ring_hands_the_item_back() {
        let (mut tx, mut rx) = inbound_ring_with(2, 1000);
        tx.push(packet(1, 10)).ok().expect("room");
        tx.push(Inbound::PeerLoss { fraction_lost: 3 })
            .ok()
            .expect("room");
        assert!(matches!(tx.push(packet(3, 10)), Err(PushError::Full(_))));
        expect_packet(rx.pop().unwrap(), 1, 10);
        assert!(matches!(
            rx.pop().unwrap(),
            Inbound::PeerLoss { fraction_lost: 3 }
        ));
        // The refused packet left no bytes behind.
        tx.push(packet(4, 1000))
            .ok()
            .expect("the whole byte ring is free");
        expect_packet(rx.pop().unwrap(), 4, 1000);
    }

    #[test]
    fn a_largest_payload_fits() {
        let (mut tx, mut rx) = inbound_ring(4);
        tx.push(packet(7, MAX_PAYLOAD)).ok().expect("room");
        expect_packet(rx.pop().unwrap(), 7, MAX_PAYLOAD);
    }
}

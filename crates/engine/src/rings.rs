//! The rings between a leg's network half and its audio half.
//!
//! A ring of whole packets would reserve [`MAX_PAYLOAD`] bytes per slot: 128
//! inbound slots of 1.5 KB are 190 KiB per leg, though a G.711 packet is 160
//! bytes. So each direction is a ring of headers and a ring of payload bytes
//! sized for the bit rate, not for the largest packet. Pushing and popping
//! never allocate.
//!
//! Both rings are single producer, single consumer. The sender writes the
//! payload bytes before committing the header, and the receiver reads a
//! header before the bytes, so a header it sees always has its bytes there
//! (each ring's commit is a release, each read an acquire).

use crate::chain::Chain;
use crate::packet::{Inbound, OutboundPacket, PacketKind, MAX_PAYLOAD};
use rtrb::{PopError, PushError, RingBuffer};
use std::time::{Duration, Instant};

/// Payload bytes the inbound ring holds unless sized for its stream
/// ([`InboundSize::for_stream`]): 1.28 s of 10 ms G.711 packets, 1.5 s of Opus
/// at 128 kbit/s. A faster sender whose audio thread stalls loses packets
/// sooner, counted as ring overflow like a full item ring.
pub const INBOUND_BYTES: usize = 24 * 1024;

/// How much an inbound ring holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundSize {
    /// Items (packets, chains, notices).
    pub slots: usize,
    /// Payload bytes of all queued packets together.
    pub bytes: usize,
}

impl InboundSize {
    /// Room for `span` of a stream of `bytes_per_ms` payload in packets of
    /// 10 ms or longer (and at least one largest packet). The ring only
    /// carries packets from the network half to the audio thread, which
    /// drains it every 10 ms tick: `span` is the stall it rides out. A packet
    /// held longer than the jitter buffer's largest delay is late anyway, so
    /// that delay and some margin is enough.
    pub fn for_stream(bytes_per_ms: usize, span: Duration) -> Self {
        let ms = span.as_millis() as usize;
        InboundSize {
            slots: (ms / 10).max(16),
            bytes: (bytes_per_ms * ms).max(MAX_PAYLOAD),
        }
    }
}

/// Payload bytes the outbound ring holds: our own encoder's packets, which
/// the network half takes as each is made (it is woken for it): 8 of 30 ms
/// G.711 (240 bytes), 14 of 20 ms Opus at its 56 kbit/s ceiling, and any one
/// largest payload.
pub const OUTBOUND_BYTES: usize = 2 * 1024;

/// One direction: headers `H` with their payload length, and the payloads.
struct PayloadTx<H> {
    items: rtrb::Producer<(H, u16)>,
    bytes: rtrb::Producer<u8>,
}

struct PayloadRx<H> {
    items: rtrb::Consumer<(H, u16)>,
    bytes: rtrb::Consumer<u8>,
}

fn payload_ring<H>(slots: usize, bytes: usize) -> (PayloadTx<H>, PayloadRx<H>) {
    let (items_tx, items_rx) = RingBuffer::new(slots);
    let (bytes_tx, bytes_rx) = RingBuffer::new(bytes);
    (
        PayloadTx {
            items: items_tx,
            bytes: bytes_tx,
        },
        PayloadRx {
            items: items_rx,
            bytes: bytes_rx,
        },
    )
}

impl<H> PayloadTx<H> {
    /// Queues `header` with `payload`, or hands the header back when either
    /// ring is full (nothing is queued then).
    fn push(&mut self, header: H, payload: &[u8]) -> Result<(), H> {
        let len = payload.len();
        if self.items.is_full() || len > MAX_PAYLOAD || self.bytes.slots() < len {
            return Err(header);
        }
        let Ok(mut chunk) = self.bytes.write_chunk(len) else {
            return Err(header);
        };
        let (a, b) = chunk.as_mut_slices();
        let (head, tail) = payload.split_at(a.len());
        a.copy_from_slice(head);
        b.copy_from_slice(tail);
        chunk.commit_all();
        // Only this sender fills the item ring, and it had room above.
        if self.items.push((header, len as u16)).is_err() {
            unreachable!("the item ring had a free slot a moment ago");
        }
        Ok(())
    }
}

impl<H> PayloadRx<H> {
    /// The next header and its payload's bytes, still in the byte ring.
    fn next(&mut self) -> Result<(H, rtrb::chunks::ReadChunk<'_, u8>), PopError> {
        let (header, len) = self.items.pop()?;
        // The sender committed these bytes before the header.
        let chunk = self
            .bytes
            .read_chunk(usize::from(len))
            .expect("a payload is in the byte ring before its header");
        Ok((header, chunk))
    }

    /// The next header and its payload, lent to `f` where it lies in the
    /// byte ring; a payload split by the ring's end is put together in
    /// `scratch` first. Nothing is copied otherwise.
    fn pop_with<R>(
        &mut self,
        scratch: &mut [u8; MAX_PAYLOAD],
        f: impl FnOnce(H, &[u8]) -> R,
    ) -> Result<R, PopError> {
        let (header, chunk) = self.next()?;
        let (a, b) = chunk.as_slices();
        let r = if b.is_empty() {
            f(header, a)
        } else {
            let len = a.len() + b.len();
            scratch[..a.len()].copy_from_slice(a);
            scratch[a.len()..len].copy_from_slice(b);
            f(header, &scratch[..len])
        };
        chunk.commit_all();
        Ok(r)
    }

    /// The next header, its payload copied into `into` (at least
    /// [`MAX_PAYLOAD`] long); returns the payload's length.
    fn pop(&mut self, into: &mut [u8]) -> Result<(H, usize), PopError> {
        let (header, chunk) = self.next()?;
        let (a, b) = chunk.as_slices();
        let len = a.len() + b.len();
        into[..a.len()].copy_from_slice(a);
        into[a.len()..len].copy_from_slice(b);
        chunk.commit_all();
        Ok((header, len))
    }
}

/// An inbound item as it sits in the ring: a packet without its payload.
enum Item {
    Packet {
        arrival: Instant,
        seq: u16,
        ts: u32,
        kind: PacketKind,
    },
    Chain(Box<Chain>),
    Restart,
    PeerLoss {
        fraction_lost: u8,
    },
}

/// The network half's end of the inbound ring.
pub struct InboundSender(PayloadTx<Item>);

/// The audio half's end of the inbound ring.
pub struct InboundReceiver {
    ring: PayloadRx<Item>,
    /// Where a payload split by the byte ring's end is put together
    /// (allocated with the ring, off the audio thread).
    scratch: Box<[u8; MAX_PAYLOAD]>,
}

/// An inbound item as the audio half reads it: a packet's payload is lent
/// from the ring for the call of [`InboundReceiver::pop_with`].
pub enum Received<'a> {
    /// An audio payload as it arrived.
    Packet {
        /// When the datagram arrived.
        arrival: Instant,
        /// RTP sequence number.
        seq: u16,
        /// RTP timestamp.
        ts: u32,
        /// Audio, comfort noise or a redundant copy.
        kind: PacketKind,
        /// The payload, in the ring.
        payload: &'a [u8],
    },
    /// See [`Inbound::Chain`].
    Chain(Box<Chain>),
    /// See [`Inbound::Restart`].
    Restart,
    /// See [`Inbound::PeerLoss`].
    PeerLoss {
        /// RFC 3550 §6.4.1 fraction lost.
        fraction_lost: u8,
    },
}

/// Why [`InboundSender::push_packet`] refused a packet (nothing is queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketRefused {
    /// The item or the byte ring is full.
    Full,
    /// The payload is longer than [`MAX_PAYLOAD`].
    TooLong,
}

/// An inbound ring of `slots` items and [`INBOUND_BYTES`] of payload.
pub fn inbound_ring(slots: usize) -> (InboundSender, InboundReceiver) {
    inbound_ring_sized(InboundSize {
        slots,
        bytes: INBOUND_BYTES,
    })
}

/// An inbound ring of `size`.
pub fn inbound_ring_sized(size: InboundSize) -> (InboundSender, InboundReceiver) {
    let (tx, rx) = payload_ring(size.slots, size.bytes);
    let rx = InboundReceiver {
        ring: rx,
        scratch: Box::new([0; MAX_PAYLOAD]),
    };
    (InboundSender(tx), rx)
}

#[cfg(test)]
fn inbound_ring_with(slots: usize, bytes: usize) -> (InboundSender, InboundReceiver) {
    inbound_ring_sized(InboundSize { slots, bytes })
}

impl InboundSender {
    /// Queues one received payload, copied once into the byte ring.
    pub fn push_packet(
        &mut self,
        arrival: Instant,
        (seq, ts): (u16, u32),
        kind: PacketKind,
        payload: &[u8],
    ) -> Result<(), PacketRefused> {
        if payload.len() > MAX_PAYLOAD {
            return Err(PacketRefused::TooLong);
        }
        let header = Item::Packet {
            arrival,
            seq,
            ts,
            kind,
        };
        self.0
            .push(header, payload)
            .map_err(|_| PacketRefused::Full)
    }

    /// Queues `item` for the audio half; hands it back when the ring is
    /// full.
    pub fn push(&mut self, item: Inbound) -> Result<(), PushError<Inbound>> {
        let header = match item {
            Inbound::Chain(c) => Item::Chain(c),
            Inbound::Restart => Item::Restart,
            Inbound::PeerLoss { fraction_lost } => Item::PeerLoss { fraction_lost },
        };
        self.0.push(header, &[]).map_err(|header| {
            PushError::Full(match header {
                Item::Chain(c) => Inbound::Chain(c),
                Item::Restart => Inbound::Restart,
                Item::PeerLoss { fraction_lost } => Inbound::PeerLoss { fraction_lost },
                Item::Packet { .. } => unreachable!("only control items are pushed here"),
            })
        })
    }
}

impl InboundReceiver {
    /// Hands the next item to `f`, a packet's payload lent from the ring:
    /// the audio half's way in, with no copy of the payload.
    pub fn pop_with<R>(&mut self, f: impl FnOnce(Received<'_>) -> R) -> Result<R, PopError> {
        self.ring.pop_with(&mut self.scratch, |header, payload| {
            f(match header {
                Item::Packet {
                    arrival,
                    seq,
                    ts,
                    kind,
                } => Received::Packet {
                    arrival,
                    seq,
                    ts,
                    kind,
                    payload,
                },
                Item::Chain(c) => Received::Chain(c),
                Item::Restart => Received::Restart,
                Item::PeerLoss { fraction_lost } => Received::PeerLoss { fraction_lost },
            })
        })
    }
}

/// The audio half's end of the outbound ring.
pub struct OutboundSender(PayloadTx<OutboundHeader>);

/// An outbound packet's fields beside its payload.
type OutboundHeader = (u8, u32, u32, Option<Instant>);

/// The network half's end of the outbound ring.
pub struct OutboundReceiver(PayloadRx<OutboundHeader>);

/// An outbound ring of `slots` packets and [`OUTBOUND_BYTES`] of payload.
pub fn outbound_ring(slots: usize) -> (OutboundSender, OutboundReceiver) {
    let (tx, rx) = payload_ring(slots, OUTBOUND_BYTES);
    (OutboundSender(tx), OutboundReceiver(rx))
}

impl OutboundSender {
    /// Queues an encoded packet; false when the ring is full (dropped).
    pub fn push(&mut self, packet: &OutboundPacket) -> bool {
        self.0
            .push(
                (
                    packet.payload_type,
                    packet.step,
                    packet.skipped,
                    packet.made,
                ),
                packet.payload(),
            )
            .is_ok()
    }
}

impl OutboundReceiver {
    /// The next encoded packet.
    pub fn pop(&mut self) -> Result<OutboundPacket, PopError> {
        let mut packet = OutboundPacket::new(0, 0);
        let ((payload_type, step, skipped, made), len) = self.0.pop(packet.buffer_mut())?;
        packet.payload_type = payload_type;
        packet.step = step;
        packet.skipped = skipped;
        packet.made = made;
        packet.set_len(len);
        Ok(packet)
    }

    /// The audio half is gone (the engine dropped the leg or stopped).
    pub fn is_abandoned(&self) -> bool {
        self.0.items.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(seq: u16, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u16 ^ seq) as u8).collect()
    }

    fn push(tx: &mut InboundSender, seq: u16, len: usize) -> Result<(), PacketRefused> {
        let at = Instant::now();
        tx.push_packet(
            at,
            (seq, u32::from(seq) * 160),
            PacketKind::Audio,
            &payload(seq, len),
        )
    }

    /// A packet's (seq, ts, payload), or what else an item is.
    type Popped = Result<(u16, u32, Vec<u8>), &'static str>;

    /// The next item.
    fn pop(rx: &mut InboundReceiver) -> Result<Popped, PopError> {
        rx.pop_with(|item| match item {
            Received::Packet {
                seq, ts, payload, ..
            } => Ok((seq, ts, payload.to_vec())),
            Received::Chain(_) => Err("chain"),
            Received::Restart => Err("restart"),
            Received::PeerLoss { fraction_lost: 3 } => Err("peer loss 3"),
            Received::PeerLoss { .. } => Err("peer loss"),
        })
    }

    fn expect_packet(rx: &mut InboundReceiver, seq: u16, len: usize) {
        assert_eq!(
            pop(rx).expect("an item"),
            Ok((seq, u32::from(seq) * 160, payload(seq, len))),
            "packet {seq}"
        );
    }

    #[test]
    fn payloads_come_out_whole_and_in_order_across_the_byte_rings_wrap() {
        // 1000 bytes of payload room: packets of 300 wrap it every few.
        let (mut tx, mut rx) = inbound_ring_with(4, 1000);
        for seq in 0..50u16 {
            assert!(push(&mut tx, seq, 300).is_ok(), "room");
            if seq % 2 == 1 {
                expect_packet(&mut rx, seq - 1, 300);
                expect_packet(&mut rx, seq, 300);
            }
        }
        assert!(pop(&mut rx).is_err());
    }

    #[test]
    fn packets_pushed_in_place_are_lent_whole_also_where_the_byte_ring_wraps() {
        // 1000 bytes of room and 300-byte payloads: every few packets one is
        // split by the ring's end and comes out of the scratch buffer.
        let (mut tx, mut rx) = inbound_ring_with(4, 1000);
        let at = Instant::now();
        for seq in 0..50u16 {
            let payload: Vec<u8> = (0..300).map(|i| (i as u16 ^ seq) as u8).collect();
            let kind = if seq % 3 == 0 {
                PacketKind::Redundant
            } else {
                PacketKind::Audio
            };
            tx.push_packet(at, (seq, u32::from(seq) * 160), kind, &payload)
                .expect("room");
            let got = rx
                .pop_with(|item| {
                    let Received::Packet {
                        arrival,
                        seq,
                        ts,
                        kind,
                        payload,
                    } = item
                    else {
                        panic!("expected a packet");
                    };
                    (arrival, seq, ts, kind, payload.to_vec())
                })
                .expect("an item");
            assert_eq!(got, (at, seq, u32::from(seq) * 160, kind, payload));
        }
        assert!(rx.pop_with(|_| ()).is_err());
    }

    #[test]
    fn push_packet_refuses_a_full_ring_and_an_oversized_payload_queuing_nothing() {
        let (mut tx, mut rx) = inbound_ring_with(8, 1000);
        let at = Instant::now();
        let long = vec![0u8; MAX_PAYLOAD + 1];
        assert_eq!(
            tx.push_packet(at, (1, 0), PacketKind::Audio, &long),
            Err(PacketRefused::TooLong)
        );
        assert_eq!(
            tx.push_packet(at, (2, 0), PacketKind::Audio, &[7; 600]),
            Ok(())
        );
        assert_eq!(
            tx.push_packet(at, (3, 0), PacketKind::Audio, &[8; 600]),
            Err(PacketRefused::Full)
        );
        assert_eq!(pop(&mut rx).expect("an item"), Ok((2, 0, vec![7; 600])));
        assert!(pop(&mut rx).is_err());
    }

    #[test]
    fn a_full_byte_ring_refuses_the_packet_and_queues_nothing() {
        let (mut tx, mut rx) = inbound_ring_with(8, 1000);
        assert!(push(&mut tx, 1, 600).is_ok(), "room");
        assert_eq!(
            push(&mut tx, 2, 600),
            Err(PacketRefused::Full),
            "600 more bytes do not fit in 400"
        );
        assert!(tx.push(Inbound::Restart).is_ok(), "a header needs no bytes");
        expect_packet(&mut rx, 1, 600);
        assert_eq!(pop(&mut rx).expect("an item"), Err("restart"));
        assert!(pop(&mut rx).is_err());
    }

    #[test]
    fn a_full_item_ring_hands_the_item_back() {
        let (mut tx, mut rx) = inbound_ring_with(2, 1000);
        assert!(push(&mut tx, 1, 10).is_ok(), "room");
        assert!(
            tx.push(Inbound::PeerLoss { fraction_lost: 3 }).is_ok(),
            "room"
        );
        assert_eq!(push(&mut tx, 3, 10), Err(PacketRefused::Full));
        assert!(matches!(
            tx.push(Inbound::Restart),
            Err(PushError::Full(Inbound::Restart))
        ));
        expect_packet(&mut rx, 1, 10);
        assert_eq!(pop(&mut rx).expect("an item"), Err("peer loss 3"));
        // The refused packet left no bytes behind.
        assert!(
            push(&mut tx, 4, 1000).is_ok(),
            "the whole byte ring is free"
        );
        expect_packet(&mut rx, 4, 1000);
    }

    #[test]
    fn a_largest_payload_fits() {
        let (mut tx, mut rx) = inbound_ring(4);
        assert!(push(&mut tx, 7, MAX_PAYLOAD).is_ok(), "room");
        expect_packet(&mut rx, 7, MAX_PAYLOAD);
    }

    #[test]
    fn a_stream_sized_ring_covers_its_span_and_one_largest_packet() {
        let g711 = InboundSize::for_stream(8, Duration::from_millis(500));
        assert_eq!(
            g711,
            InboundSize {
                slots: 50,
                bytes: 4000
            }
        );
        let tiny = InboundSize::for_stream(8, Duration::from_millis(50));
        assert_eq!(tiny.bytes, MAX_PAYLOAD);
        assert_eq!(tiny.slots, 16);
        // 500 ms of 20 ms G.711 packets go through while nothing drains.
        let (mut tx, mut rx) = inbound_ring_sized(g711);
        for seq in 0..25 {
            assert!(push(&mut tx, seq, 160).is_ok(), "packet {seq}");
        }
        assert!(push(&mut tx, 25, 160).is_err(), "the span is full");
        for seq in 0..25 {
            expect_packet(&mut rx, seq, 160);
        }
    }

    #[test]
    fn outbound_packets_keep_their_payload_type_step_gap_and_bytes() {
        let (mut tx, mut rx) = outbound_ring(16);
        for n in 0..100u32 {
            let mut p = OutboundPacket::new(8, 160 + n);
            p.skipped = n * 80;
            let made = Instant::now();
            p.made = Some(made);
            let len = 100 + (n as usize * 7) % 200;
            for (i, b) in p.buffer_mut()[..len].iter_mut().enumerate() {
                *b = (i as u32 ^ n) as u8;
            }
            p.set_len(len);
            assert!(tx.push(&p), "room for packet {n}");
            let got = rx.pop().expect("the packet");
            assert_eq!(
                (got.payload_type, got.step, got.skipped),
                (8, 160 + n, n * 80)
            );
            assert_eq!(got.made, Some(made));
            assert_eq!(got.payload(), p.payload());
        }
        assert!(rx.pop().is_err());
        assert!(!rx.is_abandoned());
        drop(tx);
        assert!(rx.is_abandoned());
    }

    #[test]
    fn a_full_outbound_ring_refuses_the_packet() {
        let (mut tx, _rx) = outbound_ring(16);
        let mut p = OutboundPacket::new(0, 160);
        p.set_len(1000);
        let taken = (0..10).filter(|_| tx.push(&p)).count();
        assert_eq!(
            taken,
            OUTBOUND_BYTES / 1000,
            "as many as the byte ring holds"
        );
    }
}

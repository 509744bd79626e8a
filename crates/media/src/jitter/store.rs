//! Fixed-capacity packet store indexed by extended sequence number.
//!
//! Payload bytes live in one arena allocated at construction, sized for the
//! stream (a G.711 packet of 20 ms is 160 bytes, not the 1,500 of the largest
//! datagram). Packets take their bytes from the arena like a ring: each at the
//! write head, wrapping to the start when it does not fit before the end.
//! Play-out releases them in about the order they came, so the head finds free
//! bytes; a packet whose bytes would cover a packet still due is refused
//! (`Full`), as when its slot is taken.

/// A stored packet's numbers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) seq: i64,
    pub(super) ts: i64,
}

/// The rest of a stored packet: its sequence number and where its payload
/// lies in the arena.
#[derive(Clone, Copy)]
struct Meta {
    seq: i64,
    start: usize,
    len: usize,
}

/// `ts` of an empty slot (no extended timestamp is this far back).
const FREE: i64 = i64::MIN;

/// Packets waiting for play-out.
///
/// The slots are kept as two arrays: the timestamps, which every scan reads
/// (play-out's earliest packet, the arena's overlap check), and the rest.
/// The store is scanned a few times per packet, 10 ms or more after it was
/// last touched, when it has left the cache: 8 bytes a slot to fetch, not
/// the 40 of a whole slot.
pub(super) struct Store {
    ts: Vec<i64>,
    meta: Vec<Meta>,
    data: Vec<u8>,
    max_payload: usize,
    /// Where the next payload goes in `data`.
    head: usize,
}

/// Why a packet could not be stored.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StoreError {
    /// Payload larger than the largest accepted.
    TooLarge,
    /// The slot holds a different packet that is still due (the new one is
    /// more than `capacity` packets ahead), or the arena has no room left
    /// beside packets still due.
    Full,
    /// The same sequence number is already stored.
    Duplicate,
}

impl Store {
    /// `capacity` packets of up to `max_payload` bytes, `arena` bytes of
    /// payload in all (raised to `max_payload`, so any one packet fits).
    pub(super) fn new(capacity: usize, max_payload: usize, arena: usize) -> Self {
        Self {
            ts: vec![FREE; capacity],
            meta: vec![
                Meta {
                    seq: 0,
                    start: 0,
                    len: 0,
                };
                capacity
            ],
            data: vec![0; arena.max(max_payload)],
            max_payload,
            head: 0,
        }
    }

    pub(super) fn clear(&mut self) {
        self.ts.fill(FREE);
        self.head = 0;
    }

    fn index(&self, seq: i64) -> usize {
        seq.rem_euclid(self.ts.len() as i64) as usize
    }

    /// Whether slot `i` holds a packet that may still play (one older than
    /// `play_ts` was skipped by play-out and is only waiting to be reused).
    fn due(&self, i: usize, play_ts: Option<i64>) -> bool {
        let ts = self.ts[i];
        ts != FREE && play_ts.is_none_or(|p| ts >= p)
    }

    /// Whether `len` bytes at `start` stay clear of every packet still due
    /// other than slot `except` (the one being replaced).
    fn room_at(&self, start: usize, len: usize, except: usize, play_ts: Option<i64>) -> bool {
        start + len <= self.data.len()
            && (0..self.ts.len()).all(|j| {
                j == except || !self.due(j, play_ts) || {
                    let m = &self.meta[j];
                    m.start + m.len <= start || start + len <= m.start
                }
            })
    }

    /// Stores a packet. A slot still holding a packet older than `play_ts`
    /// (left behind when play-out skipped it) is simply reused, and so are
    /// its bytes.
    pub(super) fn insert(
        &mut self,
        seq: i64,
        ts: i64,
        payload: &[u8],
        play_ts: Option<i64>,
    ) -> Result<(), StoreError> {
        let len = payload.len();
        if len > self.max_payload {
            return Err(StoreError::TooLarge);
        }
        let i = self.index(seq);
        if self.ts[i] != FREE {
            if self.meta[i].seq == seq {
                return Err(StoreError::Duplicate);
            }
            if self.due(i, play_ts) {
                return Err(StoreError::Full);
            }
        }
        let start = [self.head, 0]
            .into_iter()
            .find(|&at| self.room_at(at, len, i, play_ts))
            .ok_or(StoreError::Full)?;
        self.data[start..start + len].copy_from_slice(payload);
        self.head = start + len;
        self.ts[i] = ts;
        self.meta[i] = Meta { seq, start, len };
        Ok(())
    }

    /// The stored packet with the smallest timestamp `>= from`.
    pub(super) fn earliest_from(&self, from: Option<i64>) -> Option<usize> {
        let mut best: Option<(usize, i64)> = None;
        for (i, &ts) in self.ts.iter().enumerate() {
            if ts != FREE && from.is_none_or(|f| ts >= f) && best.is_none_or(|(_, b)| ts < b) {
                best = Some((i, ts));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Whether any stored packet has a timestamp `>= from`.
    pub(super) fn has_from(&self, from: i64) -> bool {
        self.ts.iter().any(|&ts| ts != FREE && ts >= from)
    }

    /// The numbers of the packet in slot `i` (a slot `earliest_from` gave).
    pub(super) fn slot(&self, i: usize) -> Slot {
        Slot {
            seq: self.meta[i].seq,
            ts: self.ts[i],
        }
    }

    pub(super) fn payload(&self, i: usize) -> &[u8] {
        let m = &self.meta[i];
        &self.data[m.start..m.start + m.len]
    }

    pub(super) fn release(&mut self, i: usize) {
        self.ts[i] = FREE;
    }

    /// Number of stored packets.
    pub(super) fn len(&self) -> usize {
        self.ts.iter().filter(|&&ts| ts != FREE).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(seq: i64, len: usize) -> Vec<u8> {
        (0..len).map(|k| (seq as usize * 31 + k) as u8).collect()
    }

    #[test]
    fn payloads_survive_the_arena_wrapping_many_times() {
        // Room for three and a bit packets of 100: the head wraps every third.
        let mut s = Store::new(8, 200, 350);
        for seq in 0..100i64 {
            s.insert(seq, seq * 160, &bytes(seq, 100), Some((seq - 2) * 160))
                .unwrap_or_else(|e| panic!("packet {seq}: {e:?}"));
            // Play-out keeps two packets waiting.
            if seq >= 2 {
                let i = s.earliest_from(None).expect("a packet");
                assert_eq!(s.slot(i).seq, seq - 2);
                assert_eq!(s.payload(i), &bytes(seq - 2, 100)[..]);
                s.release(i);
            }
        }
    }

    #[test]
    fn a_full_arena_refuses_a_packet_and_keeps_the_waiting_ones() {
        let mut s = Store::new(8, 200, 300);
        for seq in 0..3 {
            s.insert(seq, seq * 160, &bytes(seq, 100), None).unwrap();
        }
        assert_eq!(
            s.insert(3, 480, &bytes(3, 100), None),
            Err(StoreError::Full)
        );
        for seq in 0..3 {
            let i = s.earliest_from(Some(seq * 160)).unwrap();
            assert_eq!(s.payload(i), &bytes(seq, 100)[..]);
        }
        // Once the oldest is played, its bytes take the next packet.
        let first = s.earliest_from(None).unwrap();
        s.release(first);
        s.insert(3, 480, &bytes(3, 100), None).unwrap();
        let i = s.earliest_from(Some(480)).unwrap();
        assert_eq!(s.payload(i), &bytes(3, 100)[..]);
    }

    #[test]
    fn bytes_of_a_skipped_packet_are_reused() {
        let mut s = Store::new(8, 200, 200);
        s.insert(0, 0, &bytes(0, 150), None).unwrap();
        // Play-out moved past packet 0 without taking it.
        s.insert(1, 160, &bytes(1, 150), Some(160)).unwrap();
        let i = s.earliest_from(Some(160)).unwrap();
        assert_eq!(s.payload(i), &bytes(1, 150)[..]);
    }

    #[test]
    fn a_packet_larger_than_the_largest_is_refused() {
        let mut s = Store::new(4, 100, 1000);
        assert_eq!(
            s.insert(0, 0, &bytes(0, 101), None),
            Err(StoreError::TooLarge)
        );
    }
}

//! Fixed-capacity packet store indexed by extended sequence number.

pub(super) struct Slot {
    pub(super) used: bool,
    pub(super) seq: i64,
    pub(super) ts: i64,
    pub(super) len: usize,
}

/// Packets waiting for play-out; payload bytes live in one block allocated
/// at construction.
pub(super) struct Store {
    slots: Vec<Slot>,
    data: Vec<u8>,
    max_payload: usize,
}

/// Why a packet could not be stored.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StoreError {
    /// Payload larger than a slot.
    TooLarge,
    /// The slot holds a different packet that is still due (the new one is
    /// more than `capacity` packets ahead).
    Full,
    /// The same sequence number is already stored.
    Duplicate,
}

impl Store {
    pub(super) fn new(capacity: usize, max_payload: usize) -> Self {
        let slots = (0..capacity)
            .map(|_| Slot {
                used: false,
                seq: 0,
                ts: 0,
                len: 0,
            })
            .collect();
        Self {
            slots,
            data: vec![0; capacity * max_payload],
            max_payload,
        }
    }

    pub(super) fn clear(&mut self) {
        for s in &mut self.slots {
            s.used = false;
        }
    }

    fn index(&self, seq: i64) -> usize {
        seq.rem_euclid(self.slots.len() as i64) as usize
    }

    /// Stores a packet. A slot still holding a packet older than `play_ts`
    /// (left behind when play-out skipped it) is simply reused.
    pub(super) fn insert(
        &mut self,
        seq: i64,
        ts: i64,
        payload: &[u8],
        play_ts: Option<i64>,
    ) -> Result<(), StoreError> {
        if payload.len() > self.max_payload {
            return Err(StoreError::TooLarge);
        }
        let i = self.index(seq);
        let slot = &self.slots[i];
        if slot.used {
            if slot.seq == seq {
                return Err(StoreError::Duplicate);
            }
            if play_ts.is_none_or(|p| slot.ts >= p) {
                return Err(StoreError::Full);
            }
        }
        let start = i * self.max_payload;
        self.data[start..start + payload.len()].copy_from_slice(payload);
        self.slots[i] = Slot {
            used: true,
            seq,
            ts,
            len: payload.len(),
        };
        Ok(())
    }

    /// The stored packet with the smallest timestamp `>= from`.
    pub(super) fn earliest_from(&self, from: Option<i64>) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if s.used
                && from.is_none_or(|f| s.ts >= f)
                && best.is_none_or(|b| s.ts < self.slots[b].ts)
            {
                best = Some(i);
            }
        }
        best
    }

    /// Whether any stored packet has a timestamp `>= from`.
    pub(super) fn has_from(&self, from: i64) -> bool {
        self.slots.iter().any(|s| s.used && s.ts >= from)
    }

    pub(super) fn slot(&self, i: usize) -> &Slot {
        &self.slots[i]
    }

    pub(super) fn payload(&self, i: usize) -> &[u8] {
        let start = i * self.max_payload;
        &self.data[start..start + self.slots[i].len]
    }

    pub(super) fn release(&mut self, i: usize) {
        self.slots[i].used = false;
    }

    /// Number of stored packets.
    pub(super) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.used).count()
    }
}

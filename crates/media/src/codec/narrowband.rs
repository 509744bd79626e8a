//! G.711 encoder and decoder on the 48 kHz side: resampling, companding and
//! Appendix I concealment.

use super::g711::{linear_to_alaw, linear_to_ulaw, to_i16, ALAW_DECODE, ULAW_DECODE};
use super::{CodecError, MAX_PTIME_MS};
use crate::cn::CnParams;
use crate::plc::{G711Plc, FRAME as PLC_FRAME};
use crate::resample::{Downsampler, Upsampler, RATIO};

/// 8 kHz samples in the longest packet.
const MAX_NARROW: usize = MAX_PTIME_MS as usize * 8;

pub(super) struct G711Encoder {
    alaw: bool,
    down: Downsampler,
    /// One packet at 8 kHz: the packet time's, not the longest's, since an
    /// encoder has one packet time for life.
    narrow: Box<[f32]>,
}

impl G711Encoder {
    pub(super) fn new(alaw: bool, ptime_ms: u32) -> Result<Self, CodecError> {
        if ptime_ms == 0 || !ptime_ms.is_multiple_of(10) || ptime_ms > MAX_PTIME_MS {
            return Err(CodecError::UnsupportedPtime {
                codec: if alaw { "PCMA" } else { "PCMU" },
                ptime_ms,
            });
        }
        Ok(Self {
            alaw,
            down: Downsampler::new(),
            narrow: vec![0.0; ptime_ms as usize * 8].into_boxed_slice(),
        })
    }

    /// `pcm` length was checked by the caller against the ptime.
    pub(super) fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, CodecError> {
        let n = self.down.output_len(pcm.len());
        check_payload(n, out.len())?;
        let n =
            self.down
                .process(pcm, &mut self.narrow)
                .map_err(|_| CodecError::BufferTooSmall {
                    needed: n,
                    got: self.narrow.len(),
                })?;
        self.compand(n, out);
        Ok(n)
    }

    /// Narrows one 10 ms frame (480 samples, checked by the caller) into the
    /// packet being built, whose first `at` 48 kHz samples are in: the
    /// packet then keeps only its 8 kHz samples, not the 48 kHz ones.
    pub(super) fn push_frame(&mut self, frame: &[f32], at: usize) -> Result<(), CodecError> {
        let len = self.narrow.len();
        let start = (at / RATIO).min(len);
        let room = len - start;
        self.down
            .process(frame, &mut self.narrow[start..])
            .map(|_| ())
            .map_err(|_| CodecError::BufferTooSmall {
                needed: frame.len() / RATIO,
                got: room,
            })
    }

    /// Writes the packet of `samples` (48 kHz) built by
    /// [`push_frame`](Self::push_frame) into `out`.
    pub(super) fn finish(&mut self, samples: usize, out: &mut [u8]) -> Result<usize, CodecError> {
        let n = (samples / RATIO).min(self.narrow.len());
        check_payload(n, out.len())?;
        self.compand(n, out);
        Ok(n)
    }

    fn compand(&self, n: usize, out: &mut [u8]) {
        let encode = if self.alaw {
            linear_to_alaw
        } else {
            linear_to_ulaw
        };
        for (o, &s) in out.iter_mut().zip(&self.narrow[..n]) {
            *o = encode(to_i16(s));
        }
    }
}

fn check_payload(needed: usize, got: usize) -> Result<(), CodecError> {
    if got < needed {
        return Err(CodecError::BufferTooSmall { needed, got });
    }
    Ok(())
}

pub(super) struct G711Decoder {
    table: &'static [i16; 256],
    plc: G711Plc,
    up: Upsampler,
}

impl G711Decoder {
    pub(super) fn new(alaw: bool) -> Self {
        Self {
            table: if alaw { &ALAW_DECODE } else { &ULAW_DECODE },
            plc: G711Plc::new(),
            up: Upsampler::new(),
        }
    }

    pub(super) fn reset(&mut self) {
        self.plc.reset();
        self.up.reset();
    }

    pub(super) fn decode(&mut self, payload: &[u8], out: &mut [f32]) -> Result<usize, CodecError> {
        let len = payload.len();
        // Appendix I works on 10 ms blocks; every real-world ptime is one.
        if len == 0 || !len.is_multiple_of(PLC_FRAME) || len > MAX_NARROW {
            return Err(CodecError::G711PayloadLength { len });
        }
        check_out(len * RATIO, out.len())?;
        for (bytes, wide) in payload
            .chunks_exact(PLC_FRAME)
            .zip(out.chunks_exact_mut(PLC_FRAME * RATIO))
        {
            let mut block = [0.0f32; PLC_FRAME];
            for (s, &b) in block.iter_mut().zip(bytes) {
                *s = f32::from(self.table[usize::from(b)]);
            }
            self.plc.good_frame(&mut block);
            self.upsample(&block, wide)?;
        }
        Ok(len * RATIO)
    }

    /// `out.len()` was checked to be whole 10 ms frames. While the peer's
    /// comfort noise plays (a CN packet and no speech since), a missing
    /// packet is its discontinuous transmission, not a loss: more noise.
    pub(super) fn conceal(&mut self, out: &mut [f32]) -> Result<usize, CodecError> {
        for wide in out.chunks_exact_mut(PLC_FRAME * RATIO) {
            let mut block = [0.0f32; PLC_FRAME];
            if self.plc.in_comfort_noise() {
                self.plc.comfort_noise(&mut block);
            } else {
                self.plc.conceal(&mut block);
            }
            self.upsample(&block, wide)?;
        }
        Ok(out.len())
    }

    /// An RFC 3389 CN payload: sets the comfort noise and fills `out`
    /// (whole 10 ms frames, checked by the caller) with it.
    pub(super) fn comfort_noise(
        &mut self,
        payload: &[u8],
        out: &mut [f32],
    ) -> Result<usize, CodecError> {
        let params = CnParams::parse(payload)?;
        self.plc.set_comfort_noise(&params);
        self.conceal(out)
    }

    pub(super) fn in_comfort_noise(&self) -> bool {
        self.plc.in_comfort_noise()
    }

    /// Conceals a lost packet (`out`, whole 10 ms frames) that `next_payload`
    /// follows, bridging into it (see [`G711Plc::conceal_before`]). A payload
    /// that is not whole frames is ignored (plain concealment).
    pub(super) fn conceal_before(
        &mut self,
        next_payload: &[u8],
        out: &mut [f32],
    ) -> Result<usize, CodecError> {
        let len = next_payload.len().min(MAX_NARROW);
        if len == 0 || !len.is_multiple_of(PLC_FRAME) || self.plc.in_comfort_noise() {
            return self.conceal(out);
        }
        let mut next = [0.0f32; MAX_NARROW];
        for (s, &b) in next.iter_mut().zip(&next_payload[..len]) {
            *s = f32::from(self.table[usize::from(b)]);
        }
        let frames = out.len() / (PLC_FRAME * RATIO);
        for (index, wide) in out.chunks_exact_mut(PLC_FRAME * RATIO).enumerate() {
            let mut block = [0.0f32; PLC_FRAME];
            self.plc
                .conceal_before(&mut block, &next[..len], index, frames);
            self.upsample(&block, wide)?;
        }
        Ok(out.len())
    }

    fn upsample(&mut self, block: &[f32], wide: &mut [f32]) -> Result<(), CodecError> {
        self.up
            .process(block, wide)
            .map_err(|_| CodecError::BufferTooSmall {
                needed: block.len() * RATIO,
                got: wide.len(),
            })?;
        Ok(())
    }
}

fn check_out(needed: usize, got: usize) -> Result<(), CodecError> {
    if got < needed {
        return Err(CodecError::BufferTooSmall { needed, got });
    }
    Ok(())
}

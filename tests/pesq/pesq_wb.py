#!/usr/bin/env python3
"""PESQ-WB (ITU-T P.862.2) of a call recording against the speech it carries.

Usage: pesq_wb.py REFERENCE.wav RECORDING.wav

The recording is longer than the reference and starts at an unknown lag (call
set-up, jitter buffer): the lag is found by cross-correlation, the recording is
cut to the reference's length from there, both are resampled to 16 kHz (what
P.862.2 is defined on) and scored with the `pesq` package. Prints
`pesq_wb=<score> lag_ms=<lag>` on one line.
"""

import sys

import numpy as np
from pesq import pesq
from scipy.io import wavfile
from scipy.signal import fftconvolve, resample_poly

RATE = 16_000


def read_16k(path):
    rate, data = wavfile.read(path)
    x = data.astype(np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if np.issubdtype(data.dtype, np.integer):
        x /= float(np.iinfo(data.dtype).max) + 1.0
    if rate != RATE:
        g = np.gcd(rate, RATE)
        x = resample_poly(x, RATE // g, rate // g)
    return x


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ref = read_16k(sys.argv[1])
    rec = read_16k(sys.argv[2])
    if len(rec) < len(ref):
        rec = np.concatenate([rec, np.zeros(len(ref) - len(rec))])
    corr = fftconvolve(rec, ref[::-1], mode="valid")
    lag = int(np.argmax(corr))
    # PESQ aligns each utterance itself; a little slack either side lets it
    # follow a jitter buffer that moved the audio by a few tens of ms.
    pad = RATE // 10
    start = max(lag - pad, 0)
    deg = rec[start : lag + len(ref) + pad]
    ref_padded = np.concatenate([np.zeros(lag - start), ref, np.zeros(pad)])
    n = min(len(deg), len(ref_padded))
    score = pesq(RATE, ref_padded[:n], deg[:n], "wb")
    print(f"pesq_wb={score:.3f} lag_ms={lag * 1000 / RATE:.1f}")


if __name__ == "__main__":
    main()

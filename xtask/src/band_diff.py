"""1/3-octave mid/side power difference of two audio files, written for the tests with numpy
alone (no Lathe code): Welch averages (Hann, 8192 points, 50 % overlap) of mid (L+R)/2 and
side (L-R)/2, summed per band (base-10 centres 10^(n/10) kHz, edges x 10^(+-1/20)).
Prints JSON: {"bands_hz": [...], "mid_db": [...], "side_db": [...]}, each A minus B in dB,
for the bands 40 Hz - 16 kHz.  Usage: band_diff.py A B"""
import json
import subprocess
import sys

import numpy as np


def load(path):
    rate = int(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout.strip())
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "f32le",
                          "-ac", "2", "-"], check=True, capture_output=True).stdout
    x = np.frombuffer(raw, dtype="<f4").astype(np.float64).reshape(-1, 2)
    return rate, x


def welch(signal, n=8192):
    w = np.hanning(n)
    hop = n // 2
    total = np.zeros(n // 2 + 1)
    for start in range(0, len(signal) - n + 1, hop):
        total += np.abs(np.fft.rfft(signal[start:start + n] * w)) ** 2
    return total


def bands(rate, x, n=8192):
    mid, side = 0.5 * (x[:, 0] + x[:, 1]), 0.5 * (x[:, 0] - x[:, 1])
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    out = {"mid": [], "side": [], "hz": []}
    for k in range(-14, 13):  # 40 Hz ... 16 kHz
        c = 1000.0 * 10 ** (k / 10)
        sel = (freqs >= c / 10 ** 0.05) & (freqs < c * 10 ** 0.05)
        out["hz"].append(c)
        for name, sig in (("mid", mid), ("side", side)):
            out[name].append(float(welch_cache[name][sel].sum()))
    return out


a_rate, a = load(sys.argv[1])
b_rate, b = load(sys.argv[2])
result = {}
spectra = []
for rate, x in ((a_rate, a), (b_rate, b)):
    mid, side = 0.5 * (x[:, 0] + x[:, 1]), 0.5 * (x[:, 0] - x[:, 1])
    welch_cache = {"mid": welch(mid) / max(1, len(x)), "side": welch(side) / max(1, len(x))}
    spectra.append(bands(rate, x))
result["bands_hz"] = spectra[0]["hz"]
for name in ("mid", "side"):
    result[name + "_db"] = [
        10 * np.log10(max(pa, 1e-30) / max(pb, 1e-30))
        for pa, pb in zip(spectra[0][name], spectra[1][name])
    ]
print(json.dumps(result))

"""Ideal true peak of an audio file: band-limited reconstruction by FFT zero-padding (16x),
in overlapping 65536-sample segments with 512 samples trimmed at each segment edge.
An oracle for `lathe deliver` tests that shares no code with Lathe or libebur128.
Usage: ideal_true_peak.py FILE  ->  prints the highest channel's true peak in dBTP."""
import subprocess
import sys

import numpy as np

SEG = 65536
EDGE = 512
UP = 16


def read(path):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=channels", "-of", "csv=p=0", path],
        capture_output=True, text=True, check=True)
    channels = int(probe.stdout.strip())
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "f64le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float64).reshape(-1, channels)


def main():
    x = read(sys.argv[1])
    best = 0.0
    for c in range(x.shape[1]):
        start = 0
        while start < len(x):
            y = x[start:start + SEG, c]
            n = len(y)
            up = np.fft.irfft(np.fft.rfft(y), n * UP) * UP
            lo = 0 if start == 0 else EDGE * UP
            hi = n * UP if start + SEG >= len(x) else (n - EDGE) * UP
            best = max(best, float(np.max(np.abs(up[lo:hi]))))
            start += SEG - 2 * EDGE
    print("%.4f" % (20 * np.log10(best) if best > 0 else -200.0))


main()

"""Opens a plugin's editor in pedalboard under an X display, takes a screenshot of the screen and
checks that the window is not blank and that its text rendered (OCR must find the plugin name).

Usage: python editor_screenshot.py <plugin.vst3> <out.png> "<Plugin Name>" [param=value ...] [--expect WORD ...]
                                  [--audio FILE]
Parameters are set by pedalboard name before the editor opens; each --expect word must be
found by OCR too.
"""

import os
import subprocess
import sys
import time

import numpy as np
import pedalboard
from editor_host import show_editor_with_audio

path, png, name = sys.argv[1], sys.argv[2], sys.argv[3]
plugin = pedalboard.load_plugin(path)
expected = [name.split()[-1]]
audio_file = None
rest = sys.argv[4:]
while rest:
    arg = rest.pop(0)
    if arg == "--expect":
        expected.append(rest.pop(0))
    elif arg == "--audio":
        audio_file = rest.pop(0)
    else:
        key, value = arg.split("=", 1)
        if value in ("true", "false"):
            setattr(plugin, key, value == "true")
        else:
            try:
                setattr(plugin, key, float(value))
            except ValueError:
                setattr(plugin, key, value)
SR = 48_000
# Programme-like stereo: two tones under a slow envelope plus a little noise, and one click.
t = np.arange(SR * 12) / SR
env = 0.5 + 0.4 * np.sin(2 * np.pi * 0.3 * t)
rng = np.random.default_rng(1)
left = env * (0.35 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size))
right = env * (0.30 * np.sin(2 * np.pi * 330 * t + 0.5) + 0.05 * rng.standard_normal(t.size))
left[SR * 2] += 0.6
audio = np.stack([left, right]).astype(np.float32)
if audio_file:
    # A music file instead (decoded by ffmpeg to stereo at SR).
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", audio_file, "-f", "f32le", "-ac", "2",
                          "-ar", str(SR), "-"], check=True, capture_output=True).stdout
    audio = np.ascontiguousarray(np.frombuffer(raw, dtype="<f4").reshape(-1, 2).T)


def shoot():
    time.sleep(6.0)
    subprocess.run(["import", "-window", "root", png], check=True)


error = show_editor_with_audio(plugin, audio, SR, shoot)
if error:
    sys.exit(f"screenshot failed: {error}")

colours = int(subprocess.run(["identify", "-format", "%k", png], capture_output=True, text=True, check=True).stdout)
text = subprocess.run(["tesseract", png, "stdout"], capture_output=True, text=True).stdout
# Tesseract reads light text on dark, partly lit buttons poorly (it missed "Compressor" in the
# module row of a clean-clone CI run while the screenshot showed it): read a grey, inverted,
# twice-enlarged copy as well and search both readings.
ocr_png = png + ".ocr.png"
subprocess.run(["convert", png, "-colorspace", "Gray", "-negate", "-resize", "200%", ocr_png], check=True)
text += "\n" + subprocess.run(["tesseract", ocr_png, "stdout"], capture_output=True, text=True).stdout
os.remove(ocr_png)
words = " ".join(text.split())
print(f"{png}: {colours} colours; OCR: {words[:200]!r}")
if colours < 16:
    sys.exit(f"the editor looks blank ({colours} colours)")
for word in expected:
    if word.lower() not in words.lower():
        sys.exit(f"OCR did not find {word!r}: text did not render")

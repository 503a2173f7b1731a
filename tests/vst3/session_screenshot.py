"""Opens Lathe Meter's editor in pedalboard under an X display, clicks its "Session" tab (found
by OCR, clicked with xdotool) and takes a screenshot. Other Lathe Meter instances (started by the
caller in another host process, same LATHE_SESSION_GROUP) must show up in the table.

Usage: python session_screenshot.py <Lathe Meter.vst3> <out.png> <expected row name>
"""

import subprocess
import sys
import time

import numpy as np
import pedalboard
from editor_host import show_editor_with_audio

path, png, expected = sys.argv[1], sys.argv[2], sys.argv[3]
plugin = pedalboard.load_plugin(path)
SR = 48_000
t = np.arange(SR * 4) / SR
tone = (0.25 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
audio = np.stack([tone, tone])


def ocr_words(image):
    """Words with their centres, from tesseract's TSV output."""
    tsv = subprocess.run(["tesseract", image, "stdout", "tsv"], capture_output=True, text=True).stdout
    words = []
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) == 12 and cols[11].strip():
            left, top, width, height = map(int, cols[6:10])
            words.append((cols[11].strip(), left + width // 2, top + height // 2))
    return words


def shoot():
    time.sleep(4.0)
    first = png + ".before.png"
    subprocess.run(["import", "-window", "root", first], check=True)
    words = ocr_words(first)
    # OCR sometimes glues the tab's frame to the word ("[Session"): match loosely.
    tabs = [(x, y) for w, x, y in words if "session" in w.lower()]
    if not tabs:
        raise RuntimeError(f"no 'Session' tab found on screen; OCR: {[w for w, _, _ in words]}")
    x, y = tabs[0]
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True)
    time.sleep(2.0)
    subprocess.run(["import", "-window", "root", png], check=True)


error = show_editor_with_audio(plugin, audio, SR, shoot)
if error:
    sys.exit(f"session screenshot failed: {error}")

text = " ".join(w for w, _, _ in ocr_words(png))
print(f"{png}: OCR: {text[:300]!r}")
squashed = text.lower().replace(" ", "")
for needle in ["meters in", expected, "Reset all", "Export"]:
    if needle.lower().replace(" ", "") not in squashed:
        sys.exit(f"OCR did not find {needle!r} on the Session tab")

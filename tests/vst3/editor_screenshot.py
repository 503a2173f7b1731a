"""Opens a plugin's editor in pedalboard under an X display, takes a screenshot of the screen and
checks that the window is not blank and that its text rendered (OCR must find the plugin name).

Usage: python editor_screenshot.py <plugin.vst3> <out.png> "<Plugin Name>"
"""

import subprocess
import sys
import threading
import time

import numpy as np
import pedalboard

path, png, name = sys.argv[1], sys.argv[2], sys.argv[3]
plugin = pedalboard.load_plugin(path)
# Feed some audio first so the meters have something to show.
t = np.arange(48_000 * 2) / 48_000
tone = (0.4 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
plugin(np.stack([tone, 0.7 * tone]), 48_000)

close = threading.Event()
errors = []


def shoot():
    try:
        time.sleep(4.0)
        subprocess.run(["import", "-window", "root", png], check=True)
    except Exception as e:  # noqa: BLE001 - reported below
        errors.append(e)
    finally:
        close.set()


threading.Thread(target=shoot, daemon=True).start()
plugin.show_editor(close)
if errors:
    sys.exit(f"screenshot failed: {errors[0]}")

colours = int(subprocess.run(["identify", "-format", "%k", png], capture_output=True, text=True, check=True).stdout)
text = subprocess.run(["tesseract", png, "stdout"], capture_output=True, text=True).stdout
words = " ".join(text.split())
print(f"{png}: {colours} colours; OCR: {words[:200]!r}")
if colours < 16:
    sys.exit(f"the editor looks blank ({colours} colours)")
if name.split()[-1].lower() not in words.lower():
    sys.exit(f"OCR did not find {name!r}: text did not render")

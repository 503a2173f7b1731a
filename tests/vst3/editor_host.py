"""Shared by the editor screenshot scripts: open a plugin's editor in pedalboard while audio
plays through it in real time, and run a scripted action (screenshots, clicks) meanwhile."""

import threading
import time


def show_editor_with_audio(plugin, audio, sample_rate, action):
    """Opens `plugin`'s editor, loops `audio` (channels × frames) through it in real time, runs
    `action()` on another thread and closes the editor when it returns. Returns the first error
    raised by the playback or the action, or None."""
    close = threading.Event()
    errors = []

    def feed():
        try:
            block = sample_rate // 20
            pos = 0
            while not close.is_set():
                plugin.process(audio[:, pos : pos + block], sample_rate, buffer_size=512, reset=False)
                pos = (pos + block) % (audio.shape[1] - block)
                time.sleep(block / sample_rate)
        except Exception as e:  # noqa: BLE001 - returned to the caller
            errors.append(e)

    def act():
        try:
            action()
        except Exception as e:  # noqa: BLE001 - returned to the caller
            errors.append(e)
        finally:
            close.set()

    threading.Thread(target=feed, daemon=True).start()
    threading.Thread(target=act, daemon=True).start()
    plugin.show_editor(close)
    return errors[0] if errors else None

#!/usr/bin/env python3
"""An independent reader for the DDP 2.00 filesets `lathe album` writes.

Written from the published layouts (ddpLib's reader, real filesets, the DVD CMF map packet
table; see cli/src/album/ddp.rs for the list) and from Red Book arithmetic, sharing no code with
Lathe. It builds the bytes every DDP field should hold from the album *plan* given on the
command line (titles, ISRCs, UPC, pauses, the length of each track's audio in samples) and
compares them with what was written, checks CD-TEXT with Python's own CRC (binascii.crc_hqx),
the checksums with hashlib, and the image's audio against the cd/ WAV files (Python's wave
module), the pauses and the end of each last frame for digital silence, and the fades.

usage: ddp_reader.py PLAN.json DDP_DIR CD_DIR
  PLAN.json: {"title", "artist", "upc", "tracks": [{"title", "artist", "isrc", "gap_s",
              "samples", "fade_in_s", "fade_out_s"}]}
prints one JSON line with what it found; exit 0 when everything matches, 1 otherwise.
"""

import binascii
import hashlib
import json
import math
import os
import sys
import wave

FRAME = 588  # stereo samples per CD sector
SECTOR = 2352


def fail(problems, text):
    problems.append(text)


def field(buf, at, n):
    return buf[at:at + n].decode("ascii", "replace")


def expected_layout(plan):
    """Red Book placement from the plan: (pause, start, frames) per track, lead-out."""
    at = 0
    rows = []
    for t in plan["tracks"]:
        gap = int(round(t["gap_s"] * 75 + 1e-9))
        frames = -(-t["samples"] // FRAME)
        rows.append((at, at + gap, frames))
        at = at + gap + frames
    return rows, at


def msf(frames):
    return "%02d%02d%02d" % (frames // 4500, frames // 75 % 60, frames % 75)


def pq_bytes(plan, rows, lead_out):
    def entry(track, index, frames, isrc="", upc=""):
        e = b"VVVS" + track.encode() + ("%02d" % index).encode() + b"00" + msf(frames).encode()
        e += b"01" + b"  " + isrc.ljust(12).encode() + upc.ljust(13).encode() + b" " * 19
        assert len(e) == 64
        return e

    upc = plan.get("upc") or ""
    out = entry("00", 0, 0, upc=upc.rjust(13, "0") if upc else "")
    for i, (t, (pause, start, _)) in enumerate(zip(plan["tracks"], rows)):
        isrc = (t.get("isrc") or "").replace("-", "")
        if pause < start:
            out += entry("%02d" % (i + 1), 0, pause, isrc)
        out += entry("%02d" % (i + 1), 1, start, isrc)
    out += entry("AA", 1, lead_out) * 2
    return out


def cdtext_expected(plan):
    """The CD-TEXT packs of one block (ISO 8859-1, English) built from the plan, following
    MMC-3 annex J / libburn's cdtext.txt: text packs per type (album string first, each NUL
    ended, run together 12 bytes per pack; byte 1 the track of the pack's first character,
    byte 3 the characters of that string already given, at most 15), then three size packs."""
    kinds = [
        (0x80, [plan["title"]] + [t["title"] for t in plan["tracks"]]),
        (0x81, [plan.get("artist") or ""] + [t.get("artist") or plan.get("artist") or ""
                                             for t in plan["tracks"]]),
    ]
    packs = []
    counts = [0] * 16
    for kind, strings in kinds:
        stream = []
        for track, text in enumerate(strings):
            for pos, byte in enumerate(text.encode("latin-1") + b"\0"):
                stream.append((byte, track, pos))
        for k in range(0, len(stream), 12):
            chunk = stream[k:k + 12]
            body = bytes([kind, chunk[0][1], len(packs), min(chunk[0][2], 15)])
            body += bytes(b for b, _, _ in chunk).ljust(12, b"\0")
            packs.append(body)
            counts[kind - 0x80] += 1
    counts[15] = 3
    info = bytes([0, 1, len(plan["tracks"]), 0]) + bytes(counts)
    info += bytes([len(packs) + 2] + [0] * 7) + bytes([0x09] + [0] * 7)
    for i in range(3):
        packs.append(bytes([0x8F, i, len(packs), 0]) + info[12 * i:12 * i + 12])
    return b"".join(p + (binascii.crc_hqx(p, 0) ^ 0xFFFF).to_bytes(2, "big") for p in packs)


def cdtext_strings(packs, pack_type):
    data = b"".join(p[4:16] for p in packs if p[0] == pack_type)
    parts = data.split(b"\0")
    while parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("latin-1") for p in parts]


def fade_shape(problems, i, t, region):
    """Fades sample-accurate: the track's CD audio against its source (a 44.1 kHz PCM file
    not re-limited): the gain estimated where no fade acts, then every faded sample within
    2.5 LSB (the TPDF dither) of gain x fade x source, the fade a raised cosine of exactly
    round(seconds x 44100) samples, 0 on the first (fade-in) or last (fade-out) sample."""
    import numpy as np
    src = t.get("file")
    if not src or not (t.get("fade_in_s") or t.get("fade_out_s")):
        return
    # RIFF read by hand: the sources are WAVE_FORMAT_EXTENSIBLE, which `wave` refuses.
    data = open(src, "rb").read()
    at, fmt, raw = 12, None, None
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        body = data[at + 8:at + 8 + size]
        if cid == b"fmt ":
            fmt = (int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little"),
                   int.from_bytes(body[4:8], "little"), int.from_bytes(body[14:16], "little"))
        elif cid == b"data":
            raw = np.frombuffer(body, dtype=np.uint8)
        at += 8 + size + (size & 1)
    if fmt is None or raw is None:
        fail(problems, "track %d: cannot read its source %s" % (i + 1, src))
        return
    tag, channels, rate, bits = fmt
    if rate != 44100 or channels != 2 or tag not in (1, 0xFFFE) or bits not in (16, 24):
        return
    width = bits // 8
    b = raw.reshape(-1, width).astype(np.int64)
    v = sum(b[:, k] << (8 * k) for k in range(width))
    v = np.where(v >= 1 << (8 * width - 1), v - (1 << (8 * width)), v) / float(1 << (8 * width - 1))
    x = v.reshape(-1, 2)
    n = t["samples"]
    cd = np.frombuffer(region[:n * 4], dtype="<i2").reshape(-1, 2).astype(np.float64)
    w = np.ones(n)
    nin = int(round(t.get("fade_in_s", 0) * 44100))
    nout = int(round(t.get("fade_out_s", 0) * 44100))
    if nin:
        w[:nin] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(nin) / nin)
    if nout:
        k = np.arange(nout)
        w[n - 1 - k] *= 0.5 - 0.5 * np.cos(np.pi * k / nout)
    model = x[:n] * w[:, None] * 32768.0
    plain = w == 1.0
    g = np.sum(cd[plain] * model[plain]) / np.sum(model[plain] ** 2)
    faded = ~plain
    err = np.max(np.abs(cd[faded] - g * model[faded]))
    if err > 2.5:
        fail(problems, "track %d: faded samples differ from gain x raised cosine x source by "
             "%.1f LSB" % (i + 1, err))


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 2 and w.getsampwidth() == 2 and w.getframerate() == 44100, path
        return w.readframes(w.getnframes())


def main():
    plan_path, ddp, cd = sys.argv[1:4]
    plan = json.load(open(plan_path))
    problems = []
    files = {n.upper(): os.path.join(ddp, n) for n in os.listdir(ddp)}
    read = lambda name: open(files[name.upper()], "rb").read()

    rows, lead_out = expected_layout(plan)

    # DDPMS: streams found by their map packets.
    ms = read("DDPMS")
    if len(ms) % 128:
        fail(problems, "DDPMS size %d" % len(ms))
    streams = []
    for k in range(0, len(ms) - 127, 128):
        p = ms[k:k + 128]
        if p[:4] != b"VVVM":
            fail(problems, "map packet %d: %r" % (k // 128, p[:4]))
        siz = int(field(p, 71, 3))
        streams.append({
            "dst": field(p, 4, 2), "dsl": int(field(p, 14, 8)), "dss": field(p, 22, 8),
            "sub": field(p, 30, 8).strip(), "cdm": field(p, 38, 2),
            "name": field(p, 74, siz).strip(),
        })
    # Every map packet rebuilt from the documented layout (ddp.rs): audio, PQ, CD-TEXT.
    def packet(dst, dsl, dss, sub, name, audio):
        p = b"VVVM" + dst.encode() + b" " * 8 + ("%08d" % dsl).encode()
        p += (("%08d" % dss).encode() if dss is not None else b" " * 8) + sub.ljust(8).encode()
        p += (b"DA00" + b" " * 4 + b" 150" + b" " * 5 + b"0101") if audio else b" " * 21
        p += b" " * 12 + b"017" + name.ljust(17).encode()
        return p.ljust(128)
    pq_len = 64 * (1 + sum(1 + (rows[i][0] < rows[i][1]) for i in range(len(rows))) + 2)
    text_len = len(cdtext_expected(plan))
    want_ms = packet("D0", lead_out, 0, "", "IMAGE.DAT", True)
    want_ms += packet("S0", pq_len, None, "PQ DESCR", "PQDESCR", False)
    want_ms += packet("S0", text_len, None, "CDTEXT", "CDTEXT.BIN", False)
    if ms != want_ms:
        k = next(i for i in range(min(len(ms), len(want_ms)) + 1)
                 if i >= min(len(ms), len(want_ms)) or ms[i] != want_ms[i])
        fail(problems, "DDPMS differs from the documented layout at byte %d (packet %d, "
             "offset %d): %r" % (k, k // 128, k % 128, ms[k // 128 * 128:k // 128 * 128 + 128]))
    audio = [s for s in streams if s["dst"] == "D0"]
    pq_s = [s for s in streams if s["dst"] == "S0" and s["sub"] == "PQ DESCR"]
    text_s = [s for s in streams if s["dst"] == "S0" and s["sub"] == "CDTEXT"]
    if len(audio) != 1 or len(pq_s) != 1:
        fail(problems, "streams: %r" % streams)
        print(json.dumps({"ok": False, "problems": problems}))
        return 1
    image = read(audio[0]["name"])
    if audio[0]["cdm"] != "DA" or audio[0]["dss"] != "00000000":
        fail(problems, "audio packet CDM/DSS: %r" % audio[0])
    if len(image) != audio[0]["dsl"] * SECTOR or len(image) != lead_out * SECTOR:
        fail(problems, "image %d bytes, map says %d sectors, plan %d sectors"
             % (len(image), audio[0]["dsl"], lead_out))

    # DDPID, built from the plan.
    upc = plan.get("upc") or ""
    want_id = b"DDP 2.00" + upc.rjust(13, "0").encode() if upc else b"DDP 2.00" + b" " * 13
    want_id += b" " * 8 + str(3 * 128).rjust(8).encode() + b" "
    want_id += plan["title"].encode("ascii", "replace").ljust(48)[:48] + b" " + b"CD"
    want_id = want_id.ljust(128)
    if read("DDPID") != want_id:
        fail(problems, "DDPID differs from the documented layout: %r" % read("DDPID"))

    # PQ, built from the plan.
    pq = read(pq_s[0]["name"])
    want_pq = pq_bytes(plan, rows, lead_out)
    if pq != want_pq:
        for k in range(0, max(len(pq), len(want_pq)), 64):
            if pq[k:k + 64] != want_pq[k:k + 64]:
                fail(problems, "PQ entry %d: %r, expected %r" % (k // 64, pq[k:k + 64], want_pq[k:k + 64]))
                break
    if pq_s[0]["dsl"] != len(pq):
        fail(problems, "PQ map length %d for %d bytes" % (pq_s[0]["dsl"], len(pq)))

    # CD-TEXT.
    titles = performers = None
    if text_s:
        t = read(text_s[0]["name"])
        if len(t) % 18 or text_s[0]["dsl"] != len(t):
            fail(problems, "CD-TEXT size %d" % len(t))
        packs = [t[k:k + 18] for k in range(0, len(t) - 17, 18)]
        for i, p in enumerate(packs):
            crc = binascii.crc_hqx(p[:16], 0) ^ 0xFFFF
            if crc != int.from_bytes(p[16:18], "big"):
                fail(problems, "CD-TEXT pack %d: CRC" % i)
            if p[2] != i:
                fail(problems, "CD-TEXT pack %d: sequence %d" % (i, p[2]))
        want_text = cdtext_expected(plan)
        if t != want_text:
            first = next(i for i in range(min(len(t), len(want_text)) + 1)
                         if i >= min(len(t), len(want_text)) or t[i] != want_text[i])
            fail(problems, "CD-TEXT differs from the documented packs at byte %d (pack %d)"
                 % (first, first // 18))
        titles = cdtext_strings(packs, 0x80)
        performers = cdtext_strings(packs, 0x81)
        want_titles = [plan["title"]] + [x["title"] for x in plan["tracks"]]
        want_perf = [plan.get("artist") or ""] + [x.get("artist") or plan.get("artist") or ""
                                                 for x in plan["tracks"]]
        if titles != want_titles or performers != want_perf:
            fail(problems, "CD-TEXT strings %r / %r" % (titles, performers))
        size = b"".join(p[4:16] for p in packs if p[0] == 0x8F)
        counts = {0x80 + k: size[4 + k] for k in range(16) if size[4 + k]}
        want_counts = {0x80: sum(1 for p in packs if p[0] == 0x80),
                       0x81: sum(1 for p in packs if p[0] == 0x81), 0x8F: 3}
        if (size[1], size[2]) != (1, len(plan["tracks"])) or counts != want_counts \
                or size[20] != len(packs) - 1 or size[28] != 0x09:
            fail(problems, "CD-TEXT size information %r" % size)

    # Checksums.
    sums = {}
    for line in read("CHECKSUM.MD5").decode().splitlines():
        h, name = line.split(" ", 1)
        sums[name.lstrip("*")] = h
    for name in files:
        if name == "CHECKSUM.MD5":
            continue
        h = hashlib.md5(open(files[name], "rb").read()).hexdigest()
        if sums.get(name) != h:
            fail(problems, "checksum of %s" % name)

    # Audio: each track equals its CD file; pauses and last-frame padding are digital silence.
    cd_files = sorted(f for f in os.listdir(cd) if f.lower().endswith(".wav"))
    if len(cd_files) != len(plan["tracks"]):
        fail(problems, "%d CD files for %d tracks" % (len(cd_files), len(plan["tracks"])))
    silent_pause = 0
    for i, ((pause, start, frames), t, f) in enumerate(zip(rows, plan["tracks"], cd_files)):
        pcm = read_wav(os.path.join(cd, f))
        region = image[start * SECTOR:(start + frames) * SECTOR]
        if pcm != region:
            fail(problems, "track %d: %s differs from the image" % (i + 1, f))
        if any(image[pause * SECTOR:start * SECTOR]):
            fail(problems, "track %d: its pause is not digital silence" % (i + 1))
        silent_pause += start - pause
        tail = region[t["samples"] * 4:]
        if any(tail):
            fail(problems, "track %d: the rest of its last frame is not silence" % (i + 1))
        fade_shape(problems, i, t, region)
        if t.get("fade_in_s", 0) > 0:
            # The first sample of a faded-in track is within 2 LSB of silence.
            first = region[0:4]
            left = int.from_bytes(first[0:2], "little", signed=True)
            right = int.from_bytes(first[2:4], "little", signed=True)
            if max(abs(left), abs(right)) > 2:
                fail(problems, "track %d: fade-in does not start from silence (%d, %d)"
                     % (i + 1, left, right))
        if t.get("fade_out_s", 0) > 0:
            # The last samples of a faded track are within 2 LSB of silence.
            last = region[(t["samples"] - 1) * 4:t["samples"] * 4]
            left = int.from_bytes(last[0:2], "little", signed=True)
            right = int.from_bytes(last[2:4], "little", signed=True)
            if max(abs(left), abs(right)) > 2:
                fail(problems, "track %d: fade-out does not end in silence (%d, %d)"
                     % (i + 1, left, right))
    print(json.dumps({
        "ok": not problems, "problems": problems, "tracks": len(rows), "lead_out": lead_out,
        "pause_frames": silent_pause, "titles": titles, "performers": performers,
    }))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())

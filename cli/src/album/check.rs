//! `lathe ddp-check DIR [--extract OUT] [--compare-to TRACKS] [--json]`: reads any DDP 2.0
//! fileset (streams found through `DDPMS`, not by name), checks its structure, sizes, Red Book
//! limits, ISRC and UPC, CD-TEXT CRCs and checksums, prints the PQ table, and extracts or
//! compares the tracks. Field layouts: `ddp.rs`.

use super::cdtext;
use super::ddp::{PQ_ENTRY, RECORD, SECTOR_BYTES};
use super::layout::{
    FRAME_SAMPLES, FRAMES_PER_SECOND, MAX_PROGRAM_FRAMES, MAX_TRACKS, MIN_FIRST_PREGAP_FRAMES,
    MIN_TRACK_FRAMES, msf_text,
};
use crate::deliver::meta::{check_upc, normalise_isrc};
use anyhow::{Context, Result, bail};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct DdpCheckArgs {
    /// The DDP fileset's folder.
    pub dir: PathBuf,
    /// Write each track as a 16-bit WAV into this folder (index 01 to the next track's pause).
    #[arg(long, value_name = "OUT")]
    pub extract: Option<PathBuf>,
    /// Compare each track bit for bit with the WAV files of this folder (in name order).
    #[arg(long, value_name = "TRACKS")]
    pub compare_to: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A track as the PQ stream places it (CD frames from the start of the image).
#[derive(Debug, Clone)]
pub struct TrackRow {
    pub number: usize,
    pub pause: Option<usize>,
    pub start: usize,
    /// Next track's first index, or the lead-out.
    pub end: usize,
    pub isrc: Option<String>,
    pub title: Option<String>,
    pub performer: Option<String>,
}

/// What a fileset holds and what is wrong with it.
pub struct Checked {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub upc: Option<String>,
    pub tracks: Vec<TrackRow>,
    pub lead_out: usize,
    pub album_title: Option<String>,
    /// The audio image (all `D0` streams in sector order).
    pub audio: Vec<u8>,
}

/// A field as text, trimmed.
fn field(rec: &[u8], at: usize, len: usize) -> String {
    String::from_utf8_lossy(&rec[at..at + len])
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string()
}

/// A number field (leading zeros or spaces); `None` when blank, `Err` when not a number.
fn number(rec: &[u8], at: usize, len: usize) -> Result<Option<usize>, String> {
    let f = field(rec, at, len);
    if f.is_empty() {
        return Ok(None);
    }
    f.parse()
        .map(Some)
        .map_err(|_| format!("{f:?} is not a number"))
}

/// Finds a file of the fileset by name, ignoring case (filesets move between file systems).
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.is_file() {
        return Some(exact);
    }
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        (n.eq_ignore_ascii_case(name) && e.path().is_file()).then(|| e.path())
    })
}

struct Stream {
    dst: String,
    dsl: usize,
    dss: Option<usize>,
    sub: String,
    name: String,
}

/// Reads and checks a fileset. `Err` only when the folder cannot be read at all; everything a
/// fileset can get wrong is in `errors`.
pub fn check_dir(dir: &Path) -> Result<Checked> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let mut c = Checked {
        errors: Vec::new(),
        warnings: Vec::new(),
        upc: None,
        tracks: Vec::new(),
        lead_out: 0,
        album_title: None,
        audio: Vec::new(),
    };
    let Some(id_path) = find(dir, "DDPID") else {
        c.errors.push("no DDPID file: not a DDP fileset".into());
        return Ok(c);
    };
    let id = std::fs::read(&id_path)?;
    if id.len() < RECORD {
        c.errors
            .push(format!("DDPID is {} bytes, not {RECORD}", id.len()));
        return Ok(c);
    }
    let level = field(&id, 0, 8);
    if !level.starts_with("DDP 2.") {
        c.errors
            .push(format!("DDPID level {level:?}: not DDP 2.0x"));
    }
    let id_upc = field(&id, 8, 13);
    if !id_upc.is_empty() {
        match check_upc(&id_upc) {
            Ok(u) => c.upc = Some(u),
            Err(e) => c.errors.push(format!("DDPID UPC/EAN: {e:#}")),
        }
    }
    if field(&id, 87, 2) != "CD" {
        c.warnings.push(format!(
            "DDPID type {:?}, expected \"CD\"",
            field(&id, 87, 2)
        ));
    }
    let Some(ms_path) = find(dir, "DDPMS") else {
        c.errors.push("no DDPMS file (map stream)".into());
        return Ok(c);
    };
    let ms = std::fs::read(&ms_path)?;
    match number(&id, 29, 8) {
        Ok(Some(msl)) if msl != ms.len() => c.errors.push(format!(
            "DDPID gives the map stream as {msl} bytes; DDPMS is {}",
            ms.len()
        )),
        Err(e) => c.errors.push(format!("DDPID map stream length: {e}")),
        _ => {}
    }
    if ms.len() % RECORD != 0 || ms.is_empty() {
        c.errors.push(format!(
            "DDPMS is {} bytes, not a whole number of {RECORD}-byte packets",
            ms.len()
        ));
        return Ok(c);
    }
    let mut streams = Vec::new();
    for (i, p) in ms.chunks(RECORD).enumerate() {
        if &p[0..4] != b"VVVM" {
            c.errors
                .push(format!("DDPMS packet {}: does not start with VVVM", i + 1));
            continue;
        }
        let dsl = match number(p, 14, 8) {
            Ok(Some(v)) => v,
            Ok(None) => {
                c.errors
                    .push(format!("DDPMS packet {}: no stream length", i + 1));
                continue;
            }
            Err(e) => {
                c.errors
                    .push(format!("DDPMS packet {}: stream length {e}", i + 1));
                continue;
            }
        };
        let dss = number(p, 22, 8).unwrap_or_else(|e| {
            c.errors.push(format!("DDPMS packet {}: start {e}", i + 1));
            None
        });
        let siz = number(p, 71, 3).ok().flatten().unwrap_or(17).min(17);
        let s = Stream {
            dst: field(p, 4, 2),
            dsl,
            dss,
            sub: field(p, 30, 8),
            name: field(p, 74, siz),
        };
        if s.dst == "D0" && field(p, 38, 2) != "DA" {
            c.errors.push(format!(
                "DDPMS packet {} ({}): CD mode {:?}, an audio CD needs \"DA\"",
                i + 1,
                s.name,
                field(p, 38, 2)
            ));
        }
        streams.push(s);
    }

    // Audio: every D0 stream in sector order, contiguous.
    let mut audio_streams: Vec<&Stream> = streams.iter().filter(|s| s.dst == "D0").collect();
    audio_streams.sort_by_key(|s| s.dss.unwrap_or(0));
    if audio_streams.is_empty() {
        c.errors.push("DDPMS names no audio (D0) stream".into());
    }
    let mut sectors = 0usize;
    for s in &audio_streams {
        if s.dss.unwrap_or(0) != sectors {
            c.errors.push(format!(
                "audio stream {} starts at sector {}, the previous ends at {sectors}",
                s.name,
                s.dss.unwrap_or(0)
            ));
        }
        let Some(path) = find(dir, &s.name) else {
            c.errors.push(format!("audio stream {} is missing", s.name));
            continue;
        };
        let bytes = std::fs::read(&path)?;
        if bytes.len() != s.dsl * SECTOR_BYTES {
            c.errors.push(format!(
                "audio stream {} is {} bytes; DDPMS gives {} sectors ({} bytes){}",
                s.name,
                bytes.len(),
                s.dsl,
                s.dsl * SECTOR_BYTES,
                if bytes.len() % SECTOR_BYTES != 0 {
                    " and it is not a whole number of 2352-byte sectors"
                } else {
                    ""
                }
            ));
        }
        c.audio.extend_from_slice(&bytes);
        sectors = s.dss.unwrap_or(0) + s.dsl;
    }
    if !c.audio.len().is_multiple_of(SECTOR_BYTES) {
        c.errors.push(format!(
            "the audio image is {} bytes, not a whole number of 2352-byte sectors",
            c.audio.len()
        ));
    }
    let image_sectors = c.audio.len() / SECTOR_BYTES;

    // CD-TEXT.
    let mut text = None;
    if let Some(s) = streams
        .iter()
        .find(|s| s.dst == "S0" && s.sub.starts_with("CDTEXT"))
    {
        match find(dir, &s.name) {
            None => c
                .errors
                .push(format!("CD-TEXT stream {} is missing", s.name)),
            Some(path) => {
                let mut bytes = std::fs::read(&path)?;
                if bytes.len() != s.dsl {
                    c.errors.push(format!(
                        "CD-TEXT stream {} is {} bytes; DDPMS gives {}",
                        s.name,
                        bytes.len(),
                        s.dsl
                    ));
                }
                // A cdrecord-style 4-byte header (length, 0, 0) is tolerated.
                if bytes.len() % cdtext::PACK_BYTES == 4 {
                    bytes.drain(..4);
                }
                match cdtext::parse(&bytes) {
                    Ok(t) => {
                        for seq in &t.bad_crc {
                            c.errors
                                .push(format!("CD-TEXT pack {seq}: CRC does not match"));
                        }
                        text = Some(t);
                    }
                    Err(e) => c.errors.push(format!("CD-TEXT: {e:#}")),
                }
            }
        }
    }

    // PQ.
    let Some(pq_stream) = streams
        .iter()
        .find(|s| s.dst == "S0" && s.sub == "PQ DESCR")
    else {
        c.errors.push("DDPMS names no PQ descriptor stream".into());
        return Ok(c);
    };
    let Some(pq_path) = find(dir, &pq_stream.name) else {
        c.errors
            .push(format!("PQ stream {} is missing", pq_stream.name));
        return Ok(c);
    };
    let pq = std::fs::read(&pq_path)?;
    if pq.len() != pq_stream.dsl {
        c.errors.push(format!(
            "PQ stream is {} bytes; DDPMS gives {}",
            pq.len(),
            pq_stream.dsl
        ));
    }
    if pq.len() % PQ_ENTRY != 0 {
        c.errors.push(format!(
            "PQ stream is {} bytes, not a whole number of {PQ_ENTRY}-byte entries",
            pq.len()
        ));
    }
    check_pq(&mut c, &pq, image_sectors);
    if let Some(t) = &text {
        c.album_title = t.titles.first().cloned();
        for row in &mut c.tracks {
            row.title = t.titles.get(row.number).cloned();
            row.performer = t.performers.get(row.number).cloned();
        }
        if !t.titles.is_empty() && t.titles.len() != c.tracks.len() + 1 {
            c.warnings.push(format!(
                "CD-TEXT has {} titles for {} tracks and the album",
                t.titles.len(),
                c.tracks.len()
            ));
        }
    }
    let covered: Vec<String> = streams.iter().map(|s| s.name.clone()).collect();
    check_sums(&mut c, dir, &covered)?;
    Ok(c)
}

/// Parses the PQ entries into tracks and checks them against Red Book and the image.
fn check_pq(c: &mut Checked, pq: &[u8], image_sectors: usize) {
    struct Entry {
        track: String,
        index: usize,
        at: usize,
        isrc: String,
    }
    let mut entries = Vec::new();
    for (i, e) in pq.chunks_exact(PQ_ENTRY).enumerate() {
        let n = i + 1;
        if &e[0..4] != b"VVVS" {
            c.errors
                .push(format!("PQ entry {n}: does not start with VVVS"));
            continue;
        }
        let track = field(e, 4, 2);
        let parts: Vec<Result<Option<usize>, String>> =
            [6, 10, 12, 14].iter().map(|&at| number(e, at, 2)).collect();
        let (Ok(Some(index)), Ok(Some(m)), Ok(Some(s)), Ok(Some(f))) =
            (&parts[0], &parts[1], &parts[2], &parts[3])
        else {
            c.errors.push(format!(
                "PQ entry {n} (track {track}): index or time is not a number"
            ));
            continue;
        };
        if *s >= 60 || *f >= FRAMES_PER_SECOND {
            c.errors.push(format!(
                "PQ entry {n} (track {track}): time {m:02}:{s:02}:{f:02} is not a CD time"
            ));
            continue;
        }
        let cb1 = field(e, 16, 2);
        if let Some(control) = cb1.chars().next().and_then(|ch| ch.to_digit(16))
            && control & 1 != 0
        {
            c.warnings.push(format!(
                "PQ entry {n} (track {track}): pre-emphasis flag set"
            ));
        }
        let upc = field(e, 32, 13);
        if !upc.is_empty() {
            match check_upc(&upc) {
                Ok(u) => {
                    if let Some(id_upc) = &c.upc
                        && super::ddp::ean13(id_upc) != super::ddp::ean13(&u)
                    {
                        c.errors
                            .push(format!("PQ UPC/EAN {u} differs from DDPID's {id_upc}"));
                    }
                    c.upc.get_or_insert(u);
                }
                Err(e) => c.errors.push(format!("PQ entry {n}: UPC/EAN: {e:#}")),
            }
        }
        entries.push(Entry {
            track,
            index: *index,
            at: (m * 60 + s) * FRAMES_PER_SECOND + f,
            isrc: field(e, 20, 12),
        });
    }
    if let Some(w) = entries.windows(2).find(|w| w[1].at < w[0].at) {
        c.errors.push(format!(
            "PQ times go backwards: track {} index {:02} at {} after {}",
            w[1].track,
            w[1].index,
            msf_text(w[1].at),
            msf_text(w[0].at)
        ));
    }
    let lead_outs: Vec<usize> = entries
        .iter()
        .filter(|e| e.track == "AA")
        .map(|e| e.at)
        .collect();
    if lead_outs.windows(2).any(|w| w[0] != w[1]) {
        c.errors.push(format!(
            "the PQ stream's lead-out entries disagree: {lead_outs:?}"
        ));
    }
    let lead_out = lead_outs.first().copied();
    let mut tracks: Vec<TrackRow> = Vec::new();
    let mut isrcs: Vec<(String, usize)> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.track != "AA" && e.track != "00")
    {
        let Ok(n) = e.track.parse::<usize>() else {
            c.errors
                .push(format!("PQ track {:?} is not a track number", e.track));
            continue;
        };
        if !e.isrc.is_empty() {
            match normalise_isrc(&e.isrc) {
                Ok(i) if i == e.isrc => {}
                _ => c
                    .errors
                    .push(format!("track {n}: ISRC {:?} is not a valid ISRC", e.isrc)),
            }
        }
        let expected = tracks.last().map_or(1, |t| t.number + 1);
        match tracks.last_mut() {
            Some(t) if t.number == n => {
                if e.index == 1 && t.pause.is_some() && t.start == usize::MAX {
                    t.start = e.at;
                } else if e.index > 1 {
                    // Further indexes inside a track are allowed; they do not move the track.
                } else {
                    c.errors
                        .push(format!("track {n}: index {:02} out of order", e.index));
                }
                if !e.isrc.is_empty() && t.isrc.as_deref() != Some(e.isrc.as_str()) {
                    if t.isrc.is_none() {
                        t.isrc = Some(e.isrc.clone());
                    } else {
                        c.errors
                            .push(format!("track {n}: entries give different ISRCs"));
                    }
                }
            }
            _ => {
                if n != expected {
                    c.errors.push(format!(
                        "PQ track {n} follows track {}: tracks must count up from 1",
                        expected - 1
                    ));
                }
                let (pause, start) = match e.index {
                    0 => (Some(e.at), usize::MAX),
                    1 => (None, e.at),
                    other => {
                        c.errors
                            .push(format!("track {n} begins with index {other:02}"));
                        (None, e.at)
                    }
                };
                tracks.push(TrackRow {
                    number: n,
                    pause,
                    start,
                    end: 0,
                    isrc: (!e.isrc.is_empty()).then(|| e.isrc.clone()),
                    title: None,
                    performer: None,
                });
            }
        }
    }
    for t in &tracks {
        if let Some(i) = &t.isrc {
            if let Some((_, first)) = isrcs.iter().find(|(x, _)| x == i) {
                c.errors.push(format!(
                    "track {}: ISRC {i} is also track {first}'s",
                    t.number
                ));
            }
            isrcs.push((i.clone(), t.number));
        }
        if t.start == usize::MAX {
            c.errors.push(format!("track {}: no index 01", t.number));
        }
    }
    tracks.retain(|t| t.start != usize::MAX);
    let Some(lead_out) = lead_out else {
        c.errors.push("PQ stream has no lead-out (AA) entry".into());
        c.tracks = tracks;
        return;
    };
    c.lead_out = lead_out;
    if lead_out != image_sectors {
        c.errors.push(format!(
            "lead-out at {} ({lead_out} sectors) but the image ends at {} ({image_sectors})",
            msf_text(lead_out),
            msf_text(image_sectors)
        ));
    }
    let ends: Vec<usize> = tracks
        .iter()
        .skip(1)
        .map(|t| t.pause.unwrap_or(t.start))
        .chain(std::iter::once(lead_out))
        .collect();
    for (t, end) in tracks.iter_mut().zip(ends) {
        t.end = end;
        if let Some(p) = t.pause
            && p > t.start
        {
            c.errors.push(format!(
                "track {}: index 00 at {} after index 01 at {}",
                t.number,
                msf_text(p),
                msf_text(t.start)
            ));
        }
        if end < t.start + MIN_TRACK_FRAMES {
            c.errors.push(format!(
                "track {} lasts {}; Red Book asks for at least 00:04:00",
                t.number,
                msf_text(end.saturating_sub(t.start))
            ));
        }
    }
    if tracks.is_empty() {
        c.errors.push("PQ stream names no tracks".into());
    } else {
        if tracks.len() > MAX_TRACKS {
            c.errors.push(format!(
                "{} tracks; a CD holds at most {MAX_TRACKS}",
                tracks.len()
            ));
        }
        if tracks[0].start < MIN_FIRST_PREGAP_FRAMES {
            c.errors.push(format!(
                "track 1 starts at {}; Red Book asks for a 2 s pause before it (00:02:00)",
                msf_text(tracks[0].start)
            ));
        }
    }
    if lead_out > MAX_PROGRAM_FRAMES {
        c.errors.push(format!(
            "the programme lasts {}; a CD holds {}",
            msf_text(lead_out),
            msf_text(MAX_PROGRAM_FRAMES)
        ));
    }
    c.tracks = tracks;
}

/// Verifies an md5sum-style checksum file when the fileset has one (`CHECKSUM.MD5` first,
/// else the first `*.md5` by name); every stream DDPMS names must be covered.
fn check_sums(c: &mut Checked, dir: &Path, covered: &[String]) -> Result<()> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(".md5"))
        })
        .collect();
    candidates.sort_by_key(|p| {
        let main = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("CHECKSUM.MD5"));
        (!main, p.clone())
    });
    let Some(sum_file) = candidates.first() else {
        c.warnings
            .push("no checksum file (*.md5): the transfer cannot be verified".into());
        return Ok(());
    };
    let text = String::from_utf8_lossy(&std::fs::read(sum_file)?).into_owned();
    let mut listed: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((hash, name)) = line.trim().split_once(char::is_whitespace) else {
            c.errors.push(format!("checksum line {line:?} unreadable"));
            continue;
        };
        let name = name.trim_start().trim_start_matches('*');
        // A folder written before the name (`ddp/IMAGE.DAT`) is the fileset's own folder.
        let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
        listed.push(name.to_ascii_uppercase());
        match find(dir, name) {
            None => c
                .errors
                .push(format!("checksum file lists {name}, which is missing")),
            Some(p) => {
                let digest = Md5::digest(std::fs::read(&p)?);
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                if !hex.eq_ignore_ascii_case(hash.trim()) {
                    c.errors.push(format!(
                        "checksum of {name} does not match: the file changed"
                    ));
                }
            }
        }
    }
    if listed.is_empty() {
        c.errors.push("the checksum file lists no files".into());
    }
    for must in covered {
        if !listed.contains(&must.to_ascii_uppercase()) {
            c.errors
                .push(format!("the checksum file does not cover {must}"));
        }
    }
    Ok(())
}

/// One track's 16-bit stereo samples from the image, index 01 to its end.
pub fn track_samples(c: &Checked, t: &TrackRow) -> Vec<[i16; 2]> {
    let from = t.start.saturating_mul(FRAME_SAMPLES * 4).min(c.audio.len());
    let to = t
        .end
        .saturating_mul(FRAME_SAMPLES * 4)
        .clamp(from, c.audio.len());
    c.audio[from..to]
        .chunks_exact(4)
        .map(|b| {
            [
                i16::from_le_bytes([b[0], b[1]]),
                i16::from_le_bytes([b[2], b[3]]),
            ]
        })
        .collect()
}

/// Compares each track with the WAV files of `folder` (in name order), bit for bit; returns
/// one line per difference.
pub fn compare_folder(c: &Checked, folder: &Path) -> Result<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot list {}", folder.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav"))
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    if files.len() != c.tracks.len() {
        out.push(format!(
            "{} holds {} WAV files for {} tracks",
            folder.display(),
            files.len(),
            c.tracks.len()
        ));
    }
    for (t, f) in c.tracks.iter().zip(&files) {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let mut reader =
            hound::WavReader::open(f).with_context(|| format!("cannot read {}", f.display()))?;
        let spec = reader.spec();
        if spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
            || spec.channels != 2
            || spec.sample_rate != 44_100
        {
            out.push(format!(
                "track {} ({name}): not 16-bit stereo 44.1 kHz PCM",
                t.number
            ));
            continue;
        }
        let samples: Vec<i16> = reader.samples::<i16>().collect::<Result<_, _>>()?;
        let ddp = track_samples(c, t);
        if samples.len() != ddp.len() * 2 {
            out.push(format!(
                "track {} ({name}): {} frames in the file, {} in the DDP",
                t.number,
                samples.len() / 2,
                ddp.len()
            ));
            continue;
        }
        if let Some(i) = ddp
            .iter()
            .zip(samples.chunks_exact(2))
            .position(|(d, s)| d[0] != s[0] || d[1] != s[1])
        {
            out.push(format!(
                "track {} ({name}): differs from the DDP at sample {i}",
                t.number
            ));
        }
    }
    Ok(out)
}

/// Writes each track as a 16-bit WAV.
fn extract(c: &Checked, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut written = Vec::new();
    for t in &c.tracks {
        let name = match &t.title {
            Some(title) if !title.is_empty() => {
                format!("{:02} {}.wav", t.number, super::file_safe(title))
            }
            _ => format!("{:02}.wav", t.number),
        };
        let path = out.join(name);
        let mut w = hound::WavWriter::create(&path, spec)
            .with_context(|| format!("cannot create {}", path.display()))?;
        for f in track_samples(c, t) {
            w.write_sample(f[0])?;
            w.write_sample(f[1])?;
        }
        w.finalize()
            .with_context(|| format!("cannot write {} (disk full?)", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Exit status: 0 clean, 1 errors found (or a comparison differs), 2 usage.
pub fn run(args: &DdpCheckArgs) -> i32 {
    if !args.dir.is_dir() {
        eprintln!("lathe ddp-check: {} is not a folder", args.dir.display());
        return 2;
    }
    if let Some(f) = &args.compare_to
        && !f.is_dir()
    {
        eprintln!("lathe ddp-check: {} is not a folder", f.display());
        return 2;
    }
    match run_inner(args) {
        Ok(clean) => {
            if clean {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("lathe ddp-check: {e:#}");
            1
        }
    }
}

fn run_inner(args: &DdpCheckArgs) -> Result<bool> {
    let c = check_dir(&args.dir)?;
    let compared = match &args.compare_to {
        Some(f) => Some(compare_folder(&c, f)?),
        None => None,
    };
    let extracted = match &args.extract {
        Some(out) if !c.tracks.is_empty() => extract(&c, out)?,
        _ => Vec::new(),
    };
    let clean = c.errors.is_empty() && compared.as_ref().is_none_or(Vec::is_empty);
    let rows: Vec<Value> = c
        .tracks
        .iter()
        .map(|t| {
            json!({
                "track": t.number,
                "index_00": t.pause.map(msf_text),
                "index_01": msf_text(t.start),
                "length": msf_text(t.end.saturating_sub(t.start)),
                "start_sector": t.start,
                "isrc": t.isrc,
                "title": t.title,
                "performer": t.performer,
            })
        })
        .collect();
    if args.json {
        let v = json!({
            "ok": clean,
            "errors": c.errors,
            "warnings": c.warnings,
            "upc": c.upc,
            "album_title": c.album_title,
            "lead_out": msf_text(c.lead_out),
            "lead_out_sector": c.lead_out,
            "tracks": rows,
            "compare": compared,
            "extracted": extracted,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!(
            "{}{}",
            c.album_title.as_deref().unwrap_or("(no CD-TEXT)"),
            c.upc
                .as_ref()
                .map(|u| format!("   UPC/EAN {u}"))
                .unwrap_or_default()
        );
        println!(" trk idx  start     length    ISRC          title");
        for t in &c.tracks {
            if let Some(p) = t.pause {
                println!(
                    " {:>3}  00  {}  {}",
                    t.number,
                    msf_text(p),
                    msf_text(t.start.saturating_sub(p))
                );
            }
            println!(
                " {:>3}  01  {}  {}  {:<12}  {}",
                t.number,
                msf_text(t.start),
                msf_text(t.end.saturating_sub(t.start)),
                t.isrc.as_deref().unwrap_or("-"),
                t.title.as_deref().unwrap_or("")
            );
        }
        println!("  AA  01  {}  (lead-out)", msf_text(c.lead_out));
        for w in &c.warnings {
            println!("warning: {w}");
        }
        for e in &c.errors {
            println!("error: {e}");
        }
        if let Some(diff) = &compared {
            if diff.is_empty() {
                println!("every track equals its file bit for bit");
            }
            for d in diff {
                println!("differs: {d}");
            }
        }
        for p in &extracted {
            println!("extracted {}", p.display());
        }
        println!("{}", if clean { "clean" } else { "ERRORS FOUND" });
    }
    Ok(clean)
}

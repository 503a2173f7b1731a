//! `lathe album` and `lathe ddp-check` checked from outside: an album of released music (three
//! genres, one track at 48 kHz with an odd length, one mix rendered through a preset) is
//! sequenced, and what it writes is read by tools that share no code with Lathe: an
//! independent Python DDP reader built from the published layouts (`tests/album/ddp_reader.py`:
//! every DDPID/DDPMS/PQ field built from the album plan and compared byte for byte, CD-TEXT
//! CRCs by `binascii`, checksums by `hashlib`, the image's audio against the CD files by the
//! `wave` module), `cuebreakpoints` (cuetools) for the cue sheet, `ffprobe`, ffmpeg's ebur128
//! and libebur128 for loudness and peaks. Then deliberately broken copies of the DDP must be
//! refused by `lathe ddp-check` *and* the Python reader, album files that break Red Book must
//! be refused with the track named, and a run killed midway must leave nothing that looks
//! finished.

use crate::offline::{ebur128_true_peak, ffmpeg_loudness};
use crate::target_dir;
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn ffmpeg(args: &[&str]) -> Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .context("ffmpeg (apt-get install ffmpeg)")?;
    ensure!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn frames(path: &Path) -> Result<(u32, usize)> {
    let r = hound::WavReader::open(path).with_context(|| path.display().to_string())?;
    Ok((r.spec().sample_rate, r.duration() as usize))
}

/// Runs a command; (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> Result<(i32, String, String)> {
    let out = cmd.output().context("cannot run")?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

const TITLES: [&str; 5] = [
    "Chaos God",
    "Mendelssohn",
    "Electricity",
    "Short Reprise",
    "Outro",
];
const ISRCS: [&str; 5] = [
    "GB-AAA-26-00001",
    "GB-AAA-26-00002",
    "GB-AAA-26-00003",
    "GB-AAA-26-00004",
    "GB-AAA-26-00005",
];
const GAPS: [f64; 5] = [2.0, 1.234, 0.0, 2.5, 1.0];
const UPC: &str = "0123456789012";

fn album_toml(files: &[PathBuf], extra: &str) -> String {
    let mut t = format!(
        "[album]\ntitle = \"Night Drive\"\nartist = \"The Lathes\"\nupc = \"{UPC}\"\n\
         loudness = \"album\"\ntarget = -14.0\nceiling = -1.0\n{extra}\n"
    );
    for (i, f) in files.iter().enumerate() {
        t += &format!(
            "[[track]]\nfile = {:?}\ntitle = \"{}\"\nisrc = \"{}\"\ngap = {}\n",
            f.display().to_string(),
            TITLES[i],
            ISRCS[i],
            GAPS[i]
        );
        match i {
            0 => t += "fade_out = 3.0\n",
            1 => t += "fade_in = 0.5\nartist = \"Guest\"\n",
            4 => t += "preset = \"Streaming\"\n",
            _ => {}
        }
        t += if i < 2 {
            "side = \"A\"\n"
        } else {
            "side = \"B\"\n"
        };
    }
    t
}

pub fn album_checks(lathe: &Path, python: &Path) -> Result<()> {
    let dir = target_dir().join("test-album");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let reader = root.join("tests/album/ddp_reader.py");
    let tracks = crate::music::fetch()?;
    let mut failures: Vec<String> = Vec::new();

    // Five tracks: three released tracks as they are, one cut to an odd length and converted
    // to 48 kHz (rate conversion; its last CD frame is part silence), one mix 6 dB down
    // rendered through the "Streaming" preset.
    let odd = dir.join("reprise-48k.wav");
    ffmpeg(&[
        "-i",
        &tracks[1].to_string_lossy(),
        "-t",
        "12.3456",
        "-ar",
        "48000",
        "-c:a",
        "pcm_f32le",
        &odd.to_string_lossy(),
    ])?;
    let mix = dir.join("outro-mix.wav");
    ffmpeg(&[
        "-i",
        &tracks[2].to_string_lossy(),
        "-t",
        "10",
        "-af",
        "volume=-6dB",
        "-c:a",
        "pcm_f32le",
        &mix.to_string_lossy(),
    ])?;
    let files = vec![
        tracks[0].clone(),
        tracks[1].clone(),
        tracks[2].clone(),
        odd.clone(),
        mix.clone(),
    ];
    let album = dir.join("album.toml");
    std::fs::write(&album, album_toml(&files, ""))?;
    let out = dir.join("out");
    let (code, stdout, stderr) = run(Command::new(lathe)
        .arg("album")
        .arg(&album)
        .arg("-o")
        .arg(&out)
        .args(["--to", "streaming,vinyl,cassette"]))?;
    println!("{stdout}");
    ensure!(code == 0, "lathe album exited {code}: {stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json"))?)?;

    // The plan as the album file and the sources give it (not Lathe's report): each track's
    // length at 44.1 kHz.
    let mut plan_tracks = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (rate, n) = frames(f)?;
        let samples = (n as u64 * 44_100).div_ceil(u64::from(rate)) as usize;
        plan_tracks.push(json!({
            "title": TITLES[i],
            "artist": if i == 1 { "Guest" } else { "The Lathes" },
            "isrc": ISRCS[i],
            "gap_s": GAPS[i],
            "samples": samples,
            "file": f,
            "fade_in_s": if i == 1 { 0.5 } else { 0.0 },
            "fade_out_s": if i == 0 { 3.0 } else { 0.0 },
        }));
    }
    let plan = json!({"title": "Night Drive", "artist": "The Lathes", "upc": UPC,
                      "tracks": plan_tracks});
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string(&plan)?)?;
    let py = |ddp: &Path| -> Result<(i32, String)> {
        let (code, out, err) = run(Command::new(python)
            .arg(&reader)
            .arg(&plan_path)
            .arg(ddp)
            .arg(out.join("cd")))?;
        Ok((code, format!("{out}{err}")))
    };
    let (code, text) = py(&out.join("ddp"))?;
    println!("independent DDP reader: {}", text.trim());
    if code != 0 {
        failures.push(format!("the independent reader rejects the DDP: {text}"));
    }

    // Cue sheet by cuetools: index 00 where a track has a pause, else index 01, relative to
    // track 1's index 01 (the file starts there).
    let (code, cue_points, err) = run(Command::new("cuebreakpoints")
        .arg("--prepend-gaps")
        .arg(out.join("album.cue")))
    .context("cuebreakpoints (apt-get install cuetools)")?;
    ensure!(code == 0, "cuebreakpoints: {err}");
    let mut at = 0usize;
    let mut want = Vec::new();
    for (i, t) in plan["tracks"].as_array().into_iter().flatten().enumerate() {
        let gap = (t["gap_s"].as_f64().unwrap_or(0.0) * 75.0).round() as usize;
        let n = t["samples"].as_u64().unwrap_or(0) as usize;
        if i == 0 {
            at = 0;
        } else {
            want.push(format!("{}:{:02}.{:02}", at / 4500, at / 75 % 60, at % 75));
            at += gap;
        }
        at += n.div_ceil(588);
    }
    let got: Vec<String> = cue_points.lines().map(str::to_string).collect();
    println!("cuebreakpoints: {got:?} (expected {want:?})");
    if got != want {
        failures.push(format!("cue breakpoints {got:?}, expected {want:?}"));
    }

    // CD files by ffprobe; loudness and peaks by ffmpeg and libebur128.
    let mut cd: Vec<PathBuf> = std::fs::read_dir(out.join("cd"))?
        .flatten()
        .map(|e| e.path())
        .collect();
    cd.sort();
    ensure!(cd.len() == 5, "{} CD files", cd.len());
    let mut change = Vec::new();
    for (i, f) in cd.iter().enumerate() {
        let (code, probe, _) = run(Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,sample_rate,channels:format_tags=title",
                "-of",
                "csv=p=0",
            ])
            .arg(f))?;
        let probe = probe.replace('\n', ",");
        if code != 0 || !probe.contains("pcm_s16le,44100,2") || !probe.contains(TITLES[i]) {
            failures.push(format!("{}: ffprobe reads {probe:?}", f.display()));
        }
        let (lufs, ff_tp) = ffmpeg_loudness(f)?;
        let ebu = ebur128_true_peak(f)?;
        println!(
            "{}: {lufs:.1} LUFS, true peak ffmpeg {ff_tp:+.1}, libebur128 {ebu:+.3} dBTP",
            f.file_name().unwrap_or_default().to_string_lossy()
        );
        if ebu > -1.0 || ff_tp > -1.0 {
            failures.push(format!(
                "{}: true peak over the -1 dBTP ceiling (ffmpeg {ff_tp}, libebur128 {ebu:.3})",
                f.display()
            ));
        }
        if (2..4).contains(&i) {
            let (src, _) = ffmpeg_loudness(&files[i])?;
            let relimited = report["tracks"][i]["relimited"].as_bool().unwrap_or(true);
            change.push((lufs - src, relimited));
        }
    }
    // Album mode keeps the tracks' relative levels: tracks 3 and 4 (no fades) moved alike.
    if (change[0].0 - change[1].0).abs() > 0.15 {
        failures.push(format!(
            "album mode moved tracks 3 and 4 differently: {:+.2} / {:+.2} LU (ffmpeg)",
            change[0].0, change[1].0
        ));
    }
    let (album_lufs, _) = ffmpeg_loudness(&out.join("album.wav"))?;
    println!("album.wav: {album_lufs:.1} LUFS by ffmpeg (target -14)");
    if (album_lufs + 14.0).abs() > 0.3 {
        failures.push(format!("album loudness {album_lufs} LUFS, target -14"));
    }

    // Per-track deliverables (lathe deliver's own checks ran inside): the files and their tags.
    for (i, title) in TITLES.iter().enumerate() {
        let folder = out.join("tracks").join(format!("{:02} {title}", i + 1));
        let mp3 = folder.join(format!("{:02} {title}.320.mp3", i + 1));
        let (code, probe, _) = run(Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format_tags=title,album,track",
                "-of",
                "csv=p=0",
            ])
            .arg(&mp3))?;
        let want = format!("{}/5", i + 1);
        if code != 0
            || !probe.contains(title)
            || !probe.contains("Night Drive")
            || !probe.contains(&want)
        {
            failures.push(format!("{}: ffprobe reads {probe:?}", mp3.display()));
        }
        for name in [
            format!("{:02} {title}.native-24.wav", i + 1),
            format!("{:02} {title}.44100-16.wav", i + 1),
        ] {
            if !folder.join(&name).is_file() {
                failures.push(format!("tracks/: {name} missing"));
            }
        }
    }

    // Sides: side A = tracks 1–2, side B = tracks 3–5, 24-bit at 44.1 kHz (track 1's rate),
    // each track's length at that rate plus the pauses between them (none before a side's
    // first track); nothing out of phase in released music.
    let lengths: Vec<usize> = plan["tracks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["samples"].as_u64().unwrap_or(0) as usize)
        .collect();
    for folder in ["vinyl", "cassette"] {
        for (side, members) in [("A", 0..2), ("B", 2..5)] {
            let f = out.join(folder).join(format!("Side {side}.wav"));
            let r = hound::WavReader::open(&f).with_context(|| f.display().to_string())?;
            let expect: usize = members
                .clone()
                .map(|i| {
                    lengths[i]
                        + if i == members.start {
                            0
                        } else {
                            (GAPS[i] * 44_100.0).round() as usize
                        }
                })
                .sum();
            let spec = r.spec();
            println!(
                "{folder}/Side {side}.wav: {} bits, {} Hz, {} frames (expected {expect})",
                spec.bits_per_sample,
                spec.sample_rate,
                r.duration()
            );
            if spec.bits_per_sample != 24
                || spec.sample_rate != 44_100
                || r.duration() as usize != expect
            {
                failures.push(format!(
                    "{}: {spec:?}, {} frames, expected 24-bit 44.1 kHz {expect}",
                    f.display(),
                    r.duration()
                ));
            }
            let pre = &report["sides"][folder][side];
            println!(
                "  pre-flight: problems {}, notes {}, low-end correlation {}",
                pre["problems"], pre["notes"], pre["low_end"]["correlation"]
            );
            if pre["low_end"]["out_of_phase"]
                .as_array()
                .is_none_or(|a| !a.is_empty())
            {
                failures.push(format!(
                    "{folder} side {side}: released music flagged out of phase: {pre}"
                ));
            }
        }
    }

    // The vinyl check fires on a 60 Hz tone at -20 dBFS in anti-phase and not in phase.
    let mut sides_toml =
        String::from("[album]\ntitle = \"Phase\"\nloudness = \"none\"\nvinyl = \"12in-33\"\n");
    for (side, expr) in [
        ("A", "0.1*sin(2*PI*60*t)|-0.1*sin(2*PI*60*t)"),
        ("B", "0.1*sin(2*PI*60*t)|0.1*sin(2*PI*60*t)"),
    ] {
        let f = dir.join(format!("tone-{side}.wav"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("aevalsrc={expr}:s=44100:d=10"),
            "-c:a",
            "pcm_f32le",
            &f.to_string_lossy(),
        ])?;
        sides_toml += &format!(
            "[[track]]\nfile = {:?}\nside = \"{side}\"\n",
            f.display().to_string()
        );
    }
    let phase = dir.join("phase.toml");
    std::fs::write(&phase, sides_toml)?;
    let phase_out = dir.join("phase-out");
    let (code, _, err) = run(Command::new(lathe)
        .arg("album")
        .arg(&phase)
        .arg("-o")
        .arg(&phase_out)
        .args(["--to", "vinyl"]))?;
    ensure!(code == 0, "lathe album (phase tones) exited {code}: {err}");
    let pre: Value = serde_json::from_str(&std::fs::read_to_string(
        phase_out.join("vinyl/preflight.json"),
    )?)?;
    println!(
        "60 Hz at -20 dBFS: anti-phase side {} / in-phase side {}",
        pre["A"]["problems"], pre["B"]["problems"]
    );
    let flagged = |s: &str| {
        pre[s]["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p.as_str().unwrap_or("").contains("out-of-phase"))
    };
    if !flagged("A") || flagged("B") {
        failures.push(format!(
            "vinyl phase check: anti-phase flagged {}, in-phase flagged {}",
            flagged("A"),
            flagged("B")
        ));
    }

    // Per-track loudness with gains up to +8 dB: every track to -10 LUFS, so the loud ones are
    // re-limited to hold the ceiling; each CD file read by ffmpeg and libebur128.
    let hot = dir.join("hot.toml");
    std::fs::write(
        &hot,
        album_toml(&files[..3], "").replacen(
            "loudness = \"album\"\ntarget = -14.0",
            "loudness = \"track\"\ntarget = -10.0",
            1,
        ),
    )?;
    let hot_out = dir.join("hot-out");
    let (code, _, err) = run(Command::new(lathe)
        .arg("album")
        .arg(&hot)
        .arg("-o")
        .arg(&hot_out))?;
    ensure!(
        code == 0,
        "lathe album (track loudness, -10 LUFS) exited {code}: {err}"
    );
    let hot_report: Value =
        serde_json::from_str(&std::fs::read_to_string(hot_out.join("report.json"))?)?;
    for (i, t) in hot_report["tracks"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = hot_out.join(t["cd_file"].as_str().unwrap_or_default());
        let (lufs, ff_tp) = ffmpeg_loudness(&f)?;
        let ebu = ebur128_true_peak(&f)?;
        println!(
            "track loudness -10: track {}: gain {:+.2} dB, re-limited {}, ffmpeg {lufs:.1} LUFS, true peak ffmpeg {ff_tp:+.1}, libebur128 {ebu:+.3} dBTP",
            i + 1,
            t["gain_db"].as_f64().unwrap_or(f64::NAN),
            t["relimited"]
        );
        if ebu > -1.0 || ff_tp > -1.0 || (lufs + 10.0).abs() > 0.6 {
            failures.push(format!(
                "track loudness: track {} reads {lufs} LUFS (aim -10), true peak ffmpeg {ff_tp}, libebur128 {ebu:.3} (ceiling -1)",
                i + 1
            ));
        }
    }
    if !hot_report["tracks"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["relimited"].as_bool() == Some(true))
    {
        failures.push("no track was re-limited at -10 LUFS: the ceiling case did not run".into());
    }

    // lathe ddp-check: clean, extracts, compares.
    let extract = dir.join("extracted");
    let (code, text, err) = run(Command::new(lathe)
        .arg("ddp-check")
        .arg(out.join("ddp"))
        .arg("--extract")
        .arg(&extract)
        .arg("--compare-to")
        .arg(out.join("cd")))?;
    println!("{text}");
    if code != 0 || !text.contains("bit for bit") {
        failures.push(format!(
            "ddp-check on the written DDP exited {code}: {text}{err}"
        ));
    }

    // Broken copies: each must be refused by ddp-check (exit 1, saying why) and by the
    // independent reader.
    type Break = fn(&Path) -> Result<()>;
    let breaks: Vec<(&str, &str, Break)> = vec![
        ("image size", "bytes; DDPMS gives", |d| {
            let p = d.join("IMAGE.DAT");
            let b = std::fs::read(&p)?;
            std::fs::write(&p, &b[..b.len() - 1000])?;
            Ok(())
        }),
        ("misaligned start", "starts at sector", |d| {
            patch(&d.join("DDPMS"), 22, b"00000001")
        }),
        ("bad ISRC", "not a valid ISRC", |d| {
            // Track 1's index 00 entry (the second entry) ISRC, designation made a letter.
            patch(&d.join("PQDESCR"), 64 + 20 + 7, b"X")
        }),
        ("short track", "at least 00:04:00", |d| {
            // Track 2's pause moved to 00:05:00: track 1 then lasts 3 s.
            patch(&d.join("PQDESCR"), 3 * 64 + 10, b"000500")
        }),
        ("corrupt checksum", "checksum of IMAGE.DAT", |d| {
            let p = d.join("IMAGE.DAT");
            let mut b = std::fs::read(&p)?;
            let k = b.len() / 2;
            b[k] ^= 0x40;
            std::fs::write(&p, b)?;
            Ok(())
        }),
        ("bad CD-TEXT CRC", "CRC does not match", |d| {
            patch(&d.join("CDTEXT.BIN"), 18 + 6, b"~")
        }),
        ("wrong lead-out", "lead-out at", |d| {
            let p = d.join("PQDESCR");
            let len = std::fs::metadata(&p)?.len() as usize;
            patch(&p, len - 64 + 14, b"74")?;
            patch(&p, len - 128 + 14, b"74")
        }),
    ];
    for (name, says, break_it) in breaks {
        let copy = dir.join(format!("broken-{}", name.replace(' ', "-")));
        std::fs::create_dir_all(&copy)?;
        for e in std::fs::read_dir(out.join("ddp"))?.flatten() {
            std::fs::copy(e.path(), copy.join(e.file_name()))?;
        }
        break_it(&copy)?;
        let (code, text, _) = run(Command::new(lathe).arg("ddp-check").arg(&copy))?;
        let (py_code, py_text) = py(&copy)?;
        let line = text
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("(no error)");
        println!("{name}: ddp-check exit {code}, {line}; independent reader exit {py_code}");
        if code != 1 || !text.contains(says) {
            failures.push(format!(
                "{name}: ddp-check exit {code}, expected 1 saying {says:?}: {text}"
            ));
        }
        if py_code != 1 {
            failures.push(format!(
                "{name}: the independent reader accepts it: {py_text}"
            ));
        }
    }

    // Album files that break the rules: exit 2, the track named, nothing written.
    let short = dir.join("short.wav");
    ffmpeg(&[
        "-i",
        &tracks[0].to_string_lossy(),
        "-t",
        "3.5",
        "-c:a",
        "pcm_f32le",
        &short.to_string_lossy(),
    ])?;
    let mono = dir.join("mono.wav");
    ffmpeg(&[
        "-i",
        &tracks[0].to_string_lossy(),
        "-t",
        "8",
        "-ac",
        "1",
        "-c:a",
        "pcm_f32le",
        &mono.to_string_lossy(),
    ])?;
    let three = &files[..3];
    let replace = |from: &str, to: &str| album_toml(three, "").replacen(from, to, 1);
    let bad_albums: Vec<(&str, String, &str)> = vec![
        (
            "track under 4 s",
            album_toml(&[files[0].clone(), short.clone()], ""),
            "track 2 (Mendelssohn)",
        ),
        (
            "track 1 pause under 2 s",
            replace("gap = 2\n", "gap = 1.0\n"),
            "track 1 (Chaos God)",
        ),
        (
            "invalid ISRC",
            replace("GB-AAA-26-00002", "GB-AAA-26-0002"),
            "track 2 (Mendelssohn)",
        ),
        (
            "duplicate ISRC",
            replace("GB-AAA-26-00003", "GB-AAA-26-00001"),
            "track 3 (Electricity)",
        ),
        (
            "bad UPC check digit",
            replace(UPC, "0123456789013"),
            "check digit",
        ),
        (
            "fade longer than its track",
            replace("fade_in = 0.5", "fade_in = 40"),
            "track 2 (Mendelssohn)",
        ),
        (
            "missing file",
            replace("metal-chaos-god", "no-such-file"),
            "track 1 (Chaos God)",
        ),
        (
            "channel counts differ",
            album_toml(&[files[0].clone(), mono.clone()], ""),
            "track 2 (Mendelssohn)",
        ),
        (
            "100 tracks",
            {
                let mut t = album_toml(&[], "");
                for i in 0..100 {
                    t += &format!(
                        "[[track]]\nfile = {:?}\ntitle = \"T{i}\"\n",
                        files[3].display().to_string()
                    );
                }
                t
            },
            "at most 99",
        ),
    ];
    for (name, toml, says) in bad_albums {
        let a = dir.join("bad.toml");
        std::fs::write(&a, toml)?;
        let o = dir.join("bad-out");
        std::fs::remove_dir_all(&o).ok();
        let (code, _, err) = run(Command::new(lathe).arg("album").arg(&a).arg("-o").arg(&o))?;
        let left: Vec<String> = std::fs::read_dir(&o)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        println!("{name}: exit {code}: {}", err.trim());
        if code != 2 || !err.contains(says) || o.exists() {
            failures.push(format!(
                "{name}: exit {code}, expected 2 naming {says:?}; said {err:?}; left {left:?}"
            ));
        }
    }

    // A refused album under --overwrite leaves the earlier album as it was.
    let a = dir.join("bad.toml");
    std::fs::write(&a, album_toml(&[files[0].clone(), short.clone()], ""))?;
    let (code, _, _) = run(Command::new(lathe)
        .arg("album")
        .arg(&a)
        .arg("-o")
        .arg(&out)
        .arg("--overwrite"))?;
    let (check, _, _) = run(Command::new(lathe).arg("ddp-check").arg(out.join("ddp")))?;
    println!(
        "refused album with --overwrite over the good one: exit {code}; the earlier DDP still checks (exit {check}), report {}",
        out.join("report.json").is_file()
    );
    if code != 2 || check != 0 || !out.join("report.json").is_file() || !out.join("vinyl").is_dir()
    {
        failures.push("a refused album under --overwrite damaged the earlier album".into());
    }

    // Another writer's layout: one file per track (`ic01.trk`… from each pause to the next,
    // with sector offsets), lower-case file names, PQ times with a blank hours field and the
    // ISRC only on each track's first entry, CD-TEXT with a 4-byte header, no checksum file.
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign)?;
    let ddp = out.join("ddp");
    let image = std::fs::read(ddp.join("IMAGE.DAT"))?;
    let pq = std::fs::read(ddp.join("PQDESCR"))?;
    let mut text = std::fs::read(ddp.join("CDTEXT.BIN"))?;
    let header = (text.len() as u16 + 2).to_be_bytes();
    text.splice(0..0, [header[0], header[1], 0, 0]);
    let mut starts: Vec<usize> = Vec::new();
    let mut new_pq = Vec::new();
    let mut last_track = String::new();
    for e in pq.chunks(64) {
        let mut e = e.to_vec();
        e[8..10].copy_from_slice(b"  ");
        let track = String::from_utf8_lossy(&e[4..6]).into_owned();
        if track == last_track {
            e[20..32].copy_from_slice(b"            ");
        }
        if track != "00" && track != "AA" && track != last_track {
            let f = |a: usize| (e[a] - b'0') as usize * 10 + (e[a + 1] - b'0') as usize;
            starts.push((f(10) * 60 + f(12)) * 75 + f(14));
        }
        last_track = track;
        new_pq.extend_from_slice(&e);
    }
    let sectors = image.len() / 2352;
    starts[0] = 0;
    let mut ms = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(sectors);
        let name = format!("IC{:02}.TRK", i + 1);
        std::fs::write(
            foreign.join(name.to_lowercase()),
            &image[s * 2352..end * 2352],
        )?;
        let mut p = vec![b' '; 128];
        p[0..6].copy_from_slice(b"VVVMD0");
        p[14..22].copy_from_slice(format!("{:08}", end - s).as_bytes());
        if i > 0 {
            p[22..30].copy_from_slice(format!("{s:08}").as_bytes());
        }
        p[38..42].copy_from_slice(b"DA00");
        p[71..74].copy_from_slice(b"017");
        p[74..74 + name.len()].copy_from_slice(name.as_bytes());
        ms.extend_from_slice(&p);
    }
    for (name, len, sub) in [
        ("DDPPQ", new_pq.len(), "PQ DESCR"),
        ("CDTEXT.BIN", text.len(), "CDTEXT  "),
    ] {
        let mut p = vec![b' '; 128];
        p[0..6].copy_from_slice(b"VVVMS0");
        p[14..22].copy_from_slice(format!("{len:08}").as_bytes());
        p[30..38].copy_from_slice(sub.as_bytes());
        p[71..74].copy_from_slice(b"017");
        p[74..74 + name.len()].copy_from_slice(name.as_bytes());
        ms.extend_from_slice(&p);
    }
    let mut id = std::fs::read(ddp.join("DDPID"))?;
    id[29..37].copy_from_slice(format!("{:>8}", ms.len()).as_bytes());
    std::fs::write(foreign.join("ddpid"), id)?;
    std::fs::write(foreign.join("ddpms"), ms)?;
    std::fs::write(foreign.join("ddppq"), new_pq)?;
    std::fs::write(foreign.join("cdtext.bin"), text)?;
    let (code, text, err) = run(Command::new(lathe)
        .arg("ddp-check")
        .arg(&foreign)
        .arg("--compare-to")
        .arg(out.join("cd")))?;
    println!(
        "another writer's layout ({} track files, lower-case names, blank hours, CD-TEXT header): ddp-check exit {code}",
        starts.len()
    );
    if code != 0 || !text.contains("bit for bit") || !text.contains("Short Reprise") {
        failures.push(format!(
            "ddp-check refuses another writer's layout: {text}{err}"
        ));
    }

    // A run killed midway leaves no folder or file that looks finished.
    let killed = dir.join("killed");
    let mut child = Command::new(lathe)
        .arg("album")
        .arg(&album)
        .arg("-o")
        .arg(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(std::time::Duration::from_millis(400));
    let finished_early = child.try_wait()?.is_some();
    child.kill().ok();
    child.wait().ok();
    let visible: Vec<String> = std::fs::read_dir(&killed)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    println!("killed after 0.4 s: visible {visible:?}");
    if finished_early {
        failures.push("the run finished before it could be killed: make the album longer".into());
    } else if !visible.is_empty() {
        failures.push(format!("a killed run left {visible:?}"));
    }

    if !failures.is_empty() {
        bail!(
            "{} album check(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

/// Writes `bytes` at `at` in a file.
fn patch(path: &Path, at: usize, bytes: &[u8]) -> Result<()> {
    let mut b = std::fs::read(path)?;
    b[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, b)?;
    Ok(())
}

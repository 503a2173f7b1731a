//! `lathe deliver` checked from outside: every file it writes is read back by tools that share
//! no code with it – `flac -t`, `metaflac`, `ffprobe`/`ffmpeg`, `mp3val`, Python's `mutagen`,
//! `hound` and the `ebur128` crate (libebur128's algorithm) – on released music of three genres
//! and on adversarial masters (fs/4 bursts with +3 dB inter-sample peaks, clipped noise, a hot
//! master), plus bad input, an interrupted run and a full disk.

use crate::offline::{ebur128_true_peak, ffmpeg_loudness};
use crate::{run_cmd, target_dir};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const ISRC: &str = "GB-AAA-26-00001";
const ISRC_STORED: &str = "GBAAA2600001";
const UPC: &str = "0123456789012";
const TITLE: &str = "Delivery Test";

fn write_wav_f32(path: &Path, rate: u32, planar: &[Vec<f32>]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: planar.len() as u16,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for i in 0..planar[0].len() {
        for c in planar {
            w.write_sample(c[i])?;
        }
    }
    w.finalize()?;
    Ok(())
}

/// Tones at a quarter of the sample rate, phase 45°: every sample at ±0.707 of the wave's peak,
/// so the waveform peaks 3 dB over the samples (sample peak −0.1 dBFS: true peak ≈ +2.9 dBTP).
fn fs4_bursts(rate: u32, seconds: f64) -> Vec<Vec<f32>> {
    let n = (f64::from(rate) * seconds) as usize;
    let amp = 10f64.powf(-0.1 / 20.0) / std::f64::consts::FRAC_1_SQRT_2;
    let c: Vec<f32> = (0..n)
        .map(|i| {
            let on = (i / (rate as usize / 4)).is_multiple_of(2); // 250 ms on, 250 ms off
            if on {
                (amp * (std::f64::consts::FRAC_PI_2 * i as f64 + std::f64::consts::FRAC_PI_4).sin())
                    as f32
            } else {
                0.0
            }
        })
        .collect();
    vec![c.clone(), c]
}

/// White noise 12 dB too hot, clipped at full scale (a crushed master with overs everywhere).
fn clipped_noise(rate: u32, seconds: f64) -> Vec<Vec<f32>> {
    let n = (f64::from(rate) * seconds) as usize;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..2)
        .map(|_| {
            (0..n)
                .map(|_| ((next() * 0.5 * 4.0).clamp(-1.0, 1.0)) as f32)
                .collect()
        })
        .collect()
}

fn ffmpeg(args: &[&str]) -> Result<()> {
    run_cmd(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y"])
            .args(args),
    )
    .context("ffmpeg (apt-get install ffmpeg)")
}

fn output(cmd: &mut Command) -> Result<(bool, String, String)> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// ffprobe's view of the first audio stream and the container tags.
fn ffprobe(path: &Path) -> Result<Value> {
    let (ok, out, err) = output(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_streams",
                "-show_format",
            ])
            .arg(path),
    )?;
    ensure!(ok, "ffprobe {}: {err}", path.display());
    Ok(serde_json::from_str(&out)?)
}

/// Frames ffmpeg decodes from a file (its own decoders; MP3 trimmed by the LAME tag).
fn ffmpeg_frames(path: &Path, channels: usize) -> Result<usize> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-"])
        .output()?;
    ensure!(
        out.status.success(),
        "ffmpeg cannot decode {}",
        path.display()
    );
    Ok(out.stdout.len() / 4 / channels)
}

/// True peak of any file by the `ebur128` crate, decoded by ffmpeg to float first.
fn oracle_true_peak(path: &Path, scratch: &Path) -> Result<f64> {
    let wav = scratch.join("decoded.wav");
    ffmpeg(&[
        "-i",
        &path.to_string_lossy(),
        "-c:a",
        "pcm_f32le",
        &wav.to_string_lossy(),
    ])?;
    ebur128_true_peak(&wav)
}

/// The report's codec check against one made outside Lathe: the delivered native-rate 24-bit
/// WAV (what a platform receives) encoded by ffmpeg with the same encoder and bit rate,
/// decoded, and read by libebur128; each decoded true peak within 0.2 dB of the report's. On
/// a master with overs this also shows the check encodes the master as delivered (held at the
/// ceiling), not the master as given.
fn codec_check_by_ffmpeg(out: &Path, report: &Value, scratch: &Path) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let delivered = report["deliverables"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["name"].as_str() == Some("wav-native-24"))
        .and_then(|d| d["file"].as_str())
        .map(|f| out.join(f))
        .context("no wav-native-24 deliverable to check the codec figures against")?;
    let expected = [
        ("Opus", "libopus", "128k", "48000", "opus"),
        ("Vorbis", "libvorbis", "160k", "44100", "ogg"),
        ("AAC", "aac", "256k", "44100", "m4a"),
    ];
    let checks = report["codec_check"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (label, encoder, rate_kbps, rate, ext) in expected {
        let Some(c) = checks
            .iter()
            .find(|c| c["codec"].as_str().is_some_and(|s| s.contains(label)))
        else {
            failures.push(format!("codec check: no {label} entry in the report"));
            continue;
        };
        let Some(ours) = c["decoded_true_peak_dbtp"].as_f64() else {
            failures.push(format!("codec check {label}: not measured: {}", c["error"]));
            continue;
        };
        let encoded = scratch.join(format!("codec-check.{ext}"));
        ffmpeg(&[
            "-i",
            &delivered.to_string_lossy(),
            "-ar",
            rate,
            "-c:a",
            encoder,
            "-b:a",
            rate_kbps,
            &encoded.to_string_lossy(),
        ])?;
        let theirs = oracle_true_peak(&encoded, scratch)?;
        let agree = (ours - theirs).abs() <= 0.2;
        println!(
            "  codec check {label}: report {ours:+.2} dBTP, ffmpeg-encoded delivered file read by libebur128 {theirs:+.2}: {}",
            if agree { "ok" } else { "FAILED" }
        );
        if !agree {
            failures.push(format!(
                "codec check {label}: report {ours:+.2} dBTP, independent {theirs:+.2}"
            ));
        }
    }
    Ok(failures)
}

/// Which meters beyond libebur128 must also read the files under the ceiling.
#[derive(Clone, Copy)]
struct Strictness {
    ideal: bool,
    ffmpeg: bool,
}

/// Per master: music and the hot music master must hold on all three meters; the fs/4 master
/// on libebur128 and the ideal reconstruction (ffmpeg over-reads steady fs/4 tones, shown in
/// the test); the clipped full-band white noise on libebur128 only – BS.1770's meter – since
/// the limiter's detector, like every short interpolator, does not see what an ideal
/// reconstruction of noise flat to Nyquist does (up to ~0.9 dB more; printed, stated in the
/// README as a limit).
fn strictness(master: &str) -> Strictness {
    if master.starts_with("fs4") {
        Strictness {
            ideal: true,
            ffmpeg: false,
        }
    } else if master.starts_with("clipped-noise") {
        Strictness {
            ideal: false,
            ffmpeg: false,
        }
    } else {
        Strictness {
            ideal: true,
            ffmpeg: true,
        }
    }
}

/// How far over the ceiling the ideal (unwindowed) reconstruction may read: issue 12's bound
/// for a ≥16x reference.
const IDEAL_TOLERANCE_DB: f64 = 0.05;

fn ideal_true_peak(python: &Path, file: &Path) -> Result<f64> {
    let script = crate::workspace_root().join("tests/deliver/ideal_true_peak.py");
    let (ok, out, err) = output(Command::new(python).arg(script).arg(file))?;
    ensure!(ok, "ideal_true_peak.py {}: {err}", file.display());
    Ok(out.trim().parse()?)
}

fn tag<'a>(probe: &'a Value, key: &str) -> Option<&'a str> {
    probe["format"]["tags"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| v.as_str())
}

/// Checks one written deliverable with the independent tools; returns findings (empty = ok).
fn check_file(
    file: &Path,
    d: &Value,
    python: &Path,
    scratch: &Path,
    strict: Strictness,
    master: (u64, u64),
) -> Result<Vec<String>> {
    let mut bad = Vec::new();
    let name = d["name"].as_str().unwrap_or("?");
    let format = d["format"].as_str().unwrap_or("?");
    let rate = d["sample_rate"].as_u64().unwrap_or(0);
    let channels = d["channels"].as_u64().unwrap_or(0) as usize;
    let frames = d["frames"].as_u64().unwrap_or(0) as usize;
    let probe = ffprobe(file)?;
    let s = &probe["streams"][0];
    let probed_rate: u64 = s["sample_rate"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    if probed_rate != rate || s["channels"].as_u64() != Some(channels as u64) {
        bad.push(format!("ffprobe: {probed_rate} Hz {} ch", s["channels"]));
    }
    let decoded = ffmpeg_frames(file, channels)?;
    // The master's length at the output rate (the resampler keeps ⌈frames · out / in⌉).
    let (master_frames, master_rate) = master;
    let expected = (master_frames * rate).div_ceil(master_rate) as usize;
    if decoded != expected || frames != expected {
        bad.push(format!(
            "ffmpeg decodes {decoded} frames, the report says {frames}, the master's length at {rate} Hz is {expected}"
        ));
    }
    match format {
        "wav" | "flac" => {
            let bits = d["bits"].as_u64().unwrap_or(0);
            let probed_bits = if format == "wav" {
                s["bits_per_sample"].as_u64()
            } else {
                s["bits_per_raw_sample"]
                    .as_str()
                    .and_then(|b| b.parse().ok())
            };
            if probed_bits != Some(bits) {
                bad.push(format!("ffprobe: {probed_bits:?} bits, wanted {bits}"));
            }
        }
        _ => {
            if s["codec_name"].as_str() != Some("mp3") || s["bit_rate"].as_str() != Some("320000") {
                bad.push(format!("ffprobe: {} at {}", s["codec_name"], s["bit_rate"]));
            }
            let (_, out, err) = output(Command::new("mp3val").arg(file))?;
            let text = format!("{out}{err}");
            if text.contains("WARNING") || text.contains("PROBLEM") {
                bad.push(format!("mp3val: {}", text.trim()));
            }
            if tag(&probe, "TSRC") != Some(ISRC_STORED) || tag(&probe, "title") != Some(TITLE) {
                bad.push(format!(
                    "ID3 tags as ffprobe reads them: {}",
                    probe["format"]["tags"]
                ));
            }
        }
    }
    if format == "flac" {
        let (ok, _, err) = output(Command::new("flac").args(["-t", "-s"]).arg(file))?;
        if !ok {
            bad.push(format!("flac -t: {}", err.trim()));
        }
        let (_, tags, _) = output(Command::new("metaflac").arg("--export-tags-to=-").arg(file))?;
        for want in [
            format!("ISRC={ISRC_STORED}"),
            format!("TITLE={TITLE}"),
            format!("BARCODE={UPC}"),
        ] {
            if !tags.lines().any(|l| l == want) {
                bad.push(format!("metaflac: no {want} in {tags:?}"));
            }
        }
    }
    if format == "wav" {
        // RIFF INFO and BWF bext as ffmpeg reads them; the id3 chunk as mutagen reads it.
        if tag(&probe, "title") != Some(TITLE)
            || !tag(&probe, "comment")
                .is_some_and(|c| c.starts_with(&format!("ISRC:{ISRC_STORED}")))
        {
            bad.push(format!(
                "INFO/bext as ffprobe reads them: {}",
                probe["format"]["tags"]
            ));
        }
        let (ok, out, err) = output(Command::new(python).args([
            "-c",
            "import sys, mutagen.wave as w; t = w.WAVE(sys.argv[1]).tags; \
             print(t['TSRC'].text[0], t['TIT2'].text[0], t['TXXX:BARCODE'].text[0], sep='|')",
            &file.to_string_lossy(),
        ]))?;
        let want = format!("{ISRC_STORED}|{TITLE}|{UPC}");
        if !ok || out.trim() != want {
            bad.push(format!(
                "mutagen reads the id3 chunk as {:?} {}",
                out.trim(),
                err.trim()
            ));
        }
    }
    // Three meters: libebur128 (BS.1770's 4x interpolator: must hold everywhere), an ideal 16x
    // reconstruction (numpy FFT) and ffmpeg (its own 192 kHz resampler), both asserted where
    // `strict` (see `Strictness`).
    let ceiling = -1.0;
    let ebu = oracle_true_peak(file, scratch)?;
    let ideal = ideal_true_peak(python, file)?;
    let (lufs, ff_tp) = ffmpeg_loudness(file)?;
    println!(
        "      {name:<14} {rate:>6} Hz  ffmpeg {lufs:6.1} LUFS; true peak: libebur128 {ebu:+.3}, ideal 16x {ideal:+.3}, ffmpeg {ff_tp:+.1} dBTP"
    );
    let over = ebu > ceiling
        || (strict.ideal && ideal > ceiling + IDEAL_TOLERANCE_DB)
        || (strict.ffmpeg && ff_tp > ceiling);
    if over {
        bad.push(format!(
            "true peak over {ceiling} dBTP: libebur128 {ebu:+.3}, ideal {ideal:+.3}, ffmpeg {ff_tp:+.1}"
        ));
    }
    Ok(bad)
}

fn deliver(
    lathe: &Path,
    master: &Path,
    out: &Path,
    to: &str,
    extra: &[&str],
) -> Result<(bool, String, String)> {
    output(
        Command::new(lathe)
            .arg("deliver")
            .arg(master)
            .arg("-o")
            .arg(out)
            .args(["--to", to, "--title", TITLE, "--artist", "Lathe Tests"])
            .args([
                "--isrc", ISRC, "--upc", UPC, "--track", "1/1", "--year", "2026",
            ])
            .args(extra),
    )
}

/// Visible audio files in a folder (what a user would take for finished deliverables; the
/// report of a failed run, which lists the failure, is not one).
fn visible(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    !n.starts_with('.') && [".wav", ".flac", ".mp3"].iter().any(|x| n.ends_with(x))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn deliver_checks(lathe: &Path, python: &Path) -> Result<()> {
    let dir = target_dir().join("test-deliver");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let mut failures = Vec::new();

    // Masters: released music (three genres: as released, float; one as a 24-bit 96 kHz
    // master; one made hot with ffmpeg's gain so it has overs), and synthetic adversaries.
    let tracks = crate::music::fetch()?;
    let mut masters: Vec<(String, PathBuf, &str)> = Vec::new();
    for t in &tracks {
        let stem = t
            .file_stem()
            .map_or("track".into(), |s| s.to_string_lossy().into_owned());
        masters.push((stem, t.clone(), "streaming"));
    }
    let hi = dir.join("music-96k-24bit.wav");
    // 3 dB down, so it holds no overs and its own-rate 24-bit file must be the master itself.
    ffmpeg(&[
        "-i",
        &tracks[0].to_string_lossy(),
        "-ar",
        "96000",
        "-af",
        "volume=-3dB",
        "-c:a",
        "pcm_s24le",
        &hi.to_string_lossy(),
    ])?;
    masters.push(("music-96k-24bit".into(), hi.clone(), "all"));
    let hot = dir.join("music-hot.wav");
    ffmpeg(&[
        "-i",
        &tracks[1].to_string_lossy(),
        "-af",
        "volume=9dB",
        "-c:a",
        "pcm_f32le",
        &hot.to_string_lossy(),
    ])?;
    masters.push(("music-hot".into(), hot, "all"));
    let fs4 = dir.join("fs4-bursts-44k.wav");
    write_wav_f32(&fs4, 44_100, &fs4_bursts(44_100, 12.0))?;
    masters.push(("fs4-bursts-44k".into(), fs4, "all"));
    let noise = dir.join("clipped-noise-48k.wav");
    write_wav_f32(&noise, 48_000, &clipped_noise(48_000, 12.0))?;
    masters.push(("clipped-noise-48k".into(), noise, "all"));

    // ffmpeg's true peak is not used on the fs/4 master: on a steady fs/4 sine whose true peak
    // is exactly -1 dBTP it reads about -0.4 (shown here, so the exception stays honest).
    let steady = dir.join("fs4-steady.wav");
    let n = 44_100 * 5;
    let amp = 10f64.powf(-1.0 / 20.0);
    let sine: Vec<f32> = (0..n)
        .map(|i| {
            (amp * (std::f64::consts::FRAC_PI_2 * i as f64 + std::f64::consts::FRAC_PI_4).sin())
                as f32
        })
        .collect();
    write_wav_f32(&steady, 44_100, &[sine.clone(), sine])?;
    let (_, ff_steady) = ffmpeg_loudness(&steady)?;
    let ideal_steady = ideal_true_peak(python, &steady)?;
    let ebu_steady = ebur128_true_peak(&steady)?;
    println!(
        "  steady fs/4 sine, true peak -1.000 dBTP by construction: ideal 16x {ideal_steady:+.3}, libebur128 {ebu_steady:+.3}, ffmpeg {ff_steady:+.1}"
    );
    if (ideal_steady + 1.0).abs() > 0.01 || ff_steady < -0.9 {
        failures.push(format!(
            "the meters' behaviour on a steady fs/4 sine changed (ideal {ideal_steady:+.3}, ffmpeg {ff_steady:+.1}): revisit the fs/4 exception"
        ));
    }

    for (name, master, to) in &masters {
        let out = dir.join(format!("out-{name}"));
        let (ok, stdout, stderr) = deliver(lathe, master, &out, to, &["--force"])?;
        let master_tp = ebur128_true_peak(master).unwrap_or(f64::NAN);
        println!(
            "  {name} (libebur128 {master_tp:+.2} dBTP) → --to {to}: exit {}",
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            failures.push(format!("{name}: {stdout}{stderr}"));
            continue;
        }
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json"))?)?;
        for d in report["deliverables"].as_array().into_iter().flatten() {
            let file = out.join(d["file"].as_str().unwrap_or(""));
            let m = &report["master"];
            let master = (
                m["frames"].as_u64().unwrap_or(0),
                m["sample_rate"].as_u64().unwrap_or(1),
            );
            let pcm = d["format"].as_str() != Some("mp3");
            // Dither only where the word length drops: float masters, fewer bits than the
            // master's, or samples that changed (resampled, re-limited).
            let want_dither = match m["bits"].as_u64() {
                None => true,
                Some(master_bits) => {
                    d["bits"].as_u64().unwrap_or(0) < master_bits
                        || d["resampled"].as_bool() == Some(true)
                        || d["relimited"].as_bool() == Some(true)
                }
            };
            if pcm && d["dithered"].as_bool() != Some(want_dither) {
                failures.push(format!(
                    "{name} {}: dithered = {}",
                    d["name"], d["dithered"]
                ));
            }
            for b in check_file(&file, d, python, &scratch, strictness(name), master)? {
                failures.push(format!("{name} {}: {b}", d["name"]));
            }
        }
        if name == "music-hot" {
            failures.extend(codec_check_by_ffmpeg(&out, &report, &scratch)?);
        }
        for png in ["loudness.png", "spectrum.png"] {
            let bytes = std::fs::read(out.join(png)).unwrap_or_default();
            if !bytes.starts_with(b"\x89PNG") || bytes.len() < 10_000 {
                failures.push(format!("{name}: {png} missing or empty"));
            }
        }
    }

    // Dither only where the word length drops: the 24-bit master's own-rate 24-bit WAV is the
    // master sample for sample (read by hound), its 16-bit files are dithered.
    let out = dir.join("out-music-96k-24bit");
    let read_ints = |p: &Path| -> Result<Vec<i32>> {
        Ok(hound::WavReader::open(p)?
            .samples::<i32>()
            .collect::<Result<_, _>>()?)
    };
    match read_ints(&out.join("music-96k-24bit.native-24.wav")) {
        Ok(native) => {
            let same = native == read_ints(&hi)?;
            println!(
                "  24-bit master → wav-native-24: {}",
                if same {
                    "identical (no dither)"
                } else {
                    "DIFFERS"
                }
            );
            if !same {
                failures.push("wav-native-24 of a 24-bit master is not the master".into());
            }
        }
        Err(e) => failures.push(format!(
            "wav-native-24 of the 24-bit master unreadable: {e:#}"
        )),
    }

    // Bad input: each refused with a reason, nothing written.
    let bad_dir = dir.join("bad");
    let truncated = dir.join("truncated.wav");
    let bytes = std::fs::read(&hi)?;
    std::fs::write(&truncated, &bytes[..bytes.len() / 2])?;
    type Case<'a> = (&'a str, PathBuf, &'a str, Vec<&'a str>, i32, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unknown --to",
            hi.clone(),
            "wav-44100-20",
            vec![],
            2,
            "valid names",
        ),
        (
            "bad ISRC",
            hi.clone(),
            "cd-files",
            vec!["--isrc", "GB-AAA-26-0001"],
            2,
            "ISRC",
        ),
        (
            "bad UPC check digit",
            hi.clone(),
            "cd-files",
            vec!["--upc", "0123456789013"],
            2,
            "check digit",
        ),
        (
            "truncated master",
            truncated,
            "cd-files",
            vec![],
            1,
            "truncated",
        ),
        (
            "hi-res from 44.1 kHz",
            tracks[0].clone(),
            "flac-hires",
            vec![],
            2,
            "hi-res",
        ),
    ];
    for (what, master, to, extra, code, says) in cases {
        std::fs::remove_dir_all(&bad_dir).ok();
        let out = Command::new(lathe)
            .arg("deliver")
            .arg(&master)
            .arg("-o")
            .arg(&bad_dir)
            .args(["--to", to])
            .args(extra)
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        let ok =
            out.status.code() == Some(code) && err.contains(says) && visible(&bad_dir).is_empty();
        println!("  {what}: exit {:?}, {}", out.status.code(), err.trim());
        if !ok {
            failures.push(format!("{what}: exit {:?}, {err}", out.status.code()));
        }
    }
    // A folder that holds files is refused without --overwrite.
    let (ok, _, err) = deliver(lathe, &hi, &out, "cd-files", &[])?;
    println!("  existing folder: {}", err.trim());
    if ok || !err.contains("--overwrite") {
        failures.push("an existing folder with files was not refused".into());
    }
    // Mono stays mono unless --stereo.
    let mono = dir.join("mono.wav");
    ffmpeg(&[
        "-i",
        &tracks[2].to_string_lossy(),
        "-ac",
        "1",
        "-c:a",
        "pcm_s16le",
        &mono.to_string_lossy(),
    ])?;
    for (extra, want) in [(vec![], 1u64), (vec!["--stereo"], 2)] {
        std::fs::remove_dir_all(&bad_dir).ok();
        let mut args = extra.clone();
        args.push("--no-codec-check");
        let (ok, _, err) = deliver(lathe, &mono, &bad_dir, "wav-44100-16", &args)?;
        let ch = ffprobe(&bad_dir.join("mono.44100-16.wav"))
            .ok()
            .and_then(|p| p["streams"][0]["channels"].as_u64());
        println!("  mono master {extra:?}: {ch:?} channels");
        if !ok || ch != Some(want) {
            failures.push(format!("mono {extra:?}: {ch:?} channels {err}"));
        }
    }
    // Extreme rates: 8 kHz and 384 kHz masters.
    for rate in [8_000u32, 384_000] {
        let m = dir.join(format!("rate-{rate}.wav"));
        ffmpeg(&[
            "-i",
            &tracks[0].to_string_lossy(),
            "-t",
            "8",
            "-ar",
            &rate.to_string(),
            "-c:a",
            "pcm_f32le",
            &m.to_string_lossy(),
        ])?;
        std::fs::remove_dir_all(&bad_dir).ok();
        let (ok, out, err) = deliver(
            lathe,
            &m,
            &bad_dir,
            "wav-native-24,wav-44100-16,flac-native-24,mp3-320",
            &["--no-codec-check", "--force"],
        )?;
        println!(
            "  {rate} Hz master: {}",
            if ok { "4 files verified" } else { "FAILED" }
        );
        if !ok {
            failures.push(format!("{rate} Hz master: {out}{err}"));
        }
    }

    // Interrupted: killed mid-run, nothing that looks finished is left.
    let long = dir.join("long-96k.wav");
    ffmpeg(&[
        "-stream_loop",
        "5",
        "-i",
        &hi.to_string_lossy(),
        "-c:a",
        "pcm_s24le",
        &long.to_string_lossy(),
    ])?;
    std::fs::remove_dir_all(&bad_dir).ok();
    let mut child = Command::new(lathe)
        .arg("deliver")
        .arg(&long)
        .arg("-o")
        .arg(&bad_dir)
        .args(["--to", "all", "--no-codec-check"])
        .spawn()?;
    // Kill it once some outputs have been written and verified (a second `.partial-` file
    // appears: the first output is done), before the run ends.
    let started = std::time::Instant::now();
    let partials = || {
        std::fs::read_dir(&bad_dir)
            .map(|r| {
                r.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".partial-"))
                    .count()
            })
            .unwrap_or(0)
    };
    while partials() < 2 && started.elapsed().as_secs() < 60 && child.try_wait()?.is_none() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let seen = partials();
    let finished_early = child.try_wait()?.is_some();
    child.kill().ok();
    child.wait()?;
    let left = visible(&bad_dir);
    println!(
        "  killed after {:.1} s with {seen} files being written or verified: visible audio files {left:?}",
        started.elapsed().as_secs_f64()
    );
    if finished_early || seen < 2 || !left.is_empty() {
        failures.push(format!(
            "interrupted run left {left:?} (finished early: {finished_early})"
        ));
    }
    // Full disk: a 2 MB file-size limit (SIGXFSZ ignored, so writes fail with EFBIG).
    std::fs::remove_dir_all(&bad_dir).ok();
    let (ok, _, err) = output(Command::new("bash").arg("-c").arg(format!(
        "trap '' XFSZ; ulimit -f 2048; exec '{}' deliver '{}' -o '{}' --to wav-native-24 --no-codec-check",
        lathe.display(),
        hi.display(),
        bad_dir.display()
    )))?;
    let left = visible(&bad_dir);
    println!("  disk full: {} ; visible audio files {left:?}", err.trim());
    if ok || !left.is_empty() || !err.contains("cannot write") {
        failures.push(format!("full disk: exit ok {ok}, left {left:?}, {err}"));
    }

    if !failures.is_empty() {
        for f in &failures {
            println!("  FAILED: {f}");
        }
        bail!("{} deliverable check(s) failed", failures.len());
    }
    Ok(())
}

/// `cargo xtask bench`: a 4-minute 96 kHz stereo 24-bit master (released music, looped)
/// delivered to `all`: wall time on this machine, and x-realtime per output kind (each output's
/// own wall time while they run in parallel).
pub fn deliver_bench(lathe: &Path) -> Result<()> {
    let tracks = crate::music::fetch()?;
    let dir = target_dir().join("bench-deliver");
    std::fs::create_dir_all(&dir)?;
    let master = dir.join("master-4min-96k.wav");
    if !master.exists() {
        ffmpeg(&[
            "-stream_loop",
            "-1",
            "-i",
            &tracks[0].to_string_lossy(),
            "-t",
            "240",
            "-ar",
            "96000",
            "-af",
            "volume=-3dB",
            "-c:a",
            "pcm_s24le",
            &master.to_string_lossy(),
        ])?;
    }
    for (label, extra) in [
        ("all, with the Opus/Vorbis/AAC check", &[][..]),
        ("all, --no-codec-check", &["--no-codec-check"][..]),
    ] {
        let out = dir.join("out");
        std::fs::remove_dir_all(&out).ok();
        let start = std::time::Instant::now();
        let (ok, stdout, stderr) = output(
            Command::new(lathe)
                .arg("deliver")
                .arg(&master)
                .arg("-o")
                .arg(&out)
                .args(["--to", "all", "--force"])
                .args(extra),
        )?;
        let wall = start.elapsed().as_secs_f64();
        ensure!(ok, "lathe deliver failed: {stdout}{stderr}");
        println!("lathe deliver, 4 min 96 kHz stereo master → {label}: {wall:.1} s wall");
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json"))?)?;
        for d in report["deliverables"].as_array().into_iter().flatten() {
            let s = d["seconds"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  {:<14} {:6.1} s  {:6.1}x realtime",
                d["name"].as_str().unwrap_or("?"),
                s,
                240.0 / s
            );
        }
    }
    Ok(())
}

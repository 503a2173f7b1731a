//! The `lathe` binary as a user runs it: exit codes, one-line errors, JSON output.

use std::path::PathBuf;
use std::process::Command;

fn lathe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
}

/// `name` in this run's scratch folder (created).
fn it_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lathe-cli-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn tone_wav(name: &str, dbfs: f64) -> PathBuf {
    let path = it_path(name);
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    let amp = 10f64.powf(dbfs / 20.0) * 8_388_607.0;
    for n in 0..48_000 * 12 {
        let v = (amp * (std::f64::consts::TAU * 1000.0 * f64::from(n) / 48_000.0).sin()) as i32;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    path
}

#[test]
fn target_pass_and_miss_set_the_exit_code() {
    let f = tone_wav("ebu.wav", -23.0);
    let ok = lathe()
        .args(["analyze", "--target", "ebu-r128"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        text.contains("integrated") && text.contains("-23.0 LUFS"),
        "{text}"
    );
    let miss = lathe()
        .args(["analyze", "--target", "spotify"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(miss.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&miss.stdout).contains("Spotify turns this up"));
}

#[test]
fn json_has_one_object_per_file() {
    let a = tone_wav("a.wav", -20.0);
    let b = tone_wav("b.wav", -30.0);
    let out = lathe()
        .args(["analyze", "--json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let i = |v: &serde_json::Value| v["integrated_lufs"].as_f64().unwrap();
    assert!((i(&lines[0]) + 20.0).abs() < 0.05 && (i(&lines[1]) + 30.0).abs() < 0.05);
    assert_eq!(lines[0]["channels"], 2);
}

#[test]
fn unreadable_files_fail_with_one_line_and_the_rest_still_run() {
    let good = tone_wav("good.wav", -20.0);
    let bad = good.with_file_name("bad.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEjunkjunk").unwrap();
    let out = lathe()
        .arg("analyze")
        .arg(&bad)
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.wav"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("good.wav"));
    let usage = lathe()
        .args(["analyze", "--target", "mars"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// A short programme-like WAV (`channels` channels, noise bursts over a tone) at `sr`.
fn programme_wav(name: &str, channels: u16, sr: u32, dbfs: f64) -> PathBuf {
    let path = it_path(name);
    let spec = hound::WavSpec {
        channels,
        sample_rate: sr,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    let amp = 10f64.powf(dbfs / 20.0) * 8_388_607.0;
    let mut seed = 0x1234_5678u32;
    for n in 0..sr * 4 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = f64::from(seed) / f64::from(u32::MAX) - 0.5;
        let burst = if (n / (sr / 4)).is_multiple_of(2) {
            1.0
        } else {
            0.3
        };
        let t = f64::from(n) / f64::from(sr);
        let x = 0.5 * (std::f64::consts::TAU * 220.0 * t).sin() + burst * noise;
        for _ in 0..channels {
            w.write_sample((amp * x) as i32).unwrap();
        }
    }
    w.finalize().unwrap();
    path
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn master_writes_a_verified_16_bit_file_on_the_grid() {
    let input = programme_wav("m-in.wav", 2, 44_100, -20.0);
    let output = input.with_file_name("m-out.wav");
    let out = lathe()
        .arg("master")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .args(["--set", "Drive=18", "--bits", "16", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["bits"], 16);
    assert!(report["after"]["integrated_lufs"].as_f64().unwrap() > -20.0);
    let mut r = hound::WavReader::open(&output).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 44_100, 16)
    );
    assert_eq!(
        r.duration(),
        44_100 * 4,
        "every input frame, no latency left"
    );
    let peak = r.samples::<i32>().map(|s| s.unwrap().abs()).max().unwrap();
    // Ceiling −1 dBTP: no sample above −1 dBFS (32767 · 10^(−1/20) = 29204).
    assert!(peak > 25_000 && peak <= 29_204, "{peak}");
    // No partial file left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".m-out.wav.lathe-partial")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn master_refuses_what_it_cannot_do_with_one_line() {
    let input = programme_wav("r-in.wav", 2, 48_000, -20.0);
    let same = lathe()
        .arg("master")
        .arg(&input)
        .arg("-o")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(1));
    assert!(
        stderr_of(&same).contains("is the input file"),
        "{}",
        stderr_of(&same)
    );
    let six = programme_wav("r-6ch.wav", 6, 48_000, -20.0);
    let out = lathe()
        .arg("master")
        .arg(&six)
        .arg("-o")
        .arg(six.with_file_name("r-6ch-out.wav"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("Lathe Master takes mono or stereo"));
    assert!(!six.with_file_name("r-6ch-out.wav").exists());
    for bad in [
        &["--set", "Drvie=3"][..],
        &["--set", "Drive=40"],
        &["--ceiling", "+2"],
        &["--target", "nowhere"],
        &["--preset", "No Such"],
        &["--preset", "Glue only", "--target", "spotify"],
    ] {
        let out = lathe()
            .arg("master")
            .arg(&input)
            .arg("-o")
            .arg(input.with_file_name("r-out.wav"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert_eq!(
            stderr_of(&out).trim().lines().count(),
            1,
            "{bad:?}: {}",
            stderr_of(&out)
        );
    }
    let settings = input.with_file_name("broken.toml");
    std::fs::write(&settings, "[limiter]\nceiling_dbtp = 3.0\n").unwrap();
    let out = lathe()
        .arg("master")
        .arg(&input)
        .arg("-o")
        .arg(input.with_file_name("r-out.wav"))
        .arg("--settings")
        .arg(&settings)
        .output()
        .unwrap();
    assert!(
        stderr_of(&out).contains("limiter.ceiling_dbtp"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn master_says_when_the_target_is_out_of_reach_and_exits_3() {
    let input = programme_wav("u-in.wav", 1, 48_000, -30.0);
    let output = input.with_file_name("u-out.wav");
    let out = lathe()
        .arg("master")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .args(["--target", "-0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("out of reach"));
    assert!(output.exists(), "rendered at the best it can");
}

#[test]
fn print_settings_help_and_version() {
    let out = lathe()
        .args([
            "master",
            "--print-settings",
            "--preset",
            "Loud CD",
            "--set",
            "Drive=3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dither_bits = 16") && text.contains("drive_db = 3.0"),
        "{text}"
    );
    for args in [
        &["--help"][..],
        &["--version"],
        &["master", "--help"],
        &["analyze", "--help"],
    ] {
        assert_eq!(
            lathe().args(args).output().unwrap().status.code(),
            Some(0),
            "{args:?}"
        );
    }
    assert_eq!(
        lathe().arg("frobnicate").output().unwrap().status.code(),
        Some(2)
    );
}

/// Runs `lathe ARGS` with a `mount_opts` tmpfs mounted at `dir` (created), in a private mount
/// namespace (`unshare`: works unprivileged on Debian 12 and as root). Returns lathe's output and
/// the files the mount held when it had finished.
fn lathe_on_tmpfs(
    mount_opts: &str,
    dir: &std::path::Path,
    args: &[&str],
) -> (std::process::Output, Vec<String>) {
    const MARK: &str = "== files left ==";
    std::fs::create_dir_all(dir).unwrap();
    let script = format!(
        "mount -t tmpfs -o {mount_opts} lathe-test \"$1\" || exit 99; dir=$1; shift; \
         \"$@\"; code=$?; echo '{MARK}'; find \"$dir\" -type f; exit $code"
    );
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_lathe"))
        .args(args)
        .output()
        .expect("unshare (util-linux) runs");
    assert_ne!(
        out.status.code(),
        Some(99),
        "mount failed: {}",
        stderr_of(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let files = stdout
        .rsplit_once(MARK)
        .map(|(_, files)| {
            files
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    (out, files)
}

#[test]
fn a_full_disk_or_read_only_target_gives_a_clear_error_and_no_output() {
    let input = programme_wav("disk-in.wav", 2, 48_000, -20.0);
    let input = input.to_str().unwrap();
    let root = std::env::temp_dir().join(format!("lathe-cli-disk-{}", std::process::id()));
    // 4 s of 24-bit stereo at 48 kHz is 1.1 MB: a 256 KiB disk fills up mid-file.
    for (opts, dir, expect) in [
        ("size=256k", root.join("full"), "No space left"),
        ("ro", root.join("ro"), "Read-only file system"),
    ] {
        let target = dir.join("out.wav");
        let (out, files) = lathe_on_tmpfs(
            opts,
            &dir,
            &["master", input, "-o", target.to_str().unwrap()],
        );
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "lathe master on {opts}: {err}");
        assert!(err.contains(expect), "lathe master on {opts}: {err}");
        assert!(files.is_empty(), "lathe master on {opts} left {files:?}");

        let release = dir.join("release");
        let (out, files) = lathe_on_tmpfs(
            opts,
            &dir,
            &[
                "deliver",
                input,
                "-o",
                release.to_str().unwrap(),
                "--to",
                "wav-48000-24",
            ],
        );
        let err = stderr_of(&out);
        assert_ne!(out.status.code(), Some(0), "lathe deliver on {opts}: {err}");
        assert!(err.contains(expect), "lathe deliver on {opts}: {err}");
        let audio: Vec<&String> = files.iter().filter(|f| f.ends_with(".wav")).collect();
        assert!(
            audio.is_empty(),
            "lathe deliver on {opts} left {audio:?}: {err}"
        );
    }
}

/// 20 s of stereo programme-like noise at 48 kHz (float WAV): pink-ish, the channels partly
/// correlated, so mid and side both fill every band.
fn stereo_noise_wav(name: &str) -> PathBuf {
    let path = it_path(name);
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    // xorshift noise, as in `programme_wav`.
    let mut seed = 0x9e37_79b9u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        f64::from(seed) / f64::from(u32::MAX) - 0.5
    };
    let mut pink = [[0.0f64; 3]; 2];
    for _ in 0..48_000 * 20 {
        let shared = rnd();
        for p in &mut pink {
            let white = 0.6 * shared + 0.4 * rnd();
            p[0] = 0.997 * p[0] + 0.03 * white;
            p[1] = 0.96 * p[1] + 0.2 * white;
            p[2] = 0.6 * p[2] + 0.5 * white;
            w.write_sample((0.25 * (p[0] + p[1] + p[2] + 0.2 * white)) as f32)
                .unwrap();
        }
    }
    w.finalize().unwrap();
    path
}

fn ffmpeg_filter(input: &std::path::Path, filter: &str, output: &std::path::Path) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-af", filter, "-c:a", "pcm_f32le"])
        .arg(output)
        .status()
        .expect("ffmpeg runs (CI installs it)");
    assert!(status.success(), "ffmpeg {filter}");
}

/// ffmpeg's own integrated loudness of a file (its ebur128 filter): an oracle sharing no code.
fn ffmpeg_integrated(path: &std::path::Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(path)
        .args(["-af", "ebur128", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = text.rsplit("Summary:").next().unwrap();
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("I:"))
        .and_then(|v| v.trim().trim_end_matches("LUFS").trim().parse().ok())
        .expect("ffmpeg printed I:")
}

fn compare_json(mix: &std::path::Path, reference: &std::path::Path) -> serde_json::Value {
    let out = lathe()
        .args(["compare", "--json"])
        .arg(mix)
        .arg(reference)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `lathe compare` against changes made by a tool that shares no code with Lathe (ffmpeg): a
/// +6 dB high shelf on both channels, and the side alone lowered by 6.02 dB (ffmpeg's pan
/// matrix). The difference curves must show them within 0.5 dB in every band 40 Hz–16 kHz, and
/// the loudness the offset is built on must agree with ffmpeg's ebur128 within 0.1 LU.
#[test]
fn compare_sees_known_tone_and_width_changes() {
    let reference = stereo_noise_wav("cmp-ref.wav");
    let shelf = reference.with_file_name("cmp-shelf.wav");
    ffmpeg_filter(&reference, "highshelf=f=1000:g=6:t=q:w=0.5", &shelf);
    let narrow = reference.with_file_name("cmp-narrow.wav");
    ffmpeg_filter(
        &reference,
        "pan=stereo|c0=0.75*c0+0.25*c1|c1=0.25*c0+0.75*c1",
        &narrow,
    );

    let v = compare_json(&shelf, &reference);
    let bands: Vec<f64> = v["bands_hz"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    assert_eq!(bands.len(), 30);
    assert_eq!((bands[0], bands[29]), (25.0, 20_000.0));
    for key in [
        "integrated_lufs",
        "loudness_range_lu",
        "plr_db",
        "crest_db",
        "correlation",
        "width_per_band",
    ] {
        assert!(!v["mix"][key].is_null(), "mix.{key} missing");
        assert!(
            !v["references"][0][key].is_null(),
            "references[0].{key} missing"
        );
    }
    let (i_mix, i_ref) = (
        v["mix"]["integrated_lufs"].as_f64().unwrap(),
        v["references"][0]["integrated_lufs"].as_f64().unwrap(),
    );
    for (lathe_i, file) in [(i_mix, &shelf), (i_ref, &reference)] {
        let ff = ffmpeg_integrated(file);
        assert!(
            (lathe_i - ff).abs() <= 0.1,
            "{}: lathe {lathe_i}, ffmpeg {ff}",
            file.display()
        );
    }
    let offset = v["level_offset_db"].as_f64().unwrap();
    assert!((offset - (i_mix - i_ref)).abs() < 0.01, "offset {offset}");
    // ffmpeg's shelf (RBJ, slope 0.5): gain at each centre from its own transfer function is
    // not needed – the shelf is flat (±0.3 dB of 0 and of +6) an octave and more either side of
    // 1 kHz, which is what is checked; the difference is reference − mix = −gain + offset.
    let diff = |v: &serde_json::Value, key: &str, i: usize| v[key][i].as_f64().unwrap();
    for (i, &f) in bands.iter().enumerate() {
        if !(40.0..=16_000.0).contains(&f) {
            continue;
        }
        let expected = if f <= 200.0 {
            offset
        } else if f >= 5_000.0 {
            offset - 6.0
        } else {
            continue;
        };
        for key in ["mid_diff_db", "side_diff_db"] {
            let d = diff(&v, key, i);
            assert!(
                (d - expected).abs() <= 0.5,
                "shelf, {key} at {f} Hz: {d:.2}, expected {expected:.2}"
            );
        }
    }

    let v = compare_json(&narrow, &reference);
    let offset = v["level_offset_db"].as_f64().unwrap();
    for (i, &f) in bands.iter().enumerate() {
        if !(40.0..=16_000.0).contains(&f) {
            continue;
        }
        let (m, s) = (diff(&v, "mid_diff_db", i), diff(&v, "side_diff_db", i));
        assert!(
            (m - offset).abs() <= 0.5,
            "narrow, mid at {f} Hz: {m:.2} (offset {offset:.2})"
        );
        assert!(
            (s - offset - 6.02).abs() <= 0.5,
            "narrow, side at {f} Hz: {s:.2}, expected {:.2}",
            offset + 6.02
        );
    }
    let w = |k: &str| v["mix"]["width_per_band"][k].as_f64().unwrap();
    let wr = |k: &str| v["references"][0]["width_per_band"][k].as_f64().unwrap();
    for k in ["low", "low_mid", "mid", "high"] {
        // Side energy a quarter of the reference's.
        assert!(
            (w(k) / wr(k) - 0.25).abs() < 0.02,
            "width {k}: {} vs {}",
            w(k),
            wr(k)
        );
    }

    // Silence cannot be level-matched: a clear error.
    let silent = reference.with_file_name("cmp-silent.wav");
    ffmpeg_filter(&reference, "volume=0", &silent);
    let out = lathe()
        .arg("compare")
        .arg(&shelf)
        .arg(&silent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("silent"), "{}", stderr_of(&out));
}

/// `lathe master --match`: what it refuses, and a mono mix (no width to match).
#[test]
fn match_refuses_bad_requests_and_handles_mono() {
    let mix = stereo_noise_wav("match-mix.wav");
    let out = it_path("match-out.wav");
    let refuse = |args: &[&str], needle: &str| {
        let o = lathe()
            .arg("master")
            .arg(&mix)
            .arg("-o")
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr_of(&o));
        assert!(
            stderr_of(&o).contains(needle),
            "{args:?}: {}",
            stderr_of(&o)
        );
        assert!(!out.exists(), "{args:?} left a file");
    };
    let mix_text = mix.to_string_lossy().into_owned();
    refuse(&["--match", "tone,width"], "no reference file");
    refuse(
        &["--match", &mix_text, "--match-amount", "150"],
        "--match-amount",
    );
    refuse(
        &["--match", &mix_text, "--match-limit", "30"],
        "--match-limit",
    );
    refuse(
        &["--match", &mix_text, "--target", "-14"],
        "--target and --match",
    );
    refuse(&["--match", "/nonexistent/ref.wav"], "/nonexistent/ref.wav");
    refuse(
        &["--match", &mix_text, "--set", "Limiter=Off"],
        "limiter is off",
    );

    // A mono mix against a stereo reference: tone is matched, width is not.
    let mono = it_path("match-mono.wav");
    ffmpeg_filter(&mix, "pan=mono|c0=0.5*c0+0.5*c1,treble=g=-6:f=4000", &mono);
    let o = lathe()
        .arg("master")
        .arg(&mono)
        .arg("-o")
        .arg(&out)
        .args(["--match", &mix_text, "--match", "tone,width", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr_of(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["match"]["width_pct"].is_null(), "{}", v["match"]);
    let high = v["match"]["eq"][4]["gain_db"].as_f64().unwrap();
    assert!(
        high > 3.0,
        "high shelf {high} dB for a -6 dB treble cut: {}",
        v["match"]
    );
}

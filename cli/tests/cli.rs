//! The `lathe` binary as a user runs it: exit codes, one-line errors, JSON output.

use std::path::PathBuf;
use std::process::Command;

fn lathe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
}

fn tone_wav(name: &str, dbfs: f64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lathe-cli-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
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

//! `lathe master` checked from outside: bit-identity with the built `Lathe Master.clap` in the
//! project's CLAP host at several host block sizes, and the loudness target read back by
//! ffmpeg's `ebur128` filter (an independent BS.1770 implementation).

use crate::{run_cmd, target_dir, write_demo_mix};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every stage working, as users type it (the plugin's names and display values).
const BUSY: &[&str] = &[
    "Input Gain=1.5",
    "Low Cut=Subsonic 20 Hz",
    "Low Shelf Gain=2",
    "Bell 2 Gain=-1.5",
    "Bell 2 Q=2",
    "Bell 3 Placement=Side",
    "Bell 3 Gain=2",
    "High Shelf Gain=1",
    "Compressor=On",
    "Comp Threshold=-26",
    "Comp Auto Release=On",
    "Width=120",
    "Mono Bass=On",
    "Drive=6",
    "Ceiling=-1",
    "Output Gain=-0.3",
    "Dither=16-bit",
    "Noise Shaping=On",
];

fn read_float_wav(path: &Path) -> Result<(Vec<f32>, u16, u32)> {
    let mut r = hound::WavReader::open(path).with_context(|| path.display().to_string())?;
    let spec = r.spec();
    if spec.sample_format != hound::SampleFormat::Float || spec.bits_per_sample != 32 {
        bail!("{}: not a 32-bit float WAV", path.display());
    }
    let samples = r.samples::<f32>().collect::<Result<Vec<_>, _>>()?;
    Ok((samples, spec.channels, spec.sample_rate))
}

/// A mono copy of the demo mix, declared as 44.1 kHz: a second rate and channel count.
fn mono_44k(stereo: &Path, out: &Path) -> Result<()> {
    let mut r = hound::WavReader::open(stereo)?;
    let samples = r.samples::<i32>().collect::<Result<Vec<_>, _>>()?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(out, spec)?;
    for pair in samples.chunks(2) {
        w.write_sample((pair[0] + pair[1]) / 2)?;
    }
    w.finalize()?;
    Ok(())
}

/// `lathe master` vs the CLAP rendered by the test host at blocks 1/64/512/4096/random.
pub fn offline_equals_realtime(lathe: &Path, host: &Path, bundles: &Path) -> Result<()> {
    let dir = target_dir().join("test-offline");
    std::fs::create_dir_all(&dir)?;
    let stereo = dir.join("mix.wav");
    write_demo_mix(&stereo)?;
    let mono = dir.join("mix-mono-44k.wav");
    mono_44k(&stereo, &mono)?;
    let clap = bundles.join("Lathe Master.clap");
    let linear: Vec<&str> = BUSY
        .iter()
        .copied()
        .chain(["EQ Phase=Linear phase"])
        .collect();
    let cases: [(&str, &Path, &[&str]); 3] = [
        ("stereo 48 kHz, every stage", &stereo, BUSY),
        ("stereo 48 kHz, linear-phase EQ", &stereo, &linear),
        ("mono 44.1 kHz, every stage", &mono, BUSY),
    ];
    let mut failures = Vec::new();
    for (label, input, sets) in cases {
        let offline = dir.join("offline.wav");
        let mut cmd = Command::new(lathe);
        cmd.arg("master")
            .arg(input)
            .arg("-o")
            .arg(&offline)
            .args(["--bits", "32"]);
        for s in sets {
            cmd.args(["--set", s]);
        }
        run_cmd(&mut cmd)?;
        let (reference, channels, sr) = read_float_wav(&offline)?;
        for block in ["1", "64", "512", "4096", "random"] {
            let realtime: PathBuf = dir.join(format!("clap-{block}.wav"));
            let mut cmd = Command::new(host);
            cmd.arg("render").arg(&clap).args([
                "--id",
                "audio.lathe.master",
                "--block",
                block,
                "--seed",
                "7",
            ]);
            for s in sets {
                cmd.args(["--set", s]);
            }
            cmd.arg(input).arg(&realtime);
            let out = cmd.output()?;
            if !out.status.success() {
                bail!(
                    "CLAP render failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let (got, c, r) = read_float_wav(&realtime)?;
            let differing = reference
                .iter()
                .zip(&got)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            let largest = reference
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let same = (c, r) == (channels, sr) && got.len() == reference.len() && differing == 0;
            println!(
                "  {label}, host blocks {block:>6}: {} ({} samples, {differing} differ, largest difference {largest:e})",
                if same { "bit-identical" } else { "DIFFERENT" },
                got.len()
            );
            if !same {
                failures.push(format!("{label}, blocks {block}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "lathe master differs from the CLAP: {}",
            failures.join("; ")
        );
    }
    Ok(())
}

/// Integrated loudness and true peak by ffmpeg's ebur128 filter.
pub fn ffmpeg_loudness(path: &Path) -> Result<(f64, f64)> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .context("ffmpeg (apt-get install ffmpeg)")?;
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = text
        .rsplit("Summary:")
        .next()
        .context("no ebur128 summary from ffmpeg")?;
    let value = |key: &str| -> Result<f64> {
        summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {key} in ffmpeg's summary"))
    };
    Ok((value("I:")?, value("Peak:")?))
}

/// `lathe master --target` on the demo mix for several targets, read back by ffmpeg.
pub fn targets_by_ffmpeg(lathe: &Path) -> Result<()> {
    let dir = target_dir().join("test-offline");
    std::fs::create_dir_all(&dir)?;
    let mix = dir.join("mix.wav");
    write_demo_mix(&mix)?;
    let mut failures = Vec::new();
    for (target, lufs, ceiling, extra) in [
        ("spotify", -14.0, -1.0, &[][..]),
        ("apple-music", -16.0, -1.0, &[][..]),
        ("-10", -10.0, -1.0, &["--bits", "24"][..]),
        ("cd", -9.0, -0.3, &["--preset", "Loud CD"][..]),
        ("ebu-r128", -23.0, -1.0, &[][..]),
    ] {
        let out = dir.join(format!("target-{target}.wav"));
        let status = Command::new(lathe)
            .arg("master")
            .arg(&mix)
            .arg("-o")
            .arg(&out)
            .args(["--target", target])
            .args(extra)
            .status()?;
        let (i, tp) = ffmpeg_loudness(&out)?;
        let ok = status.success() && (i - lufs).abs() <= 0.1 && tp <= ceiling + 0.05;
        println!(
            "  --target {target}: ffmpeg reads {i:.1} LUFS (aim {lufs}), true peak {tp:.1} dBTP (ceiling {ceiling}): {}",
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            failures.push(target);
        }
    }
    if !failures.is_empty() {
        bail!("targets missed: {}", failures.join(", "));
    }
    Ok(())
}

//! What the platforms' own encoders do to the master, even when no lossy file is delivered:
//! Opus (YouTube), Ogg Vorbis (Spotify) and AAC (Apple Music, with ffmpeg's native encoder –
//! Apple's own is not free). Encoded and decoded with the `ffmpeg` program when it is
//! installed; measured with Lathe's meter.

use super::render::{self, Signal};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use std::path::Path;
use std::process::Command;

/// One codec's finding.
pub struct CodecCheck {
    pub platform: &'static str,
    pub codec: &'static str,
    /// Decoded true peak (dBTP) and samples at or past full scale; or why it was not measured.
    pub result: Result<(f64, u64), String>,
    pub lossy_ceiling_dbtp: f64,
}

/// (platform, codec label, ffmpeg encoder arguments, rate, container extension)
const CODECS: &[(&str, &str, &[&str], u32, &str)] = &[
    (
        "YouTube",
        "Opus 128 kb/s",
        &["-c:a", "libopus", "-b:a", "128k"],
        48_000,
        "opus",
    ),
    (
        "Spotify",
        "Ogg Vorbis 160 kb/s",
        &["-c:a", "libvorbis", "-b:a", "160k"],
        44_100,
        "ogg",
    ),
    (
        "Apple Music",
        "AAC 256 kb/s (ffmpeg aac)",
        &["-c:a", "aac", "-b:a", "256k"],
        44_100,
        "m4a",
    ),
];

/// Runs every codec check (in parallel).
pub fn check(master: &Signal, lossy_ceiling_dbtp: f64) -> Vec<CodecCheck> {
    let dir = std::env::temp_dir().join(format!("lathe-codecs-{}", std::process::id()));
    let prepared = std::fs::create_dir_all(&dir)
        .context("cannot create a temporary folder")
        .and_then(|()| write_float_wav(&dir.join("master.wav"), master));
    let out = CODECS
        .par_iter()
        .map(|&(platform, codec, encoder, rate, ext)| CodecCheck {
            platform,
            codec,
            result: match &prepared {
                Ok(()) => one(&dir, encoder, rate, ext).map_err(|e| format!("{e:#}")),
                Err(e) => Err(format!("{e:#}")),
            },
            lossy_ceiling_dbtp,
        })
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    out
}

fn write_float_wav(path: &Path, s: &Signal) -> Result<()> {
    let spec = hound::WavSpec {
        channels: s.channels.len() as u16,
        sample_rate: s.rate_hz,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).context("temporary WAV")?;
    for i in 0..s.frames() {
        for c in &s.channels {
            w.write_sample(c[i] as f32).context("temporary WAV")?;
        }
    }
    w.finalize().context("temporary WAV")?;
    Ok(())
}

fn ffmpeg(args: &[&str]) -> Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .context("ffmpeg is not installed")?;
    if !out.status.success() {
        bail!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn one(dir: &Path, encoder: &[&str], rate: u32, ext: &str) -> Result<(f64, u64)> {
    let master = dir.join("master.wav");
    let encoded = dir.join(format!("encoded.{ext}"));
    let decoded = dir.join(format!("decoded-{ext}.wav"));
    let m = master.to_string_lossy();
    let e = encoded.to_string_lossy();
    let d = decoded.to_string_lossy();
    let rate = rate.to_string();
    let mut args = vec!["-i", &m, "-ar", &rate];
    args.extend_from_slice(encoder);
    args.push(&e);
    ffmpeg(&args)?;
    ffmpeg(&["-i", &e, "-c:a", "pcm_f32le", &d])?;
    let reader = hound::WavReader::open(&decoded).context("reading ffmpeg's decoded file")?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let samples: Vec<f32> = reader
        .into_samples::<f32>()
        .collect::<Result<_, _>>()
        .context("reading ffmpeg's decoded file")?;
    let clipped = samples.iter().filter(|s| s.abs() >= 1.0).count() as u64;
    let signal = Signal {
        rate_hz: spec.sample_rate,
        channels: (0..channels)
            .map(|c| {
                samples
                    .iter()
                    .skip(c)
                    .step_by(channels)
                    .map(|&s| f64::from(s))
                    .collect()
            })
            .collect(),
    };
    Ok((
        render::measure(&signal, false).report.true_peak_max_dbtp,
        clipped,
    ))
}

//! What the platforms' own encoders do to the master as delivered (held at the ceiling), even
//! when no lossy file is delivered:
//! Opus (YouTube), Ogg Vorbis (Spotify) and AAC (Apple Music, with ffmpeg's native encoder –
//! Apple's own is not free). Encoded and decoded with the `ffmpeg` program when it is
//! installed; measured with Lathe's meter.

use super::render::{self, Signal};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

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

/// Runs every codec check, each on its own thread driving its own `ffmpeg` processes (not on
/// the rayon pool: the threads mostly wait on ffmpeg, and the deliverables keep the pool). The
/// master goes to the encoder through a pipe and the decoded audio comes back through one: no
/// temporary audio files.
pub fn check(master: &Signal, lossy_ceiling_dbtp: f64) -> Vec<CodecCheck> {
    let dir = std::env::temp_dir().join(format!("lathe-codecs-{}", std::process::id()));
    let prepared = std::fs::create_dir_all(&dir).context("cannot create a temporary folder");
    let out = std::thread::scope(|scope| {
        let jobs: Vec<_> = CODECS
            .iter()
            .map(|&(platform, codec, encoder, rate, ext)| {
                let (dir, prepared) = (&dir, &prepared);
                let job = scope.spawn(move || match prepared {
                    Ok(()) => one(dir, master, encoder, rate, ext).map_err(|e| format!("{e:#}")),
                    Err(e) => Err(format!("{e:#}")),
                });
                (platform, codec, job)
            })
            .collect();
        jobs.into_iter()
            .map(|(platform, codec, job)| CodecCheck {
                platform,
                codec,
                result: job
                    .join()
                    .unwrap_or_else(|_| Err("the codec check panicked".into())),
                lossy_ceiling_dbtp,
            })
            .collect()
    });
    std::fs::remove_dir_all(&dir).ok();
    out
}

/// `ffmpeg` with the common flags; stdin/stdout as given.
fn ffmpeg(args: &[&str], stdin: Stdio, stdout: Stdio) -> Result<std::process::Child> {
    Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .context("ffmpeg is not installed")
}

/// Waits for ffmpeg; its error text on failure.
fn finish(child: std::process::Child) -> Result<Vec<u8>> {
    let out = child.wait_with_output().context("ffmpeg")?;
    if !out.status.success() {
        bail!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn one(dir: &Path, master: &Signal, encoder: &[&str], rate: u32, ext: &str) -> Result<(f64, u64)> {
    let encoded = dir.join(format!("encoded.{ext}"));
    let e = encoded.to_string_lossy();
    let (in_rate, in_channels) = (
        master.rate_hz.to_string(),
        master.channels.len().to_string(),
    );
    let rate = rate.to_string();
    // Encode: raw 32-bit float from a pipe, converted to the platform's rate by ffmpeg.
    let mut args = vec![
        "-f",
        "f32le",
        "-ar",
        &in_rate,
        "-ac",
        &in_channels,
        "-i",
        "pipe:0",
        "-ar",
        &rate,
    ];
    args.extend_from_slice(encoder);
    args.push(&e);
    let mut child = ffmpeg(&args, Stdio::piped(), Stdio::null())?;
    let mut stdin = child.stdin.take().context("ffmpeg's input")?;
    let mut chunk = Vec::with_capacity(65_536 * 4 * master.channels.len());
    let mut fed = Ok(());
    for start in (0..master.frames()).step_by(65_536) {
        chunk.clear();
        for i in start..(start + 65_536).min(master.frames()) {
            for c in &master.channels {
                chunk.extend_from_slice(&(c[i] as f32).to_le_bytes());
            }
        }
        fed = stdin.write_all(&chunk);
        if fed.is_err() {
            break;
        }
    }
    drop(stdin);
    let encoded_ok = finish(child);
    fed.context("feeding ffmpeg")?;
    encoded_ok?;
    // Decode to raw 32-bit float on a pipe.
    let child = ffmpeg(
        &["-i", &e, "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"],
        Stdio::null(),
        Stdio::piped(),
    )?;
    let bytes = finish(child)?;
    let channels = master.channels.len();
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let clipped = samples.iter().filter(|s| s.abs() >= 1.0).count() as u64;
    let signal = Signal {
        rate_hz: rate.parse().context("rate")?,
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

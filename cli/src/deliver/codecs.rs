//! What the platforms' own encoders do to the master as delivered (held at the ceiling), even
//! when no lossy file is delivered:
//! Opus (YouTube), Ogg Vorbis (Spotify) and AAC (Apple Music, with ffmpeg's native encoder –
//! Apple's own is not free). Encoded and decoded with the `ffmpeg` program when it is
//! installed; measured with Lathe's meter.

use super::render::Signal;
use anyhow::{Context, Result, bail};
use lathe_dsp::true_peak::TruePeakMeter;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

/// `ffmpeg` with the common flags; stdin/stdout as given, its messages into `log` (a file,
/// so a chatty ffmpeg can never block on a full stderr pipe while we write to it).
fn ffmpeg(args: &[&str], stdin: Stdio, stdout: Stdio, log: &Path) -> Result<Child> {
    let log = std::fs::File::create(log).context("cannot create a temporary file")?;
    Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(log)
        .spawn()
        .context("ffmpeg is not installed")
}

/// Waits for ffmpeg; its own message on failure.
fn finish(mut child: Child, log: &Path) -> Result<()> {
    let status = child.wait().context("ffmpeg")?;
    if !status.success() {
        let message = std::fs::read_to_string(log).unwrap_or_default();
        bail!("ffmpeg failed: {}", message.trim());
    }
    Ok(())
}

fn one(dir: &Path, master: &Signal, encoder: &[&str], rate: u32, ext: &str) -> Result<(f64, u64)> {
    let encoded = dir.join(format!("encoded.{ext}"));
    let log = dir.join(format!("ffmpeg-{ext}.txt"));
    let e = encoded.to_string_lossy();
    let channels = master.channels.len();
    let (in_rate, in_channels) = (master.rate_hz.to_string(), channels.to_string());
    let out_rate = rate.to_string();
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
        &out_rate,
    ];
    args.extend_from_slice(encoder);
    args.push(&e);
    let mut child = ffmpeg(&args, Stdio::piped(), Stdio::null(), &log)?;
    let mut stdin = child.stdin.take().context("ffmpeg's input")?;
    let mut chunk = Vec::with_capacity(65_536 * 4 * channels);
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
    // ffmpeg's own message first: a refused encoder closes the pipe, and "broken pipe" says
    // nothing.
    finish(child, &log)?;
    fed.context("feeding ffmpeg")?;
    // Decode to raw 32-bit float on a pipe, measured as it arrives (nothing held: an hour-long
    // master must not cost gigabytes here).
    let mut child = ffmpeg(
        &["-i", &e, "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"],
        Stdio::null(),
        Stdio::piped(),
        &log,
    )?;
    let mut stdout = child.stdout.take().context("ffmpeg's output")?;
    let mut meters: Vec<TruePeakMeter> = (0..channels)
        .map(|_| TruePeakMeter::new(f64::from(rate)))
        .collect();
    let frame_bytes = 4 * channels;
    let mut bytes = vec![0u8; 8192 * frame_bytes];
    let mut filled = 0;
    let mut planar: Vec<Vec<f32>> = vec![Vec::with_capacity(8192); channels];
    let (mut frames, mut clipped) = (0u64, 0u64);
    loop {
        let got = stdout
            .read(&mut bytes[filled..])
            .context("reading ffmpeg's output")?;
        filled += got;
        let whole = filled - filled % frame_bytes;
        if whole > 0 && (got == 0 || filled == bytes.len()) {
            for p in &mut planar {
                p.clear();
            }
            for (k, b) in bytes[..whole].chunks_exact(4).enumerate() {
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                clipped += u64::from(v.abs() >= 1.0);
                planar[k % channels].push(v);
            }
            for (m, p) in meters.iter_mut().zip(&planar) {
                m.process(p);
            }
            frames += (whole / frame_bytes) as u64;
            bytes.copy_within(whole..filled, 0);
            filled -= whole;
        }
        if got == 0 {
            break;
        }
    }
    drop(stdout);
    finish(child, &log)?;
    // The whole programme came back (codecs pad and trim a little; a truncated feed or
    // decode would not).
    let expected = master.frames() as f64 * f64::from(rate) / f64::from(master.rate_hz);
    if (frames as f64 - expected).abs() > 0.001 * expected + 4096.0 {
        bail!("decoded {frames} frames, expected about {expected:.0}");
    }
    let tp = meters.iter_mut().map(|m| m.finish()).fold(0.0f32, f32::max);
    Ok((20.0 * f64::from(tp).log10(), clipped))
}

/// The report's entries when the check itself could not run.
pub fn failed(why: &str, lossy_ceiling_dbtp: f64) -> Vec<CodecCheck> {
    CODECS
        .iter()
        .map(|&(platform, codec, ..)| CodecCheck {
            platform,
            codec,
            result: Err(why.to_owned()),
            lossy_ceiling_dbtp,
        })
        .collect()
}

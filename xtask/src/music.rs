//! Released music for the tests, rebuilt from Debian's package archive (freely licensed, never
//! committed): `cargo xtask music` downloads three data packages with `apt-get download`, unpacks
//! them with `dpkg-deb` and cuts 30 s excerpts with ffmpeg into `target/music/`.
//!
//! | file | genre | source (package, file) | licence |
//! |---|---|---|---|
//! | metal-chaos-god.wav | metal | fretsonfire-songs-muldjord, muldjord/chaos_god song + guitar stems | CC BY-SA 3.0 (Muldjord) |
//! | orchestral-mendelssohn.wav | orchestral | freedink-data, dink/Sound/106.ogg (Mendelssohn, Violin Concerto op. 64, 1st mvt.) | as the package's README-REPLACEMENTS states |
//! | electronic-electricity.wav | electronic | brainparty-data, brainparty/electricity.ogg | CC BY-SA 3.0 |

use crate::{run_cmd, target_dir};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (output name, package, stems inside the package, excerpt start s).
const TRACKS: &[(&str, &str, &[&str], u32)] = &[
    (
        "metal-chaos-god",
        "fretsonfire-songs-muldjord",
        &[
            "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/song.ogg",
            "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/guitar.ogg",
        ],
        60,
    ),
    (
        "orchestral-mendelssohn",
        "freedink-data",
        &["usr/share/games/dink/dink/Sound/106.ogg"],
        30,
    ),
    (
        "electronic-electricity",
        "brainparty-data",
        &["usr/share/games/brainparty/electricity.ogg"],
        20,
    ),
];

/// Excerpt length (s).
const SECONDS: u32 = 30;

/// Fetches and cuts the tracks (once; kept under target/music/). Returns their paths.
pub fn fetch() -> Result<Vec<PathBuf>> {
    let dir = target_dir().join("music");
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs)?;
    let mut out = Vec::new();
    for (name, package, stems, start) in TRACKS {
        let wav = dir.join(format!("{name}.wav"));
        out.push(wav.clone());
        if wav.exists() {
            continue;
        }
        let unpacked = dir.join(package);
        if !unpacked.exists() {
            run_cmd(
                Command::new("apt-get")
                    .args(["download", package])
                    .current_dir(&debs),
            )
            .with_context(|| format!("apt-get download {package} (run apt-get update once)"))?;
            let deb = std::fs::read_dir(&debs)?
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{package}_")))
                })
                .with_context(|| format!("no .deb for {package}"))?;
            run_cmd(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
        }
        cut(&unpacked, stems, *start, &wav)?;
        println!("  {}", wav.display());
    }
    Ok(out)
}

/// Mixes the stems (unity gain) and writes `SECONDS` from `start` as 44.1 kHz 24-bit WAV.
fn cut(root: &Path, stems: &[&str], start: u32, wav: &Path) -> Result<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    for stem in stems {
        cmd.args(["-ss", &start.to_string(), "-t", &SECONDS.to_string(), "-i"])
            .arg(root.join(stem));
    }
    if stems.len() > 1 {
        cmd.args([
            "-filter_complex",
            &format!("amix=inputs={}:normalize=0", stems.len()),
        ]);
    }
    cmd.args(["-ar", "44100", "-ac", "2", "-c:a", "pcm_s24le"])
        .arg(wav);
    run_cmd(&mut cmd).context("ffmpeg (apt-get install ffmpeg)")
}

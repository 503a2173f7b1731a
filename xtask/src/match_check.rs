//! `lathe master --match` checked from outside, on released music: a mix is changed by a tool
//! that shares no code with Lathe (ffmpeg's shelves and bells on mid and side, its pan matrix
//! for the width), matched back to the original, and the result measured by a numpy script
//! (`band_diff.py`) level-matched by libebur128 (the `ebur128` crate).

use crate::{run_cmd, target_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Most a 1/3-octave band 40 Hz–16 kHz may differ after matching back at 100 % (dB; issue 14).
const ROUND_TRIP_DB: f64 = 0.5;

/// Mid ±6 dB low shelf and bell, side ±6 dB bell and high shelf (M/S by ffmpeg's pan matrix).
const TONE_CHANGE: &str = "pan=stereo|c0=0.5*c0+0.5*c1|c1=0.5*c0-0.5*c1,\
    bass=g=6:f=150:c=FL,equalizer=f=1000:t=q:w=1:g=-6:c=FL,\
    equalizer=f=3000:t=q:w=0.8:g=6:c=FR,treble=g=-6:f=6000:c=FR,\
    pan=stereo|c0=c0+c1|c1=c0-c1";

/// The side × 0.6 (−4.4 dB) with a +5 dB bell at 8 kHz on it: narrower, with brighter sides.
const WIDTH_CHANGE: &str = "pan=stereo|c0=0.5*c0+0.5*c1|c1=0.3*c0-0.3*c1,\
    equalizer=f=8000:t=q:w=0.7:g=5:c=FR,\
    pan=stereo|c0=c0+c1|c1=c0-c1";

fn ffmpeg_filter(input: &Path, filter: &str, output: &Path) -> Result<()> {
    run_cmd(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(input)
            .args(["-af", filter, "-c:a", "pcm_f32le"])
            .arg(output),
    )
}

/// Integrated loudness by libebur128 (the `ebur128` crate).
fn integrated(path: &Path) -> Result<f64> {
    let (sr, planar) = crate::qc_music::read_wav(path)?;
    let mut ebu = ebur128::EbuR128::new(planar.len() as u32, sr as u32, ebur128::Mode::I)?;
    let slices: Vec<&[f32]> = planar.iter().map(|c| &c[..]).collect();
    ebu.add_frames_planar_f32(&slices)?;
    Ok(ebu.loudness_global()?)
}

/// Per band 40 Hz–16 kHz: `a` − `b` (dB), mid and side, at matched integrated loudness.
struct Diff {
    hz: Vec<f64>,
    mid: Vec<f64>,
    side: Vec<f64>,
}

fn band_diff(python: &Path, a: &Path, b: &Path) -> Result<Diff> {
    let script = target_dir().join("band_diff.py");
    std::fs::write(&script, include_str!("band_diff.py"))?;
    let out = Command::new(python).arg(&script).arg(a).arg(b).output()?;
    if !out.status.success() {
        bail!("band_diff.py: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let offset = integrated(a)? - integrated(b)?;
    let list = |key: &str, minus: f64| -> Result<Vec<f64>> {
        v[key]
            .as_array()
            .with_context(|| format!("{key} missing"))?
            .iter()
            .map(|x| x.as_f64().map(|x| x - minus).context("not a number"))
            .collect()
    };
    Ok(Diff {
        hz: list("bands_hz", 0.0)?,
        mid: list("mid_db", offset)?,
        side: list("side_db", offset)?,
    })
}

fn worst(d: &[f64]) -> f64 {
    d.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn master(lathe: &Path, input: &Path, output: &Path, args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new(lathe)
        .arg("master")
        .arg(input)
        .arg("-o")
        .arg(output)
        .arg("--json")
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("lathe master: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn match_on_music(lathe: &Path, python: &Path) -> Result<()> {
    let tracks = crate::music::fetch()?;
    let dir = target_dir().join("test-match");
    std::fs::create_dir_all(&dir)?;
    let mut failures = Vec::new();
    let mut check = |what: String, ok: bool| {
        println!("  {what}: {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failures.push(what);
        }
    };
    for track in &tracks {
        let name = track
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("track")
            .to_owned();
        let original = track.to_string_lossy().into_owned();
        let path = |suffix: &str| -> PathBuf { dir.join(format!("{name}-{suffix}.wav")) };

        // Tone on mid and side, matched back at 100 % and at 50 %.
        let changed = path("eq");
        ffmpeg_filter(track, TONE_CHANGE, &changed)?;
        let change = band_diff(python, &changed, track)?;
        let back = path("eq-back");
        let report = master(
            lathe,
            &changed,
            &back,
            &[
                "--match",
                &original,
                "--match",
                "tone,width",
                "--set",
                "Limiter=Off",
            ],
        )?;
        let d = band_diff(python, &back, track)?;
        let chosen: Vec<String> = report["match"]["eq"]
            .as_array()
            .map(|bands| {
                bands
                    .iter()
                    .filter(|b| b["gain_db"].as_f64().is_some_and(|g| g.abs() >= 0.05))
                    .map(|b| {
                        format!(
                            "{} {} {:.0} Hz {:+.1} dB",
                            b["band"].as_str().unwrap_or("?"),
                            b["placement"].as_str().unwrap_or("?"),
                            b["freq_hz"].as_f64().unwrap_or(0.0),
                            b["gain_db"].as_f64().unwrap_or(0.0)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        check(
            format!(
                "{name}: ±6 dB mid/side EQ change (largest band {:.1}/{:.1} dB mid/side) matched back at 100 %: residual mid {:.2}, side {:.2} dB (≤ {ROUND_TRIP_DB}); chose {}",
                worst(&change.mid),
                worst(&change.side),
                worst(&d.mid),
                worst(&d.side),
                chosen.join(", ")
            ),
            worst(&d.mid) <= ROUND_TRIP_DB && worst(&d.side) <= ROUND_TRIP_DB,
        );
        let half = path("eq-half");
        master(
            lathe,
            &changed,
            &half,
            &[
                "--match",
                &original,
                "--match",
                "tone,width",
                "--match-amount",
                "50",
                "--set",
                "Limiter=Off",
            ],
        )?;
        let h = band_diff(python, &half, track)?;
        let off = |got: &[f64], full: &[f64]| -> f64 {
            got.iter()
                .zip(full)
                .fold(0.0f64, |m, (g, f)| m.max((g - f / 2.0).abs()))
        };
        check(
            format!(
                "{name}: at 50 % half the change is left: largest deviation from half mid {:.2}, side {:.2} dB (≤ {ROUND_TRIP_DB})",
                off(&h.mid, &change.mid),
                off(&h.side, &change.side)
            ),
            off(&h.mid, &change.mid) <= ROUND_TRIP_DB
                && off(&h.side, &change.side) <= ROUND_TRIP_DB,
        );

        // Width.
        let narrow = path("narrow");
        ffmpeg_filter(track, WIDTH_CHANGE, &narrow)?;
        let change = band_diff(python, &narrow, track)?;
        let wide = path("narrow-back");
        let report = master(
            lathe,
            &narrow,
            &wide,
            &[
                "--match",
                &original,
                "--match",
                "width",
                "--set",
                "Limiter=Off",
            ],
        )?;
        let d = band_diff(python, &wide, track)?;
        check(
            format!(
                "{name}: width change (side {:.1} dB at most) matched back with width {:.0} %: residual mid {:.2}, side {:.2} dB (≤ {ROUND_TRIP_DB})",
                worst(&change.side),
                report["match"]["width_pct"].as_f64().unwrap_or(f64::NAN),
                worst(&d.mid),
                worst(&d.side)
            ),
            worst(&d.mid) <= ROUND_TRIP_DB && worst(&d.side) <= ROUND_TRIP_DB,
        );
        if d.hz.len() != 27 {
            bail!("band_diff.py gave {} bands, expected 27", d.hz.len());
        }
    }

    // Loudness (with tone and width): a quieter, changed mix mastered to the reference's
    // loudness through the default chain (limiter on).
    // The quietest track, so the target is in the chain's reach.
    let mut loudness = Vec::new();
    for t in &tracks {
        loudness.push((integrated(t)?, t));
    }
    loudness.sort_by(|a, b| a.0.total_cmp(&b.0));
    let track = loudness.first().context("no music")?.1;
    let quiet = dir.join("quiet-eq.wav");
    ffmpeg_filter(track, &format!("{TONE_CHANGE},volume=-8dB"), &quiet)?;
    let out = dir.join("quiet-eq-matched.wav");
    master(lathe, &quiet, &out, &["--match", &track.to_string_lossy()])?;
    let (want, got) = (integrated(track)?, integrated(&out)?);
    let d = band_diff(python, &out, track)?;
    check(
        format!(
            "match all (tone, width, loudness) of a mix 8 dB quieter: libebur128 reads {got:.2} LUFS, the reference {want:.2} (within 0.1 LU); tone left mid {:.2}, side {:.2} dB (not asserted: the limiter works)",
            worst(&d.mid),
            worst(&d.side)
        ),
        (got - want).abs() <= 0.1,
    );
    if !failures.is_empty() {
        bail!(
            "{} check(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(())
}

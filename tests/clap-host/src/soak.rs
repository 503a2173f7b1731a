//! `soak`: a long run of one plugin in this host – programme material that changes every few
//! seconds (quiet and hot noise, tones, kicks, silence), random automation of every parameter
//! that keeps the plugin's promises (not the bypass, the A/B, the limiter switch or the
//! latency-changing ones), random block sizes. Checks: finite output throughout, the output
//! ceiling, flat resident memory, and – for Lathe Meter – that the integrated loudness it
//! publishes to the session registry equals `lathe analyze` on the same audio within 0.01 LU.

use crate::host::{Bundle, ParamDesc, Track};
use anyhow::{Context, Result, bail, ensure};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SAMPLE_RATE: u32 = 48_000;
/// Seconds of each kind of programme before the next.
const SECTION_S: u32 = 7;
/// Digital silence at the end, so the meter's last publication holds all the audio.
const TAIL_S: u32 = 2;

/// Parameters the soak never automates: they change what the plugin promises (the host's
/// bypass and the A/B pass the input, the limiter switch drops the ceiling) or its latency
/// (a CLAP host restarts the plugin for those).
const NOT_AUTOMATED: [&str; 6] = [
    "Bypass",
    "A/B",
    "Limiter",
    "EQ Phase",
    "Lookahead",
    "Dither",
];

/// Programme-like stereo material, one section kind after another.
struct Programme {
    rng: SmallRng,
    n: u64,
    pink: [[f32; 3]; 2],
    phase: f64,
    kind: u32,
    level: f32,
}

impl Programme {
    fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
            n: 0,
            pink: [[0.0; 3]; 2],
            phase: 0.0,
            kind: 0,
            level: 0.1,
        }
    }

    fn next(&mut self) -> [f32; 2] {
        let section = u64::from(SECTION_S * SAMPLE_RATE);
        if self.n.is_multiple_of(section) {
            self.kind = self.rng.random_range(0..6);
            // −45 … 0 dB of gain on material peaking near +6 dBFS: quiet passages to mixes
            // far too hot.
            self.level = 10f32.powf(self.rng.random_range(-45.0..0.0f32) / 20.0);
        }
        let t = self.n as f64 / f64::from(SAMPLE_RATE);
        self.n += 1;
        let shared: f32 = self.rng.random_range(-1.0..1.0);
        let mut out = [0.0f32; 2];
        for (c, o) in out.iter_mut().enumerate() {
            // Partly correlated pink-ish noise (three one-pole bands).
            let white = 0.6 * shared + 0.4 * self.rng.random_range(-1.0..1.0f32);
            let p = &mut self.pink[c];
            p[0] = 0.997 * p[0] + 0.03 * white;
            p[1] = 0.96 * p[1] + 0.2 * white;
            p[2] = 0.6 * p[2] + 0.5 * white;
            *o = p[0] + p[1] + p[2] + 0.2 * white;
        }
        self.phase = (self.phase + std::f64::consts::TAU * 220.0 / f64::from(SAMPLE_RATE))
            % std::f64::consts::TAU;
        let tone = self.phase.sin() as f32;
        let beat = (t * 2.0).fract();
        let kick = if beat < 0.15 {
            ((std::f64::consts::TAU * 55.0 * beat).sin() * (1.0 - beat / 0.15)) as f32
        } else {
            0.0
        };
        let x = match self.kind {
            0 => [out[0], out[1]],
            1 => [0.5 * out[0] + 1.5 * kick, 0.5 * out[1] + 1.5 * kick],
            2 => [tone, tone * 0.8],
            3 => [0.3 * out[0] + tone, 0.3 * out[1] - tone],
            4 => [0.0, 0.0],
            _ => [out[0] + 2.0 * kick, out[1] + 2.0 * kick],
        };
        [x[0] * self.level, x[1] * self.level]
    }
}

/// Runs the soak; `minutes` of programme, then checks. `lathe` measures the same audio offline
/// (written to `wav`) for the meter's loudness comparison.
pub fn soak(
    path: &Path,
    id: &str,
    minutes: f64,
    max_output_dbfs: Option<f32>,
    lathe: &Path,
    wav: &Path,
) -> Result<()> {
    let bundle = Bundle::load(path)?;
    let track = format!("soak-{}", std::process::id());
    let mut plugin = bundle.instantiate_on_track(
        id,
        Some(Track {
            name: track.clone(),
            rgb: [0x80, 0x80, 0x80],
        }),
    )?;
    let params: Vec<ParamDesc> = plugin
        .params()?
        .into_iter()
        .filter(|d| !NOT_AUTOMATED.contains(&d.name.as_str()))
        .collect();
    let frames = (minutes * 60.0 * f64::from(SAMPLE_RATE)) as u64;
    let total = frames + u64::from(TAIL_S * SAMPLE_RATE);
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(wav, spec)
        .with_context(|| format!("cannot write {}", wav.display()))?;
    let mut programme = Programme::new(7);
    let mut rng = SmallRng::seed_from_u64(8);
    let mut next_change = 0u64;
    let mut changes = 0u64;
    let mut write_error = None;
    let mut peak = 0.0f32;
    let mut non_finite = None;
    let mut rss = Vec::new();
    let started = Instant::now();
    let every_minute = u64::from(SAMPLE_RATE) * 60;
    plugin.stream(
        f64::from(SAMPLE_RATE),
        8192,
        2,
        |input, events, pos| {
            if pos >= total {
                return None;
            }
            let n = (match rng.random_range(0..10) {
                0 => rng.random_range(1..64),
                1 => 8192,
                _ => rng.random_range(64..=4096),
            } as u64)
                .min(total - pos) as usize;
            let (left, right) = input.split_at_mut(1);
            for (i, (l, r)) in left[0][..n].iter_mut().zip(&mut right[0][..n]).enumerate() {
                let s = if pos + (i as u64) < frames {
                    programme.next()
                } else {
                    [0.0; 2]
                };
                (*l, *r) = (s[0], s[1]);
                for v in s {
                    if let Err(e) = writer.write_sample(v) {
                        write_error.get_or_insert(e);
                    }
                }
            }
            // Random automation: a change every 10 ms … 2 s, sometimes several at once.
            while next_change < pos + n as u64 && pos < frames && !params.is_empty() {
                let d = &params[rng.random_range(0..params.len())];
                let v = d.min + (d.max - d.min) * rng.random_range(0.0..=1.0);
                events.push(&ParamValueEvent::new(
                    (next_change.saturating_sub(pos)) as u32,
                    ClapId::new(d.id),
                    Pckn::match_all(),
                    if d.stepped { v.round() } else { v },
                ));
                changes += 1;
                next_change += rng.random_range(480..96_000);
            }
            Some(n)
        },
        |out, n, pos| {
            for ch in out {
                for (i, &s) in ch[..n].iter().enumerate() {
                    if !s.is_finite() && non_finite.is_none() {
                        non_finite = Some(pos + i as u64);
                    }
                    peak = peak.max(s.abs());
                }
            }
            if (pos / every_minute) != ((pos + n as u64) / every_minute) {
                rss.push(crate::robust::resident_kib().unwrap_or(0));
            }
        },
    )?;
    if let Some(e) = write_error {
        bail!("writing {}: {e}", wav.display());
    }
    writer.finalize()?;
    let elapsed = started.elapsed().as_secs_f64();
    let peak_db = 20.0 * peak.max(1e-12).log10();
    println!(
        "soak: {minutes} min of audio in {elapsed:.1} s ({:.0}x real time), {changes} parameter changes, output peak {peak_db:.2} dBFS",
        minutes * 60.0 / elapsed
    );
    if let Some(at) = non_finite {
        bail!("non-finite output at frame {at}");
    }
    if let Some(limit) = max_output_dbfs {
        ensure!(
            peak_db <= limit + 1e-4,
            "output peak {peak_db:.3} dBFS above {limit}"
        );
    }
    // Resident memory: from the end of the first minute (buffers sized, caches warm) to the end.
    if rss.len() >= 2 {
        let growth = *rss.last().unwrap() as i64 - rss[0] as i64;
        println!(
            "soak: resident memory {} KiB after 1 min, {} KiB at the end ({growth:+} KiB)",
            rss[0],
            rss.last().unwrap()
        );
        ensure!(growth < 2048, "resident memory grew by {growth} KiB");
    }

    // Lathe Meter publishes its readings to the session registry; compare with lathe analyze.
    let registry = lathe_session::Registry::shared()?;
    let Some(entry) = registry.entries().into_iter().find(|e| e.name == track) else {
        println!("soak: no session entry (not a meter): loudness comparison not applicable");
        return Ok(());
    };
    let plugin_lufs = f64::from(entry.reading.integrated_lufs);
    let out = Command::new(lathe)
        .args(["analyze", "--json"])
        .arg(wav)
        .output()
        .with_context(|| format!("cannot run {}", lathe.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("lathe analyze: {}", String::from_utf8_lossy(&out.stderr)))?;
    let cli_lufs = json["integrated_lufs"]
        .as_f64()
        .context("lathe analyze gave no integrated loudness")?;
    let diff = plugin_lufs - cli_lufs;
    println!(
        "soak: integrated loudness: plugin {plugin_lufs:.3} LUFS, lathe analyze {cli_lufs:.3} LUFS ({diff:+.4} LU)"
    );
    ensure!(diff.abs() <= 0.01, "plugin and CLI differ by {diff:+.4} LU");
    drop(plugin);
    Ok(())
}

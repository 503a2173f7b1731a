//! Synthesises the demo song in `assets/demo/song.txt` into a stereo 48 kHz mix: drums, bass,
//! chords and a lead, all generated here from oscillators and noise. See that file for the score.

use anyhow::{Context, Result, bail};
use std::f64::consts::TAU;

/// Sample rate of the demo mix (Hz).
pub const SAMPLE_RATE: u32 = 48_000;
const STEPS_PER_BAR: usize = 16;

struct Song {
    tempo_bpm: f64,
    bars: usize,
    chords: Vec<(f64, bool)>, // (root MIDI note in octave 2, minor)
    drums: Vec<(String, Vec<u8>)>,
    bass: Vec<u8>,
    lead: Vec<(Option<f64>, usize)>, // (MIDI note, steps)
}

fn note_number(name: &str) -> Result<f64> {
    let bytes = name.as_bytes();
    let base = match bytes.first().context("empty note")? {
        b'C' => 0,
        b'D' => 2,
        b'E' => 4,
        b'F' => 5,
        b'G' => 7,
        b'A' => 9,
        b'B' => 11,
        _ => bail!("bad note {name:?}"),
    };
    let (accidental, rest) = match bytes.get(1) {
        Some(b'#') => (1, &name[2..]),
        Some(b'b') => (-1, &name[2..]),
        _ => (0, &name[1..]),
    };
    let octave: i32 = rest
        .parse()
        .with_context(|| format!("bad octave in {name:?}"))?;
    Ok(f64::from(12 * (octave + 1) + base + accidental))
}

fn parse(text: &str) -> Result<Song> {
    let mut song = Song {
        tempo_bpm: 120.0,
        bars: 8,
        chords: Vec::new(),
        drums: Vec::new(),
        bass: Vec::new(),
        lead: Vec::new(),
    };
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        let key = words.next().unwrap_or_default();
        let rest: Vec<&str> = words.collect();
        match key {
            "tempo" => song.tempo_bpm = rest.first().context("tempo value")?.parse()?,
            "bars" => song.bars = rest.first().context("bars value")?.parse()?,
            "chords" => {
                for c in rest {
                    let minor = c.ends_with('m');
                    let root = c.trim_end_matches('m');
                    song.chords.push((note_number(&format!("{root}2"))?, minor));
                }
            }
            "kick" | "snare" | "hat" => song
                .drums
                .push((key.to_owned(), rest.concat().into_bytes())),
            "bass" => song.bass = rest.concat().into_bytes(),
            "lead" => {
                for n in rest {
                    let (name, steps) = n.split_once(':').context("lead wants note:steps")?;
                    let note = if name == "-" {
                        None
                    } else {
                        Some(note_number(name)?)
                    };
                    song.lead.push((note, steps.parse()?));
                }
            }
            other => bail!("unknown line {other:?} in the score"),
        }
    }
    if song.chords.is_empty() {
        bail!("the score has no chords");
    }
    Ok(song)
}

fn midi_hz(note: f64) -> f64 {
    440.0 * 2f64.powf((note - 69.0) / 12.0)
}

/// A small deterministic noise source (xorshift), so the demo is identical on every machine.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Adds `voice(t)` (seconds since the note start) to both channels with a constant-power pan.
fn add(
    out: &mut [Vec<f64>; 2],
    start: usize,
    len: usize,
    pan: f64,
    gain: f64,
    mut voice: impl FnMut(f64) -> f64,
) {
    let angle = (pan + 1.0) * std::f64::consts::FRAC_PI_4;
    let (gl, gr) = (angle.cos() * gain, angle.sin() * gain);
    let sr = f64::from(SAMPLE_RATE);
    for i in 0..len {
        let n = start + i;
        if n >= out[0].len() {
            break;
        }
        let v = voice(i as f64 / sr);
        out[0][n] += v * gl;
        out[1][n] += v * gr;
    }
}

/// Renders the score; returns planar stereo at [`SAMPLE_RATE`].
pub fn render(score: &str) -> Result<Vec<Vec<f32>>> {
    let song = parse(score)?;
    let sr = f64::from(SAMPLE_RATE);
    let step_s = 60.0 / song.tempo_bpm / 4.0;
    let step = |k: usize| (k as f64 * step_s * sr).round() as usize;
    let total_steps = song.bars * STEPS_PER_BAR;
    let tail = (1.5 * sr) as usize;
    let frames = step(total_steps) + tail;
    let mut out = [vec![0.0f64; frames], vec![0.0f64; frames]];
    let noise = Noise(0x2545_f491_4f6c_dd1d);

    for k in 0..total_steps {
        let bar = k / STEPS_PER_BAR;
        let s = k % STEPS_PER_BAR;
        let start = step(k);
        let (root, minor) = song.chords[bar % song.chords.len()];
        for (drum, pattern) in &song.drums {
            let hit = pattern.get(s).copied().unwrap_or(b'.');
            if hit == b'.' {
                continue;
            }
            let accent = if hit == b'X' { 1.0 } else { 0.6 };
            match drum.as_str() {
                "kick" => {
                    let mut phase = 0.0;
                    add(
                        &mut out,
                        start,
                        (0.4 * sr) as usize,
                        0.0,
                        0.9 * accent,
                        |t| {
                            let f = 45.0 + 85.0 * (-t * 30.0).exp();
                            phase += TAU * f / sr;
                            phase.sin() * (-t * 9.0).exp()
                        },
                    );
                }
                "snare" => {
                    let mut n = Noise(noise.0 ^ k as u64);
                    add(
                        &mut out,
                        start,
                        (0.25 * sr) as usize,
                        0.05,
                        0.45 * accent,
                        |t| {
                            let body = (TAU * 185.0 * t).sin() * (-t * 30.0).exp();
                            body * 0.6 + n.next() * (-t * 18.0).exp()
                        },
                    );
                }
                _ => {
                    let mut prev = 0.0;
                    let mut n = Noise(noise.0.rotate_left(k as u32 % 64) | 1);
                    add(
                        &mut out,
                        start,
                        (0.08 * sr) as usize,
                        -0.3,
                        0.18 * accent,
                        |t| {
                            let x = n.next();
                            let hp = x - prev; // first difference: a gentle high-pass
                            prev = x;
                            hp * (-t * 60.0).exp()
                        },
                    );
                }
            }
        }
        // Bass: a saw through a one-pole low-pass, per step.
        let b = song.bass.get(s).copied().unwrap_or(b'.');
        if b != b'.' {
            let note = match b {
                b'F' => root + 7.0,
                b'O' => root + 12.0,
                _ => root,
            };
            let f = midi_hz(note);
            let mut lp = 0.0;
            let len = (2.5 * step_s * sr) as usize;
            add(&mut out, start, len, 0.0, 0.35, |t| {
                let saw = 2.0 * (t * f).fract() - 1.0;
                lp += 0.08 * (saw - lp);
                let env = (t * 200.0).min(1.0) * (-t * 3.0).exp();
                lp * env
            });
        }
        // Chords: a soft triad pad, one per bar, spread across the stereo field.
        if s == 0 {
            let third = if minor { 3.0 } else { 4.0 };
            let len = step(STEPS_PER_BAR) + (0.3 * sr) as usize;
            for (i, interval) in [12.0, 12.0 + third, 19.0].into_iter().enumerate() {
                let f = midi_hz(root + 12.0 + interval);
                let pan = -0.5 + 0.5 * i as f64;
                for detune in [-0.004, 0.004] {
                    let fd = f * (1.0 + detune);
                    let bar_s = len as f64 / sr;
                    add(&mut out, start, len, pan + detune * 50.0, 0.05, |t| {
                        let tri = 1.0 - 4.0 * ((t * fd + 0.25).fract() - 0.5).abs();
                        let env = (t * 6.0).min(1.0) * ((bar_s - t) * 8.0).clamp(0.0, 1.0);
                        tri * env
                    });
                }
            }
        }
    }
    // Lead: a soft square with vibrato and a dotted-eighth echo, looping its phrase.
    let mut k = 0;
    let phrase_steps: usize = song.lead.iter().map(|n| n.1).sum();
    while phrase_steps > 0 && k < total_steps {
        for &(note, steps) in &song.lead {
            if k >= total_steps {
                break;
            }
            if let Some(note) = note {
                let f = midi_hz(note);
                let len = step(steps) - step(0);
                let dur = len as f64 / sr;
                for (echo, delay, gain, pan) in [(0, 0usize, 0.16, 0.15), (1, step(3), 0.06, -0.5)]
                {
                    let _ = echo;
                    let mut lp = 0.0;
                    add(
                        &mut out,
                        step(k) + delay,
                        len + (0.05 * sr) as usize,
                        pan,
                        gain,
                        |t| {
                            let vib = 1.0 + 0.004 * (TAU * 5.5 * t).sin() * (t * 2.0).min(1.0);
                            let sq = if (t * f * vib).fract() < 0.5 {
                                1.0
                            } else {
                                -1.0
                            };
                            lp += 0.12 * (sq - lp);
                            let env = (t * 80.0).min(1.0) * ((dur - t) * 30.0).clamp(0.0, 1.0);
                            lp * env
                        },
                    );
                }
            }
            k += steps;
        }
    }
    // Normalise to a −3 dBFS sample peak: a typical unmastered mix with headroom.
    let peak = out.iter().flatten().fold(0.0f64, |m, s| m.max(s.abs()));
    let g = if peak > 0.0 {
        10f64.powf(-3.0 / 20.0) / peak
    } else {
        1.0
    };
    Ok(out
        .iter()
        .map(|ch| ch.iter().map(|&s| (s * g) as f32).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_score_renders_to_a_plausible_mix() {
        let score = include_str!("../../assets/demo/song.txt");
        let mix = render(score).unwrap();
        assert_eq!(mix.len(), 2);
        let secs = mix[0].len() as f64 / f64::from(SAMPLE_RATE);
        assert!((15.0..25.0).contains(&secs), "{secs} s");
        let peak = mix.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 10f32.powf(-3.0 / 20.0)).abs() < 1e-4);
        assert!(mix.iter().flatten().all(|s| s.is_finite()));
        // Both channels carry signal and differ (the mix is stereo, not dual mono).
        assert!(mix[0] != mix[1]);
    }

    #[test]
    fn bad_scores_are_refused() {
        assert!(render("tempo 100\n").is_err());
        assert!(render("chords Am\nlead Q4:2\n").is_err());
        assert!(render("chords Am\nwobble 3\n").is_err());
    }
}

#[cfg(test)]
mod ab_on_the_demo {
    use super::*;
    use lathe_dsp::ab::{LevelMatchedAb, Listen};
    use lathe_dsp::limiter::TruePeakLimiter;
    use lathe_dsp::loudness::LoudnessMeter;

    /// Lathe Master's chain as in `cargo xtask demo` (limiter drive +6 dB, ceiling −1 dBTP,
    /// automatic release), in 512-frame blocks, listening to `listen`.
    fn master(mix: &[Vec<f32>], listen: Listen) -> Vec<Vec<f32>> {
        let sr = f64::from(SAMPLE_RATE);
        let mut limiter = TruePeakLimiter::new(sr, 2, 1.5);
        limiter.set_drive_db(6.0);
        limiter.set_ceiling_dbtp(-1.0);
        limiter.set_auto_release(true);
        limiter.reset();
        let latency = limiter.latency_samples() as usize;
        let mut ab = LevelMatchedAb::new(sr, 2, latency);
        ab.set_latency(latency);
        ab.set_listen(listen);
        let mut out = mix.to_vec();
        for start in (0..mix[0].len()).step_by(512) {
            let end = (start + 512).min(mix[0].len());
            let (l, r) = out.split_at_mut(1);
            let mut block = [&mut l[0][start..end], &mut r[0][start..end]];
            limiter.process(&mut block);
            ab.process(&[&mix[0][start..end], &mix[1][start..end]], &mut block);
        }
        out
    }

    #[test]
    fn matched_bypass_follows_the_processed_short_term_loudness_within_0_6_lu() {
        let mix = render(include_str!("../../assets/demo/song.txt")).unwrap();
        let processed = master(&mix, Listen::Processed);
        let bypass = master(&mix, Listen::MatchedBypass);
        let sr = f64::from(SAMPLE_RATE);
        let (mut mp, mut mb) = (LoudnessMeter::new(sr, 2), LoudnessMeter::new(sr, 2));
        let step = (sr / 10.0) as usize;
        let mut worst = 0.0f64;
        for start in (0..mix[0].len()).step_by(step) {
            let end = (start + step).min(mix[0].len());
            mp.process(&[&processed[0][start..end], &processed[1][start..end]]);
            mb.process(&[&bypass[0][start..end], &bypass[1][start..end]]);
            // From 4 s on: the first short-term window is full and the match has settled.
            if start as f64 / sr >= 4.0 && mp.short_term_lufs() > -60.0 {
                worst = worst.max((mb.short_term_lufs() - mp.short_term_lufs()).abs());
            }
        }
        eprintln!("matched bypass vs processed short-term loudness: worst {worst:.3} LU");
        assert!(
            // 0.48 LU before the limiter learnt to respect short 4× meters (its deeper, more
            // variable gain reduction on the demo's bright transients made it 0.55).
            worst <= 0.6,
            "matched bypass strays {worst:.3} LU from the processed signal"
        );
    }
}

//! Loudness target assist: the limiter drive that brings a passage to a target integrated
//! loudness.
//!
//! The passage (the plugin records the chain's input while the user plays; `lathe master`
//! streams the whole file) is rendered through a fresh [`MasterChain`] with the settings in use
//! at trial drives, and the output's integrated loudness (BS.1770-4, the same meter as
//! everywhere in Lathe) is measured. Output loudness never falls as drive rises, so bisection
//! over 0…24 dB finds the drive to within a thousandth of a dB in 15 renders. Runs off the
//! audio thread (it allocates).

use crate::loudness::LoudnessMeter;
use crate::master::{MasterChain, MasterSettings};
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest drive the search may choose (the Drive parameter's range), in dB.
pub const MAX_DRIVE_DB: f32 = 24.0;
/// Bisection steps: 24 dB / 2^15 < 0.001 dB.
const STEPS: usize = 15;

/// What the search found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// Drive to set (dB, 0…24).
    pub drive_db: f32,
    /// Integrated loudness of the passage's output at that drive (LUFS).
    pub integrated_lufs: f64,
    /// False when the target lies outside what 0…24 dB of drive can reach (the drive is then
    /// the nearest end of the range).
    pub reachable: bool,
}

/// Integrated output loudness (LUFS) of `passage` (planar, 1 or 2 channels, at
/// `sample_rate_hz`) through the chain with `settings` at `drive_db`. The chain's latency is
/// compensated, so exactly the passage's own output is measured.
pub fn output_loudness(
    passage: &[&[f32]],
    sample_rate_hz: f64,
    settings: &MasterSettings,
    drive_db: f32,
) -> f64 {
    output_loudness_unless(
        passage,
        sample_rate_hz,
        settings,
        drive_db,
        &AtomicBool::new(false),
    )
    .unwrap_or(f64::NEG_INFINITY)
}

/// [`output_loudness`], giving up (`None`) within one 4096-frame block of `cancel` being set.
fn output_loudness_unless(
    passage: &[&[f32]],
    sample_rate_hz: f64,
    settings: &MasterSettings,
    drive_db: f32,
    cancel: &AtomicBool,
) -> Option<f64> {
    let channels = passage.len().clamp(1, 2);
    let mut s = *settings;
    s.limiter.drive_db = drive_db;
    s.output.listen = crate::ab::Listen::Processed;
    let Ok(mut chain) = MasterChain::with_settings(sample_rate_hz, channels, &s) else {
        return Some(f64::NEG_INFINITY);
    };
    let mut meter = LoudnessMeter::new(sample_rate_hz, channels);
    let frames = passage.first().map_or(0, |c| c.len());
    let latency = chain.latency_samples() as usize;
    const BLOCK: usize = 4096;
    let mut block = vec![vec![0.0f32; BLOCK]; channels];
    let mut pos = 0;
    let mut emitted = 0;
    while emitted < frames {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let n = BLOCK.min(frames + latency - pos);
        for (c, b) in block.iter_mut().enumerate() {
            for (j, x) in b[..n].iter_mut().enumerate() {
                *x = passage[c].get(pos + j).copied().unwrap_or(0.0);
            }
        }
        let mut views: Vec<&mut [f32]> = block.iter_mut().map(|b| &mut b[..n]).collect();
        chain.process(&mut views);
        // Output frames [pos, pos + n) are input frames [pos − latency, …).
        let skip = latency.saturating_sub(pos).min(n);
        let take = (n - skip).min(frames - emitted);
        if take > 0 {
            let out: Vec<&[f32]> = views.iter().map(|v| &v[skip..skip + take]).collect();
            meter.process(&out);
            emitted += take;
        }
        pos += n;
    }
    Some(meter.integrated_lufs())
}

/// The drive that brings `passage` to `target_lufs` integrated, or `None` when the passage
/// has no gated loudness (silence).
pub fn drive_for_target(
    passage: &[&[f32]],
    sample_rate_hz: f64,
    settings: &MasterSettings,
    target_lufs: f64,
) -> Option<Learned> {
    drive_for_target_unless(
        passage,
        sample_rate_hz,
        settings,
        target_lufs,
        &AtomicBool::new(false),
    )
}

/// [`drive_for_target`] that gives up (returns `None`) soon after `cancel` is set: it is
/// checked before every trial render.
pub fn drive_for_target_unless(
    passage: &[&[f32]],
    sample_rate_hz: f64,
    settings: &MasterSettings,
    target_lufs: f64,
    cancel: &AtomicBool,
) -> Option<Learned> {
    let loudness =
        |drive: f32| output_loudness_unless(passage, sample_rate_hz, settings, drive, cancel);
    let low = loudness(0.0)?;
    if !low.is_finite() {
        return None;
    }
    if low >= target_lufs {
        return Some(Learned {
            drive_db: 0.0,
            integrated_lufs: low,
            reachable: (low - target_lufs).abs() < 0.05,
        });
    }
    let high = loudness(MAX_DRIVE_DB)?;
    if high <= target_lufs {
        return Some(Learned {
            drive_db: MAX_DRIVE_DB,
            integrated_lufs: high,
            reachable: (high - target_lufs).abs() < 0.05,
        });
    }
    let (mut lo, mut hi) = (0.0f32, MAX_DRIVE_DB);
    let mut best = (MAX_DRIVE_DB, high);
    for _ in 0..STEPS {
        let mid = 0.5 * (lo + hi);
        let l = loudness(mid)?;
        if (l - target_lufs).abs() < (best.1 - target_lufs).abs() {
            best = (mid, l);
        }
        if l < target_lufs {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(Learned {
        drive_db: best.0,
        integrated_lufs: best.1,
        reachable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MasterSettings {
        MasterSettings::default()
    }

    /// A programme-like passage: a few tones with a slow level contour plus noise bursts.
    fn passage(seconds: usize) -> Vec<Vec<f32>> {
        let sr = 48_000;
        let mut seed = 0x1234_5678u32;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as f32 / u32::MAX as f32 - 0.5
        };
        let n = sr * seconds;
        let mut l = Vec::with_capacity(n);
        let mut r = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f32 / sr as f32;
            let contour = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 0.25 * t).sin();
            let beat = if (i / 12_000) % 2 == 0 { 1.0 } else { 0.4 };
            let tone = 0.2 * (2.0 * std::f32::consts::PI * 110.0 * t).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 660.0 * t).sin();
            let x = contour * (tone + 0.15 * beat * noise());
            l.push(x * 0.5);
            r.push(x * 0.45 + 0.02 * noise());
        }
        vec![l, r]
    }

    /// Integrated loudness by the independent `ebur128` crate.
    fn oracle_lufs(channels: &[Vec<f32>]) -> f64 {
        let mut m = ebur128::EbuR128::new(2, 48_000, ebur128::Mode::I).unwrap();
        m.add_frames_planar_f32(&[&channels[0], &channels[1]])
            .unwrap();
        m.loudness_global().unwrap()
    }

    #[test]
    fn the_learned_drive_hits_the_target_by_an_independent_meter() {
        let p = passage(20);
        let views: Vec<&[f32]> = p.iter().map(|c| c.as_slice()).collect();
        let s = settings();
        for target in [-16.0, -14.0, -9.0] {
            let learned = drive_for_target(&views, 48_000.0, &s, target).unwrap();
            assert!(learned.reachable, "{target}: {learned:?}");
            // Render at the learned drive through a chain in odd blocks, then measure with
            // ebur128.
            let mut set = s;
            set.limiter.drive_db = learned.drive_db;
            let mut chain = MasterChain::with_settings(48_000.0, 2, &set).unwrap();
            let latency = chain.latency_samples() as usize;
            let mut out = p.clone();
            for c in &mut out {
                c.extend(std::iter::repeat_n(0.0, latency));
            }
            {
                let (a, b) = out.split_at_mut(1);
                for (x, y) in a[0].chunks_mut(777).zip(b[0].chunks_mut(777)) {
                    chain.process(&mut [x, y]);
                }
            }
            let aligned: Vec<Vec<f32>> = out.iter().map(|c| c[latency..].to_vec()).collect();
            let measured = oracle_lufs(&aligned);
            eprintln!(
                "target {target}: drive {:+.3} dB, ebur128 {measured:.3} LUFS",
                learned.drive_db
            );
            assert!(
                (measured - target).abs() < 0.5,
                "target {target}: drive {:.2} dB gives {measured:.2} LUFS (ebur128)",
                learned.drive_db
            );
            assert!(
                (measured - learned.integrated_lufs).abs() < 0.1,
                "search says {:.2}, ebur128 {measured:.2}",
                learned.integrated_lufs
            );
        }
    }

    #[test]
    fn silence_and_unreachable_targets_are_reported() {
        let silence = [vec![0.0f32; 48_000], vec![0.0f32; 48_000]];
        let views: Vec<&[f32]> = silence.iter().map(|c| c.as_slice()).collect();
        assert_eq!(drive_for_target(&views, 48_000.0, &settings(), -14.0), None);
        let p = passage(5);
        let views: Vec<&[f32]> = p.iter().map(|c| c.as_slice()).collect();
        // Far louder than a −1 dBTP ceiling allows: clamped at 24 dB, flagged unreachable.
        let loud = drive_for_target(&views, 48_000.0, &settings(), 0.0).unwrap();
        assert_eq!(loud.drive_db, MAX_DRIVE_DB);
        assert!(!loud.reachable);
        // Quieter than the passage already is: no drive, flagged unreachable.
        let quiet = drive_for_target(&views, 48_000.0, &settings(), -60.0).unwrap();
        assert_eq!(quiet.drive_db, 0.0);
        assert!(!quiet.reachable);
    }
}

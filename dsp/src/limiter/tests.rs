use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

/// Independent reference: the band-limited peak read at 16× with a 64-tap-per-phase windowed
/// sinc (Blackman), longer and finer than anything in the limiter.
fn true_peak_16x(x: &[f32]) -> f64 {
    const L: usize = 16;
    const T: usize = 64;
    let len = L * T;
    let centre = len as f64 / 2.0;
    let mut branches = vec![[0.0f64; T]; L];
    for (p, b) in branches.iter_mut().enumerate() {
        for (k, tap) in b.iter_mut().enumerate() {
            let n = (p + L * k) as f64;
            let d = (n - centre) / L as f64;
            let sinc = if d == 0.0 {
                1.0
            } else {
                (PI * d).sin() / (PI * d)
            };
            let w = 0.42
                + 0.5 * (PI * (n - centre) / centre).cos()
                + 0.08 * (2.0 * PI * (n - centre) / centre).cos();
            *tap = sinc * w;
        }
    }
    let mut peak = 0.0f64;
    for i in T..x.len() {
        let window = &x[i - T..i];
        for b in &branches {
            let y: f64 = b
                .iter()
                .rev()
                .zip(window)
                .map(|(h, &s)| h * f64::from(s))
                .sum();
            peak = peak.max(y.abs());
        }
    }
    20.0 * peak.log10()
}

fn run(
    sr: f64,
    lookahead_ms: f32,
    drive_db: f32,
    ceiling: f32,
    auto_release: bool,
    input: &[Vec<f32>],
) -> Vec<Vec<f32>> {
    let mut lim = TruePeakLimiter::new(sr, input.len(), lookahead_ms);
    lim.set_ceiling_dbtp(ceiling);
    lim.set_drive_db(drive_db);
    lim.set_release_ms(80.0);
    lim.set_auto_release(auto_release);
    // Start at the full drive (no glide from 0 dB), the hardest case.
    lim.reset();
    let mut out = input.to_vec();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut pos = 0;
    let n = out[0].len();
    while pos < n {
        let k = rng.random_range(1..=2048).min(n - pos);
        let mut views: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[pos..pos + k]).collect();
        lim.process(&mut views);
        pos += k;
    }
    out
}

/// Signals that make limiters overshoot.
fn adversarial(sr: f64, seed: u64) -> Vec<(&'static str, Vec<Vec<f32>>)> {
    let n = (sr * 0.6) as usize;
    let mut rng = SmallRng::seed_from_u64(seed);
    let noise: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let tone = |ratio: f64, phase: f64, amp: f64| -> Vec<f32> {
        (0..n)
            .map(|i| (amp * (2.0 * PI * ratio * i as f64 + phase).sin()) as f32)
            .collect()
    };
    let burst = |ratio: f64, phase: f64| -> Vec<f32> {
        let t = tone(ratio, phase, 1.0);
        t.iter()
            .enumerate()
            .map(|(i, &v)| if (i / 500) % 3 == 1 { v } else { 0.02 * v })
            .collect()
    };
    let square: Vec<f32> = (0..n)
        .map(|i| if (i / 37) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let clipped: Vec<f32> = noise.iter().map(|v| (v * 3.0).clamp(-1.0, 1.0)).collect();
    let dc_steps: Vec<f32> = (0..n)
        .map(|i| if (i / 2000) % 2 == 0 { 1.0 } else { -0.3 })
        .collect();
    let jump: Vec<f32> = (0..n)
        .map(|i| {
            if i < n / 2 {
                0.0
            } else {
                tone(0.23, 1.1, 1.0)[i]
            }
        })
        .collect();
    vec![
        (
            "noise",
            vec![noise.clone(), noise.iter().map(|v| -v * 0.9).collect()],
        ),
        (
            "fs/4 burst, odd phase",
            vec![burst(0.25, 0.77), burst(0.25, 2.3)],
        ),
        (
            "fs/6 burst, odd phase",
            vec![burst(1.0 / 6.0, 0.31), burst(1.0 / 6.0, 1.9)],
        ),
        (
            "near-Nyquist tone",
            vec![tone(0.47, 0.4, 1.0), tone(0.47, 0.9, 1.0)],
        ),
        ("square", vec![square.clone(), square]),
        ("clipped master", vec![clipped.clone(), clipped]),
        ("DC steps", vec![dc_steps.clone(), dc_steps]),
        ("silence to full scale", vec![jump.clone(), jump]),
    ]
}

/// Every lookahead ≥ 1 ms at 44.1, 48 and 96 kHz, three ceilings, fixed and automatic release,
/// +24 dB drive: the output's true peak (independent 16× reference) stays within 0.05 dB of the
/// ceiling and no sample exceeds it.
#[test]
fn holds_the_ceiling_on_adversarial_signals() {
    let mut configs = Vec::new();
    for sr in [44_100.0, 48_000.0, 96_000.0] {
        for (i, la) in [1.0f32, 1.5, 3.0, 5.0].into_iter().enumerate() {
            let ceiling = [-1.0f32, -0.1, -6.0, -1.0][i];
            configs.push((sr, la, ceiling, i % 2 == 1));
        }
    }
    // Two threads: the reference is expensive.
    let (a, b) = configs.split_at(configs.len() / 2);
    let results: Vec<(f64, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [a, b]
            .into_iter()
            .map(|part| scope.spawn(move || check_configs(part)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let worst = results
        .iter()
        .map(|r| r.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
    eprintln!("worst true peak relative to the ceiling: {worst:+.4} dB");
    assert!(failures.is_empty(), "{failures:#?}");
}

fn check_configs(configs: &[(f64, f32, f32, bool)]) -> (f64, Vec<String>) {
    let mut worst = f64::NEG_INFINITY;
    let mut failures = Vec::new();
    for &(sr, la, ceiling, auto) in configs {
        for (name, input) in adversarial(sr, 7) {
            let out = run(sr, la, 24.0, ceiling, auto, &input);
            for (c, ch) in out.iter().enumerate() {
                let sample_peak = ch.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                if sample_peak > db_to_gain(ceiling) {
                    failures.push(format!("{name} sr {sr} la {la}: sample over {sample_peak}"));
                }
                let tp = true_peak_16x(ch);
                worst = worst.max(tp - f64::from(ceiling));
                if tp > f64::from(ceiling) + 0.05 {
                    failures.push(format!(
                        "{name} sr {sr} la {la} auto {auto} ch {c}: true peak {tp:.3} dBTP over {ceiling}"
                    ));
                }
            }
        }
    }
    (worst, failures)
}

#[test]
fn transparent_below_the_ceiling_and_latency_exact() {
    for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        for la in [0.5f32, 1.0, 1.5, 5.0] {
            let mut lim = TruePeakLimiter::new(sr, 2, la);
            lim.set_ceiling_dbtp(-1.0);
            let latency = lim.latency_samples() as usize;
            let n = 4096;
            let mut rng = SmallRng::seed_from_u64(1);
            let quiet: Vec<f32> = (0..n).map(|_| rng.random_range(-0.3..0.3)).collect();
            let mut buf = [quiet.clone(), quiet.clone()];
            let mut views: Vec<&mut [f32]> = buf.iter_mut().map(|c| &mut c[..]).collect();
            lim.process(&mut views);
            assert!(buf[0][..latency].iter().all(|&v| v == 0.0));
            for i in latency..n {
                assert_eq!(
                    buf[0][i].to_bits(),
                    quiet[i - latency].to_bits(),
                    "sr {sr} la {la} at {i}"
                );
            }
            // An impulse arrives exactly at the reported latency.
            let mut lim = TruePeakLimiter::new(sr, 1, la);
            let mut x = vec![0.0f32; 2048];
            x[100] = 0.5;
            lim.process(&mut [&mut x[..]]);
            let at = x.iter().position(|&v| v != 0.0).unwrap();
            assert_eq!(at, 100 + latency, "sr {sr} la {la}");
            assert_eq!(x[at], 0.5);
        }
    }
}

#[test]
fn garbage_in_finite_out() {
    let mut lim = TruePeakLimiter::new(48_000.0, 2, 1.5);
    lim.set_drive_db(24.0);
    let mut a: Vec<f32> = (0..4000)
        .map(|i| match i % 5 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => 1e-40,
            3 => -f32::MAX,
            _ => 0.5,
        })
        .collect();
    let mut b = a.clone();
    lim.process(&mut [&mut a[..], &mut b[..]]);
    assert!(
        a.iter()
            .chain(&b)
            .all(|v| v.is_finite() && v.abs() <= db_to_gain(-1.0))
    );
}

#[test]
fn lookahead_changes_move_the_latency_exactly() {
    for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        let mut lim = TruePeakLimiter::new(sr, 1, 1.5);
        for la in [0.5f32, 1.0, 1.5, 2.5, 5.0, 1.5] {
            lim.set_lookahead_ms(la);
            let latency = lim.latency_samples() as usize;
            assert_eq!(latency as u32, TruePeakLimiter::latency_for(sr, la));
            let mut x = vec![0.0f32; latency + 600];
            x[300] = 0.25;
            lim.process(&mut [&mut x[..]]);
            let at = x.iter().position(|&v| v != 0.0).unwrap();
            assert_eq!(at, 300 + latency, "sr {sr} la {la}");
            assert_eq!(x[at], 0.25);
        }
        assert_eq!(
            TruePeakLimiter::latency_for(sr, 5.0) - TruePeakLimiter::latency_for(sr, 0.5),
            (5.0e-3 * sr).round() as u32 - (0.5e-3 * sr).round() as u32
        );
    }
}

#[test]
fn bypass_keeps_the_delay_and_passes_audio_untouched() {
    let sr = 48_000.0;
    let mut lim = TruePeakLimiter::new(sr, 2, 1.5);
    lim.set_drive_db(12.0);
    lim.set_ceiling_dbtp(-6.0);
    lim.set_bypass(true);
    let latency = lim.latency_samples() as usize;
    let mut rng = SmallRng::seed_from_u64(3);
    let loud: Vec<f32> = (0..8000).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut buf = [loud.clone(), loud.clone()];
    let (l, r) = buf.split_at_mut(1);
    lim.process(&mut [&mut l[0][..], &mut r[0][..]]);
    for i in latency..loud.len() {
        assert_eq!(buf[0][i].to_bits(), loud[i - latency].to_bits(), "at {i}");
    }
}

/// Fraction of the gain reduction recovered `after_s` after the loud part ends.
fn recovery(auto: bool, loud_s: f64, after_s: f64) -> f32 {
    let sr = 48_000.0;
    let mut lim = TruePeakLimiter::new(sr, 1, 1.5);
    lim.set_ceiling_dbtp(-1.0);
    lim.set_release_ms(300.0);
    lim.set_auto_release(auto);
    let loud_n = (loud_s * sr) as usize;
    let n = loud_n + (after_s * sr) as usize + 2000;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            let amp = if i < loud_n { 2.0 } else { 0.1 };
            amp * (0.05 * i as f32).sin()
        })
        .collect();
    let mut y = x.clone();
    lim.process(&mut [&mut y[..]]);
    let latency = lim.latency_samples() as usize;
    // Gain at the probe point, from a window of output/input ratios of the quiet tone.
    let probe = loud_n + (after_s * sr) as usize;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for i in probe..probe + 500 {
        num += f64::from(y[i + latency] * x[i]);
        den += f64::from(x[i] * x[i]);
    }
    let gain = (num / den) as f32;
    let deepest = db_to_gain(-1.0) / 2.0;
    (gain - deepest) / (1.0 - deepest)
}

#[test]
fn automatic_release_is_fast_after_a_peak_and_slow_after_sustained_limiting() {
    let after_peak = recovery(true, 0.005, 0.1);
    let after_sustained = recovery(true, 3.0, 0.1);
    let fixed = recovery(false, 0.005, 0.1);
    eprintln!(
        "recovered 100 ms after: peak {after_peak:.3}, sustained {after_sustained:.3}, fixed 300 ms {fixed:.3}"
    );
    // One-pole recovery r = 1 − e^(−t/τ): 100 ms after, 0.75 means τ < 72 ms, 0.3 means
    // τ > 280 ms.
    assert!(after_peak > 0.75, "{after_peak}");
    assert!(after_sustained < 0.3, "{after_sustained}");
    assert!(after_peak > fixed && fixed > after_sustained);
}

#[test]
fn the_ceiling_holds_after_16_bit_dither() {
    use crate::dither::{Dither, DitherBits};
    let sr = 44_100.0;
    let mut worst = f64::NEG_INFINITY;
    for ceiling in [-0.1f32, -1.0] {
        for (name, input) in adversarial(sr, 11).into_iter().take(4) {
            let mut out = run(sr, 1.5, 24.0, ceiling, true, &input);
            let mut dither = Dither::new();
            dither.set_bits(DitherBits::Bits16);
            dither.set_noise_shaping(true);
            dither.process(&mut out);
            for ch in &out {
                let sample_peak = ch.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(
                    sample_peak <= db_to_gain(ceiling),
                    "{name}: sample {sample_peak}"
                );
                let tp = true_peak_16x(ch);
                worst = worst.max(tp - f64::from(ceiling));
                assert!(
                    tp <= f64::from(ceiling) + 0.05,
                    "{name}: {tp:.3} dBTP after dither"
                );
            }
        }
    }
    eprintln!("after 16-bit shaped dither: worst {worst:+.4} dB");
}

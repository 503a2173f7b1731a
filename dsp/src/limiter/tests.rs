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
    input: &[Vec<f32>],
) -> Vec<Vec<f32>> {
    let mut lim = TruePeakLimiter::new(sr, input.len(), lookahead_ms);
    lim.set_ceiling_dbtp(ceiling);
    lim.set_drive_db(drive_db);
    lim.set_release_ms(80.0);
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

#[test]
fn holds_the_ceiling_on_adversarial_signals() {
    let mut worst = f64::NEG_INFINITY;
    let mut failures = Vec::new();
    for (sr, lookaheads) in [
        (44_100.0, &[1.0f32, 5.0][..]),
        (48_000.0, &[1.0, 1.5, 3.0][..]),
        (96_000.0, &[1.0, 5.0][..]),
    ] {
        for &la in lookaheads {
            for (name, input) in adversarial(sr, 7) {
                let ceiling = -1.0f32;
                let out = run(sr, la, 24.0, ceiling, &input);
                for (c, ch) in out.iter().enumerate() {
                    let sample_peak = ch.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(
                        sample_peak <= db_to_gain(ceiling),
                        "{name} sr {sr} la {la}: sample over {sample_peak}"
                    );
                    let tp = true_peak_16x(ch);
                    worst = worst.max(tp - f64::from(ceiling));
                    if tp > f64::from(ceiling) + 0.05 {
                        failures.push(format!(
                            "{name} sr {sr} la {la} ch {c}: true peak {tp:.3} dBTP over {ceiling}"
                        ));
                    }
                }
            }
        }
    }
    eprintln!("worst true peak relative to the ceiling: {worst:+.4} dB");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
            let mut buf = vec![quiet.clone(), quiet.clone()];
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
fn probe_noise() {
    let sr = 44_100.0;
    let (_, input) = adversarial(sr, 7).remove(0);
    let sine: Vec<f32> = (0..20000)
        .map(|i| (0.5 * (0.3 * i as f64).sin()) as f32)
        .collect();
    eprintln!("ref on 0.5 sine: {:.3}", true_peak_16x(&sine));
    for drive in [0.0f32, 6.0, 12.0, 24.0] {
        let out = run(sr, 1.0, drive, -1.0, &input);
        let mut m = crate::true_peak::TruePeakMeter::new(sr);
        m.process(&out[0]);
        eprintln!(
            "drive {drive}: ref16 {:.3}  meter4x {:.3}  sample {:.3}",
            true_peak_16x(&out[0]),
            crate::level::gain_to_db(m.finish()),
            crate::level::gain_to_db(out[0].iter().fold(0.0f32, |a, v| a.max(v.abs())))
        );
    }
}

#[test]
fn probe_burst() {
    let sr = 48_000.0;
    let (name, input) = adversarial(sr, 7).remove(1);
    let out = run(sr, 1.0, 24.0, -1.0, &input);
    let ch = &out[1];
    // locate the worst interval with the reference
    let mut best = (0usize, 0.0f64);
    for i in 64..ch.len() {
        let tp = true_peak_16x(&ch[i - 64..=i.min(ch.len() - 1)]);
        if tp > best.1 || best.0 == 0 {
            best = (i, tp);
        }
    }
    eprintln!("{name}: worst window ends at {} with {:.3}", best.0, best.1);
    let lat = TruePeakLimiter::new(sr, 2, 1.0).latency_samples() as usize;
    let c = best.0 - 32;
    for i in c - 12..c + 12 {
        let inp = input[1][i - lat] * db_to_gain(24.0);
        eprintln!(
            "{i}: out {:+.4} in {:+.4} gain {:.4}",
            ch[i],
            inp,
            if inp != 0.0 { ch[i] / inp } else { 0.0 }
        );
    }
}

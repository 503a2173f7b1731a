use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

/// Independent reference for the ceiling: the band-limited peak read at 16× by a long windowed
/// sinc – Kaiser β 10 (≈ 100 dB stop band), 128 taps per phase (2048 in all), designed and
/// summed in f64 here, not with the limiter's code. Its pass band ends near 0.475·fs, a little
/// below the detector's (≈ 0.48·fs): content in the top few per cent of the band is judged by
/// [`fft_true_peak`] only, which the dense-programme test prints but does not hold to the
/// ceiling (see the README).
fn kaiser_16x(x: &[f32]) -> f64 {
    const L: usize = 16;
    const T: usize = 128;
    let len = L * T;
    let centre = len as f64 / 2.0;
    let beta = 10.0;
    let i0 = |v: f64| {
        let (mut sum, mut term) = (1.0f64, 1.0f64);
        for k in 1..80 {
            term *= (v / 2.0 / k as f64).powi(2);
            sum += term;
        }
        sum
    };
    let branches: Vec<Vec<f64>> = (1..L)
        .map(|p| {
            let taps: Vec<f64> = (0..T)
                .map(|k| {
                    let n = (p + L * k) as f64;
                    let d = (n - centre) / L as f64;
                    let sinc = if d == 0.0 {
                        1.0
                    } else {
                        (PI * d).sin() / (PI * d)
                    };
                    let r = (n - centre) / centre;
                    sinc * i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0(beta)
                })
                .collect();
            let dc: f64 = taps.iter().sum();
            // Oldest → newest, like the signal windows below.
            taps.iter().rev().map(|t| t / dc).collect()
        })
        .collect();
    let xs: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut peak = xs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for w in xs.windows(T) {
        for b in &branches {
            let mut acc = [0.0f64; 4];
            for (h, v) in b.chunks_exact(4).zip(w.chunks_exact(4)) {
                for j in 0..4 {
                    acc[j] += h[j] * v[j];
                }
            }
            peak = peak.max((acc[0] + acc[1] + acc[2] + acc[3]).abs());
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
    run_lim(&mut lim, input)
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
                let tp = kaiser_16x(ch);
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
                let tp = kaiser_16x(ch);
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

/// Dense programme: partially correlated pink noise (plus `white` of white noise: brightness),
/// kicks every 0.5 s, sine bursts up to 18 kHz, soft-clipped by tanh(`clip`·x) when `clip` > 0
/// (a hot, pre-clipped mix), normalised to −1 dBFS sample peak.
fn dense(sr: f64, seconds: f64, seed: u64, white: f64, clip: f64) -> Vec<Vec<f32>> {
    let n = (sr * seconds) as usize;
    let mut rng = SmallRng::seed_from_u64(seed);
    // Pink: white through one-pole low-passes at octave-spaced corners fc, each weighted by
    // 1/√fc, so the summed density falls as 1/f above 20 Hz.
    let corners: Vec<f64> = (0..10).map(|k| 20.0 * 2f64.powi(k)).collect();
    let pink = |rng: &mut SmallRng, state: &mut [f64; 10]| -> f64 {
        let w: f64 = rng.random_range(-1.0..1.0);
        let mut s = 0.0;
        for (st, &fc) in state.iter_mut().zip(&corners) {
            let a = (-2.0 * PI * fc / sr).exp();
            *st = a * *st + (1.0 - a) * w;
            s += *st / (fc / 20.0).sqrt();
        }
        s + white * w
    };
    let (mut sc, mut sl, mut sr_) = ([0.0; 10], [0.0; 10], [0.0; 10]);
    let mut l = vec![0.0f64; n];
    let mut r = vec![0.0f64; n];
    for i in 0..n {
        let c = pink(&mut rng, &mut sc);
        let a = pink(&mut rng, &mut sl);
        let b = pink(&mut rng, &mut sr_);
        l[i] = 0.7 * c + 0.5 * a;
        r[i] = 0.7 * c + 0.5 * b;
    }
    let rms = (l.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
    for v in l.iter_mut().chain(r.iter_mut()) {
        *v *= 0.1 / rms;
    }
    // Kicks every 0.5 s: a pitch-swept decaying sine with a short click.
    let beat = (0.5 * sr) as usize;
    for start in (0..n).step_by(beat) {
        let mut phase = 0.0f64;
        for k in 0..(0.3 * sr) as usize {
            if start + k >= n {
                break;
            }
            let t = k as f64 / sr;
            let f = 50.0 + 100.0 * (-t / 0.03).exp();
            phase += 2.0 * PI * f / sr;
            let click = if t < 0.002 {
                rng.random_range(-0.3..0.3)
            } else {
                0.0
            };
            let v = 0.6 * (-t / 0.12).exp() * phase.sin() + click;
            l[start + k] += v;
            r[start + k] += v;
        }
    }
    // Sine bursts, 200 Hz – 18 kHz, 40 ms.
    for _ in 0..(seconds * 8.0) as usize {
        let f = 200.0 * (90.0f64).powf(rng.random_range(0.0..1.0));
        let f = f.min(0.45 * sr);
        let at = rng.random_range(0..n);
        let ph: f64 = rng.random_range(0.0..6.3);
        let len = (0.04 * sr) as usize;
        for k in 0..len.min(n - at) {
            let env = (PI * k as f64 / len as f64).sin();
            let v = 0.3 * env * (2.0 * PI * f * k as f64 / sr + ph).sin();
            l[at + k] += v;
            r[at + k] += v * 0.8;
        }
    }
    // Hot mix: soft clip, then normalise to −1 dBFS sample peak.
    for v in l.iter_mut().chain(r.iter_mut()) {
        if clip > 0.0 {
            *v = (clip * *v).tanh();
        }
    }
    let peak = l.iter().chain(&r).fold(0.0f64, |m, v| m.max(v.abs()));
    let g = 10f64.powf(-1.0 / 20.0) / peak;
    vec![
        l.iter().map(|v| (v * g) as f32).collect(),
        r.iter().map(|v| (v * g) as f32).collect(),
    ]
}

/// `input` through `lim` in random host blocks of 1…2048 frames (seeded).
fn run_lim(lim: &mut TruePeakLimiter, input: &[Vec<f32>]) -> Vec<Vec<f32>> {
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

/// Independent reference: the band-limited (ideal) peak of the whole signal read at 16× by FFT
/// zero-padding, in blocks of 16384 of which the middle 8192 are kept (the sinc tails beyond
/// ±4096 samples are left out; their effect is below 0.005 dB on programme material). Unlike a
/// windowed-sinc filter it has no transition band: content right up to Nyquist is read exactly.
fn fft_true_peak(x: &[f32]) -> f64 {
    use realfft::RealFftPlanner;
    const N: usize = 16_384;
    const KEEP: usize = N / 2;
    const F: usize = 16;
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(N);
    let inv = planner.plan_fft_inverse(N * F);
    let mut spec = fwd.make_output_vec();
    let mut big = inv.make_input_vec();
    let mut out = inv.make_output_vec();
    let mut peak = x.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    let mut start = 0usize;
    while start < x.len() {
        // Block centred on [start, start + KEEP).
        let from = start as isize - (N - KEEP) as isize / 2;
        let mut buf: Vec<f64> = (0..N as isize)
            .map(|k| {
                let i = from + k;
                if i < 0 || i as usize >= x.len() {
                    0.0
                } else {
                    f64::from(x[i as usize])
                }
            })
            .collect();
        fwd.process(&mut buf, &mut spec).unwrap();
        big.fill(realfft::num_complex::Complex::new(0.0, 0.0));
        big[..spec.len()].copy_from_slice(&spec);
        big[N / 2] *= 0.5;
        inv.process(&mut big, &mut out).unwrap();
        let a = (N - KEEP) / 2 * F;
        for v in &out[a..a + KEEP * F] {
            peak = peak.max((v / N as f64).abs());
        }
        start += KEEP;
    }
    20.0 * peak.log10()
}

/// True peak (dBTP) of `out` after `skip` frames by the `ebur128` crate (a port of libebur128),
/// or `None` from 192 kHz up, where it oversamples no more (its reading is the sample peak).
fn ebur128_tp(out: &[Vec<f32>], sr: f64, skip: usize) -> Option<f64> {
    if sr >= 192_000.0 {
        return None;
    }
    let mut ebu =
        ebur128::EbuR128::new(out.len() as u32, sr as u32, ebur128::Mode::TRUE_PEAK).ok()?;
    let planar: Vec<&[f32]> = out.iter().map(|c| &c[skip..]).collect();
    ebu.add_frames_planar_f32(&planar).ok()?;
    (0..out.len())
        .map(|c| ebu.true_peak(c as u32).ok().map(|v| 20.0 * v.log10()))
        .try_fold(f64::NEG_INFINITY, |m, v| v.map(|v| m.max(v)))
}

/// True peak (dBTP) of `out` after `skip` frames by Lathe's own meter.
fn meter_tp(out: &[Vec<f32>], sr: f64, skip: usize) -> f64 {
    out.iter()
        .map(|c| {
            let mut m = crate::true_peak::TruePeakMeter::new(sr);
            m.process(&c[skip..]);
            20.0 * f64::from(m.finish()).log10()
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

/// One dense-programme case: (sample rate, lookahead ms, release ms or `None` for automatic,
/// drive dB, extra input gain dB, white, clip).
type DenseCase = (f64, f32, Option<f32>, f32, f32, f64, f64);

/// Readings of one case: (deepest gain reduction dB, 16× reference, libebur128, Lathe's meter,
/// ideal FFT reference), the last four relative to the ceiling.
type DenseReadings = (f64, f64, Option<f64>, f64, f64);

/// Runs one dense-programme case (see [`DenseReadings`]).
fn dense_case(case: DenseCase, ceiling: f32) -> DenseReadings {
    let (sr, la, release, drive, extra_db, white, clip) = case;
    let seconds = if sr > 50_000.0 { 1.5 } else { 3.0 };
    let extra = db_to_gain(extra_db);
    let input: Vec<Vec<f32>> = dense(sr, seconds, 3, white, clip)
        .into_iter()
        .map(|c| c.into_iter().map(|v| v * extra).collect())
        .collect();
    let mut lim = TruePeakLimiter::new(sr, 2, la);
    lim.set_ceiling_dbtp(ceiling);
    lim.set_drive_db(drive);
    lim.set_release_ms(release.unwrap_or(100.0));
    lim.set_auto_release(release.is_none());
    lim.reset();
    let out = run_lim(&mut lim, &input);
    let gr = -20.0 * f64::from(lim.take_min_gain()).log10();
    for c in &out {
        let sample_peak = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            sample_peak <= db_to_gain(ceiling),
            "{case:?}: sample {sample_peak}"
        );
    }
    let c = f64::from(ceiling);
    let reference = out
        .iter()
        .map(|ch| kaiser_16x(ch))
        .fold(f64::NEG_INFINITY, f64::max)
        - c;
    let ebu = ebur128_tp(&out, sr, 0).map(|v| v - c);
    let ours = meter_tp(&out, sr, 0) - c;
    let ideal = out
        .iter()
        .map(|ch| fft_true_peak(ch))
        .fold(f64::NEG_INFINITY, f64::max)
        - c;
    (gr, reference, ebu, ours, ideal)
}

/// The ceiling on dense, continuously limited programme (pink noise, kicks, bursts; plain and
/// bright pre-clipped mixes) at 44.1–192 kHz, every lookahead, fixed and automatic release,
/// light to 30 dB of gain reduction, random host blocks: libebur128 and Lathe's own meter never
/// read above the ceiling, and the 16× reference never more than 0.05 dB above it.
#[test]
fn holds_the_ceiling_on_dense_programme() {
    let mut cases: Vec<DenseCase> = Vec::new();
    for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        cases.push((sr, 1.5, None, 12.0, 0.0, 0.0, 0.0));
        cases.push((sr, 0.5, Some(1.0), 24.0, 6.0, 0.15, 1.5));
        cases.push((sr, 5.0, Some(100.0), 18.0, 0.0, 0.15, 1.5));
        cases.push((sr, 1.5, None, 24.0, 6.0, 0.0, 0.0));
        cases.push((sr, 1.0, Some(10.0), 4.0, 0.0, 0.0, 1.5));
    }
    let ceiling = -1.0f32;
    let (a, b) = cases.split_at(cases.len() / 2);
    let results: Vec<(DenseCase, DenseReadings)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [a, b]
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&case| (case, dense_case(case, ceiling)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut failures = Vec::new();
    let (mut worst_ref, mut worst_ebu, mut worst_ours, mut worst_ideal, mut deepest) = (
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
        0.0f64,
    );
    for (case, (gr, reference, ebu, ours, ideal)) in &results {
        eprintln!(
            "{case:?}: GR {gr:5.1} dB, 16x {reference:+.3}, libebur128 {}, Lathe {ours:+.3}, ideal {ideal:+.3}",
            ebu.map_or("n/a".into(), |v| format!("{v:+.3}"))
        );
        deepest = deepest.max(*gr);
        worst_ref = worst_ref.max(*reference);
        worst_ours = worst_ours.max(*ours);
        worst_ideal = worst_ideal.max(*ideal);
        if let Some(e) = ebu {
            worst_ebu = worst_ebu.max(*e);
            if *e > 0.0 {
                failures.push(format!("{case:?}: libebur128 reads {e:+.3} dB over"));
            }
        }
        if *ours > 0.0 {
            failures.push(format!("{case:?}: Lathe's meter reads {ours:+.3} dB over"));
        }
        if *reference > 0.05 {
            failures.push(format!(
                "{case:?}: 16x reference reads {reference:+.3} dB over"
            ));
        }
    }
    eprintln!(
        "worst relative to the ceiling: 16x {worst_ref:+.3}, libebur128 {worst_ebu:+.3}, Lathe {worst_ours:+.3}, ideal (FFT) {worst_ideal:+.3}; deepest gain reduction {deepest:.1} dB"
    );
    assert!(
        deepest >= 28.0,
        "the cases must reach 30 dB of gain reduction: {deepest}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

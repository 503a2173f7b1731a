use super::*;
use realfft::num_complex::Complex;

/// The analog prototypes, written out here as complex transfer functions H(s) (s = jf/f0)
/// from their textbook definitions, independently of the design code's magnitude formulas.
fn analog_db(band: &Band, hz: f64) -> f64 {
    if !band.enabled {
        return 0.0;
    }
    let s = Complex::new(0.0, hz / f64::from(band.freq_hz));
    let one = Complex::new(1.0, 0.0);
    let a = 10f64.powf(f64::from(band.gain_db) / 40.0);
    let q = f64::from(band.q);
    let h = match band.kind {
        BandKind::Bell => (s * s + s * (a / q) + one) / (s * s + s / (a * q) + one),
        BandKind::LowShelf => {
            (s * s + s * (a.sqrt() / q) + a) * a / (s * s * a + s * (a.sqrt() / q) + one)
        }
        BandKind::HighShelf => {
            (s * s * a + s * (a.sqrt() / q) + one) * a / (s * s + s * (a.sqrt() / q) + a)
        }
        BandKind::LowCut | BandKind::HighCut => {
            // Butterworth of the band's order: poles on the unit circle at the textbook angles.
            let order = band.slope.order();
            let mut h = one;
            for k in 0..order {
                let angle = std::f64::consts::PI * (2 * k + order + 1) as f64 / (2 * order) as f64;
                let pole = Complex::new(angle.cos(), angle.sin());
                h *= if band.kind == BandKind::LowCut {
                    s / (s - pole)
                } else {
                    -pole / (s - pole)
                };
            }
            h
        }
    };
    20.0 * h.norm().log10()
}

fn single(kind: BandKind, freq_hz: f32, gain_db: f32, q: f32, slope: Slope) -> [Band; BANDS] {
    let mut bands = default_bands();
    for b in &mut bands {
        b.enabled = false;
    }
    bands[2] = Band {
        kind,
        enabled: true,
        freq_hz,
        gain_db,
        q,
        slope,
        placement: Placement::Stereo,
    };
    bands
}

/// Impulse response (mono) of an EQ with settled settings.
fn impulse_response(eq: &mut Eq, len: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; len];
    // Let the glide settle on silence first.
    let mut warm = vec![0.0f32; 8192];
    eq.process(&mut [&mut warm[..]]);
    eq.reset();
    x[0] = 1.0;
    eq.process(&mut [&mut x[..]]);
    x
}

/// Magnitude in dB of `h` at `hz` (FFT of the whole response, nearest bin).
struct Spectrum {
    db: Vec<f64>,
    bin_hz: f64,
}

impl Spectrum {
    fn of(h: &[f32], sample_rate_hz: f64) -> Self {
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(h.len());
        let mut input: Vec<f64> = h.iter().map(|&v| f64::from(v)).collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut input, &mut out).unwrap();
        Self {
            db: out
                .iter()
                .map(|c| 20.0 * c.norm().max(1e-20).log10())
                .collect(),
            bin_hz: sample_rate_hz / h.len() as f64,
        }
    }

    fn at(&self, hz: f64) -> (f64, f64) {
        let k = (hz / self.bin_hz).round() as usize;
        (k as f64 * self.bin_hz, self.db[k])
    }
}

fn check_points() -> Vec<f64> {
    (0..=120)
        .map(|i| 20.0 * 1000f64.powf(i as f64 / 120.0))
        .collect()
}

/// Worst |measured − analog| over 20 Hz … 20 kHz where the analog curve is above −30 dB.
fn worst_error(bands: &[Band; BANDS], phase: Phase, sample_rate_hz: f64) -> (f64, f64) {
    let mut eq = Eq::new(sample_rate_hz);
    eq.set_phase(phase);
    eq.set_bands(bands);
    let len = 1 << 17;
    let h = impulse_response(&mut eq, len);
    let spectrum = Spectrum::of(&h, sample_rate_hz);
    let mut worst = (0.0, 0.0);
    for hz in check_points() {
        let (bin_hz, measured) = spectrum.at(hz);
        let analog: f64 = bands.iter().map(|b| analog_db(b, bin_hz)).sum();
        if analog < -30.0 {
            continue;
        }
        let e = (measured - analog).abs();
        if e > worst.0 {
            worst = (e, bin_hz);
        }
    }
    worst
}

#[test]
fn minimum_phase_matches_the_analog_prototypes() {
    let mut worst = (0.0, String::new());
    let mut note = |e: (f64, f64), what: String| {
        if e.0 > worst.0 {
            worst = (e.0, format!("{what} at {:.0} Hz", e.1));
        }
    };
    for &f in &[
        20.0, 63.0, 250.0, 1_000.0, 3_000.0, 8_000.0, 12_000.0, 16_000.0,
    ] {
        for &g in &[-18.0, -6.0, 6.0, 18.0] {
            for &q in &[0.3, 0.7, 2.0, 8.0] {
                let bands = single(BandKind::Bell, f, g, q, Slope::Db24);
                note(
                    worst_error(&bands, Phase::Minimum, 44_100.0),
                    format!("bell {f} Hz {g} dB Q {q}"),
                );
            }
            for kind in [BandKind::LowShelf, BandKind::HighShelf] {
                for &q in &[0.5, 0.707, 1.0] {
                    let bands = single(kind, f, g, q, Slope::Db24);
                    note(
                        worst_error(&bands, Phase::Minimum, 44_100.0),
                        format!("{kind:?} {f} Hz {g} dB Q {q}"),
                    );
                }
            }
        }
    }
    for slope in [Slope::Db12, Slope::Db24, Slope::Db48] {
        for &f in &[20.0, 80.0, 300.0, 1_000.0] {
            let bands = single(BandKind::LowCut, f, 0.0, 0.7, slope);
            note(
                worst_error(&bands, Phase::Minimum, 44_100.0),
                format!("low cut {f} Hz {slope:?}"),
            );
        }
        for &f in &[2_000.0, 8_000.0, 16_000.0] {
            let bands = single(BandKind::HighCut, f, 0.0, 0.7, slope);
            note(
                worst_error(&bands, Phase::Minimum, 44_100.0),
                format!("high cut {f} Hz {slope:?}"),
            );
        }
    }
    eprintln!(
        "worst minimum-phase deviation: {:.3} dB ({})",
        worst.0, worst.1
    );
    assert!(worst.0 < 0.5, "{:.3} dB: {}", worst.0, worst.1);
}

#[test]
fn a_full_eq_matches_at_other_sample_rates() {
    let mut bands = default_bands();
    bands[0].enabled = true;
    bands[1].gain_db = 3.0;
    bands[2].gain_db = -4.0;
    bands[3] = Band {
        q: 3.0,
        gain_db: 5.0,
        ..bands[3]
    };
    bands[4].gain_db = -2.0;
    bands[5].gain_db = 4.0;
    bands[6].enabled = true;
    bands[6].freq_hz = 15_000.0;
    for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        let (e, at) = worst_error(&bands, Phase::Minimum, sr);
        assert!(e < 0.5, "{sr} Hz: {e:.3} dB at {at:.0} Hz");
    }
}

#[test]
fn linear_phase_matches_the_analog_curves_and_is_symmetric() {
    let mut bands = default_bands();
    bands[1].gain_db = 4.0;
    bands[2].gain_db = -5.0;
    bands[3].gain_db = 6.0;
    bands[3].q = 2.0;
    bands[5].gain_db = -3.0;
    bands[6].enabled = true;
    for sr in [44_100.0, 96_000.0] {
        let mut eq = Eq::new(sr);
        eq.set_phase(Phase::Linear);
        eq.set_bands(&bands);
        let latency = eq.latency_samples() as usize;
        let len = 1 << 17;
        let h = impulse_response(&mut eq, len);
        // Linear phase: symmetric about the latency.
        let worst_asym = (1..latency / 2)
            .map(|i| (h[latency + i] - h[latency - i]).abs())
            .fold(0.0f32, f32::max);
        let peak = h.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(worst_asym < 1e-5 * peak, "asymmetry {worst_asym}");
        let spectrum = Spectrum::of(&h, sr);
        for hz in check_points() {
            if hz < 40.0 {
                continue; // below the kernel's resolution (documented)
            }
            let (bin_hz, measured) = spectrum.at(hz);
            let analog: f64 = bands.iter().map(|b| analog_db(b, bin_hz)).sum();
            if analog < -30.0 {
                continue;
            }
            assert!(
                (measured - analog).abs() < 0.5,
                "{sr} Hz: {measured:.2} vs {analog:.2} dB at {bin_hz:.0} Hz"
            );
        }
    }
}

#[test]
fn linear_phase_latency_is_exact_and_bypass_keeps_it() {
    for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        for bypass in [false, true] {
            let mut eq = Eq::new(sr);
            eq.set_phase(Phase::Linear);
            let mut flat = default_bands();
            flat[2].gain_db = 0.0;
            eq.set_bands(&flat);
            eq.set_bypass(bypass);
            let latency = eq.latency_samples() as usize;
            assert_eq!(latency as u32, latency_for(sr, Phase::Linear));
            let h = impulse_response(&mut eq, latency * 2);
            let (peak_at, peak) = h.iter().enumerate().fold((0, 0.0f32), |m, (i, &v)| {
                if v.abs() > m.1 { (i, v.abs()) } else { m }
            });
            assert_eq!(peak_at, latency, "{sr} Hz bypass {bypass}");
            assert!((peak - 1.0).abs() < 1e-4, "{peak}");
        }
    }
}

#[test]
fn minimum_phase_flat_or_bypassed_is_bit_exact_and_has_no_latency() {
    let mut eq = Eq::new(48_000.0);
    assert_eq!(eq.latency_samples(), 0);
    let input: Vec<f32> = (0..5000)
        .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let (mut l, mut r) = (
        input.clone(),
        input.iter().rev().copied().collect::<Vec<_>>(),
    );
    let r0 = r.clone();
    eq.process(&mut [&mut l[..], &mut r[..]]);
    assert_eq!(l, input);
    assert_eq!(r, r0);
    let mut bands = default_bands();
    bands[3].gain_db = 6.0;
    eq.set_bands(&bands);
    eq.set_bypass(true);
    eq.process(&mut [&mut l[..], &mut r[..]]);
    assert_eq!(l, input);
}

#[test]
fn mid_and_side_bands_touch_only_their_part() {
    let mut bands = default_bands();
    bands[3].gain_db = 12.0;
    bands[3].placement = Placement::Side;
    for phase in [Phase::Minimum, Phase::Linear] {
        let mut eq = Eq::new(48_000.0);
        eq.set_phase(phase);
        eq.set_bands(&bands);
        // A pure mid signal (L = R) with a 1 kHz tone: a side band must leave it alone.
        let n = 48_000;
        let tone: Vec<f32> = (0..n)
            .map(|i| 0.25 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin())
            .collect();
        let (mut l, mut r) = (tone.clone(), tone.clone());
        eq.process(&mut [&mut l[..], &mut r[..]]);
        let d = eq.latency_samples() as usize;
        let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        let tail = n - 8000..n;
        let side: Vec<f32> = tail.clone().map(|i| l[i] - r[i]).collect();
        assert!(rms(&side) < 1e-6, "{phase:?}: side leaked {}", rms(&side));
        let gain_db =
            20.0 * (rms(&l[tail.clone()]) / rms(&tone[tail.start - d..tail.end - d])).log10();
        assert!(gain_db.abs() < 0.01, "{phase:?}: mid changed {gain_db} dB");
        // A pure side signal (L = −R) gets the +12 dB.
        let mut eq = Eq::new(48_000.0);
        eq.set_phase(phase);
        eq.set_bands(&bands);
        let (mut l, mut r) = (tone.clone(), tone.iter().map(|x| -x).collect::<Vec<_>>());
        eq.process(&mut [&mut l[..], &mut r[..]]);
        let gain_db =
            20.0 * (rms(&l[tail.clone()]) / rms(&tone[tail.start - d..tail.end - d])).log10();
        assert!(
            (gain_db - 12.0).abs() < 0.1,
            "{phase:?}: side gain {gain_db} dB"
        );
    }
}

#[test]
fn any_block_size_gives_the_same_output() {
    let mut bands = default_bands();
    bands[0].enabled = true;
    bands[2].gain_db = -4.0;
    bands[4].gain_db = 3.0;
    bands[4].placement = Placement::Mid;
    let n = 20_000;
    let input: Vec<f32> = (0..n)
        .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).sin()) * 0.4)
        .collect();
    for phase in [Phase::Minimum, Phase::Linear] {
        let run = |sizes: &[usize]| {
            let mut eq = Eq::new(44_100.0);
            eq.set_phase(phase);
            eq.set_bands(&bands);
            let (mut l, mut r) = (
                input.clone(),
                input.iter().map(|x| x * 0.5).collect::<Vec<_>>(),
            );
            let mut start = 0;
            let mut k = 0;
            while start < n {
                let len = sizes[k % sizes.len()].min(n - start);
                eq.process(&mut [&mut l[start..start + len], &mut r[start..start + len]]);
                start += len;
                k += 1;
            }
            (l, r)
        };
        let one = run(&[n]);
        for sizes in [&[1usize][..], &[7, 64, 1, 333, 4096], &[65_536]] {
            assert_eq!(run(sizes), one, "{phase:?} {sizes:?}");
        }
    }
}

#[test]
fn nan_and_huge_input_give_finite_output_and_recover() {
    for phase in [Phase::Minimum, Phase::Linear] {
        let mut eq = Eq::new(48_000.0);
        eq.set_phase(phase);
        let mut bands = default_bands();
        bands[2].gain_db = 6.0;
        eq.set_bands(&bands);
        let mut bad = vec![f32::NAN, f32::INFINITY, 1e30, -1e30, 1e-40];
        bad.resize(10_000, 0.0);
        eq.process(&mut [&mut bad[..]]);
        let mut quiet = vec![0.1f32; 30_000];
        eq.process(&mut [&mut quiet[..]]);
        assert!(
            quiet[20_000..]
                .iter()
                .all(|v| v.is_finite() && v.abs() < 1.0),
            "{phase:?}"
        );
    }
}

#[test]
fn parameter_changes_glide_without_jumps() {
    let mut eq = Eq::new(48_000.0);
    let n = 48_000;
    let mut x: Vec<f32> = (0..n)
        .map(|i| 0.25 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48_000.0).sin())
        .collect();
    let mut bands = default_bands();
    eq.process(&mut [&mut x[..4800]]);
    bands[3].gain_db = 18.0;
    eq.set_bands(&bands);
    eq.process(&mut [&mut x[4800..]]);
    // The largest sample-to-sample step stays that of a sine of the final level (no click).
    let max_step = x
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    let final_step =
        0.25 * 10f32.powf(18.0 / 20.0) * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0;
    assert!(max_step <= final_step * 1.05, "{max_step} vs {final_step}");
}

/// Linear phase, stereo → mono (mid-partition) → stereo again with a pure mid signal: the side
/// path starts from silence, not from what it held when it stopped.
#[test]
fn linear_phase_side_path_restarts_clean_after_mono() {
    let mut bands = default_bands();
    bands[3].gain_db = 6.0;
    bands[3].placement = Placement::Side;
    let mut eq = Eq::new(48_000.0);
    eq.set_phase(Phase::Linear);
    eq.set_bands(&bands);
    eq.reset();
    let mut seed = 0x2545_f491u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f32 / u32::MAX as f32 - 0.5
    };
    let (mut l, mut r): (Vec<f32>, Vec<f32>) = (0..20_000).map(|_| (rnd(), rnd())).unzip();
    eq.process(&mut [&mut l[..], &mut r[..]]);
    let mut mono: Vec<f32> = (0..3_000).map(|_| rnd()).collect();
    eq.process(&mut [&mut mono[..]]);
    let mut l: Vec<f32> = (0..20_000).map(|_| rnd()).collect();
    let mut r = l.clone();
    eq.process(&mut [&mut l[..], &mut r[..]]);
    let worst = l
        .iter()
        .zip(&r)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "side carried {worst} after mono");
}

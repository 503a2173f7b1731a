//! The fitter on curves made from known band settings (the shapes the fit draws from, so a
//! good fit is exact up to the 1/3-octave averaging), with a limit, an amount and a mono mix.
//! Matching real music changed by another tool (ffmpeg) is tested from the CLI.
use super::*;

fn centres() -> Vec<f64> {
    (-16..=13)
        .map(|n| 1000.0 * 10f64.powf(f64::from(n) / 10.0))
        .collect()
}

/// A music-like long-term spectrum: −3 dB per octave above 100 Hz, rolling off below 40 Hz.
fn mix_power(f: f64) -> f64 {
    let tilt = (100.0 / f.max(100.0)).powf(1.0);
    let low = 1.0 / (1.0 + (40.0 / f).powi(4));
    1e-3 * tilt * low
}

fn bell(freq_hz: f32, gain_db: f32, q: f32, placement: Placement) -> eq::Band {
    eq::Band {
        kind: BandKind::Bell,
        enabled: true,
        freq_hz,
        gain_db,
        q,
        slope: Slope::Db24,
        placement,
    }
}

fn shelf(kind: BandKind, freq_hz: f32, gain_db: f32, placement: Placement) -> eq::Band {
    eq::Band {
        kind,
        q: 0.707,
        ..bell(freq_hz, gain_db, 1.0, placement)
    }
}

/// Band-averaged power gain of `bands` on a path (0 mid, 1 side), as the measurement sees it.
fn gain(bands: &[eq::Band], path: usize, c: f64) -> f64 {
    let pts: Vec<f64> = (-2..=2)
        .map(|j| c * 10f64.powf(f64::from(j) / 50.0))
        .collect();
    pts.iter()
        .map(|&f| eq::path_magnitude_sq(bands, path, f))
        .sum::<f64>()
        / pts.len() as f64
}

struct Case {
    mix_mid: Vec<f64>,
    mix_side: Vec<f64>,
    ref_mid: Vec<f64>,
    ref_side: Vec<f64>,
}

/// The reference is the mix through `bands`, its side scaled by `side_gain`, 3 dB louder.
fn case(bands: &[eq::Band], side_gain: f64) -> Case {
    let c = centres();
    let mix_mid: Vec<f64> = c.iter().map(|&f| mix_power(f)).collect();
    let mix_side: Vec<f64> = c.iter().map(|&f| 0.2 * mix_power(f)).collect();
    let louder = 2.0;
    Case {
        ref_mid: c
            .iter()
            .zip(&mix_mid)
            .map(|(&f, m)| louder * m * gain(bands, 0, f))
            .collect(),
        ref_side: c
            .iter()
            .zip(&mix_side)
            .map(|(&f, s)| louder * s * side_gain * side_gain * gain(bands, 1, f))
            .collect(),
        mix_mid,
        mix_side,
    }
}

fn run(case: &Case, tone: bool, width: bool, amount: f64, limit_db: f64) -> MatchFit {
    let c = centres();
    fit(
        &Spectra {
            centres_hz: &c,
            mix_mid: &case.mix_mid,
            mix_side: &case.mix_side,
            ref_mid: &case.ref_mid,
            ref_side: &case.ref_side,
            mix_mid_fifths: &[],
            mix_side_fifths: &[],
        },
        &EqSettings::default(),
        &MatchOptions {
            aspects: Aspects { tone, width },
            amount,
            limit_db,
        },
    )
}

fn worst(v: &[Option<f64>]) -> f64 {
    let c = centres();
    v.iter()
        .zip(&c)
        .filter(|(_, f)| (39.0..=16_500.0).contains(*f))
        .filter_map(|(r, _)| *r)
        .fold(0.0, |m: f64, r| m.max(r.abs()))
}

#[test]
fn tone_and_width_recover_mid_and_side_moves() {
    let bands = [
        shelf(BandKind::LowShelf, 120.0, 6.0, Placement::Mid),
        bell(900.0, -6.0, 1.2, Placement::Mid),
        bell(3_000.0, 5.0, 0.8, Placement::Side),
        shelf(BandKind::HighShelf, 7_000.0, -6.0, Placement::Side),
    ];
    let f = run(&case(&bands, 0.8), true, true, 1.0, 6.0);
    let (m, s) = (worst(&f.residual_mid_db), worst(&f.residual_side_db));
    assert!(
        m <= 0.2 && s <= 0.2,
        "residual mid {m:.3} side {s:.3} dB: {f:?}"
    );
    // The curve is there to fit (not flat) and the fit found the side's own moves.
    assert!(worst(&f.target_side_db) >= 5.0, "{f:?}");
    let width = f.width_pct.expect("width matched");
    assert!((40.0..=200.0).contains(&width), "width {width}");
}

#[test]
fn tone_alone_moves_both_paths_alike() {
    let bands = [
        shelf(BandKind::LowShelf, 80.0, -4.0, Placement::Stereo),
        bell(2_500.0, 3.0, 1.0, Placement::Stereo),
        shelf(BandKind::HighShelf, 10_000.0, 5.0, Placement::Stereo),
    ];
    let f = run(&case(&bands, 1.0), true, false, 1.0, 6.0);
    assert!(worst(&f.residual_mid_db) <= 0.2, "{f:?}");
    assert_eq!(f.width_pct, None);
    for b in [
        f.eq.low_shelf,
        f.eq.bell1,
        f.eq.bell2,
        f.eq.bell3,
        f.eq.high_shelf,
    ] {
        assert_eq!(b.placement, Placement::Stereo);
    }
}

#[test]
fn width_alone_leaves_the_mid() {
    let bands = [bell(4_000.0, 4.0, 0.7, Placement::Side)];
    let f = run(&case(&bands, 0.6), false, true, 1.0, 6.0);
    assert!(worst(&f.residual_side_db) <= 0.2, "{f:?}");
    assert!(f.residual_mid_db.iter().all(Option::is_none));
    for b in [
        f.eq.low_shelf,
        f.eq.bell1,
        f.eq.bell2,
        f.eq.bell3,
        f.eq.high_shelf,
    ] {
        assert!(
            b.placement == Placement::Side || b.gain_db.abs() < 0.05,
            "{b:?}"
        );
    }
    // The reference's side is the mix's × 0.6 with a bell on top of it: width 60 %.
    let width = f.width_pct.unwrap();
    assert!((55.0..=65.0).contains(&width), "width {width}: {f:?}");
}

#[test]
fn amount_halves_the_curve_and_the_limit_holds() {
    let bands = [shelf(BandKind::HighShelf, 5_000.0, 6.0, Placement::Stereo)];
    let full = run(&case(&bands, 1.0), true, false, 1.0, 6.0);
    let half = run(&case(&bands, 1.0), true, false, 0.5, 6.0);
    // Well on the shelf, relative to well below it: the fitted EQ at half the amount does
    // half.
    let lift = |f: &MatchFit| {
        let bands = f.eq.bands();
        eq::path_response_db(&bands, 0, 12_500.0) - eq::path_response_db(&bands, 0, 500.0)
    };
    let (a, b) = (lift(&full), lift(&half));
    assert!(
        (a - 6.0).abs() < 0.3 && (a - 2.0 * b).abs() < 0.3,
        "{a} {b}"
    );
    let steep = [shelf(BandKind::HighShelf, 5_000.0, 12.0, Placement::Stereo)];
    let limited = run(&case(&steep, 1.0), true, false, 1.0, 6.0);
    for b in [
        limited.eq.low_shelf,
        limited.eq.bell1,
        limited.eq.bell2,
        limited.eq.bell3,
        limited.eq.high_shelf,
    ] {
        assert!(b.gain_db.abs() <= 6.0 + 1e-4, "{b:?}");
    }
}

#[test]
fn mono_mix_matches_tone_only() {
    let mut c = case(&[bell(1_000.0, 3.0, 1.0, Placement::Stereo)], 1.0);
    c.mix_side.iter_mut().for_each(|s| *s = 0.0);
    c.ref_side.iter_mut().for_each(|s| *s = 0.0);
    let f = run(&c, true, true, 1.0, 6.0);
    assert_eq!(f.width_pct, None);
    assert!(worst(&f.residual_mid_db) <= 0.2, "{f:?}");
}

#[test]
fn flat_difference_leaves_the_eq_flat() {
    let f = run(&case(&[], 1.0), true, true, 1.0, 6.0);
    for b in [
        f.eq.low_shelf,
        f.eq.bell1,
        f.eq.bell2,
        f.eq.bell3,
        f.eq.high_shelf,
    ] {
        assert!(b.gain_db.abs() < 0.05, "{b:?}");
    }
    assert!((f.width_pct.unwrap() - 100.0).abs() < 0.5);
}

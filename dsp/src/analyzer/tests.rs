use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn sine(sr: f64, secs: f64, freq: f64, amp: f64) -> Vec<f32> {
    (0..(sr * secs) as usize)
        .map(|n| (amp * (std::f64::consts::TAU * freq * n as f64 / sr).sin()) as f32)
        .collect()
}

fn analyze(sr: f64, chans: &[Vec<f32>]) -> ProgramReport {
    let mut a = Analyzer::new(sr, chans.len(), AnalyzerConfig::default());
    a.process(chans);
    a.finish();
    a.report()
}

fn near(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} ± {tol}"
    );
}

#[test]
fn dynamics_of_a_sine_and_a_square() {
    let sr = 48_000.0;
    let amp = 10f64.powf(-23.0 / 20.0);
    let s = sine(sr, 10.0, 1000.0, amp);
    let r = analyze(sr, &[s.clone(), s]);
    // A sine's crest factor is √2 (3.01 dB); its true peak equals its amplitude.
    near("crest", r.crest_db, 3.0103, 0.01);
    near("window crest", r.crest_window_db, 3.0103, 0.01);
    near("true peak", r.true_peak_max_dbtp, -23.0, 0.05);
    near("sample peak", r.sample_peak_max_dbfs, -23.0, 0.01);
    // −23 dBFS 1 kHz reads −22.993 LUFS, so PLR and PSR are ≈ 0 dB.
    near("PLR", r.plr_db, -23.0 - r.loudness.integrated_lufs, 0.05);
    near("PLR value", r.plr_db, 0.0, 0.06);
    near("PSR", r.psr_db, 0.0, 0.06);
    assert!(
        r.qc.iter().all(|e| e.kind != QcKind::TruePeakOver),
        "{:?}",
        r.qc
    );

    let square: Vec<f32> = (0..480_000)
        .map(|n| if (n / 24) % 2 == 0 { 0.5 } else { -0.5 })
        .collect();
    let r = analyze(sr, &[square]);
    near("square crest", r.crest_db, 0.0, 1e-6);
}

#[test]
fn true_peak_overs_are_timestamped() {
    let sr = 44_100.0;
    let mut x = sine(sr, 4.0, 440.0, 0.25);
    // A 50 ms burst at 0 dBFS starting at 2.0 s.
    for (i, s) in x[88_200..88_200 + 2205].iter_mut().enumerate() {
        *s = (std::f64::consts::TAU * 440.0 * i as f64 / sr).sin() as f32;
    }
    let r = analyze(sr, &[x.clone(), x]);
    let overs: Vec<_> =
        r.qc.iter()
            .filter(|e| e.kind == QcKind::TruePeakOver)
            .collect();
    assert_eq!(overs.len(), 1, "{:?}", r.qc);
    near("over start", overs[0].start_s, 2.0, 0.011);
    near("over length", overs[0].duration_s, 0.05, 0.021);
    near("over level", overs[0].value, 0.0, 0.1);
}

#[test]
fn sustained_anti_phase_is_a_phase_problem() {
    let sr = 48_000.0;
    let mut rng = SmallRng::seed_from_u64(3);
    let n = (sr * 6.0) as usize;
    let l: Vec<f32> = (0..n).map(|_| rng.random_range(-0.3..0.3)).collect();
    let mut r = l.clone();
    // Seconds 2 to 4 are in anti-phase.
    for s in &mut r[96_000..192_000] {
        *s = -*s;
    }
    let rep = analyze(sr, &[l, r]);
    let phase: Vec<_> = rep
        .qc
        .iter()
        .filter(|e| e.kind == QcKind::PhaseProblem)
        .collect();
    assert_eq!(phase.len(), 1, "{:?}", rep.qc);
    near("phase start", phase[0].start_s, 2.0, 0.35);
    near("phase length", phase[0].duration_s, 2.0, 0.5);
    assert!(phase[0].value < -0.9);
}

#[test]
fn reports_do_not_depend_on_block_sizes() {
    let sr = 48_000.0;
    let mut rng = SmallRng::seed_from_u64(8);
    let n = (sr * 8.0) as usize;
    let l: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / sr as f32;
            0.3 * (std::f32::consts::TAU * 220.0 * t).sin() * (1.0 + 0.5 * (t * 1.3).sin())
                + rng.random_range(-0.01..0.01)
        })
        .collect();
    let mut r: Vec<f32> = l
        .iter()
        .map(|x| 0.8 * x + rng.random_range(-0.01..0.01))
        .collect();
    // Something for QC to find, so the event lists are compared for real.
    r[100_000] += 0.7;
    r[200_000..200_004].fill(1.0);
    let whole = analyze(sr, &[l.clone(), r.clone()]);
    let mut a = Analyzer::new(sr, 2, AnalyzerConfig::default());
    let mut pos = 0;
    while pos < n {
        let k = rng.random_range(0..=4096).min(n - pos);
        a.process(&[&l[pos..pos + k], &r[pos..pos + k]]);
        pos += k;
    }
    a.finish();
    let chunked = a.report();
    near(
        "I",
        chunked.loudness.integrated_lufs,
        whole.loudness.integrated_lufs,
        1e-9,
    );
    // Σx² is summed in f32 lanes per sub-block piece, so chunking moves the last digits.
    near("crest", chunked.crest_db, whole.crest_db, 1e-6);
    near("PSR", chunked.psr_db, whole.psr_db, 1e-9);
    near(
        "corr",
        chunked.stereo.correlation,
        whole.stereo.correlation,
        1e-9,
    );
    assert_eq!(chunked.true_peak_dbtp, whole.true_peak_dbtp);
    assert!(
        whole.qc.iter().any(|e| e.kind == QcKind::Click),
        "{:?}",
        whole.qc
    );
    assert!(
        whole.qc.iter().any(|e| e.kind == QcKind::ClippedRun),
        "{:?}",
        whole.qc
    );
    assert_eq!(chunked.qc, whole.qc);
}

#[test]
fn surround_and_mono_and_garbage() {
    let sr = 48_000.0;
    let tone = |db: f64| sine(sr, 20.0, 1000.0, 10f64.powf(db / 20.0));
    // Tech 3341 case 6 as 5.1 with a silent LFE.
    let chans = vec![
        tone(-28.0),
        tone(-28.0),
        tone(-24.0),
        vec![0.0; 960_000],
        tone(-30.0),
        tone(-30.0),
    ];
    let r = analyze(sr, &chans);
    near("5.1 I", r.loudness.integrated_lufs, -23.0, 0.05);
    assert_eq!(r.true_peak_dbtp.len(), 6);
    let mut bad = vec![f32::NAN; 48_000];
    bad.extend(std::iter::repeat_n(f32::INFINITY, 4800));
    let r = analyze(sr, &[bad]);
    assert!(
        r.crest_db.is_finite() && r.true_peak_max_dbtp.is_finite()
            || r.true_peak_max_dbtp == f64::NEG_INFINITY
    );
}

/// The analyzer (Lathe Meter's whole process) flushes denormals itself: denormal input costs no
/// more than twice white noise (best of three, 938 blocks of 512 stereo frames at 48 kHz, on a
/// thread without flush-to-zero). Without the flush, its filters take ~10x as long.
#[test]
fn analyzer_denormals_cost_no_more_than_audio() {
    assert!(!crate::denormal::FtzGuard::is_enabled());
    let sr = 48_000.0;
    let mut rng = SmallRng::seed_from_u64(7);
    let noise: Vec<Vec<f32>> = (0..2)
        .map(|_| (0..480_256).map(|_| rng.random_range(-0.5..0.5)).collect())
        .collect();
    let denormal: Vec<Vec<f32>> = noise
        .iter()
        .map(|c| c.iter().map(|x| x * 1e-38).collect())
        .collect();
    assert!(denormal[0].iter().any(|x| x.is_subnormal()));
    let time = |input: &[Vec<f32>]| {
        (0..3)
            .map(|_| {
                let mut a = Analyzer::new(sr, 2, AnalyzerConfig::default());
                let start = std::time::Instant::now();
                for i in (0..input[0].len()).step_by(512) {
                    a.process(&[&input[0][i..i + 512], &input[1][i..i + 512]]);
                }
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let (t_audio, t_denormal) = (time(&noise), time(&denormal));
    assert!(
        t_denormal <= 2.0 * t_audio,
        "denormal input took {t_denormal:.3} s, white noise {t_audio:.3} s"
    );
}

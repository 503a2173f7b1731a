//! Meter speed: lathe-dsp's loudness + true-peak metering against the `ebur128` crate, on the same
//! 10 minutes of stereo 48 kHz programme-like audio, in the same run.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p lathe-dsp --bench meter`).

use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig};
use lathe_dsp::loudness::LoudnessMeter;
use lathe_dsp::true_peak::TruePeakMeter;
use std::hint::black_box;
use std::time::Instant;

mod common;

const SAMPLE_RATE: u32 = 48_000;
const SECONDS: usize = 600;
/// Block size a DAW typically uses.
const BLOCK: usize = 512;
/// Timed passes; the fastest counts (least disturbed by the rest of the machine).
const PASSES: usize = 3;

fn best_of(mut f: impl FnMut()) -> f64 {
    (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let audio = common::programme(SAMPLE_RATE, SECONDS, 0x9e37_79b9_7f4a_7c15);
    let duration_s = SECONDS as f64;
    println!(
        "meter bench: {SECONDS} s stereo {SAMPLE_RATE} Hz, {BLOCK}-frame blocks, best of {PASSES}"
    );

    let ours = best_of(|| {
        let mut a = Analyzer::new(f64::from(SAMPLE_RATE), 2, AnalyzerConfig::default());
        for start in (0..audio[0].len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(audio[0].len());
            black_box(a.process(&[&audio[0][start..end], &audio[1][start..end]]));
        }
        a.finish();
        black_box(a.report());
    });

    let theirs = best_of(|| {
        let mut m = ebur128::EbuR128::new(
            2,
            SAMPLE_RATE,
            ebur128::Mode::I | ebur128::Mode::LRA | ebur128::Mode::TRUE_PEAK,
        )
        .expect("ebur128 state");
        for start in (0..audio[0].len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(audio[0].len());
            m.add_frames_planar_f32(&[&audio[0][start..end], &audio[1][start..end]])
                .expect("ebur128 add");
        }
        let _ = black_box((
            m.loudness_global(),
            m.loudness_range(),
            m.true_peak(0),
            m.true_peak(1),
        ));
    });

    if std::env::var_os("LATHE_BENCH_SPLIT").is_some() {
        let sr = f64::from(SAMPLE_RATE);
        let loud_only = best_of(|| {
            let mut loud = LoudnessMeter::new(sr, 2);
            for start in (0..audio[0].len()).step_by(BLOCK) {
                let end = (start + BLOCK).min(audio[0].len());
                loud.process(&[&audio[0][start..end], &audio[1][start..end]]);
            }
            black_box(loud.reading());
        });
        let tp_only = best_of(|| {
            let mut tp = [TruePeakMeter::new(sr), TruePeakMeter::new(sr)];
            for start in (0..audio[0].len()).step_by(BLOCK) {
                let end = (start + BLOCK).min(audio[0].len());
                tp[0].process(&audio[0][start..end]);
                tp[1].process(&audio[1][start..end]);
            }
            black_box((tp[0].max(), tp[1].max()));
        });
        println!(
            "  loudness alone {:.0}x, true peak alone {:.0}x",
            duration_s / loud_only,
            duration_s / tp_only
        );
    }
    let x_ours = duration_s / ours;
    let x_theirs = duration_s / theirs;
    println!(
        "lathe-dsp analyzer (M/S/I/LRA, sample + true peak per channel, PLR/PSR/crest, stereo, QC): {ours:.3} s = {x_ours:.0}x realtime"
    );
    println!(
        "ebur128 crate (I + LRA + true peak):                 {theirs:.3} s = {x_theirs:.0}x realtime"
    );
    println!("ratio lathe / ebur128: {:.2}x", x_ours / x_theirs);
}

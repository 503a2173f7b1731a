//! Limiter speed: x-realtime of lathe-dsp's true-peak limiter on 60 s of stereo 48 kHz
//! programme-like audio driven 12 dB into the ceiling (so it is limiting most of the time).
//!
//! Run with `cargo xtask bench` (or `cargo bench -p lathe-dsp --bench limiter`).

use lathe_dsp::limiter::TruePeakLimiter;
use std::hint::black_box;
use std::time::Instant;

mod common;

const SAMPLE_RATE: f64 = 48_000.0;
const SECONDS: usize = 60;
const BLOCK: usize = 512;
const PASSES: usize = 3;

fn main() {
    let input = common::programme(SAMPLE_RATE as u32, SECONDS, 0x2545_f491_4f6c_dd1d);
    let mut best = f64::INFINITY;
    let mut min_gain = 1.0f32;
    for _ in 0..PASSES {
        let mut lim = TruePeakLimiter::new(SAMPLE_RATE, 2, 1.5);
        lim.set_ceiling_dbtp(-1.0);
        lim.set_drive_db(12.0);
        let mut buf = input.clone();
        let start = Instant::now();
        common::for_each_block(&mut buf, BLOCK, |l, r| {
            lim.process(&mut [l, r]);
            min_gain = min_gain.min(lim.take_min_gain());
        });
        best = best.min(start.elapsed().as_secs_f64());
        black_box(&buf);
    }
    println!(
        "true-peak limiter (stereo 48 kHz, 1.5 ms lookahead, +12 dB drive, deepest gain reduction {:.1} dB): {:.0}x realtime",
        -20.0 * min_gain.log10(),
        SECONDS as f64 / best
    );
}

//! Full-chain speed: x-realtime of `MasterChain` (exactly what Lathe Master and `lathe master`
//! run) on 60 s of stereo 48 kHz programme-like audio in 512-frame blocks, in three settings:
//! the plugin's defaults with +12 dB drive, every stage working (low cut, five EQ bands incl.
//! mid/side, compressor with automatic release, width + mono bass, limiter, 16-bit shaped
//! dither) with minimum-phase EQ, and the same with linear-phase EQ.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p lathe-dsp --bench chain`).

use lathe_dsp::eq::{Phase, Placement};
use lathe_dsp::master::{LowCutMode, MasterChain, MasterSettings};
use std::hint::black_box;
use std::time::Instant;

mod common;

const SAMPLE_RATE: f64 = 48_000.0;
const SECONDS: usize = 60;
const BLOCK: usize = 512;
const PASSES: usize = 3;

fn defaults() -> MasterSettings {
    let mut s = MasterSettings::default();
    s.limiter.drive_db = 12.0;
    s
}

fn every_stage(phase: Phase) -> MasterSettings {
    let mut s = defaults();
    s.input.low_cut = LowCutMode::Sub20;
    s.eq.phase = phase;
    s.eq.low_cut.on = true;
    s.eq.low_shelf.gain_db = 2.0;
    s.eq.bell1.gain_db = -1.5;
    s.eq.bell2.gain_db = 1.0;
    s.eq.bell2.placement = Placement::Mid;
    s.eq.bell3.gain_db = -2.0;
    s.eq.high_shelf.gain_db = 1.5;
    s.eq.high_shelf.placement = Placement::Side;
    s.compressor.on = true;
    s.compressor.threshold_db = -24.0;
    s.compressor.auto_release = true;
    s.stereo.width_pct = 120.0;
    s.stereo.mono_bass = true;
    s.output.gain_db = -0.5;
    s.output.dither_bits = 16;
    s.output.noise_shaping = true;
    s
}

fn main() {
    let input = common::programme(SAMPLE_RATE as u32, SECONDS, 0x2545_f491_4f6c_dd1d);
    for (settings, label) in [
        (
            defaults(),
            "defaults (+12 dB drive; flat EQ and stereo skip, compressor off)",
        ),
        (
            every_stage(Phase::Minimum),
            "every stage working, minimum-phase EQ",
        ),
        (
            every_stage(Phase::Linear),
            "every stage working, linear-phase EQ",
        ),
    ] {
        let mut best = f64::INFINITY;
        for _ in 0..PASSES {
            let mut chain =
                MasterChain::with_settings(SAMPLE_RATE, 2, &settings).expect("stereo 48 kHz");
            let mut buf = input.clone();
            let start = Instant::now();
            common::for_each_block(&mut buf, BLOCK, |l, r| chain.process(&mut [l, r]));
            best = best.min(start.elapsed().as_secs_f64());
            black_box(&buf);
        }
        println!(
            "MasterChain, {label} (stereo 48 kHz): {:.0}x realtime",
            SECONDS as f64 / best
        );
    }
}

//! Automation cost: every parameter of Lathe Master moved every 64-frame block (stereo 48 kHz,
//! 30 s of programme-like audio) through `MasterChain`, timing each block. Continuous parameters
//! follow slow sweeps across the middle of their ranges; switches and choices flip every 0.5 s,
//! staggered. EQ Phase and Lookahead are left alone: they change the latency, which a host
//! answers by restarting the plugin. Prints the median, 99th percentile and worst block (the
//! first block excluded) against the median of the same settings without automation, for the
//! minimum- and linear-phase EQ. Each block's time is the least of three identical runs, so
//! interruptions by the operating system do not count as the chain's cost.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p lathe-dsp --bench automation`).

use lathe_dsp::eq::Phase;
use lathe_dsp::master::params::{Kind, specs};
use lathe_dsp::master::{MasterChain, MasterSettings};
use std::hint::black_box;
use std::time::Instant;

mod common;

const SAMPLE_RATE: f64 = 48_000.0;
const SECONDS: usize = 30;
const BLOCK: usize = 64;
const PASSES: usize = 3;

/// Per-block times (s) of a run; `automate` moves the parameters before each block.
fn run(phase: Phase, automate: bool, input: &[Vec<f32>; 2]) -> Vec<f64> {
    let mut base = MasterSettings::default();
    base.eq.phase = phase;
    base.compressor.on = true;
    base.limiter.drive_db = 6.0;
    let mut chain = MasterChain::with_settings(SAMPLE_RATE, 2, &base).expect("stereo 48 kHz");
    let all = specs();
    let mut buf = input.clone();
    let frames = buf[0].len();
    let mut times = Vec::with_capacity(frames / BLOCK + 1);
    let mut settings = base;
    let mut pos = 0;
    let mut block = 0usize;
    while pos < frames {
        let n = BLOCK.min(frames - pos);
        if automate {
            let t = pos as f32 / SAMPLE_RATE as f32;
            for (k, spec) in all.iter().enumerate() {
                if matches!(spec.name, "EQ Phase" | "Lookahead") {
                    continue;
                }
                let v = match spec.kind {
                    Kind::Float { min, max, .. } => {
                        let rate = 0.05 + 0.01 * k as f32;
                        let x = 0.5 + 0.25 * (std::f32::consts::TAU * rate * t).sin();
                        min + (max - min) * x
                    }
                    Kind::Bool => {
                        let flips = (pos + k * 1_000) / 24_000;
                        if flips % 2 == 0 { 1.0 } else { 0.0 }
                    }
                    Kind::Choice(names) => {
                        let flips = (pos + k * 1_000) / 24_000;
                        (flips % names.len()) as f32
                    }
                };
                (spec.set)(&mut settings, v);
            }
            settings.eq.phase = phase;
        }
        let [l, r] = &mut buf;
        let start = Instant::now();
        chain.set(&settings);
        chain.process(&mut [&mut l[pos..pos + n], &mut r[pos..pos + n]]);
        times.push(start.elapsed().as_secs_f64());
        pos += n;
        block += 1;
    }
    black_box(&buf);
    black_box(block);
    times
}

fn stats(times: &[f64]) -> (f64, f64, f64) {
    let mut sorted = times[1..].to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), *sorted.last().unwrap_or(&0.0))
}

fn main() {
    let input = common::programme(SAMPLE_RATE as u32, SECONDS, 0x9e37_79b9_7f4a_7c15);
    let budget_us = BLOCK as f64 / SAMPLE_RATE * 1e6;
    for (phase, label) in [
        (Phase::Minimum, "minimum phase"),
        (Phase::Linear, "linear phase"),
    ] {
        // Each block's time is the least of PASSES identical runs: the work is the same in
        // every run, so this keeps the chain's own cost and drops the operating system's
        // interruptions (one preemption alone costs more than a block).
        let least = |automate: bool| {
            let mut best = run(phase, automate, &input);
            for _ in 1..PASSES {
                for (b, t) in best.iter_mut().zip(run(phase, automate, &input)) {
                    *b = b.min(t);
                }
            }
            best
        };
        let (still, _, still_worst) = stats(&least(false));
        let auto = least(true);
        let (median, p99, worst) = stats(&auto);
        println!(
            "Automation, every parameter every 64-frame block, {label} (stereo 48 kHz; budget {budget_us:.0} us): \
             median {:.1} us, p99 {:.1} us, worst {:.1} us = {:.1}x the median \
             (no automation: median {:.1} us, worst {:.1} us)",
            median * 1e6,
            p99 * 1e6,
            worst * 1e6,
            worst / median,
            still * 1e6,
            still_worst * 1e6,
        );
    }
}

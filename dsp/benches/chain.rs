//! Full-chain speed: x-realtime of Lathe Master's whole chain (the same lathe-dsp processors in
//! the plugin's order: trim, low cut, EQ, compressor, stereo, limiter, output gain, dither,
//! level-matched A/B) on 60 s of stereo 48 kHz programme-like audio, in three settings:
//! the plugin's defaults with +12 dB drive, every stage working with minimum-phase EQ, and
//! the same with linear-phase EQ.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p lathe-dsp --bench chain`).

use lathe_dsp::ab::{LevelMatchedAb, Listen};
use lathe_dsp::compressor::GlueCompressor;
use lathe_dsp::dither::{Dither, DitherBits};
use lathe_dsp::eq::{self, Eq, Phase, Placement};
use lathe_dsp::gain::RampedGain;
use lathe_dsp::highpass::LowCut;
use lathe_dsp::limiter::TruePeakLimiter;
use lathe_dsp::stereo::Stereo;
use std::hint::black_box;
use std::time::Instant;

mod common;

const SAMPLE_RATE: f64 = 48_000.0;
const SECONDS: usize = 60;
const BLOCK: usize = 512;
const PASSES: usize = 3;

#[derive(Clone, Copy, PartialEq)]
enum Setting {
    Defaults,
    AllStages(Phase),
}

struct Chain {
    trim: RampedGain,
    low_cut: LowCut,
    eq: Eq,
    comp: Option<GlueCompressor>,
    stereo: Stereo,
    limiter: TruePeakLimiter,
    output: RampedGain,
    dither: Dither,
    ab: LevelMatchedAb,
    dry: [Vec<f32>; 2],
    /// Time spent in each stage (s), in chain order.
    stage_s: [f64; 9],
}

const STAGES: [&str; 9] = [
    "trim", "low cut", "eq", "comp", "stereo", "limiter", "output", "dither", "a/b",
];

impl Chain {
    fn new(setting: Setting) -> Self {
        let sr = SAMPLE_RATE;
        let mut c = Self {
            trim: RampedGain::new(sr),
            low_cut: LowCut::new(sr),
            eq: Eq::new(sr),
            comp: None,
            stereo: Stereo::new(sr),
            limiter: TruePeakLimiter::new(sr, 2, 1.5),
            output: RampedGain::new(sr),
            dither: Dither::new(),
            ab: LevelMatchedAb::new(sr, 2, 20_000),
            dry: [vec![0.0; BLOCK], vec![0.0; BLOCK]],
            stage_s: [0.0; 9],
        };
        c.limiter.set_ceiling_dbtp(-1.0);
        c.limiter.set_drive_db(12.0);
        c.ab.set_listen(Listen::Processed);
        if let Setting::AllStages(phase) = setting {
            c.low_cut.set_hz(Some(20.0));
            let mut bands = eq::default_bands();
            bands[0].enabled = true;
            bands[1].gain_db = 2.0;
            bands[2].gain_db = -1.5;
            bands[3].gain_db = 1.0;
            bands[3].placement = Placement::Mid;
            bands[4].gain_db = -2.0;
            bands[5].gain_db = 1.5;
            bands[5].placement = Placement::Side;
            c.eq.set_bands(&bands);
            c.eq.set_phase(phase);
            let mut comp = GlueCompressor::new(sr);
            comp.set_threshold_db(-24.0);
            comp.set_sidechain_hz(Some(60.0));
            comp.set_auto_release(true);
            c.comp = Some(comp);
            c.stereo.set_width(1.2);
            c.stereo.set_mono_bass_hz(Some(120.0));
            c.output.set_gain_db(-0.5);
            c.dither.set_bits(DitherBits::Bits16);
            c.dither.set_noise_shaping(true);
        }
        let latency = c.eq.latency_samples() + c.limiter.latency_samples();
        c.ab.set_latency(latency as usize);
        c
    }

    fn process(&mut self, l: &mut [f32], r: &mut [f32]) {
        let n = l.len();
        self.dry[0][..n].copy_from_slice(l);
        self.dry[1][..n].copy_from_slice(r);
        let mut pass = [l, r];
        let mut t = Instant::now();
        let mut lap = |stage: usize, stage_s: &mut [f64; 9]| {
            let now = Instant::now();
            stage_s[stage] += (now - t).as_secs_f64();
            t = now;
        };
        self.trim.process(&mut pass);
        lap(0, &mut self.stage_s);
        self.low_cut.process(&mut pass);
        lap(1, &mut self.stage_s);
        self.eq.process(&mut pass);
        lap(2, &mut self.stage_s);
        if let Some(comp) = &mut self.comp {
            comp.process(&mut pass);
        }
        lap(3, &mut self.stage_s);
        let [l, r] = &mut pass;
        self.stereo.process(l, r);
        lap(4, &mut self.stage_s);
        self.limiter.process(&mut pass);
        lap(5, &mut self.stage_s);
        self.output.process(&mut pass);
        lap(6, &mut self.stage_s);
        self.dither.process(&mut pass);
        lap(7, &mut self.stage_s);
        let dry: [&[f32]; 2] = [&self.dry[0][..n], &self.dry[1][..n]];
        self.ab.process(&dry, &mut pass);
        lap(8, &mut self.stage_s);
    }
}

fn main() {
    let input = common::programme(SAMPLE_RATE as u32, SECONDS, 0x2545_f491_4f6c_dd1d);
    for (setting, label) in [
        (
            Setting::Defaults,
            "defaults (+12 dB drive; flat EQ and stereo skip, compressor off)",
        ),
        (
            Setting::AllStages(Phase::Minimum),
            "every stage working, minimum-phase EQ",
        ),
        (
            Setting::AllStages(Phase::Linear),
            "every stage working, linear-phase EQ",
        ),
    ] {
        let mut best = f64::INFINITY;
        let mut stages = [0.0; 9];
        for _ in 0..PASSES {
            let mut chain = Chain::new(setting);
            let mut buf = input.clone();
            let start = Instant::now();
            common::for_each_block(&mut buf, BLOCK, |l, r| chain.process(l, r));
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed < best {
                best = elapsed;
                stages = chain.stage_s;
            }
            black_box(&buf);
        }
        let per_stage: Vec<String> = STAGES
            .iter()
            .zip(stages)
            .filter(|(_, s)| *s > 0.002)
            .map(|(name, s)| format!("{name} {:.0}%", 100.0 * s / best))
            .collect();
        println!(
            "full chain, {label} (stereo 48 kHz): {:.0}x realtime [{}]",
            SECONDS as f64 / best,
            per_stage.join(", ")
        );
    }
}

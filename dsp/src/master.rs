//! The mastering chain, in one place: [`MasterSettings`] (every setting in physical units) and
//! [`MasterChain`] (the stages in signal order). Lathe Master, Learn, the bench and
//! `lathe master` all run this, so an offline render is the plugin's output bit for bit.
//!
//! Signal order: input trim → low cut → EQ → glue compressor → stereo → limiter (drive,
//! true-peak ceiling) → output gain → dither → level-matched A/B.
//!
//! Block-size invariance: every stage's per-block work runs on a grid counted from the reset
//! (the limiter's 256-sample chunks and automatic release, the compressor's 64-sample automatic
//! release, the EQ's 64-sample glide steps, the A/B's 10 ms loudness updates), and glides and
//! ramps advance per sample. For the same settings applied at the same samples, any partition
//! of the stream into blocks gives identical output.

pub mod params;
pub mod presets;
mod settings;
#[cfg(test)]
mod tests;

pub use settings::*;

use crate::ab::LevelMatchedAb;
use crate::compressor::GlueCompressor;
use crate::dither::Dither;
use crate::eq::{self, Eq};
use crate::gain::RampedGain;
use crate::highpass::LowCut;
use crate::level::sanitize;

/// Largest input sample the chain takes (+60 dBFS). No programme runs 60 dB over full scale even
/// in a floating-point mix; samples past it are garbage from upstream (a broken plugin), and
/// clamping them keeps the level-dependent stages from taking seconds to release from
/// hundreds of dB of gain reduction.
const INPUT_CLAMP: f32 = 1000.0;
use crate::limiter::{MAX_LOOKAHEAD_MS, TruePeakLimiter};
use crate::processor::{self, PrepareError, Processor};
use crate::stereo::Stereo;
use crate::switch::SwitchFade;

/// Frames processed per internal pass: the dry copy for the A/B lives in buffers of this size,
/// so any block size works without allocating.
pub const PASS_FRAMES: usize = 1024;

/// Points of the chain a caller can listen to (meters, spectra, Learn). Every method has an
/// empty default, and the chain is generic over the taps, so unused taps cost nothing.
pub trait Taps {
    /// The input, sanitised, before the trim.
    fn input(&mut self, _channels: &[&mut [f32]]) {}
    /// Before the EQ (after trim and low cut).
    fn pre_eq(&mut self, _channels: &[&mut [f32]]) {}
    /// After the EQ.
    fn post_eq(&mut self, _channels: &[&mut [f32]]) {}
    /// The output, after the dither (before the A/B picks what is heard).
    fn output(&mut self, _channels: &[&mut [f32]]) {}
}

/// No taps.
pub struct NoTaps;
impl Taps for NoTaps {}

/// The mastering chain for mono or stereo.
pub struct MasterChain {
    sample_rate_hz: f64,
    channels: usize,
    settings: MasterSettings,
    trim: RampedGain,
    low_cut: LowCut,
    eq: Eq,
    comp: GlueCompressor,
    /// Whether the compressor ran in the last pass (it starts from rest when switched on).
    comp_running: bool,
    /// Whether the stereo stage ran in the last pass (it starts from rest when switched on).
    stereo_running: bool,
    stereo: Option<Stereo>,
    limiter: TruePeakLimiter,
    output_gain: RampedGain,
    dither: Dither,
    ab: LevelMatchedAb,
    /// Copy of the input of the current pass, for the A/B.
    dry: [Vec<f32>; 2],
    /// Click-free on/off of the minimum-phase EQ, the compressor and the stereo stage (the
    /// linear-phase EQ fades to its delay itself).
    eq_switch: SwitchFade,
    comp_switch: SwitchFade,
    stereo_switch: SwitchFade,
    /// Input of the stage being switched, for its fade.
    stage_in: [Vec<f32>; 2],
}

impl MasterChain {
    /// A chain for `channels` (1 or 2) at `sample_rate_hz` (8…384 kHz) with default settings.
    /// Allocates every buffer it will ever need.
    pub fn new(sample_rate_hz: f64, channels: usize) -> Result<Self, PrepareError> {
        processor::check(
            "Lathe Master",
            sample_rate_hz,
            channels,
            1..=2,
            "mono or stereo",
        )?;
        let sr = sample_rate_hz;
        let settings = MasterSettings::default();
        // The A/B's dry path is delayed by the chain's latency; sized for the longest setting
        // (linear-phase EQ, longest lookahead) so a change needs no allocation.
        let max_latency = eq::latency_for(sr, eq::Phase::Linear)
            + TruePeakLimiter::latency_for(sr, MAX_LOOKAHEAD_MS);
        let mut chain = Self {
            sample_rate_hz: sr,
            channels,
            settings,
            trim: RampedGain::new(sr),
            low_cut: LowCut::new(sr),
            eq: Eq::new(sr),
            comp: GlueCompressor::new(sr),
            comp_running: false,
            stereo_running: true,
            stereo: (channels == 2).then(|| Stereo::new(sr)),
            limiter: TruePeakLimiter::new(sr, channels, settings.limiter.lookahead_ms),
            output_gain: RampedGain::new(sr),
            dither: Dither::new(),
            ab: LevelMatchedAb::new(sr, channels, max_latency as usize),
            dry: [vec![0.0; PASS_FRAMES], vec![0.0; PASS_FRAMES]],
            eq_switch: SwitchFade::new(sr, true),
            comp_switch: SwitchFade::new(sr, false),
            stereo_switch: SwitchFade::new(sr, true),
            stage_in: [vec![0.0; PASS_FRAMES], vec![0.0; PASS_FRAMES]],
        };
        chain.apply(&settings, true);
        chain.reset();
        Ok(chain)
    }

    /// A chain with `settings`, settled (no glide from the defaults).
    pub fn with_settings(
        sample_rate_hz: f64,
        channels: usize,
        settings: &MasterSettings,
    ) -> Result<Self, PrepareError> {
        let mut chain = Self::new(sample_rate_hz, channels)?;
        chain.set(settings);
        chain.reset();
        Ok(chain)
    }

    /// Sample rate (Hz).
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// Channels (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The settings last set.
    pub fn settings(&self) -> &MasterSettings {
        &self.settings
    }

    /// Applies new settings from the next sample on. Never allocates; gains, drive and EQ
    /// glide as in the plugin. Changing the lookahead or the EQ phase changes the latency and
    /// clears those stages.
    pub fn set(&mut self, settings: &MasterSettings) {
        if *settings != self.settings {
            self.apply(settings, false);
        }
    }

    fn apply(&mut self, s: &MasterSettings, force: bool) {
        let old = self.settings;
        self.settings = *s;
        self.trim.set_gain_db(s.input.gain_db);
        self.low_cut.set_hz(s.input.low_cut.hz());
        self.eq.set_bands(&s.eq.bands());
        self.eq.set_phase(s.eq.phase);
        match s.eq.phase {
            // The linear-phase EQ fades to a pure delay of its latency by itself.
            eq::Phase::Linear => {
                self.eq.set_bypass(!s.eq.on);
                self.eq_switch.set(true);
                self.eq_switch.settle();
            }
            // Minimum phase: the chain fades (and stops running the EQ once faded out).
            eq::Phase::Minimum => {
                self.eq_switch.set(s.eq.on);
                if old.eq.phase != s.eq.phase {
                    // A phase change restarts the EQ (and the host restarts the plugin for
                    // its latency): nothing to fade from.
                    self.eq_switch.settle();
                    self.eq.set_bypass(!s.eq.on);
                } else if s.eq.on {
                    self.eq.set_bypass(false);
                }
            }
        }
        self.comp_switch.set(s.compressor.on);
        self.stereo_switch.set(s.stereo.on);
        if self.stereo.is_none() {
            // Mono: there is no stereo stage to fade.
            self.stereo_switch.settle();
        }
        let c = &s.compressor;
        self.comp.set_threshold_db(c.threshold_db);
        self.comp.set_ratio(c.ratio);
        self.comp.set_knee_db(c.knee_db);
        self.comp.set_attack_ms(c.attack_ms);
        self.comp.set_release_ms(c.release_ms);
        self.comp.set_auto_release(c.auto_release);
        self.comp
            .set_sidechain_hz(c.sidechain_hp.then_some(c.sidechain_hz));
        self.comp.set_link(c.link_pct / 100.0);
        self.comp.set_mix(c.mix_pct / 100.0);
        self.comp.set_makeup_db(c.makeup_db);
        if let Some(stereo) = &mut self.stereo {
            // The stage keeps its settings while off; `stereo_switch` fades it in and out.
            stereo.set_width(s.stereo.width_pct / 100.0);
            stereo.set_mono_bass_hz(s.stereo.mono_bass.then_some(s.stereo.mono_below_hz));
        }
        let l = &s.limiter;
        if force || l.lookahead_ms != old.limiter.lookahead_ms {
            self.limiter.set_lookahead_ms(l.lookahead_ms);
        }
        self.limiter.set_bypass(!l.on);
        self.limiter.set_drive_db(l.drive_db);
        self.limiter.set_ceiling_dbtp(l.ceiling_dbtp);
        self.limiter.set_auto_release(l.auto_release);
        self.limiter.set_release_ms(l.release_ms);
        self.output_gain.set_gain_db(s.output.gain_db);
        self.dither.set_bits(s.output.dither());
        self.dither.set_noise_shaping(s.output.noise_shaping);
        self.ab.set_listen(s.output.listen);
        self.ab.set_latency(self.latency_samples() as usize);
    }

    /// The host's bypass: the output becomes the input delayed by the chain's latency (bit for
    /// bit once the 20 ms crossfade is over), so the host's delay compensation still holds. The
    /// chain keeps running underneath, so switching back is smooth. Not part of
    /// [`MasterSettings`]: offline renders have no host bypass.
    pub fn set_host_bypass(&mut self, bypass: bool) {
        self.ab.set_bypass(bypass);
    }

    /// Latency of the chain as set (samples): the linear-phase EQ's and the limiter's (each
    /// keeps it when bypassed).
    pub fn latency_samples(&self) -> u32 {
        self.eq.latency_samples() + self.limiter.latency_samples()
    }

    /// Latency (samples) a chain at `sample_rate_hz` has with `settings`, without building one.
    pub fn latency_for(sample_rate_hz: f64, settings: &MasterSettings) -> u32 {
        eq::latency_for(sample_rate_hz, settings.eq.phase)
            + TruePeakLimiter::latency_for(sample_rate_hz, settings.limiter.lookahead_ms)
    }

    /// Clears every stage's signal state and lands every glide. Never allocates.
    pub fn reset(&mut self) {
        self.trim.settle();
        self.output_gain.settle();
        if let Some(stereo) = &mut self.stereo {
            stereo.reset();
        }
        self.low_cut.reset();
        Processor::reset(&mut self.eq);
        self.comp.reset();
        self.comp_running = false;
        for switch in [
            &mut self.eq_switch,
            &mut self.comp_switch,
            &mut self.stereo_switch,
        ] {
            switch.settle();
        }
        self.stereo_running = self.stereo_switch.running();
        if self.settings.eq.phase == eq::Phase::Minimum {
            self.eq.set_bypass(!self.settings.eq.on);
        }
        self.limiter.reset();
        self.dither.reset();
        self.ab.reset();
    }

    /// Smallest limiter gain since the previous call (linear; 1 = no reduction).
    pub fn take_limiter_min_gain(&mut self) -> f32 {
        self.limiter.take_min_gain()
    }

    /// Largest compressor gain reduction since the previous call (dB, ≥ 0).
    pub fn take_compressor_max_reduction_db(&mut self) -> f32 {
        self.comp.take_max_gain_reduction_db()
    }

    /// Loudness of the processed signal minus the input's, as the A/B matches it (LU).
    pub fn ab_offset_lu(&self) -> f64 {
        self.ab.offset_lu()
    }

    /// Processes planar channels (as many as prepared; equal lengths) in place.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        self.process_with_taps(channels, &mut NoTaps);
    }

    /// [`Self::process`], showing the taps the signal at each point.
    pub fn process_with_taps<T: Taps>(&mut self, channels: &mut [&mut [f32]], taps: &mut T) {
        self.process_with_reference(channels, taps, None);
    }

    /// The reference loop now playing: its integrated loudness (LUFS; NaN: none) and how the
    /// A/B's Reference choice matches it to the processed signal.
    pub fn set_reference(&mut self, loop_lufs: f64, mode: crate::ab::RefMatch) {
        self.ab.set_reference(loop_lufs, mode);
    }

    /// Gain the Reference choice applies now (dB).
    pub fn reference_gain_db(&self) -> f64 {
        self.ab.reference_gain_db()
    }

    /// [`Self::process_with_taps`] with a reference block (planar, as many channels as
    /// `channels` or one, at least as long) for the A/B's Reference choice.
    pub fn process_with_reference<T: Taps>(
        &mut self,
        channels: &mut [&mut [f32]],
        taps: &mut T,
        reference: Option<&[&[f32]]>,
    ) {
        // Denormals flush to zero (inputs included) whoever calls: the plugins and `lathe`
        // render the same bits, and denormal input costs what silence costs.
        let _ftz = crate::denormal::FtzGuard::new();
        let used = channels.len().min(self.channels);
        let frames = channels.first().map_or(0, |c| c.len());
        let mut start = 0;
        while start < frames {
            let mut end = (start + PASS_FRAMES).min(frames);
            // A pass never straddles the end of a stage's fade, so a faded-out stage stops at
            // the same sample whatever the host's block sizes.
            for switch in [&self.eq_switch, &self.comp_switch, &self.stereo_switch] {
                if switch.remaining() > 0 {
                    end = end.min(start + switch.remaining());
                }
            }
            let n = end - start;
            let mut pass: [&mut [f32]; 2] = [&mut [], &mut []];
            for (slot, samples) in pass.iter_mut().zip(channels.iter_mut()) {
                *slot = &mut samples[start..end];
            }
            let pass = &mut pass[..used];
            for (c, block) in pass.iter_mut().enumerate() {
                sanitize(block);
                for s in block.iter_mut() {
                    *s = s.clamp(-INPUT_CLAMP, INPUT_CLAMP);
                }
                self.dry[c][..n].copy_from_slice(block);
            }
            taps.input(pass);
            self.trim.process(pass);
            self.low_cut.process(pass);
            taps.pre_eq(pass);
            if self.settings.eq.phase == eq::Phase::Linear {
                self.eq.process(pass);
            } else if self.eq_switch.running() {
                self.eq.set_bypass(false);
                fade_stage(&mut self.eq_switch, &mut self.stage_in, pass, |p| {
                    self.eq.process(p)
                });
            } else {
                // Faded out: the EQ stops (it starts from rest when switched on again).
                self.eq.set_bypass(true);
            }
            taps.post_eq(pass);
            if self.comp_switch.running() {
                if !self.comp_running {
                    self.comp.reset();
                    self.comp_running = true;
                }
                fade_stage(&mut self.comp_switch, &mut self.stage_in, pass, |p| {
                    self.comp.process(p)
                });
            } else {
                self.comp_running = false;
            }
            if !self.stereo_switch.running() {
                self.stereo_running = false;
            }
            if let Some(stereo) = &mut self.stereo
                && pass.len() == 2
                && self.stereo_switch.running()
            {
                if !self.stereo_running {
                    stereo.reset();
                    self.stereo_running = true;
                }
                fade_stage(&mut self.stereo_switch, &mut self.stage_in, pass, |p| {
                    if let [l, r] = p {
                        stereo.process(l, r);
                    }
                });
            }
            self.limiter.process(pass);
            self.output_gain.process(pass);
            // Last: nothing may change the samples after the dither.
            self.dither.process(pass);
            taps.output(pass);
            let dry: [&[f32]; 2] = [&self.dry[0][..n], &self.dry[1][..n]];
            match reference {
                Some(r) if !r.is_empty() && r.iter().all(|c| c.len() >= end) => {
                    let slices: [&[f32]; 2] =
                        [&r[0][start..end], &r[r.len().min(2) - 1][start..end]];
                    self.ab
                        .process_with_reference(&dry[..used], pass, Some(&slices[..used]));
                }
                _ => self.ab.process(&dry[..used], pass),
            }
            start = end;
        }
    }
}

/// Runs a zero-latency stage on `pass` through its on/off fade: the stage's input is kept in
/// `stage_in` while the fade moves, and mixed with its output.
fn fade_stage(
    switch: &mut SwitchFade,
    stage_in: &mut [Vec<f32>; 2],
    pass: &mut [&mut [f32]],
    stage: impl FnOnce(&mut [&mut [f32]]),
) {
    let n = pass.first().map_or(0, |c| c.len());
    if switch.settled() && switch.running() {
        stage(pass);
        return;
    }
    for (keep, c) in stage_in.iter_mut().zip(pass.iter()) {
        keep[..n].copy_from_slice(c);
    }
    stage(pass);
    let dry: [&[f32]; 2] = [&stage_in[0][..n], &stage_in[1][..n]];
    switch.mix(&dry[..pass.len()], pass);
}

impl Processor for MasterChain {
    fn prepare(&mut self, sample_rate_hz: f64, channels: usize) -> Result<(), PrepareError> {
        let settings = self.settings;
        *self = Self::with_settings(sample_rate_hz, channels, &settings)?;
        Ok(())
    }
    fn reset(&mut self) {
        MasterChain::reset(self);
    }
    fn latency_samples(&self) -> u32 {
        MasterChain::latency_samples(self)
    }
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        MasterChain::process(self, channels);
    }
}

//! Lathe Master: the mastering chain for the master bus.
//!
//! The chain so far: input trim, then the true-peak limiter (lookahead, strict ceiling measured
//! between samples), then the level-matched A/B against the latency-aligned input. The plugin crate is glue only: parameters, state, the
//! editor, and the shared state between the audio thread and the editor. The DSP is `lathe-dsp`.

use atomic_float::AtomicF32;
use crossbeam::queue::ArrayQueue;
use lathe_dsp::ab::LevelMatchedAb;
use lathe_dsp::compressor::GlueCompressor;
use lathe_dsp::denormal::FtzGuard;
use lathe_dsp::dither::Dither;
use lathe_dsp::eq::{self, Eq};
use lathe_dsp::gain::RampedGain;
use lathe_dsp::highpass::LowCut;
use lathe_dsp::level::sanitize;
use lathe_dsp::limiter::{MAX_LOOKAHEAD_MS, TruePeakLimiter};
use lathe_dsp::loudness::LoudnessMeter;
use lathe_dsp::peak::{SharedPeak, block_peak};
use lathe_dsp::spectrum::{self, Spectrum};
use lathe_dsp::stereo::Stereo;
use lathe_dsp::true_peak::TruePeakMeter;
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState, RepaintNotifier};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

mod editor;
mod params;

pub use params::*;

/// Default editor size in logical pixels.
const EDITOR_SIZE: (f32, f32) = (760.0, 780.0);

/// Frames processed per pass: the dry copy for the A/B lives in buffers of this size, so any
/// host block size works without allocating.
const PASS_FRAMES: usize = 1024;

/// Longest passage Learn records (s at 48 kHz; fewer seconds at higher rates).
pub const LEARN_MAX_FRAMES: usize = 60 * 48_000;

/// A passage recorded for Learn: the limiter's input before the drive. Allocated by the editor,
/// handed to the audio thread and back through lock-free queues, never dropped on the audio
/// thread.
pub struct LearnBuffer {
    /// Planar samples, `frames` of each used.
    pub channels: [Vec<f32>; 2],
    /// Frames recorded.
    pub frames: usize,
    /// Channels recorded (1 or 2).
    pub used: usize,
    /// Sample rate of the recording (Hz).
    pub sample_rate_hz: f64,
}

impl LearnBuffer {
    /// An empty buffer for `frames` frames.
    pub fn new(frames: usize) -> Self {
        Self {
            channels: [vec![0.0; frames], vec![0.0; frames]],
            frames: 0,
            used: 2,
            sample_rate_hz: 48_000.0,
        }
    }
}

/// State shared between the audio thread and the editor. Audio → editor only; the editor talks
/// back through parameters.
pub struct MasterShared {
    /// Input peak per channel (before the trim), max since last read.
    pub input_peak: [SharedPeak; 2],
    /// Output peak per channel, max since last read.
    pub output_peak: [SharedPeak; 2],
    /// Deepest limiter gain since last read (linear, "min since read": 1 = no reduction).
    pub limiter_gain: AtomicF32,
    /// Latency the plugin reports (samples).
    pub latency_samples: AtomicU32,
    /// Loudness of the processed signal minus the input's (LU), as the A/B matches it.
    pub ab_offset_lu: AtomicF32,
    /// Sample rate of the running chain (Hz).
    pub sample_rate_hz: AtomicF32,
    /// Learn: empty buffers from the editor to the audio thread (recording starts on receipt).
    pub learn_start: ArrayQueue<Box<LearnBuffer>>,
    /// Learn: recorded buffers back to the editor.
    pub learn_done: ArrayQueue<Box<LearnBuffer>>,
    /// Learn: the editor asks the audio thread to stop recording and hand the buffer back.
    pub learn_stop: AtomicBool,
    /// Learn: seconds recorded so far.
    pub learn_seconds: AtomicF32,
    /// Deepest compressor gain reduction since last read (dB, ≥ 0).
    pub comp_gr_db: AtomicF32,
    /// Input loudness: momentary, short-term, integrated (LUFS), true-peak max (dBTP).
    pub input_loudness: [AtomicF32; 4],
    /// Output loudness, as `input_loudness`.
    pub output_loudness: [AtomicF32; 4],
    /// The editor asks for the loudness meters to start over.
    pub meters_reset: AtomicBool,
    /// Display spectra before and after the EQ (dB per band, see `lathe_dsp::spectrum`).
    pub spectrum: [[AtomicF32; spectrum::BANDS]; 2],
}

/// The plugin instance.
impl Default for MasterShared {
    fn default() -> Self {
        Self {
            input_peak: Default::default(),
            output_peak: Default::default(),
            limiter_gain: AtomicF32::new(1.0),
            latency_samples: AtomicU32::new(0),
            ab_offset_lu: AtomicF32::new(0.0),
            sample_rate_hz: AtomicF32::new(48_000.0),
            learn_start: ArrayQueue::new(1),
            learn_done: ArrayQueue::new(1),
            learn_stop: AtomicBool::new(false),
            learn_seconds: AtomicF32::new(0.0),
            comp_gr_db: AtomicF32::new(0.0),
            input_loudness: Default::default(),
            output_loudness: Default::default(),
            meters_reset: AtomicBool::new(false),
            spectrum: std::array::from_fn(|_| {
                std::array::from_fn(|_| AtomicF32::new(spectrum::FLOOR_DB))
            }),
        }
    }
}

pub struct LatheMaster {
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    trim: RampedGain,
    low_cut: LowCut,
    eq: Eq,
    comp: GlueCompressor,
    /// Whether the compressor ran in the last block (it is reset when switched back on).
    comp_running: bool,
    stereo: Stereo,
    limiter: TruePeakLimiter,
    output_gain: RampedGain,
    dither: Dither,
    /// Lookahead the limiter was built or last set with (ms).
    lookahead_ms: f32,
    /// Total latency last reported to the host (samples).
    latency_samples: u32,
    ab: LevelMatchedAb,
    /// Copy of the input of the current pass, for the A/B.
    dry: [Vec<f32>; 2],
    /// The passage being recorded for Learn, while Learn runs.
    learning: Option<Box<LearnBuffer>>,
    /// Loudness and true-peak meters of the input and the output (run while the editor is open).
    meters: [ChainMeter; 2],
    /// Spectra before and after the EQ (run while the editor is open), and a mono mix-down
    /// buffer for them.
    spectra: [Spectrum; 2],
    mono: Vec<f32>,
}

/// Loudness (M, S, I) and true peak of one point of the chain, for the editor.
struct ChainMeter {
    loudness: LoudnessMeter,
    true_peak: [TruePeakMeter; 2],
    true_peak_max: f32,
}

impl ChainMeter {
    fn new(sample_rate_hz: f64, channels: usize) -> Self {
        Self {
            loudness: LoudnessMeter::new(sample_rate_hz, channels),
            true_peak: [
                TruePeakMeter::new(sample_rate_hz),
                TruePeakMeter::new(sample_rate_hz),
            ],
            true_peak_max: 0.0,
        }
    }

    fn reset(&mut self) {
        self.loudness.reset();
        self.true_peak.iter_mut().for_each(TruePeakMeter::reset);
        self.true_peak_max = 0.0;
    }

    fn process(&mut self, channels: &[&[f32]]) {
        self.loudness.process(channels);
        for (meter, samples) in self.true_peak.iter_mut().zip(channels) {
            self.true_peak_max = self.true_peak_max.max(meter.process(samples));
        }
    }

    fn publish(&self, out: &[AtomicF32; 4]) {
        let l = &self.loudness;
        out[0].store(l.momentary_lufs() as f32, Ordering::Relaxed);
        out[1].store(l.short_term_lufs() as f32, Ordering::Relaxed);
        out[2].store(l.integrated_lufs() as f32, Ordering::Relaxed);
        out[3].store(
            lathe_dsp::level::gain_to_db(self.true_peak_max),
            Ordering::Relaxed,
        );
    }
}

impl Default for LatheMaster {
    fn default() -> Self {
        Self {
            params: Arc::new(MasterParams::default()),
            shared: Arc::new(MasterShared::default()),
            editor_state: EguiEditorState::from_size(
                nice_plug::editor::dpi::LogicalSize::new(EDITOR_SIZE.0, EDITOR_SIZE.1),
                1.0,
            ),
            repaint: RepaintNotifier::new(),
            trim: RampedGain::new(48_000.0),
            low_cut: LowCut::new(48_000.0),
            eq: Eq::new(48_000.0),
            comp: GlueCompressor::new(48_000.0),
            comp_running: false,
            stereo: Stereo::new(48_000.0),
            limiter: TruePeakLimiter::new(48_000.0, 2, 1.5),
            output_gain: RampedGain::new(48_000.0),
            dither: Dither::new(),
            lookahead_ms: 1.5,
            latency_samples: 0,
            ab: LevelMatchedAb::new(48_000.0, 2, 0),
            dry: [vec![0.0; PASS_FRAMES], vec![0.0; PASS_FRAMES]],
            learning: None,
            meters: [ChainMeter::new(48_000.0, 2), ChainMeter::new(48_000.0, 2)],
            spectra: [Spectrum::new(48_000.0), Spectrum::new(48_000.0)],
            mono: vec![0.0; PASS_FRAMES],
        }
    }
}

impl LatheMaster {
    fn apply_params(&mut self) {
        let p = &self.params;
        self.trim.set_gain_db(p.input_gain_db.value());
        self.low_cut.set_hz(p.low_cut.value().hz());
        self.eq.set_bands(&p.eq.bands());
        self.eq.set_bypass(!p.eq.on.value());
        let c = &p.comp;
        self.comp.set_threshold_db(c.threshold_db.value());
        self.comp.set_ratio(c.ratio.value());
        self.comp.set_knee_db(c.knee_db.value());
        self.comp.set_attack_ms(c.attack_ms.value());
        self.comp.set_release_ms(c.release_ms.value());
        self.comp.set_auto_release(c.auto_release.value());
        self.comp
            .set_sidechain_hz(c.sidechain_hp.value().then(|| c.sidechain_hz.value()));
        self.comp.set_link(c.link_pct.value() / 100.0);
        self.comp.set_mix(c.mix_pct.value() / 100.0);
        self.comp.set_makeup_db(c.makeup_db.value());
        if p.stereo_on.value() {
            self.stereo.set_width(p.width_pct.value() / 100.0);
            self.stereo
                .set_mono_bass_hz(p.mono_bass.value().then(|| p.mono_below_hz.value()));
        } else {
            self.stereo.set_width(1.0);
            self.stereo.set_mono_bass_hz(None);
        }
        self.limiter.set_bypass(!p.limiter_on.value());
        self.limiter.set_drive_db(p.drive_db.value());
        self.limiter.set_ceiling_dbtp(p.ceiling_dbtp.value());
        self.limiter.set_auto_release(p.auto_release.value());
        self.limiter.set_release_ms(p.release_ms.value());
        self.output_gain.set_gain_db(p.output_gain_db.value());
        self.dither.set_bits(p.dither.value().bits());
        self.dither.set_noise_shaping(p.noise_shaping.value());
        self.ab.set_listen(p.ab.value().listen());
    }

    /// Feeds the mono mix of `pass` to spectrum `which` (0 = before the EQ, 1 = after).
    fn feed_spectrum(&mut self, which: usize, pass: &[&mut [f32]]) {
        let n = pass.first().map_or(0, |c| c.len());
        let scale = 1.0 / pass.len().max(1) as f32;
        let mono = &mut self.mono[..n];
        mono.iter_mut().for_each(|m| *m = 0.0);
        for channel in pass {
            for (m, &x) in mono.iter_mut().zip(channel.iter()) {
                *m += x * scale;
            }
        }
        self.spectra[which].push(mono);
    }

    /// Learn: takes a buffer the editor sent, records the limiter's input into it, and hands it
    /// back when asked to stop or when it is full. No allocation: buffers only move.
    fn record_learn(&mut self, pass: &[&mut [f32]]) {
        if self.learning.is_none()
            && let Some(mut buffer) = self.shared.learn_start.pop()
        {
            buffer.frames = 0;
            buffer.used = pass.len().clamp(1, 2);
            buffer.sample_rate_hz = f64::from(self.shared.sample_rate_hz.load(Ordering::Relaxed));
            self.shared.learn_stop.store(false, Ordering::Release);
            self.learning = Some(buffer);
        }
        let Some(buffer) = self.learning.as_mut() else {
            return;
        };
        let capacity = buffer.channels[0].len();
        let n = pass
            .first()
            .map_or(0, |c| c.len())
            .min(capacity - buffer.frames);
        for (c, samples) in pass.iter().enumerate().take(2) {
            buffer.channels[c][buffer.frames..buffer.frames + n].copy_from_slice(&samples[..n]);
        }
        buffer.frames += n;
        self.shared.learn_seconds.store(
            (buffer.frames as f64 / buffer.sample_rate_hz) as f32,
            Ordering::Relaxed,
        );
        if (self.shared.learn_stop.load(Ordering::Acquire) || buffer.frames == capacity)
            && let Some(buffer) = self.learning.take()
            && let Err(buffer) = self.shared.learn_done.push(buffer)
        {
            // The editor has not collected the previous one yet; keep it and try next block.
            self.learning = Some(buffer);
        }
    }

    /// Applies a changed lookahead or EQ phase mode; returns the new total latency if it
    /// changed.
    fn apply_latency_settings(&mut self) -> Option<u32> {
        let ms = self.params.lookahead_ms.value();
        if ms != self.lookahead_ms {
            self.lookahead_ms = ms;
            self.limiter.set_lookahead_ms(ms);
        }
        self.eq.set_phase(self.params.eq.phase.value().phase());
        let latency = self.eq.latency_samples() + self.limiter.latency_samples();
        if latency == self.latency_samples {
            return None;
        }
        self.latency_samples = latency;
        self.ab.set_latency(latency as usize);
        self.shared
            .latency_samples
            .store(latency, Ordering::Relaxed);
        Some(latency)
    }
}

impl Plugin for LatheMaster {
    const NAME: &'static str = "Lathe Master";
    const VENDOR: &'static str = lathe_plugin_common::VENDOR;
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = lathe_plugin_common::EMAIL;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = lathe_plugin_common::STEREO_AND_MONO;

    type Editor = EguiEditor<editor::MasterEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.shared.clone(),
            self.editor_state.clone(),
            self.repaint.clone(),
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let sr = f64::from(buffer_config.sample_rate);
        let channels = lathe_plugin_common::channel_count(audio_io_layout);
        self.shared
            .sample_rate_hz
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        self.trim = RampedGain::new(sr);
        self.output_gain = RampedGain::new(sr);
        self.stereo = Stereo::new(sr);
        self.low_cut = LowCut::new(sr);
        self.lookahead_ms = self.params.lookahead_ms.value();
        self.limiter = TruePeakLimiter::new(sr, channels, self.lookahead_ms);
        self.eq = Eq::new(sr);
        self.comp = GlueCompressor::new(sr);
        self.meters = [ChainMeter::new(sr, channels), ChainMeter::new(sr, channels)];
        self.spectra = [Spectrum::new(sr), Spectrum::new(sr)];
        self.comp_running = false;
        // The A/B's dry path is delayed by the chain's latency; sized for the longest setting
        // (linear-phase EQ, longest lookahead) so a change needs no allocation.
        let max_latency = eq::latency_for(sr, eq::Phase::Linear)
            + TruePeakLimiter::latency_for(sr, MAX_LOOKAHEAD_MS);
        self.ab = LevelMatchedAb::new(sr, channels, max_latency as usize);
        self.latency_samples = u32::MAX;
        self.apply_params();
        let latency = self.apply_latency_settings().unwrap_or(0);
        self.limiter.reset();
        // The EQ (linear phase) and the limiter are the only stages with latency; each keeps it
        // when bypassed.
        context.set_latency_samples(latency);
        true
    }

    fn reset(&mut self) {
        self.apply_params();
        self.trim.settle();
        self.output_gain.settle();
        self.stereo.reset();
        self.low_cut.reset();
        self.eq.reset();
        self.comp.reset();
        self.limiter.reset();
        self.dither.reset();
        self.ab.reset();
        self.meters.iter_mut().for_each(ChainMeter::reset);
        self.spectra.iter_mut().for_each(Spectrum::reset);
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = FtzGuard::new();
        self.apply_params();
        if let Some(latency) = self.apply_latency_settings() {
            // The host restarts processing with the new delay compensation.
            context.set_latency_samples(latency);
        }
        let metering = self.editor_state.is_open();
        if self.shared.meters_reset.swap(false, Ordering::Acquire) {
            self.meters.iter_mut().for_each(ChainMeter::reset);
        }
        let channels = buffer.as_slice();
        let frames = channels.first().map_or(0, |c| c.len());
        let used = channels.len().min(2);
        let mut start = 0;
        while start < frames {
            let end = (start + PASS_FRAMES).min(frames);
            let n = end - start;
            for (ch, samples) in channels.iter_mut().enumerate().take(used) {
                let block = &mut samples[start..end];
                sanitize(block);
                if metering {
                    self.shared.input_peak[ch].publish(block_peak(block));
                }
                self.dry[ch][..n].copy_from_slice(block);
            }
            let mut pass: [&mut [f32]; 2] = [&mut [], &mut []];
            for (slot, samples) in pass.iter_mut().zip(channels.iter_mut()) {
                *slot = &mut samples[start..end];
            }
            let pass = &mut pass[..used];
            self.trim.process(pass);
            self.low_cut.process(pass);
            if metering {
                self.feed_spectrum(0, pass);
            }
            self.eq.process(pass);
            if metering {
                self.feed_spectrum(1, pass);
            }
            if self.params.comp.on.value() {
                if !self.comp_running {
                    self.comp.reset();
                    self.comp_running = true;
                }
                self.comp.process(pass);
            } else {
                self.comp_running = false;
            }
            if let [left, right] = pass {
                self.stereo.process(left, right);
            }
            self.record_learn(pass);
            self.limiter.process(pass);
            self.output_gain.process(pass);
            // Last: nothing may change the samples after the dither.
            self.dither.process(pass);
            let dry: [&[f32]; 2] = [&self.dry[0][..n], &self.dry[1][..n]];
            if metering {
                self.meters[0].process(&dry[..used]);
                let out: [&[f32]; 2] = [&pass[0][..], pass.get(1).map_or(&[][..], |c| &c[..])];
                self.meters[1].process(&out[..used]);
            }
            self.ab.process(&dry[..used], pass);
            if metering {
                for (ch, block) in pass.iter().enumerate() {
                    self.shared.output_peak[ch].publish(block_peak(block));
                }
            }
            start = end;
        }
        self.shared
            .ab_offset_lu
            .store(self.ab.offset_lu() as f32, Ordering::Relaxed);
        if metering {
            self.shared
                .limiter_gain
                .fetch_min(self.limiter.take_min_gain(), Ordering::Relaxed);
            self.shared
                .comp_gr_db
                .fetch_max(self.comp.take_max_gain_reduction_db(), Ordering::Relaxed);
            for (spectrum, shared) in self.spectra.iter().zip(&self.shared.spectrum) {
                for (&db, out) in spectrum.bands_db().iter().zip(shared) {
                    out.store(db, Ordering::Relaxed);
                }
            }
            self.meters[0].publish(&self.shared.input_loudness);
            self.meters[1].publish(&self.shared.output_loudness);
            self.repaint.request_repaint();
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for LatheMaster {
    const CLAP_ID: &'static str = "audio.lathe.master";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Mastering chain with level-matched A/B for the master bus");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(env!("CARGO_PKG_REPOSITORY"));
    const CLAP_SUPPORT_URL: Option<&'static str> = Some(env!("CARGO_PKG_REPOSITORY"));
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Mastering,
        ClapFeature::Limiter,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for LatheMaster {
    /// Never change: hosts store this ID in projects.
    const VST3_CLASS_ID: [u8; 16] = *b"LatheMasterBus01";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[
        Vst3SubCategory::Fx,
        Vst3SubCategory::Mastering,
        Vst3SubCategory::Dynamics,
    ];
}

nice_export_clap!(LatheMaster);
nice_export_vst3!(LatheMaster);

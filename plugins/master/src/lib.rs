//! Lathe Master: the mastering chain for the master bus.
//!
//! The chain so far: input trim, then the true-peak limiter (lookahead, strict ceiling measured
//! between samples), then the level-matched A/B against the latency-aligned input. The plugin crate is glue only: parameters, state, the
//! editor, and the shared state between the audio thread and the editor. The DSP is `lathe-dsp`.

use atomic_float::AtomicF32;
use lathe_dsp::ab::{LevelMatchedAb, Listen};
use lathe_dsp::denormal::FtzGuard;
use lathe_dsp::dither::{Dither, DitherBits};
use lathe_dsp::gain::RampedGain;
use lathe_dsp::highpass::LowCut;
use lathe_dsp::level::sanitize;
use lathe_dsp::limiter::{MAX_LOOKAHEAD_MS, MIN_LOOKAHEAD_MS, TruePeakLimiter};
use lathe_dsp::peak::{SharedPeak, block_peak};
use lathe_dsp::stereo::{MAX_WIDTH, MONO_BASS_MAX_HZ, MONO_BASS_MIN_HZ, Stereo};
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState, RepaintNotifier};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

mod editor;

/// Default editor size in logical pixels.
const EDITOR_SIZE: (f32, f32) = (620.0, 720.0);

/// What the listener hears (the level-matched A/B).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbChoice {
    /// The processed signal.
    #[id = "processed"]
    #[name = "Processed"]
    Processed,
    /// The input, aligned and matched to the processed loudness.
    #[id = "bypass"]
    #[name = "Bypass (level-matched)"]
    Bypass,
    /// Processed minus the level-matched input.
    #[id = "delta"]
    #[name = "Delta"]
    Delta,
}

impl AbChoice {
    fn listen(self) -> Listen {
        match self {
            Self::Processed => Listen::Processed,
            Self::Bypass => Listen::MatchedBypass,
            Self::Delta => Listen::Delta,
        }
    }
}

/// Frames processed per pass: the dry copy for the A/B lives in buffers of this size, so any
/// host block size works without allocating.
/// Input DC / subsonic filter choices.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowCutChoice {
    /// No filter.
    #[id = "off"]
    #[name = "Off"]
    Off,
    /// Removes DC offset only (5 Hz).
    #[id = "dc"]
    #[name = "DC (5 Hz)"]
    Dc,
    /// Subsonic filter at 20 Hz.
    #[id = "sub20"]
    #[name = "Subsonic 20 Hz"]
    Sub20,
    /// Subsonic filter at 30 Hz.
    #[id = "sub30"]
    #[name = "Subsonic 30 Hz"]
    Sub30,
}

impl LowCutChoice {
    fn hz(self) -> Option<f32> {
        match self {
            Self::Off => None,
            Self::Dc => Some(5.0),
            Self::Sub20 => Some(20.0),
            Self::Sub30 => Some(30.0),
        }
    }
}

/// Output word length choices.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DitherChoice {
    /// No dither (32-bit float out).
    #[id = "off"]
    #[name = "Off"]
    Off,
    /// TPDF dither to 24 bit.
    #[id = "24"]
    #[name = "24-bit"]
    Bits24,
    /// TPDF dither to 16 bit.
    #[id = "16"]
    #[name = "16-bit"]
    Bits16,
}

impl DitherChoice {
    fn bits(self) -> DitherBits {
        match self {
            Self::Off => DitherBits::Off,
            Self::Bits24 => DitherBits::Bits24,
            Self::Bits16 => DitherBits::Bits16,
        }
    }
}

const PASS_FRAMES: usize = 1024;
/// Ceiling range (dBTP).
const MIN_CEILING_DBTP: f32 = -6.0;
/// See [`MIN_CEILING_DBTP`].
const MAX_CEILING_DBTP: f32 = -0.1;

/// The parameters. IDs are stable: they are what hosts store in projects and automation.
#[derive(Params)]
pub struct MasterParams {
    /// Level-matched A/B: processed, matched bypass or delta.
    #[id = "ab"]
    pub ab: EnumParam<AbChoice>,
    /// Input trim before the chain (dB).
    #[id = "input_gain"]
    pub input_gain_db: FloatParam,
    /// Output ceiling: no output sample exceeds it (dBFS, sample peak).
    /// DC / subsonic high-pass after the trim.
    #[id = "low_cut"]
    pub low_cut: EnumParam<LowCutChoice>,
    /// Stereo stage on (off = bypassed).
    #[id = "stereo"]
    pub stereo_on: BoolParam,
    /// Stereo width (%; 100 = unchanged).
    #[id = "width"]
    pub width_pct: FloatParam,
    /// Mono below the Mono Below frequency.
    #[id = "mono_bass"]
    pub mono_bass: BoolParam,
    /// Crossover of the mono bass (Hz).
    #[id = "mono_below"]
    pub mono_below_hz: FloatParam,
    /// Limiter on (off = bypassed, latency kept).
    #[id = "limiter"]
    pub limiter_on: BoolParam,
    /// Gain into the limiter (dB).
    #[id = "drive"]
    pub drive_db: FloatParam,
    /// True-peak ceiling (dBTP).
    #[id = "tp_ceiling"]
    pub ceiling_dbtp: FloatParam,
    /// Release time (ms), used while Auto Release is off.
    #[id = "release"]
    pub release_ms: FloatParam,
    /// Program-dependent release.
    #[id = "auto_release"]
    pub auto_release: BoolParam,
    /// Lookahead (ms); sets the latency.
    #[id = "lookahead"]
    pub lookahead_ms: FloatParam,
    /// Gain after the limiter (dB, ≤ 0 so the ceiling still holds).
    #[id = "output_gain"]
    pub output_gain_db: FloatParam,
    /// Dither to 24 or 16 bit, applied last.
    #[id = "dither"]
    pub dither: EnumParam<DitherChoice>,
    /// First-order noise shaping of the dither.
    #[id = "noise_shaping"]
    pub noise_shaping: BoolParam,
}

impl Default for MasterParams {
    fn default() -> Self {
        Self {
            ab: EnumParam::new("A/B", AbChoice::Processed),
            input_gain_db: FloatParam::new(
                "Input Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            low_cut: EnumParam::new("Low Cut", LowCutChoice::Off),
            stereo_on: BoolParam::new("Stereo", true),
            width_pct: FloatParam::new(
                "Width",
                100.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: MAX_WIDTH * 100.0,
                },
            )
            .with_unit(" %")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            mono_bass: BoolParam::new("Mono Bass", false),
            mono_below_hz: FloatParam::new(
                "Mono Below",
                120.0,
                FloatRange::Skewed {
                    min: MONO_BASS_MIN_HZ,
                    max: MONO_BASS_MAX_HZ,
                    factor: FloatRange::skew_factor(-1.0),
                },
            )
            .with_unit(" Hz")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            limiter_on: BoolParam::new("Limiter", true),
            drive_db: FloatParam::new(
                "Drive",
                0.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            ceiling_dbtp: FloatParam::new(
                "Ceiling",
                -1.0,
                FloatRange::Linear {
                    min: MIN_CEILING_DBTP,
                    max: MAX_CEILING_DBTP,
                },
            )
            .with_unit(" dBTP")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            release_ms: FloatParam::new(
                "Release",
                100.0,
                FloatRange::Skewed {
                    min: 1.0,
                    max: 1000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_unit(" ms")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            auto_release: BoolParam::new("Auto Release", true),
            lookahead_ms: FloatParam::new(
                "Lookahead",
                1.5,
                FloatRange::Linear {
                    min: MIN_LOOKAHEAD_MS,
                    max: MAX_LOOKAHEAD_MS,
                },
            )
            .with_unit(" ms")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            output_gain_db: FloatParam::new(
                "Output Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 0.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            dither: EnumParam::new("Dither", DitherChoice::Off),
            noise_shaping: BoolParam::new("Noise Shaping", false),
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
    stereo: Stereo,
    limiter: TruePeakLimiter,
    output_gain: RampedGain,
    dither: Dither,
    /// Lookahead the limiter was built or last set with (ms).
    lookahead_ms: f32,
    ab: LevelMatchedAb,
    /// Copy of the input of the current pass, for the A/B.
    dry: [Vec<f32>; 2],
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
            stereo: Stereo::new(48_000.0),
            limiter: TruePeakLimiter::new(48_000.0, 2, 1.5),
            output_gain: RampedGain::new(48_000.0),
            dither: Dither::new(),
            lookahead_ms: 1.5,
            ab: LevelMatchedAb::new(48_000.0, 2, 0),
            dry: [vec![0.0; PASS_FRAMES], vec![0.0; PASS_FRAMES]],
        }
    }
}

impl LatheMaster {
    fn apply_params(&mut self) {
        let p = &self.params;
        self.trim.set_gain_db(p.input_gain_db.value());
        self.low_cut.set_hz(p.low_cut.value().hz());
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

    /// Applies a changed lookahead; returns the new latency if it changed.
    fn apply_lookahead(&mut self) -> Option<u32> {
        let ms = self.params.lookahead_ms.value();
        if ms == self.lookahead_ms {
            return None;
        }
        self.lookahead_ms = ms;
        self.limiter.set_lookahead_ms(ms);
        let latency = self.limiter.latency_samples();
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
        self.trim = RampedGain::new(sr);
        self.output_gain = RampedGain::new(sr);
        self.stereo = Stereo::new(sr);
        self.low_cut = LowCut::new(sr);
        self.lookahead_ms = self.params.lookahead_ms.value();
        self.limiter = TruePeakLimiter::new(sr, channels, self.lookahead_ms);
        let latency = self.limiter.latency_samples();
        // The A/B's dry path is delayed by the chain's latency; sized for the longest lookahead
        // so a lookahead change needs no allocation.
        let max_latency = TruePeakLimiter::latency_for(sr, MAX_LOOKAHEAD_MS) as usize;
        self.ab = LevelMatchedAb::new(sr, channels, max_latency);
        self.ab.set_latency(latency as usize);
        self.apply_params();
        self.limiter.reset();
        self.shared
            .latency_samples
            .store(latency, Ordering::Relaxed);
        // Everything but the limiter is zero-latency; the limiter's delay is the same whether
        // it is on or bypassed.
        context.set_latency_samples(latency);
        true
    }

    fn reset(&mut self) {
        self.apply_params();
        self.trim.settle();
        self.output_gain.settle();
        self.stereo.reset();
        self.low_cut.reset();
        self.limiter.reset();
        self.dither.reset();
        self.ab.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = FtzGuard::new();
        self.apply_params();
        if let Some(latency) = self.apply_lookahead() {
            // The host restarts processing with the new delay compensation.
            context.set_latency_samples(latency);
        }
        let metering = self.editor_state.is_open();
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
            if let [left, right] = pass {
                self.stereo.process(left, right);
            }
            self.limiter.process(pass);
            self.output_gain.process(pass);
            // Last: nothing may change the samples after the dither.
            self.dither.process(pass);
            let dry: [&[f32]; 2] = [&self.dry[0][..n], &self.dry[1][..n]];
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

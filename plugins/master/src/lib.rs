//! Lathe Master: the mastering chain for the master bus.
//!
//! This first release carries the chain's two ends: an input trim and a zero-latency output
//! ceiling (a sample-peak hard clip). The plugin crate is glue only: parameters, state, the
//! editor, and the shared state between the audio thread and the editor. The DSP is `lathe-dsp`.

use atomic_float::AtomicF32;
use lathe_dsp::ab::{LevelMatchedAb, Listen};
use lathe_dsp::ceiling::Ceiling;
use lathe_dsp::denormal::FtzGuard;
use lathe_dsp::gain::RampedGain;
use lathe_dsp::level::sanitize;
use lathe_dsp::peak::{SharedPeak, block_peak};
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState, RepaintNotifier};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod editor;

/// Default editor size in logical pixels.
const EDITOR_SIZE: (f32, f32) = (600.0, 430.0);

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
const PASS_FRAMES: usize = 1024;

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
    #[id = "ceiling"]
    pub ceiling_dbfs: FloatParam,
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
            ceiling_dbfs: FloatParam::new(
                "Output Ceiling",
                -1.0,
                FloatRange::Linear {
                    min: lathe_dsp::ceiling::MIN_CEILING_DBFS,
                    max: lathe_dsp::ceiling::MAX_CEILING_DBFS,
                },
            )
            .with_unit(" dBFS")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
        }
    }
}

/// State shared between the audio thread and the editor. Audio → editor only; the editor talks
/// back through parameters.
#[derive(Default)]
pub struct MasterShared {
    /// Input peak per channel (before the trim), max since last read.
    pub input_peak: [SharedPeak; 2],
    /// Output peak per channel, max since last read.
    pub output_peak: [SharedPeak; 2],
    /// Samples changed by the ceiling since the editor last read.
    pub clipped_samples: AtomicU64,
    /// Loudness of the processed signal minus the input's (LU), as the A/B matches it.
    pub ab_offset_lu: AtomicF32,
}

/// The plugin instance.
pub struct LatheMaster {
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    trim: RampedGain,
    ceiling: Ceiling,
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
            ceiling: Ceiling::new(),
            ab: LevelMatchedAb::new(48_000.0, 2, 0),
            dry: [vec![0.0; PASS_FRAMES], vec![0.0; PASS_FRAMES]],
        }
    }
}

impl LatheMaster {
    fn apply_params(&mut self) {
        self.trim.set_gain_db(self.params.input_gain_db.value());
        self.ceiling
            .set_ceiling_dbfs(self.params.ceiling_dbfs.value());
        self.ab.set_listen(self.params.ab.value().listen());
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
        let channels = audio_io_layout
            .main_input_channels
            .map_or(2, |c| c.get() as usize)
            .clamp(1, 2);
        self.trim = RampedGain::new(sr);
        // The chain adds no delay yet, so the dry signal needs no alignment.
        self.ab = LevelMatchedAb::new(sr, channels, 0);
        // The trim and the clip ceiling add no delay.
        context.set_latency_samples(0);
        true
    }

    fn reset(&mut self) {
        self.apply_params();
        self.trim.settle();
        self.ab.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = FtzGuard::new();
        self.apply_params();
        let metering = self.editor_state.is_open();
        let channels = buffer.as_slice();
        let frames = channels.first().map_or(0, |c| c.len());
        let used = channels.len().min(2);
        let mut clipped = 0;
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
            for block in pass.iter_mut() {
                clipped += self.ceiling.process(block);
            }
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
            if clipped > 0 {
                self.shared
                    .clipped_samples
                    .fetch_add(clipped as u64, Ordering::Relaxed);
            }
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

//! Lathe Master: the mastering chain for the master bus.
//!
//! This first release carries the chain's two ends: an input trim and a zero-latency output
//! ceiling (a sample-peak hard clip). The plugin crate is glue only: parameters, state, the
//! editor, and the shared state between the audio thread and the editor. The DSP is `lathe-dsp`.

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
const EDITOR_SIZE: (f32, f32) = (560.0, 340.0);

/// The parameters. IDs are stable: they are what hosts store in projects and automation.
#[derive(Params)]
pub struct MasterParams {
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
}

/// The plugin instance.
pub struct LatheMaster {
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    trim: RampedGain,
    ceiling: Ceiling,
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
        }
    }
}

impl LatheMaster {
    fn apply_params(&mut self) {
        self.trim.set_gain_db(self.params.input_gain_db.value());
        self.ceiling
            .set_ceiling_dbfs(self.params.ceiling_dbfs.value());
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
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.trim = RampedGain::new(f64::from(buffer_config.sample_rate));
        // The trim and the clip ceiling add no delay.
        context.set_latency_samples(0);
        true
    }

    fn reset(&mut self) {
        self.apply_params();
        self.trim.settle();
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
        for (ch, samples) in channels.iter_mut().enumerate() {
            sanitize(samples);
            if metering && ch < 2 {
                self.shared.input_peak[ch].publish(block_peak(samples));
            }
        }
        self.trim.process(channels);
        let mut clipped = 0;
        for (ch, samples) in channels.iter_mut().enumerate() {
            clipped += self.ceiling.process(samples);
            if metering && ch < 2 {
                self.shared.output_peak[ch].publish(block_peak(samples));
            }
        }
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

//! Lathe Meter: loudness and peak metering that passes audio through untouched.
//!
//! The audio thread measures and publishes; the editor reads atomics and applies ballistics.
//! Audio is never modified: output = input, bit for bit, with zero latency.

use atomic_float::AtomicF32;
use lathe_dsp::denormal::FtzGuard;
use lathe_dsp::loudness::LoudnessMeter;
use lathe_dsp::peak::{SharedPeak, block_peak};
use lathe_dsp::true_peak::TruePeakMeter;
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState, RepaintNotifier};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod editor;

/// Default editor size in logical pixels.
const EDITOR_SIZE: (f32, f32) = (560.0, 380.0);
/// How often integrated loudness and LRA are re-published (s). They change by one gating block
/// per 100 ms, so more often would only repeat the same figure.
const GATED_PUBLISH_INTERVAL_S: f64 = 0.1;

/// Lathe Meter has no parameters that change the audio; it still owns a (currently empty)
/// parameter set so hosts can store its state.
#[derive(Params, Default)]
pub struct MeterParams {}

/// Readings shared with the editor. Peaks are "max since last read"; loudness figures are the
/// latest values (they are already window averages).
pub struct MeterShared {
    /// Sample peak per channel, max since last read (linear).
    pub sample_peak: [SharedPeak; 2],
    /// True peak per channel, max since last read (linear).
    pub true_peak: [SharedPeak; 2],
    /// Highest true peak per channel since reset (linear).
    pub true_peak_max: [AtomicF32; 2],
    /// Momentary loudness, max since last read (LUFS).
    pub momentary_lufs: AtomicF32,
    /// Short-term loudness, latest (LUFS).
    pub short_term_lufs: AtomicF32,
    /// Integrated loudness since reset (LUFS).
    pub integrated_lufs: AtomicF32,
    /// Loudness range since reset (LU).
    pub loudness_range_lu: AtomicF32,
    /// Channels being metered (1 or 2).
    pub channels: std::sync::atomic::AtomicU32,
    /// Set by the editor's reset button; the audio thread clears the meters and this flag.
    pub reset_requested: AtomicBool,
}

impl Default for MeterShared {
    fn default() -> Self {
        Self {
            sample_peak: Default::default(),
            true_peak: Default::default(),
            true_peak_max: [AtomicF32::new(0.0), AtomicF32::new(0.0)],
            momentary_lufs: AtomicF32::new(f32::NEG_INFINITY),
            short_term_lufs: AtomicF32::new(f32::NEG_INFINITY),
            integrated_lufs: AtomicF32::new(f32::NEG_INFINITY),
            loudness_range_lu: AtomicF32::new(0.0),
            channels: std::sync::atomic::AtomicU32::new(2),
            reset_requested: AtomicBool::new(false),
        }
    }
}

impl MeterShared {
    /// Editor: the momentary maximum since the previous read (LUFS).
    pub fn take_momentary(&self) -> f32 {
        self.momentary_lufs
            .swap(f32::NEG_INFINITY, Ordering::Relaxed)
    }
}

/// The plugin instance.
pub struct LatheMeter {
    params: Arc<MeterParams>,
    shared: Arc<MeterShared>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    loudness: LoudnessMeter,
    true_peak: [TruePeakMeter; 2],
    /// Samples since integrated loudness and LRA were last published.
    since_gated_publish: u64,
    /// [`GATED_PUBLISH_INTERVAL_S`] in samples.
    gated_publish_interval: u64,
}

impl Default for LatheMeter {
    fn default() -> Self {
        Self {
            params: Arc::new(MeterParams::default()),
            shared: Arc::new(MeterShared::default()),
            editor_state: EguiEditorState::from_size(
                nice_plug::editor::dpi::LogicalSize::new(EDITOR_SIZE.0, EDITOR_SIZE.1),
                1.0,
            ),
            repaint: RepaintNotifier::new(),
            loudness: LoudnessMeter::new(48_000.0, 2),
            true_peak: [TruePeakMeter::new(48_000.0), TruePeakMeter::new(48_000.0)],
            since_gated_publish: 0,
            gated_publish_interval: 4800,
        }
    }
}

impl LatheMeter {
    fn clear(&mut self) {
        self.loudness.reset();
        for (tp, max) in self.true_peak.iter_mut().zip(&self.shared.true_peak_max) {
            tp.reset();
            max.store(0.0, Ordering::Relaxed);
        }
        self.shared
            .integrated_lufs
            .store(f32::NEG_INFINITY, Ordering::Relaxed);
        self.shared
            .short_term_lufs
            .store(f32::NEG_INFINITY, Ordering::Relaxed);
        self.shared.loudness_range_lu.store(0.0, Ordering::Relaxed);
        self.since_gated_publish = 0;
    }
}

impl Plugin for LatheMeter {
    const NAME: &'static str = "Lathe Meter";
    const VENDOR: &'static str = lathe_plugin_common::VENDOR;
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = lathe_plugin_common::EMAIL;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = lathe_plugin_common::STEREO_AND_MONO;

    type Editor = EguiEditor<editor::MeterEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
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
        self.loudness = LoudnessMeter::new(sr, channels);
        self.true_peak = [TruePeakMeter::new(sr), TruePeakMeter::new(sr)];
        self.gated_publish_interval = (sr * GATED_PUBLISH_INTERVAL_S) as u64;
        self.shared
            .channels
            .store(channels as u32, Ordering::Relaxed);
        // Pass-through: the output is the input, undelayed.
        context.set_latency_samples(0);
        true
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = FtzGuard::new();
        if self.shared.reset_requested.swap(false, Ordering::Acquire) {
            self.clear();
        }
        // Read-only access: the meter never writes the buffer, so audio passes bit-exactly.
        let channels = buffer.as_slice_immutable();
        let frames = channels.first().map_or(0, |c| c.len());
        if frames == 0 {
            return ProcessStatus::Normal;
        }
        self.loudness.process(channels);
        for (ch, samples) in channels.iter().enumerate().take(2) {
            self.shared.sample_peak[ch].publish(block_peak(samples));
            let tp = self.true_peak[ch].process(samples);
            self.shared.true_peak[ch].publish(tp);
            self.shared.true_peak_max[ch].fetch_max(tp, Ordering::Relaxed);
        }
        let s = &self.shared;
        s.momentary_lufs
            .fetch_max(self.loudness.momentary_lufs() as f32, Ordering::Relaxed);
        s.short_term_lufs
            .store(self.loudness.short_term_lufs() as f32, Ordering::Relaxed);
        self.since_gated_publish += frames as u64;
        if self.since_gated_publish >= self.gated_publish_interval {
            self.since_gated_publish = 0;
            let r = self.loudness.reading();
            s.integrated_lufs
                .store(r.integrated_lufs as f32, Ordering::Relaxed);
            s.loudness_range_lu
                .store(r.loudness_range_lu as f32, Ordering::Relaxed);
        }
        if self.editor_state.is_open() {
            self.repaint.request_repaint();
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for LatheMeter {
    const CLAP_ID: &'static str = "audio.lathe.meter";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Loudness, true-peak and stereo metering for every track");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(env!("CARGO_PKG_REPOSITORY"));
    const CLAP_SUPPORT_URL: Option<&'static str> = Some(env!("CARGO_PKG_REPOSITORY"));
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Utility,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for LatheMeter {
    /// Never change: hosts store this ID in projects.
    const VST3_CLASS_ID: [u8; 16] = *b"LatheMeterTrack1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(LatheMeter);
nice_export_vst3!(LatheMeter);

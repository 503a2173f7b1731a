//! Lathe Meter: loudness, peak, dynamics, stereo and QC metering that passes audio through
//! untouched.
//!
//! The audio thread runs `lathe_dsp::analyzer::Analyzer` and publishes through atomics ("max
//! since last read" for peaks) and lock-free queues of fixed-size records (history points, QC
//! events); the editor reads them and applies ballistics. Audio is never modified: output =
//! input, bit for bit, with zero latency.

use atomic_float::AtomicF32;
use crossbeam::queue::ArrayQueue;
use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig};
use lathe_dsp::denormal::FtzGuard;
use lathe_dsp::peak::SharedPeak;
use lathe_dsp::qc::{QcEvent, QcKind};
use lathe_plugin_common::TargetChoice;
use lathe_session::{Reading, Registration, Registry};
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState, RepaintNotifier};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

mod editor;
mod session_view;

/// Default editor size in logical pixels.
const EDITOR_SIZE: (f32, f32) = (620.0, 720.0);
/// How often integrated loudness, LRA, PLR and the history are published (s).
const PUBLISH_INTERVAL_S: f64 = 0.1;
/// History points the queue holds between two editor frames (10 Hz: ~100 s of slack).
const HISTORY_QUEUE: usize = 1024;
/// QC events the queue holds between two editor frames.
const QC_QUEUE: usize = 256;
/// A block whose sample peak is above this counts as audio for the session view (linear;
/// −100 dBFS, below any dither).
const AUDIBLE_FLOOR: f32 = 1e-5;

/// The analyzer as the plugin runs it: QC findings kept in a ring of the latest ones.
fn analyzer_config() -> AnalyzerConfig {
    AnalyzerConfig {
        qc_ring: true,
        ..AnalyzerConfig::default()
    }
}

/// Settings saved with the project. None of them changes the audio.
#[derive(Params)]
pub struct MeterParams {
    /// The host's bypass: audio passes unchanged (as always) and the analysis pauses, so the
    /// readings hold.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// The meter's settings (one parameter group, so VST3 hosts see a unit).
    #[nested(group = "Meter")]
    pub meter: MeterControls,
    /// Label in the session view; empty = the host's track name.
    #[persist = "session-label"]
    pub session_label: RwLock<String>,
    /// Session group; empty = the default (the host process).
    #[persist = "session-group"]
    pub session_group: RwLock<String>,
}

/// The meter's own parameters. IDs are stable: hosts store them in projects.
#[derive(Params)]
pub struct MeterControls {
    /// Delivery target the readings are compared with.
    #[id = "target"]
    pub target: EnumParam<TargetChoice>,
    /// Start a new measurement whenever the host's transport starts playing.
    #[id = "reset_on_play"]
    pub reset_on_play: BoolParam,
    /// How far a click must stand out of the local prediction residual (dB), as `lathe
    /// analyze --click-threshold`: lower finds quieter clicks and reports more of the music's
    /// own sharp onsets.
    #[id = "click_threshold"]
    pub click_threshold: FloatParam,
}

impl Default for MeterParams {
    fn default() -> Self {
        Self {
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            meter: MeterControls {
                target: EnumParam::new("Target", TargetChoice::Spotify),
                reset_on_play: BoolParam::new("Reset on Play", false),
                click_threshold: FloatParam::new(
                    "Click Threshold",
                    lathe_dsp::qc::click::CLICK_RATIO_DB as f32,
                    FloatRange::Linear {
                        min: 12.0,
                        max: 60.0,
                    },
                )
                .with_unit(" dB")
                .with_step_size(0.5)
                .with_value_to_string(formatters::v2s_f32_rounded(1)),
            },
            session_label: RwLock::new(String::new()),
            session_group: RwLock::new(String::new()),
        }
    }
}

/// One point of the loudness history (published at 10 Hz).
#[derive(Debug, Clone, Copy)]
pub struct HistoryPoint {
    /// Momentary loudness (LUFS).
    pub momentary_lufs: f32,
    /// Short-term loudness (LUFS).
    pub short_term_lufs: f32,
}

/// Readings shared with the editor.
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
    /// PSR over the last 3 s (dB).
    pub psr_db: AtomicF32,
    /// Momentary correlation, latest (−1…+1).
    pub correlation: AtomicF32,
    /// Programme L/R balance (LU).
    pub balance_lu: AtomicF32,
    /// Loudness change of the mono sum over the programme (LU).
    pub mono_loss_lu: AtomicF32,
    /// Channels being metered (1 or 2).
    pub channels: AtomicU32,
    /// Set by the editor's reset button; the audio thread clears the meters and this flag.
    pub reset_requested: AtomicBool,
    /// Set by the audio thread after each reset so the editor clears its history and QC list.
    pub was_reset: AtomicBool,
    /// Loudness history at 10 Hz (only filled while the editor is open).
    pub history: ArrayQueue<HistoryPoint>,
    /// QC findings as they happen.
    pub qc: ArrayQueue<QcEvent>,
    /// Session registry link (main and editor threads only; the audio thread has its own Arc).
    pub session: SessionLink,
}

/// This instance's place in the session registry, seen from the main and editor threads.
#[derive(Default)]
pub struct SessionLink {
    /// The slot, once the plugin was activated (None before, or if the registry failed).
    pub registration: Mutex<Option<Arc<Registration>>>,
    /// Track name and colour (0xRRGGBBAA) from the host, if it told us.
    pub track: Mutex<(String, Option<u32>)>,
    /// Why there is no registration, for the editor.
    pub error: Mutex<Option<String>>,
}

impl SessionLink {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The registration, if any.
    pub fn registration(&self) -> Option<Arc<Registration>> {
        Self::lock(&self.registration).clone()
    }

    /// Group this instance is in: the user's choice, else the default.
    pub fn group(params: &MeterParams) -> String {
        let group = params
            .session_group
            .read()
            .map(|g| g.trim().to_owned())
            .unwrap_or_default();
        if group.is_empty() {
            lathe_session::default_group()
        } else {
            group
        }
    }

    /// Name shown for this instance: the user's label, else the host's track name, else
    /// "Lathe Meter <slot>".
    pub fn label(&self, params: &MeterParams) -> (String, Option<u32>) {
        let (track, colour) = Self::lock(&self.track).clone();
        let user = params
            .session_label
            .read()
            .map(|l| l.trim().to_owned())
            .unwrap_or_default();
        let name = if !user.is_empty() {
            user
        } else if !track.trim().is_empty() {
            track.trim().to_owned()
        } else {
            let slot = self.registration().map_or(0, |r| r.index() + 1);
            format!("Lathe Meter {slot}")
        };
        (name, colour)
    }

    /// Rewrites group and label of an existing registration (after the user or the host
    /// changed them).
    pub fn relabel(&self, params: &MeterParams) {
        if let Some(registration) = self.registration() {
            let (name, colour) = self.label(params);
            registration.set_label(&Self::group(params), &name, colour);
        }
    }

    /// Joins the registry if not done yet, then (re)writes group and label.
    pub fn join(&self, params: &MeterParams) -> Option<Arc<Registration>> {
        let group = Self::group(params);
        let existing = self.registration();
        let registration = match existing {
            Some(r) => r,
            None => {
                let joined = Registry::shared()
                    .map_err(|e| e.to_string())
                    .and_then(|reg| {
                        reg.register(&group, "", None)
                            .ok_or_else(|| "every session slot is taken".to_owned())
                    });
                match joined {
                    Ok(r) => {
                        let r = Arc::new(r);
                        *Self::lock(&self.registration) = Some(r.clone());
                        *Self::lock(&self.error) = None;
                        r
                    }
                    Err(e) => {
                        *Self::lock(&self.error) = Some(e);
                        return None;
                    }
                }
            }
        };
        let (name, colour) = self.label(params);
        registration.set_label(&group, &name, colour);
        Some(registration)
    }

    /// Leaves the registry (the slot is freed once the audio side let go too).
    pub fn leave(&self) {
        Self::lock(&self.registration).take();
    }
}

impl Default for MeterShared {
    fn default() -> Self {
        let ninf = || AtomicF32::new(f32::NEG_INFINITY);
        Self {
            sample_peak: Default::default(),
            true_peak: Default::default(),
            true_peak_max: [AtomicF32::new(0.0), AtomicF32::new(0.0)],
            momentary_lufs: ninf(),
            short_term_lufs: ninf(),
            integrated_lufs: ninf(),
            loudness_range_lu: AtomicF32::new(0.0),
            psr_db: AtomicF32::new(0.0),
            correlation: AtomicF32::new(1.0),
            balance_lu: AtomicF32::new(0.0),
            mono_loss_lu: AtomicF32::new(0.0),
            channels: AtomicU32::new(2),
            reset_requested: AtomicBool::new(false),
            was_reset: AtomicBool::new(false),
            history: ArrayQueue::new(HISTORY_QUEUE),
            qc: ArrayQueue::new(QC_QUEUE),
            session: SessionLink::default(),
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
    analyzer: Analyzer,
    /// QC events already handed to the editor.
    qc_sent: u64,
    /// Samples since the gated figures and history were last published.
    since_publish: u64,
    /// [`PUBLISH_INTERVAL_S`] in samples.
    publish_interval: u64,
    /// Whether the transport was playing in the previous block.
    was_playing: bool,
    /// The session slot, for the audio thread (the same one `shared.session` holds).
    session: Option<Arc<Registration>>,
    /// What the session view gets each block; the gated figures are refreshed at 10 Hz.
    session_reading: Reading,
    /// True-peak overs counted since reset.
    overs: u32,
    /// The click threshold the analyzer has (dB).
    click_threshold_db: f32,
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
            analyzer: Analyzer::new(48_000.0, 2, analyzer_config()),
            qc_sent: 0,
            since_publish: 0,
            publish_interval: 4800,
            was_playing: false,
            session: None,
            session_reading: Reading::default(),
            overs: 0,
            click_threshold_db: lathe_dsp::qc::click::CLICK_RATIO_DB as f32,
        }
    }
}

impl LatheMeter {
    fn clear(&mut self) {
        self.analyzer.reset();
        self.qc_sent = 0;
        let s = &self.shared;
        for max in &s.true_peak_max {
            max.store(0.0, Ordering::Relaxed);
        }
        for a in [&s.integrated_lufs, &s.short_term_lufs] {
            a.store(f32::NEG_INFINITY, Ordering::Relaxed);
        }
        for a in [
            &s.loudness_range_lu,
            &s.psr_db,
            &s.balance_lu,
            &s.mono_loss_lu,
        ] {
            a.store(0.0, Ordering::Relaxed);
        }
        s.correlation.store(1.0, Ordering::Relaxed);
        self.overs = 0;
        let r = &mut self.session_reading;
        r.integrated_lufs = f32::NEG_INFINITY;
        r.loudness_range_lu = 0.0;
        r.plr_db = f32::NAN;
        // Findings and history from before the reset must not reach the editor afterwards.
        while s.qc.pop().is_some() {}
        while s.history.pop().is_some() {}
        s.was_reset.store(true, Ordering::Release);
        self.since_publish = 0;
    }

    fn publish_slow(&mut self, editor_open: bool) {
        let s = &self.shared;
        let loud = self.analyzer.loudness();
        let reading = loud.reading();
        s.integrated_lufs
            .store(reading.integrated_lufs as f32, Ordering::Relaxed);
        s.loudness_range_lu
            .store(reading.loudness_range_lu as f32, Ordering::Relaxed);
        s.psr_db
            .store(self.analyzer.psr_db() as f32, Ordering::Relaxed);
        let stereo = loud.stereo_reading();
        s.balance_lu
            .store(stereo.balance_lu as f32, Ordering::Relaxed);
        s.mono_loss_lu
            .store(stereo.mono_loss_lu as f32, Ordering::Relaxed);
        let r = &mut self.session_reading;
        r.integrated_lufs = reading.integrated_lufs as f32;
        r.loudness_range_lu = reading.loudness_range_lu as f32;
        r.plr_db = self.analyzer.plr_db() as f32;
        if editor_open {
            // A full queue means the editor is not reading: dropping points is fine.
            let _ = s.history.push(HistoryPoint {
                momentary_lufs: reading.momentary_lufs as f32,
                short_term_lufs: reading.short_term_lufs as f32,
            });
        }
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

    fn filter_state(state: &mut PluginState) {
        // All or nothing: a state that is not wholly ours loads nothing (see Lathe Master).
        use lathe_plugin_common::state::{Field, Layout};
        let scratch = MeterParams::default();
        let layout = Layout {
            fields: &[
                ("session-label", Field::Text),
                ("session-group", Field::Text),
            ],
            // The host bypass came after the first saved states.
            optional: &["bypass"],
            max_version: 0,
        };
        if lathe_plugin_common::state::vet_state(state, &scratch, &layout).is_err() {
            lathe_plugin_common::state::refuse(state);
        }
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
        self.analyzer = Analyzer::new(sr, channels, analyzer_config());
        self.click_threshold_db = lathe_dsp::qc::click::CLICK_RATIO_DB as f32;
        self.publish_interval = (sr * PUBLISH_INTERVAL_S) as u64;
        self.shared
            .channels
            .store(channels as u32, Ordering::Relaxed);
        self.session_reading = Reading {
            channels: channels as u32,
            sample_rate_hz: buffer_config.sample_rate.round() as u32,
            ..Reading::default()
        };
        self.overs = 0;
        // Joining the session registry maps a file and may start a thread: here, never in
        // process(). A failure leaves the meter working without the session view.
        if self.session.is_none() {
            self.session = self.shared.session.join(&self.params);
        }
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
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = FtzGuard::new();
        let playing = context.transport().playing;
        let started = playing && !self.was_playing;
        self.was_playing = playing;
        let session_reset = self
            .session
            .as_ref()
            .is_some_and(|r| r.take_reset_request());
        if self.shared.reset_requested.swap(false, Ordering::Acquire)
            || session_reset
            || (started && self.params.meter.reset_on_play.value())
        {
            self.clear();
        }
        // Read-only access: the meter never writes the buffer, so audio passes bit-exactly.
        let channels = buffer.as_slice_immutable();
        let frames = channels.first().map_or(0, |c| c.len());
        if frames == 0 || self.params.bypass.value() {
            return ProcessStatus::Normal;
        }
        // A new click threshold applies from this block on (no allocation: a few numbers).
        let click_threshold_db = self.params.meter.click_threshold.value();
        if click_threshold_db != self.click_threshold_db {
            self.click_threshold_db = click_threshold_db;
            self.analyzer
                .set_click_threshold_db(f64::from(click_threshold_db));
        }
        self.analyzer.process(channels);
        let s = &self.shared;
        let peaks = self.analyzer.block_sample_peaks();
        let tps = self.analyzer.block_true_peaks();
        for ch in 0..peaks.len().min(2) {
            s.sample_peak[ch].publish(peaks[ch]);
            s.true_peak[ch].publish(tps[ch]);
            s.true_peak_max[ch].store(self.analyzer.true_peak_of(ch), Ordering::Relaxed);
        }
        let loud = self.analyzer.loudness();
        s.momentary_lufs
            .fetch_max(loud.momentary_lufs() as f32, Ordering::Relaxed);
        s.short_term_lufs
            .store(loud.short_term_lufs() as f32, Ordering::Relaxed);
        s.correlation.store(
            loud.stereo_reading().correlation_momentary as f32,
            Ordering::Relaxed,
        );
        // The analyzer keeps a ring of the latest findings: a long session never stops
        // reporting (findings overwritten before they were sent are skipped).
        while self.qc_sent < self.analyzer.qc_total() {
            if let Some(&event) = self.analyzer.qc_event(self.qc_sent) {
                if event.kind == QcKind::TruePeakOver {
                    self.overs = self.overs.saturating_add(1);
                }
                // A full queue drops the event for the editor only.
                let _ = s.qc.push(event);
            }
            self.qc_sent += 1;
        }
        let editor_open = self.editor_state.is_open();
        self.since_publish += frames as u64;
        if self.since_publish >= self.publish_interval {
            self.since_publish = 0;
            self.publish_slow(editor_open);
        }
        if let Some(session) = &self.session {
            let loud = self.analyzer.loudness();
            let peaks = self.analyzer.block_sample_peaks();
            let target = self.params.meter.target.value().target();
            let r = &mut self.session_reading;
            r.momentary_lufs = loud.momentary_lufs() as f32;
            r.short_term_lufs = loud.short_term_lufs() as f32;
            r.true_peak_max_dbtp = lathe_dsp::level::gain_to_db(self.analyzer.true_peak_max());
            r.correlation = if peaks.len() > 1 {
                loud.stereo_reading().correlation_momentary as f32
            } else {
                f32::NAN
            };
            r.target_lufs = target.integrated_lufs.map_or(f32::NAN, |l| l as f32);
            r.target_tolerance_lu = target.tolerance_lu as f32;
            r.target_true_peak_dbtp = target.true_peak_max_dbtp as f32;
            r.overs = self.overs;
            let audible = peaks.iter().any(|&p| p > AUDIBLE_FLOOR);
            session.publish(r, audible);
        }
        if editor_open {
            self.repaint.request_repaint();
        }
        ProcessStatus::Normal
    }
}

impl Drop for LatheMeter {
    fn drop(&mut self) {
        // Both Arcs of the registration go: the slot is freed now, not when the editor goes.
        self.session = None;
        self.shared.session.leave();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_choices_follow_the_target_table() {
        let choices = [
            TargetChoice::Spotify,
            TargetChoice::AppleMusic,
            TargetChoice::YouTube,
            TargetChoice::AmazonMusic,
            TargetChoice::Tidal,
            TargetChoice::Deezer,
            TargetChoice::EbuR128,
            TargetChoice::AtscA85,
            TargetChoice::Podcast,
            TargetChoice::Cd,
        ];
        assert_eq!(choices.len(), lathe_dsp::targets::TARGETS.len());
        for c in choices {
            assert_eq!(TargetChoice::ids().unwrap()[c as usize], c.target().id);
        }
    }
}

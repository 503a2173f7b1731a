//! Lathe Master: the mastering chain for the master bus.
//!
//! The chain is `lathe_dsp::master::MasterChain` (the same code `lathe master` runs offline);
//! this crate is glue only: parameters → `MasterSettings` (one function, `MasterParams::settings`),
//! state, the editor, and the shared state between the audio thread and the editor.

use atomic_float::AtomicF32;
use crossbeam::queue::ArrayQueue;
use lathe_dsp::denormal::FtzGuard;
use lathe_dsp::loudness::LoudnessMeter;
use lathe_dsp::master::{MasterChain, Taps};
use lathe_dsp::peak::{SharedPeak, block_peak};
use lathe_dsp::spectrum::{self, Spectrum};
use lathe_dsp::true_peak::TruePeakMeter;
use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState, RepaintNotifier};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

mod editor;
mod params;
pub mod reference;

pub use params::*;

/// Default editor size in logical pixels.
const EDITOR_SIZE: (f32, f32) = (760.0, 780.0);

/// Longest passage Learn records (s at 48 kHz; fewer seconds at higher rates).
pub const LEARN_MAX_FRAMES: usize = 60 * 48_000;

/// A passage recorded for Learn: the chain's input. Allocated by the editor,
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

/// Frames per analysis chunk.
pub const CHUNK_FRAMES: usize = 4096;

/// Audio for the editor's long-term spectra (the reference comparison): the chain's input to
/// the EQ and its output, left and right. Allocated by the editor, filled by the audio thread,
/// passed back and forth through lock-free queues.
pub struct AnalysisChunk {
    pub pre_eq: [Vec<f32>; 2],
    pub output: [Vec<f32>; 2],
    /// Frames filled.
    pub frames: usize,
}

impl Default for AnalysisChunk {
    fn default() -> Self {
        Self {
            pre_eq: [vec![0.0; CHUNK_FRAMES], vec![0.0; CHUNK_FRAMES]],
            output: [vec![0.0; CHUNK_FRAMES], vec![0.0; CHUNK_FRAMES]],
            frames: 0,
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
    /// Reference records: loader, hand-off queues, status per slot.
    pub references: Arc<reference::References>,
    /// Gain the Reference choice applies now (dB).
    pub reference_gain_db: AtomicF32,
    /// Output loudness range (LU) and maximum short-term loudness (LUFS) since the meters' reset.
    pub output_range: [AtomicF32; 2],
    /// Analysis chunks: empty ones from the editor, filled ones back.
    pub analysis_empty: ArrayQueue<Box<AnalysisChunk>>,
    pub analysis_full: ArrayQueue<Box<AnalysisChunk>>,
}

/// Analysis chunks in circulation (~2.7 s at 48 kHz).
pub const ANALYSIS_CHUNKS: usize = 32;

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
            references: Arc::new(reference::References::default()),
            reference_gain_db: AtomicF32::new(0.0),
            output_range: Default::default(),
            analysis_empty: ArrayQueue::new(ANALYSIS_CHUNKS),
            analysis_full: ArrayQueue::new(ANALYSIS_CHUNKS),
        }
    }
}

pub struct LatheMaster {
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    /// The mastering chain (lathe-dsp), the same code `lathe master` runs.
    chain: MasterChain,
    /// Total latency last reported to the host (samples).
    latency_samples: u32,
    /// The passage being recorded for Learn, while Learn runs.
    learning: Option<Box<LearnBuffer>>,
    /// Loudness and true-peak meters of the input and the output (run while the editor is open).
    meters: [ChainMeter; 2],
    /// Spectra before and after the EQ (run while the editor is open), and a mono mix-down
    /// buffer for them.
    spectra: [Spectrum; 2],
    mono: Vec<f32>,
    /// Plays the reference loops (Ref Listen).
    player: lathe_dsp::reference::ReferencePlayer,
    /// The analysis chunk being filled.
    analysis: Option<Box<AnalysisChunk>>,
}

/// What the plugin listens to inside the chain: meters, spectra, peaks (while the editor is
/// open) and the Learn recording.
struct PluginTaps<'a> {
    shared: &'a MasterShared,
    metering: bool,
    meters: &'a mut [ChainMeter; 2],
    spectra: &'a mut [Spectrum; 2],
    mono: &'a mut [f32],
    learning: &'a mut Option<Box<LearnBuffer>>,
    analysis: &'a mut Option<Box<AnalysisChunk>>,
}

impl PluginTaps<'_> {
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

    /// Learn: takes a buffer the editor sent, records the chain's input into it, and hands it
    /// back when asked to stop or when it is full. No allocation: buffers only move. A Stop
    /// that arrives before the buffer was picked up still ends the (empty) recording.
    fn record_learn(&mut self, pass: &[&mut [f32]]) {
        if self.learning.is_none()
            && let Some(mut buffer) = self.shared.learn_start.pop()
        {
            buffer.frames = 0;
            buffer.used = pass.len().clamp(1, 2);
            buffer.sample_rate_hz = f64::from(self.shared.sample_rate_hz.load(Ordering::Relaxed));
            *self.learning = Some(buffer);
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
        {
            match self.shared.learn_done.push(buffer) {
                Ok(()) => self.shared.learn_stop.store(false, Ordering::Release),
                // The editor has not collected the previous one yet; keep it, try next block.
                Err(buffer) => *self.learning = Some(buffer),
            }
        }
    }
}

impl PluginTaps<'_> {
    /// Copies a pass into the analysis chunk (the EQ's input, then the output of the same
    /// pass); a full chunk goes to the editor and an empty one is taken. No chunk to hand: the
    /// audio is skipped (the editor is behind), never waited for.
    fn capture(&mut self, pass: &[&mut [f32]], pre_eq: bool) {
        let n = pass.first().map_or(0, |c| c.len());
        if pre_eq {
            if self
                .analysis
                .as_ref()
                .is_some_and(|c| c.frames + n > CHUNK_FRAMES)
                && let Some(full) = self.analysis.take()
                && let Err(back) = self.shared.analysis_full.push(full)
            {
                *self.analysis = Some(back);
                if let Some(c) = self.analysis.as_mut() {
                    c.frames = 0;
                }
            }
            if self.analysis.is_none() {
                *self.analysis = self.shared.analysis_empty.pop();
                if let Some(c) = self.analysis.as_mut() {
                    c.frames = 0;
                }
            }
        }
        let Some(chunk) = self.analysis.as_mut() else {
            return;
        };
        if n > CHUNK_FRAMES - chunk.frames {
            return;
        }
        let at = chunk.frames;
        let dest = if pre_eq {
            &mut chunk.pre_eq
        } else {
            &mut chunk.output
        };
        for (c, d) in dest.iter_mut().enumerate() {
            let src = &pass[c.min(pass.len() - 1)];
            d[at..at + n].copy_from_slice(&src[..n]);
        }
        if !pre_eq {
            chunk.frames += n;
        }
    }
}

impl Taps for PluginTaps<'_> {
    fn input(&mut self, pass: &[&mut [f32]]) {
        if self.metering {
            for (ch, block) in pass.iter().enumerate() {
                self.shared.input_peak[ch].publish(block_peak(block));
            }
            self.meters[0].process(pass);
        }
        self.record_learn(pass);
    }

    fn pre_eq(&mut self, pass: &[&mut [f32]]) {
        if self.metering {
            self.feed_spectrum(0, pass);
            self.capture(pass, true);
        }
    }

    fn post_eq(&mut self, pass: &[&mut [f32]]) {
        if self.metering {
            self.feed_spectrum(1, pass);
        }
    }

    fn output(&mut self, pass: &[&mut [f32]]) {
        if self.metering {
            self.capture(pass, false);
            for (ch, block) in pass.iter().enumerate() {
                self.shared.output_peak[ch].publish(block_peak(block));
            }
            self.meters[1].process(pass);
        }
    }
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

    fn process(&mut self, channels: &[&mut [f32]]) {
        self.loudness.process(channels);
        for (meter, samples) in self.true_peak.iter_mut().zip(channels) {
            self.true_peak_max = self.true_peak_max.max(meter.process(samples));
        }
    }

    fn publish_range(&self, out: &[AtomicF32; 2]) {
        let r = self.loudness.reading();
        out[0].store(r.loudness_range_lu as f32, Ordering::Relaxed);
        out[1].store(r.short_term_max_lufs as f32, Ordering::Relaxed);
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
            chain: MasterChain::new(48_000.0, 2).expect("stereo at 48 kHz"),
            latency_samples: 0,
            learning: None,
            meters: [ChainMeter::new(48_000.0, 2), ChainMeter::new(48_000.0, 2)],
            spectra: [Spectrum::new(48_000.0), Spectrum::new(48_000.0)],
            mono: vec![0.0; lathe_dsp::master::PASS_FRAMES],
            player: Default::default(),
            analysis: None,
        }
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

    fn filter_state(state: &mut PluginState) {
        // All or nothing: a state that is not wholly ours (another plugin's, a newer layout's,
        // out-of-range or mistyped values) loads nothing, and the instance keeps its settings.
        use lathe_plugin_common::state::{Field, Layout};
        let scratch = MasterParams::default();
        let layout = Layout {
            fields: &[
                ("state-version", Field::Number),
                (
                    "references",
                    Field::Json {
                        check: reference::valid_slots_json,
                        empty: "[]",
                    },
                ),
            ],
            // The host bypass and the reference came after state layout 1 was first saved.
            optional: &["bypass", "ref_listen", "ref_slot", "ref_match", "ref_sync"],
            max_version: STATE_VERSION,
        };
        if lathe_plugin_common::state::vet_state(state, &scratch, &layout).is_err() {
            lathe_plugin_common::state::refuse(state);
            return;
        }
        migrate_state(state);
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
        // Rates outside 8…384 kHz (a host may offer 768 kHz) run the chain designed for the
        // nearest supported rate, as every stage did before the chain existed: a safe result
        // rather than a refused activation. Layouts are ours (mono or stereo), so this cannot fail.
        let chain_sr = lathe_dsp::clamp_sample_rate(sr);
        let Ok(chain) = MasterChain::with_settings(chain_sr, channels, &self.params.settings())
        else {
            return false;
        };
        self.chain = chain;
        // References at this rate: loops at another rate are dropped here (not on the audio
        // thread) and reloaded; the loader skips slots already loaded at this rate.
        self.shared.references.collect_retired();
        self.shared.references.drop_other_rates(sr);
        self.player
            .prepare(buffer_config.max_buffer_size.clamp(1, 1 << 20) as usize, sr);
        for slot in 0..reference::SLOTS {
            if self
                .player
                .get(slot)
                .is_some_and(|l| l.audio.sample_rate_hz != sr)
            {
                drop(self.player.take(slot));
            }
        }
        let slots = self
            .params
            .references
            .read()
            .map(|s| s.clone())
            .unwrap_or_default();
        for slot in 0..reference::SLOTS {
            // A state without a slot (older ones hold "[]") means the slot is empty.
            let state = slots.get(slot).cloned().unwrap_or_default();
            self.shared.references.ensure(slot, state, sr);
        }
        self.shared.references.flush();
        self.meters = [ChainMeter::new(sr, channels), ChainMeter::new(sr, channels)];
        self.spectra = [Spectrum::new(sr), Spectrum::new(sr)];
        self.latency_samples = self.chain.latency_samples();
        self.shared
            .latency_samples
            .store(self.latency_samples, Ordering::Relaxed);
        // The EQ (linear phase) and the limiter are the only stages with latency; each keeps it
        // when bypassed.
        context.set_latency_samples(self.latency_samples);
        true
    }

    fn reset(&mut self) {
        self.chain.set(&self.params.settings());
        self.chain.set_host_bypass(self.params.bypass.value());
        self.chain.reset();
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
        self.chain.set(&self.params.settings());
        self.chain.set_host_bypass(self.params.bypass.value());
        let latency = self.chain.latency_samples();
        if latency != self.latency_samples {
            self.latency_samples = latency;
            self.shared
                .latency_samples
                .store(latency, Ordering::Relaxed);
            match context.plugin_api() {
                // CLAP lets a plugin announce a new latency only while it is being activated
                // (`clap_host_latency.changed` is `[main-thread & being-activated]`): ask the host
                // to restart us; `activate` reports the new figure.
                PluginApi::Clap => context.request_restart(),
                // VST3: `restartComponent(kLatencyChanged)`, allowed at any time.
                _ => context.set_latency_samples(latency),
            }
        }
        let metering = self.editor_state.is_open();
        if self.shared.meters_reset.swap(false, Ordering::Acquire) {
            self.meters.iter_mut().for_each(ChainMeter::reset);
        }
        // References: take finished loops (while there is room to hand back the ones they
        // replace: nothing is freed here), render the chosen slot's loop.
        let refs = &self.shared.references;
        while !refs.retired.is_full() {
            let Some(new) = refs.incoming.pop() else {
                break;
            };
            if let Some(old) = self.player.replace(new) {
                // Cannot fail: checked for room above, and only this thread pushes.
                let _ = refs.retired.push(old);
            }
        }
        let slot = (self.params.ref_slot.value().clamp(1, 4) - 1) as usize;
        let mono = buffer.channels() == 1;
        let loop_lufs = self.player.get(slot).map_or(f64::NAN, |l| {
            if mono { l.loop_lufs_mono } else { l.loop_lufs }
        });
        self.chain
            .set_reference(loop_lufs, self.params.ref_match.value().mode());
        let transport = context.transport();
        let song = if self.params.ref_sync.value() && transport.playing {
            transport.pos_samples()
        } else {
            None
        };
        let frames = buffer.samples();
        let channels = buffer.channels();
        let reference = self.player.render(slot, frames, channels, song);
        let mut taps = PluginTaps {
            shared: &self.shared,
            metering,
            meters: &mut self.meters,
            spectra: &mut self.spectra,
            mono: &mut self.mono,
            learning: &mut self.learning,
            analysis: &mut self.analysis,
        };
        self.chain.process_with_reference(
            buffer.as_slice(),
            &mut taps,
            reference.as_ref().map(|r| &r[..]),
        );
        self.shared
            .reference_gain_db
            .store(self.chain.reference_gain_db() as f32, Ordering::Relaxed);
        self.shared
            .ab_offset_lu
            .store(self.chain.ab_offset_lu() as f32, Ordering::Relaxed);
        if metering {
            self.shared
                .limiter_gain
                .fetch_min(self.chain.take_limiter_min_gain(), Ordering::Relaxed);
            self.shared.comp_gr_db.fetch_max(
                self.chain.take_compressor_max_reduction_db(),
                Ordering::Relaxed,
            );
            for (spectrum, shared) in self.spectra.iter().zip(&self.shared.spectrum) {
                for (&db, out) in spectrum.bands_db().iter().zip(shared) {
                    out.store(db, Ordering::Relaxed);
                }
            }
            self.meters[0].publish(&self.shared.input_loudness);
            self.meters[1].publish(&self.shared.output_loudness);
            self.meters[1].publish_range(&self.shared.output_range);
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

//! The whole metering engine in one place: loudness (BS.1770 / R 128), sample and true peak per
//! channel, dynamics (PLR, PSR, crest factor), stereo image and QC findings with timestamps.
//! Lathe Meter and `lathe analyze` both run this; it never allocates after construction.

use crate::level::{gain_to_db, gain_to_db_f64};
use crate::loudness::{LoudnessMeter, LoudnessReading, StereoReading};
use crate::qc::{PHASE_CORRELATION, PHASE_MIN_S, QcDetector, QcEvent, QcKind};
use crate::true_peak::TruePeakMeter;

/// Sub-blocks kept for windowed dynamics: 3 s of 10 ms, the short-term window.
const WINDOW_SUBBLOCKS: usize = 300;
/// Momentary loudness above which a negative correlation counts as a phase problem (LUFS):
/// anti-phase hiss in a fade-out is not worth flagging.
const PHASE_MIN_LOUDNESS_LUFS: f64 = -50.0;

/// Settings of an [`Analyzer`].
#[derive(Debug, Clone, Copy)]
pub struct AnalyzerConfig {
    /// True peaks above this are reported as overs (dBTP).
    pub over_threshold_dbtp: f64,
    /// Room in the QC event list; further events are counted, not kept.
    pub qc_capacity: usize,
    /// Keep the latest `qc_capacity` findings (a ring, for a plugin in a long session) instead
    /// of the first ones.
    pub qc_ring: bool,
    /// How far a click must stand out of the local prediction residual (dB; see
    /// [`crate::qc::click::CLICK_RATIO_DB`]): lower finds quieter clicks and reports more of
    /// the music's own sharp onsets.
    pub click_threshold_db: f64,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            over_threshold_dbtp: -1.0,
            qc_capacity: 256,
            qc_ring: false,
            click_threshold_db: crate::qc::click::CLICK_RATIO_DB,
        }
    }
}

/// Everything measured, for a report at the end of a file (allocates; not for the audio thread).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramReport {
    /// Channels measured.
    pub channels: usize,
    /// Sample rate (Hz).
    pub sample_rate_hz: f64,
    /// Duration measured (s).
    pub duration_s: f64,
    /// Loudness readings.
    pub loudness: LoudnessReading,
    /// Stereo image of the first two channels.
    pub stereo: StereoReading,
    /// Highest sample peak per channel (dBFS).
    pub sample_peak_dbfs: Vec<f64>,
    /// Highest true peak per channel (dBTP).
    pub true_peak_dbtp: Vec<f64>,
    /// Highest sample peak over all channels (dBFS).
    pub sample_peak_max_dbfs: f64,
    /// Highest true peak over all channels (dBTP).
    pub true_peak_max_dbtp: f64,
    /// Peak-to-loudness ratio: true peak max − integrated loudness (dB).
    pub plr_db: f64,
    /// Peak-to-short-term-loudness ratio over the last 3 s (dB).
    pub psr_db: f64,
    /// Lowest PSR seen (the most squashed 3 s; dB).
    pub psr_min_db: f64,
    /// Crest factor of the programme: sample peak / RMS over all channels (dB).
    pub crest_db: f64,
    /// Crest factor of the last 3 s (dB).
    pub crest_window_db: f64,
    /// QC findings in the order found.
    pub qc: Vec<QcEvent>,
    /// QC findings that did not fit in the list.
    pub qc_dropped: u64,
}

/// The metering engine.
#[derive(Debug, Clone)]
pub struct Analyzer {
    sample_rate_hz: f64,
    /// Over threshold as a linear amplitude.
    over_threshold: f32,
    loudness: LoudnessMeter,
    true_peak: Vec<TruePeakMeter>,
    qc: QcDetector,
    /// Highest sample peak per channel (linear).
    sample_peak: Vec<f32>,
    /// Σx² per channel over the programme (unweighted).
    sum_sq: Vec<f64>,
    /// Frames measured.
    frames: u64,
    /// Sample peak and true peak per channel of the last `process` call (linear), for live bars.
    block_peak: Vec<f32>,
    block_tp: Vec<f32>,
    /// True peak, sample peak and Σx² (all channels) of the sub-block being filled.
    sub_tp: f32,
    sub_peak: f32,
    sub_sq: f64,
    sub_frames: u32,
    /// Last 3 s of sub-blocks: true peak, sample peak, Σx² and frames (rings indexed like the
    /// loudness meter's).
    ring_tp: Vec<f32>,
    ring_peak: Vec<f32>,
    ring_sq: Vec<f64>,
    ring_frames: Vec<u32>,
    /// Lowest PSR since reset (dB).
    psr_min: f64,
    /// Sub-block where the current stretch of negative correlation began, and its lowest value.
    phase_run: Option<(u64, f64)>,
}

impl Analyzer {
    /// How far a click must stand out of the local prediction residual (dB); see
    /// [`crate::qc::click`].
    pub fn set_click_threshold_db(&mut self, db: f64) {
        self.qc.set_click_threshold_db(db);
    }

    /// An analyzer for `channels` channels (1, 2; or 5/6 for 5.0/5.1 with BS.1770 weights).
    pub fn new(sample_rate_hz: f64, channels: usize, config: AnalyzerConfig) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let channels = channels.max(1);
        let loudness = match channels {
            5 => LoudnessMeter::with_weights(sr, &[1.0, 1.0, 1.0, 1.41, 1.41]),
            6 => LoudnessMeter::with_weights(sr, &[1.0, 1.0, 1.0, 0.0, 1.41, 1.41]),
            n => LoudnessMeter::new(sr, n),
        };
        let mut a = Self {
            sample_rate_hz: sr,
            over_threshold: crate::level::db_to_gain(config.over_threshold_dbtp as f32),
            loudness,
            true_peak: vec![TruePeakMeter::new(sr); channels],
            qc: {
                let mut q = QcDetector::new(sr, channels, config.qc_capacity);
                q.set_ring(config.qc_ring);
                q.set_click_threshold_db(config.click_threshold_db);
                q
            },
            sample_peak: vec![0.0; channels],
            sum_sq: vec![0.0; channels],
            frames: 0,
            block_peak: vec![0.0; channels],
            block_tp: vec![0.0; channels],
            sub_tp: 0.0,
            sub_peak: 0.0,
            sub_sq: 0.0,
            sub_frames: 0,
            ring_tp: vec![0.0; WINDOW_SUBBLOCKS],
            ring_peak: vec![0.0; WINDOW_SUBBLOCKS],
            ring_sq: vec![0.0; WINDOW_SUBBLOCKS],
            ring_frames: vec![0; WINDOW_SUBBLOCKS],
            psr_min: f64::INFINITY,
            phase_run: None,
        };
        a.reset();
        a
    }

    /// Channels measured.
    pub fn channels(&self) -> usize {
        self.sample_peak.len()
    }

    /// Forgets everything. Does not allocate.
    pub fn reset(&mut self) {
        self.loudness.reset();
        for t in &mut self.true_peak {
            t.reset();
        }
        self.qc.reset();
        self.sample_peak.fill(0.0);
        self.sum_sq.fill(0.0);
        self.frames = 0;
        self.sub_tp = 0.0;
        self.sub_peak = 0.0;
        self.sub_sq = 0.0;
        self.sub_frames = 0;
        self.ring_tp.fill(0.0);
        self.ring_peak.fill(0.0);
        self.ring_sq.fill(0.0);
        self.ring_frames.fill(0);
        self.psr_min = f64::INFINITY;
        self.phase_run = None;
    }

    /// Feeds planar audio (one slice per channel, equal lengths). Returns the block's highest
    /// sample peak and true peak over all channels (linear), for live meters.
    pub fn process<S: AsRef<[f32]>>(&mut self, channels: &[S]) -> (f32, f32) {
        // As in the mastering chain: the plugin and `lathe analyze` read the same figures.
        let _ftz = crate::denormal::FtzGuard::new();
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        let used = channels.len().min(self.channels());
        let (mut block_peak, mut block_tp) = (0.0f32, 0.0f32);
        self.block_peak.fill(0.0);
        self.block_tp.fill(0.0);
        let mut pos = 0;
        while pos < frames {
            let n = self.loudness.frames_to_boundary().min(frames - pos);
            let before = self.loudness.subblocks_done();
            let slices: [&[f32]; 8] = std::array::from_fn(|c| {
                if c < used {
                    &channels[c].as_ref()[pos..pos + n]
                } else {
                    &[]
                }
            });
            let slices = &slices[..used.min(8)];
            self.loudness.process(slices);
            self.qc.process(slices);
            for (c, x) in slices.iter().enumerate() {
                let tp = self.true_peak[c].process(x);
                let (peak, sq) = peak_and_sum_sq(x);
                self.sample_peak[c] = self.sample_peak[c].max(peak);
                self.sum_sq[c] += sq;
                self.sub_peak = self.sub_peak.max(peak);
                self.sub_tp = self.sub_tp.max(tp);
                self.sub_sq += sq;
                block_peak = block_peak.max(peak);
                block_tp = block_tp.max(tp);
                self.block_peak[c] = self.block_peak[c].max(peak);
                self.block_tp[c] = self.block_tp[c].max(tp.max(peak));
            }
            self.sub_frames += n as u32;
            self.frames += n as u64;
            pos += n;
            if self.loudness.subblocks_done() != before {
                self.finish_subblock();
            }
        }
        (block_peak, block_tp.max(block_peak))
    }

    fn finish_subblock(&mut self) {
        let index = self.loudness.subblocks_done() - 1;
        let slot = (index % WINDOW_SUBBLOCKS as u64) as usize;
        self.ring_tp[slot] = self.sub_tp;
        self.ring_peak[slot] = self.sub_peak;
        self.ring_sq[slot] = self.sub_sq;
        self.ring_frames[slot] = self.sub_frames;
        let start_s = (self.frames - u64::from(self.sub_frames)) as f64 / self.sample_rate_hz;
        let len_s = f64::from(self.sub_frames) / self.sample_rate_hz;
        if self.sub_tp > self.over_threshold {
            self.qc.push_or_extend(
                QcEvent {
                    kind: QcKind::TruePeakOver,
                    channel: None,
                    start_s,
                    duration_s: len_s,
                    value: f64::from(gain_to_db(self.sub_tp)),
                },
                0.0,
            );
        }
        self.sub_tp = 0.0;
        self.sub_peak = 0.0;
        self.sub_sq = 0.0;
        self.sub_frames = 0;

        // PSR once the short-term window is full.
        if self.loudness.subblocks_done() >= WINDOW_SUBBLOCKS as u64 {
            let psr = self.psr_db();
            if psr.is_finite() {
                self.psr_min = self.psr_min.min(psr);
            }
        }
        // Phase problems: sustained negative momentary correlation while audible.
        if self.channels() >= 2 {
            let corr = self.loudness.stereo_reading().correlation_momentary;
            let audible = self.loudness.momentary_lufs() > PHASE_MIN_LOUDNESS_LUFS;
            if audible && corr < PHASE_CORRELATION {
                let run = self.phase_run.get_or_insert((index, corr));
                run.1 = run.1.min(corr);
            } else {
                self.close_phase_run(index);
            }
        }
    }

    fn close_phase_run(&mut self, end_index: u64) {
        if let Some((start, worst)) = self.phase_run.take() {
            let secs = (end_index - start) as f64 / crate::loudness::UPDATES_PER_SECOND as f64;
            if secs >= PHASE_MIN_S {
                self.qc.push(QcEvent {
                    kind: QcKind::PhaseProblem,
                    channel: None,
                    start_s: start as f64 / crate::loudness::UPDATES_PER_SECOND as f64,
                    duration_s: secs,
                    value: worst,
                });
            }
        }
    }

    /// Ends a programme: flushes the true-peak filters, closes open QC runs and adds the
    /// programme-level QC findings. Call once, after the last `process`.
    pub fn finish(&mut self) {
        for t in &mut self.true_peak {
            t.finish();
        }
        self.close_phase_run(self.loudness.subblocks_done());
        self.qc.finish();
    }

    /// Sample peak per channel of the last `process` call (linear).
    pub fn block_sample_peaks(&self) -> &[f32] {
        &self.block_peak
    }

    /// True peak per channel of the last `process` call (linear).
    pub fn block_true_peaks(&self) -> &[f32] {
        &self.block_tp
    }

    /// Loudness readings.
    pub fn loudness(&self) -> &LoudnessMeter {
        &self.loudness
    }

    /// Highest true peak over all channels since reset (linear).
    pub fn true_peak_max(&self) -> f32 {
        self.true_peak
            .iter()
            .map(TruePeakMeter::max)
            .fold(0.0, f32::max)
    }

    /// Highest true peak of one channel since reset (linear).
    pub fn true_peak_of(&self, channel: usize) -> f32 {
        self.true_peak.get(channel).map_or(0.0, TruePeakMeter::max)
    }

    /// PLR: true peak max − integrated loudness (dB); `-inf`/NaN-free: `inf` until measurable.
    pub fn plr_db(&self) -> f64 {
        f64::from(gain_to_db(self.true_peak_max())) - self.loudness.integrated_lufs()
    }

    /// PSR: highest true peak of the last 3 s − short-term loudness (dB).
    pub fn psr_db(&self) -> f64 {
        let tp = self.ring_tp.iter().fold(0.0f32, |m, &v| m.max(v));
        f64::from(gain_to_db(tp)) - self.loudness.short_term_lufs()
    }

    /// Crest factor over the last 3 s: sample peak / RMS over all channels (dB).
    pub fn crest_window_db(&self) -> f64 {
        let peak = self.ring_peak.iter().fold(0.0f32, |m, &v| m.max(v));
        let sq: f64 = self.ring_sq.iter().sum();
        let n: u64 = self.ring_frames.iter().map(|&f| u64::from(f)).sum();
        crest(f64::from(peak), sq, n * self.channels() as u64)
    }

    /// Crest factor of the programme: sample peak / RMS over all channels (dB).
    pub fn crest_db(&self) -> f64 {
        let peak = self.sample_peak.iter().fold(0.0f32, |m, &v| m.max(v));
        let sq: f64 = self.sum_sq.iter().sum();
        crest(f64::from(peak), sq, self.frames * self.channels() as u64)
    }

    /// QC findings kept since reset (the sequence number of the next one).
    pub fn qc_total(&self) -> u64 {
        self.qc.total()
    }

    /// The QC finding with sequence number `seq`, if still held (see [`QcDetector::event`]).
    pub fn qc_event(&self, seq: u64) -> Option<&QcEvent> {
        self.qc.event(seq)
    }

    /// QC findings held (see [`QcDetector::events`]).
    pub fn qc_events(&self) -> &[QcEvent] {
        self.qc.events()
    }

    /// The full report (allocates).
    pub fn report(&self) -> ProgramReport {
        let db = |v: f32| f64::from(gain_to_db(v));
        ProgramReport {
            channels: self.channels(),
            sample_rate_hz: self.sample_rate_hz,
            duration_s: self.frames as f64 / self.sample_rate_hz,
            loudness: self.loudness.reading(),
            stereo: self.loudness.stereo_reading(),
            sample_peak_dbfs: self.sample_peak.iter().map(|&p| db(p)).collect(),
            true_peak_dbtp: self.true_peak.iter().map(|t| db(t.max())).collect(),
            sample_peak_max_dbfs: db(self.sample_peak.iter().fold(0.0, |m: f32, &v| m.max(v))),
            true_peak_max_dbtp: db(self.true_peak_max()),
            plr_db: self.plr_db(),
            psr_db: self.psr_db(),
            psr_min_db: if self.psr_min.is_finite() {
                self.psr_min
            } else {
                self.psr_db()
            },
            crest_db: self.crest_db(),
            crest_window_db: self.crest_window_db(),
            qc: self.qc.events_in_order(),
            qc_dropped: self.qc.dropped(),
        }
    }
}

/// Sample peak and Σx² of a run (non-finite samples count as 0), in eight lanes so neither is a
/// serial chain; partial sums are f32 over at most one 10 ms sub-block, then added in f64.
fn peak_and_sum_sq(x: &[f32]) -> (f32, f64) {
    let mut peak = [0.0f32; 8];
    let mut sq = [0.0f32; 8];
    for c in x.chunks(8) {
        for (j, &v) in c.iter().enumerate() {
            let v = if v.is_finite() { v } else { 0.0 };
            let a = v.abs();
            peak[j] = if a > peak[j] { a } else { peak[j] };
            sq[j] += v * v;
        }
    }
    (
        peak.iter().fold(0.0f32, |m, &v| m.max(v)),
        sq.iter().map(|&v| f64::from(v)).sum(),
    )
}

/// Peak over RMS in dB; 0 for silence.
fn crest(peak: f64, sum_sq: f64, samples: u64) -> f64 {
    if samples == 0 || sum_sq <= 0.0 {
        return 0.0;
    }
    gain_to_db_f64(peak / (sum_sq / samples as f64).sqrt())
}

#[cfg(test)]
mod tests;

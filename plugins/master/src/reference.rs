//! Reference records for Lathe Master: the slots saved in the plugin state (paths and loops,
//! never the audio), the loader that decodes and resamples a file on its own thread, and the
//! hand-off to and from the audio thread.
//!
//! The audio thread receives finished loops through a lock-free queue and hands every loop it
//! replaces back through another; whoever loads next (a loader thread, the editor) drops those,
//! so no audio is ever freed on the audio thread.

use crossbeam::queue::ArrayQueue;
use lathe_dsp::reference::{MAX_SECONDS, ReferenceAudio, ReferenceLoop};
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Reference slots.
pub const SLOTS: usize = 4;

/// One slot as saved in the plugin state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlotState {
    /// The file ("" = empty slot).
    pub path: String,
    /// Loop start and end (s); an end at or before the start plays the whole file.
    pub loop_start_s: f64,
    pub loop_end_s: f64,
}

/// What a slot holds now, for the editor.
#[derive(Debug, Clone, Default)]
pub enum SlotStatus {
    #[default]
    Empty,
    Loading,
    Loaded {
        seconds: f64,
        loop_start_s: f64,
        loop_end_s: f64,
        loop_lufs: f64,
        /// Min/max per column of the whole file, for the waveform.
        overview: Arc<Vec<(f32, f32)>>,
        audio: Arc<ReferenceAudio>,
        /// The loop's measures, for the comparison and Match.
        stats: Arc<Stats>,
    },
    Failed(String),
}

/// What the comparison shows of a signal (the master or a reference loop).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub integrated_lufs: f64,
    pub loudness_range_lu: f64,
    pub short_term_max_lufs: f64,
    pub true_peak_dbtp: f64,
    pub crest_db: f64,
    pub correlation: f64,
    pub spectra: lathe_dsp::band_spectrum::BandSpectra,
    /// Peak-to-short-term-loudness ratio (dB) at its 10th, 50th and 90th percentile.
    pub psr_db: [f64; 3],
}

impl Stats {
    /// Measures frames `start..end` of `audio`.
    pub fn of(audio: &ReferenceAudio, start: usize, end: usize) -> Self {
        let end = end.min(audio.frames());
        let start = start.min(end);
        let (l, r) = (
            &audio.channels[0][start..end],
            &audio.channels[1][start..end],
        );
        let sr = audio.sample_rate_hz;
        let mut meter = lathe_dsp::loudness::LoudnessMeter::new(sr, 2);
        meter.process(&[l, r]);
        let reading = meter.reading();
        let mut tp = 0.0f32;
        for x in [l, r] {
            let mut m = lathe_dsp::true_peak::TruePeakMeter::new(sr);
            tp = tp.max(m.process(x));
        }
        let mut bands = lathe_dsp::band_spectrum::BandAnalyzer::new(sr);
        bands.push(l, r);
        let mut sums = Sums::default();
        sums.add(l, r);
        let mut psr = Psr::new(sr);
        psr.add(l, r);
        Self {
            integrated_lufs: reading.integrated_lufs,
            loudness_range_lu: reading.loudness_range_lu,
            short_term_max_lufs: reading.short_term_max_lufs,
            true_peak_dbtp: f64::from(lathe_dsp::level::gain_to_db(tp)),
            crest_db: sums.crest_db(),
            correlation: sums.correlation(),
            spectra: bands.result().unwrap_or_default(),
            psr_db: psr.percentiles(),
        }
    }

    /// Peak-to-loudness ratio (dB).
    pub fn plr_db(&self) -> f64 {
        self.true_peak_dbtp - self.integrated_lufs
    }
}

/// The distribution of PSR (true peak of the last 3 s over their short-term loudness), one
/// value every 100 ms once 3 s have passed.
pub struct Psr {
    meter: lathe_dsp::loudness::LoudnessMeter,
    tp: [lathe_dsp::true_peak::TruePeakMeter; 2],
    /// True peak of each of the last 30 hops (linear).
    peaks: std::collections::VecDeque<f32>,
    hop: usize,
    in_hop: usize,
    peak: f32,
    values: Vec<f64>,
    /// Percentiles as of the last whole second (sorting every frame would grow with the hours).
    cached: [f64; 3],
}

impl Psr {
    pub fn new(sample_rate_hz: f64) -> Self {
        Self {
            meter: lathe_dsp::loudness::LoudnessMeter::new(sample_rate_hz, 2),
            tp: [
                lathe_dsp::true_peak::TruePeakMeter::new(sample_rate_hz),
                lathe_dsp::true_peak::TruePeakMeter::new(sample_rate_hz),
            ],
            peaks: std::collections::VecDeque::with_capacity(31),
            hop: ((sample_rate_hz / 10.0) as usize).max(1),
            in_hop: 0,
            peak: 0.0,
            values: Vec::new(),
            cached: [f64::NAN; 3],
        }
    }

    pub fn add(&mut self, l: &[f32], r: &[f32]) {
        let mut start = 0;
        while start < l.len() {
            let n = (self.hop - self.in_hop).min(l.len() - start);
            let (a, b) = (&l[start..start + n], &r[start..start + n]);
            self.meter.process(&[a, b]);
            self.peak = self
                .peak
                .max(self.tp[0].process(a))
                .max(self.tp[1].process(b));
            self.in_hop += n;
            start += n;
            if self.in_hop == self.hop {
                self.in_hop = 0;
                if self.peaks.len() == 30 {
                    self.peaks.pop_front();
                }
                self.peaks.push_back(std::mem::take(&mut self.peak));
                let s = self.meter.short_term_lufs();
                let tp = self.peaks.iter().copied().fold(0.0f32, f32::max);
                if self.peaks.len() == 30 && s.is_finite() && s > -70.0 && tp > 0.0 {
                    self.values
                        .push(f64::from(lathe_dsp::level::gain_to_db(tp)) - s);
                    if self.values.len() % 10 == 1 {
                        self.cached = self.compute();
                    }
                }
            }
        }
    }

    /// 10th, 50th and 90th percentile (NaN before 3 s), updated once a second.
    pub fn percentiles(&self) -> [f64; 3] {
        self.cached
    }

    fn compute(&self) -> [f64; 3] {
        if self.values.is_empty() {
            return [f64::NAN; 3];
        }
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        [0.1, 0.5, 0.9].map(|q| v[((v.len() - 1) as f64 * q).round() as usize])
    }
}

/// Running sums for crest factor and correlation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sums {
    ll: f64,
    rr: f64,
    lr: f64,
    peak: f64,
    n: u64,
}

impl Sums {
    pub fn add(&mut self, l: &[f32], r: &[f32]) {
        for (&a, &b) in l.iter().zip(r) {
            let (a, b) = (f64::from(a), f64::from(b));
            self.ll += a * a;
            self.rr += b * b;
            self.lr += a * b;
            self.peak = self.peak.max(a.abs()).max(b.abs());
            self.n += 1;
        }
    }

    /// Sample peak over RMS of both channels (dB).
    pub fn crest_db(&self) -> f64 {
        let rms = ((self.ll + self.rr) / (2 * self.n.max(1)) as f64).sqrt();
        20.0 * (self.peak / rms.max(1e-12)).log10()
    }

    /// Correlation of left and right (1 = mono, 0 = unrelated, −1 = opposite).
    pub fn correlation(&self) -> f64 {
        let d = (self.ll * self.rr).sqrt();
        if d > 0.0 { self.lr / d } else { 1.0 }
    }
}

/// Whether a saved `references` field is ours: at most [`SLOTS`] slots of known keys.
pub fn valid_slots_json(json: &str) -> bool {
    serde_json::from_str::<Vec<SlotState>>(json).is_ok_and(|v| {
        v.len() <= SLOTS
            && v.iter()
                .all(|s| s.loop_start_s.is_finite() && s.loop_end_s.is_finite())
    })
}

/// Columns of the waveform overview.
pub const OVERVIEW_COLUMNS: usize = 600;

/// The reference machinery shared by the plugin, its loader threads and the editor.
pub struct References {
    /// Finished loops to the audio thread.
    pub incoming: ArrayQueue<Box<ReferenceLoop>>,
    /// Loops the audio thread replaced, to be dropped elsewhere.
    pub retired: ArrayQueue<Box<ReferenceLoop>>,
    /// Per slot, for the editor (never touched by the audio thread).
    pub status: Mutex<[SlotStatus; SLOTS]>,
    /// Loads started, per slot: a finished load older than the newest is dropped.
    generation: Mutex<[u64; SLOTS]>,
    /// What each slot was last asked to hold, and at which rate.
    requested: Mutex<[Option<(SlotState, f64)>; SLOTS]>,
    /// The newest finished loop per slot not yet taken by the queue (the audio thread may not
    /// be running); handed on by [`References::flush`].
    pending: Mutex<[Option<Box<ReferenceLoop>>; SLOTS]>,
}

impl Default for References {
    fn default() -> Self {
        Self {
            incoming: ArrayQueue::new(2 * SLOTS),
            retired: ArrayQueue::new(4 * SLOTS),
            status: Mutex::new(Default::default()),
            generation: Mutex::new([0; SLOTS]),
            requested: Mutex::new(Default::default()),
            pending: Mutex::new(Default::default()),
        }
    }
}

impl References {
    /// Loads `state` into `slot` unless that is what the slot already holds at this rate
    /// (activation calls it for every saved slot; a restart must not reload).
    pub fn ensure(self: &Arc<Self>, slot: usize, state: SlotState, sample_rate_hz: f64) {
        if slot >= SLOTS {
            return;
        }
        let wanted = Some((state.clone(), sample_rate_hz));
        let fresh = match self.requested.lock() {
            Ok(r) => r[slot] != wanted,
            Err(_) => return,
        };
        if fresh {
            if state.path.trim().is_empty() && matches!(self.status(slot), SlotStatus::Empty) {
                if let Ok(mut r) = self.requested.lock() {
                    r[slot] = wanted;
                }
                return;
            }
            self.load(slot, state, sample_rate_hz);
        }
    }

    /// A slot's status now.
    pub fn status(&self, slot: usize) -> SlotStatus {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.get(slot).cloned())
            .unwrap_or_default()
    }

    /// Drops the loops the audio thread handed back (call off the audio thread).
    pub fn collect_retired(&self) {
        while self.retired.pop().is_some() {}
    }

    fn set_status(&self, slot: usize, status: SlotStatus) {
        if let Ok(mut s) = self.status.lock() {
            s[slot] = status;
        }
    }

    /// Loads `state` into `slot` at `sample_rate_hz` on a new thread: decodes, resamples,
    /// measures the loop, and queues it for the audio thread. An empty path clears the slot.
    pub fn load(self: &Arc<Self>, slot: usize, state: SlotState, sample_rate_hz: f64) {
        if slot >= SLOTS {
            return;
        }
        let generation = match self.generation.lock() {
            Ok(mut g) => {
                g[slot] += 1;
                g[slot]
            }
            Err(_) => return,
        };
        if let Ok(mut r) = self.requested.lock() {
            r[slot] = Some((state.clone(), sample_rate_hz));
        }
        if state.path.trim().is_empty() {
            self.set_status(slot, SlotStatus::Empty);
            self.send_loop(Box::new(ReferenceLoop::new(
                Arc::new(ReferenceAudio {
                    channels: [Vec::new(), Vec::new()],
                    sample_rate_hz,
                }),
                slot,
                0.0,
                0.0,
            )));
            return;
        }
        self.set_status(slot, SlotStatus::Loading);
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("lathe-reference".into())
            .spawn(move || {
                // A decoder that panics on a hostile file fails this load, nothing else.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    decode(Path::new(&state.path), sample_rate_hz)
                }))
                .unwrap_or_else(|_| Err("the decoder failed on this file".into()));
                match result {
                    Ok(audio) => this.loaded(slot, Arc::new(audio), &state, generation),
                    Err(e) => {
                        if this.is_current(slot, generation) {
                            this.set_status(slot, SlotStatus::Failed(e));
                        }
                    }
                }
            });
        if spawned.is_err() {
            self.set_status(
                slot,
                SlotStatus::Failed("cannot start a loader thread".into()),
            );
        }
    }

    /// Sets a new loop on a loaded slot (measured here; the audio is shared, not copied).
    pub fn set_loop(self: &Arc<Self>, slot: usize, start_s: f64, end_s: f64) {
        let audio = match self.status.lock() {
            Ok(s) => match &s[slot.min(SLOTS - 1)] {
                SlotStatus::Loaded { audio, .. } => audio.clone(),
                _ => return,
            },
            Err(_) => return,
        };
        if let Ok(mut r) = self.requested.lock()
            && let Some((state, _)) = r[slot.min(SLOTS - 1)].as_mut()
        {
            state.loop_start_s = start_s;
            state.loop_end_s = end_s;
        }
        let state = SlotState {
            path: String::new(),
            loop_start_s: start_s,
            loop_end_s: end_s,
        };
        let slot = slot.min(SLOTS - 1);
        let generation = self.generation.lock().map(|g| g[slot]).unwrap_or(0);
        // Measuring a long loop takes a while: not on the editor's thread.
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("lathe-reference-loop".into())
            .spawn(move || this.loaded(slot, audio, &state, generation));
        if spawned.is_err() {
            self.set_status(
                slot,
                SlotStatus::Failed("cannot start a loader thread".into()),
            );
        }
    }

    fn is_current(&self, slot: usize, generation: u64) -> bool {
        self.generation
            .lock()
            .map(|g| g[slot] == generation)
            .unwrap_or(false)
    }

    /// Measures a finished load and hands it on, unless a newer load or a clear of the slot
    /// started meanwhile (then it is dropped here).
    fn loaded(&self, slot: usize, audio: Arc<ReferenceAudio>, state: &SlotState, generation: u64) {
        let l = ReferenceLoop::new(audio.clone(), slot, state.loop_start_s, state.loop_end_s);
        let sr = audio.sample_rate_hz;
        let status = SlotStatus::Loaded {
            seconds: audio.frames() as f64 / sr,
            loop_start_s: l.start as f64 / sr,
            loop_end_s: l.end as f64 / sr,
            loop_lufs: l.loop_lufs,
            overview: Arc::new(overview(&audio)),
            stats: Arc::new(Stats::of(&audio, l.start, l.end)),
            audio,
        };
        // Checked and delivered under the generation lock: a clear or a newer load cannot slip
        // in between.
        let Ok(g) = self.generation.lock() else {
            return;
        };
        if g[slot] != generation {
            return;
        }
        self.send_loop(Box::new(l));
        self.set_status(slot, status);
        drop(g);
    }

    /// Hands a loop toward the audio thread: it becomes the slot's pending loop (replacing an
    /// older one not yet taken) and the pending loops are offered to the queue.
    fn send_loop(&self, l: Box<ReferenceLoop>) {
        let slot = l.slot.min(SLOTS - 1);
        if let Ok(mut p) = self.pending.lock() {
            p[slot] = Some(l);
        }
        self.flush();
    }

    /// Offers the pending loops to the audio thread's queue (never waits) and drops the loops
    /// it handed back. The editor calls it every frame, activation and every load too.
    pub fn flush(&self) {
        self.collect_retired();
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        for slot in p.iter_mut() {
            if let Some(l) = slot.take()
                && let Err(back) = self.incoming.push(l)
            {
                *slot = Some(back);
            }
        }
    }

    /// At activation: loops queued for another rate are dropped, the rest kept pending.
    pub fn drop_other_rates(&self, sample_rate_hz: f64) {
        let Ok(mut p) = self.pending.lock() else {
            return;
        };
        while let Some(l) = self.incoming.pop() {
            let slot = l.slot.min(SLOTS - 1);
            if l.audio.sample_rate_hz == sample_rate_hz && p[slot].is_none() {
                p[slot] = Some(l);
            }
        }
        for slot in p.iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|l| l.audio.sample_rate_hz != sample_rate_hz && !l.is_empty())
            {
                *slot = None;
            }
        }
    }
}

/// Min/max per column over the whole file (both channels).
fn overview(audio: &ReferenceAudio) -> Vec<(f32, f32)> {
    let frames = audio.frames();
    (0..OVERVIEW_COLUMNS)
        .map(|c| {
            let a = c * frames / OVERVIEW_COLUMNS;
            let b = ((c + 1) * frames / OVERVIEW_COLUMNS).max(a + 1).min(frames);
            let mut lo = 0.0f32;
            let mut hi = 0.0f32;
            for ch in &audio.channels {
                for &x in ch.get(a..b).unwrap_or(&[]) {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
            (lo, hi)
        })
        .collect()
}

/// Decodes a whole file (WAV, AIFF, FLAC, MP3, Ogg Vorbis; at most [`MAX_SECONDS`]) to two
/// channels at `rate` Hz. Errors are one line for the editor.
pub fn decode(path: &Path, rate: f64) -> Result<ReferenceAudio, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        symphonia::default::get_probe().format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
    }))
    .map_err(|_| "the decoder failed on this file".to_string())?
    .map_err(|e| format!("not a readable audio file ({e})"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or("the file has no audio track")?;
    let params = track.codec_params.clone();
    let track_id = track.id;
    let channels = params.channels.map_or(0, |c| c.count());
    if !(1..=8).contains(&channels) {
        return Err(format!(
            "{channels} channels: references are mono or stereo"
        ));
    }
    let file_rate = params.sample_rate.ok_or("no sample rate")?;
    if !(8_000..=384_000).contains(&file_rate) {
        return Err(format!("sample rate {file_rate} Hz is outside 8–384 kHz"));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| format!("unsupported codec ({e})"))?;
    let limit = (MAX_SECONDS * f64::from(file_rate)) as usize;
    let mut planar = [Vec::new(), Vec::new()];
    let mut buffer: Option<SampleBuffer<f32>> = None;
    while planar[0].len() < limit {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(format!("cannot read the file ({e})")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(_)) => continue,
            Err(e) => return Err(format!("cannot decode ({e})")),
        };
        let spec = *decoded.spec();
        let b = buffer.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if b.capacity() < decoded.capacity() * spec.channels.count() {
            *b = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        b.copy_interleaved_ref(decoded);
        let n = spec.channels.count().max(1);
        for frame in b.samples().chunks_exact(n) {
            let (l, r) = if n == 1 {
                (frame[0], frame[0])
            } else {
                (frame[0], frame[1])
            };
            let (l, r) = (
                if l.is_finite() { l } else { 0.0 },
                if r.is_finite() { r } else { 0.0 },
            );
            planar[0].push(l);
            planar[1].push(r);
        }
    }
    for c in &mut planar {
        c.truncate(limit);
    }
    if planar[0].is_empty() {
        return Err("the file holds no audio".into());
    }
    let to = rate.round() as usize;
    let channels = if file_rate as usize == to {
        planar
    } else {
        resample(planar, file_rate as usize, to)?
    };
    Ok(ReferenceAudio {
        channels,
        sample_rate_hz: rate,
    })
}

/// Band-limited rate conversion (rubato's FFT resampler), time-aligned.
fn resample(input: [Vec<f32>; 2], from: usize, to: usize) -> Result<[Vec<f32>; 2], String> {
    let frames = input[0].len();
    let g = gcd(from, to);
    let unit = from / g;
    let chunk = unit * 1024usize.div_ceil(unit);
    let mut resampler = Fft::<f32>::new_custom(
        from,
        to,
        chunk,
        1,
        2,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .map_err(|e| format!("cannot convert the sample rate ({e})"))?;
    let input = input.to_vec();
    let inp = SequentialSliceOfVecs::new(&input, 2, frames).map_err(|e| e.to_string())?;
    let needed = resampler.process_all_needed_output_len(frames);
    let mut out = vec![vec![0.0f32; needed]; 2];
    let mut output =
        SequentialSliceOfVecs::new_mut(&mut out, 2, needed).map_err(|e| e.to_string())?;
    let (_, produced) = resampler
        .process_all_into_buffer(&inp, &mut output, frames, None)
        .map_err(|e| format!("sample-rate conversion failed ({e})"))?;
    let exact = ((frames as u64 * to as u64).div_ceil(from as u64) as usize).min(produced);
    let mut it = out.into_iter();
    let (mut l, mut r) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
    l.truncate(exact);
    r.truncate(exact);
    Ok([l, r])
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

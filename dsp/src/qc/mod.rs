//! Quality-control detectors: clipped runs, clicks, DC offset, and the event list they fill.
//!
//! Clicks are outliers of short-term linear prediction (see [`click`]), looked for in each
//! channel and, in stereo, in the side signal (L − R)/2 too: what the channels share cancels
//! there, so a click on one channel stands out of far less music. A click found only there is
//! put on the channel where it clearly stands out, or reported for both channels
//! (`channel: None`) when neither does.
//!
//! The detectors run per sample on the raw (unweighted) signal. Events go into a list whose
//! capacity is fixed at construction, so QC never allocates while processing. Once full, a
//! *list* (files: the first findings, the rest counted) keeps what it has; a *ring* (a plugin in
//! a long session) overwrites its oldest finding, so the latest ones are always there.

/// What a QC event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QcKind {
    /// At least [`CLIP_RUN_SAMPLES`] consecutive samples at full scale.
    ClippedRun,
    /// True peak above the over threshold.
    TruePeakOver,
    /// A sudden step in the waveform unlike its neighbourhood (a click or edit discontinuity).
    Click,
    /// Mean sample value away from zero over the programme.
    DcOffset,
    /// Silence before the programme starts.
    HeadSilence,
    /// Silence after the programme ends.
    TailSilence,
    /// Correlation below [`PHASE_CORRELATION`] for at least [`PHASE_MIN_S`] while audible.
    PhaseProblem,
}

impl QcKind {
    /// Stable machine name (used in JSON).
    pub fn name(self) -> &'static str {
        match self {
            Self::ClippedRun => "clipped_run",
            Self::TruePeakOver => "true_peak_over",
            Self::Click => "click",
            Self::DcOffset => "dc_offset",
            Self::HeadSilence => "head_silence",
            Self::TailSilence => "tail_silence",
            Self::PhaseProblem => "phase_problem",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QcEvent {
    /// What was found.
    pub kind: QcKind,
    /// Channel index, or None when it concerns all channels.
    pub channel: Option<u16>,
    /// Where it starts (s from the start of the programme).
    pub start_s: f64,
    /// How long it lasts (s; 0 for instantaneous events).
    pub duration_s: f64,
    /// A figure describing it: peak (dBTP) for overs, mean (dBFS) for DC, for clicks how far
    /// the click stands out of the local prediction residual (dB), correlation for phase
    /// problems, samples for clipped runs.
    pub value: f64,
}

/// Samples at or above this level count as full scale: 1 − 2⁻¹⁵, the largest 16-bit value.
pub const FULL_SCALE: f32 = 1.0 - 1.0 / 32_768.0;
/// Consecutive full-scale samples that make a clipped run.
pub const CLIP_RUN_SAMPLES: u32 = 3;
/// Programme mean (absolute, linear) above which DC offset is flagged (−60 dBFS).
pub const DC_THRESHOLD: f64 = 0.001;
/// Silence threshold for head and tail (linear, −60 dBFS).
pub const SILENCE_LEVEL: f32 = 0.001;
/// Head or tail silence shorter than this is not reported (s).
pub const MIN_SILENCE_S: f64 = 0.01;
/// Samples examined per pass (stack buffers of this size; about 5 ms at 48 kHz).
const QC_CHUNK: usize = 256;
/// Correlation below which a stretch counts as a phase problem.
pub const PHASE_CORRELATION: f64 = -0.3;
/// Minimum length of a phase problem (s).
pub const PHASE_MIN_S: f64 = 1.0;

pub mod click;

/// Channels whose clicks are reported in the order they were decided within a chunk.
const ORDERED_CHANNELS: usize = 8;
/// How long a click found in the side signal is held before it is reported (samples): the
/// channels' detectors decide on the same click within about a guard of it.
const SIDE_HOLD: u64 = 2 * click::GUARD as u64;

/// A side-signal click waiting to be reported.
#[derive(Debug, Clone, Copy)]
struct HeldClick {
    /// Stream frame from which it is reported.
    release: u64,
    frame: u64,
    ratio_db: f64,
    channel: Option<usize>,
}

/// How much further a click must stand out in the side signal than in a channel (dB).
pub const SIDE_OFFSET_DB: f64 = 2.0;
/// A click found in the side signal is put on one channel when it stands out there at least
/// this much (amplitude ratio to the level around it, 10 dB) and twice as much as on the
/// other.
const ATTRIBUTE_RATIO: f64 = 3.16;

/// A chunk with non-finite samples as 0 and absurd finite ones clamped (no audio comes near
/// 1e6), so no detector's sums can overflow or lose their precision.
fn sanitize(chunk: &[f32]) -> [f32; QC_CHUNK] {
    let mut x = [0.0f32; QC_CHUNK];
    for (d, &s) in x.iter_mut().zip(chunk) {
        *d = if s.is_finite() {
            s.clamp(-1e6, 1e6)
        } else {
            0.0
        };
    }
    x
}

use click::ClickDetector;

/// Per-channel detector state.
#[derive(Debug, Clone)]
struct ChannelState {
    /// Length of the current full-scale run (samples).
    clip_run: u32,
    /// Frame where the current full-scale run started.
    clip_start: u64,
    /// The click detector.
    click: ClickDetector,
    /// Frame of the last click reported on this channel (by its own detector or the side
    /// signal's), so one click is reported once.
    last_click: Option<u64>,
    /// Σx over the programme (for DC).
    sum: f64,
}

impl ChannelState {
    fn new(sample_rate_hz: f64) -> Self {
        Self {
            clip_run: 0,
            clip_start: 0,
            click: ClickDetector::new(sample_rate_hz),
            last_click: None,
            sum: 0.0,
        }
    }

    fn reset(&mut self) {
        self.clip_run = 0;
        self.clip_start = 0;
        self.click.reset();
        self.last_click = None;
        self.sum = 0.0;
    }
}

/// The sample-level detectors and the event list.
#[derive(Debug, Clone)]
pub struct QcDetector {
    sample_rate_hz: f64,
    channels: Vec<ChannelState>,
    /// Stereo: a click detector on the side signal (L − R)/2. What both channels share – most
    /// of a mix – cancels there, so a click on one channel stands out of far less music than
    /// in that channel alone; a click on both channels alike is left to the channels' own
    /// detectors.
    side: Option<ClickDetector>,
    /// A click found in the side signal, held until `release` (see [`Self::process_side`]).
    held_side: Option<HeldClick>,
    /// Clicks found by the first channels' detectors in the current chunk of the stream,
    /// reported when it is complete (see [`Self::report_clicks`]).
    pending: [Option<click::Click>; ORDERED_CHANNELS],
    /// Stereo: a click found by one channel's own detector, held until `release` in case the
    /// other channel's detector finds it too (see [`Self::channel_click`]).
    held_channel: Option<(usize, HeldClick)>,
    /// Events found so far (fixed capacity).
    events: Vec<QcEvent>,
    /// Events that did not fit in the list, or were overwritten in the ring.
    dropped: u64,
    /// Overwrite the oldest event when full (see the module documentation).
    ring: bool,
    /// In a full ring: index of the oldest event.
    head: usize,
    /// Events ever added since reset (the sequence number of the next one).
    total: u64,
    /// Frames processed.
    frames: u64,
    /// Two clicks on one channel closer than this (frames) are one finding.
    click_holdoff: u64,
    /// First and last frame above [`SILENCE_LEVEL`] on any channel.
    first_sound: Option<u64>,
    last_sound: u64,
}

impl QcDetector {
    /// Detectors for `channels` channels keeping at most `capacity` events.
    pub fn new(sample_rate_hz: f64, channels: usize, capacity: usize) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let mut q = Self {
            sample_rate_hz: sr,
            channels: vec![ChannelState::new(sr); channels.max(1)],
            side: (channels == 2).then(|| ClickDetector::new(sr)),
            held_side: None,
            pending: [None; ORDERED_CHANNELS],
            held_channel: None,
            events: Vec::with_capacity(capacity),
            dropped: 0,
            ring: false,
            head: 0,
            total: 0,
            frames: 0,
            click_holdoff: (0.05 * sr) as u64,
            first_sound: None,
            last_sound: 0,
        };
        if let Some(side) = &mut q.side {
            side.set_threshold_db(click::CLICK_RATIO_DB + SIDE_OFFSET_DB);
        }
        q.reset();
        q
    }

    /// Forgets everything. Does not allocate.
    pub fn reset(&mut self) {
        for c in &mut self.channels {
            c.reset();
        }
        if let Some(side) = &mut self.side {
            side.reset();
        }
        self.held_side = None;
        self.pending = [None; ORDERED_CHANNELS];
        self.held_channel = None;
        self.events.clear();
        self.dropped = 0;
        self.head = 0;
        self.total = 0;
        self.frames = 0;
        self.first_sound = None;
        self.last_sound = 0;
    }

    /// How far a click must stand out of the local prediction residual (dB; default
    /// [`click::CLICK_RATIO_DB`]): lower finds quieter clicks and risks reporting music.
    pub fn set_click_threshold_db(&mut self, db: f64) {
        for c in &mut self.channels {
            c.click.set_threshold_db(db);
        }
        if let Some(side) = &mut self.side {
            side.set_threshold_db(db + SIDE_OFFSET_DB);
        }
    }

    /// Ring mode: when full, a new event overwrites the oldest (see the module documentation).
    /// Changing the mode forgets the events held.
    pub fn set_ring(&mut self, ring: bool) {
        if ring != self.ring {
            self.ring = ring;
            self.events.clear();
            self.head = 0;
            self.total = 0;
            self.dropped = 0;
        }
    }

    /// Events held, oldest first (whatever the mode; allocates – not for the audio thread).
    pub fn events_in_order(&self) -> Vec<QcEvent> {
        let held = self.events.len() as u64;
        (self.total - held..self.total)
            .filter_map(|seq| self.event(seq).copied())
            .collect()
    }

    /// Adds an event if there is room; in a full ring it replaces the oldest, in a full list it
    /// is only counted.
    pub fn push(&mut self, event: QcEvent) {
        if self.events.len() < self.events.capacity() {
            self.events.push(event);
        } else if self.ring && !self.events.is_empty() {
            self.events[self.head] = event;
            self.head = (self.head + 1) % self.events.len();
            self.dropped += 1;
        } else {
            self.dropped += 1;
            return;
        }
        self.total += 1;
    }

    /// Events kept since reset (sequence numbers run from `total() − held` to `total() − 1`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The event with sequence number `seq` (0 = the first since reset), if it is still held.
    pub fn event(&self, seq: u64) -> Option<&QcEvent> {
        let held = self.events.len() as u64;
        let first = self.total - held;
        if seq < first || seq >= self.total {
            return None;
        }
        let offset = (seq - first) as usize;
        let index = if self.events.len() == self.events.capacity() && self.ring {
            (self.head + offset) % self.events.len()
        } else {
            offset
        };
        self.events.get(index)
    }

    /// Extends the last event of `kind` on `channel` to `end_s` if it ends within `gap_s` of
    /// `start_s`, otherwise adds the event. Keeps one event per continuous stretch.
    pub fn push_or_extend(&mut self, event: QcEvent, gap_s: f64) {
        let held = self.events.len() as u64;
        let found = (self.total - held..self.total).rev().find_map(|seq| {
            self.event(seq)
                .filter(|e| e.kind == event.kind && e.channel == event.channel)
                .map(|_| seq)
        });
        let index = found.map(|seq| {
            let offset = (seq - (self.total - held)) as usize;
            if self.ring && self.events.len() == self.events.capacity() {
                (self.head + offset) % self.events.len()
            } else {
                offset
            }
        });
        if let Some(last) = index.map(|i| &mut self.events[i])
            // 1 µs of slack absorbs rounding in times computed from frame counts.
            && last.start_s + last.duration_s + gap_s + 1e-6 >= event.start_s
        {
            let end = (event.start_s + event.duration_s).max(last.start_s + last.duration_s);
            last.duration_s = end - last.start_s;
            last.value = last.value.max(event.value);
            return;
        }
        self.push(event);
    }

    fn seconds(&self, frame: u64) -> f64 {
        frame as f64 / self.sample_rate_hz
    }

    /// Runs the detectors over one block (planar, equal lengths).
    ///
    /// Written for speed on ordinary programme: each check first looks at a whole chunk with
    /// loops the compiler vectorises (peak, sum, largest second difference) and only walks
    /// sample by sample where something might be found.
    ///
    /// The stream is walked chunk by chunk, every channel (and the side signal) in each chunk
    /// before the next, so findings come in stream order whatever the host's block size.
    pub fn process<S: AsRef<[f32]>>(&mut self, channels: &[S]) {
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        let start = self.frames;
        let mut pos = 0;
        while pos < frames {
            let frame = start + pos as u64;
            let to_boundary = QC_CHUNK - (frame % QC_CHUNK as u64) as usize;
            let n = to_boundary.min(frames - pos);
            let mut clean = [[0.0f32; QC_CHUNK]; 2];
            // Clicks found in this chunk of the stream by the first channels' detectors are
            // reported when the chunk is complete, in the order they were decided (beyond
            // those channels: at once).
            for (ch, samples) in channels.iter().enumerate().take(self.channels.len()) {
                let samples = samples.as_ref();
                let chunk = &samples[pos.min(samples.len())..(pos + n).min(samples.len())];
                if chunk.is_empty() {
                    continue;
                }
                let x = sanitize(chunk);
                let click = self.process_chunk(ch, frame, &x[..chunk.len()]);
                if ch < 2 {
                    clean[ch] = x;
                }
                match (click, self.pending.get(ch).copied()) {
                    // (One per channel and chunk: the detector's holdoff is longer.)
                    (Some(c), Some(None)) => self.pending[ch] = Some(c),
                    (Some(c), _) => self.push_click(Some(ch), c.frame, c.ratio_db),
                    (None, _) => {}
                }
            }
            if self.side.is_some() {
                self.process_side(&clean[0][..n], &clean[1][..n]);
            }
            let end = start + (pos + n) as u64;
            if end.is_multiple_of(QC_CHUNK as u64) {
                let mut found = std::mem::replace(&mut self.pending, [None; ORDERED_CHANNELS]);
                self.report_clicks(&mut found, end);
            }
            pos += n;
        }
        self.frames += frames as u64;
    }

    /// Reports the channels' clicks of a chunk and a held side-signal click due by `until`
    /// (stream frames) in the order they were decided – a channel's before the side signal's
    /// at the same time – so which event is kept for one click, and the list's order, do not
    /// depend on where the host's blocks end.
    fn report_clicks(&mut self, found: &mut [Option<click::Click>], until: u64) {
        loop {
            let next = found
                .iter()
                .enumerate()
                .filter_map(|(ch, c)| c.map(|c| (c.decided, ch)))
                .min();
            let side = self.held_side.filter(|h| h.release <= until);
            let channel_first =
                next.map(|(decided, ch)| (ch, side.is_none_or(|h| decided <= h.release)));
            match (channel_first, side) {
                (Some((ch, true)), _) => {
                    if let Some(c) = found[ch].take() {
                        self.channel_click(ch, c);
                    }
                }
                (_, Some(h)) => {
                    self.held_side = None;
                    self.push_click(h.channel, h.frame, h.ratio_db);
                }
                _ => break,
            }
        }
        if let Some((ch, h)) = self.held_channel
            && h.release <= until
        {
            self.held_channel = None;
            self.push_click(Some(ch), h.frame, h.ratio_db);
        }
    }

    /// The side signal's click detector on one chunk of both (sanitised) channels. A click
    /// found there is put on the channel where it stands out more and held for
    /// [`SIDE_HOLD`] samples: a channel's own detector deciding on the same click meanwhile
    /// is reported instead.
    fn process_side(&mut self, l: &[f32], r: &[f32]) {
        let Some(side) = &mut self.side else {
            return;
        };
        let mut s = [0.0f32; QC_CHUNK];
        for ((d, &a), &b) in s.iter_mut().zip(l).zip(r) {
            *d = 0.5 * (a - b);
        }
        let n = l.len().min(r.len());
        let Some(click) = side.process(&s[..n], |i| {
            l[i].abs() >= FULL_SCALE || r[i].abs() >= FULL_SCALE
        }) else {
            return;
        };
        // The channel where it stands out clearly more (twice, and 10 dB over the level), or
        // both when neither does: a click heard only in the difference cannot always be put
        // on one channel (in a near-mono mix, +c on the left and −c on the right give the same
        // side signal, and the mid signal buries it as deep as each channel does).
        let at = |ch: usize| {
            self.channels[ch]
                .click
                .relative_at(click.frame)
                .map_or(0.0, f64::abs)
        };
        let (l, r) = (at(0), at(1));
        let ch = if l >= 2.0 * r && l >= ATTRIBUTE_RATIO {
            Some(0)
        } else if r >= 2.0 * l && r >= ATTRIBUTE_RATIO {
            Some(1)
        } else {
            None
        };
        if let Some(h) = self.held_side.take() {
            // Not reached (the side detector's holdoff is longer than the hold).
            self.push_click(h.channel, h.frame, h.ratio_db);
        }
        self.held_side = Some(HeldClick {
            release: click.decided + SIDE_HOLD,
            frame: click.frame,
            ratio_db: click.ratio_db,
            channel: ch,
        });
    }

    /// Whether a click was reported on `ch` (`None`: on either channel) within the click
    /// holdoff of `frame`.
    fn reported_recently(&self, ch: Option<usize>, frame: u64) -> bool {
        let recent = |st: &ChannelState| {
            st.last_click
                .is_some_and(|last| frame.abs_diff(last) < self.click_holdoff)
        };
        match ch {
            Some(c) => recent(&self.channels[c]),
            None => self.channels.iter().any(recent),
        }
    }

    /// Reports a click on `ch` (`None`: both channels) unless one was reported there within
    /// the click holdoff.
    fn push_click(&mut self, ch: Option<usize>, frame: u64, ratio_db: f64) {
        if self.reported_recently(ch, frame) {
            return;
        }
        for (c, st) in self.channels.iter_mut().enumerate() {
            if ch.is_none_or(|ch| ch == c) {
                st.last_click = Some(frame);
            }
        }
        self.push(QcEvent {
            kind: QcKind::Click,
            channel: ch.map(|c| c as u16),
            start_s: self.seconds(frame),
            duration_s: 0.0,
            value: ratio_db,
        });
    }

    /// A click found by channel `ch`'s own detector. In stereo it is held until the other
    /// channel's detector can no longer find the same click (it decides up to the guard later,
    /// possibly in the next chunk): the two at the same sample (±1) are one click on both
    /// channels (`channel` null) – a mono programme carried on two channels, a click on both
    /// sides of a record – reported once, before anything is published. Holding and releasing
    /// happen at chunk ends only, so what is reported does not depend on the host's blocks.
    fn channel_click(&mut self, ch: usize, c: click::Click) {
        if self.channels.len() != 2 {
            self.push_click(Some(ch), c.frame, c.ratio_db);
            return;
        }
        let new = HeldClick {
            release: c.decided + click::GUARD as u64 + 2,
            frame: c.frame,
            ratio_db: c.ratio_db,
            channel: Some(ch),
        };
        match self.held_channel.take() {
            Some((other, h)) if other != ch && h.frame.abs_diff(c.frame) <= 1 => {
                let (frame, ratio_db) = (h.frame.min(c.frame), h.ratio_db.max(c.ratio_db));
                if self.reported_recently(None, frame) {
                    // One channel reported a click just before: each as its own.
                    self.push_click(Some(other), h.frame, h.ratio_db);
                    self.push_click(Some(ch), c.frame, c.ratio_db);
                } else {
                    self.push_click(None, frame, ratio_db);
                }
            }
            Some((other, h)) => {
                self.push_click(Some(other), h.frame, h.ratio_db);
                self.held_channel = Some((ch, new));
            }
            None => self.held_channel = Some((ch, new)),
        }
    }

    /// One chunk of one channel, already sanitised; returns the click found, if any (the
    /// caller reports it).
    fn process_chunk(&mut self, ch: usize, first_frame: u64, x: &[f32]) -> Option<click::Click> {
        // Peak and sum with eight lanes each, so neither is one serial chain.
        let mut peak = [0.0f32; 8];
        let mut sum = [0.0f32; 8];
        for c in x.chunks(8) {
            for (j, &v) in c.iter().enumerate() {
                let a = v.abs();
                peak[j] = if a > peak[j] { a } else { peak[j] };
                sum[j] += v;
            }
        }
        let peak = peak.iter().fold(0.0f32, |m, &v| m.max(v));
        let st = &mut self.channels[ch];
        st.sum += sum.iter().map(|&v| f64::from(v)).sum::<f64>();

        // Head and tail silence.
        if peak > SILENCE_LEVEL {
            if self.first_sound.is_none() {
                let i = x.iter().position(|v| v.abs() > SILENCE_LEVEL).unwrap_or(0);
                self.first_sound = Some(first_frame + i as u64);
            }
            let i = x.iter().rposition(|v| v.abs() > SILENCE_LEVEL).unwrap_or(0);
            self.last_sound = self.last_sound.max(first_frame + i as u64);
        }

        // Clipped runs: only walk samples when the chunk reaches full scale or a run is open.
        if peak >= FULL_SCALE || self.channels[ch].clip_run > 0 {
            for (i, &v) in x.iter().enumerate() {
                let st = &mut self.channels[ch];
                if v.abs() >= FULL_SCALE {
                    if st.clip_run == 0 {
                        st.clip_start = first_frame + i as u64;
                    }
                    st.clip_run += 1;
                } else if st.clip_run > 0 {
                    let (run, begin) = (st.clip_run, st.clip_start);
                    st.clip_run = 0;
                    if run >= CLIP_RUN_SAMPLES {
                        self.push_clip(ch, begin, run);
                    }
                }
            }
        }

        // Clicks: outliers of the prediction residual (decided a few ms after the sample).
        self.channels[ch]
            .click
            .process(x, |i| x[i].abs() >= FULL_SCALE)
    }

    fn push_clip(&mut self, ch: usize, begin: u64, run: u32) {
        self.push(QcEvent {
            kind: QcKind::ClippedRun,
            channel: Some(ch as u16),
            start_s: self.seconds(begin),
            duration_s: f64::from(run) / self.sample_rate_hz,
            value: f64::from(run),
        });
    }

    /// Closes open runs and adds the programme-level findings (DC, head and tail silence).
    /// Call once at the end; `events` is then complete.
    pub fn finish(&mut self) {
        let mut found = std::mem::replace(&mut self.pending, [None; ORDERED_CHANNELS]);
        self.report_clicks(&mut found, u64::MAX);
        if let Some(h) = self.held_side.take() {
            self.push_click(h.channel, h.frame, h.ratio_db);
        }
        for ch in 0..self.channels.len() {
            let st = &self.channels[ch];
            if st.clip_run >= CLIP_RUN_SAMPLES {
                let (begin, run) = (st.clip_start, st.clip_run);
                self.channels[ch].clip_run = 0;
                self.push_clip(ch, begin, run);
            }
            let st = &self.channels[ch];
            if self.frames > 0 {
                let mean = st.sum / self.frames as f64;
                if mean.abs() > DC_THRESHOLD {
                    let ev = QcEvent {
                        kind: QcKind::DcOffset,
                        channel: Some(ch as u16),
                        start_s: 0.0,
                        duration_s: self.seconds(self.frames),
                        value: crate::level::gain_to_db_f64(mean.abs()),
                    };
                    self.push(ev);
                }
            }
        }
        let total = self.seconds(self.frames);
        let (head, tail) = match self.first_sound {
            Some(first) => (
                self.seconds(first),
                total - self.seconds(self.last_sound + 1),
            ),
            None => (total, 0.0),
        };
        for (kind, start, len) in [
            (QcKind::HeadSilence, 0.0, head),
            (QcKind::TailSilence, total - tail, tail),
        ] {
            if len >= MIN_SILENCE_S {
                self.push(QcEvent {
                    kind,
                    channel: None,
                    start_s: start,
                    duration_s: len,
                    value: len,
                });
            }
        }
    }

    /// Events held, in the order found (a full ring: in storage order; use [`Self::event`]).
    pub fn events(&self) -> &[QcEvent] {
        &self.events
    }

    /// Events that did not fit in the list or were overwritten in the ring.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sr: f64, chans: &[Vec<f32>]) -> QcDetector {
        let mut q = QcDetector::new(sr, chans.len(), 64);
        q.process(chans);
        q.finish();
        q
    }

    fn clicks_of(q: &QcDetector) -> Vec<&QcEvent> {
        q.events()
            .iter()
            .filter(|e| e.kind == QcKind::Click)
            .collect()
    }

    /// Adds 1-sample clicks of `height` to mono `x` at `clicks_at` and checks that they, and
    /// nothing else (`what`), are reported.
    fn only_these_clicks(sr: f64, mut x: Vec<f32>, clicks_at: &[usize], height: f32, what: &str) {
        for &at in clicks_at {
            x[at] += height;
        }
        let q = run(sr, &[x]);
        let clicks = clicks_of(&q);
        for &at in clicks_at {
            assert!(
                clicks.iter().any(|c| near(c, sr, at, 1.0)),
                "the click at {at} not found: {clicks:?}"
            );
        }
        assert_eq!(clicks.len(), clicks_at.len(), "{what} reported: {clicks:?}");
    }

    /// Whether finding `e` is within `tol` samples of sample `at`.
    fn near(e: &QcEvent, sr: f64, at: usize, tol: f64) -> bool {
        (e.start_s * sr - at as f64).abs() <= tol
    }

    fn kinds(q: &QcDetector) -> Vec<QcKind> {
        q.events().iter().map(|e| e.kind).collect()
    }

    fn tone(sr: f64, secs: f64, amp: f32) -> Vec<f32> {
        (0..(sr * secs) as usize)
            .map(|n| amp * (2.0 * std::f32::consts::PI * 440.0 * n as f32 / sr as f32).sin())
            .collect()
    }

    #[test]
    fn clean_tone_has_no_findings() {
        let q = run(48_000.0, &[tone(48_000.0, 2.0, 0.5)]);
        assert!(q.events().is_empty(), "{:?}", q.events());
    }

    #[test]
    fn finds_clipped_runs_with_position_and_length() {
        let sr = 48_000.0;
        let mut x = tone(sr, 1.0, 0.5);
        for s in &mut x[24_000..24_005] {
            *s = 1.0;
        }
        // Two full-scale samples are not a run.
        x[30_000] = -1.0;
        x[30_001] = -1.0;
        let q = run(sr, &[x]);
        let clips: Vec<_> = q
            .events()
            .iter()
            .filter(|e| e.kind == QcKind::ClippedRun)
            .collect();
        assert_eq!(clips.len(), 1, "{:?}", q.events());
        assert!((clips[0].start_s - 0.5).abs() < 1e-9);
        assert_eq!(clips[0].value, 5.0);
        // The run's edges are steps, but they belong to the clip, not to a click.
        assert!(
            q.events().iter().all(|e| e.kind != QcKind::Click),
            "{:?}",
            q.events()
        );
    }

    /// Adds uniform white noise of at most ±`peak` (seeded): a recording's noise floor.
    fn add_noise_floor(x: &mut [f32], mut seed: u32, peak: f32) {
        for v in x {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v += peak * ((seed >> 8) as f32 / (1 << 24) as f32 - 0.5) * 2.0;
        }
    }

    /// Noise-like programme shared by both channels (−10 dBFS, a crude low-passed noise).
    fn shared_programme(sr: f64, seconds: f64) -> Vec<f32> {
        let mut seed = 7u32;
        let mut y = 0.0f32;
        (0..(sr * seconds) as usize)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let w = (seed >> 8) as f32 / (1 << 24) as f32 - 0.5;
                y = 0.7 * y + 0.3 * w;
                y
            })
            .collect()
    }

    #[test]
    fn the_side_signal_finds_a_click_the_channel_cannot() {
        let sr = 44_100.0;
        let l = shared_programme(sr, 2.0);
        let peak = l.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let mut r = l.clone();
        let mut with_click = l.clone();
        // 40 dB under the programme's peak: lost in that channel's own residual.
        with_click[50_000] += 0.01 * peak;
        // Alone, the channel does not show it …
        let alone = run(sr, &[with_click.clone()]);
        assert!(
            !alone.events().iter().any(|e| e.kind == QcKind::Click),
            "{:?}",
            alone.events()
        );
        // … the side signal of the pair does: once, at the sample, not on the other channel.
        let q = run(sr, &[with_click, r.clone()]);
        let clicks = clicks_of(&q);
        assert_eq!(clicks.len(), 1, "{:?}", q.events());
        assert!(near(clicks[0], sr, 50_000, 1.0), "{clicks:?}");
        assert_ne!(clicks[0].channel, Some(1), "{clicks:?}");
        // A loud click on the right is found by that channel and by the side signal: reported
        // once, on the right.
        r[70_000] -= 0.5 * peak;
        let q = run(sr, &[l, r]);
        let clicks = clicks_of(&q);
        assert_eq!(clicks.len(), 1, "{:?}", q.events());
        assert_eq!(clicks[0].channel, Some(1), "{clicks:?}");
        assert!(near(clicks[0], sr, 70_000, 1.0), "{clicks:?}");
    }

    #[test]
    fn stereo_clicks_do_not_depend_on_the_block_size() {
        for sr in [11_025.0, 44_100.0, 96_000.0] {
            // Two tones over a noise floor: predictable, so loud clicks stand out in a channel.
            let l: Vec<f32> = shared_programme(sr, 3.0)
                .iter()
                .enumerate()
                .map(|(n, v)| {
                    let t = n as f32 / sr as f32;
                    let w = 2.0 * std::f32::consts::PI * t;
                    0.3 * (220.0 * w).sin() + 0.2 * (330.0 * w).sin() + 0.003 * v
                })
                .collect();
            let peak = l.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let mut r: Vec<f32> = l.iter().map(|v| 0.8 * v).collect();
            let mut l = l;
            let at = |s: f64| (s * sr) as usize;
            // Left only, quiet (the side signal's); right only, loud; both, unequal; a
            // 2-sample one on the left.
            l[at(0.5)] += 0.02 * peak;
            r[at(1.0)] -= 0.6 * peak;
            l[at(1.5)] += 0.5 * peak;
            r[at(1.5)] += 0.2 * peak;
            l[at(2.0)] -= 0.3 * peak;
            l[at(2.0) + 1] -= 0.3 * peak;
            let events = |block: usize| {
                let mut q = QcDetector::new(sr, 2, 64);
                let mut pos = 0;
                while pos < l.len() {
                    let end = (pos + block).min(l.len());
                    q.process(&[&l[pos..end], &r[pos..end]]);
                    pos = end;
                }
                q.finish();
                q.events().to_vec()
            };
            let whole = events(l.len());
            assert!(
                whole.iter().filter(|e| e.kind == QcKind::Click).count() >= 4,
                "{sr} Hz: {whole:?}"
            );
            for block in [1, 37, 100, 255, 256, 1000, 4096] {
                assert_eq!(events(block), whole, "{sr} Hz, blocks of {block}");
            }
        }
    }

    #[test]
    fn finds_a_click_but_not_a_drum_like_transient() {
        let sr = 44_100.0;
        let mut x = tone(sr, 2.0, 0.2);
        // A recording's noise floor (−60 dBFS): no real programme is a perfectly predictable
        // tone, and the detector measures against what the predictor cannot follow.
        add_noise_floor(&mut x, 1, 0.001);
        x[44_100] += 0.6; // a one-sample spike
        // A decaying 80 Hz burst with a 2 ms attack is music, not a click.
        for n in 0..8820 {
            let t = n as f32 / sr as f32;
            let attack = if t < 0.002 {
                0.5 - 0.5 * (std::f32::consts::PI * t / 0.002).cos()
            } else {
                1.0
            };
            x[60_000 + n] +=
                0.7 * attack * (2.0 * std::f32::consts::PI * 80.0 * t).sin() * (-t * 30.0).exp();
        }
        let q = run(sr, &[x]);
        let clicks = clicks_of(&q);
        assert_eq!(clicks.len(), 1, "{:?}", q.events());
        // At the sample itself, not where the matched filter first crossed the bar.
        assert!(near(clicks[0], sr, 44_100, 1.0), "{:?}", clicks[0]);
    }

    /// A step shorter than the detector's ±2 ms window used to be measured against a level
    /// raised by its own far edge, and was never found (0 of 148 on four QC tracks).
    #[test]
    fn finds_steps_shorter_than_the_window() {
        let sr = 44_100.0;
        let mut x = tone(sr, 3.0, 0.2);
        // A noise floor of −40 dB under the tone, so the residual is not a perfect zero.
        add_noise_floor(&mut x, 3, 0.002);
        // 1.1, 1.4 and 1.8 ms steps, 12 dB under the tone's peak.
        let steps = [(30_000, 49), (60_000, 62), (90_000, 79)];
        for &(at, len) in &steps {
            for v in &mut x[at..at + len] {
                *v += 0.05;
            }
        }
        let q = run(sr, &[x]);
        let clicks = clicks_of(&q);
        for &(at, len) in &steps {
            assert!(
                clicks.iter().any(|c| c.start_s * sr >= at as f64 - 2.0
                    && c.start_s * sr <= (at + len) as f64 + 2.0),
                "the step at {at} ({len} samples) not found: {clicks:?}"
            );
        }
        assert_eq!(clicks.len(), steps.len(), "{clicks:?}");
    }

    /// A mono programme on two channels: a click on both is one finding for both channels
    /// (`channel` null), a click on one is that channel's.
    #[test]
    fn a_click_on_both_channels_is_one_finding() {
        let sr = 44_100.0;
        let mut x = tone(sr, 3.0, 0.2);
        add_noise_floor(&mut x, 9, 0.002);
        let mut y = x.clone();
        x[40_000] += 0.05;
        y[40_000] += 0.05;
        y[90_000] += 0.05;
        let q = run(sr, &[x, y]);
        let clicks = clicks_of(&q);
        assert_eq!(clicks.len(), 2, "{clicks:?}");
        assert!(
            near(clicks[0], sr, 40_000, 1.0) && clicks[0].channel.is_none(),
            "{clicks:?}"
        );
        assert!(
            near(clicks[1], sr, 90_000, 1.0) && clicks[1].channel == Some(1),
            "{clicks:?}"
        );
    }

    /// Clicks on both channels of a stereo programme whose channels differ, at every place in
    /// the detectors' 256-sample chunks: each one finding for both channels.
    #[test]
    fn clicks_on_both_channels_anywhere_in_a_chunk_are_one_finding() {
        let sr = 44_100.0;
        let n = (sr * 8.0) as usize;
        let mut l: Vec<f32> = (0..n)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 220.0 * i as f32 / sr as f32).sin())
            .collect();
        let mut r: Vec<f32> = (0..n)
            .map(|i| {
                0.25 * (2.0 * std::f32::consts::PI * 330.0 * i as f32 / sr as f32).sin()
                    + 0.1 * (2.0 * std::f32::consts::PI * 220.0 * i as f32 / sr as f32).sin()
            })
            .collect();
        add_noise_floor(&mut l, 11, 0.002);
        add_noise_floor(&mut r, 12, 0.002);
        let at: Vec<usize> = (0..40)
            .map(|i| 12_000 + i * 8_000 + (i * 41) % 256)
            .collect();
        for (i, &p) in at.iter().enumerate() {
            // Unequal, 20 dB apart: the two detectors decide up to the guard apart, in
            // different chunks for some.
            let c = if i % 2 == 0 { 0.4 } else { -0.35 };
            l[p] += c;
            r[p] += 0.1 * c;
        }
        let q = run(sr, &[l, r]);
        let clicks = clicks_of(&q);
        for &p in &at {
            let here: Vec<_> = clicks.iter().filter(|c| near(c, sr, p, 2.0)).collect();
            assert!(
                here.len() == 1 && here[0].channel.is_none(),
                "the click at {p} ({} in its chunk): {here:?}",
                p % 256
            );
        }
        assert_eq!(clicks.len(), at.len(), "{clicks:?}");
    }

    /// Clicks in the last samples of the detector's 256-sample chunks, where the predictor
    /// is refitted between a click's residual and its matched-filter output: found like any.
    #[test]
    fn clicks_at_the_end_of_a_chunk_are_found() {
        let sr = 44_100.0;
        let mut x: Vec<f32> = (0..(sr * 6.0) as usize)
            .map(|i| {
                let t = i as f32 / sr as f32;
                0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.2 * (2.0 * std::f32::consts::PI * 1_250.0 * t).sin()
            })
            .collect();
        add_noise_floor(&mut x, 13, 0.002);
        let at: Vec<usize> = (0..24).map(|i| 256 * (40 + 40 * i) + 232 + i).collect();
        for (i, &p) in at.iter().enumerate() {
            x[p] += if i % 2 == 0 { 0.08 } else { -0.08 };
        }
        let q = run(sr, &[x]);
        let clicks = clicks_of(&q);
        let missed: Vec<usize> = at
            .iter()
            .copied()
            .filter(|&p| !clicks.iter().any(|c| near(c, sr, p, 1.0)))
            .collect();
        assert!(missed.is_empty(), "missed {missed:?}: {clicks:?}");
        assert_eq!(clicks.len(), at.len(), "{clicks:?}");
    }

    /// A short burst of a tone the predictor does not expect (a resonance, a synth's onset)
    /// stands out of the residual as far as a click does, but as a broad hump, not the shape a
    /// pulse or a step's edge leaves: not a click. The clicks beside the bursts still are.
    #[test]
    fn bursts_shaped_unlike_a_pulse_are_not_clicks() {
        let sr = 44_100.0;
        let mut x = tone(sr, 4.0, 0.2);
        add_noise_floor(&mut x, 5, 0.002);
        // 60-sample Hann-windowed 6 kHz bursts, 12 dB under the tone.
        let bursts = [30_000usize, 70_000, 110_000, 150_000];
        for &at in &bursts {
            for i in 0..60 {
                let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / 60.0).cos();
                let s = (2.0 * std::f32::consts::PI * 6_000.0 * i as f32 / sr as f32).sin();
                x[at + i] += 0.05 * w * s;
            }
        }
        only_these_clicks(sr, x, &[50_000, 90_000, 130_000], 0.05, "bursts");
    }

    /// Notes starting with a sharp corner (the waveform jumps from its course into a loud new
    /// tone, as synth and sampler notes do) stand out of the residual like a click's first
    /// samples, but not like all of a pulse or a step: not clicks. Clicks beside them still
    /// are.
    #[test]
    fn sharp_note_onsets_are_not_clicks() {
        let sr = 44_100.0;
        let mut x = tone(sr, 6.0, 0.05);
        add_noise_floor(&mut x, 21, 0.001);
        let onsets = [20_000usize, 60_000, 100_000, 140_000, 180_000, 220_000];
        for (j, &at) in onsets.iter().enumerate() {
            let f = 150.0 + 40.0 * j as f32;
            // Decayed to −140 dB at its end: no step there.
            for i in 0..36_000 {
                let t = i as f32 / sr as f32;
                x[at + i] += 0.4 * (-t / 0.08).exp() * (2.0 * std::f32::consts::PI * f * t).sin();
            }
        }
        only_these_clicks(sr, x, &[40_000, 120_000, 200_000], 0.03, "onsets");
    }

    #[test]
    fn absurd_input_leaves_the_click_detector_working() {
        let sr = 44_100.0;
        let mut x = tone(sr, 3.0, 0.2);
        add_noise_floor(&mut x, 7, 0.001);
        for (i, v) in [1e20f32, -3e38, f32::NAN, 1e19, f32::INFINITY]
            .iter()
            .enumerate()
        {
            x[20_000 + i] = *v;
        }
        x[100_000] += 0.5;
        let q = run(sr, &[x]);
        assert!(
            q.events().iter().all(|e| e.value.is_finite()),
            "{:?}",
            q.events()
        );
        assert!(
            q.events()
                .iter()
                .any(|e| e.kind == QcKind::Click && near(e, sr, 100_000, 1.0)),
            "the click after the garbage was not found: {:?}",
            q.events()
        );
    }

    #[test]
    fn finds_dc_and_silences() {
        let sr = 48_000.0;
        let mut x = vec![0.0f32; 24_000];
        x.extend(tone(sr, 1.0, 0.3).iter().map(|s| s + 0.01));
        x.extend(vec![0.0f32; 48_000]);
        let q = run(sr, &[x]);
        let k = kinds(&q);
        assert!(k.contains(&QcKind::DcOffset), "{k:?}");
        let head = q
            .events()
            .iter()
            .find(|e| e.kind == QcKind::HeadSilence)
            .unwrap();
        assert!((head.duration_s - 0.5).abs() < 1e-3, "{head:?}");
        let tail = q
            .events()
            .iter()
            .find(|e| e.kind == QcKind::TailSilence)
            .unwrap();
        assert!((tail.duration_s - 1.0).abs() < 1e-3, "{tail:?}");
    }

    #[test]
    fn event_list_never_grows_past_its_capacity() {
        let sr = 8_000.0;
        let mut x = vec![0.1f32; 80_000];
        for k in 0..500 {
            for s in &mut x[k * 150..k * 150 + 4] {
                *s = 1.0;
            }
        }
        let mut q = QcDetector::new(sr, 1, 16);
        let cap = q.events.capacity();
        q.process(&[x]);
        q.finish();
        assert_eq!(q.events().len(), cap);
        assert!(q.dropped() > 400);
        assert_eq!(q.events.capacity(), cap);
    }

    #[test]
    fn a_ring_keeps_the_latest_findings_in_a_long_session() {
        let mut q = QcDetector::new(48_000.0, 1, 16);
        q.set_ring(true);
        let cap = q.events.capacity();
        let ev = |i: u64| QcEvent {
            kind: QcKind::Click,
            channel: Some(0),
            start_s: i as f64,
            duration_s: 0.0,
            value: 0.0,
        };
        for i in 0..1000 {
            q.push(ev(i));
        }
        assert_eq!(q.total(), 1000);
        assert_eq!(q.events.capacity(), cap);
        assert_eq!(q.dropped(), 1000 - cap as u64);
        assert!(q.event(1000 - cap as u64 - 1).is_none());
        for seq in 1000 - cap as u64..1000 {
            assert_eq!(q.event(seq).map(|e| e.start_s), Some(seq as f64));
        }
        // Extending a stretch finds the latest event of its kind in the ring.
        q.push_or_extend(
            QcEvent {
                duration_s: 0.5,
                ..ev(999)
            },
            0.0,
        );
        assert_eq!(q.total(), 1000);
        assert_eq!(q.event(999).map(|e| e.duration_s), Some(0.5));
    }

    #[test]
    fn extends_continuous_stretches() {
        let mut q = QcDetector::new(48_000.0, 1, 8);
        for i in 0..5 {
            q.push_or_extend(
                QcEvent {
                    kind: QcKind::TruePeakOver,
                    channel: None,
                    start_s: 1.0 + 0.01 * f64::from(i),
                    duration_s: 0.01,
                    value: f64::from(i),
                },
                0.0,
            );
        }
        assert_eq!(q.events().len(), 1);
        assert!((q.events()[0].duration_s - 0.05).abs() < 1e-9);
        assert_eq!(q.events()[0].value, 4.0);
    }
}

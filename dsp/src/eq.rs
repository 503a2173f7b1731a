//! The mastering EQ: low cut, low shelf, three bells, high shelf and high cut, each on both
//! channels, the mid or the side, in minimum phase (default, zero latency) or linear phase.
//!
//! Stereo signals are processed as mid = (L + R) / 2 and side = (L − R) / 2; a stereo band acts
//! on both, a mid or side band on one. Minimum phase: each band's magnitude-matched biquads
//! (see [`design`]) and one 32-tap minimum-phase correction FIR per path, so the response
//! follows the analog prototypes without cramping near Nyquist. Linear phase: the same analog
//! curves as a linear-phase kernel applied by FFT convolution (see `linear.rs`), with a latency
//! of [`latency_for`]. In minimum phase, parameter changes glide (15 ms) and the coefficients
//! are redesigned every 64 samples while they do; an EQ that is off or flat is skipped and
//! bit-transparent.

pub mod design;
mod linear;

use design::{CORRECTION_TAPS, CorrectionDesigner, MAX_SECTIONS_PER_BAND, Section};

/// What a band does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// Butterworth high-pass (−3 dB at the frequency).
    LowCut,
    /// Low shelf (half the gain at the frequency).
    LowShelf,
    /// Peaking bell.
    Bell,
    /// High shelf (half the gain at the frequency).
    HighShelf,
    /// Butterworth low-pass (−3 dB at the frequency).
    HighCut,
}

/// Which part of a stereo signal a band acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Both channels (mid and side alike).
    Stereo,
    /// The mid (L + R) / 2 only.
    Mid,
    /// The side (L − R) / 2 only.
    Side,
}

/// Steepness of a cut band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slope {
    /// 12 dB/octave (2nd-order Butterworth).
    Db12,
    /// 24 dB/octave (4th order).
    Db24,
    /// 48 dB/octave (8th order).
    Db48,
}

impl Slope {
    /// Filter order.
    pub fn order(self) -> usize {
        match self {
            Slope::Db12 => 2,
            Slope::Db24 => 4,
            Slope::Db48 => 8,
        }
    }
}

/// One band's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// What the band does.
    pub kind: BandKind,
    /// Whether it acts at all.
    pub enabled: bool,
    /// Centre, corner or half-gain frequency, in Hz.
    pub freq_hz: f32,
    /// Gain of bells and shelves, in dB (ignored by cuts).
    pub gain_db: f32,
    /// Quality: bandwidth of bells, resonance of shelves (0.707 = no overshoot); ignored by cuts.
    pub q: f32,
    /// Steepness of cuts (ignored by bells and shelves).
    pub slope: Slope,
    /// Stereo, mid or side.
    pub placement: Placement,
}

/// Number of bands.
pub const BANDS: usize = 7;

/// The default bands: cuts off at 30 Hz and 18 kHz, shelves at 100 Hz and 8 kHz, bells at
/// 250 Hz, 1 kHz and 4 kHz, all flat.
pub fn default_bands() -> [Band; BANDS] {
    let band = |kind, freq_hz, q, enabled| Band {
        kind,
        enabled,
        freq_hz,
        gain_db: 0.0,
        q,
        slope: Slope::Db24,
        placement: Placement::Stereo,
    };
    [
        band(BandKind::LowCut, 30.0, 0.707, false),
        band(BandKind::LowShelf, 100.0, 0.707, true),
        band(BandKind::Bell, 250.0, 1.0, true),
        band(BandKind::Bell, 1_000.0, 1.0, true),
        band(BandKind::Bell, 4_000.0, 1.0, true),
        band(BandKind::HighShelf, 8_000.0, 0.707, true),
        band(BandKind::HighCut, 18_000.0, 0.707, false),
    ]
}

/// Minimum or linear phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Magnitude-matched IIR + short minimum-phase correction; no latency.
    Minimum,
    /// FFT convolution with a linear-phase kernel; latency [`latency_for`].
    Linear,
}

/// Whether a band acts on path `path` (0 = mid or mono, 1 = side).
fn on_path(band: &Band, path: usize) -> bool {
    match band.placement {
        Placement::Stereo => true,
        Placement::Mid => path == 0,
        Placement::Side => path == 1,
    }
}

/// The analog (target) squared magnitude of path `path` (0 = mid or mono, 1 = side) at `hz`.
pub fn path_magnitude_sq(bands: &[Band], path: usize, hz: f64) -> f64 {
    bands
        .iter()
        .filter(|b| on_path(b, path))
        .map(|b| design::band_magnitude_sq(b, hz))
        .product()
}

/// The linear-phase kernels' magnitude: the analog curve of the path, or flat when bypassed.
fn linear_magnitude(bands: &[Band], bypass: bool, path: usize, hz: f64) -> f64 {
    if bypass {
        1.0
    } else {
        path_magnitude_sq(bands, path, hz).sqrt()
    }
}

/// The analog response of path `path` at `hz`, in dB (what the editor draws).
pub fn path_response_db(bands: &[Band], path: usize, hz: f64) -> f64 {
    10.0 * path_magnitude_sq(bands, path, hz).max(1e-30).log10()
}

/// Latency of the EQ in samples at a sample rate and phase mode.
pub fn latency_for(sample_rate_hz: f64, phase: Phase) -> u32 {
    match phase {
        Phase::Minimum => 0,
        Phase::Linear => linear::latency_for(sample_rate_hz),
    }
}

const MAX_SECTIONS: usize = BANDS * MAX_SECTIONS_PER_BAND;
/// Sub-block length: the glide's redesign interval and the mid/side scratch size.
const SUB: usize = 64;
/// Glide time constant for band changes in minimum phase, in ms.
const GLIDE_MS: f64 = 15.0;

/// One minimum-phase signal path: biquads then the correction FIR.
#[derive(Clone)]
struct MinPath {
    sections: [Section; MAX_SECTIONS],
    /// Transposed-direct-form-II state of each section.
    state: [[f64; 2]; MAX_SECTIONS],
    count: usize,
    /// Which sections each band has: (first, how many), in band order.
    spans: [(usize, usize); BANDS],
    correction: [f64; CORRECTION_TAPS],
    correct: bool,
    /// Input history of the FIR, written twice (at `pos` and `pos + TAPS`) so that
    /// `history[pos..pos + TAPS]` is always the last TAPS inputs, newest first.
    history: [f64; 2 * CORRECTION_TAPS],
    pos: usize,
}

impl MinPath {
    fn new() -> Self {
        Self {
            sections: [Section::IDENTITY; MAX_SECTIONS],
            state: [[0.0; 2]; MAX_SECTIONS],
            count: 0,
            spans: [(0, 0); BANDS],
            correction: [0.0; CORRECTION_TAPS],
            correct: false,
            history: [0.0; 2 * CORRECTION_TAPS],
            pos: 0,
        }
    }

    fn active(&self) -> bool {
        self.count > 0 || self.correct
    }

    fn reset(&mut self) {
        self.state = [[0.0; 2]; MAX_SECTIONS];
        self.history = [0.0; 2 * CORRECTION_TAPS];
    }

    fn process(&mut self, samples: &mut [f64]) {
        for x in samples.iter_mut() {
            let mut v = *x;
            for (s, z) in self.sections[..self.count]
                .iter()
                .zip(&mut self.state[..self.count])
            {
                let y = s.b[0] * v + z[0];
                z[0] = s.b[1] * v - s.a[0] * y + z[1];
                z[1] = s.b[2] * v - s.a[1] * y;
                v = y;
            }
            if self.correct {
                self.pos = if self.pos == 0 {
                    CORRECTION_TAPS - 1
                } else {
                    self.pos - 1
                };
                self.history[self.pos] = v;
                self.history[self.pos + CORRECTION_TAPS] = v;
                let h = &self.history[self.pos..self.pos + CORRECTION_TAPS];
                // Four independent sums so the compiler can vectorise the dot product.
                let mut acc = [0.0f64; 4];
                for (x, c) in h.chunks_exact(4).zip(self.correction.chunks_exact(4)) {
                    for k in 0..4 {
                        acc[k] += x[k] * c[k];
                    }
                }
                v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
            }
            *x = v;
        }
        if !self.state[..self.count]
            .iter()
            .flatten()
            .all(|z| z.is_finite())
            || !self.history.iter().all(|h| h.is_finite())
        {
            self.reset();
            samples.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// The EQ processor.
pub struct Eq {
    sample_rate_hz: f64,
    /// Settings asked for.
    target: [Band; BANDS],
    /// Settings the minimum-phase filters are designed from (gliding towards `target`).
    current: [Band; BANDS],
    phase: Phase,
    bypass: bool,
    min: [MinPath; 2],
    designer: CorrectionDesigner,
    linear: linear::Linear,
    /// The bands (and bypass) the linear-phase kernels are designed from: `target`, copied
    /// whenever no design is running, so one design never mixes two settings.
    linear_bands: [Band; BANDS],
    linear_bypass: bool,
    /// Minimum-phase coefficients must be rebuilt from `current`.
    min_dirty: bool,
    glide: f32,
    /// Position within the current glide sub-block.
    sub_pos: usize,
    scratch: [[f64; SUB]; 2],
    /// When a band switches (placement, slope, a cut on or off), the paths as they were keep
    /// running for [`SWITCH_XFADE`] samples and the output crossfades from them to the new
    /// ones, so a switch never steps.
    min_old: [MinPath; 2],
    old_scratch: [[f64; SUB]; 2],
    xfade_left: usize,
}

/// Crossfade of a band switch (samples; a whole number of glide sub-blocks: 1024, 21 ms at
/// 48 kHz).
const SWITCH_XFADE: usize = 16 * SUB;

impl Eq {
    /// Default bands, minimum phase, on. Allocates (FFT plans, linear-phase buffers).
    pub fn new(sample_rate_hz: f64) -> Self {
        let sample_rate_hz = crate::clamp_sample_rate(sample_rate_hz);
        let bands = default_bands();
        Self {
            sample_rate_hz,
            target: bands,
            current: bands,
            phase: Phase::Minimum,
            bypass: false,
            min: [MinPath::new(), MinPath::new()],
            designer: CorrectionDesigner::new(),
            linear: linear::Linear::new(sample_rate_hz),
            linear_bands: bands,
            linear_bypass: false,
            min_dirty: true,
            glide: (1.0 - (-(SUB as f64) / (GLIDE_MS * 1e-3 * sample_rate_hz)).exp()) as f32,
            sub_pos: 0,
            scratch: [[0.0; SUB]; 2],
            min_old: [MinPath::new(), MinPath::new()],
            old_scratch: [[0.0; SUB]; 2],
            xfade_left: 0,
        }
    }

    /// Sets every band. Changes glide in minimum phase and fade in at the next frame in linear
    /// phase. Out-of-range values are clamped (20 Hz … 0.49 fs, ±30 dB, Q 0.1 … 40).
    pub fn set_bands(&mut self, bands: &[Band; BANDS]) {
        let nyquist_limit = (0.49 * self.sample_rate_hz) as f32;
        let mut clean = *bands;
        for b in &mut clean {
            b.freq_hz = finite_or(b.freq_hz, 1_000.0).clamp(10.0, nyquist_limit.max(10.0));
            b.gain_db = finite_or(b.gain_db, 0.0).clamp(-30.0, 30.0);
            b.q = finite_or(b.q, 0.707).clamp(0.1, 40.0);
        }
        if clean != self.target {
            self.target = clean;
            self.min_dirty = true;
            self.linear.request_redesign();
        }
    }

    /// Minimum or linear phase. Changing it changes the latency and clears the signal state.
    pub fn set_phase(&mut self, phase: Phase) {
        if phase != self.phase {
            self.phase = phase;
            self.reset();
            self.current = self.target;
            self.min_dirty = true;
        }
    }

    /// Bypass: minimum phase passes the input untouched; linear phase fades to a pure delay of
    /// the same latency, so toggling never shifts the audio.
    pub fn set_bypass(&mut self, bypass: bool) {
        if bypass != self.bypass {
            self.bypass = bypass;
            self.linear.request_redesign();
            if bypass {
                for p in &mut self.min {
                    p.reset();
                }
                self.xfade_left = 0;
            }
        }
    }

    /// Latency in samples of the current mode.
    pub fn latency_samples(&self) -> u32 {
        match self.phase {
            Phase::Minimum => 0,
            Phase::Linear => self.linear.latency_samples(),
        }
    }

    /// Clears the signal state and lands any glide on the settings (settings stay).
    pub fn reset(&mut self) {
        if self.current != self.target {
            self.current = self.target;
            self.min_dirty = true;
            self.linear.request_redesign();
        }
        for p in &mut self.min {
            p.reset();
        }
        if self.phase == Phase::Linear {
            // (Switching to linear phase resets, so a minimum-phase EQ need not design.)
            self.linear_bands = self.target;
            self.linear_bypass = self.bypass;
            let (bands, bypass) = (self.linear_bands, self.linear_bypass);
            self.linear
                .reset(move |path, hz| linear_magnitude(&bands, bypass, path, hz));
        }
        self.sub_pos = 0;
        self.xfade_left = 0;
    }

    /// Processes one or two channels in place (any length).
    pub fn process<S: AsMut<[f32]>>(&mut self, channels: &mut [S]) {
        let stereo = channels.len() >= 2;
        let len = channels.first_mut().map_or(0, |c| c.as_mut().len());
        let mut start = 0;
        while start < len {
            // Sub-blocks end on multiples of SUB samples of the stream, whatever the host's
            // block size, so the glide (one step per sub-block) is block-size invariant.
            let n = (SUB - self.sub_pos).min(len - start);
            let step = self.sub_pos == 0;
            self.sub_pos = (self.sub_pos + n) % SUB;
            match self.phase {
                Phase::Minimum => {
                    if self.bypass {
                        // Keep the sub-block grid in step with the stream for when it comes back.
                        self.sub_pos = (self.sub_pos + (len - start - n)) % SUB;
                        return;
                    }
                    if step {
                        self.step_glide();
                    }
                    if self.xfade_left == 0
                        && !(self.min[0].active() || stereo && self.min[1].active())
                    {
                        start += n;
                        continue;
                    }
                }
                Phase::Linear => {}
            }
            self.split_paths(channels, start, n, stereo);
            let [mid, side] = &mut self.scratch;
            match self.phase {
                Phase::Minimum => {
                    let paths = if stereo { 2 } else { 1 };
                    if self.xfade_left > 0 {
                        self.old_scratch = [*mid, *side];
                        for p in 0..paths {
                            if self.min_old[p].active() {
                                self.min_old[p].process(&mut self.old_scratch[p][..n]);
                            }
                        }
                    }
                    self.min[0].process(&mut mid[..n]);
                    if stereo {
                        self.min[1].process(&mut side[..n]);
                    }
                    if self.xfade_left > 0 {
                        let done = SWITCH_XFADE - self.xfade_left;
                        for (p, new) in [&mut *mid, &mut *side].into_iter().take(paths).enumerate()
                        {
                            for (i, (y, old)) in
                                new[..n].iter_mut().zip(&self.old_scratch[p]).enumerate()
                            {
                                let g = ((done + i + 1) as f64 / SWITCH_XFADE as f64).min(1.0);
                                *y = old + (*y - old) * g;
                            }
                        }
                        self.xfade_left = self.xfade_left.saturating_sub(n);
                    }
                }
                Phase::Linear => {
                    if !self.linear.designing() {
                        self.linear_bands = self.target;
                        self.linear_bypass = self.bypass;
                    }
                    let (bands, bypass) = (self.linear_bands, self.linear_bypass);
                    let magnitude =
                        move |path: usize, hz: f64| linear_magnitude(&bands, bypass, path, hz);
                    if stereo {
                        self.linear
                            .process(&mut [&mut mid[..n], &mut side[..n]], magnitude);
                    } else {
                        self.linear.process(&mut [&mut mid[..n]], magnitude);
                    }
                }
            }
            self.join_paths(channels, start, n, stereo);
            start += n;
        }
    }

    fn split_paths<S: AsMut<[f32]>>(
        &mut self,
        channels: &mut [S],
        start: usize,
        n: usize,
        stereo: bool,
    ) {
        if stereo {
            let (l, r) = channels.split_at_mut(1);
            let (l, r) = (
                &l[0].as_mut()[start..start + n],
                &r[0].as_mut()[start..start + n],
            );
            for i in 0..n {
                let (a, b) = (f64::from(l[i]), f64::from(r[i]));
                self.scratch[0][i] = 0.5 * (a + b);
                self.scratch[1][i] = 0.5 * (a - b);
            }
        } else {
            for (s, &x) in self.scratch[0]
                .iter_mut()
                .zip(&channels[0].as_mut()[start..start + n])
            {
                *s = f64::from(x);
            }
        }
    }

    fn join_paths<S: AsMut<[f32]>>(
        &self,
        channels: &mut [S],
        start: usize,
        n: usize,
        stereo: bool,
    ) {
        if stereo {
            let (l, r) = channels.split_at_mut(1);
            let l = &mut l[0].as_mut()[start..start + n];
            let r = &mut r[0].as_mut()[start..start + n];
            for i in 0..n {
                let (m, s) = (self.scratch[0][i], self.scratch[1][i]);
                l[i] = (m + s) as f32;
                r[i] = (m - s) as f32;
            }
        } else {
            for (x, &s) in channels[0].as_mut()[start..start + n]
                .iter_mut()
                .zip(&self.scratch[0])
            {
                *x = s as f32;
            }
        }
    }

    /// Moves `current` one sub-block towards `target` and redesigns if anything moved.
    fn step_glide(&mut self) {
        if self.current != self.target {
            let mut switched = false;
            let fading = self.xfade_left > 0;
            for (c, t) in self.current.iter_mut().zip(&self.target) {
                // A second switch waits for the running crossfade to end (restarting it from
                // half-faded paths would step).
                if fading && switches(c, t) {
                    continue;
                }
                switched |= glide_band(c, t, self.glide);
            }
            if switched {
                self.min_old.clone_from(&self.min);
                self.xfade_left = SWITCH_XFADE;
            }
            self.min_dirty = true;
        }
        if self.min_dirty {
            self.min_dirty = false;
            self.design_min();
        }
    }

    fn design_min(&mut self) {
        let bands = self.current;
        for (p, path) in self.min.iter_mut().enumerate() {
            let was_active = path.active();
            let mut count = 0;
            let mut spans = [(0, 0); BANDS];
            for (span, band) in spans.iter_mut().zip(&bands) {
                let n = if on_path(band, p) {
                    design::band_sections(band, self.sample_rate_hz, &mut path.sections[count..])
                } else {
                    0
                };
                *span = (count, n);
                count += n;
            }
            // Sections keep their state across redesigns (the glide keeps steps small), each
            // band's its own even when another band appears or goes before it; a band whose
            // section count changed, and a path that had nothing to do, start from silence.
            let old_state = path.state;
            path.state = [[0.0; 2]; MAX_SECTIONS];
            if was_active {
                for (&(new_at, n), &(old_at, old_n)) in spans.iter().zip(&path.spans) {
                    if n == old_n && n > 0 {
                        path.state[new_at..new_at + n]
                            .copy_from_slice(&old_state[old_at..old_at + n]);
                    }
                }
            }
            path.spans = spans;
            path.count = count;
            path.correct = count > 0
                && self.designer.design(
                    &path.sections[..count],
                    |hz| path_magnitude_sq(&bands, p, hz),
                    self.sample_rate_hz,
                    &mut path.correction,
                );
            if !path.active() {
                path.reset();
            }
        }
    }
}

fn finite_or(v: f32, fallback: f32) -> f32 {
    if v.is_finite() { v } else { fallback }
}

/// Whether going from `current` to `target` is a switch (kind, slope, placement, a cut's
/// on/off) rather than a glide.
fn switches(current: &Band, target: &Band) -> bool {
    let cut = matches!(target.kind, BandKind::LowCut | BandKind::HighCut);
    current.kind != target.kind
        || current.slope != target.slope
        || current.placement != target.placement
        || (cut && current.enabled != target.enabled)
}

/// Whether a band changes the sound at all.
fn audible(b: &Band) -> bool {
    b.enabled && (matches!(b.kind, BandKind::LowCut | BandKind::HighCut) || b.gain_db != 0.0)
}

/// One glide step of a band: gain in dB and frequency and Q on a log scale move by `k` of the
/// remaining distance; a bell or shelf that is switched off glides to 0 dB. Switches (kind,
/// slope, placement, cuts on/off) apply at once and return `true`: the caller crossfades from
/// the filters as they were to the new ones.
fn glide_band(current: &mut Band, target: &Band, k: f32) -> bool {
    let cut = matches!(target.kind, BandKind::LowCut | BandKind::HighCut);
    if switches(current, target) {
        // Only a switch one can hear needs the crossfade (a flat band's placement does not).
        let heard = audible(current) || audible(target);
        *current = *target;
        return heard;
    }
    let effective = |b: &Band| if b.enabled { b.gain_db } else { 0.0 };
    let (from, to) = (effective(current), effective(target));
    let gain = if (to - from).abs() < 1e-3 {
        to
    } else {
        from + (to - from) * k
    };
    let silent = !cut && from.abs() < 1e-6;
    let log_step = |c: f32, t: f32| {
        if silent || (c / t - 1.0).abs() < 1e-4 {
            t
        } else {
            (c.ln() + (t.ln() - c.ln()) * k).exp()
        }
    };
    current.freq_hz = log_step(current.freq_hz, target.freq_hz);
    current.q = log_step(current.q, target.q);
    if cut {
        current.enabled = target.enabled;
    } else {
        current.enabled = target.enabled || gain.abs() > 0.0;
        current.gain_db = gain;
        if !target.enabled && gain == 0.0 {
            *current = *target;
        }
    }
    false
}

#[cfg(test)]
mod tests;

//! Click detection as restoration tools do it: a click is an outlier of short-term prediction.
//!
//! Music is locally predictable: a linear predictor fitted to the last ~23 ms (order
//! [`ORDER`], autocorrelation method, Levinson–Durbin, refitted every 256 samples of the
//! stream) leaves a residual that is small in tonal passages and noise-like in dense ones. A
//! click or a discontinuity is not predictable from what came before, so it stands out of that
//! residual; a drum hit is not predictable either, but its residual is a *burst* lasting
//! milliseconds, not a spike of a few samples. The residual is first passed through the filter
//! matched to what an impulse becomes in it (the predictor's error filter, time-reversed): that
//! gathers a click's energy, smeared over [`ORDER`] samples by the predictor, back into one
//! peak – the whitened matched filter of the restoration literature, worth 10–20 dB of
//! sensitivity on tonal music. Then each sample is compared with the mean level around it – ±[`WINDOW_S`], leaving out a guard of [`ORDER`] + 4 samples on
//! both sides (the predictor smears a click over that many samples) – and a click is a sample
//! that stands [`CLICK_RATIO_DB`] above it. A drum's burst fills the surrounding window and
//! raises the bar with it; a click in steady music does not.
//!
//! The decision about a sample waits for [`ISOLATION_S`] of audio after it; everything runs sample
//! by sample in stream order (refits at fixed stream positions), so findings do not depend on
//! how the host cuts blocks.

/// Order of the linear predictor.
pub const ORDER: usize = 16;
/// Samples the predictor is fitted on (Hann-windowed).
const FIT_LEN: usize = 1024;
/// Half-width of the window around a sample whose residual energy it is compared with (s).
pub const WINDOW_S: f64 = 0.004;
/// How far a click's residual stands above the residual around it (dB, amplitude).
pub const CLICK_RATIO_DB: f64 = 28.0;
/// Residual below this (linear, −80 dBFS) is never a click: quantisation noise and dither in
/// quiet passages have outliers too.
const MIN_RESIDUAL: f32 = 1e-4;
/// Floor of the local residual level (linear, −100 dBFS), so digital silence is not divided by.
const FLOOR: f64 = 1e-5;
/// A click must also be the only thing of its size within ±[`ISOLATION_S`]: every other
/// matched-filter peak there (guard excluded) at least [`ISOLATION_DB`] below it. Dense,
/// impulsive music (distorted guitars, hot clipped masters, drum bursts) has many outliers
/// close together; a click stands alone.
pub const ISOLATION_S: f64 = 0.01;
/// See [`ISOLATION_S`].
pub const ISOLATION_DB: f64 = 6.0;
/// After a click, the next one is looked for this much later (s): one finding per click (the
/// click also disturbs the next fits of the predictor for ~25 ms).
const HOLDOFF_S: f64 = 0.05;
/// A click below this level relative to the recent signal peak (dB) is not reported: the
/// predictor's refits leave tiny seams in the residual of very clean signals (pure tones).
const MIN_RELATIVE_DB: f32 = -50.0;
/// Time constant of that recent peak (s).
const PEAK_DECAY_S: f64 = 0.02;

/// `a ≥ b`; false when either is NaN (so a NaN never passes a gate written with it).
#[inline]
fn at_least<T: PartialOrd>(a: T, b: T) -> bool {
    a >= b
}

/// Autocorrelation of `w` at lags 0..=ORDER into `r` (f32 in eight lanes, summed in f64).
fn autocorrelation(w: &[f32; FIT_LEN], r: &mut [f64; ORDER + 1]) {
    let len = FIT_LEN;
    for (lag, rv) in r.iter_mut().enumerate() {
        // Eight lanes over exact chunks (no bounds checks in the loop: it vectorises).
        let mut acc = [0.0f32; 8];
        let n = len - lag;
        let (a, b) = (&w[..n], &w[lag..]);
        let whole = n - n % 8;
        for (ca, cb) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
            for j in 0..8 {
                acc[j] += ca[j] * cb[j];
            }
        }
        let mut s: f64 = acc.iter().map(|&v| f64::from(v)).sum();
        for (x, y) in a[whole..].iter().zip(&b[whole..n]) {
            s += f64::from(*x) * f64::from(*y);
        }
        *rv = s;
    }
}

/// One channel's click detector.
#[derive(Debug, Clone)]
pub struct ClickDetector {
    /// Predictor coefficients: x̂[n] = Σ a[k]·x[n−1−k].
    a: [f32; ORDER],
    /// The last `FIT_LEN` input samples, then room for one chunk (and SIMD padding).
    xbuf: Vec<f32>,
    /// The last `ORDER` residuals, then room for one chunk (and padding).
    rbuf: Vec<f32>,
    /// Full-scale flags of the last `ORDER` samples, then room for one chunk.
    fbuf: Vec<bool>,
    /// Matched-filter outputs (ring, power-of-two length) and whether the sample was at full
    /// scale.
    e: Vec<f32>,
    full: Vec<bool>,
    e_pos: usize,
    mask: usize,
    /// Window half-width, guard and isolation half-width (samples; the decision delay is the
    /// isolation half-width).
    window: usize,
    guard: usize,
    isolation: usize,
    /// Isolation margin (linear amplitude ratio).
    isolation_ratio: f32,
    /// Σ|matched-filter output| in the windows before and after the candidate (guard
    /// excluded): the mean absolute value is the local level (less moved by a neighbouring
    /// outlier than an RMS).
    left: f64,
    right: f64,
    /// Samples seen since reset.
    n: u64,
    /// Samples until detection is armed again.
    holdoff: u64,
    holdoff_len: u64,
    /// Hann window for the fit.
    hann: Vec<f32>,
    /// Threshold (dB, and as a linear amplitude ratio).
    threshold_db: f64,
    threshold_lin: f64,
    /// 1 + Σa²: what an impulse of size c becomes at the matched filter's peak (c·norm2).
    norm2: f32,
    /// Recent peak of |x| (decaying) and its per-sample decay.
    peak: f32,
    peak_decay: f32,
}

/// Samples per call of [`ClickDetector::process`] at most.
pub const CHUNK: usize = 256;

/// A click found: the frame it is at and how far it stands out (dB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Click {
    pub frame: u64,
    pub ratio_db: f64,
}

impl ClickDetector {
    /// A detector at `sample_rate_hz` (allocates; clamped to the supported rates).
    pub fn new(sample_rate_hz: f64) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let window = ((WINDOW_S * sr).round() as usize).max(ORDER + 12);
        let isolation = ((ISOLATION_S * sr).round() as usize).max(window);
        let ring = (2 * isolation + 2).next_power_of_two();
        let hann = (0..FIT_LEN)
            .map(|i| {
                let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / FIT_LEN as f64).cos();
                w as f32
            })
            .collect();
        Self {
            a: [0.0; ORDER],
            xbuf: vec![0.0; FIT_LEN + CHUNK + 8],
            rbuf: vec![0.0; ORDER + CHUNK + 8],
            fbuf: vec![false; ORDER + CHUNK],
            e: vec![0.0; ring],
            full: vec![false; ring],
            e_pos: 0,
            mask: ring - 1,
            window,
            guard: ORDER + 4,
            isolation,
            isolation_ratio: 10f32.powf(-(ISOLATION_DB as f32) / 20.0),
            left: 0.0,
            right: 0.0,
            n: 0,
            holdoff: 0,
            holdoff_len: (HOLDOFF_S * sr) as u64,
            hann,
            threshold_db: CLICK_RATIO_DB,
            threshold_lin: 10f64.powf(CLICK_RATIO_DB / 20.0),
            norm2: 1.0,
            peak: 0.0,
            peak_decay: (-1.0 / (PEAK_DECAY_S * sr)).exp() as f32,
        }
    }

    /// Sets how far a click must stand out (dB; default [`CLICK_RATIO_DB`]).
    pub fn set_threshold_db(&mut self, db: f64) {
        if db.is_finite() {
            self.threshold_db = db;
            self.threshold_lin = 10f64.powf(db / 20.0);
        }
    }

    /// Forgets everything. Does not allocate.
    pub fn reset(&mut self) {
        self.a = [0.0; ORDER];
        self.xbuf.fill(0.0);
        self.rbuf.fill(0.0);
        self.fbuf.fill(false);
        self.e.fill(0.0);
        self.full.fill(false);
        self.e_pos = 0;
        self.left = 0.0;
        self.right = 0.0;
        self.n = 0;
        self.holdoff = self.holdoff_len / 2;
        self.norm2 = 1.0;
        self.peak = 0.0;
    }

    /// Residual ring entry `back` samples before the newest.
    #[inline]
    fn e_back(&self, back: usize) -> f32 {
        self.e[self.e_pos.wrapping_sub(1 + back) & self.mask]
    }

    /// Feeds up to [`CHUNK`] finite samples, which must not cross a multiple of [`CHUNK`] in
    /// the stream (the predictor is refitted there), with a full-scale test; returns the click
    /// found among the decisions made (at most one: the holdoff is longer than a chunk).
    pub fn process(&mut self, x: &[f32], full_scale: impl Fn(f32) -> bool) -> Option<Click> {
        let n = x.len().min(CHUNK);
        let x = &x[..n];
        // Residuals of the chunk: one FIR with the chunk's coefficients, 8 at a time.
        self.xbuf[FIT_LEN..FIT_LEN + n].copy_from_slice(x);
        let padded = n.next_multiple_of(8);
        self.xbuf[FIT_LEN + n..FIT_LEN + padded].fill(0.0);
        let mut taps = [0.0f32; ORDER];
        for (t, &a) in taps.iter_mut().zip(self.a.iter().rev()) {
            *t = a; // oldest → newest
        }
        let mut res = [0.0f32; CHUNK + 8];
        let mut i = 0;
        while i < padded {
            let mut acc = [0.0f32; 8];
            for (k, &h) in taps.iter().enumerate() {
                let w = &self.xbuf[FIT_LEN - ORDER + i + k..FIT_LEN - ORDER + i + k + 8];
                for j in 0..8 {
                    acc[j] += h * w[j];
                }
            }
            for j in 0..8 {
                res[i + j] = self.xbuf[FIT_LEN + i + j] - acc[j];
            }
            i += 8;
        }
        // Matched filter: z[m] = e[m] − Σ a[k]·e[m+1+k], for m = each new residual − ORDER.
        self.rbuf[ORDER..ORDER + padded].copy_from_slice(&res[..padded]);
        let mut z = [0.0f32; CHUNK + 8];
        let mut i = 0;
        while i < padded {
            let mut acc = [0.0f32; 8];
            for (k, &a) in self.a.iter().enumerate() {
                let w = &self.rbuf[i + 1 + k..i + 1 + k + 8];
                for j in 0..8 {
                    acc[j] += a * w[j];
                }
            }
            for j in 0..8 {
                z[i + j] = self.rbuf[i + j] - acc[j];
            }
            i += 8;
        }
        for (f, &v) in self.fbuf[ORDER..ORDER + n].iter_mut().zip(x) {
            *f = full_scale(v);
        }
        let mut found = None;
        for (i, &v) in x.iter().enumerate() {
            self.peak = v.abs().max(self.peak * self.peak_decay);
            if let Some(c) = self.push_filtered(z[i], self.fbuf[i]) {
                found = Some(c);
            }
        }
        // Keep the histories.
        self.xbuf.copy_within(n..n + FIT_LEN, 0);
        self.rbuf.copy_within(n..n + ORDER, 0);
        self.fbuf.copy_within(n..n + ORDER, 0);
        if self.n.is_multiple_of(CHUNK as u64) {
            self.refit();
        }
        found
    }

    /// Takes one matched-filter output (and the full-scale flag of its sample); returns a click
    /// if the output `isolation` samples ago is one.
    #[inline]
    fn push_filtered(&mut self, e: f32, full_scale: bool) -> Option<Click> {
        let pos = self.e_pos & self.mask;
        self.e[pos] = e;
        self.full[pos] = full_scale;
        self.e_pos = self.e_pos.wrapping_add(1);
        self.n += 1;
        // The candidate is `d` samples back. Right window: [cand + guard, cand + window], left
        // window: [cand − window, cand − guard] (as samples back from the newest: [d − w, d − g]
        // and [d + g, d + w]); each moves by one sample.
        let (w, g, d) = (self.window, self.guard, self.isolation);
        let sq = |v: f32| f64::from(v.abs());
        self.right += sq(self.e_back(d - w)) - sq(self.e_back(d - g + 1));
        self.left += sq(self.e_back(d + g)) - sq(self.e_back(d + w + 1));
        self.left = self.left.max(0.0);
        self.right = self.right.max(0.0);
        if self.holdoff > 0 {
            self.holdoff -= 1;
            return None;
        }
        if self.n <= (2 * d + 1 + ORDER) as u64 {
            return None;
        }
        let cand = self.e_back(d);
        // Every gate is written so that NaN fails it.
        if !at_least(cand.abs(), MIN_RESIDUAL) {
            return None;
        }
        // The louder side: an onset leaves the residual up after it, a click does not.
        let count = (w - g + 1) as f64;
        let level = (self.left.max(self.right) / count).max(FLOOR);
        // Linear comparison here (this runs for every sample); decibels only for a finding.
        if !at_least(f64::from(cand.abs()), level * self.threshold_lin) {
            return None;
        }
        let ratio_db = 20.0 * (f64::from(cand.abs()) / level).log10();
        // Large enough to matter next to the signal.
        if !at_least(
            cand.abs() / self.norm2,
            self.peak * 10f32.powf(MIN_RELATIVE_DB / 20.0),
        ) {
            return None;
        }
        // Alone within ±isolation, but for one other event (the far edge of a short step or
        // dropout): count the separate stretches above the bar.
        let bar = cand.abs() * self.isolation_ratio;
        let mut others = 0;
        let mut last: Option<usize> = None;
        for b in (0..=d - g).chain(d + g..=2 * d) {
            if !at_least(bar, self.e_back(b).abs()) {
                if last.is_none_or(|l| b > l + g) {
                    others += 1;
                }
                last = Some(b);
            }
        }
        if others > 1 {
            return None;
        }
        // The edges of a clipped run are reported as the run.
        let near_clip =
            (d - g..=d + g).any(|b| self.full[self.e_pos.wrapping_sub(1 + b) & self.mask]);
        self.holdoff = self.holdoff_len;
        if near_clip {
            return None;
        }
        // A large click crosses the bar on the matched filter's first side lobe already: the
        // click is where the filter peaks, within the guard after the first crossing.
        let at = (d - g..=d)
            .max_by(|&a, &b| {
                self.e_back(a)
                    .abs()
                    .total_cmp(&self.e_back(b).abs())
                    .then(a.cmp(&b))
            })
            .unwrap_or(d);
        let peak_ratio_db = 20.0 * (f64::from(self.e_back(at).abs()) / level).log10();
        Some(Click {
            frame: self.n - 1 - at as u64 - ORDER as u64,
            ratio_db: peak_ratio_db.max(ratio_db),
        })
    }

    /// Refits the predictor on the last `FIT_LEN` samples (autocorrelation of the Hann-windowed
    /// samples, Levinson–Durbin). Keeps the old coefficients if the fit fails (silence).
    fn refit(&mut self) {
        let mut w = [0.0f32; FIT_LEN];
        for ((v, &x), &h) in w.iter_mut().zip(&self.xbuf[..FIT_LEN]).zip(&self.hann) {
            *v = x * h;
        }
        let mut r = [0.0f64; ORDER + 1];
        autocorrelation(&w, &mut r);
        if !(at_least(r[0], 1e-12) && r[0].is_finite()) {
            return;
        }
        // A little white noise (−40 dB) keeps the predictor well conditioned on pure tones.
        r[0] *= 1.0 + 1e-4;
        let mut a = [0.0f64; ORDER + 1];
        let mut err = r[0];
        for i in 1..=ORDER {
            let mut acc = r[i];
            for j in 1..i {
                acc -= a[j] * r[i - j];
            }
            let k = acc / err;
            let prev = a;
            a[i] = k;
            for j in 1..i {
                a[j] = prev[j] - k * prev[i - j];
            }
            err *= 1.0 - k * k;
            if !(err.is_finite() && err > 0.0 && k.is_finite()) {
                return;
            }
        }
        for k in 0..ORDER {
            self.a[k] = a[k + 1] as f32;
        }
        self.norm2 = 1.0 + self.a.iter().map(|a| a * a).sum::<f32>();
    }
}

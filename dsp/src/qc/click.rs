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
//! sensitivity on tonal music. Clicks of 2 and 3 samples get their own statistics (sums of 2
//! and 3 consecutive matched-filter outputs: the same filter matched to those pulses, see
//! [`WIDTHS`]). Then each statistic is compared with its mean level around the sample –
//! ±[`WINDOW_S`], leaving out a guard of [`ORDER`] + 6 samples on both sides (the predictor
//! smears a click of up to 3 samples over that many) – and a click is a sample that stands
//! [`CLICK_RATIO_DB`] above it and is alone within ±[`ISOLATION_S`] but for one other event
//! (the far edge of a short step). A drum's burst fills
//! the surrounding window and raises the bar with it; a click in steady music does not. The far
//! edge of a step of 1 ms or more is left out of the level (see [`ClickDetector::level`]).
//!
//! The decision about a sample waits for [`ISOLATION_S`] of audio after it; everything runs sample
//! by sample in stream order (refits at fixed stream positions), so findings do not depend on
//! how the host cuts blocks.

/// Order of the linear predictor.
pub const ORDER: usize = 16;
/// Samples the predictor is fitted on (Hann-windowed).
const FIT_LEN: usize = 1024;
/// Half-width of the window around a sample whose mean absolute statistic it is compared with
/// (s).
pub const WINDOW_S: f64 = 0.002;
/// How far a click's residual stands above the residual around it (dB, amplitude).
pub const CLICK_RATIO_DB: f64 = 28.0;
/// Residual below this (linear, −80 dBFS) is never a click: quantisation noise and dither in
/// quiet passages have outliers too.
const MIN_RESIDUAL: f32 = 1e-4;
/// Floor of the local residual level (linear, −100 dBFS), so digital silence is not divided by.
const FLOOR: f64 = 1e-5;
/// A click must also be the only thing of its size within ±[`ISOLATION_S`] but for one (the
/// far edge of a short step or dropout): every other peak of its statistic there (guard
/// excluded) at least [`ISOLATION_DB`] below it. Dense,
/// impulsive music (distorted guitars, hot clipped masters, drum bursts) has many outliers
/// close together; a click stands alone. 20 ms (10 ms before) also covers the period of a
/// 50 Hz waveform: a sharp-edged synth or tracker sample repeats its edge within it.
pub const ISOLATION_S: f64 = 0.02;
/// See [`ISOLATION_S`].
pub const ISOLATION_DB: f64 = 6.0;
/// After a click, the next one is looked for this much later (s): one finding per click (the
/// click also disturbs the next fits of the predictor for ~25 ms).
const HOLDOFF_S: f64 = 0.05;
/// A click below this level relative to the recent signal peak (dB) is not reported: the
/// predictor's refits leave tiny seams in the residual of very clean signals (pure tones).
const MIN_RELATIVE_DB: f32 = -50.0;
/// A step's far edge is left out of the level only for steps at least 10 dB below the recent
/// signal peak (linear; the candidate's statistic over its gain, against the peak of the last
/// ~20 ms when it is decided): a synth's or tracker's pulse waveform has edge pairs as tall as
/// the waveform, and they are music.
const MIRROR_MAX_RELATIVE: f32 = 0.316;
/// A step's far edge is left out of the level only for steps this long or longer (s): edge
/// pairs closer together are the dips and pulses of waveforms (a tracker's drum sample, 0.8 ms).
const MIN_STEP_S: f64 = 0.001;
/// How alike the two edges of a step are in the statistic (linear, both ways).
const MIRROR_RATIO: f32 = 0.708;
/// Time constant of that recent peak (s).
const PEAK_DECAY_S: f64 = 0.02;
/// A click must also be shaped like one where it peaks: at least this share of the impulse
/// statistic's energy around it is the shape a pulse of its width leaves there (see
/// [`ClickDetector::pulse_fit`]), or the shape a step's edge leaves (see
/// [`ClickDetector::step_fit`]). A pulse standing 28 dB above the level fills about 95 % of
/// it; what else stands out of the residual by 28 dB – a note's or a drum's sharp onset, a
/// burst the predictor missed (a resonance, a lossy codec's noise) – is another shape.
/// Measured on 5 hours of music no part of the detector had seen before (warzone2100-music,
/// openclonk-data, xmoto-data and four other Debian packages' game soundtracks, mostly
/// electronic): 1 733 click findings with `lathe analyze` (58 per 10 min, nearly all note
/// and drum onsets) with 0.3 and a pulse template only; 25 with 0.9 and both templates (0.83
/// per 10 min, `cargo xtask qc-heldout`). On the held-out tracks of `cargo xtask qc-heldout`:
/// 22 → 2 (52 min). The QC set loses 2 % of its ≥ −20 dB clicks and 3 % of the quieter ones (92.6 / 72.1 % → 90.7 /
/// 68.8 %); no step is lost. The 0.9 was chosen with the 5 hours' findings in view.
const MIN_SHAPE_FIT: f64 = 0.9;

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

/// Widths (samples) of the rectangular pulses the detector is matched to. A click is rarely
/// one sample, and a 2-sample pulse has almost no energy near Nyquist, where the whitened
/// residual of most music is most sensitive: a detector matched to an impulse only misses it
/// at levels where it finds a 1-sample click. The optimal statistic for a pulse of width w is
/// the sum of w consecutive impulse-matched outputs (the whitened template correlated with the
/// residual).
/// A statistic matched to one edge of a step (w = [`ORDER`]) was tried and dropped: on the
/// QC music set it found fewer steps than the impulse statistic and reported tracker music.
pub const WIDTHS: [usize; 3] = [1, 2, 3];

/// Peaks whose shape may be fitted per chunk of [`CHUNK`] samples (the fits are the costliest
/// part of examining a candidate; a passage of rejected onsets would otherwise ask for them at
/// nearly every sample). A peak over the budget is not a click.
const FITS_PER_CHUNK: u32 = 8;

/// Width of the pulse a step's edge is fitted with (samples): longer than the fit window
/// reaches past the edge plus the matched filter's span, so the pulse's far end is outside.
const STEP_WIDTH: usize = 4 * ORDER;

/// Lanes per ring position: one statistic per shape of [`WIDTHS`], padded for SIMD.
const LANES: usize = 4;
/// Guard around a candidate (samples): the predictor and the widest pulse smear a click that
/// far.
pub const GUARD: usize = ORDER + 3 + WIDTHS[WIDTHS.len() - 1];

/// One channel's click detector.
#[derive(Debug, Clone)]
pub struct ClickDetector {
    /// Predictor coefficients: x̂[n] = Σ a[k]·x[n−1−k].
    a: [f32; ORDER],
    /// The coefficients each of the last [`A_HISTORY`] chunks was filtered with (by chunk
    /// number modulo [`A_HISTORY`]): what a click's statistic was made with.
    a_hist: [[f32; ORDER]; A_HISTORY],
    /// The last `FIT_LEN` input samples, then room for one chunk (and SIMD padding).
    xbuf: Vec<f32>,
    /// The last `ORDER` residuals, then room for one chunk (and padding).
    rbuf: Vec<f32>,
    /// Full-scale flags of the last `ORDER` samples, then room for one chunk.
    fbuf: Vec<bool>,
    /// Per ring position (power-of-two length): the statistic of each shape of [`WIDTHS`]
    /// (lane 0 is the impulse-matched output itself).
    stats: Vec<[f32; LANES]>,
    /// Whether the sample at that ring position was at full scale.
    full: Vec<bool>,
    /// Ring positions written so far (the next write goes to `e_pos & mask`).
    e_pos: usize,
    mask: usize,
    /// Σ|statistic| per shape in the windows before and after the candidate (guard
    /// excluded): the mean absolute value is the local level (less moved by a neighbouring
    /// outlier than an RMS).
    left: [f64; LANES],
    right: [f64; LANES],
    /// What a pulse of height c becomes at each shape's statistic's peak (c·gain).
    gains: [f32; WIDTHS.len()],
    /// Window half-width and isolation half-width (samples; the decision delay is the
    /// isolation half-width).
    window: usize,
    isolation: usize,
    /// Isolation margin (linear amplitude ratio).
    isolation_ratio: f32,
    /// Shortest step whose far edge is left out of the level (samples, [`MIN_STEP_S`]).
    min_step: usize,
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
    /// Recent peak of |x| (decaying) and its per-sample decay.
    peak: f32,
    peak_decay: f32,
    /// The last shape fits per shape of [`WIDTHS`]: (stream sample of the peak they were
    /// computed for, pulse fit, step fit; NaN: not computed). The candidates of the next
    /// samples mostly share that peak: each fit is computed once per peak, not once per sample
    /// above the bar.
    fit_cache: [std::cell::Cell<(u64, f64, f64)>; WIDTHS.len()],
    /// Shape fits still allowed in this chunk ([`FITS_PER_CHUNK`]).
    fits_left: std::cell::Cell<u32>,
}

/// Samples per call of [`ClickDetector::process`] at most.
pub const CHUNK: usize = 256;
/// Chunks whose predictor coefficients are kept: 8192 samples (at least 31 whole chunks before
/// the current one), more than the shape fits reach back at the highest rate: the decision
/// delay ([`ISOLATION_S`]) + 3·[`ORDER`] + 4 samples, 7 732 at 384 kHz.
const A_HISTORY: usize = 32;
const _: () = assert!(
    (ISOLATION_S * crate::MAX_SAMPLE_RATE_HZ) as usize + 3 * ORDER + 4 <= (A_HISTORY - 1) * CHUNK
);

/// A click found: the frame it is at and how far it stands out (dB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Click {
    pub frame: u64,
    pub ratio_db: f64,
    /// Samples the detector had taken when it decided (the decision waits for the isolation
    /// window after the click).
    pub decided: u64,
}

impl ClickDetector {
    /// A detector at `sample_rate_hz` (allocates; clamped to the supported rates).
    pub fn new(sample_rate_hz: f64) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let window = ((WINDOW_S * sr).round() as usize).max(2 * ORDER + 12);
        let isolation = ((ISOLATION_S * sr).round() as usize).max(window);
        // Room for one more chunk: another detector may look a click up here (see
        // [`Self::relative_at`]) after this one has taken the rest of the chunk.
        let ring = (2 * isolation + 2 + CHUNK).next_power_of_two();
        let hann = (0..FIT_LEN)
            .map(|i| {
                let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / FIT_LEN as f64).cos();
                w as f32
            })
            .collect();
        let mut d = Self {
            a: [0.0; ORDER],
            a_hist: [[0.0; ORDER]; A_HISTORY],
            xbuf: vec![0.0; FIT_LEN + CHUNK + 8],
            rbuf: vec![0.0; ORDER + CHUNK + 8],
            fbuf: vec![false; ORDER + CHUNK],
            stats: vec![[0.0; LANES]; ring],
            full: vec![false; ring],
            e_pos: 0,
            mask: ring - 1,
            left: [0.0; LANES],
            right: [0.0; LANES],
            gains: [1.0; WIDTHS.len()],
            window,
            isolation,
            isolation_ratio: 10f32.powf(-(ISOLATION_DB as f32) / 20.0),
            min_step: (MIN_STEP_S * sr).round() as usize,
            n: 0,
            holdoff: 0,
            holdoff_len: (HOLDOFF_S * sr) as u64,
            hann,
            threshold_db: 0.0,
            threshold_lin: 0.0,
            peak: 0.0,
            peak_decay: (-1.0 / (PEAK_DECAY_S * sr)).exp() as f32,
            fit_cache: Default::default(),
            fits_left: std::cell::Cell::new(FITS_PER_CHUNK),
        };
        d.set_threshold_db(CLICK_RATIO_DB);
        d.update_gains();
        d
    }

    /// Sets how far a click must stand out (dB; default [`CLICK_RATIO_DB`]).
    pub fn set_threshold_db(&mut self, db: f64) {
        if db.is_finite() {
            self.threshold_db = db;
            self.threshold_lin = 10f64.powf(db / 20.0);
        }
    }

    /// Each shape's gain for the current predictor: the energy of the whitened pulse,
    /// Σₖ (Σ_{j=k−w+1..k} c[j])² with c = (1, −a₁, …, −a_ORDER) – the statistic's peak for a
    /// pulse of height 1.
    fn update_gains(&mut self) {
        let mut c = [0.0f32; ORDER + 1];
        c[0] = 1.0;
        for (ck, &a) in c[1..].iter_mut().zip(&self.a) {
            *ck = -a;
        }
        for (gain, &w) in self.gains.iter_mut().zip(&WIDTHS) {
            let mut g = 0.0;
            for k in 0..ORDER + w {
                let lo = k.saturating_sub(w - 1);
                let hi = k.min(ORDER);
                let v: f32 = if lo <= hi {
                    c[lo..=hi].iter().sum()
                } else {
                    0.0
                };
                g += v * v;
            }
            *gain = g;
        }
    }

    /// Forgets everything. Does not allocate.
    pub fn reset(&mut self) {
        self.a = [0.0; ORDER];
        self.a_hist = [[0.0; ORDER]; A_HISTORY];
        self.xbuf.fill(0.0);
        self.rbuf.fill(0.0);
        self.fbuf.fill(false);
        self.stats.fill([0.0; LANES]);
        self.full.fill(false);
        self.e_pos = 0;
        self.left = [0.0; LANES];
        self.right = [0.0; LANES];
        self.n = 0;
        self.holdoff = self.holdoff_len / 2;
        self.update_gains();
        self.peak = 0.0;
        self.fits_left.set(FITS_PER_CHUNK);
        for c in &self.fit_cache {
            c.set((u64::MAX, f64::NAN, f64::NAN));
        }
    }

    /// Feeds up to [`CHUNK`] finite samples, which must not cross a multiple of [`CHUNK`] in
    /// the stream (the predictor is refitted there), with a full-scale test (by index in `x`);
    /// returns the click found among the decisions made (at most one: the holdoff is longer
    /// than a chunk).
    pub fn process(&mut self, x: &[f32], full_scale: impl Fn(usize) -> bool) -> Option<Click> {
        let n = x.len().min(CHUNK);
        let x = &x[..n];
        self.a_hist[(self.n / CHUNK as u64) as usize % A_HISTORY] = self.a;
        self.fits_left.set(FITS_PER_CHUNK);
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
        for (i, f) in self.fbuf[ORDER..ORDER + n].iter_mut().enumerate() {
            *f = full_scale(i);
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

    /// The impulse statistic at `frame` over its mean magnitude in the windows around it
    /// (guard excluded, as for a finding), with its sign; `None` when the frame is not (or no
    /// longer) far enough inside the ring. Used to tell which channel a click found in the
    /// side signal is on.
    pub fn relative_at(&self, frame: u64) -> Option<f64> {
        let newest = self.n.checked_sub(1 + ORDER as u64)?;
        let b = usize::try_from(newest.checked_sub(frame)?).ok()?;
        let (w, g) = (self.window, GUARD);
        if b < w || b + w + 1 > self.mask {
            return None;
        }
        let sum: f64 = (b - w..=b - g)
            .chain(b + g..=b + w)
            .map(|k| f64::from(self.stat(k, 0).abs()))
            .sum();
        let level = (sum / (2 * (w - g + 1)) as f64).max(FLOOR);
        Some(f64::from(self.stat(b, 0)) / level)
    }

    /// Statistic of shape `k`, `back` samples before the newest.
    #[inline]
    fn stat(&self, back: usize, k: usize) -> f32 {
        self.stats[self.e_pos.wrapping_sub(1 + back) & self.mask][k]
    }

    /// Takes one matched-filter output (and the full-scale flag of its sample); returns a click
    /// if the output `isolation` samples ago is one (for the shape that stands out most).
    #[inline]
    fn push_filtered(&mut self, e: f32, full_scale: bool) -> Option<Click> {
        let mask = self.mask;
        let pos = self.e_pos & mask;
        // The sums of the last 1, 2 and 3 impulse statistics, newest first.
        let s2 = e + self.stats[self.e_pos.wrapping_sub(1) & mask][0];
        let s3 = s2 + self.stats[self.e_pos.wrapping_sub(2) & mask][0];
        self.stats[pos] = [e, s2, s3, 0.0];
        self.full[pos] = full_scale;
        self.e_pos = self.e_pos.wrapping_add(1);
        self.n += 1;
        // The candidate is `d` samples back. Right window: [cand + guard, cand + window], left
        // window: [cand − window, cand − guard] (as samples back from the newest: [d − w, d − g]
        // and [d + g, d + w]); each moves by one sample.
        let (w, g, d, end) = (self.window, GUARD, self.isolation, self.e_pos);
        let abs = |b: usize| self.stats[end.wrapping_sub(1 + b) & mask].map(|v| f64::from(v.abs()));
        let (r_in, r_out) = (abs(d - w), abs(d - g + 1));
        let (l_in, l_out) = (abs(d + g), abs(d + w + 1));
        // Plain comparisons, not `f64::max` (its NaN handling costs here, and the input is
        // finite): rounding must not drive a sum below zero.
        let positive = |v: f64| if v > 0.0 { v } else { 0.0 };
        for k in 0..LANES {
            self.right[k] = positive(self.right[k] + (r_in[k] - r_out[k]));
            self.left[k] = positive(self.left[k] + (l_in[k] - l_out[k]));
        }
        if self.holdoff > 0 {
            self.holdoff -= 1;
            return None;
        }
        if self.n <= (2 * d + 2 * ORDER + 1) as u64 {
            return None;
        }
        let count = (w - g + 1) as f64;
        let floor = FLOOR * count;
        let cands = self.stats[end.wrapping_sub(1 + d) & mask];
        let mut best: Option<(usize, f64)> = None;
        for (k, cand) in cands.iter().enumerate().take(WIDTHS.len()) {
            // The bar, without a division (this runs for every sample and shape): the
            // candidate over the mean level, |c|·count ≥ max(Σ, floor·count)·threshold. Every
            // gate is written so that NaN fails it.
            let cand = cand.abs();
            // The quieter side here; the cold path takes the full level (see `level`).
            let quieter = if self.left[k] < self.right[k] {
                self.left[k]
            } else {
                self.right[k]
            };
            let sum = if quieter > floor { quieter } else { floor };
            if !(at_least(cand, MIN_RESIDUAL)
                && at_least(f64::from(cand) * count, sum * self.threshold_lin))
            {
                continue;
            }
            if let Some(ratio_db) = self.candidate(k)
                && best.is_none_or(|(_, r)| ratio_db > r)
            {
                best = Some((k, ratio_db));
            }
        }
        let (k, ratio_db) = best?;
        // The edges of a clipped run are reported as the run.
        let near_clip = (d - g..=d + g).any(|b| self.full[end.wrapping_sub(1 + b) & mask]);
        self.holdoff = self.holdoff_len;
        if near_clip {
            return None;
        }
        // A large click crosses the bar on the matched filter's first side lobe already: the
        // click is where the statistic peaks, within the guard after the first crossing.
        let at = self.peak_back(k);
        let peak_ratio_db = 20.0 * (f64::from(self.stat(at, k).abs()) / self.level(k)).log10();
        // The statistic at `at` sums the impulse statistics `at` … `at + width − 1` back: the
        // click is reported where the largest of them is.
        let z = |b: usize| self.stat(b, 0).abs();
        let at = (at..at + WIDTHS[k])
            .max_by(|&a, &b| z(a).total_cmp(&z(b)).then(a.cmp(&b)))
            .unwrap_or(at);
        Some(Click {
            frame: self.n - 1 - at as u64 - ORDER as u64,
            ratio_db: peak_ratio_db.max(ratio_db),
            decided: self.n,
        })
    }

    /// Where shape `k`'s statistic peaks within the guard after the candidate (samples back).
    fn peak_back(&self, k: usize) -> usize {
        let d = self.isolation;
        (d - GUARD..=d)
            .max_by(|&a, &b| {
                self.stat(a, k)
                    .abs()
                    .total_cmp(&self.stat(b, k).abs())
                    .then(a.cmp(&b))
            })
            .unwrap_or(d)
    }

    /// The local level of shape `k`'s statistic around the candidate: the mean magnitude of
    /// the louder side (an onset leaves the residual up after it, a click does not). A side
    /// whose largest value is the candidate's mirror image – opposite sign, within 3 dB, at
    /// least [`MIN_STEP_S`] away: the other edge of a short step – is taken without the
    /// ±[`GUARD`] samples around it (or not at all when that leaves nothing, as at 32 kHz and
    /// below), when the other side holds no such mirror (edges on both sides are a pulse
    /// waveform) and the candidate's pulse height (statistic over gain) is at least 10 dB
    /// under the recent signal peak. That edge would otherwise raise the level by up to
    /// 12 dB: 1–2 ms steps, shorter than the window, were never found (0 of 148 on four QC
    /// tracks). Dropping every side's largest value instead finds them too but reports drum
    /// hits (32 findings on the clean QC set instead of 0). Each side's level is at most its
    /// plain mean, so the bar is never higher than before (findings may be added; through the
    /// holdoff a new one can hide a later one). Scans both windows only for candidates that
    /// could be steps (passed the quieter side's bar and are small enough).
    fn level(&self, k: usize) -> f64 {
        let (w, g, d) = (self.window, GUARD, self.isolation);
        let count = (w - g + 1) as f64;
        // The running sums: `right` is the side after the candidate, `left` the side before.
        let (plain_after, plain_before) = (self.right[k] / count, self.left[k] / count);
        let cand = self.stat(d, k);
        if !at_least(self.peak * MIRROR_MAX_RELATIVE, cand.abs() / self.gains[k]) {
            return plain_after.max(plain_before).max(FLOOR);
        }
        // Where a side's largest value is, and whether it mirrors the candidate.
        let top = |range: std::ops::RangeInclusive<usize>| {
            let mut at = *range.start();
            let mut top = -1.0f32;
            for b in range {
                let v = self.stat(b, k).abs();
                if v > top {
                    (at, top) = (b, v);
                }
            }
            let t = self.stat(at, k);
            let mirror = at.abs_diff(d) >= self.min_step
                && (t < 0.0) != (cand < 0.0)
                && at_least(t.abs(), MIRROR_RATIO * cand.abs())
                && at_least(cand.abs(), MIRROR_RATIO * t.abs());
            (at, mirror)
        };
        // A side's mean without the ±guard around `skip`, never above its plain mean.
        let without = |range: std::ops::RangeInclusive<usize>, skip: usize, plain: f64| {
            let (mut sum, mut n) = (0.0f64, 0usize);
            for b in range.filter(|&b| b.abs_diff(skip) > g) {
                sum += f64::from(self.stat(b, k).abs());
                n += 1;
            }
            if n == 0 {
                0.0
            } else {
                (sum / n as f64).min(plain)
            }
        };
        let (after, before) = (d - w..=d - g, d + g..=d + w);
        let (a, b) = (top(after.clone()), top(before.clone()));
        // One edge mirrored is a step; mirrors on both sides are a waveform (a pulse train).
        let after_level = if a.1 && !b.1 {
            without(after, a.0, plain_after)
        } else {
            plain_after
        };
        let before_level = if b.1 && !a.1 {
            without(before, b.0, plain_before)
        } else {
            plain_before
        };
        after_level.max(before_level).max(FLOOR)
    }

    /// How far the candidate of shape `k` stands out (dB), if it passes every gate.
    #[cold]
    fn candidate(&self, k: usize) -> Option<f64> {
        let d = self.isolation;
        let cand = self.stat(d, k).abs();
        let level = self.level(k);
        if !(level.is_finite() && at_least(f64::from(cand), level * self.threshold_lin)) {
            return None;
        }
        let ratio_db = 20.0 * (f64::from(cand) / level).log10();
        // Large enough to matter next to the signal.
        if !at_least(
            cand / self.gains[k],
            self.peak * 10f32.powf(MIN_RELATIVE_DB / 20.0),
        ) {
            return None;
        }
        // Shaped like a click (before the isolation scan: a passage of onsets turned down here
        // is not scanned at every sample; the fits are kept per peak).
        if !self.shaped_like_a_click(k) {
            return None;
        }
        // Alone within ±isolation, but for one other event (the far edge of a short step or
        // dropout): count the separate stretches above the bar.
        let bar = cand * self.isolation_ratio;
        let mut others = 0;
        let mut last: Option<usize> = None;
        for b in (0..=d - GUARD).chain(d + GUARD..=2 * d) {
            if !at_least(bar, self.stat(b, k).abs()) {
                if last.is_none_or(|l| b > l + GUARD) {
                    others += 1;
                }
                last = Some(b);
            }
        }
        if others > 1 {
            return None;
        }
        Some(ratio_db)
    }

    /// Whether candidate `k` is shaped like a pulse or like a step's edge where it peaks (NaN
    /// fails; see [`MIN_SHAPE_FIT`]). Fits are kept per peak and limited per chunk
    /// ([`FITS_PER_CHUNK`]).
    fn shaped_like_a_click(&self, k: usize) -> bool {
        let at = self.peak_back(k);
        let peak = self.n - 1 - ORDER as u64 - at as u64;
        let (cached_at, mut pulse, mut step) = self.fit_cache[k].get();
        if cached_at != peak {
            // A peak not fitted yet: within this chunk's budget, or turned down.
            let left = self.fits_left.get();
            if left == 0 {
                return false;
            }
            self.fits_left.set(left - 1);
            (pulse, step) = (f64::NAN, f64::NAN);
        }
        if pulse.is_nan() {
            pulse = self.pulse_fit(k, at);
        }
        let ok = at_least(pulse, MIN_SHAPE_FIT) || {
            if step.is_nan() {
                step = self.step_fit(at);
            }
            at_least(step, MIN_SHAPE_FIT)
        };
        self.fit_cache[k].set((peak, pulse, step));
        ok
    }

    /// How much of the impulse statistic's energy around a pulse of shape `k` at `at` (samples
    /// back) is the shape such a pulse leaves there: the squared normalised correlation (0…1)
    /// of the statistic with that shape, over the ±[`ORDER`] samples around the pulse where it
    /// is not zero. The residual is c ∗ x with c = (1, −a₁, …, −a_ORDER) and the matched filter
    /// correlates it with c again, so an impulse leaves the autocorrelation of c; the shape is
    /// computed with the coefficients each residual and each matched-filter output were made
    /// with (they change at chunk boundaries, see `a_hist`). See [`MIN_SHAPE_FIT`].
    fn pulse_fit(&self, k: usize, at: usize) -> f64 {
        const P: u64 = ORDER as u64;
        let w = WIDTHS[k] as u64;
        // Stream samples: the pulse covers `first` ..= `last` (the newest is `at` back).
        let Some(last) = self.n.checked_sub(1 + P + at as u64) else {
            return 0.0;
        };
        let Some(first) = last.checked_sub(w - 1).filter(|&f| f >= P) else {
            return 0.0;
        };
        self.shape_fit(first, w as usize, first - P, last + P)
    }

    /// Like [`Self::pulse_fit`], for a step whose edge is at `at` (samples back) or one
    /// sample either side: the best fit of a rising edge there (a pulse starting at
    /// the edge and lasting past the window) and of a falling one (a pulse ending there),
    /// over the edge and 2·[`ORDER`] samples on its side of the step, [`ORDER`] on the other.
    fn step_fit(&self, at: usize) -> f64 {
        const P: u64 = ORDER as u64;
        let Some(edge) = self.n.checked_sub(1 + P + at as u64) else {
            return 0.0;
        };
        let mut best = 0.0f64;
        for e in edge.saturating_sub(1)..=edge + 1 {
            if e < STEP_WIDTH as u64 + 2 * P || e + 2 * P + 1 > self.n - P {
                continue;
            }
            // Rising: ones from `e` on; falling: ones up to `e`.
            let rising = self.shape_fit(e, STEP_WIDTH, e - P, e + 2 * P);
            let falling = self.shape_fit(e + 1 - STEP_WIDTH as u64, STEP_WIDTH, e - 2 * P, e + P);
            best = best.max(rising).max(falling);
        }
        best
    }

    /// The squared normalised correlation (0…1) of the impulse statistic at stream samples
    /// `lo ..= hi` with what a pulse of ones on `first .. first + w` leaves there.
    fn shape_fit(&self, first: u64, w: usize, lo: u64, hi: u64) -> f64 {
        const P: usize = ORDER;
        let coefs = |sample: u64| &self.a_hist[(sample / CHUNK as u64) as usize % A_HISTORY];
        // The pulse's residual, e[first + j] for j < w + P (zero elsewhere), each made with
        // the coefficients of its own chunk.
        debug_assert!(w <= STEP_WIDTH);
        let mut e = [0.0f64; STEP_WIDTH + P];
        let len = (w + P).min(e.len());
        for (j, ej) in e.iter_mut().enumerate().take(len) {
            let n = first + j as u64;
            let a = coefs(n);
            // Σᵢ c[i]·pulse[n − i], the pulse being 1 on first ..= first + w − 1.
            let lo = j.saturating_sub(w - 1);
            *ej = (lo..=j.min(P))
                .map(|i| if i == 0 { 1.0 } else { -f64::from(a[i - 1]) })
                .sum();
        }
        let e_at = |n: i64| -> f64 {
            let j = n - first as i64;
            if (0..len as i64).contains(&j) {
                e[j as usize]
            } else {
                0.0
            }
        };
        // The matched filter's output at m, made when the residual m + P arrived:
        // z[m] = e[m] − Σ a[k]·e[m + 1 + k] with that chunk's coefficients.
        let newest = (self.n - 1 - P as u64) as i64;
        let (mut zt, mut tt, mut zz) = (0.0f64, 0.0f64, 0.0f64);
        for m in lo as i64..=hi as i64 {
            if m > newest || newest - m > self.mask as i64 {
                return 0.0;
            }
            let a = coefs((m + P as i64) as u64);
            let t = e_at(m)
                - a.iter()
                    .enumerate()
                    .map(|(k, &ak)| f64::from(ak) * e_at(m + 1 + k as i64))
                    .sum::<f64>();
            let z = f64::from(self.stat((newest - m) as usize, 0));
            zt += z * t;
            tt += t * t;
            zz += z * z;
        }
        if tt > 0.0 && zz > 0.0 {
            zt * zt / (tt * zz)
        } else {
            0.0
        }
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
        self.update_gains();
    }
}

//! The limiter's peak detector: for every input sample, the largest |value| of the band-limited
//! signal in the interval between it and the next sample, read on an 8× grid.
//!
//! Two steps instead of one 8× filter (a third of the arithmetic for the same quality):
//! 1. a long half-band filter (64 taps, Kaiser) gives the half-sample points – this is the
//!    step that needs a sharp filter, because the input may hold content right up to Nyquist;
//! 2. a short 4× filter (16 taps per phase) on the resulting 2× sequence gives the quarter
//!    points – its input occupies only half its band, so a gentle filter is exact enough.
//!
//! All filters are applied to 8 consecutive positions at once (one AVX register, or two SSE
//! ones), chosen at run time; both code paths give identical results.

use crate::true_peak::kaiser_branch;

/// Taps of the half-band filter's odd phase.
const HB_TAPS: usize = 64;
/// Taps per phase of the second (4×) step.
const Q_TAPS: usize = 16;
/// Kaiser β of both designs (≈ 80 dB stop band).
const BETA: f64 = 8.0;
/// Input samples per pass.
pub const CHUNK: usize = 256;
/// Samples from the newest input to the sample whose surrounding intervals are complete:
/// half the half-band filter (32) plus the 4× step's reach into the future (8 points of the
/// 2× sequence = 4 input samples).
pub const DELAY: usize = HB_TAPS / 2 + Q_TAPS / 4;
/// History of the 2× sequence kept between passes.
const U_HISTORY: usize = Q_TAPS - 1;

/// `out[i] = Σ_k taps[k] · input[i + k]` for `i < n` rounded up to a multiple of 8.
#[inline(always)]
fn fir8<const TAPS: usize>(taps: &[f32; TAPS], input: &[f32], out: &mut [f32], n: usize) {
    let mut i = 0;
    while i < n {
        let mut acc = [0.0f32; 8];
        for (k, &h) in taps.iter().enumerate() {
            let w = &input[i + k..i + k + 8];
            for j in 0..8 {
                acc[j] += h * w[j];
            }
        }
        out[i..i + 8].copy_from_slice(&acc);
        i += 8;
    }
}

/// The filtering of one pass (see [`Sidechain::process`]).
#[inline(always)]
fn filter_pass(
    f: &Filters,
    x: &[f32],
    u: &mut [f32],
    quarter: &mut [[f32; 2 * CHUNK + 8]; 3],
    n: usize,
) {
    let mut half = [0.0f32; CHUNK + 8];
    fir8(&f.half, x, &mut half, n);
    // The 2× sequence: each completed input sample, then the half point after it.
    for i in 0..n {
        u[U_HISTORY + 2 * i] = x[i + HB_TAPS / 2 - 1];
        u[U_HISTORY + 2 * i + 1] = half[i];
    }
    let padded = (2 * n).next_multiple_of(8);
    u[U_HISTORY + 2 * n..U_HISTORY + padded].fill(0.0);
    for (q, out) in f.quarter.iter().zip(quarter.iter_mut()) {
        fir8(q, u, out, 2 * n);
    }
}

fn filter_portable(
    f: &Filters,
    x: &[f32],
    u: &mut [f32],
    q: &mut [[f32; 2 * CHUNK + 8]; 3],
    n: usize,
) {
    filter_pass(f, x, u, q, n);
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn filter_avx2(
    f: &Filters,
    x: &[f32],
    u: &mut [f32],
    q: &mut [[f32; 2 * CHUNK + 8]; 3],
    n: usize,
) {
    filter_pass(f, x, u, q, n);
}

/// The filter designs (shared by the channels of a stage).
#[derive(Debug, Clone)]
struct Filters {
    half: [f32; HB_TAPS],
    quarter: [[f32; Q_TAPS]; 3],
}

/// Peak detector for one channel.
#[derive(Debug, Clone)]
pub struct Sidechain {
    filters: Filters,
    /// Input: `HB_TAPS − 1` older samples, then the pass's new ones, then 8 of padding.
    x: Vec<f32>,
    /// The 2× sequence: `U_HISTORY` older values, then two per new sample, then padding.
    u: Vec<f32>,
    /// Quarter points of the pass, per phase (1/4, 2/4, 3/4 of each 2× interval).
    quarter: Box<[[f32; 2 * CHUNK + 8]; 3]>,
    /// Whether the CPU has AVX2.
    avx2: bool,
}

impl Sidechain {
    /// A detector with cleared history (allocates).
    pub fn new() -> Self {
        Self {
            filters: Filters {
                half: kaiser_branch::<HB_TAPS>(2, 1, BETA),
                quarter: [1, 2, 3].map(|p| kaiser_branch::<Q_TAPS>(4, p, BETA)),
            },
            x: vec![0.0; HB_TAPS - 1 + CHUNK + 8],
            u: vec![0.0; U_HISTORY + 2 * CHUNK + 8],
            quarter: Box::new([[0.0; 2 * CHUNK + 8]; 3]),
            #[cfg(target_arch = "x86_64")]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            avx2: false,
        }
    }

    /// Clears the history.
    pub fn reset(&mut self) {
        self.x.fill(0.0);
        self.u.fill(0.0);
    }

    /// Slot for the `i`-th new input sample of the next pass.
    #[inline]
    pub fn input_mut(&mut self) -> &mut [f32] {
        &mut self.x[HB_TAPS - 1..HB_TAPS - 1 + CHUNK]
    }

    /// Filters the `n` (≤ [`CHUNK`]) new samples written through [`Self::input_mut`].
    pub fn process(&mut self, n: usize) {
        let padded = n.next_multiple_of(8);
        self.x[HB_TAPS - 1 + n..HB_TAPS - 1 + padded].fill(0.0);
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only if the CPU reported AVX2 support.
            unsafe { filter_avx2(&self.filters, &self.x, &mut self.u, &mut self.quarter, n) };
            return;
        }
        filter_portable(&self.filters, &self.x, &mut self.u, &mut self.quarter, n);
    }

    /// For the `i`-th sample of the pass: the sample [`DELAY`] before it (the one being judged).
    #[inline]
    pub fn centre(&self, i: usize) -> f32 {
        self.x[i + HB_TAPS - 1 - DELAY]
    }

    /// For the `i`-th sample of the pass: the new input sample itself.
    #[inline]
    pub fn newest(&self, i: usize) -> f32 {
        self.x[HB_TAPS - 1 + i]
    }

    /// For the `i`-th sample of the pass: the largest |value| between [`Self::centre`] and the
    /// sample after it (the half point and six quarter points).
    #[inline]
    pub fn interval_peak(&self, i: usize) -> f32 {
        // The interval after the judged sample spans 2× positions 2i + 7 … 2i + 9 of `u`
        // (judged sample, half point, next sample); the quarter filters' output j covers the
        // 2× interval starting at u[j + 7].
        let mut m = self.u[2 * i + 8].abs();
        for q in self.quarter.iter() {
            m = m.max(q[2 * i].abs()).max(q[2 * i + 1].abs());
        }
        m
    }

    /// Keeps the newest history after a pass of `n` samples.
    pub fn finish(&mut self, n: usize) {
        self.x.copy_within(n..n + HB_TAPS - 1, 0);
        self.u.copy_within(2 * n..2 * n + U_HISTORY, 0);
    }
}

impl Default for Sidechain {
    fn default() -> Self {
        Self::new()
    }
}

//! The limiter's peak detector: for every input sample, the largest |value| of the band-limited
//! signal in the interval between it and the next sample, read on an 8× grid.
//!
//! Two steps instead of one 8× filter (a third of the arithmetic for the same quality):
//! 1. a long half-band filter (128 taps, Kaiser β 6.5, pass band to ≈ 0.48·fs, applied with
//!    its symmetry: 64 multiplications) gives the half-sample points – this is the
//!    step that needs a sharp filter, because the input may hold content right up to Nyquist;
//! 2. a short 4× filter (16 taps per phase) on the resulting 2× sequence gives the quarter
//!    points – its input occupies only half its band, so a gentle filter is exact enough.
//!
//!
//! Meters are not ideal: a BS.1770 meter interpolates 4× (2× from 96 kHz) with a short filter,
//! and near Nyquist such a filter reads the band-limited waveform wrong – on dense, bright
//! programme up to 0.3–0.5 dB *above* it (measured: Lathe's own meter and libebur128 on a
//! limited pink-noise mix). A ceiling that only the ideal waveform respects is caught out by
//! the meters users check with, so the detector also reads the input the way two short meters
//! do – Lathe's own meter (16-tap Kaiser branches, exactly its taps) and a 48-tap Hann-windowed
//! sinc, the short design that libebur128-style meters use – and takes the largest reading.
//! The output is the input times a gain that is flat around every peak, so each of those
//! meters reads the output at most the ceiling.
//!
//! All filters are applied to 32 consecutive positions at once (four AVX registers or eight SSE
//! ones), the path chosen at run time; both paths do the same arithmetic per position (no
//! fused multiply-add), so they give identical results (tested). An AVX-512 path was measured
//! slower than AVX2 on the CI-class machine (≈ 480× against ≈ 550× realtime) and dropped.

use crate::true_peak::kaiser_branch;

/// Taps of the half-band filter's odd phase.
const HB_TAPS: usize = 128;
/// Kaiser β of the half-band filter (≈ 68 dB stop band: images below −68 dB move a reading by
/// under 0.004 dB; the lower β buys pass band towards Nyquist).
const HB_BETA: f64 = 6.5;
/// Taps per phase of the second (4×) step.
const Q_TAPS: usize = 16;
/// Kaiser β of the second step (≈ 80 dB stop band).
const BETA: f64 = 8.0;
/// Input samples per pass.
pub const CHUNK: usize = 256;
/// Samples from the newest input to the sample whose surrounding intervals are complete:
/// half the half-band filter (64) plus the 4× step's reach into the future (8 points of the
/// 2× sequence = 4 input samples).
pub const DELAY: usize = HB_TAPS / 2 + Q_TAPS / 4;
/// History of the 2× sequence kept between passes.
const U_HISTORY: usize = Q_TAPS - 1;

/// Output positions per block of the filter loops: four independent groups of 8, so the
/// additions of one group do not wait on each other's latency (one group of 8 made every
/// filter add-latency bound). Each output is still the same sum in the same order, so the
/// results do not depend on the grouping.
const BLOCK: usize = 32;

/// `out[i] = Σ_k taps[k] · input[i + k]` for `i < n` rounded up to a multiple of 8.
#[inline(always)]
fn fir8<const TAPS: usize>(taps: &[f32; TAPS], input: &[f32], out: &mut [f32], n: usize) {
    let mut i = 0;
    while i + BLOCK <= n {
        let mut acc = [[0.0f32; 8]; BLOCK / 8];
        for (k, &h) in taps.iter().enumerate() {
            let w = &input[i + k..i + k + BLOCK];
            for (g, a) in acc.iter_mut().enumerate() {
                for j in 0..8 {
                    a[j] += h * w[8 * g + j];
                }
            }
        }
        for (g, a) in acc.iter().enumerate() {
            out[i + 8 * g..i + 8 * g + 8].copy_from_slice(a);
        }
        i += BLOCK;
    }
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

/// Offset into the input at which a branch of `TAPS` taps reads the interval after the judged
/// sample: its two middle taps must fall on that sample and the next.
const fn short_at(taps: usize) -> usize {
    HB_TAPS - 1 - DELAY - (taps / 2 - 1)
}

/// `peak[i] = max(peak[i], max over branches |Σ_k b[k] · x[at + i + k]|)` for `i < n` rounded up
/// to a multiple of 8, [`BLOCK`] positions at a time with the maxima kept in registers.
#[inline(always)]
fn short_peaks<const TAPS: usize>(
    branches: &[[f32; TAPS]],
    x: &[f32],
    peak: &mut [f32; CHUNK + 8],
    n: usize,
) {
    let x = &x[short_at(TAPS)..];
    let mut i = 0;
    while i + BLOCK <= n {
        let mut m = [[0.0f32; 8]; BLOCK / 8];
        for (g, mg) in m.iter_mut().enumerate() {
            mg.copy_from_slice(&peak[i + 8 * g..i + 8 * g + 8]);
        }
        for b in branches {
            let mut acc = [[0.0f32; 8]; BLOCK / 8];
            for (k, &h) in b.iter().enumerate() {
                let w = &x[i + k..i + k + BLOCK];
                for (g, a) in acc.iter_mut().enumerate() {
                    for j in 0..8 {
                        a[j] += h * w[8 * g + j];
                    }
                }
            }
            for (mg, a) in m.iter_mut().zip(&acc) {
                for j in 0..8 {
                    let v = a[j].abs();
                    mg[j] = if v > mg[j] { v } else { mg[j] };
                }
            }
        }
        for (g, mg) in m.iter().enumerate() {
            peak[i + 8 * g..i + 8 * g + 8].copy_from_slice(mg);
        }
        i += BLOCK;
    }
    while i < n {
        let mut m = [0.0f32; 8];
        m.copy_from_slice(&peak[i..i + 8]);
        for b in branches {
            let mut acc = [0.0f32; 8];
            for (k, &h) in b.iter().enumerate() {
                let w = &x[i + k..i + k + 8];
                for j in 0..8 {
                    acc[j] += h * w[j];
                }
            }
            for j in 0..8 {
                let a = acc[j].abs();
                m[j] = if a > m[j] { a } else { m[j] };
            }
        }
        peak[i..i + 8].copy_from_slice(&m);
        i += 8;
    }
}

/// Largest |value| of the meter-like branches, per new sample, into `peak` (first `n`).
#[inline(always)]
fn short_pass(f: &Filters, x: &[f32], peak: &mut [f32; CHUNK + 8], n: usize) {
    peak.fill(0.0);
    short_peaks(&f.meter, x, peak, n);
    short_peaks(&f.hann12, x, peak, n);
    short_peaks(&f.hann24, x, peak, n);
}

/// [`fir8`] for a symmetric filter (`taps[k] == taps[TAPS − 1 − k]`) given by its first half:
/// mirrored samples are added before the multiplication, halving the multiplications.
#[inline(always)]
fn fir8_symmetric<const HALF: usize>(half: &[f32; HALF], input: &[f32], out: &mut [f32], n: usize) {
    let mut i = 0;
    while i + BLOCK <= n {
        let mut acc = [[0.0f32; 8]; BLOCK / 8];
        for (k, &h) in half.iter().enumerate() {
            let a = &input[i + k..i + k + BLOCK];
            let b = &input[i + 2 * HALF - 1 - k..i + 2 * HALF - 1 - k + BLOCK];
            for (g, acc) in acc.iter_mut().enumerate() {
                for j in 0..8 {
                    acc[j] += h * (a[8 * g + j] + b[8 * g + j]);
                }
            }
        }
        for (g, a) in acc.iter().enumerate() {
            out[i + 8 * g..i + 8 * g + 8].copy_from_slice(a);
        }
        i += BLOCK;
    }
    while i < n {
        let mut acc = [0.0f32; 8];
        for (k, &h) in half.iter().enumerate() {
            let a = &input[i + k..i + k + 8];
            let b = &input[i + 2 * HALF - 1 - k..i + 2 * HALF - 1 - k + 8];
            for j in 0..8 {
                acc[j] += h * (a[j] + b[j]);
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
    short: &mut [f32; CHUNK + 8],
    n: usize,
) {
    short_pass(f, x, short, n);
    let mut half = [0.0f32; CHUNK + 8];
    fir8_symmetric(&f.half, x, &mut half, n);
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
    // Per new sample, the largest |value| of the interval after the judged sample: it spans
    // 2× positions 2i + 7 … 2i + 9 of `u` (judged sample, half point, next sample); the
    // quarter filters' output j covers the 2× interval starting at u[j + 7]. Kept with the
    // meter-like readings in `short`. Plain comparisons: every value is finite (the input is
    // sanitised), and `f32::max`'s NaN handling cost more than the comparison itself.
    let larger = |a: f32, b: f32| if b > a { b } else { a };
    for (i, s) in short[..n].iter_mut().enumerate() {
        let mut m = larger(u[2 * i + 8].abs(), *s);
        for q in quarter.iter() {
            m = larger(larger(m, q[2 * i].abs()), q[2 * i + 1].abs());
        }
        *s = m;
    }
}

fn filter_portable(
    f: &Filters,
    x: &[f32],
    u: &mut [f32],
    q: &mut [[f32; 2 * CHUNK + 8]; 3],
    short: &mut [f32; CHUNK + 8],
    n: usize,
) {
    filter_pass(f, x, u, q, short, n);
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
    short: &mut [f32; CHUNK + 8],
    n: usize,
) {
    filter_pass(f, x, u, q, short, n);
}

/// Which compiled path [`Sidechain::process`] runs, chosen from the CPU at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simd {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Simd {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Portable
    }
}

/// The filter designs (shared by the channels of a stage).
#[derive(Debug, Clone)]
struct Filters {
    /// First half of the (symmetric) half-band filter's odd phase.
    half: [f32; HB_TAPS / 2],
    quarter: [[f32; Q_TAPS]; 3],
    /// Meter-like branches: Lathe's meter, the 4× Hann design below 96 kHz (12 taps), the 2×
    /// one from 96 kHz (24 taps).
    meter: Vec<[f32; 16]>,
    hann12: Vec<[f32; 12]>,
    hann24: Vec<[f32; 24]>,
}

/// The Hann-design branches at `sample_rate_hz` (see the module documentation): 4× with 12
/// taps below 96 kHz, 2× with 24 taps from there.
fn hann_branches(sample_rate_hz: f64) -> (Vec<[f32; 12]>, Vec<[f32; 24]>) {
    if crate::clamp_sample_rate(sample_rate_hz) < 96_000.0 {
        (
            (1..4).map(|p| hann_branch::<12>(4, p)).collect(),
            Vec::new(),
        )
    } else {
        (Vec::new(), vec![hann_branch::<24>(2, 1)])
    }
}

/// Phase `phase` of a `factor`× interpolator with `TAPS` taps per phase: a Hann-windowed sinc
/// centred on an input sample, taps ordered oldest → newest (as [`kaiser_branch`]). Not
/// normalised to unity DC: short meters of this design are not either, and read DC up to
/// 0.01 dB high – so does this branch.
fn hann_branch<const TAPS: usize>(factor: usize, phase: usize) -> [f32; TAPS] {
    use std::f64::consts::PI;
    let len = factor * TAPS;
    let centre = len as f64 / 2.0;
    let mut taps = [0.0f64; TAPS];
    for (k, tap) in taps.iter_mut().enumerate() {
        let n = (phase + factor * k) as f64;
        let x = (n - centre) / factor as f64;
        let sinc = if x == 0.0 {
            1.0
        } else {
            (PI * x).sin() / (PI * x)
        };
        let window = 0.5 * (1.0 + (PI * (n - centre) / centre).cos());
        *tap = sinc * window;
    }
    let mut out = [0.0f32; TAPS];
    for (o, t) in out.iter_mut().zip(taps.iter().rev()) {
        *o = *t as f32;
    }
    out
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
    /// Per new sample of the pass: the largest reading of the interval after the judged
    /// sample (8× grid and meter-like branches).
    short: Box<[f32; CHUNK + 8]>,
    /// The code path for this CPU.
    simd: Simd,
}

impl Sidechain {
    /// A detector for `sample_rate_hz` with cleared history (allocates).
    pub fn new(sample_rate_hz: f64) -> Self {
        let (hann12, hann24) = hann_branches(sample_rate_hz);
        Self {
            filters: Filters {
                half: {
                    let full = kaiser_branch::<HB_TAPS>(2, 1, HB_BETA);
                    std::array::from_fn(|k| full[k])
                },
                quarter: [1, 2, 3].map(|p| kaiser_branch::<Q_TAPS>(4, p, BETA)),
                meter: crate::true_peak::meter_branches(sample_rate_hz),
                hann12,
                hann24,
            },
            x: vec![0.0; HB_TAPS - 1 + CHUNK + 8],
            u: vec![0.0; U_HISTORY + 2 * CHUNK + 8],
            quarter: Box::new([[0.0; 2 * CHUNK + 8]; 3]),
            short: Box::new([0.0; CHUNK + 8]),
            simd: Simd::detect(),
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
        let (f, x, u, q, short) = (
            &self.filters,
            &self.x,
            &mut self.u,
            &mut self.quarter,
            &mut self.short,
        );
        match self.simd {
            Simd::Portable => filter_portable(f, x, u, q, short, n),
            // SAFETY: `Simd::detect` chose AVX2 only if the CPU reported it.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { filter_avx2(f, x, u, q, short, n) },
        }
    }

    /// For the first `n` samples of the pass: the sample [`DELAY`] before each (the one being
    /// judged).
    #[inline]
    pub fn centres(&self, n: usize) -> &[f32] {
        &self.x[HB_TAPS - 1 - DELAY..HB_TAPS - 1 - DELAY + n]
    }

    /// The first `n` new (driven, sanitised) input samples of the pass.
    #[inline]
    pub fn newest(&self, n: usize) -> &[f32] {
        &self.x[HB_TAPS - 1..HB_TAPS - 1 + n]
    }

    /// For the first `n` samples of the pass: the largest |value| between [`Self::centres`]
    /// and the sample after it (the half point and six quarter points), or the largest
    /// meter-like reading of it if that is higher.
    #[inline]
    pub fn interval_peaks(&self, n: usize) -> &[f32] {
        &self.short[..n]
    }

    /// Keeps the newest history after a pass of `n` samples.
    pub fn finish(&mut self, n: usize) {
        self.x.copy_within(n..n + HB_TAPS - 1, 0);
        self.u.copy_within(2 * n..2 * n + U_HISTORY, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compiled path the CPU can run gives the same bits as the portable one, on a
    /// stream of full and partial passes.
    #[test]
    fn simd_paths_agree_bit_for_bit() {
        let mut paths = vec![Simd::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                paths.push(Simd::Avx2);
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let input: Vec<f32> = (0..5000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        let run = |simd: Simd| {
            let mut sc = Sidechain::new(44_100.0);
            sc.simd = simd;
            let mut out = Vec::new();
            let mut at = 0;
            for n in [256, 37, 1, 200, 256, 8, 255].into_iter().cycle() {
                if at + n > input.len() {
                    break;
                }
                sc.input_mut()[..n].copy_from_slice(&input[at..at + n]);
                sc.process(n);
                out.extend(sc.interval_peaks(n).iter().map(|v| v.to_bits()));
                sc.finish(n);
                at += n;
            }
            out
        };
        let reference = run(Simd::Portable);
        assert!(reference.len() > 4000);
        for simd in paths {
            assert_eq!(run(simd), reference, "{simd:?}");
        }
    }
}

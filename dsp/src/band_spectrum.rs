//! Long-term 1/3-octave spectra of mid ((L+R)/2) and side ((L−R)/2): Welch averages (Hann,
//! 50 % overlap, ~1/3 s frames) summed into IEC 61260 bands (base 10, 25 Hz … 20 kHz), the
//! power of each fifth of every band (how the energy lies inside it), and side/mid energy in
//! four ranges. What `lathe compare`, `lathe master --match` and Lathe Master's reference
//! comparison measure. Allocates in `new`; `push` does not. Not for the audio thread (an FFT
//! of ~16k points per third of a second): the plugin feeds it from the editor's thread.

use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// 1/3-octave centres (IEC 61260, base 10: 1000 · 10^(n/10)) from 25 Hz to 20 kHz; the
/// bands' edges are the exact centres · 10^(±1/20).
pub fn band_centres() -> Vec<f64> {
    (-16..=13)
        .map(|n| 1000.0 * 10f64.powf(f64::from(n) / 10.0))
        .collect()
}

/// The same centres by their nominal names (25, 31.5, 40 … 20000), as reported.
pub const NOMINAL_HZ: [f64; 30] = [
    25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0,
    630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0, 8000.0,
    10_000.0, 12_500.0, 16_000.0, 20_000.0,
];

/// Ranges of the width-per-band figures (Hz).
pub const WIDTH_BANDS: [(&str, f64, f64); 4] = [
    ("low", 20.0, 150.0),
    ("low_mid", 150.0, 500.0),
    ("mid", 500.0, 4000.0),
    ("high", 4000.0, 20_000.0),
];

/// The result: linear power per band re a full-scale sine.
#[derive(Debug, Clone, Default)]
pub struct BandSpectra {
    pub mid: Vec<f64>,
    pub side: Vec<f64>,
    /// Side/mid energy per [`WIDTH_BANDS`] range (0 = mono).
    pub width: Vec<f64>,
    pub mid_fifths: Vec<[f64; 5]>,
    pub side_fifths: Vec<[f64; 5]>,
}

/// The streaming analyser.
pub struct BandAnalyzer {
    rate: f64,
    n: usize,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    wsum: f64,
    input: Vec<f64>,
    output: Vec<realfft::num_complex::Complex<f64>>,
    power: [Vec<f64>; 2],
    /// The last samples of mid and side, `fill` of `n` used.
    buf: [Vec<f64>; 2],
    fill: usize,
    frames: usize,
}

impl BandAnalyzer {
    pub fn new(sample_rate_hz: f64) -> Self {
        let rate = sample_rate_hz;
        let n = ((rate / 3.0) as usize).next_power_of_two().max(256);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        let window: Vec<f64> = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
            .collect();
        Self {
            rate,
            n,
            wsum: window.iter().sum(),
            window,
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            fft,
            power: [vec![0.0; n / 2 + 1], vec![0.0; n / 2 + 1]],
            buf: [vec![0.0; n], vec![0.0; n]],
            fill: 0,
            frames: 0,
        }
    }

    /// Frames analysed (FFT frames).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Seconds of audio the analysis covers.
    pub fn seconds(&self) -> f64 {
        (self.frames * self.n / 2) as f64 / self.rate
    }

    /// Starts over.
    pub fn reset(&mut self) {
        for p in &mut self.power {
            p.fill(0.0);
        }
        self.fill = 0;
        self.frames = 0;
    }

    /// Adds left and right (equal lengths; a mono signal: the same slice twice).
    pub fn push(&mut self, left: &[f32], right: &[f32]) {
        for (&l, &r) in left.iter().zip(right) {
            let (l, r) = (f64::from(l), f64::from(r));
            let (l, r) = (
                if l.is_finite() { l } else { 0.0 },
                if r.is_finite() { r } else { 0.0 },
            );
            self.buf[0][self.fill] = 0.5 * (l + r);
            self.buf[1][self.fill] = 0.5 * (l - r);
            self.fill += 1;
            if self.fill == self.n {
                self.frame();
            }
        }
    }

    fn frame(&mut self) {
        for k in 0..2 {
            for ((x, &s), &w) in self.input.iter_mut().zip(&self.buf[k]).zip(&self.window) {
                *x = s * w;
            }
            if self.fft.process(&mut self.input, &mut self.output).is_ok() {
                for (p, o) in self.power[k].iter_mut().zip(&self.output) {
                    *p += o.norm_sqr();
                }
            }
        }
        self.frames += 1;
        let hop = self.n / 2;
        for b in &mut self.buf {
            b.copy_within(hop.., 0);
        }
        self.fill -= hop;
    }

    /// The spectra so far (`None` before the first FFT frame).
    pub fn result(&self) -> Option<BandSpectra> {
        if self.frames == 0 {
            return None;
        }
        let rate = self.rate;
        // A full-scale sine gives |X| = wsum / 2 at its bin (Hann: energy over ~1.5 bins; the
        // same in every file, so differences are exact).
        let reference = (self.wsum / 2.0).powi(2) * self.frames as f64;
        let bin_hz = rate / self.n as f64;
        let sum = |p: &[f64], lo: f64, hi: f64| -> f64 {
            let a = (lo / bin_hz).ceil() as usize;
            let b = ((hi / bin_hz).ceil() as usize).min(p.len());
            if a >= b {
                // Narrower than a bin: the nearest bin, scaled to the band's width.
                let k = ((lo * hi).sqrt() / bin_hz).round() as usize;
                return p.get(k).copied().unwrap_or(0.0) * (hi - lo) / bin_hz / reference;
            }
            p[a..b].iter().sum::<f64>() / reference
        };
        let bands = |p: &[f64]| -> Vec<f64> {
            band_centres()
                .iter()
                .map(|&c| {
                    let (lo, hi) = (c / 10f64.powf(0.05), c * 10f64.powf(0.05));
                    if hi > rate / 2.0 { 0.0 } else { sum(p, lo, hi) }
                })
                .collect()
        };
        let fifths = |p: &[f64]| -> Vec<[f64; 5]> {
            band_centres()
                .iter()
                .map(|&c| {
                    std::array::from_fn(|j| {
                        let lo = c * 10f64.powf((j as f64 - 2.5) / 50.0);
                        let hi = c * 10f64.powf((j as f64 - 1.5) / 50.0);
                        if hi > rate / 2.0 { 0.0 } else { sum(p, lo, hi) }
                    })
                })
                .collect()
        };
        let width = WIDTH_BANDS
            .iter()
            .map(|&(_, lo, hi)| {
                let hi = hi.min(rate / 2.0);
                let m = sum(&self.power[0], lo, hi);
                if m > 0.0 {
                    sum(&self.power[1], lo, hi) / m
                } else {
                    0.0
                }
            })
            .collect();
        Some(BandSpectra {
            mid: bands(&self.power[0]),
            side: bands(&self.power[1]),
            width,
            mid_fifths: fifths(&self.power[0]),
            side_fifths: fifths(&self.power[1]),
        })
    }
}

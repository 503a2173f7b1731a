//! A display spectrum: Hann-windowed 4096-point FFTs of a signal (50 % overlap), reduced to
//! log-spaced bands from 20 Hz to 20 kHz in dB, with a falling smoother for a steady picture.
//! Feeds the EQ curve's background in Lathe Master's editor.

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// FFT length.
const FFT_LEN: usize = 4096;
/// Number of display bands.
pub const BANDS: usize = 96;
/// Lowest and highest band edges (Hz).
const LOW_HZ: f64 = 20.0;
const HIGH_HZ: f64 = 20_000.0;
/// Falls per FFT frame (dB) of the smoother (rises are immediate).
const FALL_DB: f32 = 3.0;
/// Floor of the display (dB).
pub const FLOOR_DB: f32 = -120.0;

/// The analyser. `new` allocates; `push` does not.
pub struct Spectrum {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    ring: Vec<f32>,
    pos: usize,
    since_frame: usize,
    frame: Vec<f32>,
    out: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// FFT bin range of each band.
    band_bins: Vec<(usize, usize)>,
    bands_db: [f32; BANDS],
}

impl Spectrum {
    /// An analyser for a sample rate.
    pub fn new(sample_rate_hz: f64) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
        let window = (0..FFT_LEN)
            .map(|i| {
                let s = (std::f32::consts::PI * i as f32 / FFT_LEN as f32).sin();
                s * s
            })
            .collect();
        let bin_hz = sample_rate_hz / FFT_LEN as f64;
        let band_bins = (0..BANDS)
            .map(|b| {
                let edge = |k: usize| LOW_HZ * (HIGH_HZ / LOW_HZ).powf(k as f64 / BANDS as f64);
                let lo = (edge(b) / bin_hz).floor() as usize;
                let hi = ((edge(b + 1) / bin_hz).ceil() as usize).max(lo + 1);
                (lo.min(FFT_LEN / 2), hi.min(FFT_LEN / 2 + 1))
            })
            .collect();
        Self {
            scratch: fft.make_scratch_vec(),
            out: fft.make_output_vec(),
            frame: fft.make_input_vec(),
            fft,
            window,
            ring: vec![0.0; FFT_LEN],
            pos: 0,
            since_frame: 0,
            band_bins,
            bands_db: [FLOOR_DB; BANDS],
        }
    }

    /// Feeds samples (mono; the caller mixes channels down).
    pub fn push(&mut self, samples: &[f32]) {
        for &x in samples {
            self.ring[self.pos] = if x.is_finite() { x } else { 0.0 };
            self.pos = (self.pos + 1) % FFT_LEN;
            self.since_frame += 1;
            if self.since_frame == FFT_LEN / 2 {
                self.since_frame = 0;
                self.analyse();
            }
        }
    }

    fn analyse(&mut self) {
        for (i, f) in self.frame.iter_mut().enumerate() {
            *f = self.ring[(self.pos + i) % FFT_LEN] * self.window[i];
        }
        if self
            .fft
            .process_with_scratch(&mut self.frame, &mut self.out, &mut self.scratch)
            .is_err()
        {
            return;
        }
        // Hann window coherent gain is 1/2: a full-scale sine reads 0 dB.
        let norm = 2.0 / (FFT_LEN as f32 / 2.0);
        for (band, &(lo, hi)) in self.bands_db.iter_mut().zip(&self.band_bins) {
            let peak = self.out[lo..hi]
                .iter()
                .map(|c| c.norm_sqr())
                .fold(0.0f32, f32::max);
            let db = (10.0 * (peak * norm * norm).max(1e-20).log10()).max(FLOOR_DB);
            *band = db.max(*band - FALL_DB);
        }
    }

    /// The bands (dB), lowest first.
    pub fn bands_db(&self) -> &[f32; BANDS] {
        &self.bands_db
    }

    /// Centre frequency of band `b` (Hz).
    pub fn band_hz(b: usize) -> f64 {
        LOW_HZ * (HIGH_HZ / LOW_HZ).powf((b as f64 + 0.5) / BANDS as f64)
    }

    /// Back to silence.
    pub fn reset(&mut self) {
        self.ring.iter_mut().for_each(|v| *v = 0.0);
        self.bands_db = [FLOOR_DB; BANDS];
        self.since_frame = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_sine_reads_zero_db_in_its_band_and_little_elsewhere() {
        let sr = 48_000.0;
        let mut s = Spectrum::new(sr);
        let f = 1_000.0;
        let x: Vec<f32> = (0..48_000)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / sr).sin() as f32)
            .collect();
        s.push(&x);
        let (peak_band, peak_db) = s
            .bands_db()
            .iter()
            .enumerate()
            .fold((0, FLOOR_DB), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
        assert!(
            (Spectrum::band_hz(peak_band) / f - 1.0).abs() < 0.05,
            "{}",
            Spectrum::band_hz(peak_band)
        );
        // Between bins the Hann window reads up to 1.42 dB low (scalloping loss).
        assert!(peak_db <= 0.01 && peak_db > -1.45, "{peak_db}");
        // Two octaves away the Hann window's leakage is far down.
        let far = (0..BANDS)
            .find(|&b| Spectrum::band_hz(b) > 4.0 * f)
            .unwrap();
        assert!(s.bands_db()[far] < -60.0, "{}", s.bands_db()[far]);
    }
}

//! High-pass filters: the 2nd-order section the stereo stage's mono bass and the input's
//! subsonic filter are built from, and the input's DC / subsonic filter itself.

/// A 2nd-order high-pass in transposed direct form II, computed in f64 (low frequencies at high
/// sample rates need the precision).
#[derive(Debug, Clone, Copy, Default)]
pub struct HighPass {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl HighPass {
    /// Bilinear-transform design (prewarped, so exact at `hz`) with quality `q`.
    pub fn design(&mut self, hz: f64, sample_rate_hz: f64, q: f64) {
        let k = (std::f64::consts::PI * hz / sample_rate_hz).tan();
        let norm = 1.0 / (1.0 + k / q + k * k);
        self.b = [norm, -2.0 * norm, norm];
        self.a = [2.0 * (k * k - 1.0) * norm, (1.0 - k / q + k * k) * norm];
    }

    /// One sample.
    #[inline]
    pub fn tick(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }

    /// Clears the state.
    pub fn reset(&mut self) {
        self.z = [0.0; 2];
    }
}

/// Qualities of the second-order sections of an order-`order` Butterworth filter (even order):
/// 1 / (2 cos θ) for the pole angles θ = (2k + 1)π / (2·order). Shared by the input low cut and
/// the EQ's cut bands.
pub fn butterworth_qs(order: usize) -> impl Iterator<Item = f64> {
    (0..order / 2).map(move |k| {
        let theta = (2 * k + 1) as f64 * std::f64::consts::PI / (2 * order) as f64;
        1.0 / (2.0 * theta.cos())
    })
}

/// Input DC / subsonic filter: a 4th-order Butterworth high-pass (−3 dB at the frequency,
/// 24 dB/octave below) per channel, or nothing at all when off (bit-transparent).
#[derive(Debug, Clone)]
pub struct LowCut {
    sample_rate_hz: f64,
    hz: Option<f32>,
    sections: [[HighPass; 2]; 2],
}

impl LowCut {
    /// Off.
    pub fn new(sample_rate_hz: f64) -> Self {
        Self {
            sample_rate_hz: crate::clamp_sample_rate(sample_rate_hz),
            hz: None,
            sections: [[HighPass::default(); 2]; 2],
        }
    }

    /// Cutoff (Hz, 5…60) or `None` for off.
    pub fn set_hz(&mut self, hz: Option<f32>) {
        let hz = hz.filter(|h| h.is_finite()).map(|h| h.clamp(5.0, 60.0));
        if hz == self.hz {
            return;
        }
        if self.hz.is_none() {
            self.reset();
        }
        self.hz = hz;
        if let Some(hz) = hz {
            for channel in &mut self.sections {
                for (section, q) in channel.iter_mut().zip(butterworth_qs(4)) {
                    section.design(f64::from(hz), self.sample_rate_hz, q);
                }
            }
        }
    }

    /// Clears the state. Does not allocate.
    pub fn reset(&mut self) {
        for channel in &mut self.sections {
            for s in channel {
                s.reset();
            }
        }
    }

    /// Filters up to 2 channels in place.
    pub fn process<S: AsMut<[f32]>>(&mut self, channels: &mut [S]) {
        if self.hz.is_none() {
            return;
        }
        for (channel, sections) in channels.iter_mut().zip(&mut self.sections) {
            for s in channel.as_mut() {
                let first = sections[0].tick(f64::from(*s));
                let y = sections[1].tick(first);
                if y.is_finite() {
                    *s = y as f32;
                } else {
                    // Non-finite input must not poison the filter forever.
                    for sec in sections.iter_mut() {
                        sec.reset();
                    }
                    *s = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain_db(lc: &mut LowCut, hz: f64, sr: f64) -> f64 {
        let n = (sr * 2.0) as usize;
        let x: Vec<f32> = (0..n)
            .map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / sr).sin()) as f32)
            .collect();
        let mut y = x.clone();
        lc.reset();
        lc.process(&mut [&mut y[..]]);
        let rms = |v: &[f32]| {
            (v.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
        };
        20.0 * (rms(&y[n / 2..]) / rms(&x[n / 2..])).log10()
    }

    #[test]
    fn low_cut_matches_the_analog_butterworth_response() {
        for sr in [44_100.0, 96_000.0] {
            let mut lc = LowCut::new(sr);
            lc.set_hz(Some(30.0));
            for hz in [7.5, 15.0, 30.0, 60.0, 120.0, 1000.0] {
                // |H|² of an n-th order Butterworth high-pass: r^2n / (1 + r^2n), r = f/fc.
                let r8 = (hz / 30.0f64).powi(8);
                let analog = 10.0 * (r8 / (1.0 + r8)).log10();
                let measured = gain_db(&mut lc, hz, sr);
                assert!(
                    (measured - analog).abs() < 0.05,
                    "{sr} Hz rate, {hz} Hz: {measured:.3} dB vs analog {analog:.3} dB"
                );
            }
        }
    }

    #[test]
    fn off_is_bit_exact_and_dc_is_removed() {
        let x: Vec<f32> = (0..48_000)
            .map(|i| 0.3 + 0.1 * (i as f32 * 0.05).sin())
            .collect();
        let mut y = x.clone();
        let mut lc = LowCut::new(48_000.0);
        lc.process(&mut [&mut y[..]]);
        assert_eq!(x, y);
        lc.set_hz(Some(10.0));
        lc.process(&mut [&mut y[..]]);
        let mean: f32 = y[24_000..].iter().sum::<f32>() / 24_000.0;
        assert!(mean.abs() < 1e-3, "DC left: {mean}");
    }
}

//! The K-weighting pre-filter of ITU-R BS.1770: a high-frequency shelf followed by a high-pass,
//! derived for any sample rate from the analog prototype so it matches the standard's 48 kHz
//! tables (to ~1e-15) and needs no table per rate.

use std::f64::consts::PI;

/// Shelf centre frequency of the analog prototype (Hz).
const SHELF_F0_HZ: f64 = 1_681.974_450_955_533;
/// Shelf gain of the analog prototype (dB).
const SHELF_GAIN_DB: f64 = 3.999_843_853_973_347;
/// Shelf quality factor.
const SHELF_Q: f64 = 0.707_175_236_955_419_6;
/// High-pass corner of the analog prototype (Hz).
const HIGHPASS_F0_HZ: f64 = 38.135_470_876_024_44;
/// High-pass quality factor.
const HIGHPASS_Q: f64 = 0.500_327_037_323_877_3;
/// Exponent relating the shelf's band gain to its high gain in the BS.1770 prototype; it makes the
/// bilinear transform land on the published 48 kHz coefficients.
const SHELF_BAND_EXPONENT: f64 = 0.499_666_774_154_541_6;

/// Second-order section coefficients with a0 normalised to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiquadCoefs {
    /// Feed-forward coefficients b0, b1, b2.
    pub b: [f64; 3],
    /// Feedback coefficients a1, a2 (a0 = 1).
    pub a: [f64; 2],
}

impl BiquadCoefs {
    /// Magnitude response at `freq_hz` for sample rate `sample_rate_hz` (linear).
    pub fn magnitude(&self, freq_hz: f64, sample_rate_hz: f64) -> f64 {
        let w = 2.0 * PI * freq_hz / sample_rate_hz;
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num_re = self.b[0] + self.b[1] * c1 + self.b[2] * c2;
        let num_im = -(self.b[1] * s1 + self.b[2] * s2);
        let den_re = 1.0 + self.a[0] * c1 + self.a[1] * c2;
        let den_im = -(self.a[0] * s1 + self.a[1] * s2);
        ((num_re * num_re + num_im * num_im) / (den_re * den_re + den_im * den_im)).sqrt()
    }
}

/// The shelf stage for a sample rate (Hz).
pub fn shelf_coefs(sample_rate_hz: f64) -> BiquadCoefs {
    let k = (PI * SHELF_F0_HZ / sample_rate_hz).tan();
    let vh = 10f64.powf(SHELF_GAIN_DB / 20.0);
    let vb = vh.powf(SHELF_BAND_EXPONENT);
    let a0 = 1.0 + k / SHELF_Q + k * k;
    BiquadCoefs {
        b: [
            (vh + vb * k / SHELF_Q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / SHELF_Q + k * k) / a0,
        ],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / SHELF_Q + k * k) / a0],
    }
}

/// Feedback coefficients of the high-pass stage at a sample rate (Hz).
fn highpass_feedback(sample_rate_hz: f64) -> [f64; 2] {
    let k = (PI * HIGHPASS_F0_HZ / sample_rate_hz).tan();
    let a0 = 1.0 + k / HIGHPASS_Q + k * k;
    [
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / HIGHPASS_Q + k * k) / a0,
    ]
}

/// The high-pass stage for a sample rate (Hz).
///
/// The standard's 48 kHz table keeps b = (1, −2, 1) without dividing by a0, which leaves the
/// stage a pass-band gain of 4 / (1 − a1 + a2) (+0.043 dB at 48 kHz) that the −0.691 offset
/// calibrates. That gain drifts with the rate (−0.03 dB at 192 kHz), so b is scaled to keep the
/// 48 kHz pass-band gain at every rate: readings then do not depend on the sample rate, and the
/// 48 kHz table is reproduced exactly.
pub fn highpass_coefs(sample_rate_hz: f64) -> BiquadCoefs {
    let pass_gain = |a: [f64; 2]| 4.0 / (1.0 - a[0] + a[1]);
    let a = highpass_feedback(sample_rate_hz);
    let g = pass_gain(highpass_feedback(48_000.0)) / pass_gain(a);
    BiquadCoefs {
        b: [g, -2.0 * g, g],
        a,
    }
}

/// One biquad in transposed direct form II with f64 state.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    c: BiquadCoefs,
    /// The two state registers of transposed direct form II.
    s: [f64; 2],
}

impl Biquad {
    #[inline(always)]
    fn tick(&mut self, x: f64) -> f64 {
        let y = self.c.b[0] * x + self.s[0];
        self.s[0] = self.c.b[1] * x - self.c.a[0] * y + self.s[1];
        self.s[1] = self.c.b[2] * x - self.c.a[1] * y;
        y
    }
}

/// The two-stage K-weighting filter for one channel.
#[derive(Debug, Clone)]
pub struct KWeighting {
    shelf: Biquad,
    highpass: Biquad,
}

impl KWeighting {
    /// A filter for the given sample rate (Hz).
    pub fn new(sample_rate_hz: f64) -> Self {
        Self {
            shelf: Biquad {
                c: shelf_coefs(sample_rate_hz),
                s: [0.0; 2],
            },
            highpass: Biquad {
                c: highpass_coefs(sample_rate_hz),
                s: [0.0; 2],
            },
        }
    }

    /// Clears the filter state.
    pub fn reset(&mut self) {
        self.shelf.s = [0.0; 2];
        self.highpass.s = [0.0; 2];
    }

    /// Filters one sample. Non-finite input is treated as silence. With finite f32 input the
    /// f64 state cannot overflow (|x| < 3.5e38, filter gain < 2), so the state stays finite.
    #[inline(always)]
    pub fn tick(&mut self, x: f32) -> f64 {
        let x = if x.is_finite() { f64::from(x) } else { 0.0 };
        self.highpass.tick(self.shelf.tick(x))
    }

    /// Filters a run of samples and returns the sum of the squared outputs.
    pub fn sum_squares(&mut self, xs: &[f32]) -> f64 {
        let mut sum = 0.0;
        for &x in xs {
            let y = self.tick(x);
            sum += y * y;
        }
        sum
    }

    /// Two channels in lockstep: their recursions are independent, so interleaving them lets the
    /// CPU overlap the two dependency chains (about twice the throughput of one after the other).
    /// Returns Σa², Σb² and the cross sum Σa·b of the filtered signals. The runs must have the
    /// same length.
    pub fn sum_squares_pair(a: &mut Self, b: &mut Self, xa: &[f32], xb: &[f32]) -> [f64; 3] {
        let (mut sa, mut sb, mut sab) = (0.0, 0.0, 0.0);
        for (&x, &y) in xa.iter().zip(xb) {
            let ya = a.tick(x);
            let yb = b.tick(y);
            sa += ya * ya;
            sb += yb * yb;
            sab += ya * yb;
        }
        [sa, sb, sab]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_48k_tables_of_bs1770() {
        let s = shelf_coefs(48_000.0);
        let expect_b = [
            1.535_124_859_586_97,
            -2.691_696_189_406_38,
            1.198_392_810_852_85,
        ];
        let expect_a = [-1.690_659_293_182_41, 0.732_480_774_215_85];
        for (x, e) in s.b.iter().zip(expect_b) {
            assert!((x - e).abs() < 1e-12, "{x} vs {e}");
        }
        for (x, e) in s.a.iter().zip(expect_a) {
            assert!((x - e).abs() < 1e-12, "{x} vs {e}");
        }
        let h = highpass_coefs(48_000.0);
        assert!((h.a[0] - -1.990_047_454_833_98).abs() < 1e-12);
        assert!((h.a[1] - 0.990_072_250_366_21).abs() < 1e-12);
        assert_eq!(h.b, [1.0, -2.0, 1.0]);
    }

    #[test]
    fn response_shape_is_rate_independent() {
        // The analog prototype's response, seen through the bilinear transform at different rates,
        // agrees well below the shelf where warping is negligible.
        for f in [100.0, 500.0, 1000.0, 2000.0] {
            let g48 = shelf_coefs(48_000.0).magnitude(f, 48_000.0)
                * highpass_coefs(48_000.0).magnitude(f, 48_000.0);
            let g192 = shelf_coefs(192_000.0).magnitude(f, 192_000.0)
                * highpass_coefs(192_000.0).magnitude(f, 192_000.0);
            assert!((20.0 * (g48 / g192).log10()).abs() < 0.01, "{f} Hz");
        }
        // Shelf reaches about +4 dB in the treble.
        let hi = 20.0 * shelf_coefs(48_000.0).magnitude(10_000.0, 48_000.0).log10();
        assert!((hi - 4.0).abs() < 0.1, "{hi}");
    }

    #[test]
    fn bad_input_does_not_poison_state() {
        let mut k = KWeighting::new(44_100.0);
        assert_eq!(k.tick(f32::NAN), 0.0);
        assert!(k.tick(0.5).is_finite());
        assert!(k.tick(f32::INFINITY).is_finite());
        assert!(k.tick(f32::MAX).is_finite() && k.tick(-f32::MAX).is_finite());
    }
}

//! Output dither: TPDF dither and rounding to a 16- or 24-bit grid, with optional first-order
//! noise shaping. The last stage of the chain, so the file written by the host's bounce holds
//! exactly these values.
//!
//! TPDF (the sum of two independent uniform values, ±1 LSB) makes the rounding error independent
//! of the signal: no distortion, no noise modulation, a steady floor of 0.5 LSB RMS. Noise
//! shaping feeds the previous sample's total error back (error filter 1 − z⁻¹): the same noise is
//! moved towards high frequencies, where the ear is least sensitive, at the price of twice the
//! peak noise amplitude.
//!
//! Headroom: the most dither can add to a sample is 1 LSB (TPDF) + ½ LSB (rounding) + 1½ LSB of
//! fed-back error = 3 LSB, i.e. 0.0001 of full scale at 16 bit – far inside the true-peak
//! limiter's 0.04 dB margin below its ceiling, so the ceiling still holds after dither.

/// Word length to dither to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DitherBits {
    /// No dither, no rounding: the samples pass untouched.
    Off,
    /// 24-bit output.
    Bits24,
    /// 16-bit output (CD).
    Bits16,
}

impl DitherBits {
    /// Steps per unit of full scale (2^(bits − 1)), or `None` when off.
    fn scale(self) -> Option<f32> {
        match self {
            Self::Off => None,
            Self::Bits24 => Some((1u32 << 23) as f32),
            Self::Bits16 => Some((1u32 << 15) as f32),
        }
    }
}

/// Dither for up to 2 channels (independent noise per channel).
#[derive(Debug, Clone)]
pub struct Dither {
    bits: DitherBits,
    noise_shaping: bool,
    /// xorshift64 state (deterministic, so renders are reproducible).
    rng: u64,
    /// Per channel: the previous sample's total error (LSB), for noise shaping.
    error: [f32; 2],
}

impl Default for Dither {
    fn default() -> Self {
        Self::new()
    }
}

impl Dither {
    /// Dither, off.
    pub fn new() -> Self {
        Self {
            bits: DitherBits::Off,
            noise_shaping: false,
            rng: 0x853c_49e6_748f_ea9b,
            error: [0.0; 2],
        }
    }

    /// Sets the word length.
    pub fn set_bits(&mut self, bits: DitherBits) {
        if bits != self.bits {
            self.bits = bits;
            self.error = [0.0; 2];
        }
    }

    /// Turns first-order noise shaping on or off.
    pub fn set_noise_shaping(&mut self, on: bool) {
        if on != self.noise_shaping {
            self.noise_shaping = on;
            self.error = [0.0; 2];
        }
    }

    /// Clears the noise-shaping memory and restarts the noise sequence. Does not allocate.
    pub fn reset(&mut self) {
        self.error = [0.0; 2];
        self.rng = 0x853c_49e6_748f_ea9b;
    }

    /// Uniform in [0, 1).
    #[inline]
    fn uniform(&mut self) -> f32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Dithers planar audio in place (channels beyond 2 are left alone).
    pub fn process<S: AsMut<[f32]>>(&mut self, channels: &mut [S]) {
        let Some(scale) = self.bits.scale() else {
            return;
        };
        let frames = channels.first_mut().map_or(0, |c| c.as_mut().len());
        let used = channels.len().min(2);
        // Largest and smallest representable values on the grid.
        let top = (scale - 1.0) / scale;
        for i in 0..frames {
            for (c, channel) in channels.iter_mut().enumerate().take(used) {
                let s = &mut channel.as_mut()[i];
                let x = *s * scale;
                let wanted = if self.noise_shaping {
                    x - self.error[c]
                } else {
                    x
                };
                let tpdf = self.uniform() + self.uniform() - 1.0;
                let q = (wanted + tpdf).round();
                if self.noise_shaping {
                    // Bounded, so a clipped or non-finite input cannot make the loop run away.
                    self.error[c] = (q - wanted).clamp(-2.0, 2.0);
                }
                let y = q / scale;
                *s = if y.is_finite() {
                    y.clamp(-1.0, top)
                } else {
                    0.0
                };
            }
        }
    }
}

/// Dither for offline rendering (`lathe deliver`): the same TPDF dither and first-order noise
/// shaping as [`Dither`], computed in f64 for any word length from 8 to 24 bits and any channel
/// count, delivering integer samples. Deterministic: the same input gives the same file.
#[derive(Debug, Clone)]
pub struct OfflineDither {
    /// Steps per unit of full scale (2^(bits − 1)).
    scale: f64,
    noise_shaping: bool,
    /// xorshift64 state.
    rng: u64,
    /// Per channel: the previous sample's total error (LSB), for noise shaping.
    error: Vec<f64>,
}

impl OfflineDither {
    /// Dither to `bits` (clamped to 8…24) for `channels` channels.
    pub fn new(bits: u32, channels: usize, noise_shaping: bool) -> Self {
        Self {
            scale: f64::from(1u32 << (bits.clamp(8, 24) - 1)),
            noise_shaping,
            rng: 0x853c_49e6_748f_ea9b,
            error: vec![0.0; channels],
        }
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    fn uniform(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Dithers one frame-ordered stretch of planar audio to integer steps (−2^(bits−1) …
    /// 2^(bits−1) − 1). Non-finite input becomes silence. Call it on consecutive stretches: the
    /// noise-shaping memory carries over.
    pub fn quantise(&mut self, channels: &[Vec<f64>]) -> Vec<Vec<i32>> {
        let frames = channels.first().map_or(0, Vec::len);
        let lowest = -self.scale;
        let highest = self.scale - 1.0;
        let mut out: Vec<Vec<i32>> = channels.iter().map(|_| vec![0; frames]).collect();
        for i in 0..frames {
            for (c, channel) in channels.iter().enumerate() {
                let x = channel[i] * self.scale;
                if !x.is_finite() {
                    continue;
                }
                let wanted = if self.noise_shaping {
                    x - self.error[c]
                } else {
                    x
                };
                let tpdf = self.uniform() + self.uniform() - 1.0;
                // Clamped one step past the grid first, so the rounding trick stays exact.
                let q = round_near((wanted + tpdf).clamp(lowest - 1.0, highest + 1.0))
                    .clamp(lowest, highest);
                if self.noise_shaping {
                    // Bounded, so clipped input cannot make the loop run away.
                    self.error[c] = (q - wanted).clamp(-2.0, 2.0);
                }
                out[c][i] = q as i32;
            }
        }
        out
    }
}

/// True when every sample already lies on the `bits`-bit grid (no dither is needed to write it
/// at that word length: it is written exactly).
pub fn on_grid(channels: &[Vec<f64>], bits: u32) -> bool {
    let scale = f64::from(1u32 << (bits.clamp(8, 24) - 1));
    channels.iter().flatten().all(|&x| {
        let steps = x * scale;
        steps >= -scale && steps < scale && steps == round_near(steps)
    })
}

/// The nearest integer (ties to even) of a value within ±2^51: adding and taking away 1.5 · 2^52
/// leaves no bits below the unit, so the FPU's own rounding does the work. `f64::round` is a
/// library call on the baseline x86-64 target, and the writers round every sample.
#[inline]
fn round_near(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    (x + SHIFT) - SHIFT
}

/// Samples on the `bits`-bit grid as integer steps (see [`on_grid`]; others are rounded).
pub fn to_steps(channels: &[Vec<f64>], bits: u32) -> Vec<Vec<i32>> {
    let scale = f64::from(1u32 << (bits.clamp(8, 24) - 1));
    channels
        .iter()
        .map(|c| {
            c.iter()
                .map(|&x| {
                    let s = x * scale;
                    if s.is_finite() {
                        round_near(s.clamp(-scale, scale - 1.0)) as i32
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, amp: f32) -> Vec<f32> {
        (0..n).map(|i| amp * (0.013 * i as f32).sin()).collect()
    }

    #[test]
    fn round_near_is_round_ties_even() {
        let mut x = 0.3f64;
        while x < 2.0f64.powi(30) {
            for base in [x, x.floor()] {
                for v in [
                    base,
                    base + 0.5,
                    base - 0.5,
                    base + 0.499_999_9,
                    base + 0.500_000_1,
                ] {
                    assert_eq!(round_near(v), v.round_ties_even(), "{v}");
                    assert_eq!(round_near(-v), (-v).round_ties_even(), "{}", -v);
                }
            }
            x = x * 1.37 + 0.11;
        }
        assert_eq!(round_near(2.0f64.powi(51) - 1.0), 2.0f64.powi(51) - 1.0);
        assert!(round_near(f64::NAN).is_nan());
    }

    #[test]
    fn off_is_bit_exact() {
        let x = tone(1000, 0.5);
        let mut y = x.clone();
        Dither::new().process(&mut [&mut y[..]]);
        assert_eq!(x, y);
    }

    #[test]
    fn output_lies_on_the_grid_with_a_half_lsb_rms_floor() {
        for (bits, scale) in [
            (DitherBits::Bits16, 32768.0f64),
            (DitherBits::Bits24, 8388608.0),
        ] {
            let x = tone(200_000, 0.3);
            let mut y = x.clone();
            let mut d = Dither::new();
            d.set_bits(bits);
            d.process(&mut [&mut y[..]]);
            let mut power = 0.0f64;
            for (a, b) in x.iter().zip(&y) {
                let steps = f64::from(*b) * scale;
                assert!((steps - steps.round()).abs() < 1e-3, "{b} is off the grid");
                let e = (f64::from(*b) - f64::from(*a)) * scale;
                power += e * e;
            }
            // TPDF (variance 1/6) plus rounding (1/12): 1/4, i.e. 0.5 LSB RMS.
            let rms = (power / x.len() as f64).sqrt();
            assert!((rms - 0.5).abs() < 0.02, "{bits:?}: {rms} LSB RMS");
        }
    }

    #[test]
    fn noise_shaping_moves_the_noise_up() {
        // Error spectrum: compare the noise in the lowest and highest eighth of the band via
        // first differences (high-pass) and running sums (low-pass) of the error.
        let x = tone(100_000, 0.3);
        let error = |shaping: bool| -> Vec<f64> {
            let mut y = x.clone();
            let mut d = Dither::new();
            d.set_bits(DitherBits::Bits16);
            d.set_noise_shaping(shaping);
            d.process(&mut [&mut y[..]]);
            x.iter()
                .zip(&y)
                .map(|(a, b)| f64::from(b - a) * 32768.0)
                .collect()
        };
        let low_band = |e: &[f64]| {
            // Power after a 16-sample moving average (passes roughly the lowest 1/16 of the band).
            let avg: Vec<f64> = e
                .windows(16)
                .map(|w| w.iter().sum::<f64>() / 16.0)
                .collect();
            avg.iter().map(|v| v * v).sum::<f64>() / avg.len() as f64
        };
        let flat = low_band(&error(false));
        let shaped = low_band(&error(true));
        assert!(
            shaped < flat / 4.0,
            "low-frequency noise {shaped} vs {flat} without shaping"
        );
    }

    #[test]
    fn full_scale_and_garbage_stay_on_the_grid_and_in_range() {
        let mut x = vec![1.0f32, -1.0, 0.99999, f32::NAN, f32::INFINITY, -3.0, 1e-30];
        let mut d = Dither::new();
        d.set_bits(DitherBits::Bits16);
        d.set_noise_shaping(true);
        d.process(&mut [&mut x[..]]);
        for v in x {
            assert!(
                v.is_finite() && (-1.0..=32767.0 / 32768.0).contains(&v),
                "{v}"
            );
        }
    }

    #[test]
    fn offline_dither_lies_on_the_grid_with_a_half_lsb_rms_floor() {
        let x: Vec<f64> = (0..200_000)
            .map(|i| 0.3 * (0.013 * i as f64).sin())
            .collect();
        for bits in [16u32, 24] {
            let scale = f64::from(1u32 << (bits - 1));
            let q = OfflineDither::new(bits, 1, false).quantise(std::slice::from_ref(&x));
            let power: f64 = x
                .iter()
                .zip(&q[0])
                .map(|(a, &b)| (f64::from(b) - a * scale).powi(2))
                .sum();
            let rms = (power / x.len() as f64).sqrt();
            assert!((rms - 0.5).abs() < 0.02, "{bits} bit: {rms} LSB RMS");
            assert!(!on_grid(std::slice::from_ref(&x), bits));
            let back: Vec<f64> = q[0].iter().map(|&s| f64::from(s) / scale).collect();
            assert!(on_grid(std::slice::from_ref(&back), bits));
            assert_eq!(to_steps(std::slice::from_ref(&back), bits)[0], q[0]);
        }
    }
}

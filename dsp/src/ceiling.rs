//! The output ceiling of Lathe Master: a zero-latency hard clip at a sample-peak ceiling.
//!
//! This is the simple safety ceiling of the first release. It guarantees that no output sample
//! exceeds the ceiling (in dBFS, sample peak); it does not control inter-sample (true) peaks and
//! it distorts whatever it clips. The true-peak lookahead limiter replaces it.

use crate::level::db_to_gain;

/// Highest ceiling accepted, in dBFS.
pub const MAX_CEILING_DBFS: f32 = 0.0;
/// Lowest ceiling accepted, in dBFS.
pub const MIN_CEILING_DBFS: f32 = -24.0;

/// Hard clip at ±ceiling.
#[derive(Debug, Clone)]
pub struct Ceiling {
    /// Ceiling as a linear amplitude.
    ceiling: f32,
    /// Ceiling in dBFS as last set, to skip recomputation.
    ceiling_dbfs: f32,
}

impl Default for Ceiling {
    fn default() -> Self {
        Self::new()
    }
}

impl Ceiling {
    /// A ceiling at 0 dBFS.
    pub fn new() -> Self {
        Self {
            ceiling: 1.0,
            ceiling_dbfs: 0.0,
        }
    }

    /// Sets the ceiling in dBFS, clamped to [`MIN_CEILING_DBFS`]..=[`MAX_CEILING_DBFS`].
    pub fn set_ceiling_dbfs(&mut self, ceiling_dbfs: f32) {
        if !ceiling_dbfs.is_finite() || ceiling_dbfs == self.ceiling_dbfs {
            return;
        }
        self.ceiling_dbfs = ceiling_dbfs.clamp(MIN_CEILING_DBFS, MAX_CEILING_DBFS);
        self.ceiling = db_to_gain(self.ceiling_dbfs);
    }

    /// The ceiling as a linear amplitude.
    pub fn ceiling_gain(&self) -> f32 {
        self.ceiling
    }

    /// Clips the block in place; NaN becomes 0. Returns how many samples were changed.
    pub fn process(&self, samples: &mut [f32]) -> usize {
        let c = self.ceiling;
        let mut clipped = 0;
        for s in samples.iter_mut() {
            let x = *s;
            if x.is_nan() {
                *s = 0.0;
                clipped += 1;
            } else if x.abs() > c {
                *s = c.copysign(x);
                clipped += 1;
            }
        }
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_ceiling_and_passes_below_it_bit_exactly() {
        let mut c = Ceiling::new();
        c.set_ceiling_dbfs(-1.0);
        let lim = 10f32.powf(-1.0 / 20.0);
        let input: Vec<f32> = (0..2000)
            .map(|i| 2.0 * ((i as f32) * 0.37).sin())
            .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5, -0.5])
            .collect();
        let mut out = input.clone();
        let n = c.process(&mut out);
        assert!(n > 0);
        for (x, y) in input.iter().zip(&out) {
            assert!(y.is_finite());
            assert!(y.abs() <= lim);
            if x.abs() <= lim {
                assert_eq!(x.to_bits(), y.to_bits());
            }
        }
        assert_eq!(out[out.len() - 3], -lim);
    }

    #[test]
    fn setting_is_clamped() {
        let mut c = Ceiling::new();
        c.set_ceiling_dbfs(-100.0);
        assert!((c.ceiling_gain() - db_to_gain(MIN_CEILING_DBFS)).abs() < 1e-7);
        c.set_ceiling_dbfs(6.0);
        assert_eq!(c.ceiling_gain(), 1.0);
    }
}

//! Sample-peak measurement and the "maximum since last read" hand-over to an editor.
//!
//! The audio thread folds each block's peak into an atomic with one `fetch_max`; the reader swaps
//! the value out (resetting it to 0) whenever it draws. Between two reads every sample counted, so
//! no peak can be missed however rarely the editor repaints.

use atomic_float::AtomicF32;
use std::sync::atomic::Ordering;

/// Largest absolute sample value in the block (0 for an empty block). NaN samples are ignored.
#[inline]
pub fn block_peak(samples: &[f32]) -> f32 {
    // `f32::max` ignores NaN operands, so one bad sample cannot hide the real peak.
    samples.iter().fold(0.0f32, |m, &s| m.max(s.abs()))
}

/// A per-channel peak that one thread publishes and another takes.
#[derive(Debug, Default)]
pub struct SharedPeak {
    /// Maximum absolute sample value (linear) since the last [`SharedPeak::take`].
    max_since_read: AtomicF32,
}

impl SharedPeak {
    /// A peak holder at silence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Audio thread: folds a block's peak (linear) in. Wait-free, no allocation.
    #[inline]
    pub fn publish(&self, peak: f32) {
        if peak > 0.0 {
            self.max_since_read.fetch_max(peak, Ordering::Relaxed);
        }
    }

    /// Reader: the maximum since the previous take (linear), resetting it to 0.
    #[inline]
    pub fn take(&self) -> f32 {
        self.max_since_read.swap(0.0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn block_peak_is_abs_max_and_ignores_nan() {
        assert_eq!(block_peak(&[]), 0.0);
        assert_eq!(block_peak(&[0.1, -0.9, 0.5]), 0.9);
        assert_eq!(block_peak(&[f32::NAN, -0.25]), 0.25);
    }

    #[test]
    fn no_peak_is_missed_between_reads() {
        let shared = Arc::new(SharedPeak::new());
        let writer = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for i in 0..100_000u32 {
                    // One large peak hidden among many small ones.
                    let p = if i == 77_777 { 0.99 } else { 0.01 };
                    shared.publish(p);
                }
            })
        };
        let mut seen = 0.0f32;
        while !writer.is_finished() {
            seen = seen.max(shared.take());
        }
        writer.join().unwrap();
        seen = seen.max(shared.take());
        assert_eq!(seen, 0.99);
        assert_eq!(shared.take(), 0.0);
    }
}

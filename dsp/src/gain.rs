//! A gain stage whose changes ramp instead of stepping, so moving a gain control never clicks.

use crate::level::db_to_gain;

/// Ramp time for gain changes, in milliseconds. 20 ms is short enough to feel immediate and long
/// enough that a full-scale step produces no audible click.
pub const GAIN_RAMP_MS: f64 = 20.0;

/// Applies a gain (set in dB) to blocks of audio, ramping linearly to each new target.
#[derive(Debug, Clone)]
pub struct RampedGain {
    /// Gain applied to the most recent sample (linear).
    current: f32,
    /// Gain being ramped towards (linear).
    target: f32,
    /// Per-sample increment while ramping (linear gain per sample).
    step: f32,
    /// Samples left in the current ramp; 0 when settled.
    remaining: u32,
    /// Gain at the start of the current ramp (linear): the gain of sample i of the ramp is
    /// `from + step·i`, counted from the ramp's start, so it does not depend on block sizes.
    from: f32,
    /// Samples of the current ramp done.
    pos: u32,
    /// Length of a full ramp, in samples.
    ramp_samples: u32,
}

impl RampedGain {
    /// A unity gain stage for the given sample rate (Hz).
    pub fn new(sample_rate_hz: f64) -> Self {
        let mut g = Self {
            current: 1.0,
            target: 1.0,
            step: 0.0,
            remaining: 0,
            from: 1.0,
            pos: 0,
            ramp_samples: 1,
        };
        g.set_sample_rate(sample_rate_hz);
        g
    }

    /// Recomputes the ramp length for a new sample rate (Hz).
    pub fn set_sample_rate(&mut self, sample_rate_hz: f64) {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        self.ramp_samples = ((GAIN_RAMP_MS * 1e-3 * sr).round() as u32).max(1);
    }

    /// Sets the target gain in dB; the change ramps over [`GAIN_RAMP_MS`]. Non-finite input is
    /// ignored.
    pub fn set_gain_db(&mut self, gain_db: f32) {
        if !gain_db.is_finite() {
            return;
        }
        let target = db_to_gain(gain_db);
        if target == self.target {
            return;
        }
        self.target = target;
        self.remaining = self.ramp_samples;
        self.from = self.current;
        self.pos = 0;
        self.step = (target - self.current) / self.ramp_samples as f32;
    }

    /// Jumps straight to the target gain (used on reset and on first activation).
    pub fn settle(&mut self) {
        self.current = self.target;
        self.remaining = 0;
        self.step = 0.0;
    }

    /// The gain currently applied (linear).
    pub fn current_gain(&self) -> f32 {
        self.current
    }

    /// Multiplies every channel by the gain. All channels must have the same length; the ramp
    /// advances once per frame, so channels stay in step.
    pub fn process<S: AsMut<[f32]>>(&mut self, channels: &mut [S]) {
        let frames = channels.first_mut().map_or(0, |c| c.as_mut().len());
        let mut done = 0;
        while done < frames {
            if self.remaining == 0 {
                let g = self.current;
                if g != 1.0 {
                    for ch in channels.iter_mut() {
                        for s in &mut ch.as_mut()[done..frames] {
                            *s *= g;
                        }
                    }
                }
                return;
            }
            let n = (self.remaining as usize).min(frames - done);
            // Gain at ramp position i (1-based) is current + step·i, computed directly rather than
            // accumulated, and the ramp's last sample is the exact target.
            let last = self.remaining as usize == n;
            for ch in channels.iter_mut() {
                for (i, s) in ch.as_mut()[done..done + n].iter_mut().enumerate() {
                    let g = if last && i + 1 == n {
                        self.target
                    } else {
                        self.from + self.step * (self.pos as usize + i + 1) as f32
                    };
                    *s *= g;
                }
            }
            self.remaining -= n as u32;
            self.pos += n as u32;
            self.current = if last {
                self.target
            } else {
                self.from + self.step * self.pos as f32
            };
            done += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_gain_is_exact() {
        let mut g = RampedGain::new(48_000.0);
        g.set_gain_db(-6.0);
        g.settle();
        let mut ch = [vec![1.0f32; 64], vec![-0.5f32; 64]];
        g.process(&mut ch);
        let expect = db_to_gain(-6.0);
        assert!(ch[0].iter().all(|&s| s == expect));
        assert!(ch[1].iter().all(|&s| s == -0.5 * expect));
    }

    #[test]
    fn ramp_is_monotonic_reaches_target_and_is_block_size_invariant() {
        let sr = 48_000.0;
        let ramp = (GAIN_RAMP_MS * 1e-3 * sr) as usize;
        let mut one = RampedGain::new(sr);
        one.set_gain_db(12.0);
        let mut whole = [vec![1.0f32; ramp * 2]];
        one.process(&mut whole);
        for w in whole[0].windows(2) {
            assert!(w[1] >= w[0]);
        }
        assert!((whole[0][ramp - 1] - db_to_gain(12.0)).abs() < 1e-4);
        assert_eq!(*whole[0].last().unwrap(), db_to_gain(12.0));

        let mut chunked = RampedGain::new(sr);
        chunked.set_gain_db(12.0);
        let mut out = Vec::new();
        for len in [1usize, 7, 333, 64, 1000].iter().cycle() {
            if out.len() >= ramp * 2 {
                break;
            }
            let n = (*len).min(ramp * 2 - out.len());
            let mut block = [vec![1.0f32; n]];
            chunked.process(&mut block);
            out.extend_from_slice(&block[0]);
        }
        for (a, b) in out.iter().zip(&whole[0]) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn non_finite_gain_is_ignored() {
        let mut g = RampedGain::new(44_100.0);
        g.set_gain_db(f32::NAN);
        g.settle();
        assert_eq!(g.current_gain(), 1.0);
    }
}

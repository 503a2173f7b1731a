//! Click-free on/off switches for zero-latency stages: while a stage fades in or out, its output
//! is mixed with its input by a gain that moves linearly over [`SWITCH_FADE_MS`]. Settled on, the
//! stage's output passes untouched; settled off, the stage need not run at all.

/// Fade time of a stage switched on or off (ms).
pub const SWITCH_FADE_MS: f64 = 20.0;

/// The on/off state of one stage and its fade. The fade counts samples (an integer), so it is
/// the same whatever the host's block sizes.
#[derive(Debug, Clone, Copy)]
pub struct SwitchFade {
    on: bool,
    /// Samples into the fade: 0 = input only, `len` = stage output only.
    pos: u32,
    len: u32,
}

impl SwitchFade {
    /// A switch at `sample_rate_hz`, settled in state `on`.
    pub fn new(sample_rate_hz: f64, on: bool) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let len = ((SWITCH_FADE_MS * 1e-3 * sr).round() as u32).max(1);
        Self {
            on,
            pos: if on { len } else { 0 },
            len,
        }
    }

    /// Switches; the change fades from the next sample on.
    pub fn set(&mut self, on: bool) {
        self.on = on;
    }

    /// Lands the fade where the switch points.
    pub fn settle(&mut self) {
        self.pos = if self.on { self.len } else { 0 };
    }

    /// Samples until the fade is over (0 once settled).
    pub fn remaining(&self) -> usize {
        (if self.on {
            self.len - self.pos
        } else {
            self.pos
        }) as usize
    }

    /// Whether the fade is over (settled on or settled off).
    pub fn settled(&self) -> bool {
        self.pos == if self.on { self.len } else { 0 }
    }

    /// Whether the stage must run (on, or still fading out).
    pub fn running(&self) -> bool {
        self.on || self.pos > 0
    }

    /// Mixes the stage's output `wet` with its input `dry` in place and advances the fade by
    /// the block's length. Settled on, `wet` is left as it is.
    pub fn mix(&mut self, dry: &[&[f32]], wet: &mut [&mut [f32]]) {
        let frames = wet.first().map_or(0, |w| w.len());
        if self.on && self.pos == self.len {
            return;
        }
        let start = self.pos;
        let len = self.len;
        let on = self.on;
        let next = move |p: u32| {
            if on {
                (p + 1).min(len)
            } else {
                p.saturating_sub(1)
            }
        };
        for (d, w) in dry.iter().zip(wet.iter_mut()) {
            let mut p = start;
            for (x, y) in d.iter().zip(w.iter_mut()) {
                p = next(p);
                let g = p as f32 / len as f32;
                *y = *x + (*y - *x) * g;
            }
        }
        let moved = u32::try_from(frames).unwrap_or(u32::MAX);
        self.pos = if on {
            start.saturating_add(moved).min(len)
        } else {
            start.saturating_sub(moved)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fades_over_the_fade_time_in_any_blocks_and_passes_settled_states_exactly() {
        let sr = 48_000.0;
        let n = 4800;
        let dry = vec![1.0f32; n];
        for block in [1, 7, 480, 4800] {
            let mut s = SwitchFade::new(sr, false);
            s.set(true);
            let mut out = vec![0.0f32; n];
            for (d, o) in dry.chunks(block).zip(out.chunks_mut(block)) {
                let mut w = vec![0.0f32; o.len()];
                s.mix(&[d], &mut [&mut w[..]]);
                o.copy_from_slice(&w);
            }
            // Output = dry·(1 − g): 1 at the start, 0 once faded in (20 ms = 960 samples).
            assert!(out[0] > 0.99 && out[0] < 1.0, "block {block}: {}", out[0]);
            assert!(
                out[480] > 0.45 && out[480] < 0.55,
                "block {block}: {}",
                out[480]
            );
            assert!(out[960..].iter().all(|&v| v == 0.0), "block {block}");
            // Monotonic: no step.
            assert!(out.windows(2).all(|w| w[1] <= w[0]));
        }
    }
}

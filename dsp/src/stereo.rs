//! Stereo stage: width (mid/side balance) and mono below a frequency (for vinyl cutting and
//! tight low end). Zero latency.
//!
//! Width scales the side signal: 0 % is mono, 100 % unchanged, 200 % twice the side level.
//! "Mono below" removes the side signal under a crossover frequency with a 4th-order
//! Linkwitz–Riley high-pass (two 2nd-order Butterworth sections, −6 dB at the frequency,
//! 24 dB/octave below it). The mid signal is never filtered.
//!
//! At 100 % width with mono-bass off the stage does nothing at all: the samples pass bit for bit.

/// Lowest and highest mono-bass frequency (Hz).
pub const MONO_BASS_MIN_HZ: f32 = 20.0;
/// See [`MONO_BASS_MIN_HZ`].
pub const MONO_BASS_MAX_HZ: f32 = 300.0;
/// Widest setting (200 %).
pub const MAX_WIDTH: f32 = 2.0;

use crate::highpass::HighPass;

/// Glide time of Width and fade time of Mono Bass on/off (ms): changes never click.
pub const GLIDE_MS: f64 = 20.0;

/// The stereo stage for a stereo pair.
#[derive(Debug, Clone)]
pub struct Stereo {
    sample_rate_hz: f64,
    /// Width now (gliding to `width_target`).
    width: f32,
    width_target: f32,
    width_step: f32,
    width_left: u32,
    /// Mono bass as set (`None` = off).
    mono_bass_hz: Option<f32>,
    /// Samples into the mono-bass fade (0 = side unfiltered, `glide_len` = filtered).
    mono_pos: u32,
    glide_len: u32,
    /// The two sections of the Linkwitz–Riley high-pass on the side signal.
    side_hp: [HighPass; 2],
}

impl Stereo {
    /// A stage at 100 % width, mono bass off.
    pub fn new(sample_rate_hz: f64) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        Self {
            sample_rate_hz: sr,
            width: 1.0,
            width_target: 1.0,
            width_step: 0.0,
            width_left: 0,
            mono_bass_hz: None,
            mono_pos: 0,
            glide_len: ((GLIDE_MS * 1e-3 * sr).round() as u32).max(1),
            side_hp: [HighPass::default(); 2],
        }
    }

    /// Sets the width (0…2; 1 = unchanged); it glides there over [`GLIDE_MS`].
    pub fn set_width(&mut self, width: f32) {
        if !width.is_finite() {
            return;
        }
        let width = width.clamp(0.0, MAX_WIDTH);
        if width != self.width_target {
            self.width_target = width;
            self.width_left = self.glide_len;
            self.width_step = (width - self.width) / self.glide_len as f32;
        }
    }

    /// Mono below `hz` (20…300 Hz), or `None` for off. Switching on or off fades over
    /// [`GLIDE_MS`].
    pub fn set_mono_bass_hz(&mut self, hz: Option<f32>) {
        let hz = hz
            .filter(|h| h.is_finite())
            .map(|h| h.clamp(MONO_BASS_MIN_HZ, MONO_BASS_MAX_HZ));
        if hz == self.mono_bass_hz {
            return;
        }
        if self.mono_pos == 0 {
            // The filter is idle: start it from silence, no stale state.
            for s in &mut self.side_hp {
                s.reset();
            }
        }
        self.mono_bass_hz = hz;
        // Off: the filter keeps its last design while it fades out.
        if let Some(hz) = hz {
            for s in &mut self.side_hp {
                s.design(
                    f64::from(hz),
                    self.sample_rate_hz,
                    std::f64::consts::FRAC_1_SQRT_2,
                );
            }
        }
    }

    /// Clears the filter state and lands the glides. Does not allocate.
    pub fn reset(&mut self) {
        self.clear_filter();
        self.width = self.width_target;
        self.width_left = 0;
        self.mono_pos = if self.mono_bass_hz.is_some() {
            self.glide_len
        } else {
            0
        };
    }

    fn clear_filter(&mut self) {
        for s in &mut self.side_hp {
            s.reset();
        }
    }

    /// Processes a stereo pair in place (equal lengths). Mono audio needs no stereo stage.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let mono_on = self.mono_bass_hz.is_some();
        if self.width == 1.0 && self.width_left == 0 && !mono_on && self.mono_pos == 0 {
            return;
        }
        let len = self.glide_len;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            if self.width_left > 0 {
                self.width_left -= 1;
                self.width = if self.width_left == 0 {
                    self.width_target
                } else {
                    self.width + self.width_step
                };
            }
            self.mono_pos = if mono_on {
                (self.mono_pos + 1).min(len)
            } else {
                self.mono_pos.saturating_sub(1)
            };
            let mid = 0.5 * (f64::from(*l) + f64::from(*r));
            let mut side = 0.5 * (f64::from(*l) - f64::from(*r));
            if mono_on || self.mono_pos > 0 {
                let first = self.side_hp[0].tick(side);
                let mut filtered = self.side_hp[1].tick(first);
                if !filtered.is_finite() {
                    // Non-finite input must not poison the filter forever.
                    self.clear_filter();
                    filtered = 0.0;
                    side = 0.0;
                }
                if self.mono_pos == len {
                    side = filtered;
                } else {
                    let g = f64::from(self.mono_pos) / f64::from(len);
                    side += (filtered - side) * g;
                }
            }
            side *= f64::from(self.width);
            *l = (mid + side) as f32;
            *r = (mid - side) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    fn tone(hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / SR).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn unity_width_without_mono_bass_is_bit_exact() {
        let (l0, r0) = (tone(440.0, 4800), tone(660.0, 4800));
        let (mut l, mut r) = (l0.clone(), r0.clone());
        Stereo::new(SR).process(&mut l, &mut r);
        assert_eq!((l, r), (l0, r0));
    }

    #[test]
    fn zero_width_is_mono_and_double_width_doubles_the_side() {
        let (l0, r0) = (tone(440.0, 4800), tone(660.0, 4800));
        let mut s = Stereo::new(SR);
        s.set_width(0.0);
        s.reset(); // lands the glide
        let (mut l, mut r) = (l0.clone(), r0.clone());
        s.process(&mut l, &mut r);
        assert!(l.iter().zip(&r).all(|(a, b)| a == b));
        s.set_width(2.0);
        s.reset();
        let (mut l, mut r) = (l0.clone(), r0.clone());
        s.process(&mut l, &mut r);
        for i in 0..l0.len() {
            let side_in = 0.5 * (l0[i] - r0[i]);
            let side_out = 0.5 * (l[i] - r[i]);
            let mid_in = 0.5 * (l0[i] + r0[i]);
            let mid_out = 0.5 * (l[i] + r[i]);
            assert!((side_out - 2.0 * side_in).abs() < 1e-6);
            assert!((mid_out - mid_in).abs() < 1e-6);
        }
    }

    /// Linkwitz–Riley 4th order high-pass magnitude: |H|² of a 2nd-order Butterworth, squared.
    fn lr4_db(f: f64, fc: f64) -> f64 {
        let r = (f / fc).powi(4);
        let butterworth_sq = r / (1.0 + r);
        10.0 * butterworth_sq.powi(2).log10()
    }

    #[test]
    fn mono_bass_removes_low_side_only_and_matches_the_analog_response() {
        let fc = 120.0f32;
        for hz in [30.0, 60.0, 120.0, 240.0, 1000.0] {
            let n = 96_000;
            let side = tone(hz, n);
            // Pure side signal (L = s, R = −s) plus an unrelated mid tone at the same frequency.
            let (mut l, mut r): (Vec<f32>, Vec<f32>) = side.iter().map(|&s| (s, -s)).unzip();
            let mut st = Stereo::new(SR);
            st.set_mono_bass_hz(Some(fc));
            st.process(&mut l, &mut r);
            let tail = n / 2..n;
            let out_side: Vec<f32> = l[tail.clone()]
                .iter()
                .zip(&r[tail.clone()])
                .map(|(a, b)| 0.5 * (a - b))
                .collect();
            let measured = 20.0 * (rms(&out_side) / rms(&side[tail])).log10();
            let expected = lr4_db(hz, f64::from(fc));
            // The bilinear transform is exact at fc and close below 1 kHz at 48 kHz.
            assert!(
                (measured - expected).abs() < 0.1,
                "{hz} Hz: {measured:.2} dB, analog {expected:.2} dB"
            );
            // Mid is untouched: a mono tone passes unchanged.
            let mono = tone(hz, 4800);
            let (mut l, mut r) = (mono.clone(), mono.clone());
            st.reset();
            st.process(&mut l, &mut r);
            assert!(l.iter().zip(&mono).all(|(a, b)| (a - b).abs() < 1e-6));
        }
    }

    #[test]
    fn garbage_does_not_stick() {
        let mut st = Stereo::new(SR);
        st.set_mono_bass_hz(Some(100.0));
        let (mut l, mut r) = (vec![f32::NAN, 1.0, f32::INFINITY], vec![0.0, -1.0, 0.0]);
        st.process(&mut l, &mut r);
        let (mut l, mut r) = (tone(50.0, 4800), tone(50.0, 4800));
        st.process(&mut l, &mut r);
        assert!(l.iter().chain(&r).all(|v| v.is_finite()));
    }
}

//! Level-matched A/B: lets the user hear the unprocessed input at the loudness of the processed
//! output, so "louder" never passes for "better".
//!
//! Both signals are measured continuously with BS.1770 short-term loudness (3 s). The dry signal,
//! delayed to line up with the processed one, is scaled by the smoothed loudness difference.
//! Three outputs: the processed signal, the level-matched dry signal, and their difference
//! (processed − level-matched dry: what the processing does besides changing the level).
//! Switching between them crossfades, so it never clicks.

use crate::level::db_to_gain;
use crate::loudness::LoudnessMeter;

/// What the user listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listen {
    /// The processed signal.
    Processed,
    /// The input, delayed like the processing and matched to its loudness.
    MatchedBypass,
    /// Processed minus the level-matched input.
    Delta,
    /// A reference record (its loop), level-matched to the processed signal.
    Reference,
}

/// How a reference is level-matched to the processed signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMatch {
    /// The loop's integrated loudness against the processed signal's integrated loudness since
    /// the last reset (steady: one gain).
    Integrated,
    /// Both short-term (3 s), smoothed like the bypass match (follows the music).
    ShortTerm,
}

/// Crossfade time when switching (ms).
pub const CROSSFADE_MS: f64 = 30.0;
/// Crossfade time of the host's bypass (ms).
pub const BYPASS_FADE_MS: f64 = 20.0;
/// Time constant of the level match (s): slow enough that it never pumps with the music.
pub const MATCH_SMOOTHING_S: f64 = 1.0;
/// Largest correction applied (dB).
pub const MAX_MATCH_DB: f64 = 24.0;
/// Below this short-term loudness (LUFS) the match holds its last value (silence says nothing).
const MATCH_GATE_LUFS: f64 = -60.0;

/// The A/B stage for up to two channels.
#[derive(Debug, Clone)]
pub struct LevelMatchedAb {
    sample_rate_hz: f64,
    dry_meter: LoudnessMeter,
    wet_meter: LoudnessMeter,
    /// Delay line for the dry signal, per channel, sized for the largest latency.
    delay: Vec<Vec<f32>>,
    delay_pos: usize,
    /// Current alignment delay (samples).
    latency: usize,
    /// Smoothed loudness difference wet − dry (dB).
    offset_db: f64,
    /// Whether a measurement has been made yet (the first one is taken as is).
    matched_once: bool,
    /// Gain applied to the dry signal at the end of the previous block (linear).
    dry_gain: f32,
    /// The dry gain's glide to a new match: from, to, samples left and its length.
    ramp_from: f32,
    ramp_to: f32,
    ramp_left: u32,
    ramp_len: u32,
    listen: Listen,
    /// Output being faded out, and how far the crossfade has come (0…1 per sample steps).
    fading_from: Listen,
    fade: f32,
    fade_step: f32,
    /// Sub-block bookkeeping for the per-10-ms smoothing update.
    last_subblocks: u64,
    /// The host's bypass: the input, delayed by the latency, at unity gain.
    bypass: bool,
    /// How far the output has faded to the bypassed input (0 = not at all, 1 = fully).
    bypass_mix: f32,
    bypass_step: f32,
    /// The reference: its loudness meter (short-term match), the loop's integrated loudness,
    /// the match mode, the smoothed short-term difference, and the gain with its glide.
    ref_meter: LoudnessMeter,
    ref_loop_lufs: f64,
    ref_match: RefMatch,
    ref_offset_db: f64,
    ref_matched_once: bool,
    ref_gain: f32,
    ref_ramp_from: f32,
    ref_ramp_to: f32,
    ref_ramp_left: u32,
}

impl LevelMatchedAb {
    /// An A/B stage for `channels` (1 or 2) channels and alignment delays up to `max_latency`.
    pub fn new(sample_rate_hz: f64, channels: usize, max_latency: usize) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let channels = channels.clamp(1, 2);
        Self {
            sample_rate_hz: sr,
            dry_meter: LoudnessMeter::new(sr, channels),
            wet_meter: LoudnessMeter::new(sr, channels),
            delay: vec![vec![0.0; max_latency + 1]; channels],
            delay_pos: 0,
            latency: 0,
            offset_db: 0.0,
            matched_once: false,
            dry_gain: 1.0,
            ramp_from: 1.0,
            ramp_to: 1.0,
            ramp_left: 0,
            ramp_len: ((sr / crate::loudness::UPDATES_PER_SECOND as f64).round() as u32).max(1),
            listen: Listen::Processed,
            fading_from: Listen::Processed,
            fade: 1.0,
            fade_step: (1.0 / (CROSSFADE_MS * 1e-3 * sr)) as f32,
            last_subblocks: 0,
            bypass: false,
            bypass_mix: 0.0,
            bypass_step: (1.0 / (BYPASS_FADE_MS * 1e-3 * sr)) as f32,
            ref_meter: LoudnessMeter::new(sr, channels),
            ref_loop_lufs: f64::NAN,
            ref_match: RefMatch::Integrated,
            ref_offset_db: 0.0,
            ref_matched_once: false,
            ref_gain: 0.0,
            ref_ramp_from: 0.0,
            ref_ramp_to: 0.0,
            ref_ramp_left: 0,
        }
    }

    /// Clears measurements and delay lines. Does not allocate.
    pub fn reset(&mut self) {
        self.dry_meter.reset();
        self.wet_meter.reset();
        for d in &mut self.delay {
            d.fill(0.0);
        }
        self.delay_pos = 0;
        self.offset_db = 0.0;
        self.matched_once = false;
        self.dry_gain = 1.0;
        self.ramp_from = 1.0;
        self.ramp_to = 1.0;
        self.ramp_left = 0;
        self.fade = 1.0;
        self.fading_from = self.listen;
        self.last_subblocks = 0;
        self.bypass_mix = if self.bypass { 1.0 } else { 0.0 };
        self.reset_reference_match();
    }

    /// The reference stays silent until its level is known (never a burst at its own level).
    fn reset_reference_match(&mut self) {
        self.ref_meter.reset();
        self.ref_offset_db = 0.0;
        self.ref_matched_once = false;
        self.ref_ramp_left = 0;
        self.ref_gain = 0.0;
        self.ref_ramp_to = 0.0;
    }

    /// The reference now playing: its loop's integrated loudness (LUFS; NaN: none) and how
    /// to match it. A new loop starts its short-term measurement over. Does not allocate.
    pub fn set_reference(&mut self, loop_lufs: f64, mode: RefMatch) {
        let same = (loop_lufs == self.ref_loop_lufs)
            || (loop_lufs.is_nan() && self.ref_loop_lufs.is_nan());
        if !same {
            self.ref_loop_lufs = loop_lufs;
            self.reset_reference_match();
        }
        self.ref_match = mode;
    }

    /// Gain applied to the reference now (dB).
    pub fn reference_gain_db(&self) -> f64 {
        20.0 * f64::from(self.ref_gain.max(1e-10)).log10()
    }

    /// The host's bypass (separate from the level-matched A/B): when on, the output is the
    /// input delayed by the latency, bit for bit, at unity gain; switching crossfades over
    /// [`BYPASS_FADE_MS`].
    pub fn set_bypass(&mut self, bypass: bool) {
        self.bypass = bypass;
    }

    /// Sets the delay that aligns the dry signal with the processed one (samples, clamped to the
    /// size given at construction).
    pub fn set_latency(&mut self, samples: usize) {
        self.latency = samples.min(self.delay[0].len() - 1);
    }

    /// Chooses what to listen to; the change crossfades.
    pub fn set_listen(&mut self, listen: Listen) {
        if listen != self.listen {
            self.fading_from = self.listen;
            self.listen = listen;
            self.fade = 0.0;
        }
    }

    /// Loudness difference processed − input now (LU), as used for the match.
    pub fn offset_lu(&self) -> f64 {
        self.offset_db
    }

    /// Measures, aligns and mixes. `dry` is the input to the processing (unmodified), `wet` the
    /// processed block, replaced in place by what the listener hears. Equal lengths.
    pub fn process<D: AsRef<[f32]>, W: AsMut<[f32]>>(&mut self, dry: &[D], wet: &mut [W]) {
        self.process_with_reference::<D, W, &[f32]>(dry, wet, None);
    }

    /// [`Self::process`] with the reference's block (same length and channels as `wet`;
    /// `None`: no reference, the Reference choice is silent).
    pub fn process_with_reference<D: AsRef<[f32]>, W: AsMut<[f32]>, R: AsRef<[f32]>>(
        &mut self,
        dry: &[D],
        wet: &mut [W],
        reference: Option<&[R]>,
    ) {
        let frames = dry.first().map_or(0, |c| c.as_ref().len());
        let channels = dry.len().min(wet.len()).min(self.delay.len());
        if frames == 0 || channels == 0 {
            return;
        }
        // Segments end where the meters finish a 10 ms sub-block, so the match is updated at
        // the same samples of the stream whatever the host's block sizes are.
        let mut start = 0;
        while start < frames {
            let n = self.wet_meter.frames_to_boundary().min(frames - start);
            let end = start + n;
            if channels == 1 {
                let w: &[f32] = &wet[0].as_mut()[start..end];
                self.wet_meter.process(&[w]);
                self.dry_meter.process(&[&dry[0].as_ref()[start..end]]);
            } else {
                let (a, b) = wet.split_at_mut(1);
                let (wa, wb): (&[f32], &[f32]) =
                    (&a[0].as_mut()[start..end], &b[0].as_mut()[start..end]);
                self.wet_meter.process(&[wa, wb]);
                self.dry_meter
                    .process(&[&dry[0].as_ref()[start..end], &dry[1].as_ref()[start..end]]);
            }
            if let Some(r) = reference {
                if channels == 1 || r.len() < 2 {
                    self.ref_meter.process(&[&r[0].as_ref()[start..end]]);
                } else {
                    self.ref_meter
                        .process(&[&r[0].as_ref()[start..end], &r[1].as_ref()[start..end]]);
                }
            }
            self.mix(dry, wet, reference, channels, start, end);
            self.update_match();
            start = end;
        }
    }

    /// Mixes frames `start..end` for the chosen listening mode.
    fn mix<D: AsRef<[f32]>, W: AsMut<[f32]>, R: AsRef<[f32]>>(
        &mut self,
        dry: &[D],
        wet: &mut [W],
        reference: Option<&[R]>,
        channels: usize,
        start: usize,
        end: usize,
    ) {
        let len = self.delay[0].len();
        for i in start..end {
            // The dry gain glides linearly to each new match over one sub-block.
            if self.ramp_left > 0 {
                self.ramp_left -= 1;
                let k = self.ramp_left as f32 / self.ramp_len as f32;
                self.dry_gain = self.ramp_to + (self.ramp_from - self.ramp_to) * k;
            }
            let g = self.dry_gain;
            if self.ref_ramp_left > 0 {
                self.ref_ramp_left -= 1;
                let k = self.ref_ramp_left as f32 / self.ramp_len as f32;
                self.ref_gain = self.ref_ramp_to + (self.ref_ramp_from - self.ref_ramp_to) * k;
            }
            let rg = self.ref_gain;
            let read = (self.delay_pos + len - self.latency) % len;
            for c in 0..channels {
                let x = dry[c].as_ref()[i];
                self.delay[c][self.delay_pos] = if x.is_finite() { x } else { 0.0 };
                let matched = self.delay[c][read] * g;
                let w = &mut wet[c].as_mut()[i];
                let wv = if w.is_finite() { *w } else { 0.0 };
                let rv = reference
                    .and_then(|r| r.get(c).or(r.first()))
                    .map_or(0.0, |r| r.as_ref()[i] * rg);
                let pick = |l: Listen| match l {
                    Listen::Processed => wv,
                    Listen::MatchedBypass => matched,
                    Listen::Delta => wv - matched,
                    Listen::Reference => rv,
                };
                let heard = if self.fade >= 1.0 {
                    pick(self.listen)
                } else {
                    pick(self.fading_from) * (1.0 - self.fade) + pick(self.listen) * self.fade
                };
                let m = self.bypass_mix;
                let bypassed = self.delay[c][read];
                *w = if m <= 0.0 {
                    heard
                } else if m >= 1.0 {
                    bypassed
                } else {
                    heard + (bypassed - heard) * m
                };
            }
            self.delay_pos = (self.delay_pos + 1) % len;
            if self.fade < 1.0 {
                self.fade = (self.fade + self.fade_step).min(1.0);
            }
            if self.bypass {
                self.bypass_mix = (self.bypass_mix + self.bypass_step).min(1.0);
            } else if self.bypass_mix > 0.0 {
                self.bypass_mix = (self.bypass_mix - self.bypass_step).max(0.0);
            }
        }
    }

    fn update_match(&mut self) {
        let done = self.wet_meter.subblocks_done();
        let new = done.saturating_sub(self.last_subblocks);
        self.last_subblocks = done;
        if new == 0 {
            return;
        }
        self.update_reference_match(new);
        let (wet, dry) = (
            self.wet_meter.short_term_lufs(),
            self.dry_meter.short_term_lufs(),
        );
        if !(wet > MATCH_GATE_LUFS && dry > MATCH_GATE_LUFS) {
            return;
        }
        let diff = (wet - dry).clamp(-MAX_MATCH_DB, MAX_MATCH_DB);
        if self.matched_once {
            let dt = new as f64 / crate::loudness::UPDATES_PER_SECOND as f64;
            let a = 1.0 - (-dt / MATCH_SMOOTHING_S).exp();
            self.offset_db += a * (diff - self.offset_db);
        } else {
            self.offset_db = diff;
            self.matched_once = true;
        }
        self.ramp_from = self.dry_gain;
        self.ramp_to = db_to_gain(self.offset_db as f32);
        self.ramp_left = self.ramp_len;
    }

    /// The reference's gain after `new` 10 ms sub-blocks: the processed signal's loudness
    /// minus the reference's, by the chosen measure; held while either is unmeasurable.
    fn update_reference_match(&mut self, new: u64) {
        let diff = match self.ref_match {
            RefMatch::Integrated => {
                let wet = self.wet_meter.integrated_lufs();
                (wet.is_finite() && self.ref_loop_lufs.is_finite())
                    .then_some(wet - self.ref_loop_lufs)
            }
            RefMatch::ShortTerm => {
                let (wet, reference) = (
                    self.wet_meter.short_term_lufs(),
                    self.ref_meter.short_term_lufs(),
                );
                (wet > MATCH_GATE_LUFS && reference > MATCH_GATE_LUFS).then(|| {
                    let diff = wet - reference;
                    if self.ref_matched_once {
                        let dt = new as f64 / crate::loudness::UPDATES_PER_SECOND as f64;
                        let a = 1.0 - (-dt / MATCH_SMOOTHING_S).exp();
                        self.ref_offset_db + a * (diff - self.ref_offset_db)
                    } else {
                        diff
                    }
                })
            }
        };
        let Some(diff) = diff else {
            return;
        };
        let diff = diff.clamp(-MAX_MATCH_DB, MAX_MATCH_DB);
        self.ref_offset_db = diff;
        self.ref_matched_once = true;
        self.ref_ramp_from = self.ref_gain;
        self.ref_ramp_to = db_to_gain(diff as f32);
        self.ref_ramp_left = self.ramp_len;
    }

    /// Sample rate (Hz).
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn noise(n: usize, seed: u64, amp: f32) -> Vec<f32> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-amp..amp)).collect()
    }

    fn short_term(sr: f64, x: &[Vec<f32>]) -> f64 {
        let mut m = LoudnessMeter::new(sr, x.len());
        m.process(x);
        m.short_term_lufs()
    }

    /// Runs dry → "processing" (gain `gain_db`, delay `latency`) → A/B in random blocks.
    fn run(
        sr: f64,
        listen: Listen,
        gain_db: f32,
        latency: usize,
        dry: &[Vec<f32>],
    ) -> Vec<Vec<f32>> {
        let n = dry[0].len();
        let g = db_to_gain(gain_db);
        let wet: Vec<Vec<f32>> = dry
            .iter()
            .map(|c| {
                (0..n)
                    .map(|i| {
                        if i >= latency {
                            c[i - latency] * g
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let mut ab = LevelMatchedAb::new(sr, dry.len(), 1000);
        ab.set_latency(latency);
        ab.set_listen(listen);
        let mut out = wet.clone();
        let mut rng = SmallRng::seed_from_u64(3);
        let mut pos = 0;
        while pos < n {
            let k = rng.random_range(1..=1024).min(n - pos);
            let d: Vec<&[f32]> = dry.iter().map(|c| &c[pos..pos + k]).collect();
            let mut w: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[pos..pos + k]).collect();
            ab.process(&d, &mut w);
            pos += k;
        }
        out
    }

    #[test]
    fn processed_is_untouched() {
        let sr = 48_000.0;
        let dry = vec![noise(48_000, 1, 0.3), noise(48_000, 2, 0.3)];
        let out = run(sr, Listen::Processed, 6.0, 64, &dry);
        let g = db_to_gain(6.0);
        for i in 64..48_000 {
            assert_eq!(out[0][i].to_bits(), (dry[0][i - 64] * g).to_bits());
        }
    }

    #[test]
    fn matched_bypass_lands_on_the_processed_loudness() {
        let sr = 48_000.0;
        let n = 48_000 * 12;
        let dry = vec![noise(n, 4, 0.2), noise(n, 5, 0.2)];
        for gain_db in [-9.0f32, 6.0, 12.0] {
            let out = run(sr, Listen::MatchedBypass, gain_db, 256, &dry);
            let tail = |x: &[Vec<f32>]| -> Vec<Vec<f32>> {
                x.iter().map(|c| c[n - 48_000 * 3..].to_vec()).collect()
            };
            let processed: Vec<Vec<f32>> = dry
                .iter()
                .map(|c| c.iter().map(|v| v * db_to_gain(gain_db)).collect())
                .collect();
            let diff = short_term(sr, &tail(&out)) - short_term(sr, &tail(&processed));
            assert!(
                diff.abs() < 0.1,
                "gain {gain_db}: bypass is {diff:+.3} LU from processed"
            );
            // And it is the input, aligned: the bypass follows the dry waveform sample for sample.
            let k = n - 1000;
            let ratio = out[0][k] / dry[0][k - 256];
            assert!(
                (20.0 * f64::from(ratio.abs()).log10() - f64::from(gain_db)).abs() < 0.2,
                "ratio {ratio}"
            );
        }
    }

    #[test]
    fn delta_of_a_pure_gain_change_is_silence() {
        let sr = 44_100.0;
        let n = 44_100 * 10;
        let dry = vec![noise(n, 7, 0.25)];
        let out = run(sr, Listen::Delta, 6.0, 10, &dry);
        let rms = |x: &[f32]| {
            (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
        };
        let residual = 20.0 * (rms(&out[0][n - 44_100..]) / rms(&dry[0][n - 44_100..])).log10();
        assert!(residual < -30.0, "delta residual {residual:.1} dB");
    }

    #[test]
    fn switching_crossfades_without_clicks() {
        let sr = 48_000.0;
        let n = 48_000 * 4;
        let tone: Vec<f32> = (0..n)
            .map(|i| (0.5 * (i as f64 * 0.05).sin()) as f32)
            .collect();
        let dry = [tone.clone()];
        let wet: Vec<Vec<f32>> = vec![tone.iter().map(|v| -v * 2.0).collect()]; // inverted and louder
        let mut ab = LevelMatchedAb::new(sr, 1, 16);
        let mut out = wet.clone();
        let mut pos = 0;
        let mut switches = [Listen::MatchedBypass, Listen::Delta, Listen::Processed]
            .iter()
            .cycle();
        while pos < n {
            let k = 4800.min(n - pos);
            if pos > 0 && pos % 48_000 == 0 {
                ab.set_listen(*switches.next().unwrap());
            }
            let d = [&dry[0][pos..pos + k]];
            let mut w = [&mut out[0][pos..pos + k]];
            ab.process(&d, &mut w);
            pos += k;
        }
        // The signals' own largest step is 0.05·amplitude per sample; a click would be far more.
        let max_step = out[0]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_step < 0.25, "largest sample-to-sample step {max_step}");
    }

    #[test]
    fn silence_and_garbage_are_safe() {
        let mut ab = LevelMatchedAb::new(8_000.0, 2, 10);
        ab.set_listen(Listen::MatchedBypass);
        let dry = [vec![f32::NAN; 800], vec![0.0; 800]];
        let mut wet = [vec![f32::INFINITY; 800], vec![0.0; 800]];
        let d: Vec<&[f32]> = dry.iter().map(|c| &c[..]).collect();
        let mut w: Vec<&mut [f32]> = wet.iter_mut().map(|c| &mut c[..]).collect();
        ab.process(&d, &mut w);
        assert!(wet.iter().flatten().all(|v| v.is_finite()));
        assert_eq!(ab.offset_lu(), 0.0);
    }
}

//! BS.1770 / EBU R 128 loudness: momentary, short-term, integrated and loudness range.
//!
//! Time is cut into 10 ms sub-blocks. Each sub-block stores the channel-weighted sum of squared
//! K-weighted samples and its sample count. Momentary (400 ms) and short-term (3 s) loudness are
//! recomputed from those sub-blocks every 10 ms (no running add/subtract sums that drift).
//! Every 100 ms a complete 400 ms gating block goes into a histogram for the integrated loudness,
//! and once 3 s have passed a short-term value goes into a second histogram for the loudness range.
//! The histograms have fixed size, so hours of programme use no more memory than seconds.

use crate::k_weighting::KWeighting;

/// Sub-blocks per second: the update rate of momentary and short-term loudness (Hz).
pub const UPDATES_PER_SECOND: usize = 100;
/// Sub-blocks in the 400 ms momentary window.
const MOMENTARY_SUBBLOCKS: usize = 40;
/// Sub-blocks in the 3 s short-term window.
const SHORT_TERM_SUBBLOCKS: usize = 300;
/// Sub-blocks between gating blocks (100 ms hop = 75 % overlap of 400 ms blocks).
const GATING_HOP_SUBBLOCKS: usize = 10;
/// Loudness offset of BS.1770: L = −0.691 + 10·log10(power).
const LOUDNESS_OFFSET_DB: f64 = -0.691;
/// Absolute gate for integrated loudness and LRA (LUFS).
pub const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// Relative gate of integrated loudness (LU below the abs-gated mean).
const INTEGRATED_RELATIVE_GATE_LU: f64 = -10.0;
/// Relative gate of loudness range (LU below the abs-gated mean of short-term values).
const LRA_RELATIVE_GATE_LU: f64 = -20.0;

/// Loudness (LUFS) of a mean-square power; `-inf` for silence.
#[inline]
pub fn power_to_lufs(power: f64) -> f64 {
    if power > 0.0 {
        LOUDNESS_OFFSET_DB + 10.0 * power.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// Mean-square power of a loudness (LUFS).
#[inline]
pub fn lufs_to_power(lufs: f64) -> f64 {
    10f64.powf((lufs - LOUDNESS_OFFSET_DB) / 10.0)
}

/// A fixed-size histogram of block loudness that keeps, per bin, the count and the exact sum of
/// the blocks' powers. Gated means are therefore exact except for the blocks that fall in the one
/// bin straddling a relative gate (which is 0.01 LU wide); percentiles are exact to half a bin.
#[derive(Debug, Clone)]
struct LoudnessHistogram {
    /// Number of blocks per bin.
    counts: Vec<u64>,
    /// Sum of the blocks' mean-square powers per bin.
    power_sums: Vec<f64>,
}

/// Lower edge of the histogram (LUFS): the absolute gate.
const HIST_MIN_LUFS: f64 = ABSOLUTE_GATE_LUFS;
/// Upper edge of the histogram (LUFS); louder blocks land in the top bin with their exact power.
const HIST_MAX_LUFS: f64 = 30.0;
/// Bin width (LU).
const HIST_BIN_LU: f64 = 0.01;
/// Number of bins.
const HIST_BINS: usize = ((HIST_MAX_LUFS - HIST_MIN_LUFS) / HIST_BIN_LU) as usize;

impl LoudnessHistogram {
    fn new() -> Self {
        Self {
            counts: vec![0; HIST_BINS],
            power_sums: vec![0.0; HIST_BINS],
        }
    }

    fn clear(&mut self) {
        self.counts.fill(0);
        self.power_sums.fill(0.0);
    }

    /// Adds one block if it passes the absolute gate.
    fn add(&mut self, power: f64) {
        let lufs = power_to_lufs(power);
        if lufs.is_nan() || lufs < HIST_MIN_LUFS {
            return;
        }
        let bin = (((lufs - HIST_MIN_LUFS) / HIST_BIN_LU) as usize).min(HIST_BINS - 1);
        self.counts[bin] += 1;
        self.power_sums[bin] += power;
    }

    /// Centre loudness of a bin (LUFS).
    fn bin_centre(bin: usize) -> f64 {
        HIST_MIN_LUFS + (bin as f64 + 0.5) * HIST_BIN_LU
    }

    /// First bin whose centre is at or above `lufs`.
    fn first_bin_at_or_above(lufs: f64) -> usize {
        let x = ((lufs - HIST_MIN_LUFS) / HIST_BIN_LU - 0.5).ceil();
        if x <= 0.0 {
            0
        } else {
            (x as usize).min(HIST_BINS)
        }
    }

    /// Mean power of the blocks from bin `from` upwards, or None when there are none.
    fn mean_power_from(&self, from: usize) -> Option<f64> {
        let count: u64 = self.counts[from..].iter().sum();
        if count == 0 {
            return None;
        }
        let sum: f64 = self.power_sums[from..].iter().sum();
        Some(sum / count as f64)
    }

    /// Gated mean loudness: absolute gate, then a relative gate `relative_lu` below the mean.
    fn gated_loudness(&self, relative_lu: f64) -> Option<(f64, usize)> {
        let abs_mean = self.mean_power_from(0)?;
        let gate_bin = Self::first_bin_at_or_above(power_to_lufs(abs_mean) + relative_lu);
        self.mean_power_from(gate_bin)
            .map(|p| (power_to_lufs(p), gate_bin))
    }

    /// Loudness range (Tech 3342): P95 − P10 of the gated block loudness values.
    fn loudness_range(&self) -> Option<f64> {
        let (_, gate_bin) = self.gated_loudness(LRA_RELATIVE_GATE_LU)?;
        let n: u64 = self.counts[gate_bin..].iter().sum();
        if n == 0 {
            return None;
        }
        // MATLAB-style percentile index round((n−1)·p/100 + 1), 1-based, on the sorted values.
        let index = |p: f64| ((n - 1) as f64 * p / 100.0 + 1.0).round() as u64;
        let value_at = |k: u64| {
            let mut seen = 0;
            for (bin, &c) in self.counts.iter().enumerate().skip(gate_bin) {
                seen += c;
                if seen >= k {
                    return Self::bin_centre(bin);
                }
            }
            Self::bin_centre(HIST_BINS - 1)
        };
        Some(value_at(index(95.0)) - value_at(index(10.0)))
    }
}

/// Everything the loudness meter knows at one moment. Values not yet defined are `-inf` (levels)
/// or 0 (ranges).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoudnessReading {
    /// Momentary loudness, 400 ms window (LUFS).
    pub momentary_lufs: f64,
    /// Short-term loudness, 3 s window (LUFS).
    pub short_term_lufs: f64,
    /// Integrated (gated) loudness since reset (LUFS).
    pub integrated_lufs: f64,
    /// Loudness range since reset (LU).
    pub loudness_range_lu: f64,
    /// Highest momentary loudness since reset (LUFS).
    pub momentary_max_lufs: f64,
    /// Highest short-term loudness since reset (LUFS).
    pub short_term_max_lufs: f64,
}

/// Stereo image readings from the K-weighted left and right channels. The K-weighting's
/// high-pass keeps DC and sub-sonic rumble from dominating the correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StereoReading {
    /// Correlation over the last 400 ms (−1 … +1; +1 = mono, 0 = unrelated, −1 = anti-phase).
    pub correlation_momentary: f64,
    /// Correlation over the programme (sub-blocks above the absolute gate).
    pub correlation: f64,
    /// Left minus right loudness over the programme (LU; positive = left louder).
    pub balance_lu: f64,
    /// Loudness change when the programme is summed to mono (LU; 0 for mono material, about −3 for
    /// unrelated channels, −inf for exact anti-phase).
    pub mono_loss_lu: f64,
}

/// Correlation coefficient from Σl², Σr², Σl·r; 1 for silence (nothing to disagree about).
fn correlation([ll, rr, lr]: [f64; 3]) -> f64 {
    let d = (ll * rr).sqrt();
    if d > 0.0 {
        (lr / d).clamp(-1.0, 1.0)
    } else {
        1.0
    }
}

/// 10·log10(Σl² / Σr²); 0 when either side is silent.
fn balance([ll, rr, _]: [f64; 3]) -> f64 {
    if ll > 0.0 && rr > 0.0 {
        10.0 * (ll / rr).log10()
    } else {
        0.0
    }
}

/// Loudness of the mono sum (l+r)/2 on both channels relative to the stereo loudness:
/// 2·Σ((l+r)/2)² / (Σl² + Σr²) = (Σl² + 2Σlr + Σr²) / (2(Σl² + Σr²)).
fn mono_loss([ll, rr, lr]: [f64; 3]) -> f64 {
    let stereo = ll + rr;
    if stereo > 0.0 {
        let mono = (ll + 2.0 * lr + rr) / 2.0;
        if mono > 0.0 {
            10.0 * (mono / stereo).log10()
        } else {
            f64::NEG_INFINITY
        }
    } else {
        0.0
    }
}

/// A streaming BS.1770 loudness meter for any channel count.
#[derive(Debug, Clone)]
pub struct LoudnessMeter {
    /// One K-weighting filter per channel.
    filters: Vec<KWeighting>,
    /// Channel weights Gᵢ (1.0 for L, R, C; 1.41 for surrounds; 0 for LFE).
    weights: Vec<f64>,
    /// Sample rate (Hz).
    sample_rate_hz: f64,
    /// Ring of the last 3 s of sub-blocks: weighted sum of squares.
    ring_energy: Vec<f64>,
    /// Completed sub-blocks since reset.
    subblocks_done: u64,
    /// Weighted sum of squares of the sub-block being filled.
    current_energy: f64,
    /// K-weighted Σl², Σr², Σl·r of the first two channels in the sub-block being filled.
    current_stereo: [f64; 3],
    /// Ring of the last 3 s of sub-blocks: K-weighted Σl², Σr², Σl·r.
    ring_stereo: Vec<[f64; 3]>,
    /// K-weighted Σl², Σr², Σl·r over every sub-block louder than the absolute gate.
    program_stereo: [f64; 3],
    /// Frames in the sub-block being filled.
    current_frames: u32,
    /// Frames the sub-block being filled must reach (varies by one at fractional rates).
    current_target: u32,
    /// Gating blocks of 400 ms for integrated loudness.
    gating_blocks: LoudnessHistogram,
    /// Short-term values at 10 Hz for loudness range.
    short_term_values: LoudnessHistogram,
    /// Last computed momentary power.
    momentary_power: f64,
    /// Last computed short-term power.
    short_term_power: f64,
    /// Highest momentary power since reset.
    momentary_max_power: f64,
    /// Highest short-term power since reset.
    short_term_max_power: f64,
}

impl LoudnessMeter {
    /// A meter for `channels` channels at `sample_rate_hz`, all weighted 1.0 (mono, stereo).
    pub fn new(sample_rate_hz: f64, channels: usize) -> Self {
        Self::with_weights(sample_rate_hz, &vec![1.0; channels.max(1)])
    }

    /// A meter with explicit channel weights (e.g. `[1, 1, 1, 0, 1.41, 1.41]` for 5.1).
    pub fn with_weights(sample_rate_hz: f64, weights: &[f64]) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let weights: Vec<f64> = if weights.is_empty() {
            vec![1.0]
        } else {
            weights.to_vec()
        };
        let mut m = Self {
            filters: vec![KWeighting::new(sr); weights.len()],
            weights,
            sample_rate_hz: sr,
            ring_energy: vec![0.0; SHORT_TERM_SUBBLOCKS],
            subblocks_done: 0,
            current_energy: 0.0,
            current_stereo: [0.0; 3],
            ring_stereo: vec![[0.0; 3]; SHORT_TERM_SUBBLOCKS],
            program_stereo: [0.0; 3],
            current_frames: 0,
            current_target: 0,
            gating_blocks: LoudnessHistogram::new(),
            short_term_values: LoudnessHistogram::new(),
            momentary_power: 0.0,
            short_term_power: 0.0,
            momentary_max_power: 0.0,
            short_term_max_power: 0.0,
        };
        m.reset();
        m
    }

    /// Number of channels this meter expects.
    pub fn channels(&self) -> usize {
        self.weights.len()
    }

    /// Sample rate (Hz).
    pub fn sample_rate_hz(&self) -> f64 {
        self.sample_rate_hz
    }

    /// Forgets everything measured so far. Does not allocate.
    pub fn reset(&mut self) {
        for f in &mut self.filters {
            f.reset();
        }
        self.ring_energy.fill(0.0);
        self.subblocks_done = 0;
        self.current_energy = 0.0;
        self.current_stereo = [0.0; 3];
        self.ring_stereo.fill([0.0; 3]);
        self.program_stereo = [0.0; 3];
        self.current_frames = 0;
        self.current_target = self.subblock_len(0);
        self.gating_blocks.clear();
        self.short_term_values.clear();
        self.momentary_power = 0.0;
        self.short_term_power = 0.0;
        self.momentary_max_power = 0.0;
        self.short_term_max_power = 0.0;
    }

    /// Length in frames of sub-block `k`: boundaries fall at round(k · rate / 100), so windows are
    /// exact at rates that are multiples of 100 Hz and off by at most one frame elsewhere.
    fn subblock_len(&self, k: u64) -> u32 {
        let per = self.sample_rate_hz / UPDATES_PER_SECOND as f64;
        let end = ((k + 1) as f64 * per).round() as u64;
        let start = (k as f64 * per).round() as u64;
        (end - start).max(1) as u32
    }

    /// Feeds planar audio: one slice per channel, all the same length. Extra channels beyond the
    /// meter's channel count are ignored; missing ones count as silence.
    pub fn process<S: AsRef<[f32]>>(&mut self, channels: &[S]) {
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        let used = channels.len().min(self.filters.len());
        let mut pos = 0;
        while pos < frames {
            let n = ((self.current_target - self.current_frames) as usize).min(frames - pos);
            let mut energy = 0.0;
            let mut c = 0;
            while c + 1 < used {
                let (lo, hi) = self.filters.split_at_mut(c + 1);
                let [sa, sb, sab] = KWeighting::sum_squares_pair(
                    &mut lo[c],
                    &mut hi[0],
                    &channels[c].as_ref()[pos..pos + n],
                    &channels[c + 1].as_ref()[pos..pos + n],
                );
                energy += self.weights[c] * sa + self.weights[c + 1] * sb;
                if c == 0 {
                    self.current_stereo[0] += sa;
                    self.current_stereo[1] += sb;
                    self.current_stereo[2] += sab;
                }
                c += 2;
            }
            if c < used {
                let s = self.filters[c].sum_squares(&channels[c].as_ref()[pos..pos + n]);
                energy += self.weights[c] * s;
            }
            self.current_energy += energy;
            self.current_frames += n as u32;
            pos += n;
            if self.current_frames == self.current_target {
                self.finish_subblock();
            }
        }
    }

    /// Feeds interleaved audio with the meter's channel count.
    pub fn process_interleaved(&mut self, samples: &[f32]) {
        let ch = self.channels();
        let mut planar: [[f32; 256]; 8] = [[0.0; 256]; 8];
        if ch > planar.len() {
            return;
        }
        for chunk in samples.chunks(256 * ch) {
            let frames = chunk.len() / ch;
            for (i, frame) in chunk.chunks_exact(ch).enumerate() {
                for (c, &s) in frame.iter().enumerate() {
                    planar[c][i] = s;
                }
            }
            let views: [&[f32]; 8] = std::array::from_fn(|c| &planar[c][..frames]);
            self.process(&views[..ch]);
        }
    }

    fn finish_subblock(&mut self) {
        let slot = (self.subblocks_done % SHORT_TERM_SUBBLOCKS as u64) as usize;
        self.ring_energy[slot] = self.current_energy;
        self.ring_stereo[slot] = self.current_stereo;
        let frames = f64::from(self.current_frames);
        if power_to_lufs(self.current_energy / frames) >= ABSOLUTE_GATE_LUFS {
            for (p, c) in self.program_stereo.iter_mut().zip(self.current_stereo) {
                *p += c;
            }
        }
        self.current_stereo = [0.0; 3];
        self.subblocks_done += 1;
        self.current_energy = 0.0;
        self.current_frames = 0;
        self.current_target = self.subblock_len(self.subblocks_done);

        self.momentary_power = self.window_power(MOMENTARY_SUBBLOCKS);
        self.short_term_power = self.window_power(SHORT_TERM_SUBBLOCKS);
        self.momentary_max_power = self.momentary_max_power.max(self.momentary_power);
        if self.subblocks_done >= SHORT_TERM_SUBBLOCKS as u64 {
            self.short_term_max_power = self.short_term_max_power.max(self.short_term_power);
        }
        if self
            .subblocks_done
            .is_multiple_of(GATING_HOP_SUBBLOCKS as u64)
        {
            if self.subblocks_done >= MOMENTARY_SUBBLOCKS as u64 {
                self.gating_blocks.add(self.momentary_power);
            }
            if self.subblocks_done >= SHORT_TERM_SUBBLOCKS as u64 {
                self.short_term_values.add(self.short_term_power);
            }
        }
    }

    /// Mean power over the last `n` sub-blocks; before `n` sub-blocks exist the window is taken
    /// as preceded by silence (the meter starts from silence).
    fn window_power(&self, n: usize) -> f64 {
        let mut energy = 0.0;
        for i in 0..n {
            let k = (self.subblocks_done + SHORT_TERM_SUBBLOCKS as u64 - 1 - i as u64)
                % SHORT_TERM_SUBBLOCKS as u64;
            energy += self.ring_energy[k as usize];
        }
        let frames = (n as f64) * self.sample_rate_hz / UPDATES_PER_SECOND as f64;
        energy / frames
    }

    /// Frames still needed to complete the current 10 ms sub-block. A caller that feeds exactly
    /// this many frames knows a sub-block (and so a momentary/short-term update) just finished.
    pub fn frames_to_boundary(&self) -> usize {
        (self.current_target - self.current_frames) as usize
    }

    /// Completed 10 ms sub-blocks since reset.
    pub fn subblocks_done(&self) -> u64 {
        self.subblocks_done
    }

    /// Stereo readings of the first two channels (all zero-information values for mono).
    pub fn stereo_reading(&self) -> StereoReading {
        let mut window = [0.0; 3];
        for i in 0..MOMENTARY_SUBBLOCKS {
            let k = (self.subblocks_done + SHORT_TERM_SUBBLOCKS as u64 - 1 - i as u64)
                % SHORT_TERM_SUBBLOCKS as u64;
            for (w, r) in window.iter_mut().zip(self.ring_stereo[k as usize]) {
                *w += r;
            }
        }
        StereoReading {
            correlation_momentary: correlation(window),
            correlation: correlation(self.program_stereo),
            balance_lu: balance(self.program_stereo),
            mono_loss_lu: mono_loss(self.program_stereo),
        }
    }

    /// The current readings.
    pub fn reading(&self) -> LoudnessReading {
        LoudnessReading {
            momentary_lufs: power_to_lufs(self.momentary_power),
            short_term_lufs: power_to_lufs(self.short_term_power),
            integrated_lufs: self.integrated_lufs(),
            loudness_range_lu: self.short_term_values.loudness_range().unwrap_or(0.0),
            momentary_max_lufs: power_to_lufs(self.momentary_max_power),
            short_term_max_lufs: power_to_lufs(self.short_term_max_power),
        }
    }

    /// Momentary loudness now (LUFS). Cheap: no gating work.
    pub fn momentary_lufs(&self) -> f64 {
        power_to_lufs(self.momentary_power)
    }

    /// Short-term loudness now (LUFS). Cheap: no gating work.
    pub fn short_term_lufs(&self) -> f64 {
        power_to_lufs(self.short_term_power)
    }

    /// Integrated loudness since reset (LUFS), `-inf` until one gating block passes the gates.
    pub fn integrated_lufs(&self) -> f64 {
        self.gating_blocks
            .gated_loudness(INTEGRATED_RELATIVE_GATE_LU)
            .map_or(f64::NEG_INFINITY, |(l, _)| l)
    }
}

#[cfg(test)]
mod tests;

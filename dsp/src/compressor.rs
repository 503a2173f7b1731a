//! Glue compressor: a feed-forward bus compressor for small, smooth moves on the whole mix.
//!
//! - Detector: the sidechain (optionally high-passed, so the low end does not pump the mix) is
//!   read as peak level in dB per channel; the stereo link blends each channel's level with the
//!   louder channel's (100 % link: one gain for both, the image never shifts).
//! - Static curve (gain computer, soft knee of width W around the threshold T, ratio R):
//!   below T − W/2 the level passes, above T + W/2 it is T + (x − T)/R, and inside the knee
//!   x + (1/R − 1)(x − T + W/2)² / (2W) – the quadratic that joins both lines smoothly.
//! - Ballistics on the gain reduction in dB: one-pole attack and release; the automatic release
//!   is faster after short bursts and slower while the compressor has been working for a while.
//! - Dry/wet mix (parallel compression, zero latency so no alignment is needed), then makeup.

use crate::highpass::HighPass;
use crate::level::db_to_gain;

/// Automatic release: range (ms) and the averaging time that moves within it.
const AUTO_RELEASE_FAST_MS: f64 = 60.0;
/// See [`AUTO_RELEASE_FAST_MS`].
const AUTO_RELEASE_SLOW_MS: f64 = 1200.0;
/// See [`AUTO_RELEASE_FAST_MS`].
const AUTO_RELEASE_AVERAGE_MS: f64 = 2000.0;
/// Average gain reduction (dB) at which the automatic release is at its slowest.
const AUTO_RELEASE_SUSTAINED_DB: f64 = 4.0;
/// The automatic release time is re-derived every this many samples, counted from the reset, so
/// the result does not depend on how the host cuts the stream into blocks.
pub const AUTO_RELEASE_GRID: u32 = 64;
/// Level floor of the detector (dB); keeps log10 finite on silence.
const FLOOR_DB: f64 = -160.0;

/// The static curve: output level (dB) for input level `x_db`.
pub fn static_curve_db(x_db: f64, threshold_db: f64, ratio: f64, knee_db: f64) -> f64 {
    let over = x_db - threshold_db;
    if knee_db > 0.0 && 2.0 * over.abs() <= knee_db {
        let t = over + knee_db / 2.0;
        x_db + (1.0 / ratio - 1.0) * t * t / (2.0 * knee_db)
    } else if over > 0.0 {
        threshold_db + over / ratio
    } else {
        x_db
    }
}

/// One-pole coefficient for a time constant (ms) at a sample rate.
fn coeff(ms: f64, sample_rate_hz: f64) -> f64 {
    (-1.0 / (ms.max(0.01) * 1e-3 * sample_rate_hz)).exp()
}

/// The glue compressor for up to 2 channels.
#[derive(Debug, Clone)]
pub struct GlueCompressor {
    sample_rate_hz: f64,
    threshold_db: f64,
    ratio: f64,
    knee_db: f64,
    attack: f64,
    release: f64,
    release_ms: f64,
    auto_release: bool,
    /// Release coefficient the automatic release chose at the last grid point.
    auto_coeff: f64,
    /// Samples until the next automatic-release update (0 = update before the next sample).
    grid_left: u32,
    /// Slow average of the gain reduction (dB) for the automatic release, and its coefficient.
    gr_slow_db: f64,
    gr_slow_coeff: f64,
    sidechain_hz: Option<f32>,
    sidechain_hp: [HighPass; 2],
    link: f64,
    mix: f32,
    makeup: f32,
    /// Gain reduction per channel (dB, ≥ 0) after the ballistics.
    gr_db: [f64; 2],
    /// Largest gain reduction since last read (dB), for meters.
    max_gr_db: f32,
}

impl GlueCompressor {
    /// A compressor with gentle defaults: −18 dB threshold, 2:1, 6 dB knee, 10 ms attack,
    /// 200 ms release, full link, 100 % wet, no makeup.
    pub fn new(sample_rate_hz: f64) -> Self {
        let sr = crate::clamp_sample_rate(sample_rate_hz);
        let mut c = Self {
            sample_rate_hz: sr,
            threshold_db: -18.0,
            ratio: 2.0,
            knee_db: 6.0,
            attack: 0.0,
            release: 0.0,
            release_ms: 200.0,
            auto_release: false,
            auto_coeff: 0.0,
            grid_left: 0,
            gr_slow_db: 0.0,
            gr_slow_coeff: coeff(AUTO_RELEASE_AVERAGE_MS, sr),
            sidechain_hz: None,
            sidechain_hp: [HighPass::default(); 2],
            link: 1.0,
            mix: 1.0,
            makeup: 1.0,
            gr_db: [0.0; 2],
            max_gr_db: 0.0,
        };
        c.set_attack_ms(10.0);
        c.set_release_ms(200.0);
        c
    }

    /// Threshold (dB, −60…0).
    pub fn set_threshold_db(&mut self, db: f32) {
        if db.is_finite() {
            self.threshold_db = f64::from(db.clamp(-60.0, 0.0));
        }
    }

    /// Ratio (1…10).
    pub fn set_ratio(&mut self, ratio: f32) {
        if ratio.is_finite() {
            self.ratio = f64::from(ratio.clamp(1.0, 10.0));
        }
    }

    /// Knee width (dB, 0…24).
    pub fn set_knee_db(&mut self, db: f32) {
        if db.is_finite() {
            self.knee_db = f64::from(db.clamp(0.0, 24.0));
        }
    }

    /// Attack (ms, 0.1…100).
    pub fn set_attack_ms(&mut self, ms: f32) {
        if ms.is_finite() {
            self.attack = coeff(f64::from(ms.clamp(0.1, 100.0)), self.sample_rate_hz);
        }
    }

    /// Release (ms, 10…2000), used while the automatic release is off.
    pub fn set_release_ms(&mut self, ms: f32) {
        if ms.is_finite() {
            self.release_ms = f64::from(ms.clamp(10.0, 2000.0));
            self.release = coeff(self.release_ms, self.sample_rate_hz);
        }
    }

    /// Program-dependent release (60…1200 ms).
    pub fn set_auto_release(&mut self, auto: bool) {
        self.auto_release = auto;
    }

    /// Sidechain high-pass (Hz, 20…300) or `None`.
    pub fn set_sidechain_hz(&mut self, hz: Option<f32>) {
        let hz = hz.filter(|h| h.is_finite()).map(|h| h.clamp(20.0, 300.0));
        if hz == self.sidechain_hz {
            return;
        }
        if self.sidechain_hz.is_none() {
            for s in &mut self.sidechain_hp {
                s.reset();
            }
        }
        self.sidechain_hz = hz;
        if let Some(hz) = hz {
            for s in &mut self.sidechain_hp {
                s.design(
                    f64::from(hz),
                    self.sample_rate_hz,
                    std::f64::consts::FRAC_1_SQRT_2,
                );
            }
        }
    }

    /// Stereo link (0…1).
    pub fn set_link(&mut self, link: f32) {
        if link.is_finite() {
            self.link = f64::from(link.clamp(0.0, 1.0));
        }
    }

    /// Dry/wet mix (0…1; 1 = fully compressed).
    pub fn set_mix(&mut self, mix: f32) {
        if mix.is_finite() {
            self.mix = mix.clamp(0.0, 1.0);
        }
    }

    /// Makeup gain (dB, 0…24).
    pub fn set_makeup_db(&mut self, db: f32) {
        if db.is_finite() {
            self.makeup = db_to_gain(db.clamp(0.0, 24.0));
        }
    }

    /// Clears the state. Does not allocate.
    pub fn reset(&mut self) {
        self.gr_db = [0.0; 2];
        self.gr_slow_db = 0.0;
        self.grid_left = 0;
        self.max_gr_db = 0.0;
        for s in &mut self.sidechain_hp {
            s.reset();
        }
    }

    /// Largest gain reduction since the previous call (dB, ≥ 0).
    pub fn take_max_gain_reduction_db(&mut self) -> f32 {
        std::mem::replace(&mut self.max_gr_db, 0.0)
    }

    /// Processes up to 2 planar channels in place.
    pub fn process<S: AsMut<[f32]>>(&mut self, channels: &mut [S]) {
        let used = channels.len().min(2);
        if used == 0 {
            return;
        }
        let frames = channels[0].as_mut().len();
        let mut start = 0;
        while start < frames {
            if self.grid_left == 0 {
                self.update_auto_release();
                self.grid_left = AUTO_RELEASE_GRID;
            }
            let n = (self.grid_left as usize).min(frames - start);
            self.process_span(channels, used, start, n);
            self.grid_left -= n as u32;
            start += n;
        }
    }

    /// The automatic release time from the slow average of the gain reduction: the more
    /// sustained the compression, the slower the release.
    fn update_auto_release(&mut self) {
        let sustained = (self.gr_slow_db / AUTO_RELEASE_SUSTAINED_DB).clamp(0.0, 1.0);
        let ms = AUTO_RELEASE_FAST_MS + (AUTO_RELEASE_SLOW_MS - AUTO_RELEASE_FAST_MS) * sustained;
        self.auto_coeff = coeff(ms, self.sample_rate_hz);
    }

    /// Frames `start..start + n` of `used` channels, within one automatic-release grid step.
    fn process_span<S: AsMut<[f32]>>(
        &mut self,
        channels: &mut [S],
        used: usize,
        start: usize,
        n: usize,
    ) {
        let release = if self.auto_release {
            self.auto_coeff
        } else {
            self.release
        };
        // Fully linked: both channels see the same level, so one gain serves both.
        let linked = self.link >= 1.0 && used == 2;
        for i in start..start + n {
            let mut level_db = [FLOOR_DB; 2];
            for (c, level) in level_db.iter_mut().enumerate().take(used) {
                let x = f64::from(channels[c].as_mut()[i]);
                let x = if x.is_finite() { x } else { 0.0 };
                let sc = if self.sidechain_hz.is_some() {
                    let y = self.sidechain_hp[c].tick(x);
                    if y.is_finite() {
                        y
                    } else {
                        self.sidechain_hp[c].reset();
                        0.0
                    }
                } else {
                    x
                };
                // 20·log10|x| as 20·log10(2)·log2|x|: the f32 log2 is several times cheaper
                // than an f64 log10 and exact to ~1e-6 dB, far below anything audible.
                *level = f64::from(DB_PER_OCTAVE * (sc.abs() as f32).log2()).max(FLOOR_DB);
            }
            let loudest = level_db[0].max(if used > 1 { level_db[1] } else { FLOOR_DB });
            let mut deepest = 0.0f64;
            let computed = if linked { 1 } else { used };
            let mut gains = [1.0f32; 2];
            for c in 0..computed {
                let level = self.link * loudest + (1.0 - self.link) * level_db[c];
                let target =
                    level - static_curve_db(level, self.threshold_db, self.ratio, self.knee_db);
                let gr = &mut self.gr_db[c];
                let k = if target > *gr { self.attack } else { release };
                *gr = target + (*gr - target) * k;
                deepest = deepest.max(*gr);
                // 10^(−gr/20) as 2^(−gr·log2(10)/20).
                gains[c] = if *gr > 1e-9 {
                    (-(*gr as f32) * OCTAVES_PER_DB).exp2()
                } else {
                    1.0
                };
            }
            if linked {
                self.gr_db[1] = self.gr_db[0];
                gains[1] = gains[0];
            }
            for (c, &gain) in gains.iter().enumerate().take(used) {
                let s = &mut channels[c].as_mut()[i];
                let dry = *s;
                let wet = dry * gain;
                *s = (dry + (wet - dry) * self.mix) * self.makeup;
            }
            self.gr_slow_db = deepest + (self.gr_slow_db - deepest) * self.gr_slow_coeff;
            self.max_gr_db = self.max_gr_db.max(deepest as f32);
        }
    }
}

/// 20·log10(2): decibels per doubling of amplitude.
const DB_PER_OCTAVE: f32 = 6.020_6;
/// log2(10)/20: doublings per decibel of amplitude.
const OCTAVES_PER_DB: f32 = 0.166_096_4;

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f64 = 48_000.0;

    /// Steady output level (dB) for a constant input level: a DC input, so the detector sees
    /// exactly one level and the static curve can be read off directly.
    fn steady_out_db(c: &mut GlueCompressor, in_db: f64) -> f64 {
        c.reset();
        let x = 10f64.powf(in_db / 20.0) as f32;
        let mut buf = vec![x; (SR * 3.0) as usize];
        c.process(&mut [&mut buf[..]]);
        20.0 * f64::from(*buf.last().unwrap()).log10()
    }

    #[test]
    fn static_curve_matches_its_formula() {
        for (threshold, ratio, knee) in [
            (-18.0f32, 2.0f32, 6.0f32),
            (-30.0, 4.0, 0.0),
            (-10.0, 10.0, 12.0),
        ] {
            let mut c = GlueCompressor::new(SR);
            c.set_threshold_db(threshold);
            c.set_ratio(ratio);
            c.set_knee_db(knee);
            c.set_attack_ms(1.0);
            c.set_release_ms(50.0);
            for in_db in (-48..=0).step_by(3).map(f64::from) {
                let expected = static_curve_db(
                    in_db,
                    f64::from(threshold),
                    f64::from(ratio),
                    f64::from(knee),
                );
                let measured = steady_out_db(&mut c, in_db);
                assert!(
                    (measured - expected).abs() < 0.01,
                    "T {threshold} R {ratio} W {knee}: in {in_db} dB → {measured:.3}, formula {expected:.3}"
                );
            }
        }
        // The formula itself, at its defining points: below the knee, on the upper line, and
        // continuous at both knee edges.
        let f = |x| static_curve_db(x, -20.0, 4.0, 8.0);
        assert_eq!(f(-30.0), -30.0);
        assert!((f(0.0) - (-20.0 + 20.0 / 4.0)).abs() < 1e-12);
        assert!((f(-24.0) - -24.0).abs() < 1e-12);
        assert!((f(-16.0) - (-20.0 + 4.0 / 4.0)).abs() < 1e-12);
    }

    #[test]
    fn attack_and_release_follow_their_time_constants() {
        let mut c = GlueCompressor::new(SR);
        c.set_threshold_db(-20.0);
        c.set_ratio(10.0);
        c.set_knee_db(0.0);
        c.set_attack_ms(10.0);
        c.set_release_ms(100.0);
        // Step from below to 10 dB above the threshold: the reduction heads for 9 dB and is
        // 1 − 1/e of the way after one attack time constant.
        let loud = 10f32.powf(-10.0 / 20.0);
        let mut buf = vec![loud; (SR * 0.010) as usize];
        c.process(&mut [&mut buf[..]]);
        let gr = -20.0 * f64::from(*buf.last().unwrap() / loud).log10();
        let expected = 9.0 * (1.0 - (-1.0f64).exp());
        assert!(
            (gr - expected).abs() < 0.05,
            "after 10 ms: {gr:.3} dB, expected {expected:.3}"
        );
        let mut buf = vec![loud; (SR * 1.0) as usize];
        c.process(&mut [&mut buf[..]]);
        // Then quiet: after one release time constant 1/e of the 9 dB is left.
        let quiet = 10f32.powf(-40.0 / 20.0);
        let mut buf = vec![quiet; (SR * 0.100) as usize];
        c.process(&mut [&mut buf[..]]);
        let gr = -20.0 * f64::from(*buf.last().unwrap() / quiet).log10();
        let expected = 9.0 * (-1.0f64).exp();
        assert!(
            (gr - expected).abs() < 0.05,
            "after 100 ms: {gr:.3} dB, expected {expected:.3}"
        );
    }

    #[test]
    fn linked_channels_share_one_gain_and_mix_blends_dry() {
        let mut c = GlueCompressor::new(SR);
        c.set_threshold_db(-30.0);
        c.set_ratio(4.0);
        let (mut l, mut r) = (vec![0.5f32; 48_000], vec![0.05f32; 48_000]);
        c.process(&mut [&mut l[..], &mut r[..]]);
        let (gl, gr) = (l[47_999] / 0.5, r[47_999] / 0.05);
        assert!((gl - gr).abs() < 1e-6, "linked gains differ: {gl} vs {gr}");
        let mut c = GlueCompressor::new(SR);
        c.set_threshold_db(-30.0);
        c.set_ratio(4.0);
        c.set_link(0.0);
        let (mut l, mut r) = (vec![0.5f32; 48_000], vec![0.05f32; 48_000]);
        c.process(&mut [&mut l[..], &mut r[..]]);
        assert!(
            l[47_999] / 0.5 < r[47_999] / 0.05,
            "unlinked: the loud side is reduced more"
        );
        // 50 % mix: halfway between dry and fully compressed.
        let mut wet = GlueCompressor::new(SR);
        wet.set_threshold_db(-30.0);
        let mut half = wet.clone();
        half.set_mix(0.5);
        let (mut a, mut b) = (vec![0.5f32; 48_000], vec![0.5f32; 48_000]);
        wet.process(&mut [&mut a[..]]);
        half.process(&mut [&mut b[..]]);
        assert!((b[47_999] - (0.5 + a[47_999]) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn sidechain_high_pass_ignores_the_low_end() {
        let tone = |hz: f64| -> Vec<f32> {
            (0..96_000)
                .map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / SR).sin()) as f32)
                .collect()
        };
        let gr_for = |hz: f64, sc: Option<f32>| {
            let mut c = GlueCompressor::new(SR);
            c.set_threshold_db(-20.0);
            c.set_sidechain_hz(sc);
            let mut x = tone(hz);
            c.process(&mut [&mut x[..]]);
            c.take_max_gain_reduction_db()
        };
        assert!(gr_for(30.0, None) > 3.0);
        assert!(gr_for(30.0, Some(150.0)) < gr_for(30.0, None) - 3.0);
        assert!((gr_for(2000.0, Some(150.0)) - gr_for(2000.0, None)).abs() < 0.2);
    }

    #[test]
    fn automatic_release_slows_down_under_sustained_compression() {
        let release_after = |loud_s: f64| {
            // About 4.5 dB of reduction: glue territory.
            let mut c = GlueCompressor::new(SR);
            c.set_threshold_db(-12.0);
            c.set_ratio(4.0);
            c.set_knee_db(0.0);
            c.set_auto_release(true);
            let mut loud = vec![0.5f32; (SR * loud_s) as usize];
            for chunk in loud.chunks_mut(512) {
                c.process(&mut [chunk]);
            }
            let mut quiet = vec![0.001f32; (SR * 0.2) as usize];
            for chunk in quiet.chunks_mut(512) {
                c.process(&mut [chunk]);
            }
            -20.0 * (quiet.last().unwrap() / 0.001).log10()
        };
        let after_burst = release_after(0.05);
        let after_long = release_after(5.0);
        eprintln!(
            "200 ms after: {after_burst:.2} dB left after a burst, {after_long:.2} after 5 s"
        );
        assert!(
            after_long > 2.0 * after_burst,
            "{after_long} vs {after_burst} dB left"
        );
    }
}

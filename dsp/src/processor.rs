//! The one shape every processor in lathe-dsp has.
//!
//! - `prepare(sample_rate, channels)` sets a processor up for a stream (it may allocate) and
//!   refuses channel counts it cannot process with a [`PrepareError`] instead of silently
//!   ignoring channels;
//! - `reset()` clears the signal state (settings stay, glides land) without allocating;
//! - `latency_samples()` is the delay the processor adds;
//! - `process(channels)` works in place on planar slices of equal length, any length from 0,
//!   never allocates, and gives the same output for any partition of the stream into blocks.
//!
//! Settings are set through each processor's own setters (or [`crate::master::MasterSettings`]
//! for the whole chain); setters never allocate.

use std::fmt;

/// Why a processor cannot be prepared.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareError {
    /// The processor does not take this many channels.
    Channels {
        /// What was asked for.
        channels: usize,
        /// What the processor takes (e.g. "mono or stereo").
        accepts: &'static str,
        /// The processor's name.
        processor: &'static str,
    },
    /// The sample rate is outside 8…384 kHz or not finite.
    SampleRate(f64),
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Channels {
                channels,
                accepts,
                processor,
            } => write!(f, "{processor} takes {accepts}, not {channels} channels"),
            Self::SampleRate(sr) => write!(
                f,
                "sample rate {sr} Hz is outside {}…{} Hz",
                crate::MIN_SAMPLE_RATE_HZ,
                crate::MAX_SAMPLE_RATE_HZ
            ),
        }
    }
}

impl std::error::Error for PrepareError {}

/// See the module documentation.
pub trait Processor {
    /// Sets up for `channels` channels at `sample_rate_hz`; may allocate.
    fn prepare(&mut self, sample_rate_hz: f64, channels: usize) -> Result<(), PrepareError>;
    /// Clears the signal state; never allocates.
    fn reset(&mut self);
    /// Delay added (samples).
    fn latency_samples(&self) -> u32 {
        0
    }
    /// Processes planar channels in place; never allocates.
    fn process(&mut self, channels: &mut [&mut [f32]]);
}

/// Checks a sample rate and a channel count against what a processor takes.
pub fn check(
    processor: &'static str,
    sample_rate_hz: f64,
    channels: usize,
    range: std::ops::RangeInclusive<usize>,
    accepts: &'static str,
) -> Result<(), PrepareError> {
    if !(sample_rate_hz.is_finite()
        && (crate::MIN_SAMPLE_RATE_HZ..=crate::MAX_SAMPLE_RATE_HZ).contains(&sample_rate_hz))
    {
        return Err(PrepareError::SampleRate(sample_rate_hz));
    }
    if !range.contains(&channels) {
        return Err(PrepareError::Channels {
            channels,
            accepts,
            processor,
        });
    }
    Ok(())
}

macro_rules! mono_or_stereo {
    ($ty:ty, $name:literal, |$sr:ident| $new:expr) => {
        impl Processor for $ty {
            fn prepare(
                &mut self,
                sample_rate_hz: f64,
                channels: usize,
            ) -> Result<(), PrepareError> {
                check($name, sample_rate_hz, channels, 1..=2, "mono or stereo")?;
                let $sr = sample_rate_hz;
                *self = $new;
                Ok(())
            }
            fn reset(&mut self) {
                <$ty>::reset(self);
            }
            fn process(&mut self, channels: &mut [&mut [f32]]) {
                <$ty>::process(self, channels);
            }
        }
    };
}

mono_or_stereo!(crate::highpass::LowCut, "the low cut", |sr| {
    crate::highpass::LowCut::new(sr)
});
mono_or_stereo!(crate::compressor::GlueCompressor, "the compressor", |sr| {
    crate::compressor::GlueCompressor::new(sr)
});
mono_or_stereo!(crate::dither::Dither, "the dither", |_sr| {
    crate::dither::Dither::new()
});

impl Processor for crate::gain::RampedGain {
    fn prepare(&mut self, sample_rate_hz: f64, channels: usize) -> Result<(), PrepareError> {
        check(
            "the gain stage",
            sample_rate_hz,
            channels,
            1..=usize::MAX,
            "any channels",
        )?;
        self.set_sample_rate(sample_rate_hz);
        Ok(())
    }
    fn reset(&mut self) {
        self.settle();
    }
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        crate::gain::RampedGain::process(self, channels);
    }
}

impl Processor for crate::eq::Eq {
    fn prepare(&mut self, sample_rate_hz: f64, channels: usize) -> Result<(), PrepareError> {
        check("the EQ", sample_rate_hz, channels, 1..=2, "mono or stereo")?;
        *self = crate::eq::Eq::new(sample_rate_hz);
        Ok(())
    }
    fn reset(&mut self) {
        crate::eq::Eq::reset(self);
    }
    fn latency_samples(&self) -> u32 {
        crate::eq::Eq::latency_samples(self)
    }
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        crate::eq::Eq::process(self, channels);
    }
}

impl Processor for crate::stereo::Stereo {
    fn prepare(&mut self, sample_rate_hz: f64, channels: usize) -> Result<(), PrepareError> {
        check(
            "the stereo stage",
            sample_rate_hz,
            channels,
            2..=2,
            "stereo only",
        )?;
        *self = crate::stereo::Stereo::new(sample_rate_hz);
        Ok(())
    }
    fn reset(&mut self) {
        crate::stereo::Stereo::reset(self);
    }
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        if let [left, right] = channels {
            crate::stereo::Stereo::process(self, left, right);
        }
    }
}

impl Processor for crate::limiter::TruePeakLimiter {
    fn prepare(&mut self, sample_rate_hz: f64, channels: usize) -> Result<(), PrepareError> {
        check(
            "the limiter",
            sample_rate_hz,
            channels,
            1..=2,
            "mono or stereo",
        )?;
        *self = crate::limiter::TruePeakLimiter::new(sample_rate_hz, channels, 1.5);
        Ok(())
    }
    fn reset(&mut self) {
        crate::limiter::TruePeakLimiter::reset(self);
    }
    fn latency_samples(&self) -> u32 {
        crate::limiter::TruePeakLimiter::latency_samples(self)
    }
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        crate::limiter::TruePeakLimiter::process(self, channels);
    }
}

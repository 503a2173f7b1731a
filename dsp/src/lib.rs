//! lathe-dsp: every processor and meter Lathe uses, shared by the plugins and the CLI.
//!
//! Everything here works on `&[f32]` / `&mut [f32]` slices and plain structs. Processors follow
//! one shape: `new(sample_rate, …)` may allocate, `reset()` clears state without allocating, and
//! `process…()` never allocates, locks, logs or makes syscalls.

pub mod ab;
pub mod analyzer;
pub mod ballistics;
pub mod band_spectrum;
pub mod compressor;
pub mod denormal;
pub mod dither;
pub mod eq;
pub mod gain;
pub mod highpass;
pub mod k_weighting;
pub mod learn;
pub mod level;
pub mod limiter;
pub mod loudness;
pub mod master;
pub mod matching;
pub mod peak;
pub mod processor;
pub mod qc;
pub mod reference;
pub mod spectrum;
pub mod stereo;
pub mod switch;
pub mod targets;
pub mod true_peak;

/// Lowest sample rate any processor accepts, in Hz.
pub const MIN_SAMPLE_RATE_HZ: f64 = 8_000.0;
/// Highest sample rate any processor accepts, in Hz.
pub const MAX_SAMPLE_RATE_HZ: f64 = 384_000.0;

/// Clamps a host- or file-supplied sample rate into the supported range, so that no processor
/// ever derives coefficients from a nonsensical rate.
pub fn clamp_sample_rate(sample_rate_hz: f64) -> f64 {
    if sample_rate_hz.is_finite() {
        sample_rate_hz.clamp(MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ)
    } else {
        48_000.0
    }
}

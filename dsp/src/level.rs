//! Level conversions. Linear amplitude ("gain") and decibels; silence is `f32::NEG_INFINITY` dB.

/// Decibels to linear amplitude. `-inf` dB gives 0.
#[inline]
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Linear amplitude to decibels. 0 (and anything not positive) gives `-inf`.
#[inline]
pub fn gain_to_db(gain: f32) -> f32 {
    if gain > 0.0 {
        20.0 * gain.log10()
    } else {
        f32::NEG_INFINITY
    }
}

/// Linear amplitude to decibels in f64.
#[inline]
pub fn gain_to_db_f64(gain: f64) -> f64 {
    if gain > 0.0 {
        20.0 * gain.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// Replaces NaN and ±Inf samples with silence, so one bad sample from a host cannot poison
/// filter state or meters. Returns how many samples were replaced.
#[inline]
pub fn sanitize(samples: &mut [f32]) -> usize {
    let mut replaced = 0;
    for s in samples.iter_mut() {
        if !s.is_finite() {
            *s = 0.0;
            replaced += 1;
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fixed_points() {
        assert_eq!(db_to_gain(0.0), 1.0);
        assert!((db_to_gain(-6.0) - 0.501_187_2).abs() < 1e-6);
        assert!((db_to_gain(20.0) - 10.0).abs() < 1e-5);
        assert_eq!(gain_to_db(0.0), f32::NEG_INFINITY);
        assert_eq!(gain_to_db(-1.0), f32::NEG_INFINITY);
        for db in [-60.0f32, -23.0, -0.1, 0.0, 12.0] {
            assert!((gain_to_db(db_to_gain(db)) - db).abs() < 1e-4);
        }
    }

    #[test]
    fn sanitize_replaces_only_non_finite() {
        let mut x = [1.0, f32::NAN, -0.5, f32::INFINITY, f32::NEG_INFINITY, 1e-40];
        assert_eq!(sanitize(&mut x), 3);
        assert_eq!(x, [1.0, 0.0, -0.5, 0.0, 0.0, 1e-40]);
    }
}

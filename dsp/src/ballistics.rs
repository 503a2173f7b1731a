//! Display ballistics for peak meters, applied by the editor to the "maximum since last read"
//! values the audio thread publishes: instant attack, a hold, then a steady fall in dB.

use crate::level::gain_to_db;

/// Fall rate after the hold, in dB per second (about the IEC 60268-18 peak programme meter's
/// 20 dB in 1.7 s).
pub const FALL_DB_PER_S: f32 = 12.0;
/// How long the peak-hold marker stays before falling, in seconds.
pub const HOLD_S: f32 = 1.5;
/// Floor of the display, in dB; anything lower shows as this.
pub const FLOOR_DB: f32 = -96.0;

/// One meter bar's displayed state.
#[derive(Debug, Clone, Copy)]
pub struct PeakBallistics {
    /// Bar level shown now (dB).
    pub level_db: f32,
    /// Peak-hold marker (dB).
    pub hold_db: f32,
    /// Time left before the hold marker starts falling (s).
    hold_left_s: f32,
}

impl Default for PeakBallistics {
    fn default() -> Self {
        Self {
            level_db: FLOOR_DB,
            hold_db: FLOOR_DB,
            hold_left_s: 0.0,
        }
    }
}

impl PeakBallistics {
    /// Advances by `dt_s` seconds with `peak` (linear) as the maximum since the previous update.
    pub fn update(&mut self, peak: f32, dt_s: f32) {
        let dt_s = if dt_s.is_finite() {
            dt_s.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let peak_db = gain_to_db(peak).max(FLOOR_DB);
        let fallen = self.level_db - FALL_DB_PER_S * dt_s;
        self.level_db = peak_db.max(fallen).max(FLOOR_DB);
        if peak_db >= self.hold_db {
            self.hold_db = peak_db;
            self.hold_left_s = HOLD_S;
        } else if self.hold_left_s > 0.0 {
            self.hold_left_s -= dt_s;
        } else {
            self.hold_db = (self.hold_db - FALL_DB_PER_S * dt_s).max(self.level_db);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_attack_hold_then_fall() {
        let mut b = PeakBallistics::default();
        b.update(1.0, 1.0 / 60.0);
        assert_eq!(b.level_db, 0.0);
        assert_eq!(b.hold_db, 0.0);
        // One second of silence: the bar falls FALL_DB_PER_S, the hold marker stays.
        for _ in 0..60 {
            b.update(0.0, 1.0 / 60.0);
        }
        assert!((b.level_db + FALL_DB_PER_S).abs() < 0.01, "{}", b.level_db);
        assert_eq!(b.hold_db, 0.0);
        // After the hold time the marker falls too, never below the bar.
        for _ in 0..120 {
            b.update(0.0, 1.0 / 60.0);
        }
        assert!(b.hold_db < 0.0 && b.hold_db >= b.level_db);
        // Silence for long enough reaches the floor and stays finite.
        for _ in 0..6000 {
            b.update(0.0, 1.0 / 60.0);
        }
        assert_eq!(b.level_db, FLOOR_DB);
        b.update(f32::NAN, f32::NAN);
        assert!(b.level_db.is_finite());
    }
}

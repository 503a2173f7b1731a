//! Loudness targets of the places music goes, and what each does to a master's level.
//! Figures from `shared/domain.md` §3; where sources disagree the note says so.

/// How a destination adjusts playback level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalisation {
    /// Loud masters are turned down to the target; quiet ones are left alone.
    DownOnly,
    /// Turned down, or up as far as the true peak stays at or below this ceiling (dBTP).
    UpToPeak(f64),
    /// Turned down or up to the target (broadcast delivery is expected to be on target).
    Both,
    /// No normalisation (CD, club): the master plays as mastered.
    None,
}

/// A delivery target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Short machine name (`--target` value).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Integrated loudness aimed at (LUFS); None where there is no loudness target.
    pub integrated_lufs: Option<f64>,
    /// Allowed distance from `integrated_lufs` for a delivery to pass (LU).
    pub tolerance_lu: f64,
    /// Highest true peak allowed (dBTP).
    pub true_peak_max_dbtp: f64,
    /// What the destination does to the level.
    pub normalisation: Normalisation,
}

/// Every target Lathe knows, in menu order.
pub const TARGETS: &[Target] = &[
    Target {
        id: "spotify",
        name: "Spotify",
        integrated_lufs: Some(-14.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::UpToPeak(-1.0),
    },
    Target {
        id: "apple-music",
        name: "Apple Music",
        integrated_lufs: Some(-16.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::UpToPeak(-1.0),
    },
    Target {
        id: "youtube",
        name: "YouTube",
        integrated_lufs: Some(-14.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::DownOnly,
    },
    Target {
        id: "amazon-music",
        name: "Amazon Music",
        integrated_lufs: Some(-14.0),
        tolerance_lu: 1.0,
        // Secondary sources disagree on −1 vs −2; the stricter one is used.
        true_peak_max_dbtp: -2.0,
        normalisation: Normalisation::DownOnly,
    },
    Target {
        id: "tidal",
        name: "Tidal",
        integrated_lufs: Some(-14.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::DownOnly,
    },
    Target {
        id: "deezer",
        name: "Deezer",
        integrated_lufs: Some(-15.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::DownOnly,
    },
    Target {
        id: "ebu-r128",
        name: "EBU R 128",
        integrated_lufs: Some(-23.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::Both,
    },
    Target {
        id: "atsc-a85",
        name: "ATSC A/85",
        integrated_lufs: Some(-24.0),
        tolerance_lu: 2.0,
        true_peak_max_dbtp: -2.0,
        normalisation: Normalisation::Both,
    },
    Target {
        id: "podcast",
        name: "Podcast (AES TD1008)",
        integrated_lufs: Some(-16.0),
        tolerance_lu: 1.0,
        true_peak_max_dbtp: -1.0,
        normalisation: Normalisation::DownOnly,
    },
    Target {
        id: "cd",
        name: "CD / club",
        integrated_lufs: None,
        tolerance_lu: f64::INFINITY,
        true_peak_max_dbtp: -0.3,
        normalisation: Normalisation::None,
    },
];

/// Integrated loudness of a loud CD / club master (LUFS): what Learn and `lathe master` aim at
/// for targets without normalisation.
pub const LOUD_MASTER_LUFS: f64 = -9.0;

impl Target {
    /// The integrated loudness a master for this target aims at (LUFS): the target's own, or
    /// [`LOUD_MASTER_LUFS`] where the destination does not normalise.
    pub fn aim_lufs(&self) -> f64 {
        self.integrated_lufs.unwrap_or(LOUD_MASTER_LUFS)
    }
}

/// Looks a target up by its id (case-insensitive).
pub fn find(id: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// How a programme measures against a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Integrated loudness − target (LU; positive = louder than the target). 0 without a target.
    pub distance_lu: f64,
    /// Whether the loudness is within tolerance.
    pub loudness_ok: bool,
    /// Whether the true peak is within the limit.
    pub true_peak_ok: bool,
    /// Gain the destination applies on playback (dB; negative = turned down).
    pub playback_gain_db: f64,
}

impl Target {
    /// Judges a programme with the given integrated loudness (LUFS) and true peak (dBTP).
    pub fn judge(&self, integrated_lufs: f64, true_peak_dbtp: f64) -> Verdict {
        let distance = match self.integrated_lufs {
            Some(t) if integrated_lufs.is_finite() => integrated_lufs - t,
            _ => 0.0,
        };
        let to_target = -distance;
        let playback_gain_db = match self.normalisation {
            Normalisation::None => 0.0,
            Normalisation::Both => to_target,
            Normalisation::DownOnly => to_target.min(0.0),
            Normalisation::UpToPeak(ceiling) => {
                if to_target <= 0.0 {
                    to_target
                } else {
                    to_target.min((ceiling - true_peak_dbtp).max(0.0))
                }
            }
        };
        Verdict {
            distance_lu: distance,
            loudness_ok: self.integrated_lufs.is_none()
                || (integrated_lufs.is_finite() && distance.abs() <= self.tolerance_lu),
            true_peak_ok: true_peak_dbtp <= self.true_peak_max_dbtp,
            playback_gain_db,
        }
    }

    /// One sentence on what the destination does, e.g. "Spotify turns this down 3.2 dB".
    pub fn describe(&self, verdict: &Verdict) -> String {
        let g = verdict.playback_gain_db;
        if matches!(self.normalisation, Normalisation::None) {
            format!("{} plays this as mastered", self.name)
        } else if g <= -0.05 {
            format!("{} turns this down {:.1} dB", self.name, -g)
        } else if g >= 0.05 {
            format!("{} turns this up {:.1} dB", self.name, g)
        } else {
            format!("{} leaves this as it is", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_turn_masters_down_and_some_up() {
        let spotify = find("Spotify").unwrap();
        let v = spotify.judge(-10.8, -0.2);
        assert!((v.distance_lu - 3.2).abs() < 1e-9);
        assert!(!v.loudness_ok && !v.true_peak_ok);
        assert_eq!(spotify.describe(&v), "Spotify turns this down 3.2 dB");
        // Quiet master with peak headroom: Spotify raises it only until −1 dBTP.
        let v = spotify.judge(-20.0, -4.0);
        assert!((v.playback_gain_db - 3.0).abs() < 1e-9);
        let youtube = find("youtube").unwrap();
        assert_eq!(youtube.judge(-20.0, -4.0).playback_gain_db, 0.0);
        assert_eq!(
            youtube.describe(&youtube.judge(-20.0, -4.0)),
            "YouTube leaves this as it is"
        );
        let ebu = find("ebu-r128").unwrap();
        let v = ebu.judge(-23.4, -1.5);
        assert!(v.loudness_ok && v.true_peak_ok);
        assert!((v.playback_gain_db - 0.4).abs() < 1e-9);
        let cd = find("cd").unwrap();
        let v = cd.judge(-8.0, -0.1);
        assert!(v.loudness_ok && !v.true_peak_ok);
        assert_eq!(cd.describe(&v), "CD / club plays this as mastered");
        assert!(find("nowhere").is_none());
        // Silence never passes a loudness target.
        assert!(
            !spotify
                .judge(f64::NEG_INFINITY, f64::NEG_INFINITY)
                .loudness_ok
        );
    }

    #[test]
    fn ids_are_unique() {
        for (i, a) in TARGETS.iter().enumerate() {
            assert!(TARGETS[i + 1..].iter().all(|b| b.id != a.id));
        }
    }
}

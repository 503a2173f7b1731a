//! The factory presets: settings files under `assets/presets/`, compiled in, read by the plugin's
//! preset menu and by `lathe master --preset`.

use super::MasterSettings;

/// A factory preset.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// Name in the menu and for `--preset` (case-insensitive; a unique start is enough).
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The settings file's text.
    pub toml: &'static str,
}

macro_rules! preset {
    ($name:literal, $description:literal, $file:literal) => {
        Preset {
            name: $name,
            description: $description,
            toml: include_str!(concat!("../../../assets/presets/", $file)),
        }
    };
}

/// The factory presets, in menu order.
pub const PRESETS: &[Preset] = &[
    preset!("Streaming", "-14 LUFS, -1 dBTP", "streaming.toml"),
    preset!("Apple Music", "-16 LUFS, -1 dBTP", "apple-music.toml"),
    preset!(
        "Loud CD",
        "-9 LUFS, -0.3 dBTP, 16-bit dither",
        "loud-cd.toml"
    ),
    preset!("EBU R128", "-23 LUFS, -1 dBTP", "ebu-r128.toml"),
    preset!("Podcast", "-16 LUFS, -1 dBTP", "podcast.toml"),
    preset!(
        "Vinyl pre-master",
        "mono bass, no brickwall",
        "vinyl-pre-master.toml"
    ),
    preset!("Glue only", "bus compression, no limiter", "glue-only.toml"),
];

impl Preset {
    /// The preset's settings.
    pub fn settings(&self) -> MasterSettings {
        MasterSettings::from_toml(self.toml).expect("factory presets are valid (tested)")
    }
}

/// The preset named `name` (case-insensitive; a unique start of a name is enough).
pub fn find(name: &str) -> Result<&'static Preset, String> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(p) = PRESETS
        .iter()
        .find(|p| p.name.to_ascii_lowercase() == lower)
    {
        return Ok(p);
    }
    let starts: Vec<&Preset> = PRESETS
        .iter()
        .filter(|p| !lower.is_empty() && p.name.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match starts[..] {
        [p] => Ok(p),
        _ => Err(format!(
            "no preset {name:?} (one of: {})",
            PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_reads_and_they_all_differ() {
        let all: Vec<MasterSettings> = PRESETS
            .iter()
            .map(|p| {
                MasterSettings::from_toml(p.toml).unwrap_or_else(|e| panic!("{}: {e}", p.name))
            })
            .collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let cd = find("loud cd").unwrap().settings();
        assert_eq!(cd.limiter.ceiling_dbtp, -0.3);
        assert_eq!(cd.output.dither_bits, 16);
        assert_eq!(cd.target().aim_lufs(), -9.0);
        assert!(find("nothing").is_err());
    }
}

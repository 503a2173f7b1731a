//! [`MasterSettings`]: every setting of the mastering chain in physical units, and its
//! versioned TOML form (the settings files `lathe master --settings` reads and the editor
//! exports; the factory presets are such files).

use crate::ab::Listen;
use crate::dither::DitherBits;
use crate::eq::{self, BandKind, Phase, Placement, Slope};
use crate::targets::{self, Target};
use serde::{Deserialize, Serialize};

/// Version of the settings schema written by this build. Files of older versions are
/// migrated on load ([`MasterSettings::from_toml`]); newer ones are refused.
pub const SETTINGS_VERSION: u32 = 1;

/// The input's DC / subsonic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LowCutMode {
    /// No filter.
    Off,
    /// DC removal (5 Hz).
    Dc,
    /// Subsonic filter at 20 Hz.
    Sub20,
    /// Subsonic filter at 30 Hz.
    Sub30,
}

impl LowCutMode {
    /// Corner frequency (Hz), `None` when off.
    pub fn hz(self) -> Option<f32> {
        match self {
            Self::Off => None,
            Self::Dc => Some(5.0),
            Self::Sub20 => Some(20.0),
            Self::Sub30 => Some(30.0),
        }
    }
}

/// Input stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputSettings {
    /// Trim before the chain (dB, −24…+24).
    pub gain_db: f32,
    /// DC / subsonic high-pass after the trim.
    pub low_cut: LowCutMode,
}

impl Default for InputSettings {
    fn default() -> Self {
        Self {
            gain_db: 0.0,
            low_cut: LowCutMode::Off,
        }
    }
}

/// One bell or shelf of the EQ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandSettings {
    /// On.
    #[serde(default = "yes")]
    pub on: bool,
    /// Centre or half-gain frequency (Hz, 20…20000).
    pub freq_hz: f32,
    /// Gain (dB, −18…+18).
    #[serde(default)]
    pub gain_db: f32,
    /// Q (bells 0.1…10, shelves 0.3…2).
    pub q: f32,
    /// Stereo, mid or side.
    #[serde(default = "stereo")]
    pub placement: Placement,
}

/// One cut of the EQ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutSettings {
    /// On.
    #[serde(default)]
    pub on: bool,
    /// Corner frequency (Hz, −3 dB; 20…20000).
    pub freq_hz: f32,
    /// Steepness (dB per octave: 12, 24 or 48).
    #[serde(default = "slope24")]
    pub slope_db_per_octave: u32,
    /// Stereo, mid or side.
    #[serde(default = "stereo")]
    pub placement: Placement,
}

fn yes() -> bool {
    true
}
fn stereo() -> Placement {
    Placement::Stereo
}
fn slope24() -> u32 {
    24
}

impl CutSettings {
    /// The slope as the EQ takes it.
    pub fn slope(&self) -> Slope {
        match self.slope_db_per_octave {
            12 => Slope::Db12,
            48 => Slope::Db48,
            _ => Slope::Db24,
        }
    }
}

/// The EQ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EqSettings {
    /// On (off = bypassed; linear phase keeps its latency).
    pub on: bool,
    /// Minimum or linear phase.
    pub phase: Phase,
    /// Low cut.
    pub low_cut: CutSettings,
    /// Low shelf.
    pub low_shelf: BandSettings,
    /// Bells 1–3.
    pub bell1: BandSettings,
    /// See `bell1`.
    pub bell2: BandSettings,
    /// See `bell1`.
    pub bell3: BandSettings,
    /// High shelf.
    pub high_shelf: BandSettings,
    /// High cut.
    pub high_cut: CutSettings,
}

impl Default for EqSettings {
    fn default() -> Self {
        let d = eq::default_bands();
        let band = |b: &eq::Band| BandSettings {
            on: b.enabled,
            freq_hz: b.freq_hz,
            gain_db: b.gain_db,
            q: b.q,
            placement: b.placement,
        };
        let cut = |b: &eq::Band| CutSettings {
            on: b.enabled,
            freq_hz: b.freq_hz,
            slope_db_per_octave: 24,
            placement: b.placement,
        };
        Self {
            on: true,
            phase: Phase::Minimum,
            low_cut: cut(&d[0]),
            low_shelf: band(&d[1]),
            bell1: band(&d[2]),
            bell2: band(&d[3]),
            bell3: band(&d[4]),
            high_shelf: band(&d[5]),
            high_cut: cut(&d[6]),
        }
    }
}

impl EqSettings {
    /// The bands in signal order, as the EQ takes them.
    pub fn bands(&self) -> [eq::Band; eq::BANDS] {
        let band = |kind, b: &BandSettings| eq::Band {
            kind,
            enabled: b.on,
            freq_hz: b.freq_hz,
            gain_db: b.gain_db,
            q: b.q,
            slope: Slope::Db24,
            placement: b.placement,
        };
        let cut = |kind, c: &CutSettings| eq::Band {
            kind,
            enabled: c.on,
            freq_hz: c.freq_hz,
            gain_db: 0.0,
            q: std::f32::consts::FRAC_1_SQRT_2,
            slope: c.slope(),
            placement: c.placement,
        };
        [
            cut(BandKind::LowCut, &self.low_cut),
            band(BandKind::LowShelf, &self.low_shelf),
            band(BandKind::Bell, &self.bell1),
            band(BandKind::Bell, &self.bell2),
            band(BandKind::Bell, &self.bell3),
            band(BandKind::HighShelf, &self.high_shelf),
            cut(BandKind::HighCut, &self.high_cut),
        ]
    }
}

/// The glue compressor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressorSettings {
    /// On (off = skipped).
    pub on: bool,
    /// Threshold (dB, −60…0).
    pub threshold_db: f32,
    /// Ratio (n:1, 1…10).
    pub ratio: f32,
    /// Knee width (dB, 0…24).
    pub knee_db: f32,
    /// Attack (ms, 0.1…100).
    pub attack_ms: f32,
    /// Release (ms, 10…2000), used while `auto_release` is off.
    pub release_ms: f32,
    /// Program-dependent release.
    pub auto_release: bool,
    /// Sidechain high-pass on.
    pub sidechain_hp: bool,
    /// Sidechain high-pass frequency (Hz, 20…300).
    pub sidechain_hz: f32,
    /// Stereo link (%, 0…100).
    pub link_pct: f32,
    /// Dry/wet mix (%, 0…100).
    pub mix_pct: f32,
    /// Makeup gain (dB, 0…24).
    pub makeup_db: f32,
}

impl Default for CompressorSettings {
    fn default() -> Self {
        Self {
            on: false,
            threshold_db: -18.0,
            ratio: 2.0,
            knee_db: 6.0,
            attack_ms: 10.0,
            release_ms: 200.0,
            auto_release: false,
            sidechain_hp: true,
            sidechain_hz: 60.0,
            link_pct: 100.0,
            mix_pct: 100.0,
            makeup_db: 0.0,
        }
    }
}

/// The stereo stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StereoSettings {
    /// On (off = bypassed).
    pub on: bool,
    /// Width (%, 0…200; 100 = unchanged).
    pub width_pct: f32,
    /// Mono below `mono_below_hz`.
    pub mono_bass: bool,
    /// Crossover of the mono bass (Hz, 20…300).
    pub mono_below_hz: f32,
}

impl Default for StereoSettings {
    fn default() -> Self {
        Self {
            on: true,
            width_pct: 100.0,
            mono_bass: false,
            mono_below_hz: 120.0,
        }
    }
}

/// The true-peak limiter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimiterSettings {
    /// On (off = bypassed, latency kept).
    pub on: bool,
    /// Gain into the limiter (dB, 0…24).
    pub drive_db: f32,
    /// True-peak ceiling (dBTP, −6…−0.1).
    pub ceiling_dbtp: f32,
    /// Release (ms, 1…1000), used while `auto_release` is off.
    pub release_ms: f32,
    /// Program-dependent release.
    pub auto_release: bool,
    /// Lookahead (ms, 0.5…5); sets the latency.
    pub lookahead_ms: f32,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        Self {
            on: true,
            drive_db: 0.0,
            ceiling_dbtp: -1.0,
            release_ms: 100.0,
            auto_release: true,
            lookahead_ms: 1.5,
        }
    }
}

/// Output stage: gain, word length, and what the listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSettings {
    /// Gain after the limiter (dB, −24…0).
    pub gain_db: f32,
    /// Dither to this word length (0 = off, 16 or 24), applied last.
    pub dither_bits: u32,
    /// First-order noise shaping of the dither.
    pub noise_shaping: bool,
    /// Level-matched A/B: processed, matched bypass or delta (a monitoring choice; offline
    /// renders use `processed`).
    pub listen: Listen,
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self {
            gain_db: 0.0,
            dither_bits: 0,
            noise_shaping: false,
            listen: Listen::Processed,
        }
    }
}

impl OutputSettings {
    /// The dither's word length.
    pub fn dither(&self) -> DitherBits {
        match self.dither_bits {
            16 => DitherBits::Bits16,
            24 => DitherBits::Bits24,
            _ => DitherBits::Off,
        }
    }
}

/// Every setting of the mastering chain, in physical units. Plain data: the plugin builds one
/// from its parameters for every block; [`super::MasterChain::set`] applies it without
/// allocating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MasterSettings {
    /// Schema version ([`SETTINGS_VERSION`]).
    pub version: u32,
    /// Loudness target the drive was chosen for (a [`targets::TARGETS`] id); informational for
    /// the chain, used by Learn and `lathe master --target`.
    #[serde(with = "target_id")]
    pub target: &'static str,
    /// Input trim and low cut.
    pub input: InputSettings,
    /// EQ.
    pub eq: EqSettings,
    /// Glue compressor.
    pub compressor: CompressorSettings,
    /// Stereo stage.
    pub stereo: StereoSettings,
    /// True-peak limiter.
    pub limiter: LimiterSettings,
    /// Output gain, dither, A/B.
    pub output: OutputSettings,
}

impl Default for MasterSettings {
    fn default() -> Self {
        Self {
            version: SETTINGS_VERSION,
            target: "spotify",
            input: InputSettings::default(),
            eq: EqSettings::default(),
            compressor: CompressorSettings::default(),
            stereo: StereoSettings::default(),
            limiter: LimiterSettings::default(),
            output: OutputSettings::default(),
        }
    }
}

/// A settings file that cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

impl MasterSettings {
    /// Reads a settings file's text: migrates older versions, refuses newer ones, unknown keys,
    /// wrong types and out-of-range values with a message naming the key.
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        Self::from_toml_over(text, &Self::default())
    }

    /// [`Self::from_toml`] where every key the file leaves out keeps its value in `base` (a
    /// preset, say): the file's keys win.
    pub fn from_toml_over(text: &str, base: &MasterSettings) -> Result<Self, SettingsError> {
        let mut value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| SettingsError(one_line(&e.to_string())))?;
        let version = match value.get("version") {
            None => 0,
            Some(toml::Value::Integer(v)) => u32::try_from(*v)
                .map_err(|_| SettingsError(format!("version: {v} is not a version")))?,
            Some(other) => {
                return Err(SettingsError(format!(
                    "version: expected a number, found {}",
                    other.type_str()
                )));
            }
        };
        if version > SETTINGS_VERSION {
            return Err(SettingsError(format!(
                "version: {version} is newer than this Lathe understands ({SETTINGS_VERSION})"
            )));
        }
        migrate(&mut value, version);
        let mut merged =
            toml::Table::try_from(base).map_err(|e| SettingsError(format!("settings: {e}")))?;
        merge(&mut merged, value);
        let settings: MasterSettings = merged
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError(one_line(&e.to_string())))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The settings as a TOML file (current version).
    pub fn to_toml(&self) -> String {
        let mut s = *self;
        s.version = SETTINGS_VERSION;
        toml::to_string(&s).expect("settings are plain data")
    }

    /// Checks every value against its range; the error names the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut checks: Vec<(String, f32, f32, f32)> = vec![
            ("input.gain_db".into(), self.input.gain_db, -24.0, 24.0),
            (
                "compressor.threshold_db".into(),
                self.compressor.threshold_db,
                -60.0,
                0.0,
            ),
            ("compressor.ratio".into(), self.compressor.ratio, 1.0, 10.0),
            (
                "compressor.knee_db".into(),
                self.compressor.knee_db,
                0.0,
                24.0,
            ),
            (
                "compressor.attack_ms".into(),
                self.compressor.attack_ms,
                0.1,
                100.0,
            ),
            (
                "compressor.release_ms".into(),
                self.compressor.release_ms,
                10.0,
                2000.0,
            ),
            (
                "compressor.sidechain_hz".into(),
                self.compressor.sidechain_hz,
                20.0,
                300.0,
            ),
            (
                "compressor.link_pct".into(),
                self.compressor.link_pct,
                0.0,
                100.0,
            ),
            (
                "compressor.mix_pct".into(),
                self.compressor.mix_pct,
                0.0,
                100.0,
            ),
            (
                "compressor.makeup_db".into(),
                self.compressor.makeup_db,
                0.0,
                24.0,
            ),
            ("stereo.width_pct".into(), self.stereo.width_pct, 0.0, 200.0),
            (
                "stereo.mono_below_hz".into(),
                self.stereo.mono_below_hz,
                20.0,
                300.0,
            ),
            ("limiter.drive_db".into(), self.limiter.drive_db, 0.0, 24.0),
            (
                "limiter.ceiling_dbtp".into(),
                self.limiter.ceiling_dbtp,
                -6.0,
                -0.1,
            ),
            (
                "limiter.release_ms".into(),
                self.limiter.release_ms,
                1.0,
                1000.0,
            ),
            (
                "limiter.lookahead_ms".into(),
                self.limiter.lookahead_ms,
                0.5,
                5.0,
            ),
            ("output.gain_db".into(), self.output.gain_db, -24.0, 0.0),
        ];
        let eq = &self.eq;
        for (name, b, q) in [
            ("low_shelf", &eq.low_shelf, (0.3, 2.0)),
            ("bell1", &eq.bell1, (0.1, 10.0)),
            ("bell2", &eq.bell2, (0.1, 10.0)),
            ("bell3", &eq.bell3, (0.1, 10.0)),
            ("high_shelf", &eq.high_shelf, (0.3, 2.0)),
        ] {
            checks.push((format!("eq.{name}.freq_hz"), b.freq_hz, 20.0, 20_000.0));
            checks.push((format!("eq.{name}.gain_db"), b.gain_db, -18.0, 18.0));
            checks.push((format!("eq.{name}.q"), b.q, q.0, q.1));
        }
        for (name, c) in [("low_cut", &eq.low_cut), ("high_cut", &eq.high_cut)] {
            checks.push((format!("eq.{name}.freq_hz"), c.freq_hz, 20.0, 20_000.0));
            if ![12, 24, 48].contains(&c.slope_db_per_octave) {
                return Err(SettingsError(format!(
                    "eq.{name}.slope_db_per_octave: {} is not 12, 24 or 48",
                    c.slope_db_per_octave
                )));
            }
        }
        for (key, v, lo, hi) in checks {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(SettingsError(format!("{key}: {v} is outside {lo}…{hi}")));
            }
        }
        if ![0, 16, 24].contains(&self.output.dither_bits) {
            return Err(SettingsError(format!(
                "output.dither_bits: {} is not 0 (off), 16 or 24",
                self.output.dither_bits
            )));
        }
        Ok(())
    }

    /// The loudness target the settings name.
    pub fn target(&self) -> &'static Target {
        targets::find(self.target).unwrap_or(&targets::TARGETS[0])
    }
}

/// Brings a settings table of `version` to the current schema. Version 0 (no `version` key)
/// is the same layout as 1.
fn migrate(value: &mut toml::Table, version: u32) {
    if version < 1 {
        value.insert("version".into(), toml::Value::Integer(1));
    }
}

/// Writes `over` into `base`, table by table, so keys `over` leaves out keep `base`'s values.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Serde for the target id: a string naming one of [`targets::TARGETS`].
mod target_id {
    use crate::targets;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(id: &&'static str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        let s = String::deserialize(d)?;
        targets::find(&s).map(|t| t.id).ok_or_else(|| {
            let ids: Vec<&str> = targets::TARGETS.iter().map(|t| t.id).collect();
            D::Error::custom(format!("unknown target {s:?} (one of {})", ids.join(", ")))
        })
    }
}

//! Lathe Master's parameters by name, as [`MasterSettings`] fields: the table behind
//! `lathe master --set "Parameter Name=value"` and the plugin's presets and settings import.
//! Names, ranges, units and choice names are the plugin's own (a test in the plugin compares
//! them with its parameters); values are the plugin's plain values (choices by index, switches
//! 0/1).

use super::{LowCutMode, MasterSettings};
use crate::ab::Listen;
use crate::eq::{Phase, Placement};
use crate::targets::TARGETS;

/// What kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A number in `min..=max`, shown with `unit` and `decimals`.
    Float {
        /// Smallest value.
        min: f32,
        /// Largest value.
        max: f32,
        /// Unit as the plugin shows it (with its leading space), e.g. `" dB"`.
        unit: &'static str,
        /// Decimals shown.
        decimals: usize,
    },
    /// On / off.
    Bool,
    /// One of these names (plain value = index).
    Choice(&'static [&'static str]),
}

/// One parameter.
#[derive(Clone, Copy)]
pub struct Spec {
    /// The plugin's parameter name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Reads the plain value from settings.
    pub get: fn(&MasterSettings) -> f32,
    /// Writes a plain value into settings.
    pub set: fn(&mut MasterSettings, f32),
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.name, self.kind)
    }
}

/// The plugin's A/B choice names.
pub const LISTEN_NAMES: &[&str] = &["Processed", "Bypass (level-matched)", "Delta"];
/// The plugin's Low Cut choice names.
pub const LOW_CUT_NAMES: &[&str] = &["Off", "DC (5 Hz)", "Subsonic 20 Hz", "Subsonic 30 Hz"];
/// The plugin's EQ Phase choice names.
pub const PHASE_NAMES: &[&str] = &["Minimum phase", "Linear phase"];
/// The plugin's band placement choice names.
pub const PLACEMENT_NAMES: &[&str] = &["Stereo", "Mid", "Side"];
/// The plugin's cut slope choice names.
pub const SLOPE_NAMES: &[&str] = &["12 dB/oct", "24 dB/oct", "48 dB/oct"];
/// The plugin's Dither choice names.
pub const DITHER_NAMES: &[&str] = &["Off", "24-bit", "16-bit"];
/// The plugin's Target choice names, in [`TARGETS`] order.
pub const TARGET_NAMES: &[&str] = &[
    "Spotify (-14 LUFS)",
    "Apple Music (-16 LUFS)",
    "YouTube (-14 LUFS)",
    "Amazon Music (-14 LUFS)",
    "Tidal (-14 LUFS)",
    "Deezer (-15 LUFS)",
    "EBU R 128 (-23 LUFS)",
    "ATSC A/85 (-24 LKFS)",
    "Podcast (-16 LUFS)",
    "CD / club",
];

const fn float(min: f32, max: f32, unit: &'static str, decimals: usize) -> Kind {
    Kind::Float {
        min,
        max,
        unit,
        decimals,
    }
}

const DB: Kind = float(-24.0, 24.0, " dB", 2);
const FREQ: Kind = float(20.0, 20_000.0, " Hz", 1);
const PCT: Kind = float(0.0, 100.0, " %", 1);

fn on(v: f32) -> bool {
    v >= 0.5
}
fn flag(b: bool) -> f32 {
    f32::from(u8::from(b))
}
fn index(v: f32, len: usize) -> usize {
    (v.round().max(0.0) as usize).min(len - 1)
}
fn placement_index(p: Placement) -> f32 {
    match p {
        Placement::Stereo => 0.0,
        Placement::Mid => 1.0,
        Placement::Side => 2.0,
    }
}
fn placement(v: f32) -> Placement {
    [Placement::Stereo, Placement::Mid, Placement::Side][index(v, 3)]
}
fn slope_index(db: u32) -> f32 {
    match db {
        12 => 0.0,
        48 => 2.0,
        _ => 1.0,
    }
}
fn slope(v: f32) -> u32 {
    [12, 24, 48][index(v, 3)]
}

macro_rules! spec {
    ($name:expr, $kind:expr, |$s:ident| $get:expr, |$t:ident, $v:ident| $set:expr) => {
        Spec {
            name: $name,
            kind: $kind,
            get: |$s: &MasterSettings| $get,
            set: |$t: &mut MasterSettings, $v: f32| $set,
        }
    };
}

macro_rules! band {
    ($out:ident, $label:literal, $field:ident, $qmin:expr, $qmax:expr) => {
        $out.push(spec!(
            concat!($label, " On"),
            Kind::Bool,
            |s| flag(s.eq.$field.on),
            |s, v| s.eq.$field.on = on(v)
        ));
        $out.push(spec!(
            concat!($label, " Freq"),
            FREQ,
            |s| s.eq.$field.freq_hz,
            |s, v| s.eq.$field.freq_hz = v
        ));
        $out.push(spec!(
            concat!($label, " Gain"),
            float(-18.0, 18.0, " dB", 2),
            |s| s.eq.$field.gain_db,
            |s, v| s.eq.$field.gain_db = v
        ));
        $out.push(spec!(
            concat!($label, " Q"),
            float($qmin, $qmax, "", 3),
            |s| s.eq.$field.q,
            |s, v| s.eq.$field.q = v
        ));
        $out.push(spec!(
            concat!($label, " Placement"),
            Kind::Choice(PLACEMENT_NAMES),
            |s| placement_index(s.eq.$field.placement),
            |s, v| s.eq.$field.placement = placement(v)
        ));
    };
}

macro_rules! cut {
    ($out:ident, $label:literal, $field:ident) => {
        $out.push(spec!(
            concat!($label, " On"),
            Kind::Bool,
            |s| flag(s.eq.$field.on),
            |s, v| s.eq.$field.on = on(v)
        ));
        $out.push(spec!(
            concat!($label, " Freq"),
            FREQ,
            |s| s.eq.$field.freq_hz,
            |s, v| s.eq.$field.freq_hz = v
        ));
        $out.push(spec!(
            concat!($label, " Slope"),
            Kind::Choice(SLOPE_NAMES),
            |s| slope_index(s.eq.$field.slope_db_per_octave),
            |s, v| s.eq.$field.slope_db_per_octave = slope(v)
        ));
        $out.push(spec!(
            concat!($label, " Placement"),
            Kind::Choice(PLACEMENT_NAMES),
            |s| placement_index(s.eq.$field.placement),
            |s, v| s.eq.$field.placement = placement(v)
        ));
    };
}

/// Every parameter of Lathe Master, in the plugin's order.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let mut out = Vec::with_capacity(64);
    out.push(spec!("A/B", Kind::Choice(LISTEN_NAMES),
        // Reference is the plugin's Ref Listen (monitoring only): offline it is Processed.
        |s| match s.output.listen { Listen::Processed | Listen::Reference => 0.0, Listen::MatchedBypass => 1.0, Listen::Delta => 2.0 },
        |s, v| s.output.listen = [Listen::Processed, Listen::MatchedBypass, Listen::Delta][index(v, 3)]));
    out.push(spec!("Input Gain", DB, |s| s.input.gain_db, |s, v| s.input.gain_db = v));
    out.push(spec!("Low Cut", Kind::Choice(LOW_CUT_NAMES),
        |s| match s.input.low_cut { LowCutMode::Off => 0.0, LowCutMode::Dc => 1.0, LowCutMode::Sub20 => 2.0, LowCutMode::Sub30 => 3.0 },
        |s, v| s.input.low_cut = [LowCutMode::Off, LowCutMode::Dc, LowCutMode::Sub20, LowCutMode::Sub30][index(v, 4)]));
    out.push(spec!("EQ", Kind::Bool, |s| flag(s.eq.on), |s, v| s.eq.on = on(v)));
    out.push(spec!("EQ Phase", Kind::Choice(PHASE_NAMES),
        |s| if s.eq.phase == Phase::Linear { 1.0 } else { 0.0 },
        |s, v| s.eq.phase = if index(v, 2) == 1 { Phase::Linear } else { Phase::Minimum }));
    cut!(out, "EQ Low Cut", low_cut);
    band!(out, "Low Shelf", low_shelf, 0.3, 2.0);
    band!(out, "Bell 1", bell1, 0.1, 10.0);
    band!(out, "Bell 2", bell2, 0.1, 10.0);
    band!(out, "Bell 3", bell3, 0.1, 10.0);
    band!(out, "High Shelf", high_shelf, 0.3, 2.0);
    cut!(out, "EQ High Cut", high_cut);
    out.push(spec!("Compressor", Kind::Bool, |s| flag(s.compressor.on), |s, v| s.compressor.on = on(v)));
    out.push(spec!("Comp Threshold", float(-60.0, 0.0, " dB", 2), |s| s.compressor.threshold_db, |s, v| s.compressor.threshold_db = v));
    out.push(spec!("Comp Ratio", float(1.0, 10.0, ":1", 2), |s| s.compressor.ratio, |s, v| s.compressor.ratio = v));
    out.push(spec!("Comp Knee", float(0.0, 24.0, " dB", 2), |s| s.compressor.knee_db, |s, v| s.compressor.knee_db = v));
    out.push(spec!("Comp Attack", float(0.1, 100.0, " ms", 2), |s| s.compressor.attack_ms, |s, v| s.compressor.attack_ms = v));
    out.push(spec!("Comp Release", float(10.0, 2000.0, " ms", 1), |s| s.compressor.release_ms, |s, v| s.compressor.release_ms = v));
    out.push(spec!("Comp Auto Release", Kind::Bool, |s| flag(s.compressor.auto_release), |s, v| s.compressor.auto_release = on(v)));
    out.push(spec!("Comp SC High-Pass", Kind::Bool, |s| flag(s.compressor.sidechain_hp), |s, v| s.compressor.sidechain_hp = on(v)));
    out.push(spec!("Comp SC Freq", float(20.0, 300.0, " Hz", 1), |s| s.compressor.sidechain_hz, |s, v| s.compressor.sidechain_hz = v));
    out.push(spec!("Comp Link", PCT, |s| s.compressor.link_pct, |s, v| s.compressor.link_pct = v));
    out.push(spec!("Comp Mix", PCT, |s| s.compressor.mix_pct, |s, v| s.compressor.mix_pct = v));
    out.push(spec!("Comp Makeup", float(0.0, 24.0, " dB", 2), |s| s.compressor.makeup_db, |s, v| s.compressor.makeup_db = v));
    out.push(spec!("Stereo", Kind::Bool, |s| flag(s.stereo.on), |s, v| s.stereo.on = on(v)));
    out.push(spec!("Width", float(0.0, 200.0, " %", 1), |s| s.stereo.width_pct, |s, v| s.stereo.width_pct = v));
    out.push(spec!("Mono Bass", Kind::Bool, |s| flag(s.stereo.mono_bass), |s, v| s.stereo.mono_bass = on(v)));
    out.push(spec!("Mono Below", float(20.0, 300.0, " Hz", 1), |s| s.stereo.mono_below_hz, |s, v| s.stereo.mono_below_hz = v));
    out.push(spec!("Limiter", Kind::Bool, |s| flag(s.limiter.on), |s, v| s.limiter.on = on(v)));
    out.push(spec!("Drive", float(0.0, 24.0, " dB", 2), |s| s.limiter.drive_db, |s, v| s.limiter.drive_db = v));
    out.push(spec!("Ceiling", float(-6.0, -0.1, " dBTP", 2), |s| s.limiter.ceiling_dbtp, |s, v| s.limiter.ceiling_dbtp = v));
    out.push(spec!("Release", float(1.0, 1000.0, " ms", 1), |s| s.limiter.release_ms, |s, v| s.limiter.release_ms = v));
    out.push(spec!("Auto Release", Kind::Bool, |s| flag(s.limiter.auto_release), |s, v| s.limiter.auto_release = on(v)));
    out.push(spec!("Lookahead", float(0.5, 5.0, " ms", 2), |s| s.limiter.lookahead_ms, |s, v| s.limiter.lookahead_ms = v));
    out.push(spec!("Target", Kind::Choice(TARGET_NAMES),
        |s| TARGETS.iter().position(|t| t.id == s.target).unwrap_or(0) as f32,
        |s, v| s.target = TARGETS[index(v, TARGETS.len())].id));
    out.push(spec!("Output Gain", float(-24.0, 0.0, " dB", 2), |s| s.output.gain_db, |s, v| s.output.gain_db = v));
    out.push(spec!("Dither", Kind::Choice(DITHER_NAMES),
        |s| match s.output.dither_bits { 24 => 1.0, 16 => 2.0, _ => 0.0 },
        |s, v| s.output.dither_bits = [0, 24, 16][index(v, 3)]));
    out.push(spec!("Noise Shaping", Kind::Bool, |s| flag(s.output.noise_shaping), |s, v| s.output.noise_shaping = on(v)));
    out
}

/// The parameter with this name (case and surrounding space ignored).
pub fn find(name: &str) -> Option<Spec> {
    let name = name.trim();
    specs()
        .into_iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The plugin's step for a parameter shown with `decimals` decimals (its values lie on this
/// grid).
fn step(decimals: usize) -> f32 {
    match decimals {
        0 => 1.0,
        1 => 0.1,
        2 => 0.01,
        _ => 0.001,
    }
}

impl Spec {
    /// `v` as the plugin stores it: rounded to the parameter's step and clamped to its range,
    /// exactly as the plugin framework rounds (`(v / step).round() * step`, in f32). Other
    /// kinds pass unchanged.
    pub fn snap(&self, v: f32) -> f32 {
        match self.kind {
            Kind::Float {
                min, max, decimals, ..
            } => {
                let step = step(decimals);
                ((v / step).round() * step).clamp(min, max)
            }
            _ => v,
        }
    }

    /// The value as the plugin displays it.
    pub fn display(&self, v: f32) -> String {
        match self.kind {
            Kind::Float { unit, decimals, .. } => format!("{v:.decimals$}{unit}"),
            Kind::Bool => if on(v) { "On" } else { "Off" }.to_string(),
            Kind::Choice(names) => names[index(v, names.len())].to_string(),
        }
    }

    /// Reads a value as a user types it: a number with or without the unit, On/Off (also
    /// true/false, yes/no, 1/0), or a choice's name (or a unique start of it).
    pub fn parse(&self, text: &str) -> Result<f32, String> {
        let t = text.trim();
        match self.kind {
            Kind::Float { min, max, unit, .. } => {
                let number = t
                    .strip_suffix(unit.trim())
                    .filter(|_| !unit.trim().is_empty())
                    .unwrap_or(t)
                    .trim();
                let v: f32 = number.parse().map_err(|_| {
                    format!(
                        "{}: {t:?} is not a number (e.g. \"{}\")",
                        self.name,
                        self.display(min)
                    )
                })?;
                if !(v.is_finite() && (min..=max).contains(&v)) {
                    return Err(format!(
                        "{}: {v} is outside {}…{}",
                        self.name,
                        self.display(min),
                        self.display(max)
                    ));
                }
                Ok(self.snap(v))
            }
            Kind::Bool => match t.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => Ok(1.0),
                "off" | "false" | "no" | "0" => Ok(0.0),
                _ => Err(format!("{}: {t:?} is not On or Off", self.name)),
            },
            Kind::Choice(names) => {
                let lower = t.to_ascii_lowercase();
                if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
                    return Ok(i as f32);
                }
                let starts: Vec<usize> = (0..names.len())
                    .filter(|&i| names[i].to_ascii_lowercase().starts_with(&lower))
                    .collect();
                match starts[..] {
                    [i] if !lower.is_empty() => Ok(i as f32),
                    _ => Err(format!(
                        "{}: {t:?} is not one of: {}",
                        self.name,
                        names.join(", ")
                    )),
                }
            }
        }
    }
}

/// Rounds every value to the step the plugin stores it with, so settings from a file, a preset
/// or a search render exactly as the plugin set to the same values does.
pub fn snap_to_plugin(settings: &mut MasterSettings) {
    for spec in specs() {
        let v = (spec.get)(settings);
        (spec.set)(settings, spec.snap(v));
    }
}

/// Applies `"Parameter Name=value"` to `settings`.
pub fn apply_assignment(settings: &mut MasterSettings, assignment: &str) -> Result<(), String> {
    let (name, value) = assignment
        .split_once('=')
        .ok_or_else(|| format!("{assignment:?}: expected \"Parameter Name=value\""))?;
    let spec = find(name).ok_or_else(|| {
        format!(
            "no parameter named {:?} (lathe master --list-params shows them)",
            name.trim()
        )
    })?;
    let v = spec.parse(value)?;
    (spec.set)(settings, v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_round_trips_through_its_text() {
        let all = specs();
        assert_eq!(all.len(), 64);
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 64, "names are unique");
        let defaults = MasterSettings::default();
        for spec in &all {
            let v = (spec.get)(&defaults);
            let text = spec.display(v);
            let mut s = defaults;
            (spec.set)(&mut s, spec.parse(&text).unwrap());
            assert_eq!(s, defaults, "{}: {text}", spec.name);
        }
    }

    #[test]
    fn assignments_as_users_type_them() {
        let mut s = MasterSettings::default();
        apply_assignment(&mut s, "Drive=6").unwrap();
        apply_assignment(&mut s, "Bell 2 Gain=-1.5 dB").unwrap();
        apply_assignment(&mut s, "eq phase=linear").unwrap();
        apply_assignment(&mut s, "Dither=16-bit").unwrap();
        apply_assignment(&mut s, "Compressor=on").unwrap();
        assert_eq!(s.limiter.drive_db, 6.0);
        assert_eq!(s.eq.bell2.gain_db, -1.5);
        assert_eq!(s.eq.phase, Phase::Linear);
        assert_eq!(s.output.dither_bits, 16);
        assert!(s.compressor.on);
        for bad in ["Drive=40", "Drive=loud", "Drvie=3", "Dither=8-bit", "Drive"] {
            assert!(apply_assignment(&mut s, bad).is_err(), "{bad}");
        }
        // Values land on the plugin's grid: 6.005 dB is stored as 6.01 (nice-plug rounds so).
        apply_assignment(&mut s, "Drive=6.004").unwrap();
        assert_eq!(s.limiter.drive_db, (6.004f32 / 0.01).round() * 0.01);
        let err = apply_assignment(&mut s, "Ceiling=+1").unwrap_err();
        assert!(
            err.contains("Ceiling") && err.contains("-0.10 dBTP"),
            "{err}"
        );
    }
}

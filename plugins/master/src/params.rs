//! Lathe Master's parameters. IDs are stable: hosts store them in projects and automation.

use lathe_dsp::ab::Listen;
use lathe_dsp::eq::{self, BandKind, Placement};
use lathe_dsp::limiter::{MAX_LOOKAHEAD_MS, MIN_LOOKAHEAD_MS};
use lathe_dsp::master::{
    BandSettings, CompressorSettings, CutSettings, EqSettings, InputSettings, LimiterSettings,
    LowCutMode, MasterSettings, OutputSettings, SETTINGS_VERSION, StereoSettings,
};
use lathe_dsp::stereo::{MAX_WIDTH, MONO_BASS_MAX_HZ, MONO_BASS_MIN_HZ};
use lathe_plugin_common::TargetChoice;
use nice_plug::prelude::*;
use std::sync::atomic::AtomicU32;

/// What the listener hears (the level-matched A/B).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbChoice {
    /// The processed signal.
    #[id = "processed"]
    #[name = "Processed"]
    Processed,
    /// The input, aligned and matched to the processed loudness.
    #[id = "bypass"]
    #[name = "Bypass (level-matched)"]
    Bypass,
    /// Processed minus the level-matched input.
    #[id = "delta"]
    #[name = "Delta"]
    Delta,
}

impl AbChoice {
    pub fn listen(self) -> Listen {
        match self {
            Self::Processed => Listen::Processed,
            Self::Bypass => Listen::MatchedBypass,
            Self::Delta => Listen::Delta,
        }
    }
}

/// How the reference is level-matched.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMatchChoice {
    /// The loop's integrated loudness against the master's integrated loudness.
    #[id = "integrated"]
    #[name = "Integrated"]
    Integrated,
    /// Both short-term (3 s), smoothed.
    #[id = "short_term"]
    #[name = "Short-term"]
    ShortTerm,
}

impl RefMatchChoice {
    pub fn mode(self) -> lathe_dsp::ab::RefMatch {
        match self {
            Self::Integrated => lathe_dsp::ab::RefMatch::Integrated,
            Self::ShortTerm => lathe_dsp::ab::RefMatch::ShortTerm,
        }
    }
}

/// Input DC / subsonic filter choices.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowCutChoice {
    /// No filter.
    #[id = "off"]
    #[name = "Off"]
    Off,
    /// Removes DC offset only (5 Hz).
    #[id = "dc"]
    #[name = "DC (5 Hz)"]
    Dc,
    /// Subsonic filter at 20 Hz.
    #[id = "sub20"]
    #[name = "Subsonic 20 Hz"]
    Sub20,
    /// Subsonic filter at 30 Hz.
    #[id = "sub30"]
    #[name = "Subsonic 30 Hz"]
    Sub30,
}

/// Output word length choices.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DitherChoice {
    /// No dither (32-bit float out).
    #[id = "off"]
    #[name = "Off"]
    Off,
    /// TPDF dither to 24 bit.
    #[id = "24"]
    #[name = "24-bit"]
    Bits24,
    /// TPDF dither to 16 bit.
    #[id = "16"]
    #[name = "16-bit"]
    Bits16,
}

/// EQ phase mode.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseChoice {
    /// Magnitude-matched IIR; no latency.
    #[id = "minimum"]
    #[name = "Minimum phase"]
    Minimum,
    /// FFT convolution; adds latency (about 128 ms at 48 kHz).
    #[id = "linear"]
    #[name = "Linear phase"]
    Linear,
}

impl PhaseChoice {
    /// The DSP's phase mode.
    pub fn phase(self) -> eq::Phase {
        match self {
            Self::Minimum => eq::Phase::Minimum,
            Self::Linear => eq::Phase::Linear,
        }
    }
}

/// Which part of the stereo signal an EQ band acts on.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementChoice {
    /// Both channels.
    #[id = "stereo"]
    #[name = "Stereo"]
    Stereo,
    /// Mid only.
    #[id = "mid"]
    #[name = "Mid"]
    Mid,
    /// Side only.
    #[id = "side"]
    #[name = "Side"]
    Side,
}

impl PlacementChoice {
    fn placement(self) -> Placement {
        match self {
            Self::Stereo => Placement::Stereo,
            Self::Mid => Placement::Mid,
            Self::Side => Placement::Side,
        }
    }
}

/// Steepness of the EQ's cut bands.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlopeChoice {
    /// 12 dB/octave.
    #[id = "12"]
    #[name = "12 dB/oct"]
    Db12,
    /// 24 dB/octave.
    #[id = "24"]
    #[name = "24 dB/oct"]
    Db24,
    /// 48 dB/octave.
    #[id = "48"]
    #[name = "48 dB/oct"]
    Db48,
}

fn freq_param(name: String, default_hz: f32) -> FloatParam {
    FloatParam::new(
        name,
        default_hz,
        FloatRange::Skewed {
            min: 20.0,
            max: 20_000.0,
            factor: FloatRange::skew_factor(-2.2),
        },
    )
    .with_unit(" Hz")
    .with_step_size(0.1)
    .with_value_to_string(formatters::v2s_f32_rounded(1))
}

/// One EQ bell or shelf.
#[derive(Params)]
pub struct EqBandParams {
    /// What this band is (fixed per band).
    pub kind: BandKind,
    /// On.
    #[id = "on"]
    pub on: BoolParam,
    /// Frequency (Hz).
    #[id = "freq"]
    pub freq_hz: FloatParam,
    /// Gain (dB).
    #[id = "gain"]
    pub gain_db: FloatParam,
    /// Q.
    #[id = "q"]
    pub q: FloatParam,
    /// Stereo, mid or side.
    #[id = "place"]
    pub placement: EnumParam<PlacementChoice>,
}

impl EqBandParams {
    fn new(label: &str, kind: BandKind, default: &eq::Band) -> Self {
        let (q_min, q_max) = if kind == BandKind::Bell {
            (0.1, 10.0)
        } else {
            (0.3, 2.0)
        };
        Self {
            kind,
            on: BoolParam::new(format!("{label} On"), default.enabled),
            freq_hz: freq_param(format!("{label} Freq"), default.freq_hz),
            gain_db: FloatParam::new(
                format!("{label} Gain"),
                0.0,
                FloatRange::Linear {
                    min: -18.0,
                    max: 18.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            q: FloatParam::new(
                format!("{label} Q"),
                default.q,
                FloatRange::Skewed {
                    min: q_min,
                    max: q_max,
                    factor: FloatRange::skew_factor(-1.5),
                },
            )
            .with_step_size(0.001)
            .with_value_to_string(formatters::v2s_f32_rounded(3)),
            placement: EnumParam::new(format!("{label} Placement"), PlacementChoice::Stereo),
        }
    }
}

/// One EQ cut band.
#[derive(Params)]
pub struct EqCutParams {
    /// Low or high cut (fixed per band).
    pub kind: BandKind,
    /// On.
    #[id = "on"]
    pub on: BoolParam,
    /// Corner frequency (Hz, −3 dB).
    #[id = "freq"]
    pub freq_hz: FloatParam,
    /// Steepness.
    #[id = "slope"]
    pub slope: EnumParam<SlopeChoice>,
    /// Stereo, mid or side.
    #[id = "place"]
    pub placement: EnumParam<PlacementChoice>,
}

impl EqCutParams {
    fn new(label: &str, kind: BandKind, default: &eq::Band) -> Self {
        Self {
            kind,
            on: BoolParam::new(format!("{label} On"), default.enabled),
            freq_hz: freq_param(format!("{label} Freq"), default.freq_hz),
            slope: EnumParam::new(format!("{label} Slope"), SlopeChoice::Db24),
            placement: EnumParam::new(format!("{label} Placement"), PlacementChoice::Stereo),
        }
    }
}

/// The EQ module.
#[derive(Params)]
pub struct EqParams {
    /// EQ on (off = bypassed; linear phase keeps its latency).
    #[id = "eq"]
    pub on: BoolParam,
    /// Minimum or linear phase.
    #[id = "eq_phase"]
    pub phase: EnumParam<PhaseChoice>,
    /// Low cut.
    #[nested(id_prefix = "eq_lc", group = "EQ Low Cut")]
    pub low_cut: EqCutParams,
    /// Low shelf.
    #[nested(id_prefix = "eq_ls", group = "EQ Low Shelf")]
    pub low_shelf: EqBandParams,
    /// Bell 1.
    #[nested(id_prefix = "eq_b1", group = "EQ Bell 1")]
    pub bell1: EqBandParams,
    /// Bell 2.
    #[nested(id_prefix = "eq_b2", group = "EQ Bell 2")]
    pub bell2: EqBandParams,
    /// Bell 3.
    #[nested(id_prefix = "eq_b3", group = "EQ Bell 3")]
    pub bell3: EqBandParams,
    /// High shelf.
    #[nested(id_prefix = "eq_hs", group = "EQ High Shelf")]
    pub high_shelf: EqBandParams,
    /// High cut.
    #[nested(id_prefix = "eq_hc", group = "EQ High Cut")]
    pub high_cut: EqCutParams,
}

impl Default for EqParams {
    fn default() -> Self {
        let d = eq::default_bands();
        Self {
            on: BoolParam::new("EQ", true),
            phase: EnumParam::new("EQ Phase", PhaseChoice::Minimum),
            low_cut: EqCutParams::new("EQ Low Cut", BandKind::LowCut, &d[0]),
            low_shelf: EqBandParams::new("Low Shelf", BandKind::LowShelf, &d[1]),
            bell1: EqBandParams::new("Bell 1", BandKind::Bell, &d[2]),
            bell2: EqBandParams::new("Bell 2", BandKind::Bell, &d[3]),
            bell3: EqBandParams::new("Bell 3", BandKind::Bell, &d[4]),
            high_shelf: EqBandParams::new("High Shelf", BandKind::HighShelf, &d[5]),
            high_cut: EqCutParams::new("EQ High Cut", BandKind::HighCut, &d[6]),
        }
    }
}

/// The glue compressor module.
#[derive(Params)]
pub struct CompParams {
    /// Compressor on (off = skipped; it has no latency).
    #[id = "comp"]
    pub on: BoolParam,
    /// Threshold (dB).
    #[id = "comp_threshold"]
    pub threshold_db: FloatParam,
    /// Ratio (n:1).
    #[id = "comp_ratio"]
    pub ratio: FloatParam,
    /// Knee width (dB).
    #[id = "comp_knee"]
    pub knee_db: FloatParam,
    /// Attack (ms).
    #[id = "comp_attack"]
    pub attack_ms: FloatParam,
    /// Release (ms), used while Auto Release is off.
    #[id = "comp_release"]
    pub release_ms: FloatParam,
    /// Program-dependent release.
    #[id = "comp_auto_release"]
    pub auto_release: BoolParam,
    /// Sidechain high-pass on.
    #[id = "comp_sc_hp"]
    pub sidechain_hp: BoolParam,
    /// Sidechain high-pass frequency (Hz).
    #[id = "comp_sc_hz"]
    pub sidechain_hz: FloatParam,
    /// Stereo link (%).
    #[id = "comp_link"]
    pub link_pct: FloatParam,
    /// Dry/wet mix (%; 100 = fully compressed).
    #[id = "comp_mix"]
    pub mix_pct: FloatParam,
    /// Makeup gain (dB).
    #[id = "comp_makeup"]
    pub makeup_db: FloatParam,
}

fn db_param(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min, max })
        .with_unit(" dB")
        .with_step_size(0.01)
        .with_value_to_string(formatters::v2s_f32_rounded(2))
}

fn pct_param(name: &str, default: f32) -> FloatParam {
    FloatParam::new(
        name,
        default,
        FloatRange::Linear {
            min: 0.0,
            max: 100.0,
        },
    )
    .with_unit(" %")
    .with_step_size(0.1)
    .with_value_to_string(formatters::v2s_f32_rounded(1))
}

fn ms_param(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(
        name,
        default,
        FloatRange::Skewed {
            min,
            max,
            factor: FloatRange::skew_factor(-2.0),
        },
    )
    .with_unit(" ms")
    .with_step_size(0.1)
    .with_value_to_string(formatters::v2s_f32_rounded(1))
}

impl Default for CompParams {
    fn default() -> Self {
        Self {
            on: BoolParam::new("Compressor", false),
            threshold_db: db_param("Comp Threshold", -18.0, -60.0, 0.0),
            ratio: FloatParam::new(
                "Comp Ratio",
                2.0,
                FloatRange::Skewed {
                    min: 1.0,
                    max: 10.0,
                    factor: FloatRange::skew_factor(-1.5),
                },
            )
            .with_unit(":1")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            knee_db: db_param("Comp Knee", 6.0, 0.0, 24.0),
            attack_ms: FloatParam::new(
                "Comp Attack",
                10.0,
                FloatRange::Skewed {
                    min: 0.1,
                    max: 100.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_unit(" ms")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            release_ms: ms_param("Comp Release", 200.0, 10.0, 2000.0),
            auto_release: BoolParam::new("Comp Auto Release", false),
            sidechain_hp: BoolParam::new("Comp SC High-Pass", true),
            sidechain_hz: FloatParam::new(
                "Comp SC Freq",
                60.0,
                FloatRange::Skewed {
                    min: 20.0,
                    max: 300.0,
                    factor: FloatRange::skew_factor(-1.0),
                },
            )
            .with_unit(" Hz")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            link_pct: pct_param("Comp Link", 100.0),
            mix_pct: pct_param("Comp Mix", 100.0),
            makeup_db: db_param("Comp Makeup", 0.0, 0.0, 24.0),
        }
    }
}

/// Ceiling range (dBTP).
pub const MIN_CEILING_DBTP: f32 = -6.0;
/// See [`MIN_CEILING_DBTP`].
pub const MAX_CEILING_DBTP: f32 = -0.1;

/// The parameters. IDs are stable: they are what hosts store in projects and automation.
#[derive(Params)]
pub struct MasterParams {
    /// The host's bypass (its bypass button): the input delayed by the latency, crossfaded;
    /// separate from the level-matched A/B.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Level-matched A/B: processed, matched bypass or delta.
    #[id = "ab"]
    pub ab: EnumParam<AbChoice>,
    /// Input trim before the chain (dB).
    #[id = "input_gain"]
    pub input_gain_db: FloatParam,
    /// DC / subsonic high-pass after the trim.
    #[id = "low_cut"]
    pub low_cut: EnumParam<LowCutChoice>,
    /// The EQ.
    #[nested(group = "EQ")]
    pub eq: EqParams,
    /// The glue compressor.
    #[nested(group = "Compressor")]
    pub comp: CompParams,
    /// Stereo stage on (off = bypassed).
    #[id = "stereo"]
    pub stereo_on: BoolParam,
    /// Stereo width (%; 100 = unchanged).
    #[id = "width"]
    pub width_pct: FloatParam,
    /// Mono below the Mono Below frequency.
    #[id = "mono_bass"]
    pub mono_bass: BoolParam,
    /// Crossover of the mono bass (Hz).
    #[id = "mono_below"]
    pub mono_below_hz: FloatParam,
    /// Limiter on (off = bypassed, latency kept).
    #[id = "limiter"]
    pub limiter_on: BoolParam,
    /// Gain into the limiter (dB).
    #[id = "drive"]
    pub drive_db: FloatParam,
    /// True-peak ceiling (dBTP).
    #[id = "tp_ceiling"]
    pub ceiling_dbtp: FloatParam,
    /// Release time (ms), used while Auto Release is off.
    #[id = "release"]
    pub release_ms: FloatParam,
    /// Program-dependent release.
    #[id = "auto_release"]
    pub auto_release: BoolParam,
    /// Lookahead (ms); sets the latency.
    #[id = "lookahead"]
    pub lookahead_ms: FloatParam,
    /// Loudness target the Learn button aims the drive at (and the editor compares with).
    #[id = "target"]
    pub target: EnumParam<TargetChoice>,
    /// Gain after the limiter (dB, ≤ 0 so the ceiling still holds).
    #[id = "output_gain"]
    pub output_gain_db: FloatParam,
    /// Dither to 24 or 16 bit, applied last.
    #[id = "dither"]
    pub dither: EnumParam<DitherChoice>,
    /// First-order noise shaping of the dither.
    #[id = "noise_shaping"]
    pub noise_shaping: BoolParam,
    /// Listen to the selected reference (the A/B row's fourth button; a parameter of its own
    /// so that automation of the A/B written before it keeps its meaning).
    #[id = "ref_listen"]
    pub ref_listen: BoolParam,
    /// Which reference slot (1–4) Ref Listen plays.
    #[id = "ref_slot"]
    pub ref_slot: IntParam,
    /// How the reference is level-matched to the processed signal.
    #[id = "ref_match"]
    pub ref_match: EnumParam<RefMatchChoice>,
    /// The reference loop follows the host's transport (else it runs free).
    #[id = "ref_sync"]
    pub ref_sync: BoolParam,
    /// The reference slots: files and loops (not the audio).
    #[persist = "references"]
    pub references: std::sync::RwLock<Vec<crate::reference::SlotState>>,
    /// Layout version of the saved state ([`STATE_VERSION`]); older states are migrated in
    /// [`migrate_state`] before they load.
    #[persist = "state-version"]
    pub state_version: AtomicU32,
}

/// Version of the saved plugin state. Bump it when a parameter's meaning, range or ID changes,
/// and teach [`migrate_state`] to bring older states forward; the fixtures under
/// `tests/fixtures/state/` must keep loading with identical parameters and audio.
pub const STATE_VERSION: u32 = 1;

/// Brings a saved state of an older layout to [`STATE_VERSION`] (nice-plug's `filter_state`).
/// Version 0 (states saved before the version was recorded) has the same parameters as 1.
pub fn migrate_state(state: &mut nice_plug::prelude::PluginState) {
    let version = state
        .fields
        .get("state-version")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if version < STATE_VERSION {
        state
            .fields
            .insert("state-version".into(), STATE_VERSION.to_string());
    }
}

impl Default for MasterParams {
    fn default() -> Self {
        Self {
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            ab: EnumParam::new("A/B", AbChoice::Processed),
            input_gain_db: FloatParam::new(
                "Input Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            low_cut: EnumParam::new("Low Cut", LowCutChoice::Off),
            eq: EqParams::default(),
            comp: CompParams::default(),
            stereo_on: BoolParam::new("Stereo", true),
            width_pct: FloatParam::new(
                "Width",
                100.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: MAX_WIDTH * 100.0,
                },
            )
            .with_unit(" %")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            mono_bass: BoolParam::new("Mono Bass", false),
            mono_below_hz: FloatParam::new(
                "Mono Below",
                120.0,
                FloatRange::Skewed {
                    min: MONO_BASS_MIN_HZ,
                    max: MONO_BASS_MAX_HZ,
                    factor: FloatRange::skew_factor(-1.0),
                },
            )
            .with_unit(" Hz")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            limiter_on: BoolParam::new("Limiter", true),
            drive_db: FloatParam::new(
                "Drive",
                0.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: 24.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            ceiling_dbtp: FloatParam::new(
                "Ceiling",
                -1.0,
                FloatRange::Linear {
                    min: MIN_CEILING_DBTP,
                    max: MAX_CEILING_DBTP,
                },
            )
            .with_unit(" dBTP")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            release_ms: FloatParam::new(
                "Release",
                100.0,
                FloatRange::Skewed {
                    min: 1.0,
                    max: 1000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_unit(" ms")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1)),
            auto_release: BoolParam::new("Auto Release", true),
            lookahead_ms: FloatParam::new(
                "Lookahead",
                1.5,
                FloatRange::Linear {
                    min: MIN_LOOKAHEAD_MS,
                    max: MAX_LOOKAHEAD_MS,
                },
            )
            .with_unit(" ms")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            target: EnumParam::new("Target", TargetChoice::Spotify),
            output_gain_db: FloatParam::new(
                "Output Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 0.0,
                },
            )
            .with_unit(" dB")
            .with_step_size(0.01)
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            dither: EnumParam::new("Dither", DitherChoice::Off),
            noise_shaping: BoolParam::new("Noise Shaping", false),
            ref_listen: BoolParam::new("Ref Listen", false),
            ref_slot: IntParam::new("Ref Slot", 1, IntRange::Linear { min: 1, max: 4 }),
            ref_match: EnumParam::new("Ref Match", RefMatchChoice::Integrated),
            ref_sync: BoolParam::new("Ref Sync", true),
            references: std::sync::RwLock::new(vec![Default::default(); crate::reference::SLOTS]),
            state_version: AtomicU32::new(STATE_VERSION),
        }
    }
}

impl LowCutChoice {
    fn mode(self) -> LowCutMode {
        match self {
            Self::Off => LowCutMode::Off,
            Self::Dc => LowCutMode::Dc,
            Self::Sub20 => LowCutMode::Sub20,
            Self::Sub30 => LowCutMode::Sub30,
        }
    }
}

impl EqBandParams {
    fn settings(&self) -> BandSettings {
        BandSettings {
            on: self.on.value(),
            freq_hz: self.freq_hz.value(),
            gain_db: self.gain_db.value(),
            q: self.q.value(),
            placement: self.placement.value().placement(),
        }
    }
}

impl EqCutParams {
    fn settings(&self) -> CutSettings {
        CutSettings {
            on: self.on.value(),
            freq_hz: self.freq_hz.value(),
            slope_db_per_octave: match self.slope.value() {
                SlopeChoice::Db12 => 12,
                SlopeChoice::Db24 => 24,
                SlopeChoice::Db48 => 48,
            },
            placement: self.placement.value().placement(),
        }
    }
}

impl MasterParams {
    /// The chain's settings from the parameters: the one place parameters meet the DSP. Called
    /// for every block; never allocates.
    pub fn settings(&self) -> MasterSettings {
        let e = &self.eq;
        let c = &self.comp;
        MasterSettings {
            version: SETTINGS_VERSION,
            target: self.target.value().target().id,
            input: InputSettings {
                gain_db: self.input_gain_db.value(),
                low_cut: self.low_cut.value().mode(),
            },
            eq: EqSettings {
                on: e.on.value(),
                phase: e.phase.value().phase(),
                low_cut: e.low_cut.settings(),
                low_shelf: e.low_shelf.settings(),
                bell1: e.bell1.settings(),
                bell2: e.bell2.settings(),
                bell3: e.bell3.settings(),
                high_shelf: e.high_shelf.settings(),
                high_cut: e.high_cut.settings(),
            },
            compressor: CompressorSettings {
                on: c.on.value(),
                threshold_db: c.threshold_db.value(),
                ratio: c.ratio.value(),
                knee_db: c.knee_db.value(),
                attack_ms: c.attack_ms.value(),
                release_ms: c.release_ms.value(),
                auto_release: c.auto_release.value(),
                sidechain_hp: c.sidechain_hp.value(),
                sidechain_hz: c.sidechain_hz.value(),
                link_pct: c.link_pct.value(),
                mix_pct: c.mix_pct.value(),
                makeup_db: c.makeup_db.value(),
            },
            stereo: StereoSettings {
                on: self.stereo_on.value(),
                width_pct: self.width_pct.value(),
                mono_bass: self.mono_bass.value(),
                mono_below_hz: self.mono_below_hz.value(),
            },
            limiter: LimiterSettings {
                on: self.limiter_on.value(),
                drive_db: self.drive_db.value(),
                ceiling_dbtp: self.ceiling_dbtp.value(),
                release_ms: self.release_ms.value(),
                auto_release: self.auto_release.value(),
                lookahead_ms: self.lookahead_ms.value(),
            },
            output: OutputSettings {
                gain_db: self.output_gain_db.value(),
                dither_bits: match self.dither.value() {
                    DitherChoice::Off => 0,
                    DitherChoice::Bits24 => 24,
                    DitherChoice::Bits16 => 16,
                },
                noise_shaping: self.noise_shaping.value(),
                listen: if self.ref_listen.value() {
                    Listen::Reference
                } else {
                    self.ab.value().listen()
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lathe_dsp::master::params::{Kind, specs};

    /// The CLI's parameter table (lathe-dsp) is the plugin's: same names in the same order,
    /// same ranges and choice names, and `settings()` agrees with the table for every value.
    #[test]
    fn the_cli_parameter_table_is_the_plugins() {
        let params = MasterParams::default();
        // The host's bypass is the plugin's own (offline renders have none); the rest is the
        // chain's table.
        let map: Vec<_> = params
            .param_map()
            .into_iter()
            .filter(|(id, _, _)| id != "bypass" && !id.starts_with("ref_"))
            .collect();
        let table = specs();
        let names: Vec<String> = map
            .iter()
            .map(|(_, p, _)| unsafe { p.name() }.to_owned())
            .collect();
        let table_names: Vec<&str> = table.iter().map(|s| s.name).collect();
        assert_eq!(names, table_names);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for round in 0..200 {
            for ((_, ptr, _), spec) in map.iter().zip(&table) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let normalized = if round == 0 {
                    unsafe { ptr.default_normalized_value() }
                } else {
                    (rng % 10_001) as f32 / 10_000.0
                };
                unsafe { ptr._internal_set_normalized_value(normalized) };
                let plain = unsafe { ptr.unmodulated_plain_value() };
                // The table rounds to the plugin's own grid.
                assert_eq!(spec.snap(plain), plain, "{}: step", spec.name);
                match spec.kind {
                    Kind::Float { min, max, .. } => {
                        assert!((min..=max).contains(&plain), "{}: {plain}", spec.name);
                        let (lo, hi) = unsafe { (ptr.preview_plain(0.0), ptr.preview_plain(1.0)) };
                        assert_eq!((lo, hi), (min, max), "{} range", spec.name);
                    }
                    Kind::Choice(names) => {
                        let text = unsafe { ptr.normalized_value_to_string(normalized, false) };
                        assert_eq!(text, names[plain as usize], "{}", spec.name);
                    }
                    Kind::Bool => {}
                }
            }
            let mut from_table = MasterSettings::default();
            for ((_, ptr, _), spec) in map.iter().zip(&table) {
                (spec.set)(&mut from_table, unsafe { ptr.unmodulated_plain_value() });
            }
            assert_eq!(params.settings(), from_table, "round {round}");
        }
    }
}

//! `lathe master --match REF`: the chain's EQ, width and loudness target chosen to move the mix
//! toward one or more reference records ([`lathe_dsp::matching`] does the fit; the spectra
//! are `lathe compare`'s).
//!
//! `--match` takes either a reference file (repeatable: several are averaged) or a list of
//! what to match, `tone`, `width`, `loudness` (comma-separated; default all three). A value
//! made only of those words is the list; to name a file called `tone`, write `./tone`.

use crate::compare::{self, NOMINAL_HZ};
use anyhow::{Result, anyhow, bail};
use lathe_dsp::master::{BandSettings, MasterSettings};
use lathe_dsp::matching::{self, Aspects, MatchFit, MatchOptions, Spectra};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// What `--match` asked for.
pub struct MatchRequest {
    pub references: Vec<PathBuf>,
    pub tone: bool,
    pub width: bool,
    pub loudness: bool,
    /// 0…1.
    pub amount: f64,
    pub limit_db: f64,
}

const ASPECTS: [&str; 3] = ["tone", "width", "loudness"];

impl MatchRequest {
    /// Reads the `--match` values; `None` when there are none.
    pub fn parse(values: &[String], amount_pct: f64, limit_db: f64) -> Result<Option<Self>> {
        if values.is_empty() {
            return Ok(None);
        }
        if !(0.0..=100.0).contains(&amount_pct) {
            bail!("--match-amount {amount_pct}: a percentage from 0 to 100");
        }
        if !(0.0..=18.0).contains(&limit_db) {
            bail!("--match-limit {limit_db}: from 0 to 18 dB (the EQ's range)");
        }
        let mut references = Vec::new();
        let mut words = Vec::new();
        for v in values {
            let list: Vec<&str> = v.split(',').map(str::trim).collect();
            if list.iter().all(|w| ASPECTS.contains(w)) {
                words.extend(list);
            } else {
                references.push(PathBuf::from(v));
            }
        }
        if references.is_empty() {
            bail!(
                "--match {}: no reference file given (--match REF.wav; tone, width and loudness \
                 name what to match)",
                values.join(" ")
            );
        }
        let all = words.is_empty();
        Ok(Some(Self {
            references,
            tone: all || words.contains(&"tone"),
            width: all || words.contains(&"width"),
            loudness: all || words.contains(&"loudness"),
            amount: amount_pct / 100.0,
            limit_db,
        }))
    }

    fn aspects_text(&self) -> String {
        [
            (self.tone, "tone"),
            (self.width, "width"),
            (self.loudness, "loudness"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// What the match chose, for the report.
pub struct MatchOutcome {
    request_text: String,
    references: Vec<String>,
    amount: f64,
    limit_db: f64,
    /// The references' integrated loudness (LUFS) and the target taken from them.
    reference_lufs: Vec<f64>,
    pub target_lufs: Option<f64>,
    fit: Option<MatchFit>,
    mono: bool,
}

/// Measures the mix and the references, fits, and writes the result into `settings`.
pub fn apply(
    request: &MatchRequest,
    input: &Path,
    settings: &mut MasterSettings,
) -> Result<MatchOutcome> {
    let mix = compare::measure(input).map_err(|e| anyhow!("{}: {e:#}", input.display()))?;
    let refs = request
        .references
        .iter()
        .map(|p| compare::measure(p).map_err(|e| anyhow!("--match {}: {e:#}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let averaged = compare::average_references(&mix, &refs)?;
    let mono = mix.side.iter().all(|&s| s <= 0.0);
    let width = request.width && !mono;
    let fit = (request.tone || width).then(|| {
        let centres = compare::band_centres();
        matching::fit(
            &Spectra {
                centres_hz: &centres,
                mix_mid: &mix.mid,
                mix_side: &mix.side,
                ref_mid: &averaged.mid,
                ref_side: &averaged.side,
                mix_mid_fifths: &mix.mid_fifths,
                mix_side_fifths: &mix.side_fifths,
            },
            &settings.eq,
            &MatchOptions {
                aspects: Aspects {
                    tone: request.tone,
                    width,
                },
                amount: request.amount,
                limit_db: request.limit_db,
            },
        )
    });
    if let Some(fit) = &fit {
        settings.eq = fit.eq;
        if let Some(w) = fit.width_pct {
            settings.stereo.on = true;
            settings.stereo.width_pct = w;
        }
    }
    let reference_lufs: Vec<f64> = refs.iter().map(|r| r.integrated_lufs).collect();
    let target_lufs = request
        .loudness
        .then(|| reference_lufs.iter().sum::<f64>() / reference_lufs.len() as f64);
    if let Some(t) = target_lufs
        && !(-40.0..=0.0).contains(&t)
    {
        bail!("the references' loudness ({t:.1} LUFS) is no target (-40…0 LUFS)");
    }
    Ok(MatchOutcome {
        request_text: request.aspects_text(),
        references: request
            .references
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        amount: request.amount,
        limit_db: request.limit_db,
        reference_lufs,
        target_lufs,
        fit,
        mono,
    })
}

fn bands(settings: &MasterSettings) -> [(&'static str, BandSettings); 5] {
    let eq = &settings.eq;
    [
        ("low shelf", eq.low_shelf),
        ("bell 1", eq.bell1),
        ("bell 2", eq.bell2),
        ("bell 3", eq.bell3),
        ("high shelf", eq.high_shelf),
    ]
}

fn placement(b: &BandSettings) -> &'static str {
    match b.placement {
        lathe_dsp::eq::Placement::Stereo => "stereo",
        lathe_dsp::eq::Placement::Mid => "mid",
        lathe_dsp::eq::Placement::Side => "side",
    }
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

impl MatchOutcome {
    /// The report's `match` object; `settings` are those rendered (snapped to the plugin's
    /// steps).
    pub fn json(&self, settings: &MasterSettings) -> Value {
        let opt = |v: &[Option<f64>]| -> Vec<Value> {
            v.iter().map(|d| d.map_or(Value::Null, num)).collect()
        };
        let eq: Vec<Value> = bands(settings)
            .iter()
            .map(|(name, b)| {
                json!({
                    "band": name,
                    "freq_hz": num(f64::from(b.freq_hz)),
                    "gain_db": num(f64::from(b.gain_db)),
                    "q": num(f64::from(b.q)),
                    "placement": placement(b),
                })
            })
            .collect();
        json!({
            "references": self.references,
            "references_lufs": self.reference_lufs.iter().map(|&l| num(l)).collect::<Vec<_>>(),
            "aspects": self.request_text,
            "amount_pct": num(self.amount * 100.0),
            "limit_db": num(self.limit_db),
            "target_lufs": self.target_lufs.map(num),
            "eq": self.fit.as_ref().map(|_| eq),
            "width_pct": self.fit.as_ref().and_then(|f| f.width_pct).map(|_| num(f64::from(settings.stereo.width_pct))),
            "bands_hz": NOMINAL_HZ.to_vec(),
            "fitted_mid_db": self.fit.as_ref().map(|f| opt(&f.target_mid_db)),
            "fitted_side_db": self.fit.as_ref().map(|f| opt(&f.target_side_db)),
            "residual_mid_db": self.fit.as_ref().map(|f| opt(&f.residual_mid_db)),
            "residual_side_db": self.fit.as_ref().map(|f| opt(&f.residual_side_db)),
        })
    }

    pub fn print(&self, settings: &MasterSettings) {
        println!(
            "  match ({}, {:.0} %, bands within ±{} dB) to {}",
            self.request_text,
            self.amount * 100.0,
            self.limit_db,
            self.references.join(", ")
        );
        if let Some(fit) = &self.fit {
            for (name, b) in bands(settings) {
                if b.gain_db.abs() >= 0.05 {
                    println!(
                        "    {name:<10} {:>6} {:>8.0} Hz  {:+5.1} dB  Q {:.2}",
                        placement(&b),
                        b.freq_hz,
                        b.gain_db,
                        b.q
                    );
                }
            }
            if fit.width_pct.is_some() {
                println!("    width      {:.0} %", settings.stereo.width_pct);
            }
            if self.mono && (self.request_text.contains("width")) {
                println!("    (mono mix: width not matched)");
            }
            let (m, s) = (
                matching::largest_from_40_hz_to_16_khz(&fit.residual_mid_db),
                matching::largest_from_40_hz_to_16_khz(&fit.residual_side_db),
            );
            let show = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1} dB"));
            println!(
                "    left unmatched (largest 1/3-octave band, 40 Hz–16 kHz): mid {}, side {}",
                show(m),
                show(s)
            );
        }
        if let Some(t) = self.target_lufs {
            println!("    loudness target from the references: {t:.1} LUFS");
        }
    }
}

//! `lathe compare MIX REF... [--json] [--plot FILE.png]`: a mix beside reference records, at
//! matched loudness. Per file: integrated loudness, loudness range, PLR, crest factor,
//! correlation, stereo width per band (side/mid energy), and long-term 1/3-octave spectra of mid
//! and side. The references are each moved to the mix's integrated loudness (several references:
//! their level-matched spectra are averaged), and the difference reference − mix is given per
//! 1/3-octave band for mid and side: what the mix would need to sound like the references.

use crate::decode::AudioFile;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use lathe_dsp::band_spectrum::{BandAnalyzer, BandSpectra};
pub use lathe_dsp::band_spectrum::{NOMINAL_HZ, WIDTH_BANDS, band_centres};

/// Below this a band holds no signal (dB re full scale).
const FLOOR_DB: f64 = -150.0;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The mix (or master) to compare.
    pub mix: PathBuf,
    /// One or more reference records (WAV, AIFF, FLAC, MP3).
    #[arg(required = true)]
    pub references: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also draw the mid and side differences into this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

/// The measures of one file.
pub struct Measures {
    pub file: String,
    pub integrated_lufs: f64,
    pub loudness_range_lu: f64,
    pub plr_db: f64,
    pub crest_db: f64,
    pub correlation: f64,
    /// Long-term power per 1/3-octave band (linear, re a full-scale sine), mid and side.
    pub mid: Vec<f64>,
    pub side: Vec<f64>,
    /// Side/mid energy per [`WIDTH_BANDS`] range (0 = mono).
    pub width: Vec<f64>,
    /// The power of each fifth of every band (log-spaced), mid and side: how the energy lies
    /// inside the bands, for the match's model of what a band measurement sees.
    pub mid_fifths: Vec<[f64; 5]>,
    pub side_fifths: Vec<[f64; 5]>,
}

/// Measures a file: the analyzer's figures and the mid/side band spectra.
pub fn measure(path: &Path) -> Result<Measures> {
    let a = crate::analyze(path, -1.0, false)?;
    let r = &a.report;
    let BandSpectra {
        mid,
        side,
        width,
        mid_fifths,
        side_fifths,
    } = band_spectra(path)?;
    Ok(Measures {
        file: path.display().to_string(),
        integrated_lufs: r.loudness.integrated_lufs,
        loudness_range_lu: r.loudness.loudness_range_lu,
        plr_db: r.plr_db,
        crest_db: r.crest_db,
        correlation: r.stereo.correlation,
        mid,
        side,
        width,
        mid_fifths,
        side_fifths,
    })
}

/// The file's long-term mid/side band spectra ([`BandAnalyzer`]).
fn band_spectra(path: &Path) -> Result<BandSpectra> {
    let mut file = AudioFile::open(path)?;
    let mut analyzer = BandAnalyzer::new(f64::from(file.sample_rate));
    let mut planar = vec![Vec::new(); file.channels];
    while file.next_chunk(&mut planar)? {
        // A mono file is its own mid, with no side.
        let right = if planar.len() >= 2 {
            &planar[1]
        } else {
            &planar[0]
        };
        analyzer.push(&planar[0], right);
    }
    analyzer.result().with_context(|| {
        format!(
            "too short to compare (under {:.2} s)",
            (f64::from(file.sample_rate) / 3.0)
                .ceil()
                .log2()
                .ceil()
                .exp2()
                / f64::from(file.sample_rate)
        )
    })
}

fn db(p: f64) -> f64 {
    if p > 0.0 {
        (10.0 * p.log10()).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

/// The comparison: per band, the level-matched reference average minus the mix (dB), mid and
/// side; `None` where either holds no signal. Returns the offsets (dB added to each reference).
pub struct Comparison {
    pub offsets_db: Vec<f64>,
    pub mid_diff_db: Vec<Option<f64>>,
    pub side_diff_db: Vec<Option<f64>>,
}

/// The references moved to the mix's integrated loudness and averaged per band (power), mid
/// and side, and the offsets (dB added to each reference).
pub struct Averaged {
    pub mid: Vec<f64>,
    pub side: Vec<f64>,
    pub offsets_db: Vec<f64>,
}

pub fn average_references(mix: &Measures, refs: &[Measures]) -> Result<Averaged> {
    if !mix.integrated_lufs.is_finite() {
        bail!("{}: silent (no integrated loudness to match)", mix.file);
    }
    let mut offsets_db = Vec::new();
    for r in refs {
        if !r.integrated_lufs.is_finite() {
            bail!("{}: silent (no integrated loudness to match)", r.file);
        }
        offsets_db.push(mix.integrated_lufs - r.integrated_lufs);
    }
    let average = |pick: &dyn Fn(&Measures) -> &Vec<f64>| -> Vec<f64> {
        (0..band_centres().len())
            .map(|b| {
                // Average over the references that reach the band (a 44.1 kHz file has no
                // 20 kHz band).
                let (sum, count) = refs
                    .iter()
                    .zip(&offsets_db)
                    .filter(|(r, _)| pick(r)[b] > 0.0)
                    .fold((0.0, 0usize), |(s, n), (r, o)| {
                        (s + pick(r)[b] * 10f64.powf(o / 10.0), n + 1)
                    });
                if count > 0 { sum / count as f64 } else { 0.0 }
            })
            .collect()
    };
    Ok(Averaged {
        mid: average(&|m| &m.mid),
        side: average(&|m| &m.side),
        offsets_db,
    })
}

pub fn compare(mix: &Measures, refs: &[Measures]) -> Result<Comparison> {
    let avg = average_references(mix, refs)?;
    let diff = |averaged: &[f64], own: &[f64]| -> Vec<Option<f64>> {
        averaged
            .iter()
            .zip(own)
            .map(|(&a, &m)| {
                let (r, m) = (db(a), db(m));
                (r > FLOOR_DB && m > FLOOR_DB).then(|| ((r - m) * 100.0).round() / 100.0)
            })
            .collect()
    };
    Ok(Comparison {
        mid_diff_db: diff(&avg.mid, &mix.mid),
        side_diff_db: diff(&avg.side, &mix.side),
        offsets_db: avg.offsets_db,
    })
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

fn file_json(m: &Measures) -> Value {
    let width: serde_json::Map<String, Value> = WIDTH_BANDS
        .iter()
        .zip(&m.width)
        .map(|(&(name, _, _), &w)| (name.to_owned(), num(w)))
        .collect();
    json!({
        "file": m.file,
        "integrated_lufs": num(m.integrated_lufs),
        "loudness_range_lu": num(m.loudness_range_lu),
        "plr_db": num(m.plr_db),
        "crest_db": num(m.crest_db),
        "correlation": num(m.correlation),
        "width_per_band": width,
        "mid_db": m.mid.iter().map(|&p| num(db(p))).collect::<Vec<_>>(),
        "side_db": m.side.iter().map(|&p| num(db(p))).collect::<Vec<_>>(),
    })
}

pub fn run(args: &CompareArgs) -> i32 {
    match run_inner(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("lathe compare: {e:#}");
            1
        }
    }
}

fn run_inner(args: &CompareArgs) -> Result<()> {
    let mix = measure(&args.mix).with_context(|| args.mix.display().to_string())?;
    let refs = args
        .references
        .iter()
        .map(|p| measure(p).with_context(|| p.display().to_string()))
        .collect::<Result<Vec<_>>>()?;
    let c = compare(&mix, &refs)?;
    let centres = band_centres();
    if let Some(png) = &args.plot {
        plot(png, &centres, &c).with_context(|| format!("cannot draw {}", png.display()))?;
    }
    if args.json {
        let refs_json: Vec<Value> = refs
            .iter()
            .zip(&c.offsets_db)
            .map(|(r, o)| {
                let mut v = file_json(r);
                v["level_offset_db"] = num(*o);
                v
            })
            .collect();
        let opt = |v: &[Option<f64>]| -> Vec<Value> {
            v.iter().map(|d| d.map_or(Value::Null, num)).collect()
        };
        let offset = if c.offsets_db.len() == 1 {
            num(c.offsets_db[0])
        } else {
            Value::Array(c.offsets_db.iter().map(|&o| num(o)).collect())
        };
        let out = json!({
            "bands_hz": NOMINAL_HZ.iter().map(|&f| num(f)).collect::<Vec<_>>(),
            "mid_diff_db": opt(&c.mid_diff_db),
            "side_diff_db": opt(&c.side_diff_db),
            "level_offset_db": offset,
            "mix": file_json(&mix),
            "references": refs_json,
        });
        println!("{out}");
        return Ok(());
    }
    let fmt = |v: f64, unit: &str| {
        if v.is_finite() {
            format!("{v:7.1} {unit}")
        } else {
            format!("{:>7} {unit}", "–")
        }
    };
    println!(
        "{:<34} {:>12} {:>10} {:>9} {:>9} {:>7}  width low/lowmid/mid/high (side/mid)",
        "file", "integrated", "LRA", "PLR", "crest", "corr"
    );
    for (m, offset) in
        std::iter::once((&mix, None)).chain(refs.iter().zip(c.offsets_db.iter().map(Some)))
    {
        let name = Path::new(&m.file)
            .file_name()
            .map_or(m.file.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "{:<34} {} {} {} {} {:7.2}  {}{}",
            name,
            fmt(m.integrated_lufs, "LUFS"),
            fmt(m.loudness_range_lu, "LU"),
            fmt(m.plr_db, "dB"),
            fmt(m.crest_db, "dB"),
            m.correlation,
            m.width
                .iter()
                .map(|w| format!("{w:.2}"))
                .collect::<Vec<_>>()
                .join(" / "),
            offset.map_or(String::new(), |o| format!("   (matched: {o:+.2} dB)")),
        );
    }
    println!("\nreference − mix at matched loudness (dB; + = the reference has more):");
    println!("{:>9} {:>8} {:>8}", "band Hz", "mid", "side");
    let show = |d: Option<f64>| d.map_or("–".to_owned(), |v| format!("{v:+.1}"));
    for (i, f) in NOMINAL_HZ.iter().enumerate() {
        println!(
            "{:>9} {:>8} {:>8}",
            f,
            show(c.mid_diff_db[i]),
            show(c.side_diff_db[i])
        );
    }
    Ok(())
}

fn plot(path: &Path, centres: &[f64], c: &Comparison) -> Result<()> {
    use crate::deliver::report::{finish, font, plot_err};
    use plotters::prelude::*;
    let root = BitMapBackend::new(path, (1000, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Reference − mix at matched loudness (1/3 octave)",
            (font(), 22),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d((20.0..22_000.0).log_scale(), -12.0..12.0)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Hz")
        .y_desc("dB")
        .label_style((font(), 14))
        .draw()
        .map_err(plot_err)?;
    for (name, diffs, colour) in [
        ("mid", &c.mid_diff_db, BLUE),
        ("side", &c.side_diff_db, RED),
    ] {
        chart
            .draw_series(LineSeries::new(
                centres
                    .iter()
                    .zip(diffs.iter())
                    .filter_map(|(&f, d)| d.map(|d| (f, d.clamp(-12.0, 12.0)))),
                &colour,
            ))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    finish(chart, &root)
}

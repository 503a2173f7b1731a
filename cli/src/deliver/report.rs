//! The delivery report: `report.json`, `report.html` with PNG plots (loudness over time,
//! spectra), a table per deliverable, and what each platform will do with the file.

use super::codecs::CodecCheck;
use super::render::{Measured, Signal};
use super::{Delivered, Metadata, Partial};
use crate::num;
use anyhow::{Context, Result};
use lathe_dsp::targets;
use plotters::prelude::*;
use serde_json::{Value, json};
use std::path::Path;

pub struct Report<'a> {
    pub master: &'a Path,
    pub source_codec: &'a str,
    pub source_bits: Option<u32>,
    pub signal: &'a Signal,
    pub measured: &'a Measured,
    pub delivered: &'a [Delivered],
    pub failed: &'a [String],
    pub warnings: &'a [String],
    pub codecs: &'a [CodecCheck],
    pub meta: &'a Metadata,
    pub ceiling_dbtp: f64,
    pub lossy_ceiling_dbtp: f64,
}

/// Platforms the report predicts for, by target id.
const PLATFORMS: &[&str] = &[
    "spotify",
    "apple-music",
    "youtube",
    "tidal",
    "amazon-music",
    "deezer",
];

/// Spotify's Loud mode: −11 LUFS with a limiter at −1 dB (sample values).
const SPOTIFY_LOUD_LUFS: f64 = -11.0;
const SPOTIFY_LOUD_LIMIT_DBFS: f64 = -1.0;
/// Spotify's Quiet mode.
const SPOTIFY_QUIET_LUFS: f64 = -19.0;

impl Report<'_> {
    fn platforms(&self) -> Vec<Value> {
        let r = &self.measured.report;
        let lufs = r.loudness.integrated_lufs;
        let tp = r.true_peak_max_dbtp;
        let mut out: Vec<Value> = PLATFORMS
            .iter()
            .filter_map(|id| targets::find(id))
            .map(|t| {
                let v = t.judge(lufs, tp);
                json!({
                    "platform": t.name,
                    "reference_lufs": t.integrated_lufs,
                    "playback_gain_db": num(v.playback_gain_db),
                    "plays_at_lufs": num(lufs + v.playback_gain_db),
                    "note": t.describe(&v),
                })
            })
            .collect();
        // Loud: no cap, a limiter instead; it reduces what would pass −1 dBFS (sample peak).
        let loud_gain = SPOTIFY_LOUD_LUFS - lufs;
        let loud_gr = (r.sample_peak_max_dbfs + loud_gain - SPOTIFY_LOUD_LIMIT_DBFS).max(0.0);
        out.push(json!({
            "platform": "Spotify (Loud)",
            "reference_lufs": SPOTIFY_LOUD_LUFS,
            "playback_gain_db": num(loud_gain),
            "plays_at_lufs": num(SPOTIFY_LOUD_LUFS),
            "limiter_gain_reduction_db": num(loud_gr),
            "note": if loud_gr > 0.0 {
                format!("Spotify's limiter will take up to {loud_gr:.1} dB off the peaks")
            } else {
                "no limiting".to_string()
            },
        }));
        let quiet = targets::Target {
            integrated_lufs: Some(SPOTIFY_QUIET_LUFS),
            ..*targets::find("spotify").expect("spotify is a target")
        };
        let v = quiet.judge(lufs, tp);
        out.push(json!({
            "platform": "Spotify (Quiet)",
            "reference_lufs": SPOTIFY_QUIET_LUFS,
            "playback_gain_db": num(v.playback_gain_db),
            "plays_at_lufs": num(lufs + v.playback_gain_db),
            "note": quiet.describe(&v),
        }));
        out
    }

    fn json(&self) -> Value {
        let r = &self.measured.report;
        let deliverables: Vec<Value> = self
            .delivered
            .iter()
            .map(|d| {
                let b = &d.readback.report;
                json!({
                    "name": d.spec.name,
                    "file": d.file.file_name().map(|f| f.to_string_lossy().into_owned()),
                    "format": d.spec.container.extension(),
                    "sample_rate": d.rate_hz,
                    "bits": if d.bits == 0 { Value::Null } else { json!(d.bits) },
                    "channels": d.channels,
                    "frames": d.frames,
                    "bytes": d.bytes,
                    "resampled": d.rate_hz != self.signal.rate_hz,
                    "true_peak_before_limiting_dbtp": num(d.true_peak_before_dbtp),
                    "relimited": d.relimited,
                    "dithered": d.dithered,
                    "integrated_lufs": num(b.loudness.integrated_lufs),
                    "loudness_range_lu": num(b.loudness.loudness_range_lu),
                    "true_peak_dbtp": num(b.true_peak_max_dbtp),
                    "sample_peak_dbfs": num(b.sample_peak_max_dbfs),
                    "loudness_change_lu": num(d.loudness_change_lu),
                    "lossy": d.lossy.map(|(c, passes, cost)| json!({
                        "encoder_input_ceiling_dbtp": num(c),
                        "passes": passes,
                        "cost_lu": num(cost),
                    })),
                    "seconds": num(d.seconds),
                    "verified": d.checks.iter().map(|(k, v)| json!({"check": k, "result": v})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let codecs: Vec<Value> = self
            .codecs
            .iter()
            .map(|c| match &c.result {
                Ok((tp, clipped)) => json!({
                    "platform": c.platform, "codec": c.codec,
                    "decoded_true_peak_dbtp": num(*tp), "clipped_samples": clipped,
                    "over_lossy_ceiling": *tp > c.lossy_ceiling_dbtp,
                }),
                Err(e) => json!({"platform": c.platform, "codec": c.codec, "error": e}),
            })
            .collect();
        json!({
            "master": {
                "file": self.master.display().to_string(),
                "codec": self.source_codec,
                "bits": self.source_bits,
                "sample_rate": self.signal.rate_hz,
                "channels": self.signal.channels.len(),
                "frames": self.signal.frames(),
                "duration_s": num(self.signal.duration_s()),
                "integrated_lufs": num(r.loudness.integrated_lufs),
                "loudness_range_lu": num(r.loudness.loudness_range_lu),
                "short_term_max_lufs": num(r.loudness.short_term_max_lufs),
                "true_peak_dbtp": num(r.true_peak_max_dbtp),
                "sample_peak_dbfs": num(r.sample_peak_max_dbfs),
                "plr_db": num(r.plr_db),
            },
            "metadata": {
                "title": self.meta.title, "artist": self.meta.artist, "album": self.meta.album,
                "isrc": self.meta.isrc_display(), "track": self.meta.track, "year": self.meta.year,
                "upc": self.meta.upc, "composer": self.meta.composer,
            },
            "ceiling_dbtp": self.ceiling_dbtp,
            "lossy_ceiling_dbtp": self.lossy_ceiling_dbtp,
            "deliverables": deliverables,
            "failed": self.failed,
            "warnings": self.warnings,
            "platforms": self.platforms(),
            "codec_check": codecs,
        })
    }

    /// Writes `report.json`, the plots and `report.html` (each under a temporary name first);
    /// returns the JSON.
    pub fn write(&self, dir: &Path) -> Result<Value> {
        let json = self.json();
        let mut spectra: Vec<(String, Vec<(f64, f64)>)> =
            vec![("master".into(), spectrum(self.signal))];
        for d in self
            .delivered
            .iter()
            .filter(|d| d.spec.container.is_lossy())
        {
            if let Some(s) = &d.spectrum {
                spectra.push((d.spec.name.clone(), s.clone()));
            }
        }
        let mut files = Vec::new();
        for (name, draw) in [("loudness.png", 0usize), ("spectrum.png", 1usize)] {
            let partial = Partial::new(dir, name);
            let r = if draw == 0 {
                plot_loudness(&partial.temp, &self.measured.history)
            } else {
                plot_spectra(&partial.temp, &spectra)
            };
            r.with_context(|| format!("cannot draw {name}"))?;
            files.push((partial, name));
        }
        for (partial, name) in files {
            partial.commit(&dir.join(name))?;
        }
        let html = self.html(&json);
        let p = Partial::new(dir, "report.html");
        p.write(html.as_bytes())?;
        p.commit(&dir.join("report.html"))?;
        let p = Partial::new(dir, "report.json");
        p.write(serde_json::to_string_pretty(&json)?.as_bytes())?;
        p.commit(&dir.join("report.json"))?;
        Ok(json)
    }

    fn html(&self, json: &Value) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let cell = |v: &Value| match v {
            Value::Null => "–".to_string(),
            Value::String(s) => esc(s),
            other => esc(&other.to_string()),
        };
        let m = &json["master"];
        let mut h = String::new();
        h.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>Lathe delivery report</title>");
        h.push_str("<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#eee}.bad{color:#b00}</style></head><body>");
        h.push_str(&format!(
            "<h1>Delivery report</h1><p>Master <b>{}</b>: {} Hz, {} ch, {} s, {} LUFS integrated, LRA {} LU, {} dBTP true peak, {} dBFS sample peak.</p>",
            cell(&m["file"]), cell(&m["sample_rate"]), cell(&m["channels"]), cell(&m["duration_s"]),
            cell(&m["integrated_lufs"]), cell(&m["loudness_range_lu"]), cell(&m["true_peak_dbtp"]), cell(&m["sample_peak_dbfs"]),
        ));
        for w in self.warnings {
            h.push_str(&format!("<p class=\"bad\">Warning: {}</p>", esc(w)));
        }
        for f in self.failed {
            h.push_str(&format!(
                "<p class=\"bad\">FAILED and removed: {}</p>",
                esc(f)
            ));
        }
        h.push_str("<h2>Deliverables</h2><table><tr><th>file</th><th>rate</th><th>bits</th><th>LUFS</th><th>dBTP</th><th>dBFS</th><th>re-limited</th><th>dithered</th><th>verified</th></tr>");
        for d in json["deliverables"].as_array().into_iter().flatten() {
            let checks: Vec<String> = d["verified"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{}: {}", cell(&c["check"]), cell(&c["result"])))
                .collect();
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(&d["file"]), cell(&d["sample_rate"]), cell(&d["bits"]), cell(&d["integrated_lufs"]),
                cell(&d["true_peak_dbtp"]), cell(&d["sample_peak_dbfs"]), cell(&d["relimited"]), cell(&d["dithered"]),
                checks.join("<br>"),
            ));
        }
        h.push_str("</table><h2>What the platforms will do</h2><table><tr><th>platform</th><th>reference</th><th>playback gain dB</th><th>plays at LUFS</th><th>note</th></tr>");
        for p in json["platforms"].as_array().into_iter().flatten() {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(&p["platform"]),
                cell(&p["reference_lufs"]),
                cell(&p["playback_gain_db"]),
                cell(&p["plays_at_lufs"]),
                cell(&p["note"]),
            ));
        }
        h.push_str("</table><h2>The platforms' own codecs</h2><table><tr><th>platform</th><th>codec</th><th>decoded true peak dBTP</th><th>clipped samples</th></tr>");
        for c in json["codec_check"].as_array().into_iter().flatten() {
            let tp = if c["error"].is_null() {
                cell(&c["decoded_true_peak_dbtp"])
            } else {
                format!("not measured: {}", cell(&c["error"]))
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{tp}</td><td>{}</td></tr>",
                cell(&c["platform"]),
                cell(&c["codec"]),
                cell(&c["clipped_samples"]),
            ));
        }
        h.push_str("</table><h2>Loudness over time</h2><img src=\"loudness.png\" alt=\"momentary and short-term loudness\">");
        h.push_str("<h2>Spectrum</h2><img src=\"spectrum.png\" alt=\"long-term spectra\">");
        h.push_str("</body></html>\n");
        h
    }

    /// A short summary on stdout.
    pub fn print(&self) {
        let r = &self.measured.report;
        println!(
            "{}: {:.1} LUFS, {:.2} dBTP, {} Hz",
            self.master.display(),
            r.loudness.integrated_lufs,
            r.true_peak_max_dbtp,
            self.signal.rate_hz
        );
        for w in self.warnings {
            println!("  warning: {w}");
        }
        for d in self.delivered {
            let b = &d.readback.report;
            println!(
                "  ok    {:<40} {:>6} Hz {:>2} bit  {:6.1} LUFS {:6.2} dBTP{}{}",
                d.file
                    .file_name()
                    .map_or(String::new(), |f| f.to_string_lossy().into_owned()),
                d.rate_hz,
                if d.bits == 0 {
                    "–".into()
                } else {
                    d.bits.to_string()
                },
                b.loudness.integrated_lufs,
                b.true_peak_max_dbtp,
                if d.relimited { "  re-limited" } else { "" },
                if d.dithered { "  dithered" } else { "" },
            );
        }
        for f in self.failed {
            eprintln!("lathe deliver: FAILED (removed) {f}");
        }
        for c in self.codecs {
            match &c.result {
                Ok((tp, clipped)) => println!(
                    "  codec {} {}: {tp:.2} dBTP decoded, {clipped} clipped samples{}",
                    c.platform,
                    c.codec,
                    if *tp > c.lossy_ceiling_dbtp {
                        "  (over the lossy ceiling)"
                    } else {
                        ""
                    }
                ),
                Err(e) => println!("  codec {} {}: not measured ({e})", c.platform, c.codec),
            }
        }
    }
}

/// Long-term average spectrum of the channel sum: Welch, 8192-point Hann frames, 50 % overlap,
/// in dB relative to a full-scale sine, then averaged into 1/12-octave bands from 20 Hz.
pub fn spectrum(signal: &Signal) -> Vec<(f64, f64)> {
    const N: usize = 8192;
    let frames = signal.frames();
    if frames < N {
        return Vec::new();
    }
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(N);
    let window: Vec<f64> = (0..N)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N as f64).cos())
        .collect();
    let wsum: f64 = window.iter().sum();
    let mut input = fft.make_input_vec();
    let mut output = fft.make_output_vec();
    let mut power = vec![0.0f64; N / 2 + 1];
    let mut count = 0usize;
    let ch = signal.channels.len() as f64;
    let mut start = 0;
    while start + N <= frames {
        for (i, x) in input.iter_mut().enumerate() {
            let s: f64 = signal.channels.iter().map(|c| c[start + i]).sum::<f64>() / ch;
            *x = s * window[i];
        }
        if fft.process(&mut input, &mut output).is_ok() {
            for (p, o) in power.iter_mut().zip(&output) {
                *p += o.norm_sqr();
            }
            count += 1;
        }
        start += N / 2;
    }
    // A full-scale sine gives |X| = wsum / 2 at its bin.
    let reference = (wsum / 2.0).powi(2) * count as f64;
    let bin_hz = f64::from(signal.rate_hz) / N as f64;
    let nyquist = f64::from(signal.rate_hz) / 2.0;
    let mut out = Vec::new();
    let mut lo = 20.0f64;
    while lo < nyquist.min(24_000.0) {
        let hi = lo * 2f64.powf(1.0 / 12.0);
        let (a, b) = (
            (lo / bin_hz).ceil() as usize,
            ((hi / bin_hz).floor() as usize).min(N / 2),
        );
        if b >= a {
            let p = power[a..=b].iter().sum::<f64>() / (b - a + 1) as f64 / reference;
            out.push(((lo * hi).sqrt(), 10.0 * p.max(1e-20).log10()));
        }
        lo = hi;
    }
    out
}

pub(crate) fn font() -> &'static str {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        plotters::style::register_font(
            "lathe-sans",
            plotters::style::FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .ok();
    });
    "lathe-sans"
}

pub(crate) fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

/// Draws a chart's legend and writes the image.
pub(crate) fn finish<'a, CT: CoordTranslate>(
    mut chart: ChartContext<'a, BitMapBackend<'a>, CT>,
    root: &DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font((font(), 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

fn plot_loudness(path: &Path, history: &[(f64, f64, f64)]) -> Result<()> {
    let root = BitMapBackend::new(path, (1000, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let end = history.last().map_or(1.0, |h| h.0).max(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption("Loudness over time", (font(), 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..end, -40.0..0.0)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("LUFS")
        .label_style((font(), 14))
        .draw()
        .map_err(plot_err)?;
    let clamp = |v: f64| {
        if v.is_finite() {
            v.clamp(-40.0, 0.0)
        } else {
            -40.0
        }
    };
    chart
        .draw_series(LineSeries::new(
            history.iter().map(|h| (h.0, clamp(h.1))),
            &RGBColor(150, 170, 220),
        ))
        .map_err(plot_err)?
        .label("momentary")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(150, 170, 220)));
    chart
        .draw_series(LineSeries::new(
            history.iter().map(|h| (h.0, clamp(h.2))),
            &BLUE,
        ))
        .map_err(plot_err)?
        .label("short-term")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new([(0.0, -14.0), (end, -14.0)], &RED))
        .map_err(plot_err)?
        .label("−14 LUFS (streaming reference)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    finish(chart, &root)
}

fn plot_spectra(path: &Path, spectra: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let root = BitMapBackend::new(path, (1000, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Long-term spectrum (1/12 octave)", (font(), 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d((20.0..24_000.0).log_scale(), -120.0..0.0)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("Hz")
        .y_desc("dB re full-scale sine")
        .label_style((font(), 14))
        .draw()
        .map_err(plot_err)?;
    let colours = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
    for (i, (name, s)) in spectra.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(
                s.iter().map(|&(f, d)| (f, d.clamp(-120.0, 0.0))),
                &c,
            ))
            .map_err(plot_err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
    }
    finish(chart, &root)
}

//! `lathe`: Lathe's DSP offline.
//!
//! ```text
//! lathe analyze FILE... [--json] [--target NAME]
//! lathe session [--json] [--watch] [--group NAME] [--interval-ms MS] [--reset]
//! ```
//! `analyze` reads WAV, AIFF, FLAC and MP3; prints loudness, peaks, dynamics, stereo and QC
//! findings as Lathe Meter measures them. Exit status: 0 all good, 1 a file could not be read,
//! 2 usage, 3 a file misses the target.
//!
//! `session` prints every running Lathe Meter instance (all DAWs, all processes of this user).

mod decode;
mod session;

use anyhow::Result;
use decode::AudioFile;
use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig, ProgramReport};
use lathe_dsp::targets::{self, Target, Verdict};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::Path;

/// Files shorter than this get no progress display (s).
const PROGRESS_MIN_S: f64 = 30.0;

/// What `analyze` found in one file.
pub struct FileAnalysis {
    /// The analyzer's report.
    pub report: ProgramReport,
    /// Packets the decoder skipped as damaged.
    pub corrupt_packets: u64,
}

/// Measures one file.
pub fn analyze(path: &Path, over_threshold_dbtp: f64, progress: bool) -> Result<FileAnalysis> {
    let mut file = AudioFile::open(path)?;
    let mut analyzer = Analyzer::new(
        f64::from(file.sample_rate),
        file.channels,
        AnalyzerConfig {
            over_threshold_dbtp,
            ..AnalyzerConfig::default()
        },
    );
    let mut planar = vec![Vec::new(); file.channels];
    let total = file.declared_frames.unwrap_or(0);
    let show = progress && total as f64 / f64::from(file.sample_rate) >= PROGRESS_MIN_S;
    let mut shown = u64::MAX;
    while file.next_chunk(&mut planar)? {
        analyzer.process(&planar);
        if show {
            let pct = (file.frames_read * 100 / total.max(1)).min(100);
            if pct != shown {
                shown = pct;
                let bar = "#".repeat((pct / 4) as usize);
                eprint!("\r  [{bar:<25}] {pct:>3}% {}", path.display());
                let _ = std::io::stderr().flush();
            }
        }
    }
    if show {
        eprint!(
            "\r{:width$}\r",
            "",
            width = 40 + path.display().to_string().len()
        );
    }
    analyzer.finish();
    Ok(FileAnalysis {
        report: analyzer.report(),
        corrupt_packets: file.corrupt_packets,
    })
}

/// A finite number, or JSON null for ±inf / NaN (silence has no loudness).
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

fn to_json(file: &str, a: &FileAnalysis, target: Option<(&Target, Verdict)>) -> Value {
    let r = &a.report;
    let qc: Vec<Value> =
        r.qc.iter()
            .map(|e| {
                json!({
                    "kind": e.kind.name(),
                    "channel": e.channel,
                    "start_s": num(e.start_s),
                    "duration_s": num(e.duration_s),
                    "value": num(e.value),
                })
            })
            .collect();
    let mut v = json!({
        "file": file,
        "channels": r.channels,
        "sample_rate": r.sample_rate_hz as u32,
        "duration_s": num(r.duration_s),
        "integrated_lufs": num(r.loudness.integrated_lufs),
        "loudness_range_lu": num(r.loudness.loudness_range_lu),
        "momentary_max_lufs": num(r.loudness.momentary_max_lufs),
        "short_term_max_lufs": num(r.loudness.short_term_max_lufs),
        "true_peak_dbtp": num(r.true_peak_max_dbtp),
        "true_peak_per_channel_dbtp": r.true_peak_dbtp.iter().map(|&v| num(v)).collect::<Vec<_>>(),
        "sample_peak_dbfs": num(r.sample_peak_max_dbfs),
        "sample_peak_per_channel_dbfs": r.sample_peak_dbfs.iter().map(|&v| num(v)).collect::<Vec<_>>(),
        "plr_db": num(r.plr_db),
        "psr_min_db": num(r.psr_min_db),
        "crest_db": num(r.crest_db),
        "correlation": num(r.stereo.correlation),
        "balance_lu": num(r.stereo.balance_lu),
        "mono_loss_lu": num(r.stereo.mono_loss_lu),
        "corrupt_packets": a.corrupt_packets,
        "qc": qc,
        "qc_dropped": r.qc_dropped,
    });
    if let Some((t, verdict)) = target {
        v["target"] = json!({
            "id": t.id,
            "integrated_lufs": t.integrated_lufs,
            "true_peak_max_dbtp": t.true_peak_max_dbtp,
            "distance_lu": num(verdict.distance_lu),
            "loudness_ok": verdict.loudness_ok,
            "true_peak_ok": verdict.true_peak_ok,
            "playback_gain_db": num(verdict.playback_gain_db),
            "summary": t.describe(&verdict),
        });
    }
    v
}

fn fmt(v: f64, unit: &str) -> String {
    if v.is_finite() {
        format!("{v:7.1} {unit}")
    } else {
        format!("   -inf {unit}")
    }
}

fn print_text(file: &str, a: &FileAnalysis, target: Option<(&Target, Verdict)>) {
    let r = &a.report;
    let l = &r.loudness;
    println!("{file}");
    println!(
        "  {} ch, {} Hz, {:.2} s",
        r.channels, r.sample_rate_hz, r.duration_s
    );
    println!("  integrated       {}", fmt(l.integrated_lufs, "LUFS"));
    println!("  loudness range   {}", fmt(l.loudness_range_lu, "LU"));
    println!("  max momentary    {}", fmt(l.momentary_max_lufs, "LUFS"));
    println!("  max short-term   {}", fmt(l.short_term_max_lufs, "LUFS"));
    println!("  true peak        {}", fmt(r.true_peak_max_dbtp, "dBTP"));
    println!("  sample peak      {}", fmt(r.sample_peak_max_dbfs, "dBFS"));
    println!("  PLR              {}", fmt(r.plr_db, "dB"));
    println!("  lowest PSR       {}", fmt(r.psr_min_db, "dB"));
    println!("  crest factor     {}", fmt(r.crest_db, "dB"));
    if r.channels >= 2 {
        println!("  correlation      {:7.2}", r.stereo.correlation);
        println!("  balance L-R      {}", fmt(r.stereo.balance_lu, "LU"));
        println!("  mono sum         {}", fmt(r.stereo.mono_loss_lu, "LU"));
    }
    if a.corrupt_packets > 0 {
        println!(
            "  WARNING: {} damaged packets were skipped",
            a.corrupt_packets
        );
    }
    if r.qc.is_empty() {
        println!("  QC: nothing found");
    } else {
        println!("  QC:");
        for e in &r.qc {
            let ch = e.channel.map_or(String::new(), |c| format!(" ch{}", c + 1));
            println!(
                "    {:>9.3} s  {:<15}{ch}  {:.3} s  ({:.2})",
                e.start_s,
                e.kind.name(),
                e.duration_s,
                e.value
            );
        }
        if r.qc_dropped > 0 {
            println!("    … and {} more", r.qc_dropped);
        }
    }
    if let Some((t, v)) = target {
        let ok = |b: bool| if b { "ok" } else { "MISSED" };
        println!(
            "  target {}: loudness {} ({:+.1} LU), true peak {} (limit {:.1} dBTP); {}",
            t.name,
            ok(v.loudness_ok),
            v.distance_lu,
            ok(v.true_peak_ok),
            t.true_peak_max_dbtp,
            t.describe(&v)
        );
    }
}

fn usage() -> ! {
    eprintln!("usage: lathe analyze FILE... [--json] [--target NAME]");
    eprintln!(
        "       lathe session [--json] [--watch] [--group NAME] [--interval-ms MS] [--reset]"
    );
    eprintln!(
        "targets: {}",
        targets::TARGETS
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::process::exit(2);
}

fn parse_session(rest: &[String]) -> session::SessionArgs {
    let mut args = session::SessionArgs {
        json: false,
        watch: false,
        group: None,
        interval: std::time::Duration::from_millis(500),
        reset: false,
    };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => args.json = true,
            "--watch" => args.watch = true,
            "--reset" => args.reset = true,
            "--group" => args.group = Some(it.next().unwrap_or_else(|| usage()).clone()),
            "--interval-ms" => {
                let ms: u64 = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&ms| (10..=60_000).contains(&ms))
                    .unwrap_or_else(|| usage());
                args.interval = std::time::Duration::from_millis(ms);
            }
            _ => usage(),
        }
    }
    args
}

fn main() {
    // Decoder panics on hostile files are caught and reported as errors; keep stderr clean.
    std::panic::set_hook(Box::new(|_| {}));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        usage()
    };
    if command == "session" {
        std::process::exit(session::run(&parse_session(rest)));
    }
    if command != "analyze" {
        usage();
    }
    let mut json_out = false;
    let mut target = None;
    let mut files = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json_out = true,
            "--target" => {
                let name = it.next().unwrap_or_else(|| usage());
                target = Some(targets::find(name).unwrap_or_else(|| {
                    eprintln!("lathe: unknown target {name:?}");
                    usage()
                }));
            }
            s if s.starts_with("--") => usage(),
            _ => files.push(a.clone()),
        }
    }
    if files.is_empty() {
        usage();
    }
    let over = target.map_or(-1.0, |t: &Target| t.true_peak_max_dbtp);
    let progress = std::io::stderr().is_terminal();
    let mut code = 0;
    for file in &files {
        match analyze(Path::new(file), over, progress) {
            Ok(a) => {
                let verdict = target.map(|t| {
                    (
                        t,
                        t.judge(
                            a.report.loudness.integrated_lufs,
                            a.report.true_peak_max_dbtp,
                        ),
                    )
                });
                if json_out {
                    println!("{}", to_json(file, &a, verdict));
                } else {
                    print_text(file, &a, verdict);
                }
                if let Some((_, v)) = verdict
                    && !(v.loudness_ok && v.true_peak_ok)
                    && code == 0
                {
                    code = 3;
                }
            }
            Err(e) => {
                eprintln!("lathe: {file}: {e:#}");
                code = 1;
            }
        }
    }
    std::process::exit(code);
}

#[cfg(test)]
mod tests;

//! `lathe`: Lathe's DSP offline.
//!
//! ```text
//! lathe analyze FILE|FOLDER... [--json] [--target NAME] [--jobs N]
//! lathe master IN -o OUT [--preset NAME] [--settings FILE] [--set "Name=value"]...
//!              [--target LUFS|PLATFORM] [--ceiling DBTP] [--bits 16|24|32] [--json]
//! lathe master --print-settings [--preset NAME] ...
//! lathe deliver MASTER -o DIR --to LIST [--title T --artist A --isrc CC-XXX-YY-NNNNN ...]
//! lathe session [--json] [--watch] [--group NAME] [--interval-ms MS] [--reset]
//! lathe compare MIX REF... [--json] [--plot FILE.png]
//! lathe album ALBUM.toml -o DIR [--overwrite] [--json]
//! lathe ddp-check DIR [--extract OUT] [--compare-to TRACKS] [--json]
//! ```
//! `analyze` reads WAV, AIFF, FLAC and MP3; prints loudness, peaks, dynamics, stereo and QC
//! findings as Lathe Meter measures them. Exit status: 0 all good, 1 a file could not be read,
//! 2 usage, 3 a file misses the target.
//!
//! `master` runs Lathe Master's chain (`lathe_dsp::master`) over a file: see `master.rs`.
//!
//! `session` prints every running Lathe Meter instance (all DAWs, all processes of this user).

mod album;
mod compare;
mod decode;
mod deliver;
mod master;
mod matching;
mod session;

use anyhow::Result;
use clap::{Parser, Subcommand};
use decode::AudioFile;
use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig, ProgramReport};
use lathe_dsp::targets::{self, Target, Verdict};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Work that takes longer than this shows a progress bar on a terminal.
pub const PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What `analyze` found in one file.
pub struct FileAnalysis {
    /// The analyzer's report.
    pub report: ProgramReport,
    /// Packets the decoder skipped as damaged.
    pub corrupt_packets: u64,
    /// The click threshold the findings were made with (dB).
    pub click_threshold_db: f64,
}

/// Measures one file (true peaks above `over_threshold_dbtp` reported as overs, the other
/// settings the meter's own).
pub fn analyze(path: &Path, over_threshold_dbtp: f64, progress: bool) -> Result<FileAnalysis> {
    let config = AnalyzerConfig {
        over_threshold_dbtp,
        ..AnalyzerConfig::default()
    };
    analyze_with(path, config, progress)
}

/// Measures one file with the analyzer set up as given.
pub fn analyze_with(path: &Path, config: AnalyzerConfig, progress: bool) -> Result<FileAnalysis> {
    let mut file = AudioFile::open(path)?;
    let mut analyzer = Analyzer::new(f64::from(file.sample_rate), file.channels, config);
    let mut planar = vec![Vec::new(); file.channels];
    let total = file.declared_frames.unwrap_or(0);
    // The bar appears only once the file has taken a second (a terminal and one file at a
    // time only).
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::hidden(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {msg} [{bar:30}] {percent:>3}% {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(path.display().to_string());
    let start = std::time::Instant::now();
    let mut shown = false;
    while file.next_chunk(&mut planar)? {
        analyzer.process(&planar);
        if progress && !shown && start.elapsed() >= PROGRESS_AFTER {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown = true;
        }
        bar.set_position(file.frames_read);
    }
    bar.finish_and_clear();
    analyzer.finish();
    Ok(FileAnalysis {
        report: analyzer.report(),
        corrupt_packets: file.corrupt_packets,
        click_threshold_db: config.click_threshold_db,
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
        "click_threshold_db": num(a.click_threshold_db),
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
    // The click threshold, when it is not the default.
    let threshold = if a.click_threshold_db == lathe_dsp::qc::click::CLICK_RATIO_DB {
        String::new()
    } else {
        format!(" (click threshold {} dB)", a.click_threshold_db)
    };
    if r.qc.is_empty() {
        println!("  QC{threshold}: nothing found");
    } else {
        println!("  QC{threshold}:");
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

/// Lathe: mastering, metering and deliverables on Lathe's DSP.
#[derive(Parser)]
#[command(name = "lathe", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Measure files as Lathe Meter does: loudness, peaks, dynamics, stereo, QC.
    Analyze(AnalyzeArgs),
    /// Master a file with Lathe Master's chain (the plugin's output, bit for bit).
    Master(master::MasterArgs),
    /// Write the files a distributor asks for from a master, each verified, with a report.
    Deliver(deliver::DeliverArgs),
    /// Sequence an album: a DDP 2.0 image for CD replication, the CD tracks as WAV, a cue
    /// sheet image and a report, from an album file (TOML).
    Album(album::AlbumArgs),
    /// Check a DDP 2.0 fileset: structure, Red Book limits, ISRC/UPC, CD-TEXT, checksums;
    /// print its PQ table, extract or compare its tracks.
    DdpCheck(album::check::DdpCheckArgs),
    /// Show every running Lathe Meter instance.
    Session(SessionCli),
    /// Compare a mix with reference records at matched loudness: loudness, dynamics, width
    /// and the 1/3-octave mid/side tone difference.
    Compare(compare::CompareArgs),
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// Audio files (WAV, AIFF, FLAC, MP3, Ogg Vorbis) or folders to walk for them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file per line.
    #[arg(long)]
    json: bool,
    /// Judge each file against a delivery target.
    #[arg(long, value_name = "NAME", value_parser = known_target)]
    target: Option<&'static Target>,
    /// Files measured at once (default: all cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// How far a click must stand out of the local prediction residual, in dB (12–60; default
    /// 28). Lower finds quieter clicks and reports more of the music's own sharp onsets (the
    /// README gives measured figures for 22, 25 and 28).
    #[arg(long, value_name = "DB", value_parser = click_threshold,
          default_value_t = lathe_dsp::qc::click::CLICK_RATIO_DB)]
    click_threshold: f64,
}

/// A click threshold within 12–60 dB.
fn click_threshold(v: &str) -> Result<f64, String> {
    let db: f64 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
    if (12.0..=60.0).contains(&db) {
        Ok(db)
    } else {
        Err(format!("{db} dB is outside 12–60 dB"))
    }
}

#[derive(clap::Args)]
struct SessionCli {
    /// One JSON object per instance.
    #[arg(long)]
    json: bool,
    /// Keep printing.
    #[arg(long)]
    watch: bool,
    /// Only this group.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Refresh interval for --watch (ms, 10…60000).
    #[arg(long, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    interval_ms: u64,
    /// Ask every instance to reset its meters.
    #[arg(long)]
    reset: bool,
}

/// A delivery target by id (`spotify`, `apple-music`, …).
fn known_target(name: &str) -> Result<&'static Target, String> {
    targets::find(name).ok_or_else(|| {
        let ids: Vec<&str> = targets::TARGETS.iter().map(|t| t.id).collect();
        format!("unknown target {name:?} (one of {})", ids.join(", "))
    })
}

/// Audio file extensions `analyze` picks up when walking a folder.
const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "aif", "aiff", "flac", "mp3", "ogg"];

/// The files to measure: files as given, folders walked (sorted, so the order is stable).
fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| AUDIO_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
}

fn run_analyze(args: &AnalyzeArgs) -> i32 {
    let files = expand(&args.files);
    if files.is_empty() {
        eprintln!("lathe: no audio files found");
        return 1;
    }
    let target = args.target;
    let config = AnalyzerConfig {
        over_threshold_dbtp: target.map_or(-1.0, |t| t.true_peak_max_dbtp),
        click_threshold_db: args.click_threshold,
        ..AnalyzerConfig::default()
    };
    // Progress lines only when one file is measured at a time on a terminal.
    let progress = std::io::stderr().is_terminal() && files.len() == 1;
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
    {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("lathe: cannot start worker threads: {e}");
            return 1;
        }
    };
    let results: Vec<Result<FileAnalysis>> = pool.install(|| {
        files
            .par_iter()
            .map(|f| analyze_with(f, config, progress))
            .collect()
    });
    let mut code = 0;
    for (file, result) in files.iter().zip(results) {
        let name = file.display().to_string();
        match result {
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
                if args.json {
                    println!("{}", to_json(&name, &a, verdict));
                } else {
                    print_text(&name, &a, verdict);
                }
                if let Some((_, v)) = verdict
                    && !(v.loudness_ok && v.true_peak_ok)
                    && code == 0
                {
                    code = 3;
                }
            }
            Err(e) => {
                eprintln!("lathe: {name}: {e:#}");
                code = 1;
            }
        }
    }
    code
}

fn main() {
    decode::quiet_decoder_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and exit 0; usage errors exit 2.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let code = match cli.command {
        Commands::Analyze(args) => run_analyze(&args),
        Commands::Master(args) => master::run(&args),
        Commands::Deliver(args) => deliver::run(&args),
        Commands::Album(args) => album::run(&args),
        Commands::DdpCheck(args) => album::check::run(&args),
        Commands::Compare(args) => compare::run(&args),
        Commands::Session(s) => session::run(&session::SessionArgs {
            json: s.json,
            watch: s.watch,
            group: s.group,
            interval: std::time::Duration::from_millis(s.interval_ms),
            reset: s.reset,
        }),
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests;

//! `lathe master`: Lathe Master's chain over a file, offline, bit-identical to the plugin.
//!
//! Settings come from (in this order, later wins) the defaults or `--preset`, `--settings FILE`,
//! every `--set "Parameter Name=value"` (the plugin's names and display values), `--ceiling`,
//! and `--target`, which makes the drive a search result: the whole file is rendered through
//! the chain at trial drives (streamed, in bounded memory) until the output's integrated
//! loudness is within 0.05 LU of the target. Then the file is rendered for real into a
//! temporary file beside the output, re-opened, decoded and measured, and renamed only then.

use crate::decode::AudioFile;
use crate::matching::{self, MatchOutcome, MatchRequest};
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig, ProgramReport};
use lathe_dsp::learn::MAX_DRIVE_DB;
use lathe_dsp::level::gain_to_db;
use lathe_dsp::loudness::LoudnessMeter;
use lathe_dsp::master::{MasterChain, MasterSettings, params, presets};
use lathe_dsp::targets;
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Exit status when the target cannot be reached (the file is still written, at the best the
/// chain can do).
pub const EXIT_UNREACHABLE: i32 = 3;
/// How close the search brings the output's integrated loudness to the target (LU).
const TOLERANCE_LU: f64 = 0.05;
/// Most trial renders the search may take.
const MAX_TRIALS: usize = 14;

/// `lathe master` options.
#[derive(clap::Args)]
pub struct MasterArgs {
    /// The mix to master (WAV, AIFF, FLAC, MP3, Ogg Vorbis; mono or stereo).
    #[arg(required_unless_present_any = ["print_settings", "list_params"])]
    pub input: Option<PathBuf>,
    /// Where to write the master (WAV).
    #[arg(short, long, value_name = "OUT",
          required_unless_present_any = ["print_settings", "list_params"])]
    pub output: Option<PathBuf>,
    /// Start from a factory preset (e.g. "Loud CD"; see --list-params for names).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Start from a settings file (TOML, as the editor's "Export settings…" writes).
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Set a parameter by the plugin's name and display value, e.g. --set "Drive=6"
    /// --set "Bell 2 Gain=-1.5" (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Loudness target: integrated LUFS (e.g. -14) or a platform (spotify, apple-music, cd, …);
    /// the drive is searched so the output lands on it.
    #[arg(long, value_name = "LUFS|PLATFORM", allow_hyphen_values = true)]
    pub target: Option<String>,
    /// True-peak ceiling (dBTP, -6…-0.1).
    #[arg(long, value_name = "DBTP", allow_hyphen_values = true)]
    pub ceiling: Option<f32>,
    /// Output word length: 16 or 24 (integer WAV, dithered last) or 32 (float WAV, default
    /// unless the settings dither).
    #[arg(long, value_name = "16|24|32", value_parser = ["16", "24", "32"])]
    pub bits: Option<String>,
    /// Match reference records: a reference file (repeatable; several are averaged), or what
    /// to match – tone, width, loudness (comma-separated; default all three). Tone and width
    /// set the EQ's five tone bands and the width; loudness sets the target to the
    /// references' integrated loudness.
    #[arg(long = "match", value_name = "REF|tone,width,loudness")]
    pub matches: Vec<String>,
    /// How much of the tone and width difference to match (%).
    #[arg(long, value_name = "PCT", default_value_t = 100.0)]
    pub match_amount: f64,
    /// Largest gain the match gives one EQ band (dB).
    #[arg(long, value_name = "DB", default_value_t = 6.0)]
    pub match_limit: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Print the settings as a TOML settings file and exit.
    #[arg(long)]
    pub print_settings: bool,
    /// List the parameters --set takes and the presets, and exit.
    #[arg(long)]
    pub list_params: bool,
    /// No report on standard output (`lathe album` renders its mixes this way).
    #[arg(skip)]
    pub quiet: bool,
}

impl MasterArgs {
    /// A mix rendered for `lathe album`: a preset or settings file, 32-bit float, no report.
    pub fn for_album(
        input: PathBuf,
        output: PathBuf,
        preset: Option<String>,
        settings: Option<PathBuf>,
    ) -> Self {
        Self {
            input: Some(input),
            output: Some(output),
            preset,
            settings,
            sets: Vec::new(),
            target: None,
            ceiling: None,
            bits: Some("32".into()),
            matches: Vec::new(),
            match_amount: 100.0,
            match_limit: 6.0,
            json: false,
            print_settings: false,
            list_params: false,
            quiet: true,
        }
    }
}

/// Runs the command; returns the exit status.
pub fn run(args: &MasterArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lathe master: {e:#}");
            1
        }
    }
}

/// What the target resolves to.
struct Aim {
    lufs: f64,
    label: String,
}

fn parse_target(text: &str, settings: &mut MasterSettings) -> Result<Aim> {
    if let Ok(lufs) = text.trim().parse::<f64>() {
        if !(-40.0..=0.0).contains(&lufs) {
            bail!("--target {lufs}: a loudness target lies between -40 and 0 LUFS");
        }
        return Ok(Aim {
            lufs,
            label: format!("{lufs} LUFS"),
        });
    }
    let t = targets::find(text).ok_or_else(|| {
        let ids: Vec<&str> = targets::TARGETS.iter().map(|t| t.id).collect();
        anyhow!(
            "--target {text:?}: not a number of LUFS nor a platform (one of {})",
            ids.join(", ")
        )
    })?;
    settings.target = t.id;
    Ok(Aim {
        lufs: t.aim_lufs(),
        label: format!("{} ({} LUFS)", t.name, t.aim_lufs()),
    })
}

/// The output file's word length: `--bits`, else the settings' dither, else 32-bit float.
fn file_bits(args: &MasterArgs, settings: &MasterSettings) -> u16 {
    match args.bits.as_deref() {
        Some("16") => 16,
        Some("24") => 24,
        Some(_) => 32,
        None => match settings.output.dither_bits {
            16 => 16,
            24 => 24,
            _ => 32,
        },
    }
}

/// The settings the options describe, and the loudness target if one was given.
fn build_settings(args: &MasterArgs) -> Result<(MasterSettings, Option<Aim>)> {
    let mut settings = match &args.preset {
        Some(name) => presets::find(name).map_err(|e| anyhow!(e))?.settings(),
        None => MasterSettings::default(),
    };
    if let Some(path) = &args.settings {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read settings file {}", path.display()))?;
        // The file's keys win over the preset's; keys it leaves out keep the preset's values.
        settings = MasterSettings::from_toml_over(&text, &settings)
            .map_err(|e| anyhow!("settings file {}: {e}", path.display()))?;
    }
    for set in &args.sets {
        params::apply_assignment(&mut settings, set).map_err(|e| anyhow!("--set {e}"))?;
    }
    if let Some(ceiling) = args.ceiling {
        params::apply_assignment(&mut settings, &format!("Ceiling={ceiling}"))
            .map_err(|e| anyhow!("--ceiling: {e}"))?;
    }
    let aim = match &args.target {
        Some(t) => Some(parse_target(t, &mut settings)?),
        None => None,
    };
    if aim.is_some() && !settings.limiter.on {
        bail!(
            "--target sets the limiter's drive, but the limiter is off (--set \"Limiter=On\" or \
             another preset)"
        );
    }
    // Values as the plugin stores them (its parameter steps), so the plugin set to the same
    // values sounds exactly the same.
    params::snap_to_plugin(&mut settings);
    // Offline renders are what the listener gets: the processed signal.
    settings.output.listen = lathe_dsp::ab::Listen::Processed;
    // Reducing the word length dithers (last in the chain); a float file keeps whatever dither
    // the settings ask for.
    match file_bits(args, &settings) {
        16 => settings.output.dither_bits = 16,
        24 => settings.output.dither_bits = 24,
        _ => {}
    }
    settings.validate().map_err(|e| anyhow!("settings: {e}"))?;
    Ok((settings, aim))
}

fn list_params() {
    println!("Parameters for --set \"Name=value\" (the plugin's names and values):");
    for s in params::specs() {
        let range = match s.kind {
            params::Kind::Float { min, max, .. } => {
                format!("{} … {}", s.display(min), s.display(max))
            }
            params::Kind::Bool => "On | Off".into(),
            params::Kind::Choice(names) => names.join(" | "),
        };
        println!(
            "  {:<22} {range}   (default {})",
            s.name,
            s.display((s.get)(&MasterSettings::default()))
        );
    }
    println!("\nPresets for --preset:");
    for p in presets::PRESETS {
        println!("  {:<18} {}", p.name, p.description);
    }
}

fn run_inner(args: &MasterArgs) -> Result<i32> {
    if args.list_params {
        list_params();
        return Ok(0);
    }
    let (mut settings, mut aim) = build_settings(args)?;
    let match_request = MatchRequest::parse(&args.matches, args.match_amount, args.match_limit)?;
    if let Some(m) = &match_request
        && m.loudness
        && args.target.is_some()
    {
        bail!(
            "--target and --match loudness both set the target; give one (--match tone,width \
             keeps --target)"
        );
    }
    if args.print_settings {
        print!("{}", settings.to_toml());
        return Ok(0);
    }
    let input = args.input.as_deref().context("no input file")?;
    let output = args.output.as_deref().context("no output file (-o)")?;
    refuse_same_file(input, output)?;
    let probe = AudioFile::open(input).with_context(|| input.display().to_string())?;
    if probe.channels > 2 {
        bail!(
            "{}: {} channels; Lathe Master takes mono or stereo",
            input.display(),
            probe.channels
        );
    }
    let (sr, channels) = (f64::from(probe.sample_rate), probe.channels);
    drop(probe);
    // Problems found now rather than after minutes of measuring: the chain's rate and channel
    // count, and whether the output folder takes a file.
    MasterChain::new(sr, channels).map_err(|e| anyhow!("{}: {e}", input.display()))?;
    let partial = partial_path(output);
    std::fs::File::create(&partial)
        .with_context(|| format!("cannot write into the folder of {}", output.display()))?;
    let _ = std::fs::remove_file(&partial);
    let show = std::io::stderr().is_terminal() && !args.json;

    // Pass 1: the input as it is.
    let before = measure(input, show, "measuring the mix")?;

    // The match: EQ and width from the references' spectra, the target from their loudness.
    let matched = match &match_request {
        Some(request) => {
            if show {
                eprintln!("matching to {} reference(s)…", request.references.len());
            }
            let outcome = matching::apply(request, input, &mut settings)?;
            if let Some(lufs) = outcome.target_lufs {
                if !settings.limiter.on {
                    bail!(
                        "--match loudness sets the limiter's drive, but the limiter is off \
                         (--match tone,width, or --set \"Limiter=On\")"
                    );
                }
                aim = Some(Aim {
                    lufs,
                    label: format!("the references' {lufs:.1} LUFS"),
                });
            }
            params::snap_to_plugin(&mut settings);
            settings
                .validate()
                .map_err(|e| anyhow!("matched settings: {e}"))?;
            Some(outcome)
        }
        None => None,
    };

    // The drive (or, for a mix already louder than the target, the output gain).
    let mut reachable = true;
    let mut trials = 0;
    if let Some(aim) = &aim {
        let found = search_drive(input, sr, channels, &settings, aim.lufs, show)?;
        settings.limiter.drive_db = found.drive_db;
        settings.output.gain_db = found.output_gain_db;
        params::snap_to_plugin(&mut settings);
        reachable = found.reachable;
        trials = found.trials;
    }

    // Pass 2: render to a temporary file beside the output; measure what was written.
    let bits = file_bits(args, &settings);
    let stats = match render(input, &partial, sr, channels, &settings, bits, show) {
        Ok(stats) => stats,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let after = match verify(&partial, &before, show) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context("the written file did not verify; nothing was kept"));
        }
    };
    std::fs::rename(&partial, output).with_context(|| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot move the finished file to {}", output.display())
    })?;

    let report = Report {
        input,
        output,
        settings: &settings,
        aim: aim.as_ref(),
        reachable,
        trials,
        before: &before,
        after: &after,
        stats: &stats,
        bits,
        matched: matched.as_ref(),
    };
    if args.quiet {
    } else if args.json {
        println!("{}", report.json());
    } else {
        report.print();
    }
    if !reachable {
        eprintln!(
            "lathe master: the target is out of reach; rendered at the best the chain can do"
        );
        return Ok(EXIT_UNREACHABLE);
    }
    Ok(0)
}

fn refuse_same_file(input: &Path, output: &Path) -> Result<()> {
    let same = match (input.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => input == output,
    };
    if same {
        bail!(
            "-o {} is the input file; write the master to another file",
            output.display()
        );
    }
    Ok(())
}

/// `.NAME.lathe-partial-PID` in the output's folder: never mistaken for a finished file.
fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map_or("master".into(), |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!(".{name}.lathe-partial-{}", std::process::id()))
}

fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("  {msg:<28} [{bar:30}] {percent:>3}% {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Decodes `path` and feeds every chunk to `f`. With `show`, a progress bar appears once the
/// pass has taken a second.
fn stream(
    path: &Path,
    show: bool,
    what: &str,
    mut f: impl FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<u64> {
    let mut file = AudioFile::open(path).with_context(|| path.display().to_string())?;
    let bar = progress(file.declared_frames, what);
    let start = std::time::Instant::now();
    let mut shown = false;
    let mut planar = vec![Vec::new(); file.channels];
    while file
        .next_chunk(&mut planar)
        .with_context(|| path.display().to_string())?
    {
        f(&planar)?;
        if show && !shown && start.elapsed() >= crate::PROGRESS_AFTER {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            shown = true;
        }
        bar.set_position(file.frames_read);
    }
    bar.finish_and_clear();
    Ok(file.frames_read)
}

/// The analyzer's report for a file.
fn measure(path: &Path, show: bool, what: &str) -> Result<(ProgramReport, u64)> {
    let probe = AudioFile::open(path).with_context(|| path.display().to_string())?;
    let mut analyzer = Analyzer::new(
        f64::from(probe.sample_rate),
        probe.channels,
        AnalyzerConfig::default(),
    );
    drop(probe);
    let frames = stream(path, show, what, |chunk| {
        analyzer.process(chunk);
        Ok(())
    })?;
    analyzer.finish();
    Ok((analyzer.report(), frames))
}

/// Runs the chain over the decoded file, `latency` compensated: calls `out` with each piece of
/// output that corresponds to input frames (the first `latency` frames are dropped and the
/// tail is flushed with silence). Pieces end at multiples of `split` frames of the stream, so
/// `out` can read per-window statistics off the chain. Stops at the first error.
fn run_chain(
    path: &Path,
    chain: &mut MasterChain,
    show: bool,
    what: &str,
    split: usize,
    mut out: impl FnMut(&[&[f32]], &mut MasterChain) -> Result<()>,
) -> Result<u64> {
    let latency = chain.latency_samples() as usize;
    let channels = chain.channels();
    let split = split.max(1);
    let mut skip = latency;
    let mut done = 0usize;
    let mut buf: Vec<Vec<f32>> = vec![Vec::new(); channels];
    let mut feed = |chunk: &[Vec<f32>], chain: &mut MasterChain| -> Result<()> {
        for (b, c) in buf.iter_mut().zip(chunk) {
            b.clear();
            b.extend_from_slice(c);
        }
        let total = buf.first().map_or(0, Vec::len);
        let mut start = 0;
        while start < total {
            let n = (split - done % split).min(total - start);
            let mut views: Vec<&mut [f32]> =
                buf.iter_mut().map(|b| &mut b[start..start + n]).collect();
            chain.process(&mut views);
            done += n;
            start += n;
            let drop = skip.min(n);
            skip -= drop;
            if n > drop {
                let kept: Vec<&[f32]> = views.iter().map(|v| &v[drop..]).collect();
                out(&kept, chain)?;
            }
        }
        Ok(())
    };
    let frames = stream(path, show, what, |chunk| feed(chunk, chain))?;
    // Flush: `latency` frames of silence bring the end of the file out.
    let mut left = latency;
    while left > 0 {
        let n = left.min(4096);
        let silence = vec![vec![0.0f32; n]; channels];
        feed(&silence, chain)?;
        left -= n;
    }
    Ok(frames)
}

/// Integrated loudness (LUFS) of the chain's output for the whole file at these settings.
fn output_lufs(
    path: &Path,
    sr: f64,
    channels: usize,
    settings: &MasterSettings,
    show: bool,
) -> Result<f64> {
    let mut chain = MasterChain::with_settings(sr, channels, settings).map_err(|e| anyhow!(e))?;
    let mut meter = LoudnessMeter::new(sr, channels);
    let what = format!("trying drive {:+.2} dB", settings.limiter.drive_db);
    run_chain(path, &mut chain, show, &what, 4096, |block, _| {
        meter.process(block);
        Ok(())
    })?;
    Ok(meter.integrated_lufs())
}

struct Found {
    drive_db: f32,
    output_gain_db: f32,
    reachable: bool,
    trials: usize,
}

/// Finds the drive whose output lands on `target` (regula falsi with the Illinois step on the
/// whole file; loudness never falls as the drive rises). A mix already louder than the target
/// at no drive is turned down with the output gain instead.
fn search_drive(
    path: &Path,
    sr: f64,
    channels: usize,
    base: &MasterSettings,
    target: f64,
    show: bool,
) -> Result<Found> {
    let trials = std::cell::Cell::new(0usize);
    let at = |drive: f32, gain: f32| -> Result<f64> {
        let mut s = *base;
        s.limiter.drive_db = drive;
        s.output.gain_db = gain;
        params::snap_to_plugin(&mut s);
        trials.set(trials.get() + 1);
        output_lufs(path, sr, channels, &s, show)
    };
    let gain0 = base.output.gain_db;
    let low = at(0.0, gain0)?;
    if !low.is_finite() {
        bail!("the input is silent: there is no loudness to bring to a target");
    }
    if (low - target).abs() <= TOLERANCE_LU {
        return Ok(Found {
            drive_db: 0.0,
            output_gain_db: gain0,
            reachable: true,
            trials: trials.get(),
        });
    }
    if low > target {
        // Turn the output down (it follows the limiter, so the ceiling still holds).
        let gain = (gain0 + (target - low) as f32).max(-24.0);
        let got = at(0.0, gain)?;
        return Ok(Found {
            drive_db: 0.0,
            output_gain_db: gain,
            reachable: (got - target).abs() <= 0.1,
            trials: trials.get(),
        });
    }
    let high = at(MAX_DRIVE_DB, gain0)?;
    if high < target - TOLERANCE_LU {
        return Ok(Found {
            drive_db: MAX_DRIVE_DB,
            output_gain_db: gain0,
            reachable: false,
            trials: trials.get(),
        });
    }
    let (mut a, mut fa) = (0.0f64, low - target);
    let (mut b, mut fb) = (f64::from(MAX_DRIVE_DB), high - target);
    let mut best = if fa.abs() < fb.abs() {
        (a, fa)
    } else {
        (b, fb)
    };
    let mut side = 0;
    while trials.get() < MAX_TRIALS && best.1.abs() > TOLERANCE_LU {
        let c = (a * fb - b * fa) / (fb - fa);
        let c = if c.is_finite() && c > a && c < b {
            c
        } else {
            0.5 * (a + b)
        };
        let fc = at(c as f32, gain0)? - target;
        if fc.abs() < best.1.abs() {
            best = (c, fc);
        }
        if fc < 0.0 {
            (a, fa) = (c, fc);
            if side == -1 {
                fb *= 0.5;
            }
            side = -1;
        } else {
            (b, fb) = (c, fc);
            if side == 1 {
                fa *= 0.5;
            }
            side = 1;
        }
    }
    Ok(Found {
        drive_db: best.0 as f32,
        output_gain_db: gain0,
        reachable: best.1.abs() <= 0.1,
        trials: trials.get(),
    })
}

/// Gain reduction statistics of the limiter, per 10 ms of output.
#[derive(Default)]
struct GainStats {
    max_db: f64,
    sum_db: f64,
    limiting: u64,
    windows: u64,
}

impl GainStats {
    fn mean_db(&self) -> f64 {
        self.sum_db / self.windows.max(1) as f64
    }
    fn limiting_pct(&self) -> f64 {
        100.0 * self.limiting as f64 / self.windows.max(1) as f64
    }
}

/// Renders the master into `path` (WAV, `bits` 16/24 integer or 32 float).
fn render(
    input: &Path,
    path: &Path,
    sr: f64,
    channels: usize,
    settings: &MasterSettings,
    bits: u16,
    show: bool,
) -> Result<GainStats> {
    let mut chain = MasterChain::with_settings(sr, channels, settings).map_err(|e| anyhow!(e))?;
    let spec = hound::WavSpec {
        channels: channels as u16,
        sample_rate: sr as u32,
        bits_per_sample: bits,
        sample_format: if bits == 32 {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = hound::WavWriter::new(std::io::BufWriter::new(file), spec)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let scale = f64::from(1u32 << (bits.min(25) - 1));
    let window = ((sr / 100.0).round() as usize).max(1);
    let mut stats = GainStats::default();
    let mut in_window = 0usize;
    let mut window_min = 1.0f32;
    // Pieces end on 10 ms boundaries of the stream: the limiter's deepest gain per window.
    run_chain(
        input,
        &mut chain,
        show,
        "rendering",
        window,
        |block, chain| {
            let n = block.first().map_or(0, |b| b.len());
            for i in 0..n {
                for ch in block {
                    let x = ch[i];
                    if bits == 32 {
                        writer.write_sample(x)?;
                    } else {
                        // After the dither the samples lie on the grid: this is exact.
                        writer.write_sample((f64::from(x) * scale).round() as i32)?;
                    }
                }
            }
            window_min = window_min.min(chain.take_limiter_min_gain());
            in_window += n;
            if in_window >= window {
                in_window = 0;
                let gr = -f64::from(gain_to_db(window_min.max(1e-6)));
                stats.max_db = stats.max_db.max(gr);
                stats.sum_db += gr;
                stats.windows += 1;
                if gr > 0.1 {
                    stats.limiting += 1;
                }
                window_min = 1.0;
            }
            Ok(())
        },
    )?;
    writer
        .finalize()
        .with_context(|| format!("cannot finish {} (disk full?)", path.display()))?;
    Ok(stats)
}

/// Re-opens the written file, decodes and measures it; it must hold exactly the input's
/// frames.
fn verify(path: &Path, before: &(ProgramReport, u64), show: bool) -> Result<(ProgramReport, u64)> {
    let after = measure(path, show, "verifying the written file")?;
    if after.1 != before.1 {
        bail!(
            "the written file holds {} frames, the input {}",
            after.1,
            before.1
        );
    }
    Ok(after)
}

struct Report<'a> {
    input: &'a Path,
    output: &'a Path,
    settings: &'a MasterSettings,
    aim: Option<&'a Aim>,
    reachable: bool,
    trials: usize,
    before: &'a (ProgramReport, u64),
    after: &'a (ProgramReport, u64),
    stats: &'a GainStats,
    bits: u16,
    matched: Option<&'a MatchOutcome>,
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

fn reading(r: &ProgramReport) -> Value {
    json!({
        "integrated_lufs": num(r.loudness.integrated_lufs),
        "loudness_range_lu": num(r.loudness.loudness_range_lu),
        "short_term_max_lufs": num(r.loudness.short_term_max_lufs),
        "true_peak_dbtp": num(r.true_peak_max_dbtp),
        "sample_peak_dbfs": num(r.sample_peak_max_dbfs),
        "plr_db": num(r.plr_db),
    })
}

impl Report<'_> {
    fn json(&self) -> Value {
        let mut v = json!({
            "input": self.input.display().to_string(),
            "output": self.output.display().to_string(),
            "bits": self.bits,
            "target_lufs": self.aim.map(|a| num(a.lufs)),
            "target_reached": self.reachable,
            "search_renders": self.trials,
            "drive_db": num(f64::from(self.settings.limiter.drive_db)),
            "output_gain_db": num(f64::from(self.settings.output.gain_db)),
            "ceiling_dbtp": num(f64::from(self.settings.limiter.ceiling_dbtp)),
            "before": reading(&self.before.0),
            "after": reading(&self.after.0),
            "gain_reduction": {
                "max_db": num(self.stats.max_db),
                "mean_db": num(self.stats.mean_db()),
                "limiting_pct": num(self.stats.limiting_pct()),
            },
        });
        if let Some(m) = self.matched {
            v["match"] = m.json(self.settings);
        }
        v
    }

    fn print(&self) {
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:7.1}")
            } else {
                "   -inf".into()
            }
        };
        let (b, a) = (&self.before.0, &self.after.0);
        println!("{} -> {}", self.input.display(), self.output.display());
        if let Some(m) = self.matched {
            m.print(self.settings);
        }
        if let Some(aim) = self.aim {
            println!(
                "  target {}: drive {:+.2} dB, output gain {:+.2} dB ({} renders){}",
                aim.label,
                self.settings.limiter.drive_db,
                self.settings.output.gain_db,
                self.trials,
                if self.reachable { "" } else { "  OUT OF REACH" }
            );
        }
        println!("                      before    after");
        println!(
            "  integrated (LUFS)  {}  {}",
            f(b.loudness.integrated_lufs),
            f(a.loudness.integrated_lufs)
        );
        println!(
            "  range (LU)         {}  {}",
            f(b.loudness.loudness_range_lu),
            f(a.loudness.loudness_range_lu)
        );
        println!(
            "  max short-term     {}  {}",
            f(b.loudness.short_term_max_lufs),
            f(a.loudness.short_term_max_lufs)
        );
        println!(
            "  true peak (dBTP)   {}  {}",
            f(b.true_peak_max_dbtp),
            f(a.true_peak_max_dbtp)
        );
        println!("  PLR (dB)           {}  {}", f(b.plr_db), f(a.plr_db));
        println!(
            "  limiter: max {:.1} dB, mean {:.2} dB, limiting {:.0} % of the time",
            self.stats.max_db,
            self.stats.mean_db(),
            self.stats.limiting_pct()
        );
        println!(
            "  written: {}-bit {} WAV, verified by decoding it again",
            self.bits,
            if self.bits == 32 { "float" } else { "integer" }
        );
    }
}

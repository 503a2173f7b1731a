//! `lathe deliver MASTER -o DIR --to LIST`: writes every deliverable a distributor asks for,
//! verifies each by reading it back, and writes a report.
//!
//! Per output, in this order: sample-rate conversion when the rate changes (rubato, FFT
//! resampler, see `render.rs` for its measured passband and aliasing), the true-peak ceiling
//! re-checked at the output rate and re-limited there when needed, dither only when the word
//! length drops (TPDF in f64, optional noise shaping, last), then encoding. Lossy files are
//! decoded and measured; while their decoded true peak passes the lossy ceiling the encoder's
//! input is re-limited lower and encoded again.
//!
//! Files are written under hidden temporary names (`.partial-NAME`) and renamed only once
//! verified; `report.json` and `report.html` come last. A failed output is removed and the
//! command exits 1.

mod codecs;
pub(crate) mod encode;
pub(crate) mod meta;
pub(crate) mod outputs;
pub(crate) mod render;
pub(crate) mod report;

use crate::decode::AudioFile;
use anyhow::{Context, Result, bail};
use encode::BextLoudness;
use lathe_dsp::dither::{OfflineDither, on_grid, to_steps};
pub use meta::Metadata;
use outputs::{Container, OutputSpec, Rate};
use render::{Measured, Signal};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

#[derive(clap::Args)]
pub struct DeliverArgs {
    /// The mastered file (WAV, AIFF, FLAC; mono or stereo, 8–384 kHz).
    pub master: PathBuf,
    /// Output folder (created; refused when it holds files, unless --overwrite).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Deliverables, comma-separated: wav-44100-16, wav-44100-24, wav-48000-16, wav-48000-24,
    /// wav-native-24, wav-RATE-BITS, flac-hires, flac-RATE-BITS, mp3-320; presets streaming,
    /// cd-files, all.
    #[arg(long, value_name = "LIST")]
    pub to: String,
    /// Metadata from a TOML file (keys as the flags); flags override it.
    #[arg(long, value_name = "FILE")]
    pub meta: Option<PathBuf>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub artist: Option<String>,
    #[arg(long)]
    pub album: Option<String>,
    /// ISRC, CC-XXX-YY-NNNNN.
    #[arg(long)]
    pub isrc: Option<String>,
    /// Track number, N or N/M.
    #[arg(long)]
    pub track: Option<String>,
    #[arg(long)]
    pub year: Option<String>,
    /// UPC-A or EAN-13 barcode (check digit verified).
    #[arg(long)]
    pub upc: Option<String>,
    #[arg(long)]
    pub composer: Option<String>,
    /// True-peak ceiling of the PCM files (dBTP).
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true, value_name = "DBTP")]
    pub ceiling: f64,
    /// Highest decoded true peak of lossy files (dBTP).
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true, value_name = "DBTP")]
    pub lossy_ceiling: f64,
    /// First-order noise shaping in the dither (16-bit files).
    #[arg(long)]
    pub noise_shaping: bool,
    /// Deliver a mono master as stereo (both channels equal).
    #[arg(long)]
    pub stereo: bool,
    /// Write flac-hires from a master below 88.2 kHz.
    #[arg(long)]
    pub force: bool,
    /// Write into a folder that already holds files.
    #[arg(long)]
    pub overwrite: bool,
    /// Skip the check of what the platforms' own codecs do (Opus, Vorbis, AAC via ffmpeg).
    #[arg(long)]
    pub no_codec_check: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// No report on standard output (`lathe album` delivers its tracks this way).
    #[arg(skip)]
    pub quiet: bool,
}

/// Exit status: 0 all written and verified, 1 a deliverable failed or the master is unusable,
/// 2 usage (bad names, metadata or folder).
pub fn run(args: &DeliverArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<Usage>().is_some();
            eprintln!("lathe deliver: {e:#}");
            if usage { 2 } else { 1 }
        }
    }
}

/// An error in what the user asked for (exit 2).
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage<T>(e: impl std::fmt::Display) -> Result<T> {
    Err(Usage(e.to_string()).into())
}

fn metadata(args: &DeliverArgs) -> Result<Metadata> {
    let from_file = match &args.meta {
        Some(p) => Metadata::from_file(p)?,
        None => Metadata::default(),
    };
    from_file
        .overlaid_by(Metadata {
            title: args.title.clone(),
            artist: args.artist.clone(),
            album: args.album.clone(),
            isrc: args.isrc.clone(),
            track: args.track.clone(),
            year: args.year.clone(),
            upc: args.upc.clone(),
            composer: args.composer.clone(),
        })
        .validated()
}

/// Prepares the output folder: created if missing; refused when it holds files unless
/// `overwrite`; stale temporary files of an interrupted run removed.
pub(crate) fn prepare_folder(dir: &Path, overwrite: bool) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            return usage(format!("{} exists and is not a folder", dir.display()));
        }
        let mut visible = 0;
        let mut stale = Vec::new();
        for e in std::fs::read_dir(dir).context("cannot list the output folder")? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".partial-") {
                stale.push(e.path());
            } else {
                visible += 1;
            }
        }
        if visible > 0 && !overwrite {
            return usage(format!(
                "{} already holds files (use --overwrite to replace them)",
                dir.display()
            ));
        }
        // Leftovers of an interrupted run, and an old report that would describe other files.
        for p in stale {
            std::fs::remove_file(p).ok();
        }
        for old in ["report.json", "report.html", "loudness.png", "spectrum.png"] {
            std::fs::remove_file(dir.join(old)).ok();
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // A folder we cannot write to fails here, before minutes of work.
    let probe = dir.join(".partial-write-test");
    std::fs::write(&probe, b"x").with_context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// A file being written: removed on drop unless committed.
struct Partial {
    temp: PathBuf,
    done: bool,
}

impl Partial {
    fn new(dir: &Path, final_name: &str) -> Self {
        Self {
            temp: dir.join(format!(".partial-{final_name}")),
            done: false,
        }
    }

    fn write(&self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&self.temp)
            .with_context(|| format!("cannot create {}", self.temp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {} (disk full?)", self.temp.display()))
    }

    fn commit(mut self, to: &Path) -> Result<()> {
        std::fs::rename(&self.temp, to)
            .with_context(|| format!("cannot rename to {}", to.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            std::fs::remove_file(&self.temp).ok();
        }
    }
}

/// What became of one deliverable.
pub struct Delivered {
    pub spec: OutputSpec,
    pub file: PathBuf,
    pub rate_hz: u32,
    pub bits: u32,
    pub channels: usize,
    pub frames: usize,
    pub bytes: u64,
    /// True peak at the output rate before any re-limiting (dBTP).
    pub true_peak_before_dbtp: f64,
    pub relimited: bool,
    pub dithered: bool,
    /// Measured on the file as read back.
    pub readback: Measured,
    /// Integrated loudness of the file minus the master's (LU).
    pub loudness_change_lu: f64,
    /// Lossy files: the true-peak ceiling the encoder's input was limited to, the passes it
    /// took, and the loudness that cost (LU).
    pub lossy: Option<(f64, usize, f64)>,
    /// Checks made on the read-back file, each with its finding.
    pub checks: Vec<(String, String)>,
    /// Lossy files: the decoded file's long-term spectrum (Hz, dB).
    pub spectrum: Option<Vec<(f64, f64)>>,
    /// Wall time of this output's render, encode and verification (s; outputs run in parallel).
    pub seconds: f64,
    /// The verified file under its temporary name, renamed to `file` once every output is done.
    partial: Option<Partial>,
}

/// The master after any mono→stereo copy, with what the outputs need from it.
struct Source {
    signal: Signal,
    source_bits: Option<u32>,
    codec_name: &'static str,
    measured: Measured,
}

fn run_inner(args: &DeliverArgs) -> Result<i32> {
    let mut specs = match outputs::parse_list(&args.to) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    let meta = match metadata(args) {
        Ok(m) => m,
        Err(e) => return usage(format!("{e:#}")),
    };
    for (name, v) in [
        ("--ceiling", args.ceiling),
        ("--lossy-ceiling", args.lossy_ceiling),
    ] {
        if !(-20.0..=0.0).contains(&v) {
            return usage(format!("{name} {v}: expected −20 … 0 dBTP"));
        }
    }
    let t0 = std::time::Instant::now();
    // LATHE_TIMING=1 prints where the time goes (for `cargo xtask bench` work).
    let tick = |what: &str| {
        if std::env::var_os("LATHE_TIMING").is_some() {
            eprintln!("{:8.2} s  {what}", t0.elapsed().as_secs_f64());
        }
    };
    let master = render::read_master(&args.master)
        .with_context(|| format!("cannot use the master {}", args.master.display()))?;
    let rate = master.signal.rate_hz;
    let mut warnings = Vec::new();
    if rate < 88_200 && !args.force {
        if let Some(hires) = specs
            .iter()
            .find(|s| s.rate == Rate::HiRes && !s.from_preset)
        {
            return usage(format!(
                "{} refused: the master is {rate} Hz, and a file resampled up is not hi-res \
                 (hi-res starts at 88.2 kHz; --force writes it anyway)",
                hires.name
            ));
        }
        if specs.iter().any(|s| s.rate == Rate::HiRes) {
            warnings.push(format!(
                "flac-hires left out: the master is {rate} Hz (hi-res starts at 88.2 kHz)"
            ));
            specs.retain(|s| s.rate != Rate::HiRes);
        }
    }
    prepare_folder(&args.out, args.overwrite)?;

    let mut signal = master.signal;
    if signal.channels.len() == 1 && args.stereo {
        let c = signal.channels[0].clone();
        signal.channels.push(c);
    }
    tick("read");
    let measured = render::measure(&signal, true);
    tick("measured");
    let source = Source {
        signal,
        source_bits: master.source_bits,
        codec_name: master.codec_name,
        measured,
    };
    let master_tp = source.measured.report.true_peak_max_dbtp;
    if master_tp > args.ceiling {
        warnings.push(format!(
            "the master peaks at {master_tp:.2} dBTP, over the {:.1} dBTP ceiling: every output \
             is re-limited",
            args.ceiling
        ));
    }
    let stem = args
        .master
        .file_stem()
        .map_or("master".into(), |s| s.to_string_lossy().into_owned());

    // The codec check runs beside the deliverables from the start: its ffmpeg processes take
    // up what CPU the deliverables leave idle (reading, the tail of the last outputs).
    // The master held at the ceiling at its own rate, made once for the codec check and the
    // native-rate outputs alike.
    let native_limited = OnceLock::new();
    let (results, codecs) = std::thread::scope(|scope| {
        let codec_job = (!args.no_codec_check).then(|| {
            scope.spawn(|| {
                // The platforms encode what is delivered: the master held at the ceiling
                // (re-limited here as the native-rate deliverable is, when it is over).
                if source.measured.report.true_peak_max_dbtp > args.ceiling - 0.01 {
                    let (limited, _) = limit_once(&native_limited, &source.signal, args.ceiling);
                    codecs::check(limited, args.lossy_ceiling)
                } else {
                    codecs::check(&source.signal, args.lossy_ceiling)
                }
            })
        });
        let results = deliver_all(args, &specs, &source, &native_limited, &meta, &stem);
        let codecs = codec_job.map_or_else(Vec::new, |job| {
            job.join().unwrap_or_else(|_| {
                codecs::failed(
                    "the codec check stopped on an internal error",
                    args.lossy_ceiling,
                )
            })
        });
        (results, codecs)
    });
    tick("delivered, codecs checked");

    // Verified files keep their temporary names until every output is done, so a run killed
    // midway leaves nothing that looks finished; then they are renamed together, and a failed
    // output's old file from an earlier run (under --overwrite) is removed.
    let mut delivered = Vec::new();
    let mut failed = Vec::new();
    for (spec, r) in specs.iter().zip(results) {
        match r {
            Ok(mut d) => {
                if let Some(p) = d.partial.take()
                    && let Err(e) = p.commit(&d.file)
                {
                    failed.push(format!("{}: {e:#}", spec.name));
                    continue;
                }
                delivered.push(d);
            }
            Err(e) => {
                std::fs::remove_file(args.out.join(file_name(spec, &stem))).ok();
                failed.push(format!("{e:#}"));
            }
        }
    }
    let report = report::Report {
        master: &args.master,
        source_codec: source.codec_name,
        source_bits: source.source_bits,
        signal: &source.signal,
        measured: &source.measured,
        delivered: &delivered,
        failed: &failed,
        warnings: &warnings,
        codecs: &codecs,
        meta: &meta,
        ceiling_dbtp: args.ceiling,
        lossy_ceiling_dbtp: args.lossy_ceiling,
    };
    tick("codecs");
    let json = report.write(&args.out)?;
    tick("report");
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        if !args.quiet {
            report.print();
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// One output rate's conversion of the master and its measurement, or why it failed.
type Converted = Result<Rendered, String>;

/// A signal and its measurement.
type Rendered = (Signal, Measured);

/// A programme at one output rate: the master or its conversion, its measurement, and the cell
/// its ceiling-held version is made in (see [`limit_once`]).
#[derive(Clone, Copy)]
struct AtRate<'a> {
    signal: &'a Signal,
    measured: &'a Measured,
    limited: &'a OnceLock<Rendered>,
}

/// A signal held at the ceiling by [`render::limit`], and its measurement, made by the first
/// output (or the codec check) that needs it: every output at one rate is re-limited alike.
fn limit_once<'a>(
    cell: &'a OnceLock<Rendered>,
    signal: &Signal,
    ceiling_dbtp: f64,
) -> &'a Rendered {
    cell.get_or_init(|| {
        let s = render::limit(signal, ceiling_dbtp);
        let m = render::measure(&s, false);
        (s, m)
    })
}

/// Every deliverable, one worker thread per core taking the outputs heaviest first; results
/// in the order of `specs`. Each other rate is converted once, by the first output that needs
/// it, while the outputs at the master's rate are already being written.
fn deliver_all(
    args: &DeliverArgs,
    specs: &[OutputSpec],
    source: &Source,
    native_limited: &OnceLock<Rendered>,
    meta: &Metadata,
    stem: &str,
) -> Vec<Result<Delivered>> {
    let rate = source.signal.rate_hz;
    // Per other rate: the conversion, and the conversion held at the ceiling.
    let converted: BTreeMap<u32, (OnceLock<Converted>, OnceLock<Rendered>)> = specs
        .iter()
        .map(|s| s.rate_hz(rate))
        .filter(|&r| r != rate)
        .map(|r| (r, (OnceLock::new(), OnceLock::new())))
        .collect();
    let bar = indicatif::MultiProgress::new();
    if args.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style =
        indicatif::ProgressStyle::with_template("  {prefix:<16} [{bar:30}] {percent:>3}%  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    // Longest first, so the cores finish together: MP3 (a conversion, LAME, a decode, maybe
    // more passes), then FLAC, then by rate; measured per output on the bench's 96 kHz master:
    // MP3 5.2 s, hi-res FLAC 5.7 s, 44.1 kHz FLAC 2.5 s, WAVs 0.8-2.3 s.
    let cost = |s: &OutputSpec| {
        let encoder = match s.container {
            Container::Mp3 => 8u32,
            Container::Flac => 3,
            Container::Wav => 1,
        };
        u64::from(encoder) * u64::from(s.rate_hz(rate))
    };
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&specs[i])));
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Result<Delivered>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, specs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let spec = &specs[i];
                    let pb = bar.add(indicatif::ProgressBar::new(100).with_style(style.clone()));
                    pb.set_prefix(spec.name.clone());
                    let to = spec.rate_hz(rate);
                    let r = if to == rate {
                        let at = AtRate {
                            signal: &source.signal,
                            measured: &source.measured,
                            limited: native_limited,
                        };
                        deliver_one(args, spec, source, at, meta, stem, &pb)
                    } else {
                        pb.set_message(format!("converting to {to} Hz"));
                        let (cell, limited) = &converted[&to];
                        let cell = cell.get_or_init(|| {
                            render::resample(&source.signal, to)
                                .map(|s| {
                                    let m = render::measure(&s, false);
                                    (s, m)
                                })
                                .map_err(|e| format!("{e:#}"))
                        });
                        match cell {
                            Ok((signal, measured)) => {
                                let at = AtRate {
                                    signal,
                                    measured,
                                    limited,
                                };
                                deliver_one(args, spec, source, at, meta, stem, &pb)
                            }
                            Err(e) => Err(anyhow::anyhow!("{e}")),
                        }
                    };
                    pb.finish_and_clear();
                    let r = r.with_context(|| spec.name.clone());
                    done.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// `song.44100-16.wav`, `song.native-24.wav`, `song.hires.flac`, `song.320.mp3`.
fn file_name(spec: &OutputSpec, stem: &str) -> String {
    let short = spec
        .name
        .split_once('-')
        .map_or(spec.name.as_str(), |(_, rest)| rest);
    format!("{stem}.{short}.{}", spec.container.extension())
}

/// Renders, encodes, writes and verifies one deliverable (left under its temporary name).
fn deliver_one(
    args: &DeliverArgs,
    spec: &OutputSpec,
    source: &Source,
    at: AtRate,
    meta: &Metadata,
    stem: &str,
    progress: &indicatif::ProgressBar,
) -> Result<Delivered> {
    // Share of the output's work done when each stage starts (percent; measured roughly on a
    // 96 kHz master: encoding and reading back are the big ones).
    let stage = |at: u64, what: &str| {
        progress.set_position(at);
        progress.set_message(what.to_owned());
    };
    let AtRate {
        signal: converted,
        measured: converted_measured,
        limited,
    } = at;
    let name = file_name(spec, stem);
    let started = std::time::Instant::now();
    let path = args.out.join(&name);
    let partial = Partial::new(&args.out, &name);
    let resampled = converted.rate_hz != source.signal.rate_hz;
    let tp_before = converted_measured.report.true_peak_max_dbtp;
    // A hair under the ceiling counts as over: the dither may add up to 3 LSB.
    let relimit = tp_before > args.ceiling - 0.01;
    let (signal, planned) = if relimit {
        stage(0, "re-limiting at the output rate");
        let (s, m) = limit_once(limited, converted, args.ceiling);
        (s, m)
    } else {
        (converted, converted_measured)
    };
    let channels = signal.channels.len();
    let mut checks = Vec::new();
    let master_lufs = source.measured.report.loudness.integrated_lufs;

    let mut spectrum = None;
    let (dithered, lossy, readback) = match spec.container {
        Container::Wav | Container::Flac => {
            let bits = spec.bits;
            let exact = on_grid(&signal.channels, bits);
            stage(20, if exact { "quantising" } else { "dithering" });
            let steps = if exact {
                to_steps(&signal.channels, bits)
            } else {
                OfflineDither::new(bits, channels, args.noise_shaping && bits <= 16)
                    .quantise(&signal.channels)
            };
            stage(30, "encoding");
            let bytes = if spec.container == Container::Wav {
                let r = &planned.report;
                let history = format!(
                    "A=PCM,F={},W={},M={},T=Lathe {}{}{}\r\n",
                    signal.rate_hz,
                    bits,
                    if channels == 1 { "mono" } else { "stereo" },
                    env!("CARGO_PKG_VERSION"),
                    if resampled { "; resampled" } else { "" },
                    if exact { "" } else { "; TPDF dither" },
                );
                encode::wav(
                    &steps,
                    signal.rate_hz,
                    bits,
                    meta,
                    &BextLoudness::from(r),
                    &history,
                )?
            } else {
                encode::flac(&steps, signal.rate_hz, bits)?
            };
            stage(60, "writing");
            partial.write(&bytes)?;
            if spec.container == Container::Flac {
                encode::tag_flac(&partial.temp, meta)?;
            }
            stage(65, "reading back and comparing");
            // Read back piece by piece: every sample against what was meant to be written,
            // the master beside it when the file is the master at its own rate, the meters
            // fed as it comes (no second copy of the programme in memory).
            let master_tolerance = (!resampled && !relimit).then_some({
                if exact {
                    0.0
                } else if args.noise_shaping && bits <= 16 {
                    3.0
                } else {
                    1.5
                }
            });
            let (m, worst) = read_back_pcm(
                &partial.temp,
                signal.rate_hz,
                bits,
                &steps,
                master_tolerance.map(|_| &source.signal),
            )?;
            checks.push(("samples".into(), "read back bit-exact".into()));
            if !resampled && relimit {
                // Re-limited at the master's rate: still the master, in time and per channel
                // (the file's samples are the steps written: checked above).
                let scale = f64::from(1u32 << (bits - 1));
                let back = Signal {
                    rate_hz: signal.rate_hz,
                    channels: steps
                        .iter()
                        .map(|c| c.iter().map(|&v| f64::from(v) / scale).collect())
                        .collect(),
                };
                let worst =
                    check_aligned(&back, &source.signal, 0.5).context("against the master")?;
                checks.push((
                    "aligned with the master".into(),
                    format!("correlation at lag 0: {worst:.4}"),
                ));
            }
            if let Some(tolerance) = master_tolerance {
                // Identical to the master apart from the dither.
                if worst > tolerance + 1e-9 {
                    bail!("differs from the master by {worst:.2} LSB (allowed {tolerance})");
                }
                checks.push((
                    "identical to the master".into(),
                    if exact {
                        "sample for sample".into()
                    } else {
                        format!("within the dither ({worst:.2} LSB, allowed {tolerance})")
                    },
                ));
            }
            let drift = m.report.loudness.integrated_lufs - planned.report.loudness.integrated_lufs;
            if drift.abs() > 0.05 {
                bail!("integrated loudness moved {drift:+.3} LU between render and file");
            }
            let tp = m.report.true_peak_max_dbtp;
            if tp > args.ceiling {
                bail!(
                    "true peak {tp:.2} dBTP over the {:.1} dBTP ceiling",
                    args.ceiling
                );
            }
            checks.push((
                "true peak".into(),
                format!("{tp:.2} dBTP ≤ {:.1}", args.ceiling),
            ));
            (!exact, None, m)
        }
        Container::Mp3 => {
            stage(20, "encoding, decoding and measuring");
            let (ceiling_used, passes, m, s, cost_lu) =
                deliver_mp3(args, signal, planned, meta, &partial, &mut checks)?;
            spectrum = Some(s);
            (false, Some((ceiling_used, passes, cost_lu)), m)
        }
    };
    let shown_lufs = readback.report.loudness.integrated_lufs;
    checks.push((
        "integrated loudness".into(),
        format!("{shown_lufs:.2} LUFS (master {master_lufs:.2})"),
    ));
    stage(95, "reading the tags back");
    let tags = verify_tags(&partial.temp, spec.container, meta)?;
    checks.push(("metadata".into(), tags));
    stage(100, "verified");
    let bytes = std::fs::metadata(&partial.temp).map_or(0, |m| m.len());
    Ok(Delivered {
        spec: spec.clone(),
        file: path,
        rate_hz: signal.rate_hz,
        bits: spec.bits,
        channels,
        frames: signal.frames(),
        bytes,
        true_peak_before_dbtp: tp_before,
        relimited: relimit,
        dithered,
        loudness_change_lu: shown_lufs - master_lufs,
        readback,
        lossy,
        checks,
        spectrum,
        seconds: started.elapsed().as_secs_f64(),
        partial: Some(partial),
    })
}

/// A verified lossy file: the encoder input's ceiling, the passes it took, the decoded file's
/// measurement and spectrum, and what holding the lossy ceiling cost (LU: the PCM render's
/// integrated loudness minus the decoded file's).
type LossyResult = (f64, usize, Measured, Vec<(f64, f64)>, f64);

/// Checks a file read back is `reference` in time and per channel: for every channel the
/// correlation at lag 0 is at least `min_corr` and higher than at lags of ±1 and ±2 samples and
/// than with the other channel (a shifted gapless trim, a resampler or limiter delay left in, or
/// swapped channels all fail). Returns the lowest lag-0 correlation.
fn check_aligned(back: &Signal, reference: &Signal, min_corr: f64) -> Result<f64> {
    let mut worst = 1.0f64;
    for (c, (b, r)) in back.channels.iter().zip(&reference.channels).enumerate() {
        let at0 = correlation(b, r, 0);
        for lag in [-2, -1, 1, 2] {
            let other = correlation(b, r, lag);
            if other > at0 {
                bail!("channel {c} lines up better {lag:+} samples off ({other:.4} vs {at0:.4})");
            }
        }
        if let Some(o) = reference.channels.get(1 - c.min(1))
            && reference.channels.len() == 2
            && correlation(b, o, 0) > at0 + 1e-9
        {
            bail!("channel {c} matches the other channel better: channels swapped?");
        }
        worst = worst.min(at0);
    }
    if worst < min_corr {
        bail!("correlates only {worst:.4} with its source at lag 0");
    }
    Ok(worst)
}

/// Normalised correlation of `a[i]` with `b[i + lag]` (1 for silence against silence).
fn correlation(a: &[f64], b: &[f64], lag: isize) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (i, x) in a.iter().enumerate() {
        let Some(y) = i.checked_add_signed(lag).and_then(|j| b.get(j)) else {
            continue;
        };
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 && bb == 0.0 {
        1.0
    } else {
        ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE)
    }
}

/// Most encode passes for a lossy file before giving up.
const LOSSY_PASSES: usize = 6;

/// Encodes the MP3, decodes it, and while its true peak passes the lossy ceiling re-limits the
/// encoder's input lower (by the overshoot + 0.1 dB) and encodes again.
fn deliver_mp3(
    args: &DeliverArgs,
    signal: &Signal,
    measured: &Measured,
    meta: &Metadata,
    partial: &Partial,
    checks: &mut Vec<(String, String)>,
) -> Result<LossyResult> {
    let mut input_ceiling = args.ceiling.min(args.lossy_ceiling);
    for pass in 1..=LOSSY_PASSES {
        let limited;
        let input = if pass == 1 && measured.report.true_peak_max_dbtp <= input_ceiling {
            signal
        } else {
            limited = render::limit(signal, input_ceiling);
            &limited
        };
        let f32s: Vec<Vec<f32>> = input
            .channels
            .iter()
            .map(|c| c.iter().map(|&s| s as f32).collect())
            .collect();
        let bytes = encode::mp3(&f32s, signal.rate_hz, meta)?;
        partial.write(&bytes)?;
        let back = read_back(
            &partial.temp,
            signal.rate_hz,
            signal.channels.len(),
            None,
            signal.frames(),
        )?;
        let m = render::measure(&back, false);
        // The decoded file is the encoder's input, in time and per channel: equal length alone
        // would not show a misaligned gapless trim or swapped channels.
        // 0.5: LAME's 20 kHz low-pass alone takes white noise at 48 kHz down to 0.9.
        let worst_corr = check_aligned(&back, input, 0.5).context("the decoded MP3")?;
        let tp = m.report.true_peak_max_dbtp;
        if tp <= args.lossy_ceiling {
            checks.push((
                "length".into(),
                format!(
                    "{} frames decoded, gapless (LAME Info tag); correlation with the encoder \
                     input at lag 0: {worst_corr:.4}",
                    back.frames()
                ),
            ));
            let cost_lu =
                measured.report.loudness.integrated_lufs - m.report.loudness.integrated_lufs;
            checks.push((
                "decoded true peak".into(),
                format!(
                    "{tp:.2} dBTP ≤ {:.1} (encoder input limited to {input_ceiling:.2} dBTP, \
                     {pass} pass(es), cost {cost_lu:.2} LU)",
                    args.lossy_ceiling
                ),
            ));
            return Ok((input_ceiling, pass, m, report::spectrum(&back), cost_lu));
        }
        input_ceiling -= tp - args.lossy_ceiling + 0.1;
    }
    bail!(
        "the decoded MP3 still peaks over {:.1} dBTP after {LOSSY_PASSES} passes",
        args.lossy_ceiling
    )
}

/// Reads a written PCM file (WAV or FLAC) back piece by piece: its format and exact length,
/// every sample against the integer `steps` written (bit-exact), and with `master` the largest
/// difference from it in LSB. Returns the file's measurement and that difference.
fn read_back_pcm(
    path: &Path,
    rate_hz: u32,
    bits: u32,
    steps: &[Vec<i32>],
    master: Option<&Signal>,
) -> Result<(Measured, f64)> {
    let channels = steps.len();
    let frames = steps.first().map_or(0, Vec::len);
    let mut file = open_back(path, rate_hz, channels, Some(bits))?;
    let scale = f64::from(1u32 << (bits - 1));
    let mut measurer = render::Measurer::new(rate_hz, channels, false);
    let mut planar = vec![Vec::new(); channels];
    let (mut at, mut worst) = (0usize, 0.0f64);
    while file.next_chunk(&mut planar)? {
        if file.corrupt_packets > 0 {
            bail!("damaged packets in the written file (near frame {at})");
        }
        let n = planar.first().map_or(0, Vec::len);
        if at + n > frames {
            bail!("reads back longer than the {frames} frames written");
        }
        for (c, p) in planar.iter().enumerate() {
            let want = &steps[c][at..at + n];
            if let Some(i) = p
                .iter()
                .zip(want)
                .position(|(&x, &w)| f64::from(x) * scale != f64::from(w))
            {
                bail!(
                    "read back differs from what was written (channel {c}, frame {})",
                    at + i
                );
            }
            if let Some(m) = master {
                worst = p
                    .iter()
                    .zip(&m.channels[c][at..at + n])
                    .map(|(&x, &y)| (f64::from(x) - y).abs() * scale)
                    .fold(worst, f64::max);
            }
        }
        measurer.push(&planar);
        at += n;
    }
    if file.corrupt_packets > 0 {
        bail!(
            "{} damaged packets in the written file",
            file.corrupt_packets
        );
    }
    if at != frames {
        bail!("reads back {at} frames long, wrote {frames}");
    }
    Ok((measurer.finish(), worst))
}

/// Opens a written file and checks its rate, channels and word length.
fn open_back(path: &Path, rate_hz: u32, channels: usize, bits: Option<u32>) -> Result<AudioFile> {
    let file = AudioFile::open_with(path, true).context("cannot read the written file")?;
    if file.sample_rate != rate_hz || file.channels != channels {
        bail!(
            "reads back as {} Hz, {} ch (wrote {rate_hz} Hz, {channels} ch)",
            file.sample_rate,
            file.channels
        );
    }
    if bits.is_some() && file.source_bits != bits {
        bail!("reads back as {:?}-bit (wrote {bits:?})", file.source_bits);
    }
    Ok(file)
}

/// Reads a written file back and checks its format and exact length.
fn read_back(
    path: &Path,
    rate_hz: u32,
    channels: usize,
    bits: Option<u32>,
    frames: usize,
) -> Result<Signal> {
    let mut file = open_back(path, rate_hz, channels, bits)?;
    // Sized for what was written: no regrowing (a longer file fails below).
    let mut out: Vec<Vec<f64>> = vec![Vec::with_capacity(frames); channels];
    let mut planar = vec![Vec::new(); channels];
    while file.next_chunk(&mut planar)? {
        for (o, p) in out.iter_mut().zip(&planar) {
            o.extend(p.iter().map(|&s| f64::from(s)));
        }
    }
    if file.corrupt_packets > 0 {
        bail!(
            "{} damaged packets in the written file",
            file.corrupt_packets
        );
    }
    let got = out.first().map_or(0, Vec::len);
    if got != frames {
        bail!("reads back {got} frames long, wrote {frames}");
    }
    Ok(Signal {
        rate_hz,
        channels: out,
    })
}

/// Reads each tag of a written file back (lofty) and checks every field written: the tag types
/// each format must carry (WAV: RIFF INFO and ID3v2; FLAC: Vorbis comments; MP3: ID3v2), each
/// checked on its own so one good tag cannot hide a broken one. Returns a summary.
fn verify_tags(path: &Path, container: Container, meta: &Metadata) -> Result<String> {
    use lofty::file::TaggedFileExt;
    use lofty::tag::{Accessor, ItemKey, TagType};
    let file = lofty::read_from_path(path).context("cannot read the written file's tags")?;
    let wanted: &[TagType] = match container {
        Container::Wav => &[TagType::RiffInfo, TagType::Id3v2],
        Container::Flac => &[TagType::VorbisComments],
        Container::Mp3 => &[TagType::Id3v2],
    };
    let mut fields = 0;
    for &kind in wanted {
        let tag = file
            .tag(kind)
            .with_context(|| format!("no {kind:?} tag reads back"))?;
        let mut expect = |what: &str, got: Option<String>, want: Option<&str>| -> Result<()> {
            if let Some(want) = want {
                if got.as_deref() != Some(want) {
                    bail!("{kind:?} {what} reads back as {got:?}, wrote {want:?}");
                }
                fields += 1;
            }
            Ok(())
        };
        expect(
            "title",
            tag.title().map(|v| v.into_owned()),
            meta.title.as_deref(),
        )?;
        expect(
            "artist",
            tag.artist().map(|v| v.into_owned()),
            meta.artist.as_deref(),
        )?;
        expect(
            "album",
            tag.album().map(|v| v.into_owned()),
            meta.album.as_deref(),
        )?;
        let text = |key: ItemKey| tag.get_string(key).map(str::to_string);
        expect(
            "composer",
            text(ItemKey::Composer),
            meta.composer.as_deref(),
        )?;
        if kind != TagType::RiffInfo {
            expect("ISRC", text(ItemKey::Isrc), meta.isrc.as_deref())?;
            expect("barcode", text(ItemKey::Barcode), meta.upc.as_deref())?;
            if let Some((n, m)) = meta.track_numbers() {
                let track = n.to_string();
                expect("track", tag.track().map(|t| t.to_string()), Some(&track))?;
                if let Some(m) = m {
                    let total = m.to_string();
                    expect(
                        "track total",
                        tag.track_total().map(|t| t.to_string()),
                        Some(&total),
                    )?;
                }
            }
            let year = text(ItemKey::RecordingDate).or_else(|| text(ItemKey::Year));
            expect("year", year, meta.year.as_deref())?;
        }
    }
    Ok(format!(
        "{fields} fields read back from {} tag(s)",
        wanted.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn alignment_check_catches_shifts_and_swaps() {
        let (l, r) = (noise(10_000, 1), noise(10_000, 2));
        let s = |a: Vec<f64>, b: Vec<f64>| Signal {
            rate_hz: 48_000,
            channels: vec![a, b],
        };
        let reference = s(l.clone(), r.clone());
        assert!(check_aligned(&reference, &reference, 0.99).is_ok());
        let mut late = l.clone();
        late.insert(0, 0.0);
        late.pop();
        assert!(check_aligned(&s(late, r.clone()), &reference, 0.5).is_err());
        assert!(check_aligned(&s(r, l), &reference, 0.5).is_err());
    }
}

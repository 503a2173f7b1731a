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
mod encode;
mod meta;
mod outputs;
mod render;
mod report;

use crate::decode::AudioFile;
use anyhow::{Context, Result, bail};
use encode::BextLoudness;
use lathe_dsp::dither::{OfflineDither, on_grid, to_steps};
pub use meta::Metadata;
use outputs::{Container, OutputSpec, Rate};
use rayon::prelude::*;
use render::{Measured, Signal};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
struct Usage(String);

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
fn prepare_folder(dir: &Path, overwrite: bool) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            return usage(format!("{} exists and is not a folder", dir.display()));
        }
        let mut visible = 0;
        for e in std::fs::read_dir(dir).context("cannot list the output folder")? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".partial-") {
                std::fs::remove_file(e.path()).ok();
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
}

/// The master after any mono→stereo copy, with what the outputs need from it.
struct Source {
    signal: Signal,
    source_bits: Option<u32>,
    codec_name: &'static str,
    measured: Measured,
}

fn run_inner(args: &DeliverArgs) -> Result<i32> {
    let specs = match outputs::parse_list(&args.to) {
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
    if let Some(hires) = specs.iter().find(|s| s.rate == Rate::HiRes)
        && rate < 88_200
        && !args.force
    {
        return usage(format!(
            "{} refused: the master is {rate} Hz, and a file resampled up is not hi-res \
             (hi-res starts at 88.2 kHz; --force writes it anyway)",
            hires.name
        ));
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
    let mut warnings = Vec::new();
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

    // Each distinct output rate is converted once.
    let mut rates: Vec<u32> = specs.iter().map(|s| s.rate_hz(rate)).collect();
    rates.sort_unstable();
    rates.dedup();
    let converted: BTreeMap<u32, Result<(Signal, Measured)>> = rates
        .par_iter()
        .with_max_len(1)
        .map(|&r| {
            let converted = render::resample(&source.signal, r).map(|s| {
                let m = render::measure(&s, false);
                (s, m)
            });
            (r, converted)
        })
        .collect();

    tick("resampled");
    let bar = indicatif::MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // Heaviest first (MP3 and FLAC encoders, then by rate), one task per output, so two cores
    // finish together; results are put back in the order asked for.
    let cost = |s: &OutputSpec| {
        let encoder = match s.container {
            Container::Mp3 => 4u32,
            Container::Flac => 3,
            Container::Wav => 1,
        };
        u64::from(encoder) * u64::from(s.rate_hz(rate))
    };
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&specs[i])));
    let mut done: Vec<(usize, Result<Delivered>)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&i| {
            let spec = &specs[i];
            let pb = bar.add(indicatif::ProgressBar::new_spinner());
            pb.set_message(spec.name.clone());
            pb.enable_steady_tick(std::time::Duration::from_millis(200));
            let r = match &converted[&spec.rate_hz(rate)] {
                Ok((sig, m)) => deliver_one(args, spec, &source, sig, m, &meta, &stem),
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            pb.finish_and_clear();
            (i, r.with_context(|| spec.name.clone()))
        })
        .collect();
    done.sort_by_key(|(i, _)| *i);
    let results: Vec<Result<Delivered>> = done.into_iter().map(|(_, r)| r).collect();
    tick("delivered");
    let codecs = if args.no_codec_check {
        Vec::new()
    } else {
        codecs::check(&source.signal, args.lossy_ceiling)
    };

    let mut delivered = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(d) => delivered.push(d),
            Err(e) => failed.push(format!("{e:#}")),
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
        report.print();
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// Renders, encodes, writes, verifies and commits one deliverable.
fn deliver_one(
    args: &DeliverArgs,
    spec: &OutputSpec,
    source: &Source,
    converted: &Signal,
    converted_measured: &Measured,
    meta: &Metadata,
    stem: &str,
) -> Result<Delivered> {
    // `song.44100-16.wav`, `song.native-24.wav`, `song.hires.flac`, `song.320.mp3`.
    let short = spec
        .name
        .split_once('-')
        .map_or(spec.name.as_str(), |(_, rest)| rest);
    let name = format!("{stem}.{short}.{}", spec.container.extension());
    let started = std::time::Instant::now();
    let path = args.out.join(&name);
    let partial = Partial::new(&args.out, &name);
    let resampled = converted.rate_hz != source.signal.rate_hz;
    let tp_before = converted_measured.report.true_peak_max_dbtp;
    // A hair under the ceiling counts as over: the dither may add up to 3 LSB.
    let relimit = tp_before > args.ceiling - 0.01;
    let limited;
    let (signal, planned) = if relimit {
        let s = render::limit(converted, args.ceiling);
        let m = render::measure(&s, false);
        limited = (s, m);
        (&limited.0, &limited.1)
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
            let steps = if exact {
                to_steps(&signal.channels, bits)
            } else {
                OfflineDither::new(bits, channels, args.noise_shaping && bits <= 16)
                    .quantise(&signal.channels)
            };
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
                    &BextLoudness {
                        integrated_lufs: r.loudness.integrated_lufs,
                        range_lu: r.loudness.loudness_range_lu,
                        true_peak_dbtp: r.true_peak_max_dbtp,
                        momentary_max_lufs: r.loudness.momentary_max_lufs,
                        short_term_max_lufs: r.loudness.short_term_max_lufs,
                    },
                    &history,
                )?
            } else {
                encode::flac(&steps, signal.rate_hz, bits)?
            };
            partial.write(&bytes)?;
            if spec.container == Container::Flac {
                encode::tag_flac(&partial.temp, meta)?;
            }
            let back = read_back(
                &partial.temp,
                signal.rate_hz,
                channels,
                Some(bits),
                signal.frames(),
            )?;
            // Bit-exact: what is in the file is what we meant to write.
            let scale = f64::from(1u32 << (bits - 1));
            for (c, (b, s)) in back.channels.iter().zip(&steps).enumerate() {
                if let Some(i) = b
                    .iter()
                    .zip(s)
                    .position(|(x, &want)| (x * scale).round() as i32 != want)
                {
                    bail!("read back differs from what was written (channel {c}, frame {i})");
                }
            }
            checks.push(("samples".into(), "read back bit-exact".into()));
            if !resampled && !relimit {
                // Identical to the master apart from the dither.
                let tolerance = if exact {
                    0.0
                } else if args.noise_shaping && bits <= 16 {
                    3.0
                } else {
                    1.5
                };
                let worst = back
                    .channels
                    .iter()
                    .zip(&source.signal.channels)
                    .flat_map(|(b, m)| b.iter().zip(m).map(|(x, y)| (x - y).abs() * scale))
                    .fold(0.0f64, f64::max);
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
            let m = render::measure(&back, true);
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
    let tags = read_tags(&partial.temp)?;
    for (key, want) in [
        ("title", meta.title.as_deref()),
        ("artist", meta.artist.as_deref()),
        ("ISRC", meta.isrc.as_deref()),
    ] {
        if let Some(want) = want {
            let got = tags.get(key).map(String::as_str);
            if got != Some(want) {
                bail!("metadata {key} reads back as {got:?}, wrote {want:?}");
            }
        }
    }
    checks.push((
        "metadata".into(),
        format!("{} fields read back", tags.len()),
    ));
    let bytes = std::fs::metadata(&partial.temp).map_or(0, |m| m.len());
    partial.commit(&path)?;
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
    })
}

/// A verified lossy file: the encoder input's ceiling, the passes it took, the decoded file's
/// measurement and spectrum, and what holding the lossy ceiling cost (LU: the PCM render's
/// integrated loudness minus the decoded file's).
type LossyResult = (f64, usize, Measured, Vec<(f64, f64)>, f64);

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
        let input = if pass == 1 && measured.report.true_peak_max_dbtp <= input_ceiling {
            signal.clone()
        } else {
            render::limit(signal, input_ceiling)
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
        let m = render::measure(&back, true);
        let tp = m.report.true_peak_max_dbtp;
        if tp <= args.lossy_ceiling {
            checks.push((
                "length".into(),
                format!("{} frames decoded, gapless (LAME Info tag)", back.frames()),
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

/// Reads a written file back and checks its format and exact length.
fn read_back(
    path: &Path,
    rate_hz: u32,
    channels: usize,
    bits: Option<u32>,
    frames: usize,
) -> Result<Signal> {
    let mut file = AudioFile::open_with(path, true).context("cannot read the written file")?;
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
    let mut out: Vec<Vec<f64>> = vec![Vec::new(); channels];
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

/// Tags as read back by lofty: title, artist, ISRC (the checks compare these).
fn read_tags(path: &Path) -> Result<BTreeMap<&'static str, String>> {
    use lofty::file::TaggedFileExt;
    use lofty::tag::{Accessor, ItemKey};
    let file = lofty::read_from_path(path).context("cannot read the written file's tags")?;
    let mut out = BTreeMap::new();
    for tag in file.tags() {
        if let Some(t) = tag.title() {
            out.insert("title", t.into_owned());
        }
        if let Some(a) = tag.artist() {
            out.insert("artist", a.into_owned());
        }
        if let Some(i) = tag.get_string(ItemKey::Isrc) {
            out.insert("ISRC", i.to_string());
        }
    }
    Ok(out)
}

/// A number for JSON (null when not finite), rounded to 0.001.
pub(crate) fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

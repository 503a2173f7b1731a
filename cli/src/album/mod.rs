//! `lathe album ALBUM.toml -o DIR`: sequences a record – order, pauses, fades, one loudness plan
//! – and writes a DDP 2.0 image for CD replication, the CD tracks as WAV files, a cue-sheet
//! image for reference CD-Rs, and a report. `lathe ddp-check` (in `check.rs`) reads any DDP 2.0
//! fileset back.
//!
//! Per track, in order: the file is read (or a mix rendered through Lathe Master's chain with
//! its `preset` / `settings`), converted to 44.1 kHz when it is at another rate (the deliver
//! resampler), faded, given its gain from the loudness plan, re-limited only if that gain takes
//! it over the ceiling; then the tracks are placed on CD frames ([`layout`]) and the image is
//! dithered to 16 bits once, last (pauses stay digital silence).
//!
//! Everything is written in a hidden `.partial-album` folder, read back and checked (the DDP by
//! the same reader `lathe ddp-check` uses, the CD files bit for bit against the DDP's audio),
//! and only then moved into place.

mod cdtext;
pub mod check;
pub mod ddp;
pub mod layout;
mod report;
mod sides;

use crate::deliver::Metadata;
use crate::deliver::render::{self, Signal};
use anyhow::{Context, Result, bail};
use lathe_dsp::dither::OfflineDither;
use layout::{CD_RATE_HZ, Disc, FRAME_SAMPLES};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct AlbumArgs {
    /// The album file (TOML: an [album] table and one [[track]] per track; see the README).
    pub album: PathBuf,
    /// Output folder (created; refused when it holds files, unless --overwrite).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// More to write, comma-separated: any `lathe deliver` name or preset (per-track files in
    /// DIR/tracks/, e.g. streaming, wav-48000-24, flac-hires, mp3-320), `vinyl`, `cassette`.
    /// The DDP, cd/ and the cue image are always written.
    #[arg(long, value_name = "LIST")]
    pub to: Option<String>,
    /// Replace the files of an earlier run in the output folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The album file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlbumFile {
    album: AlbumHead,
    #[serde(default)]
    track: Vec<TrackEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlbumHead {
    title: String,
    artist: Option<String>,
    upc: Option<String>,
    /// "album" (one gain for all), "track" (each to the target) or "none".
    #[serde(default = "default_loudness")]
    loudness: String,
    #[serde(default = "default_target")]
    target: f64,
    #[serde(default = "default_ceiling")]
    ceiling: f64,
    #[serde(default, deserialize_with = "crate::deliver::meta::text_or_number")]
    year: Option<String>,
    composer: Option<String>,
    /// Vinyl format for `--to vinyl`: 12in-33 (default), 12in-45, 10in-33, 7in-45, 7in-33.
    vinyl: Option<String>,
    /// Cassette for `--to cassette`: C46, C60 (default), C90.
    cassette: Option<String>,
}

fn default_loudness() -> String {
    "album".into()
}
fn default_target() -> f64 {
    -14.0
}
fn default_ceiling() -> f64 {
    -1.0
}
fn default_gap() -> f64 {
    2.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackEntry {
    file: PathBuf,
    title: Option<String>,
    artist: Option<String>,
    isrc: Option<String>,
    composer: Option<String>,
    #[serde(default = "default_gap")]
    gap: f64,
    #[serde(default)]
    fade_in: f64,
    #[serde(default)]
    fade_out: f64,
    #[serde(default)]
    gain: f64,
    side: Option<String>,
    /// Render a mix through Lathe Master with a factory preset…
    preset: Option<String>,
    /// …or a settings file (relative to the album file).
    settings: Option<PathBuf>,
}

/// How the tracks' levels are set.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Album,
    Track,
    None,
}

/// Exit status: 0 written and verified, 1 a file could not be read or a check failed, 2 usage
/// (an album file that breaks a rule, named with the track).
pub fn run(args: &AlbumArgs) -> i32 {
    match run_inner(args) {
        Ok(()) => 0,
        Err(e) => {
            let usage = e.downcast_ref::<crate::deliver::Usage>().is_some();
            eprintln!("lathe album: {e:#}");
            if usage { 2 } else { 1 }
        }
    }
}

/// One track as the album file asks for it, checked.
struct TrackPlan {
    path: PathBuf,
    name: String,
    meta: Metadata,
    gap_s: f64,
    fade_in_s: f64,
    fade_out_s: f64,
    gain_db: f64,
    preset: Option<String>,
    settings: Option<PathBuf>,
    side: Option<String>,
}

fn usage_err(msg: String) -> anyhow::Error {
    crate::deliver::Usage(msg).into()
}

/// Reads and checks the album file: metadata formats, duplicate ISRCs, fades, gains, the plan.
fn load(path: &Path) -> Result<(AlbumHead, Plan, Vec<TrackPlan>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage_err(format!("cannot read {}: {e}", path.display())))?;
    let file: AlbumFile = toml::from_str(&text)
        .map_err(|e| usage_err(format!("{} is not a valid album file: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let head = file.album;
    let plan = match head.loudness.as_str() {
        "album" => Plan::Album,
        "track" => Plan::Track,
        "none" => Plan::None,
        other => {
            return Err(usage_err(format!(
                "loudness = {other:?}: expected \"album\", \"track\" or \"none\""
            )));
        }
    };
    if !(-40.0..=0.0).contains(&head.target) {
        return Err(usage_err(format!(
            "target = {}: expected −40 … 0 LUFS",
            head.target
        )));
    }
    if !(-20.0..=0.0).contains(&head.ceiling) {
        return Err(usage_err(format!(
            "ceiling = {}: expected −20 … 0 dBTP",
            head.ceiling
        )));
    }
    if file.track.is_empty() {
        return Err(usage_err("the album file has no [[track]]".into()));
    }
    let count = file.track.len();
    if count > layout::MAX_TRACKS {
        return Err(usage_err(format!(
            "{count} tracks: a CD holds at most {}",
            layout::MAX_TRACKS
        )));
    }
    let album_meta = Metadata {
        album: Some(head.title.clone()),
        artist: head.artist.clone(),
        upc: head.upc.clone(),
        year: head.year.clone(),
        composer: head.composer.clone(),
        ..Metadata::default()
    }
    .validated()
    .map_err(|e| usage_err(format!("[album]: {e:#}")))?;
    let mut tracks = Vec::with_capacity(count);
    let mut seen_isrc: Vec<(String, usize)> = Vec::new();
    for (i, t) in file.track.into_iter().enumerate() {
        let n = i + 1;
        let name = t.title.clone().unwrap_or_else(|| {
            t.file
                .file_stem()
                .map_or(format!("Track {n}"), |s| s.to_string_lossy().into_owned())
        });
        let bad = |what: String| usage_err(format!("track {n} ({name}): {what}"));
        let meta = Metadata {
            title: Some(name.clone()),
            artist: t.artist.clone().or_else(|| album_meta.artist.clone()),
            isrc: t.isrc.clone(),
            track: Some(format!("{n}/{count}")),
            composer: t.composer.clone().or_else(|| album_meta.composer.clone()),
            ..album_meta.clone()
        }
        .validated()
        .map_err(|e| bad(format!("{e:#}")))?;
        if let Some(isrc) = &meta.isrc {
            if let Some((_, first)) = seen_isrc.iter().find(|(s, _)| s == isrc) {
                return Err(bad(format!(
                    "ISRC {} is also track {first}'s; each recording has its own",
                    meta.isrc_display().unwrap_or_default()
                )));
            }
            seen_isrc.push((isrc.clone(), n));
        }
        for (what, v) in [("fade_in", t.fade_in), ("fade_out", t.fade_out)] {
            if !v.is_finite() || v < 0.0 {
                return Err(bad(format!("{what} = {v}: expected 0 or more seconds")));
            }
        }
        if !t.gain.is_finite() || t.gain.abs() > 24.0 {
            return Err(bad(format!("gain = {}: expected −24 … +24 dB", t.gain)));
        }
        if !t.gap.is_finite() || t.gap < 0.0 {
            return Err(bad(format!("gap = {}: a pause cannot be negative", t.gap)));
        }
        if n == 1 && t.gap < 2.0 {
            return Err(bad(format!(
                "gap = {}: Red Book asks for at least 2 s before track 1",
                t.gap
            )));
        }
        if t.preset.is_some() && t.settings.is_some() {
            return Err(bad("give preset or settings, not both".into()));
        }
        if let Some(side) = &t.side
            && (side.trim().is_empty() || side.len() > 2)
        {
            return Err(bad(format!(
                "side = {side:?}: expected a side's name, e.g. \"A\""
            )));
        }
        let path = base.join(&t.file);
        if !path.is_file() {
            return Err(bad(format!("{} does not exist", path.display())));
        }
        tracks.push(TrackPlan {
            path,
            name,
            meta,
            gap_s: t.gap,
            fade_in_s: t.fade_in,
            fade_out_s: t.fade_out,
            gain_db: t.gain,
            preset: t.preset,
            settings: t.settings.map(|s| base.join(s)),
            side: t.side.map(|s| s.trim().to_uppercase()),
        });
    }
    Ok((head, plan, tracks))
}

/// A track read, at 44.1 kHz, faded.
struct Loaded {
    signal: Signal,
    /// Channels of the file (or of its render through Lathe Master).
    channels: usize,
    /// At its own rate and channel count, faded (kept for per-track deliverables and sides).
    source: Option<Signal>,
    source_rate_hz: u32,
    rendered: bool,
}

/// Reads a track (rendering a mix through Lathe Master first when it has a preset or settings),
/// converts it to 44.1 kHz and fades it.
fn load_track(t: &TrackPlan, n: usize, scratch: &Path, keep_source: bool) -> Result<Loaded> {
    let mut path = t.path.clone();
    let rendered = t.preset.is_some() || t.settings.is_some();
    if rendered {
        let out = scratch.join(format!("render-{n:02}.wav"));
        let args = crate::master::MasterArgs::for_album(
            t.path.clone(),
            out.clone(),
            t.preset.clone(),
            t.settings.clone(),
        );
        if crate::master::run(&args) != 0 {
            bail!("rendering {} through Lathe Master failed", t.path.display());
        }
        path = out;
    }
    let master = render::read_master(&path).with_context(|| format!("{}", t.path.display()))?;
    let source_rate_hz = master.signal.rate_hz;
    let channels = master.signal.channels.len();
    let mut signal = render::resample(&master.signal, CD_RATE_HZ)?;
    if signal.channels.len() == 1 {
        let c = signal.channels[0].clone();
        signal.channels.push(c);
    }
    let frames = signal.frames();
    let fade_in = (t.fade_in_s * f64::from(CD_RATE_HZ)).round() as usize;
    let fade_out = (t.fade_out_s * f64::from(CD_RATE_HZ)).round() as usize;
    if fade_in + fade_out > frames {
        return Err(usage_err(format!(
            "track {n} ({}): fades of {} s + {} s are longer than the track ({:.2} s)",
            t.name,
            t.fade_in_s,
            t.fade_out_s,
            signal.duration_s()
        )));
    }
    for c in &mut signal.channels {
        apply_fades(c, fade_in, fade_out);
    }
    let source = keep_source.then(|| {
        let mut s = master.signal;
        let rate = f64::from(s.rate_hz);
        let (fade_in, fade_out) = (
            (t.fade_in_s * rate).round() as usize,
            (t.fade_out_s * rate).round() as usize,
        );
        for c in &mut s.channels {
            apply_fades(c, fade_in, fade_out);
        }
        s
    });
    Ok(Loaded {
        signal,
        channels,
        source,
        source_rate_hz,
        rendered,
    })
}

/// Raised-cosine fades: a fade-in of `n_in` samples starts at gain 0 on the first sample; a
/// fade-out of `n_out` samples reaches gain 0 on the last sample.
pub fn apply_fades(x: &mut [f64], n_in: usize, n_out: usize) {
    let len = x.len();
    for (i, s) in x.iter_mut().take(n_in).enumerate() {
        *s *= 0.5 - 0.5 * (std::f64::consts::PI * i as f64 / n_in as f64).cos();
    }
    for k in 0..n_out.min(len) {
        // k = 0 is the last sample.
        let g = 0.5 - 0.5 * (std::f64::consts::PI * k as f64 / n_out as f64).cos();
        x[len - 1 - k] *= g;
    }
}

/// What the loudness plan did to one track.
struct Levelled {
    /// Gain applied before the limiter (dB): the plan's, plus what re-limiting took back.
    gain_db: f64,
    relimited: bool,
    /// Loudness the plan asked for (LUFS) and how far the track is from it after limiting.
    wanted_lufs: f64,
    short_lu: f64,
    before: render::Reading,
    after: render::Reading,
}

/// Passes of the gain search when re-limiting takes loudness away.
const LEVEL_PASSES: usize = 8;
/// Loudness the gain search settles for (LU).
const LEVEL_TOLERANCE_LU: f64 = 0.05;
/// Most the search adds on top of the plan's gain (dB).
const LEVEL_EXTRA_MAX_DB: f64 = 12.0;

/// Brings a track to `before + gain_db` LUFS under the ceiling: the gain is applied, and when
/// that takes the track over the ceiling it is re-limited (Lathe's limiter, no drive) and the
/// gain raised by what the limiter took, until the track lands within 0.05 LU of the plan or
/// the search gives up (the shortfall is reported).
fn level(signal: &mut Signal, gain_db: f64, ceiling: f64, before: render::Reading) -> Levelled {
    let wanted = before.loudness.integrated_lufs + gain_db;
    let scaled = |g: f64| Signal {
        rate_hz: signal.rate_hz,
        channels: signal
            .channels
            .iter()
            .map(|c| c.iter().map(|s| s * 10f64.powf(g / 20.0)).collect())
            .collect(),
    };
    let mut g = gain_db;
    let mut out = scaled(g);
    let mut m = render::measure(&out, false);
    // The gain `out` was made with (the search may stop before using its next guess).
    let mut applied = g;
    // A hair under the ceiling counts as over: the dither adds up to 2 LSB.
    let relimited = m.report.true_peak_max_dbtp > ceiling - 0.01;
    if relimited {
        for _ in 0..LEVEL_PASSES {
            let limited = render::limit(&scaled(g), ceiling);
            m = render::measure(&limited, false);
            out = limited;
            applied = g;
            let short = wanted - m.report.loudness.integrated_lufs;
            if short.abs() <= LEVEL_TOLERANCE_LU || g - gain_db >= LEVEL_EXTRA_MAX_DB {
                break;
            }
            g = (g + short).min(gain_db + LEVEL_EXTRA_MAX_DB);
        }
    }
    *signal = out;
    Levelled {
        gain_db: applied,
        relimited,
        wanted_lufs: wanted,
        short_lu: wanted - m.report.loudness.integrated_lufs,
        before,
        after: m.report,
    }
}

/// What `--to` asks for besides the DDP, cd/ and the cue image.
#[derive(Default)]
struct Extras {
    /// `lathe deliver` names for per-track files.
    deliver: Option<String>,
    vinyl: bool,
    cassette: bool,
}

impl Extras {
    fn parse(list: Option<&str>) -> Result<Extras> {
        let mut e = Extras::default();
        let mut deliver = Vec::new();
        for item in list.unwrap_or("").split(',').map(str::trim) {
            match item.to_ascii_lowercase().as_str() {
                "" | "ddp" | "cd" | "cue" => {}
                "vinyl" => e.vinyl = true,
                "cassette" => e.cassette = true,
                _ => deliver.push(item),
            }
        }
        if !deliver.is_empty() {
            let list = deliver.join(",");
            crate::deliver::outputs::parse_list(&list).map_err(|err| {
                usage_err(format!(
                    "--to: {err:#} (lathe album also takes ddp, cd, cue, vinyl, cassette)"
                ))
            })?;
            e.deliver = Some(list);
        }
        Ok(e)
    }

    fn keeps_source(&self) -> bool {
        self.deliver.is_some() || self.vinyl || self.cassette
    }
}

fn run_inner(args: &AlbumArgs) -> Result<()> {
    let extras = Extras::parse(args.to.as_deref())?;
    let (head, plan, tracks) = load(&args.album)?;
    for (wanted, vinyl, name) in [
        (extras.vinyl, true, head.vinyl.as_deref()),
        (extras.cassette, false, head.cassette.as_deref()),
    ] {
        if !wanted {
            continue;
        }
        let name = name.unwrap_or(if vinyl { "12in-33" } else { "C60" });
        if sides::format(name, vinyl).is_none() {
            let list: Vec<&str> = if vinyl {
                sides::VINYL.iter().map(|f| f.name).collect()
            } else {
                sides::CASSETTE.iter().map(|f| f.name).collect()
            };
            return Err(usage_err(format!(
                "{} = {name:?}: expected one of {}",
                if vinyl { "vinyl" } else { "cassette" },
                list.join(", ")
            )));
        }
        if let Some((i, t)) = tracks.iter().enumerate().find(|(_, t)| t.side.is_none()) {
            return Err(usage_err(format!(
                "track {} ({}): no side; --to vinyl/cassette needs side = \"A\", \"B\", … on \
                 every track",
                i + 1,
                t.name
            )));
        }
    }
    // The folder: refused when it holds files unless --overwrite; nothing in it is touched
    // until the new album is verified (an earlier run's files stay when this one is refused),
    // and a folder this run created is removed again when it fails.
    let created = !args.out.exists();
    if args.out.exists() {
        if !args.out.is_dir() {
            return Err(usage_err(format!(
                "{} exists and is not a folder",
                args.out.display()
            )));
        }
        let visible = std::fs::read_dir(&args.out)
            .with_context(|| format!("cannot list {}", args.out.display()))?
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count();
        if visible > 0 && !args.overwrite {
            return Err(usage_err(format!(
                "{} already holds files (use --overwrite to replace them)",
                args.out.display()
            )));
        }
    }
    let scratch = args.out.join(".partial-album");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let guard = Scratch {
        scratch: scratch.clone(),
        created: created.then(|| args.out.clone()),
    };
    let result = build(args, &extras, &head, plan, &tracks, &scratch);
    if result.is_ok() {
        std::mem::forget(guard);
        std::fs::remove_dir_all(&scratch).ok();
    }
    result
}

/// Removes the scratch folder when the run fails, and the output folder if this run made it
/// and it is empty.
struct Scratch {
    scratch: PathBuf,
    created: Option<PathBuf>,
}
impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.scratch).ok();
        if let Some(dir) = &self.created {
            std::fs::remove_dir(dir).ok();
        }
    }
}

fn build(
    args: &AlbumArgs,
    extras: &Extras,
    head: &AlbumHead,
    plan: Plan,
    tracks: &[TrackPlan],
    scratch: &Path,
) -> Result<()> {
    use rayon::prelude::*;
    let loaded: Vec<Result<Loaded>> = tracks
        .par_iter()
        .enumerate()
        .map(|(i, t)| load_track(t, i + 1, scratch, extras.keeps_source()))
        .collect();
    let mut loaded: Vec<Loaded> = loaded.into_iter().collect::<Result<_>>()?;
    let channels: Vec<usize> = loaded.iter().map(|l| l.channels).collect();
    if let Some(i) = channels.iter().position(|&c| c != channels[0]) {
        return Err(usage_err(format!(
            "track {} ({}) has {} channels, track 1 {}: an album's files must agree",
            i + 1,
            tracks[i].name,
            channels[i],
            channels[0]
        )));
    }
    // Red Book placement first: a refused album costs no further work.
    let names: Vec<String> = tracks.iter().map(|t| t.name.clone()).collect();
    let lengths: Vec<usize> = loaded.iter().map(|l| l.signal.frames()).collect();
    let gaps: Vec<f64> = tracks.iter().map(|t| t.gap_s).collect();
    let disc = Disc::place(&lengths, &gaps, &names).map_err(|e| usage_err(format!("{e:#}")))?;

    // Loudness plan.
    let before: Vec<render::Reading> = loaded
        .par_iter()
        .map(|l| render::measure(&l.signal, false).report)
        .collect();
    let album_before = album_loudness(&loaded);
    let gains: Vec<f64> = tracks
        .iter()
        .zip(&before)
        .map(|(t, b)| {
            t.gain_db
                + match plan {
                    Plan::Album => head.target - album_before,
                    Plan::Track => head.target - b.loudness.integrated_lufs,
                    Plan::None => 0.0,
                }
        })
        .collect();
    if let Some(i) = gains.iter().position(|g| !g.is_finite()) {
        return Err(usage_err(format!(
            "track {} ({}) is silent: the loudness plan cannot set its level",
            i + 1,
            tracks[i].name
        )));
    }
    let levelled: Vec<Levelled> = loaded
        .par_iter_mut()
        .zip(before)
        .zip(&gains)
        .map(|((l, b), &g)| level(&mut l.signal, g, head.ceiling, b))
        .collect();
    let album_after = album_loudness(&loaded);

    // The image: silence, then each track's samples at its index 01, dithered once.
    let mut dither = OfflineDither::new(16, 2, false);
    let mut image: Vec<Vec<i32>> = vec![vec![0; disc.image_samples()]; 2];
    for (l, p) in loaded.iter_mut().zip(&disc.tracks) {
        let steps = dither.quantise(&l.signal.channels);
        let at = p.start * FRAME_SAMPLES;
        for (img, s) in image.iter_mut().zip(&steps) {
            img[at..at + s.len()].copy_from_slice(s);
        }
        // The 44.1 kHz track is in the image now: its memory goes.
        l.signal.channels = Vec::new();
    }

    let mut written = Vec::new();
    // CD files.
    let cd_dir = scratch.join("cd");
    std::fs::create_dir_all(&cd_dir)?;
    let mut cd_names = Vec::new();
    for (i, ((t, p), lev)) in tracks.iter().zip(&disc.tracks).zip(&levelled).enumerate() {
        let name = format!("{:02} {}.wav", i + 1, file_safe(&t.name));
        let from = p.start * FRAME_SAMPLES;
        let to = from + p.frames * FRAME_SAMPLES;
        let steps: Vec<Vec<i32>> = image.iter().map(|c| c[from..to].to_vec()).collect();
        let r = &lev.after;
        let bytes = crate::deliver::encode::wav(
            &steps,
            CD_RATE_HZ,
            16,
            &t.meta,
            &crate::deliver::encode::BextLoudness::from(r),
            &format!(
                "A=PCM,F=44100,W=16,M=stereo,T=Lathe {}; TPDF dither\r\n",
                env!("CARGO_PKG_VERSION")
            ),
        )?;
        write_synced(&cd_dir.join(&name), &bytes)?;
        cd_names.push(name);
    }
    written.push("cd/");

    // DDP. CD-TEXT holds ISO 8859-1 here: other characters are written as '?', with a warning.
    let mut warnings: Vec<String> = Vec::new();
    let mut latin1 = |text: &str, what: &str| -> String {
        let t: String = text
            .chars()
            .map(|c| {
                if u32::from(c) <= 0xFF && !c.is_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if t != text {
            warnings.push(format!(
                "CD-TEXT {what} {text:?} is written as {t:?}: CD-TEXT here is ISO 8859-1"
            ));
        }
        t
    };
    let texts = ddp::Texts {
        album_title: latin1(&head.title, "album title"),
        album_performer: latin1(head.artist.as_deref().unwrap_or_default(), "album artist"),
        titles: tracks.iter().map(|t| latin1(&t.name, "title")).collect(),
        performers: tracks
            .iter()
            .map(|t| latin1(t.meta.artist.as_deref().unwrap_or_default(), "artist"))
            .collect(),
    };
    for (i, l) in loaded.iter().enumerate() {
        if l.source_rate_hz != CD_RATE_HZ {
            warnings.push(format!(
                "track {} ({}) is at {} Hz: converted to 44.1 kHz for the CD (lathe deliver's \
                 resampler)",
                i + 1,
                tracks[i].name,
                l.source_rate_hz
            ));
        }
    }
    let isrcs: Vec<Option<String>> = tracks.iter().map(|t| t.meta.isrc.clone()).collect();
    let upc = tracks[0].meta.upc.clone();
    let fileset = ddp::Fileset::build(&disc, &image, &isrcs, upc.as_deref(), &texts)?;
    let ddp_dir = scratch.join("ddp");
    std::fs::create_dir_all(&ddp_dir)?;
    for (name, bytes) in &fileset.files {
        write_synced(&ddp_dir.join(name), bytes)?;
    }
    written.push("ddp/");

    // Cue-sheet image for reference CD-Rs: the image from track 1's index 01 on (a CD-R
    // writer makes the 2 s pause itself), streamed from the image (no copy).
    let first = disc.tracks[0].start * FRAME_SAMPLES;
    write_image_wav(&scratch.join("album.wav"), &image, first)?;
    let cue = cue_sheet(head, tracks, &disc, upc.as_deref());
    write_synced(&scratch.join("album.cue"), cue.as_bytes())?;
    written.push("album.wav");
    written.push("album.cue");

    // Verification: the DDP as `lathe ddp-check` reads it, its audio against the CD files.
    let checked = check::check_dir(&ddp_dir).context("reading the DDP back")?;
    if !checked.errors.is_empty() {
        bail!(
            "the DDP written does not pass its own check: {:?}",
            checked.errors
        );
    }
    let mismatch = check::compare_folder(&checked, &cd_dir)?;
    if !mismatch.is_empty() {
        bail!("CD files differ from the DDP's audio: {mismatch:?}");
    }
    for (i, name) in cd_names.iter().enumerate() {
        let back = render::read_master(&cd_dir.join(name))?;
        let m = render::measure(&back.signal, false);
        let tp = m.report.true_peak_max_dbtp;
        if tp > head.ceiling {
            bail!(
                "track {} ({}): {tp:.2} dBTP over the {:.1} dBTP ceiling after dither",
                i + 1,
                tracks[i].name,
                head.ceiling
            );
        }
    }

    // The CD image is done with: its memory goes before the per-track files and sides.
    drop(checked);
    drop(image);

    // Per-track deliverables: each track at its own rate, faded, with the plan's gain, through
    // `lathe deliver` (its resampler, re-limiting at the output rate, dither, encoders and
    // read-back verification) into tracks/NN Title/.
    let mut entries = vec!["cd", "ddp", "album.wav", "album.cue"];
    if let Some(list) = &extras.deliver {
        let masters = scratch.join("masters");
        std::fs::create_dir_all(&masters)?;
        for (i, ((t, l), lev)) in tracks.iter().zip(&loaded).zip(&levelled).enumerate() {
            let Some(source) = &l.source else { continue };
            let stem = format!("{:02} {}", i + 1, file_safe(&t.name));
            let master = masters.join(format!("{stem}.wav"));
            write_float_wav(&master, source, lev.gain_db)?;
            let m = &t.meta;
            let deliver = crate::deliver::DeliverArgs {
                master: master.clone(),
                out: scratch.join("tracks").join(&stem),
                to: list.clone(),
                meta: None,
                title: m.title.clone(),
                artist: m.artist.clone(),
                album: m.album.clone(),
                isrc: m.isrc.clone(),
                track: m.track.clone(),
                year: m.year.clone(),
                upc: m.upc.clone(),
                composer: m.composer.clone(),
                ceiling: head.ceiling,
                lossy_ceiling: head.ceiling.min(-1.0),
                noise_shaping: false,
                // Mono tracks are delivered as stereo, as on the CD (and measured alike).
                stereo: true,
                force: false,
                overwrite: false,
                no_codec_check: true,
                json: false,
                quiet: true,
            };
            if crate::deliver::run(&deliver) != 0 {
                bail!("track {} ({}): lathe deliver failed (above)", i + 1, t.name);
            }
        }
        std::fs::remove_dir_all(&masters).ok();
        entries.push("tracks");
        written.push("tracks/");
    }

    // Vinyl and cassette sides.
    let mut side_reports = serde_json::Map::new();
    for (wanted, vinyl) in [(extras.vinyl, true), (extras.cassette, false)] {
        if !wanted {
            continue;
        }
        let folder = if vinyl { "vinyl" } else { "cassette" };
        let name = if vinyl {
            head.vinyl.as_deref().unwrap_or("12in-33")
        } else {
            head.cassette.as_deref().unwrap_or("C60")
        };
        let format = sides::format(name, vinyl).context("side format")?;
        let dir = scratch.join(folder);
        std::fs::create_dir_all(&dir)?;
        let rate = loaded[0].source_rate_hz;
        let mut names: Vec<String> = tracks.iter().filter_map(|t| t.side.clone()).collect();
        names.sort();
        names.dedup();
        let mut reports = serde_json::Map::new();
        for side in &names {
            let members: Vec<usize> = (0..tracks.len())
                .filter(|&i| tracks[i].side.as_deref() == Some(side.as_str()))
                .collect();
            // Built one track at a time (each track's copy dropped once it is in the side).
            let mut signal = Signal {
                rate_hz: rate,
                channels: vec![Vec::new(); loaded[members[0]].channels.max(1)],
            };
            let mut starts = Vec::new();
            for (k, &i) in members.iter().enumerate() {
                let source = loaded[i].source.as_ref().context("source kept")?;
                let part = side_track(source, levelled[i].gain_db, head.ceiling, rate)?;
                if k > 0 {
                    let pause = (tracks[i].gap_s * f64::from(rate)).round() as usize;
                    for c in &mut signal.channels {
                        c.extend(std::iter::repeat_n(0.0, pause));
                    }
                }
                starts.push(signal.frames() as f64 / f64::from(rate));
                for (o, c) in signal.channels.iter_mut().zip(&part.channels) {
                    o.extend_from_slice(c);
                }
            }
            let mut report = sides::preflight(&signal, format);
            report["tracks"] =
                json!(members
                .iter()
                .zip(sides::starts(&starts))
                .map(|(&i, at)| json!({"number": i + 1, "title": tracks[i].name, "start": at}))
                .collect::<Vec<_>>());
            let file = format!("Side {side}.wav");
            let r = render::measure(&signal, false).report;
            let steps =
                OfflineDither::new(24, signal.channels.len(), false).quantise(&signal.channels);
            drop(signal);
            let meta = Metadata {
                title: Some(format!("{} – side {side}", head.title)),
                album: Some(head.title.clone()),
                artist: head.artist.clone(),
                year: head.year.clone(),
                ..Metadata::default()
            };
            let bytes = crate::deliver::encode::wav(
                &steps,
                rate,
                24,
                &meta,
                &crate::deliver::encode::BextLoudness::from(&r),
                &format!(
                    "A=PCM,F={rate},W=24,T=Lathe {}; TPDF dither\r\n",
                    env!("CARGO_PKG_VERSION")
                ),
            )?;
            write_synced(&dir.join(&file), &bytes)?;
            report["file"] = json!(format!("{folder}/{file}"));
            reports.insert(side.clone(), report);
        }
        let text = serde_json::to_string_pretty(&reports)?;
        write_synced(&dir.join("preflight.json"), text.as_bytes())?;
        side_reports.insert(folder.to_string(), Value::Object(reports));
        entries.push(folder);
        written.push(if vinyl { "vinyl/" } else { "cassette/" });
    }

    // Into place, then the report last. What an earlier run wrote goes first, including
    // folders this run does not write (another run's --to), so nothing stale sits beside it.
    for old in [
        "report.json",
        "report.html",
        "cd",
        "ddp",
        "tracks",
        "vinyl",
        "cassette",
        "album.wav",
        "album.cue",
    ] {
        let to = args.out.join(old);
        if to.is_dir() {
            std::fs::remove_dir_all(&to).ok();
        } else if to.exists() {
            std::fs::remove_file(&to).ok();
        }
    }
    for entry in entries {
        std::fs::rename(scratch.join(entry), args.out.join(entry))
            .with_context(|| format!("cannot move {entry} into place"))?;
    }
    let report = json!({
        "album": {
            "title": head.title,
            "artist": head.artist,
            "upc": upc,
            "loudness_plan": format!("{plan:?}").to_lowercase(),
            "target_lufs": head.target,
            "ceiling_dbtp": head.ceiling,
            "integrated_lufs_before": num(album_before),
            "integrated_lufs": num(album_after),
            "tracks": tracks.len(),
            "length": layout::msf_text(disc.lead_out),
            "lead_out_frames": disc.lead_out,
            "platforms": platforms(
                album_after,
                levelled
                    .iter()
                    .map(|l| l.after.true_peak_max_dbtp)
                    .fold(f64::NEG_INFINITY, f64::max),
            ),
        },
        "tracks": tracks.iter().zip(&disc.tracks).zip(&levelled).zip(&loaded).zip(&cd_names)
            .enumerate()
            .map(|(i, ((((t, p), lev), l), cd))| {
                let r = &lev.after;
                json!({
                    "number": i + 1,
                    "title": t.name,
                    "artist": t.meta.artist,
                    "isrc": t.meta.isrc_display(),
                    "file": t.path,
                    "rendered_through_lathe_master": l.rendered,
                    "source_rate_hz": l.source_rate_hz,
                    "resampled": l.source_rate_hz != CD_RATE_HZ,
                    "index_00": (p.pause < p.start).then(|| layout::msf_text(p.pause)),
                    "index_01": layout::msf_text(p.start),
                    "start_frames": p.start,
                    "length": layout::msf_text(p.frames),
                    "length_samples": p.samples,
                    "gap_s": (p.start - p.pause) as f64 / layout::FRAMES_PER_SECOND as f64,
                    "gain_db": num(lev.gain_db),
                    "relimited": lev.relimited,
                    "planned_lufs": num(lev.wanted_lufs),
                    "short_of_plan_lu": num(lev.short_lu),
                    "integrated_lufs_before": num(lev.before.loudness.integrated_lufs),
                    "integrated_lufs": num(r.loudness.integrated_lufs),
                    "loudness_range_lu": num(r.loudness.loudness_range_lu),
                    "true_peak_dbtp": num(r.true_peak_max_dbtp),
                    "plr_db": num(r.plr_db),
                    "cd_file": format!("cd/{cd}"),
                })
            })
            .collect::<Vec<Value>>(),
        "written": written,
        "sides": side_reports,
        "warnings": warnings,
    });
    let text = serde_json::to_string_pretty(&report)?;
    write_synced(
        &args.out.join("report.html"),
        report::html(&report).as_bytes(),
    )?;
    write_synced(&args.out.join("report.json"), text.as_bytes())?;
    if args.json {
        println!("{text}");
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Integrated loudness of the tracks played one after another (BS.1770 gating over the whole
/// album).
fn album_loudness(tracks: &[Loaded]) -> f64 {
    let mut meter = lathe_dsp::loudness::LoudnessMeter::new(f64::from(CD_RATE_HZ), 2);
    let block = 4410;
    let mut buf: Vec<Vec<f32>> = vec![Vec::new(), Vec::new()];
    for t in tracks {
        let mut at = 0;
        while at < t.signal.frames() {
            let end = (at + block).min(t.signal.frames());
            for (b, c) in buf.iter_mut().zip(&t.signal.channels) {
                b.clear();
                b.extend(c[at..end].iter().map(|&s| s as f32));
            }
            meter.process(&buf);
            at = end;
        }
    }
    meter.reading().integrated_lufs
}

/// What the platforms' album modes do with the record: the gain each applies (their reference
/// level minus the album's loudness). Spotify turns up only as far as the loudest true peak
/// stays at −1 dBTP; Apple's Sound Check turns up and down; the others only turn down.
fn platforms(album_lufs: f64, true_peak_dbtp: f64) -> Value {
    let gain = |reference: f64, up: bool| {
        let g = reference - album_lufs;
        num(if up { g } else { g.min(0.0) })
    };
    let spotify = (-14.0 - album_lufs).min((-1.0 - true_peak_dbtp).max(0.0));
    json!({
        "spotify_album_normal": num(spotify),
        "apple_music_sound_check": gain(-16.0, true),
        "youtube_music": gain(-14.0, false),
        "tidal_album": gain(-14.0, false),
        "amazon_music": gain(-14.0, false),
        "deezer": gain(-15.0, false),
    })
}

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

/// A title as a file name: no path separators or characters file systems refuse.
fn file_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let s = s.trim().trim_start_matches('.').to_string();
    if s.is_empty() { "Track".into() } else { s }
}

/// A track for a side: at the side's rate, with the plan's gain, re-limited when over the
/// ceiling.
fn side_track(source: &Signal, gain_db: f64, ceiling: f64, rate: u32) -> Result<Signal> {
    let mut s = render::resample(source, rate)?;
    let g = 10f64.powf(gain_db / 20.0);
    for c in &mut s.channels {
        for v in c.iter_mut() {
            *v *= g;
        }
    }
    if render::measure(&s, false).report.true_peak_max_dbtp > ceiling - 0.01 {
        s = render::limit(&s, ceiling);
    }
    Ok(s)
}

/// The CD image from `first` on as a 16-bit stereo WAV, written as it is read.
fn write_image_wav(path: &Path, image: &[Vec<i32>], first: usize) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: CD_RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = hound::WavWriter::new(std::io::BufWriter::new(file), spec)?;
    for (l, r) in image[0][first..].iter().zip(&image[1][first..]) {
        w.write_sample(*l as i16)?;
        w.write_sample(*r as i16)?;
    }
    w.finalize()
        .with_context(|| format!("cannot write {} (disk full?)", path.display()))?;
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", path.display()))
}

/// A signal times `gain_db` as a 32-bit float WAV (a per-track master for `lathe deliver`).
fn write_float_wav(path: &Path, signal: &Signal, gain_db: f64) -> Result<()> {
    let spec = hound::WavSpec {
        channels: signal.channels.len() as u16,
        sample_rate: signal.rate_hz,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let g = 10f64.powf(gain_db / 20.0);
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for i in 0..signal.frames() {
        for c in &signal.channels {
            w.write_sample((c[i] * g) as f32)?;
        }
    }
    w.finalize()
        .with_context(|| format!("cannot write {} (disk full?)", path.display()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {} (disk full?)", path.display()))
}

/// A cue sheet for `album.wav` (CDRWIN syntax, as cdrdao and burning tools read it): times are
/// from the start of the file, which begins at track 1's index 01.
fn cue_sheet(head: &AlbumHead, tracks: &[TrackPlan], disc: &Disc, upc: Option<&str>) -> String {
    let quote = |s: &str| s.replace('"', "'");
    let mut out = String::new();
    if let Some(upc) = upc {
        // CATALOG takes 13 digits: a UPC-A is an EAN-13 with a leading 0.
        out += &format!("CATALOG {upc:0>13}\n");
    }
    if let Some(a) = &head.artist {
        out += &format!("PERFORMER \"{}\"\n", quote(a));
    }
    out += &format!("TITLE \"{}\"\n", quote(&head.title));
    out += "FILE \"album.wav\" WAVE\n";
    let origin = disc.tracks[0].start;
    for (i, (t, p)) in tracks.iter().zip(&disc.tracks).enumerate() {
        out += &format!("  TRACK {:02} AUDIO\n", i + 1);
        out += &format!("    TITLE \"{}\"\n", quote(&t.name));
        if let Some(a) = &t.meta.artist {
            out += &format!("    PERFORMER \"{}\"\n", quote(a));
        }
        if let Some(isrc) = &t.meta.isrc {
            out += &format!("    ISRC {isrc}\n");
        }
        if i == 0 && p.start > layout::MIN_FIRST_PREGAP_FRAMES {
            // A pause before track 1 longer than the 2 s a CD-R writer makes itself.
            out += &format!(
                "    PREGAP {}\n",
                layout::msf_text(p.start - layout::MIN_FIRST_PREGAP_FRAMES)
            );
        }
        if i > 0 && p.pause < p.start {
            out += &format!("    INDEX 00 {}\n", layout::msf_text(p.pause - origin));
        }
        out += &format!("    INDEX 01 {}\n", layout::msf_text(p.start - origin));
    }
    out
}

fn print_report(report: &Value) {
    let a = &report["album"];
    println!(
        "{} – {} tracks, {} (with pauses), album {} LUFS (plan: {}, target {} LUFS)",
        a["title"].as_str().unwrap_or(""),
        a["tracks"],
        a["length"].as_str().unwrap_or(""),
        a["integrated_lufs"],
        a["loudness_plan"].as_str().unwrap_or(""),
        a["target_lufs"]
    );
    println!("  #  start     length    gain    LUFS    LRA    dBTP   ISRC          title");
    for t in report["tracks"].as_array().into_iter().flatten() {
        println!(
            " {:>2}  {}  {}  {:>6}  {:>6}  {:>5}  {:>6}  {:<12}  {}",
            t["number"],
            t["index_01"].as_str().unwrap_or(""),
            t["length"].as_str().unwrap_or(""),
            t["gain_db"],
            t["integrated_lufs"],
            t["loudness_range_lu"],
            t["true_peak_dbtp"],
            t["isrc"].as_str().unwrap_or("-"),
            t["title"].as_str().unwrap_or("")
        );
    }
    for t in report["tracks"].as_array().into_iter().flatten() {
        if t["relimited"].as_bool() == Some(true) {
            println!(
                "  track {}: re-limited to hold the ceiling ({} LU short of the plan)",
                t["number"], t["short_of_plan_lu"]
            );
        }
    }
    for w in report["warnings"].as_array().into_iter().flatten() {
        println!("  warning: {}", w.as_str().unwrap_or(""));
    }
    for (format, sides) in report["sides"].as_object().into_iter().flatten() {
        for (name, side) in sides.as_object().into_iter().flatten() {
            let problems: Vec<&str> = side["problems"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(side["notes"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            println!(
                "  {format} side {name}: {} ({}), {} LUFS, low-end correlation {}: {}",
                side["length"].as_str().unwrap_or(""),
                side["format"].as_str().unwrap_or(""),
                side["integrated_lufs"],
                side["low_end"]["correlation"],
                if problems.is_empty() {
                    "nothing to flag".to_string()
                } else {
                    problems.join("; ")
                }
            );
        }
    }
    let written: Vec<&str> = report["written"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "Written: {}, report.json, report.html (all read back and checked)",
        written.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fades_are_sample_accurate() {
        let mut x = vec![1.0; 100];
        apply_fades(&mut x, 10, 20);
        assert_eq!(x[0], 0.0);
        assert!((x[5] - 0.5).abs() < 1e-12);
        assert_eq!(x[10], 1.0);
        assert_eq!(x[79], 1.0);
        assert!(x[80] < 1.0);
        assert_eq!(x[99], 0.0);
        assert!((x[89] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("a/b: c?"), "a_b_ c_");
        assert_eq!(file_safe("..."), "Track");
    }
}

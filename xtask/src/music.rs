//! Released music for the tests, rebuilt from Debian's package archive (freely licensed, never
//! committed): `cargo xtask music` downloads three data packages with `apt-get download`, unpacks
//! them with `dpkg-deb` and cuts 30 s excerpts with ffmpeg into `target/music/`.
//!
//! | file | genre | source (package, file) | licence |
//! |---|---|---|---|
//! | metal-chaos-god.wav | metal | fretsonfire-songs-muldjord, muldjord/chaos_god song + guitar stems | CC BY-SA 3.0 (Muldjord) |
//! | orchestral-mendelssohn.wav | orchestral | freedink-data, dink/Sound/106.ogg (Mendelssohn, Violin Concerto op. 64, 1st mvt.) | as the package's README-REPLACEMENTS states |
//! | electronic-electricity.wav | electronic | brainparty-data, brainparty/electricity.ogg | CC BY-SA 3.0 |

use crate::{run_cmd, target_dir};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (output name, package, stems inside the package, excerpt start s).
const TRACKS: &[(&str, &str, &[&str], u32)] = &[
    (
        "metal-chaos-god",
        "fretsonfire-songs-muldjord",
        &[
            "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/song.ogg",
            "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/guitar.ogg",
        ],
        60,
    ),
    (
        "orchestral-mendelssohn",
        "freedink-data",
        &["usr/share/games/dink/dink/Sound/106.ogg"],
        30,
    ),
    (
        "electronic-electricity",
        "brainparty-data",
        &["usr/share/games/brainparty/electricity.ogg"],
        20,
    ),
];

/// Excerpt length (s).
const SECONDS: u32 = 30;

/// The QC test set: 45 s excerpts of released music in ten genres (with the three above, cut
/// again at their own length), for the click, clipping, DC, phase and silence detectors.
/// (genre, output name, package, stems, excerpt start s).
///
/// | file | genre | source (package, file) | licence |
/// |---|---|---|---|
/// | qc-rock-war-of-freedom.wav | rock (drums, guitars) | fretsonfire-songs-sectoid, War of freedom song + guitar | per the package's copyright file (distributable, Debian main) |
/// | qc-metal-madness.wav | metal | fretsonfire-songs-sectoid, Metal madness song + guitar | per the package's copyright file (distributable, Debian main) |
/// | qc-ballad-feelings.wav | rock ballad | fretsonfire-songs-sectoid, Feelings song + guitar | per the package's copyright file (distributable, Debian main) |
/// | qc-metal-chaos-god.wav | metal | fretsonfire-songs-muldjord, chaos_god | CC BY-SA 3.0 (Muldjord) |
/// | qc-blues-city-blues.wav | jazz / blues | lincity-ng-data, 02 - Robert van Herk - City Blues.ogg | GPL-2+ (package copyright) |
/// | qc-ambient-contemplations.wav | ambient | lincity-ng-data, 03 - Robert van Herk - Architectural Contemplations.ogg | GPL-2+ |
/// | qc-electronic-lincity.wav | electronic | lincity-ng-data, 01 - pronobozo - lincity.ogg | GPL-2+ |
/// | qc-electronic-electricity.wav | electronic | brainparty-data, electricity.ogg | CC BY-SA 3.0 |
/// | qc-orchestral-mendelssohn.wav | orchestral | freedink-data, 106.ogg | as the package states |
/// | qc-tracker-pingus-1.wav | tracker (Impulse Tracker module) | pingus-data, music/pingus-1.it | GPL-2+ |
/// | qc-cinematic-goin-march.wav | cinematic march (tracker) | pingus-data, music/goin_march.it | GPL-2+ |
/// | qc-pop-frozen-bubble.wav | pop / electronic | frozen-bubble-data, snd/frozen-mainzik-1p.ogg | GPL-2 |
/// | qc-pop-frozen-bubble-intro.wav | pop / electronic | frozen-bubble-data, snd/introzik.ogg | GPL-2 |
/// | qc-tracker-giirm.wav | tracker | pingus-data, music/gd-giirm.s3m | GPL-2+ |
pub const QC_TRACKS: &[(&str, &str, &str, &[&str], u32)] = &[
    (
        "rock",
        "qc-rock-war-of-freedom",
        "fretsonfire-songs-sectoid",
        &[
            "usr/share/games/fretsonfire/data/songs/sectoid/War of freedom/song.ogg",
            "usr/share/games/fretsonfire/data/songs/sectoid/War of freedom/guitar.ogg",
        ],
        40,
    ),
    (
        "metal",
        "qc-metal-madness",
        "fretsonfire-songs-sectoid",
        &[
            "usr/share/games/fretsonfire/data/songs/sectoid/Metal madness/song.ogg",
            "usr/share/games/fretsonfire/data/songs/sectoid/Metal madness/guitar.ogg",
        ],
        20,
    ),
    (
        "rock ballad",
        "qc-ballad-feelings",
        "fretsonfire-songs-sectoid",
        &[
            "usr/share/games/fretsonfire/data/songs/sectoid/Feelings/song.ogg",
            "usr/share/games/fretsonfire/data/songs/sectoid/Feelings/guitar.ogg",
        ],
        30,
    ),
    (
        "metal",
        "qc-metal-chaos-god",
        "fretsonfire-songs-muldjord",
        &[
            "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/song.ogg",
            "usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/guitar.ogg",
        ],
        60,
    ),
    (
        "jazz / blues",
        "qc-blues-city-blues",
        "lincity-ng-data",
        &["usr/share/games/lincity-ng/music/default/02 - Robert van Herk - City Blues.ogg"],
        20,
    ),
    (
        "ambient",
        "qc-ambient-contemplations",
        "lincity-ng-data",
        &[
            "usr/share/games/lincity-ng/music/default/03 - Robert van Herk - Architectural Contemplations.ogg",
        ],
        20,
    ),
    (
        "electronic",
        "qc-electronic-lincity",
        "lincity-ng-data",
        &["usr/share/games/lincity-ng/music/default/01 - pronobozo - lincity.ogg"],
        30,
    ),
    (
        "electronic",
        "qc-electronic-electricity",
        "brainparty-data",
        &["usr/share/games/brainparty/electricity.ogg"],
        20,
    ),
    (
        "orchestral",
        "qc-orchestral-mendelssohn",
        "freedink-data",
        &["usr/share/games/dink/dink/Sound/106.ogg"],
        30,
    ),
    (
        "tracker",
        "qc-tracker-pingus-1",
        "pingus-data",
        &["usr/share/games/pingus/data/music/pingus-1.it"],
        5,
    ),
    (
        "cinematic",
        "qc-cinematic-goin-march",
        "pingus-data",
        &["usr/share/games/pingus/data/music/goin_march.it"],
        5,
    ),
    (
        "pop",
        "qc-pop-frozen-bubble",
        "frozen-bubble-data",
        &["usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg"],
        20,
    ),
    (
        "pop",
        "qc-pop-frozen-bubble-intro",
        "frozen-bubble-data",
        &["usr/share/games/frozen-bubble/snd/introzik.ogg"],
        5,
    ),
    (
        "tracker",
        "qc-tracker-giirm",
        "pingus-data",
        &["usr/share/games/pingus/data/music/gd-giirm.s3m"],
        5,
    ),
];

/// Length of the QC excerpts (s).
pub const QC_SECONDS: u32 = 45;

/// Fetches and cuts the tracks (once; kept under target/music/). Returns their paths.
pub fn fetch() -> Result<Vec<PathBuf>> {
    let list: Vec<(&str, &str, &[&str], u32)> = TRACKS.to_vec();
    fetch_list(&list, SECONDS, false)
}

/// Fetches and cuts the QC test set. Returns (genre, path) pairs.
pub fn fetch_qc() -> Result<Vec<(&'static str, PathBuf)>> {
    let list: Vec<(&str, &str, &[&str], u32)> = QC_TRACKS
        .iter()
        .map(|&(_, name, package, stems, start)| (name, package, stems, start))
        .collect();
    let paths = fetch_list(&list, QC_SECONDS, true)?;
    Ok(QC_TRACKS.iter().map(|t| t.0).zip(paths).collect())
}

/// Passages dense with sharp note and drum onsets, where the click detector once reported
/// 358 clicks in 3 minutes (all onsets, none a click): checked clean by `cargo xtask
/// qc-music`, which fails on any click found there. (output name, package, file, start s);
/// 45 s each.
///
/// | file | genre | source (package, file) | licence |
/// |---|---|---|---|
/// | onsets-wz-original-2.wav | electronic | warzone2100-music, albums/original_soundtrack/track2.opus, from 25 s | GPL-2+ |
/// | onsets-wz-aftermath-24.wav | electronic | warzone2100-music, albums/aftermath_soundtrack/track24.opus, from 170 s | GPL-2+ |
/// | onsets-wz-legacy-9.wav | electronic | warzone2100-music, albums/legacy_soundtrack/track9.opus, from 290 s | GPL-2+ |
/// | onsets-xmoto-foxrun.wav | chiptune | xmoto-data, Textures/Musics/foxrun.ogg, from 0 s | GPL-2+ |
pub const ONSET_TRACKS: &[(&str, &str, &[&str], u32)] = &[
    (
        "onsets-wz-original-2",
        "warzone2100-music",
        &["usr/share/games/warzone2100/music/albums/original_soundtrack/track2.opus"],
        25,
    ),
    (
        "onsets-wz-aftermath-24",
        "warzone2100-music",
        &["usr/share/games/warzone2100/music/albums/aftermath_soundtrack/track24.opus"],
        170,
    ),
    (
        "onsets-wz-legacy-9",
        "warzone2100-music",
        &["usr/share/games/warzone2100/music/albums/legacy_soundtrack/track9.opus"],
        290,
    ),
    (
        "onsets-xmoto-foxrun",
        "xmoto-data",
        &["usr/share/games/xmoto/Textures/Musics/foxrun.ogg"],
        0,
    ),
];

/// Fetches and cuts [`ONSET_TRACKS`]. Returns their paths.
pub fn fetch_onsets() -> Result<Vec<PathBuf>> {
    fetch_list(ONSET_TRACKS, QC_SECONDS, true)
}

/// Music never used to tune the detectors: whole tracks from other packages and genres, for
/// `cargo xtask qc-heldout` (how often the QC detectors report on music they were not tuned
/// on). (genre, output name, package, stems).
///
/// | file | genre | source (package, file) |
/// |---|---|---|
/// | held-metal-*.wav | metal | fretsonfire-songs-muldjord (armygeddon, internal_degeneration, mutilated_mime), fretsonfire-songs-sectoid (Escape from chaosland): song + guitar |
/// | held-orchestral-*.wav | orchestral | wesnoth-1.16-music: legends_of_the_north, siege_of_laurelmor, silvan_sanctuary |
/// | held-*-hedgewars-*.wav | rock, world, pop, jazz | hedgewars-data: Rock, oriental, City, Golf |
/// | held-*-supertux-*.wav | chiptune, orchestral, pop | supertux-data: chipdisko, forest, credits |
/// | held-*-etr-*.wav | electronic | extremetuxracer-data: race1-jt, calmrace-ks |
pub const HELD_OUT: &[(&str, &str, &str, &[&str])] = &[
    (
        "metal",
        "held-metal-armygeddon",
        "fretsonfire-songs-muldjord",
        &[
            "usr/share/games/fretsonfire/data/songs/muldjord/armygeddon/song.ogg",
            "usr/share/games/fretsonfire/data/songs/muldjord/armygeddon/guitar.ogg",
        ],
    ),
    (
        "metal",
        "held-metal-internal-degeneration",
        "fretsonfire-songs-muldjord",
        &[
            "usr/share/games/fretsonfire/data/songs/muldjord/internal_degeneration/song.ogg",
            "usr/share/games/fretsonfire/data/songs/muldjord/internal_degeneration/guitar.ogg",
        ],
    ),
    (
        "metal",
        "held-metal-mutilated-mime",
        "fretsonfire-songs-muldjord",
        &[
            "usr/share/games/fretsonfire/data/songs/muldjord/mutilated_mime/song.ogg",
            "usr/share/games/fretsonfire/data/songs/muldjord/mutilated_mime/guitar.ogg",
        ],
    ),
    (
        "metal",
        "held-metal-escape-from-chaosland",
        "fretsonfire-songs-sectoid",
        &[
            "usr/share/games/fretsonfire/data/songs/sectoid/Escape from chaosland/song.ogg",
            "usr/share/games/fretsonfire/data/songs/sectoid/Escape from chaosland/guitar.ogg",
        ],
    ),
    (
        "orchestral",
        "held-orchestral-legends-of-the-north",
        "wesnoth-1.16-music",
        &["usr/share/games/wesnoth/1.16/data/core/music/legends_of_the_north.ogg"],
    ),
    (
        "orchestral",
        "held-orchestral-siege-of-laurelmor",
        "wesnoth-1.16-music",
        &["usr/share/games/wesnoth/1.16/data/core/music/siege_of_laurelmor.ogg"],
    ),
    (
        "orchestral",
        "held-orchestral-silvan-sanctuary",
        "wesnoth-1.16-music",
        &["usr/share/games/wesnoth/1.16/data/core/music/silvan_sanctuary.ogg"],
    ),
    (
        "rock",
        "held-rock-hedgewars-rock",
        "hedgewars-data",
        &["usr/share/games/hedgewars/Data/Music/Rock.ogg"],
    ),
    (
        "world",
        "held-world-hedgewars-oriental",
        "hedgewars-data",
        &["usr/share/games/hedgewars/Data/Music/oriental.ogg"],
    ),
    (
        "pop",
        "held-pop-hedgewars-city",
        "hedgewars-data",
        &["usr/share/games/hedgewars/Data/Music/City.ogg"],
    ),
    (
        "jazz",
        "held-jazz-hedgewars-golf",
        "hedgewars-data",
        &["usr/share/games/hedgewars/Data/Music/Golf.ogg"],
    ),
    (
        "chiptune",
        "held-chiptune-supertux-chipdisko",
        "supertux-data",
        &["usr/share/games/supertux2/music/antarctic/chipdisko.ogg"],
    ),
    (
        "orchestral",
        "held-orchestral-supertux-forest",
        "supertux-data",
        &["usr/share/games/supertux2/music/forest/forest.ogg"],
    ),
    (
        "pop",
        "held-pop-supertux-credits",
        "supertux-data",
        &["usr/share/games/supertux2/music/misc/credits.ogg"],
    ),
    (
        "electronic",
        "held-electronic-etr-race1",
        "extremetuxracer-data",
        &["usr/share/games/etr/music/race1-jt.ogg"],
    ),
    (
        "electronic",
        "held-electronic-etr-calmrace",
        "extremetuxracer-data",
        &["usr/share/games/etr/music/calmrace-ks.ogg"],
    ),
];

/// Fetches and converts the held-out tracks, whole (up to 10 minutes each). Returns (genre,
/// path) pairs.
pub fn fetch_held_out() -> Result<Vec<(&'static str, PathBuf)>> {
    let list: Vec<(&str, &str, &[&str], u32)> = HELD_OUT
        .iter()
        .map(|&(_, name, package, stems)| (name, package, stems, 0))
        .collect();
    let paths = fetch_list(&list, 600, true)?;
    Ok(HELD_OUT.iter().map(|t| t.0).zip(paths).collect())
}

/// Fetches the packages of `list` and cuts `seconds` of each (once); `float`: 32-bit float
/// WAV with stem mixes 6 dB down, so cutting and mixing add no clipping of their own.
fn fetch_list(
    list: &[(&str, &str, &[&str], u32)],
    seconds: u32,
    float: bool,
) -> Result<Vec<PathBuf>> {
    let dir = target_dir().join("music");
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs)?;
    let mut out = Vec::new();
    for &(name, package, stems, start) in list {
        let wav = dir.join(format!("{name}.wav"));
        out.push(wav.clone());
        if wav.exists() {
            continue;
        }
        let unpacked = unpack(package)?;
        cut(&unpacked, stems, start, seconds, float, &wav)?;
        println!("  {}", wav.display());
    }
    Ok(out)
}

/// Downloads and unpacks `package` under target/music/ (once). Returns the folder.
fn unpack(package: &str) -> Result<PathBuf> {
    let dir = target_dir().join("music");
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs)?;
    let unpacked = dir.join(package);
    if !unpacked.exists() {
        run_cmd(
            Command::new("apt-get")
                .args(["download", package])
                .current_dir(&debs),
        )
        .with_context(|| format!("apt-get download {package} (run apt-get update once)"))?;
        let deb = std::fs::read_dir(&debs)?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")))
            })
            .with_context(|| format!("no .deb for {package}"))?;
        run_cmd(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    }
    Ok(unpacked)
}

/// Whole game soundtracks the click detector was first run on after its shape test was
/// settled (then raised to 0.9 with their findings in view), for `cargo xtask qc-heldout`:
/// (package, folder). Every Ogg or Opus file over 400 kB there (61 files, 5 hours, mostly
/// electronic, some orchestral and chiptune; GPL-2+ but openclonk-data, whose music is
/// under its own free licence – see the package's copyright file).
pub const SOUNDTRACKS: &[(&str, &str)] = &[
    ("warzone2100-music", "usr/share/games/warzone2100/music"),
    ("openclonk-data", "usr/share/games/openclonk/Music.ocg"),
    ("xmoto-data", "usr/share/games/xmoto/Textures/Musics"),
    ("gunroar-data", "usr/share/games/gunroar/sounds/musics"),
    (
        "torus-trooper-data",
        "usr/share/games/torus-trooper/sounds/musics",
    ),
    (
        "tumiki-fighters-data",
        "usr/share/games/tumiki-fighters/sounds",
    ),
    (
        "powermanga-data",
        "usr/share/games/powermanga/sound/handheld_console",
    ),
];

/// The files of [`SOUNDTRACKS`]: (package, path), sorted.
pub fn fetch_soundtracks() -> Result<Vec<(&'static str, PathBuf)>> {
    let mut out = Vec::new();
    for &(package, folder) in SOUNDTRACKS {
        let mut stack = vec![unpack(package)?.join(folder)];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).with_context(|| d.display().to_string())? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                    x.eq_ignore_ascii_case("ogg") || x.eq_ignore_ascii_case("opus")
                }) && std::fs::metadata(&p).map_or(0, |m| m.len()) > 400_000
                {
                    files.push(p);
                }
            }
        }
        files.sort();
        out.extend(files.into_iter().map(|p| (package, p)));
    }
    Ok(out)
}

/// Decodes `path` with ffmpeg to 44.1 kHz stereo 32-bit float, in memory: (rate, channels).
pub fn decode(path: &Path) -> Result<(f64, Vec<Vec<f32>>)> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args([
            "-ar",
            "44100",
            "-ac",
            "2",
            "-f",
            "f32le",
            "-c:a",
            "pcm_f32le",
            "pipe:1",
        ])
        .output()
        .context("ffmpeg (apt-get install ffmpeg)")?;
    anyhow::ensure!(
        out.status.success(),
        "ffmpeg could not decode {}",
        path.display()
    );
    let mut planar: Vec<Vec<f32>> = (0..2)
        .map(|_| Vec::with_capacity(out.stdout.len() / 8))
        .collect();
    for (k, b) in out.stdout.chunks_exact(4).enumerate() {
        planar[k % 2].push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    }
    Ok((44_100.0, planar))
}

/// Mixes the stems (unity gain, or 6 dB down when `float`) and writes `seconds` from `start`
/// as 44.1 kHz 24-bit (or 32-bit float) WAV.
fn cut(
    root: &Path,
    stems: &[&str],
    start: u32,
    seconds: u32,
    float: bool,
    wav: &Path,
) -> Result<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    for stem in stems {
        cmd.args(["-ss", &start.to_string(), "-t", &seconds.to_string(), "-i"])
            .arg(root.join(stem));
    }
    if stems.len() > 1 {
        let down = if float { ",volume=-6dB" } else { "" };
        cmd.args([
            "-filter_complex",
            &format!("amix=inputs={}:normalize=0{down}", stems.len()),
        ]);
    }
    let codec = if float { "pcm_f32le" } else { "pcm_s24le" };
    cmd.args(["-ar", "44100", "-ac", "2", "-c:a", codec])
        .arg(wav);
    run_cmd(&mut cmd).context("ffmpeg (apt-get install ffmpeg)")
}

//! `cargo xtask`: build, bundle, install, demo and test Lathe.
//!
//! ```text
//! cargo xtask bundle-all [--debug] [--alloc-check]   both plugins as CLAP + VST3 in target/bundled
//! cargo xtask install                                 copy the bundles to the per-user plugin folders
//! cargo xtask demo                                    build, install, render the demo song through both plugins
//! cargo xtask test                                    everything CI runs
//! cargo xtask bench                                   speed figures (release build): meter, limiter, full chain, session publish
//! cargo xtask bundle <package> [--release]            nice-plug's own bundler
//! ```

mod album_check;
mod ardour;
mod deliver_check;
mod demo_mix;
mod match_check;
mod music;
mod offline;
mod qc_music;
mod test;
mod validators;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugin packages and the names `bundler.toml` gives them.
pub const PLUGINS: [(&str, &str, &str); 2] = [
    ("lathe-master", "Lathe Master", "audio.lathe.master"),
    ("lathe-meter", "Lathe Meter", "audio.lathe.meter"),
];

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn usage() -> &'static str {
    "usage: cargo xtask <bundle-all [--debug] [--alloc-check] | install | demo | demo-mix OUT | music | qc-music | qc-heldout | test [--only TEXT] | soak [--minutes M] | bench | bench-deliver | bundle <pkg> [--release]>"
}

fn run() -> Result<()> {
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    let mut args = std::env::args().skip(1);
    let command = args.next().context(usage())?;
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "bundle" | "bundle-universal" => {
            nice_plug_xtask::main_with_args("cargo xtask", std::iter::once(command).chain(rest))
        }
        "bundle-all" => {
            let debug = rest.iter().any(|a| a == "--debug");
            let alloc = rest.iter().any(|a| a == "--alloc-check");
            bundle_all(!debug, alloc)
        }
        "install" => install().map(|_| ()),
        "ardour" => ardour::checks(&target_dir().join("bundled")),
        "demo" => demo(),
        "music" => music::fetch().and_then(|_| music::fetch_qc()).map(|_| ()),
        "qc-music" => qc_music::clicks_on_music(),
        "qc-heldout" => qc_music::held_out(),
        "demo-mix" => {
            let out = rest.first().context("demo-mix needs an output path")?;
            write_demo_mix(Path::new(out)).map(|_| ())
        }
        "test" => test::run(&rest),
        "soak" => {
            // cargo xtask soak [--minutes M]: an hour per plugin unless told otherwise.
            let minutes = match rest.iter().position(|a| a == "--minutes") {
                Some(i) => rest
                    .get(i + 1)
                    .context("--minutes needs a number")?
                    .parse()
                    .context("--minutes needs a number")?,
                None => 60.0,
            };
            bundle_all(true, false)?;
            let host = build_clap_host()?;
            let lathe = build_lathe()?;
            test::soak(&host, &target_dir().join("bundled"), &lathe, minutes)
        }
        "bench" => {
            for (package, bench) in [
                ("lathe-dsp", "meter"),
                ("lathe-dsp", "limiter"),
                ("lathe-dsp", "chain"),
                ("lathe-dsp", "automation"),
                ("lathe-session", "publish"),
            ] {
                run_cmd(
                    Command::new(env!("CARGO")).args(["bench", "-p", package, "--bench", bench]),
                )?;
            }
            let lathe = build_lathe()?;
            offline::analyze_bench(&lathe)?;
            deliver_check::deliver_bench(&lathe)
        }
        "bench-deliver" => deliver_check::deliver_bench(&build_lathe()?),
        _ => bail!("{}", usage()),
    }
}

/// The workspace root (this crate lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs a command, failing with its name if it fails.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Builds both plugins and bundles them (CLAP + VST3) into `target/bundled`.
pub fn bundle_all(release: bool, alloc_check: bool) -> Result<()> {
    let mut args: Vec<String> = Vec::new();
    if release {
        args.push("--release".into());
    }
    let mut build = Command::new(env!("CARGO"));
    build.arg("build");
    for (pkg, _, _) in PLUGINS {
        build.args(["-p", pkg]);
    }
    build.args(&args);
    if alloc_check {
        let features: Vec<String> = PLUGINS
            .iter()
            .map(|(p, _, _)| format!("{p}/alloc-check"))
            .collect();
        build.args(["--features", &features.join(",")]);
    }
    run_cmd(&mut build)?;
    for (pkg, _, _) in PLUGINS {
        nice_plug_xtask::bundle(&target_dir(), pkg, &args, false)?;
    }
    Ok(())
}

/// Per-user plugin folders for CLAP and VST3 on this OS.
fn plugin_dirs() -> Result<(PathBuf, PathBuf)> {
    if cfg!(target_os = "windows") {
        let base =
            PathBuf::from(std::env::var_os("LOCALAPPDATA").context("LOCALAPPDATA is not set")?)
                .join("Programs")
                .join("Common");
        Ok((base.join("CLAP"), base.join("VST3")))
    } else {
        let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
        if cfg!(target_os = "macos") {
            let base = home.join("Library/Audio/Plug-Ins");
            Ok((base.join("CLAP"), base.join("VST3")))
        } else {
            Ok((home.join(".clap"), home.join(".vst3")))
        }
    }
}

/// Copies a file or a folder tree, replacing what was there.
fn copy_replace(from: &Path, to: &Path) -> Result<()> {
    if to.is_dir() {
        std::fs::remove_dir_all(to)?;
    } else if to.exists() {
        std::fs::remove_file(to)?;
    }
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_replace(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(from, to)
            .with_context(|| format!("copy {} -> {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Copies the bundles from `target/bundled` to the per-user plugin folders; returns where they went.
pub fn install() -> Result<Vec<PathBuf>> {
    let (clap_dir, vst3_dir) = plugin_dirs()?;
    let bundled = target_dir().join("bundled");
    let mut placed = Vec::new();
    for (_, name, _) in PLUGINS {
        for (ext, dir) in [("clap", &clap_dir), ("vst3", &vst3_dir)] {
            let from = bundled.join(format!("{name}.{ext}"));
            if !from.exists() {
                bail!(
                    "{} is missing: run `cargo xtask bundle-all` first",
                    from.display()
                );
            }
            std::fs::create_dir_all(dir)?;
            let to = dir.join(format!("{name}.{ext}"));
            copy_replace(&from, &to)?;
            println!("installed {}", to.display());
            placed.push(to);
        }
    }
    Ok(placed)
}

/// Path of the CLAP test host binary, built in the dev profile.
pub fn build_clap_host() -> Result<PathBuf> {
    run_cmd(Command::new(env!("CARGO")).args(["build", "-p", "lathe-clap-host"]))?;
    Ok(target_dir()
        .join("debug")
        .join(format!("lathe-clap-host{}", std::env::consts::EXE_SUFFIX)))
}

/// Builds the `lathe` command-line tool (release, as users run it) and returns its path.
pub fn build_lathe() -> Result<PathBuf> {
    run_cmd(Command::new(env!("CARGO")).args(["build", "--release", "-p", "lathe-cli"]))?;
    Ok(target_dir()
        .join("release")
        .join(format!("lathe{}", std::env::consts::EXE_SUFFIX)))
}

fn write_wav(path: &Path, audio: &[Vec<f32>], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: audio.len() as u16,
        sample_rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    let scale = f32::from(1u16 << 15) * 256.0; // 2^23
    for i in 0..audio[0].len() {
        for ch in audio {
            w.write_sample((ch[i] * scale).round().clamp(-scale, scale - 1.0) as i32)?;
        }
    }
    w.finalize()?;
    Ok(())
}

/// Synthesises the demo song from its score into `path` (24-bit WAV).
fn write_demo_mix(path: &Path) -> Result<()> {
    let score_path = workspace_root().join("assets/demo/song.txt");
    let score = std::fs::read_to_string(&score_path)?;
    let mix = demo_mix::render(&score)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_wav(path, &mix, demo_mix::SAMPLE_RATE)?;
    println!(
        "== synthesised {} ({:.1} s, stereo, {} Hz, 24-bit) from {}",
        path.display(),
        mix[0].len() as f64 / f64::from(demo_mix::SAMPLE_RATE),
        demo_mix::SAMPLE_RATE,
        score_path.display()
    );
    Ok(())
}

/// Builds (release), installs, synthesises the demo song and plays it through the built plugins
/// in the project's CLAP host.
fn demo() -> Result<()> {
    println!("== building and bundling (release)");
    bundle_all(true, false)?;
    println!("== installing");
    install()?;
    let out_dir = target_dir().join("demo");
    std::fs::create_dir_all(&out_dir)?;
    let mix_path = out_dir.join("mix.wav");
    write_demo_mix(&mix_path)?;
    let lathe = build_lathe()?;
    let master_path = out_dir.join("mix-mastered-spotify.wav");
    println!("== lathe master --target spotify --bits 24 (the main job, offline)");
    run_cmd(
        Command::new(&lathe)
            .arg("master")
            .arg(&mix_path)
            .arg("-o")
            .arg(&master_path)
            .args(["--target", "spotify", "--bits", "24"]),
    )?;
    let release = out_dir.join("release");
    println!(
        "== lathe deliver --to streaming,cd-files (verified files and report.html in {})",
        release.display()
    );
    run_cmd(
        Command::new(&lathe)
            .arg("deliver")
            .arg(&master_path)
            .arg("-o")
            .arg(&release)
            .args(["--to", "streaming,cd-files", "--overwrite"])
            .args(["--title", "Lathe Demo", "--artist", "The Lathes"])
            .args(["--isrc", "GB-AAA-26-00001"]),
    )?;
    // An album of three mixes cut from the demo song (assets/demo/album.toml).
    let (rate, song) = qc_music::read_wav(&mix_path)?;
    let cut = |from_s: f64, to_s: f64, gain_db: f32| -> Vec<Vec<f32>> {
        let (a, b) = ((from_s * rate) as usize, (to_s * rate) as usize);
        let g = 10f32.powf(gain_db / 20.0);
        song.iter()
            .map(|c| {
                c[a.min(c.len())..b.min(c.len())]
                    .iter()
                    .map(|v| v * g)
                    .collect()
            })
            .collect()
    };
    let len_s = song[0].len() as f64 / rate;
    write_wav(
        &out_dir.join("mix-verse.wav"),
        &cut(0.0, 9.0, 0.0),
        rate as u32,
    )?;
    write_wav(
        &out_dir.join("mix-reprise.wav"),
        &cut(len_s - 9.0, len_s, -4.0),
        rate as u32,
    )?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let album_file = out_dir.join("album.toml");
    std::fs::copy(root.join("assets/demo/album.toml"), &album_file)?;
    let album = out_dir.join("album");
    println!(
        "== lathe album --to streaming,vinyl,cassette (DDP, CD files, cue, per-track files, sides in {})",
        album.display()
    );
    run_cmd(
        Command::new(&lathe)
            .arg("album")
            .arg(&album_file)
            .arg("-o")
            .arg(&album)
            .args(["--to", "streaming,vinyl,cassette", "--overwrite"]),
    )?;
    println!("== lathe ddp-check (the DDP read back, its tracks against cd/)");
    run_cmd(
        Command::new(&lathe)
            .arg("ddp-check")
            .arg(album.join("ddp"))
            .arg("--compare-to")
            .arg(album.join("cd")),
    )?;
    let host = build_clap_host()?;
    let bundled = target_dir().join("bundled");
    let jobs: [(&str, &str, &str, &[&str]); 3] = [
        (
            "Lathe Master",
            "audio.lathe.master",
            "mix-master.wav",
            &["Drive=6", "Ceiling=-1"],
        ),
        (
            "Lathe Master",
            "audio.lathe.master",
            "mix-master-bypass.wav",
            &["Drive=6", "Ceiling=-1", "A/B=Bypass (level-matched)"],
        ),
        ("Lathe Meter", "audio.lathe.meter", "mix-meter.wav", &[]),
    ];
    for (name, id, out_name, sets) in jobs {
        let out = out_dir.join(out_name);
        println!(
            "== {name}.clap: {} -> {}",
            mix_path.display(),
            out.display()
        );
        let mut cmd = Command::new(&host);
        cmd.arg("render")
            .arg(bundled.join(format!("{name}.clap")))
            .args(["--id", id]);
        for s in sets {
            cmd.args(["--set", s]);
        }
        cmd.arg(&mix_path).arg(&out);
        run_cmd(&mut cmd)?;
    }
    println!("== done: listen to {}", out_dir.display());
    Ok(())
}

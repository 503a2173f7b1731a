//! `cargo xtask test`: everything CI runs, in order, with a summary line at the end.
//!
//! Static checks and unit tests first, then the real-host tests on freshly built bundles: the
//! release bundles users get, and debug bundles with nice-plug's `assert_process_allocs`, which
//! abort the host process on any allocation inside `process`. Hosts run as separate processes so
//! such an abort fails that step rather than the test runner.

use crate::{
    PLUGINS, build_clap_host, build_lathe, bundle_all, offline, run_cmd, target_dir, workspace_root,
};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Python packages for the VST3 host tests, pinned so CI does not drift.
const PY_PACKAGES: [&str; 3] = ["pedalboard==0.9.26", "numpy==2.4.6", "mutagen==1.47.0"];

struct Steps {
    passed: Vec<String>,
    failed: Vec<String>,
    /// `cargo xtask test --only TEXT`: run only the steps whose name contains TEXT (the others
    /// count as done: for a developer re-running one step on bundles already built).
    only: Option<String>,
}

impl Steps {
    fn step(&mut self, name: &str, f: impl FnOnce() -> Result<()>) -> bool {
        if let Some(only) = &self.only
            && !name.contains(only.as_str())
        {
            return true;
        }
        println!("\n==== {name}");
        let start = std::time::Instant::now();
        let result = f();
        // The step's wall time, so the whole run can be kept within CI's budget.
        let took = format!("{name} ({:.0} s)", start.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                println!("==== ok: {took}");
                self.passed.push(took);
                true
            }
            Err(e) => {
                println!("==== FAILED: {took}: {e:#}");
                // The reason goes into the summary too: CI logs are often read from the end.
                let reason: String = format!("{e:#}").chars().take(1500).collect();
                self.failed.push(format!("{took}\n          {reason}"));
                false
            }
        }
    }
}

/// Removes a passed step's scratch folder under `target/` (a failed step keeps it to look at):
/// a CI machine's disk is not ours to fill.
fn tidy(name: &str) -> Result<()> {
    let dir = target_dir().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(env!("CARGO"))
}

/// Moves freshly bundled plugins from `target/bundled` to `dest`.
fn move_bundles(dest: &Path) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)?;
    }
    std::fs::create_dir_all(dest)?;
    let bundled = target_dir().join("bundled");
    for (_, name, _) in PLUGINS {
        for ext in ["clap", "vst3"] {
            let file = format!("{name}.{ext}");
            std::fs::rename(bundled.join(&file), dest.join(&file))?;
        }
    }
    Ok(())
}

/// Soaks each plugin in `dir` for `minutes` of programme with random automation in the CLAP
/// host (`lathe-clap-host soak`): finite output, the ceiling, flat memory, and Lathe Meter's
/// integrated loudness against `lathe analyze` on the same audio.
pub fn soak(host: &Path, dir: &Path, lathe: &Path, minutes: f64) -> Result<()> {
    let work = crate::target_dir().join("soak");
    std::fs::create_dir_all(&work)?;
    for (pkg, name, id) in crate::PLUGINS {
        let wav = work.join(format!("{pkg}.wav"));
        let mut cmd = Command::new(host);
        cmd.arg("soak")
            .arg(dir.join(format!("{name}.clap")))
            .arg(&wav)
            .args(["--id", id, "--minutes", &minutes.to_string()])
            .arg("--lathe")
            .arg(lathe);
        if pkg != "lathe-meter" {
            cmd.args(["--max-output-dbfs", "-0.1"]);
        }
        let result = run_cmd(&mut cmd);
        // The programme file is as long as the soak (an hour is 1.4 GB): do not keep it.
        let _ = std::fs::remove_file(&wav);
        result.with_context(|| format!("soak of {name}"))?;
    }
    Ok(())
}

fn clap_checks(host: &Path, dir: &Path) -> Result<()> {
    let mut failed = Vec::new();
    for (pkg, name, id) in PLUGINS {
        let mut cmd = Command::new(host);
        cmd.arg("check")
            .arg(dir.join(format!("{name}.clap")))
            .args(["--id", id]);
        if pkg == "lathe-meter" {
            cmd.arg("--passthrough");
        } else {
            // The output ceiling's range tops out at 0 dBFS: nothing may ever exceed it.
            // The limiter's highest ceiling is -0.1 dBTP, so no sample may pass -0.1 dBFS.
            cmd.args(["--max-output-dbfs", "-0.1"]);
            cmd.args(["--latency-param", "Lookahead=0.5,1.5,5.0"]);
            cmd.args(["--latency-param", "EQ Phase=Minimum phase,Linear phase"]);
        }
        if let Err(e) = run_cmd(&mut cmd) {
            failed.push(format!("{name}: {e:#}"));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// Lathe Master's reference records in the project's CLAP host: a released track as the
/// reference (its loop from the state), another as the music; level match judged by libebur128.
fn reference_checks(host: &Path, dir: &Path) -> Result<()> {
    let tracks = crate::music::fetch()?;
    let pick = |name: &str| {
        tracks
            .iter()
            .find(|t| t.to_string_lossy().contains(name))
            .cloned()
            .with_context(|| format!("no {name} track"))
    };
    run_cmd(
        Command::new(host)
            .arg("reference")
            .arg(dir.join("Lathe Master.clap"))
            .args(["--id", "audio.lathe.master"])
            .arg(pick("metal")?)
            .arg(pick("electronic")?),
    )
}

/// The non-default setting of the committed state fixtures (also in tests/vst3/test_vst3.py).
const FIXTURE_SETS: &[&str] = &[
    "Input Gain=1.5",
    "Low Cut=Subsonic 20 Hz",
    "Bell 2 Gain=-1.5",
    "Bell 3 Placement=Side",
    "Bell 3 Gain=2",
    "Compressor=On",
    "Comp Threshold=-26",
    "Comp Auto Release=On",
    "Width=120",
    "Mono Bass=On",
    "Drive=6",
    "Ceiling=-0.5",
    "Lookahead=3",
    "EQ Phase=Linear phase",
    "Dither=16-bit",
    "Noise Shaping=On",
];

/// Lathe Master's saved states of state version 1 (tests/fixtures/state/*.clap) must load into
/// this build with identical parameters and audio. `LATHE_WRITE_FIXTURES=1` (re)writes them.
fn state_fixtures(host: &Path, dir: &Path) -> Result<()> {
    let fixtures = workspace_root().join("tests/fixtures/state");
    std::fs::create_dir_all(&fixtures)?;
    let clap = dir.join("Lathe Master.clap");
    for (name, sets) in [("defaults", &[][..]), ("custom", FIXTURE_SETS)] {
        let file = fixtures.join(format!("lathe-master-v1-{name}.clap"));
        let mut base = Command::new(host);
        base.arg("state")
            .arg(&clap)
            .args(["--id", "audio.lathe.master"]);
        for s in sets {
            base.args(["--set", s]);
        }
        if std::env::var("LATHE_WRITE_FIXTURES").as_deref() == Ok("1") {
            let mut save = Command::new(host);
            save.args(base.get_args()).arg("--save").arg(&file);
            run_cmd(&mut save)?;
        }
        run_cmd(base.arg("--check").arg(&file))?;
    }
    Ok(())
}

/// A virtualenv under `target/` with pedalboard; created on first use.
pub(crate) fn python_env() -> Result<PathBuf> {
    let venv = target_dir().join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run_cmd(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PY_PACKAGES),
    )?;
    Ok(python)
}

/// A headless X display with a window manager and XSETTINGS, as JUCE's editor windows expect.
struct Display {
    children: Vec<std::process::Child>,
    name: String,
}

impl Display {
    fn start() -> Result<Self> {
        for tool in [
            "Xvfb",
            "openbox",
            "xsettingsd",
            "import",
            "tesseract",
            "xdotool",
        ] {
            if which(tool).is_none() {
                bail!(
                    "{tool} is not installed (Debian: apt-get install xvfb openbox xsettingsd imagemagick tesseract-ocr xdotool)"
                );
            }
        }
        let name = format!(":{}", 90 + std::process::id() % 100);
        let mut children = vec![
            Command::new("Xvfb")
                .args([
                    name.as_str(),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .spawn()?,
        ];
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let settings = target_dir().join("xsettingsd.conf");
        std::fs::write(&settings, "Xft/DPI 98304\n")?;
        children.push(Command::new("openbox").env("DISPLAY", &name).spawn()?);
        children.push(
            Command::new("xsettingsd")
                .arg("-c")
                .arg(&settings)
                .env("DISPLAY", &name)
                .spawn()?,
        );
        std::thread::sleep(std::time::Duration::from_millis(1000));
        Ok(Self { children, name })
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

/// The cross-process session test (`lathe-clap-host session-test`), with the `lathe` binary.
fn session_test(host: &Path, dir: &Path) -> Result<()> {
    // The release build the offline steps already made (a debug build of the CLI alone
    // resolves other features than `cargo test --workspace` and rebuilt half the tree: ~100 s).
    let lathe = crate::build_lathe()?;
    run_cmd(
        Command::new(host)
            .arg("session-test")
            .arg(dir.join("Lathe Meter.clap"))
            .args(["--id", "audio.lathe.meter", "--lathe"])
            .arg(lathe),
    )
}

/// Screenshot of Lathe Meter's Session tab: 128 instances in a CLAP host process plus the
/// pedalboard instance whose editor is open, all in one session group of a private registry.
fn session_screenshot(
    host: &Path,
    python: &Path,
    dir: &Path,
    display: &str,
    png: &Path,
) -> Result<()> {
    use std::io::BufRead;
    let registry = target_dir().join("session-screenshot");
    std::fs::create_dir_all(&registry)?;
    let env = [
        ("LATHE_SESSION_DIR", registry.as_os_str()),
        ("LATHE_SESSION_GROUP", std::ffi::OsStr::new("screenshot")),
    ];
    let mut many = Command::new(host)
        .arg("many")
        .arg(dir.join("Lathe Meter.clap"))
        .args(["--id", "audio.lathe.meter", "--count", "128"])
        .envs(env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = many.stdout.take().context("host stdout")?;
    let ready = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l == "ready");
    let result = if ready {
        run_cmd(
            Command::new(python)
                .arg(workspace_root().join("tests/vst3/session_screenshot.py"))
                .arg(dir.join("Lathe Meter.vst3"))
                .arg(png)
                .arg("Track 001")
                .envs(env)
                .env("DISPLAY", display),
        )
    } else {
        Err(anyhow::anyhow!("the 128-instance host did not get ready"))
    };
    drop(many.stdin.take());
    let _ = many.wait();
    result
}

/// Runs `f`; if it fails, says so and runs it once more.
fn retry_once(mut f: impl FnMut() -> Result<()>) -> Result<()> {
    match f() {
        Ok(()) => Ok(()),
        Err(e) => {
            println!("  (first attempt failed: {e:#}; trying once more)");
            f()
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let only = match args {
        [] => None,
        [flag, text] if flag == "--only" => Some(text.clone()),
        _ => bail!("usage: cargo xtask test [--only TEXT]"),
    };
    let mut steps = Steps {
        passed: Vec::new(),
        failed: Vec::new(),
        only,
    };
    steps.step("cargo fmt --check", || {
        run_cmd(cargo().args(["fmt", "--all", "--check"]))
    });
    steps.step("cargo clippy -D warnings", || {
        run_cmd(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    steps.step("unit tests (cargo test --workspace)", || {
        run_cmd(cargo().args(["test", "--workspace"]))
    });

    let alloc_dir = target_dir().join("bundled-alloc-check");
    let alloc_ok = steps.step("bundle debug plugins with assert_process_allocs", || {
        bundle_all(false, true)?;
        move_bundles(&alloc_dir)
    });
    let release_ok = steps.step("bundle release plugins", || bundle_all(true, false));
    let release_dir = target_dir().join("bundled");

    let host = build_clap_host();
    if release_ok {
        steps.step("CLAP host: release bundles", || {
            clap_checks(
                host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                &release_dir,
            )
        });
    }
    for (ok, dir, label) in [
        (release_ok, &release_dir, "release"),
        (alloc_ok, &alloc_dir, "allocation-checked debug"),
    ] {
        if ok {
            steps.step(&format!("CLAP state fixtures v1: {label} bundles"), || {
                state_fixtures(host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?, dir)
            });
        }
    }
    if alloc_ok {
        steps.step("CLAP host: allocation-checked debug bundles", || {
            clap_checks(
                host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                &alloc_dir,
            )
        });
    }
    for (ok, dir, label) in [
        (release_ok, &release_dir, "release"),
        (alloc_ok, &alloc_dir, "allocation-checked debug"),
    ] {
        if ok {
            steps.step(
                &format!("CLAP host: Lathe Master reference records, {label} bundle"),
                || reference_checks(host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?, dir),
            );
        }
    }

    for (ok, dir, label) in [
        (release_ok, &release_dir, "release"),
        (alloc_ok, &alloc_dir, "allocation-checked debug"),
    ] {
        if ok {
            steps.step(
                &format!(
                    "validators: clap-validator, vst3-validator (default and -e), pluginval 10 with editor: {label} bundles"
                ),
                || {
                    let display = Display::start()?;
                    crate::validators::run_all(dir, &display.name)
                },
            );
        }
    }

    let lathe = build_lathe();
    steps.step("lathe master --target, read back by ffmpeg ebur128", || {
        offline::targets_by_ffmpeg(lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?)
    });
    steps.step(
        "lathe compare on released music (3 genres), offsets read back by ffmpeg",
        || {
            offline::compare_on_music(lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?)?;
            tidy("test-compare")
        },
    );
    steps.step(
        "lathe master --match on released music: ffmpeg's mid/side EQ and width changes matched back, measured by numpy and libebur128",
        || {
            crate::match_check::match_on_music(
                lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                &python_env()?,
            )?;
            tidy("test-match")
        },
    );
    steps.step(
        "lathe master --target on released music, read back by ffmpeg",
        || offline::targets_on_music(lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?),
    );
    steps.step(
        "lathe deliver: every format read back by flac, metaflac, ffprobe, ffmpeg, mp3val, mutagen, libebur128; music, adversarial masters, bad input, kill, full disk",
        || {
            crate::deliver_check::deliver_checks(
                lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                &python_env()?,
            )?;
            tidy("test-deliver")
        },
    );
    steps.step(
        "lathe album: DDP read by an independent reader, cue by cuetools, CD files by ffprobe/ffmpeg/libebur128; broken DDPs and albums refused; kill",
        || {
            crate::album_check::album_checks(
                lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                &python_env()?,
            )?;
            tidy("test-album")
        },
    );
    steps.step(
        "QC on released music (10 genres): clicks found, music left alone, other detectors fire",
        crate::qc_music::clicks_on_music,
    );
    steps.step(
        "lathe master: 60-minute 96 kHz file in bounded memory",
        || offline::hour_long(lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?),
    );
    if release_ok {
        steps.step(
            "offline = real time: lathe master vs Lathe Master.clap, blocks 1/64/512/4096/random",
            || {
                offline::offline_equals_realtime(
                    lathe.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                    host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                    &release_dir,
                )
            },
        );
    }

    let python = python_env();
    let vst3_script = root.join("tests/vst3/test_vst3.py");
    for (ok, dir, label) in [
        (release_ok, &release_dir, "release"),
        (alloc_ok, &alloc_dir, "allocation-checked debug"),
    ] {
        if ok {
            steps.step(&format!("VST3 host (pedalboard): {label} bundles"), || {
                let python = python.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                run_cmd(Command::new(python).arg(&vst3_script).arg(dir))
            });
        }
    }
    if release_ok {
        steps.step("editors open and render text (Xvfb + pedalboard)", || {
            let python = python.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let display = Display::start()?;
            let shots = target_dir().join("screenshots");
            std::fs::create_dir_all(&shots)?;
            for (_, name, _) in PLUGINS {
                let png = shots.join(format!("{}.png", name.replace(' ', "-").to_lowercase()));
                // One retry: a headless window manager occasionally maps the editor late, and
                // the screenshot is then taken of an empty window (seen once in CI).
                retry_once(|| {
                    run_cmd(
                        Command::new(python)
                            .arg(root.join("tests/vst3/editor_screenshot.py"))
                            .arg(release_dir.join(format!("{name}.vst3")))
                            .arg(&png)
                            .arg(name)
                            .args(if name == "Lathe Master" {
                                // The EQ panel opens first: shape it so the curve shows, and
                                // check the module row and the panel rendered.
                                &[
                                    "low_shelf_gain_db=2.5",
                                    "bell_2_gain_db=-3",
                                    "bell_2_q=2",
                                    "high_shelf_gain_db=2",
                                    "bell_3_placement=Side",
                                    "bell_3_gain_db=3",
                                    "eq_low_cut_on=true",
                                    "drive_db=4",
                                    "--expect",
                                    "Compressor",
                                    "--expect",
                                    "Shelf",
                                    "--expect",
                                    "Latency",
                                ][..]
                            } else {
                                // The demo audio's click (31 dB out) is listed at the default
                                // click threshold.
                                &["--expect", "00:02.000"][..]
                            })
                            .env("DISPLAY", &display.name),
                    )
                })
                .with_context(|| format!("{name} editor"))?;
            }
            // Lathe Meter with its click threshold at 40 dB: the same click is not listed.
            retry_once(|| {
                run_cmd(
                    Command::new(python)
                        .arg(root.join("tests/vst3/editor_screenshot.py"))
                        .arg(release_dir.join("Lathe Meter.vst3"))
                        .arg(shots.join("lathe-meter-click-threshold-40.png"))
                        .arg("Lathe Meter")
                        .args(["click_threshold_db=40", "--expect", "nothing"])
                        .env("DISPLAY", &display.name),
                )
            })
            .context("Lathe Meter at a 40 dB click threshold")?;
            // Lathe Master's Reference panel with a released track loaded (resampled from
            // 44.1 to 48 kHz by the loader) and the A/B on Reference.
            let tracks = crate::music::fetch()?;
            let reference = tracks
                .iter()
                .find(|t| t.to_string_lossy().contains("metal"))
                .context("no metal track")?;
            let master_music = tracks
                .iter()
                .find(|t| t.to_string_lossy().contains("electronic"))
                .context("no electronic track")?;
            retry_once(|| {
                run_cmd(
                    Command::new(python)
                        .arg(root.join("tests/vst3/editor_screenshot.py"))
                        .arg(release_dir.join("Lathe Master.vst3"))
                        .arg(shots.join("lathe-master-reference.png"))
                        .arg("Lathe Master")
                        .args(["ref_listen=true", "--expect", "LUFS", "--expect", "loop"])
                        .arg("--audio")
                        .arg(master_music)
                        .env("LATHE_MASTER_REFERENCE_DEMO", reference)
                        .env("DISPLAY", &display.name),
                )
            })
            .context("Lathe Master's Reference panel")?;
            session_screenshot(
                host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                python,
                &release_dir,
                &display.name,
                &shots.join("lathe-meter-session.png"),
            )
        });
    }
    if release_ok {
        steps.step(
            "real DAW: Ardour 7.3 (VST3) saves, reopens and exports at once: latency right at load, audio aligned to the sample",
            || crate::ardour::checks(&release_dir),
        );
    }
    if release_ok {
        steps.step(
            "soak: 2 min of programme with random automation per plugin (CLAP host, release)",
            || {
                let lathe = crate::build_lathe()?;
                soak(
                    host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                    &release_dir,
                    &lathe,
                    2.0,
                )
            },
        );
        steps.step("session registry across host processes (release)", || {
            session_test(
                host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                &release_dir,
            )
        });
    }
    if alloc_ok {
        steps.step(
            "session registry across host processes (allocation-checked debug)",
            || {
                session_test(
                    host.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?,
                    &alloc_dir,
                )
            },
        );
    }

    println!("\n==== summary");
    for s in &steps.passed {
        println!("  ok      {s}");
    }
    for s in &steps.failed {
        println!("  FAILED  {s}");
    }
    println!(
        "{} passed, {} failed",
        steps.passed.len(),
        steps.failed.len()
    );
    if steps.failed.is_empty() {
        Ok(())
    } else {
        bail!("{} step(s) failed", steps.failed.len())
    }
}

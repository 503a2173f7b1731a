//! Session-registry tests with real plugin instances in real host processes.
//!
//! - `realtime`: one instance on a named track, fed a stereo 1 kHz sine in real time (10 ms
//!   blocks paced by the clock); `level DB` on stdin changes the level and answers
//!   `changed <ms>` (the session clock) once the first block at the new level was processed.
//! - `many`: N instances on tracks "Track 001"… with distinct levels, one second of audio each,
//!   then `ready`; they stay registered until stdin closes.
//! - `session-test`: the orchestration – starts the above as separate processes and checks what
//!   `lathe session --json` reports.

use crate::host::{Bundle, Track};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SAMPLE_RATE: f64 = 48_000.0;
/// Real-time block: 10 ms.
const BLOCK: usize = 480;
/// Sine frequency (Hz). A stereo 1 kHz sine with peak level L dBFS reads L LUFS (BS.1770's
/// −0.691 dB offset cancels the K-weighting gain at 1 kHz; EBU Tech 3341 case 1 relies on it).
const TONE_HZ: f64 = 1000.0;
/// Length of the momentary window (ms): after a level change, momentary loudness is fully at
/// the new level this much later.
const MOMENTARY_MS: u64 = 400;
/// How long after the momentary window has filled the registry may lag (ms, from the issue).
const MAX_LAG_MS: u64 = 200;
/// How long after a kill the instance must be gone (ms, from the issue).
const MAX_GONE_MS: u64 = 2000;

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// `realtime`: plays until stdin closes.
pub fn realtime(path: &Path, id: &str, track: &str, level_db: f32) -> Result<()> {
    let bundle = Bundle::load(path)?;
    let mut plugin = bundle.instantiate_on_track(
        id,
        Some(Track {
            name: track.to_owned(),
            rgb: [0x40, 0x80, 0xC0],
        }),
    )?;
    // Level in dB as f32 bits, set by the stdin thread, read by the audio thread.
    let level = Arc::new(AtomicU32::new(level_db.to_bits()));
    // Generation of the level: the audio thread reports each new one once processed.
    let generation = Arc::new(AtomicU32::new(0));
    let (changed_tx, changed_rx) = std::sync::mpsc::channel::<()>();
    let stdin_level = level.clone();
    let stdin_gen = generation.clone();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stdin_done = done.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(db) = line
                .strip_prefix("level ")
                .and_then(|v| v.trim().parse().ok())
            {
                stdin_level.store(f32::to_bits(db), Ordering::Release);
                stdin_gen.fetch_add(1, Ordering::AcqRel);
            }
        }
        stdin_done.store(true, Ordering::Release);
    });
    std::thread::spawn(move || {
        for () in changed_rx {
            println!("changed {}", lathe_session::now_ms());
            let _ = std::io::stdout().flush();
        }
    });
    let start = Instant::now();
    let mut phase = 0.0f64;
    let mut seen_gen = 0;
    let step = std::f64::consts::TAU * TONE_HZ / SAMPLE_RATE;
    let mut announce = false;
    println!("playing");
    std::io::stdout().flush()?;
    plugin.stream(
        SAMPLE_RATE,
        BLOCK as u32,
        2,
        |input, _events, pos| {
            if announce {
                // The previous block, the first at the new level, has been processed.
                let _ = changed_tx.send(());
                announce = false;
            }
            if done.load(Ordering::Acquire) {
                return None;
            }
            // Pace by the clock like an audio interface: block k starts at k × 10 ms.
            let due = Duration::from_secs_f64(pos as f64 / SAMPLE_RATE);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            let g = generation.load(Ordering::Acquire);
            if g != seen_gen {
                seen_gen = g;
                announce = true;
            }
            let gain = db_to_gain(f32::from_bits(level.load(Ordering::Acquire)));
            let (left, right) = input.split_at_mut(1);
            for (l, r) in left[0][..BLOCK].iter_mut().zip(&mut right[0][..BLOCK]) {
                let s = gain * phase.sin() as f32;
                phase = (phase + step) % std::f64::consts::TAU;
                *l = s;
                *r = s;
            }
            Some(BLOCK)
        },
        |_, _, _| {},
    )?;
    Ok(())
}

/// `many`: `count` instances with levels −10, −10.25, … dBFS; waits for stdin to close.
pub fn many(path: &Path, id: &str, count: usize) -> Result<()> {
    let bundle = Bundle::load(path)?;
    let mut plugins = Vec::with_capacity(count);
    let second = SAMPLE_RATE as usize;
    for i in 0..count {
        let mut plugin = bundle.instantiate_on_track(
            id,
            Some(Track {
                name: format!("Track {:03}", i + 1),
                rgb: [(i * 2) as u8, 0x80, 0xFF - (i * 2) as u8],
            }),
        )?;
        let gain = db_to_gain(many_level_db(i));
        let tone: Vec<f32> = (0..second)
            .map(|n| gain * (std::f64::consts::TAU * TONE_HZ * n as f64 / SAMPLE_RATE).sin() as f32)
            .collect();
        plugin.render(SAMPLE_RATE, 512, &[tone.clone(), tone], &[], || 512)?;
        plugins.push(plugin);
    }
    println!("ready");
    std::io::stdout().flush()?;
    // Stay registered until the orchestrator closes stdin.
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink)? > 0 {}
    drop(plugins);
    Ok(())
}

/// Peak level of instance `i` in `many` (dBFS), which is also its loudness (LUFS).
fn many_level_db(i: usize) -> f32 {
    -10.0 - 0.25 * i as f32
}

/// A child host process with a line-reading stdout.
struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Host {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    fn expect_line(&self, prefix: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .with_context(|| format!("waiting for {prefix:?} from host {}", self.child.id()))?;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.trim().to_owned());
            }
        }
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Closes stdin (the host finishes and unloads) and waits for a clean exit.
    fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        ensure!(status.success(), "host exited with {status}");
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `lathe session --json` as parsed JSON objects.
fn session_json(lathe: &Path, env: &[(&str, &str)], extra: &[&str]) -> Result<Vec<Value>> {
    let mut cmd = Command::new(lathe);
    cmd.args(["session", "--json"]).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().context("running lathe session")?;
    ensure!(out.status.success(), "lathe session failed: {:?}", out);
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(v.as_array().context("not a JSON array")?.clone())
}

fn find<'a>(entries: &'a [Value], name: &str) -> Option<&'a Value> {
    entries.iter().find(|e| e["name"] == name)
}

fn momentary(e: &Value) -> f64 {
    e["momentary_lufs"].as_f64().unwrap_or(f64::NEG_INFINITY)
}

/// Polls until `ok` holds for the session table; returns the table and the time it took.
fn wait_for(
    lathe: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
    mut ok: impl FnMut(&[Value]) -> bool,
) -> Result<(Vec<Value>, u64)> {
    let start = lathe_session::now_ms();
    let deadline = Instant::now() + timeout;
    loop {
        let entries = session_json(lathe, env, &[])?;
        if ok(&entries) {
            return Ok((entries, lathe_session::now_ms()));
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {} ms; last table: {}",
                lathe_session::now_ms() - start,
                Value::Array(entries)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `session-test`: the whole cross-process scenario. Prints each check and its figures.
pub fn session_test(plugin: &Path, id: &str, lathe: &Path) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("lathe-session-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let dir_s = dir.to_string_lossy().into_owned();
    let env = [(lathe_session::DIR_ENV, dir_s.as_str())];
    let result = scenario(plugin, id, lathe, &env);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn scenario(plugin: &Path, id: &str, lathe: &Path, env: &[(&str, &str)]) -> Result<()> {
    let plugin_s = plugin.to_string_lossy().into_owned();
    let host_args = |track: &'static str, level: &'static str| {
        vec![
            "realtime".to_owned(),
            plugin_s.clone(),
            "--id".to_owned(),
            id.to_owned(),
            "--track".to_owned(),
            track.to_owned(),
            "--level".to_owned(),
            level.to_owned(),
        ]
    };
    // Two host processes, each with the group it gets by default (its own process).
    let spawn = |args: Vec<String>| -> Result<Host> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Host::spawn(&args, env)
    };
    let mut a = spawn(host_args("Drums", "-20"))?;
    let b = spawn(host_args("Vocals", "-30"))?;
    a.expect_line("playing", Duration::from_secs(20))?;
    b.expect_line("playing", Duration::from_secs(20))?;

    // 1. Both appear, each with its own loudness (after one momentary window of audio).
    let close =
        |e: Option<&Value>, lufs: f64| e.is_some_and(|e| (momentary(e) - lufs).abs() <= 0.1);
    let (table, _) = wait_for(lathe, env, Duration::from_secs(10), |t| {
        close(find(t, "Drums"), -20.0) && close(find(t, "Vocals"), -30.0)
    })?;
    let drums = find(&table, "Drums").context("Drums")?;
    let vocals = find(&table, "Vocals").context("Vocals")?;
    for (e, pid) in [(drums, a.child.id()), (vocals, b.child.id())] {
        ensure!(e["pid"] == pid, "pid of {}: {}", e["name"], e["pid"]);
        let group = e["group"].as_str().unwrap_or("");
        ensure!(
            group.ends_with(&format!("-{pid}")),
            "default group {group:?} does not name host process {pid}"
        );
        ensure!(
            e["receiving_audio"] == true,
            "{} not receiving audio",
            e["name"]
        );
        ensure!(e["color"] == "#4080c0", "track colour {}", e["color"]);
    }
    ensure!(
        drums["group"] != vocals["group"],
        "two host processes share a default group"
    );
    println!(
        "  ok: two host processes listed: Drums {:.2} LUFS (played -20), Vocals {:.2} LUFS (played -30), groups {} / {}",
        momentary(drums),
        momentary(vocals),
        drums["group"],
        vocals["group"]
    );

    // 2. A level change shows within MAX_LAG_MS of the momentary window filling.
    a.send("level -14")?;
    let changed_ms: u64 = a.expect_line("changed", Duration::from_secs(5))?.parse()?;
    let (table, seen_ms) = wait_for(lathe, env, Duration::from_secs(5), |t| {
        close(find(t, "Drums"), -14.0)
    })?;
    let lag = seen_ms.saturating_sub(changed_ms);
    ensure!(
        close(find(&table, "Vocals"), -30.0),
        "the other instance changed too"
    );
    // When the plugin's own reading gets there: momentary loudness is the mean power of the
    // last 400 ms, so it is within 0.1 LU of the new level once the old level's share `f`
    // satisfies (1 − f) + f·r ≥ 10^(−0.01), r = old/new power. "changed" is printed after
    // the first new 10 ms block was processed.
    let ratio = 10f64.powf((-20.0 - -14.0) / 10.0);
    let old_share = (1.0 - 10f64.powf(-0.01)) / (1.0 - ratio);
    let settle_ms = MOMENTARY_MS as f64 * (1.0 - old_share) - BLOCK as f64 / SAMPLE_RATE * 1000.0;
    let added = lag as f64 - settle_ms;
    ensure!(
        added <= MAX_LAG_MS as f64,
        "new level visible {lag} ms after the change; the meter itself had it after {settle_ms:.0} ms, the registry added {added:.0} ms (limit {MAX_LAG_MS})"
    );
    println!(
        "  ok: -20 → -14 dBFS change read as {:.2} LUFS {lag} ms after it was played; the meter's own momentary reading gets there after {settle_ms:.0} ms, so registry + polling added {added:.0} ms (limit {MAX_LAG_MS} ms)",
        momentary(find(&table, "Drums").context("Drums")?),
    );

    // 3. A killed host's instance disappears within MAX_GONE_MS.
    let mut b = b;
    b.child.kill()?;
    let killed_ms = lathe_session::now_ms();
    b.child.wait()?;
    b.stdin = None;
    let (table, gone_ms) = wait_for(lathe, env, Duration::from_secs(5), |t| {
        find(t, "Vocals").is_none()
    })?;
    let gone = gone_ms - killed_ms;
    ensure!(gone <= MAX_GONE_MS, "killed instance listed for {gone} ms");
    ensure!(
        find(&table, "Drums").is_some(),
        "the live instance vanished too"
    );
    println!("  ok: killed host's instance gone after {gone} ms (limit {MAX_GONE_MS} ms)");

    // 4. A host that closes normally takes its instance along at once.
    a.finish()?;
    let (_, _) = wait_for(lathe, env, Duration::from_millis(500), |t| t.is_empty())?;
    println!("  ok: instance of a host that exits is gone at once");

    // 5. 128 instances in one process, all listed with their own readings, names and colours.
    let count = 128;
    let group = [("LATHE_SESSION_GROUP", "many-instances")];
    let many_env: Vec<(&str, &str)> = env.iter().chain(group.iter()).copied().collect();
    let count_s = count.to_string();
    let many = Host::spawn(
        &["many", &plugin_s, "--id", id, "--count", &count_s],
        &many_env,
    )?;
    many.expect_line("ready", Duration::from_secs(300))?;
    let table = session_json(lathe, env, &["--group", "many-instances"])?;
    ensure!(
        table.len() == count,
        "{} of {count} instances listed",
        table.len()
    );
    let mut worst: f64 = 0.0;
    for i in 0..count {
        let name = format!("Track {:03}", i + 1);
        let e = find(&table, &name).with_context(|| format!("{name} missing"))?;
        let expected = f64::from(many_level_db(i));
        let err = (momentary(e) - expected).abs();
        worst = worst.max(err);
        ensure!(
            err <= 0.1,
            "{name}: {} LUFS, played {expected}",
            momentary(e)
        );
        let colour = format!("#{:02x}80{:02x}", (i * 2) as u8, 0xFF - (i * 2) as u8);
        ensure!(
            e["color"] == colour.as_str(),
            "{name} colour {}",
            e["color"]
        );
    }
    many.finish()?;
    let after = session_json(lathe, env, &[])?;
    ensure!(
        after.is_empty(),
        "{} instances left after unloading",
        after.len()
    );
    println!(
        "  ok: {count} instances in one process listed with their own names, colours and loudness (worst error {worst:.3} LU); all gone after unload"
    );
    Ok(())
}

/// The `lathe` binary next to this one (both are built into the same target folder).
pub fn default_lathe() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name(format!("lathe{}", std::env::consts::EXE_SUFFIX))
}

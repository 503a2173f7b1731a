//! A real DAW: Debian's Ardour 7.3, headless through its Lua session tool (`ardour7-lua`) with
//! the "None (Dummy)" audio backend. For each case a session is created with one stereo track
//! holding the built VST3 plugin with the case's settings, saved, closed; a region of test audio
//! (noise with two impulses, float WAV) is put on the track's playlist; the session is reopened
//! and exported at once (32-bit float WAV, no dither). The export must hold the region's audio at
//! its timeline position to the sample: Ardour compensates the latency the plugin reports the
//! moment its state is loaded. Lathe Master at its defaults and at Lookahead 5 ms passes the audio
//! bit for bit (nothing reaches the ceiling); Lathe Meter always does.
//!
//! Ardour keeps its plugin caches, configuration and the plugins themselves under `$HOME`, so the
//! test runs with `HOME=target/ardour-home` and never touches the user's own Ardour.

use crate::{run_cmd, target_dir};
use anyhow::{Context, Result, bail, ensure};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::Command;

const SR: u32 = 48_000;
const FRAMES: usize = 3 * SR as usize;
/// Where the test audio has its impulses (frames).
const IMPULSES: [usize; 2] = [SR as usize, SR as usize * 3 / 2];
/// Ardour's stock "BWAV 32float Export" format (no dither, no normalisation).
const FLOAT_FORMAT_ID: &str = "20b4ab09-6452-4cb3-bd66-b921cdbd2942";
/// Our export preset using it (written into the test home).
const PRESET_ID: &str = "6c1b0a3e-1f0e-4d57-9a86-4c6174686531";

/// One session to build, reopen and export.
struct Case {
    name: &'static str,
    plugin: &'static str,
    /// Parameters set by their Ardour label, to plain values.
    params: &'static [(&'static str, f64)],
    /// Latency the plugin must report after the reopen (samples).
    latency: u32,
    /// The export must equal the source bit for bit (else: aligned to the sample).
    bit_exact: bool,
}

fn home() -> PathBuf {
    target_dir().join("ardour-home")
}

fn ardour_cmd(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("HOME", home())
        .env("VST3_PATH", home().join(".vst3"))
        .env("LD_LIBRARY_PATH", "/usr/lib/ardour7");
    cmd
}

/// Runs a Lua script in `ardour7-lua`, returning its stdout; fails on a Lua error or unless
/// the script printed `DONE` as its last act. Ardour 7.3's Lua tool itself sometimes crashes
/// while tearing down after the script has finished (double free / segfault at exit, ~1 run in
/// 5, measured with no Lathe plugin in the session and none on its plugin path); such an exit
/// after `DONE` is accepted and said.
///
/// It also sometimes dies by a signal *before* `DONE` (heap corruption reported by glibc, or a
/// segfault); measured on 2026-12-07: 2 of 16 runs of the Lathe Meter export script, 1 of 16
/// with the session registry disabled, 0 of 16 for Lathe Master – the cause is not known. Such
/// a run is started again (at most three attempts, each said); a Lua error, a missing `DONE`
/// without a signal, or three crashes in a row still fail.
fn lua(script: &str, name: &str, export_dir: Option<&Path>) -> Result<String> {
    use std::os::unix::process::ExitStatusExt;
    let path = home().join(format!("{name}.lua"));
    std::fs::write(&path, script)?;
    let mut attempt = 1;
    let out = loop {
        if let Some(dir) = export_dir {
            // A crashed export may have left a partial file: each attempt starts empty.
            std::fs::remove_dir_all(dir).ok();
            std::fs::create_dir_all(dir)?;
        }
        let out = ardour_cmd("ardour7-lua")
            .arg(&path)
            .output()
            .context("cannot start ardour7-lua (Debian: apt-get install ardour)")?;
        let done = String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "DONE");
        let crashed = out.status.signal().is_some() || out.status.code() == Some(134);
        if done || !crashed || attempt == 3 {
            break out;
        }
        println!(
            "  ({name}.lua: ardour7-lua died ({}) before finishing; attempt {attempt} of 3, running it again)",
            out.status
        );
        attempt += 1;
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let done = stdout.lines().any(|l| l == "DONE");
    if !done || stdout.contains("Error:") || stderr.contains("Error:") {
        bail!("{name}.lua failed ({}):\n{stdout}\n{stderr}", out.status);
    }
    if !out.status.success() {
        println!(
            "  ({name}.lua finished, then ardour7-lua exited with {} while tearing down)",
            out.status
        );
    }
    Ok(stdout)
}

/// The value after `key ` on the last line that starts with it.
fn reported(stdout: &str, key: &str) -> Result<u32> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {key} in:\n{stdout}"))
}

fn create_script(session: &Path, case: &Case) -> String {
    let mut set = String::new();
    for (label, value) in case.params {
        set.push_str(&format!(
            "    if label == {label:?} then ARDOUR.LuaAPI.set_processor_param(p, i, {value:?}); found = found + 1 end\n"
        ));
    }
    format!(
        r#"AudioEngine:set_backend("None (Dummy)", "", "")
local s = create_session("{dir}", "lathe", {SR})
assert(s, "session not created")
local t = s:new_audio_track(2, 2, nil, 1, "T", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front()
local p = ARDOUR.LuaAPI.new_plugin(s, "{plugin}", ARDOUR.PluginType.VST3, "")
assert(not p:isnil(), "plugin {plugin} not found")
assert(t:add_processor_by_index(p, 0, nil, true) == 0, "plugin not added")
local plug = p:to_insert():plugin(0)
local found = 0
for i = 0, plug:parameter_count() - 1 do
  local label = plug:parameter_label(i)
{set}end
assert(found == {count}, "parameters not found")
ARDOUR.LuaAPI.usleep(300000)
print("LATENCY " .. p:signal_latency())
s:save_state("", false, false, false, false, false)
print("DONE")
close_session()
quit()
"#,
        dir = session.display(),
        plugin = case.plugin,
        count = case.params.len(),
    )
}

fn export_script(session: &Path, out_dir: &Path) -> String {
    format!(
        r#"AudioEngine:set_backend("None (Dummy)", "", "")
local s = load_session("{dir}", "lathe")
assert(s, "session not loaded")
local t = s:route_by_name("T")
print("LATENCY " .. t:nth_plugin(0):signal_latency())
local e = s:simple_export()
e:set_name("export")
assert(e:set_preset("{PRESET_ID}"), "export preset not found")
e:set_folder("{out}")
assert(e:run_export(), "export failed")
print("DONE")
close_session()
quit()
"#,
        dir = session.display(),
        out = out_dir.display(),
    )
}

/// Test audio: low noise with two impulses, per channel (different noise on each).
fn test_audio() -> [Vec<f32>; 2] {
    let mut rng = SmallRng::seed_from_u64(21);
    std::array::from_fn(|_| {
        let mut x: Vec<f32> = (0..FRAMES).map(|_| rng.random_range(-0.05..0.05)).collect();
        for i in IMPULSES {
            x[i] = 0.5;
        }
        x
    })
}

/// Puts the test audio on the track's playlist of the saved session (two mono sources, one
/// stereo region at 0) and sets the session range to its length.
fn add_region(session: &Path, audio: &[Vec<f32>; 2]) -> Result<()> {
    // Ardour names the interchange folder after the session folder.
    let folder = session.file_name().context("session folder")?;
    let files = session.join("interchange").join(folder).join("audiofiles");
    std::fs::create_dir_all(&files)?;
    for (ch, name) in ["imp-L.wav", "imp-R.wav"].iter().enumerate() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SR,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(files.join(name), spec)?;
        for &v in &audio[ch] {
            w.write_sample(v)?;
        }
        w.finalize()?;
    }
    let xml_path = session.join("lathe.ardour");
    let mut xml = std::fs::read_to_string(&xml_path)?;
    let region = format!(
        r#"name="imp" muted="0" opaque="1" locked="0" video-locked="0" automatic="0" whole-file="1" import="0" external="0" sync-marked="0" left-of-split="0" right-of-split="0" hidden="0" position-locked="0" valid-transients="0" start="0" length="{FRAMES}" position="0" sync-position="0" ancestral-start="0" ancestral-length="0" stretch="1" shift="1" layering-index="0" envelope-active="0" default-fade-in="0" default-fade-out="0" fade-in-active="0" fade-out-active="0" scale-amplitude="1" type="audio" first-edit="nothing" source-0="9001" source-1="9002" master-source-0="9001" master-source-1="9002" channels="2""#
    );
    let replace = |xml: &mut String, from: &str, to: &str| -> Result<()> {
        ensure!(xml.contains(from), "session file has no {from}");
        *xml = xml.replacen(from, to, 1);
        Ok(())
    };
    replace(
        &mut xml,
        "<Sources/>",
        r#"<Sources>
    <Source name="imp-L.wav" type="audio" flags="" id="9001" captured-for="" channel="0" origin="" gain="1"/>
    <Source name="imp-R.wav" type="audio" flags="" id="9002" captured-for="" channel="0" origin="" gain="1"/>
  </Sources>"#,
    )?;
    replace(
        &mut xml,
        "<Regions/>",
        &format!("<Regions>\n    <Region id=\"9003\" {region}/>\n  </Regions>"),
    )?;
    replace(
        &mut xml,
        "<Locations/>",
        &format!(
            "<Locations>\n    <Location id=\"9005\" name=\"session\" start=\"0\" end=\"{FRAMES}\" flags=\"IsSessionRange\" locked=\"0\" timestamp=\"0\" cd=\"0\"/>\n  </Locations>"
        ),
    )?;
    // The track's (empty) playlist gets the region.
    let start = xml
        .find("<Playlist ")
        .context("session file has no playlist")?;
    let end = start + xml[start..].find("/>").context("playlist tag")?;
    ensure!(
        xml[start..end].contains("name=\"T\""),
        "the first playlist is not the track's"
    );
    xml.replace_range(
        end..end + 2,
        &format!(">\n      <Region id=\"9004\" {region}/>\n    </Playlist>"),
    );
    std::fs::write(&xml_path, xml)?;
    Ok(())
}

/// The plugins in the test home, scanned by Ardour's VST3 scanner, and the export preset.
fn prepare(dir: &Path) -> Result<()> {
    let home = home();
    if home.exists() {
        std::fs::remove_dir_all(&home)?;
    }
    let vst3 = home.join(".vst3");
    std::fs::create_dir_all(&vst3)?;
    for name in ["Lathe Master", "Lathe Meter"] {
        let bundle = dir.join(format!("{name}.vst3"));
        run_cmd(Command::new("cp").arg("-r").arg(&bundle).arg(&vst3))?;
        // Ardour trusts a scan cache only if it is newer than the module, compared at whole
        // seconds: date the copy a minute back so a scan in the same second counts.
        run_cmd(
            Command::new("find")
                .arg(vst3.join(format!("{name}.vst3")))
                .args(["-exec", "touch", "-d", "1 minute ago", "{}", "+"]),
        )?;
        run_cmd(
            ardour_cmd("/usr/lib/ardour7/ardour-vst3-scanner")
                .arg("-q")
                .arg(vst3.join(format!("{name}.vst3"))),
        )
        .context("Ardour's VST3 scanner")?;
    }
    let presets = home.join(".config/ardour7/export");
    std::fs::create_dir_all(&presets)?;
    std::fs::write(
        presets.join("lathe-float.preset"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ExportPreset id="{PRESET_ID}" name="Lathe float test">
  <ExportFormat id="{FLOAT_FORMAT_ID}"/>
  <ExportFilename>
    <Folder relative="1" path="export"/>
    <Field name="label" enabled="0"/>
    <Field name="session" enabled="0"/>
    <Field name="snapshot" enabled="0"/>
    <Field name="timespan" enabled="1"/>
    <Field name="revision" enabled="0"/>
    <Field name="time" enabled="0" value="T_None"/>
    <Field name="date" enabled="0" value="D_None"/>
  </ExportFilename>
</ExportPreset>
"#
        ),
    )?;
    Ok(())
}

fn run_case(case: &Case, audio: &[Vec<f32>; 2]) -> Result<String> {
    let session = home().join("sessions").join(case.name);
    let out_dir = home().join("export").join(case.name);
    std::fs::create_dir_all(&out_dir)?;
    let created = lua(
        &create_script(&session, case),
        &format!("{}-create", case.name),
        None,
    )?;
    let before = reported(&created, "LATENCY ")?;
    add_region(&session, audio)?;
    let exported = lua(
        &export_script(&session, &out_dir),
        &format!("{}-export", case.name),
        Some(&out_dir),
    )?;
    let after = reported(&exported, "LATENCY ")?;
    let file = std::fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "wav"))
        .context("Ardour wrote no export")?;
    let (rate, out) = crate::qc_music::read_wav(&file)?;
    ensure!(
        rate == f64::from(SR) && out.len() == 2,
        "export is {rate} Hz, {} channels",
        out.len()
    );
    // Where the impulses came out (the audio around them is at most 0.05).
    for (c, ch) in out.iter().enumerate() {
        let found: Vec<usize> = ch
            .iter()
            .enumerate()
            .filter(|(_, v)| v.abs() > 0.3)
            .map(|(i, _)| i)
            .collect();
        ensure!(
            found == IMPULSES,
            "channel {c}: impulses at {found:?}, expected {IMPULSES:?} (latency {after})"
        );
    }
    ensure!(
        after == case.latency,
        "after reopening, Ardour has latency {after} for the plugin, expected {} (it had {before} when saved)",
        case.latency
    );
    let n = out[0].len().min(FRAMES);
    let worst = (0..2)
        .flat_map(|c| (0..n).map(move |i| (c, i)))
        .map(|(c, i)| (out[c][i] - audio[c][i]).abs())
        .fold(0.0f32, f32::max);
    if case.bit_exact {
        ensure!(
            worst == 0.0 && n == FRAMES,
            "export differs from the source by up to {worst} ({n} of {FRAMES} frames)"
        );
    }
    Ok(format!(
        "latency {after} after reopening (saved with {before}), impulses at the sample, {}",
        if case.bit_exact {
            "bit-exact".to_string()
        } else {
            format!("largest difference {worst:.2e}")
        }
    ))
}

/// Every case on the bundles in `dir`.
pub fn checks(dir: &Path) -> Result<()> {
    prepare(dir)?;
    let audio = test_audio();
    let default_latency = lathe_dsp::master::MasterChain::latency_for(
        f64::from(SR),
        &lathe_dsp::master::MasterSettings::default(),
    );
    let lookahead_5 = {
        let mut s = lathe_dsp::master::MasterSettings::default();
        s.limiter.lookahead_ms = 5.0;
        lathe_dsp::master::MasterChain::latency_for(f64::from(SR), &s)
    };
    let linear = {
        let mut s = lathe_dsp::master::MasterSettings::default();
        s.eq.phase = lathe_dsp::eq::Phase::Linear;
        lathe_dsp::master::MasterChain::latency_for(f64::from(SR), &s)
    };
    let cases = [
        Case {
            name: "meter",
            plugin: "Lathe Meter",
            params: &[],
            latency: 0,
            bit_exact: true,
        },
        Case {
            name: "master-defaults",
            plugin: "Lathe Master",
            params: &[],
            latency: default_latency,
            bit_exact: true,
        },
        Case {
            name: "master-lookahead-5ms",
            plugin: "Lathe Master",
            params: &[("Lookahead", 5.0)],
            latency: lookahead_5,
            bit_exact: true,
        },
        Case {
            name: "master-linear-phase",
            plugin: "Lathe Master",
            params: &[("EQ Phase", 1.0)],
            latency: linear,
            bit_exact: false,
        },
    ];
    let mut failed = 0;
    for case in &cases {
        match run_case(case, &audio) {
            Ok(detail) => println!("PASS {}: {detail}", case.name),
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e:#}", case.name);
            }
        }
    }
    ensure!(failed == 0, "{failed} Ardour case(s) failed");
    Ok(())
}

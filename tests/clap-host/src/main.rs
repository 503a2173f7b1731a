//! `lathe-clap-host`: Lathe's CLAP test host.
//!
//! ```text
//! lathe-clap-host check  <plugin.clap> --id <clap id> [--passthrough] [--max-output-dbfs DB]
//!                        [--fuzz-seconds S]  (state-loader fuzzing; default 5)
//!                        [--latency-param "Name=v1,v2,..."]...  (every combination is checked)
//! lathe-clap-host render <plugin.clap> --id <clap id> <in.wav> <out.wav> [--set "Name=text"]...
//!                        [--block N|random] [--seed S]   (host block sizes; default 512)
//! lathe-clap-host state <plugin.clap> --id <clap id> (--save FILE | --check FILE) [--set "Name=text"]...
//!                        save a state with these parameters, or check that a saved one loads
//!                        into a fresh instance with exactly these parameters and the same audio
//! lathe-clap-host soak <plugin.clap> --id <clap id> <programme.wav> [--minutes M] [--max-output-dbfs DB]
//!                        [--lathe <lathe binary>]  (see `soak.rs`)
//! lathe-clap-host session-test <Lathe Meter.clap> --id <clap id> [--lathe <lathe binary>]
//! ```
//! `check` runs the conformance checks and ends with "N passed, M failed" (exit 1 on failure).
//! `render` plays a WAV file through the plugin like a DAW's offline bounce (512-frame blocks,
//! latency compensated) and prints loudness and peaks of input and output as lathe-dsp measures
//! them. `session-test` runs Lathe Meter in several host processes and checks the session
//! registry through `lathe session --json` (see `session.rs`; `realtime` and `many` are its
//! helper modes).

mod checks;
mod host;
mod reference;
mod robust;
mod session;
mod soak;

use anyhow::{Context, Result, bail};
use lathe_dsp::analyzer::{Analyzer, AnalyzerConfig};
use std::path::PathBuf;

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("lathe-clap-host: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<i32> {
    let mut args = std::env::args().skip(1);
    let command = args
        .next()
        .context("usage: lathe-clap-host check|render ...")?;
    let mut positional = Vec::new();
    let mut id = None;
    let mut passthrough = false;
    let mut max_output_dbfs = None;
    let mut latency_params = Vec::new();
    let mut sets = Vec::new();
    let mut track = String::from("Track");
    let mut level_db = -20.0f32;
    let mut count = 128usize;
    let mut lathe = session::default_lathe();
    let mut block = String::from("512");
    let mut save = None;
    let mut check_file = None;
    let mut seed = 1u64;
    let mut fuzz_seconds = 5.0f64;
    let mut minutes = 2.0f64;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--track" => track = args.next().context("--track needs a name")?,
            "--level" => level_db = args.next().context("--level needs dB")?.parse()?,
            "--count" => count = args.next().context("--count needs a number")?.parse()?,
            "--lathe" => lathe = PathBuf::from(args.next().context("--lathe needs a path")?),
            "--id" => id = Some(args.next().context("--id needs a value")?),
            "--passthrough" => passthrough = true,
            "--minutes" => minutes = args.next().context("--minutes needs a number")?.parse()?,
            "--fuzz-seconds" => {
                fuzz_seconds = args
                    .next()
                    .context("--fuzz-seconds needs seconds")?
                    .parse()?
            }
            "--max-output-dbfs" => {
                max_output_dbfs = Some(
                    args.next()
                        .context("--max-output-dbfs needs a value")?
                        .parse()?,
                )
            }
            "--latency-param" => {
                // NAME=V1,V2,...
                let spec = args
                    .next()
                    .context("--latency-param needs NAME=V1,V2,...")?;
                let (name, values) = spec
                    .split_once('=')
                    .context("--latency-param needs NAME=V1,V2,...")?;
                latency_params.push((
                    name.to_owned(),
                    values.split(',').map(str::to_owned).collect(),
                ));
            }
            "--set" => sets.push(args.next().context("--set needs Name=value")?),
            "--block" => block = args.next().context("--block needs N or random")?,
            "--save" => save = Some(args.next().context("--save needs a file")?),
            "--check" => check_file = Some(args.next().context("--check needs a file")?),
            "--seed" => seed = args.next().context("--seed needs a number")?.parse()?,
            _ => positional.push(a),
        }
    }
    let id = id.context("--id is required")?;
    match command.as_str() {
        "check" => {
            let [path] = positional.as_slice() else {
                bail!("check takes one plugin path");
            };
            println!("== CLAP checks: {path}");
            let report = checks::run(
                &PathBuf::from(path),
                &checks::Expect {
                    id,
                    passthrough,
                    max_output_dbfs,
                    latency_params,
                    fuzz: std::time::Duration::from_secs_f64(fuzz_seconds),
                },
            );
            println!("{} passed, {} failed", report.passed, report.failed);
            Ok(if report.failed == 0 { 0 } else { 1 })
        }
        "reference" => {
            let [path, reference, music] = positional.as_slice() else {
                bail!("reference takes <plugin.clap> <reference.wav> <music.wav>");
            };
            println!("== Reference records: {path}");
            reference::run(
                &PathBuf::from(path),
                &id,
                &PathBuf::from(reference),
                &PathBuf::from(music),
            )
        }
        "soak" => {
            let [path, wav] = positional.as_slice() else {
                bail!("soak takes <plugin.clap> <programme.wav to write>");
            };
            soak::soak(
                &PathBuf::from(path),
                &id,
                minutes,
                max_output_dbfs,
                &lathe,
                &PathBuf::from(wav),
            )?;
            Ok(0)
        }
        "render" => {
            let [path, input, output] = positional.as_slice() else {
                bail!("render takes <plugin.clap> <in.wav> <out.wav>");
            };
            let blocks = match block.as_str() {
                "random" => Blocks::Random(seed.max(1)),
                n => Blocks::Fixed(
                    n.parse()
                        .ok()
                        .filter(|&n: &usize| (1..=65_536).contains(&n))
                        .context("--block takes 1…65536 or random")?,
                ),
            };
            render(path, &id, input, output, &sets, blocks)?;
            Ok(0)
        }
        "state" => {
            let [path] = positional.as_slice() else {
                bail!("state takes one plugin path");
            };
            match (save, check_file) {
                (Some(file), None) => save_state(path, &id, &sets, &file)?,
                (None, Some(file)) => check_state(path, &id, &sets, &file)?,
                _ => bail!("state takes --save FILE or --check FILE"),
            }
            Ok(0)
        }
        "realtime" | "many" | "session-test" => {
            let [path] = positional.as_slice() else {
                bail!("{command} takes one plugin path");
            };
            let path = PathBuf::from(path);
            match command.as_str() {
                "realtime" => session::realtime(&path, &id, &track, level_db)?,
                "many" => session::many(&path, &id, count)?,
                _ => {
                    println!(
                        "== session registry across host processes: {}",
                        path.display()
                    );
                    session::session_test(&path, &id, &lathe)?;
                }
            }
            Ok(0)
        }
        other => bail!("unknown command {other:?}"),
    }
}

/// An instance (mono if asked) with `sets` applied by the plugin's own names and texts.
fn instance_with(
    bundle: &host::Bundle,
    id: &str,
    sets: &[String],
    mono: bool,
) -> Result<host::Plugin> {
    let mut plugin = bundle.instantiate(id)?;
    if mono {
        plugin.select_mono()?;
    }
    let params = plugin.params()?;
    let mut values = Vec::new();
    for s in sets {
        let (name, text) = s.split_once('=').context("--set wants Name=value")?;
        let d = params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
            .with_context(|| format!("no parameter named {name:?}"))?;
        values.push((d.id, plugin.text_to_value(d.id, text.trim())?));
    }
    plugin.set_params(&values)?;
    Ok(plugin)
}

/// Two seconds of deterministic stereo programme (noise and tones) at 48 kHz.
fn state_probe() -> Vec<Vec<f32>> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..2)
        .map(|c| {
            (0..96_000)
                .map(|i| {
                    let t = i as f32 / 48_000.0;
                    0.4 * (std::f32::consts::TAU * (110.0 + 55.0 * c as f32) * t).sin()
                        + 0.3 * noise()
                })
                .collect()
        })
        .collect()
}

fn save_state(path: &str, id: &str, sets: &[String], file: &str) -> Result<()> {
    let bundle = host::Bundle::load(&PathBuf::from(path))?;
    let mut plugin = instance_with(&bundle, id, sets, false)?;
    let data = plugin.save_state()?;
    std::fs::write(file, &data).with_context(|| format!("write {file}"))?;
    println!("  saved {} bytes to {file}", data.len());
    Ok(())
}

fn check_state(path: &str, id: &str, sets: &[String], file: &str) -> Result<()> {
    let bundle = host::Bundle::load(&PathBuf::from(path))?;
    let data = std::fs::read(file).with_context(|| format!("read {file}"))?;
    let mut expected = instance_with(&bundle, id, sets, false)?;
    let mut loaded = bundle.instantiate(id)?;
    loaded.load_state(&data)?;
    let params = expected.params()?;
    let mut wrong = Vec::new();
    for d in &params {
        let (want, got) = (expected.get(d.id)?, loaded.get(d.id)?);
        if want != got {
            wrong.push(format!(
                "{}: {} instead of {}",
                d.name,
                loaded.value_to_text(d.id, got)?,
                expected.value_to_text(d.id, want)?
            ));
        }
    }
    if !wrong.is_empty() {
        bail!("{file}: parameters differ: {}", wrong.join("; "));
    }
    let probe = state_probe();
    let (a, _) = expected.render(48_000.0, 512, &probe, &[], || 512)?;
    let (b, _) = loaded.render(48_000.0, 512, &probe, &[], || 512)?;
    if a != b {
        bail!("{file}: the loaded state sounds different");
    }
    println!(
        "  {file}: {} parameters identical, 2 s of audio bit-identical",
        params.len()
    );
    Ok(())
}

/// Reads a WAV as planar f32.
pub(crate) fn read_wav(path: &str) -> Result<(Vec<Vec<f32>>, u32)> {
    let mut reader = hound::WavReader::open(path).with_context(|| format!("open {path}"))?;
    let spec = reader.spec();
    let ch = spec.channels as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let mut planar = vec![Vec::with_capacity(interleaved.len() / ch); ch];
    for frame in interleaved.chunks_exact(ch) {
        for (c, &s) in frame.iter().enumerate() {
            planar[c].push(s);
        }
    }
    Ok((planar, spec.sample_rate))
}

fn describe(label: &str, audio: &[Vec<f32>], sr: u32) -> String {
    let mut analyzer = Analyzer::new(f64::from(sr), audio.len(), AnalyzerConfig::default());
    analyzer.process(audio);
    analyzer.finish();
    let r = analyzer.report();
    format!(
        "{label}: integrated {:.1} LUFS, range {:.1} LU, max short-term {:.1} LUFS, true peak {:+.2} dBTP, sample peak {:+.2} dBFS",
        r.loudness.integrated_lufs,
        r.loudness.loudness_range_lu,
        r.loudness.short_term_max_lufs,
        r.true_peak_max_dbtp,
        r.sample_peak_max_dbfs
    )
}

/// How `render` cuts the file into host blocks.
#[derive(Clone, Copy)]
enum Blocks {
    /// Every block this long.
    Fixed(usize),
    /// Lengths 1…4096 from a xorshift generator with this seed.
    Random(u64),
}

fn render(
    path: &str,
    id: &str,
    input: &str,
    output: &str,
    sets: &[String],
    blocks: Blocks,
) -> Result<()> {
    let (audio, sr) = read_wav(input)?;
    let bundle = host::Bundle::load(&PathBuf::from(path))?;
    let mut plugin = instance_with(&bundle, id, sets, audio.len() == 1)?;
    let params = plugin.params()?;
    for d in &params {
        let v = plugin.get(d.id)?;
        println!("  {} = {}", d.name, plugin.value_to_text(d.id, v)?);
    }
    // Feed the file plus `latency` frames of silence, then drop the first `latency` frames:
    // what a DAW's delay compensation does.
    let mut padded = audio.clone();
    let probe_latency = {
        let (_, l) = plugin.render(
            f64::from(sr),
            512,
            &vec![vec![0.0; 1]; audio.len()],
            &[],
            || 1,
        )?;
        l as usize
    };
    for ch in &mut padded {
        ch.extend(std::iter::repeat_n(0.0, probe_latency));
    }
    let (max_block, mut state) = match blocks {
        Blocks::Fixed(n) => (n, 0u64),
        Blocks::Random(seed) => (4096, seed),
    };
    let next = move || match blocks {
        Blocks::Fixed(n) => n,
        Blocks::Random(_) => {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1 + (state % 4096) as usize
        }
    };
    let (mut out, latency) = plugin.render(f64::from(sr), max_block as u32, &padded, &[], next)?;
    for ch in &mut out {
        ch.drain(..latency as usize);
        ch.truncate(audio[0].len());
    }
    let spec = hound::WavSpec {
        channels: out.len() as u16,
        sample_rate: sr,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer =
        hound::WavWriter::create(output, spec).with_context(|| format!("create {output}"))?;
    for i in 0..out[0].len() {
        for ch in &out {
            writer.write_sample(ch[i])?;
        }
    }
    writer.finalize()?;
    println!("  latency {latency} samples (compensated)");
    println!("  {}", describe("in ", &audio, sr));
    println!("  {}", describe("out", &out, sr));
    let identical = out == audio;
    println!(
        "  output {} the input bit for bit",
        if identical { "equals" } else { "differs from" }
    );
    Ok(())
}

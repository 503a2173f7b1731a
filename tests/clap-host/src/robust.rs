//! What a plugin must survive: bad saved states (refused, all or nothing, fuzzed for a bounded
//! time), hostile audio at every common rate, and hosts that do odd but legal things.

use crate::checks::{Report, all_finite, noise, random_blocks};
use crate::host::{Bundle, ParamChange, ParamDesc, Plugin};
use anyhow::{Context, Result, ensure};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// nice-plug's CLAP state: the JSON's length (u64, little endian), then the JSON.
fn clap_blob(json: &[u8]) -> Vec<u8> {
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend_from_slice(json);
    blob
}

fn blob_of(value: &Value) -> Vec<u8> {
    clap_blob(&serde_json::to_vec(value).expect("a JSON value serialises"))
}

/// Sets every parameter but the bypass to a value off its default (stepped ones to a step),
/// so a load that changes anything shows.
fn customise(p: &mut Plugin, seed: u64) -> Result<Vec<ParamDesc>> {
    let params = p.params()?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let values: Vec<(u32, f64)> = params
        .iter()
        .filter(|d| d.name != "Bypass")
        .map(|d| {
            let v = d.min + (d.max - d.min) * rng.random_range(0.2..0.8);
            let v = if d.stepped { v.round() } else { v };
            (d.id, if v == d.default { d.max } else { v })
        })
        .collect();
    p.set_params(&values)?;
    Ok(params)
}

/// The instance still holds exactly the state `before` and still plays.
fn unchanged(p: &mut Plugin, before: &[u8], what: &str) -> Result<()> {
    ensure!(
        p.save_state()? == before,
        "{what}: the state changed (partly loaded)"
    );
    let mut rng = SmallRng::seed_from_u64(17);
    let input = noise(&mut rng, 2, 4800, 0.5);
    let (out, _) = p.render(48_000.0, 512, &input, &[], || 480)?;
    all_finite(&out).with_context(|| format!("after {what}"))
}

pub fn state_checks(report: &mut Report, fresh: &dyn Fn() -> Result<Plugin>, fuzz: Duration) {
    report.run(
        "state: empty, truncated, corrupt and huge blobs are refused; the instance keeps its settings",
        || {
            let mut p = fresh()?;
            customise(&mut p, 21)?;
            let good = p.save_state()?;
            let json = &good[8..];
            let mut rng = SmallRng::seed_from_u64(22);
            let mut flipped = good.clone();
            for _ in 0..16 {
                let i = rng.random_range(8..flipped.len());
                flipped[i] ^= 1 << rng.random_range(0..7);
            }
            let huge = 64 << 20;
            let mut huge_blob = (huge as u64).to_le_bytes().to_vec();
            huge_blob.extend((0..huge).map(|i| b"{[\"x"[i % 4]));
            let cases: Vec<(&str, Vec<u8>)> = vec![
                ("empty", Vec::new()),
                ("4 bytes", good[..4].to_vec()),
                ("length only", good[..8].to_vec()),
                ("truncated to half", good[..good.len() / 2].to_vec()),
                ("one byte short", good[..good.len() - 1].to_vec()),
                ("length u64::MAX", {
                    let mut b = u64::MAX.to_le_bytes().to_vec();
                    b.extend_from_slice(json);
                    b
                }),
                ("JSON without its length", json.to_vec()),
                ("random bytes", (0..4096).map(|_| rng.random()).collect()),
                ("16 bits flipped", flipped),
                ("JSON array", clap_blob(b"[1, 2, 3]")),
                ("64 MiB of brackets", huge_blob),
            ];
            let mut accepted = Vec::new();
            for (what, blob) in &cases {
                if p.load_state(blob).is_ok() {
                    accepted.push(*what);
                }
                unchanged(&mut p, &good, what)?;
            }
            // Flipped bits inside a number or a string can still leave valid JSON of ours.
            ensure!(
                accepted.iter().all(|w| *w == "16 bits flipped"),
                "accepted: {accepted:?}"
            );
            Ok(format!(
                "{} blobs, {} refused by the load",
                cases.len(),
                cases.len() - accepted.len()
            ))
        },
    );

    report.run(
        "state: foreign, newer, mistyped and out-of-range states load nothing (all or nothing)",
        || {
            let mut p = fresh()?;
            let params = customise(&mut p, 23)?;
            let good = p.save_state()?;
            let own: Value = serde_json::from_slice(&good[8..])?;
            // The parameters' string IDs as the state names them.
            let ids: Vec<String> = own["params"]
                .as_object()
                .context("state has no params object")?
                .keys()
                .cloned()
                .collect();
            let with = |f: &dyn Fn(&mut Value)| {
                let mut v = own.clone();
                f(&mut v);
                blob_of(&v)
            };
            let float_id = ids
                .iter()
                .find(|k| own["params"][k.as_str()].get("f32").is_some())
                .cloned();
            let enum_id = ids
                .iter()
                .find(|k| own["params"][k.as_str()].get("string").is_some())
                .cloned();
            let mut cases: Vec<(String, Vec<u8>)> = vec![
                (
                    "another plugin's parameters".into(),
                    blob_of(&json!({"version": "1.0", "params": {"gain": {"f32": 1.0},
                        "mix": {"f32": 50.0}}, "fields": {}})),
                ),
                (
                    "ours plus an unknown parameter".into(),
                    with(&|v| v["params"]["not_ours"] = json!({"f32": 0.0})),
                ),
                (
                    "ours plus an unknown field".into(),
                    with(&|v| v["fields"]["not-ours"] = json!("\"x\"")),
                ),
                (
                    "a newer layout".into(),
                    with(&|v| v["fields"]["state-version"] = json!("99")),
                ),
                (
                    "no parameters".into(),
                    blob_of(&json!({"version": "1.0", "params": {}, "fields": {}})),
                ),
                (
                    "200 000 unknown parameters".into(),
                    with(&|v| {
                        for i in 0..200_000 {
                            v["params"][format!("p{i}")] = json!({"f32": 0.0});
                        }
                    }),
                ),
            ];
            if let Some(k) = ids.iter().find(|k| k.as_str() != "bypass") {
                cases.push((
                    format!("ours without {k}"),
                    with(&|v| {
                        v["params"].as_object_mut().map(|m| m.remove(k.as_str()));
                    }),
                ));
            }
            if let Some(field) = own["fields"]
                .as_object()
                .and_then(|f| f.keys().next().cloned())
            {
                let current = own["fields"][field.as_str()].as_str().unwrap_or("");
                // A number where text belongs, or text where a number does.
                let wrong = if current.starts_with('"') {
                    "5"
                } else {
                    "\"five\""
                };
                cases.push((
                    format!("field {field} of the wrong type"),
                    with(&|v| v["fields"][field.as_str()] = json!(wrong)),
                ));
            }
            if let Some(k) = &float_id {
                for (what, bad) in [
                    ("a float far out of range", json!({"f32": 1e30})),
                    ("a float as text", json!({"string": "loud"})),
                    ("a float as a bool", json!({"bool": true})),
                ] {
                    cases.push((
                        format!("{what} ({k})"),
                        with(&|v| v["params"][k.as_str()] = bad.clone()),
                    ));
                }
            }
            if let Some(k) = &enum_id {
                cases.push((
                    format!("an unknown enum ID ({k})"),
                    with(&|v| v["params"][k.as_str()] = json!({"string": "no-such-choice"})),
                ));
                cases.push((
                    format!("an enum index out of range ({k})"),
                    with(&|v| v["params"][k.as_str()] = json!({"i32": 9999})),
                ));
            }
            let mut refused_by_load = 0;
            for (what, blob) in &cases {
                if p.load_state(blob).is_err() {
                    refused_by_load += 1;
                }
                unchanged(&mut p, &good, what)?;
            }
            // Positive control: a valid state of ours (a fresh instance's) does load, whole.
            let defaults = fresh()?.save_state()?;
            p.load_state(&defaults)?;
            ensure!(
                p.save_state()? == defaults,
                "a valid state of ours did not load whole"
            );
            // A state from before the host bypass existed loads it at its default (off).
            let bypass = params
                .iter()
                .find(|d| d.bypass)
                .context("no bypass parameter")?;
            p.set_params(&[(bypass.id, 1.0)])?;
            p.load_state(&with(&|v| {
                v["params"].as_object_mut().map(|m| m.remove("bypass"));
            }))?;
            ensure!(
                p.get(bypass.id)? == 0.0,
                "a state without the bypass left it on"
            );
            Ok(format!(
                "{} states, {} refused by the load, the rest loaded nothing; a valid one loads",
                cases.len(),
                refused_by_load
            ))
        },
    );

    report.run(
        &format!(
            "state fuzz ({} s): mutated states never crash, half-load or leave values out of range",
            fuzz.as_secs_f64()
        ),
        || {
            let mut p = fresh()?;
            let params = customise(&mut p, 24)?;
            let good = p.save_state()?;
            let json = good[8..].to_vec();
            let mut rng = SmallRng::seed_from_u64(25);
            let start = Instant::now();
            let (mut cases, mut refused, mut ignored, mut loaded) = (0, 0, 0, 0);
            while start.elapsed() < fuzz {
                let mutated = mutate(&json, &mut rng);
                let blob = if rng.random_range(0..8) == 0 {
                    // A wrong length now and then.
                    let mut b = (rng.random_range(0..json.len() as u64 * 2)).to_le_bytes().to_vec();
                    b.extend_from_slice(&mutated);
                    b
                } else {
                    clap_blob(&mutated)
                };
                cases += 1;
                if p.load_state(&blob).is_err() {
                    refused += 1;
                    ensure!(
                        p.save_state()? == good,
                        "case {cases}: a refused load changed the state"
                    );
                    continue;
                }
                let now = p.save_state()?;
                if now == good {
                    ignored += 1;
                } else {
                    loaded += 1;
                    for d in &params {
                        let v = p.get(d.id)?;
                        ensure!(
                            v.is_finite() && v >= d.min && v <= d.max,
                            "case {cases}: {} = {v} after a loaded state",
                            d.name
                        );
                    }
                    // Whatever loaded saves and reloads to the same values (-0 and 0 alike).
                    let mut q = fresh()?;
                    q.load_state(&now)?;
                    for d in &params {
                        let (v, w) = (p.get(d.id)?, q.get(d.id)?);
                        ensure!(v == w, "case {cases}: {} = {v}, reloaded {w}", d.name);
                    }
                }
                if cases % 64 == 0 {
                    let input = noise(&mut rng, 2, 2400, 0.5);
                    let (out, _) = p.render(48_000.0, 512, &input, &[], || 240)?;
                    all_finite(&out).with_context(|| format!("after fuzz case {cases}"))?;
                }
                // Start each case from the same settings.
                if now != good {
                    p.load_state(&good)?;
                }
            }
            ensure!(cases > 100, "only {cases} cases in {fuzz:?}");
            Ok(format!(
                "{cases} cases: {refused} refused by the load, {ignored} loaded nothing, {loaded} loaded whole"
            ))
        },
    );
}

/// One to four random edits of a state's JSON: bit flips, deleted or repeated spans, numbers
/// and strings replaced by hostile ones, truncation.
fn mutate(json: &[u8], rng: &mut SmallRng) -> Vec<u8> {
    const HOSTILE: [&str; 12] = [
        "1e39",
        "-1e39",
        "NaN",
        "-0",
        "1e-45",
        "99999999999999999999",
        "\"\"",
        "null",
        "[]",
        "{}",
        "true",
        "\"\\u0000\"",
    ];
    let mut out = json.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if out.is_empty() {
            break;
        }
        let i = rng.random_range(0..out.len());
        match rng.random_range(0..6) {
            0 => out[i] ^= 1 << rng.random_range(0..8),
            1 => {
                let end = (i + rng.random_range(1..32)).min(out.len());
                out.drain(i..end);
            }
            2 => {
                let end = (i + rng.random_range(1..32)).min(out.len());
                let span = out[i..end].to_vec();
                out.splice(i..i, span);
            }
            3 | 4 => {
                // Replace the value after the next ':' with a hostile one.
                if let Some(colon) = out[i..].iter().position(|&b| b == b':') {
                    let from = i + colon + 1;
                    let to = out[from..]
                        .iter()
                        .position(|&b| b == b',' || b == b'}')
                        .map_or(out.len(), |e| from + e);
                    let with = HOSTILE[rng.random_range(0..HOSTILE.len())];
                    out.splice(from..to, with.bytes());
                }
            }
            _ => out.truncate(i),
        }
    }
    out
}

/// Hostile audio at 44.1, 48, 96 and 192 kHz. Bad values (NaN, ±Inf, denormals, mixed with
/// good samples) must act as silence: the output equals a fresh instance's for the same input
/// with those samples zeroed, so every filter is back within one block of them stopping. Hostile
/// but valid signals (full-scale squares, DC, ±1 at Nyquist, silence/full-scale jumps, samples of
/// 1e30) give finite output under `max_output_dbfs`, and the level-dependent stages release back
/// to a fresh instance's level. A meter passes everything through bit for bit.
pub fn hostile_audio(
    report: &mut Report,
    fresh: &dyn Fn() -> Result<Plugin>,
    passthrough: bool,
    max_output_dbfs: Option<f32>,
) {
    for sr in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        report.run(
            &format!("hostile audio at {sr} Hz: NaN/Inf/denormals act as silence (exact), full-scale abuse stays finite and under the ceiling"),
            || {
                let sri = sr as usize;
                let seg = sri / 4;
                let block = 512;
                let mut rng = SmallRng::seed_from_u64(sr as u64);
                // Stretches of 0.25 s, each a kind of abuse (the channels differ), then 3 s
                // of programme-like noise to recover on.
                // (3 s: the compressor's automatic release slows to 1.2 s after deep compression.)
                let stretch = |kinds: &[u32], rng: &mut SmallRng| {
                    let mut input: Vec<Vec<f32>> = (0..2).map(|_| Vec::with_capacity(seg * kinds.len() + sri * 3)).collect();
                    for &kind in kinds {
                        for i in 0..seg {
                            for (c, ch) in input.iter_mut().enumerate() {
                                let alt = if (i + c) % 2 == 0 { 1.0 } else { -1.0 };
                                let good = rng.random_range(-0.5..0.5f32);
                                ch.push(match kind {
                                    0 => f32::NAN,
                                    1 => [f32::INFINITY, f32::NEG_INFINITY][(i + c) % 2],
                                    2 => [f32::NAN, good, f32::INFINITY, good][(i + c) % 4],
                                    3 => 1e-40 * alt,
                                    4 => [f32::MIN_POSITIVE / 3.0, good][(i + c) % 2],
                                    5 => {
                                        if (i / (sri / 200)).is_multiple_of(2) { 1.0 } else { -1.0 }
                                    }
                                    6 => 1.0 - 2.0 * c as f32,
                                    7 => alt,
                                    8 => {
                                        if (i / (sri / 100)).is_multiple_of(2) { 0.0 } else { alt }
                                    }
                                    _ => rng.random_range(-1.0..1.0f32) * 1e30,
                                });
                            }
                        }
                    }
                    let bad = input[0].len();
                    let tail = noise(rng, 2, sri * 3, 0.3);
                    for (ch, t) in input.iter_mut().zip(&tail) {
                        ch.extend_from_slice(t);
                    }
                    (input, bad)
                };
                let (values, _) = stretch(&[0, 1, 2, 3, 4], &mut rng);
                let (abuse, abuse_end) = stretch(&[5, 6, 7, 8, 9], &mut rng);
                let mut p = fresh()?;
                let (out_values, latency) = p.render(sr, 4096, &values, &[], || block)?;
                let (out_abuse, _) = p.render(sr, 4096, &abuse, &[], || block)?;
                if passthrough {
                    // A meter passes even garbage through untouched; it must just survive it.
                    for (out, input) in [(&out_values, &values), (&out_abuse, &abuse)] {
                        ensure!(
                            out.iter()
                                .flatten()
                                .zip(input.iter().flatten())
                                .all(|(a, b)| a.to_bits() == b.to_bits()),
                            "a meter changed the audio"
                        );
                    }
                    return Ok("bit-exact pass-through, NaN and Inf included".into());
                }
                all_finite(&out_values)?;
                all_finite(&out_abuse)?;
                let mut detail = format!("latency {latency}");
                if let Some(limit) = max_output_dbfs {
                    let peak = crate::checks::peak_dbfs(&out_abuse)
                        .max(crate::checks::peak_dbfs(&out_values));
                    ensure!(peak <= limit + 1e-4, "output peak {peak} dBFS above {limit}");
                    detail += &format!("; peak {peak:.2} dBFS");
                }

                // Bad values act as silence: compare with the input those samples zeroed.
                let zeroed: Vec<Vec<f32>> = values
                    .iter()
                    .map(|ch| {
                        ch.iter()
                            .map(|&x| if x.is_finite() && x.abs() >= f32::MIN_POSITIVE { x } else { 0.0 })
                            .collect()
                    })
                    .collect();
                let (reference, _) = fresh()?.render(sr, 4096, &zeroed, &[], || block)?;
                let worst = out_values
                    .iter()
                    .flatten()
                    .zip(reference.iter().flatten())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                ensure!(
                    worst <= 1e-6,
                    "after NaN/Inf/denormals the output differs from silence's by up to {worst:e}"
                );
                detail += &format!("; bad values vs zeroed: max difference {worst:e}");

                // Full-scale abuse: the audio after it comes back to a fresh instance's level
                // once the dynamics have released (the last 0.5 s of 3 s).
                let mut clean = abuse.clone();
                for ch in &mut clean {
                    ch[..abuse_end].fill(0.0);
                }
                let (fresh_out, _) = fresh()?.render(sr, 4096, &clean, &[], || block)?;
                let to = abuse[0].len();
                let from = to - sri / 2;
                let energy = |o: &[Vec<f32>]| -> f64 {
                    o.iter()
                        .flat_map(|ch| &ch[from..to])
                        .map(|&s| f64::from(s) * f64::from(s))
                        .sum()
                };
                let level_db = 10.0 * (energy(&out_abuse) / energy(&fresh_out)).log10();
                ensure!(
                    level_db.abs() < 1.0,
                    "2.5 s after full-scale abuse the output is {level_db:.2} dB off a fresh instance"
                );
                Ok(detail + &format!("; 2.5 s after full-scale abuse: {level_db:+.2} dB vs fresh"))
            },
        );
    }
}

/// Hosts doing odd but legal things: blocks of 1…65536 frames changing every call (and empty
/// ones), rate and maximum block size changing between activations, parameter events at every
/// sample, 32 instances processing in parallel, and 1000 activate/deactivate cycles with flat
/// memory.
pub fn host_behaviour(report: &mut Report, bundle: &Bundle, id: &str, passthrough: bool) {
    let fresh = || bundle.instantiate(id);
    report.run(
        "blocks of 0…65536 frames changing every call give the same audio as 512-frame blocks",
        || {
            let mut rng = SmallRng::seed_from_u64(31);
            let input = noise(&mut rng, 2, 400_000, 0.4);
            let mut a = fresh()?;
            let (fixed, _) = a.render(48_000.0, 65_536, &input, &[], || 512)?;
            let mut b = fresh()?;
            let mut sizes = SmallRng::seed_from_u64(32);
            let (varied, _) = b.render(48_000.0, 65_536, &input, &[], move || {
                match sizes.random_range(0..10) {
                    0 => 0,
                    1 => 1,
                    2 => 65_536,
                    3 => sizes.random_range(2..64),
                    _ => sizes.random_range(1..=65_536),
                }
            })?;
            all_finite(&varied)?;
            ensure!(varied == fixed, "output depends on the host's block sizes");
            Ok("bit-identical".into())
        },
    );

    report.run(
        "rate and maximum block size change between activations",
        || {
            let mut p = fresh()?;
            let mut rng = SmallRng::seed_from_u64(33);
            let mut detail = Vec::new();
            for (sr, max) in [
                (44_100.0, 64u32),
                (192_000.0, 65_536),
                (8_000.0, 1),
                (384_000.0, 4096),
                (48_000.0, 512),
            ] {
                let input = noise(&mut rng, 2, (sr / 4.0) as usize, 0.4);
                let (out, latency) = p.render(sr, max, &input, &[], || max as usize)?;
                all_finite(&out)?;
                if passthrough {
                    ensure!(out == input, "pass-through broke at {sr} Hz");
                }
                // Same audio as a fresh instance activated at this rate first.
                let mut q = fresh()?;
                let (first, _) = q.render(sr, max, &input, &[], || max as usize)?;
                ensure!(
                    out == first,
                    "at {sr} Hz the output depends on earlier activations"
                );
                detail.push(format!("{}k/{max}: {latency}", sr / 1000.0));
            }
            Ok(format!("rate/max block: latency {}", detail.join(", ")))
        },
    );

    report.run(
        "reset at any time and transport jumps: after a reset the output is a fresh instance's",
        || {
            let mut rng = SmallRng::seed_from_u64(37);
            let frames = 96_000;
            let input = noise(&mut rng, 2, frames, 0.4);
            let mut p = fresh()?;
            // Host blocks of 480 frames; the resets fall at block starts.
            p.resets = (0..6)
                .map(|_| 480 * rng.random_range(1..(frames as u64 - 24_000) / 480))
                .collect();
            p.resets.sort_unstable();
            p.transport_jumps = Some(38);
            let (out, _) = p.render(48_000.0, 1024, &input, &[], || 480)?;
            if passthrough {
                ensure!(out == input, "pass-through broke under resets and transport jumps");
            } else {
                all_finite(&out)?;
            }
            // From the last reset on (it lands at the start of a block), the audio is what a
            // fresh instance gives for the rest of the input.
            let from = *p.resets.last().context("resets")? as usize;
            let tail: Vec<Vec<f32>> = input.iter().map(|ch| ch[from..].to_vec()).collect();
            let (fresh_out, _) = fresh()?.render(48_000.0, 1024, &tail, &[], || 512)?;
            let worst = out
                .iter()
                .zip(&fresh_out)
                .flat_map(|(a, b)| a[from..].iter().zip(b))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            ensure!(worst == 0.0, "after the reset at frame {from} the output differs from a fresh instance's by up to {worst:e}");
            Ok(format!("6 resets, transport jumping and stopping; after the last (frame {from}) bit-identical to a fresh instance"))
        },
    );

    report.run("a parameter event at every sample", || {
        let mut p = fresh()?;
        let params = p.params()?;
        let frames = 48_000;
        let mut rng = SmallRng::seed_from_u64(34);
        let input = noise(&mut rng, 2, frames, 0.4);
        let mut changes = Vec::with_capacity(frames);
        for frame in 0..frames as u64 {
            let d = &params[frame as usize % params.len()];
            let v = d.min + (d.max - d.min) * rng.random_range(0.0..1.0);
            changes.push(ParamChange {
                frame,
                id: d.id,
                value: if d.stepped { v.round() } else { v },
            });
        }
        let (out, _) = p.render(48_000.0, 1024, &input, &changes, || 256)?;
        all_finite(&out)?;
        Ok(format!("{} events", changes.len()))
    });

    report.run(
        "32 instances processing in parallel threads give each the audio one alone gives",
        || {
            let mut rng = SmallRng::seed_from_u64(35);
            let inputs: Vec<Vec<Vec<f32>>> =
                (0..32).map(|_| noise(&mut rng, 2, 24_000, 0.4)).collect();
            // Each thread is its instance's main thread and runs its own audio thread.
            let outs: Vec<Result<Vec<Vec<f32>>>> = std::thread::scope(|s| {
                let handles: Vec<_> = inputs
                    .iter()
                    .enumerate()
                    .map(|(k, input)| {
                        s.spawn(move || {
                            let mut p = bundle.instantiate(id)?;
                            p.render(48_000.0, 1024, input, &[], random_blocks(k as u64))
                                .map(|(o, _)| o)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("instance thread panicked"))
                    .collect()
            });
            for (k, (out, input)) in outs.into_iter().zip(&inputs).enumerate() {
                let out = out?;
                let mut alone = fresh()?;
                let (solo, _) = alone.render(48_000.0, 1024, input, &[], || 512)?;
                ensure!(
                    out == solo,
                    "instance {k} differs from the same audio alone"
                );
            }
            Ok(String::new())
        },
    );

    report.run("1000 activate/deactivate cycles: memory stays flat", || {
        let mut p = fresh()?;
        let mut rng = SmallRng::seed_from_u64(36);
        let input = noise(&mut rng, 2, 256, 0.4);
        let mut rss = Vec::new();
        for cycle in 0..1000 {
            let sr = [44_100.0, 48_000.0][cycle % 2];
            let (out, _) = p.render(sr, 256, &input, &[], || 128)?;
            if cycle % 200 == 0 {
                all_finite(&out)?;
            }
            if cycle == 100 || cycle == 999 {
                rss.push(resident_kib()?);
            }
        }
        let growth = rss[1] as i64 - rss[0] as i64;
        ensure!(
            growth < 4096,
            "resident memory grew by {growth} KiB over 900 cycles"
        );
        Ok(format!(
            "resident {} KiB after 100 cycles, {} KiB after 1000",
            rss[0], rss[1]
        ))
    });
}

/// The process's resident memory (Linux `/proc/self/statm`).
pub fn resident_kib() -> Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm.split_whitespace().nth(1).context("statm")?.parse()?;
    Ok(pages * 4)
}

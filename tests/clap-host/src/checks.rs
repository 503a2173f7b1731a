//! The conformance checks run against one built `.clap`.

use crate::host::{Bundle, ParamChange};
use anyhow::{Context, Result, bail, ensure};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// What the caller expects of the plugin under test.
pub struct Expect {
    /// The CLAP ID the plugin must have (IDs never change once released).
    pub id: String,
    /// Output must equal input bit for bit (a meter).
    pub passthrough: bool,
    /// Output samples may never exceed this level (dBFS), whatever the parameters.
    pub max_output_dbfs: Option<f32>,
    /// Parameters that change the latency, each with values to try (as text); every
    /// combination is checked.
    pub latency_params: Vec<(String, Vec<String>)>,
    /// How long to fuzz the state loader.
    pub fuzz: std::time::Duration,
}

/// Collects named results and prints them as they come.
#[derive(Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
}

impl Report {
    pub(crate) fn run(&mut self, name: &str, f: impl FnOnce() -> Result<String>) {
        match f() {
            Ok(detail) => {
                self.passed += 1;
                println!(
                    "PASS {name}{}{detail}",
                    if detail.is_empty() { "" } else { ": " }
                );
            }
            Err(e) => {
                self.failed += 1;
                println!("FAIL {name}: {e:#}");
            }
        }
    }
}

pub(crate) fn noise(rng: &mut SmallRng, channels: usize, frames: usize, amp: f32) -> Vec<Vec<f32>> {
    (0..channels)
        .map(|_| (0..frames).map(|_| rng.random_range(-amp..amp)).collect())
        .collect()
}

/// Block sizes a DAW might use, plus the odd ones: 1..=4096 at random, with 0-length blocks.
pub(crate) fn random_blocks(seed: u64) -> impl FnMut() -> usize + Send {
    let mut rng = SmallRng::seed_from_u64(seed);
    move || match rng.random_range(0..100) {
        0..5 => 0,
        5..10 => 1,
        _ => rng.random_range(1..=4096),
    }
}

pub(crate) fn all_finite(out: &[Vec<f32>]) -> Result<()> {
    for (c, ch) in out.iter().enumerate() {
        if let Some(i) = ch.iter().position(|s| !s.is_finite()) {
            bail!("non-finite output at channel {c} frame {i}: {}", ch[i]);
        }
    }
    Ok(())
}

pub(crate) fn peak_dbfs(out: &[Vec<f32>]) -> f32 {
    let p = out.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
    20.0 * p.max(1e-12).log10()
}

pub fn run(path: &Path, expect: &Expect) -> Report {
    let mut report = Report::default();
    let bundle = match Bundle::load(path) {
        Ok(b) => b,
        Err(e) => {
            report.failed += 1;
            println!("FAIL load {}: {e:#}", path.display());
            return report;
        }
    };
    let id = expect.id.clone();

    report.run("descriptor", || {
        ensure!(
            bundle.descriptors.len() == 1,
            "expected one plugin, found {}",
            bundle.descriptors.len()
        );
        let d = &bundle.descriptors[0];
        ensure!(d.id == id, "CLAP id {:?}, expected {:?}", d.id, id);
        ensure!(
            !d.name.is_empty() && !d.vendor.is_empty(),
            "name/vendor empty"
        );
        ensure!(
            !d.version.is_empty() && !d.url.is_empty(),
            "version/url empty"
        );
        ensure!(
            d.features.iter().any(|f| f == "audio-effect"),
            "features {:?}",
            d.features
        );
        Ok(format!(
            "{} by {} v{} [{}]",
            d.name,
            d.vendor,
            d.version,
            d.features.join(", ")
        ))
    });

    let fresh = || bundle.instantiate(&id);

    report.run("audio ports: stereo default and a mono layout", || {
        let mut p = fresh()?;
        let (i, o) = p.main_channels()?;
        ensure!((i, o) == (2, 2), "default main ports {i} in / {o} out");
        let configs = p.port_configs()?;
        ensure!(
            configs.iter().any(|c| (c.1, c.2) == (1, 1)),
            "no mono config in {configs:?}"
        );
        ensure!(
            configs.iter().any(|c| (c.1, c.2) == (2, 2)),
            "no stereo config in {configs:?}"
        );
        Ok(format!("configs {configs:?}"))
    });

    report.run(
        "parameters: listed, defaults in range, value<->text round trip",
        || {
            let mut p = fresh()?;
            let params = p.params()?;
            let mut lines = Vec::new();
            for d in &params {
                ensure!(!d.name.is_empty(), "param {} has no name", d.id);
                ensure!(d.min < d.max, "{}: min {} !< max {}", d.name, d.min, d.max);
                ensure!(
                    (d.min..=d.max).contains(&d.default),
                    "{}: default out of range",
                    d.name
                );
                let v = p.get(d.id)?;
                ensure!(
                    (v - d.default).abs() < 1e-9,
                    "{}: fresh value {v} != default {}",
                    d.name,
                    d.default
                );
                for k in 0..=8 {
                    let mut value = d.min + (d.max - d.min) * f64::from(k) / 8.0;
                    if d.stepped {
                        value = value.round();
                    }
                    let text = p.value_to_text(d.id, value)?;
                    let back = p.text_to_value(d.id, &text)?;
                    ensure!(
                        (back - value).abs() <= 0.01 * (d.max - d.min),
                        "{}: {value} -> {text:?} -> {back}",
                        d.name
                    );
                    let again = p.value_to_text(d.id, back)?;
                    ensure!(again == text, "{}: {text:?} -> {back} -> {again:?}", d.name);
                }
                lines.push(format!(
                    "{} ({}: {}..{})",
                    d.name,
                    d.id,
                    p.value_to_text(d.id, d.min)?,
                    p.value_to_text(d.id, d.max)?
                ));
            }
            Ok(format!("{} params: {}", params.len(), lines.join("; ")))
        },
    );

    for sr in [44_100.0, 48_000.0, 96_000.0] {
        report.run(
            &format!("process at {sr} Hz: random blocks 0..4096, every param swept"),
            || {
                let mut p = fresh()?;
                let params = p.params()?;
                let frames = (sr * 3.0) as usize;
                let mut rng = SmallRng::seed_from_u64(sr as u64);
                let input = noise(&mut rng, 2, frames, 0.25);
                // Up and down the whole range, a change every 97 frames, for every parameter
                // `pick` selects.
                let sweep = |pick: &dyn Fn(&crate::host::ParamDesc) -> bool| {
                    let mut changes = Vec::new();
                    for d in params.iter().filter(|d| pick(d)) {
                        for (k, frame) in (0..frames as u64).step_by(97).enumerate() {
                            let t = (k as f64 * 97.0 / frames as f64 * 2.0) % 2.0;
                            let x = if t < 1.0 { t } else { 2.0 - t };
                            let value = d.min + (d.max - d.min) * x;
                            let value = if d.stepped { value.round() } else { value };
                            changes.push(ParamChange {
                                frame,
                                id: d.id,
                                value,
                            });
                        }
                    }
                    changes
                };
                let changes = sweep(&|_| true);
                let (out, _) = p.render(sr, 4096, &input, &changes, random_blocks(sr as u64))?;
                all_finite(&out)?;
                let mut detail = format!("{} changes, finite output", changes.len());
                if let Some(limit) = expect.max_output_dbfs {
                    // The output limit is a promise of the processing: modes (stepped
                    // parameters such as the A/B) stay at their defaults for this pass.
                    let continuous = sweep(&|d| !d.stepped);
                    let mut q = fresh()?;
                    let (out, _) =
                        q.render(sr, 4096, &input, &continuous, random_blocks(sr as u64 + 1))?;
                    let peak = peak_dbfs(&out);
                    ensure!(
                        peak <= limit + 1e-4,
                        "output peak {peak} dBFS above {limit}"
                    );
                    detail += &format!("; continuous params swept: peak {peak:.2} dBFS");
                }
                Ok(detail)
            },
        );
    }

    crate::robust::hostile_audio(
        &mut report,
        &fresh,
        expect.passthrough,
        expect.max_output_dbfs,
    );
    crate::robust::host_behaviour(&mut report, &bundle, &id, expect.passthrough);

    report.run("mono layout processes", || {
        let mut p = fresh()?;
        p.select_mono()?;
        ensure!(
            p.main_channels()? == (1, 1),
            "ports after select: {:?}",
            p.main_channels()?
        );
        let mut rng = SmallRng::seed_from_u64(3);
        let input = noise(&mut rng, 1, 48_000, 0.5);
        let (out, _) = p.render(48_000.0, 512, &input, &[], random_blocks(3))?;
        all_finite(&out)?;
        if expect.passthrough {
            ensure!(out == input, "mono output differs from input");
        }
        Ok(String::new())
    });

    // Every combination of the latency parameters' values (or just the defaults) at every rate.
    let mut latency_settings: Vec<Vec<(u32, String)>> = vec![Vec::new()];
    for (name, values) in &expect.latency_params {
        let id = fresh()
            .ok()
            .as_mut()
            .and_then(|p| p.params().ok())
            .and_then(|ps| ps.into_iter().find(|d| d.name == *name))
            .map(|d| d.id);
        let Some(id) = id else {
            report.run(&format!("latency parameter {name:?} exists"), || {
                anyhow::bail!("no parameter named {name:?}")
            });
            continue;
        };
        latency_settings = latency_settings
            .iter()
            .flat_map(|s| {
                values.iter().map(move |v| {
                    let mut s = s.clone();
                    s.push((id, v.clone()));
                    s
                })
            })
            .collect();
    }
    for (sr, setting) in [44_100.0, 48_000.0, 96_000.0, 192_000.0]
        .into_iter()
        .flat_map(|sr| latency_settings.iter().map(move |s| (sr, s.clone())))
    {
        let label: String = setting.iter().map(|(_, v)| format!(", {v}")).collect();
        report.run(
            &format!("latency at {sr} Hz{label}: impulse arrives at the reported latency"),
            || {
                let mut p = fresh()?;
                for (id, text) in &setting {
                    let value = p.text_to_value(*id, text)?;
                    p.set_params(&[(*id, value)])?;
                }
                // Room for the longest latency (linear-phase EQ at 192 kHz: ~25k samples).
                let frames = 40_000;
                let at = 2000;
                let mut input = vec![vec![0.0f32; frames]; 2];
                input[0][at] = 0.5;
                input[1][at] = -0.5;
                let (out, latency) = p.render(sr, 512, &input, &[], || 512)?;
                let (idx, val) =
                    out[0]
                        .iter()
                        .enumerate()
                        .fold((0, 0.0f32), |(bi, bv), (i, &v)| {
                            if v.abs() > bv.abs() { (i, v) } else { (bi, bv) }
                        });
                ensure!(
                    idx == at + latency as usize,
                    "impulse at {idx}, expected {} (latency {latency})",
                    at + latency as usize
                );
                ensure!((val - 0.5).abs() < 1e-6, "impulse came out as {val}");
                Ok(format!("reported {latency} samples, measured {}", idx - at))
            },
        );
    }

    for (name, values) in &expect.latency_params {
        report.run(
            &format!(
                "changing {name} while processing: request_restart, latency.changed only in the next activate"
            ),
            || {
                let mut p = fresh()?;
                let d = p
                    .params()?
                    .into_iter()
                    .find(|d| d.name == *name)
                    .with_context(|| format!("no parameter {name:?}"))?;
                let first = values.first().context("no values")?;
                let last = values.last().context("no values")?;
                let from = p.text_to_value(d.id, first)?;
                let to = p.text_to_value(d.id, last)?;
                p.set_params(&[(d.id, from)])?;
                let input = vec![vec![0.0f32; 48_000]; 2];
                let (_, before) = p.render(48_000.0, 512, &input, &[], || 512)?;
                p.take_restart_request();
                let frames_after = 40_000;
                let changes = [ParamChange {
                    frame: 10_000,
                    id: d.id,
                    value: to,
                }];
                // `render` fails if the plugin calls latency.changed outside activate.
                p.render(48_000.0, 512, &input, &changes, || 512)?;
                ensure!(
                    p.take_restart_request(),
                    "the plugin did not ask the host to restart it (clap_host.request_restart)"
                );
                // The host restarts the plugin: the next activation reports the new latency
                // (counted from here, so an earlier activation's call cannot pass for it), and
                // once is enough: no second restart request.
                let calls_before = p.latency_changed_calls();
                let mut input = vec![vec![0.0f32; frames_after]; 2];
                input[0][2000] = 0.5;
                let (mut out, mut after) = p.render(48_000.0, 512, &input, &[], || 512)?;
                // nice-plug hands a latency set in `activate` to the host only after `activate`
                // returns, as one more restart request: allowed (CLAP permits request_restart at
                // any time), counted, and bounded.
                let mut restarts = 1;
                while p.take_restart_request() {
                    restarts += 1;
                    ensure!(restarts <= 2, "the plugin keeps asking for restarts");
                    (out, after) = p.render(48_000.0, 512, &input, &[], || 512)?;
                }
                let calls = p.latency_changed_calls() - calls_before;
                ensure!(calls >= 1, "the plugin never called latency.changed in activate");
                ensure!(after != before, "latency still {before} after {first} -> {last}");
                let idx = out[0]
                    .iter()
                    .position(|v| v.abs() > 0.25)
                    .context("impulse lost")?;
                ensure!(
                    idx == 2000 + after as usize,
                    "reported {after}, impulse at {}",
                    idx - 2000
                );
                Ok(format!(
                    "{first} -> {last}: {restarts} restart request(s), {before} -> {after} samples, \
                     {calls} latency.changed call(s) inside activate, impulse confirms"
                ))
            },
        );
    }

    report.run(
        "host bypass (CLAP_PARAM_IS_BYPASS): output = input delayed by the reported latency, bit for bit",
        || {
            let mut p = fresh()?;
            let params = p.params()?;
            let bypass: Vec<_> = params.iter().filter(|d| d.bypass).collect();
            ensure!(
                bypass.len() == 1,
                "{} parameters flagged as the bypass",
                bypass.len()
            );
            let d = bypass[0];
            ensure!(
                d.stepped && d.default == 0.0 && d.max == 1.0,
                "bypass must be a stepped 0/1 parameter defaulting to off: {d:?}"
            );
            p.set_params(&[(d.id, 1.0)])?;
            let mut rng = SmallRng::seed_from_u64(12);
            let input = noise(&mut rng, 2, 96_000, 1.0);
            let (out, latency) = p.render(48_000.0, 4096, &input, &[], random_blocks(12))?;
            let lat = latency as usize;
            for (o, i) in out.iter().zip(&input) {
                ensure!(
                    o[lat..] == i[..i.len() - lat],
                    "bypassed output is not the input delayed by {lat} samples"
                );
            }
            // And switching it off again while playing brings the processing back.
            let changes = [ParamChange {
                frame: 48_000,
                id: d.id,
                value: 0.0,
            }];
            let (out, _) = p.render(48_000.0, 512, &input, &changes, || 512)?;
            let processed_differs = expect.passthrough
                || out[0][60_000 + lat..] != input[0][60_000..input[0].len() - lat];
            ensure!(
                processed_differs,
                "un-bypassed output still equals the delayed input"
            );
            Ok(format!("'{}', latency {latency}", d.name))
        },
    );

    if expect.passthrough {
        report.run("passthrough is bit-exact", || {
            let mut p = fresh()?;
            let mut rng = SmallRng::seed_from_u64(11);
            let input = noise(&mut rng, 2, 96_000, 1.0);
            let (out, latency) = p.render(48_000.0, 4096, &input, &[], random_blocks(11))?;
            ensure!(
                latency == 0,
                "a pass-through meter reports latency {latency}"
            );
            ensure!(out == input, "output differs from input");
            Ok(String::new())
        });
    }

    report.run("state round trip: params and audio identical", || {
        let mut a = fresh()?;
        let params = a.params()?;
        let mut rng = SmallRng::seed_from_u64(5);
        let values: Vec<(u32, f64)> = params
            .iter()
            .map(|d| {
                let v = d.min + (d.max - d.min) * rng.random_range(0.1..0.9);
                // Stepped parameters (bools, enums) only take their steps.
                (
                    d.id,
                    if d.stepped {
                        v.round().max(d.min + 1.0).min(d.max)
                    } else {
                        v
                    },
                )
            })
            .collect();
        a.set_params(&values)?;
        for (d, &(_, v)) in params.iter().zip(&values) {
            let got = a.get(d.id)?;
            ensure!(
                (got - v).abs() < 0.02 * (d.max - d.min),
                "{}: set {v}, reads {got}",
                d.name
            );
        }
        let state = a.save_state()?;
        let mut b = fresh()?;
        b.load_state(&state)?;
        for d in &params {
            let (va, vb) = (a.get(d.id)?, b.get(d.id)?);
            ensure!(va == vb, "{}: {va} before, {vb} after load", d.name);
        }
        let input = noise(&mut rng, 2, 48_000, 0.7);
        let (oa, _) = a.render(48_000.0, 1024, &input, &[], random_blocks(9))?;
        let (ob, _) = b.render(48_000.0, 1024, &input, &[], random_blocks(9))?;
        ensure!(oa == ob, "audio differs after state load");
        ensure!(b.save_state()? == state, "re-saved state differs");
        Ok(format!("{} bytes", state.len()))
    });

    crate::robust::state_checks(&mut report, &fresh, expect.fuzz);

    report
}

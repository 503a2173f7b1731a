//! Lathe Master's reference records, as a host drives them (`lathe-clap-host reference`): a
//! state naming a reference file and its loop loads it off the audio thread; the A/B's
//! Reference choice plays the loop, level-matched to the processed signal; missing files and
//! emptied slots are silent, never a failure. Judged with libebur128 (the `ebur128` crate), not
//! Lathe's meters. Run on the allocation-checked bundle too: nothing of the reference
//! machinery may allocate on the audio thread.

use crate::host::{Bundle, ParamChange, Plugin};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;

/// A WAV as two planar channels (a mono file twice).
fn read_wav(path: &Path) -> Result<(u32, Vec<Vec<f32>>)> {
    let (mut planar, rate) = crate::read_wav(&path.to_string_lossy())?;
    if planar.len() == 1 {
        planar.push(planar[0].clone());
    }
    planar.truncate(2);
    Ok((rate, planar))
}

/// Integrated loudness by libebur128.
fn integrated(rate: u32, x: &[&[f32]]) -> Result<f64> {
    let mut m = ebur128::EbuR128::new(x.len() as u32, rate, ebur128::Mode::I)?;
    m.add_frames_planar_f32(x)?;
    Ok(m.loudness_global()?)
}

fn blob(value: &Value) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("JSON serialises");
    let mut b = (json.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(&json);
    b
}

/// The plugin's state with `references` set.
fn with_references(p: &mut Plugin, slots: &Value) -> Result<Vec<u8>> {
    let own = p.save_state()?;
    let mut v: Value = serde_json::from_slice(&own[8..])?;
    v["fields"]["references"] = Value::String(slots.to_string());
    Ok(blob(&v))
}

fn param(p: &mut Plugin, name: &str, text: &str) -> Result<(u32, f64)> {
    let desc = p
        .params()?
        .into_iter()
        .find(|d| d.name == name)
        .with_context(|| format!("no parameter {name:?}"))?;
    Ok((desc.id, p.text_to_value(desc.id, text)?))
}

pub fn run(plugin: &Path, id: &str, reference: &Path, music: &Path) -> Result<i32> {
    let bundle = Bundle::load(plugin)?;
    let (ref_rate, ref_audio) = read_wav(reference)?;
    let (rate, music) = read_wav(music)?;
    if ref_rate != rate {
        bail!("give a reference at the music's rate ({rate} Hz), so no resampling is judged");
    }
    let sr = f64::from(rate);
    let (loop_start, loop_end) = (5.0f64, 15.0f64);
    let (a, b) = (
        (loop_start * sr).round() as usize,
        (loop_end * sr).round() as usize,
    );
    let ref_loop: Vec<&[f32]> = ref_audio.iter().map(|c| &c[a..b]).collect();
    let loop_lufs = integrated(rate, &ref_loop)?;
    let mut failures = 0;
    let mut check = |what: String, ok: bool| {
        println!("  {what}: {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failures += 1;
        }
    };

    // 1. Processed: the master's integrated loudness, by libebur128.
    let mut p = bundle.instantiate(id)?;
    let (processed, _) = p.render(sr, 512, &music, &[], || 512)?;
    let out: Vec<&[f32]> = processed.iter().map(|c| &c[..]).collect();
    let master_lufs = integrated(rate, &out)?;

    // 2. A state naming the reference and its loop; A/B on Reference.
    let mut p = bundle.instantiate(id)?;
    let state = with_references(
        &mut p,
        &json!([{ "path": reference.to_string_lossy(), "loop_start_s": loop_start, "loop_end_s": loop_end }]),
    )?;
    p.load_state(&state)?;
    let ab = param(&mut p, "Ref Listen", "On")?;
    p.set_params(&[ab])?;
    // The first activation starts the loader; give it time, then play.
    let short = vec![vec![0.0f32; 4096]; 2];
    p.render(sr, 512, &short, &[], || 512)?;
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (heard, _) = p.render(sr, 512, &music, &[], || 512)?;
    // What the loop was played at: over the last second, the least-squares gain of the output
    // against the loop (free-running from the activation's first sample).
    let n = heard[0].len();
    let len = b - a;
    let (mut num, mut den, mut err) = (0.0f64, 0.0f64, 0.0f64);
    for i in n - rate as usize..n {
        for c in 0..2 {
            let r = f64::from(ref_loop[c][i % len]);
            num += f64::from(heard[c][i]) * r;
            den += r * r;
        }
    }
    let g = num / den.max(1e-30);
    for i in n - rate as usize..n {
        for c in 0..2 {
            let r = f64::from(ref_loop[c][i % len]);
            err = err.max((f64::from(heard[c][i]) - g * r).abs());
        }
    }
    let gain_db = 20.0 * g.max(1e-12).log10();
    let matched = loop_lufs + gain_db;
    check(
        format!(
            "Reference plays the loop (largest deviation from loop × gain over the last second {err:.1e})"
        ),
        g > 0.0 && err < 1e-3,
    );
    check(
        format!(
            "level match (integrated): loop {loop_lufs:.2} LUFS played at {gain_db:+.2} dB = {matched:.2} LUFS; the master reads {master_lufs:.2} LUFS (libebur128); within 0.1 LU"
        ),
        (matched - master_lufs).abs() <= 0.1,
    );

    // 3. Switching Processed → Reference → Processed mid-stream is a crossfade, no jump.
    let mut p = bundle.instantiate(id)?;
    p.load_state(&state)?;
    let processed_choice = param(&mut p, "Ref Listen", "Off")?;
    p.render(sr, 512, &short, &[], || 512)?;
    std::thread::sleep(std::time::Duration::from_secs(3));
    let changes = [
        ParamChange {
            frame: 5 * u64::from(rate),
            id: ab.0,
            value: ab.1,
        },
        ParamChange {
            frame: 10 * u64::from(rate),
            id: processed_choice.0,
            value: processed_choice.1,
        },
    ];
    let (switched, _) = p.render(sr, 512, &music, &changes, || 512)?;
    // At the switch to Reference (5 s) the output must be a blend of the processed music (the
    // first render: same input, same chain) and the loop at its gain, the loop's share rising
    // over the crossfade – not one of them at once. The loop's position and gain are read off
    // the output 0.1–0.6 s after the switch.
    // Where the output first leaves the processed music (the block holding the change).
    let at = (5 * rate as usize - 4096..5 * rate as usize + 4096)
        .find(|&i| (0..2).any(|c| (switched[c][i] - processed[c][i]).abs() > 1e-6))
        .unwrap_or(5 * rate as usize);
    let fade = (0.03 * sr) as usize;
    let after = at + (0.1 * sr) as usize..at + (0.6 * sr) as usize;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for i in after.clone() {
        for c in 0..2 {
            let r = f64::from(ref_loop[c][i % len]);
            num += f64::from(switched[c][i]) * r;
            den += r * r;
        }
    }
    let g_switch = num / den.max(1e-30);
    let (mut off_blend, mut off_hard, mut off_none) = (0.0f64, 0.0f64, 0.0f64);
    for k in 0..fade {
        let i = at + k;
        let w = k as f64 / fade as f64;
        for c in 0..2 {
            let (pr, rf) = (
                f64::from(processed[c][i]),
                g_switch * f64::from(ref_loop[c][i % len]),
            );
            let out = f64::from(switched[c][i]);
            off_blend = off_blend.max((out - ((1.0 - w) * pr + w * rf)).abs());
            off_hard = off_hard.max((out - rf).abs());
            off_none = off_none.max((out - pr).abs());
        }
    }
    check(
        format!(
            "switching to Reference crossfades over 30 ms: output off the expected blend by {off_blend:.4} at most, off a hard switch by {off_hard:.3}, off no switch by {off_none:.3}"
        ),
        off_blend < 0.02 && off_hard > 10.0 * off_blend && off_none > 10.0 * off_blend,
    );

    // 4. A missing file and an emptied slot: loads, plays silence, no failure.
    let mut p = bundle.instantiate(id)?;
    let missing = with_references(
        &mut p,
        &json!([{ "path": "/nonexistent/lathe/ref.wav", "loop_start_s": 0.0, "loop_end_s": 0.0 }]),
    )?;
    p.load_state(&missing)?;
    p.set_params(&[ab])?;
    p.render(sr, 512, &short, &[], || 512)?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (silent, _) = p.render(
        sr,
        512,
        &music[..]
            .iter()
            .map(|c| c[..(2 * rate) as usize].to_vec())
            .collect::<Vec<_>>(),
        &[],
        || 512,
    )?;
    let peak = silent.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
    check(
        format!("a missing reference file: the state loads, Reference is silent (peak {peak:.1e})"),
        peak == 0.0,
    );
    if failures > 0 {
        println!("{failures} reference check(s) failed");
        return Ok(1);
    }
    Ok(0)
}

//! The three plugin validators beside the checkout (`../shared/tools`, see its README): CLAP's
//! clap-validator, Steinberg's VST3 validator (default and extensive sets) and Tracktion's
//! pluginval at strictness 10 with its editor tests on a headless display. The bar is what a
//! host sees: 0 failures and 0 warnings.

use crate::{PLUGINS, workspace_root};
use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tools_dir() -> Result<PathBuf> {
    let dir = workspace_root().join("../shared/tools");
    ensure!(
        dir.join("clap-validator").is_file(),
        "the validators are not at {} (CI keeps ../shared beside the checkout)",
        dir.display()
    );
    Ok(dir)
}

/// Runs a tool, returning its exit success and its stdout + stderr.
fn output(cmd: &mut Command) -> Result<(bool, String)> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {shown}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// clap-validator's JSON report: every test passed or was skipped (not applicable to an effect
/// without, e.g., note ports); a failure, crash or warning fails the step.
fn clap_validator(tools: &Path, bundle: &Path) -> Result<String> {
    let (_, text) = output(
        Command::new(tools.join("clap-validator"))
            .arg("validate")
            .arg("--json")
            .arg(bundle),
    )?;
    let start = text.find('{').context("clap-validator printed no JSON")?;
    let json: Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()
        .context("clap-validator printed no JSON")??;
    let results = json["results"].as_array().context("no results")?;
    let (mut passed, mut skipped, mut bad) = (0, 0, Vec::new());
    for r in results {
        let code = r["status"]["code"].as_str().unwrap_or("?");
        let name = r["test"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|t| t["test"].as_str())
            .unwrap_or("?");
        match code {
            "success" => passed += 1,
            "skipped" => skipped += 1,
            _ => bad.push(format!(
                "{name}: {code} {}",
                r["status"]["details"].as_str().unwrap_or("")
            )),
        }
    }
    if !bad.is_empty() {
        bail!("clap-validator: {}", bad.join("; "));
    }
    ensure!(passed > 0, "clap-validator ran no test");
    Ok(format!(
        "clap-validator {passed} passed, {skipped} skipped, 0 failed, 0 warnings"
    ))
}

/// Steinberg's validator: "N tests passed, 0 tests failed", and none of its warnings (it prints
/// them as `Warning:` lines or lines ending in `!!!`, and does not count them as failures).
fn vst3_validator(tools: &Path, bundle: &Path, extensive: bool) -> Result<String> {
    let mut cmd = Command::new(tools.join("vst3-validator"));
    if extensive {
        cmd.arg("-e");
    }
    let (ok, text) = output(cmd.arg(bundle))?;
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Warning") || l.trim_end().ends_with("!!!"))
        .collect();
    let result = text
        .lines()
        .rfind(|l| l.starts_with("Result:"))
        .context("vst3-validator printed no result")?;
    ensure!(
        ok && result.contains(" 0 tests failed"),
        "vst3-validator{}: {result}\n{}",
        if extensive { " -e" } else { "" },
        text.lines()
            .filter(|l| l.contains("[Failed]") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    ensure!(
        warnings.is_empty(),
        "vst3-validator warnings:\n{}",
        warnings.join("\n")
    );
    Ok(format!(
        "vst3-validator{} {}",
        if extensive { " -e" } else { "" },
        result.trim_start_matches("Result: ")
    ))
}

/// pluginval at strictness 10 on `display` (editor tests included).
fn pluginval(tools: &Path, bundle: &Path, display: &str) -> Result<String> {
    let (ok, text) = output(
        Command::new(tools.join("pluginval"))
            .args(["--strictness-level", "10", "--validate"])
            .arg(bundle)
            .env("DISPLAY", display),
    )?;
    // pluginval's own result lines ("!!! Test n failed: …", "*** FAILED", "FAILED!! …",
    // "WARNING: …"); libraries it loads may print other warnings under Xvfb.
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("!!!")
                || t.starts_with("*** FAILED")
                || t.starts_with("FAILED!!")
                || t.starts_with("WARNING")
        })
        .collect();
    ensure!(
        ok && text.lines().any(|l| l.trim() == "SUCCESS") && findings.is_empty(),
        "pluginval: {}\n{}",
        if ok { "warnings" } else { "FAILED" },
        findings.join("\n")
    );
    let editor = text.contains("Completed tests in pluginval / Editor");
    ensure!(editor, "pluginval did not run its editor tests");
    Ok("pluginval strictness 10 (editor tests included): SUCCESS".into())
}

/// Every validator on both plugins of `dir`.
pub fn run_all(dir: &Path, display: &str) -> Result<()> {
    let tools = tools_dir()?;
    let mut failures = Vec::new();
    for (_, name, _) in PLUGINS {
        let clap = dir.join(format!("{name}.clap"));
        let vst3 = dir.join(format!("{name}.vst3"));
        let results = [
            clap_validator(&tools, &clap),
            vst3_validator(&tools, &vst3, false),
            vst3_validator(&tools, &vst3, true),
            pluginval(&tools, &vst3, display),
        ];
        for r in results {
            match r {
                Ok(line) => println!("  {name}: {line}"),
                Err(e) => {
                    println!("  {name}: FAILED {e:#}");
                    failures.push(format!("{name}: {e:#}"));
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("{} validator finding(s)", failures.len())
    }
}

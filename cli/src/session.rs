//! `lathe session`: the live table of every Lathe Meter instance, from outside any DAW.

use lathe_session::export::to_json;
use lathe_session::{Entry, Registry};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Options of `lathe session`.
pub struct SessionArgs {
    /// Print JSON (one array per line) instead of a table.
    pub json: bool,
    /// Keep printing every `interval`.
    pub watch: bool,
    /// Only this group.
    pub group: Option<String>,
    /// Refresh interval in watch mode.
    pub interval: Duration,
    /// Ask the listed instances to reset, then list them.
    pub reset: bool,
}

fn cell(v: f32) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-".to_owned()
    }
}

fn table(entries: &[Entry]) -> String {
    let mut out = format!(
        "{:<24} {:<18} {:>6} {:>6} {:>6} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>7}\n",
        "TRACK", "GROUP", "M", "S", "I", "LRA", "TP", "PLR", "CORR", "OVERS", "AUDIO", "AGE"
    );
    for e in entries {
        let r = &e.reading;
        let flag = if e.over_target() || e.has_overs() {
            " !"
        } else {
            ""
        };
        let corr = if r.correlation.is_finite() {
            format!("{:.2}", r.correlation)
        } else {
            "-".to_owned()
        };
        out += &format!(
            "{:<24} {:<18} {:>6} {:>6} {:>6} {:>5} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5}ms{flag}\n",
            lathe_session::slot::truncate_utf8(&e.name, 24),
            lathe_session::slot::truncate_utf8(&e.group, 18),
            cell(r.momentary_lufs),
            cell(r.short_term_lufs),
            cell(r.integrated_lufs),
            cell(r.loudness_range_lu),
            cell(r.true_peak_max_dbtp),
            cell(r.plr_db),
            corr,
            r.overs,
            if e.receiving_audio { "yes" } else { "no" },
            e.age_ms.min(99_999),
        );
    }
    if entries.is_empty() {
        out += "(no Lathe Meter instances running)\n";
    }
    out
}

/// Runs the command; returns the exit status.
pub fn run(args: &SessionArgs) -> i32 {
    let registry = match Registry::shared() {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "lathe: cannot open the session registry {}: {e}",
                lathe_session::default_path().display()
            );
            return 1;
        }
    };
    let read = || {
        let mut entries = registry.entries();
        if let Some(g) = &args.group {
            entries.retain(|e| &e.group == g);
        }
        entries.sort_by(|a, b| (&a.group, &a.name, a.slot).cmp(&(&b.group, &b.name, b.slot)));
        entries
    };
    if args.reset {
        for e in read() {
            registry.request_reset(e.slot);
        }
    }
    let clear = args.watch && !args.json && std::io::stdout().is_terminal();
    loop {
        let entries = read();
        let text = if args.json {
            to_json(&entries) + "\n"
        } else {
            table(&entries)
        };
        let mut out = std::io::stdout().lock();
        if clear {
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        // A closed pipe (`lathe session --watch | head`) ends the command quietly.
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return 0;
        }
        drop(out);
        if !args.watch {
            return 0;
        }
        std::thread::sleep(args.interval);
    }
}

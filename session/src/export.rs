//! The session table as CSV and JSON (the editor's export buttons and `lathe session`).

use crate::Entry;
use serde_json::{Value, json};

/// Column names of [`to_csv`]; the JSON keys are the same.
pub const COLUMNS: [&str; 14] = [
    "name",
    "group",
    "momentary_lufs",
    "short_term_lufs",
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_max_dbtp",
    "plr_db",
    "correlation",
    "overs",
    "receiving_audio",
    "over_target",
    "target_lufs",
    "age_ms",
];

/// A finite number, or JSON null for "not measured" (−∞, NaN).
fn num(v: f32) -> Value {
    if v.is_finite() {
        // Two decimals are more than any meter shows; keeps the output stable and short.
        json!((f64::from(v) * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

/// One instance as a JSON object.
pub fn entry_json(e: &Entry) -> Value {
    let r = &e.reading;
    json!({
        "name": e.name,
        "group": e.group,
        "momentary_lufs": num(r.momentary_lufs),
        "short_term_lufs": num(r.short_term_lufs),
        "integrated_lufs": num(r.integrated_lufs),
        "loudness_range_lu": num(r.loudness_range_lu),
        "true_peak_max_dbtp": num(r.true_peak_max_dbtp),
        "plr_db": num(r.plr_db),
        "correlation": num(r.correlation),
        "overs": r.overs,
        "receiving_audio": e.receiving_audio,
        "over_target": e.over_target(),
        "target_lufs": num(r.target_lufs),
        "age_ms": e.age_ms,
        "pid": e.pid,
        "slot": e.slot,
        "channels": r.channels,
        "sample_rate_hz": r.sample_rate_hz,
        "color": e.color_rgba.map(|c| format!("#{:06x}", c >> 8)),
    })
}

/// All instances as one JSON array (one line).
pub fn to_json(entries: &[Entry]) -> String {
    Value::Array(entries.iter().map(entry_json).collect()).to_string()
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// All instances as CSV with a header line; empty cells for values not measured.
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for e in entries {
        let obj = entry_json(e);
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| match &obj[*c] {
                Value::Null => String::new(),
                Value::String(s) => csv_field(s),
                v => v.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reading;

    fn entry(name: &str) -> Entry {
        Entry {
            slot: 3,
            pid: 42,
            group: "song".into(),
            name: name.into(),
            color_rgba: Some(0x11223344),
            reading: Reading {
                momentary_lufs: -12.345,
                integrated_lufs: -14.0,
                overs: 2,
                ..Reading::default()
            },
            receiving_audio: true,
            age_ms: 17,
        }
    }

    #[test]
    fn json_has_the_documented_keys_and_nulls_for_missing_values() {
        let v: Value = serde_json::from_str(&to_json(&[entry("Kick")])).unwrap();
        let o = &v[0];
        for key in COLUMNS {
            assert!(o.get(key).is_some(), "{key} missing");
        }
        assert_eq!(o["momentary_lufs"], json!(-12.35));
        assert_eq!(o["short_term_lufs"], Value::Null);
        assert_eq!(o["overs"], json!(2));
        assert_eq!(o["color"], json!("#112233"));
    }

    #[test]
    fn csv_quotes_awkward_names() {
        let csv = to_csv(&[entry("Vox, \"lead\"")]);
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("\"Vox, \"\"lead\"\"\",song,-12.35,,-14.0,"),
            "{row}"
        );
    }
}

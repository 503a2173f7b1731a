//! The album report as HTML: the album's figures, the platforms' album-mode gains, the PQ
//! table with each track's loudness and peaks, and the sides' pre-flight – the same values as
//! `report.json`.

use serde_json::Value;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A JSON value as table text.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => esc(s),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Array(a) => esc(&a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("; ")),
        other => esc(&other.to_string()),
    }
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in head {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            out.push_str(&format!("<td>{c}</td>"));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The HTML page for `report.json`'s value.
pub fn html(report: &Value) -> String {
    let a = &report["album"];
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Album report</title><style>\
         body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;\
         margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;\
         font-size:14px}th{background:#eee}.bad{color:#b00}</style></head><body>\n",
    );
    out.push_str(&format!(
        "<h1>{} – {}</h1>\n",
        cell(&a["title"]),
        cell(&a["artist"])
    ));
    table(
        &mut out,
        &[
            "tracks",
            "length",
            "plan",
            "target",
            "ceiling",
            "LUFS before",
            "LUFS",
            "UPC/EAN",
        ],
        &[vec![
            cell(&a["tracks"]),
            cell(&a["length"]),
            cell(&a["loudness_plan"]),
            format!("{} LUFS", cell(&a["target_lufs"])),
            format!("{} dBTP", cell(&a["ceiling_dbtp"])),
            cell(&a["integrated_lufs_before"]),
            cell(&a["integrated_lufs"]),
            cell(&a["upc"]),
        ]],
    );
    out.push_str("<h2>Platforms (album mode: gain each applies, dB)</h2>\n");
    if let Some(p) = a["platforms"].as_object() {
        let head: Vec<&str> = p.keys().map(String::as_str).collect();
        table(&mut out, &head, &[p.values().map(cell).collect()]);
    }
    out.push_str("<h2>Tracks</h2>\n");
    let rows: Vec<Vec<String>> = report["tracks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            [
                "number",
                "title",
                "artist",
                "isrc",
                "index_00",
                "index_01",
                "length",
                "gain_db",
                "relimited",
                "integrated_lufs",
                "loudness_range_lu",
                "true_peak_dbtp",
                "plr_db",
                "source_rate_hz",
                "resampled",
            ]
            .iter()
            .map(|k| cell(&t[*k]))
            .collect()
        })
        .collect();
    table(
        &mut out,
        &[
            "#",
            "title",
            "artist",
            "ISRC",
            "index 00",
            "index 01",
            "length",
            "gain dB",
            "re-limited",
            "LUFS",
            "LRA LU",
            "dBTP",
            "PLR dB",
            "source Hz",
            "resampled",
        ],
        &rows,
    );
    if let Some(w) = report["warnings"].as_array().filter(|w| !w.is_empty()) {
        out.push_str("<h2>Warnings</h2><ul>\n");
        for x in w {
            out.push_str(&format!("<li class=\"bad\">{}</li>\n", cell(x)));
        }
        out.push_str("</ul>\n");
    }
    if let Some(sides) = report["sides"].as_object() {
        for (format, list) in sides {
            out.push_str(&format!("<h2>{} sides: pre-flight</h2>\n", esc(format)));
            let rows: Vec<Vec<String>> = list
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, s)| {
                    vec![
                        esc(name),
                        cell(&s["file"]),
                        cell(&s["format"]),
                        format!("{} (max {})", cell(&s["length"]), cell(&s["max_length"])),
                        cell(&s["integrated_lufs"]),
                        cell(&s["true_peak_dbtp"]),
                        cell(&s["low_end"]["correlation"]),
                        cell(&s["low_end"]["side_to_mid_db"]),
                        cell(&s["highs"]["loudest_50ms_dbfs"]),
                        cell(&s["clipped_runs"]),
                        format!(
                            "<span class=\"bad\">{}</span> {}",
                            cell(&s["problems"]),
                            cell(&s["notes"])
                        ),
                    ]
                })
                .collect();
            table(
                &mut out,
                &[
                    "side",
                    "file",
                    "format",
                    "length",
                    "LUFS",
                    "dBTP",
                    "low-end corr.",
                    "low side/mid dB",
                    "highs >5k max dBFS",
                    "clipped runs",
                    "findings",
                ],
                &rows,
            );
        }
    }
    out.push_str(&format!(
        "<p>Written: {}. Every file was read back and checked.</p></body></html>\n",
        cell(&report["written"])
    ));
    out
}

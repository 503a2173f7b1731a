//! The Session tab: every Lathe Meter of this session group in one sortable table.

use crate::{MeterParams, MeterShared, SessionLink};
use lathe_plugin_common as ui_common;
use lathe_session::Entry;
use lathe_session::export::{to_csv, to_json};
use std::cmp::Ordering;
use std::path::PathBuf;

/// Table columns, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Momentary,
    ShortTerm,
    Integrated,
    Range,
    TruePeak,
    Plr,
    Correlation,
    Overs,
    Audio,
    Age,
}

/// (column, header, width in logical px): fits the default 620 px editor without scrolling.
const COLUMNS: [(Column, &str, f32); 11] = [
    (Column::Name, "Track", 112.0),
    (Column::Momentary, "M", 46.0),
    (Column::ShortTerm, "S", 46.0),
    (Column::Integrated, "I", 46.0),
    (Column::Range, "LRA", 40.0),
    (Column::TruePeak, "TP", 48.0),
    (Column::Plr, "PLR", 40.0),
    (Column::Correlation, "Corr", 42.0),
    (Column::Overs, "Overs", 44.0),
    (Column::Audio, "Audio", 42.0),
    (Column::Age, "Age", 50.0),
];
/// Gap between columns (logical px).
const GAP: f32 = 3.0;
/// Height of one table row (logical px).
const ROW_HEIGHT: f32 = 20.0;

/// State of the Session tab.
pub struct SessionView {
    sort: Column,
    descending: bool,
    /// Text fields, loaded from the persisted settings the first time the tab is drawn.
    label_edit: String,
    group_edit: String,
    edits_loaded: bool,
    /// Outcome of the last export or reset, for the status line.
    status: String,
    /// Rows, re-read every frame (reuses its allocation).
    entries: Vec<Entry>,
}

impl Default for SessionView {
    fn default() -> Self {
        Self {
            sort: Column::Name,
            descending: false,
            label_edit: String::new(),
            group_edit: String::new(),
            edits_loaded: false,
            status: String::new(),
            entries: Vec::with_capacity(lathe_session::slot::SLOTS),
        }
    }
}

fn cmp_f32(a: f32, b: f32) -> Ordering {
    // Unmeasured values (NaN, −∞) sort below everything.
    let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
    key(a).total_cmp(&key(b))
}

fn cell(v: f32, decimals: usize) -> String {
    if v.is_finite() {
        // Round first, then `+ 0.0` turns −0.0 into 0.0: tiny negatives must not print "-0.0".
        let scale = 10f32.powi(decimals as i32);
        format!("{:.decimals$}", (v * scale).round() / scale + 0.0)
    } else {
        "–".to_owned()
    }
}

/// Where exports go: `~/Documents` if it exists, else the home folder, else the temp folder.
fn export_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    match home {
        Some(h) if h.join("Documents").is_dir() => h.join("Documents"),
        Some(h) if h.is_dir() => h,
        _ => std::env::temp_dir(),
    }
}

impl SessionView {
    fn sort_entries(&mut self) {
        let sort = self.sort;
        self.entries.sort_by(|a, b| {
            let (ra, rb) = (&a.reading, &b.reading);
            let ord = match sort {
                Column::Name => {
                    let lower = |c: char| c.to_ascii_lowercase();
                    a.name.chars().map(lower).cmp(b.name.chars().map(lower))
                }
                Column::Momentary => cmp_f32(ra.momentary_lufs, rb.momentary_lufs),
                Column::ShortTerm => cmp_f32(ra.short_term_lufs, rb.short_term_lufs),
                Column::Integrated => cmp_f32(ra.integrated_lufs, rb.integrated_lufs),
                Column::Range => cmp_f32(ra.loudness_range_lu, rb.loudness_range_lu),
                Column::TruePeak => cmp_f32(ra.true_peak_max_dbtp, rb.true_peak_max_dbtp),
                Column::Plr => cmp_f32(ra.plr_db, rb.plr_db),
                Column::Correlation => cmp_f32(ra.correlation, rb.correlation),
                Column::Overs => ra.overs.cmp(&rb.overs),
                Column::Audio => a.receiving_audio.cmp(&b.receiving_audio),
                Column::Age => a.age_ms.cmp(&b.age_ms),
            };
            // Slot order breaks ties so rows do not jump between frames.
            ord.then(a.slot.cmp(&b.slot))
        });
        if self.descending {
            self.entries.reverse();
        }
    }

    fn export(&mut self, group: &str, json: bool) {
        let safe: String = group
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ext = if json { "json" } else { "csv" };
        let path = export_dir().join(format!("lathe-session-{safe}-{stamp}.{ext}"));
        let text = if json {
            to_json(&self.entries)
        } else {
            to_csv(&self.entries)
        };
        self.status = match std::fs::write(&path, text) {
            Ok(()) => format!("Exported {} rows to {}", self.entries.len(), path.display()),
            Err(e) => format!("Export to {} failed: {e}", path.display()),
        };
    }

    /// Draws the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, params: &MeterParams, shared: &MeterShared) {
        let link = &shared.session;
        if !self.edits_loaded {
            self.label_edit = params
                .session_label
                .read()
                .map(|s| s.clone())
                .unwrap_or_default();
            self.group_edit = params
                .session_group
                .read()
                .map(|s| s.clone())
                .unwrap_or_default();
            self.edits_loaded = true;
        }
        let Some(registration) = link.registration() else {
            let why = link
                .error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| "the plugin is not active yet".to_owned());
            ui.label(
                egui::RichText::new(format!("Session view unavailable: {why}"))
                    .color(ui_common::WARN),
            );
            return;
        };
        let group = SessionLink::group(params);
        let (own_name, _) = link.label(params);

        ui.horizontal(|ui| {
            ui.label("Label");
            let label = ui.add(
                egui::TextEdit::singleline(&mut self.label_edit)
                    .hint_text(own_name.as_str())
                    .desired_width(150.0),
            );
            ui.label("Group");
            let default_group = lathe_session::default_group();
            let group_field = ui.add(
                egui::TextEdit::singleline(&mut self.group_edit)
                    .hint_text(default_group.as_str())
                    .desired_width(150.0),
            );
            if label.lost_focus() || group_field.lost_focus() {
                if let Ok(mut l) = params.session_label.write() {
                    *l = self.label_edit.trim().to_owned();
                }
                if let Ok(mut g) = params.session_group.write() {
                    *g = self.group_edit.trim().to_owned();
                }
                link.relabel(params);
            }
        });

        let registry = registration.registry();
        self.entries = registry.group_entries(&group);
        self.sort_entries();

        // Summary.
        let loudest = self
            .entries
            .iter()
            .filter(|e| e.reading.short_term_lufs.is_finite())
            .max_by(|a, b| cmp_f32(a.reading.short_term_lufs, b.reading.short_term_lufs));
        let hottest = self
            .entries
            .iter()
            .filter(|e| e.reading.true_peak_max_dbtp.is_finite())
            .max_by(|a, b| cmp_f32(a.reading.true_peak_max_dbtp, b.reading.true_peak_max_dbtp));
        let mut summary = format!("{} meters in \"{group}\"", self.entries.len());
        if let Some(e) = loudest {
            summary += &format!(
                " · loudest: {} {:+.1} LUFS S",
                e.name, e.reading.short_term_lufs
            );
        }
        if let Some(e) = hottest {
            summary += &format!(
                " · hottest peak: {} {:+.1} dBTP",
                e.name, e.reading.true_peak_max_dbtp
            );
        }
        ui.label(egui::RichText::new(summary).color(ui_common::ACCENT));

        ui.horizontal(|ui| {
            if ui.button("Reset all").clicked() {
                registry.reset_group(&group);
                self.status = format!("Reset {} meters", self.entries.len());
            }
            if ui.button("Export CSV").clicked() {
                self.export(&group, false);
            }
            if ui.button("Export JSON").clicked() {
                self.export(&group, true);
            }
            if !registry.is_shared() {
                ui.label(
                    egui::RichText::new("this process only (no shared memory)")
                        .color(ui_common::WARN),
                );
            }
        });
        if !self.status.is_empty() {
            ui.label(egui::RichText::new(&self.status).color(ui_common::DIM_TEXT));
        }
        ui.add_space(4.0);

        egui::ScrollArea::horizontal().show(ui, |ui| {
            // Header: click to sort, click again to reverse.
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = GAP;
                for (col, title, width) in COLUMNS {
                    let arrow = match (self.sort == col, self.descending) {
                        (true, false) => " ^",
                        (true, true) => " v",
                        _ => "",
                    };
                    let text = egui::RichText::new(format!("{title}{arrow}")).strong();
                    let button = egui::Button::new(text).frame(false);
                    if ui.add_sized([width, ROW_HEIGHT], button).clicked() {
                        if self.sort == col {
                            self.descending = !self.descending;
                        } else {
                            self.sort = col;
                            // Levels are most useful loudest-first.
                            self.descending = col != Column::Name;
                        }
                    }
                }
            });
            let own_slot = registration.index();
            egui::ScrollArea::vertical().show_rows(
                ui,
                ROW_HEIGHT,
                self.entries.len(),
                |ui, rows| {
                    for e in &self.entries[rows] {
                        row(ui, e, e.slot == own_slot);
                    }
                },
            );
        });
    }
}

fn row(ui: &mut egui::Ui, e: &Entry, own: bool) {
    let r = &e.reading;
    let flagged = e.over_target() || e.has_overs();
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(COLUMNS.iter().map(|c| c.2 + GAP).sum(), ROW_HEIGHT),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let fill = if flagged {
        ui_common::OVER.gamma_multiply(0.35)
    } else if own {
        ui_common::ACCENT.gamma_multiply(0.15)
    } else {
        ui_common::PANEL
    };
    painter.rect_filled(rect.shrink2(egui::vec2(0.0, 1.0)), 2.0, fill);
    let mut x = rect.left();
    let font = egui::FontId::monospace(12.0);
    for (col, _, width) in COLUMNS {
        let text = match col {
            Column::Name => e.name.clone(),
            Column::Momentary => cell(r.momentary_lufs, 1),
            Column::ShortTerm => cell(r.short_term_lufs, 1),
            Column::Integrated => cell(r.integrated_lufs, 1),
            Column::Range => cell(r.loudness_range_lu, 1),
            Column::TruePeak => cell(r.true_peak_max_dbtp, 1),
            Column::Plr => cell(r.plr_db, 1),
            Column::Correlation => cell(r.correlation, 2),
            Column::Overs => r.overs.to_string(),
            Column::Audio => if e.receiving_audio { "●" } else { "–" }.to_owned(),
            Column::Age => format!("{}ms", e.age_ms.min(99_999)),
        };
        let colour = match col {
            Column::Integrated | Column::ShortTerm if e.over_target() => ui_common::OVER,
            Column::Overs | Column::TruePeak if e.has_overs() => ui_common::OVER,
            Column::Audio if e.receiving_audio => ui_common::ACCENT,
            _ => egui::Color32::WHITE,
        };
        let cell_rect =
            egui::Rect::from_min_size(egui::pos2(x, rect.top()), egui::vec2(width, ROW_HEIGHT));
        if col == Column::Name {
            // Track colour swatch, then the name clipped to its column.
            let swatch = egui::Rect::from_min_size(
                egui::pos2(x + 3.0, rect.center().y - 5.0),
                egui::vec2(4.0, 10.0),
            );
            if let Some(c) = e.color_rgba {
                let [rr, gg, bb] = [(c >> 24) as u8, (c >> 16) as u8, (c >> 8) as u8];
                painter.rect_filled(swatch, 1.0, egui::Color32::from_rgb(rr, gg, bb));
            }
            let clip = painter.with_clip_rect(cell_rect.intersect(rect));
            clip.text(
                egui::pos2(x + 11.0, rect.center().y),
                egui::Align2::LEFT_CENTER,
                text,
                egui::FontId::proportional(13.0),
                colour,
            );
        } else {
            painter.text(
                egui::pos2(x + width - 4.0, rect.center().y),
                egui::Align2::RIGHT_CENTER,
                text,
                font.clone(),
                colour,
            );
        }
        x += width + GAP;
    }
}

//! The Reference panel: four slots of reference records (path, load, status), the waveform of
//! the selected one with its loop (drag across it to choose another), how the loop is
//! level-matched and whether it follows the transport. Listening is the A/B row's Reference.

use super::{choices, toggle};
use crate::reference::{SLOTS, SlotState, SlotStatus};
use crate::{MasterParams, MasterShared};
use lathe_plugin_common as ui_common;
use nice_plug::context::gui::ParamSetter;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The panel's own state: the path typed per slot and a drag on the waveform.
#[derive(Default)]
pub struct ReferenceUi {
    paths: [String; SLOTS],
    synced: bool,
    drag_from: Option<f64>,
    /// A file to put into slot 1 when the panel first shows (the screenshot hook).
    demo: Option<String>,
}

fn mmss(s: f64) -> String {
    let s = s.max(0.0);
    format!("{}:{:04.1}", (s / 60.0).floor() as u64, s % 60.0)
}

fn saved(p: &MasterParams) -> Vec<SlotState> {
    let mut v = p.references.read().map(|s| s.clone()).unwrap_or_default();
    v.resize(SLOTS, SlotState::default());
    v
}

fn save(p: &MasterParams, slot: usize, state: SlotState) {
    if let Ok(mut s) = p.references.write() {
        if s.len() < SLOTS {
            s.resize(SLOTS, SlotState::default());
        }
        s[slot] = state;
    }
}

impl ReferenceUi {
    pub fn with_demo(demo: Option<String>) -> Self {
        Self {
            demo,
            ..Self::default()
        }
    }

    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        setter: &ParamSetter,
        p: &Arc<MasterParams>,
        shared: &Arc<MasterShared>,
    ) {
        let refs = &shared.references;
        refs.collect_retired();
        let slots = saved(p);
        if !self.synced {
            for (typed, s) in self.paths.iter_mut().zip(&slots) {
                typed.clone_from(&s.path);
            }
            self.synced = true;
        }
        let slot = (p.ref_slot.value().clamp(1, 4) - 1) as usize;
        let sr = f64::from(shared.sample_rate_hz.load(Ordering::Relaxed));
        if let Some(path) = self.demo.take()
            && slots[0].path.is_empty()
        {
            let state = SlotState {
                path,
                loop_start_s: 5.0,
                loop_end_s: 15.0,
            };
            self.paths[0].clone_from(&state.path);
            save(p, 0, state.clone());
            refs.load(0, state, sr);
        }
        ui.horizontal(|ui| {
            ui.label("Reference");
            for (i, saved) in slots.iter().enumerate() {
                let name = std::path::Path::new(&saved.path)
                    .file_name()
                    .map_or("empty".to_owned(), |n| n.to_string_lossy().into_owned());
                let text = format!("{} {}", i + 1, name);
                if ui.selectable_label(i == slot, text).clicked() && i != slot {
                    setter.begin_set_parameter(&p.ref_slot);
                    setter.set_parameter(&p.ref_slot, i as i32 + 1);
                    setter.end_set_parameter(&p.ref_slot);
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("File");
            ui.add(egui::TextEdit::singleline(&mut self.paths[slot]).desired_width(420.0));
            if ui.button("Load").clicked() {
                let state = SlotState {
                    path: self.paths[slot].trim().to_owned(),
                    loop_start_s: 0.0,
                    loop_end_s: 0.0,
                };
                save(p, slot, state.clone());
                refs.load(slot, state, sr);
            }
            if ui.button("Clear").clicked() {
                self.paths[slot].clear();
                save(p, slot, SlotState::default());
                refs.load(slot, SlotState::default(), sr);
            }
        });
        let gain = shared.reference_gain_db.load(Ordering::Relaxed);
        match refs.status(slot) {
            SlotStatus::Empty => {
                ui.label(
                    egui::RichText::new(
                        "Type the path of a WAV, AIFF, FLAC, MP3 or Ogg file and Load (up to 10 minutes).",
                    )
                    .color(ui_common::DIM_TEXT),
                );
            }
            SlotStatus::Loading => {
                ui.label("Loading…");
            }
            SlotStatus::Failed(why) => {
                ui.label(
                    egui::RichText::new(format!("Cannot load {}: {why}", slots[slot].path))
                        .color(ui_common::WARN),
                );
            }
            SlotStatus::Loaded {
                seconds,
                loop_start_s,
                loop_end_s,
                loop_lufs,
                overview,
                ..
            } => {
                ui.label(format!(
                    "{} long; loop {} – {} at {:.1} LUFS integrated; played at {:+.1} dB to match the master",
                    mmss(seconds),
                    mmss(loop_start_s),
                    mmss(loop_end_s),
                    loop_lufs,
                    gain
                ));
                let (rect, response) = ui.allocate_exact_size(
                    egui::vec2(ui.available_width().min(720.0), 70.0),
                    egui::Sense::click_and_drag(),
                );
                let painter = ui.painter_at(rect);
                painter.rect_filled(rect, 2.0, ui_common::PANEL);
                let x_of = |t: f64| rect.left() + (t / seconds.max(1e-9)) as f32 * rect.width();
                painter.rect_filled(
                    egui::Rect::from_x_y_ranges(
                        x_of(loop_start_s)..=x_of(loop_end_s),
                        rect.y_range(),
                    ),
                    0.0,
                    ui_common::ACCENT.gamma_multiply(0.25),
                );
                let n = overview.len().max(1);
                let (loop_a, loop_b) = (x_of(loop_start_s), x_of(loop_end_s));
                for (i, &(lo, hi)) in overview.iter().enumerate() {
                    let x = rect.left() + (i as f32 + 0.5) / n as f32 * rect.width();
                    let y = |v: f32| rect.center().y - v.clamp(-1.0, 1.0) * rect.height() * 0.45;
                    // The loop in the accent colour, the rest dimmed.
                    let colour = if (loop_a..=loop_b).contains(&x) {
                        ui_common::ACCENT
                    } else {
                        ui_common::DIM_TEXT.gamma_multiply(0.5)
                    };
                    painter.line_segment(
                        [egui::pos2(x, y(hi)), egui::pos2(x, y(lo))],
                        egui::Stroke::new(1.0, colour),
                    );
                }
                let time_at = |pos: egui::Pos2| -> f64 {
                    f64::from(((pos.x - rect.left()) / rect.width()).clamp(0.0, 1.0)) * seconds
                };
                if response.drag_started()
                    && let Some(pos) = response.interact_pointer_pos()
                {
                    self.drag_from = Some(time_at(pos));
                }
                if let (Some(from), Some(pos)) = (self.drag_from, response.interact_pointer_pos()) {
                    let to = time_at(pos);
                    painter.rect_stroke(
                        egui::Rect::from_x_y_ranges(
                            x_of(from.min(to))..=x_of(from.max(to)),
                            rect.y_range(),
                        ),
                        0.0,
                        egui::Stroke::new(1.0, ui_common::ACCENT),
                        egui::StrokeKind::Inside,
                    );
                    if response.drag_stopped() {
                        self.drag_from = None;
                        let (a, b) = (from.min(to), from.max(to));
                        if b - a >= 0.5 {
                            let mut state = slots[slot].clone();
                            state.loop_start_s = a;
                            state.loop_end_s = b;
                            save(p, slot, state);
                            refs.set_loop(slot, a, b);
                        }
                    }
                }
                ui.label(
                    egui::RichText::new(
                        "Drag across the waveform to choose the loop (0.5 s or more).",
                    )
                    .color(ui_common::DIM_TEXT),
                );
            }
        }
        ui.horizontal(|ui| {
            ui.label("Match by");
            choices(ui, setter, &p.ref_match);
            ui.add_space(12.0);
            toggle(ui, setter, &p.ref_sync, "Follow the transport");
        });
        ui.label(
            egui::RichText::new("Listen: Reference in the A/B row (crossfaded, level-matched).")
                .color(ui_common::DIM_TEXT),
        );
    }
}

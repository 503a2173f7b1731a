//! Lathe Meter's editor: loudness readouts and history, peak bars, dynamics, stereo, target
//! comparison and the QC list.

use crate::session_view::SessionView;
use crate::{HistoryPoint, MeterParams, MeterShared, TargetChoice};
use lathe_dsp::ballistics::PeakBallistics;
use lathe_dsp::level::gain_to_db;
use lathe_dsp::qc::QcEvent;
use lathe_plugin_common as ui_common;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::ResizeHint;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::Enum;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// History spans the user can pick (s).
const SPANS_S: [u32; 4] = [30, 60, 300, 600];
/// History points per second (the audio thread publishes at 10 Hz).
const HISTORY_HZ: usize = 10;
/// QC findings the editor keeps on screen.
const QC_SHOWN: usize = 200;
/// Loudness axis of the history graph (LUFS).
const GRAPH_MIN_LUFS: f32 = -48.0;
const GRAPH_MAX_LUFS: f32 = 0.0;

/// The editor's own state; lives as long as the plugin instance.
pub struct MeterEditor {
    params: Arc<MeterParams>,
    shared: Arc<MeterShared>,
    gui: Option<GuiContext>,
    sample: [PeakBallistics; 2],
    true_peak: [PeakBallistics; 2],
    /// Momentary loudness as displayed (LUFS) and its bar.
    momentary_lufs: f32,
    momentary_bar: PeakBallistics,
    /// Loudness history, newest last (allocated once for the longest span).
    history: VecDeque<HistoryPoint>,
    /// Index into [`SPANS_S`].
    span: usize,
    /// QC findings, newest last.
    qc: VecDeque<QcEvent>,
    /// Which tab is shown.
    tab: Tab,
    /// The Session tab.
    session: SessionView,
}

/// The editor's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    /// This track's meters.
    Meter,
    /// Every meter of the session group.
    Session,
}

pub fn create(
    params: Arc<MeterParams>,
    shared: Arc<MeterShared>,
    state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
) -> Option<EguiEditor<MeterEditor>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Lathe Meter")
        .with_resize_hint(
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(480.0, 560.0)),
        );
    let longest = SPANS_S[SPANS_S.len() - 1] as usize * HISTORY_HZ;
    create_egui_editor(
        state,
        repaint,
        settings,
        MeterEditor {
            params,
            shared,
            gui: None,
            sample: Default::default(),
            true_peak: Default::default(),
            momentary_lufs: f32::NEG_INFINITY,
            momentary_bar: PeakBallistics::default(),
            history: VecDeque::with_capacity(longest),
            span: 0,
            qc: VecDeque::with_capacity(QC_SHOWN),
            tab: Tab::Meter,
            session: SessionView::default(),
        },
    )
}

fn fmt(v: f32, unit: &str) -> String {
    ui_common::format_db(f64::from(v), unit)
}

fn fmt_time(s: f64) -> String {
    let m = (s / 60.0).floor();
    format!("{:02}:{:06.3}", m as u32, s - m * 60.0)
}

impl MeterEditor {
    fn drain(&mut self, dt: f32) {
        let s = &self.shared;
        if s.was_reset.swap(false, Ordering::Acquire) {
            self.history.clear();
            self.qc.clear();
            self.momentary_lufs = f32::NEG_INFINITY;
        }
        for ch in 0..2 {
            self.sample[ch].update(s.sample_peak[ch].take(), dt);
            self.true_peak[ch].update(s.true_peak[ch].take(), dt);
        }
        let m = s.take_momentary();
        // A read with no new audio keeps the last value instead of dropping to -inf.
        if m > f32::NEG_INFINITY {
            self.momentary_lufs = m;
        }
        // Momentary loudness on a bar: LUFS shown like dB, with the same ballistics.
        self.momentary_bar
            .update(10f32.powf(self.momentary_lufs.max(-200.0) / 20.0), dt);
        let cap = self.history.capacity();
        while let Some(p) = s.history.pop() {
            if self.history.len() == cap {
                self.history.pop_front();
            }
            self.history.push_back(p);
        }
        while let Some(e) = s.qc.pop() {
            if self.qc.len() == QC_SHOWN {
                self.qc.pop_front();
            }
            self.qc.push_back(e);
        }
    }

    fn history_graph(&self, ui: &mut egui::Ui, target_lufs: Option<f64>) {
        let width = ui.available_width();
        let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 150.0), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 3.0, ui_common::PANEL);
        let y_of = |lufs: f32| {
            let t = ((lufs - GRAPH_MIN_LUFS) / (GRAPH_MAX_LUFS - GRAPH_MIN_LUFS)).clamp(0.0, 1.0);
            rect.bottom() - t * rect.height()
        };
        for l in [-40.0f32, -30.0, -20.0, -10.0] {
            let y = y_of(l);
            painter.line_segment(
                [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
                egui::Stroke::new(1.0, ui_common::DIM_TEXT.gamma_multiply(0.25)),
            );
            painter.text(
                egui::pos2(rect.left() + 4.0, y - 1.0),
                egui::Align2::LEFT_BOTTOM,
                format!("{l}"),
                egui::FontId::monospace(10.0),
                ui_common::DIM_TEXT,
            );
        }
        if let Some(t) = target_lufs {
            let y = y_of(t as f32);
            painter.add(egui::Shape::dashed_line(
                &[egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
                egui::Stroke::new(1.5, ui_common::WARN),
                6.0,
                4.0,
            ));
        }
        let points = SPANS_S[self.span] as usize * HISTORY_HZ;
        let start = self.history.len().saturating_sub(points);
        let dx = rect.width() / points as f32;
        let x0 = rect.right() - (self.history.len() - start) as f32 * dx;
        for (pick, colour, width) in [
            (0usize, ui_common::DIM_TEXT, 1.0f32),
            (1, ui_common::ACCENT, 2.0),
        ] {
            let line: Vec<egui::Pos2> = self
                .history
                .range(start..)
                .enumerate()
                .map(|(i, p)| {
                    let v = if pick == 0 {
                        p.momentary_lufs
                    } else {
                        p.short_term_lufs
                    };
                    egui::pos2(x0 + i as f32 * dx, y_of(v.max(GRAPH_MIN_LUFS - 1.0)))
                })
                .collect();
            if line.len() > 1 {
                painter.add(egui::Shape::line(line, egui::Stroke::new(width, colour)));
            }
        }
    }

    fn correlation_bar(ui: &mut egui::Ui, corr: f32) {
        ui.horizontal(|ui| {
            ui.add_sized([90.0, 18.0], egui::Label::new("Correlation"));
            let width = (ui.available_width() - 60.0).max(80.0);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
            let p = ui.painter_at(rect);
            p.rect_filled(rect, 2.0, ui_common::PANEL);
            let x_of = |c: f32| rect.left() + (c.clamp(-1.0, 1.0) + 1.0) / 2.0 * rect.width();
            let colour = if corr < 0.0 {
                ui_common::OVER
            } else {
                ui_common::ACCENT
            };
            let (a, b) = (x_of(0.0), x_of(corr));
            p.rect_filled(
                egui::Rect::from_min_max(
                    egui::pos2(a.min(b), rect.top() + 3.0),
                    egui::pos2(a.max(b).max(a.min(b) + 2.0), rect.bottom() - 3.0),
                ),
                1.0,
                colour,
            );
            p.line_segment(
                [egui::pos2(a, rect.top()), egui::pos2(a, rect.bottom())],
                egui::Stroke::new(1.0, ui_common::DIM_TEXT),
            );
            ui.label(egui::RichText::new(format!("{corr:+.2}")).monospace());
        });
    }
}

impl NiceEguiApp for MeterEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        ui_common::apply_theme(&egui_ctx);
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let dt = ui.input(|i| i.stable_dt);
        self.drain(dt);
        let s = self.shared.clone();
        let short_term = s.short_term_lufs.load(Ordering::Relaxed);
        let integrated = s.integrated_lufs.load(Ordering::Relaxed);
        let lra = s.loudness_range_lu.load(Ordering::Relaxed);
        let tp_l = s.true_peak_max[0].load(Ordering::Relaxed);
        let tp_r = s.true_peak_max[1].load(Ordering::Relaxed);
        let tp_max = gain_to_db(tp_l.max(tp_r));
        let plr = tp_max - integrated;
        let psr = s.psr_db.load(Ordering::Relaxed);
        let stereo = s.channels.load(Ordering::Relaxed) > 1;
        let choice = self.params.meter.target.value();
        let target = choice.target();
        let verdict = target.judge(f64::from(integrated), f64::from(tp_max));

        egui::Frame::new()
            .fill(ui_common::BACKGROUND)
            .inner_margin(egui::Margin::same(14))
            .show(ui, |ui| {
                ui.set_min_size(ui.available_size());
                ui.horizontal(|ui| {
                    ui_common::title(ui, "Lathe Meter", "loudness, peaks, stereo");
                    ui.add_space(12.0);
                    ui.selectable_value(&mut self.tab, Tab::Meter, "Meter");
                    ui.selectable_value(&mut self.tab, Tab::Session, "Session");
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.button("Reset").clicked() {
                            s.reset_requested.store(true, Ordering::Release);
                            self.sample = Default::default();
                            self.true_peak = Default::default();
                        }
                        if let Some(gui) = &self.gui {
                            let setter = gui.param_setter();
                            let mut on = self.params.meter.reset_on_play.value();
                            if ui.checkbox(&mut on, "Reset on play").changed() {
                                setter.begin_set_parameter(&self.params.meter.reset_on_play);
                                setter.set_parameter(&self.params.meter.reset_on_play, on);
                                setter.end_set_parameter(&self.params.meter.reset_on_play);
                            }
                        }
                    });
                });
                ui.add_space(8.0);
                if self.tab == Tab::Session {
                    self.session.ui(ui, &self.params, &s);
                    return;
                }
                let plain = egui::Color32::WHITE;
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 22.0;
                    ui_common::readout(ui, "Momentary", &fmt(self.momentary_lufs, "LUFS"), plain);
                    ui_common::readout(ui, "Short-term", &fmt(short_term, "LUFS"), plain);
                    ui_common::readout(
                        ui,
                        "Integrated",
                        &fmt(integrated, "LUFS"),
                        ui_common::ACCENT,
                    );
                    ui_common::readout(ui, "Range", &fmt(lra, "LU"), plain);
                });
                ui.add_space(4.0);
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 22.0;
                    let over = tp_max > target.true_peak_max_dbtp as f32;
                    let tp_colour = if over { ui_common::OVER } else { plain };
                    ui_common::readout(ui, "True peak max", &fmt(tp_max, "dBTP"), tp_colour);
                    let per_channel = if stereo {
                        format!(
                            "{:+.1} / {:+.1}",
                            gain_to_db(tp_l).max(-99.9),
                            gain_to_db(tp_r).max(-99.9)
                        )
                    } else {
                        format!("{:+.1}", gain_to_db(tp_l).max(-99.9))
                    };
                    ui_common::readout(ui, "TP hold L / R", &per_channel, plain);
                    ui_common::readout(ui, "PLR", &fmt(plr, "dB"), plain);
                    ui_common::readout(ui, "PSR", &fmt(psr, "dB"), plain);
                });
                ui.add_space(8.0);

                // Target comparison.
                ui.horizontal(|ui| {
                    ui.label("Target");
                    if let Some(gui) = &self.gui {
                        let setter = gui.param_setter();
                        let names = TargetChoice::variants();
                        let mut picked = choice as usize;
                        egui::ComboBox::from_id_salt("target")
                            .selected_text(names[picked])
                            .show_ui(ui, |ui| {
                                for (i, name) in names.iter().enumerate() {
                                    ui.selectable_value(&mut picked, i, *name);
                                }
                            });
                        if picked != choice as usize {
                            setter.begin_set_parameter(&self.params.meter.target);
                            setter.set_parameter(
                                &self.params.meter.target,
                                TargetChoice::from_index(picked),
                            );
                            setter.end_set_parameter(&self.params.meter.target);
                        }
                    }
                    let text = if integrated.is_finite() {
                        let dist = match target.integrated_lufs {
                            Some(_) => format!("{:+.1} LU from target · ", verdict.distance_lu),
                            None => String::new(),
                        };
                        format!("{dist}{}", target.describe(&verdict))
                    } else {
                        "waiting for audio".to_owned()
                    };
                    let colour = if verdict.loudness_ok && verdict.true_peak_ok {
                        ui_common::ACCENT
                    } else {
                        ui_common::WARN
                    };
                    ui.label(egui::RichText::new(text).color(colour));
                });
                ui.add_space(6.0);

                // History.
                ui.horizontal(|ui| {
                    ui.label(
                        egui::RichText::new("History: momentary (grey), short-term (green)")
                            .color(ui_common::DIM_TEXT),
                    );
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        for (i, span) in SPANS_S.iter().enumerate().rev() {
                            let label = if *span < 60 {
                                format!("{span} s")
                            } else {
                                format!("{} min", span / 60)
                            };
                            ui.selectable_value(&mut self.span, i, label);
                        }
                    });
                });
                self.history_graph(ui, target.integrated_lufs);
                ui.add_space(8.0);

                // Bars.
                ui.label(egui::RichText::new("Momentary (LUFS)").color(ui_common::DIM_TEXT));
                ui_common::meter_bar(ui, "M", &self.momentary_bar);
                ui.label(
                    egui::RichText::new("Sample peak / true peak (dB)").color(ui_common::DIM_TEXT),
                );
                ui_common::meter_bar(ui, "L", &self.sample[0]);
                if stereo {
                    ui_common::meter_bar(ui, "R", &self.sample[1]);
                }
                ui_common::meter_bar(ui, "TP L", &self.true_peak[0]);
                if stereo {
                    ui_common::meter_bar(ui, "TP R", &self.true_peak[1]);
                }
                ui_common::meter_scale(ui);
                ui.add_space(6.0);

                // Stereo.
                if stereo {
                    Self::correlation_bar(ui, s.correlation.load(Ordering::Relaxed));
                    ui.label(format!(
                        "Balance L-R {:+.1} LU · mono sum {}",
                        s.balance_lu.load(Ordering::Relaxed),
                        fmt(s.mono_loss_lu.load(Ordering::Relaxed), "LU"),
                    ));
                    ui.add_space(6.0);
                }

                // QC.
                ui.horizontal(|ui| {
                    ui.label(
                        egui::RichText::new(format!("QC findings ({})", self.qc.len()))
                            .color(ui_common::DIM_TEXT),
                    );
                    if let Some(gui) = &self.gui {
                        ui.add_space(12.0);
                        ui.label(egui::RichText::new("Click threshold").color(ui_common::DIM_TEXT))
                            .on_hover_text(
                                "How far a click must stand out (dB): lower finds quieter \
                                 clicks and reports more of the music's own sharp onsets",
                            );
                        let setter = gui.param_setter();
                        ui.add(
                            ParamSlider::for_param(&self.params.meter.click_threshold, &setter)
                                .with_width(90.0),
                        );
                    }
                });
                egui::ScrollArea::vertical()
                    .max_height(ui.available_height().max(60.0))
                    .stick_to_bottom(true)
                    .show(ui, |ui| {
                        if self.qc.is_empty() {
                            ui.label(
                                egui::RichText::new("nothing found").color(ui_common::DIM_TEXT),
                            );
                        }
                        for e in &self.qc {
                            let ch = e.channel.map_or(String::new(), |c| format!(" ch{}", c + 1));
                            ui.label(
                                egui::RichText::new(format!(
                                    "{}  {}{ch}  {:.2} s  ({:.2})",
                                    fmt_time(e.start_s),
                                    e.kind.name(),
                                    e.duration_s,
                                    e.value
                                ))
                                .monospace(),
                            );
                        }
                    });
            });
        ui.ctx().request_repaint();
    }

    fn track_info_changed(&mut self, info: nice_plug::prelude::TrackInfo) {
        let colour = info.color().map(|c| {
            let (r, g, b, a) = c.rgba();
            // Hosts that send a colour with alpha 0 still mean the colour.
            u32::from_be_bytes([r, g, b, a.max(1)])
        });
        if let Ok(mut track) = self.shared.session.track.lock() {
            *track = (info.name().to_owned(), colour);
        }
        self.shared.session.relabel(&self.params);
    }
}

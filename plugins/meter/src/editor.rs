//! Lathe Meter's editor: loudness readouts, sample and true peak bars, reset.

use crate::MeterShared;
use lathe_dsp::ballistics::PeakBallistics;
use lathe_dsp::level::gain_to_db;
use lathe_plugin_common as ui_common;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::ResizeHint;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The editor's own state; lives as long as the plugin instance.
pub struct MeterEditor {
    shared: Arc<MeterShared>,
    sample: [PeakBallistics; 2],
    true_peak: [PeakBallistics; 2],
    /// Momentary loudness as displayed (LUFS), held between reads.
    momentary_lufs: f32,
}

pub fn create(
    shared: Arc<MeterShared>,
    state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
) -> Option<EguiEditor<MeterEditor>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Lathe Meter")
        .with_resize_hint(
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(420.0, 320.0)),
        );
    create_egui_editor(
        state,
        repaint,
        settings,
        MeterEditor {
            shared,
            sample: Default::default(),
            true_peak: Default::default(),
            momentary_lufs: f32::NEG_INFINITY,
        },
    )
}

impl NiceEguiApp for MeterEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        _gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        ui_common::apply_theme(&egui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let s = &self.shared;
        let dt = ui.input(|i| i.stable_dt);
        for ch in 0..2 {
            self.sample[ch].update(s.sample_peak[ch].take(), dt);
            self.true_peak[ch].update(s.true_peak[ch].take(), dt);
        }
        let m = s.take_momentary();
        // A read with no new audio keeps the last value instead of dropping to -inf.
        if m > f32::NEG_INFINITY {
            self.momentary_lufs = m;
        }
        let short_term = s.short_term_lufs.load(Ordering::Relaxed);
        let integrated = s.integrated_lufs.load(Ordering::Relaxed);
        let lra = s.loudness_range_lu.load(Ordering::Relaxed);
        let tp_max_lin = s.true_peak_max[0]
            .load(Ordering::Relaxed)
            .max(s.true_peak_max[1].load(Ordering::Relaxed));
        let tp_max = gain_to_db(tp_max_lin);
        let plr = tp_max - integrated;
        let stereo = s.channels.load(Ordering::Relaxed) > 1;

        egui::Frame::new()
            .fill(ui_common::BACKGROUND)
            .inner_margin(egui::Margin::same(14))
            .show(ui, |ui| {
                ui.set_min_size(ui.available_size());
                ui.horizontal(|ui| {
                    ui_common::title(ui, "Lathe Meter", "loudness and peaks");
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.button("Reset").clicked() {
                            s.reset_requested.store(true, Ordering::Release);
                            self.sample = Default::default();
                            self.true_peak = Default::default();
                            self.momentary_lufs = f32::NEG_INFINITY;
                        }
                    });
                });
                ui.add_space(10.0);
                let over = tp_max > 0.0;
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 22.0;
                    let plain = egui::Color32::WHITE;
                    ui_common::readout(ui, "Momentary", &fmt(self.momentary_lufs, "LUFS"), plain);
                    ui_common::readout(ui, "Short-term", &fmt(short_term, "LUFS"), plain);
                    ui_common::readout(
                        ui,
                        "Integrated",
                        &fmt(integrated, "LUFS"),
                        ui_common::ACCENT,
                    );
                });
                ui.add_space(6.0);
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 22.0;
                    let plain = egui::Color32::WHITE;
                    ui_common::readout(ui, "Range", &fmt(lra, "LU"), plain);
                    let tp_colour = if over { ui_common::OVER } else { plain };
                    ui_common::readout(ui, "True peak max", &fmt(tp_max, "dBTP"), tp_colour);
                    ui_common::readout(ui, "PLR", &fmt(plr, "LU"), plain);
                });
                ui.add_space(12.0);
                ui.label(egui::RichText::new("Sample peak").color(ui_common::DIM_TEXT));
                ui_common::meter_bar(ui, "L", &self.sample[0]);
                if stereo {
                    ui_common::meter_bar(ui, "R", &self.sample[1]);
                }
                ui.label(egui::RichText::new("True peak").color(ui_common::DIM_TEXT));
                ui_common::meter_bar(ui, "L", &self.true_peak[0]);
                if stereo {
                    ui_common::meter_bar(ui, "R", &self.true_peak[1]);
                }
                ui_common::meter_scale(ui);
            });
        ui.ctx().request_repaint();
    }
}

fn fmt(v: f32, unit: &str) -> String {
    ui_common::format_db(f64::from(v), unit)
}

//! Lathe Master's editor: the A/B buttons, input trim, the limiter's controls and gain
//! reduction, input and output peak meters, the latency.

use crate::{AbChoice, MasterParams, MasterShared};
use lathe_dsp::ballistics::PeakBallistics;
use lathe_plugin_common as ui_common;
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::ResizeHint;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{BoolParam, Enum, EnumParam};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A checkbox for a bool parameter, as one host gesture.
fn toggle(ui: &mut egui::Ui, setter: &ParamSetter, param: &BoolParam, label: &str) {
    let mut on = param.value();
    if ui.checkbox(&mut on, label).changed() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, on);
        setter.end_set_parameter(param);
    }
}

/// One selectable label per choice of an enum parameter.
fn choices<E: Enum + PartialEq + Copy + 'static>(
    ui: &mut egui::Ui,
    setter: &ParamSetter,
    param: &EnumParam<E>,
) {
    let current = param.value();
    for (i, name) in E::variants().iter().enumerate() {
        let choice = E::from_index(i);
        if ui.selectable_label(current == choice, *name).clicked() && current != choice {
            setter.begin_set_parameter(param);
            setter.set_parameter(param, choice);
            setter.end_set_parameter(param);
        }
    }
}

/// The editor's own state; lives as long as the plugin instance.
pub struct MasterEditor {
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    gui: Option<GuiContext>,
    input: [PeakBallistics; 2],
    output: [PeakBallistics; 2],
    /// Limiter gain reduction as displayed (dB, positive), falling back at 20 dB/s.
    gain_reduction_db: f32,
}

pub fn create(
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
) -> Option<EguiEditor<MasterEditor>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Lathe Master")
        .with_resize_hint(
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(420.0, 300.0)),
        );
    create_egui_editor(
        state,
        repaint,
        settings,
        MasterEditor {
            params,
            shared,
            gui: None,
            input: Default::default(),
            output: Default::default(),
            gain_reduction_db: 0.0,
        },
    )
}

impl NiceEguiApp for MasterEditor {
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
        for ch in 0..2 {
            self.input[ch].update(self.shared.input_peak[ch].take(), dt);
            self.output[ch].update(self.shared.output_peak[ch].take(), dt);
        }
        let gain = self.shared.limiter_gain.swap(1.0, Ordering::Relaxed);
        let reduction = (-lathe_dsp::level::gain_to_db(gain)).max(0.0);
        self.gain_reduction_db = reduction.max(self.gain_reduction_db - 20.0 * dt);
        let Some(gui) = self.gui.as_ref() else {
            return;
        };
        let setter = gui.param_setter();
        egui::Frame::new()
            .fill(ui_common::BACKGROUND)
            .inner_margin(egui::Margin::same(14))
            .show(ui, |ui| {
                ui.set_min_size(ui.available_size());
                ui_common::title(ui, "Lathe Master", "mastering chain");
                ui.add_space(8.0);
                // Level-matched A/B: the big control users keep reaching for.
                ui.horizontal(|ui| {
                    let current = self.params.ab.value();
                    for (i, name) in AbChoice::variants().iter().enumerate() {
                        let choice = AbChoice::from_index(i);
                        let text = egui::RichText::new(*name).size(16.0);
                        let button = egui::Button::new(text)
                            .selected(current == choice)
                            .min_size(egui::vec2(120.0, 32.0));
                        if ui.add(button).clicked() && current != choice {
                            setter.begin_set_parameter(&self.params.ab);
                            setter.set_parameter(&self.params.ab, choice);
                            setter.end_set_parameter(&self.params.ab);
                        }
                    }
                });
                // Rounded, then `+ 0.0`: tiny values must not print as "-0.0".
                let offset =
                    (self.shared.ab_offset_lu.load(Ordering::Relaxed) * 10.0).round() / 10.0 + 0.0;
                ui.label(
                    egui::RichText::new(format!(
                        "Processed is {offset:+.1} LU from the input; bypass plays the input {offset:+.1} LU to match"
                    ))
                    .color(ui_common::DIM_TEXT),
                );
                ui.add_space(8.0);
                egui::Grid::new("controls")
                    .num_columns(2)
                    .spacing([12.0, 8.0])
                    .show(ui, |ui| {
                        ui.label("Input Gain");
                        ui.add(ParamSlider::for_param(&self.params.input_gain_db, &setter));
                        ui.end_row();
                        let p = &self.params;
                        ui.label("Low Cut");
                        ui.horizontal(|ui| choices(ui, &setter, &p.low_cut));
                        ui.end_row();
                        ui.label("Stereo");
                        ui.horizontal(|ui| {
                            toggle(ui, &setter, &p.stereo_on, "on");
                            ui.add(ParamSlider::for_param(&p.width_pct, &setter));
                        });
                        ui.end_row();
                        ui.label("Mono Bass");
                        ui.horizontal(|ui| {
                            toggle(ui, &setter, &p.mono_bass, "below");
                            ui.add(ParamSlider::for_param(&p.mono_below_hz, &setter));
                        });
                        ui.end_row();
                        ui.label("Limiter");
                        toggle(ui, &setter, &p.limiter_on, "on (off keeps the latency)");
                        ui.end_row();
                        ui.label("Drive");
                        ui.add(ParamSlider::for_param(&p.drive_db, &setter));
                        ui.end_row();
                        ui.label("Ceiling");
                        ui.add(ParamSlider::for_param(&p.ceiling_dbtp, &setter));
                        ui.end_row();
                        ui.label("Release");
                        ui.horizontal(|ui| {
                            ui.add(ParamSlider::for_param(&p.release_ms, &setter));
                            toggle(ui, &setter, &p.auto_release, "Auto");
                        });
                        ui.end_row();
                        ui.label("Lookahead");
                        ui.add(ParamSlider::for_param(&p.lookahead_ms, &setter));
                        ui.end_row();
                        ui.label("Output Gain");
                        ui.add(ParamSlider::for_param(&p.output_gain_db, &setter));
                        ui.end_row();
                        ui.label("Dither");
                        ui.horizontal(|ui| {
                            choices(ui, &setter, &p.dither);
                            toggle(ui, &setter, &p.noise_shaping, "Noise shaping");
                        });
                        ui.end_row();
                    });
                ui.add_space(12.0);
                ui.label(egui::RichText::new("Input").color(ui_common::DIM_TEXT));
                ui_common::meter_bar(ui, "L", &self.input[0]);
                ui_common::meter_bar(ui, "R", &self.input[1]);
                ui.add_space(6.0);
                ui.label(egui::RichText::new("Output").color(ui_common::DIM_TEXT));
                ui_common::meter_bar(ui, "L", &self.output[0]);
                ui_common::meter_bar(ui, "R", &self.output[1]);
                ui_common::meter_scale(ui);
                ui.add_space(8.0);
                let latency = self.shared.latency_samples.load(Ordering::Relaxed);
                ui.label(
                    egui::RichText::new(format!(
                        "Limiter gain reduction {:.1} dB · latency {latency} samples",
                        (self.gain_reduction_db * 10.0).round() / 10.0 + 0.0
                    ))
                    .color(if self.gain_reduction_db > 0.05 {
                        ui_common::WARN
                    } else {
                        ui_common::DIM_TEXT
                    }),
                );
            });
        ui.ctx().request_repaint();
    }
}

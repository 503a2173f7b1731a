//! Lathe Master's editor: presets, the A/B buttons, the loudness target with Learn, a row of
//! modules in signal-flow order (each opens its controls and graphs), input and output
//! loudness (M, S, I), true peak and peak bars, the latency.

use crate::{AbChoice, MasterParams, MasterShared};
use lathe_dsp::ballistics::PeakBallistics;
use lathe_plugin_common as ui_common;
use lathe_plugin_common::TargetChoice;
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::ResizeHint;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{BoolParam, Enum, EnumParam};
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
    create_egui_editor,
};
use std::collections::VecDeque;
use std::sync::Arc;

mod panels;
mod presets;
mod reference_panel;
use std::sync::atomic::Ordering;

/// A checkbox for a bool parameter, as one host gesture.
pub(crate) fn toggle(ui: &mut egui::Ui, setter: &ParamSetter, param: &BoolParam, label: &str) {
    let mut on = param.value();
    if ui.checkbox(&mut on, label).changed() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, on);
        setter.end_set_parameter(param);
    }
}

/// One selectable label per choice of an enum parameter.
pub(crate) fn choices<E: Enum + PartialEq + Copy + 'static>(
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

/// The modules of the chain, in signal-flow order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Module {
    Input,
    Eq,
    Comp,
    Stereo,
    Limiter,
    Output,
    Reference,
}

const MODULES: [(Module, &str); 7] = [
    (Module::Input, "Input"),
    (Module::Eq, "EQ"),
    (Module::Comp, "Compressor"),
    (Module::Stereo, "Stereo"),
    (Module::Limiter, "Limiter"),
    (Module::Output, "Output"),
    (Module::Reference, "Reference"),
];

/// A drop-down for an enum parameter, as one host gesture.
pub(crate) fn choice_box<E: Enum + PartialEq + Copy + 'static>(
    ui: &mut egui::Ui,
    setter: &ParamSetter,
    param: &EnumParam<E>,
    id: &str,
) {
    let names = E::variants();
    let current = param.value();
    let mut picked = (0..names.len())
        .find(|&i| E::from_index(i) == current)
        .unwrap_or(0);
    let before = picked;
    egui::ComboBox::from_id_salt(id)
        .selected_text(names[picked])
        .width(86.0)
        .show_ui(ui, |ui| {
            for (i, name) in names.iter().enumerate() {
                ui.selectable_value(&mut picked, i, *name);
            }
        });
    if picked != before {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, E::from_index(picked));
        setter.end_set_parameter(param);
    }
}

/// The editor's own state; lives as long as the plugin instance.
pub struct MasterEditor {
    params: Arc<MasterParams>,
    shared: Arc<MasterShared>,
    gui: Option<GuiContext>,
    input: [PeakBallistics; 2],
    output: [PeakBallistics; 2],
    module: Module,
    /// Limiter and compressor gain reduction per frame (dB, positive), oldest first.
    limiter_history: VecDeque<f32>,
    comp_history: VecDeque<f32>,
    learn: presets::LearnState,
    /// Settings file import/export: what is being done, the path typed, and the last result.
    file_action: Option<FileAction>,
    file_path: String,
    file_message: String,
    reference: reference_panel::ReferenceUi,
}

impl Drop for MasterEditor {
    fn drop(&mut self) {
        // A recording must not run on with nobody to collect it: stop it (the audio thread
        // hands the buffer back, the next Learn drains it). A search in progress is cancelled
        // and joined by its worker's Drop.
        if matches!(self.learn, presets::LearnState::Recording) {
            self.learn.stop(&self.shared);
        }
    }
}

/// Import or export of a settings file.
#[derive(Clone, Copy, PartialEq)]
enum FileAction {
    Export,
    Import,
}

/// Where settings files go by default.
fn default_settings_path() -> String {
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    format!("{home}/lathe-master.toml")
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
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(560.0, 480.0)),
        );
    // Screenshot and demo hook: open on the Reference panel with this file in slot 1 (the
    // README's screenshot is taken so; pedalboard cannot type into the editor).
    let demo_reference = std::env::var("LATHE_MASTER_REFERENCE_DEMO")
        .ok()
        .filter(|p| !p.is_empty());
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
            module: if demo_reference.is_some() {
                Module::Reference
            } else {
                Module::Eq
            },
            limiter_history: VecDeque::with_capacity(panels::HISTORY_FRAMES),
            comp_history: VecDeque::with_capacity(panels::HISTORY_FRAMES),
            learn: presets::LearnState::default(),
            file_action: None,
            file_path: default_settings_path(),
            file_message: String::new(),
            reference: reference_panel::ReferenceUi::with_demo(demo_reference),
        },
    )
}

fn push_history(history: &mut VecDeque<f32>, value: f32) {
    if history.len() == panels::HISTORY_FRAMES {
        history.pop_front();
    }
    history.push_back(value);
}

/// Whether a module is doing anything (its button is lit).
fn module_on(p: &MasterParams, m: Module) -> bool {
    match m {
        Module::Input => {
            p.input_gain_db.value() != 0.0 || p.low_cut.value() != crate::LowCutChoice::Off
        }
        Module::Eq => p.eq.on.value(),
        Module::Comp => p.comp.on.value(),
        Module::Stereo => p.stereo_on.value(),
        Module::Limiter => p.limiter_on.value(),
        Module::Output => {
            p.output_gain_db.value() != 0.0 || p.dither.value() != crate::DitherChoice::Off
        }
        Module::Reference => p.ref_listen.value(),
    }
}

/// M, S, I and true-peak readouts of one point of the chain.
fn loudness_row(ui: &mut egui::Ui, caption: &str, values: &[atomic_float::AtomicF32; 4]) {
    ui.horizontal(|ui| {
        ui.add_sized(
            [52.0, 20.0],
            egui::Label::new(egui::RichText::new(caption).color(ui_common::DIM_TEXT)),
        );
        for (i, name) in ["M", "S", "I"].iter().enumerate() {
            let v = f64::from(values[i].load(Ordering::Relaxed));
            ui.label(
                egui::RichText::new(format!(
                    "{name} {}",
                    ui_common::format_db(v, "LUFS").trim_start_matches('+')
                ))
                .monospace(),
            );
            ui.add_space(6.0);
        }
        let tp = f64::from(values[3].load(Ordering::Relaxed));
        let colour = if tp > -1.0 {
            ui_common::WARN
        } else {
            ui_common::DIM_TEXT
        };
        ui.label(
            egui::RichText::new(format!("TP {}", ui_common::format_db(tp, "dBTP")))
                .monospace()
                .color(colour),
        );
    });
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
        push_history(
            &mut self.limiter_history,
            (-lathe_dsp::level::gain_to_db(gain)).max(0.0),
        );
        push_history(
            &mut self.comp_history,
            self.shared.comp_gr_db.swap(0.0, Ordering::Relaxed),
        );
        self.reference.collect(&self.params, &self.shared);
        let Some(gui) = self.gui.clone() else {
            return;
        };
        if let Some(drive) = self.learn.poll(&self.params, &self.shared) {
            let setter = gui.param_setter();
            setter.begin_set_parameter(&self.params.drive_db);
            setter.set_parameter(&self.params.drive_db, drive);
            setter.end_set_parameter(&self.params.drive_db);
        }
        let setter = gui.param_setter();
        let p = self.params.clone();
        egui::Frame::new()
            .fill(ui_common::BACKGROUND)
            .inner_margin(egui::Margin::same(12))
            .show(ui, |ui| {
                ui.set_min_size(ui.available_size());
                egui::ScrollArea::vertical().show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui_common::title(ui, "Lathe Master", "mastering chain");
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        egui::ComboBox::from_id_salt("presets")
                            .selected_text("Presets")
                            .show_ui(ui, |ui| {
                                for preset in presets::PRESETS {
                                    let label = format!("{} ({})", preset.name, preset.description);
                                    if ui.selectable_label(false, label).clicked() {
                                        presets::apply_settings(&preset.settings(), &p, &gui);
                                    }
                                }
                                ui.separator();
                                if ui.selectable_label(false, "Export settings…").clicked() {
                                    self.file_action = Some(FileAction::Export);
                                }
                                if ui.selectable_label(false, "Import settings…").clicked() {
                                    self.file_action = Some(FileAction::Import);
                                }
                            });
                        let latency = self.shared.latency_samples.load(Ordering::Relaxed);
                        let sr = self.shared.sample_rate_hz.load(Ordering::Relaxed);
                        ui.label(
                            egui::RichText::new(format!(
                                "Latency {latency} samples ({:.1} ms)",
                                1000.0 * latency as f32 / sr.max(1.0)
                            ))
                            .color(ui_common::DIM_TEXT),
                        );
                    });
                });
                if let Some(action) = self.file_action {
                    ui.horizontal(|ui| {
                        let verb = if action == FileAction::Export { "Export to" } else { "Import from" };
                        ui.label(verb);
                        ui.add(egui::TextEdit::singleline(&mut self.file_path).desired_width(360.0));
                        if ui.button(if action == FileAction::Export { "Export" } else { "Import" }).clicked() {
                            let path = std::path::Path::new(&self.file_path);
                            let result = if action == FileAction::Export {
                                presets::export_settings(&p, path)
                            } else {
                                presets::import_settings(&p, &gui, path)
                            };
                            self.file_message = match result {
                                Ok(()) => format!("{} {}", if action == FileAction::Export { "Exported to" } else { "Imported" }, path.display()),
                                Err(e) => e,
                            };
                            self.file_action = None;
                        }
                        if ui.button("Cancel").clicked() {
                            self.file_action = None;
                        }
                    });
                }
                if !self.file_message.is_empty() {
                    ui.label(egui::RichText::new(&self.file_message).color(ui_common::DIM_TEXT));
                }
                ui.add_space(6.0);
                // Level-matched A/B: the big control users keep reaching for.
                ui.horizontal(|ui| {
                    let current = p.ab.value();
                    let reference = p.ref_listen.value();
                    for (i, name) in AbChoice::variants().iter().enumerate() {
                        let choice = AbChoice::from_index(i);
                        let text = egui::RichText::new(*name).size(16.0);
                        let button = egui::Button::new(text)
                            .selected(current == choice && !reference)
                            .min_size(egui::vec2(120.0, 30.0));
                        if ui.add(button).clicked() {
                            if reference {
                                setter.begin_set_parameter(&p.ref_listen);
                                setter.set_parameter(&p.ref_listen, false);
                                setter.end_set_parameter(&p.ref_listen);
                            }
                            if current != choice {
                                setter.begin_set_parameter(&p.ab);
                                setter.set_parameter(&p.ab, choice);
                                setter.end_set_parameter(&p.ab);
                            }
                        }
                    }
                    // The reference (Ref Listen): on top of whichever A/B choice is set.
                    let text = egui::RichText::new("Reference").size(16.0);
                    let button = egui::Button::new(text)
                        .selected(reference)
                        .min_size(egui::vec2(120.0, 30.0));
                    if ui.add(button).clicked() {
                        setter.begin_set_parameter(&p.ref_listen);
                        setter.set_parameter(&p.ref_listen, !reference);
                        setter.end_set_parameter(&p.ref_listen);
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
                ui.add_space(4.0);
                ui.horizontal(|ui| {
                    ui.label("Target");
                    let names = TargetChoice::variants();
                    let mut picked = p.target.value() as usize;
                    let before = picked;
                    egui::ComboBox::from_id_salt("target")
                        .selected_text(names[picked])
                        .show_ui(ui, |ui| {
                            for (i, name) in names.iter().enumerate() {
                                ui.selectable_value(&mut picked, i, *name);
                            }
                        });
                    if picked != before {
                        setter.begin_set_parameter(&p.target);
                        setter.set_parameter(&p.target, TargetChoice::from_index(picked));
                        setter.end_set_parameter(&p.target);
                    }
                    let recording = matches!(self.learn, presets::LearnState::Recording);
                    let label = if recording { "Stop & set drive" } else { "Learn" };
                    // Learn sets the limiter's drive: it needs the limiter on.
                    let enabled = p.limiter_on.value() && (recording || self.learn.can_start());
                    if ui.add_enabled(enabled, egui::Button::new(label)).clicked() {
                        if recording {
                            self.learn.stop(&self.shared);
                        } else {
                            self.learn.start(&self.shared);
                        }
                    }
                });
                ui.label(
                    egui::RichText::new(self.learn.status(&self.shared)).color(ui_common::DIM_TEXT),
                );
                ui.add_space(6.0);
                // The chain, in signal-flow order.
                ui.horizontal(|ui| {
                    for (i, (m, name)) in MODULES.iter().enumerate() {
                        if i > 0 {
                            ui.label(egui::RichText::new(">").color(ui_common::DIM_TEXT));
                        }
                        let mut text = egui::RichText::new(*name).size(14.0);
                        if module_on(&p, *m) {
                            text = text.color(ui_common::ACCENT);
                        }
                        let button = egui::Button::new(text)
                            .selected(self.module == *m)
                            .min_size(egui::vec2(70.0, 26.0));
                        if ui.add(button).clicked() {
                            self.module = *m;
                        }
                    }
                });
                ui.add_space(6.0);
                egui::Frame::new()
                    .fill(ui_common::PANEL.gamma_multiply(0.5))
                    .inner_margin(egui::Margin::same(8))
                    .show(ui, |ui| match self.module {
                        Module::Input => panels::input_panel(ui, &setter, &p),
                        Module::Eq => {
                            let spectra = self
                                .shared
                                .spectrum
                                .each_ref()
                                .map(|s| s.each_ref().map(|v| v.load(Ordering::Relaxed)));
                            panels::eq_panel(ui, &setter, &p, &spectra)
                        }
                        Module::Comp => panels::comp_panel(ui, &setter, &p, &self.comp_history),
                        Module::Stereo => panels::stereo_panel(ui, &setter, &p),
                        Module::Limiter => {
                            panels::limiter_panel(ui, &setter, &p, &self.limiter_history)
                        }
                        Module::Output => panels::output_panel(ui, &setter, &p),
                        Module::Reference => {
                            self.reference.show(ui, &setter, &gui, &p, &self.shared)
                        }
                    });
                ui.add_space(8.0);
                loudness_row(ui, "Input", &self.shared.input_loudness);
                ui_common::meter_bar(ui, "L", &self.input[0]);
                ui_common::meter_bar(ui, "R", &self.input[1]);
                ui.horizontal(|ui| {
                    loudness_row(ui, "Output", &self.shared.output_loudness);
                    if ui.small_button("Reset").clicked() {
                        self.shared.meters_reset.store(true, Ordering::Release);
                    }
                });
                ui_common::meter_bar(ui, "L", &self.output[0]);
                ui_common::meter_bar(ui, "R", &self.output[1]);
                ui_common::meter_scale(ui);
                });
            });
        ui.ctx().request_repaint();
    }
}

//! The module panels: each module's controls and its graphs (EQ curve, compressor transfer
//! curve, gain-reduction histories).

use super::{choice_box, choices, toggle};
use crate::{EqBandParams, EqCutParams, MasterParams};
use egui::{Color32, Pos2, Rect, Sense, Shape, Stroke, Ui, pos2, vec2};
use lathe_dsp::compressor::static_curve_db;
use lathe_dsp::eq::{self, Placement};
use lathe_dsp::spectrum::{self, Spectrum};
use lathe_plugin_common as ui_common;
use nice_plug::context::gui::ParamSetter;
use nice_plug_egui::widgets::ParamSlider;
use std::collections::VecDeque;

/// Frames of gain-reduction history kept (about 5 s at 60 frames per second).
pub const HISTORY_FRAMES: usize = 300;

fn grid_line(painter: &egui::Painter, a: Pos2, b: Pos2) {
    painter.line_segment([a, b], Stroke::new(1.0, Color32::from_gray(60)));
}

fn graph_area(ui: &mut Ui, height: f32) -> (Rect, egui::Painter) {
    let width = ui.available_width().max(200.0);
    let (rect, _) = ui.allocate_exact_size(vec2(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, ui_common::PANEL);
    (rect, painter)
}

/// The EQ's response (the analog curves it matches): mid, and side when it differs, over the
/// live spectrum before (grey) and after (filled) the EQ.
pub fn eq_curve(ui: &mut Ui, params: &MasterParams, spectra: &[[f32; spectrum::BANDS]; 2]) {
    let (rect, painter) = graph_area(ui, 140.0);
    let range_db = 18.0;
    let x_of =
        |hz: f64| rect.left() + rect.width() * ((hz / 20.0).log10() / 3.0).clamp(0.0, 1.0) as f32;
    let y_of = |db: f64| {
        rect.center().y
            - (db.clamp(-range_db * 1.2, range_db * 1.2) / range_db) as f32 * rect.height() * 0.45
    };
    for hz in [
        50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0,
    ] {
        grid_line(
            &painter,
            pos2(x_of(hz), rect.top()),
            pos2(x_of(hz), rect.bottom()),
        );
    }
    for db in [-12.0, -6.0, 0.0, 6.0, 12.0] {
        grid_line(
            &painter,
            pos2(rect.left(), y_of(db)),
            pos2(rect.right(), y_of(db)),
        );
    }
    for (hz, text) in [(100.0, "100"), (1_000.0, "1k"), (10_000.0, "10k")] {
        painter.text(
            pos2(x_of(hz) + 2.0, rect.bottom() - 2.0),
            egui::Align2::LEFT_BOTTOM,
            text,
            egui::FontId::proportional(11.0),
            ui_common::DIM_TEXT,
        );
    }
    // Spectra: 0 dBFS at the top, −90 dB at the bottom.
    let spectrum_y = |db: f32| rect.top() + rect.height() * (-db / 90.0).clamp(0.0, 1.0);
    for (which, colour) in [
        (0, Color32::from_gray(110)),
        (1, ui_common::ACCENT.gamma_multiply(0.45)),
    ] {
        let points: Vec<Pos2> = spectra[which]
            .iter()
            .enumerate()
            .map(|(b, &db)| pos2(x_of(Spectrum::band_hz(b)), spectrum_y(db)))
            .collect();
        painter.add(Shape::line(points, Stroke::new(1.0, colour)));
    }
    let bands = params.settings().eq.bands();
    let on = params.eq.on.value();
    let split = bands
        .iter()
        .any(|b| b.enabled && b.placement != Placement::Stereo);
    for (path, colour) in [(0, ui_common::ACCENT), (1, ui_common::WARN)] {
        if path == 1 && !split {
            continue;
        }
        let points: Vec<Pos2> = (0..=240)
            .map(|i| {
                let hz = 20.0 * 1000f64.powf(f64::from(i) / 240.0);
                let db = if on {
                    eq::path_response_db(&bands, path, hz)
                } else {
                    0.0
                };
                pos2(x_of(hz), y_of(db))
            })
            .collect();
        painter.add(Shape::line(points, Stroke::new(2.0, colour)));
    }
    for b in bands.iter().filter(|b| b.enabled) {
        let hz = f64::from(b.freq_hz);
        let db = if matches!(b.kind, eq::BandKind::LowCut | eq::BandKind::HighCut) {
            -3.0
        } else {
            f64::from(b.gain_db)
        };
        painter.circle_filled(pos2(x_of(hz), y_of(db)), 4.0, Color32::WHITE);
    }
    if split {
        painter.text(
            rect.right_top() + vec2(-6.0, 4.0),
            egui::Align2::RIGHT_TOP,
            "mid / side",
            egui::FontId::proportional(11.0),
            ui_common::DIM_TEXT,
        );
    }
}

/// The compressor's static curve (output vs input level, makeup included) over −60…0 dB.
pub fn comp_curve(ui: &mut Ui, params: &MasterParams) {
    let size = 150.0;
    let (rect, _) = ui.allocate_exact_size(vec2(size, size), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, ui_common::PANEL);
    let c = &params.comp;
    let to = |x_db: f64, y_db: f64| {
        pos2(
            rect.left() + rect.width() * ((x_db + 60.0) / 60.0) as f32,
            rect.bottom() - rect.height() * ((y_db + 60.0) / 60.0).clamp(0.0, 1.0) as f32,
        )
    };
    for db in [-48.0, -36.0, -24.0, -12.0] {
        grid_line(&painter, to(db, -60.0), to(db, 0.0));
        grid_line(&painter, to(-60.0, db), to(0.0, db));
    }
    painter.line_segment(
        [to(-60.0, -60.0), to(0.0, 0.0)],
        Stroke::new(1.0, Color32::from_gray(90)),
    );
    let (t, r, k, m) = (
        f64::from(c.threshold_db.value()),
        f64::from(c.ratio.value()),
        f64::from(c.knee_db.value()),
        f64::from(c.makeup_db.value()),
    );
    let points: Vec<Pos2> = (0..=120)
        .map(|i| {
            let x = -60.0 + f64::from(i) * 0.5;
            to(x, static_curve_db(x, t, r, k) + m)
        })
        .collect();
    painter.add(Shape::line(points, Stroke::new(2.0, ui_common::ACCENT)));
}

/// A gain-reduction history (newest at the right), 0 dB at the top.
pub fn gr_history(ui: &mut Ui, history: &VecDeque<f32>, range_db: f32, colour: Color32) {
    let (rect, painter) = graph_area(ui, 60.0);
    for db in [range_db / 3.0, 2.0 * range_db / 3.0] {
        let y = rect.top() + rect.height() * db / range_db;
        grid_line(&painter, pos2(rect.left(), y), pos2(rect.right(), y));
    }
    let n = history.len().max(2);
    let points: Vec<Pos2> = history
        .iter()
        .enumerate()
        .map(|(i, &gr)| {
            pos2(
                rect.left()
                    + rect.width() * (i + HISTORY_FRAMES - n) as f32 / (HISTORY_FRAMES - 1) as f32,
                rect.top() + rect.height() * (gr / range_db).clamp(0.0, 1.0),
            )
        })
        .collect();
    painter.add(Shape::line(points, Stroke::new(1.5, colour)));
    let now = history.back().copied().unwrap_or(0.0);
    painter.text(
        rect.right_top() + vec2(-6.0, 4.0),
        egui::Align2::RIGHT_TOP,
        format!("GR {:.1} dB", (now * 10.0).round() / 10.0 + 0.0),
        egui::FontId::monospace(12.0),
        ui_common::DIM_TEXT,
    );
}

fn band_row(ui: &mut Ui, setter: &ParamSetter, label: &str, b: &EqBandParams) {
    ui.label(label);
    toggle(ui, setter, &b.on, "");
    ui.add(ParamSlider::for_param(&b.freq_hz, setter).with_width(90.0));
    ui.add(ParamSlider::for_param(&b.gain_db, setter).with_width(90.0));
    ui.add(ParamSlider::for_param(&b.q, setter).with_width(70.0));
    choice_box(ui, setter, &b.placement, &format!("{label} placement"));
    ui.end_row();
}

fn cut_row(ui: &mut Ui, setter: &ParamSetter, label: &str, b: &EqCutParams) {
    ui.label(label);
    toggle(ui, setter, &b.on, "");
    ui.add(ParamSlider::for_param(&b.freq_hz, setter).with_width(90.0));
    choice_box(ui, setter, &b.slope, &format!("{label} slope"));
    ui.label("");
    choice_box(ui, setter, &b.placement, &format!("{label} placement"));
    ui.end_row();
}

/// The EQ module.
pub fn eq_panel(
    ui: &mut Ui,
    setter: &ParamSetter,
    p: &MasterParams,
    spectra: &[[f32; spectrum::BANDS]; 2],
) {
    ui.horizontal(|ui| {
        toggle(ui, setter, &p.eq.on, "EQ on");
        choices(ui, setter, &p.eq.phase);
    });
    eq_curve(ui, p, spectra);
    egui::Grid::new("eq-bands")
        .num_columns(6)
        .spacing([6.0, 4.0])
        .show(ui, |ui| {
            for h in ["Band", "On", "Freq", "Gain / Slope", "Q", "Acts on"] {
                ui.label(egui::RichText::new(h).color(ui_common::DIM_TEXT));
            }
            ui.end_row();
            let e = &p.eq;
            cut_row(ui, setter, "Low Cut", &e.low_cut);
            band_row(ui, setter, "Low Shelf", &e.low_shelf);
            band_row(ui, setter, "Bell 1", &e.bell1);
            band_row(ui, setter, "Bell 2", &e.bell2);
            band_row(ui, setter, "Bell 3", &e.bell3);
            band_row(ui, setter, "High Shelf", &e.high_shelf);
            cut_row(ui, setter, "High Cut", &e.high_cut);
        });
}

/// The compressor module.
pub fn comp_panel(ui: &mut Ui, setter: &ParamSetter, p: &MasterParams, history: &VecDeque<f32>) {
    let c = &p.comp;
    toggle(ui, setter, &c.on, "Compressor on");
    ui.horizontal(|ui| {
        comp_curve(ui, p);
        egui::Grid::new("comp")
            .num_columns(2)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (label, param) in [
                    ("Threshold", &c.threshold_db),
                    ("Ratio", &c.ratio),
                    ("Knee", &c.knee_db),
                    ("Attack", &c.attack_ms),
                    ("Release", &c.release_ms),
                    ("Link", &c.link_pct),
                    ("Mix", &c.mix_pct),
                    ("Makeup", &c.makeup_db),
                ] {
                    ui.label(label);
                    ui.add(ParamSlider::for_param(param, setter));
                    ui.end_row();
                }
                ui.label("Auto Release");
                toggle(ui, setter, &c.auto_release, "");
                ui.end_row();
                ui.label("SC High-Pass");
                ui.horizontal(|ui| {
                    toggle(ui, setter, &c.sidechain_hp, "");
                    ui.add(ParamSlider::for_param(&c.sidechain_hz, setter));
                });
                ui.end_row();
            });
    });
    gr_history(ui, history, 12.0, ui_common::WARN);
}

/// The input module: trim and DC / subsonic filter.
pub fn input_panel(ui: &mut Ui, setter: &ParamSetter, p: &MasterParams) {
    egui::Grid::new("input")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            ui.label("Input Gain");
            ui.add(ParamSlider::for_param(&p.input_gain_db, setter));
            ui.end_row();
            ui.label("Low Cut");
            ui.horizontal(|ui| choices(ui, setter, &p.low_cut));
            ui.end_row();
        });
}

/// The stereo module.
pub fn stereo_panel(ui: &mut Ui, setter: &ParamSetter, p: &MasterParams) {
    egui::Grid::new("stereo")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            ui.label("Stereo");
            toggle(ui, setter, &p.stereo_on, "on");
            ui.end_row();
            ui.label("Width");
            ui.add(ParamSlider::for_param(&p.width_pct, setter));
            ui.end_row();
            ui.label("Mono Bass");
            ui.horizontal(|ui| {
                toggle(ui, setter, &p.mono_bass, "below");
                ui.add(ParamSlider::for_param(&p.mono_below_hz, setter));
            });
            ui.end_row();
        });
}

/// The limiter module.
pub fn limiter_panel(ui: &mut Ui, setter: &ParamSetter, p: &MasterParams, history: &VecDeque<f32>) {
    egui::Grid::new("limiter")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            ui.label("Limiter");
            toggle(ui, setter, &p.limiter_on, "on (off keeps the latency)");
            ui.end_row();
            for (label, param) in [
                ("Drive", &p.drive_db),
                ("Ceiling", &p.ceiling_dbtp),
                ("Lookahead", &p.lookahead_ms),
            ] {
                ui.label(label);
                ui.add(ParamSlider::for_param(param, setter));
                ui.end_row();
            }
            ui.label("Release");
            ui.horizontal(|ui| {
                ui.add(ParamSlider::for_param(&p.release_ms, setter));
                toggle(ui, setter, &p.auto_release, "Auto");
            });
            ui.end_row();
        });
    gr_history(ui, history, 12.0, ui_common::OVER);
}

/// The output module.
pub fn output_panel(ui: &mut Ui, setter: &ParamSetter, p: &MasterParams) {
    egui::Grid::new("output")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            ui.label("Output Gain");
            ui.add(ParamSlider::for_param(&p.output_gain_db, setter));
            ui.end_row();
            ui.label("Dither");
            ui.horizontal(|ui| {
                choices(ui, setter, &p.dither);
                toggle(ui, setter, &p.noise_shaping, "Noise shaping");
            });
            ui.end_row();
        });
}

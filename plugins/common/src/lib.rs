//! Editor pieces shared by Lathe Master and Lathe Meter. Drawing only: every number shown comes
//! from `lathe-dsp` through the plugin's shared state. Also the identity and channel layouts all
//! Lathe plugins share.

pub mod state;

use nice_plug::prelude::{AudioIOLayout, Enum, NonZeroU32};

use egui::{Align2, Color32, FontId, Rect, Sense, Stroke, StrokeKind, Ui, Vec2, pos2, vec2};
use lathe_dsp::ballistics::{FLOOR_DB, PeakBallistics};

/// Vendor name every Lathe plugin reports.
pub const VENDOR: &str = "Lathe";
/// Contact address every Lathe plugin reports.
pub const EMAIL: &str = "lathe@users.noreply.github.com";

/// Delivery targets, in the order of `lathe_dsp::targets::TARGETS`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    #[id = "spotify"]
    #[name = "Spotify (-14 LUFS)"]
    Spotify,
    #[id = "apple-music"]
    #[name = "Apple Music (-16 LUFS)"]
    AppleMusic,
    #[id = "youtube"]
    #[name = "YouTube (-14 LUFS)"]
    YouTube,
    #[id = "amazon-music"]
    #[name = "Amazon Music (-14 LUFS)"]
    AmazonMusic,
    #[id = "tidal"]
    #[name = "Tidal (-14 LUFS)"]
    Tidal,
    #[id = "deezer"]
    #[name = "Deezer (-15 LUFS)"]
    Deezer,
    #[id = "ebu-r128"]
    #[name = "EBU R 128 (-23 LUFS)"]
    EbuR128,
    #[id = "atsc-a85"]
    #[name = "ATSC A/85 (-24 LKFS)"]
    AtscA85,
    #[id = "podcast"]
    #[name = "Podcast (-16 LUFS)"]
    Podcast,
    #[id = "cd"]
    #[name = "CD / club"]
    Cd,
}

impl TargetChoice {
    /// The target this choice stands for.
    pub fn target(self) -> &'static lathe_dsp::targets::Target {
        &lathe_dsp::targets::TARGETS[self as usize]
    }
}

/// Stereo in/out (the default a host picks first) and mono in/out.
pub const STEREO_AND_MONO: &[AudioIOLayout] = &[
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    },
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(1),
        main_output_channels: NonZeroU32::new(1),
        ..AudioIOLayout::const_default()
    },
];

/// Channels a layout of [`STEREO_AND_MONO`] processes (1 or 2; stereo if the host gave none).
pub fn channel_count(layout: &AudioIOLayout) -> usize {
    layout
        .main_input_channels
        .map_or(2, |c| c.get() as usize)
        .clamp(1, 2)
}

/// Background of the editor.
pub const BACKGROUND: Color32 = Color32::from_rgb(0x1c, 0x1f, 0x24);
/// Panel fill.
pub const PANEL: Color32 = Color32::from_rgb(0x26, 0x2a, 0x31);
/// Accent (headings, bars below −6 dB).
pub const ACCENT: Color32 = Color32::from_rgb(0x4f, 0xc3, 0xa1);
/// Bars between −6 and 0 dB.
pub const WARN: Color32 = Color32::from_rgb(0xe8, 0xc0, 0x4a);
/// Bars above 0 dB and over indicators.
pub const OVER: Color32 = Color32::from_rgb(0xe0, 0x52, 0x4a);
/// Secondary text.
pub const DIM_TEXT: Color32 = Color32::from_rgb(0x9a, 0xa3, 0xad);

/// Lowest level a meter bar shows, in dB.
pub const METER_MIN_DB: f32 = -60.0;
/// Highest level a meter bar shows, in dB.
pub const METER_MAX_DB: f32 = 6.0;

/// Applies the Lathe look to an egui context (dark, slightly larger text).
pub fn apply_theme(ctx: &egui::Context) {
    let mut visuals = egui::Visuals::dark();
    visuals.panel_fill = BACKGROUND;
    visuals.window_fill = PANEL;
    visuals.selection.bg_fill = ACCENT.gamma_multiply(0.6);
    ctx.set_visuals(visuals);
}

/// Formats a level for a readout: one decimal, "-inf" for silence.
pub fn format_db(db: f64, unit: &str) -> String {
    if db.is_finite() {
        // Round first, then `+ 0.0` turns −0.0 into +0.0: tiny negatives must not print "-0.0".
        format!("{:+.1} {unit}", (db * 10.0).round() / 10.0 + 0.0)
    } else {
        format!("-inf {unit}")
    }
}

/// A heading line with the plugin name and a subtitle.
pub fn title(ui: &mut Ui, name: &str, subtitle: &str) {
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(name).size(22.0).strong().color(ACCENT));
        ui.label(egui::RichText::new(subtitle).color(DIM_TEXT));
    });
}

/// A labelled numeric readout: small caption above a large value.
pub fn readout(ui: &mut Ui, caption: &str, value: &str, colour: Color32) {
    ui.vertical(|ui| {
        ui.label(egui::RichText::new(caption).size(12.0).color(DIM_TEXT));
        ui.label(
            egui::RichText::new(value)
                .size(20.0)
                .monospace()
                .color(colour),
        );
    });
}

fn db_to_x(rect: Rect, db: f32) -> f32 {
    let t = ((db - METER_MIN_DB) / (METER_MAX_DB - METER_MIN_DB)).clamp(0.0, 1.0);
    rect.left() + t * rect.width()
}

/// A horizontal peak meter bar with its hold marker and the hold value as text.
pub fn meter_bar(ui: &mut Ui, label: &str, state: &PeakBallistics) {
    ui.horizontal(|ui| {
        ui.add_sized(
            [28.0, 18.0],
            egui::Label::new(egui::RichText::new(label).monospace()),
        );
        let width = (ui.available_width() - 80.0).max(60.0);
        let (rect, _) = ui.allocate_exact_size(vec2(width, 16.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, PANEL);
        let level_x = db_to_x(rect, state.level_db);
        let segments = [
            (METER_MIN_DB, -6.0, ACCENT),
            (-6.0, 0.0, WARN),
            (0.0, METER_MAX_DB, OVER),
        ];
        for (lo, hi, colour) in segments {
            let x0 = db_to_x(rect, lo);
            let x1 = db_to_x(rect, hi).min(level_x);
            if x1 > x0 {
                painter.rect_filled(
                    Rect::from_min_max(pos2(x0, rect.top()), pos2(x1, rect.bottom())),
                    0.0,
                    colour,
                );
            }
        }
        if state.hold_db > FLOOR_DB {
            let hx = db_to_x(rect, state.hold_db);
            let colour = if state.hold_db > 0.0 {
                OVER
            } else {
                Color32::WHITE
            };
            painter.line_segment(
                [pos2(hx, rect.top()), pos2(hx, rect.bottom())],
                Stroke::new(2.0, colour),
            );
        }
        for tick in [-48.0, -36.0, -24.0, -12.0, -6.0, 0.0] {
            let x = db_to_x(rect, tick);
            painter.line_segment(
                [pos2(x, rect.bottom() - 4.0), pos2(x, rect.bottom())],
                Stroke::new(1.0, DIM_TEXT),
            );
        }
        painter.rect_stroke(
            rect,
            2.0,
            Stroke::new(1.0, DIM_TEXT.gamma_multiply(0.4)),
            StrokeKind::Inside,
        );
        let text = if state.hold_db > FLOOR_DB {
            format!("{:+.1}", state.hold_db)
        } else {
            "-inf".to_owned()
        };
        ui.label(egui::RichText::new(text).monospace());
    });
}

/// The dB scale under a column of [`meter_bar`]s.
pub fn meter_scale(ui: &mut Ui) {
    ui.horizontal(|ui| {
        ui.add_space(36.0);
        let width = (ui.available_width() - 80.0).max(60.0);
        let (rect, _) = ui.allocate_exact_size(vec2(width, 14.0), Sense::hover());
        let painter = ui.painter_at(rect.expand2(Vec2::new(12.0, 0.0)));
        for tick in [-48.0f32, -36.0, -24.0, -12.0, -6.0, 0.0] {
            painter.text(
                pos2(db_to_x(rect, tick), rect.center().y),
                Align2::CENTER_CENTER,
                format!("{tick}"),
                FontId::monospace(10.0),
                DIM_TEXT,
            );
        }
    });
}

//! The Reference panel: four slots of reference records (path, load, status), the waveform of
//! the selected one with its loop (drag across it to choose another), how the loop is
//! level-matched and whether it follows the transport. Listening is the A/B row's Reference.

use super::{choices, presets, toggle};
use crate::reference::{Psr, SLOTS, SlotState, SlotStatus, Stats, Sums};
use crate::{AnalysisChunk, MasterParams, MasterShared};
use lathe_dsp::band_spectrum::{BandAnalyzer, band_centres};
use lathe_dsp::matching::{self, Aspects, MatchOptions, Spectra};
use lathe_plugin_common as ui_common;
use nice_plug::context::gui::GuiContext;
use nice_plug::context::gui::ParamSetter;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The panel's own state: the path typed per slot, a drag on the waveform, the master's
/// long-term spectra (the EQ's input for Match, the output for the comparison) and the Match
/// choices.
pub struct ReferenceUi {
    paths: [String; SLOTS],
    synced: bool,
    drag_from: Option<f64>,
    /// A file to put into slot 1 when the panel first shows (the screenshot hook).
    demo: Option<String>,
    rate: f64,
    pre_eq: Option<BandAnalyzer>,
    output: Option<BandAnalyzer>,
    sums: Sums,
    psr: Option<Psr>,
    match_tone: bool,
    match_width: bool,
    match_loudness: bool,
    amount_pct: f32,
    limit_db: f32,
    message: String,
}

impl Default for ReferenceUi {
    fn default() -> Self {
        Self {
            paths: Default::default(),
            synced: false,
            drag_from: None,
            demo: None,
            rate: 0.0,
            pre_eq: None,
            output: None,
            sums: Sums::default(),
            psr: None,
            match_tone: true,
            match_width: true,
            match_loudness: false,
            amount_pct: 100.0,
            limit_db: 6.0,
            message: String::new(),
        }
    }
}

/// Least master audio Match and the comparison need (s).
const MIN_SECONDS: f64 = 5.0;

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

    /// Takes the audio thread's analysis chunks into the long-term spectra and hands them
    /// back (every frame, whichever panel shows).
    pub fn collect(&mut self, p: &MasterParams, shared: &Arc<MasterShared>) {
        let rate = f64::from(shared.sample_rate_hz.load(Ordering::Relaxed));
        // References: a state restored while the plugin runs is loaded from here (nice-plug
        // does not re-activate on a state load); finished loops are offered to the audio thread.
        let slots = saved(p);
        for (slot, state) in slots.into_iter().enumerate() {
            shared.references.ensure(slot, state, rate);
        }
        shared.references.flush();
        if rate != self.rate || self.pre_eq.is_none() {
            self.rate = rate;
            self.restart();
            // The chunks in circulation (allocated here, on the editor's thread).
            while shared.analysis_empty.len() + shared.analysis_full.len()
                < crate::ANALYSIS_CHUNKS / 2
            {
                if shared
                    .analysis_empty
                    .push(Box::new(AnalysisChunk::default()))
                    .is_err()
                {
                    break;
                }
            }
        }
        while let Some(chunk) = shared.analysis_full.pop() {
            let n = chunk.frames;
            if let (Some(pre), Some(out)) = (self.pre_eq.as_mut(), self.output.as_mut()) {
                pre.push(&chunk.pre_eq[0][..n], &chunk.pre_eq[1][..n]);
                out.push(&chunk.output[0][..n], &chunk.output[1][..n]);
                self.sums.add(&chunk.output[0][..n], &chunk.output[1][..n]);
                if let Some(psr) = self.psr.as_mut() {
                    psr.add(&chunk.output[0][..n], &chunk.output[1][..n]);
                }
            }
            let _ = shared.analysis_empty.push(chunk);
        }
    }

    fn restart(&mut self) {
        self.pre_eq = Some(BandAnalyzer::new(self.rate.max(8_000.0)));
        self.output = Some(BandAnalyzer::new(self.rate.max(8_000.0)));
        self.sums = Sums::default();
        self.psr = Some(Psr::new(self.rate.max(8_000.0)));
    }

    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        setter: &ParamSetter,
        gui: &GuiContext,
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
                let played = if gain > -100.0 {
                    format!("played at {gain:+.1} dB to match the master")
                } else {
                    "silent until the master's loudness is known".to_owned()
                };
                ui.label(format!(
                    "{} long; loop {} – {} at {:.1} LUFS integrated; {played}",
                    mmss(seconds),
                    mmss(loop_start_s),
                    mmss(loop_end_s),
                    loop_lufs,
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
        ui.separator();
        self.comparison(ui, gui, p, shared, slot);
    }

    /// The loaded references' measures (for Match: all of them, averaged).
    fn loaded(shared: &MasterShared) -> Vec<Arc<Stats>> {
        (0..SLOTS)
            .filter_map(|i| match shared.references.status(i) {
                SlotStatus::Loaded { stats, .. } => Some(stats),
                _ => None,
            })
            .collect()
    }

    fn comparison(
        &mut self,
        ui: &mut egui::Ui,
        gui: &GuiContext,
        p: &Arc<MasterParams>,
        shared: &Arc<MasterShared>,
        slot: usize,
    ) {
        let seconds = self.output.as_ref().map_or(0.0, BandAnalyzer::seconds);
        let master_out = self.output.as_ref().and_then(BandAnalyzer::result);
        let reference = match shared.references.status(slot) {
            SlotStatus::Loaded { stats, .. } => Some(stats),
            _ => None,
        };
        let master_lufs = f64::from(shared.output_loudness[2].load(Ordering::Relaxed));
        ui.horizontal(|ui| {
            ui.label(format!("Comparison: master output over {seconds:.0} s, level-matched by integrated loudness"));
            if ui.small_button("Restart").clicked() {
                self.restart();
            }
        });
        // The difference curves: reference − master, mid and side, per 1/3 octave.
        let (rect, _) = ui.allocate_exact_size(
            egui::vec2(ui.available_width().min(720.0), 120.0),
            egui::Sense::hover(),
        );
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, ui_common::PANEL);
        let x_of = |hz: f64| {
            rect.left() + ((hz / 20.0).log10() / 3.0).clamp(0.0, 1.0) as f32 * rect.width()
        };
        let y_of = |db: f64| {
            rect.center().y - (db.clamp(-12.0, 12.0) / 12.0) as f32 * rect.height() * 0.45
        };
        for db in [-6.0, 0.0, 6.0] {
            painter.line_segment(
                [
                    egui::pos2(rect.left(), y_of(db)),
                    egui::pos2(rect.right(), y_of(db)),
                ],
                egui::Stroke::new(
                    if db == 0.0 { 1.0 } else { 0.5 },
                    ui_common::DIM_TEXT.gamma_multiply(0.4),
                ),
            );
        }
        for (hz, label) in [(100.0, "100"), (1_000.0, "1k"), (10_000.0, "10k")] {
            painter.text(
                egui::pos2(x_of(hz), rect.bottom() - 2.0),
                egui::Align2::CENTER_BOTTOM,
                label,
                egui::FontId::proportional(10.0),
                ui_common::DIM_TEXT,
            );
        }
        let ready = seconds >= MIN_SECONDS && master_lufs.is_finite();
        if let (Some(m), Some(r), true) = (&master_out, &reference, ready) {
            let offset = 10f64.powf((master_lufs - r.integrated_lufs) / 10.0);
            let centres = band_centres();
            for (values, theirs, colour) in [
                (&m.mid, &r.spectra.mid, ui_common::ACCENT),
                (&m.side, &r.spectra.side, ui_common::WARN),
            ] {
                let points: Vec<egui::Pos2> = centres
                    .iter()
                    .zip(values.iter().zip(theirs.iter()))
                    .filter(|(_, (a, b))| **a > 0.0 && **b > 0.0)
                    .map(|(&hz, (&a, &b))| {
                        egui::pos2(x_of(hz), y_of(10.0 * (b * offset / a).log10()))
                    })
                    .collect();
                painter.add(egui::Shape::line(points, egui::Stroke::new(1.5, colour)));
            }
            painter.text(
                rect.left_top() + egui::vec2(4.0, 2.0),
                egui::Align2::LEFT_TOP,
                "reference − master (dB, ±12): mid",
                egui::FontId::proportional(11.0),
                ui_common::ACCENT,
            );
            painter.text(
                rect.left_top() + egui::vec2(200.0, 2.0),
                egui::Align2::LEFT_TOP,
                "side",
                egui::FontId::proportional(11.0),
                ui_common::WARN,
            );
        } else {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                format!("Play at least {MIN_SECONDS:.0} s of the master with a reference loaded"),
                egui::FontId::proportional(12.0),
                ui_common::DIM_TEXT,
            );
        }
        // The spectra themselves (mid, level-matched), relative to the loudest band.
        if let (Some(m), Some(r), true) = (&master_out, &reference, ready) {
            let (rect, _) = ui.allocate_exact_size(
                egui::vec2(ui.available_width().min(720.0), 90.0),
                egui::Sense::hover(),
            );
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 2.0, ui_common::PANEL);
            let offset = 10f64.powf((master_lufs - r.integrated_lufs) / 10.0);
            let theirs: Vec<f64> = r.spectra.mid.iter().map(|p| p * offset).collect();
            let top = m.mid.iter().chain(&theirs).copied().fold(1e-30, f64::max);
            let y_of = |p: f64| {
                let db = (10.0 * (p / top).max(1e-12).log10()).clamp(-70.0, 0.0);
                rect.top() + 4.0 + (-db / 70.0) as f32 * (rect.height() - 8.0)
            };
            let centres = band_centres();
            for (values, colour) in [(&m.mid, ui_common::ACCENT), (&theirs, ui_common::DIM_TEXT)] {
                let points: Vec<egui::Pos2> = centres
                    .iter()
                    .zip(values.iter())
                    .filter(|(_, p)| **p > 0.0)
                    .map(|(&hz, &p)| egui::pos2(x_of(hz), y_of(p)))
                    .collect();
                painter.add(egui::Shape::line(points, egui::Stroke::new(1.5, colour)));
            }
            painter.text(
                rect.left_top() + egui::vec2(4.0, 2.0),
                egui::Align2::LEFT_TOP,
                "1/3-octave mid spectra, level-matched (70 dB): master",
                egui::FontId::proportional(11.0),
                ui_common::ACCENT,
            );
            painter.text(
                rect.left_top() + egui::vec2(300.0, 2.0),
                egui::Align2::LEFT_TOP,
                "reference",
                egui::FontId::proportional(11.0),
                ui_common::DIM_TEXT,
            );
        }
        // Side by side.
        let master_stats = master_out.as_ref().map(|spectra| Stats {
            integrated_lufs: master_lufs,
            loudness_range_lu: f64::from(shared.output_range[0].load(Ordering::Relaxed)),
            short_term_max_lufs: f64::from(shared.output_range[1].load(Ordering::Relaxed)),
            true_peak_dbtp: f64::from(shared.output_loudness[3].load(Ordering::Relaxed)),
            crest_db: self.sums.crest_db(),
            correlation: self.sums.correlation(),
            spectra: spectra.clone(),
            psr_db: self.psr.as_ref().map_or([f64::NAN; 3], Psr::percentiles),
        });
        egui::Grid::new("compare-table")
            .striped(true)
            .show(ui, |ui| {
                ui.label("");
                ui.label("Master");
                ui.label("Reference");
                ui.end_row();
                let row = |ui: &mut egui::Ui, name: &str, f: &dyn Fn(&Stats) -> String| {
                    ui.label(name);
                    ui.label(master_stats.as_ref().map_or("–".into(), f));
                    ui.label(reference.as_deref().map_or("–".into(), f));
                    ui.end_row();
                };
                let num = |v: f64, unit: &str| {
                    if v.is_finite() {
                        format!("{v:.1} {unit}")
                    } else {
                        "–".into()
                    }
                };
                row(ui, "Integrated", &|s| num(s.integrated_lufs, "LUFS"));
                row(ui, "Loudness range", &|s| num(s.loudness_range_lu, "LU"));
                row(ui, "Max short-term", &|s| {
                    num(s.short_term_max_lufs, "LUFS")
                });
                row(ui, "PLR", &|s| num(s.plr_db(), "dB"));
                row(ui, "Crest factor", &|s| num(s.crest_db, "dB"));
                row(ui, "PSR 10 / 50 / 90 %", &|s| {
                    if s.psr_db[1].is_finite() {
                        format!(
                            "{:.1} / {:.1} / {:.1} dB",
                            s.psr_db[0], s.psr_db[1], s.psr_db[2]
                        )
                    } else {
                        "–".into()
                    }
                });
                row(ui, "Correlation", &|s| format!("{:.2}", s.correlation));
                row(ui, "Width low/low-mid/mid/high", &|s| {
                    s.spectra
                        .width
                        .iter()
                        .map(|w| format!("{w:.2}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                });
                row(ui, "Low end mono-ness (<150 Hz)", &|s| {
                    s.spectra
                        .width
                        .first()
                        .map_or("–".into(), |w| format!("{:.0} %", 100.0 / (1.0 + w)))
                });
            });
        // Match.
        let refs = Self::loaded(shared);
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.match_tone, "Tone");
            ui.checkbox(&mut self.match_width, "Width");
            ui.checkbox(&mut self.match_loudness, "Loudness");
            ui.add(
                egui::Slider::new(&mut self.amount_pct, 0.0..=100.0)
                    .text("Amount %")
                    .integer(),
            );
            ui.add(egui::Slider::new(&mut self.limit_db, 1.0..=12.0).text("±dB per band"));
        });
        let what = match refs.len() {
            0 => "Match".to_owned(),
            1 => "Match to the reference".to_owned(),
            n => format!("Match to the average of {n} references"),
        };
        let can = !refs.is_empty()
            && ready
            && (self.match_tone || self.match_width || self.match_loudness);
        if ui.add_enabled(can, egui::Button::new(what)).clicked() {
            self.message = self.apply_match(gui, p, &refs, master_lufs);
        }
        if !self.message.is_empty() {
            ui.label(egui::RichText::new(&self.message).color(ui_common::DIM_TEXT));
        }
    }

    /// Fits the EQ and width to the references (the EQ's input against their average), moves
    /// the drive by the loudness difference, and sets the parameters (recorded by the host).
    fn apply_match(
        &mut self,
        gui: &GuiContext,
        p: &MasterParams,
        refs: &[Arc<Stats>],
        master_lufs: f64,
    ) -> String {
        let Some(mix) = self.pre_eq.as_ref().and_then(BandAnalyzer::result) else {
            return "Play the master first".into();
        };
        let old = p.settings();
        let mut new = old;
        let mut said = Vec::new();
        if self.match_tone || self.match_width {
            // Each reference at 0 LUFS before averaging: the match is of shape, not level.
            let average = |pick: &dyn Fn(&Stats) -> &Vec<f64>| -> Vec<f64> {
                (0..band_centres().len())
                    .map(|k| {
                        refs.iter()
                            .map(|r| {
                                pick(r).get(k).copied().unwrap_or(0.0)
                                    * 10f64.powf(-r.integrated_lufs / 10.0)
                            })
                            .sum::<f64>()
                            / refs.len() as f64
                    })
                    .collect()
            };
            let (mut ref_mid, mut ref_side) =
                (average(&|s| &s.spectra.mid), average(&|s| &s.spectra.side));
            // At the mix's level (its total power), so the fit's weighting of quiet bands
            // sees both alike.
            let total = |a: &[f64], b: &[f64]| a.iter().chain(b).sum::<f64>();
            let (mix_total, ref_total) = (total(&mix.mid, &mix.side), total(&ref_mid, &ref_side));
            if mix_total > 0.0 && ref_total > 0.0 {
                let k = mix_total / ref_total;
                ref_mid
                    .iter_mut()
                    .chain(ref_side.iter_mut())
                    .for_each(|x| *x *= k);
            }
            let centres = band_centres();
            let fit = matching::fit(
                &Spectra {
                    centres_hz: &centres,
                    mix_mid: &mix.mid,
                    mix_side: &mix.side,
                    ref_mid: &ref_mid,
                    ref_side: &ref_side,
                    mix_mid_fifths: &mix.mid_fifths,
                    mix_side_fifths: &mix.side_fifths,
                },
                &old.eq,
                &MatchOptions {
                    aspects: Aspects {
                        tone: self.match_tone,
                        width: self.match_width,
                    },
                    amount: f64::from(self.amount_pct) / 100.0,
                    limit_db: f64::from(self.limit_db),
                },
            );
            new.eq = fit.eq;
            if let Some(w) = fit.width_pct {
                new.stereo.on = true;
                new.stereo.width_pct = w;
                said.push(format!("width {w:.0} %"));
            }
            let worst =
                |v: &[Option<f64>]| matching::largest_from_40_hz_to_16_khz(v).unwrap_or(0.0);
            said.push(format!(
                "EQ bands set; left unmatched at most {:.1} dB mid, {:.1} dB side",
                worst(&fit.residual_mid_db),
                worst(&fit.residual_side_db)
            ));
        }
        if self.match_loudness {
            let want = refs.iter().map(|r| r.integrated_lufs).sum::<f64>() / refs.len() as f64;
            if !old.limiter.on {
                said.push("loudness: the limiter is off (the drive is its)".into());
            } else {
                let step = (want - master_lufs) as f32;
                new.limiter.drive_db = (old.limiter.drive_db + step).clamp(0.0, 24.0);
                said.push(format!(
                    "drive {:+.1} dB toward {want:.1} LUFS (play on and match again to refine)",
                    new.limiter.drive_db - old.limiter.drive_db
                ));
            }
        }
        presets::apply_changes(&old, &new, p, gui);
        said.join("; ")
    }
}

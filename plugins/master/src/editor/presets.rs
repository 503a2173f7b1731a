//! Factory presets and the Learn workflow (editor side).

use crate::{LEARN_MAX_FRAMES, LearnBuffer, MasterParams, MasterShared, learn_target_lufs};
use lathe_dsp::learn::{LearnSettings, Learned, drive_for_target};
use lathe_plugin_common::TargetChoice;
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::prelude::{Param, Params};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A factory preset: every parameter goes back to its default, then these settings apply.
pub struct Preset {
    /// Name in the menu.
    pub name: &'static str,
    apply: fn(&MasterParams, &ParamSetter),
}

fn set<P: Param>(setter: &ParamSetter, param: &P, value: P::Plain) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
}

fn delivery(p: &MasterParams, s: &ParamSetter, target: TargetChoice, ceiling: f32) {
    set(s, &p.target, target);
    set(s, &p.ceiling_dbtp, ceiling);
    set(s, &p.limiter_on, true);
}

/// The factory presets, in menu order.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "Streaming (-14 LUFS, -1 dBTP)",
        apply: |p, s| delivery(p, s, TargetChoice::Spotify, -1.0),
    },
    Preset {
        name: "Apple Music (-16 LUFS, -1 dBTP)",
        apply: |p, s| delivery(p, s, TargetChoice::AppleMusic, -1.0),
    },
    Preset {
        name: "Loud CD (-9 LUFS, -0.3 dBTP, 16-bit dither)",
        apply: |p, s| {
            delivery(p, s, TargetChoice::Cd, -0.3);
            set(s, &p.dither, crate::DitherChoice::Bits16);
            set(s, &p.noise_shaping, true);
        },
    },
    Preset {
        name: "EBU R128 (-23 LUFS, -1 dBTP)",
        apply: |p, s| delivery(p, s, TargetChoice::EbuR128, -1.0),
    },
    Preset {
        name: "Podcast (-16 LUFS, -1 dBTP)",
        apply: |p, s| delivery(p, s, TargetChoice::Podcast, -1.0),
    },
    Preset {
        name: "Vinyl pre-master (mono bass, no brickwall)",
        apply: |p, s| {
            set(s, &p.low_cut, crate::LowCutChoice::Sub20);
            set(s, &p.mono_bass, true);
            set(s, &p.mono_below_hz, 150.0);
            set(s, &p.limiter_on, false);
            set(s, &p.eq.high_cut.on, true);
            set(s, &p.eq.high_cut.freq_hz, 18_000.0);
        },
    },
    Preset {
        name: "Glue only",
        apply: |p, s| {
            set(s, &p.comp.on, true);
            set(s, &p.comp.threshold_db, -20.0);
            set(s, &p.comp.ratio, 2.0);
            set(s, &p.comp.attack_ms, 30.0);
            set(s, &p.comp.auto_release, true);
            set(s, &p.comp.mix_pct, 100.0);
            set(s, &p.limiter_on, false);
        },
    },
];

/// Applies a preset: all parameters to their defaults, then the preset's own settings, each as
/// one host gesture.
pub fn apply(preset: &Preset, params: &MasterParams, gui: &GuiContext) {
    for (_, ptr, _) in params.param_map() {
        // SAFETY: the pointers come from our own params object, which outlives the editor.
        unsafe {
            gui.raw_begin_set_parameter(ptr);
            gui.raw_set_parameter_normalized(ptr, ptr.default_normalized_value());
            gui.raw_end_set_parameter(ptr);
        }
    }
    (preset.apply)(params, &gui.param_setter());
}

/// Where Learn is.
#[derive(Default)]
pub enum LearnState {
    /// Not learning.
    #[default]
    Idle,
    /// The audio thread is recording the passage.
    Recording,
    /// Waiting for the audio thread to hand the recording back.
    Stopping,
    /// A worker thread searches for the drive.
    Computing(Arc<Mutex<Option<Option<Learned>>>>),
    /// The last result, for the status line.
    Done(Option<Learned>, f64),
}

impl LearnState {
    /// Starts recording: allocates the buffer here, on the editor thread.
    pub fn start(&mut self, shared: &MasterShared) {
        let sr = f64::from(shared.sample_rate_hz.load(Ordering::Relaxed));
        // 60 s at 48 kHz; the same number of frames (fewer seconds) at higher rates.
        let frames = LEARN_MAX_FRAMES.min((sr * 60.0) as usize);
        // Anything left from an earlier run goes away here, not on the audio thread.
        while shared.learn_done.pop().is_some() {}
        shared.learn_stop.store(false, Ordering::Release);
        shared.learn_seconds.store(0.0, Ordering::Relaxed);
        if shared
            .learn_start
            .push(Box::new(LearnBuffer::new(frames)))
            .is_ok()
        {
            *self = LearnState::Recording;
        }
    }

    /// Asks the audio thread to stop recording.
    pub fn stop(&mut self, shared: &MasterShared) {
        shared.learn_stop.store(true, Ordering::Release);
        *self = LearnState::Stopping;
    }

    /// Advances the workflow; returns a drive to set when the search has finished.
    pub fn poll(&mut self, params: &MasterParams, shared: &MasterShared) -> Option<f32> {
        match self {
            LearnState::Stopping | LearnState::Recording => {
                let buffer = shared.learn_done.pop()?;
                let settings = LearnSettings {
                    sample_rate_hz: buffer.sample_rate_hz,
                    lookahead_ms: params.lookahead_ms.value(),
                    ceiling_dbtp: params.ceiling_dbtp.value(),
                    release_ms: params.release_ms.value(),
                    auto_release: params.auto_release.value(),
                    output_gain_db: params.output_gain_db.value(),
                };
                let target = learn_target_lufs(params.target.value());
                let slot = Arc::new(Mutex::new(None));
                let result = slot.clone();
                std::thread::spawn(move || {
                    let views: Vec<&[f32]> = buffer.channels[..buffer.used]
                        .iter()
                        .map(|c| &c[..buffer.frames])
                        .collect();
                    let learned = drive_for_target(&views, &settings, target);
                    if let Ok(mut r) = result.lock() {
                        *r = Some(learned);
                    }
                });
                *self = LearnState::Computing(slot);
                None
            }
            LearnState::Computing(slot) => {
                let learned = slot.lock().ok()?.take()?;
                let target = learn_target_lufs(params.target.value());
                *self = LearnState::Done(learned, target);
                learned.map(|l| l.drive_db)
            }
            _ => None,
        }
    }

    /// One status line.
    pub fn status(&self, shared: &MasterShared) -> String {
        match self {
            LearnState::Idle => "Play a passage and press Learn".to_owned(),
            LearnState::Recording => format!(
                "Recording the passage… {:.0} s (press Stop to set the drive)",
                shared.learn_seconds.load(Ordering::Relaxed)
            ),
            LearnState::Stopping => "Stopping…".to_owned(),
            LearnState::Computing(_) => "Finding the drive…".to_owned(),
            LearnState::Done(None, _) => "The passage was silent: nothing learned".to_owned(),
            LearnState::Done(Some(l), target) => {
                if l.reachable {
                    format!(
                        "Drive set to {:+.2} dB: the passage comes out at {:.1} LUFS (target {target:.0})",
                        l.drive_db, l.integrated_lufs
                    )
                } else {
                    format!(
                        "Target {target:.0} LUFS is out of reach at this ceiling: drive {:+.1} dB gives {:.1} LUFS",
                        l.drive_db, l.integrated_lufs
                    )
                }
            }
        }
    }
}

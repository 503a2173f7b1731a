//! Factory presets, settings import/export, and the Learn workflow (editor side).

use crate::{LEARN_MAX_FRAMES, LearnBuffer, MasterParams, MasterShared};
use lathe_dsp::learn::{Learned, drive_for_target_unless};
use lathe_dsp::master::{MasterSettings, params as spec};
use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::Params;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use lathe_dsp::master::presets::PRESETS;

/// Sets every parameter from `settings` (each as one host gesture), by the parameter names
/// lathe-dsp's table shares with the plugin.
pub fn apply_settings(settings: &MasterSettings, params: &MasterParams, gui: &GuiContext) {
    let map = params.param_map();
    for s in spec::specs() {
        // SAFETY: the pointers come from our own params object, which outlives the editor.
        unsafe {
            let Some((_, ptr, _)) = map.iter().find(|(_, p, _)| p.name() == s.name) else {
                continue;
            };
            let normalized = ptr.preview_normalized((s.get)(settings));
            gui.raw_begin_set_parameter(*ptr);
            gui.raw_set_parameter_normalized(*ptr, normalized);
            gui.raw_end_set_parameter(*ptr);
        }
    }
}

/// Sets the parameters whose value differs between `old` and `new` to `new`'s (one host
/// gesture each, so the host records them).
pub fn apply_changes(
    old: &MasterSettings,
    new: &MasterSettings,
    params: &MasterParams,
    gui: &GuiContext,
) {
    let map = params.param_map();
    for s in spec::specs() {
        let value = (s.get)(new);
        if (s.get)(old) == value {
            continue;
        }
        // SAFETY: the pointers come from our own params object, which outlives the editor.
        unsafe {
            let Some((_, ptr, _)) = map.iter().find(|(_, p, _)| p.name() == s.name) else {
                continue;
            };
            let normalized = ptr.preview_normalized(value);
            gui.raw_begin_set_parameter(*ptr);
            gui.raw_set_parameter_normalized(*ptr, normalized);
            gui.raw_end_set_parameter(*ptr);
        }
    }
}

/// Exports the current settings as a settings file.
pub fn export_settings(params: &MasterParams, path: &std::path::Path) -> Result<(), String> {
    std::fs::write(path, params.settings().to_toml())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads a settings file and applies it.
pub fn import_settings(
    params: &MasterParams,
    gui: &GuiContext,
    path: &std::path::Path,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let settings = MasterSettings::from_toml(&text).map_err(|e| e.to_string())?;
    apply_settings(&settings, params, gui);
    Ok(())
}

/// The thread searching for the drive: named, cancelled and joined when the editor goes.
pub struct Worker {
    result: Arc<Mutex<Option<Option<Learned>>>>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
    Computing(Worker),
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

    /// Whether Learn can start now (not while a recording is being handed back or searched).
    pub fn can_start(&self) -> bool {
        matches!(self, LearnState::Idle | LearnState::Done(..))
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
                let settings = params.settings();
                let target = params.target.value().target().aim_lufs();
                let result = Arc::new(Mutex::new(None));
                let cancel = Arc::new(AtomicBool::new(false));
                let (slot, stop) = (result.clone(), cancel.clone());
                let thread = std::thread::Builder::new()
                    .name("Lathe Master Learn".into())
                    .spawn(move || {
                        let views: Vec<&[f32]> = buffer.channels[..buffer.used]
                            .iter()
                            .map(|c| &c[..buffer.frames])
                            .collect();
                        let learned = drive_for_target_unless(
                            &views,
                            buffer.sample_rate_hz,
                            &settings,
                            target,
                            &stop,
                        );
                        if let Ok(mut r) = slot.lock() {
                            *r = Some(learned);
                        }
                    });
                match thread {
                    Ok(thread) => {
                        *self = LearnState::Computing(Worker {
                            result,
                            cancel,
                            thread: Some(thread),
                        });
                    }
                    Err(_) => *self = LearnState::Done(None, target),
                }
                None
            }
            LearnState::Computing(worker) => {
                let finished = worker.thread.as_ref().is_none_or(|t| t.is_finished());
                let learned = match worker.result.lock().ok().and_then(|mut r| r.take()) {
                    Some(learned) => learned,
                    // A worker that ended without a result (it panicked): nothing learned.
                    None if finished => None,
                    None => return None,
                };
                let target = params.target.value().target().aim_lufs();
                *self = LearnState::Done(learned, target);
                // Only a drive that reaches the target is set; the status line explains the rest.
                learned.filter(|l| l.reachable).map(|l| l.drive_db)
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

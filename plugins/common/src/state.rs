//! Vetting a saved state before it loads: all or nothing.
//!
//! nice-plug refuses a state it cannot parse, but a well-formed one it applies piece by piece:
//! unknown parameters are skipped, values of the wrong type are skipped, the rest load. A
//! foreign state (another plugin's, a future version's, a hand-edited one) would so leave the
//! instance half changed. [`vet_state`] checks the whole state against the plugin's own
//! parameters first; [`refuse`] empties a state that failed, so loading it changes nothing.

use nice_plug::plugin::ParamValue;
use nice_plug::prelude::{ParamPtr, Params, PluginState};

/// Why a state is not one of ours, or `Ok` when every entry would load as saved.
///
/// `params` must be a scratch instance of the plugin's parameters: the check of an enum's
/// stable ID sets it there. `fields` names the persisted fields the plugin knows, and
/// `max_version` the newest layout it reads from the `state-version` field (states without that
/// field are layout 0).
pub fn vet_state(
    state: &PluginState,
    params: &dyn Params,
    fields: &[&str],
    max_version: u32,
) -> Result<(), String> {
    if state.params.is_empty() {
        return Err("the state holds no parameters".into());
    }
    let map = params.param_map();
    for (id, value) in &state.params {
        let Some((_, ptr, _)) = map.iter().find(|(known, _, _)| known == id) else {
            return Err(format!("unknown parameter {id:?}"));
        };
        vet_value(id, *ptr, value)?;
    }
    for (name, json) in &state.fields {
        if !fields.contains(&name.as_str()) {
            return Err(format!("unknown field {name:?}"));
        }
        if serde_json::from_str::<serde_json::Value>(json).is_err() {
            return Err(format!("field {name:?} is not valid JSON"));
        }
    }
    if let Some(version) = state.fields.get("state-version") {
        match version.trim().parse::<u32>() {
            Ok(v) if v <= max_version => {}
            Ok(v) => return Err(format!("state layout {v} is newer than {max_version}")),
            Err(_) => return Err(format!("state-version {version:?} is not a number")),
        }
    }
    Ok(())
}

/// Empties a state so that loading it changes nothing: the instance keeps every parameter and
/// field it had. (nice-plug's `filter_state` cannot fail the load itself.)
pub fn refuse(state: &mut PluginState) {
    state.params.clear();
    state.fields.clear();
}

fn vet_value(id: &str, ptr: ParamPtr, value: &ParamValue) -> Result<(), String> {
    // SAFETY: `ptr` points into the `Params` object `vet_state` borrows, alive for this call.
    let (lo, hi) = unsafe { (ptr.preview_plain(0.0), ptr.preview_plain(1.0)) };
    let in_range = |v: f32| {
        let slack = (hi - lo).abs() * 1e-6;
        v.is_finite() && v >= lo.min(hi) - slack && v <= lo.max(hi) + slack
    };
    let ok = match (ptr, value) {
        (ParamPtr::FloatParam(_), ParamValue::F32(v)) => in_range(*v),
        (ParamPtr::IntParam(_), ParamValue::I32(v)) => in_range(*v as f32),
        (ParamPtr::BoolParam(_), ParamValue::Bool(_)) => true,
        (ParamPtr::EnumParam(_), ParamValue::I32(v)) => in_range(*v as f32),
        // SAFETY: as above; setting the scratch instance's enum is how nice-plug exposes its IDs.
        (ParamPtr::EnumParam(p), ParamValue::String(s)) => unsafe { (*p).set_from_id(s) },
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("parameter {id:?}: invalid value {value:?}"))
    }
}

//! Vetting a saved state before it loads: all or nothing.
//!
//! nice-plug refuses a state it cannot parse, but a well-formed one it applies piece by piece:
//! unknown parameters are skipped, values of the wrong type are skipped, the rest load. A
//! foreign state (another plugin's, a future version's, a hand-edited one) would so leave the
//! instance half changed. [`vet_state`] checks the whole state against the plugin's own
//! parameters first (every parameter must be there, except ones added later, which it fills in
//! at their defaults); [`refuse`] empties a state that failed, so loading it changes nothing.

use nice_plug::plugin::ParamValue;
use nice_plug::prelude::{ParamPtr, Params, PluginState};

/// What a persisted field holds (its JSON type, as nice-plug stores it).
#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// A string (stored as a JSON string).
    Text,
    /// An unsigned whole number.
    Number,
    /// Any JSON the check accepts (a structure the plugin deserialises), and what a state
    /// without the field gets.
    Json {
        check: fn(&str) -> bool,
        empty: &'static str,
    },
}

/// What a plugin's saved state may hold.
pub struct Layout<'a> {
    /// Persisted fields by name and kind. A field a state lacks loads as empty / 0.
    pub fields: &'a [(&'a str, Field)],
    /// Parameters added after states were first saved: a state without them loads them at
    /// their defaults. Every other parameter must be in the state.
    pub optional: &'a [&'a str],
    /// Newest layout read from the `state-version` field (no field: layout 0).
    pub max_version: u32,
}

/// Checks a state against the plugin's parameters and completes it (missing optional
/// parameters and fields at their defaults), so that loading it sets every parameter and field;
/// or says why it is not one of ours.
///
/// `params` must be a scratch instance of the plugin's parameters: the check of an enum's
/// stable ID sets it there.
pub fn vet_state(
    state: &mut PluginState,
    params: &dyn Params,
    layout: &Layout,
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
    for (id, ptr, _) in &map {
        if state.params.contains_key(id) {
            continue;
        }
        if !layout.optional.contains(&id.as_str()) {
            return Err(format!("parameter {id:?} is missing"));
        }
        state.params.insert(id.clone(), default_value(*ptr));
    }
    for (name, json) in &state.fields {
        let Some((_, kind)) = layout.fields.iter().find(|(known, _)| known == name) else {
            return Err(format!("unknown field {name:?}"));
        };
        let ok = match kind {
            Field::Text => serde_json::from_str::<String>(json).is_ok(),
            Field::Number => serde_json::from_str::<u32>(json).is_ok(),
            Field::Json { check, .. } => check(json),
        };
        if !ok {
            return Err(format!("field {name:?} is not a {kind:?} field: {json:?}"));
        }
    }
    if let Some(version) = state.fields.get("state-version") {
        match version.trim().parse::<u32>() {
            Ok(v) if v <= layout.max_version => {}
            Ok(v) => {
                return Err(format!(
                    "state layout {v} is newer than {}",
                    layout.max_version
                ));
            }
            Err(_) => return Err(format!("state-version {version:?} is not a number")),
        }
    }
    for (name, kind) in layout.fields {
        if *name != "state-version" && !state.fields.contains_key(*name) {
            let empty = match kind {
                Field::Text => "\"\"",
                Field::Number => "0",
                Field::Json { empty, .. } => empty,
            };
            state.fields.insert((*name).to_owned(), empty.to_owned());
        }
    }
    Ok(())
}

/// A parameter's default as nice-plug stores it.
fn default_value(ptr: ParamPtr) -> ParamValue {
    // SAFETY: `ptr` points into the `Params` object `vet_state` borrows, alive for this call.
    let plain = unsafe { ptr.default_plain_value() };
    match ptr {
        ParamPtr::FloatParam(_) => ParamValue::F32(plain),
        ParamPtr::BoolParam(_) => ParamValue::Bool(plain > 0.5),
        ParamPtr::IntParam(_) | ParamPtr::EnumParam(_) => ParamValue::I32(plain.round() as i32),
    }
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

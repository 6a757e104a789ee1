//! A cloud's answer to `GET /{key}/settings/{device}`, as the client reads it: the body as JSON
//! (`serde_json`, as `CloudClient::get_settings` does), then the matchmaker's entry for a cloud
//! answer (`instructions_from_cloud_answer`, against this computer's bundled registry), then what
//! a session does with a kept answer (its preferences re-read and matched locally, as
//! `cloudflow` does for `attune set` and `status`).
#![no_main]

use attune_fuzz::linux;
use attune_model::matchmaker::{instructions_from_cloud_answer, match_and_transform};
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|body: &[u8]| {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if !answer.is_object() {
        return;
    }
    let (registry, device) = linux();
    let _ = instructions_from_cloud_answer(&answer, DEFAULT_CONTEXT, registry, "cloud answer");
    // Every other context the answer names, too (a context name is outside input as well).
    if let Some(Value::Object(contexts)) = answer
        .get("matchMakerOutput")
        .and_then(|m| m.get("inferredConfiguration"))
    {
        for ctx in contexts.keys().take(4) {
            let _ = instructions_from_cloud_answer(&answer, ctx, registry, "cloud answer");
        }
    }
    // A session keeps the answer and later re-reads its preferences (`attune set`, `status`).
    let prefs = PreferenceSet::from_value_named(
        json!({"flat": answer.get("preferences").cloned().unwrap_or(Value::Null)}),
        "preferences in this session",
    );
    if let Ok(prefs) = prefs {
        let _ = match_and_transform(&prefs, DEFAULT_CONTEXT, registry, device);
    }
});

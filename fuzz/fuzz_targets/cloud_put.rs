//! The body of `PUT /{key}/settings` on the cloud server: JSON (as the handler reads it), the
//! validation (`validate_body` against the bundled Linux registry), the `allowedPrefsToWrite`
//! check, the merge into stored preferences, and the next `GET /{key}/settings` answer computed
//! from what was stored (`settings_answer`: the set read back and matched).
#![no_main]

use attune_cloud::api::settings_answer;
use attune_cloud::preferences::{merged_preferences, terms_not_allowed, validate_body};
use attune_fuzz::linux;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|body: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let (registry, device) = linux();
    let errors = validate_body(&body, registry);
    let _ = terms_not_allowed(
        &body,
        &["http://registry.gpii.net/common/fontSize".to_owned()],
    );
    if !errors.is_empty() {
        return;
    }
    let stored = json!({"flat": {"name": "stored", "contexts": {"gpii-default": {
        "name": "Default", "preferences": {"http://registry.gpii.net/common/fontSize": 24}}}}});
    for old in [None, Some(&stored)] {
        let merged = merged_preferences(old, &body);
        // A body the validation let through is stored; the next GET matches it.
        let _ = settings_answer("fuzzkey", Some(&merged), registry, device);
    }
});

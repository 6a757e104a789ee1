//! A preference-set file (a snapset, a preferences file given to `attune`): its raw bytes through
//! `PreferenceSet::from_bytes_named` (size, UTF-8, the nesting check, JSON5, the shape), then the
//! flat matchmaker against the bundled Linux registry with every solution installed, so the
//! values reach the transforms and the `supportedSettings` validation.
#![no_main]

use attune_fuzz::linux;
use attune_model::matchmaker::match_and_transform;
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(set) = PreferenceSet::from_bytes_named(bytes, "fuzz.json5") else {
        return;
    };
    let _ = set.name();
    let _ = set.to_value();
    let (registry, device) = linux();
    let _ = match_and_transform(&set, DEFAULT_CONTEXT, registry, device);
    if let Some(ctx) = set.flat.contexts.keys().find(|c| *c != DEFAULT_CONTEXT) {
        let _ = match_and_transform(&set, ctx, registry, device);
    }
});

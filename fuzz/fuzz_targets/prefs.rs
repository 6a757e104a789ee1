//! A preference-set file (a snapset, a preferences file given to `attune`): its raw bytes through
//! `PreferenceSet::from_bytes_named` (size, UTF-8, the nesting check, JSON5, the shape), then the
//! flat matchmaker against the bundled Linux registry with every solution installed, so the
//! values reach the transforms and the `supportedSettings` validation.
#![no_main]

use std::sync::OnceLock;

use attune_model::device::DeviceReport;
use attune_model::matchmaker::match_and_transform;
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;
use libfuzzer_sys::fuzz_target;

fn linux() -> &'static Option<(SolutionsRegistry, DeviceReport)> {
    static LINUX: OnceLock<Option<(SolutionsRegistry, DeviceReport)>> = OnceLock::new();
    LINUX.get_or_init(|| {
        let registry = attune_model::bundled::linux_registry().ok()?;
        let device = DeviceReport::linux(registry.solutions.keys().cloned());
        Some((registry, device))
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(set) = PreferenceSet::from_bytes_named(bytes, "fuzz.json5") else {
        return;
    };
    let _ = set.name();
    let _ = set.to_value();
    if let Some((registry, device)) = linux() {
        let _ = match_and_transform(&set, DEFAULT_CONTEXT, registry, device);
        if let Some(ctx) = set.flat.contexts.keys().find(|c| *c != DEFAULT_CONTEXT) {
            let _ = match_and_transform(&set, ctx, registry, device);
        }
    }
});

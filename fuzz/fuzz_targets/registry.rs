//! A solutions registry file (JSON5, as GPII ships them and as a site may provide): its raw
//! bytes through `SolutionsRegistry::from_bytes_named` and `check_registry` (every
//! transformation readable), then a bundled snapset matched against it with every solution
//! installed, so its transforms and `supportedSettings` schemas are evaluated.
#![no_main]

use attune_model::device::DeviceReport;
use attune_model::matchmaker::{check_registry, match_and_transform};
use std::sync::OnceLock;

use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;
use libfuzzer_sys::fuzz_target;

/// The bundled snapsets, parsed once.
fn snapsets() -> &'static [PreferenceSet] {
    static SETS: OnceLock<Vec<PreferenceSet>> = OnceLock::new();
    SETS.get_or_init(|| {
        attune_model::bundled::snapsets()
            .filter_map(|s| attune_model::bundled::snapset(s.key).and_then(Result::ok))
            .collect()
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(registry) = SolutionsRegistry::from_bytes_named(bytes, "fuzz-registry.json5") else {
        return;
    };
    if check_registry(&registry).is_err() {
        return;
    }
    let device = DeviceReport::linux(registry.solutions.keys().cloned());
    for set in snapsets() {
        let _ = match_and_transform(set, DEFAULT_CONTEXT, &registry, &device);
    }
});

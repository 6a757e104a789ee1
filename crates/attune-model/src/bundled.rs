//! Data compiled into Attune: the Linux solutions registry and the snapsets.
//!
//! Snapsets are the fixed preference sets of the *testing* profile and of the offline fallback
//! (docs/design.md §3); they must be present with no file system and no network, so they are part
//! of the binary. The registry is Attune's own data in GPII's format (`crates/attune-model/data/
//! linux.json5`). Both are added by `build.rs`, which scans the workspace's `snapsets/` folder
//! (file name = key) each time it changes.

use crate::error::ModelError;
use crate::prefs::PreferenceSet;
use crate::registry::SolutionsRegistry;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/bundled_data.rs"));
}

/// One bundled snapset file, as compiled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundledSnapset {
    /// The key that selects it (GPII's `gpiiKey`): the file name without extension.
    pub key: &'static str,
    /// The file name in `snapsets/`, for error messages.
    pub file_name: &'static str,
    /// The file's text (JSON5).
    pub text: &'static str,
}

/// Every bundled snapset, sorted by key.
pub fn snapsets() -> impl ExactSizeIterator<Item = BundledSnapset> {
    generated::SNAPSET_FILES
        .iter()
        .map(|&(key, file_name, text)| BundledSnapset {
            key,
            file_name,
            text,
        })
}

/// The keys of the bundled snapsets, sorted (for "unknown snapset; available: …" messages).
pub fn snapset_keys() -> Vec<&'static str> {
    snapsets().map(|s| s.key).collect()
}

/// The bundled snapset with this key, parsed; `None` if there is none. An error names the file.
pub fn snapset(key: &str) -> Option<Result<PreferenceSet, ModelError>> {
    snapsets()
        .find(|s| s.key == key)
        .map(|s| PreferenceSet::from_json5_str_named(s.text, &format!("snapsets/{}", s.file_name)))
}

/// Name of the bundled registry in errors.
pub const LINUX_REGISTRY_NAME: &str = "attune-model/data/linux.json5";

/// The bundled Linux solutions registry, parsed and checked (every transformation readable).
pub fn linux_registry() -> Result<SolutionsRegistry, ModelError> {
    let text = linux_registry_text().ok_or_else(|| ModelError::Shape {
        what: LINUX_REGISTRY_NAME.to_owned(),
        at: String::new(),
        detail: "the file was missing when this crate was built".to_owned(),
    })?;
    let registry = SolutionsRegistry::from_json5_str_named(text, LINUX_REGISTRY_NAME)?;
    crate::matchmaker::check_registry(&registry).map_err(|e| match e {
        ModelError::Transform { at, detail } => ModelError::Shape {
            what: LINUX_REGISTRY_NAME.to_owned(),
            at,
            detail,
        },
        other => other,
    })?;
    Ok(registry)
}

/// The bundled registry's text, if it was present at build time.
pub fn linux_registry_text() -> Option<&'static str> {
    generated::LINUX_REGISTRY
}

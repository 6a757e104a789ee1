//! What the fuzz targets share: the computer they match against, and scratch directories.

use std::path::PathBuf;
use std::sync::OnceLock;

use attune_model::device::DeviceReport;
use attune_model::registry::SolutionsRegistry;

/// This computer: the bundled Linux registry, every solution installed. (Should the bundled
/// registry not load, an empty one; its own tests catch that, not the fuzzer.)
pub fn linux() -> &'static (SolutionsRegistry, DeviceReport) {
    static LINUX: OnceLock<(SolutionsRegistry, DeviceReport)> = OnceLock::new();
    LINUX.get_or_init(|| {
        let registry = attune_model::bundled::linux_registry().unwrap_or_default();
        let device = DeviceReport::linux(registry.solutions.keys().cloned());
        (registry, device)
    })
}

/// A new directory under `TMPDIR` whose name starts with `prefix`, kept for the whole run
/// (scripts/fuzz.sh points `TMPDIR` at a scratch dir of its own and removes it afterwards).
pub fn scratch_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map(tempfile::TempDir::keep)
        .unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"))
}

/// Writes an input to the file `name` in this run's scratch directory, the same file for every
/// input (for parsers that read only from a path); its path, or `None` if it could not be written.
pub fn input_file(name: &str, bytes: &[u8]) -> Option<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let file = DIR
        .get_or_init(|| scratch_dir("attune-fuzz-input"))
        .join(name);
    std::fs::write(&file, bytes).ok()?;
    Some(file)
}

//! Compiles the bundled data in: the Linux solutions registry (`data/linux.json5`) and every
//! snapset in the workspace's `snapsets/` folder (file name = key). Generates an include list in
//! `$OUT_DIR/bundled_data.rs`; a missing folder or file gives an empty list (the tests of
//! `bundled` insist on the real data), so the crate builds before the data exists.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let snapsets_dir = manifest.join("../../snapsets");
    let registry = manifest.join("data/linux.json5");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", snapsets_dir.display());
    println!("cargo:rerun-if-changed={}", registry.display());

    let mut snapsets: Vec<(String, String, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir(&snapsets_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(key) = file_name
                .strip_suffix(".json5")
                .or_else(|| file_name.strip_suffix(".json"))
            else {
                continue;
            };
            if path.is_file() && !key.is_empty() && !key.starts_with('.') {
                snapsets.push((key.to_owned(), file_name.to_owned(), path.clone()));
            }
        }
    }
    snapsets.sort();

    let mut out = String::new();
    out.push_str("pub(crate) static SNAPSET_FILES: &[(&str, &str, &str)] = &[\n");
    for (key, file_name, path) in &snapsets {
        let _ = writeln!(
            out,
            "    ({key:?}, {file_name:?}, include_str!({:?})),",
            absolute(path)
        );
    }
    out.push_str("];\n");
    if registry.is_file() {
        let _ = writeln!(
            out,
            "pub(crate) static LINUX_REGISTRY: Option<&str> = Some(include_str!({:?}));",
            absolute(&registry)
        );
    } else {
        out.push_str("pub(crate) static LINUX_REGISTRY: Option<&str> = None;\n");
    }
    let dest = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("bundled_data.rs");
    if let Err(e) = fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

fn absolute(p: &Path) -> String {
    fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

//! Stages the UI and generates Tauri's context and the app's command permissions.
//!
//! The UI (`../ui`) is plain files with no build step, but its folder also holds its test tools
//! (`node_modules`, `tests`, `package.json`): only the page itself may ship, so it is copied to
//! `gen/ui` (the `frontendDist`) first. The app manifest lists every command so that
//! `allow-<command>` permissions exist and none is open by default: the capability files grant
//! exactly the ones the UI calls.

use std::path::Path;

/// What in `ui/` is its tests' tooling, not the page.
const NOT_UI: &[&str] = &[
    "node_modules",
    "tests",
    "package.json",
    "package-lock.json",
    "README.md",
];

fn main() {
    println!("cargo::rerun-if-changed=../ui");
    if let Err(e) = stage_ui(Path::new("../ui"), Path::new("gen/ui")) {
        println!("cargo::error=cannot stage the UI from ../ui into gen/ui: {e}");
        return;
    }
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(attune_app_commands::ALL));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error=tauri build step failed: {e:#}");
    }
}

fn stage_ui(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    if !from.join("index.html").exists() {
        // No UI yet (it is written separately): a page that says so, so the shell still runs.
        std::fs::write(
            to.join("index.html"),
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Attune</title></head>\
             <body><main><h1>Attune</h1><p>The user interface is not built into this copy.</p></main></body></html>\n",
        )?;
        return Ok(());
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || NOT_UI.contains(&name.as_ref()) {
            continue;
        }
        println!("cargo::rerun-if-changed=../ui/{name}");
        copy(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

fn copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

/// The one list of command names, shared with the crate through `include!`.
mod attune_app_commands {
    include!("src/command_names.rs");
}

//! Test harness for Attune's end-to-end tests: a throw-away desktop (temp `HOME`, XDG dirs and the
//! real GSettings keyfile backend), the real `attune` binary, and independent read-back of desktop
//! settings with the `gsettings` tool and the keyfile itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod proxy;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a workspace binary, built once per test process with the same cargo that runs the
/// tests, so the tests never run a stale binary.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    let mut map = map.lock().unwrap();
    if let Some(p) = map.get(bin) {
        return p.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", package, "--bin", bin]);
    if package == "attune-cli" {
        // The crash, fsync-order and full-disk tests drive the test-only failpoints, which a
        // shipped `attune` does not have (attune-settings' `test-support` feature).
        build.args(["--features", "test-support"]);
    }
    let status = build
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    // target dir: CARGO_TARGET_DIR or <root>/target; the test binary itself lives in
    // <target>/debug/deps.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let p = profile_dir.join(bin);
    assert!(p.exists(), "{} not found after build", p.display());
    map.insert(bin.to_owned(), p.clone());
    p
}

/// A throw-away desktop: its own HOME, XDG dirs and GSettings keyfile.
pub struct Desktop {
    pub dir: tempfile::TempDir,
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

impl Desktop {
    pub fn new() -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "config", "data", "state", "cache", "runtime", "bin"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        // This desktop "has Orca installed": the device reporter looks for the command on PATH,
        // and nothing runs it. (Debian's orca package would pull in a whole GNOME session.)
        let orca = dir.path().join("bin/orca");
        std::fs::write(&orca, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&orca, std::fs::Permissions::from_mode(0o755)).unwrap();
        Desktop { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn data_home(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The GSettings keyfile the keyfile backend reads and writes.
    pub fn keyfile_path(&self) -> PathBuf {
        self.config_home().join("glib-2.0/settings/keyfile")
    }

    /// The environment every process on this desktop gets.
    pub fn env(&self) -> Vec<(String, String)> {
        let p = |d: &str| self.dir.path().join(d).display().to_string();
        vec![
            ("HOME".into(), p("home")),
            ("XDG_CONFIG_HOME".into(), p("config")),
            ("XDG_DATA_HOME".into(), p("data")),
            ("XDG_STATE_HOME".into(), p("state")),
            ("XDG_CACHE_HOME".into(), p("cache")),
            ("XDG_RUNTIME_DIR".into(), p("runtime")),
            ("GSETTINGS_BACKEND".into(), "keyfile".into()),
            ("ATTUNE_SITE_CONFIG".into(), String::new()),
            ("NO_COLOR".into(), "1".into()),
            (
                "PATH".into(),
                format!(
                    "{}:{}",
                    p("bin"),
                    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
                ),
            ),
        ]
    }

    /// A command with this desktop's environment (and no inherited `ATTUNE_*` or `XDG_*`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("ATTUNE_") || k.starts_with("XDG_") || k == "GSETTINGS_SCHEMA_DIR" {
                c.env_remove(k);
            }
        }
        for (k, v) in self.env() {
            if v.is_empty() {
                c.env_remove(&k);
            } else {
                c.env(k, v);
            }
        }
        c
    }

    /// Runs `attune` with these arguments on this desktop.
    pub fn attune(&self, args: &[&str]) -> Output {
        self.attune_with(args, &[])
    }

    /// Runs `attune` with extra environment variables.
    pub fn attune_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(workspace_bin("attune-cli", "attune"));
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// `gsettings get SCHEMA KEY`, read by the real tool.
    pub fn gsettings_get(&self, schema: &str, key: &str) -> String {
        let o = self
            .command("gsettings")
            .args(["get", schema, key])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "gsettings get {schema} {key}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }

    /// `gsettings set SCHEMA KEY VALUE`.
    pub fn gsettings_set(&self, schema: &str, key: &str, value: &str) {
        let o = self
            .command("gsettings")
            .args(["set", schema, key, value])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "gsettings set {schema} {key} {value}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Every value the user has set, as the keyfile holds them: `(group, key) → value`. A key
    /// missing here is *unset* (reads as its default), which `gsettings get` cannot tell apart
    /// from "set to the default".
    pub fn keyfile(&self) -> BTreeMap<(String, String), String> {
        let text = std::fs::read_to_string(self.keyfile_path()).unwrap_or_default();
        let mut out = BTreeMap::new();
        let mut group = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(g) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                group = g.to_owned();
            } else if let Some((k, v)) = line.split_once('=') {
                out.insert((group.clone(), k.trim().to_owned()), v.trim().to_owned());
            }
        }
        out
    }

    /// A full read-back of the desktop: the keyfile and every value of the given schemas as the
    /// `gsettings` tool shows them, plus every file under HOME and XDG data/config other than
    /// Attune's own state.
    pub fn snapshot(&self, schemas: &[&str]) -> Snapshot {
        let mut values = BTreeMap::new();
        for s in schemas {
            let o = self
                .command("gsettings")
                .args(["list-recursively", s])
                .output()
                .unwrap();
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                values.insert(line.to_owned(), ());
            }
        }
        let mut files = BTreeMap::new();
        for root in [self.home(), self.data_home(), self.config_home()] {
            collect_files(&root, &mut files);
        }
        files.retain(|p: &String, _| {
            !p.contains("/attune/") && !p.ends_with("glib-2.0/settings/keyfile")
        });
        Snapshot {
            keyfile: self.keyfile(),
            gsettings: values.into_keys().collect(),
            files,
        }
    }
}

fn collect_files(dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.insert(p.display().to_string(), b);
        }
    }
}

/// What a desktop looked like, for exact before/after comparison.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub keyfile: BTreeMap<(String, String), String>,
    pub gsettings: Vec<String>,
    pub files: BTreeMap<String, Vec<u8>>,
}

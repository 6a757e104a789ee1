//! A throw-away desktop: its own HOME, XDG dirs and the real GSettings keyfile backend, with
//! independent read-back through the `gsettings` tool and the keyfile itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A throw-away desktop under a temp dir: `home`, `config`, `data`, `state`, `cache`, `runtime`.
pub struct KeyfileDesktop {
    pub dir: tempfile::TempDir,
    /// Compiled test schemas (`GSETTINGS_SCHEMA_DIR`), if any.
    schema_dir: Option<PathBuf>,
}

impl Default for KeyfileDesktop {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyfileDesktop {
    pub fn new() -> KeyfileDesktop {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "config", "data", "state", "cache", "runtime"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        KeyfileDesktop {
            dir,
            schema_dir: None,
        }
    }

    /// A desktop that also has the schema `<id>.gschema.xml` (compiled strictly).
    pub fn with_schema(id: &str, xml: &str) -> KeyfileDesktop {
        let mut d = KeyfileDesktop::new();
        let schemas = d.path("schemas");
        std::fs::create_dir_all(&schemas).unwrap();
        std::fs::write(schemas.join(format!("{id}.gschema.xml")), xml).unwrap();
        let o = Command::new("glib-compile-schemas")
            .arg("--strict")
            .arg(&schemas)
            .output()
            .expect("glib-compile-schemas (Debian: libglib2.0-bin)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        d.schema_dir = Some(schemas);
        d
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn config_home(&self) -> PathBuf {
        self.path("config")
    }

    pub fn data_home(&self) -> PathBuf {
        self.path("data")
    }

    /// The GSettings keyfile the keyfile backend reads and writes.
    pub fn keyfile_path(&self) -> PathBuf {
        self.config_home().join("glib-2.0/settings/keyfile")
    }

    /// The environment every process on this desktop gets.
    pub fn env(&self) -> Vec<(String, String)> {
        let p = |d: &str| self.path(d).display().to_string();
        let mut env = vec![
            ("HOME".to_owned(), p("home")),
            ("XDG_CONFIG_HOME".to_owned(), p("config")),
            ("XDG_DATA_HOME".to_owned(), p("data")),
            ("XDG_STATE_HOME".to_owned(), p("state")),
            ("XDG_CACHE_HOME".to_owned(), p("cache")),
            ("XDG_RUNTIME_DIR".to_owned(), p("runtime")),
            ("GSETTINGS_BACKEND".to_owned(), "keyfile".to_owned()),
        ];
        if let Some(s) = &self.schema_dir {
            env.push(("GSETTINGS_SCHEMA_DIR".to_owned(), s.display().to_string()));
        }
        env
    }

    /// A command with this desktop's environment (and no inherited `ATTUNE_*`, `XDG_*` or
    /// `GSETTINGS*`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("ATTUNE_") || k.starts_with("XDG_") || k.starts_with("GSETTINGS") {
                c.env_remove(k);
            }
        }
        c.envs(self.env());
        c
    }

    /// Makes this the desktop of the whole process (HOME, XDG dirs, keyfile backend). GIO reads
    /// these once, at first use: call it before anything touches GSettings, once per process.
    pub fn install_in_process(&self) {
        for (k, v) in self.env() {
            // Edition 2021: set_var is safe; the caller runs it before GSettings starts.
            std::env::set_var(k, v);
        }
    }

    /// `gsettings ARGS…`, which must succeed; its output, trimmed.
    pub fn gsettings(&self, args: &[&str]) -> String {
        let o = self.command("gsettings").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "gsettings {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }

    /// `gsettings get SCHEMA KEY`, read by the real tool.
    pub fn get(&self, schema: &str, key: &str) -> String {
        self.gsettings(&["get", schema, key])
    }

    /// `gsettings set SCHEMA KEY VALUE`.
    pub fn set(&self, schema: &str, key: &str, value: &str) {
        self.gsettings(&["set", schema, key, value]);
    }

    /// Every value the user has set, as the keyfile holds them: `(group, key) → value`. A key
    /// missing here is *unset* (reads as its default), which `gsettings get` cannot tell apart
    /// from "set to the default".
    pub fn keyfile(&self) -> BTreeMap<(String, String), String> {
        let text = std::fs::read_to_string(self.keyfile_path()).unwrap_or_default();
        let mut out = BTreeMap::new();
        let mut group = String::new();
        for line in text.lines().map(str::trim) {
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

    /// Whether the user has a value of their own for the key (the keyfile has an entry).
    pub fn is_set(&self, schema_path: &str, key: &str) -> bool {
        self.keyfile()
            .contains_key(&(schema_path.to_owned(), key.to_owned()))
    }

    /// Every value of these schemas as `gsettings list-recursively` shows them, sorted.
    pub fn values(&self, schemas: &[&str]) -> Vec<String> {
        let mut values = BTreeSet::new();
        for s in schemas {
            let o = self
                .command("gsettings")
                .args(["list-recursively", s])
                .output()
                .unwrap();
            values.extend(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_owned),
            );
        }
        values.into_iter().collect()
    }

    /// Every file under HOME and XDG data and config but the keyfile, by path.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for root in [self.home(), self.data_home(), self.config_home()] {
            collect_files(&root, &mut files);
        }
        files.retain(|p, _| !p.ends_with("glib-2.0/settings/keyfile"));
        files
    }

    /// A full read-back of the desktop: the keyfile, the values of `schemas`, and the files.
    pub fn snapshot(&self, schemas: &[&str]) -> Snapshot {
        Snapshot {
            keyfile: self.keyfile(),
            gsettings: self.values(schemas),
            files: self.files(),
        }
    }
}

fn collect_files(dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for p in files_under(dir) {
        if let Ok(b) = std::fs::read(&p) {
            out.insert(p.display().to_string(), b);
        }
    }
}

/// Every file below `dir`, at any depth (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What a desktop looked like, for exact before/after comparison.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub keyfile: BTreeMap<(String, String), String>,
    pub gsettings: Vec<String>,
    pub files: BTreeMap<String, Vec<u8>>,
}

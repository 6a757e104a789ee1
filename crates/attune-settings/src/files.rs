//! Settings kept in files: JSON documents (`gpii.settingsHandlers.JSONSettingsHandler`, Orca's
//! `user-settings.conf` for `gpii.orca`) addressed by EL paths, and INI files
//! (`gpii.settingsHandlers.INISettingsHandler`) addressed by `section.key`.
//!
//! A write changes only the settings it is given: everything else in the file — other keys,
//! comments and layout of an INI file — is kept. Files are replaced atomically
//! ([`crate::atomic`]). A file that cannot be parsed, or is read-only, is reported per setting
//! and left untouched; a missing file reads as "every setting absent" and is created (with its
//! parent directories) on the first write.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use attune_model::path as el;
use serde_json::{Map, Value};

use crate::atomic;
use crate::handler::{all_failed, BatchResult, MaybeValue, SettingError, SettingsHandler};

/// Which syntax a settings file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Ini,
}

/// One settings file.
pub struct FileHandler {
    format: FileFormat,
    /// The resolved path, or why the options gave none.
    path: Result<PathBuf, SettingError>,
    /// EL path prefix joined to every setting name (Orca: e.g. `profiles.default`).
    root: String,
    label: String,
    /// What a file that does not exist yet starts as (Orca refuses to start on a settings file
    /// without its top-level sections).
    skeleton: Option<Value>,
}

/// Largest settings file we read (Orca's is a few kB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

impl FileHandler {
    /// `gpii.settingsHandlers.JSONSettingsHandler`: options `filename` (or `path`).
    pub fn json(options: &Value) -> FileHandler {
        FileHandler::from_options(FileFormat::Json, options, None)
    }

    /// `gpii.settingsHandlers.INISettingsHandler`: options `filename` (or `path`).
    pub fn ini(options: &Value) -> FileHandler {
        FileHandler::from_options(FileFormat::Ini, options, None)
    }

    /// `gpii.orca`: Orca's `user-settings.conf`, a JSON document; options `path`/`filename`
    /// (default `${XDG_DATA_HOME}/orca/user-settings.conf`) and an optional EL prefix `root`
    /// under which the setting names live.
    pub fn orca(options: &Value) -> FileHandler {
        let mut h = FileHandler::from_options(
            FileFormat::Json,
            options,
            Some("${XDG_DATA_HOME}/orca/user-settings.conf"),
        );
        // Orca 43 fails at start on a user-settings.conf without `general`, `pronunciations`
        // and `keybindings`, and looks profiles up by their `profile` name pair.
        h.skeleton = Some(serde_json::json!({
            "general": {},
            "profiles": {"default": {"profile": ["Default", "default"]}},
            "pronunciations": {},
            "keybindings": {}
        }));
        h
    }

    /// A handler for a file at a known path.
    pub fn at(format: FileFormat, path: PathBuf) -> FileHandler {
        FileHandler {
            format,
            label: path.display().to_string(),
            path: Ok(path),
            root: String::new(),
            skeleton: None,
        }
    }

    /// Puts the setting names under an EL path prefix (Orca's profile, for example).
    pub fn with_root(mut self, root: &str) -> FileHandler {
        self.root = root.to_owned();
        self
    }

    /// The expanded file path and the EL prefix, or why the options give none.
    pub fn resolved(&self) -> Result<(PathBuf, String), SettingError> {
        let p = self.path.as_ref().map_err(Clone::clone)?;
        Ok((p.clone(), self.root.clone()))
    }

    fn from_options(format: FileFormat, options: &Value, default: Option<&str>) -> FileHandler {
        let raw = options
            .get("filename")
            .or_else(|| options.get("path"))
            .and_then(Value::as_str)
            .or(default);
        let root = options
            .get("root")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let path = match raw {
            None => Err(SettingError::BadOptions {
                detail: format!("expected a string `filename` or `path`, found options {options}"),
            }),
            Some(r) => expand_path(r, &|k| std::env::var(k).ok()),
        };
        FileHandler {
            format,
            label: match &path {
                Ok(p) => p.display().to_string(),
                Err(_) => raw.unwrap_or_default().to_owned(),
            },
            path,
            root,
            skeleton: None,
        }
    }

    fn full(&self, name: &str) -> String {
        el::join(&self.root, name)
    }

    /// Reads the file: `None` if it does not exist.
    fn load(&self, path: &Path) -> Result<Option<Doc>, SettingError> {
        let bytes = match fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SettingError::io(path, &e)),
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                return Err(SettingError::Unparsable {
                    path: path.display().to_string(),
                    format: self.format_name().to_owned(),
                    detail: format!("{} bytes, more than the {MAX_FILE_BYTES} we read", m.len()),
                })
            }
            Ok(_) => fs::read(path).map_err(|e| SettingError::io(path, &e))?,
        };
        let unparsable = |detail: String| SettingError::Unparsable {
            path: path.display().to_string(),
            format: self.format_name().to_owned(),
            detail,
        };
        let text = String::from_utf8(bytes).map_err(|e| unparsable(e.to_string()))?;
        match self.format {
            FileFormat::Json => {
                let v: Value = if text.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_str(&text).map_err(|e| unparsable(e.to_string()))?
                };
                if !v.is_object() {
                    return Err(unparsable("the top level is not an object".to_owned()));
                }
                Ok(Some(Doc::Json(v)))
            }
            FileFormat::Ini => Ok(Some(Doc::Ini(Ini::parse(&text).map_err(unparsable)?))),
        }
    }

    fn format_name(&self) -> &'static str {
        match self.format {
            FileFormat::Json => "JSON",
            FileFormat::Ini => "INI",
        }
    }

    fn empty_doc(&self) -> Doc {
        match self.format {
            FileFormat::Json => Doc::Json(
                self.skeleton
                    .clone()
                    .unwrap_or_else(|| Value::Object(Map::new())),
            ),
            FileFormat::Ini => Doc::Ini(Ini::default()),
        }
    }

    /// The bytes `values` would make of the file as it is now, with the values replaced, and
    /// the per-setting results; `Err` when the file cannot be read or parsed.
    pub(crate) fn render(
        &self,
        values: &BTreeMap<String, MaybeValue>,
    ) -> Result<(Vec<u8>, BatchResult), SettingError> {
        let path = self.path.as_ref().map_err(Clone::clone)?;
        let mut doc = self.load(path)?.unwrap_or_else(|| self.empty_doc());
        let mut out = BatchResult::new();
        for (name, v) in values {
            let full = self.full(name);
            let r = match &mut doc {
                Doc::Json(root) => {
                    let old = el::get(root, &full).cloned();
                    match v {
                        Some(v) => el::set(root, &full, v.clone()),
                        None => remove_json(root, &full),
                    }
                    Ok(old)
                }
                Doc::Ini(ini) => ini_key(&full).map(|(s, k)| {
                    let old = ini.get(&s, &k).map(|x| Value::String(x.to_owned()));
                    match v {
                        Some(v) => ini.set(&s, &k, &ini_text(v)),
                        None => ini.remove(&s, &k),
                    }
                    old
                }),
            };
            out.insert(name.clone(), r);
        }
        let bytes = match &doc {
            Doc::Json(v) => {
                let mut b = serde_json::to_vec_pretty(v).map_err(|e| SettingError::Io {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?;
                b.push(b'\n');
                b
            }
            Doc::Ini(ini) => ini.render().into_bytes(),
        };
        Ok((bytes, out))
    }

    /// Refuses to replace a file its owner made read-only (root could, through the rename).
    fn check_writable(path: &Path) -> Result<(), SettingError> {
        match fs::metadata(path) {
            Ok(m) if m.permissions().readonly() => Err(SettingError::Io {
                path: path.display().to_string(),
                detail: "the file is read-only".to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

impl SettingsHandler for FileHandler {
    fn target(&self) -> String {
        format!("file:{}", self.label)
    }

    fn file(&self) -> Option<&Path> {
        self.path.as_deref().ok()
    }

    fn canonical(&self, v: &Value) -> Value {
        match self.format {
            FileFormat::Json => v.clone(),
            FileFormat::Ini => Value::String(ini_text(v)),
        }
    }

    fn get(&self, names: &[String]) -> BatchResult {
        let path = match &self.path {
            Ok(p) => p,
            Err(e) => return all_failed(names, e),
        };
        let doc = match self.load(path) {
            Ok(d) => d,
            Err(e) => return all_failed(names, &e),
        };
        names
            .iter()
            .map(|n| {
                let full = self.full(n);
                let r = match &doc {
                    None => Ok(None),
                    Some(Doc::Json(root)) => Ok(el::get(root, &full).cloned()),
                    Some(Doc::Ini(ini)) => ini_key(&full)
                        .map(|(s, k)| ini.get(&s, &k).map(|x| Value::String(x.to_owned()))),
                };
                (n.clone(), r)
            })
            .collect()
    }

    fn set(&self, values: &BTreeMap<String, MaybeValue>) -> BatchResult {
        let path = match &self.path {
            Ok(p) => p.clone(),
            Err(e) => return all_failed(values.keys(), e),
        };
        if let Err(e) = Self::check_writable(&path) {
            return all_failed(values.keys(), &e);
        }
        let (bytes, out) = match self.render(values) {
            Ok(x) => x,
            Err(e) => return all_failed(values.keys(), &e),
        };
        // Settings that could not be expressed (a bad INI path) fail alone; the rest are written.
        if out.values().all(Result::is_err) {
            return out;
        }
        if let Err(e) = write_file(&path, &bytes) {
            return all_failed(values.keys(), &e);
        }
        out
    }
}

/// Creates the parent directories and replaces the file atomically.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SettingError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| SettingError::io(dir, &e))?;
    }
    atomic::atomic_write(path, bytes).map_err(|e| SettingError::io(path, &e))
}

enum Doc {
    Json(Value),
    Ini(Ini),
}

fn remove_json(root: &mut Value, path: &str) {
    let segs = el::parse(path);
    let Some((last, init)) = segs.split_last() else {
        return;
    };
    let mut cur = root;
    for s in init {
        cur = match cur {
            Value::Object(m) => match m.get_mut(s) {
                Some(c) => c,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

/// `section.key` → (section, key); a single segment is a key before any section.
fn ini_key(path: &str) -> Result<(String, String), SettingError> {
    let segs = el::parse(path);
    match segs.as_slice() {
        [k] => Ok((String::new(), k.clone())),
        [s, k] => Ok((s.clone(), k.clone())),
        _ => Err(SettingError::BadOptions {
            detail: format!("INI setting `{path}` is not `section.key`"),
        }),
    }
}

/// How a JSON value is written into an INI file: strings as they are, others as JSON text.
fn ini_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Expands `${VAR}` and GPII's `${{environment}.VAR}` from the environment (`lookup`). The XDG
/// base directories default as the XDG spec says when unset. The result must be absolute.
pub fn expand_path(
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, SettingError> {
    let var = |name: &str| -> Option<String> {
        let v = lookup(name).filter(|v| !v.is_empty());
        let home = || lookup("HOME").filter(|h| !h.is_empty());
        match name {
            "XDG_DATA_HOME" => v.or_else(|| home().map(|h| format!("{h}/.local/share"))),
            "XDG_CONFIG_HOME" => v.or_else(|| home().map(|h| format!("{h}/.config"))),
            "XDG_STATE_HOME" => v.or_else(|| home().map(|h| format!("{h}/.local/state"))),
            "XDG_CACHE_HOME" => v.or_else(|| home().map(|h| format!("{h}/.cache"))),
            _ => v,
        }
    };
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let (name, tail) = if let Some(a) = after.strip_prefix("{environment}.") {
            let end = a.find('}').ok_or_else(|| bad_placeholder(raw))?;
            (&a[..end], &a[end + 1..])
        } else {
            let end = after.find('}').ok_or_else(|| bad_placeholder(raw))?;
            (&after[..end], &after[end + 1..])
        };
        let value = var(name).ok_or_else(|| SettingError::BadOptions {
            detail: format!("path {raw:?} needs ${{{name}}}, which is not set"),
        })?;
        out.push_str(&value);
        rest = tail;
    }
    out.push_str(rest);
    let p = PathBuf::from(out);
    if !p.is_absolute() {
        return Err(SettingError::BadOptions {
            detail: format!(
                "path {raw:?} is not absolute once expanded ({})",
                p.display()
            ),
        });
    }
    Ok(p)
}

/// Folders under `$XDG_CONFIG_HOME` whose files start programs or set the session's
/// environment at the next login (XDG autostart, systemd user units, environment.d).
const STARTS_PROGRAMS: [&str; 3] = ["autostart", "systemd", "environment.d"];

/// Defence in depth behind the registry rule of docs/design.md §10.1: a settings file is never
/// written through `..`, never as a hidden file directly in the home folder (`.profile`, `.bashrc`:
/// shell start-up), and never where a file starts a program at login ([`STARTS_PROGRAMS`]).
/// Only a broken or hostile registry names such a path; the bundled one never does. `lookup`
/// reads the environment.
pub fn check_write_location(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), SettingError> {
    let refuse = |reason: &str| SettingError::Refused {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(refuse("the path climbs out of its folder with `..`"));
    }
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = var("HOME");
    let config = var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let Some(home) = &home {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden && path.parent() == Some(home.as_path()) {
            return Err(refuse(
                "a hidden file directly in the home folder may be run at login",
            ));
        }
    }
    if let Some(config) = &config {
        if STARTS_PROGRAMS
            .iter()
            .any(|d| path.starts_with(config.join(d)))
        {
            return Err(refuse("files in this folder start programs at login"));
        }
    }
    Ok(())
}

fn bad_placeholder(raw: &str) -> SettingError {
    SettingError::BadOptions {
        detail: format!("path {raw:?} has an unterminated `${{` placeholder"),
    }
}

/// An INI file as lines, so unchanged lines are written back exactly as they were.
#[derive(Debug, Default, Clone)]
struct Ini {
    lines: Vec<Line>,
    /// Whether the original text ended with a newline.
    trailing_newline: bool,
}

#[derive(Debug, Clone)]
enum Line {
    /// Blank or comment, kept verbatim.
    Other(String),
    Section {
        raw: String,
        name: String,
    },
    /// `prefix` is everything up to the value (key, separator, spaces).
    Entry {
        prefix: String,
        key: String,
        value: String,
    },
}

impl Ini {
    fn parse(text: &str) -> Result<Ini, String> {
        let mut lines = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let t = raw.trim();
            if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
                lines.push(Line::Other(raw.to_owned()));
            } else if let Some(name) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                lines.push(Line::Section {
                    raw: raw.to_owned(),
                    name: name.trim().to_owned(),
                });
            } else if let Some(eq) = raw.find('=') {
                let key = raw[..eq].trim().to_owned();
                if key.is_empty() {
                    return Err(format!("line {}: a value with no key", n + 1));
                }
                let after = &raw[eq + 1..];
                let value_start = eq + 1 + (after.len() - after.trim_start().len());
                lines.push(Line::Entry {
                    prefix: raw[..value_start].to_owned(),
                    key,
                    value: raw[value_start..].trim_end().to_owned(),
                });
            } else {
                return Err(format!(
                    "line {}: expected `[section]`, `key = value` or a comment",
                    n + 1
                ));
            }
        }
        Ok(Ini {
            lines,
            trailing_newline: text.ends_with('\n') || text.is_empty(),
        })
    }

    /// Index range of a section's lines (after its header); "" is the part before any header.
    fn section_range(&self, section: &str) -> Option<(usize, usize)> {
        let mut start = if section.is_empty() { Some(0) } else { None };
        for (i, l) in self.lines.iter().enumerate() {
            if let Line::Section { name, .. } = l {
                if let Some(s) = start {
                    return Some((s, i));
                }
                if name == section {
                    start = Some(i + 1);
                }
            }
        }
        start.map(|s| (s, self.lines.len()))
    }

    fn find(&self, section: &str, key: &str) -> Option<usize> {
        let (a, b) = self.section_range(section)?;
        (a..b).find(|&i| matches!(&self.lines[i], Line::Entry { key: k, .. } if k == key))
    }

    fn get(&self, section: &str, key: &str) -> Option<&str> {
        match &self.lines[self.find(section, key)?] {
            Line::Entry { value, .. } => Some(value),
            _ => None,
        }
    }

    fn set(&mut self, section: &str, key: &str, new: &str) {
        if let Some(i) = self.find(section, key) {
            if let Line::Entry { value, .. } = &mut self.lines[i] {
                *value = new.to_owned();
            }
            return;
        }
        let entry = Line::Entry {
            prefix: format!("{key}="),
            key: key.to_owned(),
            value: new.to_owned(),
        };
        match self.section_range(section) {
            Some((a, b)) => {
                // After the section's last non-blank line.
                let mut at = b;
                while at > a && matches!(&self.lines[at - 1], Line::Other(t) if t.trim().is_empty())
                {
                    at -= 1;
                }
                self.lines.insert(at, entry);
            }
            None => {
                self.lines.push(Line::Section {
                    raw: format!("[{section}]"),
                    name: section.to_owned(),
                });
                self.lines.push(entry);
            }
        }
    }

    fn remove(&mut self, section: &str, key: &str) {
        if let Some(i) = self.find(section, key) {
            self.lines.remove(i);
        }
    }

    fn render(&self) -> String {
        let mut out: Vec<String> = self
            .lines
            .iter()
            .map(|l| match l {
                Line::Other(t) => t.clone(),
                Line::Section { raw, .. } => raw.clone(),
                Line::Entry { prefix, value, .. } => format!("{prefix}{value}"),
            })
            .collect();
        if self.trailing_newline && !out.is_empty() {
            out.push(String::new());
        }
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_orca_file_starts_with_the_sections_orca_requires() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("orca/user-settings.conf");
        let h = FileHandler::orca(
            &json!({"path": path.display().to_string(), "root": "profiles.default"}),
        );
        let mut values = BTreeMap::new();
        values.insert("rate".to_owned(), Some(json!(70)));
        let (bytes, results) = h.render(&values).unwrap();
        assert!(results["rate"].is_ok());
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        for section in ["general", "pronunciations", "keybindings"] {
            assert!(doc[section].is_object(), "{section} missing: {doc}");
        }
        assert_eq!(
            doc["profiles"]["default"]["profile"],
            json!(["Default", "default"])
        );
        assert_eq!(doc["profiles"]["default"]["rate"], json!(70));
    }

    #[test]
    fn ini_edits_keep_comments_layout_and_other_keys() {
        let text = "; top\n[a]\nx = 1\n\n[b]\ny=2 \n";
        let mut ini = Ini::parse(text).unwrap();
        assert_eq!(ini.render(), text.replace("y=2 ", "y=2"));
        ini.set("a", "x", "5");
        ini.set("a", "z", "new");
        ini.set("c", "w", "3");
        ini.remove("b", "y");
        assert_eq!(ini.render(), "; top\n[a]\nx = 5\nz=new\n\n[b]\n[c]\nw=3\n");
        assert_eq!(ini.get("a", "z"), Some("new"));
        assert!(Ini::parse("[a]\njunk\n").is_err());
    }

    #[test]
    fn placeholders_expand_with_xdg_defaults() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/p".to_owned()),
            _ => None,
        };
        assert_eq!(
            expand_path("${XDG_DATA_HOME}/orca/user-settings.conf", &env).unwrap(),
            PathBuf::from("/home/p/.local/share/orca/user-settings.conf")
        );
        assert_eq!(
            expand_path("${{environment}.HOME}/x.json", &env).unwrap(),
            PathBuf::from("/home/p/x.json")
        );
        assert!(expand_path("${NOPE}/x", &env).is_err());
        assert!(expand_path("relative/x", &env).is_err());
        assert!(expand_path("${HOME", &env).is_err());
    }

    #[test]
    fn settings_files_are_written_only_where_settings_files_live() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/p".to_owned()),
            "XDG_CONFIG_HOME" => Some("/cfg/p".to_owned()),
            _ => None,
        };
        let cases = [
            ("/home/p/.local/share/orca/user-settings.conf", None),
            ("/cfg/p/app/settings.ini", None),
            ("/home/p/notes.json", None),
            ("/home/p/.config/autostart/x.desktop", None),
            ("/home/p/.local/share/../../.profile", Some("`..`")),
            ("/cfg/p/app/../autostart/x.desktop", Some("`..`")),
            (
                "/home/p/.bashrc",
                Some("hidden file directly in the home folder"),
            ),
            (
                "/cfg/p/autostart/x.desktop",
                Some("start programs at login"),
            ),
            (
                "/cfg/p/systemd/user/x.service",
                Some("start programs at login"),
            ),
            (
                "/cfg/p/environment.d/x.conf",
                Some("start programs at login"),
            ),
        ];
        for (path, refused) in cases {
            let got = check_write_location(Path::new(path), &env);
            match refused {
                None => assert_eq!(got, Ok(()), "{path}"),
                Some(why) => {
                    let e = got.expect_err(path).to_string();
                    assert!(e.starts_with(&format!("refused to write {path}: ")), "{e}");
                    assert!(e.contains(why), "{path}: {e}");
                }
            }
        }
    }

    #[test]
    fn json_remove_deletes_only_the_leaf() {
        let mut v = json!({"a": {"b": 1, "c": 2}});
        remove_json(&mut v, "a.b");
        remove_json(&mut v, "a.missing.deeper");
        assert_eq!(v, json!({"a": {"c": 2}}));
    }
}

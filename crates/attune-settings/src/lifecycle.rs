//! The journalled lifecycle: snapshot → apply → verify, and restore → verify → close, with
//! start-up recovery (docs/design.md §3, §5.4).
//!
//! **Invariant:** no setting changes before its original value (or "absent") is durably in the
//! journal. A crash at any point therefore leaves a journal from which [`Lifecycle::recover`]
//! puts back exactly the originals; recovery only ever writes originals, so it can itself be
//! interrupted and run again.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use attune_model::lifecycle::LifecycleInstructions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::failpoint;
use crate::files::{check_write_location, FileFormat, FileHandler};
use crate::gsettings::GSettingsHandler;
use crate::handler::{same_value, MaybeValue, SettingError, SettingsHandler};
use crate::journal::{self, Journal, JournalDamage, JournalError, Record, Stored, TargetSpec};

/// Settings handler types this crate carries out.
pub const HANDLER_TYPES: &[&str] = &[GSETTINGS, ORCA, JSON_HANDLER, INI_HANDLER];
/// Launch handler types this crate carries out.
pub const LAUNCH_HANDLER_TYPES: &[&str] = &[GSETTINGS_LAUNCH];

const GSETTINGS: &str = "gpii.gsettings";
pub(crate) const GSETTINGS_LAUNCH: &str = "gpii.gsettings.launch";
const ORCA: &str = "gpii.orca";
const JSON_HANDLER: &str = "gpii.settingsHandlers.JSONSettingsHandler";
const INI_HANDLER: &str = "gpii.settingsHandlers.INISettingsHandler";

/// The outcome of one setting of an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Written and read back equal.
    Applied,
    /// This machine cannot carry it (schema or key not installed, handler type unknown).
    NotSupported { reason: String },
    /// Tried and failed (rejected value, unwritable or unparsable file, read-back mismatch).
    Failed { reason: String },
}

impl Outcome {
    /// Stable short name: `applied`, `not_supported`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::NotSupported { .. } => "not_supported",
            Outcome::Failed { .. } => "failed",
        }
    }

    fn from_error(e: &SettingError) -> Outcome {
        if e.is_not_supported() {
            Outcome::NotSupported {
                reason: match e {
                    SettingError::NotSupported { reason } => reason.clone(),
                    other => other.to_string(),
                },
            }
        } else {
            Outcome::Failed {
                reason: e.to_string(),
            }
        }
    }
}

/// One setting of an apply report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingReport {
    pub solution: String,
    /// Settings handler name in the registry (e.g. `configuration`).
    pub handler: String,
    pub handler_type: String,
    /// GSettings key, or EL path into the file.
    pub setting: String,
    pub value: Value,
    /// Preference terms the value came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    pub outcome: Outcome,
}

/// One launch (start/stop) of an apply report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchReport {
    pub solution: String,
    pub handler_type: String,
    pub enabled: bool,
    pub outcome: Outcome,
}

/// What an apply did, setting by setting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    pub settings: Vec<SettingReport>,
    pub launches: Vec<LaunchReport>,
    /// How many writes were made (the `apply.setting:<i>` failpoints passed).
    pub writes: usize,
    /// A damaged journal found (and repaired) before applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_damage: Option<JournalDamage>,
}

impl ApplyReport {
    /// Counts of (applied, not supported, failed), settings and launches together.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        let outcomes = self
            .settings
            .iter()
            .map(|s| &s.outcome)
            .chain(self.launches.iter().map(|l| &l.outcome));
        for o in outcomes {
            match o {
                Outcome::Applied => c.0 += 1,
                Outcome::NotSupported { .. } => c.1 += 1,
                Outcome::Failed { .. } => c.2 += 1,
            }
        }
        c
    }
}

/// The outcome of restoring one setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestoreOutcome {
    /// The original is back (read back equal).
    Restored,
    /// Still not the original; it stays in the journal and is retried at the next start.
    Failed { reason: String },
}

/// One setting of a restore report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreEntry {
    pub solution: String,
    pub handler: String,
    /// `gsettings:<schema>` or `file:<path>`.
    pub target: String,
    pub setting: String,
    /// The value put back; `None` for "absent" (unset / deleted).
    pub original: Option<Value>,
    pub outcome: RestoreOutcome,
}

/// Whether a journal is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalState {
    Open,
    Closed,
}

/// What a restore (key-out) or recovery did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub entries: Vec<RestoreEntry>,
    pub restored: usize,
    pub failed: usize,
    /// `closed` when every original is back; `open` when some failed and wait in the journal.
    pub journal: JournalState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_damage: Option<JournalDamage>,
}

/// The journal's state, for `attune status` and diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalStatus {
    pub state: JournalState,
    pub path: PathBuf,
    /// Originals recorded (settings to restore).
    pub entries: usize,
    /// Whether the last apply finished (`false` with an open journal: it was interrupted).
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damage: Option<JournalDamage>,
}

/// Why an apply, restore or recovery could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The originals could not be recorded: nothing was changed.
    #[error("nothing was changed: the original settings could not be recorded: {0}")]
    JournalNotWritten(#[source] JournalError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot create the data directory {path}: {detail}")]
    DataDir { path: PathBuf, detail: String },
}

/// The journalled lifecycle over one data directory (which holds the journal).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    dir: PathBuf,
}

/// One write to make, as planned.
struct Planned {
    solution: String,
    handler: String,
    target: TargetSpec,
    setting: String,
    value: Value,
    /// Index in the report: `Ok(i)` a setting, `Err(i)` a launch.
    slot: Result<usize, usize>,
}

impl Lifecycle {
    /// A lifecycle journalling into `data_dir` (created on first use).
    pub fn new(data_dir: impl Into<PathBuf>) -> Lifecycle {
        Lifecycle {
            dir: data_dir.into(),
        }
    }

    /// Where the journal lives.
    pub fn journal_path(&self) -> PathBuf {
        journal::path_in(&self.dir)
    }

    /// Applies the instructions: journals the original of every setting to be written (keeping
    /// any original an open journal already holds: the first original wins), then writes each
    /// setting and reads it back, then marks the journal "applied". Settings that cannot be
    /// carried out are reported per setting; if the originals cannot be journalled, nothing is
    /// written and the error says why.
    pub fn apply(&self, instr: &LifecycleInstructions) -> Result<ApplyReport, LifecycleError> {
        let mut report = ApplyReport::default();
        let plan = plan(instr, &mut report);
        let mut handlers: BTreeMap<String, Box<dyn SettingsHandler>> = BTreeMap::new();
        for p in &plan {
            handlers
                .entry(p.target.id())
                .or_insert_with(|| handler_for(&p.target));
        }

        // Snapshot: read every original; a setting that cannot even be read is not written.
        let mut by_target: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in plan.iter().enumerate() {
            by_target.entry(p.target.id()).or_default().push(i);
        }
        let mut originals: BTreeMap<usize, MaybeValue> = BTreeMap::new();
        for (tid, idxs) in &by_target {
            let names: Vec<String> = idxs.iter().map(|&i| plan[i].setting.clone()).collect();
            let Some(h) = handlers.get(tid) else { continue };
            let got = h.get(&names);
            for &i in idxs {
                match got.get(&plan[i].setting) {
                    Some(Ok(v)) => {
                        originals.insert(i, v.clone());
                    }
                    Some(Err(e)) => set_outcome(&mut report, &plan[i], Outcome::from_error(e)),
                    None => set_outcome(
                        &mut report,
                        &plan[i],
                        Outcome::Failed {
                            reason: "the handler returned no value".to_owned(),
                        },
                    ),
                }
            }
        }
        let writable: Vec<usize> = (0..plan.len())
            .filter(|i| originals.contains_key(i))
            .collect();

        // Group the writes: one per GSettings key, one per file (all its settings at once).
        let mut units: Vec<Vec<usize>> = Vec::new();
        let mut file_unit: BTreeMap<String, usize> = BTreeMap::new();
        for &i in &writable {
            let tid = plan[i].target.id();
            if plan[i].target.file().is_some() {
                if let Some(&u) = file_unit.get(&tid) {
                    units[u].push(i);
                    continue;
                }
                file_unit.insert(tid, units.len());
            }
            units.push(vec![i]);
        }
        if units.is_empty() {
            return Ok(report);
        }

        // Journal the originals first.
        fs::create_dir_all(&self.dir).map_err(|e| LifecycleError::DataDir {
            path: self.dir.clone(),
            detail: e.to_string(),
        })?;
        let loaded = Journal::load(&self.dir).map_err(LifecycleError::JournalNotWritten)?;
        report.journal_damage = loaded.damage;
        let mut j = loaded.journal.unwrap_or_default();
        for u in &units {
            let first = &plan[u[0]];
            if let Some(file) = first.target.file() {
                if j.file_original(file).is_none() {
                    let (content, ancestor) = file_state(file);
                    j.records.push(Record::FileOriginal {
                        path: file.to_owned(),
                        content,
                        existing_ancestor: ancestor,
                    });
                }
                // The bytes this write will produce, so a restore can tell them from later edits.
                let values: BTreeMap<String, MaybeValue> = u
                    .iter()
                    .map(|&i| (plan[i].setting.clone(), Some(plan[i].value.clone())))
                    .collect();
                if let Some(bytes) = render_file(&first.target, &values) {
                    j.records.push(Record::FileWritten {
                        path: file.to_owned(),
                        sha256: journal::sha256_hex(&bytes),
                    });
                }
            }
            for &i in u {
                let p = &plan[i];
                if !j.has_original(&p.target.id(), &p.setting) {
                    j.records.push(Record::Original {
                        solution: p.solution.clone(),
                        handler: p.handler.clone(),
                        target: p.target.clone(),
                        setting: p.setting.clone(),
                        original: Stored::from_option(originals.get(&i).cloned().flatten()),
                    });
                }
            }
        }
        if matches!(j.records.last(), Some(Record::Applied)) {
            j.records.pop();
        }
        j.commit(&self.dir, "originals")
            .map_err(LifecycleError::JournalNotWritten)?;

        // Write and verify, unit by unit, each through a fresh view of the desktop (see
        // `write_verified`).
        for (n, u) in units.iter().enumerate() {
            let target = &plan[u[0]].target;
            let values: BTreeMap<String, Value> = u
                .iter()
                .map(|&i| (plan[i].setting.clone(), plan[i].value.clone()))
                .collect();
            let outcomes = write_verified(target, &values, &format!("apply.setting:{n}"));
            report.writes += 1;
            for &i in u {
                let p = &plan[i];
                let outcome = outcomes
                    .get(&p.setting)
                    .cloned()
                    .unwrap_or(Outcome::Failed {
                        reason: "the handler did not write it".to_owned(),
                    });
                set_outcome(&mut report, p, outcome);
            }
        }
        failpoint::step("apply.done_before_marker");
        j.records.push(Record::Applied);
        j.commit(&self.dir, "applied")?;
        Ok(report)
    }

    /// Key-out: restores every journalled original (newest first), verifies each by reading it
    /// back, and closes the journal when all are back. Originals that fail stay in the journal.
    pub fn restore(&self) -> Result<RestoreReport, LifecycleError> {
        self.restore_as("restore")
    }

    /// Start-up recovery: [`Lifecycle::restore`] of whatever journal a previous process left
    /// open; a no-op when the journal is closed. Safe to interrupt and run again.
    pub fn recover(&self) -> Result<RestoreReport, LifecycleError> {
        self.restore_as("recover")
    }

    /// The journal's state. Changes nothing, not even the temp file beside the journal: that may
    /// be a write in flight in another process or thread (the app reads the status while it
    /// keys in), which would then fail. A temp file a crash left holds nothing a restore needs
    /// (the journal is only replaced by rename); the next restore, recovery or apply sweeps it.
    pub fn status(&self) -> Result<JournalStatus, LifecycleError> {
        let loaded = Journal::peek(&self.dir)?;
        let (state, entries, applied) = match &loaded.journal {
            Some(j) if !(j.records.is_empty() && loaded.damage.is_some()) => {
                (JournalState::Open, j.originals().count(), j.applied())
            }
            _ => (JournalState::Closed, 0, false),
        };
        Ok(JournalStatus {
            state,
            path: self.journal_path(),
            entries,
            applied,
            damage: loaded.damage,
        })
    }

    /// Whether a journal is open (a session to restore).
    pub fn is_open(&self) -> Result<bool, LifecycleError> {
        Ok(self.status()?.state == JournalState::Open)
    }

    fn restore_as(&self, mode: &str) -> Result<RestoreReport, LifecycleError> {
        let loaded = Journal::load(&self.dir)?;
        let mut report = RestoreReport {
            entries: Vec::new(),
            restored: 0,
            failed: 0,
            journal: JournalState::Closed,
            journal_damage: loaded.damage,
        };
        let Some(j) = loaded.journal else {
            return Ok(report);
        };

        // Units in reverse order of recording: each GSettings original alone, each file once
        // (at the place of its newest original).
        let originals: Vec<&Record> = j.originals().collect();
        let mut units: Vec<Vec<&Record>> = Vec::new();
        let mut file_unit: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for r in originals.iter().rev() {
            let Record::Original { target, .. } = r else {
                continue;
            };
            if let Some(f) = target.file() {
                if let Some(&u) = file_unit.get(f) {
                    units[u].push(r);
                    continue;
                }
                file_unit.insert(f.to_owned(), units.len());
            }
            units.push(vec![r]);
        }

        let mut failed_records: Vec<&Record> = Vec::new();
        for (n, u) in units.iter().enumerate() {
            let Some(Record::Original { target, .. }) = u.first() else {
                continue;
            };
            let results = match target.file() {
                Some(file) => restore_file(&j, file, handler_for(target).as_ref(), u),
                None => restore_settings(target, u),
            };
            failpoint::step(&format!("{mode}.setting:{n}"));
            for (r, outcome) in u.iter().zip(results) {
                let Record::Original {
                    solution,
                    handler,
                    target,
                    setting,
                    original,
                } = r
                else {
                    continue;
                };
                match &outcome {
                    RestoreOutcome::Restored => report.restored += 1,
                    RestoreOutcome::Failed { reason } => {
                        tracing::warn!(target = %target.id(), setting, reason, "restore failed");
                        report.failed += 1;
                        failed_records.push(r);
                    }
                }
                report.entries.push(RestoreEntry {
                    solution: solution.clone(),
                    handler: handler.clone(),
                    target: target.id(),
                    setting: setting.clone(),
                    original: original.to_option(),
                    outcome,
                });
            }
        }
        failpoint::step(&format!("{mode}.done_before_close"));
        if failed_records.is_empty() {
            Journal::close(&self.dir)?;
        } else {
            // Keep what failed (and the file records its files need), in the original order.
            let keep_files: Vec<&Path> = failed_records
                .iter()
                .filter_map(|r| match r {
                    Record::Original { target, .. } => target.file(),
                    _ => None,
                })
                .collect();
            let kept = Journal {
                records: j
                    .records
                    .iter()
                    .filter(|r| match r {
                        Record::Original { .. } => failed_records.iter().any(|f| f == r),
                        Record::FileOriginal { path, .. } | Record::FileWritten { path, .. } => {
                            keep_files.contains(&path.as_path())
                        }
                        Record::Applied => false,
                    })
                    .cloned()
                    .collect(),
            };
            kept.commit(&self.dir, "partial")?;
            report.journal = JournalState::Open;
        }
        Ok(report)
    }
}

/// Turns the instructions into writes, reporting at once what cannot be carried out here.
fn plan(instr: &LifecycleInstructions, report: &mut ApplyReport) -> Vec<Planned> {
    let mut out = Vec::new();
    for (solution, sol) in &instr.solutions {
        for (hname, h) in &sol.settings_handlers {
            let target = target_for(&h.handler_type, &h.options);
            for (setting, value) in &h.settings {
                let terms = h.provenance.get(setting).cloned().unwrap_or_default();
                let slot = report.settings.len();
                report.settings.push(SettingReport {
                    solution: solution.clone(),
                    handler: hname.clone(),
                    handler_type: h.handler_type.clone(),
                    setting: setting.clone(),
                    value: value.clone(),
                    terms,
                    outcome: Outcome::Failed {
                        reason: "not attempted".to_owned(),
                    },
                });
                match &target {
                    Ok(t) => out.push(Planned {
                        solution: solution.clone(),
                        handler: hname.clone(),
                        target: t.clone(),
                        setting: setting.clone(),
                        value: value.clone(),
                        slot: Ok(slot),
                    }),
                    Err(o) => report.settings[slot].outcome = o.clone(),
                }
            }
        }
    }
    for (solution, sol) in &instr.solutions {
        let Some(l) = &sol.launch else { continue };
        let slot = report.launches.len();
        report.launches.push(LaunchReport {
            solution: solution.clone(),
            handler_type: l.handler_type.clone(),
            enabled: l.enabled,
            outcome: Outcome::Failed {
                reason: "not attempted".to_owned(),
            },
        });
        if l.handler_type != GSETTINGS_LAUNCH {
            report.launches[slot].outcome = Outcome::NotSupported {
                reason: format!(
                    "launch handler type {} is not supported here",
                    l.handler_type
                ),
            };
            continue;
        }
        let key = l.options.get("key").and_then(Value::as_str);
        match (target_for(GSETTINGS, &l.options), key) {
            (Ok(t), Some(key)) => out.push(Planned {
                solution: solution.clone(),
                handler: "launcher".to_owned(),
                target: t,
                setting: key.to_owned(),
                value: Value::Bool(l.enabled),
                slot: Err(slot),
            }),
            (Err(o), _) => report.launches[slot].outcome = o,
            (Ok(_), None) => {
                report.launches[slot].outcome = Outcome::Failed {
                    reason: format!("launch options have no string `key`: {}", l.options),
                }
            }
        }
    }
    out
}

/// The target of a handler type with these options, or the outcome to report for each of its
/// settings when there is none.
pub(crate) fn target_for(handler_type: &str, options: &Value) -> Result<TargetSpec, Outcome> {
    let bad = |e: SettingError| Outcome::Failed {
        reason: e.to_string(),
    };
    match handler_type {
        GSETTINGS => {
            let schema = options
                .get("schema")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad(SettingError::BadOptions {
                        detail: format!("expected a string `schema`, found options {options}"),
                    })
                })?;
            Ok(TargetSpec::Gsettings {
                schema: schema.to_owned(),
                path: options
                    .get("path")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
        ORCA | JSON_HANDLER => {
            let h = if handler_type == ORCA {
                FileHandler::orca(options)
            } else {
                FileHandler::json(options)
            };
            let (path, root) = h.resolved().map_err(bad)?;
            check_write_location(&path, &env_var).map_err(bad)?;
            Ok(TargetSpec::JsonFile { path, root })
        }
        INI_HANDLER => {
            let (path, _) = FileHandler::ini(options).resolved().map_err(bad)?;
            check_write_location(&path, &env_var).map_err(bad)?;
            Ok(TargetSpec::IniFile { path })
        }
        other => Err(Outcome::NotSupported {
            reason: format!("settings handler type {other} is not supported here"),
        }),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn handler_for(t: &TargetSpec) -> Box<dyn SettingsHandler> {
    match t {
        TargetSpec::Gsettings { schema, path } => {
            Box::new(GSettingsHandler::open(schema, path.as_deref()))
        }
        TargetSpec::JsonFile { path, root } => {
            Box::new(FileHandler::at(FileFormat::Json, path.clone()).with_root(root))
        }
        TargetSpec::IniFile { path } => Box::new(FileHandler::at(FileFormat::Ini, path.clone())),
    }
}

fn render_file(t: &TargetSpec, values: &BTreeMap<String, MaybeValue>) -> Option<Vec<u8>> {
    let fh = match t {
        TargetSpec::JsonFile { path, root } => {
            FileHandler::at(FileFormat::Json, path.clone()).with_root(root)
        }
        TargetSpec::IniFile { path } => FileHandler::at(FileFormat::Ini, path.clone()),
        TargetSpec::Gsettings { .. } => return None,
    };
    fh.render(values).ok().map(|(b, _)| b)
}

fn set_outcome(report: &mut ApplyReport, p: &Planned, outcome: Outcome) {
    match p.slot {
        Ok(i) => report.settings[i].outcome = outcome,
        Err(i) => report.launches[i].outcome = outcome,
    }
}

/// Writes one unit (one GSettings key, or one file's settings) and reads it back through a new
/// handler, so the read-back shows what the desktop holds now rather than this process's own copy.
/// A GSettings key that reads back otherwise is written once more through another new handler:
/// with the keyfile backend, another process holding an older copy of the file can rewrite the
/// whole file between the write and the read-back, and the second write starts from the file as
/// it is now, so it keeps that process's keys too. `step` is the failpoint passed between the
/// first write and its read-back.
fn write_verified(
    target: &TargetSpec,
    values: &BTreeMap<String, Value>,
    step: &str,
) -> BTreeMap<String, Outcome> {
    let mut outcomes = write_and_read_back(target, values, Some(step));
    if target.file().is_some() {
        return outcomes.into_iter().map(|(k, (o, _))| (k, o)).collect();
    }
    let again: BTreeMap<String, Value> = values
        .iter()
        .filter(|(name, _)| outcomes.get(*name).is_some_and(|(_, mismatch)| *mismatch))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !again.is_empty() {
        tracing::info!(
            target = %target.id(),
            keys = again.len(),
            "read back otherwise after writing (another process rewrote the settings?): \
             writing once more"
        );
        outcomes.extend(write_and_read_back(target, &again, None));
    }
    outcomes.into_iter().map(|(k, (o, _))| (k, o)).collect()
}

/// One write through a new handler and its read-back through another: each setting's outcome,
/// and whether the write succeeded but read back otherwise.
fn write_and_read_back(
    target: &TargetSpec,
    values: &BTreeMap<String, Value>,
    step: Option<&str>,
) -> BTreeMap<String, (Outcome, bool)> {
    let h = handler_for(target);
    let as_set: BTreeMap<String, MaybeValue> = values
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let written = h.set(&as_set);
    if let Some(step) = step {
        failpoint::step(step);
    }
    let names: Vec<String> = values.keys().cloned().collect();
    let back = handler_for(target);
    let read = back.get(&names);
    values
        .iter()
        .map(|(name, value)| {
            let result = match written.get(name) {
                Some(Err(e)) => (Outcome::from_error(e), false),
                None => (
                    Outcome::Failed {
                        reason: "the handler did not write it".to_owned(),
                    },
                    false,
                ),
                Some(Ok(_)) => {
                    let read = read.get(name);
                    let mismatch = matches!(read, Some(Ok(got))
                        if !same_value(&Some(back.canonical(value)), got));
                    (verify(back.as_ref(), value, read), mismatch)
                }
            };
            (name.clone(), result)
        })
        .collect()
}

fn verify(
    h: &dyn SettingsHandler,
    wrote: &Value,
    read: Option<&Result<MaybeValue, SettingError>>,
) -> Outcome {
    let want = Some(h.canonical(wrote));
    let reason = match read {
        Some(Ok(got)) if same_value(&want, got) => return Outcome::Applied,
        Some(Ok(got)) => mismatch(wrote.to_string(), got, "nothing (absent)"),
        Some(Err(e)) => format!("written, but reading it back failed: {e}"),
        None => "written, but not read back".to_owned(),
    };
    Outcome::Failed { reason }
}

/// Why a value read back is not the one written: `read` in words (`absent` when there is none).
fn mismatch(wrote: String, read: &MaybeValue, absent: &str) -> String {
    SettingError::VerifyMismatch {
        wrote,
        read: read
            .as_ref()
            .map_or_else(|| absent.to_owned(), Value::to_string),
    }
    .to_string()
}

/// A file's current content (`None`: missing) and its nearest existing ancestor directory.
fn file_state(file: &Path) -> (Option<String>, Option<PathBuf>) {
    let content = fs::read(file).ok().and_then(|b| String::from_utf8(b).ok());
    let mut anc = file.parent();
    while let Some(a) = anc {
        if a.is_dir() {
            break;
        }
        anc = a.parent();
    }
    (content, anc.map(Path::to_path_buf))
}

/// Puts back the originals of one GSettings target, one key at a time, and verifies each through
/// a new handler (what the desktop holds now); a key that reads back otherwise is put back once
/// more, as in `write_verified`.
fn restore_settings(target: &TargetSpec, recs: &[&Record]) -> Vec<RestoreOutcome> {
    recs.iter()
        .map(|r| {
            let Some((setting, want)) = r.to_restore() else {
                return RestoreOutcome::Failed {
                    reason: "not an original".to_owned(),
                };
            };
            let (first, mismatch) = put_back(target, setting, &want);
            if !mismatch {
                return first;
            }
            tracing::info!(
                target = %target.id(),
                "read back otherwise after restoring (another process rewrote the settings?): \
                 restoring once more"
            );
            put_back(target, setting, &want).0
        })
        .collect()
}

/// One restore of one key through a new handler, read back through another; and whether it was
/// written but read back otherwise.
fn put_back(target: &TargetSpec, setting: &str, want: &MaybeValue) -> (RestoreOutcome, bool) {
    let h = handler_for(target);
    let values = BTreeMap::from([(setting.to_owned(), want.clone())]);
    match h.set(&values).remove(setting) {
        Some(Ok(_)) => {
            let back = handler_for(target);
            let outcome = check_back(back.as_ref(), setting, want);
            let want_c = want.as_ref().map(|v| back.canonical(v));
            let mismatch = matches!(&outcome, RestoreOutcome::Failed { .. })
                && matches!(back.get(&[setting.to_owned()]).remove(setting),
                    Some(Ok(got)) if !same_value(&want_c, &got));
            (outcome, mismatch)
        }
        Some(Err(e)) => (
            RestoreOutcome::Failed {
                reason: e.to_string(),
            },
            false,
        ),
        None => (
            RestoreOutcome::Failed {
                reason: "the handler did not write it".to_owned(),
            },
            false,
        ),
    }
}

fn check_back(h: &dyn SettingsHandler, setting: &str, want: &MaybeValue) -> RestoreOutcome {
    let want_c = want.as_ref().map(|v| h.canonical(v));
    let reason = match h.get(&[setting.to_owned()]).remove(setting) {
        Some(Ok(got)) if same_value(&want_c, &got) => return RestoreOutcome::Restored,
        Some(Ok(got)) => {
            let wrote = want
                .as_ref()
                .map_or_else(|| "absent".to_owned(), Value::to_string);
            mismatch(wrote, &got, "absent")
        }
        Some(Err(e)) => format!("restored, but reading it back failed: {e}"),
        None => "not read back".to_owned(),
    };
    RestoreOutcome::Failed { reason }
}

/// Puts back a settings file. If it holds exactly what Attune wrote (or is already the
/// original), the original bytes come back (or the file goes, with any directories made for
/// it); if someone edited it since, only Attune's settings are put back and their edits stay.
fn restore_file(
    j: &Journal,
    file: &Path,
    h: &dyn SettingsHandler,
    recs: &[&Record],
) -> Vec<RestoreOutcome> {
    crate::atomic::sweep_temp(file);
    let fail_all = |reason: String| {
        recs.iter()
            .map(|_| RestoreOutcome::Failed {
                reason: reason.clone(),
            })
            .collect::<Vec<_>>()
    };
    let current = match fs::read(file) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return fail_all(SettingError::io(file, &e).to_string()),
    };
    if let Some((original, ancestor)) = j.file_original(file) {
        let orig_bytes = original.as_ref().map(|s| s.as_bytes());
        let ours = current.as_deref().is_some_and(|c| {
            j.written_hashes(file)
                .contains(&journal::sha256_hex(c).as_str())
        });
        if current.as_deref() == orig_bytes {
            // Already the original (a write that never happened, or a restore that finished).
        } else if ours || current.is_none() {
            let r = match orig_bytes {
                Some(b) => crate::files::write_file(file, b),
                None => remove_file_and_dirs(file, ancestor.as_deref()),
            };
            if let Err(e) = r {
                return fail_all(e.to_string());
            }
        } else {
            return restore_settings_batch(h, recs);
        }
        return recs
            .iter()
            .map(|r| match r.to_restore() {
                Some((setting, want)) => check_back(h, setting, &want),
                None => RestoreOutcome::Restored,
            })
            .collect();
    }
    restore_settings_batch(h, recs)
}

/// Puts back a file's settings one by one in a single write (the file was edited since).
fn restore_settings_batch(h: &dyn SettingsHandler, recs: &[&Record]) -> Vec<RestoreOutcome> {
    let values: BTreeMap<String, MaybeValue> = recs
        .iter()
        .filter_map(|r| r.to_restore())
        .map(|(setting, want)| (setting.to_owned(), want))
        .collect();
    let written = h.set(&values);
    recs.iter()
        .map(|r| {
            let Some((setting, want)) = r.to_restore() else {
                return RestoreOutcome::Restored;
            };
            match written.get(setting) {
                Some(Ok(_)) => check_back(h, setting, &want),
                Some(Err(e)) => RestoreOutcome::Failed {
                    reason: e.to_string(),
                },
                None => RestoreOutcome::Failed {
                    reason: "the handler did not write it".to_owned(),
                },
            }
        })
        .collect()
}

fn remove_file_and_dirs(file: &Path, keep: Option<&Path>) -> Result<(), SettingError> {
    crate::atomic::remove_durable(file).map_err(|e| SettingError::io(file, &e))?;
    let Some(keep) = keep else { return Ok(()) };
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == keep || !d.starts_with(keep) {
            break;
        }
        // Only empty directories go; anything else put there since stays.
        if fs::remove_dir(d).is_err() {
            break;
        }
        if let Some(p) = d.parent() {
            let _ = crate::atomic::sync_dir(p);
        }
        dir = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_file_handler_aimed_at_login_start_up_is_refused_before_anything_is_planned() {
        for (handler_type, options) in [
            (JSON_HANDLER, json!({"filename": "${HOME}/.profile"})),
            (
                INI_HANDLER,
                json!({"filename": "${XDG_CONFIG_HOME}/autostart/x.desktop"}),
            ),
            (ORCA, json!({"path": "${HOME}/../../etc/orca.conf"})),
        ] {
            let got = target_for(handler_type, &options);

            match got {
                Err(Outcome::Failed { reason }) => {
                    assert!(reason.starts_with("refused to write "), "{reason}")
                }
                other => panic!("{handler_type} {options}: {other:?}"),
            }
        }
    }
}

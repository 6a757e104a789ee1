//! The flow's hands: the [`Desktop`] trait the executor drives, and its real implementation,
//! [`SettingsDesktop`] — `attune-settings` (journalled lifecycle, device reporter) seen through
//! the flow's own report types, so nothing above this module depends on the settings crate's
//! shapes. Tests give the flow an in-memory desktop instead.

use attune_model::capture::Reading;
use attune_model::device::DeviceReport;
use attune_model::lifecycle::LifecycleInstructions;
use attune_model::registry::SolutionsRegistry;
use attune_settings::journal::JournalError;
use attune_settings::lifecycle::{
    JournalState, Lifecycle, LifecycleError, Outcome as SOutcome, RestoreOutcome,
};
use serde::Serialize;

use crate::config::Config;
use crate::error::FlowError;
use crate::paths::Paths;
use crate::report::{Outcome, ReportRow};

/// What the flow does to a desktop: read what is installed, apply through the journal, put
/// back, and say whether a journal is open.
pub trait Desktop: Send + Sync {
    /// Which registry solutions are installed here.
    fn device_report(&self, registry: &SolutionsRegistry) -> DeviceReport;
    /// Applies the instructions through the journal; one row per setting, launch, unused term
    /// and rejected value.
    fn apply(&self, instr: &LifecycleInstructions) -> Result<Vec<ReportRow>, FlowError>;
    /// Restores every journalled original (key-out and recovery alike).
    fn restore(&self) -> Result<Restored, FlowError>;
    fn journal_open(&self) -> Result<bool, FlowError>;
    /// `Some(entries)` when a journal is open.
    fn journal_entries(&self) -> Result<Option<usize>, FlowError>;
    /// Removes the temp files a crash between writing and renaming can leave.
    fn sweep(&self, paths: &Paths);
    /// Keeps an unreadable journal aside (`attune recover --discard-journal`); where it went.
    fn keep_aside_damaged_journal(
        &self,
        paths: &Paths,
        now_unix: u64,
    ) -> Result<std::path::PathBuf, FlowError>;
    /// `attune doctor`: what this machine supports and why.
    fn doctor(&self, registry: &SolutionsRegistry, config: &Config, paths: &Paths) -> Doctor;
    /// For a capture: the values the person set on the installed solutions (never defaults),
    /// and a failed row for each setting that could not be read.
    fn read(&self, registry: &SolutionsRegistry) -> (Reading, Vec<ReportRow>);
}

/// A shared desktop is a desktop: the flow drives it while its owner still reads it (the chaos
/// run compares each in-memory desktop with what it held before, after the key-out).
impl<T: Desktop + ?Sized> Desktop for std::sync::Arc<T> {
    fn device_report(&self, registry: &SolutionsRegistry) -> DeviceReport {
        (**self).device_report(registry)
    }
    fn apply(&self, instr: &LifecycleInstructions) -> Result<Vec<ReportRow>, FlowError> {
        (**self).apply(instr)
    }
    fn restore(&self) -> Result<Restored, FlowError> {
        (**self).restore()
    }
    fn journal_open(&self) -> Result<bool, FlowError> {
        (**self).journal_open()
    }
    fn journal_entries(&self) -> Result<Option<usize>, FlowError> {
        (**self).journal_entries()
    }
    fn sweep(&self, paths: &Paths) {
        (**self).sweep(paths)
    }
    fn keep_aside_damaged_journal(
        &self,
        paths: &Paths,
        now_unix: u64,
    ) -> Result<std::path::PathBuf, FlowError> {
        (**self).keep_aside_damaged_journal(paths, now_unix)
    }
    fn doctor(&self, registry: &SolutionsRegistry, config: &Config, paths: &Paths) -> Doctor {
        (**self).doctor(registry, config, paths)
    }
    fn read(&self, registry: &SolutionsRegistry) -> (Reading, Vec<ReportRow>) {
        (**self).read(registry)
    }
}

/// The desktop this process runs on, through `attune-settings`.
pub struct SettingsDesktop {
    life: Lifecycle,
}

/// What a restore did, in the flow's terms.
pub struct Restored {
    pub restored: usize,
    pub failed: Vec<ReportRow>,
}

/// `attune doctor`: what is supported here and why, and where Attune keeps its state.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub profile: String,
    pub config_sources: Vec<String>,
    pub solutions: Vec<SolutionSupport>,
    pub gsettings_backend: Option<String>,
    pub data_dir: String,
    pub state_dir: String,
    pub journal: String,
    pub journal_entries: usize,
    /// What an administrator should know about the configuration (`Config::warnings`).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SolutionSupport {
    pub id: String,
    pub name: String,
    pub installed: bool,
    pub reason: String,
}

impl Doctor {
    /// Plain-text rendering.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("Profile: {}\n", self.profile));
        s.push_str(&format!(
            "Configuration: {}\n",
            self.config_sources.join(" < ")
        ));
        s.push_str(&format!(
            "GSettings backend: {}\n",
            self.gsettings_backend.as_deref().unwrap_or("default")
        ));
        s.push_str(&format!(
            "Data: {}\nState: {}\n",
            self.data_dir, self.state_dir
        ));
        s.push_str(&format!(
            "Journal: {} ({} entries)\n",
            self.journal, self.journal_entries
        ));
        for w in &self.warnings {
            s.push_str(&format!("Warning: {w}\n"));
        }
        s.push_str("Solutions:\n");
        for sol in &self.solutions {
            s.push_str(&format!(
                "  {} {} ({}): {}\n",
                if sol.installed { "yes" } else { "no " },
                sol.id,
                sol.name,
                sol.reason
            ));
        }
        s
    }
}

impl SettingsDesktop {
    pub fn new(paths: &Paths) -> SettingsDesktop {
        SettingsDesktop {
            life: Lifecycle::new(paths.journal_dir()),
        }
    }

    fn journal_err(e: LifecycleError) -> FlowError {
        match e {
            LifecycleError::Journal(JournalError::Damaged { path, detail })
            | LifecycleError::JournalNotWritten(JournalError::Damaged { path, detail }) => {
                FlowError::JournalDamaged { path, detail }
            }
            e => FlowError::Journal(e),
        }
    }
}

impl Desktop for SettingsDesktop {
    /// Keeps an unreadable journal aside (`attune recover --discard-journal`); where it went.
    fn keep_aside_damaged_journal(
        &self,
        paths: &Paths,
        now_unix: u64,
    ) -> Result<std::path::PathBuf, FlowError> {
        attune_settings::journal::Journal::keep_aside_damaged(&paths.journal_dir(), now_unix)
            .map_err(|e| FlowError::Journal(LifecycleError::Journal(e)))
    }

    /// Which registry solutions are installed here.
    fn device_report(&self, registry: &SolutionsRegistry) -> DeviceReport {
        attune_settings::device::DeviceReporter::from_env()
            .report(registry)
            .report
    }

    /// Applies the instructions through the journal; one row per setting, launch, unused term and
    /// rejected value.
    fn apply(&self, instr: &LifecycleInstructions) -> Result<Vec<ReportRow>, FlowError> {
        let rep = self.life.apply(instr).map_err(Self::journal_err)?;
        let mut rows = Vec::new();
        for s in rep.settings {
            rows.push(row(&s.solution, &s.setting, Some(s.value), &s.outcome));
        }
        for l in rep.launches {
            rows.push(row(
                &l.solution,
                "running",
                Some(serde_json::Value::Bool(l.enabled)),
                &l.outcome,
            ));
        }
        for inv in &instr.invalid {
            rows.push(ReportRow {
                solution: inv.solution.clone(),
                setting: inv.setting.clone(),
                value: None,
                outcome: Outcome::Failed,
                reason: Some(format!(
                    "value rejected before touching the desktop: {}",
                    inv.rule
                )),
            });
        }
        for u in &instr.unsupported {
            rows.push(ReportRow {
                solution: String::new(),
                setting: u.term.clone(),
                value: None,
                outcome: Outcome::NotSupported,
                reason: Some(u.reason.clone()),
            });
        }
        Ok(rows)
    }

    /// Restores every journalled original (key-out and recovery alike).
    fn restore(&self) -> Result<Restored, FlowError> {
        let rep = self.life.recover().map_err(Self::journal_err)?;
        let failed = rep
            .entries
            .iter()
            .filter_map(|e| match &e.outcome {
                RestoreOutcome::Restored => None,
                RestoreOutcome::Failed { reason } => Some(ReportRow {
                    solution: e.solution.clone(),
                    setting: e.setting.clone(),
                    value: e.original.clone(),
                    outcome: Outcome::Failed,
                    reason: Some(reason.clone()),
                }),
            })
            .collect();
        Ok(Restored {
            restored: rep.restored,
            failed,
        })
    }

    /// Removes the temp files a crash between writing and renaming can leave (the journal's and
    /// the session file's); their targets are intact, so they are garbage.
    fn sweep(&self, paths: &Paths) {
        attune_settings::atomic::sweep_temp(&self.life.journal_path());
        attune_settings::atomic::sweep_temp(&paths.session_file());
    }

    fn journal_open(&self) -> Result<bool, FlowError> {
        self.life.is_open().map_err(Self::journal_err)
    }

    /// `Some(entries)` when a journal is open.
    fn journal_entries(&self) -> Result<Option<usize>, FlowError> {
        let st = self.life.status().map_err(Self::journal_err)?;
        Ok((st.state == JournalState::Open).then_some(st.entries))
    }

    fn read(&self, registry: &SolutionsRegistry) -> (Reading, Vec<ReportRow>) {
        let device = self.device_report(registry);
        let out = attune_settings::reading::read(registry, &device);
        let problems = out
            .problems
            .into_iter()
            .map(|p| ReportRow {
                solution: p.solution,
                setting: p.setting,
                value: None,
                outcome: Outcome::Failed,
                reason: Some(format!("could not be read: {}", p.reason)),
            })
            .collect();
        (out.reading, problems)
    }

    fn doctor(&self, registry: &SolutionsRegistry, config: &Config, paths: &Paths) -> Doctor {
        let found = attune_settings::device::DeviceReporter::from_env().report(registry);
        let solutions = found
            .solutions
            .iter()
            .map(|f| SolutionSupport {
                id: f.id.clone(),
                name: f.name.clone(),
                installed: f.installed,
                reason: f
                    .checks
                    .iter()
                    .map(|c| c.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            })
            .collect();
        let st = self.life.status().ok();
        Doctor {
            profile: config.profile.to_string(),
            config_sources: config.sources.clone(),
            solutions,
            gsettings_backend: std::env::var("GSETTINGS_BACKEND").ok(),
            data_dir: paths.data_dir.display().to_string(),
            state_dir: paths.state_dir.display().to_string(),
            journal: match st.as_ref().map(|s| s.state) {
                Some(JournalState::Open) => "open".to_owned(),
                Some(JournalState::Closed) => "closed".to_owned(),
                None => "unreadable".to_owned(),
            },
            journal_entries: st.map(|s| s.entries).unwrap_or(0),
            warnings: config.warnings(),
        }
    }
}

fn row(solution: &str, setting: &str, value: Option<serde_json::Value>, o: &SOutcome) -> ReportRow {
    let (outcome, reason) = match o {
        SOutcome::Applied => (Outcome::Applied, None),
        SOutcome::NotSupported { reason } => (Outcome::NotSupported, Some(reason.clone())),
        SOutcome::Failed { reason } => (Outcome::Failed, Some(reason.clone())),
    };
    ReportRow {
        solution: solution.to_owned(),
        setting: setting.to_owned(),
        value,
        outcome,
        reason,
    }
}

/// A desktop in memory: every setting applies, the values live in a map, and a journal of
/// originals (the value before the first change of each setting, or "absent") is what a restore
/// puts back. The flow's own tests use it, and so does the chaos run (`crates/attune-chaos`),
/// which keys fifty people in and out in one process (GSettings' keyfile backend is one per
/// process) and checks at the end that each desktop holds exactly what it held before.
#[cfg(any(test, feature = "memory-desktop"))]
pub mod memory {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// A setting's address on the in-memory desktop: (solution id, setting name).
    pub type Setting = (String, String);

    #[derive(Default)]
    struct State {
        values: BTreeMap<Setting, serde_json::Value>,
        /// Originals of the settings changed since the last restore, oldest first; `None` was
        /// absent.
        journal: Vec<(Setting, Option<serde_json::Value>)>,
    }

    /// See the module's documentation.
    #[derive(Default)]
    pub struct MemoryDesktop {
        state: Mutex<State>,
    }

    impl MemoryDesktop {
        /// A desktop whose settings start with these values (anything else is absent).
        pub fn with_values(values: BTreeMap<Setting, serde_json::Value>) -> MemoryDesktop {
            MemoryDesktop {
                state: Mutex::new(State {
                    values,
                    journal: Vec::new(),
                }),
            }
        }

        /// Every setting's current value.
        pub fn values(&self) -> BTreeMap<Setting, serde_json::Value> {
            self.state().values.clone()
        }

        fn state(&self) -> std::sync::MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl State {
        fn write(&mut self, at: Setting, value: serde_json::Value) {
            if !self.journal.iter().any(|(s, _)| *s == at) {
                let original = self.values.get(&at).cloned();
                self.journal.push((at.clone(), original));
            }
            self.values.insert(at, value);
        }
    }

    impl Desktop for MemoryDesktop {
        fn device_report(&self, registry: &SolutionsRegistry) -> DeviceReport {
            DeviceReport::linux(registry.solutions.keys().cloned())
        }

        fn apply(&self, instr: &LifecycleInstructions) -> Result<Vec<ReportRow>, FlowError> {
            let mut rows = Vec::new();
            let mut st = self.state();
            for (sid, sol) in &instr.solutions {
                for h in sol.settings_handlers.values() {
                    for (setting, value) in &h.settings {
                        st.write((sid.clone(), setting.clone()), value.clone());
                        rows.push(row(sid, setting, Some(value.clone()), &SOutcome::Applied));
                    }
                }
                if let Some(l) = &sol.launch {
                    let on = serde_json::Value::Bool(l.enabled);
                    let running = attune_model::capture::RUNNING;
                    st.write((sid.clone(), running.to_owned()), on.clone());
                    rows.push(row(sid, running, Some(on), &SOutcome::Applied));
                }
            }
            Ok(rows)
        }

        fn restore(&self) -> Result<Restored, FlowError> {
            let mut st = self.state();
            let journal = std::mem::take(&mut st.journal);
            let restored = journal.len();
            for (at, original) in journal.into_iter().rev() {
                match original {
                    Some(v) => st.values.insert(at, v),
                    None => st.values.remove(&at),
                };
            }
            Ok(Restored {
                restored,
                failed: Vec::new(),
            })
        }

        fn journal_open(&self) -> Result<bool, FlowError> {
            Ok(!self.state().journal.is_empty())
        }

        fn journal_entries(&self) -> Result<Option<usize>, FlowError> {
            let n = self.state().journal.len();
            Ok((n > 0).then_some(n))
        }

        fn sweep(&self, _paths: &Paths) {}

        fn keep_aside_damaged_journal(
            &self,
            paths: &Paths,
            _now_unix: u64,
        ) -> Result<std::path::PathBuf, FlowError> {
            Ok(paths.journal_dir())
        }

        /// What is changed and not yet put back, each setting under the registry handler that
        /// supports it (launch states under `running`).
        fn read(&self, registry: &SolutionsRegistry) -> (Reading, Vec<ReportRow>) {
            let mut r = Reading::default();
            let st = self.state();
            for ((sid, setting), _) in &st.journal {
                let (Some(entry), Some(value)) = (
                    registry.get(sid),
                    st.values.get(&(sid.clone(), setting.clone())),
                ) else {
                    continue;
                };
                if setting == attune_model::capture::RUNNING {
                    if let Some(on) = value.as_bool() {
                        r.running.insert(sid.clone(), on);
                    }
                    continue;
                }
                let handler = entry
                    .settings_handlers
                    .iter()
                    .find(|(_, h)| h.supported_settings.contains_key(setting));
                if let Some((name, _)) = handler {
                    r.settings
                        .entry(sid.clone())
                        .or_default()
                        .entry(name.clone())
                        .or_default()
                        .insert(setting.clone(), value.clone());
                }
            }
            (r, Vec::new())
        }

        fn doctor(&self, _: &SolutionsRegistry, config: &Config, paths: &Paths) -> Doctor {
            Doctor {
                profile: config.profile.to_string(),
                config_sources: Vec::new(),
                solutions: Vec::new(),
                gsettings_backend: None,
                data_dir: paths.data_dir.display().to_string(),
                state_dir: paths.state_dir.display().to_string(),
                journal: "memory".to_owned(),
                journal_entries: self.state().journal.len(),
                warnings: Vec::new(),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        fn at(s: &str) -> Setting {
            ("org.gnome.desktop.interface".to_owned(), s.to_owned())
        }

        #[test]
        fn restore_puts_back_originals_and_removes_what_was_absent() {
            let before = BTreeMap::from([(at("text-scaling-factor"), json!(1.0))]);
            let d = MemoryDesktop::with_values(before.clone());
            let mut st = d.state();
            st.write(at("text-scaling-factor"), json!(1.5));
            st.write(at("text-scaling-factor"), json!(2.0));
            st.write(at("cursor-size"), json!(48));
            drop(st);

            let back = d.restore().unwrap();

            assert_eq!(back.restored, 2, "one original per setting");
            assert_eq!(d.values(), before);
            assert!(!d.journal_open().unwrap());
        }
    }
}

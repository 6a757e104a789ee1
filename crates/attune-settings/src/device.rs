//! The device reporter: which solutions of the registry are installed on this machine, and why
//! each is or is not (for `attune doctor`).
//!
//! A solution's `isInstalled` list holds checks that must all pass; a solution with none is
//! installed. Check types: `gpii.deviceReporter.alwaysInstalled`; `gsettings.schemaExists`
//! (`schema`); `file.exists` (`path`, with `${HOME}`/`${XDG_…}` placeholders); `command.exists`
//! (`name`, searched on `PATH`); and GPII's `gpii.packageKit.find` (`name`), approximated by
//! asking dpkg whether the package is installed, or else finding a command of that name.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use attune_model::device::DeviceReport;
use attune_model::registry::SolutionsRegistry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::files::expand_path;
use crate::gsettings::GSettingsHandler;

/// One `isInstalled` check and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: Value,
    pub passed: bool,
    /// Plain words: what was looked for and what was found.
    pub reason: String,
}

/// Whether one solution is installed, with the checks that decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolutionFinding {
    pub id: String,
    pub name: String,
    pub installed: bool,
    pub checks: Vec<CheckResult>,
}

/// The device report, and the reasons behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceFindings {
    pub report: DeviceReport,
    pub solutions: Vec<SolutionFinding>,
}

/// Looks at this machine. The environment it reads (`PATH`, `HOME`, `XDG_*`) is captured when
/// it is made, so tests can give their own.
#[derive(Debug, Clone)]
pub struct DeviceReporter {
    path_var: Option<OsString>,
    env: BTreeMap<String, String>,
    use_dpkg: bool,
}

impl DeviceReporter {
    /// A reporter over this process's environment.
    pub fn from_env() -> DeviceReporter {
        DeviceReporter {
            path_var: std::env::var_os("PATH"),
            env: std::env::vars().collect(),
            use_dpkg: true,
        }
    }

    /// A reporter with a given `PATH` and environment, and dpkg only if `use_dpkg`.
    pub fn with_env(
        path_var: Option<OsString>,
        env: BTreeMap<String, String>,
        use_dpkg: bool,
    ) -> DeviceReporter {
        DeviceReporter {
            path_var,
            env,
            use_dpkg,
        }
    }

    /// Checks every solution of the registry.
    pub fn report(&self, registry: &SolutionsRegistry) -> DeviceFindings {
        let mut cache: BTreeMap<String, CheckResult> = BTreeMap::new();
        let mut solutions = Vec::new();
        for (id, entry) in &registry.solutions {
            let checks: Vec<CheckResult> = if entry.is_installed.is_empty() {
                vec![CheckResult {
                    check: Value::Null,
                    passed: true,
                    reason: "the registry gives no installation check".to_owned(),
                }]
            } else {
                entry
                    .is_installed
                    .iter()
                    .map(|c| {
                        cache
                            .entry(c.to_string())
                            .or_insert_with(|| self.check(c))
                            .clone()
                    })
                    .collect()
            };
            solutions.push(SolutionFinding {
                id: id.clone(),
                name: entry.name.clone(),
                installed: checks.iter().all(|c| c.passed),
                checks,
            });
        }
        DeviceFindings {
            report: DeviceReport::linux(
                solutions
                    .iter()
                    .filter(|s| s.installed)
                    .map(|s| s.id.clone()),
            ),
            solutions,
        }
    }

    /// Runs one check.
    pub fn check(&self, c: &Value) -> CheckResult {
        let field = |k: &str| c.get(k).and_then(Value::as_str);
        let ty = field("type").unwrap_or_default();
        let (passed, reason) = match ty {
            "gpii.deviceReporter.alwaysInstalled" => (true, "always installed".to_owned()),
            "gsettings.schemaExists" => match field("schema") {
                Some(s) if GSettingsHandler::schema_exists(s) => {
                    (true, format!("GSettings schema {s} is installed"))
                }
                Some(s) => (false, format!("GSettings schema {s} is not installed")),
                None => (false, "the check names no `schema`".to_owned()),
            },
            "file.exists" => match field("path") {
                Some(raw) => match expand_path(raw, &|k| self.env.get(k).cloned()) {
                    Ok(p) if p.exists() => (true, format!("{} exists", p.display())),
                    Ok(p) => (false, format!("{} does not exist", p.display())),
                    Err(e) => (false, e.to_string()),
                },
                None => (false, "the check names no `path`".to_owned()),
            },
            "command.exists" => match field("name") {
                Some(n) => match self.find_command(n) {
                    Some(p) => (true, format!("command {n} found at {}", p.display())),
                    None => (false, format!("command {n} is not on PATH")),
                },
                None => (false, "the check names no `name`".to_owned()),
            },
            "gpii.packageKit.find" => match field("name") {
                Some(n) => self.package(n),
                None => (false, "the check names no `name`".to_owned()),
            },
            other => (
                false,
                format!("installation check type {other:?} is not supported here"),
            ),
        };
        CheckResult {
            check: c.clone(),
            passed,
            reason,
        }
    }

    fn package(&self, name: &str) -> (bool, String) {
        if self.use_dpkg && dpkg_installed(name) {
            return (true, format!("package {name} is installed (dpkg)"));
        }
        match self.find_command(name) {
            Some(p) => (true, format!("command {name} found at {}", p.display())),
            None if self.use_dpkg => (
                false,
                format!("package {name} is not installed and no command {name} is on PATH"),
            ),
            None => (false, format!("no command {name} is on PATH")),
        }
    }

    /// The first executable file `name` in `PATH`. A name with a slash is not searched.
    pub fn find_command(&self, name: &str) -> Option<PathBuf> {
        if name.is_empty() || name.contains('/') {
            return None;
        }
        let path = self.path_var.as_ref()?;
        std::env::split_paths(path)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether dpkg knows the package as installed. A machine without dpkg says no.
fn dpkg_installed(name: &str) -> bool {
    if name.is_empty() || name.starts_with('-') {
        return false;
    }
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", name])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).ends_with("install ok installed")
        })
}

//! Where Attune keeps its files (docs/design.md §5.1). From `directories` (XDG on Linux, so `HOME`
//! and `XDG_*` redirect everything), each overridable by an `ATTUNE_*_DIR` variable.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Attune's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// User configuration (`attune.toml`).
    pub config_dir: PathBuf,
    /// Preference cache (later issues).
    pub cache_dir: PathBuf,
    /// Durable data: the journal lives here.
    pub data_dir: PathBuf,
    /// Session state and the state lock.
    pub state_dir: PathBuf,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PathsError {
    #[error("cannot find a home directory: set HOME (or ATTUNE_DATA_DIR and friends)")]
    NoHome,
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Paths {
    /// Paths from the process environment.
    pub fn from_env() -> Result<Paths, PathsError> {
        Self::resolve(|k| std::env::var_os(k).map(PathBuf::from))
    }

    /// Paths with overrides looked up through `var` (tests pass their own).
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>) -> Result<Paths, PathsError> {
        let pick = |name: &str, dflt: Option<PathBuf>| -> Result<PathBuf, PathsError> {
            var(name)
                .filter(|p| !p.as_os_str().is_empty())
                .or(dflt)
                .ok_or(PathsError::NoHome)
        };
        let pd = directories::ProjectDirs::from("", "Attune", "attune");
        // The variable, else the platform's folder for Attune.
        let project = |name: &str, dir: fn(&directories::ProjectDirs) -> &Path| {
            pick(name, pd.as_ref().map(|d| dir(d).to_path_buf()))
        };
        let config_dir = project("ATTUNE_CONFIG_DIR", directories::ProjectDirs::config_dir)?;
        let cache_dir = project("ATTUNE_CACHE_DIR", directories::ProjectDirs::cache_dir)?;
        let data_dir = project("ATTUNE_DATA_DIR", directories::ProjectDirs::data_dir)?;
        let state_dir = pick(
            "ATTUNE_STATE_DIR",
            pd.as_ref()
                .and_then(|d| d.state_dir().map(Path::to_path_buf))
                .or_else(|| pd.as_ref().map(|d| d.data_dir().join("state"))),
        )?;
        Ok(Paths {
            config_dir,
            cache_dir,
            data_dir,
            state_dir,
        })
    }

    /// All paths under one root (tests, kiosks).
    pub fn under(root: &Path) -> Paths {
        Paths {
            config_dir: root.join("config"),
            cache_dir: root.join("cache"),
            data_dir: root.join("data"),
            state_dir: root.join("state"),
        }
    }

    /// The journal directory.
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// The state lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("attune.lock")
    }

    /// The active session file.
    pub fn session_file(&self) -> PathBuf {
        self.state_dir.join("session.json")
    }

    /// Creates the directories that must exist before any state is written (private to the
    /// user: the machine is shared).
    pub fn ensure(&self) -> Result<(), PathsError> {
        for d in [&self.data_dir, &self.state_dir, &self.journal_dir()] {
            create_private_dir(d)?;
        }
        Ok(())
    }
}

fn create_private_dir(d: &Path) -> Result<(), PathsError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(d)
        .map_err(|source| PathsError::Create {
            path: d.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_over_xdg() {
        let p = Paths::resolve(|k| match k {
            "ATTUNE_DATA_DIR" => Some(PathBuf::from("/x/data")),
            _ => None,
        })
        .unwrap();
        assert_eq!(p.data_dir, PathBuf::from("/x/data"));
        assert_eq!(p.journal_dir(), PathBuf::from("/x/data/journal"));
    }

    #[test]
    fn ensure_creates_private_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = Paths::under(d.path());
        p.ensure().unwrap();
        let mode = std::fs::metadata(&p.state_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

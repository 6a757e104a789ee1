//! One process owns keying by listener: the app and `attune listen` both run the USB-stick
//! listener and the local API, and two of them at once would key the same stick in twice and
//! fight over the API's port. Whoever starts its listeners first holds an advisory lock
//! (`flock`, via std) on `listeners.lock` in the state dir, with its pid and name written in it;
//! the other refuses and says who holds it. The kernel drops the lock when its holder dies, so a
//! crash never leaves a stale owner behind.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the state dir.
pub const LOCK_FILE: &str = "listeners.lock";

/// Who runs the listeners, as a refusal names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    App,
    Cli,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::App => "the Attune app",
            Owner::Cli => "attune listen",
        }
    }
}

/// Why the listeners cannot start here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnerError {
    /// Another process holds the listeners.
    #[error("{holder} (process {pid}) already listens for USB keys and the local API; stop it first (only one process may run the listeners)")]
    Held { holder: String, pid: String },
    #[error("cannot open the listeners' lock {path}: {detail}")]
    Io { path: String, detail: String },
}

/// Held while this process runs the listeners; released on drop (or when the process dies).
#[derive(Debug)]
pub struct ListenerLock {
    _file: File,
}

/// The lock file in `state_dir`.
pub fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join(LOCK_FILE)
}

impl ListenerLock {
    /// Takes the lock at `path` for `owner` without waiting: a running owner does not go away.
    pub fn acquire(path: &Path, owner: Owner) -> Result<ListenerLock, OwnerError> {
        let io = |e: std::io::Error| OwnerError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let mut file = attune_flow::open_lock_file(path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(held(&text));
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}\n{}\n", std::process::id(), owner.as_str()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(ListenerLock { _file: file })
    }
}

/// The refusal for a lock file holding `text` (`pid\nowner\n`; empty if its holder has not
/// written it yet).
fn held(text: &str) -> OwnerError {
    let mut lines = text.lines();
    let pid = lines
        .next()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    let holder = lines
        .next()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .unwrap_or("another Attune process")
        .to_owned();
    OwnerError::Held { holder, pid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path());

        let first = ListenerLock::acquire(&path, Owner::App).unwrap();
        // flock locks belong to the open file: a second open in the same process conflicts as
        // another process's would.
        let refused = ListenerLock::acquire(&path, Owner::Cli).unwrap_err();

        assert_eq!(
            refused,
            OwnerError::Held {
                holder: "the Attune app".to_owned(),
                pid: std::process::id().to_string(),
            }
        );
        assert!(refused
            .to_string()
            .contains(&std::process::id().to_string()));
        drop(first);
        assert!(ListenerLock::acquire(&path, Owner::Cli).is_ok());
    }

    #[test]
    fn an_unwritten_lock_file_still_gives_a_refusal() {
        assert_eq!(
            held(""),
            OwnerError::Held {
                holder: "another Attune process".to_owned(),
                pid: "unknown".to_owned(),
            }
        );
    }
}

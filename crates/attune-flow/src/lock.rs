//! One state lock, so two processes (the app, the CLI, a listener) cannot key in or out at once.
//! An advisory lock on a file in the state dir (`flock`, via std): the kernel drops it when the
//! process dies, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Held while a key-in, key-out or recovery runs; released on drop.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LockError {
    #[error("another Attune process{holder} is keying in or out; try again when it has finished")]
    Busy { holder: String },
    #[error("cannot open the state lock {path}: {detail}")]
    Io { path: String, detail: String },
}

/// Opens (creating it and its folder if need be) a lock file for `flock`, readable so a refused
/// process can read who holds it, never truncated on open (that would wipe the holder's note).
pub fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

impl StateLock {
    /// Takes the lock, waiting up to `wait` for another process to finish.
    pub fn acquire(path: &Path, wait: Duration) -> Result<StateLock, LockError> {
        let io = |e: std::io::Error| LockError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let mut file = open_lock_file(path).map_err(io)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                    // Polling a lock is not synchronising a test: it is how flock is waited on
                    // with a bound.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    let mut s = String::new();
                    let _ = file.read_to_string(&mut s);
                    let holder = s
                        .trim()
                        .parse::<u32>()
                        .map(|p| format!(" (process {p})"))
                        .unwrap_or_default();
                    return Err(LockError::Busy { holder });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        // Record who holds it, for the message another process shows.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_pid() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("attune.lock");
        let first = StateLock::acquire(&p, Duration::ZERO).unwrap();
        let e = StateLock::acquire(&p, Duration::ZERO).unwrap_err();
        assert!(
            e.to_string().contains(&std::process::id().to_string()),
            "{e}"
        );
        drop(first);
        StateLock::acquire(&p, Duration::ZERO).unwrap();
    }
}

//! Durable file replacement: the one place where Attune writes a file it must not lose or tear.
//!
//! The sequence is write the temp file → fsync it → rename it over the target → fsync the
//! directory. Without the first fsync a power cut can leave the renamed file empty; without the
//! directory fsync the rename itself can be lost (ALICE, OSDI'14). The whole sequence lives in
//! [`atomic_write`] so that an `strace` of a real run can check it, and so the journal's crash
//! tests can stop the process between any two of its steps.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::failpoint;

/// The temp file [`atomic_write`] uses for `path`: in the same directory (rename is atomic only
/// within one file system), with a fixed name so a crash leaves at most one, which
/// [`sweep_temp`] removes.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.attune.tmp"))
}

/// Replaces `path` with `bytes` durably: temp file, fsync, rename, fsync of the directory. The
/// parent directory must exist. Either the old or the new content survives a crash or power
/// cut, never a mixture.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_steps(path, bytes, None)
}

/// [`atomic_write`] with failpoints `<prefix>.tmp_written`, `<prefix>.fsynced`,
/// `<prefix>.renamed` between its steps (see [`crate::failpoint`]), and a test-only injected
/// failure (`ATTUNE_TEST_FAIL_AT=<prefix>.write`, reported as "no space left on device").
pub(crate) fn atomic_write_steps(
    path: &Path,
    bytes: &[u8],
    prefix: Option<&str>,
) -> io::Result<()> {
    let step = |s: &str| {
        if let Some(p) = prefix {
            failpoint::step(&format!("{p}.{s}"));
        }
    };
    let dir = parent_dir(path);
    let tmp = temp_path(path);
    let result = (|| {
        if let Some(p) = prefix {
            failpoint::fail_io(&format!("{p}.write"))?;
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        if let Ok(meta) = fs::metadata(path) {
            // Replacing a file keeps its mode (a private 0600 file stays private).
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        step("tmp_written");
        if !failpoint::mutated("atomic.fsync_file") {
            f.sync_all()?;
        }
        step("fsynced");
        drop(f);
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        // A failed write (disk full, read-only) must not leave a half-written temp file behind.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    step("renamed");
    if failpoint::mutated("atomic.fsync_dir") {
        return Ok(());
    }
    sync_dir(&dir)
}

/// Removes `path` durably (the directory entry removal is fsynced). A missing file is not an
/// error.
pub fn remove_durable(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(&parent_dir(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a temp file a crash left behind for `path`, if any.
pub fn sweep_temp(path: &Path) {
    let tmp = temp_path(path);
    if tmp.exists() {
        let _ = fs::remove_file(&tmp);
    }
}

/// fsyncs a directory, so that entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!temp_path(&p).exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("missing/f.json");
        assert!(atomic_write(&p, b"x").is_err());
        assert!(!p.exists());
    }

    #[test]
    fn remove_durable_ignores_missing_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("gone");
        remove_durable(&p).unwrap();
        fs::write(&p, b"x").unwrap();
        remove_durable(&p).unwrap();
        assert!(!p.exists());
    }
}

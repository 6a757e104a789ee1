//! Logging to a daily file in the data dir (`logs/attune.<date>.log`, UTC dates, a week kept).
//! What is logged never holds a key (only the flow's fingerprint) or a preference value; still, a
//! log says when someone used this computer and what went wrong, and the computer may be shared,
//! so the directory is 0700 and every file 0600: created so (whatever the umask), and narrowed at
//! start where an older version left them readable by others. Our own small writer instead of
//! `tracing_appender::rolling`, which creates its files with the umask's mode.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

const PREFIX: &str = "attune";
const SUFFIX: &str = "log";
/// How many daily files are kept (the current one included).
const KEEP: usize = 7;
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Starts logging into `dir` (and to stderr); the guard flushes the file when dropped, so the
/// caller keeps it for the process's life. `None` dir: stderr only.
pub fn init(dir: Option<&Path>) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = EnvFilter::try_from_env("ATTUNE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let file = dir.map(|dir| DailyFile::open(dir).map_err(|e| (dir, e)));
    let (file, failed) = match file {
        Some(Ok(f)) => (Some(f), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let guard = match file {
        Some(daily) => {
            let (writer, guard) = tracing_appender::non_blocking(daily);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(stderr)
                .with(layer)
                .try_init();
            Some(guard)
        }
        None => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(stderr)
                .try_init();
            None
        }
    };
    if let Some((dir, e)) = failed {
        tracing::warn!(dir = %dir.display(), error = %e, "no log file: logging to stderr only");
    }
    guard
}

/// The log directory under a data dir.
pub fn dir_in(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The newest log file in `dir` (the one being written), or the directory while it has none.
pub fn current_file(dir: Option<&Path>) -> Option<PathBuf> {
    let dir = dir?;
    let newest = log_files(dir)
        .ok()
        .and_then(|files| files.into_iter().max());
    Some(newest.unwrap_or_else(|| dir.to_path_buf()))
}

/// The log files in `dir`, unordered.
fn log_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect())
}

/// The file of one UTC day: `attune.2026-11-23.log` (the name `tracing_appender` used).
fn file_name(day: &str) -> String {
    format!("{PREFIX}.{day}.{SUFFIX}")
}

/// A log file per UTC day in a private directory, every file created 0600.
pub struct DailyFile {
    dir: PathBuf,
    day: String,
    file: File,
    clock: Box<dyn FnMut() -> SystemTime + Send>,
}

impl DailyFile {
    /// Opens today's file in `dir`, making `dir` (0700) if needed and narrowing the modes of the
    /// directory and of every log file already there.
    pub fn open(dir: &Path) -> io::Result<DailyFile> {
        Self::with_clock(dir, Box::new(SystemTime::now))
    }

    fn with_clock(
        dir: &Path,
        mut clock: Box<dyn FnMut() -> SystemTime + Send>,
    ) -> io::Result<DailyFile> {
        private_dir(dir)?;
        for f in log_files(dir)? {
            // Not through a symlink: narrow only files that are really in the directory.
            if std::fs::symlink_metadata(&f)?.is_file() {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(FILE_MODE))?;
            }
        }
        let day = utc_date(clock());
        let file = private_file(&dir.join(file_name(&day)))?;
        let mut daily = DailyFile {
            dir: dir.to_path_buf(),
            day,
            file,
            clock,
        };
        daily.prune();
        Ok(daily)
    }

    /// Keeps the newest [`KEEP`] files. Best effort: a file that will not go is tried again at
    /// the next day's change.
    fn prune(&mut self) {
        let Ok(mut files) = log_files(&self.dir) else {
            return;
        };
        files.sort();
        let extra = files.len().saturating_sub(KEEP);
        for old in files.into_iter().take(extra) {
            let _ = std::fs::remove_file(old);
        }
    }
}

impl Write for DailyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let day = utc_date((self.clock)());
        if day != self.day {
            self.file = private_file(&self.dir.join(file_name(&day)))?;
            self.day = day;
            self.prune();
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Makes `dir` (0700 for every directory it creates) and narrows it to 0700 if it existed.
fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    if std::fs::metadata(dir)?.permissions().mode() & 0o777 != DIR_MODE {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Opens `path` for appending, created 0600; an existing file is narrowed to 0600 through the
/// open handle.
fn private_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o777 != FILE_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// `YYYY-MM-DD` of a time, in UTC.
fn utc_date(t: SystemTime) -> String {
    let days = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let (y, m, d) = attune_model::civil::civil_from_days(i64::try_from(days).unwrap_or(0));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_log_dir_and_files_are_private_even_where_they_were_not() {
        let root = tempfile::tempdir().unwrap();
        let fresh = dir_in(&root.path().join("fresh"));
        let old = dir_in(&root.path().join("old"));
        std::fs::create_dir_all(&old).unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
        let older = old.join(file_name("2020-01-01"));
        std::fs::write(&older, "an old line\n").unwrap();
        std::fs::set_permissions(&older, std::fs::Permissions::from_mode(0o644)).unwrap();

        for dir in [&fresh, &old] {
            let guard = init(Some(dir));
            tracing::info!("a line");
            drop(guard);
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
            let files = log_files(dir).unwrap();
            assert!(!files.is_empty(), "{}", dir.display());
            for f in files {
                assert_eq!(mode(&f), 0o600, "{}", f.display());
            }
        }
    }

    #[test]
    fn a_new_day_starts_a_new_private_file_and_a_week_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        let day = 20_787; // 2026-11-30
        let now = Arc::new(AtomicU64::new(day * 86_400 + 86_399));
        let clock = {
            let now = now.clone();
            Box::new(move || UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst)))
        };
        let mut f = DailyFile::with_clock(&dir, clock).unwrap();
        f.write_all(b"last line of the day\n").unwrap();
        for d in 1..=8 {
            now.store((day + d) * 86_400, Ordering::SeqCst);
            f.write_all(b"first line of the day\n").unwrap();
        }

        let mut files = log_files(&dir).unwrap();
        files.sort();
        assert_eq!(files.len(), KEEP);
        assert_eq!(files[0], dir.join("attune.2026-12-02.log"));
        assert_eq!(files[KEEP - 1], dir.join("attune.2026-12-08.log"));
        assert_eq!(current_file(Some(&dir)), Some(files[KEEP - 1].clone()));
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn utc_dates_follow_the_gregorian_calendar() {
        let at = |days: u64| utc_date(UNIX_EPOCH + Duration::from_secs(days * 86_400 + 5));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(11_016), "2000-02-29");
        assert_eq!(at(20_787), "2026-11-30");
        assert_eq!(at(47_541), "2100-03-01");
    }
}

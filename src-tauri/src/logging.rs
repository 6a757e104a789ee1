//! Logging to a daily-rolling file in the data dir (`logs/attune.<date>.log`, a week kept).
//! What is logged never holds a key (only the flow's fingerprint) or a preference value.

use std::path::{Path, PathBuf};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

const PREFIX: &str = "attune";
const SUFFIX: &str = "log";

/// Starts logging into `dir` (and to stderr); the guard flushes the file when dropped, so the
/// caller keeps it for the process's life. `None` dir: stderr only.
pub fn init(dir: Option<&Path>) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = EnvFilter::try_from_env("ATTUNE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let file = dir.and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix(PREFIX)
            .filename_suffix(SUFFIX)
            .max_log_files(7)
            .build(dir)
            .ok()
    });
    match file {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
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
    }
}

/// The log directory under a data dir.
pub fn dir_in(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The newest log file in `dir` (the one being written), or the directory while it has none.
pub fn current_file(dir: Option<&Path>) -> Option<PathBuf> {
    let dir = dir?;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Some(dir.to_path_buf());
    };
    let newest = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .max();
    Some(newest.unwrap_or_else(|| dir.to_path_buf()))
}

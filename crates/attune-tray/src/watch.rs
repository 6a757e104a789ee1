//! Watching the state dir: the session file lives there, and another process (the `attune`
//! command, a listener) may change it; whoever shows the status refreshes after a change.

use std::path::PathBuf;
use std::time::Duration;

/// Watches `dir` and calls `on_change` once each burst of changes has settled (a key-in writes
/// several files); `None` where it cannot watch (logged: changes then show at the next action).
/// Dropping the watcher stops it.
pub fn state_dir(
    dir: PathBuf,
    on_change: impl Fn() + Send + 'static,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(error = %e, "cannot create the state dir to watch it");
        return None;
    }
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = match notify::recommended_watcher(
        move |_res: notify::Result<notify::Event>| {
            let _ = tx.send(());
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the state dir; changes by the CLI show at the next action");
            return None;
        }
    };
    if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, "cannot watch the state dir");
        return None;
    }
    let _ = std::thread::Builder::new()
        .name("attune-watch".to_owned())
        .spawn(move || {
            while rx.recv().is_ok() {
                // A key-in writes several files; wait for the burst to end.
                while rx.recv_timeout(Duration::from_millis(250)).is_ok() {}
                on_change();
            }
        });
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_in_the_dir_is_told_once_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let _w = state_dir(dir.path().to_path_buf(), move || {
            let _ = tx.send(());
        })
        .unwrap();
        std::fs::write(dir.path().join("session.json"), "{}").unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(20)).is_ok());
    }
}

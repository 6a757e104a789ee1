//! One Attune per desktop session, app or lean tray. The app's single-instance plugin
//! (tauri-plugin-single-instance) owns a name on the session bus; a second `attune-app` finds it
//! taken, calls `ExecuteCallback(argv, cwd)` on its owner and exits. The lean tray owns the same
//! name and answers the same call, so starting the app while the lean tray runs reaches the
//! tray, which hands over to the window (crate::host). Before it execs the app it releases the
//! name, which the app then takes as any first start does.
//!
//! The name, path and interface are the plugin's (2.5, without its `semver` feature) for the
//! app's identifier in `src-tauri/tauri.conf.json`; the app's tests check that identifier.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use zbus::fdo::{RequestNameFlags, RequestNameReply};

/// The app's identifier (`identifier` in src-tauri/tauri.conf.json).
pub const APP_ID: &str = "org.attune.app";
/// The well-known name the app's single-instance plugin owns.
pub const NAME: &str = "org.attune.app.SingleInstance";
/// Its object path.
pub const PATH: &str = "/org/attune/app/SingleInstance";
/// Its interface.
pub const INTERFACE: &str = "org.SingleInstance.DBus";

/// How long a start waits for the name to be let go by a process that is exec'ing or exiting.
const WAIT_FOR_NAME: Duration = Duration::from_secs(3);
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// Why this process does not own the name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// Another Attune (the app, or a lean tray) runs in this session.
    #[error(
        "Attune is already running in this desktop session (it owns {NAME} on the session bus)"
    )]
    Running,
    /// No session bus, or it refused: nothing can tell a second start from a first.
    #[error("the session bus cannot be used ({0})")]
    Bus(String),
}

/// What a second start asked for: its command line (without the program).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondStart {
    pub args: Vec<String>,
}

impl SecondStart {
    /// Whether it asks for the window (a second autostart, `--background`, does not).
    pub fn wants_window(&self) -> bool {
        !self.args.iter().any(|a| a == "--background")
    }
}

struct Served {
    tx: std::sync::Mutex<Sender<SecondStart>>,
}

#[zbus::interface(name = "org.SingleInstance.DBus")]
impl Served {
    fn execute_callback(&self, argv: Vec<String>, _cwd: String) {
        let args = argv.into_iter().skip(1).collect();
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(SecondStart { args });
        }
    }
}

/// The owned name; dropping it (or the process ending) lets it go.
pub struct Instance {
    connection: zbus::blocking::Connection,
}

impl Instance {
    /// Takes the name, answering second starts on `tx`. A process that is exec'ing or exiting
    /// may hold it a moment longer: it is asked for again for up to three seconds.
    pub fn take(tx: Sender<SecondStart>) -> Result<Instance, InstanceError> {
        let bus = |e: zbus::Error| InstanceError::Bus(e.to_string());
        let connection = zbus::blocking::connection::Builder::session()
            .map_err(bus)?
            .serve_at(
                PATH,
                Served {
                    tx: std::sync::Mutex::new(tx),
                },
            )
            .map_err(bus)?
            .build()
            .map_err(bus)?;
        let started = Instant::now();
        loop {
            match connection
                .request_name_with_flags(NAME, RequestNameFlags::DoNotQueue.into())
                .map_err(bus)?
            {
                RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner => break,
                RequestNameReply::Exists | RequestNameReply::InQueue => {
                    if started.elapsed() >= WAIT_FOR_NAME {
                        return Err(InstanceError::Running);
                    }
                    // A retry at an interval, not a synchronisation: the bus sends nothing when
                    // a name it did not queue us for is let go.
                    std::thread::sleep(RETRY_EVERY);
                }
            }
        }
        Ok(Instance { connection })
    }

    /// Lets the name go now (before an exec, so the next program can take it at once).
    pub fn release(&self) {
        if let Err(e) = self.connection.release_name(NAME) {
            tracing::warn!(error = %e, "cannot let the single-instance name go");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_autostart_does_not_ask_for_the_window() {
        let bg = SecondStart {
            args: vec!["--background".to_owned()],
        };
        assert!(!bg.wants_window());
        assert!(SecondStart { args: vec![] }.wants_window());
    }

    #[test]
    fn the_path_is_the_plugins_for_the_name() {
        // The plugin: the name's dots become slashes, dashes underscores, with a leading slash.
        let derived = format!("/{}", NAME.replace('.', "/").replace('-', "_"));
        assert_eq!(derived, PATH);
        assert_eq!(NAME, format!("{APP_ID}.SingleInstance"));
    }
}

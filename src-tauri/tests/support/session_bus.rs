//! A private D-Bus session bus whose notification daemon is python-dbusmock's
//! `notification_daemon` template, which logs every `Notify` call to a file. The app's tests and
//! its end-to-end test both read the notifications they caused from it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The bus and its notification daemon, both stopped when dropped.
pub struct SessionBus {
    /// The bus's address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    /// Where the daemon logs each `Notify` call (the file appears once the daemon is on the bus).
    pub log: PathBuf,
    daemon: Child,
    mock: Child,
}

impl SessionBus {
    /// Starts a bus, and on it the notification daemon logging to `log`.
    pub fn start(log: PathBuf) -> SessionBus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        let mock = Command::new("/usr/bin/python3")
            .args([
                "-m",
                "dbusmock",
                "--session",
                "-t",
                "notification_daemon",
                "-l",
            ])
            .arg(&log)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .spawn()
            .unwrap();
        SessionBus {
            address,
            log,
            daemon,
            mock,
        }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        for c in [&mut self.mock, &mut self.daemon] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

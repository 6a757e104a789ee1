//! The shutdown watch against python-dbusmock's logind (a real D-Bus daemon and a mock logind
//! on a private bus; scripts/setup-deps.sh installs both): it holds a delay lock, runs its
//! handler when a shutdown starts and only then lets the lock go, and takes it again when the
//! shutdown is called off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attune_listen::session_end::ShutdownWatch;
use zbus::blocking::Connection;
use zbus::zvariant::Value;

/// Kills its children at the end of the test, failed or not.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn connect(address: &str) -> Connection {
    zbus::blocking::connection::Builder::address(address)
        .unwrap()
        .build()
        .unwrap()
}

/// The inhibitors the mock holds: (what, who, mode).
fn inhibitors(conn: &Connection) -> Result<Vec<(String, String, String)>, zbus::Error> {
    let reply = conn.call_method(
        Some("org.freedesktop.login1"),
        "/org/freedesktop/login1",
        Some("org.freedesktop.login1.Manager"),
        "ListInhibitors",
        &(),
    )?;
    let rows: Vec<(String, String, String, String, u32, u32)> = reply.body().deserialize()?;
    Ok(rows
        .into_iter()
        .map(|(what, who, _, mode, _, _)| (what, who, mode))
        .collect())
}

fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn emit_prepare_for_shutdown(conn: &Connection, starting: bool) {
    conn.call_method(
        Some("org.freedesktop.login1"),
        "/org/freedesktop/login1",
        Some("org.freedesktop.DBus.Mock"),
        "EmitSignal",
        &(
            "org.freedesktop.login1.Manager",
            "PrepareForShutdown",
            "b",
            vec![Value::Bool(starting)],
        ),
    )
    .unwrap();
}

#[test]
fn a_shutdown_waits_for_the_handler_and_a_called_off_one_is_delayed_again() {
    let mut procs = Procs(Vec::new());
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon");
    let mut address = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let address = address.trim().to_owned();
    procs.0.push(daemon);
    // Debian's python3, where the python3-dbusmock package puts the module; the logind
    // template is on the system bus, which here is the private one.
    let mock = Command::new("/usr/bin/python3")
        .args(["-m", "dbusmock", "--template", "logind"])
        .arg("--system")
        .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3-dbusmock");
    procs.0.push(mock);

    let test = connect(&address);
    until("the mock logind", || inhibitors(&test).is_ok());

    let (tx, ran) = mpsc::channel();
    let checker = connect(&address);
    let _watch = ShutdownWatch::start_on(
        connect(&address),
        Arc::new(move || {
            // The lock is still held while the handler runs.
            let held = inhibitors(&checker).map(|v| v.len()).unwrap_or(0);
            let _ = tx.send(held);
        }),
    )
    .unwrap();
    let attune = (
        "shutdown".to_owned(),
        "Attune".to_owned(),
        "delay".to_owned(),
    );
    assert_eq!(inhibitors(&test).unwrap(), vec![attune.clone()]);

    emit_prepare_for_shutdown(&test, true);
    let held = ran
        .recv_timeout(Duration::from_secs(20))
        .expect("handler ran");
    assert_eq!(held, 1, "the delay lock is held while the handler runs");
    until("the lock to be let go", || {
        inhibitors(&test).is_ok_and(|v| v.is_empty())
    });

    emit_prepare_for_shutdown(&test, false);
    until("the lock to be taken again", || {
        inhibitors(&test).is_ok_and(|v| v == vec![attune.clone()])
    });
}

//! The X11 idle source against a real X server (Xvfb, which scripts/setup-deps.sh installs): the
//! idle time grows while nothing happens and falls back when input comes (a pointer motion
//! through XTEST, as a person's mouse would).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use attune_listen::idle::{IdleSource, X11Idle};

/// An Xvfb on a display number it picks itself (`-displayfd`: no race for a free number).
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        // The display number comes on its standard output.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "640x480x24",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("Xvfb (scripts/setup-deps.sh installs it): {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let n: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        Xvfb {
            child,
            display: format!(":{n}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn move_pointer(display: &str, x: i16) {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xtest::ConnectionExt as _;
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    // MotionNotify = 6.
    conn.xtest_fake_input(6, 0, x11rb::CURRENT_TIME, root, x, 10, 0)
        .unwrap()
        .check()
        .unwrap();
    conn.flush().unwrap();
}

#[test]
fn the_x_servers_idle_time_grows_and_input_resets_it() {
    let x = Xvfb::start();
    let mut idle = X11Idle::connect_to(Some(&x.display)).unwrap();
    assert_eq!(idle.name(), "x11-screensaver");

    // Grows while nothing happens (polled against a deadline, not slept).
    let deadline = Instant::now() + Duration::from_secs(20);
    let grown = loop {
        let d = idle.idle().unwrap();
        if d >= Duration::from_millis(1500) {
            break d;
        }
        assert!(Instant::now() < deadline, "idle stuck at {d:?}");
        std::thread::sleep(Duration::from_millis(50));
    };

    move_pointer(&x.display, 100);
    let after = idle.idle().unwrap();
    assert!(
        after < grown,
        "input did not reset the idle time: {after:?} after {grown:?}"
    );
    assert!(after < Duration::from_millis(1000), "{after:?}");
}

#[test]
fn without_an_x_server_the_error_says_so() {
    let e = X11Idle::connect_to(Some(":4242"))
        .err()
        .expect("no server on :4242");
    assert!(e.to_string().contains("X server"), "{e}");
}

//! Test harness for Attune's end-to-end tests: a throw-away desktop (temp `HOME`, XDG dirs and the
//! real GSettings keyfile backend), the real `attune` binary, and independent read-back of desktop
//! settings with the `gsettings` tool and the keyfile itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

pub use attune_testkit::desktop::Snapshot;
use attune_testkit::KeyfileDesktop;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a workspace binary, built once per test process with the same cargo that runs the
/// tests, so the tests never run a stale binary.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    let mut map = map.lock().unwrap();
    if let Some(p) = map.get(bin) {
        return p.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    // With `--workspace` and a test target (this crate's `e2e`), cargo unifies features as
    // `cargo test --workspace` does, so there the binary reuses every dependency that run has built
    // and only the binary is compiled (attune-cloud's is built already, for its own tests).
    // `-p {package}` alone unified them differently and recompiled most of the binary's tree:
    // about a minute each from cold on two cores.
    build.args([
        "build",
        "--quiet",
        "--workspace",
        "--test",
        "e2e",
        "--bin",
        bin,
    ]);
    if package == "attune-cli" {
        // The crash, fsync-order and full-disk tests drive the test-only failpoints, which a
        // shipped `attune` does not have (attune-settings' `test-support` feature).
        build.args(["--features", "attune-cli/test-support"]);
    }
    let status = build
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    // target dir: CARGO_TARGET_DIR or <root>/target; the test binary itself lives in
    // <target>/debug/deps.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let p = profile_dir.join(bin);
    assert!(p.exists(), "{} not found after build", p.display());
    map.insert(bin.to_owned(), p.clone());
    p
}

/// A throw-away desktop (the kit's [`KeyfileDesktop`]) that "has Orca installed" and runs the
/// real `attune` binary.
pub struct Desktop {
    desk: KeyfileDesktop,
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for Desktop {
    type Target = KeyfileDesktop;
    fn deref(&self) -> &KeyfileDesktop {
        &self.desk
    }
}

impl Desktop {
    pub fn new() -> Desktop {
        let desk = KeyfileDesktop::new();
        // The device reporter looks for the command on PATH, and nothing runs it. (Debian's orca
        // package would pull in a whole GNOME session.)
        let orca = desk.path("bin/orca");
        std::fs::create_dir_all(desk.path("bin")).unwrap();
        std::fs::write(&orca, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&orca, std::fs::Permissions::from_mode(0o755)).unwrap();
        Desktop { desk }
    }

    /// The environment every process on this desktop gets: the kit's, no site config, no
    /// colours, and `bin/` first on PATH.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.desk.env();
        env.push(("NO_COLOR".into(), "1".into()));
        env.push((
            "PATH".into(),
            format!(
                "{}:{}",
                self.desk.path("bin").display(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
            ),
        ));
        env
    }

    /// A command with this desktop's environment (and no inherited `ATTUNE_*` or `XDG_*`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = self.desk.command(program);
        c.envs(self.env());
        c
    }

    /// `attune listen` (no USB, no local API, probing every 100 ms while offline) with `env`
    /// added; `meanwhile` runs once it has started. Whether it said it reconnected the session
    /// within `within`; the listener is stopped either way.
    pub fn listener_reconnects(
        &self,
        env: &[(&str, &str)],
        within: Duration,
        meanwhile: impl FnOnce(),
    ) -> bool {
        let (mut child, lines) = self.listen(
            &["--no-usb", "--no-local-api", "--reconnect-idle-ms", "100"],
            env,
        );
        meanwhile();
        let reconnected = lines
            .wait_for(within, |l| l.contains("\"reconnected\""))
            .is_some();
        let _ = child.kill();
        let _ = child.wait();
        reconnected
    }

    /// Starts `attune listen ARGS` with `env` added; what it prints comes line by line.
    pub fn listen(&self, args: &[&str], env: &[(&str, &str)]) -> (Child, StdoutLines) {
        let mut child = self
            .command(workspace_bin("attune-cli", "attune"))
            .arg("listen")
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = StdoutLines::of(&mut child);
        (child, lines)
    }

    /// Writes the user's configuration file (`<config home>/attune/attune.toml`).
    pub fn user_config(&self, toml: &str) {
        let dir = self.config_home().join("attune");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("attune.toml"), toml).unwrap();
    }

    /// Runs `attune` with these arguments on this desktop.
    pub fn attune(&self, args: &[&str]) -> Output {
        self.attune_with(args, &[])
    }

    /// Runs `attune` with extra environment variables.
    pub fn attune_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(workspace_bin("attune-cli", "attune"));
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// [`Desktop::attune`], which must exit 0.
    #[track_caller]
    pub fn attune_ok(&self, args: &[&str]) -> Output {
        self.attune_with_ok(args, &[])
    }

    /// [`Desktop::attune_with`], which must exit 0.
    #[track_caller]
    pub fn attune_with_ok(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let o = self.attune_with(args, env);
        assert_exit(&o, 0);
        o
    }

    /// A full read-back of the desktop (the kit's), without Attune's own state.
    pub fn snapshot(&self, schemas: &[&str]) -> Snapshot {
        let mut s = self.desk.snapshot(schemas);
        s.files.retain(|p, _| !p.contains("/attune/"));
        s
    }
}

/// Asserts that a process exited with `code`; if not, says what it printed on both streams.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Asserts that what a process printed on its standard output includes `words`.
#[track_caller]
pub fn assert_says(o: &Output, words: &str) {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(words), "expected {words:?} in: {out}");
}

/// The lines a child prints on its standard output (piped), read to the end on a thread of their
/// own so the child never blocks on a full pipe, whether or not anyone still waits for them.
pub struct StdoutLines(mpsc::Receiver<String>);

impl StdoutLines {
    /// Takes `child`'s piped standard output.
    pub fn of(child: &mut Child) -> StdoutLines {
        let out = child.stdout.take().expect("the child's stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        StdoutLines(rx)
    }

    /// The next line for which `pred` holds, skipping others; `None` if none comes `within`.
    pub fn wait_for(&self, within: Duration, mut pred: impl FnMut(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        std::iter::from_fn(|| {
            self.0
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()
        })
        .find(|l| pred(l))
    }
}

/// A plain HTTP/1.1 `GET` to `addr` (`HOST:PORT`), so the test controls every header (a `Host`
/// header is added unless given). The status (0 if none could be read) and the body.
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok());
    (status.unwrap_or(0), body.to_owned())
}

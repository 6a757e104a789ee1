//! The system under test, on loopback: the CouchDB stand-in (express-pouchdb), three
//! `attune-cloud` replicas over it, each behind the test kit's fault proxy, HAProxy in front of
//! the three, and a single `attune-cloud` over SQLite on a small tmpfs of its own.
//!
//! Every process writes its output to a log file under the run folder; "up" is always a polled
//! readiness check (`GET /ready` answering 200, a log line), never a sleep.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use attune_testkit::{Fault, FaultProxy};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::ChaosError;

/// How long a process may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Between two readiness polls.
const POLL: Duration = Duration::from_millis(50);

/// The development credential `serve --dev` makes (attune-flow's DEV_CLIENT_ID/SECRET).
pub const CLIENT_ID: &str = attune_flow::DEV_CLIENT_ID;
pub const CLIENT_SECRET: &str = attune_flow::DEV_CLIENT_SECRET;

/// A child process whose output goes to a log file (appended to across restarts).
pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Proc, ChaosError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| ChaosError::io(format!("open the log {}", log.display()), e))?;
        let err = file
            .try_clone()
            .map_err(|e| ChaosError::io("clone a log handle", e))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| ChaosError::io(format!("start {name} ({cmd:?})"), e))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }

    pub fn signal(&self, sig: Signal) -> Result<(), ChaosError> {
        kill(self.pid(), sig).map_err(|e| ChaosError::Setup(format!("{sig} to {}: {e}", self.name)))
    }

    /// Whether it has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit (SIGKILL after `grace`).
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let _ = kill(self.pid(), Signal::SIGTERM);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            std::thread::sleep(POLL);
        }
        self.kill9();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A stopped process ignores SIGTERM until continued: continue it first.
        let _ = kill(self.pid(), Signal::SIGCONT);
        self.kill9();
    }
}

/// `GET path` on `addr` with a plain HTTP/1.1 request; the status, or `None` when nothing
/// answered within `timeout`.
pub fn http_status(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Polls until `ready()` holds, or fails naming `what` after [`READY_WITHIN`].
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> Result<Duration, ChaosError> {
    let t0 = Instant::now();
    while t0.elapsed() < READY_WITHIN {
        if ready() {
            return Ok(t0.elapsed());
        }
        std::thread::sleep(POLL);
    }
    Err(ChaosError::Setup(format!(
        "{what} was not ready within {READY_WITHIN:?}"
    )))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Where the programs are.
pub struct Programs {
    pub cloud: PathBuf,
    pub haproxy: PathBuf,
    pub node: PathBuf,
    /// The folder with express-pouchdb installed and the stand-in's `server.js`.
    pub couch_dir: PathBuf,
}

/// Runs an `attune-cloud` admin command to its end; it must succeed.
pub fn cloud_admin(p: &Programs, args: &[&str], log: &Path) -> Result<(), ChaosError> {
    let out = Command::new(&p.cloud)
        .args(args)
        .output()
        .map_err(|e| ChaosError::io(format!("attune-cloud {}", args[0]), e))?;
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| ChaosError::io("open the admin log", e))?;
    let _ = writeln!(f, "$ attune-cloud {}", args.join(" "));
    let _ = f.write_all(&out.stdout);
    let _ = f.write_all(&out.stderr);
    if !out.status.success() {
        return Err(ChaosError::Setup(format!(
            "attune-cloud {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The CouchDB-API stand-in: express-pouchdb over an in-memory PouchDB (one Node process).
pub struct Couch {
    pub proc: Proc,
    pub url: String,
}

impl Couch {
    pub fn start(p: &Programs, dir: &Path) -> Result<Couch, ChaosError> {
        let log = dir.join("couch.log");
        let mut cmd = Command::new(&p.node);
        cmd.arg("server.js").current_dir(&p.couch_dir);
        let proc = Proc::spawn("express-pouchdb", cmd, &log)?;
        let mut addr = None;
        // server.js says where it listens, as attune-cloud's log does.
        wait_until("express-pouchdb", || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            addr = text.lines().rev().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening")
                    .then(|| v["addr"].as_str().map(str::to_owned))
                    .flatten()
            });
            addr.is_some()
        })?;
        let url = format!("http://{}", addr.unwrap_or_default());
        Ok(Couch { proc, url })
    }
}

/// One `attune-cloud serve --dev` on a fixed loopback port (a restart comes back on the same).
pub struct Server {
    pub name: String,
    pub port: u16,
    store: String,
    log: PathBuf,
    pub proc: Option<Proc>,
}

impl Server {
    pub fn new(name: &str, store: &str, dir: &Path) -> Server {
        Server {
            name: name.to_owned(),
            port: attune_testkit::process::free_port(),
            store: store.to_owned(),
            log: dir.join(format!("{name}.log")),
            proc: None,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Starts it and waits until `GET /ready` answers 200.
    pub fn start(&mut self, p: &Programs) -> Result<Duration, ChaosError> {
        let mut cmd = Command::new(&p.cloud);
        cmd.args(["serve", "--dev", "--store", &self.store, "--listen"])
            .arg(self.addr().to_string())
            .env("RUST_LOG", "info");
        let t0 = Instant::now();
        // A port freed by SIGKILL may refuse a new bind for a moment: start again until it
        // listens (each attempt's exit is seen at once).
        loop {
            let mut proc = Proc::spawn(
                &self.name,
                {
                    let mut c = Command::new(cmd.get_program());
                    c.args(cmd.get_args());
                    for (k, v) in cmd.get_envs() {
                        if let Some(v) = v {
                            c.env(k, v);
                        }
                    }
                    c
                },
                &self.log,
            )?;
            let addr = self.addr();
            let mut died = false;
            let r = wait_until(&self.name, || {
                if proc.exited().is_some() {
                    died = true;
                    return true;
                }
                http_status(addr, "/ready", Duration::from_millis(500)) == Some(200)
            });
            if died {
                if t0.elapsed() > READY_WITHIN {
                    return Err(ChaosError::Setup(format!(
                        "{} keeps exiting at start (see {})",
                        self.name,
                        self.log.display()
                    )));
                }
                std::thread::sleep(POLL);
                continue;
            }
            r?;
            self.proc = Some(proc);
            return Ok(t0.elapsed());
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// SIGTERM and wait: the server finishes what it has in flight and exits 0.
    pub fn stop(&mut self) -> Result<(), ChaosError> {
        if let Some(mut p) = self.proc.take() {
            match p.terminate(Duration::from_secs(20)) {
                Some(s) if s.success() => {}
                other => {
                    return Err(ChaosError::Setup(format!(
                        "{} did not stop cleanly on SIGTERM: {other:?}",
                        self.name
                    )))
                }
            }
        }
        Ok(())
    }
}

/// HAProxy in front of the replicas' fault proxies.
pub struct Haproxy {
    pub port: u16,
    config: PathBuf,
    pub log: PathBuf,
    pub proc: Option<Proc>,
}

impl Haproxy {
    pub fn new(dir: &Path, backends: &[SocketAddr]) -> Result<Haproxy, ChaosError> {
        let port = attune_testkit::process::free_port();
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, haproxy_config(port, backends))
            .map_err(|e| ChaosError::io("write haproxy.cfg", e))?;
        Ok(Haproxy {
            port,
            config,
            log: dir.join("haproxy.log"),
            proc: None,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", loopback(self.port))
    }

    /// `haproxy -c`: the configuration is valid.
    pub fn check(&self, p: &Programs) -> Result<(), ChaosError> {
        let out = Command::new(&p.haproxy)
            .arg("-c")
            .arg("-f")
            .arg(&self.config)
            .output()
            .map_err(|e| ChaosError::io("haproxy -c", e))?;
        if !out.status.success() {
            return Err(ChaosError::Setup(format!(
                "haproxy -c: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// Starts it in the foreground (`-db`) and waits until `/ready` answers 200 through it.
    pub fn start(&mut self, p: &Programs) -> Result<Duration, ChaosError> {
        let mut cmd = Command::new(&p.haproxy);
        cmd.arg("-db").arg("-f").arg(&self.config);
        self.proc = Some(Proc::spawn("haproxy", cmd, &self.log)?);
        let addr = loopback(self.port);
        wait_until("haproxy", || {
            http_status(addr, "/ready", Duration::from_millis(500)) == Some(200)
        })
    }

    /// Stops it at once (SIGTERM is HAProxy's hard stop), connections and all.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(5));
        }
    }
}

/// The balancer's configuration: active health checks on `/ready`, layer-7 retries of failed
/// connections, empty answers, timeouts and 503s on another replica (`option redispatch`), one
/// log line per request without its path (paths hold people's keys).
pub fn haproxy_config(port: u16, backends: &[SocketAddr]) -> String {
    let mut servers = String::new();
    for (i, b) in backends.iter().enumerate() {
        servers.push_str(&format!("    server replica{} {b} check\n", i + 1));
    }
    format!(
        "global
    log stdout format raw local0 info
    maxconn 2000

defaults
    mode http
    log global
    # No %r: the request line carries the person's key.
    log-format \"%t %ft %b/%s %HM %ST %Ta %tsc %rc\"
    timeout connect 500ms
    timeout client 30s
    timeout server 3500ms
    # A store under load answers /ready slowly: a short check timeout marked every replica
    # down at once in the start-up burst (all three share the one store).
    timeout check 2s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 503
    # One request per server connection: a partition set on a replica's proxy acts on the next
    # request, not on a pooled connection opened before it.
    option http-server-close
    http-reuse never

frontend cloud
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
{servers}"
    )
}

/// A replica behind its own fault proxy (where partitions are made).
pub struct Replica {
    pub server: Server,
    pub proxy: FaultProxy,
}

impl Replica {
    pub fn partition(&self, fault: Fault) {
        self.proxy.set(fault);
    }
}

/// A size-limited tmpfs for the SQLite store, mounted for the run and unmounted at its end.
pub struct SmallDisk {
    pub dir: PathBuf,
    pub bytes: u64,
    mounted: bool,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `dir` (needs root, as CI and this machine have). When the
    /// mount is refused the folder is plain disk and `mounted` says so: for the SQLite node's
    /// disk the disk-full fault then cannot be injected, and the run fails saying so.
    pub fn mount(dir: &Path, bytes: u64) -> Result<SmallDisk, ChaosError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ChaosError::io("make the small disk's folder", e))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes},mode=0700"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .map_err(|e| ChaosError::io("mount", e))?;
        let mounted = out.status.success();
        if !mounted {
            eprintln!(
                "chaos: a tmpfs could not be mounted at {} ({}); using the disk under it",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(SmallDisk {
            dir: dir.to_owned(),
            bytes,
            mounted,
        })
    }

    pub fn mounted(&self) -> bool {
        self.mounted
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Writes a file until the disk says it is full (ENOSPC); the bytes written.
    pub fn fill(&self) -> Result<u64, ChaosError> {
        let mut f = std::fs::File::create(self.filler())
            .map_err(|e| ChaosError::io("create the filler file", e))?;
        let chunk = vec![0x5a_u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => return Err(ChaosError::io("fill the small disk", e)),
            }
        }
        let _ = f.sync_all();
        Ok(written)
    }

    pub fn free(&self) -> Result<(), ChaosError> {
        std::fs::remove_file(self.filler()).map_err(|e| ChaosError::io("remove the filler", e))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        }
    }
}

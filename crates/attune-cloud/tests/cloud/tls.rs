//! TLS built in: certificates from a test CA made with rcgen, a client that trusts only that CA
//! (tokio-rustls, so the test sees which certificate each handshake got), the certificate
//! reloaded while a keep-alive connection stays open, a failed reload that changes nothing, and
//! through the real binary: `--tls-cert/--tls-key`, SIGHUP, and plain HTTP refused on a
//! non-loopback address unless `--insecure-http`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use attune_cloud::tls::{Tls, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::common::{bin, Cloud};

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for localhost and 127.0.0.1, written with its key into `dir` as
    /// `cert.pem` and `key.pem` (replacing what is there); its DER.
    pub fn issue_into(&self, dir: &Path) -> (TlsFiles, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let p =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        (files, cert.der().to_vec())
    }
}

/// A TLS client trusting `ca` alone.
fn connector(ca: &Ca) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let (der, _) = rustls::pki_types::pem::PemObject::from_pem_slice(ca.pem().as_bytes())
        .map(|c: CertificateDer<'static>| (c, ()))
        .unwrap();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `base` (`https://ADDR`).
async fn connect(ca: &Ca, base: &str) -> TlsStream<tokio::net::TcpStream> {
    let addr = base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    connector(ca)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// The DER of the certificate the server showed on `s`.
fn served(s: &TlsStream<tokio::net::TcpStream>) -> Vec<u8> {
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// `GET /health` on an open keep-alive connection; its status line.
async fn health_on(s: &mut TlsStream<tokio::net::TcpStream>) -> String {
    s.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    // Read the head, then exactly Content-Length bytes: the connection stays open.
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "connection closed");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    head.lines().next().unwrap().to_owned()
}

#[tokio::test]
async fn a_keep_alive_connection_survives_a_reload_and_new_ones_get_the_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("site CA");
    let (files, first) = ca.issue_into(dir.path());
    let tls = Tls::new(files).unwrap();
    let cert = tls.cert.clone();
    let c = Cloud::start_tls(tls).await;

    let mut kept = connect(&ca, &c.base).await;
    assert_eq!(served(&kept), first);
    assert_eq!(health_on(&mut kept).await, "HTTP/1.1 200 OK");

    let (_, second) = ca.issue_into(dir.path());
    assert_ne!(first, second);
    cert.reload().unwrap();

    assert_eq!(
        health_on(&mut kept).await,
        "HTTP/1.1 200 OK",
        "the established connection goes on"
    );
    let fresh = connect(&ca, &c.base).await;
    assert_eq!(
        served(&fresh),
        second,
        "a new handshake gets the new certificate"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_reload_that_fails_keeps_the_certificate_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("site CA");
    let (files, first) = ca.issue_into(dir.path());
    let tls = Tls::new(files.clone()).unwrap();
    let cert = tls.cert.clone();
    let c = Cloud::start_tls(tls).await;

    // A new certificate whose key was not (yet) replaced: they do not match.
    let other = tempfile::tempdir().unwrap();
    let (new_files, _) = ca.issue_into(other.path());
    std::fs::copy(&new_files.cert, &files.cert).unwrap();
    let e = cert.reload().unwrap_err();
    assert!(e.to_string().contains("key.pem"), "{e}");
    assert_eq!(served(&connect(&ca, &c.base).await), first);

    std::fs::write(&files.cert, "not a certificate").unwrap();
    let e = cert.reload().unwrap_err();
    assert!(e.to_string().contains("cert.pem"), "{e}");
    assert_eq!(served(&connect(&ca, &c.base).await), first);
    c.stop().await;
}

#[test]
fn tls_files_that_cannot_be_served_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = TlsFiles {
        cert: dir.path().join("nope.pem"),
        key: dir.path().join("nope.key"),
    };
    let e = Tls::new(missing).unwrap_err();
    assert!(e.to_string().contains("nope.pem"), "{e}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The real binary with `--tls-cert/--tls-key`: it says it listens with https, serves the
/// certificate, and after SIGHUP serves the new one.
#[test]
fn serve_over_tls_reloads_its_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("site CA");
    let (files, first) = ca.issue_into(dir.path());
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    let mut serving = Running::start(&[
        "--dev",
        "--store",
        &store,
        "--tls-cert",
        path_str(&files.cert),
        "--tls-key",
        path_str(&files.key),
    ]);
    let base = serving.base.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut s = connect(&ca, &base).await;
        assert_eq!(served(&s), first);
        assert_eq!(health_on(&mut s).await, "HTTP/1.1 200 OK");
    });
    let (_, second) = ca.issue_into(dir.path());
    serving.signal(nix::sys::signal::Signal::SIGHUP);
    // The server says when it has reloaded; from then on new handshakes get the new one.
    let reloaded = serving.wait_for("TLS certificate reloaded");
    assert!(!reloaded.contains("PRIVATE KEY"), "{reloaded}");
    rt.block_on(async {
        assert_eq!(served(&connect(&ca, &base).await), second);
    });
    assert!(base.starts_with("https://"), "{base}");
    serving.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(serving.child.wait().unwrap().success());
}

/// `attune-cloud serve ARGS… --listen 127.0.0.1:0` with its log read as it comes. The kit's
/// `Serving` does not give the process id, which SIGHUP needs.
struct Running {
    child: std::process::Child,
    base: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        use std::io::BufRead;
        let mut child = bin()
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut r = Running {
            child,
            base: String::new(),
            log,
        };
        let line = r.wait_for("listening");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        r.base = format!(
            "{}://{}",
            v["scheme"].as_str().unwrap(),
            v["addr"].as_str().unwrap()
        );
        r
    }

    /// The next log line containing `what` (30 s at most).
    fn wait_for(&self, what: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(std::time::Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no log line with {what}: {e}"));
            if line.contains(what) {
                return line;
            }
        }
    }

    fn signal(&self, s: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, s).unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn plain_http_on_a_non_loopback_address_needs_insecure_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    let out = bin()
        .args(["serve", "--store", &store, "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--insecure-http") && err.contains("--tls-cert"),
        "{err}"
    );
    assert!(
        !PathBuf::from(&store[7..]).exists(),
        "refused before the store was made"
    );

    let mut c = bin();
    c.args([
        "serve",
        "--store",
        &store,
        "--listen",
        "0.0.0.0:0",
        "--insecure-http",
    ])
    .env("RUST_LOG", "info");
    let serving = attune_testkit::serving::Serving::start(c);
    let log = serving.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("WITHOUT TLS") && l.contains("\"level\":\"WARN\"")),
        "{log:?}"
    );
}

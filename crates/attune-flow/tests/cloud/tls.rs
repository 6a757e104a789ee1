//! docs/test-matrix.md N18–N20 and N2: TLS and name faults. Certificates are made per case with
//! rcgen (a test CA the client is told to trust through `cloud.ca_file`, and the bad ones:
//! self-signed, expired, for another name, from another CA); the server is tokio-rustls on loopback
//! and counts TCP connections, so "one handshake, not retried" is a count, not a guess.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use attune_flow::cloud::classify::CertProblem;
use attune_flow::cloud::{CallError, FailureKind};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::{client_with, cloud, key, resilience, saved, timed_settings, ATTEMPT, SLACK};
use attune_testkit::http::response;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names`, valid now unless `expired`.
    fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            der: cert.der().to_vec(),
            key: key.serialize_der(),
        }
    }
}

struct Leaf {
    der: Vec<u8>,
    key: Vec<u8>,
}

fn self_signed(names: &[&str]) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let p =
        CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
    let cert = p.self_signed(&key).unwrap();
    Leaf {
        der: cert.der().to_vec(),
        key: key.serialize_der(),
    }
}

/// What the server does with each connection.
#[derive(Clone, Copy)]
enum Mode {
    /// TLS with this certificate, then a 200 JSON answer.
    Tls,
    /// Accept the TCP connection and say nothing (no ServerHello).
    Silent,
    /// Plain HTTP bytes on the port the client thinks is TLS.
    Plaintext,
}

struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn serve(leaf: Option<Leaf>, mode: Mode) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let acceptor = leaf.map(|leaf| {
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der.into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf.key.into()),
            )
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let answer = response(
                    200,
                    Some("1.0"),
                    &[("Content-Type", "application/json")],
                    b"{\"preferences\":{}}",
                );
                match (mode, acceptor) {
                    (Mode::Silent, _) => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    (Mode::Plaintext, _) => {
                        let mut buf = [0u8; 1024];
                        let _ = sock.read(&mut buf).await;
                        let _ = sock.write_all(&answer).await;
                    }
                    (Mode::Tls, Some(acceptor)) => {
                        let Ok(mut tls) = acceptor.accept(sock).await else {
                            return;
                        };
                        let mut buf = vec![0u8; 16 * 1024];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls.write_all(&answer).await;
                        let _ = tls.shutdown().await;
                    }
                    (Mode::Tls, None) => {}
                }
            });
        }
    });
    Server {
        url: format!("https://{addr}"),
        connections,
    }
}

/// A client trusting `ca` (besides the system's roots).
fn client_trusting(
    url: &str,
    ca: Option<&Ca>,
    dir: &tempfile::TempDir,
) -> attune_flow::cloud::CloudClient {
    let mut c = cloud(&[url.to_owned()]);
    if let Some(ca) = ca {
        let path = dir.path().join("site-ca.pem");
        std::fs::write(&path, ca.pem()).unwrap();
        c.ca_file = Some(path);
    }
    client_with(c, resilience())
}

#[tokio::test]
async fn a_certificate_from_the_site_ca_is_trusted_through_ca_file() {
    let ca = Ca::new("Attune site CA");
    let server = serve(Some(ca.leaf(&["127.0.0.1"], false)), Mode::Tls).await;
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = timed_settings(&client_trusting(&server.url, Some(&ca), &dir)).await;
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test]
async fn n18_each_bad_certificate_fails_once_with_its_own_message() {
    let ca = Ca::new("Attune site CA");
    let other_ca = Ca::new("Someone else's CA");
    let cases: Vec<(&str, Leaf, CertProblem, &str)> = vec![
        (
            "self-signed",
            self_signed(&["127.0.0.1"]),
            CertProblem::UnknownAuthority,
            "not from an authority this computer trusts",
        ),
        (
            "expired",
            ca.leaf(&["127.0.0.1"], true),
            CertProblem::Expired,
            "has expired",
        ),
        (
            "wrong host",
            ca.leaf(&["cloud.example.org"], false),
            CertProblem::WrongName,
            "for a different server",
        ),
        (
            "unknown CA",
            other_ca.leaf(&["127.0.0.1"], false),
            CertProblem::UnknownAuthority,
            "not from an authority this computer trusts",
        ),
    ];
    let mut texts = std::collections::BTreeSet::new();
    for (name, leaf, problem, words) in cases {
        let server = serve(Some(leaf), Mode::Tls).await;
        let dir = tempfile::tempdir().unwrap();
        let (r, took) = timed_settings(&client_trusting(&server.url, Some(&ca), &dir)).await;
        let e = r.unwrap_err();
        match &e.kind {
            FailureKind::Untrusted { problem: p, .. } => assert_eq!(*p, problem, "{name}: {e}"),
            other => panic!("{name}: expected a certificate failure, got {other}"),
        }
        assert_eq!(e.attempts, 1, "{name}: not retried");
        assert_eq!(
            server.connections.load(Ordering::SeqCst),
            1,
            "{name}: one handshake"
        );
        assert!(took < ATTEMPT + SLACK, "{name}: {took:?}");
        let text = e.kind.user_message().text(&saved());
        assert!(text.contains(words), "{name}: {text}");
        assert!(
            text.ends_with("Using your saved settings from 1 May."),
            "{name}: {text}"
        );
        assert!(!format!("{e} {e:?}").contains(key().expose()));
        texts.insert(text);
    }
    // Self-signed and unknown CA read alike; the other cases each have their own words.
    assert_eq!(texts.len(), 3);
}

/// A settings request to a server misbehaving this way, which must fail; and how long it took.
async fn failing_settings(mode: Mode) -> (CallError, Duration) {
    let server = serve(None, mode).await;
    let dir = tempfile::tempdir().unwrap();
    let (r, took) = timed_settings(&client_trusting(&server.url, None, &dir)).await;
    (r.unwrap_err(), took)
}

#[tokio::test]
async fn n19_a_handshake_that_never_starts_ends_at_the_connect_bound() {
    let (e, took) = failing_settings(Mode::Silent).await;
    assert_eq!(e.kind, FailureKind::TooSlow, "{e}");
    // Three attempts, each cut at the connect (= attempt) timeout, with backoff between.
    assert_eq!(e.attempts, 3);
    assert!(took >= ATTEMPT * 3, "{took:?}");
    assert!(took < crate::DEADLINE + SLACK, "{took:?}");
}

#[tokio::test]
async fn n20_plain_http_on_an_https_url_is_a_transport_failure_not_a_panic() {
    let (e, _) = failing_settings(Mode::Plaintext).await;
    assert!(matches!(e.kind, FailureKind::Unreachable { .. }), "{e}");
    crate::assert_says(&e, "Can't reach the preferences server.");
}

#[tokio::test]
async fn n2_a_name_that_does_not_resolve_is_unreachable_and_fast() {
    // `.invalid` never resolves (RFC 6761); resolution fails locally without a DNS answer.
    let dir = tempfile::tempdir().unwrap();
    let (r, took) = timed_settings(&client_trusting(
        "https://attune-cloud.invalid:8084",
        None,
        &dir,
    ))
    .await;
    let e = r.unwrap_err();
    assert!(matches!(e.kind, FailureKind::Unreachable { .. }), "{e}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn a_bad_ca_file_is_a_configuration_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site-ca.pem");
    std::fs::write(&path, "not a certificate").unwrap();
    let mut c = cloud(&["https://127.0.0.1:1".to_owned()]);
    c.ca_file = Some(path.clone());
    let e = attune_flow::cloud::CloudClient::new(&c, &resilience()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("cloud.ca_file") && text.contains("site-ca.pem"),
        "{text}"
    );
    c.ca_file = Some(dir.path().join("missing.pem"));
    let e = attune_flow::cloud::CloudClient::new(&c, &resilience()).unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
}

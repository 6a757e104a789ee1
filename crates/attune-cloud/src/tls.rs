//! TLS built in (rustls): `serve --tls-cert PEM --tls-key PEM`, the certificate reloaded on
//! SIGHUP without dropping a connection.
//!
//! The certificate is chosen per handshake by [`ReloadingCert`], which holds the current one
//! behind a lock: a reload swaps it, so the next handshake gets the new certificate while every
//! established connection keeps the session it has (nothing about a connection refers back to
//! the certificate once the handshake is over). A reload that fails — a file missing, a key that
//! does not match — keeps the certificate in use and says why. Certificates appear in logs as the
//! SHA-256 fingerprint of the leaf, keys never.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// Why a certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{path}: cannot read the {what}: {detail}")]
    Read {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{path}: no certificate in the file (expected PEM `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: PathBuf },
    #[error("{key}: the key cannot be used with the certificate in {cert}: {detail}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    #[error("TLS set-up failed: {0}")]
    Config(String),
}

/// The certificate and key files of the TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate, then its chain.
    pub cert: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The first 16 hex digits of the SHA-256 of a certificate's DER: how logs name it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    hex::encode(&Sha256::digest(cert.as_ref())[..8])
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads `files` into a key rustls can serve, checking that the key matches the certificate.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path, what, e: rustls::pki_types::pem::Error| TlsError::Read {
        path: path.to_owned(),
        what,
        detail: e.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| read(&files.cert, "certificate", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(&files.cert, "certificate", e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| read(&files.key, "private key", e))?;
    let certified =
        CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Mismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            detail: e.to_string(),
        })?;
    Ok(certified)
}

/// The server's certificate, replaceable while serving.
#[derive(Debug)]
pub struct ReloadingCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ReloadingCert {
    /// The fingerprint of the certificate new handshakes get.
    pub fn fingerprint(&self) -> String {
        self.current()
            .cert
            .first()
            .map_or_else(String::new, fingerprint)
    }

    fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again; from now on new handshakes get what they hold. On an error the
    /// certificate in use stays. Returns the new certificate's fingerprint.
    pub fn reload(&self) -> Result<String, TlsError> {
        let fresh = Arc::new(load(&self.files)?);
        let print = fresh.cert.first().map_or_else(String::new, fingerprint);
        match self.current.write() {
            Ok(mut c) => *c = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(print)
    }
}

/// What the TLS listener needs: the acceptor for new connections and the certificate to
/// reload.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub cert: Arc<ReloadingCert>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).finish()
    }
}

impl Tls {
    /// TLS 1.2 and 1.3 with rustls' safe defaults, HTTP/1.1 by ALPN, the certificate of `files`.
    pub fn new(files: TlsFiles) -> Result<Tls, TlsError> {
        let first = load(&files)?;
        let cert = Arc::new(ReloadingCert {
            files,
            current: RwLock::new(Arc::new(first)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(cert.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert,
        })
    }
}

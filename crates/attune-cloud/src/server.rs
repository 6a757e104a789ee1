//! Running the API: binding, graceful shutdown, logging, and opening stores by their URL.

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::api::{router, AppState};
use crate::registries::Registries;
use crate::store::couchdb::{CouchError, CouchStore, CouchUrl};
use crate::store::sqlite::{SqliteError, SqliteStore};
use crate::store::Store;
use crate::tls::Tls;

/// Where the state lives: `sqlite:PATH` or `couchdb:URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Couch(CouchUrl),
}

/// Why a `--store` value cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    #[error("--store `{0}`: expected sqlite:PATH (e.g. sqlite:/var/lib/attune/cloud.db) or couchdb:URL (e.g. couchdb:http://db.local:5984)")]
    Unknown(String),
    #[error(transparent)]
    Couch(#[from] CouchError),
}

impl std::str::FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("sqlite:") {
            if p.is_empty() {
                return Err(StoreUrlError::Unknown(s.to_owned()));
            }
            Ok(StoreUrl::Sqlite(PathBuf::from(p)))
        } else if let Some(u) = s.strip_prefix("couchdb:") {
            Ok(StoreUrl::Couch(CouchUrl::parse(u)?))
        } else {
            Err(StoreUrlError::Unknown(s.to_owned()))
        }
    }
}

impl std::fmt::Display for StoreUrl {
    /// As it may be logged: a CouchDB URL without its credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreUrl::Couch(u) => write!(f, "couchdb:{u}"),
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error(transparent)]
    Sqlite(#[from] SqliteError),
    #[error(transparent)]
    Couch(#[from] CouchError),
}

/// An opened store of either kind: the [`Store`] the API uses, plus what only one kind does
/// (backups are files for SQLite, `_all_docs` dumps for CouchDB).
#[derive(Debug, Clone)]
pub enum OpenStore {
    Sqlite(SqliteStore),
    Couch(CouchStore),
}

impl OpenStore {
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            OpenStore::Sqlite(s) => Arc::new(s.clone()),
            OpenStore::Couch(s) => Arc::new(s.clone()),
        }
    }

    pub fn as_store(&self) -> &dyn Store {
        match self {
            OpenStore::Sqlite(s) => s,
            OpenStore::Couch(s) => s,
        }
    }
}

impl StoreUrl {
    /// Opens the store, creating a SQLite file that does not exist yet (`serve`, `load`,
    /// `credentials create`). A CouchDB store sends nothing yet (it sets itself up on first
    /// use).
    pub fn open(&self) -> Result<OpenStore, OpenError> {
        Ok(match self {
            StoreUrl::Sqlite(p) => OpenStore::Sqlite(SqliteStore::open(p)?),
            StoreUrl::Couch(u) => OpenStore::Couch(CouchStore::new(u.clone())?),
        })
    }

    /// Opens a store that must exist already: a missing SQLite file is an error naming it
    /// (the other admin commands). CouchDB as [`StoreUrl::open`].
    pub fn open_existing(&self) -> Result<OpenStore, OpenError> {
        Ok(match self {
            StoreUrl::Sqlite(p) => OpenStore::Sqlite(SqliteStore::open_existing(p)?),
            StoreUrl::Couch(u) => OpenStore::Couch(CouchStore::new(u.clone())?),
        })
    }
}

/// Sets up `tracing`: JSON lines when stdout is not a terminal (a service's log collector),
/// readable text otherwise. `RUST_LOG` overrides the level (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if std::io::stdout().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}

/// Registries per OS id, from the bundled Linux registry (in its file's order).
pub fn bundled_registries() -> Result<Registries, attune_model::ModelError> {
    Registries::bundled()
}

/// Serves the API (HTTP/1.1) on `listener` until `shutdown` completes; requests in flight then
/// finish and idle connections close.
///
/// Served with hyper directly rather than `axum::serve`, for the one thing that has no knob:
/// a connection whose request head is not complete within
/// [`Limits::header_read_timeout`](crate::api::Limits) is cut, so slow clients cannot hold
/// connections open for ever (a body that stalls is cut by the router, see
/// [`crate::api::router`]).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// As [`serve`], over TLS when `tls` is given. The handshake runs in the connection's own task
/// (a slow one never holds up `accept`) and must finish within the request-head timeout.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    let head_timeout = state.limits().header_read_timeout;
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(head_timeout);
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let Some(tls) = &tls else {
            let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
            continue;
        };
        let (acceptor, watcher, http) = (tls.acceptor.clone(), graceful.watcher(), http.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(head_timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let conn = http.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed `accept`: a connection that died before we took it is nothing; anything else
/// (out of file descriptors, …) is logged and waited out for a moment, as axum::serve does, so
/// the loop does not spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// Reloads the TLS certificate on every SIGHUP (without TLS, says there is nothing to reload).
/// The handler is installed before this returns, so a SIGHUP right after start-up reloads
/// rather than killing the process (SIGHUP's default).
pub fn reload_on_sighup(cert: Option<Arc<crate::tls::ReloadingCert>>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match &cert {
                    None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                    Some(c) => match c.reload() {
                        Ok(fingerprint) => {
                            tracing::info!(%fingerprint, "TLS certificate reloaded")
                        }
                        Err(e) => tracing::error!(
                            error = %e,
                            fingerprint = %c.fingerprint(),
                            "TLS certificate reload failed; the certificate in use stays"
                        ),
                    },
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = cert;
    Ok(())
}

/// Completes on ctrl-c or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a SIGTERM that arrives right after the server said it listens
/// must stop it gracefully, not kill it (call it from inside the runtime).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse() {
        assert_eq!(
            "sqlite:/tmp/x.db".parse::<StoreUrl>().unwrap(),
            StoreUrl::Sqlite("/tmp/x.db".into())
        );
        let couch = "couchdb:http://u:pw@h:5984".parse::<StoreUrl>().unwrap();
        assert_eq!(couch.to_string(), "couchdb:http://h:5984/gpii");
        assert!("couchdb:h:5984".parse::<StoreUrl>().is_err());
        assert!("/tmp/x.db".parse::<StoreUrl>().is_err());
        assert!("sqlite:".parse::<StoreUrl>().is_err());
    }
}

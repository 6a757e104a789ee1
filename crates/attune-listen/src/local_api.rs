//! GPII's local flow manager API on loopback (GPII/universal `documentation/FlowManager.md`):
//! `GET /user/{key}/login`, `GET /user/{key}/logout`, `GET /user/{key}/proximityTriggered`, with
//! GPII's response texts and status codes; plus `GET /status` (what `attune status --json`
//! prints).
//!
//! Only programs of the user Attune runs as may use it, and no web page may: it binds loopback
//! only, refuses (403) a connection whose socket belongs to another uid or whose owner cannot be
//! found ([`crate::peer`]: fail closed), refuses any request a browser marks as coming from a page
//! (`Origin`, `Referer`, `Sec-Fetch-*`: a page's `<img src>` sends no `Origin` but does send
//! `Sec-Fetch-Site`), and refuses a `Host` that is not a loopback name (DNS rebinding).
//!
//! No answer carries the keyed-in person's key: `/status` and the 409 of a logout carry its
//! fingerprint (`key#…`). A login or logout reply repeats the key its caller sent, as GPII's do.

use std::net::SocketAddr;
use std::sync::Arc;

use attune_flow::Flow;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::peer::PeerError;
use crate::queue::{KeyQueue, Reply, Request as QRequest, Via};

/// Largest request body accepted (every route is a GET; a body is a mistake or an attack).
pub const MAX_BODY: u64 = 1024;

#[derive(Clone)]
struct AppState {
    queue: KeyQueue,
    flow: Arc<Flow>,
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalApiError {
    #[error("the local API must listen on a loopback address, not {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {detail}")]
    Bind { addr: SocketAddr, detail: String },
}

/// Both ends of a connection, as the server saw them when it accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub remote: SocketAddr,
    /// `None` if the socket could not say (the connection is then refused).
    pub local: Option<SocketAddr>,
}

impl Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer {
            remote: *stream.remote_addr(),
            local: stream.io().local_addr().ok(),
        }
    }
}

/// Finds the uid owning the socket at the first address connected to the second.
pub type UidLookup = Arc<dyn Fn(SocketAddr, SocketAddr) -> Result<u32, PeerError> + Send + Sync>;

/// Who may use the API: the uid this process runs as, and how a connection's uid is found.
#[derive(Clone)]
pub struct Access {
    own_uid: Result<u32, PeerError>,
    lookup: UidLookup,
}

impl Access {
    /// The user this process runs as, connections looked up in the kernel's socket tables.
    pub fn this_user() -> Access {
        Access {
            own_uid: crate::peer::own_uid(),
            lookup: Arc::new(crate::peer::peer_uid),
        }
    }

    /// `own_uid`, connections looked up with `lookup` (tests).
    pub fn new(own_uid: u32, lookup: UidLookup) -> Access {
        Access {
            own_uid: Ok(own_uid),
            lookup,
        }
    }
}

/// The router (exposed for tests and for embedding in the app). It needs the connection's
/// [`Peer`] (serve it with `into_make_service_with_connect_info::<Peer>()`, as [`serve_with`]
/// does): without it, every request is refused.
pub fn router(queue: KeyQueue, flow: Arc<Flow>, access: Access) -> Router {
    Router::new()
        .route("/user/{key}/login", get(login))
        .route("/user/{key}/logout", get(logout))
        .route("/user/{key}/proximityTriggered", get(proximity))
        .route("/status", get(status))
        .layer(middleware::from_fn(guard))
        .layer(middleware::from_fn_with_state(access, same_user))
        .with_state(AppState { queue, flow })
}

/// Binds `addr` (loopback only) and returns the bound listener, so a caller asking for port 0
/// learns the port before serving.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, LocalApiError> {
    if !addr.ip().is_loopback() {
        return Err(LocalApiError::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| LocalApiError::Bind {
            addr,
            detail: e.to_string(),
        })
}

/// Serves the API on `listener` until `shutdown` resolves, to the user this process runs as.
pub async fn serve(
    listener: tokio::net::TcpListener,
    queue: KeyQueue,
    flow: Arc<Flow>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, queue, flow, Access::this_user(), shutdown).await
}

/// [`serve`] with the given [`Access`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    queue: KeyQueue,
    flow: Arc<Flow>,
    access: Access,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(queue, flow, access).into_make_service_with_connect_info::<Peer>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"isError": true, "message": message}))).into_response()
}

fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

const OTHER_USER: &str = "Attune's local API answers only programs of the user it runs for.";

/// Refuses a connection from another uid, or whose uid cannot be found (fail closed).
async fn same_user(State(access): State<Access>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0);
    let (Some(peer), Ok(own)) = (peer, access.own_uid.clone()) else {
        tracing::warn!(
            own_uid = ?access.own_uid,
            "local API request refused: the connection's user cannot be checked"
        );
        return error(StatusCode::FORBIDDEN, OTHER_USER.to_owned());
    };
    let Some(local) = peer.local else {
        tracing::warn!(peer = %peer.remote, "local API request refused: the socket has no local address");
        return error(StatusCode::FORBIDDEN, OTHER_USER.to_owned());
    };
    let lookup = access.lookup.clone();
    let found = tokio::task::spawn_blocking(move || lookup(peer.remote, local))
        .await
        .unwrap_or_else(|e| {
            Err(PeerError::Read {
                path: "/proc/net/tcp".to_owned(),
                detail: e.to_string(),
            })
        });
    match found {
        Ok(uid) if uid == own => next.run(req).await,
        Ok(uid) => {
            tracing::warn!(peer = %peer.remote, uid, own_uid = own, "local API request from another user refused");
            error(StatusCode::FORBIDDEN, OTHER_USER.to_owned())
        }
        Err(e) => {
            tracing::warn!(peer = %peer.remote, error = %e, "local API request refused: the connection's user is not known");
            error(StatusCode::FORBIDDEN, OTHER_USER.to_owned())
        }
    }
}

async fn guard(req: Request, next: Next) -> Response {
    let h: &HeaderMap = req.headers();
    for browser_header in ["origin", "referer", "sec-fetch-site", "sec-fetch-mode"] {
        if h.contains_key(browser_header) {
            return error(
                StatusCode::FORBIDDEN,
                "Requests from web pages are not accepted by Attune's local API.".to_owned(),
            );
        }
    }
    let host_ok = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(host_is_loopback);
    if !host_ok {
        return error(
            StatusCode::FORBIDDEN,
            "Attune's local API answers only requests addressed to this computer (Host must be localhost or a loopback address).".to_owned(),
        );
    }
    let too_big = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY)
        || h.contains_key(header::TRANSFER_ENCODING);
    if too_big {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request bodies are limited to {MAX_BODY} bytes."),
        );
    }
    next.run(req).await
}

fn reply_to_response(r: Reply) -> Response {
    match r {
        Reply::LoggedIn(k) => (
            StatusCode::OK,
            format!("User with GPII key {k} was successfully logged in."),
        )
            .into_response(),
        Reply::LoggedOut(k) => (
            StatusCode::OK,
            format!("User with GPII key {k} was successfully logged out."),
        )
            .into_response(),
        Reply::Bounced => error(
            StatusCode::TOO_MANY_REQUESTS,
            "Proximity trigger ignored due to bounce rules. Please wait current logon change is complete".to_owned(),
        ),
        Reply::NotActive { requested, active } => error(
            StatusCode::CONFLICT,
            format!(
                "Got logout request from user {requested}, but the user {active} is logged in. So ignoring the request."
            ),
        ),
        Reply::Reconnected(_) => (StatusCode::OK, "").into_response(),
        Reply::Failed {
            during,
            kind,
            message,
        } => {
            let status = match kind {
                "busy" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, format!("Error occurred during {during}: {message}"))
        }
    }
}

async fn login(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    reply_to_response(s.queue.call(Via::LocalApi, QRequest::Login(key)).await)
}

async fn logout(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    reply_to_response(s.queue.call(Via::LocalApi, QRequest::Logout(key)).await)
}

async fn proximity(State(s): State<AppState>, Path(key): Path<String>) -> Response {
    reply_to_response(s.queue.call(Via::LocalApi, QRequest::Proximity(key)).await)
}

async fn status(State(s): State<AppState>) -> Response {
    let flow = s.flow.clone();
    match tokio::task::spawn_blocking(move || flow.status()).await {
        Ok(Ok(mut st)) => {
            // Any local program may ask; the key is the person's secret.
            st.key = st.key.as_deref().map(crate::queue::fingerprint);
            Json(st).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves the API with `access` on a free loopback port; the server stops with the runtime.
    async fn start(access: Access) -> (SocketAddr, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let config = attune_flow::Config::defaults(attune_flow::Profile::Testing);
        let flow = Arc::new(Flow::new(config, attune_flow::Paths::under(root.path())).unwrap());
        let queue = KeyQueue::start(flow.clone());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(
            listener,
            queue,
            flow,
            access,
            std::future::pending(),
        ));
        (addr, root)
    }

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|x| x.1)
            .unwrap_or("")
            .to_owned();
        (status, body)
    }

    const ME: u32 = 4242;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_from_another_user_is_refused_before_anything_runs() {
        let (addr, _root) = start(Access::new(ME, Arc::new(|_, _| Ok(ME + 1)))).await;

        for path in ["/status", "/user/high_contrast/login", "/user/x/logout"] {
            let (st, body) = get(addr, path).await;
            assert_eq!(st, 403, "{path}: {body}");
            assert!(body.contains("user it runs for"), "{body}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_whose_user_cannot_be_found_is_refused() {
        let not_found: UidLookup = Arc::new(|peer, local| Err(PeerError::NotFound { peer, local }));
        let (addr, _root) = start(Access::new(ME, not_found)).await;

        let (st, _) = get(addr, "/status").await;

        assert_eq!(st, 403);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lookup_is_asked_about_the_callers_socket_and_ours() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let lookup: UidLookup = Arc::new(move |peer, local| {
            s2.lock().unwrap().push((peer, local));
            Ok(ME)
        });
        let (addr, _root) = start(Access::new(ME, lookup)).await;

        let (st, body) = get(addr, "/status").await;

        assert_eq!(st, 200, "{body}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, addr, "our end is the listening address");
        assert!(seen[0].0.ip().is_loopback() && seen[0].0.port() != addr.port());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn this_users_own_connection_is_served_with_the_real_lookup() {
        let (addr, _root) = start(Access::this_user()).await;

        let (st, body) = get(addr, "/status").await;

        assert_eq!(st, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["state"], "idle");
    }

    #[tokio::test]
    async fn a_router_served_without_connection_info_refuses_everything() {
        let root = tempfile::tempdir().unwrap();
        let config = attune_flow::Config::defaults(attune_flow::Profile::Testing);
        let flow = Arc::new(Flow::new(config, attune_flow::Paths::under(root.path())).unwrap());
        let app = router(
            KeyQueue::start(flow.clone()),
            flow,
            Access::new(ME, Arc::new(|_, _| Ok(ME))),
        );
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (st, _) = get(addr, "/status").await;

        assert_eq!(st, 403);
    }

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "127.0.0.1:8081",
            "localhost:8081",
            "LOCALHOST",
            "[::1]:8081",
            "127.1.2.3",
        ] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in [
            "evil.example:8081",
            "192.168.1.2:8081",
            "",
            "[::2]:1",
            "localhost.evil.com",
        ] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
    }
}

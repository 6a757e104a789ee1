//! GPII's local flow manager API on loopback (GPII/universal `documentation/FlowManager.md`):
//! `GET /user/{key}/login`, `GET /user/{key}/logout`, `GET /user/{key}/proximityTriggered`, with
//! GPII's response texts and status codes; plus `GET /status` (what `attune status --json`
//! prints).
//!
//! Only programs on this machine may use it, and no web page may: it binds loopback only,
//! refuses any request a browser marks as coming from a page (`Origin`, `Referer`,
//! `Sec-Fetch-*`: a page's `<img src>` sends no `Origin` but does send `Sec-Fetch-Site`), and
//! refuses a `Host` that is not a loopback name (DNS rebinding).

use std::net::SocketAddr;
use std::sync::Arc;

use attune_flow::Flow;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

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

/// The router (exposed for tests and for embedding in the app).
pub fn router(queue: KeyQueue, flow: Arc<Flow>) -> Router {
    Router::new()
        .route("/user/{key}/login", get(login))
        .route("/user/{key}/logout", get(logout))
        .route("/user/{key}/proximityTriggered", get(proximity))
        .route("/status", get(status))
        .layer(middleware::from_fn(guard))
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

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    queue: KeyQueue,
    flow: Arc<Flow>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(queue, flow))
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
        Ok(Ok(st)) => Json(st).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

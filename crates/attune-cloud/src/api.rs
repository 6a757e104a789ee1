//! The HTTP API: GPII's cloud-based flow manager routes plus Attune's `/version`.
//!
//! Status codes and bodies follow GPII/universal's code where it defines them
//! (`flowManager/src/Settings{Get,Put}Handler.js`, `gpii-oauth2`, `preferencesServer`); where
//! GPII would answer 500 for a client's mistake (an unparsable device), we answer 400. See
//! `docs/cloud.md` for the list of differences.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, PathRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use attune_model::answer::SettingsAnswer;
use attune_model::device::DeviceReport;
use attune_model::key::Key;
use attune_model::matchmaker::Matcher;
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;

use crate::auth::{self, FailureLimiter, LimitPolicy};
use crate::clock::{iso8601, Clock};
use crate::error::ApiError;
use crate::metrics::{Failure, Metrics};
use crate::preferences;
use crate::registries::{Registries, Registry};
use crate::store::{
    AuditAction, AuthorizationDoc, GpiiKeyDoc, Grant, PrefsSafeDoc, PrefsSafeType, Store,
    StoreError,
};
use crate::token_request::TokenRequest;

/// The API version of this server (`X-Attune-Api`, `GET /version`). Clients accept the same
/// major (docs/design.md §6.3).
pub const API_VERSION: &str = "1.0";
/// The header carrying [`API_VERSION`] on every response.
pub const API_HEADER: &str = "x-attune-api";
/// GPII's message on a successful PUT.
pub const PUT_SUCCESS: &str = "Successfully updated.";
/// Longest device segment we decode (a device report lists a few dozen solutions).
pub const MAX_DEVICE_BYTES: usize = 16 * 1024;

/// Limits that protect the server. Defaults suit one small machine.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests handled at once; more get 503 + Retry-After at once.
    pub max_in_flight: usize,
    /// Largest PUT body (a preference set is a few kB; GPII's snapsets are under 2 kB).
    pub max_put_bytes: usize,
    /// Largest `/access_token` body.
    pub max_token_bytes: usize,
    /// Failed token requests per (source address, client id).
    pub per_address: LimitPolicy,
    /// Failed token requests of an authenticated client id, from anywhere.
    pub per_client: LimitPolicy,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`serve --trusted-proxy`); from
    /// any other peer the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A connection whose request head (line and headers) is not complete this long after it
    /// started is closed: slow clients must not hold connections for ever (slowloris).
    pub header_read_timeout: Duration,
    /// A request whose body sends nothing for this long is answered 408 and its connection
    /// closed, which frees its place among `max_in_flight`.
    pub body_stall_timeout: Duration,
    /// How long a granted token lives (`expiresIn`). One hour; tests shorten it.
    pub token_lifetime_secs: i64,
    /// Days a forgotten key's preferences are kept before the hourly sweep deletes them.
    pub forget_grace_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 256,
            max_put_bytes: 1024 * 1024,
            max_token_bytes: 16 * 1024,
            per_address: auth::PER_ADDRESS,
            per_client: auth::PER_CLIENT,
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            body_stall_timeout: Duration::from_secs(10),
            token_lifetime_secs: auth::TOKEN_LIFETIME_SECS,
            forget_grace_days: crate::admin::DEFAULT_GRACE_DAYS,
        }
    }
}

/// Everything a request handler needs. Shared by all requests.
pub struct AppState {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Solutions registry per OS id (`device.OS.id`), as GPII keeps one per OS.
    registries: Registries,
    per_address: FailureLimiter,
    per_client: FailureLimiter,
    in_flight: Arc<Semaphore>,
    limits: Limits,
    answers: AnswerCache,
    matchers: MatcherCache,
    /// When, on [`AppState::clock`], expired tokens are next purged (0: at the first grant).
    next_purge_ms: AtomicI64,
    /// Purges finished since start (for tests to wait on, and the log).
    purges: tokio::sync::watch::Sender<u64>,
    metrics: Metrics,
}

/// How often the server deletes expired tokens itself.
pub const PURGE_INTERVAL_MS: i64 = 3600 * 1000;

/// Most recent `GET settings` answers, by key, preferences safe and its revision, and device
/// segment. Matchmaking and serialising are most of a request's work, and a desktop fleet asks
/// the same questions again; a PUT bumps the revision, so a cached answer is never stale. The
/// token is still checked and the safe still read on every request.
#[derive(Default)]
struct AnswerCache(std::sync::Mutex<HashMap<(String, String, u64, String), Bytes>>);

/// Entries kept before the cache starts over (bounds memory: an answer is a few kB).
const ANSWER_CACHE_ENTRIES: usize = 4096;

impl AnswerCache {
    fn get(&self, k: &(String, String, u64, String)) -> Option<Bytes> {
        self.0.lock().ok()?.get(k).cloned()
    }

    fn put(&self, k: (String, String, u64, String), v: Bytes) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= ANSWER_CACHE_ENTRIES {
                m.clear();
            }
            m.insert(k, v);
        }
    }
}

/// Each device's prepared registry ([`Matcher`]), by OS id and installed solutions: preparing is most
/// of a match's work, and it depends only on the registry and which solutions are installed, so
/// a key seen for the first time (the cold path: a morning's first key-ins) is matched without it.
#[derive(Default)]
struct MatcherCache(std::sync::Mutex<HashMap<DeviceKind, Arc<Matcher>>>);

/// A device as matching sees it: its OS id and the ids of its installed solutions.
type DeviceKind = (String, BTreeSet<String>);

/// Devices kept before the cache starts over (a site has few kinds of computer; a prepared
/// registry is some tens of kB).
const MATCHER_CACHE_ENTRIES: usize = 64;

impl MatcherCache {
    /// The matcher for `device` on `registry` (the one registry of the device's OS), prepared
    /// now if not kept.
    fn get_or_prepare(
        &self,
        registry: &SolutionsRegistry,
        device: &DeviceReport,
    ) -> Result<Arc<Matcher>, attune_model::ModelError> {
        let k = (
            device.os.id.clone(),
            device.solutions.iter().map(|s| s.id.clone()).collect(),
        );
        if let Some(m) = self.0.lock().ok().and_then(|m| m.get(&k).cloned()) {
            return Ok(m);
        }
        let m = Arc::new(Matcher::new(registry, device)?);
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= MATCHER_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(k, Arc::clone(&m));
        }
        Ok(m)
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        registries: impl Into<Registries>,
        limits: Limits,
    ) -> Arc<Self> {
        Self::with_metrics(store, clock, registries, limits, Metrics::default())
    }

    /// As [`AppState::new`], with metrics made beforehand (e.g.
    /// [`Metrics::with_backup_dir`]).
    pub fn with_metrics(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        registries: impl Into<Registries>,
        limits: Limits,
        metrics: Metrics,
    ) -> Arc<Self> {
        Arc::new(AppState {
            store,
            clock,
            registries: registries.into(),
            per_address: FailureLimiter::new(limits.per_address),
            per_client: FailureLimiter::new(limits.per_client),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            answers: AnswerCache::default(),
            matchers: MatcherCache::default(),
            next_purge_ms: AtomicI64::new(0),
            purges: tokio::sync::watch::Sender::new(0),
            metrics,
        })
    }
}

impl AppState {
    /// The limits this state was made with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Purges finished since start: a receiver that sees each one end (tests wait on it
    /// instead of sleeping).
    pub fn purges(&self) -> tokio::sync::watch::Receiver<u64> {
        self.purges.subscribe()
    }

    /// Starts a purge of expired tokens in the background when one is due: at the first grant
    /// after start, then once an hour on the server's clock. Called after each grant, the only
    /// thing that adds tokens, so the table holds about the last two hours' grants, with no
    /// cron job; an idle server adds nothing to purge. Several replicas each purge; the stores
    /// tolerate that (a token deleted twice is deleted once). The same sweep deletes the keys
    /// forgotten at least [`Limits::forget_grace_days`] ago (an idle server leaves that to
    /// `keys purge-forgotten`).
    fn purge_if_due(self: &Arc<Self>, now_ms: i64) {
        let due = self.next_purge_ms.load(Ordering::Relaxed);
        if now_ms < due
            || self
                .next_purge_ms
                .compare_exchange(
                    due,
                    now_ms + PURGE_INTERVAL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let st = self.clone();
        tokio::spawn(async move {
            match st.store.purge_expired_authorizations(now_ms).await {
                Ok(n) => {
                    st.metrics.tokens_purged(n);
                    tracing::info!(deleted = n, "expired tokens purged");
                }
                // The next grant an hour from now tries again.
                Err(e) => tracing::warn!(error = %e, "purging expired tokens failed"),
            }
            let grace = st.limits.forget_grace_days;
            match crate::admin::purge_forgotten(
                st.store.as_ref(),
                grace,
                crate::admin::SERVER_ACTOR,
                st.clock.as_ref(),
            )
            .await
            {
                Ok(purged) if purged.is_empty() => {}
                Ok(purged) => tracing::info!(deleted = purged.len(), "forgotten keys purged"),
                Err(e) => tracing::warn!(error = %e, "purging forgotten keys failed"),
            }
            st.purges.send_modify(|n| *n += 1);
        });
    }
}

type St = Arc<AppState>;

/// Every route of the API: method, path (axum syntax) and handler. The router is built from
/// this list and the OpenAPI test reads it, so the two cannot drift apart.
pub fn routes(limits: &Limits) -> Vec<(Method, &'static str, MethodRouter<St>)> {
    vec![
        (Method::GET, "/health", get(health)),
        (Method::GET, "/ready", get(ready)),
        (Method::GET, "/version", get(version)),
        (Method::GET, "/metrics", get(metrics)),
        (
            Method::POST,
            "/access_token",
            limit_body(post(access_token), limits.max_token_bytes),
        ),
        (
            Method::POST,
            "/access_token/revoke",
            post(revoke_token).layer(DefaultBodyLimit::max(limits.max_token_bytes)),
        ),
        (Method::GET, "/{key}/settings/{device}", get(get_settings)),
        (
            Method::PUT,
            "/{key}/settings",
            limit_body(put(put_settings), limits.max_put_bytes),
        ),
        (Method::DELETE, "/{key}", delete(forget_key)),
    ]
}

/// `route` with bodies over `limit` bytes refused with 413 (see [`announced_length`]).
fn limit_body(route: MethodRouter<St>, limit: usize) -> MethodRouter<St> {
    route
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(limit, announced_length))
}

/// Bodies over `limit` bytes get 413: at once when `Content-Length` says so (without reading
/// the body), and while reading otherwise (`DefaultBodyLimit`, seen by [`body_bytes`]).
async fn announced_length(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64);
    if too_big {
        ApiError::TooLarge { limit }.into_response()
    } else {
        next.run(req).await
    }
}

/// Gives the request a body that fails with [`BodyStalled`] when nothing arrives for `limit`
/// (a slow client must not hold a place among `max_in_flight` for ever).
async fn body_stall_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let req = req.map(|inner| {
        axum::body::Body::new(StallTimeoutBody {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
        })
    });
    next.run(req).await
}

/// The error of a request body that stopped arriving.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {} ms", .0.as_millis())]
pub struct BodyStalled(Duration);

/// A body whose every frame must arrive within `limit` of the previous one (or of the request
/// head). A total deadline would cut slow but honest uploads; this cuts only silence.
struct StallTimeoutBody {
    inner: axum::body::Body,
    limit: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl axum::body::HttpBody for StallTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + this.limit;
                this.timer.as_mut().reset(next);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.limit)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The `(method, path)` pairs of [`routes`], for documentation checks.
pub fn route_list() -> Vec<(Method, &'static str)> {
    routes(&Limits::default())
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect()
}

/// The whole application: routes, load shedding, the version header and request logs.
pub fn router(state: St) -> Router {
    let mut r = Router::new();
    for (_, path, handler) in routes(&state.limits) {
        r = r.route(path, handler);
    }
    r.fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.limits.body_stall_timeout,
            body_stall_timeout,
        ))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(state.clone(), shed_load))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .layer(middleware::from_fn(version_header))
        .with_state(state)
}

async fn version_header(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(API_HEADER, HeaderValue::from_static(API_VERSION));
    resp
}

/// Beyond `max_in_flight` requests, answer 503 at once: a client retrying in a second does
/// better than one whose request waits in a queue until it times out.
async fn shed_load(State(st): State<St>, req: Request, next: Next) -> Response {
    match st.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            tracing::warn!("shedding load: too many requests in flight");
            let mut resp = ApiError::Unavailable {
                message: "The server is busy; retry shortly".to_owned(),
                retry_after: 1,
            }
            .into_response();
            resp.extensions_mut().insert(Failure::Shed);
            resp
        }
    }
}

/// The route pattern of a request (never its path: it holds the key).
fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |m| m.as_str().to_owned())
}

/// Counts every request for `/metrics`: in flight, then answered by route and status, its
/// latency, and why it failed when the answer says (see [`Failure`]).
async fn count_request(State(st): State<St>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let method = req.method().clone();
    let start = Instant::now();
    let _in_flight = st.metrics.start();
    let resp = next.run(req).await;
    st.metrics.answered(
        &route,
        method.as_str(),
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
        resp.extensions().get::<Failure>().copied(),
    );
    resp
}

/// One log line per request, naming the route pattern (never the path: it holds the key).
async fn log_request(req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let micros = start.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::warn!(%method, route, status, micros, "request");
    } else if status >= 400 {
        tracing::info!(%method, route, status, micros, "request");
    } else {
        tracing::debug!(%method, route, status, micros, "request");
    }
    resp
}

async fn not_found(method: Method) -> ApiError {
    ApiError::gpii(
        StatusCode::NOT_FOUND,
        format!("No such endpoint for {method}; see /version and docs/api/openapi.yaml"),
    )
}

async fn health() -> Json<Value> {
    Json(json!({"isHealthy": true}))
}

async fn ready(State(st): State<St>) -> Result<Json<Value>, ApiError> {
    st.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        ApiError::Unavailable {
            message: "Error connecting to the store".to_owned(),
            retry_after: 5,
        }
    })?;
    Ok(Json(json!({"isReady": true})))
}

/// `GET /metrics` (an Attune extension): the counters of [`crate::metrics`]. Pings the store,
/// so `attune_cloud_store_up` is as fresh as the scrape.
async fn metrics(State(st): State<St>) -> Result<Response, ApiError> {
    let up = st.store.ping().await.is_ok();
    let now = Duration::from_millis(u64::try_from(st.clock.now_ms()).unwrap_or(0));
    let text = st
        .metrics
        .render(up, std::time::UNIX_EPOCH + now)
        .map_err(|e| {
            ApiError::gpii(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Cannot write the metrics: {e}"),
            )
        })?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

async fn version() -> Json<Value> {
    Json(json!({
        "api": API_VERSION,
        "server": concat!("attune-cloud/", env!("CARGO_PKG_VERSION")),
        "schemaVersion": crate::store::SCHEMA_VERSION,
    }))
}

/// The body, or 413 when it is over the route's limit, or 408 when it stopped arriving.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::TooLarge { limit: 0 }
        }
        other if stalled(&other) => ApiError::gpii(
            StatusCode::REQUEST_TIMEOUT,
            format!("The request body stopped arriving: {other}"),
        ),
        other => ApiError::bad_request(format!("The request body could not be read: {other}")),
    })
}

/// Whether a body error comes from [`BodyStalled`].
fn stalled(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyStalled>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// `POST /access_token`: GPII's "resource owner GPII key grant" (OAuth2 password grant with
/// the key as `username`). Checks run in GPII's order, so each failure answers as GPII does.
async fn access_token(
    State(st): State<St>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    fields: TokenRequest,
) -> Result<Response, ApiError> {
    let bursts = std::sync::Mutex::new(Vec::new());
    let answer = grant_token(&st, peer, &headers, fields, &bursts).await;
    // A client or address that used up its failed grants is audited once per burst, by the
    // limiter's bucket name (an address and an existing client id), never the key it tried.
    for who in bursts.into_inner().unwrap_or_default() {
        let audited = crate::admin::audit(
            st.store.as_ref(),
            AuditAction::GrantFailedBurst,
            &who,
            None,
            st.clock.as_ref(),
        );
        if let Err(e) = audited.await {
            tracing::warn!(error = %e, "auditing a burst of failed grants failed");
        }
    }
    answer
}

/// [`access_token`]'s checks and grant; the buckets a failure used up go to `bursts`.
async fn grant_token(
    st: &St,
    peer: SocketAddr,
    headers: &HeaderMap,
    fields: TokenRequest,
    bursts: &std::sync::Mutex<Vec<String>>,
) -> Result<Response, ApiError> {
    let burst = |who: String| {
        if let Ok(mut b) = bursts.lock() {
            b.push(who);
        }
    };
    let now = st.clock.now_ms();
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = auth::client_address(peer.ip(), &forwarded, &st.limits.trusted_proxies);
    let client_id = fields.client_id();
    // Failures count per (address, client id), so that one client's failures never refuse
    // another client's correct credential from the same address (behind a reverse proxy all
    // sites share one). Client ids that do not exist share one bucket per address: cycling
    // made-up ids neither escapes the limit nor grows the limiter. Telling them apart costs a
    // read by key before the limit is checked.
    // With the key read in the same round trip: a grant's reads are one trip to the store.
    let asked_key = fields.username().and_then(|u| Key::parse(u).ok());
    let (credential, key_doc) = match (client_id, &asked_key) {
        (Some(c), Some(k)) => st.store.find_credential_and_key(c, k.expose()).await?,
        (Some(c), None) => (st.store.find_client_credential(c).await?, None),
        (None, _) => (None, None),
    };
    let pair = match (&credential, client_id) {
        (Some(c), _) => format!("{ip} {}", c.oauth2_client_id),
        (None, Some(_)) => format!("{ip} ?"),
        (None, None) => format!("{ip} -"),
    };
    st.per_address
        .check(&pair, now)
        .map_err(|s| ApiError::RateLimited { retry_after: s })?;
    let refuse_client = |why: &str| {
        if st.per_address.fail(&pair, now) {
            burst(format!("address {pair}"));
        }
        tracing::info!(client = client_id.unwrap_or("-"), why, "token refused");
    };

    let (Some(client_id), Some(secret)) = (client_id, fields.client_secret()) else {
        refuse_client("no client credentials");
        return Err(ApiError::PlainUnauthorized);
    };
    let credential = match credential {
        Some(c)
            if !c.revoked
                && auth::SecretHash::parse(&c.oauth2_client_secret_hash)
                    .is_some_and(|h| h.matches(secret)) =>
        {
            c
        }
        _ => {
            refuse_client("wrong client credentials");
            return Err(ApiError::oauth_unauthorized());
        }
    };
    // An authenticated client: its failures from here on (unknown keys, …) also count per
    // client id, wherever they come from, so one site cannot sweep the key space.
    st.per_client
        .check(client_id, now)
        .map_err(|s| ApiError::RateLimited { retry_after: s })?;
    let fail = |why: &str| {
        if st.per_address.fail(&pair, now) {
            burst(format!("address {pair}"));
        }
        if st.per_client.fail(client_id, now) {
            burst(format!("client {client_id}"));
        }
        tracing::info!(client = client_id, why, "token refused");
    };
    let grant_type = fields.grant_type();
    if grant_type != "password" {
        return Err(ApiError::OAuth {
            status: StatusCode::NOT_IMPLEMENTED,
            error: "unsupported_grant_type",
            description: format!("Unsupported grant type: {grant_type}"),
        });
    }
    let missing = |p: &str| ApiError::OAuth {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description: format!("Missing required parameter: {p}"),
    };
    let username = fields.username().ok_or_else(|| missing("username"))?;
    fields.password().ok_or_else(|| missing("password"))?;
    if let Some(blocks) = &credential.allowed_ip_blocks {
        if !auth::ip_allowed(ip, blocks) {
            fail("address not in allowedIPBlocks");
            return Err(ApiError::oauth_unauthorized());
        }
    }
    let Ok(key) = Key::parse(username) else {
        fail("unusable key");
        return Err(ApiError::oauth_unauthorized());
    };
    let may_create =
        credential.is_create_gpii_key_allowed && credential.is_create_prefs_safe_allowed;
    // A revoked key (a forgotten one among them) is refused even where unknown keys may be
    // created: it must answer as an unknown key, and creating it again would bring it back.
    if key_doc.as_ref().is_some_and(|k| k.revoked) || (!may_create && key_doc.is_none()) {
        fail("unknown key");
        return Err(ApiError::oauth_unauthorized());
    }
    let token = auth::random_token();
    let token_hash = auth::token_hash(&token);
    st.store
        .add_authorization(AuthorizationDoc {
            id: crate::store::authorization_id(&token_hash),
            client_id: credential.client_id.clone(),
            client_credential_id: credential.id.clone(),
            gpii_key: key.expose().to_owned(),
            access_token_hash: token_hash,
            created_ms: now,
            expires_ms: now + st.limits.token_lifetime_secs * 1000,
            revoked: false,
        })
        .await?;
    tracing::info!(client = client_id, %key, "token granted");
    st.metrics.token_granted();
    st.purge_if_due(now);
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({
            "access_token": token,
            "expiresIn": st.limits.token_lifetime_secs,
            "token_type": "Bearer",
        })),
    )
        .into_response())
}

/// The token of an `Authorization: Bearer <token>` header; 401 as GPII answers without one.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let mut parts = v.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(scheme), Some(t), None) if scheme.eq_ignore_ascii_case("bearer") => Some(t),
                _ => None,
            }
        })
        .ok_or(ApiError::Unauthorized)
}

/// `POST /access_token/revoke` (an Attune extension GPII clients never call): the bearer
/// token stops working at once, so a desktop that keys out leaves no token valid for the rest
/// of its hour. 204 whether or not the token existed (RFC 7009: the answer tells a caller
/// nothing about other people's tokens, and retrying is harmless).
async fn revoke_token(State(st): State<St>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let token = bearer_token(&headers)?;
    let now = st.clock.now_ms();
    let n = st
        .store
        .revoke_authorization(&auth::token_hash(token), now)
        .await?;
    let n = if n == 0 {
        st.store.revoke_legacy_authorization(token, now).await?
    } else {
        n
    };
    tracing::info!(revoked = n, "token revoked by its holder");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /{key}` (an Attune extension: "forget me" from the app), authorised by a token
/// granted for that key: the key is forgotten at once ([`crate::admin::forget_key`]): every
/// token of it revoked and the key unknown from now on; its preferences are deleted after the
/// grace period. 200 with `{"forgotten": true, "deleted_within_days": N}` (the grace period, so
/// the app can tell the person); asking again with the same token is 401, as for any revoked
/// token.
async fn forget_key(
    State(st): State<St>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(key) = path.map_err(path_error)?;
    authorize(&st, &headers, &key).await?;
    let key = Key::parse(&key).map_err(|_| ApiError::Unauthorized)?;
    crate::admin::forget_key(
        st.store.as_ref(),
        &key,
        Some("asked by the key's holder"),
        crate::admin::KEY_HOLDER_ACTOR,
        st.clock.as_ref(),
    )
    .await?;
    tracing::info!(%key, "key forgotten by its holder");
    Ok(Json(serde_json::json!({
        "forgotten": true,
        "deleted_within_days": st.limits.forget_grace_days,
    })))
}

/// The bearer token's live grant, if it is for `key`; otherwise 401 as GPII answers.
async fn authorize(st: &AppState, headers: &HeaderMap, key: &str) -> Result<Grant, ApiError> {
    let token = bearer_token(headers)?;
    let now = st.clock.now_ms();
    let grant = st.store.find_grant(&auth::token_hash(token), now).await?;
    authorized(st, grant, token, key, now).await
}

/// `grant` (what the store found for the token's hash) if it is for `key`, else the grant of a
/// token GPII's cloud issued over the same database (see store::couchdb) if that is for `key`;
/// otherwise 401 as GPII answers.
async fn authorized(
    st: &AppState,
    grant: Option<Grant>,
    token: &str,
    key: &str,
    now: i64,
) -> Result<Grant, ApiError> {
    let grant = match grant {
        Some(g) => g,
        None => st
            .store
            .find_legacy_grant(token, now)
            .await?
            .ok_or(ApiError::Unauthorized)?,
    };
    if grant.authorization.gpii_key != key {
        return Err(ApiError::Unauthorized);
    }
    Ok(grant)
}

fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad_request(format!("The request path cannot be read: {e}"))
}

/// Parses the device segment: GPII's message when it is not JSON; a named field when it has
/// the wrong shape.
pub fn parse_device(segment: &str) -> Result<DeviceReport, ApiError> {
    if segment.len() > MAX_DEVICE_BYTES {
        return Err(ApiError::bad_request(format!(
            "Cloud based flow manager requires device information - the device segment is {} bytes, at most {MAX_DEVICE_BYTES}",
            segment.len()
        )));
    }
    let v: Value = serde_json::from_str(segment).map_err(|e| {
        ApiError::bad_request(format!(
            "Cloud based flow manager requires device information - failed to parse {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "Cloud based flow manager requires device information - expected a JSON object like {\"OS\":{\"id\":\"linux\"},\"solutions\":[{\"id\":\"…\"}]}",
        ));
    }
    serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!(
            "Cloud based flow manager requires device information - wrong shape: {e}"
        ))
    })
}

/// GPII's answer to `GET /{key}/settings/{device}` for these preferences (`None`: the key has
/// none), computed with attune-model's flat matchmaker. Its solutions are written sorted; set
/// [`SettingsAnswer::solution_order`] for the registry's order.
pub fn settings_answer(
    key: &str,
    preferences: Option<&Value>,
    registry: &SolutionsRegistry,
    device: &DeviceReport,
) -> Result<SettingsAnswer, ApiError> {
    let matcher = Matcher::new(registry, device).map_err(matching_failed)?;
    settings_answer_with(key, preferences, &matcher)
}

fn matching_failed(e: attune_model::ModelError) -> ApiError {
    tracing::error!(error = %e, "matchmaking failed");
    ApiError::gpii(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Matchmaking failed: {e}"),
    )
}

/// [`settings_answer`] with the device's registry prepared already.
fn settings_answer_with(
    key: &str,
    preferences: Option<&Value>,
    matcher: &Matcher,
) -> Result<SettingsAnswer, ApiError> {
    let to_value = |r: &SolutionsRegistry| {
        serde_json::to_value(r).map_err(|e| {
            ApiError::gpii(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Cannot write the answer: {e}"),
            )
        })
    };
    let Some(stored) = preferences else {
        return Ok(SettingsAnswer {
            gpii_key: Some(Value::from(key)),
            preferences: Some(json!({})),
            solutions_registry_entries: Some(to_value(matcher.installed())?),
            match_maker_output: Some(json!({"inferredConfiguration": {}})),
            ..SettingsAnswer::default()
        });
    };
    let set =
        PreferenceSet::from_value_named(stored.clone(), "stored preference set").map_err(|e| {
            tracing::error!(error = %e, "stored preferences unreadable");
            ApiError::gpii(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The stored preferences of this key cannot be read",
            )
        })?;
    let outcome = matcher
        .match_and_transform(&set, DEFAULT_CONTEXT)
        .map_err(matching_failed)?;
    Ok(SettingsAnswer {
        gpii_key: Some(Value::from(key)),
        preferences: Some(outcome.filtered_preferences),
        solutions_registry_entries: Some(to_value(&outcome.registry_entries)?),
        match_maker_output: Some(outcome.matchmaker_output),
        ..SettingsAnswer::default()
    })
}

async fn get_settings(
    State(st): State<St>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((key, segment)) = path.map_err(path_error)?;
    let token = bearer_token(&headers)?;
    let now = st.clock.now_ms();
    // The grant and the preferences in one trip to the store; nothing read is answered
    // unless the token is good for this key.
    let (grant, found) = st
        .store
        .find_grant_and_prefs(&auth::token_hash(token), &key, now)
        .await?;
    authorized(&st, grant, token, &key, now).await?;
    let device = parse_device(&segment)?;
    let (prefs, cache_key) = match &found {
        Some((k, _)) if k.revoked => return Err(ApiError::Unauthorized),
        Some((_, Some(safe))) => (
            Some(&safe.preferences),
            Some((key.clone(), safe.id.clone(), safe.rev, segment)),
        ),
        _ => (None, None),
    };
    let json = |bytes: Bytes| ([(header::CONTENT_TYPE, "application/json")], bytes).into_response();
    if let Some(hit) = cache_key.as_ref().and_then(|k| st.answers.get(k)) {
        return Ok(json(hit));
    }
    let empty = Registry::default();
    let registry = st.registries.get(&device.os.id).unwrap_or(&empty);
    let matcher = st
        .matchers
        .get_or_prepare(&registry.solutions, &device)
        .map_err(matching_failed)?;
    let answer = SettingsAnswer {
        solution_order: registry.order.clone(),
        ..settings_answer_with(&key, prefs, &matcher)?
    };
    let bytes = Bytes::from(answer.to_vec().map_err(|e| {
        ApiError::gpii(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Cannot write the answer: {e}"),
        )
    })?);
    if let Some(k) = cache_key {
        st.answers.put(k, bytes.clone());
    }
    Ok(json(bytes))
}

async fn put_settings(
    State(st): State<St>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(key) = path.map_err(path_error)?;
    let grant = authorize(&st, &headers, &key).await?;
    let body = body_bytes(body).map_err(|e| match e {
        ApiError::TooLarge { .. } => ApiError::TooLarge {
            limit: st.limits.max_put_bytes,
        },
        other => other,
    })?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
    let linux = st
        .registries
        .get("linux")
        .map(|r| r.solutions.clone())
        .unwrap_or_default();
    let errors = preferences::validate_body(&body, &linux);
    if !errors.is_empty() {
        return Err(ApiError::Validation { errors });
    }
    if let Some(allowed) = &grant.allowed_prefs_to_write {
        let refused = preferences::terms_not_allowed(&body, allowed);
        if !refused.is_empty() {
            tracing::info!(
                terms = refused.len(),
                "PUT refused: terms not in allowedPrefsToWrite"
            );
            return Err(ApiError::Unauthorized);
        }
    }
    let parsed = Key::parse(&key).map_err(|_| ApiError::Unauthorized)?;
    save_preferences(&st, &key, &body).await?;
    tracing::info!(key = %parsed, "preferences updated");
    Ok(Json(json!({"gpiiKey": key, "message": PUT_SUCCESS})))
}

/// Largest preference set a key may hold, as stored (compact JSON). A PUT merges into what is
/// stored and nothing ever removes a term, so without this cap a key's row grows with every
/// PUT (twelve 1 MiB PUTs made an 11 MB row that every GET then reads and matches). A real
/// person's set is a few kB; GPII's snapsets are under 2 kB.
pub const MAX_STORED_PREFS_BYTES: usize = 256 * 1024;

/// The merged set, or 413 (GPII's error shape) when it would be over
/// [`MAX_STORED_PREFS_BYTES`]; then nothing is stored.
fn within_stored_limit(merged: Value) -> Result<Value, ApiError> {
    let n = merged.to_string().len();
    if n > MAX_STORED_PREFS_BYTES {
        tracing::info!(
            bytes = n,
            "PUT refused: the merged preference set is too large"
        );
        return Err(ApiError::gpii(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The preferences of this key would be {n} bytes after this change, more than the {MAX_STORED_PREFS_BYTES} bytes a key may hold; nothing was saved"
            ),
        ));
    }
    Ok(merged)
}

/// Tries at a PUT before giving up with 503 (each retry is a lost race, not a failure).
const SAVE_ATTEMPTS: u32 = 30;

/// Merges `body` into the key's preferences, creating the key or its safe when missing.
/// Concurrent writers are resolved by the store's revision check: the loser re-reads and
/// re-merges, after a short random pause so that writers on several replicas stop colliding.
async fn save_preferences(st: &AppState, key: &str, body: &Value) -> Result<(), ApiError> {
    for attempt in 0..SAVE_ATTEMPTS {
        if attempt > 0 {
            let ms = rand::random_range(0..=(5 * attempt as u64).min(50));
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let now = iso8601(st.clock.now_ms());
        let result = match st.store.find_prefs_by_key(key).await? {
            Some((k, _)) if k.revoked => return Err(ApiError::Unauthorized),
            Some((_, Some(safe))) => {
                if safe.prefs_safe_type != PrefsSafeType::User {
                    return Err(ApiError::Gpii {
                        status: StatusCode::NOT_FOUND,
                        message: format!(
                            "Can't update preferences for readOnly GPII key \"{key}\" (perhaps it is a snapset)"
                        ),
                        error_code: Some("GPII_ERR_READONLY"),
                    });
                }
                let rev = safe.rev;
                let doc = PrefsSafeDoc {
                    preferences: within_stored_limit(preferences::merged_preferences(
                        Some(&safe.preferences),
                        body,
                    ))?,
                    timestamp_updated: Some(now),
                    ..safe
                };
                st.store.put_prefs_safe(doc, Some(rev)).await.map(|_| ())
            }
            found => {
                let safe_id = format!("prefsSafe-{}", uuid::Uuid::new_v4());
                let key_doc = match found {
                    Some((k, None)) => GpiiKeyDoc {
                        prefs_safe_id: Some(safe_id.clone()),
                        prefs_set_id: Some(DEFAULT_CONTEXT.to_owned()),
                        timestamp_updated: Some(now.clone()),
                        ..k
                    },
                    _ => GpiiKeyDoc::new(key, &safe_id, &now),
                };
                let safe = PrefsSafeDoc::new(
                    safe_id,
                    PrefsSafeType::User,
                    None,
                    within_stored_limit(preferences::merged_preferences(None, body))?,
                    now,
                );
                st.store.create_prefs_for_key(key_doc, safe).await
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict { .. } | StoreError::Exists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable {
        message: "The preferences changed repeatedly while saving; try again".to_owned(),
        retry_after: 1,
    })
}

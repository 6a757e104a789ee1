//! [`CloudClient`]: the HTTP shell over `reqwest` (docs/design.md §6.1), run under the policy of
//! §4.
//!
//! Every answer is read whole, under a size cap, into memory before anything parses it, so a
//! cut-off body is told apart from a malformed one (reqwest reports both alike otherwise). Each
//! attempt is bounded as a whole — connect, headers and body — so a server that trickles bytes
//! cannot keep it alive. The key is only ever in the request path; logs carry its fingerprint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use attune_model::answer::{AnswerError, SettingsAnswer};
use attune_model::device::DeviceReport;
use attune_model::key::Key;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RETRY_AFTER};
use reqwest::Url;
use serde::Deserialize;
use thiserror::Error;
use tokio::time::Instant;

use super::classify::{
    classify_answer, classify_transport, ApiVersion, Endpoint, FailureKind, API_HEADER, CLIENT_API,
};
use super::policy::{Attempt, CallError, GiveUp, Health, RetryPolicy};
use crate::config::{CloudConfig, ResilienceConfig};

/// `User-Agent` of every request (docs/design.md §6.3).
pub const USER_AGENT: &str = concat!("attune/", env!("CARGO_PKG_VERSION"));

/// A token is renewed when less than this remains of its life (docs/design.md §6.2).
pub const RENEW_BEFORE: Duration = Duration::from_secs(10);

/// The longest life a token is believed to have. `expiresIn` comes from the server (GPII grants
/// an hour); a longer one is renewed after a day anyway, and an absurd one (`u64::MAX` seconds)
/// must not overflow the clock it is added to.
pub const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

/// The password sent with the key: GPII's password grant wants a non-empty one and ignores it.
const GRANT_PASSWORD: &str = "attune";

/// An access token for one key-in. `Debug` hides the token itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    access_token: String,
    /// Life the server granted (`expiresIn`), from when the answer arrived, at most
    /// [`MAX_TOKEN_LIFE`].
    pub expires_in: Duration,
    /// When the answer arrived, on the monotonic clock: wall-clock changes cannot expire it.
    pub obtained_at: Instant,
}

impl Token {
    /// Builds a token, e.g. from the session file; a life longer than [`MAX_TOKEN_LIFE`] is cut
    /// to it.
    pub fn new(access_token: String, expires_in: Duration, obtained_at: Instant) -> Token {
        Token {
            access_token,
            expires_in: expires_in.min(MAX_TOKEN_LIFE),
            obtained_at,
        }
    }

    /// The bearer token. Never log this.
    pub fn expose(&self) -> &str {
        &self.access_token
    }

    /// When it expires; a time the clock cannot hold counts as already expired (renewed, not
    /// trusted).
    pub fn expires_at(&self) -> Instant {
        self.obtained_at
            .checked_add(self.expires_in)
            .unwrap_or(self.obtained_at)
    }

    /// Whether to get a fresh one before using it at `now` (less than [`RENEW_BEFORE`] left).
    pub fn needs_renewal(&self, now: Instant) -> bool {
        self.expires_at().saturating_duration_since(now) < RENEW_BEFORE
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<hidden>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// What `GET /version` says (Attune's extension; a legacy GPII cloud has none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerVersion {
    /// From `X-Attune-Api`; `None` for a legacy GPII cloud (accepted only with `legacy_gpii`).
    pub api: Option<ApiVersion>,
    pub server: Option<String>,
    pub schema_version: Option<String>,
}

/// Settings of the client that are not (yet) in the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Honour `HTTPS_PROXY` and friends. Off by default: a dead proxy in the environment
    /// must not take the cloud away (docs/test-matrix.md N22), and sites that need one can turn it
    /// on.
    pub use_system_proxy: bool,
    /// Fixes the backoff jitter (tests).
    pub jitter_seed: Option<u64>,
    /// Where each call is recorded for Diagnostics (none: not recorded).
    pub history: Option<super::history::ContactLog>,
}

/// The client cannot be built from this configuration.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cloud.urls: no cloud URL is configured")]
    NoUrl,
    #[error("cloud.urls: {url:?} is not a usable http(s) URL: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("cloud.{field}: the site credential is not configured")]
    MissingCredential { field: &'static str },
    #[error("cannot set up HTTP: {detail}")]
    Http { detail: String },
    #[error(
        "cloud.ca_file: {path}: {detail} (expected a PEM file of one or more CA certificates)"
    )]
    CaFile { path: String, detail: String },
}

/// The cloud client: one per process, shared by every call, since the breaker, the retry
/// budget and the URL rotation are about the cloud, not about one call.
pub struct CloudClient {
    http: reqwest::Client,
    urls: Vec<Url>,
    /// Index of the URL the next attempt goes to.
    current: AtomicUsize,
    client_id: String,
    client_secret: String,
    legacy_gpii: bool,
    max_body: usize,
    policy: RetryPolicy,
    health: Mutex<Health>,
    /// A version mismatch is not retried until restart (docs/design.md §3).
    mismatch: Mutex<Option<FailureKind>>,
    history: Option<super::history::ContactLog>,
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient")
            .field(
                "urls",
                &self.urls.iter().map(Url::as_str).collect::<Vec<_>>(),
            )
            .field("client_id", &self.client_id)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(rename = "expiresIn", alias = "expires_in")]
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct VersionAnswer {
    #[serde(default)]
    server: Option<String>,
    #[serde(rename = "schemaVersion", default)]
    schema_version: Option<serde_json::Value>,
}

/// A whole answer, read under the cap.
struct Answer {
    status: u16,
    api: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    /// The answer's status, API version and body judged for `endpoint` ([`classify_answer`]).
    fn classify(&self, endpoint: Endpoint, legacy: bool) -> Result<(), FailureKind> {
        classify_answer(
            endpoint,
            self.status,
            self.api.as_deref(),
            self.retry_after.as_deref(),
            &self.body,
            legacy,
            SystemTime::now(),
        )
    }
}

impl CloudClient {
    /// A client for the configured cloud, with the default options.
    pub fn new(
        cloud: &CloudConfig,
        resilience: &ResilienceConfig,
    ) -> Result<CloudClient, ClientError> {
        CloudClient::with_options(cloud, resilience, ClientOptions::default())
    }

    pub fn with_options(
        cloud: &CloudConfig,
        resilience: &ResilienceConfig,
        options: ClientOptions,
    ) -> Result<CloudClient, ClientError> {
        if cloud.urls.is_empty() {
            return Err(ClientError::NoUrl);
        }
        let urls = cloud
            .urls
            .iter()
            .map(|u| parse_base(u))
            .collect::<Result<Vec<_>, _>>()?;
        let client_id = cloud
            .client_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(ClientError::MissingCredential { field: "client_id" })?;
        let client_secret = cloud
            .client_secret
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or(ClientError::MissingCredential {
                field: "client_secret",
            })?;

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let api =
            HeaderValue::from_str(&CLIENT_API.to_string()).map_err(|e| ClientError::Http {
                detail: e.to_string(),
            })?;
        headers.insert(API_HEADER, api);
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .connect_timeout(resilience.connect_timeout)
            // GPII's answers never redirect; a redirect would carry the key somewhere else.
            .redirect(reqwest::redirect::Policy::none());
        if !(options.use_system_proxy || cloud.use_system_proxy) {
            builder = builder.no_proxy();
        }
        if let Some(path) = &cloud.ca_file {
            let err = |detail: String| ClientError::CaFile {
                path: path.display().to_string(),
                detail,
            };
            let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| err(e.without_url().to_string()))?;
            if certs.is_empty() {
                return Err(err("no certificate in the file".to_owned()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| ClientError::Http {
            detail: e.without_url().to_string(),
        })?;
        let mut policy = RetryPolicy::from_config(resilience);
        policy.jitter_seed = options.jitter_seed;
        Ok(CloudClient {
            http,
            urls,
            current: AtomicUsize::new(0),
            client_id,
            client_secret,
            legacy_gpii: cloud.legacy_gpii,
            max_body: resilience.max_body_bytes,
            policy,
            health: Mutex::new(Health::from_config(resilience)),
            mismatch: Mutex::new(None),
            history: options.history,
        })
    }

    /// The policy the client runs under.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The key-in deadline for a cloud step starting now: pass the same one to the token and
    /// settings calls of one key-in, so together they fit in it.
    pub fn deadline_from_now(&self) -> Instant {
        self.policy.deadline_from(Instant::now())
    }

    /// Whether a call now would be turned away without touching the network (breaker open, a
    /// server's Retry-After not yet over, or a version mismatch seen).
    pub fn is_offline(&self) -> bool {
        if lock(&self.mismatch).is_some() {
            return true;
        }
        let now = Instant::now();
        let h = lock(&self.health);
        h.breaker.is_open(now) || h.not_before.is_some_and(|t| now < t)
    }

    /// `POST /access_token`: OAuth2 password grant with the site credential and the key.
    pub async fn token(&self, key: &Key, deadline: Instant) -> Result<Token, CallError> {
        let form = [
            ("grant_type", "password"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("username", key.expose()),
            ("password", GRANT_PASSWORD),
        ];
        self.call(
            key,
            Endpoint::Token,
            "token",
            deadline,
            |base, _| Ok(self.http.post(join(base, &["access_token"])?).form(&form)),
            |a| parse_token_answer(&a.body, Instant::now()),
        )
        .await
    }

    /// `GET /{key}/settings/{device}`: the matchmaker's answer for this device. The device
    /// report goes in the path as URL-encoded JSON, as GPII expects.
    pub async fn get_settings(
        &self,
        token: &Token,
        key: &Key,
        device: &DeviceReport,
        deadline: Instant,
    ) -> Result<serde_json::Value, CallError> {
        let device_json = serde_json::to_string(device).map_err(|e| CallError {
            kind: FailureKind::Malformed {
                detail: format!("cannot encode the device report: {e}"),
            },
            attempts: 0,
            gave_up: GiveUp::NotRetryable,
        })?;
        self.call(
            key,
            Endpoint::Settings,
            "settings",
            deadline,
            |base, _| {
                let url = join(base, &[key.expose(), "settings", &device_json])?;
                Ok(self.http.get(url).bearer_auth(token.expose()))
            },
            |a| parse_settings_answer(&a.body).map(SettingsAnswer::into_value),
        )
        .await
    }

    /// `PUT /{key}/settings`: merge a preference set into the key's preferences.
    pub async fn put_settings(
        &self,
        token: &Token,
        key: &Key,
        prefs: &serde_json::Value,
        deadline: Instant,
    ) -> Result<(), CallError> {
        self.call(
            key,
            Endpoint::Settings,
            "put",
            deadline,
            |base, _| {
                let url = join(base, &[key.expose(), "settings"])?;
                Ok(self.http.put(url).bearer_auth(token.expose()).json(prefs))
            },
            |_| Ok(()),
        )
        .await
    }

    /// `DELETE /{key}` (Attune's extension, "forget me"; a token granted for the key): the cloud
    /// forgets the key at once and deletes its preferences after its grace period, whose length
    /// in days its answer may give (`{"deleted_within_days": N}`; 204 without a body says
    /// nothing of it).
    pub async fn forget(
        &self,
        token: &Token,
        key: &Key,
        deadline: Instant,
    ) -> Result<Option<u32>, CallError> {
        self.call(
            key,
            Endpoint::Settings,
            "forget",
            deadline,
            |base, _| {
                let url = join(base, &[key.expose()])?;
                Ok(self.http.delete(url).bearer_auth(token.expose()))
            },
            |a| {
                Ok(serde_json::from_slice::<serde_json::Value>(&a.body)
                    .ok()
                    .and_then(|v| v.get("deleted_within_days").and_then(|d| d.as_u64()))
                    .and_then(|d| u32::try_from(d).ok()))
            },
        )
        .await
    }

    /// `POST /access_token/revoke` (Attune's extension; `Authorization: Bearer`, 204): ends a
    /// token at key-out instead of leaving it good for the rest of its life. Best effort: one
    /// attempt to the current URL, bounded as a whole by `timeout`, outside the retry policy
    /// and the breaker, never retried. `Ok` carries the status (204: revoked; 404 or 405: a
    /// GPII cloud without the endpoint).
    pub async fn revoke(&self, token: &Token, timeout: Duration) -> Result<u16, FailureKind> {
        let base = &self.urls[self.current.load(Ordering::Relaxed) % self.urls.len()];
        let request = self
            .http
            .post(join(base, &["access_token", "revoke"])?)
            .bearer_auth(token.expose());
        let answer = tokio::time::timeout(timeout, self.exchange(request, timeout))
            .await
            .map_err(|_| FailureKind::TooSlow)??;
        Ok(answer.status)
    }

    /// `GET /version` (docs/design.md §6.3). A legacy GPII cloud answers 404 without our header:
    /// with `legacy_gpii` that is a [`ServerVersion`] without an API version; without it, a
    /// mismatch.
    pub async fn version(&self, deadline: Instant) -> Result<ServerVersion, CallError> {
        let legacy = self.legacy_gpii;
        self.call_raw(
            None,
            Endpoint::Version,
            "version",
            deadline,
            |base, _| Ok(self.http.get(join(base, &["version"])?)),
            move |a| {
                if a.api.is_none() && legacy {
                    return Ok(ServerVersion::default());
                }
                a.classify(Endpoint::Version, legacy)?;
                let v: VersionAnswer = parse_json(&a.body)?;
                Ok(ServerVersion {
                    api: a.api.as_deref().and_then(ApiVersion::parse),
                    server: v.server,
                    schema_version: v.schema_version.map(|s| match s {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    }),
                })
            },
        )
        .await
    }

    /// One call: the status is classified, then `parse` reads a successful answer.
    async fn call<T, B, P>(
        &self,
        key: &Key,
        endpoint: Endpoint,
        operation: &'static str,
        deadline: Instant,
        build: B,
        parse: P,
    ) -> Result<T, CallError>
    where
        B: Fn(&Url, Attempt) -> Result<reqwest::RequestBuilder, FailureKind> + Sync,
        P: Fn(Answer) -> Result<T, FailureKind> + Sync,
    {
        let legacy = self.legacy_gpii;
        self.call_raw(Some(key), endpoint, operation, deadline, build, move |a| {
            a.classify(endpoint, legacy)?;
            parse(a)
        })
        .await
    }

    /// One call under the policy, with URL rotation and the version latch; `judge` turns a
    /// whole answer into the result.
    async fn call_raw<T, B, J>(
        &self,
        key: Option<&Key>,
        endpoint: Endpoint,
        operation: &'static str,
        deadline: Instant,
        build: B,
        judge: J,
    ) -> Result<T, CallError>
    where
        B: Fn(&Url, Attempt) -> Result<reqwest::RequestBuilder, FailureKind> + Sync,
        J: Fn(Answer) -> Result<T, FailureKind> + Sync,
    {
        if let Some(kind) = lock(&self.mismatch).clone() {
            return Err(CallError {
                kind,
                attempts: 0,
                gave_up: GiveUp::NotRetryable,
            });
        }
        let fingerprint = key.map(Key::fingerprint);
        let started = std::time::Instant::now();
        let attempts = AtomicUsize::new(0);
        let last_url = AtomicUsize::new(self.current.load(Ordering::Relaxed) % self.urls.len());
        let result = self
            .policy
            .run(&self.health, deadline, &rand::random::<f64>, |attempt| {
                let idx = self.current.load(Ordering::Relaxed) % self.urls.len();
                attempts.fetch_add(1, Ordering::Relaxed);
                last_url.store(idx, Ordering::Relaxed);
                let base = &self.urls[idx];
                let request = build(base, attempt);
                let judge = &judge;
                let fingerprint = fingerprint.as_deref();
                async move {
                    let out = match request {
                        Ok(r) => self.exchange(r, attempt.timeout).await.and_then(judge),
                        Err(e) => Err(e),
                    };
                    match &out {
                        Ok(_) => tracing::debug!(
                            key = fingerprint,
                            ?endpoint,
                            cloud = base.as_str(),
                            attempt = attempt.number,
                            "cloud call succeeded"
                        ),
                        Err(kind) => {
                            self.after_failed_attempt(idx, endpoint, attempt, fingerprint, kind)
                        }
                    }
                    out
                }
            })
            .await;
        if let Err(e) = &result {
            if matches!(e.kind, FailureKind::VersionMismatch { .. }) {
                *lock(&self.mismatch) = Some(e.kind.clone());
            }
        }
        let outcome = result.as_ref().map(|_| ()).map_err(|e| e.kind.code());
        let tries = attempts.load(Ordering::Relaxed);
        self.record_contact(
            operation,
            last_url.load(Ordering::Relaxed),
            tries,
            started,
            outcome,
        );
        result
    }

    /// One line of the contact history (`cloud-contacts.jsonl`), if this client keeps one.
    fn record_contact(
        &self,
        operation: &str,
        url_index: usize,
        attempts: usize,
        started: std::time::Instant,
        outcome: Result<(), &str>,
    ) {
        let Some(history) = &self.history else {
            return;
        };
        let url = &self.urls[url_index % self.urls.len()];
        history.append(&super::history::ContactRecord {
            at_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            operation: operation.to_owned(),
            host: match (url.host_str(), url.port_or_known_default()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            },
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: outcome.err().unwrap_or("ok").to_owned(),
        });
    }

    /// After a failed attempt at `urls[idx]`: logged, and the next URL made current if the
    /// failure says this one is away (another attempt may have moved on already).
    fn after_failed_attempt(
        &self,
        idx: usize,
        endpoint: Endpoint,
        attempt: Attempt,
        fingerprint: Option<&str>,
        kind: &FailureKind,
    ) {
        tracing::info!(
            key = fingerprint,
            ?endpoint,
            cloud = self.urls[idx].as_str(),
            attempt = attempt.number,
            failure = kind.code(),
            "cloud attempt failed: {kind}"
        );
        if kind.moves_to_next_url() && self.urls.len() > 1 {
            let next = (idx + 1) % self.urls.len();
            let _ = self
                .current
                .compare_exchange(idx, next, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Sends one request and reads its whole answer under the cap. The policy bounds the whole
    /// exchange by `timeout` too; reqwest's own timeout is the same bound, as a second line.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Answer, FailureKind> {
        let mut resp = request
            .timeout(timeout)
            .send()
            .await
            .map_err(classify_transport)?;
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let api = header(API_HEADER);
        let retry_after = header(RETRY_AFTER.as_str());
        let status = resp.status().as_u16();
        if let Some(n) = resp.content_length() {
            if n > self.max_body as u64 {
                return Err(FailureKind::TooLarge {
                    limit: self.max_body,
                    declared: Some(n),
                });
            }
        }
        let capacity = resp
            .content_length()
            .map_or(8 * 1024, |n| n as usize)
            .min(self.max_body);
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = resp.chunk().await.map_err(classify_transport)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(FailureKind::TooLarge {
                    limit: self.max_body,
                    declared: None,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            api,
            retry_after,
            body,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn parse_base(raw: &str) -> Result<Url, ClientError> {
    let bad = |detail: &str| ClientError::BadUrl {
        url: raw.to_owned(),
        detail: detail.to_owned(),
    };
    let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or a fragment"));
    }
    Ok(url)
}

/// `base` + path segments, each percent-encoded as one segment (a key or a device report can
/// hold characters that would otherwise end the path).
fn join(base: &Url, segments: &[&str]) -> Result<Url, FailureKind> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| FailureKind::Refused {
            status: 0,
            detail: "the cloud URL cannot take a path".to_owned(),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Reads a token answer (`{"access_token","expiresIn"}`) that arrived at `now`. Public so the
/// fuzz target `token_answer` feeds it exactly what the cloud sent.
pub fn parse_token_answer(body: &[u8], now: Instant) -> Result<Token, FailureKind> {
    let t: TokenAnswer = parse_json(body)?;
    if t.access_token.is_empty() {
        return Err(FailureKind::Malformed {
            detail: "the token answer has an empty access_token".to_owned(),
        });
    }
    Ok(Token::new(
        t.access_token,
        Duration::from_secs(t.expires_in),
        now,
    ))
}

/// Reads a settings answer: any JSON object, its parts judged later by the model's trust
/// boundary (`instructions_from_cloud_answer`), which names what is wrong in a hostile one.
pub fn parse_settings_answer(body: &[u8]) -> Result<SettingsAnswer, FailureKind> {
    SettingsAnswer::from_slice(body).map_err(|e| FailureKind::Malformed {
        detail: match e {
            AnswerError::Json(e) => format!("not the expected JSON: {e}"),
            other => other.to_string(),
        },
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FailureKind> {
    serde_json::from_slice(body).map_err(|e| FailureKind::Malformed {
        detail: format!("not the expected JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Profile};

    fn cloud(urls: &[&str]) -> CloudConfig {
        let mut c = Config::defaults(Profile::Development).cloud;
        c.urls = urls.iter().map(|s| (*s).to_owned()).collect();
        c
    }

    #[test]
    fn paths_encode_key_and_device_as_single_segments() {
        let base = parse_base("https://prefs.example.org/gpii/").unwrap();
        let device = r#"{"OS":{"id":"linux"},"solutions":[{"id":"org.gnome.desktop.a11y"}]}"#;
        let u = join(&base, &["k?#/%", "settings", device]).unwrap();
        let path = u.path();
        assert!(path.starts_with("/gpii/k%3F%23%2F%25/settings/"), "{path}");
        assert_eq!(u.query(), None);
        assert_eq!(u.fragment(), None);
        let last = u.path_segments().unwrap().next_back().unwrap();
        assert!(
            !last.contains('"') && !last.contains('{') && !last.contains('/'),
            "{last}"
        );
        let no_slash = parse_base("http://127.0.0.1:8084").unwrap();
        assert_eq!(
            join(&no_slash, &["version"]).unwrap().as_str(),
            "http://127.0.0.1:8084/version"
        );
    }

    #[test]
    fn bad_configuration_is_named() {
        let r = ResilienceConfig::default();
        let cases: Vec<(CloudConfig, &str)> = vec![
            (cloud(&[]), "no cloud URL"),
            (cloud(&["ftp://x"]), "http or https"),
            (cloud(&["https://x/?k=1"]), "query"),
            (cloud(&["not a url"]), "not a usable"),
            (
                CloudConfig {
                    client_secret: None,
                    ..cloud(&["https://x"])
                },
                "client_secret",
            ),
        ];
        for (c, want) in cases {
            let e = CloudClient::new(&c, &r).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should mention {want}");
        }
        assert!(CloudClient::new(&cloud(&["https://a", "http://b:1/x"]), &r).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_renew_with_ten_seconds_left() {
        let t0 = Instant::now();
        let t = Token::new("secret-token".to_owned(), Duration::from_secs(3600), t0);
        assert!(!format!("{t:?}").contains("secret-token"));
        let cases = [
            (0, false),
            (3589, false),
            (3590, false),
            (3591, true),
            (9999, true),
        ];
        for (after, want) in cases {
            assert_eq!(
                t.needs_renewal(t0 + Duration::from_secs(after)),
                want,
                "after {after} s"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_absurd_token_life_is_cut_to_a_day_without_panicking() {
        // Issue 12 item 5: `expiresIn: 18446744073709551615` overflowed the clock.
        let t0 = Instant::now();
        let t = Token::new("tok".to_owned(), Duration::from_secs(u64::MAX), t0);
        assert_eq!(t.expires_in, MAX_TOKEN_LIFE);
        assert_eq!(t.expires_at(), t0 + MAX_TOKEN_LIFE);
        assert!(!t.needs_renewal(t0));
        assert!(t.needs_renewal(t0 + MAX_TOKEN_LIFE));
    }

    #[test]
    fn a_settings_answer_is_any_object_and_kept_whole() {
        let text = r#"{"gpiiKey":"k","preferences":1,"extra":{"x":null}}"#;
        let v = parse_settings_answer(text.as_bytes()).unwrap().into_value();
        assert_eq!(v, serde_json::from_str::<serde_json::Value>(text).unwrap());
        for (body, want) in [
            (&b"[1,2]"[..], "the settings answer is not a JSON object"),
            (b"{", "not the expected JSON: EOF while parsing an object"),
        ] {
            match parse_settings_answer(body) {
                Err(FailureKind::Malformed { detail }) => {
                    assert!(detail.starts_with(want), "{detail}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn client_futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let c = CloudClient::new(
            &cloud(&["http://127.0.0.1:9"]),
            &ResilienceConfig::default(),
        )
        .unwrap();
        let k = Key::parse("k").unwrap();
        let dl = Instant::now();
        send(&c.token(&k, dl));
        send(&c.version(dl));
    }
}

//! The cluster store: GPII's own database layout in CouchDB, over its HTTP API.
//!
//! Why CouchDB: it is what GPII's deployment ran, so a site can point `attune-cloud` at its
//! existing GPII database and serve it unchanged, and a 3-node CouchDB cluster lets several
//! stateless `attune-cloud` replicas share one state (`docs/operations.md`).
//!
//! **Documents** are GPII's (schemaVersion 0.2): `gpiiKey` (`_id` = the key), `prefsSafe`,
//! `clientCredential`, `gpiiAppInstallationClient`, `gpiiAppInstallationAuthorization`. Fields
//! this store does not know are kept when it rewrites a document. Two additions:
//! `clientCredential.oauth2ClientSecretHash` and
//! `gpiiAppInstallationAuthorization.accessTokenHash` — attune never writes a secret or a token
//! in clear. GPII's own documents hold them in clear (`oauth2ClientSecret`, `accessToken`); both
//! forms are read, so a GPII database is served as it is:
//! - a plain `oauth2ClientSecret` is hashed when read; attune rewrites a credential only when an
//!   admin command changes it, and then stores the hash alone;
//! - a token GPII issued (plain `accessToken`, found through GPII's own `findInfoByAccessToken`
//!   view) is honoured until it expires, so people keyed in when a site switches from GPII's
//!   cloud to attune-cloud keep working; `tokens purge-expired` deletes them once expired, so
//!   clear tokens leave the database within a token lifetime (one hour) of the switch.
//!
//! **Views**: GPII's design document `_design/views` is created when missing (our own map
//! functions with GPII's view names, keys and values, so GPII's cloud could still run on a
//! database attune created); attune queries GPII's `findInfoByAccessToken` for GPII's tokens.
//! Its own lookups that GPII has no view for live in `_design/attune`, which carries a version
//! and is replaced when this build's differs. The two reads of every `GET settings` go by id
//! instead (the key is its document's id; an authorization is named after its token hash,
//! [`super::authorization_id`]): a read by id is CouchDB's cheapest and never waits for a view
//! index to catch up with the token writes of every key-in.
//!
//! **Revisions**: a preferences safe's `rev` is the generation of CouchDB's `_rev` (`3-…` → 3),
//! which grows by one per write as SQLite's counter does. An update sends the `_rev` it read, so
//! CouchDB itself refuses a lost update (409); the API then re-reads and re-merges.
//!
//! **Failures**: every request has short timeouts. A transport error, timeout or 5xx marks the
//! database down for [`CouchOptions::down_for`]; meanwhile calls fail at once with
//! `StoreError::Unavailable` (the API answers 503 with Retry-After, `/ready` fails), and the
//! first call after that window tries CouchDB again, so the server recovers by itself.
//!
//! **The forget list and the audit** are attune's own documents in the same database, with
//! types GPII's views ignore ([`document::ForgottenKeyDocument`], `attune-forgotten-<key hash>`;
//! [`document::AuditEntryDocument`], `attune-audit-<time>-<seq>-<random>`), read by `_id` range.
//! Forgetting writes the row first, then marks the key revoked (GPII's own `revoked` field, so
//! GPII's cloud stops honouring it too) and revokes every token of it: a crash in between
//! leaves a row whose forget is finished by forgetting again, by a restore, or by the purge.
//! Purging deletes first and marks the row purged last, sending the row's `_rev`: of two
//! replicas purging at once both delete (idempotent) but only one marks the row, so a purge is
//! reported and audited once. Keys are not stored by hash: a purge or a restore finds them by
//! reading every key's id once (`_design/attuneForget`'s `gpiiKeyIds`) and hashing here. Those
//! views are in a design document of their own so that adding them left `_design/attune`, which
//! every token grant queries, as it was: CouchDB rebuilds a design document's whole index when it
//! changes, and on a large database the grants would have failed until that was done.
//!
//! No transaction spans two documents: `create_prefs_for_key` writes the safe first and the
//! key second (with the key's `_rev`), so a crash in between leaves an unreferenced safe,
//! never a key pointing nowhere, and two racing creators cannot both win.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::document::{
    self, rev_generation, AuditEntryDocument, AuthorizationDocument, CredentialDocument,
    ForgottenKeyDocument, KeyDocument, SafeDocument, AUDIT_PREFIX, FORGOTTEN_PREFIX,
};
use super::{
    key_hash, AuditEntry, AuthorizationDoc, ClientCredentialDoc, ForgottenKey, GpiiKeyDoc, Grant,
    OtherDoc, PrefsSafeDoc, Store, StoreError, StoreFuture,
};
use crate::uri::encode_component as encode;

/// The database GPII's deployment uses, taken when the URL names none.
pub const DEFAULT_DATABASE: &str = "gpii";

/// Version of `_design/attune`; bump when its views change.
const ATTUNE_DESIGN_VERSION: u64 = 1;

/// Version of `_design/attuneForget`; bump when its views change.
const FORGET_DESIGN_VERSION: u64 = 1;

/// `revokedReason` of a forgotten key, as the SQLite store writes it.
const FORGOTTEN_REASON: &str = "forgotten";

/// Timeouts and the failure window. Defaults suit a CouchDB on the same network.
#[derive(Debug, Clone)]
pub struct CouchOptions {
    pub connect_timeout: Duration,
    /// Whole request, answer included.
    pub request_timeout: Duration,
    /// How long after a failure calls fail at once before CouchDB is tried again.
    pub down_for: Duration,
    /// Documents per `_all_docs` request (backups, restores' checks): each page is one short
    /// request under `request_timeout`, so a large database is read in many of them instead of
    /// one answer that could never arrive in time.
    pub page_size: usize,
}

impl Default for CouchOptions {
    fn default() -> Self {
        CouchOptions {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(3),
            down_for: Duration::from_secs(1),
            page_size: 1000,
        }
    }
}

/// Why a `couchdb:` URL cannot be used, or a backup or restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CouchError {
    #[error("--store couchdb:{url}: {detail}")]
    Url { url: String, detail: String },
    #[error("{path}: {action} failed: {detail}")]
    File {
        path: std::path::PathBuf,
        action: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a CouchDB store lives: server URL without credentials, database, credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct CouchUrl {
    /// `http(s)://host:port`, without userinfo and without a trailing slash.
    pub server: String,
    pub database: String,
    pub user: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for CouchUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "CouchUrl({})", self)
    }
}

impl std::fmt::Display for CouchUrl {
    /// The URL as it may be logged: no credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.server, self.database)
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or("a `%` not followed by two hex digits")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a bad `%` escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials that are not UTF-8".to_owned())
}

impl CouchUrl {
    /// Parses `http(s)://[user[:password]@]host[:port][/database]`. Credentials missing from
    /// the URL are taken from `ATTUNE_COUCHDB_USER` / `ATTUNE_COUCHDB_PASSWORD`.
    pub fn parse(url: &str) -> Result<Self, CouchError> {
        Self::parse_with_env(url, |name| std::env::var(name).ok())
    }

    fn parse_with_env(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, CouchError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| CouchError::Url {
            url: redact(url),
            detail: "expected http://host:port[/database]".to_owned(),
        })?;
        let bad = |detail: &str| CouchError::Url {
            url: redact(url),
            detail: detail.to_owned(),
        };
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let (mut user, mut password) = (None, None);
        if let Some(u) = userinfo {
            let (name, pass) = u.split_once(':').unwrap_or((u, ""));
            user = Some(percent_decode(name).map_err(|e| bad(&e))?);
            if !pass.is_empty() {
                password = Some(percent_decode(pass).map_err(|e| bad(&e))?);
            }
        }
        if user.is_none() {
            user = env("ATTUNE_COUCHDB_USER").filter(|s| !s.is_empty());
        }
        if password.is_none() {
            password = env("ATTUNE_COUCHDB_PASSWORD").filter(|s| !s.is_empty());
        }
        let database = path.trim_end_matches('/');
        let database = if database.is_empty() {
            DEFAULT_DATABASE.to_owned()
        } else {
            percent_decode(database).map_err(|e| bad(&e))?
        };
        // CouchDB's own rule for database names.
        let valid = database.starts_with(|c: char| c.is_ascii_lowercase())
            && database
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-/".contains(c));
        if !valid {
            return Err(bad(
                "the database name must start with a lowercase letter and use a-z, 0-9, _$()+-/",
            ));
        }
        Ok(CouchUrl {
            server: format!("{scheme}://{host}"),
            database,
            user,
            password,
        })
    }
}

/// The URL without its userinfo, for error messages.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}/{path}")
        }
        None => "(unparsable URL)".to_owned(),
    }
}

/// Whether CouchDB answered lately: a small shared state, so that while it is down every
/// request fails in microseconds instead of each waiting for its own timeout.
#[derive(Debug)]
struct Health {
    epoch: Instant,
    /// Milliseconds since `epoch` until which calls fail at once; 0 when up.
    down_until_ms: AtomicU64,
    last_error: std::sync::Mutex<String>,
    down_for: Duration,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn new(down_for: Duration) -> Self {
        Health {
            epoch: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(String::new()),
            down_for,
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        self.check_at(self.now_ms())
    }

    fn failed(&self, why: &str) -> StoreError {
        self.failed_at(self.now_ms(), why)
    }

    /// `Err` while a recent failure's window lasts; the first call after it goes through.
    fn check_at(&self, now_ms: u64) -> Result<(), StoreError> {
        if now_ms < self.down_until_ms.load(Ordering::Acquire) {
            let last = self
                .last_error
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default();
            return Err(StoreError::Unavailable(format!(
                "CouchDB failed moments ago ({last}); not trying again yet"
            )));
        }
        Ok(())
    }

    fn failed_at(&self, now_ms: u64, why: &str) -> StoreError {
        let until = now_ms + self.down_for.as_millis() as u64;
        let was = self.down_until_ms.swap(until.max(1), Ordering::AcqRel);
        if was == 0 {
            tracing::warn!(error = why, "CouchDB is down");
        }
        if let Ok(mut l) = self.last_error.lock() {
            why.clone_into(&mut l);
        }
        StoreError::Unavailable(why.to_owned())
    }

    fn ok(&self) {
        if self.down_until_ms.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("CouchDB answers again");
        }
    }
}

struct Inner {
    http: reqwest::Client,
    url: CouchUrl,
    /// `server/encoded database`.
    db: String,
    health: Health,
    /// Documents per `_all_docs` page.
    page_size: usize,
    /// The database and design documents are known to exist.
    set_up: AtomicBool,
    /// Orders the audit entries this process writes within one millisecond.
    audit_seq: AtomicU64,
    setup_lock: tokio::sync::Mutex<()>,
}

/// The CouchDB store. Cheap to clone.
#[derive(Clone)]
pub struct CouchStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CouchStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CouchStore")
            .field("url", &self.inner.url.to_string())
            .finish()
    }
}

/// A CouchDB answer: status and JSON body.
type Answer = (StatusCode, Value);

fn str_of(doc: &Value, f: &str) -> Option<String> {
    doc.get(f).and_then(Value::as_str).map(str::to_owned)
}

fn corrupt(what: &'static str, id: &str, detail: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        id: id.to_owned(),
        detail: detail.to_owned(),
    }
}

/// Reads a stored document as `T`, or says which one is corrupt.
fn typed<T: serde::de::DeserializeOwned>(what: &'static str, doc: &Value) -> Result<T, StoreError> {
    document::read(doc).map_err(|e| corrupt(what, &str_of(doc, "_id").unwrap_or_default(), &e))
}

/// The stored document `doc` (if any) as `T`, to write over: a document of another type is
/// replaced, not merged.
fn base<T: serde::de::DeserializeOwned>(
    what: &'static str,
    doc: Option<Value>,
    doc_type: &str,
) -> Result<Option<T>, StoreError> {
    match doc {
        Some(d) if document::type_of(&d) == Some(doc_type) => typed(what, &d).map(Some),
        _ => Ok(None),
    }
}

fn key_from(doc: &Value) -> Result<GpiiKeyDoc, StoreError> {
    typed::<KeyDocument>("gpiiKey", doc).map(|k| k.to_store())
}

fn safe_from(doc: &Value) -> Result<PrefsSafeDoc, StoreError> {
    let s: SafeDocument = typed("prefsSafe", doc)?;
    let bad = |detail: &str| corrupt("prefsSafe", &s.id, detail);
    if s.rev.as_deref().and_then(rev_generation).is_none() {
        return Err(bad("no usable `_rev`"));
    }
    s.to_store().map_err(|e| bad(&e))
}

fn credential_from(doc: &Value) -> Result<ClientCredentialDoc, StoreError> {
    let c: CredentialDocument = typed("clientCredential", doc)?;
    c.to_store()
        .map_err(|e| corrupt("clientCredential", &c.id, &e))
}

/// The views attune needs that GPII has none for. Map functions in CouchDB's JavaScript.
fn attune_design() -> Value {
    json!({
        "_id": "_design/attune",
        "attuneVersion": ATTUNE_DESIGN_VERSION,
        "language": "javascript",
        "views": {
            // Value links the credential, so one query gives grant and credential.
            "authorizationsByTokenHash": {"map":
                "function (doc) { if (doc.type === 'gpiiAppInstallationAuthorization' && typeof doc.accessTokenHash === 'string') { emit(doc.accessTokenHash, {authorization: doc, _id: doc.clientCredentialId}); } }"},
            // Both attune's and GPII's authorizations, for purging.
            "authorizationsByExpiry": {"map":
                "function (doc) { if (doc.type === 'gpiiAppInstallationAuthorization' && typeof doc.timestampExpires === 'string') { var t = Date.parse(doc.timestampExpires); if (isFinite(t)) { emit(t, null); } } }"},
            // Revoked ones too (GPII's view hides them), to keep oauth2ClientId unique.
            "credentialsByOauth2ClientId": {"map":
                "function (doc) { if (doc.type === 'clientCredential') { emit(doc.oauth2ClientId, null); } }"}
        }
    })
}

/// The views of forgetting a key, used only by a forget, a purge or a restore.
fn forget_design() -> Value {
    json!({
        "_id": "_design/attuneForget",
        "attuneVersion": FORGET_DESIGN_VERSION,
        "language": "javascript",
        "views": {
            // Every token of a key, attune's and GPII's, revoked or not: forgetting and purging.
            "authorizationsByGpiiKey": {"map":
                "function (doc) { if (doc.type === 'gpiiAppInstallationAuthorization' && typeof doc.gpiiKey === 'string') { emit(doc.gpiiKey, null); } }"},
            // Whether another key still opens a safe a purge would delete.
            "gpiiKeysByPrefsSafeId": {"map":
                "function (doc) { if (doc.type === 'gpiiKey' && typeof doc.prefsSafeId === 'string') { emit(doc.prefsSafeId, null); } }"},
            // Every key's id, ids only, for finding forgotten keys by their hash.
            "gpiiKeyIds": {"map":
                "function (doc) { if (doc.type === 'gpiiKey') { emit(doc._id, null); } }"}
        }
    })
}

/// GPII's design document as GPII's data stores query it (`gpii-db-operation`, `dbViews`):
/// the same view names, keys and values, written here so that a database attune creates can
/// also be served by GPII's cloud. An existing `_design/views` is never replaced.
fn gpii_design() -> Value {
    json!({
        "_id": "_design/views",
        "language": "javascript",
        "views": {
            "findPrefsSafeByGpiiKey": {"map":
                "function (doc) { if (doc.type !== 'gpiiKey') { return; } var out = {gpiiKey: doc}; if (doc.prefsSafeId) { out._id = doc.prefsSafeId; } emit(doc._id, out); }"},
            "findClientByOauth2ClientId": {"map":
                "function (doc) { if (doc.type !== 'clientCredential' || doc.revoked !== false) { return; } var out = {clientCredential: doc}; if (doc.clientId) { out._id = doc.clientId; } emit(doc.oauth2ClientId, out); }"},
            "findInfoByAccessToken": {"map":
                "function (doc) { if (doc.type !== 'gpiiAppInstallationAuthorization' || doc.revoked !== false) { return; } var out = {authorization: doc}; if (doc.clientCredentialId) { out._id = doc.clientCredentialId; } emit(doc.accessToken, out); }"},
            "findSnapsetPrefsSafes": {"map":
                "function (doc) { if (doc.type === 'prefsSafe' && doc.prefsSafeType === 'snapset') { emit(doc._id, doc); } }"},
            "findAllGpiiKeys": {"map":
                "function (doc) { if (doc.type === 'gpiiKey') { emit(doc._id, doc); } }"},
            "findAccessTokenByExpires": {"map":
                "function (doc) { if (doc.type === 'gpiiAppInstallationAuthorization') { emit(Date.parse(doc.timestampExpires), doc); } }"},
            "findDocsBySchemaVersion": {"map":
                "function (doc) { emit(doc.schemaVersion, doc); }"}
        }
    })
}

impl CouchStore {
    /// A store for `url` with default timeouts. Nothing is sent yet: the database and its
    /// design documents are created on first use, so a server can start while CouchDB is down.
    pub fn new(url: CouchUrl) -> Result<Self, CouchError> {
        Self::with_options(url, CouchOptions::default())
    }

    pub fn with_options(url: CouchUrl, options: CouchOptions) -> Result<Self, CouchError> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CouchError::Url {
                url: url.to_string(),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        let db = format!("{}/{}", url.server, encode(&url.database));
        Ok(CouchStore {
            inner: Arc::new(Inner {
                http,
                db,
                url,
                health: Health::new(options.down_for),
                page_size: options.page_size,
                set_up: AtomicBool::new(false),
                audit_seq: AtomicU64::new(0),
                setup_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn url(&self) -> &CouchUrl {
        &self.inner.url
    }

    /// One request to CouchDB. `path` is relative to the database ("" for the database
    /// itself) and already encoded. Transport failures, timeouts and 5xx mark CouchDB down.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, StoreError> {
        let inner = &self.inner;
        inner.health.check()?;
        let url = if path.is_empty() {
            inner.db.clone()
        } else {
            format!("{}/{path}", inner.db)
        };
        let mut req = inner
            .http
            .request(method, url)
            .header("accept", "application/json");
        if let Some(user) = &inner.url.user {
            req = req.basic_auth(user, inner.url.password.as_deref());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        // The URL holds keys: keep it out of errors and logs.
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(inner.health.failed(&e.without_url().to_string())),
        };
        let status = resp.status();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(inner.health.failed(&e.without_url().to_string())),
        };
        if status.is_server_error() {
            return Err(inner.health.failed(&format!("CouchDB answered {status}")));
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(inner.health.failed(&format!(
                "CouchDB refused access ({status}): check the user and password, and that the user is an admin of the database"
            )));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            inner.health.failed(&format!(
                "CouchDB answered {status} with something that is not JSON: {e}"
            ))
        })?;
        inner.health.ok();
        Ok((status, value))
    }

    /// Makes sure the database and the design documents exist (once per process, and again
    /// after a failure).
    async fn ready(&self) -> Result<(), StoreError> {
        if self.inner.set_up.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.inner.setup_lock.lock().await;
        if self.inner.set_up.load(Ordering::Acquire) {
            return Ok(());
        }
        let (status, body) = self.request(Method::GET, "", None).await?;
        if status == StatusCode::NOT_FOUND {
            let (s, b) = self.request(Method::PUT, "", None).await?;
            if !s.is_success() && s != StatusCode::PRECONDITION_FAILED {
                return Err(StoreError::Unavailable(format!(
                    "cannot create database {}: {s} {b}",
                    self.inner.url
                )));
            }
            tracing::info!(database = %self.inner.url, "CouchDB database created");
        } else if !status.is_success() {
            return Err(StoreError::Unavailable(format!(
                "database {}: {status} {body}",
                self.inner.url
            )));
        }
        let (s, _) = self.request(Method::GET, "_design/views", None).await?;
        if s == StatusCode::NOT_FOUND {
            self.put_design(gpii_design(), None).await?;
        }
        for (design, version) in [
            (attune_design(), ATTUNE_DESIGN_VERSION),
            (forget_design(), FORGET_DESIGN_VERSION),
        ] {
            let id = str_of(&design, "_id").unwrap_or_default();
            let (s, existing) = self.request(Method::GET, &id, None).await?;
            let current = existing.get("attuneVersion").and_then(Value::as_u64);
            if s == StatusCode::NOT_FOUND || current != Some(version) {
                self.put_design(design, str_of(&existing, "_rev")).await?;
            }
        }
        self.inner.set_up.store(true, Ordering::Release);
        Ok(())
    }

    async fn put_design(&self, mut doc: Value, rev: Option<String>) -> Result<(), StoreError> {
        let id = str_of(&doc, "_id").unwrap_or_default();
        if let (Some(r), Value::Object(m)) = (rev, &mut doc) {
            m.insert("_rev".to_owned(), Value::from(r));
        }
        let (s, b) = self.request(Method::PUT, &id, Some(&doc)).await?;
        // 409: another replica wrote it at the same moment; theirs is as good as ours.
        if !s.is_success() && s != StatusCode::CONFLICT {
            return Err(StoreError::Unavailable(format!(
                "cannot write {id} in {}: {s} {b}",
                self.inner.url
            )));
        }
        Ok(())
    }

    /// A document by id, `None` when missing or deleted.
    async fn get_doc(&self, id: &str) -> Result<Option<Value>, StoreError> {
        self.ready().await?;
        let (s, b) = self.request(Method::GET, &encode(id), None).await?;
        match s {
            StatusCode::OK => Ok(Some(b)),
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(unexpected(other, &b, "read a document")),
        }
    }

    /// A document by id, `None` when missing, deleted or of another `type`.
    async fn get_doc_of_type(&self, id: &str, doc_type: &str) -> Result<Option<Value>, StoreError> {
        let doc = self.get_doc(id).await?;
        Ok(doc.filter(|d| str_of(d, "type").as_deref() == Some(doc_type)))
    }

    /// The authorization the API names after `token_hash` (see [`super::authorization_id`]),
    /// when it holds that hash.
    async fn authorization_named_after(
        &self,
        token_hash: &str,
    ) -> Result<Option<Value>, StoreError> {
        let doc = self.get_doc(&super::authorization_id(token_hash)).await?;
        Ok(doc.filter(|d| str_of(d, "accessTokenHash").as_deref() == Some(token_hash)))
    }

    /// Writes `doc` (with `_rev` when it replaces one). `Ok(None)` on a 409 conflict, else the
    /// new revision.
    async fn put_doc(&self, doc: &Value) -> Result<Option<String>, StoreError> {
        self.ready().await?;
        let id = str_of(doc, "_id").unwrap_or_default();
        let (s, b) = self.request(Method::PUT, &encode(&id), Some(doc)).await?;
        match s {
            StatusCode::OK | StatusCode::CREATED | StatusCode::ACCEPTED => Ok(str_of(&b, "rev")),
            StatusCode::CONFLICT => Ok(None),
            other => Err(unexpected(other, &b, "write a document")),
        }
    }

    /// Rows of a view queried by key (JSON-encoded), with documents.
    async fn view(&self, design: &str, view: &str, query: &str) -> Result<Vec<Value>, StoreError> {
        self.ready().await?;
        let path = format!("_design/{design}/_view/{view}?{query}");
        let (s, b) = self.request(Method::GET, &path, None).await?;
        if s != StatusCode::OK {
            return Err(unexpected(s, &b, "query a view"));
        }
        match b.get("rows") {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(StoreError::Unavailable(
                "CouchDB answered a view query without rows".to_owned(),
            )),
        }
    }

    /// The rows of `view` whose key is `key`.
    async fn rows(&self, (design, view): View, key: &str) -> Result<Vec<Value>, StoreError> {
        self.view(design, view, &format!("key={}", json_key(key)))
            .await
    }

    /// The rows of `view` whose key is `key`, each with the document it links to.
    async fn rows_with_docs(
        &self,
        (design, view): View,
        key: &str,
    ) -> Result<Vec<Value>, StoreError> {
        self.view(
            design,
            view,
            &format!("key={}&include_docs=true", json_key(key)),
        )
        .await
    }

    /// Upserts: reads the stored document, writes `write(stored)` over it (which keeps its
    /// `_rev` and the fields attune does not know); retries when someone else wrote in between
    /// (the last writer wins, as with SQLite's upserts).
    async fn upsert<T, W>(
        &self,
        what: &'static str,
        id: &str,
        doc_type: &str,
        write: W,
    ) -> Result<(), StoreError>
    where
        T: serde::de::DeserializeOwned + serde::Serialize,
        W: Fn(Option<T>) -> T,
    {
        for _ in 0..10 {
            let old = base(what, self.get_doc(id).await?, doc_type)?;
            if self.put_doc(&document::write(&write(old))).await?.is_some() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!(
            "`{id}` kept changing while being written"
        )))
    }

    /// Every document of the database, design documents included, with revisions.
    pub async fn all_docs(&self) -> Result<Vec<Value>, StoreError> {
        self.docs_with_prefix("").await
    }

    /// The documents whose `_id` starts with `prefix` (every one for ""), in `_id` order.
    async fn docs_with_prefix(&self, prefix: &str) -> Result<Vec<Value>, StoreError> {
        self.ready().await?;
        let page = self.inner.page_size.max(1);
        let mut docs = Vec::new();
        // Paged by document id: the next page starts after the last id seen.
        let mut last_id: Option<String> = None;
        loop {
            let mut path = format!("_all_docs?include_docs=true&limit={page}");
            match &last_id {
                Some(id) => path.push_str(&format!("&startkey={}&skip=1", json_key(id))),
                None if !prefix.is_empty() => {
                    path.push_str(&format!("&startkey={}", json_key(prefix)));
                }
                None => {}
            }
            if !prefix.is_empty() {
                let end = format!("{prefix}\u{fff0}");
                path.push_str(&format!("&endkey={}", json_key(&end)));
            }
            let (s, b) = self.request(Method::GET, &path, None).await?;
            if s != StatusCode::OK {
                return Err(unexpected(s, &b, "list the documents"));
            }
            let rows = b.get("rows").and_then(Value::as_array);
            let n = rows.map_or(0, Vec::len);
            for row in rows.into_iter().flatten() {
                if let Some(doc) = row.get("doc") {
                    docs.push(doc.clone());
                }
                if let Some(id) = str_of(row, "id") {
                    last_id = Some(id);
                }
            }
            if n < page || last_id.is_none() {
                return Ok(docs);
            }
        }
    }

    /// Writes a backup of the whole database to `out` (JSON: `{"attuneCouchBackup":1,
    /// "database", "docs":[…]}`) with a `sha256sum` file beside it, then reads it back to
    /// check it. `out` must not exist.
    pub async fn backup_to(&self, out: &std::path::Path) -> Result<usize, CouchError> {
        // Checked first, before the whole database is read, and again when written.
        refuse_existing(out)?;
        let docs = self.all_docs().await?;
        self.write_backup(out, &docs)
    }

    /// Writes `docs` as a backup to `out` (see [`CouchStore::backup_to`]) and checks it.
    fn write_backup(&self, out: &std::path::Path, docs: &[Value]) -> Result<usize, CouchError> {
        let file_err = |action: &'static str, detail: String| CouchError::File {
            path: out.to_owned(),
            action,
            detail,
        };
        refuse_existing(out)?;
        let n = docs.len();
        let text = serde_json::to_vec(&json!({
            "attuneCouchBackup": 1, "database": self.inner.url.database, "docs": docs,
        }))
        .map_err(|e| file_err("backup", e.to_string()))?;
        write_synced(out, &text).map_err(|e| file_err("write the backup", e.to_string()))?;
        let back = read_backup(out)?;
        if back.len() != n {
            return Err(file_err(
                "verify the backup",
                format!("wrote {n} documents, read back {}", back.len()),
            ));
        }
        let sum = sha256_hex(&text);
        let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
        let side = super::sqlite::checksum_path(out);
        write_synced(&side, format!("{sum}  {name}\n").as_bytes()).map_err(|e| {
            CouchError::File {
                path: side.clone(),
                action: "write the checksum",
                detail: e.to_string(),
            }
        })?;
        Ok(n)
    }

    /// Replaces the database by the backup `from`, after checking it: the current contents are
    /// first saved beside the backup as `<from>.before-restore-<ms>.json`, then the database is
    /// deleted, created again and loaded with the backup's documents and revisions
    /// (`new_edits: false`), and the count is checked. What must survive a restore from an
    /// older backup is then taken from the replaced contents: their forget list is applied
    /// again ([`Store::reapply_forgotten`]: a forgotten key, and preferences already purged, do
    /// not come back) and their audit entries missing from the backup are put back as they
    /// were. Stop the servers first: tokens issued after the backup are gone afterwards
    /// (docs/operations.md).
    pub async fn restore_from(
        &self,
        from: &std::path::Path,
        now_ms: i64,
    ) -> Result<CouchRestore, CouchError> {
        let docs = read_backup(from)?;
        let safety = {
            let mut p = from.as_os_str().to_owned();
            p.push(format!(".before-restore-{now_ms}.json"));
            std::path::PathBuf::from(p)
        };
        let before = self.all_docs().await?;
        // Read before anything changes: a broken row stops the restore while nothing is lost.
        let forgotten: Vec<ForgottenKey> = before
            .iter()
            .filter(|d| document::type_of(d) == Some(FORGOTTEN_TYPE))
            .map(|d| typed::<ForgottenKeyDocument>(FORGOTTEN_WHAT, d).map(|f| f.to_store()))
            .collect::<Result<_, _>>()?;
        let in_backup: std::collections::HashSet<&str> = docs
            .iter()
            .filter_map(|d| d.get("_id").and_then(Value::as_str))
            .collect();
        let later_audit: Vec<Value> = before
            .iter()
            .filter(|d| document::type_of(d) == Some(AUDIT_TYPE))
            .filter(|d| {
                d.get("_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !in_backup.contains(id))
            })
            .cloned()
            .collect();
        self.write_backup(&safety, &before)?;
        let (s, b) = self.request(Method::DELETE, "", None).await?;
        if !s.is_success() && s != StatusCode::NOT_FOUND {
            return Err(unexpected(s, &b, "delete the database").into());
        }
        self.inner.set_up.store(false, Ordering::Release);
        let (s, b) = self.request(Method::PUT, "", None).await?;
        if !s.is_success() {
            return Err(unexpected(s, &b, "create the database").into());
        }
        self.bulk_load(&docs, "load the backup").await?;
        let n = self.all_docs().await?.len();
        if n != docs.len() {
            return Err(CouchError::File {
                path: from.to_owned(),
                action: "restore",
                detail: format!(
                    "the backup holds {} documents but the database now has {n}; the previous contents are in {}",
                    docs.len(),
                    safety.display()
                ),
            });
        }
        self.bulk_load(&later_audit, "carry the audit over").await?;
        let forgotten_rows = forgotten.len();
        self.reapply_forgotten(forgotten).await?;
        Ok(CouchRestore {
            documents: n,
            forgotten: forgotten_rows,
            audit_entries: later_audit.len(),
            safety,
        })
    }

    /// Writes `docs` with their own revisions (`new_edits: false`), 500 at a time.
    async fn bulk_load(&self, docs: &[Value], action: &str) -> Result<(), StoreError> {
        for chunk in docs.chunks(500) {
            let (s, b) = self
                .request(
                    Method::POST,
                    "_bulk_docs",
                    Some(&json!({"docs": chunk, "new_edits": false})),
                )
                .await?;
            if !s.is_success() {
                return Err(unexpected(s, &b, action));
            }
        }
        Ok(())
    }
}

/// What [`CouchStore::restore_from`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouchRestore {
    /// Documents in the backup, now in the database.
    pub documents: usize,
    /// Rows of the replaced contents' forget list, applied again.
    pub forgotten: usize,
    /// Audit entries of the replaced contents that the backup did not hold, put back.
    pub audit_entries: usize,
    /// Where the replaced contents were saved.
    pub safety: std::path::PathBuf,
}

impl CouchStore {
    /// Marks the authorizations `ids` revoked as GPII does (`revoked`, `revokedReason`,
    /// `timestampRevoked`), re-reading on a conflict. Ones already revoked, or gone (purged
    /// meanwhile), are left alone. Returns how many this call revoked.
    async fn revoke_docs(
        &self,
        ids: &[String],
        now_ms: i64,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let mut revoked = 0;
        for id in ids {
            let mut done = false;
            for _ in 0..10 {
                let Some(mut doc) = base::<AuthorizationDocument>(
                    "gpiiAppInstallationAuthorization",
                    self.get_doc(id).await?,
                    "gpiiAppInstallationAuthorization",
                )?
                .filter(|d| !d.is_revoked()) else {
                    done = true;
                    break;
                };
                doc.revoke(now_ms, reason);
                if self.put_doc(&document::write(&doc)).await?.is_some() {
                    revoked += 1;
                    done = true;
                    break;
                }
            }
            if !done {
                return Err(StoreError::Unavailable(
                    "an access token kept changing while being revoked".to_owned(),
                ));
            }
        }
        Ok(revoked)
    }

    /// The ids of the documents of `view` whose key is `key`.
    async fn ids(&self, view: View, key: &str) -> Result<Vec<String>, StoreError> {
        let rows = self.rows(view, key).await?;
        Ok(rows.iter().filter_map(|r| str_of(r, "id")).collect())
    }

    /// The stored keys whose [`key_hash`] is among `hashes`, by hash: the one key-by-hash
    /// lookup of the forget list (purge and restore). Keys are not stored by hash, so this reads
    /// every key's id once, page by page; it runs only when there is something to find.
    async fn keys_by_hash(
        &self,
        hashes: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut found = std::collections::HashMap::new();
        if hashes.is_empty() {
            return Ok(found);
        }
        let page = self.inner.page_size.max(1);
        let mut last: Option<String> = None;
        loop {
            let mut query = format!("limit={page}");
            if let Some(id) = &last {
                query.push_str(&format!("&startkey={}&skip=1", json_key(id)));
            }
            let (design, view) = GPII_KEY_IDS;
            let rows = self.view(design, view, &query).await?;
            for id in rows.iter().filter_map(|r| str_of(r, "id")) {
                let hash = key_hash(&id);
                if hashes.contains(&hash) {
                    found.insert(hash, id.clone());
                }
                last = Some(id);
            }
            if rows.len() < page || last.is_none() {
                return Ok(found);
            }
        }
    }

    /// The forget list's document for `key_hash`, if any.
    async fn forgotten_doc(
        &self,
        key_hash: &str,
    ) -> Result<Option<ForgottenKeyDocument>, StoreError> {
        let doc = self
            .get_doc(&ForgottenKeyDocument::id_for(key_hash))
            .await?;
        base(FORGOTTEN_WHAT, doc, FORGOTTEN_TYPE)
    }

    /// Adds `row` to the forget list unless its key is there; a purged `row` marks a pending
    /// one purged. Returns whether this call changed the list.
    async fn merge_forgotten(&self, row: &ForgottenKey) -> Result<bool, StoreError> {
        for _ in 0..10 {
            let new = match self.forgotten_doc(&row.key_hash).await? {
                None => ForgottenKeyDocument::from_store(row),
                Some(old) if old.purged_ms.is_none() && row.purged_ms.is_some() => {
                    ForgottenKeyDocument {
                        purged_ms: row.purged_ms,
                        ..old
                    }
                }
                Some(_) => return Ok(false),
            };
            // A 409: another replica wrote it meanwhile; read theirs.
            if self.put_doc(&document::write(&new)).await?.is_some() {
                return Ok(true);
            }
        }
        Err(kept_changing("a forget-list entry"))
    }

    /// Marks `key` revoked as forgotten (GPII's `revoked` and `revokedReason`). A key that is
    /// gone, or already so, is left alone.
    async fn revoke_forgotten_key(&self, key: &str) -> Result<(), StoreError> {
        for _ in 0..10 {
            let Some(old) = base::<KeyDocument>("gpiiKey", self.get_doc(key).await?, "gpiiKey")?
            else {
                return Ok(());
            };
            let mut k = old.to_store();
            if k.revoked && k.revoked_reason.as_deref() == Some(FORGOTTEN_REASON) {
                return Ok(());
            }
            k.revoked = true;
            k.revoked_reason = Some(FORGOTTEN_REASON.to_owned());
            let new = document::write(&KeyDocument::from_store(&k, Some(old)));
            if self.put_doc(&new).await?.is_some() {
                return Ok(());
            }
        }
        // Never the key itself in an error.
        Err(kept_changing("a forgotten key"))
    }

    /// Deletes the document `id` if it is of type `doc_type`, whatever its revision; gone
    /// already is fine.
    async fn delete_doc(&self, id: &str, doc_type: &str) -> Result<(), StoreError> {
        for _ in 0..10 {
            let Some(doc) = self.get_doc_of_type(id, doc_type).await? else {
                return Ok(());
            };
            let rev = str_of(&doc, "_rev").unwrap_or_default();
            let path = format!("{}?rev={}", encode(id), encode(&rev));
            let (s, b) = self.request(Method::DELETE, &path, None).await?;
            match s {
                StatusCode::OK | StatusCode::ACCEPTED | StatusCode::NOT_FOUND => return Ok(()),
                StatusCode::CONFLICT => continue,
                other => return Err(unexpected(other, &b, "delete a document")),
            }
        }
        Err(kept_changing("a document being deleted"))
    }

    /// Makes the database agree with one forget-list row of `key`, as the SQLite store does: a
    /// purged row's key, its tokens and its own preferences safe are deleted (a snapset, or a
    /// safe another key opens, stays); any other row's key and tokens are revoked.
    async fn apply_forget(&self, row: &ForgottenKey, key: &str) -> Result<(), StoreError> {
        const AUTHORIZATION: &str = "gpiiAppInstallationAuthorization";
        let tokens = self.ids(AUTHORIZATIONS_BY_GPII_KEY, key).await?;
        if row.purged_ms.is_none() {
            self.revoke_forgotten_key(key).await?;
            self.revoke_docs(&tokens, row.forgotten_ms, FORGOTTEN_TOKEN_REASON)
                .await?;
            return Ok(());
        }
        let safe = match self.get_doc_of_type(key, "gpiiKey").await? {
            Some(k) => key_from(&k)?.prefs_safe_id,
            None => None,
        };
        for id in &tokens {
            self.delete_doc(id, AUTHORIZATION).await?;
        }
        self.delete_doc(key, "gpiiKey").await?;
        if let Some(safe) = safe {
            let opened = !self.ids(GPII_KEYS_BY_PREFS_SAFE, &safe).await?.is_empty();
            let doc = self.get_doc_of_type(&safe, "prefsSafe").await?;
            let snapset = doc
                .as_ref()
                .is_some_and(|d| str_of(d, "prefsSafeType").as_deref() == Some("snapset"));
            if !opened && !snapset {
                self.delete_doc(&safe, "prefsSafe").await?;
            }
        }
        Ok(())
    }

    /// [`CouchStore::apply_forget`] for each row whose key is stored.
    async fn apply_forgets(&self, rows: &[ForgottenKey]) -> Result<(), StoreError> {
        let hashes = rows.iter().map(|r| r.key_hash.clone()).collect();
        let keys = self.keys_by_hash(&hashes).await?;
        for row in rows {
            if let Some(key) = keys.get(&row.key_hash) {
                self.apply_forget(row, key).await?;
            }
        }
        Ok(())
    }

    /// Marks the row of `key_hash` purged at `now_ms`, sending the `_rev` read: `false` when it
    /// is purged already (by another replica's purge), so each purge is reported once.
    async fn mark_purged(&self, key_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        for _ in 0..10 {
            let Some(old) = self.forgotten_doc(key_hash).await? else {
                return Ok(false);
            };
            if old.purged_ms.is_some() {
                return Ok(false);
            }
            let new = ForgottenKeyDocument {
                purged_ms: Some(now_ms),
                ..old
            };
            if self.put_doc(&document::write(&new)).await?.is_some() {
                return Ok(true);
            }
        }
        Err(kept_changing("a forget-list entry"))
    }
}

fn kept_changing(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} kept changing while being written"))
}

fn unexpected(status: StatusCode, body: &Value, action: &str) -> StoreError {
    let reason = str_of(body, "reason").or_else(|| str_of(body, "error"));
    StoreError::Unavailable(format!(
        "CouchDB answered {status} when asked to {action}: {}",
        reason.unwrap_or_default()
    ))
}

/// Writes a new file (owner-only: a backup holds every key and preference set) and syncs it.
fn write_synced(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = super::sqlite::private_file(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Reads and checks a backup written by [`CouchStore::backup_to`]: its checksum file when
/// present, the format marker, every document with an `_id` and `_rev`.
pub fn read_backup(from: &std::path::Path) -> Result<Vec<Value>, CouchError> {
    let bad = |detail: String| CouchError::File {
        path: from.to_owned(),
        action: "read the backup",
        detail,
    };
    let bytes = std::fs::read(from).map_err(|e| bad(e.to_string()))?;
    let side = super::sqlite::checksum_path(from);
    if let Ok(text) = std::fs::read_to_string(&side) {
        let expected = text.split_whitespace().next().unwrap_or("");
        let found = sha256_hex(&bytes);
        if expected != found {
            return Err(bad(format!(
                "its SHA-256 is {found}, but {} says {expected}: the file changed after the backup",
                side.display()
            )));
        }
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    if v.get("attuneCouchBackup").and_then(Value::as_u64) != Some(1) {
        return Err(bad(
            "not an attune-cloud CouchDB backup (no \"attuneCouchBackup\": 1)".to_owned(),
        ));
    }
    let docs = v
        .get("docs")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `docs` list".to_owned()))?;
    for (i, d) in docs.iter().enumerate() {
        if str_of(d, "_id").is_none() || str_of(d, "_rev").is_none() {
            return Err(bad(format!("document {i} has no `_id` or `_rev`")));
        }
    }
    Ok(docs.clone())
}

/// A view: its design document and name.
type View = (&'static str, &'static str);
const CREDENTIALS_BY_CLIENT_ID: View = ("attune", "credentialsByOauth2ClientId");
const AUTHORIZATIONS_BY_TOKEN_HASH: View = ("attune", "authorizationsByTokenHash");
/// GPII's own view, keyed by the token in clear as GPII stores it.
const GPII_AUTHORIZATIONS_BY_TOKEN: View = ("views", "findInfoByAccessToken");
const AUTHORIZATIONS_BY_GPII_KEY: View = ("attuneForget", "authorizationsByGpiiKey");
const GPII_KEYS_BY_PREFS_SAFE: View = ("attuneForget", "gpiiKeysByPrefsSafeId");
const GPII_KEY_IDS: View = ("attuneForget", "gpiiKeyIds");

/// The `type` of the forget list's documents, and what errors call them.
const FORGOTTEN_TYPE: &str = "attuneForgottenKey";
const FORGOTTEN_WHAT: &str = "forget-list entry";
/// The `type` of the audit's documents.
const AUDIT_TYPE: &str = "attuneAuditEntry";
/// `revokedReason` of a token revoked by its holder, and of one revoked by a forget.
const HOLDER_REASON: &str = "revoked by its holder";
const FORGOTTEN_TOKEN_REASON: &str = "key forgotten";

fn json_key(s: &str) -> String {
    encode(&Value::from(s).to_string())
}

impl Store for CouchStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.ready().await?;
            let (s, b) = self.request(Method::GET, "", None).await?;
            if s.is_success() {
                Ok(())
            } else {
                // The database vanished (deleted by hand, or a restore under way): set it up
                // again on the next call.
                self.inner.set_up.store(false, Ordering::Release);
                Err(unexpected(s, &b, "describe the database"))
            }
        })
    }

    fn find_gpii_key(&self, key: &str) -> StoreFuture<'_, Option<GpiiKeyDoc>> {
        let key = key.to_owned();
        Box::pin(async move {
            let doc = self.get_doc_of_type(&key, "gpiiKey").await?;
            doc.as_ref().map(key_from).transpose()
        })
    }

    fn find_prefs_by_key(
        &self,
        key: &str,
    ) -> StoreFuture<'_, Option<(GpiiKeyDoc, Option<PrefsSafeDoc>)>> {
        let key = key.to_owned();
        Box::pin(async move {
            // Two reads by id, not GPII's `findPrefsSafeByGpiiKey` view: the key is the
            // document's id, and a read by id is CouchDB's cheapest (about a sixth of a view
            // query's time, measured against express-pouchdb).
            let Some(k) = self.get_doc_of_type(&key, "gpiiKey").await? else {
                return Ok(None);
            };
            let k = key_from(&k)?;
            let safe = match &k.prefs_safe_id {
                Some(id) => self.get_doc_of_type(id, "prefsSafe").await?,
                None => None,
            };
            let safe = safe.as_ref().map(safe_from).transpose()?;
            Ok(Some((k, safe)))
        })
    }

    fn find_prefs_safe(&self, id: &str) -> StoreFuture<'_, Option<PrefsSafeDoc>> {
        let id = id.to_owned();
        Box::pin(async move {
            let doc = self.get_doc_of_type(&id, "prefsSafe").await?;
            doc.as_ref().map(safe_from).transpose()
        })
    }

    fn put_gpii_key(&self, doc: GpiiKeyDoc) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.upsert("gpiiKey", &doc.id, "gpiiKey", |old| {
                KeyDocument::from_store(&doc, old)
            })
            .await
        })
    }

    fn put_prefs_safe(&self, doc: PrefsSafeDoc, expected_rev: Option<u64>) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let new = match expected_rev {
                None => {
                    let rev = self
                        .put_doc(&document::write(&SafeDocument::from_store(&doc, None)))
                        .await?;
                    rev.ok_or_else(|| StoreError::Exists {
                        what: "prefsSafe",
                        id: doc.id.clone(),
                    })?
                }
                Some(expected) => {
                    let old = self
                        .get_doc(&doc.id)
                        .await?
                        .ok_or_else(|| StoreError::Missing {
                            what: "prefsSafe",
                            id: doc.id.clone(),
                        })?;
                    let conflict = || StoreError::Conflict {
                        what: "prefsSafe",
                        id: doc.id.clone(),
                        expected,
                    };
                    let rev = str_of(&old, "_rev").unwrap_or_default();
                    if rev_generation(&rev) != Some(expected) {
                        return Err(conflict());
                    }
                    // The `_rev` read goes back with the write: CouchDB refuses it (409) if
                    // anyone wrote in between.
                    let old = base("prefsSafe", Some(old), "prefsSafe")?;
                    self.put_doc(&document::write(&SafeDocument::from_store(&doc, old)))
                        .await?
                        .ok_or_else(conflict)?
                }
            };
            rev_generation(&new)
                .ok_or_else(|| corrupt("prefsSafe", &doc.id, "CouchDB gave no usable `_rev`"))
        })
    }

    fn create_prefs_for_key(&self, key: GpiiKeyDoc, safe: PrefsSafeDoc) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let old_key = base("gpiiKey", self.get_doc(&key.id).await?, "gpiiKey")?;
            let safe_rev = self
                .put_doc(&document::write(&SafeDocument::from_store(&safe, None)))
                .await?
                .ok_or_else(|| StoreError::Exists {
                    what: "prefsSafe",
                    id: safe.id.clone(),
                })?;
            if self
                .put_doc(&document::write(&KeyDocument::from_store(&key, old_key)))
                .await?
                .is_some()
            {
                return Ok(());
            }
            // Someone changed the key since we read it (another first save for the same key):
            // take our safe back and let the caller re-read and merge into theirs.
            let _ = self
                .request(
                    Method::DELETE,
                    &format!("{}?rev={}", encode(&safe.id), encode(&safe_rev)),
                    None,
                )
                .await;
            Err(StoreError::Conflict {
                what: "gpiiKey",
                id: key.id.clone(),
                expected: 0,
            })
        })
    }

    fn find_client_credential(
        &self,
        oauth2_client_id: &str,
    ) -> StoreFuture<'_, Option<ClientCredentialDoc>> {
        let wanted = oauth2_client_id.to_owned();
        Box::pin(async move {
            let rows = self
                .rows_with_docs(CREDENTIALS_BY_CLIENT_ID, &wanted)
                .await?;
            let mut found: Vec<ClientCredentialDoc> = rows
                .iter()
                .filter_map(|r| r.get("doc"))
                .map(credential_from)
                .collect::<Result<_, _>>()?;
            // A GPII database may hold a revoked and a live credential with one client id.
            found.sort_by_key(|c| c.revoked);
            Ok(found.into_iter().next())
        })
    }

    fn put_client_credential(&self, doc: ClientCredentialDoc) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let rows = self
                .rows(CREDENTIALS_BY_CLIENT_ID, &doc.oauth2_client_id)
                .await?;
            // Checked, not enforced: CouchDB has no unique index. Credentials are created by
            // an admin command, one at a time.
            if rows
                .iter()
                .any(|r| str_of(r, "id").as_deref() != Some(doc.id.as_str()))
            {
                return Err(StoreError::Exists {
                    what: "clientCredential with oauth2ClientId",
                    id: doc.oauth2_client_id.clone(),
                });
            }
            // Attune never keeps a secret in clear, not even one GPII wrote.
            self.upsert("clientCredential", &doc.id, "clientCredential", |old| {
                CredentialDocument::from_store(&doc, old)
            })
            .await
        })
    }

    fn put_other_doc(&self, doc: OtherDoc) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut fields = match doc.doc {
                Value::Object(m) => m,
                other => {
                    let mut m = Map::new();
                    m.insert("value".to_owned(), other);
                    m
                }
            };
            fields.remove("_rev");
            fields.insert("_id".to_owned(), Value::from(doc.id.as_str()));
            fields.insert("type".to_owned(), Value::from(doc.doc_type.as_str()));
            // Replaces the whole document: it is kept, not interpreted.
            for _ in 0..10 {
                let old = self.get_doc(&doc.id).await?;
                let mut new = Value::Object(fields.clone());
                if let (Some(rev), Value::Object(m)) =
                    (old.as_ref().and_then(|o| str_of(o, "_rev")), &mut new)
                {
                    m.insert("_rev".to_owned(), Value::from(rev));
                }
                if self.put_doc(&new).await?.is_some() {
                    return Ok(());
                }
            }
            Err(StoreError::Unavailable(format!(
                "`{}` kept changing while being written",
                doc.id
            )))
        })
    }

    fn find_other_doc(&self, id: &str) -> StoreFuture<'_, Option<OtherDoc>> {
        let id = id.to_owned();
        Box::pin(async move {
            let Some(Value::Object(mut m)) = self.get_doc(&id).await? else {
                return Ok(None);
            };
            m.remove("_rev");
            let doc_type = m
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok(Some(OtherDoc {
                id,
                doc_type,
                doc: Value::Object(m),
            }))
        })
    }

    fn add_authorization(&self, doc: AuthorizationDoc) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let exists = || StoreError::Exists {
                what: "gpiiAppInstallationAuthorization",
                id: doc.id.clone(),
            };
            // The API names authorizations after their token hash, so CouchDB itself refuses
            // a second one (409). Any other id is checked through the view (not locked: a
            // fresh token is 128 random bits, so a clash would mean a bug).
            if doc.id != super::authorization_id(&doc.access_token_hash) {
                let clash = self
                    .rows(AUTHORIZATIONS_BY_TOKEN_HASH, &doc.access_token_hash)
                    .await?;
                if !clash.is_empty() {
                    return Err(exists());
                }
            }
            let fields = document::write(&AuthorizationDocument::from_store(&doc));
            self.put_doc(&fields).await?.ok_or_else(exists)?;
            Ok(())
        })
    }

    fn find_grant(&self, token_hash: &str, now_ms: i64) -> StoreFuture<'_, Option<Grant>> {
        let token_hash = token_hash.to_owned();
        Box::pin(async move {
            // The hot path: two reads by id (the authorization, named after the hash, and its
            // credential).
            if let Some(auth) = self.authorization_named_after(&token_hash).await? {
                let credential = match str_of(&auth, "clientCredentialId") {
                    Some(id) => self.get_doc(&id).await?.unwrap_or(Value::Null),
                    None => Value::Null,
                };
                let row = json!({"value": {"authorization": auth}, "doc": credential});
                return grant_from_rows(&[row], now_ms, |_| token_hash.clone());
            }
            // Authorizations named otherwise (written by other tools).
            let rows = self
                .rows_with_docs(AUTHORIZATIONS_BY_TOKEN_HASH, &token_hash)
                .await?;
            grant_from_rows(&rows, now_ms, |_| token_hash.clone())
        })
    }

    fn find_legacy_grant(&self, token: &str, now_ms: i64) -> StoreFuture<'_, Option<Grant>> {
        let token = token.to_owned();
        Box::pin(async move {
            // GPII's own view, keyed by the token in clear as GPII stores it.
            let rows = self
                .rows_with_docs(GPII_AUTHORIZATIONS_BY_TOKEN, &token)
                .await?;
            let rows: Vec<Value> = rows
                .into_iter()
                .filter(|r| {
                    r.get("value")
                        .and_then(|v| v.get("authorization"))
                        .and_then(|a| a.get("accessToken"))
                        .and_then(Value::as_str)
                        == Some(token.as_str())
                })
                .collect();
            grant_from_rows(&rows, now_ms, |_| crate::auth::token_hash(&token))
        })
    }

    fn revoke_authorization(&self, token_hash: &str, now_ms: i64) -> StoreFuture<'_, u64> {
        let token_hash = token_hash.to_owned();
        Box::pin(async move {
            let mut ids = Vec::new();
            if self.authorization_named_after(&token_hash).await?.is_some() {
                ids.push(super::authorization_id(&token_hash));
            }
            if ids.is_empty() {
                // Authorizations named otherwise (written by other tools).
                let rows = self.rows(AUTHORIZATIONS_BY_TOKEN_HASH, &token_hash).await?;
                ids.extend(rows.iter().filter_map(|r| str_of(r, "id")));
            }
            self.revoke_docs(&ids, now_ms, HOLDER_REASON).await
        })
    }

    fn revoke_legacy_authorization(&self, token: &str, now_ms: i64) -> StoreFuture<'_, u64> {
        let token = token.to_owned();
        Box::pin(async move {
            let rows = self.rows(GPII_AUTHORIZATIONS_BY_TOKEN, &token).await?;
            let ids: Vec<String> = rows.iter().filter_map(|r| str_of(r, "id")).collect();
            self.revoke_docs(&ids, now_ms, HOLDER_REASON).await
        })
    }

    fn purge_expired_authorizations(&self, now_ms: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut deleted = 0u64;
            loop {
                let rows = self
                    .view(
                        "attune",
                        "authorizationsByExpiry",
                        &format!("endkey={now_ms}&include_docs=true&limit=500"),
                    )
                    .await?;
                if rows.is_empty() {
                    return Ok(deleted);
                }
                let docs: Vec<Value> = rows
                    .iter()
                    .filter_map(|r| r.get("doc"))
                    .filter_map(|d| {
                        Some(json!({"_id": str_of(d, "_id")?, "_rev": str_of(d, "_rev")?,
                            "_deleted": true}))
                    })
                    .collect();
                let (s, b) = self
                    .request(Method::POST, "_bulk_docs", Some(&json!({ "docs": docs })))
                    .await?;
                if !s.is_success() {
                    return Err(unexpected(s, &b, "delete expired tokens"));
                }
                let ok = b
                    .as_array()
                    .map_or(0, |a| a.iter().filter(|r| r.get("error").is_none()).count());
                deleted += ok as u64;
                if ok == 0 {
                    // Every deletion lost a race with another purge: nothing more to do now.
                    return Ok(deleted);
                }
            }
        })
    }

    fn forget_key(&self, key: &str, row: ForgottenKey) -> StoreFuture<'_, ()> {
        let key = key.to_owned();
        Box::pin(async move {
            if self.get_doc_of_type(&key, "gpiiKey").await?.is_none() {
                return Err(StoreError::Missing {
                    what: "gpiiKey",
                    id: row.fingerprint,
                });
            }
            let row = ForgottenKey {
                purged_ms: None,
                ..row
            };
            // The row first: a crash after it leaves a forget finished by the next one.
            self.merge_forgotten(&row).await?;
            self.apply_forget(&row, &key).await
        })
    }

    fn forgotten_keys(&self) -> StoreFuture<'_, Vec<ForgottenKey>> {
        Box::pin(async move {
            let mut rows = self
                .docs_with_prefix(FORGOTTEN_PREFIX)
                .await?
                .iter()
                .filter(|d| document::type_of(d) == Some(FORGOTTEN_TYPE))
                .map(|d| typed::<ForgottenKeyDocument>(FORGOTTEN_WHAT, d).map(|f| f.to_store()))
                .collect::<Result<Vec<_>, _>>()?;
            rows.sort_by(|a, b| (a.forgotten_ms, &a.key_hash).cmp(&(b.forgotten_ms, &b.key_hash)));
            Ok(rows)
        })
    }

    fn purge_forgotten(
        &self,
        forgotten_by_ms: i64,
        now_ms: i64,
    ) -> StoreFuture<'_, Vec<ForgottenKey>> {
        Box::pin(async move {
            let due: Vec<ForgottenKey> = self
                .forgotten_keys()
                .await?
                .into_iter()
                .filter(|r| r.purged_ms.is_none() && r.forgotten_ms <= forgotten_by_ms)
                .map(|r| ForgottenKey {
                    purged_ms: Some(now_ms),
                    ..r
                })
                .collect();
            // Deleting first and marking last: a purge cut short is done again by the next.
            self.apply_forgets(&due).await?;
            let mut purged = Vec::with_capacity(due.len());
            for row in due {
                if self.mark_purged(&row.key_hash, now_ms).await? {
                    purged.push(row);
                }
            }
            Ok(purged)
        })
    }

    fn reapply_forgotten(&self, rows: Vec<ForgottenKey>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            for row in &rows {
                self.merge_forgotten(row).await?;
            }
            let all = self.forgotten_keys().await?;
            self.apply_forgets(&all).await
        })
    }

    fn append_audit(&self, entry: AuditEntry) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            for _ in 0..10 {
                let seq = self.inner.audit_seq.fetch_add(1, Ordering::Relaxed);
                let random = crate::auth::random_token();
                let doc = AuditEntryDocument::from_store(&entry, seq, &random);
                // A new document only: never written over. A 409 would be a clash of random
                // parts; try another.
                if self.put_doc(&document::write(&doc)).await?.is_some() {
                    return Ok(());
                }
            }
            Err(kept_changing("an audit entry"))
        })
    }

    fn audit(&self) -> StoreFuture<'_, Vec<AuditEntry>> {
        Box::pin(async move {
            self.docs_with_prefix(AUDIT_PREFIX)
                .await?
                .iter()
                .filter(|d| document::type_of(d) == Some(AUDIT_TYPE))
                .map(|d| typed::<AuditEntryDocument>("audit entry", d).map(|e| e.to_store()))
                .collect()
        })
    }
}

/// The live grant among view rows whose value is `{authorization}` and whose linked document
/// is the client credential.
fn grant_from_rows(
    rows: &[Value],
    now_ms: i64,
    hash: impl Fn(&Value) -> String,
) -> Result<Option<Grant>, StoreError> {
    const AUTHORIZATION: &str = "gpiiAppInstallationAuthorization";
    for row in rows {
        let Some(auth) = row.get("value").and_then(|v| v.get("authorization")) else {
            continue;
        };
        let doc: AuthorizationDocument = typed(AUTHORIZATION, auth)?;
        let a = doc
            .to_store(hash(auth))
            .map_err(|e| corrupt(AUTHORIZATION, &doc.id, &e))?;
        if a.revoked || a.expires_ms <= now_ms {
            continue;
        }
        let Some(cred) = row.get("doc").filter(|d| !d.is_null()) else {
            continue;
        };
        if document::type_of(cred) != Some("clientCredential") {
            continue;
        }
        let cred: CredentialDocument = typed("clientCredential", cred)?;
        if cred.is_revoked() {
            continue;
        }
        return Ok(Some(Grant {
            authorization: a,
            allowed_prefs_to_write: cred.allowed_prefs_to_write.flatten(),
        }));
    }
    Ok(None)
}

/// A backup is never written over an existing file.
fn refuse_existing(out: &std::path::Path) -> Result<(), CouchError> {
    if out.exists() {
        return Err(CouchError::File {
            path: out.to_owned(),
            action: "backup",
            detail: "the file exists already; choose a new name".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::SecretHash;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn urls_give_server_database_and_credentials() {
        let u = CouchUrl::parse_with_env("http://ad%40min:p%3Ass@db.local:5984", no_env).unwrap();
        assert_eq!(u.server, "http://db.local:5984");
        assert_eq!(u.database, "gpii");
        assert_eq!(u.user.as_deref(), Some("ad@min"));
        assert_eq!(u.password.as_deref(), Some("p:ss"));
        assert_eq!(u.to_string(), "http://db.local:5984/gpii");
        assert!(!format!("{u:?}").contains("p:ss"));

        let u = CouchUrl::parse_with_env("https://h/attune_test/", |n| Some(format!("{n}-value")))
            .unwrap();
        assert_eq!(u.database, "attune_test");
        assert_eq!(u.user.as_deref(), Some("ATTUNE_COUCHDB_USER-value"));
        assert_eq!(u.password.as_deref(), Some("ATTUNE_COUCHDB_PASSWORD-value"));
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for bad in ["ftp://h", "h:5984", "http://", "http://u:secret@h/Upper"] {
            let e = CouchUrl::parse_with_env(bad, no_env)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn after_a_failure_calls_fail_at_once_until_the_window_ends() {
        let h = Health::new(Duration::from_millis(1000));
        assert!(h.check_at(0).is_ok());
        let e = h.failed_at(100, "connection refused");
        assert!(matches!(e, StoreError::Unavailable(_)));
        let refused = h.check_at(600).unwrap_err().to_string();
        assert!(refused.contains("connection refused"), "{refused}");
        // The window is over: the next call tries CouchDB again.
        assert!(h.check_at(1100).is_ok());
        // It fails again: a new window from then.
        h.failed_at(1150, "timed out");
        assert!(h.check_at(2000).is_err());
        h.ok();
        assert!(
            h.check_at(2000).is_ok(),
            "an answer ends the window at once"
        );
    }

    #[test]
    fn revision_generations() {
        assert_eq!(rev_generation("3-abc"), Some(3));
        assert_eq!(rev_generation("abc"), None);
    }

    #[test]
    fn gpii_credentials_with_a_clear_secret_are_read_hashed() {
        let c = credential_from(
            &json!({"_id": "clientCredential-1", "type": "clientCredential",
            "oauth2ClientId": "pilot-computer", "oauth2ClientSecret": "pilot-computer-secret",
            "allowedIPBlocks": null, "revoked": false}),
        )
        .unwrap();
        let h = SecretHash::parse(&c.oauth2_client_secret_hash).unwrap();
        assert!(h.matches("pilot-computer-secret"));
        assert!(!h.matches("other"));
    }
}

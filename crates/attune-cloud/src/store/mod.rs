//! Where the cloud keeps its state, behind one trait.
//!
//! The documents are GPII's (`gpii-db-operation/src/DbConst.js`, schemaVersion 0.2): `gpiiKey`,
//! `prefsSafe` (`user` or `snapset`), `clientCredential`, `gpiiAppInstallationClient` and
//! `gpiiAppInstallationAuthorization`, so that a CouchDB store holding an existing GPII database
//! fits the same trait. Two deliberate differences from GPII's documents: client secrets and
//! access tokens are stored hashed ([`crate::auth`]), never as given.
//!
//! The trait's methods return boxed futures so that `Arc<dyn Store>` works and a network store
//! (CouchDB over HTTP) can be truly asynchronous; the SQLite store runs its blocking calls on
//! tokio's blocking pool. Every store passes the shared contract suite in [`contract`].

pub mod contract;
pub mod couchdb;
pub mod document;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// GPII's document schema version, which the documents we write carry.
pub const SCHEMA_VERSION: &str = "0.2";

/// A store's answer, later.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What can go wrong in a store. `Unavailable` is the store being down or broken (the API
/// answers 503 and `/ready` fails); the others are the caller's mistakes or races.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("{what} `{id}` already exists")]
    Exists { what: &'static str, id: String },
    #[error("{what} `{id}` was changed by someone else (expected revision {expected})")]
    Conflict {
        what: &'static str,
        id: String,
        expected: u64,
    },
    #[error("{what} `{id}` does not exist")]
    Missing { what: &'static str, id: String },
    #[error("a stored {what} `{id}` is corrupt: {detail}")]
    Corrupt {
        what: &'static str,
        id: String,
        detail: String,
    },
    #[error("this store does not support {what} yet")]
    Unsupported { what: &'static str },
}

/// `prefsSafe.prefsSafeType`: a person's own preferences, or a read-only snapset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefsSafeType {
    User,
    Snapset,
}

impl PrefsSafeType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrefsSafeType::User => "user",
            PrefsSafeType::Snapset => "snapset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(PrefsSafeType::User),
            "snapset" => Some(PrefsSafeType::Snapset),
            _ => None,
        }
    }
}

/// GPII's `gpiiKey` document: the key (its `_id`) and which preferences safe it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct GpiiKeyDoc {
    /// The key itself (GPII's `_id`). A secret: never log it.
    pub id: String,
    pub prefs_safe_id: Option<String>,
    pub prefs_set_id: Option<String>,
    pub revoked: bool,
    pub revoked_reason: Option<String>,
    pub timestamp_created: Option<String>,
    pub timestamp_updated: Option<String>,
}

/// GPII's `prefsSafe` document. `preferences` is the preference set as GPII stores it,
/// `{"flat": {...}}`. `rev` counts writes, for optimistic concurrency (CouchDB's `_rev`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrefsSafeDoc {
    pub id: String,
    pub prefs_safe_type: PrefsSafeType,
    pub name: Option<String>,
    pub preferences: Value,
    pub timestamp_created: Option<String>,
    pub timestamp_updated: Option<String>,
    pub rev: u64,
}

impl GpiiKeyDoc {
    /// A live key made at `now`, opening the safe `safe_id` in the default context.
    pub fn new(id: &str, safe_id: &str, now: &str) -> Self {
        GpiiKeyDoc {
            id: id.to_owned(),
            prefs_safe_id: Some(safe_id.to_owned()),
            prefs_set_id: Some(attune_model::prefs::DEFAULT_CONTEXT.to_owned()),
            revoked: false,
            revoked_reason: None,
            timestamp_created: Some(now.to_owned()),
            timestamp_updated: None,
        }
    }
}

impl PrefsSafeDoc {
    /// A safe made at `now`, not yet written (`rev` 0).
    pub fn new(
        id: String,
        prefs_safe_type: PrefsSafeType,
        name: Option<String>,
        preferences: Value,
        now: String,
    ) -> Self {
        PrefsSafeDoc {
            id,
            prefs_safe_type,
            name,
            preferences,
            timestamp_created: Some(now),
            timestamp_updated: None,
            rev: 0,
        }
    }
}

/// GPII's `clientCredential` document: a site's OAuth2 client, its secret stored hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCredentialDoc {
    pub id: String,
    /// The `gpiiAppInstallationClient` this credential belongs to.
    pub client_id: String,
    pub oauth2_client_id: String,
    /// `sha256:<salt hex>:<hash hex>`, see [`crate::auth::SecretHash`].
    pub oauth2_client_secret_hash: String,
    pub allowed_ip_blocks: Option<Vec<String>>,
    pub allowed_prefs_to_write: Option<Vec<String>>,
    pub is_create_gpii_key_allowed: bool,
    pub is_create_prefs_safe_allowed: bool,
    pub revoked: bool,
    pub timestamp_created: Option<String>,
}

/// GPII's `gpiiAppInstallationAuthorization`: an access token granted to a client for a key.
/// The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationDoc {
    pub id: String,
    pub client_id: String,
    pub client_credential_id: String,
    pub gpii_key: String,
    pub access_token_hash: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked: bool,
}

/// A GPII document we keep but do not interpret (e.g. `gpiiAppInstallationClient`), so that a
/// GPII database loads whole. `doc` is the whole document as GPII writes it, `_id` and `type`
/// included (a CouchDB store keeps exactly that document).
#[derive(Debug, Clone, PartialEq)]
pub struct OtherDoc {
    pub id: String,
    pub doc_type: String,
    pub doc: Value,
}

/// An access token's grant with what the API needs to honour it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub authorization: AuthorizationDoc,
    /// From the client credential (GPII-3717); `None` means "anything".
    pub allowed_prefs_to_write: Option<Vec<String>>,
}

/// A token's live grant, and a key with its preferences safe: what `GET settings` reads.
pub type GrantAndPrefs = (Option<Grant>, Option<(GpiiKeyDoc, Option<PrefsSafeDoc>)>);

/// The SHA-256 of a key, hex: how the forget list names a key without keeping it, so that a
/// key forgotten before a restore is recognised in the restored store.
pub fn key_hash(key: &str) -> String {
    crate::auth::token_hash(key)
}

/// A row of the forget list: a key that was forgotten, named by its hash and fingerprint only.
/// While `purged_ms` is `None` the key is revoked (it answers as an unknown key) and its
/// preferences are kept for the grace period; once purged, the key and its preferences are
/// deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgottenKey {
    /// [`key_hash`] of the key.
    pub key_hash: String,
    /// [`attune_model::key::Key::fingerprint`] of the key, for the audit and the operator.
    pub fingerprint: String,
    pub forgotten_ms: i64,
    /// Why, as the operator or the app gave it. Never a key or a preference.
    pub reason: Option<String>,
    pub purged_ms: Option<i64>,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AuditAction {
    GrantFailedBurst,
    Forget,
    Purge,
    Restore,
    CredentialsCreate,
    Backup,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::GrantFailedBurst => "grant-failed-burst",
            AuditAction::Forget => "forget",
            AuditAction::Purge => "purge",
            AuditAction::Restore => "restore",
            AuditAction::CredentialsCreate => "credentials-create",
            AuditAction::Backup => "backup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            AuditAction::GrantFailedBurst,
            AuditAction::Forget,
            AuditAction::Purge,
            AuditAction::Restore,
            AuditAction::CredentialsCreate,
            AuditAction::Backup,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One line of the append-only audit. It names a key by its fingerprint only, and never holds
/// a preference.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub time_ms: i64,
    pub action: AuditAction,
    /// Who: `admin` (a command), `key-holder` (the key's own token), `server` (its sweep).
    pub actor: String,
    pub key_fingerprint: Option<String>,
}

/// The id of the authorization for a token hash. The API names authorizations this way so a
/// store can find a grant by id (CouchDB's cheapest read); stores must still find grants
/// whose ids were chosen otherwise.
pub fn authorization_id(token_hash: &str) -> String {
    format!("gpiiAppInstallationAuthorization-{token_hash}")
}

/// The persistent state of the cloud. Implementations must be safe to share between requests
/// and must make each method atomic: a reader sees a write whole or not at all.
pub trait Store: Send + Sync + 'static {
    /// Whether the store answers at all (for `/ready`).
    fn ping(&self) -> StoreFuture<'_, ()>;

    fn find_gpii_key(&self, key: &str) -> StoreFuture<'_, Option<GpiiKeyDoc>>;

    /// The key and, when it has one, its preferences safe: the read of `GET settings`.
    fn find_prefs_by_key(
        &self,
        key: &str,
    ) -> StoreFuture<'_, Option<(GpiiKeyDoc, Option<PrefsSafeDoc>)>>;

    fn find_prefs_safe(&self, id: &str) -> StoreFuture<'_, Option<PrefsSafeDoc>>;

    /// Creates or replaces a key document.
    fn put_gpii_key(&self, doc: GpiiKeyDoc) -> StoreFuture<'_, ()>;

    /// Creates a preferences safe (`expected_rev` = `None`; fails with `Exists` if there is
    /// one) or replaces it if its stored revision is still `expected_rev` (else `Conflict`).
    /// Returns the new revision.
    fn put_prefs_safe(&self, doc: PrefsSafeDoc, expected_rev: Option<u64>) -> StoreFuture<'_, u64>;

    /// Creates a preferences safe and points a key at it in one transaction; the key is created
    /// when missing. Fails with `Exists` if the safe exists.
    fn create_prefs_for_key(&self, key: GpiiKeyDoc, safe: PrefsSafeDoc) -> StoreFuture<'_, ()>;

    fn find_client_credential(
        &self,
        oauth2_client_id: &str,
    ) -> StoreFuture<'_, Option<ClientCredentialDoc>>;

    /// Creates or replaces a client credential (matched on `id`; `oauth2_client_id` is unique).
    fn put_client_credential(&self, doc: ClientCredentialDoc) -> StoreFuture<'_, ()>;

    fn put_other_doc(&self, doc: OtherDoc) -> StoreFuture<'_, ()>;

    fn find_other_doc(&self, id: &str) -> StoreFuture<'_, Option<OtherDoc>>;

    fn add_authorization(&self, doc: AuthorizationDoc) -> StoreFuture<'_, ()>;

    /// The live grant for a token hash: not revoked and `expires_ms > now_ms`.
    fn find_grant(&self, token_hash: &str, now_ms: i64) -> StoreFuture<'_, Option<Grant>>;

    /// [`Store::find_client_credential`] and [`Store::find_gpii_key`] at once: the reads of a
    /// token request. A store that can answers both in one round trip (SQLite: one trip to
    /// the blocking pool instead of two, which at a storm of key-ins is a good share of the
    /// work); the default asks for both concurrently.
    fn find_credential_and_key(
        &self,
        oauth2_client_id: &str,
        key: &str,
    ) -> StoreFuture<'_, (Option<ClientCredentialDoc>, Option<GpiiKeyDoc>)> {
        let (id, key) = (oauth2_client_id.to_owned(), key.to_owned());
        Box::pin(async move {
            let (c, k) = tokio::join!(self.find_client_credential(&id), self.find_gpii_key(&key));
            Ok((c?, k?))
        })
    }

    /// [`Store::find_grant`] and [`Store::find_prefs_by_key`] at once: the reads of
    /// `GET settings`, in one round trip where the store can (as
    /// [`Store::find_credential_and_key`]).
    fn find_grant_and_prefs(
        &self,
        token_hash: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreFuture<'_, GrantAndPrefs> {
        let (hash, key) = (token_hash.to_owned(), key.to_owned());
        Box::pin(async move {
            let (g, p) = tokio::join!(self.find_grant(&hash, now_ms), self.find_prefs_by_key(&key));
            Ok((g?, p?))
        })
    }

    /// The live grant for a token a GPII cloud issued and stored in clear (its
    /// `gpiiAppInstallationAuthorization.accessToken`), for a store serving a GPII database;
    /// asked only when [`Store::find_grant`] finds nothing. Stores that never hold GPII's
    /// tokens answer `None`.
    fn find_legacy_grant(&self, token: &str, now_ms: i64) -> StoreFuture<'_, Option<Grant>> {
        let _ = (token, now_ms);
        Box::pin(async { Ok(None) })
    }

    /// Revokes the authorization of a token hash at once (its holder is done with it, e.g. at
    /// key-out): [`Store::find_grant`] no longer finds it. An unknown, expired or already
    /// revoked token is not an error (revoking is idempotent); returns how many were revoked.
    fn revoke_authorization(&self, token_hash: &str, now_ms: i64) -> StoreFuture<'_, u64>;

    /// The same for a token a GPII cloud issued and stored in clear (see
    /// [`Store::find_legacy_grant`]). Stores that never hold GPII's tokens revoke nothing.
    fn revoke_legacy_authorization(&self, token: &str, now_ms: i64) -> StoreFuture<'_, u64> {
        let _ = (token, now_ms);
        Box::pin(async { Ok(0) })
    }

    /// Deletes authorizations that expired at or before `now_ms`; returns how many.
    fn purge_expired_authorizations(&self, now_ms: i64) -> StoreFuture<'_, u64>;

    /// Forgets `key` at once, in one transaction: records `row` in the forget list (a key
    /// already there keeps its first row), revokes the key (it answers as an unknown key) and
    /// every authorization granted for it. The preferences stay until
    /// [`Store::purge_forgotten`]. Fails with `Missing` when there is no such key.
    fn forget_key(&self, key: &str, row: ForgottenKey) -> StoreFuture<'_, ()>;

    /// The forget list, oldest first.
    fn forgotten_keys(&self) -> StoreFuture<'_, Vec<ForgottenKey>>;

    /// Deletes, for every key forgotten at or before `forgotten_by_ms` and not yet purged, the
    /// key, its authorizations and its own preferences safe (never a snapset), and marks its row
    /// purged at `now_ms`. Returns the rows it purged.
    fn purge_forgotten(
        &self,
        forgotten_by_ms: i64,
        now_ms: i64,
    ) -> StoreFuture<'_, Vec<ForgottenKey>>;

    /// Adds forget-list rows (from the store a restore replaced) and applies each again: a
    /// purged row deletes its key and preferences, any other revokes its key and tokens. Rows
    /// already in the list are kept as they are, unless the given row is purged.
    fn reapply_forgotten(&self, rows: Vec<ForgottenKey>) -> StoreFuture<'_, ()>;

    /// Appends to the audit. Nothing updates or deletes an entry.
    fn append_audit(&self, entry: AuditEntry) -> StoreFuture<'_, ()>;

    /// The audit, in the order it was written.
    fn audit(&self) -> StoreFuture<'_, Vec<AuditEntry>>;
}

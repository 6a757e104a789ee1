//! GPII's documents (schemaVersion 0.2) as typed values: the one place where a document's JSON
//! is read and written, by the CouchDB store and by `admin load`.
//!
//! Each type names the fields attune reads and keeps everything else in `rest`, so a document
//! read and written back is the document that was read, unknown fields included (a GPII database
//! served by attune keeps what GPII's own tools put there). A known field keeps whether it was
//! absent, `null` or set ([`Field`]), for the same reason. The `type` of each document is a
//! one-value enum: reading a document of another type fails instead of misreading it.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{
    AuditAction, AuditEntry, AuthorizationDoc, ClientCredentialDoc, ForgottenKey, GpiiKeyDoc,
    PrefsSafeDoc, PrefsSafeType, SCHEMA_VERSION,
};
use crate::auth::SecretHash;
use crate::clock::{iso8601, parse_iso8601};

/// A nullable field: `None` when absent, `Some(None)` when `null`, `Some(Some(v))` when set.
pub type Field<T> = Option<Option<T>>;

/// Deserializes a present field (absent ones take the `default`, `None`): with `T = Option<_>`,
/// `null` becomes `Some(None)`, so absent and `null` stay apart.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The value of a nullable field, whether absent or `null`.
fn get<T: Clone>(f: &Field<T>) -> Option<T> {
    f.clone().flatten()
}

macro_rules! doc_type {
    ($name:ident, $value:literal) => {
        #[doc = concat!("The document type `\"", $value, "\"`; any other is refused when reading.")]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            #[default]
            #[serde(rename = $value)]
            Tag,
        }
    };
}

doc_type!(GpiiKeyType, "gpiiKey");
doc_type!(PrefsSafeDocType, "prefsSafe");
doc_type!(ClientCredentialType, "clientCredential");
doc_type!(AuthorizationType, "gpiiAppInstallationAuthorization");
doc_type!(ForgottenKeyType, "attuneForgottenKey");
doc_type!(AuditEntryType, "attuneAuditEntry");

/// The `type` of a document, if it has a string one.
pub fn type_of(doc: &Value) -> Option<&str> {
    doc.get("type").and_then(Value::as_str)
}

/// Reads a document as `T`; the error names the field that does not fit.
pub fn read<T: serde::de::DeserializeOwned>(doc: &Value) -> Result<T, String> {
    T::deserialize(doc).map_err(|e| e.to_string())
}

/// Writes a document as JSON.
pub fn write<T: Serialize>(doc: &T) -> Value {
    // Only strings, booleans, maps and values: serializing cannot fail.
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

/// Declares a GPII document type: `_id`, `_rev` (written back only when read), `type`,
/// `schemaVersion`, the given fields (camelCase, each keeping whether it was absent, `null` or
/// set), and every other field in `rest`.
macro_rules! document {
    (
        $(#[$meta:meta])*
        pub struct $name:ident: $tag:ty {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(rename = "_id")]
            pub id: String,
            #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
            pub rev: Option<String>,
            #[serde(rename = "type")]
            pub doc_type: $tag,
            #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
            pub schema_version: Option<Value>,
            $(
                $(#[$field_meta])*
                #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
                pub $field: $ty,
            )*
            #[serde(flatten)]
            pub rest: Map<String, Value>,
        }
    };
}

document! {
    /// GPII's `gpiiKey`: `_id` is the key itself (a secret: never log it).
    pub struct KeyDocument: GpiiKeyType {
        pub prefs_safe_id: Field<String>,
        pub prefs_set_id: Field<String>,
        pub revoked: Field<bool>,
        pub revoked_reason: Field<String>,
        pub timestamp_created: Field<String>,
        pub timestamp_updated: Field<String>,
    }
}

impl KeyDocument {
    pub fn to_store(&self) -> GpiiKeyDoc {
        GpiiKeyDoc {
            id: self.id.clone(),
            prefs_safe_id: get(&self.prefs_safe_id),
            prefs_set_id: get(&self.prefs_set_id),
            revoked: get(&self.revoked).unwrap_or(false),
            revoked_reason: get(&self.revoked_reason),
            timestamp_created: get(&self.timestamp_created),
            timestamp_updated: get(&self.timestamp_updated),
        }
    }

    /// `k` written over `base` (the stored document, whose other fields are kept).
    pub fn from_store(k: &GpiiKeyDoc, base: Option<KeyDocument>) -> KeyDocument {
        KeyDocument {
            id: k.id.clone(),
            doc_type: GpiiKeyType::Tag,
            schema_version: Some(Value::from(SCHEMA_VERSION)),
            prefs_safe_id: Some(k.prefs_safe_id.clone()),
            prefs_set_id: Some(k.prefs_set_id.clone()),
            revoked: Some(Some(k.revoked)),
            revoked_reason: Some(k.revoked_reason.clone()),
            timestamp_created: Some(k.timestamp_created.clone()),
            timestamp_updated: Some(k.timestamp_updated.clone()),
            ..base.unwrap_or_default()
        }
    }
}

document! {
    /// GPII's `prefsSafe`: a preference set (`{"flat": …}`), a person's or a read-only snapset.
    pub struct SafeDocument: PrefsSafeDocType {
        pub prefs_safe_type: Field<String>,
        pub name: Field<String>,
        /// `null` when absent or `null`.
        pub preferences: Option<Value>,
        pub timestamp_created: Field<String>,
        pub timestamp_updated: Field<String>,
    }
}

impl SafeDocument {
    /// The stored form; `rev` is the generation of `_rev` (0 without one).
    pub fn to_store(&self) -> Result<PrefsSafeDoc, String> {
        let kind = get(&self.prefs_safe_type).unwrap_or_else(|| "user".to_owned());
        let prefs_safe_type = PrefsSafeType::parse(&kind).ok_or_else(|| {
            format!("prefsSafeType must be \"user\" or \"snapset\", got \"{kind}\"")
        })?;
        Ok(PrefsSafeDoc {
            id: self.id.clone(),
            prefs_safe_type,
            name: get(&self.name),
            preferences: self.preferences.clone().unwrap_or(Value::Null),
            timestamp_created: get(&self.timestamp_created),
            timestamp_updated: get(&self.timestamp_updated),
            rev: self.rev.as_deref().and_then(rev_generation).unwrap_or(0),
        })
    }

    /// `s` written over `base` (the stored document: its `_rev` and other fields are kept).
    pub fn from_store(s: &PrefsSafeDoc, base: Option<SafeDocument>) -> SafeDocument {
        SafeDocument {
            id: s.id.clone(),
            doc_type: PrefsSafeDocType::Tag,
            schema_version: Some(Value::from(SCHEMA_VERSION)),
            prefs_safe_type: Some(Some(s.prefs_safe_type.as_str().to_owned())),
            name: Some(s.name.clone()),
            preferences: Some(s.preferences.clone()),
            timestamp_created: Some(s.timestamp_created.clone()),
            timestamp_updated: Some(s.timestamp_updated.clone()),
            ..base.unwrap_or_default()
        }
    }
}

/// The generation of a CouchDB `_rev` (`3-…` → 3).
pub fn rev_generation(rev: &str) -> Option<u64> {
    rev.split_once('-')?.0.parse().ok()
}

document! {
    /// GPII's `clientCredential`: a site's OAuth2 client. GPII keeps the secret in clear
    /// (`oauth2ClientSecret`); attune writes only `oauth2ClientSecretHash`.
    pub struct CredentialDocument: ClientCredentialType {
        pub client_id: Field<String>,
        pub oauth2_client_id: Field<String>,
        pub oauth2_client_secret: Field<String>,
        pub oauth2_client_secret_hash: Field<String>,
        #[serde(rename = "allowedIPBlocks")]
        pub allowed_ip_blocks: Field<Vec<String>>,
        pub allowed_prefs_to_write: Field<Vec<String>>,
        pub is_create_gpii_key_allowed: Field<bool>,
        pub is_create_prefs_safe_allowed: Field<bool>,
        pub revoked: Field<bool>,
        pub timestamp_created: Field<String>,
    }
}

impl CredentialDocument {
    /// The stored form, with `hash` as the secret's hash.
    pub fn to_store_with(&self, hash: String) -> ClientCredentialDoc {
        ClientCredentialDoc {
            id: self.id.clone(),
            client_id: get(&self.client_id).unwrap_or_default(),
            oauth2_client_id: get(&self.oauth2_client_id).unwrap_or_default(),
            oauth2_client_secret_hash: hash,
            allowed_ip_blocks: get(&self.allowed_ip_blocks),
            allowed_prefs_to_write: get(&self.allowed_prefs_to_write),
            is_create_gpii_key_allowed: get(&self.is_create_gpii_key_allowed).unwrap_or(false),
            is_create_prefs_safe_allowed: get(&self.is_create_prefs_safe_allowed).unwrap_or(false),
            revoked: get(&self.revoked).unwrap_or(false),
            timestamp_created: get(&self.timestamp_created),
        }
    }

    /// The stored form: attune's hash, or GPII's secret in clear hashed here, so the API sees
    /// one form.
    pub fn to_store(&self) -> Result<ClientCredentialDoc, String> {
        let hash = match (
            get(&self.oauth2_client_secret_hash),
            get(&self.oauth2_client_secret),
        ) {
            (Some(h), _) => h,
            (None, Some(plain)) => SecretHash::new(&plain).to_string(),
            (None, None) => return Err("no client secret".to_owned()),
        };
        Ok(self.to_store_with(hash))
    }

    /// `c` written over `base`: its other fields are kept, but never a secret in clear, not
    /// even one GPII wrote.
    pub fn from_store(c: &ClientCredentialDoc, base: Option<CredentialDocument>) -> Self {
        CredentialDocument {
            id: c.id.clone(),
            doc_type: ClientCredentialType::Tag,
            schema_version: Some(Value::from(SCHEMA_VERSION)),
            client_id: Some(Some(c.client_id.clone())),
            oauth2_client_id: Some(Some(c.oauth2_client_id.clone())),
            oauth2_client_secret: None,
            oauth2_client_secret_hash: Some(Some(c.oauth2_client_secret_hash.clone())),
            allowed_ip_blocks: Some(c.allowed_ip_blocks.clone()),
            allowed_prefs_to_write: Some(c.allowed_prefs_to_write.clone()),
            is_create_gpii_key_allowed: Some(Some(c.is_create_gpii_key_allowed)),
            is_create_prefs_safe_allowed: Some(Some(c.is_create_prefs_safe_allowed)),
            revoked: Some(Some(c.revoked)),
            timestamp_created: Some(c.timestamp_created.clone()),
            ..base.unwrap_or_default()
        }
    }

    pub fn is_revoked(&self) -> bool {
        get(&self.revoked).unwrap_or(false)
    }
}

document! {
    /// GPII's `gpiiAppInstallationAuthorization`: an access token granted to a client for a key.
    /// GPII keeps the token in clear (`accessToken`); attune writes only `accessTokenHash`.
    pub struct AuthorizationDocument: AuthorizationType {
        pub client_id: Field<String>,
        pub client_credential_id: Field<String>,
        pub gpii_key: Field<String>,
        pub access_token: Field<String>,
        pub access_token_hash: Field<String>,
        pub revoked: Field<bool>,
        pub revoked_reason: Field<String>,
        pub timestamp_created: Field<String>,
        pub timestamp_revoked: Field<String>,
        pub timestamp_expires: Field<String>,
    }
}

impl AuthorizationDocument {
    /// The stored form, for the token whose hash is `token_hash`. The expiry must be a time.
    pub fn to_store(&self, token_hash: String) -> Result<AuthorizationDoc, String> {
        let time = |f: &Field<String>, name: &str| {
            get(f)
                .as_deref()
                .and_then(parse_iso8601)
                .ok_or_else(|| format!("`{name}`"))
        };
        Ok(AuthorizationDoc {
            id: self.id.clone(),
            client_id: get(&self.client_id).unwrap_or_default(),
            client_credential_id: get(&self.client_credential_id).unwrap_or_default(),
            gpii_key: get(&self.gpii_key).unwrap_or_default(),
            access_token_hash: token_hash,
            created_ms: time(&self.timestamp_created, "timestampCreated").unwrap_or(0),
            expires_ms: time(&self.timestamp_expires, "timestampExpires")?,
            revoked: self.is_revoked(),
        })
    }

    /// A new authorization document for `a`.
    pub fn from_store(a: &AuthorizationDoc) -> Self {
        AuthorizationDocument {
            id: a.id.clone(),
            rev: None,
            doc_type: AuthorizationType::Tag,
            schema_version: Some(Value::from(SCHEMA_VERSION)),
            client_id: Some(Some(a.client_id.clone())),
            client_credential_id: Some(Some(a.client_credential_id.clone())),
            gpii_key: Some(Some(a.gpii_key.clone())),
            access_token: None,
            access_token_hash: Some(Some(a.access_token_hash.clone())),
            revoked: Some(Some(a.revoked)),
            revoked_reason: Some(None),
            timestamp_created: Some(Some(iso8601(a.created_ms))),
            timestamp_revoked: Some(None),
            timestamp_expires: Some(Some(iso8601(a.expires_ms))),
            rest: Map::new(),
        }
    }

    pub fn is_revoked(&self) -> bool {
        get(&self.revoked).unwrap_or(false)
    }

    pub fn access_token_hash(&self) -> Option<String> {
        get(&self.access_token_hash)
    }

    /// Marks it revoked at `now_ms` for `reason`, as GPII does.
    pub fn revoke(&mut self, now_ms: i64, reason: &str) {
        self.revoked = Some(Some(true));
        self.revoked_reason = Some(Some(reason.to_owned()));
        self.timestamp_revoked = Some(Some(iso8601(now_ms)));
    }
}

/// The `_id` prefix of the forget list's documents in a CouchDB database.
pub const FORGOTTEN_PREFIX: &str = "attune-forgotten-";

/// The `_id` prefix of the audit's documents in a CouchDB database.
pub const AUDIT_PREFIX: &str = "attune-audit-";

/// A row of the forget list as a CouchDB document (attune's own, not GPII's): `_id` is
/// [`FORGOTTEN_PREFIX`] and the key's hash, so two replicas forgetting one key write one
/// document (CouchDB refuses the second, 409). It holds the key's hash and fingerprint, never
/// the key. Its `type` is none of GPII's, so GPII's views (which all select on `type`, but
/// `findDocsBySchemaVersion`, which it is absent from: it has no `schemaVersion`) never see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgottenKeyDocument {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(rename = "type")]
    pub doc_type: ForgottenKeyType,
    pub key_hash: String,
    pub fingerprint: String,
    pub forgotten_ms: i64,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub purged_ms: Option<i64>,
}

impl ForgottenKeyDocument {
    pub fn id_for(key_hash: &str) -> String {
        format!("{FORGOTTEN_PREFIX}{key_hash}")
    }

    /// A new document for `row`.
    pub fn from_store(row: &ForgottenKey) -> Self {
        ForgottenKeyDocument {
            id: Self::id_for(&row.key_hash),
            rev: None,
            doc_type: ForgottenKeyType::Tag,
            key_hash: row.key_hash.clone(),
            fingerprint: row.fingerprint.clone(),
            forgotten_ms: row.forgotten_ms,
            reason: row.reason.clone(),
            purged_ms: row.purged_ms,
        }
    }

    pub fn to_store(&self) -> ForgottenKey {
        ForgottenKey {
            key_hash: self.key_hash.clone(),
            fingerprint: self.fingerprint.clone(),
            forgotten_ms: self.forgotten_ms,
            reason: self.reason.clone(),
            purged_ms: self.purged_ms,
        }
    }
}

/// An audit entry as a CouchDB document (attune's own): `_id` is [`AUDIT_PREFIX`], the time
/// (15 digits), a per-process sequence number and a random part, so ids sort in time order,
/// entries of one process in the order it wrote them, and two replicas never write one id.
/// Written once, never updated or deleted by attune. A fingerprint, never a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDocument {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(rename = "type")]
    pub doc_type: AuditEntryType,
    pub time_ms: i64,
    /// The time again, ISO 8601, for people reading the database.
    #[serde(default)]
    pub time: Option<String>,
    pub action: AuditAction,
    pub actor: String,
    #[serde(default)]
    pub key_fingerprint: Option<String>,
}

impl AuditEntryDocument {
    /// A new document for `e`; `seq` orders the entries one process writes in one millisecond.
    pub fn from_store(e: &AuditEntry, seq: u64, random: &str) -> Self {
        AuditEntryDocument {
            id: format!("{AUDIT_PREFIX}{:015}-{seq:010}-{random}", e.time_ms.max(0)),
            rev: None,
            doc_type: AuditEntryType::Tag,
            time_ms: e.time_ms,
            time: Some(iso8601(e.time_ms)),
            action: e.action,
            actor: e.actor.clone(),
            key_fingerprint: e.key_fingerprint.clone(),
        }
    }

    pub fn to_store(&self) -> AuditEntry {
        AuditEntry {
            time_ms: self.time_ms,
            action: self.action,
            actor: self.actor.clone(),
            key_fingerprint: self.key_fingerprint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_null_and_unknown_fields_survive_a_round_trip() {
        let doc = json!({"_id": "k", "_rev": "2-x", "type": "gpiiKey", "prefsSafeId": null,
            "revoked": false, "gpiiOwnField": {"a": [1, 2]}});
        let k: KeyDocument = read(&doc).unwrap();
        assert_eq!(k.prefs_safe_id, Some(None));
        assert_eq!(k.prefs_set_id, None);
        assert_eq!(write(&k), doc);
    }

    #[test]
    fn audit_ids_sort_by_time_then_by_the_order_one_process_wrote() {
        let e = |time_ms| AuditEntry {
            time_ms,
            action: AuditAction::Forget,
            actor: "admin".to_owned(),
            key_fingerprint: Some("0badf00d".to_owned()),
        };
        let ids: Vec<String> = [
            (5, 9, "ff"),
            (5, 10, "00"),
            (60, 0, "aa"),
            (1_700_000_000_000, 1, "00"),
        ]
        .iter()
        .map(|&(t, seq, r)| AuditEntryDocument::from_store(&e(t), seq, r).id)
        .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        let doc = write(&AuditEntryDocument::from_store(&e(5), 0, "ab"));
        assert_eq!(doc["type"], "attuneAuditEntry");
        assert_eq!(doc["action"], "forget");
        assert_eq!(read::<AuditEntryDocument>(&doc).unwrap().to_store(), e(5));
        let unknown = json!({"_id": "attune-audit-x", "type": "attuneAuditEntry", "timeMs": 1,
            "action": "rename", "actor": "admin"});
        assert!(read::<AuditEntryDocument>(&unknown).is_err());
    }

    #[test]
    fn a_forget_list_row_round_trips_without_the_key() {
        let row = ForgottenKey {
            key_hash: crate::store::key_hash("alice"),
            fingerprint: "fp".to_owned(),
            forgotten_ms: 10,
            reason: Some("asked to".to_owned()),
            purged_ms: None,
        };
        let doc = write(&ForgottenKeyDocument::from_store(&row));
        assert_eq!(doc["_id"], format!("attune-forgotten-{}", row.key_hash));
        assert_eq!(doc["type"], "attuneForgottenKey");
        assert!(!doc.to_string().contains("alice"), "{doc}");
        assert!(
            doc.get("schemaVersion").is_none(),
            "GPII's migrations would pick it up"
        );
        assert_eq!(read::<ForgottenKeyDocument>(&doc).unwrap().to_store(), row);
    }

    #[test]
    fn a_document_of_another_type_is_refused() {
        let e = read::<KeyDocument>(&json!({"_id": "k", "type": "prefsSafe"})).unwrap_err();
        assert!(e.contains("gpiiKey"), "{e}");
    }

    #[test]
    fn writing_over_a_stored_document_keeps_its_other_fields_and_drops_a_clear_secret() {
        let stored: CredentialDocument = read(&json!({"_id": "c", "_rev": "1-a",
            "type": "clientCredential", "oauth2ClientId": "site", "oauth2ClientSecret": "s",
            "gpiiNote": "kept"}))
        .unwrap();
        let c = stored.to_store().unwrap();
        assert!(SecretHash::parse(&c.oauth2_client_secret_hash).is_some_and(|h| h.matches("s")));
        let out = write(&CredentialDocument::from_store(&c, Some(stored)));
        assert_eq!(out["gpiiNote"], "kept");
        assert_eq!(out["_rev"], "1-a");
        assert!(out.get("oauth2ClientSecret").is_none(), "{out}");
        assert_eq!(out["allowedIPBlocks"], Value::Null);
    }
}

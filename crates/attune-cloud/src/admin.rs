//! What the admin commands do, as library functions (the binary only parses arguments).
//!
//! `load` accepts GPII's files unchanged: preference-set files (`testData/preferences/*.json5`,
//! file name = key) and `dbData` JSON arrays of documents (`clientCredentials.json`,
//! `gpiiAppInstallationClients.json`, `build/dbData/*/gpiiKeys.json`, `prefsSafes.json`).
//! Loading is idempotent: a document equal to the stored one (timestamps aside) is left alone.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use attune_model::key::Key;
use attune_model::prefs::PreferenceSet;

use crate::auth::{self, SecretHash};
use crate::clock::{iso8601, Clock};
use crate::store::document::{self, CredentialDocument, KeyDocument, SafeDocument};
use crate::store::{
    key_hash, AuditAction, AuditEntry, ClientCredentialDoc, ForgottenKey, GpiiKeyDoc, OtherDoc,
    PrefsSafeDoc, PrefsSafeType, Store, StoreError,
};

/// Why an admin command failed; each names the file or document concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("{path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("{path}: document {index} (`{id}`): {detail}")]
    Document {
        path: PathBuf,
        index: usize,
        id: String,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sqlite(#[from] crate::store::sqlite::SqliteError),
    #[error(transparent)]
    Couch(#[from] crate::store::couchdb::CouchError),
    #[error("{0}")]
    Usage(String),
}

fn file_err(path: &Path, detail: impl fmt::Display) -> AdminError {
    AdminError::File {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

/// What a load did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Files or documents deliberately not loaded, with the reason.
    pub skipped: Vec<String>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )?;
        for s in &self.skipped {
            write!(f, "\nskipped: {s}")?;
        }
        Ok(())
    }
}

/// What happened to one loaded item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Created,
    Updated,
    Unchanged,
}

impl LoadReport {
    fn count_kind(&mut self, o: OutcomeKind) {
        match o {
            OutcomeKind::Created => self.created += 1,
            OutcomeKind::Updated => self.updated += 1,
            OutcomeKind::Unchanged => self.unchanged += 1,
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AdminError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| file_err(dir, format!("cannot list the folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "json" || e == "json5")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Loads every `.json`/`.json5` file under `path` (a folder, or one file). Preference-set
/// files become keys with a preferences safe of type `as_type`; `dbData` arrays are loaded
/// document by document.
pub async fn load(
    store: &dyn Store,
    path: &Path,
    as_type: PrefsSafeType,
    clock: &dyn Clock,
) -> Result<LoadReport, AdminError> {
    let mut files = Vec::new();
    if path.is_dir() {
        files_under(path, &mut files)?;
    } else {
        files.push(path.to_owned());
    }
    let mut report = LoadReport::default();
    for file in files {
        let bytes =
            std::fs::read(&file).map_err(|e| file_err(&file, format!("cannot read: {e}")))?;
        let name = file.display().to_string();
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            file_err(
                &file,
                format!("not UTF-8 (bad byte at offset {})", e.valid_up_to()),
            )
        })?;
        let value = attune_model::parse_json5(text, &name).map_err(|e| file_err(&file, e))?;
        match value {
            Value::Array(docs) => {
                for (index, doc) in docs.iter().enumerate() {
                    load_document(store, &file, index, doc, clock, &mut report).await?;
                }
            }
            Value::Object(ref m) if m.contains_key("flat") => {
                let stem = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .ok_or_else(|| file_err(&file, "the file name is not UTF-8"))?;
                let key = Key::parse(stem)
                    .map_err(|e| file_err(&file, format!("the file name is not a usable key: {e}")))?;
                PreferenceSet::from_value_named(value.clone(), &name).map_err(|e| file_err(&file, e))?;
                let o = load_preferences(store, &key, value, as_type, clock).await?;
                report.count_kind(o);
            }
            _ => {
                return Err(file_err(
                    &file,
                    "neither a GPII preference set (an object with `flat`) nor a dbData array of documents",
                ))
            }
        }
    }
    Ok(report)
}

/// Creates or updates `key` with `preferences` (`{"flat": …}`) in `prefsSafe-<key>`.
pub async fn load_preferences(
    store: &dyn Store,
    key: &Key,
    preferences: Value,
    as_type: PrefsSafeType,
    clock: &dyn Clock,
) -> Result<OutcomeKind, AdminError> {
    let now = iso8601(clock.now_ms());
    let id = key.expose();
    let safe_id = format!("prefsSafe-{id}");
    let existing = store.find_prefs_by_key(id).await?;
    if let Some((k, Some(safe))) = &existing {
        if safe.preferences == preferences && safe.prefs_safe_type == as_type && !k.revoked {
            return Ok(OutcomeKind::Unchanged);
        }
        let rev = safe.rev;
        let doc = PrefsSafeDoc {
            prefs_safe_type: as_type,
            preferences,
            timestamp_updated: Some(now),
            ..safe.clone()
        };
        store.put_prefs_safe(doc, Some(rev)).await?;
        return Ok(OutcomeKind::Updated);
    }
    let key_doc = GpiiKeyDoc::new(id, &safe_id, &now);
    let safe = PrefsSafeDoc::new(safe_id, as_type, Some(id.to_owned()), preferences, now);
    store.create_prefs_for_key(key_doc, safe).await?;
    Ok(OutcomeKind::Created)
}

async fn load_document(
    store: &dyn Store,
    file: &Path,
    index: usize,
    doc: &Value,
    clock: &dyn Clock,
    report: &mut LoadReport,
) -> Result<(), AdminError> {
    let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default();
    let bad = |detail: String| AdminError::Document {
        path: file.to_owned(),
        index,
        id: id.to_owned(),
        detail,
    };
    if id.is_empty() {
        return Err(bad("no `_id`".to_owned()));
    }
    let Some(doc_type) = document::type_of(doc) else {
        report.skipped.push(format!(
            "{}: document `{id}` has no `type` (CouchDB design documents are not needed)",
            file.display()
        ));
        return Ok(());
    };
    let outcome = match doc_type {
        "gpiiKey" => {
            let new = document::read::<KeyDocument>(doc).map_err(bad)?.to_store();
            load_key(store, new).await?
        }
        "prefsSafe" => {
            let mut new = document::read::<SafeDocument>(doc)
                .and_then(|s| s.to_store())
                .map_err(bad)?;
            PreferenceSet::from_value_named(new.preferences.clone(), id)
                .map_err(|e| bad(e.to_string()))?;
            new.rev = 0;
            new.timestamp_created = new
                .timestamp_created
                .or_else(|| Some(iso8601(clock.now_ms())));
            load_safe(store, new).await?
        }
        "clientCredential" => {
            let c: CredentialDocument = document::read(doc).map_err(bad)?;
            let secret = c.oauth2_client_secret.clone().flatten();
            let secret = secret.ok_or_else(|| bad("no `oauth2ClientSecret`".to_owned()))?;
            if c.oauth2_client_id.clone().flatten().is_none() {
                return Err(bad("no `oauth2ClientId`".to_owned()));
            }
            load_credential(
                store,
                c.to_store_with(SecretHash::new(&secret).to_string()),
                &secret,
            )
            .await?
        }
        "gpiiAppInstallationAuthorization" => {
            report.skipped.push(format!(
                "{}: authorization `{id}` (access tokens are issued by this server, not imported)",
                file.display()
            ));
            return Ok(());
        }
        other => {
            let new = OtherDoc {
                id: id.to_owned(),
                doc_type: other.to_owned(),
                doc: doc.clone(),
            };
            let old = store.find_other_doc(id).await?;
            if old.as_ref() == Some(&new) {
                OutcomeKind::Unchanged
            } else {
                store.put_other_doc(new).await?;
                created_or_updated(old.is_some())
            }
        }
    };
    report.count_kind(outcome);
    Ok(())
}

fn created_or_updated(existed: bool) -> OutcomeKind {
    if existed {
        OutcomeKind::Updated
    } else {
        OutcomeKind::Created
    }
}

/// Stores a key unless the stored one already opens the same safe.
async fn load_key(store: &dyn Store, new: GpiiKeyDoc) -> Result<OutcomeKind, AdminError> {
    let old = store.find_gpii_key(&new.id).await?;
    let same = old.as_ref().is_some_and(|o| {
        o.prefs_safe_id == new.prefs_safe_id
            && o.prefs_set_id == new.prefs_set_id
            && o.revoked == new.revoked
    });
    if same {
        return Ok(OutcomeKind::Unchanged);
    }
    store.put_gpii_key(new).await?;
    Ok(created_or_updated(old.is_some()))
}

/// Stores a preferences safe unless the stored one holds the same (timestamps aside).
async fn load_safe(store: &dyn Store, new: PrefsSafeDoc) -> Result<OutcomeKind, AdminError> {
    match store.find_prefs_safe(&new.id).await? {
        Some(old)
            if old.preferences == new.preferences
                && old.prefs_safe_type == new.prefs_safe_type
                && old.name == new.name =>
        {
            Ok(OutcomeKind::Unchanged)
        }
        Some(old) => {
            store.put_prefs_safe(new, Some(old.rev)).await?;
            Ok(OutcomeKind::Updated)
        }
        None => {
            store.put_prefs_safe(new, None).await?;
            Ok(OutcomeKind::Created)
        }
    }
}

/// Stores a credential unless the stored one is the same; an unchanged `secret` keeps the
/// stored hash (a hash is salted, so hashing again would always look like a change).
async fn load_credential(
    store: &dyn Store,
    mut new: ClientCredentialDoc,
    secret: &str,
) -> Result<OutcomeKind, AdminError> {
    match store.find_client_credential(&new.oauth2_client_id).await? {
        Some(old) if old.id == new.id => {
            let same_secret = SecretHash::parse(&old.oauth2_client_secret_hash)
                .is_some_and(|h| h.matches(secret));
            if same_secret {
                new.oauth2_client_secret_hash = old.oauth2_client_secret_hash.clone();
            }
            if new == old {
                return Ok(OutcomeKind::Unchanged);
            }
            store.put_client_credential(new).await?;
            Ok(OutcomeKind::Updated)
        }
        _ => {
            store.put_client_credential(new).await?;
            Ok(OutcomeKind::Created)
        }
    }
}

/// GPII's empty preference set (`scripts/shared/prefsSetsDbUtils.js`), given to new keys.
pub fn empty_preferences() -> Value {
    json!({"flat": {"contexts": {"gpii-default": {"name": "Default preferences", "preferences": {}}}}})
}

/// Creates `count` new UUIDv4 keys, each with an empty user preference set, and writes them to
/// `out` as CSV (`key` header, one key per line) for card and USB-stick vendors. `out` must not
/// exist. Returns the keys.
pub async fn generate_keys(
    store: &dyn Store,
    count: usize,
    out: &Path,
    clock: &dyn Clock,
) -> Result<Vec<String>, AdminError> {
    // Owner-only: the list is every new key in clear.
    let mut file = crate::store::sqlite::private_file(out)
        .map_err(|e| file_err(out, format!("cannot create (it must not exist yet): {e}")))?;
    let mut keys = Vec::with_capacity(count);
    let mut csv = String::from("key\n");
    for _ in 0..count {
        let id = uuid::Uuid::new_v4().to_string();
        let key = Key::parse(&id).map_err(|e| AdminError::Usage(e.to_string()))?;
        load_preferences(store, &key, empty_preferences(), PrefsSafeType::User, clock).await?;
        csv.push_str(&id);
        csv.push('\n');
        keys.push(id);
    }
    file.write_all(csv.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_err(out, format!("cannot write: {e}")))?;
    Ok(keys)
}

/// The audit's actor for an admin command.
pub const ADMIN_ACTOR: &str = "admin";

/// The audit's actor for the server's own sweep.
pub const SERVER_ACTOR: &str = "server";

/// The audit's actor for a key's holder, through `DELETE /{key}` with the key's own token.
pub const KEY_HOLDER_ACTOR: &str = "key-holder";

/// Days a forgotten key's preferences are kept before they are deleted, unless told otherwise
/// (`--grace-days`).
pub const DEFAULT_GRACE_DAYS: u32 = 30;

/// Longest `--reason` kept in the forget list.
pub const MAX_REASON_LEN: usize = 200;

/// Forgets `key` at once: its tokens are revoked and it answers as an unknown key; its
/// preferences are deleted by [`purge_forgotten`] after the grace period. The forget list and
/// the audit name the key by its hash and fingerprint only. Forgetting a key twice keeps the
/// first time and reason.
pub async fn forget_key(
    store: &dyn Store,
    key: &Key,
    reason: Option<&str>,
    actor: &str,
    clock: &dyn Clock,
) -> Result<ForgottenKey, AdminError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason {
        if r.chars().count() > MAX_REASON_LEN || r.chars().any(char::is_control) {
            return Err(AdminError::Usage(format!(
                "--reason: at most {MAX_REASON_LEN} characters on one line"
            )));
        }
    }
    let now = clock.now_ms();
    let row = ForgottenKey {
        key_hash: key_hash(key.expose()),
        fingerprint: key.fingerprint(),
        forgotten_ms: now,
        reason: reason.map(str::to_owned),
        purged_ms: None,
    };
    store.forget_key(key.expose(), row.clone()).await?;
    audit(
        store,
        AuditAction::Forget,
        actor,
        Some(&row.fingerprint),
        clock,
    )
    .await?;
    Ok(row)
}

/// Deletes the keys forgotten at least `grace_days` ago, with their tokens and their own
/// preferences, and audits each. Returns what it purged.
pub async fn purge_forgotten(
    store: &dyn Store,
    grace_days: u32,
    actor: &str,
    clock: &dyn Clock,
) -> Result<Vec<ForgottenKey>, AdminError> {
    let now = clock.now_ms();
    let by = now.saturating_sub(i64::from(grace_days) * 86_400_000);
    let purged = store.purge_forgotten(by, now).await?;
    for row in &purged {
        audit(
            store,
            AuditAction::Purge,
            actor,
            Some(&row.fingerprint),
            clock,
        )
        .await?;
    }
    Ok(purged)
}

/// Appends one entry to the audit, at the clock's time.
pub async fn audit(
    store: &dyn Store,
    action: AuditAction,
    actor: &str,
    key_fingerprint: Option<&str>,
    clock: &dyn Clock,
) -> Result<(), StoreError> {
    let entry = AuditEntry {
        time_ms: clock.now_ms(),
        action,
        actor: actor.to_owned(),
        key_fingerprint: key_fingerprint.map(str::to_owned),
    };
    store.append_audit(entry).await
}

/// The audit as JSON lines (`attune-cloud audit`): `time` (ISO 8601, UTC), `action`, `actor`
/// and, for actions on a key, `keyFingerprint`.
pub async fn audit_lines(store: &dyn Store) -> Result<Vec<String>, AdminError> {
    Ok(store
        .audit()
        .await?
        .into_iter()
        .map(|e| {
            let mut line = json!({
                "time": iso8601(e.time_ms),
                "action": e.action.as_str(),
                "actor": e.actor,
            });
            if let (Some(fp), Some(m)) = (e.key_fingerprint, line.as_object_mut()) {
                m.insert("keyFingerprint".to_owned(), Value::from(fp));
            }
            line.to_string()
        })
        .collect())
}

/// What [`restore_sqlite`] did.
#[derive(Debug)]
pub struct RestoreReport {
    /// The restored store, open.
    pub store: crate::store::sqlite::SqliteStore,
    /// From the store it replaced: how many forget-list rows were applied again and how many
    /// audit entries were carried over; or why that store could not be read (it was broken or
    /// not there), in which case only the backup's own forget list holds.
    pub carried: Result<(usize, usize), String>,
    /// Tokens ended by the restore ([`end_every_token`]).
    pub tokens_ended: u64,
}

/// Ends every token in a store just restored from a backup. The backup holds the tokens granted
/// before it was taken, so without this a person keyed in before the backup keeps a token that
/// still works: their next save succeeds, nothing tells them anything happened, and the changes
/// the cloud accepted from them between the backup and the restore are gone for good (the chaos
/// run found it: docs/chaos.md). With every token ended, each person keyed in gets a 401 at
/// their next request, the stale-token case (docs/design.md §6.2), and their "log out and back
/// in" sends again every change of their session, the lost ones included.
pub async fn end_every_token(store: &dyn Store) -> Result<u64, AdminError> {
    // Expired before the end of time: all of them.
    Ok(store.purge_expired_authorizations(i64::MAX).await?)
}

/// Replaces the SQLite store at `path` by the verified backup `from`, and keeps what must
/// survive a restore from an older backup: the forget list of the store it replaces is applied
/// again (so a forgotten key, and preferences already purged, do not come back) and its audit
/// entries after the backup's are carried over. Audits the restore.
pub async fn restore_sqlite(
    path: &Path,
    from: &Path,
    clock: &dyn Clock,
) -> Result<RestoreReport, AdminError> {
    use crate::store::sqlite::{self, SqliteStore};
    // Read before the restore verifies anything: it moves this store aside.
    let before = if path.exists() {
        match SqliteStore::open_existing(path) {
            Ok(s) => match tokio::try_join!(s.forgotten_keys(), s.audit()) {
                Ok(both) => Ok(both),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        }
    } else {
        Err("there was no store".to_owned())
    };
    // `from` is checked in full before the store is touched.
    sqlite::restore(path, from)?;
    let store = SqliteStore::open_existing(path)?;
    let carried = match before {
        Ok((forgotten, entries)) => {
            let n_forgotten = forgotten.len();
            store.reapply_forgotten(forgotten).await?;
            let restored = store.audit().await?;
            // The audit is append-only, so the backup's is normally a prefix of the replaced
            // store's; when it is not (another history), every entry of the replaced one is kept.
            let later = if entries.starts_with(&restored) {
                entries.get(restored.len()..).unwrap_or_default().to_vec()
            } else {
                entries
            };
            let n_entries = later.len();
            for e in later {
                store.append_audit(e).await?;
            }
            Ok((n_forgotten, n_entries))
        }
        Err(why) => {
            store.reapply_forgotten(Vec::new()).await?;
            Err(why)
        }
    };
    let tokens_ended = end_every_token(&store).await?;
    audit(&store, AuditAction::Restore, ADMIN_ACTOR, None, clock).await?;
    Ok(RestoreReport {
        store,
        carried,
        tokens_ended,
    })
}

/// Replaces the CouchDB database of `store` by the verified backup `from`, keeping what must
/// survive a restore from an older backup (the replaced contents' forget list, applied again,
/// and their audit entries; [`crate::store::couchdb::CouchStore::restore_from`]), and ends
/// every token ([`end_every_token`]; how many, beside the report). Audits the restore.
pub async fn restore_couch(
    store: &crate::store::couchdb::CouchStore,
    from: &Path,
    clock: &dyn Clock,
) -> Result<(crate::store::couchdb::CouchRestore, u64), AdminError> {
    let r = store.restore_from(from, clock.now_ms()).await?;
    let tokens_ended = end_every_token(store).await?;
    audit(store, AuditAction::Restore, ADMIN_ACTOR, None, clock).await?;
    Ok((r, tokens_ended))
}

/// A new site credential: its secret (shown once) and the client's site-config snippet.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub client_id: String,
    pub client_secret: String,
    pub snippet: String,
}

/// Creates a client credential for a site. `site` becomes the OAuth2 client id; the secret is
/// 128 random bits, stored hashed, so this is the only time anyone sees it.
pub async fn create_credential(
    store: &dyn Store,
    site: &str,
    allowed_ip_blocks: Option<Vec<String>>,
    cloud_url: Option<&str>,
    clock: &dyn Clock,
) -> Result<NewCredential, AdminError> {
    if site.is_empty()
        || site.len() > 64
        || !site
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(AdminError::Usage(format!(
            "--site `{site}`: use 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    if site == DEV_CLIENT_ID {
        return Err(AdminError::Usage(format!(
            "--site `{site}` is the development credential of `serve --dev`; choose another name"
        )));
    }
    if store.find_client_credential(site).await?.is_some() {
        return Err(AdminError::Usage(format!(
            "a credential for site `{site}` exists already; choose another name"
        )));
    }
    let secret = auth::random_token();
    put_credential(store, site, &secret, allowed_ip_blocks, clock).await?;
    audit(
        store,
        AuditAction::CredentialsCreate,
        ADMIN_ACTOR,
        None,
        clock,
    )
    .await?;
    let snippet = format!(
        "# Attune site config for `{site}` (e.g. /etc/attune/site.toml). Keep the secret private.\n\
         profile = \"production\"\n\n[cloud]\nurl = \"{}\"\nclient_id = \"{site}\"\nclient_secret = \"{secret}\"\n",
        cloud_url.unwrap_or("https://cloud.example.org")
    );
    Ok(NewCredential {
        client_id: site.to_owned(),
        client_secret: secret,
        snippet,
    })
}

/// Writes the credential `site`/`secret` and its `gpiiAppInstallationClient`, replacing any
/// with the same id (used by `--dev` for the fixed development credential).
pub async fn put_credential(
    store: &dyn Store,
    site: &str,
    secret: &str,
    allowed_ip_blocks: Option<Vec<String>>,
    clock: &dyn Clock,
) -> Result<(), AdminError> {
    let now = iso8601(clock.now_ms());
    let client_id = format!("gpiiAppInstallationClient-{site}");
    store
        .put_other_doc(OtherDoc {
            id: client_id.clone(),
            doc_type: "gpiiAppInstallationClient".to_owned(),
            doc: json!({"_id": client_id, "type": "gpiiAppInstallationClient",
                "schemaVersion": crate::store::SCHEMA_VERSION, "name": site,
                "computerType": "public", "timestampCreated": now}),
        })
        .await?;
    store
        .put_client_credential(ClientCredentialDoc {
            id: format!("clientCredential-{site}"),
            client_id,
            oauth2_client_id: site.to_owned(),
            oauth2_client_secret_hash: SecretHash::new(secret).to_string(),
            allowed_ip_blocks,
            allowed_prefs_to_write: None,
            is_create_gpii_key_allowed: false,
            is_create_prefs_safe_allowed: false,
            revoked: false,
            timestamp_created: Some(now),
        })
        .await?;
    Ok(())
}

/// The client id of the development credential of `serve --dev`.
pub const DEV_CLIENT_ID: &str = "attune-dev";
/// Its secret: public (in the docs and the client's development profile), so the credential
/// must work only while `--dev` is given.
pub const DEV_CLIENT_SECRET: &str = "attune-dev-secret";

/// The development setup of `serve --dev`: the credential `attune-dev`/`attune-dev-secret`
/// and every bundled snapset (as read-only snapsets). Idempotent.
pub async fn load_dev_data(store: &dyn Store, clock: &dyn Clock) -> Result<LoadReport, AdminError> {
    put_credential(store, DEV_CLIENT_ID, DEV_CLIENT_SECRET, None, clock).await?;
    let mut report = LoadReport::default();
    for s in attune_model::bundled::snapsets() {
        let value = attune_model::parse_json5(s.text, s.file_name)
            .map_err(|e| AdminError::Usage(e.to_string()))?;
        let key = Key::parse(s.key)
            .map_err(|e| AdminError::Usage(format!("snapset {}: {e}", s.file_name)))?;
        let o = load_preferences(store, &key, value, PrefsSafeType::Snapset, clock).await?;
        report.count_kind(o);
    }
    Ok(report)
}

/// Revokes the development credential a `serve --dev` left in the store, if any: its secret
/// is public, so a server started without `--dev` on the same store must not accept it (nor
/// the tokens granted with it, which follow their credential). `serve --dev` writes it again.
/// Returns whether there was one to revoke.
pub async fn revoke_dev_credential(store: &dyn Store) -> Result<bool, AdminError> {
    match store.find_client_credential(DEV_CLIENT_ID).await? {
        Some(c) if !c.revoked => {
            store
                .put_client_credential(ClientCredentialDoc { revoked: true, ..c })
                .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
/// Verified backups in `dir` — files with their `.sha256` beside them, which `backup` writes
/// once the copy checks out, so a half-written copy never counts — newest first, with when each
/// was written. A folder that cannot be read has none.
pub fn verified_backups(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.ends_with(".sha256") && dir.join(format!("{name}.sha256")).is_file()
        })
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .collect();
    out.sort_by_key(|b| std::cmp::Reverse(b.1));
    out
}

/// The backups of `backups` (newest first) to delete: those older than `retention_days` at
/// `now`, except the newest, whatever its age (an old backup is better than none).
pub fn expired_backups(
    backups: &[(PathBuf, std::time::SystemTime)],
    retention_days: u32,
    now: std::time::SystemTime,
) -> Vec<PathBuf> {
    let keep = std::time::Duration::from_secs(u64::from(retention_days) * 86_400);
    backups
        .iter()
        .skip(1)
        .filter(|(_, at)| now.duration_since(*at).is_ok_and(|age| age > keep))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Deletes the verified backups in `dir` older than `retention_days` (each with its
/// `.sha256`), never the newest; returns what it deleted.
pub fn prune_backups(
    dir: &Path,
    retention_days: u32,
    now: std::time::SystemTime,
) -> Result<Vec<PathBuf>, AdminError> {
    let old = expired_backups(&verified_backups(dir), retention_days, now);
    for p in &old {
        let mut side = p.clone().into_os_string();
        side.push(".sha256");
        for f in [p.as_path(), Path::new(&side)] {
            std::fs::remove_file(f).map_err(|e| file_err(f, format!("cannot delete: {e}")))?;
        }
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_past_their_retention_go_but_never_the_newest() {
        use std::time::{Duration, SystemTime};
        let day = |n: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(n * 86_400);
        let now = day(100);
        let newest_first = |days: &[u64]| -> Vec<(PathBuf, SystemTime)> {
            days.iter()
                .map(|d| (PathBuf::from(format!("b{d}")), day(*d)))
                .collect()
        };
        let names = |v: Vec<PathBuf>| {
            v.into_iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        // 30 days kept: day 70 is exactly 30 days old and stays; 69 and 10 go.
        assert_eq!(
            names(expired_backups(&newest_first(&[99, 70, 69, 10]), 30, now)),
            ["b69", "b10"]
        );
        // The newest stays however old it is.
        assert_eq!(
            names(expired_backups(&newest_first(&[10, 5]), 30, now)),
            ["b5"]
        );
        assert!(expired_backups(&[], 30, now).is_empty());
    }
}

//! The behaviour every [`Store`] must have, as a test suite any store can run:
//! `contract::run_all(|| async { MyStore::new(...) }).await` from a `#[tokio::test]`.
//! Each check gets a fresh, empty store from the factory. A failed check panics with its name.

use std::future::Future;

use serde_json::json;

use super::{
    key_hash, AuditAction, AuditEntry, AuthorizationDoc, ClientCredentialDoc, ForgottenKey,
    GpiiKeyDoc, OtherDoc, PrefsSafeDoc, PrefsSafeType, Store, StoreError,
};

fn ok<T>(r: Result<T, StoreError>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("store contract: {what}: unexpected error: {e}"),
    }
}

/// A key document pointing at `prefsSafe-<id>`.
pub fn key_doc(id: &str) -> GpiiKeyDoc {
    GpiiKeyDoc::new(id, &format!("prefsSafe-{id}"), "2020-01-01T00:00:00.000Z")
}

/// A preferences safe with one common term.
pub fn safe_doc(id: &str, kind: PrefsSafeType, font_size: u32) -> PrefsSafeDoc {
    PrefsSafeDoc {
        id: id.to_owned(),
        prefs_safe_type: kind,
        name: Some(id.to_owned()),
        preferences: json!({"flat": {"contexts": {"gpii-default": {"name": "Default preferences",
            "preferences": {"http://registry.gpii.net/common/fontSize": font_size}}}}}),
        timestamp_created: None,
        timestamp_updated: None,
        rev: 0,
    }
}

pub fn credential_doc(id: &str, oauth2_id: &str) -> ClientCredentialDoc {
    ClientCredentialDoc {
        id: id.to_owned(),
        client_id: format!("client-{id}"),
        oauth2_client_id: oauth2_id.to_owned(),
        oauth2_client_secret_hash: "sha256:00:00".to_owned(),
        allowed_ip_blocks: Some(vec!["127.0.0.1/8".to_owned()]),
        allowed_prefs_to_write: Some(vec!["http://registry.gpii.net/common/fontSize".to_owned()]),
        is_create_gpii_key_allowed: false,
        is_create_prefs_safe_allowed: true,
        revoked: false,
        timestamp_created: None,
    }
}

pub fn authorization_doc(
    id: &str,
    credential_id: &str,
    token_hash: &str,
    expires_ms: i64,
) -> AuthorizationDoc {
    AuthorizationDoc {
        id: id.to_owned(),
        client_id: format!("client-{credential_id}"),
        client_credential_id: credential_id.to_owned(),
        gpii_key: "alice".to_owned(),
        access_token_hash: token_hash.to_owned(),
        created_ms: 0,
        expires_ms,
        revoked: false,
    }
}

/// Runs every check with a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    ping_answers(&make().await).await;
    missing_things_are_none(&make().await).await;
    key_and_safe_round_trip(&make().await).await;
    creating_a_safe_twice_is_refused(&make().await).await;
    stale_revision_is_a_conflict(&make().await).await;
    credentials_round_trip_and_are_unique(&make().await).await;
    grants_expire_and_follow_their_credential(&make().await).await;
    grants_named_after_their_hash_are_unique(&make().await).await;
    purge_removes_only_expired(&make().await).await;
    revoked_grants_are_gone_and_revoking_is_idempotent(&make().await).await;
    reads_together_answer_as_reads_apart(&make().await).await;
    other_documents_round_trip(&make().await).await;
    concurrent_updates_with_one_revision_let_exactly_one_win(make().await).await;
    forgetting_a_key_revokes_it_and_its_tokens_at_once(&make().await).await;
    forgetting_an_unknown_key_is_missing_and_records_nothing(&make().await).await;
    purging_deletes_only_due_keys_and_their_own_safe(&make().await).await;
    reapplying_a_forget_list_forgets_again(&make().await).await;
    the_audit_keeps_entries_in_order(&make().await).await;
}

/// A forget-list row for `key`, forgotten at `at_ms`.
pub fn forgotten(key: &str, at_ms: i64) -> ForgottenKey {
    ForgottenKey {
        key_hash: key_hash(key),
        fingerprint: format!("fp-{at_ms}"),
        forgotten_ms: at_ms,
        reason: Some("asked to".to_owned()),
        purged_ms: None,
    }
}

/// `alice` with her own safe and a live grant (`aa`), and `bob` with a grant (`bb`).
async fn alice_and_bob(s: &impl Store) {
    ok(
        s.create_prefs_for_key(
            key_doc("alice"),
            safe_doc("prefsSafe-alice", PrefsSafeType::User, 24),
        )
        .await,
        "create alice",
    );
    ok(s.put_gpii_key(key_doc("bob")).await, "put bob");
    credential_with_grants(s, &[("auth-a", "aa", 1000)]).await;
    let mut bobs = authorization_doc("auth-b", "cc-1", "bb", 1000);
    bobs.gpii_key = "bob".to_owned();
    ok(s.add_authorization(bobs).await, "add bob's grant");
}

pub async fn forgetting_a_key_revokes_it_and_its_tokens_at_once(s: &impl Store) {
    alice_and_bob(s).await;
    ok(
        s.forget_key("alice", forgotten("alice", 10)).await,
        "forget",
    );
    let k = ok(s.find_gpii_key("alice").await, "find key")
        .unwrap_or_else(|| panic!("store contract: a forgotten key is deleted only when purged"));
    assert!(k.revoked, "a forgotten key is revoked");
    assert_eq!(ok(s.find_grant("aa", 20).await, "alice's grant"), None);
    assert!(ok(s.find_grant("bb", 20).await, "bob's grant").is_some());
    assert!(
        ok(s.find_prefs_safe("prefsSafe-alice").await, "safe").is_some(),
        "the preferences stay for the grace period"
    );
    // Forgetting again keeps the first row.
    ok(s.forget_key("alice", forgotten("alice", 99)).await, "again");
    assert_eq!(
        ok(s.forgotten_keys().await, "list"),
        vec![forgotten("alice", 10)]
    );
}

pub async fn forgetting_an_unknown_key_is_missing_and_records_nothing(s: &impl Store) {
    let r = s.forget_key("nobody", forgotten("nobody", 10)).await;
    assert!(matches!(r, Err(StoreError::Missing { .. })), "{r:?}");
    assert_eq!(ok(s.forgotten_keys().await, "list"), vec![]);
}

pub async fn purging_deletes_only_due_keys_and_their_own_safe(s: &impl Store) {
    alice_and_bob(s).await;
    ok(
        s.put_prefs_safe(safe_doc("snapset-x", PrefsSafeType::Snapset, 30), None)
            .await,
        "put snapset",
    );
    let mut on_snapset = key_doc("snap");
    on_snapset.prefs_safe_id = Some("snapset-x".to_owned());
    ok(s.put_gpii_key(on_snapset).await, "put snapset key");
    ok(
        s.forget_key("alice", forgotten("alice", 10)).await,
        "forget alice",
    );
    ok(
        s.forget_key("snap", forgotten("snap", 10)).await,
        "forget snap",
    );
    ok(
        s.forget_key("bob", forgotten("bob", 50)).await,
        "forget bob",
    );

    let purged = ok(s.purge_forgotten(10, 100).await, "purge");
    assert_eq!(purged.len(), 2, "alice and snap are due, bob is not");
    assert!(purged.iter().all(|r| r.purged_ms == Some(100)));
    assert_eq!(ok(s.find_gpii_key("alice").await, "alice"), None);
    assert_eq!(ok(s.find_prefs_safe("prefsSafe-alice").await, "safe"), None);
    assert_eq!(ok(s.find_gpii_key("snap").await, "snap"), None);
    assert!(
        ok(s.find_prefs_safe("snapset-x").await, "snapset").is_some(),
        "a snapset is never purged"
    );
    assert!(ok(s.find_gpii_key("bob").await, "bob").is_some());
    assert_eq!(ok(s.purge_forgotten(10, 200).await, "again"), vec![]);
}

/// What a restore does: the rows of the store it replaced are applied to the older data again.
pub async fn reapplying_a_forget_list_forgets_again(s: &impl Store) {
    alice_and_bob(s).await;
    let purged = ForgottenKey {
        purged_ms: Some(40),
        ..forgotten("alice", 10)
    };
    let pending = forgotten("bob", 30);
    ok(
        s.reapply_forgotten(vec![purged.clone(), pending.clone()])
            .await,
        "reapply",
    );
    assert_eq!(ok(s.find_gpii_key("alice").await, "alice"), None);
    assert_eq!(ok(s.find_prefs_safe("prefsSafe-alice").await, "safe"), None);
    let bob = ok(s.find_gpii_key("bob").await, "bob")
        .unwrap_or_else(|| panic!("store contract: a key in its grace period stays"));
    assert!(bob.revoked);
    assert_eq!(ok(s.find_grant("bb", 20).await, "bob's grant"), None);
    assert_eq!(ok(s.forgotten_keys().await, "list"), vec![purged, pending]);
}

pub async fn the_audit_keeps_entries_in_order(s: &impl Store) {
    assert_eq!(ok(s.audit().await, "empty"), vec![]);
    let entries = [
        (AuditAction::Forget, Some("0badf00d")),
        (AuditAction::Backup, None),
        (AuditAction::Forget, Some("0badf00d")),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (action, fp))| AuditEntry {
        // The same time twice: the order is the order of writing, not of the clock.
        time_ms: 5 + (i as i64 / 2),
        action,
        actor: "admin".to_owned(),
        key_fingerprint: fp.map(str::to_owned),
    })
    .collect::<Vec<_>>();
    for e in &entries {
        ok(s.append_audit(e.clone()).await, "append");
    }
    assert_eq!(ok(s.audit().await, "read"), entries);
}

pub async fn ping_answers(s: &impl Store) {
    ok(s.ping().await, "ping");
}

pub async fn missing_things_are_none(s: &impl Store) {
    assert_eq!(ok(s.find_gpii_key("nobody").await, "find key"), None);
    assert_eq!(ok(s.find_prefs_by_key("nobody").await, "find prefs"), None);
    assert_eq!(
        ok(s.find_prefs_safe("prefsSafe-nobody").await, "find safe"),
        None
    );
    assert_eq!(
        ok(s.find_client_credential("nobody").await, "find credential"),
        None
    );
    assert_eq!(ok(s.find_grant("00", 0).await, "find grant"), None);
    assert_eq!(ok(s.find_other_doc("nobody").await, "find doc"), None);
}

pub async fn key_and_safe_round_trip(s: &impl Store) {
    let key = key_doc("alice");
    let safe = safe_doc("prefsSafe-alice", PrefsSafeType::User, 24);
    ok(
        s.create_prefs_for_key(key.clone(), safe.clone()).await,
        "create",
    );
    let (k, got) = ok(s.find_prefs_by_key("alice").await, "find prefs")
        .unwrap_or_else(|| panic!("store contract: the key just created is missing"));
    assert_eq!(k, key);
    let got = got.unwrap_or_else(|| panic!("store contract: the safe just created is missing"));
    assert_eq!(got.preferences, safe.preferences);
    assert_eq!(got.prefs_safe_type, PrefsSafeType::User);
    assert_eq!(got.rev, 1);
    assert_eq!(
        ok(s.find_gpii_key("alice").await, "find key"),
        Some(key.clone())
    );

    // A key without a safe is found with `None`.
    let mut bare = key_doc("bare");
    bare.prefs_safe_id = None;
    ok(s.put_gpii_key(bare.clone()).await, "put bare key");
    assert_eq!(
        ok(s.find_prefs_by_key("bare").await, "find bare"),
        Some((bare, None))
    );
}

pub async fn creating_a_safe_twice_is_refused(s: &impl Store) {
    let safe = safe_doc("prefsSafe-bob", PrefsSafeType::Snapset, 18);
    ok(
        s.create_prefs_for_key(key_doc("bob"), safe.clone()).await,
        "create",
    );
    let again = s.create_prefs_for_key(key_doc("bob"), safe.clone()).await;
    assert!(
        matches!(again, Err(StoreError::Exists { .. })),
        "second create: {again:?}"
    );
    let put = s.put_prefs_safe(safe, None).await;
    assert!(
        matches!(put, Err(StoreError::Exists { .. })),
        "put without revision: {put:?}"
    );
}

pub async fn stale_revision_is_a_conflict(s: &impl Store) {
    let mut safe = safe_doc("prefsSafe-carol", PrefsSafeType::User, 12);
    assert_eq!(ok(s.put_prefs_safe(safe.clone(), None).await, "create"), 1);
    safe.preferences = json!({"flat": {"contexts": {}}});
    assert_eq!(
        ok(s.put_prefs_safe(safe.clone(), Some(1)).await, "update"),
        2
    );
    let stale = s.put_prefs_safe(safe.clone(), Some(1)).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { expected: 1, .. })),
        "{stale:?}"
    );
    let got = ok(s.find_prefs_safe("prefsSafe-carol").await, "find")
        .unwrap_or_else(|| panic!("store contract: safe missing"));
    assert_eq!(got.rev, 2);
    assert_eq!(got.preferences, safe.preferences);
    let mut ghost = safe.clone();
    ghost.id = "prefsSafe-ghost".to_owned();
    let missing = s.put_prefs_safe(ghost, Some(1)).await;
    assert!(
        matches!(missing, Err(StoreError::Missing { .. })),
        "{missing:?}"
    );
}

pub async fn credentials_round_trip_and_are_unique(s: &impl Store) {
    let cred = credential_doc("cc-1", "site-a");
    ok(s.put_client_credential(cred.clone()).await, "put");
    assert_eq!(
        ok(s.find_client_credential("site-a").await, "find"),
        Some(cred.clone())
    );
    let mut replaced = cred.clone();
    replaced.allowed_ip_blocks = None;
    ok(s.put_client_credential(replaced.clone()).await, "replace");
    assert_eq!(
        ok(s.find_client_credential("site-a").await, "find"),
        Some(replaced)
    );
    let clash = s
        .put_client_credential(credential_doc("cc-2", "site-a"))
        .await;
    assert!(matches!(clash, Err(StoreError::Exists { .. })), "{clash:?}");
}

/// Puts the credential `cc-1` (site `site-a`) and, for it, an authorization per
/// `(id, token hash, expiry)`; returns the credential.
async fn credential_with_grants(
    s: &impl Store,
    grants: &[(&str, &str, i64)],
) -> ClientCredentialDoc {
    let cred = credential_doc("cc-1", "site-a");
    ok(
        s.put_client_credential(cred.clone()).await,
        "put credential",
    );
    for (id, hash, expires_ms) in grants {
        let doc = authorization_doc(id, "cc-1", hash, *expires_ms);
        ok(s.add_authorization(doc).await, &format!("add `{id}`"));
    }
    cred
}

pub async fn grants_expire_and_follow_their_credential(s: &impl Store) {
    let cred = credential_with_grants(s, &[("auth-1", "aa", 1000)]).await;
    let dup = s
        .add_authorization(authorization_doc("auth-2", "cc-1", "aa", 1000))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Exists { .. })),
        "same token hash twice: {dup:?}"
    );
    let g = ok(s.find_grant("aa", 999).await, "find live")
        .unwrap_or_else(|| panic!("store contract: live grant missing"));
    assert_eq!(g.authorization.gpii_key, "alice");
    assert_eq!(g.allowed_prefs_to_write, cred.allowed_prefs_to_write);
    assert_eq!(ok(s.find_grant("aa", 1000).await, "at expiry"), None);
    assert_eq!(ok(s.find_grant("bb", 0).await, "other hash"), None);
    let mut revoked = cred;
    revoked.revoked = true;
    ok(s.put_client_credential(revoked).await, "revoke");
    assert_eq!(ok(s.find_grant("aa", 0).await, "revoked credential"), None);
}

/// As the API writes them: the id is [`super::authorization_id`] of the hash.
pub async fn grants_named_after_their_hash_are_unique(s: &impl Store) {
    let id = super::authorization_id("cafe");
    credential_with_grants(s, &[(&id, "cafe", 1000)]).await;
    let dup = s
        .add_authorization(authorization_doc(&id, "cc-1", "cafe", 2000))
        .await;
    assert!(matches!(dup, Err(StoreError::Exists { .. })), "{dup:?}");
    let g = ok(s.find_grant("cafe", 999).await, "find")
        .unwrap_or_else(|| panic!("store contract: grant named after its hash missing"));
    assert_eq!(g.authorization.id, id);
    assert_eq!(g.authorization.expires_ms, 1000);
    assert_eq!(ok(s.find_grant("cafe", 1000).await, "at expiry"), None);
}

/// `find_credential_and_key` and `find_grant_and_prefs` answer what the reads they stand for
/// answer, found or not.
pub async fn reads_together_answer_as_reads_apart(s: &impl Store) {
    credential_with_grants(s, &[("a1", "h1", 1000)]).await;
    ok(
        s.create_prefs_for_key(
            key_doc("alice"),
            safe_doc("prefsSafe-alice", PrefsSafeType::User, 22),
        )
        .await,
        "create",
    );
    for (client, key) in [("site-a", "alice"), ("site-a", "bob"), ("nobody", "alice")] {
        assert_eq!(
            ok(
                s.find_credential_and_key(client, key).await,
                "credential and key"
            ),
            (
                ok(s.find_client_credential(client).await, "credential"),
                ok(s.find_gpii_key(key).await, "key")
            ),
            "store contract: {client} {key}"
        );
    }
    for (hash, key, now) in [
        ("h1", "alice", 999),
        ("h1", "bob", 999),
        ("h1", "alice", 1000),
    ] {
        assert_eq!(
            ok(
                s.find_grant_and_prefs(hash, key, now).await,
                "grant and prefs"
            ),
            (
                ok(s.find_grant(hash, now).await, "grant"),
                ok(s.find_prefs_by_key(key).await, "prefs")
            ),
            "store contract: {hash} {key} at {now}"
        );
    }
    assert!(ok(s.find_grant_and_prefs("h1", "alice", 999).await, "both")
        .0
        .is_some());
}

pub async fn purge_removes_only_expired(s: &impl Store) {
    credential_with_grants(s, &[("a1", "h1", 100), ("a2", "h2", 200)]).await;
    assert_eq!(ok(s.purge_expired_authorizations(150).await, "purge"), 1);
    assert_eq!(
        ok(s.purge_expired_authorizations(150).await, "purge again"),
        0
    );
    assert!(ok(s.find_grant("h2", 150).await, "survivor").is_some());
}

pub async fn other_documents_round_trip(s: &impl Store) {
    let doc = OtherDoc {
        id: "gpiiAppInstallationClient-1".to_owned(),
        doc_type: "gpiiAppInstallationClient".to_owned(),
        doc: json!({"_id": "gpiiAppInstallationClient-1", "type": "gpiiAppInstallationClient",
            "name": "Pilot Computers", "computerType": "public"}),
    };
    ok(s.put_other_doc(doc.clone()).await, "put");
    assert_eq!(ok(s.find_other_doc(&doc.id).await, "find"), Some(doc));
}

/// `POST /access_token/revoke`: the grant is gone at once, others stay, and revoking again (or
/// revoking a token nobody issued) is not an error.
pub async fn revoked_grants_are_gone_and_revoking_is_idempotent(s: &impl Store) {
    let named_after_its_hash = super::authorization_id("beef");
    credential_with_grants(
        s,
        &[
            (&named_after_its_hash, "beef", 1000),
            ("auth-other", "f00d", 1000),
            ("auth-kept", "d00d", 1000),
        ],
    )
    .await;
    assert_eq!(ok(s.revoke_authorization("beef", 10).await, "revoke"), 1);
    assert_eq!(ok(s.revoke_authorization("f00d", 10).await, "revoke"), 1);
    assert_eq!(ok(s.find_grant("beef", 20).await, "revoked"), None);
    assert_eq!(ok(s.find_grant("f00d", 20).await, "revoked"), None);
    assert!(ok(s.find_grant("d00d", 20).await, "kept").is_some());
    assert_eq!(ok(s.revoke_authorization("beef", 30).await, "again"), 0);
    assert_eq!(ok(s.revoke_authorization("0000", 30).await, "unknown"), 0);
}

/// Eight writers holding the same revision: exactly one wins, and the revision moves by one.
pub async fn concurrent_updates_with_one_revision_let_exactly_one_win(s: impl Store) {
    let s = std::sync::Arc::new(s);
    let safe = safe_doc("prefsSafe-x", PrefsSafeType::User, 1);
    ok(s.put_prefs_safe(safe, None).await, "put safe");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            let doc = safe_doc("prefsSafe-x", PrefsSafeType::User, 100 + i);
            tokio::spawn(async move { s.put_prefs_safe(doc, Some(1)).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await {
            Ok(r) => wins += usize::from(r.is_ok()),
            Err(e) => panic!("store contract: concurrent writer: {e}"),
        }
    }
    assert_eq!(
        wins, 1,
        "store contract: concurrent writers with one revision"
    );
    let found = ok(s.find_prefs_safe("prefsSafe-x").await, "find safe");
    assert_eq!(
        found.map(|d| d.rev),
        Some(2),
        "store contract: revision after the race"
    );
}

//! Contract tests of every route and error case, over real HTTP on 127.0.0.1:0. Expected
//! bodies are GPII's (GPII/universal flowManager, gpii-oauth2, preferencesServer, and their
//! tests in `tests/shared/FlowManagerSettings{Get,Put}TestDefs.js`).

use std::sync::Arc;

use attune_cloud::api::Limits;
use attune_cloud::auth::LimitPolicy;
use attune_cloud::store::{Store, StoreError, StoreFuture};
use serde_json::{json, Value};

use crate::common::{
    parts, password_grant, send_as, serve_store, Cloud, DEV_ID, DEV_SECRET, GNOME_DEVICE,
};

const UNAUTHORIZED: &str = r#"{"isError":true,"message":"Unauthorized"}"#;

fn unauthorized() -> Value {
    serde_json::from_str(UNAUTHORIZED).unwrap()
}

/// Limits with this per-address policy for failed grants.
fn per_address(burst: f64, per_second: f64) -> Limits {
    Limits {
        per_address: LimitPolicy { burst, per_second },
        ..Limits::default()
    }
}

/// Limits with this per-client policy for failed grants.
fn per_client(burst: f64, per_second: f64) -> Limits {
    Limits {
        per_client: LimitPolicy { burst, per_second },
        ..Limits::default()
    }
}

/// The status of a password grant for `key` as client `id`.
async fn grant_status(c: &Cloud, id: &str, secret: &str, key: &str) -> u16 {
    c.token_form(&password_grant(id, secret, key))
        .await
        .status()
        .as_u16()
}

/// Status, API header and body of a PUT of `body` for `key`.
async fn put_parts(
    c: &Cloud,
    key: &str,
    body: &Value,
    token: Option<&str>,
) -> (u16, Option<String>, Value) {
    parts(c.put_settings(key, body, token).await).await
}

/// The status of a PUT of `body` for `key`.
async fn put_status(c: &Cloud, key: &str, body: &Value, token: Option<&str>) -> u16 {
    c.put_settings(key, body, token).await.status().as_u16()
}

/// Status, API header and body of a password grant for `key` as client `id`.
async fn grant_parts(c: &Cloud, id: &str, secret: &str, key: &str) -> (u16, Option<String>, Value) {
    parts(c.token_form(&password_grant(id, secret, key)).await).await
}

#[tokio::test]
async fn health_version_and_ready_answer_with_the_api_header() {
    let c = Cloud::start().await;
    let (s, api, body) = parts(c.http.get(c.url("/health")).send().await.unwrap()).await;
    assert_eq!(
        (s, api.as_deref(), body),
        (200, Some("1.0"), json!({"isHealthy": true}))
    );
    let (s, _, body) = parts(c.http.get(c.url("/ready")).send().await.unwrap()).await;
    assert_eq!((s, body), (200, json!({"isReady": true})));
    let (s, _, body) = parts(c.http.get(c.url("/version")).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(body["api"], "1.0");
    assert_eq!(body["schemaVersion"], "0.2");
    assert!(body["server"]
        .as_str()
        .unwrap()
        .starts_with("attune-cloud/"));
    c.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_in_gpii_shape_with_the_api_header() {
    let c = Cloud::start().await;
    let (s, api, body) = parts(
        c.http
            .get(c.url("/no/such/thing/here"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, api.as_deref()), (404, Some("1.0")));
    assert_eq!(body["isError"], true);
    c.stop().await;
}

#[tokio::test]
async fn a_form_grant_answers_gpii_token_shape_without_caching() {
    let c = Cloud::start().await;
    let r = c
        .token_form(&password_grant(DEV_ID, DEV_SECRET, "large_text"))
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (s, _, body) = parts(r).await;
    assert_eq!(s, 200);
    assert_eq!(body["expiresIn"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body.as_object().unwrap().len(), 3);
    c.stop().await;
}

#[tokio::test]
async fn a_json_grant_works_and_every_grant_is_a_new_token() {
    let c = Cloud::start().await;
    let body = json!({"grant_type": "password", "client_id": DEV_ID, "client_secret": DEV_SECRET,
        "username": "large_text", "password": "x"});
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (s, _, b) = parts(
            c.http
                .post(c.url("/access_token"))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200);
        tokens.push(b["access_token"].as_str().unwrap().to_owned());
    }
    assert_ne!(tokens[0], tokens[1]);
    // Both stay valid.
    for t in &tokens {
        assert_eq!(
            c.get_settings("large_text", GNOME_DEVICE, Some(t))
                .await
                .status(),
            200
        );
    }
    c.stop().await;
}

#[tokio::test]
async fn no_client_credentials_is_plain_text_unauthorized() {
    let c = Cloud::start().await;
    let r = c
        .token_form(&[
            ("grant_type", "password"),
            ("username", "large_text"),
            ("password", "x"),
        ])
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "Unauthorized");
    // A body that is neither JSON nor a form carries no credentials either.
    let r = c
        .http
        .post(c.url("/access_token"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "Unauthorized");
    c.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_or_unknown_client_is_an_oauth_401() {
    let c = Cloud::start().await;
    let expected = json!({"error": "server_error", "error_description": "Unauthorized"});
    for (id, secret) in [(DEV_ID, "wrong"), ("nobody", "x")] {
        let (s, _, body) = grant_parts(&c, id, secret, "large_text").await;
        assert_eq!((s, body), (401, expected.clone()), "{id}");
    }
    c.stop().await;
}

#[tokio::test]
async fn an_unknown_grant_type_is_501_as_in_gpii() {
    let c = Cloud::start().await;
    let mut fields = password_grant(DEV_ID, DEV_SECRET, "large_text");
    fields[0].1 = "client_credentials";
    let (s, _, body) = parts(c.token_form(&fields).await).await;
    assert_eq!(s, 501);
    assert_eq!(
        body,
        json!({"error": "unsupported_grant_type",
        "error_description": "Unsupported grant type: client_credentials"})
    );
    let (s, _, body) = parts(c.token_form(&fields[1..]).await).await;
    assert_eq!(s, 501);
    assert_eq!(
        body["error_description"],
        "Unsupported grant type: undefined"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_missing_username_or_password_is_400_invalid_request() {
    let c = Cloud::start().await;
    let fields = password_grant(DEV_ID, DEV_SECRET, "large_text");
    let no_user: Vec<_> = fields
        .iter()
        .copied()
        .filter(|(k, _)| *k != "username")
        .collect();
    let (s, _, body) = parts(c.token_form(&no_user).await).await;
    assert_eq!(
        (s, body),
        (
            400,
            json!({"error": "invalid_request",
        "error_description": "Missing required parameter: username"})
        )
    );
    let no_pass: Vec<_> = fields
        .iter()
        .copied()
        .filter(|(k, _)| *k != "password")
        .collect();
    let (s, _, body) = parts(c.token_form(&no_pass).await).await;
    assert_eq!(
        (s, body["error_description"].as_str()),
        (400, Some("Missing required parameter: password"))
    );
    c.stop().await;
}

#[tokio::test]
async fn an_unknown_key_gets_no_token_unless_the_client_may_create_keys() {
    let c = Cloud::start().await;
    let (s, _, body) = grant_parts(&c, "site-a", "site-a-secret", "no-such-key").await;
    assert_eq!(
        (s, body),
        (
            401,
            json!({"error": "server_error", "error_description": "Unauthorized"})
        )
    );
    let (s, _, _) = grant_parts(&c, "creator", "creator-secret", "no-such-key").await;
    assert_eq!(s, 200);
    c.stop().await;
}

#[tokio::test]
async fn an_address_outside_the_allow_list_gets_no_token() {
    let c = Cloud::start().await;
    let (s, _, body) = grant_parts(&c, "far-away", "far-away-secret", "large_text").await;
    assert_eq!(
        (s, body["error_description"].as_str()),
        (401, Some("Unauthorized"))
    );
    // The creator credential lists 127.0.0.1/8.
    assert_eq!(
        grant_status(&c, "creator", "creator-secret", "alice").await,
        200
    );
    c.stop().await;
}

#[tokio::test]
async fn failed_grants_from_one_address_are_rate_limited_until_time_passes() {
    let c = Cloud::start_with(per_address(3.0, 0.1)).await;
    for _ in 0..3 {
        assert_eq!(grant_status(&c, DEV_ID, DEV_SECRET, "guess").await, 401);
    }
    let r = c
        .token_form(&password_grant(DEV_ID, DEV_SECRET, "large_text"))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "10");
    assert_eq!(r.headers()["x-attune-api"], "1.0");
    let (_, _, body) = parts(r).await;
    assert_eq!(body["isError"], true);
    c.clock.advance_ms(10_000);
    assert_eq!(
        grant_status(&c, DEV_ID, DEV_SECRET, "large_text").await,
        200
    );
    c.stop().await;
}

#[tokio::test]
async fn failed_grants_of_one_client_limit_that_client_only() {
    let c = Cloud::start_with(per_client(2.0, 0.5)).await;
    for _ in 0..2 {
        assert_eq!(
            grant_status(&c, "site-a", "site-a-secret", "guess").await,
            401
        );
    }
    assert_eq!(
        grant_status(&c, "site-a", "site-a-secret", "large_text").await,
        429
    );
    assert_eq!(
        grant_status(&c, DEV_ID, DEV_SECRET, "large_text").await,
        200
    );
    c.stop().await;
}

#[tokio::test]
async fn wrong_secrets_of_one_client_never_refuse_another_clients_correct_credential() {
    let c = Cloud::start().await;
    // The default burst (10), from this one address, as behind a reverse proxy.
    for _ in 0..10 {
        assert_eq!(
            grant_status(&c, "site-a", "not-the-secret", "large_text").await,
            401
        );
    }
    assert_eq!(
        grant_status(&c, "site-a", "site-a-secret", "large_text").await,
        429,
        "the guessed client itself is limited from this address"
    );
    assert_eq!(
        grant_status(&c, DEV_ID, DEV_SECRET, "large_text").await,
        200,
        "another site from the same address"
    );
    c.stop().await;
}

#[tokio::test]
async fn made_up_client_ids_share_one_limit_per_address() {
    let c = Cloud::start_with(per_address(3.0, 0.1)).await;
    for i in 0..3 {
        let id = format!("nobody-{i}");
        assert_eq!(grant_status(&c, &id, "x", "large_text").await, 401);
    }
    assert_eq!(grant_status(&c, "nobody-99", "x", "large_text").await, 429);
    assert_eq!(
        grant_status(&c, DEV_ID, DEV_SECRET, "large_text").await,
        200
    );
    c.stop().await;
}

async fn token_via(c: &Cloud, forwarded_for: &str, fields: &[(&str, &str)]) -> u16 {
    c.http
        .post(c.url("/access_token"))
        .header("x-forwarded-for", forwarded_for)
        .form(fields)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_address_has_its_own_limit() {
    let c = Cloud::start_with(Limits {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..per_address(2.0, 0.1)
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            token_via(
                &c,
                "198.51.100.1",
                &password_grant(DEV_ID, "wrong", "large_text")
            )
            .await,
            401
        );
    }
    let good = password_grant(DEV_ID, DEV_SECRET, "large_text");
    assert_eq!(token_via(&c, "198.51.100.1", &good).await, 429);
    assert_eq!(token_via(&c, "198.51.100.2", &good).await, 200);
    // What the client wrote left of the proxy's hop is not believed.
    assert_eq!(
        token_via(&c, "198.51.100.9, 198.51.100.1", &good).await,
        429
    );
    // allowedIPBlocks sees the client's address too (far-away allows 192.0.2.0/24 only).
    let far = password_grant("far-away", "far-away-secret", "large_text");
    assert_eq!(token_via(&c, "192.0.2.7", &far).await, 200);
    c.stop().await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let c = Cloud::start_with(per_address(2.0, 0.1)).await;
    for i in 0..2 {
        let spoofed = format!("198.51.100.{i}");
        assert_eq!(
            token_via(&c, &spoofed, &password_grant(DEV_ID, "wrong", "large_text")).await,
            401
        );
    }
    let good = password_grant(DEV_ID, DEV_SECRET, "large_text");
    assert_eq!(token_via(&c, "198.51.100.50", &good).await, 429);
    let far = password_grant("far-away", "far-away-secret", "large_text");
    assert_eq!(token_via(&c, "192.0.2.7", &far).await, 401);
    c.stop().await;
}

#[tokio::test]
async fn settings_of_a_snapset_have_gpii_shape() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    let (s, api, body) = parts(c.get_settings("large_text", GNOME_DEVICE, Some(&t)).await).await;
    assert_eq!((s, api.as_deref()), (200, Some("1.0")));
    assert_eq!(body["gpiiKey"], "large_text");
    assert_eq!(
        body["preferences"]["contexts"]["gpii-default"]["preferences"]
            ["http://registry.gpii.net/common/fontSize"],
        18
    );
    assert!(body["solutionsRegistryEntries"]["org.gnome.desktop.interface"].is_object());
    assert!(
        body["solutionsRegistryEntries"]["org.gnome.orca"].is_null(),
        "only reported solutions"
    );
    let app = &body["matchMakerOutput"]["inferredConfiguration"]["gpii-default"]["applications"]
        ["org.gnome.desktop.interface"];
    assert_eq!(app["active"], true);
    assert_eq!(
        app["settings"]["http://registry.gpii.net/common/fontSize"],
        18
    );
    c.stop().await;
}

#[tokio::test]
async fn settings_without_a_valid_token_for_that_key_are_401() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    for (key, token) in [
        ("large_text", None),
        ("large_text", Some("0123456789abcdef0123456789abcdef")),
        ("high_contrast", Some(t.as_str())),
    ] {
        let (s, _, body) = parts(c.get_settings(key, GNOME_DEVICE, token).await).await;
        assert_eq!((s, body), (401, unauthorized()), "{key} {token:?}");
    }
    let r = c
        .http
        .get(c.url("/large_text/settings/%7B%7D"))
        .header("authorization", format!("Basic {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    c.stop().await;
}

#[tokio::test]
async fn a_token_lives_3600_seconds() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    c.clock.advance_ms(3_599_000);
    assert_eq!(
        c.get_settings("large_text", GNOME_DEVICE, Some(&t))
            .await
            .status(),
        200
    );
    c.clock.advance_ms(1_000);
    let (s, _, body) = parts(c.get_settings("large_text", GNOME_DEVICE, Some(&t)).await).await;
    assert_eq!((s, body), (401, unauthorized()));
    c.stop().await;
}

async fn revoke(c: &Cloud, bearer: Option<&str>) -> reqwest::Response {
    send_as(c.http.post(c.url("/access_token/revoke")), bearer).await
}

#[tokio::test]
async fn a_revoked_token_is_401_at_once_and_revoking_is_idempotent() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    let other = c.token("alice").await;
    assert_eq!(
        c.get_settings("alice", GNOME_DEVICE, Some(&t))
            .await
            .status(),
        200
    );

    let r = revoke(&c, Some(&t)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-attune-api"], "1.0");
    assert!(r.text().await.unwrap().is_empty());

    let (s, _, body) = parts(c.get_settings("alice", GNOME_DEVICE, Some(&t)).await).await;
    assert_eq!((s, body), (401, unauthorized()));
    assert_eq!(
        put_status(&c, "alice", &font_size_body(30.0), Some(&t)).await,
        401
    );
    assert_eq!(
        c.get_settings("alice", GNOME_DEVICE, Some(&other))
            .await
            .status(),
        200,
        "another token of the same key stays valid"
    );
    assert_eq!(revoke(&c, Some(&t)).await.status(), 204, "again");
    assert_eq!(
        revoke(&c, Some("0123456789abcdef0123456789abcdef"))
            .await
            .status(),
        204,
        "a token nobody issued"
    );
    c.stop().await;
}

#[tokio::test]
async fn revoking_without_a_bearer_token_is_401_in_gpii_shape() {
    let c = Cloud::start().await;
    let (s, api, body) = parts(revoke(&c, None).await).await;
    assert_eq!(
        (s, api.as_deref(), body),
        (401, Some("1.0"), unauthorized())
    );
    let r = c
        .http
        .post(c.url("/access_token/revoke"))
        .basic_auth(DEV_ID, Some(DEV_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    c.stop().await;
}

#[tokio::test]
async fn an_unparsable_device_is_400_with_gpiis_message() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    let (s, _, body) = parts(c.get_settings("large_text", "{not json", Some(&t)).await).await;
    assert_eq!(s, 400);
    assert_eq!(body["isError"], true);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Cloud based flow manager requires device information - failed to parse"));
    c.stop().await;
}

#[tokio::test]
async fn a_key_without_preferences_gets_an_empty_answer() {
    let c = Cloud::start().await;
    let t = c.token_as("creator", "creator-secret", "brand-new").await;
    let (s, _, body) = parts(c.get_settings("brand-new", GNOME_DEVICE, Some(&t)).await).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["matchMakerOutput"],
        json!({"inferredConfiguration": {}})
    );
    c.stop().await;
}

fn font_size_body(size: f64) -> Value {
    json!({"contexts": {"gpii-default": {"name": "Default preferences", "preferences": {
        "http://registry.gpii.net/common/fontSize": size}}}})
}

#[tokio::test]
async fn put_merges_into_a_user_set_and_answers_gpiis_message() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    // An answer computed (and cached) before the PUT must not be served after it.
    let (_, _, before) = parts(c.get_settings("alice", GNOME_DEVICE, Some(&t)).await).await;
    assert_eq!(
        before["preferences"]["contexts"]["gpii-default"]["preferences"]
            ["http://registry.gpii.net/common/fontSize"],
        24
    );
    let (s, _, body) = put_parts(&c, "alice", &font_size_body(30.0), Some(&t)).await;
    assert_eq!(
        (s, body),
        (
            200,
            json!({"gpiiKey": "alice", "message": "Successfully updated."})
        )
    );
    let (_, safe) = c.store.find_prefs_by_key("alice").await.unwrap().unwrap();
    let prefs = &safe.unwrap().preferences["flat"]["contexts"]["gpii-default"]["preferences"];
    assert_eq!(prefs["http://registry.gpii.net/common/fontSize"], 30.0);
    assert_eq!(
        prefs["http://registry.gpii.net/common/cursorSize"], 0.5,
        "kept by the merge"
    );
    let (_, _, got) = parts(c.get_settings("alice", GNOME_DEVICE, Some(&t)).await).await;
    assert_eq!(
        got["preferences"]["contexts"]["gpii-default"]["preferences"]
            ["http://registry.gpii.net/common/fontSize"],
        30
    );
    c.stop().await;
}

/// A valid PUT body of `terms` new terms (`batch` makes them distinct) of about 1 kB each.
fn filler_body(batch: usize, terms: usize) -> Value {
    let filler = "x".repeat(1000);
    let prefs: serde_json::Map<String, Value> = (0..terms)
        .map(|i| {
            (
                format!("http://example.org/filler/{batch}/{i}"),
                Value::from(filler.clone()),
            )
        })
        .collect();
    json!({"contexts": {"gpii-default": {"name": "Default preferences", "preferences": prefs}}})
}

fn hundred_kb_body(batch: usize) -> Value {
    filler_body(batch, 100)
}

#[tokio::test]
async fn a_put_that_would_grow_the_stored_set_past_256_kib_is_413_and_saves_nothing() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    for batch in 0..2 {
        assert_eq!(
            put_status(&c, "alice", &hundred_kb_body(batch), Some(&t)).await,
            200,
            "batch {batch}"
        );
    }
    let (_, before) = c.store.find_prefs_by_key("alice").await.unwrap().unwrap();
    let before = before.unwrap();

    let (s, _, body) = put_parts(&c, "alice", &hundred_kb_body(2), Some(&t)).await;

    assert_eq!(s, 413);
    assert_eq!(body["isError"], true);
    assert!(
        body["message"].as_str().unwrap().contains("262144"),
        "{body}"
    );
    let (_, after) = c.store.find_prefs_by_key("alice").await.unwrap().unwrap();
    assert_eq!(after.unwrap(), before, "nothing stored");
    // Small changes still fit.
    assert_eq!(
        put_status(&c, "alice", &font_size_body(30.0), Some(&t)).await,
        200
    );
    c.stop().await;
}

#[tokio::test]
async fn a_new_key_whose_first_put_is_over_256_kib_is_413_and_not_created() {
    let c = Cloud::start().await;
    // A client that may create keys and write any term.
    attune_cloud::admin::put_credential(&c.store, "maker", "maker-secret", None, c.clock.as_ref())
        .await
        .unwrap();
    let mut cred = c
        .store
        .find_client_credential("maker")
        .await
        .unwrap()
        .unwrap();
    cred.is_create_gpii_key_allowed = true;
    cred.is_create_prefs_safe_allowed = true;
    c.store.put_client_credential(cred).await.unwrap();
    let t = c.token_as("maker", "maker-secret", "newcomer").await;
    let body = filler_body(0, 300);

    let s = put_status(&c, "newcomer", &body, Some(&t)).await;

    assert_eq!(s, 413);
    assert_eq!(c.store.find_prefs_by_key("newcomer").await.unwrap(), None);
    c.stop().await;
}

#[tokio::test]
async fn put_on_a_snapset_is_404_readonly() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    let (s, _, body) = put_parts(&c, "large_text", &font_size_body(30.0), Some(&t)).await;
    assert_eq!(s, 404);
    assert_eq!(body["isError"], true);
    assert_eq!(body["errorCode"], "GPII_ERR_READONLY");
    assert!(body["message"].as_str().unwrap().starts_with(
        "Can't update preferences for readOnly GPII key \"large_text\" (perhaps it is a snapset)"
    ));
    c.stop().await;
}

#[tokio::test]
async fn put_of_an_invalid_set_is_400_with_errors() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    let (s, _, body) = put_parts(&c, "alice", &json!({"flat": {}}), Some(&t)).await;
    assert_eq!(s, 400);
    assert_eq!(body["isError"], true);
    assert_eq!(
        body["message"],
        "Your request was invalid.  See the errors for details."
    );
    assert_eq!(body["errors"][0]["dataPath"], json!(["contexts"]));
    // A setting outside its registry schema.
    let bad = json!({"contexts": {"gpii-default": {"preferences": {
        "http://registry.gpii.net/applications/org.gnome.desktop.interface": {"text-scaling-factor": 40}}}}});
    let (s, _, body) = put_parts(&c, "alice", &bad, Some(&t)).await;
    assert_eq!(s, 400);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("text-scaling-factor"));
    c.stop().await;
}

#[tokio::test]
async fn put_without_a_valid_token_for_that_key_is_401() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    for token in [None, Some(t.as_str())] {
        let (s, _, body) = put_parts(&c, "alice", &font_size_body(30.0), token).await;
        assert_eq!((s, body), (401, unauthorized()));
    }
    c.stop().await;
}

#[tokio::test]
async fn put_honours_allowed_prefs_to_write() {
    let c = Cloud::start().await;
    let t = c.token_as("creator", "creator-secret", "alice").await;
    let contrast = json!({"contexts": {"gpii-default": {"preferences": {
        "http://registry.gpii.net/common/highContrast/enabled": false}}}});
    let (s, _, body) = put_parts(&c, "alice", &contrast, Some(&t)).await;
    assert_eq!((s, body), (401, unauthorized()));
    assert_eq!(
        put_status(&c, "alice", &font_size_body(20.0), Some(&t)).await,
        200
    );
    c.stop().await;
}

#[tokio::test]
async fn put_creates_a_key_when_the_client_may() {
    let c = Cloud::start().await;
    let t = c.token_as("creator", "creator-secret", "fresh-key").await;
    let (s, _, body) = put_parts(&c, "fresh-key", &font_size_body(16.0), Some(&t)).await;
    assert_eq!((s, body["gpiiKey"].as_str()), (200, Some("fresh-key")));
    let (k, safe) = c
        .store
        .find_prefs_by_key("fresh-key")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k.prefs_set_id.as_deref(), Some("gpii-default"));
    assert_eq!(
        safe.unwrap().preferences,
        json!({"flat": font_size_body(16.0)})
    );
    c.stop().await;
}

/// A store that is down: every call fails.
struct DownStore;

impl Store for DownStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        down()
    }
    fn find_gpii_key(&self, _: &str) -> StoreFuture<'_, Option<attune_cloud::store::GpiiKeyDoc>> {
        down()
    }
    fn find_prefs_by_key(
        &self,
        _: &str,
    ) -> StoreFuture<
        '_,
        Option<(
            attune_cloud::store::GpiiKeyDoc,
            Option<attune_cloud::store::PrefsSafeDoc>,
        )>,
    > {
        down()
    }
    fn find_prefs_safe(
        &self,
        _: &str,
    ) -> StoreFuture<'_, Option<attune_cloud::store::PrefsSafeDoc>> {
        down()
    }
    fn put_gpii_key(&self, _: attune_cloud::store::GpiiKeyDoc) -> StoreFuture<'_, ()> {
        down()
    }
    fn put_prefs_safe(
        &self,
        _: attune_cloud::store::PrefsSafeDoc,
        _: Option<u64>,
    ) -> StoreFuture<'_, u64> {
        down()
    }
    fn create_prefs_for_key(
        &self,
        _: attune_cloud::store::GpiiKeyDoc,
        _: attune_cloud::store::PrefsSafeDoc,
    ) -> StoreFuture<'_, ()> {
        down()
    }
    fn find_client_credential(
        &self,
        _: &str,
    ) -> StoreFuture<'_, Option<attune_cloud::store::ClientCredentialDoc>> {
        down()
    }
    fn put_client_credential(
        &self,
        _: attune_cloud::store::ClientCredentialDoc,
    ) -> StoreFuture<'_, ()> {
        down()
    }
    fn put_other_doc(&self, _: attune_cloud::store::OtherDoc) -> StoreFuture<'_, ()> {
        down()
    }
    fn find_other_doc(&self, _: &str) -> StoreFuture<'_, Option<attune_cloud::store::OtherDoc>> {
        down()
    }
    fn add_authorization(&self, _: attune_cloud::store::AuthorizationDoc) -> StoreFuture<'_, ()> {
        down()
    }
    fn find_grant(&self, _: &str, _: i64) -> StoreFuture<'_, Option<attune_cloud::store::Grant>> {
        down()
    }
    fn revoke_authorization(&self, _: &str, _: i64) -> StoreFuture<'_, u64> {
        down()
    }
    fn purge_expired_authorizations(&self, _: i64) -> StoreFuture<'_, u64> {
        down()
    }
    fn forget_key(&self, _: &str, _: attune_cloud::store::ForgottenKey) -> StoreFuture<'_, ()> {
        down()
    }
    fn forgotten_keys(&self) -> StoreFuture<'_, Vec<attune_cloud::store::ForgottenKey>> {
        down()
    }
    fn purge_forgotten(
        &self,
        _: i64,
        _: i64,
    ) -> StoreFuture<'_, Vec<attune_cloud::store::ForgottenKey>> {
        down()
    }
    fn reapply_forgotten(&self, _: Vec<attune_cloud::store::ForgottenKey>) -> StoreFuture<'_, ()> {
        down()
    }
    fn append_audit(&self, _: attune_cloud::store::AuditEntry) -> StoreFuture<'_, ()> {
        down()
    }
    fn audit(&self) -> StoreFuture<'_, Vec<attune_cloud::store::AuditEntry>> {
        down()
    }
}

fn down<T: Send + 'static>() -> StoreFuture<'static, T> {
    Box::pin(async { Err(StoreError::Unavailable("disk on fire".to_owned())) })
}

#[tokio::test]
async fn a_store_that_is_down_gives_503_with_retry_after_never_500() {
    let base = serve_store(
        Arc::new(DownStore),
        attune_cloud::server::bundled_registries().unwrap(),
    )
    .await;
    let http = reqwest::Client::new();
    let ready = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let (_, _, body) = parts(ready).await;
    assert!(
        !body.to_string().contains("disk on fire"),
        "store details stay in the log"
    );
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let settings = http
        .get(format!("{base}/k/settings/%7B%7D"))
        .bearer_auth("0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 503);
    assert!(settings.headers().contains_key("retry-after"));
    let token = http
        .post(format!("{base}/access_token"))
        .form(&password_grant(DEV_ID, DEV_SECRET, "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 503);
}

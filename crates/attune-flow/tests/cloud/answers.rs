//! What the client sends, and what it makes of every kind of answer (docs/design.md §6,
//! docs/test-matrix.md §2).

use std::time::Duration;

use attune_flow::cloud::classify::{Fallback, STALE_TOKEN_TEXT};
use attune_flow::cloud::{FailureKind, GiveUp};
use attune_model::device::DeviceReport;

use crate::{
    client, client_with, cloud, device, key, resilience, settings_from, timed_settings, token,
    ATTEMPT,
};
use attune_testkit::http::{head, response};
use attune_testkit::{After, Fault, FaultServer, Reply};

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn healthy_token_then_settings_sends_what_gpii_expects() {
    let s = FaultServer::start(|req, _| {
        if req.path == "/access_token" {
            Reply::json(r#"{"access_token":"abc","expiresIn":3600,"token_type":"Bearer"}"#)
        } else {
            Reply::json(r#"{"gpiiKey":"k","preferences":{}}"#)
        }
    });
    let c = client(&[s.url()]);
    let dl = c.deadline_from_now();
    let t = c.token(&key(), dl).await.unwrap();
    assert_eq!(t.expose(), "abc");
    assert_eq!(t.expires_in, Duration::from_secs(3600));
    let v = c.get_settings(&t, &key(), &device(), dl).await.unwrap();
    assert_eq!(v["gpiiKey"], "k");

    let q = s.requests();
    assert_eq!(q.len(), 2);
    let form: Vec<(String, String)> = serde_urlencoded_pairs(&q[0].body);
    assert_eq!(q[0].method, "POST");
    for (k, v) in [
        ("grant_type", "password"),
        ("client_id", "site-id"),
        ("client_secret", "site-secret"),
        ("username", key().expose()),
    ] {
        assert!(
            form.contains(&(k.to_owned(), v.to_owned())),
            "{k} in {form:?}"
        );
    }
    assert!(form.iter().any(|(k, v)| k == "password" && !v.is_empty()));

    let get = &q[1];
    assert_eq!(get.method, "GET");
    assert_eq!(get.header("authorization"), Some("Bearer abc"));
    assert_eq!(get.header("x-attune-api"), Some("1.0"));
    assert!(get.header("user-agent").unwrap().starts_with("attune/"));
    let prefix = format!("/{}/settings/", key().expose());
    assert!(get.path.starts_with(&prefix), "{}", get.path);
    let sent: DeviceReport =
        serde_json::from_str(&percent_decode(&get.path[prefix.len()..])).unwrap();
    assert_eq!(sent, device());
}

/// A tiny `application/x-www-form-urlencoded` reader for the assertions above.
fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

#[tokio::test]
async fn put_settings_sends_the_preferences_and_reports_read_only() {
    let s = FaultServer::sequence(vec![
        Reply::json("{}"),
        Reply::status(
            404,
            &[],
            r#"{"isError":true,"message":"read-only","errorCode":"GPII_ERR_READONLY"}"#,
        ),
    ]);
    let c = client(&[s.url()]);
    let prefs = serde_json::json!({"contexts":{"gpii-default":{"preferences":{"x":1}}}});
    c.put_settings(&token(), &key(), &prefs, c.deadline_from_now())
        .await
        .unwrap();
    let e = c
        .put_settings(&token(), &key(), &prefs, c.deadline_from_now())
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::ReadOnly);
    let q = s.requests();
    assert_eq!(q.len(), 2, "read-only is not retried");
    assert_eq!(q[0].method, "PUT");
    assert_eq!(q[0].path, format!("/{}/settings", key().expose()));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&q[0].body).unwrap(),
        prefs
    );
}

#[tokio::test]
async fn key_rejected_in_each_of_the_three_error_shapes() {
    let bodies = [
        r#"{"isError":true,"message":"Unauthorized"}"#,
        r#"{"error":"server_error","error_description":"Unauthorized"}"#,
        "Unauthorized",
    ];
    for body in bodies {
        let s = FaultServer::always(Reply::status(401, &[], body));
        let c = client(&[s.url()]);
        let e = c.token(&key(), c.deadline_from_now()).await.unwrap_err();
        assert_eq!(
            e.kind,
            FailureKind::KeyRejected {
                detail: "Unauthorized".to_owned()
            },
            "{body}"
        );
        assert_eq!(s.count(), 1, "not retried: {body}");
        assert!(e
            .kind
            .user_message()
            .text(&Fallback::Nothing)
            .starts_with("This key was not accepted"));
    }
}

#[tokio::test]
async fn stale_token_in_each_of_the_three_error_shapes() {
    let bodies = [
        r#"{"isError":true,"message":"Unauthorized"}"#,
        r#"{"error":"invalid_token","error_description":"expired"}"#,
        "Unauthorized",
    ];
    for body in bodies {
        let (s, r) = settings_from(Reply::status(401, &[], body)).await;
        let e = r.unwrap_err();
        assert_eq!(
            (e.kind.clone(), e.gave_up),
            (FailureKind::StaleToken, GiveUp::NotRetryable)
        );
        assert_eq!(s.count(), 1, "no silent re-grant, no loop: {body}");
        assert_eq!(
            e.kind.user_message().text(&Fallback::Nothing),
            STALE_TOKEN_TEXT
        );
    }
}

#[tokio::test]
async fn b1_malformed_json_is_not_retried() {
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"a":1,}"#.to_vec(),
        br#"{"a":NaN}"#.to_vec(),
        br#"{"a":"#.to_vec(),
        b"\xef\xbb\xbf{}".to_vec(),
        "{}".encode_utf16().flat_map(u16::to_le_bytes).collect(),
        b"[1,2]".to_vec(),
        "[".repeat(100_000).into_bytes(),
    ];
    for body in bodies {
        let s = FaultServer::always(Reply::whole(response(200, Some("1.0"), &[], &body)));
        let c = client(&[s.url()]);
        let (r, _) = timed_settings(&c).await;
        let e = r.unwrap_err();
        assert!(matches!(e.kind, FailureKind::Malformed { .. }), "{e}");
        assert_eq!(s.count(), 1);
        assert!(e
            .kind
            .user_message()
            .text(&Fallback::Snapset)
            .contains("sent something we could not read"));
        // Not an outage: the breaker and the retry budget are untouched.
        assert!(!c.is_offline());
    }
}

#[tokio::test]
async fn b1_malformed_token_answer_is_not_retried() {
    for body in [r#"{"access_token":""}"#, r#"{"token":"x"}"#, "ok"] {
        let s = FaultServer::always(Reply::json(body));
        let c = client(&[s.url()]);
        let e = c.token(&key(), c.deadline_from_now()).await.unwrap_err();
        assert!(
            matches!(e.kind, FailureKind::Malformed { .. }),
            "{body}: {e}"
        );
        assert_eq!(s.count(), 1);
    }
}

#[tokio::test]
async fn b3_oversized_bodies_are_cut_at_the_cap() {
    let cap = resilience().max_body_bytes;
    // Declared too large: refused before a byte of body is read (the server sends none and
    // holds the connection: reading would time out instead).
    let s = FaultServer::always(
        Reply::whole(head(200, Some("1.0"), &[], Some(10_000_000_000))).with(Fault::Cut {
            body_bytes: 0,
            after: After::Hold,
        }),
    );
    let c = client(&[s.url()]);
    let (r, took) = crate::timed_settings(&c).await;
    let e = r.unwrap_err();
    assert_eq!(
        e.kind,
        FailureKind::TooLarge {
            limit: cap,
            declared: Some(10_000_000_000)
        }
    );
    assert!(took < ATTEMPT, "{took:?}");
    assert_eq!(s.count(), 1, "not retried");

    // 5 MiB, honestly declared.
    let big = vec![b' '; 5 * 1024 * 1024];
    let (_s, r) = settings_from(Reply::whole(response(200, Some("1.0"), &[], &big))).await;
    let e = r.unwrap_err();
    assert!(matches!(e.kind, FailureKind::TooLarge { .. }), "{e}");

    // No length at all: a body that runs past the cap ends at the cap.
    let mut data = head(200, Some("1.0"), &[], None);
    data.extend_from_slice(&big);
    let (s, r) = settings_from(Reply::whole(data)).await;
    let e = r.unwrap_err();
    assert_eq!(
        e.kind,
        FailureKind::TooLarge {
            limit: cap,
            declared: None
        }
    );
    assert_eq!(s.count(), 1);
    assert!(e
        .kind
        .user_message()
        .text(&Fallback::Nothing)
        .contains("could not read"));
}

#[tokio::test]
async fn a_body_just_under_the_cap_is_read() {
    let mut r = resilience();
    r.max_body_bytes = 1000;
    let body = format!("{{\"p\":\"{}\"}}", "x".repeat(990));
    assert_eq!(body.len(), 998);
    let s = FaultServer::always(Reply::json(&body));
    let c = client_with(cloud(&[s.url()]), r);
    let v = c
        .get_settings(&token(), &key(), &device(), c.deadline_from_now())
        .await
        .unwrap();
    assert_eq!(v["p"].as_str().unwrap().len(), 990);
}

#[tokio::test]
async fn version_probe_and_legacy_gpii() {
    let attune = FaultServer::always(Reply::json(
        r#"{"api":"1.2","server":"attune-cloud 0.1.0","schemaVersion":"0.2"}"#,
    ));
    // The header says 1.0; it is the authority.
    let c = client(&[attune.url()]);
    let v = c.version(c.deadline_from_now()).await.unwrap();
    assert_eq!(v.api.map(|a| a.to_string()).as_deref(), Some("1.0"));
    assert_eq!(v.server.as_deref(), Some("attune-cloud 0.1.0"));
    assert_eq!(v.schema_version.as_deref(), Some("0.2"));

    // A GPII cloud: 404 for /version, no header anywhere.
    let gpii = FaultServer::start(|req, _| {
        let body: &[u8] = if req.path == "/version" {
            b"Cannot GET /version"
        } else {
            br#"{"preferences":{}}"#
        };
        let status = if req.path == "/version" { 404 } else { 200 };
        Reply::whole(response(status, None, &[], body))
    });
    let mut legacy = cloud(&[gpii.url()]);
    legacy.legacy_gpii = true;
    let c = client_with(legacy, resilience());
    let v = c.version(c.deadline_from_now()).await.unwrap();
    assert_eq!(v.api, None);
    c.get_settings(&token(), &key(), &device(), c.deadline_from_now())
        .await
        .unwrap();

    let c = client(&[gpii.url()]);
    let e = crate::timed_settings(&c).await.0.unwrap_err();
    assert!(
        matches!(&e.kind, FailureKind::VersionMismatch { server, .. } if server.starts_with("none")),
        "{e}"
    );
}

#[tokio::test]
async fn other_refusals_are_not_retried() {
    for (status, body) in [
        (400, r#"{"isError":true,"message":"bad device"}"#),
        (404, "Not Found"),
        (501, r#"{"error":"unsupported_grant_type"}"#),
    ] {
        let (s, r) = settings_from(Reply::status(status, &[], body)).await;
        let e = r.unwrap_err();
        assert!(
            matches!(&e.kind, FailureKind::Refused { status: s, .. } if *s == status),
            "{e}"
        );
        assert_eq!(s.count(), 1);
    }
}

/// The happy path against the real attune-cloud (in process, tokens that live 5 s): the client's
/// token request and settings request are what the server expects, and the token's lifetime is
/// the server's.
#[tokio::test]
async fn the_real_cloud_grants_a_token_of_its_lifetime_and_answers_in_gpii_shape() {
    use attune_testkit::cloud::{RealCloud, DEV_ID, DEV_SECRET};
    let real = RealCloud::with_token_lifetime(5);
    let mut config = cloud(&[real.url()]);
    config.client_id = Some(DEV_ID.to_owned());
    config.client_secret = Some(DEV_SECRET.to_owned());
    let c = client_with(config, resilience());
    let person = attune_model::key::Key::parse("large_text").unwrap();
    let dl = c.deadline_from_now();
    let t = c.token(&person, dl).await.unwrap();
    assert_eq!(t.expires_in, Duration::from_secs(5));
    let v = c.get_settings(&t, &person, &device(), dl).await.unwrap();
    assert_eq!(v["gpiiKey"], "large_text");
    assert!(
        v["solutionsRegistryEntries"]["org.gnome.desktop.interface"].is_object(),
        "{v}"
    );
}

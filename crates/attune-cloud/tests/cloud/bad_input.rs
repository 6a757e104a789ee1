//! Bad input never makes the server answer 5xx or panic: every malformed device segment, token
//! body or PUT body gets a 4xx with a message saying what is wrong.

use attune_cloud::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{parts, Cloud, DEV_ID, DEV_SECRET};

fn assert_client_error(status: u16, body: &Value, what: &str) {
    assert!(
        (400..500).contains(&status),
        "{what}: status {status}, body {body}"
    );
    let text = body.to_string();
    assert!(text.len() > 10, "{what}: a message is expected, got {text}");
}

/// Sends raw bytes as an HTTP/1.1 request and returns the status code.
async fn raw_status(c: &Cloud, request: &[u8]) -> u16 {
    let addr = c.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    // Only the status line is needed; the server need not close the connection.
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let head = String::from_utf8_lossy(&buf[..got]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn garbage_device_segments_are_4xx() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let long = format!("{{\"OS\":{{\"id\":\"{}\"}}}}", "x".repeat(20_000));
    let cases: Vec<String> = vec![
        "null".into(),
        "[]".into(),
        "42".into(),
        "\"linux\"".into(),
        r#"{"OS":5}"#.into(),
        r#"{"OS":{"id":7}}"#.into(),
        r#"{"solutions":"all"}"#.into(),
        r#"{"solutions":[{"id":null}]}"#.into(),
        r#"{"solutions":[1,2,3]}"#.into(),
        deep,
        long,
        "{\"a\":\"\u{0}\"}".into(),
    ];
    for d in &cases {
        let (s, _, body) = parts(c.get_settings("large_text", d, Some(&t)).await).await;
        assert_client_error(s, &body, &d.chars().take(40).collect::<String>());
    }
    // Percent-encoding of bytes that are not UTF-8.
    let r = c
        .http
        .get(c.url("/large_text/settings/%FF%FE%7B"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let (s, _, body) = parts(r).await;
    assert_client_error(s, &body, "invalid UTF-8 in the path");
    c.stop().await;
}

#[tokio::test]
async fn random_device_segments_never_give_5xx() {
    let c = Cloud::start().await;
    let t = c.token("large_text").await;
    let mut rng = StdRng::seed_from_u64(4);
    let alphabet: Vec<char> = "{}[]\":,0123456789abcdefOSidsolutions \\\u{e9}\u{1F600}nulltrue"
        .chars()
        .collect();
    for _ in 0..300 {
        let len = rng.random_range(0..60);
        let d: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
            .collect();
        let r = c.get_settings("large_text", &d, Some(&t)).await;
        assert!(r.status().as_u16() < 500, "{d:?}: {}", r.status());
    }
    c.stop().await;
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// POSTs `body` to `/access_token` as `content_type`.
async fn post_token(
    c: &Cloud,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    c.http
        .post(c.url("/access_token"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_token_bodies_are_4xx() {
    let c = Cloud::start().await;
    let json_cases = [
        "[1,2]",
        "\"text\"",
        "{\"client_id\": 5, \"client_secret\": \"x\"}",
        "{\"client_id\": \"attune-dev\", \"client_secret\": \"attune-dev-secret\", \"username\": [\"a\"], \"password\": \"x\", \"grant_type\": \"password\"}",
        "{not json",
    ];
    for body in json_cases {
        let r = post_token(&c, JSON, body).await;
        let (s, _, b) = parts(r).await;
        assert_client_error(s, &b, body);
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(2000), "]".repeat(2000));
    let r = post_token(&c, JSON, deep).await;
    let (s, _, b) = parts(r).await;
    assert_client_error(s, &b, "deep JSON");
    // Invalid UTF-8 in a form: decoded lossily, so the key simply does not exist.
    let r = post_token(
        &c,
        FORM,
        [
            b"grant_type=password&client_id=attune-dev&client_secret=attune-dev-secret&password=x&username=".as_slice(),
            &[0xff, 0xfe],
        ]
        .concat(),
    )
    .await;
    let (s, _, b) = parts(r).await;
    assert_client_error(s, &b, "invalid UTF-8 form");
    // Too large: 413 before any parsing.
    let big = format!(
        "client_id={DEV_ID}&client_secret={DEV_SECRET}&x={}",
        "a".repeat(100_000)
    );
    let r = post_token(&c, FORM, big).await;
    assert_eq!(r.status(), 413);
    c.stop().await;
}

#[tokio::test]
async fn malformed_put_bodies_are_4xx() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    let url = c.url("/alice/settings");
    let deep = format!("{{\"contexts\":{}{}}}", "[".repeat(3000), "]".repeat(3000));
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"contexts\": []}".to_vec(),
        b"{\"contexts\": {\"gpii-default\": 5}}".to_vec(),
        b"{\"contexts\": {\"gpii-default\": {\"preferences\": \"big\"}}}".to_vec(),
        b"{\"contexts\": {\"gpii-default\": {\"name\": 3, \"preferences\": {}}}}".to_vec(),
        b"{\"contexts\": {\"gpii-default\": {\"preferences\": {\"fontSize\": 3}}}}".to_vec(),
        [
            b"{\"contexts\": {\"gpii-default\": {\"name\": \"".as_slice(),
            &[0xc3, 0x28],
            b"\", \"preferences\": {}}}}",
        ]
        .concat(),
        deep.into_bytes(),
    ];
    for body in cases {
        let r = c
            .http
            .put(&url)
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (s, _, b) = parts(r).await;
        assert_client_error(s, &b, &String::from_utf8_lossy(&body[..body.len().min(40)]));
    }
    // The stored set is untouched by all of that.
    let (_, safe) = c.store.find_prefs_by_key("alice").await.unwrap().unwrap();
    assert_eq!(safe.unwrap().rev, 1);
    c.stop().await;
}

#[tokio::test]
async fn a_10_mb_put_is_413_with_a_message() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    let big = format!(
        "{{\"contexts\":{{\"gpii-default\":{{\"preferences\":{{\"http://x.org/a\":\"{}\"}}}}}}}}",
        "a".repeat(10 * 1024 * 1024)
    );
    let head = format!(
        "PUT /alice/settings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        big.len()
    );
    // Only the head is sent: the server refuses on the announced length without reading on.
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        raw_status(&c, head.as_bytes()),
    )
    .await
    .expect("the server answers without waiting for the body");
    assert_eq!(status, 413);
    c.stop().await;
}

#[tokio::test]
async fn unknown_keys_get_401_not_404() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    for key in ["nobody", "%00", "a%2Fb"] {
        let r = c
            .http
            .put(c.url(&format!("/{key}/settings")))
            .bearer_auth(&t)
            .json(&json!({"contexts": {}}))
            .send()
            .await
            .unwrap();
        let (s, _, b) = parts(r).await;
        assert_eq!(s, 401, "{key}: {b}");
    }
    c.stop().await;
}

//! Load shedding and graceful shutdown, with a request held in flight by a body that has not
//! arrived yet (no sleeps: the test polls until the server reports itself busy).

use attune_cloud::api::Limits;
use attune_cloud::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::Cloud;

/// Starts a PUT whose body is announced but not sent, so the request stays in flight.
async fn hold_a_request(c: &Cloud, token: &str, body: &str) -> TcpStream {
    let addr = c.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /alice/settings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

async fn health(c: &Cloud) -> reqwest::Response {
    c.http.get(c.url("/health")).send().await.unwrap()
}

/// Polls `/health` until it is shed (503); returns that response's Retry-After.
async fn wait_until_busy(c: &Cloud) -> String {
    for _ in 0..2000 {
        let r = health(c).await;
        if r.status() == 503 {
            return r.headers()["retry-after"].to_str().unwrap().to_owned();
        }
        tokio::task::yield_now().await;
    }
    panic!("the held request never occupied the server");
}

const BODY: &str = r#"{"contexts":{"gpii-default":{"preferences":{"http://registry.gpii.net/common/fontSize":21}}}}"#;

async fn finish(mut s: TcpStream) -> String {
    s.write_all(BODY.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// A cloud that serves one request at a time, with a PUT for `alice` in flight whose body is
/// held back (send it with [`finish`]).
async fn serving_one_held_request() -> (Cloud, TcpStream) {
    let c = Cloud::start_with(Limits {
        max_in_flight: 1,
        ..Limits::default()
    })
    .await;
    let t = c.token("alice").await;
    let held = hold_a_request(&c, &t, BODY).await;
    (c, held)
}

#[tokio::test]
async fn beyond_max_in_flight_requests_get_503_with_retry_after_at_once() {
    let (c, held) = serving_one_held_request().await;
    assert_eq!(wait_until_busy(&c).await, "1");
    let r = c.http.get(c.url("/version")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-attune-api"], "1.0");
    let answer = finish(held).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Free again.
    assert_eq!(health(&c).await.status(), 200);
    c.stop().await;
}

#[tokio::test]
async fn shed_requests_are_counted_in_metrics() {
    let (c, held) = serving_one_held_request().await;
    wait_until_busy(&c).await;
    let r = c.http.get(c.url("/version")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    finish(held).await;
    let m = crate::metrics::scrape(&c).await;
    let shed = m["attune_cloud_shed_total"];
    let version_shed =
        m[r#"attune_cloud_http_requests_total{route="/version",method="GET",status="503"}"#];
    let health_shed = m
        .get(r#"attune_cloud_http_requests_total{route="/health",method="GET",status="503"}"#)
        .copied()
        .unwrap_or(0.0);
    assert_eq!(version_shed, 1.0);
    assert_eq!(shed, version_shed + health_shed, "{m:#?}");
    c.stop().await;
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let (c, held) = serving_one_held_request().await;
    wait_until_busy(&c).await;
    let base = c.base.clone();
    let store = c.store.clone();
    let stopping = tokio::spawn(c.stop());
    let answer = finish(held).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stopping.await.unwrap();
    let (_, safe) = store.find_prefs_by_key("alice").await.unwrap().unwrap();
    assert_eq!(
        safe.unwrap().preferences["flat"]["contexts"]["gpii-default"]["preferences"]
            ["http://registry.gpii.net/common/fontSize"],
        21
    );
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "no longer listening"
    );
}

/// Short timeouts, so that slow-client tests take a second, not ten.
fn quick_timeouts(max_in_flight: usize) -> Limits {
    Limits {
        max_in_flight,
        header_read_timeout: std::time::Duration::from_millis(300),
        body_stall_timeout: std::time::Duration::from_millis(300),
        ..Limits::default()
    }
}

/// Polls `/health` until it answers 200 (bounded: the test fails if it never does).
async fn wait_until_free(c: &Cloud) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        let r = health(c).await;
        if r.status() == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow clients still hold every place"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn bodies_that_stall_are_cut_and_their_places_come_back() {
    let c = Cloud::start_with(quick_timeouts(4)).await;
    let t = c.token("alice").await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(hold_a_request(&c, &t, BODY).await);
    }
    wait_until_busy(&c).await;

    wait_until_free(&c).await;

    for mut s in slow {
        let mut answer = String::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            s.read_to_string(&mut answer),
        )
        .await;
        assert!(read.is_ok(), "the stalled connection was not closed");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let (_, safe) = c.store.find_prefs_by_key("alice").await.unwrap().unwrap();
    assert_ne!(
        safe.unwrap().preferences["flat"]["contexts"]["gpii-default"]["preferences"]
            ["http://registry.gpii.net/common/fontSize"],
        21,
        "nothing saved from a cut body"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_request_head_that_never_completes_is_cut() {
    let c = Cloud::start_with(quick_timeouts(4)).await;
    let addr = c.base.trim_start_matches("http://");
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: 1")
            .await
            .unwrap();
        slow.push(s);
    }
    for mut s in slow {
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "a connection with an endless head stayed open"
        );
    }
    assert_eq!(health(&c).await.status(), 200);
    c.stop().await;
}

#[tokio::test]
async fn a_slow_but_steady_body_is_not_cut() {
    let c = Cloud::start_with(quick_timeouts(4)).await;
    let t = c.token("alice").await;
    let mut s = hold_a_request(&c, &t, BODY).await;
    // Each piece arrives well within the stall limit; the whole takes longer than it.
    for chunk in BODY.as_bytes().chunks(BODY.len() / 4 + 1) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        s.write_all(chunk).await.unwrap();
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    c.stop().await;
}

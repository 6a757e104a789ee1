//! docs/test-matrix.md §1: network faults, each with its outcome, message, request count and time
//! bound.

use std::time::{Duration, Instant};

use attune_flow::cloud::{CallError, FailureKind, GiveUp};

use crate::{
    client, device, key, resilience, saved, timed_settings, token, ATTEMPT, DEADLINE, SLACK,
};
use attune_testkit::http::{head, response};
use attune_testkit::{After, Fault, FaultServer, Reply};

async fn settings(urls: &[String]) -> (Result<serde_json::Value, CallError>, Duration) {
    timed_settings(&client(urls)).await
}

fn assert_no_key(e: &CallError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(key().expose()), "the key leaked: {text}");
}

#[tokio::test]
async fn n1_refused_is_unreachable_three_attempts_fast() {
    let url = attune_testkit::refused_url();
    let (r, took) = settings(&[url]).await;
    let e = r.unwrap_err();
    assert!(matches!(e.kind, FailureKind::Unreachable { .. }), "{e}");
    assert_eq!(e.attempts, 3);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    crate::assert_says(&e, "Can't reach the preferences server.");
    assert_no_key(&e);
}

#[tokio::test]
async fn n3_connect_timeout_when_the_backlog_is_full() {
    // A listener that never accepts, its backlog filled: further SYNs are dropped, as with a
    // blackholed host.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut parked = Vec::new();
    for _ in 0..4 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(100), s.connect(addr)).await {
            parked.push(c);
        }
    }
    let mut r = resilience();
    r.max_attempts = 1;
    let c = crate::client_with(crate::cloud(&[format!("http://{addr}")]), r);
    let (r, took) = crate::timed_settings(&c).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, FailureKind::TooSlow, "{e}");
    assert!(took >= ATTEMPT && took < ATTEMPT + SLACK, "{took:?}");
    drop(parked);
}

#[tokio::test]
async fn n4_stalled_headers_time_out_per_attempt() {
    let s = FaultServer::always(Reply::fault(Fault::Stall));
    let (r, took) = settings(&[s.url()]).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, FailureKind::TooSlow);
    assert_eq!(s.count(), 3);
    let at: Vec<Instant> = s.requests().iter().map(|q| q.at).collect();
    for w in at.windows(2) {
        let gap = w[1] - w[0];
        // One attempt timeout, plus a backoff of 50…200 ms.
        assert!(
            gap >= ATTEMPT && gap < ATTEMPT + Duration::from_millis(200) + SLACK,
            "{gap:?}"
        );
    }
    assert!(took <= DEADLINE + Duration::from_millis(100), "{took:?}");
}

/// A server whose 200 declares a body of `declared` bytes, sends only `sent`, then `after`.
fn cut_short(declared: u64, sent: &[u8], after: After) -> FaultServer {
    let mut data = head(200, Some("1.0"), &[], Some(declared));
    data.extend_from_slice(sent);
    FaultServer::always(Reply::whole(data).with(Fault::Cut {
        body_bytes: sent.len(),
        after,
    }))
}

#[tokio::test]
async fn n5_stalled_body_is_a_timeout_not_malformed() {
    let s = cut_short(100, br#"{"a":"#, After::Hold);
    let (r, _) = settings(&[s.url()]).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, FailureKind::TooSlow, "{e}");
    assert_eq!(s.count(), 3, "retried as a transport failure");
}

#[tokio::test]
async fn n6_slowloris_cannot_keep_an_attempt_alive() {
    let s = FaultServer::always(
        Reply::whole(head(200, Some("1.0"), &[], Some(1_000_000))).with(Fault::Slowloris {
            every: Duration::from_millis(20),
        }),
    );
    let mut r = resilience();
    r.max_attempts = 1;
    let c = crate::client_with(crate::cloud(&[s.url()]), r);
    let (r, took) = crate::timed_settings(&c).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, FailureKind::TooSlow);
    assert!(took < ATTEMPT + SLACK, "{took:?}");
}

#[tokio::test]
async fn n7_latency_under_the_attempt_timeout_succeeds_first_time() {
    let s =
        FaultServer::always(Reply::json(r#"{"preferences":{}}"#).with(Fault::Delay(ATTEMPT / 2)));
    let (r, _) = settings(&[s.url()]).await;
    assert_eq!(r.unwrap(), serde_json::json!({"preferences":{}}));
    assert_eq!(s.count(), 1, "no retry");
}

#[tokio::test]
async fn n8_reset_mid_body_is_retried_as_unreachable() {
    let s = cut_short(2000, &[b' '; 1000], After::Reset);
    let (r, _) = settings(&[s.url()]).await;
    let e = r.unwrap_err();
    assert!(matches!(e.kind, FailureKind::Unreachable { .. }), "{e}");
    assert_eq!(s.count(), 3);
    let text = e.kind.user_message().text(&saved());
    assert!(text.starts_with("Can't reach"), "{text}");
    assert!(!text.contains("could not read"), "{text}");
    assert_no_key(&e);
}

#[tokio::test]
async fn n9_truncated_body_is_retried_as_unreachable() {
    let s = cut_short(100, br#"{"preferences":{"#, After::Close);
    let (r, _) = settings(&[s.url()]).await;
    let e = r.unwrap_err();
    assert!(matches!(e.kind, FailureKind::Unreachable { .. }), "{e}");
    assert_eq!(s.count(), 3);
}

#[tokio::test]
async fn n10_sliced_response_parses_identically() {
    let body = serde_json::json!({
        "gpiiKey": "x",
        "preferences": {"contexts": {"gpii-default": {"preferences": {"http://registry.gpii.net/common/fontSize": 24}}}},
        "matchMakerOutput": {"inferredConfiguration": {}}
    })
    .to_string();
    let whole = FaultServer::always(Reply::json(&body));
    let sliced = FaultServer::always(
        Reply::whole(response(200, Some("1.0"), &[], body.as_bytes())).with(Fault::Slice {
            max: 16,
            pause: Duration::from_millis(1),
        }),
    );
    let (a, _) = settings(&[whole.url()]).await;
    let (b, _) = settings(&[sliced.url()]).await;
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(sliced.count(), 1);
}

#[tokio::test]
async fn n11_server_errors_make_exactly_three_requests() {
    for status in [500, 502, 503, 504] {
        let s = FaultServer::always(Reply::status(status, &[], "oops"));
        let (r, took) = settings(&[s.url()]).await;
        let e = r.unwrap_err();
        assert_eq!(
            e.kind,
            FailureKind::Busy {
                status,
                retry_after: None
            }
        );
        assert_eq!(s.count(), 3, "HTTP {status}");
        assert!(took <= DEADLINE, "{took:?}");
        crate::assert_says(&e, "The preferences server is having problems.");
    }
}

#[tokio::test]
async fn n12_retry_after_one_second_is_waited_then_succeeds() {
    let s = FaultServer::sequence(vec![
        Reply::status(429, &[("Retry-After", "1")], ""),
        Reply::json("{}"),
    ]);
    let (r, _) = settings(&[s.url()]).await;
    assert_eq!(r.unwrap(), serde_json::json!({}));
    let q = s.requests();
    assert_eq!(q.len(), 2);
    assert!(
        q[1].at - q[0].at >= Duration::from_secs(1),
        "{:?}",
        q[1].at - q[0].at
    );
}

#[tokio::test]
async fn n13_retry_after_an_hour_means_no_wait_and_no_calls_until_then() {
    let in_an_hour =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    for value in ["3600", in_an_hour.as_str()] {
        let s = FaultServer::always(Reply::status(503, &[("Retry-After", value)], ""));
        let c = client(&[s.url()]);
        let (r, took) = crate::timed_settings(&c).await;
        let e = r.unwrap_err();
        // No wait for the hour, nor for the deadline: well under a tenth of the deadline, whatever
        // the machine's load (a backoff sleep then a retry is ruled out by the one request below).
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert!(
            matches!(e.gave_up, GiveUp::RetryAfterBeyondDeadline { retry_after } if retry_after > Duration::from_secs(3500)),
            "{e}"
        );
        assert_eq!(s.count(), 1);
        assert!(c.is_offline());
        // A probe or an outbox flush before then is not sent.
        let e = c.version(c.deadline_from_now()).await.unwrap_err();
        assert_eq!((e.attempts, e.gave_up), (0, GiveUp::BreakerOpen));
        assert_eq!(s.count(), 1, "Retry-After {value}");
    }
}

#[tokio::test]
async fn n14_garbage_retry_after_is_ignored() {
    for value in ["soon", "-5", "1.5"] {
        let s = FaultServer::always(Reply::status(503, &[("Retry-After", value)], ""));
        let (r, took) = settings(&[s.url()]).await;
        let e = r.unwrap_err();
        assert_eq!(
            e.kind,
            FailureKind::Busy {
                status: 503,
                retry_after: None
            }
        );
        assert_eq!(s.count(), 3);
        // Normal backoff (≤ 2 × 200 ms), nothing like a wait for a parsed value.
        assert!(
            took < Duration::from_millis(400) + SLACK,
            "{value}: {took:?}"
        );
    }
}

#[tokio::test]
async fn n17_version_mismatch_is_one_request_and_latches() {
    let s = FaultServer::always(Reply::whole(response(200, Some("2.0"), &[], b"{}")));
    let c = client(&[s.url()]);
    let e = timed_settings(&c).await.0.unwrap_err();
    assert_eq!(
        e.kind,
        FailureKind::VersionMismatch {
            client: "1.0".to_owned(),
            server: "2.0".to_owned()
        }
    );
    assert_eq!(s.count(), 1);
    let text = e.kind.user_message().text(&saved());
    assert!(text.contains("client API 1.0, server API 2.0"), "{text}");
    // Not retried until restart.
    let again = c.token(&key(), c.deadline_from_now()).await.unwrap_err();
    assert_eq!(again.attempts, 0);
    assert_eq!(s.count(), 1);
}

#[tokio::test]
async fn breaker_open_means_no_connection_and_an_instant_answer() {
    let s = FaultServer::always(Reply::status(503, &[], ""));
    let c = client(&[s.url()]);
    let mut attempts = Vec::new();
    for _ in 0..2 {
        let e = crate::timed_settings(&c).await.0.unwrap_err();
        attempts.push(e.attempts);
    }
    assert_eq!(
        attempts,
        vec![3, 2],
        "open at the fifth consecutive failure"
    );
    assert!(c.is_offline());
    let (r, took) = crate::timed_settings(&c).await;
    let e = r.unwrap_err();
    assert_eq!((e.attempts, e.gave_up), (0, GiveUp::BreakerOpen));
    assert_eq!(s.count(), 5);
    assert!(
        took < Duration::from_millis(5),
        "offline decision took {took:?}"
    );
}

#[tokio::test]
async fn transport_failure_moves_to_the_next_url_and_stays_there() {
    let dead = attune_testkit::refused_url();
    let live = FaultServer::always(Reply::json("{}"));
    let c = client(&[dead, live.url()]);
    for _ in 0..2 {
        let v = c
            .get_settings(&token(), &key(), &device(), c.deadline_from_now())
            .await
            .unwrap();
        assert_eq!(v, serde_json::json!({}));
    }
    assert_eq!(
        live.count(),
        2,
        "the second call went straight to the live URL"
    );
}

#[tokio::test]
async fn a_busy_node_is_not_left_for_the_next_url() {
    let busy = FaultServer::sequence(vec![Reply::status(503, &[], ""), Reply::json("{}")]);
    let other = FaultServer::always(Reply::json("{}"));
    let c = client(&[busy.url(), other.url()]);
    c.get_settings(&token(), &key(), &device(), c.deadline_from_now())
        .await
        .unwrap();
    assert_eq!((busy.count(), other.count()), (2, 0));
}

#[tokio::test]
async fn n23_a_retry_storm_is_held_by_the_budget_and_the_breaker() {
    // 100 key-ins at once from one computer's process against a cloud answering 503: the
    // retry budget stops retries early and the breaker then turns calls away, so the server
    // sees little more than one request per key-in (docs/test-matrix.md N23: at most 110).
    let s = FaultServer::always(Reply::status(503, &[], ""));
    let c = std::sync::Arc::new(client(&[s.url()]));
    let mut storm = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let c = c.clone();
        storm.spawn(async move {
            let deadline = c.deadline_from_now();
            match c.token(&key(), deadline).await {
                Ok(t) => c
                    .get_settings(&t, &key(), &device(), deadline)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            }
        });
    }
    let mut turned_away = 0;
    while let Some(r) = storm.join_next().await {
        let e = r.unwrap().unwrap_err();
        if e.gave_up == GiveUp::BreakerOpen {
            turned_away += 1;
        } else {
            assert!(
                matches!(e.kind, FailureKind::Busy { status: 503, .. }),
                "{e}"
            );
        }
    }
    let seen = s.count();
    eprintln!(
        "N23: 100 concurrent key-ins -> {seen} requests, {turned_away} turned away by the breaker"
    );
    assert!(seen <= 110, "the server saw {seen} requests");
    assert!(c.is_offline(), "the breaker is open after the storm");
    assert!(turned_away > 0, "some key-ins were answered by the breaker");

    // While the breaker is open, key-ins cost the server nothing.
    for _ in 0..100 {
        let e = c.token(&key(), c.deadline_from_now()).await.unwrap_err();
        assert_eq!(e.attempts, 0);
    }
    assert_eq!(s.count(), seen);
}

#[tokio::test]
async fn n21_a_pooled_connection_closed_by_the_server_is_transparent() {
    // The server promises keep-alive, then closes each connection after its answer: the
    // client's pooled connection is dead when the next call (the app's next change) comes.
    let body = b"{}";
    let mut keep_alive = format!(
        "HTTP/1.1 200 OK\r\nX-Attune-Api: 1.0\r\nContent-Type: application/json\r\n\
         Connection: keep-alive\r\nKeep-Alive: timeout=60\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    keep_alive.extend_from_slice(body);
    let s = FaultServer::always(Reply::whole(keep_alive));
    let c = client(&[s.url()]);
    for call in 0..3 {
        let r = c
            .get_settings(&token(), &key(), &device(), c.deadline_from_now())
            .await;
        assert_eq!(r.unwrap(), serde_json::json!({}), "call {call}");
    }
    assert!(!c.is_offline());
}

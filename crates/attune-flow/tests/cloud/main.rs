//! The cloud client against a fault server on loopback, real sockets and real time
//! (docs/test-matrix.md §1 and §2). Timeouts are scaled down (connect and attempt 300 ms, deadline
//! 2 s, backoff 50 ms…200 ms) so the suite is fast; each bound is asserted relative to them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod answers;
mod hostile;
mod network;
mod pending;
mod tls;

use std::time::Duration;

use attune_flow::cloud::{CallError, ClientOptions, CloudClient, Fallback, Token};
use attune_flow::{CloudConfig, ResilienceConfig};
use attune_model::device::DeviceReport;
use attune_model::key::Key;
use attune_testkit::{FaultServer, Reply};

pub const ATTEMPT: Duration = Duration::from_millis(300);
pub const DEADLINE: Duration = Duration::from_secs(2);
/// Scheduling slack on a shared two-core machine.
pub const SLACK: Duration = Duration::from_millis(200);

pub fn resilience() -> ResilienceConfig {
    ResilienceConfig {
        connect_timeout: ATTEMPT,
        attempt_timeout: ATTEMPT,
        deadline: DEADLINE,
        max_attempts: 3,
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(200),
        ..ResilienceConfig::default()
    }
}

pub fn cloud(urls: &[String]) -> CloudConfig {
    CloudConfig {
        urls: urls.to_vec(),
        client_id: Some("site-id".to_owned()),
        client_secret: Some("site-secret".to_owned()),
        legacy_gpii: false,
        use_system_proxy: false,
        ca_file: None,
        allow_insecure_http: false,
    }
}

pub fn client(urls: &[String]) -> CloudClient {
    client_with(cloud(urls), resilience())
}

pub fn client_with(c: CloudConfig, r: ResilienceConfig) -> CloudClient {
    CloudClient::with_options(
        &c,
        &r,
        ClientOptions {
            jitter_seed: Some(11),
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

/// A key that would be easy to spot in any text.
pub fn key() -> Key {
    Key::parse("secret-key-5f3a").unwrap()
}

pub fn device() -> DeviceReport {
    DeviceReport::linux([
        "org.gnome.desktop.a11y.magnifier",
        "org.gnome.desktop.interface",
    ])
}

/// A token good for an hour.
pub fn token() -> Token {
    Token::new(
        "tok".to_owned(),
        Duration::from_secs(3600),
        tokio::time::Instant::now(),
    )
}

/// The fallback of a person with saved settings.
pub fn saved() -> Fallback {
    Fallback::Cache {
        saved: "1 May".to_owned(),
    }
}

/// One settings request with `c`, and how long it took.
pub async fn timed_settings(c: &CloudClient) -> (Result<serde_json::Value, CallError>, Duration) {
    let t0 = std::time::Instant::now();
    let r = c
        .get_settings(&token(), &key(), &device(), c.deadline_from_now())
        .await;
    (r, t0.elapsed())
}

/// One settings request to a fault server that always answers `reply`: the server (to count
/// what it saw) and the outcome.
pub async fn settings_from(reply: Reply) -> (FaultServer, Result<serde_json::Value, CallError>) {
    let s = FaultServer::always(reply);
    let (r, _) = timed_settings(&client(&[s.url()])).await;
    (s, r)
}

/// The person is told `start`… (with the cache as the fallback) for this failure.
pub fn assert_says(e: &CallError, start: &str) {
    let text = e.kind.user_message().text(&saved());
    assert!(text.starts_with(start), "{text}");
}

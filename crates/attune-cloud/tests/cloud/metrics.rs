//! `GET /metrics`: OpenMetrics text that parses, counters that move with what the server does,
//! route patterns and never keys or tokens.

use std::collections::BTreeMap;

use attune_cloud::api::Limits;
use serde_json::json;

use crate::common::{password_grant, Cloud, DEV_ID, GNOME_DEVICE};

/// One scrape: every sample as `name{labels}` → value. Panics on a line that is not
/// OpenMetrics text (a comment, or `name[{labels}] value`), or without the closing `# EOF`.
pub async fn scrape(c: &Cloud) -> BTreeMap<String, f64> {
    let r = c.http.get(c.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.headers()
    );
    parse(&r.text().await.unwrap())
}

fn parse(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                ["HELP ", "TYPE ", "UNIT ", "EOF"]
                    .iter()
                    .any(|k| comment.starts_with(k)),
                "{line}"
            );
            continue;
        }
        let (sample, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = sample.find('{').unwrap_or(sample.len());
        let name = &sample[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':'),
            "metric name in {line}"
        );
        if name_end < sample.len() {
            assert!(sample.ends_with('}'), "labels in {line}");
        }
        let value = match value {
            "+Inf" | "inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        out.insert(sample.to_owned(), value);
    }
    out
}

fn get(m: &BTreeMap<String, f64>, sample: &str) -> f64 {
    *m.get(sample)
        .unwrap_or_else(|| panic!("no {sample} in {:#?}", m.keys().collect::<Vec<_>>()))
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_grants() {
    let c = Cloud::start().await;
    let before = scrape(&c).await;
    assert_eq!(get(&before, "attune_cloud_token_grants_total"), 0.0);
    assert_eq!(get(&before, "attune_cloud_store_up"), 1.0);

    let token = c.token("large_text").await;
    assert_eq!(
        c.get_settings("large_text", GNOME_DEVICE, Some(&token))
            .await
            .status(),
        200
    );
    assert_eq!(
        c.get_settings("large_text", GNOME_DEVICE, None)
            .await
            .status(),
        401
    );
    let r = c.http.get(c.url("/metrics")).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("large_text") && !text.contains(&token),
        "keys and tokens never appear:\n{text}"
    );
    let m = parse(&text);
    let settings = r#"route="/{key}/settings/{device}",method="GET""#;
    assert_eq!(
        get(
            &m,
            &format!(r#"attune_cloud_http_requests_total{{{settings},status="200"}}"#)
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!(r#"attune_cloud_http_requests_total{{{settings},status="401"}}"#)
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            &format!(r#"attune_cloud_http_request_duration_seconds_count{{{settings}}}"#)
        ),
        2.0
    );
    assert_eq!(
        get(
            &m,
            &format!(
                r#"attune_cloud_http_request_duration_seconds_bucket{{le="+Inf",{settings}}}"#
            )
        ),
        2.0
    );
    assert_eq!(get(&m, "attune_cloud_token_grants_total"), 1.0);
    // This scrape is the one request in flight.
    assert_eq!(get(&m, "attune_cloud_http_requests_in_flight"), 1.0);
    assert!(
        !m.keys().any(|k| k.starts_with("attune_cloud_backup_age")),
        "no backup folder, no backup age"
    );
    c.stop().await;
}

#[tokio::test]
async fn rate_limited_grants_are_counted() {
    let c = Cloud::start().await;
    let mut limited = 0;
    for _ in 0..12 {
        let r = c
            .token_form(&password_grant(DEV_ID, "wrong secret", "large_text"))
            .await;
        if r.status() == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "the limiter never answered 429");
    let m = scrape(&c).await;
    assert_eq!(
        get(&m, "attune_cloud_rate_limited_total"),
        f64::from(limited)
    );
    assert_eq!(get(&m, "attune_cloud_token_grants_total"), 0.0);
    c.stop().await;
}

#[tokio::test]
async fn store_failures_are_counted() {
    let c = Cloud::start().await;
    // Every write of a token fails, as on a full disk.
    rusqlite::Connection::open(c.store.path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER full BEFORE INSERT ON authorizations
                BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let r = c
        .token_form(&password_grant(DEV_ID, "attune-dev-secret", "large_text"))
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let m = scrape(&c).await;
    assert_eq!(get(&m, "attune_cloud_store_errors_total"), 1.0);
    assert_eq!(
        get(
            &m,
            r#"attune_cloud_http_requests_total{route="/access_token",method="POST",status="503"}"#
        ),
        1.0
    );
    c.stop().await;
}

#[tokio::test]
async fn a_put_is_counted_under_its_route() {
    let c = Cloud::start_with(Limits::default()).await;
    let token = c.token("alice").await;
    let body = json!({"contexts": {"gpii-default": {"preferences":
        {"http://registry.gpii.net/common/fontSize": 20}}}});
    assert_eq!(
        c.put_settings("alice", &body, Some(&token)).await.status(),
        200
    );
    let m = scrape(&c).await;
    assert_eq!(
        get(
            &m,
            r#"attune_cloud_http_requests_total{route="/{key}/settings",method="PUT",status="200"}"#
        ),
        1.0
    );
    c.stop().await;
}

#[test]
fn serve_with_a_backup_folder_reports_the_age_of_its_newest_backup() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    crate::common::admin(&["credentials", "create", "--store", &store, "--site", "s"]);
    crate::common::admin_backup(&store, &backups.join("cloud-1.db"));
    let serving =
        crate::common::serve(&["--store", &store, "--backup-dir", backups.to_str().unwrap()]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async {
        let r = reqwest::get(format!("{}/metrics", serving.url))
            .await
            .unwrap();
        r.text().await.unwrap()
    });
    let age = parse(&text)["attune_cloud_backup_age_seconds"];
    assert!((0.0..600.0).contains(&age), "{age}");
    serving.stop();
}

//! Load benchmark of `GET /{key}/settings/{device}`: requests per second and p50/p99 latency at
//! several concurrency levels, against any GPII-compatible cloud (attune-cloud or GPII's own).
//!
//! ```text
//! cargo run --release -p attune-cloud --example loadgen -- \
//!     --url http://127.0.0.1:8081 --key large_text --seconds 10 --clients 1,16,64 [--pid PID] [--path /health]
//! ```
//! With `--pid`, the server's peak resident memory (VmHWM) is read from /proc after each level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn rss_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url", "http://127.0.0.1:8081");
    let key = arg(&args, "--key", "large_text");
    let client_id = arg(&args, "--client-id", "attune-dev");
    let secret = arg(&args, "--client-secret", "attune-dev-secret");
    let seconds: u64 = arg(&args, "--seconds", "10").parse().unwrap();
    let levels: Vec<usize> = arg(&args, "--clients", "1,16,64")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let pid = arg(&args, "--pid", "");
    let device = arg(
        &args,
        "--device",
        r#"{"OS":{"id":"linux"},"solutions":[{"id":"org.gnome.desktop.interface"},{"id":"org.gnome.desktop.a11y.magnifier"}]}"#,
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let token: serde_json::Value = http
        .post(format!("{url}/access_token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("username", key.as_str()),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_owned();
    // `--path /health` measures the server's and this client's floor without the settings work.
    let path = arg(&args, "--path", "");
    let target = if path.is_empty() {
        format!(
            "{url}/{key}/settings/{}",
            attune_cloud::uri::encode_component(&device)
        )
    } else {
        format!("{url}{path}")
    };
    println!("clients  req/s     p50_ms  p99_ms  errors  server_rss_peak_MiB");
    for &clients in &levels {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let http = http.clone();
                let target = target.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut errors = 0u64;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match http.get(&target).bearer_auth(&token).send().await {
                            Ok(r) if r.status() == 200 => {
                                let _ = r.bytes().await;
                                lat.push(t.elapsed().as_micros() as u64);
                            }
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        let start = Instant::now();
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        let elapsed = start.elapsed().as_secs_f64();
        all.sort_unstable();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map_or(0.0, |us| *us as f64 / 1000.0)
        };
        let rss = if pid.is_empty() {
            "-".to_owned()
        } else {
            rss_kib(&pid, "VmHWM:").map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
        };
        println!(
            "{clients:>7}  {:>8.0}  {:>6.2}  {:>6.2}  {errors:>6}  {rss}",
            all.len() as f64 / elapsed,
            pct(0.50),
            pct(0.99)
        );
    }
}

//! Load benchmark of a GPII-compatible cloud (attune-cloud or GPII's own): requests per second and
//! p50/p99 latency at several concurrency levels, optionally side by side with GPII's cloud.
//!
//! ```text
//! cargo run --release -p attune-cloud --example loadgen -- --url http://127.0.0.1:8081 \
//!     [--mode settings|grants|cold|prepare] [--key large_text] [--keys keys.csv] \
//!     [--seconds 10] [--clients 1,16,64] [--pid PID] [--path /health] \
//!     [--gpii-url http://127.0.0.1:8091 --gpii-key carla --gpii-keys gpii-keys.csv]
//! ```
//!
//! Modes:
//! - `settings` (default): `GET /{key}/settings/{device}` again and again with one token (the
//!   server's answer cache helps: the hot path).
//! - `grants`: `POST /access_token` for one key again and again (the token storm at opening
//!   time: every grant is a durable write).
//! - `cold`: every key of `--keys` (a `keys generate` CSV, header `key`) once, a grant then its
//!   `GET settings`: what a library's computers do at 9 a.m., with no answer cached. Each key
//!   is used once in all (several `--clients` levels share the list). Reports keys per second
//!   and the latency of a key's grant and fetch together; stops early at `--seconds`.
//! - `prepare`: gives every key of `--keys` preferences (a grant, then `PUT settings`), once,
//!   before `cold`.
//!
//! Several modes run in turn with `--mode grants,cold`. With `--gpii-url`, each level is measured against GPII's cloud too (its credential
//! `--gpii-client-id`/`--gpii-client-secret`, default GPII's test data `pilot-computer`; its key
//! `--gpii-key`, its key list `--gpii-keys`, default `--keys`) and the ratio printed. With
//! `--pid`, the server's peak resident memory (VmHWM) is read from /proc after each level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Settings,
    Grants,
    Cold,
    Prepare,
}

/// One cloud under test.
struct Target {
    name: &'static str,
    url: String,
    client_id: String,
    secret: String,
    key: String,
    keys: Vec<String>,
    pid: String,
}

/// What one level measured.
struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    done: usize,
}

/// The preferences `prepare` PUTs for every key (a PUT body is the set without `flat`): a few
/// common terms, so each key's answer is a real matchmaking.
const PREFS: &str = r#"{"name":"loadgen","contexts":{"gpii-default":{"name":"Default preferences","preferences":{"http://registry.gpii.net/common/fontSize":18,"http://registry.gpii.net/common/magnification":2,"http://registry.gpii.net/common/highContrastEnabled":true}}}}"#;

fn read_keys(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("--keys {path}: {e}"));
    text.lines()
        .skip_while(|l| *l == "key")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn grant(http: &reqwest::Client, t: &Target, key: &str) -> Option<String> {
    let r = http
        .post(format!("{}/access_token", t.url))
        .form(&[
            ("grant_type", "password"),
            ("client_id", t.client_id.as_str()),
            ("client_secret", t.secret.as_str()),
            ("username", key),
            ("password", "x"),
        ])
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let v: serde_json::Value = r.json().await.ok()?;
    v["access_token"].as_str().map(str::to_owned)
}

async fn get_settings(http: &reqwest::Client, target: &str, token: &str) -> bool {
    match http.get(target).bearer_auth(token).send().await {
        Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
        _ => false,
    }
}

fn settings_url(t: &Target, key: &str, device: &str) -> String {
    format!(
        "{}/{key}/settings/{}",
        t.url,
        attune_cloud::uri::encode_component(device)
    )
}

/// Runs `clients` workers until `deadline` (or, for `cold` and `prepare`, until every key of
/// `keys` is done).
#[allow(clippy::too_many_arguments)]
async fn level(
    mode: Mode,
    t: &Arc<Target>,
    keys: &Arc<[String]>,
    http: &reqwest::Client,
    clients: usize,
    seconds: u64,
    device: &str,
    path: &str,
    token: &str,
) -> Measured {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, t, next, keys) = (http.clone(), t.clone(), next.clone(), keys.clone());
            let target = if path.is_empty() {
                settings_url(&t, &t.key, device)
            } else {
                format!("{}{path}", t.url)
            };
            let (device, token) = (device.to_owned(), token.to_owned());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let start = Instant::now();
                    let ok = match mode {
                        Mode::Settings => get_settings(&http, &target, &token).await,
                        Mode::Grants => grant(&http, &t, &t.key).await.is_some(),
                        Mode::Cold | Mode::Prepare => {
                            let Some(key) = keys.get(next.fetch_add(1, Ordering::Relaxed)) else {
                                break;
                            };
                            match grant(&http, &t, key).await {
                                None => false,
                                Some(tok) if mode == Mode::Cold => {
                                    get_settings(&http, &settings_url(&t, key, &device), &tok).await
                                }
                                Some(tok) => http
                                    .put(format!("{}/{key}/settings", t.url))
                                    .bearer_auth(tok)
                                    .header("content-type", "application/json")
                                    .body(PREFS)
                                    .send()
                                    .await
                                    .is_ok_and(|r| r.status() == 200),
                            }
                        }
                    };
                    if ok {
                        lat.push(start.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let start = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    Measured {
        per_second: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
        done: all.len(),
    }
}

fn rss(t: &Target) -> String {
    if t.pid.is_empty() {
        "-".to_owned()
    } else {
        rss_kib(&t.pid, "VmHWM:").map_or("-".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let modes: Vec<Mode> = arg(&args, "--mode", "settings")
        .split(',')
        .map(|m| match m {
            "settings" => Mode::Settings,
            "grants" => Mode::Grants,
            "cold" => Mode::Cold,
            "prepare" => Mode::Prepare,
            other => panic!("--mode {other}: expected settings, grants, cold or prepare"),
        })
        .collect();
    let keys = arg(&args, "--keys", "");
    let ours = Target {
        name: "attune-cloud",
        url: arg(&args, "--url", "http://127.0.0.1:8081"),
        client_id: arg(&args, "--client-id", "attune-dev"),
        secret: arg(&args, "--client-secret", "attune-dev-secret"),
        key: arg(&args, "--key", "large_text"),
        keys: read_keys(&keys),
        pid: arg(&args, "--pid", ""),
    };
    let gpii_url = arg(&args, "--gpii-url", "");
    let theirs = (!gpii_url.is_empty()).then(|| Target {
        name: "GPII",
        url: gpii_url,
        client_id: arg(&args, "--gpii-client-id", "pilot-computer"),
        secret: arg(&args, "--gpii-client-secret", "pilot-computer-secret"),
        key: arg(&args, "--gpii-key", "carla"),
        keys: read_keys(&arg(&args, "--gpii-keys", &keys)),
        pid: arg(&args, "--gpii-pid", ""),
    });
    let seconds: u64 = arg(&args, "--seconds", "10").parse().unwrap();
    let levels: Vec<usize> = arg(&args, "--clients", "1,16,64")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let device = arg(
        &args,
        "--device",
        r#"{"OS":{"id":"linux"},"solutions":[{"id":"org.gnome.desktop.interface"},{"id":"org.gnome.desktop.a11y.magnifier"}]}"#,
    );
    // `--path /health` measures the server's and this client's floor without the settings work.
    let path = arg(&args, "--path", "");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let targets: Vec<Arc<Target>> = std::iter::once(ours).chain(theirs).map(Arc::new).collect();
    for mode in modes {
        println!();
        let mut tokens = Vec::new();
        for t in &targets {
            if matches!(mode, Mode::Cold | Mode::Prepare) && t.keys.is_empty() {
                panic!("--mode cold and prepare need --keys (and --gpii-keys for GPII)");
            }
            let token = if mode == Mode::Settings && path.is_empty() {
                grant(&http, t, &t.key)
                    .await
                    .unwrap_or_else(|| panic!("{}: no token for {}", t.name, t.key))
            } else {
                String::new()
            };
            tokens.push(token);
        }
        let (name, unit) = match mode {
            Mode::Settings => ("GET settings", "req/s"),
            Mode::Grants => ("token grants", "req/s"),
            Mode::Cold => ("cold path: a grant, then GET settings, per key", "keys/s"),
            Mode::Prepare => ("prepare: a grant, then PUT settings, per key", "keys/s"),
        };
        println!("{name}");
        print!(
            "clients  target        {unit:>8}  p50_ms  p99_ms  errors  done    server_rss_peak_MiB"
        );
        println!("{}", if targets.len() > 1 { "  ratio" } else { "" });
        for (i, &clients) in levels.iter().enumerate() {
            let mut first = None;
            for (t, token) in targets.iter().zip(&tokens) {
                // Each key is used once in all: the levels share the list, so no level finds
                // another's answers cached.
                let n = t.keys.len();
                let keys: Arc<[String]> =
                    t.keys[i * n / levels.len()..(i + 1) * n / levels.len()].into();
                let m = level(
                    mode, t, &keys, &http, clients, seconds, &device, &path, token,
                )
                .await;
                let ratio = match first {
                    None => {
                        first = Some(m.per_second);
                        String::new()
                    }
                    Some(ours) if m.per_second > 0.0 => format!("  {:.0}x", ours / m.per_second),
                    Some(_) => "  -".to_owned(),
                };
                println!(
                    "{clients:>7}  {:<12}  {:>8.1}  {:>6.2}  {:>6.2}  {:>6}  {:>6}  {}{ratio}",
                    t.name,
                    m.per_second,
                    m.p50_ms,
                    m.p99_ms,
                    m.errors,
                    m.done,
                    rss(t),
                );
            }
        }
    }
}

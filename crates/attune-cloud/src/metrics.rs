//! `GET /metrics`: what the server has done, in the OpenMetrics text format Prometheus scrapes,
//! written by `prometheus-client` (the Prometheus project's own Rust client).
//!
//! Requests are counted by route *pattern* (`/{key}/settings/{device}`), never by path: a path
//! holds a key. The alert rules that read these are in `docs/operations.md`.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `attune_cloud_http_requests_total{route,method,status}` | counter | requests answered |
//! | `attune_cloud_http_request_duration_seconds{route,method}` | histogram | time to answer |
//! | `attune_cloud_http_requests_in_flight` | gauge | requests being handled now |
//! | `attune_cloud_shed_total` | counter | requests answered 503 at once because too many were in flight |
//! | `attune_cloud_rate_limited_total` | counter | token requests answered 429 (too many failures) |
//! | `attune_cloud_store_errors_total` | counter | requests that failed because the store did |
//! | `attune_cloud_token_grants_total` | counter | tokens granted |
//! | `attune_cloud_expired_tokens_purged_total` | counter | expired tokens the server deleted |
//! | `attune_cloud_store_up` | gauge | 1 when the store answered this scrape's ping, else 0 |
//! | `attune_cloud_backup_age_seconds` | gauge | age of the newest backup in the backup folder (infinite when there is none); only with a backup folder |

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds: a cached answer takes well under a
/// millisecond, a grant a few, a store that times out seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Why a request failed, as far as the metrics care: the middleware that counts requests reads
/// it from the response's extensions, where the code that decided the answer put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Answered 503 at once: too many requests in flight.
    Shed,
    /// Answered 429: too many failed token requests.
    RateLimited,
    /// Answered 503: the store failed.
    Store,
}

/// The server's metrics. One per [`crate::api::AppState`].
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    in_flight: Gauge,
    shed: Counter,
    rate_limited: Counter,
    store_errors: Counter,
    token_grants: Counter,
    tokens_purged: Counter,
    store_up: Gauge,
    backup_age: Gauge<f64, AtomicU64>,
    backup_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("attune_cloud");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let (in_flight, shed, rate_limited, store_errors) = Default::default();
        let (token_grants, tokens_purged, store_up) = Default::default();
        registry.register(
            "http_requests",
            "Requests answered, by route pattern, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route pattern and method",
            duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            Gauge::clone(&in_flight),
        );
        registry.register(
            "shed",
            "Requests answered 503 at once because too many were in flight",
            Counter::clone(&shed),
        );
        registry.register(
            "rate_limited",
            "Token requests answered 429 after too many failures",
            Counter::clone(&rate_limited),
        );
        registry.register(
            "store_errors",
            "Requests that failed because the store did",
            Counter::clone(&store_errors),
        );
        registry.register(
            "token_grants",
            "Access tokens granted",
            Counter::clone(&token_grants),
        );
        registry.register(
            "expired_tokens_purged",
            "Expired access tokens the server deleted",
            Counter::clone(&tokens_purged),
        );
        registry.register(
            "store_up",
            "1 when the store answered the ping of this scrape, else 0",
            Gauge::clone(&store_up),
        );
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            shed,
            rate_limited,
            store_errors,
            token_grants,
            tokens_purged,
            store_up,
            backup_age: Gauge::default(),
            backup_dir: None,
        }
    }
}

impl Metrics {
    /// These metrics, and `attune_cloud_backup_age_seconds` from the backups in `dir` (the
    /// configured backup folder).
    pub fn with_backup_dir(mut self, dir: PathBuf) -> Self {
        if self.backup_dir.is_none() {
            self.registry.register(
                "backup_age_seconds",
                "Age of the newest verified backup in the backup folder (infinite when there is none)",
                self.backup_age.clone(),
            );
        }
        self.backup_dir = Some(dir);
        self
    }

    /// A request started; the guard counts it as in flight until dropped.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// A request was answered.
    pub fn answered(
        &self,
        route: &str,
        method: &str,
        status: u16,
        seconds: f64,
        failure: Option<Failure>,
    ) {
        let (route, method) = (route.to_owned(), method.to_owned());
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method: method.clone(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels { route, method })
            .observe(seconds);
        match failure {
            Some(Failure::Shed) => self.shed.inc(),
            Some(Failure::RateLimited) => self.rate_limited.inc(),
            Some(Failure::Store) => self.store_errors.inc(),
            None => 0,
        };
    }

    pub fn token_granted(&self) {
        self.token_grants.inc();
    }

    pub fn tokens_purged(&self, n: u64) {
        self.tokens_purged.inc_by(n);
    }

    /// The text of a scrape. `store_up` is this scrape's ping; `now` dates the backups.
    pub fn render(&self, store_up: bool, now: SystemTime) -> Result<String, std::fmt::Error> {
        self.store_up.set(i64::from(store_up));
        if let Some(dir) = &self.backup_dir {
            let age = crate::admin::verified_backups(dir)
                .first()
                .map_or(f64::INFINITY, |(_, t)| {
                    now.duration_since(*t).map_or(0.0, |d| d.as_secs_f64())
                });
            self.backup_age.set(age);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Counts a request as in flight while it lives (also when the request is dropped unanswered).
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
    }

    #[test]
    fn the_backup_age_is_that_of_the_newest_verified_backup() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let write = |name: &str, at: SystemTime| {
            let f = std::fs::File::create(dir.path().join(name)).unwrap();
            f.set_modified(at).unwrap();
        };
        let m = Metrics::default().with_backup_dir(dir.path().to_owned());
        let text = m.render(true, t0).unwrap();
        // prometheus-client writes infinity as `inf`, which Prometheus' parser reads (Go's
        // ParseFloat).
        assert_eq!(
            sample(&text, "attune_cloud_backup_age_seconds"),
            Some("inf")
        );

        write("cloud-1.db", t0);
        write("cloud-1.db.sha256", t0);
        // Newer, but unverified (no checksum beside it): a copy still being written.
        write("cloud-2.db", t0 + Duration::from_secs(3600));
        let text = m.render(true, t0 + Duration::from_secs(27 * 3600)).unwrap();
        assert_eq!(
            sample(&text, "attune_cloud_backup_age_seconds"),
            Some("97200.0")
        );
        assert_eq!(sample(&text, "attune_cloud_store_up"), Some("1"));
        let text = m.render(false, t0).unwrap();
        assert_eq!(sample(&text, "attune_cloud_store_up"), Some("0"));
    }
}

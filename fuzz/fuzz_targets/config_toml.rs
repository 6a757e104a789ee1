//! A configuration file (`attune.toml`, the site file): the bytes of a TOML file read through the
//! real loader (`Config::load`: UTF-8 check, TOML, the layers laid over the profile's defaults,
//! the checks), as the site or user file, with the environment empty; then what a key-in makes of
//! the resilience settings (the deadline, the backoff, the breaker).
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use attune_flow::cloud::policy::{CircuitBreaker, RetryPolicy};
use attune_flow::config::{Config, Sources};
use libfuzzer_sys::fuzz_target;

/// One file, rewritten for each input (the loader reads only from a path).
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("attune-fuzz-config")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        dir.join("attune.toml")
    })
}

fuzz_target!(|text: &[u8]| {
    let path = file();
    if std::fs::write(path, text).is_err() {
        return;
    }
    for as_site in [true, false] {
        let mut env = BTreeMap::new();
        let var = if as_site {
            "ATTUNE_SITE_CONFIG"
        } else {
            "ATTUNE_CONFIG"
        };
        env.insert(var.to_owned(), path.display().to_string());
        let src = Sources {
            profile_override: None,
            site_file: as_site.then(|| path.clone()),
            user_file: (!as_site).then(|| path.clone()),
            env,
        };
        if let Ok(cfg) = Config::load(&src) {
            let _ = format!("{cfg:?}");
            let now = tokio::time::Instant::now();
            let policy = RetryPolicy::from_config(&cfg.resilience);
            let deadline = policy.deadline_from(now);
            let _ = policy.attempt_budget(now, deadline);
            let _ = policy.backoff();
            let mut breaker = CircuitBreaker::from_config(&cfg.resilience);
            let _ = breaker.admit(now);
        }
    }
});

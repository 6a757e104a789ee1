//! A configuration file (`attune.toml`, the site file): the bytes of a TOML file read through the
//! real loader (`Config::load`: UTF-8 check, TOML, the layers laid over the profile's defaults,
//! the checks), as the site or user file, with the environment empty; then what a key-in makes of
//! the resilience settings (the deadline, the backoff, the breaker).
#![no_main]

use std::collections::BTreeMap;

use attune_flow::cloud::policy::{CircuitBreaker, RetryPolicy};
use attune_flow::{Config, Sources};
use attune_fuzz::input_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    // The loader reads only from a path.
    let Some(path) = input_file("attune.toml", text) else {
        return;
    };
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

//! What the client makes of an answer's status line, headers and error body before it parses the
//! body as data: `Retry-After` (delay-seconds or an HTTP-date), `X-Attune-Api`, the three GPII
//! error-body shapes (`classify_answer`), and what the resilience policy then does with the
//! failure (a server's Retry-After becomes the client's "not before").
//!
//! Input: `status (2 bytes, big-endian) | flags (1 byte) | api header \n retry-after \n body`.
#![no_main]

use std::time::{Duration, SystemTime};

use attune_flow::cloud::classify::{
    classify_answer, parse_error_body, parse_retry_after, ApiVersion, Endpoint,
};
use attune_flow::cloud::policy::Health;
use attune_flow::{Config, Profile};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|data: &[u8]| {
    let [s0, s1, flags, rest @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*s0, *s1]);
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let api = parts.next().and_then(|b| std::str::from_utf8(b).ok());
    let retry_after = parts.next().and_then(|b| std::str::from_utf8(b).ok());
    let body = parts.next().unwrap_or_default();

    // A fixed wall clock: the same input always means the same thing.
    let now_wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    if let Some(ra) = retry_after {
        let _ = parse_retry_after(ra, now_wall);
    }
    if let Some(api) = api {
        let _ = ApiVersion::parse(api);
    }
    let _ = parse_error_body(body);

    let endpoint = match flags & 3 {
        0 => Endpoint::Token,
        1 => Endpoint::Settings,
        _ => Endpoint::Version,
    };
    let legacy_gpii = flags & 16 != 0;
    let outcome = classify_answer(
        endpoint,
        status,
        api.filter(|_| flags & 4 == 0),
        retry_after.filter(|_| flags & 8 == 0),
        body,
        legacy_gpii,
        now_wall,
    );
    if let Err(failure) = outcome {
        let _ = failure.to_string();
        let _ = failure.user_message();
        let mut health = Health::from_config(&Config::defaults(Profile::Production).resilience);
        let now = Instant::now();
        health.record(Err(&failure), now, 0.5);
        let _ = health.admit(now);
    }
});

//! The cloud's answer to `POST /access_token` (`{"access_token","expiresIn"}`), as the client
//! reads it, and then used as the client uses a token: its expiry and whether to renew it.
#![no_main]

use attune_flow::cloud::client::parse_token_answer;
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

fuzz_target!(|body: &[u8]| {
    let now = Instant::now();
    if let Ok(token) = parse_token_answer(body, now) {
        let _ = token.expires_at();
        let _ = token.needs_renewal(now);
        let _ = format!("{token:?}");
    }
});

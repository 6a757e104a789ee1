//! The sealed preferences on a USB stick (`.attune/preferences.sealed`, docs/design.md §10.3):
//! anyone can write one, and its header is read before its tag can be checked. Argon2id on every
//! input would spend the fuzzer's time in the KDF, so the first byte chooses a half:
//! even — the header parser (the bounds on the KDF's cost, the declared length) and the AEAD
//! with a fixed derived key; odd — the rest as the plain text a tag vouched for (the JSON and
//! the preference set inside).
#![no_main]

use attune_flow::stick;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&choose, rest)) = bytes.split_first() else {
        return;
    };
    if choose & 1 == 1 {
        if let Ok(u) = stick::parse_plain(rest) {
            let _ = u.preferences.to_value();
        }
        return;
    }
    if let Ok((header, aad, body)) = stick::parse(rest) {
        assert_eq!(aad.len(), stick::HEADER_LEN);
        assert_eq!(body.len(), header.body_len as usize);
        let _ = stick::open_with(&[7u8; 32], &header, aad, body);
    }
});

//! The token file on a USB stick (`.gpii-user-token.txt`): anyone can write one, so its bytes go
//! through the listener's real reader (`read_token`: size, UTF-8, NUL, the key rules).
#![no_main]

use attune_fuzz::input_file;
use attune_listen::usb::read_token;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some(path) = input_file(".gpii-user-token.txt", bytes) else {
        return;
    };
    if let Ok(key) = read_token(&path) {
        let _ = key.fingerprint();
        let _ = format!("{key:?} {key}");
    }
});

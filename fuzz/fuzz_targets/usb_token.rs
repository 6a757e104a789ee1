//! The token file on a USB stick (`.gpii-user-token.txt`): anyone can write one, so its bytes go
//! through the listener's real reader (`read_token`: size, UTF-8, NUL, the key rules).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use attune_listen::usb::read_token;
use libfuzzer_sys::fuzz_target;

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("attune-fuzz-usb")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"))
            .join(".gpii-user-token.txt")
    })
}

fuzz_target!(|bytes: &[u8]| {
    let path = file();
    if std::fs::write(path, bytes).is_err() {
        return;
    }
    if let Ok(key) = read_token(path) {
        let _ = key.fingerprint();
        let _ = format!("{key:?} {key}");
    }
});

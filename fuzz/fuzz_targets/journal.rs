//! The settings journal as found on disk at start-up: `Journal::peek` (status) and
//! `Journal::load` (recovery: a damaged tail cut and kept aside, the good records written back),
//! then the lookups restore makes over the records.
//!
//! Input: a mode byte, then text. Mode even: the text is the whole file, as is. Mode odd: the text
//! is records, one per line, and the harness writes the header and each line's true checksum,
//! so the fuzzer reaches the record parser behind the SHA-256 it could not forge.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use attune_fuzz::scratch_dir;
use attune_settings::journal::{path_in, sha256_hex, Journal, JOURNAL_VERSION};
use libfuzzer_sys::fuzz_target;

/// The journal's directory (under `TMPDIR`: scripts/fuzz.sh points it at tmpfs, since the loader
/// syncs, and removes it after the run).
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch_dir("attune-fuzz-journal"))
}

fn with_checksums(records: &[u8]) -> Vec<u8> {
    let mut out = format!("attune-journal {JOURNAL_VERSION}\n").into_bytes();
    for line in records.split(|&b| b == b'\n') {
        out.extend_from_slice(sha256_hex(line).as_bytes());
        out.push(b' ');
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, text)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 1 {
        with_checksums(text)
    } else {
        text.to_vec()
    };
    let dir = dir();
    // Whatever the last input left (a `.corrupt` copy, a repaired journal) goes first.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    if std::fs::write(path_in(dir), &file).is_err() {
        return;
    }
    let _ = Journal::peek(dir);
    if let Ok(loaded) = Journal::load(dir) {
        if let Some(j) = loaded.journal {
            let _ = j.applied();
            for r in j.originals() {
                let _ = format!("{r:?}");
            }
            for r in &j.records {
                if let attune_settings::journal::Record::FileOriginal { path, .. } = r {
                    let _ = j.file_original(path);
                    let _ = j.written_hashes(path);
                }
            }
        }
    }
});

//! The durable write order of Attune's state files, checked on the real process with `strace`
//! (docs/design.md §9, docs/test-matrix.md C1–C3). SIGKILL cannot catch a missing fsync — the page
//! cache outlives the process — so the order is checked directly: for every file Attune replaces
//! under its data and state dirs, the new content is written, the temp file is fsynced, renamed
//! over the target, and then the directory is fsynced. Removing any of those fsyncs makes this test
//! fail.

use std::process::Command;

use attune_e2e::workspace_bin;

use crate::common::prepared_desktop;

#[derive(Debug)]
enum Ev {
    Write(String),
    Fsync(String),
    Rename(String, String),
}

/// Parses `strace -f -y -e trace=write,pwrite64,fsync,fdatasync,rename,renameat,renameat2` output.
fn parse(text: &str) -> Vec<Ev> {
    let mut out = Vec::new();
    for line in text.lines() {
        // Drop the process id strace writes first with -f -o ("1234  write(...)").
        let l = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let fd_path = |l: &str| -> Option<String> {
            let a = l.find('<')? + 1;
            let b = l[a..].find('>')? + a;
            Some(l[a..b].to_owned())
        };
        let quoted = |l: &str| -> Vec<String> {
            l.split('"')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s.to_owned())
                .collect()
        };
        if l.starts_with("write(") || l.starts_with("pwrite64(") {
            if let Some(p) = fd_path(l) {
                out.push(Ev::Write(p));
            }
        } else if l.starts_with("fsync(") || l.starts_with("fdatasync(") {
            if let Some(p) = fd_path(l) {
                out.push(Ev::Fsync(p));
            }
        } else if l.starts_with("rename") && l.contains("= 0") {
            let q = quoted(l);
            if q.len() >= 2 {
                out.push(Ev::Rename(q[0].clone(), q[1].clone()));
            }
        }
    }
    out
}

/// Checks write → fsync(temp) → rename → fsync(dir) for every rename into `roots`; returns the
/// renamed targets.
fn check_order(evs: &[Ev], roots: &[String]) -> Vec<String> {
    let mut checked = Vec::new();
    for (i, e) in evs.iter().enumerate() {
        let Ev::Rename(from, to) = e else { continue };
        if !roots.iter().any(|r| to.starts_with(r.as_str())) {
            continue;
        }
        let last_write = evs[..i]
            .iter()
            .rposition(|e| matches!(e, Ev::Write(p) if p == from))
            .unwrap_or_else(|| panic!("{to}: no write to {from} before its rename"));
        let synced = evs[last_write..i]
            .iter()
            .any(|e| matches!(e, Ev::Fsync(p) if p == from));
        assert!(
            synced,
            "{to}: {from} renamed without an fsync after its last write"
        );
        let dir = std::path::Path::new(to)
            .parent()
            .unwrap()
            .display()
            .to_string();
        let next_rename_same = evs[i + 1..]
            .iter()
            .position(|e| matches!(e, Ev::Rename(_, t) if t == to))
            .map(|j| i + 1 + j)
            .unwrap_or(evs.len());
        let dir_synced = evs[i + 1..next_rename_same]
            .iter()
            .any(|e| matches!(e, Ev::Fsync(p) if *p == dir));
        assert!(
            dir_synced,
            "{to}: directory {dir} not fsynced after the rename"
        );
        checked.push(to.clone());
    }
    checked
}

/// Runs a key-in under strace (with an optional mutation switched on) and checks the order.
fn traced_key_in_order(mutation: Option<&str>) -> Vec<String> {
    if Command::new("strace").arg("-V").output().is_err() {
        panic!("strace is required (scripts/setup-deps.sh installs it)");
    }
    let d = prepared_desktop();
    let attune = workspace_bin("attune-cli", "attune");
    let log = d.dir.path().join("strace.txt");
    let mut c = d.command("strace");
    c.args(["-f", "-y", "-qq", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=write,pwrite64,fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg(&attune)
        .args(["key-in", "low_vision_combined"]);
    if let Some(m) = mutation {
        c.env("ATTUNE_TEST_MUTATE", m);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.code().is_some_and(|c| c == 0 || c == 3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let roots = vec![
        d.dir.path().join("data").display().to_string(),
        d.dir.path().join("state").display().to_string(),
    ];
    check_order(&parse(&text), &roots)
}

#[test]
fn journal_and_state_files_are_written_temp_fsync_rename_fsync_dir() {
    let checked = traced_key_in_order(None);
    assert!(
        checked.iter().any(|p| p.contains("journal")),
        "the journal was written with the checked order: {checked:?}"
    );
    assert!(
        checked.iter().any(|p| p.ends_with("session.json")),
        "the session file too: {checked:?}"
    );
}

#[test]
fn the_checker_fails_when_an_fsync_is_missing() {
    // Mutation check of the checker itself: the same sequence with either fsync removed fails.
    let good = "write(3</s/j.tmp>, \"x\", 1) = 1\nfsync(3</s/j.tmp>) = 0\nrename(\"/s/j.tmp\", \"/s/j\") = 0\nfsync(4</s>) = 0\n";
    assert_eq!(check_order(&parse(good), &["/s".to_owned()]), vec!["/s/j"]);
    let no_file_sync = good.replace("fsync(3</s/j.tmp>) = 0\n", "");
    assert!(
        std::panic::catch_unwind(|| check_order(&parse(&no_file_sync), &["/s".to_owned()]))
            .is_err()
    );
    let no_dir_sync = good.replace("fsync(4</s>) = 0\n", "");
    assert!(
        std::panic::catch_unwind(|| check_order(&parse(&no_dir_sync), &["/s".to_owned()])).is_err()
    );
}

#[test]
fn the_order_check_fails_when_the_code_skips_an_fsync() {
    // Mutation tests on the real binary: with either fsync switched off, the check must fail.
    for m in ["atomic.fsync_file", "atomic.fsync_dir"] {
        let r = std::panic::catch_unwind(|| traced_key_in_order(Some(m)));
        assert!(r.is_err(), "the order check passed with {m} removed");
    }
}

//! Configuration files as the real `attune` reads them (issue 12): an error never echoes the
//! file's text (the client secret), only regular files of at most 64 KiB are read (a FIFO or
//! `/dev/zero` cannot hang start-up), and the production profile refuses plain http unless the
//! site file allows it.

use std::path::Path;
use std::process::Output;
use std::sync::mpsc;
use std::time::Duration;

use attune_e2e::{workspace_bin, Desktop};
use serde_json::Value;

const SECRET: &str = "hunter2-secret";

/// Runs `attune` with `env`; a run that has not finished within a generous bound is killed and
/// fails the test (a hang, not a slow machine).
fn attune_within(d: &Desktop, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = d.command(workspace_bin("attune-cli", "attune"));
    c.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("attune {args:?} hung");
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn site_file(d: &Desktop, body: &str) -> String {
    let p = d.dir.path().join("site.toml");
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn a_syntax_error_on_the_secrets_line_is_located_but_never_echoed() {
    let d = Desktop::new();
    let site = site_file(
        &d,
        &format!(
            "[cloud]\nurl = \"https://cloud.example\"\nclient_id = \"branch-3\"\n\
             client_secret = \"{SECRET}\" oops\n"
        ),
    );
    let env = [("ATTUNE_SITE_CONFIG", site.as_str())];

    let o = attune_within(&d, &["status"], &env);
    assert_eq!(o.status.code(), Some(5));
    let err = text(&o.stderr);
    assert!(!err.contains("hunter2"), "the secret is echoed: {err}");
    assert!(err.contains("site.toml") && err.contains("line 4"), "{err}");

    let o = attune_within(&d, &["status", "--json"], &env);
    assert_eq!(o.status.code(), Some(5));
    assert!(!text(&o.stderr).contains("hunter2"), "{}", text(&o.stderr));
    assert!(!text(&o.stdout).contains("hunter2"), "{}", text(&o.stdout));
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["error"], "config_invalid");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("site.toml") && msg.contains("line 4"), "{msg}");
}

/// `attune status` with `path` as the user file: it fails fast (exit 5), naming the file.
fn refused_as_config(d: &Desktop, path: &Path, why: &str) {
    let p = path.display().to_string();
    let o = attune_within(d, &["status"], &[("ATTUNE_CONFIG", p.as_str())]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(&p), "names the file: {err}");
    assert!(err.contains(why), "says what is wrong ({why}): {err}");
}

#[test]
fn a_fifo_a_device_or_a_huge_file_as_configuration_fails_fast_and_clearly() {
    let d = Desktop::new();
    let fifo = d.dir.path().join("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    refused_as_config(&d, &fifo, "FIFO");

    refused_as_config(&d, Path::new("/dev/zero"), "character device");

    let big = d.dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(65 * 1024)).unwrap();
    refused_as_config(&d, &big, "too large");
}

#[test]
fn production_refuses_a_plain_http_cloud_unless_the_site_file_allows_it() {
    let d = Desktop::new();
    let cloud = "[cloud]\nurl = \"http://127.0.0.1:9\"\nclient_id = \"branch-3\"\n\
                 client_secret = \"s\"\n";
    let site = site_file(&d, cloud);
    let env = [("ATTUNE_SITE_CONFIG", site.as_str())];
    let o = attune_within(&d, &["status"], &env);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("https://") && err.contains("allow_insecure_http"),
        "{err}"
    );

    // A user file cannot allow it.
    let user = d.dir.path().join("attune.toml");
    std::fs::write(&user, "[cloud]\nallow_insecure_http = true\n").unwrap();
    let user = user.display().to_string();
    let o = attune_within(
        &d,
        &["status"],
        &[
            ("ATTUNE_SITE_CONFIG", site.as_str()),
            ("ATTUNE_CONFIG", user.as_str()),
        ],
    );
    assert_eq!(o.status.code(), Some(5));
    assert!(
        text(&o.stderr).contains("only in the site file"),
        "{}",
        text(&o.stderr)
    );

    // The site file can, and the doctor says so.
    let site = site_file(&d, &format!("{cloud}allow_insecure_http = true\n"));
    let env = [("ATTUNE_SITE_CONFIG", site.as_str())];
    let o = attune_within(&d, &["doctor"], &env);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("Warning: cloud.allow_insecure_http is set"),
        "{}",
        text(&o.stdout)
    );
    let o = attune_within(&d, &["doctor", "--json"], &env);
    let doctor: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doctor["warnings"].as_array().unwrap().len(), 1, "{doctor}");
}

//! Interop with the real GPII cloud (docs/design.md §9, GPII-INTEROP notes): GPII's cloud-based
//! flow manager and preferences server from the npm package `gpii-universal`, over a CouchDB-API
//! server (express-pouchdb, in memory) loaded with GPII's own data, all on loopback. Attune keys in
//! with three of GPII's own keys in `legacy_gpii` mode and the applied values are read back with
//! `gsettings`; key-out restores the desktop exactly.
//!
//! Runs when `ATTUNE_GPII_INTEROP=1` (scripts/test.sh sets it); installs the packages at test
//! time into `target/gpii-peer` (nothing of GPII's is committed).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use attune_e2e::{workspace_root, StdoutLines};
use attune_testkit::gpii::install_gpii_universal;
use attune_testkit::process::{free_port, Children};
use serde_json::Value;

use crate::common::{used_desktop, TOUCHED_SCHEMAS};

/// A GSettings value expected after key-in: schema, key, value as `gsettings get` prints it.
type Expect = (&'static str, &'static str, &'static str);

/// Installs GPII's cloud and the CouchDB stand-in once per target dir.
fn install() -> PathBuf {
    let dir = workspace_root().join("target/gpii-peer");
    let pkg = dir.join("node_modules/gpii-universal");
    if !pkg.join("build/dbData/snapset/prefsSafes.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        install_gpii_universal(&dir);
    }
    dir
}

/// Starts a process and waits until a line of its output contains `ready`; returns the line.
fn start(cmd: &mut Command, ready: &str, procs: &mut Children) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = StdoutLines::of(&mut child);
    procs.0.push(child);
    lines
        .wait_for(Duration::from_secs(90), |l| l.contains(ready))
        .expect("the GPII peer process started")
}

fn gpii_cloud(dir: &Path, procs: &mut Children) -> String {
    let pkg = dir.join("node_modules/gpii-universal");
    let data: Vec<PathBuf> = [
        "testData/dbData/clientCredentials.json",
        "testData/dbData/gpiiAppInstallationClients.json",
        "testData/dbData/views.json",
        "build/dbData/snapset/gpiiKeys.json",
        "build/dbData/snapset/prefsSafes.json",
    ]
    .iter()
    .map(|p| pkg.join(p))
    .collect();
    let line = start(
        Command::new("node")
            .arg(workspace_root().join("tests/gpii/couch.js"))
            .args(&data)
            .env("NODE_PATH", dir.join("node_modules")),
        "READY ",
        procs,
    );
    let couch = line.trim().trim_start_matches("READY ").to_owned();
    let (ps, fm) = (free_port(), free_port());
    start(
        Command::new("node")
            .arg("gpii.js")
            .current_dir(&pkg)
            .env(
                "NODE_ENV",
                "gpii.config.preferencesServer.standalone.production",
            )
            .env("GPII_DATASOURCE_HOSTNAME", "http://127.0.0.1")
            .env("GPII_DATASOURCE_PORT", &couch)
            .env("GPII_PREFERENCESSERVER_LISTEN_PORT", ps.to_string()),
        "is listening",
        procs,
    );
    start(
        Command::new("node")
            .arg("gpii.js")
            .current_dir(&pkg)
            .env("NODE_ENV", "gpii.config.cloudBased.flowManager.production")
            .env("GPII_DATASOURCE_HOSTNAME", "http://127.0.0.1")
            .env("GPII_DATASOURCE_PORT", &couch)
            .env("GPII_FLOWMANAGER_LISTEN_PORT", fm.to_string())
            .env(
                "GPII_FLOWMANAGER_TO_PREFERENCESSERVER_URL",
                format!("http://127.0.0.1:{ps}"),
            ),
        "is listening",
        procs,
    );
    format!("http://127.0.0.1:{fm}")
}

#[test]
fn attune_keys_in_against_the_real_gpii_cloud_in_legacy_mode() {
    if std::env::var("ATTUNE_GPII_INTEROP").ok().as_deref() != Some("1") {
        eprintln!("skipped: set ATTUNE_GPII_INTEROP=1 to run against GPII's cloud from npm");
        return;
    }
    let dir = install();
    let mut procs = Children(Vec::new());
    let url = gpii_cloud(&dir, &mut procs);

    let (d, before) = used_desktop();
    let site = d.dir.path().join("site.toml");
    std::fs::write(
        &site,
        format!(
            "profile = \"production\"\n[cloud]\nurl = \"{url}\"\nclient_id = \"pilot-computer\"\n\
             client_secret = \"pilot-computer-secret\"\nlegacy_gpii = true\n\
             allow_insecure_http = true\n"
        ),
    )
    .unwrap();
    let site = site.display().to_string();
    let env = [("ATTUNE_SITE_CONFIG", site.as_str())];
    // GPII's own keys and what this computer's registry makes of GPII's answer: GPII chooses
    // the solutions and values, the bundled registry decides how they are written
    // (docs/design.md §10.1), so snapset_1a's cursorSize 1.0 is GNOME's largest pointer (96), where
    // GPII's own registry would have written 41.
    let cases: &[(&str, &[Expect])] = &[
        (
            "snapset_1a",
            &[("org.gnome.desktop.interface", "cursor-size", "96")],
        ),
        (
            "carla",
            &[
                ("org.gnome.desktop.a11y.magnifier", "mag-factor", "2.0"),
                ("org.gnome.desktop.interface", "text-scaling-factor", "2.0"),
                (
                    "org.gnome.desktop.a11y.applications",
                    "screen-magnifier-enabled",
                    "true",
                ),
            ],
        ),
        (
            "sammy",
            &[
                ("org.gnome.desktop.a11y.magnifier", "mag-factor", "2.0"),
                ("org.gnome.desktop.interface", "text-scaling-factor", "2.0"),
            ],
        ),
    ];
    for (key, expect) in cases {
        let o = d.attune_with(&["key-in", key, "--json"], &env);
        assert!(
            o.status.code().is_some_and(|c| c == 0 || c == 3),
            "{key}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(out["source"]["kind"], "cloud", "{key}: {out}");
        for (schema, k, v) in *expect {
            assert_eq!(d.get(schema, k), *v, "{key}: {schema} {k}");
        }
        assert!(d.attune_with(&["key-out"], &env).status.success());
        assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "{key}: restored");
    }
}

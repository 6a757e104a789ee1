//! The client against the real `attune-cloud` (SQLite store, `--dev` data) on 127.0.0.1: a snapset
//! key is served by the cloud, applied and cached; with the cloud stopped, the next key-in is
//! served from the cache with the exact words; key-out puts the desktop back.

use std::io::{BufRead, BufReader};

use std::process::{Child, Stdio};

use attune_e2e::{workspace_bin, Desktop};
use serde_json::Value;

use crate::common::{prepare_desktop, TOUCHED_SCHEMAS};

struct Cloud {
    child: Child,
    url: String,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_cloud(dir: &std::path::Path) -> Cloud {
    let db = dir.join("cloud.sqlite");
    let mut child = std::process::Command::new(workspace_bin("attune-cloud", "attune-cloud"))
        .arg("serve")
        .arg("--store")
        .arg(format!("sqlite:{}", db.display()))
        .args(["--listen", "127.0.0.1:0", "--dev"])
        .env_remove("ATTUNE_CLOUD_LISTEN")
        .env_remove("ATTUNE_CLOUD_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The server logs JSON lines; the one that says it listens carries the bound address. A
    // thread keeps draining the log so the server never blocks on a full pipe.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(a) = v["addr"].as_str() {
                    let _ = tx.send(format!("http://{a}"));
                }
            }
        }
    });
    let url = rx.recv_timeout(std::time::Duration::from_secs(30)).ok();
    let url = url.expect("attune-cloud said where it listens");
    Cloud { child, url }
}

#[test]
fn a_key_served_by_the_real_cloud_is_applied_cached_and_then_served_offline() {
    let d = Desktop::new();
    prepare_desktop(&d);
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = start_cloud(d.dir.path());
    let env = [
        ("ATTUNE_PROFILE", "development"),
        ("ATTUNE_CLOUD_URL", cloud.url.as_str()),
    ];

    let o = d.attune_with(&["key-in", "low_vision_combined", "--json"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.5"
    );
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.a11y.magnifier", "mag-factor"),
        "1.5"
    );
    assert!(d.attune_with(&["key-out"], &env).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);

    let url = cloud.url.clone();
    drop(cloud);
    let env = [
        ("ATTUNE_PROFILE", "development"),
        ("ATTUNE_CLOUD_URL", url.as_str()),
    ];
    let o = d.attune_with(&["key-in", "low_vision_combined"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Can't reach the preferences server. Using your saved settings from"),
        "{text}"
    );
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.5"
    );
    assert!(d.attune_with(&["key-out"], &env).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

//! The configuration file through the real binary: `serve` and the admin commands take their
//! store from it, flags win over it, an unknown key stops every command naming the file and
//! line, and `backup` writes into its backup folder and prunes it.

use std::path::Path;

use crate::common::{admin, bin, serve};

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("cloud.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn serve_takes_its_store_from_the_file_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_flag) = (dir.path().join("file.db"), dir.path().join("flag.db"));
    let config = write_config(
        dir.path(),
        &format!("store = \"sqlite:{}\"\n", from_file.display()),
    );
    serve(&["--config", &config]).stop();
    assert!(from_file.exists(), "the file's store");

    std::fs::remove_file(&from_file).unwrap();
    let flag = format!("sqlite:{}", from_flag.display());
    serve(&["--config", &config, "--store", &flag]).stop();
    assert!(from_flag.exists(), "the flag's store");
    assert!(!from_file.exists(), "not the file's");
}

#[test]
fn an_unknown_key_stops_every_command_naming_the_file_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("c.db");
    let config = write_config(
        dir.path(),
        &format!(
            "store = \"sqlite:{}\"\n[limits]\nmax_inflight = 10\n",
            store.display()
        ),
    );
    for args in [
        vec!["serve", "--config", &config],
        vec![
            "keys", "generate", "--config", &config, "--count", "1", "--out", "k.csv",
        ],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{config}:3: ")), "{args:?}: {err}");
        assert!(err.contains("max_inflight"), "{err}");
    }
    assert!(!store.exists(), "nothing was created");
}

#[test]
fn backup_writes_into_the_configured_folder_and_prunes_old_backups() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "store = \"sqlite:{}\"\n[backup]\ndir = \"{}\"\nretention_days = 7\n",
            dir.path().join("c.db").display(),
            backups.display()
        ),
    );
    admin(&["credentials", "create", "--config", &config, "--site", "s"]);
    // A verified backup from ten days ago.
    let old = backups.join("cloud-old.db");
    let ten_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400);
    for p in [old.clone(), backups.join("cloud-old.db.sha256")] {
        std::fs::File::create(&p)
            .unwrap()
            .set_modified(ten_days_ago)
            .unwrap();
    }

    let out = admin(&["backup", "--config", &config]);
    assert!(
        out.contains("deleted") && out.contains("cloud-old.db"),
        "{out}"
    );
    let names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "the new backup and its checksum: {names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("cloud-") && n.ends_with("Z.db")),
        "{names:?}"
    );
    assert!(!old.exists());
}

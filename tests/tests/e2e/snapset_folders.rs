//! Testers' own snapsets (issue 20 items 1 and 2), through the real `attune` binary in the testing
//! profile: a snapset from the site's folder or the user's is listed with where it comes from,
//! keyed in and put back exactly; the same name twice is an error naming both files unless the
//! site allows it; `attune snapsets check` reports each broken rule with its line, column and words,
//! and passes the bundled snapsets.

use std::path::{Path, PathBuf};

use attune_e2e::Desktop;
use serde_json::Value;

use crate::common::{prepared_desktop, TOUCHED_SCHEMAS};

/// A lab's snapset: large text with a big pointer, commented and named.
const LAB: &str = r#"// lab_reading — "Lab: reading"
//
// For the reading study: text half as large again and a large pointer.
{
    "flat": {
        "name": "Lab: reading",
        "contexts": {
            "gpii-default": {
                "name": "Default preferences",
                "preferences": {
                    "http://registry.gpii.net/common/fontSize": 18,
                    "http://registry.gpii.net/common/cursorSize": 0.8
                }
            }
        }
    }
}
"#;

/// The site file (`[snapsets]`) and its folder, under the desktop's temp dir.
struct Site {
    file: PathBuf,
    dir: PathBuf,
}

fn site(d: &Desktop, extra: &str) -> Site {
    let dir = d.dir.path().join("site-snapsets");
    std::fs::create_dir_all(&dir).unwrap();
    let file = d.dir.path().join("site.toml");
    std::fs::write(
        &file,
        format!("[snapsets]\nsite_dir = \"{}\"\n{extra}", dir.display()),
    )
    .unwrap();
    Site { file, dir }
}

fn user_dir(d: &Desktop) -> PathBuf {
    let dir = d.config_home().join("attune/snapsets");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn attune(d: &Desktop, site: &Site, args: &[&str]) -> std::process::Output {
    let file = site.file.display().to_string();
    d.attune_with(args, &[("ATTUNE_SITE_CONFIG", file.as_str())])
}

fn listed(d: &Desktop, site: &Site) -> Vec<Value> {
    let o = attune(d, site, &["snapsets", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn entry<'a>(list: &'a [Value], key: &str) -> &'a Value {
    list.iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("{key} not listed: {list:?}"))
}

#[test]
fn a_folder_snapset_is_listed_keyed_in_and_put_back_exactly() {
    let d = prepared_desktop();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    for (where_, origin) in [("site", "site"), ("user", "user")] {
        let site = site(&d, "");
        let dir = if where_ == "site" {
            site.dir.clone()
        } else {
            user_dir(&d)
        };
        let file = dir.join("lab_reading.json5");
        std::fs::write(&file, LAB).unwrap();

        let list = listed(&d, &site);
        let lab = entry(&list, "lab_reading");
        assert_eq!(lab["origin"], origin, "{lab}");
        assert_eq!(lab["name"], "Lab: reading");
        assert_eq!(lab["file"], file.display().to_string());
        assert_eq!(entry(&list, "high_contrast")["origin"], "bundled");
        let text = String::from_utf8(attune(&d, &site, &["snapsets"]).stdout).unwrap();
        assert!(
            text.contains(&format!("Lab: reading  ({origin}: {})", file.display())),
            "{text}"
        );

        let o = attune(&d, &site, &["key-in", "lab_reading", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            d.get("org.gnome.desktop.interface", "text-scaling-factor"),
            "1.5"
        );
        assert!(attune(&d, &site, &["key-out"]).status.success());
        assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "{where_}");
        std::fs::remove_file(&file).unwrap();
    }
}

#[test]
fn the_same_name_twice_is_an_error_naming_both_files_unless_the_site_allows_it() {
    let d = prepared_desktop();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let strict = site(&d, "");
    // A site snapset named like a bundled one, and a user snapset named like the site's.
    let mine = strict.dir.join("high_contrast.json5");
    std::fs::write(&mine, LAB).unwrap();
    let o = attune(&d, &strict, &["key-in", "high_contrast"]);
    assert_eq!(o.status.code(), Some(5));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("two snapsets are named `high_contrast`: snapsets/high_contrast.json5 and")
            && err.contains(&mine.display().to_string()),
        "{err}"
    );
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing applied");
    let list = listed(&d, &strict);
    let shadowed = entry(&list, "high_contrast");
    assert!(
        shadowed["problem"]
            .as_str()
            .is_some_and(|p| p.contains("two snapsets")),
        "{shadowed}"
    );
    // The other snapsets still work.
    assert!(attune(&d, &strict, &["key-in", "large_text"])
        .status
        .success());
    assert!(attune(&d, &strict, &["key-out"]).status.success());

    // With the site's leave, the folder's wins.
    let lenient = site(&d, "override = true\n");
    assert!(attune(&d, &lenient, &["key-in", "high_contrast"])
        .status
        .success());
    assert_eq!(
        d.get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.5",
        "the lab's file, not the bundled high contrast"
    );
    assert!(attune(&d, &lenient, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn only_the_site_file_may_say_where_snapsets_are() {
    let d = prepared_desktop();
    d.user_config("[snapsets]\nsite_dir = \"/tmp\"\n");
    let o = d.attune(&["snapsets"]);
    assert_eq!(o.status.code(), Some(5));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("field `snapsets` may be set only in the site file"),
        "{err}"
    );
}

/// `attune snapsets check FILE --json`: the exit code and the problems.
fn check(d: &Desktop, path: &Path) -> (Option<i32>, Vec<Value>) {
    let p = path.display().to_string();
    let o = d.attune(&["snapsets", "check", &p, "--json"]);
    let reports: Value = serde_json::from_slice(&o.stdout).unwrap();
    let problems = reports[0]["problems"].as_array().unwrap().clone();
    (o.status.code(), problems)
}

#[test]
fn the_checker_names_each_broken_rule_with_its_line_column_and_words() {
    let d = Desktop::new();
    let dir = d.dir.path().join("lab");
    std::fs::create_dir_all(&dir).unwrap();
    let good_prefs = r#""http://registry.gpii.net/common/fontSize": 18"#;
    let with = |name: &str, prefs: &str| {
        format!(
            "// {name}\n{{\n  \"flat\": {{\n    \"name\": \"{name}\",\n    \"contexts\": {{\n      \
             \"gpii-default\": {{\n        \"preferences\": {{\n          {prefs}\n        }}\n      \
             }}\n    }}\n  }}\n}}\n"
        )
    };
    // (file, text, rule, line, column, words the message has)
    let cases: Vec<(&str, String, &str, u64, u64, &str)> = vec![
        (
            "syntax.json5",
            "// s\n{\n  \"flat\": {,}\n}\n".to_owned(),
            "syntax",
            3,
            12,
            "not valid JSON5",
        ),
        (
            "structure.json5",
            "// s\n{ \"contexts\": {} }\n".to_owned(),
            "structure",
            1,
            1,
            "flat",
        ),
        (
            "no_header.json5",
            with("x", good_prefs).replacen("// x\n", "", 1),
            "header",
            1,
            1,
            "no comment header",
        ),
        (
            "no_name.json5",
            with("x", good_prefs).replace("\"name\": \"x\",", ""),
            "name",
            3,
            4,
            "no display name",
        ),
        (
            "unknown_term.json5",
            with("x", r#""http://registry.gpii.net/common/bogus": 1"#),
            "term",
            8,
            11,
            "http://registry.gpii.net/common/bogus (context gpii-default): no solution in the \
             registry supports this term",
        ),
        (
            "out_of_range.json5",
            with(
                "x",
                r#""http://registry.gpii.net/common/magnification": 100"#,
            ),
            "value",
            8,
            11,
            "mag-factor: must be ≤ 32, got 100",
        ),
        (
            "Not A Key!.json5",
            with("x", good_prefs),
            "key",
            1,
            1,
            "cannot be a key",
        ),
    ];
    for (file, text, rule, line, column, words) in &cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let (code, problems) = check(&d, &path);
        assert_eq!(code, Some(1), "{file}");
        let p = problems
            .iter()
            .find(|p| p["rule"] == *rule)
            .unwrap_or_else(|| panic!("{file}: no `{rule}` problem in {problems:?}"));
        assert_eq!(
            (p["line"].as_u64(), p["column"].as_u64()),
            (Some(*line), Some(*column)),
            "{file}: {p}"
        );
        assert!(
            p["message"].as_str().unwrap().contains(words),
            "{file}: {p}"
        );
    }
    // The text form, as a lab's CI log shows it.
    let o = d.attune(&[
        "snapsets",
        "check",
        &dir.join("out_of_range.json5").display().to_string(),
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("out_of_range.json5:8:11: value: ")
            && text.ends_with("1 file(s) checked, 1 with problems\n"),
        "{text}"
    );
    // A folder: every *.json5 in it.
    let o = d.attune(&["snapsets", "check", &dir.display().to_string()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{} file(s) checked", cases.len())),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn the_bundled_snapsets_and_what_a_lab_writes_pass_the_checker() {
    let d = Desktop::new();
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapsets");
    let o = d.attune(&["snapsets", "check", &bundled.display().to_string()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("0 with problems"), "{text}");
    let lab = d.dir.path().join("lab_reading.json5");
    std::fs::write(&lab, LAB).unwrap();
    assert_eq!(check(&d, &lab), (Some(0), Vec::new()));
}

/// Issue 20 item 3: a desktop set up by hand becomes a snapset file the checker accepts, and
/// keying that snapset in on a fresh desktop sets the same values.
#[test]
fn a_snapset_made_from_a_desktop_passes_the_checker_and_sets_the_same_values_elsewhere() {
    const SET: [(&str, &str, &str); 5] = [
        ("org.gnome.desktop.interface", "text-scaling-factor", "1.25"),
        ("org.gnome.desktop.interface", "cursor-size", "40"),
        ("org.gnome.desktop.a11y.interface", "high-contrast", "true"),
        (
            "org.gnome.desktop.a11y.keyboard",
            "mousekeys-max-speed",
            "400",
        ),
        (
            "org.gnome.desktop.a11y.applications",
            "screen-magnifier-enabled",
            "true",
        ),
    ];
    let here = Desktop::new();
    for (schema, key, value) in SET {
        here.set(schema, key, value);
    }
    let out = here.dir.path().join("made");

    let o = here.attune_ok(&[
        "snapsets",
        "new",
        "my_desk",
        "--from-desktop",
        "--to",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Text size: 125 %"));
    let file = out.join("my_desk.json5");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("// my_desk — \"Captured from the desktop on "),
        "{text}"
    );
    assert!(text.contains("--from-desktop` at "), "{text}");

    let o = here.attune(&["snapsets", "check", file.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // Again without --force: refused, the file kept.
    let o = here.attune(&[
        "snapsets",
        "new",
        "my_desk",
        "--from-desktop",
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    let there = Desktop::new();
    std::fs::create_dir_all(user_dir(&there)).unwrap();
    std::fs::copy(&file, user_dir(&there).join("my_desk.json5")).unwrap();
    let o = there.attune(&["key-in", "my_desk"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for (schema, key, value) in SET {
        assert_eq!(there.get(schema, key), value, "{schema} {key}");
    }
}

#[test]
fn snapsets_new_writes_to_the_users_folder_by_default_and_force_replaces() {
    let d = Desktop::new();
    d.set("org.gnome.desktop.interface", "text-scaling-factor", "1.5");
    d.attune_ok(&["snapsets", "new", "mine", "--from-desktop"]);
    let file = user_dir(&d).join("mine.json5");
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("fontSize\": 18"));

    d.set("org.gnome.desktop.interface", "text-scaling-factor", "2.0");
    d.attune_ok(&["snapsets", "new", "mine", "--from-desktop", "--force"]);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("fontSize\": 24"));
    let list: Value = serde_json::from_slice(&d.attune_ok(&["snapsets", "--json"]).stdout).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == "mine" && s["origin"] == "user"),
        "{list}"
    );
}

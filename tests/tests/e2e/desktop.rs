//! The harness itself: the keyfile backend and the `gsettings` tool agree, and unset keys are
//! told apart from keys set to their default.

use attune_e2e::Desktop;

#[test]
fn keyfile_backend_is_isolated_and_distinguishes_unset_keys() {
    let d = Desktop::new();
    assert_eq!(
        d.get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.0"
    );
    assert!(d.keyfile().is_empty(), "a new desktop has nothing set");
    d.set("org.gnome.desktop.interface", "text-scaling-factor", "1.0");
    let kf = d.keyfile();
    assert_eq!(
        kf.get(&(
            "org/gnome/desktop/interface".to_owned(),
            "text-scaling-factor".to_owned()
        ))
        .map(String::as_str),
        Some("1.0"),
        "set-to-default is visible in the keyfile"
    );
    // A second desktop does not see the first one's values.
    let other = Desktop::new();
    assert!(other.keyfile().is_empty());
}

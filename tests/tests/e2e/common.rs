//! Shared set-up of the end-to-end tests.

use attune_e2e::{Desktop, Snapshot};

/// Every GSettings schema the bundled registry may touch.
pub const TOUCHED_SCHEMAS: &[&str] = &[
    "org.gnome.desktop.interface",
    "org.gnome.desktop.a11y.interface",
    "org.gnome.desktop.a11y.magnifier",
    "org.gnome.desktop.a11y.applications",
    "org.gnome.desktop.a11y.keyboard",
    "org.gnome.desktop.a11y.mouse",
    "org.gnome.desktop.peripherals.mouse",
];

/// A new desktop someone has used (see [`prepare_desktop`]).
pub fn prepared_desktop() -> Desktop {
    let d = Desktop::new();
    prepare_desktop(&d);
    d
}

/// A desktop someone has used (see [`prepare_desktop`]), and how it looks before the test.
pub fn used_desktop() -> (Desktop, Snapshot) {
    let d = prepared_desktop();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    (d, before)
}

/// A desktop someone has used: some keys set (a few to non-default values, one to its default),
/// all others unset — restore must bring back both kinds exactly.
fn prepare_desktop(d: &Desktop) {
    d.set("org.gnome.desktop.interface", "cursor-size", "32");
    d.set("org.gnome.desktop.interface", "enable-animations", "true");
    d.set("org.gnome.desktop.a11y.magnifier", "mag-factor", "1.5");
    d.set("org.gnome.desktop.a11y.keyboard", "slowkeys-delay", "450");
    // text-scaling-factor, high-contrast, screen-reader-enabled … stay unset.
}

/// The environment of `attune` in the development profile against the cloud at `url`.
pub fn cloud_env(url: &str) -> [(&'static str, &str); 2] {
    [("ATTUNE_PROFILE", "development"), ("ATTUNE_CLOUD_URL", url)]
}

/// `key-out` (with `env`), which must succeed and put the desktop back as it was `before`.
#[track_caller]
pub fn key_out_restores(d: &Desktop, env: &[(&str, &str)], before: &Snapshot) {
    d.attune_with_ok(&["key-out"], env);
    assert_eq!(&d.snapshot(TOUCHED_SCHEMAS), before);
}

/// What the desktop says of its text size.
pub fn text_scale(d: &Desktop) -> String {
    d.get("org.gnome.desktop.interface", "text-scaling-factor")
}

/// What the desktop says of high contrast.
pub fn high_contrast(d: &Desktop) -> String {
    d.get("org.gnome.desktop.a11y.interface", "high-contrast")
}

/// What `attune` and the listeners show instead of a key.
pub fn fingerprint(key: &str) -> String {
    attune_model::key::Key::parse(key).unwrap().to_string()
}

//! Shared set-up of the end-to-end tests.

use attune_e2e::Desktop;

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

/// A desktop someone has used: some keys set (a few to non-default values, one to its default),
/// all others unset — restore must bring back both kinds exactly.
fn prepare_desktop(d: &Desktop) {
    d.set("org.gnome.desktop.interface", "cursor-size", "32");
    d.set("org.gnome.desktop.interface", "enable-animations", "true");
    d.set("org.gnome.desktop.a11y.magnifier", "mag-factor", "1.5");
    d.set("org.gnome.desktop.a11y.keyboard", "slowkeys-delay", "450");
    // text-scaling-factor, high-contrast, screen-reader-enabled … stay unset.
}

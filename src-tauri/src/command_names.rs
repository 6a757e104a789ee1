// The app's commands, as the UI invokes them (docs/app.md). Read by build.rs (permissions) and by
// the crate (tests check the handler answers each one).
pub const ALL: &[&str] = &[
    "get_status",
    "list_snapsets",
    "key_in",
    "key_out",
    "relogin",
    "set_preference",
    "capture_desktop",
    "save_capture",
    "forget_me",
    "save_to_stick",
    "get_diagnostics",
    "support_bundle",
];

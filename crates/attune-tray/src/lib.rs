//! Attune in the tray without its window ([`host`], run as `attune tray`), and what the lean tray
//! and the desktop app share: notifications ([`notices`]), the log file ([`logging`]), the
//! tray's menu and icons ([`menu`]), the watch of the state dir ([`watch`]) and the
//! single-instance name ([`single_instance`]).
//!
//! **Architecture invariant:** no GTK and no WebKit here: this crate is what the process in the
//! tray links, and its memory is the point of it.

pub mod host;
pub mod logging;
pub mod menu;
pub mod notices;
pub mod single_instance;
pub mod sni;
pub mod watch;

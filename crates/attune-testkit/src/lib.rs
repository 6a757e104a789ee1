//! Attune's test kit, shared by every crate's tests and benches (a dev-dependency only, never a
//! dependency of a shipped crate):
//!
//! - [`http`]: one request parser and one response writer for raw HTTP/1.1 on loopback;
//! - [`fault`]: one fault vocabulary ([`Fault`]) and the code that acts it out on a socket;
//! - [`server`]: a scripted fault server that writes every byte itself ([`FaultServer`]);
//! - [`proxy`]: a TCP fault proxy in front of a real server ([`FaultProxy`]);
//! - [`gpii`]: the cloud's answers as attune-model's matchmaker makes them;
//! - [`desktop`]: a throw-away desktop on the real GSettings keyfile backend;
//! - [`process`]: child processes stopped however a test ends, commands that must succeed;
//! - [`serving`]: a server process (the real `attune-cloud serve`) and its log;
//! - `cloud` (feature `cloud`): the real attune-cloud in process, for the happy paths.
//!
//! Without the `cloud` feature the kit depends on no Attune crate but attune-model, so any
//! crate's tests can use it without a second copy of the crate under test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is right

#[cfg(feature = "cloud")]
pub mod cloud;
pub mod desktop;
pub mod fault;
pub mod gpii;
pub mod http;
pub mod process;
pub mod proxy;
pub mod server;
pub mod serving;

pub use desktop::KeyfileDesktop;
pub use fault::{After, Fault};
pub use proxy::FaultProxy;
pub use server::{FaultServer, Reply};

/// A URL that refuses connections: a port just bound and released.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

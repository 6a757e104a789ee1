//! GPII's local API (attune-listen's router, guard included) fed whole requests: the request
//! target as a client sent it (path, percent-escapes, query), the method and the headers. Behind
//! it is a real flow in the testing profile over a throw-away desktop (HOME and XDG dirs in a
//! temp dir, GSettings' in-memory backend), so a path that names a bundled snapset keys in for
//! real.
//!
//! Input: a method byte, then the request target up to the first `\n`, then one header per line
//! (`name: value`). Besides "no panic", the guard's promises are checked on every answer: a
//! request a browser marks as coming from a page, or without a loopback `Host`, is refused (403).
#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use attune_flow::{Config, Profile};
use attune_flow::{Flow, Paths};
use attune_listen::local_api::{router, Access, Peer};
use attune_listen::queue::KeyQueue;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Harness {
    rt: tokio::runtime::Runtime,
    router: Router,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let root: PathBuf = attune_fuzz::scratch_dir("attune-fuzz-local-api");
        // The throw-away desktop, set before anything reads the environment (one thread yet).
        std::env::set_var("GSETTINGS_BACKEND", "memory");
        std::env::set_var("HOME", root.join("home"));
        std::env::set_var("XDG_CONFIG_HOME", root.join("home/.config"));
        std::env::set_var("XDG_DATA_HOME", root.join("home/.local/share"));
        std::env::set_var("XDG_STATE_HOME", root.join("home/.local/state"));
        std::env::set_var("XDG_CACHE_HOME", root.join("home/.cache"));
        let paths = Paths::under(&root.join("attune"));
        let _ = paths.ensure();
        let flow = Flow::new(Config::defaults(Profile::Testing), paths)
            .unwrap_or_else(|e| panic!("cannot make the flow: {e}"));
        let flow = Arc::new(flow);
        let queue = KeyQueue::start(flow.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot make a runtime: {e}"));
        Harness {
            rt,
            // The connection's user is this user (the same-user check is not what this target
            // fuzzes; it has no input but the kernel's socket tables).
            router: router(queue, flow, Access::new(1000, Arc::new(|_, _| Ok(1000)))),
        }
    })
}

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

fuzz_target!(|data: &[u8]| {
    let Some((m, rest)) = data.split_first() else {
        return;
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let target = lines.next().unwrap_or_default();
    let mut req = Request::builder()
        .method(METHODS[usize::from(*m) % METHODS.len()].clone())
        .uri(target);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        req = req.header(name, value);
    }
    let Ok(mut req) = req.body(Body::empty()) else {
        return; // not a request hyper would have let through
    };
    req.extensions_mut().insert(ConnectInfo(Peer {
        remote: ([127, 0, 0, 1], 40000).into(),
        local: Some(([127, 0, 0, 1], 8081).into()),
    }));
    let from_page = ["origin", "referer", "sec-fetch-site", "sec-fetch-mode"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let no_host = !req.headers().contains_key(header::HOST);

    let h = harness();
    let Ok(resp) = h.rt.block_on(h.router.clone().oneshot(req));
    if from_page || no_host {
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "the guard let through a request from a page or without Host"
        );
    }
});

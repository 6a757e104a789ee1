//! The set-up of Attune's performance gates: what each gate measures is made here, outside the
//! measured function, so the counts hold the hot path alone (docs/performance.md).
//!
//! `benches/instructions.rs` runs each gate once under valgrind's callgrind (gungraun) and
//! `scripts/perf-gates.sh` holds the instruction counts to `perf/limits.toml`. Every fixture
//! does the measured work once before it is handed over, so a gate measures the steady state
//! (schemas loaded, caches and thread pools warm), not a first start.
//!
//! A fixture that cannot be made panics: this crate is a benchmark, run by a developer or CI,
//! never by a person.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callgrind;

use std::net::SocketAddr;
use std::sync::Arc;

use attune_model::device::DeviceReport;
use attune_model::lifecycle::LifecycleInstructions;
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;
use attune_model::{bundled, matchmaker};

pub use callgrind::counted;

/// The snapset the gates use: six preferences across four GNOME settings and the magnifier's
/// launch (no bundled snapset has more), all in GSettings, and the one whose apply → restore
/// times `apply_restore`'s criterion bench quotes.
pub const SNAPSET: &str = "low_vision_combined";

/// Matchmaking's inputs: the bundled Linux registry, a device with every solution installed
/// and [`SNAPSET`]'s preferences.
pub struct MatchInput {
    pub registry: SolutionsRegistry,
    pub device: DeviceReport,
    pub prefs: PreferenceSet,
}

impl MatchInput {
    pub fn new() -> MatchInput {
        let registry = bundled::linux_registry().unwrap();
        let device = DeviceReport::linux(registry.solutions.keys().cloned());
        let prefs = bundled::snapset(SNAPSET).unwrap().unwrap();
        MatchInput {
            registry,
            device,
            prefs,
        }
    }

    /// What one key-in applies for [`SNAPSET`].
    pub fn instructions(&self) -> LifecycleInstructions {
        matchmaker::match_and_transform(&self.prefs, DEFAULT_CONTEXT, &self.registry, &self.device)
            .unwrap()
            .instructions
    }
}

impl Default for MatchInput {
    fn default() -> Self {
        Self::new()
    }
}

/// The cache's instructions and the cloud's answer for the same person, in which the person has
/// since changed one value elsewhere: reconciling them writes that one setting (the common case
/// of key-in step 5, docs/design.md §3).
pub fn reconcile_input() -> (LifecycleInstructions, LifecycleInstructions) {
    let cached = MatchInput::new().instructions();
    let mut cloud = cached.clone();
    let value = cloud
        .solutions
        .values_mut()
        .flat_map(|s| s.settings_handlers.values_mut())
        .flat_map(|h| h.settings.values_mut())
        .next()
        .expect("the snapset sets something");
    *value = serde_json::json!(2.25);
    (cached, cloud)
}

/// A desktop in memory: GSettings on GLib's memory backend (nothing reaches dconf or a file) in
/// a throw-away HOME, and the journal in a temp dir. The journal's files and fsyncs are real:
/// they are part of every apply and restore.
pub struct MemoryDesktop {
    pub life: attune_settings::lifecycle::Lifecycle,
    pub instructions: LifecycleInstructions,
    _dir: tempfile::TempDir,
}

impl MemoryDesktop {
    /// Sets this process's HOME, XDG dirs and GSettings backend: call it before anything touches
    /// GSettings (GIO reads them once), once per process.
    pub fn new() -> MemoryDesktop {
        let dir = tempfile::tempdir().unwrap();
        for (var, sub) in [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_RUNTIME_DIR", "runtime"),
        ] {
            let p = dir.path().join(sub);
            std::fs::create_dir_all(&p).unwrap();
            // Edition 2021: set_var is safe; nothing else runs yet in this process.
            std::env::set_var(var, p);
        }
        std::env::set_var("GSETTINGS_BACKEND", "memory");
        let life = attune_settings::lifecycle::Lifecycle::new(dir.path().join("attune"));
        let desktop = MemoryDesktop {
            life,
            instructions: MatchInput::new().instructions(),
            _dir: dir,
        };
        desktop.apply_restore();
        desktop
    }

    /// One key-in's apply and its key-out's restore; panics unless every setting was written
    /// and put back (a gate must measure the path that works).
    pub fn apply_restore(&self) -> usize {
        let applied = self.life.apply(&self.instructions).unwrap();
        let (_, _, failed) = applied.counts();
        assert_eq!(failed, 0, "failures in the gate's apply: {applied:?}");
        let restored = self.life.restore().unwrap();
        assert_eq!(restored.failed, 0, "failures in the gate's restore");
        restored.restored
    }
}

impl Default for MemoryDesktop {
    fn default() -> Self {
        Self::new()
    }
}

/// The development client's credential (`serve --dev`).
pub use attune_cloud::admin::{DEV_CLIENT_ID, DEV_CLIENT_SECRET};

/// The device of the cloud's requests: GNOME's interface settings and magnifier, as the load
/// generator asks (`crates/attune-cloud/examples/loadgen.rs`).
pub const GNOME_DEVICE: &str = r#"{"OS":{"id":"linux"},"solutions":[{"id":"org.gnome.desktop.interface"},{"id":"org.gnome.desktop.a11y.magnifier"}]}"#;

/// attune-cloud in this process: its whole router (every middleware) called through tower's
/// `oneshot`, no socket, over a SQLite store in a temp dir with `serve --dev`'s data, on a
/// single-threaded runtime and a clock that stands still (a token never expires mid-run).
pub struct Cloud {
    pub rt: tokio::runtime::Runtime,
    pub router: axum::Router,
    /// A token granted for [`SNAPSET`].
    pub token: String,
    _dir: tempfile::TempDir,
}

impl Cloud {
    /// With one grant made (the first grant also starts the hourly purge, which a warm server
    /// has behind it) and, when `warm`, one `GET settings` answered (its answer cached, as on
    /// a server under load).
    pub fn new(warm: bool) -> Cloud {
        use attune_cloud::api::{self, AppState, Limits};
        use attune_cloud::clock::ManualClock;
        use attune_cloud::store::sqlite::SqliteStore;

        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = SqliteStore::open(&dir.path().join("cloud.db")).unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        rt.block_on(attune_cloud::admin::load_dev_data(&store, clock.as_ref()))
            .unwrap();
        let state = AppState::new(
            Arc::new(store),
            clock,
            attune_cloud::server::bundled_registries().unwrap(),
            Limits::default(),
        );
        let mut purges = state.purges();
        let router = api::router(state);
        let mut cloud = Cloud {
            rt,
            router,
            token: String::new(),
            _dir: dir,
        };
        cloud.token = cloud.grant();
        // The purge the first grant started, done (the next is an hour away on this clock).
        cloud.rt.block_on(purges.wait_for(|n| *n >= 1)).unwrap();
        if warm {
            cloud.get_settings();
        }
        cloud
    }

    /// `POST /access_token` for [`SNAPSET`] with the development credential; the new token.
    pub fn grant(&self) -> String {
        let form = format!(
            "grant_type=password&client_id={DEV_CLIENT_ID}&client_secret={DEV_CLIENT_SECRET}&username={SNAPSET}&password=x"
        );
        let req = axum::http::Request::post("/access_token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(form))
            .unwrap();
        let body = self.call(req);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// `GET /{SNAPSET}/settings/{GNOME_DEVICE}` with [`Cloud::token`]; the answer's length.
    pub fn get_settings(&self) -> usize {
        let uri = format!(
            "/{SNAPSET}/settings/{}",
            attune_cloud::uri::encode_component(GNOME_DEVICE)
        );
        let req = axum::http::Request::get(uri)
            .header("authorization", format!("Bearer {}", self.token))
            .body(axum::body::Body::empty())
            .unwrap();
        self.call(req).len()
    }

    /// The request through the whole router, from a loopback peer; the body of a 200 answer
    /// (anything else panics: the gate measures the path that works).
    fn call(&self, mut req: axum::http::Request<axum::body::Body>) -> axum::body::Bytes {
        use tower::ServiceExt;
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        self.rt.block_on(async {
            let resp = self.router.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            body
        })
    }
}

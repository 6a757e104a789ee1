//! The real attune-cloud in process (SQLite store in a temp dir, the `serve --dev` data: the dev
//! credential and every bundled snapset as a key), on its own runtime thread so that sync and
//! async tests alike can use it. For the happy paths; faults belong to [`crate::FaultServer`] or
//! a [`crate::FaultProxy`] in front of this.

use std::net::SocketAddr;
use std::sync::Arc;

use attune_cloud::api::{AppState, Limits};
use attune_cloud::clock::SystemClock;
use attune_cloud::store::sqlite::SqliteStore;
use attune_cloud::{admin, server};

/// The dev credential the cloud has.
pub const DEV_ID: &str = admin::DEV_CLIENT_ID;
pub const DEV_SECRET: &str = admin::DEV_CLIENT_SECRET;

/// A running attune-cloud; dropping it shuts it down gracefully and waits.
pub struct RealCloud {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl RealCloud {
    /// With the default limits (tokens live an hour).
    pub fn start() -> RealCloud {
        RealCloud::start_with(Limits::default())
    }

    /// Tokens live `secs` seconds.
    pub fn with_token_lifetime(secs: i64) -> RealCloud {
        RealCloud::start_with(Limits {
            token_lifetime_secs: secs,
            ..Limits::default()
        })
    }

    pub fn start_with(limits: Limits) -> RealCloud {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cloud.db");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let store = SqliteStore::open(&db).unwrap();
                admin::load_dev_data(&store, &SystemClock).await.unwrap();
                let state = AppState::new(
                    Arc::new(store),
                    Arc::new(SystemClock),
                    server::bundled_registries().unwrap(),
                    limits,
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                server::serve(listener, state, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().expect("attune-cloud started");
        RealCloud {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RealCloud {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

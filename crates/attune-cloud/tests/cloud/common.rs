//! Shared helpers: a real attune-cloud on 127.0.0.1:0 with a temp SQLite store, the dev data,
//! the fixtures in `tests/fixtures`, and a clock the test moves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use attune_cloud::admin;
use attune_cloud::api::{AppState, Limits};
use attune_cloud::clock::ManualClock;
use attune_cloud::registries::Registries;
use attune_cloud::server;
use attune_cloud::store::sqlite::SqliteStore;
use attune_cloud::store::{PrefsSafeType, Store};
use attune_cloud::uri::encode_component;
use attune_testkit::serving::Serving;
use serde_json::Value;

pub const DEV_ID: &str = "attune-dev";
pub const DEV_SECRET: &str = "attune-dev-secret";
/// A device with GNOME's interface settings and magnifier.
pub const GNOME_DEVICE: &str = r#"{"OS":{"id":"linux"},"solutions":[{"id":"org.gnome.desktop.interface"},{"id":"org.gnome.desktop.a11y.magnifier"}]}"#;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub struct Cloud {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub store: SqliteStore,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Cloud {
    pub async fn start() -> Cloud {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Cloud {
        Self::start_serving(limits, None).await
    }

    /// A cloud serving HTTPS with `tls` (its base URL `https://127.0.0.1:PORT`).
    pub async fn start_tls(tls: attune_cloud::tls::Tls) -> Cloud {
        Self::start_serving(Limits::default(), Some(tls)).await
    }

    async fn start_serving(limits: Limits, tls: Option<attune_cloud::tls::Tls>) -> Cloud {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("cloud.db")).unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        admin::load_dev_data(&store, clock.as_ref()).await.unwrap();
        for dir in ["dbData", "prefs"] {
            let dir = fixtures().join(dir);
            admin::load(&store, &dir, PrefsSafeType::User, clock.as_ref())
                .await
                .unwrap();
        }
        let state = AppState::new(
            Arc::new(store.clone()),
            clock.clone(),
            server::bundled_registries().unwrap(),
            limits,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_with(
            listener,
            state.clone(),
            tls,
            async move {
                let _ = rx.await;
            },
        ));
        Cloud {
            base: format!("{scheme}://{addr}"),
            clock,
            store,
            state,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    /// POSTs a form token request.
    pub async fn token_form(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/access_token"))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// A token for `key` with the dev credential; panics unless granted.
    pub async fn token(&self, key: &str) -> String {
        self.token_as(DEV_ID, DEV_SECRET, key).await
    }

    pub async fn token_as(&self, id: &str, secret: &str, key: &str) -> String {
        token_at(&self.http, &self.base, id, secret, key).await
    }

    pub async fn get_settings(
        &self,
        key: &str,
        device: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        send_as(self.http.get(settings_url(&self.base, key, device)), token).await
    }

    pub async fn put_settings(
        &self,
        key: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let url = self.url(&format!("/{key}/settings"));
        send_as(self.http.put(url).json(body), token).await
    }
}

/// Serves `state` on 127.0.0.1:0 for the rest of the test; its base URL.
pub async fn serve_state(state: Arc<AppState>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::serve(listener, state, std::future::pending()));
    base
}

/// Serves `store` with `registries` (the system clock, default limits) on 127.0.0.1:0 for the
/// rest of the test; its base URL.
pub async fn serve_store(store: Arc<dyn Store>, registries: impl Into<Registries>) -> String {
    let clock = Arc::new(attune_cloud::clock::SystemClock);
    serve_state(AppState::new(store, clock, registries, Limits::default())).await
}

/// Sends `req`, with `token` as its bearer token when there is one.
pub async fn send_as(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::Response {
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    req.send().await.unwrap()
}

/// `GET /{key}/settings/{device}` at `base`, the device encoded as GPII's clients do.
pub fn settings_url(base: &str, key: &str, device: &str) -> String {
    format!("{base}/{key}/settings/{}", encode_component(device))
}

/// The fields of a password grant for `key` as client `id` (GPII ignores the password).
pub fn password_grant<'a>(id: &'a str, secret: &'a str, key: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "password"),
        ("client_id", id),
        ("client_secret", secret),
        ("username", key),
        ("password", "dummy"),
    ]
}

/// A password grant for `key` as client `id`, POSTed as a form to the server at `base`.
pub async fn grant_at(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    key: &str,
) -> reqwest::Response {
    http.post(format!("{base}/access_token"))
        .form(&password_grant(id, secret, key))
        .send()
        .await
        .unwrap()
}

/// A token for `key` as client `id` from the server at `base`; panics unless granted.
pub async fn token_at(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    key: &str,
) -> String {
    let r = grant_at(http, base, id, secret, key).await;
    assert_eq!(r.status(), 200, "token for {key} via {id} at {base}");
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// Status, `X-Attune-Api` header and JSON body of a response.
pub async fn parts(r: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = r.status().as_u16();
    let api = r
        .headers()
        .get("x-attune-api")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, api, body)
}

/// The real `attune-cloud` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attune-cloud"))
}

/// `attune-cloud ARGS…`, which must succeed; its output.
pub fn admin(args: &[&str]) -> String {
    attune_testkit::process::run(bin().args(args))
}

/// `attune-cloud load --store STORE DIR`; its report.
pub fn admin_load(store: &str, dir: &Path) -> String {
    admin(&["load", "--store", store, dir.to_str().unwrap()])
}

/// `attune-cloud keys generate` of `count` keys into `dir/keys.csv`; the keys it wrote.
pub fn admin_generate_keys(store: &str, count: usize, dir: &Path) -> Vec<String> {
    let csv = dir.join("keys.csv");
    let count = count.to_string();
    admin(&[
        "keys",
        "generate",
        "--store",
        store,
        "--count",
        &count,
        "--out",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("key"), "{text}");
    lines.map(str::to_owned).collect()
}

/// `attune-cloud backup --store STORE --out OUT`; its report.
pub fn admin_backup(store: &str, out: &Path) -> String {
    admin(&["backup", "--store", store, "--out", out.to_str().unwrap()])
}

/// `attune-cloud restore --store STORE --from FROM`; its report.
pub fn admin_restore(store: &str, from: &Path) -> String {
    admin(&[
        "restore",
        "--store",
        store,
        "--from",
        from.to_str().unwrap(),
    ])
}

/// `attune-cloud serve ARGS… --listen 127.0.0.1:0`, running (see the kit's [`Serving`]).
pub fn serve(args: &[&str]) -> Serving {
    let mut c = bin();
    c.arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info");
    Serving::start(c)
}

/// A password grant with the dev credential (`serve --dev`) for `large_text`.
pub async fn dev_grant(base: &str) -> reqwest::Response {
    grant_at(
        &reqwest::Client::new(),
        base,
        DEV_ID,
        DEV_SECRET,
        "large_text",
    )
    .await
}

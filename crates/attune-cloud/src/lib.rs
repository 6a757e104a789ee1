//! Attune's cloud: a GPII-compatible cloud-based flow manager and preferences server.
//!
//! A GPII client (or Attune's own, `attune-flow`) gets a token at `POST /access_token` with its
//! site credentials and the person's key, then `GET /{key}/settings/{device}` for what to apply
//! on a machine and `PUT /{key}/settings` to save changes. The answers are those of GPII's cloud
//! (GPII/universal `documentation/FlowManager.md`), computed with `attune-model`'s flat
//! matchmaker; see `docs/cloud.md` and `docs/api/openapi.yaml`.
//!
//! Layout: [`api`] (routes, handlers, load shedding), [`error`] (the one mapping of errors to
//! GPII's three error shapes), [`auth`] (secrets, tokens, IP lists, failure limiter),
//! [`preferences`] (PUT validation and merge, pure), [`registries`] (solutions registries and
//! their order), [`store`] (the [`store::Store`] trait, the
//! SQLite and CouchDB stores and the contract suite every store passes), [`admin`] (load, keys, credentials),
//! [`server`] (binding, shutdown, logging), [`metrics`] (`GET /metrics`), [`uri`]
//! (`encodeURIComponent`).
//!
//! **Architecture invariants:** handlers never see raw SQL or a store's errors (they get
//! [`store::StoreError`], mapped to 503 in [`error`]); keys appear in logs only as
//! [`attune_model::key::Key`]'s fingerprint and tokens never; every time read goes through
//! [`clock::Clock`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use attune_cloud::{api, clock::SystemClock, server, store::sqlite::SqliteStore};
//! let store = Arc::new(SqliteStore::open("cloud.db".as_ref())?);
//! let state = api::AppState::new(store, Arc::new(SystemClock),
//!     server::bundled_registries()?, api::Limits::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! server::serve(listener, state, server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod metrics;
pub mod preferences;
pub mod registries;
pub mod server;
pub mod store;
pub mod tls;
pub mod token_request;
pub mod uri;

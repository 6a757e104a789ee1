//! The cloud's answers in GPII's shapes, as attune-model's matchmaker makes them.

use attune_model::device::DeviceReport;
use attune_model::prefs::PreferenceSet;
use serde_json::{json, Value};

/// The GPII release the interop tests run against (npm).
pub const GPII_UNIVERSAL: &str = "gpii-universal@0.3.0-dev.20200604T131823Z.d6fed9a";

/// The npm packages of the CouchDB stand-in (PouchDB behind express) the interop tests use.
pub const COUCH_PACKAGES: &[&str] = &[
    "express@4",
    "express-pouchdb",
    "pouchdb-core",
    "pouchdb-adapter-memory",
    "pouchdb-adapter-http",
    "pouchdb-mapreduce",
    "pouchdb-replication",
];

/// Installs gpii-universal and the CouchDB stand-in's packages into `dir`, then runs the
/// package's own post-install steps by hand (npm's install scripts are not run): the snapset
/// preferences converted to GPII's database documents, the registry's schemas generated.
/// Returns the package's directory.
pub fn install_gpii_universal(dir: &std::path::Path) -> std::path::PathBuf {
    use std::process::Command;
    let mut packages = vec![GPII_UNIVERSAL];
    packages.extend_from_slice(COUCH_PACKAGES);
    crate::process::npm_install(dir, &packages);
    let pkg = dir.join("node_modules/gpii-universal");
    crate::process::run(
        Command::new("node")
            .args([
                "scripts/convertPrefs.js",
                "testData/preferences/",
                "build/dbData/snapset/",
                "snapset",
            ])
            .current_dir(&pkg),
    );
    crate::process::run(
        Command::new("node")
            .arg("gpii/node_modules/solutionsRegistry/src/js/generate-schemas.js")
            .current_dir(&pkg),
    );
    pkg
}

/// A UUID that is no snapset, so no snapset fallback hides what the cloud path did.
pub const PERSON: &str = "6f1c1c1e-9a43-4f3b-8d2e-0c1f4c2b7a11";

/// The settings answer for `person` with a preference set, for a device with every solution of
/// the bundled Linux registry.
pub fn answer_for(person: &str, prefs: &PreferenceSet) -> Value {
    let registry = attune_model::bundled::linux_registry().unwrap();
    let device = DeviceReport::linux(registry.solutions.keys().cloned());
    let o =
        attune_model::matchmaker::match_and_transform(prefs, "gpii-default", &registry, &device)
            .unwrap();
    json!({
        "gpiiKey": person,
        "preferences": o.filtered_preferences,
        "solutionsRegistryEntries": o.registry_entries.as_ref(),
        "matchMakerOutput": o.matchmaker_output,
    })
}

/// The settings answer for `person` with a bundled snapset's preferences.
pub fn answer(person: &str, snapset: &str) -> Value {
    let prefs = attune_model::bundled::snapset(snapset).unwrap().unwrap();
    answer_for(person, &prefs)
}

/// A token answer (`expiresIn` seconds).
pub fn token(access_token: &str, expires_in: u64) -> String {
    json!({"access_token": access_token, "expiresIn": expires_in, "token_type": "Bearer"})
        .to_string()
}

/// A stand-in cloud for [`PERSON`] that can be taken down and brought back: while down it
/// resets every connection (as near to unreachable as a listener gets); while up it grants a
/// token and answers a bundled snapset's preferences. Starts down.
pub struct OutageCloud {
    pub server: crate::FaultServer,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl OutageCloud {
    pub fn start(snapset: &str) -> OutageCloud {
        use std::sync::atomic::Ordering;
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = down.clone();
        let body = answer(PERSON, snapset).to_string();
        let server = crate::FaultServer::start(move |req, _| {
            if flag.load(Ordering::SeqCst) {
                crate::Reply::fault(crate::Fault::Refuse)
            } else if req.path == "/access_token" {
                crate::Reply::json(&token("tok", 3600))
            } else {
                crate::Reply::json(&body)
            }
        });
        OutageCloud { server, down }
    }

    /// Takes the cloud down (`true`) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Requests so far (refused ones included).
    pub fn count(&self) -> usize {
        self.server.count()
    }
}

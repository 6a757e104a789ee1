//! Configuration: three profiles (DESIGN §7) and layered sources.
//!
//! Layers, later wins: built-in defaults of the profile < site file (`/etc/attune/site.toml`, or
//! `ATTUNE_SITE_CONFIG`) < user file (`<config dir>/attune.toml`, or `ATTUNE_CONFIG`) <
//! environment (`ATTUNE_PROFILE`, `ATTUNE_CLOUD_URL`, `ATTUNE_CLIENT_ID`,
//! `ATTUNE_CLIENT_SECRET`). The profile itself is chosen by the command line, else the
//! environment, else the user file, else the site file, else `production`… except that with no
//! site file and no cloud configured at all we choose `testing`, which never touches the network
//! (a fresh machine runs on embedded defaults).
//!
//! Every file is parsed on its own with unknown fields rejected, so an error names the file, the
//! field and the expected form.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where Attune gets its preferences from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// No network: bundled snapsets only, applied deterministically.
    Testing,
    /// A local `attune-cloud serve --dev` on loopback.
    Development,
    /// The site's cloud, with site credentials from the site file.
    Production,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Testing, Profile::Development, Profile::Production];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Testing => "testing",
            Profile::Development => "development",
            Profile::Production => "production",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "testing" => Ok(Profile::Testing),
            "development" | "dev" => Ok(Profile::Development),
            "production" | "prod" => Ok(Profile::Production),
            other => Err(ConfigError::Invalid {
                source_name: "profile".to_owned(),
                field: "profile".to_owned(),
                expected: "one of testing, development, production".to_owned(),
                found: other.to_owned(),
            }),
        }
    }
}

/// Default cloud of the development profile: what `attune-cloud serve --dev` listens on.
pub const DEV_CLOUD_URL: &str = "http://127.0.0.1:8084";
/// The dev site credential `attune-cloud serve --dev` creates.
pub const DEV_CLIENT_ID: &str = "attune-dev";
pub const DEV_CLIENT_SECRET: &str = "attune-dev-secret";
/// Default site config path on Linux.
pub const SITE_CONFIG_PATH: &str = "/etc/attune/site.toml";

/// The whole, resolved configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub profile: Profile,
    pub cloud: CloudConfig,
    pub resilience: ResilienceConfig,
    pub cache: CacheConfig,
    pub local_api: LocalApiConfig,
    /// Which files contributed, in order (for `attune doctor` and diagnostics).
    pub sources: Vec<String>,
}

#[derive(Clone, PartialEq, Serialize)]
pub struct CloudConfig {
    /// One or more endpoints of the same cloud; on transport failure the next is tried.
    pub urls: Vec<String>,
    pub client_id: Option<String>,
    /// Never printed: `Debug` and `Serialize` hide it.
    #[serde(serialize_with = "hide_secret")]
    pub client_secret: Option<String>,
    /// Accept a server that sends no version information (a GPII cloud).
    pub legacy_gpii: bool,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment. Off by default: a
    /// proxy variable left behind on a shared computer must not take the cloud away (TEST-MATRIX
    /// N22); a site behind a proxy turns it on in its site file.
    pub use_system_proxy: bool,
    /// A PEM file of extra root certificates to trust (a site's own CA), besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudConfig")
            .field("urls", &self.urls)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<hidden>"),
            )
            .field("legacy_gpii", &self.legacy_gpii)
            .field("use_system_proxy", &self.use_system_proxy)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

fn hide_secret<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("<hidden>"),
        None => s.serialize_none(),
    }
}

/// DESIGN §4 defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResilienceConfig {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub deadline: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub breaker_failures: u32,
    pub breaker_open_for: Duration,
    pub max_body_bytes: usize,
}

impl Default for ResilienceConfig {
    fn default() -> Self {
        ResilienceConfig {
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(4),
            deadline: Duration::from_secs(10),
            max_attempts: 3,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(4),
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(30),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// DESIGN §5.2 site policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheConfig {
    pub enabled: bool,
    pub max_age: Duration,
    pub purge_on_key_out: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_age: Duration::from_secs(30 * 24 * 3600),
            purge_on_key_out: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalApiConfig {
    pub enabled: bool,
    pub listen: String,
}

/// A configuration problem: names where, what, and the expected form.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{source_name}: cannot read: {detail}")]
    Read { source_name: String, detail: String },
    #[error("{source_name}: {detail}")]
    Syntax { source_name: String, detail: String },
    #[error("{source_name}: field `{field}` must be {expected}, found {found:?}")]
    Invalid {
        source_name: String,
        field: String,
        expected: String,
        found: String,
    },
}

/// One layer as written in a file: every field optional, unknown fields rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    profile: Option<String>,
    cloud: Option<CloudLayer>,
    resilience: Option<ResilienceLayer>,
    cache: Option<CacheLayer>,
    local_api: Option<LocalApiLayer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudLayer {
    url: Option<String>,
    urls: Option<Vec<String>>,
    client_id: Option<String>,
    client_secret: Option<String>,
    legacy_gpii: Option<bool>,
    use_system_proxy: Option<bool>,
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResilienceLayer {
    connect_timeout_ms: Option<u64>,
    attempt_timeout_ms: Option<u64>,
    deadline_ms: Option<u64>,
    max_attempts: Option<u32>,
    backoff_base_ms: Option<u64>,
    backoff_cap_ms: Option<u64>,
    breaker_failures: Option<u32>,
    breaker_open_for_ms: Option<u64>,
    max_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheLayer {
    enabled: Option<bool>,
    max_age_days: Option<u64>,
    purge_on_key_out: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalApiLayer {
    enabled: Option<bool>,
    listen: Option<String>,
}

/// Where configuration comes from. Tests build one by hand; [`Sources::from_process`] reads the
/// real environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The profile asked for on the command line (wins over everything).
    pub profile_override: Option<Profile>,
    pub site_file: Option<PathBuf>,
    pub user_file: Option<PathBuf>,
    /// Environment variables (only `ATTUNE_*` ones matter).
    pub env: BTreeMap<String, String>,
}

impl Sources {
    /// Sources from the process environment and the standard paths.
    pub fn from_process(profile_override: Option<Profile>, config_dir: &Path) -> Self {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("ATTUNE_"))
            .collect();
        let site_file = Some(
            env.get("ATTUNE_SITE_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(SITE_CONFIG_PATH)),
        );
        let user_file = Some(
            env.get("ATTUNE_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| config_dir.join("attune.toml")),
        );
        Sources {
            profile_override,
            site_file,
            user_file,
            env,
        }
    }
}

fn read_layer(path: &Path, required: bool) -> Result<Option<Layer>, ConfigError> {
    let name = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                source_name: name,
                detail: e.to_string(),
            })
        }
    };
    let text = String::from_utf8(text).map_err(|_| ConfigError::Syntax {
        source_name: name.clone(),
        detail: "not valid UTF-8 text".to_owned(),
    })?;
    toml::from_str::<Layer>(&text)
        .map(Some)
        .map_err(|e| ConfigError::Syntax {
            source_name: name,
            detail: e.to_string().trim_end().replace('\n', " "),
        })
}

impl Config {
    /// Resolves the configuration from its layers.
    pub fn load(src: &Sources) -> Result<Config, ConfigError> {
        let site_required = src.env.contains_key("ATTUNE_SITE_CONFIG");
        let user_required = src.env.contains_key("ATTUNE_CONFIG");
        let mut layers: Vec<(String, Layer)> = Vec::new();
        if let Some(p) = &src.site_file {
            if let Some(l) = read_layer(p, site_required)? {
                layers.push((p.display().to_string(), l));
            }
        }
        if let Some(p) = &src.user_file {
            if let Some(l) = read_layer(p, user_required)? {
                layers.push((p.display().to_string(), l));
            }
        }

        // The profile: command line > env > files (last wins) > implicit.
        let mut profile = None;
        for (name, l) in &layers {
            if let Some(p) = &l.profile {
                profile = Some(p.parse::<Profile>().map_err(|_| ConfigError::Invalid {
                    source_name: name.clone(),
                    field: "profile".to_owned(),
                    expected: "one of \"testing\", \"development\", \"production\"".to_owned(),
                    found: p.clone(),
                })?);
            }
        }
        if let Some(p) = src.env.get("ATTUNE_PROFILE").filter(|p| !p.is_empty()) {
            profile = Some(p.parse::<Profile>().map_err(|_| ConfigError::Invalid {
                source_name: "environment".to_owned(),
                field: "ATTUNE_PROFILE".to_owned(),
                expected: "one of testing, development, production".to_owned(),
                found: p.clone(),
            })?);
        }
        if let Some(p) = src.profile_override {
            profile = Some(p);
        }
        let any_cloud = layers.iter().any(|(_, l)| l.cloud.is_some())
            || src.env.contains_key("ATTUNE_CLOUD_URL");
        let profile = profile.unwrap_or(if any_cloud {
            Profile::Production
        } else {
            Profile::Testing
        });

        let mut cfg = Config::defaults(profile);
        for (name, l) in layers {
            cfg.overlay(&name, l)?;
            cfg.sources.push(name);
        }
        cfg.overlay_env(&src.env)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// The built-in defaults of a profile.
    pub fn defaults(profile: Profile) -> Config {
        let cloud = match profile {
            Profile::Development => CloudConfig {
                urls: vec![DEV_CLOUD_URL.to_owned()],
                client_id: Some(DEV_CLIENT_ID.to_owned()),
                client_secret: Some(DEV_CLIENT_SECRET.to_owned()),
                legacy_gpii: false,
                use_system_proxy: false,
                ca_file: None,
            },
            Profile::Testing | Profile::Production => CloudConfig {
                urls: Vec::new(),
                client_id: None,
                client_secret: None,
                legacy_gpii: false,
                use_system_proxy: false,
                ca_file: None,
            },
        };
        Config {
            profile,
            cloud,
            resilience: ResilienceConfig::default(),
            cache: CacheConfig::default(),
            local_api: LocalApiConfig {
                enabled: profile != Profile::Production,
                listen: "127.0.0.1:8081".to_owned(),
            },
            sources: vec![format!("built-in defaults ({profile})")],
        }
    }

    fn overlay(&mut self, name: &str, l: Layer) -> Result<(), ConfigError> {
        let ms = Duration::from_millis;
        if let Some(c) = l.cloud {
            if let Some(u) = c.url {
                self.cloud.urls = vec![u];
            }
            if let Some(u) = c.urls {
                self.cloud.urls = u;
            }
            set(&mut self.cloud.client_id, c.client_id.map(Some));
            set(&mut self.cloud.client_secret, c.client_secret.map(Some));
            set(&mut self.cloud.legacy_gpii, c.legacy_gpii);
            set(&mut self.cloud.use_system_proxy, c.use_system_proxy);
            set(&mut self.cloud.ca_file, c.ca_file.map(Some));
        }
        if let Some(r) = l.resilience {
            let z = &mut self.resilience;
            set(&mut z.connect_timeout, r.connect_timeout_ms.map(ms));
            set(&mut z.attempt_timeout, r.attempt_timeout_ms.map(ms));
            set(&mut z.deadline, r.deadline_ms.map(ms));
            set(&mut z.max_attempts, r.max_attempts);
            set(&mut z.backoff_base, r.backoff_base_ms.map(ms));
            set(&mut z.backoff_cap, r.backoff_cap_ms.map(ms));
            set(&mut z.breaker_failures, r.breaker_failures);
            set(&mut z.breaker_open_for, r.breaker_open_for_ms.map(ms));
            set(&mut z.max_body_bytes, r.max_body_bytes);
        }
        if let Some(c) = l.cache {
            set(&mut self.cache.enabled, c.enabled);
            set(
                &mut self.cache.max_age,
                c.max_age_days
                    .map(|d| Duration::from_secs(d.saturating_mul(86_400))),
            );
            set(&mut self.cache.purge_on_key_out, c.purge_on_key_out);
        }
        if let Some(a) = l.local_api {
            set(&mut self.local_api.enabled, a.enabled);
            set(&mut self.local_api.listen, a.listen);
        }
        self.check_named(name)
    }

    fn overlay_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let mut used = false;
        if let Some(u) = env.get("ATTUNE_CLOUD_URL").filter(|u| !u.is_empty()) {
            self.cloud.urls = u.split(',').map(|s| s.trim().to_owned()).collect();
            used = true;
        }
        if let Some(v) = env.get("ATTUNE_CLIENT_ID") {
            self.cloud.client_id = Some(v.clone());
            used = true;
        }
        if let Some(v) = env.get("ATTUNE_CLIENT_SECRET") {
            self.cloud.client_secret = Some(v.clone());
            used = true;
        }
        if used {
            self.sources.push("environment".to_owned());
        }
        self.check_named("environment")
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.check_named("configuration")
    }

    /// Checks what a layer may have broken, naming the layer.
    fn check_named(&self, name: &str) -> Result<(), ConfigError> {
        let bad = |field: &str, expected: &str, found: String| ConfigError::Invalid {
            source_name: name.to_owned(),
            field: field.to_owned(),
            expected: expected.to_owned(),
            found,
        };
        for u in &self.cloud.urls {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() > "https://".len();
            if !ok {
                return Err(bad(
                    "cloud.urls",
                    "an http:// or https:// URL such as \"https://prefs.example.org\"",
                    u.clone(),
                ));
            }
        }
        let r = &self.resilience;
        if r.max_attempts == 0 || r.max_attempts > 10 {
            return Err(bad(
                "resilience.max_attempts",
                "a whole number from 1 to 10",
                r.max_attempts.to_string(),
            ));
        }
        if r.connect_timeout.is_zero() || r.attempt_timeout.is_zero() || r.deadline.is_zero() {
            return Err(bad(
                "resilience",
                "timeouts greater than 0 ms",
                format!("{r:?}"),
            ));
        }
        if self
            .local_api
            .listen
            .parse::<std::net::SocketAddr>()
            .is_err()
        {
            return Err(bad(
                "local_api.listen",
                "an address and port such as \"127.0.0.1:8081\"",
                self.local_api.listen.clone(),
            ));
        }
        Ok(())
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn no_files_no_env_means_testing() {
        let c = Config::load(&Sources::default()).unwrap();
        assert_eq!(c.profile, Profile::Testing);
        assert!(c.cloud.urls.is_empty());
    }

    #[test]
    fn development_defaults_match_the_dev_cloud() {
        let src = Sources {
            profile_override: Some(Profile::Development),
            ..Sources::default()
        };
        let c = Config::load(&src).unwrap();
        assert_eq!(c.cloud.urls, vec![DEV_CLOUD_URL]);
        assert_eq!(c.cloud.client_id.as_deref(), Some("attune-dev"));
        assert_eq!(c.cloud.client_secret.as_deref(), Some("attune-dev-secret"));
    }

    #[test]
    fn layers_apply_in_order_and_env_wins() {
        let d = tempfile::tempdir().unwrap();
        let site = write(
            d.path(),
            "site.toml",
            "[cloud]\nurl = \"https://site.example\"\nclient_id = \"s\"\n[cache]\nmax_age_days = 7\n",
        );
        let user = write(d.path(), "user.toml", "[cache]\nenabled = false\n");
        let mut env = BTreeMap::new();
        env.insert("ATTUNE_CLIENT_ID".to_owned(), "from-env".to_owned());
        let c = Config::load(&Sources {
            profile_override: None,
            site_file: Some(site),
            user_file: Some(user),
            env,
        })
        .unwrap();
        assert_eq!(c.profile, Profile::Production);
        assert_eq!(c.cloud.urls, vec!["https://site.example"]);
        assert_eq!(c.cloud.client_id.as_deref(), Some("from-env"));
        assert_eq!(c.cache.max_age, Duration::from_secs(7 * 86_400));
        assert!(!c.cache.enabled);
        assert_eq!(c.sources.len(), 4);
    }

    #[test]
    fn unknown_field_is_named_with_its_file() {
        let d = tempfile::tempdir().unwrap();
        let site = write(d.path(), "site.toml", "[cloud]\nurll = \"x\"\n");
        let e = Config::load(&Sources {
            site_file: Some(site.clone()),
            ..Sources::default()
        })
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("site.toml"), "{msg}");
        assert!(msg.contains("urll"), "{msg}");
    }

    #[test]
    fn bad_url_and_bad_profile_are_explained() {
        let d = tempfile::tempdir().unwrap();
        let site = write(d.path(), "site.toml", "[cloud]\nurl = \"ftp://x\"\n");
        let e = Config::load(&Sources {
            site_file: Some(site),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("cloud.urls"), "{e}");
        let mut env = BTreeMap::new();
        env.insert("ATTUNE_PROFILE".to_owned(), "staging".to_owned());
        let e = Config::load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("ATTUNE_PROFILE"), "{e}");
        assert!(e.to_string().contains("staging"), "{e}");
    }

    #[test]
    fn missing_explicit_site_file_is_an_error_but_missing_default_is_not() {
        let mut env = BTreeMap::new();
        env.insert(
            "ATTUNE_SITE_CONFIG".to_owned(),
            "/nonexistent/site.toml".to_owned(),
        );
        let e = Config::load(&Sources {
            site_file: Some(PathBuf::from("/nonexistent/site.toml")),
            env,
            ..Sources::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(Config::load(&Sources {
            site_file: Some(PathBuf::from("/nonexistent/site.toml")),
            ..Sources::default()
        })
        .is_ok());
    }

    #[test]
    fn the_secret_never_shows() {
        let mut c = Config::defaults(Profile::Development);
        c.cloud.client_secret = Some("hunter2".to_owned());
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&c).unwrap().contains("hunter2"));
    }
}

//! Configuration: three profiles (docs/design.md §7) and layered sources.
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
//! field and the expected form. An error never quotes the file's text: the line it points at may
//! hold the site's client secret, and the error reaches the terminal, the log and the support
//! bundle. A file is read only if it is a regular file of at most [`MAX_CONFIG_BYTES`], so a huge
//! file, a device or a FIFO named as the configuration cannot hang or exhaust start-up.
//!
//! The production profile talks to the site's cloud over https only; plain `http://` needs
//! `cloud.allow_insecure_http = true`, which only the site file may set (an administrator's
//! decision, not something a user file or a variable left in the environment can switch on).

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
/// The largest configuration file read (a real one is a few hundred bytes).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Logged at every load, and shown by `attune doctor`, while the site allows plain http.
pub const INSECURE_HTTP_WARNING: &str = "cloud.allow_insecure_http is set: the cloud may be \
    reached over plain http, where the site credential and people's preferences can be read and \
    changed on the network";

/// The whole, resolved configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub profile: Profile,
    pub cloud: CloudConfig,
    pub resilience: ResilienceConfig,
    pub cache: CacheConfig,
    pub local_api: LocalApiConfig,
    pub snapsets: SnapsetsConfig,
    pub usb: UsbConfig,
    pub session: SessionConfig,
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
    /// proxy variable left behind on a shared computer must not take the cloud away
    /// (docs/test-matrix.md N22); a site behind a proxy turns it on in its site file.
    pub use_system_proxy: bool,
    /// A PEM file of extra root certificates to trust (a site's own CA), besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// Let the production profile use `http://` cloud URLs. Only the site file can set it: plain
    /// http exposes the site credential and a person's preferences to the network.
    pub allow_insecure_http: bool,
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
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

fn hide_secret<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("<hidden>"),
        None => s.serialize_none(),
    }
}

/// docs/design.md §4 defaults.
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

/// docs/design.md §5.2 site policy.
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

impl LocalApiConfig {
    /// Where the local API listens when it is enabled; `None` when it is off (or `listen` is not
    /// an address, which loading the configuration has refused already).
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.enabled.then(|| self.listen.parse().ok()).flatten()
    }
}

/// The USB-stick listener (`[usb]`), which the app and `attune listen` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsbConfig {
    pub enabled: bool,
    /// The removable-media mount roots watched for sticks; `None`: the user's own
    /// (`/media/$USER`, `/run/media/$USER`), which attune-listen resolves.
    pub roots: Option<Vec<PathBuf>>,
}

/// The shared-computer policy (`[session]`, site file only; docs/design.md §10.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionConfig {
    /// A library's or job centre's computer: the last person is keyed out when the desktop
    /// session ends, after an idle time, and at the first start after a reboot, and their cached
    /// preferences leave with them unless the site says otherwise.
    pub shared_computer: bool,
    /// Key out after this long without input (a warning comes [`IDLE_WARNING`] before); `None`:
    /// never. Defaults to [`SHARED_IDLE_KEY_OUT`] on a shared computer, off otherwise.
    pub idle_key_out: Option<Duration>,
}

/// The idle key-out of a shared computer unless the site file says otherwise.
pub const SHARED_IDLE_KEY_OUT: Duration = Duration::from_secs(15 * 60);
/// The longest idle time a site may set (a day).
pub const MAX_IDLE_KEY_OUT_MINUTES: u64 = 24 * 60;
/// How long before an idle key-out the person is warned (a notification and the window's banner).
pub const IDLE_WARNING: Duration = Duration::from_secs(60);

/// A configuration problem: names where, what, and the expected form.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{source_name}: cannot read: {detail}")]
    Read { source_name: String, detail: String },
    /// Named as a configuration file but not a regular file (a directory, device, FIFO, socket).
    #[error(
        "{source_name}: not a regular file but {found}; the configuration must be a plain file"
    )]
    NotAFile {
        source_name: String,
        found: &'static str,
    },
    #[error(
        "{source_name}: too large ({size} bytes); a configuration file may hold at most {limit} bytes"
    )]
    TooLarge {
        source_name: String,
        size: u64,
        limit: u64,
    },
    /// A setting that weakens security, set in a file other than the site file.
    #[error("{source_name}: field `{field}` may be set only in the site file (default {SITE_CONFIG_PATH}, or ATTUNE_SITE_CONFIG)")]
    SiteOnly { source_name: String, field: String },
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

/// Where the testers' snapsets live besides the bundled ones (site file only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapsetsConfig {
    /// The site's snapset folder (the user's is `<config dir>/snapsets`).
    pub site_dir: PathBuf,
    /// Whether a folder snapset may replace another of the same name (the user's over the
    /// site's, either over a bundled one). Off: the same name twice is an error naming both.
    pub allow_override: bool,
}

/// The site's snapset folder unless the site file names another.
pub const SITE_SNAPSETS_DIR: &str = "/etc/attune/snapsets";

impl Default for SnapsetsConfig {
    fn default() -> Self {
        SnapsetsConfig {
            site_dir: PathBuf::from(SITE_SNAPSETS_DIR),
            allow_override: false,
        }
    }
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
    snapsets: Option<SnapsetsLayer>,
    usb: Option<UsbLayer>,
    session: Option<SessionLayer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionLayer {
    shared_computer: Option<bool>,
    /// 0: never.
    idle_key_out_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapsetsLayer {
    site_dir: Option<PathBuf>,
    #[serde(rename = "override")]
    allow_override: Option<bool>,
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
    allow_insecure_http: Option<bool>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsbLayer {
    enabled: Option<bool>,
    roots: Option<Vec<PathBuf>>,
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
    let Some(text) = read_capped(path, &name, required)? else {
        return Ok(None);
    };
    let text = String::from_utf8(text).map_err(|_| ConfigError::Syntax {
        source_name: name.clone(),
        detail: "not valid UTF-8 text".to_owned(),
    })?;
    toml::from_str::<Layer>(&text)
        .map(Some)
        .map_err(|e| ConfigError::Syntax {
            source_name: name,
            detail: syntax_detail(&e, &text),
        })
}

/// The bytes of a configuration file, read as [`crate::capped::read`] reads (a regular file of at
/// most [`MAX_CONFIG_BYTES`]). `None`: absent and not required.
fn read_capped(path: &Path, name: &str, required: bool) -> Result<Option<Vec<u8>>, ConfigError> {
    use crate::capped::CappedError;
    match crate::capped::read(path, MAX_CONFIG_BYTES) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(CappedError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok(None)
        }
        Err(CappedError::Io(e)) => Err(ConfigError::Read {
            source_name: name.to_owned(),
            detail: e.to_string(),
        }),
        Err(CappedError::NotAFile { found }) => Err(ConfigError::NotAFile {
            source_name: name.to_owned(),
            found,
        }),
        Err(CappedError::TooLarge { size, .. }) => Err(ConfigError::TooLarge {
            source_name: name.to_owned(),
            size,
            limit: MAX_CONFIG_BYTES,
        }),
    }
}

/// A TOML error as "line L, column C: what is wrong, what was expected, in which field", without
/// the source text: toml's own `Display` quotes the offending line, which may be the one holding
/// `client_secret`. Values serde quotes in its message (`invalid type: string "…"`) are dropped
/// too.
fn syntax_detail(e: &toml::de::Error, text: &str) -> String {
    // Without its input, the error prints its message and the field path (`in `cloud.url``)
    // instead of the quoted line.
    let mut bare = e.clone();
    bare.set_input(None);
    let what = mask_values(bare.to_string().trim_end()).replace('\n', " ");
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A parser or serde message with every value it quotes removed: `invalid type: string "x",
/// expected …` → `invalid type: string, expected …`; `integer `5``, `boolean `true``,
/// `floating point `1.5``, `character `c`` likewise. Keys (`unknown field `urll``) stay: they name
/// the field to fix.
fn mask_values(msg: &str) -> String {
    const VALUE_KINDS: [&str; 4] = ["integer", "floating point", "boolean", "character"];
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(['"', '`']) {
        let quote = rest[i..].chars().next().unwrap_or('"');
        let head = &rest[..i];
        let is_value = quote == '"'
            || VALUE_KINDS
                .iter()
                .any(|k| head.trim_end().ends_with(k) && head.ends_with(' '));
        let body = &rest[i + 1..];
        let end = closing_quote(body, quote);
        if is_value {
            out.push_str(head.trim_end());
        } else {
            out.push_str(head);
            out.push(quote);
            out.push_str(&body[..end.unwrap_or(body.len())]);
            if end.is_some() {
                out.push(quote);
            }
        }
        rest = match end {
            Some(e) => &body[e + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Index of the quote closing a quoted text (a `"` may be escaped by `\`).
fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// A user's file may not loosen what the site decides: plain http to the cloud, whether a
/// person's cached preferences leave with them (a shared computer keeps nobody's), where
/// snapsets come from and whether they may replace each other, and the shared-computer policy
/// (whoever sits down must not be able to keep the last person keyed in).
fn refuse_site_only(name: &str, l: &Layer) -> Result<(), ConfigError> {
    let field = if l
        .cloud
        .as_ref()
        .is_some_and(|c| c.allow_insecure_http.is_some())
    {
        "cloud.allow_insecure_http"
    } else if l
        .cache
        .as_ref()
        .is_some_and(|c| c.purge_on_key_out.is_some())
    {
        "cache.purge_on_key_out"
    } else if l.snapsets.is_some() {
        "snapsets"
    } else if l.session.is_some() {
        "session"
    } else {
        return Ok(());
    };
    Err(ConfigError::SiteOnly {
        source_name: name.to_owned(),
        field: field.to_owned(),
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
                let name = p.display().to_string();
                refuse_site_only(&name, &l)?;
                layers.push((name, l));
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
        // What a shared computer changes by default, unless a layer says otherwise.
        let purge_said = layers.iter().any(|(_, l)| {
            l.cache
                .as_ref()
                .is_some_and(|c| c.purge_on_key_out.is_some())
        });
        let idle_said = layers.iter().any(|(_, l)| {
            l.session
                .as_ref()
                .is_some_and(|s| s.idle_key_out_minutes.is_some())
        });
        for (name, l) in layers {
            cfg.overlay(&name, l)?;
            cfg.sources.push(name);
        }
        if cfg.session.shared_computer {
            if !purge_said {
                cfg.cache.purge_on_key_out = true;
            }
            if !idle_said {
                cfg.session.idle_key_out = Some(SHARED_IDLE_KEY_OUT);
            }
        }
        cfg.overlay_env(&src.env)?;
        cfg.check()?;
        if cfg.cloud.allow_insecure_http {
            tracing::warn!(profile = %cfg.profile, "{INSECURE_HTTP_WARNING}");
        }
        Ok(cfg)
    }

    /// What an administrator should know about this configuration (for `attune doctor`).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.cloud.allow_insecure_http {
            w.push(INSECURE_HTTP_WARNING.to_owned());
        }
        w
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
                allow_insecure_http: false,
            },
            Profile::Testing | Profile::Production => CloudConfig {
                urls: Vec::new(),
                client_id: None,
                client_secret: None,
                legacy_gpii: false,
                use_system_proxy: false,
                ca_file: None,
                allow_insecure_http: false,
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
            snapsets: SnapsetsConfig::default(),
            usb: UsbConfig {
                enabled: true,
                roots: None,
            },
            session: SessionConfig {
                shared_computer: false,
                idle_key_out: None,
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
            set(&mut self.cloud.allow_insecure_http, c.allow_insecure_http);
        }
        if let Some(sn) = l.snapsets {
            set(&mut self.snapsets.site_dir, sn.site_dir);
            set(&mut self.snapsets.allow_override, sn.allow_override);
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
        if let Some(u) = l.usb {
            set(&mut self.usb.enabled, u.enabled);
            set(&mut self.usb.roots, u.roots.map(Some));
        }
        if let Some(sl) = l.session {
            set(&mut self.session.shared_computer, sl.shared_computer);
            if let Some(m) = sl.idle_key_out_minutes {
                if m > MAX_IDLE_KEY_OUT_MINUTES {
                    return Err(ConfigError::Invalid {
                        source_name: name.to_owned(),
                        field: "session.idle_key_out_minutes".to_owned(),
                        expected: format!(
                            "a whole number of minutes from 2 to {MAX_IDLE_KEY_OUT_MINUTES}, or 0 for never"
                        ),
                        found: m.to_string(),
                    });
                }
                if m == 1 {
                    return Err(ConfigError::Invalid {
                        source_name: name.to_owned(),
                        field: "session.idle_key_out_minutes".to_owned(),
                        expected:
                            "at least 2 minutes (the warning comes a minute before), or 0 for never"
                                .to_owned(),
                        found: m.to_string(),
                    });
                }
                self.session.idle_key_out = (m > 0).then(|| Duration::from_secs(m * 60));
            }
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
                    without_userinfo(u),
                ));
            }
            if self.profile == Profile::Production
                && u.starts_with("http://")
                && !self.cloud.allow_insecure_http
            {
                return Err(bad(
                    "cloud.urls",
                    "an https:// URL in the production profile (a site that must use plain \
                     http sets `allow_insecure_http = true` under [cloud] in its site file)",
                    without_userinfo(u),
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

/// A URL as an error may show it: a `user:password@` part is masked, since errors reach the
/// CLI, the log and the support bundle.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..authority_end].rfind('@') {
        Some(at) => format!("…@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{shown}"),
        None => shown,
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
    fn a_url_in_an_error_never_shows_its_password() {
        assert_eq!(
            without_userinfo("http://admin:hunter2@prefs.example/x@y"),
            "http://…@prefs.example/x@y"
        );
        assert_eq!(without_userinfo("ftp://u:p@h"), "ftp://…@h");
        assert_eq!(without_userinfo("prefs.example"), "prefs.example");
        assert_eq!(
            without_userinfo("https://prefs.example"),
            "https://prefs.example"
        );
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site.toml");
        std::fs::write(
            &site,
            "profile = \"production\"\n[cloud]\nurls = [\"http://admin:hunter2@prefs.example\"]\n",
        )
        .unwrap();
        let e = Config::load(&Sources {
            site_file: Some(site),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("cloud.urls") && !e.contains("hunter2"), "{e}");
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

    /// Loads with `path` as the user file named by `ATTUNE_CONFIG` (so it must be readable).
    fn load_user_file(path: &Path) -> Result<Config, ConfigError> {
        let mut env = BTreeMap::new();
        env.insert("ATTUNE_CONFIG".to_owned(), path.display().to_string());
        Config::load(&Sources {
            user_file: Some(path.to_path_buf()),
            env,
            ..Sources::default()
        })
    }

    /// [`load_user_file`] on a thread: a load that hangs (a FIFO) fails the test instead of
    /// hanging it.
    fn load_user_file_within(path: &Path, bound: Duration) -> Result<Config, ConfigError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(load_user_file(&path));
        });
        rx.recv_timeout(bound)
            .unwrap_or_else(|_| panic!("loading the configuration hung for {bound:?}"))
    }

    fn site_only(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        let site = write(dir, "site.toml", text);
        Config::load(&Sources {
            site_file: Some(site),
            ..Sources::default()
        })
    }

    #[test]
    fn the_usb_listener_is_on_by_default_and_the_site_file_sets_its_roots() {
        let d = tempfile::tempdir().unwrap();
        let default = site_only(d.path(), "").unwrap();
        assert_eq!(
            default.usb,
            UsbConfig {
                enabled: true,
                roots: None
            }
        );
        let set = site_only(
            d.path(),
            "[usb]\nenabled = false\nroots = [\"/srv/sticks\"]\n",
        )
        .unwrap();
        assert!(!set.usb.enabled);
        assert_eq!(set.usb.roots, Some(vec![PathBuf::from("/srv/sticks")]));
        let e = site_only(d.path(), "[usb]\nroot = \"/x\"\n").unwrap_err();
        assert!(e.to_string().contains("root"), "{e}");
    }

    #[test]
    fn a_syntax_error_names_file_and_line_but_never_quotes_the_secret() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            // An unterminated string on the secret's line.
            "[cloud]\nurl = \"https://site.example\"\nclient_secret = \"hunter2-secret\n",
            // Garbage after the secret on its line.
            "[cloud]\nurl = \"https://site.example\"\nclient_secret = \"hunter2-secret\" x\n",
            // The secret pasted into the wrong field (serde quotes the value it rejects).
            "[cloud]\nurl = \"https://site.example\"\nlegacy_gpii = \"hunter2-secret\"\n",
        ];
        for text in cases {
            let e = site_only(d.path(), text).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
            assert!(!msg.contains("hunter2"), "the secret is quoted: {msg}");
            assert!(msg.contains("site.toml"), "{msg}");
            assert!(msg.contains("line 3"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
        let e = site_only(d.path(), "[cloud]\nlegacy_gpii = \"yes\"\n").unwrap_err();
        assert!(
            e.to_string().contains("legacy_gpii"),
            "names the field: {e}"
        );
    }

    #[test]
    fn quoted_values_are_masked_and_field_names_kept() {
        let cases = [
            (
                "invalid type: string \"s3cr\\\"et\", expected a boolean",
                "invalid type: string, expected a boolean",
            ),
            (
                "invalid type: integer `4711`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                "invalid type: floating point `47.11`, expected u32 in `cloud`",
                "invalid type: floating point, expected u32 in `cloud`",
            ),
            (
                "unknown field `urll`, expected one of `url`, `urls`",
                "unknown field `urll`, expected one of `url`, `urls`",
            ),
            (
                "invalid value: string \"unterminated",
                "invalid value: string",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(mask_values(raw), want);
        }
    }

    #[test]
    fn a_fifo_as_configuration_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("attune.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = load_user_file_within(&fifo, Duration::from_secs(30)).unwrap_err();
        assert!(matches!(e, ConfigError::NotAFile { .. }), "{e:?}");
        assert!(e.to_string().contains("attune.toml"), "{e}");
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn a_device_as_configuration_is_refused_without_reading_it() {
        let e = load_user_file_within(Path::new("/dev/zero"), Duration::from_secs(30)).unwrap_err();
        assert!(matches!(e, ConfigError::NotAFile { .. }), "{e:?}");
        assert!(e.to_string().contains("/dev/zero"), "{e}");
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[test]
    fn a_directory_as_configuration_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = load_user_file(d.path()).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn a_configuration_file_over_64_kib_is_refused_and_one_at_64_kib_is_read() {
        let d = tempfile::tempdir().unwrap();
        let line = "# a comment line to pad the file out\n";
        let pad = |n: usize| {
            let mut t = "[cache]\nenabled = false\n".to_owned();
            while t.len() < n {
                t.push_str(line);
            }
            t.truncate(n - 1);
            t.push('\n');
            t
        };
        let big = write(d.path(), "big.toml", &pad(65 * 1024));
        let e = load_user_file(&big).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("big.toml"), "{e}");
        assert!(e.to_string().contains("65536"), "names the limit: {e}");

        let limit = usize::try_from(MAX_CONFIG_BYTES).unwrap();
        let at_limit = write(d.path(), "ok.toml", &pad(limit));
        assert!(!load_user_file(&at_limit).unwrap().cache.enabled);
    }

    #[test]
    fn production_refuses_a_plain_http_cloud_unless_the_site_allows_it() {
        let d = tempfile::tempdir().unwrap();
        let e = site_only(d.path(), "[cloud]\nurl = \"http://cloud.example\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("site.toml") && msg.contains("cloud.urls"),
            "{msg}"
        );
        assert!(msg.contains("allow_insecure_http"), "says how: {msg}");

        let c = site_only(
            d.path(),
            "[cloud]\nurl = \"http://cloud.example\"\nallow_insecure_http = true\n",
        )
        .unwrap();
        assert_eq!(c.profile, Profile::Production);
        assert!(c.cloud.allow_insecure_http);
        assert_eq!(c.warnings(), vec![INSECURE_HTTP_WARNING.to_owned()]);

        // https needs nothing, and says nothing.
        let c = site_only(d.path(), "[cloud]\nurl = \"https://cloud.example\"\n").unwrap();
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn plain_http_from_the_environment_needs_the_site_flag_too() {
        let d = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::new();
        env.insert("ATTUNE_PROFILE".to_owned(), "production".to_owned());
        env.insert(
            "ATTUNE_CLOUD_URL".to_owned(),
            "http://127.0.0.1:9".to_owned(),
        );
        let e = Config::load(&Sources {
            env: env.clone(),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("environment"), "{e}");

        let site = write(
            d.path(),
            "site.toml",
            "[cloud]\nallow_insecure_http = true\n",
        );
        let c = Config::load(&Sources {
            site_file: Some(site),
            env,
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.cloud.urls, vec!["http://127.0.0.1:9"]);
    }

    #[test]
    fn only_the_site_file_may_allow_plain_http() {
        let d = tempfile::tempdir().unwrap();
        let site = write(
            d.path(),
            "site.toml",
            "[cloud]\nurl = \"https://cloud.example\"\n",
        );
        let user = write(
            d.path(),
            "attune.toml",
            "[cloud]\nurl = \"http://evil.example\"\nallow_insecure_http = true\n",
        );
        let e = Config::load(&Sources {
            site_file: Some(site),
            user_file: Some(user),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::SiteOnly { .. }), "{e:?}");
        assert!(e.to_string().contains("attune.toml"), "{e}");
        assert!(e.to_string().contains("allow_insecure_http"), "{e}");
    }

    #[test]
    fn only_the_site_file_may_say_whether_the_cache_leaves_with_the_person() {
        let d = tempfile::tempdir().unwrap();
        let site = write(
            d.path(),
            "site.toml",
            "[cache]
purge_on_key_out = true
",
        );
        let user = write(
            d.path(),
            "attune.toml",
            "[cache]
purge_on_key_out = false
",
        );
        let e = Config::load(&Sources {
            site_file: Some(site.clone()),
            user_file: Some(user),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::SiteOnly { .. }), "{e:?}");
        assert!(e.to_string().contains("cache.purge_on_key_out"), "{e}");
        let c = Config::load(&Sources {
            site_file: Some(site),
            ..Sources::default()
        })
        .unwrap();
        assert!(c.cache.purge_on_key_out);
    }

    #[test]
    fn a_shared_computer_keys_out_after_15_idle_minutes_and_keeps_no_cache_unless_the_site_says() {
        let d = tempfile::tempdir().unwrap();
        let personal = Config::load(&Sources::default()).unwrap();
        assert!(!personal.session.shared_computer);
        assert_eq!(personal.session.idle_key_out, None);
        assert!(!personal.cache.purge_on_key_out);

        let shared = site_only(d.path(), "[session]\nshared_computer = true\n").unwrap();
        assert!(shared.session.shared_computer);
        assert_eq!(shared.session.idle_key_out, Some(SHARED_IDLE_KEY_OUT));
        assert!(shared.cache.purge_on_key_out);

        let said = site_only(
            d.path(),
            "[session]\nshared_computer = true\nidle_key_out_minutes = 0\n[cache]\npurge_on_key_out = false\n",
        )
        .unwrap();
        assert_eq!(said.session.idle_key_out, None);
        assert!(!said.cache.purge_on_key_out);

        let personal_idle = site_only(d.path(), "[session]\nidle_key_out_minutes = 30\n").unwrap();
        assert!(!personal_idle.session.shared_computer);
        assert_eq!(
            personal_idle.session.idle_key_out,
            Some(Duration::from_secs(30 * 60))
        );
    }

    #[test]
    fn an_idle_time_too_short_or_too_long_is_refused_naming_the_field() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["1", "1441"] {
            let e = site_only(
                d.path(),
                &format!("[session]\nidle_key_out_minutes = {bad}\n"),
            )
            .unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { .. }), "{e:?}");
            assert!(
                e.to_string().contains("session.idle_key_out_minutes"),
                "{e}"
            );
        }
        let e = site_only(d.path(), "[session]\nshared = true\n").unwrap_err();
        assert!(e.to_string().contains("shared"), "{e}");
    }

    #[test]
    fn only_the_site_file_may_set_the_shared_computer_policy() {
        let d = tempfile::tempdir().unwrap();
        let user = write(
            d.path(),
            "attune.toml",
            "[session]\nshared_computer = false\n",
        );
        let e = Config::load(&Sources {
            user_file: Some(user),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::SiteOnly { .. }), "{e:?}");
        assert!(e.to_string().contains("`session`"), "{e}");
    }

    #[test]
    fn development_keeps_its_loopback_http_cloud() {
        let src = Sources {
            profile_override: Some(Profile::Development),
            ..Sources::default()
        };
        let c = Config::load(&src).unwrap();
        assert_eq!(c.cloud.urls, vec![DEV_CLOUD_URL]);
        assert!(!c.cloud.allow_insecure_http);
    }

    #[test]
    fn the_secret_never_shows() {
        let mut c = Config::defaults(Profile::Development);
        c.cloud.client_secret = Some("hunter2".to_owned());
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&c).unwrap().contains("hunter2"));
    }
}

//! The configuration file, `/etc/attune/cloud.toml` by convention (`--config FILE`): everything
//! `serve` takes — store, listening address, TLS, trusted proxies, limits, the forget grace
//! period — and the backup folder with its retention, which `backup` and `/metrics` read. `packaging/cloud.toml` is the
//! documented example.
//!
//! Flags given on the command line win over the file, the file over the defaults; a list given
//! on the command line (`--trusted-proxy`, `--registry`) replaces the file's. An unknown key, or
//! a value of the wrong form, is an error naming the file and the line; the error never quotes
//! the file's text, which may hold a CouchDB password.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::server::StoreUrl;
use crate::tls::TlsFiles;

/// Largest configuration file read (a real one is a few hundred bytes).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Where `serve` listens when neither the command line nor the file says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8084";

/// Days a backup is kept when the file does not say.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}:{line}: {detail}")]
    Invalid {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("{path}: {detail}")]
    Whole { path: PathBuf, detail: String },
    #[error("{0}")]
    Missing(String),
}

/// The file as written. Every field is optional: the command line may give it instead.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `sqlite:PATH` or `couchdb:URL`.
    #[serde(default, deserialize_with = "store_url")]
    pub store: Option<StoreUrl>,
    pub listen: Option<SocketAddr>,
    /// Serve plain HTTP on an address other than loopback (a proxy on another machine does TLS).
    pub insecure_http: Option<bool>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    #[serde(default, deserialize_with = "proxies")]
    pub trusted_proxies: Option<Vec<ipnet::IpNet>>,
    /// GPII solutions registry files, `[OS=]FILE`.
    pub registry: Option<Vec<String>>,
    pub tls: Option<TlsSection>,
    pub limits: Option<LimitsSection>,
    pub backup: Option<BackupSection>,
    pub forget: Option<ForgetSection>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM: the server's certificate, then its chain.
    pub cert: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_in_flight: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_stall_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    pub dir: Option<PathBuf>,
    pub retention_days: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetSection {
    /// Days a forgotten key's preferences are kept before they are deleted (`serve`'s hourly
    /// sweep and `keys purge-forgotten`).
    pub grace_days: Option<u32>,
}

/// A store URL; the error does not repeat the value (a CouchDB URL may hold a password).
fn store_url<'de, D>(d: D) -> Result<Option<StoreUrl>, D::Error>
where
    D: Deserializer<'de>,
{
    String::deserialize(d)?.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(
            "expected sqlite:PATH (e.g. sqlite:/var/lib/attune/cloud.db) or couchdb:URL (e.g. couchdb:https://db.example.org:6984/gpii)",
        )
    })
}

fn proxies<'de, D>(d: D) -> Result<Option<Vec<ipnet::IpNet>>, D::Error>
where
    D: Deserializer<'de>,
{
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| crate::auth::parse_trusted_proxy(s).map_err(serde::de::Error::custom))
        .collect::<Result<_, _>>()
        .map(Some)
}

impl ConfigFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        use std::io::Read;
        let read_err = |detail: String| ConfigError::Read {
            path: path.to_owned(),
            detail,
        };
        let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| read_err(e.to_string()))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(read_err(format!(
                "larger than {MAX_CONFIG_BYTES} bytes; is it the right file?"
            )));
        }
        Self::parse(&text, path)
    }

    /// Parses `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
        toml::from_str(text).map_err(|e| {
            // Without its input, toml's message names the problem and the key instead of
            // quoting the line (which may hold a password).
            let mut bare = e.clone();
            bare.set_input(None);
            let detail = bare.to_string().trim_end().replace('\n', " ");
            match e.span() {
                Some(span) => ConfigError::Invalid {
                    path: path.to_owned(),
                    line: text[..span.start.min(text.len())].matches('\n').count() + 1,
                    detail,
                },
                None => ConfigError::Whole {
                    path: path.to_owned(),
                    detail,
                },
            }
        })
    }
}

/// What the command line gave `serve`; `None` and empty lists mean "not given".
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub store: Option<StoreUrl>,
    pub listen: Option<SocketAddr>,
    pub insecure_http: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub registry: Vec<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_in_flight: Option<usize>,
    pub header_read_timeout: Option<Duration>,
    pub body_stall_timeout: Option<Duration>,
    pub backup_dir: Option<PathBuf>,
    pub forget_grace_days: Option<u32>,
}

/// What `serve` runs with: the command line over the file over the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    pub store: StoreUrl,
    pub listen: SocketAddr,
    /// How it serves there: TLS, or plain HTTP.
    pub transport: Transport,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub registry: Vec<String>,
    pub max_in_flight: usize,
    pub header_read_timeout: Duration,
    pub body_stall_timeout: Duration,
    pub backup_dir: Option<PathBuf>,
    /// Days a forgotten key's preferences are kept before the server's sweep deletes them.
    pub forget_grace_days: u32,
}

/// Merges `flags` over `file` over the defaults.
pub fn serve_settings(file: &ConfigFile, flags: Flags) -> Result<ServeSettings, ConfigError> {
    let limits = file.limits.clone().unwrap_or_default();
    let defaults = crate::api::Limits::default();
    let listen = match flags.listen.or(file.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|e| ConfigError::Missing(format!("default listen address: {e}")))?,
    };
    let file_tls = file.tls.as_ref();
    let tls = match (
        flags.tls_cert.or_else(|| file_tls.map(|t| t.cert.clone())),
        flags.tls_key.or_else(|| file_tls.map(|t| t.key.clone())),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err(ConfigError::Missing(
            "--tls-cert and --tls-key go together ([tls] cert and key in the configuration file)"
                .to_owned(),
        )),
    };
    let transport = transport(
        listen,
        tls,
        flags.insecure_http || file.insecure_http.unwrap_or(false),
    )?;
    Ok(ServeSettings {
        store: flags.store.or_else(|| file.store.clone()).ok_or_else(|| {
            ConfigError::Missing(
                "no store: give --store (or ATTUNE_CLOUD_STORE), or `store` in the configuration file"
                    .to_owned(),
            )
        })?,
        listen,
        transport,
        trusted_proxies: if flags.trusted_proxies.is_empty() {
            file.trusted_proxies.clone().unwrap_or_default()
        } else {
            flags.trusted_proxies
        },
        registry: if flags.registry.is_empty() {
            file.registry.clone().unwrap_or_default()
        } else {
            flags.registry
        },
        max_in_flight: flags
            .max_in_flight
            .or(limits.max_in_flight)
            .unwrap_or(defaults.max_in_flight),
        header_read_timeout: flags
            .header_read_timeout
            .or(limits.header_read_timeout_secs.map(Duration::from_secs))
            .unwrap_or(defaults.header_read_timeout),
        body_stall_timeout: flags
            .body_stall_timeout
            .or(limits.body_stall_timeout_secs.map(Duration::from_secs))
            .unwrap_or(defaults.body_stall_timeout),
        backup_dir: flags
            .backup_dir
            .or_else(|| file.backup.as_ref().and_then(|b| b.dir.clone())),
        forget_grace_days: grace_days(flags.forget_grace_days, file),
    })
}

/// The forget grace period in days: the command line's, else the file's `[forget] grace_days`,
/// else [`crate::admin::DEFAULT_GRACE_DAYS`]. `serve` and `keys purge-forgotten` both use it, so
/// the server's sweep and a manual purge never disagree.
pub fn grace_days(flag: Option<u32>, file: &ConfigFile) -> u32 {
    flag.or_else(|| file.forget.as_ref().and_then(|f| f.grace_days))
        .unwrap_or(crate::admin::DEFAULT_GRACE_DAYS)
}

/// How `serve` talks to its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS with these files.
    Tls(TlsFiles),
    /// Plain HTTP on a loopback address (a reverse proxy on this machine does TLS).
    Loopback,
    /// Plain HTTP on an address other machines reach: only with `--insecure-http`, for a
    /// reverse proxy on a private network that does TLS.
    Insecure,
}

/// The transport for `listen`: TLS when given files; plain HTTP on loopback; plain HTTP
/// elsewhere only when `insecure_http` says so, since keys and tokens would cross the network
/// in clear.
pub fn transport(
    listen: SocketAddr,
    tls: Option<TlsFiles>,
    insecure_http: bool,
) -> Result<Transport, ConfigError> {
    match tls {
        Some(files) => Ok(Transport::Tls(files)),
        None if listen.ip().is_loopback() => Ok(Transport::Loopback),
        None if insecure_http => Ok(Transport::Insecure),
        None => Err(ConfigError::Missing(format!(
            "listening on {listen} without TLS would send keys and tokens in clear: give --tls-cert and --tls-key ([tls] in the configuration file), listen on 127.0.0.1 behind a reverse proxy, or say --insecure-http (insecure_http = true) when a proxy on a private network does TLS"
        ))),
    }
}

/// The store of an admin command: its `--store`, else the file's.
pub fn store_of(flag: Option<StoreUrl>, file: &ConfigFile) -> Result<StoreUrl, ConfigError> {
    flag.or_else(|| file.store.clone()).ok_or_else(|| {
        ConfigError::Missing(
            "no store: give --store, or --config with `store` in the file".to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(text, Path::new("/etc/attune/cloud.toml"))
    }

    fn flags() -> Flags {
        Flags::default()
    }

    #[test]
    fn an_unknown_key_names_the_file_and_its_line() {
        let e = parse("store = \"sqlite:/x.db\"\n\n[limits]\nmax_in_fligth = 3\n").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("/etc/attune/cloud.toml:4: "), "{text}");
        assert!(text.contains("max_in_fligth"), "{text}");
        let e = parse("lisen = \"0.0.0.0:1\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/attune/cloud.toml:1: "),
            "{e}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_form_names_its_line_without_quoting_it() {
        let secret = "couchdb-password-123";
        let e = parse(&format!(
            "listen = \"127.0.0.1:1\"\nstore = \"mysql://u:{secret}@h\"\n"
        ))
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("/etc/attune/cloud.toml:2: "), "{text}");
        assert!(text.contains("sqlite:PATH"), "{text}");
        assert!(!text.contains(secret), "the value is not quoted: {text}");
        let e = parse("trusted_proxies = [\"10.0.0.0/8\", \"nonsense\"]\n").unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/attune/cloud.toml:1: "),
            "{e}"
        );
        let e = parse("[limits]\nmax_in_flight = \"many\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/attune/cloud.toml:2: "),
            "{e}"
        );
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let file = parse(
            "store = \"sqlite:/file.db\"\nlisten = \"127.0.0.2:9000\"\n\
             trusted_proxies = [\"10.0.0.1\"]\n[limits]\nmax_in_flight = 32\n\
             header_read_timeout_secs = 3\n[backup]\ndir = \"/b\"\n",
        )
        .unwrap();
        // The file over the defaults.
        let s = serve_settings(&file, flags()).unwrap();
        assert_eq!(s.store, StoreUrl::Sqlite("/file.db".into()));
        assert_eq!(s.listen, "127.0.0.2:9000".parse().unwrap());
        assert_eq!(s.max_in_flight, 32);
        assert_eq!(s.header_read_timeout, Duration::from_secs(3));
        assert_eq!(s.body_stall_timeout, Duration::from_secs(10), "default");
        assert_eq!(s.trusted_proxies, vec!["10.0.0.1/32".parse().unwrap()]);
        assert_eq!(s.backup_dir, Some(PathBuf::from("/b")));
        // Flags over the file; a list on the command line replaces the file's.
        let s = serve_settings(
            &file,
            Flags {
                store: Some(StoreUrl::Sqlite("/flag.db".into())),
                listen: Some("127.0.0.1:1".parse().unwrap()),
                max_in_flight: Some(4),
                trusted_proxies: vec!["192.168.0.0/16".parse().unwrap()],
                backup_dir: Some("/c".into()),
                ..flags()
            },
        )
        .unwrap();
        assert_eq!(s.store, StoreUrl::Sqlite("/flag.db".into()));
        assert_eq!(s.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(s.max_in_flight, 4);
        assert_eq!(
            s.header_read_timeout,
            Duration::from_secs(3),
            "from the file"
        );
        assert_eq!(s.trusted_proxies, vec!["192.168.0.0/16".parse().unwrap()]);
        assert_eq!(s.backup_dir, Some(PathBuf::from("/c")));
    }

    #[test]
    fn without_a_file_the_defaults_hold_and_a_store_is_needed() {
        let e = serve_settings(&ConfigFile::default(), flags()).unwrap_err();
        assert!(e.to_string().contains("--store"), "{e}");
        let s = serve_settings(
            &ConfigFile::default(),
            Flags {
                store: Some(StoreUrl::Sqlite("/x.db".into())),
                ..flags()
            },
        )
        .unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.max_in_flight, 256);
        assert!(s.trusted_proxies.is_empty() && s.registry.is_empty());
        assert_eq!(s.backup_dir, None);
    }

    #[test]
    fn plain_http_beyond_loopback_needs_insecure_http_and_tls_needs_both_files() {
        let at = |a: &str| a.parse::<SocketAddr>().unwrap();
        let files = TlsFiles {
            cert: "/c.pem".into(),
            key: "/k.pem".into(),
        };
        for (listen, tls, insecure, expected) in [
            ("127.0.0.1:1", None, false, Some(Transport::Loopback)),
            ("[::1]:1", None, false, Some(Transport::Loopback)),
            ("0.0.0.0:1", None, false, None),
            ("10.0.1.11:1", None, false, None),
            ("10.0.1.11:1", None, true, Some(Transport::Insecure)),
            (
                "0.0.0.0:1",
                Some(files.clone()),
                false,
                Some(Transport::Tls(files.clone())),
            ),
            (
                "127.0.0.1:1",
                Some(files.clone()),
                true,
                Some(Transport::Tls(files.clone())),
            ),
        ] {
            let got = transport(at(listen), tls, insecure);
            match expected {
                Some(t) => assert_eq!(got.unwrap(), t, "{listen} insecure={insecure}"),
                None => {
                    let e = got.unwrap_err().to_string();
                    assert!(e.contains("--insecure-http") && e.contains(listen), "{e}");
                }
            }
        }
        let store = Some(StoreUrl::Sqlite("/x.db".into()));
        let half = Flags {
            store: store.clone(),
            tls_cert: Some("/c.pem".into()),
            ..flags()
        };
        let e = serve_settings(&ConfigFile::default(), half.clone()).unwrap_err();
        assert!(e.to_string().contains("--tls-key"), "{e}");
        // The other half from the file.
        let file = parse("[tls]\ncert = \"/file.pem\"\nkey = \"/file.key\"\n").unwrap();
        let s = serve_settings(&file, half).unwrap();
        assert_eq!(
            s.transport,
            Transport::Tls(TlsFiles {
                cert: "/c.pem".into(),
                key: "/file.key".into()
            })
        );
        let file = parse("insecure_http = true\nlisten = \"0.0.0.0:8084\"\n").unwrap();
        let s = serve_settings(&file, Flags { store, ..flags() }).unwrap();
        assert_eq!(s.transport, Transport::Insecure);
    }

    #[test]
    fn the_forget_grace_period_comes_from_the_flag_else_the_file_else_thirty_days() {
        let store = || Flags {
            store: Some(StoreUrl::Sqlite("/x.db".into())),
            ..flags()
        };
        let none = ConfigFile::default();
        let file = parse("[forget]\ngrace_days = 7\n").unwrap();
        assert_eq!(
            serve_settings(&none, store()).unwrap().forget_grace_days,
            30
        );
        assert_eq!(serve_settings(&file, store()).unwrap().forget_grace_days, 7);
        let flag = Flags {
            forget_grace_days: Some(0),
            ..store()
        };
        assert_eq!(serve_settings(&file, flag).unwrap().forget_grace_days, 0);
        // The admin command reads the same setting.
        assert_eq!(grace_days(None, &file), 7);
        assert_eq!(grace_days(Some(90), &file), 90);
        assert_eq!(grace_days(None, &none), crate::admin::DEFAULT_GRACE_DAYS);
    }

    #[test]
    fn a_misspelt_or_malformed_grace_period_names_the_file_and_its_line() {
        let e = parse("store = \"sqlite:/x.db\"\n[forget]\ngrace_day = 7\n").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("/etc/attune/cloud.toml:3: "), "{text}");
        assert!(text.contains("grace_day"), "{text}");
        let e = parse("[forget]\n\ngrace_days = -1\n").unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/attune/cloud.toml:3: "),
            "{e}"
        );
    }

    /// packaging/cloud.toml, as shipped and with every commented-out `key = value` line
    /// switched on: the example never documents a key attune-cloud would refuse.
    #[test]
    fn the_packaged_example_parses_with_and_without_its_comments() {
        let text = include_str!("../../../packaging/cloud.toml");
        let shipped = parse(text).unwrap();
        assert_eq!(
            shipped.store,
            Some(StoreUrl::Sqlite("/var/lib/attune-cloud/cloud.db".into()))
        );
        let all: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(kv)
                    if kv.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    kv
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let every = parse(&all).unwrap();
        assert_ne!(every, shipped, "some commented-out keys were switched on");
        assert_eq!(every.limits.unwrap().max_in_flight, Some(256));
        assert_eq!(every.forget.and_then(|f| f.grace_days), Some(30));
    }
}

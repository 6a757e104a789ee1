//! `attune-cloud`: the server and its admin commands. See `docs/cloud.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use attune_cloud::api::{AppState, Limits};
use attune_cloud::clock::{self, Clock, SystemClock};
use attune_cloud::config::{self, ConfigFile, Transport};
use attune_cloud::metrics::Metrics;
use attune_cloud::registries::{Registries, Registry};
use attune_cloud::server::{self, OpenStore, StoreUrl};
use attune_cloud::store::couchdb::CouchStore;
use attune_cloud::store::PrefsSafeType;
use attune_cloud::tls::Tls;
use attune_cloud::{admin, auth};
use attune_model::key::Key;

#[derive(Parser)]
#[command(
    name = "attune-cloud",
    version,
    about = "GPII-compatible cloud flow manager for Attune"
)]
struct Cli {
    /// The configuration file (e.g. /etc/attune/cloud.toml): store, listen address, trusted
    /// proxies, limits, backup folder. Flags given here win over it.
    #[arg(long, global = true, env = "ATTUNE_CLOUD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum SafeType {
    User,
    Snapset,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until SIGTERM or ctrl-c.
    Serve {
        /// Where the state lives: sqlite:PATH or couchdb:URL (credentials in the URL or in
        /// ATTUNE_COUCHDB_USER / ATTUNE_COUCHDB_PASSWORD).
        #[arg(long, env = "ATTUNE_CLOUD_STORE")]
        store: Option<StoreUrl>,
        /// Address to listen on [default: 127.0.0.1:8084].
        #[arg(long, env = "ATTUNE_CLOUD_LISTEN")]
        listen: Option<SocketAddr>,
        /// Development setup: credential attune-dev/attune-dev-secret and the bundled snapsets.
        #[arg(long)]
        dev: bool,
        /// A GPII solutions registry file, as [OS=]FILE (OS defaults to linux); repeatable.
        /// Without it, the bundled Linux registry is used.
        #[arg(long)]
        registry: Vec<String>,
        /// Requests handled at once before answering 503 [default: 256].
        #[arg(long)]
        max_in_flight: Option<usize>,
        /// A reverse proxy (address or CIDR block) whose X-Forwarded-For is believed for the
        /// client's address (rate limits, allowedIPBlocks); repeatable. From any other peer the
        /// header is ignored.
        #[arg(long = "trusted-proxy", value_parser = auth::parse_trusted_proxy)]
        trusted_proxy: Vec<ipnet::IpNet>,
        /// The folder `backup` writes to: /metrics reports the age of the newest backup in it.
        #[arg(long)]
        backup_dir: Option<PathBuf>,
        /// Serve HTTPS with this certificate (PEM, then its chain); reloaded on SIGHUP.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP on an address other than loopback (a proxy on a private network
        /// does TLS): keys and tokens cross that network in clear.
        #[arg(long)]
        insecure_http: bool,
        /// Days a forgotten key's preferences are kept before the hourly sweep deletes them
        /// (`[forget] grace_days` in the configuration file) [default: 30].
        #[arg(long)]
        grace_days: Option<u32>,
        /// Milliseconds a client may take to send a request's head (for tests).
        #[arg(long, hide = true)]
        header_read_timeout_ms: Option<u64>,
        /// Milliseconds a request body may send nothing (for tests).
        #[arg(long, hide = true)]
        body_stall_timeout_ms: Option<u64>,
    },
    /// Load GPII preference files and dbData JSON (idempotent).
    Load {
        #[arg(long)]
        store: Option<StoreUrl>,
        /// Folder (searched recursively) or file.
        path: PathBuf,
        /// The type of the preference safes made from preference files.
        #[arg(long = "as", value_enum, default_value = "user")]
        as_type: SafeType,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Site credentials.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Write a consistent copy of the store while it is in use.
    Backup {
        #[arg(long)]
        store: Option<StoreUrl>,
        /// The file to write. Without it: a new file in the configuration's backup folder,
        /// and backups there older than its retention are deleted (never the newest).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replace the store by a verified backup (stop the server first). The keys the replaced
    /// store forgot stay forgotten, and its audit is carried over.
    Restore {
        #[arg(long)]
        store: Option<StoreUrl>,
        #[arg(long)]
        from: PathBuf,
    },
    /// Access tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Print the append-only audit as JSON lines: time, action, actor, key fingerprint.
    Audit {
        #[arg(long)]
        store: Option<StoreUrl>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create N UUIDv4 keys with empty preferences; write them to a CSV file.
    Generate {
        #[arg(long)]
        store: Option<StoreUrl>,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Forget a key at once (its tokens revoked, it answers as unknown); its preferences are
    /// deleted after the grace period by `serve` or `keys purge-forgotten`.
    Forget {
        #[arg(long)]
        store: Option<StoreUrl>,
        /// Why (kept in the forget list, not in the audit); one line.
        #[arg(long)]
        reason: Option<String>,
        /// The key; `-` reads it from standard input (kept out of `ps` and shell history).
        key: String,
    },
    /// Delete the keys forgotten at least the grace period ago, and their preferences.
    PurgeForgotten {
        #[arg(long)]
        store: Option<StoreUrl>,
        /// Days a forgotten key's preferences are kept (`[forget] grace_days` in the
        /// configuration file) [default: 30].
        #[arg(long)]
        grace_days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum CredentialsCommand {
    /// Create a site's client credential and print its site-config snippet (once).
    Create {
        #[arg(long)]
        store: Option<StoreUrl>,
        #[arg(long)]
        site: String,
        /// Addresses or CIDR blocks allowed to request tokens (repeatable; default: any).
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
        /// The cloud's URL, for the snippet.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Delete expired access tokens.
    PurgeExpired {
        #[arg(long)]
        store: Option<StoreUrl>,
    },
}

fn registries(specs: &[String]) -> Result<Registries, String> {
    if specs.is_empty() {
        return server::bundled_registries().map_err(|e| format!("bundled registry: {e}"));
    }
    let mut out = Registries::default();
    for spec in specs {
        let (os, file) = match spec.split_once('=') {
            Some((os, f)) if !os.contains('/') => (os.to_owned(), f),
            _ => ("linux".to_owned(), spec.as_str()),
        };
        let bytes = std::fs::read(file).map_err(|e| format!("--registry {file}: {e}"))?;
        let reg = Registry::from_bytes(&bytes, file).map_err(|e| e.to_string())?;
        out.insert(os, reg);
    }
    Ok(out)
}

/// Revokes a development credential an earlier `serve --dev` left in the store (its secret is
/// public). The store may be down at start (serving starts anyway): then this keeps trying in
/// the background, and the credential works at most until the store answers again.
async fn retire_dev_credential(store: Arc<dyn attune_cloud::store::Store>) {
    match admin::revoke_dev_credential(store.as_ref()).await {
        Ok(true) => {
            tracing::warn!("revoked the development credential attune-dev (serving without --dev)")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot revoke the development credential yet; retrying");
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    match admin::revoke_dev_credential(store.as_ref()).await {
                        Ok(revoked) => {
                            if revoked {
                                tracing::warn!("revoked the development credential attune-dev");
                            }
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "still cannot revoke the development credential")
                        }
                    }
                }
            });
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let clock = SystemClock;
    // Only serve, load and credentials create may make a new store; the others need one.
    let file = match &cli.config {
        Some(path) => ConfigFile::load(path).map_err(|e| e.to_string())?,
        None => ConfigFile::default(),
    };
    // The store of a command: its --store, else the configuration file's.
    let store_of =
        |flag: Option<StoreUrl>| config::store_of(flag, &file).map_err(|e| e.to_string());
    let open = |url: Option<StoreUrl>| store_of(url)?.open().map_err(|e| e.to_string());
    let open_existing =
        |url: Option<StoreUrl>| store_of(url)?.open_existing().map_err(|e| e.to_string());
    match cli.command {
        Command::Serve {
            store,
            listen,
            dev,
            registry,
            max_in_flight,
            trusted_proxy,
            backup_dir,
            tls_cert,
            tls_key,
            insecure_http,
            header_read_timeout_ms,
            body_stall_timeout_ms,
            grace_days,
        } => {
            let settings = config::serve_settings(
                &file,
                config::Flags {
                    store,
                    listen,
                    insecure_http,
                    tls_cert,
                    tls_key,
                    trusted_proxies: trusted_proxy,
                    registry,
                    max_in_flight,
                    header_read_timeout: header_read_timeout_ms.map(Duration::from_millis),
                    body_stall_timeout: body_stall_timeout_ms.map(Duration::from_millis),
                    backup_dir,
                    forget_grace_days: grace_days,
                },
            )
            .map_err(|e| e.to_string())?;
            // Before the store: a certificate that cannot be served is the operator's to fix
            // now, not after the store was opened or created.
            let tls = match &settings.transport {
                Transport::Tls(files) => Some(Tls::new(files.clone()).map_err(|e| e.to_string())?),
                Transport::Loopback | Transport::Insecure => None,
            };
            tracing::info!(store = %settings.store, "opening the store");
            let s = settings.store.open().map_err(|e| e.to_string())?;
            // Serving starts even when the store is down: /ready says so (503) and requests
            // get 503 + Retry-After until it answers; this only tells the operator early.
            if let Err(e) = s.as_store().ping().await {
                tracing::warn!(error = %e, "the store does not answer yet");
            }
            if dev {
                let r = admin::load_dev_data(s.as_store(), &clock)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(%r, "development data loaded (client attune-dev)");
            } else {
                retire_dev_credential(s.shared()).await;
            }
            let registries = registries(&settings.registry)?;
            let metrics = match settings.backup_dir {
                Some(dir) => Metrics::default().with_backup_dir(dir),
                None => Metrics::default(),
            };
            let state = AppState::with_metrics(
                s.shared(),
                Arc::new(clock),
                registries,
                Limits {
                    max_in_flight: settings.max_in_flight,
                    trusted_proxies: settings.trusted_proxies,
                    header_read_timeout: settings.header_read_timeout,
                    body_stall_timeout: settings.body_stall_timeout,
                    forget_grace_days: settings.forget_grace_days,
                    ..Limits::default()
                },
                metrics,
            );
            let listen = settings.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            // Before saying so: whoever waits for the line may send SIGTERM or SIGHUP at once.
            let shutdown = server::shutdown_signal();
            server::reload_on_sighup(tls.as_ref().map(|t| t.cert.clone()))
                .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
            match &tls {
                Some(t) => {
                    let fingerprint = t.cert.fingerprint();
                    tracing::info!(%addr, scheme = "https", %fingerprint, "attune-cloud listening")
                }
                None if settings.transport == Transport::Insecure => tracing::warn!(
                    %addr,
                    scheme = "http",
                    "attune-cloud listening WITHOUT TLS on a non-loopback address (--insecure-http): keys and tokens cross the network in clear"
                ),
                None => tracing::info!(%addr, scheme = "http", "attune-cloud listening"),
            }
            server::serve_with(listener, state, tls, shutdown)
                .await
                .map_err(|e| format!("server failed: {e}"))?;
            tracing::info!("stopped");
        }
        Command::Load {
            store,
            path,
            as_type,
        } => {
            let s = open(store)?;
            let t = match as_type {
                SafeType::User => PrefsSafeType::User,
                SafeType::Snapset => PrefsSafeType::Snapset,
            };
            let r = admin::load(s.as_store(), &path, t, &clock)
                .await
                .map_err(|e| e.to_string())?;
            println!("{r}");
        }
        Command::Keys {
            command: KeysCommand::Generate { store, count, out },
        } => {
            let s = open_existing(store)?;
            let keys = admin::generate_keys(s.as_store(), count, &out, &clock)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{} keys created and written to {}",
                keys.len(),
                out.display()
            );
        }
        Command::Keys {
            command: KeysCommand::Forget { store, reason, key },
        } => {
            let s = open_existing(store)?;
            let raw = if key == "-" {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| format!("keys forget: cannot read the key: {e}"))?;
                line
            } else {
                key
            };
            let key = Key::parse(&raw).map_err(|e| format!("keys forget: {e}"))?;
            let row = admin::forget_key(
                s.as_store(),
                &key,
                reason.as_deref(),
                admin::ADMIN_ACTOR,
                &clock,
            )
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "key#{} forgotten at {}: its tokens are revoked; its preferences are deleted after the grace period",
                row.fingerprint,
                clock::iso8601(row.forgotten_ms)
            );
        }
        Command::Keys {
            command: KeysCommand::PurgeForgotten { store, grace_days },
        } => {
            let s = open_existing(store)?;
            let grace_days = config::grace_days(grace_days, &file);
            let purged =
                admin::purge_forgotten(s.as_store(), grace_days, admin::ADMIN_ACTOR, &clock)
                    .await
                    .map_err(|e| e.to_string())?;
            println!(
                "{} forgotten keys purged (forgotten at least {grace_days} days ago)",
                purged.len()
            );
        }
        Command::Audit { store } => {
            let s = open_existing(store)?;
            for line in admin::audit_lines(s.as_store())
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{line}");
            }
        }
        Command::Credentials {
            command:
                CredentialsCommand::Create {
                    store,
                    site,
                    allow_ip,
                    url,
                },
        } => {
            let s = open(store)?;
            let ips = (!allow_ip.is_empty()).then_some(allow_ip);
            let c = admin::create_credential(s.as_store(), &site, ips, url.as_deref(), &clock)
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", c.snippet);
        }
        Command::Backup { store, out } => {
            let s = open_existing(store)?;
            // Into the backup folder (then pruned) unless told where.
            let folder = file.backup.clone().unwrap_or_default();
            let (out, prune) = match (out, folder.dir) {
                (Some(out), _) => (out, None),
                (None, Some(dir)) => {
                    let stamp = clock::iso8601(clock.now_ms());
                    let stamp = stamp.get(..19).unwrap_or(&stamp).replace(':', "-");
                    let ext = match s {
                        OpenStore::Sqlite(_) => "db",
                        OpenStore::Couch(_) => "json",
                    };
                    let retention = folder
                        .retention_days
                        .unwrap_or(config::DEFAULT_RETENTION_DAYS);
                    (
                        dir.join(format!("cloud-{stamp}Z.{ext}")),
                        Some((dir, retention)),
                    )
                }
                (None, None) => {
                    return Err(
                        "backup: give --out FILE, or --config with a [backup] dir".to_owned()
                    )
                }
            };
            match &s {
                OpenStore::Sqlite(s) => {
                    s.backup_to(&out).map_err(|e| e.to_string())?;
                    println!("backup written to {} and verified", out.display());
                }
                OpenStore::Couch(s) => {
                    let n = s.backup_to(&out).await.map_err(|e| e.to_string())?;
                    println!(
                        "backup of {n} documents written to {} and verified",
                        out.display()
                    );
                }
            }
            // After the copy: the backup holds the audit up to, not including, itself.
            admin::audit(
                s.as_store(),
                attune_cloud::store::AuditAction::Backup,
                admin::ADMIN_ACTOR,
                None,
                &clock,
            )
            .await
            .map_err(|e| e.to_string())?;
            if let Some((dir, days)) = prune {
                let now = std::time::UNIX_EPOCH
                    + Duration::from_millis(u64::try_from(clock.now_ms()).unwrap_or(0));
                for old in admin::prune_backups(&dir, days, now).map_err(|e| e.to_string())? {
                    println!("deleted {} (older than {days} days)", old.display());
                }
            }
        }
        Command::Restore { store, from } => match store_of(store)? {
            StoreUrl::Sqlite(path) => {
                let r = admin::restore_sqlite(&path, &from, &clock)
                    .await
                    .map_err(|e| e.to_string())?;
                match &r.carried {
                    Ok((forgotten, entries)) => println!(
                        "from the store it replaced: {forgotten} forgotten keys applied again, {entries} audit entries carried over"
                    ),
                    Err(why) => eprintln!(
                        "attune-cloud: warning: the forget list of the store it replaced could not be read ({why}): forget again the keys forgotten since the backup"
                    ),
                }
                let counts = r.store.counts().map_err(|e| e.to_string())?;
                let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
                println!(
                    "restored {} from {}: {}",
                    path.display(),
                    from.display(),
                    summary.join(", ")
                );
                println!("{}", tokens_ended_line(r.tokens_ended));
            }
            StoreUrl::Couch(url) => {
                let s = CouchStore::new(url.clone()).map_err(|e| e.to_string())?;
                let (r, tokens_ended) = admin::restore_couch(&s, &from, &clock)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "from the store it replaced: {} forgotten keys applied again, {} audit entries carried over",
                    r.forgotten, r.audit_entries
                );
                println!(
                    "restored {url} from {}: {} documents (the previous contents were saved in {})",
                    from.display(),
                    r.documents,
                    r.safety.display()
                );
                println!("{}", tokens_ended_line(tokens_ended));
            }
        },
        Command::Tokens {
            command: TokensCommand::PurgeExpired { store },
        } => {
            let s = open_existing(store)?;
            let n = s
                .as_store()
                .purge_expired_authorizations(clock.now_ms())
                .await
                .map_err(|e| e.to_string())?;
            println!("{n} expired tokens deleted");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Everything this process creates (the store, its WAL, backups, key lists) holds keys or
    // preferences: readable by its owner only, whatever the umask we were started with.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    server::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("attune-cloud: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attune-cloud: {e}");
            ExitCode::from(2)
        }
    }
}

/// What `restore` says of the tokens it ended (admin::end_every_token).
fn tokens_ended_line(n: u64) -> String {
    format!(
        "{n} tokens ended: everyone keyed in is asked to log out and back in at their next save, which sends their session's changes again"
    )
}

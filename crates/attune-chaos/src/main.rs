//! `attune-chaos`: the chaos run of docs/chaos.md. `scripts/chaos.sh` builds and starts it.
//!
//! Three `attune-cloud` replicas behind HAProxy over the CouchDB stand-in, and one over SQLite on
//! a small tmpfs; a swarm of people driving the real `attune-flow`; seeded faults; a
//! Jepsen-style checker; `result.json` and `timeline.png` in the output folder. Exits 1 when any
//! check fails, naming each.

mod check;
mod faults;
mod history;
mod person;
mod plot;
mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attune_testkit::FaultProxy;
use clap::Parser;

use crate::check::FinalRead;
use crate::faults::System;
use crate::history::{FaultKind, PersonLog, TERMS};
use crate::person::{Gate, RunClock, Spec};
use crate::system::{Couch, Haproxy, Programs, Replica, Server, SmallDisk};

/// What can stop a run before its checks.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    #[error("plot: {0}")]
    Plot(String),
}

impl ChaosError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> ChaosError {
        ChaosError::Io {
            what: what.into(),
            source,
        }
    }
}

/// The chaos run (docs/chaos.md).
#[derive(Parser, Debug)]
#[command(name = "attune-chaos")]
struct Args {
    /// Every fault kind once, a few seconds each (about three minutes in all).
    #[arg(long)]
    quick: bool,
    /// The seed of the schedule and of every person's think times and choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How long the load runs (ignored with --quick).
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// How many people (half on the SQLite node, half behind HAProxy).
    #[arg(long, default_value_t = 60)]
    people: usize,
    /// Where result.json, timeline.png and the run's logs go.
    #[arg(long, default_value = "target/chaos")]
    out: PathBuf,
    /// The attune-cloud binary.
    #[arg(long)]
    cloud_bin: PathBuf,
    #[arg(long, default_value = "haproxy")]
    haproxy: PathBuf,
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// The folder with express-pouchdb installed and its `server.js`.
    #[arg(long)]
    couch_dir: PathBuf,
}

const REPLICAS: usize = 3;
/// The SQLite node's tmpfs: room for the store, its WAL and a restore's copy of the old file.
const SMALL_DISK: u64 = 32 << 20;
/// The device of the final read: GNOME's interface and magnifier, which use all three terms.
const DEVICE: &str = r#"{"OS":{"id":"linux"},"solutions":[{"id":"org.gnome.desktop.interface"},{"id":"org.gnome.desktop.a11y.magnifier"}]}"#;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("chaos: the run could not be carried out: {e}");
            ExitCode::from(2)
        }
    }
}

/// A fresh run folder (a tmpfs left mounted by a run that was killed is unmounted first).
fn fresh_dir(run: &Path) -> Result<(), ChaosError> {
    for disk in ["sqlite-disk", "desktops"].map(|d| run.join(d)) {
        if disk.exists() {
            let _ = std::process::Command::new("umount")
                .arg(&disk)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    if run.exists() {
        std::fs::remove_dir_all(run)
            .map_err(|e| ChaosError::io(format!("clear {}", run.display()), e))?;
    }
    std::fs::create_dir_all(run).map_err(|e| ChaosError::io("make the run folder", e))
}

fn key_of(seed: u64, i: usize) -> String {
    format!("chaos-{seed}-person-{i:02}")
}

/// Starts the system: the stand-in, the people's preferences in both stores, three replicas
/// behind their fault proxies, HAProxy, the SQLite node on its tmpfs.
fn start_system(args: &Args, run: &Path) -> Result<System, ChaosError> {
    let programs = Programs {
        cloud: args.cloud_bin.clone(),
        haproxy: args.haproxy.clone(),
        node: args.node.clone(),
        couch_dir: args.couch_dir.clone(),
    };
    let admin_log = run.join("admin.log");
    let prefs = run.join("people");
    std::fs::create_dir_all(&prefs).map_err(|e| ChaosError::io("make the people folder", e))?;
    for i in 0..args.people {
        std::fs::write(
            prefs.join(format!("{}.json5", key_of(args.seed, i))),
            person::preference_file(i),
        )
        .map_err(|e| ChaosError::io("write a preference file", e))?;
    }
    let prefs_s = prefs.display().to_string();

    let couch = Couch::start(&programs, run)?;
    let couch_store = format!("couchdb:{}/gpii", couch.url);
    system::cloud_admin(
        &programs,
        &["load", "--store", &couch_store, "--as", "user", &prefs_s],
        &admin_log,
    )?;
    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        let mut server = Server::new(&format!("replica{}", i + 1), &couch_store, run);
        server.start(&programs)?;
        let proxy = FaultProxy::start(server.addr());
        replicas.push(Replica { server, proxy });
    }
    let backends: Vec<_> = replicas.iter().map(|r| r.proxy.addr).collect();
    let mut haproxy = Haproxy::new(run, &backends)?;
    haproxy.check(&programs)?;
    haproxy.start(&programs)?;

    let disk = SmallDisk::mount(&run.join("sqlite-disk"), SMALL_DISK)?;
    let sqlite_store = disk.dir.join("cloud.db");
    let sqlite_url = format!("sqlite:{}", sqlite_store.display());
    system::cloud_admin(
        &programs,
        &["load", "--store", &sqlite_url, "--as", "user", &prefs_s],
        &admin_log,
    )?;
    let mut sqlite = Server::new("sqlite", &sqlite_url, run);
    sqlite.start(&programs)?;
    let backups = run.join("backups");
    std::fs::create_dir_all(&backups).map_err(|e| ChaosError::io("make the backups folder", e))?;
    Ok(System {
        programs,
        couch,
        replicas,
        haproxy,
        sqlite,
        sqlite_store,
        disk,
        backups,
        admin_log,
    })
}

/// The final read: a token and the settings, straight from the cloud's API; term → value.
async fn read_one(http: &reqwest::Client, base: &str, key: &str) -> Option<BTreeMap<String, f64>> {
    let grant: serde_json::Value = http
        .post(format!("{base}/access_token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", system::CLIENT_ID),
            ("client_secret", system::CLIENT_SECRET),
            ("username", key),
            ("password", "chaos"),
        ])
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    let token = grant["access_token"].as_str()?;
    let mut url = reqwest::Url::parse(base).ok()?;
    url.path_segments_mut()
        .ok()?
        .push(key)
        .push("settings")
        .push(DEVICE);
    let answer: serde_json::Value = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    let prefs = &answer["preferences"]["contexts"]["gpii-default"]["preferences"];
    Some(
        TERMS
            .iter()
            .filter_map(|t| {
                let v = prefs[format!("http://registry.gpii.net/common/{}", t.name)].as_f64()?;
                Some((t.name.to_owned(), v))
            })
            .collect(),
    )
}

fn final_reads(people: &[(String, String)]) -> Vec<FinalRead> {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return vec![None; people.len()];
    };
    let Ok(http) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return vec![None; people.len()];
    };
    people
        .iter()
        .map(|(base, key)| {
            rt.block_on(async {
                for _ in 0..20 {
                    if let Some(r) = read_one(&http, base, key).await {
                        return Some(r);
                    }
                    // The system has healed; a read that fails is retried a few times.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None
            })
        })
        .collect()
}

/// Statuses answered through HAProxy, from its log (`… %HM %ST …`, see
/// [`system::haproxy_config`]).
fn haproxy_statuses(log: &Path) -> BTreeMap<u16, usize> {
    let mut out = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 8 {
            if let Ok(s) = f[4].parse::<u16>() {
                *out.entry(s).or_default() += 1;
            }
        }
    }
    out
}

/// 500s answered and panics logged by an attune-cloud log (JSON lines).
fn server_log_counts(log: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut five_hundreds = 0;
    let mut panics = 0;
    for line in text.lines() {
        if line.contains("panicked") {
            panics += 1;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            let status = v["fields"]["status"]
                .as_u64()
                .or_else(|| v["status"].as_u64());
            let request = v["fields"]["message"] == "request" || v["message"] == "request";
            if request && status == Some(500) {
                five_hundreds += 1;
            }
        }
    }
    (five_hundreds, panics)
}

fn run(args: &Args) -> Result<bool, ChaosError> {
    let wall = Instant::now();
    let run_dir = args.out.join("run");
    fresh_dir(&run_dir)?;
    let sqlite_people = args.people / 2;
    let schedule_len = |quick| faults::plan(args.seed, quick, args.minutes * 60_000, REPLICAS);
    let schedule = schedule_len(args.quick);
    let run_ms = if args.quick {
        faults::quick_run_ms(&schedule)
    } else {
        args.minutes * 60_000
    };
    eprintln!(
        "chaos: seed {}, {} people ({} on SQLite), {} faults over {} s",
        args.seed,
        args.people,
        sqlite_people,
        schedule.len(),
        run_ms / 1000
    );

    let mut sys = start_system(args, &run_dir)?;
    eprintln!(
        "chaos: up in {:.1} s: HAProxy {}, SQLite node {}",
        wall.elapsed().as_secs_f64(),
        sys.haproxy.url(),
        sys.sqlite.url()
    );

    // The people's own state (session, journal, cache, outbox: each fsynced) on a tmpfs of its
    // own: sixty desktops do not share one disk, and sixty people's fsyncs on the run's disk
    // (shared with the machine's other work) measured that disk, not Attune.
    let desktops = SmallDisk::mount(&run_dir.join("desktops"), 512 << 20)?;
    let clock = RunClock(Instant::now());
    let stop = Arc::new(AtomicBool::new(false));
    let healed = Arc::new(Gate::default());
    let mut people = Vec::new();
    let mut bases = Vec::new();
    for i in 0..args.people {
        let on_sqlite = i >= args.people - sqlite_people;
        let url = if on_sqlite {
            sys.sqlite.url()
        } else {
            sys.haproxy.url()
        };
        bases.push((url.clone(), key_of(args.seed, i)));
        let spec = Spec {
            index: i,
            key: key_of(args.seed, i),
            url,
            on_sqlite,
            state_dir: desktops.dir.join(format!("person-{i:02}")),
            seed: args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
            think_scale: if args.quick { 0.6 } else { 1.0 },
            clock,
            stop: stop.clone(),
            healed: healed.clone(),
        };
        let h = std::thread::Builder::new()
            .name(format!("person-{i:02}"))
            .spawn(move || person::run(spec))
            .map_err(|e| ChaosError::io("start a person", e))?;
        people.push((i, on_sqlite, h));
    }

    let injector = {
        let schedule = schedule.clone();
        std::thread::Builder::new()
            .name("faults".to_owned())
            .spawn(move || {
                let r = faults::inject(&mut sys, &schedule, clock);
                (sys, r)
            })
            .map_err(|e| ChaosError::io("start the injector", e))?
    };
    let (sys, injected) = injector
        .join()
        .map_err(|_| ChaosError::Setup("the fault injector panicked".to_owned()))?;
    let now = clock.ms();
    if run_ms > now {
        // The load runs to the planned end.
        std::thread::sleep(Duration::from_millis(run_ms - now));
    }
    stop.store(true, Ordering::SeqCst);
    let load_ms = clock.ms();
    let mut setup_failures = Vec::new();
    let windows = match injected {
        Ok(w) => w,
        Err(e) => {
            setup_failures.push(format!("the fault injector stopped: {e}"));
            Vec::new()
        }
    };
    eprintln!(
        "chaos: load ended at {:.1} s; healed, settling up",
        load_ms as f64 / 1000.0
    );
    healed.open();
    let logs: Vec<PersonLog> = people
        .into_iter()
        .map(|(i, on_sqlite, h)| {
            h.join().unwrap_or_else(|_| PersonLog {
                person: i,
                on_sqlite,
                panicked: true,
                ..PersonLog::default()
            })
        })
        .collect();
    let reads = final_reads(&bases);

    // Counting the 500s: HAProxy's log for the replicas, the SQLite node's own log.
    let statuses = haproxy_statuses(&sys.haproxy.log);
    let (sqlite_500, sqlite_panics) = server_log_counts(sys.sqlite.log());
    let mut replica_500 = 0;
    let mut server_panics = sqlite_panics;
    for r in &sys.replicas {
        let (n, p) = server_log_counts(r.server.log());
        replica_500 += n;
        server_panics += p;
    }
    let http_500 = statuses.get(&500).copied().unwrap_or(0) + sqlite_500;

    let mut v = check::check(&logs, &reads, &windows);
    v.failures.extend(setup_failures);
    let mut by_kind: BTreeMap<&str, usize> =
        FaultKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
    for w in &windows {
        *by_kind.entry(w.kind.as_str()).or_default() += 1;
    }
    if args.quick {
        for (k, n) in &by_kind {
            if *n == 0 {
                v.failures.push(format!("the fault {k} was never injected"));
            }
        }
    }
    if http_500 > 0 || replica_500 > 0 {
        v.failures.push(format!(
            "{http_500} answer(s) 500 (HAProxy's log {}, the SQLite node's {sqlite_500}; the replicas' own logs {replica_500})",
            statuses.get(&500).copied().unwrap_or(0)
        ));
    }
    if server_panics > 0 {
        v.failures
            .push(format!("{server_panics} panic(s) in the servers' logs"));
    }

    std::fs::create_dir_all(&args.out).map_err(|e| ChaosError::io("make the output folder", e))?;
    let title = format!(
        "Attune chaos run: seed {}, {} people, {} faults, {:.0} s",
        args.seed,
        args.people,
        windows.len(),
        load_ms as f64 / 1000.0
    );
    if let Err(e) = plot::timeline(&logs, &windows, &title, &args.out.join("timeline.png")) {
        v.failures
            .push(format!("the timeline could not be drawn: {e}"));
    }
    let ok = v.failures.is_empty();
    let result = serde_json::json!({
        "ok": ok,
        "seed": args.seed,
        "quick": args.quick,
        "people": args.people,
        "people_on_sqlite": sqlite_people,
        "load_seconds": load_ms as f64 / 1000.0,
        "wall_seconds": wall.elapsed().as_secs_f64(),
        "key_ins": v.key_ins,
        "key_ins_settled_in_deadline": v.key_ins_settled_in_deadline,
        "key_in_bound_ms": check::KEY_IN_BOUND_MS,
        "key_in_outcomes": v.key_in_outcomes,
        "key_in_p50_ms": v.key_in_p50_ms,
        "key_in_p99_ms": v.key_in_p99_ms,
        "key_in_max_ms": v.key_in_max_ms,
        "saves_invoked": v.saves_invoked,
        "acknowledged_saves": v.acknowledged_saves,
        "failed_saves": v.failed_saves,
        "indeterminate_saves": v.indeterminate_saves,
        "lost_saves": v.lost_saves,
        "restore_rolled_back_saves": v.restore_rolled_back_saves,
        "lost_at_later_read": v.lost_at_later_read,
        "restore_rolled_back_reads": v.restore_rolled_back_reads,
        "unexpected_values": v.unexpected_values,
        "unexpected_reads": v.unexpected_reads,
        "faults_injected": by_kind,
        "faults": windows,
        "http_500": http_500,
        "http_500_replica_logs": replica_500,
        "haproxy_statuses": statuses,
        "server_panics": server_panics,
        "stale_token_sessions": v.stale_token_sessions,
        "stale_token_guided": v.stale_token_guided,
        "stale_token_relogin_saved": v.stale_token_relogin_saved,
        "desktops_restored": v.desktops_restored,
        "final_reads_failed": reads.iter().filter(|r| r.is_none()).count(),
        "lost": v.lost,
        "failures": v.failures,
    });
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    std::fs::write(args.out.join("result.json"), &text)
        .map_err(|e| ChaosError::io("write result.json", e))?;
    let history = serde_json::json!({"people": logs, "faults": windows});
    std::fs::write(
        run_dir.join("history.json"),
        serde_json::to_string(&history).unwrap_or_default(),
    )
    .map_err(|e| ChaosError::io("write history.json", e))?;
    drop(sys);
    drop(desktops);

    eprintln!(
        "chaos: {} key-ins ({} within {} ms; p50 {} ms, p99 {} ms), {} saves acknowledged, {} lost ({} at a later read), {} unexpected, {} restore-rolled-back; {} stale-token sessions, {} guided; faults {:?}; 500s {}",
        v.key_ins,
        v.key_ins_settled_in_deadline,
        check::KEY_IN_BOUND_MS,
        v.key_in_p50_ms,
        v.key_in_p99_ms,
        v.acknowledged_saves,
        v.lost_saves,
        v.lost_at_later_read,
        v.unexpected_values + v.unexpected_reads,
        v.restore_rolled_back_saves,
        v.stale_token_sessions,
        v.stale_token_guided,
        by_kind,
        http_500
    );
    if ok {
        eprintln!("chaos: PASS ({})", args.out.join("result.json").display());
    } else {
        eprintln!("chaos: FAIL, {} check(s):", v.failures.len());
        for f in &v.failures {
            eprintln!("  - {f}");
        }
    }
    Ok(ok)
}

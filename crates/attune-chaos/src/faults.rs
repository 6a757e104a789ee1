//! The faults: a seeded schedule ([`plan`], pure) and the injector that acts it out on the
//! running system ([`inject`]).

use std::path::PathBuf;
use std::time::Duration;

use attune_testkit::Fault;
use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::history::{FaultKind, FaultWindow};
use crate::person::RunClock;
use crate::system::{cloud_admin, Couch, Haproxy, Programs, Replica, Server, SmallDisk};
use crate::ChaosError;

/// One fault as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// When it starts (for a restore: when the backup is taken), ms after the run's start.
    pub at_ms: u64,
    pub kind: FaultKind,
    /// Which replica (for the kinds that hit one).
    pub replica: usize,
    /// How long it is held before it is healed; for a restore, the backup's age when it is
    /// restored (the "N seconds earlier").
    pub hold_ms: u64,
}

/// The time people key in before the first fault.
pub const WARM_UP_MS: u64 = 10_000;

/// The schedule of a run. Quick: every kind once, in a seeded order, a few seconds each and a
/// few seconds apart. Otherwise: seeded rounds of every kind in a new order each, until
/// `run_ms` less a quiet tail. Faults never overlap: each heals before the next begins (the
/// injector waits for the heal, so the schedule's times are the earliest starts).
pub fn plan(seed: u64, quick: bool, run_ms: u64, replicas: usize) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0fa0_17ed);
    let (gap, hold, age) = if quick {
        ((3_000, 6_000), (3_000, 6_000), (4_000, 8_000))
    } else {
        ((5_000, 25_000), (2_000, 10_000), (5_000, 20_000))
    };
    let tail = if quick { 5_000 } else { 20_000 };
    let mut out = Vec::new();
    let mut t = WARM_UP_MS;
    'rounds: loop {
        let mut kinds = FaultKind::ALL.to_vec();
        kinds.shuffle(&mut rng);
        for kind in kinds {
            let hold_ms = if kind == FaultKind::RestoreFromBackup {
                rng.random_range(age.0..=age.1)
            } else {
                rng.random_range(hold.0..=hold.1)
            };
            if !quick && t + hold_ms + tail > run_ms {
                break 'rounds;
            }
            out.push(Planned {
                at_ms: t,
                kind,
                replica: rng.random_range(0..replicas),
                hold_ms,
            });
            t += hold_ms + rng.random_range(gap.0..=gap.1);
        }
        if quick {
            break;
        }
    }
    out
}

/// The length of a quick run: its schedule, then the quiet tail.
pub fn quick_run_ms(schedule: &[Planned]) -> u64 {
    schedule
        .last()
        .map_or(WARM_UP_MS, |p| p.at_ms + p.hold_ms + 15_000)
}

/// Everything the injector acts on.
pub struct System {
    pub programs: Programs,
    pub couch: Couch,
    pub replicas: Vec<Replica>,
    pub haproxy: Haproxy,
    pub sqlite: Server,
    pub sqlite_store: PathBuf,
    pub disk: SmallDisk,
    pub backups: PathBuf,
    pub admin_log: PathBuf,
}

fn wait_until_ms(clock: RunClock, at_ms: u64) {
    let now = clock.ms();
    if at_ms > now {
        // The schedule's clock: waiting for a planned time, not for an event.
        std::thread::sleep(Duration::from_millis(at_ms - now));
    }
}

fn hold(ms: u64) {
    // A fault is held for its planned time.
    std::thread::sleep(Duration::from_millis(ms));
}

/// Acts out the schedule; every fault is healed before this returns. The windows as they
/// happened.
pub fn inject(
    sys: &mut System,
    schedule: &[Planned],
    clock: RunClock,
) -> Result<Vec<FaultWindow>, ChaosError> {
    let mut windows = Vec::new();
    for (n, p) in schedule.iter().enumerate() {
        wait_until_ms(clock, p.at_ms);
        let start_ms = clock.ms();
        let mut backup_ms = None;
        let mut restored_ms = None;
        let target;
        let detail;
        match p.kind {
            FaultKind::ReplicaKill => {
                let r = &mut sys.replicas[p.replica];
                target = r.server.name.clone();
                r.server.kill9();
                hold(p.hold_ms);
                let took = r.server.start(&sys.programs)?;
                detail = format!(
                    "SIGKILL, restarted after {} ms, ready in {} ms",
                    p.hold_ms,
                    took.as_millis()
                );
            }
            FaultKind::StorePause => {
                target = "express-pouchdb".to_owned();
                sys.couch.proc.signal(Signal::SIGSTOP)?;
                hold(p.hold_ms);
                sys.couch.proc.signal(Signal::SIGCONT)?;
                detail = format!("SIGSTOP for {} ms, then SIGCONT", p.hold_ms);
            }
            FaultKind::PartitionBlackhole
            | FaultKind::PartitionReset
            | FaultKind::PartitionSlowBody => {
                let fault = match p.kind {
                    FaultKind::PartitionBlackhole => Fault::Blackhole,
                    FaultKind::PartitionReset => Fault::Refuse,
                    _ => Fault::Slowloris {
                        every: Duration::from_millis(300),
                    },
                };
                let r = &sys.replicas[p.replica];
                target = r.server.name.clone();
                detail = format!("{fault:?} on its fault proxy for {} ms", p.hold_ms);
                r.partition(fault);
                hold(p.hold_ms);
                r.partition(Fault::Pass);
            }
            FaultKind::HaproxyRestart => {
                target = "haproxy".to_owned();
                sys.haproxy.stop();
                let took = sys.haproxy.start(&sys.programs)?;
                detail = format!(
                    "stopped (SIGTERM) and started again, ready in {} ms",
                    took.as_millis()
                );
            }
            FaultKind::RestoreFromBackup => {
                target = sys.sqlite.name.clone();
                let store = format!("sqlite:{}", sys.sqlite_store.display());
                let file = sys.backups.join(format!("backup-{n}.db"));
                let file_s = file.display().to_string();
                let b0 = clock.ms();
                cloud_admin(
                    &sys.programs,
                    &["backup", "--store", &store, "--out", &file_s],
                    &sys.admin_log,
                )?;
                let b1 = clock.ms();
                backup_ms = Some((b0, b1));
                // The backup ages while people go on keying in and saving.
                hold(p.hold_ms);
                let r0 = clock.ms();
                sys.sqlite.stop()?;
                cloud_admin(
                    &sys.programs,
                    &["restore", "--store", &store, "--from", &file_s],
                    &sys.admin_log,
                )?;
                sys.sqlite.start(&sys.programs)?;
                restored_ms = Some((r0, clock.ms()));
                detail = format!(
                    "backup taken ({} ms), restored {} ms later: stopped, restored, started in {} ms",
                    b1 - b0,
                    r0 - b1,
                    clock.ms() - r0
                );
            }
            FaultKind::DiskFull => {
                target = sys.sqlite.name.clone();
                if !sys.disk.mounted() {
                    return Err(ChaosError::Setup(
                        "the disk-full fault needs the small tmpfs, which could not be mounted"
                            .to_owned(),
                    ));
                }
                let filled = sys.disk.fill()?;
                hold(p.hold_ms);
                sys.disk.free()?;
                detail = format!(
                    "the store's {} MiB tmpfs filled ({} KiB written) for {} ms",
                    sys.disk.bytes >> 20,
                    filled >> 10,
                    p.hold_ms
                );
            }
        }
        let end_ms = clock.ms();
        eprintln!(
            "chaos: {:>7.1} s  {:<20} {:<10} {detail}",
            start_ms as f64 / 1000.0,
            p.kind.as_str(),
            target
        );
        windows.push(FaultWindow {
            kind: p.kind,
            target,
            start_ms: backup_ms.map_or(start_ms, |(b0, _)| b0),
            end_ms,
            backup_ms,
            restored_ms,
            detail,
        });
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_schedule_has_every_kind_once_in_a_seeded_order() {
        let a = plan(7, true, 0, 3);
        let b = plan(7, true, 0, 3);
        let c = plan(8, true, 0, 3);

        let mut kinds: Vec<FaultKind> = a.iter().map(|p| p.kind).collect();
        kinds.sort();
        assert_eq!(kinds, FaultKind::ALL.to_vec());
        assert_eq!(a, b, "the same seed, the same schedule");
        assert_ne!(a, c);
        assert!(quick_run_ms(&a) < 150_000, "{}", quick_run_ms(&a));
    }

    #[test]
    fn a_long_schedule_fits_its_run_and_never_overlaps() {
        let run_ms = 30 * 60_000;
        let s = plan(1, false, run_ms, 3);

        assert!(s.len() > 40, "{}", s.len());
        for w in s.windows(2) {
            assert!(w[0].at_ms + w[0].hold_ms < w[1].at_ms);
        }
        let last = s.last().unwrap();
        assert!(last.at_ms + last.hold_ms < run_ms);
    }
}

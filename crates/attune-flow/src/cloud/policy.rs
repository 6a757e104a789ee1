//! The resilience policy of docs/design.md §4: when to try again, for how long, and when to stop
//! asking.
//!
//! Three parts, each a small state machine that takes the time as an argument (tokio's
//! [`Instant`], so tests run on the paused clock and nothing here reads a clock or sleeps):
//!
//! * [`RetryPolicy`]: the backoff schedule (from `backon`: exponential from 250 ms, factor 2,
//!   cap 4 s, jitter, at most 3 attempts) and the deadline rule — the last attempt is cut to what
//!   is left, and a `Retry-After` longer than what is left means "fall back now", not "wait".
//! * [`RetryThrottle`]: gRPC's client-side retry throttling, so a site of many desktops does not
//!   turn a cloud outage into a retry storm.
//! * [`CircuitBreaker`]: after enough consecutive outage failures, calls fail at once and the
//!   offline path runs; one half-open probe after the (jittered) open period.
//!
//! [`RetryPolicy::run`] is the imperative shell that drives an attempt function through all
//! three with `backon`'s retry loop on tokio's timer.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::classify::FailureKind;
use crate::config::ResilienceConfig;

/// An attempt is not started with less than this left before the deadline: it could not finish.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// Why the policy stopped trying. Carried in the final error for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// The failure is not one that asking again can fix.
    NotRetryable,
    /// Every attempt the policy allows has been made.
    AttemptsExhausted,
    /// Waiting and trying again would not finish before the key-in deadline.
    DeadlineReached,
    /// The server asked us to wait longer than the deadline leaves: fall back now.
    RetryAfterBeyondDeadline { retry_after: Duration },
    /// The retry budget is spent (too many recent failures): no retries for now.
    Throttled,
    /// The circuit breaker is open, or the server asked not to be called before a time.
    BreakerOpen,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    GiveUp(GiveUp),
}

/// The retry schedule and the deadline rule. Cheap to copy; holds no state between calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub attempt_timeout: Duration,
    pub deadline: Duration,
    /// Seed for the backoff jitter; `None` seeds from the OS. Tests fix it.
    pub jitter_seed: Option<u64>,
}

impl RetryPolicy {
    pub fn from_config(r: &ResilienceConfig) -> RetryPolicy {
        RetryPolicy {
            max_attempts: r.max_attempts.max(1),
            backoff_base: r.backoff_base,
            backoff_cap: r.backoff_cap,
            attempt_timeout: r.attempt_timeout,
            deadline: r.deadline,
            jitter_seed: None,
        }
    }

    /// The backoff schedule: `max_attempts - 1` delays, exponential with factor 2 from the base,
    /// each with up to 100 % added jitter (backon's), then clamped to the cap by [`Self::next_step`].
    pub fn backoff(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::new()
            .with_min_delay(self.backoff_base)
            .with_factor(2.0)
            .with_max_delay(self.backoff_cap)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        match self.jitter_seed {
            Some(s) => b.with_jitter_seed(s),
            None => b,
        }
    }

    /// How long the attempt starting at `now` may take: the attempt timeout, cut to what is
    /// left before the deadline. `None`: too little is left to start one.
    pub fn attempt_budget(&self, now: Instant, deadline: Instant) -> Option<Duration> {
        let left = deadline.saturating_duration_since(now);
        (left >= MIN_ATTEMPT).then(|| left.min(self.attempt_timeout))
    }

    /// The pure decision after a failed attempt at `now`.
    ///
    /// `backoff` is the schedule's next delay (`None` once attempts are used up);
    /// `throttle_allows` is the retry budget's verdict. A `Retry-After` replaces a shorter
    /// backoff; if the wait leaves no room for an attempt before the deadline, stop now.
    pub fn next_step(
        &self,
        failure: &FailureKind,
        backoff: Option<Duration>,
        now: Instant,
        deadline: Instant,
        throttle_allows: bool,
    ) -> Step {
        if !failure.is_retryable() {
            return Step::GiveUp(GiveUp::NotRetryable);
        }
        let Some(backoff) = backoff else {
            return Step::GiveUp(GiveUp::AttemptsExhausted);
        };
        if !throttle_allows {
            return Step::GiveUp(GiveUp::Throttled);
        }
        let backoff = backoff.min(self.backoff_cap);
        let left = deadline.saturating_duration_since(now);
        match failure.retry_after() {
            Some(ra) if ra.saturating_add(MIN_ATTEMPT) > left => {
                Step::GiveUp(GiveUp::RetryAfterBeyondDeadline { retry_after: ra })
            }
            ra => {
                let wait = ra.map_or(backoff, |ra| ra.max(backoff));
                if wait.saturating_add(MIN_ATTEMPT) > left {
                    Step::GiveUp(GiveUp::DeadlineReached)
                } else {
                    Step::RetryAfter(wait)
                }
            }
        }
    }
}

/// gRPC's retry throttling (gRFC A6): a bucket of `max` tokens; each failed attempt costs one,
/// each success gives back `ratio`; retries are allowed only while more than half remain.
/// Kept in thousandths so the arithmetic is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryThrottle {
    milli_tokens: u32,
    max_milli: u32,
    ratio_milli: u32,
}

impl Default for RetryThrottle {
    /// 10 tokens, 0.1 back per success (docs/design.md §4).
    fn default() -> Self {
        RetryThrottle::new(10, 100)
    }
}

impl RetryThrottle {
    /// `max` whole tokens; `ratio_milli` thousandths of a token back per success.
    pub fn new(max: u32, ratio_milli: u32) -> RetryThrottle {
        let max_milli = max.saturating_mul(1000);
        RetryThrottle {
            milli_tokens: max_milli,
            max_milli,
            ratio_milli,
        }
    }

    /// Tokens left, in thousandths.
    pub fn milli_tokens(&self) -> u32 {
        self.milli_tokens
    }

    /// Retries stop when half the bucket or less remains.
    pub fn allows_retry(&self) -> bool {
        self.milli_tokens > self.max_milli / 2
    }

    pub fn on_failure(&mut self) {
        self.milli_tokens = self.milli_tokens.saturating_sub(1000);
    }

    pub fn on_success(&mut self) {
        self.milli_tokens = (self.milli_tokens + self.ratio_milli).min(self.max_milli);
    }
}

/// What the breaker says to a call about to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Allowed,
    /// Half-open: this call is the one probe; its outcome closes or reopens the breaker.
    Probe,
    /// Open (or a probe is already out): fail now, without a connection.
    Rejected { until: Instant },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// A circuit breaker over outage failures (docs/design.md §4): open after `threshold` consecutive
/// ones; while open calls fail at once; after `open_for` plus up to 20 % jitter, one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: BreakerState,
}

/// The most jitter added to the open period, as a fraction of it: 20 % spreads the probes of
/// a site's desktops without making any of them wait much longer.
pub const BREAKER_JITTER: f64 = 0.2;

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold: threshold.max(1),
            open_for,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    pub fn from_config(r: &ResilienceConfig) -> CircuitBreaker {
        CircuitBreaker::new(r.breaker_failures, r.breaker_open_for)
    }

    /// Whether the breaker would turn a call away at `now` (open, or half-open with the probe
    /// out).
    pub fn is_open(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => false,
            BreakerState::Open { until } => now < until,
            BreakerState::HalfOpen => true,
        }
    }

    /// Asks to start a call at `now`. A `Probe` admission must be followed by
    /// [`Self::on_success`] or [`Self::on_failure`].
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            BreakerState::Closed { .. } => Admission::Allowed,
            BreakerState::Open { until } if now < until => Admission::Rejected { until },
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen;
                Admission::Probe
            }
            // One probe at a time; the others wait for its outcome.
            BreakerState::HalfOpen => Admission::Rejected { until: now },
        }
    }

    /// The cloud answered: close.
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// An attempt failed at `now`. Only outages count; any other answer proves the cloud is
    /// there and closes the breaker. `jitter` in `[0, 1)` (from the caller's random source)
    /// stretches the open period by up to [`BREAKER_JITTER`].
    pub fn on_failure(&mut self, failure: &FailureKind, now: Instant, jitter: f64) {
        if !failure.counts_as_outage() {
            self.on_success();
            return;
        }
        let open = |b: &CircuitBreaker| BreakerState::Open {
            until: now
                + b.open_for
                    .mul_f64(1.0 + BREAKER_JITTER * jitter.clamp(0.0, 1.0)),
        };
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            BreakerState::Closed { .. } | BreakerState::HalfOpen => open(self),
            // Calls that started before it opened end here: the first opening stands.
            s @ BreakerState::Open { .. } => s,
        };
    }
}

/// What the client knows about the cloud's health across calls: shared by every call of one
/// client, behind a mutex that is never held across an await.
#[derive(Debug)]
pub struct Health {
    pub throttle: RetryThrottle,
    pub breaker: CircuitBreaker,
    /// The server said (with Retry-After) not to call before this time.
    pub not_before: Option<Instant>,
}

impl Health {
    pub fn from_config(r: &ResilienceConfig) -> Health {
        Health {
            throttle: RetryThrottle::default(),
            breaker: CircuitBreaker::from_config(r),
            not_before: None,
        }
    }

    /// Admission for a call at `now`: a server's Retry-After first, then the breaker.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.not_before {
            Some(t) if now < t => Admission::Rejected { until: t },
            _ => self.breaker.admit(now),
        }
    }

    /// Records an attempt's outcome.
    pub fn record(&mut self, outcome: Result<(), &FailureKind>, now: Instant, jitter: f64) {
        match outcome {
            Ok(()) => {
                self.throttle.on_success();
                self.breaker.on_success();
            }
            Err(f) => {
                if f.is_retryable() {
                    self.throttle.on_failure();
                }
                if let Some(ra) = f.retry_after() {
                    // The wait comes from the server: clamp it, and never let the clock overflow.
                    let ra = ra.min(super::classify::MAX_RETRY_AFTER);
                    if let Some(t) = now.checked_add(ra) {
                        self.not_before = Some(self.not_before.map_or(t, |old| old.max(t)));
                    }
                }
                self.breaker.on_failure(f, now, jitter);
            }
        }
    }
}

fn lock(h: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    // A panic elsewhere while holding it leaves counters, not broken invariants: carry on.
    h.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What one attempt is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 0 for the first attempt of a call.
    pub number: u32,
    /// How long this attempt may take (already enforced around it; pass it on to the transport).
    pub timeout: Duration,
}

/// A call that failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (after {attempts} attempt(s); gave up: {gave_up:?})")]
pub struct CallError {
    /// The last failure (for a call the breaker turned away: `Unreachable`).
    pub kind: FailureKind,
    /// Attempts actually started (0 when the breaker turned the call away).
    pub attempts: u32,
    pub gave_up: GiveUp,
}

enum AttemptError {
    Failed(FailureKind),
    TurnedAway,
}

impl RetryPolicy {
    /// The key-in deadline for a cloud step starting at `now`.
    pub fn deadline_from(&self, now: Instant) -> Instant {
        now + self.deadline
    }

    /// Runs `op` under the policy until it succeeds, fails for good, or the deadline comes.
    ///
    /// Each attempt is admitted by `health` (breaker, server's Retry-After), bounded by its
    /// budget ([`Self::attempt_budget`]: a timeout here is [`FailureKind::TooSlow`]), and its
    /// outcome recorded. `jitter` supplies the breaker's random stretch.
    pub async fn run<T, Op, Fut>(
        &self,
        health: &Mutex<Health>,
        deadline: Instant,
        jitter: &(dyn Fn() -> f64 + Sync),
        mut op: Op,
    ) -> Result<T, CallError>
    where
        Op: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, FailureKind>>,
    {
        // Shared by backon's closures; atomics and a mutex keep the future `Send`.
        let started = AtomicU32::new(0);
        let gave_up = Mutex::new(None::<GiveUp>);
        let give_up = |g: GiveUp| {
            *gave_up
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(g);
        };
        let probing = AtomicBool::new(false);

        let attempt = || {
            let now = Instant::now();
            let admission = lock(health).admit(now);
            let budget = self.attempt_budget(now, deadline);
            let turned_away = |g: GiveUp| {
                give_up(g);
                None
            };
            let fut = match (admission, budget) {
                (Admission::Rejected { .. }, _) => turned_away(GiveUp::BreakerOpen),
                (_, None) => turned_away(GiveUp::DeadlineReached),
                (adm, Some(timeout)) => {
                    probing.store(adm == Admission::Probe, Ordering::Relaxed);
                    let number = started.fetch_add(1, Ordering::Relaxed);
                    Some((timeout, op(Attempt { number, timeout })))
                }
            };
            async move {
                let Some((timeout, fut)) = fut else {
                    return Err(AttemptError::TurnedAway);
                };
                let out = tokio::time::timeout(timeout, fut)
                    .await
                    .unwrap_or(Err(FailureKind::TooSlow));
                lock(health).record(out.as_ref().map(|_| ()), Instant::now(), jitter());
                out.map_err(AttemptError::Failed)
            }
        };

        let result = attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(|e| match e {
                AttemptError::TurnedAway => false,
                AttemptError::Failed(k) if !k.is_retryable() => {
                    give_up(GiveUp::NotRetryable);
                    false
                }
                AttemptError::Failed(_) => true,
            })
            .adjust(|e, backoff| {
                let AttemptError::Failed(kind) = e else {
                    return None;
                };
                let now = Instant::now();
                let (throttle_ok, open) = {
                    let h = lock(health);
                    (h.throttle.allows_retry(), h.breaker.is_open(now))
                };
                // A failed probe reopens the breaker; don't wait out a backoff to be turned away.
                if open || probing.load(Ordering::Relaxed) {
                    give_up(GiveUp::BreakerOpen);
                    return None;
                }
                match self.next_step(kind, backoff, now, deadline, throttle_ok) {
                    Step::RetryAfter(d) => Some(d),
                    Step::GiveUp(g) => {
                        give_up(g);
                        None
                    }
                }
            })
            .await;

        result.map_err(|e| CallError {
            kind: match e {
                AttemptError::Failed(k) => k,
                AttemptError::TurnedAway => FailureKind::Unreachable {
                    detail: "not tried: the cloud is marked unavailable for now".to_owned(),
                },
            },
            attempts: started.load(Ordering::Relaxed),
            gave_up: gave_up
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unwrap_or(GiveUp::AttemptsExhausted),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;
    use std::cell::RefCell;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            jitter_seed: Some(7),
            ..RetryPolicy::from_config(&ResilienceConfig::default())
        }
    }

    fn busy(ra: Option<u64>) -> FailureKind {
        FailureKind::Busy {
            status: 503,
            retry_after: ra.map(Duration::from_secs),
        }
    }

    fn unreachable() -> FailureKind {
        FailureKind::Unreachable {
            detail: "refused".to_owned(),
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[tokio::test(start_paused = true)]
    async fn next_step_rules() {
        let p = policy();
        let now = Instant::now();
        let dl = now + Duration::from_secs(10);
        let malformed = FailureKind::Malformed { detail: "x".into() };
        let stale = FailureKind::StaleToken;
        use GiveUp::{AttemptsExhausted, DeadlineReached, NotRetryable, Throttled};
        // A row: the failure, the backoff in ms (none: the attempts are spent), the time left in
        // ms, whether the throttle allows a retry, and the step expected.
        let row = |f, backoff: Option<u64>, left, throttle, want| {
            (f, backoff.map(MS), MS(left), throttle, want)
        };
        let wait = |ms| Step::RetryAfter(MS(ms));
        let stop = Step::GiveUp;
        let beyond = |secs| {
            Step::GiveUp(GiveUp::RetryAfterBeyondDeadline {
                retry_after: Duration::from_secs(secs),
            })
        };
        let cases: Vec<(FailureKind, Option<Duration>, Duration, bool, Step)> = vec![
            row(malformed, Some(250), 9000, true, stop(NotRetryable)),
            row(stale, Some(250), 9000, true, stop(NotRetryable)),
            row(unreachable(), None, 9000, true, stop(AttemptsExhausted)),
            row(unreachable(), Some(250), 9000, false, stop(Throttled)),
            row(unreachable(), Some(300), 9000, true, wait(300)),
            row(FailureKind::TooSlow, Some(300), 9000, true, wait(300)),
            // The cap applies after backon's jitter.
            row(unreachable(), Some(7000), 9000, true, wait(4000)),
            // Waiting would leave no time for the attempt.
            row(unreachable(), Some(500), 400, true, stop(DeadlineReached)),
            row(unreachable(), Some(500), 540, true, stop(DeadlineReached)),
            row(unreachable(), Some(500), 550, true, wait(500)),
            // Retry-After replaces a shorter backoff, never shortens a longer one.
            row(busy(Some(1)), Some(250), 9000, true, wait(1000)),
            row(busy(Some(0)), Some(250), 9000, true, wait(250)),
            row(busy(None), Some(250), 9000, true, wait(250)),
            // Retry-After longer than what is left: fall back now.
            row(busy(Some(3600)), Some(250), 9000, true, beyond(3600)),
            row(busy(Some(9)), Some(250), 9000, true, beyond(9)),
        ];
        for (i, (f, backoff, left, throttle, want)) in cases.into_iter().enumerate() {
            let at = dl - left;
            assert_eq!(
                p.next_step(&f, backoff, at, dl, throttle),
                want,
                "case {i}: {f:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_budget_is_cut_to_the_deadline() {
        let p = policy();
        let now = Instant::now();
        let cases = [
            (MS(10_000), Some(MS(4000))),
            (MS(4000), Some(MS(4000))),
            (MS(1500), Some(MS(1500))),
            (MS(50), Some(MS(50))),
            (MS(49), None),
            (MS(0), None),
        ];
        for (left, want) in cases {
            assert_eq!(p.attempt_budget(now, now + left), want, "{left:?} left");
        }
        // A deadline already past.
        assert_eq!(p.attempt_budget(now + MS(10), now), None);
    }

    #[test]
    fn schedule_is_exponential_with_jitter_and_three_attempts() {
        for seed in 0..50 {
            let p = RetryPolicy {
                jitter_seed: Some(seed),
                ..policy()
            };
            let delays: Vec<Duration> = p.backoff().build().collect();
            assert_eq!(delays.len(), 2, "3 attempts = 2 waits");
            assert!(delays[0] >= MS(250) && delays[0] < MS(500), "{delays:?}");
            assert!(delays[1] >= MS(500) && delays[1] < MS(1000), "{delays:?}");
        }
        let long = RetryPolicy {
            max_attempts: 8,
            ..policy()
        };
        let delays: Vec<Duration> = long.backoff().build().collect();
        // Un-jittered values reach the cap and stay there (jitter may double them; next_step
        // clamps).
        assert!(delays[5] >= MS(4000), "{delays:?}");
        // Different seeds give different schedules.
        let a: Vec<_> = RetryPolicy {
            jitter_seed: Some(1),
            ..policy()
        }
        .backoff()
        .build()
        .collect();
        let b: Vec<_> = RetryPolicy {
            jitter_seed: Some(2),
            ..policy()
        }
        .backoff()
        .build()
        .collect();
        assert_ne!(a, b);
    }

    #[test]
    fn throttle_follows_grpc() {
        let mut t = RetryThrottle::default();
        assert!(t.allows_retry());
        for _ in 0..4 {
            t.on_failure();
        }
        assert_eq!(t.milli_tokens(), 6000);
        assert!(t.allows_retry(), "6 tokens left");
        t.on_failure();
        assert_eq!(t.milli_tokens(), 5000);
        assert!(!t.allows_retry(), "retries stop at 5");
        t.on_success();
        assert_eq!(t.milli_tokens(), 5100);
        assert!(t.allows_retry(), "5.1 > 5");
        for _ in 0..20 {
            t.on_failure();
        }
        assert_eq!(t.milli_tokens(), 0, "floor at 0");
        for _ in 0..1000 {
            t.on_success();
        }
        assert_eq!(t.milli_tokens(), 10_000, "cap at 10");
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_after_five_outages_and_probes_once() {
        let open_for = Duration::from_secs(30);
        let mut b = CircuitBreaker::new(5, open_for);
        let t0 = Instant::now();
        for i in 0..4 {
            b.on_failure(&unreachable(), t0, 0.0);
            assert_eq!(b.admit(t0), Admission::Allowed, "after {} failures", i + 1);
        }
        b.on_failure(&FailureKind::TooSlow, t0, 0.5);
        let until = t0 + open_for.mul_f64(1.1);
        assert_eq!(b.admit(t0), Admission::Rejected { until });
        assert_eq!(b.admit(until - MS(1)), Admission::Rejected { until });
        assert_eq!(b.admit(until), Admission::Probe);
        // One probe at a time.
        assert!(matches!(b.admit(until), Admission::Rejected { .. }));
        // The probe fails: open again, from the probe's time.
        b.on_failure(&unreachable(), until, 0.0);
        assert_eq!(
            b.admit(until),
            Admission::Rejected {
                until: until + open_for
            }
        );
        assert_eq!(b.admit(until + open_for), Admission::Probe);
        b.on_success();
        assert_eq!(b.admit(until + open_for), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_counts_only_consecutive_outages() {
        let mut b = CircuitBreaker::new(5, Duration::from_secs(30));
        let t0 = Instant::now();
        let cases: Vec<(Result<(), FailureKind>, bool)> = vec![
            (Err(unreachable()), false),
            (Err(busy(None)), false),
            (Err(FailureKind::TooSlow), false),
            (Err(unreachable()), false),
            // A malformed answer proves the server is there: count starts again.
            (Err(FailureKind::Malformed { detail: "x".into() }), false),
            (Err(unreachable()), false),
            (Err(unreachable()), false),
            (Err(unreachable()), false),
            (Err(unreachable()), false),
            (Ok(()), false),
            (Err(unreachable()), false),
            (Err(unreachable()), false),
            (Err(unreachable()), false),
            (Err(unreachable()), false),
            (Err(unreachable()), true),
        ];
        for (i, (outcome, open_after)) in cases.into_iter().enumerate() {
            match outcome {
                Ok(()) => b.on_success(),
                Err(f) => b.on_failure(&f, t0, 0.0),
            }
            assert_eq!(b.is_open(t0), open_after, "after outcome {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_jitter_spreads_the_probe_by_up_to_a_fifth() {
        let open_for = Duration::from_secs(30);
        for (j, want) in [
            (0.0, 30_000),
            (0.5, 33_000),
            (0.999_999, 35_999),
            (7.0, 36_000),
        ] {
            let mut b = CircuitBreaker::new(1, open_for);
            let t0 = Instant::now();
            b.on_failure(&unreachable(), t0, j);
            let Admission::Rejected { until } = b.admit(t0) else {
                panic!("not open");
            };
            assert_eq!((until - t0).as_millis(), want, "jitter {j}");
        }
    }

    type BoxedAttempt = std::pin::Pin<Box<dyn Future<Output = Result<u32, FailureKind>> + Send>>;

    /// A scripted attempt function: records when each attempt started and its timeout, and
    /// plays the given outcomes (`None` = never answers).
    struct Script {
        outcomes: RefCell<Vec<Option<Result<u32, FailureKind>>>>,
        log: RefCell<Vec<(Duration, Attempt)>>,
        t0: Instant,
    }

    impl Script {
        fn new(outcomes: Vec<Option<Result<u32, FailureKind>>>) -> Script {
            Script {
                outcomes: RefCell::new(outcomes.into_iter().rev().collect()),
                log: RefCell::new(Vec::new()),
                t0: Instant::now(),
            }
        }

        fn op(&self) -> impl FnMut(Attempt) -> BoxedAttempt + '_ {
            move |a| {
                self.log.borrow_mut().push((Instant::now() - self.t0, a));
                let next = self.outcomes.borrow_mut().pop().flatten();
                Box::pin(async move {
                    match next {
                        Some(r) => r,
                        None => std::future::pending().await,
                    }
                })
            }
        }

        fn starts(&self) -> Vec<Duration> {
            self.log.borrow().iter().map(|(t, _)| *t).collect()
        }

        fn timeouts(&self) -> Vec<Duration> {
            self.log.borrow().iter().map(|(_, a)| a.timeout).collect()
        }
    }

    fn health() -> Mutex<Health> {
        Mutex::new(Health::from_config(&ResilienceConfig::default()))
    }

    fn no_jitter() -> f64 {
        0.0
    }

    #[tokio::test(start_paused = true)]
    async fn three_stalled_attempts_end_exactly_at_the_deadline() {
        let p = policy();
        let h = health();
        let s = Script::new(vec![None, None, None]);
        let dl = p.deadline_from(s.t0);
        let e = p.run(&h, dl, &no_jitter, s.op()).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::TooSlow);
        assert_eq!(e.attempts, 3);
        assert_eq!(Instant::now(), dl, "the deadline wins, to the tick");
        let t = s.timeouts();
        assert_eq!(&t[..2], &[MS(4000), MS(4000)]);
        assert!(
            t[2] < MS(4000),
            "the last attempt is cut to what is left: {t:?}"
        );
        let starts = s.starts();
        assert!(starts[1] >= MS(4250) && starts[1] < MS(4500), "{starts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn refused_three_times_follows_the_backoff_schedule() {
        let p = policy();
        let h = health();
        let s = Script::new(vec![Some(Err(unreachable())); 3]);
        let e = p
            .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert_eq!(e.attempts, 3);
        assert_eq!(e.gave_up, GiveUp::AttemptsExhausted);
        let st = s.starts();
        let gap1 = st[1] - st[0];
        let gap2 = st[2] - st[1];
        assert!(gap1 >= MS(250) && gap1 < MS(500), "{st:?}");
        assert!(gap2 >= MS(500) && gap2 < MS(1000), "{st:?}");
        assert!(st[2] <= MS(1500), "total ≤ 1.5 s (N1): {st:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_failures_returns_the_value() {
        let p = policy();
        let h = health();
        let s = Script::new(vec![Some(Err(busy(None))), Some(Ok(42))]);
        assert_eq!(
            p.run(&h, p.deadline_from(s.t0), &no_jitter, s.op()).await,
            Ok(42)
        );
        assert_eq!(s.starts().len(), 2);
        assert_eq!(lock(&h).throttle.milli_tokens(), 9100);
    }

    #[tokio::test(start_paused = true)]
    async fn not_retryable_means_one_attempt() {
        let p = policy();
        let h = health();
        let mismatch = FailureKind::VersionMismatch {
            client: "1.0".into(),
            server: "2.0".into(),
        };
        let s = Script::new(vec![Some(Err(mismatch.clone())), Some(Ok(1))]);
        let e = p
            .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, e.attempts, e.gave_up),
            (mismatch, 1, GiveUp::NotRetryable)
        );
        assert_eq!(Instant::now(), s.t0, "no time spent waiting");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_when_it_fits() {
        let p = policy();
        let h = health();
        let s = Script::new(vec![Some(Err(busy(Some(1)))), Some(Ok(7))]);
        assert_eq!(
            p.run(&h, p.deadline_from(s.t0), &no_jitter, s.op()).await,
            Ok(7)
        );
        assert_eq!(s.starts(), vec![MS(0), MS(1000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_deadline_falls_back_now_and_holds_later_calls() {
        let p = policy();
        let h = health();
        let s = Script::new(vec![Some(Err(busy(Some(3600)))), Some(Ok(1))]);
        let e = p
            .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert_eq!(
            e.gave_up,
            GiveUp::RetryAfterBeyondDeadline {
                retry_after: Duration::from_secs(3600)
            }
        );
        assert_eq!(Instant::now(), s.t0, "no wait");
        // A later call before the hour is up is not sent at all; after it, calls go through.
        tokio::time::advance(Duration::from_secs(60)).await;
        held_then_let_through(&p, &h, Duration::from_secs(3600)).await;
    }

    /// A call now is held (not sent: no attempt); `after` later, one goes through.
    async fn held_then_let_through(p: &RetryPolicy, h: &Mutex<Health>, after: Duration) {
        let s = Script::new(vec![Some(Ok(1))]);
        let e = p
            .run(h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert_eq!((e.attempts, e.gave_up), (0, GiveUp::BreakerOpen));
        assert!(s.starts().is_empty());
        tokio::time::advance(after).await;
        let s = Script::new(vec![Some(Ok(5))]);
        assert_eq!(
            p.run(h, p.deadline_from(s.t0), &no_jitter, s.op()).await,
            Ok(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_too_long_for_the_clock_holds_calls_without_panicking() {
        // Issue 12 item 5: `now + Retry-After` overflowed the monotonic clock and panicked.
        let p = policy();
        let h = health();
        let s = Script::new(vec![Some(Err(busy(Some(u64::MAX)))), Some(Ok(1))]);
        let e = p
            .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert!(
            matches!(e.gave_up, GiveUp::RetryAfterBeyondDeadline { .. }),
            "{e:?}"
        );
        // Later calls are held, for at most MAX_RETRY_AFTER.
        held_then_let_through(&p, &h, super::super::classify::MAX_RETRY_AFTER).await;
    }

    #[tokio::test(start_paused = true)]
    async fn open_breaker_fails_at_once_without_an_attempt() {
        let p = policy();
        let h = health();
        // Two calls of three refused attempts each: the breaker opens at the fifth failure,
        // and the second call stops there rather than waiting out a backoff.
        for (call, want_attempts) in [(0, 3), (1, 2)] {
            let s = Script::new(vec![Some(Err(unreachable())); 3]);
            let e = p
                .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
                .await
                .unwrap_err();
            assert_eq!(e.attempts, want_attempts, "call {call}");
        }
        let s = Script::new(vec![Some(Ok(1))]);
        let before = Instant::now();
        let e = p
            .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert_eq!((e.attempts, e.gave_up), (0, GiveUp::BreakerOpen));
        assert_eq!(Instant::now(), before);
        // After the open period, one probe; it succeeds and the breaker closes.
        tokio::time::advance(Duration::from_secs(30)).await;
        let s = Script::new(vec![Some(Ok(9))]);
        assert_eq!(
            p.run(&h, p.deadline_from(s.t0), &no_jitter, s.op()).await,
            Ok(9)
        );
        assert!(!lock(&h).breaker.is_open(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_is_not_retried() {
        let p = policy();
        let h = health();
        {
            let mut g = lock(&h);
            for _ in 0..5 {
                g.breaker.on_failure(&unreachable(), Instant::now(), 0.0);
            }
        }
        tokio::time::advance(Duration::from_secs(30)).await;
        let s = Script::new(vec![Some(Err(unreachable())), Some(Ok(1))]);
        let e = p
            .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
            .await
            .unwrap_err();
        assert_eq!((e.attempts, e.gave_up), (1, GiveUp::BreakerOpen));
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_stops_retries_in_an_outage() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..policy()
        };
        let h = Mutex::new(Health {
            // A breaker that never opens isolates the throttle.
            breaker: CircuitBreaker::new(u32::MAX, Duration::from_secs(30)),
            ..Health::from_config(&ResilienceConfig::default())
        });
        let mut attempts = Vec::new();
        for _ in 0..4 {
            let s = Script::new(vec![Some(Err(busy(None))); 3]);
            let e = p
                .run(&h, p.deadline_from(s.t0), &no_jitter, s.op())
                .await
                .unwrap_err();
            attempts.push(e.attempts);
        }
        // 10 tokens: 3 + 2 (at 5 left, retries stop) + 1 + 1.
        assert_eq!(attempts, vec![3, 2, 1, 1]);
    }
}

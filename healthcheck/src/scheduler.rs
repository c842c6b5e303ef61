//! The pure check scheduler: when to probe, which probes may run, and what the results
//! mean (rise/fall, retries, dynamic weights).
//!
//! It performs no I/O, reads no clock and uses no ambient randomness: `now` is passed in
//! and jitter comes from an injected RNG, so whole schedules run in virtual time in tests.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     wait until poll_timeout(), a probe result, or a subscribe/unsubscribe request
//!     handle_timeout(now) / handle_result(now, probe_id, outcome) / subscribe(now, spec)
//!     while let Some(req) = poll_start()  { run the probe described by req }
//!     while let Some(ev)  = poll_event()  { deliver the verdict }
//! }
//! ```
//!
//! Call [`Scheduler::poll_start`] and [`Scheduler::poll_event`] after **every** `handle_*`
//! or `subscribe`/`unsubscribe` call: a probe may start (a slot freed, a probe became due)
//! and verdicts may be ready. A probe started by `poll_start` is taken to start at the
//! `now` of the latest call, which is exact because a queued probe can only become
//! startable inside such a call.
//!
//! # Semantics
//!
//! - A check starts **down** when [`CheckTiming::alpha`] is set (keepalived's `alpha`),
//!   otherwise **up**. A down check goes up after `rise` consecutive successes; an up check
//!   goes down after `fall` consecutive failed checks.
//! - A failed probe is retried after `delay_before_retry`, up to `retry` times
//!   (keepalived's `retry` / `delay_before_retry`); only when every attempt failed does the
//!   check count as one failure. A success at any attempt is one success. As in
//!   keepalived, retries guard an **up** check (and the very first check) against a
//!   transient failure; a down check is not retried (that would only load a dead
//!   server), it is probed again after `down_interval`.
//! - The next probe is scheduled `interval` after a probe completes (`down_interval`
//!   while the check is down), ± `jitter`. With `warmup` the first probe waits a random
//!   delay in `[0, interval)` so that many checks configured at once spread out.
//! - A probe that produces no result within `timeout` counts as
//!   [`FailureReason::Timeout`]; a result arriving later is ignored and counted.
//! - **Shared probes**: subscriptions whose [`CheckSpec`] is identical (same checker key,
//!   same target, same timing) share one probe; every verdict fans out to each subscriber,
//!   in subscription order. The last unsubscribe removes the probe.
//! - **Concurrency cap**: at most `max_in_flight` probes run at once; due probes beyond
//!   that wait in a FIFO queue, and their lateness is reported in
//!   [`ProbeRequest::queued_for`] and [`SchedulerStats`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use ha_core::Instant;
use ha_core::rng::{BoxRng, RngCore, below};
use serde::{Deserialize, Serialize};

use crate::outcome::{CheckOutcome, FailureReason, Target, Weight};

/// Identity of a checker configuration, chosen by the caller: two subscriptions with the
/// same key (and target and timing) share one probe, so the key must capture everything
/// that makes a checker behave differently (type, URL, expected status, payload, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CheckerKey(pub String);

impl CheckerKey {
    /// A key from any string.
    pub fn new(key: impl Into<String>) -> Self {
        CheckerKey(key.into())
    }
}

impl fmt::Display for CheckerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Timing and counting parameters of one check.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckTiming {
    /// Time between the end of a check and the next one while up (keepalived's
    /// `delay_loop`).
    pub interval: Duration,
    /// Time between checks while down; `None` uses `interval`.
    pub down_interval: Option<Duration>,
    /// Longest a single probe may run (keepalived's `connect_timeout`).
    pub timeout: Duration,
    /// Consecutive successes that bring a down check up (at least 1).
    pub rise: u32,
    /// Consecutive failed checks that bring an up check down (at least 1).
    pub fall: u32,
    /// Extra attempts after a failed probe before the check counts as failed.
    pub retry: u32,
    /// Wait before each retry.
    pub delay_before_retry: Duration,
    /// Delay the first probe by a random time in `[0, interval)`.
    pub warmup: bool,
    /// Each interval is drawn uniformly in `[interval - jitter, interval + jitter]`
    /// (jitter is capped at half the interval).
    pub jitter: Duration,
    /// Start down and wait for successes (keepalived's `alpha`); otherwise start up.
    pub alpha: bool,
}

impl Default for CheckTiming {
    /// keepalived's defaults: 60 s loop, 5 s timeout, rise and fall 1, one retry after
    /// 1 s — except `retry`, which is 0 here (keepalived's default of 1 for TCP/HTTP can be
    /// set explicitly).
    fn default() -> Self {
        CheckTiming {
            interval: Duration::from_secs(60),
            down_interval: None,
            timeout: Duration::from_secs(5),
            rise: 1,
            fall: 1,
            retry: 0,
            delay_before_retry: Duration::from_secs(1),
            warmup: false,
            jitter: Duration::ZERO,
            alpha: false,
        }
    }
}

/// One requested check: what to run, against what, and how often.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckSpec {
    /// Which checker configuration to run.
    pub checker: CheckerKey,
    /// What to probe.
    pub target: Target,
    /// When to probe and how to count.
    pub timing: CheckTiming,
}

/// Scheduler-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// At most this many probes run at once; `None` is unlimited.
    pub max_in_flight: Option<NonZeroUsize>,
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u64);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// One subscriber's handle on a check (e.g. one real server of one virtual server).
    SubscriptionId
);
id_type!(
    /// One shared check (one probe schedule), possibly serving several subscriptions.
    CheckId
);
id_type!(
    /// One probe run; results are matched to runs by this id.
    ProbeId
);

/// A probe the driver must run now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// Report the result with this id.
    pub probe_id: ProbeId,
    /// The shared check this run belongs to.
    pub check: CheckId,
    /// Which checker to run.
    pub checker: CheckerKey,
    /// What to probe.
    pub target: Target,
    /// 0 for the first attempt, then 1.. for retries.
    pub attempt: u32,
    /// When the probe became due.
    pub due: Instant,
    /// How long after `due` it starts: waiting for a free slot, and the driver's timer
    /// lateness (the `now` of the call that started it minus `due`).
    pub queued_for: Duration,
    /// The scheduler counts the probe as timed out at this instant.
    pub deadline: Instant,
}

/// Health of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Healthy: the real server should receive traffic.
    Up,
    /// Unhealthy.
    Down,
}

/// Why a verdict event was emitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// The subscription is new: this is the check's current state.
    Initial,
    /// `rise` consecutive successes.
    Rise,
    /// `fall` consecutive failed checks; the reason of the last one.
    Fall(FailureReason),
    /// Still up, with a new dynamic weight.
    WeightChanged,
}

/// A verdict delivered to one subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictEvent {
    /// The subscriber.
    pub subscription: SubscriptionId,
    /// The shared check that produced it.
    pub check: CheckId,
    /// When the verdict was reached.
    pub at: Instant,
    /// The new health.
    pub health: Health,
    /// Why.
    pub cause: Cause,
    /// The latest dynamic weight reported by the check, if any.
    pub weight: Option<Weight>,
}

/// Counters, readable at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerStats {
    /// Probes handed out by `poll_start`.
    pub probes_started: u64,
    /// Probes that returned a result in time.
    pub results: u64,
    /// Probes that timed out in the scheduler.
    pub timeouts: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Failed attempts (retries included) by [`FailureReason::kind`].
    pub failures_by_kind: std::collections::BTreeMap<String, u64>,
    /// Results ignored because they came late, for an unknown probe, or for a removed
    /// check.
    pub ignored_results: u64,
    /// Probes that had to wait for a free slot.
    pub delayed_starts: u64,
    /// Sum of the time probes waited for a free slot.
    pub total_queue_delay: Duration,
    /// Longest time a probe waited for a free slot.
    pub max_queue_delay: Duration,
    /// Longest the queue has been.
    pub max_queue_len: usize,
    /// Distribution of start lateness (`now` of the starting call minus the due time) over
    /// every started probe: the driver's timer lateness plus any wait for a free slot.
    #[serde(default)]
    pub start_lateness: LatenessHistogram,
}

/// Upper bounds, in microseconds, of the [`LatenessHistogram`] buckets (the last bucket
/// is unbounded).
pub const LATENESS_BUCKETS_US: [u64; 31] = [
    0, 10, 20, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000,
    7_500, 10_000, 15_000, 20_000, 30_000, 50_000, 75_000, 100_000, 200_000, 500_000, 1_000_000,
    2_000_000, 5_000_000, 10_000_000,
];

/// A fixed-bucket histogram of durations (bounds in [`LATENESS_BUCKETS_US`], plus one
/// unbounded bucket), cheap enough to update on every probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatenessHistogram {
    /// Count per bucket; index `i` counts values `<= LATENESS_BUCKETS_US[i]` and above the
    /// previous bound, the index past the last bound counts the rest. Empty until the first
    /// value.
    pub counts: Vec<u64>,
    /// The largest value recorded.
    pub max: Duration,
}

impl LatenessHistogram {
    /// Records one value.
    pub fn record(&mut self, d: Duration) {
        if self.counts.len() != LATENESS_BUCKETS_US.len() + 1 {
            self.counts = vec![0; LATENESS_BUCKETS_US.len() + 1];
        }
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = LATENESS_BUCKETS_US.partition_point(|&b| b < us);
        self.counts[i] += 1;
        self.max = self.max.max(d);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// An upper bound of the `q` quantile (`0.0..=1.0`): the bound of the bucket holding
    /// it, or [`LatenessHistogram::max`] for the unbounded bucket. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(match LATENESS_BUCKETS_US.get(i) {
                    Some(&b) => Duration::from_micros(b).min(self.max),
                    None => self.max,
                });
            }
        }
        Some(self.max)
    }
}

/// A read-only view of one check's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatus {
    /// The shared check.
    pub check: CheckId,
    /// Its configuration.
    pub spec: CheckSpec,
    /// Current health.
    pub health: Health,
    /// Consecutive successes so far.
    pub successes: u32,
    /// Consecutive failed checks so far.
    pub failures: u32,
    /// Latest dynamic weight.
    pub weight: Option<Weight>,
    /// Reason of the latest failed attempt, cleared by a success.
    pub last_failure: Option<FailureReason>,
    /// Number of subscribers.
    pub subscribers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Deadline(ProbeId),
    Due(CheckId),
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Waiting {
        at: Instant,
        attempt: u32,
    },
    Queued {
        due: Instant,
        attempt: u32,
        seq: u64,
    },
    Running {
        probe: ProbeId,
        attempt: u32,
    },
}

struct Check {
    spec: CheckSpec,
    subscribers: BTreeSet<SubscriptionId>,
    health: Health,
    successes: u32,
    failures: u32,
    weight: Option<Weight>,
    last_failure: Option<FailureReason>,
    /// Whether any check has completed (keepalived retries before the first verdict too).
    has_run: bool,
    phase: Phase,
}

struct InFlight {
    check: CheckId,
    deadline: Instant,
}

/// The pure check scheduler. See the [module documentation](self).
pub struct Scheduler {
    config: SchedulerConfig,
    rng: BoxRng,
    now: Instant,
    next_id: u64,
    next_seq: u64,
    checks: HashMap<CheckId, Check>,
    by_spec: HashMap<CheckSpec, CheckId>,
    subs: HashMap<SubscriptionId, CheckId>,
    timers: BTreeSet<(Instant, Timer)>,
    queue: VecDeque<(CheckId, u64)>,
    in_flight: HashMap<ProbeId, InFlight>,
    events: VecDeque<VerdictEvent>,
    stats: SchedulerStats,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("now", &self.now)
            .field("checks", &self.checks.len())
            .field("in_flight", &self.in_flight.len())
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler with `config`, drawing warmup and jitter from `rng`
    /// (e.g. [`ha_core::rng::seeded`]).
    pub fn new(config: SchedulerConfig, rng: impl RngCore + Send + 'static) -> Self {
        Scheduler {
            config,
            rng: Box::new(rng),
            now: Instant::ZERO,
            next_id: 1,
            next_seq: 0,
            checks: HashMap::new(),
            by_spec: HashMap::new(),
            subs: HashMap::new(),
            timers: BTreeSet::new(),
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            events: VecDeque::new(),
            stats: SchedulerStats::default(),
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Subscribes to a check. If an identical check already exists, the subscription
    /// shares its probe; otherwise a new check is created and its first probe scheduled.
    /// Either way an [`Cause::Initial`] event with the current health is queued for the
    /// new subscriber.
    pub fn subscribe(&mut self, now: Instant, spec: CheckSpec) -> SubscriptionId {
        self.advance(now);
        let sub = SubscriptionId(self.fresh_id());
        let check_id = match self.by_spec.get(&spec) {
            Some(&id) => id,
            None => {
                let id = CheckId(self.fresh_id());
                let first = if spec.timing.warmup {
                    let nanos = u64::try_from(spec.timing.interval.as_nanos()).unwrap_or(u64::MAX);
                    self.now + Duration::from_nanos(below(&mut *self.rng, nanos))
                } else {
                    self.now
                };
                let health = if spec.timing.alpha {
                    Health::Down
                } else {
                    Health::Up
                };
                self.timers.insert((first, Timer::Due(id)));
                self.by_spec.insert(spec.clone(), id);
                self.checks.insert(
                    id,
                    Check {
                        spec,
                        subscribers: BTreeSet::new(),
                        health,
                        successes: 0,
                        failures: 0,
                        weight: None,
                        last_failure: None,
                        has_run: false,
                        phase: Phase::Waiting {
                            at: first,
                            attempt: 0,
                        },
                    },
                );
                id
            }
        };
        self.subs.insert(sub, check_id);
        if let Some(check) = self.checks.get_mut(&check_id) {
            check.subscribers.insert(sub);
            self.events.push_back(VerdictEvent {
                subscription: sub,
                check: check_id,
                at: self.now,
                health: check.health,
                cause: Cause::Initial,
                weight: check.weight,
            });
        }
        sub
    }

    /// Removes a subscription; returns whether it existed. The last subscriber's removal
    /// removes the check: its pending probe is dropped, and the result of a running probe
    /// is ignored (the run keeps its concurrency slot until it returns or times out).
    /// Undelivered events for the subscription are discarded.
    pub fn unsubscribe(&mut self, sub: SubscriptionId) -> bool {
        let Some(check_id) = self.subs.remove(&sub) else {
            return false;
        };
        self.events.retain(|e| e.subscription != sub);
        let Some(check) = self.checks.get_mut(&check_id) else {
            return true;
        };
        check.subscribers.remove(&sub);
        if check.subscribers.is_empty() {
            if let Some(check) = self.checks.remove(&check_id) {
                self.by_spec.remove(&check.spec);
                if let Phase::Waiting { at, .. } = check.phase {
                    self.timers.remove(&(at, Timer::Due(check_id)));
                }
            }
        }
        true
    }

    /// Makes a check's next probe due now (a runtime "check now" command). A check whose
    /// probe is already queued or running is left alone. Returns whether the check exists.
    pub fn probe_now(&mut self, now: Instant, check: CheckId) -> bool {
        self.advance(now);
        let now = self.now;
        let Some(c) = self.checks.get_mut(&check) else {
            return false;
        };
        if let Phase::Waiting { at, attempt } = c.phase {
            if at > now {
                self.timers.remove(&(at, Timer::Due(check)));
                c.phase = Phase::Waiting { at: now, attempt };
                self.timers.insert((now, Timer::Due(check)));
            }
        }
        true
    }

    /// The check a subscription belongs to.
    pub fn check_of(&self, sub: SubscriptionId) -> Option<CheckId> {
        self.subs.get(&sub).copied()
    }

    /// The state of a check.
    pub fn status(&self, check: CheckId) -> Option<CheckStatus> {
        self.checks.get(&check).map(|c| CheckStatus {
            check,
            spec: c.spec.clone(),
            health: c.health,
            successes: c.successes,
            failures: c.failures,
            weight: c.weight,
            last_failure: c.last_failure.clone(),
            subscribers: c.subscribers.len(),
        })
    }

    /// Number of distinct checks (probe schedules).
    pub fn check_count(&self) -> usize {
        self.checks.len()
    }

    /// Number of probes running (including orphans of removed checks).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Number of due probes waiting for a free slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Counters.
    pub fn stats(&self) -> &SchedulerStats {
        &self.stats
    }

    /// The next instant at which [`Scheduler::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Processes every timer due at or before `now`: due probes join the start queue and
    /// probes past their deadline count as [`FailureReason::Timeout`]. A call with nothing
    /// due is a harmless no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Due(check_id) => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    if let Some(check) = self.checks.get_mut(&check_id) {
                        if let Phase::Waiting { at, attempt } = check.phase {
                            check.phase = Phase::Queued {
                                due: at,
                                attempt,
                                seq,
                            };
                            self.queue.push_back((check_id, seq));
                            self.stats.max_queue_len =
                                self.stats.max_queue_len.max(self.queue.len());
                        }
                    }
                }
                Timer::Deadline(probe) => {
                    if let Some(run) = self.in_flight.remove(&probe) {
                        self.stats.timeouts += 1;
                        self.complete(
                            run.check,
                            probe,
                            CheckOutcome::Failure(FailureReason::Timeout),
                        );
                    }
                }
            }
        }
    }

    /// Hands out the next probe to run, if one is due and a slot is free. Call it until
    /// it returns `None` after every `handle_*` call.
    pub fn poll_start(&mut self) -> Option<ProbeRequest> {
        loop {
            if let Some(cap) = self.config.max_in_flight {
                if self.in_flight.len() >= cap.get() {
                    return None;
                }
            }
            let (check_id, seq) = self.queue.pop_front()?;
            let Some(check) = self.checks.get(&check_id) else {
                continue;
            };
            let Phase::Queued {
                due,
                attempt,
                seq: s,
            } = check.phase
            else {
                continue;
            };
            if s != seq {
                continue;
            }
            let probe = ProbeId(self.fresh_id());
            let check = self.checks.get_mut(&check_id)?;
            let deadline = self.now + check.spec.timing.timeout;
            check.phase = Phase::Running { probe, attempt };
            let queued_for = self.now.saturating_duration_since(due);
            self.in_flight.insert(
                probe,
                InFlight {
                    check: check_id,
                    deadline,
                },
            );
            self.timers.insert((deadline, Timer::Deadline(probe)));
            self.stats.probes_started += 1;
            self.stats.start_lateness.record(queued_for);
            if !queued_for.is_zero() {
                self.stats.delayed_starts += 1;
                self.stats.total_queue_delay += queued_for;
                self.stats.max_queue_delay = self.stats.max_queue_delay.max(queued_for);
            }
            return Some(ProbeRequest {
                probe_id: probe,
                check: check_id,
                checker: check.spec.checker.clone(),
                target: check.spec.target,
                attempt,
                due,
                queued_for,
                deadline,
            });
        }
    }

    /// Reports the outcome of a probe handed out by [`Scheduler::poll_start`]. Results for
    /// unknown, timed-out or removed probes are ignored and counted.
    pub fn handle_result(&mut self, now: Instant, probe: ProbeId, outcome: CheckOutcome) {
        self.advance(now);
        let Some(run) = self.in_flight.remove(&probe) else {
            self.stats.ignored_results += 1;
            return;
        };
        self.timers.remove(&(run.deadline, Timer::Deadline(probe)));
        if !self.checks.contains_key(&run.check) {
            self.stats.ignored_results += 1;
            return;
        }
        self.stats.results += 1;
        self.complete(run.check, probe, outcome);
    }

    /// Returns the next verdict, in the order verdicts were reached.
    pub fn poll_event(&mut self) -> Option<VerdictEvent> {
        self.events.pop_front()
    }

    fn jittered(&mut self, base: Duration, jitter: Duration) -> Duration {
        let j = jitter.min(base / 2);
        if j.is_zero() {
            return base;
        }
        let span = u64::try_from(j.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(2)
            .saturating_add(1);
        (base - j).saturating_add(Duration::from_nanos(below(&mut *self.rng, span)))
    }

    fn complete(&mut self, check_id: CheckId, probe: ProbeId, outcome: CheckOutcome) {
        let now = self.now;
        let Some(check) = self.checks.get(&check_id) else {
            return;
        };
        let Phase::Running { probe: p, attempt } = check.phase else {
            return;
        };
        if p != probe {
            return;
        }
        let timing = check.spec.timing.clone();
        if let CheckOutcome::Failure(r) = &outcome {
            *self
                .stats
                .failures_by_kind
                .entry(r.kind().to_string())
                .or_insert(0) += 1;
        }
        let Some(check) = self.checks.get(&check_id) else {
            return;
        };
        if let CheckOutcome::Failure(_) = outcome {
            if attempt < timing.retry && (check.health == Health::Up || !check.has_run) {
                let at = now + timing.delay_before_retry;
                if let Some(check) = self.checks.get_mut(&check_id) {
                    if let CheckOutcome::Failure(r) = &outcome {
                        check.last_failure = Some(r.clone());
                    }
                    check.phase = Phase::Waiting {
                        at,
                        attempt: attempt + 1,
                    };
                }
                self.stats.retries += 1;
                self.timers.insert((at, Timer::Due(check_id)));
                return;
            }
        }
        let Some(check) = self.checks.get_mut(&check_id) else {
            return;
        };
        check.has_run = true;
        let emit = match outcome {
            CheckOutcome::Success { weight } => {
                check.successes = check.successes.saturating_add(1);
                check.failures = 0;
                check.last_failure = None;
                let changed = check.weight != weight;
                check.weight = weight;
                if check.health == Health::Down && check.successes >= timing.rise.max(1) {
                    check.health = Health::Up;
                    Some(Cause::Rise)
                } else if check.health == Health::Up && changed {
                    Some(Cause::WeightChanged)
                } else {
                    None
                }
            }
            CheckOutcome::Failure(reason) => {
                check.failures = check.failures.saturating_add(1);
                check.successes = 0;
                check.last_failure = Some(reason.clone());
                if check.health == Health::Up && check.failures >= timing.fall.max(1) {
                    check.health = Health::Down;
                    Some(Cause::Fall(reason))
                } else {
                    None
                }
            }
        };
        let health = check.health;
        let weight = check.weight;
        if let Some(cause) = emit {
            for &sub in &check.subscribers {
                self.events.push_back(VerdictEvent {
                    subscription: sub,
                    check: check_id,
                    at: now,
                    health,
                    cause: cause.clone(),
                    weight,
                });
            }
        }
        let base = match health {
            Health::Up => timing.interval,
            Health::Down => timing.down_interval.unwrap_or(timing.interval),
        };
        let at = now + self.jittered(base, timing.jitter);
        if let Some(check) = self.checks.get_mut(&check_id) {
            check.phase = Phase::Waiting { at, attempt: 0 };
        }
        self.timers.insert((at, Timer::Due(check_id)));
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;

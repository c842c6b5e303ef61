//! A thin tokio runner that drives the [`Scheduler`] in real time.
//!
//! ```text
//! loop {
//!     if deadline <= now { handle_timeout(now) }      // compared by us, not by tokio
//!     start every probe poll_start() hands out (a task each, bounded by its deadline)
//!     forward every poll_event() to the event stream
//!     select! { command, probe result, sleep_until(deadline) }
//! }
//! ```
//!
//! [`Runner::run`] is a future the application awaits or spawns. It spawns one task per
//! probe, aborted (and so cancelled) when the runner stops. Commands go in through a
//! cloneable [`RunnerHandle`]; verdicts come out, in order, on an unbounded channel so the
//! scheduler never blocks on a slow consumer.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ha_healthcheck::checker::FnChecker;
//! use ha_healthcheck::runner::Runner;
//! use ha_healthcheck::*;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (runner, handle, mut verdicts) = Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
//! let task = tokio::spawn(runner.run());
//! let spec = CheckSpec {
//!     checker: CheckerKey::new("always-ok"),
//!     target: Target::new("127.0.0.1:80".parse().unwrap()),
//!     timing: CheckTiming { interval: Duration::from_millis(10), ..CheckTiming::default() },
//! };
//! let checker = Arc::new(FnChecker(|_t| async { CheckOutcome::OK }));
//! let sub = handle.subscribe(spec, checker).await.unwrap();
//! let first = verdicts.recv().await.unwrap();
//! assert_eq!((first.subscription, first.health), (sub, Health::Up));
//! handle.stop().await;
//! task.await.unwrap();
//! # });
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ha_core::rng::RngCore;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason};
use crate::scheduler::{
    CheckSpec, CheckStatus, CheckerKey, ProbeId, ProbeRequest, Scheduler, SchedulerConfig,
    SchedulerStats, SubscriptionId, VerdictEvent,
};
use ha_core::Instant;

/// The runner has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("health check runner stopped")]
pub struct RunnerStopped;

enum Command {
    Subscribe {
        spec: CheckSpec,
        checker: Arc<dyn Checker>,
        reply: oneshot::Sender<SubscriptionId>,
    },
    Unsubscribe {
        sub: SubscriptionId,
        reply: oneshot::Sender<bool>,
    },
    Status {
        sub: SubscriptionId,
        reply: oneshot::Sender<Option<CheckStatus>>,
    },
    Stats {
        reply: oneshot::Sender<SchedulerStats>,
    },
    ProbeNow {
        sub: SubscriptionId,
        reply: oneshot::Sender<bool>,
    },
    Stop,
}

/// Sends commands to a running [`Runner`]. Cheap to clone.
#[derive(Clone)]
pub struct RunnerHandle {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for RunnerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerHandle").finish_non_exhaustive()
    }
}

impl RunnerHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RunnerStopped> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| RunnerStopped)?;
        rx.await.map_err(|_| RunnerStopped)
    }

    /// Subscribes to a check run by `checker`. Subscriptions with an identical `spec`
    /// share one probe; the first subscription's checker serves a given
    /// [`CheckerKey`] while any subscription with that key remains.
    pub async fn subscribe(
        &self,
        spec: CheckSpec,
        checker: Arc<dyn Checker>,
    ) -> Result<SubscriptionId, RunnerStopped> {
        self.ask(|reply| Command::Subscribe {
            spec,
            checker,
            reply,
        })
        .await
    }

    /// Removes a subscription; `Ok(false)` if it did not exist.
    pub async fn unsubscribe(&self, sub: SubscriptionId) -> Result<bool, RunnerStopped> {
        self.ask(|reply| Command::Unsubscribe { sub, reply }).await
    }

    /// The state of the check behind a subscription.
    pub async fn status(&self, sub: SubscriptionId) -> Result<Option<CheckStatus>, RunnerStopped> {
        self.ask(|reply| Command::Status { sub, reply }).await
    }

    /// The scheduler's counters.
    pub async fn stats(&self) -> Result<SchedulerStats, RunnerStopped> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Probes the check behind `sub` now instead of at its next interval; `Ok(false)` if
    /// the subscription does not exist.
    pub async fn probe_now(&self, sub: SubscriptionId) -> Result<bool, RunnerStopped> {
        self.ask(|reply| Command::ProbeNow { sub, reply }).await
    }

    /// Stops the runner (running probes are cancelled). Returns once the request is
    /// queued, or at once if the runner already stopped.
    pub async fn stop(&self) {
        let _ = self.tx.send(Command::Stop).await;
    }
}

/// Drives a [`Scheduler`] on tokio. See the [module documentation](self).
pub struct Runner {
    sched: Scheduler,
    checkers: HashMap<CheckerKey, (Arc<dyn Checker>, usize)>,
    sub_keys: HashMap<SubscriptionId, CheckerKey>,
    rx: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<VerdictEvent>,
    epoch: tokio::time::Instant,
    tasks: JoinSet<(ProbeId, CheckOutcome)>,
    task_probe: HashMap<tokio::task::Id, ProbeId>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("sched", &self.sched)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner over a new scheduler, its handle, and the verdict stream.
    pub fn new(
        config: SchedulerConfig,
        rng: impl RngCore + Send + 'static,
    ) -> (Runner, RunnerHandle, mpsc::UnboundedReceiver<VerdictEvent>) {
        Self::with_scheduler(Scheduler::new(config, rng))
    }

    /// A runner over an existing (empty) scheduler. Its time origin is now.
    pub fn with_scheduler(
        sched: Scheduler,
    ) -> (Runner, RunnerHandle, mpsc::UnboundedReceiver<VerdictEvent>) {
        let (tx, rx) = mpsc::channel(64);
        let (etx, erx) = mpsc::unbounded_channel();
        let runner = Runner {
            sched,
            checkers: HashMap::new(),
            sub_keys: HashMap::new(),
            rx,
            events: etx,
            epoch: tokio::time::Instant::now(),
            tasks: JoinSet::new(),
            task_probe: HashMap::new(),
        };
        (runner, RunnerHandle { tx }, erx)
    }

    fn now(&self) -> Instant {
        Instant::from_duration(tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }

    fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        // About 30 years stands in for "never" when a deadline is not representable.
        self.epoch
            .checked_add(t.since_epoch())
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(30 * 365 * 86_400))
    }

    fn start(&mut self, req: ProbeRequest) {
        let Some((checker, _)) = self.checkers.get(&req.checker) else {
            // Unreachable in practice: a checker stays registered while its key has
            // subscribers. Report it rather than leave the probe hanging.
            let now = self.now();
            self.sched.handle_result(
                now,
                req.probe_id,
                CheckOutcome::Failure(FailureReason::Io("no checker registered".into())),
            );
            return;
        };
        let checker = Arc::clone(checker);
        let deadline = self.to_tokio(req.deadline);
        let probe = req.probe_id;
        let target = req.target;
        let handle = self.tasks.spawn(async move {
            let outcome = match tokio::time::timeout_at(deadline, checker.check(&target)).await {
                Ok(o) => o,
                Err(_) => CheckOutcome::Failure(FailureReason::Timeout),
            };
            (probe, outcome)
        });
        self.task_probe.insert(handle.id(), probe);
    }

    fn flush(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(req) = self.sched.poll_start() {
                progressed = true;
                self.start(req);
            }
            while let Some(ev) = self.sched.poll_event() {
                // A dropped receiver only means nobody listens any more.
                let _ = self.events.send(ev);
            }
            if !progressed {
                break;
            }
        }
    }

    fn command(&mut self, cmd: Command) -> bool {
        let now = self.now();
        match cmd {
            Command::Subscribe {
                spec,
                checker,
                reply,
            } => {
                let key = spec.checker.clone();
                let entry = self.checkers.entry(key.clone()).or_insert((checker, 0));
                entry.1 += 1;
                let sub = self.sched.subscribe(now, spec);
                self.sub_keys.insert(sub, key);
                let _ = reply.send(sub);
            }
            Command::Unsubscribe { sub, reply } => {
                let existed = self.sched.unsubscribe(sub);
                if let Some(key) = self.sub_keys.remove(&sub) {
                    if let Some(entry) = self.checkers.get_mut(&key) {
                        entry.1 = entry.1.saturating_sub(1);
                        if entry.1 == 0 {
                            self.checkers.remove(&key);
                        }
                    }
                }
                let _ = reply.send(existed);
            }
            Command::Status { sub, reply } => {
                let st = self.sched.check_of(sub).and_then(|c| self.sched.status(c));
                let _ = reply.send(st);
            }
            Command::Stats { reply } => {
                let _ = reply.send(self.sched.stats().clone());
            }
            Command::ProbeNow { sub, reply } => {
                let ok = match self.sched.check_of(sub) {
                    Some(c) => self.sched.probe_now(now, c),
                    None => false,
                };
                let _ = reply.send(ok);
            }
            Command::Stop => return false,
        }
        true
    }

    /// Runs until [`RunnerHandle::stop`] or until every handle is dropped, then cancels
    /// running probes and returns the scheduler.
    pub async fn run(mut self) -> Scheduler {
        loop {
            let now = self.now();
            if self.sched.poll_timeout().is_some_and(|d| d <= now) {
                self.sched.handle_timeout(now);
            }
            self.flush();
            let deadline = self.sched.poll_timeout().map(|d| self.to_tokio(d));
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => {
                        if !self.command(cmd) {
                            break;
                        }
                    }
                    None => break,
                },
                Some(res) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    let now = self.now();
                    match res {
                        Ok((id, (probe, outcome))) => {
                            self.task_probe.remove(&id);
                            self.sched.handle_result(now, probe, outcome);
                        }
                        Err(e) => {
                            if let Some(probe) = self.task_probe.remove(&e.id()) {
                                self.sched.handle_result(
                                    now,
                                    probe,
                                    CheckOutcome::Failure(FailureReason::Io("checker panicked".into())),
                                );
                            }
                        }
                    }
                }
                _ = sleep_until_opt(deadline) => {}
            }
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.sched
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

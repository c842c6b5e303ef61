//! The [`Checker`] trait: one probe of one target.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::outcome::{CheckOutcome, FailureReason, Target};

/// A health checker: runs one probe against a target and reports the outcome.
///
/// Implementations must not hang: each checker takes its own timeout and reports
/// [`FailureReason::Timeout`](crate::FailureReason::Timeout) when it expires; the runner
/// also bounds every probe by the scheduler's timeout and drops (cancels) the future when
/// it expires, so a checker must release its resources on drop (the MISC checker kills
/// the script's whole process group).
#[async_trait]
pub trait Checker: Send + Sync {
    /// Probes `target` once.
    async fn check(&self, target: &Target) -> CheckOutcome;
}

#[async_trait]
impl<C: Checker + ?Sized> Checker for Arc<C> {
    async fn check(&self, target: &Target) -> CheckOutcome {
        (**self).check(target).await
    }
}

#[async_trait]
impl<C: Checker + ?Sized> Checker for Box<C> {
    async fn check(&self, target: &Target) -> CheckOutcome {
        (**self).check(target).await
    }
}

/// A checker built from an async closure, handy for tests and for custom checks.
pub struct FnChecker<F>(pub F);

#[async_trait]
impl<F, Fut> Checker for FnChecker<F>
where
    F: Fn(Target) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = CheckOutcome> + Send,
{
    async fn check(&self, target: &Target) -> CheckOutcome {
        (self.0)(*target).await
    }
}

/// An external verdict input, for checks whose truth comes from another component rather
/// than from a probe: keepalived's `BFD_CHECK`, where a BFD session's state decides.
///
/// Clones share one verdict. The owner of the source calls [`ExternalVerdict::set`] on
/// every change (and, to skip the wait for the next interval, asks the runner to probe
/// the check now); the scheduler "probes" it like any checker, so `rise`, `fall` and the
/// fan-out to every subscriber apply as usual. Until the first report it is down.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use ha_healthcheck::checker::{Checker, ExternalVerdict};
/// use ha_healthcheck::CheckOutcome;
///
/// let bfd = ExternalVerdict::new("bfd:peer1");
/// let target = ha_healthcheck::Target::new("192.0.2.10:80".parse().unwrap());
/// assert!(matches!(bfd.check(&target).await, CheckOutcome::Failure(_)));
/// bfd.set(true);
/// assert!(matches!(bfd.check(&target).await, CheckOutcome::Success { .. }));
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct ExternalVerdict {
    name: Arc<str>,
    up: Arc<Mutex<Option<bool>>>,
}

impl ExternalVerdict {
    /// A verdict named after its source (used in failure reasons), down until set.
    pub fn new(name: &str) -> Self {
        ExternalVerdict {
            name: Arc::from(name),
            up: Arc::new(Mutex::new(None)),
        }
    }

    /// Reports the source's state.
    pub fn set(&self, up: bool) {
        // A poisoned lock only means a holder panicked; the bool inside is still valid.
        *self.up.lock().unwrap_or_else(|e| e.into_inner()) = Some(up);
    }

    /// The last reported state, `None` before the first report.
    pub fn get(&self) -> Option<bool> {
        *self.up.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Checker for ExternalVerdict {
    async fn check(&self, _target: &Target) -> CheckOutcome {
        match self.get() {
            Some(true) => CheckOutcome::Success { weight: None },
            Some(false) => {
                CheckOutcome::Failure(FailureReason::External(format!("{} is down", self.name)))
            }
            None => CheckOutcome::Failure(FailureReason::External(format!(
                "{} has not reported yet",
                self.name
            ))),
        }
    }
}

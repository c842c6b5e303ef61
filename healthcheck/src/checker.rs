//! The [`Checker`] trait: one probe of one target.

use std::sync::Arc;

use async_trait::async_trait;

use crate::outcome::{CheckOutcome, Target};

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

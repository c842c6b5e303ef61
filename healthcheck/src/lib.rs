//! Health checking for load-balanced real servers.
//!
//! - [`scheduler`]: the pure check scheduler — interval, timeout, rise/fall, retries,
//!   warmup and jitter, a separate interval while down, **one probe shared by every
//!   identical check**, and a global concurrency cap with a FIFO queue. No I/O; runs in
//!   virtual time.
//! - [`outcome`]: what a probe reports ([`CheckOutcome`], typed [`FailureReason`]).
//! - `Checker`, the async trait every checker implements, the checkers themselves and a
//!   tokio runner that drives the scheduler in real time (feature `tokio`, on by default).
//! - `config`: serde checker configuration; `keepalived`: the mapping of keepalived.conf
//!   checker blocks onto it, with located errors and warnings.
#![forbid(unsafe_code)]

pub mod outcome;
pub mod scheduler;

pub use outcome::{CheckOutcome, FailureReason, Target, Weight};
pub use scheduler::{
    Cause, CheckId, CheckSpec, CheckStatus, CheckTiming, CheckerKey, Health, LatenessHistogram,
    ProbeId, ProbeRequest, Scheduler, SchedulerConfig, SchedulerStats, SubscriptionId,
    VerdictEvent,
};

pub mod checker;
#[cfg(feature = "tokio")]
pub mod runner;

#[cfg(feature = "tokio")]
pub mod checkers;
#[cfg(feature = "tokio")]
pub mod config;
#[cfg(feature = "tokio")]
pub mod keepalived;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api;

pub use checker::{Checker, ExternalVerdict};

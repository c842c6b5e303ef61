//! Shared vocabulary of the `ha-rs` crate family.
//!
//! - [`Endpoint`]: the sans-I/O contract every protocol core (VRRP router, BFD engine)
//!   implements — packets, commands and timeouts in; transmits, events and the next
//!   deadline out; `now` always passed in.
//! - [`Instant`]: time as a plain value, so cores run equally in virtual and real time.
//! - [`TimerTable`]: deadlines as data.
//! - [`track`]: keepalived's tracking model (weights, `reverse`, FAULT on weight 0).
//! - [`rng`]: injected, seedable randomness.
//! - [`conf`]: the keepalived.conf grammar (blocks, includes, parameters, conditionals,
//!   sequences) as a tree with `file:line:col` spans; each crate maps its own sections.
//! - [`sim`]: a deterministic network simulator for whole clusters — for our tests and
//!   for yours.
//! - [`driver`] (feature `tokio`): runs any endpoint over an async packet I/O on tokio.
//! - `testbed` (feature `testbed`, Linux, root): network-namespace labs for privileged
//!   tests against real kernels and reference peers.
#![forbid(unsafe_code)]

pub mod conf;
pub mod endpoint;
pub mod rng;
pub mod sim;
pub mod time;
pub mod timer;
pub mod track;

#[cfg(feature = "tokio")]
pub mod driver;
#[cfg(all(feature = "testbed", target_os = "linux"))]
pub mod testbed;

pub use endpoint::{Cast, Endpoint, IfIndex, Input, RecvMeta, Transmit};
pub use time::Instant;
pub use timer::TimerTable;

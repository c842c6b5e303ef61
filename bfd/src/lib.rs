//! Bidirectional Forwarding Detection (RFC 5880, 5881, 5883) for Rust, sans-I/O.
//!
//! - [`packet`]: the Control packet codec — a checked zero-copy view ([`Packet`]) and a
//!   parsed representation ([`ControlPacket`]) with `parse` / `emit` / `buffer_len`.
//! - [`auth`]: all five authentication types (simple password, keyed and meticulous keyed
//!   MD5 and SHA1), key rings for hitless key rotation, sequence-number rules.
//! - [`Engine`]: many sessions behind one [`ha_core::Endpoint`] — the RFC 5880 state
//!   machine with diagnostics, Poll/Final timer changes, jittered transmission, detection,
//!   AdminDown, the passive role, a peer's Demand mode, single hop and multihop, IPv4 and
//!   IPv6. It never reads a clock, touches a socket or uses ambient randomness.
//! - [`keepalived`]: the mapping of keepalived.conf's `bfd_instance` blocks onto
//!   [`SessionConfig`]s.
//! - [`DropCounters`]: every discarded packet is counted under one [`DropReason`].
//! - [`scheduling`]: how the engine's thread is scheduled (real-time priority, nice value,
//!   CPU affinity), as data; `linux::apply_scheduling` applies it.
//! - `linux` (feature `linux`, on by default): UDP sockets for the engine under the
//!   ha-core tokio driver, with received TTL / destination via `recvmsg` control
//!   messages and a TTL floor per socket (255 for single hop).
//!
//! # Unsafe code
//!
//! The crate is `#![deny(unsafe_code)]`. The single exception is the private
//! `linux::sys` module (`#[allow(unsafe_code)]`), a small wrapper around `setsockopt`,
//! `recvmmsg` with ancillary data and `sched_setscheduler`; each `unsafe` block there
//! states why it is sound.
//! Without the `linux` feature the crate contains no unsafe code.
//!
//! The engine only produces and consumes UDP payloads with their addressing
//! ([`ha_core::RecvMeta`], [`ha_core::Transmit`]); the socket layer must send with the
//! TTL and ports each [`Transmit`](ha_core::Transmit) names and report the received TTL /
//! hop limit, which the engine checks (255 for single hop, RFC 5881 section 5).
//!
//! # Example
//!
//! Create an engine, add a session, and run it against a peer's packets:
//!
//! ```
//! use std::time::Duration;
//! use ha_bfd::auth::{AuthKey, AuthType, KeyRing};
//! use ha_bfd::{Command, Engine, Event, SessionConfig, SessionId, State};
//! use ha_core::{Endpoint, Instant};
//!
//! let mut engine = Engine::new(ha_core::rng::seeded(7));
//! let mut config = SessionConfig::single_hop(
//!     SessionId(1),
//!     "2001:db8::1".parse().unwrap(),
//!     "2001:db8::2".parse().unwrap(),
//! );
//! config.desired_min_tx = Duration::from_millis(100);
//! config.required_min_rx = Duration::from_millis(100);
//! config.auth = Some(KeyRing::new(AuthType::MeticulousKeyedSha1, AuthKey::new(1, "s3cret"))?);
//! engine.handle_command(Instant::ZERO, Command::AddSession { config });
//!
//! while let Some(event) = engine.poll_event() {
//!     if let Event::StateChanged(change) = event {
//!         println!("{} is now {} ({:?})", change.session, change.to, change.diagnostic);
//!     }
//! }
//! assert_eq!(engine.session(SessionId(1)).unwrap().state, State::Down);
//! # Ok::<(), ha_bfd::auth::KeyError>(())
//! ```
//!
//! # Conformance notes
//!
//! - The Echo function is not implemented: Required Min Echo RX Interval is sent as 0.
//! - Demand mode is never requested (the D bit is sent clear), but a peer's request is
//!   honoured: periodic packets stop while both ends are Up (RFC 5880 section 6.6).
//! - A state change is signalled with an extra packet as early as the transmit interval
//!   allows (never closer than 75 % of the interval to the previous packet), instead of
//!   waiting for the next periodic one. Finals answer Polls at once.
//! - Removing a session sends the peer one AdminDown packet, so the peer sees a planned
//!   shutdown (RFC 5882 section 3.2) rather than a failure.
//! - The sequence-number window of the keyed types is 3 × the Detect Mult carried by the
//!   received packet; our own sequence number advances with every packet for all digest
//!   types.
//! - [`Command`] values carry key rings, secrets included, so that a recorded run can be
//!   replayed: treat recorded traces as secret when authentication is used.
#![deny(unsafe_code)]

pub mod auth;
pub mod counters;
pub mod engine;
pub mod keepalived;
pub mod packet;
pub mod scheduling;
pub mod session;

#[cfg(feature = "linux")]
pub mod linux;

pub use counters::{DropCounters, DropReason};
pub use engine::{Command, CommandError, Engine, Event, StateChange};
pub use packet::{ControlPacket, Diagnostic, Microseconds, Packet, ParseError, State};
pub use session::{Hop, SessionConfig, SessionId, SessionStatus};

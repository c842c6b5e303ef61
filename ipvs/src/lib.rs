//! IPVS (Linux Virtual Server) for Rust: the `IPVS` generic-netlink family, a backend
//! trait with an in-memory fake, a pure reconciler and a pure pool controller.
//!
//! - [`packet`]: the family's messages, bytes in and bytes out, on rust-netlink's
//!   `netlink-packet-core` 0.9 and `netlink-packet-generic` 0.5 (the set that
//!   `rtnetlink` 0.24 and `netlink-sys` 0.9 use; `netlink-packet-utils` is no longer
//!   needed since core 0.8 absorbed it). [`packet::frame`] frames whole netlink
//!   messages, including `NLMSG_ERROR` with extended-ACK text. Decoding is total and
//!   never panics.
//! - [`model`]: domain types with units — identity ([`model::ServiceKey`],
//!   [`model::DestinationKey`]) apart from configuration ([`model::Service`],
//!   [`model::Destination`]) apart from counters ([`model::ServiceStats`],
//!   [`model::DestStats`]) — and their conversion to and from the packet layer.
//! - [`backend`]: the async [`backend::IpvsBackend`] trait and its typed errors
//!   ([`backend::IpvsError`], [`backend::Errno`]).
//! - [`fake`]: [`fake::FakeIpvs`], an in-memory table that fails like the kernel does.
//! - [`reconcile`]: desired vs actual → minimal ordered operations, with optional
//!   graceful drain.
//! - [`ipvsadm`]: the `ipvsadm -S` / `-R` rule format, written and read.
//! - [`keepalived`]: keepalived.conf's `virtual_server`, `virtual_server_group` and
//!   `lvs_*` global keywords mapped onto pools, sync daemon and timeouts.
//! - [`pool`]: health verdicts → desired service, with quorum, hysteresis, sorry server,
//!   inhibit-on-failure, alpha, omega and slow start.
//!
//! - [`client`] (feature `linux`, default): `IpvsClient`, the kernel backend on a
//!   `NETLINK_GENERIC` socket with one deadline per request.
//!
//! This library never loads kernel modules: when `ip_vs` is not loaded the family is
//! absent and the netlink backend reports [`backend::IpvsError::FamilyNotFound`].
//!
//! # Example
//!
//! Health verdicts drive the pool controller, whose desired state the reconciler turns
//! into operations for a backend (here the fake; [`client::IpvsClient`] for the kernel):
//!
//! ```
//! use ha_core::Instant;
//! use ha_ipvs::model::{Destination, ForwardMethod, Protocol, Scheduler, Service, ServiceKey};
//! use ha_ipvs::pool::{PoolConfig, PoolController, RealServer, Verdict};
//! use ha_ipvs::reconcile::{Reconciler, apply};
//! use ha_ipvs::{FakeIpvs, IpvsBackend};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let service = Service::new(
//!     ServiceKey::Addr { addr: "192.0.2.1".parse()?, protocol: Protocol::Tcp, port: 80 },
//!     Scheduler::Wrr,
//! );
//! let web = |ip: &str| RealServer {
//!     dest: Destination::new(ip.parse().unwrap(), 80, ForwardMethod::DirectRoute),
//!     inhibit_on_failure: false,
//! };
//! let mut pool = PoolController::new(PoolConfig::new(service, vec![web("10.0.0.1"), web("10.0.0.2")]))?;
//! let backend = FakeIpvs::new();
//! let mut reconciler = Reconciler::new(None);
//!
//! let now = Instant::from_secs(1);
//! pool.set_verdict(now, &web("10.0.0.2").dest.key, Verdict::DOWN)?;
//! while let Some(event) = pool.poll_event() {
//!     println!("{event:?}"); // RealServerDown(..)
//! }
//! let desired: Vec<_> = pool.desired(now).into_iter().collect();
//! let plan = reconciler.plan(now, &desired, &backend.dump().await?);
//! apply(&backend, &plan.ops).await?;
//! assert_eq!(backend.dump().await?.services[0].dests.len(), 1);
//! # Ok(())
//! # }
//! # let mut f = std::pin::pin!(run());
//! # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! # assert!(matches!(f.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(()))));
//! ```
#![forbid(unsafe_code)]

pub mod backend;
#[cfg(feature = "linux")]
pub mod client;
pub mod fake;
pub mod ipvsadm;
pub mod keepalived;
pub mod model;
pub mod packet;
pub mod pool;
pub mod reconcile;

pub use backend::{Errno, IpvsBackend, IpvsError};
pub use fake::FakeIpvs;
pub use model::{
    DestStats, Destination, DestinationKey, Family, ForwardMethod, Protocol, Scheduler, Service,
    ServiceKey, ServiceStats, Snapshot,
};
pub use packet::{IpvsAttr, IpvsCmd, IpvsMessage};
pub use pool::{PoolConfig, PoolController, PoolEvent, RealServer, Verdict};
pub use reconcile::{DesiredService, Op, Plan, Reconciler};

//! VRRP version 2 (RFC 3768) and version 3 (RFC 5798 / RFC 9568) for Rust.
//!
//! - [`types`]: VRIDs, priorities and [`Centiseconds`] — units in types;
//! - the **codec**: checked views and parsed representations of VRRPv2/v3 advertisements
//!   over IPv4 and IPv6, checksums (including the VRRPv3 IPv4 pseudo-header choice),
//!   simple-password and IPSEC-AH authentication, with typed errors and drop counters;
//! - the **router**: a sans-I/O state machine implementing [`ha_core::Endpoint`];
//! - **sync groups** with keepalived's semantics;
//! - [`routes`]: virtual and static routes, rules and addresses (keepalived's
//!   `virtual_routes`, `virtual_rules`, `static_*`) as domain types.
//!
//! - [`linux`] (feature `linux`, on by default): raw VRRP sockets, VIPs over rtnetlink,
//!   gratuitous ARP / NA, VMAC, interface tracking and an `Instance` runner on tokio,
//!   tested against keepalived 2.2.7 in network namespaces. Without the feature the crate
//!   is the pure core, free of I/O.
//!
//! `unsafe` is denied in the whole crate except one small module of the Linux adapter
//! that wraps `recvmsg` with IPv6 ancillary data (see [`linux`]).
//!
//! [`keepalived`] maps keepalived.conf's VRRP sections (`vrrp_instance`,
//! `vrrp_sync_group`, `vrrp_script`, `static_*`); `linux::instance_configs` and
//! `linux::InstanceSet` run the result.
#![deny(unsafe_code)]

pub mod ah;
pub mod config;
pub mod counters;
pub mod host;
pub mod keepalived;
#[cfg(feature = "linux")]
pub mod linux;
pub mod packet;
pub mod router;
pub mod routes;
pub mod sim;
pub mod sync;
pub mod types;

pub use config::{
    AddressMismatchPolicy, AuthConfig, ConfigError, GarpConfig, InitialState, RouterConfig,
    TrackConfig,
};
pub use counters::{DropCounters, DropReason};
pub use host::{Host, HostCommand, HostConfig, HostConfigError, HostEvent};
pub use packet::{
    Advertisement, Auth, ChecksumMode, ChecksumPolicy, DecodeError, EncodeError, IpContext,
};
pub use router::{Command, Event, GarpKind, Reason, Router, RouterStats, State};
pub use sync::{SyncGroup, SyncGroupConfig};
pub use types::{Centiseconds, Priority, Version, Vrid};

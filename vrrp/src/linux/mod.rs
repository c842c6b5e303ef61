//! The Linux adapter (feature `linux`, on by default): VRRP on real interfaces.
//!
//! - [`RawVrrpSocket`]: raw IPv4 / IPv6 sockets for IP protocol 112 implementing
//!   [`ha_core::driver::PacketIo`] (interface binding, group membership, TTL 255,
//!   receive metadata from the IPv4 header or IPv6 ancillary data);
//! - [`GarpSocket`]: gratuitous ARP and unsolicited neighbour advertisements over
//!   `AF_PACKET`, frames built with `etherparse`;
//! - [`Netlink`]: interface lookup, virtual-address, route and rule changes over
//!   rtnetlink, kernel errors as typed [`NetlinkError`]s; [`apply_static`] /
//!   [`remove_static`] for keepalived's `static_ipaddress`, `static_routes` and
//!   `static_rules`;
//! - VMAC ([`VmacConfig`]): a macvlan with the virtual MAC and keepalived's sysctls;
//! - [`LinkMonitor`]: link-state changes feeding tracked interfaces (`if:<name>`);
//! - [`Instance`]: ties them together around [`ha_core::driver::Driver`] and applies the
//!   router's events in order;
//! - [`InstanceSet`]: several instances with keepalived's sync groups, one ordered event
//!   stream, and instances added and removed at runtime.
//!
//! # Unsafe code
//!
//! The crate denies `unsafe` everywhere except the private `sys` module of this adapter,
//! which wraps `recvmsg` with `IPV6_PKTINFO` / `IPV6_HOPLIMIT` ancillary data, one
//! `setsockopt` and an `AF_PACKET` `bind` — the calls `socket2` does not offer. Each
//! `unsafe` block there carries a `SAFETY:` comment.
//!
//! # Privileges
//!
//! Raw and packet sockets need `CAP_NET_RAW`, address changes `CAP_NET_ADMIN`. Everything
//! acts in the network namespace of the calling thread.

mod config;
mod garp;
mod instance;
mod netlink;
mod routes;
pub mod set;
mod socket;
mod sys;
pub mod sysctl;

pub use config::instance_configs;
pub use garp::{GarpSocket, Mac, gratuitous_arp, unsolicited_na};
pub use instance::{
    Instance, InstanceConfig, InstanceError, InstanceEvent, InstanceHandle, VmacConfig,
    interface_object,
};
pub use netlink::{
    AddOutcome, InterfaceAddress, LinkChange, LinkInfo, LinkMonitor, Netlink, NetlinkError,
    RemoveOutcome,
};
pub use routes::{StaticFailure, apply_static, remove_static};
pub use set::{InstanceSet, InstanceSetError, InstanceSetHandle, SetEvent};
pub use socket::{
    Framing, IPPROTO_AH, IPPROTO_VRRP, Ipv4Meta, RawVrrpSocket, SocketCounters, SocketError,
    parse_ipv4_header,
};

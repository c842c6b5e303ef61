//! IPVS (Linux Virtual Server) for Rust.
//!
//! This crate will own:
//! - the **packet layer** for the `IPVS` generic-netlink family (services, destinations,
//!   sync daemons, timeouts, info, stats), pure bytes in and out;
//! - a **client** with per-request deadlines and typed kernel errors;
//! - an `IpvsBackend` trait with the netlink implementation and an in-memory fake;
//! - the pure **reconciler** (desired vs actual → minimal operations) and the pure
//!   **pool controller** (verdicts → desired state with quorum, sorry server, slow start);
//! - the mapping from keepalived.conf's `virtual_server` sections.
#![forbid(unsafe_code)]

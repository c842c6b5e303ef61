//! The [`IpvsBackend`] trait: what a program does with the IPVS table, whoever holds it
//! (the kernel over netlink, or [`crate::fake::FakeIpvs`] in tests), and the typed errors
//! both return.
//!
//! The trait is `async` (through `async-trait`, so it stays object-safe:
//! `Box<dyn IpvsBackend>`): a netlink request can hang, every request carries its own
//! deadline, and a daemon must not block its runtime thread while waiting for one. The
//! fake completes every future immediately, so tests can drive it with any executor
//! (even a no-op waker loop) and stay deterministic.

use crate::model::{
    Destination, DestinationKey, Info, ModelError, Service, ServiceKey, Snapshot, SyncDaemon,
    SyncState, Timeouts,
};
use crate::packet::PacketError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An error number returned by the kernel, with the names the IPVS code gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Errno {
    /// `EPERM` (1): missing `CAP_NET_ADMIN`.
    Perm,
    /// `ENOENT` (2): no such destination; unknown scheduler or persistence engine.
    NoEnt,
    /// `ESRCH` (3): no such service; sync daemon not running.
    Srch,
    /// `ENOMEM` (12).
    NoMem,
    /// `EBUSY` (16).
    Busy,
    /// `EEXIST` (17): service, destination or sync daemon already exists.
    Exist,
    /// `ENODEV` (19): no such interface (sync daemon).
    NoDev,
    /// `EINVAL` (22): malformed or inconsistent request.
    Inval,
    /// `ERANGE` (34): weight or thresholds out of range.
    Range,
    /// `EAFNOSUPPORT` (97): address family not supported.
    AfNoSupport,
    /// Any other number.
    Other(i32),
}

impl Errno {
    /// The errno for a positive error number.
    pub fn from_raw(n: i32) -> Errno {
        match n {
            1 => Errno::Perm,
            2 => Errno::NoEnt,
            3 => Errno::Srch,
            12 => Errno::NoMem,
            16 => Errno::Busy,
            17 => Errno::Exist,
            19 => Errno::NoDev,
            22 => Errno::Inval,
            34 => Errno::Range,
            97 => Errno::AfNoSupport,
            other => Errno::Other(other),
        }
    }

    /// The positive error number.
    pub fn raw(self) -> i32 {
        match self {
            Errno::Perm => 1,
            Errno::NoEnt => 2,
            Errno::Srch => 3,
            Errno::NoMem => 12,
            Errno::Busy => 16,
            Errno::Exist => 17,
            Errno::NoDev => 19,
            Errno::Inval => 22,
            Errno::Range => 34,
            Errno::AfNoSupport => 97,
            Errno::Other(n) => n,
        }
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Errno::Perm => "EPERM",
            Errno::NoEnt => "ENOENT",
            Errno::Srch => "ESRCH",
            Errno::NoMem => "ENOMEM",
            Errno::Busy => "EBUSY",
            Errno::Exist => "EEXIST",
            Errno::NoDev => "ENODEV",
            Errno::Inval => "EINVAL",
            Errno::Range => "ERANGE",
            Errno::AfNoSupport => "EAFNOSUPPORT",
            Errno::Other(n) => return write!(f, "errno {n}"),
        };
        f.write_str(name)
    }
}

/// Why an IPVS operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpvsError {
    /// The kernel (or the fake, in its place) refused the request.
    #[error("IPVS refused the request: {errno}{}", ext_ack.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel {
        /// The error number.
        errno: Errno,
        /// The extended-ACK message, if any.
        ext_ack: Option<String>,
    },
    /// The `IPVS` generic-netlink family is not registered: the `ip_vs` module is not
    /// loaded (this library never loads it).
    #[error("the IPVS generic netlink family is not registered (ip_vs not loaded)")]
    FamilyNotFound,
    /// No complete reply before the request's deadline; the socket has been reopened.
    #[error("IPVS request timed out after {0:?}")]
    Timeout(Duration),
    /// The table changed while it was being dumped (`NLM_F_DUMP_INTR`), even after
    /// retries: the dump is inconsistent and was discarded.
    #[error("IPVS dump interrupted by concurrent changes")]
    DumpInterrupted,
    /// A socket error.
    #[error("netlink socket error: {0}")]
    Io(String),
    /// A reply could not be decoded.
    #[error("malformed reply: {0}")]
    Packet(#[from] PacketError),
    /// A value could not be converted (request or reply).
    #[error("invalid value: {0}")]
    Model(#[from] ModelError),
    /// The reply does not answer the request (wrong command, missing parts).
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

impl IpvsError {
    /// A kernel error without extended-ACK text.
    pub fn kernel(errno: Errno) -> IpvsError {
        IpvsError::Kernel {
            errno,
            ext_ack: None,
        }
    }

    /// The kernel's error number, if the kernel refused the request.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// What can be done with an IPVS table. All methods take `&self`: implementations
/// serialise requests internally and never hold a lock across an await on I/O that the
/// caller does not own.
#[async_trait]
pub trait IpvsBackend: Send + Sync {
    /// Every service with its destinations and counters, in one dump.
    async fn dump(&self) -> Result<Snapshot, IpvsError>;
    /// Adds a service (`EEXIST` if it exists, `ENOENT` for an unknown scheduler or
    /// persistence engine, `EINVAL` for a bad IPv6 netmask).
    async fn add_service(&self, service: &Service) -> Result<(), IpvsError>;
    /// Changes a service's configuration (`ESRCH` if it does not exist).
    async fn edit_service(&self, service: &Service) -> Result<(), IpvsError>;
    /// Deletes a service and its destinations (`ESRCH` if it does not exist).
    async fn del_service(&self, key: &ServiceKey) -> Result<(), IpvsError>;
    /// Adds a destination (`ESRCH` without the service, `EEXIST` if it exists, `ERANGE`
    /// for a bad weight or thresholds, `EINVAL` for a GUE tunnel without port or a
    /// foreign-family destination that is not tunneled).
    async fn add_dest(&self, service: &ServiceKey, dest: &Destination) -> Result<(), IpvsError>;
    /// Changes a destination (`ENOENT` if it does not exist).
    async fn edit_dest(&self, service: &ServiceKey, dest: &Destination) -> Result<(), IpvsError>;
    /// Deletes a destination (`ENOENT` if it does not exist).
    async fn del_dest(&self, service: &ServiceKey, dest: &DestinationKey) -> Result<(), IpvsError>;
    /// Deletes every service.
    async fn flush(&self) -> Result<(), IpvsError>;
    /// Zeroes the counters of one service (`ESRCH` if absent), or of all.
    async fn zero(&self, service: Option<&ServiceKey>) -> Result<(), IpvsError>;
    /// The connection timeouts.
    async fn timeouts(&self) -> Result<Timeouts, IpvsError>;
    /// Sets the connection timeouts; zero values are left unchanged.
    async fn set_timeouts(&self, timeouts: &Timeouts) -> Result<(), IpvsError>;
    /// The running sync daemons.
    async fn daemons(&self) -> Result<Vec<SyncDaemon>, IpvsError>;
    /// Starts a sync daemon (`EEXIST` if one of that role runs).
    async fn start_daemon(&self, daemon: &SyncDaemon) -> Result<(), IpvsError>;
    /// Stops the sync daemon of a role (`ESRCH` if none runs).
    async fn stop_daemon(&self, state: SyncState) -> Result<(), IpvsError>;
    /// Version and connection table size.
    async fn info(&self) -> Result<Info, IpvsError>;
}

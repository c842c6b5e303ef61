//! Domain types: what a service and a destination *are* (identity and configuration),
//! kept apart from what the kernel *counts* about them (statistics), with units in the
//! types, and their conversion to and from the [packet layer](crate::packet).

use crate::packet::{
    self, AF_INET, AF_INET6, DaemonAttr, DestAttr, FlagsMask, IpvsAttr, IpvsCmd, IpvsMessage,
    NAME_MAXLEN, StatsAttr, SvcAttr,
};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Why a message could not be turned into a domain value, or a value into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A required attribute is missing.
    #[error("missing attribute {0}")]
    Missing(&'static str),
    /// An address family other than `AF_INET` / `AF_INET6`.
    #[error("unsupported address family {0}")]
    Family(u16),
    /// A protocol other than TCP, UDP, SCTP.
    #[error("unsupported protocol {0}")]
    Protocol(u16),
    /// A forwarding method number the kernel does not define.
    #[error("unknown forwarding method {0}")]
    ForwardMethod(u32),
    /// A tunnel type number the kernel does not define.
    #[error("unknown tunnel type {0}")]
    TunnelType(u8),
    /// A sync daemon state other than master / backup.
    #[error("unknown sync daemon state {0}")]
    DaemonState(u32),
    /// A value out of the range the kernel accepts.
    #[error("{what} out of range: {value}")]
    Range {
        /// What is out of range.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A name longer than the kernel allows, or empty.
    #[error("invalid name {0:?}")]
    Name(String),
    /// Address families that must agree do not.
    #[error("address family mismatch")]
    FamilyMismatch,
    /// A non-fwmark, non-persistent service with port 0 (only persistent services may
    /// match all ports), or a fwmark service with mark 0.
    #[error("port 0 is only valid for persistent services, mark 0 never")]
    ZeroPort,
    /// The message has an unexpected command.
    #[error("unexpected command {0:?}")]
    Command(IpvsCmd),
}

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The `AF_*` number.
    pub fn af(self) -> u16 {
        match self {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }

    /// The family for an `AF_*` number.
    pub fn from_af(af: u16) -> Result<Family, ModelError> {
        match af {
            AF_INET => Ok(Family::V4),
            AF_INET6 => Ok(Family::V6),
            other => Err(ModelError::Family(other)),
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// Transport protocol of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for a number.
    pub fn from_number(n: u16) -> Result<Protocol, ModelError> {
        match n {
            6 => Ok(Protocol::Tcp),
            17 => Ok(Protocol::Udp),
            132 => Ok(Protocol::Sctp),
            other => Err(ModelError::Protocol(other)),
        }
    }
}

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServiceKey {
    /// An address, protocol and port (port 0 = all ports, for persistent services).
    Addr {
        /// Virtual address; its family is the service's.
        addr: IpAddr,
        /// Protocol.
        protocol: Protocol,
        /// Port.
        port: u16,
    },
    /// A firewall mark, per address family.
    Fwmark {
        /// Address family.
        family: Family,
        /// The mark (non-zero).
        mark: u32,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The identifying attributes.
    pub fn to_attrs(&self) -> Vec<SvcAttr> {
        let mut v = vec![SvcAttr::Af(self.family().af())];
        match self {
            ServiceKey::Addr {
                addr,
                protocol,
                port,
            } => {
                v.push(SvcAttr::Protocol(protocol.number()));
                v.push(SvcAttr::Addr(addr16(addr)));
                v.push(SvcAttr::Port(*port));
            }
            ServiceKey::Fwmark { mark, .. } => v.push(SvcAttr::Fwmark(*mark)),
        }
        v
    }
}

/// A 16-byte address as the family carries it.
pub fn addr16(addr: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    b
}

/// Reads a 16-byte address in the given family.
pub fn addr_from16(family: Family, b: &[u8; 16]) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(*b)),
    }
}

/// A scheduler (`ip_vs_<name>` kernel module).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection (the kernel's default).
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing (flags: `sh-fallback`, `sh-port`).
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing (flags: `mh-fallback`, `mh-port`).
    Mh,
    /// Weighted random twos choice.
    Twos,
    /// No scheduler (`none`).
    None,
    /// Any other name.
    Other(String),
}

impl Scheduler {
    /// The built-in schedulers (not `None`, not `Other`).
    pub const BUILTIN: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The kernel's name.
    pub fn name(&self) -> &str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
            Scheduler::None => "none",
            Scheduler::Other(s) => s,
        }
    }

    /// The scheduler for a name.
    pub fn from_name(name: &str) -> Scheduler {
        Scheduler::BUILTIN
            .iter()
            .chain(std::iter::once(&Scheduler::None))
            .find(|s| s.name() == name)
            .cloned()
            .unwrap_or_else(|| Scheduler::Other(name.to_owned()))
    }
}

/// A persistence engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersistenceEngine {
    /// SIP Call-ID persistence (`sip`).
    Sip,
    /// Any other name.
    Other(String),
}

impl PersistenceEngine {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        match self {
            PersistenceEngine::Sip => "sip",
            PersistenceEngine::Other(s) => s,
        }
    }

    /// The engine for a name.
    pub fn from_name(name: &str) -> PersistenceEngine {
        if name == "sip" {
            PersistenceEngine::Sip
        } else {
            PersistenceEngine::Other(name.to_owned())
        }
    }
}

/// Service flags a user sets (the kernel-internal `hashed` flag is not one).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ServiceFlags {
    /// Persistent service (`-p`).
    pub persistent: bool,
    /// One-packet scheduling (`ops`, UDP).
    pub one_packet: bool,
    /// Scheduler flag 1: `sh-fallback` / `mh-fallback`.
    pub sched_fallback: bool,
    /// Scheduler flag 2: `sh-port` / `mh-port`.
    pub sched_port: bool,
    /// Scheduler flag 3.
    pub sched_flag3: bool,
}

impl ServiceFlags {
    /// Every flag this type carries.
    pub const MASK: u32 = packet::SVC_F_PERSISTENT
        | packet::SVC_F_ONEPACKET
        | packet::SVC_F_SCHED1
        | packet::SVC_F_SCHED2
        | packet::SVC_F_SCHED3;

    /// The flag bits.
    pub fn bits(self) -> u32 {
        let mut b = 0;
        for (on, bit) in [
            (self.persistent, packet::SVC_F_PERSISTENT),
            (self.one_packet, packet::SVC_F_ONEPACKET),
            (self.sched_fallback, packet::SVC_F_SCHED1),
            (self.sched_port, packet::SVC_F_SCHED2),
            (self.sched_flag3, packet::SVC_F_SCHED3),
        ] {
            if on {
                b |= bit;
            }
        }
        b
    }

    /// Flags from bits; unknown and kernel-internal bits are ignored.
    pub fn from_bits(b: u32) -> ServiceFlags {
        ServiceFlags {
            persistent: b & packet::SVC_F_PERSISTENT != 0,
            one_packet: b & packet::SVC_F_ONEPACKET != 0,
            sched_fallback: b & packet::SVC_F_SCHED1 != 0,
            sched_port: b & packet::SVC_F_SCHED2 != 0,
            sched_flag3: b & packet::SVC_F_SCHED3 != 0,
        }
    }
}

/// Persistence granularity: an IPv4 netmask, or an IPv6 prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Netmask {
    /// IPv4 netmask (`255.255.255.255` by default).
    V4(Ipv4Addr),
    /// IPv6 prefix length, 1..=128 (128 by default).
    V6(u8),
}

impl Netmask {
    /// The default for a family (one client address per persistence entry).
    pub fn host(family: Family) -> Netmask {
        match family {
            Family::V4 => Netmask::V4(Ipv4Addr::BROADCAST),
            Family::V6 => Netmask::V6(128),
        }
    }

    /// The family the netmask is for.
    pub fn family(&self) -> Family {
        match self {
            Netmask::V4(_) => Family::V4,
            Netmask::V6(_) => Family::V6,
        }
    }

    fn to_raw(self) -> u32 {
        match self {
            Netmask::V4(a) => u32::from_ne_bytes(a.octets()),
            Netmask::V6(p) => u32::from(p),
        }
    }

    fn from_raw(family: Family, raw: u32) -> Result<Netmask, ModelError> {
        Ok(match family {
            Family::V4 => Netmask::V4(Ipv4Addr::from(raw.to_ne_bytes())),
            Family::V6 => Netmask::V6(u8::try_from(raw).map_err(|_| ModelError::Range {
                what: "IPv6 persistence prefix length",
                value: u64::from(raw),
            })?),
        })
    }
}

/// A virtual service: identity and configuration (no counters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler.
    pub scheduler: Scheduler,
    /// Flags.
    pub flags: ServiceFlags,
    /// Persistence timeout (whole seconds on the wire; sub-second parts are dropped).
    pub timeout: Duration,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine.
    pub pe: Option<PersistenceEngine>,
}

impl Service {
    /// A non-persistent service with the given scheduler.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Service {
        Service {
            netmask: Netmask::host(key.family()),
            key,
            scheduler,
            flags: ServiceFlags::default(),
            timeout: Duration::ZERO,
            pe: None,
        }
    }

    /// Makes the service persistent with the given timeout.
    pub fn persistent(mut self, timeout: Duration) -> Service {
        self.flags.persistent = true;
        self.timeout = timeout;
        self
    }

    /// Checks the values the kernel would reject on its own terms (names, netmask family).
    pub fn validate(&self) -> Result<(), ModelError> {
        check_name(self.scheduler.name())?;
        if let Some(pe) = &self.pe {
            check_name(pe.name())?;
        }
        match self.key {
            ServiceKey::Addr { port: 0, .. } if !self.flags.persistent => {
                return Err(ModelError::ZeroPort);
            }
            ServiceKey::Fwmark { mark: 0, .. } => return Err(ModelError::ZeroPort),
            _ => {}
        }
        if self.netmask.family() != self.key.family() {
            return Err(ModelError::FamilyMismatch);
        }
        if u32::try_from(self.timeout.as_secs()).is_err() {
            return Err(ModelError::Range {
                what: "persistence timeout seconds",
                value: self.timeout.as_secs(),
            });
        }
        Ok(())
    }

    /// All attributes of a full service specification (for `NEW_SERVICE`/`SET_SERVICE`).
    pub fn to_attrs(&self) -> Result<Vec<SvcAttr>, ModelError> {
        self.validate()?;
        let mut v = self.key.to_attrs();
        v.push(SvcAttr::SchedName(self.scheduler.name().to_owned()));
        if let Some(pe) = &self.pe {
            v.push(SvcAttr::PeName(pe.name().to_owned()));
        }
        v.push(SvcAttr::Flags(FlagsMask {
            flags: self.flags.bits(),
            mask: ServiceFlags::MASK,
        }));
        v.push(SvcAttr::Timeout(self.timeout.as_secs() as u32));
        v.push(SvcAttr::Netmask(self.netmask.to_raw()));
        Ok(v)
    }

    /// A service and its counters from a service nest (dump or `GET_SERVICE` reply).
    pub fn from_attrs(attrs: &[SvcAttr]) -> Result<(Service, ServiceStats), ModelError> {
        let mut af = None;
        let (mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None);
        let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, 0, 0, None, None);
        let (mut s32, mut s64) = (None, None);
        for a in attrs {
            match a {
                SvcAttr::Af(v) => af = Some(*v),
                SvcAttr::Protocol(v) => proto = Some(*v),
                SvcAttr::Addr(v) => addr = Some(*v),
                SvcAttr::Port(v) => port = Some(*v),
                SvcAttr::Fwmark(v) => fwmark = Some(*v),
                SvcAttr::SchedName(s) => sched = Some(Scheduler::from_name(s)),
                SvcAttr::Flags(f) => flags = f.flags & f.mask,
                SvcAttr::Timeout(v) => timeout = *v,
                SvcAttr::Netmask(v) => netmask = Some(*v),
                SvcAttr::Stats(s) => s32 = Some(Stats::from_attrs(s)),
                SvcAttr::PeName(s) => pe = Some(PersistenceEngine::from_name(s)),
                SvcAttr::Stats64(s) => s64 = Some(Stats::from_attrs(s)),
                SvcAttr::Other(_) => {}
            }
        }
        let family = Family::from_af(af.ok_or(ModelError::Missing("SVC_AF"))?)?;
        let key = match fwmark {
            Some(mark) if mark != 0 => ServiceKey::Fwmark { family, mark },
            _ => ServiceKey::Addr {
                addr: addr_from16(family, &addr.ok_or(ModelError::Missing("SVC_ADDR"))?),
                protocol: Protocol::from_number(proto.ok_or(ModelError::Missing("SVC_PROTOCOL"))?)?,
                port: port.ok_or(ModelError::Missing("SVC_PORT"))?,
            },
        };
        let netmask = match netmask {
            Some(raw) => Netmask::from_raw(family, raw)?,
            None => Netmask::host(family),
        };
        let svc = Service {
            key,
            scheduler: sched.ok_or(ModelError::Missing("SVC_SCHED_NAME"))?,
            flags: ServiceFlags::from_bits(flags),
            timeout: Duration::from_secs(u64::from(timeout)),
            netmask,
            pe,
        };
        Ok((svc, ServiceStats(s64.or(s32).unwrap_or_default())))
    }
}

fn check_name(name: &str) -> Result<(), ModelError> {
    if name.is_empty() || name.len() > NAME_MAXLEN || name.contains('\0') {
        return Err(ModelError::Name(name.to_owned()));
    }
    Ok(())
}

/// What identifies a destination within its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DestinationKey {
    /// Real server address; its family may differ from the service's only for tunnels.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

/// Tunnel checksum option (GUE and GRE).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum TunnelChecksum {
    /// No checksum (`nocsum`).
    #[default]
    None,
    /// Checksum (`csum`).
    Checksum,
    /// Remote checksum offload (`remcsum`).
    Remote,
}

impl TunnelChecksum {
    fn bits(self) -> u16 {
        match self {
            TunnelChecksum::None => 0,
            TunnelChecksum::Checksum => packet::TUN_F_CSUM,
            TunnelChecksum::Remote => packet::TUN_F_REMCSUM,
        }
    }

    fn from_bits(b: u16) -> TunnelChecksum {
        if b & packet::TUN_F_REMCSUM != 0 {
            TunnelChecksum::Remote
        } else if b & packet::TUN_F_CSUM != 0 {
            TunnelChecksum::Checksum
        } else {
            TunnelChecksum::None
        }
    }
}

/// Tunnel encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tunnel {
    /// IP-in-IP.
    Ipip,
    /// Generic UDP encapsulation to `port` (non-zero).
    Gue {
        /// UDP destination port.
        port: u16,
        /// Checksum option.
        checksum: TunnelChecksum,
    },
    /// GRE.
    Gre {
        /// Checksum option.
        checksum: TunnelChecksum,
    },
}

/// How packets reach the real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ForwardMethod {
    /// NAT (`-m`).
    Masquerade,
    /// Local node.
    Local,
    /// Tunneling (`-i`).
    Tunnel(Tunnel),
    /// Direct routing (`-g`).
    DirectRoute,
    /// Cache bypass.
    Bypass,
}

/// A destination (real server): identity and configuration (no counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Identity.
    pub key: DestinationKey,
    /// Forwarding method and tunnel parameters.
    pub fwd: ForwardMethod,
    /// Weight, 0..=i32::MAX (0 = quiesced: no new connections).
    pub weight: u32,
    /// Upper connection threshold (0 = none), in connections.
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none), in connections.
    pub lower_threshold: u32,
}

impl Destination {
    /// A destination with weight 1, no thresholds.
    pub fn new(addr: IpAddr, port: u16, fwd: ForwardMethod) -> Destination {
        Destination {
            key: DestinationKey { addr, port },
            fwd,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> Destination {
        self.weight = weight;
        self
    }

    /// All attributes of a full destination specification. The address family attribute
    /// is always included.
    pub fn to_attrs(&self) -> Vec<DestAttr> {
        let (fwd, tun) = match self.fwd {
            ForwardMethod::Masquerade => (packet::FWD_MASQ, None),
            ForwardMethod::Local => (packet::FWD_LOCALNODE, None),
            ForwardMethod::Tunnel(t) => (packet::FWD_TUNNEL, Some(t)),
            ForwardMethod::DirectRoute => (packet::FWD_DROUTE, None),
            ForwardMethod::Bypass => (packet::FWD_BYPASS, None),
        };
        let mut v = self.key_attrs();
        v.push(DestAttr::FwdMethod(fwd));
        v.push(DestAttr::Weight(self.weight));
        v.push(DestAttr::UThresh(self.upper_threshold));
        v.push(DestAttr::LThresh(self.lower_threshold));
        if let Some(t) = tun {
            let (ty, port, ck) = match t {
                Tunnel::Ipip => (packet::TUN_TYPE_IPIP, 0, TunnelChecksum::None),
                Tunnel::Gue { port, checksum } => (packet::TUN_TYPE_GUE, port, checksum),
                Tunnel::Gre { checksum } => (packet::TUN_TYPE_GRE, 0, checksum),
            };
            v.push(DestAttr::TunType(ty));
            v.push(DestAttr::TunPort(port));
            v.push(DestAttr::TunFlags(ck.bits()));
        }
        v
    }

    /// The identifying attributes (address, port, address family).
    pub fn key_attrs(&self) -> Vec<DestAttr> {
        self.key.to_attrs()
    }

    /// A destination and its counters from a destination nest. `service_family` is used
    /// when the nest lacks the address-family attribute (older kernels).
    pub fn from_attrs(
        attrs: &[DestAttr],
        service_family: Family,
    ) -> Result<(Destination, DestStats), ModelError> {
        let (mut addr, mut port, mut fwd, mut af) = (None, None, None, None);
        let (mut weight, mut uth, mut lth) = (0u32, 0u32, 0u32);
        let (mut tun_type, mut tun_port, mut tun_flags) = (None, 0u16, 0u16);
        let mut stats = DestStats::default();
        let (mut s32, mut s64) = (None, None);
        for a in attrs {
            match a {
                DestAttr::Addr(v) => addr = Some(*v),
                DestAttr::Port(v) => port = Some(*v),
                DestAttr::FwdMethod(v) => fwd = Some(*v),
                DestAttr::Weight(v) => weight = *v,
                DestAttr::UThresh(v) => uth = *v,
                DestAttr::LThresh(v) => lth = *v,
                DestAttr::ActiveConns(v) => stats.active_conns = *v,
                DestAttr::InactConns(v) => stats.inactive_conns = *v,
                DestAttr::PersistConns(v) => stats.persistent_conns = *v,
                DestAttr::Stats(s) => s32 = Some(Stats::from_attrs(s)),
                DestAttr::AddrFamily(v) => af = Some(*v),
                DestAttr::Stats64(s) => s64 = Some(Stats::from_attrs(s)),
                DestAttr::TunType(v) => tun_type = Some(*v),
                DestAttr::TunPort(v) => tun_port = *v,
                DestAttr::TunFlags(v) => tun_flags = *v,
                DestAttr::Other(_) => {}
            }
        }
        let family = match af {
            Some(af) => Family::from_af(af)?,
            None => service_family,
        };
        let key = DestinationKey {
            addr: addr_from16(family, &addr.ok_or(ModelError::Missing("DEST_ADDR"))?),
            port: port.ok_or(ModelError::Missing("DEST_PORT"))?,
        };
        let fwd = match fwd.ok_or(ModelError::Missing("DEST_FWD_METHOD"))? & packet::FWD_MASK {
            packet::FWD_MASQ => ForwardMethod::Masquerade,
            packet::FWD_LOCALNODE => ForwardMethod::Local,
            packet::FWD_TUNNEL => {
                let checksum = TunnelChecksum::from_bits(tun_flags);
                ForwardMethod::Tunnel(match tun_type.unwrap_or(packet::TUN_TYPE_IPIP) {
                    packet::TUN_TYPE_IPIP => Tunnel::Ipip,
                    packet::TUN_TYPE_GUE => Tunnel::Gue {
                        port: tun_port,
                        checksum,
                    },
                    packet::TUN_TYPE_GRE => Tunnel::Gre { checksum },
                    other => return Err(ModelError::TunnelType(other)),
                })
            }
            packet::FWD_DROUTE => ForwardMethod::DirectRoute,
            packet::FWD_BYPASS => ForwardMethod::Bypass,
            other => return Err(ModelError::ForwardMethod(other)),
        };
        stats.counters = s64.or(s32).unwrap_or_default();
        Ok((
            Destination {
                key,
                fwd,
                weight,
                upper_threshold: uth,
                lower_threshold: lth,
            },
            stats,
        ))
    }
}

impl DestinationKey {
    /// The identifying attributes (address, port, address family).
    pub fn to_attrs(&self) -> Vec<DestAttr> {
        vec![
            DestAttr::AddrFamily(Family::of(&self.addr).af()),
            DestAttr::Addr(addr16(&self.addr)),
            DestAttr::Port(self.port),
        ]
    }
}

/// Traffic counters and rates (64-bit; from `STATS64` when present, else `STATS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub in_pkts: u64,
    /// Outgoing packets.
    pub out_pkts: u64,
    /// Incoming bytes.
    pub in_bytes: u64,
    /// Outgoing bytes.
    pub out_bytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub in_pps: u64,
    /// Outgoing packets per second.
    pub out_pps: u64,
    /// Incoming bytes per second.
    pub in_bps: u64,
    /// Outgoing bytes per second.
    pub out_bps: u64,
}

impl Stats {
    fn from_attrs(attrs: &[StatsAttr]) -> Stats {
        let mut s = Stats::default();
        for a in attrs {
            match a {
                StatsAttr::Conns(n) => s.conns = *n,
                StatsAttr::InPkts(n) => s.in_pkts = *n,
                StatsAttr::OutPkts(n) => s.out_pkts = *n,
                StatsAttr::InBytes(n) => s.in_bytes = *n,
                StatsAttr::OutBytes(n) => s.out_bytes = *n,
                StatsAttr::Cps(n) => s.cps = *n,
                StatsAttr::InPps(n) => s.in_pps = *n,
                StatsAttr::OutPps(n) => s.out_pps = *n,
                StatsAttr::InBps(n) => s.in_bps = *n,
                StatsAttr::OutBps(n) => s.out_bps = *n,
                StatsAttr::Pad(_) | StatsAttr::Other(_) => {}
            }
        }
        s
    }

    /// The counters as a statistics nest.
    pub fn to_attrs(&self) -> Vec<StatsAttr> {
        vec![
            StatsAttr::Conns(self.conns),
            StatsAttr::InPkts(self.in_pkts),
            StatsAttr::OutPkts(self.out_pkts),
            StatsAttr::InBytes(self.in_bytes),
            StatsAttr::OutBytes(self.out_bytes),
            StatsAttr::Cps(self.cps),
            StatsAttr::InPps(self.in_pps),
            StatsAttr::OutPps(self.out_pps),
            StatsAttr::InBps(self.in_bps),
            StatsAttr::OutBps(self.out_bps),
        ]
    }
}

/// What the kernel counts about a service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceStats(pub Stats);

/// What the kernel counts about a destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DestStats {
    /// Traffic counters.
    pub counters: Stats,
    /// Active (established) connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistence templates.
    pub persistent_conns: u32,
}

impl DestStats {
    /// Active plus inactive connections (what a drain waits for).
    pub fn connections(&self) -> u64 {
        u64::from(self.active_conns) + u64::from(self.inactive_conns)
    }
}

/// A destination with its counters, as dumped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestEntry {
    /// Configuration.
    pub dest: Destination,
    /// Counters.
    pub stats: DestStats,
}

/// A service with its counters and destinations, as dumped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// Configuration.
    pub service: Service,
    /// Counters.
    pub stats: ServiceStats,
    /// Destinations, sorted by key.
    pub dests: Vec<DestEntry>,
}

/// The whole IPVS table from one dump, services sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Services.
    pub services: Vec<ServiceEntry>,
}

impl Snapshot {
    /// The entry for a service key.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        self.services.iter().find(|s| &s.service.key == key)
    }
}

/// Role of a sync daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SyncState {
    /// Sends connection state.
    Master,
    /// Receives connection state.
    Backup,
}

impl SyncState {
    fn number(self) -> u32 {
        match self {
            SyncState::Master => packet::STATE_MASTER,
            SyncState::Backup => packet::STATE_BACKUP,
        }
    }

    fn from_number(n: u32) -> Result<SyncState, ModelError> {
        match n {
            packet::STATE_MASTER => Ok(SyncState::Master),
            packet::STATE_BACKUP => Ok(SyncState::Backup),
            other => Err(ModelError::DaemonState(other)),
        }
    }
}

/// A connection-synchronisation daemon.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: SyncState,
    /// Multicast interface.
    pub mcast_ifn: String,
    /// Sync id (0..=255).
    pub sync_id: u8,
    /// Maximum UDP payload, bytes (kernel default when `None`).
    pub sync_maxlen: Option<u16>,
    /// Multicast group (kernel default 224.0.0.81 when `None`).
    pub mcast_group: Option<IpAddr>,
    /// Multicast port (kernel default 8848 when `None`).
    pub mcast_port: Option<u16>,
    /// Multicast TTL (kernel default 1 when `None`).
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with kernel defaults for the optional parameters.
    pub fn new(state: SyncState, mcast_ifn: &str, sync_id: u8) -> SyncDaemon {
        SyncDaemon {
            state,
            mcast_ifn: mcast_ifn.to_owned(),
            sync_id,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }

    /// The daemon attributes.
    pub fn to_attrs(&self) -> Result<Vec<DaemonAttr>, ModelError> {
        check_name(&self.mcast_ifn)?;
        let mut v = vec![
            DaemonAttr::State(self.state.number()),
            DaemonAttr::McastIfn(self.mcast_ifn.clone()),
            DaemonAttr::SyncId(u32::from(self.sync_id)),
        ];
        if let Some(n) = self.sync_maxlen {
            v.push(DaemonAttr::SyncMaxLen(n));
        }
        match self.mcast_group {
            Some(IpAddr::V4(a)) => v.push(DaemonAttr::McastGroup(a.octets())),
            Some(IpAddr::V6(a)) => v.push(DaemonAttr::McastGroup6(a.octets())),
            None => {}
        }
        if let Some(p) = self.mcast_port {
            v.push(DaemonAttr::McastPort(p));
        }
        if let Some(t) = self.mcast_ttl {
            v.push(DaemonAttr::McastTtl(t));
        }
        Ok(v)
    }

    /// A daemon from its nest.
    pub fn from_attrs(attrs: &[DaemonAttr]) -> Result<SyncDaemon, ModelError> {
        let (mut state, mut ifn, mut id) = (None, None, None);
        let mut d = SyncDaemon::new(SyncState::Master, "", 0);
        for a in attrs {
            match a {
                DaemonAttr::State(v) => state = Some(SyncState::from_number(*v)?),
                DaemonAttr::McastIfn(s) => ifn = Some(s.clone()),
                DaemonAttr::SyncId(v) => {
                    id = Some(u8::try_from(*v).map_err(|_| ModelError::Range {
                        what: "sync id",
                        value: u64::from(*v),
                    })?)
                }
                DaemonAttr::SyncMaxLen(v) => d.sync_maxlen = Some(*v),
                DaemonAttr::McastGroup(v) => d.mcast_group = Some(IpAddr::V4(Ipv4Addr::from(*v))),
                DaemonAttr::McastGroup6(v) => d.mcast_group = Some(IpAddr::V6(Ipv6Addr::from(*v))),
                DaemonAttr::McastPort(v) => d.mcast_port = Some(*v),
                DaemonAttr::McastTtl(v) => d.mcast_ttl = Some(*v),
                DaemonAttr::Other(_) => {}
            }
        }
        d.state = state.ok_or(ModelError::Missing("DAEMON_STATE"))?;
        d.mcast_ifn = ifn.ok_or(ModelError::Missing("DAEMON_MCAST_IFN"))?;
        d.sync_id = id.ok_or(ModelError::Missing("DAEMON_SYNC_ID"))?;
        Ok(d)
    }
}

/// Connection timeouts. On set, a zero value leaves the kernel's value unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timeouts {
    /// TCP established.
    pub tcp: Duration,
    /// TCP after FIN.
    pub tcp_fin: Duration,
    /// UDP.
    pub udp: Duration,
}

impl Timeouts {
    fn secs(what: &'static str, d: Duration) -> Result<u32, ModelError> {
        // The kernel keeps timeouts in jiffies in an int: INT_MAX / HZ with HZ <= 1000.
        let s = d.as_secs();
        if s > (i32::MAX / 1000) as u64 {
            return Err(ModelError::Range { what, value: s });
        }
        Ok(s as u32)
    }

    /// The `SET_CONFIG` attributes.
    pub fn to_attrs(&self) -> Result<Vec<IpvsAttr>, ModelError> {
        Ok(vec![
            IpvsAttr::TimeoutTcp(Timeouts::secs("tcp timeout", self.tcp)?),
            IpvsAttr::TimeoutTcpFin(Timeouts::secs("tcp_fin timeout", self.tcp_fin)?),
            IpvsAttr::TimeoutUdp(Timeouts::secs("udp timeout", self.udp)?),
        ])
    }

    /// Timeouts from a `GET_CONFIG` reply; absent ones are zero.
    pub fn from_message(msg: &IpvsMessage) -> Timeouts {
        let mut t = Timeouts::default();
        for a in &msg.nlas {
            match a {
                IpvsAttr::TimeoutTcp(s) => t.tcp = Duration::from_secs(u64::from(*s)),
                IpvsAttr::TimeoutTcpFin(s) => t.tcp_fin = Duration::from_secs(u64::from(*s)),
                IpvsAttr::TimeoutUdp(s) => t.udp = Duration::from_secs(u64::from(*s)),
                _ => {}
            }
        }
        t
    }
}

/// IPVS version, as `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpvsVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Patch.
    pub patch: u8,
}

impl IpvsVersion {
    /// From the kernel's `IP_VS_VERSION_CODE` encoding.
    pub fn from_code(code: u32) -> IpvsVersion {
        IpvsVersion {
            major: (code >> 16) as u8,
            minor: (code >> 8) as u8,
            patch: code as u8,
        }
    }

    /// The kernel's encoding.
    pub fn code(self) -> u32 {
        (u32::from(self.major) << 16) | (u32::from(self.minor) << 8) | u32::from(self.patch)
    }
}

/// General information (`GET_INFO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Info {
    /// IPVS version.
    pub version: IpvsVersion,
    /// Size of the connection hash table, in buckets.
    pub conn_table_size: u32,
}

impl Info {
    /// From a `SET_INFO` reply.
    pub fn from_message(msg: &IpvsMessage) -> Result<Info, ModelError> {
        let mut version = None;
        let mut size = None;
        for a in &msg.nlas {
            match a {
                IpvsAttr::InfoVersion(v) => version = Some(IpvsVersion::from_code(*v)),
                IpvsAttr::InfoConnTabSize(v) => size = Some(*v),
                _ => {}
            }
        }
        Ok(Info {
            version: version.ok_or(ModelError::Missing("INFO_VERSION"))?,
            conn_table_size: size.ok_or(ModelError::Missing("INFO_CONN_TAB_SIZE"))?,
        })
    }
}

/// Builders of request messages and readers of reply messages.
pub mod request {
    use super::*;

    fn svc_msg(cmd: IpvsCmd, attrs: Vec<SvcAttr>) -> IpvsMessage {
        IpvsMessage {
            cmd,
            nlas: vec![IpvsAttr::Service(attrs)],
        }
    }

    /// `NEW_SERVICE`.
    pub fn add_service(svc: &Service) -> Result<IpvsMessage, ModelError> {
        Ok(svc_msg(IpvsCmd::NewService, svc.to_attrs()?))
    }

    /// `SET_SERVICE`.
    pub fn edit_service(svc: &Service) -> Result<IpvsMessage, ModelError> {
        Ok(svc_msg(IpvsCmd::SetService, svc.to_attrs()?))
    }

    /// `DEL_SERVICE`.
    pub fn del_service(key: &ServiceKey) -> IpvsMessage {
        svc_msg(IpvsCmd::DelService, key.to_attrs())
    }

    /// `GET_SERVICE` (dump all services when sent with `NLM_F_DUMP`).
    pub fn get_services() -> IpvsMessage {
        IpvsMessage::new(IpvsCmd::GetService)
    }

    /// `GET_DEST` dump for one service.
    pub fn get_dests(key: &ServiceKey) -> IpvsMessage {
        svc_msg(IpvsCmd::GetDest, key.to_attrs())
    }

    fn dest_msg(cmd: IpvsCmd, svc: &ServiceKey, attrs: Vec<DestAttr>) -> IpvsMessage {
        IpvsMessage {
            cmd,
            nlas: vec![IpvsAttr::Service(svc.to_attrs()), IpvsAttr::Dest(attrs)],
        }
    }

    /// `NEW_DEST`.
    pub fn add_dest(svc: &ServiceKey, dest: &Destination) -> IpvsMessage {
        dest_msg(IpvsCmd::NewDest, svc, dest.to_attrs())
    }

    /// `SET_DEST`.
    pub fn edit_dest(svc: &ServiceKey, dest: &Destination) -> IpvsMessage {
        dest_msg(IpvsCmd::SetDest, svc, dest.to_attrs())
    }

    /// `DEL_DEST`.
    pub fn del_dest(svc: &ServiceKey, key: &DestinationKey) -> IpvsMessage {
        dest_msg(IpvsCmd::DelDest, svc, key.to_attrs())
    }

    /// `FLUSH`.
    pub fn flush() -> IpvsMessage {
        IpvsMessage::new(IpvsCmd::Flush)
    }

    /// `ZERO`, for one service or all.
    pub fn zero(svc: Option<&ServiceKey>) -> IpvsMessage {
        match svc {
            Some(k) => svc_msg(IpvsCmd::Zero, k.to_attrs()),
            None => IpvsMessage::new(IpvsCmd::Zero),
        }
    }

    /// `SET_CONFIG`.
    pub fn set_timeouts(t: &Timeouts) -> Result<IpvsMessage, ModelError> {
        Ok(IpvsMessage {
            cmd: IpvsCmd::SetConfig,
            nlas: t.to_attrs()?,
        })
    }

    /// `GET_CONFIG`.
    pub fn get_timeouts() -> IpvsMessage {
        IpvsMessage::new(IpvsCmd::GetConfig)
    }

    /// `NEW_DAEMON`.
    pub fn start_daemon(d: &SyncDaemon) -> Result<IpvsMessage, ModelError> {
        Ok(IpvsMessage {
            cmd: IpvsCmd::NewDaemon,
            nlas: vec![IpvsAttr::Daemon(d.to_attrs()?)],
        })
    }

    /// `DEL_DAEMON`.
    pub fn stop_daemon(state: SyncState) -> IpvsMessage {
        IpvsMessage {
            cmd: IpvsCmd::DelDaemon,
            nlas: vec![IpvsAttr::Daemon(vec![DaemonAttr::State(state.number())])],
        }
    }

    /// `GET_DAEMON` (a dump).
    pub fn get_daemons() -> IpvsMessage {
        IpvsMessage::new(IpvsCmd::GetDaemon)
    }

    /// `GET_INFO`.
    pub fn get_info() -> IpvsMessage {
        IpvsMessage::new(IpvsCmd::GetInfo)
    }

    /// The service of a `NEW_SERVICE` reply message.
    pub fn read_service(msg: &IpvsMessage) -> Result<(Service, ServiceStats), ModelError> {
        for a in &msg.nlas {
            if let IpvsAttr::Service(s) = a {
                return Service::from_attrs(s);
            }
        }
        Err(ModelError::Missing("CMD_ATTR_SERVICE"))
    }

    /// The destination of a `NEW_DEST` reply message, given its service's family.
    pub fn read_dest(
        msg: &IpvsMessage,
        service_family: Family,
    ) -> Result<(Destination, DestStats), ModelError> {
        for a in &msg.nlas {
            if let IpvsAttr::Dest(d) = a {
                return Destination::from_attrs(d, service_family);
            }
        }
        Err(ModelError::Missing("CMD_ATTR_DEST"))
    }

    /// The daemon of a `NEW_DAEMON` reply message.
    pub fn read_daemon(msg: &IpvsMessage) -> Result<SyncDaemon, ModelError> {
        for a in &msg.nlas {
            if let IpvsAttr::Daemon(d) = a {
                return SyncDaemon::from_attrs(d);
            }
        }
        Err(ModelError::Missing("CMD_ATTR_DAEMON"))
    }
}

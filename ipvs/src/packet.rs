//! The `IPVS` generic-netlink family (version 1): pure bytes in, bytes out.
//!
//! Layout (from the kernel's `include/uapi/linux/ip_vs.h`):
//!
//! - every message is a generic-netlink header (`cmd`, `version = 1`) followed by
//!   top-level attributes ([`IpvsAttr`]): a nested service, a nested destination, a
//!   nested sync daemon, or the three timeout values;
//! - in the reply to `GET_INFO` (command `SET_INFO`) the top-level attribute numbers
//!   1 and 2 mean *version* and *connection table size* instead, so decoding depends on
//!   the command;
//! - addresses are always 16 bytes (`union nf_inet_addr`), IPv4 in the first four;
//! - ports (`PORT`, `TUN_PORT`, `MCAST_PORT`) and the IPv4 multicast group are in network
//!   byte order; every other integer is in host byte order, as netlink wants;
//! - service flags are a `{flags, mask}` pair of host-order `u32`;
//! - the service netmask is a network-order IPv4 mask for IPv4 services and a host-order
//!   prefix length for IPv6 ones; this layer keeps the host-order reading of the four
//!   bytes ([`SvcAttr::Netmask`]) and [`crate::model`] interprets it;
//! - `STATS` nests carry 32-bit counters except the two byte counters (64-bit);
//!   `STATS64` nests carry 64-bit counters only.
//!
//! Decoding is total: every attribute this layer does not know is kept as
//! [`RawAttr`] (`Other`) and re-emitted unchanged; a known attribute with a bad length
//! or a bad string is a typed [`PacketError`]. Nothing here panics on any input.
//!
//! Nested attributes are emitted without the `NLA_F_NESTED` flag, as libnl-based tools
//! do; both forms are accepted on decode.

use netlink_packet_core::{
    DecodeError, Emitable, NLA_TYPE_MASK, NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};
use serde::{Deserialize, Serialize};

/// Name under which the kernel registers the family.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// Version of the family spoken here.
pub const IPVS_GENL_VERSION: u8 = 1;

/// Address family numbers used by the family (`AF_INET`).
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;

/// Service flag: persistent service (`IP_VS_SVC_F_PERSISTENT`).
pub const SVC_F_PERSISTENT: u32 = 0x0001;
/// Service flag: hashed entry (kernel-internal, reported in dumps).
pub const SVC_F_HASHED: u32 = 0x0002;
/// Service flag: one-packet scheduling (`ops`).
pub const SVC_F_ONEPACKET: u32 = 0x0004;
/// Scheduler flag 1 (`sh-fallback`, `mh-fallback`).
pub const SVC_F_SCHED1: u32 = 0x0008;
/// Scheduler flag 2 (`sh-port`, `mh-port`).
pub const SVC_F_SCHED2: u32 = 0x0010;
/// Scheduler flag 3.
pub const SVC_F_SCHED3: u32 = 0x0020;

/// Forwarding method: masquerading (NAT).
pub const FWD_MASQ: u32 = 0;
/// Forwarding method: local node.
pub const FWD_LOCALNODE: u32 = 1;
/// Forwarding method: tunneling.
pub const FWD_TUNNEL: u32 = 2;
/// Forwarding method: direct routing.
pub const FWD_DROUTE: u32 = 3;
/// Forwarding method: cache bypass.
pub const FWD_BYPASS: u32 = 4;
/// Mask of the forwarding method bits in the connection flags.
pub const FWD_MASK: u32 = 0x0007;

/// Tunnel type IPIP.
pub const TUN_TYPE_IPIP: u8 = 0;
/// Tunnel type GUE.
pub const TUN_TYPE_GUE: u8 = 1;
/// Tunnel type GRE.
pub const TUN_TYPE_GRE: u8 = 2;
/// Tunnel encapsulation flag: checksum.
pub const TUN_F_CSUM: u16 = 1 << 0;
/// Tunnel encapsulation flag: remote checksum offload.
pub const TUN_F_REMCSUM: u16 = 1 << 1;

/// Sync daemon state: master.
pub const STATE_MASTER: u32 = 1;
/// Sync daemon state: backup.
pub const STATE_BACKUP: u32 = 2;

/// Largest scheduler, persistence-engine or interface name, without its NUL.
pub const NAME_MAXLEN: usize = 15;

// Top-level attribute numbers.
const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;
const CMD_ATTR_DAEMON: u16 = 3;
const CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const CMD_ATTR_TIMEOUT_UDP: u16 = 6;
const INFO_ATTR_VERSION: u16 = 1;
const INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

// Service attribute numbers.
const SVC_ATTR_AF: u16 = 1;
const SVC_ATTR_PROTOCOL: u16 = 2;
const SVC_ATTR_ADDR: u16 = 3;
const SVC_ATTR_PORT: u16 = 4;
const SVC_ATTR_FWMARK: u16 = 5;
const SVC_ATTR_SCHED_NAME: u16 = 6;
const SVC_ATTR_FLAGS: u16 = 7;
const SVC_ATTR_TIMEOUT: u16 = 8;
const SVC_ATTR_NETMASK: u16 = 9;
const SVC_ATTR_STATS: u16 = 10;
const SVC_ATTR_PE_NAME: u16 = 11;
const SVC_ATTR_STATS64: u16 = 12;

// Destination attribute numbers.
const DEST_ATTR_ADDR: u16 = 1;
const DEST_ATTR_PORT: u16 = 2;
const DEST_ATTR_FWD_METHOD: u16 = 3;
const DEST_ATTR_WEIGHT: u16 = 4;
const DEST_ATTR_U_THRESH: u16 = 5;
const DEST_ATTR_L_THRESH: u16 = 6;
const DEST_ATTR_ACTIVE_CONNS: u16 = 7;
const DEST_ATTR_INACT_CONNS: u16 = 8;
const DEST_ATTR_PERSIST_CONNS: u16 = 9;
const DEST_ATTR_STATS: u16 = 10;
const DEST_ATTR_ADDR_FAMILY: u16 = 11;
const DEST_ATTR_STATS64: u16 = 12;
const DEST_ATTR_TUN_TYPE: u16 = 13;
const DEST_ATTR_TUN_PORT: u16 = 14;
const DEST_ATTR_TUN_FLAGS: u16 = 15;

// Sync daemon attribute numbers.
const DAEMON_ATTR_STATE: u16 = 1;
const DAEMON_ATTR_MCAST_IFN: u16 = 2;
const DAEMON_ATTR_SYNC_ID: u16 = 3;
const DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const DAEMON_ATTR_MCAST_PORT: u16 = 7;
const DAEMON_ATTR_MCAST_TTL: u16 = 8;

// Statistics attribute numbers.
const STATS_ATTR_CONNS: u16 = 1;
const STATS_ATTR_INPKTS: u16 = 2;
const STATS_ATTR_OUTPKTS: u16 = 3;
const STATS_ATTR_INBYTES: u16 = 4;
const STATS_ATTR_OUTBYTES: u16 = 5;
const STATS_ATTR_CPS: u16 = 6;
const STATS_ATTR_INPPS: u16 = 7;
const STATS_ATTR_OUTPPS: u16 = 8;
const STATS_ATTR_INBPS: u16 = 9;
const STATS_ATTR_OUTBPS: u16 = 10;
const STATS_ATTR_PAD: u16 = 11;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The attribute stream itself is malformed (bad length field, truncated).
    #[error("malformed attribute stream: {0}")]
    Attribute(String),
    /// A known attribute has the wrong length.
    #[error("attribute {attr}: expected {expected} bytes, got {got}")]
    Length {
        /// The attribute's name.
        attr: &'static str,
        /// The length the family defines.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A string attribute is not valid UTF-8 or too long.
    #[error("attribute {attr}: invalid string")]
    String {
        /// The attribute's name.
        attr: &'static str,
    },
    /// The generic-netlink command number is not one of the family's.
    #[error("unknown IPVS command {0}")]
    UnknownCommand(u8),
    /// A buffer is shorter than a header it must hold.
    #[error("{what}: need {need} bytes, have {have}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A netlink header's length field is inconsistent with the buffer.
    #[error("netlink message length {len} is invalid for a buffer of {have} bytes")]
    BadMessageLength {
        /// The length field.
        len: usize,
        /// Bytes available.
        have: usize,
    },
}

impl From<DecodeError> for PacketError {
    fn from(e: DecodeError) -> Self {
        PacketError::Attribute(e.to_string())
    }
}

/// Commands of the family (`IPVS_CMD_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum IpvsCmd {
    /// Add a service; also the command of every service in a dump.
    NewService = 1,
    /// Modify a service.
    SetService = 2,
    /// Delete a service.
    DelService = 3,
    /// Get one service, or dump all.
    GetService = 4,
    /// Add a destination; also the command of every destination in a dump.
    NewDest = 5,
    /// Modify a destination.
    SetDest = 6,
    /// Delete a destination.
    DelDest = 7,
    /// Dump the destinations of one service.
    GetDest = 8,
    /// Start a sync daemon; also the command of every daemon in a dump.
    NewDaemon = 9,
    /// Stop a sync daemon.
    DelDaemon = 10,
    /// Dump the sync daemons.
    GetDaemon = 11,
    /// Set timeouts; also the command of the `GET_CONFIG` reply.
    SetConfig = 12,
    /// Get timeouts.
    GetConfig = 13,
    /// Command of the `GET_INFO` reply.
    SetInfo = 14,
    /// Get version and connection table size.
    GetInfo = 15,
    /// Zero the counters of one service or of all.
    Zero = 16,
    /// Delete every service and destination.
    Flush = 17,
}

impl IpvsCmd {
    /// All commands, in number order.
    pub const ALL: [IpvsCmd; 17] = [
        IpvsCmd::NewService,
        IpvsCmd::SetService,
        IpvsCmd::DelService,
        IpvsCmd::GetService,
        IpvsCmd::NewDest,
        IpvsCmd::SetDest,
        IpvsCmd::DelDest,
        IpvsCmd::GetDest,
        IpvsCmd::NewDaemon,
        IpvsCmd::DelDaemon,
        IpvsCmd::GetDaemon,
        IpvsCmd::SetConfig,
        IpvsCmd::GetConfig,
        IpvsCmd::SetInfo,
        IpvsCmd::GetInfo,
        IpvsCmd::Zero,
        IpvsCmd::Flush,
    ];

    /// The command for a number, if the family defines it.
    pub fn from_u8(n: u8) -> Option<IpvsCmd> {
        IpvsCmd::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The command's number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether top-level attributes 1 and 2 mean version and table size.
    fn is_info(self) -> bool {
        matches!(self, IpvsCmd::SetInfo | IpvsCmd::GetInfo)
    }
}

/// An attribute this layer does not interpret, kept byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawAttr {
    /// Attribute type, without the nested / byte-order flags.
    pub kind: u16,
    /// Attribute value, without padding.
    pub value: Vec<u8>,
}

/// A `{flags, mask}` pair (`struct ip_vs_flags`): bits in `mask` are set to their
/// value in `flags`, the others keep their current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlagsMask {
    /// New values of the bits.
    pub flags: u32,
    /// Which bits to change.
    pub mask: u32,
}

/// Top-level attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvsAttr {
    /// `IPVS_CMD_ATTR_SERVICE`.
    Service(Vec<SvcAttr>),
    /// `IPVS_CMD_ATTR_DEST`.
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON`.
    Daemon(Vec<DaemonAttr>),
    /// TCP established timeout, seconds.
    TimeoutTcp(u32),
    /// TCP FIN-wait timeout, seconds.
    TimeoutTcpFin(u32),
    /// UDP timeout, seconds.
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION` (only in `SET_INFO` / `GET_INFO` messages).
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (only in `SET_INFO` / `GET_INFO` messages).
    InfoConnTabSize(u32),
    /// Anything else.
    Other(RawAttr),
}

/// Attributes of a service (`IPVS_SVC_ATTR_*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SvcAttr {
    /// Address family (`AF_INET` / `AF_INET6`).
    Af(u16),
    /// IP protocol number.
    Protocol(u16),
    /// Virtual address, 16 bytes.
    Addr([u8; 16]),
    /// Virtual port (network order on the wire).
    Port(u16),
    /// Firewall mark.
    Fwmark(u32),
    /// Scheduler name.
    SchedName(String),
    /// Service flags.
    Flags(FlagsMask),
    /// Persistence timeout, seconds.
    Timeout(u32),
    /// Persistence netmask, host-order reading of the four bytes.
    Netmask(u32),
    /// 32-bit statistics.
    Stats(Vec<StatsAttr>),
    /// Persistence engine name.
    PeName(String),
    /// 64-bit statistics.
    Stats64(Vec<StatsAttr>),
    /// Anything else.
    Other(RawAttr),
}

/// Attributes of a destination (`IPVS_DEST_ATTR_*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DestAttr {
    /// Real server address, 16 bytes.
    Addr([u8; 16]),
    /// Real server port (network order on the wire).
    Port(u16),
    /// Forwarding method (`IP_VS_CONN_F_*` masked by [`FWD_MASK`]).
    FwdMethod(u32),
    /// Weight.
    Weight(u32),
    /// Upper connection threshold.
    UThresh(u32),
    /// Lower connection threshold.
    LThresh(u32),
    /// Active connections (replies only).
    ActiveConns(u32),
    /// Inactive connections (replies only).
    InactConns(u32),
    /// Persistent connections (replies only).
    PersistConns(u32),
    /// 32-bit statistics.
    Stats(Vec<StatsAttr>),
    /// Address family of the destination.
    AddrFamily(u16),
    /// 64-bit statistics.
    Stats64(Vec<StatsAttr>),
    /// Tunnel type.
    TunType(u8),
    /// Tunnel port (network order on the wire).
    TunPort(u16),
    /// Tunnel flags.
    TunFlags(u16),
    /// Anything else.
    Other(RawAttr),
}

/// Attributes of a sync daemon (`IPVS_DAEMON_ATTR_*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DaemonAttr {
    /// Master (1) or backup (2).
    State(u32),
    /// Multicast interface name.
    McastIfn(String),
    /// Sync id.
    SyncId(u32),
    /// Maximum UDP payload size.
    SyncMaxLen(u16),
    /// IPv4 multicast group.
    McastGroup([u8; 4]),
    /// IPv6 multicast group.
    McastGroup6([u8; 16]),
    /// Multicast port (network order on the wire).
    McastPort(u16),
    /// Multicast TTL.
    McastTtl(u8),
    /// Anything else.
    Other(RawAttr),
}

/// One statistics counter (`IPVS_STATS_ATTR_*`). The width on the wire depends on the
/// nest: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatsAttr {
    /// Connections scheduled.
    Conns(u64),
    /// Incoming packets.
    InPkts(u64),
    /// Outgoing packets.
    OutPkts(u64),
    /// Incoming bytes.
    InBytes(u64),
    /// Outgoing bytes.
    OutBytes(u64),
    /// Connection rate.
    Cps(u64),
    /// Incoming packet rate.
    InPps(u64),
    /// Outgoing packet rate.
    OutPps(u64),
    /// Incoming byte rate.
    InBps(u64),
    /// Outgoing byte rate.
    OutBps(u64),
    /// Alignment padding (`IPVS_STATS_ATTR_PAD`), value kept.
    Pad(Vec<u8>),
    /// Anything else.
    Other(RawAttr),
}

/// A message of the family: the payload of a generic-netlink message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// The top-level attributes.
    pub nlas: Vec<IpvsAttr>,
}

impl IpvsMessage {
    /// A message with no attributes.
    pub fn new(cmd: IpvsCmd) -> Self {
        IpvsMessage {
            cmd,
            nlas: Vec::new(),
        }
    }

    /// Decodes the attributes that follow the generic-netlink header.
    pub fn decode(cmd: u8, attrs: &[u8]) -> Result<Self, PacketError> {
        let cmd = IpvsCmd::from_u8(cmd).ok_or(PacketError::UnknownCommand(cmd))?;
        let mut nlas = Vec::new();
        for (kind, v) in attrs_iter(attrs) {
            let (kind, v) = (kind?, v);
            nlas.push(decode_top(cmd, kind, v)?);
        }
        Ok(IpvsMessage { cmd, nlas })
    }

    /// Decodes a generic-netlink payload: the 4-byte genl header and the attributes.
    pub fn decode_genl(payload: &[u8]) -> Result<Self, PacketError> {
        let (hdr, attrs) = split_at_checked(payload, GENL_HDRLEN, "generic netlink header")?;
        IpvsMessage::decode(hdr[0], attrs)
    }

    /// The encoded attributes (without the generic-netlink header).
    pub fn attrs_to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        for a in &self.nlas {
            encode_top(&mut w, a);
        }
        w.buf
    }

    /// The encoded generic-netlink payload: genl header and attributes.
    pub fn to_genl_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.cmd.as_u8(), IPVS_GENL_VERSION, 0, 0];
        out.extend_from_slice(&self.attrs_to_bytes());
        out
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.as_u8()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs_to_bytes().len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        let bytes = self.attrs_to_bytes();
        let n = bytes.len().min(buffer.len());
        buffer[..n].copy_from_slice(&bytes[..n]);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        IpvsMessage::decode(header.cmd, buf).map_err(|e| DecodeError::from(e.to_string()))
    }
}

/// Length of the generic-netlink header.
pub const GENL_HDRLEN: usize = 4;

fn split_at_checked<'a>(
    buf: &'a [u8],
    n: usize,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), PacketError> {
    if buf.len() < n {
        return Err(PacketError::Truncated {
            what,
            need: n,
            have: buf.len(),
        });
    }
    Ok(buf.split_at(n))
}

/// Iterates over the attributes in `buf`: (kind without flags, value).
fn attrs_iter(buf: &[u8]) -> impl Iterator<Item = (Result<u16, PacketError>, &[u8])> {
    NlasIterator::new(buf).map(|r| match r {
        Ok(nla) => {
            let kind = nla.kind() & NLA_TYPE_MASK;
            let len = usize::from(nla.length());
            let v = nla.into_inner().get(4..len).unwrap_or(&[]);
            (Ok(kind), v)
        }
        Err(e) => (Err(PacketError::from(e)), &[][..]),
    })
}

fn fixed<const N: usize>(attr: &'static str, v: &[u8]) -> Result<[u8; N], PacketError> {
    <[u8; N]>::try_from(v).map_err(|_| PacketError::Length {
        attr,
        expected: N,
        got: v.len(),
    })
}

fn u8_(attr: &'static str, v: &[u8]) -> Result<u8, PacketError> {
    Ok(fixed::<1>(attr, v)?[0])
}
fn u16_ne(attr: &'static str, v: &[u8]) -> Result<u16, PacketError> {
    Ok(u16::from_ne_bytes(fixed(attr, v)?))
}
fn u16_be(attr: &'static str, v: &[u8]) -> Result<u16, PacketError> {
    Ok(u16::from_be_bytes(fixed(attr, v)?))
}
fn u32_ne(attr: &'static str, v: &[u8]) -> Result<u32, PacketError> {
    Ok(u32::from_ne_bytes(fixed(attr, v)?))
}
fn u64_ne(attr: &'static str, v: &[u8]) -> Result<u64, PacketError> {
    Ok(u64::from_ne_bytes(fixed(attr, v)?))
}

/// A NUL-terminated string (the NUL may be missing); at most [`NAME_MAXLEN`] bytes.
fn name(attr: &'static str, v: &[u8]) -> Result<String, PacketError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    if end > NAME_MAXLEN {
        return Err(PacketError::String { attr });
    }
    std::str::from_utf8(&v[..end])
        .map(str::to_owned)
        .map_err(|_| PacketError::String { attr })
}

fn raw(kind: u16, v: &[u8]) -> RawAttr {
    RawAttr {
        kind,
        value: v.to_vec(),
    }
}

fn nested<T>(
    v: &[u8],
    mut f: impl FnMut(u16, &[u8]) -> Result<T, PacketError>,
) -> Result<Vec<T>, PacketError> {
    let mut out = Vec::new();
    for (kind, v) in attrs_iter(v) {
        out.push(f(kind?, v)?);
    }
    Ok(out)
}

fn decode_top(cmd: IpvsCmd, kind: u16, v: &[u8]) -> Result<IpvsAttr, PacketError> {
    if cmd.is_info() {
        return Ok(match kind {
            INFO_ATTR_VERSION => IpvsAttr::InfoVersion(u32_ne("INFO_VERSION", v)?),
            INFO_ATTR_CONN_TAB_SIZE => IpvsAttr::InfoConnTabSize(u32_ne("INFO_CONN_TAB_SIZE", v)?),
            _ => IpvsAttr::Other(raw(kind, v)),
        });
    }
    Ok(match kind {
        CMD_ATTR_SERVICE => IpvsAttr::Service(nested(v, decode_svc)?),
        CMD_ATTR_DEST => IpvsAttr::Dest(nested(v, decode_dest)?),
        CMD_ATTR_DAEMON => IpvsAttr::Daemon(nested(v, decode_daemon)?),
        CMD_ATTR_TIMEOUT_TCP => IpvsAttr::TimeoutTcp(u32_ne("TIMEOUT_TCP", v)?),
        CMD_ATTR_TIMEOUT_TCP_FIN => IpvsAttr::TimeoutTcpFin(u32_ne("TIMEOUT_TCP_FIN", v)?),
        CMD_ATTR_TIMEOUT_UDP => IpvsAttr::TimeoutUdp(u32_ne("TIMEOUT_UDP", v)?),
        _ => IpvsAttr::Other(raw(kind, v)),
    })
}

fn decode_svc(kind: u16, v: &[u8]) -> Result<SvcAttr, PacketError> {
    Ok(match kind {
        SVC_ATTR_AF => SvcAttr::Af(u16_ne("SVC_AF", v)?),
        SVC_ATTR_PROTOCOL => SvcAttr::Protocol(u16_ne("SVC_PROTOCOL", v)?),
        SVC_ATTR_ADDR => SvcAttr::Addr(fixed("SVC_ADDR", v)?),
        SVC_ATTR_PORT => SvcAttr::Port(u16_be("SVC_PORT", v)?),
        SVC_ATTR_FWMARK => SvcAttr::Fwmark(u32_ne("SVC_FWMARK", v)?),
        SVC_ATTR_SCHED_NAME => SvcAttr::SchedName(name("SVC_SCHED_NAME", v)?),
        SVC_ATTR_FLAGS => {
            let b: [u8; 8] = fixed("SVC_FLAGS", v)?;
            let (f, m) = b.split_at(4);
            SvcAttr::Flags(FlagsMask {
                flags: u32_ne("SVC_FLAGS", f)?,
                mask: u32_ne("SVC_FLAGS", m)?,
            })
        }
        SVC_ATTR_TIMEOUT => SvcAttr::Timeout(u32_ne("SVC_TIMEOUT", v)?),
        SVC_ATTR_NETMASK => SvcAttr::Netmask(u32_ne("SVC_NETMASK", v)?),
        SVC_ATTR_STATS => SvcAttr::Stats(nested(v, |k, v| decode_stats(k, v, false))?),
        SVC_ATTR_PE_NAME => SvcAttr::PeName(name("SVC_PE_NAME", v)?),
        SVC_ATTR_STATS64 => SvcAttr::Stats64(nested(v, |k, v| decode_stats(k, v, true))?),
        _ => SvcAttr::Other(raw(kind, v)),
    })
}

fn decode_dest(kind: u16, v: &[u8]) -> Result<DestAttr, PacketError> {
    Ok(match kind {
        DEST_ATTR_ADDR => DestAttr::Addr(fixed("DEST_ADDR", v)?),
        DEST_ATTR_PORT => DestAttr::Port(u16_be("DEST_PORT", v)?),
        DEST_ATTR_FWD_METHOD => DestAttr::FwdMethod(u32_ne("DEST_FWD_METHOD", v)?),
        DEST_ATTR_WEIGHT => DestAttr::Weight(u32_ne("DEST_WEIGHT", v)?),
        DEST_ATTR_U_THRESH => DestAttr::UThresh(u32_ne("DEST_U_THRESH", v)?),
        DEST_ATTR_L_THRESH => DestAttr::LThresh(u32_ne("DEST_L_THRESH", v)?),
        DEST_ATTR_ACTIVE_CONNS => DestAttr::ActiveConns(u32_ne("DEST_ACTIVE_CONNS", v)?),
        DEST_ATTR_INACT_CONNS => DestAttr::InactConns(u32_ne("DEST_INACT_CONNS", v)?),
        DEST_ATTR_PERSIST_CONNS => DestAttr::PersistConns(u32_ne("DEST_PERSIST_CONNS", v)?),
        DEST_ATTR_STATS => DestAttr::Stats(nested(v, |k, v| decode_stats(k, v, false))?),
        DEST_ATTR_ADDR_FAMILY => DestAttr::AddrFamily(u16_ne("DEST_ADDR_FAMILY", v)?),
        DEST_ATTR_STATS64 => DestAttr::Stats64(nested(v, |k, v| decode_stats(k, v, true))?),
        DEST_ATTR_TUN_TYPE => DestAttr::TunType(u8_("DEST_TUN_TYPE", v)?),
        DEST_ATTR_TUN_PORT => DestAttr::TunPort(u16_be("DEST_TUN_PORT", v)?),
        DEST_ATTR_TUN_FLAGS => DestAttr::TunFlags(u16_ne("DEST_TUN_FLAGS", v)?),
        _ => DestAttr::Other(raw(kind, v)),
    })
}

fn decode_daemon(kind: u16, v: &[u8]) -> Result<DaemonAttr, PacketError> {
    Ok(match kind {
        DAEMON_ATTR_STATE => DaemonAttr::State(u32_ne("DAEMON_STATE", v)?),
        DAEMON_ATTR_MCAST_IFN => DaemonAttr::McastIfn(name("DAEMON_MCAST_IFN", v)?),
        DAEMON_ATTR_SYNC_ID => DaemonAttr::SyncId(u32_ne("DAEMON_SYNC_ID", v)?),
        DAEMON_ATTR_SYNC_MAXLEN => DaemonAttr::SyncMaxLen(u16_ne("DAEMON_SYNC_MAXLEN", v)?),
        DAEMON_ATTR_MCAST_GROUP => DaemonAttr::McastGroup(fixed("DAEMON_MCAST_GROUP", v)?),
        DAEMON_ATTR_MCAST_GROUP6 => DaemonAttr::McastGroup6(fixed("DAEMON_MCAST_GROUP6", v)?),
        DAEMON_ATTR_MCAST_PORT => DaemonAttr::McastPort(u16_be("DAEMON_MCAST_PORT", v)?),
        DAEMON_ATTR_MCAST_TTL => DaemonAttr::McastTtl(u8_("DAEMON_MCAST_TTL", v)?),
        _ => DaemonAttr::Other(raw(kind, v)),
    })
}

/// Whether a counter is 64 bits wide in a `STATS` (32-bit) nest.
fn stat_is_wide(kind: u16, nest64: bool) -> bool {
    nest64 || matches!(kind, STATS_ATTR_INBYTES | STATS_ATTR_OUTBYTES)
}

fn decode_stats(kind: u16, v: &[u8], nest64: bool) -> Result<StatsAttr, PacketError> {
    if kind == STATS_ATTR_PAD {
        return Ok(StatsAttr::Pad(v.to_vec()));
    }
    if !(STATS_ATTR_CONNS..=STATS_ATTR_OUTBPS).contains(&kind) {
        return Ok(StatsAttr::Other(raw(kind, v)));
    }
    let n = if stat_is_wide(kind, nest64) {
        u64_ne("STATS_COUNTER", v)?
    } else {
        u64::from(u32_ne("STATS_COUNTER", v)?)
    };
    Ok(match kind {
        STATS_ATTR_CONNS => StatsAttr::Conns(n),
        STATS_ATTR_INPKTS => StatsAttr::InPkts(n),
        STATS_ATTR_OUTPKTS => StatsAttr::OutPkts(n),
        STATS_ATTR_INBYTES => StatsAttr::InBytes(n),
        STATS_ATTR_OUTBYTES => StatsAttr::OutBytes(n),
        STATS_ATTR_CPS => StatsAttr::Cps(n),
        STATS_ATTR_INPPS => StatsAttr::InPps(n),
        STATS_ATTR_OUTPPS => StatsAttr::OutPps(n),
        STATS_ATTR_INBPS => StatsAttr::InBps(n),
        _ => StatsAttr::OutBps(n),
    })
}

/// Attribute writer: 4-byte aligned TLVs in host byte order.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn attr(&mut self, kind: u16, value: &[u8]) {
        // A single attribute cannot exceed u16::MAX bytes; longer values (only possible
        // for hand-built `Other` attributes) are truncated rather than corrupting the
        // stream.
        let max = usize::from(u16::MAX) - 4;
        let value = &value[..value.len().min(max)];
        let len = (value.len() + 4) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    fn nest(&mut self, kind: u16, f: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        f(&mut inner);
        self.attr(kind, &inner.buf);
    }

    fn string(&mut self, kind: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v);
    }
}

fn encode_top(w: &mut Writer, a: &IpvsAttr) {
    match a {
        IpvsAttr::Service(attrs) => w.nest(CMD_ATTR_SERVICE, |w| {
            attrs.iter().for_each(|a| encode_svc(w, a))
        }),
        IpvsAttr::Dest(attrs) => w.nest(CMD_ATTR_DEST, |w| {
            attrs.iter().for_each(|a| encode_dest(w, a))
        }),
        IpvsAttr::Daemon(attrs) => w.nest(CMD_ATTR_DAEMON, |w| {
            attrs.iter().for_each(|a| encode_daemon(w, a))
        }),
        IpvsAttr::TimeoutTcp(v) => w.attr(CMD_ATTR_TIMEOUT_TCP, &v.to_ne_bytes()),
        IpvsAttr::TimeoutTcpFin(v) => w.attr(CMD_ATTR_TIMEOUT_TCP_FIN, &v.to_ne_bytes()),
        IpvsAttr::TimeoutUdp(v) => w.attr(CMD_ATTR_TIMEOUT_UDP, &v.to_ne_bytes()),
        IpvsAttr::InfoVersion(v) => w.attr(INFO_ATTR_VERSION, &v.to_ne_bytes()),
        IpvsAttr::InfoConnTabSize(v) => w.attr(INFO_ATTR_CONN_TAB_SIZE, &v.to_ne_bytes()),
        IpvsAttr::Other(r) => w.attr(r.kind, &r.value),
    }
}

fn encode_svc(w: &mut Writer, a: &SvcAttr) {
    match a {
        SvcAttr::Af(v) => w.attr(SVC_ATTR_AF, &v.to_ne_bytes()),
        SvcAttr::Protocol(v) => w.attr(SVC_ATTR_PROTOCOL, &v.to_ne_bytes()),
        SvcAttr::Addr(v) => w.attr(SVC_ATTR_ADDR, v),
        SvcAttr::Port(v) => w.attr(SVC_ATTR_PORT, &v.to_be_bytes()),
        SvcAttr::Fwmark(v) => w.attr(SVC_ATTR_FWMARK, &v.to_ne_bytes()),
        SvcAttr::SchedName(s) => w.string(SVC_ATTR_SCHED_NAME, s),
        SvcAttr::Flags(f) => {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&f.flags.to_ne_bytes());
            b[4..].copy_from_slice(&f.mask.to_ne_bytes());
            w.attr(SVC_ATTR_FLAGS, &b)
        }
        SvcAttr::Timeout(v) => w.attr(SVC_ATTR_TIMEOUT, &v.to_ne_bytes()),
        SvcAttr::Netmask(v) => w.attr(SVC_ATTR_NETMASK, &v.to_ne_bytes()),
        SvcAttr::Stats(s) => w.nest(SVC_ATTR_STATS, |w| encode_stats(w, s, false)),
        SvcAttr::PeName(s) => w.string(SVC_ATTR_PE_NAME, s),
        SvcAttr::Stats64(s) => w.nest(SVC_ATTR_STATS64, |w| encode_stats(w, s, true)),
        SvcAttr::Other(r) => w.attr(r.kind, &r.value),
    }
}

fn encode_dest(w: &mut Writer, a: &DestAttr) {
    match a {
        DestAttr::Addr(v) => w.attr(DEST_ATTR_ADDR, v),
        DestAttr::Port(v) => w.attr(DEST_ATTR_PORT, &v.to_be_bytes()),
        DestAttr::FwdMethod(v) => w.attr(DEST_ATTR_FWD_METHOD, &v.to_ne_bytes()),
        DestAttr::Weight(v) => w.attr(DEST_ATTR_WEIGHT, &v.to_ne_bytes()),
        DestAttr::UThresh(v) => w.attr(DEST_ATTR_U_THRESH, &v.to_ne_bytes()),
        DestAttr::LThresh(v) => w.attr(DEST_ATTR_L_THRESH, &v.to_ne_bytes()),
        DestAttr::ActiveConns(v) => w.attr(DEST_ATTR_ACTIVE_CONNS, &v.to_ne_bytes()),
        DestAttr::InactConns(v) => w.attr(DEST_ATTR_INACT_CONNS, &v.to_ne_bytes()),
        DestAttr::PersistConns(v) => w.attr(DEST_ATTR_PERSIST_CONNS, &v.to_ne_bytes()),
        DestAttr::Stats(s) => w.nest(DEST_ATTR_STATS, |w| encode_stats(w, s, false)),
        DestAttr::AddrFamily(v) => w.attr(DEST_ATTR_ADDR_FAMILY, &v.to_ne_bytes()),
        DestAttr::Stats64(s) => w.nest(DEST_ATTR_STATS64, |w| encode_stats(w, s, true)),
        DestAttr::TunType(v) => w.attr(DEST_ATTR_TUN_TYPE, &[*v]),
        DestAttr::TunPort(v) => w.attr(DEST_ATTR_TUN_PORT, &v.to_be_bytes()),
        DestAttr::TunFlags(v) => w.attr(DEST_ATTR_TUN_FLAGS, &v.to_ne_bytes()),
        DestAttr::Other(r) => w.attr(r.kind, &r.value),
    }
}

fn encode_daemon(w: &mut Writer, a: &DaemonAttr) {
    match a {
        DaemonAttr::State(v) => w.attr(DAEMON_ATTR_STATE, &v.to_ne_bytes()),
        DaemonAttr::McastIfn(s) => w.string(DAEMON_ATTR_MCAST_IFN, s),
        DaemonAttr::SyncId(v) => w.attr(DAEMON_ATTR_SYNC_ID, &v.to_ne_bytes()),
        DaemonAttr::SyncMaxLen(v) => w.attr(DAEMON_ATTR_SYNC_MAXLEN, &v.to_ne_bytes()),
        DaemonAttr::McastGroup(v) => w.attr(DAEMON_ATTR_MCAST_GROUP, v),
        DaemonAttr::McastGroup6(v) => w.attr(DAEMON_ATTR_MCAST_GROUP6, v),
        DaemonAttr::McastPort(v) => w.attr(DAEMON_ATTR_MCAST_PORT, &v.to_be_bytes()),
        DaemonAttr::McastTtl(v) => w.attr(DAEMON_ATTR_MCAST_TTL, &[*v]),
        DaemonAttr::Other(r) => w.attr(r.kind, &r.value),
    }
}

fn encode_stats(w: &mut Writer, attrs: &[StatsAttr], nest64: bool) {
    for a in attrs {
        let (kind, n) = match a {
            StatsAttr::Conns(n) => (STATS_ATTR_CONNS, *n),
            StatsAttr::InPkts(n) => (STATS_ATTR_INPKTS, *n),
            StatsAttr::OutPkts(n) => (STATS_ATTR_OUTPKTS, *n),
            StatsAttr::InBytes(n) => (STATS_ATTR_INBYTES, *n),
            StatsAttr::OutBytes(n) => (STATS_ATTR_OUTBYTES, *n),
            StatsAttr::Cps(n) => (STATS_ATTR_CPS, *n),
            StatsAttr::InPps(n) => (STATS_ATTR_INPPS, *n),
            StatsAttr::OutPps(n) => (STATS_ATTR_OUTPPS, *n),
            StatsAttr::InBps(n) => (STATS_ATTR_INBPS, *n),
            StatsAttr::OutBps(n) => (STATS_ATTR_OUTBPS, *n),
            StatsAttr::Pad(v) => {
                w.attr(STATS_ATTR_PAD, v);
                continue;
            }
            StatsAttr::Other(r) => {
                w.attr(r.kind, &r.value);
                continue;
            }
        };
        if stat_is_wide(kind, nest64) {
            w.attr(kind, &n.to_ne_bytes());
        } else {
            // 32-bit counters saturate rather than wrap.
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            w.attr(kind, &n.to_ne_bytes());
        }
    }
}

pub mod frame;

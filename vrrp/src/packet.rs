//! The VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798 / RFC 9568) over
//! IPv4 and IPv6. Pure: no sockets, no clock.
//!
//! Two levels, as in smoltcp's wire layer:
//!
//! - [`Packet`]: a zero-copy view over the VRRP message bytes (no IP header).
//!   [`Packet::new_checked`] verifies the fixed header is present; after that no accessor
//!   can panic (the address and authentication accessors return `Option`).
//! - [`Advertisement`]: the parsed, validated representation, with
//!   [`Advertisement::parse`], [`Advertisement::emit`] and [`Advertisement::buffer_len`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2: | Auth Type   | Adver Int (s) |          Checksum             |
//! v3: |(rsvd)| Max Adver Int (cs)  |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    IPvX Address(es) ...                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2 only: |            Authentication Data (8 bytes)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Checksums: VRRPv2 covers the VRRP message only. VRRPv3 over IPv6 always includes the
//! IPv6 pseudo-header (RFC 5798 §5.2.8). VRRPv3 over IPv4 is an interop trap: RFC 5798
//! includes the IPv4 pseudo-header, and so do keepalived 2.2.7 and FRR 8.4.4 (both captured
//! in `tests/vectors/`), but some VRRPv3 stacks compute it as in VRRPv2, over the message
//! only. [`ChecksumMode`] picks what to send and [`ChecksumPolicy`] what to accept.
//!
//! Receive rules that need configuration or the IP header's TTL (TTL 255, configured
//! version, VRID, interval and address list, password) belong to the router; this module
//! checks what the bytes alone (plus the IP addresses) can tell.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::counters::DropReason;
use crate::types::{Centiseconds, Priority, Version, Vrid};

/// IP protocol number of VRRP.
pub const VRRP_PROTOCOL: u8 = 112;
/// The IPv4 multicast group VRRP advertisements are sent to.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group VRRP advertisements are sent to.
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit advertisements are sent with, and required on multicast receive.
pub const VRRP_TTL: u8 = 255;
/// VRRP packet type 1: Advertisement, the only type defined.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed VRRP header (both versions).
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data.
pub const AUTH_DATA_LEN: usize = 8;
/// VRRPv2 authentication type 0: none.
pub const AUTH_TYPE_NONE: u8 = 0;
/// VRRPv2 authentication type 1: simple text password.
pub const AUTH_TYPE_SIMPLE: u8 = 1;
/// VRRPv2 authentication type 2: IPSEC-AH (see [`crate::ah`]).
pub const AUTH_TYPE_AH: u8 = 2;

/// Authentication section (VRRPv2 only; VRRPv3 has none).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Auth {
    /// Type 0: no authentication (the 8 auth bytes are sent as zero and ignored on receive).
    None,
    /// Type 1: a simple text password, 8 bytes, NUL padded.
    Simple([u8; 8]),
    /// Type 2: the 8 auth bytes are zero; the real check is the IPSEC-AH header around the
    /// message (see [`crate::ah`]).
    Ah,
}

impl Auth {
    /// A type-1 password from text: truncated to 8 bytes and NUL padded, as keepalived
    /// does with `auth_pass`.
    pub fn simple(password: &[u8]) -> Auth {
        Auth::Simple(pad8(password))
    }

    /// Checks a received authentication section against the configured one (RFC 3768
    /// §7.1): a different type is [`DropReason::AuthType`], a different password
    /// [`DropReason::Auth`]. Passwords are compared in constant time. For [`Auth::Ah`] this
    /// only checks the type: the real check is [`crate::ah::open`].
    pub fn check(&self, configured: &Auth) -> Result<(), DropReason> {
        match (self, configured) {
            (Auth::None, Auth::None) | (Auth::Ah, Auth::Ah) => Ok(()),
            (Auth::Simple(got), Auth::Simple(want)) => {
                let diff = got
                    .iter()
                    .zip(want.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b));
                if diff == 0 {
                    Ok(())
                } else {
                    Err(DropReason::Auth)
                }
            }
            _ => Err(DropReason::AuthType),
        }
    }

    /// The VRRPv2 Auth Type value.
    pub fn type_code(&self) -> u8 {
        match self {
            Auth::None => AUTH_TYPE_NONE,
            Auth::Simple(_) => AUTH_TYPE_SIMPLE,
            Auth::Ah => AUTH_TYPE_AH,
        }
    }
}

/// Truncate to 8 bytes and NUL-pad (keepalived's handling of `auth_pass`).
pub(crate) fn pad8(password: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let n = password.len().min(8);
    out[..n].copy_from_slice(&password[..n]);
    out
}

/// How the VRRPv3 IPv4 checksum is computed. IPv6 always includes the pseudo-header;
/// VRRPv2 never does.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ChecksumMode {
    /// Include the IPv4 pseudo-header (RFC 5798 §5.2.8; keepalived 2.2.7 and FRR 8.4.4,
    /// measured).
    #[default]
    PseudoHeader,
    /// The VRRP message only, as in VRRPv2 (sent by some VRRPv3 implementations).
    NoPseudoHeader,
}

impl ChecksumMode {
    /// The other mode.
    pub fn other(self) -> ChecksumMode {
        match self {
            ChecksumMode::PseudoHeader => ChecksumMode::NoPseudoHeader,
            ChecksumMode::NoPseudoHeader => ChecksumMode::PseudoHeader,
        }
    }
}

/// Which VRRPv3-over-IPv4 checksums to accept on receive.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ChecksumPolicy {
    /// Only the configured [`ChecksumMode`].
    #[default]
    Strict,
    /// Either mode (the configured one is tried first).
    AcceptEither,
}

/// The checksum variant that matched on receive (for stats and auto-detection).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ChecksumMatch {
    /// VRRPv2: the message only.
    V2,
    /// VRRPv3 over IPv6: with the IPv6 pseudo-header.
    Ipv6,
    /// VRRPv3 over IPv4, with the given mode.
    V3Ipv4(ChecksumMode),
}

/// Addresses from the IP header, needed for the pseudo-header checksum and the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpContext {
    /// Source address of the IP packet.
    pub source: IpAddr,
    /// Destination address of the IP packet (the group, or a unicast peer).
    pub destination: IpAddr,
}

impl IpContext {
    /// An IPv4 context.
    pub fn v4(source: Ipv4Addr, destination: Ipv4Addr) -> Self {
        IpContext {
            source: source.into(),
            destination: destination.into(),
        }
    }

    /// An IPv6 context.
    pub fn v6(source: Ipv6Addr, destination: Ipv6Addr) -> Self {
        IpContext {
            source: source.into(),
            destination: destination.into(),
        }
    }

    /// `Some(true)` for IPv6, `Some(false)` for IPv4, `None` when source and destination
    /// are of different families.
    fn is_ipv6(&self) -> Option<bool> {
        match (self.source, self.destination) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Some(false),
            (IpAddr::V6(_), IpAddr::V6(_)) => Some(true),
            _ => None,
        }
    }
}

/// Why a VRRP message was rejected by the codec.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum DecodeError {
    /// Fewer bytes than the headers and address count need.
    #[error("truncated VRRP packet: {len} bytes, need {needed}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// More bytes than the headers and address count account for (RFC 5798 §7.1 asks for
    /// the exact length; keepalived drops such packets too).
    #[error("VRRP packet too long: {len} bytes, expected {expected}")]
    TooLong {
        /// Bytes present.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// Version field neither 2 nor 3.
    #[error("unknown VRRP version {0}")]
    Version(u8),
    /// Type field not 1 (Advertisement).
    #[error("unknown VRRP type {0}")]
    Type(u8),
    /// VRID 0 is reserved.
    #[error("VRID 0")]
    VridZero,
    /// The address count disagrees with the message length.
    #[error("address count {count} does not fit the {len}-byte message")]
    AddressCount {
        /// The Count IPvX Addr field.
        count: u8,
        /// The message length.
        len: usize,
    },
    /// The checksum does not match.
    #[error("bad VRRP checksum {got:#06x}, expected {expected:#06x}")]
    Checksum {
        /// The value in the packet.
        got: u16,
        /// The value computed for the configured mode.
        expected: u16,
    },
    /// VRRPv2 Auth Type other than 0, 1 or 2.
    #[error("unknown VRRPv2 authentication type {0}")]
    AuthType(u8),
    /// The IP source and destination are of different families.
    #[error("IP source and destination are of different families")]
    FamilyMismatch,
    /// VRRPv2 is defined for IPv4 only.
    #[error("VRRPv2 over IPv6")]
    V2OverIpv6,
    /// An advertisement interval of zero.
    #[error("advertisement interval 0")]
    IntervalZero,
}

impl DecodeError {
    /// The drop reason this error is counted under.
    pub fn reason(&self) -> DropReason {
        match self {
            DecodeError::Truncated { .. } | DecodeError::TooLong { .. } => DropReason::Length,
            DecodeError::Version(_) => DropReason::Version,
            DecodeError::Type(_) => DropReason::Type,
            DecodeError::VridZero => DropReason::Vrid,
            DecodeError::AddressCount { .. } => DropReason::AddressCount,
            DecodeError::Checksum { .. } => DropReason::Checksum,
            DecodeError::AuthType(_) => DropReason::AuthType,
            DecodeError::FamilyMismatch | DecodeError::V2OverIpv6 => DropReason::AddressFamily,
            DecodeError::IntervalZero => DropReason::Interval,
        }
    }
}

/// Why an [`Advertisement`] could not be encoded.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum EncodeError {
    /// VRRPv2 carries whole seconds, 1..=255.
    #[error("VRRPv2 interval {0} is not a whole number of seconds in 1..=255")]
    V2Interval(Centiseconds),
    /// VRRPv3 carries 1..=4095 centiseconds.
    #[error("VRRPv3 interval {0} is outside 1..=4095 cs")]
    V3Interval(Centiseconds),
    /// At most 255 addresses fit the count field.
    #[error("{0} addresses, at most 255 fit")]
    TooManyAddresses(usize),
    /// An address is not of the IP header's family, or source and destination differ.
    #[error("address family mismatch between the advertisement and the IP header")]
    FamilyMismatch,
    /// VRRPv2 is defined for IPv4 only.
    #[error("VRRPv2 over IPv6")]
    V2OverIpv6,
    /// VRRPv3 has no authentication.
    #[error("VRRPv3 has no authentication section")]
    V3Auth,
}

/// Internet checksum helpers (RFC 1071).
pub mod checksum {
    use std::net::IpAddr;

    /// Adds `data` to a running one's-complement sum (not yet folded).
    pub fn accumulate(mut sum: u32, data: &[u8]) -> u32 {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        if let [last] = chunks.remainder() {
            sum = sum.wrapping_add(u32::from(*last) << 8);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum
    }

    /// Folds a running sum and complements it: the value to put in a checksum field.
    pub fn finish(mut sum: u32) -> u16 {
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// The checksum of `data` alone.
    pub fn of(data: &[u8]) -> u16 {
        finish(accumulate(0, data))
    }

    /// The running sum of the IPv4 or IPv6 pseudo-header for an upper-layer message of
    /// `len` bytes and protocol `proto` (RFC 768 / RFC 8200 §8.1). `None` for mixed
    /// families.
    pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Option<u32> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut sum = accumulate(0, &s.octets());
                sum = accumulate(sum, &d.octets());
                sum = accumulate(sum, &[0, proto]);
                // the IPv4 length field is 16 bits; VRRP messages are far below that
                Some(accumulate(sum, &((len & 0xffff) as u16).to_be_bytes()))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut sum = accumulate(0, &s.octets());
                sum = accumulate(sum, &d.octets());
                sum = accumulate(sum, &(len as u32).to_be_bytes());
                Some(accumulate(sum, &[0, 0, 0, proto]))
            }
            _ => None,
        }
    }
}

/// A read (and, with `AsMut`, write) view over a VRRP message.
///
/// After [`Packet::new_checked`] the buffer holds at least [`HEADER_LEN`] bytes, so every
/// fixed-field accessor is infallible; the address and authentication accessors bound-check
/// and return `Option`. No accessor panics on any buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks. Fixed-field accessors then read 0 for missing bytes
    /// instead of panicking; prefer [`Packet::new_checked`].
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that the fixed 8-byte header is present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, DecodeError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(DecodeError::Truncated {
                len,
                needed: HEADER_LEN,
            });
        }
        Ok(Packet { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// The 4-bit version field.
    pub fn version(&self) -> u8 {
        self.byte(0) >> 4
    }

    /// The 4-bit type field.
    pub fn kind(&self) -> u8 {
        self.byte(0) & 0x0f
    }

    /// Virtual Router ID (may be 0 in a bad packet).
    pub fn vrid(&self) -> u8 {
        self.byte(1)
    }

    /// Priority.
    pub fn priority(&self) -> u8 {
        self.byte(2)
    }

    /// Count IPvX Addr.
    pub fn address_count(&self) -> u8 {
        self.byte(3)
    }

    /// VRRPv2: Auth Type (byte 4).
    pub fn v2_auth_type(&self) -> u8 {
        self.byte(4)
    }

    /// VRRPv2: Advertisement Interval in seconds (byte 5).
    pub fn v2_interval_secs(&self) -> u8 {
        self.byte(5)
    }

    /// VRRPv3: the 4 reserved bits before the interval.
    pub fn v3_reserved(&self) -> u8 {
        self.byte(4) >> 4
    }

    /// VRRPv3: Max Advertise Interval, 12 bits, in centiseconds.
    pub fn v3_interval(&self) -> Centiseconds {
        Centiseconds(u16::from_be_bytes([self.byte(4) & 0x0f, self.byte(5)]))
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.byte(6), self.byte(7)])
    }

    /// The `i`th IPv4 address, if the buffer holds it.
    pub fn ipv4_address(&self, i: usize) -> Option<Ipv4Addr> {
        let start = HEADER_LEN.checked_add(i.checked_mul(4)?)?;
        let b: [u8; 4] = self
            .buffer
            .as_ref()
            .get(start..start.checked_add(4)?)?
            .try_into()
            .ok()?;
        Some(Ipv4Addr::from(b))
    }

    /// The `i`th IPv6 address, if the buffer holds it.
    pub fn ipv6_address(&self, i: usize) -> Option<Ipv6Addr> {
        let start = HEADER_LEN.checked_add(i.checked_mul(16)?)?;
        let b: [u8; 16] = self
            .buffer
            .as_ref()
            .get(start..start.checked_add(16)?)?
            .try_into()
            .ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// VRRPv2: the 8 authentication bytes after the [`Packet::address_count`] IPv4
    /// addresses, if the buffer holds them.
    pub fn v2_auth_data(&self) -> Option<[u8; 8]> {
        let start = HEADER_LEN + usize::from(self.address_count()) * 4;
        self.buffer
            .as_ref()
            .get(start..start + AUTH_DATA_LEN)?
            .try_into()
            .ok()
    }

    /// The message length the header implies for the given family: the fixed header, the
    /// addresses and (VRRPv2) the authentication data.
    pub fn expected_len(&self, ipv6: bool) -> usize {
        let alen = if ipv6 { 16 } else { 4 };
        let auth = if self.version() == 2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + usize::from(self.address_count()) * alen + auth
    }

    /// Verifies the checksum of the whole buffer for this version, family and mode: true
    /// when it sums to zero.
    pub fn verify_checksum(&self, ip: &IpContext, mode: ChecksumMode) -> bool {
        compute_checksum(self.buffer.as_ref(), self.version(), ip, mode) == Some(0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_byte(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    /// Sets version and type.
    pub fn set_version_type(&mut self, version: u8, kind: u8) {
        self.set_byte(0, (version << 4) | (kind & 0x0f));
    }

    /// Sets the VRID.
    pub fn set_vrid(&mut self, v: u8) {
        self.set_byte(1, v);
    }

    /// Sets the priority.
    pub fn set_priority(&mut self, v: u8) {
        self.set_byte(2, v);
    }

    /// Sets Count IPvX Addr.
    pub fn set_address_count(&mut self, v: u8) {
        self.set_byte(3, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        let [a, b] = v.to_be_bytes();
        self.set_byte(6, a);
        self.set_byte(7, b);
    }

    /// Recomputes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self, ip: &IpContext, mode: ChecksumMode) {
        self.set_checksum(0);
        let v = self.version();
        if let Some(c) = compute_checksum(self.buffer.as_ref(), v, ip, mode) {
            self.set_checksum(c);
        }
    }
}

/// The checksum over `msg` for this version / family / mode: the value to store when the
/// checksum field is zero, and 0 when `msg` carries a correct checksum.
fn compute_checksum(msg: &[u8], version: u8, ip: &IpContext, mode: ChecksumMode) -> Option<u16> {
    let ipv6 = ip.is_ipv6()?;
    let with_pseudo = version == 3 && (ipv6 || mode == ChecksumMode::PseudoHeader);
    let start = if with_pseudo {
        checksum::pseudo_header(ip.source, ip.destination, VRRP_PROTOCOL, msg.len())?
    } else {
        0
    };
    Some(checksum::finish(checksum::accumulate(start, msg)))
}

/// A parsed, validated VRRP advertisement.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Advertisement {
    /// Protocol version.
    pub version: Version,
    /// Virtual router ID.
    pub vrid: Vrid,
    /// Sender's priority (0: the Master is leaving; 255: address owner).
    pub priority: Priority,
    /// VRRPv3: the 12-bit Max Advertise Interval. VRRPv2: the 1-byte seconds value
    /// converted to centiseconds (×100). Emitting a VRRPv2 packet with an interval that is
    /// not a whole number of seconds (or above 255 s) is an [`EncodeError`]; so is a VRRPv3
    /// interval above 4095 cs, and zero for either.
    pub interval: Centiseconds,
    /// The virtual addresses, all of the IP header's family.
    pub addresses: Vec<IpAddr>,
    /// Authentication (VRRPv2 only; [`Auth::None`] for VRRPv3).
    pub auth: Auth,
}

impl Advertisement {
    /// Parses and validates a VRRP message (the IP payload, without the IP header).
    ///
    /// Checks, in order: fixed header present, version 2 or 3 (§5.2.1), type 1 (§5.2.2),
    /// IP family consistency (VRRPv2 is IPv4-only), exact length for the address count
    /// (RFC 5798 §7.1), checksum (§5.2.8, with `mode` / `policy` for VRRPv3 over IPv4),
    /// VRID ≠ 0, VRRPv2 auth type 0/1/2, interval ≠ 0.
    ///
    /// An address count of zero is accepted (RFC 5798 asks for at least one, but
    /// keepalived sends zero for an instance without virtual addresses); the router
    /// compares the list with its configuration anyway.
    pub fn parse(
        bytes: &[u8],
        ip: &IpContext,
        mode: ChecksumMode,
        policy: ChecksumPolicy,
    ) -> Result<Advertisement, DecodeError> {
        Self::parse_matched(bytes, ip, mode, policy).map(|(a, _)| a)
    }

    /// Like [`Advertisement::parse`], also telling which checksum variant matched.
    pub fn parse_matched(
        bytes: &[u8],
        ip: &IpContext,
        mode: ChecksumMode,
        policy: ChecksumPolicy,
    ) -> Result<(Advertisement, ChecksumMatch), DecodeError> {
        let p = Packet::new_checked(bytes)?;
        let version = match p.version() {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::Version(v)),
        };
        if p.kind() != TYPE_ADVERTISEMENT {
            return Err(DecodeError::Type(p.kind()));
        }
        let ipv6 = ip.is_ipv6().ok_or(DecodeError::FamilyMismatch)?;
        if ipv6 && version == Version::V2 {
            return Err(DecodeError::V2OverIpv6);
        }
        let expected = p.expected_len(ipv6);
        let len = bytes.len();
        if len < expected {
            return Err(DecodeError::Truncated {
                len,
                needed: expected,
            });
        }
        if len > expected {
            return Err(DecodeError::TooLong { len, expected });
        }

        let matched = check_checksum(bytes, version, ipv6, ip, mode, policy)?;

        let vrid = Vrid::new(p.vrid()).map_err(|_| DecodeError::VridZero)?;
        let count = usize::from(p.address_count());
        let mut addresses = Vec::with_capacity(count);
        for i in 0..count {
            let a = if ipv6 {
                p.ipv6_address(i).map(IpAddr::V6)
            } else {
                p.ipv4_address(i).map(IpAddr::V4)
            };
            // unreachable after the length check, but never panic on input
            let a = a.ok_or(DecodeError::AddressCount {
                count: p.address_count(),
                len,
            })?;
            addresses.push(a);
        }
        let (interval, auth) = match version {
            Version::V2 => {
                let auth = match p.v2_auth_type() {
                    AUTH_TYPE_NONE => Auth::None,
                    AUTH_TYPE_SIMPLE => {
                        Auth::Simple(p.v2_auth_data().ok_or(DecodeError::Truncated {
                            len,
                            needed: expected,
                        })?)
                    }
                    AUTH_TYPE_AH => Auth::Ah,
                    t => return Err(DecodeError::AuthType(t)),
                };
                (
                    Centiseconds::from_secs(u16::from(p.v2_interval_secs())),
                    auth,
                )
            }
            Version::V3 => (p.v3_interval(), Auth::None),
        };
        if interval.get() == 0 {
            return Err(DecodeError::IntervalZero);
        }
        Ok((
            Advertisement {
                version,
                vrid,
                priority: Priority(p.priority()),
                interval,
                addresses,
                auth,
            },
            matched,
        ))
    }

    /// Length of the encoded VRRP message (no IP header), assuming the addresses are of one
    /// family (the family of the first address; IPv4 for none).
    pub fn buffer_len(&self) -> usize {
        let alen = match self.addresses.first() {
            Some(IpAddr::V6(_)) => 16,
            _ => 4,
        };
        let auth = if self.version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + self.addresses.len() * alen + auth
    }

    /// Appends the VRRP message (no IP header) to `buf`, with its checksum. `mode` only
    /// matters for VRRPv3 over IPv4. On error nothing is appended.
    pub fn emit(
        &self,
        ip: &IpContext,
        mode: ChecksumMode,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let ipv6 = ip.is_ipv6().ok_or(EncodeError::FamilyMismatch)?;
        if self.addresses.iter().any(|a| a.is_ipv6() != ipv6) {
            return Err(EncodeError::FamilyMismatch);
        }
        let count = u8::try_from(self.addresses.len())
            .map_err(|_| EncodeError::TooManyAddresses(self.addresses.len()))?;
        let (b4, b5) = match self.version {
            Version::V2 => {
                if ipv6 {
                    return Err(EncodeError::V2OverIpv6);
                }
                let cs = self.interval.get();
                if cs == 0 || cs % 100 != 0 || cs / 100 > 255 {
                    return Err(EncodeError::V2Interval(self.interval));
                }
                (self.auth.type_code(), (cs / 100) as u8)
            }
            Version::V3 => {
                if self.auth != Auth::None {
                    return Err(EncodeError::V3Auth);
                }
                let cs = self.interval.get();
                if cs == 0 || cs > Centiseconds::V3_MAX.get() {
                    return Err(EncodeError::V3Interval(self.interval));
                }
                let [hi, lo] = cs.to_be_bytes();
                (hi & 0x0f, lo)
            }
        };
        let start = buf.len();
        buf.push((self.version.number() << 4) | TYPE_ADVERTISEMENT);
        buf.push(self.vrid.get());
        buf.push(self.priority.get());
        buf.push(count);
        buf.push(b4);
        buf.push(b5);
        buf.extend_from_slice(&[0, 0]);
        for a in &self.addresses {
            match a {
                IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
            }
        }
        if self.version == Version::V2 {
            match &self.auth {
                Auth::Simple(pw) => buf.extend_from_slice(pw),
                Auth::None | Auth::Ah => buf.extend_from_slice(&[0; AUTH_DATA_LEN]),
            }
        }
        let mut p = Packet::new_unchecked(&mut buf[start..]);
        p.fill_checksum(ip, mode);
        Ok(())
    }

    /// Convenience: [`Advertisement::emit`] into a new vector.
    pub fn to_bytes(&self, ip: &IpContext, mode: ChecksumMode) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(ip, mode, &mut v)?;
        Ok(v)
    }
}

fn check_checksum(
    bytes: &[u8],
    version: Version,
    ipv6: bool,
    ip: &IpContext,
    mode: ChecksumMode,
    policy: ChecksumPolicy,
) -> Result<ChecksumMatch, DecodeError> {
    let v = version.number();
    let ok = |m| compute_checksum(bytes, v, ip, m) == Some(0);
    let got = Packet::new_unchecked(bytes).checksum();
    let expected_for = |m| {
        let mut copy = bytes.to_vec();
        let mut p = Packet::new_unchecked(&mut copy[..]);
        p.fill_checksum(ip, m);
        p.checksum()
    };
    match (version, ipv6) {
        (Version::V2, _) => {
            if ok(mode) {
                Ok(ChecksumMatch::V2)
            } else {
                Err(DecodeError::Checksum {
                    got,
                    expected: expected_for(mode),
                })
            }
        }
        (Version::V3, true) => {
            if ok(mode) {
                Ok(ChecksumMatch::Ipv6)
            } else {
                Err(DecodeError::Checksum {
                    got,
                    expected: expected_for(mode),
                })
            }
        }
        (Version::V3, false) => {
            if ok(mode) {
                Ok(ChecksumMatch::V3Ipv4(mode))
            } else if policy == ChecksumPolicy::AcceptEither && ok(mode.other()) {
                Ok(ChecksumMatch::V3Ipv4(mode.other()))
            } else {
                Err(DecodeError::Checksum {
                    got,
                    expected: expected_for(mode),
                })
            }
        }
    }
}

/// The fields of an IPv4 header this crate reads or writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Ipv4Header {
    /// Source address.
    pub source: Ipv4Addr,
    /// Destination address.
    pub destination: Ipv4Addr,
    /// Protocol (112 VRRP, 51 AH).
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service / DSCP+ECN byte (keepalived sends 0xc0, network control).
    pub tos: u8,
    /// Identification.
    pub identification: u16,
    /// Flags and fragment offset (the 16-bit field).
    pub flags_fragment: u16,
    /// Header length in bytes (IHL × 4), options included.
    pub header_len: usize,
    /// Total Length field.
    pub total_len: u16,
}

/// Why an IPv4 header was rejected.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum Ipv4Error {
    /// Shorter than the header or the Total Length field says.
    #[error("truncated IPv4 packet: {len} bytes, need {needed}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Version field not 4.
    #[error("IP version {0}, expected 4")]
    Version(u8),
    /// IHL below 5.
    #[error("IPv4 header length {0} below 20")]
    HeaderLen(usize),
    /// A fragment (MF set or non-zero offset): VRRP is never fragmented.
    #[error("IPv4 fragment")]
    Fragment,
}

impl Ipv4Error {
    /// The drop reason this error is counted under.
    pub fn reason(&self) -> DropReason {
        match self {
            Ipv4Error::Version(_) => DropReason::AddressFamily,
            _ => DropReason::Length,
        }
    }
}

impl Ipv4Header {
    /// Parses an IPv4 header (IHL honoured, options skipped). Returns the header and the
    /// payload, cut at Total Length (trailing link-layer padding dropped). The header
    /// checksum is not verified: the kernel has done so for anything a socket delivers.
    pub fn parse(packet: &[u8]) -> Result<(Ipv4Header, &[u8]), Ipv4Error> {
        let len = packet.len();
        if len < 20 {
            return Err(Ipv4Error::Truncated { len, needed: 20 });
        }
        let b = |i: usize| packet.get(i).copied().unwrap_or(0);
        if b(0) >> 4 != 4 {
            return Err(Ipv4Error::Version(b(0) >> 4));
        }
        let header_len = usize::from(b(0) & 0x0f) * 4;
        if header_len < 20 {
            return Err(Ipv4Error::HeaderLen(header_len));
        }
        let total_len = u16::from_be_bytes([b(2), b(3)]);
        let total = usize::from(total_len);
        if total < header_len {
            return Err(Ipv4Error::HeaderLen(header_len));
        }
        if len < total {
            return Err(Ipv4Error::Truncated { len, needed: total });
        }
        let flags_fragment = u16::from_be_bytes([b(6), b(7)]);
        if flags_fragment & 0x3fff != 0 {
            return Err(Ipv4Error::Fragment);
        }
        let h = Ipv4Header {
            source: Ipv4Addr::new(b(12), b(13), b(14), b(15)),
            destination: Ipv4Addr::new(b(16), b(17), b(18), b(19)),
            protocol: b(9),
            ttl: b(8),
            tos: b(1),
            identification: u16::from_be_bytes([b(4), b(5)]),
            flags_fragment,
            header_len,
            total_len,
        };
        let payload = packet.get(header_len..total).unwrap_or(&[]);
        Ok((h, payload))
    }

    /// The [`IpContext`] of this header.
    pub fn context(&self) -> IpContext {
        IpContext::v4(self.source, self.destination)
    }

    /// Appends a 20-byte header (no options) for a payload of `payload_len` bytes, with its
    /// checksum. `header_len` and `total_len` are ignored and recomputed.
    pub fn emit(&self, payload_len: usize, buf: &mut Vec<u8>) {
        let total = (20 + payload_len).min(usize::from(u16::MAX)) as u16;
        let start = buf.len();
        buf.push(0x45);
        buf.push(self.tos);
        buf.extend_from_slice(&total.to_be_bytes());
        buf.extend_from_slice(&self.identification.to_be_bytes());
        buf.extend_from_slice(&self.flags_fragment.to_be_bytes());
        buf.push(self.ttl);
        buf.push(self.protocol);
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.source.octets());
        buf.extend_from_slice(&self.destination.octets());
        let c = checksum::of(&buf[start..]);
        buf[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx4() -> IpContext {
        IpContext::v4(Ipv4Addr::new(10, 0, 0, 1), VRRP_GROUP_V4)
    }
    fn ctx6() -> IpContext {
        IpContext::v6("fe80::1".parse().unwrap(), VRRP_GROUP_V6)
    }
    const S: ChecksumPolicy = ChecksumPolicy::Strict;
    const PH: ChecksumMode = ChecksumMode::PseudoHeader;
    const NPH: ChecksumMode = ChecksumMode::NoPseudoHeader;

    fn v2(addrs: &[&str], auth: Auth) -> Advertisement {
        Advertisement {
            version: Version::V2,
            vrid: Vrid::new(51).unwrap(),
            priority: Priority(100),
            interval: Centiseconds(100),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            auth,
        }
    }
    fn v3(addrs: &[&str]) -> Advertisement {
        Advertisement {
            version: Version::V3,
            vrid: Vrid::new(7).unwrap(),
            priority: Priority(200),
            interval: Centiseconds(100),
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            auth: Auth::None,
        }
    }

    /// Recompute the checksum after tampering.
    fn refill(bytes: &mut [u8], ip: &IpContext, mode: ChecksumMode) {
        Packet::new_unchecked(bytes).fill_checksum(ip, mode);
    }

    #[test]
    fn rfc3768_5_1_hand_computed_v2_vector() {
        // version 2, type 1, VRID 51, priority 100, 1 address, auth 0, interval 1 s,
        // 10.0.0.100, 8 zero auth bytes. Checksum by hand: sum of 16-bit words
        // 0x2133+0x6401+0x0001+0x0a00+0x0064 = 0x8f99, complement 0x7066.
        let bytes = v2(&["10.0.0.100"], Auth::None)
            .to_bytes(&ctx4(), PH)
            .unwrap();
        assert_eq!(
            bytes,
            [
                0x21, 51, 100, 1, 0, 1, 0x70, 0x66, 10, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn rfc5798_5_2_8_hand_computed_v3_ipv4_vectors() {
        // v3 VRID 7 prio 200, 1 addr 10.0.0.7, interval 100 cs
        // message words: 0x3107+0xc801+0x0064+0x0a00+0x0007 = 0x10373, end-around
        // carry 0x0374, complement 0xfc8b
        let a = v3(&["10.0.0.7"]);
        let nph = a.to_bytes(&ctx4(), NPH).unwrap();
        assert_eq!(nph, [0x31, 7, 200, 1, 0x00, 0x64, 0xfc, 0x8b, 10, 0, 0, 7]);
        // pseudo-header 10.0.0.1, 224.0.0.18, 0, 112, length 12:
        // 0x0a00+0x0001+0xe000+0x0012+0x0070+0x000c = 0xea8f; + 0x0374 = 0xee03;
        // complement 0x11fc
        let ph = a.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(&ph[6..8], &[0x11, 0xfc]);
    }

    #[test]
    fn rfc5798_5_1_1_5_checksum_ipv6_pseudo_header() {
        let a = v3(&["2001:db8::1"]);
        // IPv6 always includes the pseudo-header, whatever the mode says
        let x = a.to_bytes(&ctx6(), NPH).unwrap();
        let y = a.to_bytes(&ctx6(), PH).unwrap();
        assert_eq!(x, y);
        // the message alone does not sum to zero, message + pseudo-header does
        assert_ne!(checksum::of(&x), 0);
        let ph = checksum::pseudo_header(ctx6().source, ctx6().destination, 112, x.len());
        assert_eq!(checksum::finish(checksum::accumulate(ph.unwrap(), &x)), 0);
        assert_eq!(Advertisement::parse(&x, &ctx6(), NPH, S).unwrap(), a);
        // a different source breaks it
        let other = IpContext::v6("fe80::2".parse().unwrap(), VRRP_GROUP_V6);
        assert!(matches!(
            Advertisement::parse(&x, &other, PH, S),
            Err(DecodeError::Checksum { .. })
        ));
    }

    #[test]
    fn rfc5798_5_2_8_ipv4_checksum_modes_and_policy() {
        let a = v3(&["10.0.0.7", "10.0.0.8"]);
        let ph = a.to_bytes(&ctx4(), PH).unwrap();
        let nph = a.to_bytes(&ctx4(), NPH).unwrap();
        assert_ne!(ph, nph);
        assert!(Advertisement::parse(&ph, &ctx4(), PH, S).is_ok());
        assert!(Advertisement::parse(&nph, &ctx4(), NPH, S).is_ok());
        let e = Advertisement::parse(&nph, &ctx4(), PH, S).unwrap_err();
        assert_eq!(e.reason(), DropReason::Checksum);
        let (_, m) =
            Advertisement::parse_matched(&nph, &ctx4(), PH, ChecksumPolicy::AcceptEither).unwrap();
        assert_eq!(m, ChecksumMatch::V3Ipv4(NPH));
        let (_, m) =
            Advertisement::parse_matched(&ph, &ctx4(), NPH, ChecksumPolicy::AcceptEither).unwrap();
        assert_eq!(m, ChecksumMatch::V3Ipv4(PH));
        if let DecodeError::Checksum { got, expected } = e {
            assert_eq!(got, u16::from_be_bytes([nph[6], nph[7]]));
            assert_eq!(expected, u16::from_be_bytes([ph[6], ph[7]]));
        }
    }

    #[test]
    fn rfc3768_5_3_9_v2_checksum_ignores_mode_and_pseudo_header() {
        let a = v2(&["10.0.0.100"], Auth::None);
        assert_eq!(
            a.to_bytes(&ctx4(), PH).unwrap(),
            a.to_bytes(&ctx4(), NPH).unwrap()
        );
        let b = a.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(checksum::of(&b), 0);
        let other = IpContext::v4(Ipv4Addr::new(192, 0, 2, 9), VRRP_GROUP_V4);
        let (_, m) = Advertisement::parse_matched(&b, &other, PH, S).unwrap();
        assert_eq!(m, ChecksumMatch::V2);
    }

    #[test]
    fn rfc3768_7_1_checksum_error_detected() {
        let mut b = v2(&["10.0.0.100"], Auth::None)
            .to_bytes(&ctx4(), PH)
            .unwrap();
        b[2] ^= 1;
        let e = Advertisement::parse(&b, &ctx4(), PH, S).unwrap_err();
        assert!(matches!(e, DecodeError::Checksum { .. }));
    }

    #[test]
    fn rfc5798_5_2_1_version() {
        for v in [0u8, 1, 4, 15] {
            let mut b = v3(&["10.0.0.7"]).to_bytes(&ctx4(), PH).unwrap();
            b[0] = (v << 4) | 1;
            refill(&mut b, &ctx4(), PH);
            let e = Advertisement::parse(&b, &ctx4(), PH, S).unwrap_err();
            assert_eq!(e, DecodeError::Version(v));
            assert_eq!(e.reason(), DropReason::Version);
        }
    }

    #[test]
    fn rfc5798_5_2_2_type_must_be_advertisement() {
        let mut b = v3(&["10.0.0.7"]).to_bytes(&ctx4(), PH).unwrap();
        b[0] = 0x32;
        refill(&mut b, &ctx4(), PH);
        let e = Advertisement::parse(&b, &ctx4(), PH, S).unwrap_err();
        assert_eq!(e, DecodeError::Type(2));
        assert_eq!(e.reason(), DropReason::Type);
    }

    #[test]
    fn rfc5798_5_2_3_vrid_zero_rejected() {
        let mut b = v3(&["10.0.0.7"]).to_bytes(&ctx4(), PH).unwrap();
        b[1] = 0;
        refill(&mut b, &ctx4(), PH);
        let e = Advertisement::parse(&b, &ctx4(), PH, S).unwrap_err();
        assert_eq!(e, DecodeError::VridZero);
        assert_eq!(e.reason(), DropReason::Vrid);
    }

    #[test]
    fn rfc5798_5_2_4_priority_zero_and_owner_parse() {
        for p in [0u8, 255] {
            let mut a = v3(&["10.0.0.7"]);
            a.priority = Priority(p);
            let b = a.to_bytes(&ctx4(), PH).unwrap();
            assert_eq!(
                Advertisement::parse(&b, &ctx4(), PH, S).unwrap().priority,
                Priority(p)
            );
        }
    }

    #[test]
    fn rfc5798_7_1_length_must_match_address_count() {
        let b = v3(&["10.0.0.7", "10.0.0.8"]).to_bytes(&ctx4(), PH).unwrap();
        // truncated
        for cut in 0..b.len() {
            let e = Advertisement::parse(&b[..cut], &ctx4(), PH, S).unwrap_err();
            assert_eq!(e.reason(), DropReason::Length, "cut {cut}");
        }
        // too long
        let mut long = b.clone();
        long.extend_from_slice(&[0, 0, 0, 0]);
        let e = Advertisement::parse(&long, &ctx4(), PH, S).unwrap_err();
        assert_eq!(
            e,
            DecodeError::TooLong {
                len: 20,
                expected: 16
            }
        );
        // count claims more than present
        let mut c = b.clone();
        c[3] = 3;
        refill(&mut c, &ctx4(), PH);
        assert!(matches!(
            Advertisement::parse(&c, &ctx4(), PH, S),
            Err(DecodeError::Truncated {
                len: 16,
                needed: 20
            })
        ));
    }

    #[test]
    fn rfc5798_5_2_5_zero_addresses_accepted_like_keepalived() {
        let a = v3(&[]);
        let b = a.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(b.len(), 8);
        assert_eq!(Advertisement::parse(&b, &ctx4(), PH, S).unwrap(), a);
    }

    #[test]
    fn rfc5798_5_2_7_reserved_bits_ignored_on_receive() {
        let mut b = v3(&["10.0.0.7"]).to_bytes(&ctx4(), PH).unwrap();
        b[4] |= 0xf0;
        refill(&mut b, &ctx4(), PH);
        let a = Advertisement::parse(&b, &ctx4(), PH, S).unwrap();
        assert_eq!(a.interval, Centiseconds(100));
        assert_eq!(Packet::new_checked(&b[..]).unwrap().v3_reserved(), 0xf);
    }

    #[test]
    fn rfc5798_5_2_7_interval_limits_on_emit() {
        let mut a = v3(&["10.0.0.7"]);
        a.interval = Centiseconds(4095);
        let b = a.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(
            Advertisement::parse(&b, &ctx4(), PH, S).unwrap().interval,
            Centiseconds(4095)
        );
        a.interval = Centiseconds(4096);
        assert_eq!(
            a.to_bytes(&ctx4(), PH),
            Err(EncodeError::V3Interval(Centiseconds(4096)))
        );
        a.interval = Centiseconds(0);
        assert!(a.to_bytes(&ctx4(), PH).is_err());
    }

    #[test]
    fn rfc3768_5_3_7_v2_interval_whole_seconds() {
        let mut a = v2(&["10.0.0.1"], Auth::None);
        a.interval = Centiseconds(25500);
        let b = a.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(b[5], 255);
        assert_eq!(
            Advertisement::parse(&b, &ctx4(), PH, S).unwrap().interval,
            Centiseconds(25500)
        );
        for bad in [0u16, 50, 150, 25600] {
            a.interval = Centiseconds(bad);
            assert_eq!(
                a.to_bytes(&ctx4(), PH),
                Err(EncodeError::V2Interval(Centiseconds(bad)))
            );
        }
    }

    #[test]
    fn interval_zero_rejected_on_receive() {
        let mut b = v3(&["10.0.0.7"]).to_bytes(&ctx4(), PH).unwrap();
        b[4] = 0;
        b[5] = 0;
        refill(&mut b, &ctx4(), PH);
        let e = Advertisement::parse(&b, &ctx4(), PH, S).unwrap_err();
        assert_eq!(e, DecodeError::IntervalZero);
        assert_eq!(e.reason(), DropReason::Interval);
    }

    #[test]
    fn rfc3768_5_3_6_auth_types() {
        let pw = v2(&["10.0.0.1"], Auth::simple(b"secret"));
        let b = pw.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(&b[12..], b"secret\0\0");
        assert_eq!(Advertisement::parse(&b, &ctx4(), PH, S).unwrap(), pw);
        let ah = v2(&["10.0.0.1"], Auth::Ah);
        let b = ah.to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(b[4], 2);
        assert_eq!(Advertisement::parse(&b, &ctx4(), PH, S).unwrap(), ah);
        let mut b = pw.to_bytes(&ctx4(), PH).unwrap();
        b[4] = 3;
        refill(&mut b, &ctx4(), PH);
        let e = Advertisement::parse(&b, &ctx4(), PH, S).unwrap_err();
        assert_eq!(e, DecodeError::AuthType(3));
        assert_eq!(e.reason(), DropReason::AuthType);
        // keepalived truncates passwords to 8 bytes
        assert_eq!(Auth::simple(b"0123456789"), Auth::Simple(*b"01234567"));
    }

    #[test]
    fn rfc3768_7_1_auth_check() {
        let pw = Auth::simple(b"secret");
        assert_eq!(pw.check(&Auth::simple(b"secret")), Ok(()));
        assert_eq!(pw.check(&Auth::simple(b"secreT")), Err(DropReason::Auth));
        assert_eq!(pw.check(&Auth::None), Err(DropReason::AuthType));
        assert_eq!(Auth::None.check(&Auth::None), Ok(()));
        assert_eq!(Auth::Ah.check(&Auth::Ah), Ok(()));
        assert_eq!(Auth::Ah.check(&pw), Err(DropReason::AuthType));
    }

    #[test]
    fn rfc5798_5_1_family_rules() {
        // VRRPv2 over IPv6 is not defined
        let mut a = v2(&["2001:db8::1"], Auth::None);
        assert_eq!(a.to_bytes(&ctx6(), PH), Err(EncodeError::V2OverIpv6));
        a.version = Version::V3;
        a.auth = Auth::None;
        let mut b = a.to_bytes(&ctx6(), PH).unwrap();
        b[0] = 0x21;
        let e = Advertisement::parse(&b, &ctx6(), PH, S).unwrap_err();
        assert_eq!(e, DecodeError::V2OverIpv6);
        assert_eq!(e.reason(), DropReason::AddressFamily);
        // addresses of the wrong family
        assert_eq!(
            v3(&["10.0.0.1"]).to_bytes(&ctx6(), PH),
            Err(EncodeError::FamilyMismatch)
        );
        // mixed header families
        let mixed = IpContext {
            source: ctx4().source,
            destination: ctx6().destination,
        };
        let b = v3(&["10.0.0.1"]).to_bytes(&ctx4(), PH).unwrap();
        assert_eq!(
            Advertisement::parse(&b, &mixed, PH, S),
            Err(DecodeError::FamilyMismatch)
        );
        // v3 with auth
        let mut x = v3(&["10.0.0.1"]);
        x.auth = Auth::Ah;
        assert_eq!(x.to_bytes(&ctx4(), PH), Err(EncodeError::V3Auth));
    }

    #[test]
    fn too_many_addresses() {
        let mut a = v3(&[]);
        a.addresses = (0..256u32).map(|i| IpAddr::V4(Ipv4Addr::from(i))).collect();
        assert_eq!(
            a.to_bytes(&ctx4(), PH),
            Err(EncodeError::TooManyAddresses(256))
        );
    }

    #[test]
    fn emit_appends_and_buffer_len() {
        let a = v3(&["2001:db8::1", "2001:db8::2"]);
        let mut buf = vec![0xaa, 0xbb];
        a.emit(&ctx6(), PH, &mut buf).unwrap();
        assert_eq!(buf.len(), 2 + a.buffer_len());
        assert_eq!(a.buffer_len(), 8 + 32);
        assert_eq!(&buf[..2], &[0xaa, 0xbb]);
        assert_eq!(Advertisement::parse(&buf[2..], &ctx6(), PH, S).unwrap(), a);
        assert_eq!(v2(&["10.0.0.1"], Auth::None).buffer_len(), 20);
    }

    #[test]
    fn packet_view_never_panics_on_short_buffers() {
        for n in 0..12 {
            let buf = vec![0xffu8; n];
            let p = Packet::new_unchecked(&buf[..]);
            let _ = (
                p.version(),
                p.kind(),
                p.vrid(),
                p.priority(),
                p.address_count(),
            );
            let _ = (
                p.v2_auth_type(),
                p.v2_interval_secs(),
                p.v3_interval(),
                p.checksum(),
            );
            let _ = (
                p.ipv4_address(usize::MAX),
                p.ipv6_address(3),
                p.v2_auth_data(),
            );
            let _ = p.expected_len(true);
            assert_eq!(Packet::new_checked(&buf[..]).is_ok(), n >= 8);
        }
    }

    #[test]
    fn ipv4_header_parse_honours_ihl_and_total_length() {
        let mut pkt = Vec::new();
        let h = Ipv4Header {
            source: Ipv4Addr::new(10, 0, 0, 1),
            destination: VRRP_GROUP_V4,
            protocol: VRRP_PROTOCOL,
            ttl: 255,
            tos: 0xc0,
            identification: 7,
            flags_fragment: 0,
            header_len: 20,
            total_len: 0,
        };
        h.emit(4, &mut pkt);
        assert_eq!(checksum::of(&pkt), 0);
        pkt.extend_from_slice(&[1, 2, 3, 4, 0, 0]); // 2 bytes of link padding
        let (p, payload) = Ipv4Header::parse(&pkt).unwrap();
        assert_eq!(payload, &[1, 2, 3, 4]);
        assert_eq!(p.total_len, 24);
        // with 4 bytes of options (IHL 6)
        let mut o = pkt[..20].to_vec();
        o[0] = 0x46;
        o[3] = 28;
        o.extend_from_slice(&[1, 1, 1, 0, 9, 9, 9, 9]);
        let (p, payload) = Ipv4Header::parse(&o).unwrap();
        assert_eq!(p.header_len, 24);
        assert_eq!(payload, &[9, 9, 9, 9]);
        o[0] = 0x44;
        assert_eq!(Ipv4Header::parse(&o).unwrap_err(), Ipv4Error::HeaderLen(16));
        o[0] = 0x4f;
        assert!(Ipv4Header::parse(&o).is_err());
        o[0] = 0x65;
        assert_eq!(Ipv4Header::parse(&o).unwrap_err(), Ipv4Error::Version(6));
    }
}

//! VRRPv2 authentication type 2: IPSEC-AH, as keepalived implements it.
//!
//! RFC 3768 removed authentication, but keepalived still offers `auth_type AH`: the VRRP
//! message (with Auth Type 2 and eight zero auth bytes) travels behind an AH header
//! (RFC 2402 / RFC 4302, IP protocol 51, next header 112) whose Integrity Check Value is
//! HMAC-MD5-96 keyed with the configured `auth_pass`. This module reproduces keepalived's
//! wire behaviour, checked against packets captured from keepalived 2.2.7
//! (`tests/vectors/v2_ah.hex`):
//!
//! - **Key**: `auth_pass` truncated to 8 bytes; shorter passwords are NUL padded (which
//!   HMAC's own zero padding makes irrelevant).
//! - **AH header** (24 bytes): next header 112, payload length 4 (32-bit words minus 2),
//!   reserved 0, **SPI = the IPv4 source address**, a sequence number, a 12-byte ICV.
//! - **ICV input**: the IPv4 header as sent (options included) with the mutable fields
//!   TOS, flags/fragment offset and header checksum set to zero, and **TTL zeroed only for
//!   unicast peers** (a multicast advert keeps TTL 255 in the ICV; Identification and
//!   Total Length are covered), then the AH header with a zero ICV, then the VRRP message.
//! - **Receive order**: ICV, then SPI = source address, then the sequence number.
//! - **Sequence numbers**: keepalived keeps *one* counter per VRRP instance for both
//!   directions ([`ReplayState`]): a received advert is accepted only if its sequence
//!   number is strictly above the counter, which then takes that value; a sent advert uses
//!   counter + 1. So a Backup that takes over continues above everything it has seen, and
//!   the other routers accept it.
//!
//!   A sender that restarts starts again at 1: its adverts are dropped as
//!   [`AhError::Replay`] by routers that saw higher numbers, until it adopts a higher
//!   value from an advert it receives (it accepts those, its own counter being low) or the
//!   receivers' counters are reset. keepalived never resets the receive side except when
//!   the counter is exhausted (above `0xFFFF_FFFD`, "cycled"); we do the same and offer
//!   [`ReplayState::reset`] for a router that wants to forgive a restarted peer (for
//!   example when its Master_Down timer fires).

use std::fmt;
use std::net::Ipv4Addr;

use ha_core::Cast;
use hmac::{Hmac, Mac};
use md5::Md5;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::counters::DropReason;
use crate::packet::{Ipv4Error, Ipv4Header, VRRP_PROTOCOL, pad8};

/// IP protocol number of AH.
pub const AH_PROTOCOL: u8 = 51;
/// Length of the AH header with a 96-bit ICV.
pub const AH_LEN: usize = 24;
/// Length of the truncated HMAC-MD5 ICV.
pub const ICV_LEN: usize = 12;
/// The AH Payload Length field for a 96-bit ICV: (12 + 12) / 4 - 2.
pub const AH_PAYLOAD_LEN: u8 = 4;
/// The highest sequence number keepalived sends before declaring the counter cycled.
pub const SEQ_MAX: u32 = 0xFFFF_FFFD;

type HmacMd5 = Hmac<Md5>;

/// The AH key: `auth_pass` truncated to 8 bytes and NUL padded. Its `Debug` output is
/// redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AhKey([u8; 8]);

impl AhKey {
    /// From the configured password (truncated to 8 bytes, as keepalived does).
    pub fn from_password(password: &[u8]) -> AhKey {
        AhKey(pad8(password))
    }

    /// The 8 key bytes.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Debug for AhKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AhKey(..)")
    }
}

/// The per-instance sequence counter, shared by sending and receiving (see the module
/// documentation for keepalived's semantics).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ReplayState {
    last: u32,
}

impl ReplayState {
    /// A fresh counter (0: the first advert sent carries 1, any received number > 0 is
    /// accepted).
    pub fn new() -> ReplayState {
        ReplayState::default()
    }

    /// The last sequence number sent or accepted.
    pub fn last(&self) -> u32 {
        self.last
    }

    /// The sequence number for the next advert sent, or `None` once the counter is
    /// exhausted (keepalived then stops sending and becomes Backup; call
    /// [`ReplayState::reset`] when becoming Master again).
    pub fn next_tx(&mut self) -> Option<u32> {
        if self.last >= SEQ_MAX {
            return None;
        }
        self.last += 1;
        Some(self.last)
    }

    /// Whether `seq` would be accepted, without recording it.
    pub fn check_rx(&self, seq: u32) -> Result<(), AhError> {
        if seq > self.last {
            Ok(())
        } else {
            Err(AhError::Replay {
                seq,
                last: self.last,
            })
        }
    }

    /// Accepts `seq` if it is above the counter, and records it.
    pub fn accept_rx(&mut self, seq: u32) -> Result<(), AhError> {
        self.check_rx(seq)?;
        self.last = seq;
        Ok(())
    }

    /// Back to 0.
    pub fn reset(&mut self) {
        self.last = 0;
    }
}

/// Why an AH-protected packet was rejected.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum AhError {
    /// The IPv4 header is unusable.
    #[error(transparent)]
    Ip(#[from] Ipv4Error),
    /// The IP protocol is not AH (51): a plain VRRP packet where AH is configured.
    #[error("IP protocol {0}, expected AH (51)")]
    NotAh(u8),
    /// The payload is shorter than the AH header.
    #[error("truncated AH header: {len} bytes, need {needed}")]
    Truncated {
        /// Bytes present after the IP header.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The AH Next Header is not VRRP (112).
    #[error("AH next header {0}, expected VRRP (112)")]
    NextHeader(u8),
    /// The AH Payload Length is not 4 (a 96-bit ICV).
    #[error("AH payload length {0}, expected 4")]
    PayloadLen(u8),
    /// The ICV does not match: wrong key or altered packet.
    #[error("AH ICV mismatch (wrong password or altered packet)")]
    Icv,
    /// The SPI is not the source address.
    #[error("AH SPI {spi:#010x} is not the source address {address}")]
    Spi {
        /// The SPI received.
        spi: u32,
        /// The IPv4 source address.
        address: Ipv4Addr,
    },
    /// The sequence number is not above the last one seen.
    #[error("AH sequence number {seq} not above {last}")]
    Replay {
        /// Received sequence number.
        seq: u32,
        /// The counter.
        last: u32,
    },
}

impl AhError {
    /// The drop reason this error is counted under.
    pub fn reason(&self) -> DropReason {
        match self {
            AhError::Ip(e) => e.reason(),
            AhError::NotAh(_) => DropReason::AuthType,
            AhError::Truncated { .. } | AhError::PayloadLen(_) => DropReason::Length,
            AhError::NextHeader(_) => DropReason::Type,
            AhError::Icv | AhError::Spi { .. } => DropReason::Auth,
            AhError::Replay { .. } => DropReason::Replay,
        }
    }
}

/// An authenticated packet: its IPv4 header, AH fields and the VRRP message inside.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Opened<'a> {
    /// The IPv4 header (protocol 51).
    pub header: Ipv4Header,
    /// The AH SPI (equal to the source address).
    pub spi: u32,
    /// The AH sequence number (already recorded in the [`ReplayState`]).
    pub seq: u32,
    /// The VRRP message, to hand to [`crate::packet::Advertisement::parse`] with
    /// [`Ipv4Header::context`].
    pub vrrp: &'a [u8],
}

/// The ICV over: IP header with mutable fields zeroed, AH with zero ICV, payload.
fn icv(ip_header: &[u8], ah: &[u8], payload: &[u8], key: &AhKey, cast: Cast) -> HmacMd5 {
    let mut ip = ip_header.to_vec();
    for i in [1usize, 6, 7, 10, 11] {
        if let Some(b) = ip.get_mut(i) {
            *b = 0;
        }
    }
    if cast == Cast::Unicast {
        if let Some(b) = ip.get_mut(8) {
            *b = 0;
        }
    }
    let mut ah_zero = [0u8; AH_LEN];
    let n = ah.len().min(AH_LEN - ICV_LEN);
    ah_zero[..n].copy_from_slice(&ah[..n]);
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = match <HmacMd5 as Mac>::new_from_slice(key.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(&ip);
    mac.update(&ah_zero);
    mac.update(payload);
    mac
}

#[cold]
fn unreachable_hmac() -> HmacMd5 {
    // `Hmac::new_from_slice` never fails; the empty key keeps this total without a panic.
    <HmacMd5 as hmac::digest::KeyInit>::new(&Default::default())
}

/// Builds a complete IPv4 packet (20-byte header, protocol 51) carrying `vrrp` behind an
/// AH header with SPI = `header.source`, sequence number `seq` and the HMAC-MD5-96 ICV.
///
/// From `header` only source, destination, TTL, TOS, Identification and flags/fragment
/// are used. keepalived sends TOS 0xc0, TTL 255, a non-zero Identification that increases
/// per advert (the kernel would otherwise fill it in after the ICV was computed), no DF.
/// Pass [`Cast::Unicast`] when the instance uses unicast peers (TTL then stays out of the
/// ICV).
pub fn seal(header: &Ipv4Header, seq: u32, key: &AhKey, cast: Cast, vrrp: &[u8]) -> Vec<u8> {
    let mut h = *header;
    h.protocol = AH_PROTOCOL;
    let mut out = Vec::with_capacity(20 + AH_LEN + vrrp.len());
    h.emit(AH_LEN + vrrp.len(), &mut out);
    let mut ah = [0u8; AH_LEN];
    ah[0] = VRRP_PROTOCOL;
    ah[1] = AH_PAYLOAD_LEN;
    ah[4..8].copy_from_slice(&h.source.octets());
    ah[8..12].copy_from_slice(&seq.to_be_bytes());
    let tag = icv(&out, &ah, vrrp, key, cast).finalize().into_bytes();
    ah[12..].copy_from_slice(&tag[..ICV_LEN]);
    out.extend_from_slice(&ah);
    out.extend_from_slice(vrrp);
    out
}

/// [`seal`] with the next sequence number from `replay` (the per-instance counter shared
/// with receiving). `None` once the counter is exhausted: keepalived then stops sending.
pub fn seal_next(
    header: &Ipv4Header,
    replay: &mut ReplayState,
    key: &AhKey,
    cast: Cast,
    vrrp: &[u8],
) -> Option<Vec<u8>> {
    let seq = replay.next_tx()?;
    Some(seal(header, seq, key, cast, vrrp))
}

/// Parses and authenticates a full IPv4 packet (as a raw socket delivers it, IP header
/// included): IPv4 header, protocol 51, AH layout, ICV (constant time), SPI = source,
/// then the sequence number against `replay` (recorded only when everything passed).
///
/// `cast` must be what the receiving instance uses ([`Cast::Unicast`] with unicast peers),
/// as it decides whether the TTL is covered by the ICV.
pub fn open<'a>(
    packet: &'a [u8],
    key: &AhKey,
    cast: Cast,
    replay: &mut ReplayState,
) -> Result<Opened<'a>, AhError> {
    let (header, payload) = Ipv4Header::parse(packet)?;
    if header.protocol != AH_PROTOCOL {
        return Err(AhError::NotAh(header.protocol));
    }
    let (ah, vrrp) = match (payload.get(..AH_LEN), payload.get(AH_LEN..)) {
        (Some(a), Some(v)) => (a, v),
        _ => {
            return Err(AhError::Truncated {
                len: payload.len(),
                needed: AH_LEN,
            });
        }
    };
    let field = |i: usize| -> u32 {
        let b = ah
            .get(i..i + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .unwrap_or([0; 4]);
        u32::from_be_bytes(b)
    };
    let next = ah.first().copied().unwrap_or(0);
    if next != VRRP_PROTOCOL {
        return Err(AhError::NextHeader(next));
    }
    let plen = ah.get(1).copied().unwrap_or(0);
    if plen != AH_PAYLOAD_LEN {
        return Err(AhError::PayloadLen(plen));
    }
    let ip_header = packet.get(..header.header_len).unwrap_or(&[]);
    let got = ah.get(AH_LEN - ICV_LEN..).unwrap_or(&[]);
    icv(ip_header, ah, vrrp, key, cast)
        .verify_truncated_left(got)
        .map_err(|_| AhError::Icv)?;
    let spi = field(4);
    if spi != u32::from(header.source) {
        return Err(AhError::Spi {
            spi,
            address: header.source,
        });
    }
    let seq = field(8);
    replay.accept_rx(seq)?;
    Ok(Opened {
        header,
        spi,
        seq,
        vrrp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::VRRP_GROUP_V4;

    fn hdr() -> Ipv4Header {
        Ipv4Header {
            source: Ipv4Addr::new(10, 0, 0, 1),
            destination: VRRP_GROUP_V4,
            protocol: 0,
            ttl: 255,
            tos: 0xc0,
            identification: 1,
            flags_fragment: 0,
            header_len: 20,
            total_len: 0,
        }
    }
    const MSG: [u8; 20] = [
        0x21, 1, 100, 1, 2, 1, 0, 0, 10, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn rfc2402_seal_open_round_trip() {
        let key = AhKey::from_password(b"pw");
        let pkt = seal(&hdr(), 1, &key, Cast::Multicast, &MSG);
        assert_eq!(pkt.len(), 20 + 24 + 20);
        assert_eq!(pkt[9], AH_PROTOCOL);
        assert_eq!(&pkt[20..24], &[112, 4, 0, 0]);
        assert_eq!(&pkt[24..28], &[10, 0, 0, 1]);
        let mut rs = ReplayState::new();
        let o = open(&pkt, &key, Cast::Multicast, &mut rs).unwrap();
        assert_eq!(o.vrrp, &MSG);
        assert_eq!(o.seq, 1);
        assert_eq!(rs.last(), 1);
    }

    #[test]
    fn rfc2402_3_3_3_1_mutable_fields_excluded_from_icv() {
        let key = AhKey::from_password(b"pw");
        let mut pkt = seal(&hdr(), 5, &key, Cast::Multicast, &MSG);
        pkt[1] = 0x10; // TOS
        pkt[6] = 0x40; // DF
        pkt[10] = 0x12; // checksum
        assert!(open(&pkt, &key, Cast::Multicast, &mut ReplayState::new()).is_ok());
        // multicast: TTL is covered
        let mut t = pkt.clone();
        t[8] = 254;
        let e = open(&t, &key, Cast::Multicast, &mut ReplayState::new()).unwrap_err();
        assert_eq!(e, AhError::Icv);
        assert_eq!(e.reason(), DropReason::Auth);
        // unicast: TTL is zeroed in the ICV
        let mut u = seal(&hdr(), 5, &key, Cast::Unicast, &MSG);
        u[8] = 3;
        assert!(open(&u, &key, Cast::Unicast, &mut ReplayState::new()).is_ok());
        // Identification is covered
        let mut i = pkt.clone();
        i[5] ^= 1;
        assert_eq!(
            open(&i, &key, Cast::Multicast, &mut ReplayState::new()),
            Err(AhError::Icv)
        );
    }

    #[test]
    fn wrong_key_and_tampering_fail() {
        let key = AhKey::from_password(b"pw");
        let pkt = seal(&hdr(), 1, &key, Cast::Multicast, &MSG);
        let bad = AhKey::from_password(b"pW");
        assert_eq!(
            open(&pkt, &bad, Cast::Multicast, &mut ReplayState::new()),
            Err(AhError::Icv)
        );
        for i in [12usize, 19, 28, 40, 47, 50, 63] {
            let mut t = pkt.clone();
            t[i] ^= 0x80;
            assert!(
                open(&t, &key, Cast::Multicast, &mut ReplayState::new()).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn password_truncated_to_8_bytes() {
        assert_eq!(
            AhKey::from_password(b"0123456789"),
            AhKey::from_password(b"01234567")
        );
        assert_eq!(format!("{:?}", AhKey::from_password(b"x")), "AhKey(..)");
    }

    #[test]
    fn rfc4302_3_4_3_replay_rejected() {
        let key = AhKey::from_password(b"pw");
        let mut rs = ReplayState::new();
        let p5 = seal(&hdr(), 5, &key, Cast::Multicast, &MSG);
        let p4 = seal(&hdr(), 4, &key, Cast::Multicast, &MSG);
        assert!(open(&p5, &key, Cast::Multicast, &mut rs).is_ok());
        let e = open(&p5, &key, Cast::Multicast, &mut rs).unwrap_err();
        assert_eq!(e, AhError::Replay { seq: 5, last: 5 });
        assert_eq!(e.reason(), DropReason::Replay);
        assert!(open(&p4, &key, Cast::Multicast, &mut rs).is_err());
        // a failed ICV does not move the counter
        let p9 = seal(
            &hdr(),
            9,
            &AhKey::from_password(b"other"),
            Cast::Multicast,
            &MSG,
        );
        assert!(open(&p9, &key, Cast::Multicast, &mut rs).is_err());
        assert_eq!(rs.last(), 5);
        // reset forgives a restarted sender
        rs.reset();
        assert!(open(&p4, &key, Cast::Multicast, &mut rs).is_ok());
    }

    #[test]
    fn shared_counter_continues_above_what_was_seen() {
        let mut rs = ReplayState::new();
        rs.accept_rx(41).unwrap();
        assert_eq!(rs.next_tx(), Some(42));
        let mut ex = ReplayState { last: SEQ_MAX - 1 };
        assert_eq!(ex.next_tx(), Some(SEQ_MAX));
        assert_eq!(ex.next_tx(), None);
    }

    #[test]
    fn seal_next_uses_the_shared_counter() {
        let key = AhKey::from_password(b"pw");
        let mut tx = ReplayState::new();
        let mut rx = ReplayState::new();
        for want in 1..=3u32 {
            let p = seal_next(&hdr(), &mut tx, &key, Cast::Multicast, &MSG).unwrap();
            assert_eq!(open(&p, &key, Cast::Multicast, &mut rx).unwrap().seq, want);
        }
        // the receiver, taking over, continues above what it saw
        let p = seal_next(&hdr(), &mut rx, &key, Cast::Multicast, &MSG).unwrap();
        assert_eq!(open(&p, &key, Cast::Multicast, &mut tx).unwrap().seq, 4);
        let mut done = ReplayState { last: SEQ_MAX };
        assert!(seal_next(&hdr(), &mut done, &key, Cast::Multicast, &MSG).is_none());
    }

    #[test]
    fn spi_must_be_source() {
        let key = AhKey::from_password(b"pw");
        // a packet whose SPI differs from the source, with a valid ICV
        let mut pkt = seal(&hdr(), 1, &key, Cast::Multicast, &MSG);
        pkt[24..28].copy_from_slice(&[10, 0, 0, 9]);
        pkt[32..44].fill(0);
        let tag = icv(&pkt[..20], &pkt[20..44], &pkt[44..], &key, Cast::Multicast)
            .finalize()
            .into_bytes();
        pkt[32..44].copy_from_slice(&tag[..12]);
        let e = open(&pkt, &key, Cast::Multicast, &mut ReplayState::new()).unwrap_err();
        assert!(matches!(
            e,
            AhError::Spi {
                spi: 0x0a00_0009,
                ..
            }
        ));
    }

    #[test]
    fn layout_errors() {
        let key = AhKey::from_password(b"pw");
        let pkt = seal(&hdr(), 1, &key, Cast::Multicast, &MSG);
        let mut rs = ReplayState::new();
        let mut p = pkt.clone();
        p[9] = 112;
        assert_eq!(
            open(&p, &key, Cast::Multicast, &mut rs),
            Err(AhError::NotAh(112))
        );
        let mut p = pkt.clone();
        p[20] = 6;
        assert_eq!(
            open(&p, &key, Cast::Multicast, &mut rs),
            Err(AhError::NextHeader(6))
        );
        let mut p = pkt.clone();
        p[21] = 5;
        assert_eq!(
            open(&p, &key, Cast::Multicast, &mut rs),
            Err(AhError::PayloadLen(5))
        );
        let mut p = pkt[..40].to_vec();
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(
            open(&p, &key, Cast::Multicast, &mut rs),
            Err(AhError::Truncated {
                len: 20,
                needed: 24
            })
        );
        for n in 0..pkt.len() {
            assert!(open(&pkt[..n], &key, Cast::Multicast, &mut rs).is_err());
        }
    }
}

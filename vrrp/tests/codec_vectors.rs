//! Packets captured from keepalived 2.2.7 (see `tests/vectors/README.md`): each decodes to
//! the configured values and re-encodes to identical bytes, IP header included.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_core::Cast;
use ha_vrrp::ah::{self, AhError, AhKey, ReplayState};
use ha_vrrp::packet::{
    Advertisement, Auth, ChecksumMatch, ChecksumMode, ChecksumPolicy, DecodeError, IpContext,
    Ipv4Header, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_PROTOCOL, VRRP_TTL,
};
use ha_vrrp::{Centiseconds, DropReason, Priority, Version, Vrid};

const PH: ChecksumMode = ChecksumMode::PseudoHeader;
const NPH: ChecksumMode = ChecksumMode::NoPseudoHeader;
const STRICT: ChecksumPolicy = ChecksumPolicy::Strict;

fn packets(hex: &str) -> Vec<Vec<u8>> {
    hex.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}

/// Decodes a plain (non-AH) IPv4 VRRP packet, checks the IP header, re-encodes both the
/// header and the message and compares with the capture.
fn roundtrip_v4(pkt: &[u8], mode: ChecksumMode) -> Advertisement {
    let (h, payload) = Ipv4Header::parse(pkt).unwrap();
    assert_eq!(h.protocol, VRRP_PROTOCOL);
    assert_eq!(h.ttl, VRRP_TTL);
    assert_eq!(h.destination, VRRP_GROUP_V4);
    assert_eq!(h.source, Ipv4Addr::new(10, 99, 0, 1));
    assert_eq!(h.tos, 0xc0);
    let ctx = h.context();
    let a = Advertisement::parse(payload, &ctx, mode, STRICT).unwrap();
    let mut out = Vec::new();
    h.emit(a.buffer_len(), &mut out);
    a.emit(&ctx, mode, &mut out).unwrap();
    assert_eq!(out, pkt, "re-encoded packet differs");
    a
}

#[test]
fn keepalived_v2_no_auth() {
    let pkts = packets(include_str!("vectors/v2_noauth.hex"));
    assert_eq!(pkts.len(), 3);
    for (i, p) in pkts.iter().enumerate() {
        let a = roundtrip_v4(p, PH);
        assert_eq!(
            a,
            Advertisement {
                version: Version::V2,
                vrid: Vrid::new(51).unwrap(),
                priority: Priority(150),
                interval: Centiseconds(100),
                addresses: vec![v4("10.99.0.100"), v4("10.99.0.101")],
                auth: Auth::None,
            }
        );
        // the mode is irrelevant for VRRPv2
        assert_eq!(roundtrip_v4(p, NPH), a);
        // keepalived counts Identification up from 1
        assert_eq!(Ipv4Header::parse(p).unwrap().0.identification, i as u16 + 1);
    }
}

#[test]
fn keepalived_v2_simple_password_and_priority_zero() {
    let pkts = packets(include_str!("vectors/v2_pass.hex"));
    assert_eq!(pkts.len(), 2);
    let a = roundtrip_v4(&pkts[0], PH);
    assert_eq!(a.version, Version::V2);
    assert_eq!(a.vrid.get(), 52);
    assert_eq!(a.priority, Priority(200));
    assert_eq!(a.interval, Centiseconds(200));
    assert_eq!(a.addresses, vec![v4("10.99.0.102")]);
    assert_eq!(a.auth, Auth::Simple(*b"vrrpPass"));
    assert_eq!(a.auth, Auth::simple(b"vrrpPass"));
    // SIGTERM: the Master says it is leaving
    let b = roundtrip_v4(&pkts[1], PH);
    assert_eq!(b.priority, Priority::SHUTDOWN);
    assert_eq!(b.auth, a.auth);
}

#[test]
fn keepalived_v2_ipsec_ah() {
    let pkts = packets(include_str!("vectors/v2_ah.hex"));
    assert_eq!(pkts.len(), 3);
    let key = AhKey::from_password(b"s3cret");
    let mut replay = ReplayState::new();
    for (i, p) in pkts.iter().enumerate() {
        let o = ah::open(p, &key, Cast::Multicast, &mut replay).unwrap();
        assert_eq!(o.seq, i as u32 + 1);
        assert_eq!(o.spi, u32::from(Ipv4Addr::new(10, 99, 0, 1)));
        assert_eq!(o.header.protocol, ah::AH_PROTOCOL);
        assert_eq!(o.header.ttl, 255);
        let ctx = o.header.context();
        let a = Advertisement::parse(o.vrrp, &ctx, PH, STRICT).unwrap();
        assert_eq!(
            a,
            Advertisement {
                version: Version::V2,
                vrid: Vrid::new(53).unwrap(),
                priority: Priority(120),
                interval: Centiseconds(100),
                addresses: vec![v4("10.99.0.103"), v4("10.99.0.104")],
                auth: Auth::Ah,
            }
        );
        // re-encode the message and seal it again: byte-identical to keepalived's packet
        let msg = a.to_bytes(&ctx, PH).unwrap();
        assert_eq!(msg, o.vrrp);
        let sealed = ah::seal(&o.header, o.seq, &key, Cast::Multicast, &msg);
        assert_eq!(&sealed, p);
    }
    assert_eq!(replay.last(), 3);
    // replaying any of them is refused
    for p in &pkts {
        let e = ah::open(p, &key, Cast::Multicast, &mut replay).unwrap_err();
        assert!(matches!(e, AhError::Replay { last: 3, .. }));
        assert_eq!(e.reason(), DropReason::Replay);
    }
    // wrong password
    let e = ah::open(
        &pkts[0],
        &AhKey::from_password(b"s3creT"),
        Cast::Multicast,
        &mut ReplayState::new(),
    )
    .unwrap_err();
    assert_eq!(e, AhError::Icv);
    assert_eq!(e.reason(), DropReason::Auth);
    // keepalived 2.2.7 keeps the TTL in the ICV for multicast: the unicast rule fails
    let e = ah::open(&pkts[0], &key, Cast::Unicast, &mut ReplayState::new()).unwrap_err();
    assert_eq!(e, AhError::Icv);
    // a receiver that already saw 2 accepts only 3
    let mut seen2 = ReplayState::new();
    seen2.accept_rx(2).unwrap();
    assert!(ah::open(&pkts[0], &key, Cast::Multicast, &mut seen2).is_err());
    assert!(ah::open(&pkts[2], &key, Cast::Multicast, &mut seen2).is_ok());
    // the AH packet is not a plain VRRP packet
    let (h, payload) = Ipv4Header::parse(&pkts[0]).unwrap();
    assert_eq!(h.protocol, 51);
    assert!(Advertisement::parse(payload, &h.context(), PH, STRICT).is_err());
}

#[test]
fn keepalived_v3_ipv4_pseudo_header_checksum() {
    let pkts = packets(include_str!("vectors/v3_ipv4.hex"));
    assert_eq!(pkts.len(), 3);
    for p in &pkts {
        let a = roundtrip_v4(p, PH);
        assert_eq!(
            a,
            Advertisement {
                version: Version::V3,
                vrid: Vrid::new(54).unwrap(),
                priority: Priority(254),
                interval: Centiseconds(50),
                addresses: vec![v4("10.99.0.105")],
                auth: Auth::None,
            }
        );
        let (h, payload) = Ipv4Header::parse(p).unwrap();
        let ctx = h.context();
        // configured for the v2-style form, strict: rejected
        let e = Advertisement::parse(payload, &ctx, NPH, STRICT).unwrap_err();
        assert!(matches!(e, DecodeError::Checksum { .. }));
        // accept either: it tells which one matched
        let (_, m) =
            Advertisement::parse_matched(payload, &ctx, NPH, ChecksumPolicy::AcceptEither).unwrap();
        assert_eq!(m, ChecksumMatch::V3Ipv4(PH));
        // the same advert without the pseudo-header differs only in the checksum
        let v2style = a.to_bytes(&ctx, NPH).unwrap();
        assert_eq!(v2style[..6], payload[..6]);
        assert_eq!(v2style[8..], payload[8..]);
        assert_ne!(v2style[6..8], payload[6..8]);
        let (b, m) =
            Advertisement::parse_matched(&v2style, &ctx, PH, ChecksumPolicy::AcceptEither).unwrap();
        assert_eq!(b, a);
        assert_eq!(m, ChecksumMatch::V3Ipv4(NPH));
    }
}

#[test]
fn keepalived_v3_ipv6() {
    let pkts = packets(include_str!("vectors/v3_ipv6.hex"));
    assert_eq!(pkts.len(), 3);
    for p in &pkts {
        // fixed IPv6 header, no extension headers
        assert_eq!(p[0] >> 4, 6);
        let payload_len = usize::from(u16::from_be_bytes([p[4], p[5]]));
        assert_eq!(p[6], VRRP_PROTOCOL);
        assert_eq!(p[7], VRRP_TTL);
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
        assert_eq!(dst, VRRP_GROUP_V6);
        assert!(src.is_unicast_link_local());
        let msg = &p[40..];
        assert_eq!(msg.len(), payload_len);
        let ctx = IpContext::v6(src, dst);
        // IPv6 always includes the pseudo-header, whatever the IPv4 mode says
        for mode in [PH, NPH] {
            let (a, m) = Advertisement::parse_matched(msg, &ctx, mode, STRICT).unwrap();
            assert_eq!(m, ChecksumMatch::Ipv6);
            assert_eq!(
                a,
                Advertisement {
                    version: Version::V3,
                    vrid: Vrid::new(55).unwrap(),
                    priority: Priority(100),
                    interval: Centiseconds(25),
                    addresses: vec![
                        "fd00:99::100".parse().unwrap(),
                        "fd00:99::101".parse().unwrap()
                    ],
                    auth: Auth::None,
                }
            );
            assert_eq!(a.to_bytes(&ctx, mode).unwrap(), msg);
        }
        // another source address breaks the pseudo-header checksum
        let other = IpContext::v6("fe80::1".parse().unwrap(), dst);
        assert!(matches!(
            Advertisement::parse(msg, &other, PH, STRICT),
            Err(DecodeError::Checksum { .. })
        ));
    }
}

#[test]
fn frr_v3_ipv4_also_uses_the_pseudo_header() {
    let pkts = packets(include_str!("vectors/frr_v3_ipv4.hex"));
    assert_eq!(pkts.len(), 3);
    for p in &pkts {
        // FRR 8.4.4 includes the IPv4 pseudo-header, like keepalived
        let a = roundtrip_v4(p, PH);
        assert_eq!(
            a,
            Advertisement {
                version: Version::V3,
                vrid: Vrid::new(56).unwrap(),
                priority: Priority(180),
                // `advertisement-interval 100` is in milliseconds
                interval: Centiseconds(10),
                addresses: vec![v4("10.99.0.106")],
                auth: Auth::None,
            }
        );
        let (h, payload) = Ipv4Header::parse(p).unwrap();
        // FRR sets DF and a non-sequential Identification
        assert_eq!(h.flags_fragment, 0x4000);
        let ctx = h.context();
        // a receiver configured for the v2-style checksum rejects it ...
        let e = Advertisement::parse(payload, &ctx, NPH, STRICT).unwrap_err();
        assert_eq!(e.reason(), DropReason::Checksum);
        // ... one that accepts either reports which form matched
        let (_, m) =
            Advertisement::parse_matched(payload, &ctx, NPH, ChecksumPolicy::AcceptEither).unwrap();
        assert_eq!(m, ChecksumMatch::V3Ipv4(PH));
    }
}

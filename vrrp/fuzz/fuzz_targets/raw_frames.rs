//! Fuzz the Linux adapter's own parsing and framing:
//! - what an IPv4 raw socket delivers: `parse_ipv4_header` (IHL, total length), then the
//!   VRRP decoder on the payload it points at, as the receive path does;
//! - the gratuitous ARP and unsolicited NA frames for arbitrary MACs and addresses, parsed
//!   back with etherparse: they must be well-formed and carry what was asked.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{NetSlice, SlicedPacket};
use ha_vrrp::linux::{gratuitous_arp, parse_ipv4_header, unsolicited_na};
use ha_vrrp::packet::{Advertisement, ChecksumMode, ChecksumPolicy, IpContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The receive path.
    if let Some(meta) = parse_ipv4_header(data) {
        let end = meta.total_len.min(data.len());
        let start = meta.header_len.min(end);
        let ctx = IpContext {
            source: IpAddr::V4(meta.source),
            destination: IpAddr::V4(meta.destination),
        };
        let _ = Advertisement::parse(
            &data[start..end],
            &ctx,
            ChecksumMode::PseudoHeader,
            ChecksumPolicy::AcceptEither,
        );
    }
    // The frames we send.
    if data.len() >= 6 + 16 + 16 {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&data[..6]);
        let v4 = Ipv4Addr::new(data[6], data[7], data[8], data[9]);
        let arp = gratuitous_arp(mac, v4);
        let parsed = SlicedPacket::from_ethernet(&arp).expect("our ARP frame parses");
        match parsed.net {
            Some(NetSlice::Arp(a)) => {
                assert_eq!(a.sender_hw_addr(), &mac[..]);
                assert_eq!(a.sender_protocol_addr(), &v4.octets()[..]);
                assert_eq!(a.target_protocol_addr(), &v4.octets()[..]);
            }
            other => panic!("not ARP: {other:?}"),
        }
        let mut s = [0u8; 16];
        s.copy_from_slice(&data[6..22]);
        let mut t = [0u8; 16];
        t.copy_from_slice(&data[22..38]);
        let na = unsolicited_na(mac, Ipv6Addr::from(s), Ipv6Addr::from(t));
        let parsed = SlicedPacket::from_ethernet(&na).expect("our NA frame parses");
        assert!(matches!(parsed.net, Some(NetSlice::Ipv6(_))), "not IPv6");
    }
});

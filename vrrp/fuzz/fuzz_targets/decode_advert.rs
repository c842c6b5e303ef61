//! Fuzz the VRRP advertisement decoder with an arbitrary IP context, checksum mode and
//! policy. The first bytes choose the context; the rest is the VRRP message.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_vrrp::packet::{Advertisement, ChecksumMode, ChecksumPolicy, IpContext, Packet};
use libfuzzer_sys::fuzz_target;

fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

fn addr(v6: bool, data: &mut &[u8]) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(take::<16>(data)))
    } else {
        IpAddr::V4(Ipv4Addr::from(take::<4>(data)))
    }
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let [flags] = take::<1>(&mut data);
    let source = addr(flags & 1 != 0, &mut data);
    let destination = addr(flags & 2 != 0, &mut data);
    let ctx = IpContext {
        source,
        destination,
    };
    let mode = if flags & 4 != 0 {
        ChecksumMode::PseudoHeader
    } else {
        ChecksumMode::NoPseudoHeader
    };
    let policy = if flags & 8 != 0 {
        ChecksumPolicy::AcceptEither
    } else {
        ChecksumPolicy::Strict
    };

    match Advertisement::parse(data, &ctx, mode, policy) {
        Ok(a) => {
            // whatever parses must re-encode and parse back to the same value
            let bytes = a.to_bytes(&ctx, mode).expect("a parsed advert re-encodes");
            let b = Advertisement::parse(&bytes, &ctx, mode, ChecksumPolicy::Strict)
                .expect("a re-encoded advert parses");
            assert_eq!(a, b);
        }
        Err(e) => {
            let _ = e.reason();
        }
    }
    if let Ok(p) = Packet::new_checked(data) {
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
            p.v2_auth_data(),
            p.ipv4_address(usize::from(flags)),
            p.ipv6_address(1),
        );
        let _ = p.verify_checksum(&ctx, mode);
    }
});

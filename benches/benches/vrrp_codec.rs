//! VRRP codec hot paths: decode + validate, and encode, per packet.
// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta};
use ha_vrrp::packet::{
    Advertisement, Auth, ChecksumMode, ChecksumPolicy, IpContext, VRRP_GROUP_V4, VRRP_GROUP_V6,
};
use ha_vrrp::{Centiseconds, Priority, Router, RouterConfig, Version, Vrid};

fn advert(version: Version, addresses: Vec<IpAddr>) -> Advertisement {
    Advertisement {
        version,
        vrid: Vrid::new(51).unwrap(),
        priority: Priority(200),
        interval: Centiseconds(100),
        addresses,
        auth: Auth::None,
    }
}

fn bench(c: &mut Criterion) {
    let src4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let ctx4 = IpContext {
        source: src4,
        destination: IpAddr::V4(VRRP_GROUP_V4),
    };
    let src6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let ctx6 = IpContext {
        source: src6,
        destination: IpAddr::V6(VRRP_GROUP_V6),
    };
    let v4 = advert(Version::V3, vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))]);
    let v6 = advert(
        Version::V3,
        vec![IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 100))],
    );

    let mut g = c.benchmark_group("vrrp");
    g.throughput(Throughput::Elements(1));
    for (name, adv, ctx) in [("v3_ipv4", &v4, &ctx4), ("v3_ipv6", &v6, &ctx6)] {
        let mut bytes = Vec::new();
        adv.emit(ctx, ChecksumMode::PseudoHeader, &mut bytes)
            .unwrap();
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                Advertisement::parse(
                    black_box(&bytes),
                    ctx,
                    ChecksumMode::PseudoHeader,
                    ChecksumPolicy::Strict,
                )
            })
        });
        let mut buf = Vec::with_capacity(64);
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                black_box(adv).emit(ctx, ChecksumMode::PseudoHeader, &mut buf)
            })
        });
    }

    // The whole receive path of a Backup: validation, decode and the state machine.
    let config = RouterConfig::new(
        "bench",
        Version::V3,
        Vrid::new(51).unwrap(),
        Priority(100),
        IfIndex(1),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
    );
    let mut router = Router::new(config, Instant::ZERO).unwrap();
    router.handle_timeout(Instant::ZERO);
    while router.poll_event().is_some() {}
    let mut bytes = Vec::new();
    v4.emit(&ctx4, ChecksumMode::PseudoHeader, &mut bytes)
        .unwrap();
    let meta = RecvMeta {
        source: src4,
        destination: IpAddr::V4(VRRP_GROUP_V4),
        source_port: None,
        destination_port: None,
        interface: IfIndex(1),
        ttl: 255,
        cast: Cast::Multicast,
    };
    let mut now = Instant::from_secs(1);
    g.bench_function("router_receive/v3_ipv4", |b| {
        b.iter(|| {
            now += std::time::Duration::from_millis(1);
            router.handle_packet(now, black_box(&meta), black_box(&bytes));
            while router.poll_event().is_some() {}
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

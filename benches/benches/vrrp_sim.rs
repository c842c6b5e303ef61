//! Simulation speed: one simulated hour of a three-router VRRPv3 cluster at 10 ms adverts.
// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ha_core::sim::{LinkConfig, Sim};
use ha_vrrp::sim::{add_router, masters};
use ha_vrrp::{Centiseconds, Priority, Router, RouterConfig, Version, Vrid};

fn one_hour() -> usize {
    let mut sim: Sim<Router> = Sim::new(1);
    let lan = sim.add_segment("lan", LinkConfig::default());
    for (i, prio) in [(1u8, 100u8), (2, 150), (3, 200)] {
        let mut c = RouterConfig::new(
            format!("r{i}"),
            Version::V3,
            Vrid::new(51).unwrap(),
            Priority(prio),
            Default::default(),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
        );
        c.advert_interval = Centiseconds(1);
        add_router(&mut sim, lan, c).unwrap();
    }
    sim.run_for(Duration::from_secs(3600));
    assert_eq!(sim.stats().sent, 360_000 - 3);
    masters(&sim).len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.bench_function("vrrp_3_routers_10ms_adverts_1_simulated_hour", |b| {
        b.iter(one_hour)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

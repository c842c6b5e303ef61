//! IPVS reconciler and rule-format hot paths on a 1,000 services × 10 destinations
//! table (the kernel side of the same figures is measured in the VM by
//! `scripts/privileged/ipvs-kernel.sh`; see BENCHMARKS.md).
// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use ha_core::Instant;
use ha_ipvs::model::{DestEntry, ServiceEntry};
use ha_ipvs::reconcile::{DesiredService, Reconciler};
use ha_ipvs::{Destination, ForwardMethod, Protocol, Scheduler, Service, ServiceKey, Snapshot};

fn table(n: usize, per: usize) -> Vec<DesiredService> {
    (0..n)
        .map(|i| DesiredService {
            service: Service::new(
                ServiceKey::Addr {
                    addr: format!("10.{}.{}.1", 100 + i / 256, i % 256)
                        .parse()
                        .unwrap(),
                    protocol: Protocol::Tcp,
                    port: 80,
                },
                Scheduler::Wlc,
            ),
            dests: (0..per)
                .map(|j| {
                    let addr: IpAddr = format!("172.16.{j}.{}", i % 250 + 1).parse().unwrap();
                    Destination::new(addr, 8080, ForwardMethod::Masquerade)
                        .with_weight(1 + (i + j) as u32 % 10)
                })
                .collect(),
        })
        .collect()
}

fn snapshot(desired: &[DesiredService]) -> Snapshot {
    Snapshot {
        services: desired
            .iter()
            .map(|d| ServiceEntry {
                service: d.service.clone(),
                stats: Default::default(),
                dests: d
                    .dests
                    .iter()
                    .map(|&dest| DestEntry {
                        dest,
                        stats: Default::default(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let want = table(1000, 10);
    let actual = snapshot(&want);
    let empty = Snapshot::default();
    let mut one = want.clone();
    one[500].dests[3].weight = 77;

    let mut g = c.benchmark_group("ipvs_1000x10");
    g.bench_function("plan_noop", |b| {
        let mut r = Reconciler::new(None);
        b.iter(|| black_box(r.plan(Instant::ZERO, black_box(&want), black_box(&actual))))
    });
    g.bench_function("plan_one_dest_changed", |b| {
        let mut r = Reconciler::new(None);
        b.iter(|| black_box(r.plan(Instant::ZERO, black_box(&one), black_box(&actual))))
    });
    g.bench_function("plan_from_empty", |b| {
        let mut r = Reconciler::new(None);
        b.iter(|| black_box(r.plan(Instant::ZERO, black_box(&want), black_box(&empty))))
    });
    g.bench_function("ipvsadm_save", |b| {
        b.iter(|| black_box(ha_ipvs::ipvsadm::save(black_box(&actual))))
    });
    let text = ha_ipvs::ipvsadm::save(&actual);
    g.bench_function("ipvsadm_parse", |b| {
        b.iter(|| black_box(ha_ipvs::ipvsadm::parse(black_box(&text))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

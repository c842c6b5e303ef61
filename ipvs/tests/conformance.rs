//! One scenario, two backends: the fake here, the kernel under a VM. The scenario checks
//! the answers `net/netfilter/ipvs/ip_vs_ctl.c` gives, so running it on both proves the
//! fake answers like the kernel.
//!
//! The kernel run is `#[ignore]`d and, even with `--ignored`, does nothing unless
//! `HA_IPVS_KERNEL_TESTS=1` is set: it flushes the IPVS table of the network namespace it
//! runs in, so it must only run in a disposable VM or namespace with `ip_vs` loaded.

use ha_ipvs::model::{
    Destination, DestinationKey, ForwardMethod, Protocol, Scheduler, Service, ServiceKey, Timeouts,
};
use ha_ipvs::reconcile::{DesiredService, apply, plan};
use ha_ipvs::{Errno, FakeIpvs, IpvsBackend, IpvsError};
use std::time::Duration;

fn errno<T: std::fmt::Debug>(r: Result<T, IpvsError>) -> Errno {
    match r {
        Err(IpvsError::Kernel { errno, .. }) => errno,
        other => panic!("expected a kernel error, got {other:?}"),
    }
}

fn key(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        addr: "198.51.100.1".parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
    }
}

fn dest(last: u8) -> Destination {
    Destination::new(
        format!("203.0.113.{last}").parse().unwrap(),
        8080,
        ForwardMethod::Masquerade,
    )
}

async fn scenario(b: &dyn IpvsBackend) {
    b.flush().await.unwrap();
    assert!(b.dump().await.unwrap().services.is_empty());

    let svc = Service::new(key(80), Scheduler::Rr);
    b.add_service(&svc).await.unwrap();
    assert_eq!(errno(b.add_service(&svc).await), Errno::Exist);
    assert_eq!(errno(b.del_service(&key(81)).await), Errno::Srch);
    let mut bad = Service::new(key(82), Scheduler::Other("nosuchsched".into()));
    assert_eq!(errno(b.add_service(&bad).await), Errno::NoEnt);
    bad.scheduler = Scheduler::Rr;
    bad.pe = Some(ha_ipvs::model::PersistenceEngine::Other("nosuchpe".into()));
    assert_eq!(errno(b.add_service(&bad).await), Errno::NoEnt);

    b.add_dest(&key(80), &dest(1)).await.unwrap();
    assert_eq!(errno(b.add_dest(&key(80), &dest(1)).await), Errno::Exist);
    assert_eq!(errno(b.add_dest(&key(81), &dest(1)).await), Errno::Srch);
    assert_eq!(errno(b.edit_dest(&key(80), &dest(2)).await), Errno::NoEnt);
    let missing = DestinationKey {
        addr: "203.0.113.9".parse().unwrap(),
        port: 8080,
    };
    assert_eq!(errno(b.del_dest(&key(80), &missing).await), Errno::NoEnt);
    let mut th = dest(3);
    th.lower_threshold = 5;
    th.upper_threshold = 1;
    assert_eq!(errno(b.add_dest(&key(80), &th).await), Errno::Range);

    // Edit in place, then read back exactly what was configured.
    let mut edited = svc.clone().persistent(Duration::from_secs(120));
    edited.scheduler = Scheduler::Wlc;
    b.edit_service(&edited).await.unwrap();
    b.edit_dest(&key(80), &dest(1).with_weight(7))
        .await
        .unwrap();
    let snap = b.dump().await.unwrap();
    assert_eq!(snap.services.len(), 1);
    assert_eq!(snap.services[0].service, edited);
    assert_eq!(snap.services[0].dests[0].dest, dest(1).with_weight(7));

    // The reconciler converges the backend and then plans nothing.
    let want = [DesiredService {
        service: Service::new(key(443), Scheduler::Wrr),
        dests: vec![dest(4), dest(5).with_weight(3)],
    }];
    let ops = plan(&want, &b.dump().await.unwrap());
    apply(b, &ops).await.unwrap();
    assert!(plan(&want, &b.dump().await.unwrap()).is_empty());

    b.zero(None).await.unwrap();
    b.zero(Some(&key(443))).await.unwrap();
    assert_eq!(errno(b.zero(Some(&key(80))).await), Errno::Srch);

    let before = b.timeouts().await.unwrap();
    b.set_timeouts(&Timeouts {
        tcp: Duration::ZERO,
        tcp_fin: Duration::from_secs(61),
        udp: Duration::ZERO,
    })
    .await
    .unwrap();
    let after = b.timeouts().await.unwrap();
    assert_eq!(after.tcp, before.tcp);
    assert_eq!(after.tcp_fin, Duration::from_secs(61));
    b.set_timeouts(&before).await.unwrap();

    let info = b.info().await.unwrap();
    assert_eq!(info.version.major, 1);

    b.flush().await.unwrap();
    assert!(b.dump().await.unwrap().services.is_empty());
}

#[tokio::test]
async fn fake_conforms() {
    scenario(&FakeIpvs::new()).await;
}

#[cfg(feature = "linux")]
#[tokio::test]
#[ignore = "privileged: needs the ip_vs module and HA_IPVS_KERNEL_TESTS=1 (flushes IPVS)"]
async fn kernel_conforms() {
    if std::env::var("HA_IPVS_KERNEL_TESTS").as_deref() != Ok("1") {
        eprintln!("kernel_conforms: skipped (set HA_IPVS_KERNEL_TESTS=1 in a disposable VM)");
        return;
    }
    let client = ha_ipvs::client::IpvsClient::connect(Default::default())
        .await
        .expect("the ip_vs module must be loaded for this test");
    scenario(&client).await;
}

//! The fake answers like `net/netfilter/ipvs/ip_vs_ctl.c` does.

mod common;
use common::block_on;
use ha_ipvs::model::{
    Destination, DestinationKey, Family, ForwardMethod, Netmask, PersistenceEngine, Protocol,
    Scheduler, Service, ServiceKey, SyncDaemon, SyncState, Timeouts, Tunnel, TunnelChecksum,
};
use ha_ipvs::{Errno, FakeIpvs, IpvsBackend, IpvsError, model::ModelError};
use std::net::IpAddr;
use std::time::Duration;

fn key() -> ServiceKey {
    ServiceKey::Addr {
        addr: "192.0.2.10".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 443,
    }
}

fn svc() -> Service {
    Service::new(key(), Scheduler::Rr)
}

fn dest(addr: &str) -> Destination {
    Destination::new(addr.parse().unwrap(), 443, ForwardMethod::Masquerade)
}

fn errno<T: std::fmt::Debug>(r: Result<T, IpvsError>) -> Errno {
    r.unwrap_err().errno().expect("kernel error")
}

#[test]
fn service_lifecycle_and_kernel_errors() {
    let f = FakeIpvs::new();
    block_on(async {
        f.add_service(&svc()).await.unwrap();
        // ip_vs_genl_set_cmd: NEW_SERVICE on an existing service is EEXIST.
        assert_eq!(errno(f.add_service(&svc()).await), Errno::Exist);
        let mut edited = svc();
        edited.scheduler = Scheduler::Wrr;
        f.edit_service(&edited).await.unwrap();
        assert_eq!(f.dump().await.unwrap().services[0].service, edited);
        f.del_service(&key()).await.unwrap();
        // Any other command on a missing service is ESRCH.
        assert_eq!(errno(f.del_service(&key()).await), Errno::Srch);
        assert_eq!(errno(f.edit_service(&svc()).await), Errno::Srch);
        assert_eq!(
            errno(f.add_dest(&key(), &dest("10.0.0.1")).await),
            Errno::Srch
        );
        assert_eq!(errno(f.zero(Some(&key())).await), Errno::Srch);
    });
}

#[test]
fn unknown_scheduler_or_pe_is_enoent_and_bad_v6_netmask_einval() {
    let f = FakeIpvs::new();
    block_on(async {
        let mut s = svc();
        s.scheduler = Scheduler::Other("nope".into());
        assert_eq!(errno(f.add_service(&s).await), Errno::NoEnt);
        f.set_schedulers(["rr"]);
        s.scheduler = Scheduler::Mh;
        assert_eq!(errno(f.add_service(&s).await), Errno::NoEnt);
        s.scheduler = Scheduler::None;
        s.pe = Some(PersistenceEngine::Other("ftp".into()));
        assert_eq!(errno(f.add_service(&s).await), Errno::NoEnt);
        s.pe = Some(PersistenceEngine::Sip);
        f.add_service(&s).await.unwrap();

        let mut v6 = Service::new(
            ServiceKey::Fwmark {
                family: Family::V6,
                mark: 1,
            },
            Scheduler::Rr,
        );
        v6.netmask = Netmask::V6(0);
        assert_eq!(errno(f.add_service(&v6).await), Errno::Inval);
    });
}

#[test]
fn values_that_cannot_be_encoded_fail_before_the_kernel() {
    let f = FakeIpvs::new();
    block_on(async {
        let mut s = svc();
        s.key = ServiceKey::Addr {
            addr: "192.0.2.1".parse().unwrap(),
            protocol: Protocol::Udp,
            port: 0,
        };
        assert_eq!(
            f.add_service(&s).await,
            Err(IpvsError::Model(ModelError::ZeroPort))
        );
        // Port 0 is allowed for persistent services.
        f.add_service(&s.clone().persistent(Duration::from_secs(60)))
            .await
            .unwrap();
        let mut long = svc();
        long.scheduler = Scheduler::Other("a-very-long-scheduler".into());
        assert!(matches!(
            f.add_service(&long).await,
            Err(IpvsError::Model(ModelError::Name(_)))
        ));
    });
}

#[test]
fn destination_errors() {
    let f = FakeIpvs::new();
    block_on(async {
        f.add_service(&svc()).await.unwrap();
        f.add_dest(&key(), &dest("10.0.0.1")).await.unwrap();
        assert_eq!(
            errno(f.add_dest(&key(), &dest("10.0.0.1")).await),
            Errno::Exist
        );
        assert_eq!(
            errno(f.edit_dest(&key(), &dest("10.0.0.2")).await),
            Errno::NoEnt
        );
        let k2 = DestinationKey {
            addr: "10.0.0.2".parse().unwrap(),
            port: 443,
        };
        assert_eq!(errno(f.del_dest(&key(), &k2).await), Errno::NoEnt);
        // ip_vs_add_dest: weight < 0 (as int) and l_threshold > u_threshold are ERANGE.
        let heavy = dest("10.0.0.3").with_weight(u32::MAX);
        assert_eq!(errno(f.add_dest(&key(), &heavy).await), Errno::Range);
        let mut th = dest("10.0.0.3");
        th.lower_threshold = 10;
        th.upper_threshold = 5;
        assert_eq!(errno(f.add_dest(&key(), &th).await), Errno::Range);
        // GUE without a port is EINVAL.
        let mut gue = dest("10.0.0.3");
        gue.fwd = ForwardMethod::Tunnel(Tunnel::Gue {
            port: 0,
            checksum: TunnelChecksum::None,
        });
        assert_eq!(errno(f.add_dest(&key(), &gue).await), Errno::Inval);
        // A foreign-family destination must be tunneled.
        let v6 = dest("2001:db8::1");
        assert_eq!(errno(f.add_dest(&key(), &v6).await), Errno::Inval);
        let mut v6t = v6;
        v6t.fwd = ForwardMethod::Tunnel(Tunnel::Ipip);
        f.add_dest(&key(), &v6t).await.unwrap();
        // Multicast is not a real server.
        assert_eq!(
            errno(f.add_dest(&key(), &dest("224.0.0.1")).await),
            Errno::Inval
        );
        let snap = f.dump().await.unwrap();
        assert_eq!(snap.services[0].dests.len(), 2);
        assert_eq!(
            snap.services[0].dests[1].dest.key.addr,
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    });
}

#[test]
fn daemons_timeouts_info_flush_zero() {
    let f = FakeIpvs::new();
    block_on(async {
        let d = SyncDaemon::new(SyncState::Master, "eth0", 1);
        f.start_daemon(&d).await.unwrap();
        assert_eq!(errno(f.start_daemon(&d).await), Errno::Exist);
        assert_eq!(f.daemons().await.unwrap(), vec![d.clone()]);
        f.stop_daemon(SyncState::Master).await.unwrap();
        assert_eq!(errno(f.stop_daemon(SyncState::Master).await), Errno::Srch);
        f.set_interfaces(["lo"]);
        assert_eq!(errno(f.start_daemon(&d).await), Errno::NoDev);

        let t = f.timeouts().await.unwrap();
        assert_eq!(t.tcp, Duration::from_secs(900));
        f.set_timeouts(&Timeouts {
            tcp: Duration::ZERO,
            tcp_fin: Duration::from_secs(30),
            udp: Duration::ZERO,
        })
        .await
        .unwrap();
        let t2 = f.timeouts().await.unwrap();
        assert_eq!(
            (t2.tcp, t2.tcp_fin, t2.udp),
            (t.tcp, Duration::from_secs(30), t.udp)
        );

        let info = f.info().await.unwrap();
        assert_eq!(info.version.code(), 0x010201);

        f.add_service(&svc()).await.unwrap();
        f.zero(None).await.unwrap();
        f.flush().await.unwrap();
        assert!(f.dump().await.unwrap().services.is_empty());
        f.inject_error(IpvsError::Timeout(Duration::from_secs(1)));
        assert_eq!(
            f.dump().await,
            Err(IpvsError::Timeout(Duration::from_secs(1)))
        );
    });
}

#[test]
fn snapshots_and_configs_serialize_to_json_and_back() {
    use ha_ipvs::model::Snapshot;
    use ha_ipvs::pool::{PoolConfig, RealServer};
    let f = FakeIpvs::new();
    block_on(async {
        let mut s = svc().persistent(Duration::from_secs(30));
        s.pe = Some(PersistenceEngine::Sip);
        f.add_service(&s).await.unwrap();
        let mut d = dest("10.0.0.1");
        d.fwd = ForwardMethod::Tunnel(Tunnel::Gre {
            checksum: TunnelChecksum::Remote,
        });
        f.add_dest(&key(), &d).await.unwrap();
    });
    f.set_connections(&key(), &dest("10.0.0.1").key, 3, 4)
        .unwrap();
    let snap = f.snapshot();
    let json = serde_json::to_string(&snap).unwrap();
    assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), snap);
    let cfg = PoolConfig::new(
        svc(),
        vec![RealServer {
            dest: dest("10.0.0.2"),
            inhibit_on_failure: true,
        }],
    );
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<PoolConfig>(&json).unwrap(), cfg);
}

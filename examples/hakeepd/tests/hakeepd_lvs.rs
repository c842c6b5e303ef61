//! The load-balancer wiring of hakeepd without a kernel: a keepalived.conf
//! `virtual_server` with TCP checks against real listeners on loopback, verdicts through
//! the pool controller and the reconciler into the in-memory IPVS table, with the
//! notify FIFO lines keepalived writes. A killed server leaves the table; losing the
//! quorum brings in the sorry server; the control API's drain and add take effect.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use ha_core::conf::{Options, parse_str};
use ha_healthcheck::SchedulerConfig;
use ha_healthcheck::runner::Runner;
use ha_ipvs::FakeIpvs;
use ha_ipvs::model::Snapshot;
use hakeepd::lvs::Lvs;
use hakeepd::notify::Notifier;
use hakeepd::script::{Account, AccountDb};
use hakeepd::settings::FifoConf;

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

fn dests(snapshot: &Snapshot) -> Vec<(u16, u32)> {
    let mut out: Vec<(u16, u32)> = snapshot
        .services
        .iter()
        .flat_map(|s| s.dests.iter().map(|d| (d.dest.key.port, d.dest.weight)))
        .collect();
    out.sort();
    out
}

/// The pieces of a test load balancer. The runner handle is kept: the runner stops when
/// its last handle is dropped.
struct TestLvs {
    lvs: Lvs,
    fake: Arc<FakeIpvs>,
    verdicts: tokio::sync::mpsc::UnboundedReceiver<ha_healthcheck::VerdictEvent>,
    _runner: ha_healthcheck::runner::RunnerHandle,
}

/// A running load balancer over an in-memory IPVS table for `text`, with the verdicts
/// of its checks. The mapping and the checker blocks must raise no warning.
async fn start(text: &str) -> TestLvs {
    let conf = parse_str(text, &Options::default()).unwrap();
    let mapped = ha_ipvs::keepalived::map(&conf).unwrap();
    assert!(mapped.warnings.is_empty(), "{:?}", mapped.warnings);
    let fake = Arc::new(FakeIpvs::new());
    let (runner, handle, verdicts) =
        Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
    tokio::spawn(runner.run());
    let scripts = hakeepd::lvs::ScriptPolicy {
        account: Account::ROOT,
        security: false,
    };
    let mut warnings = Vec::new();
    let lvs = Lvs::start(
        &conf,
        &mapped,
        fake.clone(),
        &handle,
        scripts,
        &mut warnings,
    )
    .await
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    TestLvs {
        lvs,
        fake,
        verdicts,
        _runner: handle,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn checks_drive_the_table_through_pools_and_the_reconciler() {
    let (a, a_addr) = listener();
    let (b, b_addr) = listener();
    let (_sorry, sorry_addr) = listener();
    let text = format!(
        "virtual_server 192.0.2.1 80 {{\n  delay_loop 1\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  quorum 2\n\
         \n  sorry_server 127.0.0.1 {sp}\n\
         \n  real_server 127.0.0.1 {ap} {{\n    weight 2\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n\
         \n  real_server 127.0.0.1 {bp} {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n",
        sp = sorry_addr.port(),
        ap = a_addr.port(),
        bp = b_addr.port()
    );
    let TestLvs {
        mut lvs,
        fake,
        mut verdicts,
        _runner,
    } = start(&text).await;
    let dir = std::env::temp_dir().join(format!("hakeepd-lvs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = FifoConf {
        path: dir.join("fifo"),
        script: None,
    };
    let mut notifier = Notifier::new(
        [None, None, Some(&fifo)],
        Account::ROOT,
        false,
        AccountDb::from_text("", ""),
    );
    // Drive until the table holds both servers.
    let mut pump =
        async |lvs: &mut Lvs, notifier: &mut Notifier, until: &dyn Fn(&Snapshot) -> bool| {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                lvs.sync().await;
                if until(&fake.snapshot()) {
                    return true;
                }
                tokio::select! {
                    Some(v) = verdicts.recv() => { lvs.on_verdict(&v, notifier); }
                    () = tokio::time::sleep_until(deadline) => return false,
                }
            }
        };
    let (ap, bp, sp) = (a_addr.port(), b_addr.port(), sorry_addr.port());
    let mut both = vec![(ap, 2), (bp, 1)];
    both.sort();
    assert!(
        pump(&mut lvs, &mut notifier, &|s| dests(s) == both).await,
        "both servers in the table: {:?}",
        dests(&fake.snapshot())
    );
    // Kill b: it leaves the table, and the quorum (2 = 2 + 1 - 1) holds with a alone.
    drop(b);
    assert!(
        pump(&mut lvs, &mut notifier, &|s| dests(s) == vec![(ap, 2)]).await,
        "b removed: {:?}",
        dests(&fake.snapshot())
    );
    // Kill a: quorum lost, the sorry server comes in.
    drop(a);
    assert!(
        pump(&mut lvs, &mut notifier, &|s| dests(s) == vec![(sp, 1)]).await,
        "sorry server: {:?}",
        dests(&fake.snapshot())
    );
    let status = lvs.status();
    assert!(!status[0].quorum_up);
    assert!(status[0].sorry_active);
    // Control API: a new server without checks is alive at once; quorum needs 2.
    let (_c, c_addr) = listener();
    lvs.add_real_server("192.0.2.1:80/TCP", c_addr, 2, &mut notifier)
        .unwrap();
    lvs.sync().await;
    assert_eq!(dests(&fake.snapshot()), vec![(c_addr.port(), 2)]);
    lvs.drain_real_server("192.0.2.1:80/TCP", c_addr, true, |_| Some(2))
        .unwrap();
    lvs.sync().await;
    // Drained: weight 0, still in the table; the quorum is lost again (sorry back in).
    let d = dests(&fake.snapshot());
    assert!(d.contains(&(c_addr.port(), 0)), "{d:?}");
    assert!(
        lvs.add_real_server("nope", c_addr, 1, &mut notifier)
            .is_err()
    );
    // The FIFO holds keepalived's RS and VS lines, in order.
    let mut reader = std::fs::OpenOptions::new();
    use std::os::unix::fs::OpenOptionsExt;
    reader.read(true).custom_flags(libc::O_NONBLOCK);
    let mut f = reader.open(&fifo.path).unwrap();
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut f, &mut text);
    std::fs::remove_dir_all(&dir).unwrap();
    let vs = "[192.0.2.1]:tcp:80";
    assert!(
        text.contains(&format!("RS [127.0.0.1]:{bp} {vs} DOWN\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("RS [127.0.0.1]:{ap} {vs} DOWN\nVS {vs} DOWN\n")),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_sync_daemon_follows_its_vrrp_instance() {
    let text = "global_defs {\n  lvs_sync_daemon eth1 VI_1 id 7\n}\n\
        virtual_server 192.0.2.1 80 {\n  protocol TCP\n  real_server 10.0.0.2 80 {\n  }\n}\n";
    let TestLvs {
        mut lvs,
        fake,
        _runner,
        ..
    } = start(text).await;
    use ha_ipvs::IpvsBackend;
    use ha_ipvs::model::SyncState;
    let roles = async || {
        let mut r: Vec<(SyncState, u8, String)> = fake
            .daemons()
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.state, d.sync_id, d.mcast_ifn.clone()))
            .collect();
        r.sort_by_key(|x| format!("{:?}", x.0));
        r
    };
    // Nothing runs until the instance reports a state.
    assert!(roles().await.is_empty());
    // Another instance does not move it.
    lvs.on_vrrp_state("VI_2", true, 52).await;
    assert!(roles().await.is_empty());
    lvs.on_vrrp_state("VI_1", false, 51).await;
    assert_eq!(roles().await, vec![(SyncState::Backup, 7, "eth1".into())]);
    lvs.on_vrrp_state("VI_1", true, 51).await;
    assert_eq!(roles().await, vec![(SyncState::Master, 7, "eth1".into())]);
    lvs.on_vrrp_state("VI_1", false, 51).await;
    assert_eq!(roles().await, vec![(SyncState::Backup, 7, "eth1".into())]);
    // At shutdown both roles stop.
    lvs.shutdown().await;
    assert!(roles().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn bfd_check_follows_the_bfd_session() {
    let text = "virtual_server 192.0.2.1 80 {\n  protocol TCP\n\
        real_server 10.0.0.2 80 {\n    BFD_CHECK {\n      name peer\n    }\n  }\n\
        real_server 10.0.0.3 80 {\n  }\n}\n";
    let TestLvs {
        mut lvs,
        fake,
        _runner,
        ..
    } = start(text).await;
    let mut notifier = Notifier::new(
        [None, None, None],
        Account::ROOT,
        false,
        AccountDb::from_text("", ""),
    );
    lvs.sync().await;
    assert_eq!(dests(&fake.snapshot()), vec![(80, 1), (80, 1)]);
    // The session goes down: the server it guards leaves the table; another session's
    // change does nothing.
    assert!(!lvs.on_bfd("other", false, &mut notifier));
    assert!(lvs.on_bfd("peer", false, &mut notifier));
    lvs.sync().await;
    let addrs: Vec<String> = fake
        .snapshot()
        .services
        .iter()
        .flat_map(|s| s.dests.iter().map(|d| d.dest.key.addr.to_string()))
        .collect();
    assert_eq!(addrs, vec!["10.0.0.3"]);
    assert!(lvs.on_bfd("peer", true, &mut notifier));
    lvs.sync().await;
    assert_eq!(dests(&fake.snapshot()).len(), 2);
}

//! Pool controller: keepalived's quorum / hysteresis / sorry server / inhibit / alpha /
//! omega semantics, slow start, and the whole loop on the fake.

mod common;
use common::block_on;
use ha_core::Instant;
use ha_ipvs::model::{
    Destination, DestinationKey, ForwardMethod, Protocol, Scheduler, Service, ServiceKey,
};
use ha_ipvs::pool::{PoolConfig, PoolController, PoolError, PoolEvent, RealServer, Verdict};
use ha_ipvs::reconcile::{apply, plan};
use ha_ipvs::{FakeIpvs, IpvsBackend};
use std::collections::BTreeMap;
use std::time::Duration;

fn service() -> Service {
    Service::new(
        ServiceKey::Addr {
            addr: "192.0.2.1".parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        },
        Scheduler::Wlc,
    )
}

fn rs(i: u8, weight: u32, inhibit: bool) -> RealServer {
    RealServer {
        dest: Destination::new(
            format!("10.0.0.{i}").parse().unwrap(),
            80,
            ForwardMethod::Masquerade,
        )
        .with_weight(weight),
        inhibit_on_failure: inhibit,
    }
}

fn key(i: u8) -> DestinationKey {
    rs(i, 1, false).dest.key
}

fn sorry() -> Destination {
    Destination::new("10.0.9.9".parse().unwrap(), 80, ForwardMethod::Masquerade).with_weight(1)
}

fn events(pc: &mut PoolController) -> Vec<PoolEvent> {
    std::iter::from_fn(|| pc.poll_event()).collect()
}

/// Desired destinations as key → weight.
fn table(pc: &PoolController, now: Instant) -> BTreeMap<DestinationKey, u32> {
    pc.desired(now)
        .unwrap()
        .dests
        .iter()
        .map(|d| (d.key, d.weight))
        .collect()
}

const T: Instant = Instant::ZERO;

#[test]
fn starts_up_with_all_servers_and_no_events() {
    let mut pc = PoolController::new(PoolConfig::new(
        service(),
        vec![rs(1, 1, false), rs(2, 3, false)],
    ))
    .unwrap();
    assert!(pc.quorum_up());
    assert!(events(&mut pc).is_empty());
    assert_eq!(table(&pc, T), BTreeMap::from([(key(1), 1), (key(2), 3)]));
    assert_eq!(pc.desired(T).unwrap().service, service());
}

#[test]
fn alpha_starts_down_with_quorum_down_and_sorry_server() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false), rs(2, 1, true)]);
    cfg.alpha = true;
    cfg.sorry_server = Some(sorry());
    let mut pc = PoolController::new(cfg).unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::QuorumDown { weight_sum: 0 },
            PoolEvent::SorryServerActivated(sorry().key)
        ]
    );
    // The inhibited server is present with weight 0; the other is absent.
    assert_eq!(
        table(&pc, T),
        BTreeMap::from([(key(2), 0), (sorry().key, 1)])
    );
    // First success: quorum (1) gained, sorry server out, server in.
    pc.set_verdict(T, &key(1), Verdict::UP).unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::RealServerUp(key(1)),
            PoolEvent::SorryServerDeactivated(sorry().key),
            PoolEvent::QuorumUp { weight_sum: 1 },
        ]
    );
    assert_eq!(table(&pc, T), BTreeMap::from([(key(1), 1), (key(2), 0)]));
}

#[test]
fn failure_without_quorum_loss_removes_or_inhibits_the_server() {
    let mut pc = PoolController::new(PoolConfig::new(
        service(),
        vec![rs(1, 1, false), rs(2, 1, true)],
    ))
    .unwrap();
    pc.set_verdict(T, &key(1), Verdict::DOWN).unwrap();
    pc.set_verdict(T, &key(1), Verdict::DOWN).unwrap(); // repeated verdict: no event
    assert_eq!(events(&mut pc), vec![PoolEvent::RealServerDown(key(1))]);
    assert_eq!(table(&pc, T), BTreeMap::from([(key(2), 1)]));
    // inhibit_on_failure: weight 0 instead of removal.
    pc.set_verdict(T, &key(2), Verdict::DOWN).unwrap();
    assert_eq!(table(&pc, T), BTreeMap::from([(key(2), 0)]));
}

#[test]
fn quorum_loss_puts_in_the_sorry_server_and_withdraws_live_servers() {
    let mut cfg = PoolConfig::new(
        service(),
        vec![rs(1, 2, false), rs(2, 2, true), rs(3, 2, false)],
    );
    cfg.quorum = 4;
    cfg.sorry_server = Some(sorry());
    let mut pc = PoolController::new(cfg).unwrap();
    pc.set_verdict(T, &key(1), Verdict::DOWN).unwrap();
    assert_eq!(events(&mut pc), vec![PoolEvent::RealServerDown(key(1))]);
    assert!(pc.quorum_up()); // 4 >= 4
    pc.set_verdict(T, &key(3), Verdict::DOWN).unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::RealServerDown(key(3)),
            PoolEvent::QuorumDown { weight_sum: 2 },
            PoolEvent::SorryServerActivated(sorry().key),
        ]
    );
    // Server 2 is alive but withdrawn (weight 0: it is inhibit_on_failure).
    assert_eq!(
        table(&pc, T),
        BTreeMap::from([(key(2), 0), (sorry().key, 1)])
    );
    assert!(pc.sorry_active());
    // Back up: quorum regained, sorry server out.
    pc.set_verdict(T, &key(3), Verdict::UP).unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::RealServerUp(key(3)),
            PoolEvent::SorryServerDeactivated(sorry().key),
            PoolEvent::QuorumUp { weight_sum: 4 },
        ]
    );
    assert_eq!(table(&pc, T), BTreeMap::from([(key(2), 2), (key(3), 2)]));
}

#[test]
fn sorry_server_inhibit_keeps_it_at_weight_zero_when_idle() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false)]);
    cfg.sorry_server = Some(sorry());
    cfg.sorry_server_inhibit = true;
    let mut pc = PoolController::new(cfg).unwrap();
    assert_eq!(
        table(&pc, T),
        BTreeMap::from([(key(1), 1), (sorry().key, 0)])
    );
    pc.set_verdict(T, &key(1), Verdict::DOWN).unwrap();
    assert_eq!(table(&pc, T), BTreeMap::from([(sorry().key, 1)]));
    pc.set_verdict(T, &key(1), Verdict::UP).unwrap();
    assert_eq!(
        table(&pc, T),
        BTreeMap::from([(key(1), 1), (sorry().key, 0)])
    );
}

#[test]
fn quorum_down_without_sorry_server_leaves_live_servers_in() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false), rs(2, 1, false)]);
    cfg.quorum = 2;
    let mut pc = PoolController::new(cfg).unwrap();
    pc.set_verdict(T, &key(1), Verdict::DOWN).unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::RealServerDown(key(1)),
            PoolEvent::QuorumDown { weight_sum: 1 }
        ]
    );
    assert_eq!(table(&pc, T), BTreeMap::from([(key(2), 1)]));
}

#[test]
fn hysteresis_needs_quorum_plus_h_to_gain_and_below_quorum_minus_h_to_lose() {
    // quorum 4, hysteresis 1: gain at >= 5, lose at < 3 (or 0).
    let servers = (1..=6).map(|i| rs(i, 1, false)).collect();
    let mut cfg = PoolConfig::new(service(), servers);
    cfg.quorum = 4;
    cfg.hysteresis = 1;
    cfg.alpha = true;
    let mut pc = PoolController::new(cfg).unwrap();
    assert!(!pc.quorum_up());
    for i in 1..=4 {
        pc.set_verdict(T, &key(i), Verdict::UP).unwrap();
    }
    assert!(!pc.quorum_up(), "4 < 4 + 1");
    pc.set_verdict(T, &key(5), Verdict::UP).unwrap();
    assert!(pc.quorum_up());
    pc.set_verdict(T, &key(5), Verdict::DOWN).unwrap();
    pc.set_verdict(T, &key(4), Verdict::DOWN).unwrap();
    assert!(pc.quorum_up(), "3 is not < 4 - 1");
    pc.set_verdict(T, &key(3), Verdict::DOWN).unwrap();
    assert!(!pc.quorum_up(), "2 < 3");
    let ev = events(&mut pc);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, PoolEvent::QuorumUp { .. } | PoolEvent::QuorumDown { .. }))
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            PoolEvent::QuorumDown { weight_sum: 0 },
            PoolEvent::QuorumUp { weight_sum: 5 },
            PoolEvent::QuorumDown { weight_sum: 2 },
        ]
    );
}

#[test]
fn dynamic_weight_changes_count_toward_quorum() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 5, false)]);
    cfg.quorum = 3;
    cfg.sorry_server = Some(sorry());
    let mut pc = PoolController::new(cfg).unwrap();
    pc.set_verdict(
        T,
        &key(1),
        Verdict {
            up: true,
            weight: Some(2),
        },
    )
    .unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::WeightChanged {
                dest: key(1),
                weight: 2
            },
            PoolEvent::QuorumDown { weight_sum: 2 },
            PoolEvent::SorryServerActivated(sorry().key),
        ]
    );
}

#[test]
fn slow_start_ramps_weight_and_reports_the_next_step() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 10, false), rs(2, 10, false)]);
    cfg.slow_start = Some(Duration::from_secs(10));
    let mut pc = PoolController::new(cfg).unwrap();
    // Servers up at start are at full weight.
    assert_eq!(pc.poll_timeout(T), None);
    let t0 = Instant::from_secs(100);
    pc.set_verdict(t0, &key(1), Verdict::DOWN).unwrap();
    pc.set_verdict(t0, &key(1), Verdict::UP).unwrap();
    assert_eq!(pc.effective_weight(t0, &key(1)), Some(1));
    assert_eq!(pc.poll_timeout(t0), Some(t0 + Duration::from_secs(2)));
    let t5 = t0 + Duration::from_secs(5);
    assert_eq!(table(&pc, t5)[&key(1)], 5);
    assert_eq!(pc.poll_timeout(t5), Some(t0 + Duration::from_secs(6)));
    let t10 = t0 + Duration::from_secs(10);
    assert_eq!(table(&pc, t10)[&key(1)], 10);
    assert_eq!(pc.poll_timeout(t10), None);
    // The quorum counts the target weight at once.
    assert_eq!(pc.weight_sum(), 20);
}

#[test]
fn omega_shutdown_emits_down_events_and_withdraws_the_service() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false), rs(2, 1, false)]);
    cfg.omega = true;
    let mut pc = PoolController::new(cfg.clone()).unwrap();
    pc.set_verdict(T, &key(2), Verdict::DOWN).unwrap();
    events(&mut pc);
    pc.shutdown(T);
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::RealServerDown(key(1)),
            PoolEvent::QuorumDown { weight_sum: 0 }
        ]
    );
    assert_eq!(pc.desired(T), None);
    // Without omega: silent.
    cfg.omega = false;
    let mut pc = PoolController::new(cfg).unwrap();
    pc.shutdown(T);
    assert!(events(&mut pc).is_empty());
    assert_eq!(pc.desired(T), None);
}

#[test]
fn configuration_errors() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false), rs(1, 2, false)]);
    assert_eq!(
        PoolController::new(cfg.clone()).unwrap_err(),
        PoolError::Duplicate(key(1))
    );
    cfg.real_servers.pop();
    cfg.quorum = 0;
    assert_eq!(
        PoolController::new(cfg.clone()).unwrap_err(),
        PoolError::ZeroQuorum
    );
    cfg.quorum = 1;
    let mut pc = PoolController::new(cfg).unwrap();
    assert_eq!(
        pc.set_verdict(T, &key(7), Verdict::UP),
        Err(PoolError::UnknownServer(key(7)))
    );
}

#[test]
fn pool_drives_the_fake_through_quorum_loss_and_recovery() {
    let fake = FakeIpvs::new();
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false), rs(2, 1, true)]);
    cfg.quorum = 2;
    cfg.sorry_server = Some(sorry());
    let mut pc = PoolController::new(cfg).unwrap();
    let sync = |pc: &PoolController| {
        block_on(async {
            let want: Vec<_> = pc.desired(T).into_iter().collect();
            let ops = plan(&want, &fake.dump().await.unwrap());
            apply(&fake, &ops).await.unwrap();
            ops.len()
        })
    };
    let weights = || -> BTreeMap<DestinationKey, u32> {
        block_on(fake.dump()).unwrap().services[0]
            .dests
            .iter()
            .map(|d| (d.dest.key, d.dest.weight))
            .collect()
    };
    assert_eq!(sync(&pc), 3);
    assert_eq!(weights(), BTreeMap::from([(key(1), 1), (key(2), 1)]));
    pc.set_verdict(T, &key(2), Verdict::DOWN).unwrap();
    // Quorum lost: 1 removed, 2 stays at weight 0 (inhibit), sorry added.
    assert_eq!(sync(&pc), 3);
    assert_eq!(weights(), BTreeMap::from([(key(2), 0), (sorry().key, 1)]));
    pc.set_verdict(T, &key(2), Verdict::UP).unwrap();
    assert_eq!(sync(&pc), 3);
    assert_eq!(weights(), BTreeMap::from([(key(1), 1), (key(2), 1)]));
    pc.shutdown(T);
    assert_eq!(sync(&pc), 1);
    assert!(block_on(fake.dump()).unwrap().services.is_empty());
}

#[test]
fn reconfigure_keeps_health_state_and_reevaluates_quorum() {
    let mut cfg = PoolConfig::new(service(), vec![rs(1, 1, false), rs(2, 1, false)]);
    let mut pc = PoolController::new(cfg.clone()).unwrap();
    pc.set_verdict(T, &key(2), Verdict::DOWN).unwrap();
    events(&mut pc);
    // Raise the quorum above what is alive and add a sorry server and a new server.
    cfg.quorum = 2;
    cfg.sorry_server = Some(sorry());
    cfg.real_servers.push(rs(3, 1, false));
    cfg.alpha = true;
    pc.reconfigure(T, cfg.clone()).unwrap();
    assert_eq!(pc.is_alive(&key(2)), Some(false), "kept its state");
    assert_eq!(pc.is_alive(&key(3)), Some(false), "new under alpha");
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::QuorumDown { weight_sum: 1 },
            PoolEvent::SorryServerActivated(sorry().key),
        ]
    );
    assert_eq!(table(&pc, T), BTreeMap::from([(sorry().key, 1)]));
    // Lower it again: quorum back, sorry server out.
    cfg.quorum = 1;
    pc.reconfigure(T, cfg).unwrap();
    assert_eq!(
        events(&mut pc),
        vec![
            PoolEvent::SorryServerDeactivated(sorry().key),
            PoolEvent::QuorumUp { weight_sum: 1 },
        ]
    );
    assert_eq!(table(&pc, T), BTreeMap::from([(key(1), 1)]));
}

//! Whole-cluster scenarios in the deterministic simulator (RFC 5798 section 6 timing).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_core::Instant;
use ha_core::sim::{LinkConfig, NodeId, SegmentId, Sim};
use ha_vrrp::sim::{add_router, masters, state};
use ha_vrrp::{
    Centiseconds, Command, Event, Priority, Reason, Router, RouterConfig, State, Version, Vrid,
};
use proptest::prelude::*;

const LINK_DELAY: Duration = Duration::from_micros(100);
const MS: Duration = Duration::from_millis(1);

fn addr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))
}

fn vip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))
}

fn config(i: u8, priority: u8, interval: Centiseconds) -> RouterConfig {
    let mut c = RouterConfig::new(
        format!("r{i}"),
        Version::V3,
        Vrid::new(51).unwrap(),
        Priority(priority),
        Default::default(),
        addr(i),
        vec![vip()],
    );
    c.advert_interval = interval;
    c
}

fn cluster(
    seed: u64,
    priorities: &[u8],
    interval: Centiseconds,
    tweak: impl Fn(&mut RouterConfig),
) -> (Sim<Router>, SegmentId, Vec<NodeId>) {
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment("lan", LinkConfig::default().with_delay(LINK_DELAY));
    let nodes = priorities
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = config(i as u8 + 1, *p, interval);
            tweak(&mut c);
            add_router(&mut sim, lan, c).unwrap()
        })
        .collect();
    (sim, lan, nodes)
}

/// Times at which `node` entered `to`.
fn transitions_to(sim: &Sim<Router>, node: NodeId, to: State) -> Vec<(Instant, Reason)> {
    sim.events()
        .filter(|(_, n, _)| *n == node)
        .filter_map(|(t, _, e)| match e {
            Event::StateChanged { to: s, reason, .. } if *s == to => Some((t, reason.clone())),
            _ => None,
        })
        .collect()
}

fn skew(priority: u8, interval: Centiseconds) -> Duration {
    interval.to_duration() * (256 - u32::from(priority)) / 256
}

fn assert_close(actual: Duration, expected: Duration, what: &str) {
    let diff = actual.abs_diff(expected);
    assert!(
        diff <= MS,
        "{what}: {actual:?} vs formula {expected:?} (diff {diff:?})"
    );
}

#[test]
fn rfc5798_6_4_election_of_three() {
    let interval = Centiseconds(100);
    let (mut sim, _, nodes) = cluster(1, &[100, 150, 200], interval, |_| {});
    sim.run_for(Duration::from_secs(10));
    assert_eq!(masters(&sim), vec![nodes[2]]);
    assert_eq!(state(&sim, nodes[0]), Some(State::Backup));
    assert_eq!(state(&sim, nodes[1]), Some(State::Backup));
    // All start as Backup; the highest priority has the shortest Master_Down_Interval.
    let became = transitions_to(&sim, nodes[2], State::Master);
    assert_eq!(became.len(), 1);
    assert_eq!(
        became[0].0,
        Instant::ZERO + interval.to_duration() * 3 + skew(200, interval)
    );
    assert_eq!(became[0].1, Reason::MasterDown);
    // The Backups learned the Master.
    let r1 = sim.endpoint(nodes[0]).unwrap();
    assert_eq!(r1.master(), Some((addr(3), Priority(200))));
}

#[test]
fn rfc5798_6_1_failover_after_master_crash_is_three_intervals_plus_skew() {
    for interval in [Centiseconds(5), Centiseconds(100)] {
        let (mut sim, _, nodes) = cluster(2, &[100, 150, 200], interval, |_| {});
        sim.run_for(Duration::from_secs(8));
        let crash_at = sim.now() + interval.to_duration() / 2;
        sim.schedule_crash(crash_at, nodes[2]);
        sim.run_for(Duration::from_secs(10));
        // r3 advertised at its Master transition and every interval after; the last one
        // before the crash is the one r2's Master_Down_Timer counts from.
        let became = transitions_to(&sim, nodes[2], State::Master)[0].0;
        let sent_before_crash = (crash_at - became).as_nanos() / interval.to_duration().as_nanos();
        let last_advert = became + interval.to_duration() * sent_before_crash as u32;
        let took_over = transitions_to(&sim, nodes[1], State::Master);
        assert_eq!(took_over.len(), 1, "exactly one takeover by r2");
        let expected = interval.to_duration() * 3 + skew(150, interval);
        assert_close(
            took_over[0].0 - (last_advert + LINK_DELAY),
            expected,
            "failover",
        );
        assert_eq!(masters(&sim), vec![nodes[1]]);
        assert!(transitions_to(&sim, nodes[0], State::Master).is_empty());
    }
}

#[test]
fn rfc5798_6_4_3_graceful_shutdown_takes_skew_time() {
    let interval = Centiseconds(5);
    let (mut sim, _, nodes) = cluster(3, &[100, 150, 200], interval, |_| {});
    sim.run_for(Duration::from_secs(2));
    let stop_at = sim.now() + Duration::from_millis(12);
    sim.schedule_command(stop_at, nodes[2], Command::Shutdown);
    sim.run_for(Duration::from_secs(2));
    let took_over = transitions_to(&sim, nodes[1], State::Master);
    assert_eq!(took_over.len(), 1);
    assert_eq!(took_over[0].1, Reason::MasterLeft);
    assert_close(
        took_over[0].0 - stop_at,
        skew(150, interval) + LINK_DELAY,
        "shutdown",
    );
    assert_eq!(state(&sim, nodes[2]), Some(State::Initialize));
    assert_eq!(
        sim.endpoint(nodes[2]).unwrap().stats().priority_zero_sent,
        1
    );
}

fn late_joiner(
    tweak: impl Fn(&mut RouterConfig) + Clone + 'static,
) -> (Sim<Router>, Vec<NodeId>, Instant) {
    let interval = Centiseconds(100);
    let (mut sim, _, nodes) = cluster(4, &[100, 200], interval, tweak);
    // r2 (the better router) is down at first and joins at 10 s.
    sim.crash(nodes[1]);
    let join = Instant::from_secs(10);
    sim.schedule_restart(join, nodes[1]);
    (sim, nodes, join)
}

#[test]
fn rfc5798_6_4_2_preempt_takes_over_after_master_down_interval() {
    let (mut sim, nodes, join) = late_joiner(|_| {});
    sim.run_for(Duration::from_secs(30));
    let took = transitions_to(&sim, nodes[1], State::Master);
    assert_eq!(took.len(), 1);
    let after = took[0].0 - join;
    let interval = Centiseconds(100);
    assert_close(
        after,
        interval.to_duration() * 3 + skew(200, interval),
        "preemption",
    );
    assert_eq!(masters(&sim), vec![nodes[1]]);
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let (mut sim, nodes, _) = late_joiner(|c| c.preempt = false);
    sim.run_for(Duration::from_secs(30));
    assert!(transitions_to(&sim, nodes[1], State::Master).is_empty());
    assert_eq!(masters(&sim), vec![nodes[0]]);
}

#[test]
fn preempt_delay_defers_preemption() {
    let (mut sim, nodes, join) = late_joiner(|c| c.preempt_delay = Duration::from_secs(8));
    sim.run_for(Duration::from_secs(40));
    let took = transitions_to(&sim, nodes[1], State::Master);
    assert_eq!(took.len(), 1);
    let after = took[0].0 - join;
    assert!(after >= Duration::from_secs(8), "{after:?}");
    assert!(
        after <= Duration::from_secs(8) + Duration::from_millis(3220),
        "{after:?}"
    );
    assert_eq!(masters(&sim), vec![nodes[1]]);
}

#[test]
fn partition_then_heal_converges_within_one_master_down_interval() {
    let interval = Centiseconds(100);
    let (mut sim, _, nodes) = cluster(5, &[100, 150, 200], interval, |_| {});
    sim.run_for(Duration::from_secs(6));
    sim.partition(&[&[nodes[2]], &[nodes[0], nodes[1]]]);
    sim.run_for(Duration::from_secs(10));
    // Split brain while partitioned: r3 on its side, r2 on the other.
    assert_eq!(masters(&sim), vec![nodes[1], nodes[2]]);
    let healed = sim.now();
    sim.heal();
    let master_down = interval.to_duration() * 3 + skew(150, interval);
    sim.run_for(master_down);
    assert_eq!(masters(&sim), vec![nodes[2]]);
    let stepped_down = transitions_to(&sim, nodes[1], State::Backup);
    let last = stepped_down.last().unwrap();
    assert!(last.0 > healed && last.0 <= healed + master_down);
    assert!(matches!(
        last.1,
        Reason::Preempted {
            priority: Priority(200),
            ..
        }
    ));
}

#[test]
fn equal_priority_tie_breaks_by_higher_primary_address() {
    let (mut sim, _, nodes) = cluster(6, &[100, 100, 100], Centiseconds(100), |c| {
        c.initial_state = ha_vrrp::InitialState::Master;
    });
    sim.run_for(Duration::from_secs(10));
    assert_eq!(masters(&sim), vec![nodes[2]]);
}

#[test]
fn loss_within_tolerance_causes_no_flap_and_beyond_it_does() {
    let interval = Centiseconds(100);
    let run = |outage: Duration| {
        let (mut sim, _, nodes) = cluster(7, &[100, 200], interval, |_| {});
        sim.run_for(Duration::from_secs(5));
        let lossy = Some(LinkConfig::default().with_delay(LINK_DELAY).with_loss(1.0));
        // Every 10 s, the path from the Master to the Backup loses everything for `outage`.
        for k in 0..10u64 {
            let start = Instant::from_secs(10 + 10 * k) + Duration::from_millis(500);
            sim.schedule_set_link(start, nodes[1], nodes[0], lossy);
            sim.schedule_set_link(start + outage, nodes[1], nodes[0], None);
        }
        sim.run_for(Duration::from_secs(110));
        transitions_to(&sim, nodes[0], State::Master).len()
    };
    // down_timer_adverts = 3: losing 2 consecutive adverts is within tolerance.
    assert_eq!(run(interval.to_duration() * 2), 0);
    // Losing 3 and a bit is not.
    assert!(run(interval.to_duration() * 3 + skew(100, interval) + Duration::from_millis(50)) > 0);
}

#[test]
fn address_owner_becomes_master_at_startup() {
    let (mut sim, _, nodes) = cluster(8, &[100, 255], Centiseconds(100), |_| {});
    sim.run_for(Duration::from_millis(10));
    assert_eq!(masters(&sim), vec![nodes[1]]);
    assert_eq!(
        transitions_to(&sim, nodes[1], State::Master)[0],
        (Instant::ZERO, Reason::AddressOwner)
    );
}

#[test]
fn rfc5798_6_4_2_backup_learns_the_masters_interval() {
    let (mut sim, _, nodes) = cluster(9, &[100, 200], Centiseconds(100), |c| {
        if c.name == "r2" {
            c.advert_interval = Centiseconds(20);
        }
    });
    sim.run_for(Duration::from_secs(6));
    assert_eq!(masters(&sim), vec![nodes[1]]);
    let r1 = sim.endpoint(nodes[0]).unwrap();
    assert_eq!(r1.master_adver_interval(), Centiseconds(20));
    assert_eq!(
        r1.master_down_interval(),
        Duration::from_millis(600) + skew(100, Centiseconds(20))
    );
}

fn check_converged(seed: u64, loss: f64) -> Result<(), TestCaseError> {
    let interval = Centiseconds(10);
    let (mut sim, _, nodes) = cluster(seed, &[100, 150, 200], interval, |_| {});
    let chaos = LinkConfig::default()
        .with_delay(LINK_DELAY)
        .with_loss(loss)
        .with_jitter(Duration::from_millis(5))
        .with_duplicate(0.05)
        .with_reorder(0.05, Duration::from_millis(30));
    sim.set_segment_link(SegmentId(0), chaos);
    let mut rng = ha_core::rng::seeded(seed);
    use ha_core::rng::below;
    for k in 0..6u64 {
        let at = Instant::from_millis(500 + 700 * k + below(&mut rng, 300));
        let node = nodes[below(&mut rng, 3) as usize];
        match below(&mut rng, 4) {
            0 => {
                sim.schedule_crash(at, node);
                sim.schedule_restart(at + Duration::from_millis(below(&mut rng, 800)), node);
            }
            1 => sim.schedule_partition(at, &[&[node]]),
            2 => sim.schedule_heal(at),
            _ => sim.schedule_command(
                at,
                node,
                Command::SetPriority {
                    priority: Priority(1 + below(&mut rng, 254) as u8),
                },
            ),
        }
    }
    sim.run_until(Instant::from_secs(5));
    // Faults stop: heal, restart the crashed, clean links.
    sim.heal();
    for n in &nodes {
        if !sim.is_up(*n) {
            sim.restart(*n);
        }
    }
    sim.set_segment_link(SegmentId(0), LinkConfig::default().with_delay(LINK_DELAY));
    let max_master_down = interval.to_duration() * 3 + skew(1, interval);
    // A restarted node needs one Master_Down_Interval to elect; a preempting one another.
    sim.run_for(max_master_down * 2 + Duration::from_millis(50));
    prop_assert_eq!(
        masters(&sim).len(),
        1,
        "seed {}: masters {:?}",
        seed,
        masters(&sim)
    );
    // Every state a router is in was announced by an event.
    for n in &nodes {
        let last = sim
            .events()
            .filter(|(_, node, _)| node == n)
            .filter_map(|(_, _, e)| match e {
                Event::StateChanged { to, .. } => Some(*to),
                _ => None,
            })
            .last();
        prop_assert_eq!(last, state(&sim, *n), "seed {}", seed);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn once_faults_stop_exactly_one_master_and_every_change_has_an_event(seed in any::<u64>(), loss in 0.0f64..0.3) {
        check_converged(seed, loss)?;
    }
}

#[test]
fn rfc3768_ipsec_ah_cluster_elects_and_fails_over() {
    let (mut sim, _, nodes) = cluster(10, &[100, 200], Centiseconds(100), |c| {
        c.version = Version::V2;
        c.auth = ha_vrrp::AuthConfig::IpsecAh("s3cret".into());
    });
    sim.run_for(Duration::from_secs(6));
    assert_eq!(masters(&sim), vec![nodes[1]]);
    assert!(sim.endpoint(nodes[0]).unwrap().stats().adverts_received > 0);
    assert_eq!(sim.endpoint(nodes[0]).unwrap().stats().drops.total(), 0);
    sim.crash(nodes[1]);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(masters(&sim), vec![nodes[0]]);
}

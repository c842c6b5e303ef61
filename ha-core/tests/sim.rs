//! Properties of the deterministic simulator.

mod common;

use std::time::Duration;

use common::{Beacon, BeaconCommand, addr};
use ha_core::Instant;
use ha_core::sim::{LinkConfig, NodeId, NodeStart, SegmentId, Sim, TraceLevel};

fn cluster(seed: u64, n: u8, link: LinkConfig) -> (Sim<Beacon>, SegmentId, Vec<NodeId>) {
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment("lan", link);
    let mut nodes = Vec::new();
    for i in 1..=n {
        let node = sim.add_node(format!("n{i}"), |s: NodeStart| {
            Beacon::new(s.now, Duration::from_millis(100))
        });
        sim.attach(node, lan, addr(i));
        nodes.push(node);
    }
    (sim, lan, nodes)
}

fn lossy() -> LinkConfig {
    LinkConfig::default()
        .with_loss(0.2)
        .with_jitter(Duration::from_millis(3))
        .with_duplicate(0.05)
        .with_reorder(0.05, Duration::from_millis(20))
}

fn heard_by(sim: &Sim<Beacon>, node: NodeId) -> Vec<(Instant, common::Heard)> {
    sim.events()
        .filter(|(_, n, _)| *n == node)
        .map(|(t, _, h)| (t, h.clone()))
        .collect()
}

#[test]
fn same_seed_gives_byte_identical_trace() {
    let run = |seed| {
        let (mut sim, _, nodes) = cluster(seed, 3, lossy());
        sim.set_trace_level(TraceLevel::Packets);
        sim.schedule_crash(Instant::from_secs(2), nodes[0]);
        sim.schedule_restart(Instant::from_secs(3), nodes[0]);
        sim.run_for(Duration::from_secs(5));
        sim.trace_jsonl()
    };
    let a = run(7);
    assert!(a.lines().count() > 100);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
}

#[test]
fn configured_loss_rate_is_applied_within_tolerance() {
    let loss = 0.2;
    let (mut sim, _, _) = cluster(11, 2, LinkConfig::default().with_loss(loss));
    sim.run_for(Duration::from_secs(1000)); // 2 nodes × 10 000 beacons, 1 receiver each
    let stats = sim.stats();
    let attempts = (stats.delivered + stats.lost) as f64;
    let observed = stats.lost as f64 / attempts;
    let sigma = (loss * (1.0 - loss) / attempts).sqrt();
    assert!(
        (observed - loss).abs() < 4.0 * sigma,
        "observed {observed}, attempts {attempts}"
    );
}

#[test]
fn duplication_and_reordering_happen_at_configured_rates() {
    let link = LinkConfig::default()
        .with_duplicate(0.1)
        .with_reorder(0.1, Duration::from_millis(150));
    let (mut sim, _, nodes) = cluster(3, 2, link);
    sim.run_for(Duration::from_secs(200));
    let stats = sim.stats();
    let rate = |x: u64| x as f64 / stats.sent as f64;
    assert!((rate(stats.duplicated) - 0.1).abs() < 0.03, "{stats:?}");
    let heard = heard_by(&sim, nodes[1]);
    let out_of_order = heard.windows(2).filter(|w| w[1].1.seq < w[0].1.seq).count();
    let duplicates = heard
        .windows(2)
        .filter(|w| w[1].1.seq == w[0].1.seq)
        .count();
    assert!(out_of_order > 0, "reordering produced no inversion");
    assert!(duplicates > 0 || stats.duplicated > 0);
}

#[test]
fn partition_delivers_nothing_across_until_healed() {
    let (mut sim, _, nodes) = cluster(5, 3, LinkConfig::default());
    sim.schedule_partition(Instant::from_secs(1), &[&[nodes[0]], &[nodes[1], nodes[2]]]);
    sim.schedule_heal(Instant::from_secs(3));
    sim.run_for(Duration::from_secs(4));
    let from = |node: NodeId, src: u8, lo: u64, hi: u64| {
        heard_by(&sim, node)
            .iter()
            .filter(|(t, h)| {
                h.from == addr(src)
                    && *t > Instant::from_millis(lo)
                    && *t < Instant::from_millis(hi)
            })
            .count()
    };
    // Across the partition: nothing, in either direction, while it lasts.
    assert_eq!(from(nodes[0], 2, 1000, 3000), 0);
    assert_eq!(from(nodes[1], 1, 1000, 3000), 0);
    // Within a side: normal traffic.
    assert!(from(nodes[1], 3, 1000, 3000) >= 19);
    // Before and after: normal traffic.
    assert!(from(nodes[0], 2, 0, 1000) >= 9);
    assert!(from(nodes[0], 2, 3000, 4000) >= 9);
    assert!(sim.stats().partitioned > 0);
}

#[test]
fn crashed_node_sends_nothing_until_restarted() {
    let (mut sim, _, nodes) = cluster(9, 2, LinkConfig::default());
    sim.schedule_crash(Instant::from_millis(1050), nodes[0]);
    sim.schedule_restart(Instant::from_millis(2550), nodes[0]);
    sim.run_for(Duration::from_secs(4));
    let heard = heard_by(&sim, nodes[1]);
    let during = heard
        .iter()
        .filter(|(t, h)| {
            h.from == addr(1) && *t > Instant::from_millis(1050) && *t < Instant::from_millis(2550)
        })
        .count();
    assert_eq!(during, 0);
    // The restarted endpoint is fresh: its sequence starts again at 1.
    let first_after = heard
        .iter()
        .find(|(t, h)| h.from == addr(1) && *t > Instant::from_millis(2550));
    assert_eq!(first_after.map(|(_, h)| h.seq), Some(1));
    // A crashed node also receives nothing.
    let got_while_down = heard_by(&sim, nodes[0])
        .iter()
        .filter(|(t, _)| *t > Instant::from_millis(1050) && *t < Instant::from_millis(2550))
        .count();
    assert_eq!(got_while_down, 0);
    assert!(sim.stats().to_down_node > 0);
}

#[test]
fn unicast_reaches_only_the_address_holder_and_commands_apply_at_their_time() {
    let (mut sim, _, nodes) = cluster(1, 3, LinkConfig::default());
    for n in &nodes {
        sim.command(*n, BeaconCommand::Mute);
    }
    sim.schedule_command(
        Instant::from_millis(500),
        nodes[0],
        BeaconCommand::Unicast(addr(3)),
    );
    sim.run_for(Duration::from_secs(1));
    assert!(
        heard_by(&sim, nodes[1])
            .iter()
            .all(|(t, _)| *t < Instant::from_millis(1))
    );
    let at_3: Vec<_> = heard_by(&sim, nodes[2])
        .into_iter()
        .filter(|(t, _)| *t > Instant::from_millis(1))
        .collect();
    assert_eq!(at_3.len(), 1);
    // Default link delay is 100 µs.
    assert_eq!(at_3[0].0, Instant::from_micros_for_test(500_100));
    assert_eq!(at_3[0].1.ttl, 255);
}

#[test]
fn link_override_applies_to_one_direction_only() {
    let (mut sim, _, nodes) = cluster(2, 2, LinkConfig::default());
    sim.set_link(
        nodes[0],
        nodes[1],
        Some(LinkConfig::default().with_loss(1.0)),
    );
    sim.run_for(Duration::from_secs(1));
    assert!(heard_by(&sim, nodes[1]).is_empty());
    assert!(heard_by(&sim, nodes[0]).len() >= 9);
}

#[test]
fn trace_snapshot() {
    let (mut sim, _, nodes) = cluster(1, 2, LinkConfig::default());
    sim.set_trace_level(TraceLevel::Packets);
    sim.schedule_crash(Instant::from_millis(150), nodes[1]);
    sim.schedule_partition(Instant::from_millis(200), &[&[nodes[0]]]);
    sim.run_for(Duration::from_millis(250));
    insta::assert_snapshot!(sim.trace_jsonl());
}

trait FromMicros {
    fn from_micros_for_test(us: u64) -> Instant;
}
impl FromMicros for Instant {
    fn from_micros_for_test(us: u64) -> Instant {
        Instant::from_nanos(us * 1000)
    }
}

//! Two BFD engines in the deterministic simulator (`ha_core::sim`): bring-up over a lossy,
//! jittery LAN, detection on a partition, recovery after heal and after a crash.

use std::net::IpAddr;
use std::time::Duration;

use ha_bfd::{Command, Diagnostic, Engine, Event, SessionConfig, SessionId, State};
use ha_core::Endpoint;
use ha_core::sim::{LinkConfig, NodeId, NodeStart, Sim};

const ID: SessionId = SessionId(7);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config(local: IpAddr, remote: IpAddr) -> SessionConfig {
    let mut c = SessionConfig::single_hop(ID, local, remote);
    c.desired_min_tx = Duration::from_millis(20);
    c.required_min_rx = Duration::from_millis(20);
    c.detect_mult = 3;
    c
}

/// An engine that adds its one session at every (re)start.
fn node(local: IpAddr, remote: IpAddr) -> impl FnMut(NodeStart) -> Engine {
    move |start: NodeStart| {
        let mut engine = Engine::new(start.rng());
        engine.handle_command(
            start.now,
            Command::AddSession {
                config: config(local, remote),
            },
        );
        engine
    }
}

fn state(sim: &Sim<Engine>, n: NodeId) -> Option<State> {
    sim.endpoint(n)?.session(ID).map(|s| s.state)
}

fn downs(sim: &Sim<Engine>, n: NodeId) -> Vec<(ha_core::Instant, Diagnostic)> {
    sim.events()
        .filter(|(_, node, _)| *node == n)
        .filter_map(|(t, _, e)| match e {
            Event::StateChanged(c) if c.to == State::Down => Some((t, c.diagnostic)),
            _ => None,
        })
        .collect()
}

fn run(seed: u64) -> String {
    let (a_ip, b_ip) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let mut sim: Sim<Engine> = Sim::new(seed);
    let lan = sim.add_segment(
        "lan",
        LinkConfig::default()
            .with_loss(0.01)
            .with_delay(Duration::from_micros(200))
            .with_jitter(Duration::from_micros(300)),
    );
    let a = sim.add_node("a", node(a_ip, b_ip));
    let b = sim.add_node("b", node(b_ip, a_ip));
    sim.attach(a, lan, a_ip);
    sim.attach(b, lan, b_ip);

    sim.run_for(Duration::from_secs(5));
    assert_eq!(state(&sim, a), Some(State::Up));
    assert_eq!(state(&sim, b), Some(State::Up));

    // 1 % loss with Detect Mult 3 would need three losses in a row to flap: over a minute
    // at 20 ms (about 3000 packets each way) that is improbable, and the seed is fixed.
    sim.run_for(Duration::from_secs(60));
    assert!(downs(&sim, a).is_empty() && downs(&sim, b).is_empty());

    // Partition: both detect within a detection time (60 ms) plus one interval.
    let cut = sim.now();
    sim.partition(&[&[a], &[b]]);
    sim.run_for(Duration::from_millis(200));
    for n in [a, b] {
        let d = downs(&sim, n);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].1, Diagnostic::ControlDetectionTimeExpired);
        let after = d[0].0 - cut;
        assert!(after <= Duration::from_millis(61), "{after:?}");
    }
    sim.heal();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(state(&sim, a), Some(State::Up));

    // Crash b: a detects; b restarts with a fresh engine and the session comes back.
    sim.crash(b);
    sim.run_for(Duration::from_millis(200));
    assert_eq!(state(&sim, a), Some(State::Down));
    sim.restart(b);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(state(&sim, a), Some(State::Up));
    assert_eq!(state(&sim, b), Some(State::Up));
    sim.trace_jsonl()
}

#[test]
fn two_engines_in_the_simulator() {
    let trace = run(2024);
    // Deterministic: the same seed replays byte for byte.
    assert_eq!(trace, run(2024));
}

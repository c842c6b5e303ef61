//! Simulated fault campaigns: random faults against VRRP clusters, then invariants.
//!
//! Each seed builds a cluster of three hosts on two LANs. Every host runs two VRRP
//! instances (one per LAN) in a sync group, with a tracked check (weight −50) and a
//! tracked interface (weight 0 → FAULT). For a random period the seed injects faults:
//! crashes and restarts, partitions and heals, loss, delay, jitter, duplication and
//! reordering, priority changes, check and interface failures. Then the faults stop
//! (heal, restart, clean links, every tracked object up) and the invariants are checked:
//!
//! 1. within one advert interval plus one Master_Down_Interval after the last fault,
//!    exactly one Master per VRID, and from then on never zero or two (the extra interval:
//!    split sync groups with crossed priorities both step down on healing, as in
//!    keepalived, and elect again);
//! 2. once settled, the members of every sync group agree on their state;
//! 3. every router's state is the one its last event announced;
//! 4. a Master elected on Master_Down after a Master crash took no longer than the
//!    formula (`3 × interval + skew` after the last advertisement) plus 1 ms.
//!
//! A failing seed prints the command that replays it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_core::rng;
use ha_core::sim::{LinkConfig, NodeStart, SegmentId, Sim, TraceLevel};
use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use ha_core::{IfIndex, Instant};
use ha_vrrp::{
    Centiseconds, Command, Event, Host, HostCommand, HostConfig, Priority, RouterConfig, State,
    SyncGroupConfig, TrackConfig, Version, Vrid,
};

/// How a campaign seed is shaped.
#[derive(Clone, Copy, Debug)]
pub struct CampaignConfig {
    /// Number of hosts.
    pub hosts: u8,
    /// How long faults are injected.
    pub fault_period: Duration,
    /// How many faults are injected in that period.
    pub faults: u32,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            hosts: 3,
            fault_period: Duration::from_secs(20),
            faults: 12,
        }
    }
}

/// A violated invariant.
#[derive(Clone, PartialEq, Debug)]
pub struct Violation {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {}\n  replay: cargo run --release -p ha-examples --bin ha-campaign -- --seed {} --trace seed-{}.jsonl",
            self.seed, self.what, self.seed, self.seed
        )
    }
}

/// What one seed did.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// Faults injected, as text.
    pub faults: Vec<String>,
    /// State transitions seen.
    pub transitions: usize,
    /// Failovers measured against the formula.
    pub failovers_checked: usize,
    /// The trace as JSON Lines, when asked for.
    pub trace: Option<String>,
}

const LANS: [(&str, u8); 2] = [("ext", 1), ("int", 2)];

fn address(lan: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, lan, 0, host))
}

fn host_config(host: u8, priority: u8, interval: Centiseconds) -> HostConfig {
    let instances = LANS
        .iter()
        .map(|(name, lan)| {
            let mut c = RouterConfig::new(
                *name,
                Version::V3,
                Vrid::new(*lan).unwrap_or_else(|_| unreachable!()),
                Priority(priority),
                IfIndex(u32::from(*lan)),
                address(*lan, host),
                vec![address(*lan, 100)],
            );
            c.advert_interval = interval;
            c.track = vec![
                TrackConfig {
                    object: "chk".into(),
                    spec: TrackSpec::weight(TrackWeight::new(-50).unwrap_or_default()),
                    initial: TrackState::Up,
                },
                TrackConfig {
                    object: format!("if:{name}"),
                    spec: TrackSpec::default(),
                    initial: TrackState::Up,
                },
            ];
            c
        })
        .collect();
    HostConfig {
        instances,
        sync_groups: vec![SyncGroupConfig {
            name: "g".into(),
            members: LANS.iter().map(|(n, _)| n.to_string()).collect(),
            track: Vec::new(),
        }],
    }
}

/// Runs one seed: what it did, and every violated invariant (none when it passed).
pub fn run_seed(
    seed: u64,
    config: &CampaignConfig,
    keep_trace: bool,
) -> (SeedReport, Vec<Violation>) {
    let mut r = rng::seeded(seed ^ 0x5eed_ca4a_1a11);
    let interval = Centiseconds([5u16, 10, 20, 50, 100][rng::below(&mut r, 5) as usize]);
    let mut sim: Sim<Host> = Sim::new(seed);
    if keep_trace {
        sim.set_trace_level(TraceLevel::Packets);
    }
    let segments: Vec<SegmentId> = LANS
        .iter()
        .map(|(n, _)| sim.add_segment(*n, LinkConfig::default()))
        .collect();
    let mut nodes = Vec::new();
    for h in 1..=config.hosts {
        let priority = 1 + rng::below(&mut r, 254) as u8;
        let hc = host_config(h, priority, interval);
        let node = sim.add_node(format!("h{h}"), move |s: NodeStart| {
            Host::new(hc.clone(), s.now).unwrap_or_else(|e| unreachable!("{e}"))
        });
        for (i, (_, lan)) in LANS.iter().enumerate() {
            sim.attach(node, segments[i], address(*lan, h));
        }
        nodes.push(node);
    }

    let mut report = SeedReport::default();
    let start = Instant::from_millis(500);
    let period_ms = config.fault_period.as_millis() as u64;
    let mut crashed = vec![false; nodes.len()];
    let mut times: Vec<u64> = (0..config.faults)
        .map(|_| rng::below(&mut r, period_ms))
        .collect();
    times.sort_unstable();
    for t in times {
        let at = start + Duration::from_millis(t);
        let n = rng::below(&mut r, nodes.len() as u64) as usize;
        let node = nodes[n];
        let text = match rng::below(&mut r, 8) {
            0 => {
                if crashed[n] {
                    sim.schedule_restart(at, node);
                    crashed[n] = false;
                    format!("{at} restart h{}", n + 1)
                } else {
                    sim.schedule_crash(at, node);
                    crashed[n] = true;
                    format!("{at} crash h{}", n + 1)
                }
            }
            1 => {
                sim.schedule_partition(at, &[&[node]]);
                format!("{at} partition h{} away", n + 1)
            }
            2 => {
                sim.schedule_heal(at);
                format!("{at} heal")
            }
            3 => {
                let seg = rng::below(&mut r, segments.len() as u64) as usize;
                let link = LinkConfig::default()
                    .with_loss(rng::unit_f64(&mut r) * 0.5)
                    .with_delay(Duration::from_micros(100 + rng::below(&mut r, 2000)))
                    .with_jitter(Duration::from_micros(rng::below(&mut r, 5000)))
                    .with_duplicate(rng::unit_f64(&mut r) * 0.1)
                    .with_reorder(rng::unit_f64(&mut r) * 0.1, Duration::from_millis(5));
                // Link changes apply between every pair, scheduled as overrides.
                for &a in &nodes {
                    for &b in &nodes {
                        if a != b {
                            sim.schedule_set_link(at, a, b, Some(link));
                        }
                    }
                }
                format!(
                    "{at} impair {} ({:.0}% loss)",
                    LANS[seg].0,
                    link.loss * 100.0
                )
            }
            4 => {
                let p = Priority(1 + rng::below(&mut r, 254) as u8);
                let instance = LANS[rng::below(&mut r, 2) as usize].0;
                sim.schedule_command(
                    at,
                    node,
                    HostCommand::Instance {
                        instance: instance.into(),
                        command: Command::SetPriority { priority: p },
                    },
                );
                format!("{at} h{} {instance} priority {p}", n + 1)
            }
            5 | 6 => {
                let object = if rng::below(&mut r, 2) == 0 {
                    "chk".to_string()
                } else {
                    format!("if:{}", LANS[rng::below(&mut r, 2) as usize].0)
                };
                let state = if rng::below(&mut r, 2) == 0 {
                    TrackState::Down
                } else {
                    TrackState::Up
                };
                sim.schedule_command(
                    at,
                    node,
                    HostCommand::Track {
                        object: object.clone(),
                        state,
                    },
                );
                format!("{at} h{} {object} {state:?}", n + 1)
            }
            _ => {
                sim.schedule_command(
                    at,
                    node,
                    HostCommand::All {
                        command: Command::Shutdown,
                    },
                );
                sim.schedule_command(
                    at + Duration::from_millis(300),
                    node,
                    HostCommand::All {
                        command: Command::Start,
                    },
                );
                format!("{at} h{} graceful restart", n + 1)
            }
        };
        report.faults.push(text);
    }
    let faults_end = start + config.fault_period + Duration::from_millis(400);
    sim.run_until(faults_end);

    // The faults stop.
    sim.heal();
    for &node in &nodes {
        if !sim.is_up(node) {
            sim.restart(node);
        }
        for &other in &nodes {
            if other != node {
                sim.set_link(node, other, None);
            }
        }
        for object in ["chk", "if:ext", "if:int"] {
            sim.command(
                node,
                HostCommand::Track {
                    object: object.into(),
                    state: TrackState::Up,
                },
            );
        }
        sim.command(
            node,
            HostCommand::All {
                command: Command::Start,
            },
        );
    }
    let last_fault = sim.now();
    // The longest Master_Down_Interval: 3 intervals plus a skew below one interval.
    let max_master_down = |interval: Centiseconds| interval.to_duration() * 4;
    // After a heal, two sync groups that were both Master with crossed priorities (A wins
    // one VRID, B the other) both step down on the first advert they hear, as keepalived's
    // groups do; re-election then takes one Master_Down_Interval. So the bound is one
    // advert interval plus one Master_Down_Interval.
    let bound = interval.to_duration() + max_master_down(interval) + Duration::from_millis(5);
    let mut violations = Vec::new();
    let violation = |what: String| Violation { seed, what };

    // Invariant 1: from one Master_Down_Interval after the last fault on, exactly one
    // Master per VRID, sampled every few milliseconds for a while.
    sim.run_until(last_fault + bound);
    let step = Duration::from_millis(3);
    let until = last_fault + bound + interval.to_duration() * 20;
    while sim.now() < until {
        for (name, _) in LANS {
            let masters: Vec<usize> = nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    sim.endpoint(**n)
                        .and_then(|h| h.instance(name))
                        .is_some_and(|r| r.state() == State::Master)
                })
                .map(|(i, _)| i + 1)
                .collect();
            if masters.len() != 1 {
                violations.push(violation(format!(
                    "{:?} after the last fault, VRID {name} has Masters {masters:?}",
                    sim.now() - last_fault
                )));
                break;
            }
        }
        if !violations.is_empty() {
            break;
        }
        sim.run_for(step);
    }

    // Invariant 2: sync groups agree. Invariant 3: states match the last events.
    for (i, &node) in nodes.iter().enumerate() {
        let Some(host) = sim.endpoint(node) else {
            continue;
        };
        let states: Vec<State> = host.instances().map(|r| r.state()).collect();
        if states.windows(2).any(|w| w[0] != w[1]) {
            violations.push(violation(format!(
                "h{}: sync group members disagree: {states:?}",
                i + 1
            )));
        }
        for router in host.instances() {
            let last = sim
                .events()
                .filter(|(_, n, e)| *n == node && e.instance == router.config().name)
                .filter_map(|(_, _, e)| match e.event {
                    Event::StateChanged { to, .. } => Some(to),
                    _ => None,
                })
                .last();
            if last != Some(router.state()) {
                violations.push(violation(format!(
                    "h{} {}: state {:?} but the last event said {last:?}",
                    i + 1,
                    router.config().name,
                    router.state()
                )));
            }
        }
    }
    report.transitions = sim
        .events()
        .filter(|(_, _, e)| matches!(e.event, Event::StateChanged { .. }))
        .count();

    // Invariant 4: clean failover after the campaign — crash the Master of "ext" and check
    // the takeover time against the formula.
    let master = nodes.iter().position(|n| {
        sim.endpoint(*n)
            .and_then(|h| h.instance("ext"))
            .is_some_and(|r| r.state() == State::Master)
    });
    if let (Some(m), true) = (master, violations.is_empty()) {
        sim.run_for(interval.to_duration() / 3);
        let crash_at = sim.now();
        sim.crash(nodes[m]);
        sim.run_for(max_master_down(interval) * 2 + Duration::from_millis(10));
        let takeover = sim.events().find_map(|(t, n, e)| match &e.event {
            Event::StateChanged {
                to: State::Master, ..
            } if t > crash_at && e.instance == "ext" => Some((t, n)),
            _ => None,
        });
        match takeover {
            Some((t, n)) => {
                // A sync group moves when its slowest member's Master_Down_Timer fires.
                let formula = sim
                    .endpoint(n)
                    .map(|h| {
                        h.instances()
                            .map(|r| interval.to_duration() * 3 + r.skew_time())
                            .max()
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                // The last advert left at most one interval before the crash.
                if t - crash_at > formula + Duration::from_millis(1) + Duration::from_micros(200) {
                    violations.push(violation(format!(
                        "failover took {:?} after the crash, formula bound {formula:?}",
                        t - crash_at
                    )));
                }
                report.failovers_checked += 1;
            }
            None if nodes.len() > 1 => {
                violations.push(violation("no takeover after the Master crashed".into()))
            }
            None => {}
        }
    }
    if keep_trace {
        report.trace = Some(sim.trace_jsonl());
    }
    (report, violations)
}

/// Runs seeds `first..first + count`; returns the violations and the seeds run.
pub fn run_campaign(first: u64, count: u64, config: &CampaignConfig) -> (Vec<Violation>, u64) {
    let mut violations = Vec::new();
    for seed in first..first.saturating_add(count) {
        violations.extend(run_seed(seed, config, false).1);
    }
    (violations, count)
}

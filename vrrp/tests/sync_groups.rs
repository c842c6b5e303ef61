//! Sync groups (keepalived's `vrrp_sync_group`) across hosts in the simulator.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_core::sim::{LinkConfig, NodeId, NodeStart, Sim};
use ha_core::track::{TrackSpec, TrackState};
use ha_core::{IfIndex, Instant};
use ha_vrrp::{
    Centiseconds, Host, HostCommand, HostConfig, Priority, Reason, RouterConfig, State,
    SyncGroupConfig, TrackConfig, Version, Vrid,
};

const EXTERNAL: IfIndex = IfIndex(1);
const INTERNAL: IfIndex = IfIndex(2);

fn ip(net: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, net, 0, host))
}

/// Two firewalls, each on an external and an internal LAN, with one instance per LAN in a
/// sync group: the classic keepalived set-up.
fn host_config(host: u8, priority: u8, group_track: bool) -> HostConfig {
    let instance = |name: &str, vrid: u8, iface: IfIndex, net: u8| {
        let mut c = RouterConfig::new(
            name,
            Version::V3,
            Vrid::new(vrid).unwrap(),
            Priority(priority),
            iface,
            ip(net, host),
            vec![ip(net, 100)],
        );
        c.advert_interval = Centiseconds(10);
        c.track = vec![TrackConfig {
            object: format!("if:{name}"),
            spec: TrackSpec::default(),
            initial: TrackState::Up,
        }];
        c
    };
    HostConfig {
        instances: vec![
            instance("ext", 1, EXTERNAL, 1),
            instance("int", 2, INTERNAL, 2),
        ],
        sync_groups: vec![SyncGroupConfig {
            name: "fw".into(),
            members: vec!["ext".into(), "int".into()],
            track: if group_track {
                vec![TrackConfig {
                    object: "uplink".into(),
                    spec: TrackSpec::default(),
                    initial: TrackState::Up,
                }]
            } else {
                Vec::new()
            },
        }],
    }
}

fn firewalls(group_track: bool) -> (Sim<Host>, NodeId, NodeId) {
    let mut sim = Sim::new(1);
    let ext = sim.add_segment("external", LinkConfig::default());
    let int = sim.add_segment("internal", LinkConfig::default());
    let mut nodes = Vec::new();
    for (host, prio) in [(1u8, 200u8), (2, 100)] {
        let config = host_config(host, prio, group_track);
        let node = sim.add_node(format!("fw{host}"), move |s: NodeStart| {
            Host::new(config.clone(), s.now).unwrap()
        });
        assert_eq!(sim.attach(node, ext, ip(1, host)), EXTERNAL);
        assert_eq!(sim.attach(node, int, ip(2, host)), INTERNAL);
        nodes.push(node);
    }
    (sim, nodes[0], nodes[1])
}

fn states(sim: &Sim<Host>, node: NodeId) -> Vec<State> {
    sim.endpoint(node)
        .unwrap()
        .instances()
        .map(|r| r.state())
        .collect()
}

#[test]
fn members_become_master_together() {
    let (mut sim, fw1, fw2) = firewalls(false);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw1), vec![State::Master, State::Master]);
    assert_eq!(states(&sim, fw2), vec![State::Backup, State::Backup]);
}

#[test]
fn losing_one_lan_fails_the_whole_group_over() {
    let (mut sim, fw1, fw2) = firewalls(false);
    sim.run_for(Duration::from_secs(1));
    // fw1's internal interface goes down: its "int" instance faults, so "ext" must follow.
    sim.command(
        fw1,
        HostCommand::Track {
            object: "if:int".into(),
            state: TrackState::Down,
        },
    );
    sim.run_for(Duration::from_millis(500));
    assert_eq!(states(&sim, fw1), vec![State::Fault, State::Fault]);
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    let ext_reason = sim
        .events()
        .filter(|(_, n, e)| *n == fw1 && e.instance == "ext")
        .find_map(|(_, _, e)| match &e.event {
            ha_vrrp::Event::StateChanged {
                to: State::Fault,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        });
    assert_eq!(
        ext_reason,
        Some(Reason::SyncGroup {
            cause: "int".into()
        })
    );
    // Recovery: both return, and fw1 (higher priority) preempts with both instances.
    sim.command(
        fw1,
        HostCommand::Track {
            object: "if:int".into(),
            state: TrackState::Up,
        },
    );
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw1), vec![State::Master, State::Master]);
    assert_eq!(states(&sim, fw2), vec![State::Backup, State::Backup]);
}

#[test]
fn master_only_together_when_one_lan_still_hears_its_master() {
    let (mut sim, fw1, fw2) = firewalls(false);
    sim.run_for(Duration::from_secs(1));
    // fw1 stops only its external instance: fw2's "ext" wants Master, but fw2's "int"
    // still hears fw1, so the group does not move.
    let t = sim.now();
    sim.command(
        fw1,
        HostCommand::Instance {
            instance: "ext".into(),
            command: ha_vrrp::Command::Shutdown,
        },
    );
    sim.run_for(Duration::from_millis(500));
    assert_eq!(states(&sim, fw2), vec![State::Backup, State::Backup]);
    assert!(
        sim.endpoint(fw2)
            .unwrap()
            .instance("ext")
            .unwrap()
            .wants_master()
    );
    // Now fw1 dies: both of fw2's members want Master and take over together.
    sim.crash(fw1);
    sim.run_for(Duration::from_millis(500));
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    let became: Vec<Instant> = sim
        .events()
        .filter(|(at, n, e)| {
            *at > t
                && *n == fw2
                && matches!(
                    e.event,
                    ha_vrrp::Event::StateChanged {
                        to: State::Master,
                        ..
                    }
                )
        })
        .map(|(at, _, _)| at)
        .collect();
    assert_eq!(became.len(), 2);
    assert_eq!(became[0], became[1], "members moved at the same instant");
}

#[test]
fn preemption_of_one_member_brings_the_other_back_too() {
    let (mut sim, fw1, fw2) = firewalls(false);
    sim.crash(fw1);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    sim.restart(fw1);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw1), vec![State::Master, State::Master]);
    assert_eq!(states(&sim, fw2), vec![State::Backup, State::Backup]);
}

/// Two groups with crossed priorities (fw1 wins "ext", fw2 wins "int") that are both
/// Master, after a partition or after electing at the same instant, both step down. They
/// must not then keep reaching Master_Down together and preempting each other for ever:
/// fw1, the lower address, waits two intervals more, so fw2's group is Master alone.
#[test]
fn crossed_groups_that_collide_settle_on_one_master() {
    let mut sim = Sim::new(2);
    let ext = sim.add_segment("external", LinkConfig::default());
    let int = sim.add_segment("internal", LinkConfig::default());
    let mut nodes = Vec::new();
    for (host, ext_prio, int_prio) in [(1u8, 200u8, 100u8), (2, 100, 200)] {
        let mut config = host_config(host, 0, false);
        config.instances[0].priority = Priority(ext_prio);
        config.instances[1].priority = Priority(int_prio);
        let node = sim.add_node(format!("fw{host}"), move |s: NodeStart| {
            Host::new(config.clone(), s.now).unwrap()
        });
        sim.attach(node, ext, ip(1, host));
        sim.attach(node, int, ip(2, host));
        nodes.push(node);
    }
    let (fw1, fw2) = (nodes[0], nodes[1]);
    // Apart, each is Master of both.
    sim.partition(&[&[fw1], &[fw2]]);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw1), vec![State::Master, State::Master]);
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    let healed = sim.now();
    sim.heal();
    // One collision, one re-election (Master_Down_Interval 0.3 s plus a skew), then quiet.
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw1), vec![State::Backup, State::Backup]);
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    let settled = sim.now();
    sim.run_for(Duration::from_secs(10));
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    let late_transitions = sim
        .events()
        .filter(|(at, _, e)| {
            *at >= settled && matches!(e.event, ha_vrrp::Event::StateChanged { .. })
        })
        .count();
    assert_eq!(late_transitions, 0);
    let masters_after_heal = sim
        .events()
        .filter(|(at, _, e)| {
            *at > healed
                && matches!(
                    e.event,
                    ha_vrrp::Event::StateChanged {
                        to: State::Master,
                        ..
                    }
                )
        })
        .count();
    assert_eq!(masters_after_heal, 2, "fw2's two members, once");
}

#[test]
fn group_tracking_faults_every_member() {
    let (mut sim, fw1, fw2) = firewalls(true);
    sim.run_for(Duration::from_secs(1));
    sim.command(
        fw1,
        HostCommand::Track {
            object: "uplink".into(),
            state: TrackState::Down,
        },
    );
    sim.run_for(Duration::from_millis(500));
    assert_eq!(states(&sim, fw1), vec![State::Fault, State::Fault]);
    assert_eq!(states(&sim, fw2), vec![State::Master, State::Master]);
    sim.command(
        fw1,
        HostCommand::Track {
            object: "uplink".into(),
            state: TrackState::Up,
        },
    );
    sim.run_for(Duration::from_secs(1));
    assert_eq!(states(&sim, fw1), vec![State::Master, State::Master]);
}

#[test]
fn config_errors_are_typed() {
    let mut c = host_config(1, 100, false);
    c.sync_groups[0].members.push("nope".into());
    assert!(matches!(
        Host::new(c, Instant::ZERO),
        Err(ha_vrrp::HostConfigError::UnknownMember { .. })
    ));
    let mut c = host_config(1, 100, false);
    let dup = c.instances[0].clone();
    c.instances.push(dup);
    assert!(matches!(
        Host::new(c, Instant::ZERO),
        Err(ha_vrrp::HostConfigError::DuplicateName(_))
    ));
}

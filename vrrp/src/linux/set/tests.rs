//! The set's sync-group coordination, without I/O: routers wrapped as the driver runs
//! them, their outputs fed to the [`Coordinator`] as the set's loop does.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_core::track::{TrackSpec, TrackState};
use ha_core::{Endpoint, IfIndex, Instant};

use super::*;
use crate::linux::instance::MemberRouter;
use crate::{Centiseconds, Priority, Router, RouterConfig, TrackConfig, Version, Vrid};

fn config(name: &str, vrid: u8) -> RouterConfig {
    let mut c = RouterConfig::new(
        name,
        Version::V3,
        Vrid::new(vrid).unwrap(),
        Priority(100),
        IfIndex(u32::from(vrid)),
        IpAddr::V4(Ipv4Addr::new(10, vrid, 0, 1)),
        vec![IpAddr::V4(Ipv4Addr::new(10, vrid, 0, 100))],
    );
    c.advert_interval = Centiseconds(10);
    c.track = vec![TrackConfig {
        object: format!("if:{name}"),
        spec: TrackSpec::default(),
        initial: TrackState::Up,
    }];
    c
}

/// Two members `a` and `b` of group `g`, run like the set runs them.
struct Pair {
    members: BTreeMap<String, MemberRouter>,
    coordinator: Coordinator,
    /// Group transitions seen, in order.
    group_changes: Vec<GroupChange>,
    now: Instant,
}

impl Pair {
    fn new(group_track: Vec<TrackConfig>) -> Pair {
        let mut members = BTreeMap::new();
        for (name, vrid) in [("a", 1), ("b", 2)] {
            let mut router = Router::new(config(name, vrid), Instant::ZERO).unwrap();
            router.set_sync_member(true);
            members.insert(name.to_string(), MemberRouter::new(router));
        }
        let coordinator = Coordinator::new(vec![SyncGroupConfig {
            name: "g".into(),
            members: vec!["a".into(), "b".into()],
            track: group_track,
        }]);
        let mut pair = Pair {
            members,
            coordinator,
            group_changes: Vec::new(),
            now: Instant::ZERO,
        };
        pair.advance(Duration::ZERO);
        pair
    }

    fn state(&self, name: &str) -> State {
        self.members[name].view().state
    }

    /// Drains every member's outputs through the coordinator until quiet.
    fn settle(&mut self) {
        for _ in 0..32 {
            let mut commands = Vec::new();
            for (name, member) in &mut self.members {
                while let Some(output) = member.poll_event() {
                    let signal = match &output {
                        MemberOutput::View(_) => true,
                        MemberOutput::Router(e) => {
                            matches!(e, Event::StateChanged { .. } | Event::WantMaster { .. })
                        }
                    };
                    if signal {
                        commands.extend(self.coordinator.on_signal(name, &output));
                    }
                    if let MemberOutput::Router(Event::StateChanged { to, .. }) = output {
                        self.group_changes
                            .extend(self.coordinator.on_applied(name, to));
                    }
                }
            }
            if commands.is_empty() {
                return;
            }
            for (member, command) in commands {
                if let Some(m) = self.members.get_mut(&member) {
                    m.handle_command(self.now, command);
                }
            }
        }
        panic!("the group did not settle");
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        for member in self.members.values_mut() {
            while member.poll_timeout().is_some_and(|t| t <= self.now) {
                member.handle_timeout(self.now);
            }
        }
        self.settle();
    }

    fn command(&mut self, name: &str, command: Command) {
        let now = self.now;
        self.members
            .get_mut(name)
            .unwrap()
            .handle_command(now, command);
        self.settle();
    }

    fn track(&mut self, name: &str, state: TrackState) {
        self.command(
            name,
            Command::Track {
                object: format!("if:{name}"),
                state,
            },
        );
    }
}

fn change(from: State, to: State) -> GroupChange {
    GroupChange {
        group: "g".into(),
        from,
        to,
    }
}

#[test]
fn members_become_master_together() {
    let mut pair = Pair::new(Vec::new());
    assert_eq!(pair.state("a"), State::Backup);
    assert_eq!(
        pair.group_changes,
        vec![change(State::Initialize, State::Backup)]
    );
    // Both Master_Down timers fire (no Master anywhere): nobody takes over alone, then
    // the group makes both Master at once.
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.state("a"), State::Master);
    assert_eq!(pair.state("b"), State::Master);
    assert_eq!(
        pair.group_changes,
        vec![
            change(State::Initialize, State::Backup),
            change(State::Backup, State::Master),
        ]
    );
}

#[test]
fn one_member_wanting_master_waits_for_the_other() {
    let mut pair = Pair::new(Vec::new());
    // Only `a`'s Master_Down timer fires: it wants Master, the group waits for `b`.
    let a = pair.members.get_mut("a").unwrap();
    let fired = a.poll_timeout().unwrap();
    a.handle_timeout(fired);
    pair.now = fired;
    pair.settle();
    assert!(pair.members["a"].view().wants_master);
    assert_eq!(pair.state("a"), State::Backup);
    assert_eq!(pair.state("b"), State::Backup);
}

#[test]
fn a_member_fault_faults_the_group_and_lifts_with_it() {
    let mut pair = Pair::new(Vec::new());
    pair.advance(Duration::from_secs(1));
    pair.track("a", TrackState::Down);
    assert_eq!(pair.state("a"), State::Fault);
    assert_eq!(pair.state("b"), State::Fault);
    assert_eq!(
        pair.group_changes.last(),
        Some(&change(State::Master, State::Fault))
    );
    // The own fault clears without a transition of `a` (the group still holds it): only
    // its view changes, and that is enough for the group to lift the fault.
    pair.track("a", TrackState::Up);
    assert_eq!(pair.state("a"), State::Backup);
    assert_eq!(pair.state("b"), State::Backup);
    assert_eq!(
        pair.group_changes.last(),
        Some(&change(State::Fault, State::Backup))
    );
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.state("a"), State::Master);
    assert_eq!(pair.state("b"), State::Master);
}

#[test]
fn group_tracking_faults_every_member() {
    let mut pair = Pair::new(vec![TrackConfig {
        object: "uplink".into(),
        spec: TrackSpec::default(),
        initial: TrackState::Up,
    }]);
    pair.advance(Duration::from_secs(1));
    let commands = pair.coordinator.on_track("uplink", TrackState::Down);
    assert_eq!(commands.len(), 2);
    for (member, command) in commands {
        pair.members
            .get_mut(&member)
            .unwrap()
            .handle_command(pair.now, command);
    }
    pair.settle();
    assert_eq!(pair.state("a"), State::Fault);
    assert_eq!(pair.state("b"), State::Fault);
}

#[test]
fn a_leaving_member_lifts_its_fault_and_stops_blocking_master() {
    let mut pair = Pair::new(Vec::new());
    pair.track("a", TrackState::Down);
    assert_eq!(pair.state("b"), State::Fault);
    pair.members.remove("a");
    let (commands, _) = pair.coordinator.leave("a");
    for (member, command) in commands {
        pair.members
            .get_mut(&member)
            .unwrap()
            .handle_command(pair.now, command);
    }
    pair.settle();
    assert_eq!(pair.state("b"), State::Backup);
    // Alone in its group, `b` becomes Master when its timer fires.
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.state("b"), State::Master);
    assert_eq!(
        pair.group_changes.last(),
        Some(&change(State::Backup, State::Master))
    );
}

#[test]
fn views_come_before_the_events_of_the_same_input() {
    let mut router = Router::new(config("a", 1), Instant::ZERO).unwrap();
    router.set_sync_member(true);
    let mut member = MemberRouter::new(router);
    member.handle_timeout(Instant::ZERO);
    let outputs: Vec<MemberOutput> = std::iter::from_fn(|| member.poll_event()).collect();
    assert!(
        matches!(
            outputs.first(),
            Some(MemberOutput::View(MemberView {
                state: State::Backup,
                ..
            }))
        ),
        "{outputs:?}"
    );
    assert!(outputs.iter().any(|o| matches!(
        o,
        MemberOutput::Router(Event::StateChanged {
            to: State::Backup,
            ..
        })
    )));
    // No change, no view.
    assert!(member.poll_event().is_none());
}

fn instance(name: &str, interface: &str, vrid: u8) -> InstanceConfig {
    InstanceConfig::new(interface, config(name, vrid))
}

#[test]
fn validation_matches_the_host_rules() {
    let group = |members: &[&str]| SyncGroupConfig {
        name: "g".into(),
        members: members.iter().map(|m| m.to_string()).collect(),
        track: Vec::new(),
    };
    let ok = validate(
        &[instance("a", "eth0", 1), instance("b", "eth0", 2)],
        &[group(&["a", "b"])],
    )
    .unwrap();
    assert_eq!(ok["a"], "g");
    assert!(matches!(
        validate(&[instance("a", "eth0", 1), instance("a", "eth1", 2)], &[]),
        Err(InstanceSetError::DuplicateName(n)) if n == "a"
    ));
    assert!(matches!(
        validate(&[instance("a", "eth0", 1), instance("b", "eth0", 1)], &[]),
        Err(InstanceSetError::DuplicateVrid(..))
    ));
    // Same VRID on another interface is fine.
    validate(&[instance("a", "eth0", 1), instance("b", "eth1", 1)], &[]).unwrap();
    assert!(matches!(
        validate(&[instance("a", "eth0", 1)], &[group(&["a", "x"])]),
        Err(InstanceSetError::UnknownMember { member, .. }) if member == "x"
    ));
    assert!(matches!(
        validate(&[instance("a", "eth0", 1)], &[group(&["a"]), group(&["a"])]),
        Err(InstanceSetError::TwoGroups(_))
    ));
}

#[test]
fn replacing_groups_lifts_the_old_fault_and_regroups() {
    let mut pair = Pair::new(Vec::new());
    pair.track("a", TrackState::Down);
    assert_eq!(pair.state("b"), State::Fault);
    // New configuration: `a` and `b` in separate groups. `b` is no longer held by
    // `a`'s fault.
    let (commands, changes) = pair.coordinator.replace_groups(
        vec![
            SyncGroupConfig {
                name: "ga".into(),
                members: vec!["a".into()],
                track: Vec::new(),
            },
            SyncGroupConfig {
                name: "gb".into(),
                members: vec!["b".into(), "not-running".into()],
                track: Vec::new(),
            },
        ],
        |m| m != "not-running",
    );
    for (member, command) in commands {
        pair.members
            .get_mut(&member)
            .unwrap()
            .handle_command(pair.now, command);
    }
    pair.settle();
    assert_eq!(pair.state("a"), State::Fault);
    assert_eq!(pair.state("b"), State::Backup);
    // `a` alone in its group is in FAULT: its group is reported as such at once.
    assert!(
        changes
            .iter()
            .any(|c| c.group == "ga" && c.to == State::Fault),
        "{changes:?}"
    );
    // `b` is alone in `gb` (the other member does not run): Master by itself.
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.state("b"), State::Master);
}

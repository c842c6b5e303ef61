//! Privileged: [`InstanceSet`]s with sync groups in network namespaces, real sockets,
//! real VIPs. Run as root by scripts/test.sh (`cargo test -- --ignored`).
//!
//! [`InstanceSet`]: ha_vrrp::linux::InstanceSet

mod netns;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

use ha_core::IfIndex;
use ha_core::track::{TrackSpec, TrackState};
use ha_vrrp::linux::{InstanceConfig, SetEvent};
use ha_vrrp::{
    Centiseconds, Priority, RouterConfig, State, SyncGroupConfig, TrackConfig, Version, Vrid,
};
use netns::{Lab, OurSet, root_or_skip, wait_for};

const EXT_VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 101));
const INT_VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 102));

/// A member: VRRPv3 every 100 ms on eth0; `ext` also tracks `trk0` (weight 0).
fn member(name: &str, vrid: u8, priority: u8, vip: IpAddr) -> InstanceConfig {
    let mut c = RouterConfig::new(
        name,
        Version::V3,
        Vrid::new(vrid).unwrap(),
        Priority(priority),
        IfIndex(0),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        vec![vip],
    );
    c.advert_interval = Centiseconds(10);
    if name == "ext" {
        c.track.push(TrackConfig {
            object: "if:trk0".into(),
            spec: TrackSpec::default(),
            initial: TrackState::Up,
        });
    }
    InstanceConfig::new("eth0", c)
}

fn side(priority: u8) -> (Vec<InstanceConfig>, Vec<SyncGroupConfig>) {
    (
        vec![
            member("ext", 1, priority, EXT_VIP),
            member("int", 2, priority, INT_VIP),
        ],
        vec![SyncGroupConfig {
            name: "fw".into(),
            members: vec!["ext".into(), "int".into()],
            track: Vec::new(),
        }],
    )
}

fn ip_ok(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

/// A tracked interface we can take down without touching eth0: a macvlan on it.
fn add_tracked_link(lab: &Lab, i: usize) {
    let ns = lab.ns(i);
    ip_ok(&[
        "-n", &ns, "link", "add", "trk0", "link", "eth0", "type", "macvlan", "mode", "bridge",
    ]);
    ip_ok(&["-n", &ns, "link", "set", "trk0", "up"]);
}

/// keepalived's sync groups across two machines: both members become Master together;
/// a fault on one member's tracked interface faults its whole group and moves both
/// members (and both VIPs) to the other side; when it clears, the better side takes both
/// back. Then a reload-style change: one member removed and added again at runtime while
/// the others keep running.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn sync_group_members_fail_over_together() {
    if !root_or_skip("sync_group_members_fail_over_together") {
        return;
    }
    let lab = Lab::new("sg", 2);
    add_tracked_link(&lab, 1);
    add_tracked_link(&lab, 2);
    let (configs, groups) = side(200);
    let mut s1 = OurSet::start(&lab.ns(1), configs, groups);
    let (configs, groups) = side(100);
    let mut s2 = OurSet::start(&lab.ns(2), configs, groups);
    let both = ["ext", "int"];
    assert!(
        s1.wait_states(&both, State::Master, Duration::from_secs(3)),
        "{:?}",
        s1.log
    );
    assert!(s2.wait_states(&both, State::Backup, Duration::from_secs(1)));
    assert!(
        wait_for(Duration::from_secs(1), || lab.has(1, EXT_VIP)
            && lab.has(1, INT_VIP))
        .is_some()
    );
    assert!(!lab.has(2, EXT_VIP) && !lab.has(2, INT_VIP));
    assert!(
        wait_for(Duration::from_secs(1), || s1.group_state("fw")
            == State::Master)
        .is_some()
    );
    assert_eq!(s2.group_state("fw"), State::Backup);
    // Both members of side 1 became Master by the group's decision, together.
    let master_times: Vec<_> = s1
        .log
        .iter()
        .filter_map(|(at, e)| match e {
            SetEvent::Instance {
                event:
                    ha_vrrp::linux::InstanceEvent::Router(ha_vrrp::Event::StateChanged {
                        to: State::Master,
                        reason,
                        ..
                    }),
                ..
            } => Some((*at, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(master_times.len(), 2, "{master_times:?}");
    assert!(
        master_times
            .iter()
            .all(|(_, r)| matches!(r, ha_vrrp::Reason::SyncGroup { .. })),
        "{master_times:?}"
    );

    // Fault on ext's tracked interface on side 1: the whole group faults and side 2
    // takes both VIPs.
    ip_ok(&["-n", &lab.ns(1), "link", "set", "trk0", "down"]);
    assert!(
        s1.wait_states(&both, State::Fault, Duration::from_secs(2)),
        "{:?}",
        s1.log
    );
    assert!(
        s2.wait_states(&both, State::Master, Duration::from_secs(2)),
        "{:?}",
        s2.log
    );
    assert!(
        wait_for(Duration::from_secs(1), || lab.has(2, EXT_VIP)
            && lab.has(2, INT_VIP)
            && !lab.has(1, EXT_VIP)
            && !lab.has(1, INT_VIP))
        .is_some(),
        "side 1: {} side 2: {}",
        lab.addrs(1),
        lab.addrs(2)
    );
    assert!(
        wait_for(Duration::from_secs(1), || s1.group_state("fw")
            == State::Fault)
        .is_some()
    );
    assert!(
        wait_for(Duration::from_secs(1), || s2.group_state("fw")
            == State::Master)
        .is_some()
    );

    // The fault clears: side 1 (priority 200) takes both back, side 2 steps down.
    ip_ok(&["-n", &lab.ns(1), "link", "set", "trk0", "up"]);
    assert!(
        s1.wait_states(&both, State::Master, Duration::from_secs(3)),
        "{:?}",
        s1.log
    );
    assert!(
        s2.wait_states(&both, State::Backup, Duration::from_secs(4)),
        "side 2: {:#?}\nside 1: {:#?}",
        s2.log,
        s1.log
    );
    assert!(
        wait_for(Duration::from_secs(1), || lab.has(1, EXT_VIP)
            && lab.has(1, INT_VIP)
            && !lab.has(2, EXT_VIP)
            && !lab.has(2, INT_VIP))
        .is_some()
    );

    // Runtime change on side 2: remove `int`, add it again; `ext` keeps running.
    assert!(
        s2.add(member("int", 2, 100, INT_VIP)).is_err(),
        "duplicate name accepted"
    );
    s2.remove("int").unwrap();
    s2.drain();
    assert!(s2.log.iter().any(
        |(_, e)| matches!(e, SetEvent::Stopped { instance, error: None } if instance == "int")
    ));
    assert_eq!(s2.state("ext"), State::Backup);
    s2.add(member("int", 2, 100, INT_VIP)).unwrap();
    assert!(wait_for(Duration::from_secs(2), || s2.state("int") == State::Backup).is_some());

    let failures = s1.failures();
    assert!(failures.is_empty(), "{failures:?}");
    s1.shutdown();
    // Side 2 takes over both when side 1 leaves (priority 0 from both members).
    assert!(
        s2.wait_states(&both, State::Master, Duration::from_secs(2)),
        "{:?}",
        s2.log
    );
    assert!(!lab.has(1, EXT_VIP) && !lab.has(1, INT_VIP));
    s2.shutdown();
    assert!(!lab.has(2, EXT_VIP) && !lab.has(2, INT_VIP));
}

/// A sync group's own tracked interface (`vrrp_sync_group { track_interface }`),
/// watched by the set, faults every member; so does an object reported through the
/// handle (a script's result, say) that one member tracks with weight 0. Alone on the
/// LAN, the members are Master together again once the fault clears.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn group_tracking_and_reported_objects_fault_the_group() {
    if !root_or_skip("group_tracking_and_reported_objects_fault_the_group") {
        return;
    }
    let lab = Lab::new("gt", 1);
    add_tracked_link(&lab, 1);
    let (mut configs, mut groups) = side(150);
    // `ext` tracks trk0 already; `int` tracks a script reported through the handle.
    configs[1].router.track.push(TrackConfig {
        object: "script:chk".into(),
        spec: TrackSpec::default(),
        initial: TrackState::Up,
    });
    ip_ok(&[
        "-n",
        &lab.ns(1),
        "link",
        "add",
        "uplink0",
        "link",
        "eth0",
        "type",
        "macvlan",
        "mode",
        "bridge",
    ]);
    ip_ok(&["-n", &lab.ns(1), "link", "set", "uplink0", "up"]);
    groups[0].track.push(TrackConfig {
        object: "if:uplink0".into(),
        spec: TrackSpec::default(),
        initial: TrackState::Up,
    });
    let mut set = OurSet::start(&lab.ns(1), configs, groups);
    let both = ["ext", "int"];
    assert!(
        set.wait_states(&both, State::Master, Duration::from_secs(3)),
        "{:?}",
        set.log
    );

    ip_ok(&["-n", &lab.ns(1), "link", "set", "uplink0", "down"]);
    assert!(
        set.wait_states(&both, State::Fault, Duration::from_secs(2)),
        "{:?}",
        set.log
    );
    assert!(
        wait_for(Duration::from_secs(1), || !lab.has(1, EXT_VIP)
            && !lab.has(1, INT_VIP))
        .is_some()
    );
    ip_ok(&["-n", &lab.ns(1), "link", "set", "uplink0", "up"]);
    assert!(
        set.wait_states(&both, State::Master, Duration::from_secs(3)),
        "{:?}",
        set.log
    );

    set.track("script:chk", TrackState::Down);
    assert!(
        set.wait_states(&both, State::Fault, Duration::from_secs(2)),
        "{:?}",
        set.log
    );
    assert_eq!(set.group_state("fw"), State::Fault);
    set.track("script:chk", TrackState::Up);
    assert!(
        set.wait_states(&both, State::Master, Duration::from_secs(3)),
        "{:?}",
        set.log
    );
    assert!(
        wait_for(Duration::from_secs(1), || lab.has(1, EXT_VIP)
            && lab.has(1, INT_VIP))
        .is_some()
    );

    // A reload splits the group: each member alone in its own group, `int`'s group
    // tracking uplink0. `int` leaving groups altogether while running is refused.
    let group = |name: &str, member: &str, track: &[&str]| SyncGroupConfig {
        name: name.into(),
        members: vec![member.into()],
        track: track
            .iter()
            .map(|object| TrackConfig {
                object: object.to_string(),
                spec: TrackSpec::default(),
                initial: TrackState::Up,
            })
            .collect(),
    };
    let refused = set.set_sync_groups(vec![group("g1", "ext", &[])]);
    assert!(refused.unwrap_err().contains("int"));
    set.set_sync_groups(vec![
        group("g1", "ext", &[]),
        group("g2", "int", &["if:uplink0"]),
    ])
    .unwrap();
    ip_ok(&["-n", &lab.ns(1), "link", "set", "uplink0", "down"]);
    assert!(wait_for(Duration::from_secs(2), || set.state("int") == State::Fault).is_some());
    // Only `int` faults now.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(set.state("ext"), State::Master);
    assert!(lab.has(1, EXT_VIP) && !lab.has(1, INT_VIP));
    assert!(
        wait_for(Duration::from_secs(1), || set.group_state("g2")
            == State::Fault)
        .is_some()
    );
    ip_ok(&["-n", &lab.ns(1), "link", "set", "uplink0", "up"]);
    assert!(wait_for(Duration::from_secs(3), || set.state("int") == State::Master).is_some());
    set.track("script:chk", TrackState::Down);
    assert!(wait_for(Duration::from_secs(2), || set.state("int") == State::Fault).is_some());
    assert_eq!(set.state("ext"), State::Master);

    let failures = set.failures();
    assert!(failures.is_empty(), "{failures:?}");
    set.shutdown();
    assert!(!lab.has(1, EXT_VIP) && !lab.has(1, INT_VIP));
}

/// A set whose second instance cannot start fails as a whole, names the culprit, and
/// undoes what the first one set up (its VMAC).
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn a_failed_start_undoes_the_instances_already_started() {
    if !root_or_skip("a_failed_start_undoes_the_instances_already_started") {
        return;
    }
    let lab = Lab::new("sf", 1);
    let mut first = member("ext", 1, 100, EXT_VIP);
    first.vmac = Some(ha_vrrp::linux::VmacConfig::default());
    let second = InstanceConfig::new("nope0", member("int", 2, 100, INT_VIP).router);
    let error = netns::block_on_in_ns(&lab.ns(1), move || async move {
        ha_vrrp::linux::InstanceSet::start(vec![first, second], Vec::new())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(error.starts_with("instance int:"), "{error}");
    let links = lab.ip_cmd(1, &["-o", "link", "show"]);
    assert!(!links.contains("vrrp.1"), "{links}");
}

//! Privileged: two of our routers in network namespaces, real sockets, real VIPs.
//! Run as root by scripts/test.sh (`cargo test -- --ignored`).

mod netns;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::thread;
use std::time::Duration;

use ha_core::IfIndex;
use ha_vrrp::linux::{InstanceConfig, VmacConfig};
use ha_vrrp::{Centiseconds, Priority, RouterConfig, State, Version, Vrid};
use netns::{Lab, OurRouter, root_or_skip, wait_for};

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100));

fn config(
    name: &str,
    version: Version,
    priority: u8,
    interval_cs: u16,
    vip: IpAddr,
) -> RouterConfig {
    let unspecified = if vip.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let mut c = RouterConfig::new(
        name,
        version,
        Vrid::new(51).unwrap(),
        Priority(priority),
        IfIndex(0),
        unspecified,
        vec![vip],
    );
    c.advert_interval = Centiseconds(interval_cs);
    c
}

/// RFC 5798 6.4: the higher priority wins the election; when it dies the Backup takes
/// over after Master_Down_Interval and owns the VIP; the old Master preempts on return;
/// a graceful stop (priority 0) hands over after Skew_Time. Two of ours, VRRPv3, IPv4.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn ours_election_failover_preempt_and_graceful_stop() {
    if !root_or_skip("ours_election_failover_preempt_and_graceful_stop") {
        return;
    }
    let lab = Lab::new("el", 2);
    let high = || config("high", Version::V3, 200, 10, VIP);
    let mut r1 = OurRouter::start(&lab.ns(1), high(), None);
    let mut r2 = OurRouter::start(&lab.ns(2), config("low", Version::V3, 100, 10, VIP), None);

    assert!(
        r1.wait_state(State::Master, Duration::from_secs(3)),
        "high never became Master"
    );
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
    assert!(
        wait_for(Duration::from_secs(1), || lab.has(1, VIP)).is_some(),
        "{}",
        lab.addrs(1)
    );
    assert!(!lab.has(2, VIP));

    // No flap over 30 adverts.
    thread::sleep(Duration::from_millis(30 * 100));
    assert_eq!(r1.transitions().len(), 2, "{:?}", r1.transitions());
    assert_eq!(r2.transitions(), vec![(State::Initialize, State::Backup)]);
    assert!(lab.has(1, VIP) && !lab.has(2, VIP));

    // Crash the Master: the Backup owns the VIP after ~3 × 100 ms + skew.
    r1.crash();
    let took = wait_for(Duration::from_secs(2), || lab.has(2, VIP)).expect("no takeover");
    eprintln!("crash → backup owns VIP after {took:?}");
    assert!(took < Duration::from_millis(900), "{took:?}");
    assert_eq!(r2.state(), State::Master);
    assert!(lab.has(1, VIP), "a crash leaves the VIP behind");

    // A new instance removes what a crash left behind before it starts: as a
    // lower-priority Backup it holds no VIP.
    let mut low = config("high-restarted-low", Version::V3, 50, 10, VIP);
    low.preempt = false;
    let mut r1b = OurRouter::start(&lab.ns(1), low, None);
    assert!(r1b.wait_state(State::Backup, Duration::from_secs(1)));
    assert!(!lab.has(1, VIP), "{}", lab.addrs(1));
    r1b.shutdown();

    // The high-priority router returns and preempts.
    let mut r1 = OurRouter::start(&lab.ns(1), high(), None);
    assert!(r1.wait_state(State::Master, Duration::from_secs(3)));
    assert!(
        wait_for(Duration::from_secs(1), || !lab.has(2, VIP)).is_some(),
        "low kept the VIP"
    );
    assert!(lab.has(1, VIP));
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));

    // Graceful stop: priority 0, the Backup takes over after Skew_Time (~61 ms).
    r1.shutdown();
    let took = wait_for(Duration::from_secs(2), || lab.has(2, VIP)).expect("no takeover");
    eprintln!("graceful stop → backup owns VIP after {took:?}");
    assert!(took < Duration::from_millis(300), "{took:?}");
    assert!(!lab.has(1, VIP), "the stopped Master kept its VIP");
    assert!(r2.failures().is_empty(), "{:?}", r2.failures());
    r2.shutdown();
    assert!(!lab.has(2, VIP));
}

/// The same election over IPv6 (VRRPv3, ff02::12, link-local sources, hop limit from
/// ancillary data).
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn ours_ipv6_election_and_failover() {
    if !root_or_skip("ours_ipv6_election_and_failover") {
        return;
    }
    let vip: IpAddr = "fd00:99::100".parse().unwrap();
    let lab = Lab::new("e6", 2);
    let mut r1 = OurRouter::start(&lab.ns(1), config("high6", Version::V3, 200, 10, vip), None);
    let mut r2 = OurRouter::start(&lab.ns(2), config("low6", Version::V3, 100, 10, vip), None);
    assert!(r1.wait_state(State::Master, Duration::from_secs(3)));
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
    assert!(wait_for(Duration::from_secs(1), || lab.has(1, vip)).is_some());
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        r2.transitions(),
        vec![(State::Initialize, State::Backup)],
        "backup flapped"
    );
    assert!(!lab.has(2, vip));
    r1.crash();
    assert!(
        wait_for(Duration::from_secs(2), || lab.has(2, vip)).is_some(),
        "no takeover"
    );
    assert_eq!(r2.state(), State::Master);
    assert!(r2.failures().is_empty(), "{:?}", r2.failures());
}

/// RFC 5798 8.1.2 / 8.2.2 (RFC 4861 7.2.6): a new Master announces its virtual addresses
/// with gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6), seen on the
/// wire by a neighbour.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn new_master_sends_gratuitous_arp_and_unsolicited_na() {
    if !root_or_skip("new_master_sends_gratuitous_arp_and_unsolicited_na") {
        return;
    }
    let has_tcpdump = std::process::Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tcpdump {
        eprintln!("SKIPPED: tcpdump is not installed");
        return;
    }
    let vip6: IpAddr = "fd00:99::100".parse().unwrap();
    let lab = Lab::new("ga", 2);
    let dump = lab.spawn(
        2,
        "dump.txt",
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-l",
            "-U",
            "-e",
            "arp or icmp6",
        ],
    );
    thread::sleep(Duration::from_millis(500));
    let r4 = OurRouter::start(&lab.ns(1), config("g4", Version::V3, 200, 10, VIP), None);
    let r6 = OurRouter::start(&lab.ns(1), config("g6", Version::V3, 200, 10, vip6), None);
    let seen = wait_for(Duration::from_secs(3), || {
        let d = lab.log("dump.txt");
        d.contains("Request who-has 10.99.0.100 (ff:ff:ff:ff:ff:ff) tell 10.99.0.100")
            && d.contains("neighbor advertisement")
            && d.contains("tgt is fd00:99::100")
    });
    lab.signal(dump, rustix::process::Signal::TERM);
    assert!(seen.is_some(), "{}", lab.log("dump.txt"));
    drop((r4, r6));
}

/// keepalived's default interface tracking: a Master whose link loses carrier goes to
/// FAULT and gives up its VIP, the Backup takes over; when the link returns it comes back
/// through Backup and preempts.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn link_down_means_fault_and_failover() {
    if !root_or_skip("link_down_means_fault_and_failover") {
        return;
    }
    let lab = Lab::new("lk", 2);
    let mut r1 = OurRouter::start(&lab.ns(1), config("high", Version::V3, 200, 10, VIP), None);
    let mut r2 = OurRouter::start(&lab.ns(2), config("low", Version::V3, 100, 10, VIP), None);
    assert!(r1.wait_state(State::Master, Duration::from_secs(3)));
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
    // Carrier loss on r1's eth0: take its veth peer down in the bridge namespace.
    let status = std::process::Command::new("ip")
        .args(["-n", &lab.bridge(), "link", "set", "veth1", "down"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        r1.wait_state(State::Fault, Duration::from_secs(2)),
        "{:?}",
        r1.transitions()
    );
    assert!(
        wait_for(Duration::from_secs(1), || !lab.has(1, VIP)).is_some(),
        "FAULT kept the VIP"
    );
    assert!(r2.wait_state(State::Master, Duration::from_secs(2)));
    assert!(wait_for(Duration::from_secs(1), || lab.has(2, VIP)).is_some());
    let status = std::process::Command::new("ip")
        .args(["-n", &lab.bridge(), "link", "set", "veth1", "up"])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        r1.wait_state(State::Master, Duration::from_secs(3)),
        "{:?}",
        r1.transitions()
    );
    assert!(
        wait_for(Duration::from_secs(1), || lab.has(1, VIP)
            && !lab.has(2, VIP))
        .is_some()
    );
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
}

/// RFC 5798 7.3 with keepalived's `use_vmac`: the Master sends adverts and gratuitous ARPs
/// from the virtual MAC 00:00:5e:00:01:VRID on a macvlan that holds the VIP; the parent
/// gets arp_ignore/arp_filter; stopping removes the macvlan and restores the sysctls.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn vmac_master_uses_the_virtual_mac() {
    if !root_or_skip("vmac_master_uses_the_virtual_mac") {
        return;
    }
    let lab = Lab::new("vm", 2);
    let dump = lab.spawn(
        2,
        "dump.txt",
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-l",
            "-U",
            "-e",
            "arp or ip proto 112",
        ],
    );
    thread::sleep(Duration::from_millis(500));
    let with_vmac = || {
        let mut c = InstanceConfig::new("eth0", config("vmac", Version::V3, 200, 10, VIP));
        c.vmac = Some(VmacConfig::default());
        c
    };
    let mut r1 = OurRouter::start_config(&lab.ns(1), with_vmac());
    let mut r2 = OurRouter::start(&lab.ns(2), config("plain", Version::V3, 100, 10, VIP), None);
    assert!(
        r1.wait_state(State::Master, Duration::from_secs(3)),
        "{:?}",
        r1.failures()
    );
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
    let link = lab.ip_cmd(1, &["-o", "link", "show", "dev", "vrrp.51"]);
    assert!(link.contains("00:00:5e:00:01:33"), "{link}");
    let on_vmac = || {
        lab.ip_cmd(1, &["-o", "addr", "show", "dev", "vrrp.51"])
            .contains("10.99.0.100/")
    };
    assert!(wait_for(Duration::from_secs(1), on_vmac).is_some());
    assert_eq!(lab.sysctl(1, "eth0", "arp_ignore"), "1");
    assert_eq!(lab.sysctl(1, "eth0", "arp_filter"), "1");
    let seen = wait_for(Duration::from_secs(2), || {
        let d = lab.log("dump.txt");
        d.contains("00:00:5e:00:01:33 > ff:ff:ff:ff:ff:ff, ethertype ARP")
            && d.contains("00:00:5e:00:01:33 > 01:00:5e:00:00:12")
    });
    assert!(seen.is_some(), "{}", lab.log("dump.txt"));
    // The Backup (without VMAC) follows the Master as usual.
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(r2.transitions(), vec![(State::Initialize, State::Backup)]);

    // A stop removes the macvlan with its VIP; the Backup takes over.
    r1.crash();
    assert!(wait_for(Duration::from_secs(2), || lab.has(2, VIP)).is_some());
    assert!(
        lab.ip_cmd(1, &["-o", "link", "show", "dev", "vrrp.51"])
            .is_empty()
    );
    assert_eq!(
        lab.sysctl(1, "eth0", "arp_ignore"),
        "0",
        "parent sysctl not restored"
    );

    // Back with its VMAC, it preempts.
    let mut r1 = OurRouter::start_config(&lab.ns(1), with_vmac());
    assert!(r1.wait_state(State::Master, Duration::from_secs(3)));
    assert!(wait_for(Duration::from_secs(1), on_vmac).is_some());
    assert!(wait_for(Duration::from_secs(1), || !lab.has(2, VIP)).is_some());
    assert!(r1.failures().is_empty(), "{:?}", r1.failures());
    r1.shutdown();
    lab.signal(dump, rustix::process::Signal::TERM);
    assert!(
        lab.ip_cmd(1, &["-o", "link", "show", "dev", "vrrp.51"])
            .is_empty()
    );

    // A lower-priority VMAC router hears the Master on the parent and stays Backup.
    assert!(r2.wait_state(State::Master, Duration::from_secs(2)));
    let mut low = with_vmac();
    low.router.priority = Priority(50);
    let mut r3 = OurRouter::start_config(&lab.ns(1), low);
    assert!(r3.wait_state(State::Backup, Duration::from_secs(1)));
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(r3.transitions(), vec![(State::Initialize, State::Backup)]);
    assert!(lab.has(2, VIP));
}

/// IPv6 VMAC (RFC 5798 7.3: 00:00:5e:00:02:VRID): adverts and unsolicited NAs leave from
/// the virtual MAC, the VMAC carries the parent's link-local address and the VIP, and a
/// Backup without VMAC follows it.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn ipv6_vmac_master_uses_the_virtual_mac() {
    if !root_or_skip("ipv6_vmac_master_uses_the_virtual_mac") {
        return;
    }
    let vip: IpAddr = "fd00:99::100".parse().unwrap();
    let lab = Lab::new("v6m", 2);
    let dump = lab.spawn(
        2,
        "dump.txt",
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-l",
            "-U",
            "-e",
            "icmp6 or ip6 proto 112",
        ],
    );
    thread::sleep(Duration::from_millis(500));
    let mut c = InstanceConfig::new("eth0", config("vmac6", Version::V3, 200, 10, vip));
    c.vmac = Some(VmacConfig::default());
    let mut r1 = OurRouter::start_config(&lab.ns(1), c);
    let mut r2 = OurRouter::start(
        &lab.ns(2),
        config("plain6", Version::V3, 100, 10, vip),
        None,
    );
    assert!(
        r1.wait_state(State::Master, Duration::from_secs(3)),
        "{:?}",
        r1.failures()
    );
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
    let addrs = lab.ip_cmd(1, &["-o", "addr", "show", "dev", "vrrp6.51"]);
    assert!(addrs.contains("fe80::1/64"), "{addrs}");
    let on_vmac = || {
        lab.ip_cmd(1, &["-o", "addr", "show", "dev", "vrrp6.51"])
            .contains("fd00:99::100/")
    };
    assert!(wait_for(Duration::from_secs(1), on_vmac).is_some());
    let seen = wait_for(Duration::from_secs(2), || {
        let d = lab.log("dump.txt");
        d.contains("00:00:5e:00:02:33 > 33:33:00:00:00:12")
            && d.contains("00:00:5e:00:02:33 > 33:33:00:00:00:01")
            && d.contains("tgt is fd00:99::100")
    });
    assert!(seen.is_some(), "{}", lab.log("dump.txt"));
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(r2.transitions(), vec![(State::Initialize, State::Backup)]);
    assert!(!lab.has(2, vip));
    assert!(r1.failures().is_empty(), "{:?}", r1.failures());
    r1.shutdown();
    lab.signal(dump, rustix::process::Signal::TERM);
    assert!(wait_for(Duration::from_secs(2), || lab.has(2, vip)).is_some());
    assert!(
        lab.ip_cmd(1, &["-o", "link", "show", "dev", "vrrp6.51"])
            .is_empty()
    );
}

/// keepalived's `virtual_routes` / `virtual_rules`: the Master adds its routes (one
/// needs the VIP as its source, so the order matters) and its rule after the VIP; on
/// failover they leave the old Master before its VIP does and appear on the new one.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn virtual_routes_and_rules_follow_the_master() {
    if !root_or_skip("virtual_routes_and_rules_follow_the_master") {
        return;
    }
    let lab = Lab::new("rt", 2);
    let instance = |name: &str, priority: u8| {
        let mut c = InstanceConfig::new("eth0", config(name, Version::V3, priority, 10, VIP));
        c.routes = [
            "10.50.0.0/16 via 10.99.0.254 table 100",
            "10.51.0.0/16 dev eth0 src 10.99.0.100 table 100",
            "blackhole 10.52.0.0/16 table 100",
        ]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
        c.rules = vec!["from 10.99.0.100 table 100 priority 1000".parse().unwrap()];
        c
    };
    let has_all = |i: usize| {
        let routes = lab.ip_cmd(i, &["route", "show", "table", "100"]);
        let rules = lab.ip_cmd(i, &["rule", "show"]);
        routes.contains("10.50.0.0/16 via 10.99.0.254 dev eth0 proto static")
            && routes.contains("10.51.0.0/16 dev eth0 proto static scope link src 10.99.0.100")
            && routes.contains("blackhole 10.52.0.0/16 proto static")
            && rules.contains("1000:\tfrom 10.99.0.100 lookup 100")
    };
    let has_none = |i: usize| {
        let routes = lab.ip_cmd(i, &["route", "show", "table", "100"]);
        let rules = lab.ip_cmd(i, &["rule", "show"]);
        routes.trim().is_empty() && !rules.contains("lookup 100")
    };
    let mut r1 = OurRouter::start_config(&lab.ns(1), instance("high", 200));
    let mut r2 = OurRouter::start_config(&lab.ns(2), instance("low", 100));
    assert!(r1.wait_state(State::Master, Duration::from_secs(3)));
    assert!(r2.wait_state(State::Backup, Duration::from_secs(1)));
    assert!(
        wait_for(Duration::from_secs(1), || has_all(1)).is_some(),
        "routes: {} rules: {}",
        lab.ip_cmd(1, &["route", "show", "table", "100"]),
        lab.ip_cmd(1, &["rule", "show"])
    );
    assert!(has_none(2));
    // Graceful stop of the Master: everything moves to the other side.
    let log = r1.shutdown();
    assert!(
        has_none(1),
        "{}",
        lab.ip_cmd(1, &["route", "show", "table", "100"])
    );
    assert!(!lab.has(1, VIP));
    assert!(
        log.iter()
            .all(|(_, e)| !matches!(e, ha_vrrp::linux::InstanceEvent::ActionFailed { .. })),
        "{log:?}"
    );
    assert!(r2.wait_state(State::Master, Duration::from_secs(2)));
    assert!(
        wait_for(Duration::from_secs(1), || has_all(2)).is_some(),
        "routes: {} rules: {}",
        lab.ip_cmd(2, &["route", "show", "table", "100"]),
        lab.ip_cmd(2, &["rule", "show"])
    );
    let failures = r2.failures();
    assert!(failures.is_empty(), "{failures:?}");
    r2.shutdown();
    assert!(has_none(2));
}

/// keepalived's `static_ipaddress`, `static_routes` and `static_rules`: present once
/// applied (whatever the VRRP state) and gone once removed at stop.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn static_addresses_routes_and_rules_are_applied_and_removed() {
    if !root_or_skip("static_addresses_routes_and_rules_are_applied_and_removed") {
        return;
    }
    let lab = Lab::new("st", 1);
    let addresses: Vec<ha_vrrp::routes::StaticAddress> =
        vec!["10.99.0.77/24 dev eth0".parse().unwrap()];
    let routes: Vec<ha_vrrp::routes::VirtualRoute> = vec![
        "10.60.0.0/16 via 10.99.0.254 dev eth0 table 200 metric 7"
            .parse()
            .unwrap(),
        "unreachable 10.61.0.0/16 table 200".parse().unwrap(),
        "2001:db8:60::/48 via fe80::fe dev eth0 table 200"
            .parse()
            .unwrap(),
    ];
    let rules: Vec<ha_vrrp::routes::VirtualRule> = vec![
        "from 10.99.0.77 to 10.60.0.0/16 fwmark 0x7/0xff table 200 priority 2000"
            .parse()
            .unwrap(),
        "from 2001:db8::77 table 200 priority 2001".parse().unwrap(),
    ];
    let (a, r, u) = (addresses.clone(), routes.clone(), rules.clone());
    let failures = netns::block_on_in_ns(&lab.ns(1), move || async move {
        let netlink = ha_vrrp::linux::Netlink::connect().unwrap();
        let failures = ha_vrrp::linux::apply_static(&netlink, &a, &r, &u).await;
        // Applying twice is harmless (already present).
        let again = ha_vrrp::linux::apply_static(&netlink, &a, &r, &u).await;
        failures
            .into_iter()
            .chain(again)
            .map(|f| format!("{}: {}", f.action, f.error))
            .collect::<Vec<_>>()
    });
    assert!(failures.is_empty(), "{failures:?}");
    let table = lab.ip_cmd(1, &["route", "show", "table", "200"]);
    assert!(
        table.contains("10.60.0.0/16 via 10.99.0.254 dev eth0 proto static metric 7"),
        "{table}"
    );
    assert!(
        table.contains("unreachable 10.61.0.0/16 proto static"),
        "{table}"
    );
    let table6 = lab.ip_cmd(1, &["-6", "route", "show", "table", "200"]);
    assert!(
        table6.contains("2001:db8:60::/48 via fe80::fe dev eth0 proto static"),
        "{table6}"
    );
    let rules6 = lab.ip_cmd(1, &["-6", "rule", "show"]);
    assert!(
        rules6.contains("2001:\tfrom 2001:db8::77 lookup 200"),
        "{rules6}"
    );
    let rule_list = lab.ip_cmd(1, &["rule", "show"]);
    assert!(
        rule_list.contains("2000:\tfrom 10.99.0.77 to 10.60.0.0/16 fwmark 0x7/0xff lookup 200"),
        "{rule_list}"
    );
    assert!(lab.has(1, "10.99.0.77".parse().unwrap()));
    let failures = netns::block_on_in_ns(&lab.ns(1), move || async move {
        let netlink = ha_vrrp::linux::Netlink::connect().unwrap();
        let failures = ha_vrrp::linux::remove_static(&netlink, &addresses, &routes, &rules).await;
        // Removing twice is harmless (already gone).
        let again = ha_vrrp::linux::remove_static(&netlink, &addresses, &routes, &rules).await;
        failures
            .into_iter()
            .chain(again)
            .map(|f| format!("{}: {}", f.action, f.error))
            .collect::<Vec<_>>()
    });
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        lab.ip_cmd(1, &["route", "show", "table", "200"])
            .trim()
            .is_empty()
    );
    assert!(!lab.ip_cmd(1, &["rule", "show"]).contains("lookup 200"));
    assert!(
        lab.ip_cmd(1, &["-6", "route", "show", "table", "200"])
            .trim()
            .is_empty()
    );
    assert!(
        !lab.ip_cmd(1, &["-6", "rule", "show"])
            .contains("lookup 200")
    );
    assert!(!lab.has(1, "10.99.0.77".parse().unwrap()));
}

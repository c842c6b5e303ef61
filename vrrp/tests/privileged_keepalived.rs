//! Privileged: interoperation with keepalived 2.2.7 in network namespaces.
//!
//! Each case runs our router and keepalived on one bridge, first with ours as the
//! higher-priority Master and then as the Backup, and checks: the right router wins and
//! owns the VIP (checked with `ip -n NS addr`), nobody flaps over a window of
//! advertisements, a crash (our stop without priority 0 / keepalived SIGKILL) moves the
//! VIP to the other side, the crashed router preempts when it returns, and a graceful
//! stop (priority 0) hands over after Skew_Time.
//!
//! Run as root by scripts/test.sh (`cargo test -- --ignored`).

mod netns;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::thread;
use std::time::{Duration, Instant};

use ha_core::IfIndex;
use ha_vrrp::{
    AuthConfig, Centiseconds, ChecksumMode, ChecksumPolicy, Priority, RouterConfig, State, Version,
    Vrid,
};
use netns::{Lab, OurRouter, keepalived_or_skip, root_or_skip, wait_for};
use rustix::process::Signal;

#[derive(Clone)]
struct Case {
    tag: &'static str,
    version: Version,
    /// Interval in centiseconds (v2: a multiple of 100).
    interval_cs: u16,
    vip: IpAddr,
    password: Option<&'static str>,
    /// With `password`: IPSEC-AH instead of a simple password.
    ah: bool,
    checksum_mode: ChecksumMode,
    checksum_policy: ChecksumPolicy,
    unicast: bool,
    /// Adverts to watch for flaps.
    window_adverts: u32,
}

impl Case {
    fn v3(tag: &'static str) -> Case {
        Case {
            tag,
            version: Version::V3,
            // 100 ms: fast, with room for a loaded CI machine (Master_Down ≈ 360 ms).
            interval_cs: 10,
            vip: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100)),
            password: None,
            ah: false,
            checksum_mode: ChecksumMode::PseudoHeader,
            checksum_policy: ChecksumPolicy::Strict,
            unicast: false,
            window_adverts: 30,
        }
    }

    fn v2(tag: &'static str) -> Case {
        Case {
            version: Version::V2,
            interval_cs: 100,
            window_adverts: 6,
            ..Case::v3(tag)
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_cs) * 10)
    }

    /// Master_Down_Interval for priority 100 plus a generous margin for a loaded machine.
    fn takeover_bound(&self) -> Duration {
        self.interval() * 4 + Duration::from_millis(800)
    }

    /// Skew_Time plus margin.
    fn graceful_bound(&self) -> Duration {
        self.interval() + Duration::from_millis(400)
    }

    fn vip_prefix(&self) -> u8 {
        if self.vip.is_ipv4() { 32 } else { 128 }
    }

    fn ours(&self, lab: &Lab, me: usize, peer: usize, priority: u8) -> RouterConfig {
        let primary = if self.vip.is_ipv4() {
            IpAddr::V4(lab.ip(me))
        } else {
            IpAddr::V6(lab.ll(me))
        };
        let mut c = RouterConfig::new(
            format!("ours-{}", self.tag),
            self.version,
            Vrid::new(51).unwrap(),
            Priority(priority),
            IfIndex(0),
            primary,
            vec![self.vip],
        );
        c.advert_interval = Centiseconds(self.interval_cs);
        c.checksum_mode = self.checksum_mode;
        c.checksum_policy = self.checksum_policy;
        if let Some(p) = self.password {
            c.auth = if self.ah {
                AuthConfig::IpsecAh(p.into())
            } else {
                AuthConfig::Password(p.into())
            };
        }
        if self.unicast {
            c.unicast_peers = vec![IpAddr::V4(lab.ip(peer))];
        }
        c
    }

    fn keepalived_conf(
        &self,
        lab: &Lab,
        me: usize,
        peer: usize,
        priority: u8,
        master: bool,
    ) -> String {
        let version = match self.version {
            Version::V2 => 2,
            Version::V3 => 3,
        };
        let advert_int = if self.interval_cs % 100 == 0 {
            format!("{}", self.interval_cs / 100)
        } else {
            format!("{:.2}", f64::from(self.interval_cs) / 100.0)
        };
        let auth = match self.password {
            Some(p) => {
                let kind = if self.ah { "AH" } else { "PASS" };
                format!("  authentication {{\n    auth_type {kind}\n    auth_pass {p}\n  }}\n")
            }
            None => String::new(),
        };
        let unicast = if self.unicast {
            format!(
                "  unicast_src_ip {}\n  unicast_peer {{\n    {}\n  }}\n",
                lab.ip(me),
                lab.ip(peer)
            )
        } else {
            String::new()
        };
        format!(
            "global_defs {{\n  router_id ka{me}\n  vrrp_garp_master_delay 0\n  vrrp_garp_master_repeat 1\n}}\n\
             vrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  \
             version {version}\n  priority {priority}\n  advert_int {advert_int}\n{auth}{unicast}  \
             virtual_ipaddress {{\n    {vip}\n  }}\n}}\n",
            state = if master { "MASTER" } else { "BACKUP" },
            vip = self.vip,
        )
    }
}

struct Keepalived<'a> {
    lab: &'a Lab,
    pid: u32,
    log: String,
}

impl<'a> Keepalived<'a> {
    fn start(
        lab: &'a Lab,
        case: &Case,
        me: usize,
        peer: usize,
        priority: u8,
        master: bool,
        run: u32,
    ) -> Self {
        let conf = lab.dir.join(format!("ka{me}-{run}.conf"));
        std::fs::write(&conf, case.keepalived_conf(lab, me, peer, priority, master)).unwrap();
        let pid_file = lab.dir.join(format!("ka{me}-{run}.pid"));
        let vrrp_pid = lab.dir.join(format!("ka{me}-{run}-vrrp.pid"));
        let log = format!("ka{me}-{run}.log");
        let pid = lab.spawn(
            me,
            &log,
            &[
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-G",
                "-P",
                "-f",
                conf.to_str().unwrap(),
                "-p",
                pid_file.to_str().unwrap(),
                "-r",
                vrrp_pid.to_str().unwrap(),
            ],
        );
        Keepalived { lab, pid, log }
    }

    fn kill(self, signal: Signal) -> String {
        self.lab.signal(self.pid, signal);
        self.lab.log(&self.log)
    }
}

/// Polls for `window`, failing if `bad` ever holds.
fn steady(window: Duration, mut bad: impl FnMut() -> Option<String>) {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if let Some(why) = bad() {
            panic!("flap: {why}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Ours (priority 200) is Master, keepalived (100) Backup; then failover both ways.
fn ours_as_master(case: Case) {
    let lab = Lab::new(case.tag, 2);
    let vip = case.vip;
    let ka = Keepalived::start(&lab, &case, 2, 1, 100, false, 1);
    let mut ours = OurRouter::start(&lab.ns(1), case.ours(&lab, 1, 2, 200), None);
    let elect = case.interval() * 5 + Duration::from_secs(2);
    assert!(
        ours.wait_state(State::Master, elect),
        "ours never Master: {:?}",
        ours.transitions()
    );
    assert!(
        wait_for(elect, || lab.has(1, vip) && !lab.has(2, vip)).is_some(),
        "VIP not only on ours: ours {} / keepalived {}\n{}",
        lab.addrs(1),
        lab.addrs(2),
        lab.log(&ka.log)
    );
    let before = ours.transitions().len();
    steady(case.interval() * case.window_adverts, || {
        if lab.has(2, vip) {
            return Some(format!("keepalived took the VIP\n{}", lab.log(&ka.log)));
        }
        (ours.transitions().len() != before).then(|| format!("{:?}", ours.transitions()))
    });

    // Crash ours: keepalived takes over.
    ours.crash();
    let took = wait_for(case.takeover_bound(), || lab.has(2, vip));
    assert!(
        took.is_some(),
        "keepalived did not take over\n{}",
        lab.log(&ka.log)
    );
    eprintln!(
        "[{}] ours crashed → keepalived owns VIP after {:?}",
        case.tag,
        took.unwrap()
    );
    lab.del_addr(1, vip, case.vip_prefix());

    // Ours returns and preempts.
    let mut ours = OurRouter::start(&lab.ns(1), case.ours(&lab, 1, 2, 200), None);
    assert!(
        ours.wait_state(State::Master, elect),
        "{:?}",
        ours.transitions()
    );
    assert!(
        wait_for(elect, || lab.has(1, vip) && !lab.has(2, vip)).is_some(),
        "after preemption: ours {} / keepalived {}",
        lab.addrs(1),
        lab.addrs(2)
    );

    // Graceful stop of ours: keepalived takes over after Skew_Time.
    ours.shutdown();
    let took = wait_for(case.graceful_bound(), || lab.has(2, vip));
    assert!(
        took.is_some(),
        "no takeover after our priority 0\n{}",
        lab.log(&ka.log)
    );
    eprintln!(
        "[{}] ours stopped: keepalived owns VIP {:?} after ours exited",
        case.tag,
        took.unwrap()
    );
    assert!(!lab.has(1, vip));
    let log = ka.kill(Signal::TERM);
    assert!(log.contains("Entering MASTER STATE"), "{log}");
}

/// Keepalived (priority 200) is Master, ours (100) Backup; then failover both ways.
fn ours_as_backup(case: Case) {
    let lab = Lab::new(case.tag, 2);
    let vip = case.vip;
    let ka = Keepalived::start(&lab, &case, 1, 2, 200, true, 1);
    let elect = case.interval() * 5 + Duration::from_secs(3);
    assert!(
        wait_for(elect, || lab.has(1, vip)).is_some(),
        "keepalived never took the VIP\n{}",
        lab.log(&ka.log)
    );
    let mut ours = OurRouter::start(&lab.ns(2), case.ours(&lab, 2, 1, 100), None);
    assert!(ours.wait_state(State::Backup, Duration::from_secs(2)));
    steady(case.interval() * case.window_adverts, || {
        if lab.has(2, vip) {
            return Some(format!("ours took the VIP: {:?}", ours.transitions()));
        }
        (ours.transitions() != vec![(State::Initialize, State::Backup)])
            .then(|| format!("{:?}", ours.transitions()))
    });
    assert!(lab.has(1, vip));

    // SIGKILL keepalived: ours takes over.
    let log = ka.kill(Signal::KILL);
    let took = wait_for(case.takeover_bound(), || lab.has(2, vip));
    assert!(
        took.is_some(),
        "ours did not take over: {:?}\n{log}",
        ours.transitions()
    );
    eprintln!(
        "[{}] keepalived SIGKILL → ours owns VIP after {:?}",
        case.tag,
        took.unwrap()
    );
    assert_eq!(ours.state(), State::Master);
    lab.del_addr(1, vip, case.vip_prefix());

    // keepalived returns and preempts.
    let ka = Keepalived::start(&lab, &case, 1, 2, 200, true, 2);
    assert!(
        wait_for(elect, || lab.has(1, vip) && !lab.has(2, vip)).is_some(),
        "keepalived did not preempt: {:?}\n{}",
        ours.transitions(),
        lab.log(&ka.log)
    );
    assert!(ours.wait_state(State::Backup, Duration::from_secs(1)));

    // SIGTERM keepalived (priority 0): ours takes over after Skew_Time.
    let log = ka.kill(Signal::TERM);
    let took = wait_for(case.graceful_bound(), || {
        lab.has(2, vip) && !lab.has(1, vip)
    });
    assert!(
        took.is_some(),
        "no takeover after keepalived's priority 0\n{log}"
    );
    eprintln!(
        "[{}] keepalived SIGTERM: ours owns VIP {:?} after keepalived exited",
        case.tag,
        took.unwrap()
    );
    assert!(ours.failures().is_empty(), "{:?}", ours.failures());
    ours.shutdown();
    assert!(!lab.has(2, vip));
}

macro_rules! interop {
    ($name:ident, $runner:ident, $case:expr) => {
        /// See the module documentation.
        #[test]
        #[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
        fn $name() {
            if !root_or_skip(stringify!($name)) || !keepalived_or_skip(stringify!($name)) {
                return;
            }
            $runner($case);
        }
    };
}

interop!(v3_ipv4_ours_master, ours_as_master, Case::v3("a"));
interop!(v3_ipv4_ours_backup, ours_as_backup, Case::v3("b"));
interop!(
    v3_ipv4_no_pseudo_header_accept_either_ours_backup,
    ours_as_backup,
    Case {
        checksum_mode: ChecksumMode::NoPseudoHeader,
        checksum_policy: ChecksumPolicy::AcceptEither,
        ..Case::v3("c")
    }
);
interop!(v2_noauth_ours_master, ours_as_master, Case::v2("d"));
interop!(v2_noauth_ours_backup, ours_as_backup, Case::v2("e"));
interop!(
    v2_pass_ours_master,
    ours_as_master,
    Case {
        password: Some("s3cret"),
        ..Case::v2("f")
    }
);
interop!(
    v2_pass_ours_backup,
    ours_as_backup,
    Case {
        password: Some("s3cret"),
        ..Case::v2("g")
    }
);
interop!(
    v2_ah_ours_master,
    ours_as_master,
    Case {
        password: Some("s3cret"),
        ah: true,
        ..Case::v2("m")
    }
);
interop!(
    v2_ah_ours_backup,
    ours_as_backup,
    Case {
        password: Some("s3cret"),
        ah: true,
        ..Case::v2("n")
    }
);
interop!(
    v3_ipv6_ours_master,
    ours_as_master,
    Case {
        vip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 0x100)),
        ..Case::v3("h")
    }
);
interop!(
    v3_ipv6_ours_backup,
    ours_as_backup,
    Case {
        vip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 0x100)),
        ..Case::v3("i")
    }
);
interop!(
    v3_unicast_ours_master,
    ours_as_master,
    Case {
        unicast: true,
        ..Case::v3("j")
    }
);
interop!(
    v3_unicast_ours_backup,
    ours_as_backup,
    Case {
        unicast: true,
        ..Case::v3("k")
    }
);
/// Characterises the VRRPv3 IPv4 checksum trap: keepalived 2.2.7 only accepts the
/// checksum with the pseudo-header, so a Master of ours configured without it is ignored
/// ("Invalid VRRPv3 checksum") and keepalived becomes Master too. Our router accepts either
/// form on receive when asked to (the `*_accept_either_*` case above).
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn v3_ipv4_no_pseudo_header_master_is_rejected_by_keepalived() {
    let name = "v3_ipv4_no_pseudo_header_master_is_rejected_by_keepalived";
    if !root_or_skip(name) || !keepalived_or_skip(name) {
        return;
    }
    let case = Case {
        checksum_mode: ChecksumMode::NoPseudoHeader,
        checksum_policy: ChecksumPolicy::AcceptEither,
        ..Case::v3("l")
    };
    let lab = Lab::new(case.tag, 2);
    let ka = Keepalived::start(&lab, &case, 2, 1, 100, false, 1);
    let mut ours = OurRouter::start(&lab.ns(1), case.ours(&lab, 1, 2, 200), None);
    assert!(ours.wait_state(State::Master, Duration::from_secs(3)));
    let both = wait_for(Duration::from_secs(3), || {
        lab.has(1, case.vip) && lab.has(2, case.vip)
    });
    let log = ka.kill(Signal::TERM);
    assert!(
        both.is_some(),
        "keepalived did not become Master too\n{log}"
    );
    assert!(log.contains("Invalid VRRPv3 checksum"), "{log}");
    drop(ours);
}

//! Interoperability with FRR's `vrrpd` (VRRPv3, IPv4, 100 ms advertisements) in network
//! namespaces.
//!
//! FRR needs `zebra` beside `vrrpd` and a macvlan `vrrp4-<VRID>` on the parent interface
//! with the virtual MAC, the virtual address and the link up, made by the operator (here,
//! the test). `vrrpd` never adds or removes addresses: as Backup it sets `protodown` on the
//! macvlan (operstate `DOWN`), as Master it clears it (operstate `UP`). So "FRR is Master"
//! is read from the macvlan's operstate (`ip -br link`), with `vtysh -c "show vrrp"` as a
//! second witness for state and counters; "ours is Master" is read from the VIP on `eth0`.
//!
//! Each case runs our router and FRR on one bridge and checks that the higher priority
//! wins, that nobody flaps over 30 advertisements, and failover both ways: our crash (no
//! priority 0) hands the VIP to FRR after its Master_Down_Interval, and SIGKILL of `vrrpd`
//! hands it to ours within 3 × 100 ms + Skew_Time + margin. FRR 8.4 sends the IPv4 VRRPv3
//! checksum with the pseudo-header, so ours runs with the strict pseudo-header checksum.
//!
//! Run as root by scripts/test.sh (`cargo test -- --ignored`).

mod netns;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use ha_core::IfIndex;
use ha_vrrp::{
    Centiseconds, ChecksumMode, ChecksumPolicy, Priority, RouterConfig, State, Version, Vrid,
};
use netns::{Lab, OurRouter, root_or_skip, wait_for};
use rustix::process::Signal;

const ZEBRA: &str = "/usr/lib/frr/zebra";
const VRRPD: &str = "/usr/lib/frr/vrrpd";
const VTYSH: &str = "/usr/bin/vtysh";
const VRID: u8 = 51;
const MACVLAN: &str = "vrrp4-51";
const VMAC: &str = "00:00:5e:00:01:33";
/// Advertisement interval.
const INTERVAL: Duration = Duration::from_millis(100);
/// Advertisements watched for flaps.
const WINDOW_ADVERTS: u32 = 30;
/// Slack for a loaded two-core CI machine (process start, `ip` polling, scheduling).
const MARGIN: Duration = Duration::from_millis(500);

fn vip() -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, 100)
}

/// RFC 9568 §6.1: Skew_Time = ((256 - Priority) × Master_Adver_Interval) / 256.
fn skew(priority: u8) -> Duration {
    INTERVAL * (256 - u32::from(priority)) / 256
}

/// RFC 9568 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
fn master_down(priority: u8) -> Duration {
    INTERVAL * 3 + skew(priority)
}

/// True when FRR's `zebra`, `vrrpd` and `vtysh` are installed; otherwise prints why.
fn frr_or_skip(test: &str) -> bool {
    let ok = Path::new(ZEBRA).exists() && Path::new(VRRPD).exists() && Path::new(VTYSH).exists();
    if !ok {
        eprintln!(
            "{test}: SKIPPED: FRR (zebra, vrrpd, vtysh) is not installed (scripts/install-test-deps.sh)"
        );
    }
    ok
}

fn ours(lab: &Lab, me: usize, priority: u8) -> RouterConfig {
    let mut c = RouterConfig::new(
        format!("ours-frr-{me}"),
        Version::V3,
        Vrid::new(VRID).unwrap(),
        Priority(priority),
        IfIndex(0),
        IpAddr::V4(lab.ip(me)),
        vec![IpAddr::V4(vip())],
    );
    c.advert_interval = Centiseconds(10);
    c.checksum_mode = ChecksumMode::PseudoHeader;
    c.checksum_policy = ChecksumPolicy::Strict;
    c
}

/// `zebra` + `vrrpd` in one namespace of the lab.
struct Frr<'a> {
    lab: &'a Lab,
    ns: usize,
    dir: PathBuf,
    zebra: u32,
    vrrpd: Option<u32>,
    priority: u8,
    runs: u32,
}

impl<'a> Frr<'a> {
    /// Makes the macvlan (virtual MAC, VIP, link up) and starts `zebra` in namespace `ns`.
    fn new(lab: &'a Lab, ns: usize, priority: u8) -> Self {
        let dir = lab.dir.join(format!("frr{ns}"));
        std::fs::create_dir_all(&dir).expect("frr dir");
        // The daemons drop privileges to the `frr` user: it must own its state directory.
        let status = Command::new("chown")
            .arg("frr:frr")
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(status.success(), "chown frr:frr {}", dir.display());
        let ns_name = lab.ns(ns);
        for args in [
            vec![
                "link", "add", MACVLAN, "link", "eth0", "address", VMAC, "type", "macvlan", "mode",
                "bridge",
            ],
            vec!["addr", "add", "10.99.0.100/24", "dev", MACVLAN],
            vec!["link", "set", MACVLAN, "up"],
        ] {
            let out = Command::new("ip")
                .args(["-n", &ns_name])
                .args(&args)
                .output()
                .expect("ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(dir.join("zebra.conf"), "").expect("zebra.conf");
        let zebra = Self::daemon(lab, ns, &dir, "zebra", ZEBRA);
        let socket = dir.join("zserv.api");
        assert!(
            wait_for(Duration::from_secs(10), || socket.exists()).is_some(),
            "zebra did not open {}\n{}",
            socket.display(),
            lab.log(&format!("zebra{ns}.log"))
        );
        Frr {
            lab,
            ns,
            dir,
            zebra,
            vrrpd: None,
            priority,
            runs: 0,
        }
    }

    fn daemon(lab: &Lab, ns: usize, dir: &Path, name: &str, bin: &str) -> u32 {
        let conf = dir.join(format!("{name}.conf"));
        let pid_file = dir.join(format!("{name}.pid"));
        let vty = dir.to_str().unwrap().to_string();
        let zserv = dir.join("zserv.api");
        lab.spawn(
            ns,
            &format!("{name}{ns}.log"),
            &[
                bin,
                "-f",
                conf.to_str().unwrap(),
                "-i",
                pid_file.to_str().unwrap(),
                "--vty_socket",
                &vty,
                "-z",
                zserv.to_str().unwrap(),
                "-A",
                "127.0.0.1",
                "--log",
                "stdout",
            ],
        )
    }

    /// Starts (or restarts) `vrrpd`.
    fn start_vrrpd(&mut self) {
        assert!(self.vrrpd.is_none());
        self.runs += 1;
        let conf = format!(
            "interface eth0\n vrrp {VRID} version 3\n vrrp {VRID} priority {}\n \
             vrrp {VRID} advertisement-interval {}\n vrrp {VRID} ip {}\nexit\n",
            self.priority,
            INTERVAL.as_millis(),
            vip()
        );
        std::fs::write(self.dir.join("vrrpd.conf"), conf).expect("vrrpd.conf");
        self.vrrpd = Some(Self::daemon(self.lab, self.ns, &self.dir, "vrrpd", VRRPD));
    }

    /// Sends `signal` to `vrrpd` and reaps it.
    fn kill_vrrpd(&mut self, signal: Signal) {
        if let Some(pid) = self.vrrpd.take() {
            self.lab.signal(pid, signal);
        }
    }

    /// The macvlan's operstate: `UP` only while `vrrpd` is Master (no protodown).
    fn operstate(&self) -> String {
        let out = self.lab.ip_cmd(self.ns, &["-br", "link", "show", MACVLAN]);
        out.split_whitespace().nth(1).unwrap_or("?").to_string()
    }

    /// FRR's Master, as the data plane sees it: the macvlan is up.
    fn master(&self) -> bool {
        self.operstate() == "UP"
    }

    /// `show vrrp` from vtysh.
    fn show(&self) -> String {
        let out = Command::new(VTYSH)
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-d", "vrrpd", "-c", "show vrrp"])
            .output()
            .expect("vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A field of `show vrrp` (e.g. `Status (v4)`).
    fn field(&self, name: &str) -> Option<String> {
        self.show().lines().find_map(|l| {
            l.trim()
                .strip_prefix(name)
                .map(|rest| rest.trim().to_string())
        })
    }

    fn counter(&self, name: &str) -> Option<u64> {
        self.field(name)?.split_whitespace().next()?.parse().ok()
    }

    /// What to print when an assertion fails.
    fn diag(&self) -> String {
        format!(
            "macvlan {}\n{}\n--- vrrpd log ---\n{}",
            self.lab
                .ip_cmd(self.ns, &["-d", "link", "show", MACVLAN])
                .trim(),
            self.show(),
            self.lab.log(&format!("vrrpd{}.log", self.ns))
        )
    }
}

impl Drop for Frr<'_> {
    fn drop(&mut self) {
        // The lab kills every process it started too; this keeps the order tidy.
        self.kill_vrrpd(Signal::KILL);
        self.lab.signal(self.zebra, Signal::KILL);
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

/// Ours (priority 200) is Master, FRR (100) Backup; our crash hands over to FRR.
#[test]
#[ignore = "privileged: needs root, network namespaces and FRR; run by scripts/test.sh"]
fn v3_ipv4_ours_master_frr_backup() {
    let name = "v3_ipv4_ours_master_frr_backup";
    if !root_or_skip(name) || !frr_or_skip(name) {
        return;
    }
    let lab = Lab::new("fra", 2);
    let vip = IpAddr::V4(vip());
    let mut ours = OurRouter::start(&lab.ns(1), ours(&lab, 1, 200), None);
    assert!(
        ours.wait_state(State::Master, Duration::from_secs(3)),
        "ours never Master: {:?}",
        ours.transitions()
    );
    assert!(
        wait_for(Duration::from_secs(2), || lab.has(1, vip)).is_some(),
        "{}",
        lab.addrs(1)
    );

    let mut frr = Frr::new(&lab, 2, 100);
    frr.start_vrrpd();
    assert!(
        wait_for(Duration::from_secs(10), || {
            frr.field("Status (v4)").as_deref() == Some("Backup") && !frr.master()
        })
        .is_some(),
        "FRR never settled as Backup\n{}",
        frr.diag()
    );

    // No flap over the window, on either side; FRR hears our advertisements.
    let transitions = frr.counter("State transitions (v4)");
    let rx = frr.counter("Advertisements Rx (v4)").unwrap_or(0);
    let before = ours.transitions().len();
    steady(INTERVAL * WINDOW_ADVERTS, || {
        if frr.master() {
            return Some(format!("FRR's macvlan came up\n{}", frr.diag()));
        }
        if !lab.has(1, vip) {
            return Some(format!("ours lost the VIP: {:?}", ours.transitions()));
        }
        (ours.transitions().len() != before).then(|| format!("{:?}", ours.transitions()))
    });
    assert_eq!(
        frr.counter("State transitions (v4)"),
        transitions,
        "{}",
        frr.diag()
    );
    assert_eq!(frr.field("Status (v4)").as_deref(), Some("Backup"));
    let heard = frr.counter("Advertisements Rx (v4)").unwrap_or(0) - rx;
    assert!(
        heard >= u64::from(WINDOW_ADVERTS) * 2 / 3,
        "FRR heard {heard} of ~{WINDOW_ADVERTS} advertisements\n{}",
        frr.diag()
    );

    // Crash ours (no priority 0): FRR becomes Master after its Master_Down_Interval.
    let bound = master_down(100) + MARGIN;
    ours.crash();
    let took = wait_for(bound, || frr.master());
    assert!(
        took.is_some(),
        "FRR did not take over within {bound:?}\n{}",
        frr.diag()
    );
    eprintln!(
        "[fra] ours crashed → FRR's macvlan up after {:?} (Master_Down_Interval {:?})",
        took.unwrap(),
        master_down(100)
    );
    assert_eq!(frr.field("Status (v4)").as_deref(), Some("Master"));
    lab.del_addr(1, vip, 32);

    // Ours returns with the higher priority and preempts; FRR goes back to Backup.
    let mut ours = OurRouter::start(&lab.ns(1), self::ours(&lab, 1, 200), None);
    assert!(
        ours.wait_state(State::Master, Duration::from_secs(3)),
        "{:?}",
        ours.transitions()
    );
    assert!(
        wait_for(Duration::from_secs(2), || lab.has(1, vip) && !frr.master()).is_some(),
        "after preemption: ours {}\n{}",
        lab.addrs(1),
        frr.diag()
    );
    assert!(ours.failures().is_empty(), "{:?}", ours.failures());

    // Graceful stop of ours (priority 0): FRR takes over after its Skew_Time.
    ours.shutdown();
    let bound = skew(100) + MARGIN;
    let took = wait_for(bound, || frr.master());
    assert!(
        took.is_some(),
        "no FRR takeover within {bound:?} after our priority 0\n{}",
        frr.diag()
    );
    eprintln!(
        "[fra] ours stopped (priority 0) → FRR's macvlan up after {:?} (Skew_Time {:?})",
        took.unwrap(),
        skew(100)
    );
    assert!(!lab.has(1, vip));
}

/// FRR (priority 200) is Master, ours (100) Backup; SIGKILL of vrrpd hands over to ours.
#[test]
#[ignore = "privileged: needs root, network namespaces and FRR; run by scripts/test.sh"]
fn v3_ipv4_frr_master_ours_backup() {
    let name = "v3_ipv4_frr_master_ours_backup";
    if !root_or_skip(name) || !frr_or_skip(name) {
        return;
    }
    let lab = Lab::new("frb", 2);
    let vip = IpAddr::V4(vip());
    let mut frr = Frr::new(&lab, 1, 200);
    frr.start_vrrpd();
    assert!(
        wait_for(Duration::from_secs(10), || {
            frr.field("Status (v4)").as_deref() == Some("Master") && frr.master()
        })
        .is_some(),
        "FRR never Master\n{}",
        frr.diag()
    );

    let mut ours = OurRouter::start(&lab.ns(2), ours(&lab, 2, 100), None);
    assert!(
        ours.wait_state(State::Backup, Duration::from_secs(2)),
        "{:?}",
        ours.transitions()
    );
    let transitions = frr.counter("State transitions (v4)");
    let rx = frr.counter("Advertisements Rx (v4)").unwrap_or(0);
    steady(INTERVAL * WINDOW_ADVERTS, || {
        if lab.has(2, vip) {
            return Some(format!("ours took the VIP: {:?}", ours.transitions()));
        }
        if !frr.master() {
            return Some(format!("FRR's macvlan went down\n{}", frr.diag()));
        }
        (ours.transitions() != vec![(State::Initialize, State::Backup)])
            .then(|| format!("{:?}", ours.transitions()))
    });
    assert_eq!(
        frr.counter("State transitions (v4)"),
        transitions,
        "{}",
        frr.diag()
    );
    // A Backup of ours is silent: FRR must not have heard anything from it.
    assert_eq!(
        frr.counter("Advertisements Rx (v4)").unwrap_or(0),
        rx,
        "{}",
        frr.diag()
    );

    // SIGKILL vrrpd: ours takes the VIP after its Master_Down_Interval.
    let bound = master_down(100) + MARGIN;
    frr.kill_vrrpd(Signal::KILL);
    let took = wait_for(bound, || lab.has(2, vip));
    assert!(
        took.is_some(),
        "ours did not take over within {bound:?}: {:?}",
        ours.transitions()
    );
    eprintln!(
        "[frb] FRR vrrpd SIGKILL → ours owns the VIP after {:?} (Master_Down_Interval {:?})",
        took.unwrap(),
        master_down(100)
    );
    assert_eq!(ours.state(), State::Master);
    // A killed vrrpd leaves its macvlan up (like a crashed router's VIP): take it down.
    let _ = lab.ip_cmd(1, &["link", "set", MACVLAN, "down"]);

    // vrrpd returns with the higher priority and preempts; ours goes back to Backup.
    let _ = lab.ip_cmd(1, &["link", "set", MACVLAN, "up"]);
    frr.start_vrrpd();
    assert!(
        wait_for(Duration::from_secs(10), || {
            frr.field("Status (v4)").as_deref() == Some("Master")
                && frr.master()
                && !lab.has(2, vip)
        })
        .is_some(),
        "FRR did not preempt: {:?}\n{}",
        ours.transitions(),
        frr.diag()
    );
    assert!(ours.wait_state(State::Backup, Duration::from_secs(1)));

    // SIGTERM vrrpd: FRR shuts the virtual router down (priority 0 as Master), so ours
    // takes over after its Skew_Time rather than the Master_Down_Interval.
    let bound = skew(100) + MARGIN;
    frr.kill_vrrpd(Signal::TERM);
    let took = wait_for(bound, || lab.has(2, vip));
    assert!(
        took.is_some(),
        "ours did not take over within {bound:?} after vrrpd's SIGTERM: {:?}",
        ours.transitions()
    );
    eprintln!(
        "[frb] FRR vrrpd SIGTERM → ours owns the VIP after {:?} (Skew_Time {:?})",
        took.unwrap(),
        skew(100)
    );
    assert_eq!(ours.state(), State::Master);
    assert!(ours.failures().is_empty(), "{:?}", ours.failures());
    ours.shutdown();
    assert!(!lab.has(2, vip));
}

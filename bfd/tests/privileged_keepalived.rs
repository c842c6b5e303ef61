//! Interop with keepalived's BFD (2.2.7 on the reference machines) across network
//! namespaces: session Up, and Down within the detection time when keepalived is killed
//! (RFC 5880 section 6.8.4).
//!
//! Run as root with `cargo test -p ha-bfd --test privileged_keepalived -- --ignored
//! --test-threads=1` (scripts/test.sh does).
#![cfg(feature = "linux")]

mod netns;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_bfd::linux::ListenConfig;
use ha_bfd::{Diagnostic, Event, SessionId, State};
use netns::{Lab, OurBfd, binary_or_skip, root_or_skip, session};

const ID: SessionId = SessionId(1);
const KEEPALIVED: &str = "/usr/sbin/keepalived";

fn start_keepalived(lab: &Lab, i: usize, ours: IpAddr, theirs: IpAddr, extra: &str) -> u32 {
    let conf = lab.dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            "global_defs {{\n  router_id habfd\n}}\nbfd_instance ours {{\n  neighbor_ip {ours}\n  \
             source_ip {theirs}\n  min_rx 100\n  min_tx 100\n  multiplier 3\n{extra}}}\n"
        ),
    )
    .expect("config");
    let d = lab.dir.to_str().unwrap().to_string();
    lab.spawn(
        i,
        "keepalived.out",
        &[
            KEEPALIVED,
            "-n",
            "-l",
            "-D",
            "-G",
            "-f",
            conf.to_str().unwrap(),
            "-p",
            &format!("{d}/ka.pid"),
            "-r",
            &format!("{d}/vrrp.pid"),
            "-c",
            &format!("{d}/checkers.pid"),
            "-b",
            &format!("{d}/bfd.pid"),
        ],
    )
}

fn up_and_kill(tag: &str, v6: bool) {
    let lab = Lab::new(tag, 2);
    let (ours, theirs) = if v6 {
        (lab.ip6(1).into(), lab.ip6(2).into())
    } else {
        (lab.ip(1).into(), lab.ip(2).into())
    };
    // keepalived sends IPv6 with hop limit 64 unless told otherwise; single-hop BFD needs
    // 255 (RFC 5881 section 5).
    let extra = if v6 { "  hoplimit 255\n" } else { "" };
    let pid = start_keepalived(&lab, 2, ours, theirs, extra);
    let started = Instant::now();
    let mut bfd = OurBfd::start(
        &lab.ns(1),
        ListenConfig::default(),
        vec![session(1, ours, theirs, Duration::from_millis(100), 3)],
    );
    let up = bfd
        .wait_state(ID, State::Up, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no Up; keepalived said:\n{}", lab.log("keepalived.out")));
    std::thread::sleep(Duration::from_secs(2));
    netns::assert_up_once(&bfd.transitions(ID));
    let said = lab.log("keepalived.out");
    assert!(
        said.contains("(ours) Entering Up state"),
        "keepalived does not report Up:\n{said}"
    );
    let killed = Instant::now();
    lab.kill(pid);
    let down = bfd
        .wait_state(ID, State::Down, Duration::from_secs(5))
        .expect("Down after keepalived was killed");
    let detect = down.saturating_duration_since(killed);
    if let Some((_, Event::StateChanged(c))) = bfd.log.last().cloned() {
        assert_eq!(c.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    }
    eprintln!(
        "{tag}: Up {:?} after start; Down {detect:?} after SIGKILL (detection time 300 ms)",
        up - started
    );
    assert!(detect >= Duration::from_millis(150), "{detect:?}");
    assert!(detect <= Duration::from_millis(400), "{detect:?}");
    let engine = bfd.stop();
    assert_eq!(
        engine.drop_counters().total(),
        0,
        "{:?}",
        engine.drop_counters()
    );
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn keepalived_ipv4_up_and_down_on_kill() {
    if !root_or_skip("keepalived_ipv4") || !binary_or_skip("keepalived_ipv4", KEEPALIVED) {
        return;
    }
    up_and_kill("k4", false);
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn keepalived_ipv6_up_and_down_on_kill() {
    if !root_or_skip("keepalived_ipv6") || !binary_or_skip("keepalived_ipv6", KEEPALIVED) {
        return;
    }
    up_and_kill("k6", true);
}

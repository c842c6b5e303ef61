//! Interop with FRR's bfdd (8.4.4 on the reference machines) across network namespaces:
//! session Up, failure detection when the peer is killed, timer renegotiation (Poll/Final,
//! RFC 5880 section 6.5 and 6.8.3), IPv4 and IPv6, single hop (RFC 5881) and multihop
//! (RFC 5883).
//!
//! Run as root with `cargo test -p ha-bfd --test privileged_frr -- --ignored
//! --test-threads=1` (scripts/test.sh does).
#![cfg(feature = "linux")]

mod netns;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_bfd::linux::ListenConfig;
use ha_bfd::{Command, Diagnostic, Event, Hop, SessionConfig, SessionId, State};
use netns::{FRR_BFDD, Frr, Lab, OurBfd, binary_or_skip, root_or_skip, session, wait_for};

const ID: SessionId = SessionId(1);

fn skip(test: &str) -> bool {
    !root_or_skip(test) || !binary_or_skip(test, FRR_BFDD)
}

fn frr_peer(remote: IpAddr, local: IpAddr, multihop: bool, interval_ms: u64, mult: u8) -> String {
    let mh = if multihop { " multihop" } else { "" };
    format!(
        " peer {remote}{mh} local-address {local}\n  detect-multiplier {mult}\n  \
         receive-interval {interval_ms}\n  transmit-interval {interval_ms}\n  no shutdown\n exit\n"
    )
}

/// Brings a session up between our engine in ns1 and FRR in ns2, kills FRR, and checks
/// that we declare the session Down with "control detection time expired" within the
/// detection time (FRR's Detect Mult × its transmit interval, here 3 × 100 ms).
fn up_and_kill(tag: &str, v6: bool, multihop: bool) {
    let lab = Lab::new(tag, 2);
    let (ours, theirs) = if v6 {
        (lab.ip6(1).into(), lab.ip6(2).into())
    } else {
        (lab.ip(1).into(), lab.ip(2).into())
    };
    let frr = Frr::start(&lab, 2, "frr", &frr_peer(ours, theirs, multihop, 100, 3));
    let mut config = session(1, ours, theirs, Duration::from_millis(100), 3);
    if multihop {
        config.hop = Hop::MultiHop { min_ttl: 254 };
    }
    let started = Instant::now();
    let mut bfd = OurBfd::start(&lab.ns(1), ListenConfig::default(), vec![config]);
    let up = bfd
        .wait_state(ID, State::Up, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no Up; FRR log:\n{}", lab.log("frr/bfdd.log")));
    let up_after = up - started;
    assert!(
        wait_for(Duration::from_secs(3), || frr.first_status() == "up").is_some(),
        "FRR does not see the session up: {}",
        frr.peers()
    );
    // Let it run for a while: no flap.
    std::thread::sleep(Duration::from_secs(2));
    netns::assert_up_once(&bfd.transitions(ID));
    let peer = frr.peers();
    let killed = Instant::now();
    lab.kill(frr.pid);
    let down = bfd
        .wait_state(ID, State::Down, Duration::from_secs(5))
        .expect("Down after the peer was killed");
    let detect = down.saturating_duration_since(killed);
    let last = bfd.log.last().cloned();
    if let Some((_, Event::StateChanged(c))) = last {
        assert_eq!(c.diagnostic, Diagnostic::ControlDetectionTimeExpired);
        assert!(c.is_failure());
    }
    eprintln!(
        "{tag}: v6={v6} multihop={multihop}: Up {up_after:?} after start; Down {detect:?} after \
         SIGKILL (detection time 300 ms); FRR saw {peer}"
    );
    // The peer's last packet left at most one transmit interval (≤ 100 ms) before the
    // kill, so Down comes 200–300 ms after it; allow scheduling slack.
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
fn frr_ipv4_single_hop_up_and_down_on_kill() {
    if skip("frr_ipv4_single_hop") {
        return;
    }
    up_and_kill("f4s", false, false);
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn frr_ipv6_single_hop_up_and_down_on_kill() {
    if skip("frr_ipv6_single_hop") {
        return;
    }
    up_and_kill("f6s", true, false);
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn frr_ipv4_multihop_up_and_down_on_kill() {
    if skip("frr_ipv4_multihop") {
        return;
    }
    up_and_kill("f4m", false, true);
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn frr_ipv6_multihop_up_and_down_on_kill() {
    if skip("frr_ipv6_multihop") {
        return;
    }
    up_and_kill("f6m", true, true);
}

/// Timer changes both ways while Up, without a flap:
/// - ours: SetTimers runs a Poll Sequence that FRR answers with Final, and FRR then shows
///   our new intervals;
/// - FRR's: its operator slows its transmit interval to 250 ms; FRR polls us, we answer,
///   and our detection time becomes 3 × 250 ms, which the kill then confirms.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn frr_timer_renegotiation_both_ways() {
    if skip("frr_timer_renegotiation") {
        return;
    }
    let lab = Lab::new("frt", 2);
    let (ours, theirs): (IpAddr, IpAddr) = (lab.ip(1).into(), lab.ip(2).into());
    let frr = Frr::start(&lab, 2, "frr", &frr_peer(ours, theirs, false, 100, 3));
    let config: SessionConfig = session(1, ours, theirs, Duration::from_millis(100), 3);
    let mut bfd = OurBfd::start(&lab.ns(1), ListenConfig::default(), vec![config]);
    bfd.wait_state(ID, State::Up, Duration::from_secs(10))
        .expect("Up");

    // Ours: 100 ms → 200 ms / 150 ms, Detect Mult 4.
    bfd.command(Command::SetTimers {
        session: ID,
        desired_min_tx: Duration::from_millis(200),
        required_min_rx: Duration::from_millis(150),
        detect_mult: 4,
    });
    let (_, done) = bfd
        .wait_event(Duration::from_secs(3), |e| {
            matches!(e, Event::PollCompleted { desired_min_tx, .. }
                if *desired_min_tx == Duration::from_millis(200))
        })
        .expect("FRR answered our Poll with Final");
    assert_eq!(
        done,
        Event::PollCompleted {
            session: ID,
            desired_min_tx: Duration::from_millis(200),
            required_min_rx: Duration::from_millis(150),
        }
    );
    let seen = wait_for(Duration::from_secs(3), || {
        let p = frr.peers();
        let p = &p[0];
        p["remote-transmit-interval"] == 200
            && p["remote-receive-interval"] == 150
            && p["remote-detect-multiplier"] == 4
    });
    assert!(
        seen.is_some(),
        "FRR did not take our timers: {}",
        frr.peers()
    );

    // Theirs: FRR's transmit interval 100 → 250 ms.
    let out = frr.vtysh(&[
        "configure terminal",
        "bfd",
        &format!("peer {ours} local-address {theirs}"),
        "transmit-interval 250",
    ]);
    let seen = wait_for(Duration::from_secs(3), || {
        frr.peers()[0]["transmit-interval"] == 250
    });
    assert!(
        seen.is_some(),
        "FRR did not apply 250 ms: {out} {}",
        frr.peers()
    );
    std::thread::sleep(Duration::from_secs(1));
    netns::assert_up_once(&bfd.transitions(ID));

    let killed = Instant::now();
    lab.kill(frr.pid);
    let down = bfd
        .wait_state(ID, State::Down, Duration::from_secs(5))
        .expect("Down after the kill");
    let detect = down.saturating_duration_since(killed);
    eprintln!("after renegotiation: Down {detect:?} after SIGKILL (detection time 750 ms)");
    // 3 × max(our 150 ms, their 250 ms) = 750 ms, minus up to one interval (≤ 250 ms).
    assert!(detect >= Duration::from_millis(450), "{detect:?}");
    assert!(detect <= Duration::from_millis(850), "{detect:?}");
}

/// The other direction: FRR detects our crash within its detection time, and sees a
/// planned shutdown (AdminDown, RFC 5882 section 3.2) when we remove the session.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn frr_detects_our_crash_and_our_admin_down() {
    if skip("frr_detects_our_crash") {
        return;
    }
    let lab = Lab::new("fcr", 2);
    let (ours, theirs): (IpAddr, IpAddr) = (lab.ip(1).into(), lab.ip(2).into());
    let frr = Frr::start(&lab, 2, "frr", &frr_peer(ours, theirs, false, 100, 3));
    let config = session(1, ours, theirs, Duration::from_millis(100), 3);
    let mut bfd = OurBfd::start(&lab.ns(1), ListenConfig::default(), vec![config.clone()]);
    bfd.wait_state(ID, State::Up, Duration::from_secs(10))
        .expect("Up");
    assert!(wait_for(Duration::from_secs(3), || frr.first_status() == "up").is_some());
    // Crash: the driver stops without a farewell packet.
    let crashed = Instant::now();
    drop(bfd.stop());
    let seen = wait_for(Duration::from_secs(3), || frr.first_status() == "down")
        .expect("FRR saw the session go down");
    let peer = frr.peers();
    eprintln!("FRR saw our crash after {seen:?} (vtysh polled every 5 ms): {peer}");
    assert_eq!(peer[0]["diagnostic"], "control detection time expired");
    assert!(crashed.elapsed() < Duration::from_secs(1));

    // Back up, then a graceful removal: FRR is told AdminDown.
    let mut bfd = OurBfd::start(&lab.ns(1), ListenConfig::default(), vec![config]);
    bfd.wait_state(ID, State::Up, Duration::from_secs(10))
        .expect("Up again");
    assert!(wait_for(Duration::from_secs(3), || frr.first_status() == "up").is_some());
    bfd.command(Command::RemoveSession { session: ID });
    let seen = wait_for(Duration::from_secs(3), || frr.first_status() == "down")
        .expect("FRR saw the AdminDown");
    let peer = frr.peers();
    eprintln!("FRR saw our AdminDown after {seen:?}: {peer}");
    assert_eq!(peer[0]["remote-diagnostic"], "administratively down");
    assert_eq!(peer[0]["diagnostic"], "neighbor signaled session down");
}

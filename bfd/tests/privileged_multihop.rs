//! Multihop BFD (RFC 5883) through a real router: namespaces A — R — B, where R forwards
//! between two subnets and every packet between A and B arrives with its TTL / hop limit
//! decremented once. Our engine runs in A, FRR's bfdd (8.4.4 on the reference machines)
//! in B with a `multihop` peer.
//!
//! - The session, mapped from a keepalived.conf `bfd_instance` with `max_hops 1`, comes
//!   Up over UDP 4784, and goes Down within the detection time when FRR is killed.
//! - Minimum TTL: a session that requires 255 drops FRR's packets (which arrive with 254)
//!   and counts them as [`DropReason::Ttl`]; with the Linux adapter's multihop floor
//!   ([`ListenConfig::multihop_min_ttl`]) above what arrives, the packets never reach the
//!   engine, and the adapter counts them ([`UdpIo::ttl_dropped`]).
//! - The adapter's send sockets, connected to their peers, keep sending after an ICMP
//!   port unreachable.
//!
//! Run as root with `cargo test -p ha-bfd --test privileged_multihop -- --ignored
//! --test-threads=1` (scripts/test.sh does).
#![cfg(feature = "linux")]

mod netns;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ha_bfd::keepalived::map;
use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::{Diagnostic, DropReason, Event, Hop, SessionConfig, SessionId, State};
use ha_core::conf::{Options, parse_str};
use ha_core::testbed::block_on_in_ns;
use netns::{FRR_BFDD, Frr, Lab, OurBfd, binary_or_skip, root_or_skip, wait_for};

const ID: SessionId = SessionId(1);

fn skip(test: &str) -> bool {
    !root_or_skip(test) || !binary_or_skip(test, FRR_BFDD)
}

/// FRR's multihop peer: 100 ms × 3.
fn frr_multihop_peer(remote: IpAddr, local: IpAddr) -> String {
    format!(
        " peer {remote} multihop local-address {local}\n  detect-multiplier 3\n  \
         receive-interval 100\n  transmit-interval 100\n  no shutdown\n exit\n"
    )
}

/// Our session from keepalived.conf text: one router on the path, so `max_hops 1`.
fn keepalived_session(ours: IpAddr, theirs: IpAddr, max_hops: u8) -> SessionConfig {
    let text = format!(
        "bfd_instance far {{\n  neighbor_ip {theirs}\n  source_ip {ours}\n  min_rx 100\n  \
         min_tx 100\n  multiplier 3\n  max_hops {max_hops}\n}}\n"
    );
    let conf = parse_str(&text, &Options::default()).expect("grammar");
    let out = map(&conf).expect("mapping");
    out.instances["far"].session.clone()
}

fn up_and_kill(tag: &str, v6: bool) {
    let lab = Lab::routed(tag);
    let (ours, theirs) = (lab.routed_ip(1, v6), lab.routed_ip(3, v6));
    let frr = Frr::start(&lab, 3, "frr", &frr_multihop_peer(ours, theirs));
    let config = keepalived_session(ours, theirs, 1);
    assert_eq!(config.hop, Hop::MultiHop { min_ttl: 254 });
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
    std::thread::sleep(Duration::from_secs(2));
    netns::assert_up_once(&bfd.transitions(ID));
    let peer = frr.peers();
    assert_eq!(peer[0]["multihop"], true, "{peer}");

    let killed = Instant::now();
    lab.kill(frr.pid);
    let down = bfd
        .wait_state(ID, State::Down, Duration::from_secs(5))
        .expect("Down after the peer was killed");
    let detect = down.saturating_duration_since(killed);
    if let Some((_, Event::StateChanged(c))) = bfd.log.last().cloned() {
        assert_eq!(c.diagnostic, Diagnostic::ControlDetectionTimeExpired);
        assert!(c.is_failure());
    }
    eprintln!(
        "{tag}: v6={v6} multihop via a router: Up {up_after:?} after start; Down {detect:?} \
         after SIGKILL (detection time 300 ms); FRR saw {peer}"
    );
    // FRR's last packet left at most one interval (≤ 100 ms) before the kill.
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
fn frr_ipv4_multihop_through_a_router() {
    if skip("frr_ipv4_multihop_through_a_router") {
        return;
    }
    up_and_kill("m4r", false);
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn frr_ipv6_multihop_through_a_router() {
    if skip("frr_ipv6_multihop_through_a_router") {
        return;
    }
    up_and_kill("m6r", true);
}

/// A minimum TTL above what arrives: FRR's packets (sent with 255, received with 254)
/// are dropped. First by the engine, which counts them; then by the Linux adapter's floor
/// on the multihop socket, before the engine sees them.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn multihop_minimum_ttl_drops_packets_from_too_far() {
    if skip("multihop_minimum_ttl") {
        return;
    }
    let lab = Lab::routed("mtl");
    let (ours, theirs) = (lab.routed_ip(1, false), lab.routed_ip(3, false));
    let frr = Frr::start(&lab, 3, "frr", &frr_multihop_peer(ours, theirs));

    // The engine's check: the session requires 255 (no router allowed).
    let mut strict = keepalived_session(ours, theirs, 1);
    strict.hop = Hop::MultiHop { min_ttl: 255 };
    let mut bfd = OurBfd::start(&lab.ns(1), ListenConfig::default(), vec![strict]);
    // FRR hears us (our packets arrive at 254, which FRR's default minimum accepts) and
    // answers; every answer is dropped here.
    assert!(
        wait_for(Duration::from_secs(5), || frr.first_status() == "init").is_some(),
        "FRR never heard us: {}",
        frr.peers()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(bfd.transitions(ID).is_empty(), "{:?}", bfd.transitions(ID));
    let engine = bfd.stop();
    let ttl_drops = engine.drop_counters().get(DropReason::Ttl);
    let status = engine.session(ID).expect("session").clone();
    eprintln!(
        "min TTL 255 across one router: {ttl_drops} packets dropped for TTL, {} accepted",
        status.packets_received
    );
    // FRR sends once a second while not Up (RFC 5880 section 6.8.3).
    assert!(ttl_drops >= 2, "{:?}", engine.drop_counters());
    assert_eq!(status.packets_received, 0);
    assert_eq!(status.state, State::Down);

    // The adapter's floor: 255 on the multihop socket; the session itself would accept
    // 254, but nothing reaches it.
    let listen = ListenConfig {
        multihop_min_ttl: 255,
        ..ListenConfig::default()
    };
    let lenient = keepalived_session(ours, theirs, 1);
    let mut bfd = OurBfd::start(&lab.ns(1), listen, vec![lenient]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(bfd.transitions(ID).is_empty(), "{:?}", bfd.transitions(ID));
    let engine = bfd.stop();
    let status = engine.session(ID).expect("session").clone();
    assert_eq!(status.packets_received, 0);
    assert_eq!(
        engine.drop_counters().total(),
        0,
        "{:?}",
        engine.drop_counters()
    );
    assert_ne!(frr.first_status(), "up");
}

/// The adapter's floor, datagram by datagram: Linux enforces `IP_MINTTL` /
/// `IPV6_MINHOPCOUNT` for TCP only, so [`UdpIo`] checks the received TTL itself. A
/// datagram with TTL 254 on a socket whose floor is 255 is dropped and counted; the next
/// one, with 255, is delivered.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn adapter_floor_drops_and_counts_low_ttl_datagrams() {
    use ha_core::driver::PacketIo;

    if !root_or_skip("adapter_floor") {
        return;
    }
    let lab = Lab::new("mfl", 1);
    let result = block_on_in_ns(&lab.ns(1), || async {
        let listen = ListenConfig {
            ipv6: false,
            single_hop: false,
            multihop_min_ttl: 255,
            ..ListenConfig::default()
        };
        let mut io = UdpIo::open(&listen).expect("open");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        for (ttl, byte) in [(254, b'a'), (255, b'b')] {
            sender.set_ttl(ttl).expect("ttl");
            sender
                .send_to(&[byte], ("127.0.0.1", ha_bfd::packet::MULTIHOP_PORT))
                .expect("send");
        }
        let mut buf = [0u8; 64];
        let (n, meta) = tokio::time::timeout(Duration::from_secs(5), io.recv(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .expect("recv");
        (buf[..n].to_vec(), meta.ttl, io.ttl_dropped())
    });
    assert_eq!(result, (b"b".to_vec(), 255, 1));
}

/// A send socket is connected to its peer, and a connected UDP socket reports an ICMP
/// "port unreachable" from an earlier packet on the next send (which then sends
/// nothing). The adapter clears that and sends again, so a peer whose BFD is not running
/// yet costs no packets and no send errors.
#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn adapter_sends_on_after_port_unreachable() {
    use ha_core::driver::PacketIo;
    use ha_core::{IfIndex, Transmit};

    if !root_or_skip("adapter_port_unreachable") {
        return;
    }
    let lab = Lab::new("mpu", 1);
    let results = block_on_in_ns(&lab.ns(1), || async {
        // Nothing listens on 4784: every packet draws an ICMP port unreachable.
        let listen = ListenConfig {
            ipv6: false,
            multihop: false,
            ..ListenConfig::default()
        };
        let mut io = UdpIo::open(&listen).expect("open");
        let transmit = Transmit {
            destination: "127.0.0.1".parse().expect("address"),
            destination_port: Some(ha_bfd::packet::MULTIHOP_PORT),
            source: Some("127.0.0.1".parse().expect("address")),
            source_port: Some(49_999),
            interface: None::<IfIndex>,
            ttl: 255,
        };
        let mut results = Vec::new();
        for _ in 0..4 {
            results.push(
                io.send(&transmit, &[0u8; 24])
                    .await
                    .map_err(|e| e.to_string()),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        results
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

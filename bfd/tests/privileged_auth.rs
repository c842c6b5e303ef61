//! Authentication between two of our engines in two network namespaces, over real UDP
//! sockets: all five types of RFC 5880 section 6.7 (simple password, keyed MD5,
//! meticulous keyed MD5, keyed SHA1, meticulous keyed SHA1) come Up and stay Up; a wrong
//! secret never comes Up and its packets are counted as authentication failures; when one
//! side crashes, every authenticated session on the other detects it.
//!
//! FRR 8.4.4 and keepalived 2.2.7 implement no BFD authentication, so the peer here is
//! our own engine; the wire format is checked against RFC vectors in `tests/codec.rs`.
#![cfg(feature = "linux")]

mod netns;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ha_bfd::auth::{AuthKey, AuthType, KeyRing};
use ha_bfd::linux::ListenConfig;
use ha_bfd::{DropReason, SessionConfig, SessionId, State};
use netns::{Lab, OurBfd, root_or_skip, session};

const TYPES: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

fn addr(ns: u8, k: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, ns * 10 + k))
}

fn configs(ns: u8, peer: u8, wrong: &str) -> Vec<SessionConfig> {
    let mut out = Vec::new();
    for (k, t) in TYPES.iter().enumerate() {
        let k = k as u8 + 1;
        let mut c = session(
            u64::from(k),
            addr(ns, k),
            addr(peer, k),
            Duration::from_millis(50),
            3,
        );
        c.auth = Some(KeyRing::new(*t, AuthKey::new(k, format!("secret-{k}"))).unwrap());
        out.push(c);
    }
    // Session 6: same type and key id, different secret on each side.
    let mut c = session(6, addr(ns, 6), addr(peer, 6), Duration::from_millis(50), 3);
    c.auth = Some(KeyRing::new(AuthType::MeticulousKeyedSha1, AuthKey::new(6, wrong)).unwrap());
    out.push(c);
    out
}

#[test]
#[ignore = "privileged: needs root and network namespaces; run by scripts/test.sh"]
fn all_five_auth_types_between_two_engines() {
    if !root_or_skip("all_five_auth_types") {
        return;
    }
    let lab = Lab::new("au", 2);
    for k in 1..=6 {
        lab.add_addr(1, addr(1, k), 24);
        lab.add_addr(2, addr(2, k), 24);
    }
    let listen = ListenConfig {
        ipv6: false,
        multihop: false,
        ..ListenConfig::default()
    };
    let mut a = OurBfd::start(&lab.ns(1), listen, configs(1, 2, "left"));
    let mut b = OurBfd::start(&lab.ns(2), listen, configs(2, 1, "right"));
    for k in 1..=5 {
        for side in [&mut a, &mut b] {
            assert!(
                side.wait_state(SessionId(k), State::Up, Duration::from_secs(10))
                    .is_some(),
                "{:?} did not come Up",
                TYPES[k as usize - 1]
            );
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    for k in 1..=5 {
        netns::assert_up_once(&a.transitions(SessionId(k)));
        netns::assert_up_once(&b.transitions(SessionId(k)));
    }
    assert_eq!(a.state(SessionId(6)), State::Down);
    assert_eq!(b.state(SessionId(6)), State::Down);

    // b crashes (no AdminDown farewell): a detects every session within 3 × 50 ms.
    let crashed = Instant::now();
    let b_engine = b.stop();
    for k in 1..=5 {
        let down = a
            .wait_state(SessionId(k), State::Down, Duration::from_secs(2))
            .expect("Down after the peer stopped");
        let after = down.saturating_duration_since(crashed);
        assert!(after <= Duration::from_millis(250), "{k}: {after:?}");
    }
    let a_engine = a.stop();
    for (name, engine) in [("a", &a_engine), ("b", &b_engine)] {
        let d = engine.drop_counters();
        eprintln!(
            "{name}: drops {:?}",
            d.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>()
        );
        assert!(d.get(DropReason::AuthFailure) > 0, "{name}: {d:?}");
        // Only the mismatched session's packets (and none of the good ones) failed.
        assert_eq!(d.total(), d.get(DropReason::AuthFailure), "{name}: {d:?}");
    }
}

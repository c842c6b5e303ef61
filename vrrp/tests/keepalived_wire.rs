//! Our router against real packets captured from keepalived 2.2.7 and FRR 8.4.4
//! (`tests/vectors/`, IP header included): as a Backup it must accept every one of them,
//! and as a Master configured like keepalived it must send the same bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta};
use ha_vrrp::packet::Ipv4Header;
use ha_vrrp::{AuthConfig, Centiseconds, Priority, Router, RouterConfig, State, Version, Vrid};

const IF: IfIndex = IfIndex(1);

fn packets(name: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/tests/vectors/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, last))
}

fn backup(
    version: Version,
    vrid: u8,
    interval: Centiseconds,
    vips: Vec<IpAddr>,
    auth: AuthConfig,
) -> Router {
    let primary = if vips[0].is_ipv4() {
        v4(2)
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2))
    };
    let mut c = RouterConfig::new(
        "peer",
        version,
        Vrid::new(vrid).unwrap(),
        Priority(100),
        IF,
        primary,
        vips,
    );
    c.advert_interval = interval;
    c.auth = auth;
    let mut r = Router::new(c, Instant::ZERO).unwrap();
    r.handle_timeout(Instant::ZERO);
    assert_eq!(r.state(), State::Backup);
    r
}

/// Feeds one captured IPv4 packet the way the Linux adapter does: metadata from the IP
/// header, payload after it (or the whole datagram for IPSEC-AH instances).
fn feed_v4(r: &mut Router, packet: &[u8], whole_datagram: bool) {
    let (header, payload) = Ipv4Header::parse(packet).unwrap();
    let meta = RecvMeta {
        source: IpAddr::V4(header.source),
        destination: IpAddr::V4(header.destination),
        source_port: None,
        destination_port: None,
        interface: IF,
        ttl: header.ttl,
        cast: Cast::Multicast,
    };
    r.handle_packet(
        Instant::from_secs(1),
        &meta,
        if whole_datagram { packet } else { payload },
    );
}

fn assert_learned(r: &Router, priority: u8) {
    assert_eq!(r.stats().drops.total(), 0, "drops: {:?}", r.stats().drops);
    assert!(r.stats().adverts_received > 0);
    if priority > 0 {
        assert_eq!(r.master().map(|m| m.1), Some(Priority(priority)));
    }
}

#[test]
fn accepts_keepalived_v2_without_auth() {
    let mut r = backup(
        Version::V2,
        51,
        Centiseconds(100),
        vec![v4(100), v4(101)],
        AuthConfig::None,
    );
    for p in packets("v2_noauth") {
        feed_v4(&mut r, &p, false);
    }
    assert_learned(&r, 150);
}

#[test]
fn accepts_keepalived_v2_password_and_its_priority_zero() {
    let mut r = backup(
        Version::V2,
        52,
        Centiseconds(200),
        vec![v4(102)],
        AuthConfig::Password("vrrpPass".into()),
    );
    for p in packets("v2_pass") {
        feed_v4(&mut r, &p, false);
    }
    assert_eq!(r.stats().drops.total(), 0, "{:?}", r.stats().drops);
    assert_eq!(r.stats().priority_zero_received, 1);
}

#[test]
fn rejects_keepalived_v2_password_with_a_wrong_password() {
    let mut r = backup(
        Version::V2,
        52,
        Centiseconds(200),
        vec![v4(102)],
        AuthConfig::Password("nope".into()),
    );
    for p in packets("v2_pass") {
        feed_v4(&mut r, &p, false);
    }
    assert_eq!(r.stats().adverts_received, 0);
    assert!(r.stats().drops.get(ha_vrrp::DropReason::Auth) > 0);
}

#[test]
fn accepts_keepalived_v2_ipsec_ah_and_rejects_replays() {
    let mut r = backup(
        Version::V2,
        53,
        Centiseconds(100),
        vec![v4(103), v4(104)],
        AuthConfig::IpsecAh("s3cret".into()),
    );
    let captured = packets("v2_ah");
    for p in &captured {
        feed_v4(&mut r, p, true);
    }
    assert_learned(&r, 120);
    // The same packets again are replays.
    feed_v4(&mut r, &captured[0], true);
    assert_eq!(r.stats().drops.get(ha_vrrp::DropReason::Replay), 1);
    // A wrong key fails the ICV.
    let mut wrong = backup(
        Version::V2,
        53,
        Centiseconds(100),
        vec![v4(103), v4(104)],
        AuthConfig::IpsecAh("other".into()),
    );
    feed_v4(&mut wrong, &captured[0], true);
    assert_eq!(wrong.stats().drops.get(ha_vrrp::DropReason::Auth), 1);
}

#[test]
fn sends_the_same_ah_bytes_as_keepalived() {
    // keepalived's instance: VRID 53, priority 120, 10.99.0.1, two VIPs, state MASTER.
    let mut c = RouterConfig::new(
        "VI_AH",
        Version::V2,
        Vrid::new(53).unwrap(),
        Priority(120),
        IF,
        v4(1),
        vec![v4(103), v4(104)],
    );
    c.auth = AuthConfig::IpsecAh("s3cret".into());
    c.initial_state = ha_vrrp::InitialState::Master;
    let mut r = Router::new(c, Instant::ZERO).unwrap();
    r.handle_timeout(Instant::ZERO);
    let captured = packets("v2_ah");
    let mut now = Instant::ZERO;
    for expected in captured.iter().take(3) {
        let mut buf = Vec::new();
        r.poll_transmit(now, &mut buf).expect("an advert");
        assert_eq!(hex(&buf), hex(expected));
        now = r.poll_timeout().unwrap();
        r.handle_timeout(now);
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn accepts_keepalived_v3_ipv4_with_pseudo_header_checksum() {
    let mut r = backup(
        Version::V3,
        54,
        Centiseconds(50),
        vec![v4(105)],
        AuthConfig::None,
    );
    for p in packets("v3_ipv4") {
        feed_v4(&mut r, &p, false);
    }
    assert_learned(&r, 254);
}

#[test]
fn accepts_frr_v3_ipv4() {
    let mut r = backup(
        Version::V3,
        56,
        Centiseconds(10),
        vec![v4(106)],
        AuthConfig::None,
    );
    for p in packets("frr_v3_ipv4") {
        feed_v4(&mut r, &p, false);
    }
    assert_learned(&r, 180);
}

#[test]
fn accepts_keepalived_v3_ipv6() {
    let vips = vec![
        "fd00:99::100".parse::<IpAddr>().unwrap(),
        "fd00:99::101".parse::<IpAddr>().unwrap(),
    ];
    let mut r = backup(Version::V3, 55, Centiseconds(25), vips, AuthConfig::None);
    for p in packets("v3_ipv6") {
        // IPv6 header: fixed 40 bytes here (no extension headers in these captures).
        let src: [u8; 16] = p[8..24].try_into().unwrap();
        let dst: [u8; 16] = p[24..40].try_into().unwrap();
        let meta = RecvMeta {
            source: IpAddr::V6(Ipv6Addr::from(src)),
            destination: IpAddr::V6(Ipv6Addr::from(dst)),
            source_port: None,
            destination_port: None,
            interface: IF,
            ttl: p[7],
            cast: Cast::Multicast,
        };
        r.handle_packet(Instant::from_secs(1), &meta, &p[40..]);
    }
    assert_learned(&r, 100);
}

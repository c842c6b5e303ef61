//! One test per protocol rule, driving a single router with crafted advertisements.
//! Test names carry the RFC section (RFC 5798 unless it says 3768) or keepalived's keyword.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta};
use ha_vrrp::packet::{
    Advertisement, Auth, ChecksumMode, ChecksumPolicy, IpContext, VRRP_GROUP_V4, VRRP_GROUP_V6,
};
use ha_vrrp::{
    AddressMismatchPolicy, AuthConfig, Centiseconds, Command, DropReason, Event, GarpKind,
    Priority, Reason, Router, RouterConfig, State, TrackConfig, Version, Vrid,
};

const IF: IfIndex = IfIndex(2);
const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const PEER_LOW: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER_HIGH: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
const GROUP: IpAddr = IpAddr::V4(VRRP_GROUP_V4);

fn config(version: Version, priority: u8) -> RouterConfig {
    let mut c = RouterConfig::new(
        "vi",
        version,
        Vrid::new(7).unwrap(),
        Priority(priority),
        IF,
        ME,
        vec![VIP],
    );
    c.advert_interval = Centiseconds(100);
    c
}

fn started(c: RouterConfig) -> Router {
    let mut r = Router::new(c, Instant::ZERO).unwrap();
    r.handle_timeout(Instant::ZERO);
    drain_events(&mut r);
    r
}

fn drain_events(r: &mut Router) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn drain_adverts(r: &mut Router, now: Instant) -> Vec<(IpAddr, Advertisement)> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        let Some(t) = r.poll_transmit(now, &mut buf) else {
            return out;
        };
        assert_eq!(t.ttl, 255, "RFC 5798 5.1.1.3: TTL 255");
        assert_eq!(t.source, Some(r.config().primary_address));
        let ip = IpContext {
            source: r.config().primary_address,
            destination: t.destination,
        };
        let a = Advertisement::parse(&buf, &ip, r.config().checksum_mode, ChecksumPolicy::Strict)
            .unwrap();
        out.push((t.destination, a));
    }
}

fn meta(source: IpAddr, ttl: u8) -> RecvMeta {
    let destination = if source.is_ipv4() {
        GROUP
    } else {
        IpAddr::V6(VRRP_GROUP_V6)
    };
    RecvMeta {
        source,
        destination,
        source_port: None,
        destination_port: None,
        interface: IF,
        ttl,
        cast: Cast::Multicast,
    }
}

fn advert(version: Version, priority: u8) -> Advertisement {
    Advertisement {
        version,
        vrid: Vrid::new(7).unwrap(),
        priority: Priority(priority),
        interval: Centiseconds(100),
        addresses: vec![VIP],
        auth: Auth::None,
    }
}

fn bytes(a: &Advertisement, source: IpAddr, mode: ChecksumMode) -> Vec<u8> {
    let destination = if source.is_ipv4() {
        GROUP
    } else {
        IpAddr::V6(VRRP_GROUP_V6)
    };
    let mut buf = Vec::new();
    a.emit(
        &IpContext {
            source,
            destination,
        },
        mode,
        &mut buf,
    )
    .unwrap();
    buf
}

fn feed(r: &mut Router, now: Instant, source: IpAddr, a: &Advertisement) {
    r.handle_packet(
        now,
        &meta(source, 255),
        &bytes(a, source, ChecksumMode::PseudoHeader),
    );
}

fn master(priority: u8) -> Router {
    let mut r = started(config(Version::V3, priority));
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    assert_eq!(r.state(), State::Master);
    drain_adverts(&mut r, t);
    drain_events(&mut r);
    r
}

#[test]
fn rfc5798_6_4_1_startup_non_owner_becomes_backup_with_master_down_timer() {
    let r = started(config(Version::V3, 100));
    assert_eq!(r.state(), State::Backup);
    // Master_Down_Interval = 3 × 1 s + (256 − 100)/256 s = 3.609375 s, exactly.
    assert_eq!(r.poll_timeout(), Some(Instant::from_nanos(3_609_375_000)));
}

#[test]
fn rfc5798_6_4_1_startup_owner_becomes_master_and_advertises_at_once() {
    let mut r = Router::new(config(Version::V3, 255), Instant::ZERO).unwrap();
    r.handle_timeout(Instant::ZERO);
    assert_eq!(r.state(), State::Master);
    let adverts = drain_adverts(&mut r, Instant::ZERO);
    assert_eq!(adverts.len(), 1);
    assert_eq!(adverts[0].1.priority, Priority(255));
    let events = drain_events(&mut r);
    assert!(matches!(
        events[0],
        Event::StateChanged {
            to: State::Master,
            reason: Reason::AddressOwner,
            ..
        }
    ));
    assert!(matches!(events[1], Event::AddAddresses { .. }));
    assert!(matches!(
        events[2],
        Event::Gratuitous {
            kind: GarpKind::Transition,
            count: 5,
            ..
        }
    ));
}

#[test]
fn rfc3768_6_1_v2_skew_is_not_truncated_to_zero() {
    let r = started(config(Version::V2, 100));
    assert_eq!(r.skew_time(), Duration::from_nanos(609_375_000));
    assert_eq!(
        r.master_down_interval(),
        Duration::from_nanos(3_609_375_000)
    );
}

#[test]
fn rfc5798_6_4_2_backup_resets_master_down_timer_on_advert() {
    let mut r = started(config(Version::V3, 100));
    let now = Instant::from_secs(2);
    feed(&mut r, now, PEER_HIGH, &advert(Version::V3, 200));
    assert_eq!(r.poll_timeout(), Some(now + r.master_down_interval()));
    assert_eq!(r.master(), Some((PEER_HIGH, Priority(200))));
}

#[test]
fn rfc5798_6_4_2_priority_zero_sets_master_down_timer_to_skew() {
    let mut r = started(config(Version::V3, 100));
    let now = Instant::from_secs(2);
    feed(&mut r, now, PEER_HIGH, &advert(Version::V3, 0));
    assert_eq!(r.poll_timeout(), Some(now + r.skew_time()));
    r.handle_timeout(now + r.skew_time());
    assert_eq!(r.state(), State::Master);
    let events = drain_events(&mut r);
    assert!(matches!(
        events[0],
        Event::StateChanged {
            reason: Reason::MasterLeft,
            ..
        }
    ));
}

#[test]
fn rfc5798_6_4_2_preempting_backup_discards_lower_priority_adverts() {
    let mut r = started(config(Version::V3, 150));
    let deadline = r.poll_timeout();
    feed(
        &mut r,
        Instant::from_secs(1),
        PEER_LOW,
        &advert(Version::V3, 100),
    );
    assert_eq!(
        r.poll_timeout(),
        deadline,
        "timer must not be reset by a lower priority"
    );
}

#[test]
fn rfc5798_6_4_2_non_preempting_backup_accepts_lower_priority_adverts() {
    let mut c = config(Version::V3, 150);
    c.preempt = false;
    let mut r = started(c);
    let now = Instant::from_secs(1);
    feed(&mut r, now, PEER_LOW, &advert(Version::V3, 100));
    assert_eq!(r.poll_timeout(), Some(now + r.master_down_interval()));
}

#[test]
fn rfc5798_6_4_2_v3_backup_adopts_the_masters_interval() {
    let mut r = started(config(Version::V3, 100));
    let mut a = advert(Version::V3, 200);
    a.interval = Centiseconds(25);
    feed(&mut r, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(r.master_adver_interval(), Centiseconds(25));
    assert_eq!(
        r.skew_time(),
        Duration::from_micros(152_343) + Duration::from_nanos(750)
    );
}

#[test]
fn rfc5798_6_4_3_master_sends_advert_every_interval() {
    let mut r = master(200);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    assert_eq!(drain_adverts(&mut r, t).len(), 1);
    assert_eq!(
        r.poll_timeout().unwrap() - t,
        Duration::from_secs(1).min(Duration::from_secs(5))
    );
}

#[test]
fn rfc5798_6_4_3_master_steps_down_for_higher_priority() {
    let mut r = master(150);
    feed(
        &mut r,
        Instant::from_secs(10),
        PEER_LOW,
        &advert(Version::V3, 200),
    );
    assert_eq!(r.state(), State::Backup);
    let events = drain_events(&mut r);
    assert!(
        matches!(&events[0], Event::StateChanged { to: State::Backup, reason: Reason::Preempted { by, priority: Priority(200) }, .. } if *by == PEER_LOW)
    );
    assert!(matches!(events[1], Event::RemoveAddresses { .. }));
}

#[test]
fn rfc5798_6_4_3_equal_priority_higher_address_wins() {
    let mut r = master(150);
    feed(
        &mut r,
        Instant::from_secs(10),
        PEER_LOW,
        &advert(Version::V3, 150),
    );
    assert_eq!(
        r.state(),
        State::Master,
        "lower address at equal priority loses"
    );
    feed(
        &mut r,
        Instant::from_secs(10),
        PEER_HIGH,
        &advert(Version::V3, 150),
    );
    assert_eq!(
        r.state(),
        State::Backup,
        "higher address at equal priority wins"
    );
}

#[test]
fn rfc5798_6_4_3_master_answers_priority_zero_with_an_advert() {
    let mut r = master(150);
    let now = Instant::from_millis(3700);
    feed(&mut r, now, PEER_LOW, &advert(Version::V3, 0));
    assert_eq!(drain_adverts(&mut r, now).len(), 1);
    assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(1)));
}

#[test]
fn keepalived_lower_prio_no_advert() {
    let mut r = master(150);
    feed(
        &mut r,
        Instant::from_secs(4),
        PEER_LOW,
        &advert(Version::V3, 100),
    );
    assert_eq!(
        drain_adverts(&mut r, Instant::from_secs(4)).len(),
        1,
        "default: answer a lower priority"
    );
    let mut c = config(Version::V3, 150);
    c.lower_prio_no_advert = true;
    let mut r = started(c);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    drain_adverts(&mut r, t);
    feed(&mut r, t, PEER_LOW, &advert(Version::V3, 100));
    assert!(drain_adverts(&mut r, t).is_empty());
}

#[test]
fn keepalived_higher_prio_send_advert() {
    let mut c = config(Version::V3, 150);
    c.higher_prio_send_advert = true;
    let mut r = started(c);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    drain_adverts(&mut r, t);
    feed(&mut r, t, PEER_HIGH, &advert(Version::V3, 200));
    assert_eq!(r.state(), State::Backup);
    let sent = drain_adverts(&mut r, t);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.priority, Priority(150));
}

#[test]
fn keepalived_down_timer_adverts() {
    let mut c = config(Version::V3, 100);
    c.down_timer_adverts = 5;
    let r = started(c);
    assert_eq!(
        r.master_down_interval(),
        Duration::from_secs(5) + r.skew_time()
    );
}

#[test]
fn rfc5798_7_1_multicast_ttl_must_be_255() {
    let mut r = started(config(Version::V3, 100));
    let deadline = r.poll_timeout();
    let a = advert(Version::V3, 200);
    r.handle_packet(
        Instant::from_secs(1),
        &meta(PEER_HIGH, 254),
        &bytes(&a, PEER_HIGH, ChecksumMode::PseudoHeader),
    );
    assert_eq!(r.poll_timeout(), deadline);
    assert_eq!(r.stats().drops.get(DropReason::Ttl), 1);
}

#[test]
fn rfc5798_7_1_unicast_peers_skip_the_ttl_check_but_must_be_configured() {
    let mut c = config(Version::V3, 100);
    c.unicast_peers = vec![PEER_HIGH];
    let mut r = started(c);
    let a = advert(Version::V3, 200);
    let mut m = meta(PEER_HIGH, 64);
    m.destination = ME;
    m.cast = Cast::Unicast;
    let mut buf = Vec::new();
    a.emit(
        &IpContext {
            source: PEER_HIGH,
            destination: ME,
        },
        ChecksumMode::PseudoHeader,
        &mut buf,
    )
    .unwrap();
    r.handle_packet(Instant::from_secs(1), &m, &buf);
    assert_eq!(r.master(), Some((PEER_HIGH, Priority(200))));
    // An unconfigured source is dropped.
    m.source = PEER_LOW;
    let mut buf = Vec::new();
    a.emit(
        &IpContext {
            source: PEER_LOW,
            destination: ME,
        },
        ChecksumMode::PseudoHeader,
        &mut buf,
    )
    .unwrap();
    r.handle_packet(Instant::from_secs(1), &m, &buf);
    assert_eq!(r.master(), Some((PEER_HIGH, Priority(200))));
    assert_eq!(r.stats().drops.get(DropReason::UnicastPeer), 1);
}

#[test]
fn rfc5798_7_1_other_vrid_is_dropped_and_counted() {
    let mut r = started(config(Version::V3, 100));
    let mut a = advert(Version::V3, 200);
    a.vrid = Vrid::new(8).unwrap();
    feed(&mut r, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(r.master(), None);
    assert_eq!(r.stats().drops.get(DropReason::Vrid), 1);
}

#[test]
fn rfc5798_7_1_bad_checksum_is_dropped_and_counted() {
    let mut r = started(config(Version::V3, 100));
    let mut buf = bytes(
        &advert(Version::V3, 200),
        PEER_HIGH,
        ChecksumMode::PseudoHeader,
    );
    buf[6] ^= 0xff;
    r.handle_packet(Instant::from_secs(1), &meta(PEER_HIGH, 255), &buf);
    assert_eq!(r.stats().drops.get(DropReason::Checksum), 1);
}

#[test]
fn v3_ipv4_checksum_modes_strict_and_accept_either() {
    // FRR sends without the pseudo-header; keepalived (and our default) with it.
    let frr = bytes(
        &advert(Version::V3, 200),
        PEER_HIGH,
        ChecksumMode::NoPseudoHeader,
    );
    let mut strict = started(config(Version::V3, 100));
    strict.handle_packet(Instant::from_secs(1), &meta(PEER_HIGH, 255), &frr);
    assert_eq!(strict.stats().drops.get(DropReason::Checksum), 1);
    let mut c = config(Version::V3, 100);
    c.checksum_policy = ChecksumPolicy::AcceptEither;
    let mut either = started(c);
    either.handle_packet(Instant::from_secs(1), &meta(PEER_HIGH, 255), &frr);
    assert_eq!(either.master(), Some((PEER_HIGH, Priority(200))));
}

#[test]
fn rfc3768_7_1_v2_interval_mismatch_is_dropped() {
    let mut r = started(config(Version::V2, 100));
    let mut a = advert(Version::V2, 200);
    a.interval = Centiseconds(200);
    feed(&mut r, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(r.stats().drops.get(DropReason::IntervalMismatch), 1);
    assert_eq!(r.master(), None);
}

#[test]
fn rfc3768_5_3_6_simple_password_must_match() {
    let mut c = config(Version::V2, 100);
    c.auth = AuthConfig::Password("secret".into());
    let mut r = started(c);
    let mut a = advert(Version::V2, 200);
    a.auth = Auth::simple(b"wrong");
    feed(&mut r, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(r.stats().drops.get(DropReason::Auth), 1);
    a.auth = Auth::None;
    feed(&mut r, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(r.stats().drops.get(DropReason::AuthType), 1);
    a.auth = Auth::simple(b"secret");
    feed(&mut r, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(r.master(), Some((PEER_HIGH, Priority(200))));
    // Our own adverts carry it.
    let mut m = master_from(r);
    let t = m.poll_timeout().unwrap();
    m.handle_timeout(t);
    for (_, a) in drain_adverts(&mut m, t) {
        assert_eq!(a.auth, Auth::simple(b"secret"));
    }
}

fn master_from(mut r: Router) -> Router {
    while r.state() != State::Master {
        let t = r.poll_timeout().unwrap();
        r.handle_timeout(t);
    }
    r
}

#[test]
fn rfc5798_7_1_address_list_mismatch_policy() {
    let mut a = advert(Version::V3, 200);
    a.addresses = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 200))];
    let mut accept = started(config(Version::V3, 100));
    feed(&mut accept, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(
        accept.master(),
        Some((PEER_HIGH, Priority(200))),
        "MUST NOT drop (RFC 5798 7.1)"
    );
    assert_eq!(accept.stats().address_mismatches, 1);
    let mut c = config(Version::V3, 100);
    c.address_mismatch = AddressMismatchPolicy::Drop;
    let mut strict = started(c);
    feed(&mut strict, Instant::from_secs(1), PEER_HIGH, &a);
    assert_eq!(strict.master(), None);
    assert_eq!(strict.stats().drops.get(DropReason::AddressMismatch), 1);
}

#[test]
fn rfc5798_6_4_3_shutdown_sends_priority_zero() {
    let mut r = master(150);
    let now = Instant::from_secs(5);
    r.handle_command(now, Command::Shutdown);
    let sent = drain_adverts(&mut r, now);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.priority, Priority::SHUTDOWN);
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(r.poll_timeout(), None);
    // And it can start again.
    r.handle_command(now, Command::Start);
    r.handle_timeout(now);
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn tracking_changes_effective_priority_live() {
    let mut c = config(Version::V3, 150);
    c.track = vec![TrackConfig {
        object: "chk".into(),
        spec: TrackSpec::weight(TrackWeight::new(-60).unwrap()),
        initial: TrackState::Up,
    }];
    let mut r = started(c);
    r = master_from(r);
    drain_adverts(&mut r, Instant::from_secs(4));
    drain_events(&mut r);
    let now = Instant::from_secs(5);
    r.handle_command(
        now,
        Command::Track {
            object: "chk".into(),
            state: TrackState::Down,
        },
    );
    assert_eq!(r.priority(), Priority(90));
    let events = drain_events(&mut r);
    assert_eq!(
        events[0],
        Event::PriorityChanged {
            vrid: Vrid::new(7).unwrap(),
            from: Priority(150),
            to: Priority(90)
        }
    );
    // The Master advertises the new priority at once, so a better Backup can preempt.
    let sent = drain_adverts(&mut r, now);
    assert_eq!(sent[0].1.priority, Priority(90));
    // A Backup at 100 now wins.
    feed(&mut r, now, PEER_LOW, &advert(Version::V3, 100));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn tracking_weight_zero_drives_fault_and_back() {
    let mut r = master(150);
    let now = Instant::from_secs(5);
    r.handle_command(
        now,
        Command::AddTrack {
            object: "if:eth0".into(),
            spec: TrackSpec::default(),
            state: TrackState::Up,
        },
    );
    assert_eq!(r.state(), State::Master);
    r.handle_command(
        now,
        Command::Track {
            object: "if:eth0".into(),
            state: TrackState::Down,
        },
    );
    assert_eq!(r.state(), State::Fault);
    let sent = drain_adverts(&mut r, now);
    assert_eq!(
        sent.iter().map(|(_, a)| a.priority).collect::<Vec<_>>(),
        vec![Priority::SHUTDOWN]
    );
    let events = drain_events(&mut r);
    assert!(
        matches!(&events[0], Event::StateChanged { to: State::Fault, reason: Reason::Fault { objects }, .. } if objects == &["if:eth0"])
    );
    // In Fault, adverts are ignored.
    feed(&mut r, now, PEER_LOW, &advert(Version::V3, 100));
    assert_eq!(r.state(), State::Fault);
    r.handle_command(
        now,
        Command::Track {
            object: "if:eth0".into(),
            state: TrackState::Up,
        },
    );
    assert_eq!(r.state(), State::Backup);
    assert!(matches!(
        drain_events(&mut r)[0],
        Event::StateChanged {
            reason: Reason::FaultCleared,
            ..
        }
    ));
}

#[test]
fn keepalived_garp_schedule_delay_and_refresh() {
    let mut c = config(Version::V3, 150);
    c.garp.refresh = Some(Duration::from_secs(60));
    c.garp.refresh_repeat = 2;
    let mut r = started(c);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    let kinds = |r: &mut Router| {
        drain_events(r)
            .into_iter()
            .filter_map(|e| match e {
                Event::Gratuitous { kind, count, .. } => Some((kind, count)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&mut r),
        vec![(GarpKind::Transition, 5)],
        "burst at the transition, same instant"
    );
    let mut now = t;
    let mut seen = Vec::new();
    while now < t + Duration::from_secs(121) {
        now = r.poll_timeout().unwrap();
        r.handle_timeout(now);
        drain_adverts(&mut r, now);
        for k in kinds(&mut r) {
            seen.push((now - t, k));
        }
    }
    assert_eq!(
        seen,
        vec![
            (Duration::from_secs(5), (GarpKind::Delayed, 5)),
            (Duration::from_secs(60), (GarpKind::Refresh, 2)),
            (Duration::from_secs(120), (GarpKind::Refresh, 2)),
        ]
    );
}

#[test]
fn ipv6_v3_router_uses_the_ipv6_group() {
    let me = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));
    let vip6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 100));
    let c = RouterConfig::new(
        "v6",
        Version::V3,
        Vrid::new(7).unwrap(),
        Priority(255),
        IF,
        me,
        vec![vip6],
    );
    let mut r = Router::new(c, Instant::ZERO).unwrap();
    r.handle_timeout(Instant::ZERO);
    let sent = drain_adverts(&mut r, Instant::ZERO);
    assert_eq!(sent[0].0, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(sent[0].1.addresses, vec![vip6]);
}

#[test]
fn invalid_configs_are_typed_errors() {
    let mut c = config(Version::V2, 100);
    c.advert_interval = Centiseconds(150);
    assert!(
        Router::new(c, Instant::ZERO)
            .unwrap_err()
            .to_string()
            .contains("whole seconds")
    );
    let mut c = config(Version::V3, 100);
    c.virtual_addresses = vec![IpAddr::V6(Ipv6Addr::LOCALHOST)];
    assert!(Router::new(c, Instant::ZERO).is_err());
    let c = config(Version::V3, 0);
    assert!(Router::new(c, Instant::ZERO).is_err());
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut r = started(config(Version::V3, 100));
    for len in 0..64usize {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        r.handle_packet(Instant::from_secs(1), &meta(PEER_HIGH, 255), &junk);
    }
    assert_eq!(r.stats().drops.total(), 64);
    assert_eq!(r.state(), State::Backup);
}

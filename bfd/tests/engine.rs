//! Engine behaviour: two engines wired back to back in virtual time.

use std::net::IpAddr;
use std::time::Duration;

use ha_bfd::auth::{AuthKey, AuthType, KeyRing};
use ha_bfd::packet::{MULTIHOP_PORT, SINGLE_HOP_PORT, SOURCE_PORT_MIN};
use ha_bfd::{
    Command, CommandError, ControlPacket, Diagnostic, DropReason, Engine, Event, Hop, Microseconds,
    SessionConfig, SessionId, State, StateChange,
};
use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta, Transmit};

const ID: SessionId = SessionId(1);
const FAST: Duration = Duration::from_millis(50);
const LATENCY: Duration = Duration::from_millis(1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Node {
    engine: Engine,
    events: Vec<(Instant, Event)>,
    sent: Vec<(Instant, Transmit, ControlPacket)>,
    /// Whether packets this node sends reach the other node.
    link_up: bool,
}

struct InFlight {
    at: Instant,
    to: usize,
    meta: RecvMeta,
    payload: Vec<u8>,
}

/// Two engines and a wire between them, in virtual time.
struct Pair {
    nodes: [Node; 2],
    now: Instant,
    wire: Vec<InFlight>,
    /// Subtracted from the sent TTL on delivery (routers on the path).
    hops: u8,
}

impl Pair {
    fn new(seed: u64) -> Pair {
        let node = |s| Node {
            engine: Engine::new(ha_core::rng::seeded(s)),
            events: Vec::new(),
            sent: Vec::new(),
            link_up: true,
        };
        Pair {
            nodes: [node(seed), node(seed + 1000)],
            now: Instant::ZERO,
            wire: Vec::new(),
            hops: 0,
        }
    }

    /// A connected pair with one session each between 10.0.0.1 and 10.0.0.2.
    fn with(cfg: impl Fn(&mut SessionConfig)) -> Pair {
        let mut pair = Pair::new(1);
        pair.add_pair(ip("10.0.0.1"), ip("10.0.0.2"), cfg);
        pair
    }

    fn add_pair(&mut self, a: IpAddr, b: IpAddr, cfg: impl Fn(&mut SessionConfig)) {
        let mut ca = SessionConfig::single_hop(ID, a, b);
        ca.desired_min_tx = FAST;
        ca.required_min_rx = FAST;
        let mut cb = ca.clone();
        cb.local = b;
        cb.remote = a;
        cfg(&mut ca);
        cfg(&mut cb);
        self.command(0, Command::AddSession { config: ca });
        self.command(1, Command::AddSession { config: cb });
    }

    fn command(&mut self, node: usize, c: Command) {
        let now = self.now;
        self.nodes[node].engine.handle_command(now, c);
        self.drain(node);
    }

    fn drain(&mut self, i: usize) {
        let now = self.now;
        loop {
            let mut buf = Vec::new();
            let Some(t) = self.nodes[i].engine.poll_transmit(now, &mut buf) else {
                break;
            };
            let pkt = ControlPacket::parse_bytes(&buf).expect("engine emits valid packets");
            let ttl = if t.destination_port == Some(MULTIHOP_PORT) {
                t.ttl.saturating_sub(self.hops)
            } else {
                t.ttl
            };
            let meta = RecvMeta {
                source: t.source.expect("source set"),
                destination: t.destination,
                source_port: t.source_port,
                destination_port: t.destination_port,
                interface: IfIndex(1),
                ttl,
                cast: Cast::Unicast,
            };
            self.nodes[i].sent.push((now, t, pkt));
            if self.nodes[i].link_up {
                self.wire.push(InFlight {
                    at: now + LATENCY,
                    to: 1 - i,
                    meta,
                    payload: buf,
                });
            }
        }
        while let Some(e) = self.nodes[i].engine.poll_event() {
            self.nodes[i].events.push((now, e));
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let timers = self.nodes.iter().filter_map(|n| n.engine.poll_timeout());
        let wire = self.wire.iter().map(|p| p.at);
        timers.chain(wire).min()
    }

    fn run_until(&mut self, end: Instant) {
        while let Some(t) = self.next_time() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|p| p.at <= now);
            self.wire = rest;
            for p in due {
                self.nodes[p.to]
                    .engine
                    .handle_packet(now, &p.meta, &p.payload);
                self.drain(p.to);
            }
            for i in 0..2 {
                if self.nodes[i]
                    .engine
                    .poll_timeout()
                    .is_some_and(|d| d <= now)
                {
                    self.nodes[i].engine.handle_timeout(now);
                    self.drain(i);
                }
            }
        }
        self.now = self.now.max(end);
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    fn state(&self, node: usize) -> State {
        self.nodes[node].engine.session(ID).unwrap().state
    }

    fn changes(&self, node: usize) -> Vec<(Instant, StateChange)> {
        self.nodes[node]
            .events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::StateChanged(c) => Some((*t, *c)),
                _ => None,
            })
            .collect()
    }

    fn up(&mut self) {
        self.run_for(Duration::from_secs(5));
        assert_eq!(self.state(0), State::Up);
        assert_eq!(self.state(1), State::Up);
    }
}

fn ring(auth_type: AuthType, keys: &[(u8, &str)], active: u8) -> KeyRing {
    let mut r = KeyRing::new(auth_type, AuthKey::new(keys[0].0, keys[0].1)).unwrap();
    for (id, s) in &keys[1..] {
        r.insert(AuthKey::new(*id, *s)).unwrap();
    }
    r.set_active(active).unwrap();
    r
}

/// RFC 5880 section 6.2: the three-way handshake, Down → Init → Up on one side and
/// Down → Up on the other; then the Poll Sequence that replaces the 1 s floor (6.8.3).
#[test]
fn rfc5880_6_2_bring_up() {
    let mut p = Pair::with(|_| {});
    p.up();
    let path = |n| {
        p.changes(n)
            .iter()
            .map(|(_, c)| (c.from, c.to))
            .collect::<Vec<_>>()
    };
    let (a, b) = (path(0), path(1));
    let init_up = vec![(State::Down, State::Init), (State::Init, State::Up)];
    assert!(a == init_up || b == init_up, "{a:?} {b:?}");
    assert_eq!(a.last().unwrap().1, State::Up);
    assert_eq!(b.last().unwrap().1, State::Up);
    for n in 0..2 {
        let s = p.nodes[n].engine.session(ID).unwrap();
        assert_eq!(s.tx_interval, FAST);
        assert_eq!(s.detection_time, Some(FAST * 3));
        assert!(!s.poll_in_progress);
        assert_eq!(
            s.remote_discriminator,
            p.nodes[1 - n]
                .engine
                .session(ID)
                .unwrap()
                .local_discriminator
        );
        assert!(p.nodes[n].events.iter().any(|(_, e)| matches!(e, Event::PollCompleted { desired_min_tx, .. } if *desired_min_tx == FAST)));
        assert_eq!(p.nodes[n].engine.drop_counters().total(), 0);
    }
    // Every packet went to port 3784 from one fixed source port in range, TTL 255.
    for n in 0..2 {
        let port = p.nodes[n].engine.session(ID).unwrap().source_port;
        assert!(port >= SOURCE_PORT_MIN);
        for (_, t, _) in &p.nodes[n].sent {
            assert_eq!(t.destination_port, Some(SINGLE_HOP_PORT));
            assert_eq!(t.source_port, Some(port));
            assert_eq!(t.ttl, 255);
        }
    }
}

/// RFC 5880 section 6.8.3: while not Up, packets are sent no faster than once a second
/// and advertise a DesiredMinTx of at least one second.
#[test]
fn rfc5880_6_8_3_slow_while_not_up() {
    let mut p = Pair::new(1);
    p.nodes[0].link_up = false;
    p.nodes[1].link_up = false;
    p.add_pair(ip("10.0.0.1"), ip("10.0.0.2"), |_| {});
    p.run_for(Duration::from_secs(10));
    let sent = &p.nodes[0].sent;
    assert!(sent.len() >= 10 && sent.len() <= 14, "{}", sent.len());
    for w in sent.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= Duration::from_millis(750),
            "{:?}",
            sent.iter().map(|s| s.0).collect::<Vec<_>>()
        );
    }
    for (_, _, pkt) in sent {
        assert_eq!(pkt.state, State::Down);
        assert_eq!(pkt.desired_min_tx, Microseconds(1_000_000));
        assert_eq!(pkt.required_min_rx, Microseconds(50_000));
    }
}

/// RFC 5880 section 6.8.4: silence for a Detection Time takes the session Down with
/// diagnostic 1, within the bounds the timers allow.
#[test]
fn rfc5880_6_8_4_detection_on_loss() {
    let mut p = Pair::with(|_| {});
    p.up();
    let cut = p.now;
    p.nodes[1].link_up = false; // B's packets no longer reach A
    p.run_for(Duration::from_secs(1));
    let (t, c) = *p
        .changes(0)
        .iter()
        .find(|(_, c)| c.to == State::Down)
        .expect("A went down");
    assert_eq!(c.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    assert_eq!(c.from, State::Up);
    assert!(c.is_failure());
    // The last packet arrived at most one (jittered) interval before the cut.
    let since = t - cut;
    assert!(since >= FAST * 3 - FAST, "{since:?}");
    assert!(since <= FAST * 3 + LATENCY, "{since:?}");
    // A told B, which went down too with "neighbor signaled session down".
    let (_, cb) = *p
        .changes(1)
        .iter()
        .find(|(_, c)| c.to == State::Down)
        .expect("B went down");
    assert_eq!(cb.diagnostic, Diagnostic::NeighborSignaledDown);
    // Reconnect: both come back.
    p.nodes[1].link_up = true;
    p.up();
}

/// RFC 5880 sections 6.5 and 6.8.3: a timer change while Up runs a Poll Sequence; an
/// increase of the transmit interval takes effect only after the Final.
#[test]
fn rfc5880_6_8_3_poll_final_timer_change() {
    let mut p = Pair::with(|_| {});
    p.up();
    let slow = Duration::from_millis(200);
    p.command(
        0,
        Command::SetTimers {
            session: ID,
            desired_min_tx: slow,
            required_min_rx: slow,
            detect_mult: 3,
        },
    );
    let s = p.nodes[0].engine.session(ID).unwrap();
    assert!(s.poll_in_progress);
    // Still transmitting at the old rate until the Final arrives.
    assert_eq!(s.tx_interval, FAST);
    let before = p.nodes[0].events.len();
    let sent_before = p.nodes[0].sent.len();
    p.run_for(Duration::from_secs(2));
    let polled = p.nodes[0].sent[sent_before].2;
    assert!(polled.poll && !polled.final_bit);
    assert_eq!(polled.desired_min_tx, Microseconds(200_000));
    // The Poll went out within one interval: as soon as the interval allowed.
    assert!(p.nodes[0].sent[sent_before].0 - p.nodes[0].sent[sent_before - 1].0 <= FAST);
    assert!(p.nodes[0].events[before..].iter().any(|(_, e)| matches!(
        e,
        Event::PollCompleted { desired_min_tx, required_min_rx, .. }
            if *desired_min_tx == slow && *required_min_rx == slow
    )));
    // B answered with a Final, and never set Poll and Final together.
    assert!(p.nodes[1].sent.iter().any(|(_, _, k)| k.final_bit));
    for n in 0..2 {
        assert!(
            p.nodes[n]
                .sent
                .iter()
                .all(|(_, _, k)| !(k.poll && k.final_bit))
        );
    }
    let a = p.nodes[0].engine.session(ID).unwrap();
    let b = p.nodes[1].engine.session(ID).unwrap();
    assert!(!a.poll_in_progress);
    assert_eq!(a.tx_interval, slow);
    assert_eq!(b.tx_interval, slow); // B now sends no faster than A's RequiredMinRx
    assert_eq!(b.detection_time, Some(slow * 3));
    assert_eq!(a.detection_time, Some(slow * 3));
    // No flap along the way.
    assert!(p.changes(0).iter().all(|(_, c)| c.to != State::Down));
    assert!(p.changes(1).iter().all(|(_, c)| c.to != State::Down));
}

/// The shortest and longest gap between node 0's periodic packets (not Finals) from its
/// `n0`th packet on, as fractions of [`FAST`].
fn interval_range(p: &Pair, n0: usize) -> (f64, f64) {
    let periodic: Vec<Instant> = p.nodes[0].sent[n0..]
        .iter()
        .filter(|(_, _, k)| !k.final_bit)
        .map(|(t, _, _)| *t)
        .collect();
    periodic
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() / FAST.as_secs_f64())
        .fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(r), hi.max(r)))
}

/// RFC 5880 section 6.8.7: the transmit interval is jittered to 75–100 % of the
/// negotiated one, and no false Down occurs over a long run.
#[test]
fn rfc5880_6_8_7_jitter_and_no_false_down() {
    for mult in [3u8, 1] {
        let mut p = Pair::with(|c| c.detect_mult = mult);
        p.up();
        let start = p.now;
        let n0 = p.nodes[0].sent.len();
        p.run_for(Duration::from_secs(120));
        assert!(
            p.changes(0)
                .iter()
                .chain(p.changes(1).iter())
                .all(|(t, c)| *t < start || c.to == State::Up),
            "false down with detect mult {mult}"
        );
        let (lo, hi) = interval_range(&p, n0);
        let max = if mult == 1 { 0.90 } else { 1.0 };
        assert!(
            lo >= 0.75 - 1e-9 && hi <= max + 1e-9,
            "mult {mult}: {lo}..{hi}"
        );
        assert!(
            lo < 0.78 && hi > max - 0.03,
            "jitter not spread: {lo}..{hi}"
        );
        assert_eq!(p.nodes[1].engine.drop_counters().total(), 0);
    }
}

/// With a timer slack, transmit intervals stop short of the interval by the slack, so a
/// timer that fires that late still keeps packets within the interval; a slack above 25 %
/// leaves the bottom of the range.
#[test]
fn timer_slack_lowers_the_top_of_the_jitter_range() {
    for (slack_ms, expect_hi) in [(5u64, 0.9), (30, 0.75)] {
        let mut p = Pair::with(|c| c.detect_mult = 3);
        for node in &mut p.nodes {
            node.engine.set_timer_slack(Duration::from_millis(slack_ms));
        }
        p.up();
        let n0 = p.nodes[0].sent.len();
        p.run_for(Duration::from_secs(60));
        let (lo, hi) = interval_range(&p, n0);
        assert!(
            lo >= 0.75 - 1e-9 && hi <= expect_hi + 1e-9,
            "slack {slack_ms} ms: {lo}..{hi}"
        );
        assert!(
            hi > expect_hi - 0.03,
            "slack {slack_ms} ms: top {hi} not reached"
        );
    }
}

/// RFC 5880 section 6.8.6: authentication configured on one side only — every packet
/// is dropped and counted, and the session never comes up.
#[test]
fn rfc5880_6_8_6_auth_mismatch_dropped_and_counted() {
    let mut p = Pair::new(3);
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let mut ca = SessionConfig::single_hop(ID, a, b);
    ca.auth = Some(ring(AuthType::KeyedMd5, &[(1, "k")], 1));
    p.command(0, Command::AddSession { config: ca });
    p.command(
        1,
        Command::AddSession {
            config: SessionConfig::single_hop(ID, b, a),
        },
    );
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.state(0), State::Down);
    assert_eq!(p.state(1), State::Down);
    let d0 = p.nodes[0]
        .engine
        .drop_counters()
        .get(DropReason::AuthTypeMismatch);
    let d1 = p.nodes[1]
        .engine
        .drop_counters()
        .get(DropReason::AuthTypeMismatch);
    assert!(d0 >= 3 && d1 >= 3, "{d0} {d1}");

    // Same type, different secret: authentication failures.
    let mut p = Pair::with(|_| {});
    p.nodes[0].engine = Engine::new(ha_core::rng::seeded(9));
    p.nodes[1].engine = Engine::new(ha_core::rng::seeded(10));
    let mut ca = SessionConfig::single_hop(ID, a, b);
    ca.auth = Some(ring(AuthType::MeticulousKeyedSha1, &[(1, "one")], 1));
    let mut cb = SessionConfig::single_hop(ID, b, a);
    cb.auth = Some(ring(AuthType::MeticulousKeyedSha1, &[(1, "two")], 1));
    p.command(0, Command::AddSession { config: ca });
    p.command(1, Command::AddSession { config: cb });
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.state(0), State::Down);
    assert!(
        p.nodes[1]
            .engine
            .drop_counters()
            .get(DropReason::AuthFailure)
            >= 3
    );
}

/// All five authentication types bring a session up.
#[test]
fn rfc5880_6_7_every_auth_type_comes_up() {
    for t in [
        AuthType::SimplePassword,
        AuthType::KeyedMd5,
        AuthType::MeticulousKeyedMd5,
        AuthType::KeyedSha1,
        AuthType::MeticulousKeyedSha1,
    ] {
        let mut p = Pair::with(|c| c.auth = Some(ring(t, &[(7, "pw")], 7)));
        p.up();
        p.run_for(Duration::from_secs(10));
        assert_eq!(p.state(0), State::Up, "{t:?}");
        for n in 0..2 {
            assert_eq!(p.nodes[n].engine.drop_counters().total(), 0, "{t:?}");
            assert!(
                p.nodes[n]
                    .sent
                    .iter()
                    .all(|(_, _, k)| k.auth.is_some_and(|a| a.auth_type() == t))
            );
        }
    }
}

/// Key rotation with a key ring: add the new key on both ends, switch the active key
/// one end at a time, remove the old key — no flap and no drop.
#[test]
fn key_rollover_without_flap() {
    let t = AuthType::MeticulousKeyedMd5;
    let mut p = Pair::with(|c| c.auth = Some(ring(t, &[(1, "old")], 1)));
    p.up();
    let changes_before = (p.changes(0).len(), p.changes(1).len());
    let set = |p: &mut Pair, n, r| {
        p.command(
            n,
            Command::SetAuth {
                session: ID,
                auth: Some(r),
            },
        )
    };
    set(&mut p, 0, ring(t, &[(1, "old"), (2, "new")], 1));
    p.run_for(Duration::from_millis(333));
    set(&mut p, 1, ring(t, &[(1, "old"), (2, "new")], 2));
    p.run_for(Duration::from_millis(333));
    set(&mut p, 0, ring(t, &[(1, "old"), (2, "new")], 2));
    p.run_for(Duration::from_millis(333));
    set(&mut p, 0, ring(t, &[(2, "new")], 2));
    set(&mut p, 1, ring(t, &[(2, "new")], 2));
    p.run_for(Duration::from_secs(3));
    assert_eq!((p.changes(0).len(), p.changes(1).len()), changes_before);
    for n in 0..2 {
        assert_eq!(p.nodes[n].engine.drop_counters().total(), 0);
        assert_eq!(p.nodes[n].sent.last().unwrap().2.auth.unwrap().key_id(), 2);
    }
    // A peer still using only the old key is now rejected.
    set(&mut p, 1, ring(t, &[(1, "old")], 1));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state(0), State::Down);
    assert!(
        p.nodes[0]
            .engine
            .drop_counters()
            .get(DropReason::AuthFailure)
            > 0
    );
}

/// RFC 5880 section 6.8.16 and RFC 5882 section 3.2: AdminDown is signalled to the
/// peer, which goes Down with diagnostic 3 and sees that it was not a failure.
#[test]
fn rfc5880_6_8_16_admin_down_and_up() {
    let mut p = Pair::with(|_| {});
    p.up();
    p.command(0, Command::AdminDown { session: ID });
    assert_eq!(p.state(0), State::AdminDown);
    let (_, c) = *p.changes(0).last().unwrap();
    assert_eq!(c.diagnostic, Diagnostic::AdministrativelyDown);
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.state(0), State::AdminDown);
    assert_eq!(p.state(1), State::Down);
    let (_, cb) = *p.changes(1).last().unwrap();
    assert_eq!(cb.diagnostic, Diagnostic::NeighborSignaledDown);
    assert_eq!(cb.remote_state, State::AdminDown);
    assert!(!cb.is_failure());
    assert_eq!(cb.track_state(), ha_core::track::TrackState::Down);
    let last = p.nodes[0].sent.last().unwrap().2;
    assert_eq!(
        (last.state, last.diagnostic),
        (State::AdminDown, Diagnostic::AdministrativelyDown)
    );
    p.command(0, Command::AdminUp { session: ID });
    assert_eq!(p.state(0), State::Down);
    p.up();
}

/// Removing a session tells the peer with an AdminDown packet.
#[test]
fn remove_sends_admin_down() {
    let mut p = Pair::with(|_| {});
    p.up();
    p.command(0, Command::RemoveSession { session: ID });
    assert!(p.nodes[0].engine.session(ID).is_none());
    assert!(matches!(
        p.nodes[0].events.last(),
        Some((_, Event::SessionRemoved { session: ID }))
    ));
    p.run_for(Duration::from_millis(10));
    let (_, cb) = *p.changes(1).last().unwrap();
    assert_eq!((cb.to, cb.remote_state), (State::Down, State::AdminDown));
    p.command(0, Command::RemoveSession { session: ID });
    assert!(matches!(
        p.nodes[0].events.last(),
        Some((
            _,
            Event::CommandRejected {
                error: CommandError::NoSuchSession,
                ..
            }
        ))
    ));
}

/// RFC 5880 section 6.1: a passive session sends nothing until it hears the peer.
#[test]
fn rfc5880_6_1_passive_role() {
    let mut p = Pair::new(5);
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let mut ca = SessionConfig::single_hop(ID, a, b);
    ca.passive = true;
    p.command(0, Command::AddSession { config: ca });
    p.run_for(Duration::from_secs(5));
    assert!(p.nodes[0].sent.is_empty());
    let heard = p.now;
    p.command(
        1,
        Command::AddSession {
            config: SessionConfig::single_hop(ID, b, a),
        },
    );
    p.up();
    assert!(p.nodes[0].sent.iter().all(|(t, _, _)| *t >= heard));
}

/// RFC 5881 sections 4 and 5 / RFC 5883: IPv6 single hop, multihop ports and TTL.
#[test]
fn rfc5881_ipv6_and_rfc5883_multihop() {
    let mut p = Pair::new(11);
    p.add_pair(ip("2001:db8::1"), ip("2001:db8::2"), |_| {});
    p.up();

    let mut p = Pair::new(12);
    p.hops = 3;
    p.add_pair(ip("192.0.2.1"), ip("198.51.100.1"), |c| {
        c.hop = Hop::MultiHop { min_ttl: 250 }
    });
    p.up();
    assert!(
        p.nodes[0]
            .sent
            .iter()
            .all(|(_, t, _)| t.destination_port == Some(MULTIHOP_PORT))
    );

    // Too many hops for the configured minimum: dropped as TTL.
    let mut p = Pair::new(13);
    p.hops = 10;
    p.add_pair(ip("192.0.2.1"), ip("198.51.100.1"), |c| {
        c.hop = Hop::MultiHop { min_ttl: 250 }
    });
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.state(0), State::Down);
    assert!(p.nodes[0].engine.drop_counters().get(DropReason::Ttl) > 0);
}

fn meta(ttl: u8, src: &str, dst: &str) -> RecvMeta {
    RecvMeta {
        source: ip(src),
        destination: ip(dst),
        source_port: Some(49999),
        destination_port: Some(SINGLE_HOP_PORT),
        interface: IfIndex(1),
        ttl,
        cast: Cast::Unicast,
    }
}

fn peer_packet(state: State, your: u32) -> ControlPacket {
    ControlPacket {
        diagnostic: Diagnostic::None,
        state,
        poll: false,
        final_bit: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0xdead_beef,
        your_discriminator: your,
        desired_min_tx: Microseconds(50_000),
        required_min_rx: Microseconds(50_000),
        required_min_echo_rx: Microseconds(0),
        auth: None,
    }
}

fn bytes(p: &ControlPacket) -> Vec<u8> {
    let mut b = vec![0; p.buffer_len()];
    p.emit(&mut b);
    b
}

fn lone_engine() -> (Engine, u32) {
    let mut e = Engine::new(ha_core::rng::seeded(21));
    let mut c = SessionConfig::single_hop(ID, ip("10.0.0.1"), ip("10.0.0.2"));
    c.interface = Some(IfIndex(1));
    c.desired_min_tx = FAST;
    c.required_min_rx = FAST;
    e.handle_command(Instant::ZERO, Command::AddSession { config: c });
    let Some(Event::SessionAdded {
        local_discriminator,
        ..
    }) = e.poll_event()
    else {
        panic!("no SessionAdded");
    };
    (e, local_discriminator)
}

fn drain_tx(e: &mut Engine, now: Instant) -> Vec<ControlPacket> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        match e.poll_transmit(now, &mut buf) {
            Some(_) => out.push(ControlPacket::parse_bytes(&buf).unwrap()),
            None => return out,
        }
    }
}

/// RFC 5880 section 6.8.6 and RFC 5881 section 5: demultiplexing and discards.
#[test]
fn rfc5880_6_8_6_demux_and_discards() {
    let (mut e, discr) = lone_engine();
    let now = Instant::from_millis(10);
    let m = meta(255, "10.0.0.2", "10.0.0.1");
    // Unknown Your Discriminator.
    e.handle_packet(now, &m, &bytes(&peer_packet(State::Init, discr ^ 1)));
    assert_eq!(e.drop_counters().get(DropReason::UnknownDiscriminator), 1);
    // Zero Your Discriminator, addresses of no session.
    e.handle_packet(
        now,
        &meta(255, "10.0.0.9", "10.0.0.1"),
        &bytes(&peer_packet(State::Down, 0)),
    );
    assert_eq!(e.drop_counters().get(DropReason::NoSession), 1);
    // Zero Your Discriminator from the right address on the wrong interface.
    let mut other_if = m.clone();
    other_if.interface = IfIndex(2);
    e.handle_packet(now, &other_if, &bytes(&peer_packet(State::Down, 0)));
    assert_eq!(e.drop_counters().get(DropReason::NoSession), 2);
    // Single hop requires TTL 255.
    e.handle_packet(
        now,
        &meta(254, "10.0.0.2", "10.0.0.1"),
        &bytes(&peer_packet(State::Down, 0)),
    );
    assert_eq!(e.drop_counters().get(DropReason::Ttl), 1);
    // Zero Your Discriminator while Up.
    e.handle_packet(now, &m, &bytes(&peer_packet(State::Up, 0)));
    assert_eq!(e.drop_counters().get(DropReason::ZeroYourDiscriminator), 1);
    // Header faults.
    let mut b = bytes(&peer_packet(State::Down, 0));
    b[0] = 0x40;
    e.handle_packet(now, &m, &b);
    b[0] = 0x20;
    b[2] = 0;
    e.handle_packet(now, &m, &b);
    b[2] = 3;
    b[1] |= 1;
    e.handle_packet(now, &m, &b);
    b[1] &= !1;
    e.handle_packet(now, &m, &b[..23]);
    for r in [
        DropReason::Version,
        DropReason::ZeroDetectMult,
        DropReason::Multipoint,
        DropReason::Length,
    ] {
        assert_eq!(e.drop_counters().get(r), 1, "{r}");
    }
    assert_eq!(e.session(ID).unwrap().state, State::Down);
    // IPv4-mapped addresses match the IPv4 session; Down from the peer → Init.
    e.handle_packet(now, &meta(255, "::ffff:10.0.0.2", "::ffff:10.0.0.1"), &b);
    assert_eq!(e.session(ID).unwrap().state, State::Init);
    assert_eq!(e.drop_counters().total(), 9);
}

/// RFC 5880 section 6.6: when the peer asks for Demand mode, periodic packets stop once
/// both are Up; Polls are still answered.
#[test]
fn rfc5880_6_6_honours_peer_demand() {
    let (mut e, discr) = lone_engine();
    let m = meta(255, "10.0.0.2", "10.0.0.1");
    let mut now = Instant::from_millis(1);
    drain_tx(&mut e, now);
    let mut init = peer_packet(State::Init, discr);
    init.demand = true;
    e.handle_packet(now, &m, &bytes(&init));
    assert_eq!(e.session(ID).unwrap().state, State::Up);
    // The Poll announcing the fast interval goes out once the 1 s interval allows.
    let mut sent = drain_tx(&mut e, now);
    while let Some(t) = e.poll_timeout().filter(|t| *t <= Instant::from_secs(2)) {
        now = t;
        e.handle_timeout(now);
        sent.extend(drain_tx(&mut e, now));
    }
    assert!(sent.iter().any(|k| k.poll && k.state == State::Up));
    // The peer is Up, answers our Poll and asks for demand mode.
    let mut fin = peer_packet(State::Up, discr);
    fin.demand = true;
    fin.final_bit = true;
    now += Duration::from_millis(10);
    e.handle_packet(now, &m, &bytes(&fin));
    assert!(!e.session(ID).unwrap().poll_in_progress);
    assert!(e.session(ID).unwrap().remote_demand);
    drain_tx(&mut e, now);
    // Keep the session alive (the peer keeps sending, we do not) for a while.
    let mut quiet = 0;
    for _ in 0..20 {
        now += Duration::from_millis(40);
        let mut up = peer_packet(State::Up, discr);
        up.demand = true;
        e.handle_packet(now, &m, &bytes(&up));
        e.handle_timeout(now);
        quiet += drain_tx(&mut e, now).len();
    }
    assert_eq!(quiet, 0);
    // A Poll is answered with a Final at once.
    let mut poll = peer_packet(State::Up, discr);
    poll.demand = true;
    poll.poll = true;
    e.handle_packet(now, &m, &bytes(&poll));
    let answer = drain_tx(&mut e, now);
    assert_eq!(answer.len(), 1);
    assert!(answer[0].final_bit && !answer[0].poll);
}

/// A `handle_timeout` before any deadline changes nothing.
#[test]
fn spurious_timeout_is_a_no_op() {
    let (mut e, _) = lone_engine();
    drain_tx(&mut e, Instant::ZERO);
    let before = e.session(ID).unwrap();
    let deadline = e.poll_timeout().unwrap();
    e.handle_timeout(deadline - Duration::from_nanos(1));
    e.handle_timeout(Instant::ZERO);
    assert_eq!(e.session(ID).unwrap(), before);
    assert!(drain_tx(&mut e, deadline).is_empty());
    assert!(e.poll_event().is_none());
    assert_eq!(e.poll_timeout(), Some(deadline));
}

/// Discriminators are non-zero and unique; source ports unique and in range; commands
/// with bad input are rejected.
#[test]
fn many_sessions_unique_discriminators_and_ports() {
    let mut e = Engine::new(ha_core::rng::seeded(99));
    let mut discrs = std::collections::HashSet::new();
    let mut ports = std::collections::HashSet::new();
    for i in 0..2000u32 {
        let local = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
        let c = SessionConfig::single_hop(SessionId(u64::from(i)), local, ip("10.2.0.1"));
        e.handle_command(Instant::ZERO, Command::AddSession { config: c });
        match e.poll_event() {
            Some(Event::SessionAdded {
                local_discriminator,
                source_port,
                ..
            }) => {
                assert_ne!(local_discriminator, 0);
                assert!(discrs.insert(local_discriminator));
                assert!(source_port >= SOURCE_PORT_MIN);
                assert!(ports.insert(source_port));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(e.len(), 2000);
    let reject = |e: &mut Engine, c: SessionConfig| {
        e.handle_command(Instant::ZERO, Command::AddSession { config: c });
        match e.poll_event() {
            Some(Event::CommandRejected { error, .. }) => error,
            other => panic!("{other:?}"),
        }
    };
    let dup = SessionConfig::single_hop(SessionId(0), ip("10.9.9.9"), ip("10.2.0.1"));
    assert_eq!(reject(&mut e, dup), CommandError::DuplicateId);
    let same_addr = SessionConfig::single_hop(SessionId(5000), ip("10.1.0.0"), ip("10.2.0.1"));
    assert_eq!(reject(&mut e, same_addr), CommandError::DuplicateAddresses);
    let fam = SessionConfig::single_hop(SessionId(5001), ip("10.9.9.9"), ip("::1"));
    assert_eq!(reject(&mut e, fam), CommandError::AddressFamily);
    let mut zero = SessionConfig::single_hop(SessionId(5002), ip("10.9.9.9"), ip("10.2.0.1"));
    zero.detect_mult = 0;
    assert_eq!(reject(&mut e, zero), CommandError::ZeroDetectMult);
    // The same addresses multihop are a different session.
    let mh = SessionConfig::multihop(SessionId(5003), ip("10.1.0.0"), ip("10.2.0.1"), 250);
    e.handle_command(Instant::ZERO, Command::AddSession { config: mh });
    assert!(matches!(e.poll_event(), Some(Event::SessionAdded { .. })));
}

/// Commands and events serialize (recording and replay).
#[test]
fn commands_and_events_serialize() {
    let mut p = Pair::with(|c| c.auth = Some(ring(AuthType::KeyedSha1, &[(1, "x")], 1)));
    p.up();
    for (_, e) in &p.nodes[0].events {
        let json = serde_json::to_string(e).unwrap();
        assert_eq!(&serde_json::from_str::<Event>(&json).unwrap(), e);
    }
    let c = Command::AddSession {
        config: SessionConfig::single_hop(ID, ip("10.0.0.1"), ip("10.0.0.2")),
    };
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), c);
}

/// RFC 5880 section 6.8.3: a reduced RequiredMinRx is used for the detection time only
/// after the Poll Sequence ends; the peer speeds up once it has answered.
#[test]
fn rfc5880_6_8_3_reduced_rx_applies_after_final() {
    let slow = Duration::from_millis(50);
    let fast = Duration::from_millis(20);
    let mut p = Pair::with(|c| {
        c.desired_min_tx = fast;
        c.required_min_rx = slow;
    });
    p.up();
    assert_eq!(
        p.nodes[0].engine.session(ID).unwrap().detection_time,
        Some(slow * 3)
    );
    p.command(
        0,
        Command::SetTimers {
            session: ID,
            desired_min_tx: fast,
            required_min_rx: fast,
            detect_mult: 3,
        },
    );
    let a = p.nodes[0].engine.session(ID).unwrap();
    assert!(a.poll_in_progress);
    assert_eq!(a.required_min_rx, fast); // advertised at once
    assert_eq!(a.detection_time, Some(slow * 3)); // but not yet relied upon
    p.run_for(Duration::from_secs(1));
    let a = p.nodes[0].engine.session(ID).unwrap();
    assert!(!a.poll_in_progress);
    assert_eq!(a.detection_time, Some(fast * 3));
    assert_eq!(p.nodes[1].engine.session(ID).unwrap().tx_interval, fast);
    assert!(p.changes(0).iter().all(|(_, c)| c.to != State::Down));
}

/// RFC 5880 section 6.8.6: a peer that restarts (new discriminator, Your Discriminator
/// zero, State Down) is found by its addresses and takes the session Down at once.
#[test]
fn rfc5880_6_8_6_peer_restart_is_seen_by_address() {
    let mut p = Pair::with(|_| {});
    p.up();
    let restart = p.now;
    p.nodes[1].engine = Engine::new(ha_core::rng::seeded(77));
    let mut cb = SessionConfig::single_hop(ID, ip("10.0.0.2"), ip("10.0.0.1"));
    cb.desired_min_tx = FAST;
    cb.required_min_rx = FAST;
    p.command(1, Command::AddSession { config: cb });
    p.run_for(Duration::from_millis(20));
    let (t, c) = *p.changes(0).last().unwrap();
    assert_eq!(
        (c.from, c.to, c.diagnostic),
        (State::Up, State::Down, Diagnostic::NeighborSignaledDown)
    );
    assert!(t - restart <= LATENCY);
    p.up();
    let a = p.nodes[0].engine.session(ID).unwrap();
    assert_eq!(
        a.remote_discriminator,
        p.nodes[1].engine.session(ID).unwrap().local_discriminator
    );
}

/// A session without a local address (keepalived's `bfd_instance` without `source_ip`):
/// routing picks the source, and the peer's first packets match it at any local address,
/// unless a session names that address.
#[test]
fn unspecified_local_address_is_a_wildcard() {
    let mut e = Engine::new(ha_core::rng::seeded(5));
    let mut c = SessionConfig::single_hop(ID, ip("0.0.0.0"), ip("10.0.0.2"));
    c.desired_min_tx = FAST;
    c.required_min_rx = FAST;
    e.handle_command(Instant::ZERO, Command::AddSession { config: c });
    let mut exact = SessionConfig::single_hop(SessionId(2), ip("10.0.0.7"), ip("10.0.0.2"));
    exact.desired_min_tx = FAST;
    e.handle_command(Instant::ZERO, Command::AddSession { config: exact });
    while e.poll_event().is_some() {}
    let mut buf = Vec::new();
    let mut sources = Vec::new();
    while let Some(t) = e.poll_transmit(Instant::ZERO, &mut buf) {
        sources.push(t.source);
        buf.clear();
    }
    assert!(sources.contains(&None), "{sources:?}");
    assert!(sources.contains(&Some(ip("10.0.0.7"))), "{sources:?}");

    let now = Instant::from_millis(10);
    e.handle_packet(
        now,
        &meta(255, "10.0.0.2", "10.0.0.1"),
        &bytes(&peer_packet(State::Down, 0)),
    );
    assert_eq!(e.session(ID).unwrap().state, State::Init);
    // The exact session keeps its own address.
    e.handle_packet(
        now,
        &meta(255, "10.0.0.2", "10.0.0.7"),
        &bytes(&peer_packet(State::Down, 0)),
    );
    assert_eq!(e.session(SessionId(2)).unwrap().state, State::Init);
    // Other families do not match.
    e.handle_packet(
        now,
        &meta(255, "2001:db8::2", "2001:db8::1"),
        &bytes(&peer_packet(State::Down, 0)),
    );
    assert_eq!(e.drop_counters().get(DropReason::NoSession), 1);
}

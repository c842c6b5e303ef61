//! The BFD engine's receive path per packet, demultiplexing included, with 1000 sessions
//! Up: validation, Your Discriminator lookup, TTL check, authentication (when used), the
//! state machine and timer bookkeeping, and the event drain.
//!
//! Method: two engines with 1000 mirrored sessions are run against each other in virtual
//! time until every session is Up; then one Up packet per session is captured from the
//! peer, and the bench feeds them to the first engine round-robin (a different session
//! each packet, so caches see a realistic spread), timing one packet per iteration.
// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ha_bfd::auth::{AuthKey, AuthType, KeyRing};
use ha_bfd::packet::ControlPacket;
use ha_bfd::{Command, Engine, SessionConfig, SessionId, State};
use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta, Transmit};

const SESSIONS: u32 = 1000;

fn meta(t: &Transmit) -> RecvMeta {
    RecvMeta {
        source: t.source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        destination: t.destination,
        source_port: t.source_port,
        destination_port: t.destination_port,
        interface: IfIndex(1),
        ttl: t.ttl,
        cast: Cast::Unicast,
    }
}

fn remote(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8))
}

fn config(id: u32, local: IpAddr, remote: IpAddr, auth: Option<AuthType>) -> SessionConfig {
    let mut c = SessionConfig::single_hop(SessionId(u64::from(id)), local, remote);
    c.desired_min_tx = Duration::from_millis(10);
    c.required_min_rx = Duration::from_millis(10);
    c.auth = auth.map(|t| KeyRing::new(t, AuthKey::new(1, "bench-secret")).unwrap());
    c
}

/// Moves every queued packet from `from` to `to`, returning them.
fn pump(now: Instant, from: &mut Engine, to: &mut Engine) -> Vec<(RecvMeta, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = from.poll_transmit(now, &mut buf) {
        let m = meta(&t);
        to.handle_packet(now, &m, &buf);
        out.push((m, std::mem::take(&mut buf)));
    }
    while from.poll_event().is_some() {}
    while to.poll_event().is_some() {}
    out
}

/// An engine with [`SESSIONS`] sessions Up, and one Up packet per session from the peer.
fn setup(auth: Option<AuthType>) -> (Engine, Vec<(RecvMeta, Vec<u8>)>, Instant) {
    let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut a = Engine::new(ha_core::rng::seeded(1));
    let mut b = Engine::new(ha_core::rng::seeded(2));
    for i in 0..SESSIONS {
        a.handle_command(
            Instant::ZERO,
            Command::AddSession {
                config: config(i, local, remote(i), auth),
            },
        );
        b.handle_command(
            Instant::ZERO,
            Command::AddSession {
                config: config(i, remote(i), local, auth),
            },
        );
    }
    let mut now = Instant::ZERO;
    let step = Duration::from_millis(1);
    let mut captured = Vec::new();
    for _ in 0..10_000 {
        a.handle_timeout(now);
        b.handle_timeout(now);
        pump(now, &mut a, &mut b);
        let from_b = pump(now, &mut b, &mut a);
        let all_up = (0..SESSIONS).all(|i| {
            a.session(SessionId(u64::from(i))).map(|s| s.state) == Some(State::Up)
                && b.session(SessionId(u64::from(i))).map(|s| s.state) == Some(State::Up)
        });
        if all_up {
            // Keep the periodic Up packets (no Poll, no Final) from now on.
            for (m, p) in from_b {
                let pkt = ControlPacket::parse_bytes(&p).unwrap();
                if pkt.state == State::Up && !pkt.poll && !pkt.final_bit {
                    captured.push((m, p));
                }
            }
            let mut seen = std::collections::HashSet::new();
            captured.retain(|(m, _)| seen.insert(m.source));
            if captured.len() == SESSIONS as usize {
                break;
            }
        }
        now += step;
    }
    assert_eq!(
        captured.len(),
        SESSIONS as usize,
        "sessions did not all come Up"
    );
    (a, captured, now)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bfd_receive_1000_sessions");
    group.throughput(Throughput::Elements(1));
    for (name, auth) in [
        ("no_auth", None),
        ("simple_password", Some(AuthType::SimplePassword)),
        ("keyed_md5", Some(AuthType::KeyedMd5)),
        ("keyed_sha1", Some(AuthType::KeyedSha1)),
    ] {
        let (mut engine, packets, now) = setup(auth);
        let drops_before = engine.drop_counters().total();
        let mut k = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let (m, p) = &packets[k % packets.len()];
                k = k.wrapping_add(1);
                engine.handle_packet(now, black_box(m), black_box(p));
                while let Some(e) = engine.poll_event() {
                    black_box(e);
                }
            })
        });
        assert_eq!(
            engine.drop_counters().total(),
            drops_before,
            "{name}: packets were dropped: {:?}",
            engine.drop_counters()
        );
    }
    group.finish();

    let (_, packets, _) = setup(None);
    let bytes = packets[0].1.clone();
    c.bench_function("bfd_codec/parse_control_packet", |b| {
        b.iter(|| ControlPacket::parse_bytes(black_box(&bytes)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

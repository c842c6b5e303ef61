//! Property tests of the codec: round trips, and arbitrary bytes never panic anywhere.

use ha_bfd::auth::{AuthKey, AuthSection, AuthType, KeyRing, Password, sign_in_place};
use ha_bfd::packet::SINGLE_HOP_PORT;
use ha_bfd::{
    Command, ControlPacket, Diagnostic, Engine, Microseconds, Packet, SessionConfig, SessionId,
    State,
};
use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta};
use proptest::prelude::*;

fn state() -> impl Strategy<Value = State> {
    (0u8..4).prop_map(State::from_bits)
}

fn auth_section() -> impl Strategy<Value = Option<AuthSection>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=16)).prop_map(|(key_id, pw)| {
            Some(AuthSection::SimplePassword {
                key_id,
                password: Password::new(&pw).unwrap(),
            })
        }),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(AuthSection::KeyedMd5 {
                meticulous,
                key_id,
                sequence,
                digest
            })
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(AuthSection::KeyedSha1 {
                meticulous,
                key_id,
                sequence,
                digest
            })
        ),
    ]
}

prop_compose! {
    fn control_packet()(
        diag in 0u8..32,
        state in state(),
        poll in any::<bool>(),
        final_bit in any::<bool>(),
        cpi in any::<bool>(),
        demand in any::<bool>(),
        detect_mult in 1u8..,
        my in 1u32..,
        your in any::<u32>(),
        tx in any::<u32>(),
        rx in any::<u32>(),
        echo in any::<u32>(),
        auth in auth_section(),
    ) -> ControlPacket {
        let your = if matches!(state, State::Down | State::AdminDown) { your } else { your.max(1) };
        ControlPacket {
            diagnostic: Diagnostic::from_bits(diag),
            state,
            poll,
            final_bit,
            control_plane_independent: cpi,
            demand,
            detect_mult,
            my_discriminator: my,
            your_discriminator: your,
            desired_min_tx: Microseconds(tx),
            required_min_rx: Microseconds(rx),
            required_min_echo_rx: Microseconds(echo),
            auth,
        }
    }
}

fn meta(ttl: u8) -> RecvMeta {
    RecvMeta {
        source: "10.0.0.2".parse().unwrap(),
        destination: "10.0.0.1".parse().unwrap(),
        source_port: Some(50000),
        destination_port: Some(SINGLE_HOP_PORT),
        interface: IfIndex(1),
        ttl,
        cast: Cast::Unicast,
    }
}

proptest! {
    /// emit → parse is the identity, and buffer_len is what emit writes.
    #[test]
    fn round_trip(p in control_packet(), trailing in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut buf = vec![0u8; p.buffer_len()];
        prop_assert_eq!(p.emit(&mut buf), p.buffer_len());
        buf.extend_from_slice(&trailing);
        prop_assert_eq!(ControlPacket::parse_bytes(&buf), Ok(p));
    }

    /// A signed packet verifies with its ring, for every type and key.
    #[test]
    fn signed_packets_verify(
        p in control_packet(),
        ty in 1u8..=5,
        key_id in any::<u8>(),
        secret in proptest::collection::vec(any::<u8>(), 1..=16),
        seq in any::<u32>(),
    ) {
        let ring = KeyRing::new(AuthType::from_u8(ty).unwrap(), AuthKey::new(key_id, secret)).unwrap();
        let p = ControlPacket { auth: Some(ring.tx_section(seq)), ..p };
        let mut buf = vec![0u8; p.buffer_len()];
        p.emit(&mut buf);
        sign_in_place(&mut buf).unwrap();
        let view = Packet::new_checked(&buf[..]).unwrap();
        let parsed = ControlPacket::parse(&view).unwrap();
        prop_assert_eq!(ring.verify(view.control_bytes(), parsed.auth.as_ref().unwrap()), Ok(()));
    }

    /// Arbitrary bytes: no panic in the view, the parser, verification or the engine.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(view) = Packet::new_checked(&bytes[..]) {
            let _ = (view.version(), view.diagnostic(), view.state(), view.poll(), view.final_bit(),
                view.demand(), view.multipoint(), view.detect_mult(), view.my_discriminator(),
                view.your_discriminator(), view.desired_min_tx(), view.required_min_rx(),
                view.required_min_echo_rx(), view.control_bytes(), view.auth_bytes());
            if let Ok(p) = ControlPacket::parse(&view) {
                if let Some(a) = &p.auth {
                    for ty in 1..=5 {
                        let ring = KeyRing::new(AuthType::from_u8(ty).unwrap(), AuthKey::new(a.key_id(), "k")).unwrap();
                        let _ = ring.verify(view.control_bytes(), a);
                    }
                }
            }
        }
        let _ = ControlPacket::parse_bytes(&bytes);
        let mut signed = bytes.clone();
        let _ = sign_in_place(&mut signed);
        let _ = AuthSection::parse(&bytes);
    }

    /// Arbitrary packets (mostly well-formed) into an engine with a session: no panic, and
    /// every packet is either accepted or counted as dropped.
    #[test]
    fn engine_never_panics(
        packets in proptest::collection::vec((control_packet(), any::<u8>(), any::<bool>(), 0u32..3), 1..20),
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut e = Engine::new(ha_core::rng::seeded(1));
        let mut c = SessionConfig::single_hop(SessionId(1), "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        c.auth = Some(KeyRing::new(AuthType::KeyedSha1, AuthKey::new(1, "k")).unwrap());
        e.handle_command(Instant::ZERO, Command::AddSession { config: c });
        let discr = e.session(SessionId(1)).unwrap().local_discriminator;
        let mut now = Instant::ZERO;
        let mut drops_expected = 0u64;
        let mut accepted = 0u64;
        for (p, ttl, aim, corrupt) in packets {
            let p = ControlPacket { your_discriminator: if aim && p.your_discriminator != 0 { discr } else { p.your_discriminator }, ..p };
            let mut buf = vec![0u8; p.buffer_len()];
            p.emit(&mut buf);
            if corrupt == 1 && buf.len() > 30 { buf[30] ^= 0xff; }
            let before_rx = e.session(SessionId(1)).unwrap().packets_received;
            let before_drops = e.drop_counters().total();
            now += std::time::Duration::from_millis(7);
            e.handle_packet(now, &meta(ttl), &buf);
            e.handle_timeout(now);
            let rx = e.session(SessionId(1)).unwrap().packets_received - before_rx;
            let dropped = e.drop_counters().total() - before_drops;
            prop_assert_eq!(rx + dropped, 1);
            drops_expected += dropped;
            accepted += rx;
            let mut out = Vec::new();
            while e.poll_transmit(now, &mut out).is_some() { out.clear(); }
            while e.poll_event().is_some() {}
        }
        e.handle_packet(now, &meta(255), &garbage);
        prop_assert!(e.drop_counters().total() >= drops_expected);
        prop_assert!(accepted <= 20);
    }
}

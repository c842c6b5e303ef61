//! Decodes arbitrary bytes as a BFD Control packet, verifies its authentication against a
//! key ring of every type, and feeds it to an engine. Nothing may panic; whatever parses
//! must re-emit to the same bytes.
#![no_main]

use ha_bfd::auth::{AuthKey, AuthType, KeyRing, RxSequence, sign_in_place};
use ha_bfd::packet::{MULTIHOP_PORT, SINGLE_HOP_PORT};
use ha_bfd::{Command, ControlPacket, Engine, Packet, SessionConfig, SessionId};
use ha_core::{Cast, Endpoint, IfIndex, Instant, RecvMeta};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ctl, bytes) = match data.split_first() {
        Some((c, rest)) => (*c, rest),
        None => return,
    };

    if let Ok(view) = Packet::new_checked(bytes) {
        if let Ok(pkt) = ControlPacket::parse(&view) {
            // Whatever parses re-emits to a packet that parses to the same value.
            let mut out = vec![0u8; pkt.buffer_len()];
            pkt.emit(&mut out);
            assert_eq!(ControlPacket::parse_bytes(&out), Ok(pkt));
            if let Some(section) = &pkt.auth {
                for ty in 1..=5 {
                    let Some(t) = AuthType::from_u8(ty) else {
                        continue;
                    };
                    let Ok(ring) = KeyRing::new(t, AuthKey::new(section.key_id(), "fuzz")) else {
                        continue;
                    };
                    let _ = ring.verify(view.control_bytes(), section);
                    if let Some(seq) = section.sequence() {
                        let mut rx = RxSequence::new();
                        rx.accept(u32::from(ctl));
                        let _ = rx.check(seq, t.is_meticulous(), pkt.detect_mult);
                    }
                }
            }
        }
    }
    let mut scratch = bytes.to_vec();
    let _ = sign_in_place(&mut scratch);

    // Through an engine with one authenticated session, addressed as the peer.
    let mut engine = Engine::new(ha_core::rng::seeded(u64::from(ctl)));
    let mut config = SessionConfig::single_hop(
        SessionId(1),
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
    );
    let t = AuthType::from_u8(1 + ctl % 5).unwrap_or(AuthType::KeyedMd5);
    config.auth = KeyRing::new(t, AuthKey::new(1, "fuzz")).ok();
    engine.handle_command(Instant::ZERO, Command::AddSession { config });
    let meta = RecvMeta {
        source: "10.0.0.2".parse().unwrap(),
        destination: "10.0.0.1".parse().unwrap(),
        source_port: Some(49152),
        destination_port: Some(if ctl & 0x80 != 0 {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        }),
        interface: IfIndex(1),
        ttl: if ctl & 0x40 != 0 { 255 } else { ctl },
        cast: Cast::Unicast,
    };
    let now = Instant::from_millis(u64::from(ctl));
    engine.handle_packet(now, &meta, bytes);
    engine.handle_timeout(now);
    let mut buf = Vec::new();
    while engine.poll_transmit(now, &mut buf).is_some() {
        buf.clear();
    }
    while engine.poll_event().is_some() {}
});

//! Fuzz the IPSEC-AH check on whole IPv4 packets. The first byte picks the cast and the
//! replay counter's start; the rest is the packet.
#![no_main]

use ha_core::Cast;
use ha_vrrp::ah::{self, AhKey, ReplayState};
use ha_vrrp::packet::{Advertisement, ChecksumMode, ChecksumPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&flags, packet)) = input.split_first() else {
        return;
    };
    let cast = if flags & 1 != 0 {
        Cast::Unicast
    } else {
        Cast::Multicast
    };
    let mut replay = ReplayState::new();
    let _ = replay.accept_rx(u32::from(flags >> 1));
    let key = AhKey::from_password(b"fuzzkey");
    match ah::open(packet, &key, cast, &mut replay) {
        Ok(o) => {
            let _ = Advertisement::parse(
                o.vrrp,
                &o.header.context(),
                ChecksumMode::PseudoHeader,
                ChecksumPolicy::Strict,
            );
        }
        Err(e) => {
            let _ = e.reason();
        }
    }
});

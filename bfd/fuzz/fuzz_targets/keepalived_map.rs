//! keepalived.conf text through ha-core's grammar, then the `bfd_instance` and
//! `global_defs` mapping; every mapped session then goes into an engine. Nothing may panic,
//! every session the mapping produces must be one the engine accepts, and every instance
//! has a tracking default.
#![no_main]

use ha_bfd::keepalived::map;
use ha_bfd::{Command, Engine, Event};
use ha_core::conf::{Options, parse_str};
use ha_core::{Endpoint, Instant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let options = Options {
        max_lines: 10_000,
        ..Options::default()
    };
    let Ok(conf) = parse_str(text, &options) else {
        return;
    };
    let Ok(out) = map(&conf) else {
        return;
    };
    let defaults = out.track_defaults();
    assert_eq!(defaults.len(), out.instances.len());
    if let Some(p) = out.scheduling.realtime {
        assert!((1..=99).contains(&p.get()));
    }
    let mut engine = Engine::new(ha_core::rng::seeded(1));
    for instance in out.sessions() {
        engine.handle_command(
            Instant::ZERO,
            Command::AddSession {
                config: instance.session.clone(),
            },
        );
        while let Some(event) = engine.poll_event() {
            assert!(
                matches!(event, Event::SessionAdded { .. }),
                "mapped session rejected: {event:?}"
            );
        }
    }
});

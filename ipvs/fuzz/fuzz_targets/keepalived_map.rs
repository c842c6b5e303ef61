//! keepalived.conf text through ha-core's grammar, then the IPVS mapping. Nothing may
//! panic, and everything the mapping produces must be runnable: every pool starts a pool
//! controller, and every service, destination, sync daemon and timeout encodes into the
//! kernel's attributes.
#![no_main]

use ha_core::Instant;
use ha_core::conf::{Options, parse_str};
use ha_ipvs::keepalived::map;
use ha_ipvs::model::SyncState;
use ha_ipvs::pool::PoolController;
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
    for vs in &out.virtual_servers {
        for pool in &vs.pools {
            assert_eq!(pool.real_servers.len(), vs.real_servers.len());
            let controller = PoolController::new(pool.clone()).expect("mapped pool runs");
            if let Some(desired) = controller.desired(Instant::from_secs(1)) {
                desired.service.to_attrs().expect("mapped service encodes");
                for dest in &desired.dests {
                    let _ = dest.to_attrs();
                }
            }
        }
    }
    if let Some(sync) = &out.sync_daemon {
        for state in [SyncState::Master, SyncState::Backup] {
            sync.daemon(state, Some(1))
                .to_attrs()
                .expect("mapped sync daemon encodes");
        }
    }
    if let Some(t) = &out.timeouts {
        t.to_attrs().expect("mapped timeouts encode");
    }
});

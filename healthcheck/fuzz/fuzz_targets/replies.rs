//! Every parser of peer-controlled bytes: SMTP reply lines, tracked files, DNS responses,
//! ICMP packets. None may panic.
#![no_main]

use ha_healthcheck::fuzz_api;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fuzz_api::smtp_reply_code(data);
    let _ = fuzz_api::file_value(data);
    let id = data
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let _ = fuzz_api::dns_reply(id, data);
    for (v6, ip) in [(false, false), (false, true), (true, false)] {
        let _ = fuzz_api::icmp_reply(data, v6, ip, id, id.wrapping_add(1));
    }
});

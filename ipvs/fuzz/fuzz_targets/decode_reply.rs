//! Fuzzes the decoding of netlink replies: framing, IPVS messages, and the conversion of
//! every decoded service, destination, daemon and info message to domain types.
#![no_main]

use ha_ipvs::model::{Family, Info, Timeouts, request};
use ha_ipvs::packet::IpvsMessage;
use ha_ipvs::packet::frame::{self, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame::family_id_from_ctrl(data);
    if let Some((&cmd, rest)) = data.split_first() {
        if let Ok(msg) = IpvsMessage::decode(cmd, rest) {
            check(&msg);
        }
    }
    for f in frame::parse_frames(data, 0x24).flatten() {
        if let Frame::Ipvs { message, .. } = f {
            check(&message);
        }
    }
});

fn check(msg: &IpvsMessage) {
    let _ = request::read_service(msg);
    let _ = request::read_dest(msg, Family::V4);
    let _ = request::read_dest(msg, Family::V6);
    let _ = request::read_daemon(msg);
    let _ = Info::from_message(msg);
    let _ = Timeouts::from_message(msg);
    // Whatever decodes must re-encode and decode to the same value (attributes near the
    // 64 KiB limit may grow by their padding when re-encoded, so skip those).
    if msg.attrs_to_bytes().len() > 60_000 {
        return;
    }
    let again = IpvsMessage::decode_genl(&msg.to_genl_bytes());
    assert_eq!(again.as_ref(), Ok(msg));
}

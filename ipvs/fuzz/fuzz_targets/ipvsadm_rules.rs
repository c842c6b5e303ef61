//! Fuzzes the `ipvsadm` rule reader: any text either fails with a line number or reads
//! into services whose saved form reads back and saves to the same text.
#![no_main]

use ha_ipvs::ipvsadm;
use ha_ipvs::reconcile::desired_snapshot as snapshot;
use libfuzzer_sys::fuzz_target;


fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ipvsadm::parse_words(&text.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    let Ok(desired) = ipvsadm::parse(text) else {
        return;
    };
    let saved = ipvsadm::save(&snapshot(desired));
    let again = ipvsadm::parse(&saved).expect("saved rules read back");
    assert_eq!(ipvsadm::save(&snapshot(again)), saved);
});

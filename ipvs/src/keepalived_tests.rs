use super::*;
use ha_core::conf::{Options, parse_str};

fn conf(text: &str) -> Config {
    parse_str(text, &Options::default()).expect("grammar")
}

fn mapped(text: &str) -> KeepalivedIpvs {
    map(&conf(text)).expect("maps")
}

#[test]
fn simple_virtual_server() {
    let m =
        mapped("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1 80 {\n }\n}\n");
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.virtual_servers[0].name, "192.0.2.1:80/TCP");
}

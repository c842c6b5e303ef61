//! keepalived.conf text through ha-core's grammar, then every checker block (at any depth)
//! through the checker mapping. Neither may panic.
#![no_main]

use ha_core::conf::{Node, Options, parse_str};
use ha_healthcheck::keepalived::{MapContext, is_checker, map_checker, map_real_server};
use libfuzzer_sys::fuzz_target;

fn walk(nodes: &[Node], ctx: &MapContext) {
    for n in nodes {
        if is_checker(&n.keyword) {
            let _ = map_checker(n, ctx);
        } else if n.keyword == "real_server" {
            let _ = map_real_server(n, ctx);
        }
        walk(&n.children, ctx);
    }
}

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
    let ctx = match MapContext::from_config(&conf) {
        Ok(m) => m.value,
        Err(_) => MapContext::default(),
    };
    walk(&conf.nodes, &ctx);
});

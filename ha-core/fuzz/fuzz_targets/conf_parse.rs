//! keepalived.conf grammar: any text, with an include of a second fuzzed file, must parse
//! or fail with a located error, never panic or loop.
#![no_main]

use std::path::{Path, PathBuf};

use ha_core::conf::{MemSource, Options, parse_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (main, included) = text.split_once('\u{0}').unwrap_or((&text, ""));
    let mut source = MemSource::default();
    source.files.insert(PathBuf::from("/k/keepalived.conf"), main.to_string());
    source.files.insert(PathBuf::from("/k/inc/a.conf"), included.to_string());
    let options = Options { config_id: Some("lb1".into()), max_include_depth: 4, max_lines: 10_000 };
    let _ = parse_with(&source, Path::new("/k/keepalived.conf"), &options);
});

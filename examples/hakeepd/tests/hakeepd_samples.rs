//! `hakeepd -t` on keepalived's own example configurations, as Debian's keepalived
//! package installs them (`/usr/share/doc/keepalived/samples`; scripts/test.sh installs
//! keepalived). Those that use only supported features must pass (exit 0, no warning);
//! every other one must fail with exit 5 and name, with `file:line:col`, what it uses
//! that is not supported — never a crash, never an unlocated complaint.
//!
//! The interfaces the samples name (`eth0`, `eth1`, `eth0.1`) are given to the mapping
//! as a fixed table, so the test needs no privileges.

use std::path::{Path, PathBuf};

use ha_core::IfIndex;
use ha_core::conf::Options;
use ha_vrrp::keepalived::StaticInterfaces;
use hakeepd::{config_test, exit};

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// Samples that use only supported features.
const MUST_PASS: &[&str] = &[
    "keepalived.conf.HTTP_GET.port",
    "keepalived.conf.IPv6",
    "keepalived.conf.PING_CHECK",
    "keepalived.conf.SSL_GET",
    "keepalived.conf.UDP_CHECK",
    "keepalived.conf.inhibit",
    "keepalived.conf.misc_check",
    "keepalived.conf.misc_check_arg",
    "keepalived.conf.quorum",
    "keepalived.conf.sample",
    "keepalived.conf.status_code",
    "keepalived.conf.virtual_server_group",
    "keepalived.conf.virtualhost",
    "keepalived.conf.vrrp",
    "keepalived.conf.vrrp.localcheck",
    "keepalived.conf.vrrp.scripts",
    "keepalived.conf.vrrp.sync",
];

fn interfaces() -> StaticInterfaces {
    let mut t = StaticInterfaces::new();
    for (i, name) in ["eth0", "eth1", "eth2", "eth0.1"].iter().enumerate() {
        let index = IfIndex(2 + i as u32);
        t = t
            .with(
                name,
                index,
                format!("192.168.{}.1", 200 + i).parse().unwrap(),
            )
            .with(name, index, format!("fe80::{}", 1 + i).parse().unwrap());
    }
    t
}

fn samples() -> Option<Vec<PathBuf>> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(SAMPLES)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keepalived.conf."))
        })
        .collect();
    all.sort();
    Some(all)
}

fn check(path: &Path) -> (u8, String) {
    let mut out = Vec::new();
    let code = config_test(path, &Options::default(), &interfaces(), &mut out);
    (code, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn keepalived_samples_pass_or_name_what_is_unsupported() {
    let Some(samples) = samples() else {
        eprintln!(
            "SKIPPED: {SAMPLES} is missing (install keepalived: scripts/install-test-deps.sh)"
        );
        return;
    };
    assert!(
        samples.len() >= 20,
        "expected keepalived's samples in {SAMPLES}"
    );
    let mut passed = Vec::new();
    for path in &samples {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (code, text) = check(path);
        if MUST_PASS.contains(&name.as_str()) {
            assert_eq!(code, exit::OK, "{name} should pass -t:\n{text}");
            assert!(text.is_empty(), "{name}: {text}");
        }
        if code == exit::OK {
            passed.push(name);
            continue;
        }
        assert_eq!(code, exit::CONFIG_TEST, "{name}:\n{text}");
        // Every complaint is located in the sample itself.
        for line in text.lines() {
            assert!(
                line.starts_with(&path.display().to_string()),
                "{name}: unlocated message {line:?}"
            );
        }
        eprintln!("{name}: exit 5\n{text}");
    }
    eprintln!("pass -t: {passed:?}");
    for name in MUST_PASS {
        assert!(passed.iter().any(|p| p == name), "{name} is missing");
    }
}

#[test]
fn exit_codes_follow_keepalived() {
    let dir = std::env::temp_dir().join(format!("hakeepd-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = write(
        "good.conf",
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n \
         virtual_ipaddress {\n 192.168.200.100\n }\n}\n",
    );
    let unknown = write(
        "unknown.conf",
        "vrrp_instance VI_1 {\n interface eth0\n bogus_kw 3\n virtual_router_id 51\n \
         virtual_ipaddress {\n 192.168.200.100\n }\n}\n",
    );
    let invalid = write(
        "invalid.conf",
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 500\n}\n",
    );
    let no_such_interface = write(
        "noif.conf",
        "vrrp_instance VI_1 {\n interface eth9\n virtual_router_id 5\n \
         virtual_ipaddress {\n 192.168.200.100\n }\n}\n",
    );
    assert_eq!(check(&good).0, exit::OK);
    let (code, text) = check(&unknown);
    assert_eq!(code, exit::CONFIG_TEST);
    assert!(text.contains("unknown.conf:3:"), "{text}");
    assert!(text.contains("bogus_kw"), "{text}");
    assert_eq!(check(&invalid).0, exit::CONFIG_TEST);
    assert_eq!(check(&no_such_interface).0, exit::CONFIG_TEST);
    // keepalived says "Config files missing" and exits 0; a missing file is an error here.
    assert_eq!(check(&dir.join("missing.conf")).0, exit::CONFIG_TEST);
    std::fs::remove_dir_all(&dir).unwrap();
}

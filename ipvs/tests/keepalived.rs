//! The keepalived.conf mapping on whole configurations: the sample configurations in
//! `tests/data/keepalived/` map without errors, their pools run and their services are
//! accepted by the fake IPVS table (which refuses what the kernel refuses), and random
//! small configurations never make the mapping panic.

use std::path::PathBuf;
use std::time::Duration;

use ha_core::Instant;
use ha_core::conf::{Config, Options, parse_file, parse_str};
use ha_ipvs::keepalived::{KeepalivedIpvs, map};
use ha_ipvs::model::{Family, ForwardMethod, Protocol, Scheduler, ServiceKey, SyncState};
use ha_ipvs::pool::{PoolController, Verdict};
use ha_ipvs::reconcile::{Reconciler, apply};
use ha_ipvs::{FakeIpvs, IpvsBackend};
use proptest::prelude::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keepalived")
        .join(name)
}

fn load(name: &str) -> (Config, KeepalivedIpvs) {
    let conf = parse_file(data(name), &Options::default()).expect("grammar");
    let ipvs = map(&conf).unwrap_or_else(|e| panic!("{name}: {e}"));
    (conf, ipvs)
}

/// Every pool runs, every real server takes verdicts through `destinations`, and the
/// desired services go into a fake IPVS table.
fn run_everything(ipvs: &KeepalivedIpvs) -> usize {
    let backend = FakeIpvs::new();
    let now = Instant::from_secs(1);
    let mut desired = Vec::new();
    for vs in &ipvs.virtual_servers {
        let mut pools: Vec<_> = vs
            .pools
            .iter()
            .map(|p| PoolController::new(p.clone()).expect("pool runs"))
            .collect();
        for i in 0..vs.real_servers.len() {
            for (p, key) in vs.destinations(i) {
                pools[p]
                    .set_verdict(now, &key, Verdict::UP)
                    .expect("known server");
            }
        }
        desired.extend(pools.iter().filter_map(|p| p.desired(now)));
    }
    let mut reconciler = Reconciler::new(None);
    let count = desired.len();
    let run = async {
        let plan = reconciler.plan(now, &desired, &backend.dump().await.unwrap());
        apply(&backend, &plan.ops)
            .await
            .expect("the fake accepts every op");
        assert_eq!(backend.dump().await.unwrap().services.len(), count);
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(run);
    count
}

#[test]
fn every_sample_maps_and_runs() {
    let dir = data("");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let (_, ipvs) = load(&name);
        assert!(!ipvs.virtual_servers.is_empty(), "{name}");
        run_everything(&ipvs);
    }
}

fn messages(ipvs: &KeepalivedIpvs) -> Vec<String> {
    ipvs.warnings.iter().map(|w| w.to_string()).collect()
}

#[test]
fn sample() {
    let (_, ipvs) = load("sample.conf");
    assert!(ipvs.warnings.is_empty(), "{:?}", messages(&ipvs));
    let vs = &ipvs.virtual_servers[0];
    assert_eq!(vs.name, "203.0.113.2:1358/TCP");
    let p = &vs.pools[0];
    assert_eq!(p.service.scheduler, Scheduler::Rr);
    assert_eq!(p.service.timeout, Duration::from_secs(50));
    assert_eq!(p.sorry_server.unwrap().key.port, 1358);
    assert_eq!(p.real_servers[0].dest.fwd, ForwardMethod::Masquerade);
    assert!(vs.real_servers[0].node.child("HTTP_GET").is_some());
    assert!(vs.node.child("delay_loop").is_some());
}

#[test]
fn virtual_server_group() {
    let (_, ipvs) = load("virtual_server_group.conf");
    assert!(ipvs.warnings.is_empty(), "{:?}", messages(&ipvs));
    let vs = &ipvs.virtual_servers[0];
    assert_eq!(vs.name, "group WEB");
    // 3 addresses + 8 in the range + 2 marks.
    assert_eq!(vs.pools.len(), 13);
    assert!(vs.pools.iter().all(|p| p.service.flags.persistent));
    assert!(vs.pools.iter().all(|p| p.real_servers.len() == 2));
    assert_eq!(
        vs.pools[12].service.key,
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 2
        }
    );
    assert_eq!(run_everything(&ipvs), 13);
}

#[test]
fn quorum() {
    let (_, ipvs) = load("quorum.conf");
    assert!(ipvs.warnings.is_empty(), "{:?}", messages(&ipvs));
    let vs = &ipvs.virtual_servers[0];
    let p = &vs.pools[0];
    assert_eq!(
        (p.quorum, p.hysteresis, p.alpha, p.omega),
        (7, 2, true, true)
    );
    assert_eq!(vs.quorum_up.as_deref(), Some("/usr/local/sbin/pool-up.sh"));
    assert_eq!(
        vs.quorum_down.as_deref(),
        Some("/usr/local/sbin/pool-down.sh")
    );
    assert_eq!(vs.real_servers.len(), 10);
    // Alpha: the quorum starts lost, and comes up at 9 = 7 + 2 live servers.
    let mut pool = PoolController::new(p.clone()).unwrap();
    assert!(!pool.quorum_up());
    let now = Instant::from_secs(1);
    for i in 0..9 {
        assert!(!pool.quorum_up(), "up after {i}");
        pool.set_verdict(now, &p.real_servers[i].dest.key, Verdict::UP)
            .unwrap();
    }
    assert!(pool.quorum_up());
}

#[test]
fn fwmark() {
    let (_, ipvs) = load("fwmark.conf");
    let m = messages(&ipvs);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].contains(":12:3: protocol is ignored for a fwmark service"),
        "{m:?}"
    );
    let vs = &ipvs.virtual_servers[0];
    assert_eq!(vs.name, "fwmark 1");
    assert_eq!(vs.real_servers[0].address.port(), 0);
}

#[test]
fn ipv6() {
    let (_, ipvs) = load("IPv6.conf");
    assert!(ipvs.warnings.is_empty(), "{:?}", messages(&ipvs));
    let vs = &ipvs.virtual_servers[0];
    assert_eq!(vs.name, "[2001:db8::1]:80/TCP");
    assert_eq!(vs.pools[0].real_servers[0].dest.key.port, 25);
}

#[test]
fn inhibit_misc_udp_ssl() {
    let (_, ipvs) = load("inhibit.conf");
    assert!(ipvs.warnings.is_empty());
    assert!(ipvs.virtual_servers[0].pools[0].real_servers[0].inhibit_on_failure);
    let (_, ipvs) = load("misc_check.conf");
    assert!(ipvs.warnings.is_empty());
    let (_, ipvs) = load("UDP_CHECK.conf");
    assert!(ipvs.warnings.is_empty());
    assert!(ipvs.virtual_servers.iter().all(|v| matches!(
        v.pools[0].service.key,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            ..
        }
    )));
    let (_, ipvs) = load("SSL_GET.conf");
    assert!(ipvs.warnings.is_empty());
    assert_eq!(ipvs.virtual_servers.len(), 2);
}

#[test]
fn lvs_sync_daemon() {
    let (_, ipvs) = load("vrrp.lvs_syncd.conf");
    assert!(ipvs.warnings.is_empty(), "{:?}", messages(&ipvs));
    let s = ipvs.sync_daemon.expect("sync daemon");
    assert_eq!(s.vrrp_instance.as_deref(), Some("VI_1"));
    let d = s.daemon(SyncState::Backup, Some(51));
    assert_eq!((d.mcast_ifn.as_str(), d.sync_id), ("eth1", 51));
}

#[test]
fn failover_pool_keywords_are_warnings() {
    let (_, ipvs) = load("failover_pool.conf");
    let m = messages(&ipvs);
    for kw in [
        "failover_threshold",
        "failover_up",
        "failover_down",
        "backup_real_server",
    ] {
        assert!(
            m.iter()
                .any(|w| w.contains(&format!("unknown keyword {kw}"))),
            "{kw}: {m:?}"
        );
    }
    assert_eq!(m.len(), 4, "{m:?}");
    assert_eq!(ipvs.virtual_servers[0].real_servers.len(), 3);
}

#[test]
fn a_configuration_using_every_keyword() {
    let text = r#"
global_defs {
    router_id everything
    lvs_sync_daemon eth1 inst VI_1 id 3 maxlen 1400 port 8848 ttl 1 group 224.0.0.81
    lvs_timeouts tcp 900 tcpfin 60 udp 120
    lvs_flush
    lvs_flush_on_stop VS
}
virtual_server_group G {
    192.0.2.1 443
    192.0.2.16/30 443
    2001:db8::1-3 443
    fwmark 9 inet
}
virtual_server group G {
    lvs_sched mh
    mh-port
    mh-fallback
    lvs_method TUN type gue port 5555 csum
    protocol TCP
    persistence_timeout 120
    persistence_granularity 255.255.255.0
    quorum 2
    hysteresis 1
    quorum_up "/bin/true up"
    quorum_down /bin/true
    alpha
    omega
    inhibit_on_failure
    weight 10
    delay_loop 2
    connect_timeout 1
    retry 2
    delay_before_retry 1
    warmup 0
    virtualhost example.org
    sorry_server 198.51.100.9 443
    sorry_server_inhibit
    sorry_server_lvs_method TUN type gre csum
    real_server 198.51.100.1 443 {
        weight 3
        uthreshold 1000
        lthreshold 900
        notify_up "/bin/logger up"
        notify_down "/bin/logger down"
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 198.51.100.2 443 {
        lvs_method TUN
        inhibit_on_failure off
        HTTP_GET {
            url {
                path /
            }
        }
    }
}
virtual_server 203.0.113.5 53 {
    lvs_sched sh
    sh-port
    sh-fallback
    ops
    protocol UDP
    ha_suspend
    real_server 198.51.100.5 53 {
        lvs_method DR
        DNS_CHECK {
            name example.org
        }
    }
}
virtual_server fwmark 12 {
    lvs_sched fo
    persistence_engine sip
    persistence_timeout
    ip_family inet
    lvs_method NAT
    real_server 198.51.100.6 5060
}
"#;
    let conf = parse_str(text, &Options::default()).unwrap();
    let ipvs = map(&conf).unwrap();
    // The group mixes families and a fwmark: the IPv4 netmask is not for the IPv6
    // services, and the tunnelled real servers' port 443 is not that of the mark.
    let m = messages(&ipvs);
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(
        m[0].contains(":22:5: persistence_granularity is for IPv4"),
        "{m:?}"
    );
    assert!(
        m[1].contains(":40:5: ") && m[1].contains("its port is ignored"),
        "{m:?}"
    );
    assert!(
        m[2].contains(":50:5: ") && m[2].contains("its port is ignored"),
        "{m:?}"
    );
    assert_eq!(ipvs.virtual_servers.len(), 3);
    let g = &ipvs.virtual_servers[0];
    // 1 + 4 + 3 addresses + 1 mark.
    assert_eq!(g.pools.len(), 9);
    assert!(g.pools[0].service.flags.sched_port && g.pools[0].service.flags.sched_fallback);
    assert!(
        g.pools
            .iter()
            .all(|p| p.sorry_server.is_some() && p.sorry_server_inhibit)
    );
    assert_eq!(g.pools[8].real_servers[0].dest.key.port, 0);
    assert_eq!(run_everything(&ipvs), 11);
    assert!(ipvs.flush_on_start);
    assert!(ipvs.timeouts.is_some());
    assert!(ipvs.virtual_servers[1].ha_suspend);
}

// ---------------------------------------------------------------------------------------
// random configurations

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        // Keywords the mapping knows, in and out of place.
        prop::sample::select(vec![
            "virtual_server",
            "virtual_server_group",
            "real_server",
            "global_defs",
            "lvs_sync_daemon",
            "lvs_timeouts",
            "lvs_flush",
            "lvs_flush_on_stop",
            "lvs_sched",
            "lb_algo",
            "lvs_method",
            "lb_kind",
            "protocol",
            "persistence_timeout",
            "persistence_granularity",
            "persistence_engine",
            "ops",
            "sh-port",
            "mh-fallback",
            "flag-1",
            "quorum",
            "hysteresis",
            "quorum_up",
            "sorry_server",
            "sorry_server_inhibit",
            "sorry_server_lvs_method",
            "inhibit_on_failure",
            "alpha",
            "omega",
            "ha_suspend",
            "weight",
            "ip_family",
            "uthreshold",
            "notify_up",
            "group",
            "fwmark",
            "inst",
            "id",
            "maxlen",
            "port",
            "ttl",
            "tcp",
            "tcpfin",
            "udp",
            "VS",
            "TCP_CHECK",
            "delay_loop",
        ])
        .prop_map(str::to_string),
        // Values.
        prop::sample::select(vec![
            "NAT",
            "DR",
            "TUN",
            "type",
            "gue",
            "gre",
            "ipip",
            "csum",
            "remcsum",
            "TCP",
            "UDP",
            "SCTP",
            "rr",
            "sh",
            "mh",
            "wlc",
            "inet",
            "inet6",
            "on",
            "off",
            "0",
            "1",
            "80",
            "65535",
            "65536",
            "-1",
            "10.0.0.1",
            "10.0.0.1-3",
            "10.0.0.0/30",
            "10.0.0.0/8",
            "2001:db8::1",
            "2001:db8::1-4",
            "::/0",
            "255.255.255.0",
            "64",
            "G",
            "eth0",
            "VI_1",
        ])
        .prop_map(str::to_string),
        "[a-z0-9.:/-]{1,8}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..5).prop_map(|w| w.join(" "))
}

/// A small tree of lines and blocks, up to three levels deep.
fn block(depth: u32) -> BoxedStrategy<String> {
    let leaf = line().boxed();
    if depth == 0 {
        return leaf;
    }
    prop_oneof![
        2 => leaf,
        1 => (line(), prop::collection::vec(block(depth - 1), 0..6))
            .prop_map(|(head, body)| format!("{head} {{\n{}\n}}", body.join("\n"))),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the input, the mapping returns a result; what it maps runs.
    #[test]
    fn random_configurations_never_panic(blocks in prop::collection::vec(block(3), 0..6)) {
        let text = blocks.join("\n");
        if let Ok(conf) = parse_str(&text, &Options::default()) {
            if let Ok(ipvs) = map(&conf) {
                for vs in &ipvs.virtual_servers {
                    for p in &vs.pools {
                        prop_assert!(PoolController::new(p.clone()).is_ok(), "{text}");
                        prop_assert!(p.service.validate().is_ok(), "{text}");
                        prop_assert_eq!(p.real_servers.len(), vs.real_servers.len());
                    }
                }
            }
        }
    }

    /// Valid virtual servers with random values for the common keywords always map.
    #[test]
    fn valid_virtual_servers_map(
        sched in prop::sample::select(vec!["rr", "wrr", "lc", "wlc", "sh", "mh", "fo"]),
        method in prop::sample::select(vec!["NAT", "DR", "TUN", "TUN type gre", "TUN type gue port 6080 csum"]),
        protocol in prop::sample::select(vec!["TCP", "UDP", "SCTP"]),
        port in 1u16..,
        weights in prop::collection::vec(0u32..1000, 1..6),
        quorum in 0u32..5000,
        hysteresis in 0u32..100,
    ) {
        let mut text = format!(
            "virtual_server 192.0.2.1 {port} {{\n lvs_sched {sched}\n lvs_method {method}\n protocol {protocol}\n quorum {quorum}\n hysteresis {hysteresis}\n"
        );
        for (i, w) in weights.iter().enumerate() {
            text.push_str(&format!(" real_server 10.0.0.{} {port} {{\n  weight {w}\n }}\n", i + 1));
        }
        text.push_str("}\n");
        let conf = parse_str(&text, &Options::default()).unwrap();
        let ipvs = map(&conf).unwrap();
        let vs = &ipvs.virtual_servers[0];
        prop_assert_eq!(vs.real_servers.len(), weights.len());
        let pool = &vs.pools[0];
        prop_assert!(pool.quorum >= 1);
        prop_assert!(pool.hysteresis < pool.quorum);
        PoolController::new(pool.clone()).unwrap();
    }
}

/// keepalived's own samples, where the keepalived package is installed (Debian installs
/// them with it): every one maps without an error.
#[test]
fn installed_keepalived_samples_map() {
    let dir = std::path::Path::new("/usr/share/doc/keepalived/samples");
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("{} not found: skipped", dir.display());
        return;
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keepalived.conf.") && !n.ends_with(".gz"))
        })
        .collect();
    names.sort();
    for path in names {
        let conf = parse_file(&path, &Options::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ipvs = map(&conf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for w in &ipvs.warnings {
            eprintln!("{w}");
        }
        run_everything(&ipvs);
    }
}

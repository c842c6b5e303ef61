//! Every operation of [`IpvsClient`] against a real kernel, with `ipvsadm` as the oracle:
//! after each change, the table as we dump it, written as rules
//! ([`ha_ipvs::ipvsadm::save`]), must equal `ipvsadm -Sn`, and what we configured must
//! read back equal. Error cases are run on the kernel and on [`FakeIpvs`] and must give
//! the same errno.
//!
//! These tests flush the IPVS table of the network namespace they run in, so they do
//! nothing unless `HA_IPVS_KERNEL_TESTS=1` is set (they print a skip message instead).
//! `scripts/privileged/ipvs-kernel.sh` runs them in a throw-away QEMU VM with the
//! `ip_vs` modules loaded, `ipvsadm` on `PATH` and a `dummy0` interface; run them there
//! with `--test-threads=1`. `HA_IPVS_BENCH=1` adds timing figures (lines starting
//! `@@BENCH`).
#![cfg(feature = "linux")]

use ha_core::Instant;
use ha_ipvs::client::{ClientConfig, IpvsClient};
use ha_ipvs::model::{
    Destination, Family, ForwardMethod, Netmask, PersistenceEngine, Protocol, Scheduler, Service,
    ServiceKey, SyncDaemon, SyncState, Timeouts, Tunnel, TunnelChecksum,
};
use ha_ipvs::reconcile::{DesiredService, Reconciler, apply, plan};
use ha_ipvs::{Errno, FakeIpvs, IpvsBackend, IpvsError, ipvsadm};
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

fn enabled(test: &str) -> bool {
    let on = std::env::var("HA_IPVS_KERNEL_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("{test}: skipped (set HA_IPVS_KERNEL_TESTS=1 in a disposable VM with ip_vs)");
    }
    on
}

async fn client() -> IpvsClient {
    let c = IpvsClient::connect(ClientConfig {
        request_timeout: Duration::from_secs(30),
    })
    .await
    .expect("the ip_vs module must be loaded");
    c.flush().await.expect("flush");
    c
}

fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ipvsadm_cmd(args: &[&str]) -> String {
    run("ipvsadm", args, None)
}

/// `ipvsadm -Sn` must equal our dump written as rules. Returns the rules.
async fn check_oracle(c: &IpvsClient) -> String {
    let ours = ipvsadm::save(&c.dump().await.expect("dump"));
    let theirs = ipvsadm_cmd(&["-Sn"]);
    assert_eq!(ours, theirs, "our dump (left) vs ipvsadm -Sn (right)");
    ours
}

/// What we configured reads back unchanged.
async fn check_readback(c: &IpvsClient, want: &[DesiredService]) {
    let snap = c.dump().await.expect("dump");
    assert_eq!(snap.services.len(), want.len());
    for w in want {
        let got = snap
            .service(&w.service.key)
            .unwrap_or_else(|| panic!("{:?} missing", w.service.key));
        assert_eq!(got.service, w.service);
        let mut dests: Vec<_> = got.dests.iter().map(|d| d.dest).collect();
        let mut wd = w.dests.clone();
        dests.sort_by_key(|d| d.key);
        wd.sort_by_key(|d| d.key);
        assert_eq!(dests, wd, "destinations of {:?}", w.service.key);
    }
}

fn v4(a: &str, protocol: Protocol, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        addr: a.parse().unwrap(),
        protocol,
        port,
    }
}

fn ip(a: &str) -> IpAddr {
    a.parse().unwrap()
}

fn table() -> Vec<DesiredService> {
    let mut sh = Service::new(v4("10.0.0.5", Protocol::Tcp, 80), Scheduler::Sh);
    sh.flags.sched_fallback = true;
    sh.flags.sched_port = true;
    let mut pers = Service::new(v4("10.0.0.5", Protocol::Tcp, 0), Scheduler::Wlc)
        .persistent(Duration::from_secs(300));
    pers.netmask = Netmask::V4("255.255.255.0".parse().unwrap());
    let mut sip = Service::new(v4("2001:db8::1", Protocol::Udp, 5060), Scheduler::Rr)
        .persistent(Duration::from_secs(60));
    sip.netmask = Netmask::V6(64);
    sip.pe = Some(PersistenceEngine::Sip);
    let mut ops = Service::new(v4("10.0.0.6", Protocol::Udp, 53), Scheduler::Lc);
    ops.flags.one_packet = true;
    let mut mh = Service::new(
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        },
        Scheduler::Mh,
    );
    mh.flags.sched_port = true;
    let fw6 = Service::new(
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 8,
        },
        Scheduler::Wrr,
    );
    let sctp = Service::new(v4("10.0.0.9", Protocol::Sctp, 3868), Scheduler::Nq);
    // Every option at once, to pin the order ipvsadm writes them in.
    let mut all = Service::new(v4("10.0.0.11", Protocol::Udp, 5060), Scheduler::Sh)
        .persistent(Duration::from_secs(30));
    all.netmask = Netmask::V4("255.255.255.128".parse().unwrap());
    all.flags.sched_fallback = true;
    all.flags.sched_flag3 = true;
    all.pe = Some(PersistenceEngine::Sip);
    all.flags.one_packet = true;
    let tun = |t| ForwardMethod::Tunnel(t);
    let mut thr = Destination::new(ip("10.0.0.2"), 8080, ForwardMethod::Masquerade).with_weight(0);
    thr.upper_threshold = 10;
    thr.lower_threshold = 2;
    vec![
        DesiredService {
            service: sh,
            dests: vec![
                thr,
                Destination::new(ip("10.0.0.3"), 80, ForwardMethod::DirectRoute),
                Destination::new(
                    ip("10.0.0.4"),
                    80,
                    tun(Tunnel::Gre {
                        checksum: TunnelChecksum::None,
                    }),
                ),
                Destination::new(
                    ip("10.0.0.6"),
                    80,
                    tun(Tunnel::Gue {
                        port: 6080,
                        checksum: TunnelChecksum::Checksum,
                    }),
                ),
                Destination::new(
                    ip("10.0.0.7"),
                    80,
                    tun(Tunnel::Gue {
                        port: 6081,
                        checksum: TunnelChecksum::Remote,
                    }),
                )
                .with_weight(100),
                Destination::new(
                    ip("10.0.0.8"),
                    80,
                    tun(Tunnel::Gre {
                        checksum: TunnelChecksum::Checksum,
                    }),
                ),
                Destination::new(ip("10.0.0.10"), 80, tun(Tunnel::Ipip)),
            ],
        },
        DesiredService {
            service: pers,
            dests: vec![Destination::new(
                ip("10.0.1.1"),
                0,
                ForwardMethod::DirectRoute,
            )],
        },
        DesiredService {
            service: sip,
            dests: vec![
                Destination::new(ip("2001:db8::2"), 5060, ForwardMethod::Masquerade)
                    .with_weight(i32::MAX as u32),
            ],
        },
        DesiredService {
            service: ops,
            dests: vec![Destination::new(
                ip("10.0.2.1"),
                53,
                ForwardMethod::Masquerade,
            )],
        },
        DesiredService {
            service: mh,
            dests: vec![
                // Mixed families: an IPv6 tunnel endpoint for an IPv4 service.
                Destination::new(ip("2001:db8::9"), 0, tun(Tunnel::Ipip)),
                Destination::new(ip("10.0.3.1"), 0, ForwardMethod::DirectRoute).with_weight(5),
            ],
        },
        DesiredService {
            service: fw6,
            dests: vec![Destination::new(
                ip("2001:db8::5"),
                0,
                ForwardMethod::DirectRoute,
            )],
        },
        DesiredService {
            service: all,
            dests: vec![],
        },
        DesiredService {
            service: sctp,
            dests: vec![Destination::new(
                ip("10.0.4.1"),
                3868,
                ForwardMethod::Masquerade,
            )],
        },
    ]
}

async fn add_all(c: &dyn IpvsBackend, want: &[DesiredService]) {
    for w in want {
        c.add_service(&w.service).await.expect("add service");
        for d in &w.dests {
            c.add_dest(&w.service.key, d).await.expect("add dest");
        }
    }
}

/// Thresholds are not in `ipvsadm -S`: check them in `ipvsadm -Ln --thresholds`.
fn check_thresholds(dest: &str, upper: u32, lower: u32) {
    let out = ipvsadm_cmd(&["-Ln", "--thresholds"]);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("-> {dest} ")))
        .unwrap_or_else(|| panic!("{dest} not in:\n{out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    // "-> ADDR:PORT Uthreshold Lthreshold ActiveConn InActConn"
    assert_eq!(
        (f[2], f[3]),
        (&*upper.to_string(), &*lower.to_string()),
        "{line}"
    );
}

#[tokio::test]
async fn every_kind_of_service_and_destination() {
    if !enabled("every_kind_of_service_and_destination") {
        return;
    }
    let c = client().await;
    let want = table();
    add_all(&c, &want).await;
    let rules = check_oracle(&c).await;
    check_readback(&c, &want).await;
    check_thresholds("10.0.0.2:8080", 10, 2);
    eprintln!("{rules}");
    c.flush().await.unwrap();
    assert_eq!(ipvsadm_cmd(&["-Sn"]), "");
}

#[tokio::test]
async fn ipvsadm_restore_reads_back() {
    if !enabled("ipvsadm_restore_reads_back") {
        return;
    }
    let c = client().await;
    let want = table();
    // Thresholds, and a third flag for sh and mh, are not in the rule text: compare
    // without them.
    let mut plain = want.clone();
    for s in &mut plain {
        if matches!(s.service.scheduler, Scheduler::Sh | Scheduler::Mh) {
            s.service.flags.sched_flag3 = false;
        }
        for d in &mut s.dests {
            d.upper_threshold = 0;
            d.lower_threshold = 0;
        }
    }
    let mut text = String::new();
    for s in &plain {
        text.push_str(&ipvsadm::service_rule(&s.service));
        text.push('\n');
        for d in &s.dests {
            text.push_str(&ipvsadm::dest_rule(&s.service.key, d));
            text.push('\n');
        }
    }
    run("ipvsadm", &["-R"], Some(&text));
    check_oracle(&c).await;
    check_readback(&c, &plain).await;
    assert_eq!(ipvsadm::parse(&text).unwrap(), plain);
}

#[tokio::test]
async fn every_loaded_scheduler() {
    if !enabled("every_loaded_scheduler") {
        return;
    }
    let c = client().await;
    let mut missing = Vec::new();
    for (i, s) in Scheduler::BUILTIN
        .iter()
        .chain([&Scheduler::None])
        .enumerate()
    {
        let svc = Service::new(v4("10.1.0.1", Protocol::Tcp, 1000 + i as u16), s.clone());
        match c.add_service(&svc).await {
            Ok(()) => {}
            Err(IpvsError::Kernel {
                errno: Errno::NoEnt,
                ..
            }) => missing.push(s.name().to_owned()),
            Err(e) => panic!("{}: {e}", s.name()),
        }
    }
    eprintln!("schedulers not in this kernel: {missing:?}");
    // Debian's 6.1 has every one of them as a module except twos (6.8+).
    assert!(missing.iter().all(|m| m == "twos"), "{missing:?}");
    check_oracle(&c).await;
    let snap = c.dump().await.unwrap();
    for e in &snap.services {
        if let ServiceKey::Addr { port, .. } = e.service.key {
            let want = Scheduler::BUILTIN
                .iter()
                .chain([&Scheduler::None])
                .nth(usize::from(port - 1000))
                .unwrap();
            assert_eq!(&e.service.scheduler, want);
        }
    }
}

#[tokio::test]
async fn edit_and_delete() {
    if !enabled("edit_and_delete") {
        return;
    }
    let c = client().await;
    let mut want = table();
    add_all(&c, &want).await;

    // Edit a service: scheduler, persistence, netmask, flags.
    let mut svc = want[0].service.clone().persistent(Duration::from_secs(77));
    svc.scheduler = Scheduler::Mh;
    svc.flags.sched_fallback = false;
    svc.netmask = Netmask::V4("255.255.0.0".parse().unwrap());
    c.edit_service(&svc).await.unwrap();
    want[0].service = svc.clone();
    check_oracle(&c).await;
    check_readback(&c, &want).await;

    // Persistence off again, the engine removed.
    let mut sip = want[2].service.clone();
    sip.flags.persistent = false;
    sip.timeout = Duration::ZERO;
    sip.netmask = Netmask::V6(128);
    sip.pe = None;
    c.edit_service(&sip).await.unwrap();
    let got = c.dump().await.unwrap();
    let got = &got.service(&sip.key).unwrap().service;
    // The kernel keeps the timeout and netmask of a service that stops being
    // persistent; only the flag and the engine change.
    assert!(!got.flags.persistent);
    assert_eq!(got.pe, None);
    want[2].service = got.clone();
    check_oracle(&c).await;

    // Edit destinations: weight, thresholds, forwarding method, tunnel type.
    let mut d = want[0].dests[1];
    d.weight = 42;
    d.upper_threshold = 100;
    d.lower_threshold = 50;
    d.fwd = ForwardMethod::Masquerade;
    c.edit_dest(&svc.key, &d).await.unwrap();
    want[0].dests[1] = d;
    let mut g = want[0].dests[2];
    g.fwd = ForwardMethod::Tunnel(Tunnel::Gue {
        port: 7777,
        checksum: TunnelChecksum::Remote,
    });
    c.edit_dest(&svc.key, &g).await.unwrap();
    want[0].dests[2] = g;
    check_oracle(&c).await;
    check_readback(&c, &want).await;
    check_thresholds("10.0.0.3:80", 100, 50);

    // Delete a destination, then services.
    c.del_dest(&svc.key, &want[0].dests[0].key).await.unwrap();
    want[0].dests.remove(0);
    c.del_service(&want[4].service.key).await.unwrap();
    want.remove(4);
    check_oracle(&c).await;
    check_readback(&c, &want).await;
    for w in &want {
        c.del_service(&w.service.key).await.unwrap();
    }
    assert_eq!(check_oracle(&c).await, "");
}

/// Each case on a table holding one service (rr, TCP 198.51.100.1:80) with one NAT
/// destination (203.0.113.1:8080), and a master sync daemon on `dummy0`.
async fn error_cases(b: &dyn IpvsBackend) -> Vec<(&'static str, Result<(), Option<Errno>>)> {
    let k = v4("198.51.100.1", Protocol::Tcp, 80);
    let missing = v4("198.51.100.1", Protocol::Tcp, 81);
    let d = |last: u8| {
        Destination::new(
            ip(&format!("203.0.113.{last}")),
            8080,
            ForwardMethod::Masquerade,
        )
    };
    b.flush().await.unwrap();
    let _ = b.stop_daemon(SyncState::Master).await;
    let _ = b.stop_daemon(SyncState::Backup).await;
    b.add_service(&Service::new(k, Scheduler::Rr))
        .await
        .unwrap();
    b.add_dest(&k, &d(1)).await.unwrap();
    let mut out = Vec::new();
    let mut rec = |name, r: Result<(), IpvsError>| {
        if let Err(e) = &r {
            if e.errno().is_none() {
                eprintln!("{name}: {e:?}");
            }
        }
        out.push((name, r.map_err(|e| e.errno())));
    };
    rec(
        "add service twice",
        b.add_service(&Service::new(k, Scheduler::Rr)).await,
    );
    rec(
        "edit missing service",
        b.edit_service(&Service::new(missing, Scheduler::Rr)).await,
    );
    rec("delete missing service", b.del_service(&missing).await);
    rec(
        "unknown scheduler",
        b.add_service(&Service::new(missing, Scheduler::Other("nosuch".into())))
            .await,
    );
    let mut pe = Service::new(missing, Scheduler::Rr);
    pe.pe = Some(PersistenceEngine::Other("nosuchpe".into()));
    rec("unknown persistence engine", b.add_service(&pe).await);
    let mut edit_pe = Service::new(k, Scheduler::Rr);
    edit_pe.pe = Some(PersistenceEngine::Other("nosuchpe".into()));
    rec("edit to unknown engine", b.edit_service(&edit_pe).await);
    rec(
        "edit to unknown scheduler",
        b.edit_service(&Service::new(k, Scheduler::Other("nosuch".into())))
            .await,
    );
    let mut tcp_ops = Service::new(v4("198.51.100.2", Protocol::Tcp, 80), Scheduler::Rr);
    tcp_ops.flags.one_packet = true;
    rec("one-packet TCP service", b.add_service(&tcp_ops).await);
    rec("dest to missing service", b.add_dest(&missing, &d(1)).await);
    rec("dest twice", b.add_dest(&k, &d(1)).await);
    rec("edit missing dest", b.edit_dest(&k, &d(2)).await);
    rec(
        "edit dest of missing service",
        b.edit_dest(&missing, &d(1)).await,
    );
    rec("delete missing dest", b.del_dest(&k, &d(9).key).await);
    rec(
        "delete dest of missing service",
        b.del_dest(&missing, &d(1).key).await,
    );
    let mut th = d(3);
    th.lower_threshold = 5;
    th.upper_threshold = 1;
    rec("lower threshold above upper", b.add_dest(&k, &th).await);
    rec(
        "weight above INT_MAX",
        b.add_dest(&k, &d(4).with_weight(i32::MAX as u32 + 1)).await,
    );
    let v6nat = Destination::new(ip("2001:db8::7"), 8080, ForwardMethod::Masquerade);
    rec(
        "IPv6 NAT dest for IPv4 service",
        b.add_dest(&k, &v6nat).await,
    );
    let gue0 = Destination::new(
        ip("203.0.113.5"),
        8080,
        ForwardMethod::Tunnel(Tunnel::Gue {
            port: 0,
            checksum: TunnelChecksum::None,
        }),
    );
    rec("GUE tunnel without port", b.add_dest(&k, &gue0).await);
    let mcast = Destination::new(ip("224.0.0.1"), 8080, ForwardMethod::Masquerade);
    rec("multicast dest", b.add_dest(&k, &mcast).await);
    rec("zero missing service", b.zero(Some(&missing)).await);
    rec("zero all", b.zero(None).await);
    rec("zero one", b.zero(Some(&k)).await);
    rec(
        "stop daemon not running",
        b.stop_daemon(SyncState::Master).await,
    );
    rec(
        "daemon on missing interface",
        b.start_daemon(&SyncDaemon::new(SyncState::Master, "nosuch0", 1))
            .await,
    );
    rec(
        "start master daemon",
        b.start_daemon(&SyncDaemon::new(SyncState::Master, "dummy0", 1))
            .await,
    );
    rec(
        "start master daemon twice",
        b.start_daemon(&SyncDaemon::new(SyncState::Master, "dummy0", 2))
            .await,
    );
    let tun6 = Destination::new(ip("2001:db8::8"), 8080, ForwardMethod::Tunnel(Tunnel::Ipip));
    rec(
        "mixed-family dest while a daemon runs",
        b.add_dest(&k, &tun6).await,
    );
    rec("stop master daemon", b.stop_daemon(SyncState::Master).await);
    rec("mixed-family tunnel dest", b.add_dest(&k, &tun6).await);
    rec("delete service", b.del_service(&k).await);
    rec("delete it again", b.del_service(&k).await);
    b.flush().await.unwrap();
    out
}

#[tokio::test]
async fn errors_match_the_fake() {
    if !enabled("errors_match_the_fake") {
        return;
    }
    let c = client().await;
    let kernel = error_cases(&c).await;
    let fake = FakeIpvs::new();
    fake.set_interfaces(["lo", "dummy0"]);
    let faked = error_cases(&fake).await;
    let mut bad = Vec::new();
    for ((name, k), (_, f)) in kernel.iter().zip(&faked) {
        eprintln!("{name:40} kernel {k:?} fake {f:?}");
        if k != f {
            bad.push(*name);
        }
    }
    assert!(
        bad.is_empty(),
        "the fake differs from the kernel on {bad:?}"
    );
    // Spot checks of the kernel's own answers.
    let get = |n: &str| kernel.iter().find(|(name, _)| *name == n).unwrap().1;
    assert_eq!(get("add service twice"), Err(Some(Errno::Exist)));
    assert_eq!(get("edit missing service"), Err(Some(Errno::Srch)));
    assert_eq!(get("unknown scheduler"), Err(Some(Errno::NoEnt)));
    assert_eq!(get("edit missing dest"), Err(Some(Errno::NoEnt)));
    assert_eq!(get("lower threshold above upper"), Err(Some(Errno::Range)));
}

#[tokio::test]
async fn sync_daemons() {
    if !enabled("sync_daemons") {
        return;
    }
    let c = client().await;
    let _ = c.stop_daemon(SyncState::Master).await;
    let _ = c.stop_daemon(SyncState::Backup).await;
    assert!(c.daemons().await.unwrap().is_empty());
    let mut master = SyncDaemon::new(SyncState::Master, "dummy0", 5);
    master.sync_maxlen = Some(1400);
    master.mcast_group = Some(ip("239.1.2.3"));
    master.mcast_port = Some(8849);
    master.mcast_ttl = Some(3);
    c.start_daemon(&master).await.unwrap();
    let backup = SyncDaemon::new(SyncState::Backup, "dummy0", 9);
    c.start_daemon(&backup).await.unwrap();
    let mut got = c.daemons().await.unwrap();
    got.sort_by_key(|d| d.state);
    eprintln!("{got:#?}");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].state, SyncState::Master);
    assert_eq!(got[0].mcast_ifn, "dummy0");
    assert_eq!(got[0].sync_id, 5);
    assert_eq!(got[0].sync_maxlen, Some(1400));
    assert_eq!(got[0].mcast_group, Some(ip("239.1.2.3")));
    assert_eq!(got[0].mcast_port, Some(8849));
    assert_eq!(got[0].mcast_ttl, Some(3));
    assert_eq!((got[1].state, got[1].sync_id), (SyncState::Backup, 9));
    let text = ipvsadm_cmd(&["-Ln", "--daemon"]);
    eprintln!("{text}");
    assert!(
        text.contains("master sync daemon (mcast=dummy0, syncid=5"),
        "{text}"
    );
    assert!(
        text.contains("backup sync daemon (mcast=dummy0, syncid=9"),
        "{text}"
    );
    c.stop_daemon(SyncState::Master).await.unwrap();
    c.stop_daemon(SyncState::Backup).await.unwrap();
    assert!(c.daemons().await.unwrap().is_empty());
    assert_eq!(ipvsadm_cmd(&["-Ln", "--daemon"]), "");
}

#[tokio::test]
async fn timeouts_info_zero_flush() {
    if !enabled("timeouts_info_zero_flush") {
        return;
    }
    let c = client().await;
    let before = c.timeouts().await.unwrap();
    let t = Timeouts {
        tcp: Duration::from_secs(7),
        tcp_fin: Duration::from_secs(8),
        udp: Duration::from_secs(9),
    };
    c.set_timeouts(&t).await.unwrap();
    assert_eq!(c.timeouts().await.unwrap(), t);
    assert!(ipvsadm_cmd(&["-Ln", "--timeout"]).contains("Timeout (tcp tcpfin udp): 7 8 9"));
    // Zero leaves a value unchanged.
    c.set_timeouts(&Timeouts {
        tcp: Duration::ZERO,
        tcp_fin: Duration::from_secs(1),
        udp: Duration::ZERO,
    })
    .await
    .unwrap();
    assert_eq!(c.timeouts().await.unwrap().tcp_fin, Duration::from_secs(1));
    assert_eq!(c.timeouts().await.unwrap().tcp, Duration::from_secs(7));
    ipvsadm_cmd(&["--set", "11", "12", "13"]);
    assert_eq!(
        c.timeouts().await.unwrap(),
        Timeouts {
            tcp: Duration::from_secs(11),
            tcp_fin: Duration::from_secs(12),
            udp: Duration::from_secs(13),
        }
    );
    c.set_timeouts(&before).await.unwrap();

    let info = c.info().await.unwrap();
    eprintln!("{info:?}");
    assert_eq!((info.version.major, info.version.minor), (1, 2));
    assert!(ipvsadm_cmd(&["-Ln"]).contains(&format!(
        "IP Virtual Server version {}.{}.{} (size={})",
        info.version.major, info.version.minor, info.version.patch, info.conn_table_size
    )));

    add_all(&c, &table()).await;
    c.zero(None).await.unwrap();
    c.zero(Some(&table()[0].service.key)).await.unwrap();
    let fw = ServiceKey::Fwmark {
        family: Family::V6,
        mark: 8,
    };
    c.zero(Some(&fw)).await.unwrap();
    let snap = c.dump().await.unwrap();
    assert!(snap.services.iter().all(|s| s.stats.0.conns == 0));
    c.flush().await.unwrap();
    assert!(c.dump().await.unwrap().services.is_empty());
    assert_eq!(ipvsadm_cmd(&["-Sn"]), "");
    let stats = c.stats();
    eprintln!("{stats:?}");
    assert_eq!(stats.timeouts, 0);
    assert_eq!(stats.malformed_replies, 0);
}

/// `n` services × `per` destinations: TCP 10.(i/256).(i%256).1:80 → 172.16.j.(i%250+1).
fn large(n: usize, per: usize) -> Vec<DesiredService> {
    (0..n)
        .map(|i| {
            let addr = format!("10.{}.{}.1", 100 + i / 256, i % 256);
            DesiredService {
                service: Service::new(v4(&addr, Protocol::Tcp, 80), Scheduler::Wlc),
                dests: (0..per)
                    .map(|j| {
                        Destination::new(
                            ip(&format!("172.16.{}.{}", j, i % 250 + 1)),
                            8080,
                            ForwardMethod::Masquerade,
                        )
                        .with_weight(1 + (i + j) as u32 % 10)
                    })
                    .collect(),
            }
        })
        .collect()
}

fn bench(what: &str, d: Duration) {
    if std::env::var("HA_IPVS_BENCH").as_deref() == Ok("1") {
        println!("@@BENCH {what}: {:.1} ms", d.as_secs_f64() * 1e3);
    }
    eprintln!("{what}: {d:?}");
}

#[tokio::test]
async fn large_table_and_benchmarks() {
    if !enabled("large_table_and_benchmarks") {
        return;
    }
    let c = client().await;
    let want = large(1000, 10);
    let mut rec = Reconciler::new(None);

    // Ours: plan from an empty table and apply, one netlink request per operation.
    let t = std::time::Instant::now();
    let empty = c.dump().await.unwrap();
    let p = rec.plan(Instant::ZERO, &want, &empty);
    assert_eq!(p.ops.len(), 11_000);
    apply(&c, &p.ops).await.unwrap();
    let ours = t.elapsed();
    bench("apply 1000x10 from empty (reconciler + IpvsClient)", ours);

    // The oracle agrees, entry for entry.
    let rules = check_oracle(&c).await;
    assert_eq!(rules.lines().count(), 11_000);
    check_readback(&c, &want).await;

    // A no-op reconcile: one dump, an empty plan.
    let t = std::time::Instant::now();
    let snap = c.dump().await.unwrap();
    let dump_time = t.elapsed();
    let t = std::time::Instant::now();
    let p = rec.plan(Instant::ZERO, &want, &snap);
    let plan_time = t.elapsed();
    assert!(p.ops.is_empty());
    bench("no-op reconcile: dump 1000x10", dump_time);
    bench("no-op reconcile: plan 1000x10", plan_time);
    bench("no-op reconcile: total", dump_time + plan_time);

    // One destination changes: one operation.
    let mut changed = want.clone();
    changed[500].dests[3].weight = 77;
    let p = rec.plan(Instant::ZERO, &changed, &snap);
    assert_eq!(p.ops.len(), 1, "{:?}", p.ops);
    let before = c.stats().requests;
    let t = std::time::Instant::now();
    apply(&c, &p.ops).await.unwrap();
    bench("apply one changed destination", t.elapsed());
    assert_eq!(c.stats().requests - before, 1);
    let mut removed = want.clone();
    removed[10].dests.pop();
    assert_eq!(plan(&removed, &snap).len(), 1);

    // The dump's parts: the destination dumps alone, decoded to messages only.
    let t = std::time::Instant::now();
    for w in &want {
        let m = c
            .request(&ha_ipvs::model::request::get_dests(&w.service.key), true)
            .await
            .unwrap();
        assert_eq!(m.len(), 10);
    }
    bench("1000 GET_DEST dumps, decoded to messages only", t.elapsed());

    // The cost of one netlink round trip here, to scale the figures above.
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        c.info().await.unwrap();
    }
    bench("1000 GET_INFO round trips", t.elapsed());

    // ipvsadm --restore of the same table, from an empty table.
    c.flush().await.unwrap();
    let t = std::time::Instant::now();
    run("ipvsadm", &["-R"], Some(&rules));
    let theirs = t.elapsed();
    bench("ipvsadm --restore 1000x10 from empty", theirs);
    bench("ipvsadm -Sn 1000x10", {
        let t = std::time::Instant::now();
        let again = ipvsadm_cmd(&["-Sn"]);
        let d = t.elapsed();
        assert_eq!(again, rules);
        d
    });
    if std::env::var("HA_IPVS_BENCH").as_deref() == Ok("1") {
        println!(
            "@@BENCH ratio ours/ipvsadm-restore: {:.2}",
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
    check_readback(&c, &want).await;
    c.flush().await.unwrap();
}

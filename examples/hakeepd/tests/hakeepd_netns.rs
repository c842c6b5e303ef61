//! Privileged: `hakeepd` on real networks, in network namespaces.
//!
//! - One keepalived.conf, run by keepalived 2.2.7 and by hakeepd (`@a` / `@b` lines give
//!   the two sides their priorities): each wins as the higher priority, nobody flaps,
//!   a SIGKILL moves the address to the other, the returning router preempts back.
//! - Reload (SIGHUP) keeps the Master and never drops its address, live priority
//!   changes included, while the keepalived Backup never takes over.
//! - The control API changes the priority and the addresses without a reload, and the
//!   metrics follow the transitions.
//!
//! The namespaces and every process are removed by the lab, also on failure. Run as
//! root by scripts/test.sh (`cargo test -- --ignored`).

#[path = "../../../vrrp/tests/netns/mod.rs"]
mod netns;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use netns::{Lab, keepalived_or_skip, root_or_skip, wait_for};
use rustix::process::Signal;

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100));
const HTTP_PORT: u16 = 9650;

fn config(extra_instance_lines: &str) -> String {
    format!(
        "global_defs {{\n    vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n\
         @a  priority 150\n@b  priority 100\n    advert_int 0.1\n{extra_instance_lines}\
         \n    virtual_ipaddress {{\n        10.99.0.100/24\n    }}\n}}\n"
    )
}

/// Starts hakeepd in namespace `i` with config id `id`.
fn start_hakeepd(lab: &Lab, i: usize, conf: &Path, id: &str, log: &str) -> u32 {
    let pid_file = lab.dir.join(format!("hakeepd{i}.pid"));
    let pid = lab.spawn(
        i,
        log,
        &[
            env!("CARGO_BIN_EXE_hakeepd"),
            "-f",
            conf.to_str().unwrap(),
            "-i",
            id,
            "--http",
            &format!("127.0.0.1:{HTTP_PORT}"),
            "--dump-dir",
            lab.dir.to_str().unwrap(),
            "-p",
            pid_file.to_str().unwrap(),
        ],
    );
    // Ready when the endpoint answers.
    let ns = lab.ns(i);
    wait_for(Duration::from_secs(10), || {
        http(&ns, "GET", "/status").is_some()
    })
    .expect("hakeepd answers on its endpoint");
    pid
}

fn start_keepalived(lab: &Lab, i: usize, conf: &Path, id: &str, log: &str) -> u32 {
    // Pid files per start: a killed keepalived's child may linger as a zombie for a
    // moment, and keepalived refuses to start while its pid file names a live pid.
    let tag = format!("ka{i}-{}", log.trim_end_matches(".log"));
    let pid = lab.dir.join(format!("{tag}.pid"));
    let vrrp_pid = lab.dir.join(format!("{tag}-vrrp.pid"));
    lab.spawn(
        i,
        log,
        &[
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            conf.to_str().unwrap(),
            "-i",
            id,
            "-p",
            pid.to_str().unwrap(),
            "-r",
            vrrp_pid.to_str().unwrap(),
        ],
    )
}

/// Sends SIGHUP to the daemon (`ip netns exec` execs it: same pid).
fn hup(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(pid, Signal::HUP).expect("SIGHUP");
}

/// One HTTP request to hakeepd's endpoint inside namespace `ns`: (status code, body).
fn http(ns: &str, method: &str, path: &str) -> Option<(u16, String)> {
    let ns = ns.to_string();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    thread::spawn(move || -> Option<(u16, String)> {
        ha_core::testbed::enter_namespace(&ns).ok()?;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", HTTP_PORT)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(request.as_bytes()).ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        Some((code, body.to_string()))
    })
    .join()
    .ok()
    .flatten()
}

fn status(ns: &str) -> serde_json::Value {
    let (code, body) = http(ns, "GET", "/status").expect("status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

fn state(ns: &str) -> String {
    status(ns)["instances"][0]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The VIP is on exactly one side: `owner`.
fn only_on(lab: &Lab, owner: usize) -> bool {
    let other = 3 - owner;
    lab.has(owner, VIP) && !lab.has(other, VIP)
}

/// Samples VIP ownership every 10 ms for `window`; the first sample where it is not on
/// `owner` alone, if any.
fn steady(lab: &Lab, owner: usize, window: Duration) -> Result<(), String> {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if !only_on(lab, owner) {
            return Err(format!(
                "VIP not on {owner} alone: 1 has {}, 2 has {}",
                lab.has(1, VIP),
                lab.has(2, VIP)
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

#[test]
#[ignore = "privileged: network namespaces, keepalived, raw sockets"]
fn one_config_interoperates_with_keepalived_both_ways() {
    if !root_or_skip("one_config_interoperates_with_keepalived_both_ways")
        || !keepalived_or_skip("one_config_interoperates_with_keepalived_both_ways")
    {
        return;
    }
    for ours_master in [true, false] {
        let lab = Lab::new(if ours_master { "hkm" } else { "hkb" }, 2);
        let conf = lab.dir.join("keepalived.conf");
        std::fs::write(&conf, config("")).unwrap();
        // Namespace 1 runs hakeepd, 2 runs keepalived; `a` is the higher priority.
        let (ours_id, theirs_id) = if ours_master { ("a", "b") } else { ("b", "a") };
        let (master, backup) = if ours_master { (1, 2) } else { (2, 1) };
        let ours = start_hakeepd(&lab, 1, &conf, ours_id, "hakeepd.log");
        let theirs = start_keepalived(&lab, 2, &conf, theirs_id, "keepalived.log");
        assert!(
            wait_for(Duration::from_secs(8), || only_on(&lab, master)).is_some(),
            "ours_master={ours_master}: the VIP should be on {master} alone\n{}",
            lab.log("hakeepd.log")
        );
        // 30 adverts without a flap.
        steady(&lab, master, Duration::from_secs(3)).unwrap_or_else(|e| {
            panic!(
                "ours_master={ours_master}: {e}\n{}",
                lab.log("keepalived.log")
            )
        });
        let expected = if ours_master { "MASTER" } else { "BACKUP" };
        assert_eq!(state(&lab.ns(1)), expected);
        // The Master crashes: the VIP appears on the Backup.
        let (killed, restart_id) = if ours_master {
            lab.signal(ours, Signal::KILL);
            (1, ours_id)
        } else {
            lab.signal(theirs, Signal::KILL);
            (2, theirs_id)
        };
        assert!(
            wait_for(Duration::from_secs(3), || lab.has(backup, VIP)).is_some(),
            "ours_master={ours_master}: the Backup did not take over"
        );
        // The crashed router left its address behind, as after any crash; it removes it
        // at start and preempts back.
        if killed == 1 {
            start_hakeepd(&lab, 1, &conf, restart_id, "hakeepd2.log");
        } else {
            start_keepalived(&lab, 2, &conf, restart_id, "keepalived2.log");
        }
        assert!(
            wait_for(Duration::from_secs(8), || only_on(&lab, master)).is_some(),
            "ours_master={ours_master}: the returning Master did not preempt back"
        );
        steady(&lab, master, Duration::from_secs(1)).unwrap();
    }
}

#[test]
#[ignore = "privileged: network namespaces, keepalived, raw sockets"]
fn control_api_changes_take_effect_without_reload_and_metrics_follow() {
    if !root_or_skip("control_api") || !keepalived_or_skip("control_api") {
        return;
    }
    let lab = Lab::new("hkc", 2);
    let conf = lab.dir.join("keepalived.conf");
    std::fs::write(&conf, config("")).unwrap();
    start_hakeepd(&lab, 1, &conf, "a", "hakeepd.log");
    start_keepalived(&lab, 2, &conf, "b", "keepalived.log");
    assert!(wait_for(Duration::from_secs(8), || only_on(&lab, 1)).is_some());
    let ns = lab.ns(1);
    // Lower our priority below keepalived's: it preempts.
    let (code, body) = http(&ns, "POST", "/vrrp/VI_1/priority/50").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        wait_for(Duration::from_secs(3), || only_on(&lab, 2)).is_some(),
        "keepalived did not preempt after our priority dropped"
    );
    assert!(wait_for(Duration::from_secs(2), || state(&ns) == "BACKUP").is_some());
    // Raise it again: we preempt back.
    assert_eq!(http(&ns, "POST", "/vrrp/VI_1/priority/200").unwrap().0, 200);
    assert!(wait_for(Duration::from_secs(3), || only_on(&lab, 1)).is_some());
    // Refusals are typed and leave state alone.
    assert_eq!(http(&ns, "POST", "/vrrp/VI_1/priority/255").unwrap().0, 400);
    assert_eq!(http(&ns, "POST", "/vrrp/NOPE/priority/20").unwrap().0, 400);
    assert_eq!(http(&ns, "GET", "/vrrp/VI_1/priority/20").unwrap().0, 405);
    // Add a virtual address live (keepalived sees a different address count and logs
    // it, as it does between two keepalived with different lists).
    let extra: IpAddr = "10.99.0.101".parse().unwrap();
    assert_eq!(
        http(&ns, "POST", "/vrrp/VI_1/addresses/10.99.0.101")
            .unwrap()
            .0,
        200
    );
    assert!(wait_for(Duration::from_secs(2), || lab.has(1, extra)).is_some());
    assert!(lab.has(1, VIP));
    assert_eq!(
        http(&ns, "DELETE", "/vrrp/VI_1/addresses/10.99.0.101")
            .unwrap()
            .0,
        200
    );
    assert!(wait_for(Duration::from_secs(2), || !lab.has(1, extra)).is_some());
    assert!(lab.has(1, VIP));
    // Metrics reflect the transitions: MASTER, BACKUP (preempted), MASTER again.
    let (code, metrics) = http(&ns, "GET", "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("hakeepd_vrrp_state{instance=\"VI_1\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hakeepd_vrrp_priority{instance=\"VI_1\"} 200"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hakeepd_vrrp_transitions_total{instance=\"VI_1\",state=\"MASTER\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hakeepd_vrrp_transitions_total{instance=\"VI_1\",state=\"BACKUP\"} 2"),
        "{metrics}"
    );
}

#[test]
#[ignore = "privileged: network namespaces, keepalived, raw sockets"]
fn reload_keeps_master_and_address_while_keepalived_stays_backup() {
    if !root_or_skip("reload_keeps_master") || !keepalived_or_skip("reload_keeps_master") {
        return;
    }
    let lab = Lab::new("hkr", 2);
    let conf = lab.dir.join("keepalived.conf");
    std::fs::write(&conf, config("")).unwrap();
    // keepalived reads its own copy once; ours is rewritten between reloads.
    let theirs_conf = lab.dir.join("theirs.conf");
    std::fs::write(&theirs_conf, config("")).unwrap();
    let ours = start_hakeepd(&lab, 1, &conf, "a", "hakeepd.log");
    start_keepalived(&lab, 2, &theirs_conf, "b", "keepalived.log");
    assert!(wait_for(Duration::from_secs(8), || only_on(&lab, 1)).is_some());
    // Sample the address continuously while reloading.
    let stop = Arc::new(AtomicBool::new(false));
    let misses = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, misses, samples) = (stop.clone(), misses.clone(), samples.clone());
        let ns = lab.ns(1);
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["-n", &ns, "-o", "addr", "show", "dev", "eth0"])
                    .output()
                    .expect("ip");
                samples.fetch_add(1, Ordering::Relaxed);
                if !String::from_utf8_lossy(&out.stdout).contains("10.99.0.100/") {
                    misses.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // 1: a priority change, applied live.
    std::fs::write(
        &conf,
        config("").replace("@a  priority 150", "@a  priority 170"),
    )
    .unwrap();
    hup(ours);
    assert!(
        wait_for(Duration::from_secs(5), || status(&lab.ns(1))["reloads"]
            == 1)
        .is_some(),
        "first reload not done:\n{}",
        lab.log("hakeepd.log")
    );
    thread::sleep(Duration::from_millis(500));
    // 2: a change that restarts the instance in its current state (nopreempt).
    std::fs::write(
        &conf,
        config("    nopreempt\n    notify_master /bin/true\n")
            .replace("@a  priority 150", "@a  priority 170"),
    )
    .unwrap();
    hup(ours);
    assert!(
        wait_for(Duration::from_secs(5), || status(&lab.ns(1))["reloads"]
            == 2)
        .is_some(),
        "second reload not done:\n{}",
        lab.log("hakeepd.log")
    );
    thread::sleep(Duration::from_millis(500));
    // 3: a rename: keepalived matches instances by VRID, family and interface, so the
    // renamed instance keeps its state.
    std::fs::write(
        &conf,
        config("    nopreempt\n    notify_master /bin/true\n")
            .replace("@a  priority 150", "@a  priority 170")
            .replace("VI_1", "VI_RENAMED"),
    )
    .unwrap();
    hup(ours);
    assert!(
        wait_for(Duration::from_secs(5), || status(&lab.ns(1))["reloads"]
            == 3)
        .is_some(),
        "third reload not done:\n{}",
        lab.log("hakeepd.log")
    );
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let s = status(&lab.ns(1));
    assert_eq!(s["instances"][0]["name"], "VI_RENAMED");
    assert_eq!(s["instances"][0]["state"], "MASTER");
    assert_eq!(s["instances"][0]["priority"], 170);
    assert!(samples.load(Ordering::Relaxed) > 20);
    assert_eq!(
        misses.load(Ordering::Relaxed),
        0,
        "the VIP was missing in {} of {} samples during the reloads\n{}",
        misses.load(Ordering::Relaxed),
        samples.load(Ordering::Relaxed),
        lab.log("hakeepd.log")
    );
    assert!(
        !lab.log("keepalived.log").contains("Entering MASTER STATE"),
        "keepalived took over during a reload:\n{}",
        lab.log("keepalived.log")
    );
    // A configuration that does not load is rejected; the running one stays.
    std::fs::write(&conf, "vrrp_instance VI_1 {\n virtual_router_id 999\n}\n").unwrap();
    hup(ours);
    assert!(
        wait_for(
            Duration::from_secs(5),
            || status(&lab.ns(1))["failed_reloads"] == 1
        )
        .is_some()
    );
    assert_eq!(state(&lab.ns(1)), "MASTER");
    assert!(only_on(&lab, 1));
}

#[test]
#[ignore = "privileged: network namespaces, raw sockets"]
fn sync_group_members_move_together_and_survive_a_reload() {
    if !root_or_skip("sync_group_members_move_together") {
        return;
    }
    let lab = Lab::new("hks", 2);
    let conf = lab.dir.join("keepalived.conf");
    // VI_2 tracks a script that fails while the flag file exists (weight 0: FAULT). The
    // group makes VI_1 follow it.
    let flag = lab.dir.join("fail-a");
    let text = format!(
        "global_defs {{\n    vrrp_version 3\n}}\n\
        vrrp_script chk {{\n    script \"/bin/sh -c '! test -e {flag}'\"\n    interval 1\n}}\n\
        vrrp_sync_group G1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n\
        vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n\
        @a  priority 150\n@b  priority 100\n    advert_int 0.1\n\
        \n    virtual_ipaddress {{\n        10.99.0.100/24\n    }}\n}}\n\
        vrrp_instance VI_2 {{\n    interface eth0\n    virtual_router_id 52\n\
        @a  priority 150\n@b  priority 100\n    advert_int 0.1\n\
        @a  track_script {{\n@a      chk\n@a  }}\n\
        \n    virtual_ipaddress {{\n        10.99.0.101/24\n    }}\n}}\n",
        flag = flag.display()
    );
    std::fs::write(&conf, &text).unwrap();
    let ours_a = start_hakeepd(&lab, 1, &conf, "a", "a.log");
    start_hakeepd(&lab, 2, &conf, "b", "b.log");
    let vip2: IpAddr = "10.99.0.101".parse().unwrap();
    let both_on = |i: usize| {
        lab.has(i, VIP) && lab.has(i, vip2) && !lab.has(3 - i, VIP) && !lab.has(3 - i, vip2)
    };
    assert!(
        wait_for(Duration::from_secs(8), || both_on(1)).is_some(),
        "the group should be Master on a:\n{}",
        lab.log("a.log")
    );
    // VI_2's script fails on a: the whole group goes to FAULT there and both members
    // move to b.
    std::fs::write(&flag, "").unwrap();
    assert!(
        wait_for(Duration::from_secs(6), || both_on(2)).is_some(),
        "both members should move to b:\n{}\n{}",
        lab.log("a.log"),
        lab.log("b.log")
    );
    let s = status(&lab.ns(1));
    assert_eq!(s["instances"][0]["state"], "FAULT", "{s}");
    assert_eq!(s["instances"][1]["state"], "FAULT", "{s}");
    assert_eq!(s["tracked"]["script:chk"], "DOWN", "{s}");
    // The script passes again: a takes the group back.
    std::fs::remove_file(&flag).unwrap();
    assert!(wait_for(Duration::from_secs(6), || both_on(1)).is_some());
    // A reload that restarts one member in place keeps the group Master on a.
    std::fs::write(
        &conf,
        text.replace(
            "virtual_router_id 52\n",
            "virtual_router_id 52\n    nopreempt\n",
        ),
    )
    .unwrap();
    hup(ours_a);
    assert!(
        wait_for(Duration::from_secs(5), || status(&lab.ns(1))["reloads"]
            == 1)
        .is_some()
    );
    thread::sleep(Duration::from_secs(1));
    assert!(both_on(1), "after the reload:\n{}", lab.log("a.log"));
    let s = status(&lab.ns(1));
    for i in 0..2 {
        assert_eq!(s["instances"][i]["state"], "MASTER", "{s}");
    }
}

/// Three routers, two VRIDs in one sync group, with crossed priorities below the top
/// router: b wins VI_1, c wins VI_2. When a leaves (SIGTERM: priority-0 adverts), b's and
/// c's groups reach Master_Down at the same instant, both become Master, and each is
/// preempted on one VRID; with the group rule alone they then kept colliding every
/// Master_Down_Interval (seen in the chaos soak for up to 13.5 s on a loaded machine).
/// The tie-break settles it on one router after one collision. On a quiet machine the
/// timing noise between processes usually breaks the tie anyway (this test passed 3 of 3
/// runs without the tie-break), so it checks the end-to-end outcome; the deterministic
/// proof is the simulator test `crossed_groups_that_collide_settle_on_one_master` in
/// `vrrp/tests/sync_groups.rs`.
#[test]
#[ignore = "privileged: network namespaces, raw sockets"]
fn crossed_sync_groups_settle_when_the_master_leaves() {
    if !root_or_skip("crossed_sync_groups_settle_when_the_master_leaves") {
        return;
    }
    let lab = Lab::new("hkx", 3);
    let conf = lab.dir.join("keepalived.conf");
    let text = "global_defs {\n    vrrp_version 3\n}\n\
        vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n\
        vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n\
        @a  priority 150\n@b  priority 100\n@c  priority 50\n    advert_int 0.1\n\
        \n    virtual_ipaddress {\n        10.99.0.100/24\n    }\n}\n\
        vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 52\n\
        @a  priority 150\n@b  priority 50\n@c  priority 100\n    advert_int 0.1\n\
        \n    virtual_ipaddress {\n        10.99.0.101/24\n    }\n}\n";
    std::fs::write(&conf, text).unwrap();
    let a = start_hakeepd(&lab, 1, &conf, "a", "a.log");
    start_hakeepd(&lab, 2, &conf, "b", "b.log");
    start_hakeepd(&lab, 3, &conf, "c", "c.log");
    let vip2: IpAddr = "10.99.0.101".parse().unwrap();
    let holder = |lab: &Lab| -> Option<usize> {
        let holders: Vec<usize> = (1..=3)
            .filter(|i| lab.has(*i, VIP) || lab.has(*i, vip2))
            .collect();
        match holders.as_slice() {
            [i] if lab.has(*i, VIP) && lab.has(*i, vip2) => Some(*i),
            _ => None,
        }
    };
    assert!(
        wait_for(Duration::from_secs(8), || holder(&lab) == Some(1)).is_some(),
        "the group should be Master on a:\n{}",
        lab.log("a.log")
    );
    lab.signal(a, Signal::TERM);
    let logs = || format!("b:\n{}\nc:\n{}", lab.log("b.log"), lab.log("c.log"));
    // One collision and one re-election take well under a second at advert_int 0.1.
    let mut winner = None;
    wait_for(Duration::from_secs(3), || {
        winner = holder(&lab).filter(|i| *i != 1);
        winner.is_some()
    });
    let Some(winner) = winner else {
        panic!("no single holder of both VIPs after a left\n{}", logs());
    };
    // And it stays: sampled every 10 ms for 4 s (the collision cycle is ~0.38 s).
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        let now = holder(&lab);
        assert_eq!(now, Some(winner), "the VIPs moved again\n{}", logs());
        thread::sleep(Duration::from_millis(10));
    }
    for i in 2..=3 {
        let s = status(&lab.ns(i));
        let want = if i == winner { "MASTER" } else { "BACKUP" };
        for k in 0..2 {
            assert_eq!(s["instances"][k]["state"], want, "router {i}: {s}");
        }
    }
}

/// Kills the child when dropped (also while unwinding from a failed assertion).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "privileged: network namespaces, raw sockets"]
fn runs_in_a_named_namespace_dumps_on_signals_and_stops_cleanly() {
    if !root_or_skip("runs_in_a_named_namespace") {
        return;
    }
    let lab = Lab::new("hkn", 2);
    let conf = lab.dir.join("keepalived.conf");
    std::fs::write(&conf, config("")).unwrap();
    let pid_file = lab.dir.join("hakeepd.pid");
    let log = std::fs::File::create(lab.dir.join("hakeepd.log")).unwrap();
    // Started in this (the host's) namespace: `-s` moves it into the lab's.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_hakeepd"))
        .args(["-s", &lab.ns(1), "-f", conf.to_str().unwrap(), "-i", "a"])
        .args(["--http", &format!("127.0.0.1:{HTTP_PORT}")])
        .args(["--dump-dir", lab.dir.to_str().unwrap()])
        .args(["-p", pid_file.to_str().unwrap()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let pid = child.0.id();
    assert!(
        wait_for(Duration::from_secs(8), || lab.has(1, VIP)).is_some(),
        "{}",
        lab.log("hakeepd.log")
    );
    // The endpoint and the address are inside the namespace, not here.
    assert_eq!(state(&lab.ns(1)), "MASTER");
    let host = std::process::Command::new("ip")
        .args(["-o", "addr"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&host.stdout).contains("10.99.0.100/"));
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    // The dumps keepalived writes on SIGUSR1, SIGUSR2 and its JSON signal.
    let json_signal: i32 = String::from_utf8(
        std::process::Command::new(env!("CARGO_BIN_EXE_hakeepd"))
            .args(["--signum", "JSON"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    // kill(1) also sends real-time signals, which have no name in rustix.
    let send = |n: i32| {
        let ok = std::process::Command::new("kill")
            .args([format!("-{n}"), pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{n} {pid}");
    };
    send(libc::SIGUSR1);
    send(libc::SIGUSR2);
    send(json_signal);
    let dump = |name: &str| std::fs::read_to_string(lab.dir.join(name)).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(5), || {
            dump("keepalived.data").contains("VRRP Instance = VI_1")
                && dump("keepalived.stats").contains("Became MASTER: 1")
                && dump("keepalived.json").contains("\"MASTER\"")
        })
        .is_some(),
        "data:\n{}\nstats:\n{}\njson:\n{}",
        dump("keepalived.data"),
        dump("keepalived.stats"),
        dump("keepalived.json")
    );
    assert!(dump("keepalived.data").contains("State = MASTER"));
    let json: serde_json::Value = serde_json::from_str(&dump("keepalived.json")).unwrap();
    assert_eq!(json["instances"][0]["name"], "VI_1");
    // SIGTERM: the Master withdraws its address, the pid file goes, the process ends.
    send(libc::SIGTERM);
    let exited = wait_for(Duration::from_secs(5), || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(exited.is_some(), "hakeepd did not stop on SIGTERM");
    assert!(!lab.has(1, VIP), "the address was left behind");
    assert!(!pid_file.exists());
}

/// The scheduling policy and real-time priority of the thread of `pid` named `name`
/// (fields 41 and 40 of its `stat`).
fn thread_scheduling(pid: u32, name: &str) -> Option<(u32, u32)> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // After the command name come the fields from 3 (state) on.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse().ok();
        return Some((field(41)?, field(40)?));
    }
    None
}

#[test]
#[ignore = "privileged: network namespaces, raw sockets, BFD sockets"]
fn bfd_sessions_drive_vrrp_tracking() {
    if !root_or_skip("bfd_sessions_drive_vrrp_tracking") {
        return;
    }
    let lab = Lab::new("hkf", 2);
    let conf = lab.dir.join("keepalived.conf");
    // a and b run a BFD session to each other; a's VRRP instance tracks it with weight 0
    // (FAULT while it is down). b runs no VRRP instance. a's engine runs under SCHED_RR.
    let text = "global_defs {\n    vrrp_version 3\n@a    bfd_rt_priority 10\n}\n\
        bfd_instance peer {\n@a  neighbor_ip 10.99.0.2\n@b  neighbor_ip 10.99.0.1\n\
            min_rx 50\n    min_tx 50\n    multiplier 3\n}\n\
        @a vrrp_instance VI_1 {\n@a    interface eth0\n@a    virtual_router_id 51\n\
        @a    priority 150\n@a    advert_int 0.1\n@a    track_bfd {\n@a        peer\n@a    }\n\
        @a    virtual_ipaddress {\n@a        10.99.0.100/24\n@a    }\n@a }\n";
    std::fs::write(&conf, text).unwrap();
    let a = start_hakeepd(&lab, 1, &conf, "a", "a.log");
    let b = start_hakeepd(&lab, 2, &conf, "b", "b.log");
    // `bfd_rt_priority` applies to the BFD engine's own thread: SCHED_RR (2) at 10, while
    // the main thread stays SCHED_OTHER (0).
    assert_eq!(thread_scheduling(a, "hakeepd-bfd"), Some((2, 10)));
    assert_eq!(thread_scheduling(a, "hakeepd"), Some((0, 0)));
    assert_eq!(thread_scheduling(b, "hakeepd-bfd"), Some((0, 0)));
    let ns = lab.ns(1);
    assert!(
        wait_for(Duration::from_secs(10), || {
            let s = status(&ns);
            s["bfd"]["peer"] == true && s["instances"][0]["state"] == "MASTER"
        })
        .is_some(),
        "BFD Up and the instance Master:\n{}\n{}",
        lab.log("a.log"),
        lab.log("b.log")
    );
    assert!(lab.has(1, VIP));
    // The peer dies: BFD detects it within 3 × 50 ms and the instance goes to FAULT.
    lab.signal(b, Signal::KILL);
    let took = wait_for(Duration::from_secs(5), || {
        let s = status(&ns);
        s["bfd"]["peer"] == false && s["instances"][0]["state"] == "FAULT"
    });
    assert!(took.is_some(), "{}", lab.log("a.log"));
    assert!(!lab.has(1, VIP), "a FAULT instance keeps no address");
    let s = status(&ns);
    assert_eq!(s["tracked"]["bfd:peer"], "DOWN");
    // The engine ran on its timerfd throughout; its driver's reports are counted.
    assert_eq!(s["bfd_driver"]["timer_failures"], 0, "{s}");
    assert!(s["bfd_driver"]["late_timers"].is_u64(), "{s}");
    // The peer returns: BFD comes Up again and the instance takes the address back.
    start_hakeepd(&lab, 2, &conf, "b", "b2.log");
    assert!(
        wait_for(Duration::from_secs(10), || state(&ns) == "MASTER").is_some(),
        "{}",
        lab.log("a.log")
    );
    assert!(lab.has(1, VIP));
}

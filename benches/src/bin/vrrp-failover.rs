//! Failover benchmark: our VRRP router and keepalived side by side, same topology.
//!
//! ```text
//! sudo target/release/vrrp-failover [--trials 20] [--interval-cs 5] [--only ours|keepalived]
//! ```
//!
//! Two network namespaces on a bridge (made and removed by this program; traffic stays
//! inside them). In each trial a Master (priority 200) and a Backup (priority 100) run
//! VRRPv3 over IPv4 with the given advert interval; the Master is then killed with
//! SIGKILL (no priority-0 advert) or stopped with SIGTERM (priority 0), and the time from
//! the signal until the Backup's namespace holds the VIP is measured by polling the
//! kernel's address table over rtnetlink every millisecond.
//!
//! Expected (RFC 5798 6.1, interval I, Backup priority 100): after SIGKILL the Backup
//! takes over `3·I + (256-100)·I/256` after the *last* advert it heard, i.e. between
//! `2·I + skew` and `3·I + skew` after the kill; after SIGTERM, `skew` after it.
//!
//! Our router runs as a child process of this program (`vrrp-failover child ...`) so a
//! SIGKILL is a real process death, like keepalived's.
#![forbid(unsafe_code)]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ha_core::IfIndex;
use ha_vrrp::linux::{Instance, InstanceConfig, Netlink};
use ha_vrrp::{Centiseconds, Priority, RouterConfig, Version, Vrid};
use rustix::process::Signal;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

struct Lab {
    prefix: String,
}

impl Lab {
    fn new() -> Result<Lab, String> {
        let lab = Lab {
            prefix: format!("hvb{}x", std::process::id()),
        };
        let br = lab.ns_name("br");
        run(&["ip", "netns", "add", &br])?;
        run(&["ip", "-n", &br, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &br, "link", "set", "br0", "up"])?;
        for i in 1..=2u8 {
            let ns = lab.ns(i);
            run(&["ip", "netns", "add", &ns])?;
            let veth = format!("veth{i}");
            run(&[
                "ip", "-n", &br, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            run(&["ip", "-n", &br, "link", "set", &veth, "master", "br0", "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.99.0.{i}/24"),
                "dev",
                "eth0",
            ])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(lab)
    }

    fn ns_name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    fn ns(&self, i: u8) -> String {
        self.ns_name(&i.to_string())
    }

    fn del_vip(&self, i: u8) {
        quiet(&[
            "ip",
            "-n",
            &self.ns(i),
            "addr",
            "del",
            &format!("{VIP}/32"),
            "dev",
            "eth0",
        ]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 1..=2 {
            quiet(&["ip", "netns", "del", &self.ns(i)]);
        }
        quiet(&["ip", "netns", "del", &self.ns_name("br")]);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Ours,
    Keepalived,
}

/// A router process in its own process group; killed on drop.
struct Proc {
    child: Child,
}

impl Proc {
    fn signal(&mut self, signal: Signal) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    }

    fn wait(&mut self, timeout: Duration) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.signal(Signal::KILL);
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal(Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    peer: Peer,
    lab: &Lab,
    i: u8,
    priority: u8,
    interval_cs: u16,
    dir: &std::path::Path,
) -> Result<Proc, String> {
    let ns = lab.ns(i);
    let mut cmd = match peer {
        Peer::Ours => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut c = Command::new(exe);
            c.args([
                "child",
                &ns,
                &priority.to_string(),
                &interval_cs.to_string(),
            ]);
            c
        }
        Peer::Keepalived => {
            // Fresh file names per start: a SIGKILLed keepalived leaves its pid files.
            static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let conf = dir.join(format!("ka{i}-{n}.conf"));
            let advert = format!("{:.2}", f64::from(interval_cs) / 100.0);
            std::fs::write(
                &conf,
                format!(
                    "global_defs {{\n  router_id ka{i}\n  vrrp_garp_master_delay 0\n  vrrp_garp_master_repeat 1\n}}\n\
                     vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  version 3\n  \
                     priority {priority}\n  advert_int {advert}\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n"
                ),
            )
            .map_err(|e| e.to_string())?;
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns, "keepalived", "-n", "-G", "-P", "-f"])
                .arg(&conf)
                .arg("-p")
                .arg(dir.join(format!("ka{i}-{n}.pid")))
                .arg("-r")
                .arg(dir.join(format!("ka{i}-{n}-vrrp.pid")));
            c
        }
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{peer:?}: {e}"))?;
    Ok(Proc { child })
}

/// Polls whether namespace `ns` holds the VIP, from a thread inside it.
struct VipProbe {
    ask: std::sync::mpsc::Sender<(bool, Duration, std::sync::mpsc::Sender<Option<Instant>>)>,
}

impl VipProbe {
    fn new(ns: &str) -> Result<VipProbe, String> {
        let file = File::open(format!("/run/netns/{ns}")).map_err(|e| e.to_string())?;
        let (tx, rx) =
            std::sync::mpsc::channel::<(bool, Duration, std::sync::mpsc::Sender<Option<Instant>>)>(
            );
        thread::spawn(move || {
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let netlink = Netlink::connect().expect("netlink");
                let link = netlink.link_by_name("eth0").await.expect("eth0");
                while let Ok((want, timeout, reply)) = rx.recv() {
                    let end = Instant::now() + timeout;
                    let mut at = None;
                    while Instant::now() < end {
                        let has = netlink
                            .addresses(link.index)
                            .await
                            .map(|a| a.iter().any(|a| a.address == IpAddr::V4(VIP)))
                            .unwrap_or(false);
                        if has == want {
                            at = Some(Instant::now());
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let _ = reply.send(at);
                }
            });
        });
        Ok(VipProbe { ask: tx })
    }

    /// Waits until the VIP is present (`want`) or absent; returns when it was seen.
    fn wait(&self, want: bool, timeout: Duration) -> Option<Instant> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.ask.send((want, timeout, tx)).ok()?;
        rx.recv().ok().flatten()
    }
}

fn trial(
    peer: Peer,
    lab: &Lab,
    probes: &[VipProbe; 2],
    interval_cs: u16,
    signal: Signal,
    dir: &std::path::Path,
) -> Result<Duration, String> {
    lab.del_vip(1);
    lab.del_vip(2);
    let mut master = start(peer, lab, 1, 200, interval_cs, dir)?;
    probes[0]
        .wait(true, Duration::from_secs(10))
        .ok_or("the Master never took the VIP")?;
    let mut backup = start(peer, lab, 2, 100, interval_cs, dir)?;
    // Let the Backup start and hear a few adverts.
    thread::sleep(
        Duration::from_millis(700) + Duration::from_millis(u64::from(interval_cs) * 10 * 5),
    );
    if probes[1].wait(true, Duration::ZERO).is_some() {
        return Err("the Backup holds the VIP before the kill".into());
    }
    let t0 = Instant::now();
    master.signal(signal);
    let seen = probes[1].wait(true, Duration::from_secs(10));
    master.wait(Duration::from_secs(5));
    backup.signal(Signal::TERM);
    backup.wait(Duration::from_secs(5));
    lab.del_vip(1);
    lab.del_vip(2);
    let at = seen.ok_or("the Backup never took the VIP")?;
    Ok(at - t0)
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = v.len();
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / n as f64;
    format!(
        "{n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1}",
        ms(v[0]),
        ms(v[n / 2]),
        mean,
        ms(v[(n * 9 / 10).min(n - 1)]),
        ms(v[n - 1])
    )
}

fn child(args: &[String]) -> ExitCode {
    let [ns, priority, interval] = args else {
        eprintln!("usage: vrrp-failover child NS PRIORITY INTERVAL_CS");
        return ExitCode::FAILURE;
    };
    let (Ok(priority), Ok(interval)) = (priority.parse::<u8>(), interval.parse::<u16>()) else {
        eprintln!("bad priority or interval");
        return ExitCode::FAILURE;
    };
    let file = match File::open(format!("/run/netns/{ns}")) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{ns}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    ) {
        eprintln!("setns: {e}");
        return ExitCode::FAILURE;
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let mut router = RouterConfig::new(
            "bench",
            Version::V3,
            Vrid::new(51).expect("valid VRID"),
            Priority(priority),
            IfIndex(0),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            vec![IpAddr::V4(VIP)],
        );
        router.advert_interval = Centiseconds(interval);
        router.garp.repeat = 1;
        router.garp.delay = None;
        let (instance, handle, mut events) =
            match Instance::start(InstanceConfig::new("eth0", router)).await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let run = tokio::spawn(instance.run());
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return ExitCode::FAILURE;
        };
        term.recv().await;
        handle.shutdown().await;
        let _ = run.await;
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        return child(&args[1..]);
    }
    let mut trials = 20usize;
    let mut interval_cs = 5u16;
    let mut peers = vec![Peer::Ours, Peer::Keepalived];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--trials", Some(v)) => trials = v.parse().unwrap_or(trials),
            ("--interval-cs", Some(v)) => interval_cs = v.parse().unwrap_or(interval_cs),
            ("--only", Some(v)) if v == "ours" => peers = vec![Peer::Ours],
            ("--only", Some(v)) if v == "keepalived" => peers = vec![Peer::Keepalived],
            _ => {
                eprintln!(
                    "usage: vrrp-failover [--trials N] [--interval-cs CS] [--only ours|keepalived]"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("vrrp-failover needs root (network namespaces)");
        return ExitCode::FAILURE;
    }
    let lab = match Lab::new() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = std::env::temp_dir().join(format!("{}-bench", lab.prefix));
    let _ = std::fs::create_dir_all(&dir);
    let probes = match (VipProbe::new(&lab.ns(1)), VipProbe::new(&lab.ns(2))) {
        (Ok(a), Ok(b)) => [a, b],
        _ => {
            eprintln!("cannot watch the namespaces");
            return ExitCode::FAILURE;
        }
    };
    let i_ms = f64::from(interval_cs) * 10.0;
    let skew = (256.0 - 100.0) * i_ms / 256.0;
    println!(
        "VRRPv3 IPv4, advert {i_ms} ms, Backup priority 100: Master_Down = {:.1} ms after the last advert, skew {:.1} ms",
        3.0 * i_ms + skew,
        skew
    );
    println!(
        "\n| implementation | stop | trials | min ms | median ms | mean ms | p90 ms | max ms |\n|---|---|---|---|---|---|---|---|"
    );
    let mut code = ExitCode::SUCCESS;
    for peer in peers {
        for (signal, label) in [
            (Signal::KILL, "SIGKILL"),
            (Signal::TERM, "SIGTERM (priority 0)"),
        ] {
            let mut times = Vec::new();
            let mut errors = 0;
            for _ in 0..trials {
                match trial(peer, &lab, &probes, interval_cs, signal, &dir) {
                    Ok(t) => times.push(t),
                    Err(e) => {
                        eprintln!("{peer:?} {label}: {e}");
                        errors += 1;
                    }
                }
            }
            let name = match peer {
                Peer::Ours => "ha-vrrp",
                Peer::Keepalived => "keepalived 2.2.7",
            };
            if times.is_empty() {
                println!("| {name} | {label} | 0 | failed | | | | |");
                code = ExitCode::FAILURE;
            } else {
                println!("| {name} | {label} | {} |", stats(times));
            }
            if errors > 0 {
                eprintln!("{name} {label}: {errors} failed trials");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    code
}

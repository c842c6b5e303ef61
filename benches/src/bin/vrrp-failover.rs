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
//!
//! On the wire (when `tcpdump` is installed): a capture on the bridge (in the bridge's
//! namespace, kernel timestamps) gives, per trial, the gap from the old Master's last
//! advert (its priority-0 advert after SIGTERM) to the new Master's first advert, and from
//! that advert to the first gratuitous ARP for the VIP. For ours the child also reports
//! when its observer saw the Backup → Master transition (wall clock, like the capture's
//! timestamps), which gives "transition → first GARP".
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ha_core::IfIndex;
use ha_vrrp::linux::{Instance, InstanceConfig, InstanceEvent, Netlink};
use ha_vrrp::{Centiseconds, Event, Priority, RouterConfig, State, Version, Vrid};
use rustix::process::Signal;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);
const OLD_MASTER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const NEW_MASTER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// Seconds since the Unix epoch: the clock of the capture's timestamps.
fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A captured frame of interest.
#[derive(Clone, Copy, Debug)]
enum Seen {
    /// A VRRP advertisement from this source.
    Advert(Ipv4Addr),
    /// A gratuitous ARP (request or reply) for the VIP.
    Garp,
}

/// Parses a `tcpdump -n -tt` line: `TS IP SRC > 224.0.0.18: VRRPv3, Advertisement, ...` or
/// `TS ARP, Request who-has VIP tell VIP, ...` / `TS ARP, Reply VIP is-at MAC, ...`.
fn parse_capture(line: &str) -> Option<(f64, Seen)> {
    let (ts, rest) = line.split_once(' ')?;
    let ts: f64 = ts.parse().ok()?;
    if rest.contains("VRRP") && rest.contains("Advertisement") {
        let src = rest.strip_prefix("IP ")?.split_whitespace().next()?;
        return Some((ts, Seen::Advert(src.parse().ok()?)));
    }
    let vip = VIP.to_string();
    let request = rest.starts_with("ARP, Request")
        && rest.contains(&format!("who-has {vip} "))
        && rest.contains(&format!("tell {vip},"));
    let reply = rest.starts_with(&format!("ARP, Reply {vip} is-at"));
    (request || reply).then_some((ts, Seen::Garp))
}

/// `tcpdump` on the bridge, in the bridge's namespace.
struct Capture {
    _proc: Proc,
    rx: mpsc::Receiver<(f64, Seen)>,
}

impl Capture {
    fn start(lab: &Lab) -> Option<Capture> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns_name("br"), "tcpdump"])
            .args(["-i", "br0", "-n", "-l", "-tt", "--immediate-mode"])
            .args(["--time-stamp-precision=micro", "vrrp or arp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        let stdout = child.stdout.take()?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(seen) = parse_capture(&line) {
                    if tx.send(seen).is_err() {
                        break;
                    }
                }
            }
        });
        // Let tcpdump open the interface.
        thread::sleep(Duration::from_millis(500));
        Some(Capture {
            _proc: Proc { child },
            rx,
        })
    }

    fn drain(&self) -> Vec<(f64, Seen)> {
        self.rx.try_iter().collect()
    }
}

/// What one trial measured.
struct Sample {
    /// Signal → VIP in the Backup's namespace.
    vip: Duration,
    /// Old Master's last advert → new Master's first advert, on the wire.
    gap: Option<Duration>,
    /// New Master's first advert → first gratuitous ARP, on the wire.
    advert_garp: Option<Duration>,
    /// Backup → Master transition (ours only) → first gratuitous ARP.
    transition_garp: Option<Duration>,
}

fn secs(d: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(d).ok()
}

/// Reads the wire metrics of one trial out of the frames captured around it.
fn wire(frames: &[(f64, Seen)], kill: f64, transition: Option<f64>) -> Sample {
    let first_new = frames
        .iter()
        .find(|(t, s)| *t >= kill && matches!(s, Seen::Advert(a) if *a == NEW_MASTER))
        .map(|(t, _)| *t);
    let last_old = first_new.and_then(|first| {
        frames
            .iter()
            .rev()
            .find(|(t, s)| *t < first && matches!(s, Seen::Advert(a) if *a == OLD_MASTER))
            .map(|(t, _)| *t)
    });
    let garp = frames
        .iter()
        .find(|(t, s)| *t >= kill && matches!(s, Seen::Garp))
        .map(|(t, _)| *t);
    Sample {
        vip: Duration::ZERO,
        gap: first_new.zip(last_old).and_then(|(n, o)| secs(n - o)),
        advert_garp: first_new.zip(garp).and_then(|(a, g)| secs(g - a)),
        transition_garp: transition.zip(garp).and_then(|(m, g)| secs(g - m)),
    }
}

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

/// One of our routers, with the wall-clock times at which it reported becoming Master.
struct Router {
    proc: Proc,
    masters: Option<mpsc::Receiver<f64>>,
}

impl Router {
    fn master_since(&self, since: f64) -> Option<f64> {
        self.masters.as_ref()?.try_iter().find(|t| *t >= since)
    }
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
) -> Result<Router, String> {
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
    let stdout = if peer == Peer::Ours {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = cmd
        .stdout(stdout)
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{peer:?}: {e}"))?;
    // Our child prints `master SECONDS` when its observer sees Backup → Master.
    let masters = child.stdout.take().map(|out| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(t) = line.strip_prefix("master ").and_then(|t| t.parse().ok()) {
                    if tx.send(t).is_err() {
                        break;
                    }
                }
            }
        });
        rx
    });
    Ok(Router {
        proc: Proc { child },
        masters,
    })
}

/// Polls whether namespace `ns` holds the VIP, from a thread inside it.
struct VipProbe {
    ask: std::sync::mpsc::Sender<(bool, Duration, std::sync::mpsc::Sender<Option<Instant>>)>,
}

impl VipProbe {
    fn new(ns: &str) -> Result<VipProbe, String> {
        if !std::path::Path::new(&format!("/run/netns/{ns}")).exists() {
            return Err(format!("no namespace {ns}"));
        }
        let (tx, rx) =
            std::sync::mpsc::channel::<(bool, Duration, std::sync::mpsc::Sender<Option<Instant>>)>(
            );
        ha_core::testbed::spawn_in_ns(ns, "vip-probe", move || async move {
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
    capture: Option<&Capture>,
) -> Result<Sample, String> {
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
    let mut frames = capture.map(Capture::drain).unwrap_or_default();
    let kill = wall();
    let t0 = Instant::now();
    master.proc.signal(signal);
    let seen = probes[1].wait(true, Duration::from_secs(10));
    // Let the new Master's first adverts and gratuitous ARP reach the capture.
    thread::sleep(Duration::from_millis(200));
    let transition = backup.master_since(kill);
    master.proc.wait(Duration::from_secs(5));
    backup.proc.signal(Signal::TERM);
    backup.proc.wait(Duration::from_secs(5));
    lab.del_vip(1);
    lab.del_vip(2);
    let at = seen.ok_or("the Backup never took the VIP")?;
    if let Some(c) = capture {
        frames.extend(c.drain());
    }
    Ok(Sample {
        vip: at - t0,
        ..wire(&frames, kill, transition)
    })
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
    if let Err(e) = ha_core::testbed::enter_namespace(ns) {
        eprintln!("entering namespace {ns}: {e}");
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
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if let InstanceEvent::Router(Event::StateChanged {
                    from: State::Backup,
                    to: State::Master,
                    ..
                }) = e
                {
                    println!("master {:.6}", wall());
                }
            }
        });
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
    let capture = Capture::start(&lab);
    if capture.is_none() {
        eprintln!("tcpdump not available: no on-the-wire figures");
    }
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
    let mut wire_rows = Vec::new();
    for peer in peers {
        for (signal, label) in [
            (Signal::KILL, "SIGKILL"),
            (Signal::TERM, "SIGTERM (priority 0)"),
        ] {
            let mut times = Vec::new();
            let (mut gaps, mut advert_garp, mut transition_garp) =
                (Vec::new(), Vec::new(), Vec::new());
            let mut errors = 0;
            for _ in 0..trials {
                match trial(
                    peer,
                    &lab,
                    &probes,
                    interval_cs,
                    signal,
                    &dir,
                    capture.as_ref(),
                ) {
                    Ok(s) => {
                        times.push(s.vip);
                        gaps.extend(s.gap);
                        advert_garp.extend(s.advert_garp);
                        transition_garp.extend(s.transition_garp);
                    }
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
            for (metric, v) in [
                ("last old advert → first new advert", gaps),
                ("first new advert → first GARP", advert_garp),
                ("Master transition → first GARP", transition_garp),
            ] {
                if !v.is_empty() {
                    wire_rows.push(format!("| {name} | {label} | {metric} | {} |", stats(v)));
                }
            }
        }
    }
    if !wire_rows.is_empty() {
        println!(
            "\nOn the wire (capture on the bridge):\n\n| implementation | stop | metric | n | min ms | median ms | mean ms | p90 ms | max ms |\n|---|---|---|---|---|---|---|---|---|"
        );
        for row in wire_rows {
            println!("{row}");
        }
    }
    drop(capture);
    let _ = std::fs::remove_dir_all(&dir);
    code
}

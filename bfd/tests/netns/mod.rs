//! Network-namespace harness for the privileged BFD suites.
//!
//! [`Lab`] makes namespaces `<prefix>1..N` joined by a bridge in its own namespace
//! `<prefix>br`, with `10.99.0.i/24` and `fd99::i/64` on `eth0` **inside** the namespaces
//! only; the host's namespace is never touched. [`Lab::routed`] makes three namespaces in
//! a line with a forwarding router in the middle, for multihop. Names are unique per test and process.
//! Dropping the lab (also while unwinding from a panic) kills every process group it
//! started and deletes every namespace it created.
//!
//! [`OurBfd`] runs an [`Engine`] over [`UdpIo`] on its own thread that entered a namespace
//! (`setns`), with a current-thread tokio runtime.
#![allow(dead_code)]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::{Command as BfdCommand, Engine, Event, SessionConfig, SessionId, State};
use ha_core::driver::DriverEvent;

/// True when running as root; otherwise prints why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        true
    } else {
        eprintln!("{test}: SKIPPED: needs root (network namespaces)");
        false
    }
}

/// True when `path` exists; otherwise prints why the test is skipped.
pub fn binary_or_skip(test: &str, path: &str) -> bool {
    let ok = std::path::Path::new(path).exists();
    if !ok {
        eprintln!("{test}: SKIPPED: {path} is missing (scripts/install-test-deps.sh)");
    }
    ok
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A set of namespaces on one bridge.
pub struct Lab {
    prefix: String,
    n: usize,
    created: Mutex<Vec<String>>,
    children: Mutex<Vec<Child>>,
    /// A scratch directory for configs and logs.
    pub dir: PathBuf,
}

impl Lab {
    /// Makes `n` namespaces for test `tag` (a short word).
    pub fn new(tag: &str, n: usize) -> Lab {
        let prefix = format!("hb{tag}{}x", std::process::id());
        let dir = std::env::temp_dir().join(format!("{prefix}-lab"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let lab = Lab {
            prefix,
            n,
            created: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
            dir,
        };
        let br = lab.bridge();
        lab.add_ns(&br);
        run(&["ip", "-n", &br, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", &br, "link", "set", "br0", "up"]);
        for i in 1..=n {
            let ns = lab.ns(i);
            lab.add_ns(&ns);
            let veth = format!("veth{i}");
            run(&[
                "ip", "-n", &br, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            run(&["ip", "-n", &br, "link", "set", &veth, "master", "br0", "up"]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", lab.ip(i)),
                "dev",
                "eth0",
            ]);
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/64", lab.ip6(i)),
                "dev",
                "eth0",
                "nodad",
            ]);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        lab
    }

    /// Three namespaces routed in a line, for multihop (RFC 5883): `<prefix>1` (A) —
    /// `<prefix>2` (R, a router that forwards) — `<prefix>3` (B), no bridge. A's `eth0` is
    /// `10.99.1.1/24` and `fd99:1::1/64`, R's `eth1` `.254` / `::fe` of the same subnets
    /// and its `eth2` `10.99.2.254/24` and `fd99:2::fe/64`, B's `eth0` `10.99.2.2/24` and
    /// `fd99:2::2/64`. A and B route everything via R, so every packet between them
    /// crosses one router and arrives with its TTL / hop limit decremented once.
    /// [`routed_ip`](Self::routed_ip) names the addresses.
    pub fn routed(tag: &str) -> Lab {
        let prefix = format!("hb{tag}{}x", std::process::id());
        let dir = std::env::temp_dir().join(format!("{prefix}-lab"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let lab = Lab {
            prefix,
            n: 3,
            created: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
            dir,
        };
        let (a, r, b) = (lab.ns(1), lab.ns(2), lab.ns(3));
        for ns in [&a, &r, &b] {
            lab.add_ns(ns);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // Each veth pair is created inside R with its other end placed in A or B at
        // once, so the host's namespace never holds one of these interfaces.
        run(&[
            "ip", "-n", &r, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns",
            &a,
        ]);
        run(&[
            "ip", "-n", &r, "link", "add", "eth2", "type", "veth", "peer", "name", "eth0", "netns",
            &b,
        ]);
        let addrs: [(&str, &str, &str, &str); 4] = [
            (&a, "eth0", "10.99.1.1/24", "fd99:1::1/64"),
            (&r, "eth1", "10.99.1.254/24", "fd99:1::fe/64"),
            (&r, "eth2", "10.99.2.254/24", "fd99:2::fe/64"),
            (&b, "eth0", "10.99.2.2/24", "fd99:2::2/64"),
        ];
        for (ns, dev, v4, v6) in addrs {
            run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        lab.exec(2, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        lab.exec(2, &["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
        run(&[
            "ip",
            "-n",
            &a,
            "route",
            "add",
            "10.99.2.0/24",
            "via",
            "10.99.1.254",
        ]);
        run(&[
            "ip",
            "-n",
            &b,
            "route",
            "add",
            "10.99.1.0/24",
            "via",
            "10.99.2.254",
        ]);
        run(&[
            "ip",
            "-n",
            &a,
            "-6",
            "route",
            "add",
            "fd99:2::/64",
            "via",
            "fd99:1::fe",
        ]);
        run(&[
            "ip",
            "-n",
            &b,
            "-6",
            "route",
            "add",
            "fd99:1::/64",
            "via",
            "fd99:2::fe",
        ]);
        lab
    }

    /// In a [`routed`](Self::routed) lab: the address of A (`end` 1) or B (`end` 3).
    pub fn routed_ip(&self, end: usize, v6: bool) -> IpAddr {
        match (end, v6) {
            (1, false) => IpAddr::V4(Ipv4Addr::new(10, 99, 1, 1)),
            (1, true) => IpAddr::V6(Ipv6Addr::new(0xfd99, 1, 0, 0, 0, 0, 0, 1)),
            (3, false) => IpAddr::V4(Ipv4Addr::new(10, 99, 2, 2)),
            (3, true) => IpAddr::V6(Ipv6Addr::new(0xfd99, 2, 0, 0, 0, 0, 0, 2)),
            _ => panic!("routed labs have ends 1 and 3"),
        }
    }

    fn add_ns(&self, name: &str) {
        run_quiet(&["ip", "netns", "del", name]);
        run(&["ip", "netns", "add", name]);
        self.created.lock().unwrap().push(name.to_string());
    }

    /// The bridge namespace.
    pub fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// Namespace `i` (1-based).
    pub fn ns(&self, i: usize) -> String {
        assert!(i >= 1 && i <= self.n);
        format!("{}{i}", self.prefix)
    }

    /// `10.99.0.i`.
    pub fn ip(&self, i: usize) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 99, 0, i as u8))
    }

    /// `fd99::i`.
    pub fn ip6(&self, i: usize) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, i as u16))
    }

    /// Adds `address/prefix` to `eth0` in namespace `i`.
    pub fn add_addr(&self, i: usize, address: IpAddr, prefix: u8) {
        let ns = self.ns(i);
        let a = format!("{address}/{prefix}");
        let mut args = vec!["ip", "-n", &ns, "addr", "add", &a, "dev", "eth0"];
        if address.is_ipv6() {
            args.push("nodad");
        }
        run(&args);
    }

    /// Runs a command in namespace `i` and returns its output.
    pub fn exec(&self, i: usize, args: &[&str]) -> String {
        let ns = self.ns(i);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Starts `args` in namespace `i` in its own process group, output to `log` in the
    /// scratch dir. Returns the process id (the group id).
    pub fn spawn(&self, i: usize, log: &str, args: &[&str]) -> u32 {
        let log = File::create(self.dir.join(log)).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i)])
            .args(args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn");
        let pid = child.id();
        self.children.lock().unwrap().push(child);
        pid
    }

    /// SIGKILLs the process group `pid` (a crash) and reaps it.
    pub fn kill(&self, pid: u32) {
        if let Some(pgid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let mut children = self.children.lock().unwrap();
        if let Some(pos) = children.iter().position(|c| c.id() == pid) {
            let mut child = children.remove(pos);
            let _ = child.wait();
        }
    }

    /// Reads a file from the scratch dir.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let children =
            std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner()));
        for mut child in children {
            if let Some(pgid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for ns in created.iter().rev() {
            run_quiet(&["ip", "netns", "del", ns]);
        }
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab logs kept in {}", self.dir.display());
        }
    }
}

enum Ctl {
    Command(BfdCommand),
    Stop,
}

/// Our engine running in a namespace on its own thread.
pub struct OurBfd {
    ctl: tokio::sync::mpsc::UnboundedSender<Ctl>,
    events: std_mpsc::Receiver<(Instant, Event)>,
    done: std_mpsc::Receiver<Engine>,
    thread: Option<thread::JoinHandle<()>>,
    /// Every engine event seen so far, with when it was seen.
    pub log: Vec<(Instant, Event)>,
}

impl OurBfd {
    /// Starts an engine with `sessions` in namespace `ns`.
    pub fn start(ns: &str, listen: ListenConfig, sessions: Vec<SessionConfig>) -> OurBfd {
        let path = format!("/run/netns/{ns}");
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (done_tx, done_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let seed = ns.bytes().fold(u64::from(std::process::id()), |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let thread = thread::Builder::new()
            .name(format!("bfd-{ns}"))
            .spawn(move || {
                let file = File::open(&path).expect("namespace file");
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
                    let io = match UdpIo::open(&listen) {
                        Ok(io) => io,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let engine = Engine::new(ha_core::rng::seeded(seed));
                    let (driver, handle, mut events) = ha_bfd::linux::driver(engine, io);
                    for config in sessions {
                        let _ = handle.command(BfdCommand::AddSession { config });
                    }
                    let _ = ready_tx.send(Ok(()));
                    let run = tokio::spawn(driver.run());
                    tokio::spawn(async move {
                        while let Some(e) = events.recv().await {
                            match e {
                                DriverEvent::Endpoint(ev) => {
                                    if ev_tx.send((Instant::now(), ev)).is_err() {
                                        break;
                                    }
                                }
                                DriverEvent::SendFailed { transmit, error } => {
                                    eprintln!("send to {} failed: {error}", transmit.destination);
                                }
                                DriverEvent::RecvFailed { error } => {
                                    eprintln!("recv failed: {error}");
                                }
                                DriverEvent::TimerFailed { error } => {
                                    eprintln!("timerfd failed: {error}");
                                }
                                DriverEvent::LateTimer { .. } => {}
                            }
                        }
                    });
                    loop {
                        match ctl_rx.recv().await {
                            Some(Ctl::Command(c)) => {
                                let _ = handle.command(c);
                            }
                            Some(Ctl::Stop) | None => {
                                handle.stop().await;
                                break;
                            }
                        }
                    }
                    match run.await {
                        Ok(Ok(engine)) => {
                            let _ = done_tx.send(engine);
                        }
                        Ok(Err(e)) => eprintln!("driver ended with an error: {e}"),
                        Err(e) => eprintln!("driver task failed: {e}"),
                    }
                    tokio::task::yield_now().await;
                });
            })
            .expect("thread");
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("engine in {ns} did not start: {e}"),
            Err(e) => panic!("engine in {ns} did not report: {e}"),
        }
        OurBfd {
            ctl: ctl_tx,
            events: ev_rx,
            done: done_rx,
            thread: Some(thread),
            log: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.log.push(e);
        }
    }

    /// The state of `session` after the events seen so far (Down before any).
    pub fn state(&mut self, session: SessionId) -> State {
        self.drain();
        self.log
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                Event::StateChanged(c) if c.session == session => Some(c.to),
                _ => None,
            })
            .unwrap_or(State::Down)
    }

    /// Waits until `session` is in `state`; returns when it got there.
    pub fn wait_state(
        &mut self,
        session: SessionId,
        state: State,
        timeout: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain();
            let hit = self.log.iter().rev().find_map(|(t, e)| match e {
                Event::StateChanged(c) if c.session == session => Some((*t, c.to)),
                _ => None,
            });
            if let Some((t, s)) = hit {
                if s == state {
                    return Some(t);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for an event matching `pred`, returning it and when it was seen.
    pub fn wait_event(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<(Instant, Event)> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        loop {
            self.drain();
            if let Some(hit) = self.log[seen..].iter().find(|(_, e)| pred(e)) {
                return Some(hit.clone());
            }
            seen = self.log.len();
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// State changes of `session` seen so far.
    pub fn transitions(&mut self, session: SessionId) -> Vec<(State, State)> {
        self.drain();
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                Event::StateChanged(c) if c.session == session => Some((c.from, c.to)),
                _ => None,
            })
            .collect()
    }

    /// Sends an engine command.
    pub fn command(&self, command: BfdCommand) {
        let _ = self.ctl.send(Ctl::Command(command));
    }

    /// Stops the driver and returns the engine for inspection.
    pub fn stop(mut self) -> Engine {
        let _ = self.ctl.send(Ctl::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.drain();
        self.done.try_recv().expect("engine returned")
    }
}

impl Drop for OurBfd {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// FRR's bfdd run by hand (no zebra, no watchfrr) in a namespace of a [`Lab`].
pub struct Frr {
    /// Its state directory (config, pid, vty socket, log).
    pub dir: PathBuf,
    /// Its process id (and process group).
    pub pid: u32,
}

/// `/usr/lib/frr/bfdd`.
pub const FRR_BFDD: &str = "/usr/lib/frr/bfdd";

impl Frr {
    /// Starts bfdd in namespace `i` with `config` (the body of its `bfd` block).
    pub fn start(lab: &Lab, i: usize, name: &str, config: &str) -> Frr {
        let dir = lab.dir.join(name);
        std::fs::create_dir_all(&dir).expect("frr dir");
        let conf = dir.join("bfdd.conf");
        std::fs::write(&conf, format!("bfd\n{config}exit\n")).expect("frr config");
        run(&["chown", "-R", "frr:frr", dir.to_str().unwrap()]);
        let d = dir.to_str().unwrap();
        let pid = lab.spawn(
            i,
            &format!("{name}.out"),
            &[
                FRR_BFDD,
                "-f",
                &format!("{d}/bfdd.conf"),
                "-i",
                &format!("{d}/bfdd.pid"),
                "--vty_socket",
                d,
                "--bfdctl",
                &format!("{d}/bfdd.sock"),
                "-A",
                "127.0.0.1",
                "--log",
                &format!("file:{d}/bfdd.log"),
            ],
        );
        let frr = Frr { dir, pid };
        // Wait for its vty socket, so vtysh works.
        let vty = frr.dir.join("bfdd.vty");
        let start = Instant::now();
        while !vty.exists() && start.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(10));
        }
        frr
    }

    /// Runs vtysh commands against this bfdd.
    pub fn vtysh(&self, commands: &[&str]) -> String {
        let d = self.dir.to_str().unwrap();
        let mut args = vec!["vtysh", "--vty_socket", d, "-d", "bfdd"];
        for c in commands {
            args.push("-c");
            args.push(c);
        }
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("vtysh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `show bfd peers json` as JSON.
    pub fn peers(&self) -> serde_json::Value {
        serde_json::from_str(&self.vtysh(&["show bfd peers json"])).unwrap_or_default()
    }

    /// The status field of the first peer (`"up"`, `"down"`, ...).
    pub fn first_status(&self) -> String {
        self.peers()
            .get(0)
            .and_then(|p| p.get("status"))
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string()
    }
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns how long it took.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A session with `interval` for both intervals and Detect Mult `mult`.
pub fn session(
    id: u64,
    local: IpAddr,
    remote: IpAddr,
    interval: Duration,
    mult: u8,
) -> SessionConfig {
    let mut c = SessionConfig::single_hop(SessionId(id), local, remote);
    c.desired_min_tx = interval;
    c.required_min_rx = interval;
    c.detect_mult = mult;
    c
}

/// Asserts that a session came Up exactly once and never left it (Down → Up or
/// Down → Init → Up, depending on who heard whom first).
pub fn assert_up_once(transitions: &[(State, State)]) {
    let ups = transitions
        .iter()
        .filter(|(_, to)| *to == State::Up)
        .count();
    assert!(
        ups == 1 && transitions.last().is_some_and(|(_, to)| *to == State::Up),
        "flapped: {transitions:?}"
    );
}

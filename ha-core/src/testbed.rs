//! Network-namespace labs for privileged tests and harnesses (feature `testbed`, Linux,
//! root): several hosts on one machine, each a namespace, so a protocol runs over real
//! sockets and kernels against our own code or a reference peer (keepalived, FRR).
//!
//! - [`Lab::new`]: namespaces `<prefix>1..N` joined by a bridge that lives in a namespace
//!   of its own, `<prefix>br`. Each has `eth0` with `10.99.0.i/24` ([`Lab::ip`]), the
//!   link-local `fe80::i/64` ([`Lab::ll`]) and `fd99::i/64` ([`Lab::ip6`]), the IPv6 ones
//!   without duplicate address detection, so they work at once.
//! - [`Lab::routed`]: three namespaces in a line, the middle one a forwarding router, for
//!   multihop protocols ([`Lab::routed_ip`]).
//!
//! Only namespaces the lab made are touched, so traffic never leaves them and the host's
//! own namespace is never configured. Names are unique per test and process. Dropping
//! the lab (also while unwinding from a panic) kills every process group it started and
//! deletes every namespace it made; its scratch directory ([`Lab::dir`]) is kept for the
//! logs when a test fails.
//!
//! [`enter_namespace`], [`spawn_in_ns`] and [`block_on_in_ns`] put code of the calling
//! process inside a namespace (on a thread of its own: a thread, not a process, is in a
//! network namespace).
//!
//! Every helper panics on failure: they are meant for tests.
//!
//! ```no_run
//! use ha_core::testbed::{Lab, root_or_skip, wait_for};
//! use std::time::Duration;
//!
//! if root_or_skip("two_hosts_ping") {
//!     let lab = Lab::new("ping", 2);
//!     let ip = lab.ip(2).to_string();
//!     lab.exec(1, &["ping", "-c", "1", "-W", "1", &ip]);
//!     assert!(wait_for(Duration::from_secs(1), || lab.has(2, lab.ip(2).into())).is_some());
//! }
//! ```

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// True when running as root; otherwise prints why `test` is skipped.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        true
    } else {
        eprintln!("{test}: SKIPPED: needs root (network namespaces)");
        false
    }
}

/// True when `path` exists; otherwise prints why `test` is skipped.
pub fn binary_or_skip(test: &str, path: &str) -> bool {
    let ok = std::path::Path::new(path).exists();
    if !ok {
        eprintln!("{test}: SKIPPED: {path} is missing (scripts/install-test-deps.sh)");
    }
    ok
}

/// True when `program --version` runs; otherwise prints why `test` is skipped.
pub fn program_or_skip(test: &str, program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("{test}: SKIPPED: {program} is not installed (scripts/install-test-deps.sh)");
    }
    ok
}

/// Runs `args` and returns its standard output; panics if it cannot run or fails.
pub fn run(args: &[&str]) -> String {
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

/// Runs `args`, ignoring its output and whether it succeeded.
pub fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Moves the calling thread into the network namespace `ns` (`/run/netns/NS`). Sockets it
/// opens from then on live there.
pub fn enter_namespace(ns: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}

/// Spawns a thread named `name` that enters namespace `ns` and runs the future `make`
/// builds on a current-thread tokio runtime of its own; the future's output is the
/// thread's.
pub fn spawn_in_ns<T, F>(
    ns: &str,
    name: &str,
    make: impl FnOnce() -> F + Send + 'static,
) -> thread::JoinHandle<T>
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    let ns = ns.to_string();
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            enter_namespace(&ns).unwrap_or_else(|e| panic!("entering namespace {ns}: {e}"));
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(make())
        })
        .expect("thread")
}

/// Runs the future `make` builds on a current-thread tokio runtime, on a thread inside
/// namespace `ns`, and returns its output.
pub fn block_on_in_ns<T, F>(ns: &str, make: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: Future<Output = T>,
{
    spawn_in_ns(ns, &format!("ns-{ns}"), make)
        .join()
        .expect("namespace thread panicked")
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

/// A set of namespaces; see the [module documentation](self).
pub struct Lab {
    prefix: String,
    n: usize,
    created: Mutex<Vec<String>>,
    children: Mutex<Vec<Child>>,
    /// A scratch directory for configurations and logs.
    pub dir: PathBuf,
}

impl Lab {
    /// An empty lab for test `tag` (a short word): no namespace yet.
    fn empty(tag: &str, n: usize) -> Lab {
        let prefix = format!("ha{tag}{}x", std::process::id());
        let dir = std::env::temp_dir().join(format!("{prefix}-lab"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Lab {
            prefix,
            n,
            created: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
            dir,
        }
    }

    /// Makes `n` namespaces on one bridge for test `tag` (a short word).
    pub fn new(tag: &str, n: usize) -> Lab {
        assert!((1..=253).contains(&n), "a lab has 1 to 253 hosts, not {n}");
        let lab = Lab::empty(tag, n);
        let br = lab.bridge();
        lab.add_ns(&br);
        run(&["ip", "-n", &br, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", &br, "link", "set", "br0", "up"]);
        for i in 1..=n {
            let ns = lab.ns(i);
            lab.add_ns(&ns);
            let veth = format!("veth{i}");
            // Created inside the bridge's namespace with its other end placed in `ns` at
            // once, so the host's namespace never holds one of these interfaces.
            run(&[
                "ip", "-n", &br, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            run(&["ip", "-n", &br, "link", "set", &veth, "master", "br0", "up"]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            // A fixed link-local address instead of a generated one.
            run(&[
                "ip",
                "-n",
                &ns,
                "link",
                "set",
                "eth0",
                "addrgenmode",
                "none",
            ]);
            let v4 = format!("{}/24", lab.ip(i));
            run(&["ip", "-n", &ns, "addr", "add", &v4, "dev", "eth0"]);
            for v6 in [lab.ll(i), lab.ip6(i)] {
                let v6 = format!("{v6}/64");
                run(&["ip", "-n", &ns, "addr", "add", &v6, "dev", "eth0", "nodad"]);
            }
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        lab
    }

    /// Three namespaces routed in a line, for multihop protocols: `<prefix>1` (A) —
    /// `<prefix>2` (R, a router that forwards) — `<prefix>3` (B), no bridge. A's `eth0` is
    /// `10.99.1.1/24` and `fd99:1::1/64`, R's `eth1` `.254` / `::fe` of the same subnets
    /// and its `eth2` `10.99.2.254/24` and `fd99:2::fe/64`, B's `eth0` `10.99.2.2/24` and
    /// `fd99:2::2/64`. A and B route everything via R, so every packet between them
    /// crosses one router and arrives with its TTL / hop limit decremented once.
    /// [`routed_ip`](Self::routed_ip) names the addresses.
    pub fn routed(tag: &str) -> Lab {
        let lab = Lab::empty(tag, 3);
        let (a, r, b) = (lab.ns(1), lab.ns(2), lab.ns(3));
        for ns in [&a, &r, &b] {
            lab.add_ns(ns);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        for (dev, end) in [("eth1", &a), ("eth2", &b)] {
            run(&[
                "ip", "-n", &r, "link", "add", dev, "type", "veth", "peer", "name", "eth0",
                "netns", end,
            ]);
        }
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
        let routes = [
            (&a, "-4", "10.99.2.0/24", "10.99.1.254"),
            (&b, "-4", "10.99.1.0/24", "10.99.2.254"),
            (&a, "-6", "fd99:2::/64", "fd99:1::fe"),
            (&b, "-6", "fd99:1::/64", "fd99:2::fe"),
        ];
        for (ns, family, to, via) in routes {
            run(&["ip", "-n", ns, family, "route", "add", to, "via", via]);
        }
        lab
    }

    fn add_ns(&self, name: &str) {
        run_quiet(&["ip", "netns", "del", name]);
        run(&["ip", "netns", "add", name]);
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.to_string());
    }

    /// The bridge's namespace (of a [`Lab::new`] lab).
    pub fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// Namespace `i` (1-based).
    pub fn ns(&self, i: usize) -> String {
        assert!(i >= 1 && i <= self.n, "namespace {i} of {}", self.n);
        format!("{}{i}", self.prefix)
    }

    /// Namespace `i`'s host number in its addresses; panics unless it is one of the lab's.
    fn host(&self, i: usize) -> u8 {
        match u8::try_from(i) {
            Ok(host) if i >= 1 && i <= self.n => host,
            _ => panic!("host {i} of {}", self.n),
        }
    }

    /// `10.99.0.i`, on namespace `i`'s `eth0`.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, self.host(i))
    }

    /// `fe80::i`, namespace `i`'s link-local address.
    pub fn ll(&self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, self.host(i).into())
    }

    /// `fd99::i`, namespace `i`'s unique local IPv6 address.
    pub fn ip6(&self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, self.host(i).into())
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

    /// `ip addr` of `eth0` in namespace `i`, one line per address.
    pub fn addrs(&self, i: usize) -> String {
        run(&["ip", "-n", &self.ns(i), "-o", "addr", "show", "dev", "eth0"])
    }

    /// Whether namespace `i` has `address` on `eth0`.
    pub fn has(&self, i: usize, address: IpAddr) -> bool {
        self.addrs(i)
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(&address.to_string()))
    }

    /// The output of `ip -n NS ARGS...` in namespace `i`, whether it succeeded or not.
    pub fn ip_cmd(&self, i: usize, args: &[&str]) -> String {
        let ns = self.ns(i);
        let mut all = vec!["ip", "-n", ns.as_str()];
        all.extend_from_slice(args);
        let out = Command::new(all[0]).args(&all[1..]).output().expect("ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command in namespace `i` and returns its output; panics if it fails.
    pub fn exec(&self, i: usize, args: &[&str]) -> String {
        let ns = self.ns(i);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// A per-interface IPv4 sysctl in namespace `i`.
    pub fn sysctl(&self, i: usize, interface: &str, key: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), "cat"])
            .arg(format!("/proc/sys/net/ipv4/conf/{interface}/{key}"))
            .output()
            .expect("cat");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Adds `address/prefix` to `eth0` in namespace `i` (IPv6 without duplicate address
    /// detection).
    pub fn add_addr(&self, i: usize, address: IpAddr, prefix: u8) {
        let ns = self.ns(i);
        let a = format!("{address}/{prefix}");
        let mut args = vec!["ip", "-n", &ns, "addr", "add", &a, "dev", "eth0"];
        if address.is_ipv6() {
            args.push("nodad");
        }
        run(&args);
    }

    /// Deletes `address/prefix` from `eth0` in namespace `i`, if there.
    pub fn del_addr(&self, i: usize, address: IpAddr, prefix: u8) {
        let a = format!("{address}/{prefix}");
        run_quiet(&["ip", "-n", &self.ns(i), "addr", "del", &a, "dev", "eth0"]);
    }

    /// Starts `args` in namespace `i` in a process group of its own, its output to `log`
    /// in the scratch directory. Returns the process id, which is the group's too
    /// (`ip netns exec` execs the command).
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
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        pid
    }

    /// Sends `signal` to the process group `pid` started by [`spawn`](Self::spawn), and
    /// reaps the process: at once after SIGKILL, otherwise within 5 s or by SIGKILL then.
    pub fn signal(&self, pid: u32, signal: Signal) {
        let group = rustix::process::Pid::from_raw(pid as i32);
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, signal);
        }
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pos) = children.iter().position(|c| c.id() == pid) else {
            return;
        };
        let mut child = children.remove(pos);
        drop(children);
        let deadline = Instant::now() + Duration::from_secs(5);
        while signal != Signal::KILL && Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        let _ = child.wait();
    }

    /// SIGKILLs the process group `pid` (a crash) and reaps it.
    pub fn kill(&self, pid: u32) {
        self.signal(pid, Signal::KILL);
    }

    /// Reads a file from the scratch directory (empty if there is none).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let children =
            std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner()));
        for mut child in children {
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for ns in created.iter().rev() {
            run_quiet(&["ip", "netns", "del", ns]);
        }
        if thread::panicking() {
            eprintln!("lab logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

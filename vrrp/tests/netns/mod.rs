//! Network-namespace test harness for the privileged suites.
//!
//! [`Lab`] makes namespaces `<prefix>1..N` joined by a bridge that lives in its own
//! namespace `<prefix>br`, with `10.99.0.i/24` and `fe80::i/64` on `eth0` **inside** the
//! namespaces only; the host's namespace is never touched. Names are unique per test and
//! process. Dropping the lab (also while unwinding from a panic) kills every process it
//! started and deletes every namespace.
//!
//! [`OurRouter`] runs an [`Instance`] on its own thread that entered a namespace
//! (`setns`), with its own current-thread tokio runtime.
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

use ha_vrrp::linux::{Instance, InstanceConfig, InstanceEvent, InstanceSet, SetEvent};
use ha_vrrp::{Command as RouterCommand, Event, RouterConfig, State, SyncGroupConfig};

/// True when running as root; otherwise prints why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        true
    } else {
        eprintln!("{test}: SKIPPED: needs root (network namespaces, raw sockets)");
        false
    }
}

/// True when the `keepalived` binary is installed; otherwise prints why.
pub fn keepalived_or_skip(test: &str) -> bool {
    let ok = Command::new("keepalived")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("{test}: SKIPPED: keepalived is not installed (scripts/install-test-deps.sh)");
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
        let prefix = format!("hv{tag}{}x", std::process::id());
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
            // A fixed link-local address without DAD, so IPv6 is usable at once.
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
                &format!("{}/64", lab.ll(i)),
                "dev",
                "eth0",
                "nodad",
            ]);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        lab
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
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, i as u8)
    }

    /// `fe80::i`.
    pub fn ll(&self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i as u16)
    }

    /// `ip addr` of `eth0` in namespace `i`.
    pub fn addrs(&self, i: usize) -> String {
        run(&["ip", "-n", &self.ns(i), "-o", "addr", "show", "dev", "eth0"])
    }

    /// Whether namespace `i` has `address` on `eth0`.
    pub fn has(&self, i: usize, address: IpAddr) -> bool {
        self.addrs(i)
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(&address.to_string()))
    }

    /// `ip` output for `args` run in namespace `i` (`ip -n NS ARGS...`).
    pub fn ip_cmd(&self, i: usize, args: &[&str]) -> String {
        let ns = self.ns(i);
        let mut all = vec!["ip", "-n", ns.as_str()];
        all.extend_from_slice(args);
        let out = Command::new(all[0]).args(&all[1..]).output().expect("ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
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

    /// Deletes `address/prefix` from `eth0` in namespace `i`, if there.
    pub fn del_addr(&self, i: usize, address: IpAddr, prefix: u8) {
        run_quiet(&[
            "ip",
            "-n",
            &self.ns(i),
            "addr",
            "del",
            &format!("{address}/{prefix}"),
            "dev",
            "eth0",
        ]);
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

    /// Sends `signal` to the process group `pid` and reaps it if it was SIGKILL.
    pub fn signal(&self, pid: u32, signal: rustix::process::Signal) {
        if let Some(pgid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process_group(pgid, signal);
        }
        let mut children = self.children.lock().unwrap();
        if let Some(pos) = children.iter().position(|c| c.id() == pid) {
            let mut child = children.remove(pos);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
            let _ = child.wait();
        }
    }

    /// Reads a log from the scratch dir.
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
    Command(RouterCommand),
    Shutdown,
    Stop,
}

/// One of our routers running in a namespace on its own thread.
pub struct OurRouter {
    ctl: tokio::sync::mpsc::UnboundedSender<Ctl>,
    events: std_mpsc::Receiver<InstanceEvent>,
    thread: Option<thread::JoinHandle<()>>,
    /// Every event seen so far, with when it was seen.
    pub log: Vec<(Instant, InstanceEvent)>,
}

impl OurRouter {
    /// Starts `router` on `eth0` in namespace `ns`.
    pub fn start(ns: &str, router: RouterConfig, prefix_len: Option<u8>) -> OurRouter {
        let mut config = InstanceConfig::new("eth0", router);
        config.prefix_len = prefix_len;
        OurRouter::start_config(ns, config)
    }

    /// Starts an instance in namespace `ns`.
    pub fn start_config(ns: &str, config: InstanceConfig) -> OurRouter {
        let path = format!("/run/netns/{ns}");
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let thread = thread::Builder::new()
            .name(format!("vrrp-{ns}"))
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
                    let (instance, handle, mut events) = match Instance::start(config).await {
                        Ok(x) => x,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let run = tokio::spawn(instance.run());
                    tokio::spawn(async move {
                        while let Some(e) = events.recv().await {
                            if ev_tx.send(e).is_err() {
                                break;
                            }
                        }
                    });
                    loop {
                        match ctl_rx.recv().await {
                            Some(Ctl::Command(c)) => {
                                let _ = handle.command(c);
                            }
                            Some(Ctl::Stop) => {
                                handle.stop().await;
                                break;
                            }
                            Some(Ctl::Shutdown) | None => {
                                handle.shutdown().await;
                                break;
                            }
                        }
                    }
                    match run.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => eprintln!("instance ended with an error: {e}"),
                        Err(e) => eprintln!("instance task failed: {e}"),
                    }
                    // Let the event forwarder drain.
                    tokio::task::yield_now().await;
                });
            })
            .expect("thread");
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("instance in {ns} did not start: {e}"),
            Err(e) => panic!("instance in {ns} did not report: {e}"),
        }
        OurRouter {
            ctl: ctl_tx,
            events: ev_rx,
            thread: Some(thread),
            log: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            if let InstanceEvent::ActionFailed { action, error } = &e {
                eprintln!("action failed: {action}: {error}");
            }
            self.log.push((Instant::now(), e));
        }
    }

    /// The state after the events seen so far.
    pub fn state(&mut self) -> State {
        self.drain();
        self.log
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                InstanceEvent::Router(Event::StateChanged { to, .. }) => Some(*to),
                _ => None,
            })
            .unwrap_or(State::Initialize)
    }

    /// Transitions seen so far.
    pub fn transitions(&mut self) -> Vec<(State, State)> {
        self.drain();
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                InstanceEvent::Router(Event::StateChanged { from, to, .. }) => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    /// Action failures seen so far.
    pub fn failures(&mut self) -> Vec<String> {
        self.drain();
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                InstanceEvent::ActionFailed { action, error } => Some(format!("{action}: {error}")),
                _ => None,
            })
            .collect()
    }

    /// Waits until the router is in `state`.
    pub fn wait_state(&mut self, state: State, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state() == state {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a router command.
    pub fn command(&self, command: RouterCommand) {
        let _ = self.ctl.send(Ctl::Command(command));
    }

    /// Graceful stop (priority 0, VIPs removed); waits for the thread.
    pub fn shutdown(mut self) -> Vec<(Instant, InstanceEvent)> {
        let _ = self.ctl.send(Ctl::Shutdown);
        self.join()
    }

    /// Stops without telling anyone, like a crash: the VIPs stay.
    pub fn crash(mut self) -> Vec<(Instant, InstanceEvent)> {
        let _ = self.ctl.send(Ctl::Stop);
        self.join()
    }

    fn join(&mut self) -> Vec<(Instant, InstanceEvent)> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.drain();
        std::mem::take(&mut self.log)
    }
}

impl Drop for OurRouter {
    fn drop(&mut self) {
        let _ = self.ctl.send(Ctl::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum SetCtl {
    Command(String, RouterCommand),
    Add(Box<InstanceConfig>, std_mpsc::Sender<Result<(), String>>),
    Remove(String, std_mpsc::Sender<Result<(), String>>),
    Track(String, ha_core::track::TrackState),
    Groups(Vec<SyncGroupConfig>, std_mpsc::Sender<Result<(), String>>),
    Shutdown,
}

/// An [`InstanceSet`] running in a namespace on its own thread.
pub struct OurSet {
    ctl: tokio::sync::mpsc::UnboundedSender<SetCtl>,
    events: std_mpsc::Receiver<SetEvent>,
    thread: Option<thread::JoinHandle<()>>,
    /// Every event seen so far, with when it was seen.
    pub log: Vec<(Instant, SetEvent)>,
}

impl OurSet {
    /// Starts `configs` with sync `groups` in namespace `ns`.
    pub fn start(ns: &str, configs: Vec<InstanceConfig>, groups: Vec<SyncGroupConfig>) -> OurSet {
        let path = format!("/run/netns/{ns}");
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let thread = thread::Builder::new()
            .name(format!("vrrpset-{ns}"))
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
                    let (set, handle, mut events) = match InstanceSet::start(configs, groups).await
                    {
                        Ok(x) => x,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let run = tokio::spawn(set.run());
                    let forward = tokio::spawn(async move {
                        while let Some(e) = events.recv().await {
                            if ev_tx.send(e).is_err() {
                                break;
                            }
                        }
                    });
                    loop {
                        match ctl_rx.recv().await {
                            Some(SetCtl::Command(name, c)) => {
                                let _ = handle.command(&name, c);
                            }
                            Some(SetCtl::Add(config, reply)) => {
                                let _ = reply
                                    .send(handle.add(*config).await.map_err(|e| e.to_string()));
                            }
                            Some(SetCtl::Remove(name, reply)) => {
                                let _ = reply
                                    .send(handle.remove(&name).await.map_err(|e| e.to_string()));
                            }
                            Some(SetCtl::Groups(groups, reply)) => {
                                let _ = reply.send(
                                    handle
                                        .set_sync_groups(groups)
                                        .await
                                        .map_err(|e| e.to_string()),
                                );
                            }
                            Some(SetCtl::Track(object, state)) => {
                                let _ = handle.track(object, state);
                            }
                            Some(SetCtl::Shutdown) | None => {
                                handle.shutdown().await;
                                break;
                            }
                        }
                    }
                    let _ = run.await;
                    drop(handle);
                    let _ = forward.await;
                });
            })
            .expect("thread");
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("instance set in {ns} did not start: {e}"),
            Err(e) => panic!("instance set in {ns} did not report: {e}"),
        }
        OurSet {
            ctl: ctl_tx,
            events: ev_rx,
            thread: Some(thread),
            log: Vec::new(),
        }
    }

    /// Moves the events received so far into [`OurSet::log`].
    pub fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            if let SetEvent::Instance {
                instance,
                event: InstanceEvent::ActionFailed { action, error },
            } = &e
            {
                eprintln!("{instance}: action failed: {action}: {error}");
            }
            self.log.push((Instant::now(), e));
        }
    }

    /// The state of `instance` after the events seen so far.
    pub fn state(&mut self, instance: &str) -> State {
        self.drain();
        self.log
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                SetEvent::Instance {
                    instance: i,
                    event: InstanceEvent::Router(Event::StateChanged { to, .. }),
                } if i == instance => Some(*to),
                _ => None,
            })
            .unwrap_or(State::Initialize)
    }

    /// The state of `group` after the events seen so far.
    pub fn group_state(&mut self, group: &str) -> State {
        self.drain();
        self.log
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                SetEvent::GroupStateChanged { group: g, to, .. } if g == group => Some(*to),
                _ => None,
            })
            .unwrap_or(State::Initialize)
    }

    /// Action failures seen so far.
    pub fn failures(&mut self) -> Vec<String> {
        self.drain();
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                SetEvent::Instance {
                    instance,
                    event: InstanceEvent::ActionFailed { action, error },
                } => Some(format!("{instance}: {action}: {error}")),
                _ => None,
            })
            .collect()
    }

    /// Waits until every instance in `instances` is in `state`.
    pub fn wait_states(&mut self, instances: &[&str], state: State, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if instances.iter().all(|i| self.state(i) == state) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a router command to one instance.
    pub fn command(&self, instance: &str, command: RouterCommand) {
        let _ = self
            .ctl
            .send(SetCtl::Command(instance.to_string(), command));
    }

    /// Reports a tracked object's state to every instance and group.
    pub fn track(&self, object: &str, state: ha_core::track::TrackState) {
        let _ = self.ctl.send(SetCtl::Track(object.to_string(), state));
    }

    /// Replaces the sync groups at runtime.
    pub fn set_sync_groups(&self, groups: Vec<SyncGroupConfig>) -> Result<(), String> {
        let (tx, rx) = std_mpsc::channel();
        let _ = self.ctl.send(SetCtl::Groups(groups, tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|e| e.to_string())?
    }

    /// Adds an instance at runtime.
    pub fn add(&self, config: InstanceConfig) -> Result<(), String> {
        let (tx, rx) = std_mpsc::channel();
        let _ = self.ctl.send(SetCtl::Add(Box::new(config), tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|e| e.to_string())?
    }

    /// Removes an instance at runtime (graceful).
    pub fn remove(&self, instance: &str) -> Result<(), String> {
        let (tx, rx) = std_mpsc::channel();
        let _ = self.ctl.send(SetCtl::Remove(instance.to_string(), tx));
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|e| e.to_string())?
    }

    /// Graceful stop of every instance; waits for the thread. Returns the events.
    pub fn shutdown(mut self) -> Vec<(Instant, SetEvent)> {
        let _ = self.ctl.send(SetCtl::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.drain();
        std::mem::take(&mut self.log)
    }
}

impl Drop for OurSet {
    fn drop(&mut self) {
        let _ = self.ctl.send(SetCtl::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the future `make` builds on a current-thread tokio runtime on a thread inside
/// namespace `ns`, and returns its output.
pub fn block_on_in_ns<T, F>(ns: &str, make: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    let path = format!("/run/netns/{ns}");
    thread::Builder::new()
        .name(format!("ns-{ns}"))
        .spawn(move || {
            let file = File::open(&path).expect("namespace file");
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(make())
        })
        .expect("thread")
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

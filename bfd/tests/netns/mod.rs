//! The BFD side of the privileged suites, on `ha_core::testbed`'s network-namespace labs
//! ([`Lab::new`]: namespaces on one bridge with `10.99.0.i/24` and `fd99::i/64` on each
//! `eth0`; [`Lab::routed`]: three namespaces in a line around a forwarding router, for
//! multihop).
//!
//! [`OurBfd`] runs an [`Engine`] over [`UdpIo`] on its own thread inside a namespace, with
//! a current-thread tokio runtime; [`Frr`] runs FRR's bfdd in one.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::{Command as BfdCommand, Engine, Event, SessionConfig, SessionId, State};
use ha_core::driver::DriverEvent;
use ha_core::testbed::{run, spawn_in_ns};

#[allow(unused_imports)] // each test binary uses its own subset
pub use ha_core::testbed::{Lab, binary_or_skip, root_or_skip, wait_for};

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
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (done_tx, done_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let seed = ns.bytes().fold(u64::from(std::process::id()), |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let thread = spawn_in_ns(ns, &format!("bfd-{ns}"), move || async move {
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

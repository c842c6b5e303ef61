//! The VRRP side of the privileged suites, on `ha_core::testbed`'s network-namespace labs
//! ([`Lab`]: namespaces on one bridge, `10.99.0.i/24` and `fe80::i/64` on each `eth0`).
//!
//! [`OurRouter`] runs an [`Instance`], [`OurSet`] an [`InstanceSet`], each on its own
//! thread inside a namespace with a current-thread tokio runtime.
#![allow(dead_code)]

use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ha_core::testbed::spawn_in_ns;
use ha_vrrp::linux::{Instance, InstanceConfig, InstanceEvent, InstanceSet, SetEvent};
use ha_vrrp::{Command as RouterCommand, Event, RouterConfig, State, SyncGroupConfig};

#[allow(unused_imports)] // each test binary uses its own subset
pub use ha_core::testbed::{Lab, block_on_in_ns, root_or_skip, wait_for};

/// True when the `keepalived` binary is installed; otherwise prints why.
pub fn keepalived_or_skip(test: &str) -> bool {
    ha_core::testbed::program_or_skip(test, "keepalived")
}

/// Hands the events of what runs on a namespace's thread to the test's thread.
fn forward<E: Send + 'static>(
    mut events: tokio::sync::mpsc::UnboundedReceiver<E>,
    to: std_mpsc::Sender<E>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if to.send(e).is_err() {
                break;
            }
        }
    })
}

/// Waits until the namespace's thread says whether `what` started; panics if it did not.
fn wait_ready(what: &str, ns: &str, ready: &std_mpsc::Receiver<Result<(), String>>) {
    match ready.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what} in {ns} did not start: {e}"),
        Err(e) => panic!("{what} in {ns} did not report: {e}"),
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
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let thread = spawn_in_ns(ns, &format!("vrrp-{ns}"), move || async move {
            let (instance, handle, events) = match Instance::start(config).await {
                Ok(x) => x,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let run = tokio::spawn(instance.run());
            forward(events, ev_tx);
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
        wait_ready("instance", ns, &ready_rx);
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
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let thread = spawn_in_ns(ns, &format!("vrrpset-{ns}"), move || async move {
            let (set, handle, events) = match InstanceSet::start(configs, groups).await {
                Ok(x) => x,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let run = tokio::spawn(set.run());
            let forwarder = forward(events, ev_tx);
            loop {
                match ctl_rx.recv().await {
                    Some(SetCtl::Command(name, c)) => {
                        let _ = handle.command(&name, c);
                    }
                    Some(SetCtl::Add(config, reply)) => {
                        let _ = reply.send(handle.add(*config).await.map_err(|e| e.to_string()));
                    }
                    Some(SetCtl::Remove(name, reply)) => {
                        let _ = reply.send(handle.remove(&name).await.map_err(|e| e.to_string()));
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
            let _ = forwarder.await;
        });
        wait_ready("instance set", ns, &ready_rx);
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

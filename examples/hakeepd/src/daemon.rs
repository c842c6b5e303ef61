//! The daemon's loop: VRRP instances, their tracked scripts and files, notifications,
//! reload, dumps, and the control requests of the HTTP endpoint.
//!
//! One task owns all state and handles one input at a time, so notifications leave in the
//! order the events arrived and a reload never races a control request.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use ha_core::track::TrackState;
use ha_healthcheck::checkers::MiscCheck;
use ha_healthcheck::runner::{Runner, RunnerHandle};
use ha_healthcheck::{
    CheckSpec, CheckTiming, CheckerKey, Health, SchedulerConfig, SubscriptionId, Target,
    VerdictEvent,
};
use ha_vrrp::linux::{
    InstanceConfig, InstanceEvent, InstanceSet, InstanceSetHandle, Netlink, SetEvent, apply_static,
    remove_static,
};
use ha_vrrp::{Command, Event, Priority, State};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::bfd::{Bfd, BfdChange, DriverReportCounts, DriverReports};
use super::load::{Loaded, load, system_interfaces};
use super::lvs::{Lvs, VirtualServerStatus};
use super::notify::{Notifier, NotifyState, Scripts};
use super::script::{AccountDb, command_line};
use super::systemd;

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// Grammar options (`@` conditional lines use `config_id`).
    pub conf: ha_core::conf::Options,
    /// Where SIGUSR1/SIGUSR2/JSON dumps go (keepalived: `/tmp`).
    pub dump_dir: PathBuf,
    /// Run the VRRP instances.
    pub vrrp: bool,
    /// Run the health checks and program IPVS.
    pub checks: bool,
    /// Run the BFD sessions.
    pub bfd: bool,
    /// Where IPVS is programmed.
    pub ipvs: IpvsTarget,
}

/// Where the load balancer's table goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpvsTarget {
    /// The kernel, over generic netlink.
    Kernel,
    /// An in-memory table only (a dry run on a host without `ip_vs`; `/status` shows
    /// it).
    DryRun,
}

/// A request to the daemon's loop, with its reply.
#[derive(Debug)]
pub struct ControlRequest {
    /// What to do.
    pub action: Action,
    /// The answer: JSON on success, a message on failure.
    pub reply: oneshot::Sender<Result<serde_json::Value, String>>,
}

/// What a control request asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The status document.
    Status,
    /// The Prometheus text exposition.
    Metrics,
    /// Change an instance's configured priority, live.
    SetPriority {
        /// The instance.
        instance: String,
        /// The new priority (1..=254; 255 is the address owner's).
        priority: u8,
    },
    /// Add a virtual address to an instance without a reload.
    AddAddress {
        /// The instance.
        instance: String,
        /// The address.
        address: IpAddr,
    },
    /// Remove a virtual address from an instance without a reload.
    RemoveAddress {
        /// The instance.
        instance: String,
        /// The address.
        address: IpAddr,
    },
    /// Add a real server (without checks) to every service of a virtual server.
    AddRealServer {
        /// The virtual server's name, as in the status (`192.0.2.1:80/TCP`).
        virtual_server: String,
        /// The real server.
        real_server: SocketAddr,
        /// Its weight.
        weight: u32,
    },
    /// Remove a real server.
    RemoveRealServer {
        /// The virtual server's name.
        virtual_server: String,
        /// The real server.
        real_server: SocketAddr,
    },
    /// Drain a real server (weight 0, kept) or put it back in service.
    DrainRealServer {
        /// The virtual server's name.
        virtual_server: String,
        /// The real server.
        real_server: SocketAddr,
        /// Drain (`true`) or restore (`false`).
        drain: bool,
    },
    /// Reload the configuration, as SIGHUP does.
    Reload,
}

enum Input {
    Vrrp(SetEvent),
    Verdict(VerdictEvent),
    TrackFile { object: String, state: TrackState },
    Control(ControlRequest),
    Bfd(BfdChange),
}

/// Counters kept per instance.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InstanceCounters {
    /// Transitions into each state.
    pub transitions: BTreeMap<String, u64>,
    /// System actions that failed (address changes, GARP).
    pub action_failures: u64,
    /// Timers that fired late, as the driver reported them.
    pub late_timers: u64,
    /// Send or receive failures.
    pub io_failures: u64,
}

/// One instance in the status document.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// Its interface.
    pub interface: String,
    /// Its VRID.
    pub vrid: u8,
    /// Its state.
    pub state: String,
    /// Its effective priority.
    pub priority: u8,
    /// Its configured priority.
    pub base_priority: u8,
    /// Its virtual addresses.
    pub virtual_addresses: Vec<IpAddr>,
    /// The Master it last heard from.
    pub master: Option<IpAddr>,
    /// Seconds since the Unix epoch of its last transition.
    pub last_transition: f64,
    /// Its counters.
    pub counters: InstanceCounters,
}

/// The status document (`/status`, the JSON dump).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// `router_id`.
    pub router_id: Option<String>,
    /// The configuration file.
    pub config: String,
    /// Seconds since the Unix epoch at start.
    pub started: f64,
    /// Successful reloads.
    pub reloads: u64,
    /// Reloads rejected because the new configuration did not load.
    pub failed_reloads: u64,
    /// Warnings of the running configuration.
    pub config_warnings: Vec<String>,
    /// The VRRP instances.
    pub instances: Vec<InstanceStatus>,
    /// Tracked scripts and files with their state.
    pub tracked: BTreeMap<String, String>,
    /// Notifications.
    pub notify: NotifyCounters,
    /// The virtual servers.
    pub virtual_servers: Vec<VirtualServerStatus>,
    /// BFD sessions: up or not.
    pub bfd: BTreeMap<String, bool>,
    /// What the BFD engine's driver reported: late timers, I/O failures.
    pub bfd_driver: DriverReportCounts,
    /// The load balancer's state: `off`, `running`, or why it is not.
    pub ipvs: String,
    /// The IPVS table as `ipvsadm -Sn` would print it (dry run only).
    pub ipvs_table: Option<String>,
    /// IPVS updates that failed.
    pub ipvs_failures: u64,
}

/// Notification counters in the status document.
#[derive(Clone, Debug, Serialize)]
pub struct NotifyCounters {
    /// Scripts started.
    pub scripts_started: u64,
    /// Scripts not started.
    pub script_failures: u64,
    /// FIFO lines written.
    pub fifo_lines: u64,
    /// FIFO lines dropped.
    pub fifo_drops: u64,
}

struct Running {
    /// The configuration it runs, with runtime changes.
    config: InstanceConfig,
    /// The configuration from the file (to tell what a reload changes).
    loaded: InstanceConfig,
    scripts: Scripts,
    state: State,
    priority: u8,
    master: Option<IpAddr>,
    since: SystemTime,
    counters: InstanceCounters,
}

/// The daemon. Build it with [`Daemon::start`], drive it with [`Daemon::run`].
pub struct Daemon {
    opts: DaemonOptions,
    loaded: Loaded,
    notifier: Notifier,
    instances: BTreeMap<String, Running>,
    /// The running VRRP instances and their sync groups.
    set: Option<InstanceSetHandle>,
    tx: mpsc::UnboundedSender<Input>,
    rx: mpsc::UnboundedReceiver<Input>,
    runner: RunnerHandle,
    script_subs: BTreeMap<SubscriptionId, String>,
    track_states: BTreeMap<String, TrackState>,
    file_poller: Option<tokio::task::JoinHandle<()>>,
    started: SystemTime,
    reloads: u64,
    failed_reloads: u64,
    control: mpsc::Sender<ControlRequest>,
    lvs: Option<Lvs>,
    lvs_state: String,
    /// The dry-run table, when IPVS is simulated.
    fake: Option<Arc<ha_ipvs::FakeIpvs>>,
    /// Until the first table update: wait for every check's first verdict, but not
    /// past this.
    lvs_settle_until: tokio::time::Instant,
    /// The table has been programmed since the load balancer (re)started.
    lvs_programmed: bool,
    bfd: Option<Bfd>,
    bfd_states: BTreeMap<String, bool>,
    bfd_reports: Arc<DriverReports>,
}

/// A sender of control requests, for the HTTP endpoint.
pub type ControlSender = mpsc::Sender<ControlRequest>;

fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn notify_state(s: State) -> Option<NotifyState> {
    match s {
        State::Master => Some(NotifyState::Master),
        State::Backup => Some(NotifyState::Backup),
        State::Fault => Some(NotifyState::Fault),
        State::Initialize => None,
    }
}

impl Daemon {
    /// Loads the configuration and starts every component. Must run inside a tokio
    /// runtime, in the network namespace the daemon serves.
    pub async fn start(opts: DaemonOptions) -> Result<Daemon, String> {
        let interfaces = system_interfaces().await?;
        let loaded = load(&opts.config, &opts.conf, &interfaces).map_err(|e| e.to_string())?;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let accounts = AccountDb::system();
        let account = accounts
            .default_account(loaded.settings.script_user.as_ref())
            .map_err(|e| format!("script_user: {e}"))?;
        if loaded.settings.script_user.is_none()
            && accounts.resolve("keepalived_script", None).is_err()
        {
            warn!(
                %account,
                "no script_user and no keepalived_script user: scripts run as nobody \
                 (keepalived would run them as root; say `script_user root` for that)"
            );
        }
        let s = &loaded.settings;
        let notifier = Notifier::new(
            [
                s.notify_fifo.as_ref(),
                s.vrrp_notify_fifo.as_ref(),
                s.lvs_notify_fifo.as_ref(),
            ],
            account,
            s.enable_script_security,
            accounts,
        );
        let mut notifier = notifier;
        notifier.set_mail(mail_policy(&loaded.settings));
        let (tx, rx) = mpsc::unbounded_channel();
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let (runner, runner_handle, mut verdicts) =
            Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(seed));
        tokio::spawn(runner.run());
        let vtx = tx.clone();
        tokio::spawn(async move {
            while let Some(v) = verdicts.recv().await {
                if vtx.send(Input::Verdict(v)).is_err() {
                    break;
                }
            }
        });
        let (control, mut control_rx) = mpsc::channel(32);
        let ctx = tx.clone();
        tokio::spawn(async move {
            while let Some(r) = control_rx.recv().await {
                if ctx.send(Input::Control(r)).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            opts,
            loaded,
            notifier,
            instances: BTreeMap::new(),
            set: None,
            tx,
            rx,
            runner: runner_handle,
            script_subs: BTreeMap::new(),
            track_states: BTreeMap::new(),
            file_poller: None,
            started: SystemTime::now(),
            reloads: 0,
            failed_reloads: 0,
            control,
            lvs: None,
            lvs_state: "off".into(),
            fake: None,
            lvs_settle_until: tokio::time::Instant::now(),
            lvs_programmed: false,
            bfd: None,
            bfd_states: BTreeMap::new(),
            bfd_reports: Arc::default(),
        };
        d.apply_tracking().await;
        d.start_bfd();
        d.start_lvs().await;
        if d.opts.vrrp {
            d.start_vrrp().await?;
        }
        Ok(d)
    }

    /// A sender of control requests.
    pub fn control(&self) -> ControlSender {
        self.control.clone()
    }

    /// Runs until SIGTERM or SIGINT, then stops every instance gracefully.
    pub async fn run(mut self) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).ok();
        let mut usr1 = signal(SignalKind::user_defined1()).ok();
        let mut usr2 = signal(SignalKind::user_defined2()).ok();
        let mut json = signal(SignalKind::from_raw(json_signal())).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        systemd::notify(&format!(
            "READY=1\nSTATUS={} VRRP instances",
            self.instances.len()
        ));
        loop {
            let tick = self.lvs_wakeup();
            tokio::select! {
                Some(input) = self.rx.recv() => self.handle(input).await,
                () = tokio::time::sleep_until(tick) => self.lvs_sync().await,
                Some(()) = recv(&mut hup) => { let _ = self.reload().await; }
                Some(()) = recv(&mut usr1) => self.dump_data(),
                Some(()) = recv(&mut usr2) => self.dump_stats(),
                Some(()) = recv(&mut json) => self.dump_json(),
                Some(()) = recv(&mut term) => break,
                Some(()) = recv(&mut int) => break,
            }
        }
        self.shutdown().await;
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Vrrp(SetEvent::Instance { instance, event }) => {
                if let Some((master, vrid)) = self.on_instance_event(&instance, event) {
                    if let Some(lvs) = self.lvs.as_mut() {
                        lvs.on_vrrp_state(&instance, master, vrid).await;
                    }
                }
            }
            Input::Vrrp(SetEvent::GroupStateChanged { group, to, .. }) => {
                if let Some(state) = notify_state(to) {
                    let scripts = self
                        .loaded
                        .vrrp
                        .group_notify
                        .get(&group)
                        .map(Scripts::from)
                        .unwrap_or_default();
                    info!(%group, %to, "sync group transition");
                    self.notifier.group(&group, state, &scripts);
                }
            }
            Input::Vrrp(SetEvent::Stopped { instance, error }) => {
                if let Some(e) = error {
                    error!(%instance, %e, "instance stopped");
                    if let Some(r) = self.instances.get_mut(&instance) {
                        r.state = State::Initialize;
                    }
                }
            }
            Input::Verdict(v) => {
                if let Some(lvs) = self.lvs.as_mut() {
                    if lvs.owns(v.subscription) {
                        if lvs.on_verdict(&v, &mut self.notifier) {
                            self.lvs_sync().await;
                        }
                        return;
                    }
                }
                if let Some(name) = self.script_subs.get(&v.subscription).cloned() {
                    let state = match v.health {
                        Health::Up => TrackState::Up,
                        Health::Down => TrackState::Down,
                    };
                    self.set_track(format!("script:{name}"), state);
                }
            }
            Input::TrackFile { object, state } => self.set_track(object, state),
            Input::Bfd(change) => {
                self.bfd_states.insert(change.name.clone(), change.up);
                if change.to_vrrp {
                    let state = if change.up {
                        TrackState::Up
                    } else {
                        TrackState::Down
                    };
                    self.set_track(format!("bfd:{}", change.name), state);
                }
                if change.to_checker {
                    if let Some(lvs) = self.lvs.as_mut() {
                        if lvs.on_bfd(&change.name, change.up, &mut self.notifier) {
                            self.lvs_sync().await;
                        }
                    }
                }
            }
            Input::Control(req) => {
                let answer = self.control_action(req.action).await;
                let _ = req.reply.send(answer);
            }
        }
    }

    fn set_track(&mut self, object: String, state: TrackState) {
        if self.track_states.get(&object) == Some(&state) {
            return;
        }
        info!(%object, ?state, "tracked object changed");
        self.track_states.insert(object.clone(), state);
        // The set tells every instance and sync group that tracks it.
        if let Some(set) = &self.set {
            let _ = set.track(object, state);
        }
    }

    /// Handles an instance's event; returns `(is master, vrid)` after a transition.
    fn on_instance_event(&mut self, name: &str, event: InstanceEvent) -> Option<(bool, u8)> {
        let r = self.instances.get_mut(name)?;
        match event {
            InstanceEvent::Router(Event::StateChanged { to, priority, .. }) => {
                r.priority = priority.get();
                if r.state == to {
                    // A restarted instance re-entering the state it had: nothing
                    // changed for the outside world.
                    return None;
                }
                r.state = to;
                r.since = SystemTime::now();
                *r.counters.transitions.entry(to.to_string()).or_default() += 1;
                if let Some(s) = notify_state(to) {
                    let scripts = r.scripts.clone();
                    let prio = r.priority;
                    self.notifier.instance(name, s, prio, &scripts);
                }
                let vrid = r.config.router.vrid.get();
                return Some((to == State::Master, vrid));
            }
            InstanceEvent::Router(Event::PriorityChanged { to, .. }) => {
                r.priority = to.get();
                let master = r.state == State::Master;
                self.notifier.priority(name, master, to.get());
            }
            InstanceEvent::Router(Event::MasterLearned { master, .. }) => r.master = Some(master),
            InstanceEvent::Router(_) => {}
            InstanceEvent::ActionFailed { action, error } => {
                r.counters.action_failures += 1;
                error!(instance = name, %action, %error, "action failed");
            }
            InstanceEvent::Driver(ha_core::driver::DriverEvent::LateTimer { .. }) => {
                r.counters.late_timers += 1
            }
            InstanceEvent::Driver(_) => r.counters.io_failures += 1,
        }
        None
    }

    /// The configuration an instance starts with: tracked objects in their current
    /// state, not their configured one.
    fn with_current_tracks(&self, mut config: InstanceConfig) -> InstanceConfig {
        for t in &mut config.router.track {
            if let Some(s) = self.track_states.get(&t.object) {
                t.initial = *s;
            }
        }
        config
    }

    fn record(&mut self, config: InstanceConfig, loaded: InstanceConfig, keep: Option<Running>) {
        let name = config.router.name.clone();
        let scripts = self
            .loaded
            .vrrp
            .extras
            .get(&name)
            .map(|e| Scripts::from(&e.notify))
            .unwrap_or_default();
        let running = match keep {
            Some(old) => Running {
                config,
                loaded,
                scripts,
                ..old
            },
            None => Running {
                priority: config.router.priority.get(),
                config,
                loaded,
                scripts,
                state: State::Initialize,
                master: None,
                since: SystemTime::now(),
                counters: InstanceCounters::default(),
            },
        };
        self.instances.insert(name, running);
    }

    /// Applies the static addresses, routes and rules, and starts every instance with
    /// its sync groups. An instance that cannot start (a missing interface, say) stops
    /// the start.
    async fn start_vrrp(&mut self) -> Result<(), String> {
        apply_statics(&self.loaded.vrrp).await;
        let configs: Vec<InstanceConfig> = self
            .loaded
            .instances
            .clone()
            .into_iter()
            .map(|c| self.with_current_tracks(c))
            .collect();
        let groups = self.loaded.vrrp.host.sync_groups.clone();
        let (set, handle, mut events) = InstanceSet::start(configs.clone(), groups)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(set.run());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if tx.send(Input::Vrrp(e)).is_err() {
                    break;
                }
            }
        });
        self.set = Some(handle);
        for (config, loaded) in configs.into_iter().zip(self.loaded.instances.clone()) {
            self.record(config, loaded, None);
        }
        Ok(())
    }

    /// Adds an instance to the running set.
    async fn add_instance(&mut self, config: InstanceConfig) {
        let Some(set) = self.set.clone() else {
            return;
        };
        let start = self.with_current_tracks(config.clone());
        match set.add(start.clone()).await {
            Ok(()) => self.record(start, config, None),
            Err(e) => error!(instance = %config.router.name, %e, "cannot start instance"),
        }
    }

    /// Restarts an instance with a new configuration in place, keeping its state: the
    /// old one stops without a priority-0 advert and without removing its addresses, a
    /// Master comes back as Master over them.
    async fn replace_instance(
        &mut self,
        name: &str,
        config: InstanceConfig,
        loaded: InstanceConfig,
    ) {
        let Some(set) = self.set.clone() else {
            return;
        };
        let Some(old) = self.instances.remove(name) else {
            return;
        };
        let start = self.with_current_tracks(config);
        if let Err(e) = set.replace(name, start.clone()).await {
            error!(instance = %name, %e, "cannot restart instance");
            return;
        }
        // Addresses the new configuration drops are removed by hand: the new instance
        // does not know them.
        let gone: Vec<IpAddr> = old
            .config
            .router
            .virtual_addresses
            .iter()
            .filter(|a| !start.router.virtual_addresses.contains(a))
            .copied()
            .collect();
        if old.state == State::Master && !gone.is_empty() {
            remove_addresses(&old.config, &gone).await;
        }
        self.record(start, loaded, Some(old));
    }

    async fn stop_instance(&mut self, name: &str) {
        let Some(set) = self.set.clone() else {
            return;
        };
        if let Some(r) = self.instances.remove(name) {
            let _ = set.remove(name).await;
            let started = self
                .notifier
                .instance(name, NotifyState::Stop, r.priority, &r.scripts);
            Notifier::wait(started, Duration::from_secs(1)).await;
        }
    }

    /// (Re)subscribes the `vrrp_script`s and restarts the `track_file` poller.
    async fn apply_tracking(&mut self) {
        let old: Vec<SubscriptionId> = self.script_subs.keys().copied().collect();
        let mut subs = BTreeMap::new();
        // Only scripts some instance or group tracks are run, as keepalived does.
        let tracked: Vec<String> = self
            .loaded
            .instances
            .iter()
            .flat_map(|i| i.router.track.iter().map(|t| t.object.clone()))
            .chain(
                self.loaded
                    .vrrp
                    .host
                    .sync_groups
                    .iter()
                    .flat_map(|g| g.track.iter().map(|t| t.object.clone())),
            )
            .collect();
        for (name, s) in &self.loaded.vrrp.scripts {
            if !tracked.iter().any(|o| o == &format!("script:{name}")) {
                continue;
            }
            let account = match &s.user {
                Some((u, g)) => match self.notifier.resolve(u, g.as_deref()) {
                    Ok(a) => a,
                    Err(e) => {
                        error!(script = %name, %e, "vrrp_script user: script disabled");
                        continue;
                    }
                },
                None => self.notifier.account(),
            };
            let cmd = match command_line(&s.script) {
                Ok(c) => c,
                Err(e) => {
                    error!(script = %name, %e, "vrrp_script disabled");
                    continue;
                }
            };
            if self.loaded.settings.enable_script_security {
                if let Err(e) = super::script::check_secure(&cmd.program, account) {
                    error!(script = %name, %e, "vrrp_script disabled");
                    continue;
                }
            }
            let is_root = rustix::process::geteuid().is_root();
            let check = MiscCheck {
                program: cmd.program,
                args: cmd.args,
                timeout: s.timeout.unwrap_or(s.interval),
                dynamic: false,
                uid: (is_root && account.uid != 0).then_some(account.uid),
                gid: (is_root && account.uid != 0).then_some(account.gid),
                env: Vec::new(),
                output_limit: 4096,
            };
            let spec = CheckSpec {
                checker: CheckerKey::new(format!("vrrp_script:{name}:{}", s.script)),
                target: Target::new(SocketAddr::from(([0, 0, 0, 0], 0))),
                timing: CheckTiming {
                    interval: s.interval,
                    timeout: s.timeout.unwrap_or(s.interval),
                    rise: s.rise.max(1),
                    fall: s.fall.max(1),
                    retry: 0,
                    alpha: s.init_fail,
                    ..CheckTiming::default()
                },
            };
            match self.runner.subscribe(spec, Arc::new(check)).await {
                Ok(id) => {
                    subs.insert(id, name.clone());
                }
                Err(_) => error!("the script runner stopped"),
            }
        }
        for id in old {
            let _ = self.runner.unsubscribe(id).await;
        }
        self.script_subs = subs;
        if let Some(p) = self.file_poller.take() {
            p.abort();
        }
        let files: Vec<(String, PathBuf, bool)> = self
            .loaded
            .track_files
            .iter()
            .map(|(n, f)| (format!("file:{n}"), f.path.clone(), f.reverse))
            .collect();
        if !files.is_empty() {
            let tx = self.tx.clone();
            self.file_poller = Some(tokio::spawn(poll_track_files(files, tx)));
        }
    }

    /// SIGHUP: load the file again and apply the differences. Instances are matched by
    /// name; an unchanged one keeps running untouched, a priority change is applied
    /// live, any other change restarts the instance in its current state (a Master
    /// stays Master and keeps its addresses). A configuration that does not load is
    /// rejected and the running one stays.
    pub async fn reload(&mut self) -> Result<(), String> {
        systemd::notify("RELOADING=1");
        let result = self.reload_inner().await;
        match &result {
            Ok(()) => {
                self.reloads += 1;
                info!("configuration reloaded");
            }
            Err(e) => {
                self.failed_reloads += 1;
                error!(%e, "reload rejected; the running configuration stays");
            }
        }
        systemd::notify("READY=1");
        result
    }

    async fn reload_inner(&mut self) -> Result<(), String> {
        let interfaces = system_interfaces().await?;
        let loaded =
            load(&self.opts.config, &self.opts.conf, &interfaces).map_err(|e| e.to_string())?;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let bfd_changed = sessions(&self.loaded.bfd) != sessions(&loaded.bfd);
        if !bfd_changed && self.loaded.bfd.scheduling != loaded.bfd.scheduling {
            // The engine's thread is scheduled when it starts, as keepalived schedules its
            // BFD process; restarting it would take every session down.
            warn!(
                "bfd_rt_priority / bfd_priority / bfd_cpu_affinity changed by reload: in effect when the BFD sessions next change or the daemon restarts"
            );
        }
        let statics = |v: &ha_vrrp::keepalived::KeepalivedVrrp| {
            format!(
                "{:?}{:?}{:?}",
                v.static_addresses, v.static_routes, v.static_rules
            )
        };
        let statics_changed = statics(&self.loaded.vrrp) != statics(&loaded.vrrp);
        let groups_changed = self.loaded.vrrp.host.sync_groups != loaded.vrrp.host.sync_groups;
        if statics_changed && self.opts.vrrp {
            remove_statics(&self.loaded.vrrp).await;
            apply_statics(&loaded.vrrp).await;
        }
        let lvs_changed = lvs_shape(&self.loaded.ipvs) != lvs_shape(&loaded.ipvs);
        self.loaded = loaded;
        self.notifier.set_mail(mail_policy(&self.loaded.settings));
        self.apply_tracking().await;
        if bfd_changed {
            info!("BFD sessions changed by reload: restarting them");
            if let Some(b) = self.bfd.take() {
                b.stop().await;
            }
            self.bfd_states.clear();
            self.start_bfd();
        }
        if lvs_changed {
            info!("virtual servers changed by reload: rebuilding the pools");
            let old = self.lvs.take();
            self.start_lvs().await;
            if let Some(mut old) = old {
                // Services the new configuration drops are withdrawn; the others are
                // taken over by the new pools at their next pass.
                let keep = self
                    .lvs
                    .as_ref()
                    .map(|l| l.service_keys())
                    .unwrap_or_default();
                old.withdraw_except(&keep).await;
                old.unsubscribe(&self.runner).await;
            }
        }
        if !self.opts.vrrp {
            return Ok(());
        }
        let wanted: Vec<InstanceConfig> = self.loaded.instances.clone();
        // keepalived matches instances across a reload by VRID, family, interface, VMAC
        // and unicast source, not by name: a renamed instance keeps its state.
        let mut matched: BTreeMap<String, String> = BTreeMap::new();
        for config in &wanted {
            let old = self
                .instances
                .iter()
                .find(|(_, r)| same_instance(&r.loaded, config))
                .map(|(n, _)| n.clone());
            if let Some(old) = old {
                matched.insert(config.router.name.clone(), old);
            }
        }
        let gone: Vec<String> = self
            .instances
            .keys()
            .filter(|n| !matched.values().any(|m| m == *n))
            .cloned()
            .collect();
        for name in gone {
            info!(instance = %name, "removed by reload");
            self.stop_instance(&name).await;
        }
        if groups_changed {
            if let Some(set) = &self.set {
                if let Err(e) = set
                    .set_sync_groups(self.loaded.vrrp.host.sync_groups.clone())
                    .await
                {
                    error!(%e, "sync groups not changed by reload");
                }
            }
        }
        for config in wanted {
            let name = config.router.name.clone();
            let Some(old_name) = matched.get(&name).cloned() else {
                info!(instance = %name, "added by reload");
                self.add_instance(config).await;
                continue;
            };
            let Some(r) = self.instances.get_mut(&old_name) else {
                continue;
            };
            if old_name == name && r.loaded == config {
                continue;
            }
            let mut only_priority = r.loaded.clone();
            only_priority.router.priority = config.router.priority;
            if old_name == name && only_priority == config {
                if let Some(set) = &self.set {
                    let _ = set.command(
                        &name,
                        Command::SetPriority {
                            priority: config.router.priority,
                        },
                    );
                }
                r.config.router.priority = config.router.priority;
                r.loaded = config;
                continue;
            }
            if old_name != name {
                info!(instance = %name, was = %old_name, "renamed by reload: restarting in its current state");
            } else {
                info!(instance = %name, "changed by reload: restarting in its current state");
            }
            self.replace_instance(&old_name, config.clone(), config)
                .await;
        }
        // Notify scripts may change without the instance changing.
        for (name, r) in self.instances.iter_mut() {
            if let Some(e) = self.loaded.vrrp.extras.get(name) {
                r.scripts = Scripts::from(&e.notify);
            }
        }
        Ok(())
    }

    async fn control_action(&mut self, action: Action) -> Result<serde_json::Value, String> {
        match action {
            Action::Status => serde_json::to_value(self.status()).map_err(|e| e.to_string()),
            Action::Metrics => Ok(serde_json::Value::String(super::metrics::render(
                &self.status(),
            ))),
            Action::SetPriority { instance, priority } => {
                let r = self
                    .instances
                    .get_mut(&instance)
                    .ok_or_else(|| format!("no instance {instance}"))?;
                if !(1..=254).contains(&priority) {
                    return Err(format!("priority {priority} is not in 1..=254"));
                }
                let p = Priority(priority);
                self.set
                    .as_ref()
                    .ok_or("VRRP is not running")?
                    .command(&instance, Command::SetPriority { priority: p })
                    .map_err(|e| e.to_string())?;
                r.config.router.priority = p;
                info!(%instance, priority, "priority changed by the control API");
                Ok(serde_json::json!({ "instance": instance, "priority": priority }))
            }
            Action::AddAddress { instance, address } => {
                let r = self
                    .instances
                    .get(&instance)
                    .ok_or_else(|| format!("no instance {instance}"))?;
                if r.config.router.virtual_addresses.contains(&address) {
                    return Err(format!(
                        "{address} is already a virtual address of {instance}"
                    ));
                }
                if address.is_ipv4() != r.config.router.primary_address.is_ipv4() {
                    return Err(format!("{address} is not of the instance's address family"));
                }
                let mut config = r.config.clone();
                config.router.virtual_addresses.push(address);
                let loaded = r.loaded.clone();
                self.replace_instance(&instance, config, loaded).await;
                info!(%instance, %address, "virtual address added by the control API");
                Ok(serde_json::json!({ "instance": instance, "added": address }))
            }
            Action::RemoveAddress { instance, address } => {
                let r = self
                    .instances
                    .get(&instance)
                    .ok_or_else(|| format!("no instance {instance}"))?;
                if !r.config.router.virtual_addresses.contains(&address) {
                    return Err(format!("{address} is not a virtual address of {instance}"));
                }
                if r.config.router.virtual_addresses.len() == 1 {
                    return Err("an instance needs at least one virtual address".into());
                }
                let mut config = r.config.clone();
                config.router.virtual_addresses.retain(|a| a != &address);
                let loaded = r.loaded.clone();
                self.replace_instance(&instance, config, loaded).await;
                info!(%instance, %address, "virtual address removed by the control API");
                Ok(serde_json::json!({ "instance": instance, "removed": address }))
            }
            Action::AddRealServer {
                virtual_server,
                real_server,
                weight,
            } => {
                let lvs = self.lvs.as_mut().ok_or("no virtual servers are running")?;
                lvs.add_real_server(&virtual_server, real_server, weight, &mut self.notifier)?;
                lvs.sync().await;
                info!(%virtual_server, %real_server, weight, "real server added by the control API");
                Ok(serde_json::json!({ "virtual_server": virtual_server, "added": real_server }))
            }
            Action::RemoveRealServer {
                virtual_server,
                real_server,
            } => {
                let lvs = self.lvs.as_mut().ok_or("no virtual servers are running")?;
                lvs.remove_real_server(&virtual_server, real_server, &mut self.notifier)?;
                lvs.sync().await;
                info!(%virtual_server, %real_server, "real server removed by the control API");
                Ok(serde_json::json!({ "virtual_server": virtual_server, "removed": real_server }))
            }
            Action::DrainRealServer {
                virtual_server,
                real_server,
                drain,
            } => {
                let lvs = self.lvs.as_mut().ok_or("no virtual servers are running")?;
                let configured: BTreeMap<_, _> = [ha_ipvs::model::DestinationKey {
                    addr: real_server.ip(),
                    port: real_server.port(),
                }]
                .into_iter()
                .filter_map(|k| lvs.configured_weight(&virtual_server, &k).map(|w| (k, w)))
                .collect();
                lvs.drain_real_server(&virtual_server, real_server, drain, |k| {
                    configured.get(k).copied()
                })?;
                lvs.sync().await;
                info!(%virtual_server, %real_server, drain, "real server drain changed by the control API");
                Ok(
                    serde_json::json!({ "virtual_server": virtual_server, "real_server": real_server, "drained": drain }),
                )
            }
            Action::Reload => self
                .reload()
                .await
                .map(|()| serde_json::json!({ "reloaded": true })),
        }
    }

    fn start_bfd(&mut self) {
        if !self.opts.bfd || self.loaded.bfd.instances.is_empty() {
            return;
        }
        let tx = self.tx.clone();
        match Bfd::start(&self.loaded.bfd, self.bfd_reports.clone(), move |change| {
            let _ = tx.send(Input::Bfd(change));
        }) {
            Ok(b) => self.bfd = Some(b),
            Err(e) => error!(%e, "BFD not started"),
        }
    }

    async fn start_lvs(&mut self) {
        if !self.opts.checks || self.loaded.ipvs.virtual_servers.is_empty() {
            self.lvs_state = "off".into();
            return;
        }
        let backend: Arc<dyn ha_ipvs::IpvsBackend> = match self.opts.ipvs {
            IpvsTarget::DryRun => {
                let fake = Arc::new(ha_ipvs::FakeIpvs::new());
                self.fake = Some(fake.clone());
                fake
            }
            IpvsTarget::Kernel => {
                match ha_ipvs::client::IpvsClient::connect(ha_ipvs::client::ClientConfig::default())
                    .await
                {
                    Ok(c) => Arc::new(c),
                    Err(e) => {
                        error!(%e, "IPVS is not available: virtual servers are not programmed");
                        self.lvs_state = format!("unavailable: {e}");
                        return;
                    }
                }
            }
        };
        // Mapping warnings were reported at load time.
        let mut ignored = Vec::new();
        let scripts = super::lvs::ScriptPolicy {
            account: self.notifier.account(),
            security: self.loaded.settings.enable_script_security,
        };
        match Lvs::start(
            &self.loaded.config,
            &self.loaded.ipvs,
            backend,
            &self.runner,
            scripts,
            &mut ignored,
        )
        .await
        {
            Ok(lvs) => {
                self.lvs = Some(lvs);
                self.lvs_state = "running".into();
                // The table is first programmed once every check has given its first
                // verdict (shared checks do at once, fresh ones after their first
                // probe), so a server that is down is never added; a check that gives
                // none holds the table back for LVS_SETTLE at most.
                self.lvs_settle_until = tokio::time::Instant::now() + LVS_SETTLE;
                self.lvs_programmed = false;
            }
            Err(e) => {
                error!(%e, "virtual servers not started");
                self.lvs_state = format!("failed: {e}");
            }
        }
    }

    /// When the load balancer next needs a pass.
    fn lvs_wakeup(&self) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        match &self.lvs {
            None => now + Duration::from_secs(3600),
            Some(lvs) if !self.lvs_programmed => {
                if lvs.awaiting_first_verdicts() {
                    self.lvs_settle_until
                } else {
                    now
                }
            }
            Some(lvs) => now + lvs.poll_timeout().unwrap_or(Lvs::TICK).min(Lvs::TICK),
        }
    }

    async fn lvs_sync(&mut self) {
        let Some(lvs) = self.lvs.as_mut() else {
            return;
        };
        if !self.lvs_programmed
            && lvs.awaiting_first_verdicts()
            && tokio::time::Instant::now() < self.lvs_settle_until
        {
            return;
        }
        lvs.sync().await;
        self.lvs_programmed = true;
    }

    async fn stop_lvs(&mut self) {
        if let Some(mut lvs) = self.lvs.take() {
            lvs.shutdown().await;
            lvs.unsubscribe(&self.runner).await;
        }
    }

    /// The status document.
    pub fn status(&self) -> Status {
        let stats = self.notifier.stats();
        Status {
            router_id: self.loaded.settings.router_id.clone(),
            config: self.opts.config.display().to_string(),
            started: epoch_seconds(self.started),
            reloads: self.reloads,
            failed_reloads: self.failed_reloads,
            config_warnings: self.loaded.warnings.iter().map(|w| w.to_string()).collect(),
            instances: self
                .instances
                .iter()
                .map(|(name, r)| InstanceStatus {
                    name: name.clone(),
                    interface: r.config.interface.clone(),
                    vrid: r.config.router.vrid.get(),
                    state: r.state.to_string(),
                    priority: r.priority,
                    base_priority: r.config.router.priority.get(),
                    virtual_addresses: r.config.router.virtual_addresses.clone(),
                    master: r.master,
                    last_transition: epoch_seconds(r.since),
                    counters: r.counters.clone(),
                })
                .collect(),
            tracked: self
                .track_states
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v:?}").to_uppercase()))
                .collect(),
            notify: NotifyCounters {
                scripts_started: stats.scripts_started.load(Ordering::Relaxed),
                script_failures: stats.script_failures.load(Ordering::Relaxed),
                fifo_lines: stats.fifo_lines.load(Ordering::Relaxed),
                fifo_drops: stats.fifo_drops.load(Ordering::Relaxed),
            },
            virtual_servers: self.lvs.as_ref().map(|l| l.status()).unwrap_or_default(),
            bfd: self.bfd_states.clone(),
            bfd_driver: self.bfd_reports.counts(),
            ipvs: self.lvs_state.clone(),
            ipvs_table: self
                .fake
                .as_ref()
                .map(|f| ha_ipvs::ipvsadm::save(&f.snapshot())),
            ipvs_failures: self.lvs.as_ref().map(|l| l.apply_failures).unwrap_or(0),
        }
    }

    fn write_dump(&self, file: &str, text: &str) {
        let path = self.opts.dump_dir.join(file);
        match std::fs::write(&path, text) {
            Ok(()) => info!(path = %path.display(), "dump written"),
            Err(e) => error!(path = %path.display(), %e, "cannot write dump"),
        }
    }

    /// SIGUSR1: `keepalived.data`, the running configuration and state.
    fn dump_data(&self) {
        let mut out = String::from("------< Global definitions >------\n");
        let s = self.status();
        out += &format!(
            " Router ID = {}\n",
            s.router_id.as_deref().unwrap_or("(hostname)")
        );
        out += "------< VRRP Topology >------\n";
        for (name, r) in &self.instances {
            let c = &r.config.router;
            out += &format!(
                " VRRP Instance = {name}\n   State = {}\n   Interface = {}\n   Virtual Router ID = {}\n   \
                 Priority = {}\n   Effective priority = {}\n   Advert interval = {}ms\n   Preempt = {}\n   \
                 Virtual IP = {}\n",
                r.state,
                r.config.interface,
                c.vrid.get(),
                c.priority.get(),
                r.priority,
                c.advert_interval.to_duration().as_millis(),
                if c.preempt { "enabled" } else { "disabled" },
                c.virtual_addresses.len()
            );
            for a in &c.virtual_addresses {
                out += &format!("     {a}\n");
            }
            for t in &c.track {
                let state = self
                    .track_states
                    .get(&t.object)
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| "(instance)".into());
                out += &format!(
                    "   Tracked = {} weight {:?} {state}\n",
                    t.object, t.spec.weight
                );
            }
        }
        self.write_dump("keepalived.data", &out);
    }

    /// SIGUSR2: `keepalived.stats`, the counters.
    fn dump_stats(&self) {
        let mut out = String::new();
        for i in self.status().instances {
            out += &format!("VRRP Instance: {}\n", i.name);
            for (state, n) in &i.counters.transitions {
                out += &format!("  Became {state}: {n}\n");
            }
            out += &format!(
                "  Action failures: {}\n  Late timers: {}\n  I/O failures: {}\n",
                i.counters.action_failures, i.counters.late_timers, i.counters.io_failures
            );
        }
        if self.bfd.is_some() {
            let b = self.bfd_reports.counts();
            out += &format!(
                "BFD:\n  Late timers: {}\n  I/O failures: {}\n  Timer failures: {}\n",
                b.late_timers, b.io_failures, b.timer_failures
            );
        }
        self.write_dump("keepalived.stats", &out);
    }

    /// The JSON signal: `keepalived.json`, the status document.
    fn dump_json(&self) {
        match serde_json::to_string_pretty(&self.status()) {
            Ok(text) => self.write_dump("keepalived.json", &text),
            Err(e) => error!(%e, "cannot encode the status"),
        }
    }

    async fn shutdown(mut self) {
        systemd::notify("STOPPING=1");
        info!("stopping");
        let mut started = Vec::new();
        if let Some(set) = self.set.take() {
            // Every Master sends priority 0 and removes its addresses.
            set.shutdown().await;
        }
        let names: Vec<String> = self.instances.keys().cloned().collect();
        for name in &names {
            if let Some(r) = self.instances.remove(name) {
                started.extend(self.notifier.instance(
                    name,
                    NotifyState::Stop,
                    r.priority,
                    &r.scripts,
                ));
            }
        }
        for g in &self.loaded.vrrp.host.sync_groups {
            let scripts = self
                .loaded
                .vrrp
                .group_notify
                .get(&g.name)
                .map(Scripts::from)
                .unwrap_or_default();
            started.extend(self.notifier.group(&g.name, NotifyState::Stop, &scripts));
        }
        Notifier::wait(started, Duration::from_secs(1)).await;
        remove_statics(&self.loaded.vrrp).await;
        self.stop_lvs().await;
        if let Some(b) = self.bfd.take() {
            b.stop().await;
        }
        self.notifier.close().await;
        self.runner.stop().await;
        if let Some(p) = self.file_poller.take() {
            p.abort();
        }
    }
}

/// The mail policy of the settings: mail goes out when a server and recipients are
/// configured and `smtp_alert` (or `smtp_alert_vrrp` / `smtp_alert_checker`) is on.
fn mail_policy(s: &super::settings::DaemonSettings) -> Option<super::notify::MailPolicy> {
    let server = s.smtp_server?;
    if s.notification_email.is_empty() {
        return None;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let router_id = s.router_id.clone().unwrap_or_else(|| host.clone());
    let conf = super::smtp::SmtpConf {
        server,
        helo: s
            .smtp_helo_name
            .clone()
            .unwrap_or_else(|| router_id.clone()),
        from: s
            .notification_email_from
            .clone()
            .unwrap_or_else(|| format!("keepalived@{host}")),
        to: s.notification_email.clone(),
        timeout: s.smtp_connect_timeout.unwrap_or(Duration::from_secs(30)),
        router_id,
    };
    let all = s.smtp_alert.unwrap_or(false);
    Some(super::notify::MailPolicy {
        mailer: super::smtp::Mailer::new(conf),
        vrrp: s.smtp_alert_vrrp.unwrap_or(all),
        checker: s.smtp_alert_checker.unwrap_or(all),
        no_faults: s.no_email_faults,
    })
}

/// The longest a new set of checks holds back the first table update.
const LVS_SETTLE: Duration = Duration::from_secs(10);

/// keepalived's JSON dump signal (`keepalived --signum=JSON`): SIGRTMIN + 2.
pub fn json_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

async fn recv(sig: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sig {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn remove_addresses(config: &InstanceConfig, addresses: &[IpAddr]) {
    let Ok(netlink) = ha_vrrp::linux::Netlink::connect() else {
        return;
    };
    let Ok(link) = netlink.link_by_name(&config.interface).await else {
        return;
    };
    for a in addresses {
        let prefix = if a.is_ipv4() { 32 } else { 128 };
        let prefix = config
            .address_prefixes
            .iter()
            .find(|(x, _)| x == a)
            .map(|(_, p)| *p)
            .unwrap_or(prefix);
        if let Err(e) = netlink.remove_address(link.index, *a, prefix).await {
            warn!(address = %a, %e, "cannot remove a dropped virtual address");
        }
    }
}

/// Whether two configurations are the same instance across a reload, as keepalived
/// decides it: same VRID, address family, interface, VMAC use, and unicast or not (with
/// the same source when unicast).
fn same_instance(a: &InstanceConfig, b: &InstanceConfig) -> bool {
    let unicast = |c: &InstanceConfig| !c.router.unicast_peers.is_empty();
    a.router.vrid == b.router.vrid
        && a.router.primary_address.is_ipv4() == b.router.primary_address.is_ipv4()
        && a.interface == b.interface
        && a.vmac.is_some() == b.vmac.is_some()
        && unicast(a) == unicast(b)
        && (!unicast(a) || a.router.primary_address == b.router.primary_address)
}

/// Applies keepalived's `static_ipaddress`, `static_routes` and `static_rules`.
async fn apply_statics(v: &ha_vrrp::keepalived::KeepalivedVrrp) {
    if v.static_addresses.is_empty() && v.static_routes.is_empty() && v.static_rules.is_empty() {
        return;
    }
    match Netlink::connect() {
        Ok(n) => {
            for f in apply_static(&n, &v.static_addresses, &v.static_routes, &v.static_rules).await
            {
                error!(action = %f.action, error = %f.error, "static entry not applied");
            }
        }
        Err(e) => error!(%e, "static entries not applied"),
    }
}

/// Removes what [`apply_statics`] added.
async fn remove_statics(v: &ha_vrrp::keepalived::KeepalivedVrrp) {
    if v.static_addresses.is_empty() && v.static_routes.is_empty() && v.static_rules.is_empty() {
        return;
    }
    if let Ok(n) = Netlink::connect() {
        for f in remove_static(&n, &v.static_addresses, &v.static_routes, &v.static_rules).await {
            error!(action = %f.action, error = %f.error, "static entry not removed");
        }
    }
}

/// The BFD sessions of a mapping, without locations.
fn sessions(
    b: &ha_bfd::keepalived::KeepalivedBfd,
) -> Vec<(String, ha_bfd::SessionConfig, bool, bool)> {
    b.sessions()
        .into_iter()
        .map(|i| (i.name.clone(), i.session.clone(), i.to_vrrp, i.to_checker))
        .collect()
}

/// What the load balancer runs, without locations: pools and the checker blocks.
fn lvs_shape(m: &ha_ipvs::keepalived::KeepalivedIpvs) -> String {
    fn tree(n: &ha_core::conf::Node, out: &mut String) {
        out.push_str(&n.keyword);
        for a in &n.args {
            out.push(' ');
            out.push_str(a);
        }
        out.push('{');
        for c in &n.children {
            tree(c, out);
        }
        out.push('}');
    }
    let mut out = format!(
        "{:?}{:?}{:?}",
        m.sync_daemon
            .as_ref()
            .map(|d| (&d.interface, &d.vrrp_instance, d.sync_id)),
        m.timeouts,
        m.flush_on_stop
    );
    for vs in &m.virtual_servers {
        out.push_str(&format!("{:?}", vs.pools));
        tree(&vs.node, &mut out);
    }
    out
}

/// keepalived's `track_file`: the file holds a number; 0 is up, anything else (or a
/// missing or unreadable file) is down. Polled once a second.
async fn poll_track_files(files: Vec<(String, PathBuf, bool)>, tx: mpsc::UnboundedSender<Input>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        for (object, path, reverse) in &files {
            let value = tokio::fs::read_to_string(path)
                .await
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok());
            let mut state = match value {
                Some(0) => TrackState::Up,
                _ => TrackState::Down,
            };
            if *reverse && value.is_some() {
                state = state.inverted();
            }
            let input = Input::TrackFile {
                object: object.clone(),
                state,
            };
            if tx.send(input).is_err() {
                return;
            }
        }
    }
}

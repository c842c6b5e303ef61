//! The load-balancer side: checker verdicts → pool controllers → reconciler → IPVS.
//!
//! - Each real server's checker blocks are mapped by `ha-healthcheck` (with the timing
//!   defaults of its `virtual_server` and `real_server`) and subscribed on the shared
//!   check runner. A real server is alive while **all** its checks are up, as in
//!   keepalived; one without checks is always alive. `BFD_CHECK` verdicts come from the
//!   BFD sessions of the same name.
//! - Verdicts go to every pool (one per IPVS service; a `virtual_server group` has
//!   several) holding that real server. Pool events become notifications (`RS`/`VS`
//!   FIFO lines, `notify_up`/`notify_down`, `quorum_up`/`quorum_down`).
//! - After every change the desired table is compared with one dump of the kernel's and
//!   the difference applied; only services this daemon configured are touched.
//! - `lvs_sync_daemon` follows its VRRP instance: master while it is Master, backup
//!   otherwise.
//!
//! The backend is an [`IpvsBackend`]: the kernel's over netlink in the daemon, the
//! in-memory fake in tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ha_core::Instant;
use ha_core::conf::Config;
use ha_healthcheck::keepalived::{
    CheckDefaults, ExternalSource, MapContext, MappedCheck, map_real_server,
};
use ha_healthcheck::runner::RunnerHandle;
use ha_healthcheck::{Health, SubscriptionId, VerdictEvent};
use ha_ipvs::keepalived::{FlushOnStop, KeepalivedIpvs, SyncDaemonConf, VirtualServerConf};
use ha_ipvs::model::{DestinationKey, Protocol, ServiceKey, SyncState};
use ha_ipvs::reconcile::{Scope, apply};
use ha_ipvs::{
    IpvsBackend, PoolConfig, PoolController, PoolEvent, RealServer, Reconciler, Verdict,
};
use serde::Serialize;
use tracing::{error, info, warn};

use super::notify::Notifier;
use super::settings::ConfWarning;

/// Who `MISC_CHECK` scripts run as.
#[derive(Clone, Copy, Debug)]
pub struct ScriptPolicy {
    /// The default account (see [`super::script`]).
    pub account: super::script::Account,
    /// `enable_script_security`.
    pub security: bool,
}

impl ScriptPolicy {
    /// Gives a `MISC_CHECK` without its own `user` the default account, and refuses an
    /// unsafe script that would run as root under script security.
    fn apply(&self, checker: &mut ha_healthcheck::config::CheckerConfig) -> Result<(), String> {
        let ha_healthcheck::config::CheckerConfig::Misc { path, uid, gid, .. } = checker else {
            return Ok(());
        };
        let root = rustix::process::geteuid().is_root();
        if uid.is_none() && root && self.account.uid != 0 {
            *uid = Some(self.account.uid);
            *gid = Some(self.account.gid);
        }
        let runs_as = super::script::Account {
            uid: uid.unwrap_or(if root { 0 } else { self.account.uid }),
            gid: gid.unwrap_or(0),
        };
        if self.security {
            let cmd = super::script::command_line(path).map_err(|e| e.to_string())?;
            super::script::check_secure(&cmd.program, runs_as).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// One real server of one virtual server.
struct Server {
    /// Index into the virtual server's `real_servers`.
    index: usize,
    /// Its checks: subscription → last health (`None` until the first verdict).
    checks: BTreeMap<SubscriptionId, Option<Health>>,
    /// BFD sessions it follows (`BFD_CHECK`) with their last state.
    bfd: BTreeMap<String, bool>,
    /// Start down (`alpha` on a check).
    alpha: bool,
    /// The verdict last given to the pools.
    alive: Option<bool>,
}

struct VirtualServer {
    conf: VirtualServerConf,
    pools: Vec<PoolController>,
    servers: Vec<Server>,
    /// Real servers drained through the control API (weight 0, kept in the table).
    drained: Vec<DestinationKey>,
}

/// A real server in the status document.
#[derive(Clone, Debug, Serialize)]
pub struct RealServerStatus {
    /// `ip:port` (`[ip]:port` for IPv6), as the control API's `rs=` takes it.
    pub address: String,
    /// Passing its checks.
    pub alive: bool,
    /// Drained through the control API.
    pub drained: bool,
}

/// A virtual server in the status document.
#[derive(Clone, Debug, Serialize)]
pub struct VirtualServerStatus {
    /// keepalived-style name.
    pub name: String,
    /// Every pool has its quorum.
    pub quorum_up: bool,
    /// The sorry server is in service in some pool.
    pub sorry_active: bool,
    /// Its real servers.
    pub real_servers: Vec<RealServerStatus>,
}

/// The load balancer.
pub struct Lvs {
    backend: Arc<dyn IpvsBackend>,
    reconciler: Reconciler,
    servers: Vec<VirtualServer>,
    subs: BTreeMap<SubscriptionId, (usize, usize)>,
    sync_daemon: Option<SyncDaemonConf>,
    sync_role: Option<SyncState>,
    flush_on_stop: FlushOnStop,
    epoch: tokio::time::Instant,
    /// Failed kernel programming attempts.
    pub apply_failures: u64,
    /// Successful reconciliations that changed the table.
    pub applied: u64,
}

fn fmt_ip(ip: std::net::IpAddr) -> String {
    format!("[{ip}]")
}

/// keepalived's notation of a service in FIFO lines: `[ip]:tcp:port` or `FWM n`.
pub fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr {
            addr,
            protocol,
            port,
        } => {
            let p = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            format!("{}:{p}:{port}", fmt_ip(*addr))
        }
        ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
    }
}

fn server_name(key: &DestinationKey) -> String {
    format!("{}:{}", fmt_ip(key.addr), key.port)
}

impl Lvs {
    /// Builds the pools and subscribes every check. Mapping problems come back as
    /// warnings (a real server whose check cannot run keeps its other checks).
    /// `MISC_CHECK` scripts without their own `user` run as `scripts.account`, and with
    /// `scripts.security` a script that would run as root from an unsafe path is refused.
    pub async fn start(
        conf: &Config,
        mapped: &KeepalivedIpvs,
        backend: Arc<dyn IpvsBackend>,
        runner: &RunnerHandle,
        scripts: ScriptPolicy,
        warnings: &mut Vec<ConfWarning>,
    ) -> Result<Lvs, String> {
        let ctx = MapContext::from_config(conf).map_err(|e| e.to_string())?;
        let mut lvs = Lvs {
            backend,
            reconciler: Reconciler::new(None).with_scope(Scope::Owned),
            servers: Vec::new(),
            subs: BTreeMap::new(),
            sync_daemon: mapped.sync_daemon.clone(),
            sync_role: None,
            flush_on_stop: mapped.flush_on_stop,
            epoch: tokio::time::Instant::now(),
            apply_failures: 0,
            applied: 0,
        };
        if mapped.flush_on_start {
            if let Err(e) = lvs.backend.flush().await {
                error!(%e, "lvs_flush failed");
            }
        }
        if let Some(t) = &mapped.timeouts {
            if let Err(e) = lvs.backend.set_timeouts(t).await {
                error!(%e, "lvs_timeouts failed");
            }
        }
        for vs in &mapped.virtual_servers {
            let v = lvs
                .add_virtual_server(vs, &ctx.value, runner, scripts, warnings)
                .await?;
            lvs.servers.push(v);
        }
        if mapped
            .sync_daemon
            .as_ref()
            .is_some_and(|d| d.vrrp_instance.is_none())
        {
            // No instance to follow: both roles for as long as the daemon runs.
            lvs.start_sync(SyncState::Master, None).await;
            lvs.start_sync(SyncState::Backup, None).await;
        }
        Ok(lvs)
    }

    async fn add_virtual_server(
        &mut self,
        vs: &VirtualServerConf,
        ctx: &MapContext,
        runner: &RunnerHandle,
        scripts: ScriptPolicy,
        warnings: &mut Vec<ConfWarning>,
    ) -> Result<VirtualServer, String> {
        let mut vs_ctx = ctx.clone();
        let mut defaults = CheckDefaults::default();
        for c in &vs.node.children {
            defaults.apply(c).map_err(|e| e.to_string())?;
        }
        vs_ctx.defaults = defaults;
        let mut pools = Vec::new();
        for p in &vs.pools {
            pools.push(PoolController::new(p.clone()).map_err(|e| format!("{}: {e}", vs.name))?);
        }
        let vs_index = self.servers.len();
        let mut servers = Vec::new();
        for (index, rs) in vs.real_servers.iter().enumerate() {
            let mapped = map_real_server(&rs.node, &vs_ctx).map_err(|e| e.to_string())?;
            warnings.extend(mapped.warnings.iter().map(|w| ConfWarning {
                span: w.span.clone(),
                message: format!("{}: {}", w.keyword, w.message),
            }));
            let mut server = Server {
                index,
                checks: BTreeMap::new(),
                bfd: BTreeMap::new(),
                alpha: false,
                alive: None,
            };
            for check in mapped.value {
                match check {
                    MappedCheck::Probe(mut p) => {
                        server.alpha |= p.config.alpha;
                        if let Err(why) = scripts.apply(&mut p.config.checker) {
                            warnings.push(ConfWarning {
                                span: p.span.clone(),
                                message: format!("{}: not run: {why}", p.keyword),
                            });
                            continue;
                        }
                        let checker = match p.config.build() {
                            Ok(c) => c,
                            Err(e) => {
                                warnings.push(ConfWarning {
                                    span: p.span.clone(),
                                    message: format!("{}: cannot run: {e}", p.keyword),
                                });
                                continue;
                            }
                        };
                        let spec = p.config.spec(p.target(rs.address));
                        let id = runner
                            .subscribe(spec, checker)
                            .await
                            .map_err(|_| "the check runner stopped".to_string())?;
                        server.checks.insert(id, None);
                        self.subs.insert(id, (vs_index, index));
                    }
                    MappedCheck::External(e) => {
                        server.alpha |= e.alpha;
                        match e.source {
                            ExternalSource::Bfd { name } => {
                                server.bfd.insert(name, !e.alpha);
                            }
                            other => warnings.push(ConfWarning {
                                span: e.span.clone(),
                                message: format!("{other:?}: not supported"),
                            }),
                        }
                    }
                }
            }
            servers.push(server);
        }
        Ok(VirtualServer {
            conf: vs.clone(),
            pools,
            servers,
            drained: Vec::new(),
        })
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    /// Whether `sub` is one of ours.
    pub fn owns(&self, sub: SubscriptionId) -> bool {
        self.subs.contains_key(&sub)
    }

    /// A check verdict. Returns whether the table may need a change.
    pub fn on_verdict(&mut self, v: &VerdictEvent, notifier: &mut Notifier) -> bool {
        let Some(&(vsi, rsi)) = self.subs.get(&v.subscription) else {
            return false;
        };
        if let Some(s) = self.servers[vsi].servers.get_mut(rsi) {
            s.checks.insert(v.subscription, Some(v.health));
        }
        self.evaluate(vsi, rsi, notifier)
    }

    /// A BFD session changed: every `BFD_CHECK` on it follows.
    pub fn on_bfd(&mut self, session: &str, up: bool, notifier: &mut Notifier) -> bool {
        let mut touched = Vec::new();
        for (vsi, vs) in self.servers.iter_mut().enumerate() {
            for s in &mut vs.servers {
                if let Some(state) = s.bfd.get_mut(session) {
                    *state = up;
                    touched.push((vsi, s.index));
                }
            }
        }
        let mut changed = false;
        for (vsi, rsi) in touched {
            changed |= self.evaluate(vsi, rsi, notifier);
        }
        changed
    }

    fn evaluate(&mut self, vsi: usize, rsi: usize, notifier: &mut Notifier) -> bool {
        let now = self.now();
        let vs = &mut self.servers[vsi];
        let Some(s) = vs.servers.get_mut(rsi) else {
            return false;
        };
        let checks_up = s.checks.values().all(|h| match h {
            Some(h) => *h == Health::Up,
            None => !s.alpha,
        });
        let alive = checks_up && s.bfd.values().all(|up| *up);
        if s.alive == Some(alive) {
            return false;
        }
        s.alive = Some(alive);
        let verdict = if alive { Verdict::UP } else { Verdict::DOWN };
        let keys: Vec<(usize, DestinationKey)> = vs.conf.destinations(rsi).collect();
        for (p, key) in keys {
            if let Err(e) = vs.pools[p].set_verdict(now, &key, verdict) {
                warn!(%e, "pool refused a verdict");
            }
        }
        self.drain_events(vsi, notifier);
        true
    }

    fn drain_events(&mut self, vsi: usize, notifier: &mut Notifier) {
        let vs = &mut self.servers[vsi];
        for p in 0..vs.pools.len() {
            let service = service_name(&vs.pools[p].config().service.key);
            while let Some(ev) = vs.pools[p].poll_event() {
                match ev {
                    PoolEvent::RealServerUp(k) | PoolEvent::RealServerDown(k) => {
                        let up = matches!(ev, PoolEvent::RealServerUp(_));
                        // Pools list the real servers in configuration order.
                        let rs = vs.conf.pools[p]
                            .real_servers
                            .iter()
                            .position(|r| r.dest.key == k)
                            .and_then(|i| vs.conf.real_servers.get(i));
                        let script = rs.and_then(|r| {
                            if up {
                                r.notify_up.as_ref()
                            } else {
                                r.notify_down.as_ref()
                            }
                        });
                        info!(service = %service, server = %server_name(&k), up, "real server");
                        let mail = rs.and_then(|r| r.smtp_alert);
                        notifier.real_server(&server_name(&k), &service, up, script, mail);
                    }
                    PoolEvent::QuorumUp { .. } | PoolEvent::QuorumDown { .. } => {
                        let up = matches!(ev, PoolEvent::QuorumUp { .. });
                        let script = if up {
                            vs.conf.quorum_up.as_ref()
                        } else {
                            vs.conf.quorum_down.as_ref()
                        };
                        info!(service = %service, up, "quorum");
                        notifier.virtual_server(&service, up, script, vs.conf.smtp_alert);
                    }
                    PoolEvent::SorryServerActivated(k) => {
                        info!(service = %service, sorry = %server_name(&k), "sorry server in service")
                    }
                    PoolEvent::SorryServerDeactivated(k) => {
                        info!(service = %service, sorry = %server_name(&k), "sorry server out of service")
                    }
                    PoolEvent::WeightChanged { .. } => {}
                }
            }
        }
    }

    /// The earliest time a pool or a drain needs attention (slow-start ramps).
    pub fn poll_timeout(&self) -> Option<std::time::Duration> {
        let now = self.now();
        self.servers
            .iter()
            .flat_map(|vs| vs.pools.iter())
            .filter_map(|p| p.poll_timeout(now))
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    /// Brings the kernel's table to the desired state: one dump, then the minimal
    /// operations. A failure is logged and retried at the next change or tick.
    pub async fn sync(&mut self) {
        let now = self.now();
        let desired: Vec<_> = self
            .servers
            .iter()
            .flat_map(|vs| vs.pools.iter())
            .filter_map(|p| p.desired(now))
            .collect();
        let actual = match self.backend.dump().await {
            Ok(s) => s,
            Err(e) => {
                self.apply_failures += 1;
                error!(%e, "IPVS dump failed");
                return;
            }
        };
        let plan = self.reconciler.plan(now, &desired, &actual);
        if plan.ops.is_empty() {
            return;
        }
        match apply(self.backend.as_ref(), &plan.ops).await {
            Ok(()) => {
                self.applied += 1;
                info!(operations = plan.ops.len(), "IPVS table updated");
            }
            Err(e) => {
                self.apply_failures += 1;
                error!(%e, "IPVS update failed");
            }
        }
    }

    async fn start_sync(&mut self, state: SyncState, vrid: Option<u8>) {
        let Some(conf) = &self.sync_daemon else {
            return;
        };
        let daemon = conf.daemon(state, vrid);
        match self.backend.start_daemon(&daemon).await {
            Ok(()) => info!(?state, interface = %conf.interface, "IPVS sync daemon started"),
            Err(e) => error!(?state, %e, "IPVS sync daemon not started"),
        }
    }

    async fn stop_sync(&mut self, state: SyncState) {
        if self.sync_daemon.is_none() {
            return;
        }
        if let Err(e) = self.backend.stop_daemon(state).await {
            if e.errno() != Some(ha_ipvs::Errno::Srch) {
                error!(?state, %e, "IPVS sync daemon not stopped");
            }
        }
    }

    /// A VRRP instance changed state: the sync daemon that follows it switches role
    /// (master while the instance is Master, backup otherwise).
    pub async fn on_vrrp_state(&mut self, instance: &str, master: bool, vrid: u8) {
        let follows = self
            .sync_daemon
            .as_ref()
            .and_then(|d| d.vrrp_instance.as_deref())
            == Some(instance);
        if !follows {
            return;
        }
        let role = if master {
            SyncState::Master
        } else {
            SyncState::Backup
        };
        if self.sync_role == Some(role) {
            return;
        }
        let other = if master {
            SyncState::Backup
        } else {
            SyncState::Master
        };
        self.stop_sync(other).await;
        self.start_sync(role, Some(vrid)).await;
        self.sync_role = Some(role);
    }

    fn find(&self, vs: &str) -> Result<usize, String> {
        self.servers
            .iter()
            .position(|v| v.conf.name == vs)
            .ok_or_else(|| format!("no virtual server {vs}"))
    }

    /// Control API: adds a real server (no checks: it is alive at once) to every
    /// service of virtual server `vs`.
    pub fn add_real_server(
        &mut self,
        vs: &str,
        addr: std::net::SocketAddr,
        weight: u32,
        notifier: &mut Notifier,
    ) -> Result<(), String> {
        let vsi = self.find(vs)?;
        let now = self.now();
        let v = &mut self.servers[vsi];
        for pool in &mut v.pools {
            let mut config: PoolConfig = pool.config().clone();
            if config
                .real_servers
                .iter()
                .any(|r| r.dest.key.addr == addr.ip() && r.dest.key.port == addr.port())
            {
                return Err(format!("{addr} is already a real server of {vs}"));
            }
            let template = config.real_servers.first().map(|r| r.dest).ok_or_else(|| {
                format!("{vs} has no real server to copy the forwarding method from")
            })?;
            let mut dest = template;
            dest.key = DestinationKey {
                addr: addr.ip(),
                port: addr.port(),
            };
            dest.weight = weight;
            config.real_servers.push(RealServer {
                dest,
                inhibit_on_failure: false,
            });
            pool.reconfigure(now, config).map_err(|e| e.to_string())?;
        }
        self.drain_events(vsi, notifier);
        Ok(())
    }

    /// Control API: removes a real server from every service of `vs`.
    pub fn remove_real_server(
        &mut self,
        vs: &str,
        addr: std::net::SocketAddr,
        notifier: &mut Notifier,
    ) -> Result<(), String> {
        let vsi = self.find(vs)?;
        let now = self.now();
        let key = DestinationKey {
            addr: addr.ip(),
            port: addr.port(),
        };
        let v = &mut self.servers[vsi];
        let mut found = false;
        for pool in &mut v.pools {
            let mut config = pool.config().clone();
            let before = config.real_servers.len();
            config.real_servers.retain(|r| r.dest.key != key);
            if config.real_servers.len() != before {
                found = true;
                pool.reconfigure(now, config).map_err(|e| e.to_string())?;
            }
        }
        if !found {
            return Err(format!("{addr} is not a real server of {vs}"));
        }
        v.drained.retain(|k| k != &key);
        self.drain_events(vsi, notifier);
        Ok(())
    }

    /// Control API: drains (weight 0: no new connections, existing ones continue) or
    /// restores a real server.
    pub fn drain_real_server(
        &mut self,
        vs: &str,
        addr: std::net::SocketAddr,
        drain: bool,
        configured_weight: impl Fn(&DestinationKey) -> Option<u32>,
    ) -> Result<(), String> {
        let vsi = self.find(vs)?;
        let now = self.now();
        let key = DestinationKey {
            addr: addr.ip(),
            port: addr.port(),
        };
        let v = &mut self.servers[vsi];
        let mut found = false;
        for pool in &mut v.pools {
            let mut config = pool.config().clone();
            for r in config.real_servers.iter_mut().filter(|r| r.dest.key == key) {
                found = true;
                r.dest.weight = if drain {
                    0
                } else {
                    configured_weight(&key).unwrap_or(1)
                };
                // A drained server stays in the table even when it fails.
                r.inhibit_on_failure = drain || r.inhibit_on_failure;
            }
            pool.reconfigure(now, config).map_err(|e| e.to_string())?;
        }
        if !found {
            return Err(format!("{addr} is not a real server of {vs}"));
        }
        if drain {
            if !v.drained.contains(&key) {
                v.drained.push(key);
            }
        } else {
            v.drained.retain(|k| k != &key);
        }
        Ok(())
    }

    /// The configured weight of a real server of `vs`, from the configuration file.
    pub fn configured_weight(&self, vs: &str, key: &DestinationKey) -> Option<u32> {
        let v = self.servers.iter().find(|v| v.conf.name == vs)?;
        v.conf
            .pools
            .iter()
            .flat_map(|p| p.real_servers.iter())
            .find(|r| &r.dest.key == key)
            .map(|r| r.dest.weight)
    }

    /// The status of every virtual server.
    pub fn status(&self) -> Vec<VirtualServerStatus> {
        self.servers
            .iter()
            .map(|v| {
                let mut seen = Vec::new();
                let mut real_servers = Vec::new();
                for pool in &v.pools {
                    for r in &pool.config().real_servers {
                        if seen.contains(&r.dest.key) {
                            continue;
                        }
                        seen.push(r.dest.key);
                        real_servers.push(RealServerStatus {
                            // The control API's `rs=` form.
                            address: std::net::SocketAddr::new(r.dest.key.addr, r.dest.key.port)
                                .to_string(),
                            alive: pool.is_alive(&r.dest.key).unwrap_or(false),
                            drained: v.drained.contains(&r.dest.key),
                        });
                    }
                }
                VirtualServerStatus {
                    name: v.conf.name.clone(),
                    quorum_up: v.pools.iter().all(|p| p.quorum_up()),
                    sorry_active: v.pools.iter().any(|p| p.sorry_active()),
                    real_servers,
                }
            })
            .collect()
    }

    /// At shutdown: withdraws what this daemon configured (or flushes, with
    /// `lvs_flush_on_stop`), and stops the sync daemons.
    pub async fn shutdown(&mut self) {
        let now = self.now();
        match self.flush_on_stop {
            FlushOnStop::All => {
                if let Err(e) = self.backend.flush().await {
                    error!(%e, "lvs_flush_on_stop failed");
                }
            }
            FlushOnStop::Off | FlushOnStop::VirtualServers => {
                for vs in &mut self.servers {
                    for p in &mut vs.pools {
                        p.shutdown(now);
                    }
                }
                self.sync().await;
            }
        }
        self.stop_sync(SyncState::Master).await;
        self.stop_sync(SyncState::Backup).await;
    }

    /// Some real server's probes have given no verdict yet (BFD sessions are not
    /// waited for: a peer may never answer).
    pub fn awaiting_first_verdicts(&self) -> bool {
        self.servers.iter().any(|v| {
            v.servers
                .iter()
                .any(|s| s.alive.is_none() && !s.checks.is_empty())
        })
    }

    /// The services this load balancer configures.
    pub fn service_keys(&self) -> Vec<ServiceKey> {
        self.servers
            .iter()
            .flat_map(|v| v.pools.iter().map(|p| p.config().service.key))
            .collect()
    }

    /// After a reload: deletes this load balancer's services that are not in `keep`.
    pub async fn withdraw_except(&mut self, keep: &[ServiceKey]) {
        for key in self.service_keys() {
            if keep.contains(&key) {
                continue;
            }
            match self.backend.del_service(&key).await {
                Ok(()) => info!(service = %service_name(&key), "virtual server removed by reload"),
                Err(e) if e.errno() == Some(ha_ipvs::Errno::Srch) => {}
                Err(e) => error!(service = %service_name(&key), %e, "cannot remove virtual server"),
            }
        }
    }

    /// Ends every check subscription.
    pub async fn unsubscribe(&mut self, runner: &RunnerHandle) {
        for sub in std::mem::take(&mut self.subs).into_keys() {
            let _ = runner.unsubscribe(sub).await;
        }
    }

    /// How long to wait before the next periodic pass at the latest.
    pub const TICK: Duration = Duration::from_secs(5);
}

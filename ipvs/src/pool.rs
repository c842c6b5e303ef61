//! The pool controller: health verdicts for the real servers of one virtual server in,
//! the desired [`Service`] and [`Destination`]s out, plus an ordered stream of
//! [`PoolEvent`]s. Pure: no I/O, `now` passed in.
//!
//! It follows keepalived's `virtual_server` semantics:
//! - **quorum / hysteresis**: the quorum is *up* while the sum of the weights of the live
//!   real servers is at least `quorum + hysteresis` (when gaining it) and it is lost when
//!   that sum drops to zero or below `quorum - hysteresis`. Each change emits
//!   [`PoolEvent::QuorumUp`] / [`PoolEvent::QuorumDown`]; starting with the quorum down
//!   emits `QuorumDown` at construction.
//! - **sorry server**: while the quorum is down, the sorry server is the only destination
//!   in service: the live real servers are withdrawn (weight 0 for those with
//!   `inhibit_on_failure`, removed otherwise). With `sorry_server_inhibit` the sorry
//!   server stays in the table with weight 0 while it is not needed.
//! - **inhibit_on_failure**: a failed real server keeps its entry with weight 0
//!   (established connections survive) instead of being removed.
//! - **alpha**: every real server starts down until its first success.
//! - **omega**: on [`PoolController::shutdown`], the real-server-down and quorum-down
//!   events are emitted (keepalived's notifiers); the service is withdrawn either way.
//! - **slow start** (extension): a real server that comes up ramps its weight linearly
//!   from 1 to its target over the configured duration; [`PoolController::poll_timeout`]
//!   says when the next weight step is due. The quorum counts target weights.

use crate::model::{Destination, DestinationKey, Service};
use crate::reconcile::DesiredService;
use ha_core::Instant;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// A real server of the pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    /// The destination, with its configured weight.
    pub dest: Destination,
    /// Keep the server with weight 0 when it fails, instead of removing it.
    pub inhibit_on_failure: bool,
}

/// Configuration of one virtual server's pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// The virtual service.
    pub service: Service,
    /// Its real servers.
    pub real_servers: Vec<RealServer>,
    /// Minimum total weight of live servers (at least 1).
    pub quorum: u32,
    /// Hysteresis around the quorum.
    pub hysteresis: u32,
    /// Destination used while the quorum is down.
    pub sorry_server: Option<Destination>,
    /// Keep the sorry server in the table with weight 0 while it is not needed.
    pub sorry_server_inhibit: bool,
    /// Start every real server as down until its first success.
    pub alpha: bool,
    /// Emit down events on shutdown.
    pub omega: bool,
    /// Ramp a recovering server's weight up over this duration.
    pub slow_start: Option<Duration>,
}

impl PoolConfig {
    /// A pool with keepalived's defaults: quorum 1, no hysteresis, no sorry server,
    /// neither alpha nor omega, no slow start.
    pub fn new(service: Service, real_servers: Vec<RealServer>) -> PoolConfig {
        PoolConfig {
            service,
            real_servers,
            quorum: 1,
            hysteresis: 0,
            sorry_server: None,
            sorry_server_inhibit: false,
            alpha: false,
            omega: false,
            slow_start: None,
        }
    }
}

/// A health verdict for one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the server passes its checks.
    pub up: bool,
    /// A new weight (dynamic weight from a checker), if any.
    pub weight: Option<u32>,
}

impl Verdict {
    /// Up, weight unchanged.
    pub const UP: Verdict = Verdict {
        up: true,
        weight: None,
    };
    /// Down, weight unchanged.
    pub const DOWN: Verdict = Verdict {
        up: false,
        weight: None,
    };
}

/// What happened in the pool, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolEvent {
    /// A real server came up.
    RealServerUp(DestinationKey),
    /// A real server went down.
    RealServerDown(DestinationKey),
    /// A real server's target weight changed.
    WeightChanged {
        /// The server.
        dest: DestinationKey,
        /// Its new target weight.
        weight: u32,
    },
    /// The quorum was gained.
    QuorumUp {
        /// Total weight of the live servers.
        weight_sum: u64,
    },
    /// The quorum was lost (or the pool started without it).
    QuorumDown {
        /// Total weight of the live servers.
        weight_sum: u64,
    },
    /// The sorry server was put in service.
    SorryServerActivated(DestinationKey),
    /// The sorry server was taken out of service.
    SorryServerDeactivated(DestinationKey),
}

/// A configuration the controller cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The quorum must be at least 1.
    #[error("quorum must be at least 1")]
    ZeroQuorum,
    /// Two real servers (or a real server and the sorry server) share a key.
    #[error("duplicate destination {0:?}")]
    Duplicate(DestinationKey),
    /// A verdict for a server the pool does not have.
    #[error("unknown real server {0:?}")]
    UnknownServer(DestinationKey),
}

#[derive(Clone, Debug)]
struct ServerState {
    config: RealServer,
    alive: bool,
    weight: u32,
    up_since: Option<Instant>,
}

/// The pool controller. See the module documentation.
#[derive(Clone, Debug)]
pub struct PoolController {
    config: PoolConfig,
    servers: BTreeMap<DestinationKey, ServerState>,
    quorum_up: bool,
    sorry_active: bool,
    shut_down: bool,
    events: VecDeque<PoolEvent>,
}

impl PoolController {
    /// A controller in its initial state; see the module documentation for `alpha`.
    pub fn new(config: PoolConfig) -> Result<PoolController, PoolError> {
        if config.quorum == 0 {
            return Err(PoolError::ZeroQuorum);
        }
        let mut servers = BTreeMap::new();
        for rs in &config.real_servers {
            let st = ServerState {
                config: rs.clone(),
                alive: !config.alpha,
                weight: rs.dest.weight,
                up_since: None,
            };
            if servers.insert(rs.dest.key, st).is_some() {
                return Err(PoolError::Duplicate(rs.dest.key));
            }
        }
        if let Some(s) = &config.sorry_server {
            if servers.contains_key(&s.key) {
                return Err(PoolError::Duplicate(s.key));
            }
        }
        let mut pc = PoolController {
            config,
            servers,
            quorum_up: false,
            sorry_active: false,
            shut_down: false,
            events: VecDeque::new(),
        };
        let sum = pc.weight_sum();
        pc.quorum_up = sum >= pc.up_threshold();
        if !pc.quorum_up {
            pc.lose_quorum(sum);
        }
        Ok(pc)
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Total target weight of the live real servers.
    pub fn weight_sum(&self) -> u64 {
        self.servers
            .values()
            .filter(|s| s.alive)
            .map(|s| u64::from(s.weight))
            .sum()
    }

    /// Whether the quorum is up.
    pub fn quorum_up(&self) -> bool {
        self.quorum_up
    }

    /// Whether the sorry server is in service.
    pub fn sorry_active(&self) -> bool {
        self.sorry_active
    }

    /// Whether a real server is alive.
    pub fn is_alive(&self, key: &DestinationKey) -> Option<bool> {
        self.servers.get(key).map(|s| s.alive)
    }

    fn up_threshold(&self) -> u64 {
        u64::from(self.config.quorum) + u64::from(self.config.hysteresis)
    }

    fn down_threshold(&self) -> u64 {
        u64::from(self.config.quorum).saturating_sub(u64::from(self.config.hysteresis))
    }

    fn lose_quorum(&mut self, weight_sum: u64) {
        self.quorum_up = false;
        self.events.push_back(PoolEvent::QuorumDown { weight_sum });
        if let Some(s) = &self.config.sorry_server {
            if !self.sorry_active {
                self.sorry_active = true;
                self.events
                    .push_back(PoolEvent::SorryServerActivated(s.key));
            }
        }
    }

    fn update_quorum(&mut self) {
        let sum = self.weight_sum();
        if !self.quorum_up && sum >= self.up_threshold() {
            self.quorum_up = true;
            if self.sorry_active {
                self.sorry_active = false;
                if let Some(s) = &self.config.sorry_server {
                    self.events
                        .push_back(PoolEvent::SorryServerDeactivated(s.key));
                }
            }
            self.events
                .push_back(PoolEvent::QuorumUp { weight_sum: sum });
        } else if self.quorum_up && (sum == 0 || sum < self.down_threshold()) {
            self.lose_quorum(sum);
        }
    }

    /// Replaces the configuration at run time (no reload): real servers that remain keep
    /// their health state (their weight becomes the newly configured one), new ones
    /// start down under `alpha` and up otherwise, removed ones disappear; the quorum is
    /// then re-evaluated and events are queued as for verdicts.
    pub fn reconfigure(&mut self, now: Instant, config: PoolConfig) -> Result<(), PoolError> {
        let mut next = PoolController::new(config)?;
        next.events.clear();
        for (k, s) in next.servers.iter_mut() {
            if let Some(old) = self.servers.get(k) {
                s.alive = old.alive;
                s.up_since = old.up_since;
            }
        }
        let old_sorry = self.config.sorry_server.map(|s| s.key);
        let new_sorry = next.config.sorry_server.map(|s| s.key);
        self.config = next.config;
        self.servers = next.servers;
        if self.shut_down {
            return Ok(());
        }
        if self.sorry_active && old_sorry != new_sorry {
            // The sorry server in service was replaced or removed.
            if let Some(k) = old_sorry {
                self.events.push_back(PoolEvent::SorryServerDeactivated(k));
            }
            self.sorry_active = false;
            if !self.quorum_up {
                if let Some(k) = new_sorry {
                    self.sorry_active = true;
                    self.events.push_back(PoolEvent::SorryServerActivated(k));
                }
            }
        } else if !self.quorum_up && !self.sorry_active {
            if let Some(k) = new_sorry {
                self.sorry_active = true;
                self.events.push_back(PoolEvent::SorryServerActivated(k));
            }
        }
        let _ = now;
        self.update_quorum();
        Ok(())
    }

    /// Feeds a health verdict for a real server. Events are queued for
    /// [`poll_event`](Self::poll_event); the desired state changes accordingly.
    pub fn set_verdict(
        &mut self,
        now: Instant,
        key: &DestinationKey,
        verdict: Verdict,
    ) -> Result<(), PoolError> {
        if self.shut_down {
            return Ok(());
        }
        let slow_start = self.config.slow_start.is_some();
        let s = self
            .servers
            .get_mut(key)
            .ok_or(PoolError::UnknownServer(*key))?;
        let mut events = Vec::new();
        if let Some(w) = verdict.weight {
            if w != s.weight {
                s.weight = w;
                events.push(PoolEvent::WeightChanged {
                    dest: *key,
                    weight: w,
                });
            }
        }
        if verdict.up != s.alive {
            s.alive = verdict.up;
            if verdict.up {
                s.up_since = slow_start.then_some(now);
                events.push(PoolEvent::RealServerUp(*key));
            } else {
                s.up_since = None;
                events.push(PoolEvent::RealServerDown(*key));
            }
        }
        let changed = !events.is_empty();
        self.events.extend(events);
        if changed {
            self.update_quorum();
        }
        Ok(())
    }

    /// The weight a live server has at `now`, slow start applied.
    pub fn effective_weight(&self, now: Instant, key: &DestinationKey) -> Option<u32> {
        let s = self.servers.get(key)?;
        Some(self.ramp(now, s))
    }

    fn ramp(&self, now: Instant, s: &ServerState) -> u32 {
        match (self.config.slow_start, s.up_since) {
            (Some(d), Some(since)) if s.weight > 0 && !d.is_zero() => {
                let elapsed = now.saturating_duration_since(since);
                if elapsed >= d {
                    return s.weight;
                }
                let w = u128::from(s.weight) * elapsed.as_nanos() / d.as_nanos();
                (w as u32).clamp(1, s.weight)
            }
            _ => s.weight,
        }
    }

    /// When the next slow-start weight step is due, if a ramp is in progress.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let d = self.config.slow_start?;
        let mut next: Option<Instant> = None;
        for s in self.servers.values().filter(|s| s.alive) {
            let Some(since) = s.up_since else { continue };
            if s.weight == 0 || now.saturating_duration_since(since) >= d {
                continue;
            }
            let w = self.ramp(now, s);
            // First instant at which the ramp reaches w + 1.
            let target = u128::from(w) + 1;
            let nanos = (d.as_nanos() * target).div_ceil(u128::from(s.weight));
            let at = since + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
            let at = at.min(since + d);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        next
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<PoolEvent> {
        self.events.pop_front()
    }

    /// The service and destinations that should be in the table at `now`; `None` once
    /// shut down (the service is to be removed).
    pub fn desired(&self, now: Instant) -> Option<DesiredService> {
        if self.shut_down {
            return None;
        }
        let mut dests = Vec::new();
        for s in self.servers.values() {
            let in_service = s.alive && !self.sorry_active;
            if in_service {
                dests.push(s.config.dest.with_weight(self.ramp(now, s)));
            } else if s.config.inhibit_on_failure {
                dests.push(s.config.dest.with_weight(0));
            }
        }
        if let Some(sorry) = &self.config.sorry_server {
            if self.sorry_active {
                dests.push(*sorry);
            } else if self.config.sorry_server_inhibit {
                dests.push(sorry.with_weight(0));
            }
        }
        Some(DesiredService {
            service: self.config.service.clone(),
            dests,
        })
    }

    /// Shuts the pool down: the service is withdrawn. With `omega`, the live servers'
    /// down events and the quorum-down event are emitted first.
    pub fn shutdown(&mut self, _now: Instant) {
        if self.shut_down {
            return;
        }
        if self.config.omega {
            let live: Vec<DestinationKey> = self
                .servers
                .iter()
                .filter(|(_, s)| s.alive)
                .map(|(k, _)| *k)
                .collect();
            for k in live {
                self.events.push_back(PoolEvent::RealServerDown(k));
            }
            if self.quorum_up {
                self.events
                    .push_back(PoolEvent::QuorumDown { weight_sum: 0 });
            }
        }
        for s in self.servers.values_mut() {
            s.alive = false;
        }
        self.quorum_up = false;
        self.shut_down = true;
    }
}

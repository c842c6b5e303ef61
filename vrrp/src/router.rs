//! The VRRP router: a sans-I/O state machine for one virtual router (RFC 5798 section 6,
//! with RFC 9568's clarifications and keepalived's extensions).
//!
//! A [`Router`] implements [`ha_core::Endpoint`]. It starts in [`State::Initialize`] and
//! performs its startup on the first [`Endpoint::handle_timeout`] (its first deadline is
//! the `now` it was created with). Every transition comes out as an
//! [`Event::StateChanged`] with its [`Reason`], followed by the actions it implies
//! ([`Event::AddAddresses`], [`Event::RemoveAddresses`], [`Event::Gratuitous`]), in order.
//!
//! Timers follow RFC 5798 section 6.1, computed in nanoseconds so nothing is truncated:
//! `Skew_Time = ((256 - Priority) × Master_Adver_Interval) / 256` and
//! `Master_Down_Interval = down_timer_adverts × Master_Adver_Interval + Skew_Time`
//! (`down_timer_adverts` is 3 in the RFC). A VRRPv3 Backup adopts the Master's interval.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use ha_core::{Endpoint, IfIndex, Instant};
//! use ha_vrrp::{Event, Priority, Router, RouterConfig, State, Version, Vrid};
//!
//! let config = RouterConfig::new("VI_1", Version::V3, Vrid::new(51).unwrap(), Priority(200),
//!     IfIndex(2), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
//!     vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))]);
//! let mut router = Router::new(config, Instant::ZERO).unwrap();
//! router.handle_timeout(Instant::ZERO); // startup: Initialize → Backup
//! let master_down = router.poll_timeout().unwrap();
//! // Skew for priority 200 at 1 s: (256 - 200) / 256 s = 218.75 ms.
//! assert_eq!(master_down, Instant::from_nanos(3_218_750_000));
//! router.handle_timeout(master_down); // no Master heard: Backup → Master
//! assert_eq!(router.state(), State::Master);
//! let mut buf = Vec::new();
//! let advert = router.poll_transmit(master_down, &mut buf).unwrap();
//! assert_eq!(advert.ttl, 255);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ha_core::track::{TrackSet, TrackSpec, TrackState};
use ha_core::{Cast, Endpoint, Instant, RecvMeta, TimerTable, Transmit};
use serde::{Deserialize, Serialize};

use crate::ah::{self, AhKey, ReplayState};
use crate::config::{AddressMismatchPolicy, AuthConfig, ConfigError, InitialState, RouterConfig};
use crate::counters::{DropCounters, DropReason};
use crate::packet::{
    Advertisement, Auth, IpContext, Ipv4Header, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TTL,
};
use crate::{Centiseconds, Priority, Version, Vrid};

/// Router states (RFC 5798 section 6.4, plus keepalived's Fault).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not running: before startup and after shutdown.
    Initialize,
    /// Monitoring the Master.
    Backup,
    /// Forwarding for the virtual addresses and advertising.
    Master,
    /// A tracked object forces the router out of the election.
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        })
    }
}

/// Why a transition happened.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Startup of an ordinary router (RFC 5798 6.4.1).
    Startup,
    /// Startup of the address owner (priority 255), which becomes Master at once.
    AddressOwner,
    /// Startup with `initial_state = master` (keepalived's `state MASTER`).
    ConfiguredMaster,
    /// The Master_Down_Timer fired: no advertisement for the Master_Down_Interval.
    MasterDown,
    /// The Master sent priority 0 and the Skew_Time passed.
    MasterLeft,
    /// An advertisement with a higher priority (or equal priority and higher primary
    /// address) arrived while Master (RFC 5798 6.4.3).
    Preempted {
        /// The better router's address.
        by: IpAddr,
        /// Its priority.
        priority: Priority,
    },
    /// A shutdown command.
    Shutdown,
    /// Tracked objects with weight 0 went down.
    Fault {
        /// Their names.
        objects: Vec<String>,
    },
    /// The last fault cleared.
    FaultCleared,
    /// A sync group moved this member.
    SyncGroup {
        /// The member whose change the group followed.
        cause: String,
    },
}

/// Which kind of gratuitous burst is due.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GarpKind {
    /// Right after becoming Master.
    Transition,
    /// The second burst, `garp.delay` after becoming Master.
    Delayed,
    /// A periodic refresh burst.
    Refresh,
}

/// What a router reports, in the order it happened.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A state transition.
    StateChanged {
        /// Virtual router.
        vrid: Vrid,
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        #[serde(flatten)]
        reason: Reason,
        /// The effective priority at the time.
        priority: Priority,
    },
    /// The adapter must add these addresses (the router became Master).
    AddAddresses {
        /// Virtual router.
        vrid: Vrid,
        /// The virtual addresses.
        addresses: Vec<IpAddr>,
    },
    /// The adapter must remove these addresses (the router left Master).
    RemoveAddresses {
        /// Virtual router.
        vrid: Vrid,
        /// The virtual addresses.
        addresses: Vec<IpAddr>,
    },
    /// The adapter must send gratuitous ARPs (IPv4) or unsolicited neighbour
    /// advertisements (IPv6) for these addresses, `count` of each, `interval` apart,
    /// from the virtual MAC or the interface's MAC.
    Gratuitous {
        /// Virtual router.
        vrid: Vrid,
        /// Which burst.
        kind: GarpKind,
        /// The virtual addresses.
        addresses: Vec<IpAddr>,
        /// Packets per address.
        count: u32,
        /// Gap between packets.
        interval: Duration,
    },
    /// The effective priority changed (tracking or a command).
    PriorityChanged {
        /// Virtual router.
        vrid: Vrid,
        /// Before.
        from: Priority,
        /// After.
        to: Priority,
    },
    /// A Backup learned a new Master (address, priority and interval).
    MasterLearned {
        /// Virtual router.
        vrid: Vrid,
        /// The Master's primary address.
        master: IpAddr,
        /// Its priority.
        priority: Priority,
        /// Its advertisement interval.
        interval: Centiseconds,
    },
    /// In a sync group: the Master_Down_Timer fired and this member is ready to become
    /// Master, but waits for the group ([`Command::SyncMaster`]).
    WantMaster {
        /// Virtual router.
        vrid: Vrid,
    },
}

/// Commands a router accepts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Start again after a shutdown.
    Start,
    /// Graceful shutdown: a Master sends priority 0 so a Backup takes over after Skew_Time.
    Shutdown,
    /// Change the configured priority, live (1..=255).
    SetPriority {
        /// The new base priority.
        priority: Priority,
    },
    /// Report a tracked object's state.
    Track {
        /// The object's name.
        object: String,
        /// Its state.
        state: TrackState,
    },
    /// Add (or replace) a tracked object.
    AddTrack {
        /// The object's name.
        object: String,
        /// Its weight and `reverse`.
        spec: TrackSpec,
        /// Its current state.
        state: TrackState,
    },
    /// Stop tracking an object.
    RemoveTrack {
        /// The object's name.
        object: String,
    },
    /// Sync group: become Master now (every member is ready).
    SyncMaster {
        /// The member that triggered it.
        cause: String,
    },
    /// Sync group: step down to Backup now.
    SyncBackup {
        /// The member that triggered it.
        cause: String,
    },
    /// Sync group: enter (`true`) or leave (`false`) a fault imposed by another member.
    SyncFault {
        /// Whether the group is faulted.
        faulted: bool,
        /// The member that triggered it.
        cause: String,
    },
}

/// Counters a router keeps.
#[derive(Clone, Default, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterStats {
    /// Advertisements sent (one per destination).
    pub adverts_sent: u64,
    /// Valid advertisements received.
    pub adverts_received: u64,
    /// Priority-0 advertisements sent.
    pub priority_zero_sent: u64,
    /// Priority-0 advertisements received.
    pub priority_zero_received: u64,
    /// Transitions to Master.
    pub became_master: u64,
    /// Valid advertisements whose address list differed from ours.
    pub address_mismatches: u64,
    /// Packets dropped, by reason.
    pub drops: DropCounters,
}

/// Per-instance IPSEC-AH state (keepalived keeps one sequence counter for both directions).
#[derive(Debug)]
struct AhState {
    key: AhKey,
    replay: ReplayState,
    /// IPv4 Identification for the next advert: covered by the ICV, so we set it ourselves.
    next_id: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Timer {
    Startup,
    Advert,
    MasterDown,
    GarpDelay,
    GarpRefresh,
}

/// One VRRP virtual router. See the [module documentation](self).
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    state: State,
    base_priority: Priority,
    priority: Priority,
    master_adver_interval: Centiseconds,
    /// The current Master as a Backup knows it.
    master: Option<(IpAddr, Priority)>,
    timers: TimerTable<Timer>,
    /// When a Backup may preempt a lower-priority Master under `preempt_delay`.
    preempt_at: Option<Instant>,
    master_left: bool,
    sync_member: bool,
    /// A fault imposed by the sync group, with the member that caused it.
    sync_fault: Option<String>,
    wants_master: bool,
    tracking: TrackSet<String>,
    /// IPSEC-AH state, when configured.
    ah: Option<AhState>,
    /// Advertisements to send: (destination, priority).
    outbox: VecDeque<(IpAddr, Priority)>,
    events: VecDeque<Event>,
    stats: RouterStats,
}

impl Router {
    /// A router in [`State::Initialize`] whose startup is due at `now`.
    pub fn new(config: RouterConfig, now: Instant) -> Result<Router, ConfigError> {
        config.validate()?;
        let mut tracking = TrackSet::new();
        for t in &config.track {
            tracking.insert(t.object.clone(), t.spec, t.initial);
        }
        let mut router = Router {
            base_priority: config.priority,
            priority: config.priority,
            master_adver_interval: config.advert_interval,
            state: State::Initialize,
            master: None,
            timers: TimerTable::new(),
            preempt_at: None,
            master_left: false,
            sync_member: false,
            sync_fault: None,
            wants_master: false,
            tracking,
            ah: match &config.auth {
                AuthConfig::IpsecAh(p) => Some(AhState {
                    key: AhKey::from_password(p.as_bytes()),
                    replay: ReplayState::new(),
                    next_id: 1,
                }),
                _ => None,
            },
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: RouterStats::default(),
            config,
        };
        router.priority = router.effective_priority();
        router.timers.set(Timer::Startup, now);
        Ok(router)
    }

    /// Marks this router as a member of a sync group: when its Master_Down_Timer fires it
    /// reports [`Event::WantMaster`] and waits for [`Command::SyncMaster`].
    pub fn set_sync_member(&mut self, member: bool) {
        self.sync_member = member;
    }

    /// Whether this router is a sync-group member.
    pub fn is_sync_member(&self) -> bool {
        self.sync_member
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The effective priority (configured priority adjusted by tracking).
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The Master's advertisement interval as this router uses it.
    pub fn master_adver_interval(&self) -> Centiseconds {
        self.master_adver_interval
    }

    /// The Master as a Backup last heard it: its address and priority.
    pub fn master(&self) -> Option<(IpAddr, Priority)> {
        self.master
    }

    /// Whether a sync-group member waits for the group to let it become Master.
    pub fn wants_master(&self) -> bool {
        self.wants_master
    }

    /// Counters.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// The tracked objects.
    pub fn tracking(&self) -> &TrackSet<String> {
        &self.tracking
    }

    /// `Skew_Time` for the current priority and Master interval (RFC 5798 6.1).
    pub fn skew_time(&self) -> Duration {
        let prio = u32::from(self.priority.get());
        self.master_adver_interval.to_duration() * (256 - prio) / 256
    }

    /// `Master_Down_Interval` (RFC 5798 6.1, with keepalived's `down_timer_adverts`).
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_interval.to_duration() * u32::from(self.config.down_timer_adverts)
            + self.skew_time()
    }

    fn group(&self) -> IpAddr {
        group_for(self.config.primary_address)
    }

    fn effective_priority(&self) -> Priority {
        if self.base_priority == Priority::OWNER {
            // keepalived ignores tracking weights for the address owner.
            return Priority::OWNER;
        }
        let delta = self.tracking.summary().priority_delta;
        let p = (i32::from(self.base_priority.get()) + delta).clamp(1, 254);
        Priority(p as u8)
    }

    /// The authentication section our advertisements carry and we expect.
    fn auth(&self) -> Auth {
        match &self.config.auth {
            AuthConfig::None => Auth::None,
            AuthConfig::Password(p) => Auth::simple(p.as_bytes()),
            AuthConfig::IpsecAh(_) => Auth::Ah,
        }
    }

    /// How this instance's packets travel, which decides whether AH covers the TTL.
    fn cast(&self) -> Cast {
        if self.config.unicast_peers.is_empty() {
            Cast::Multicast
        } else {
            Cast::Unicast
        }
    }

    /// With IPSEC-AH, replaces the VRRP message in `buf` with the whole IPv4 datagram
    /// keepalived would send. Returns `false` when the advert cannot be sent (sequence
    /// numbers exhausted, as keepalived stops too).
    fn seal_ah(&mut self, destination: IpAddr, buf: &mut Vec<u8>) -> bool {
        let cast = self.cast();
        let (IpAddr::V4(source), IpAddr::V4(destination)) =
            (self.config.primary_address, destination)
        else {
            return self.ah.is_none();
        };
        let Some(ah) = self.ah.as_mut() else {
            return true;
        };
        let header = Ipv4Header {
            source,
            destination,
            protocol: ah::AH_PROTOCOL,
            ttl: VRRP_TTL,
            tos: 0xc0,
            identification: ah.next_id,
            flags_fragment: 0,
            header_len: 20,
            total_len: 0,
        };
        ah.next_id = ah.next_id.checked_add(1).unwrap_or(1);
        match ah::seal_next(&header, &mut ah.replay, &ah.key, cast, buf) {
            Some(packet) => {
                *buf = packet;
                true
            }
            None => false,
        }
    }

    fn is_owner(&self) -> bool {
        self.priority == Priority::OWNER
    }

    fn faulted_by(&self) -> Vec<String> {
        self.tracking.summary().faulted_by
    }

    /// Whether this router's own tracked objects force FAULT (a fault imposed by its
    /// sync group does not count).
    pub fn has_own_fault(&self) -> bool {
        self.tracking.summary().is_fault()
    }

    fn is_faulted(&self) -> bool {
        self.sync_fault.is_some() || self.has_own_fault()
    }

    fn send_advert(&mut self, priority: Priority) {
        if self.config.unicast_peers.is_empty() {
            self.outbox.push_back((self.group(), priority));
        } else {
            for peer in self.config.unicast_peers.clone() {
                self.outbox.push_back((peer, priority));
            }
        }
    }

    fn transition(&mut self, to: State, reason: Reason) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.events.push_back(Event::StateChanged {
            vrid: self.config.vrid,
            from,
            to,
            reason,
            priority: self.priority,
        });
        let addresses = self.config.virtual_addresses.clone();
        let vrid = self.config.vrid;
        if from == State::Master {
            self.timers.stop(Timer::Advert);
            self.timers.stop(Timer::GarpDelay);
            self.timers.stop(Timer::GarpRefresh);
            self.events.push_back(Event::RemoveAddresses {
                vrid,
                addresses: addresses.clone(),
            });
        }
        if to == State::Master {
            self.stats.became_master += 1;
            self.wants_master = false;
            self.timers.stop(Timer::MasterDown);
            self.master = None;
            self.events.push_back(Event::AddAddresses {
                vrid,
                addresses: addresses.clone(),
            });
            self.events.push_back(Event::Gratuitous {
                vrid,
                kind: GarpKind::Transition,
                addresses,
                count: self.config.garp.repeat,
                interval: self.config.garp.interval,
            });
        }
        if to != State::Backup {
            self.wants_master = false;
        }
    }

    /// Enter Master: advertise at once, schedule the next advert and the GARP bursts.
    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.master_left = false;
        self.transition(State::Master, reason);
        self.send_advert(self.priority);
        self.timers.set(
            Timer::Advert,
            now + self.config.advert_interval.to_duration(),
        );
        if let Some(delay) = self.config.garp.delay {
            self.timers.set(Timer::GarpDelay, now + delay);
        }
        if let Some(refresh) = self.config.garp.refresh {
            self.timers.set(Timer::GarpRefresh, now + refresh);
        }
    }

    /// Enter Backup (or stay): Master_Adver_Interval from config, Master_Down_Timer armed.
    fn become_backup(&mut self, now: Instant, reason: Reason) {
        self.master_adver_interval = self.config.advert_interval;
        self.transition(State::Backup, reason);
        self.timers
            .set(Timer::MasterDown, now + self.master_down_interval());
        if self.config.preempt_delay > Duration::ZERO {
            self.preempt_at = Some(now + self.config.preempt_delay);
        }
    }

    fn become_fault(&mut self, reason: Reason) {
        if self.state == State::Master {
            // Tell the Backups to take over now rather than after Master_Down_Interval.
            self.send_advert(Priority::SHUTDOWN);
            self.stats.priority_zero_sent += 1;
        }
        self.timers.stop(Timer::MasterDown);
        self.transition(State::Fault, reason);
    }

    fn startup(&mut self, now: Instant) {
        if self.is_faulted() {
            let objects = self.faulted_by();
            self.become_fault(Reason::Fault { objects });
        } else if self.is_owner() {
            self.become_master(now, Reason::AddressOwner);
        } else if self.config.initial_state == InitialState::Master && !self.sync_member {
            self.become_master(now, Reason::ConfiguredMaster);
        } else {
            self.become_backup(now, Reason::Startup);
        }
    }

    fn shutdown(&mut self) {
        if self.state == State::Master {
            self.send_advert(Priority::SHUTDOWN);
            self.stats.priority_zero_sent += 1;
        }
        self.timers.clear();
        self.transition(State::Initialize, Reason::Shutdown);
    }

    fn master_down_fired(&mut self, now: Instant) {
        if self.state != State::Backup {
            return;
        }
        if self.sync_member {
            if !self.wants_master {
                self.wants_master = true;
                self.events.push_back(Event::WantMaster {
                    vrid: self.config.vrid,
                });
            }
            return;
        }
        let reason = if self.master_left {
            Reason::MasterLeft
        } else {
            Reason::MasterDown
        };
        self.become_master(now, reason);
    }

    /// Re-evaluates tracking after a change: priority, then fault.
    fn tracking_changed(&mut self, now: Instant) {
        let before = self.priority;
        self.priority = self.effective_priority();
        if before != self.priority {
            self.events.push_back(Event::PriorityChanged {
                vrid: self.config.vrid,
                from: before,
                to: self.priority,
            });
        }
        let faulted = self.is_faulted();
        match self.state {
            State::Initialize => {}
            State::Fault if !faulted => {
                if self.is_owner() {
                    self.become_master(now, Reason::FaultCleared);
                } else {
                    self.become_backup(now, Reason::FaultCleared);
                }
            }
            State::Fault => {}
            _ if faulted => {
                let reason = match (&self.sync_fault, self.has_own_fault()) {
                    (Some(cause), false) => Reason::SyncGroup {
                        cause: cause.clone(),
                    },
                    _ => Reason::Fault {
                        objects: self.faulted_by(),
                    },
                };
                self.become_fault(reason);
            }
            State::Master if before != self.priority => {
                // Let the Backups see the new priority at once: a lower one may make
                // them preempt us.
                self.send_advert(self.priority);
            }
            _ => {}
        }
    }

    fn validate(&mut self, meta: &RecvMeta, payload: &[u8]) -> Option<Advertisement> {
        // RFC 5798 7.1: TTL 255 on multicast. Unicast peers may be routed (keepalived).
        if meta.cast == Cast::Multicast && meta.ttl != VRRP_TTL {
            self.stats.drops.count(DropReason::Ttl);
            return None;
        }
        if meta.source == self.config.primary_address {
            // Our own advertisement looped back.
            self.stats.drops.count(DropReason::OwnPacket);
            return None;
        }
        let cast = self.cast();
        let (payload, ip) = match &mut self.ah {
            // The payload is the whole IPv4 datagram: authenticate it, then decode what
            // the AH header protects.
            Some(ah) => match ah::open(payload, &ah.key, cast, &mut ah.replay) {
                Ok(opened) => (opened.vrrp, opened.header.context()),
                Err(e) => {
                    self.stats.drops.count(e.reason());
                    return None;
                }
            },
            None => (
                payload,
                IpContext {
                    source: meta.source,
                    destination: meta.destination,
                },
            ),
        };
        let advert = match Advertisement::parse(
            payload,
            &ip,
            self.config.checksum_mode,
            self.config.checksum_policy,
        ) {
            Ok(a) => a,
            Err(e) => {
                self.stats.drops.count(e.reason());
                return None;
            }
        };
        if advert.version != self.config.version {
            self.stats.drops.count(DropReason::Version);
            return None;
        }
        if advert.vrid != self.config.vrid {
            self.stats.drops.count(DropReason::Vrid);
            return None;
        }
        if !self.config.unicast_peers.is_empty()
            && meta.cast == Cast::Unicast
            && !self.config.unicast_peers.contains(&meta.source)
        {
            self.stats.drops.count(DropReason::UnicastPeer);
            return None;
        }
        if self.config.version == Version::V2 {
            let expected = self.auth();
            if let Err(reason) = advert.auth.check(&expected) {
                self.stats.drops.count(reason);
                return None;
            }
            // RFC 3768 7.1: the interval must match ours.
            if advert.interval != self.config.advert_interval {
                self.stats.drops.count(DropReason::IntervalMismatch);
                return None;
            }
        }
        if !same_addresses(&advert.addresses, &self.config.virtual_addresses) {
            match self.config.address_mismatch {
                AddressMismatchPolicy::Accept => self.stats.address_mismatches += 1,
                AddressMismatchPolicy::Drop => {
                    self.stats.drops.count(DropReason::AddressMismatch);
                    return None;
                }
            }
        }
        Some(advert)
    }

    fn receive(&mut self, now: Instant, source: IpAddr, advert: Advertisement) {
        self.stats.adverts_received += 1;
        if advert.priority == Priority::SHUTDOWN {
            self.stats.priority_zero_received += 1;
        }
        match self.state {
            State::Initialize | State::Fault => {}
            State::Backup => self.receive_as_backup(now, source, advert),
            State::Master => self.receive_as_master(now, source, advert),
        }
    }

    /// RFC 5798 6.4.2, with keepalived's `preempt_delay`.
    fn receive_as_backup(&mut self, now: Instant, source: IpAddr, advert: Advertisement) {
        if advert.priority == Priority::SHUTDOWN {
            self.master_left = true;
            self.timers.set(Timer::MasterDown, now + self.skew_time());
            return;
        }
        let lower = advert.priority < self.priority;
        let delaying = lower
            && self.config.preempt
            && self.config.preempt_delay > Duration::ZERO
            && match self.preempt_at {
                Some(at) => now < at,
                None => {
                    self.preempt_at = Some(now + self.config.preempt_delay);
                    true
                }
            };
        if !self.config.preempt || !lower || delaying {
            if self.config.version == Version::V3 {
                self.master_adver_interval = advert.interval;
            }
            if self.master != Some((source, advert.priority)) {
                self.master = Some((source, advert.priority));
                self.events.push_back(Event::MasterLearned {
                    vrid: self.config.vrid,
                    master: source,
                    priority: advert.priority,
                    interval: advert.interval,
                });
            }
            self.master_left = false;
            self.wants_master = false;
            self.timers
                .set(Timer::MasterDown, now + self.master_down_interval());
        }
        // Otherwise: a lower-priority Master and we preempt. Discard; the
        // Master_Down_Timer fires and we take over.
    }

    /// The first Master_Down_Timer after being preempted by `preemptor`.
    ///
    /// A preempted sync-group member takes its group to Backup. When two hosts' groups
    /// have crossed priorities (each wins one VRID), both are preempted at once, both
    /// groups step down, nobody advertises, and both reach Master_Down at the same
    /// instant (their slowest members have the same priorities), become Master together
    /// and preempt each other again, for ever. The member with the lower address breaks
    /// the tie by waiting two advertisement intervals more, the first time only: by then
    /// the other group is Master and heard, and hearing it rearms the timer normally. Two
    /// intervals, because the other group's slowest Skew_Time can be almost one interval
    /// longer than this one's.
    fn preempted_master_down(&self, preemptor: IpAddr) -> Duration {
        let mut wait = self.master_down_interval();
        if self.sync_member && address_key(self.config.primary_address) < address_key(preemptor) {
            wait += self.master_adver_interval.to_duration() * 2;
        }
        wait
    }

    /// RFC 5798 6.4.3, with keepalived's `lower_prio_no_advert` and
    /// `higher_prio_send_advert`.
    fn receive_as_master(&mut self, now: Instant, source: IpAddr, advert: Advertisement) {
        if advert.priority == Priority::SHUTDOWN {
            // Another Master is leaving: assert ourselves at once.
            self.send_advert(self.priority);
            self.timers.set(
                Timer::Advert,
                now + self.config.advert_interval.to_duration(),
            );
            return;
        }
        let better = advert.priority > self.priority
            || (advert.priority == self.priority
                && address_key(source) > address_key(self.config.primary_address));
        if better {
            if self.config.higher_prio_send_advert {
                self.send_advert(self.priority);
            }
            if self.config.version == Version::V3 {
                self.master_adver_interval = advert.interval;
            }
            self.transition(
                State::Backup,
                Reason::Preempted {
                    by: source,
                    priority: advert.priority,
                },
            );
            self.master = Some((source, advert.priority));
            self.events.push_back(Event::MasterLearned {
                vrid: self.config.vrid,
                master: source,
                priority: advert.priority,
                interval: advert.interval,
            });
            self.timers
                .set(Timer::MasterDown, now + self.preempted_master_down(source));
        } else if !self.config.lower_prio_no_advert {
            self.send_advert(self.priority);
        }
    }
}

/// Addresses compare as unsigned integers in network order (RFC 5798 6.4.3).
fn address_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn same_addresses(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

impl Endpoint for Router {
    type Command = Command;
    type Event = Event;

    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]) {
        if meta.interface != self.config.interface {
            return;
        }
        if let Some(advert) = self.validate(meta, payload) {
            self.receive(now, meta.source, advert);
        }
    }

    fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Start => {
                if self.state == State::Initialize {
                    self.timers.set(Timer::Startup, now);
                }
            }
            Command::Shutdown => self.shutdown(),
            Command::SetPriority { priority } => {
                if priority != Priority::SHUTDOWN {
                    self.base_priority = priority;
                    self.tracking_changed(now);
                }
            }
            Command::Track { object, state } => {
                if self.tracking.set_state(&object, state) {
                    self.tracking_changed(now);
                }
            }
            Command::AddTrack {
                object,
                spec,
                state,
            } => {
                self.tracking.insert(object, spec, state);
                self.tracking_changed(now);
            }
            Command::RemoveTrack { object } => {
                if self.tracking.remove(&object) {
                    self.tracking_changed(now);
                }
            }
            Command::SyncMaster { cause } => {
                if self.state == State::Backup {
                    self.become_master(now, Reason::SyncGroup { cause });
                }
            }
            Command::SyncBackup { cause } => {
                if self.state == State::Master {
                    self.transition(State::Backup, Reason::SyncGroup { cause });
                    self.timers
                        .set(Timer::MasterDown, now + self.master_down_interval());
                }
            }
            Command::SyncFault { faulted, cause } => {
                let imposed = faulted.then_some(cause);
                if self.sync_fault != imposed {
                    self.sync_fault = imposed;
                    self.tracking_changed(now);
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::Startup => self.startup(now),
                Timer::MasterDown => self.master_down_fired(now),
                Timer::Advert => {
                    if self.state == State::Master {
                        self.send_advert(self.priority);
                        self.timers.set(
                            Timer::Advert,
                            now + self.config.advert_interval.to_duration(),
                        );
                    }
                }
                Timer::GarpDelay => {
                    if self.state == State::Master {
                        self.events.push_back(Event::Gratuitous {
                            vrid: self.config.vrid,
                            kind: GarpKind::Delayed,
                            addresses: self.config.virtual_addresses.clone(),
                            count: self.config.garp.repeat,
                            interval: self.config.garp.interval,
                        });
                    }
                }
                Timer::GarpRefresh => {
                    if let (State::Master, Some(refresh)) = (self.state, self.config.garp.refresh) {
                        self.events.push_back(Event::Gratuitous {
                            vrid: self.config.vrid,
                            kind: GarpKind::Refresh,
                            addresses: self.config.virtual_addresses.clone(),
                            count: self.config.garp.refresh_repeat,
                            interval: self.config.garp.interval,
                        });
                        self.timers.set(Timer::GarpRefresh, now + refresh);
                    }
                }
            }
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some((destination, priority)) = self.outbox.pop_front() {
            let advert = Advertisement {
                version: self.config.version,
                vrid: self.config.vrid,
                priority,
                interval: self.config.advert_interval,
                addresses: self.config.virtual_addresses.clone(),
                auth: self.auth(),
            };
            let ip = IpContext {
                source: self.config.primary_address,
                destination,
            };
            buf.clear();
            // The configuration was validated, so encoding cannot fail; if it somehow
            // does, the advertisement is skipped rather than sent malformed.
            if advert.emit(&ip, self.config.checksum_mode, buf).is_err() {
                continue;
            }
            if !self.seal_ah(destination, buf) {
                continue;
            }
            self.stats.adverts_sent += 1;
            return Some(Transmit {
                destination,
                destination_port: None,
                source: Some(self.config.primary_address),
                source_port: None,
                interface: Some(self.config.interface),
                ttl: VRRP_TTL,
            });
        }
        None
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}

/// The IPv4 or IPv6 multicast group for an address family.
pub fn group_for(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => IpAddr::V4(VRRP_GROUP_V4),
        IpAddr::V6(_) => IpAddr::V6(VRRP_GROUP_V6),
    }
}

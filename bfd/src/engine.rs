//! The sans-I/O BFD engine: many sessions behind one [`ha_core::Endpoint`].
//!
//! # Calling protocol
//!
//! As for every endpoint (see [`ha_core::endpoint`]): feed one input
//! ([`handle_packet`](Engine::handle_packet), [`handle_command`](Engine::handle_command)
//! or [`handle_timeout`](Engine::handle_timeout)), then drain
//! [`poll_transmit`](Engine::poll_transmit) and [`poll_event`](Engine::poll_event) until
//! they return `None`, then sleep until [`poll_timeout`](Engine::poll_timeout).
//!
//! # Demultiplexing
//!
//! A received packet is matched to its session by Your Discriminator (a hash map lookup),
//! or, when that is zero (the peer has not heard us yet), by its addresses: (source,
//! destination, single hop or multihop), where multihop is recognised by UDP destination
//! port 4784, and for a single-hop session bound to an interface, the arrival interface.
//! IPv4-mapped IPv6 addresses are treated as the IPv4 addresses they carry. A session
//! whose local address is unspecified (`0.0.0.0` or `::`, e.g. a keepalived
//! `bfd_instance` without `source_ip`) matches packets sent to any local address, when no
//! session names that address.
//!
//! # Timers
//!
//! Every session has a transmit and a detection deadline. The engine keeps one binary
//! heap of scheduled entries; a session only pushes an entry when its deadline moves
//! *earlier* than the entry it already has, and when an entry falls due for a deadline
//! that has since moved later it is pushed again. So the receive path, which moves the
//! detection deadline later with every packet, usually touches no heap at all, and
//! [`poll_timeout`](Engine::poll_timeout) is a peek. The deadline it reports can be
//! earlier than the next real expiry (never later): the call at that time then does
//! nothing observable.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ha_core::rng::{BoxRng, RngCore, below};
use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::auth::{AuthError, KeyRing};
use crate::counters::{DropCounters, DropReason};
use crate::packet::{ControlPacket, Diagnostic, MULTIHOP_PORT, Packet, SOURCE_PORT_MIN, State};
use crate::session::{Session, SessionConfig, SessionId, SessionStatus};

/// What an application asks of the engine.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Creates a session; answered by [`Event::SessionAdded`] or
    /// [`Event::CommandRejected`].
    AddSession {
        /// Its configuration.
        config: SessionConfig,
    },
    /// Deletes a session, first sending the peer one AdminDown packet (so the peer sees
    /// a planned shutdown rather than a failure).
    RemoveSession {
        /// The session.
        session: SessionId,
    },
    /// Holds a session in AdminDown (RFC 5880 section 6.8.16).
    AdminDown {
        /// The session.
        session: SessionId,
    },
    /// Releases a session from AdminDown (it restarts in Down).
    AdminUp {
        /// The session.
        session: SessionId,
    },
    /// Changes the intervals and Detect Mult; while Up this runs a Poll Sequence (RFC 5880
    /// section 6.8.3), answered by [`Event::PollCompleted`].
    SetTimers {
        /// The session.
        session: SessionId,
        /// New `bfd.DesiredMinTxInterval` (non-zero).
        desired_min_tx: Duration,
        /// New `bfd.RequiredMinRxInterval` (non-zero).
        required_min_rx: Duration,
        /// New `bfd.DetectMult` (non-zero).
        detect_mult: u8,
    },
    /// Replaces the authentication keys. To rotate keys without a flap, send a ring that
    /// still holds the old key (see [`KeyRing`]).
    SetAuth {
        /// The session.
        session: SessionId,
        /// The new ring, or `None` for no authentication.
        auth: Option<KeyRing>,
    },
}

/// A session changed state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StateChange {
    /// The session.
    pub session: SessionId,
    /// Our address.
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// The previous state.
    pub from: State,
    /// The new state.
    pub to: State,
    /// Why (`bfd.LocalDiag`): e.g. [`Diagnostic::ControlDetectionTimeExpired`] when the
    /// peer went silent, [`Diagnostic::NeighborSignaledDown`] when it said so.
    pub diagnostic: Diagnostic,
    /// The peer's last reported state. A peer in AdminDown took the session down on
    /// purpose: RFC 5882 section 3.2 says clients should not treat that as a path failure.
    pub remote_state: State,
}

impl StateChange {
    /// The session as a tracked object for [`ha_core::track`] (VRRP `track_bfd`,
    /// checkers): up only in [`State::Up`].
    pub fn track_state(&self) -> ha_core::track::TrackState {
        if self.to == State::Up {
            ha_core::track::TrackState::Up
        } else {
            ha_core::track::TrackState::Down
        }
    }

    /// Whether the session just left Up because the path failed (not because either side
    /// was administratively taken down).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.to == State::Down && self.remote_state != State::AdminDown
    }
}

/// What the engine reports, in the order it happened.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A session was created.
    SessionAdded {
        /// The session.
        session: SessionId,
        /// The local discriminator the engine chose.
        local_discriminator: u32,
        /// The UDP source port its packets use.
        source_port: u16,
    },
    /// A session was deleted.
    SessionRemoved {
        /// The session.
        session: SessionId,
    },
    /// A session changed state.
    StateChanged(StateChange),
    /// A Poll Sequence ended: the intervals it announced are now in force.
    PollCompleted {
        /// The session.
        session: SessionId,
        /// `bfd.DesiredMinTxInterval` now in force.
        desired_min_tx: Duration,
        /// `bfd.RequiredMinRxInterval` now in force.
        required_min_rx: Duration,
    },
    /// A command was refused; nothing changed.
    CommandRejected {
        /// The session the command named.
        session: SessionId,
        /// Why.
        error: CommandError,
    },
}

/// Why a command was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandError {
    /// No session has this ID.
    #[error("no such session")]
    NoSuchSession,
    /// A session with this ID exists.
    #[error("session id already in use")]
    DuplicateId,
    /// A session with the same addresses and hop mode exists.
    #[error("a session with these addresses exists")]
    DuplicateAddresses,
    /// Local and remote addresses are of different families.
    #[error("address family mismatch")]
    AddressFamily,
    /// Detect Mult is zero.
    #[error("detect mult is zero")]
    ZeroDetectMult,
    /// An interval is zero.
    #[error("interval is zero")]
    ZeroInterval,
    /// All 16384 source ports are in use.
    #[error("no source port left")]
    NoSourcePort,
}

/// Which deadline of a session a heap entry is for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum TimerKind {
    Tx,
    Detect,
}

/// A packet waiting for [`Engine::poll_transmit`].
pub(crate) enum TxItem {
    /// Render the session's current state when polled.
    Packet { discr: u32, final_bit: bool },
    /// Already rendered (the AdminDown farewell of a removed session).
    Raw(Box<(Transmit, Vec<u8>)>),
}

type TimerEntry = Reverse<(Instant, u32, TimerKind)>;

/// The engine's outputs and randomness, lent to sessions.
pub(crate) struct Io {
    pub(crate) rng: BoxRng,
    pub(crate) timers: BinaryHeap<TimerEntry>,
    pub(crate) tx: VecDeque<TxItem>,
    pub(crate) events: VecDeque<Event>,
    /// How late the runtime may fire a timer (see [`Engine::set_timer_slack`]).
    pub(crate) timer_slack: Duration,
}

impl Io {
    /// Makes sure the heap holds an entry for `discr`'s `kind` timer no later than `at`.
    pub(crate) fn schedule(
        &mut self,
        discr: u32,
        kind: TimerKind,
        scheduled: &mut Option<Instant>,
        at: Instant,
    ) {
        if scheduled.is_none_or(|s| at < s) {
            *scheduled = Some(at);
            self.timers.push(Reverse((at, discr, kind)));
        }
    }
}

/// A multiplicative hasher for discriminators. They are drawn at random by the engine,
/// so no input can steer them into one bucket.
#[derive(Default, Clone, Copy)]
pub(crate) struct DiscrHasher(u64);

impl Hasher for DiscrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (u64::from(i) ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type DiscrMap<V> = HashMap<u32, V, BuildHasherDefault<DiscrHasher>>;

/// The address key of a session, for packets whose Your Discriminator is zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct AddrKey {
    remote: IpAddr,
    local: IpAddr,
    multihop: bool,
}

impl AddrKey {
    fn of(cfg: &SessionConfig) -> AddrKey {
        AddrKey {
            remote: cfg.remote.to_canonical(),
            local: cfg.local.to_canonical(),
            multihop: cfg.hop.is_multihop(),
        }
    }
}

/// Many BFD sessions behind one sans-I/O [`Endpoint`].
///
/// ```
/// use std::time::Duration;
/// use ha_bfd::{Command, Engine, Event, SessionConfig, SessionId};
/// use ha_core::{Endpoint, Instant};
///
/// let mut engine = Engine::new(ha_core::rng::seeded(1));
/// let mut config = SessionConfig::single_hop(
///     SessionId(1),
///     "192.0.2.1".parse().unwrap(),
///     "192.0.2.2".parse().unwrap(),
/// );
/// config.desired_min_tx = Duration::from_millis(50);
/// config.required_min_rx = Duration::from_millis(50);
/// engine.handle_command(Instant::ZERO, Command::AddSession { config });
///
/// assert!(matches!(engine.poll_event(), Some(Event::SessionAdded { .. })));
/// // The first Down packet goes out at once, to UDP port 3784 with TTL 255.
/// let mut buf = Vec::new();
/// let t = engine.poll_transmit(Instant::ZERO, &mut buf).unwrap();
/// assert_eq!((t.destination_port, t.ttl, buf.len()), (Some(3784), 255, 24));
/// assert!(engine.poll_timeout().is_some());
/// ```
pub struct Engine {
    sessions: DiscrMap<Session>,
    by_id: HashMap<SessionId, u32>,
    by_addr: HashMap<AddrKey, u32>,
    ports: HashSet<u16>,
    io: Io,
    drops: DropCounters,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sessions", &self.sessions.len())
            .field("drops", &self.drops)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no sessions. `rng` supplies discriminators, source ports, initial
    /// authentication sequence numbers and transmit jitter.
    pub fn new(rng: impl RngCore + Send + 'static) -> Engine {
        Engine::with_rng(Box::new(rng))
    }

    /// As [`Engine::new`], with an already boxed generator.
    pub fn with_rng(rng: BoxRng) -> Engine {
        Engine {
            sessions: DiscrMap::default(),
            by_id: HashMap::new(),
            by_addr: HashMap::new(),
            ports: HashSet::new(),
            io: Io {
                rng,
                timers: BinaryHeap::new(),
                tx: VecDeque::new(),
                events: VecDeque::new(),
                timer_slack: Duration::ZERO,
            },
            drops: DropCounters::new(),
        }
    }

    /// Tells the engine how late its runtime may fire a timer, so that transmit gaps stay
    /// within the interval anyway (RFC 5880 section 6.8.7 allows 75–100 % of it).
    ///
    /// Each transmit interval is then drawn from 75 % of the negotiated interval up to
    /// the top of the RFC range minus `slack` (never below 75 %), so a packet whose timer
    /// fires `slack` late still leaves within the interval. Zero, the default, draws
    /// from the whole range: right for a simulator or any runtime that fires on time.
    /// Under the ha-core driver, pass its [`Timers::expected_lateness`]
    /// (`crate::linux::driver` does).
    ///
    /// [`Timers::expected_lateness`]: ha_core::driver::Timers::expected_lateness
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut engine = ha_bfd::Engine::new(ha_core::rng::seeded(1));
    /// engine.set_timer_slack(Duration::from_millis(1));
    /// ```
    pub fn set_timer_slack(&mut self, slack: Duration) {
        self.io.timer_slack = slack;
    }

    /// Received packets dropped, per reason.
    pub fn drop_counters(&self) -> &DropCounters {
        &self.drops
    }

    /// A snapshot of one session.
    pub fn session(&self, id: SessionId) -> Option<SessionStatus> {
        let discr = self.by_id.get(&id)?;
        self.sessions.get(discr).map(Session::status)
    }

    /// The IDs of all sessions, in no particular order.
    pub fn session_ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.by_id.keys().copied()
    }

    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the engine has no sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn reject(&mut self, session: SessionId, error: CommandError) {
        self.io
            .events
            .push_back(Event::CommandRejected { session, error });
    }

    fn add_session(&mut self, now: Instant, config: SessionConfig) -> Result<(), CommandError> {
        if self.by_id.contains_key(&config.id) {
            return Err(CommandError::DuplicateId);
        }
        let key = AddrKey::of(&config);
        if self.by_addr.contains_key(&key) {
            return Err(CommandError::DuplicateAddresses);
        }
        if key.local.is_ipv4() != key.remote.is_ipv4() {
            return Err(CommandError::AddressFamily);
        }
        if config.detect_mult == 0 {
            return Err(CommandError::ZeroDetectMult);
        }
        if config.desired_min_tx.is_zero() || config.required_min_rx.is_zero() {
            return Err(CommandError::ZeroInterval);
        }
        let port_count = u64::from(u16::MAX - SOURCE_PORT_MIN) + 1;
        if self.ports.len() as u64 >= port_count {
            return Err(CommandError::NoSourcePort);
        }
        let source_port = loop {
            // below() < port_count, so the sum stays within u16.
            let p = SOURCE_PORT_MIN + below(&mut *self.io.rng, port_count) as u16;
            if !self.ports.contains(&p) {
                break p;
            }
        };
        let discr = loop {
            let d = self.io.rng.next_u32();
            if d != 0 && !self.sessions.contains_key(&d) {
                break d;
            }
        };
        let xmit_seq = self.io.rng.next_u32();
        let id = config.id;
        let mut session = Session::new(config, discr, source_port, xmit_seq);
        self.ports.insert(source_port);
        self.by_id.insert(id, discr);
        self.by_addr.insert(key, discr);
        self.io.events.push_back(Event::SessionAdded {
            session: id,
            local_discriminator: discr,
            source_port,
        });
        session.start(now, &mut self.io);
        self.sessions.insert(discr, session);
        Ok(())
    }

    fn remove_session(&mut self, id: SessionId) -> Result<(), CommandError> {
        let discr = self.by_id.remove(&id).ok_or(CommandError::NoSuchSession)?;
        let Some(mut session) = self.sessions.remove(&discr) else {
            return Err(CommandError::NoSuchSession);
        };
        self.by_addr.remove(&AddrKey::of(&session.cfg));
        self.ports.remove(&session.source_port);
        let mut buf = Vec::new();
        if let Some(t) = session.farewell(&mut buf) {
            self.io.tx.push_back(TxItem::Raw(Box::new((t, buf))));
        }
        self.io
            .events
            .push_back(Event::SessionRemoved { session: id });
        Ok(())
    }

    fn session_mut(&mut self, id: SessionId) -> Result<&mut Session, CommandError> {
        let discr = self.by_id.get(&id).ok_or(CommandError::NoSuchSession)?;
        self.sessions
            .get_mut(discr)
            .ok_or(CommandError::NoSuchSession)
    }

    fn apply(&mut self, now: Instant, command: Command) -> Result<(), CommandError> {
        match command {
            Command::AddSession { config } => self.add_session(now, config),
            Command::RemoveSession { session } => self.remove_session(session),
            Command::AdminDown { session } => {
                let s = self.sessions_get(session)?;
                let io = &mut self.io;
                let s = self
                    .sessions
                    .get_mut(&s)
                    .ok_or(CommandError::NoSuchSession)?;
                s.set_state(now, State::AdminDown, Diagnostic::AdministrativelyDown, io);
                Ok(())
            }
            Command::AdminUp { session } => {
                let s = self.sessions_get(session)?;
                let io = &mut self.io;
                let s = self
                    .sessions
                    .get_mut(&s)
                    .ok_or(CommandError::NoSuchSession)?;
                if s.state == State::AdminDown {
                    s.set_state(now, State::Down, Diagnostic::None, io);
                }
                Ok(())
            }
            Command::SetTimers {
                session,
                desired_min_tx,
                required_min_rx,
                detect_mult,
            } => {
                if detect_mult == 0 {
                    return Err(CommandError::ZeroDetectMult);
                }
                if desired_min_tx.is_zero() || required_min_rx.is_zero() {
                    return Err(CommandError::ZeroInterval);
                }
                let s = self.sessions_get(session)?;
                let io = &mut self.io;
                let s = self
                    .sessions
                    .get_mut(&s)
                    .ok_or(CommandError::NoSuchSession)?;
                s.set_timers(now, desired_min_tx, required_min_rx, detect_mult, io);
                Ok(())
            }
            Command::SetAuth { session, auth } => {
                self.session_mut(session)?.set_auth(auth);
                Ok(())
            }
        }
    }

    fn sessions_get(&self, id: SessionId) -> Result<u32, CommandError> {
        self.by_id
            .get(&id)
            .copied()
            .ok_or(CommandError::NoSuchSession)
    }

    /// Validates, demultiplexes and authenticates one packet: the session it belongs to
    /// and its parsed form, or why it is dropped.
    fn accept<'a>(
        sessions: &'a mut DiscrMap<Session>,
        by_addr: &HashMap<AddrKey, u32>,
        now: Instant,
        meta: &RecvMeta,
        payload: &[u8],
    ) -> Result<(&'a mut Session, ControlPacket), DropReason> {
        let packet = Packet::new_checked(payload).map_err(|e| e.drop_reason())?;
        let pkt = ControlPacket::parse(&packet).map_err(|e| e.drop_reason())?;
        let session = if pkt.your_discriminator != 0 {
            sessions
                .get_mut(&pkt.your_discriminator)
                .ok_or(DropReason::UnknownDiscriminator)?
        } else {
            let key = AddrKey {
                remote: meta.source.to_canonical(),
                local: meta.destination.to_canonical(),
                multihop: meta.destination_port == Some(MULTIHOP_PORT),
            };
            // A session without a local address (unspecified) takes packets sent to
            // any of ours.
            let wildcard = AddrKey {
                local: match key.local {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                ..key
            };
            let discr = by_addr
                .get(&key)
                .or_else(|| by_addr.get(&wildcard))
                .ok_or(DropReason::NoSession)?;
            let session = sessions.get_mut(discr).ok_or(DropReason::NoSession)?;
            if !session.cfg.hop.is_multihop()
                && session.cfg.interface.is_some_and(|i| i != meta.interface)
            {
                return Err(DropReason::NoSession);
            }
            session
        };
        if !session.cfg.hop.accepts_ttl(meta.ttl) {
            return Err(DropReason::Ttl);
        }
        // RFC 5880 section 6.8.6: A bit versus bfd.AuthType, then section 6.7.
        match (&pkt.auth, &session.cfg.auth) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => return Err(DropReason::AuthTypeMismatch),
            (Some(section), Some(_)) => {
                session.expire_auth_seq(now);
                let Some(ring) = &session.cfg.auth else {
                    return Err(DropReason::AuthTypeMismatch);
                };
                if section.auth_type() != ring.auth_type() {
                    return Err(DropReason::AuthTypeMismatch);
                }
                if let Some(seq) = section.sequence() {
                    session
                        .rx_seq
                        .check(seq, ring.auth_type().is_meticulous(), pkt.detect_mult)
                        .map_err(AuthError::drop_reason)?;
                }
                ring.verify(packet.control_bytes(), section)
                    .map_err(AuthError::drop_reason)?;
                if let Some(seq) = section.sequence() {
                    session.rx_seq.accept(seq);
                }
            }
        }
        Ok((session, pkt))
    }
}

impl Endpoint for Engine {
    type Command = Command;
    type Event = Event;

    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]) {
        match Engine::accept(&mut self.sessions, &self.by_addr, now, meta, payload) {
            Ok((session, pkt)) => session.receive(now, &pkt, &mut self.io),
            Err(reason) => self.drops.record(reason),
        }
    }

    fn handle_command(&mut self, now: Instant, command: Command) {
        let session = match &command {
            Command::AddSession { config } => config.id,
            Command::RemoveSession { session }
            | Command::AdminDown { session }
            | Command::AdminUp { session }
            | Command::SetTimers { session, .. }
            | Command::SetAuth { session, .. } => *session,
        };
        if let Err(error) = self.apply(now, command) {
            self.reject(session, error);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, discr, kind))) = self.io.timers.peek().copied() {
            if at > now {
                break;
            }
            self.io.timers.pop();
            let Some(session) = self.sessions.get_mut(&discr) else {
                continue;
            };
            let scheduled = match kind {
                TimerKind::Tx => &mut session.tx_sched,
                TimerKind::Detect => &mut session.detect_sched,
            };
            if *scheduled != Some(at) {
                continue; // superseded by an earlier entry
            }
            *scheduled = None;
            session.on_timer(now, kind, &mut self.io);
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(item) = self.io.tx.pop_front() {
            match item {
                TxItem::Packet { discr, final_bit } => {
                    if let Some(session) = self.sessions.get_mut(&discr) {
                        return Some(session.render(final_bit, buf));
                    }
                }
                TxItem::Raw(raw) => {
                    let (t, bytes) = *raw;
                    buf.extend_from_slice(&bytes);
                    return Some(t);
                }
            }
        }
        None
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.io.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.io.timers.peek().map(|Reverse((at, _, _))| *at)
    }
}

//! One BFD session: its configuration, the RFC 5880 state machine (sections 6.2 and
//! 6.8.6), timer negotiation (6.8.2–6.8.4), Poll/Final (6.5) and transmission rules
//! (6.8.7).
//!
//! Sessions live inside an [`Engine`](crate::Engine); this module holds their
//! configuration and status types and the per-session logic.

use std::net::IpAddr;
use std::time::Duration;

use ha_core::rng::unit_f64;
use ha_core::{IfIndex, Instant, Transmit};
use serde::{Deserialize, Serialize};

use crate::auth::{KeyRing, RxSequence, sign_in_place};
use crate::engine::{Event, Io, StateChange, TimerKind, TxItem};
use crate::packet::{
    ControlPacket, Diagnostic, MULTIHOP_PORT, Microseconds, SINGLE_HOP_PORT, State,
};

/// The slowest a session transmits while not Up (RFC 5880 section 6.8.3): one second.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// The TTL / hop limit BFD packets are sent with, and single-hop packets must arrive with
/// (RFC 5881 section 5).
pub const TTL_SECURITY: u8 = 255;

/// The application's name for a session: any number, unique within an engine.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bfd#{}", self.0)
    }
}

/// Single hop (RFC 5881) or multihop (RFC 5883).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Hop {
    /// Directly connected: UDP port 3784, packets must arrive with TTL / hop limit 255.
    SingleHop,
    /// Across routers: UDP port 4784, packets must arrive with at least `min_ttl`.
    MultiHop {
        /// The smallest TTL / hop limit accepted on receive.
        min_ttl: u8,
    },
}

impl Hop {
    /// The UDP destination port for this mode.
    pub const fn port(self) -> u16 {
        match self {
            Hop::SingleHop => SINGLE_HOP_PORT,
            Hop::MultiHop { .. } => MULTIHOP_PORT,
        }
    }

    /// Whether a packet with this received TTL / hop limit is acceptable.
    pub const fn accepts_ttl(self, ttl: u8) -> bool {
        match self {
            Hop::SingleHop => ttl == TTL_SECURITY,
            Hop::MultiHop { min_ttl } => ttl >= min_ttl,
        }
    }

    /// Whether this is multihop.
    pub const fn is_multihop(self) -> bool {
        matches!(self, Hop::MultiHop { .. })
    }
}

/// The configuration of one session.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SessionConfig {
    /// The application's name for the session.
    pub id: SessionId,
    /// Our address: the source of our packets and the destination of the peer's. The
    /// unspecified address (`0.0.0.0`, `::`) lets routing choose the source and accepts
    /// the peer's packets at any local address.
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// For single hop, the interface to send on and to accept packets from (`None`: any).
    pub interface: Option<IfIndex>,
    /// Single hop or multihop.
    pub hop: Hop,
    /// `bfd.DesiredMinTxInterval` once Up (at least one second is used while not Up).
    pub desired_min_tx: Duration,
    /// `bfd.RequiredMinRxInterval`: the fastest we are willing to receive (non-zero).
    pub required_min_rx: Duration,
    /// `bfd.DetectMult` (non-zero).
    pub detect_mult: u8,
    /// Passive role (RFC 5880 section 6.1): send nothing until the peer is heard.
    pub passive: bool,
    /// Authentication keys; `None` for no authentication.
    pub auth: Option<KeyRing>,
}

impl SessionConfig {
    /// A single-hop session with 300 ms intervals, Detect Mult 3, active role and no
    /// authentication.
    pub fn single_hop(id: SessionId, local: IpAddr, remote: IpAddr) -> Self {
        SessionConfig {
            id,
            local,
            remote,
            interface: None,
            hop: Hop::SingleHop,
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            auth: None,
        }
    }

    /// A multihop session accepting packets with at least `min_ttl`, otherwise as
    /// [`single_hop`](Self::single_hop).
    pub fn multihop(id: SessionId, local: IpAddr, remote: IpAddr, min_ttl: u8) -> Self {
        SessionConfig {
            hop: Hop::MultiHop { min_ttl },
            ..SessionConfig::single_hop(id, local, remote)
        }
    }
}

/// A snapshot of a session's state, for status pages and tests.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The session.
    pub id: SessionId,
    /// Our address.
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// `bfd.LocalDiscr`.
    pub local_discriminator: u32,
    /// `bfd.RemoteDiscr` (0 when unknown).
    pub remote_discriminator: u32,
    /// `bfd.SessionState`.
    pub state: State,
    /// `bfd.RemoteSessionState`.
    pub remote_state: State,
    /// `bfd.LocalDiag`.
    pub diagnostic: Diagnostic,
    /// The UDP source port of our packets.
    pub source_port: u16,
    /// `bfd.DesiredMinTxInterval` as advertised.
    pub desired_min_tx: Duration,
    /// `bfd.RequiredMinRxInterval` as advertised.
    pub required_min_rx: Duration,
    /// The negotiated transmit interval before jitter.
    pub tx_interval: Duration,
    /// The detection time, once the peer has been heard.
    pub detection_time: Option<Duration>,
    /// Whether we are sending Poll packets.
    pub poll_in_progress: bool,
    /// `bfd.RemoteDemandMode`.
    pub remote_demand: bool,
    /// Control packets accepted from the peer.
    pub packets_received: u64,
    /// Control packets sent.
    pub packets_sent: u64,
}

/// Per-session protocol state (RFC 5880 section 6.8.1 variables and timers).
pub(crate) struct Session {
    pub(crate) cfg: SessionConfig,
    pub(crate) local_discr: u32,
    pub(crate) remote_discr: u32,
    pub(crate) state: State,
    remote_state: State,
    diag: Diagnostic,
    pub(crate) source_port: u16,
    /// bfd.DesiredMinTxInterval / bfd.RequiredMinRxInterval as advertised.
    adv_tx: Duration,
    adv_rx: Duration,
    /// The values in force for our transmit interval and for the detection time.
    eff_tx: Duration,
    eff_rx: Duration,
    /// The advertised values a Poll Sequence in progress announces.
    poll: Option<(Duration, Duration)>,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_detect_mult: u8,
    remote_demand: bool,
    last_rx: Option<Instant>,
    /// When the last non-Final packet was queued.
    last_tx: Option<Instant>,
    pub(crate) xmit_seq: u32,
    pub(crate) rx_seq: RxSequence,
    /// Real deadlines, and the deadlines the engine's heap holds an entry for.
    tx_at: Option<Instant>,
    pub(crate) tx_sched: Option<Instant>,
    detect_at: Option<Instant>,
    pub(crate) detect_sched: Option<Instant>,
    packets_rx: u64,
    packets_tx: u64,
}

impl Session {
    pub(crate) fn new(
        cfg: SessionConfig,
        local_discr: u32,
        source_port: u16,
        xmit_seq: u32,
    ) -> Self {
        let adv_tx = cfg.desired_min_tx.max(SLOW_TX);
        let adv_rx = cfg.required_min_rx;
        Session {
            cfg,
            local_discr,
            remote_discr: 0,
            state: State::Down,
            remote_state: State::Down,
            diag: Diagnostic::None,
            source_port,
            adv_tx,
            adv_rx,
            eff_tx: adv_tx,
            eff_rx: adv_rx,
            poll: None,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            last_rx: None,
            last_tx: None,
            xmit_seq,
            rx_seq: RxSequence::new(),
            tx_at: None,
            tx_sched: None,
            detect_at: None,
            detect_sched: None,
            packets_rx: 0,
            packets_tx: 0,
        }
    }

    pub(crate) fn status(&self) -> SessionStatus {
        SessionStatus {
            id: self.cfg.id,
            local: self.cfg.local,
            remote: self.cfg.remote,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            state: self.state,
            remote_state: self.remote_state,
            diagnostic: self.diag,
            source_port: self.source_port,
            desired_min_tx: self.adv_tx,
            required_min_rx: self.adv_rx,
            tx_interval: self.tx_interval(),
            detection_time: self.last_rx.map(|_| self.detection_time()),
            poll_in_progress: self.poll.is_some(),
            remote_demand: self.remote_demand,
            packets_received: self.packets_rx,
            packets_sent: self.packets_tx,
        }
    }

    /// RFC 5880 section 6.8.2/6.8.7: the larger of our DesiredMinTx (in force) and the
    /// peer's RequiredMinRx.
    fn tx_interval(&self) -> Duration {
        self.eff_tx.max(self.remote_min_rx)
    }

    /// RFC 5880 section 6.8.4: remote Detect Mult × max(local RequiredMinRx in force,
    /// remote DesiredMinTx).
    pub(crate) fn detection_time(&self) -> Duration {
        self.eff_rx
            .max(self.remote_desired_tx)
            .saturating_mul(u32::from(self.remote_detect_mult))
    }

    /// RFC 5880 section 6.8.7: jittered by 75–100 % (75–90 % when Detect Mult is 1), the
    /// top of the range lowered by the runtime's timer slack.
    fn jittered(&self, io: &mut Io) -> Duration {
        let interval = self.tx_interval();
        let top = if self.cfg.detect_mult == 1 { 0.90 } else { 1.0 };
        let lowest = interval.mul_f64(0.75);
        let highest = interval
            .mul_f64(top)
            .saturating_sub(io.timer_slack)
            .max(lowest);
        lowest + (highest - lowest).mul_f64(unit_f64(&mut *io.rng))
    }

    fn schedule_tx(&mut self, now: Instant, io: &mut Io) {
        let at = now + self.jittered(io);
        self.tx_at = Some(at);
        io.schedule(self.local_discr, TimerKind::Tx, &mut self.tx_sched, at);
    }

    fn schedule_detect(&mut self, now: Instant, io: &mut Io) {
        let at = now + self.detection_time();
        self.detect_at = Some(at);
        io.schedule(
            self.local_discr,
            TimerKind::Detect,
            &mut self.detect_sched,
            at,
        );
    }

    /// Whether any packet may be sent (RFC 5880 section 6.8.7: a passive system waits for
    /// the peer).
    fn may_transmit(&self) -> bool {
        !(self.cfg.passive && self.remote_discr == 0)
    }

    /// Whether periodic packets are due (RFC 5880 sections 6.6 and 6.8.7).
    fn may_transmit_periodic(&self) -> bool {
        let demand_active = self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && self.poll.is_none();
        self.may_transmit() && !self.remote_min_rx.is_zero() && !demand_active
    }

    /// Starts the session: the first packet goes out at once (active role).
    pub(crate) fn start(&mut self, now: Instant, io: &mut Io) {
        if self.may_transmit() {
            io.tx.push_back(TxItem::Packet {
                discr: self.local_discr,
                final_bit: false,
            });
            self.last_tx = Some(now);
        }
        self.schedule_tx(now, io);
    }

    /// A timer entry popped from the engine's heap at its deadline.
    pub(crate) fn on_timer(&mut self, now: Instant, kind: TimerKind, io: &mut Io) {
        match kind {
            TimerKind::Tx => {
                let Some(at) = self.tx_at else { return };
                if at > now {
                    io.schedule(self.local_discr, TimerKind::Tx, &mut self.tx_sched, at);
                    return;
                }
                if self.may_transmit_periodic() {
                    io.tx.push_back(TxItem::Packet {
                        discr: self.local_discr,
                        final_bit: false,
                    });
                    self.last_tx = Some(now);
                }
                self.schedule_tx(now, io);
            }
            TimerKind::Detect => {
                let Some(at) = self.detect_at else { return };
                if at > now {
                    io.schedule(
                        self.local_discr,
                        TimerKind::Detect,
                        &mut self.detect_sched,
                        at,
                    );
                    return;
                }
                self.detect_at = None;
                self.detection_expired(now, io);
            }
        }
    }

    /// RFC 5880 section 6.8.4: no packet for a Detection Time.
    fn detection_expired(&mut self, now: Instant, io: &mut Io) {
        if matches!(self.state, State::Init | State::Up) {
            self.set_state(
                now,
                State::Down,
                Diagnostic::ControlDetectionTimeExpired,
                io,
            );
        }
        // RFC 5880 section 6.8.1: bfd.RemoteDiscr is reset when a Detection Time passes
        // without a valid packet.
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_demand = false;
    }

    /// Moves to `to`, reporting it, and applies what the new state implies for the
    /// advertised intervals (RFC 5880 section 6.8.3).
    pub(crate) fn set_state(&mut self, now: Instant, to: State, diag: Diagnostic, io: &mut Io) {
        let from = self.state;
        if from == to {
            return;
        }
        // The notification is spaced by the interval in force before the change, so a
        // peer still Up hears "Down" before its detection time runs out.
        let spacing = self.tx_interval();
        self.state = to;
        self.diag = diag;
        if to == State::Up {
            // Now Up: the configured interval replaces the one-second floor, announced
            // with a Poll Sequence.
            self.diag = Diagnostic::None;
            self.change_params(now, self.cfg.desired_min_tx, self.cfg.required_min_rx, io);
        } else if from == State::Up || self.poll.is_some() {
            self.poll = None;
            self.adv_tx = self.cfg.desired_min_tx.max(SLOW_TX);
            self.adv_rx = self.cfg.required_min_rx;
            self.eff_tx = self.adv_tx;
            self.eff_rx = self.adv_rx;
        }
        if to == State::AdminDown {
            self.detect_at = None;
        }
        io.events.push_back(Event::StateChanged(StateChange {
            session: self.cfg.id,
            local: self.cfg.local,
            remote: self.cfg.remote,
            from,
            to,
            diagnostic: diag,
            remote_state: self.remote_state,
        }));
        // Tell the peer as soon as the transmit interval allows.
        let spacing = spacing.min(self.tx_interval());
        self.expedite(now, spacing, io);
    }

    /// Changes the advertised intervals (RFC 5880 section 6.8.3): while Up through a Poll
    /// Sequence, with increases of TX and decreases of RX taking effect only at its end.
    pub(crate) fn change_params(&mut self, now: Instant, tx: Duration, rx: Duration, io: &mut Io) {
        let tx = if self.state == State::Up {
            tx
        } else {
            tx.max(SLOW_TX)
        };
        let changed = tx != self.adv_tx || rx != self.adv_rx;
        self.adv_tx = tx;
        self.adv_rx = rx;
        if self.state != State::Up {
            self.eff_tx = tx;
            self.eff_rx = rx;
            return;
        }
        if !changed {
            return;
        }
        self.eff_tx = self.eff_tx.min(tx);
        self.eff_rx = self.eff_rx.max(rx);
        if self.poll.is_none() {
            self.poll = Some((tx, rx));
        }
        self.expedite(now, self.tx_interval(), io);
    }

    /// Brings the next packet forward to the earliest moment the transmit interval
    /// `spacing` allows (RFC 5880 section 6.8.7: never closer than the jittered interval
    /// to the previous one): at once, or at 75 % of it after the last packet.
    fn expedite(&mut self, now: Instant, spacing: Duration, io: &mut Io) {
        if !self.may_transmit() {
            return;
        }
        let earliest = match self.last_tx {
            Some(last) => (last + spacing.mul_f64(0.75)).max(now),
            None => now,
        };
        if earliest <= now {
            io.tx.push_back(TxItem::Packet {
                discr: self.local_discr,
                final_bit: false,
            });
            self.last_tx = Some(now);
            self.schedule_tx(now, io);
        } else if self.tx_at.is_none_or(|at| at > earliest) {
            self.tx_at = Some(earliest);
            io.schedule(
                self.local_discr,
                TimerKind::Tx,
                &mut self.tx_sched,
                earliest,
            );
        }
    }

    /// Reconfigures timers and Detect Mult (command).
    pub(crate) fn set_timers(
        &mut self,
        now: Instant,
        tx: Duration,
        rx: Duration,
        detect_mult: u8,
        io: &mut Io,
    ) {
        self.cfg.desired_min_tx = tx;
        self.cfg.required_min_rx = rx;
        self.cfg.detect_mult = detect_mult;
        self.change_params(now, tx, rx, io);
    }

    /// The Final bit arrived: the Poll Sequence ends and its values take effect (RFC 5880
    /// section 6.5).
    fn poll_final(&mut self, io: &mut Io) {
        let Some((tx, rx)) = self.poll.take() else {
            return;
        };
        self.eff_tx = tx;
        self.eff_rx = rx;
        io.events.push_back(Event::PollCompleted {
            session: self.cfg.id,
            desired_min_tx: tx,
            required_min_rx: rx,
        });
        if (self.adv_tx, self.adv_rx) != (tx, rx) {
            // Changed again while polling: announce the newer values in a new sequence.
            self.eff_tx = self.eff_tx.min(self.adv_tx);
            self.eff_rx = self.eff_rx.max(self.adv_rx);
            self.poll = Some((self.adv_tx, self.adv_rx));
        }
    }

    /// Resets `bfd.AuthSeqKnown` after two Detection Times of silence (RFC 5880 section
    /// 6.8.1).
    pub(crate) fn expire_auth_seq(&mut self, now: Instant) {
        if let Some(last) = self.last_rx {
            if now.saturating_duration_since(last) >= self.detection_time().saturating_mul(2) {
                self.rx_seq.reset();
            }
        }
    }

    /// A validated, authenticated packet for this session (RFC 5880 section 6.8.6, from
    /// "Set bfd.RemoteDiscr" on).
    pub(crate) fn receive(&mut self, now: Instant, pkt: &ControlPacket, io: &mut Io) {
        self.packets_rx = self.packets_rx.saturating_add(1);
        self.remote_discr = pkt.my_discriminator;
        self.remote_state = pkt.state;
        self.remote_demand = pkt.demand;
        self.remote_min_rx = pkt.required_min_rx.as_duration();
        self.remote_desired_tx = pkt.desired_min_tx.as_duration();
        self.remote_detect_mult = pkt.detect_mult;
        self.last_rx = Some(now);
        if pkt.final_bit {
            self.poll_final(io);
        }
        if self.state == State::AdminDown {
            return;
        }
        if pkt.state == State::AdminDown {
            if self.state != State::Down {
                self.set_state(now, State::Down, Diagnostic::NeighborSignaledDown, io);
            }
        } else {
            match (self.state, pkt.state) {
                (State::Down, State::Down) => {
                    self.set_state(now, State::Init, Diagnostic::None, io);
                }
                (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                    self.set_state(now, State::Up, Diagnostic::None, io);
                }
                (State::Up, State::Down) => {
                    self.set_state(now, State::Down, Diagnostic::NeighborSignaledDown, io);
                }
                _ => {}
            }
        }
        if pkt.poll {
            // RFC 5880 section 6.5: answer a Poll with a Final at once.
            io.tx.push_back(TxItem::Packet {
                discr: self.local_discr,
                final_bit: true,
            });
        }
        self.schedule_detect(now, io);
        // A faster negotiated rate takes effect now, not after a slow pending packet.
        let latest = now + self.tx_interval();
        if self.tx_at.is_none_or(|at| at > latest) {
            self.schedule_tx(now, io);
        }
    }

    /// Renders one Control packet (RFC 5880 section 6.8.7) into `buf`.
    pub(crate) fn render(&mut self, final_bit: bool, buf: &mut Vec<u8>) -> Transmit {
        let auth = self.cfg.auth.as_ref().map(|ring| {
            let section = ring.tx_section(self.xmit_seq);
            // Meticulous types need a new number per packet; keyed types may reuse it,
            // but advancing it is allowed and keeps one rule.
            self.xmit_seq = self.xmit_seq.wrapping_add(1);
            section
        });
        let pkt = ControlPacket {
            diagnostic: self.diag,
            state: self.state,
            poll: self.poll.is_some() && !final_bit,
            final_bit,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: Microseconds::from_duration(self.adv_tx),
            required_min_rx: Microseconds::from_duration(self.adv_rx),
            required_min_echo_rx: Microseconds::ZERO,
            auth,
        };
        let start = buf.len();
        buf.resize(start + pkt.buffer_len(), 0);
        let n = pkt.emit(&mut buf[start..]);
        // The section was built from a valid ring: signing cannot fail.
        let _ = sign_in_place(&mut buf[start..start + n]);
        self.packets_tx = self.packets_tx.saturating_add(1);
        self.transmit()
    }

    fn transmit(&self) -> Transmit {
        Transmit {
            destination: self.cfg.remote,
            destination_port: Some(self.cfg.hop.port()),
            // Unspecified: routing chooses the source address.
            source: (!self.cfg.local.is_unspecified()).then_some(self.cfg.local),
            source_port: Some(self.source_port),
            interface: self.cfg.interface,
            ttl: TTL_SECURITY,
        }
    }

    /// Renders the AdminDown packet sent when the session is removed.
    pub(crate) fn farewell(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        if !self.may_transmit() {
            return None;
        }
        self.state = State::AdminDown;
        self.diag = Diagnostic::AdministrativelyDown;
        self.poll = None;
        Some(self.render(false, buf))
    }

    /// Replaces the key ring; the receive sequence state survives a change of keys of
    /// the same type (hitless rotation).
    pub(crate) fn set_auth(&mut self, auth: Option<KeyRing>) {
        let same_type = match (&self.cfg.auth, &auth) {
            (Some(a), Some(b)) => a.auth_type() == b.auth_type(),
            (None, None) => true,
            _ => false,
        };
        if !same_type {
            self.rx_seq.reset();
        }
        self.cfg.auth = auth;
    }
}

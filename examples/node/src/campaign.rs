//! Simulated fault campaigns: random faults against VRRP clusters, then invariants.
//!
//! Each seed builds a cluster of three hosts on two LANs. Every host runs two VRRP
//! instances (one per LAN) in a sync group, with a tracked check (weight −50) and a
//! tracked interface (weight 0 → FAULT). With BFD (the default, [`CampaignConfig::bfd`])
//! every host is also a [`ClusterNode`]: a BFD engine beside the VRRP host, with one
//! single-hop session to each peer on the `int` LAN; each session is a tracked object
//! `bfd:hN` (a failure lowers the priority by [`BfdConfig::track_weight`]) and a fast
//! failure hint (a Backup whose Master's session fails takes over after Skew_Time, as if
//! the Master had sent priority 0). For a random period the seed injects faults:
//! crashes and restarts, partitions and heals, loss, delay, jitter, duplication and
//! reordering, priority changes, check and interface failures. Then the faults stop
//! (heal, restart, clean links, every tracked object up, and every BFD session Up again)
//! and the invariants are checked:
//!
//! 1. within one advert interval plus two Master_Down_Intervals after the last fault,
//!    exactly one Master per VRID, and from then on never zero or two (the extra time:
//!    sync groups with crossed priorities that are Master together, after a partition
//!    heals or after simultaneous first elections, both step down, as in keepalived, and
//!    elect again, the one with the lower address two intervals later);
//! 2. once settled, the members of every sync group agree on their state;
//! 3. every router's state is the one its last event announced;
//! 4. a Master elected after a Master crash took no longer than the formula
//!    (`3 × interval + skew` after the last advertisement) plus 1 ms, or, when the BFD
//!    hint applies and is shorter, than the detection time plus the group's slowest
//!    Skew_Time plus 1 ms;
//! 5. BFD never declared a session Down on detection-time expiry while the peer's packets
//!    arrived within the detection time (checked on every such Down, against the arrival
//!    of the last packet from that peer, so link delay does not enter);
//! 6. every BFD session is Up again within [`BFD_SETTLE_LIMIT`] after the faults stop;
//! 7. loss within the configured tolerance causes no flap: outages of one direction
//!    between two hosts, one at a time, each no longer than [`tolerable_outage`], change
//!    no VRRP state and take no BFD session Down.
//!
//! A failing seed prints the command that replays it.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_bfd::{Diagnostic, Engine, SessionConfig, SessionId, State as BfdState, StateChange};
use ha_core::rng;
use ha_core::sim::{LinkConfig, NodeId, NodeStart, SegmentId, Sim, TraceLevel};
use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use ha_core::{Endpoint, IfIndex, Instant, RecvMeta, Transmit};
use ha_vrrp::{
    Centiseconds, Command, Event as VrrpEvent, Host, HostCommand, HostConfig, HostEvent, Priority,
    Reason, RouterConfig, State, SyncGroupConfig, TrackConfig, Version, Vrid,
};
use serde::{Deserialize, Serialize};

/// How a campaign seed is shaped.
#[derive(Clone, Copy, Debug)]
pub struct CampaignConfig {
    /// Number of hosts.
    pub hosts: u8,
    /// How long faults are injected.
    pub fault_period: Duration,
    /// How many faults are injected in that period.
    pub faults: u32,
    /// BFD between the hosts: `None` runs VRRP alone. The interval is drawn per seed from
    /// [`BFD_INTERVALS`]; this sets the rest.
    pub bfd: Option<BfdConfig>,
}

/// The BFD intervals a seed draws from (`DesiredMinTx` = `RequiredMinRx`).
pub const BFD_INTERVALS: [Duration; 3] = [
    Duration::from_millis(20),
    Duration::from_millis(50),
    Duration::from_millis(100),
];

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            hosts: 3,
            fault_period: Duration::from_secs(20),
            faults: 12,
            bfd: Some(BfdConfig {
                interval: BFD_INTERVALS[0],
                detect_mult: 3,
                track_weight: -10,
                hint: true,
            }),
        }
    }
}

/// A violated invariant.
#[derive(Clone, PartialEq, Debug)]
pub struct Violation {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub what: String,
    /// The `ha-campaign` options that rebuild the seed's configuration (empty for the
    /// defaults).
    pub options: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {}\n  replay: cargo run --release -p ha-examples --bin ha-campaign -- --seed {}{} --trace seed-{}.jsonl",
            self.seed, self.what, self.seed, self.options, self.seed
        )
    }
}

/// What one seed did.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    /// Faults injected, as text.
    pub faults: Vec<String>,
    /// State transitions seen.
    pub transitions: usize,
    /// Failovers measured against the formula.
    pub failovers_checked: usize,
    /// The takeover time after the final Master crash, when one was measured.
    pub failover_time: Option<Duration>,
    /// How long after the faults stopped every BFD session was Up again.
    pub bfd_settle: Duration,
    /// Of those, how many the BFD hint triggered.
    pub hint_failovers: usize,
    /// BFD sessions that went Down on detection-time expiry, each checked against the
    /// arrival of the peer's last packet.
    pub bfd_downs_checked: usize,
    /// Outages within the configured tolerance injected after the election settled
    /// (invariant 7).
    pub tolerable_outages: usize,
    /// The longest of them.
    pub longest_tolerable_outage: Duration,
    /// The trace as JSON Lines, when asked for.
    pub trace: Option<String>,
}

const LANS: [(&str, u8); 2] = [("ext", 1), ("int", 2)];

/// The LAN the BFD sessions run on (one session per pair of hosts).
const BFD_LAN: u8 = 2;

fn address(lan: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, lan, 0, host))
}

fn host_config(
    host: u8,
    hosts: u8,
    priority: u8,
    interval: Centiseconds,
    bfd: Option<BfdConfig>,
) -> HostConfig {
    let instances = LANS
        .iter()
        .map(|(name, lan)| {
            let mut c = RouterConfig::new(
                *name,
                Version::V3,
                Vrid::new(*lan).unwrap_or_else(|_| unreachable!()),
                Priority(priority),
                IfIndex(u32::from(*lan)),
                address(*lan, host),
                vec![address(*lan, 100)],
            );
            c.advert_interval = interval;
            c.track = vec![
                TrackConfig {
                    object: "chk".into(),
                    spec: TrackSpec::weight(TrackWeight::new(-50).unwrap_or_default()),
                    initial: TrackState::Up,
                },
                TrackConfig {
                    object: format!("if:{name}"),
                    spec: TrackSpec::default(),
                    initial: TrackState::Up,
                },
            ];
            // Weight 0 would mean FAULT: a Backup must not fault because the Master died.
            if let Some(weight) = bfd
                .and_then(|b| TrackWeight::new(b.track_weight).ok())
                .filter(|w| *w != TrackWeight::FAULT)
            {
                for peer in (1..=hosts).filter(|p| *p != host) {
                    c.track.push(TrackConfig {
                        object: bfd_object(peer),
                        spec: TrackSpec::weight(weight),
                        initial: TrackState::Up,
                    });
                }
            }
            c
        })
        .collect();
    HostConfig {
        instances,
        sync_groups: vec![SyncGroupConfig {
            name: "g".into(),
            members: LANS.iter().map(|(n, _)| n.to_string()).collect(),
            track: Vec::new(),
        }],
    }
}

/// BFD between the hosts of a campaign cluster: timers and how VRRP uses the sessions.
#[derive(Clone, Copy, Debug)]
pub struct BfdConfig {
    /// `DesiredMinTx` and `RequiredMinRx` of every session.
    pub interval: Duration,
    /// `DetectMult` of every session.
    pub detect_mult: u8,
    /// Weight of the tracked object `bfd:hN` (the session to host N) in every VRRP
    /// instance: a session that fails lowers the priority by this much.
    pub track_weight: i64,
    /// Whether a Backup whose Master's session fails takes over after Skew_Time, as if the
    /// Master had sent priority 0 (the fast failure hint).
    pub hint: bool,
}

impl BfdConfig {
    /// Detection time once Up: `DetectMult × max(RequiredMinRx, remote DesiredMinTx)`; every
    /// session uses the same timers.
    pub fn detection_time(&self) -> Duration {
        self.interval * u32::from(self.detect_mult)
    }
}

/// How long the campaign waits, once the faults stop, for every BFD session to be Up.
pub const BFD_SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The cause a hint gives the instances it makes Master.
pub const HINT_CAUSE: &str = "bfd-hint";

/// The BFD session to host `peer` (1-based).
fn bfd_session(peer: u8) -> SessionId {
    SessionId(u64::from(peer))
}

/// The tracked object a VRRP instance sees for the session to host `peer`.
fn bfd_object(peer: u8) -> String {
    format!("bfd:h{peer}")
}

/// A command for a [`ClusterNode`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum NodeCommand {
    /// For the VRRP host.
    Vrrp {
        /// The command.
        command: HostCommand,
    },
    /// For the BFD engine.
    Bfd {
        /// The command.
        command: ha_bfd::Command,
    },
}

impl From<HostCommand> for NodeCommand {
    fn from(command: HostCommand) -> Self {
        NodeCommand::Vrrp { command }
    }
}

/// An event from a [`ClusterNode`], in the order it happened.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum NodeEvent {
    /// From the VRRP host.
    Vrrp(HostEvent),
    /// From the BFD engine.
    Bfd(ha_bfd::Event),
    /// The BFD hint fired: these Backups were told to take over because the sessions to
    /// their Masters failed.
    Hint {
        /// The instances told to become Master.
        instances: Vec<String>,
    },
    /// A session went Down on detection-time expiry although a packet from the peer had
    /// arrived within the detection time (the BFD invariant, checked as it happens).
    BfdFalseDown {
        /// The peer host.
        peer: u8,
        /// When the last packet from the peer arrived.
        last_received: Instant,
        /// The detection time in force after that packet.
        detection_time: Duration,
    },
}

/// A pending hint for one instance: its Master's session failed.
#[derive(Clone, Debug)]
struct Hint {
    instance: String,
    master: IpAddr,
    /// Adverts the instance had received when the hint was set: one more means the
    /// Master (or a new one) spoke, and the hint is void.
    adverts: u64,
    deadline: Instant,
    expired: bool,
}

/// What the node remembers about the packets from one peer, for the BFD invariant.
#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    last_received: Option<Instant>,
    detection_time: Option<Duration>,
}

/// One campaign host: a VRRP [`Host`] and a BFD [`Engine`] with a session to each peer,
/// composed. UDP packets go to BFD, the rest to VRRP. BFD state changes become VRRP
/// tracked objects (`bfd:hN`), and, with [`BfdConfig::hint`], a failed session to a
/// Backup's Master makes it take over after its Skew_Time (the whole sync group, when
/// every member's Master failed), instead of waiting for the Master_Down_Interval.
pub struct ClusterNode {
    host: Host,
    bfd: Engine,
    bfd_config: BfdConfig,
    /// `(peer host number, its address on the BFD LAN, its addresses on every LAN)`.
    peers: Vec<(u8, IpAddr, Vec<IpAddr>)>,
    heard: Vec<Heard>,
    hints: Vec<Hint>,
    events: VecDeque<NodeEvent>,
}

impl fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterNode")
            .field("host", &self.host)
            .field("bfd", &self.bfd)
            .field("hints", &self.hints)
            .finish()
    }
}

impl ClusterNode {
    /// A node for host `me` of `hosts`, started at `start`.
    fn new(me: u8, hosts: u8, host: Host, bfd_config: BfdConfig, start: &NodeStart) -> Self {
        let mut bfd = Engine::new(start.rng());
        let mut peers = Vec::new();
        for peer in (1..=hosts).filter(|p| *p != me) {
            let remote = address(BFD_LAN, peer);
            let mut c = SessionConfig::single_hop(bfd_session(peer), address(BFD_LAN, me), remote);
            c.interface = Some(IfIndex(u32::from(BFD_LAN)));
            c.desired_min_tx = bfd_config.interval;
            c.required_min_rx = bfd_config.interval;
            c.detect_mult = bfd_config.detect_mult;
            bfd.handle_command(start.now, ha_bfd::Command::AddSession { config: c });
            let all = LANS.iter().map(|(_, lan)| address(*lan, peer)).collect();
            peers.push((peer, remote, all));
        }
        let heard = vec![Heard::default(); peers.len()];
        let mut node = ClusterNode {
            host,
            bfd,
            bfd_config,
            peers,
            heard,
            hints: Vec::new(),
            events: VecDeque::new(),
        };
        node.after(start.now);
        node
    }

    /// The VRRP host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The BFD engine.
    pub fn bfd(&self) -> &Engine {
        &self.bfd
    }

    /// Moves events out of both parts and wires BFD into VRRP, until quiet.
    fn after(&mut self, now: Instant) {
        loop {
            let mut quiet = true;
            while let Some(e) = self.host.poll_event() {
                quiet = false;
                // A Master heard or a state change voids a pending hint.
                if matches!(
                    e.event,
                    VrrpEvent::MasterLearned { .. } | VrrpEvent::StateChanged { .. }
                ) {
                    self.hints.retain(|h| h.instance != e.instance);
                }
                self.events.push_back(NodeEvent::Vrrp(e));
            }
            while let Some(e) = self.bfd.poll_event() {
                quiet = false;
                if let ha_bfd::Event::StateChanged(change) = &e {
                    self.on_bfd_change(now, change);
                }
                self.events.push_back(NodeEvent::Bfd(e));
            }
            if quiet {
                return;
            }
        }
    }

    fn on_bfd_change(&mut self, now: Instant, change: &StateChange) {
        let Some(index) = self.peers.iter().position(|p| p.1 == change.remote) else {
            return;
        };
        let peer = self.peers[index].0;
        if change.to == BfdState::Down
            && change.diagnostic == Diagnostic::ControlDetectionTimeExpired
        {
            let heard = self.heard[index];
            if let (Some(last), Some(detection)) = (heard.last_received, heard.detection_time) {
                if now < last + detection {
                    self.events.push_back(NodeEvent::BfdFalseDown {
                        peer,
                        last_received: last,
                        detection_time: detection,
                    });
                }
            }
        }
        // RFC 5882: only a session that was Up and failed is a failure; one that never
        // came up, or that the peer took down administratively, is not.
        let state = if change.is_failure() {
            TrackState::Down
        } else if change.to == BfdState::Up {
            TrackState::Up
        } else {
            return;
        };
        self.host.handle_command(
            now,
            HostCommand::Track {
                object: bfd_object(peer),
                state,
            },
        );
        if state == TrackState::Down && self.bfd_config.hint {
            let addresses = self.peers[index].2.clone();
            for r in self.host.instances() {
                let Some((master, _)) = r.master() else {
                    continue;
                };
                if r.state() != State::Backup || !addresses.contains(&master) {
                    continue;
                }
                let name = r.config().name.clone();
                self.hints.retain(|h| h.instance != name);
                self.hints.push(Hint {
                    instance: name,
                    master,
                    adverts: r.stats().adverts_received,
                    deadline: now + r.skew_time(),
                    expired: false,
                });
            }
        }
    }

    /// Fires due hints: a sync group takes over once every member is Master or has an
    /// expired hint; an instance outside any group takes over on its own.
    fn fire_hints(&mut self, now: Instant) {
        let host = &self.host;
        self.hints.retain(|h| {
            host.instance(&h.instance).is_some_and(|r| {
                r.state() == State::Backup
                    && r.master().map(|m| m.0) == Some(h.master)
                    && r.stats().adverts_received == h.adverts
            })
        });
        for h in &mut self.hints {
            if h.deadline <= now {
                h.expired = true;
            }
        }
        let expired = |name: &str| self.hints.iter().any(|h| h.expired && h.instance == name);
        // A member counts as ready when it is Master, when its hint expired, or when its
        // own Master_Down_Timer already fired and it waits for the group (a Backup that
        // outranks its Master's advert on this VRID but not on another member's).
        let ready_member = |name: &str| {
            expired(name)
                || host.instance(name).is_some_and(|r| {
                    r.state() == State::Master || (r.state() == State::Backup && r.wants_master())
                })
        };
        let mut ready: Vec<String> = Vec::new();
        for r in host.instances() {
            let name = &r.config().name;
            if !expired(name) || ready.contains(name) {
                continue;
            }
            match host
                .sync_groups()
                .iter()
                .find(|g| g.members().iter().any(|m| m == name))
            {
                None => ready.push(name.clone()),
                Some(g) if g.members().iter().all(|m| ready_member(m)) => {
                    ready.extend(
                        g.members()
                            .iter()
                            .filter(|m| {
                                host.instance(m).is_some_and(|o| o.state() == State::Backup)
                            })
                            .cloned(),
                    );
                }
                Some(_) => {}
            }
        }
        if ready.is_empty() {
            return;
        }
        self.hints.retain(|h| !ready.contains(&h.instance));
        self.events.push_back(NodeEvent::Hint {
            instances: ready.clone(),
        });
        for instance in ready {
            self.host.handle_command(
                now,
                HostCommand::Instance {
                    instance,
                    command: Command::SyncMaster {
                        cause: HINT_CAUSE.into(),
                    },
                },
            );
        }
        self.after(now);
    }
}

impl Endpoint for ClusterNode {
    type Command = NodeCommand;
    type Event = NodeEvent;

    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]) {
        if meta.destination_port.is_some() {
            self.bfd.handle_packet(now, meta, payload);
            if let Some(index) = self.peers.iter().position(|p| p.1 == meta.source) {
                let status = self.bfd.session(bfd_session(self.peers[index].0));
                self.heard[index] = Heard {
                    last_received: Some(now),
                    detection_time: status.and_then(|s| s.detection_time),
                };
            }
        } else {
            self.host.handle_packet(now, meta, payload);
        }
        self.after(now);
    }

    fn handle_command(&mut self, now: Instant, command: NodeCommand) {
        match command {
            NodeCommand::Vrrp { command } => self.host.handle_command(now, command),
            NodeCommand::Bfd { command } => self.bfd.handle_command(now, command),
        }
        self.after(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            self.host.handle_timeout(now);
        }
        if self.bfd.poll_timeout().is_some_and(|t| t <= now) {
            self.bfd.handle_timeout(now);
        }
        self.after(now);
        if self.hints.iter().any(|h| !h.expired && h.deadline <= now) {
            self.fire_hints(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.host
            .poll_transmit(now, buf)
            .or_else(|| self.bfd.poll_transmit(now, buf))
    }

    fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let hint = self
            .hints
            .iter()
            .filter(|h| !h.expired)
            .map(|h| h.deadline)
            .min();
        [self.host.poll_timeout(), self.bfd.poll_timeout(), hint]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The `ha-campaign` options that select `config` (the binary's defaults need none).
fn replay_options(config: &CampaignConfig) -> String {
    let defaults = CampaignConfig::default();
    let mut options = String::new();
    if config.faults != defaults.faults {
        options.push_str(&format!(" --faults {}", config.faults));
    }
    match config.bfd {
        None => options.push_str(" --no-bfd"),
        Some(b) if !b.hint => options.push_str(" --no-hint"),
        Some(_) => {}
    }
    options
}

/// The VRRP events of a run.
fn vrrp_events(sim: &Sim<ClusterNode>) -> impl Iterator<Item = (Instant, NodeId, &HostEvent)> {
    sim.events().filter_map(|(t, n, e)| match e {
        NodeEvent::Vrrp(e) => Some((t, n, e)),
        _ => None,
    })
}

/// Runs one seed: what it did, and every violated invariant (none when it passed).
pub fn run_seed(
    seed: u64,
    config: &CampaignConfig,
    keep_trace: bool,
) -> (SeedReport, Vec<Violation>) {
    let mut r = rng::seeded(seed ^ 0x5eed_ca4a_1a11);
    let interval = Centiseconds([5u16, 10, 20, 50, 100][rng::below(&mut r, 5) as usize]);
    // The BFD interval comes from its own stream, so a seed's faults are the same with
    // and without BFD.
    let bfd = config.bfd.map(|b| BfdConfig {
        interval: BFD_INTERVALS[rng::below(
            &mut rng::seeded(seed ^ 0xbfd0_bfd0),
            BFD_INTERVALS.len() as u64,
        ) as usize],
        ..b
    });
    let mut sim: Sim<ClusterNode> = Sim::new(seed);
    if keep_trace {
        sim.set_trace_level(TraceLevel::Packets);
    }
    let segments: Vec<SegmentId> = LANS
        .iter()
        .map(|(n, _)| sim.add_segment(*n, LinkConfig::default()))
        .collect();
    let mut nodes = Vec::new();
    let hosts = config.hosts;
    for h in 1..=hosts {
        let priority = 1 + rng::below(&mut r, 254) as u8;
        let hc = host_config(h, hosts, priority, interval, bfd);
        // Without BFD the engine runs with no session: it never sends or reports anything.
        let bfd_hosts = if bfd.is_some() { hosts } else { 0 };
        let bfd_config = bfd.unwrap_or(BfdConfig {
            interval: BFD_INTERVALS[0],
            detect_mult: 3,
            track_weight: 0,
            hint: false,
        });
        let node = sim.add_node(format!("h{h}"), move |s: NodeStart| {
            let host = Host::new(hc.clone(), s.now).unwrap_or_else(|e| unreachable!("{e}"));
            ClusterNode::new(h, bfd_hosts, host, bfd_config, &s)
        });
        for (i, (_, lan)) in LANS.iter().enumerate() {
            sim.attach(node, segments[i], address(*lan, h));
        }
        nodes.push(node);
    }

    let mut report = SeedReport::default();
    let start = Instant::from_millis(500);
    let period_ms = config.fault_period.as_millis() as u64;
    let mut crashed = vec![false; nodes.len()];
    let mut times: Vec<u64> = (0..config.faults)
        .map(|_| rng::below(&mut r, period_ms))
        .collect();
    times.sort_unstable();
    for t in times {
        let at = start + Duration::from_millis(t);
        let n = rng::below(&mut r, nodes.len() as u64) as usize;
        let node = nodes[n];
        let text = match rng::below(&mut r, 8) {
            0 => {
                if crashed[n] {
                    sim.schedule_restart(at, node);
                    crashed[n] = false;
                    format!("{at} restart h{}", n + 1)
                } else {
                    sim.schedule_crash(at, node);
                    crashed[n] = true;
                    format!("{at} crash h{}", n + 1)
                }
            }
            1 => {
                sim.schedule_partition(at, &[&[node]]);
                format!("{at} partition h{} away", n + 1)
            }
            2 => {
                sim.schedule_heal(at);
                format!("{at} heal")
            }
            3 => {
                let seg = rng::below(&mut r, segments.len() as u64) as usize;
                let link = LinkConfig::default()
                    .with_loss(rng::unit_f64(&mut r) * 0.5)
                    .with_delay(Duration::from_micros(100 + rng::below(&mut r, 2000)))
                    .with_jitter(Duration::from_micros(rng::below(&mut r, 5000)))
                    .with_duplicate(rng::unit_f64(&mut r) * 0.1)
                    .with_reorder(rng::unit_f64(&mut r) * 0.1, Duration::from_millis(5));
                // Link changes apply between every pair, scheduled as overrides.
                for &a in &nodes {
                    for &b in &nodes {
                        if a != b {
                            sim.schedule_set_link(at, a, b, Some(link));
                        }
                    }
                }
                format!(
                    "{at} impair {} ({:.0}% loss)",
                    LANS[seg].0,
                    link.loss * 100.0
                )
            }
            4 => {
                let p = Priority(1 + rng::below(&mut r, 254) as u8);
                let instance = LANS[rng::below(&mut r, 2) as usize].0;
                sim.schedule_command(
                    at,
                    node,
                    HostCommand::Instance {
                        instance: instance.into(),
                        command: Command::SetPriority { priority: p },
                    }
                    .into(),
                );
                format!("{at} h{} {instance} priority {p}", n + 1)
            }
            5 | 6 => {
                let object = if rng::below(&mut r, 2) == 0 {
                    "chk".to_string()
                } else {
                    format!("if:{}", LANS[rng::below(&mut r, 2) as usize].0)
                };
                let state = if rng::below(&mut r, 2) == 0 {
                    TrackState::Down
                } else {
                    TrackState::Up
                };
                sim.schedule_command(
                    at,
                    node,
                    HostCommand::Track {
                        object: object.clone(),
                        state,
                    }
                    .into(),
                );
                format!("{at} h{} {object} {state:?}", n + 1)
            }
            _ => {
                sim.schedule_command(
                    at,
                    node,
                    HostCommand::All {
                        command: Command::Shutdown,
                    }
                    .into(),
                );
                sim.schedule_command(
                    at + Duration::from_millis(300),
                    node,
                    HostCommand::All {
                        command: Command::Start,
                    }
                    .into(),
                );
                format!("{at} h{} graceful restart", n + 1)
            }
        };
        report.faults.push(text);
    }
    let faults_end = start + config.fault_period + Duration::from_millis(400);
    sim.run_until(faults_end);

    // The faults stop.
    sim.heal();
    for &node in &nodes {
        if !sim.is_up(node) {
            sim.restart(node);
        }
        for &other in &nodes {
            if other != node {
                sim.set_link(node, other, None);
            }
        }
        for object in ["chk", "if:ext", "if:int"] {
            sim.command(
                node,
                HostCommand::Track {
                    object: object.into(),
                    state: TrackState::Up,
                }
                .into(),
            );
        }
        sim.command(
            node,
            HostCommand::All {
                command: Command::Start,
            }
            .into(),
        );
    }
    // A BFD session coming back Up gives back its tracking weight: a priority change, so
    // a fault in effect. The election is judged from the moment every session is Up.
    let faults_stopped = sim.now();
    let mut bfd_stuck = None;
    if bfd.is_some() {
        let all_up = |sim: &Sim<ClusterNode>| {
            nodes.iter().all(|n| {
                sim.endpoint(*n).is_some_and(|h| {
                    h.bfd()
                        .session_ids()
                        .all(|id| h.bfd().session(id).is_some_and(|s| s.state == BfdState::Up))
                })
            })
        };
        while !all_up(&sim) {
            if sim.now() - faults_stopped > BFD_SETTLE_LIMIT {
                bfd_stuck = Some(format!(
                    "BFD sessions still not all Up {BFD_SETTLE_LIMIT:?} after the faults stopped"
                ));
                break;
            }
            sim.run_for(Duration::from_millis(1));
        }
        report.bfd_settle = sim.now() - faults_stopped;
    }
    let last_fault = sim.now();
    // The longest Master_Down_Interval: 3 intervals plus a skew below one interval.
    let max_master_down = |interval: Centiseconds| interval.to_duration() * 4;
    // Two sync groups with crossed priorities (A wins one VRID, B the other) that are
    // Master together both step down on the first advert they hear, as keepalived's
    // groups do, and elect again one Master_Down_Interval later; the one with the lower
    // address waits two intervals more, so the other is Master alone. They are Master
    // together either because a partition healed (they step down within one interval)
    // or because the faults stopped with no Master and their first elections coincided
    // (they step down one Master_Down_Interval after the faults). So the bound is two
    // Master_Down_Intervals plus one advert interval.
    let bound = interval.to_duration() + max_master_down(interval) * 2 + Duration::from_millis(5);
    let mut violations = Vec::new();
    let options = replay_options(config);
    let violation = |what: String| Violation {
        seed,
        what,
        options: options.clone(),
    };
    violations.extend(bfd_stuck.map(violation));

    // Invariant 1: from one Master_Down_Interval after the last fault on, exactly one
    // Master per VRID, sampled every few milliseconds for a while.
    sim.run_until(last_fault + bound);
    let step = Duration::from_millis(3);
    let until = last_fault + bound + interval.to_duration() * 20;
    while sim.now() < until {
        for (name, _) in LANS {
            let masters: Vec<usize> = nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    sim.endpoint(**n)
                        .and_then(|h| h.host().instance(name))
                        .is_some_and(|r| r.state() == State::Master)
                })
                .map(|(i, _)| i + 1)
                .collect();
            if masters.len() != 1 {
                violations.push(violation(format!(
                    "{:?} after the last fault, VRID {name} has Masters {masters:?}",
                    sim.now() - last_fault
                )));
                break;
            }
        }
        if !violations.is_empty() {
            break;
        }
        sim.run_for(step);
    }

    // Invariant 2: sync groups agree. Invariant 3: states match the last events.
    for (i, &node) in nodes.iter().enumerate() {
        let Some(host) = sim.endpoint(node).map(ClusterNode::host) else {
            continue;
        };
        let states: Vec<State> = host.instances().map(|r| r.state()).collect();
        if states.windows(2).any(|w| w[0] != w[1]) {
            violations.push(violation(format!(
                "h{}: sync group members disagree: {states:?}",
                i + 1
            )));
        }
        for router in host.instances() {
            let last = vrrp_events(&sim)
                .filter(|(_, n, e)| *n == node && e.instance == router.config().name)
                .filter_map(|(_, _, e)| match e.event {
                    VrrpEvent::StateChanged { to, .. } => Some(to),
                    _ => None,
                })
                .last();
            if last != Some(router.state()) {
                violations.push(violation(format!(
                    "h{} {}: state {:?} but the last event said {last:?}",
                    i + 1,
                    router.config().name,
                    router.state()
                )));
            }
        }
    }
    report.transitions = vrrp_events(&sim)
        .filter(|(_, _, e)| matches!(e.event, VrrpEvent::StateChanged { .. }))
        .count();

    // Invariant 7: loss within the configured tolerance causes no flap.
    if violations.is_empty() {
        check_tolerable_loss(&mut sim, &nodes, seed, interval, bfd, &mut report)
            .into_iter()
            .for_each(|what| violations.push(violation(what)));
    }

    // Invariant 4: clean failover after the campaign — crash the Master of "ext" and check
    // the takeover time against the formula, or with the BFD hint against the detection
    // time plus Skew_Time when that is shorter.
    let master = nodes.iter().position(|n| {
        sim.endpoint(*n)
            .and_then(|h| h.host().instance("ext"))
            .is_some_and(|r| r.state() == State::Master)
    });
    if let (Some(m), true) = (master, violations.is_empty()) {
        sim.run_for(interval.to_duration() / 3);
        // The hint can only fire where the session to the Master is Up when it crashes
        // (after a restart, BFD takes a second or more to come up).
        let bfd_up: Vec<bool> = nodes
            .iter()
            .map(|n| {
                sim.endpoint(*n)
                    .and_then(|h| h.bfd().session(bfd_session(m as u8 + 1)))
                    .is_some_and(|s| s.state == BfdState::Up)
            })
            .collect();
        let crash_at = sim.now();
        sim.crash(nodes[m]);
        sim.run_for(max_master_down(interval) * 2 + Duration::from_millis(10));
        let takeover = vrrp_events(&sim).find_map(|(t, n, e)| match &e.event {
            VrrpEvent::StateChanged {
                to: State::Master,
                reason,
                ..
            } if t > crash_at && e.instance == "ext" => Some((t, n, reason.clone())),
            _ => None,
        });
        match takeover {
            Some((t, n, reason)) => {
                // A sync group moves when its slowest member's Master_Down_Timer fires
                // (the last advert left at most one interval before the crash).
                let slowest_skew = sim
                    .endpoint(n)
                    .and_then(|h| h.host().instances().map(|r| r.skew_time()).max())
                    .unwrap_or_default();
                let formula = interval.to_duration() * 3 + slowest_skew;
                // With the hint: the last BFD packet from the crashed Master arrived at or
                // before the crash, the session fails one detection time later, and the
                // group takes over after its slowest member's Skew_Time.
                let hint_bound = bfd
                    .filter(|b| b.hint && bfd_up[n.0])
                    .map(|b| b.detection_time() + slowest_skew);
                let bound = hint_bound.map_or(formula, |h| h.min(formula));
                if t - crash_at > bound + Duration::from_millis(1) + Duration::from_micros(200) {
                    violations.push(violation(format!(
                        "failover took {:?} after the crash, bound {bound:?} (formula \
                         {formula:?}, BFD hint {hint_bound:?})",
                        t - crash_at
                    )));
                }
                report.failovers_checked += 1;
                report.failover_time = Some(t - crash_at);
                if matches!(&reason, Reason::SyncGroup { cause } if cause == HINT_CAUSE) {
                    report.hint_failovers += 1;
                }
            }
            None if nodes.len() > 1 => {
                violations.push(violation("no takeover after the Master crashed".into()))
            }
            None => {}
        }
    }

    // Invariant 5 (BFD): no session went Down on detection-time expiry while the peer's
    // packets arrived within the detection time. Each node checks every such Down against
    // the arrival time of the last packet from that peer (so link delay does not matter).
    for (at, node, e) in sim.events() {
        match e {
            NodeEvent::BfdFalseDown {
                peer,
                last_received,
                detection_time,
            } => violations.push(violation(format!(
                "{at}: h{} declared the BFD session to h{peer} Down {:?} after its last \
                 packet, within the detection time {detection_time:?}",
                node.0 + 1,
                at - *last_received
            ))),
            NodeEvent::Bfd(ha_bfd::Event::StateChanged(c))
                if c.to == BfdState::Down
                    && c.diagnostic == Diagnostic::ControlDetectionTimeExpired =>
            {
                report.bfd_downs_checked += 1;
            }
            _ => {}
        }
    }
    if keep_trace {
        report.trace = Some(sim.trace_jsonl());
    }
    (report, violations)
}

/// How many outages invariant 7 injects per seed.
const TOLERABLE_OUTAGES: usize = 12;

/// The longest total outage of one direction between two hosts that the configuration
/// tolerates without a state change, with a margin so that an outage never ends on the
/// instant of a send.
///
/// VRRP declares its Master down after `3 × interval + skew` without an advertisement,
/// so it tolerates losing two in a row: any outage up to two intervals (the Master sends
/// exactly every interval). BFD (detection time `DetectMult × interval`, here 3) also
/// tolerates two lost packets in a row; its transmit interval is jittered to 75–100 %,
/// so an outage shorter than two of its shortest intervals (1.5 × interval) loses at most
/// two. The bound is kept below that, at 1.35 × interval, because the gap the receiver
/// sees is three real transmit intervals and must stay under 3 × interval.
pub fn tolerable_outage(vrrp_interval: Centiseconds, bfd: Option<BfdConfig>) -> Duration {
    let margin = Duration::from_millis(1);
    let vrrp = vrrp_interval.to_duration() * 2 - margin;
    match bfd {
        Some(b) => vrrp.min(b.interval * 27 / 20 - margin),
        None => vrrp,
    }
}

/// Invariant 7: one at a time, a random host stops hearing another for a random time up
/// to [`tolerable_outage`], with at least one transmit interval of both protocols between
/// outages; no VRRP instance may change state and no BFD session may go Down, during the
/// outages or the detection time after the last. Returns what went wrong.
fn check_tolerable_loss(
    sim: &mut Sim<ClusterNode>,
    nodes: &[NodeId],
    seed: u64,
    interval: Centiseconds,
    bfd: Option<BfdConfig>,
    report: &mut SeedReport,
) -> Vec<String> {
    if nodes.len() < 2 {
        return Vec::new();
    }
    // Its own stream: the faults of a seed stay the same as before this check existed.
    let mut r = rng::seeded(seed ^ 0x70_1e7a_b1e0);
    let longest = tolerable_outage(interval, bfd);
    let longest_send_interval = bfd.map_or(interval.to_duration(), |b| {
        b.interval.max(interval.to_duration())
    });
    let lost = LinkConfig::default().with_loss(1.0);
    let start = sim.now() + Duration::from_millis(1);
    let mut at = start;
    for _ in 0..TOLERABLE_OUTAGES {
        let from = rng::below(&mut r, nodes.len() as u64) as usize;
        let to = (from + 1 + rng::below(&mut r, nodes.len() as u64 - 1) as usize) % nodes.len();
        let quarter = longest / 4;
        let outage = quarter
            + Duration::from_nanos(rng::below(&mut r, (longest - quarter).as_nanos() as u64));
        sim.schedule_set_link(at, nodes[from], nodes[to], Some(lost));
        sim.schedule_set_link(at + outage, nodes[from], nodes[to], None);
        report.tolerable_outages += 1;
        report.longest_tolerable_outage = report.longest_tolerable_outage.max(outage);
        let quiet = longest_send_interval
            + Duration::from_nanos(rng::below(
                &mut r,
                (longest_send_interval * 2).as_nanos() as u64,
            ))
            + Duration::from_millis(1);
        at += outage + quiet;
    }
    // One detection time after the last outage ends: a missed deadline would show by then.
    let detection = bfd.map_or(Duration::ZERO, |b| b.detection_time());
    sim.run_until(at + (interval.to_duration() * 4).max(detection));
    let mut problems = Vec::new();
    for (t, node, e) in sim.events().filter(|(t, _, _)| *t >= start) {
        match e {
            NodeEvent::Vrrp(HostEvent {
                instance,
                event: VrrpEvent::StateChanged { from, to, .. },
            }) => problems.push(format!(
                "{t}: h{} {instance} went {from:?} → {to:?} under loss within tolerance (outages up to {longest:?})",
                node.0 + 1
            )),
            NodeEvent::Bfd(ha_bfd::Event::StateChanged(c)) if c.to == BfdState::Down => {
                problems.push(format!(
                    "{t}: h{} BFD session {:?} went Down ({:?}) under loss within tolerance (outages up to {longest:?})",
                    node.0 + 1,
                    c.session,
                    c.diagnostic
                ))
            }
            _ => {}
        }
    }
    // The first few say what happened; the rest follow from them.
    problems.truncate(3);
    problems
}

/// Runs seeds `first..first + count`; returns the violations and the seeds run.
pub fn run_campaign(first: u64, count: u64, config: &CampaignConfig) -> (Vec<Violation>, u64) {
    let mut violations = Vec::new();
    for seed in first..first.saturating_add(count) {
        violations.extend(run_seed(seed, config, false).1);
    }
    (violations, count)
}

//! A deterministic network simulator for whole clusters of [`Endpoint`]s.
//!
//! The simulator owns a virtual clock, a set of **nodes** (each hosting one endpoint) and a
//! set of **segments** (L2 broadcast domains). Nodes attach to segments through interfaces
//! with addresses. A transmit to a multicast address reaches every other interface on the
//! sending interface's segment; a unicast transmit reaches the interface that holds the
//! destination address. Every delivery passes through the link between the two nodes,
//! which can lose, delay, jitter, duplicate and reorder packets. Partitions, node crashes
//! and restarts, and commands can be scheduled at any virtual time.
//!
//! Everything is determined by the seed given to [`Sim::new`]: the same seed and the same
//! calls give a byte-identical [trace](Sim::trace_jsonl). An endpoint gets its own seed at
//! every (re)start through [`NodeStart::seed`], so its randomness is reproducible too.
//!
//! # Example
//!
//! Two nodes that greet each other once a second over a lossy segment:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Duration;
//! use ha_core::sim::{LinkConfig, NodeStart, Sim};
//! use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
//!
//! const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
//!
//! /// Sends "hello" every second; reports every hello it hears.
//! struct Greeter { next: Instant, out: VecDeque<Transmit>, heard: VecDeque<IpAddr> }
//!
//! impl Endpoint for Greeter {
//!     type Command = ();
//!     type Event = IpAddr;
//!     fn handle_packet(&mut self, _now: Instant, meta: &RecvMeta, _payload: &[u8]) {
//!         self.heard.push_back(meta.source);
//!     }
//!     fn handle_command(&mut self, _now: Instant, _c: ()) {}
//!     fn handle_timeout(&mut self, now: Instant) {
//!         if now >= self.next {
//!             self.next = now + Duration::from_secs(1);
//!             self.out.push_back(Transmit { destination: GROUP, destination_port: None,
//!                 source: None, source_port: None, interface: None, ttl: 255 });
//!         }
//!     }
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
//!         let t = self.out.pop_front()?;
//!         buf.extend_from_slice(b"hello");
//!         Some(t)
//!     }
//!     fn poll_event(&mut self) -> Option<IpAddr> { self.heard.pop_front() }
//!     fn poll_timeout(&self) -> Option<Instant> { Some(self.next) }
//! }
//!
//! let mut sim = Sim::new(42);
//! let lan = sim.add_segment("lan", LinkConfig::default().with_loss(0.1));
//! for i in 1..=2u8 {
//!     let node = sim.add_node(format!("n{i}"), |start: NodeStart| Greeter {
//!         next: start.now, out: VecDeque::new(), heard: VecDeque::new() });
//!     sim.attach(node, lan, IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)));
//! }
//! sim.run_for(Duration::from_secs(10));
//! let heard = sim.events().count();
//! assert!(heard > 10 && heard <= 20, "{heard}");
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::{self, RngCore, SimRng};
use crate::{Cast, Endpoint, IfIndex, Instant, RecvMeta, Transmit};

/// Identifies a node in a [`Sim`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub usize);

/// Identifies a segment in a [`Sim`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SegmentId(pub usize);

/// Impairments of a link (the path from one node's interface to another's).
///
/// Probabilities are in `[0, 1]`. A packet is first dropped with probability `loss`;
/// otherwise it is delivered after `delay` plus a uniform `[0, jitter]`; with probability
/// `reorder` it is held back an extra `reorder_delay` (so later packets overtake it); with
/// probability `duplicate` a second copy is delivered with its own delay.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct LinkConfig {
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Base one-way delay.
    pub delay: Duration,
    /// Extra uniform random delay, `[0, jitter]`.
    pub jitter: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back by `reorder_delay`.
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
}

impl Default for LinkConfig {
    /// A perfect link with a 100 µs delay.
    fn default() -> Self {
        LinkConfig {
            loss: 0.0,
            delay: Duration::from_micros(100),
            jitter: Duration::ZERO,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(1),
        }
    }
}

impl LinkConfig {
    /// This config with a loss probability.
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }
    /// This config with a base delay.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// This config with a jitter.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }
    /// This config with a duplication probability.
    pub fn with_duplicate(mut self, duplicate: f64) -> Self {
        self.duplicate = duplicate;
        self
    }
    /// This config with a reordering probability and hold-back delay.
    pub fn with_reorder(mut self, reorder: f64, hold_back: Duration) -> Self {
        self.reorder = reorder;
        self.reorder_delay = hold_back;
        self
    }
}

/// What a node's factory gets when the node (re)starts.
#[derive(Clone, Copy, Debug)]
pub struct NodeStart {
    /// The node.
    pub node: NodeId,
    /// Virtual time of the start.
    pub now: Instant,
    /// A seed for the endpoint's RNG, derived from the simulation seed.
    pub seed: u64,
    /// 0 for the first start, then 1, 2, … for each restart.
    pub incarnation: u32,
}

impl NodeStart {
    /// A reproducible RNG seeded from [`NodeStart::seed`].
    pub fn rng(&self) -> SimRng {
        rng::seeded(self.seed)
    }
}

/// How much the trace records.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default, Serialize, Deserialize)]
pub enum TraceLevel {
    /// Endpoint events, commands, crashes, restarts, partitions.
    #[default]
    Events,
    /// Also every packet sent, delivered and dropped.
    Packets,
}

/// Why the simulator dropped a packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimDrop {
    /// Random loss on the link.
    Loss,
    /// The two nodes are on different sides of a partition.
    Partition,
    /// The receiving node was down at delivery time.
    NodeDown,
    /// No interface holds the unicast destination on the segment.
    NoRoute,
    /// The sender has no interface to send on.
    NoInterface,
}

/// One record of the trace.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceKind<Ev, C> {
    /// An endpoint event.
    Event {
        /// The event.
        event: Ev,
    },
    /// A command was applied.
    Command {
        /// The command.
        command: C,
    },
    /// The node crashed (its endpoint state is gone).
    Crashed,
    /// The node started again with a fresh endpoint.
    Restarted {
        /// Which incarnation.
        incarnation: u32,
    },
    /// A partition took effect.
    Partitioned {
        /// The groups, by node name.
        groups: Vec<Vec<String>>,
    },
    /// Partitions were healed.
    Healed,
    /// A packet was sent (level [`TraceLevel::Packets`]).
    Sent {
        /// Destination.
        destination: IpAddr,
        /// Payload length.
        len: usize,
    },
    /// A packet was delivered (level [`TraceLevel::Packets`]).
    Delivered {
        /// Source address.
        source: IpAddr,
        /// Payload length.
        len: usize,
    },
    /// A packet was dropped (level [`TraceLevel::Packets`]); `node` is the sender.
    Dropped {
        /// Intended receiver, if known.
        to: Option<String>,
        /// Why.
        reason: SimDrop,
    },
}

/// One trace entry: what happened, when, and on which node.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct TraceEntry<Ev, C> {
    /// Virtual time.
    pub at: Instant,
    /// The node it happened on (`None` for global entries such as partitions).
    pub node: Option<NodeId>,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind<Ev, C>,
}

/// Per-simulation packet counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct SimStats {
    /// Transmits taken from endpoints.
    pub sent: u64,
    /// Copies handed to receiving endpoints.
    pub delivered: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Copies held back for reordering.
    pub reordered: u64,
    /// Dropped by random loss.
    pub lost: u64,
    /// Dropped by a partition.
    pub partitioned: u64,
    /// Dropped because the receiver was down.
    pub to_down_node: u64,
    /// Dropped for lack of a route or an interface.
    pub unroutable: u64,
}

type Factory<E> = Box<dyn FnMut(NodeStart) -> E>;

struct Interface {
    segment: SegmentId,
    index: IfIndex,
    addresses: Vec<IpAddr>,
}

struct Node<E> {
    name: String,
    factory: Factory<E>,
    endpoint: Option<E>,
    incarnation: u32,
    interfaces: Vec<Interface>,
    deadline: Option<Instant>,
    partition_group: u32,
}

struct Segment {
    name: String,
    link: LinkConfig,
}

enum Action<C> {
    Deliver {
        from: NodeId,
        to: NodeId,
        meta: RecvMeta,
        payload: Vec<u8>,
    },
    Command {
        node: NodeId,
        command: C,
    },
    Crash(NodeId),
    Restart(NodeId),
    Partition(Vec<Vec<NodeId>>),
    Heal,
    SetLink {
        from: NodeId,
        to: NodeId,
        link: Option<LinkConfig>,
    },
}

struct Queued<C> {
    at: Instant,
    seq: u64,
    action: Action<C>,
}

impl<C> PartialEq for Queued<C> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<C> Eq for Queued<C> {}
impl<C> PartialOrd for Queued<C> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<C> Ord for Queued<C> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then first-queued) entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The simulator. See the [module documentation](self).
pub struct Sim<E: Endpoint> {
    now: Instant,
    rng: SimRng,
    nodes: Vec<Node<E>>,
    segments: Vec<Segment>,
    link_overrides: Vec<((NodeId, NodeId), LinkConfig)>,
    queue: BinaryHeap<Queued<E::Command>>,
    seq: u64,
    trace: Vec<TraceEntry<E::Event, E::Command>>,
    trace_level: TraceLevel,
    stats: SimStats,
    buf: Vec<u8>,
}

/// How many consecutive timeouts at one instant a node may need before the simulator
/// decides its endpoint is stuck (its deadline never moves past `now`).
const LIVELOCK_LIMIT: u32 = 10_000;

impl<E: Endpoint> Sim<E>
where
    E::Command: Clone,
{
    /// An empty simulation at virtual time zero, determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Sim {
            now: Instant::ZERO,
            rng: rng::seeded(seed),
            nodes: Vec::new(),
            segments: Vec::new(),
            link_overrides: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            trace: Vec::new(),
            trace_level: TraceLevel::Events,
            stats: SimStats::default(),
            buf: Vec::with_capacity(2048),
        }
    }

    /// Sets how much the trace records (default: [`TraceLevel::Events`]).
    pub fn set_trace_level(&mut self, level: TraceLevel) {
        self.trace_level = level;
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Packet counters so far.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Adds an L2 segment whose links default to `link`.
    pub fn add_segment(&mut self, name: impl Into<String>, link: LinkConfig) -> SegmentId {
        self.segments.push(Segment {
            name: name.into(),
            link,
        });
        SegmentId(self.segments.len() - 1)
    }

    /// Adds a node and starts its endpoint now. `factory` builds the endpoint at the first
    /// start and again at every [restart](Sim::restart).
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        factory: impl FnMut(NodeStart) -> E + 'static,
    ) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name: name.into(),
            factory: Box::new(factory),
            endpoint: None,
            incarnation: 0,
            interfaces: Vec::new(),
            deadline: None,
            partition_group: 0,
        });
        self.start_node(id);
        id
    }

    /// Attaches `node` to `segment` with `address`, returning the interface index the node
    /// sees (1, 2, … per node, in attach order). Attaching again to the same segment adds
    /// the address to the existing interface.
    pub fn attach(&mut self, node: NodeId, segment: SegmentId, address: IpAddr) -> IfIndex {
        let n = &mut self.nodes[node.0];
        if let Some(iface) = n.interfaces.iter_mut().find(|i| i.segment == segment) {
            iface.addresses.push(address);
            return iface.index;
        }
        let index = IfIndex(n.interfaces.len() as u32 + 1);
        n.interfaces.push(Interface {
            segment,
            index,
            addresses: vec![address],
        });
        index
    }

    /// The name of a node.
    pub fn node_name(&self, node: NodeId) -> &str {
        &self.nodes[node.0].name
    }

    /// The name of a segment.
    pub fn segment_name(&self, segment: SegmentId) -> &str {
        &self.segments[segment.0].name
    }

    /// All node ids, in creation order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + use<E> {
        (0..self.nodes.len()).map(NodeId)
    }

    /// The endpoint running on `node`, or `None` while it is crashed.
    pub fn endpoint(&self, node: NodeId) -> Option<&E> {
        self.nodes[node.0].endpoint.as_ref()
    }

    /// Mutable access to a running endpoint. Changes made here are not traced; prefer
    /// commands. Outputs it produces are drained at the next step.
    pub fn endpoint_mut(&mut self, node: NodeId) -> Option<&mut E> {
        self.nodes[node.0].deadline = Some(self.now);
        self.nodes[node.0].endpoint.as_mut()
    }

    /// Whether `node` is running.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes[node.0].endpoint.is_some()
    }

    /// Overrides the impairments of the directed link `from → to` (`None` restores the
    /// segment default). Takes effect now.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, link: Option<LinkConfig>) {
        self.apply_set_link(from, to, link);
    }

    /// Schedules [`Sim::set_link`] at `at`.
    pub fn schedule_set_link(
        &mut self,
        at: Instant,
        from: NodeId,
        to: NodeId,
        link: Option<LinkConfig>,
    ) {
        self.push(at, Action::SetLink { from, to, link });
    }

    /// Changes the default impairments of a segment, now.
    pub fn set_segment_link(&mut self, segment: SegmentId, link: LinkConfig) {
        self.segments[segment.0].link = link;
    }

    /// Schedules a command for `node` at `at`.
    pub fn schedule_command(&mut self, at: Instant, node: NodeId, command: E::Command) {
        self.push(at, Action::Command { node, command });
    }

    /// Applies a command to `node` now (ignored, but traced, if the node is down).
    pub fn command(&mut self, node: NodeId, command: E::Command) {
        self.apply_command(node, command);
    }

    /// Crashes `node` now: its endpoint is dropped with all its state and it neither sends
    /// nor receives until restarted.
    pub fn crash(&mut self, node: NodeId) {
        self.apply_crash(node);
    }

    /// Schedules a crash.
    pub fn schedule_crash(&mut self, at: Instant, node: NodeId) {
        self.push(at, Action::Crash(node));
    }

    /// Restarts a crashed node now with a fresh endpoint from its factory. Restarting a
    /// running node crashes it first.
    pub fn restart(&mut self, node: NodeId) {
        self.apply_restart(node);
    }

    /// Schedules a restart.
    pub fn schedule_restart(&mut self, at: Instant, node: NodeId) {
        self.push(at, Action::Restart(node));
    }

    /// Partitions the network now: nodes in different groups cannot reach each other.
    /// Nodes not listed form one more group together. Replaces any earlier partition.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        let groups = groups.iter().map(|g| g.to_vec()).collect();
        self.apply_partition(groups);
    }

    /// Schedules a partition.
    pub fn schedule_partition(&mut self, at: Instant, groups: &[&[NodeId]]) {
        let groups = groups.iter().map(|g| g.to_vec()).collect();
        self.push(at, Action::Partition(groups));
    }

    /// Removes every partition now.
    pub fn heal(&mut self) {
        self.apply_heal();
    }

    /// Schedules a heal.
    pub fn schedule_heal(&mut self, at: Instant) {
        self.push(at, Action::Heal);
    }

    /// Runs until virtual time `until`, processing everything due at or before it.
    ///
    /// # Panics
    ///
    /// When an endpoint livelocks: it keeps asking for a timeout at or before `now` after
    /// handling one, many thousand times in a row.
    pub fn run_until(&mut self, until: Instant) {
        while self.step(until) {}
        if self.now < until {
            self.now = until;
        }
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    /// Processes the next thing due at or before `until`; returns `false` when nothing is.
    pub fn step(&mut self, until: Instant) -> bool {
        let next_queued = self.queue.peek().map(|q| q.at);
        let next_timer = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.deadline.map(|d| (d, i)))
            .min();
        let take_queue = match (next_queued, next_timer) {
            (None, None) => return false,
            (Some(q), Some((t, _))) => q <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if take_queue {
            let at = next_queued.unwrap_or(Instant::ZERO);
            if at > until {
                return false;
            }
            self.now = self.now.max(at);
            if let Some(q) = self.queue.pop() {
                self.apply(q.action);
            }
        } else if let Some((deadline, index)) = next_timer {
            if deadline > until {
                return false;
            }
            self.now = self.now.max(deadline);
            self.fire_timeout(NodeId(index));
        }
        true
    }

    /// The trace so far.
    pub fn trace(&self) -> &[TraceEntry<E::Event, E::Command>] {
        &self.trace
    }

    /// Endpoint events so far, with their time and node.
    pub fn events(&self) -> impl Iterator<Item = (Instant, NodeId, &E::Event)> {
        self.trace.iter().filter_map(|e| match (&e.kind, e.node) {
            (TraceKind::Event { event }, Some(node)) => Some((e.at, node, event)),
            _ => None,
        })
    }

    /// Forgets the trace recorded so far (counters are kept).
    pub fn clear_trace(&mut self) {
        self.trace.clear();
    }

    fn push(&mut self, at: Instant, action: Action<E::Command>) {
        self.seq += 1;
        self.queue.push(Queued {
            at: at.max(self.now),
            seq: self.seq,
            action,
        });
    }

    fn record(&mut self, node: Option<NodeId>, kind: TraceKind<E::Event, E::Command>) {
        self.trace.push(TraceEntry {
            at: self.now,
            node,
            kind,
        });
    }

    fn apply(&mut self, action: Action<E::Command>) {
        match action {
            Action::Deliver {
                from,
                to,
                meta,
                payload,
            } => self.deliver(from, to, meta, payload),
            Action::Command { node, command } => self.apply_command(node, command),
            Action::Crash(node) => self.apply_crash(node),
            Action::Restart(node) => self.apply_restart(node),
            Action::Partition(groups) => self.apply_partition(groups),
            Action::Heal => self.apply_heal(),
            Action::SetLink { from, to, link } => self.apply_set_link(from, to, link),
        }
    }

    fn apply_set_link(&mut self, from: NodeId, to: NodeId, link: Option<LinkConfig>) {
        self.link_overrides.retain(|(k, _)| *k != (from, to));
        if let Some(link) = link {
            self.link_overrides.push(((from, to), link));
        }
    }

    fn apply_command(&mut self, node: NodeId, command: E::Command) {
        self.record(
            Some(node),
            TraceKind::Command {
                command: command.clone(),
            },
        );
        let now = self.now;
        if let Some(ep) = self.nodes[node.0].endpoint.as_mut() {
            ep.handle_command(now, command);
            self.drain(node);
        }
    }

    fn apply_crash(&mut self, node: NodeId) {
        let n = &mut self.nodes[node.0];
        if n.endpoint.take().is_some() {
            n.deadline = None;
            self.record(Some(node), TraceKind::Crashed);
        }
    }

    fn apply_restart(&mut self, node: NodeId) {
        self.apply_crash(node);
        self.nodes[node.0].incarnation += 1;
        let incarnation = self.nodes[node.0].incarnation;
        self.record(Some(node), TraceKind::Restarted { incarnation });
        self.start_node(node);
    }

    fn start_node(&mut self, node: NodeId) {
        let seed = self.rng.next_u64();
        let start = NodeStart {
            node,
            now: self.now,
            seed,
            incarnation: self.nodes[node.0].incarnation,
        };
        let endpoint = (self.nodes[node.0].factory)(start);
        self.nodes[node.0].endpoint = Some(endpoint);
        self.drain(node);
    }

    fn apply_partition(&mut self, groups: Vec<Vec<NodeId>>) {
        for n in &mut self.nodes {
            n.partition_group = u32::MAX;
        }
        for (g, members) in groups.iter().enumerate() {
            for m in members {
                self.nodes[m.0].partition_group = g as u32;
            }
        }
        let names = groups
            .iter()
            .map(|g| g.iter().map(|n| self.nodes[n.0].name.clone()).collect())
            .collect();
        self.record(None, TraceKind::Partitioned { groups: names });
    }

    fn apply_heal(&mut self) {
        for n in &mut self.nodes {
            n.partition_group = 0;
        }
        self.record(None, TraceKind::Healed);
    }

    fn fire_timeout(&mut self, node: NodeId) {
        let now = self.now;
        let mut spins = 0u32;
        loop {
            let Some(ep) = self.nodes[node.0].endpoint.as_mut() else {
                self.nodes[node.0].deadline = None;
                return;
            };
            ep.handle_timeout(now);
            self.drain(node);
            match self.nodes[node.0].deadline {
                Some(d) if d <= now => {
                    spins += 1;
                    assert!(
                        spins < LIVELOCK_LIMIT,
                        "endpoint on node {} keeps asking for a timeout at or before {now}",
                        self.nodes[node.0].name
                    );
                }
                _ => return,
            }
        }
    }

    /// Drains transmits and events from a node's endpoint and refreshes its deadline.
    fn drain(&mut self, node: NodeId) {
        let now = self.now;
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let transmit = match self.nodes[node.0].endpoint.as_mut() {
                Some(ep) => ep.poll_transmit(now, &mut buf),
                None => None,
            };
            match transmit {
                Some(t) => {
                    self.route(node, &t, &buf);
                    self.buf = buf;
                }
                None => {
                    self.buf = buf;
                    break;
                }
            }
        }
        while let Some(event) = self.nodes[node.0]
            .endpoint
            .as_mut()
            .and_then(|ep| ep.poll_event())
        {
            self.record(Some(node), TraceKind::Event { event });
        }
        self.nodes[node.0].deadline = self.nodes[node.0]
            .endpoint
            .as_ref()
            .and_then(|ep| ep.poll_timeout());
    }

    fn link(&self, segment: SegmentId, from: NodeId, to: NodeId) -> LinkConfig {
        self.link_overrides
            .iter()
            .find(|(k, _)| *k == (from, to))
            .map(|(_, l)| *l)
            .unwrap_or(self.segments[segment.0].link)
    }

    fn route(&mut self, from: NodeId, transmit: &Transmit, payload: &[u8]) {
        self.stats.sent += 1;
        if self.trace_level >= TraceLevel::Packets {
            self.record(
                Some(from),
                TraceKind::Sent {
                    destination: transmit.destination,
                    len: payload.len(),
                },
            );
        }
        let cast = Cast::of(transmit.destination);
        let sender = &self.nodes[from.0];
        // Choose the outgoing interface: the one asked for, else the one whose segment holds
        // the unicast destination, else the first.
        let out = match transmit.interface {
            Some(index) => sender.interfaces.iter().find(|i| i.index == index),
            None if cast == Cast::Unicast => sender
                .interfaces
                .iter()
                .find(|i| {
                    self.nodes.iter().any(|n| {
                        n.interfaces.iter().any(|j| {
                            j.segment == i.segment && j.addresses.contains(&transmit.destination)
                        })
                    })
                })
                .or(sender.interfaces.first()),
            None => sender.interfaces.first(),
        };
        let Some(out) = out else {
            self.drop_packet(from, None, SimDrop::NoInterface);
            return;
        };
        let segment = out.segment;
        let source = transmit
            .source
            .or_else(|| {
                out.addresses
                    .iter()
                    .copied()
                    .find(|a| a.is_ipv4() == transmit.destination.is_ipv4())
            })
            .unwrap_or(transmit.destination);
        let mut receivers: Vec<(NodeId, IfIndex)> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if i == from.0 {
                continue;
            }
            for iface in n.interfaces.iter().filter(|j| j.segment == segment) {
                if cast == Cast::Multicast || iface.addresses.contains(&transmit.destination) {
                    receivers.push((NodeId(i), iface.index));
                }
            }
        }
        if receivers.is_empty() && cast == Cast::Unicast {
            self.drop_packet(from, None, SimDrop::NoRoute);
            return;
        }
        for (to, index) in receivers {
            let link = self.link(segment, from, to);
            if link.loss > 0.0 && rng::unit_f64(&mut self.rng) < link.loss {
                self.stats.lost += 1;
                let name = self.nodes[to.0].name.clone();
                self.drop_packet(from, Some(name), SimDrop::Loss);
                continue;
            }
            let copies = if link.duplicate > 0.0 && rng::unit_f64(&mut self.rng) < link.duplicate {
                self.stats.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut delay = link.delay;
                if !link.jitter.is_zero() {
                    let jitter_ns = u64::try_from(link.jitter.as_nanos()).unwrap_or(u64::MAX);
                    delay += Duration::from_nanos(rng::below(
                        &mut self.rng,
                        jitter_ns.saturating_add(1),
                    ));
                }
                if link.reorder > 0.0 && rng::unit_f64(&mut self.rng) < link.reorder {
                    self.stats.reordered += 1;
                    delay += link.reorder_delay;
                }
                let meta = RecvMeta {
                    source,
                    destination: transmit.destination,
                    source_port: transmit.source_port,
                    destination_port: transmit.destination_port,
                    interface: index,
                    ttl: transmit.ttl,
                    cast,
                };
                let at = self.now + delay;
                self.push(
                    at,
                    Action::Deliver {
                        from,
                        to,
                        meta,
                        payload: payload.to_vec(),
                    },
                );
            }
        }
    }

    fn drop_packet(&mut self, from: NodeId, to: Option<String>, reason: SimDrop) {
        if matches!(reason, SimDrop::NoRoute | SimDrop::NoInterface) {
            self.stats.unroutable += 1;
        }
        if self.trace_level >= TraceLevel::Packets {
            self.record(Some(from), TraceKind::Dropped { to, reason });
        }
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, meta: RecvMeta, payload: Vec<u8>) {
        let sender_group = self.nodes[from.0].partition_group;
        let receiver = &self.nodes[to.0];
        let name = receiver.name.clone();
        if sender_group != receiver.partition_group {
            self.stats.partitioned += 1;
            if self.trace_level >= TraceLevel::Packets {
                self.record(
                    Some(from),
                    TraceKind::Dropped {
                        to: Some(name),
                        reason: SimDrop::Partition,
                    },
                );
            }
            return;
        }
        if receiver.endpoint.is_none() {
            self.stats.to_down_node += 1;
            if self.trace_level >= TraceLevel::Packets {
                self.record(
                    Some(from),
                    TraceKind::Dropped {
                        to: Some(name),
                        reason: SimDrop::NodeDown,
                    },
                );
            }
            return;
        }
        self.stats.delivered += 1;
        if self.trace_level >= TraceLevel::Packets {
            self.record(
                Some(to),
                TraceKind::Delivered {
                    source: meta.source,
                    len: payload.len(),
                },
            );
        }
        let now = self.now;
        if let Some(ep) = self.nodes[to.0].endpoint.as_mut() {
            ep.handle_packet(now, &meta, &payload);
        }
        self.drain(to);
    }
}

impl<E: Endpoint> Sim<E>
where
    E::Command: Clone + Serialize,
    E::Event: Serialize,
{
    /// Writes the trace as JSON Lines: one object per entry with `at_ns`, `at` (seconds),
    /// `node` (its name), `kind` and the kind's fields.
    pub fn write_trace_jsonl(&self, mut out: impl Write) -> io::Result<()> {
        for entry in &self.trace {
            let line = JsonlEntry {
                at_ns: entry.at.as_nanos(),
                at: entry.at.to_string(),
                node: entry.node.map(|n| self.nodes[n.0].name.as_str()),
                kind: &entry.kind,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The trace as one JSON Lines string (see [`Sim::write_trace_jsonl`]).
    pub fn trace_jsonl(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail, and every traced type serializes.
        let _ = self.write_trace_jsonl(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Serialize)]
struct JsonlEntry<'a, Ev, C> {
    at_ns: u64,
    at: String,
    node: Option<&'a str>,
    #[serde(flatten)]
    kind: &'a TraceKind<Ev, C>,
}

impl<E: Endpoint> fmt::Debug for Sim<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field(
                "nodes",
                &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            )
            .field(
                "segments",
                &self.segments.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

//! The sans-I/O contract every protocol core implements.
//!
//! A protocol core (a VRRP router, the BFD engine) is a plain value that never reads the
//! clock, never touches a socket, never spawns and never uses ambient randomness. Whoever
//! drives it — the [simulator](crate::sim), the [runtime driver](crate::driver), or a
//! user's own loop — feeds it inputs and drains its outputs:
//!
//! 1. call one of [`Endpoint::handle_packet`], [`Endpoint::handle_command`] or
//!    [`Endpoint::handle_timeout`];
//! 2. then drain [`Endpoint::poll_transmit`] until it returns `None`, and
//!    [`Endpoint::poll_event`] until it returns `None`;
//! 3. then ask [`Endpoint::poll_timeout`] for the next deadline and call
//!    [`Endpoint::handle_timeout`] once the clock reaches it.
//!
//! Outputs are queued inside the endpoint in the order they were produced, so events come
//! out in exactly the order the protocol decided them.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Instant;

/// An interface index, as the kernel numbers network interfaces (`if_nametoindex`).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct IfIndex(pub u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "if{}", self.0)
    }
}

/// How a received packet was addressed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cast {
    /// Sent to a multicast group (VRRP's 224.0.0.18 / ff02::12).
    Multicast,
    /// Sent to one of the receiver's own addresses.
    Unicast,
}

impl Cast {
    /// The cast implied by a destination address.
    pub fn of(destination: IpAddr) -> Cast {
        if destination.is_multicast() {
            Cast::Multicast
        } else {
            Cast::Unicast
        }
    }
}

/// What the I/O layer knows about a received packet besides its payload.
///
/// For raw IP protocols (VRRP) the ports are `None`; for UDP (BFD) they are set.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct RecvMeta {
    /// The IP source address.
    pub source: IpAddr,
    /// The IP destination address (a group address for multicast).
    pub destination: IpAddr,
    /// UDP source port, if any.
    pub source_port: Option<u16>,
    /// UDP destination port, if any.
    pub destination_port: Option<u16>,
    /// The interface the packet arrived on.
    pub interface: IfIndex,
    /// The received IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Whether it was multicast or unicast.
    pub cast: Cast,
}

/// A packet an endpoint wants sent. Its payload is what the endpoint wrote into the buffer
/// passed to [`Endpoint::poll_transmit`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Transmit {
    /// Destination address (unicast peer or multicast group).
    pub destination: IpAddr,
    /// UDP destination port, `None` for raw IP protocols.
    pub destination_port: Option<u16>,
    /// Source address to use; `None` lets the I/O layer pick the interface's primary one.
    pub source: Option<IpAddr>,
    /// UDP source port, `None` for raw IP protocols or "any".
    pub source_port: Option<u16>,
    /// Interface to send on; `None` lets routing decide.
    pub interface: Option<IfIndex>,
    /// IPv4 TTL or IPv6 hop limit to send with.
    pub ttl: u8,
}

/// The sans-I/O contract: the one trait every protocol core implements.
///
/// See the [module documentation](self) for the calling protocol. Implementations must
/// treat a spurious [`handle_timeout`](Endpoint::handle_timeout) (one made before any
/// deadline) as a harmless no-op, and must never panic on any packet bytes.
///
/// # Example
///
/// A minimal endpoint that answers every packet with an echo:
///
/// ```
/// use std::collections::VecDeque;
/// use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
///
/// #[derive(Default)]
/// struct Echo { out: VecDeque<(Transmit, Vec<u8>)>, echoed: VecDeque<usize> }
///
/// impl Endpoint for Echo {
///     type Command = ();
///     type Event = usize;
///     fn handle_packet(&mut self, _now: Instant, meta: &RecvMeta, payload: &[u8]) {
///         let reply = Transmit { destination: meta.source, destination_port: meta.source_port,
///             source: Some(meta.destination), source_port: meta.destination_port,
///             interface: Some(meta.interface), ttl: 64 };
///         self.out.push_back((reply, payload.to_vec()));
///         self.echoed.push_back(payload.len());
///     }
///     fn handle_command(&mut self, _now: Instant, _command: ()) {}
///     fn handle_timeout(&mut self, _now: Instant) {}
///     fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
///         let (t, payload) = self.out.pop_front()?;
///         buf.extend_from_slice(&payload);
///         Some(t)
///     }
///     fn poll_event(&mut self) -> Option<usize> { self.echoed.pop_front() }
///     fn poll_timeout(&self) -> Option<Instant> { None }
/// }
/// ```
pub trait Endpoint {
    /// Commands an application can give the endpoint (e.g. "shut down", "set priority").
    type Command;
    /// Events the endpoint reports (e.g. state transitions with their reason).
    type Event;

    /// Feeds one received packet. `payload` starts at the protocol header (after the IP
    /// header for raw IP, after the UDP header for UDP).
    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]);

    /// Applies one command.
    fn handle_command(&mut self, now: Instant, command: Self::Command);

    /// Tells the endpoint the clock reached `now`; it fires every deadline `<= now`.
    fn handle_timeout(&mut self, now: Instant);

    /// Returns the next packet to send, writing its payload into `buf` (which the caller
    /// passes empty), or `None` when nothing is queued.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit>;

    /// Returns the next event, in the order they happened.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The earliest deadline at which [`handle_timeout`](Endpoint::handle_timeout) must be
    /// called, or `None` when the endpoint waits only for packets and commands.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// One input to an endpoint, as a value: what a recorder stores and a replayer feeds back.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input<C> {
    /// A received packet.
    Packet {
        /// Its metadata.
        meta: RecvMeta,
        /// Its payload bytes.
        payload: Vec<u8>,
    },
    /// A command.
    Command {
        /// The command.
        command: C,
    },
    /// The clock reached a deadline.
    Timeout,
}

impl<C> Input<C> {
    /// Feeds this input to `endpoint` at `now`.
    pub fn apply<E: Endpoint<Command = C>>(self, endpoint: &mut E, now: Instant) {
        match self {
            Input::Packet { meta, payload } => endpoint.handle_packet(now, &meta, &payload),
            Input::Command { command } => endpoint.handle_command(now, command),
            Input::Timeout => endpoint.handle_timeout(now),
        }
    }
}

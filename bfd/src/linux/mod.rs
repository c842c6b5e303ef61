//! The Linux adapter (feature `linux`, on by default): UDP sockets for an [`Engine`] run
//! by the ha-core runtime driver ([`ha_core::driver::Driver`]).
//!
//! [`UdpIo`] implements [`PacketIo`]:
//!
//! - **Receive**: one socket per address family and mode, bound to the wildcard address on
//!   UDP 3784 (single hop, RFC 5881) and 4784 (multihop, RFC 5883). Each asks the kernel
//!   for the received TTL / hop limit and the destination address and interface
//!   (`IP_RECVTTL` + `IP_PKTINFO`, `IPV6_RECVHOPLIMIT` + `IPV6_RECVPKTINFO`), which the
//!   engine needs for demultiplexing and the TTL check. Datagrams are taken up to 32 at
//!   a time with one `recvmmsg(2)` and handed to the driver one by one, so a busy
//!   receive path costs one system call per batch rather than per packet; datagrams
//!   longer than 256 bytes (no BFD Control packet is) are dropped and counted
//!   ([`UdpIo::truncated`]). Each socket has a floor: 255 on
//!   the single-hop sockets, [`ListenConfig::multihop_min_ttl`] on the multihop ones
//!   (the engine still checks each session's own minimum). Datagrams below the floor
//!   are dropped here and counted ([`UdpIo::ttl_dropped`]), never handed to the engine.
//!   The floor is also set as `IP_MINTTL` / `IPV6_MINHOPCOUNT`, but Linux (checked on
//!   6.18) enforces those for TCP only: a UDP socket still receives every datagram, so
//!   the check in user space is the one that counts. IPv6 sockets are `IPV6_V6ONLY`.
//! - **Send**: one socket per (source address, source port, interface), created on the
//!   first packet a session sends and bound to that address and port, so every session
//!   keeps its own source port in 49152–65535 as RFC 5881 section 4 asks, with TTL / hop
//!   limit taken from the [`Transmit`] (255). Send sockets are non-blocking and not
//!   registered with the tokio reactor: a UDP send never waits, and a registered socket
//!   would cost an epoll event for every packet sent. Each is connected to its session's
//!   peer, so the kernel keeps the route instead of looking it up for every packet (an
//!   ICMP error from a closed peer port, which a connected socket reports on the next
//!   send, is cleared and the packet sent again). Binding per port, rather than `IP_PKTINFO`
//!   on one socket, is the only way to choose the UDP source port per packet. Sockets of
//!   removed sessions stay open until the [`UdpIo`] is dropped (at most one per port).
//!   The outgoing interface is chosen by routing, except for IPv6 link-local addresses,
//!   whose scope is the session's interface.
//!
//! Kernel errors are typed ([`LinuxError`]); errors during `send`/`recv` are
//! [`std::io::Error`]s as [`PacketIo`] requires, wrapping a [`LinuxError`] where we made
//! them.
//!
//! No privilege is needed: 3784 and 4784 are above 1024 and `IP_MINTTL` needs no
//! capability. Only the large receive buffer ([`ListenConfig::receive_buffer`]) beyond
//! `net.core.rmem_max` needs `CAP_NET_ADMIN`; without it the kernel's cap applies.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use ha_bfd::linux::{ListenConfig, UdpIo};
//! use ha_bfd::{Command, Engine, SessionConfig, SessionId};
//! use ha_core::driver::DriverEvent;
//!
//! let io = UdpIo::open(&ListenConfig::default())?;
//! let engine = Engine::new(ha_core::rng::seeded(1));
//! // A timerfd for the deadlines, and transmit times drawn to allow for its lateness.
//! let (driver, handle, mut events) = ha_bfd::linux::driver(engine, io);
//! tokio::spawn(driver.run());
//! let config = SessionConfig::single_hop(
//!     SessionId(1),
//!     "10.0.0.1".parse()?,
//!     "10.0.0.2".parse()?,
//! );
//! handle.command(Command::AddSession { config })?;
//! while let Some(event) = events.recv().await {
//!     if let DriverEvent::Endpoint(ha_bfd::Event::StateChanged(change)) = event {
//!         println!("{} -> {}", change.session, change.to);
//!     }
//! }
//! # Ok(()) }
//! ```

#[allow(unsafe_code)]
mod sys;

/// Applies `scheduling` to the calling thread (the one that will run the engine's driver):
/// CPU affinity, then nice value, then `SCHED_RR` priority. Stops at the first change
/// the kernel refuses.
///
/// ```no_run
/// use ha_bfd::scheduling::{RealtimePriority, Scheduling};
///
/// let scheduling = Scheduling {
///     realtime: RealtimePriority::new(50),
///     cpu_affinity: vec![1],
///     ..Scheduling::default()
/// };
/// std::thread::spawn(move || {
///     ha_bfd::linux::apply_scheduling(&scheduling).expect("CAP_SYS_NICE");
///     // build a current-thread tokio runtime here and run the engine's driver on it
/// });
/// ```
pub fn apply_scheduling(scheduling: &Scheduling) -> Result<(), LinuxError> {
    if !scheduling.cpu_affinity.is_empty() {
        let what = || format!("CPU affinity {:?}", scheduling.cpu_affinity);
        let mut set = rustix::thread::CpuSet::new();
        for &cpu in &scheduling.cpu_affinity {
            if cpu >= rustix::thread::CpuSet::MAX_CPU {
                return Err(LinuxError::Scheduling {
                    what: what(),
                    source: io::Error::new(io::ErrorKind::InvalidInput, "no such CPU"),
                });
            }
            set.set(cpu);
        }
        rustix::thread::sched_setaffinity(None, &set).map_err(|e| LinuxError::Scheduling {
            what: what(),
            source: e.into(),
        })?;
    }
    if let Some(nice) = scheduling.nice {
        // Linux keeps a nice value per thread, and pid 0 names the calling one.
        rustix::process::setpriority_process(None, i32::from(nice.get())).map_err(|e| {
            LinuxError::Scheduling {
                what: format!("nice {}", nice.get()),
                source: e.into(),
            }
        })?;
    }
    if let Some(priority) = scheduling.realtime {
        sys::set_realtime(priority.get()).map_err(|source| LinuxError::Scheduling {
            what: format!("SCHED_RR priority {}", priority.get()),
            source,
        })?;
    }
    Ok(())
}

/// A driver for `engine` over `io` (a [`UdpIo`], or a wrapper around one), with the
/// timers BFD needs: a timerfd ([`Timers::precise_many`]), which fires within a fraction
/// of a millisecond where tokio's timer wheel fires one to two milliseconds late, and the
/// engine's [timer slack](Engine::set_timer_slack) set to match, so that transmit gaps
/// stay within the interval. Falls back to tokio's timers (with a slack to match) where
/// the timerfd cannot be had. Call inside a tokio runtime with I/O enabled.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use ha_bfd::linux::{driver, ListenConfig, UdpIo};
/// use ha_core::driver::Timers;
///
/// let io = UdpIo::open(&ListenConfig::default())?;
/// let (driver, handle, events) = driver(ha_bfd::Engine::new(ha_core::rng::seeded(1)), io);
/// assert_eq!(driver.timers(), Timers::precise_many());
/// # Ok(()) }
/// ```
pub fn driver<Io: PacketIo>(
    engine: Engine,
    io: Io,
) -> (
    Driver<Engine, Io>,
    DriverHandle<crate::Command>,
    EventStream<crate::Event>,
) {
    let (mut driver, handle, events) = Driver::new(engine, io);
    // On failure the driver keeps tokio's timers; the slack follows whichever is in use.
    let _ = driver.set_timers(Timers::precise_many());
    let slack = driver.timers().expected_lateness();
    driver.endpoint_mut().set_timer_slack(slack);
    (driver, handle, events)
}

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsFd;
use std::task::Poll;

use ha_core::driver::{Driver, DriverHandle, EventStream, PacketIo, Timers};
use ha_core::{Cast, IfIndex, RecvMeta, Transmit};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use thiserror::Error;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::packet::{MULTIHOP_PORT, SINGLE_HOP_PORT};
use crate::session::TTL_SECURITY;

use crate::Engine;
use crate::scheduling::Scheduling;

/// An error from the kernel while setting up or using BFD sockets.
#[derive(Debug, Error)]
pub enum LinuxError {
    /// `socket(2)` failed.
    #[error("cannot create a UDP socket: {0}")]
    Socket(#[source] io::Error),
    /// `bind(2)` failed (address not local, port in use, ...).
    #[error("cannot bind {address}: {source}")]
    Bind {
        /// The address and port.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `connect(2)` of a send socket to its session's peer failed.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The peer's address and port.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `setsockopt(2)` failed.
    #[error("cannot set socket option {option}: {source}")]
    SocketOption {
        /// The option's name, e.g. `IP_MINTTL`.
        option: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Registering the socket with the tokio reactor failed (no runtime?).
    #[error("cannot register the socket with tokio: {0}")]
    Reactor(#[source] io::Error),
    /// The [`ListenConfig`] enables no family or no mode.
    #[error("nothing to listen on: enable at least one address family and one mode")]
    NothingToListen,
    /// A transmit without a destination port (not a BFD packet).
    #[error("transmit has no UDP destination port")]
    NoDestinationPort,
    /// The thread's scheduling could not be changed ([`apply_scheduling`]).
    #[error("cannot set {what}: {source}")]
    Scheduling {
        /// What: `SCHED_RR priority 50`, `nice -5`, `CPU affinity [1]`.
        what: String,
        /// The OS error (`EPERM` without `CAP_SYS_NICE`, `EINVAL` for a CPU that does
        /// not exist).
        #[source]
        source: io::Error,
    },
}

impl From<LinuxError> for io::Error {
    fn from(e: LinuxError) -> io::Error {
        match &e {
            LinuxError::Socket(s) | LinuxError::Reactor(s) => io::Error::new(s.kind(), e),
            LinuxError::Bind { source, .. }
            | LinuxError::Connect { source, .. }
            | LinuxError::SocketOption { source, .. }
            | LinuxError::Scheduling { source, .. } => io::Error::new(source.kind(), e),
            _ => io::Error::new(io::ErrorKind::InvalidInput, e),
        }
    }
}

/// What [`UdpIo::open`] listens on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ListenConfig {
    /// Listen on IPv4.
    pub ipv4: bool,
    /// Listen on IPv6.
    pub ipv6: bool,
    /// Listen on UDP 3784 (single hop), accepting TTL / hop limit 255 only.
    pub single_hop: bool,
    /// Listen on UDP 4784 (multihop).
    pub multihop: bool,
    /// The smallest TTL / hop limit the multihop sockets accept (checked on every
    /// datagram, and set as `IP_MINTTL` / `IPV6_MINHOPCOUNT`); 0 or 1 leaves the check to
    /// each session's [`Hop::MultiHop`](crate::Hop::MultiHop) `min_ttl`.
    pub multihop_min_ttl: u8,
    /// The kernel receive buffer of each receive socket, in bytes (`SO_RCVBUFFORCE` when
    /// permitted, else `SO_RCVBUF`, which the kernel caps at `net.core.rmem_max`); `None`
    /// keeps the system default. Every session's packets arrive on one socket: at 1000
    /// sessions × 10 ms that is 100,000 packets a second, and a default buffer
    /// (about 200 KiB, some 270 packets) overflows whenever the thread is descheduled for
    /// 3 ms — each lost packet brings a session closer to a false Down.
    pub receive_buffer: Option<usize>,
}

impl Default for ListenConfig {
    /// Both families, both modes, multihop minimum TTL left to the sessions, a
    /// [`DEFAULT_RECEIVE_BUFFER`] receive buffer.
    fn default() -> Self {
        ListenConfig {
            ipv4: true,
            ipv6: true,
            single_hop: true,
            multihop: true,
            multihop_min_ttl: 0,
            receive_buffer: Some(DEFAULT_RECEIVE_BUFFER),
        }
    }
}

/// The default [`ListenConfig::receive_buffer`]: 32 MiB.
///
/// A limit, not an allocation: the kernel charges only the datagrams waiting. At 1000
/// sessions × 10 ms, 4 MiB overflowed on one side in two of three 60-s runs while that
/// side's timers were never more than 6 ms late (hundreds of false Downs), 32 MiB in
/// none (BENCHMARKS.md). Without `CAP_NET_ADMIN` the kernel caps it at
/// `net.core.rmem_max`.
pub const DEFAULT_RECEIVE_BUFFER: usize = 32 << 20;

struct RxSocket {
    socket: UdpSocket,
    port: u16,
    /// Datagrams with a smaller TTL / hop limit are dropped (0 or 1: no floor).
    min_ttl: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct TxKey {
    source: Option<IpAddr>,
    port: u16,
    interface: Option<IfIndex>,
    v4: bool,
}

struct TxSocket {
    /// Non-blocking, and not registered with the reactor: a UDP send does not wait, and
    /// a registered socket would cost an epoll wake-up for every packet sent (the kernel
    /// signals write space each time a sent datagram is freed).
    socket: Socket,
    ttl: u8,
    /// The peer the socket is connected to. A connected socket keeps its route, so a send
    /// skips the per-packet route and source-address lookups an unconnected `sendto`
    /// makes.
    connected: Option<SocketAddr>,
}

/// BFD over kernel UDP sockets: a [`PacketIo`] for [`ha_core::driver::Driver`]. See the
/// [module documentation](self).
pub struct UdpIo {
    rx: Vec<RxSocket>,
    tx: HashMap<TxKey, TxSocket>,
    next_rx: usize,
    /// Datagrams taken by the last `recvmmsg`, from `rx[batch_socket]`, not yet handed
    /// out.
    batch: sys::RecvBatch,
    batch_socket: usize,
    truncated: u64,
    ttl_dropped: u64,
}

impl std::fmt::Debug for UdpIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpIo")
            .field("listening", &self.local_addrs())
            .field("send_sockets", &self.tx.len())
            .finish()
    }
}

fn option(option: &'static str) -> impl FnOnce(io::Error) -> LinuxError {
    move |source| LinuxError::SocketOption { option, source }
}

fn register(socket: Socket) -> Result<UdpSocket, LinuxError> {
    socket.set_nonblocking(true).map_err(option("O_NONBLOCK"))?;
    UdpSocket::from_std(socket.into()).map_err(LinuxError::Reactor)
}

fn set_receive_buffer(socket: &Socket, bytes: usize) -> Result<(), LinuxError> {
    let value = libc::c_int::try_from(bytes / 2).unwrap_or(libc::c_int::MAX / 2);
    // The kernel doubles the value it is given (for bookkeeping overhead); halve it so the
    // buffer holds about `bytes`. FORCE ignores rmem_max but needs CAP_NET_ADMIN.
    match sys::set_int_option(
        socket.as_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        value,
    ) {
        Ok(()) => Ok(()),
        Err(_) => socket
            .set_recv_buffer_size(bytes / 2)
            .map_err(option("SO_RCVBUF")),
    }
}

fn open_rx(
    v4: bool,
    port: u16,
    min_ttl: u8,
    receive_buffer: Option<usize>,
) -> Result<RxSocket, LinuxError> {
    let domain = if v4 { Domain::IPV4 } else { Domain::IPV6 };
    let socket =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(LinuxError::Socket)?;
    if let Some(bytes) = receive_buffer {
        set_receive_buffer(&socket, bytes)?;
    }
    let fd = socket.as_fd();
    let address: SocketAddr = if v4 {
        sys::set_int_option(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
            .map_err(option("IP_RECVTTL"))?;
        sys::set_int_option(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
            .map_err(option("IP_PKTINFO"))?;
        if min_ttl > 1 {
            sys::set_int_option(fd, libc::IPPROTO_IP, libc::IP_MINTTL, min_ttl.into())
                .map_err(option("IP_MINTTL"))?;
        }
        (Ipv4Addr::UNSPECIFIED, port).into()
    } else {
        socket.set_only_v6(true).map_err(option("IPV6_V6ONLY"))?;
        sys::set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
            .map_err(option("IPV6_RECVHOPLIMIT"))?;
        sys::set_int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
            .map_err(option("IPV6_RECVPKTINFO"))?;
        if min_ttl > 1 {
            sys::set_int_option(
                fd,
                libc::IPPROTO_IPV6,
                sys::IPV6_MINHOPCOUNT,
                min_ttl.into(),
            )
            .map_err(option("IPV6_MINHOPCOUNT"))?;
        }
        (Ipv6Addr::UNSPECIFIED, port).into()
    };
    socket
        .bind(&SockAddr::from(address))
        .map_err(|source| LinuxError::Bind { address, source })?;
    Ok(RxSocket {
        socket: register(socket)?,
        port,
        min_ttl,
    })
}

fn scoped(ip: IpAddr, port: u16, interface: Option<IfIndex>) -> SocketAddr {
    match ip {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => {
            SocketAddr::V6(SocketAddrV6::new(v6, port, 0, interface.map_or(0, |i| i.0)))
        }
        ip => SocketAddr::new(ip, port),
    }
}

fn set_ttl(socket: &Socket, v4: bool, ttl: u8) -> Result<(), LinuxError> {
    if v4 {
        socket.set_ttl_v4(ttl.into()).map_err(option("IP_TTL"))
    } else {
        socket
            .set_unicast_hops_v6(ttl.into())
            .map_err(option("IPV6_UNICAST_HOPS"))
    }
}

fn open_tx(key: TxKey, ttl: u8) -> Result<TxSocket, LinuxError> {
    let domain = if key.v4 { Domain::IPV4 } else { Domain::IPV6 };
    let socket =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(LinuxError::Socket)?;
    if !key.v4 {
        socket.set_only_v6(true).map_err(option("IPV6_V6ONLY"))?;
    }
    set_ttl(&socket, key.v4, ttl)?;
    let source = key.source.unwrap_or(if key.v4 {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let address = scoped(source, key.port, key.interface);
    socket
        .bind(&SockAddr::from(address))
        .map_err(|source| LinuxError::Bind { address, source })?;
    socket.set_nonblocking(true).map_err(option("O_NONBLOCK"))?;
    Ok(TxSocket {
        socket,
        ttl,
        connected: None,
    })
}

impl UdpIo {
    /// Opens the receive sockets. Must be called inside a tokio runtime with I/O enabled.
    pub fn open(config: &ListenConfig) -> Result<UdpIo, LinuxError> {
        let mut rx = Vec::new();
        for v4 in [true, false] {
            if (v4 && !config.ipv4) || (!v4 && !config.ipv6) {
                continue;
            }
            if config.single_hop {
                rx.push(open_rx(
                    v4,
                    SINGLE_HOP_PORT,
                    TTL_SECURITY,
                    config.receive_buffer,
                )?);
            }
            if config.multihop {
                rx.push(open_rx(
                    v4,
                    MULTIHOP_PORT,
                    config.multihop_min_ttl,
                    config.receive_buffer,
                )?);
            }
        }
        if rx.is_empty() {
            return Err(LinuxError::NothingToListen);
        }
        Ok(UdpIo {
            rx,
            tx: HashMap::new(),
            next_rx: 0,
            batch: sys::RecvBatch::new(),
            batch_socket: 0,
            truncated: 0,
            ttl_dropped: 0,
        })
    }

    /// The local addresses of the receive sockets.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.rx
            .iter()
            .filter_map(|s| s.socket.local_addr().ok())
            .collect()
    }

    /// The number of per-source-port send sockets open.
    pub fn send_sockets(&self) -> usize {
        self.tx.len()
    }

    /// Datagrams dropped because they were longer than 256 bytes (no BFD Control packet
    /// is).
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Datagrams dropped because they arrived with a TTL / hop limit below their
    /// socket's floor (255 on UDP 3784, [`ListenConfig::multihop_min_ttl`] on 4784), or
    /// without one.
    pub fn ttl_dropped(&self) -> u64 {
        self.ttl_dropped
    }

    fn tx_socket(&mut self, transmit: &Transmit) -> Result<&mut TxSocket, LinuxError> {
        let key = TxKey {
            source: transmit.source.map(|s| s.to_canonical()),
            port: transmit.source_port.unwrap_or(0),
            interface: transmit.interface,
            v4: transmit.destination.to_canonical().is_ipv4(),
        };
        if let Some(existing) = self.tx.get_mut(&key) {
            if existing.ttl != transmit.ttl {
                set_ttl(&existing.socket, key.v4, transmit.ttl)?;
                existing.ttl = transmit.ttl;
            }
        } else {
            let socket = open_tx(key, transmit.ttl)?;
            self.tx.insert(key, socket);
        }
        self.tx.get_mut(&key).ok_or(LinuxError::NothingToListen)
    }
}

impl PacketIo for UdpIo {
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, RecvMeta)> {
        loop {
            // Hand out what the last batch took before asking the kernel again. A future
            // dropped after the batch was filled loses nothing: the datagrams wait here.
            if let Some((payload, got)) = self.batch.pop() {
                let got = got.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "unexpected address family")
                })?;
                if got.truncated {
                    self.truncated += 1;
                    continue;
                }
                let rx = &self.rx[self.batch_socket];
                // No control message: report 0, which no session accepts.
                let ttl = got.ttl.unwrap_or(0);
                if rx.min_ttl > 1 && ttl < rx.min_ttl {
                    self.ttl_dropped += 1;
                    continue;
                }
                let len = payload.len().min(buf.len());
                buf[..len].copy_from_slice(&payload[..len]);
                let source = got.source.ip().to_canonical();
                let destination =
                    got.destination
                        .map(|d| d.to_canonical())
                        .unwrap_or(if source.is_ipv4() {
                            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                        } else {
                            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                        });
                let meta = RecvMeta {
                    source,
                    destination,
                    source_port: Some(got.source.port()),
                    destination_port: Some(rx.port),
                    interface: IfIndex(got.ifindex),
                    ttl,
                    cast: Cast::of(destination),
                };
                return Ok((len, meta));
            }
            let (rx, batch, first) = (&self.rx, &mut self.batch, self.next_rx);
            let (index, got) = poll_fn(|cx| {
                let n = rx.len();
                for k in 0..n {
                    let index = (first + k) % n;
                    let socket = &rx[index].socket;
                    loop {
                        match socket.poll_recv_ready(cx) {
                            Poll::Pending => break,
                            Poll::Ready(Err(e)) => return Poll::Ready((index, Err(e))),
                            Poll::Ready(Ok(())) => {}
                        }
                        match socket.try_io(Interest::READABLE, || {
                            sys::recv_batch(socket.as_fd(), batch)
                        }) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            other => return Poll::Ready((index, other)),
                        }
                    }
                }
                Poll::Pending
            })
            .await;
            // Round robin, so a busy socket cannot starve the others.
            self.next_rx = (index + 1) % self.rx.len();
            self.batch_socket = index;
            got?;
        }
    }

    async fn send(&mut self, transmit: &Transmit, payload: &[u8]) -> io::Result<()> {
        let port = transmit
            .destination_port
            .ok_or(LinuxError::NoDestinationPort)?;
        let destination = scoped(transmit.destination, port, transmit.interface);
        let shared = transmit.source_port.is_none_or(|p| p == 0);
        let socket = self.tx_socket(transmit)?;
        // Non-blocking: a full send buffer (which one packet per session and interval
        // does not fill) is reported as `WouldBlock` rather than waited for; the driver
        // reports it and BFD's Detect Mult absorbs a lost packet.
        if shared {
            // No source port: one socket for many peers, so it stays unconnected.
            socket
                .socket
                .send_to(payload, &SockAddr::from(destination))?;
            return Ok(());
        }
        // Each session has its own source port, hence its own socket: connect it to the
        // session's peer (again if a later session with the same port has another peer).
        if socket.connected != Some(destination) {
            socket
                .socket
                .connect(&SockAddr::from(destination))
                .map_err(|source| LinuxError::Connect {
                    address: destination,
                    source,
                })?;
            socket.connected = Some(destination);
        }
        match socket.socket.send(payload) {
            // A connected UDP socket reports an earlier ICMP error (the peer's port was
            // closed) on the next send, which then sends nothing; the error is cleared by
            // being reported, so send again rather than lose this packet.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                socket.socket.send(payload)?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }
}

//! [`RawVrrpSocket`]: VRRP (IP protocol 112) over raw IPv4 or IPv6 sockets, as a
//! [`PacketIo`] for [`ha_core::driver::Driver`].

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ha_core::driver::PacketIo;
use ha_core::{Cast, IfIndex, RecvMeta, Transmit};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockFilter, Socket, Type};
use thiserror::Error;
use tokio::io::unix::AsyncFd;

use super::sys;
use crate::packet::{VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TTL};

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// IANA protocol number of the IP Authentication Header.
pub const IPPROTO_AH: i32 = 51;

/// What the payloads exchanged with the router are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Framing {
    /// The VRRP message alone (protocol 112; the kernel builds the IP header).
    #[default]
    Vrrp,
    /// Whole IPv4 datagrams carrying IPSEC-AH (protocol 51), header included in both
    /// directions (`IP_HDRINCL` on send), for a router configured with
    /// [`AuthConfig::IpsecAh`](crate::AuthConfig::IpsecAh): the AH ICV covers the IP
    /// header, so the router builds and checks it.
    Ipv4Ah,
}

/// Opening a [`RawVrrpSocket`] failed; says which step.
#[derive(Debug, Error)]
#[error("VRRP socket on {interface}: {step}: {source}")]
pub struct SocketError {
    /// Interface name.
    pub interface: String,
    /// What was being done.
    pub step: &'static str,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// Packets the socket received but could not hand to the router, by reason. Shared: read
/// them while the socket runs inside a driver.
#[derive(Debug, Default)]
pub struct SocketCounters {
    /// Packets received and handed on.
    pub received: AtomicU64,
    /// IPv4 packets whose header was malformed (bad version, IHL or length).
    pub malformed_ip: AtomicU64,
    /// Datagrams larger than the receive buffer.
    pub truncated: AtomicU64,
    /// IPv6 datagrams without `IPV6_PKTINFO` (no destination known).
    pub missing_pktinfo: AtomicU64,
}

impl SocketCounters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The IPv4 header fields VRRP needs, read from a raw socket's datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Meta {
    /// Header length in bytes, from IHL.
    pub header_len: usize,
    /// Header plus payload, from the total-length field, never beyond the datagram.
    pub total_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number.
    pub protocol: u8,
    /// Source address.
    pub source: Ipv4Addr,
    /// Destination address.
    pub destination: Ipv4Addr,
}

/// Reads an IPv4 header from the start of `datagram` (as an IPv4 raw socket delivers it).
/// The header length comes from IHL (options are allowed), never assumed to be 20 bytes.
/// Returns `None` for anything malformed; never panics.
pub fn parse_ipv4_header(datagram: &[u8]) -> Option<Ipv4Meta> {
    let first = *datagram.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 || header_len > datagram.len() {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]));
    // Linux may hand raw sockets a total length already adjusted; accept anything between
    // the header and the datagram's size, and clamp to the bytes we have.
    if total < header_len {
        return None;
    }
    let total_len = total.min(datagram.len());
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b = datagram.get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    Some(Ipv4Meta {
        header_len,
        total_len,
        ttl: *datagram.get(8)?,
        protocol: *datagram.get(9)?,
        source: addr(12)?,
        destination: addr(16)?,
    })
}

/// VRRP over raw sockets on one interface, for one address family.
///
/// Two sockets: a receiving one bound to the interface (`SO_BINDTODEVICE`) that joined the
/// VRRP group (224.0.0.18 or ff02::12) there, with `IP_MULTICAST_ALL` off so it hears only
/// that group; and a sending one bound to the interface and to the router's primary
/// address (so the source address is exactly the one the checksum and the election use),
/// with multicast loop off and TTL / hop limit 255 for multicast and unicast alike. The
/// sending socket drops everything it would receive (a one-instruction socket filter).
///
/// Receive metadata: for IPv4 the source, destination and TTL come from the IP header
/// (its length read from IHL); for IPv6 the destination and the hop limit come from
/// `IPV6_PKTINFO` / `IPV6_HOPLIMIT` ancillary data. The payload handed to the router is
/// the VRRP message alone.
///
/// Must be created inside a tokio runtime with I/O enabled. Its `recv` is cancel-safe.
#[derive(Debug)]
pub struct RawVrrpSocket {
    interface: String,
    ifindex: IfIndex,
    send_ifindex: IfIndex,
    primary: IpAddr,
    recv: AsyncFd<Socket>,
    send: AsyncFd<Socket>,
    ttl: u8,
    framing: Framing,
    counters: Arc<SocketCounters>,
}

impl RawVrrpSocket {
    /// Opens the sockets on interface `interface` (index `ifindex`), sending from
    /// `primary` (an address on that interface; for IPv6, its link-local address).
    pub fn open(
        interface: &str,
        ifindex: IfIndex,
        primary: IpAddr,
    ) -> Result<RawVrrpSocket, SocketError> {
        Self::open_with(interface, ifindex, primary, Framing::Vrrp)
    }

    /// [`RawVrrpSocket::open`] with a choice of [`Framing`] (IPSEC-AH is IPv4 only).
    pub fn open_with(
        interface: &str,
        ifindex: IfIndex,
        primary: IpAddr,
        framing: Framing,
    ) -> Result<RawVrrpSocket, SocketError> {
        Self::open_split(interface, ifindex, interface, ifindex, primary, framing)
    }

    /// Receives on `interface` but sends through `send_interface` (index `send_ifindex`):
    /// a VMAC (macvlan) on top of `interface`, so adverts leave with the virtual MAC as
    /// their source. For IPv6, `primary` must be on `send_interface` too.
    pub fn open_split(
        interface: &str,
        ifindex: IfIndex,
        send_interface: &str,
        send_ifindex: IfIndex,
        primary: IpAddr,
        framing: Framing,
    ) -> Result<RawVrrpSocket, SocketError> {
        let err = |step: &'static str| {
            let interface = interface.to_string();
            move |source: io::Error| SocketError {
                interface,
                step,
                source,
            }
        };
        let domain = if primary.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        if framing == Framing::Ipv4Ah && !primary.is_ipv4() {
            return Err(SocketError {
                interface: interface.to_string(),
                step: "IPSEC-AH",
                source: io::Error::new(io::ErrorKind::InvalidInput, "IPSEC-AH is IPv4 only"),
            });
        }
        let protocol = Some(Protocol::from(match framing {
            Framing::Vrrp => IPPROTO_VRRP,
            Framing::Ipv4Ah => IPPROTO_AH,
        }));

        let recv = Socket::new(domain, Type::RAW, protocol).map_err(err("socket"))?;
        recv.bind_device(Some(interface.as_bytes()))
            .map_err(err("SO_BINDTODEVICE"))?;
        match primary {
            IpAddr::V4(_) => {
                recv.set_multicast_all_v4(false)
                    .map_err(err("IP_MULTICAST_ALL"))?;
                recv.join_multicast_v4_n(
                    &VRRP_GROUP_V4,
                    &InterfaceIndexOrAddress::Index(ifindex.0),
                )
                .map_err(err("join 224.0.0.18"))?;
            }
            IpAddr::V6(_) => {
                recv.set_multicast_all_v6(false)
                    .map_err(err("IPV6_MULTICAST_ALL"))?;
                recv.join_multicast_v6(&VRRP_GROUP_V6, ifindex.0)
                    .map_err(err("join ff02::12"))?;
                sys::enable_v6_ancillary(recv.as_fd())
                    .map_err(err("IPV6_RECVPKTINFO/IPV6_RECVHOPLIMIT"))?;
            }
        }
        recv.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;

        let send = Socket::new(domain, Type::RAW, protocol).map_err(err("socket"))?;
        // BPF "ret #0": this socket never queues what it would receive.
        send.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])
            .map_err(err("SO_ATTACH_FILTER"))?;
        send.bind_device(Some(send_interface.as_bytes()))
            .map_err(err("SO_BINDTODEVICE (send)"))?;
        match primary {
            IpAddr::V4(a) => {
                send.bind(&SockAddr::from(SocketAddrV4::new(a, 0)))
                    .map_err(err("bind to the primary address"))?;
                send.set_multicast_loop_v4(false)
                    .map_err(err("IP_MULTICAST_LOOP"))?;
                if send_interface == interface {
                    // Through a VMAC the bound device alone picks the way out (the kernel
                    // refuses an address of another device here).
                    send.set_multicast_if_v4(&a)
                        .map_err(err("IP_MULTICAST_IF"))?;
                }
            }
            IpAddr::V6(a) => {
                send.bind(&SockAddr::from(SocketAddrV6::new(
                    a,
                    0,
                    0,
                    scope_for(a, send_ifindex),
                )))
                .map_err(err("bind to the primary address"))?;
                send.set_multicast_loop_v6(false)
                    .map_err(err("IPV6_MULTICAST_LOOP"))?;
                send.set_multicast_if_v6(send_ifindex.0)
                    .map_err(err("IPV6_MULTICAST_IF"))?;
            }
        }
        set_ttl(&send, primary, VRRP_TTL).map_err(err("TTL 255"))?;
        if framing == Framing::Ipv4Ah {
            send.set_header_included_v4(true)
                .map_err(err("IP_HDRINCL"))?;
        }
        send.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;

        Ok(RawVrrpSocket {
            interface: interface.to_string(),
            ifindex,
            send_ifindex,
            primary,
            recv: sys::register(recv).map_err(err("register with tokio"))?,
            send: sys::register(send).map_err(err("register with tokio"))?,
            ttl: VRRP_TTL,
            framing,
            counters: Arc::default(),
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface index.
    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    /// What the payloads are.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The address adverts are sent from.
    pub fn primary(&self) -> IpAddr {
        self.primary
    }

    /// The receive counters (shared; they keep counting inside a driver).
    pub fn counters(&self) -> Arc<SocketCounters> {
        Arc::clone(&self.counters)
    }

    /// Reads one datagram; `Ok(None)` when it was dropped (counted).
    fn read_one(&self, buf: &mut [u8]) -> io::Result<Option<(usize, RecvMeta)>> {
        let socket = self.recv.get_ref();
        match self.primary {
            IpAddr::V4(_) => {
                let n = (&*socket).read(buf)?;
                let Some(ip) = parse_ipv4_header(buf.get(..n).unwrap_or(&[])) else {
                    SocketCounters::bump(&self.counters.malformed_ip);
                    return Ok(None);
                };
                if n >= buf.len() {
                    SocketCounters::bump(&self.counters.truncated);
                    return Ok(None);
                }
                // The router wants the VRRP message, or with AH the whole datagram.
                let start = match self.framing {
                    Framing::Vrrp => ip.header_len,
                    Framing::Ipv4Ah => 0,
                };
                buf.copy_within(start..ip.total_len, 0);
                SocketCounters::bump(&self.counters.received);
                let destination = IpAddr::V4(ip.destination);
                Ok(Some((
                    ip.total_len - start,
                    RecvMeta {
                        source: IpAddr::V4(ip.source),
                        destination,
                        source_port: None,
                        destination_port: None,
                        interface: self.ifindex,
                        ttl: ip.ttl,
                        cast: Cast::of(destination),
                    },
                )))
            }
            IpAddr::V6(_) => {
                let got = sys::recv_v6(socket.as_fd(), buf)?;
                if got.truncated {
                    SocketCounters::bump(&self.counters.truncated);
                    return Ok(None);
                }
                let Some(destination) = got.destination else {
                    SocketCounters::bump(&self.counters.missing_pktinfo);
                    return Ok(None);
                };
                SocketCounters::bump(&self.counters.received);
                let destination = IpAddr::V6(destination);
                Ok(Some((
                    got.len,
                    RecvMeta {
                        source: IpAddr::V6(got.source),
                        destination,
                        source_port: None,
                        destination_port: None,
                        interface: got.ifindex.map_or(self.ifindex, IfIndex),
                        // No hop limit reported: 0, which the router's TTL check drops
                        // for multicast.
                        ttl: got.hop_limit.unwrap_or(0),
                        cast: Cast::of(destination),
                    },
                )))
            }
        }
    }
}

fn scope_for(address: Ipv6Addr, ifindex: IfIndex) -> u32 {
    let link_scoped = address.is_unicast_link_local()
        || (address.is_multicast() && address.segments()[0] & 0x000f <= 2);
    if link_scoped { ifindex.0 } else { 0 }
}

fn set_ttl(socket: &Socket, family: IpAddr, ttl: u8) -> io::Result<()> {
    match family {
        IpAddr::V4(_) => {
            socket.set_multicast_ttl_v4(u32::from(ttl))?;
            socket.set_ttl_v4(u32::from(ttl))
        }
        IpAddr::V6(_) => {
            socket.set_multicast_hops_v6(u32::from(ttl))?;
            socket.set_unicast_hops_v6(u32::from(ttl))
        }
    }
}

impl PacketIo for RawVrrpSocket {
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, RecvMeta)> {
        loop {
            let mut guard = self.recv.readable().await?;
            match guard.try_io(|_| self.read_one(buf)) {
                Ok(Ok(Some(got))) => return Ok(got),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    async fn send(&mut self, transmit: &Transmit, payload: &[u8]) -> io::Result<()> {
        let address = match (self.primary, transmit.destination) {
            (IpAddr::V4(_), IpAddr::V4(d)) => SockAddr::from(SocketAddrV4::new(d, 0)),
            (IpAddr::V6(_), IpAddr::V6(d)) => {
                SockAddr::from(SocketAddrV6::new(d, 0, 0, scope_for(d, self.send_ifindex)))
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "destination family differs from the socket's",
                ));
            }
        };
        if transmit.ttl != self.ttl {
            set_ttl(self.send.get_ref(), self.primary, transmit.ttl)?;
            self.ttl = transmit.ttl;
        }
        loop {
            let mut guard = self.send.writable().await?;
            match guard.try_io(|s| s.get_ref().send_to(payload, &address)) {
                Ok(result) => return result.map(|_| ()),
                Err(_would_block) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ihl_words: u8, total: u16) -> Vec<u8> {
        let mut h = vec![0u8; usize::from(ihl_words).max(5) * 4];
        h[0] = 0x40 | ihl_words;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[8] = 255;
        h[9] = 112;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[224, 0, 0, 18]);
        h
    }

    /// RFC 791 section 3.1: IHL counts 32-bit words and may exceed 5 (options).
    #[test]
    fn ipv4_header_length_comes_from_ihl() {
        let mut d = header(6, 24 + 8);
        d.extend_from_slice(&[1; 8]);
        let m = parse_ipv4_header(&d).unwrap();
        assert_eq!(m.header_len, 24);
        assert_eq!(m.total_len, 32);
        assert_eq!(m.ttl, 255);
        assert_eq!(m.protocol, 112);
        assert_eq!(m.source, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(m.destination, Ipv4Addr::new(224, 0, 0, 18));
    }

    #[test]
    fn malformed_ipv4_headers_are_rejected_without_panic() {
        assert_eq!(parse_ipv4_header(&[]), None);
        assert_eq!(parse_ipv4_header(&[0x45]), None);
        assert_eq!(parse_ipv4_header(&header(4, 20)), None, "IHL below 5");
        let mut v6 = header(5, 20);
        v6[0] = 0x65;
        assert_eq!(parse_ipv4_header(&v6), None, "version 6");
        assert_eq!(
            parse_ipv4_header(&header(15, 60)[..40]),
            None,
            "IHL past the end"
        );
        assert_eq!(
            parse_ipv4_header(&header(5, 10)),
            None,
            "total below header"
        );
        // Total length past the datagram is clamped.
        assert_eq!(parse_ipv4_header(&header(5, 900)).unwrap().total_len, 20);
        for len in 0..64 {
            let _ = parse_ipv4_header(&vec![0x4f; len]);
        }
    }

    proptest::proptest! {
        /// Untrusted datagrams never panic the header reader, and what it accepts is
        /// consistent: 20 ≤ header ≤ total ≤ datagram.
        #[test]
        fn ipv4_header_reader_never_panics(d in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            if let Some(m) = parse_ipv4_header(&d) {
                proptest::prop_assert!(m.header_len >= 20);
                proptest::prop_assert!(m.header_len <= m.total_len);
                proptest::prop_assert!(m.total_len <= d.len());
            }
        }
    }

    #[test]
    fn link_scoped_v6_addresses_get_the_interface_as_scope() {
        let i = IfIndex(7);
        assert_eq!(scope_for(VRRP_GROUP_V6, i), 7);
        assert_eq!(scope_for("fe80::1".parse().unwrap(), i), 7);
        assert_eq!(scope_for("2001:db8::1".parse().unwrap(), i), 0);
    }
}

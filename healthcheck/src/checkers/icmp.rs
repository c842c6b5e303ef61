//! ICMP echo check (ping), IPv4 and IPv6.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::bounded;
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target};

/// keepalived's `PING_CHECK`: send one ICMP (or ICMPv6) echo request to the target's
/// address (the port is ignored) and wait for the matching echo reply.
///
/// It uses an unprivileged ping socket where the system allows one
/// (`net.ipv4.ping_group_range`), and a raw socket otherwise (which needs `CAP_NET_RAW`).
/// A matching destination-unreachable error is [`FailureReason::Unreachable`]; a socket
/// that cannot be opened is [`FailureReason::Io`].
#[derive(Debug)]
pub struct IcmpCheck {
    /// Whole-probe timeout.
    pub timeout: Duration,
    /// Bytes of payload in the request (echoed back and compared).
    pub payload_len: usize,
    seq: AtomicU16,
}

impl Clone for IcmpCheck {
    fn clone(&self) -> Self {
        IcmpCheck {
            timeout: self.timeout,
            payload_len: self.payload_len,
            seq: AtomicU16::new(self.seq.load(Ordering::Relaxed)),
        }
    }
}

/// What a received ICMP packet means for our request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The echo reply we wait for.
    Echo,
    /// A destination-unreachable error quoting our request.
    Unreachable,
    /// Anything else: ignore it.
    Other,
}

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const UNREACH_V4: u8 = 3;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const UNREACH_V6: u8 = 1;

/// The Internet checksum (RFC 1071).
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request (RFC 792 / RFC 4443 section 4.1). For ICMPv6 the checksum is left to
/// the kernel, which covers the pseudo-header.
pub(crate) fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Strips an IPv4 header (length from IHL, never assumed to be 20 bytes).
fn strip_ipv4(pkt: &[u8]) -> Option<&[u8]> {
    let first = *pkt.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    pkt.get(ihl..)
}

/// Classifies a received packet. `ip_header`: the packet starts with an IPv4 header (raw
/// IPv4 sockets). `ident`: the identifier to match (`None` on ping sockets, where the
/// kernel owns it and already demultiplexes).
pub(crate) fn classify(
    pkt: &[u8],
    v6: bool,
    ip_header: bool,
    ident: Option<u16>,
    seq: u16,
    payload: &[u8],
) -> Reply {
    let icmp = if ip_header {
        match strip_ipv4(pkt) {
            Some(i) => i,
            None => return Reply::Other,
        }
    } else {
        pkt
    };
    if icmp.len() < 8 {
        return Reply::Other;
    }
    let (reply_type, unreach) = if v6 {
        (ECHO_REPLY_V6, UNREACH_V6)
    } else {
        (ECHO_REPLY_V4, UNREACH_V4)
    };
    let matches_echo = |e: &[u8]| {
        e.len() >= 8
            && ident.is_none_or(|id| e[4..6] == id.to_be_bytes())
            && e[6..8] == seq.to_be_bytes()
    };
    if icmp[0] == reply_type && icmp[1] == 0 {
        if matches_echo(icmp) && &icmp[8..] == payload {
            return Reply::Echo;
        }
        return Reply::Other;
    }
    if icmp[0] == unreach {
        // The error quotes the offending packet: IPv4 header + 8 bytes, or the IPv6
        // header (40 bytes) + as much as fits.
        let quoted = &icmp[8..];
        let inner = if v6 {
            quoted.get(40..)
        } else {
            strip_ipv4(quoted)
        };
        let request = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
        if let Some(inner) = inner {
            if inner.first() == Some(&request) && matches_echo(inner) {
                return Reply::Unreachable;
            }
        }
    }
    Reply::Other
}

impl IcmpCheck {
    /// A ping check with 56 bytes of payload.
    pub fn new(timeout: Duration) -> Self {
        IcmpCheck {
            timeout,
            payload_len: 56,
            seq: AtomicU16::new(0),
        }
    }

    fn open(v6: bool) -> Result<(Socket, bool), FailureReason> {
        let (domain, proto) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        match Socket::new(domain, Type::DGRAM, Some(proto)) {
            Ok(s) => Ok((s, false)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
                ) || e.raw_os_error() == Some(13) =>
            {
                Socket::new(domain, Type::RAW, Some(proto))
                    .map(|s| (s, true))
                    .map_err(|e| FailureReason::Io(format!("cannot open ICMP socket: {e}")))
            }
            Err(e) => Err(FailureReason::Io(format!("cannot open ICMP socket: {e}"))),
        }
    }

    async fn run(&self, target: &Target) -> Result<CheckOutcome, FailureReason> {
        let v6 = target.addr.is_ipv6();
        let (sock, raw) = Self::open(v6)?;
        sock.set_nonblocking(true)?;
        sock.connect(&SocketAddr::new(target.addr.ip(), 0).into())?;
        let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))?;
        let ident = RandomState::new().hash_one(std::time::SystemTime::now()) as u16;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let payload: Vec<u8> = (0..self.payload_len)
            .map(|i| (i as u8) ^ (ident as u8))
            .collect();
        sock.send(&echo_request(v6, ident, seq, &payload)).await?;
        let mut buf = vec![0u8; 2048];
        let ip_header = raw && !v6;
        let ident = raw.then_some(ident);
        loop {
            let n = sock.recv(&mut buf).await?;
            match classify(&buf[..n], v6, ip_header, ident, seq, &payload) {
                Reply::Echo => return Ok(CheckOutcome::OK),
                Reply::Unreachable => return Err(FailureReason::Unreachable),
                Reply::Other => {}
            }
        }
    }
}

#[async_trait]
impl Checker for IcmpCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run(target)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_checksum() {
        // RFC 1071 section 3 example bytes.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        let req = echo_request(false, 0x1234, 7, b"abc");
        assert_eq!(checksum(&req), 0, "a packet with its checksum sums to zero");
    }

    fn reply_of(req: &[u8], v6: bool) -> Vec<u8> {
        let mut r = req.to_vec();
        r[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        r
    }

    fn ipv4(ihl_words: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; usize::from(ihl_words) * 4];
        p[0] = 0x40 | ihl_words;
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn classifies_replies() {
        let req = echo_request(false, 9, 3, b"xyz");
        let rep = reply_of(&req, false);
        assert_eq!(classify(&rep, false, false, None, 3, b"xyz"), Reply::Echo);
        assert_eq!(
            classify(&rep, false, false, Some(9), 3, b"xyz"),
            Reply::Echo
        );
        assert_eq!(
            classify(&rep, false, false, Some(8), 3, b"xyz"),
            Reply::Other
        );
        assert_eq!(classify(&rep, false, false, None, 4, b"xyz"), Reply::Other);
        assert_eq!(classify(&rep, false, false, None, 3, b"xyw"), Reply::Other);
        // Our own request seen on a raw socket is not a reply.
        assert_eq!(classify(&req, false, false, None, 3, b"xyz"), Reply::Other);
        // Raw IPv4 with options: IHL of 6 words.
        assert_eq!(
            classify(&ipv4(6, &rep), false, true, Some(9), 3, b"xyz"),
            Reply::Echo
        );
        // Unreachable quoting our request.
        let mut unreach = vec![UNREACH_V4, 1, 0, 0, 0, 0, 0, 0];
        unreach.extend_from_slice(&ipv4(5, &req[..8]));
        assert_eq!(
            classify(&unreach, false, false, Some(9), 3, b"xyz"),
            Reply::Unreachable
        );
        let req6 = echo_request(true, 9, 3, b"q");
        assert_eq!(
            classify(&reply_of(&req6, true), true, false, None, 3, b"q"),
            Reply::Echo
        );
    }

    #[test]
    fn truncated_and_garbage_are_ignored() {
        for len in 0..40usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            for (v6, ip) in [(false, false), (false, true), (true, false)] {
                let _ = classify(&data, v6, ip, Some(1), 1, b"");
            }
        }
        assert_eq!(
            classify(&ipv4(2, &[0; 16]), false, true, None, 0, b""),
            Reply::Other
        );
    }
}

//! UDP check: send a payload, optionally require a matching reply.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::UdpSocket;

use super::{Expect, bounded, unexpected};
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target};

/// keepalived's `UDP_CHECK`: send `payload` on a connected UDP socket.
///
/// - With `expect` or `require_reply`, the target is up when a (matching) reply arrives
///   before the timeout.
/// - Otherwise it is up unless an ICMP error (port unreachable → [`FailureReason::Refused`])
///   comes back within `icmp_wait`; keep `icmp_wait` below `timeout`.
#[derive(Clone, Debug)]
pub struct UdpCheck {
    /// Whole-probe timeout.
    pub timeout: Duration,
    /// Datagram to send (may be empty).
    pub payload: Vec<u8>,
    /// What the reply must match.
    pub expect: Option<Expect>,
    /// Require a reply even without an `expect`.
    pub require_reply: bool,
    /// How long to wait for an ICMP error when no reply is required.
    pub icmp_wait: Duration,
    /// Local address to send from.
    pub bind: Option<SocketAddr>,
}

impl UdpCheck {
    /// A check sending `payload` and requiring no reply.
    pub fn new(timeout: Duration, payload: impl Into<Vec<u8>>) -> Self {
        UdpCheck {
            timeout,
            payload: payload.into(),
            expect: None,
            require_reply: false,
            icmp_wait: timeout / 2,
            bind: None,
        }
    }

    /// Requires a reply meeting `expect`.
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = Some(expect);
        self.require_reply = true;
        self
    }

    async fn run(&self, target: &Target) -> Result<CheckOutcome, FailureReason> {
        let local = self.bind.unwrap_or(if target.addr.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        });
        let sock = UdpSocket::bind(local).await?;
        sock.connect(target.addr).await?;
        sock.send(&self.payload).await?;
        let mut buf = vec![0u8; 65_536];
        if self.require_reply || self.expect.is_some() {
            let n = sock.recv(&mut buf).await?;
            let reply = &buf[..n];
            return match &self.expect {
                Some(e) if !e.matches(reply) => Err(unexpected(reply)),
                _ => Ok(CheckOutcome::OK),
            };
        }
        match tokio::time::timeout(self.icmp_wait, sock.recv(&mut buf)).await {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(_)) | Err(_) => Ok(CheckOutcome::OK),
        }
    }
}

#[async_trait]
impl Checker for UdpCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run(target)).await
    }
}

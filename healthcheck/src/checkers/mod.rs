//! The checkers. Each takes its own timeout for the whole probe and maps every error to a
//! typed [`FailureReason`]; none can hang past its timeout, whatever the peer does.
//!
//! | checker | keepalived |
//! |---|---|
//! | [`TcpCheck`] (connect, optional send/expect steps) | `TCP_CHECK` |
//! | [`UdpCheck`] | `UDP_CHECK` |
//! | [`SmtpCheck`] | `SMTP_CHECK` |
//! | [`MiscCheck`] | `MISC_CHECK` (`misc_dynamic`, `user`) |
//! | [`FileCheck`] | `FILE_CHECK` / `track_file` |
//! | `DnsCheck` (feature `dns`) | `DNS_CHECK` |
//! | `IcmpCheck` (feature `icmp`) | `PING_CHECK` |
//! | `HttpCheck` (feature `http`; HTTPS with feature `tls`) | `HTTP_GET`, `SSL_GET` (`status_code`, `digest`, `virtualhost`, regex, SNI, client certificate) |

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::outcome::{CheckOutcome, FailureReason};

#[cfg(feature = "dns")]
mod dns;
mod file;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "icmp")]
mod icmp;
mod misc;
mod smtp;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
mod udp;

#[cfg(feature = "dns")]
pub use dns::{DnsCheck, DnsConfigError};
pub use file::FileCheck;
#[cfg(feature = "http")]
pub use http::{HeaderMatch, HttpCheck, StatusSet, UrlCheck, md5_hex};
#[cfg(feature = "icmp")]
pub use icmp::IcmpCheck;
pub use misc::{MiscCheck, ScriptRun};
pub use smtp::SmtpCheck;
pub use tcp::{TcpCheck, TcpStep};
#[cfg(feature = "tls")]
pub use tls::{
    SESSION_CACHE_TICKETS, TlsClient, TlsSetupError, TlsVerify, certs_from_pem, key_from_pem,
    roots_from_pem,
};
pub use udp::UdpCheck;

/// Default cap on the bytes a checker reads from a peer.
pub const DEFAULT_MAX_RESPONSE: usize = 64 * 1024;

/// What to expect from the peer.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Exactly these bytes next.
    Bytes(Vec<u8>),
    /// Data matching this pattern (searched in what has arrived, up to the size limit).
    Regex(regex::bytes::Regex),
}

impl Expect {
    /// An expectation from a pattern. Errors are the regex crate's own.
    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        regex::bytes::Regex::new(pattern).map(Expect::Regex)
    }

    /// Checks a whole datagram or message against the expectation: bytes must match
    /// exactly, a pattern must be found somewhere.
    pub fn matches(&self, data: &[u8]) -> bool {
        match self {
            Expect::Bytes(b) => data == b.as_slice(),
            Expect::Regex(re) => re.is_match(data),
        }
    }
}

/// Runs `fut` for at most `timeout`, mapping expiry to [`FailureReason::Timeout`].
pub(crate) async fn bounded<F>(timeout: Duration, fut: F) -> CheckOutcome
where
    F: Future<Output = Result<CheckOutcome, FailureReason>>,
{
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => CheckOutcome::Failure(e),
        Err(_) => CheckOutcome::Failure(FailureReason::Timeout),
    }
}

/// Connects to `addr`, from `bind` if given.
pub(crate) async fn connect(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
) -> Result<TcpStream, FailureReason> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    if let Some(b) = bind {
        sock.bind(b)?;
    }
    let stream = sock.connect(addr).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A TCP connection with a bounded read buffer, for line and expect based protocols.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
    max: usize,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, max: usize) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            max,
        }
    }

    /// Reads more data; end of stream is [`FailureReason::Closed`].
    async fn read_more(&mut self) -> Result<(), FailureReason> {
        if self.buf.len() >= self.max {
            return Err(FailureReason::TooLarge);
        }
        let mut chunk = [0u8; 4096];
        let room = (self.max - self.buf.len()).min(chunk.len());
        let n = self.stream.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Err(FailureReason::Closed);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Consumes data meeting `expect`.
    pub(crate) async fn expect(&mut self, expect: &Expect) -> Result<(), FailureReason> {
        match expect {
            Expect::Bytes(want) => loop {
                let have = self.buf.len().min(want.len());
                if self.buf[..have] != want[..have] {
                    return Err(unexpected(&self.buf[..have]));
                }
                if have == want.len() {
                    self.buf.drain(..have);
                    return Ok(());
                }
                self.read_more().await.map_err(|e| self.eof_reason(e))?;
            },
            Expect::Regex(re) => loop {
                if let Some(m) = re.find(&self.buf) {
                    let end = m.end();
                    self.buf.drain(..end);
                    return Ok(());
                }
                self.read_more().await.map_err(|e| self.eof_reason(e))?;
            },
        }
    }

    /// Reads one line ending in `\n`, without the line ending.
    pub(crate) async fn line(&mut self) -> Result<Vec<u8>, FailureReason> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            self.read_more().await.map_err(|e| self.eof_reason(e))?;
        }
    }

    /// A peer that closed after sending something unexpected sent garbage; one that
    /// closed having sent nothing closed early.
    fn eof_reason(&self, e: FailureReason) -> FailureReason {
        match e {
            FailureReason::Closed if !self.buf.is_empty() => unexpected(&self.buf),
            e => e,
        }
    }
}

/// A [`FailureReason::Protocol`] quoting (a bounded prefix of) what arrived.
pub(crate) fn unexpected(data: &[u8]) -> FailureReason {
    let shown = &data[..data.len().min(64)];
    FailureReason::Protocol(format!(
        "unexpected reply {:?}",
        String::from_utf8_lossy(shown)
    ))
}

#[cfg(feature = "fuzzing")]
pub(crate) use file::parse_leading_int as file_value;
#[cfg(feature = "fuzzing")]
pub(crate) use smtp::parse_code as smtp_reply_code;

#[cfg(feature = "fuzzing")]
pub(crate) fn icmp_is_echo_reply(pkt: &[u8], v6: bool, ip: bool, ident: u16, seq: u16) -> bool {
    icmp::classify(pkt, v6, ip, Some(ident), seq, &[]) == icmp::Reply::Echo
}

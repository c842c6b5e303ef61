//! What a probe reports: the target it ran against and the typed outcome.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The address a check probes (keepalived's real server, or its `connect_ip` /
/// `connect_port` override).
///
/// Checks that do not talk to the network (MISC scripts, FILE) ignore it; give them the
/// real server's address anyway so that identical checks of different servers stay
/// distinct probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// Address and port to connect to.
    pub addr: SocketAddr,
}

impl Target {
    /// A target at `addr`.
    pub const fn new(addr: SocketAddr) -> Self {
        Target { addr }
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Self {
        Target { addr }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

/// A dynamic weight reported by a successful check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Weight {
    /// Set the real server's weight to this value (keepalived's `misc_dynamic`: exit code
    /// `2..=255` gives weight `code - 2`).
    Set(u32),
    /// Add this (possibly negative) offset to the configured weight (keepalived's
    /// `track_file` semantics: file value × configured weight).
    Offset(i64),
}

/// Why a probe failed. Every checker maps its errors onto these, so consumers can count
/// and report failures by kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// The peer refused the connection (TCP RST on connect, ICMP port unreachable on UDP).
    #[error("connection refused")]
    Refused,
    /// The probe did not finish within its timeout.
    #[error("timed out")]
    Timeout,
    /// The connection was reset after it was established.
    #[error("connection reset")]
    Reset,
    /// The peer closed the connection before the expected data arrived.
    #[error("connection closed early")]
    Closed,
    /// TLS handshake or certificate failure.
    #[error("tls: {0}")]
    Tls(String),
    /// The HTTP status was not in the accepted set.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The response body did not match the expected pattern.
    #[error("body did not match")]
    Body,
    /// The MD5 digest of the body did not match.
    #[error("body digest mismatch")]
    Digest,
    /// A required response header was missing or did not match.
    #[error("header did not match")]
    Header,
    /// The response exceeded the configured size limit.
    #[error("response too large")]
    TooLarge,
    /// The peer sent something that is not the protocol expected (garbage, wrong banner,
    /// wrong reply code, unexpected bytes).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The script exited with this failing status.
    #[error("script exited with {0}")]
    ScriptExit(i32),
    /// The script was killed by this signal.
    #[error("script killed by signal {0}")]
    ScriptSignal(i32),
    /// The script could not be started.
    #[error("script could not start: {0}")]
    Spawn(String),
    /// The tracked file could not be read or held no integer.
    #[error("file: {0}")]
    File(String),
    /// The tracked file's value means failure (weight 0 and a non-zero value).
    #[error("file value {0} means down")]
    FileValue(i64),
    /// DNS failure (bad rcode, no or wrong answer, malformed reply).
    #[error("dns: {0}")]
    Dns(String),
    /// Network or host unreachable.
    #[error("unreachable")]
    Unreachable,
    /// Any other I/O error.
    #[error("i/o: {0}")]
    Io(String),
    /// An external source of verdicts (a BFD session, for `BFD_CHECK`) reports down, or
    /// has not reported yet.
    #[error("external: {0}")]
    External(String),
}

impl FailureReason {
    /// A short stable name of the variant, for metrics labels and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            FailureReason::Refused => "refused",
            FailureReason::Timeout => "timeout",
            FailureReason::Reset => "reset",
            FailureReason::Closed => "closed",
            FailureReason::Tls(_) => "tls",
            FailureReason::Status(_) => "status",
            FailureReason::Body => "body",
            FailureReason::Digest => "digest",
            FailureReason::Header => "header",
            FailureReason::TooLarge => "too_large",
            FailureReason::Protocol(_) => "protocol",
            FailureReason::ScriptExit(_) => "script_exit",
            FailureReason::ScriptSignal(_) => "script_signal",
            FailureReason::Spawn(_) => "spawn",
            FailureReason::File(_) => "file",
            FailureReason::FileValue(_) => "file_value",
            FailureReason::Dns(_) => "dns",
            FailureReason::Unreachable => "unreachable",
            FailureReason::Io(_) => "io",
            FailureReason::External(_) => "external",
        }
    }

    /// Maps an I/O error onto a reason, keeping the kinds that matter apart.
    pub fn from_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => FailureReason::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => FailureReason::Reset,
            K::TimedOut | K::WouldBlock => FailureReason::Timeout,
            K::UnexpectedEof => FailureReason::Closed,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                FailureReason::Unreachable
            }
            _ => FailureReason::Io(e.to_string()),
        }
    }
}

impl From<std::io::Error> for FailureReason {
    fn from(e: std::io::Error) -> Self {
        FailureReason::from_io(&e)
    }
}

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckOutcome {
    /// The target is healthy, optionally with a dynamic weight.
    Success {
        /// Dynamic weight reported by the check, if it reports one.
        weight: Option<Weight>,
    },
    /// The target failed the check.
    Failure(FailureReason),
}

impl CheckOutcome {
    /// A success without a dynamic weight.
    pub const OK: CheckOutcome = CheckOutcome::Success { weight: None };

    /// A failure for `reason`.
    pub fn fail(reason: FailureReason) -> Self {
        CheckOutcome::Failure(reason)
    }

    /// Whether this is a success.
    pub fn is_success(&self) -> bool {
        matches!(self, CheckOutcome::Success { .. })
    }
}

impl From<Result<(), FailureReason>> for CheckOutcome {
    fn from(r: Result<(), FailureReason>) -> Self {
        match r {
            Ok(()) => CheckOutcome::OK,
            Err(e) => CheckOutcome::Failure(e),
        }
    }
}

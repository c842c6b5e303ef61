//! HTTP check: hyper 1.x HTTP/1.1 client over a tokio `TcpStream`.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, HOST, HeaderValue, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use tokio::task::JoinHandle;

use super::{bounded, connect};
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target};

/// Accepted HTTP status codes: a list of inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSet(pub Vec<RangeInclusive<u16>>);

impl Default for StatusSet {
    /// Any 2xx status (keepalived's default when no `status_code` is given).
    fn default() -> Self {
        StatusSet(vec![200..=299])
    }
}

impl StatusSet {
    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|r| r.contains(&code))
    }

    /// Parses `"200-204,301"`-style lists (commas or spaces between items).
    pub fn parse(s: &str) -> Option<Self> {
        let mut ranges = Vec::new();
        for item in s.split([',', ' ']).filter(|i| !i.is_empty()) {
            let r = match item.split_once('-') {
                Some((a, b)) => a.trim().parse().ok()?..=b.trim().parse().ok()?,
                None => {
                    let c: u16 = item.trim().parse().ok()?;
                    c..=c
                }
            };
            if r.is_empty() || *r.start() < 100 || *r.end() > 999 {
                return None;
            }
            ranges.push(r);
        }
        (!ranges.is_empty()).then_some(StatusSet(ranges))
    }
}

/// A required response header.
#[derive(Clone, Debug)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,
    /// Pattern its value must match; `None` only requires presence.
    pub value: Option<regex::bytes::Regex>,
}

/// One URL to fetch and what its response must look like (keepalived's `url` block).
#[derive(Clone, Debug)]
pub struct UrlCheck {
    /// Path and query to request.
    pub path: Uri,
    /// Accepted statuses.
    pub status: StatusSet,
    /// Expected MD5 of the body, lowercase hex, as keepalived's `genhash` prints it.
    pub digest: Option<String>,
    /// Pattern the body must contain (keepalived's `regex`).
    pub body: Option<regex::bytes::Regex>,
    /// Invert `body`: the pattern must not match (keepalived's `regex_no_match`).
    pub body_no_match: bool,
    /// Headers the response must carry.
    pub headers: Vec<HeaderMatch>,
}

impl UrlCheck {
    /// A check of `path` accepting any 2xx status. `None` if `path` is not a valid
    /// request target.
    pub fn new(path: &str) -> Option<Self> {
        let path: Uri = path.parse().ok()?;
        if path.scheme().is_some() || path.path_and_query().is_none() {
            return None;
        }
        Some(UrlCheck {
            path,
            status: StatusSet::default(),
            digest: None,
            body: None,
            body_no_match: false,
            headers: Vec::new(),
        })
    }

    fn needs_body(&self) -> bool {
        self.digest.is_some() || self.body.is_some()
    }
}

/// The MD5 digest of `data` as lowercase hex — what keepalived's `genhash` prints for a
/// page body.
pub fn md5_hex(data: &[u8]) -> String {
    let d = Md5::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

struct Pooled {
    sender: SendRequest<Empty<Bytes>>,
    conn: JoinHandle<()>,
}

/// Aborts the connection task on drop unless the connection went back to the pool, so a
/// cancelled or failed check never leaves a connection behind.
struct ConnGuard(Option<Pooled>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.conn.abort();
        }
    }
}

/// keepalived's `HTTP_GET`: fetch every URL in turn; the target is up when each response
/// has an accepted status, the expected digest, a matching body and the required headers.
///
/// With `keep_alive`, one idle connection per target is kept and reused by the next
/// probe; otherwise each request asks for `Connection: close`.
pub struct HttpCheck {
    /// Whole-probe timeout (connect, every request, every body).
    pub timeout: Duration,
    /// The URLs, all of which must pass.
    pub urls: Vec<UrlCheck>,
    /// `Host` header (keepalived's `virtualhost`); the target address when `None`.
    pub virtual_host: Option<String>,
    /// Local address to connect from.
    pub bind: Option<SocketAddr>,
    /// Reuse connections between requests and probes.
    pub keep_alive: bool,
    /// Largest body read.
    pub max_body: usize,
    /// Extra request headers.
    pub request_headers: Vec<(String, String)>,
    /// Speak HTTPS with these settings (keepalived's `SSL_GET`).
    #[cfg(feature = "tls")]
    pub tls: Option<super::TlsClient>,
    pool: Mutex<HashMap<SocketAddr, Pooled>>,
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCheck")
            .field("timeout", &self.timeout)
            .field("urls", &self.urls)
            .field("virtual_host", &self.virtual_host)
            .field("keep_alive", &self.keep_alive)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Clone for HttpCheck {
    /// Clones the configuration; the clone starts with no pooled connection.
    fn clone(&self) -> Self {
        HttpCheck {
            timeout: self.timeout,
            urls: self.urls.clone(),
            virtual_host: self.virtual_host.clone(),
            bind: self.bind,
            keep_alive: self.keep_alive,
            max_body: self.max_body,
            request_headers: self.request_headers.clone(),
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
            pool: Mutex::new(HashMap::new()),
        }
    }
}

fn io_reason(e: &std::io::Error) -> FailureReason {
    #[cfg(feature = "tls")]
    return super::tls::tls_io_reason(e);
    #[cfg(not(feature = "tls"))]
    FailureReason::from_io(e)
}

/// Maps a hyper error to a reason, looking for an I/O cause first.
fn hyper_reason(e: &hyper::Error) -> FailureReason {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        FailureReason::Closed
    } else if e.is_timeout() {
        FailureReason::Timeout
    } else if e.is_parse() || e.is_parse_status() {
        FailureReason::Protocol(format!("bad HTTP response: {e}"))
    } else {
        FailureReason::Io(e.to_string())
    }
}

impl HttpCheck {
    /// A check of one URL.
    pub fn new(timeout: Duration, url: UrlCheck) -> Self {
        HttpCheck {
            timeout,
            urls: vec![url],
            virtual_host: None,
            bind: None,
            keep_alive: false,
            max_body: 1024 * 1024,
            request_headers: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
            pool: Mutex::new(HashMap::new()),
        }
    }

    fn take_pooled(&self, addr: SocketAddr) -> Option<Pooled> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let p = pool.remove(&addr)?;
        if p.sender.is_closed() || p.conn.is_finished() {
            p.conn.abort();
            return None;
        }
        Some(p)
    }

    fn put_pooled(&self, addr: SocketAddr, p: Pooled) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = pool.insert(addr, p) {
            old.conn.abort();
        }
    }

    /// Number of idle pooled connections (for tests and metrics).
    pub fn pooled_connections(&self) -> usize {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    async fn open(&self, target: &Target) -> Result<Pooled, FailureReason> {
        let stream = connect(target.addr, self.bind).await?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let name = match (&tls.server_name, &self.virtual_host) {
                (Some(n), _) => n.clone(),
                (None, Some(h)) => rustls::pki_types::ServerName::try_from(h.clone())
                    .map_err(|_| FailureReason::Tls(format!("invalid server name {h:?}")))?,
                (None, None) => target.addr.ip().into(),
            };
            let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
                .connect(name, stream)
                .await
                .map_err(|e| io_reason(&e))?;
            return self.handshake(stream).await;
        }
        self.handshake(stream).await
    }

    async fn handshake<S>(&self, stream: S) -> Result<Pooled, FailureReason>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| hyper_reason(&e))?;
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Pooled { sender, conn })
    }

    async fn run(&self, target: &Target) -> Result<CheckOutcome, FailureReason> {
        let host = match &self.virtual_host {
            Some(h) => h.clone(),
            None => target.addr.to_string(),
        };
        let host = HeaderValue::from_str(&host)
            .map_err(|_| FailureReason::Io("invalid virtual host".into()))?;
        let mut guard = ConnGuard(None);
        for url in &self.urls {
            let pooled = match guard.0.take() {
                Some(p) if !p.sender.is_closed() => Some(p),
                Some(p) => {
                    p.conn.abort();
                    None
                }
                None if self.keep_alive => self.take_pooled(target.addr),
                None => None,
            };
            guard.0 = Some(match pooled {
                Some(p) => p,
                None => self.open(target).await?,
            });
            let Some(p) = guard.0.as_mut() else {
                return Err(FailureReason::Io("no connection".into()));
            };
            p.sender.ready().await.map_err(|e| hyper_reason(&e))?;
            let mut req = Request::get(url.path.clone())
                .header(HOST, host.clone())
                .header(USER_AGENT, "ha-healthcheck");
            if !self.keep_alive {
                req = req.header(CONNECTION, "close");
            }
            for (k, v) in &self.request_headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let req = req
                .body(Empty::<Bytes>::new())
                .map_err(|e| FailureReason::Io(format!("invalid request: {e}")))?;
            let resp = p
                .sender
                .send_request(req)
                .await
                .map_err(|e| hyper_reason(&e))?;
            let status = resp.status().as_u16();
            if !url.status.contains(status) {
                return Err(FailureReason::Status(status));
            }
            for h in &url.headers {
                let ok = resp
                    .headers()
                    .get_all(h.name.as_str())
                    .iter()
                    .any(|v| h.value.as_ref().is_none_or(|re| re.is_match(v.as_bytes())));
                if !ok {
                    return Err(FailureReason::Header);
                }
            }
            let server_closes = resp
                .headers()
                .get(CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            // Always read the body (up to the limit) so the connection can be reused.
            let mut body = resp.into_body();
            let mut data = Vec::new();
            let mut received = 0usize;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| hyper_reason(&e))?;
                if let Ok(chunk) = frame.into_data() {
                    received = received.saturating_add(chunk.len());
                    if received > self.max_body {
                        return Err(FailureReason::TooLarge);
                    }
                    if url.needs_body() {
                        data.extend_from_slice(&chunk);
                    }
                }
            }
            if let Some(want) = &url.digest {
                if !md5_hex(&data).eq_ignore_ascii_case(want.trim()) {
                    return Err(FailureReason::Digest);
                }
            }
            if let Some(re) = &url.body {
                if re.is_match(&data) == url.body_no_match {
                    return Err(FailureReason::Body);
                }
            }
            if server_closes || !self.keep_alive {
                if let Some(p) = guard.0.take() {
                    p.conn.abort();
                }
            }
        }
        if self.keep_alive {
            if let Some(p) = guard.0.take() {
                self.put_pooled(target.addr, p);
            }
        }
        Ok(CheckOutcome::OK)
    }
}

#[async_trait]
impl Checker for HttpCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run(target)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let s = StatusSet::parse("200-204, 301").unwrap();
        assert!(s.contains(200) && s.contains(204) && s.contains(301));
        assert!(!s.contains(205) && !s.contains(302));
        assert!(StatusSet::parse("").is_none());
        assert!(StatusSet::parse("204-200").is_none());
        assert!(StatusSet::parse("abc").is_none());
        assert!(StatusSet::parse("99").is_none());
        assert!(StatusSet::default().contains(299));
    }

    #[test]
    fn md5_matches_known_vectors() {
        // RFC 1321 appendix A.5 test suite.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn url_paths() {
        assert!(UrlCheck::new("/health?full=1").is_some());
        assert!(UrlCheck::new("http://x/").is_none());
        assert!(UrlCheck::new("bad path").is_none());
    }
}

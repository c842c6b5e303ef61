//! The netlink backend: [`IpvsClient`] speaks the `IPVS` generic-netlink family to the
//! kernel over a `NETLINK_GENERIC` socket driven by tokio (feature `linux`).
//!
//! - The family id is resolved with `CTRL_CMD_GETFAMILY "IPVS"` when the client opens its
//!   socket; a kernel without the `ip_vs` module answers `ENOENT`, reported as
//!   [`IpvsError::FamilyNotFound`]. The library never loads the module.
//! - Every request has one deadline ([`ClientConfig::request_timeout`]) covering the
//!   send and every reply datagram. After a timeout or a socket error the socket is
//!   dropped and a fresh one (with a fresh family lookup) is opened on the next request,
//!   so a late reply can never be mistaken for the answer to a later request.
//! - Requests are serialised on the one socket; callers should not hold their own state
//!   locks while awaiting a request.
//! - Kernel refusals come back as [`IpvsError::Kernel`] with the extended-ACK text when
//!   the kernel provides one.
//! - A dump the kernel marks as interrupted (`NLM_F_DUMP_INTR`: the table changed
//!   meanwhile) is retried, up to [`DUMP_RETRIES`] times, then reported as
//!   [`IpvsError::DumpInterrupted`].
//! - [`IpvsClient::stats`] counts requests, timeouts, socket reopens, kernel refusals and
//!   malformed replies.
//! - The IPVS family has no "all destinations" dump: [`IpvsBackend::dump`] is one
//!   service dump plus one destination dump per service, assembled into one
//!   [`Snapshot`].

use crate::backend::{Errno, IpvsBackend, IpvsError};
use crate::model::{
    DestEntry, Destination, DestinationKey, Info, Service, ServiceEntry, ServiceKey, Snapshot,
    SyncDaemon, SyncState, Timeouts, request,
};
use crate::packet::IpvsMessage;
use crate::packet::frame::{self, CTRL_FAMILY_ID, Frame};
use async_trait::async_trait;
use netlink_packet_core::NLM_F_DUMP_INTR;
use netlink_sys::{AsyncSocket, TokioSocket, protocols::NETLINK_GENERIC};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Deadline of each request, from send to the last reply datagram.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// How long [`IpvsBackend::stop_daemon`] waits for an acknowledgement before it checks
/// the daemon list instead (see there).
pub const STOP_DAEMON_ACK_WAIT: Duration = Duration::from_secs(1);

/// How many times an interrupted dump is retried.
pub const DUMP_RETRIES: usize = 3;

/// Counters of what happened to requests, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent.
    pub requests: u64,
    /// Requests that missed their deadline.
    pub timeouts: u64,
    /// Sockets opened (the first one included).
    pub opens: u64,
    /// Requests the kernel refused.
    pub kernel_errors: u64,
    /// Replies that could not be decoded.
    pub malformed_replies: u64,
    /// Dumps interrupted by concurrent changes (each retry counts).
    pub interrupted_dumps: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    timeouts: AtomicU64,
    opens: AtomicU64,
    kernel_errors: AtomicU64,
    malformed_replies: AtomicU64,
    interrupted_dumps: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Conn {
    sock: TokioSocket,
    family_id: u16,
    seq: u32,
}

fn io_err(e: std::io::Error) -> IpvsError {
    IpvsError::Io(e.to_string())
}

impl Conn {
    async fn open() -> Result<Conn, IpvsError> {
        let mut sock = TokioSocket::new(NETLINK_GENERIC).map_err(io_err)?;
        sock.socket_mut().bind_auto().map_err(io_err)?;
        // Both are optional kernel features; without them errors are just less detailed.
        let _ = sock.socket_ref().set_ext_ack(true);
        let _ = sock.socket_ref().set_cap_ack(true);
        let mut conn = Conn {
            sock,
            family_id: 0,
            seq: 0,
        };
        conn.family_id = conn.resolve().await?;
        Ok(conn)
    }

    async fn send(&self, buf: &[u8]) -> Result<(), IpvsError> {
        poll_fn(|cx| self.sock.poll_send(cx, buf))
            .await
            .map_err(io_err)?;
        Ok(())
    }

    async fn recv(&self) -> Result<Vec<u8>, IpvsError> {
        let (buf, _) = poll_fn(|cx| self.sock.poll_recv_from_full(cx))
            .await
            .map_err(io_err)?;
        Ok(buf)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    async fn resolve(&mut self) -> Result<u16, IpvsError> {
        let seq = self.next_seq();
        self.send(&frame::encode_get_family(seq)).await?;
        let mut id = None;
        loop {
            let buf = self.recv().await?;
            for f in frame::parse_frames(&buf, 0) {
                let f = f?;
                if f.header().seq != seq {
                    continue;
                }
                match f {
                    Frame::Other { header, payload } if header.kind == CTRL_FAMILY_ID => {
                        if let Some(found) = frame::family_id_from_ctrl(&payload)? {
                            id = Some(found);
                        }
                    }
                    Frame::Error { errno: 2, .. } => return Err(IpvsError::FamilyNotFound),
                    Frame::Error { errno, ext_ack, .. } => {
                        return Err(IpvsError::Kernel {
                            errno: Errno::from_raw(errno),
                            ext_ack,
                        });
                    }
                    Frame::Ack { .. } | Frame::Done { .. } => {
                        return id.ok_or(IpvsError::FamilyNotFound);
                    }
                    _ => {}
                }
            }
        }
    }

    async fn exchange(
        &mut self,
        msg: &IpvsMessage,
        dump: bool,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        let seq = self.next_seq();
        self.send(&frame::encode_request(self.family_id, seq, dump, msg))
            .await?;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            let buf = self.recv().await?;
            for f in frame::parse_frames(&buf, self.family_id) {
                let f = f?;
                if f.header().seq != seq {
                    continue;
                }
                interrupted |= f.header().flags & NLM_F_DUMP_INTR != 0;
                match f {
                    Frame::Ipvs { message, .. } => out.push(message),
                    Frame::Error { errno, ext_ack, .. } => {
                        return Err(IpvsError::Kernel {
                            errno: Errno::from_raw(errno),
                            ext_ack,
                        });
                    }
                    Frame::Done { errno, .. } if errno != 0 => {
                        return Err(IpvsError::kernel(Errno::from_raw(errno)));
                    }
                    Frame::Done { .. } if interrupted => return Err(IpvsError::DumpInterrupted),
                    Frame::Done { .. } => return Ok(out),
                    Frame::Ack { .. } if !dump => return Ok(out),
                    _ => {}
                }
            }
        }
    }
}

/// The kernel backend. See the module documentation.
pub struct IpvsClient {
    config: ClientConfig,
    conn: Mutex<Option<Conn>>,
    counters: Counters,
}

impl std::fmt::Debug for IpvsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpvsClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IpvsClient {
    /// Opens the socket and resolves the family now, so that a missing `ip_vs` module is
    /// reported at once ([`IpvsError::FamilyNotFound`]). Must run inside a tokio runtime
    /// with I/O and time enabled.
    pub async fn connect(config: ClientConfig) -> Result<IpvsClient, IpvsError> {
        let conn = tokio::time::timeout(config.request_timeout, Conn::open())
            .await
            .map_err(|_| IpvsError::Timeout(config.request_timeout))??;
        let counters = Counters::default();
        bump(&counters.opens);
        Ok(IpvsClient {
            config,
            conn: Mutex::new(Some(conn)),
            counters,
        })
    }

    /// The request counters so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            requests: get(&c.requests),
            timeouts: get(&c.timeouts),
            opens: get(&c.opens),
            kernel_errors: get(&c.kernel_errors),
            malformed_replies: get(&c.malformed_replies),
            interrupted_dumps: get(&c.interrupted_dumps),
        }
    }

    /// The family id the kernel assigned, if the socket is open.
    pub async fn family_id(&self) -> Option<u16> {
        self.conn.lock().await.as_ref().map(|c| c.family_id)
    }

    /// Sends one request and collects its reply messages, within the request deadline.
    /// Interrupted dumps are retried (each attempt with its own deadline).
    pub async fn request(
        &self,
        msg: &IpvsMessage,
        dump: bool,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        self.request_within(msg, dump, self.config.request_timeout)
            .await
    }

    async fn request_within(
        &self,
        msg: &IpvsMessage,
        dump: bool,
        timeout: Duration,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        let mut attempt = 0;
        loop {
            match self.request_once(msg, dump, timeout).await {
                Err(IpvsError::DumpInterrupted) if attempt < DUMP_RETRIES => attempt += 1,
                r => return r,
            }
        }
    }

    async fn request_once(
        &self,
        msg: &IpvsMessage,
        dump: bool,
        timeout: Duration,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.conn.lock().await;
        bump(&self.counters.requests);
        let result = tokio::time::timeout_at(deadline, async {
            if guard.is_none() {
                bump(&self.counters.opens);
                *guard = Some(Conn::open().await?);
            }
            match guard.as_mut() {
                Some(conn) => conn.exchange(msg, dump).await,
                None => Err(IpvsError::Io("socket unavailable".into())),
            }
        })
        .await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                match &e {
                    IpvsError::Kernel { .. } => bump(&self.counters.kernel_errors),
                    IpvsError::DumpInterrupted => bump(&self.counters.interrupted_dumps),
                    IpvsError::Packet(_) => bump(&self.counters.malformed_replies),
                    _ => {}
                }
                // Anything but a clean refusal or a complete (interrupted) dump leaves
                // the socket in an unknown state.
                if !matches!(e, IpvsError::Kernel { .. } | IpvsError::DumpInterrupted) {
                    *guard = None;
                }
                Err(e)
            }
            Err(_) => {
                bump(&self.counters.timeouts);
                *guard = None;
                Err(IpvsError::Timeout(timeout))
            }
        }
    }

    async fn ack(&self, msg: IpvsMessage) -> Result<(), IpvsError> {
        self.request(&msg, false).await.map(|_| ())
    }
}

#[async_trait]
impl IpvsBackend for IpvsClient {
    async fn dump(&self) -> Result<Snapshot, IpvsError> {
        let mut services = Vec::new();
        for m in self.request(&request::get_services(), true).await? {
            let (service, stats) = request::read_service(&m)?;
            services.push(ServiceEntry {
                service,
                stats,
                dests: Vec::new(),
            });
        }
        for s in &mut services {
            let family = s.service.key.family();
            for m in self
                .request(&request::get_dests(&s.service.key), true)
                .await?
            {
                let (dest, stats) = request::read_dest(&m, family)?;
                s.dests.push(DestEntry { dest, stats });
            }
            s.dests.sort_by_key(|d| d.dest.key);
        }
        services.sort_by_key(|s| s.service.key);
        Ok(Snapshot { services })
    }

    async fn add_service(&self, service: &Service) -> Result<(), IpvsError> {
        self.ack(request::add_service(service)?).await
    }

    async fn edit_service(&self, service: &Service) -> Result<(), IpvsError> {
        self.ack(request::edit_service(service)?).await
    }

    async fn del_service(&self, key: &ServiceKey) -> Result<(), IpvsError> {
        self.ack(request::del_service(key)).await
    }

    async fn add_dest(&self, service: &ServiceKey, dest: &Destination) -> Result<(), IpvsError> {
        self.ack(request::add_dest(service, dest)).await
    }

    async fn edit_dest(&self, service: &ServiceKey, dest: &Destination) -> Result<(), IpvsError> {
        self.ack(request::edit_dest(service, dest)).await
    }

    async fn del_dest(&self, service: &ServiceKey, dest: &DestinationKey) -> Result<(), IpvsError> {
        self.ack(request::del_dest(service, dest)).await
    }

    async fn flush(&self) -> Result<(), IpvsError> {
        self.ack(request::flush()).await
    }

    async fn zero(&self, service: Option<&ServiceKey>) -> Result<(), IpvsError> {
        self.ack(request::zero(service)).await
    }

    async fn timeouts(&self) -> Result<Timeouts, IpvsError> {
        let replies = self.request(&request::get_timeouts(), false).await?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Protocol("no GET_CONFIG reply".into()))?;
        Ok(Timeouts::from_message(m))
    }

    async fn set_timeouts(&self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        self.ack(request::set_timeouts(timeouts)?).await
    }

    async fn daemons(&self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.request(&request::get_daemons(), true)
            .await?
            .iter()
            .map(|m| request::read_daemon(m).map_err(IpvsError::from))
            .collect()
    }

    async fn start_daemon(&self, daemon: &SyncDaemon) -> Result<(), IpvsError> {
        self.ack(request::start_daemon(daemon)?).await
    }

    /// The kernel sends no acknowledgement at all when the stopped thread had not run
    /// yet (`kthread_stop` returns `-EINTR`, which `netlink_rcv_skb` never acknowledges;
    /// seen on Linux 6.1 when a daemon is stopped right after it was started). So the
    /// ACK is awaited for at most [`STOP_DAEMON_ACK_WAIT`]; without one, the daemon
    /// list decides: the daemon gone is success, still there is a timeout.
    async fn stop_daemon(&self, state: SyncState) -> Result<(), IpvsError> {
        let wait = self.config.request_timeout.min(STOP_DAEMON_ACK_WAIT);
        match self
            .request_within(&request::stop_daemon(state), false, wait)
            .await
        {
            Err(IpvsError::Timeout(_)) => {
                if self.daemons().await?.iter().any(|d| d.state == state) {
                    Err(IpvsError::Timeout(wait))
                } else {
                    Ok(())
                }
            }
            r => r.map(|_| ()),
        }
    }

    async fn info(&self) -> Result<Info, IpvsError> {
        let replies = self.request(&request::get_info(), false).await?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Protocol("no GET_INFO reply".into()))?;
        Ok(Info::from_message(m)?)
    }
}

//! The runtime driver: runs any [`Endpoint`] over an async [`PacketIo`] on tokio.
//!
//! One loop per endpoint:
//!
//! ```text
//! loop {
//!     if deadline <= now {                                   // checked by us, not by tokio
//!         while a packet is already queued (at most RECV_BURST) { handle_packet(now) }
//!         handle_timeout(now)
//!     }
//!     select! { packet => handle_packet, sleep_until(deadline) => handle_timeout, command }
//!     drain poll_transmit → io.send, poll_event → event stream
//! }
//! ```
//!
//! When the loop wakes late (a stall of the process or the machine) with deadlines due
//! *and* packets waiting, it first takes the packets that are already queued, then fires
//! the deadlines: a packet that arrived before the stall ended must not be outrun by the
//! timeout it would have cancelled (a BFD detection timer, a VRRP Master_Down timer), or a
//! stall turns into false failure detections. Those packets are handled with the current
//! time. At most [`RECV_BURST`] are taken before the deadlines fire, so a flood of packets
//! cannot hold timers back.
//!
//! Each pass fires only the deadlines due when it began. Deadlines that come due while the
//! endpoint works wait for the next pass, after the packets that arrived meanwhile, so an
//! endpoint that runs near a core's capacity (thousands of BFD sessions) alternates between
//! its timers and its socket instead of catching up on timers alone while its peers'
//! packets queue.
//!
//! How the driver sleeps until a deadline is a choice ([`Timers`]): tokio's timer wheel
//! by default (a millisecond granularity, so deadlines fire one to two milliseconds
//! late, and tokio's paused test clock works), a Linux timerfd ([`Timers::TimerFd`], a
//! fraction of a millisecond without polling; for VRRP's Master_Down_Interval, and, with
//! deadlines that fall close together coalesced into one wake-up, for thousands of BFD
//! sessions), or, where there is no timerfd, yielding through the last milliseconds
//! ([`Timers::Spin`]).
//!
//! The driver spawns nothing: [`Driver::run`] is a future the application awaits or spawns
//! itself. Commands go in through a cloneable [`DriverHandle`]; events come out, in order,
//! through an [`EventStream`]. The driver compares the clock with the endpoint's deadline
//! itself, so a sleep that tokio completes late (or a deadline already in the past) still
//! fires `handle_timeout` with the real `now`.
//!
//! [`memory_pair`] gives two connected in-memory [`PacketIo`]s for tests.
//!
//! # Example
//!
//! ```
//! # use std::collections::VecDeque;
//! # use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
//! # #[derive(Default)]
//! # struct Echo { out: VecDeque<(Transmit, Vec<u8>)>, heard: VecDeque<usize> }
//! # impl Endpoint for Echo {
//! #     type Command = ();
//! #     type Event = usize;
//! #     fn handle_packet(&mut self, _now: Instant, _meta: &RecvMeta, payload: &[u8]) {
//! #         self.heard.push_back(payload.len());
//! #     }
//! #     fn handle_command(&mut self, _now: Instant, _c: ()) {}
//! #     fn handle_timeout(&mut self, _now: Instant) {}
//! #     fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<Transmit> { None }
//! #     fn poll_event(&mut self) -> Option<usize> { self.heard.pop_front() }
//! #     fn poll_timeout(&self) -> Option<Instant> { None }
//! # }
//! use std::net::{IpAddr, Ipv4Addr};
//! use ha_core::driver::{memory_pair, Driver, DriverEvent, PacketIo};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let a = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
//! let b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
//! let (io, mut peer) = memory_pair(a, b);
//! let (driver, handle, mut events) = Driver::new(Echo::default(), io);
//! let task = tokio::spawn(driver.run());
//! peer.send(&ha_core::Transmit { destination: a, destination_port: None, source: None,
//!     source_port: None, interface: None, ttl: 255 }, b"ping").await.unwrap();
//! assert!(matches!(events.recv().await, Some(DriverEvent::Endpoint(4))));
//! handle.stop().await;
//! let _echo: Echo = task.await.unwrap().unwrap();
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::{Cast, Endpoint, IfIndex, Instant, RecvMeta, Transmit};

#[cfg(target_os = "linux")]
mod timerfd;

/// How close to a deadline [`Timers::Spin`] stops sleeping and starts yielding: more than
/// tokio's timer wheel wakes late (up to about two milliseconds: it rounds the deadline
/// up to its next millisecond tick, and its park timeout up to a millisecond again).
pub const PRECISE_MARGIN: Duration = Duration::from_millis(3);

/// The granularity of tokio's timer wheel ([`Timers::Tokio`]): every sleep is rounded up
/// to the next millisecond tick. (The driver then wakes up to two milliseconds late: see
/// [`Timers::expected_lateness`].)
pub const TIMER_GRANULARITY: Duration = Duration::from_millis(1);

/// How long after its deadline a Linux timerfd wakes the driver on a machine that runs
/// it on time, with margin: under 0.1 ms at the median and 0.2 ms at the 99th percentile
/// on an idle machine (`timer_lateness` in BENCHMARKS.md); longer waits are the
/// scheduler's. Part of [`Timers::expected_lateness`].
pub const TIMERFD_WAKE_LATENCY: Duration = Duration::from_micros(250);

/// The coalescing window of [`Timers::precise_many`]: thousands of deadlines a second
/// cost at most one wake-up per window. Each wake-up of a busy endpoint costs more than
/// its deadlines' work (system calls, and the peer woken for each burst of packets), so
/// the window trades CPU against how late deadlines may fire.
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(1);

/// How the driver waits for the endpoint's next deadline ([`Driver::set_timers`]).
///
/// Whatever the choice, the driver compares the clock with the deadline itself, so a
/// deadline is never fired early, and one fired late is fired with the real `now`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Timers {
    /// tokio's timer wheel: one millisecond granularity, sleeps rounded up, so deadlines
    /// fire one to two milliseconds late. Works under tokio's paused test clock. The
    /// default.
    #[default]
    Tokio,
    /// tokio's timer until [`PRECISE_MARGIN`] before the deadline, then yielding to the
    /// runtime until it is reached: fires within microseconds, at the cost of up to
    /// [`PRECISE_MARGIN`] of polling per deadline. For few deadlines specified tightly
    /// where there is no timerfd ([`Timers::TimerFd`] is as precise without the polling).
    /// Needs a clock that advances by itself (not tokio's paused test clock).
    Spin,
    /// A Linux timerfd (`CLOCK_MONOTONIC`): the kernel wakes the driver within tens of
    /// microseconds of the deadline, without polling. Deadlines are fired no sooner than
    /// `coalesce` after the previous pass that fired any, so deadlines that fall close
    /// together (thousands of BFD sessions) share one wake-up, at most one per
    /// `coalesce`, while a lone deadline fires on time. Linux only; needs a clock that
    /// advances by itself.
    TimerFd {
        /// The shortest time between two passes that fire deadlines.
        coalesce: Duration,
    },
}

impl Timers {
    /// A timerfd with the [`DEFAULT_COALESCE`] window: for endpoints with many deadlines
    /// and hard upper bounds on their intervals (BFD).
    pub const fn precise_many() -> Timers {
        Timers::TimerFd {
            coalesce: DEFAULT_COALESCE,
        }
    }

    /// How late this choice fires a deadline on a machine that runs the driver on time.
    /// An endpoint with a hard upper bound on an interval can draw its deadlines this much
    /// earlier (BFD: `ha_bfd::Engine::set_timer_slack`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ha_core::driver::Timers;
    /// assert_eq!(Timers::Tokio.expected_lateness(), Duration::from_millis(2));
    /// assert_eq!(Timers::precise_many().expected_lateness(), Duration::from_micros(1250));
    /// ```
    pub fn expected_lateness(&self) -> Duration {
        match self {
            // The wheel rounds the deadline up to its next tick, and the runtime's park
            // timeout is rounded up to a millisecond again: measured up to 2.1 ms late
            // on an idle machine (median 1.15 ms).
            Timers::Tokio => 2 * TIMER_GRANULARITY,
            Timers::Spin => Duration::ZERO,
            Timers::TimerFd { coalesce } => *coalesce + TIMERFD_WAKE_LATENCY,
        }
    }
}

/// The largest packet the driver receives.
pub const MAX_PACKET: usize = 65_535;

/// How many already-queued packets the driver takes, when it finds deadlines due, before it
/// fires them (see the [module documentation](self)). Bounds how long a flood of packets
/// can hold timers back: a few milliseconds of receive work at most.
pub const RECV_BURST: usize = 1024;

/// How many receive errors in a row end [`Driver::run`]: a socket that keeps failing is
/// broken, and spinning on it would burn a core.
pub const MAX_CONSECUTIVE_RECV_ERRORS: u32 = 100;

/// Asynchronous packet I/O for one endpoint: a raw socket, a UDP socket, or a test double.
///
/// `recv` must be cancel-safe (dropping its future must not lose a packet that was already
/// taken from the socket), as tokio's `UdpSocket::recv_from` is: the driver drops it
/// whenever a timer or a command wins the race, and when it polls it once, without
/// waiting, to take the packets already queued before it fires due deadlines.
pub trait PacketIo: Send {
    /// Receives one packet into `buf`, returning its length and metadata.
    fn recv(
        &mut self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, RecvMeta)>> + Send;

    /// Sends one packet.
    fn send(
        &mut self,
        transmit: &Transmit,
        payload: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;
}

/// Maps tokio's clock onto [`Instant`]s counted from an epoch.
///
/// Several drivers that must agree on time share one `Clock` (it is `Copy`).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        Clock {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// A clock with a given epoch.
    pub fn with_epoch(epoch: tokio::time::Instant) -> Self {
        Clock { epoch }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        Instant::from_duration(tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }

    /// The tokio instant for `at`.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.epoch + at.since_epoch()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// What the driver reports on its [`EventStream`].
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriverEvent<Ev> {
    /// An event from the endpoint.
    Endpoint(Ev),
    /// A packet could not be sent; the endpoint carries on (protocols tolerate loss).
    SendFailed {
        /// What was being sent.
        transmit: Transmit,
        /// The OS error.
        error: String,
    },
    /// Receiving failed; the driver retries.
    RecvFailed {
        /// The OS error.
        error: String,
    },
    /// The driver noticed its timer fired late (by more than a millisecond).
    LateTimer {
        /// How late.
        #[serde(with = "duration_micros")]
        late: Duration,
    },
    /// The [`Timers::TimerFd`] timer failed; the driver carries on with
    /// [`Timers::Tokio`].
    TimerFailed {
        /// The OS error.
        error: String,
    },
}

impl<Ev> DriverEvent<Ev> {
    /// The endpoint's event as `Ok`, or the driver's own report as `Err`. A report carries
    /// no endpoint event, so it comes back as a `DriverEvent` of whichever event type the
    /// caller needs, for passing it on.
    ///
    /// ```
    /// use ha_core::driver::DriverEvent;
    ///
    /// let report: DriverEvent<u8> = DriverEvent::RecvFailed { error: "EIO".into() };
    /// let passed_on: Result<u8, DriverEvent<()>> = report.into_endpoint();
    /// assert_eq!(passed_on, Err(DriverEvent::RecvFailed { error: "EIO".into() }));
    /// assert_eq!(DriverEvent::Endpoint(7u8).into_endpoint::<()>(), Ok(7));
    /// ```
    pub fn into_endpoint<T>(self) -> Result<Ev, DriverEvent<T>> {
        Err(match self {
            DriverEvent::Endpoint(event) => return Ok(event),
            DriverEvent::SendFailed { transmit, error } => {
                DriverEvent::SendFailed { transmit, error }
            }
            DriverEvent::RecvFailed { error } => DriverEvent::RecvFailed { error },
            DriverEvent::LateTimer { late } => DriverEvent::LateTimer { late },
            DriverEvent::TimerFailed { error } => DriverEvent::TimerFailed { error },
        })
    }
}

mod duration_micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// Why [`Driver::run`] ended with an error.
#[derive(Debug, Error)]
pub enum DriverError {
    /// The packet I/O failed [`MAX_CONSECUTIVE_RECV_ERRORS`] times in a row.
    #[error("packet receive keeps failing: {0}")]
    Recv(#[source] io::Error),
}

enum Control<C> {
    Command(C),
    Stop,
}

/// Sends commands to a running [`Driver`]. Cloneable; dropping every handle does not stop
/// the driver (use [`DriverHandle::stop`]).
pub struct DriverHandle<C> {
    tx: mpsc::UnboundedSender<Control<C>>,
}

impl<C> Clone for DriverHandle<C> {
    fn clone(&self) -> Self {
        DriverHandle {
            tx: self.tx.clone(),
        }
    }
}

impl<C> fmt::Debug for DriverHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverHandle")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

/// The driver has stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
#[error("the driver has stopped")]
pub struct DriverStopped;

impl<C> DriverHandle<C> {
    /// Queues a command; commands are applied in the order sent.
    pub fn command(&self, command: C) -> Result<(), DriverStopped> {
        self.tx
            .send(Control::Command(command))
            .map_err(|_| DriverStopped)
    }

    /// Asks the driver to stop after the commands queued before, and waits until it has.
    /// [`Driver::run`] then returns the endpoint.
    pub async fn stop(&self) {
        if self.tx.send(Control::Stop).is_ok() {
            self.tx.closed().await;
        }
    }
}

/// The ordered stream of [`DriverEvent`]s. Unbounded, so a slow reader never delays the
/// protocol; events that nobody reads are dropped with the stream.
pub type EventStream<Ev> = mpsc::UnboundedReceiver<DriverEvent<Ev>>;

/// Runs one endpoint over one [`PacketIo`]. See the [module documentation](self).
pub struct Driver<E: Endpoint, Io> {
    endpoint: E,
    io: Io,
    clock: Clock,
    control: mpsc::UnboundedReceiver<Control<E::Command>>,
    events: mpsc::UnboundedSender<DriverEvent<E::Event>>,
    timers: Timers,
    /// The timer of [`Timers::TimerFd`].
    timerfd: Option<PreciseTimer>,
    /// When the last pass that fired deadlines began.
    last_fired: Option<Instant>,
}

impl<E, Io> Driver<E, Io>
where
    E: Endpoint + Send,
    E::Command: Send,
    E::Event: Send,
    Io: PacketIo,
{
    /// A driver with its own [`Clock`] starting now.
    pub fn new(endpoint: E, io: Io) -> (Self, DriverHandle<E::Command>, EventStream<E::Event>) {
        Self::with_clock(endpoint, io, Clock::new())
    }

    /// A driver on a shared clock.
    pub fn with_clock(
        endpoint: E,
        io: Io,
        clock: Clock,
    ) -> (Self, DriverHandle<E::Command>, EventStream<E::Event>) {
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            endpoint,
            io,
            clock,
            control: ctl_rx,
            events: ev_tx,
            timers: Timers::Tokio,
            timerfd: None,
            last_fired: None,
        };
        (driver, DriverHandle { tx: ctl_tx }, ev_rx)
    }

    /// [`Timers::Spin`] when `precise`, else [`Timers::Tokio`]: deadlines within
    /// microseconds instead of up to two milliseconds late, for protocols with few
    /// deadlines whose timing is specified tightly, where [`Timers::TimerFd`] is not
    /// available.
    pub fn set_precise_timers(&mut self, precise: bool) {
        self.timers = if precise { Timers::Spin } else { Timers::Tokio };
        self.timerfd = None;
    }

    /// Chooses how the driver waits for deadlines (default [`Timers::Tokio`]).
    ///
    /// [`Timers::TimerFd`] opens its timerfd here, so this must be called inside a tokio
    /// runtime with I/O enabled; it fails if the timerfd cannot be created or registered,
    /// and on systems other than Linux (`ErrorKind::Unsupported`). On failure the driver
    /// keeps its previous choice.
    ///
    /// ```
    /// # use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
    /// # struct Quiet;
    /// # impl Endpoint for Quiet {
    /// #     type Command = ();
    /// #     type Event = ();
    /// #     fn handle_packet(&mut self, _: Instant, _: &RecvMeta, _: &[u8]) {}
    /// #     fn handle_command(&mut self, _: Instant, _: ()) {}
    /// #     fn handle_timeout(&mut self, _: Instant) {}
    /// #     fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<Transmit> { None }
    /// #     fn poll_event(&mut self) -> Option<()> { None }
    /// #     fn poll_timeout(&self) -> Option<Instant> { None }
    /// # }
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use ha_core::driver::{memory_pair, Driver, Timers};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (io, _peer) = memory_pair(
    ///     IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
    ///     IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
    /// );
    /// let (mut driver, _handle, _events) = Driver::new(Quiet, io);
    /// driver.set_timers(Timers::precise_many())?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_timers(&mut self, timers: Timers) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            self.timerfd = match timers {
                Timers::TimerFd { .. } => Some(PreciseTimer::new()?),
                _ => None,
            };
        }
        #[cfg(not(target_os = "linux"))]
        {
            if matches!(timers, Timers::TimerFd { .. }) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "timerfd timers need Linux",
                ));
            }
            self.timerfd = None;
        }
        self.timers = timers;
        Ok(())
    }

    /// How the driver waits for deadlines.
    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// The endpoint, to inspect before [`Driver::run`].
    pub fn endpoint(&self) -> &E {
        &self.endpoint
    }

    /// The endpoint, to configure before [`Driver::run`] (e.g. to match the
    /// [`Timers`] chosen).
    pub fn endpoint_mut(&mut self) -> &mut E {
        &mut self.endpoint
    }

    /// The clock this driver reads.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Runs until [`DriverHandle::stop`], then returns the endpoint (for inspection, or to
    /// hand over). Outputs produced before the stop are sent first.
    pub async fn run(mut self) -> Result<E, DriverError> {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut tx_buf = Vec::with_capacity(2048);
        let mut recv_errors = 0u32;
        let mut commands_open = true;
        self.flush(&mut tx_buf).await;
        loop {
            // Fire due deadlines ourselves: tokio may have woken us late, or the deadline
            // may already be in the past.
            let mut now = self.clock.now();
            if self.endpoint.poll_timeout().is_some_and(|d| d <= now) {
                // But first take the packets that are already waiting: after a stall they
                // may be the very ones that cancel these deadlines.
                if self.take_queued(&mut buf, &mut recv_errors).await? > 0 {
                    self.flush(&mut tx_buf).await;
                    now = self.clock.now();
                }
            }
            // Fire what is due at `now`, and no more: deadlines that come due while these
            // are handled wait for the next pass, after the packets that arrived
            // meanwhile. Rereading the clock here would let a busy endpoint (thousands of
            // BFD sessions near a core's capacity) stay in this loop for tens of
            // milliseconds without receiving, and its detection timers would expire with
            // the peers' packets queued on the socket.
            while let Some(deadline) = self.endpoint.poll_timeout().filter(|d| *d <= now) {
                let late = now - deadline;
                if late > Duration::from_millis(1) {
                    let _ = self.events.send(DriverEvent::LateTimer { late });
                }
                self.endpoint.handle_timeout(now);
                self.last_fired = Some(now);
                self.flush(&mut tx_buf).await;
                if self.endpoint.poll_timeout() == Some(deadline) {
                    // The endpoint did not move its deadline: avoid a hot loop by waiting
                    // for the clock to advance at least once.
                    break;
                }
            }
            let deadline = self.endpoint.poll_timeout();
            let spin = self.timers == Timers::Spin;
            if spin {
                if let Some(d) = deadline.filter(|d| *d > now && *d - now <= PRECISE_MARGIN) {
                    while self.clock.now() < d {
                        tokio::task::yield_now().await;
                    }
                    continue;
                }
            }
            let sleep_until = match deadline {
                Some(d) if d > now && spin => self.clock.to_tokio(d - PRECISE_MARGIN),
                Some(d) if d > now => self.clock.to_tokio(self.wake_time(d)),
                Some(_) => tokio::time::Instant::now() + Duration::from_micros(100),
                None => tokio::time::Instant::now() + Duration::from_secs(3600),
            };
            tokio::select! {
                biased;
                control = self.control.recv(), if commands_open => match control {
                    Some(Control::Command(command)) => {
                        self.endpoint.handle_command(self.clock.now(), command);
                    }
                    Some(Control::Stop) => {
                        self.flush(&mut tx_buf).await;
                        return Ok(self.endpoint);
                    }
                    None => commands_open = false,
                },
                received = self.io.recv(&mut buf) => {
                    if !self.on_received(received, &buf, &mut recv_errors)? {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                slept = sleep(self.timerfd.as_mut(), sleep_until) => {
                    if let Err(error) = slept {
                        self.timer_failed(&error);
                    }
                }
            }
            self.flush(&mut tx_buf).await;
        }
    }

    /// When to wake for deadline `d`: `d` itself, or with [`Timers::TimerFd`], no sooner
    /// than `coalesce` after the last pass that fired deadlines.
    fn wake_time(&self, d: Instant) -> Instant {
        match (self.timers, self.last_fired) {
            (Timers::TimerFd { coalesce }, Some(last)) => d.max(last + coalesce),
            _ => d,
        }
    }

    /// The timerfd failed (it should not: only a broken descriptor can): fall back to
    /// tokio's timers for the rest of the run, and say so.
    fn timer_failed(&mut self, error: &io::Error) {
        self.timerfd = None;
        self.timers = Timers::Tokio;
        let _ = self.events.send(DriverEvent::TimerFailed {
            error: error.to_string(),
        });
    }

    /// Hands the endpoint the packets that can be received without waiting, at most
    /// [`RECV_BURST`], and returns how many it took. Stops at the first receive error
    /// (reported, and counted towards [`MAX_CONSECUTIVE_RECV_ERRORS`]).
    async fn take_queued(
        &mut self,
        buf: &mut [u8],
        recv_errors: &mut u32,
    ) -> Result<usize, DriverError> {
        for taken in 0..RECV_BURST {
            // `recv` is polled once: ready if a packet is queued, otherwise dropped, which
            // its cancel safety allows.
            let received = tokio::select! {
                biased;
                received = self.io.recv(buf) => received,
                () = std::future::ready(()) => return Ok(taken),
            };
            if !self.on_received(received, buf, recv_errors)? {
                return Ok(taken);
            }
        }
        Ok(RECV_BURST)
    }

    /// Hands a received packet to the endpoint (stamped with the current time) and returns
    /// `true`, or reports a receive error and returns `false`; ends the run after
    /// [`MAX_CONSECUTIVE_RECV_ERRORS`] errors in a row.
    fn on_received(
        &mut self,
        received: io::Result<(usize, RecvMeta)>,
        buf: &[u8],
        recv_errors: &mut u32,
    ) -> Result<bool, DriverError> {
        match received {
            Ok((len, meta)) => {
                *recv_errors = 0;
                let payload = buf.get(..len).unwrap_or(buf);
                self.endpoint
                    .handle_packet(self.clock.now(), &meta, payload);
                Ok(true)
            }
            Err(error) => {
                *recv_errors += 1;
                if *recv_errors >= MAX_CONSECUTIVE_RECV_ERRORS {
                    return Err(DriverError::Recv(error));
                }
                let _ = self.events.send(DriverEvent::RecvFailed {
                    error: error.to_string(),
                });
                Ok(false)
            }
        }
    }

    async fn flush(&mut self, tx_buf: &mut Vec<u8>) {
        loop {
            tx_buf.clear();
            let now = self.clock.now();
            let Some(transmit) = self.endpoint.poll_transmit(now, tx_buf) else {
                break;
            };
            if let Err(error) = self.io.send(&transmit, tx_buf).await {
                let _ = self.events.send(DriverEvent::SendFailed {
                    transmit,
                    error: error.to_string(),
                });
            }
        }
        while let Some(event) = self.endpoint.poll_event() {
            let _ = self.events.send(DriverEvent::Endpoint(event));
        }
    }
}

#[cfg(target_os = "linux")]
use timerfd::TimerFd as PreciseTimer;

/// Stands in for the timerfd where there is none: never constructed.
#[cfg(not(target_os = "linux"))]
enum NoTimerFd {}

#[cfg(not(target_os = "linux"))]
use NoTimerFd as PreciseTimer;

/// Sleeps until `at` on the timerfd when there is one, else on tokio's timer.
async fn sleep(timer: Option<&mut PreciseTimer>, at: tokio::time::Instant) -> io::Result<()> {
    match timer {
        #[cfg(target_os = "linux")]
        Some(timer) => timer.sleep_until(at).await,
        #[cfg(not(target_os = "linux"))]
        Some(never) => match *never {},
        None => {
            tokio::time::sleep_until(at).await;
            Ok(())
        }
    }
}

impl<E: Endpoint + fmt::Debug, Io> fmt::Debug for Driver<E, Io> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("endpoint", &self.endpoint)
            .field("clock", &self.clock)
            .finish()
    }
}

/// One end of an in-memory packet link made by [`memory_pair`].
#[derive(Debug)]
pub struct MemoryIo {
    local: IpAddr,
    peer: IpAddr,
    tx: mpsc::UnboundedSender<(RecvMeta, Vec<u8>)>,
    rx: mpsc::UnboundedReceiver<(RecvMeta, Vec<u8>)>,
}

/// Two connected in-memory [`PacketIo`]s with addresses `a` and `b`. Everything one sends
/// (to any destination) the other receives, with interface index 1 and the transmit's TTL.
pub fn memory_pair(a: IpAddr, b: IpAddr) -> (MemoryIo, MemoryIo) {
    let (tx_ab, rx_ab) = mpsc::unbounded_channel();
    let (tx_ba, rx_ba) = mpsc::unbounded_channel();
    (
        MemoryIo {
            local: a,
            peer: b,
            tx: tx_ab,
            rx: rx_ba,
        },
        MemoryIo {
            local: b,
            peer: a,
            tx: tx_ba,
            rx: rx_ab,
        },
    )
}

impl MemoryIo {
    /// This end's address.
    pub fn local(&self) -> IpAddr {
        self.local
    }

    /// The other end's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }
}

impl PacketIo for MemoryIo {
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, RecvMeta)> {
        let Some((meta, payload)) = self.rx.recv().await else {
            // The peer is gone: behave like a socket that never receives again.
            return std::future::pending().await;
        };
        let len = payload.len().min(buf.len());
        buf[..len].copy_from_slice(&payload[..len]);
        Ok((len, meta))
    }

    async fn send(&mut self, transmit: &Transmit, payload: &[u8]) -> io::Result<()> {
        let meta = RecvMeta {
            source: transmit.source.unwrap_or(self.local),
            destination: transmit.destination,
            source_port: transmit.source_port,
            destination_port: transmit.destination_port,
            interface: IfIndex(1),
            ttl: transmit.ttl,
            cast: Cast::of(transmit.destination),
        };
        self.tx
            .send((meta, payload.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "memory peer dropped"))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// What the watchdog endpoint saw, in order.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Seen {
        Packet { session: u8, at: Instant },
        Down { session: u8, at: Instant },
    }

    /// Sessions that each expect a packet (payload: the session's number) within
    /// `detection`, like BFD's detection timer, and go Down when it expires.
    struct Watchdogs {
        detection: Duration,
        deadlines: Vec<Option<Instant>>,
        journal: Vec<Seen>,
    }

    impl Watchdogs {
        fn new(sessions: usize, detection: Duration) -> Self {
            Watchdogs {
                detection,
                deadlines: vec![Some(Instant::ZERO + detection); sessions],
                journal: Vec::new(),
            }
        }
    }

    impl Endpoint for Watchdogs {
        type Command = ();
        type Event = ();

        fn handle_packet(&mut self, now: Instant, _meta: &RecvMeta, payload: &[u8]) {
            let Some(&session) = payload.first() else {
                return;
            };
            if let Some(deadline) = self.deadlines.get_mut(usize::from(session)) {
                self.journal.push(Seen::Packet { session, at: now });
                *deadline = Some(now + self.detection);
            }
        }

        fn handle_command(&mut self, _now: Instant, _command: ()) {}

        fn handle_timeout(&mut self, now: Instant) {
            for (session, deadline) in self.deadlines.iter_mut().enumerate() {
                if deadline.is_some_and(|d| d <= now) {
                    *deadline = None;
                    let session = u8::try_from(session).unwrap_or(u8::MAX);
                    self.journal.push(Seen::Down { session, at: now });
                }
            }
        }

        fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<Transmit> {
            None
        }

        fn poll_event(&mut self) -> Option<()> {
            None
        }

        fn poll_timeout(&self) -> Option<Instant> {
            self.deadlines.iter().flatten().min().copied()
        }
    }

    /// One watchdog session plus work that comes due faster than it can be done: from
    /// 10 ms on, a tick every 100 µs, 1,500 of them, each taking 120 µs of CPU. Like a
    /// BFD engine with more sessions than the core keeps up with for a while.
    struct Overloaded {
        watchdogs: Watchdogs,
        next_tick: Option<Instant>,
        ticks_left: u32,
    }

    impl Endpoint for Overloaded {
        type Command = ();
        type Event = ();

        fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]) {
            self.watchdogs.handle_packet(now, meta, payload);
        }

        fn handle_command(&mut self, _now: Instant, _command: ()) {}

        fn handle_timeout(&mut self, now: Instant) {
            self.watchdogs.handle_timeout(now);
            while let Some(tick) = self.next_tick.filter(|t| *t <= now) {
                let start = std::time::Instant::now();
                while start.elapsed() < Duration::from_micros(120) {
                    std::hint::spin_loop();
                }
                self.ticks_left -= 1;
                self.next_tick = (self.ticks_left > 0).then(|| tick + Duration::from_micros(100));
            }
        }

        fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<Transmit> {
            None
        }

        fn poll_event(&mut self) -> Option<()> {
            None
        }

        fn poll_timeout(&self) -> Option<Instant> {
            [self.watchdogs.poll_timeout(), self.next_tick]
                .into_iter()
                .flatten()
                .min()
        }
    }

    fn pair() -> (MemoryIo, MemoryIo) {
        memory_pair(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    }

    async fn send_for(peer: &mut MemoryIo, session: u8) {
        let transmit = Transmit {
            destination: peer.peer(),
            destination_port: None,
            source: None,
            source_port: None,
            interface: None,
            ttl: 255,
        };
        peer.send(&transmit, &[session]).await.unwrap();
    }

    /// A stall: the driver gets no CPU while both sessions' packets arrive and their
    /// deadlines pass. On waking it must take both packets before it fires the deadlines,
    /// whichever the runtime woke it for; otherwise the second session goes falsely Down.
    #[tokio::test(start_paused = true)]
    async fn packets_queued_during_a_stall_are_handled_before_due_timeouts() {
        let (io, mut peer) = pair();
        let detection = Duration::from_millis(30);
        let (driver, handle, _events) =
            Driver::with_clock(Watchdogs::new(2, detection), io, Clock::new());
        let task = tokio::spawn(driver.run());
        // Let the driver start and go to sleep until the 30 ms deadline.
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Both packets arrive at 5 ms, then the clock jumps to 50 ms before the driver runs
        // again (this task never yields in between).
        send_for(&mut peer, 0).await;
        send_for(&mut peer, 1).await;
        tokio::time::advance(Duration::from_millis(45)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        handle.stop().await;
        let watchdogs = task.await.unwrap().unwrap();
        let at = Instant::from_millis(50);
        assert_eq!(
            watchdogs.journal,
            vec![
                Seen::Packet { session: 0, at },
                Seen::Packet { session: 1, at },
            ]
        );
        // The packets were stamped with the time they were handled.
        assert_eq!(watchdogs.poll_timeout(), Some(at + detection));
    }

    /// A packet that is not there does not save its session: the deadline still fires at
    /// the end of the stall, and a flood of queued packets for another session delays it
    /// by at most RECV_BURST packets.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_queued_packets_does_not_hold_due_timeouts_back() {
        let (io, mut peer) = pair();
        let detection = Duration::from_millis(30);
        let (driver, handle, _events) =
            Driver::with_clock(Watchdogs::new(2, detection), io, Clock::new());
        let task = tokio::spawn(driver.run());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let flood = RECV_BURST * 2 + 10;
        for _ in 0..flood {
            send_for(&mut peer, 0).await;
        }
        tokio::time::advance(Duration::from_millis(45)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        handle.stop().await;
        let watchdogs = task.await.unwrap().unwrap();
        let journal = &watchdogs.journal;
        let down = journal
            .iter()
            .position(|s| matches!(s, Seen::Down { .. }))
            .expect("session 1 went Down");
        assert_eq!(
            journal[down],
            Seen::Down {
                session: 1,
                at: Instant::from_millis(50)
            }
        );
        // One packet from the wake-up itself, then at most one burst before the timers.
        assert!(down <= RECV_BURST + 1, "Down after {down} packets");
        // Every packet was handled in the end, and the flooded session stayed Up.
        assert_eq!(journal.len(), flood + 1);
        assert!(
            journal
                .iter()
                .all(|s| !matches!(s, Seen::Down { session: 0, .. }))
        );
    }

    /// Timers that come due faster than they can be handled must not keep the driver from
    /// its socket: it fires what is due when it looks, then takes the packets that came
    /// meanwhile, and only then looks again. Before, it kept firing whatever had come due
    /// in the meantime, so for as long as the overload lasted (here 180 ms of work in
    /// 150 ms) it never received, and a peer that sent every 5 ms went Down. Runs in real
    /// time: the overload is CPU time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overdue_timers_do_not_starve_the_receive_path() {
        let (io, mut peer) = pair();
        let endpoint = Overloaded {
            watchdogs: Watchdogs::new(1, Duration::from_millis(100)),
            next_tick: Some(Instant::from_millis(10)),
            ticks_left: 1_500,
        };
        let (driver, handle, _events) = Driver::with_clock(endpoint, io, Clock::new());
        let task = tokio::spawn(driver.run());
        for _ in 0..60 {
            send_for(&mut peer, 0).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        handle.stop().await;
        let endpoint = task.await.unwrap().unwrap();
        assert_eq!(endpoint.ticks_left, 0, "the work was done");
        let downs: Vec<_> = endpoint
            .watchdogs
            .journal
            .iter()
            .filter(|s| matches!(s, Seen::Down { .. }))
            .collect();
        assert!(downs.is_empty(), "false Down: {downs:?}");
    }
}

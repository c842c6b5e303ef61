//! A one-shot Linux timerfd registered with tokio's reactor: the kernel's high-resolution
//! timers wake the driver within tens of microseconds of a deadline, where tokio's timer
//! wheel (a millisecond granularity, sleeps rounded up) wakes it one to two milliseconds
//! late.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::unix::AsyncFd;

/// The timerfd and the deadline it is armed for.
pub(super) struct TimerFd {
    fd: AsyncFd<OwnedFd>,
    /// The tokio instant the timer is armed for, so that waiting again for the same
    /// deadline (the driver's loop does, after every packet) costs no system call.
    armed: Option<tokio::time::Instant>,
}

/// Registers the timerfd with tokio's reactor.
///
/// `AsyncFd::new` is deprecated in recent tokio because it cannot check that the
/// descriptor stays open and the same for the `AsyncFd`'s lifetime. Here it does: the
/// `OwnedFd` is moved into the `AsyncFd` and closed only when that is dropped (after
/// tokio deregistered it). The replacement, `AsyncFd::register`, is `unsafe` and missing
/// from the oldest tokio the workspace allows.
#[allow(deprecated)]
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::new(fd)
}

impl TimerFd {
    /// A disarmed timer on `CLOCK_MONOTONIC` (the clock of `std::time::Instant`, and of
    /// tokio's when it is not paused). Needs a tokio runtime with I/O enabled.
    pub(super) fn new() -> io::Result<TimerFd> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(TimerFd {
            fd: register(fd)?,
            armed: None,
        })
    }

    /// Waits until `at`. Cancel-safe: a dropped wait leaves the timer armed for `at`, and
    /// the next wait for the same instant picks it up.
    pub(super) async fn sleep_until(&mut self, at: tokio::time::Instant) -> io::Result<()> {
        if self.armed != Some(at) {
            // A relative timer: the instant's clock is CLOCK_MONOTONIC, but its value is
            // opaque. At least a nanosecond, since zero disarms.
            let remaining = at
                .saturating_duration_since(tokio::time::Instant::now())
                .max(Duration::from_nanos(1));
            let spec = Itimerspec {
                it_interval: timespec(Duration::ZERO),
                it_value: timespec(remaining),
            };
            timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
            self.armed = Some(at);
        }
        loop {
            let mut ready = self.fd.readable().await?;
            // The expiry count; its value does not matter, reading it clears readiness.
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(Ok(_)) => {
                    self.armed = None;
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                // Spurious readiness: tokio cleared it; wait again.
                Err(_would_block) => {}
            }
        }
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

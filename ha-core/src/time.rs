//! Virtual-or-real monotonic time as a plain value.
//!
//! Protocol cores never read a clock: every entry point takes `now: Instant`. This
//! [`Instant`] is a count of nanoseconds since an arbitrary epoch chosen by whoever drives
//! the core — the simulator starts at zero, the runtime driver at its own start — so it can
//! be constructed freely, compared, serialized and printed deterministically, unlike
//! `std::time::Instant`.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in monotonic time, in nanoseconds since the driver's epoch.
///
/// Arithmetic saturates instead of panicking: `Instant::ZERO - Duration::from_secs(1)` is
/// `Instant::ZERO`, and `a - b` for `b > a` is `Duration::ZERO`.
///
/// ```
/// use std::time::Duration;
/// use ha_core::Instant;
///
/// let t = Instant::ZERO + Duration::from_millis(1500);
/// assert_eq!(t.since_epoch(), Duration::from_millis(1500));
/// assert_eq!(t.to_string(), "1.500000s");
/// assert_eq!(t - Instant::from_secs(1), Duration::from_millis(500));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The largest representable instant (about 584 years after the epoch).
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant { nanos }
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// An instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    /// An instant `elapsed` after the epoch (saturating at [`Instant::MAX`]).
    pub fn from_duration(elapsed: Duration) -> Self {
        Instant {
            nanos: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self - earlier`, or `None` when `earlier` is later than `self`.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.nanos
            .checked_sub(earlier.nanos)
            .map(Duration::from_nanos)
    }

    /// `self - earlier`, or zero when `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let add = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant {
            nanos: self.nanos.saturating_add(add),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        let sub = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant {
            nanos: self.nanos.saturating_sub(sub),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    /// Seconds with microsecond precision, e.g. `3.180500s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.nanos / 1_000;
        write!(f, "{}.{:06}s", micros / 1_000_000, micros % 1_000_000)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({}ns)", self.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(
            Instant::from_secs(1) - Instant::from_secs(2),
            Duration::ZERO
        );
        assert_eq!(
            Instant::from_secs(1).checked_duration_since(Instant::from_secs(2)),
            None
        );
    }

    #[test]
    fn display_is_fixed_point_seconds() {
        assert_eq!(Instant::from_nanos(3_180_500_999).to_string(), "3.180500s");
        assert_eq!(Instant::ZERO.to_string(), "0.000000s");
    }
}

//! How the thread that runs an engine is scheduled, as data: keepalived's
//! `bfd_rt_priority`, `bfd_priority` and `bfd_cpu_affinity`.
//!
//! BFD at 10 ms intervals is a real-time workload: a detection time of 30 ms leaves no room
//! for a thread that waits behind others for a few milliseconds, and a transmit timer that
//! fires late stretches the gap the peer sees. On a busy machine, give the engine's thread
//! a real-time priority (`SCHED_RR`) or a CPU of its own. `linux::apply_scheduling` (feature
//! `linux`) applies a [`Scheduling`] to the calling thread.
//!
//! ```
//! use ha_bfd::scheduling::{RealtimePriority, Scheduling};
//!
//! let scheduling = Scheduling {
//!     realtime: RealtimePriority::new(50),
//!     ..Scheduling::default()
//! };
//! assert!(!scheduling.is_default());
//! assert_eq!(RealtimePriority::new(100), None);
//! ```

use serde::Serialize;

/// A `SCHED_RR` priority, 1 (lowest) to 99.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub struct RealtimePriority(u8);

impl RealtimePriority {
    /// The priority, if within 1–99.
    pub const fn new(priority: u8) -> Option<RealtimePriority> {
        if priority >= 1 && priority <= 99 {
            Some(RealtimePriority(priority))
        } else {
            None
        }
    }

    /// The priority as a number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A nice value, -20 (most favoured) to 19.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub struct Nice(i8);

impl Nice {
    /// The value, if within -20–19.
    pub const fn new(nice: i8) -> Option<Nice> {
        if nice >= -20 && nice <= 19 {
            Some(Nice(nice))
        } else {
            None
        }
    }

    /// The value as a number.
    pub const fn get(self) -> i8 {
        self.0
    }
}

/// How the engine's thread is scheduled. The default changes nothing.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct Scheduling {
    /// `SCHED_RR` at this priority (`bfd_rt_priority`); needs `CAP_SYS_NICE`.
    pub realtime: Option<RealtimePriority>,
    /// This nice value (`bfd_priority`); lowering it needs `CAP_SYS_NICE`. Ignored by the
    /// kernel while the thread is real-time.
    pub nice: Option<Nice>,
    /// Run only on these CPUs (`bfd_cpu_affinity`); empty: wherever the process may.
    pub cpu_affinity: Vec<usize>,
}

impl Scheduling {
    /// Whether this asks for nothing.
    pub fn is_default(&self) -> bool {
        *self == Scheduling::default()
    }
}

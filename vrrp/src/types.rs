//! Value types with their units and ranges, shared by the codec and the router.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// VRRP protocol version.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Version {
    /// RFC 3768: IPv4 only, advert interval in seconds, optional authentication.
    #[serde(rename = "2")]
    V2,
    /// RFC 5798 / RFC 9568: IPv4 and IPv6, interval in centiseconds.
    #[serde(rename = "3")]
    V3,
}

impl Version {
    /// The 4-bit version field value.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// A virtual router identifier, `1..=255`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Vrid(u8);

/// A value outside its allowed range.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
#[error("{what} {value} is outside {range}")]
pub struct OutOfRange {
    /// What was being built.
    pub what: &'static str,
    /// The rejected value.
    pub value: u64,
    /// The allowed range, for the message.
    pub range: &'static str,
}

impl Vrid {
    /// A checked VRID (0 is reserved).
    pub fn new(v: u8) -> Result<Self, OutOfRange> {
        if v == 0 {
            Err(OutOfRange {
                what: "VRID",
                value: 0,
                range: "1..=255",
            })
        } else {
            Ok(Vrid(v))
        }
    }
    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Vrid {
    type Error = OutOfRange;
    fn try_from(v: u8) -> Result<Self, OutOfRange> {
        Vrid::new(v)
    }
}

impl From<Vrid> for u8 {
    fn from(v: Vrid) -> u8 {
        v.0
    }
}

impl fmt::Display for Vrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A VRRP priority: 255 is the address owner, 0 means "the Master is leaving", 1..=254 are
/// ordinary routers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(pub u8);

impl Priority {
    /// Priority 0: sent by a Master that stops.
    pub const SHUTDOWN: Priority = Priority(0);
    /// Priority 255: the router owns the virtual addresses.
    pub const OWNER: Priority = Priority(255);
    /// keepalived's default.
    pub const DEFAULT: Priority = Priority(100);

    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A duration in centiseconds, the unit of VRRPv3's 12-bit Max Advertise Interval.
///
/// VRRPv2 intervals are whole seconds on the wire; they are held here as multiples of 100
/// so the router computes with one unit.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Centiseconds(pub u16);

impl Centiseconds {
    /// The largest value the v3 field can carry (4095 cs = 40.95 s).
    pub const V3_MAX: Centiseconds = Centiseconds(0x0fff);

    /// From whole seconds (saturating).
    pub fn from_secs(secs: u16) -> Self {
        Centiseconds(secs.saturating_mul(100))
    }

    /// The value in centiseconds.
    pub fn get(self) -> u16 {
        self.0
    }

    /// As a [`Duration`].
    pub fn to_duration(self) -> Duration {
        Duration::from_millis(u64::from(self.0) * 10)
    }

    /// The nearest value not above `d`, saturating at `u16::MAX`.
    pub fn from_duration_floor(d: Duration) -> Self {
        Centiseconds(u16::try_from(d.as_millis() / 10).unwrap_or(u16::MAX))
    }
}

impl fmt::Display for Centiseconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}cs", self.0)
    }
}

//! Per-reason drop counters: every received packet the engine discards is counted under
//! exactly one [`DropReason`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a received packet was discarded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Version is not 1.
    Version,
    /// Truncated, or the Length field (or the authentication length) is inconsistent.
    Length,
    /// Detect Mult is zero.
    ZeroDetectMult,
    /// The Multipoint bit is set.
    Multipoint,
    /// My Discriminator is zero.
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the received State is not Down or AdminDown.
    ZeroYourDiscriminator,
    /// Your Discriminator names no session of this engine.
    UnknownDiscriminator,
    /// Authentication present where none is configured, absent where it is, or of
    /// another type (or an unknown type).
    AuthTypeMismatch,
    /// Unknown key ID, wrong password or wrong digest.
    AuthFailure,
    /// The authentication sequence number is outside the accepted window.
    Sequence,
    /// TTL / hop limit below what the session requires (255 single hop, the configured
    /// minimum multihop).
    Ttl,
    /// Your Discriminator is zero and no session matches the addresses.
    NoSession,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 12] = [
        DropReason::Version,
        DropReason::Length,
        DropReason::ZeroDetectMult,
        DropReason::Multipoint,
        DropReason::ZeroMyDiscriminator,
        DropReason::ZeroYourDiscriminator,
        DropReason::UnknownDiscriminator,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::Sequence,
        DropReason::Ttl,
        DropReason::NoSession,
    ];

    const fn index(self) -> usize {
        match self {
            DropReason::Version => 0,
            DropReason::Length => 1,
            DropReason::ZeroDetectMult => 2,
            DropReason::Multipoint => 3,
            DropReason::ZeroMyDiscriminator => 4,
            DropReason::ZeroYourDiscriminator => 5,
            DropReason::UnknownDiscriminator => 6,
            DropReason::AuthTypeMismatch => 7,
            DropReason::AuthFailure => 8,
            DropReason::Sequence => 9,
            DropReason::Ttl => 10,
            DropReason::NoSession => 11,
        }
    }

    /// A stable snake_case name, e.g. for a metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Version => "version",
            DropReason::Length => "length",
            DropReason::ZeroDetectMult => "zero_detect_mult",
            DropReason::Multipoint => "multipoint",
            DropReason::ZeroMyDiscriminator => "zero_my_discriminator",
            DropReason::ZeroYourDiscriminator => "zero_your_discriminator",
            DropReason::UnknownDiscriminator => "unknown_discriminator",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthFailure => "auth_failure",
            DropReason::Sequence => "sequence",
            DropReason::Ttl => "ttl",
            DropReason::NoSession => "no_session",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A counter per [`DropReason`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct DropCounters {
    counts: [u64; 12],
}

impl DropCounters {
    /// All zero.
    pub const fn new() -> Self {
        DropCounters { counts: [0; 12] }
    }

    /// Counts one drop.
    pub fn record(&mut self, reason: DropReason) {
        let c = &mut self.counts[reason.index()];
        *c = c.saturating_add(1);
    }

    /// The count for one reason.
    pub const fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()]
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }

    /// `(reason, count)` for every reason, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.get(*r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_reason() {
        let mut c = DropCounters::new();
        c.record(DropReason::Ttl);
        c.record(DropReason::Ttl);
        c.record(DropReason::Version);
        assert_eq!(c.get(DropReason::Ttl), 2);
        assert_eq!(c.get(DropReason::Version), 1);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().count(), DropReason::ALL.len());
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}

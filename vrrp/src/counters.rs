//! Why received packets were dropped, and per-reason counters.
//!
//! Every rejection of untrusted input — by the codec ([`crate::packet::DecodeError`]), the
//! IPSEC-AH check ([`crate::ah::AhError`]) or the router's own receive rules — maps to one
//! [`DropReason`], and a [`DropCounters`] counts them. The counters serialize as a map from
//! the snake_case reason name to the count, which is also the label used for metrics.

use serde::{Deserialize, Serialize};

macro_rules! drop_reasons {
    ($( $(#[doc = $doc:literal])* $variant:ident => $field:ident = $name:literal ),+ $(,)?) => {
        /// Why a received VRRP packet was dropped.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
        pub enum DropReason {
            $( $(#[doc = $doc])* #[serde(rename = $name)] $variant, )+
        }

        impl DropReason {
            /// Every reason, in declaration order.
            pub const ALL: &[DropReason] = &[ $( DropReason::$variant, )+ ];

            /// The snake_case name, stable, for metrics labels and logs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( DropReason::$variant => $name, )+
                }
            }
        }

        /// Per-reason drop counters: one `u64` per [`DropReason`], cheap to copy and
        /// serializable (as a map from [`DropReason::as_str`] to the count).
        #[derive(Clone, Default, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct DropCounters {
            $( $(#[doc = $doc])* #[serde(rename = $name)] pub $field: u64, )+
        }

        impl DropCounters {
            fn slot(&mut self, r: DropReason) -> &mut u64 {
                match r {
                    $( DropReason::$variant => &mut self.$field, )+
                }
            }

            /// The count for one reason.
            pub fn get(&self, r: DropReason) -> u64 {
                match r {
                    $( DropReason::$variant => self.$field, )+
                }
            }
        }
    };
}

drop_reasons! {
    /// IPv4 TTL / IPv6 hop limit is not 255 on a multicast advertisement.
    Ttl => ttl = "ttl",
    /// Unknown VRRP version, or not the configured version.
    Version => version = "version",
    /// VRRP type is not 1 (Advertisement).
    Type => type_ = "type",
    /// The packet is shorter or longer than its headers and address count say.
    Length => length = "length",
    /// The address count does not match the configured addresses.
    AddressCount => address_count = "address_count",
    /// The VRRP checksum is wrong.
    Checksum => checksum = "checksum",
    /// Unknown authentication type, or not the configured one.
    AuthType => auth_type = "auth_type",
    /// Authentication failed (wrong password, bad IPSEC-AH ICV or SPI).
    Auth => auth = "auth",
    /// VRID 0, or a VRID this router does not run.
    Vrid => vrid = "vrid",
    /// VRRPv2: the advertisement interval differs from the configured one.
    IntervalMismatch => interval_mismatch = "interval_mismatch",
    /// The advertised addresses differ from the configured ones.
    AddressMismatch => address_mismatch = "address_mismatch",
    /// Address family of the IP header and of the advertisement disagree, or VRRPv2 over IPv6.
    AddressFamily => address_family = "address_family",
    /// IPSEC-AH sequence number not above the last one accepted.
    Replay => replay = "replay",
    /// An interval the protocol cannot use (zero).
    Interval => interval = "interval",
    /// A unicast advertisement from an address that is not a configured peer, or a
    /// multicast one where unicast is configured (and the reverse).
    UnicastPeer => unicast_peer = "unicast_peer",
    /// Our own advertisement looped back to us.
    OwnPacket => own_packet = "own_packet",
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, r: DropReason) {
        let slot = self.slot(r);
        *slot = slot.saturating_add(1);
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        DropReason::ALL
            .iter()
            .fold(0u64, |acc, r| acc.saturating_add(self.get(*r)))
    }

    /// Every reason with its count, in [`DropReason::ALL`] order (zeros included).
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(move |r| (*r, self.get(*r)))
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_get_total_iter() {
        let mut c = DropCounters::default();
        c.count(DropReason::Checksum);
        c.count(DropReason::Checksum);
        c.count(DropReason::Replay);
        assert_eq!(c.get(DropReason::Checksum), 2);
        assert_eq!(c.get(DropReason::Replay), 1);
        assert_eq!(c.get(DropReason::Ttl), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(c.iter().count(), DropReason::ALL.len());
        assert_eq!(c.iter().filter(|(_, n)| *n > 0).count(), 2);
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }

    #[test]
    fn serializes_as_a_map_of_metric_names() {
        let mut c = DropCounters::default();
        c.count(DropReason::Type);
        c.count(DropReason::AddressFamily);
        let v = serde_json::to_value(&c).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(m.len(), DropReason::ALL.len());
        for r in DropReason::ALL {
            assert_eq!(m[r.as_str()], serde_json::json!(c.get(*r)), "{r}");
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
        assert_eq!(m["type"], 1);
        let back: DropCounters = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        // missing keys read as zero, so older snapshots still load
        let partial: DropCounters = serde_json::from_str(r#"{"replay":4}"#).unwrap();
        assert_eq!(partial.get(DropReason::Replay), 4);
        assert_eq!(partial.total(), 4);
    }

    #[test]
    fn saturates() {
        let mut c = DropCounters {
            ttl: u64::MAX,
            ..Default::default()
        };
        c.count(DropReason::Ttl);
        assert_eq!(c.get(DropReason::Ttl), u64::MAX);
    }
}

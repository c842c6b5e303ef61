//! Configuration of one VRRP router (one `vrrp_instance` in keepalived terms).

use std::net::IpAddr;
use std::time::Duration;

use ha_core::IfIndex;
use ha_core::track::{TrackSpec, TrackState};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::packet::{ChecksumMode, ChecksumPolicy};
use crate::{Centiseconds, Priority, Version, Vrid};

/// The state a router starts in after its startup (keepalived's `state`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Start as Backup and wait for the Master (the RFC behaviour).
    #[default]
    Backup,
    /// Take over at once, as keepalived's `state MASTER` does; a better router will
    /// send it back to Backup with its next advertisement.
    Master,
}

/// Authentication for VRRPv2 (RFC 3768 section 5.3.6). VRRPv3 has none.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthConfig {
    /// No authentication.
    #[default]
    None,
    /// Simple text password (auth type 1), at most 8 bytes.
    Password(String),
    /// IPSEC-AH (auth type 2) as keepalived implements it: HMAC-MD5-96 keyed with this
    /// password (at most 8 bytes), sequence numbers and replay protection.
    ///
    /// The ICV covers the IPv4 header, so for such a router the payloads exchanged with
    /// the I/O layer are **whole IPv4 datagrams** (protocol 51, header included) in both
    /// directions: the adapter receives on an `IPPROTO_AH` raw socket and sends with
    /// `IP_HDRINCL`.
    IpsecAh(String),
}

/// What to do with an advertisement whose address list differs from ours.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressMismatchPolicy {
    /// Count it and process the advertisement (RFC 3768 7.1 and RFC 5798 7.1: "MUST NOT
    /// drop").
    #[default]
    Accept,
    /// Drop it, as keepalived does in `vrrp_strict` mode.
    Drop,
}

/// Gratuitous ARP / unsolicited neighbour advertisement schedule for a new Master, with
/// keepalived's defaults (`garp_master_delay 5`, `garp_master_repeat 5`, no refresh).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GarpConfig {
    /// Packets per address in each burst.
    pub repeat: u32,
    /// Gap between the packets of a burst.
    pub interval: Duration,
    /// When to send a second burst after becoming Master (`None`: no second burst).
    pub delay: Option<Duration>,
    /// Period of refresh bursts while Master (`None`: no refresh).
    pub refresh: Option<Duration>,
    /// Packets per address in a refresh burst.
    pub refresh_repeat: u32,
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            repeat: 5,
            interval: Duration::ZERO,
            delay: Some(Duration::from_secs(5)),
            refresh: None,
            refresh_repeat: 1,
        }
    }
}

/// One tracked object as configured: a key naming it, how it weighs, and its initial state.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TrackConfig {
    /// The object's name, e.g. `"if:eth0"`, `"script:chk_nginx"`, `"bfd:peer1"`.
    pub object: String,
    /// Weight and `reverse`.
    pub spec: TrackSpec,
    /// State until the first report.
    pub initial: TrackState,
}

/// Configuration of one VRRP router.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct RouterConfig {
    /// Instance name, for logs and events.
    pub name: String,
    /// Protocol version.
    pub version: Version,
    /// Virtual router id.
    pub vrid: Vrid,
    /// Configured priority, `1..=255` (255: address owner).
    pub priority: Priority,
    /// Advertisement interval.
    pub advert_interval: Centiseconds,
    /// The interface the router runs on.
    pub interface: IfIndex,
    /// This router's primary address on that interface: the advertisements' source and
    /// the tie-breaker at equal priority. For IPv6, a link-local address.
    pub primary_address: IpAddr,
    /// The virtual addresses. All of one family, the family of `primary_address`.
    pub virtual_addresses: Vec<IpAddr>,
    /// State after startup.
    #[serde(default)]
    pub initial_state: InitialState,
    /// Preempt a lower-priority Master (keepalived's default; `nopreempt` turns it off).
    #[serde(default = "yes")]
    pub preempt: bool,
    /// Wait this long after startup, or after first seeing a lower-priority Master, before
    /// preempting it (keepalived's `preempt_delay`).
    #[serde(default)]
    pub preempt_delay: Duration,
    /// VRRPv3 Accept_Mode: a Master accepts packets for the virtual addresses it does not
    /// own. Reported to the adapter; the protocol is unaffected.
    #[serde(default)]
    pub accept: bool,
    /// Send to these peers by unicast instead of to the multicast group.
    #[serde(default)]
    pub unicast_peers: Vec<IpAddr>,
    /// VRRPv3 IPv4 checksum variant to send.
    #[serde(default)]
    pub checksum_mode: ChecksumMode,
    /// Which checksum variants to accept.
    #[serde(default)]
    pub checksum_policy: ChecksumPolicy,
    /// VRRPv2 authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Advertisement intervals before a Backup declares the Master down (RFC: 3;
    /// keepalived's `down_timer_adverts`).
    #[serde(default = "three")]
    pub down_timer_adverts: u8,
    /// As Master, do not answer a lower-priority advertisement with an immediate one
    /// (keepalived's `lower_prio_no_advert`).
    #[serde(default)]
    pub lower_prio_no_advert: bool,
    /// As Master, answer a higher-priority advertisement with one of ours before stepping
    /// down (keepalived's `higher_prio_send_advert`).
    #[serde(default)]
    pub higher_prio_send_advert: bool,
    /// What to do when a received address list differs from ours.
    #[serde(default)]
    pub address_mismatch: AddressMismatchPolicy,
    /// Gratuitous ARP / NA schedule.
    #[serde(default)]
    pub garp: GarpConfig,
    /// Tracked objects.
    #[serde(default)]
    pub track: Vec<TrackConfig>,
}

fn yes() -> bool {
    true
}

fn three() -> u8 {
    3
}

/// A configuration the router cannot run.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ConfigError {
    /// Priority 0 is reserved for the shutdown advertisement.
    #[error("{name}: priority 0 is reserved (use 1..=255)")]
    PriorityZero {
        /// Instance name.
        name: String,
    },
    /// The interval is zero or does not fit the version's field.
    #[error("{name}: advert interval {interval} is invalid for VRRPv{version} ({why})")]
    Interval {
        /// Instance name.
        name: String,
        /// The interval.
        interval: Centiseconds,
        /// Version number.
        version: u8,
        /// What is wrong.
        why: &'static str,
    },
    /// VRRPv2 is IPv4 only.
    #[error("{name}: VRRPv2 supports IPv4 only")]
    V2Ipv6 {
        /// Instance name.
        name: String,
    },
    /// Addresses of different families.
    #[error("{name}: address {address} is not of the primary address's family")]
    MixedFamilies {
        /// Instance name.
        name: String,
        /// The offending address.
        address: IpAddr,
    },
    /// No virtual address.
    #[error("{name}: no virtual address")]
    NoVirtualAddress {
        /// Instance name.
        name: String,
    },
    /// More virtual addresses than one advertisement carries.
    #[error("{name}: {count} virtual addresses, at most 255 fit an advertisement")]
    TooManyAddresses {
        /// Instance name.
        name: String,
        /// How many.
        count: usize,
    },
    /// Authentication that the version or the router does not support.
    #[error("{name}: {why}")]
    Auth {
        /// Instance name.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `down_timer_adverts` must be at least 1.
    #[error("{name}: down_timer_adverts must be 1..=100")]
    DownTimerAdverts {
        /// Instance name.
        name: String,
    },
}

impl RouterConfig {
    /// A configuration with keepalived's defaults for everything but the essentials.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use ha_core::IfIndex;
    /// use ha_vrrp::{Centiseconds, Priority, RouterConfig, Version, Vrid};
    ///
    /// let config = RouterConfig::new(
    ///     "VI_1", Version::V3, Vrid::new(51).unwrap(), Priority(150), IfIndex(2),
    ///     IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    ///     vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
    /// );
    /// assert_eq!(config.advert_interval, Centiseconds(100));
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn new(
        name: impl Into<String>,
        version: Version,
        vrid: Vrid,
        priority: Priority,
        interface: IfIndex,
        primary_address: IpAddr,
        virtual_addresses: Vec<IpAddr>,
    ) -> Self {
        RouterConfig {
            name: name.into(),
            version,
            vrid,
            priority,
            advert_interval: Centiseconds(100),
            interface,
            primary_address,
            virtual_addresses,
            initial_state: InitialState::Backup,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept: false,
            unicast_peers: Vec::new(),
            checksum_mode: ChecksumMode::default(),
            checksum_policy: ChecksumPolicy::default(),
            auth: AuthConfig::None,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            address_mismatch: AddressMismatchPolicy::Accept,
            garp: GarpConfig::default(),
            track: Vec::new(),
        }
    }

    /// Checks that the router can run this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = || self.name.clone();
        if self.priority == Priority::SHUTDOWN {
            return Err(ConfigError::PriorityZero { name: name() });
        }
        let interval_error = |why| ConfigError::Interval {
            name: name(),
            interval: self.advert_interval,
            version: self.version.number(),
            why,
        };
        if self.advert_interval.get() == 0 {
            return Err(interval_error("zero"));
        }
        match self.version {
            Version::V2 => {
                if self.advert_interval.get() % 100 != 0 {
                    return Err(interval_error("v2 intervals are whole seconds"));
                }
                if self.advert_interval.get() > 255 * 100 {
                    return Err(interval_error("v2 intervals are at most 255 s"));
                }
                if self.primary_address.is_ipv6() {
                    return Err(ConfigError::V2Ipv6 { name: name() });
                }
            }
            Version::V3 => {
                if self.advert_interval > Centiseconds::V3_MAX {
                    return Err(interval_error("v3 intervals are at most 4095 cs"));
                }
                if self.auth != AuthConfig::None {
                    return Err(ConfigError::Auth {
                        name: name(),
                        why: "VRRPv3 has no authentication",
                    });
                }
            }
        }
        if let AuthConfig::Password(p) | AuthConfig::IpsecAh(p) = &self.auth {
            if p.len() > 8 {
                return Err(ConfigError::Auth {
                    name: name(),
                    why: "a VRRPv2 password is at most 8 bytes",
                });
            }
        }
        if self.virtual_addresses.is_empty() {
            return Err(ConfigError::NoVirtualAddress { name: name() });
        }
        if self.virtual_addresses.len() > 255 {
            return Err(ConfigError::TooManyAddresses {
                name: name(),
                count: self.virtual_addresses.len(),
            });
        }
        let v4 = self.primary_address.is_ipv4();
        if let Some(address) = self
            .virtual_addresses
            .iter()
            .chain(&self.unicast_peers)
            .find(|a| a.is_ipv4() != v4)
        {
            return Err(ConfigError::MixedFamilies {
                name: name(),
                address: *address,
            });
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::DownTimerAdverts { name: name() });
        }
        Ok(())
    }
}

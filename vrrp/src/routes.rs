//! Virtual and static routes, rules and addresses: keepalived's `virtual_routes`,
//! `virtual_rules` (added while an instance is Master), `static_routes`, `static_rules`
//! and `static_ipaddress` (added once at start-up), as plain domain types.
//!
//! Each type reads and writes the one-line form keepalived.conf and `ip route` / `ip
//! rule` use, so the same text serves keepalived's configuration, this crate's TOML and
//! logs:
//!
//! ```
//! use ha_vrrp::routes::{VirtualRoute, VirtualRule};
//!
//! let route: VirtualRoute = "10.1.0.0/16 via 10.99.0.254 table 100 metric 5".parse().unwrap();
//! assert_eq!(route.table, Some(100));
//! assert_eq!(route.to_string(), "10.1.0.0/16 via 10.99.0.254 metric 5 table 100");
//! let rule: VirtualRule = "from 10.99.0.100 table 100 priority 1000".parse().unwrap();
//! assert_eq!(rule.priority, Some(1000));
//! ```
//!
//! The Linux adapter ([`crate::linux`]) applies them over rtnetlink.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A route, rule or address line that cannot be read.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum RouteParseError {
    /// The line is malformed (a bad address, a missing value...).
    #[error("{0}")]
    Invalid(String),
    /// The line asks for something this crate does not do (a `throw` route, `goto` rule):
    /// it cannot be applied as written.
    #[error("{0} is not supported")]
    Unsupported(String),
}

fn invalid(message: impl Into<String>) -> RouteParseError {
    RouteParseError::Invalid(message.into())
}

/// An address with a prefix length, e.g. `10.1.0.0/16`; a bare address is a host prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Prefix {
    /// The address.
    pub address: IpAddr,
    /// The prefix length (at most 32 for IPv4, 128 for IPv6).
    pub len: u8,
}

impl Prefix {
    /// A prefix; fails when `len` is too long for the family.
    pub fn new(address: IpAddr, len: u8) -> Result<Prefix, RouteParseError> {
        let max = if address.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(invalid(format!(
                "prefix length {len} is too long for {address}"
            )));
        }
        Ok(Prefix { address, len })
    }

    /// Whether it is an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.address.is_ipv4()
    }

    /// The default route of a family (`0.0.0.0/0` or `::/0`).
    pub fn default_route(ipv6: bool) -> Prefix {
        let address = if ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Prefix { address, len: 0 }
    }
}

impl FromStr for Prefix {
    type Err = RouteParseError;

    fn from_str(s: &str) -> Result<Prefix, RouteParseError> {
        let (address, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| invalid(format!("{s:?} is not an address or prefix")))?;
        let len = match len {
            Some(l) => l
                .parse()
                .map_err(|_| invalid(format!("bad prefix length in {s:?}")))?,
            None if address.is_ipv4() => 32,
            None => 128,
        };
        Prefix::new(address, len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

impl TryFrom<String> for Prefix {
    type Error = RouteParseError;
    fn try_from(s: String) -> Result<Prefix, RouteParseError> {
        s.parse()
    }
}

impl From<Prefix> for String {
    fn from(p: Prefix) -> String {
        p.to_string()
    }
}

/// The kind of a route.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// An ordinary route (through a gateway or a device).
    #[default]
    Unicast,
    /// Packets are silently dropped.
    Blackhole,
    /// Packets are dropped with ICMP "host unreachable".
    Unreachable,
    /// Packets are dropped with ICMP "communication administratively prohibited".
    Prohibit,
}

/// A route's scope (`ip route ... scope`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteScope {
    /// `global` (universe): through a gateway.
    Global,
    /// `site`: within this site (IPv6).
    Site,
    /// `link`: on the attached link.
    Link,
    /// `host`: on this host.
    Host,
    /// `nowhere`: the destination does not exist.
    Nowhere,
}

impl RouteScope {
    fn parse(s: &str) -> Result<RouteScope, RouteParseError> {
        Ok(match s {
            "global" | "universe" | "0" => RouteScope::Global,
            "site" | "200" => RouteScope::Site,
            "link" | "253" => RouteScope::Link,
            "host" | "254" => RouteScope::Host,
            "nowhere" | "255" => RouteScope::Nowhere,
            other => return Err(invalid(format!("unknown scope {other:?}"))),
        })
    }

    fn name(self) -> &'static str {
        match self {
            RouteScope::Global => "global",
            RouteScope::Site => "site",
            RouteScope::Link => "link",
            RouteScope::Host => "host",
            RouteScope::Nowhere => "nowhere",
        }
    }
}

/// Table numbers of the names `ip` knows.
fn table(s: &str) -> Result<u32, RouteParseError> {
    Ok(match s {
        "main" => 254,
        "local" => 255,
        "default" => 253,
        n => n
            .parse()
            .ok()
            .filter(|t| *t != 0)
            .ok_or_else(|| invalid(format!("table {n:?} is not a table number or name")))?,
    })
}

fn number(s: &str, what: &str) -> Result<u32, RouteParseError> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| invalid(format!("{what} {s:?} is not a number")))
}

fn protocol(s: &str) -> Result<u8, RouteParseError> {
    Ok(match s {
        "redirect" => 1,
        "kernel" => 2,
        "boot" => 3,
        "static" => 4,
        "keepalived" => 18,
        n => n
            .parse()
            .map_err(|_| invalid(format!("protocol {n:?} is not a number or known name")))?,
    })
}

fn address(s: &str, what: &str) -> Result<IpAddr, RouteParseError> {
    s.parse()
        .map_err(|_| invalid(format!("{what} {s:?} is not an IP address")))
}

/// A line read into a value, with the options that were ignored (the caller reports
/// them as warnings).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Parsed<T> {
    /// The value.
    pub value: T,
    /// Options read but not supported, one message each.
    pub ignored: Vec<String>,
}

/// Takes the value after keyword `key`.
fn value<'a>(
    words: &mut impl Iterator<Item = &'a str>,
    key: &str,
) -> Result<&'a str, RouteParseError> {
    words
        .next()
        .ok_or_else(|| invalid(format!("{key} needs a value")))
}

/// A route (`virtual_routes` / `static_routes` line, or `ip route` syntax):
/// `[TYPE] [to] DEST/PREFIX [via GW] [dev IF] [src IP] [metric N] [table N] [scope X]
/// [proto X]`, where TYPE is `blackhole`, `unreachable` or `prohibit`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VirtualRoute {
    /// What the route does.
    pub kind: RouteKind,
    /// The destination.
    pub destination: Prefix,
    /// The next hop (`via`).
    pub gateway: Option<IpAddr>,
    /// The output interface (`dev`). A virtual route without a device nor a gateway
    /// goes on the instance's interface.
    pub device: Option<String>,
    /// The preferred source address (`src`), often a virtual address.
    pub source: Option<IpAddr>,
    /// The metric (`metric`, `priority`, `preference`).
    pub metric: Option<u32>,
    /// The routing table (default: main).
    pub table: Option<u32>,
    /// The scope (default: the kernel's, from the route).
    pub scope: Option<RouteScope>,
    /// The routing protocol number (`proto`; default: static).
    pub protocol: Option<u8>,
}

impl VirtualRoute {
    /// A unicast route to `destination` with nothing else set.
    pub fn new(destination: Prefix) -> VirtualRoute {
        VirtualRoute {
            kind: RouteKind::Unicast,
            destination,
            gateway: None,
            device: None,
            source: None,
            metric: None,
            table: None,
            scope: None,
            protocol: None,
        }
    }

    /// Reads the words of one line. Options this crate does not apply (`onlink`, `mtu`,
    /// alternative gateways...) are returned in [`Parsed::ignored`]; route types it
    /// cannot apply (`throw`, `local`...) are [`RouteParseError::Unsupported`].
    pub fn parse_words(words: &[&str]) -> Result<Parsed<VirtualRoute>, RouteParseError> {
        let mut kind = RouteKind::Unicast;
        let mut destination: Option<Option<Prefix>> = None;
        let mut route = VirtualRoute::new(Prefix::default_route(false));
        let mut ignored = Vec::new();
        let mut words = words.iter().copied();
        while let Some(word) = words.next() {
            match word {
                "blackhole" | "unreachable" | "prohibit" | "unicast" if destination.is_none() => {
                    kind = match word {
                        "blackhole" => RouteKind::Blackhole,
                        "unreachable" => RouteKind::Unreachable,
                        "prohibit" => RouteKind::Prohibit,
                        _ => RouteKind::Unicast,
                    };
                }
                "throw" | "local" | "broadcast" | "multicast" | "nat" | "anycast" => {
                    return Err(RouteParseError::Unsupported(format!("route type {word}")));
                }
                "to" => {
                    let d = value(&mut words, word)?;
                    destination = Some(parse_destination(d)?);
                }
                "via" | "gw" => {
                    let mut g = value(&mut words, word)?;
                    if g == "inet" || g == "inet6" {
                        g = value(&mut words, word)?;
                    }
                    route.gateway = Some(address(g, "gateway")?);
                }
                "dev" | "oif" => route.device = Some(value(&mut words, word)?.to_string()),
                "src" => route.source = Some(address(value(&mut words, word)?, "source")?),
                "metric" | "priority" | "preference" => {
                    route.metric = Some(number(value(&mut words, word)?, word)?);
                }
                "table" => route.table = Some(table(value(&mut words, word)?)?),
                "scope" => route.scope = Some(RouteScope::parse(value(&mut words, word)?)?),
                "proto" | "protocol" => route.protocol = Some(protocol(value(&mut words, word)?)?),
                "onlink" | "no_track" | "pervasive" => {
                    ignored.push(format!("route option {word} is not supported"));
                }
                "or" | "mtu" | "advmss" | "realm" | "realms" | "tos" | "dsfield" | "weight"
                | "hoplimit" | "initcwnd" | "initrwnd" | "rtt" | "rttvar" | "ssthresh" | "cwnd"
                | "window" | "reordering" | "features" | "quickack" | "congctl" | "expires"
                | "pref" | "encap" | "nexthop" | "fastopen_no_cookie" | "lock" | "rto_min" => {
                    let v = words.next().unwrap_or("");
                    ignored.push(format!("route option {word} {v} is not supported"));
                }
                d if destination.is_none() => destination = Some(parse_destination(d)?),
                other => ignored.push(format!("unknown route option {other}")),
            }
        }
        let destination = destination.ok_or_else(|| invalid("the route has no destination"))?;
        // `default` takes its family from the gateway or the source.
        let ipv6 = destination
            .map(|p| !p.is_ipv4())
            .unwrap_or_else(|| route.gateway.or(route.source).is_some_and(|a| a.is_ipv6()));
        route.destination = destination.unwrap_or(Prefix::default_route(ipv6));
        route.kind = kind;
        for (what, a) in [("gateway", route.gateway), ("source", route.source)] {
            if a.is_some_and(|a| a.is_ipv6() != ipv6) {
                return Err(invalid(format!(
                    "the {what} is not of the destination's family"
                )));
            }
        }
        if kind != RouteKind::Unicast && route.gateway.is_some() {
            return Err(invalid(
                "a blackhole, unreachable or prohibit route has no gateway",
            ));
        }
        Ok(Parsed {
            value: route,
            ignored,
        })
    }

    /// Whether it is an IPv4 route.
    pub fn is_ipv4(&self) -> bool {
        self.destination.is_ipv4()
    }
}

/// `default` (`None`: the family is decided later) or a prefix.
fn parse_destination(s: &str) -> Result<Option<Prefix>, RouteParseError> {
    match s {
        "default" | "all" => Ok(None),
        s => s.parse().map(Some),
    }
}

/// Strict reading: an option that would be ignored is an error.
fn strict<T>(parsed: Result<Parsed<T>, RouteParseError>) -> Result<T, RouteParseError> {
    let parsed = parsed?;
    match parsed.ignored.into_iter().next() {
        Some(first) => Err(RouteParseError::Unsupported(first)),
        None => Ok(parsed.value),
    }
}

impl FromStr for VirtualRoute {
    type Err = RouteParseError;

    /// Reads a line strictly: options that would be ignored are errors.
    fn from_str(s: &str) -> Result<VirtualRoute, RouteParseError> {
        strict(VirtualRoute::parse_words(
            &s.split_whitespace().collect::<Vec<_>>(),
        ))
    }
}

impl fmt::Display for VirtualRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RouteKind::Unicast => {}
            RouteKind::Blackhole => f.write_str("blackhole ")?,
            RouteKind::Unreachable => f.write_str("unreachable ")?,
            RouteKind::Prohibit => f.write_str("prohibit ")?,
        }
        write!(f, "{}", self.destination)?;
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.device {
            write!(f, " dev {d}")?;
        }
        if let Some(s) = self.source {
            write!(f, " src {s}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        if let Some(s) = self.scope {
            write!(f, " scope {}", s.name())?;
        }
        if let Some(p) = self.protocol {
            write!(f, " proto {p}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for VirtualRoute {
    type Error = RouteParseError;
    fn try_from(s: String) -> Result<VirtualRoute, RouteParseError> {
        s.parse()
    }
}

impl From<VirtualRoute> for String {
    fn from(r: VirtualRoute) -> String {
        r.to_string()
    }
}

/// What a rule does with the packets it selects.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Look the route up in this table.
    Table(u32),
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP "network unreachable".
    Unreachable,
    /// Drop with ICMP "communication administratively prohibited".
    Prohibit,
}

/// A policy-routing rule (`virtual_rules` / `static_rules` line, or `ip rule` syntax):
/// `[from PREFIX|all] [to PREFIX|all] [table N | blackhole | unreachable | prohibit]
/// [priority N] [iif IF] [oif IF] [fwmark N[/MASK]]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VirtualRule {
    /// Source selector (`None`: all).
    pub from: Option<Prefix>,
    /// Destination selector (`None`: all).
    pub to: Option<Prefix>,
    /// IPv6 rule (from the selectors; `inet6` or `-6` when there are none).
    pub ipv6: bool,
    /// The action.
    pub action: RuleAction,
    /// The rule's priority (preference); the kernel picks one when unset.
    pub priority: Option<u32>,
    /// Input interface name.
    pub iif: Option<String>,
    /// Output interface name.
    pub oif: Option<String>,
    /// Firewall mark to match.
    pub fwmark: Option<u32>,
    /// Mask for the firewall mark.
    pub fwmask: Option<u32>,
}

impl VirtualRule {
    /// Reads the words of one line. Options this crate does not apply are returned in
    /// [`Parsed::ignored`]; selectors or actions it cannot apply (`not`, `goto`, `nat`)
    /// are [`RouteParseError::Unsupported`].
    pub fn parse_words(words: &[&str]) -> Result<Parsed<VirtualRule>, RouteParseError> {
        let mut rule = VirtualRule {
            from: None,
            to: None,
            ipv6: false,
            action: RuleAction::Table(254),
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
        };
        let mut action = None;
        let mut family6 = None;
        let mut ignored = Vec::new();
        let mut words = words.iter().copied();
        while let Some(word) = words.next() {
            match word {
                "from" => rule.from = parse_destination(value(&mut words, word)?)?,
                "to" => rule.to = parse_destination(value(&mut words, word)?)?,
                "table" | "lookup" => {
                    action = Some(RuleAction::Table(table(value(&mut words, word)?)?));
                }
                "blackhole" => action = Some(RuleAction::Blackhole),
                "unreachable" => action = Some(RuleAction::Unreachable),
                "prohibit" => action = Some(RuleAction::Prohibit),
                "priority" | "preference" | "pref" | "order" => {
                    rule.priority = Some(number(value(&mut words, word)?, word)?);
                }
                "iif" | "iifname" | "dev" => rule.iif = Some(value(&mut words, word)?.to_string()),
                "oif" | "oifname" => rule.oif = Some(value(&mut words, word)?.to_string()),
                "fwmark" => {
                    let v = value(&mut words, word)?;
                    let (mark, mask) = match v.split_once('/') {
                        Some((m, k)) => (m, Some(k)),
                        None => (v, None),
                    };
                    rule.fwmark = Some(number(mark, "fwmark")?);
                    rule.fwmask = mask.map(|m| number(m, "fwmark mask")).transpose()?;
                }
                "inet" | "-4" => family6 = Some(false),
                "inet6" | "-6" => family6 = Some(true),
                "not" | "goto" | "nat" | "map-to" | "nop" => {
                    return Err(RouteParseError::Unsupported(format!("rule option {word}")));
                }
                "l3mdev" => ignored.push("rule option l3mdev is not supported".to_string()),
                "tos"
                | "dsfield"
                | "realms"
                | "suppress_prefixlength"
                | "suppress_ifgroup"
                | "uidrange"
                | "ipproto"
                | "sport"
                | "dport"
                | "protocol"
                | "tunnel_id" => {
                    let v = words.next().unwrap_or("");
                    ignored.push(format!("rule option {word} {v} is not supported"));
                }
                other => ignored.push(format!("unknown rule option {other}")),
            }
        }
        rule.action = action
            .ok_or_else(|| invalid("the rule needs a table, blackhole, unreachable or prohibit"))?;
        let families: Vec<bool> = [rule.from, rule.to]
            .into_iter()
            .flatten()
            .map(|p| !p.is_ipv4())
            .chain(family6)
            .collect();
        if families.windows(2).any(|w| w[0] != w[1]) {
            return Err(invalid("the rule mixes IPv4 and IPv6"));
        }
        rule.ipv6 = families.first().copied().unwrap_or(false);
        if rule.fwmask.is_some() && rule.fwmark.is_none() {
            return Err(invalid("a fwmark mask needs a fwmark"));
        }
        Ok(Parsed {
            value: rule,
            ignored,
        })
    }
}

impl FromStr for VirtualRule {
    type Err = RouteParseError;

    /// Reads a line strictly: options that would be ignored are errors.
    fn from_str(s: &str) -> Result<VirtualRule, RouteParseError> {
        strict(VirtualRule::parse_words(
            &s.split_whitespace().collect::<Vec<_>>(),
        ))
    }
}

impl fmt::Display for VirtualRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from.is_none() && self.to.is_none() && self.ipv6 {
            f.write_str("inet6 ")?;
        }
        match self.from {
            Some(p) => write!(f, "from {p}")?,
            None => f.write_str("from all")?,
        }
        if let Some(p) = self.to {
            write!(f, " to {p}")?;
        }
        if let Some(m) = self.fwmark {
            write!(f, " fwmark {m:#x}")?;
            if let Some(k) = self.fwmask {
                write!(f, "/{k:#x}")?;
            }
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
        }
        match self.action {
            RuleAction::Table(t) => write!(f, " table {t}")?,
            RuleAction::Blackhole => f.write_str(" blackhole")?,
            RuleAction::Unreachable => f.write_str(" unreachable")?,
            RuleAction::Prohibit => f.write_str(" prohibit")?,
        }
        if let Some(p) = self.priority {
            write!(f, " priority {p}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for VirtualRule {
    type Error = RouteParseError;
    fn try_from(s: String) -> Result<VirtualRule, RouteParseError> {
        s.parse()
    }
}

impl From<VirtualRule> for String {
    fn from(r: VirtualRule) -> String {
        r.to_string()
    }
}

/// An address added once at start-up (keepalived's `static_ipaddress`):
/// `ADDRESS[/PREFIX] dev IF`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StaticAddress {
    /// The address and its prefix length.
    pub address: Prefix,
    /// The interface.
    pub device: String,
}

impl StaticAddress {
    /// Reads the words of one line; `label`, `scope`, `brd` and the like are returned
    /// in [`Parsed::ignored`].
    pub fn parse_words(words: &[&str]) -> Result<Parsed<StaticAddress>, RouteParseError> {
        let mut words = words.iter().copied();
        let address: Prefix = words
            .next()
            .ok_or_else(|| invalid("the address is missing"))?
            .parse()?;
        let mut device = None;
        let mut ignored = Vec::new();
        while let Some(word) = words.next() {
            match word {
                "dev" => device = Some(value(&mut words, word)?.to_string()),
                "label" | "scope" | "brd" | "broadcast" | "peer" | "preferred_lft"
                | "valid_lft" => {
                    let v = words.next().unwrap_or("");
                    ignored.push(format!("address option {word} {v} is not supported"));
                }
                other => ignored.push(format!("unknown address option {other}")),
            }
        }
        let device = device.ok_or_else(|| invalid("a static address needs dev IF"))?;
        Ok(Parsed {
            value: StaticAddress { address, device },
            ignored,
        })
    }
}

impl FromStr for StaticAddress {
    type Err = RouteParseError;

    /// Reads a line strictly: options that would be ignored are errors.
    fn from_str(s: &str) -> Result<StaticAddress, RouteParseError> {
        strict(StaticAddress::parse_words(
            &s.split_whitespace().collect::<Vec<_>>(),
        ))
    }
}

impl fmt::Display for StaticAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.address, self.device)
    }
}

impl TryFrom<String> for StaticAddress {
    type Error = RouteParseError;
    fn try_from(s: String) -> Result<StaticAddress, RouteParseError> {
        s.parse()
    }
}

impl From<StaticAddress> for String {
    fn from(a: StaticAddress) -> String {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(s: &str) -> Result<Parsed<VirtualRoute>, RouteParseError> {
        VirtualRoute::parse_words(&s.split_whitespace().collect::<Vec<_>>())
    }

    fn rule(s: &str) -> Result<Parsed<VirtualRule>, RouteParseError> {
        VirtualRule::parse_words(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn routes_in_keepalived_forms() {
        let r = route("src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1")
            .unwrap()
            .value;
        assert_eq!(r.destination, "192.168.109.0/24".parse().unwrap());
        assert_eq!(r.source, Some("192.168.100.1".parse().unwrap()));
        assert_eq!(r.gateway, Some("192.168.200.254".parse().unwrap()));
        assert_eq!(r.device.as_deref(), Some("eth1"));
        let r = route("blackhole 192.168.101.0/24").unwrap().value;
        assert_eq!(r.kind, RouteKind::Blackhole);
        let r = route("10.0.0.0/8 via 10.99.0.1 metric 7 table 100 scope link proto boot")
            .unwrap()
            .value;
        assert_eq!(
            (r.metric, r.table, r.scope, r.protocol),
            (Some(7), Some(100), Some(RouteScope::Link), Some(3))
        );
        let r = route("default via fe80::1 dev eth0 table main")
            .unwrap()
            .value;
        assert_eq!(r.destination, Prefix::default_route(true));
        assert_eq!(r.table, Some(254));
        let r = route("2001:db8::/64 dev eth0").unwrap().value;
        assert!(!r.is_ipv4());
    }

    #[test]
    fn route_options_not_applied_are_reported() {
        let p = route("192.168.113.0/24 via 192.168.200.254 or 192.168.100.254 dev eth1 onlink")
            .unwrap();
        assert_eq!(p.ignored.len(), 2, "{:?}", p.ignored);
        assert!(p.ignored[0].contains("or 192.168.100.254"));
        assert!(matches!(
            route("throw 10.0.0.0/8"),
            Err(RouteParseError::Unsupported(_))
        ));
        assert!(matches!(
            route("via 10.0.0.1"),
            Err(RouteParseError::Invalid(_))
        ));
        assert!(route("10.0.0.0/33").is_err());
        assert!(route("10.0.0.0/8 via fe80::1").is_err());
        assert!(route("blackhole 10.0.0.0/8 via 10.0.0.1").is_err());
        assert!(route("10.0.0.0/8 metric").is_err());
        assert!(route("10.0.0.0/8 table 0").is_err());
        // Strict reading for TOML: an ignored option is an error.
        assert!(
            "10.0.0.0/8 dev eth0 onlink"
                .parse::<VirtualRoute>()
                .is_err()
        );
    }

    #[test]
    fn rules_in_keepalived_forms() {
        let r = rule("from 192.168.28.0/24 table 1").unwrap().value;
        assert_eq!(r.from, Some("192.168.28.0/24".parse().unwrap()));
        assert_eq!(r.action, RuleAction::Table(1));
        let r =
            rule("from all to 10.0.0.1 fwmark 0x10/0xff iif eth0 oif eth1 priority 100 table 200")
                .unwrap()
                .value;
        assert_eq!(r.from, None);
        assert_eq!((r.fwmark, r.fwmask), (Some(16), Some(255)));
        assert_eq!(
            (r.iif.as_deref(), r.oif.as_deref()),
            (Some("eth0"), Some("eth1"))
        );
        assert_eq!(r.priority, Some(100));
        let r = rule("from 2001:db8::/32 prohibit").unwrap().value;
        assert!(r.ipv6);
        assert_eq!(r.action, RuleAction::Prohibit);
        assert!(rule("from 10.0.0.1").is_err());
        assert!(rule("from 10.0.0.1 to ::1 table 1").is_err());
        assert!(matches!(
            rule("not from 10.0.0.1 table 1"),
            Err(RouteParseError::Unsupported(_))
        ));
        assert_eq!(
            rule("from 10.0.0.1 table 1 tos 4").unwrap().ignored.len(),
            1
        );
    }

    #[test]
    fn text_round_trips() {
        for line in [
            "10.1.0.0/16 via 10.99.0.254 dev eth0 src 10.99.0.100 metric 5 table 100 scope global proto 4",
            "blackhole 192.0.2.0/24 table 7",
            "from 10.99.0.100/32 to 10.1.0.0/16 fwmark 0x10/0xff iif eth0 table 100 priority 100",
            "inet6 from all prohibit",
        ] {
            if line.contains("from") {
                let r: VirtualRule = line.parse().unwrap();
                assert_eq!(r.to_string(), line);
                assert_eq!(r.to_string().parse::<VirtualRule>().unwrap(), r);
            } else {
                let r: VirtualRoute = line.parse().unwrap();
                assert_eq!(r.to_string(), line);
            }
        }
        let a: StaticAddress = "192.0.2.1/24 dev eth0".parse().unwrap();
        assert_eq!(a.to_string(), "192.0.2.1/24 dev eth0");
        assert!("192.0.2.1/24".parse::<StaticAddress>().is_err());
    }

    #[test]
    fn serde_uses_the_text_form() {
        let r: VirtualRoute = serde_json::from_str("\"10.0.0.0/8 via 10.99.0.1\"").unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"10.0.0.0/8 via 10.99.0.1\""
        );
        assert!(serde_json::from_str::<VirtualRule>("\"from 10.0.0.1\"").is_err());
    }
}

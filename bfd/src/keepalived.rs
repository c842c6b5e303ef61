//! Mapping of keepalived.conf's `bfd_instance` blocks onto this crate's
//! [`SessionConfig`]s.
//!
//! Input is the grammar tree from [`ha_core::conf`]; output is one [`BfdInstance`] per
//! `bfd_instance NAME { … }` block, keyed by `NAME`, plus [`Warning`]s. Every keyword
//! that is unknown or that we read without acting on becomes a warning with its
//! `file:line:col`; nothing is silently ignored. Values that cannot be mapped are a
//! [`MapError`] with their location.
//!
//! ```
//! use std::time::Duration;
//! use ha_bfd::Hop;
//! use ha_bfd::keepalived::map;
//! use ha_core::conf::{parse_str, Options};
//!
//! let conf = parse_str(r#"
//! bfd_instance to_router {
//!     neighbor_ip 192.0.2.2
//!     source_ip 192.0.2.1
//!     min_rx 50
//!     min_tx 50
//!     multiplier 3
//! }
//! vrrp_instance VI_1 {
//!     track_bfd {
//!         to_router weight -20
//!     }
//! }
//! "#, &Options::default()).unwrap();
//! let bfd = map(&conf).unwrap();
//! let instance = &bfd.instances["to_router"];
//! assert_eq!(instance.session.required_min_rx, Duration::from_millis(50));
//! assert_eq!(instance.session.detect_mult, 3);
//! assert_eq!(instance.session.hop, Hop::SingleHop);
//! assert_eq!(instance.track_object(), "bfd:to_router");
//! assert!(bfd.warnings.is_empty());
//! ```
//!
//! # Keywords
//!
//! | keyword | meaning | default |
//! |---|---|---|
//! | `neighbor_ip` / `neighbour_ip` ADDR | the peer ([`SessionConfig::remote`]) | required |
//! | `source_ip` ADDR | our address ([`SessionConfig::local`]) | the unspecified address (see below) |
//! | `min_rx` MS | `bfd.RequiredMinRxInterval`, milliseconds with up to three decimals, 1–1000 | 10 ms |
//! | `min_tx` MS | `bfd.DesiredMinTxInterval` once Up, same form | 10 ms |
//! | `idle_tx` MS | DesiredMinTx while not Up, 1000–10000 | 1000 ms; any other value is a warning: we always use 1 s (RFC 5880 section 6.8.3) |
//! | `multiplier` N | `bfd.DetectMult`, 1–10 | 5 |
//! | `passive` | passive role | active |
//! | `ttl` / `hoplimit` N | the TTL / hop limit the peer sends with, 1–255 | 255 |
//! | `max_hops` N | how far below `ttl` a received TTL may be, -1–255 (255: no check) | 0 |
//! | `weight` W \[`reverse`\] | default weight of `track_bfd` entries naming this instance, -253–253 | 0 (FAULT) |
//! | `vrrp` / `checker` | send state changes only to VRRP / only to checkers | both |
//!
//! keepalived's defaults are kept (10 ms × 5), so a configuration behaves as it did.
//!
//! ## `global_defs`
//!
//! `bfd_rt_priority` N (1–99), `bfd_priority` N (-20–19) and `bfd_cpu_affinity` CPU…
//! become [`KeepalivedBfd::scheduling`]: keepalived applies them to its BFD process, a
//! daemon to the thread that runs the engine (`linux::apply_scheduling`). `bfd_no_swap`,
//! `bfd_rlimit_rttime` and `bfd_process_name` are accepted with a warning: they have no
//! effect on a thread.
//!
//! ## TTL and multihop
//!
//! keepalived accepts a packet when `received TTL >= ttl - max_hops`. That minimum
//! decides the mode: 255 (the default, `ttl 255` and `max_hops 0`) is a single-hop
//! session (RFC 5881: UDP 3784, TTL 255 required, [`Hop::SingleHop`]); anything lower is a
//! multihop session ([`Hop::MultiHop`] with that `min_ttl`, RFC 5883: UDP 4784). keepalived
//! itself always uses port 3784, so a keepalived peer configured with `max_hops` will not
//! talk to such a session; a warning says so. We always send with TTL / hop limit 255
//! (keepalived sends IPv6 with hop limit 64 unless told otherwise, which RFC 5881 forbids
//! for single hop); a `ttl` other than 255 only sets the receive check, with a warning.
//!
//! ## Without `source_ip`
//!
//! The session's [`local`](SessionConfig::local) address is then the unspecified address
//! of the neighbour's family (`0.0.0.0` or `::`), and [`BfdInstance::source_ip`] is `None`.
//! The engine accepts such a session: it matches the peer's packets whatever address they
//! were sent to, and the Linux adapter lets routing choose the source address. A daemon
//! may fill in the address itself (e.g. from the route to the neighbour) before adding the
//! session.
//!
//! # How other sections refer to these names
//!
//! - VRRP: `track_bfd { NAME [weight W] [reverse] }` in a `vrrp_instance` or
//!   `vrrp_sync_group` tracks the object `bfd:NAME` ([`BfdInstance::track_object`]); a
//!   daemon feeds it [`StateChange::track_state`](crate::StateChange::track_state) of the
//!   session [`BfdInstance::session`]`.id`. An entry without its own weight takes this
//!   instance's [`weight`](BfdInstance::weight) and [`reverse`](BfdInstance::reverse),
//!   as in keepalived. Only instances with [`to_vrrp`](BfdInstance::to_vrrp) set should
//!   be fed to VRRP.
//! - Checkers: `BFD_CHECK { name NAME }` in a `real_server` takes its verdict from the
//!   instance named `NAME` (up only while the session is Up); only instances with
//!   [`to_checker`](BfdInstance::to_checker) set should be fed to checkers.
//!
//! Session IDs are assigned in the order the blocks appear: the first `bfd_instance` is
//! `SessionId(1)`, the next `SessionId(2)`, and so on.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ha_core::conf::{Config, Node, Span};
use ha_core::track::{TrackSpec, TrackWeight};
use serde::Serialize;

use crate::scheduling::{Nice, RealtimePriority, Scheduling};
use crate::session::{Hop, SessionConfig, SessionId, TTL_SECURITY};

/// keepalived's default `min_rx` and `min_tx`: 10 ms.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(10);
/// keepalived's default `multiplier`: 5.
pub const DEFAULT_MULTIPLIER: u8 = 5;
/// keepalived's default (and our only) `idle_tx`: one second.
pub const DEFAULT_IDLE_TX: Duration = Duration::from_secs(1);

/// The `global_defs` keys of keepalived's BFD process that have no equivalent for a
/// thread: accepted, without effect.
const GLOBAL_BFD_KEYS_WITHOUT_EFFECT: &[&str] =
    &["bfd_no_swap", "bfd_rlimit_rttime", "bfd_process_name"];

/// Warnings and errors carry their `file:line:col` (shared by every crate's mapping).
pub use ha_core::conf::{MapError, Warning};

/// One `bfd_instance` block.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct BfdInstance {
    /// The instance's name, as `track_bfd` and `BFD_CHECK` refer to it.
    pub name: String,
    /// The session, ready for [`Command::AddSession`](crate::Command::AddSession).
    pub session: SessionConfig,
    /// `source_ip`, when given (otherwise `session.local` is the unspecified address).
    pub source_ip: Option<IpAddr>,
    /// Default weight of `track_bfd` entries that name this instance without a weight.
    pub weight: TrackWeight,
    /// Default `reverse` of those entries.
    pub reverse: bool,
    /// Whether state changes go to VRRP (`track_bfd`).
    pub to_vrrp: bool,
    /// Whether state changes go to checkers (`BFD_CHECK`).
    pub to_checker: bool,
    /// Where the block is.
    pub span: Span,
}

impl BfdInstance {
    /// The tracked-object name VRRP's `track_bfd` uses for this instance: `bfd:NAME`.
    pub fn track_object(&self) -> String {
        format!("bfd:{}", self.name)
    }
}

/// Everything BFD-related in a keepalived.conf.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct KeepalivedBfd {
    /// The instances, by name.
    pub instances: BTreeMap<String, BfdInstance>,
    /// How the engine's thread is to be scheduled (`bfd_rt_priority`, `bfd_priority`,
    /// `bfd_cpu_affinity` in `global_defs`).
    pub scheduling: Scheduling,
    /// What was read but not acted upon.
    pub warnings: Vec<Warning>,
}

impl KeepalivedBfd {
    /// The instances in session-ID order (the order of the configuration).
    pub fn sessions(&self) -> Vec<&BfdInstance> {
        let mut all: Vec<&BfdInstance> = self.instances.values().collect();
        all.sort_by_key(|i| i.session.id);
        all
    }

    /// Each instance's default tracking weight and `reverse`, by tracked-object name
    /// (`bfd:NAME`), for the VRRP mapping (`ha_vrrp::keepalived::map_with_defaults`):
    /// a `track_bfd` entry without a weight of its own takes its instance's.
    ///
    /// ```
    /// use ha_core::conf::{parse_str, Options};
    /// use ha_core::track::TrackWeight;
    ///
    /// let conf = parse_str("bfd_instance to_router {\n neighbor_ip 192.0.2.2\n weight -20 reverse\n}\n",
    ///     &Options::default()).unwrap();
    /// let defaults = ha_bfd::keepalived::map(&conf).unwrap().track_defaults();
    /// let spec = defaults["bfd:to_router"];
    /// assert_eq!((spec.weight, spec.reverse), (TrackWeight::new(-20).unwrap(), true));
    /// ```
    pub fn track_defaults(&self) -> BTreeMap<String, TrackSpec> {
        self.instances
            .values()
            .map(|i| {
                let spec = TrackSpec {
                    weight: i.weight,
                    reverse: i.reverse,
                };
                (i.track_object(), spec)
            })
            .collect()
    }
}

/// Maps the `bfd_instance` blocks and the BFD keys of `global_defs` in `conf`.
///
/// Other sections belong to other crates and are not looked at.
pub fn map(conf: &Config) -> Result<KeepalivedBfd, MapError> {
    let mut out = KeepalivedBfd::default();
    let mut next_id = 1u64;
    for node in &conf.nodes {
        match node.keyword.as_str() {
            "global_defs" => {
                for c in &node.children {
                    global_key(c, &mut out.scheduling, &mut out.warnings)?;
                }
            }
            "bfd_instance" => {
                let inst = instance(node, SessionId(next_id), &mut out.warnings)?;
                next_id += 1;
                if out.instances.contains_key(&inst.name) {
                    return Err(error(
                        node,
                        format!("bfd_instance {} is defined twice", inst.name),
                    ));
                }
                let s = &inst.session;
                if let Some(other) = out.instances.values().find(|o| {
                    o.session.remote == s.remote
                        && o.session.local == s.local
                        && o.session.hop.is_multihop() == s.hop.is_multihop()
                }) {
                    return Err(error(
                        node,
                        format!(
                            "bfd_instance {} has the same neighbour and source as {}",
                            inst.name, other.name
                        ),
                    ));
                }
                out.instances.insert(inst.name.clone(), inst);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One `global_defs` line, if it is the BFD process's.
fn global_key(
    node: &Node,
    scheduling: &mut Scheduling,
    warnings: &mut Vec<Warning>,
) -> Result<(), MapError> {
    match node.keyword.as_str() {
        "bfd_rt_priority" => {
            let v = one_arg(node, warnings)?;
            scheduling.realtime = Some(
                v.parse()
                    .ok()
                    .and_then(RealtimePriority::new)
                    .ok_or_else(|| error(node, format!("bfd_rt_priority {v:?}: expected 1-99")))?,
            );
        }
        "bfd_priority" => {
            let v = one_arg(node, warnings)?;
            scheduling.nice =
                Some(v.parse().ok().and_then(Nice::new).ok_or_else(|| {
                    error(node, format!("bfd_priority {v:?}: expected -20 to 19"))
                })?);
        }
        "bfd_cpu_affinity" => {
            no_block(node, warnings);
            if node.args.is_empty() {
                return Err(error(
                    node,
                    "bfd_cpu_affinity needs at least one CPU number",
                ));
            }
            scheduling.cpu_affinity = node
                .args
                .iter()
                .map(|a| {
                    a.parse::<usize>().map_err(|_| {
                        error(node, format!("bfd_cpu_affinity {a:?}: not a CPU number"))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        key if GLOBAL_BFD_KEYS_WITHOUT_EFFECT.contains(&key) => warnings.push(warn(
            node,
            format!(
                "{key} is accepted but has no effect (the BFD engine runs on a thread of \
                 the daemon, not in a process of its own)"
            ),
        )),
        _ => {}
    }
    Ok(())
}

fn error(node: &Node, message: impl Into<String>) -> MapError {
    MapError {
        span: node.span.clone(),
        message: message.into(),
    }
}

fn warn(node: &Node, message: impl Into<String>) -> Warning {
    Warning {
        span: node.span.clone(),
        message: message.into(),
    }
}

fn one_arg<'a>(node: &'a Node, warnings: &mut Vec<Warning>) -> Result<&'a str, MapError> {
    let v = node
        .arg()
        .ok_or_else(|| error(node, format!("{} needs a value", node.keyword)))?;
    if node.args.len() > 1 {
        warnings.push(warn(
            node,
            format!("{}: extra arguments after {v:?} ignored", node.keyword),
        ));
    }
    no_block(node, warnings);
    Ok(v)
}

fn no_block(node: &Node, warnings: &mut Vec<Warning>) {
    if node.block {
        warnings.push(warn(
            node,
            format!("{} takes no block; its contents are ignored", node.keyword),
        ));
    }
}

fn flag(node: &Node, warnings: &mut Vec<Warning>) {
    if !node.args.is_empty() {
        warnings.push(warn(
            node,
            format!("{} takes no argument; arguments ignored", node.keyword),
        ));
    }
    no_block(node, warnings);
}

fn address(node: &Node, warnings: &mut Vec<Warning>) -> Result<IpAddr, MapError> {
    let v = one_arg(node, warnings)?;
    v.parse::<IpAddr>().map_err(|_| {
        error(
            node,
            format!("{}: {v:?} is not an IP address", node.keyword),
        )
    })
}

/// An integer in `min..=max`.
fn integer(node: &Node, min: i64, max: i64, warnings: &mut Vec<Warning>) -> Result<i64, MapError> {
    let v = one_arg(node, warnings)?;
    let n: i64 = v
        .parse()
        .map_err(|_| error(node, format!("{}: {v:?} is not a number", node.keyword)))?;
    if !(min..=max).contains(&n) {
        return Err(error(
            node,
            format!("{}: {n} is outside {min}..={max}", node.keyword),
        ));
    }
    Ok(n)
}

/// Milliseconds with up to three decimals ("10", "3.312"), in `min_ms..=max_ms`.
fn milliseconds(
    node: &Node,
    min_ms: u64,
    max_ms: u64,
    warnings: &mut Vec<Warning>,
) -> Result<Duration, MapError> {
    let v = one_arg(node, warnings)?;
    let bad = || {
        error(
            node,
            format!(
                "{}: {v:?} is not a number of milliseconds (up to three decimals)",
                node.keyword
            ),
        )
    };
    let (whole, fraction) = v.split_once('.').unwrap_or((v, ""));
    if whole.is_empty()
        || whole.len() > 9
        || fraction.len() > 3
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (v.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let mut micros = whole * 1000;
    let mut scale = 100;
    for digit in fraction.bytes() {
        micros += u64::from(digit - b'0') * scale;
        scale /= 10;
    }
    if micros < min_ms * 1000 || micros > max_ms * 1000 {
        return Err(error(
            node,
            format!("{}: {v} ms is outside {min_ms}..={max_ms} ms", node.keyword),
        ));
    }
    Ok(Duration::from_micros(micros))
}

fn instance(
    node: &Node,
    id: SessionId,
    warnings: &mut Vec<Warning>,
) -> Result<BfdInstance, MapError> {
    let name = node
        .arg()
        .ok_or_else(|| error(node, "bfd_instance needs a name"))?
        .to_string();
    if node.args.len() > 1 {
        warnings.push(warn(
            node,
            format!("bfd_instance {name}: extra arguments after the name ignored"),
        ));
    }
    let mut neighbor: Option<(IpAddr, &Node)> = None;
    let mut source: Option<(IpAddr, &Node)> = None;
    let mut min_rx = DEFAULT_INTERVAL;
    let mut min_tx = DEFAULT_INTERVAL;
    let mut multiplier = DEFAULT_MULTIPLIER;
    let mut passive = false;
    let mut ttl: Option<(u8, &Node)> = None;
    let mut max_hops: Option<(i64, &Node)> = None;
    let mut weight = TrackWeight::FAULT;
    let mut reverse = false;
    let mut to_vrrp = false;
    let mut to_checker = false;

    for c in &node.children {
        match c.keyword.as_str() {
            "neighbor_ip" | "neighbour_ip" => neighbor = Some((address(c, warnings)?, c)),
            "source_ip" => source = Some((address(c, warnings)?, c)),
            "min_rx" => min_rx = milliseconds(c, 1, 1000, warnings)?,
            "min_tx" => min_tx = milliseconds(c, 1, 1000, warnings)?,
            "idle_tx" => {
                let idle = milliseconds(c, 1000, 10_000, warnings)?;
                if idle != DEFAULT_IDLE_TX {
                    warnings.push(warn(
                        c,
                        format!(
                            "idle_tx {idle:?} has no effect: a session that is not Up \
                             always sends once a second (RFC 5880 section 6.8.3)"
                        ),
                    ));
                }
            }
            "multiplier" => {
                // The range check makes the conversion lossless.
                multiplier =
                    u8::try_from(integer(c, 1, 10, warnings)?).unwrap_or(DEFAULT_MULTIPLIER);
            }
            "passive" => {
                flag(c, warnings);
                passive = true;
            }
            "ttl" | "hoplimit" => {
                let t = u8::try_from(integer(c, 1, 255, warnings)?).unwrap_or(TTL_SECURITY);
                ttl = Some((t, c));
            }
            "max_hops" => max_hops = Some((integer(c, -1, 255, warnings)?, c)),
            "weight" => {
                let (w, rest) = c
                    .args
                    .split_first()
                    .ok_or_else(|| error(c, "weight needs a value"))?;
                let w: i64 = w
                    .parse()
                    .map_err(|_| error(c, format!("weight: {w:?} is not a number")))?;
                if !(-253..=253).contains(&w) {
                    return Err(error(c, format!("weight: {w} is outside -253..=253")));
                }
                weight = TrackWeight::new(w).map_err(|e| error(c, e.to_string()))?;
                for option in rest {
                    match option.as_str() {
                        "reverse" => reverse = true,
                        "noreverse" => reverse = false,
                        other => warnings
                            .push(warn(c, format!("weight: unknown option {other}; ignored"))),
                    }
                }
                no_block(c, warnings);
            }
            "vrrp" => {
                flag(c, warnings);
                to_vrrp = true;
            }
            "checker" => {
                flag(c, warnings);
                to_checker = true;
            }
            other => warnings.push(warn(
                c,
                format!("bfd_instance {name}: unknown keyword {other}; ignored"),
            )),
        }
    }
    if !to_vrrp && !to_checker {
        // Neither named: keepalived tells both.
        to_vrrp = true;
        to_checker = true;
    }

    let (remote, _) =
        neighbor.ok_or_else(|| error(node, format!("bfd_instance {name} has no neighbor_ip")))?;
    let local = match source {
        Some((local, at)) => {
            if local.is_ipv4() != remote.is_ipv4() {
                return Err(error(
                    at,
                    format!(
                        "bfd_instance {name}: source_ip {local} and neighbor_ip {remote} \
                         are of different families"
                    ),
                ));
            }
            local
        }
        None if remote.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    if remote.is_unspecified() || remote.is_multicast() {
        return Err(error(
            node,
            format!("bfd_instance {name}: neighbor_ip {remote} is not a unicast address"),
        ));
    }

    let expected_ttl = ttl.map_or(TTL_SECURITY, |(t, _)| t);
    if let Some((t, at)) = ttl {
        if t != TTL_SECURITY {
            warnings.push(warn(
                at,
                format!(
                    "{} {t}: packets are always sent with TTL / hop limit 255 \
                     (RFC 5881, 5883); {t} only sets the receive check",
                    at.keyword
                ),
            ));
        }
    }
    let mut hops = max_hops.map_or(0, |(h, _)| h);
    if let Some((h, at)) = max_hops {
        if h < 0 {
            warnings.push(warn(
                at,
                "max_hops -1 would make keepalived drop every packet; treated as 0",
            ));
            hops = 0;
        } else if h > i64::from(expected_ttl) {
            warnings.push(warn(
                at,
                format!("max_hops {h} exceeds the ttl {expected_ttl}; set to {expected_ttl}"),
            ));
            hops = i64::from(expected_ttl);
        }
    }
    // 0 <= hops <= expected_ttl <= 255, so this cannot fail.
    let min_ttl = u8::try_from(i64::from(expected_ttl) - hops).unwrap_or(0);
    let hop = if min_ttl == TTL_SECURITY {
        Hop::SingleHop
    } else {
        let at = max_hops
            .map(|(_, n)| n)
            .or(ttl.map(|(_, n)| n))
            .unwrap_or(node);
        warnings.push(warn(
            at,
            format!(
                "bfd_instance {name}: a minimum received TTL of {min_ttl} makes this an \
                 RFC 5883 multihop session on UDP port 4784 (keepalived uses 3784 for \
                 every session: a keepalived peer will not answer it)"
            ),
        ));
        Hop::MultiHop { min_ttl }
    };

    let session = SessionConfig {
        id,
        local,
        remote,
        interface: None,
        hop,
        desired_min_tx: min_tx,
        required_min_rx: min_rx,
        detect_mult: multiplier,
        passive,
        auth: None,
    };
    Ok(BfdInstance {
        name,
        session,
        source_ip: source.map(|(a, _)| a),
        weight,
        reverse,
        to_vrrp,
        to_checker,
        span: node.span.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_core::conf::{Options, parse_str};

    fn conf(text: &str) -> Config {
        parse_str(text, &Options::default()).unwrap()
    }

    fn one(body: &str) -> (BfdInstance, Vec<Warning>) {
        let out = map(&conf(&format!("bfd_instance b {{\n{body}\n}}\n"))).unwrap();
        let inst = out.instances["b"].clone();
        (inst, out.warnings)
    }

    fn err(body: &str) -> MapError {
        map(&conf(&format!("bfd_instance b {{\n{body}\n}}\n"))).unwrap_err()
    }

    #[test]
    fn defaults_are_keepalived_defaults() {
        let (i, w) = one("neighbor_ip 10.0.0.2\nsource_ip 10.0.0.1");
        assert!(w.is_empty(), "{w:?}");
        let s = &i.session;
        assert_eq!(s.id, SessionId(1));
        assert_eq!(s.remote, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(s.local, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s.required_min_rx, Duration::from_millis(10));
        assert_eq!(s.desired_min_tx, Duration::from_millis(10));
        assert_eq!(s.detect_mult, 5);
        assert!(!s.passive);
        assert_eq!(s.hop, Hop::SingleHop);
        assert_eq!(s.interface, None);
        assert_eq!(s.auth, None);
        assert_eq!(i.weight, TrackWeight::FAULT);
        assert!(!i.reverse);
        assert!(i.to_vrrp && i.to_checker);
        assert_eq!(i.source_ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(i.span.line, 1);
        assert_eq!(i.track_object(), "bfd:b");
    }

    #[test]
    fn neighbour_spelling_and_ipv6() {
        let (i, w) = one("neighbour_ip 2001:db8::2\nsource_ip 2001:db8::1");
        assert!(w.is_empty());
        assert_eq!(i.session.remote, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!(i.session.hop, Hop::SingleHop);
    }

    #[test]
    fn missing_source_is_unspecified_of_the_family() {
        let (i, w) = one("neighbor_ip 10.0.0.2");
        assert!(w.is_empty());
        assert_eq!(i.session.local, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(i.source_ip, None);
        let (i, _) = one("neighbor_ip fe80::2");
        assert_eq!(i.session.local, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }

    #[test]
    fn intervals_in_milliseconds_with_decimals() {
        let (i, _) = one("neighbor_ip 10.0.0.2\nmin_rx 3.312\nmin_tx 1000");
        assert_eq!(i.session.required_min_rx, Duration::from_micros(3312));
        assert_eq!(i.session.desired_min_tx, Duration::from_secs(1));
        let (i, _) = one("neighbor_ip 10.0.0.2\nmin_rx 1.5\nmin_tx 1");
        assert_eq!(i.session.required_min_rx, Duration::from_micros(1500));
        assert_eq!(i.session.desired_min_tx, Duration::from_millis(1));
    }

    #[test]
    fn interval_errors() {
        for bad in [
            "min_rx 0",
            "min_rx 1001",
            "min_rx 0.999",
            "min_tx 10ms",
            "min_tx -5",
            "min_tx 1.2345",
            "min_tx 5.",
            "min_tx .5",
            "min_tx",
            "min_rx 99999999999999999999",
            "idle_tx 999",
            "idle_tx 10001",
        ] {
            let e = err(&format!("neighbor_ip 10.0.0.2\n{bad}"));
            assert_eq!(e.span.line, 3, "{bad}: {e}");
            assert!(e.message.contains(bad.split(' ').next().unwrap()), "{e}");
        }
    }

    #[test]
    fn idle_tx_other_than_one_second_warns() {
        let (_, w) = one("neighbor_ip 10.0.0.2\nidle_tx 1000");
        assert!(w.is_empty());
        let (_, w) = one("neighbor_ip 10.0.0.2\nidle_tx 2000");
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("no effect"));
        assert_eq!(w[0].span.line, 3);
    }

    #[test]
    fn multiplier_and_passive() {
        let (i, _) = one("neighbor_ip 10.0.0.2\nmultiplier 3\npassive");
        assert_eq!(i.session.detect_mult, 3);
        assert!(i.session.passive);
        assert!(
            err("neighbor_ip 10.0.0.2\nmultiplier 0")
                .message
                .contains("multiplier")
        );
        assert!(
            err("neighbor_ip 10.0.0.2\nmultiplier 11")
                .message
                .contains("outside")
        );
        assert!(
            err("neighbor_ip 10.0.0.2\nmultiplier x")
                .message
                .contains("not a number")
        );
    }

    #[test]
    fn max_hops_makes_a_multihop_session() {
        let (i, w) = one("neighbor_ip 10.0.0.2\nmax_hops 2");
        assert_eq!(i.session.hop, Hop::MultiHop { min_ttl: 253 });
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("4784"), "{}", w[0]);
        let (i, _) = one("neighbor_ip 10.0.0.2\nmax_hops 255");
        assert_eq!(i.session.hop, Hop::MultiHop { min_ttl: 0 });
        let (i, w) = one("neighbor_ip 10.0.0.2\nmax_hops 0");
        assert_eq!(i.session.hop, Hop::SingleHop);
        assert!(w.is_empty());
    }

    #[test]
    fn ttl_sets_the_receive_check_only() {
        let (i, w) = one("neighbor_ip 10.0.0.2\nttl 64\nmax_hops 4");
        assert_eq!(i.session.hop, Hop::MultiHop { min_ttl: 60 });
        assert!(w.iter().any(|w| w.message.contains("always sent with TTL")));
        let (i, w) = one("neighbor_ip 2001:db8::2\nhoplimit 255");
        assert_eq!(i.session.hop, Hop::SingleHop);
        assert!(w.is_empty());
        let (i, _) = one("neighbor_ip 10.0.0.2\nttl 200");
        assert_eq!(i.session.hop, Hop::MultiHop { min_ttl: 200 });
        assert!(err("neighbor_ip 10.0.0.2\nttl 0").message.contains("ttl"));
        assert!(
            err("neighbor_ip 10.0.0.2\nttl 256")
                .message
                .contains("outside")
        );
        assert!(
            err("neighbor_ip 10.0.0.2\nhoplimit x")
                .message
                .contains("hoplimit")
        );
    }

    #[test]
    fn max_hops_edge_values() {
        let (i, w) = one("neighbor_ip 10.0.0.2\nmax_hops -1");
        assert_eq!(i.session.hop, Hop::SingleHop);
        assert!(w[0].message.contains("treated as 0"));
        let (i, w) = one("neighbor_ip 10.0.0.2\nttl 10\nmax_hops 20");
        assert_eq!(i.session.hop, Hop::MultiHop { min_ttl: 0 });
        assert!(w.iter().any(|w| w.message.contains("exceeds")));
        assert!(
            err("neighbor_ip 10.0.0.2\nmax_hops -2")
                .message
                .contains("max_hops")
        );
        assert!(
            err("neighbor_ip 10.0.0.2\nmax_hops 256")
                .message
                .contains("outside")
        );
    }

    #[test]
    fn weight_and_reverse() {
        let (i, w) = one("neighbor_ip 10.0.0.2\nweight -20 reverse");
        assert!(w.is_empty());
        assert_eq!(i.weight.get(), -20);
        assert!(i.reverse);
        let (i, _) = one("neighbor_ip 10.0.0.2\nweight 253");
        assert_eq!(i.weight.get(), 253);
        assert!(!i.reverse);
        let (_, w) = one("neighbor_ip 10.0.0.2\nweight 5 sideways");
        assert!(w[0].message.contains("sideways"));
        assert!(
            err("neighbor_ip 10.0.0.2\nweight 254")
                .message
                .contains("-253..=253")
        );
        assert!(
            err("neighbor_ip 10.0.0.2\nweight")
                .message
                .contains("needs a value")
        );
        assert!(
            err("neighbor_ip 10.0.0.2\nweight x")
                .message
                .contains("not a number")
        );
    }

    #[test]
    fn vrrp_and_checker_flags() {
        let (i, _) = one("neighbor_ip 10.0.0.2\nvrrp");
        assert!(i.to_vrrp && !i.to_checker);
        let (i, _) = one("neighbor_ip 10.0.0.2\nchecker");
        assert!(!i.to_vrrp && i.to_checker);
        let (i, _) = one("neighbor_ip 10.0.0.2\nchecker\nvrrp");
        assert!(i.to_vrrp && i.to_checker);
        let (_, w) = one("neighbor_ip 10.0.0.2\nvrrp yes");
        assert!(w[0].message.contains("takes no argument"));
    }

    #[test]
    fn address_errors() {
        let e = err("source_ip 10.0.0.1");
        assert!(e.message.contains("no neighbor_ip"));
        assert_eq!(e.span.line, 1);
        assert!(
            err("neighbor_ip nope")
                .message
                .contains("not an IP address")
        );
        assert!(err("neighbor_ip").message.contains("needs a value"));
        assert!(
            err("neighbor_ip 10.0.0.2\nsource_ip x")
                .message
                .contains("source_ip")
        );
        let e = err("neighbor_ip 10.0.0.2\nsource_ip 2001:db8::1");
        assert!(e.message.contains("different families"));
        assert_eq!(e.span.line, 3);
        assert!(err("neighbor_ip 0.0.0.0").message.contains("unicast"));
        assert!(err("neighbor_ip 224.0.0.1").message.contains("unicast"));
    }

    #[test]
    fn unknown_keywords_and_extra_arguments_warn() {
        let (_, w) = one("neighbor_ip 10.0.0.2 extra\nfrobnicate 1\npassive { x }");
        let text: Vec<String> = w.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 3, "{text:?}");
        assert!(
            text[0].contains("<string>:2:") || text[0].contains(":2:"),
            "{text:?}"
        );
        assert!(text[0].contains("extra arguments"));
        assert!(text[1].contains("unknown keyword frobnicate"));
        assert!(text[2].contains("no block"));
    }

    #[test]
    fn names_ids_and_duplicates() {
        let out = map(&conf(
            "bfd_instance z { neighbor_ip 10.0.0.2 }\nbfd_instance a { neighbor_ip 10.0.0.3 }\n",
        ))
        .unwrap();
        assert_eq!(out.instances["z"].session.id, SessionId(1));
        assert_eq!(out.instances["a"].session.id, SessionId(2));
        let names: Vec<&str> = out.sessions().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["z", "a"]);

        let e = map(&conf(
            "bfd_instance a { neighbor_ip 10.0.0.2 }\nbfd_instance a { neighbor_ip 10.0.0.3 }\n",
        ))
        .unwrap_err();
        assert!(e.message.contains("defined twice"));
        assert_eq!(e.span.line, 2);
        let e = map(&conf(
            "bfd_instance a { neighbor_ip 10.0.0.2 }\nbfd_instance b { neighbor_ip 10.0.0.2 }\n",
        ))
        .unwrap_err();
        assert!(e.message.contains("same neighbour"));
        let e = map(&conf("bfd_instance { neighbor_ip 10.0.0.2 }\n")).unwrap_err();
        assert!(e.message.contains("needs a name"));
        let out = map(&conf("bfd_instance a b { neighbor_ip 10.0.0.2 }\n")).unwrap();
        assert!(out.warnings[0].message.contains("extra arguments"));
    }

    #[test]
    fn global_defs_bfd_scheduling_keys_are_mapped_process_keys_warn() {
        let out = map(&conf(
            "global_defs {\n router_id x\n bfd_rt_priority 50\n bfd_priority -5\n \
             bfd_no_swap\n bfd_cpu_affinity 0 1\n bfd_rlimit_rttime 10000\n \
             bfd_process_name b\n vrrp_version 3\n}\nvrrp_instance V { }\n",
        ))
        .unwrap();
        assert_eq!(
            out.scheduling,
            Scheduling {
                realtime: RealtimePriority::new(50),
                nice: Nice::new(-5),
                cpu_affinity: vec![0, 1],
            }
        );
        let lines: Vec<_> = out.warnings.iter().map(|w| w.span.line).collect();
        assert_eq!(lines, [5, 7, 8]);
        assert!(out.warnings.iter().all(|w| w.message.contains("no effect")));
        assert!(out.instances.is_empty());
        assert!(
            map(&conf("global_defs {\n router_id x\n}\n"))
                .unwrap()
                .scheduling
                .is_default()
        );
    }

    #[test]
    fn global_defs_bfd_scheduling_values_out_of_range_are_located_errors() {
        for (line, expected) in [
            ("bfd_rt_priority 0", "expected 1-99"),
            ("bfd_rt_priority 100", "expected 1-99"),
            ("bfd_rt_priority high", "expected 1-99"),
            ("bfd_priority 20", "expected -20 to 19"),
            ("bfd_priority -21", "expected -20 to 19"),
            ("bfd_cpu_affinity", "at least one CPU"),
            ("bfd_cpu_affinity 0 x", "not a CPU number"),
            ("bfd_cpu_affinity -1", "not a CPU number"),
        ] {
            let e = map(&conf(&format!("global_defs {{\n {line}\n}}\n"))).unwrap_err();
            assert!(e.message.contains(expected), "{line}: {}", e.message);
            assert_eq!(e.span.line, 2, "{line}");
        }
    }

    #[test]
    fn mapped_sessions_are_accepted_by_the_engine() {
        use crate::{Command, Engine, Event};
        use ha_core::{Endpoint, Instant};
        let out = map(&conf(
            "bfd_instance a { neighbor_ip 10.0.0.2\n source_ip 10.0.0.1 }\n\
             bfd_instance b { neighbor_ip 10.0.0.3\n max_hops 3 }\n\
             bfd_instance c { neighbor_ip 2001:db8::3\n passive }\n",
        ))
        .unwrap();
        let mut engine = Engine::new(ha_core::rng::seeded(1));
        for inst in out.sessions() {
            engine.handle_command(
                Instant::ZERO,
                Command::AddSession {
                    config: inst.session.clone(),
                },
            );
        }
        let mut added = 0;
        while let Some(e) = engine.poll_event() {
            assert!(matches!(e, Event::SessionAdded { .. }), "{e:?}");
            added += 1;
        }
        assert_eq!(added, 3);
    }

    mod random {
        use super::*;
        use proptest::prelude::*;

        const KEYWORDS: &[&str] = &[
            "neighbor_ip",
            "neighbour_ip",
            "source_ip",
            "min_rx",
            "min_tx",
            "idle_tx",
            "multiplier",
            "passive",
            "ttl",
            "hoplimit",
            "max_hops",
            "weight",
            "vrrp",
            "checker",
            "bogus",
        ];
        const VALUES: &[&str] = &[
            "",
            "0",
            "1",
            "-1",
            "10",
            "3.312",
            "255",
            "256",
            "1000",
            "10000",
            "-253",
            "reverse",
            "10.0.0.2",
            "10.0.0.1",
            "2001:db8::1",
            "::",
            "x",
            "1.",
            "99999999999999999999999",
        ];

        fn line() -> impl Strategy<Value = String> {
            (
                prop::sample::select(KEYWORDS),
                prop::collection::vec(prop::sample::select(VALUES), 0..3),
            )
                .prop_map(|(k, v)| format!("{k} {}", v.join(" ")))
        }

        proptest! {
            #[test]
            fn random_small_configs_never_panic(
                blocks in prop::collection::vec(
                    (prop::sample::select(&["a", "b", ""][..]),
                     prop::collection::vec(line(), 0..8)),
                    0..4),
                globals in prop::collection::vec(
                    prop::sample::select(&["bfd_rt_priority 5", "bfd_no_swap", "router_id r"][..]),
                    0..3),
            ) {
                let mut text = format!("global_defs {{\n{}\n}}\n", globals.join("\n"));
                for (name, lines) in &blocks {
                    text.push_str(&format!("bfd_instance {name} {{\n{}\n}}\n", lines.join("\n")));
                }
                if let Ok(conf) = parse_str(&text, &Options::default()) {
                    if let Ok(out) = map(&conf) {
                        for inst in out.instances.values() {
                            prop_assert!(inst.session.detect_mult >= 1);
                            prop_assert!(!inst.session.required_min_rx.is_zero());
                            prop_assert!(!inst.session.desired_min_tx.is_zero());
                            prop_assert_eq!(
                                inst.session.local.is_ipv4(),
                                inst.session.remote.is_ipv4()
                            );
                        }
                    }
                }
            }
        }
    }
}

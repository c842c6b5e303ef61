//! Mapping of keepalived.conf's VRRP sections onto this crate's configuration.
//!
//! Input is the grammar tree from [`ha_core::conf`]; output is a [`HostConfig`] (instances
//! and sync groups) plus the pieces a daemon wires itself: `vrrp_script` definitions,
//! notify scripts, interface names and VIP prefixes. Every keyword that is unknown or not
//! supported yet becomes a [`Warning`] with its `file:line:col`; nothing is silently
//! ignored. Errors carry their location too.
//!
//! Interface names are resolved through [`Interfaces`], so the mapping stays pure.
//!
//! ```
//! use std::net::IpAddr;
//! use ha_core::IfIndex;
//! use ha_core::conf::{parse_str, Options};
//! use ha_vrrp::keepalived::{map, StaticInterfaces};
//!
//! let conf = parse_str(r#"
//! vrrp_instance VI_1 {
//!     state BACKUP
//!     interface eth0
//!     virtual_router_id 51
//!     priority 150
//!     advert_int 1
//!     virtual_ipaddress {
//!         192.0.2.100/24
//!     }
//! }
//! "#, &Options::default()).unwrap();
//! let ifaces = StaticInterfaces::new().with("eth0", IfIndex(2), "192.0.2.1".parse().unwrap());
//! let vrrp = map(&conf, &ifaces).unwrap();
//! assert_eq!(vrrp.host.instances[0].vrid.get(), 51);
//! assert!(vrrp.warnings.is_empty());
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ha_core::IfIndex;
use ha_core::conf::{Config, Node};
use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use serde::Serialize;

use crate::config::{AddressMismatchPolicy, AuthConfig, InitialState, RouterConfig, TrackConfig};
use crate::host::HostConfig;
use crate::routes::{Parsed, RouteParseError, StaticAddress, VirtualRoute, VirtualRule};
use crate::sync::SyncGroupConfig;
use crate::{Centiseconds, Priority, Version, Vrid};

/// Resolves interface names for the mapping.
pub trait Interfaces {
    /// The index of an interface.
    fn index(&self, name: &str) -> Option<IfIndex>;
    /// The interface's primary address of a family (IPv6: its link-local address).
    fn primary_address(&self, name: &str, ipv6: bool) -> Option<IpAddr>;
}

/// A fixed table of interfaces, for tests and for configuration checks (`-t`).
#[derive(Clone, Debug, Default)]
pub struct StaticInterfaces {
    table: BTreeMap<String, (IfIndex, Vec<IpAddr>)>,
}

impl StaticInterfaces {
    /// An empty table.
    pub fn new() -> Self {
        StaticInterfaces::default()
    }

    /// This table with one more interface (or one more address of it).
    pub fn with(mut self, name: &str, index: IfIndex, address: IpAddr) -> Self {
        self.table
            .entry(name.to_string())
            .or_insert((index, Vec::new()))
            .1
            .push(address);
        self
    }
}

impl Interfaces for StaticInterfaces {
    fn index(&self, name: &str) -> Option<IfIndex> {
        self.table.get(name).map(|e| e.0)
    }

    fn primary_address(&self, name: &str, ipv6: bool) -> Option<IpAddr> {
        self.table
            .get(name)?
            .1
            .iter()
            .copied()
            .find(|a| a.is_ipv6() == ipv6)
    }
}

/// Warnings and errors carry their `file:line:col` (shared by every crate's mapping).
pub use ha_core::conf::{MapError, Warning};

fn error(node: &Node, message: impl Into<String>) -> MapError {
    MapError {
        span: node.span.clone(),
        message: message.into(),
    }
}

/// A `vrrp_script` block: what a daemon runs to feed `script:NAME` tracking.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct VrrpScript {
    /// The script's name.
    pub name: String,
    /// The command line.
    pub script: String,
    /// Run every…
    pub interval: Duration,
    /// Kill after…
    pub timeout: Option<Duration>,
    /// Default weight for instances tracking it.
    pub weight: TrackWeight,
    /// Default `reverse`.
    pub reverse: bool,
    /// Successes to become up.
    pub rise: u32,
    /// Failures to become down.
    pub fall: u32,
    /// Run as this user (and group).
    pub user: Option<(String, Option<String>)>,
    /// Start in the failed state.
    pub init_fail: bool,
}

/// Notify scripts of an instance or a sync group.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct Notify {
    /// `notify_master`.
    pub master: Option<String>,
    /// `notify_backup`.
    pub backup: Option<String>,
    /// `notify_fault`.
    pub fault: Option<String>,
    /// `notify_stop`.
    pub stop: Option<String>,
    /// `notify` (called for every transition with type, name and state).
    pub any: Option<String>,
    /// `smtp_alert`: mail this instance's or group's transitions (`None`: the
    /// `global_defs` default).
    pub smtp_alert: Option<bool>,
}

/// Per-instance facts the router does not need but the daemon does.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct InstanceExtras {
    /// Interface name.
    pub interface: String,
    /// Prefix length of each virtual address, as configured (default /32 or /128).
    pub prefixes: Vec<(IpAddr, u8)>,
    /// Addresses in `virtual_ipaddress_excluded`: added with the others, not advertised.
    pub excluded: Vec<(IpAddr, u8)>,
    /// Notify scripts.
    pub notify: Notify,
    /// `use_vmac [NAME]`: send through a macvlan with the virtual MAC; `Some(None)`
    /// takes the default name.
    pub vmac: Option<Option<String>>,
    /// `dont_track_primary`: the instance's own interface going down does not fault it.
    pub dont_track_primary: bool,
    /// `virtual_routes`: added while Master, after the virtual addresses.
    pub routes: Vec<VirtualRoute>,
    /// `virtual_rules`: added while Master, after the routes.
    pub rules: Vec<VirtualRule>,
}

/// Everything VRRP-related in a keepalived.conf.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct KeepalivedVrrp {
    /// Instances and sync groups, ready for [`crate::Host::new`].
    pub host: HostConfig,
    /// Per-instance extras, by instance name.
    pub extras: BTreeMap<String, InstanceExtras>,
    /// Sync-group notify scripts, by group name.
    pub group_notify: BTreeMap<String, Notify>,
    /// The `vrrp_script` definitions, by name.
    pub scripts: BTreeMap<String, VrrpScript>,
    /// `static_ipaddress`: added once at start-up, whatever the VRRP state.
    pub static_addresses: Vec<StaticAddress>,
    /// `static_routes`: added once at start-up, after the static addresses.
    pub static_routes: Vec<VirtualRoute>,
    /// `static_rules`: added once at start-up, after the static routes.
    pub static_rules: Vec<VirtualRule>,
    /// What was read but not acted upon.
    pub warnings: Vec<Warning>,
}

/// Top-level sections other crates or the daemon map: not warned about here.
const OTHER_SECTIONS: &[&str] = &[
    "global_defs",
    "virtual_server",
    "virtual_server_group",
    "bfd_instance",
    "linkbeat_interfaces",
    "net_namespace",
];

/// Default weights of tracked objects that other sections define, by tracked-object name:
/// a `bfd_instance`'s `weight` and `reverse` under `bfd:NAME` (see
/// `ha_bfd::keepalived::KeepalivedBfd::track_defaults`). A track entry that names such an
/// object without a `weight` of its own takes its default, as keepalived does; objects
/// without one default to weight 0 (FAULT while down).
pub type TrackDefaults = BTreeMap<String, TrackSpec>;

/// Maps the VRRP sections of `conf`, with no [`TrackDefaults`].
pub fn map(conf: &Config, interfaces: &dyn Interfaces) -> Result<KeepalivedVrrp, MapError> {
    map_with_defaults(conf, interfaces, &TrackDefaults::new())
}

/// Maps the VRRP sections of `conf`; track entries without a weight of their own take
/// theirs from `track_defaults`.
///
/// ```
/// use ha_core::IfIndex;
/// use ha_core::conf::{parse_str, Options};
/// use ha_core::track::{TrackSpec, TrackWeight};
/// use ha_vrrp::keepalived::{map_with_defaults, StaticInterfaces, TrackDefaults};
///
/// let conf = parse_str(r#"
/// vrrp_instance VI_1 {
///     interface eth0
///     virtual_router_id 51
///     track_bfd {
///         to_router
///     }
///     virtual_ipaddress {
///         192.0.2.100/24
///     }
/// }
/// "#, &Options::default()).unwrap();
/// let ifaces = StaticInterfaces::new().with("eth0", IfIndex(2), "192.0.2.1".parse().unwrap());
/// let spec = TrackSpec { weight: TrackWeight::new(-30).unwrap(), reverse: false };
/// let defaults = TrackDefaults::from([("bfd:to_router".to_string(), spec)]);
/// let vrrp = map_with_defaults(&conf, &ifaces, &defaults).unwrap();
/// assert_eq!(vrrp.host.instances[0].track[0].spec, spec);
/// ```
pub fn map_with_defaults(
    conf: &Config,
    interfaces: &dyn Interfaces,
    track_defaults: &TrackDefaults,
) -> Result<KeepalivedVrrp, MapError> {
    let mut out = KeepalivedVrrp::default();
    let mut defaults = Defaults {
        version: Version::V2,
        strict: false,
    };
    for node in &conf.nodes {
        match node.keyword.as_str() {
            "global_defs" => global_defs(node, &mut defaults),
            "vrrp_script" => {
                let s = vrrp_script(node, &mut out.warnings)?;
                out.scripts.insert(s.name.clone(), s);
            }
            "track_file" | "vrrp_track_file" | "vrrp_track_process" | "track_process" => {
                // Definitions of tracked objects; instances reference them by name.
            }
            _ => {}
        }
    }
    for node in &conf.nodes {
        match node.keyword.as_str() {
            "vrrp_instance" => {
                let bases = TrackBases {
                    scripts: Some(&out.scripts),
                    defaults: track_defaults,
                };
                let (config, extras) =
                    instance(node, &defaults, bases, interfaces, &mut out.warnings)?;
                out.extras.insert(config.name.clone(), extras);
                out.host.instances.push(config);
            }
            "static_ipaddress" => {
                out.static_addresses.extend(lines(
                    node,
                    StaticAddress::parse_words,
                    "address",
                    &mut out.warnings,
                )?);
            }
            "static_routes" => {
                out.static_routes.extend(lines(
                    node,
                    VirtualRoute::parse_words,
                    "route",
                    &mut out.warnings,
                )?);
            }
            "static_rules" => {
                out.static_rules.extend(lines(
                    node,
                    VirtualRule::parse_words,
                    "rule",
                    &mut out.warnings,
                )?);
            }
            "vrrp_sync_group" => {
                let bases = TrackBases {
                    scripts: None,
                    defaults: track_defaults,
                };
                let (group, notify) = sync_group(node, bases, &mut out.warnings)?;
                out.group_notify.insert(group.name.clone(), notify);
                out.host.sync_groups.push(group);
            }
            "global_defs" | "vrrp_script" | "track_file" | "vrrp_track_file"
            | "vrrp_track_process" | "track_process" => {}
            k if OTHER_SECTIONS.contains(&k) => {}
            k => out.warnings.push(Warning {
                span: node.span.clone(),
                message: format!("unknown section {k}"),
            }),
        }
    }
    for g in &out.host.sync_groups {
        for m in &g.members {
            if !out.host.instances.iter().any(|i| &i.name == m) {
                let span = conf
                    .sections("vrrp_sync_group")
                    .find(|n| n.arg() == Some(&g.name))
                    .map(|n| n.span.clone());
                return Err(MapError {
                    span: span.unwrap_or_else(|| conf.nodes[0].span.clone()),
                    message: format!("sync group {} names unknown instance {m}", g.name),
                });
            }
        }
    }
    Ok(out)
}

struct Defaults {
    version: Version,
    strict: bool,
}

fn global_defs(node: &Node, defaults: &mut Defaults) {
    for c in &node.children {
        match c.keyword.as_str() {
            "vrrp_version" if c.arg() == Some("3") => defaults.version = Version::V3,
            "vrrp_strict" => defaults.strict = true,
            // The rest of global_defs belongs to the daemon.
            _ => {}
        }
    }
}

fn one_arg(node: &Node) -> Result<&str, MapError> {
    node.arg()
        .ok_or_else(|| error(node, format!("{} needs a value", node.keyword)))
}

fn number<T: std::str::FromStr>(node: &Node) -> Result<T, MapError> {
    let v = one_arg(node)?;
    v.parse().map_err(|_| {
        error(
            node,
            format!("{}: {v:?} is not a valid number", node.keyword),
        )
    })
}

fn seconds(node: &Node) -> Result<Duration, MapError> {
    let v: f64 = number(node)?;
    if !(0.0..=4_000_000.0).contains(&v) {
        return Err(error(
            node,
            format!("{}: {v} seconds is out of range", node.keyword),
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn on_off(node: &Node) -> Result<bool, MapError> {
    match node.arg() {
        None | Some("on" | "true" | "yes") => Ok(true),
        Some("off" | "false" | "no") => Ok(false),
        Some(v) => Err(error(
            node,
            format!("{}: expected on or off, got {v:?}", node.keyword),
        )),
    }
}

fn address_with_prefix(node: &Node, text: &str) -> Result<(IpAddr, u8), MapError> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| error(node, format!("{text:?} is not an IP address")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| error(node, format!("bad prefix in {text:?}")))?,
        None => max,
    };
    Ok((addr, prefix))
}

/// Reads the lines of a route, rule or address block: malformed lines are errors,
/// lines asking for something unsupported are skipped with a warning, options not
/// applied are warnings.
fn lines<T>(
    node: &Node,
    parse: fn(&[&str]) -> Result<Parsed<T>, RouteParseError>,
    what: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<T>, MapError> {
    let mut out = Vec::new();
    for c in &node.children {
        if !c.children.is_empty() {
            warnings.push(Warning {
                span: c.span.clone(),
                message: format!("{}: a {what} has no block: ignored", node.keyword),
            });
            continue;
        }
        let words: Vec<&str> = std::iter::once(c.keyword.as_str())
            .chain(c.args.iter().map(String::as_str))
            .collect();
        match parse(&words) {
            Ok(parsed) => {
                for message in parsed.ignored {
                    warnings.push(Warning {
                        span: c.span.clone(),
                        message: format!("{}: {message}", node.keyword),
                    });
                }
                out.push(parsed.value);
            }
            Err(RouteParseError::Unsupported(what_)) => warnings.push(Warning {
                span: c.span.clone(),
                message: format!("{}: {what_} is not supported: {what} ignored", node.keyword),
            }),
            Err(RouteParseError::Invalid(message)) => {
                return Err(error(c, format!("{}: {message}", node.keyword)));
            }
        }
    }
    Ok(out)
}

/// Where track entries without a weight of their own take it from.
#[derive(Clone, Copy)]
struct TrackBases<'a> {
    /// The `vrrp_script` definitions, where `track_script` entries are checked against
    /// them (in an instance; a sync group's are not).
    scripts: Option<&'a BTreeMap<String, VrrpScript>>,
    /// Defaults of objects other sections define.
    defaults: &'a TrackDefaults,
}

/// Reads `NAME [weight W [reverse]]` lines of a track block.
fn track_block(
    node: &Node,
    prefix: &str,
    bases: TrackBases<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<TrackConfig>, MapError> {
    let mut out = Vec::new();
    for c in &node.children {
        let name = c.keyword.clone();
        let object = format!("{prefix}:{name}");
        let scripts = bases.scripts.filter(|_| prefix == "script");
        let script = scripts.and_then(|s| s.get(&name));
        if scripts.is_some() && script.is_none() {
            warnings.push(Warning {
                span: c.span.clone(),
                message: format!("track_script {name}: no vrrp_script of that name"),
            });
        }
        let base = match script {
            Some(s) => Some(TrackSpec {
                weight: s.weight,
                reverse: s.reverse,
            }),
            None => bases.defaults.get(&object).copied(),
        };
        let mut weight = base.map_or(TrackWeight::FAULT, |b| b.weight);
        let mut reverse = base.is_some_and(|b| b.reverse);
        let mut initial = if script.is_some_and(|s| s.init_fail) {
            TrackState::Down
        } else {
            TrackState::Up
        };
        let mut args = c.args.iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "weight" => {
                    let w = args
                        .next()
                        .ok_or_else(|| error(c, "weight needs a value"))?;
                    let w: i64 = w
                        .parse()
                        .map_err(|_| error(c, format!("weight {w:?} is not a number")))?;
                    weight = TrackWeight::new(w).map_err(|e| error(c, e.to_string()))?;
                }
                "reverse" => reverse = true,
                "noreverse" => reverse = false,
                other => warnings.push(Warning {
                    span: c.span.clone(),
                    message: format!("{name}: unknown option {other}"),
                }),
            }
        }
        if prefix == "if" {
            // An interface is up until the link monitor says otherwise.
            initial = TrackState::Up;
        }
        out.push(TrackConfig {
            object,
            spec: TrackSpec { weight, reverse },
            initial,
        });
    }
    Ok(out)
}

fn vrrp_script(node: &Node, warnings: &mut Vec<Warning>) -> Result<VrrpScript, MapError> {
    let name = one_arg(node)?.to_string();
    let mut s = VrrpScript {
        name,
        script: String::new(),
        interval: Duration::from_secs(1),
        timeout: None,
        weight: TrackWeight::FAULT,
        reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
    };
    for c in &node.children {
        match c.keyword.as_str() {
            "script" => s.script = c.args.join(" "),
            "interval" => s.interval = seconds(c)?,
            "timeout" => s.timeout = Some(seconds(c)?),
            "weight" => {
                let w: i64 = number(c)?;
                s.weight = TrackWeight::new(w).map_err(|e| error(c, e.to_string()))?;
                s.reverse = c.args.get(1).is_some_and(|a| a == "reverse");
            }
            "rise" => s.rise = number(c)?,
            "fall" => s.fall = number(c)?,
            "user" => s.user = Some((one_arg(c)?.to_string(), c.args.get(1).cloned())),
            "init_fail" => s.init_fail = true,
            k => warnings.push(Warning {
                span: c.span.clone(),
                message: format!("vrrp_script: unsupported keyword {k}"),
            }),
        }
    }
    if s.script.is_empty() {
        return Err(error(node, format!("vrrp_script {} has no script", s.name)));
    }
    Ok(s)
}

fn sync_group(
    node: &Node,
    bases: TrackBases<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(SyncGroupConfig, Notify), MapError> {
    let name = one_arg(node)?.to_string();
    let mut group = SyncGroupConfig {
        name,
        members: Vec::new(),
        track: Vec::new(),
    };
    let mut notify = Notify::default();
    for c in &node.children {
        match c.keyword.as_str() {
            "group" => {
                group
                    .members
                    .extend(c.children.iter().map(|m| m.keyword.clone()));
                group
                    .members
                    .extend(c.children.iter().flat_map(|m| m.args.iter().cloned()));
            }
            "track_interface" => group.track.extend(track_block(c, "if", bases, warnings)?),
            "track_script" => group
                .track
                .extend(track_block(c, "script", bases, warnings)?),
            "track_file" => group.track.extend(track_block(c, "file", bases, warnings)?),
            "track_bfd" => group.track.extend(track_block(c, "bfd", bases, warnings)?),
            "track_process" => group
                .track
                .extend(track_block(c, "process", bases, warnings)?),
            "notify_master" => notify.master = Some(c.args.join(" ")),
            "notify_backup" => notify.backup = Some(c.args.join(" ")),
            "notify_fault" => notify.fault = Some(c.args.join(" ")),
            "notify_stop" => notify.stop = Some(c.args.join(" ")),
            "notify" => notify.any = Some(c.args.join(" ")),
            "smtp_alert" => notify.smtp_alert = Some(on_off(c)?),
            k => warnings.push(Warning {
                span: c.span.clone(),
                message: format!("vrrp_sync_group: unsupported keyword {k}"),
            }),
        }
    }
    if group.members.is_empty() {
        return Err(error(
            node,
            format!("vrrp_sync_group {} has no group block", group.name),
        ));
    }
    Ok((group, notify))
}

fn instance(
    node: &Node,
    defaults: &Defaults,
    bases: TrackBases<'_>,
    interfaces: &dyn Interfaces,
    warnings: &mut Vec<Warning>,
) -> Result<(RouterConfig, InstanceExtras), MapError> {
    let name = one_arg(node)?.to_string();
    let mut version = defaults.version;
    let mut vrid = None;
    let mut priority = Priority::DEFAULT;
    let mut interval = Duration::from_secs(1);
    let mut interface = None;
    let mut vips: Vec<(IpAddr, u8)> = Vec::new();
    let mut excluded: Vec<(IpAddr, u8)> = Vec::new();
    let mut unicast_src = None;
    let mut unicast_peers = Vec::new();
    let mut state = InitialState::Backup;
    let mut preempt = true;
    let mut preempt_delay = Duration::ZERO;
    let mut auth = AuthConfig::None;
    let mut track = Vec::new();
    let mut notify = Notify::default();
    let mut garp = crate::config::GarpConfig::default();
    let mut lower_prio_no_advert = defaults.strict;
    let mut higher_prio_send_advert = false;
    let mut down_timer_adverts = 3u8;
    let mut accept = !defaults.strict;
    let mut native_ipv6 = false;
    let mut strict = defaults.strict;
    let mut vmac = None;
    let mut dont_track_primary = false;
    let mut routes = Vec::new();
    let mut rules = Vec::new();
    for c in &node.children {
        match c.keyword.as_str() {
            "state" => {
                state = match one_arg(c)? {
                    "MASTER" => InitialState::Master,
                    "BACKUP" => InitialState::Backup,
                    v => {
                        return Err(error(
                            c,
                            format!("state must be MASTER or BACKUP, not {v:?}"),
                        ));
                    }
                }
            }
            "interface" => interface = Some((one_arg(c)?.to_string(), c.clone())),
            "virtual_router_id" => {
                let v: u8 = number(c)?;
                vrid = Some(Vrid::new(v).map_err(|e| error(c, e.to_string()))?);
            }
            "priority" => {
                let p: u8 = number(c)?;
                if p == 0 {
                    return Err(error(c, "priority must be 1..=255"));
                }
                priority = Priority(p);
            }
            "advert_int" => interval = seconds(c)?,
            "version" => {
                version = match one_arg(c)? {
                    "2" => Version::V2,
                    "3" => Version::V3,
                    v => return Err(error(c, format!("version must be 2 or 3, not {v:?}"))),
                }
            }
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                let list = if c.keyword == "virtual_ipaddress" {
                    &mut vips
                } else {
                    &mut excluded
                };
                for a in &c.children {
                    list.push(address_with_prefix(a, &a.keyword)?);
                    let mut opts = a.args.iter();
                    while let Some(o) = opts.next() {
                        match o.as_str() {
                            "dev" | "label" | "scope" | "brd" | "broadcast" => {
                                if o == "dev" {
                                    warnings.push(Warning {
                                        span: a.span.clone(),
                                        message: "virtual address on another device: not supported yet, added on the instance's interface".into(),
                                    });
                                }
                                opts.next();
                            }
                            other => warnings.push(Warning {
                                span: a.span.clone(),
                                message: format!(
                                    "virtual address option {other} not supported yet"
                                ),
                            }),
                        }
                    }
                }
            }
            // Both set the adverts' source address (the primary address).
            "unicast_src_ip" | "mcast_src_ip" => {
                unicast_src = Some(address_with_prefix(c, one_arg(c)?)?.0)
            }
            "unicast_peer" => {
                for p in &c.children {
                    unicast_peers.push(address_with_prefix(p, &p.keyword)?.0);
                }
            }
            "nopreempt" => preempt = false,
            "preempt" => preempt = true,
            "preempt_delay" => preempt_delay = seconds(c)?,
            "authentication" => {
                let kind = c.child("auth_type").map(one_arg).transpose()?;
                let pass = c.child("auth_pass").map(|p| p.args.join(" "));
                auth = match (kind, pass) {
                    (Some("PASS"), Some(p)) => AuthConfig::Password(p),
                    (Some("AH"), Some(p)) => AuthConfig::IpsecAh(p),
                    (None, None) => AuthConfig::None,
                    _ => {
                        return Err(error(
                            c,
                            "authentication needs auth_type PASS|AH and auth_pass",
                        ));
                    }
                };
            }
            "track_interface" => track.extend(track_block(c, "if", bases, warnings)?),
            "track_script" => track.extend(track_block(c, "script", bases, warnings)?),
            "track_file" => track.extend(track_block(c, "file", bases, warnings)?),
            "track_bfd" => track.extend(track_block(c, "bfd", bases, warnings)?),
            "track_process" => track.extend(track_block(c, "process", bases, warnings)?),
            "notify_master" => notify.master = Some(c.args.join(" ")),
            "notify_backup" => notify.backup = Some(c.args.join(" ")),
            "notify_fault" => notify.fault = Some(c.args.join(" ")),
            "notify_stop" => notify.stop = Some(c.args.join(" ")),
            "notify" => notify.any = Some(c.args.join(" ")),
            "smtp_alert" => notify.smtp_alert = Some(on_off(c)?),
            "garp_master_delay" => {
                let d = seconds(c)?;
                garp.delay = (!d.is_zero()).then_some(d);
            }
            "garp_master_repeat" => garp.repeat = number(c)?,
            "garp_master_refresh" => {
                let d = seconds(c)?;
                garp.refresh = (!d.is_zero()).then_some(d);
            }
            "garp_master_refresh_repeat" => garp.refresh_repeat = number(c)?,
            "garp_interval" | "gna_interval" => garp.interval = seconds(c)?,
            "lower_prio_no_advert" => lower_prio_no_advert = on_off(c)?,
            "higher_prio_send_advert" => higher_prio_send_advert = on_off(c)?,
            "down_timer_adverts" => down_timer_adverts = number(c)?,
            "accept" => accept = true,
            "no_accept" => accept = false,
            "native_ipv6" => native_ipv6 = true,
            "strict_mode" => strict = on_off(c)?,
            "use_vmac" => {
                let name = c.arg().map(str::to_string);
                if name.as_ref().is_some_and(|n| n.is_empty() || n.len() > 15) {
                    return Err(error(c, "use_vmac: not a valid interface name"));
                }
                vmac = Some(name);
            }
            "vmac_xmit_base" => warnings.push(Warning {
                span: c.span.clone(),
                message: "vmac_xmit_base not supported: adverts are sent from the VMAC".into(),
            }),
            "dont_track_primary" => dont_track_primary = true,
            "virtual_routes" => {
                routes.extend(lines(c, VirtualRoute::parse_words, "route", warnings)?);
            }
            "virtual_rules" => {
                rules.extend(lines(c, VirtualRule::parse_words, "rule", warnings)?);
            }
            "debug" | "notify_master_rx_lower_pri" => {
                warnings.push(Warning {
                    span: c.span.clone(),
                    message: format!("{} is accepted but has no effect yet", c.keyword),
                });
            }
            k => warnings.push(Warning {
                span: c.span.clone(),
                message: format!("vrrp_instance: unsupported keyword {k}"),
            }),
        }
    }
    let vrid = vrid.ok_or_else(|| {
        error(
            node,
            format!("vrrp_instance {name} has no virtual_router_id"),
        )
    })?;
    let (if_name, if_node) =
        interface.ok_or_else(|| error(node, format!("vrrp_instance {name} has no interface")))?;
    let if_index = interfaces
        .index(&if_name)
        .ok_or_else(|| error(&if_node, format!("no interface named {if_name}")))?;
    let ipv6 = native_ipv6 || vips.first().is_some_and(|(a, _)| a.is_ipv6());
    if ipv6 && version == Version::V2 {
        // keepalived switches an IPv6 instance to VRRPv3.
        version = Version::V3;
    }
    let primary = match unicast_src {
        Some(a) => a,
        None => interfaces.primary_address(&if_name, ipv6).ok_or_else(|| {
            error(
                &if_node,
                format!(
                    "interface {if_name} has no {} address",
                    if ipv6 { "IPv6" } else { "IPv4" }
                ),
            )
        })?,
    };
    let step = match version {
        Version::V2 => Duration::from_secs(1),
        Version::V3 => Duration::from_millis(10),
    };
    let interval_node = node.child("advert_int").unwrap_or(node);
    if interval.is_zero() || interval.as_nanos() % step.as_nanos() != 0 {
        return Err(error(
            interval_node,
            format!(
                "advert_int {interval:?} is not a multiple of {step:?} for VRRPv{}",
                version.number()
            ),
        ));
    }
    let mut config = RouterConfig::new(
        name.clone(),
        version,
        vrid,
        priority,
        if_index,
        primary,
        vips.iter().map(|(a, _)| *a).collect(),
    );
    config.advert_interval = Centiseconds::from_duration_floor(interval);
    config.initial_state = state;
    config.preempt = preempt;
    config.preempt_delay = preempt_delay;
    config.accept = accept;
    config.unicast_peers = unicast_peers;
    config.auth = auth;
    config.down_timer_adverts = down_timer_adverts;
    config.lower_prio_no_advert = lower_prio_no_advert;
    config.higher_prio_send_advert = higher_prio_send_advert;
    config.garp = garp;
    config.track = track;
    if strict {
        config.address_mismatch = AddressMismatchPolicy::Drop;
    }
    config.validate().map_err(|e| error(node, e.to_string()))?;
    let extras = InstanceExtras {
        interface: if_name,
        prefixes: vips,
        excluded,
        notify,
        vmac,
        dont_track_primary,
        routes,
        rules,
    };
    Ok((config, extras))
}

#[cfg(test)]
mod tests {
    use ha_core::conf::{Options, parse_str};

    use super::*;

    fn ifaces() -> StaticInterfaces {
        StaticInterfaces::new()
            .with("eth0", IfIndex(2), "192.0.2.1".parse().unwrap())
            .with("eth0", IfIndex(2), "fe80::1".parse().unwrap())
            .with("eth1", IfIndex(3), "198.51.100.1".parse().unwrap())
    }

    fn mapped(text: &str) -> Result<KeepalivedVrrp, MapError> {
        map(&parse_str(text, &Options::default()).unwrap(), &ifaces())
    }

    /// keepalived's sample configuration (keepalived.conf.sample), VRRP part.
    const SAMPLE: &str = r#"
! Configuration File for keepalived
global_defs {
   notification_email {
     acassen
   }
   smtp_server 192.168.200.1
   router_id LVS_DEVEL
}
vrrp_script chk_haproxy {
    script "/usr/bin/killall -0 haproxy"
    interval 2
    weight -20
    fall 2
    rise 2
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.200.16
        192.168.200.17/24 label eth0:1
    }
    track_script {
        chk_haproxy
    }
    track_interface {
        eth1 weight -10
    }
    notify_master "/etc/keepalived/master.sh"
}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 52
    priority 90
    nopreempt
    virtual_ipaddress {
        198.51.100.10/24
    }
}
vrrp_sync_group VG_1 {
    group {
        VI_1
        VI_2
    }
    notify_fault "/bin/fault.sh"
}
"#;

    #[test]
    fn maps_keepalived_sample() {
        let v = mapped(SAMPLE).unwrap();
        let vi = &v.host.instances[0];
        assert_eq!(vi.name, "VI_1");
        assert_eq!(vi.vrid.get(), 51);
        assert_eq!(vi.version, Version::V2);
        assert_eq!(vi.interface, IfIndex(2));
        assert_eq!(vi.primary_address, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(vi.initial_state, InitialState::Master);
        assert_eq!(vi.auth, AuthConfig::Password("1111".into()));
        assert_eq!(vi.advert_interval, Centiseconds(100));
        assert_eq!(vi.track.len(), 2);
        assert_eq!(vi.track[0].object, "script:chk_haproxy");
        assert_eq!(vi.track[0].spec.weight.get(), -20);
        assert_eq!(vi.track[1].object, "if:eth1");
        assert_eq!(vi.track[1].spec.weight.get(), -10);
        let extras = &v.extras["VI_1"];
        assert_eq!(extras.prefixes[0].1, 32);
        assert_eq!(extras.prefixes[1].1, 24);
        assert_eq!(
            extras.notify.master.as_deref(),
            Some("/etc/keepalived/master.sh")
        );
        assert!(!v.host.instances[1].preempt);
        assert_eq!(v.host.sync_groups[0].members, vec!["VI_1", "VI_2"]);
        assert_eq!(v.scripts["chk_haproxy"].fall, 2);
        assert_eq!(
            v.group_notify["VG_1"].fault.as_deref(),
            Some("/bin/fault.sh")
        );
        // The mapping feeds a Host as is.
        crate::Host::new(v.host.clone(), ha_core::Instant::ZERO).unwrap();
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    }

    #[test]
    fn unknown_keywords_are_warnings_with_location() {
        let v = mapped("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.9\n }\n no_such_option\n frobnicate 3\n}\nmystery_section {\n}\n").unwrap();
        let msgs: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "<string>:7:2: vrrp_instance: unsupported keyword no_such_option",
                "<string>:8:2: vrrp_instance: unsupported keyword frobnicate",
                "<string>:10:1: unknown section mystery_section",
            ]
        );
    }

    #[test]
    fn virtual_and_static_routes_and_rules() {
        let v = mapped("static_ipaddress {\n 192.0.2.50/24 dev eth0 scope global\n}\nstatic_routes {\n 198.51.100.0/24 via 192.0.2.254 dev eth0\n}\nstatic_rules {\n from 192.0.2.50 table 10\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.9\n }\n virtual_routes {\n src 192.0.2.9 to 10.1.0.0/16 via 192.0.2.254 table 100\n blackhole 10.2.0.0/16\n throw 10.3.0.0/16\n 10.4.0.0/16 via 192.0.2.254 onlink\n }\n virtual_rules {\n from 192.0.2.9 table 100 priority 100\n from all fwmark 7 goto 5\n }\n}\n").unwrap();
        assert_eq!(v.static_addresses[0].to_string(), "192.0.2.50/24 dev eth0");
        assert_eq!(
            v.static_routes[0].to_string(),
            "198.51.100.0/24 via 192.0.2.254 dev eth0"
        );
        assert_eq!(v.static_rules[0].to_string(), "from 192.0.2.50/32 table 10");
        let extras = &v.extras["V"];
        let routes: Vec<String> = extras.routes.iter().map(ToString::to_string).collect();
        assert_eq!(
            routes,
            vec![
                "10.1.0.0/16 via 192.0.2.254 src 192.0.2.9 table 100",
                "blackhole 10.2.0.0/16",
                "10.4.0.0/16 via 192.0.2.254",
            ]
        );
        assert_eq!(
            extras.rules[0].to_string(),
            "from 192.0.2.9/32 table 100 priority 100"
        );
        assert_eq!(extras.rules.len(), 1);
        let msgs: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "<string>:2:2: static_ipaddress: address option scope global is not supported",
                "<string>:19:2: virtual_routes: route type throw is not supported: route ignored",
                "<string>:20:2: virtual_routes: route option onlink is not supported",
                "<string>:24:2: virtual_rules: rule option goto is not supported: rule ignored",
            ]
        );
        let e = mapped("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_routes {\n 10.0.0.0/40 dev eth0\n }\n}\n").unwrap_err();
        assert!(
            e.to_string().starts_with("<string>:5:2: virtual_routes:"),
            "{e}"
        );
    }

    #[test]
    fn errors_carry_location() {
        let e = mapped("vrrp_instance V {\n interface eth9\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.9\n }\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "<string>:2:2: no interface named eth9");
        let e =
            mapped("vrrp_instance V {\n interface eth0\n virtual_router_id 300\n}\n").unwrap_err();
        assert!(e.to_string().starts_with("<string>:3:2:"), "{e}");
        let e = mapped("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n advert_int 0.5\n virtual_ipaddress {\n 192.0.2.9\n }\n}\n").unwrap_err();
        assert!(e.to_string().starts_with("<string>:4:2: advert_int"), "{e}");
        let e = mapped("vrrp_sync_group G {\n group {\n X\n }\n}\n").unwrap_err();
        assert!(e.to_string().contains("unknown instance X"), "{e}");
    }

    #[test]
    fn v3_ipv6_and_subsecond_intervals() {
        let v = mapped("global_defs {\n vrrp_version 3\n}\nvrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n advert_int 0.05\n virtual_ipaddress {\n 2001:db8::9/64\n }\n unicast_peer {\n fe80::2\n }\n}\n").unwrap();
        let vi = &v.host.instances[0];
        assert_eq!(vi.version, Version::V3);
        assert_eq!(vi.advert_interval, Centiseconds(5));
        assert_eq!(vi.primary_address, "fe80::1".parse::<IpAddr>().unwrap());
        assert_eq!(vi.unicast_peers, vec!["fe80::2".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn ipsec_ah_and_strict_mode() {
        let v = mapped("global_defs {\n vrrp_strict\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n authentication {\n auth_type AH\n auth_pass s3cret\n }\n virtual_ipaddress {\n 192.0.2.9\n }\n}\n").unwrap();
        let vi = &v.host.instances[0];
        assert_eq!(vi.auth, AuthConfig::IpsecAh("s3cret".into()));
        assert_eq!(vi.address_mismatch, AddressMismatchPolicy::Drop);
        assert!(vi.lower_prio_no_advert);
    }
}

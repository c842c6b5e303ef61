//! Mapping of keepalived.conf's IPVS side onto this crate's configuration.
//!
//! Input is the grammar tree from [`ha_core::conf`]; output is a [`KeepalivedIpvs`]: one
//! [`VirtualServerConf`] per `virtual_server` (each with one [`PoolConfig`] per IPVS
//! service it stands for, ready for [`crate::pool::PoolController::new`]), the sync daemon
//! of `global_defs` ([`SyncDaemonConf`]), connection timeouts and the flush settings.
//!
//! What is read, with keepalived 2.2's semantics:
//!
//! - `virtual_server IP [PORT]`, `virtual_server fwmark N`, `virtual_server group NAME`;
//!   `virtual_server_group NAME { IP [PORT] | RANGE [PORT] | fwmark N [inet|inet6] }` where
//!   a range is `10.0.0.1-10` (last octet; for IPv6 the last group, in hex),
//!   `10.0.0.250-10.0.1.5` or `10.0.0.8/29`; a group expands to one service per address
//!   and per mark.
//! - In `virtual_server`: `lvs_sched`/`lb_algo`, `lvs_method`/`lb_kind`
//!   (`NAT`, `DR`, `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`), `protocol`,
//!   `persistence_timeout`, `persistence_granularity`, `persistence_engine`, `ops`,
//!   `flag-1`/`flag-2`/`flag-3`, `sh-port`/`sh-fallback`/`mh-port`/`mh-fallback`,
//!   `ip_family`, `quorum`, `hysteresis`, `quorum_up`, `quorum_down`, `sorry_server`,
//!   `sorry_server_inhibit`, `sorry_server_lvs_method`, `inhibit_on_failure`, `alpha`,
//!   `omega`, `ha_suspend`, `weight` (the real servers' default weight) and `real_server`.
//! - In `real_server`: `weight`, `inhibit_on_failure`, `lvs_method`/`lb_kind`,
//!   `uthreshold`, `lthreshold`, `notify_up`, `notify_down`.
//! - In `global_defs`: `lvs_sync_daemon`, `lvs_timeouts`, `lvs_flush`, `lvs_flush_on_stop`.
//!
//! Health checking belongs to `ha-healthcheck`: the checker blocks of a `real_server` and
//! the timing keywords (`delay_loop`, `connect_timeout`, `retry`, `delay_before_retry`,
//! `warmup`, `virtualhost`, a real server's `alpha`) are accepted here without a warning;
//! the daemon hands [`VirtualServerConf::node`] and [`RealServerConf::node`] to
//! `ha_healthcheck::keepalived`. Other `global_defs` keywords and other top-level
//! sections belong to other crates and are not looked at.
//!
//! Every other keyword becomes a [`Warning`] with its `file:line:col`; nothing is
//! silently ignored. Where keepalived corrects a configuration and logs it (a port-less
//! service made persistent, a quorum above the total weight, a duplicate real server, a
//! service without `protocol` made UDP, …), the same correction is made and a warning
//! says so. Where keepalived logs a configuration error and drops the item (an address,
//! a port, a scheduler or a range it cannot read, a real server of the wrong address
//! family, an unknown group), the mapping fails with a [`MapError`] and its location
//! instead: a load balancer missing part of its configuration is worse than one that
//! does not start. Nothing here panics, whatever the input; the number of services and
//! destinations a configuration expands to is bounded ([`MAX_SERVICES`],
//! [`MAX_DESTINATIONS`]).
//!
//! ```
//! use ha_core::conf::{parse_str, Options};
//! use ha_ipvs::keepalived::map;
//! use ha_ipvs::model::{ForwardMethod, Scheduler};
//!
//! let conf = parse_str(r#"
//! global_defs {
//!     lvs_sync_daemon eth1 VI_1 id 7
//! }
//! virtual_server 192.0.2.10 80 {
//!     delay_loop 5
//!     lvs_sched wrr
//!     lvs_method DR
//!     protocol TCP
//!     quorum_up "/usr/local/bin/web-up"
//!     real_server 10.0.0.1 80 {
//!         weight 3
//!         TCP_CHECK {
//!             connect_timeout 2
//!         }
//!     }
//!     real_server 10.0.0.2 80 {
//!         weight 1
//!     }
//! }
//! "#, &Options::default()).unwrap();
//!
//! let ipvs = map(&conf).unwrap();
//! assert!(ipvs.warnings.is_empty());
//! let vs = &ipvs.virtual_servers[0];
//! assert_eq!(vs.name, "192.0.2.10:80/TCP");
//! assert_eq!(vs.quorum_up.as_deref(), Some("/usr/local/bin/web-up"));
//! let pool = &vs.pools[0];
//! assert_eq!(pool.service.scheduler, Scheduler::Wrr);
//! assert_eq!(pool.real_servers[0].dest.weight, 3);
//! assert_eq!(pool.real_servers[0].dest.fwd, ForwardMethod::DirectRoute);
//! // The checker block is left for ha-healthcheck, with the real server's node.
//! assert!(vs.real_servers[0].node.child("TCP_CHECK").is_some());
//! let sync = ipvs.sync_daemon.unwrap();
//! assert_eq!((sync.interface.as_str(), sync.vrrp_instance.as_deref()), ("eth1", Some("VI_1")));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ha_core::conf::{Config, Node, Span};
use serde::Serialize;

use crate::model::Destination;
use crate::model::{
    DestinationKey, Family, ForwardMethod, Netmask, PersistenceEngine, Protocol, Scheduler,
    Service, ServiceFlags, ServiceKey, SyncDaemon, SyncState, Timeouts, Tunnel, TunnelChecksum,
};
use crate::pool::{PoolConfig, RealServer};

/// keepalived's persistence timeout when `persistence_timeout` has no value, or when a
/// service must be persistent (port 0) and none was given: 6 minutes.
pub const DEFAULT_PERSISTENCE_TIMEOUT: Duration = Duration::from_secs(360);

/// The most IPVS services one configuration may expand to (virtual server groups with
/// ranges multiply quickly); beyond it the mapping fails instead of exhausting memory.
pub const MAX_SERVICES: usize = 65_536;

/// The most destinations (real and sorry servers, counted once per service) one
/// configuration may expand to.
pub const MAX_DESTINATIONS: usize = 1 << 20;

/// The scheduler when none is given (keepalived's and the kernel's default).
pub const DEFAULT_SCHEDULER: Scheduler = Scheduler::Wlc;

/// Keywords that name a checker block (mapped by `ha-healthcheck`).
pub const CHECKER_KEYWORDS: &[&str] = &[
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "FILE_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "BFD_CHECK",
];

/// Health-checking keywords valid on a virtual or real server, mapped by
/// `ha-healthcheck` (as defaults for the checkers below them).
pub const CHECK_DEFAULT_KEYWORDS: &[&str] = &[
    "delay_loop",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "virtualhost",
];

/// Warnings and errors carry their `file:line:col` (shared by every crate's mapping).
pub use ha_core::conf::{MapError, Warning};

/// What to do with the IPVS table when the daemon stops.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
pub enum FlushOnStop {
    /// Remove each configured real server and virtual server, one by one (the default).
    #[default]
    Off,
    /// Flush the whole IPVS table (`lvs_flush_on_stop`): fast for large tables, and it
    /// also removes services this daemon did not configure.
    All,
    /// Remove each configured virtual server without removing its real servers first
    /// (`lvs_flush_on_stop VS`): the kernel removes them with the service.
    VirtualServers,
}

/// `lvs_sync_daemon` from `global_defs`: the connection-synchronisation daemon.
///
/// With a VRRP instance, the daemon runs as [`SyncState::Master`] while that instance is
/// master and as [`SyncState::Backup`] otherwise; without one, both run for as long as the
/// daemon does. Build the kernel's configuration with [`SyncDaemonConf::daemon`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct SyncDaemonConf {
    /// The interface the sync traffic uses.
    pub interface: String,
    /// The VRRP instance whose state the daemon's role follows.
    pub vrrp_instance: Option<String>,
    /// `id`; by default the VRRP instance's VRID, or 0 without an instance.
    pub sync_id: Option<u8>,
    /// `maxlen`: the largest sync packet payload, bytes.
    pub max_len: Option<u16>,
    /// `port`: UDP port (kernel default 8848).
    pub port: Option<u16>,
    /// `ttl`: multicast TTL (kernel default 1).
    pub ttl: Option<u8>,
    /// `group`: multicast group (kernel default 224.0.0.81).
    pub group: Option<IpAddr>,
    /// Where `lvs_sync_daemon` is.
    pub span: Span,
}

impl SyncDaemonConf {
    /// The kernel configuration for one role. `vrid` is the followed VRRP instance's
    /// virtual router id, the sync id when none was configured.
    pub fn daemon(&self, state: SyncState, vrid: Option<u8>) -> SyncDaemon {
        let mut d = SyncDaemon::new(state, &self.interface, self.sync_id.or(vrid).unwrap_or(0));
        d.sync_maxlen = self.max_len;
        d.mcast_group = self.group;
        d.mcast_port = self.port;
        d.mcast_ttl = self.ttl;
        d
    }
}

/// One `real_server` of a virtual server.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct RealServerConf {
    /// Its address, for health checks: the configured port, or keepalived's correction of
    /// it (the virtual server's port for a port-less or direct-routed/tunnelled server of
    /// an address service; 0 for those of a fwmark service).
    pub address: SocketAddr,
    /// `notify_up`: the command line run when the server comes up.
    pub notify_up: Option<String>,
    /// `notify_down`: the command line run when the server goes down.
    pub notify_down: Option<String>,
    /// keepalived's `alpha` for this server (its own `alpha`, else the virtual
    /// server's): it starts as down until its checks succeed. The pools' `alpha` is the
    /// virtual server's; for a server that differs, the daemon gives the pool a first
    /// verdict itself.
    pub alpha: bool,
    /// `smtp_alert` of the real server, else of its virtual server (`None`: the
    /// `global_defs` default).
    pub smtp_alert: Option<bool>,
    /// The `real_server` block, for `ha_healthcheck::keepalived::map_real_server`.
    pub node: Node,
    /// Where the block is.
    pub span: Span,
}

/// One `virtual_server` block.
///
/// `pools` holds one pool per IPVS service (a `group` expands to several); every pool's
/// `real_servers` lists the same real servers in the same order as
/// [`VirtualServerConf::real_servers`], so a health verdict for `real_servers[i]` goes to
/// `pools[p].real_servers[i].dest.key` of each pool (see
/// [`VirtualServerConf::destinations`]).
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct VirtualServerConf {
    /// `"192.0.2.1:80/TCP"`, `"[2001:db8::1]:443/TCP"`, `"fwmark 1"` or `"group NAME"`.
    pub name: String,
    /// One pool per IPVS service, for [`crate::pool::PoolController::new`].
    pub pools: Vec<PoolConfig>,
    /// The real servers, in configuration order (duplicates removed).
    pub real_servers: Vec<RealServerConf>,
    /// `quorum_up`: the command line run when the quorum is gained.
    pub quorum_up: Option<String>,
    /// `quorum_down`: the command line run when the quorum is lost.
    pub quorum_down: Option<String>,
    /// `ha_suspend`: suspend the health checks while the virtual address is not on this
    /// host (not for fwmark services).
    pub ha_suspend: bool,
    /// `smtp_alert`: mail this virtual server's quorum changes (`None`: the
    /// `global_defs` default).
    pub smtp_alert: Option<bool>,
    /// The `virtual_server` block, for the checker defaults it sets.
    pub node: Node,
    /// Where the block is.
    pub span: Span,
}

impl VirtualServerConf {
    /// The virtual addresses of the services (none for fwmark services), without
    /// repeats: what `ha_suspend` watches.
    pub fn virtual_addresses(&self) -> Vec<IpAddr> {
        let mut seen = BTreeSet::new();
        let mut out: Vec<IpAddr> = Vec::new();
        for pool in &self.pools {
            if let ServiceKey::Addr { addr, .. } = pool.service.key {
                if seen.insert(addr) {
                    out.push(addr);
                }
            }
        }
        out
    }

    /// Where real server `index` sits in each pool: `(pool index, destination key)`.
    pub fn destinations(&self, index: usize) -> impl Iterator<Item = (usize, DestinationKey)> + '_ {
        self.pools
            .iter()
            .enumerate()
            .filter_map(move |(p, pool)| pool.real_servers.get(index).map(|rs| (p, rs.dest.key)))
    }
}

/// Everything IPVS-related in a keepalived.conf.
#[derive(Clone, PartialEq, Debug, Default, Serialize)]
pub struct KeepalivedIpvs {
    /// The virtual servers, in configuration order (those without real servers are left
    /// out, as keepalived does, with a warning).
    pub virtual_servers: Vec<VirtualServerConf>,
    /// `lvs_sync_daemon`.
    pub sync_daemon: Option<SyncDaemonConf>,
    /// `lvs_timeouts`; a zero value leaves the kernel's value unchanged.
    pub timeouts: Option<Timeouts>,
    /// `lvs_flush`: flush the IPVS table at start.
    pub flush_on_start: bool,
    /// `lvs_flush_on_stop`.
    pub flush_on_stop: FlushOnStop,
    /// What was read but not acted upon, or corrected.
    pub warnings: Vec<Warning>,
}

/// Maps the IPVS side of `conf`: `virtual_server`, `virtual_server_group` and the
/// `lvs_*` keywords of `global_defs`. See the module documentation.
///
/// ```
/// use ha_core::conf::{parse_str, Options};
/// use ha_ipvs::keepalived::map;
/// use ha_ipvs::pool::{PoolController, Verdict};
///
/// let conf = parse_str(
///     "virtual_server_group WEB {\n  192.0.2.10-11 443\n  fwmark 7\n}\n\
///      virtual_server group WEB {\n  protocol TCP\n  lvs_method DR\n  frobnicate yes\n\
///        real_server 10.0.0.1 443 {\n    weight 2\n  }\n}\n",
///     &Options::default(),
/// ).unwrap();
/// let ipvs = map(&conf).unwrap();
/// // The unknown keyword is a warning with its location, not an error.
/// assert_eq!(ipvs.warnings[0].to_string(), "<string>:8:3: virtual_server: unknown keyword frobnicate, ignored");
/// let vs = &ipvs.virtual_servers[0];
/// assert_eq!(vs.name, "group WEB");
/// assert_eq!(vs.pools.len(), 3); // 192.0.2.10:443, 192.0.2.11:443 and fwmark 7
///
/// // One controller per pool; a verdict for a real server goes to each of them.
/// let mut pools: Vec<_> = vs.pools.iter().map(|p| PoolController::new(p.clone()).unwrap()).collect();
/// let now = ha_core::Instant::from_secs(1);
/// for (pool, key) in vs.destinations(0) {
///     pools[pool].set_verdict(now, &key, Verdict::DOWN).unwrap();
/// }
/// assert!(pools.iter().all(|p| !p.quorum_up()));
/// ```
pub fn map(conf: &Config) -> Result<KeepalivedIpvs, MapError> {
    let mut out = KeepalivedIpvs::default();
    let mut budget = MAX_SERVICES;
    for node in conf.sections("global_defs") {
        global_defs(node, &mut out)?;
    }
    let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
    for node in conf.sections("virtual_server_group") {
        let group = virtual_server_group(node, &mut budget, &mut out.warnings)?;
        match groups.entry(node.arg().unwrap_or_default()) {
            std::collections::btree_map::Entry::Occupied(_) => out.warnings.push(warn(
                node,
                format!(
                    "virtual_server_group {} is defined twice: this one is ignored",
                    group.name
                ),
            )),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(group);
            }
        }
    }
    let mut budget = Budget {
        services: MAX_SERVICES,
        destinations: MAX_DESTINATIONS,
    };
    for node in conf.sections("virtual_server") {
        if let Some(vs) = virtual_server(node, &groups, &mut budget, &mut out.warnings)? {
            out.virtual_servers.push(vs);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// helpers

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

fn one_arg(node: &Node) -> Result<&str, MapError> {
    node.arg()
        .ok_or_else(|| error(node, format!("{} needs a value", node.keyword)))
}

fn extra_args(node: &Node, expected: usize, warnings: &mut Vec<Warning>) {
    if node.args.len() > expected {
        warnings.push(warn(
            node,
            format!(
                "{}: extra arguments {:?} ignored",
                node.keyword,
                node.args.get(expected..).unwrap_or_default()
            ),
        ));
    }
}

fn number<T: std::str::FromStr>(node: &Node, text: &str, what: &str) -> Result<T, MapError> {
    text.parse().map_err(|_| {
        error(
            node,
            format!("{}: {text:?} is not a valid {what}", node.keyword),
        )
    })
}

fn ip(node: &Node, text: &str) -> Result<IpAddr, MapError> {
    text.parse().map_err(|_| {
        error(
            node,
            format!("{}: {text:?} is not an IP address", node.keyword),
        )
    })
}

fn port(node: &Node, text: Option<&str>) -> Result<u16, MapError> {
    match text {
        None => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| error(node, format!("{}: {t:?} is not a valid port", node.keyword))),
    }
}

/// `<BOOL>` as keepalived reads it; no value means on.
fn on_off(node: &Node) -> Result<bool, MapError> {
    match node.arg() {
        None => Ok(true),
        Some(v)
            if ["on", "true", "yes"]
                .iter()
                .any(|b| v.eq_ignore_ascii_case(b)) =>
        {
            Ok(true)
        }
        Some(v)
            if ["off", "false", "no"]
                .iter()
                .any(|b| v.eq_ignore_ascii_case(b)) =>
        {
            Ok(false)
        }
        Some(v) => Err(error(
            node,
            format!("{}: expected on or off, got {v:?}", node.keyword),
        )),
    }
}

/// A notify script: `COMMAND [username [[:]groupname]]`. The grammar has already removed
/// the quotes of a quoted command line.
fn script(node: &Node, warnings: &mut Vec<Warning>) -> Result<String, MapError> {
    let command = one_arg(node)?.to_string();
    if node.args.len() > 1 {
        warnings.push(warn(
            node,
            format!(
                "{}: running the script as user/group {:?} is not supported; it runs as the daemon's user",
                node.keyword,
                node.args.get(1..).unwrap_or_default()
            ),
        ));
    }
    Ok(command)
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn ip_to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn u128_to_ip(family: Family, v: u128) -> IpAddr {
    match family {
        // A v4 value always fits: every caller stays within the start..=end of a v4 range.
        Family::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

// ---------------------------------------------------------------------------------------
// global_defs

fn global_defs(node: &Node, out: &mut KeepalivedIpvs) -> Result<(), MapError> {
    for c in &node.children {
        match c.keyword.as_str() {
            "lvs_sync_daemon" => {
                if out.sync_daemon.is_some() {
                    out.warnings
                        .push(warn(c, "lvs_sync_daemon given twice: the last one is used"));
                }
                out.sync_daemon = Some(sync_daemon(c, &mut out.warnings)?);
            }
            "lvs_timeouts" => out.timeouts = Some(lvs_timeouts(c)?),
            "lvs_flush" => {
                extra_args(c, 0, &mut out.warnings);
                out.flush_on_start = true;
            }
            "lvs_flush_on_stop" => {
                out.flush_on_stop = match c.arg() {
                    None => FlushOnStop::All,
                    Some("VS") => FlushOnStop::VirtualServers,
                    Some(v) => {
                        return Err(error(
                            c,
                            format!("lvs_flush_on_stop: expected nothing or VS, got {v:?}"),
                        ));
                    }
                };
                extra_args(c, 1, &mut out.warnings);
            }
            // The rest of global_defs belongs to other crates and to the daemon.
            _ => {}
        }
    }
    Ok(())
}

fn sync_daemon(node: &Node, warnings: &mut Vec<Warning>) -> Result<SyncDaemonConf, MapError> {
    const OPTIONS: &[&str] = &["id", "maxlen", "port", "ttl", "group"];
    let mut args = node.args.iter().map(String::as_str).peekable();
    let interface = args
        .next()
        .ok_or_else(|| error(node, "lvs_sync_daemon needs an interface"))?
        .to_string();
    // The kernel's IFNAMSIZ, less the NUL.
    if interface.len() > crate::packet::NAME_MAXLEN || interface.contains('\0') {
        return Err(error(
            node,
            format!("lvs_sync_daemon: {interface:?} is not an interface name"),
        ));
    }
    let mut conf = SyncDaemonConf {
        interface,
        vrrp_instance: None,
        sync_id: None,
        max_len: None,
        port: None,
        ttl: None,
        group: None,
        span: node.span.clone(),
    };
    // `[[inst] VRRP_INSTANCE]`: `inst` may be omitted for backward compatibility.
    match args.peek() {
        Some(&"inst") => {
            args.next();
            let name = args
                .next()
                .ok_or_else(|| error(node, "lvs_sync_daemon: inst needs a VRRP instance name"))?;
            conf.vrrp_instance = Some(name.to_string());
        }
        Some(name) if !OPTIONS.contains(name) => {
            conf.vrrp_instance = Some(name.to_string());
            args.next();
        }
        _ => {}
    }
    while let Some(option) = args.next() {
        if !OPTIONS.contains(&option) {
            warnings.push(warn(
                node,
                format!("lvs_sync_daemon: unknown option {option:?} ignored"),
            ));
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| error(node, format!("lvs_sync_daemon: {option} needs a value")))?;
        let range = |lo: u32, hi: u32| -> Result<u32, MapError> {
            value
                .parse::<u32>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| {
                    error(
                        node,
                        format!("lvs_sync_daemon: {option} {value:?} is not in {lo}..={hi}"),
                    )
                })
        };
        match option {
            "id" => conf.sync_id = u8::try_from(range(0, 255)?).ok(),
            "maxlen" => conf.max_len = u16::try_from(range(1, 65_507)?).ok(),
            "port" => conf.port = u16::try_from(range(1, 65_535)?).ok(),
            "ttl" => conf.ttl = u8::try_from(range(1, 255)?).ok(),
            _ => conf.group = Some(ip(node, value)?),
        }
    }
    Ok(conf)
}

fn lvs_timeouts(node: &Node) -> Result<Timeouts, MapError> {
    let mut t = Timeouts::default();
    if node.args.is_empty() {
        return Err(error(
            node,
            "lvs_timeouts needs at least one of tcp, tcpfin, udp",
        ));
    }
    let mut args = node.args.iter();
    while let Some(key) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| error(node, format!("lvs_timeouts: {key} needs a value")))?;
        // The kernel keeps timeouts in jiffies in an int: INT_MAX / HZ with HZ <= 1000.
        let secs: u64 = value
            .parse()
            .ok()
            .filter(|s| *s <= (i32::MAX / 1000) as u64)
            .ok_or_else(|| {
                error(
                    node,
                    format!("lvs_timeouts: {key} {value:?} is not a valid number of seconds"),
                )
            })?;
        let d = Duration::from_secs(secs);
        match key.as_str() {
            "tcp" => t.tcp = d,
            "tcpfin" => t.tcp_fin = d,
            "udp" => t.udp = d,
            other => {
                return Err(error(
                    node,
                    format!(
                        "lvs_timeouts: unknown timeout {other:?} (expected tcp, tcpfin or udp)"
                    ),
                ));
            }
        }
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------
// virtual_server_group

#[derive(Clone, Debug)]
enum GroupEntry {
    Addresses { addrs: Vec<IpAddr>, port: u16 },
    Fwmark { mark: u32, family: Option<Family> },
}

#[derive(Clone, Debug)]
struct Group {
    name: String,
    entries: Vec<GroupEntry>,
}

fn virtual_server_group(
    node: &Node,
    budget: &mut usize,
    warnings: &mut Vec<Warning>,
) -> Result<Group, MapError> {
    let name = one_arg(node)?.to_string();
    extra_args(node, 1, warnings);
    let mut entries = Vec::new();
    for c in &node.children {
        if c.keyword == "fwmark" {
            let mark = fwmark(c, c.arg())?;
            let family = match c.args.get(1).map(String::as_str) {
                None => None,
                Some("inet") => Some(Family::V4),
                Some("inet6") => Some(Family::V6),
                Some(v) => {
                    return Err(error(
                        c,
                        format!("fwmark: expected inet or inet6, got {v:?}"),
                    ));
                }
            };
            extra_args(c, 2, warnings);
            entries.push(GroupEntry::Fwmark { mark, family });
            *budget = budget.checked_sub(1).ok_or_else(|| too_many(c))?;
        } else {
            let addrs = address_range(c, &c.keyword, budget)?;
            let port = port(c, c.arg())?;
            extra_args(c, 1, warnings);
            if !c.children.is_empty() || c.block {
                warnings.push(warn(
                    c,
                    "a virtual_server_group entry has no block: ignored",
                ));
            }
            entries.push(GroupEntry::Addresses { addrs, port });
        }
    }
    if entries.is_empty() {
        warnings.push(warn(
            node,
            format!("virtual_server_group {name} has no entries"),
        ));
    }
    Ok(Group { name, entries })
}

fn too_many(node: &Node) -> MapError {
    error(
        node,
        format!("the configuration expands to more than {MAX_SERVICES} IPVS services"),
    )
}

fn fwmark(node: &Node, text: Option<&str>) -> Result<u32, MapError> {
    let text = text.ok_or_else(|| error(node, "fwmark needs a mark"))?;
    text.parse::<u32>().ok().filter(|m| *m != 0).ok_or_else(|| {
        error(
            node,
            format!("fwmark {text:?} is not a mark in 1..=4294967295"),
        )
    })
}

/// `IP`, `IP-LAST` (last octet, or last IPv6 group in hex), `IP-IP` or `IP/PREFIX`.
fn address_range(node: &Node, text: &str, budget: &mut usize) -> Result<Vec<IpAddr>, MapError> {
    let bad = |why: &str| error(node, format!("bad address range {text:?}: {why}"));
    let (start, end) = if let Some((a, p)) = text.split_once('/') {
        let start = ip(node, a)?;
        let bits: u32 = if start.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = p
            .parse()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| bad("bad prefix length"))?;
        let host_bits = bits - prefix;
        if host_bits > 16 {
            return Err(bad("more than 65536 addresses"));
        }
        let host_mask = (1u128 << host_bits) - 1;
        let s = ip_to_u128(start);
        if s & host_mask != 0 {
            return Err(bad("address bits beyond the prefix are not zero"));
        }
        (start, u128_to_ip(Family::of(&start), s | host_mask))
    } else if let Some((a, b)) = text.split_once('-') {
        let start = ip(node, a)?;
        let end = if b.contains('.') || b.contains(':') {
            let end = ip(node, b)?;
            if end.is_ipv4() != start.is_ipv4() {
                return Err(bad("the two ends are of different families"));
            }
            end
        } else {
            match start {
                IpAddr::V4(s) => {
                    let last: u8 = b.parse().map_err(|_| bad("bad last octet"))?;
                    let [o1, o2, o3, first] = s.octets();
                    if last <= first {
                        return Err(bad("the end is not above the start"));
                    }
                    IpAddr::V4(Ipv4Addr::new(o1, o2, o3, last))
                }
                IpAddr::V6(s) => {
                    let last = u16::from_str_radix(b, 16).map_err(|_| bad("bad last group"))?;
                    let mut segments = s.segments();
                    if last <= segments[7] {
                        return Err(bad("the end is not above the start"));
                    }
                    segments[7] = last;
                    IpAddr::V6(Ipv6Addr::from(segments))
                }
            }
        };
        (start, end)
    } else {
        let a = ip(node, text)?;
        (a, a)
    };
    let (s, e) = (ip_to_u128(start), ip_to_u128(end));
    if e < s {
        return Err(bad("the end is below the start"));
    }
    let count = e - s + 1;
    if count > *budget as u128 {
        return Err(too_many(node));
    }
    *budget -= count as usize;
    let family = Family::of(&start);
    Ok((s..=e).map(|v| u128_to_ip(family, v)).collect())
}

// ---------------------------------------------------------------------------------------
// virtual_server

/// What the virtual servers may still expand to.
struct Budget {
    services: usize,
    destinations: usize,
}

/// What a `virtual_server` line names.
enum VsTarget {
    Addr(IpAddr, u16),
    Fwmark(u32),
    Group(String),
}

/// A real server as written, before the virtual server's defaults apply.
struct RsDraft {
    addr: IpAddr,
    port: u16,
    weight: Option<u32>,
    fwd: Option<ForwardMethod>,
    inhibit: Option<bool>,
    alpha: Option<bool>,
    upper_threshold: u32,
    lower_threshold: u32,
    notify_up: Option<String>,
    notify_down: Option<String>,
    smtp_alert: Option<bool>,
    node: Node,
}

struct SorryDraft {
    addr: IpAddr,
    port: u16,
    node: Node,
}

/// The keywords of a `virtual_server` block, as written.
#[derive(Default)]
struct VsDraft {
    scheduler: Option<(Scheduler, Node)>,
    fwd: Option<ForwardMethod>,
    protocol: Option<(Protocol, Node)>,
    persistence: Option<Duration>,
    granularity: Option<(Netmask, Node)>,
    engine: Option<PersistenceEngine>,
    ops: Option<Node>,
    flags: ServiceFlags,
    hash_flags: Vec<(Node, &'static str, bool)>,
    family: Option<Family>,
    quorum: u32,
    quorum_node: Option<Node>,
    hysteresis: u32,
    quorum_up: Option<String>,
    quorum_down: Option<String>,
    sorry: Option<SorryDraft>,
    sorry_fwd: Option<(ForwardMethod, Node)>,
    sorry_inhibit: bool,
    inhibit: bool,
    alpha: bool,
    omega: bool,
    ha_suspend: Option<Node>,
    weight: u32,
    smtp_alert: Option<bool>,
    real_servers: Vec<RsDraft>,
}

fn virtual_server(
    node: &Node,
    groups: &BTreeMap<&str, Group>,
    budget: &mut Budget,
    warnings: &mut Vec<Warning>,
) -> Result<Option<VirtualServerConf>, MapError> {
    let target = vs_target(node, warnings)?;
    let group = match &target {
        VsTarget::Group(name) => Some(groups.get(name.as_str()).ok_or_else(|| {
            error(
                node,
                format!("virtual_server group {name}: no virtual_server_group of that name"),
            )
        })?),
        _ => None,
    };

    let mut d = VsDraft {
        quorum: 1,
        weight: 1,
        ..VsDraft::default()
    };
    for c in &node.children {
        vs_keyword(c, &mut d, warnings)?;
    }
    if d.real_servers.is_empty() {
        warnings.push(warn(
            node,
            format!(
                "virtual_server {} has no real servers: ignored, as keepalived does",
                node.args.join(" ")
            ),
        ));
        return Ok(None);
    }

    let entries = group.map(|g| g.entries.as_slice()).unwrap_or_default();
    let has_addresses = matches!(target, VsTarget::Addr(..))
        || entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Addresses { .. }));
    let has_fwmarks = matches!(target, VsTarget::Fwmark(_))
        || entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Fwmark { .. }));
    let protocol = match (&d.protocol, has_addresses) {
        (Some((p, _)), true) => *p,
        (None, true) => {
            warnings.push(warn(
                node,
                "no protocol set: UDP is used, as keepalived does (the kernel's default); write `protocol TCP` for TCP",
            ));
            Protocol::Udp
        }
        (p, false) => {
            if let Some((_, pnode)) = p {
                warnings.push(warn(pnode, "protocol is ignored for a fwmark service"));
            }
            Protocol::Tcp
        }
    };
    let default_fwd = d.fwd.unwrap_or(ForwardMethod::Masquerade);
    let sorry_fwd = d.sorry_fwd.as_ref().map_or(default_fwd, |f| f.0);
    let fwmark_family = d
        .family
        .unwrap_or_else(|| fwmark_family(&d, default_fwd, sorry_fwd));

    let mut keys: Vec<ServiceKey> = Vec::new();
    let name = match &target {
        VsTarget::Addr(addr, port) => {
            keys.push(ServiceKey::Addr {
                addr: *addr,
                protocol,
                port: *port,
            });
            format!(
                "{}/{}",
                SocketAddr::new(*addr, *port),
                protocol_name(protocol)
            )
        }
        VsTarget::Fwmark(mark) => {
            keys.push(ServiceKey::Fwmark {
                family: fwmark_family,
                mark: *mark,
            });
            format!("fwmark {mark}")
        }
        VsTarget::Group(name) => {
            for e in entries {
                match e {
                    GroupEntry::Addresses { addrs, port } => {
                        keys.extend(addrs.iter().map(|addr| ServiceKey::Addr {
                            addr: *addr,
                            protocol,
                            port: *port,
                        }))
                    }
                    GroupEntry::Fwmark { mark, family } => keys.push(ServiceKey::Fwmark {
                        family: family.unwrap_or(fwmark_family),
                        mark: *mark,
                    }),
                }
            }
            format!("group {name}")
        }
    };
    budget.take(
        node,
        keys.len(),
        d.real_servers.len() + usize::from(d.sorry.is_some()),
    )?;

    let mut ha_suspend = d.ha_suspend.is_some();
    if let (Some(hs), true) = (&d.ha_suspend, has_fwmarks) {
        warnings.push(warn(hs, "ha_suspend cannot be used with fwmarks: cleared"));
        ha_suspend = false;
    }

    let services = services(node, &name, &d, &keys, has_addresses, protocol, warnings)?;
    let vs_port = match target {
        VsTarget::Addr(_, p) => Some(p),
        _ => None,
    };
    let (real_servers, per_pool, weight_sum) = real_servers(
        &name,
        &d,
        &services,
        group.is_some(),
        vs_port,
        default_fwd,
        warnings,
    )?;
    let (quorum, hysteresis) = quorum(node, &d, weight_sum, warnings);

    let mut pools = Vec::with_capacity(services.len());
    let mut sorry_warned = false;
    for (service, real_servers) in services.into_iter().zip(per_pool) {
        let sorry_server = match &d.sorry {
            None => None,
            Some(s) => sorry_destination(
                s,
                sorry_fwd,
                &service,
                &real_servers,
                &name,
                &mut sorry_warned,
                warnings,
            )?,
        };
        pools.push(PoolConfig {
            service,
            real_servers,
            quorum,
            hysteresis,
            sorry_server,
            sorry_server_inhibit: d.sorry_inhibit,
            alpha: d.alpha,
            omega: d.omega,
            slow_start: None,
        });
    }
    if let (None, Some((_, n))) = (&d.sorry, &d.sorry_fwd) {
        warnings.push(warn(
            n,
            "sorry_server_lvs_method without sorry_server: ignored",
        ));
    }

    Ok(Some(VirtualServerConf {
        name,
        pools,
        real_servers,
        quorum_up: d.quorum_up,
        quorum_down: d.quorum_down,
        ha_suspend,
        smtp_alert: d.smtp_alert,
        node: node.clone(),
        span: node.span.clone(),
    }))
}

impl Budget {
    /// Takes `services` services with `servers` destinations each.
    fn take(&mut self, node: &Node, services: usize, servers: usize) -> Result<(), MapError> {
        self.services = self
            .services
            .checked_sub(services)
            .ok_or_else(|| too_many(node))?;
        self.destinations = services
            .checked_mul(servers)
            .and_then(|n| self.destinations.checked_sub(n))
            .ok_or_else(|| {
                error(
                    node,
                    format!(
                        "the configuration expands to more than {MAX_DESTINATIONS} IPVS destinations"
                    ),
                )
            })?;
        Ok(())
    }
}

/// `virtual_server IP [PORT]`, `virtual_server fwmark N` or `virtual_server group NAME`.
fn vs_target(node: &Node, warnings: &mut Vec<Warning>) -> Result<VsTarget, MapError> {
    extra_args(node, 2, warnings);
    let second = node.args.get(1).map(String::as_str);
    Ok(match one_arg(node)? {
        "fwmark" => VsTarget::Fwmark(fwmark(node, second)?),
        "group" => VsTarget::Group(
            second
                .ok_or_else(|| error(node, "virtual_server group needs a group name"))?
                .to_string(),
        ),
        addr => VsTarget::Addr(ip(node, addr)?, port(node, second)?),
    })
}

/// The family of fwmark services without `ip_family`: that of the non-tunnelled real and
/// sorry servers, else that of all the (tunnelled) servers when they agree, else IPv4.
fn fwmark_family(d: &VsDraft, default_fwd: ForwardMethod, sorry_fwd: ForwardMethod) -> Family {
    let servers = d
        .real_servers
        .iter()
        .map(|r| (r.addr, r.fwd.unwrap_or(default_fwd)))
        .chain(d.sorry.iter().map(|s| (s.addr, sorry_fwd)));
    let mut all = None;
    for (addr, fwd) in servers {
        let f = Family::of(&addr);
        if !matches!(fwd, ForwardMethod::Tunnel(_)) {
            return f;
        }
        match all {
            None => all = Some(f),
            Some(a) if a != f => return Family::V4,
            _ => {}
        }
    }
    all.unwrap_or(Family::V4)
}

/// The port and family a destination of `key` must match.
fn port_and_family(key: &ServiceKey) -> (u16, Family) {
    match *key {
        ServiceKey::Addr { port, addr, .. } => (port, Family::of(&addr)),
        ServiceKey::Fwmark { family, .. } => (0, family),
    }
}

/// One service per key: scheduler and its flags, persistence, one-packet scheduling.
fn services(
    node: &Node,
    name: &str,
    d: &VsDraft,
    keys: &[ServiceKey],
    has_addresses: bool,
    protocol: Protocol,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Service>, MapError> {
    // A service with port 0 must be persistent; a granularity makes it persistent too.
    let mut persistence = d.persistence;
    if persistence.is_none() && d.granularity.is_some() {
        persistence = Some(DEFAULT_PERSISTENCE_TIMEOUT);
    }
    if persistence.is_none()
        && keys
            .iter()
            .any(|k| matches!(k, ServiceKey::Addr { port: 0, .. }))
    {
        warnings.push(warn(
            node,
            format!(
                "virtual_server {name}: port 0 is only valid for persistent services: made persistent for {} s, as keepalived does",
                DEFAULT_PERSISTENCE_TIMEOUT.as_secs()
            ),
        ));
        persistence = Some(DEFAULT_PERSISTENCE_TIMEOUT);
    }

    let scheduler = d
        .scheduler
        .as_ref()
        .map_or(DEFAULT_SCHEDULER, |(s, _)| s.clone());
    let mut flags = d.flags;
    for (n, sched, on_port) in &d.hash_flags {
        if scheduler.name() == *sched {
            if *on_port {
                flags.sched_port = true;
            } else {
                flags.sched_fallback = true;
            }
        } else {
            warnings.push(warn(
                n,
                format!(
                    "{} only applies to the {sched} scheduler, not {}: ignored",
                    n.keyword,
                    scheduler.name()
                ),
            ));
        }
    }

    // One-packet scheduling is for UDP and fwmark services only.
    if let (Some(ops), Protocol::Tcp | Protocol::Sctp, true) = (&d.ops, protocol, has_addresses) {
        warnings.push(warn(
            ops,
            format!(
                "ops: one-packet scheduling needs UDP: not applied to the {} services",
                protocol_name(protocol)
            ),
        ));
    }

    let mut granularity_warned = false;
    let mut services = Vec::with_capacity(keys.len());
    for key in keys {
        let mut service = Service::new(*key, scheduler.clone());
        service.flags = flags;
        service.flags.one_packet = d.ops.is_some()
            && match key {
                ServiceKey::Addr { protocol, .. } => *protocol == Protocol::Udp,
                ServiceKey::Fwmark { .. } => true,
            };
        if let Some(timeout) = persistence {
            service = service.persistent(timeout);
        }
        if let Some((mask, gnode)) = &d.granularity {
            if mask.family() == key.family() {
                service.netmask = *mask;
            } else if !granularity_warned {
                granularity_warned = true;
                warnings.push(warn(
                    gnode,
                    format!(
                        "persistence_granularity is for {} and not applied to the {} services",
                        family_name(mask.family()),
                        family_name(key.family())
                    ),
                ));
            }
        }
        service.pe = d.engine.clone();
        service
            .validate()
            .map_err(|e| error(node, format!("virtual_server {name}: {e}")))?;
        services.push(service);
    }
    Ok(services)
}

/// The real servers with the virtual server's defaults and keepalived's port corrections,
/// duplicates removed: their descriptions, their destinations per service, and their
/// total weight.
type MappedRealServers = (Vec<RealServerConf>, Vec<Vec<RealServer>>, u64);

fn real_servers(
    name: &str,
    d: &VsDraft,
    services: &[Service],
    is_group: bool,
    vs_port: Option<u16>,
    default_fwd: ForwardMethod,
    warnings: &mut Vec<Warning>,
) -> Result<MappedRealServers, MapError> {
    let mut confs: Vec<RealServerConf> = Vec::new();
    let mut per_pool: Vec<Vec<RealServer>> = vec![Vec::new(); services.len()];
    let mut seen: Vec<BTreeSet<DestinationKey>> = vec![BTreeSet::new(); services.len()];
    let mut weight_sum: u64 = 0;
    for rs in &d.real_servers {
        let fwd = rs.fwd.unwrap_or(default_fwd);
        let nat = fwd == ForwardMethod::Masquerade;
        let tunnel = matches!(fwd, ForwardMethod::Tunnel(_));
        // The port health checks use: keepalived corrects it for a single service.
        let address_port = match (is_group, vs_port) {
            (true, _) => rs.port,
            (false, Some(vp)) if rs.port == 0 => vp,
            (false, Some(vp)) if !nat && rs.port != vp => {
                warnings.push(warn(
                    &rs.node,
                    format!(
                        "real server port {} differs from the virtual server's {vp}, which only NAT allows: {vp} is used",
                        rs.port
                    ),
                ));
                vp
            }
            (false, None) if !nat && rs.port != 0 => {
                warnings.push(warn(
                    &rs.node,
                    "a direct-routed or tunnelled real server of a fwmark service has no port: port ignored",
                ));
                0
            }
            _ => rs.port,
        };
        let weight = rs.weight.unwrap_or(d.weight);
        let mut dests = Vec::with_capacity(services.len());
        let mut port_warned = false;
        for service in services {
            let (service_port, service_family) = port_and_family(&service.key);
            if !tunnel && Family::of(&rs.addr) != service_family {
                return Err(error(
                    &rs.node,
                    format!(
                        "real server {} is {} but the virtual server {name} is {}: only tunnelled real servers may differ",
                        rs.addr,
                        family_name(Family::of(&rs.addr)),
                        family_name(service_family)
                    ),
                ));
            }
            let port = if nat && address_port != 0 {
                address_port
            } else {
                if is_group && !nat && rs.port != 0 && rs.port != service_port && !port_warned {
                    port_warned = true;
                    warnings.push(warn(
                        &rs.node,
                        "a direct-routed or tunnelled real server takes the port of each service of the group: its port is ignored",
                    ));
                }
                service_port
            };
            let mut dest = Destination::new(rs.addr, port, fwd).with_weight(weight);
            dest.upper_threshold = rs.upper_threshold;
            dest.lower_threshold = rs.lower_threshold;
            dests.push(dest);
        }
        let duplicate = seen
            .iter()
            .zip(&dests)
            .any(|(keys, dest)| keys.contains(&dest.key));
        if duplicate {
            warnings.push(warn(
                &rs.node,
                format!(
                    "real server {} is a duplicate in virtual_server {name}: removed, as keepalived does",
                    SocketAddr::new(rs.addr, address_port)
                ),
            ));
            continue;
        }
        weight_sum += u64::from(weight);
        let inhibit_on_failure = rs.inhibit.unwrap_or(d.inhibit);
        for ((pool, keys), dest) in per_pool.iter_mut().zip(&mut seen).zip(dests) {
            keys.insert(dest.key);
            pool.push(RealServer {
                dest,
                inhibit_on_failure,
            });
        }
        confs.push(RealServerConf {
            address: SocketAddr::new(rs.addr, address_port),
            notify_up: rs.notify_up.clone(),
            notify_down: rs.notify_down.clone(),
            alpha: rs.alpha.unwrap_or(d.alpha),
            smtp_alert: rs.smtp_alert.or(d.smtp_alert),
            node: rs.node.clone(),
            span: rs.node.span.clone(),
        });
    }
    Ok((confs, per_pool, weight_sum))
}

/// Quorum and hysteresis, corrected as keepalived does: the quorum at most the total
/// weight (and at least 1), the hysteresis below the quorum.
fn quorum(node: &Node, d: &VsDraft, weight_sum: u64, warnings: &mut Vec<Warning>) -> (u32, u32) {
    let mut quorum = d.quorum;
    let at = d.quorum_node.as_ref().unwrap_or(node);
    if u64::from(quorum) > weight_sum {
        let reduced = u32::try_from(weight_sum).unwrap_or(u32::MAX).max(1);
        if reduced != quorum {
            warnings.push(warn(
                at,
                format!(
                    "quorum {quorum} exceeds the total weight {weight_sum} of the real servers: reduced to {reduced}"
                ),
            ));
            quorum = reduced;
        }
    }
    let mut hysteresis = d.hysteresis;
    if hysteresis >= quorum {
        let reduced = quorum - 1;
        if hysteresis != 0 {
            warnings.push(warn(
                at,
                format!(
                    "hysteresis {hysteresis} is not below the quorum {quorum}: set to {reduced}"
                ),
            ));
        }
        hysteresis = reduced;
    }
    (quorum, hysteresis)
}

/// The sorry server of one service; `None` when it is also one of its real servers,
/// which the pool controller cannot run (warned about once).
fn sorry_destination(
    s: &SorryDraft,
    fwd: ForwardMethod,
    service: &Service,
    real_servers: &[RealServer],
    name: &str,
    warned: &mut bool,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Destination>, MapError> {
    let (service_port, service_family) = port_and_family(&service.key);
    if !matches!(fwd, ForwardMethod::Tunnel(_)) && Family::of(&s.addr) != service_family {
        return Err(error(
            &s.node,
            format!(
                "sorry server {} is {} but the virtual server {name} is {}: only a tunnelled sorry server may differ",
                s.addr,
                family_name(Family::of(&s.addr)),
                family_name(service_family)
            ),
        ));
    }
    let port = if fwd == ForwardMethod::Masquerade && s.port != 0 {
        s.port
    } else {
        service_port
    };
    let dest = Destination::new(s.addr, port, fwd);
    if real_servers.iter().any(|r| r.dest.key == dest.key) {
        if !*warned {
            *warned = true;
            warnings.push(warn(
                &s.node,
                "a sorry server that is also a real server is not supported: sorry server ignored",
            ));
        }
        return Ok(None);
    }
    Ok(Some(dest))
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

fn vs_keyword(c: &Node, d: &mut VsDraft, warnings: &mut Vec<Warning>) -> Result<(), MapError> {
    let k = c.keyword.as_str();
    match k {
        "lvs_sched" | "lb_algo" => {
            let name = one_arg(c)?;
            let s = Scheduler::from_name(name);
            if matches!(s, Scheduler::Other(_) | Scheduler::None) {
                return Err(error(
                    c,
                    format!(
                        "{k}: unknown scheduler {name:?} (expected one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)"
                    ),
                ));
            }
            extra_args(c, 1, warnings);
            d.scheduler = Some((s, c.clone()));
        }
        "lvs_method" | "lb_kind" => d.fwd = Some(lvs_method(c)?),
        "protocol" => {
            let p = one_arg(c)?;
            let protocol = match p.to_ascii_uppercase().as_str() {
                "TCP" => Protocol::Tcp,
                "UDP" => Protocol::Udp,
                "SCTP" => Protocol::Sctp,
                _ => {
                    return Err(error(c, format!("protocol: {p:?} is not TCP, UDP or SCTP")));
                }
            };
            extra_args(c, 1, warnings);
            d.protocol = Some((protocol, c.clone()));
        }
        "persistence_timeout" => {
            d.persistence = match c.arg() {
                None => Some(DEFAULT_PERSISTENCE_TIMEOUT),
                Some(v) => {
                    let secs: u32 = number(c, v, "number of seconds")?;
                    if secs == 0 {
                        warnings.push(warn(
                            c,
                            "persistence_timeout 0: the service is not persistent",
                        ));
                        None
                    } else {
                        Some(Duration::from_secs(u64::from(secs)))
                    }
                }
            };
            extra_args(c, 1, warnings);
        }
        "persistence_granularity" => {
            let v = one_arg(c)?;
            let mask = if v.contains('.') {
                let m: Ipv4Addr = v.parse().map_err(|_| {
                    error(
                        c,
                        format!("persistence_granularity: {v:?} is not an IPv4 netmask"),
                    )
                })?;
                let bits = u32::from(m);
                // A solid mask: ones then zeros.
                if bits.leading_ones() + bits.trailing_zeros() != 32 || bits == 0 {
                    return Err(error(
                        c,
                        format!("persistence_granularity: {v:?} is not a solid netmask"),
                    ));
                }
                Netmask::V4(m)
            } else {
                let p: u8 = v
                    .parse()
                    .ok()
                    .filter(|p| (1..=128).contains(p))
                    .ok_or_else(|| {
                        error(
                            c,
                            format!(
                                "persistence_granularity: {v:?} is neither an IPv4 netmask nor an IPv6 prefix length 1..=128"
                            ),
                        )
                    })?;
                Netmask::V6(p)
            };
            extra_args(c, 1, warnings);
            d.granularity = Some((mask, c.clone()));
        }
        "persistence_engine" => {
            let v = one_arg(c)?;
            if v.is_empty() || v.len() > crate::packet::NAME_MAXLEN || v.contains('\0') {
                return Err(error(c, format!("persistence_engine: bad name {v:?}")));
            }
            extra_args(c, 1, warnings);
            d.engine = Some(PersistenceEngine::from_name(v));
        }
        "ops" => {
            extra_args(c, 0, warnings);
            d.ops = Some(c.clone());
        }
        "flag-1" => d.flags.sched_fallback = true,
        "flag-2" => d.flags.sched_port = true,
        "flag-3" => d.flags.sched_flag3 = true,
        "sh-fallback" => d.hash_flags.push((c.clone(), "sh", false)),
        "sh-port" => d.hash_flags.push((c.clone(), "sh", true)),
        "mh-fallback" => d.hash_flags.push((c.clone(), "mh", false)),
        "mh-port" => d.hash_flags.push((c.clone(), "mh", true)),
        "hashed" => warnings.push(warn(
            c,
            "hashed is a kernel-internal flag that cannot be set: ignored",
        )),
        "ip_family" => {
            d.family = Some(match one_arg(c)? {
                "inet" => Family::V4,
                "inet6" => Family::V6,
                v => {
                    return Err(error(
                        c,
                        format!("ip_family: expected inet or inet6, got {v:?}"),
                    ));
                }
            });
        }
        "quorum" => {
            let v = one_arg(c)?;
            let q: u32 = number(c, v, "quorum")?;
            if q == 0 {
                warnings.push(warn(c, "quorum must be at least 1: 1 is used"));
            }
            d.quorum = q.max(1);
            d.quorum_node = Some(c.clone());
        }
        "hysteresis" => {
            let v = one_arg(c)?;
            d.hysteresis = number(c, v, "hysteresis")?;
        }
        "quorum_up" => d.quorum_up = Some(script(c, warnings)?),
        "quorum_down" => d.quorum_down = Some(script(c, warnings)?),
        "sorry_server" => {
            let addr = ip(c, one_arg(c)?)?;
            let port = port(c, c.args.get(1).map(String::as_str))?;
            extra_args(c, 2, warnings);
            d.sorry = Some(SorryDraft {
                addr,
                port,
                node: c.clone(),
            });
        }
        "sorry_server_inhibit" => d.sorry_inhibit = on_off(c)?,
        "sorry_server_lvs_method" => d.sorry_fwd = Some((lvs_method(c)?, c.clone())),
        "inhibit_on_failure" => d.inhibit = on_off(c)?,
        "alpha" => d.alpha = on_off(c)?,
        "omega" => d.omega = on_off(c)?,
        "ha_suspend" => d.ha_suspend = Some(c.clone()),
        "weight" => {
            let v = one_arg(c)?;
            d.weight = weight(c, v)?;
        }
        "real_server" => d.real_servers.push(real_server(c, warnings)?),
        "smtp_alert" => d.smtp_alert = Some(on_off(c)?),
        "snmp_name" => warnings.push(warn(
            c,
            format!("{k} is not supported: ignored (use the daemon's events and metrics)"),
        )),
        k if CHECK_DEFAULT_KEYWORDS.contains(&k) => {}
        k if CHECKER_KEYWORDS.contains(&k) => warnings.push(warn(
            c,
            format!("{k} belongs in a real_server block: ignored here"),
        )),
        k => warnings.push(warn(
            c,
            format!("virtual_server: unknown keyword {k}, ignored"),
        )),
    }
    Ok(())
}

fn weight(node: &Node, v: &str) -> Result<u32, MapError> {
    v.parse::<u32>()
        .ok()
        .filter(|w| *w <= i32::MAX as u32)
        .ok_or_else(|| {
            error(
                node,
                format!("weight: {v:?} is not a weight in 0..=2147483647"),
            )
        })
}

/// `NAT | DR | TUN [type {ipip | gue port N | gre}] [nocsum | csum | remcsum]`.
fn lvs_method(node: &Node) -> Result<ForwardMethod, MapError> {
    let mut args = node.args.iter().map(String::as_str);
    let method = args
        .next()
        .ok_or_else(|| error(node, format!("{} needs NAT, DR or TUN", node.keyword)))?;
    let rest: Vec<&str> = args.collect();
    let no_more = |rest: &[&str]| -> Result<(), MapError> {
        match rest.first() {
            None => Ok(()),
            Some(v) => Err(error(
                node,
                format!("{}: unexpected {v:?} after {method}", node.keyword),
            )),
        }
    };
    match method.to_ascii_uppercase().as_str() {
        "NAT" => no_more(&rest).map(|()| ForwardMethod::Masquerade),
        "DR" => no_more(&rest).map(|()| ForwardMethod::DirectRoute),
        "TUN" => tunnel(node, &rest).map(ForwardMethod::Tunnel),
        _ => Err(error(
            node,
            format!(
                "{}: unknown forwarding method {method:?} (expected NAT, DR or TUN)",
                node.keyword
            ),
        )),
    }
}

fn tunnel(node: &Node, rest: &[&str]) -> Result<Tunnel, MapError> {
    let bad = |why: String| error(node, format!("{}: {why}", node.keyword));
    let mut i = 0;
    let next = |i: &mut usize| {
        let v = rest.get(*i).copied();
        *i += 1;
        v
    };
    let Some(first) = next(&mut i) else {
        return Ok(Tunnel::Ipip);
    };
    if first != "type" {
        return Err(bad(format!("expected `type` after TUN, got {first:?}")));
    }
    let kind = next(&mut i).ok_or_else(|| bad("type needs ipip, gue or gre".into()))?;
    let mut port = None;
    match kind {
        "ipip" | "gre" => {}
        "gue" => {
            if next(&mut i) != Some("port") {
                return Err(bad("a GUE tunnel needs `port N`".into()));
            }
            let p = next(&mut i).ok_or_else(|| bad("port needs a value".into()))?;
            port = Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad(format!("{p:?} is not a port in 1..=65535")))?,
            );
        }
        other => {
            return Err(bad(format!(
                "unknown tunnel type {other:?} (expected ipip, gue or gre)"
            )));
        }
    }
    let checksum = match next(&mut i) {
        None => None,
        Some("nocsum") => Some(TunnelChecksum::None),
        Some("csum") => Some(TunnelChecksum::Checksum),
        Some("remcsum") => Some(TunnelChecksum::Remote),
        Some(other) => {
            return Err(bad(format!(
                "unexpected {other:?} (expected nocsum, csum or remcsum)"
            )));
        }
    };
    if let Some(extra) = next(&mut i) {
        return Err(bad(format!("unexpected {extra:?}")));
    }
    match (kind, port, checksum) {
        ("ipip", _, None) => Ok(Tunnel::Ipip),
        ("ipip", _, Some(_)) => Err(bad("an IPIP tunnel has no checksum option".into())),
        ("gre", _, Some(TunnelChecksum::Remote)) => {
            Err(bad("a GRE tunnel does not support remcsum".into()))
        }
        ("gre", _, c) => Ok(Tunnel::Gre {
            checksum: c.unwrap_or_default(),
        }),
        (_, Some(port), c) => Ok(Tunnel::Gue {
            port,
            checksum: c.unwrap_or_default(),
        }),
        _ => Err(bad("a GUE tunnel needs `port N`".into())),
    }
}

fn real_server(node: &Node, warnings: &mut Vec<Warning>) -> Result<RsDraft, MapError> {
    let addr = ip(node, one_arg(node)?)?;
    let port = port(node, node.args.get(1).map(String::as_str))?;
    extra_args(node, 2, warnings);
    let mut rs = RsDraft {
        addr,
        port,
        weight: None,
        fwd: None,
        inhibit: None,
        alpha: None,
        upper_threshold: 0,
        lower_threshold: 0,
        notify_up: None,
        notify_down: None,
        smtp_alert: None,
        node: node.clone(),
    };
    for c in &node.children {
        let k = c.keyword.as_str();
        match k {
            "weight" => rs.weight = Some(weight(c, one_arg(c)?)?),
            "lvs_method" | "lb_kind" => rs.fwd = Some(lvs_method(c)?),
            "inhibit_on_failure" => rs.inhibit = Some(on_off(c)?),
            "uthreshold" => rs.upper_threshold = number(c, one_arg(c)?, "connection count")?,
            "lthreshold" => rs.lower_threshold = number(c, one_arg(c)?, "connection count")?,
            "notify_up" => rs.notify_up = Some(script(c, warnings)?),
            "notify_down" => rs.notify_down = Some(script(c, warnings)?),
            // Also a default for the checkers below (ha-healthcheck's).
            "alpha" => rs.alpha = Some(on_off(c)?),
            // Checker defaults and checkers: ha-healthcheck's.
            k if CHECK_DEFAULT_KEYWORDS.contains(&k) || CHECKER_KEYWORDS.contains(&k) => {}
            "smtp_alert" => rs.smtp_alert = Some(on_off(c)?),
            "snmp_name" => warnings.push(warn(
                c,
                format!("{k} is not supported: ignored (use the daemon's events and metrics)"),
            )),
            k => warnings.push(warn(
                c,
                format!("real_server: unknown keyword {k}, ignored"),
            )),
        }
    }
    Ok(rs)
}

#[cfg(test)]
#[path = "keepalived_tests.rs"]
mod tests;

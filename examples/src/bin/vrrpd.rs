//! `vrrpd`: runs one or more VRRP instances on Linux from a small TOML file.
//!
//! ```toml
//! [[instance]]
//! name = "VI_1"
//! interface = "eth0"
//! version = 3                # 2 or 3 (default 3)
//! vrid = 51
//! priority = 150             # default 100
//! advert_interval = "100ms"  # "1s", "50ms", "5cs" (default "1s")
//! virtual_addresses = ["10.0.0.100/24"]   # each with its own prefix (default /32, /128)
//! # primary_address = "10.0.0.1"   # default: the interface's first address
//! # unicast_peers = ["10.0.0.2"]
//! # password = "secret"            # VRRPv2 simple password
//! # preempt = true
//! # initial_state = "backup"       # or "master"
//! # checksum = "pseudo_header"     # VRRPv3 IPv4: or "no_pseudo_header"
//! # accept_either_checksum = false
//! # track_own_interface = true     # FAULT while the interface is down (keepalived's default)
//! # use_vmac = true                # send from 00:00:5e:00:0{1,2}:VRID on a macvlan
//! # vmac_name = "vrrp.51"
//! # excluded_addresses = ["10.0.5.1/24"]   # added with the VIPs, not advertised
//! # Routes and rules added while Master (after the VIPs) and removed when leaving it
//! # (before the VIPs), in `ip route` / `ip rule` syntax (keepalived's virtual_routes
//! # and virtual_rules): routes `DEST/PREFIX [via GW] [dev IF] [src IP] [metric N]
//! # [table N] [scope X] [proto X]`, optionally prefixed by blackhole, unreachable or
//! # prohibit; rules `[from PREFIX|all] [to PREFIX] [table N | blackhole | unreachable |
//! # prohibit] [priority N] [iif IF] [oif IF] [fwmark N[/MASK]]`.
//! # virtual_routes = ["10.1.0.0/16 via 10.0.0.254 table 100", "blackhole 10.2.0.0/16"]
//! # virtual_rules = ["from 10.0.0.100 table 100 priority 100"]
//! # [[instance.track_interface]]
//! # name = "eth1"
//! # weight = -50                   # 0: FAULT while down
//!
//! # keepalived's vrrp_sync_group: members fault together and become Master only
//! # together.
//! # [[sync_group]]
//! # name = "fw"
//! # members = ["VI_1", "VI_2"]
//! # track_interface = ["uplink0"]  # any of these down faults the whole group
//!
//! # Added once at start-up whatever the VRRP state, removed at stop (keepalived's
//! # static_ipaddress, static_routes, static_rules):
//! # static_addresses = ["192.0.2.5/24 dev eth1"]
//! # static_routes = ["198.51.100.0/24 via 192.0.2.1"]
//! # static_rules = ["from 192.0.2.5 table 10"]
//! ```
//!
//! (Top-level keys such as `static_routes` go before the first `[[instance]]`.)
//!
//! Every transition, and every sync group transition, is logged with `tracing`
//! (`RUST_LOG` filters). SIGINT or SIGTERM stops every instance gracefully: a Master
//! sends priority 0 and removes its routes, rules and addresses; then the static entries
//! are removed. Needs root (raw sockets, address and route changes).
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ha_core::IfIndex;
use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use ha_vrrp::linux::{
    InstanceConfig, InstanceSet, Netlink, SetEvent, VmacConfig, apply_static, interface_object,
    remove_static,
};
use ha_vrrp::routes::{StaticAddress, VirtualRoute, VirtualRule};
use ha_vrrp::{
    AuthConfig, Centiseconds, ChecksumMode, ChecksumPolicy, InitialState, Priority, RouterConfig,
    SyncGroupConfig, TrackConfig, Version, Vrid,
};
use serde::Deserialize;
use tracing::{error, info};

/// Runs VRRP instances from a TOML file.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(short, long)]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(rename = "instance", default)]
    instances: Vec<InstanceToml>,
    #[serde(rename = "sync_group", default)]
    sync_groups: Vec<SyncGroupToml>,
    #[serde(default)]
    static_addresses: Vec<StaticAddress>,
    #[serde(default)]
    static_routes: Vec<VirtualRoute>,
    #[serde(default)]
    static_rules: Vec<VirtualRule>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct SyncGroupToml {
    name: String,
    members: Vec<String>,
    /// Interfaces whose loss faults every member.
    #[serde(default)]
    track_interface: Vec<String>,
}

/// Everything the daemon runs.
#[derive(Debug)]
struct Daemon {
    instances: Vec<InstanceConfig>,
    sync_groups: Vec<SyncGroupConfig>,
    static_addresses: Vec<StaticAddress>,
    static_routes: Vec<VirtualRoute>,
    static_rules: Vec<VirtualRule>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct InstanceToml {
    name: String,
    interface: String,
    #[serde(default = "three")]
    version: u8,
    vrid: u8,
    #[serde(default = "hundred")]
    priority: u8,
    #[serde(default = "one_second")]
    advert_interval: String,
    virtual_addresses: Vec<String>,
    primary_address: Option<IpAddr>,
    #[serde(default)]
    unicast_peers: Vec<IpAddr>,
    password: Option<String>,
    #[serde(default = "yes")]
    preempt: bool,
    #[serde(default)]
    initial_state: InitialState,
    #[serde(default)]
    checksum: ChecksumToml,
    #[serde(default)]
    accept_either_checksum: bool,
    #[serde(default = "yes")]
    track_own_interface: bool,
    #[serde(default)]
    use_vmac: bool,
    vmac_name: Option<String>,
    #[serde(default)]
    track_interface: Vec<TrackInterfaceToml>,
    #[serde(default)]
    excluded_addresses: Vec<String>,
    #[serde(default)]
    virtual_routes: Vec<VirtualRoute>,
    #[serde(default)]
    virtual_rules: Vec<VirtualRule>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct TrackInterfaceToml {
    name: String,
    /// 0: FAULT while down; otherwise added to the priority while up (or subtracted
    /// while down when negative), as keepalived's `track_interface ... weight`.
    #[serde(default)]
    weight: i16,
}

/// The VRRPv3 IPv4 checksum variant to send.
#[derive(Deserialize, Debug, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ChecksumToml {
    /// With the IPv4 pseudo-header (RFC 5798; keepalived, FRR).
    #[default]
    PseudoHeader,
    /// The VRRP message only.
    NoPseudoHeader,
}

fn three() -> u8 {
    3
}
fn hundred() -> u8 {
    100
}
fn one_second() -> String {
    "1s".into()
}
fn yes() -> bool {
    true
}

/// Parses "1s", "0.05s", "50ms", "5cs" into centiseconds.
fn parse_interval(text: &str) -> Result<Centiseconds, String> {
    let text = text.trim();
    let (number, per_cs) = if let Some(n) = text.strip_suffix("ms") {
        (n, 10.0)
    } else if let Some(n) = text.strip_suffix("cs") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 0.01)
    } else {
        return Err(format!("interval {text:?}: add a unit (s, ms or cs)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("interval {text:?}: not a number"))?;
    let cs = value / per_cs;
    if !cs.is_finite() || cs < 1.0 || cs > f64::from(u16::MAX) || (cs - cs.round()).abs() > 1e-6 {
        return Err(format!(
            "interval {text:?}: must be a whole number of centiseconds (10 ms), at least 1"
        ));
    }
    Ok(Centiseconds(cs.round() as u16))
}

fn to_instance(t: InstanceToml) -> Result<InstanceConfig, String> {
    let name = t.name.clone();
    let err = |m: String| format!("instance {name}: {m}");
    let version = match t.version {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(err(format!("version {v}: use 2 or 3"))),
    };
    let vrid = Vrid::new(t.vrid).map_err(|e| err(e.to_string()))?;
    let parse_prefixes = |texts: &[String]| -> Result<Vec<(IpAddr, u8)>, String> {
        texts
            .iter()
            .map(|text| {
                let p: ha_vrrp::routes::Prefix = text
                    .parse()
                    .map_err(|e| err(format!("bad address {text:?}: {e}")))?;
                Ok((p.address, p.len))
            })
            .collect()
    };
    let prefixes = parse_prefixes(&t.virtual_addresses)?;
    let excluded = parse_prefixes(&t.excluded_addresses)?;
    let addresses: Vec<IpAddr> = prefixes.iter().map(|(a, _)| *a).collect();
    let primary = t.primary_address.unwrap_or(match addresses.first() {
        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    });
    let mut router = RouterConfig::new(
        t.name,
        version,
        vrid,
        Priority(t.priority),
        IfIndex(0),
        primary,
        addresses,
    );
    router.advert_interval = parse_interval(&t.advert_interval).map_err(err)?;
    router.unicast_peers = t.unicast_peers;
    router.preempt = t.preempt;
    router.initial_state = t.initial_state;
    router.checksum_mode = match t.checksum {
        ChecksumToml::PseudoHeader => ChecksumMode::PseudoHeader,
        ChecksumToml::NoPseudoHeader => ChecksumMode::NoPseudoHeader,
    };
    if t.accept_either_checksum {
        router.checksum_policy = ChecksumPolicy::AcceptEither;
    }
    if let Some(p) = t.password {
        router.auth = AuthConfig::Password(p);
    }
    for track in t.track_interface {
        let weight = TrackWeight::new(track.weight.into()).map_err(|e| err(e.to_string()))?;
        router.track.push(TrackConfig {
            object: interface_object(&track.name),
            spec: TrackSpec::weight(weight),
            initial: TrackState::Up,
        });
    }
    if !primary.is_unspecified() {
        router.validate().map_err(|e| e.to_string())?;
    } else {
        // Validate with a stand-in primary of the right family; the real one is looked
        // up on the interface at start.
        let mut probe = router.clone();
        probe.primary_address = match primary {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        };
        probe.validate().map_err(|e| e.to_string())?;
    }
    let mut config = InstanceConfig::new(t.interface, router);
    config.address_prefixes = prefixes;
    config.excluded_addresses = excluded;
    config.routes = t.virtual_routes;
    config.rules = t.virtual_rules;
    config.track_own_interface = t.track_own_interface;
    if t.use_vmac || t.vmac_name.is_some() {
        config.vmac = Some(VmacConfig { name: t.vmac_name });
    }
    Ok(config)
}

fn load(text: &str) -> Result<Daemon, String> {
    let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    if file.instances.is_empty() {
        return Err("no [[instance]] in the configuration".into());
    }
    let instances: Vec<InstanceConfig> = file
        .instances
        .into_iter()
        .map(to_instance)
        .collect::<Result<_, _>>()?;
    let mut grouped = std::collections::BTreeSet::new();
    let mut sync_groups = Vec::new();
    for g in file.sync_groups {
        for m in &g.members {
            if !instances.iter().any(|i| &i.router.name == m) {
                return Err(format!("sync group {}: no instance named {m}", g.name));
            }
            if !grouped.insert(m.clone()) {
                return Err(format!("instance {m} is in more than one sync group"));
            }
        }
        sync_groups.push(SyncGroupConfig {
            name: g.name,
            members: g.members,
            track: g
                .track_interface
                .iter()
                .map(|name| TrackConfig {
                    object: interface_object(name),
                    spec: TrackSpec::weight(TrackWeight::FAULT),
                    initial: TrackState::Up,
                })
                .collect(),
        });
    }
    Ok(Daemon {
        instances,
        sync_groups,
        static_addresses: file.static_addresses,
        static_routes: file.static_routes,
        static_rules: file.static_rules,
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            error!(config = %args.config.display(), %e, "cannot read the configuration");
            return ExitCode::FAILURE;
        }
    };
    let daemon = match load(&text) {
        Ok(c) => c,
        Err(e) => {
            error!("invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        info!(
            instances = daemon.instances.len(),
            sync_groups = daemon.sync_groups.len(),
            "configuration is valid"
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!(%e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(daemon))
}

async fn run(daemon: Daemon) -> ExitCode {
    let Daemon {
        instances,
        sync_groups,
        static_addresses,
        static_routes,
        static_rules,
    } = daemon;
    let has_static =
        !(static_addresses.is_empty() && static_routes.is_empty() && static_rules.is_empty());
    let netlink = if has_static {
        match Netlink::connect() {
            Ok(n) => Some(n),
            Err(e) => {
                error!(%e, "cannot open rtnetlink for the static entries");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    if let Some(netlink) = &netlink {
        for f in apply_static(netlink, &static_addresses, &static_routes, &static_rules).await {
            error!(action = %f.action, error = %f.error, "static entry not applied");
        }
    }
    let mut code = ExitCode::SUCCESS;
    match InstanceSet::start(instances, sync_groups).await {
        Ok((set, handle, mut events)) => {
            let run = tokio::spawn(set.run());
            let watch = tokio::spawn(async move {
                let mut failed = false;
                while let Some(event) = events.recv().await {
                    match event {
                        SetEvent::Stopped {
                            instance,
                            error: Some(e),
                        } => {
                            error!(%instance, %e, "instance ended with an error");
                            failed = true;
                        }
                        // Instances log their transitions and failed actions, the
                        // set its group transitions.
                        SetEvent::Instance { .. }
                        | SetEvent::GroupStateChanged { .. }
                        | SetEvent::Stopped { .. } => {}
                    }
                }
                failed
            });
            wait_for_signal().await;
            info!("stopping");
            handle.shutdown().await;
            drop(handle);
            if let Err(e) = run.await {
                error!(%e, "instance set task failed");
                code = ExitCode::FAILURE;
            }
            if !matches!(watch.await, Ok(false)) {
                code = ExitCode::FAILURE;
            }
        }
        Err(e) => {
            error!(%e, "cannot start");
            code = ExitCode::FAILURE;
        }
    }
    if let Some(netlink) = &netlink {
        for f in remove_static(netlink, &static_addresses, &static_routes, &static_rules).await {
            error!(action = %f.action, error = %f.error, "static entry not removed");
        }
    }
    code
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(%e, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_carry_units() {
        assert_eq!(parse_interval("1s"), Ok(Centiseconds(100)));
        assert_eq!(parse_interval("0.05s"), Ok(Centiseconds(5)));
        assert_eq!(parse_interval("50ms"), Ok(Centiseconds(5)));
        assert_eq!(parse_interval("7cs"), Ok(Centiseconds(7)));
        assert!(parse_interval("5ms").is_err());
        assert!(parse_interval("15ms").is_err());
        assert!(parse_interval("100").is_err());
        assert!(parse_interval("-1s").is_err());
    }

    #[test]
    fn a_small_file_maps_to_instances() {
        let daemon = load(
            r#"
            [[instance]]
            name = "VI_1"
            interface = "eth0"
            vrid = 51
            priority = 150
            advert_interval = "50ms"
            virtual_addresses = ["10.0.0.100/24", "10.0.0.101/24"]

            [[instance]]
            name = "VI_6"
            interface = "eth1"
            vrid = 52
            virtual_addresses = ["fd00::100"]
            unicast_peers = ["fe80::2"]
            track_own_interface = false
            [[instance.track_interface]]
            name = "eth2"
            weight = -20

            [[instance]]
            name = "VI_2"
            interface = "eth0"
            version = 2
            vrid = 53
            use_vmac = true
            password = "secret"
            checksum = "no_pseudo_header"
            virtual_addresses = ["10.0.1.100"]
            virtual_routes = ["10.1.0.0/16 via 10.0.0.254 table 100", "blackhole 10.2.0.0/16"]
            virtual_rules = ["from 10.0.1.100 table 100 priority 100"]

            [[sync_group]]
            name = "fw"
            members = ["VI_1", "VI_2"]
            track_interface = ["uplink0"]
            "#,
        )
        .unwrap();
        let configs = &daemon.instances;
        assert_eq!(configs.len(), 3);
        assert_eq!(
            configs[0].address_prefixes,
            vec![
                ("10.0.0.100".parse().unwrap(), 24),
                ("10.0.0.101".parse().unwrap(), 24)
            ]
        );
        assert_eq!(configs[2].routes.len(), 2);
        assert_eq!(configs[2].routes[1].to_string(), "blackhole 10.2.0.0/16");
        assert_eq!(
            configs[2].rules[0].to_string(),
            "from 10.0.1.100/32 table 100 priority 100"
        );
        assert_eq!(daemon.sync_groups[0].members, vec!["VI_1", "VI_2"]);
        assert_eq!(daemon.sync_groups[0].track[0].object, "if:uplink0");
        assert_eq!(configs[0].router.advert_interval, Centiseconds(5));
        assert!(configs[0].router.primary_address.is_unspecified());
        assert_eq!(configs[1].address_prefixes[0].1, 128);
        assert!(configs[1].router.primary_address.is_ipv6());
        assert!(!configs[1].track_own_interface);
        assert_eq!(configs[1].router.track[0].object, "if:eth2");
        assert!(configs[0].track_own_interface);
        assert_eq!(
            configs[2].router.auth,
            AuthConfig::Password("secret".into())
        );
        assert_eq!(configs[2].router.version, Version::V2);
        assert_eq!(configs[2].vmac, Some(VmacConfig::default()));
        assert_eq!(configs[0].vmac, None);
        assert_eq!(
            configs[2].router.checksum_mode,
            ChecksumMode::NoPseudoHeader
        );
    }

    #[test]
    fn bad_files_are_rejected_with_a_reason() {
        assert!(load("").is_err());
        assert!(
            load("[[instance]]\nname='x'\ninterface='e'\nvrid=0\nvirtual_addresses=['10.0.0.1']")
                .is_err()
        );
        let bad_prefix =
            "[[instance]]\nname='x'\ninterface='e'\nvrid=1\nvirtual_addresses=['10.0.0.1/33']";
        assert!(load(bad_prefix).unwrap_err().contains("prefix"));
        let bad_route = "[[instance]]\nname='x'\ninterface='e'\nvrid=1\nvirtual_addresses=['10.0.0.1']\nvirtual_routes=['10.0.0.0/8 onlink']";
        assert!(load(bad_route).is_err());
        let unknown_member = "[[instance]]\nname='x'\ninterface='e'\nvrid=1\nvirtual_addresses=['10.0.0.1']\n[[sync_group]]\nname='g'\nmembers=['x','y']";
        assert!(
            load(unknown_member)
                .unwrap_err()
                .contains("no instance named y")
        );
        let typo =
            "[[instance]]\nname='x'\ninterface='e'\nvrid=1\nprio=3\nvirtual_addresses=['10.0.0.1']";
        assert!(load(typo).is_err());
        let v2_fast = "[[instance]]\nname='x'\ninterface='e'\nversion=2\nvrid=1\nadvert_interval='50ms'\nvirtual_addresses=['10.0.0.1']";
        assert!(load(v2_fast).is_err());
    }

    #[test]
    fn static_entries_are_top_level() {
        let daemon = load(
            "static_addresses = ['192.0.2.5/24 dev eth1']\nstatic_routes = ['198.51.100.0/24 via 192.0.2.1']\nstatic_rules = ['from 192.0.2.5 table 10']\n[[instance]]\nname='x'\ninterface='e'\nvrid=1\nvirtual_addresses=['10.0.0.1']",
        )
        .unwrap();
        assert_eq!(daemon.static_addresses[0].device, "eth1");
        assert_eq!(daemon.static_routes.len(), 1);
        assert_eq!(daemon.static_rules.len(), 1);
    }
}

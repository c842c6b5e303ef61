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
//! virtual_addresses = ["10.0.0.100/24"]
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
//! # [[instance.track_interface]]
//! # name = "eth1"
//! # weight = -50                   # 0: FAULT while down
//! ```
//!
//! Every transition is logged with `tracing` (`RUST_LOG` filters). SIGINT or SIGTERM stops
//! every instance gracefully: a Master sends priority 0 and removes its addresses.
//! Needs root (raw sockets, address changes).
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ha_core::IfIndex;
use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use ha_vrrp::linux::{Instance, InstanceConfig, VmacConfig, interface_object};
use ha_vrrp::{
    AuthConfig, Centiseconds, ChecksumMode, ChecksumPolicy, InitialState, Priority, RouterConfig,
    TrackConfig, Version, Vrid,
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
    let mut addresses = Vec::new();
    let mut prefix = None;
    for text in &t.virtual_addresses {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text.as_str(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| err(format!("bad address {text:?}")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| err(format!("bad prefix in {text:?}")))?,
            None => max,
        };
        if prefix.is_some_and(|p| p != len) {
            return Err(err(
                "all virtual addresses must have the same prefix length".into(),
            ));
        }
        prefix = Some(len);
        addresses.push(addr);
    }
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
    config.prefix_len = prefix;
    config.track_own_interface = t.track_own_interface;
    if t.use_vmac || t.vmac_name.is_some() {
        config.vmac = Some(VmacConfig { name: t.vmac_name });
    }
    Ok(config)
}

fn load(text: &str) -> Result<Vec<InstanceConfig>, String> {
    let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    if file.instances.is_empty() {
        return Err("no [[instance]] in the configuration".into());
    }
    file.instances.into_iter().map(to_instance).collect()
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
    let configs = match load(&text) {
        Ok(c) => c,
        Err(e) => {
            error!("invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        info!(instances = configs.len(), "configuration is valid");
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
    runtime.block_on(run(configs))
}

async fn run(configs: Vec<InstanceConfig>) -> ExitCode {
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for config in configs {
        let name = config.router.name.clone();
        match Instance::start(config).await {
            Ok((instance, handle, mut events)) => {
                // The instance logs its own transitions; drain the stream.
                tokio::spawn(async move { while events.recv().await.is_some() {} });
                handles.push(handle);
                tasks.push((name, tokio::spawn(instance.run())));
            }
            Err(e) => {
                error!(instance = %name, %e, "cannot start");
                for h in &handles {
                    h.shutdown().await;
                }
                return ExitCode::FAILURE;
            }
        }
    }
    wait_for_signal().await;
    info!("stopping");
    for h in &handles {
        h.shutdown().await;
    }
    let mut code = ExitCode::SUCCESS;
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                error!(instance = %name, %e, "ended with an error");
                code = ExitCode::FAILURE;
            }
            Err(e) => {
                error!(instance = %name, %e, "task failed");
                code = ExitCode::FAILURE;
            }
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
        let configs = load(
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
            "#,
        )
        .unwrap();
        assert_eq!(configs.len(), 3);
        assert_eq!(configs[0].prefix_len, Some(24));
        assert_eq!(configs[0].router.advert_interval, Centiseconds(5));
        assert!(configs[0].router.primary_address.is_unspecified());
        assert_eq!(configs[1].prefix_len, Some(128));
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
        let mixed = "[[instance]]\nname='x'\ninterface='e'\nvrid=1\nvirtual_addresses=['10.0.0.1/24','10.0.0.2/32']";
        assert!(load(mixed).unwrap_err().contains("prefix"));
        let typo =
            "[[instance]]\nname='x'\ninterface='e'\nvrid=1\nprio=3\nvirtual_addresses=['10.0.0.1']";
        assert!(load(typo).is_err());
        let v2_fast = "[[instance]]\nname='x'\ninterface='e'\nversion=2\nvrid=1\nadvert_interval='50ms'\nvirtual_addresses=['10.0.0.1']";
        assert!(load(v2_fast).is_err());
    }
}

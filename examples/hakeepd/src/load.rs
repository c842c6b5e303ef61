//! Loading keepalived.conf: the grammar from `ha-core`, then each crate maps its own
//! sections, and the daemon reads its part of `global_defs`. Every warning keeps its
//! `file:line:col`.

use std::collections::BTreeMap;
use std::path::Path;

use ha_bfd::keepalived::KeepalivedBfd;
use ha_core::conf::{Config, Options, ParseError, parse_file};
use ha_healthcheck::keepalived::TrackFile;
use ha_ipvs::keepalived::KeepalivedIpvs;
use ha_vrrp::keepalived::{Interfaces, KeepalivedVrrp, StaticInterfaces};
use ha_vrrp::linux::InstanceConfig;

use super::settings::{ConfWarning, DaemonSettings, settings};

/// Everything the daemon runs, mapped from one configuration.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The grammar tree.
    pub config: Config,
    /// The daemon's settings.
    pub settings: DaemonSettings,
    /// The VRRP mapping (instances, sync groups, scripts, notify scripts).
    pub vrrp: KeepalivedVrrp,
    /// The Linux configuration of each VRRP instance, in configuration order.
    pub instances: Vec<InstanceConfig>,
    /// The IPVS mapping (virtual servers, sync daemon, timeouts).
    pub ipvs: KeepalivedIpvs,
    /// The BFD mapping (`bfd_instance`s).
    pub bfd: KeepalivedBfd,
    /// `track_file` definitions.
    pub track_files: BTreeMap<String, TrackFile>,
    /// Every warning, in file order.
    pub warnings: Vec<ConfWarning>,
}

/// Why a configuration cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The grammar rejected it (includes a missing file).
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A section is invalid.
    #[error("{0}")]
    Map(String),
}

/// Parses and maps `path`.
pub fn load(
    path: &Path,
    options: &Options,
    interfaces: &dyn Interfaces,
) -> Result<Loaded, LoadError> {
    let config = parse_file(path, options)?;
    map(config, interfaces)
}

/// Maps a parsed configuration.
pub fn map(config: Config, interfaces: &dyn Interfaces) -> Result<Loaded, LoadError> {
    let (settings, mut warnings) = settings(&config).map_err(|e| LoadError::Map(e.to_string()))?;
    // BFD first: a `track_bfd` entry without a weight takes its `bfd_instance`'s.
    let bfd = ha_bfd::keepalived::map(&config).map_err(|e| LoadError::Map(e.to_string()))?;
    let vrrp = ha_vrrp::keepalived::map_with_defaults(&config, interfaces, &bfd.track_defaults())
        .map_err(|e| LoadError::Map(e.to_string()))?;
    warnings.extend(vrrp.warnings.iter().map(|w| ConfWarning {
        span: w.span.clone(),
        message: w.message.clone(),
    }));
    let ipvs = ha_ipvs::keepalived::map(&config).map_err(|e| LoadError::Map(e.to_string()))?;
    warnings.extend(ipvs.warnings.iter().map(|w| ConfWarning {
        span: w.span.clone(),
        message: w.message.clone(),
    }));
    warnings.extend(bfd.warnings.iter().map(|w| ConfWarning {
        span: w.span.clone(),
        message: w.message.clone(),
    }));
    // Checker blocks are mapped here too, so `-t` reports their problems; the daemon
    // maps them again when it subscribes the checks.
    let checks = ha_healthcheck::keepalived::MapContext::from_config(&config)
        .map_err(|e| LoadError::Map(e.to_string()))?;
    warnings.extend(checks.warnings.iter().map(|w| ConfWarning {
        span: w.span.clone(),
        message: format!("{}: {}", w.keyword, w.message),
    }));
    for vs in &ipvs.virtual_servers {
        let mut ctx = checks.value.clone();
        for c in &vs.node.children {
            ctx.defaults
                .apply(c)
                .map_err(|e| LoadError::Map(e.to_string()))?;
        }
        for rs in &vs.real_servers {
            let m = ha_healthcheck::keepalived::map_real_server(&rs.node, &ctx)
                .map_err(|e| LoadError::Map(e.to_string()))?;
            warnings.extend(m.warnings.iter().map(|w| ConfWarning {
                span: w.span.clone(),
                message: format!("{}: {}", w.keyword, w.message),
            }));
        }
    }
    for vs in ipvs.virtual_servers.iter().filter(|v| v.ha_suspend) {
        warnings.push(ConfWarning {
            span: vs.span.clone(),
            message: format!(
                "virtual_server {}: ha_suspend is not supported yet: its checks always run",
                vs.name
            ),
        });
    }
    // Process tracking is mapped by ha-vrrp but not run by this daemon yet.
    for node in config
        .nodes
        .iter()
        .filter(|n| n.keyword == "vrrp_track_process" || n.keyword == "track_process")
    {
        warnings.push(ConfWarning {
            span: node.span.clone(),
            message: format!(
                "{} is not supported yet: the process is tracked as always running",
                node.keyword
            ),
        });
    }
    let instances = ha_vrrp::linux::instance_configs(&vrrp);
    warnings.sort_by(|a, b| {
        (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col))
    });
    Ok(Loaded {
        config,
        settings,
        vrrp,
        instances,
        ipvs,
        bfd,
        track_files: checks.value.track_files.clone(),
        warnings,
    })
}

/// The interfaces of the current network namespace with their addresses, for the
/// mapping.
pub async fn system_interfaces() -> Result<StaticInterfaces, String> {
    let netlink = ha_vrrp::linux::Netlink::connect().map_err(|e| e.to_string())?;
    let mut table = StaticInterfaces::new();
    let entries = std::fs::read_dir("/sys/class/net").map_err(|e| e.to_string())?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(link) = netlink.link_by_name(&name).await else {
            continue;
        };
        // An interface without addresses cannot carry VRRP (no primary address).
        for a in netlink.addresses(link.index).await.unwrap_or_default() {
            table = table.with(&name, link.index, a.address);
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use ha_core::IfIndex;
    use ha_core::conf::parse_str;
    use ha_core::track::{TrackSpec, TrackWeight};

    use super::*;

    fn spec(weight: i64, reverse: bool) -> TrackSpec {
        TrackSpec {
            weight: TrackWeight::new(weight).unwrap(),
            reverse,
        }
    }

    /// As in keepalived, a `track_bfd` entry without a weight takes its `bfd_instance`'s
    /// `weight` and `reverse`; one with a weight keeps its own weight, and the instance's
    /// `reverse` unless it says `reverse` or `noreverse` itself.
    #[test]
    fn track_bfd_entries_default_to_their_instance_weight() {
        let text = "\
bfd_instance weighted {
    neighbor_ip 192.0.2.2
    weight -20 reverse
}
bfd_instance plain {
    neighbor_ip 192.0.2.3
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    track_bfd {
        weighted
        plain
        weighted weight 7
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
vrrp_sync_group G {
    group {
        VI_1
    }
    track_bfd {
        weighted
    }
}
";
        let config = parse_str(text, &Options::default()).unwrap();
        let interfaces =
            StaticInterfaces::new().with("eth0", IfIndex(2), "192.0.2.1".parse().unwrap());
        let loaded = map(config, &interfaces).unwrap();
        let track: Vec<_> = loaded.vrrp.host.instances[0]
            .track
            .iter()
            .map(|t| (t.object.as_str(), t.spec))
            .collect();
        assert_eq!(
            track,
            [
                ("bfd:weighted", spec(-20, true)),
                ("bfd:plain", TrackSpec::default()),
                ("bfd:weighted", spec(7, true)),
            ]
        );
        assert_eq!(
            loaded.vrrp.host.sync_groups[0].track[0].spec,
            spec(-20, true)
        );
    }
}

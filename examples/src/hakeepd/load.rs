//! Loading keepalived.conf: the grammar from `ha-core`, then each crate maps its own
//! sections, and the daemon reads its part of `global_defs`. Every warning keeps its
//! `file:line:col`.

use std::collections::BTreeMap;
use std::path::Path;

use ha_core::conf::{Config, Options, ParseError, parse_file};
use ha_healthcheck::keepalived::{TrackFile, track_files};
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
    let vrrp =
        ha_vrrp::keepalived::map(&config, interfaces).map_err(|e| LoadError::Map(e.to_string()))?;
    warnings.extend(vrrp.warnings.iter().map(|w| ConfWarning {
        span: w.span.clone(),
        message: w.message.clone(),
    }));
    let files = track_files(&config).map_err(|e| LoadError::Map(e.to_string()))?;
    warnings.extend(files.warnings.iter().map(|w| ConfWarning {
        span: w.span.clone(),
        message: format!("{}: {}", w.keyword, w.message),
    }));
    let instances = ha_vrrp::linux::instance_configs(&vrrp);
    warnings.sort_by(|a, b| {
        (&a.span.file, a.span.line, a.span.col).cmp(&(&b.span.file, b.span.line, b.span.col))
    });
    Ok(Loaded {
        config,
        settings,
        vrrp,
        instances,
        track_files: files.value,
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

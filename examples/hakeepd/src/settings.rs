//! The daemon's own part of `global_defs`: notify FIFOs, the script user and script
//! security, the router id. The protocol crates read their own keys (`vrrp_version`,
//! `vrrp_strict`, `lvs_*`, `bfd_*`); every other key is a warning with its location.

use std::path::PathBuf;

use ha_core::conf::{Config, Node};

/// A notify FIFO (`notify_fifo PATH` with its `notify_fifo_script`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FifoConf {
    /// Where the FIFO is.
    pub path: PathBuf,
    /// The script that reads it.
    pub script: Option<String>,
}

/// The daemon's settings from `global_defs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonSettings {
    /// `router_id` (the host name when absent).
    pub router_id: Option<String>,
    /// `notify_fifo`: every notification line.
    pub notify_fifo: Option<FifoConf>,
    /// `vrrp_notify_fifo`: `INSTANCE` and `GROUP` lines.
    pub vrrp_notify_fifo: Option<FifoConf>,
    /// `lvs_notify_fifo`: `VS` and `RS` lines.
    pub lvs_notify_fifo: Option<FifoConf>,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `notification_email { ... }`: alert recipients.
    pub notification_email: Vec<String>,
    /// `notification_email_from`.
    pub notification_email_from: Option<String>,
    /// `smtp_server IP [PORT]`.
    pub smtp_server: Option<std::net::SocketAddr>,
    /// `smtp_helo_name`.
    pub smtp_helo_name: Option<String>,
    /// `smtp_connect_timeout` (keepalived's default: 30 s).
    pub smtp_connect_timeout: Option<std::time::Duration>,
    /// `smtp_alert`: mail every state change by default.
    pub smtp_alert: Option<bool>,
    /// `smtp_alert_vrrp`: the default for VRRP instances and groups.
    pub smtp_alert_vrrp: Option<bool>,
    /// `smtp_alert_checker`: the default for real and virtual servers.
    pub smtp_alert_checker: Option<bool>,
    /// `no_email_faults`: no mail for FAULT transitions.
    pub no_email_faults: bool,
}

/// A keyword with no effect, with where it is (the type every mapping reports).
pub use ha_core::conf::Warning as ConfWarning;

/// `global_defs` keys read by the protocol crates' mappings.
const CRATE_KEYS: &[&str] = &[
    "vrrp_version",
    "vrrp_strict",
    "lvs_sync_daemon",
    "lvs_timeouts",
    "lvs_flush",
    "lvs_flush_on_stop",
];

/// `global_defs` keys keepalived knows that hakeepd does not act on.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "enable_traps",
    "enable_dbus",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_iptables",
    "vrrp_ipsets",
    "vrrp_skip_check_adv_addr",
    "vrrp_check_unicast_src",
    "vrrp_priority",
    "checker_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "vrrp_rt_priority",
    "checker_rt_priority",
    "process_names",
    "dynamic_interfaces",
    "max_auto_priority",
    "linkbeat_use_polling",
    "snmp_socket",
    "vrrp_startup_delay",
    "vrrp_rx_bufs_policy",
    "lvs_id",
];

fn warn(node: &Node, message: impl Into<String>) -> ConfWarning {
    ConfWarning {
        span: node.span.clone(),
        message: message.into(),
    }
}

/// A settings error with its location.
pub use ha_core::conf::MapError as SettingsError;

fn fifo_path(node: &Node) -> Result<PathBuf, SettingsError> {
    node.arg().map(PathBuf::from).ok_or_else(|| SettingsError {
        span: node.span.clone(),
        message: format!("{} needs a path", node.keyword),
    })
}

fn script_arg(node: &Node) -> Result<String, SettingsError> {
    node.arg().map(str::to_string).ok_or_else(|| SettingsError {
        span: node.span.clone(),
        message: format!("{} needs a script", node.keyword),
    })
}

fn on_off(node: &Node) -> Result<bool, SettingsError> {
    match node.arg() {
        None | Some("on" | "true" | "yes") => Ok(true),
        Some("off" | "false" | "no") => Ok(false),
        Some(v) => Err(SettingsError {
            span: node.span.clone(),
            message: format!("{}: expected on or off, got {v:?}", node.keyword),
        }),
    }
}

/// Reads the daemon's keys from every `global_defs` block.
pub fn settings(conf: &Config) -> Result<(DaemonSettings, Vec<ConfWarning>), SettingsError> {
    let mut s = DaemonSettings::default();
    let mut warnings = Vec::new();
    let mut scripts: [Option<String>; 3] = [None, None, None];
    for block in conf.sections("global_defs") {
        for c in &block.children {
            let k = c.keyword.as_str();
            match k {
                "router_id" => s.router_id = c.arg().map(str::to_string),
                "notify_fifo" => {
                    s.notify_fifo = Some(FifoConf {
                        path: fifo_path(c)?,
                        script: None,
                    })
                }
                "vrrp_notify_fifo" => {
                    s.vrrp_notify_fifo = Some(FifoConf {
                        path: fifo_path(c)?,
                        script: None,
                    })
                }
                "lvs_notify_fifo" => {
                    s.lvs_notify_fifo = Some(FifoConf {
                        path: fifo_path(c)?,
                        script: None,
                    })
                }
                "notify_fifo_script" => scripts[0] = Some(script_arg(c)?),
                "vrrp_notify_fifo_script" => scripts[1] = Some(script_arg(c)?),
                "lvs_notify_fifo_script" => scripts[2] = Some(script_arg(c)?),
                "script_user" => {
                    let user = c.arg().ok_or_else(|| SettingsError {
                        span: c.span.clone(),
                        message: "script_user needs a user name".into(),
                    })?;
                    s.script_user = Some((user.to_string(), c.args.get(1).cloned()));
                }
                "enable_script_security" => s.enable_script_security = true,
                "notification_email" => {
                    s.notification_email = c
                        .children
                        .iter()
                        .map(|e| e.keyword.clone())
                        .chain(c.args.iter().cloned())
                        .collect()
                }
                "notification_email_from" => {
                    s.notification_email_from = Some(script_arg(c)?);
                }
                "smtp_server" => {
                    let ip: std::net::IpAddr =
                        c.arg()
                            .and_then(|a| a.parse().ok())
                            .ok_or_else(|| SettingsError {
                                span: c.span.clone(),
                                message: "smtp_server needs an IP address".into(),
                            })?;
                    let port = match c.args.get(1) {
                        None => 25,
                        Some(p) => p.parse().map_err(|_| SettingsError {
                            span: c.span.clone(),
                            message: format!("smtp_server: {p:?} is not a port"),
                        })?,
                    };
                    s.smtp_server = Some(std::net::SocketAddr::new(ip, port));
                }
                "smtp_helo_name" => s.smtp_helo_name = Some(script_arg(c)?),
                "smtp_connect_timeout" => {
                    let secs: u64 = c
                        .arg()
                        .and_then(|a| a.parse().ok())
                        .filter(|n| (1..=3600).contains(n))
                        .ok_or_else(|| SettingsError {
                            span: c.span.clone(),
                            message: "smtp_connect_timeout needs seconds in 1..=3600".into(),
                        })?;
                    s.smtp_connect_timeout = Some(std::time::Duration::from_secs(secs));
                }
                "smtp_alert" => s.smtp_alert = Some(on_off(c)?),
                "smtp_alert_vrrp" => s.smtp_alert_vrrp = Some(on_off(c)?),
                "smtp_alert_checker" => s.smtp_alert_checker = Some(on_off(c)?),
                "no_email_faults" => s.no_email_faults = true,
                k if CRATE_KEYS.contains(&k) => {}
                k if k.starts_with("bfd_") => {}
                k if KNOWN_UNSUPPORTED.contains(&k) => {
                    warnings.push(warn(c, format!("global_defs: {k} is not supported yet")))
                }
                k => warnings.push(warn(c, format!("global_defs: unknown keyword {k}"))),
            }
        }
    }
    for (fifo, script) in [
        &mut s.notify_fifo,
        &mut s.vrrp_notify_fifo,
        &mut s.lvs_notify_fifo,
    ]
    .into_iter()
    .zip(scripts)
    {
        if let (Some(f), Some(sc)) = (fifo.as_mut(), script) {
            f.script = Some(sc);
        }
    }
    Ok((s, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_core::conf::{Options, parse_str};

    #[test]
    fn daemon_keys_are_read_and_the_rest_warned_about() {
        let conf = parse_str(
            "global_defs {\n router_id LB1\n notify_fifo /run/k.fifo\n notify_fifo_script \"/bin/reader x\"\n \
             script_user nobody nogroup\n enable_script_security\n vrrp_version 3\n smtp_server 10.0.0.1\n \
             notification_email {\n a@example.org\n b@example.org\n }\n smtp_alert_vrrp off\n vrrp_garp_interval 1\n bogus 1\n}\n",
            &Options::default(),
        )
        .unwrap();
        let (s, w) = settings(&conf).unwrap();
        assert_eq!(s.router_id.as_deref(), Some("LB1"));
        let fifo = s.notify_fifo.unwrap();
        assert_eq!(fifo.path, PathBuf::from("/run/k.fifo"));
        assert_eq!(fifo.script.as_deref(), Some("/bin/reader x"));
        assert_eq!(
            s.script_user,
            Some(("nobody".to_string(), Some("nogroup".to_string())))
        );
        assert!(s.enable_script_security);
        assert_eq!(s.smtp_server, Some("10.0.0.1:25".parse().unwrap()));
        assert_eq!(s.notification_email, vec!["a@example.org", "b@example.org"]);
        assert_eq!(s.smtp_alert_vrrp, Some(false));
        assert_eq!(w.len(), 2);
        assert!(w[0].message.contains("vrrp_garp_interval"), "{}", w[0]);
        assert!(w[1].to_string().contains(":15:"), "{}", w[1]);
        let bad = parse_str("global_defs {\n notify_fifo\n}\n", &Options::default()).unwrap();
        assert!(settings(&bad).is_err());
    }
}

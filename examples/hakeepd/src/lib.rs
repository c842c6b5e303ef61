//! `hakeepd`, a keepalived-compatible daemon composed from the crates.
//!
//! The daemon stays thin: `ha-core` parses keepalived.conf, each crate maps its own
//! sections, and this module runs the results and wires their events:
//!
//! - [`load`]: configuration loading and every warning with its location;
//! - [`daemon`]: the loop (VRRP instances, tracked scripts and files, reload, dumps,
//!   control requests);
//! - [`lvs`]: checker verdicts → pool controllers → reconciler → IPVS;
//! - [`bfd`]: the BFD sessions, feeding VRRP tracking and `BFD_CHECK`;
//! - [`notify`]: notify scripts and FIFOs with keepalived's formats;
//! - [`smtp`]: e-mail alerts (`notification_email`, `smtp_server`, `smtp_alert`);
//! - [`script`]: command lines, the script user and script security;
//! - [`http`] and [`metrics`]: the opt-in local endpoint;
//! - [`systemd`]: readiness notifications.

pub mod bfd;
pub mod daemon;
pub mod http;
pub mod load;
pub mod lvs;
pub mod metrics;
pub mod notify;
pub mod script;
pub mod settings;
pub mod smtp;
pub mod systemd;

use std::path::Path;

use ha_core::conf::Options;
use ha_vrrp::keepalived::Interfaces;

/// keepalived's exit codes (`keepalived/include/main.h`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A fatal error at start-up.
    pub const FATAL: u8 = 3;
    /// The configuration cannot be run.
    pub const CONFIG: u8 = 4;
    /// `-t` found problems.
    pub const CONFIG_TEST: u8 = 5;
}

/// `-t`: loads `path` and reports every problem on `out`. Returns keepalived's exit code:
/// 0 when the configuration loads without a warning, 5 otherwise (a missing file, a
/// syntax or mapping error, or any keyword that would have no effect, unknown or not
/// supported yet).
pub fn config_test(
    path: &Path,
    options: &Options,
    interfaces: &dyn Interfaces,
    out: &mut dyn std::io::Write,
) -> u8 {
    match load::load(path, options, interfaces) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                let _ = writeln!(out, "{w}");
            }
            if loaded.warnings.is_empty() {
                exit::OK
            } else {
                exit::CONFIG_TEST
            }
        }
        Err(e) => {
            let _ = writeln!(out, "{e}");
            exit::CONFIG_TEST
        }
    }
}

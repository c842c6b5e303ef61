//! Per-interface sysctls (`/proc/sys/net/ipv{4,6}/conf/<interface>/<key>`), read and
//! written in the network namespace of the calling thread.

use std::io;
use std::path::PathBuf;

/// The file of one per-interface IPv4 sysctl.
pub fn ipv4_conf_path(interface: &str, key: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv4/conf/{interface}/{key}"))
}

/// Reads an integer sysctl.
pub fn read_ipv4_conf(interface: &str, key: &str) -> io::Result<i64> {
    let text = std::fs::read_to_string(ipv4_conf_path(interface, key))?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an integer: {text:?}"),
        )
    })
}

/// Writes an integer sysctl.
pub fn write_ipv4_conf(interface: &str, key: &str, value: i64) -> io::Result<()> {
    std::fs::write(ipv4_conf_path(interface, key), value.to_string())
}

/// The file of one per-interface IPv6 sysctl.
pub fn ipv6_conf_path(interface: &str, key: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/ipv6/conf/{interface}/{key}"))
}

/// Writes an integer IPv6 sysctl.
pub fn write_ipv6_conf(interface: &str, key: &str, value: i64) -> io::Result<()> {
    std::fs::write(ipv6_conf_path(interface, key), value.to_string())
}

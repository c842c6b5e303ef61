//! From keepalived.conf's mapping ([`crate::keepalived`]) to [`InstanceConfig`]s.

use super::{InstanceConfig, VmacConfig};
use crate::keepalived::KeepalivedVrrp;

/// One [`InstanceConfig`] per mapped `vrrp_instance`, in configuration order: the
/// interface by name, each virtual address's prefix, `virtual_ipaddress_excluded`,
/// `use_vmac`, `dont_track_primary`, `virtual_routes` and `virtual_rules`. The static
/// sections (`vrrp.static_*`) are not instance business: apply them with
/// [`super::apply_static`]. Hand them with `vrrp.host.sync_groups` to
/// [`super::InstanceSet::start`].
pub fn instance_configs(vrrp: &KeepalivedVrrp) -> Vec<InstanceConfig> {
    vrrp.host
        .instances
        .iter()
        .map(|router| {
            let extras = vrrp.extras.get(&router.name);
            let interface = extras.map(|e| e.interface.clone()).unwrap_or_default();
            let mut config = InstanceConfig::new(interface, router.clone());
            if let Some(extras) = extras {
                config.address_prefixes = extras.prefixes.clone();
                config.excluded_addresses = extras.excluded.clone();
                config.track_own_interface = !extras.dont_track_primary;
                config.routes = extras.routes.clone();
                config.rules = extras.rules.clone();
                config.vmac = extras
                    .vmac
                    .as_ref()
                    .map(|name| VmacConfig { name: name.clone() });
            }
            config
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use ha_core::IfIndex;
    use ha_core::conf::{Options, parse_str};

    use super::*;
    use crate::keepalived::{StaticInterfaces, map};

    #[test]
    fn maps_interface_prefixes_excluded_and_vmac() {
        let conf = parse_str(
            "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n use_vmac vrrp.one\n dont_track_primary\n virtual_ipaddress {\n 192.0.2.10/24\n 192.0.2.11\n }\n virtual_ipaddress_excluded {\n 198.51.100.7/25\n }\n virtual_routes {\n 10.1.0.0/16 via 192.0.2.254\n }\n virtual_rules {\n from 192.0.2.10 table 100\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.20\n }\n}\n",
            &Options::default(),
        )
        .unwrap();
        let ifaces = StaticInterfaces::new().with("eth0", IfIndex(2), "192.0.2.1".parse().unwrap());
        let vrrp = map(&conf, &ifaces).unwrap();
        assert!(vrrp.warnings.is_empty(), "{:?}", vrrp.warnings);
        let configs = instance_configs(&vrrp);
        assert_eq!(configs.len(), 2);
        let a = &configs[0];
        assert_eq!(a.interface, "eth0");
        assert_eq!(a.router.name, "A");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            a.address_prefixes,
            vec![(ip("192.0.2.10"), 24), (ip("192.0.2.11"), 32)]
        );
        assert_eq!(a.excluded_addresses, vec![(ip("198.51.100.7"), 25)]);
        assert_eq!(
            a.vmac,
            Some(VmacConfig {
                name: Some("vrrp.one".into())
            })
        );
        assert!(!a.track_own_interface);
        assert_eq!(a.routes[0].to_string(), "10.1.0.0/16 via 192.0.2.254");
        assert_eq!(a.rules[0].to_string(), "from 192.0.2.10/32 table 100");
        let b = &configs[1];
        assert_eq!(b.vmac, None);
        assert!(b.track_own_interface);
    }
}

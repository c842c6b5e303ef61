//! The kernel backend on a host without the `ip_vs` module: a typed error, no panic.
//! (Full kernel tests run in a VM with the module loaded.)
#![cfg(feature = "linux")]

use ha_ipvs::IpvsError;
use ha_ipvs::client::{ClientConfig, IpvsClient};
use std::time::Duration;

#[tokio::test]
async fn missing_family_is_a_typed_error() {
    let cfg = ClientConfig {
        request_timeout: Duration::from_secs(2),
    };
    match IpvsClient::connect(cfg).await {
        Err(IpvsError::FamilyNotFound) => eprintln!("family not found"),
        // A sandbox without netlink sockets: still a typed error.
        Err(IpvsError::Io(e)) => eprintln!("io: {e}"),
        // A host that has IPVS: the family resolves and info works.
        Ok(c) => {
            assert!(c.family_id().await.is_some());
            let info = ha_ipvs::IpvsBackend::info(&c).await;
            assert!(info.is_ok() || matches!(info, Err(IpvsError::Kernel { .. })));
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

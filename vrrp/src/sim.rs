//! Helpers to run VRRP routers in the [`ha_core::sim`] simulator.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Duration;
//! use ha_core::sim::{LinkConfig, Sim};
//! use ha_vrrp::sim::{add_router, masters};
//! use ha_vrrp::{Priority, RouterConfig, Version, Vrid};
//!
//! let mut sim = Sim::new(1);
//! let lan = sim.add_segment("lan", LinkConfig::default());
//! let vip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
//! for (i, prio) in [(1u8, 100u8), (2, 200)] {
//!     let addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
//!     let config = RouterConfig::new(format!("r{i}"), Version::V3, Vrid::new(1).unwrap(),
//!         Priority(prio), Default::default(), addr, vec![vip]);
//!     add_router(&mut sim, lan, config).unwrap();
//! }
//! sim.run_for(Duration::from_secs(5));
//! assert_eq!(masters(&sim).len(), 1);
//! ```

use ha_core::IfIndex;
use ha_core::sim::{NodeId, NodeStart, SegmentId, Sim};

use crate::{ConfigError, Router, RouterConfig, State};

/// Adds a node named after the instance, running a [`Router`] with `config`, attached to
/// `segment` at the config's primary address and each virtual address is *not* attached
/// (they are the routers' to claim). The config's interface is set to the node's first
/// interface.
pub fn add_router(
    sim: &mut Sim<Router>,
    segment: SegmentId,
    mut config: RouterConfig,
) -> Result<NodeId, ConfigError> {
    config.interface = IfIndex(1);
    config.validate()?;
    let address = config.primary_address;
    let name = config.name.clone();
    let node = sim.add_node(name, move |start: NodeStart| {
        // Validated above, so construction cannot fail.
        Router::new(config.clone(), start.now).unwrap_or_else(|e| unreachable!("{e}"))
    });
    sim.attach(node, segment, address);
    Ok(node)
}

/// The nodes whose router is Master right now.
pub fn masters(sim: &Sim<Router>) -> Vec<NodeId> {
    sim.nodes()
        .filter(|n| state(sim, *n) == Some(State::Master))
        .collect()
}

/// The state of a node's router (`None` while the node is crashed).
pub fn state(sim: &Sim<Router>, node: NodeId) -> Option<State> {
    sim.endpoint(node).map(Router::state)
}

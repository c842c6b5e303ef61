//! [`Instance`]: one VRRP router running on a real interface.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ha_core::driver::{
    Driver, DriverError, DriverEvent, DriverHandle, DriverStopped, EventStream, Timers,
};
use ha_core::track::{TrackSpec, TrackState, TrackWeight};
use ha_core::{Endpoint, IfIndex, Instant, RecvMeta, Transmit};
use thiserror::Error;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::garp::{GarpSocket, Mac};
use super::netlink::{AddOutcome, LinkMonitor, Netlink, NetlinkError, RemoveOutcome};
use super::socket::{Framing, RawVrrpSocket, SocketCounters, SocketError};
use super::sysctl;
use crate::routes::{VirtualRoute, VirtualRule};
use crate::sync::MemberView;
use crate::{AuthConfig, Command, ConfigError, Event, Router, RouterConfig, TrackConfig};

/// Configuration of one [`Instance`].
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceConfig {
    /// The interface name, e.g. `"eth0"`.
    pub interface: String,
    /// The router's configuration. Its `interface` is replaced by the index of
    /// [`InstanceConfig::interface`]; an unspecified `primary_address` (`0.0.0.0` or `::`)
    /// is replaced by the interface's first IPv4 address (for IPv4) or its link-local
    /// address (for IPv6).
    pub router: RouterConfig,
    /// Prefix length of the virtual addresses when added (default 32 for IPv4, 128 for
    /// IPv6, as keepalived).
    pub prefix_len: Option<u8>,
    /// Go to FAULT while the instance's own interface is down or without carrier
    /// (keepalived's default; its `dont_track_primary` turns it off). Adds the tracked
    /// object `if:<interface>` with weight 0 unless the router already tracks it.
    pub track_own_interface: bool,
    /// Send through a virtual-MAC interface (keepalived's `use_vmac`).
    pub vmac: Option<VmacConfig>,
    /// Prefix lengths of individual virtual addresses, overriding
    /// [`InstanceConfig::prefix_len`] for those addresses (keepalived's
    /// `192.0.2.10/24` form).
    pub address_prefixes: Vec<(IpAddr, u8)>,
    /// Addresses added and removed with the virtual addresses but not advertised
    /// (keepalived's `virtual_ipaddress_excluded`), with their prefix lengths.
    pub excluded_addresses: Vec<(IpAddr, u8)>,
    /// Routes added while Master, after the virtual addresses, and removed before them
    /// when leaving Master (keepalived's `virtual_routes`). A unicast route with neither
    /// `dev` nor gateway goes on the interface that holds the virtual addresses.
    pub routes: Vec<VirtualRoute>,
    /// Policy rules added while Master, after the routes, and removed first (keepalived's
    /// `virtual_rules`).
    pub rules: Vec<VirtualRule>,
    /// Keep this instance's virtual addresses, routes and rules found on the system at
    /// start instead of removing them first. For restarting a running instance in place
    /// (a daemon's reload): stop the old one without a goodbye ([`InstanceHandle::stop`])
    /// and start the new one as Master with this set, and the addresses never disappear.
    /// Off by default, as keepalived removes leftovers of a crash. A VMAC instance
    /// deletes its macvlan (and the addresses on it) when it stops, so this cannot help
    /// there.
    pub keep_addresses: bool,
}

/// A VMAC: a macvlan (private mode) on the instance's interface with the VRRP virtual MAC
/// (`00:00:5e:00:01:VRID` for IPv4, `00:00:5e:00:02:VRID` for IPv6, RFC 5798 section
/// 7.3), which carries the adverts, the virtual addresses and the gratuitous ARPs / NAs,
/// so the virtual MAC moves with the Master. Adverts are still received on the parent.
///
/// IPv4: like keepalived, the instance sets `arp_ignore=1` and `arp_filter=1` on the
/// parent interface (so the parent does not answer ARP for the virtual addresses with its
/// own MAC) and `arp_ignore=1`, `accept_local=1`, `rp_filter=0` on the VMAC. IPv6: the
/// VMAC gets no address of its own (`addr_gen_mode=1`, no DAD) but the parent's
/// link-local address, the adverts' source. When the instance stops it deletes the VMAC
/// (and with it the virtual addresses) and restores the parent's sysctls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmacConfig {
    /// The macvlan's name (default `vrrp.<VRID>` for IPv4, `vrrp6.<VRID>` for IPv6).
    pub name: Option<String>,
}

impl InstanceConfig {
    /// An instance on `interface` with keepalived's defaults (own interface tracked, VIP
    /// prefix 32 / 128).
    pub fn new(interface: impl Into<String>, router: RouterConfig) -> Self {
        InstanceConfig {
            interface: interface.into(),
            router,
            prefix_len: None,
            track_own_interface: true,
            vmac: None,
            address_prefixes: Vec::new(),
            excluded_addresses: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            keep_addresses: false,
        }
    }
}

/// The tracked-object name of interface `name` (`if:<name>`): the link monitor reports
/// the state of every interface tracked under such a name.
pub fn interface_object(name: &str) -> String {
    format!("if:{name}")
}

/// Starting an [`Instance`] failed.
#[derive(Debug, Error)]
pub enum InstanceError {
    /// The router configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A netlink query failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// The VRRP sockets could not be opened.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The gratuitous ARP / NA socket could not be opened.
    #[error("gratuitous ARP/NA socket on {interface}: {source}")]
    Garp {
        /// Interface name.
        interface: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The interface has no address to use as the primary address.
    #[error("interface {interface} has no {family} address to send advertisements from")]
    NoPrimaryAddress {
        /// Interface name.
        interface: String,
        /// "IPv4" or "IPv6 link-local".
        family: &'static str,
    },
    /// The interface has no MAC address (gratuitous ARP needs one).
    #[error("interface {0} has no Ethernet MAC address")]
    NoMac(String),
    /// The driver stopped with an error.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A VMAC cannot be set up.
    #[error("VMAC {name}: {why}")]
    Vmac {
        /// The macvlan's name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// A sysctl could not be read or written.
    #[error("sysctl {path}: {source}")]
    Sysctl {
        /// Its file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What an [`Instance`] reports, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum InstanceEvent {
    /// An event of the router, reported after its action (if any) was applied.
    Router(Event),
    /// An action on the system failed; the router carries on.
    ActionFailed {
        /// What was being done.
        action: String,
        /// Why it failed.
        error: String,
    },
    /// Something the driver noticed (send or receive failures, late timers).
    Driver(DriverEvent<()>),
}

/// Sends commands to a running [`Instance`]. Cloneable.
#[derive(Clone, Debug)]
pub struct InstanceHandle {
    driver: DriverHandle<Command>,
}

impl InstanceHandle {
    /// Queues a router command.
    pub fn command(&self, command: Command) -> Result<(), DriverStopped> {
        self.driver.command(command)
    }

    /// Graceful stop: a Master sends a priority-0 advertisement and removes its virtual
    /// addresses, then the instance stops. Waits until the driver has stopped.
    pub async fn shutdown(&self) {
        let _ = self.driver.command(Command::Shutdown);
        self.driver.stop().await;
    }

    /// Stops at once without telling the peers (the virtual addresses stay, as after a
    /// crash). Waits until the driver has stopped.
    pub async fn stop(&self) {
        self.driver.stop().await;
    }
}

/// One VRRP router on a Linux interface: a [`Driver`] running the [`Router`] over a
/// [`RawVrrpSocket`], and an applier that consumes the router's events in order — adds
/// and removes the virtual addresses over rtnetlink, sends gratuitous ARPs / NAs — and
/// logs every transition with `tracing`.
///
/// ```no_run
/// # async fn demo(config: ha_vrrp::linux::InstanceConfig) -> Result<(), ha_vrrp::linux::InstanceError> {
/// use ha_vrrp::linux::Instance;
/// let (instance, handle, mut events) = Instance::start(config).await?;
/// let run = tokio::spawn(instance.run());
/// // ... later:
/// handle.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Instance {
    name: String,
    tracked_links: Vec<(IfIndex, String)>,
    monitor: Option<LinkMonitor>,
    commands: DriverHandle<Command>,
    vmac: Option<VmacState>,
    /// Where the virtual addresses go (the VMAC when there is one).
    ifindex: IfIndex,
    addresses: AddressPlan,
    driver: Driver<MemberRouter, RawVrrpSocket>,
    events: EventStream<MemberOutput>,
    sync: Option<SyncTap>,
    netlink: Netlink,
    garp: GarpSocket,
    observer: mpsc::UnboundedSender<InstanceEvent>,
    counters: std::sync::Arc<SocketCounters>,
}

impl Instance {
    /// Resolves the interface, opens the sockets and builds the router. Must run inside a
    /// tokio runtime with I/O and time enabled, in the network namespace of the
    /// interface. Returns the instance (run it with [`Instance::run`]), a handle, and the
    /// stream of [`InstanceEvent`]s.
    pub async fn start(
        config: InstanceConfig,
    ) -> Result<
        (
            Instance,
            InstanceHandle,
            mpsc::UnboundedReceiver<InstanceEvent>,
        ),
        InstanceError,
    > {
        Self::start_inner(config, false).await
    }

    /// [`Instance::start`], with the router made a sync-group member when `sync_member`
    /// (it then reports [`Event::WantMaster`] instead of taking over alone).
    pub(crate) async fn start_inner(
        config: InstanceConfig,
        sync_member: bool,
    ) -> Result<
        (
            Instance,
            InstanceHandle,
            mpsc::UnboundedReceiver<InstanceEvent>,
        ),
        InstanceError,
    > {
        let InstanceConfig {
            interface,
            mut router,
            prefix_len,
            track_own_interface,
            vmac,
            address_prefixes,
            excluded_addresses,
            routes,
            rules,
            keep_addresses,
        } = config;
        let netlink = Netlink::connect()?;
        let link = netlink.link_by_name(&interface).await?;
        router.interface = link.index;
        let own = interface_object(&interface);
        if track_own_interface && !router.track.iter().any(|t| t.object == own) {
            router.track.push(TrackConfig {
                object: own,
                spec: TrackSpec::weight(TrackWeight::FAULT),
                initial: TrackState::Up,
            });
        }
        // Tracked interfaces: their current state, and a monitor for changes.
        let mut tracked_links = Vec::new();
        for track in &mut router.track {
            if let Some(name) = track.object.strip_prefix("if:") {
                let state = match netlink.link_by_name(name).await {
                    Ok(l) => {
                        tracked_links.push((l.index, track.object.clone()));
                        if l.running {
                            TrackState::Up
                        } else {
                            TrackState::Down
                        }
                    }
                    Err(NetlinkError::NoSuchInterface(_)) => TrackState::Down,
                    Err(e) => return Err(e.into()),
                };
                track.initial = state;
            }
        }
        let monitor = if tracked_links.is_empty() {
            None
        } else {
            Some(LinkMonitor::open()?)
        };
        let addresses = netlink.addresses(link.index).await?;
        let link_local = addresses.iter().find_map(|a| match a.address {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(v6),
            _ => None,
        });
        if router.primary_address.is_unspecified() {
            let found = addresses.iter().find(|a| {
                a.address.is_ipv4() == router.primary_address.is_ipv4()
                    && !router.virtual_addresses.contains(&a.address)
                    && match a.address {
                        IpAddr::V4(_) => true,
                        IpAddr::V6(v6) => v6.is_unicast_link_local(),
                    }
            });
            router.primary_address = match found {
                Some(a) => a.address,
                None => {
                    return Err(InstanceError::NoPrimaryAddress {
                        interface,
                        family: if router.primary_address.is_ipv4() {
                            "IPv4"
                        } else {
                            "IPv6 link-local"
                        },
                    });
                }
            };
        }
        router.validate()?;
        let mac = link
            .mac
            .ok_or_else(|| InstanceError::NoMac(interface.clone()))?;
        let framing = match router.auth {
            AuthConfig::IpsecAh(_) => Framing::Ipv4Ah,
            _ => Framing::Vrrp,
        };
        let (vmac, send_interface, vip_index, garp_mac) = match vmac {
            None => (None, interface.clone(), link.index, mac),
            Some(v) => {
                let v = setup_vmac(&netlink, &v, &interface, link.index, &router).await?;
                let (name, index, vmac_mac) = (v.name.clone(), v.index, v.mac);
                (Some(v), name, index, vmac_mac)
            }
        };
        let (observer, observed) = mpsc::unbounded_channel();
        let name = router.name.clone();
        let addresses = AddressPlan {
            default_prefix: prefix_len.unwrap_or(if router.primary_address.is_ipv4() {
                32
            } else {
                128
            }),
            prefixes: address_prefixes,
            excluded: excluded_addresses,
            routes,
            rules,
        };
        let rest = async {
            let socket = RawVrrpSocket::open_split(
                &interface,
                link.index,
                &send_interface,
                vip_index,
                router.primary_address,
                framing,
            )?;
            let garp = GarpSocket::open(vip_index, garp_mac, link_local).map_err(|source| {
                InstanceError::Garp {
                    interface: interface.clone(),
                    source,
                }
            })?;
            // A new instance owns no virtual address yet: remove any left behind (by a
            // crash, say) before it starts, as keepalived does, so a Backup never holds
            // them. Rules and routes first: they may depend on the addresses.
            let leftovers = if keep_addresses {
                Default::default()
            } else {
                (
                    addresses.rules.clone(),
                    addresses.routes.clone(),
                    addresses.all(&router.virtual_addresses),
                )
            };
            let (stale_rules, stale_routes, stale_addresses): (Vec<_>, Vec<_>, Vec<_>) = leftovers;
            for rule in &stale_rules {
                if netlink.remove_rule(rule).await? == RemoveOutcome::Removed {
                    info!(instance = %name, %rule, "removed a virtual rule left behind");
                }
            }
            for route in &stale_routes {
                if netlink.remove_route(route, Some(vip_index)).await? == RemoveOutcome::Removed {
                    info!(instance = %name, %route, "removed a virtual route left behind");
                }
            }
            for (address, prefix_len) in stale_addresses {
                if netlink
                    .remove_address(vip_index, address, prefix_len)
                    .await?
                    == RemoveOutcome::Removed
                {
                    info!(instance = %name, %address, "removed a virtual address left behind");
                }
            }
            Ok::<_, InstanceError>((socket, garp))
        };
        let (socket, garp) = match rest.await {
            Ok(x) => x,
            Err(e) => {
                // Undo the VMAC so a failed start leaves the system as it was.
                if let Some(v) = vmac {
                    v.teardown(&name, &netlink, &observer).await;
                }
                return Err(e);
            }
        };
        let counters = socket.counters();
        let clock = ha_core::driver::Clock::new();
        let mut endpoint = Router::new(router, clock.now())?;
        endpoint.set_sync_member(sync_member);
        let endpoint = MemberRouter::new(endpoint);
        let (mut driver, handle, events) = Driver::with_clock(endpoint, socket, clock);
        // VRRP's Master_Down_Interval is specified to the microsecond and keepalived meets
        // it; tokio alone would fire one to two milliseconds late. A timerfd fires within
        // a fraction of one without polling; failing that, yield through the last ones.
        let precise = Timers::TimerFd {
            coalesce: Duration::ZERO,
        };
        if let Err(error) = driver.set_timers(precise) {
            warn!(instance = %name, %error, "no timerfd: polling for precise timers instead");
            driver.set_precise_timers(true);
        }
        info!(instance = %name, interface = %interface, ifindex = link.index.0, "VRRP instance starting");
        Ok((
            Instance {
                name,
                tracked_links,
                monitor,
                commands: handle.clone(),
                vmac,
                ifindex: vip_index,
                addresses,
                driver,
                events,
                sync: None,
                netlink,
                garp,
                observer,
                counters,
            },
            InstanceHandle { driver: handle },
            observed,
        ))
    }

    /// The receive counters of the VRRP socket.
    pub fn socket_counters(&self) -> std::sync::Arc<SocketCounters> {
        std::sync::Arc::clone(&self.counters)
    }

    /// Has the router's member views and its transitions reported to `tap` as soon as the
    /// driver produces them, ahead of the applier (which may be busy with netlink or a
    /// gratuitous ARP burst): what a sync group needs to decide quickly.
    pub(crate) fn set_sync_tap(&mut self, tap: SyncTap) {
        self.sync = Some(tap);
    }

    /// A handle to this instance (as [`Instance::start`] returned).
    pub(crate) fn commands_handle(&self) -> InstanceHandle {
        InstanceHandle {
            driver: self.commands.clone(),
        }
    }

    /// Runs until [`InstanceHandle::shutdown`] or [`InstanceHandle::stop`]; every event
    /// the router produced is applied before this returns the router.
    pub async fn run(self) -> Result<Router, InstanceError> {
        let Instance {
            name,
            tracked_links,
            monitor,
            commands,
            vmac,
            ifindex,
            addresses,
            driver,
            mut events,
            sync,
            netlink,
            garp,
            observer,
            counters: _,
        } = self;
        let (apply_tx, mut apply_rx) = mpsc::unbounded_channel();
        // Splits the driver's output: member views and transitions go to the sync tap at
        // once, router events to the applier in order.
        let splitter = async move {
            while let Some(event) = events.recv().await {
                let event = match event.into_endpoint() {
                    Ok(MemberOutput::View(view)) => {
                        if let Some(tap) = &sync {
                            (tap.0)(MemberOutput::View(view));
                        }
                        continue;
                    }
                    Ok(MemberOutput::Router(event)) => {
                        if let Some(tap) = &sync {
                            if matches!(
                                event,
                                Event::StateChanged { .. } | Event::WantMaster { .. }
                            ) {
                                (tap.0)(MemberOutput::Router(event.clone()));
                            }
                        }
                        DriverEvent::Endpoint(event)
                    }
                    Err(report) => report,
                };
                if apply_tx.send(event).is_err() {
                    break;
                }
            }
        };
        let applier = async {
            let applier = Applier {
                name: &name,
                ifindex,
                addresses: &addresses,
                netlink: &netlink,
                garp: &garp,
                observer: &observer,
            };
            while let Some(event) = apply_rx.recv().await {
                applier.apply(event).await;
            }
        };
        let links = watch_links(&name, monitor, tracked_links, commands);
        let driver = async {
            tokio::select! {
                result = driver.run() => result,
                () = links => unreachable!("the link watcher never ends"),
            }
        };
        let (result, (), ()) = tokio::join!(driver, splitter, applier);
        if let Some(vmac) = vmac {
            vmac.teardown(&name, &netlink, &observer).await;
        }
        info!(instance = %name, "VRRP instance stopped");
        Ok(result?.router)
    }
}

/// Which addresses an instance adds when Master, with their prefix lengths.
#[derive(Debug)]
struct AddressPlan {
    default_prefix: u8,
    prefixes: Vec<(IpAddr, u8)>,
    excluded: Vec<(IpAddr, u8)>,
    routes: Vec<VirtualRoute>,
    rules: Vec<VirtualRule>,
}

impl AddressPlan {
    fn prefix_of(&self, address: IpAddr) -> u8 {
        self.prefixes
            .iter()
            .find(|(a, _)| *a == address)
            .map_or(self.default_prefix, |(_, p)| *p)
    }

    /// The virtual addresses with their prefixes, then the excluded addresses.
    fn all(&self, virtual_addresses: &[IpAddr]) -> Vec<(IpAddr, u8)> {
        virtual_addresses
            .iter()
            .map(|&a| (a, self.prefix_of(a)))
            .chain(
                self.excluded
                    .iter()
                    .copied()
                    .filter(|(a, _)| !virtual_addresses.contains(a)),
            )
            .collect()
    }
}

/// Receives a sync-group member's views and transitions (see [`Instance::set_sync_tap`]).
pub(crate) struct SyncTap(pub(crate) Box<dyn Fn(MemberOutput) + Send + Sync>);

impl std::fmt::Debug for SyncTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncTap")
    }
}

/// What the driver's endpoint reports.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum MemberOutput {
    /// The router's [`MemberView`] changed. Reported before the events of the same input,
    /// so whoever handles those events already knows the view after them (as a sync
    /// group expects).
    View(MemberView),
    /// An event of the router.
    Router(Event),
}

/// The [`Router`] as the driver runs it: it also reports its sync-group [`MemberView`]
/// whenever it changes, including changes without an event (a member's own fault
/// clearing while its group still holds it in FAULT).
#[derive(Debug)]
pub(crate) struct MemberRouter {
    router: Router,
    reported: Option<MemberView>,
}

impl MemberRouter {
    /// Wraps `router`.
    pub(crate) fn new(router: Router) -> Self {
        MemberRouter {
            router,
            reported: None,
        }
    }

    pub(crate) fn view(&self) -> MemberView {
        MemberView {
            state: self.router.state(),
            wants_master: self.router.wants_master(),
            own_fault: self.router.has_own_fault(),
        }
    }
}

impl Endpoint for MemberRouter {
    type Command = Command;
    type Event = MemberOutput;

    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]) {
        self.router.handle_packet(now, meta, payload);
    }

    fn handle_command(&mut self, now: Instant, command: Command) {
        self.router.handle_command(now, command);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.router.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.router.poll_transmit(now, buf)
    }

    fn poll_event(&mut self) -> Option<MemberOutput> {
        let view = self.view();
        if self.reported != Some(view) {
            self.reported = Some(view);
            return Some(MemberOutput::View(view));
        }
        self.router.poll_event().map(MemberOutput::Router)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.router.poll_timeout()
    }
}

#[derive(Debug)]
struct VmacState {
    name: String,
    index: IfIndex,
    mac: Mac,
    /// Parent sysctls to restore: (interface, key, value).
    restore: Vec<(String, &'static str, i64)>,
}

impl VmacState {
    async fn teardown(
        self,
        instance: &str,
        netlink: &Netlink,
        observer: &mpsc::UnboundedSender<InstanceEvent>,
    ) {
        let fail = |action: String, error: String| {
            error!(instance = %instance, %action, %error, "VMAC teardown failed");
            let _ = observer.send(InstanceEvent::ActionFailed { action, error });
        };
        match netlink.delete_link(self.index).await {
            Ok(()) => info!(instance = %instance, vmac = %self.name, "VMAC removed"),
            Err(e) => fail(format!("delete VMAC {}", self.name), e.to_string()),
        }
        for (interface, key, value) in self.restore {
            if let Err(e) = sysctl::write_ipv4_conf(&interface, key, value) {
                fail(
                    format!(
                        "restore {}",
                        sysctl::ipv4_conf_path(&interface, key).display()
                    ),
                    e.to_string(),
                );
            }
        }
    }
}

async fn setup_vmac(
    netlink: &Netlink,
    config: &VmacConfig,
    parent: &str,
    parent_index: IfIndex,
    router: &RouterConfig,
) -> Result<VmacState, InstanceError> {
    let name = config
        .name
        .clone()
        .unwrap_or_else(|| match router.primary_address {
            IpAddr::V4(_) => format!("vrrp.{}", router.vrid.get()),
            IpAddr::V6(_) => format!("vrrp6.{}", router.vrid.get()),
        });
    let vmac_error = |why: String| InstanceError::Vmac {
        name: name.clone(),
        why,
    };
    if name.len() > 15 || name.contains('/') || name.is_empty() {
        return Err(vmac_error("not a valid interface name".into()));
    }
    // RFC 5798 7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
    let family = if router.primary_address.is_ipv4() {
        1
    } else {
        2
    };
    let mac: Mac = [0x00, 0x00, 0x5e, 0x00, family, router.vrid.get()];
    let index = match netlink.link_by_name(&name).await {
        Ok(existing) if existing.mac == Some(mac) => {
            netlink.set_up(existing.index).await?;
            existing.index
        }
        Ok(_) => {
            return Err(vmac_error(
                "an interface of that name exists with another MAC".into(),
            ));
        }
        Err(NetlinkError::NoSuchInterface(_)) => {
            netlink.add_macvlan(&name, parent_index, mac, false).await?;
            let index = netlink.link_by_name(&name).await?.index;
            if router.primary_address.is_ipv6() {
                // No address of its own (no EUI-64 link-local, no DAD): the VMAC carries
                // the parent's link-local address, the adverts' source.
                for (key, value) in [("addr_gen_mode", 1), ("accept_dad", 0)] {
                    sysctl::write_ipv6_conf(&name, key, value).map_err(|source| {
                        InstanceError::Sysctl {
                            path: sysctl::ipv6_conf_path(&name, key).display().to_string(),
                            source,
                        }
                    })?;
                }
            }
            netlink.set_up(index).await?;
            index
        }
        Err(e) => return Err(e.into()),
    };
    if let IpAddr::V6(primary) = router.primary_address {
        netlink.add_address(index, IpAddr::V6(primary), 64).await?;
    }
    let mut restore = Vec::new();
    let ipv4: [(&str, &'static str, i64); 5] = [
        (parent, "arp_ignore", 1),
        (parent, "arp_filter", 1),
        (&name, "arp_ignore", 1),
        (&name, "accept_local", 1),
        (&name, "rp_filter", 0),
    ];
    let settings: &[(&str, &'static str, i64)] = if router.primary_address.is_ipv4() {
        &ipv4
    } else {
        &[]
    };
    for &(interface, key, value) in settings {
        let sysctl_error = |source| InstanceError::Sysctl {
            path: sysctl::ipv4_conf_path(interface, key).display().to_string(),
            source,
        };
        let old = sysctl::read_ipv4_conf(interface, key).map_err(sysctl_error)?;
        if old != value {
            sysctl::write_ipv4_conf(interface, key, value).map_err(sysctl_error)?;
            if interface == parent {
                restore.push((interface.to_string(), key, old));
            }
        }
    }
    info!(vmac = %name, parent = %parent, "VMAC ready");
    Ok(VmacState {
        name,
        index,
        mac,
        restore,
    })
}

/// Feeds link changes of tracked interfaces to the router as `Command::Track`. Never
/// returns (if the netlink socket closes, it logs and waits forever); interfaces are
/// matched by the index they had at start.
async fn watch_links(
    name: &str,
    monitor: Option<LinkMonitor>,
    tracked: Vec<(IfIndex, String)>,
    commands: DriverHandle<Command>,
) {
    if let Some(mut monitor) = monitor {
        let mut last: HashMap<IfIndex, bool> = HashMap::new();
        while let Some(change) = monitor.next().await {
            if last.insert(change.index, change.running) == Some(change.running) {
                continue;
            }
            for (_, object) in tracked.iter().filter(|(i, _)| *i == change.index) {
                let state = if change.running {
                    TrackState::Up
                } else {
                    TrackState::Down
                };
                info!(instance = %name, %object, ?state, removed = change.removed, "tracked interface changed");
                let _ = commands.command(Command::Track {
                    object: object.clone(),
                    state,
                });
            }
        }
        warn!(instance = %name, "link monitor closed: tracked interfaces are no longer watched");
    }
    std::future::pending::<()>().await
}

struct Applier<'a> {
    name: &'a str,
    ifindex: IfIndex,
    addresses: &'a AddressPlan,
    netlink: &'a Netlink,
    garp: &'a GarpSocket,
    observer: &'a mpsc::UnboundedSender<InstanceEvent>,
}

impl Applier<'_> {
    /// Adds the virtual routes, then the virtual rules (keepalived's order).
    async fn add_routes_and_rules(&self) {
        for route in &self.addresses.routes {
            match self.netlink.add_route(route, Some(self.ifindex)).await {
                Ok(AddOutcome::Added) => {
                    info!(instance = %self.name, %route, "virtual route added")
                }
                Ok(AddOutcome::AlreadyPresent) => {
                    info!(instance = %self.name, %route, "virtual route was already present");
                }
                Err(e) => self.failed(format!("add route {route}"), e.to_string()),
            }
        }
        for rule in &self.addresses.rules {
            match self.netlink.add_rule(rule).await {
                Ok(AddOutcome::Added) => info!(instance = %self.name, %rule, "virtual rule added"),
                Ok(AddOutcome::AlreadyPresent) => {
                    info!(instance = %self.name, %rule, "virtual rule was already present");
                }
                Err(e) => self.failed(format!("add rule {rule}"), e.to_string()),
            }
        }
    }

    /// Removes the virtual rules, then the virtual routes (before the addresses).
    async fn remove_routes_and_rules(&self) {
        for rule in self.addresses.rules.iter().rev() {
            match self.netlink.remove_rule(rule).await {
                Ok(RemoveOutcome::Removed) => {
                    info!(instance = %self.name, %rule, "virtual rule removed");
                }
                Ok(RemoveOutcome::NotPresent) => {
                    info!(instance = %self.name, %rule, "virtual rule was already absent");
                }
                Err(e) => self.failed(format!("remove rule {rule}"), e.to_string()),
            }
        }
        for route in self.addresses.routes.iter().rev() {
            match self.netlink.remove_route(route, Some(self.ifindex)).await {
                Ok(RemoveOutcome::Removed) => {
                    info!(instance = %self.name, %route, "virtual route removed");
                }
                Ok(RemoveOutcome::NotPresent) => {
                    info!(instance = %self.name, %route, "virtual route was already absent");
                }
                Err(e) => self.failed(format!("remove route {route}"), e.to_string()),
            }
        }
    }

    fn failed(&self, action: String, error: String) {
        error!(instance = %self.name, %action, %error, "action failed");
        let _ = self
            .observer
            .send(InstanceEvent::ActionFailed { action, error });
    }

    async fn apply(&self, event: DriverEvent<Event>) {
        let event = match event.into_endpoint() {
            Ok(event) => event,
            Err(report) => {
                // The driver's own trouble: logged here, handed on to the observer as is.
                match &report {
                    DriverEvent::SendFailed { transmit, error } => {
                        warn!(instance = %self.name, destination = %transmit.destination, %error, "advertisement not sent");
                    }
                    DriverEvent::RecvFailed { error } => {
                        warn!(instance = %self.name, %error, "receive failed");
                    }
                    DriverEvent::LateTimer { late } => {
                        debug!(instance = %self.name, late_us = late.as_micros() as u64, "timer fired late");
                    }
                    DriverEvent::TimerFailed { error } => {
                        warn!(instance = %self.name, %error, "precise timer failed, falling back to tokio's");
                    }
                    DriverEvent::Endpoint(()) => {}
                }
                let _ = self.observer.send(InstanceEvent::Driver(report));
                return;
            }
        };
        match &event {
            Event::StateChanged {
                vrid,
                from,
                to,
                reason,
                priority,
            } => {
                info!(instance = %self.name, vrid = vrid.get(), %from, %to, ?reason, priority = priority.0, "VRRP transition");
            }
            Event::AddAddresses { addresses, .. } => {
                for (address, prefix_len) in self.addresses.all(addresses) {
                    match self
                        .netlink
                        .add_address(self.ifindex, address, prefix_len)
                        .await
                    {
                        Ok(AddOutcome::Added) => {
                            info!(instance = %self.name, %address, "virtual address added");
                        }
                        Ok(AddOutcome::AlreadyPresent) => {
                            info!(instance = %self.name, %address, "virtual address was already present");
                        }
                        Err(e) => self.failed(format!("add {address}"), e.to_string()),
                    }
                }
                self.add_routes_and_rules().await;
            }
            Event::RemoveAddresses { addresses, .. } => {
                self.remove_routes_and_rules().await;
                for (address, prefix_len) in self.addresses.all(addresses) {
                    match self
                        .netlink
                        .remove_address(self.ifindex, address, prefix_len)
                        .await
                    {
                        Ok(RemoveOutcome::Removed) => {
                            info!(instance = %self.name, %address, "virtual address removed");
                        }
                        Ok(RemoveOutcome::NotPresent) => {
                            info!(instance = %self.name, %address, "virtual address was already absent");
                        }
                        Err(e) => self.failed(format!("remove {address}"), e.to_string()),
                    }
                }
            }
            Event::Gratuitous {
                kind,
                addresses,
                count,
                interval,
                ..
            } => {
                debug!(instance = %self.name, ?kind, count, "gratuitous ARP/NA burst");
                for round in 0..*count {
                    if round > 0 && *interval > Duration::ZERO {
                        tokio::time::sleep(*interval).await;
                    }
                    for &address in addresses {
                        if let Err(e) = self.garp.announce(address).await {
                            self.failed(format!("announce {address}"), e.to_string());
                        }
                    }
                }
            }
            Event::PriorityChanged { from, to, .. } => {
                info!(instance = %self.name, from = from.0, to = to.0, "priority changed");
            }
            Event::MasterLearned {
                master,
                priority,
                interval,
                ..
            } => {
                info!(instance = %self.name, %master, priority = priority.0, interval_cs = interval.get(), "master learned");
            }
            Event::WantMaster { .. } => {
                debug!(instance = %self.name, "ready to become master (sync group)");
            }
        }
        let _ = self.observer.send(InstanceEvent::Router(event));
    }
}

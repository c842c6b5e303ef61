//! Routes, rules and static addresses over rtnetlink: [`VirtualRoute`], [`VirtualRule`]
//! and [`StaticAddress`] turned into rust-netlink messages (kept inside this module).

use std::net::IpAddr;

use ha_core::IfIndex;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{RouteMessage, RouteProtocol, RouteScope as NlScope, RouteType};
use netlink_packet_route::rule::{RuleAction as NlRuleAction, RuleAttribute, RuleMessage};
use rtnetlink::RouteMessageBuilder;
use tracing::info;

use super::netlink::{AddOutcome, Netlink, NetlinkError, RemoveOutcome};
use crate::routes::{RouteKind, RouteScope, RuleAction, StaticAddress, VirtualRoute, VirtualRule};

/// The main routing table.
const MAIN_TABLE: u32 = 254;
/// `RTPROT_STATIC`, what `ip route add` uses.
const STATIC_PROTOCOL: u8 = 4;

fn protocol_error(op: &str, message: impl ToString) -> NetlinkError {
    NetlinkError::Protocol {
        op: op.to_string(),
        message: message.to_string(),
    }
}

fn route_message(route: &VirtualRoute, oif: Option<IfIndex>) -> Result<RouteMessage, NetlinkError> {
    let op = format!("route {route}");
    let destination = route.destination;
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(destination.address, destination.len)
        .map_err(|e| protocol_error(&op, e))?;
    if let Some(gateway) = route.gateway {
        builder = builder
            .gateway(gateway)
            .map_err(|e| protocol_error(&op, e))?;
    }
    if let Some(source) = route.source {
        builder = builder
            .pref_source(source)
            .map_err(|e| protocol_error(&op, e))?;
    }
    if let Some(index) = oif {
        builder = builder.output_interface(index.0);
    }
    if let Some(metric) = route.metric {
        builder = builder.priority(metric);
    }
    let kind = match route.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
    };
    // `ip route`'s defaults: a unicast route without a gateway is on the link.
    let scope = match route.scope {
        Some(RouteScope::Global) => NlScope::Universe,
        Some(RouteScope::Site) => NlScope::Site,
        Some(RouteScope::Link) => NlScope::Link,
        Some(RouteScope::Host) => NlScope::Host,
        Some(RouteScope::Nowhere) => NlScope::NoWhere,
        None if route.kind == RouteKind::Unicast && route.gateway.is_none() => NlScope::Link,
        None => NlScope::Universe,
    };
    Ok(builder
        .table_id(route.table.unwrap_or(MAIN_TABLE))
        .protocol(RouteProtocol::from(
            route.protocol.unwrap_or(STATIC_PROTOCOL),
        ))
        .kind(kind)
        .scope(scope)
        .build())
}

fn rule_message(rule: &VirtualRule) -> RuleMessage {
    let mut message = RuleMessage::default();
    message.header.family = if rule.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    if let Some(from) = rule.from {
        message.header.src_len = from.len;
        message.attributes.push(RuleAttribute::Source(from.address));
    }
    if let Some(to) = rule.to {
        message.header.dst_len = to.len;
        message
            .attributes
            .push(RuleAttribute::Destination(to.address));
    }
    match rule.action {
        RuleAction::Table(table) => {
            message.header.action = NlRuleAction::ToTable;
            match u8::try_from(table) {
                Ok(small) => message.header.table = small,
                Err(_) => {
                    // RT_TABLE_UNSPEC in the header, the real number as an attribute.
                    message.header.table = 0;
                    message.attributes.push(RuleAttribute::Table(table));
                }
            }
        }
        RuleAction::Blackhole => message.header.action = NlRuleAction::Blackhole,
        RuleAction::Unreachable => message.header.action = NlRuleAction::Unreachable,
        RuleAction::Prohibit => message.header.action = NlRuleAction::Prohibit,
    }
    if let Some(priority) = rule.priority {
        message.attributes.push(RuleAttribute::Priority(priority));
    }
    if let Some(iif) = &rule.iif {
        message.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &rule.oif {
        message.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some(mark) = rule.fwmark {
        message.attributes.push(RuleAttribute::FwMark(mark));
    }
    if let Some(mask) = rule.fwmask {
        message.attributes.push(RuleAttribute::FwMask(mask));
    }
    message
}

fn errno_of(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(e) => Some(e.raw_code().saturating_abs()),
        _ => None,
    }
}

impl Netlink {
    /// The output interface of `route`: its `dev`, else `fallback` for a unicast route
    /// without a gateway (a virtual route on the instance's interface).
    async fn route_oif(
        &self,
        route: &VirtualRoute,
        fallback: Option<IfIndex>,
    ) -> Result<Option<IfIndex>, NetlinkError> {
        match &route.device {
            Some(name) => Ok(Some(self.link_by_name(name).await?.index)),
            None if route.kind == RouteKind::Unicast && route.gateway.is_none() => Ok(fallback),
            None => Ok(None),
        }
    }

    /// Adds `route`; a unicast route with neither `dev` nor gateway goes on `fallback`.
    pub async fn add_route(
        &self,
        route: &VirtualRoute,
        fallback: Option<IfIndex>,
    ) -> Result<AddOutcome, NetlinkError> {
        let oif = self.route_oif(route, fallback).await?;
        let message = route_message(route, oif)?;
        match self.raw_handle().route().add(message).execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(AddOutcome::AlreadyPresent),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                format!("add route {route}"),
                e,
            )),
        }
    }

    /// Removes `route` (as added by [`Netlink::add_route`] with the same `fallback`).
    pub async fn remove_route(
        &self,
        route: &VirtualRoute,
        fallback: Option<IfIndex>,
    ) -> Result<RemoveOutcome, NetlinkError> {
        let oif = match self.route_oif(route, fallback).await {
            Ok(oif) => oif,
            // Its interface is gone, and the route with it.
            Err(NetlinkError::NoSuchInterface(_)) => return Ok(RemoveOutcome::NotPresent),
            Err(e) => return Err(e),
        };
        let message = route_message(route, oif)?;
        match self.raw_handle().route().del(message).execute().await {
            Ok(()) => Ok(RemoveOutcome::Removed),
            // IPv4 says ESRCH, IPv6 ENOENT.
            Err(e) if matches!(errno_of(&e), Some(libc::ESRCH | libc::ENOENT)) => {
                Ok(RemoveOutcome::NotPresent)
            }
            Err(e) => Err(NetlinkError::from_rtnetlink(
                format!("remove route {route}"),
                e,
            )),
        }
    }

    /// Adds `rule`.
    pub async fn add_rule(&self, rule: &VirtualRule) -> Result<AddOutcome, NetlinkError> {
        let mut request = self.raw_handle().rule().add();
        *request.message_mut() = rule_message(rule);
        match request.execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(AddOutcome::AlreadyPresent),
            Err(e) => Err(NetlinkError::from_rtnetlink(format!("add rule {rule}"), e)),
        }
    }

    /// Removes `rule`.
    pub async fn remove_rule(&self, rule: &VirtualRule) -> Result<RemoveOutcome, NetlinkError> {
        match self
            .raw_handle()
            .rule()
            .del(rule_message(rule))
            .execute()
            .await
        {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(e) if errno_of(&e) == Some(libc::ENOENT) => Ok(RemoveOutcome::NotPresent),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                format!("remove rule {rule}"),
                e,
            )),
        }
    }
}

/// One change of [`apply_static`] or [`remove_static`] that failed.
#[derive(Debug)]
pub struct StaticFailure {
    /// What was being done, e.g. `add route 10.0.0.0/8 via 192.0.2.1`.
    pub action: String,
    /// Why.
    pub error: NetlinkError,
}

/// Adds keepalived's `static_ipaddress`, `static_routes` and `static_rules` (in that
/// order), as keepalived does once at start-up whatever the VRRP state. Entries already
/// present are left as they are. Carries on past failures and returns them.
pub async fn apply_static(
    netlink: &Netlink,
    addresses: &[StaticAddress],
    routes: &[VirtualRoute],
    rules: &[VirtualRule],
) -> Vec<StaticFailure> {
    let mut failures = Vec::new();
    for a in addresses {
        let result = async {
            let index = netlink.link_by_name(&a.device).await?.index;
            netlink
                .add_address(index, a.address.address, a.address.len)
                .await
        }
        .await;
        match result {
            Ok(_) => info!(address = %a, "static address added"),
            Err(error) => failures.push(StaticFailure {
                action: format!("add address {a}"),
                error,
            }),
        }
    }
    for r in routes {
        match netlink.add_route(r, None).await {
            Ok(_) => info!(route = %r, "static route added"),
            Err(error) => failures.push(StaticFailure {
                action: format!("add route {r}"),
                error,
            }),
        }
    }
    for r in rules {
        match netlink.add_rule(r).await {
            Ok(_) => info!(rule = %r, "static rule added"),
            Err(error) => failures.push(StaticFailure {
                action: format!("add rule {r}"),
                error,
            }),
        }
    }
    failures
}

/// Removes what [`apply_static`] added, in reverse order (rules, routes, addresses).
/// Entries already gone are not failures.
pub async fn remove_static(
    netlink: &Netlink,
    addresses: &[StaticAddress],
    routes: &[VirtualRoute],
    rules: &[VirtualRule],
) -> Vec<StaticFailure> {
    let mut failures = Vec::new();
    for r in rules.iter().rev() {
        if let Err(error) = netlink.remove_rule(r).await {
            failures.push(StaticFailure {
                action: format!("remove rule {r}"),
                error,
            });
        }
    }
    for r in routes.iter().rev() {
        if let Err(error) = netlink.remove_route(r, None).await {
            failures.push(StaticFailure {
                action: format!("remove route {r}"),
                error,
            });
        }
    }
    for a in addresses.iter().rev() {
        let result = async {
            match netlink.link_by_name(&a.device).await {
                Ok(link) => netlink
                    .remove_address(link.index, a.address.address, a.address.len)
                    .await
                    .map(drop),
                Err(NetlinkError::NoSuchInterface(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        .await;
        if let Err(error) = result {
            failures.push(StaticFailure {
                action: format!("remove address {a}"),
                error,
            });
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_messages_follow_ip_route_defaults() {
        let r: VirtualRoute = "10.1.0.0/16 dev eth0".parse().unwrap();
        let m = route_message(&r, Some(IfIndex(3))).unwrap();
        assert_eq!(m.header.scope, NlScope::Link);
        assert_eq!(m.header.table, 254);
        assert_eq!(m.header.protocol, RouteProtocol::Static);
        assert_eq!(m.header.destination_prefix_length, 16);
        let r: VirtualRoute = "blackhole 10.2.0.0/16 table 1000".parse().unwrap();
        let m = route_message(&r, None).unwrap();
        assert_eq!(m.header.kind, RouteType::BlackHole);
        assert_eq!(m.header.scope, NlScope::Universe);
        assert!(
            m.attributes
                .iter()
                .any(|a| matches!(a, netlink_packet_route::route::RouteAttribute::Table(1000)))
        );
    }

    #[test]
    fn rule_messages_carry_selectors_and_big_tables() {
        let r: VirtualRule =
            "from 10.99.0.100 to 10.1.0.0/16 fwmark 7/0xff iif eth0 table 1000 priority 5"
                .parse()
                .unwrap();
        let m = rule_message(&r);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert_eq!((m.header.src_len, m.header.dst_len), (32, 16));
        assert_eq!(m.header.action, NlRuleAction::ToTable);
        assert_eq!(m.header.table, 0);
        for expected in [
            RuleAttribute::Table(1000),
            RuleAttribute::Priority(5),
            RuleAttribute::FwMark(7),
            RuleAttribute::FwMask(255),
            RuleAttribute::Iifname("eth0".into()),
        ] {
            assert!(m.attributes.contains(&expected), "{expected:?} in {m:?}");
        }
        let r: VirtualRule = "inet6 from all prohibit".parse().unwrap();
        let m = rule_message(&r);
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert_eq!(m.header.action, NlRuleAction::Prohibit);
    }
}

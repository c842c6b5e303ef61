//! Interface lookup and virtual-address changes over rtnetlink (rust-netlink's
//! `rtnetlink` + `netlink-packet-route`, kept behind these domain types).

use std::io;
use std::net::IpAddr;

use futures_util::TryStreamExt;
use ha_core::IfIndex;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use thiserror::Error;

use super::garp::Mac;

/// A netlink operation failed.
#[derive(Debug, Error)]
pub enum NetlinkError {
    /// The netlink socket could not be opened.
    #[error("opening the rtnetlink socket: {0}")]
    Connect(#[source] io::Error),
    /// No interface of that name.
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    /// The kernel refused the request.
    #[error("{op}: the kernel said: {source} (errno {errno})")]
    Kernel {
        /// What was asked.
        op: String,
        /// The positive errno.
        errno: i32,
        /// The error as an `io::Error`.
        #[source]
        source: io::Error,
    },
    /// The reply could not be understood, or the connection failed.
    #[error("{op}: {message}")]
    Protocol {
        /// What was asked.
        op: String,
        /// What went wrong.
        message: String,
    },
}

impl NetlinkError {
    pub(crate) fn from_rtnetlink(op: String, error: rtnetlink::Error) -> NetlinkError {
        match error {
            rtnetlink::Error::NetlinkError(message) => NetlinkError::Kernel {
                op,
                errno: message.raw_code().saturating_abs(),
                source: message.to_io(),
            },
            other => NetlinkError::Protocol {
                op,
                message: other.to_string(),
            },
        }
    }

    /// The errno, for kernel errors.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// What the kernel knows about an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Its index.
    pub index: IfIndex,
    /// Its name.
    pub name: String,
    /// Its MAC address, when it has a 6-byte one.
    pub mac: Option<Mac>,
    /// Administratively up and with carrier (`IFF_UP` and `IFF_RUNNING`).
    pub running: bool,
}

/// One address on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Whether it is link scoped (IPv6 link-local).
    pub link_scope: bool,
}

/// The result of [`Netlink::add_address`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// The address was added.
    Added,
    /// It was already there (`EEXIST`): nothing changed.
    AlreadyPresent,
}

/// The result of [`Netlink::remove_address`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// The address was removed.
    Removed,
    /// It was not there (`EADDRNOTAVAIL`): nothing changed.
    NotPresent,
}

/// An rtnetlink connection in the network namespace of the thread that opened it.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens a connection; its I/O task is spawned on the current tokio runtime and ends
    /// when every clone of this value is dropped.
    pub fn connect() -> Result<Netlink, NetlinkError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Connect)?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The rtnetlink handle, for the sibling adapters (routes and rules).
    pub(crate) fn raw_handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// Looks an interface up by name.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let op = || format!("get link {name}");
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        let message = match links.try_next().await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(NetlinkError::NoSuchInterface(name.to_string())),
            Err(rtnetlink::Error::NetlinkError(e))
                if e.raw_code().saturating_abs() == libc::ENODEV =>
            {
                return Err(NetlinkError::NoSuchInterface(name.to_string()));
            }
            Err(e) => return Err(NetlinkError::from_rtnetlink(op(), e)),
        };
        let mut mac = None;
        for attribute in &message.attributes {
            if let LinkAttribute::Address(bytes) = attribute {
                mac = <Mac>::try_from(bytes.as_slice()).ok();
            }
        }
        let flags = message.header.flags;
        Ok(LinkInfo {
            index: IfIndex(message.header.index),
            name: name.to_string(),
            mac,
            running: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
        })
    }

    /// The addresses on interface `index`.
    pub async fn addresses(&self, index: IfIndex) -> Result<Vec<InterfaceAddress>, NetlinkError> {
        let op = || format!("get addresses of {index}");
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index.0)
            .execute();
        let mut out = Vec::new();
        loop {
            let message = match stream.try_next().await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => return Err(NetlinkError::from_rtnetlink(op(), e)),
            };
            if message.header.index != index.0 {
                continue;
            }
            // IFA_LOCAL is the local address (IFA_ADDRESS is the peer on point-to-point
            // links); IPv6 has only IFA_ADDRESS.
            let mut local = None;
            let mut address = None;
            for attribute in &message.attributes {
                match attribute {
                    AddressAttribute::Local(a) => local = Some(*a),
                    AddressAttribute::Address(a) => address = Some(*a),
                    _ => {}
                }
            }
            if let Some(a) = local.or(address) {
                out.push(InterfaceAddress {
                    address: a,
                    prefix_len: message.header.prefix_len,
                    link_scope: message.header.scope == AddressScope::Link,
                });
            }
        }
        Ok(out)
    }

    /// Adds `address/prefix_len` on interface `index` (IPv6 without duplicate address
    /// detection, so it is usable at once, as a VRRP Master needs).
    pub async fn add_address(
        &self,
        index: IfIndex,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<AddOutcome, NetlinkError> {
        let mut request = self.handle.address().add(index.0, address, prefix_len);
        if address.is_ipv6() {
            request
                .message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await {
            Ok(()) => Ok(AddOutcome::Added),
            Err(rtnetlink::Error::NetlinkError(e))
                if e.raw_code().saturating_abs() == libc::EEXIST =>
            {
                Ok(AddOutcome::AlreadyPresent)
            }
            Err(e) => Err(NetlinkError::from_rtnetlink(
                format!("add {address}/{prefix_len} on {index}"),
                e,
            )),
        }
    }

    /// Removes `address/prefix_len` from interface `index`.
    pub async fn remove_address(
        &self,
        index: IfIndex,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<RemoveOutcome, NetlinkError> {
        // Build the message the same way as an add, then send it as a delete.
        let mut template = self.handle.address().add(index.0, address, prefix_len);
        let message = template.message_mut().clone();
        match self.handle.address().del(message).execute().await {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(rtnetlink::Error::NetlinkError(e))
                if e.raw_code().saturating_abs() == libc::EADDRNOTAVAIL =>
            {
                Ok(RemoveOutcome::NotPresent)
            }
            Err(e) => Err(NetlinkError::from_rtnetlink(
                format!("remove {address}/{prefix_len} from {index}"),
                e,
            )),
        }
    }
}

impl Netlink {
    /// Creates a macvlan (private mode, as keepalived's VMAC) named `name` on `parent`
    /// with MAC `mac`, up or down.
    pub async fn add_macvlan(
        &self,
        name: &str,
        parent: IfIndex,
        mac: Mac,
        up: bool,
    ) -> Result<(), NetlinkError> {
        let builder = rtnetlink::LinkMacVlan::new(
            name,
            parent.0,
            netlink_packet_route::link::MacVlanMode::Private,
        )
        .address(mac.to_vec());
        let message = if up { builder.up() } else { builder }.build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink(format!("add macvlan {name} on {parent}"), e))
    }

    /// Brings interface `index` up.
    pub async fn set_up(&self, index: IfIndex) -> Result<(), NetlinkError> {
        let message = rtnetlink::LinkUnspec::new_with_index(index.0).up().build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink(format!("set {index} up"), e))
    }

    /// Deletes interface `index`.
    pub async fn delete_link(&self, index: IfIndex) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .del(index.0)
            .execute()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink(format!("delete link {index}"), e))
    }
}

/// A change of an interface's link state, from the kernel's `RTNLGRP_LINK` notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkChange {
    /// The interface.
    pub index: IfIndex,
    /// `IFF_UP` and `IFF_RUNNING` (false when the link was removed).
    pub running: bool,
    /// The interface was deleted.
    pub removed: bool,
}

type LinkStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = LinkChange> + Send>>;

/// Link-state notifications (like `ip monitor link`) in the namespace of the thread that
/// opened it.
pub struct LinkMonitor {
    changes: LinkStream,
    _handle: rtnetlink::Handle,
}

impl std::fmt::Debug for LinkMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkMonitor").finish_non_exhaustive()
    }
}

impl LinkMonitor {
    /// Subscribes to link notifications; the socket's task is spawned on the current
    /// tokio runtime.
    pub fn open() -> Result<LinkMonitor, NetlinkError> {
        use futures_util::StreamExt;
        use rtnetlink::packet_core::NetlinkPayload;
        use rtnetlink::packet_route::RouteNetlinkMessage;

        let (connection, handle, messages) =
            rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link])
                .map_err(NetlinkError::Connect)?;
        tokio::spawn(connection);
        let changes = messages.filter_map(|(message, _)| async move {
            match message.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                    let flags = link.header.flags;
                    Some(LinkChange {
                        index: IfIndex(link.header.index),
                        running: flags.contains(LinkFlags::Up)
                            && flags.contains(LinkFlags::Running),
                        removed: false,
                    })
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                    Some(LinkChange {
                        index: IfIndex(link.header.index),
                        running: false,
                        removed: true,
                    })
                }
                _ => None,
            }
        });
        Ok(LinkMonitor {
            changes: Box::pin(changes),
            _handle: handle,
        })
    }

    /// The next change; `None` when the netlink socket closed.
    pub async fn next(&mut self) -> Option<LinkChange> {
        use futures_util::StreamExt;
        self.changes.next().await
    }
}

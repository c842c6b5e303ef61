//! A host running many VRRP instances and their sync groups as one [`Endpoint`].
//!
//! This is what a daemon runs on one machine: several virtual routers (different VRIDs,
//! interfaces or families) sharing the packet I/O, with [sync groups](crate::sync) wired
//! between them. Packets are dispatched by interface, family and VRID; events come out
//! tagged with their instance, in order.

use std::collections::VecDeque;
use std::net::IpAddr;

use ha_core::track::TrackState;
use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{ConfigError, RouterConfig};
use crate::counters::{DropCounters, DropReason};
use crate::router::{Command, Event, Router};
use crate::sync::{MemberView, SyncGroup, SyncGroupConfig};

/// What a [`Host`] runs.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct HostConfig {
    /// The instances; names must be unique.
    pub instances: Vec<RouterConfig>,
    /// The sync groups.
    #[serde(default)]
    pub sync_groups: Vec<SyncGroupConfig>,
}

/// A configuration a [`Host`] cannot run.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum HostConfigError {
    /// An instance is invalid.
    #[error(transparent)]
    Instance(#[from] ConfigError),
    /// Two instances share a name.
    #[error("instance name {0} is used twice")]
    DuplicateName(String),
    /// Two instances would receive each other's packets.
    #[error("instances {0} and {1} share interface, family and VRID")]
    DuplicateVrid(String, String),
    /// A sync group names an instance that does not exist.
    #[error("sync group {group}: no instance named {member}")]
    UnknownMember {
        /// The group.
        group: String,
        /// The missing member.
        member: String,
    },
    /// An instance is in two sync groups.
    #[error("instance {0} is in more than one sync group")]
    TwoGroups(String),
}

/// A command for a [`Host`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum HostCommand {
    /// A command for one instance.
    Instance {
        /// Instance name.
        instance: String,
        /// The command.
        command: Command,
    },
    /// A command for every instance (e.g. shutdown).
    All {
        /// The command.
        command: Command,
    },
    /// A tracked object changed: every instance and group tracking it is told.
    Track {
        /// The object's name.
        object: String,
        /// Its state.
        state: TrackState,
    },
}

/// An event from a [`Host`]: one instance's event, tagged with its name.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HostEvent {
    /// Instance name.
    pub instance: String,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// Many instances and their sync groups. See the [module documentation](self).
#[derive(Debug)]
pub struct Host {
    routers: Vec<Router>,
    groups: Vec<SyncGroup>,
    events: VecDeque<HostEvent>,
    /// Packets no instance wanted.
    drops: DropCounters,
    next_tx: usize,
}

impl Host {
    /// A host whose instances start at `now`.
    pub fn new(config: HostConfig, now: Instant) -> Result<Host, HostConfigError> {
        let mut routers: Vec<Router> = Vec::new();
        for c in config.instances {
            if routers.iter().any(|r| r.config().name == c.name) {
                return Err(HostConfigError::DuplicateName(c.name));
            }
            if let Some(other) = routers.iter().find(|r| {
                let o = r.config();
                o.vrid == c.vrid
                    && o.interface == c.interface
                    && o.primary_address.is_ipv4() == c.primary_address.is_ipv4()
            }) {
                return Err(HostConfigError::DuplicateVrid(
                    other.config().name.clone(),
                    c.name,
                ));
            }
            routers.push(Router::new(c, now)?);
        }
        let mut groups = Vec::new();
        for g in config.sync_groups {
            for member in &g.members {
                let Some(r) = routers.iter_mut().find(|r| &r.config().name == member) else {
                    return Err(HostConfigError::UnknownMember {
                        group: g.name.clone(),
                        member: member.clone(),
                    });
                };
                if r.is_sync_member() {
                    return Err(HostConfigError::TwoGroups(member.clone()));
                }
                r.set_sync_member(true);
            }
            groups.push(SyncGroup::new(g));
        }
        Ok(Host {
            routers,
            groups,
            events: VecDeque::new(),
            drops: DropCounters::default(),
            next_tx: 0,
        })
    }

    /// The instances.
    pub fn instances(&self) -> impl Iterator<Item = &Router> {
        self.routers.iter()
    }

    /// One instance by name.
    pub fn instance(&self, name: &str) -> Option<&Router> {
        self.routers.iter().find(|r| r.config().name == name)
    }

    /// The sync groups.
    pub fn sync_groups(&self) -> &[SyncGroup] {
        &self.groups
    }

    /// Packets that no instance accepted at dispatch (unknown VRID, family or interface).
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    fn view(routers: &[Router], name: &str) -> Option<MemberView> {
        routers
            .iter()
            .find(|r| r.config().name == name)
            .map(|r| MemberView {
                state: r.state(),
                wants_master: r.wants_master(),
                own_fault: r.has_own_fault(),
            })
    }

    fn command(&mut self, now: Instant, instance: &str, command: Command) {
        if let Some(r) = self
            .routers
            .iter_mut()
            .find(|r| r.config().name == instance)
        {
            r.handle_command(now, command);
        }
    }

    /// Moves events out of the routers and lets the sync groups react, until quiet.
    fn settle(&mut self, now: Instant) {
        // Each round applies group commands, which can cause more events; groups converge
        // in a few rounds (bounded for safety).
        for _ in 0..16 {
            let mut commands = Vec::new();
            for group in &mut self.groups {
                commands.extend(group.reconcile(|m| Self::view(&self.routers, m)));
            }
            let mut fresh = Vec::new();
            for r in &mut self.routers {
                while let Some(event) = r.poll_event() {
                    fresh.push(HostEvent {
                        instance: r.config().name.clone(),
                        event,
                    });
                }
            }
            for e in &fresh {
                for group in &mut self.groups {
                    commands.extend(
                        group.on_member_event(&e.instance, &e.event, |m| {
                            Self::view(&self.routers, m)
                        }),
                    );
                }
            }
            self.events.extend(fresh);
            if commands.is_empty() {
                return;
            }
            for (instance, command) in commands {
                self.command(now, &instance, command);
            }
        }
    }
}

impl Endpoint for Host {
    type Command = HostCommand;
    type Event = HostEvent;

    fn handle_packet(&mut self, now: Instant, meta: &RecvMeta, payload: &[u8]) {
        let Some(&vrid) = payload.get(1) else {
            self.drops.count(DropReason::Length);
            return;
        };
        let v4 = meta.source.is_ipv4();
        let mut taken = false;
        for r in &mut self.routers {
            let c = r.config();
            if c.vrid.get() == vrid
                && c.interface == meta.interface
                && c.primary_address.is_ipv4() == v4
            {
                r.handle_packet(now, meta, payload);
                taken = true;
            }
        }
        if !taken {
            self.drops.count(DropReason::Vrid);
            return;
        }
        self.settle(now);
    }

    fn handle_command(&mut self, now: Instant, command: HostCommand) {
        match command {
            HostCommand::Instance { instance, command } => self.command(now, &instance, command),
            HostCommand::All { command } => {
                for r in &mut self.routers {
                    r.handle_command(now, command.clone());
                }
            }
            HostCommand::Track { object, state } => {
                for r in &mut self.routers {
                    r.handle_command(
                        now,
                        Command::Track {
                            object: object.clone(),
                            state,
                        },
                    );
                }
                let mut commands = Vec::new();
                for group in &mut self.groups {
                    commands
                        .extend(group.set_track(&object, state, |m| Self::view(&self.routers, m)));
                }
                for (instance, command) in commands {
                    self.command(now, &instance, command);
                }
            }
        }
        self.settle(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        for r in &mut self.routers {
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
        }
        self.settle(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        // Round-robin so one chatty instance cannot starve the others.
        let n = self.routers.len();
        for i in 0..n {
            let index = (self.next_tx + i) % n;
            if let Some(t) = self.routers[index].poll_transmit(now, buf) {
                self.next_tx = (index + 1) % n;
                return Some(t);
            }
        }
        None
    }

    fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.routers.iter().filter_map(Router::poll_timeout).min()
    }
}

/// The instance names that use `address` as a virtual address.
pub fn owners_of(host: &Host, address: IpAddr) -> Vec<&str> {
    host.instances()
        .filter(|r| r.config().virtual_addresses.contains(&address))
        .map(|r| r.config().name.as_str())
        .collect()
}

//! [`InstanceSet`]: several [`Instance`]s on one machine, with keepalived's sync groups.
//!
//! Each instance runs its own driver and applier (as a lone [`Instance`] does); the set
//! adds what spans instances:
//!
//! - **sync groups** ([`crate::sync`]): members are started as group members (a member
//!   whose Master_Down_Timer fires reports [`crate::Event::WantMaster`] instead of taking
//!   over alone), every member's transitions and [`MemberView`]s are fed to its
//!   [`SyncGroup`] as soon as the member's driver produces them, and the group's
//!   commands go to the members' handles — the same decisions [`crate::Host`] takes for
//!   routers in one process, taken here across tasks;
//! - **one ordered event stream**: [`SetEvent`]s, each instance's events in the order
//!   it produced them, plus group transitions (every member MASTER, BACKUP or FAULT) for
//!   keepalived's group notify scripts;
//! - **runtime changes**: [`InstanceSetHandle::add`] and [`InstanceSetHandle::remove`]
//!   (a reload keeps unchanged instances running), commands by name, tracked-object
//!   reports, a state snapshot and a graceful [`InstanceSetHandle::shutdown`].
//!
//! Group decisions see each member's latest reported view. Members live in different
//! tasks, so a decision may rest on a view a few microseconds old (a member that just
//! heard an advertisement may still be counted as ready for Master); within one member,
//! views and events are applied in the order the router produced them.
//!
//! ```no_run
//! # async fn demo(configs: Vec<ha_vrrp::linux::InstanceConfig>, groups: Vec<ha_vrrp::SyncGroupConfig>) -> Result<(), ha_vrrp::linux::InstanceSetError> {
//! use ha_vrrp::linux::{InstanceSet, SetEvent};
//! let (set, handle, mut events) = InstanceSet::start(configs, groups).await?;
//! let run = tokio::spawn(set.run());
//! while let Some(event) = events.recv().await {
//!     if let SetEvent::GroupStateChanged { group, to, .. } = event {
//!         println!("group {group} is now {to}");
//!     }
//! #   break;
//! }
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ha_core::IfIndex;
use ha_core::track::TrackState;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::instance::{MemberOutput, SyncTap};
use super::netlink::{LinkMonitor, Netlink, NetlinkError};
use super::{Instance, InstanceConfig, InstanceError, InstanceEvent, InstanceHandle};
use crate::router::{Command, Event, State};
use crate::sync::{MemberCommand, MemberView, SyncGroup, SyncGroupConfig};

/// What an [`InstanceSet`] reports. Each instance's events come in the order that
/// instance produced them.
#[derive(Clone, Debug, PartialEq)]
pub enum SetEvent {
    /// An event of one instance (after its action, if any, was applied).
    Instance {
        /// Instance name.
        instance: String,
        /// The event.
        event: InstanceEvent,
    },
    /// A sync group changed state: every member is now `to` (MASTER, BACKUP or FAULT).
    /// Reported right after the last member's `StateChanged` event (as for one
    /// instance, its address changes follow that event). Mixed states in between are
    /// not reported.
    GroupStateChanged {
        /// Group name.
        group: String,
        /// The previous group state (`INIT` before the first).
        from: State,
        /// The new group state.
        to: State,
    },
    /// An instance stopped (shutdown, removal, or an error) and left the set.
    Stopped {
        /// Instance name.
        instance: String,
        /// Why it stopped, if not asked to.
        error: Option<String>,
    },
}

/// What the set cannot do.
#[derive(Debug, Error)]
pub enum InstanceSetError {
    /// An instance failed to start.
    #[error("instance {instance}: {source}")]
    Instance {
        /// Instance name.
        instance: String,
        /// Why.
        #[source]
        source: InstanceError,
    },
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
    /// A running instance would join or leave sync groups: remove it first, add it
    /// again after (a router cannot switch to or from group membership while it runs).
    #[error("instance {0} is running and would join or leave sync groups: remove it first")]
    MembershipChange(String),
    /// No instance of that name runs.
    #[error("no instance named {0}")]
    NoSuchInstance(String),
    /// The set has shut down (or its [`InstanceSet::run`] future was dropped).
    #[error("the instance set has stopped")]
    Stopped,
    /// A sync group's tracked interface could not be looked up.
    #[error("sync group tracking: {0}")]
    Netlink(#[from] NetlinkError),
}

/// What the set's loop consumes, from the instances' tasks and from handles.
enum Item {
    Signal {
        instance: String,
        output: MemberOutput,
    },
    Event {
        instance: String,
        event: InstanceEvent,
    },
    Ended {
        instance: String,
        error: Option<String>,
    },
    Added {
        instance: Box<Started>,
    },
    Remove {
        instance: String,
        /// A priority-0 goodbye and address removal (`true`), or a silent stop.
        graceful: bool,
        done: oneshot::Sender<()>,
    },
    Track {
        object: String,
        state: TrackState,
        groups_only: bool,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
    SetGroups {
        groups: Vec<SyncGroupConfig>,
        links: Vec<(IfIndex, String)>,
        done: oneshot::Sender<()>,
    },
}

struct Started {
    name: String,
    instance: Instance,
    events: mpsc::UnboundedReceiver<InstanceEvent>,
}

/// Interface, family and VRID: two instances with the same key would take each other's
/// packets.
type VridKey = (String, bool, u8);

/// State shared by the loop and the handles. Never held across an `.await`.
#[derive(Default)]
struct Shared {
    handles: BTreeMap<String, InstanceHandle>,
    states: BTreeMap<String, State>,
    group_states: BTreeMap<String, State>,
    /// Instances starting or running, with their VRID key.
    reserved: BTreeMap<String, VridKey>,
    /// Configured membership: instance → group.
    membership: BTreeMap<String, String>,
    closed: bool,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic elsewhere while holding the lock leaves plain maps behind: still usable.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key_of(config: &InstanceConfig) -> VridKey {
    (
        config.interface.clone(),
        config.router.primary_address.is_ipv4(),
        config.router.vrid.get(),
    )
}

/// Controls a running [`InstanceSet`]. Cloneable.
#[derive(Clone)]
pub struct InstanceSetHandle {
    tx: mpsc::UnboundedSender<Item>,
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for InstanceSetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceSetHandle")
            .field("instances", &lock(&self.shared).handles.keys())
            .finish()
    }
}

impl InstanceSetHandle {
    /// Queues a router command for one instance.
    pub fn command(&self, instance: &str, command: Command) -> Result<(), InstanceSetError> {
        let shared = lock(&self.shared);
        let handle = shared
            .handles
            .get(instance)
            .ok_or_else(|| InstanceSetError::NoSuchInstance(instance.to_string()))?;
        handle
            .command(command)
            .map_err(|_| InstanceSetError::NoSuchInstance(instance.to_string()))
    }

    /// Reports a tracked object's state (a script, a file, a BFD session...) to every
    /// instance and sync group that tracks it.
    pub fn track(
        &self,
        object: impl Into<String>,
        state: TrackState,
    ) -> Result<(), InstanceSetError> {
        self.tx
            .send(Item::Track {
                object: object.into(),
                state,
                groups_only: false,
            })
            .map_err(|_| InstanceSetError::Stopped)
    }

    /// The names of the running instances.
    pub fn instances(&self) -> Vec<String> {
        lock(&self.shared).handles.keys().cloned().collect()
    }

    /// The state of every instance, as last reported (`INIT` before its first
    /// transition).
    pub fn states(&self) -> BTreeMap<String, State> {
        let shared = lock(&self.shared);
        shared
            .handles
            .keys()
            .map(|name| {
                let state = shared.states.get(name).copied();
                (name.clone(), state.unwrap_or(State::Initialize))
            })
            .collect()
    }

    /// The state of every sync group (`INIT` until all its members first agree).
    pub fn group_states(&self) -> BTreeMap<String, State> {
        lock(&self.shared).group_states.clone()
    }

    /// Starts one more instance. If a sync group given to [`InstanceSet::start`] names
    /// it, it joins that group. Fails if an instance of that name runs (remove it first)
    /// or another uses the same interface, family and VRID.
    pub async fn add(&self, config: InstanceConfig) -> Result<(), InstanceSetError> {
        let name = config.router.name.clone();
        let key = key_of(&config);
        let member = {
            let mut shared = lock(&self.shared);
            if shared.closed {
                return Err(InstanceSetError::Stopped);
            }
            if shared.reserved.contains_key(&name) {
                return Err(InstanceSetError::DuplicateName(name));
            }
            if let Some((other, _)) = shared.reserved.iter().find(|(_, k)| **k == key) {
                return Err(InstanceSetError::DuplicateVrid(other.clone(), name));
            }
            shared.reserved.insert(name.clone(), key);
            shared.membership.contains_key(&name)
        };
        match Instance::start_inner(config, member).await {
            Ok((instance, handle, events)) => {
                lock(&self.shared).handles.insert(name.clone(), handle);
                let started = Started {
                    name: name.clone(),
                    instance,
                    events,
                };
                if let Err(mpsc::error::SendError(item)) = self.tx.send(Item::Added {
                    instance: Box::new(started),
                }) {
                    // The loop is gone: run the instance just long enough to undo its
                    // start (a VMAC, say).
                    if let Item::Added { instance } = item {
                        stop_unstarted(*instance).await;
                    }
                    let mut shared = lock(&self.shared);
                    shared.handles.remove(&name);
                    shared.reserved.remove(&name);
                    return Err(InstanceSetError::Stopped);
                }
                Ok(())
            }
            Err(source) => {
                lock(&self.shared).reserved.remove(&name);
                Err(InstanceSetError::Instance {
                    instance: name,
                    source,
                })
            }
        }
    }

    /// Stops one instance gracefully (a Master sends priority 0 and removes its
    /// addresses) and waits until it has left the set. Other members of its sync group
    /// no longer wait for it.
    pub async fn remove(&self, instance: &str) -> Result<(), InstanceSetError> {
        if !lock(&self.shared).handles.contains_key(instance) {
            return Err(InstanceSetError::NoSuchInstance(instance.to_string()));
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Item::Remove {
                instance: instance.to_string(),
                graceful: true,
                done,
            })
            .map_err(|_| InstanceSetError::Stopped)?;
        wait.await.map_err(|_| InstanceSetError::Stopped)
    }

    /// Replaces running instance `instance` by `config` in place, keeping what it holds:
    /// the old instance stops silently (no priority 0, its addresses stay), and the new
    /// one starts in the old one's state — a Master as Master over the addresses in
    /// place ([`InstanceConfig::keep_addresses`]) — so peers and clients see no change
    /// beyond the new configuration. For reloads (keepalived matches instances across a
    /// reload by VRID, family and interface, so `config` may carry a new name) and for
    /// live changes. The new instance joins the sync group its name belongs to.
    pub async fn replace(
        &self,
        instance: &str,
        mut config: InstanceConfig,
    ) -> Result<(), InstanceSetError> {
        let state = lock(&self.shared).states.get(instance).copied();
        if !lock(&self.shared).handles.contains_key(instance) {
            return Err(InstanceSetError::NoSuchInstance(instance.to_string()));
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Item::Remove {
                instance: instance.to_string(),
                graceful: false,
                done,
            })
            .map_err(|_| InstanceSetError::Stopped)?;
        wait.await.map_err(|_| InstanceSetError::Stopped)?;
        if state == Some(State::Master) {
            config.router.initial_state = crate::InitialState::Master;
            config.keep_addresses = true;
        }
        self.add(config).await
    }

    /// Replaces the sync groups (a reload). Instances that stay members (of the same
    /// group or another) or stay outside groups keep running; an instance that would
    /// join or leave groups must not be running ([`InstanceSetError::MembershipChange`]):
    /// remove it first and add it again afterwards. Members not running yet join their
    /// group when added. A fault the old groups imposed is lifted, then the new groups
    /// decide afresh; their states start again from `INIT`.
    pub async fn set_sync_groups(
        &self,
        mut groups: Vec<SyncGroupConfig>,
    ) -> Result<(), InstanceSetError> {
        let mut membership = BTreeMap::new();
        for g in &groups {
            for m in &g.members {
                if membership.insert(m.clone(), g.name.clone()).is_some() {
                    return Err(InstanceSetError::TwoGroups(m.clone()));
                }
            }
        }
        let links = resolve_group_links(&mut groups).await?;
        {
            let mut shared = lock(&self.shared);
            if shared.closed {
                return Err(InstanceSetError::Stopped);
            }
            if let Some(name) = shared.reserved.keys().find(|name| {
                shared.membership.contains_key(*name) != membership.contains_key(*name)
            }) {
                return Err(InstanceSetError::MembershipChange(name.clone()));
            }
            shared.membership = membership;
            shared.group_states = groups
                .iter()
                .map(|g| (g.name.clone(), State::Initialize))
                .collect();
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Item::SetGroups {
                groups,
                links,
                done,
            })
            .map_err(|_| InstanceSetError::Stopped)?;
        wait.await.map_err(|_| InstanceSetError::Stopped)
    }

    /// Stops every instance gracefully and waits until [`InstanceSet::run`] has
    /// returned (every instance's last event has been reported by then).
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Item::Shutdown { done }).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn stop_unstarted(started: Started) {
    let Started { instance, .. } = started;
    let handle_stop = instance.commands_handle();
    let run = instance.run();
    let stop = async {
        handle_stop.stop().await;
    };
    let (_, ()) = tokio::join!(run, stop);
}

/// A sync group as the set runs it.
struct Group {
    group: SyncGroup,
    state: State,
}

/// The sync-group side of the set, pure: member views in, member commands and group
/// transitions out.
#[derive(Default)]
struct Coordinator {
    groups: Vec<Group>,
    views: BTreeMap<String, MemberView>,
    /// Applied (reported) states, for group transitions.
    states: BTreeMap<String, State>,
}

/// A group transition.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupChange {
    group: String,
    from: State,
    to: State,
}

impl Coordinator {
    fn new(groups: Vec<SyncGroupConfig>) -> Self {
        Coordinator {
            groups: groups
                .into_iter()
                .map(|g| Group {
                    group: SyncGroup::new(g),
                    state: State::Initialize,
                })
                .collect(),
            ..Coordinator::default()
        }
    }

    /// A member's view or transition, straight from its driver.
    fn on_signal(&mut self, member: &str, output: &MemberOutput) -> Vec<MemberCommand> {
        let Coordinator { groups, views, .. } = self;
        let Some(group) = groups.iter_mut().find(|g| g.group.contains(member)) else {
            return Vec::new();
        };
        match output {
            MemberOutput::View(view) => {
                views.insert(member.to_string(), *view);
                group.group.reconcile(|m| views.get(m).copied())
            }
            MemberOutput::Router(event) => group
                .group
                .on_member_event(member, event, |m| views.get(m).copied()),
        }
    }

    /// A group-level tracked object changed.
    fn on_track(&mut self, object: &str, state: TrackState) -> Vec<MemberCommand> {
        let Coordinator { groups, views, .. } = self;
        groups
            .iter_mut()
            .flat_map(|g| g.group.set_track(object, state, |m| views.get(m).copied()))
            .collect()
    }

    /// A member's transition was applied: the group's state may follow.
    fn on_applied(&mut self, member: &str, state: State) -> Option<GroupChange> {
        self.states.insert(member.to_string(), state);
        let Coordinator { groups, states, .. } = self;
        let group = groups.iter_mut().find(|g| g.group.contains(member))?;
        Self::group_change(group, states)
    }

    fn group_change(group: &mut Group, states: &BTreeMap<String, State>) -> Option<GroupChange> {
        let mut members = group.group.members().iter().map(|m| states.get(m).copied());
        let first = members.next()??;
        if !matches!(first, State::Master | State::Backup | State::Fault)
            || !members.all(|s| s == Some(first))
            || first == group.state
        {
            return None;
        }
        let change = GroupChange {
            group: group.group.name().to_string(),
            from: group.state,
            to: first,
        };
        group.state = first;
        Some(change)
    }

    /// Replaces the groups; `running` says which members run now (the others join
    /// when added). Returns the commands that lift the old groups' faults and apply the
    /// new groups' decisions, and the new groups' states.
    fn replace_groups(
        &mut self,
        groups: Vec<SyncGroupConfig>,
        running: impl Fn(&str) -> bool,
    ) -> (Vec<MemberCommand>, Vec<GroupChange>) {
        let mut commands = Vec::new();
        for old in &self.groups {
            if old.group.imposed_fault().is_some() {
                commands.extend(old.group.members().iter().map(|m| {
                    (
                        m.clone(),
                        Command::SyncFault {
                            faulted: false,
                            cause: old.group.name().to_string(),
                        },
                    )
                }));
            }
        }
        self.groups = groups
            .into_iter()
            .map(|mut g| {
                g.members.retain(|m| running(m));
                Group {
                    group: SyncGroup::new(g),
                    state: State::Initialize,
                }
            })
            .collect();
        let Coordinator {
            groups,
            views,
            states,
        } = self;
        let mut changes = Vec::new();
        for group in groups.iter_mut() {
            commands.extend(group.group.reconcile(|m| views.get(m).copied()));
            changes.extend(Self::group_change(group, states));
        }
        (commands, changes)
    }

    /// A member (re)joins its configured group.
    fn join(&mut self, member: &str, group: &str) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.group.name() == group) {
            g.group.add_member(member);
        }
    }

    /// A member left the set: its group stops waiting for it, and a fault it caused is
    /// lifted. The group's state may follow (the remaining members may now agree).
    fn leave(&mut self, member: &str) -> (Vec<MemberCommand>, Option<GroupChange>) {
        self.views.remove(member);
        self.states.remove(member);
        let Coordinator {
            groups,
            views,
            states,
        } = self;
        let Some(group) = groups.iter_mut().find(|g| g.group.contains(member)) else {
            return (Vec::new(), None);
        };
        group.group.remove_member(member);
        let commands = group.group.reconcile(|m| views.get(m).copied());
        let change = Self::group_change(group, states);
        (commands, change)
    }
}

/// Several [`Instance`]s and their sync groups. See the [module documentation](self).
pub struct InstanceSet {
    rx: mpsc::UnboundedReceiver<Item>,
    tx: mpsc::UnboundedSender<Item>,
    shared: Arc<Mutex<Shared>>,
    coordinator: Coordinator,
    started: Vec<Started>,
    events: mpsc::UnboundedSender<SetEvent>,
    /// Interfaces tracked by sync groups, watched by the set.
    group_links: Option<(LinkMonitor, Vec<(IfIndex, String)>)>,
}

impl std::fmt::Debug for InstanceSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceSet")
            .field("starting", &self.started.len())
            .finish()
    }
}

/// Checks names, VRIDs and sync-group membership; returns instance → group.
fn validate(
    configs: &[InstanceConfig],
    groups: &[SyncGroupConfig],
) -> Result<BTreeMap<String, String>, InstanceSetError> {
    let mut seen: BTreeMap<&str, VridKey> = BTreeMap::new();
    for c in configs {
        let key = key_of(c);
        if seen.contains_key(c.router.name.as_str()) {
            return Err(InstanceSetError::DuplicateName(c.router.name.clone()));
        }
        if let Some((other, _)) = seen.iter().find(|(_, k)| **k == key) {
            return Err(InstanceSetError::DuplicateVrid(
                (*other).to_string(),
                c.router.name.clone(),
            ));
        }
        seen.insert(&c.router.name, key);
    }
    let mut membership = BTreeMap::new();
    for g in groups {
        for m in &g.members {
            if !seen.contains_key(m.as_str()) {
                return Err(InstanceSetError::UnknownMember {
                    group: g.name.clone(),
                    member: m.clone(),
                });
            }
            if membership.insert(m.clone(), g.name.clone()).is_some() {
                return Err(InstanceSetError::TwoGroups(m.clone()));
            }
        }
    }
    Ok(membership)
}

impl InstanceSet {
    /// Starts every instance (as [`Instance::start`] does; sync-group members as
    /// members) and the groups. Must run inside a tokio runtime with I/O and time
    /// enabled, in the network namespace of the interfaces. Nothing runs until
    /// [`InstanceSet::run`] is polled. If one instance fails to start, those already
    /// started are stopped again and the error names the failing one.
    pub async fn start(
        configs: Vec<InstanceConfig>,
        mut groups: Vec<SyncGroupConfig>,
    ) -> Result<
        (
            InstanceSet,
            InstanceSetHandle,
            mpsc::UnboundedReceiver<SetEvent>,
        ),
        InstanceSetError,
    > {
        let membership = validate(&configs, &groups)?;
        let tracked_links = resolve_group_links(&mut groups).await?;
        let group_links = if tracked_links.is_empty() {
            None
        } else {
            Some((LinkMonitor::open()?, tracked_links))
        };
        let shared = Shared {
            reserved: configs
                .iter()
                .map(|c| (c.router.name.clone(), key_of(c)))
                .collect(),
            group_states: groups
                .iter()
                .map(|g| (g.name.clone(), State::Initialize))
                .collect(),
            membership,
            ..Shared::default()
        };
        let mut started = Vec::new();
        let mut handles = BTreeMap::new();
        for config in configs {
            let name = config.router.name.clone();
            let member = shared.membership.contains_key(&name);
            match Instance::start_inner(config, member).await {
                Ok((instance, handle, events)) => {
                    handles.insert(name.clone(), handle);
                    started.push(Started {
                        name,
                        instance,
                        events,
                    });
                }
                Err(source) => {
                    for s in started {
                        stop_unstarted(s).await;
                    }
                    return Err(InstanceSetError::Instance {
                        instance: name,
                        source,
                    });
                }
            }
        }
        let shared = Arc::new(Mutex::new(Shared { handles, ..shared }));
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, observed) = mpsc::unbounded_channel();
        Ok((
            InstanceSet {
                rx,
                tx: tx.clone(),
                shared: Arc::clone(&shared),
                coordinator: Coordinator::new(groups),
                started,
                events,
                group_links,
            },
            InstanceSetHandle { tx, shared },
            observed,
        ))
    }

    fn spawn(&self, started: Started) {
        let Started {
            name,
            mut instance,
            mut events,
        } = started;
        if lock(&self.shared).membership.contains_key(&name) {
            let tx = self.tx.clone();
            let tapped = name.clone();
            instance.set_sync_tap(SyncTap(Box::new(move |output| {
                let _ = tx.send(Item::Signal {
                    instance: tapped.clone(),
                    output,
                });
            })));
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            // Its own task, so that even a panic ends in `Ended` (the set would otherwise
            // wait for it forever at shutdown).
            let run = tokio::spawn(instance.run());
            let forward = async {
                while let Some(event) = events.recv().await {
                    let _ = tx.send(Item::Event {
                        instance: name.clone(),
                        event,
                    });
                }
            };
            let (result, ()) = tokio::join!(run, forward);
            let error = match result {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("the instance task failed: {e}")),
            };
            let _ = tx.send(Item::Ended {
                instance: name,
                error,
            });
        });
    }

    fn send_commands(&self, commands: Vec<MemberCommand>) {
        if commands.is_empty() {
            return;
        }
        let shared = lock(&self.shared);
        for (member, command) in commands {
            if let Some(handle) = shared.handles.get(&member) {
                let _ = handle.command(command);
            }
        }
    }

    fn report_group(&self, change: Option<GroupChange>) {
        if let Some(GroupChange { group, from, to }) = change {
            info!(%group, %from, %to, "sync group transition");
            lock(&self.shared).group_states.insert(group.clone(), to);
            let _ = self
                .events
                .send(SetEvent::GroupStateChanged { group, from, to });
        }
    }

    /// Runs the instances and the groups until [`InstanceSetHandle::shutdown`]. Spawns
    /// one tokio task per instance.
    pub async fn run(mut self) {
        for started in std::mem::take(&mut self.started) {
            self.spawn(started);
        }
        let mut running = lock(&self.shared).handles.len();
        let mut removals: BTreeMap<String, Vec<oneshot::Sender<()>>> = BTreeMap::new();
        let mut shutdown: Option<Vec<oneshot::Sender<()>>> = None;
        let (mut monitor, mut tracked) = match self.group_links.take() {
            Some((m, t)) => (Some(m), t),
            None => (None, Vec::new()),
        };
        let mut link_states: BTreeMap<IfIndex, bool> = BTreeMap::new();
        loop {
            if shutdown.is_some() && running == 0 {
                break;
            }
            let item = tokio::select! {
                item = self.rx.recv() => match item {
                    Some(item) => item,
                    // The set holds a sender itself: never closes.
                    None => break,
                },
                change = next_link(&mut monitor) => {
                    match change {
                        Some(change) => {
                            if link_states.insert(change.index, change.running) == Some(change.running) {
                                continue;
                            }
                            let state = if change.running { TrackState::Up } else { TrackState::Down };
                            for (_, object) in tracked.iter().filter(|(i, _)| *i == change.index) {
                                let _ = self.tx.send(Item::Track { object: object.clone(), state, groups_only: true });
                            }
                        }
                        None => {
                            warn!("link monitor closed: sync-group interfaces are no longer watched");
                            monitor = None;
                        }
                    }
                    continue;
                }
            };
            match item {
                Item::Signal { instance, output } => {
                    if shutdown.is_none() {
                        let commands = self.coordinator.on_signal(&instance, &output);
                        self.send_commands(commands);
                    }
                }
                Item::Event { instance, event } => {
                    if let InstanceEvent::Router(Event::StateChanged { to, .. }) = &event {
                        lock(&self.shared).states.insert(instance.clone(), *to);
                        let change = self.coordinator.on_applied(&instance, *to);
                        let _ = self.events.send(SetEvent::Instance {
                            instance: instance.clone(),
                            event,
                        });
                        self.report_group(change);
                    } else {
                        let _ = self.events.send(SetEvent::Instance { instance, event });
                    }
                }
                Item::Ended { instance, error } => {
                    running = running.saturating_sub(1);
                    {
                        let mut shared = lock(&self.shared);
                        shared.handles.remove(&instance);
                        shared.states.remove(&instance);
                        shared.reserved.remove(&instance);
                    }
                    let (commands, change) = self.coordinator.leave(&instance);
                    if shutdown.is_none() {
                        self.send_commands(commands);
                        self.report_group(change);
                    }
                    if let Some(error) = &error {
                        warn!(%instance, %error, "instance stopped with an error");
                    }
                    let _ = self.events.send(SetEvent::Stopped {
                        instance: instance.clone(),
                        error,
                    });
                    for done in removals.remove(&instance).unwrap_or_default() {
                        let _ = done.send(());
                    }
                }
                Item::Added { instance } => {
                    let group = lock(&self.shared).membership.get(&instance.name).cloned();
                    if let Some(group) = group {
                        self.coordinator.join(&instance.name, &group);
                    }
                    running += 1;
                    let handle = lock(&self.shared).handles.get(&instance.name).cloned();
                    self.spawn(*instance);
                    if shutdown.is_some() {
                        if let Some(handle) = handle {
                            tokio::spawn(async move { handle.shutdown().await });
                        }
                    }
                }
                Item::Remove {
                    instance,
                    graceful,
                    done,
                } => {
                    let handle = lock(&self.shared).handles.get(&instance).cloned();
                    match handle {
                        Some(handle) => {
                            removals.entry(instance).or_default().push(done);
                            tokio::spawn(async move {
                                if graceful {
                                    handle.shutdown().await
                                } else {
                                    handle.stop().await
                                }
                            });
                        }
                        None => {
                            let _ = done.send(());
                        }
                    }
                }
                Item::Track {
                    object,
                    state,
                    groups_only,
                } => {
                    if !groups_only {
                        let shared = lock(&self.shared);
                        for handle in shared.handles.values() {
                            let _ = handle.command(Command::Track {
                                object: object.clone(),
                                state,
                            });
                        }
                    }
                    if shutdown.is_none() {
                        let commands = self.coordinator.on_track(&object, state);
                        self.send_commands(commands);
                    }
                }
                Item::SetGroups {
                    groups,
                    links,
                    done,
                } => {
                    tracked = links;
                    link_states.clear();
                    if monitor.is_none() && !tracked.is_empty() {
                        match LinkMonitor::open() {
                            Ok(m) => monitor = Some(m),
                            Err(e) => {
                                warn!(%e, "sync-group interfaces cannot be watched");
                            }
                        }
                    }
                    let running: Vec<String> = lock(&self.shared).handles.keys().cloned().collect();
                    let (commands, changes) = self
                        .coordinator
                        .replace_groups(groups, |m| running.iter().any(|r| r == m));
                    if shutdown.is_none() {
                        self.send_commands(commands);
                        for change in changes {
                            self.report_group(Some(change));
                        }
                    }
                    let _ = done.send(());
                }
                Item::Shutdown { done } => match &mut shutdown {
                    Some(waiting) => waiting.push(done),
                    None => {
                        shutdown = Some(vec![done]);
                        let handles: Vec<InstanceHandle> = {
                            let mut shared = lock(&self.shared);
                            shared.closed = true;
                            shared.handles.values().cloned().collect()
                        };
                        info!(instances = handles.len(), "instance set shutting down");
                        for handle in handles {
                            tokio::spawn(async move { handle.shutdown().await });
                        }
                    }
                },
            }
        }
        for done in removals.into_values().flatten() {
            let _ = done.send(());
        }
        for done in shutdown.unwrap_or_default() {
            let _ = done.send(());
        }
    }
}

/// Interfaces tracked by groups (`if:<name>`): sets each one's initial state from the
/// kernel and returns the ones to watch.
async fn resolve_group_links(
    groups: &mut [SyncGroupConfig],
) -> Result<Vec<(IfIndex, String)>, InstanceSetError> {
    let mut tracked_links = Vec::new();
    let mut netlink = None;
    for g in groups {
        for t in &mut g.track {
            let Some(name) = t.object.strip_prefix("if:") else {
                continue;
            };
            let netlink = match &netlink {
                Some(n) => n,
                None => netlink.insert(Netlink::connect()?),
            };
            t.initial = match netlink.link_by_name(name).await {
                Ok(link) => {
                    tracked_links.push((link.index, t.object.clone()));
                    if link.running {
                        TrackState::Up
                    } else {
                        TrackState::Down
                    }
                }
                Err(NetlinkError::NoSuchInterface(_)) => TrackState::Down,
                Err(e) => return Err(e.into()),
            };
        }
    }
    Ok(tracked_links)
}

async fn next_link(monitor: &mut Option<LinkMonitor>) -> Option<super::netlink::LinkChange> {
    match monitor {
        Some(m) => m.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;

//! Sync groups with keepalived's semantics (`vrrp_sync_group`), as a pure component.
//!
//! Members of a group move together:
//! - **FAULT together**: when any member is in FAULT because of its own tracked objects, or
//!   the group's own tracked objects force FAULT, every member goes to FAULT; when no
//!   fault remains, they all return to BACKUP.
//! - **MASTER only together**: a member whose Master_Down_Timer fires does not take over
//!   alone; it reports that it wants to ([`Event::WantMaster`]) and the group makes every
//!   member Master once all of them want it (or one already is).
//! - **BACKUP together**: when a Master member is preempted, the others step down too.
//!   Two hosts whose groups have crossed priorities (each wins one VRID) and are Master
//!   together therefore both step down; the member preempted by the higher address then
//!   waits two advertisement intervals more before its first Master_Down (see
//!   [`crate::Router`]), so the other group is Master alone and the two cannot keep
//!   colliding.
//!
//! [`SyncGroup`] decides; it holds no router. Give it every event of every member with a
//! [`MemberView`] of all members, and apply the [`Command`]s it returns. [`crate::host::Host`]
//! does exactly that.

use ha_core::track::{TrackSet, TrackState};
use serde::{Deserialize, Serialize};

use crate::config::TrackConfig;
use crate::router::{Command, Event, Reason, State};

/// Configuration of one sync group.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SyncGroupConfig {
    /// The group's name.
    pub name: String,
    /// Member instance names.
    pub members: Vec<String>,
    /// Group-level tracked objects (a weight-0 object down faults the whole group).
    #[serde(default)]
    pub track: Vec<TrackConfig>,
}

/// What the group needs to know about one member.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MemberView {
    /// Its state.
    pub state: State,
    /// A Backup whose Master_Down_Timer fired and that waits for the group.
    pub wants_master: bool,
    /// Whether its own tracked objects force FAULT.
    pub own_fault: bool,
}

/// A command for one member.
pub type MemberCommand = (String, Command);

/// A sync group. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct SyncGroup {
    config: SyncGroupConfig,
    tracking: TrackSet<String>,
    /// The fault the group currently imposes, with its cause.
    imposed_fault: Option<String>,
}

impl SyncGroup {
    /// A group from its configuration.
    pub fn new(config: SyncGroupConfig) -> Self {
        let mut tracking = TrackSet::new();
        for t in &config.track {
            tracking.insert(t.object.clone(), t.spec, t.initial);
        }
        SyncGroup {
            config,
            tracking,
            imposed_fault: None,
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Member names.
    pub fn members(&self) -> &[String] {
        &self.config.members
    }

    /// Whether `instance` is a member.
    pub fn contains(&self, instance: &str) -> bool {
        self.config.members.iter().any(|m| m == instance)
    }

    /// Adds a member (an instance started after the group). Returns false if it already
    /// was one.
    pub fn add_member(&mut self, instance: &str) -> bool {
        if self.contains(instance) {
            return false;
        }
        self.config.members.push(instance.to_string());
        true
    }

    /// Removes a member (an instance that stopped), so the others no longer wait for it
    /// to become Master. Call [`SyncGroup::reconcile`] afterwards: a fault the removed
    /// member caused is lifted there. Returns false if it was not a member.
    pub fn remove_member(&mut self, instance: &str) -> bool {
        let before = self.config.members.len();
        self.config.members.retain(|m| m != instance);
        self.config.members.len() != before
    }

    /// The fault the group imposes on its members, if any (its cause).
    pub fn imposed_fault(&self) -> Option<&str> {
        self.imposed_fault.as_deref()
    }

    /// Reports a group-level tracked object's state; returns commands for members.
    pub fn set_track(
        &mut self,
        object: &str,
        state: TrackState,
        view: impl Fn(&str) -> Option<MemberView>,
    ) -> Vec<MemberCommand> {
        self.tracking.set_state(&object.to_string(), state);
        self.reconcile(view)
    }

    /// Handles one event of `member`; `view` gives the current view of every member (after
    /// the event). Returns the commands to apply, in order.
    pub fn on_member_event(
        &mut self,
        member: &str,
        event: &Event,
        view: impl Fn(&str) -> Option<MemberView>,
    ) -> Vec<MemberCommand> {
        if !self.contains(member) {
            return Vec::new();
        }
        let mut out = self.reconcile(&view);
        if self.imposed_fault.is_some() {
            return out;
        }
        match event {
            Event::StateChanged {
                to: State::Master,
                reason,
                ..
            } if !matches!(reason, Reason::SyncGroup { .. }) => {
                out.extend(self.others_in(member, State::Backup, &view).map(|m| {
                    (
                        m,
                        Command::SyncMaster {
                            cause: member.to_string(),
                        },
                    )
                }));
            }
            Event::StateChanged {
                from: State::Master,
                to: State::Backup,
                reason,
                ..
            } if !matches!(reason, Reason::SyncGroup { .. }) => {
                out.extend(self.others_in(member, State::Master, &view).map(|m| {
                    (
                        m,
                        Command::SyncBackup {
                            cause: member.to_string(),
                        },
                    )
                }));
            }
            Event::WantMaster { .. } => {
                let ready = self.config.members.iter().all(|m| {
                    view(m).is_some_and(|v| {
                        v.state == State::Master || (v.state == State::Backup && v.wants_master)
                    })
                });
                if ready {
                    out.extend(
                        self.config
                            .members
                            .iter()
                            .filter(|m| view(m).is_some_and(|v| v.state == State::Backup))
                            .map(|m| {
                                (
                                    m.clone(),
                                    Command::SyncMaster {
                                        cause: member.to_string(),
                                    },
                                )
                            }),
                    );
                }
            }
            _ => {}
        }
        out
    }

    fn others_in<'a>(
        &'a self,
        member: &'a str,
        state: State,
        view: &'a impl Fn(&str) -> Option<MemberView>,
    ) -> impl Iterator<Item = String> + 'a {
        self.config
            .members
            .iter()
            .filter(move |m| m.as_str() != member && view(m).is_some_and(|v| v.state == state))
            .cloned()
    }

    /// Imposes or lifts the group fault from the members' own faults and the group's
    /// tracking. Call it after every input to any member: a member's own fault can clear
    /// without a state change while the group still holds it in FAULT.
    pub fn reconcile(&mut self, view: impl Fn(&str) -> Option<MemberView>) -> Vec<MemberCommand> {
        let group_track = self.tracking.summary();
        let cause = if group_track.is_fault() {
            Some(format!(
                "{} tracking {}",
                self.config.name,
                group_track.faulted_by.join(",")
            ))
        } else {
            self.config
                .members
                .iter()
                .find(|m| view(m).is_some_and(|v| v.own_fault))
                .cloned()
        };
        if cause == self.imposed_fault {
            return Vec::new();
        }
        self.imposed_fault = cause.clone();
        let faulted = cause.is_some();
        let cause = cause.unwrap_or_else(|| self.config.name.clone());
        self.config
            .members
            .iter()
            .map(|m| {
                (
                    m.clone(),
                    Command::SyncFault {
                        faulted,
                        cause: cause.clone(),
                    },
                )
            })
            .collect()
    }
}

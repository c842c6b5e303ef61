//! The reconciler: desired state and the actual table (from one dump) in, a minimal,
//! ordered list of operations out. Pure: no I/O, `now` passed in.
//!
//! Rules:
//! - A service or destination is identified by its key; every other attribute can be
//!   changed in place by the kernel (`SET_SERVICE`, `SET_DEST`), so a change of
//!   configuration is one edit, and a change of key is a delete plus an add.
//! - Order: destination deletions, then service deletions, then service additions and
//!   edits, then destination additions and edits. So a destination is never added to a
//!   service that does not exist yet, and a service is deleted after its destinations'
//!   deletions (deleting a service deletes its remaining destinations with it, so a
//!   removed service costs one operation, not one per destination).
//! - The work is a diff of sorted maps: changing one destination yields one operation,
//!   whatever the size of the table.
//! - Graceful drain (optional): a destination that is no longer desired first gets weight
//!   0 (no new connections) and is deleted once its active and inactive connections reach
//!   zero, or once the drain timeout has passed. A service that is no longer desired is
//!   deleted once all its destinations are drained. [`Plan::next_check`] says when to plan
//!   again for a drain to time out.
//! - Persistence timeouts are compared in whole seconds, as the kernel stores them.
//! - Scope: by default ([`Scope::All`]) every service in the table is managed, so one not
//!   desired is deleted. On a host where other programs also configure IPVS, use
//!   [`Scope::Owned`]: only services this reconciler has been asked for are touched.

use crate::backend::{IpvsBackend, IpvsError};
use crate::model::{DestEntry, Destination, DestinationKey, Service, ServiceKey, Snapshot};
use ha_core::Instant;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One change to the IPVS table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Add a service.
    AddService(Service),
    /// Change a service's configuration.
    EditService(Service),
    /// Delete a service (and its destinations).
    DelService(ServiceKey),
    /// Add a destination.
    AddDest {
        /// Its service.
        service: ServiceKey,
        /// The destination.
        dest: Destination,
    },
    /// Change a destination's configuration.
    EditDest {
        /// Its service.
        service: ServiceKey,
        /// The destination.
        dest: Destination,
    },
    /// Delete a destination.
    DelDest {
        /// Its service.
        service: ServiceKey,
        /// The destination's key.
        dest: DestinationKey,
    },
}

/// A service as it should be, with all its destinations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredService {
    /// The service.
    pub service: Service,
    /// Its destinations; for a repeated key the last one wins.
    pub dests: Vec<Destination>,
}

/// The result of one planning step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Operations, in the order to apply them.
    pub ops: Vec<Op>,
    /// When a drain in progress times out: plan again then, at the latest.
    pub next_check: Option<Instant>,
}

/// Stateless planning without drain: removed destinations are deleted at once.
pub fn plan(desired: &[DesiredService], actual: &Snapshot) -> Vec<Op> {
    Reconciler::new(None)
        .plan(Instant::ZERO, desired, actual)
        .ops
}

/// Which services of the table the reconciler manages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Every service: one that is not desired is deleted.
    #[default]
    All,
    /// Only services that have been desired by this reconciler since it was created
    /// (until it deleted them); the others are left alone.
    Owned,
}

/// The reconciler, holding the start time of each drain in progress.
#[derive(Clone, Debug, Default)]
pub struct Reconciler {
    drain_timeout: Option<Duration>,
    scope: Scope,
    owned: BTreeSet<ServiceKey>,
    draining: BTreeMap<(ServiceKey, DestinationKey), Instant>,
}

enum DrainStep {
    Wait,
    Quiesce,
    Delete,
}

fn same_service(a: &Service, b: &Service) -> bool {
    a.key == b.key
        && a.scheduler == b.scheduler
        && a.flags == b.flags
        && a.timeout.as_secs() == b.timeout.as_secs()
        && a.netmask == b.netmask
        && a.pe == b.pe
}

impl Reconciler {
    /// A reconciler; `drain_timeout` enables graceful drain with that bound.
    pub fn new(drain_timeout: Option<Duration>) -> Reconciler {
        Reconciler {
            drain_timeout,
            scope: Scope::All,
            owned: BTreeSet::new(),
            draining: BTreeMap::new(),
        }
    }

    /// Sets which services are managed.
    pub fn with_scope(mut self, scope: Scope) -> Reconciler {
        self.scope = scope;
        self
    }

    /// Destinations being drained, with the instant their drain started.
    pub fn draining(&self) -> impl Iterator<Item = (&ServiceKey, &DestinationKey, Instant)> {
        self.draining.iter().map(|((s, d), t)| (s, d, *t))
    }

    fn drain_step(
        &mut self,
        now: Instant,
        timeout: Duration,
        service: ServiceKey,
        entry: &DestEntry,
        next_check: &mut Option<Instant>,
    ) -> DrainStep {
        let started = *self
            .draining
            .entry((service, entry.dest.key))
            .or_insert(now);
        let deadline = started + timeout;
        if entry.stats.connections() == 0 || now >= deadline {
            self.draining.remove(&(service, entry.dest.key));
            return DrainStep::Delete;
        }
        *next_check = Some(next_check.map_or(deadline, |t| t.min(deadline)));
        if entry.dest.weight != 0 {
            DrainStep::Quiesce
        } else {
            DrainStep::Wait
        }
    }

    /// Plans the operations that take `actual` to `desired`.
    pub fn plan(&mut self, now: Instant, desired: &[DesiredService], actual: &Snapshot) -> Plan {
        let want: BTreeMap<ServiceKey, (&Service, BTreeMap<DestinationKey, &Destination>)> =
            desired
                .iter()
                .map(|d| {
                    let dests = d.dests.iter().map(|x| (x.key, x)).collect();
                    (d.service.key, (&d.service, dests))
                })
                .collect();
        self.owned.extend(want.keys().copied());
        let have: BTreeMap<ServiceKey, _> = actual
            .services
            .iter()
            .filter(|s| self.scope == Scope::All || self.owned.contains(&s.service.key))
            .map(|s| (s.service.key, s))
            .collect();
        // Owned services that are neither wanted nor present are forgotten.
        self.owned
            .retain(|k| want.contains_key(k) || have.contains_key(k));

        // Forget drains of destinations that are gone or wanted again.
        self.draining.retain(|(s, d), _| {
            let exists = have
                .get(s)
                .is_some_and(|e| e.dests.iter().any(|x| &x.dest.key == d));
            let wanted = want.get(s).is_some_and(|(_, ds)| ds.contains_key(d));
            exists && !wanted
        });

        let mut del_dests = Vec::new();
        let mut del_services = Vec::new();
        let mut services = Vec::new();
        let mut dests = Vec::new();
        let mut next_check = None;

        for (key, entry) in &have {
            match want.get(key) {
                None => match self.drain_timeout {
                    None => del_services.push(Op::DelService(*key)),
                    Some(timeout) => {
                        let mut ops = Vec::new();
                        let mut all_gone = true;
                        for d in &entry.dests {
                            match self.drain_step(now, timeout, *key, d, &mut next_check) {
                                DrainStep::Delete => ops.push(Op::DelDest {
                                    service: *key,
                                    dest: d.dest.key,
                                }),
                                DrainStep::Quiesce => {
                                    all_gone = false;
                                    ops.push(Op::EditDest {
                                        service: *key,
                                        dest: d.dest.with_weight(0),
                                    });
                                }
                                DrainStep::Wait => all_gone = false,
                            }
                        }
                        if all_gone {
                            del_services.push(Op::DelService(*key));
                        } else {
                            for op in ops {
                                match op {
                                    Op::DelDest { .. } => del_dests.push(op),
                                    _ => dests.push(op),
                                }
                            }
                        }
                    }
                },
                Some((svc, want_dests)) => {
                    if !same_service(svc, &entry.service) {
                        services.push(Op::EditService((*svc).clone()));
                    }
                    let have_dests: BTreeMap<DestinationKey, &DestEntry> =
                        entry.dests.iter().map(|d| (d.dest.key, d)).collect();
                    for (dk, d) in &have_dests {
                        if want_dests.contains_key(dk) {
                            continue;
                        }
                        let step = match self.drain_timeout {
                            None => DrainStep::Delete,
                            Some(t) => self.drain_step(now, t, *key, d, &mut next_check),
                        };
                        match step {
                            DrainStep::Delete => del_dests.push(Op::DelDest {
                                service: *key,
                                dest: *dk,
                            }),
                            DrainStep::Quiesce => dests.push(Op::EditDest {
                                service: *key,
                                dest: d.dest.with_weight(0),
                            }),
                            DrainStep::Wait => {}
                        }
                    }
                    for (dk, d) in want_dests {
                        match have_dests.get(dk) {
                            None => dests.push(Op::AddDest {
                                service: *key,
                                dest: **d,
                            }),
                            Some(h) if h.dest != **d => dests.push(Op::EditDest {
                                service: *key,
                                dest: **d,
                            }),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        for (key, (svc, want_dests)) in &want {
            if have.contains_key(key) {
                continue;
            }
            services.push(Op::AddService((*svc).clone()));
            for d in want_dests.values() {
                dests.push(Op::AddDest {
                    service: *key,
                    dest: **d,
                });
            }
        }

        let mut ops = del_dests;
        ops.extend(del_services);
        ops.extend(services);
        ops.extend(dests);
        Plan { ops, next_check }
    }
}

/// An operation that failed while applying a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {index} ({op:?}) failed: {error}")]
pub struct ApplyError {
    /// Its position in the list; the operations before it were applied.
    pub index: usize,
    /// The operation.
    pub op: Op,
    /// The backend's error.
    pub error: IpvsError,
}

/// Applies one operation.
pub async fn apply_op(backend: &dyn IpvsBackend, op: &Op) -> Result<(), IpvsError> {
    match op {
        Op::AddService(s) => backend.add_service(s).await,
        Op::EditService(s) => backend.edit_service(s).await,
        Op::DelService(k) => backend.del_service(k).await,
        Op::AddDest { service, dest } => backend.add_dest(service, dest).await,
        Op::EditDest { service, dest } => backend.edit_dest(service, dest).await,
        Op::DelDest { service, dest } => backend.del_dest(service, dest).await,
    }
}

/// Applies operations in order, stopping at the first failure. Re-dump and re-plan after
/// a failure: the table may have changed under us.
pub async fn apply(backend: &dyn IpvsBackend, ops: &[Op]) -> Result<(), ApplyError> {
    for (index, op) in ops.iter().enumerate() {
        apply_op(backend, op).await.map_err(|error| ApplyError {
            index,
            op: op.clone(),
            error,
        })?;
    }
    Ok(())
}

/// A desired table as a [`Snapshot`] with zeroed stats: what the kernel would report right
/// after the table was programmed. Handy for tests and for printing a desired table as
/// `ipvsadm` rules.
pub fn desired_snapshot(desired: Vec<DesiredService>) -> crate::model::Snapshot {
    use crate::model::{DestEntry, ServiceEntry, Snapshot};
    Snapshot {
        services: desired
            .into_iter()
            .map(|d| ServiceEntry {
                service: d.service,
                stats: Default::default(),
                dests: d
                    .dests
                    .into_iter()
                    .map(|dest| DestEntry {
                        dest,
                        stats: Default::default(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

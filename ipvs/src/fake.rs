//! An in-memory IPVS table that answers like the kernel (`net/netfilter/ipvs/ip_vs_ctl.c`)
//! does, error numbers included, for tests of everything above the netlink socket.
//!
//! Requests go through the same model → packet → model conversion the netlink backend
//! uses, so a value the kernel would receive rounded (a sub-second persistence timeout,
//! kernel-internal flags) is stored rounded here too, and a value that cannot be encoded
//! fails here with the same [`ModelError`](crate::model::ModelError).

use crate::backend::{Errno, IpvsBackend, IpvsError};
use crate::model::{
    DestEntry, DestStats, Destination, DestinationKey, Family, ForwardMethod, Info, IpvsVersion,
    Netmask, Scheduler, Service, ServiceEntry, ServiceKey, ServiceStats, Snapshot, Stats,
    SyncDaemon, SyncState, Timeouts, Tunnel, request,
};
use crate::packet::IpvsMessage;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone)]
struct FakeService {
    service: Service,
    stats: Stats,
    dests: BTreeMap<DestinationKey, DestEntry>,
}

#[derive(Debug)]
struct State {
    services: BTreeMap<ServiceKey, FakeService>,
    timeouts: Timeouts,
    daemons: BTreeMap<SyncState, SyncDaemon>,
    schedulers: BTreeSet<String>,
    interfaces: Option<BTreeSet<String>>,
    injected: VecDeque<IpvsError>,
    mutations: u64,
}

/// The in-memory IPVS table. See the module documentation.
#[derive(Debug)]
pub struct FakeIpvs {
    state: Mutex<State>,
}

impl Default for FakeIpvs {
    fn default() -> Self {
        FakeIpvs::new()
    }
}

fn round_trip(msg: IpvsMessage) -> Result<IpvsMessage, IpvsError> {
    Ok(IpvsMessage::decode_genl(&msg.to_genl_bytes())?)
}

fn err(errno: Errno) -> IpvsError {
    IpvsError::kernel(errno)
}

impl FakeIpvs {
    /// An empty table with every built-in scheduler available, the kernel's default
    /// timeouts (900 s, 120 s, 300 s), and any interface name accepted for sync daemons.
    pub fn new() -> FakeIpvs {
        FakeIpvs {
            state: Mutex::new(State {
                services: BTreeMap::new(),
                timeouts: Timeouts {
                    tcp: Duration::from_secs(900),
                    tcp_fin: Duration::from_secs(120),
                    udp: Duration::from_secs(300),
                },
                daemons: BTreeMap::new(),
                schedulers: Scheduler::BUILTIN
                    .iter()
                    .map(|s| s.name().to_owned())
                    .collect(),
                interfaces: None,
                injected: VecDeque::new(),
                mutations: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restricts the schedulers the "kernel" has (others fail with `ENOENT`).
    pub fn set_schedulers<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        self.lock().schedulers = names.into_iter().map(str::to_owned).collect();
    }

    /// Restricts the interfaces that exist (sync daemons on others fail with `ENODEV`).
    pub fn set_interfaces<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        self.lock().interfaces = Some(names.into_iter().map(str::to_owned).collect());
    }

    /// Makes the next request (of any kind) fail with `error`; queued in order.
    pub fn inject_error(&self, error: IpvsError) {
        self.lock().injected.push_back(error);
    }

    /// Sets a destination's connection counts, as traffic would.
    pub fn set_connections(
        &self,
        service: &ServiceKey,
        dest: &DestinationKey,
        active: u32,
        inactive: u32,
    ) -> Result<(), IpvsError> {
        let mut st = self.lock();
        let svc = st.services.get_mut(service).ok_or(err(Errno::Srch))?;
        let d = svc.dests.get_mut(dest).ok_or(err(Errno::NoEnt))?;
        d.stats.active_conns = active;
        d.stats.inactive_conns = inactive;
        Ok(())
    }

    /// Sets a service's counters, as traffic would.
    pub fn set_service_stats(&self, service: &ServiceKey, stats: Stats) -> Result<(), IpvsError> {
        let mut st = self.lock();
        st.services.get_mut(service).ok_or(err(Errno::Srch))?.stats = stats;
        Ok(())
    }

    /// How many requests that change the table succeeded so far.
    pub fn mutations(&self) -> u64 {
        self.lock().mutations
    }

    /// The current table, synchronously (same as [`IpvsBackend::dump`]).
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.lock())
    }
}

fn snapshot(st: &State) -> Snapshot {
    Snapshot {
        services: st
            .services
            .values()
            .map(|s| ServiceEntry {
                service: s.service.clone(),
                stats: ServiceStats(s.stats),
                dests: s.dests.values().cloned().collect(),
            })
            .collect(),
    }
}

impl State {
    fn take_injected(&mut self) -> Result<(), IpvsError> {
        match self.injected.pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `ip_vs_add_service` / `ip_vs_edit_service` checks.
    fn check_service(&self, svc: &Service) -> Result<(), IpvsError> {
        let name = svc.scheduler.name();
        if name != "none" && !self.schedulers.contains(name) {
            return Err(err(Errno::NoEnt));
        }
        if let Some(pe) = &svc.pe {
            if pe.name() != "sip" {
                return Err(err(Errno::NoEnt));
            }
        }
        if let Netmask::V6(p) = svc.netmask {
            if !(1..=128).contains(&p) {
                return Err(err(Errno::Inval));
            }
        }
        Ok(())
    }

    /// `ip_vs_genl_set_cmd`, then `ip_vs_add_dest` / `ip_vs_edit_dest` checks, in the
    /// kernel's order (the existence check comes after these).
    fn check_dest(&self, family: Family, d: &Destination) -> Result<(), IpvsError> {
        if Family::of(&d.key.addr) != family {
            // Mixed families: only tunneling, and not while a sync daemon runs.
            if !matches!(d.fwd, ForwardMethod::Tunnel(_)) || !self.daemons.is_empty() {
                return Err(err(Errno::Inval));
            }
        }
        if d.weight > i32::MAX as u32 {
            return Err(err(Errno::Range));
        }
        if d.lower_threshold > d.upper_threshold {
            return Err(err(Errno::Range));
        }
        if let ForwardMethod::Tunnel(Tunnel::Gue { port: 0, .. }) = d.fwd {
            return Err(err(Errno::Inval));
        }
        Ok(())
    }

    /// `ip_vs_new_dest`: a new real server must be a unicast address.
    fn check_new_dest(d: &Destination) -> Result<(), IpvsError> {
        let unicast = match d.key.addr {
            IpAddr::V4(a) => !(a.is_multicast() || a.is_broadcast() || a.is_unspecified()),
            IpAddr::V6(a) => !(a.is_multicast() || a.is_unspecified()),
        };
        if unicast {
            Ok(())
        } else {
            Err(err(Errno::Inval))
        }
    }
}

#[async_trait]
impl IpvsBackend for FakeIpvs {
    async fn dump(&self) -> Result<Snapshot, IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        Ok(snapshot(&st))
    }

    async fn add_service(&self, service: &Service) -> Result<(), IpvsError> {
        let (svc, _) = request::read_service(&round_trip(request::add_service(service)?)?)?;
        let mut st = self.lock();
        st.take_injected()?;
        if st.services.contains_key(&svc.key) {
            return Err(err(Errno::Exist));
        }
        st.check_service(&svc)?;
        st.services.insert(
            svc.key,
            FakeService {
                service: svc,
                stats: Stats::default(),
                dests: BTreeMap::new(),
            },
        );
        st.mutations += 1;
        Ok(())
    }

    async fn edit_service(&self, service: &Service) -> Result<(), IpvsError> {
        let (svc, _) = request::read_service(&round_trip(request::edit_service(service)?)?)?;
        let mut st = self.lock();
        st.take_injected()?;
        if !st.services.contains_key(&svc.key) {
            return Err(err(Errno::Srch));
        }
        st.check_service(&svc)?;
        if let Some(s) = st.services.get_mut(&svc.key) {
            s.service = svc;
        }
        st.mutations += 1;
        Ok(())
    }

    async fn del_service(&self, key: &ServiceKey) -> Result<(), IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        st.services.remove(key).ok_or(err(Errno::Srch))?;
        st.mutations += 1;
        Ok(())
    }

    async fn add_dest(&self, service: &ServiceKey, dest: &Destination) -> Result<(), IpvsError> {
        let msg = round_trip(request::add_dest(service, dest))?;
        let (d, _) = request::read_dest(&msg, service.family())?;
        let mut st = self.lock();
        st.take_injected()?;
        if !st.services.contains_key(service) {
            return Err(err(Errno::Srch));
        }
        st.check_dest(service.family(), &d)?;
        let svc = st.services.get_mut(service).ok_or(err(Errno::Srch))?;
        if svc.dests.contains_key(&d.key) {
            return Err(err(Errno::Exist));
        }
        State::check_new_dest(&d)?;
        svc.dests.insert(
            d.key,
            DestEntry {
                dest: d,
                stats: DestStats::default(),
            },
        );
        st.mutations += 1;
        Ok(())
    }

    async fn edit_dest(&self, service: &ServiceKey, dest: &Destination) -> Result<(), IpvsError> {
        let msg = round_trip(request::edit_dest(service, dest))?;
        let (d, _) = request::read_dest(&msg, service.family())?;
        let mut st = self.lock();
        st.take_injected()?;
        if !st.services.contains_key(service) {
            return Err(err(Errno::Srch));
        }
        st.check_dest(service.family(), &d)?;
        let svc = st.services.get_mut(service).ok_or(err(Errno::Srch))?;
        let e = svc.dests.get_mut(&d.key).ok_or(err(Errno::NoEnt))?;
        e.dest = d;
        st.mutations += 1;
        Ok(())
    }

    async fn del_dest(&self, service: &ServiceKey, dest: &DestinationKey) -> Result<(), IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        let svc = st.services.get_mut(service).ok_or(err(Errno::Srch))?;
        svc.dests.remove(dest).ok_or(err(Errno::NoEnt))?;
        st.mutations += 1;
        Ok(())
    }

    async fn flush(&self) -> Result<(), IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        st.services.clear();
        st.mutations += 1;
        Ok(())
    }

    async fn zero(&self, service: Option<&ServiceKey>) -> Result<(), IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        let clear = |s: &mut FakeService| {
            s.stats = Stats::default();
            for d in s.dests.values_mut() {
                d.stats.counters = Stats::default();
            }
        };
        match service {
            Some(k) => clear(st.services.get_mut(k).ok_or(err(Errno::Srch))?),
            None => st.services.values_mut().for_each(clear),
        }
        Ok(())
    }

    async fn timeouts(&self) -> Result<Timeouts, IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        Ok(st.timeouts)
    }

    async fn set_timeouts(&self, timeouts: &Timeouts) -> Result<(), IpvsError> {
        let msg = round_trip(request::set_timeouts(timeouts)?)?;
        let t = Timeouts::from_message(&msg);
        let mut st = self.lock();
        st.take_injected()?;
        let cur = &mut st.timeouts;
        for (new, cur) in [
            (t.tcp, &mut cur.tcp),
            (t.tcp_fin, &mut cur.tcp_fin),
            (t.udp, &mut cur.udp),
        ] {
            if !new.is_zero() {
                *cur = new;
            }
        }
        Ok(())
    }

    async fn daemons(&self) -> Result<Vec<SyncDaemon>, IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        Ok(st.daemons.values().cloned().collect())
    }

    async fn start_daemon(&self, daemon: &SyncDaemon) -> Result<(), IpvsError> {
        let d = request::read_daemon(&round_trip(request::start_daemon(daemon)?)?)?;
        let mut st = self.lock();
        st.take_injected()?;
        if st.daemons.contains_key(&d.state) {
            return Err(err(Errno::Exist));
        }
        if let Some(ifs) = &st.interfaces {
            if !ifs.contains(&d.mcast_ifn) {
                return Err(err(Errno::NoDev));
            }
        }
        let mixed = st.services.values().any(|s| {
            s.dests
                .keys()
                .any(|k| Family::of(&k.addr) != s.service.key.family())
        });
        if mixed {
            return Err(err(Errno::Inval));
        }
        st.daemons.insert(d.state, d);
        Ok(())
    }

    async fn stop_daemon(&self, state: SyncState) -> Result<(), IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        st.daemons.remove(&state).ok_or(err(Errno::Srch))?;
        Ok(())
    }

    async fn info(&self) -> Result<Info, IpvsError> {
        let mut st = self.lock();
        st.take_injected()?;
        Ok(Info {
            version: IpvsVersion {
                major: 1,
                minor: 2,
                patch: 1,
            },
            conn_table_size: 4096,
        })
    }
}

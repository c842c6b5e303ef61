//! The BFD side: every `bfd_instance` is a session of one engine over kernel UDP
//! sockets. State changes go to VRRP (`track_bfd`, object `bfd:NAME`) and to the
//! checkers (`BFD_CHECK`), as the instance's flags say.

use std::collections::BTreeMap;

use ha_bfd::keepalived::KeepalivedBfd;
use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::scheduling::Scheduling;
use ha_bfd::{Command, Engine, Event, Hop, SessionId, State};
use ha_core::driver::{DriverEvent, DriverHandle, EventStream};
use tracing::{error, info, warn};

/// A BFD session changed between up and not up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdChange {
    /// The `bfd_instance` name.
    pub name: String,
    /// Whether the session is Up.
    pub up: bool,
    /// Whether VRRP tracks it.
    pub to_vrrp: bool,
    /// Whether checkers follow it.
    pub to_checker: bool,
}

/// The running engine.
pub struct Bfd {
    handle: DriverHandle<Command>,
    sessions: BTreeMap<String, SessionId>,
}

impl Bfd {
    /// Starts the engine on a thread of its own, scheduled as `global_defs` asks
    /// (`bfd_rt_priority`, `bfd_priority`, `bfd_cpu_affinity`), as keepalived runs BFD in
    /// a process of its own: at 10 ms intervals the engine cannot wait behind health
    /// checks or a reload on the daemon's main thread. Opens the sockets the sessions
    /// need; changes are sent to `out`.
    pub fn start(
        mapped: &KeepalivedBfd,
        out: impl Fn(BfdChange) + Send + 'static,
    ) -> Result<Bfd, String> {
        let sessions = mapped.sessions();
        let listen = ListenConfig {
            ipv4: sessions.iter().any(|s| s.session.remote.is_ipv4()),
            ipv6: sessions.iter().any(|s| s.session.remote.is_ipv6()),
            single_hop: sessions
                .iter()
                .any(|s| matches!(s.session.hop, Hop::SingleHop)),
            multihop: sessions
                .iter()
                .any(|s| matches!(s.session.hop, Hop::MultiHop { .. })),
            ..ListenConfig::default()
        };
        let scheduling = mapped.scheduling.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || run_engine(&listen, &scheduling, &ready_tx))
            .map_err(|e| format!("BFD thread: {e}"))?;
        let (handle, mut events) = ready_rx
            .recv()
            .map_err(|_| "the BFD thread ended before it started".to_string())??;
        let mut ids = BTreeMap::new();
        let mut by_id = BTreeMap::new();
        for s in &sessions {
            ids.insert(s.name.clone(), s.session.id);
            by_id.insert(s.session.id, (s.name.clone(), s.to_vrrp, s.to_checker));
            let _ = handle.command(Command::AddSession {
                config: s.session.clone(),
            });
        }
        // The engine's events cross to the daemon's runtime here.
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let DriverEvent::Endpoint(Event::StateChanged(c)) = event {
                    let Some((name, to_vrrp, to_checker)) = by_id.get(&c.session) else {
                        continue;
                    };
                    info!(bfd = %name, from = %c.from, to = %c.to, diagnostic = ?c.diagnostic, "BFD state changed");
                    let was_up = c.from == State::Up;
                    let up = c.to == State::Up;
                    if was_up != up {
                        out(BfdChange {
                            name: name.clone(),
                            up,
                            to_vrrp: *to_vrrp,
                            to_checker: *to_checker,
                        });
                    }
                }
            }
        });
        Ok(Bfd {
            handle,
            sessions: ids,
        })
    }

    /// Tells every peer AdminDown and stops the engine.
    pub async fn stop(self) {
        for id in self.sessions.values() {
            let _ = self.handle.command(Command::RemoveSession { session: *id });
        }
        self.handle.stop().await;
    }
}

/// The name of the engine's thread (`ps -L`, `/proc/PID/task/*/comm`).
pub const THREAD_NAME: &str = "hakeepd-bfd";

/// What the engine's thread hands back once its sockets are open.
type Started = Result<(DriverHandle<Command>, EventStream<Event>), String>;

/// The engine's thread: applies `scheduling`, opens the sockets, reports `ready`, then runs
/// the driver on a runtime of its own until it is stopped.
fn run_engine(
    listen: &ListenConfig,
    scheduling: &Scheduling,
    ready: &std::sync::mpsc::Sender<Started>,
) {
    if !scheduling.is_default() {
        // keepalived carries on too when the kernel refuses (no CAP_SYS_NICE).
        match ha_bfd::linux::apply_scheduling(scheduling) {
            Ok(()) => info!(?scheduling, "BFD thread scheduling set"),
            Err(e) => warn!(%e, "BFD thread scheduling not set"),
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(format!("BFD runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async {
        let io = match UdpIo::open(listen) {
            Ok(io) => io,
            Err(e) => {
                let _ = ready.send(Err(format!("BFD sockets: {e}")));
                return;
            }
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let engine = Engine::new(ha_core::rng::seeded(seed));
        let (driver, handle, events) = ha_bfd::linux::driver(engine, io);
        if ready.send(Ok((handle, events))).is_err() {
            return;
        }
        if let Err(e) = driver.run().await {
            error!(%e, "BFD engine stopped");
        }
    });
}

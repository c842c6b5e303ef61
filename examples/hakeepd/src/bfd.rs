//! The BFD side: every `bfd_instance` is a session of one engine over kernel UDP
//! sockets. State changes go to VRRP (`track_bfd`, object `bfd:NAME`) and to the
//! checkers (`BFD_CHECK`), as the instance's flags say.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ha_bfd::keepalived::KeepalivedBfd;
use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::scheduling::Scheduling;
use ha_bfd::{Command, Engine, Event, Hop, SessionId, State};
use ha_core::driver::{DriverEvent, DriverHandle, EventStream};
use serde::Serialize;
use tracing::{debug, error, info, warn};

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

/// What the BFD engine's driver reported about itself, over the daemon's life (they
/// survive the engine's restarts on reload).
#[derive(Debug, Default)]
pub struct DriverReports {
    late_timers: AtomicU64,
    io_failures: AtomicU64,
    timer_failures: AtomicU64,
}

/// [`DriverReports`] at one moment, for the status document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriverReportCounts {
    /// Timers that fired more than a millisecond late.
    pub late_timers: u64,
    /// Datagrams not sent, and receive errors.
    pub io_failures: u64,
    /// Times the precise (timerfd) timer failed and the engine fell back to tokio's.
    pub timer_failures: u64,
}

impl DriverReports {
    /// The counts now.
    pub fn counts(&self) -> DriverReportCounts {
        DriverReportCounts {
            late_timers: self.late_timers.load(Ordering::Relaxed),
            io_failures: self.io_failures.load(Ordering::Relaxed),
            timer_failures: self.timer_failures.load(Ordering::Relaxed),
        }
    }

    /// Logs and counts one of the driver's reports about itself.
    fn record(&self, report: &DriverEvent<()>) {
        let counter = match report {
            DriverEvent::Endpoint(()) => return,
            DriverEvent::SendFailed { transmit, error } => {
                warn!(destination = %transmit.destination, %error, "BFD packet not sent");
                &self.io_failures
            }
            DriverEvent::RecvFailed { error } => {
                warn!(%error, "BFD receive failed");
                &self.io_failures
            }
            DriverEvent::LateTimer { late } => {
                debug!(?late, "BFD timer fired late");
                &self.late_timers
            }
            DriverEvent::TimerFailed { error } => {
                warn!(%error, "BFD precise timer failed, falling back to tokio's");
                &self.timer_failures
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
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
        reports: Arc<DriverReports>,
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
                let event = match event.into_endpoint() {
                    Ok(event) => event,
                    Err(report) => {
                        reports.record(&report);
                        continue;
                    }
                };
                if let Event::StateChanged(c) = event {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ha_core::Transmit;

    use super::*;

    #[test]
    fn driver_reports_are_counted_by_kind() {
        let reports = DriverReports::default();
        let transmit = Transmit {
            destination: "192.0.2.2".parse().expect("address"),
            destination_port: Some(3784),
            source: None,
            source_port: Some(49152),
            interface: None,
            ttl: 255,
        };
        for report in [
            DriverEvent::SendFailed {
                transmit,
                error: "ENOBUFS".into(),
            },
            DriverEvent::RecvFailed {
                error: "EIO".into(),
            },
            DriverEvent::LateTimer {
                late: Duration::from_millis(2),
            },
            DriverEvent::LateTimer {
                late: Duration::from_millis(3),
            },
            DriverEvent::TimerFailed {
                error: "EBADF".into(),
            },
            DriverEvent::Endpoint(()),
        ] {
            reports.record(&report);
        }
        assert_eq!(
            reports.counts(),
            DriverReportCounts {
                late_timers: 2,
                io_failures: 2,
                timer_failures: 1,
            }
        );
    }
}

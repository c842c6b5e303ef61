//! The BFD side: every `bfd_instance` is a session of one engine over kernel UDP
//! sockets. State changes go to VRRP (`track_bfd`, object `bfd:NAME`) and to the
//! checkers (`BFD_CHECK`), as the instance's flags say.

use std::collections::BTreeMap;

use ha_bfd::keepalived::KeepalivedBfd;
use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::{Command, Engine, Event, Hop, SessionId, State};
use ha_core::driver::{DriverEvent, DriverHandle};
use tokio::sync::mpsc;
use tracing::{error, info};

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
    /// Opens the sockets the sessions need and starts the engine; changes are sent to
    /// `out`.
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
        let io = UdpIo::open(&listen).map_err(|e| format!("BFD sockets: {e}"))?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let engine = Engine::new(ha_core::rng::seeded(seed));
        let (driver, handle, mut events) = ha_bfd::linux::driver(engine, io);
        let mut ids = BTreeMap::new();
        let mut by_id = BTreeMap::new();
        for s in &sessions {
            ids.insert(s.name.clone(), s.session.id);
            by_id.insert(s.session.id, (s.name.clone(), s.to_vrrp, s.to_checker));
            let _ = handle.command(Command::AddSession {
                config: s.session.clone(),
            });
        }
        tokio::spawn(async move {
            if let Err(e) = driver.run().await {
                error!(%e, "BFD engine stopped");
            }
        });
        let (tx, mut rx) = mpsc::unbounded_channel::<DriverEvent<Event>>();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if tx.send(e).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
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

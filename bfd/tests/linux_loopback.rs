//! The Linux adapter on loopback, without privileges: one engine holds both ends of a
//! session pair (127.0.0.1 ⇄ 127.0.0.2, ::1 ⇄ ::1 is not possible with one address, so
//! IPv4 only), so every packet crosses the kernel's UDP stack, with the received TTL and
//! destination coming from `recvmsg` control messages (RFC 5881 sections 4 and 5).
#![cfg(feature = "linux")]

use std::time::Duration;

use ha_bfd::linux::{LinuxError, ListenConfig, UdpIo};
use ha_bfd::{Command, Engine, Event, SessionConfig, SessionId, State};
use ha_core::driver::{Driver, DriverEvent};

#[tokio::test(flavor = "current_thread")]
async fn loopback_pair_comes_up_and_detects_admin_down() {
    let listen = ListenConfig {
        ipv6: false,
        multihop: false,
        ..ListenConfig::default()
    };
    let io = match UdpIo::open(&listen) {
        Ok(io) => io,
        Err(LinuxError::Bind { address, source }) => {
            eprintln!("SKIPPED: cannot bind {address} ({source}); is another BFD daemon running?");
            return;
        }
        Err(e) => panic!("open: {e}"),
    };
    let (driver, handle, mut events) = Driver::new(Engine::new(ha_core::rng::seeded(3)), io);
    let task = tokio::spawn(driver.run());
    let a = "127.0.0.1".parse().unwrap();
    let b = "127.0.0.2".parse().unwrap();
    for (id, local, remote) in [(1, a, b), (2, b, a)] {
        let mut config = SessionConfig::single_hop(SessionId(id), local, remote);
        config.desired_min_tx = Duration::from_millis(20);
        config.required_min_rx = Duration::from_millis(20);
        handle.command(Command::AddSession { config }).unwrap();
    }
    let mut up = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while up.len() < 2 {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("both sessions Up within 10 s")
            .expect("driver running");
        if let DriverEvent::Endpoint(Event::StateChanged(c)) = ev {
            if c.to == State::Up {
                up.insert(c.session);
            }
        }
    }
    // Admin down on one side: the other sees the peer's AdminDown (RFC 5880 6.8.6).
    handle
        .command(Command::AdminDown {
            session: SessionId(1),
        })
        .unwrap();
    let mut saw = false;
    while !saw {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("session 2 Down")
            .expect("driver running");
        if let DriverEvent::Endpoint(Event::StateChanged(c)) = ev {
            saw = c.session == SessionId(2) && c.to == State::Down;
            if saw {
                assert_eq!(c.remote_state, State::AdminDown);
                assert!(!c.is_failure());
            }
        }
    }
    handle.stop().await;
    let engine = task.await.unwrap().unwrap();
    assert_eq!(
        engine.drop_counters().total(),
        0,
        "{:?}",
        engine.drop_counters()
    );
    let s1 = engine.session(SessionId(1)).unwrap();
    assert!(s1.packets_received > 0 && s1.packets_sent > 0);
}

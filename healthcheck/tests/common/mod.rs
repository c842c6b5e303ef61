//! Loopback test servers. Every server binds 127.0.0.1 only and serves a bounded number
//! of connections.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ha_healthcheck::{CheckOutcome, Target};
use tokio::net::{TcpListener, TcpStream};

/// Starts a TCP server on 127.0.0.1 that hands each of up to `max_conns` connections to
/// `serve`.
pub async fn tcp_server<F, Fut>(max_conns: usize, serve: F) -> Target
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..max_conns {
            let Ok((s, _)) = l.accept().await else { return };
            tokio::spawn(serve(s));
        }
    });
    Target::new(addr)
}

/// A loopback address where nothing listens (connections are refused).
pub async fn closed_port() -> Target {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    Target::new(addr)
}

/// Runs `f`, returning its result and how long it took.
pub async fn timed<F: Future<Output = CheckOutcome>>(f: F) -> (CheckOutcome, Duration) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

/// A loopback address for a UDP socket that is bound then closed.
pub fn closed_udp_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// A fresh path under the system temp dir.
pub fn temp_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "ha-healthcheck-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// How far past its timeout a probe may finish on a loaded machine. Well below any
/// "hang" (the servers in these tests stall for seconds), well above scheduling noise.
pub const SLACK: Duration = Duration::from_millis(1500);

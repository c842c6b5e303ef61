//! `hc_bench`: health-check throughput per core and timer fidelity, against servers it
//! starts itself on 127.0.0.1 (loopback only; every run is bounded and stops by itself).
//!
//! ```text
//! hc_bench [all|tcp|http|https-resume|https-full|timers|timers-baseline|timers-tcp]
//!          [--secs S] [--conc N] [--targets N] [--client-cpu C|any] [--server-cpu C|any]
//! ```
//!
//! The checkers run on a **current-thread** tokio runtime on the main thread, pinned to
//! `--client-cpu` (default 1) with `sched_setaffinity`; the servers run on another
//! current-thread runtime in their own thread, pinned to `--server-cpu` (default 0). So
//! "checks per second" is what one core of checker achieves. The client thread's CPU
//! time is measured too (`CLOCK_THREAD_CPUTIME_ID`), giving checks per CPU-second, which
//! is less sensitive to other load on a shared machine.
//!
//! - `tcp`: `TcpCheck` connect and close, `--conc` probes in flight.
//! - `http`: `HttpCheck` GET with keep-alive, one connection per target (`--conc`
//!   listeners).
//! - `https-resume`: `SSL_GET`-style HTTPS GET, a new TLS connection per probe, server
//!   issuing TLS 1.3 session tickets (resumed handshakes; the server counts them).
//! - `https-full`: the same with session storage and tickets disabled on the server
//!   (every handshake full, ECDSA P-256).
//! - `timers`: `--targets` checks (default 10 000) × 1 s interval with `warmup`, a no-op
//!   checker, run on the real `Runner` for `--secs`; reports the scheduler's
//!   start-lateness histogram (p50, p99, max).
//! - `timers-baseline`: the floor the machine gives any tokio timer: `--targets` plain
//!   tasks each sleeping until a deadline every second (same spread), no scheduler.
//! - `timers-tcp`: the same as `timers` with a real TCP connect per probe.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ha_healthcheck::checker::FnChecker;
use ha_healthcheck::checkers::{HttpCheck, TcpCheck, TlsClient, TlsVerify, UrlCheck};
use ha_healthcheck::runner::Runner;
use ha_healthcheck::{
    CheckOutcome, CheckSpec, CheckTiming, Checker, CheckerKey, LatenessHistogram, SchedulerConfig,
    Target,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CERT: &[u8] = include_bytes!("../../../healthcheck/tests/data/server.pem");
const KEY: &[u8] = include_bytes!("../../../healthcheck/tests/data/server.key");

struct Opts {
    which: String,
    secs: f64,
    conc: usize,
    targets: usize,
    client_cpu: Option<usize>,
    server_cpu: Option<usize>,
}

fn cpu_arg(v: String, name: &str) -> Result<Option<usize>, String> {
    if v == "any" {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|e| format!("{name}: {e}"))
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        which: "all".into(),
        secs: 5.0,
        conc: 64,
        targets: 10_000,
        client_cpu: Some(1),
        server_cpu: Some(0),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--secs" => o.secs = val("--secs")?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--conc" => o.conc = val("--conc")?.parse().map_err(|e| format!("--conc: {e}"))?,
            "--targets" => {
                o.targets = val("--targets")?
                    .parse()
                    .map_err(|e| format!("--targets: {e}"))?
            }
            "--client-cpu" => o.client_cpu = cpu_arg(val("--client-cpu")?, "--client-cpu")?,
            "--server-cpu" => o.server_cpu = cpu_arg(val("--server-cpu")?, "--server-cpu")?,
            w if !w.starts_with('-') => o.which = w.to_string(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(0.1..=120.0).contains(&o.secs) || o.conc == 0 || o.conc > 4096 || o.targets > 100_000 {
        return Err("--secs in 0.1..=120, --conc in 1..=4096, --targets <= 100000".into());
    }
    Ok(o)
}

fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else {
        return;
    };
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("warning: cannot pin to CPU {cpu}: {e}");
    }
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What the server side counts.
#[derive(Default)]
struct ServerStats {
    accepted: AtomicU64,
    requests: AtomicU64,
    resumed: AtomicU64,
    full: AtomicU64,
}

#[derive(Clone, Copy, PartialEq)]
enum Tls {
    None,
    Resume,
    Full,
}

fn tls_acceptor(mode: Tls) -> Option<tokio_rustls::TlsAcceptor> {
    if mode == Tls::None {
        return None;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT)
        .collect::<Result<_, _>>()
        .expect("bundled certificate");
    let key = PrivateKeyDer::from_pem_slice(KEY).expect("bundled key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    if mode == Tls::Resume {
        // Stateless tickets, as common HTTPS servers issue them: any ticket the client
        // holds stays usable (a small stateful cache would evict them under load).
        cfg.ticketer = rustls::crypto::ring::Ticketer::new().expect("ticketer");
    } else if mode == Tls::Full {
        cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
    }
    Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Answers every request on a connection with 200 "ok" until the peer closes (or asks
/// to close).
async fn serve_http<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    stats: &ServerStats,
) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return;
        }
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let close = buf[..end]
                .to_ascii_lowercase()
                .windows(17)
                .any(|w| w == b"connection: close");
            buf.drain(..end + 4);
            stats.requests.fetch_add(1, Ordering::Relaxed);
            if s.write_all(RESPONSE).await.is_err() {
                return;
            }
            if close {
                let _ = s.shutdown().await;
                return;
            }
        }
    }
}

/// Starts `n` listeners on 127.0.0.1 on a thread pinned to `cpu`; returns their
/// addresses, the counters and a stop switch.
fn start_servers(
    n: usize,
    http: bool,
    tls: Tls,
    cpu: Option<usize>,
) -> (
    Vec<SocketAddr>,
    Arc<ServerStats>,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let stats = Arc::new(ServerStats::default());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let st = Arc::clone(&stats);
    let join = std::thread::spawn(move || {
        pin(cpu);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let acceptor = tls_acceptor(tls);
            let mut addrs = Vec::new();
            for i in 0..n {
                // 127.0.0.1, 127.0.0.2, ...: loopback addresses, so that TLS clients keep
                // one session cache entry per listener (they key sessions by address).
                let ip = std::net::Ipv4Addr::from(0x7f00_0001u32 + (i % 250) as u32);
                let l = TcpListener::bind(SocketAddr::from((ip, 0)))
                    .await
                    .expect("bind loopback");
                addrs.push(l.local_addr().expect("local addr"));
                let st = Arc::clone(&st);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    loop {
                        let Ok((s, _)) = l.accept().await else {
                            continue;
                        };
                        st.accepted.fetch_add(1, Ordering::Relaxed);
                        if !http {
                            drop(s);
                            continue;
                        }
                        let st = Arc::clone(&st);
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let _ = s.set_nodelay(true);
                            match acceptor {
                                None => serve_http(s, &st).await,
                                Some(a) => {
                                    if let Ok(t) = a.accept(s).await {
                                        match t.get_ref().1.handshake_kind() {
                                            Some(rustls::HandshakeKind::Resumed) => {
                                                st.resumed.fetch_add(1, Ordering::Relaxed)
                                            }
                                            _ => st.full.fetch_add(1, Ordering::Relaxed),
                                        };
                                        serve_http(t, &st).await;
                                    }
                                }
                            }
                        });
                    }
                });
            }
            let _ = addr_tx.send(addrs);
            let _ = stop_rx.await;
        });
    });
    let addrs = addr_rx.recv().expect("server thread started");
    (addrs, stats, stop_tx, join)
}

struct Throughput {
    ok: u64,
    failed: u64,
    wall: Duration,
    cpu: Duration,
}

/// Runs `conc` probe loops, loop `i` against `targets[i % len]`, for `secs`.
async fn hammer(
    checker: Arc<dyn Checker>,
    targets: &[SocketAddr],
    conc: usize,
    secs: f64,
) -> Throughput {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let cpu0 = thread_cpu();
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..conc {
        let checker = Arc::clone(&checker);
        let target = Target::new(targets[i % targets.len()]);
        let ok = Arc::clone(&ok);
        let failed = Arc::clone(&failed);
        let ff = Arc::clone(&first_failure);
        tasks.spawn(async move {
            while Instant::now() < end {
                match checker.check(&target).await {
                    CheckOutcome::Success { .. } => ok.fetch_add(1, Ordering::Relaxed),
                    CheckOutcome::Failure(r) => {
                        let mut f = ff.lock().unwrap_or_else(|p| p.into_inner());
                        f.get_or_insert_with(|| r.to_string());
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let out = Throughput {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        wall: start.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu0),
    };
    if let Some(f) = first_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        eprintln!("  first failure: {f}");
    }
    out
}

fn report(name: &str, t: &Throughput, extra: &str) {
    let per_wall = t.ok as f64 / t.wall.as_secs_f64();
    let per_cpu = t.ok as f64 / t.cpu.as_secs_f64().max(1e-9);
    println!(
        "{name:<14} {:>9.0} checks/s (wall, 1 core)  {:>9.0} checks/CPU-s  ok {} failed {} in {:.2} s, client CPU {:.2} s{extra}",
        per_wall,
        per_cpu,
        t.ok,
        t.failed,
        t.wall.as_secs_f64(),
        t.cpu.as_secs_f64()
    );
}

async fn throughput(o: &Opts, name: &str) {
    let timeout = Duration::from_secs(5);
    let (http, tls) = match name {
        "tcp" => (false, Tls::None),
        "http" => (true, Tls::None),
        "https-resume" => (true, Tls::Resume),
        _ => (true, Tls::Full),
    };
    // One listener per probe loop for HTTP, so each loop keeps its own connection.
    let listeners = if http { o.conc } else { 1 };
    let (addrs, stats, stop, join) = start_servers(listeners, http, tls, o.server_cpu);
    let checker: Arc<dyn Checker> = if !http {
        Arc::new(TcpCheck::connect(timeout))
    } else {
        let mut c = HttpCheck::new(timeout, UrlCheck::new("/").expect("static path"));
        c.keep_alive = tls == Tls::None;
        if tls != Tls::None {
            c.tls = Some(TlsClient::new(TlsVerify::Skip, None).expect("tls client"));
        }
        Arc::new(c)
    };
    let t = hammer(checker, &addrs, o.conc, o.secs).await;
    let extra = format!(
        "; server: {} connections, {} requests, {} resumed / {} full handshakes",
        stats.accepted.load(Ordering::Relaxed),
        stats.requests.load(Ordering::Relaxed),
        stats.resumed.load(Ordering::Relaxed),
        stats.full.load(Ordering::Relaxed)
    );
    report(name, &t, &extra);
    let _ = stop.send(());
    let _ = join.join();
}

async fn timers(o: &Opts, tcp: bool) {
    let (addrs, stats, stop, join) = start_servers(1, false, Tls::None, o.server_cpu);
    let (runner, handle, mut events) =
        Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(7));
    let task = tokio::spawn(runner.run());
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let checker: Arc<dyn Checker> = if tcp {
        Arc::new(TcpCheck::connect(Duration::from_secs(1)))
    } else {
        Arc::new(FnChecker(|_t: Target| async { CheckOutcome::OK }))
    };
    let timing = CheckTiming {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        warmup: true,
        ..CheckTiming::default()
    };
    let setup = Instant::now();
    for i in 0..o.targets {
        // Distinct checks: with a real server every check probes the one listener under
        // its own key; without, each has its own (never contacted) target.
        let (key, target) = if tcp {
            (CheckerKey(format!("tcp-{i}")), addrs[0])
        } else {
            let port = 1 + (i % 65_000) as u16;
            let ip = std::net::Ipv4Addr::from(0x7f00_0000u32 + 1 + (i / 65_000) as u32);
            (CheckerKey::new("noop"), SocketAddr::from((ip, port)))
        };
        let spec = CheckSpec {
            checker: key,
            target: Target::new(target),
            timing: timing.clone(),
        };
        if handle.subscribe(spec, Arc::clone(&checker)).await.is_err() {
            eprintln!("runner stopped");
            return;
        }
    }
    let setup = setup.elapsed();
    let cpu0 = thread_cpu();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(o.secs)).await;
    let st = match handle.stats().await {
        Ok(s) => s,
        Err(_) => return,
    };
    let wall = start.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu0);
    handle.stop().await;
    let _ = task.await;
    let h = &st.start_lateness;
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!(
        "{:<14} {} checks x 1 s, warmup, {:.1} s: {} probes ({:.0}/s), start lateness p50 <= {:.2} ms, p99 <= {:.2} ms, p99.9 <= {:.2} ms, max {:.2} ms; timeouts {}, failures {:?}; client CPU {:.2} s ({:.0}%); subscribe {:.2} s{}",
        if tcp { "timers-tcp" } else { "timers" },
        o.targets,
        wall.as_secs_f64(),
        h.count(),
        h.count() as f64 / wall.as_secs_f64(),
        ms(h.quantile(0.5)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        h.max.as_secs_f64() * 1e3,
        st.timeouts,
        st.failures_by_kind,
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        setup.as_secs_f64(),
        if tcp {
            format!(
                "; server accepted {}",
                stats.accepted.load(Ordering::Relaxed)
            )
        } else {
            String::new()
        }
    );
    let _ = stop.send(());
    let _ = join.join();
}

async fn timers_baseline(o: &Opts) {
    let hist = Arc::new(std::sync::Mutex::new(LatenessHistogram::default()));
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs_f64(o.secs);
    let cpu0 = thread_cpu();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.targets {
        // Spread the first deadlines over a second, like warmup, after a second for
        // spawning every task.
        let offset = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000_000;
        let mut next = start + Duration::from_secs(1) + Duration::from_nanos(offset);
        let hist = Arc::clone(&hist);
        tasks.spawn(async move {
            while next < end {
                tokio::time::sleep_until(next).await;
                let late = tokio::time::Instant::now().saturating_duration_since(next);
                hist.lock().unwrap_or_else(|p| p.into_inner()).record(late);
                next += Duration::from_secs(1);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let wall = start.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu0);
    let h = hist.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!(
        "{:<14} {} tasks x 1 s sleep_until, {:.1} s: {} wakeups, lateness p50 <= {:.2} ms, p99 <= {:.2} ms, p99.9 <= {:.2} ms, max {:.2} ms; client CPU {:.2} s",
        "timers-base",
        o.targets,
        wall.as_secs_f64(),
        h.count(),
        ms(h.quantile(0.5)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        h.max.as_secs_f64() * 1e3,
        cpu.as_secs_f64(),
    );
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hc_bench: {e}");
            std::process::exit(2);
        }
    };
    pin(o.client_cpu);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let names: Vec<&str> = match o.which.as_str() {
        "all" => vec![
            "tcp",
            "http",
            "https-resume",
            "https-full",
            "timers",
            "timers-baseline",
            "timers-tcp",
        ],
        w => vec![w],
    };
    println!(
        "# hc_bench: client on CPU {:?}, servers on CPU {:?} (None: not pinned), current-thread runtimes, {} s per run, {} in flight",
        o.client_cpu, o.server_cpu, o.secs, o.conc
    );
    for name in names {
        rt.block_on(async {
            match name {
                "tcp" | "http" | "https-resume" | "https-full" => throughput(&o, name).await,
                "timers" => timers(&o, false).await,
                "timers-tcp" => timers(&o, true).await,
                "timers-baseline" => timers_baseline(&o).await,
                other => eprintln!("unknown benchmark {other}"),
            }
        });
    }
}

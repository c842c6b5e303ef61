//! BFD at scale over real sockets, between two network namespaces (root only; skips
//! otherwise):
//!
//! 1. **sessions per core**: N sessions at 10 ms × 3 between two of our engines (each on
//!    its own thread, current-thread tokio runtime) for a fixed time; counts every false
//!    Down (an Up session going Down) and the CPU time of each engine's thread;
//! 2. the same N sessions between our engine and FRR's bfdd (when installed), with FRR's
//!    CPU time and its own count of Down events;
//! 3. the transmit gaps: every packet our engine sends is timestamped per session (source
//!    port) by a recording [`PacketIo`] wrapper, giving the largest gap between two
//!    consecutive packets of one session (RFC 5880 section 6.8.7: at most the interval).
//!
//! `BFD_SCALE_SESSIONS=100,1000` (default) and `BFD_SCALE_SECS=60` (default) choose the
//! load; `BFD_SCALE_RCVBUF_MIB` sets each engine's socket receive buffer (default: the
//! adapter's, `ha_bfd::linux::DEFAULT_RECEIVE_BUFFER`); `BFD_SCALE_TIMERS=tokio` runs the
//! engines on tokio's timer wheel with a 1 ms slack instead of `ha_bfd::linux::driver`'s
//! timerfd; `BFD_SCALE_COALESCE_US` sets that timerfd's coalescing window;
//! `BFD_SCALE_RT_PRIORITY=N` runs both sides under `SCHED_RR` at priority N. Run with
//! `cargo bench -p ha-benches --bench bfd_scale` as root.
// criterion is not used here, but keep the bench crate's lint setting uniform.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command as Process};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::{Command, Engine, Event, SessionConfig, SessionId, State};
use ha_core::driver::{DriverEvent, PacketIo, Timers};
use ha_core::testbed::run;
use ha_core::{RecvMeta, Transmit};

const INTERVAL: Duration = Duration::from_millis(10);
const FRR_BFDD: &str = "/usr/lib/frr/bfdd";
/// The MAC addresses of the veth ends in namespaces a and b (locally administered).
const MAC_A: &str = "02:00:5e:97:00:0a";
const MAC_B: &str = "02:00:5e:97:00:0b";

/// `BFD_SCALE_RT_PRIORITY`: run each engine (and FRR's bfdd) under `SCHED_RR` at this
/// priority, as `bfd_rt_priority` / `bfdd --rt-priority` do.
fn realtime_priority() -> Option<ha_bfd::scheduling::RealtimePriority> {
    let v = std::env::var("BFD_SCALE_RT_PRIORITY").ok()?;
    let p = v
        .parse()
        .ok()
        .and_then(ha_bfd::scheduling::RealtimePriority::new);
    assert!(p.is_some(), "BFD_SCALE_RT_PRIORITY={v}: expected 1-99");
    p
}

/// Each engine's receive buffer: `BFD_SCALE_RCVBUF_MIB`, else the adapter's default.
fn receive_buffer() -> usize {
    std::env::var("BFD_SCALE_RCVBUF_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(ha_bfd::linux::DEFAULT_RECEIVE_BUFFER, |mib| mib << 20)
}

/// Two namespaces joined by a veth pair; deleted (and FRR killed) on drop.
struct Lab {
    a: String,
    b: String,
    dir: std::path::PathBuf,
    children: Vec<Child>,
}

impl Lab {
    fn new(n: usize) -> Lab {
        let p = format!("hbs{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("{p}-scale"));
        let _ = std::fs::create_dir_all(&dir);
        let lab = Lab {
            a: format!("{p}a"),
            b: format!("{p}b"),
            dir,
            children: Vec::new(),
        };
        run(&["ip", "netns", "add", &lab.a]);
        run(&["ip", "netns", "add", &lab.b]);
        run(&[
            "ip", "-n", &lab.a, "link", "add", "eth0", "address", MAC_A, "type", "veth", "peer",
            "name", "eth0", "address", MAC_B, "netns", &lab.b,
        ]);
        // Static neighbours: the kernel's neighbour table is shared by every namespace and
        // holds 1024 dynamic entries by default (gc_thresh3); 1000 peers behind one
        // address would fill it, and its garbage collection would evict live entries.
        // Permanent entries are outside that count.
        let mut batch =
            String::from("addr add 10.97.0.1/16 dev eth0\nlink set eth0 up\nlink set lo up\n");
        for i in 0..n {
            batch.push_str(&format!(
                "neigh replace {} lladdr {MAC_A} dev eth0 nud permanent\n",
                peer(i)
            ));
        }
        std::fs::write(lab.dir.join("b.batch"), &batch).unwrap();
        let mut batch = String::from("link set eth0 up\nlink set lo up\n");
        batch.push_str(&format!(
            "neigh replace {} lladdr {MAC_B} dev eth0 nud permanent\n",
            hub()
        ));
        for i in 0..n {
            batch.push_str(&format!("addr add {}/16 dev eth0\n", peer(i)));
        }
        std::fs::write(lab.dir.join("a.batch"), &batch).unwrap();
        for (ns, f) in [(&lab.a, "a.batch"), (&lab.b, "b.batch")] {
            run(&["ip", "-n", ns, "-batch", lab.dir.join(f).to_str().unwrap()]);
        }
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            if let Some(pg) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process_group(pg, rustix::process::Signal::KILL);
            }
            let _ = c.wait();
        }
        for ns in [&self.a, &self.b] {
            let _ = Process::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The one address of side b (FRR keys a session by its peer address, so the many
/// addresses live on our side a).
fn hub() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 97, 0, 1))
}

/// Side a's address for session `i`.
fn peer(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        97,
        (i / 250 + 1) as u8,
        (i % 250 + 1) as u8,
    ))
}

fn session(i: usize, local: IpAddr, remote: IpAddr) -> SessionConfig {
    let mut c = SessionConfig::single_hop(SessionId(i as u64), local, remote);
    c.desired_min_tx = INTERVAL;
    c.required_min_rx = INTERVAL;
    c.detect_mult = 3;
    c
}

/// Transmit gaps in 100 µs buckets up to 100 ms, plus the maximum.
#[derive(Default)]
struct GapHistogram {
    buckets: Vec<u64>,
    max: Duration,
    count: u64,
}

impl GapHistogram {
    fn record(&mut self, gap: Duration) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; 1001];
        }
        let b = ((gap.as_micros() / 100) as usize).min(1000);
        self.buckets[b] += 1;
        self.count += 1;
        self.max = self.max.max(gap);
    }

    fn quantile(&self, q: f64) -> Duration {
        let target = (self.count as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Duration::from_micros((i as u64 + 1) * 100);
            }
        }
        self.max
    }
}

/// Records, per UDP source port, the gaps between consecutive sends, and when datagrams
/// were received (all sessions share one receiving socket, so a quiet spell there is
/// the engine's view of a peer that went silent).
struct Recorder<Io> {
    inner: Io,
    last: HashMap<u16, Instant>,
    gaps: Arc<Mutex<GapHistogram>>,
    recording: Arc<AtomicBool>,
    received: Arc<Mutex<ReceiveLog>>,
}

/// When the engine last received a datagram, and the longest quiet spell while recording.
#[derive(Default)]
struct ReceiveLog {
    last: Option<Instant>,
    longest_gap: Duration,
}

impl<Io: PacketIo> PacketIo for Recorder<Io> {
    fn recv(
        &mut self,
        buf: &mut [u8],
    ) -> impl std::future::Future<Output = io::Result<(usize, RecvMeta)>> + Send {
        let (inner, received, recording) = (&mut self.inner, &self.received, &self.recording);
        async move {
            let got = inner.recv(buf).await;
            let now = Instant::now();
            if let Ok(mut log) = received.lock() {
                if let Some(prev) = log.last.filter(|_| recording.load(Ordering::Relaxed)) {
                    log.longest_gap = log.longest_gap.max(now - prev);
                }
                log.last = Some(now);
            }
            got
        }
    }

    async fn send(&mut self, transmit: &Transmit, payload: &[u8]) -> io::Result<()> {
        let now = Instant::now();
        if let Some(port) = transmit.source_port {
            let prev = self.last.insert(port, now);
            if let Some(prev) = prev.filter(|_| self.recording.load(Ordering::Relaxed)) {
                if let Ok(mut h) = self.gaps.lock() {
                    h.record(now - prev);
                }
            }
        }
        self.inner.send(transmit, payload).await
    }
}

/// With `BFD_SCALE_FTRACE=1`, marks `why` in the kernel's trace and stops tracing, so the
/// ring buffer (set up by the caller, in overwrite mode) ends with the moments before a
/// false Down.
fn stop_kernel_trace(why: &str) {
    if std::env::var_os("BFD_SCALE_FTRACE").is_some() {
        let _ = std::fs::write("/sys/kernel/tracing/trace_marker", why);
        let _ = std::fs::write("/sys/kernel/tracing/tracing_on", "0");
    }
}

fn cpu_of(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The fields after the command name (which may hold spaces); utime and stime are
    // fields 14 and 15 of the whole line.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// The network namespace's count of UDP datagrams the kernel dropped because a socket's
/// receive buffer was full (`RcvbufErrors` in `snmp`, e.g. `/proc/thread-self/net/snmp`
/// for the calling thread's namespace or `/proc/PID/net/snmp` for a process's).
fn udp_rcvbuf_errors(snmp_path: &str) -> u64 {
    let snmp = std::fs::read_to_string(snmp_path).unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// What one engine thread measured.
struct Report {
    up_after: Option<Duration>,
    false_downs: usize,
    cpu: Duration,
    gaps: GapHistogram,
    /// The latest the driver noticed a timer fire, and how often it was 5 ms or more late.
    late_max: Duration,
    late_5ms: u64,
    /// Datagrams dropped by the kernel in this engine's namespace for a full receive
    /// buffer during the measurement.
    rcvbuf_drops: u64,
    /// Packets the driver could not send (the socket refused them).
    send_failures: u64,
    /// The longest time between two datagrams received during the measurement.
    longest_receive_gap: Duration,
}

/// When an engine thread's measurement starts and ends, for the peer's figures to cover
/// the same window.
struct Window {
    /// Signalled when the measurement starts and when it ends.
    marks: std::sync::mpsc::Sender<()>,
    /// The engine keeps its sessions running after the measurement until this is
    /// signalled (or dropped), so the peer's counters are read before our sessions stop.
    release: std::sync::mpsc::Receiver<()>,
}

/// Runs an engine with `sessions` in namespace `ns`: waits until all are Up (at most
/// 60 s), signals `ready`, waits for `go`, then measures for `secs`.
fn spawn_engine(
    ns: String,
    sessions: Vec<SessionConfig>,
    secs: Duration,
    seed: u64,
    ready: std::sync::mpsc::Sender<bool>,
    go: std::sync::mpsc::Receiver<()>,
    window: Option<Window>,
) -> thread::JoinHandle<Report> {
    thread::spawn(move || {
        if let Some(realtime) = realtime_priority() {
            let scheduling = ha_bfd::scheduling::Scheduling {
                realtime: Some(realtime),
                ..Default::default()
            };
            ha_bfd::linux::apply_scheduling(&scheduling).expect("SCHED_RR");
        }
        ha_core::testbed::enter_namespace(&ns).expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let n = sessions.len();
            let listen = ListenConfig {
                ipv6: false,
                multihop: false,
                receive_buffer: Some(receive_buffer()),
                ..ListenConfig::default()
            };
            let gaps = Arc::new(Mutex::new(GapHistogram::default()));
            let recording = Arc::new(AtomicBool::new(false));
            let received = Arc::new(Mutex::new(ReceiveLog::default()));
            let io = Recorder {
                inner: UdpIo::open(&listen).expect("sockets"),
                last: HashMap::new(),
                gaps: gaps.clone(),
                recording: recording.clone(),
                received: received.clone(),
            };
            let engine = Engine::new(ha_core::rng::seeded(seed));
            let (mut driver, handle, mut events) = ha_bfd::linux::driver(engine, io);
            if let Some(us) = std::env::var("BFD_SCALE_COALESCE_US").ok().and_then(|v| v.parse().ok()) {
                let timers = Timers::TimerFd { coalesce: Duration::from_micros(us) };
                driver.set_timers(timers).expect("timerfd");
                driver.endpoint_mut().set_timer_slack(timers.expected_lateness());
            }
            if std::env::var("BFD_SCALE_TIMERS").is_ok_and(|t| t == "tokio") {
                // As before the timerfd: tokio's timer wheel, a 1 ms slack.
                driver.set_timers(Timers::Tokio).expect("tokio timers");
                driver
                    .endpoint_mut()
                    .set_timer_slack(ha_core::driver::TIMER_GRANULARITY);
            }
            for config in sessions {
                let _ = handle.command(Command::AddSession { config });
            }
            let task = tokio::spawn(driver.run());
            let start = Instant::now();
            let mut up = 0usize;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while up < n {
                match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Some(DriverEvent::Endpoint(Event::StateChanged(c)))) => {
                        if c.to == State::Up {
                            up += 1;
                        } else if c.from == State::Up {
                            up -= 1;
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            let up_after = (up == n).then(|| start.elapsed());
            let _ = ready.send(up == n);
            // Wait (without blocking the runtime) for the other side to be Up too.
            while go.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
                while events.try_recv().is_ok() {}
            }
            // Settle for a second: the Poll Sequences that follow Up switch every session
            // from the 1 s pre-Up rate to 10 ms; measure only the steady state after.
            let settle = tokio::time::Instant::now() + Duration::from_secs(1);
            let mut settle_downs = 0;
            while let Ok(ev) = tokio::time::timeout_at(settle, events.recv()).await {
                match ev {
                    Some(DriverEvent::Endpoint(Event::StateChanged(c))) if c.from == State::Up => {
                        settle_downs += 1;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            if settle_downs > 0 {
                println!("  {ns}: {settle_downs} Downs in the second after all were Up");
            }
            recording.store(true, Ordering::Relaxed);
            if let Some(w) = &window {
                let _ = w.marks.send(());
            }
            let cpu0 = cpu_of("/proc/thread-self/stat");
            let drops0 = udp_rcvbuf_errors("/proc/thread-self/net/snmp");
            let until = tokio::time::Instant::now() + secs;
            let mut false_downs = settle_downs;
            let mut late_max = Duration::ZERO;
            let mut late_5ms = 0u64;
            let mut send_failures = 0u64;
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Some(DriverEvent::Endpoint(Event::StateChanged(c))) if c.from == State::Up => {
                            if false_downs == settle_downs {
                                let quiet = received
                                    .lock()
                                    .ok()
                                    .and_then(|log| log.last)
                                    .map(|last| last.elapsed());
                                let line = format!(
                                    "first false Down in {ns}: {} {:?} (peer {}) {:?} into the \
                                     run; last datagram received {quiet:?} before",
                                    c.session,
                                    c.diagnostic,
                                    c.remote_state,
                                    secs.saturating_sub(until - tokio::time::Instant::now())
                                );
                                stop_kernel_trace(&line);
                                println!("  {line}");
                            }
                            false_downs += 1;
                        }
                        Some(DriverEvent::SendFailed { .. }) => send_failures += 1,
                        Some(DriverEvent::LateTimer { late }) => {
                            late_max = late_max.max(late);
                            if late >= Duration::from_millis(5) {
                                late_5ms += 1;
                            }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    () = tokio::time::sleep_until(until) => break,
                }
            }
            let cpu = cpu_of("/proc/thread-self/stat") - cpu0;
            let rcvbuf_drops =
                udp_rcvbuf_errors("/proc/thread-self/net/snmp").saturating_sub(drops0);
            recording.store(false, Ordering::Relaxed);
            if let Some(w) = &window {
                let _ = w.marks.send(());
                while let Err(std::sync::mpsc::TryRecvError::Empty) = w.release.try_recv() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    while events.try_recv().is_ok() {}
                }
            }
            handle.stop().await;
            let _ = task.await;
            let gaps = std::mem::take(&mut *gaps.lock().unwrap());
            let longest_receive_gap = received.lock().map(|log| log.longest_gap).unwrap_or_default();
            Report {
                longest_receive_gap,
                up_after,
                false_downs,
                cpu,
                gaps,
                late_max,
                late_5ms,
                rcvbuf_drops,
                send_failures,
            }
        })
    })
}

fn print(label: &str, n: usize, secs: Duration, r: &Report) {
    let share = r.cpu.as_secs_f64() / secs.as_secs_f64();
    println!(
        "{label}: {n} sessions at 10 ms x 3 for {secs:?}: all Up after {:?}; false Downs {}; \
         CPU {:.1} % of one core ({:.0} sessions per core at this rate); tx gaps: p50 {:?} \
         p99 {:?} p99.99 {:?} max {:?} over {} gaps; timers late by 5 ms or more {} times, \
         at most {:?}; {} datagrams dropped for a full receive buffer; {} sends failed; \
         longest receive gap {:?}",
        r.up_after,
        r.false_downs,
        share * 100.0,
        if share > 0.0 {
            n as f64 / share
        } else {
            f64::INFINITY
        },
        r.gaps.quantile(0.5),
        r.gaps.quantile(0.99),
        r.gaps.quantile(0.9999),
        r.gaps.max,
        r.gaps.count,
        r.late_5ms,
        r.late_max,
        r.rcvbuf_drops,
        r.send_failures,
        r.longest_receive_gap,
    );
}

fn ours_vs_ours(n: usize, secs: Duration) {
    let lab = Lab::new(n);
    let a: Vec<_> = (0..n).map(|i| session(i, peer(i), hub())).collect();
    let b: Vec<_> = (0..n).map(|i| session(i, hub(), peer(i))).collect();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_a, go_a_rx) = std::sync::mpsc::channel();
    let (go_b, go_b_rx) = std::sync::mpsc::channel();
    let ta = spawn_engine(lab.a.clone(), a, secs, 11, ready_tx.clone(), go_a_rx, None);
    let tb = spawn_engine(lab.b.clone(), b, secs, 22, ready_tx, go_b_rx, None);
    let ok = ready_rx.recv().unwrap_or(false) & ready_rx.recv().unwrap_or(false);
    if !ok {
        println!("ours vs ours, {n} sessions: not all sessions came Up within 60 s");
    }
    let _ = go_a.send(());
    let _ = go_b.send(());
    let ra = ta.join().expect("engine a");
    let rb = tb.join().expect("engine b");
    print("ours vs ours (side a)", n, secs, &ra);
    print("ours vs ours (side b)", n, secs, &rb);
    drop(lab);
}

fn vtysh(lab: &Lab, command: &str) -> String {
    let out = Process::new("vtysh")
        .args(["--vty_socket", lab.dir.to_str().unwrap(), "-d", "bfdd"])
        .args(["-c", command])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn frr_peers(lab: &Lab) -> String {
    vtysh(lab, "show bfd peers counters json")
}

fn ours_vs_frr(n: usize, secs: Duration) {
    let mut lab = Lab::new(n);
    let d = lab.dir.to_str().unwrap().to_string();
    let mut conf = String::from("bfd\n");
    for i in 0..n {
        conf.push_str(&format!(
            " peer {} local-address {}\n  detect-multiplier 3\n  receive-interval 10\n  \
             transmit-interval 10\n exit\n",
            peer(i),
            hub()
        ));
    }
    conf.push_str("exit\n");
    std::fs::write(lab.dir.join("bfdd.conf"), conf).unwrap();
    run(&["chown", "-R", "frr:frr", &d]);
    let log = File::create(lab.dir.join("bfdd.out")).unwrap();
    // `chrt` and `ip netns exec` exec bfdd, so the child's pid is bfdd's.
    let mut command = match realtime_priority() {
        Some(p) => {
            let mut c = Process::new("chrt");
            c.args(["-r", &p.get().to_string(), "ip"]);
            c
        }
        None => Process::new("ip"),
    };
    let child = command
        .args(["netns", "exec", &lab.b, FRR_BFDD])
        .args([
            "-f",
            &format!("{d}/bfdd.conf"),
            "-i",
            &format!("{d}/bfdd.pid"),
        ])
        .args(["--vty_socket", &d, "--bfdctl", &format!("{d}/bfdd.sock")])
        .args(["-A", "127.0.0.1", "--log", &format!("file:{d}/bfdd.log")])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("bfdd");
    let frr_pid = child.id();
    lab.children.push(child);
    let a: Vec<_> = (0..n).map(|i| session(i, peer(i), hub())).collect();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let (marks, marks_rx) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let window = Window {
        marks,
        release: release_rx,
    };
    let t = spawn_engine(lab.a.clone(), a, secs, 33, ready_tx, go_rx, Some(window));
    if !ready_rx.recv().unwrap_or(false) {
        println!("ours vs FRR, {n} sessions: not all sessions came Up within 60 s");
    }
    // Our side is Up once FRR is in Init; wait until FRR reports every peer up too.
    let start = Instant::now();
    loop {
        let up = vtysh(&lab, "show bfd peers json")
            .split_whitespace()
            .collect::<String>()
            .matches("\"status\":\"up\"")
            .count();
        if up >= n || start.elapsed() > Duration::from_secs(30) {
            if up < n {
                println!("ours vs FRR: FRR has only {up} of {n} peers up");
            }
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = go.send(());
    // FRR's figures cover our measurement window (after the settling second), and are
    // read while our sessions still run: once they stop, FRR rightly counts every
    // session Down.
    let _ = marks_rx.recv();
    let before = frr_peers(&lab);
    let downs_before = count_downs(&before);
    if std::env::var_os("BFD_SCALE_DEBUG").is_some() {
        println!("FRR counters before: {}", &before[..before.len().min(400)]);
    }
    let cpu0 = cpu_of(&format!("/proc/{frr_pid}/stat"));
    let frr_snmp = format!("/proc/{frr_pid}/net/snmp");
    let frr_drops0 = udp_rcvbuf_errors(&frr_snmp);
    let _ = marks_rx.recv();
    let frr_cpu = cpu_of(&format!("/proc/{frr_pid}/stat")) - cpu0;
    let frr_drops = udp_rcvbuf_errors(&frr_snmp).saturating_sub(frr_drops0);
    let after = frr_peers(&lab);
    let downs_after = count_downs(&after);
    if std::env::var_os("BFD_SCALE_DEBUG").is_some() {
        let peers = vtysh(&lab, "show bfd peers");
        println!(
            "FRR peers after the run:\n{}",
            &peers[..peers.len().min(3000)]
        );
    }
    let _ = release.send(());
    let r = t.join().expect("engine");
    if std::env::var_os("BFD_SCALE_DEBUG").is_some() {
        println!("FRR counters after: {}", &after[..after.len().min(400)]);
    }
    print("ours vs FRR (our side)", n, secs, &r);
    println!(
        "ours vs FRR (FRR side): {n} sessions: FRR CPU {:.1} % of one core; FRR Down events \
         during the run {}; {frr_drops} datagrams dropped for a full receive buffer",
        frr_cpu.as_secs_f64() / secs.as_secs_f64() * 100.0,
        downs_after.saturating_sub(downs_before)
    );
    drop(lab);
}

/// Sums FRR's per-peer "session-down" counters.
fn count_downs(json: &str) -> u64 {
    let mut total = 0;
    let key = "\"session-down\":";
    let compact: String = json.split_whitespace().collect();
    let mut rest = compact.as_str();
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        total += digits.parse::<u64>().unwrap_or(0);
    }
    total
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful either:
    // this harness only runs when asked for explicitly, as root.
    if !rustix::process::geteuid().is_root() {
        println!("bfd_scale: SKIPPED: needs root (network namespaces)");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = Duration::from_secs(
        std::env::var("BFD_SCALE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let counts: Vec<usize> = std::env::var("BFD_SCALE_SESSIONS")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // BFD_SCALE_PEERS=ours or =frr runs one of the two.
    let peers = std::env::var("BFD_SCALE_PEERS").unwrap_or_default();
    for n in counts {
        if peers != "frr" {
            ours_vs_ours(n, secs);
        }
        if peers == "ours" {
            continue;
        }
        if std::path::Path::new(FRR_BFDD).exists() {
            ours_vs_frr(n, secs);
        } else {
            println!("ours vs FRR: SKIPPED: {FRR_BFDD} is missing");
        }
    }
}

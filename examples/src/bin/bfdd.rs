//! `bfdd`: runs BFD sessions (RFC 5880/5881/5883) on Linux from a small TOML file.
//!
//! ```toml
//! # [listen]                     # all optional
//! # ipv4 = true
//! # ipv6 = true
//! # multihop_min_ttl = 254       # kernel minimum TTL on UDP 4784 (0: per session only)
//!
//! [[session]]
//! id = 1
//! local = "10.0.0.1"
//! remote = "10.0.0.2"
//! interval = "100ms"             # desired min TX and required min RX ("1s", "50ms", "300us")
//! # min_rx = "100ms"             # overrides interval for RX
//! # detect_mult = 3
//! # interface = "eth0"           # single hop: accept only from this interface
//! # multihop = false
//! # min_ttl = 254                # multihop: smallest TTL accepted
//! # passive = false
//! # [session.auth]
//! # type = "meticulous_keyed_sha1" # simple_password, keyed_md5, meticulous_keyed_md5, keyed_sha1
//! # key_id = 1
//! # secret = "s3cret"
//! ```
//!
//! `--rt-priority`, `--nice` and `--cpu-affinity` schedule the engine's thread as
//! keepalived's `bfd_rt_priority`, `bfd_priority` and `bfd_cpu_affinity` do its BFD
//! process. Every state change is logged with `tracing` (`RUST_LOG` filters). SIGINT or SIGTERM
//! removes every session, which tells each peer AdminDown (a planned shutdown, not a
//! failure), then exits. Binds UDP 3784/4784: no root needed unless `interface` is used
//! with link-local addresses that need it.
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ha_bfd::auth::{AuthKey, AuthType, KeyRing};
use ha_bfd::linux::{ListenConfig, UdpIo};
use ha_bfd::scheduling::{Nice, RealtimePriority, Scheduling};
use ha_bfd::{Command, Engine, Event, Hop, SessionConfig, SessionId};
use ha_core::IfIndex;
use ha_core::driver::DriverEvent;
use serde::Deserialize;
use tracing::{debug, error, info, warn};

/// Runs BFD sessions from a TOML file.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(short, long)]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Run the engine under `SCHED_RR` at this priority, 1-99, as keepalived's
    /// `bfd_rt_priority` (needs `CAP_SYS_NICE`). BFD at 10 ms needs a thread that runs on
    /// time.
    #[arg(long, value_parser = realtime_priority)]
    rt_priority: Option<RealtimePriority>,
    /// The engine's nice value, -20 to 19, as keepalived's `bfd_priority`.
    #[arg(long, allow_hyphen_values = true, value_parser = nice)]
    nice: Option<Nice>,
    /// The CPUs the engine may run on, comma-separated, as keepalived's
    /// `bfd_cpu_affinity`.
    #[arg(long, value_delimiter = ',')]
    cpu_affinity: Vec<usize>,
}

fn realtime_priority(v: &str) -> Result<RealtimePriority, String> {
    v.parse()
        .ok()
        .and_then(RealtimePriority::new)
        .ok_or_else(|| format!("{v:?}: expected 1-99"))
}

fn nice(v: &str) -> Result<Nice, String> {
    v.parse()
        .ok()
        .and_then(Nice::new)
        .ok_or_else(|| format!("{v:?}: expected -20 to 19"))
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    listen: ListenToml,
    #[serde(rename = "session", default)]
    sessions: Vec<SessionToml>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ListenToml {
    #[serde(default = "yes")]
    ipv4: bool,
    #[serde(default = "yes")]
    ipv6: bool,
    #[serde(default)]
    multihop_min_ttl: u8,
}

impl Default for ListenToml {
    fn default() -> Self {
        ListenToml {
            ipv4: true,
            ipv6: true,
            multihop_min_ttl: 0,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct SessionToml {
    id: u64,
    local: IpAddr,
    remote: IpAddr,
    #[serde(default = "default_interval")]
    interval: String,
    min_rx: Option<String>,
    #[serde(default = "three")]
    detect_mult: u8,
    interface: Option<String>,
    #[serde(default)]
    multihop: bool,
    #[serde(default = "default_min_ttl")]
    min_ttl: u8,
    #[serde(default)]
    passive: bool,
    auth: Option<AuthToml>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct AuthToml {
    #[serde(rename = "type")]
    auth_type: AuthType,
    key_id: u8,
    secret: String,
}

fn default_interval() -> String {
    "300ms".into()
}
fn three() -> u8 {
    3
}
fn default_min_ttl() -> u8 {
    254
}

/// Parses "100ms", "1s", "0.5s", "300us".
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!("interval {text:?}: add a unit (s, ms or us)"));
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("interval {text:?}: not a number"))?;
    let d = Duration::try_from_secs_f64(v * scale)
        .map_err(|_| format!("interval {text:?}: out of range"))?;
    if d < Duration::from_micros(1) || d > Duration::from_secs(4294) {
        return Err(format!("interval {text:?}: must be 1 us to 4294 s"));
    }
    Ok(d)
}

fn interface_index(name: &str) -> Result<IfIndex, String> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(IfIndex)
        .ok_or_else(|| format!("no interface {name:?}"))
}

fn load(text: &str) -> Result<(ListenConfig, Vec<SessionConfig>), String> {
    let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    let listen = ListenConfig {
        ipv4: file.listen.ipv4,
        ipv6: file.listen.ipv6,
        single_hop: file.sessions.iter().any(|s| !s.multihop),
        multihop: file.sessions.iter().any(|s| s.multihop),
        multihop_min_ttl: file.listen.multihop_min_ttl,
        ..ListenConfig::default()
    };
    let mut out = Vec::new();
    for s in file.sessions {
        let err = |e: String| format!("session {}: {e}", s.id);
        let mut c = SessionConfig::single_hop(SessionId(s.id), s.local, s.remote);
        let interval = parse_duration(&s.interval).map_err(err)?;
        c.desired_min_tx = interval;
        c.required_min_rx = match &s.min_rx {
            Some(t) => parse_duration(t).map_err(err)?,
            None => interval,
        };
        if s.detect_mult == 0 {
            return Err(err("detect_mult must be at least 1".into()));
        }
        c.detect_mult = s.detect_mult;
        c.passive = s.passive;
        if s.multihop {
            c.hop = Hop::MultiHop { min_ttl: s.min_ttl };
        }
        if let Some(name) = &s.interface {
            c.interface = Some(interface_index(name).map_err(err)?);
        }
        if let Some(a) = s.auth {
            let ring = KeyRing::new(a.auth_type, AuthKey::new(a.key_id, a.secret))
                .map_err(|e| err(e.to_string()))?;
            c.auth = Some(ring);
        }
        out.push(c);
    }
    Ok((listen, out))
}

/// A seed for discriminators, source ports and jitter: from the kernel when possible.
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(data) = std::fs::read("/proc/sys/kernel/random/uuid") {
        for (i, b) in data.iter().enumerate() {
            bytes[i % 8] ^= *b;
            bytes[(i + 3) % 8] = bytes[(i + 3) % 8].rotate_left(3);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    u64::from_le_bytes(bytes) ^ now ^ u64::from(std::process::id()).rotate_left(32)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            error!(config = %args.config.display(), %e, "cannot read the configuration");
            return ExitCode::FAILURE;
        }
    };
    let (listen, sessions) = match load(&text) {
        Ok(c) => c,
        Err(e) => {
            error!("invalid configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        info!(sessions = sessions.len(), "configuration is valid");
        return ExitCode::SUCCESS;
    }
    if sessions.is_empty() {
        error!("no [[session]] configured");
        return ExitCode::FAILURE;
    }
    // The runtime below runs on this thread: schedule it before it starts.
    let scheduling = Scheduling {
        realtime: args.rt_priority,
        nice: args.nice,
        cpu_affinity: args.cpu_affinity,
    };
    if !scheduling.is_default() {
        if let Err(e) = ha_bfd::linux::apply_scheduling(&scheduling) {
            error!(%e, "cannot schedule the engine as asked");
            return ExitCode::FAILURE;
        }
        info!(?scheduling, "scheduling set");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!(%e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(listen, sessions))
}

async fn run(listen: ListenConfig, sessions: Vec<SessionConfig>) -> ExitCode {
    let io = match UdpIo::open(&listen) {
        Ok(io) => io,
        Err(e) => {
            error!(%e, "cannot open the BFD sockets");
            return ExitCode::FAILURE;
        }
    };
    info!(listening = ?io.local_addrs(), "sockets open");
    let engine = Engine::new(ha_core::rng::seeded(seed()));
    let (driver, handle, mut events) = ha_bfd::linux::driver(engine, io);
    info!(timers = ?driver.timers(), "timers");
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    for config in sessions {
        let _ = handle.command(Command::AddSession { config });
    }
    let task = tokio::spawn(driver.run());
    let logger = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            log_event(event);
        }
    });
    wait_for_signal().await;
    info!("stopping: telling every peer AdminDown");
    for session in ids {
        let _ = handle.command(Command::RemoveSession { session });
    }
    handle.stop().await;
    let code = match task.await {
        Ok(Ok(engine)) => {
            let drops: Vec<_> = engine
                .drop_counters()
                .iter()
                .filter(|(_, n)| *n > 0)
                .collect();
            info!(?drops, "stopped");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            error!(%e, "driver ended with an error");
            ExitCode::FAILURE
        }
        Err(e) => {
            error!(%e, "driver task failed");
            ExitCode::FAILURE
        }
    };
    logger.abort();
    code
}

fn log_event(event: DriverEvent<Event>) {
    match event {
        DriverEvent::Endpoint(Event::StateChanged(c)) => info!(
            session = %c.session,
            local = %c.local,
            remote = %c.remote,
            from = %c.from,
            to = %c.to,
            diagnostic = ?c.diagnostic,
            remote_state = %c.remote_state,
            failure = c.is_failure(),
            "state changed"
        ),
        DriverEvent::Endpoint(Event::SessionAdded {
            session,
            local_discriminator,
            source_port,
        }) => info!(%session, local_discriminator, source_port, "session added"),
        DriverEvent::Endpoint(Event::SessionRemoved { session }) => {
            info!(%session, "session removed");
        }
        DriverEvent::Endpoint(Event::PollCompleted {
            session,
            desired_min_tx,
            required_min_rx,
        }) => info!(%session, ?desired_min_tx, ?required_min_rx, "timers in force"),
        DriverEvent::Endpoint(Event::CommandRejected { session, error }) => {
            error!(%session, %error, "command rejected");
        }
        DriverEvent::SendFailed { transmit, error } => {
            warn!(destination = %transmit.destination, %error, "send failed");
        }
        DriverEvent::RecvFailed { error } => warn!(%error, "receive failed"),
        // A few milliseconds are normal on a busy machine; tens eat into detection times.
        DriverEvent::LateTimer { late } if late >= Duration::from_millis(10) => {
            warn!(?late, "timer fired late");
        }
        DriverEvent::LateTimer { late } => debug!(?late, "timer fired late"),
        DriverEvent::TimerFailed { error } => {
            warn!(%error, "precise timer failed, falling back to tokio's");
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(%e, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_carry_units() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("0.05s"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("300us"), Ok(Duration::from_micros(300)));
        assert!(parse_duration("100").is_err());
        assert!(parse_duration("0ms").is_err());
    }

    #[test]
    fn example_config_loads() {
        let text = r#"
            [listen]
            ipv6 = false
            [[session]]
            id = 1
            local = "10.0.0.1"
            remote = "10.0.0.2"
            interval = "50ms"
            [[session]]
            id = 2
            local = "10.0.0.1"
            remote = "10.0.9.9"
            multihop = true
            min_rx = "200ms"
            [session.auth]
            type = "keyed_sha1"
            key_id = 3
            secret = "s3cret"
        "#;
        let (listen, sessions) = load(text).unwrap();
        assert!(listen.ipv4 && !listen.ipv6 && listen.single_hop && listen.multihop);
        assert_eq!(sessions[0].desired_min_tx, Duration::from_millis(50));
        assert_eq!(sessions[1].hop, Hop::MultiHop { min_ttl: 254 });
        assert_eq!(sessions[1].required_min_rx, Duration::from_millis(200));
        assert_eq!(
            sessions[1].auth.as_ref().map(KeyRing::auth_type),
            Some(AuthType::KeyedSha1)
        );
        assert!(load("[[session]]\nid = 1\n").is_err());
    }
}

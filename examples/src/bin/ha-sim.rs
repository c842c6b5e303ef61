//! `ha-sim`: a three-router VRRP cluster in the deterministic simulator.
//!
//! Election, a Master crash and the failover, the crashed router's return and preemption,
//! and a graceful shutdown — printed as a timeline in virtual time. No root, no network.
//!
//! ```text
//! cargo run --release -p ha-examples --bin ha-sim -- --seed 7 --loss 0.05 --advert-interval-ms 100
//! ```

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ha_core::Instant;
use ha_core::sim::{LinkConfig, NodeId, Sim, TraceKind};
use ha_vrrp::sim::{add_router, masters};
use ha_vrrp::{
    Centiseconds, Command, Event, Priority, Reason, Router, RouterConfig, State, Version, Vrid,
};

/// A three-router VRRP cluster, simulated: election, crash, failover, preemption, shutdown.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Seed for everything random (loss, jitter): the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Packet loss probability on the LAN, 0.0..1.0.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Advertisement interval in milliseconds (VRRPv3 carries centiseconds: a multiple of 10).
    #[arg(long, default_value_t = 1000)]
    advert_interval_ms: u64,
    /// One-way LAN delay in microseconds.
    #[arg(long, default_value_t = 100)]
    delay_us: u64,
    /// Also write the full trace as JSON Lines to this file.
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
}

const NAMES: [&str; 3] = ["r1", "r2", "r3"];
const PRIORITIES: [u8; 3] = [100, 150, 200];

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ha-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !(0.0..1.0).contains(&args.loss) {
        return Err(format!("--loss {} is outside 0.0..1.0", args.loss));
    }
    if args.advert_interval_ms % 10 != 0
        || args.advert_interval_ms == 0
        || args.advert_interval_ms > 40_950
    {
        return Err(format!(
            "--advert-interval-ms {} must be a multiple of 10 in 10..=40950 (VRRPv3 centiseconds)",
            args.advert_interval_ms
        ));
    }
    let interval = Centiseconds((args.advert_interval_ms / 10) as u16);
    let step = interval.to_duration();

    let mut sim: Sim<Router> = Sim::new(args.seed);
    let link = LinkConfig::default()
        .with_delay(Duration::from_micros(args.delay_us))
        .with_loss(args.loss);
    let lan = sim.add_segment("lan", link);
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
    let mut nodes = Vec::new();
    for (i, (name, prio)) in NAMES.iter().zip(PRIORITIES).enumerate() {
        let address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, i as u8 + 1));
        let mut config = RouterConfig::new(
            *name,
            Version::V3,
            Vrid::new(51).map_err(|e| e.to_string())?,
            Priority(prio),
            Default::default(),
            address,
            vec![vip],
        );
        config.advert_interval = interval;
        nodes.push(add_router(&mut sim, lan, config).map_err(|e| e.to_string())?);
    }
    let (r2, r3) = (nodes[1], nodes[2]);

    // The script, in advert intervals so it scales with --advert-interval-ms.
    let at = |adverts: u32| Instant::ZERO + step * adverts;
    sim.schedule_crash(at(10), r3);
    sim.schedule_restart(at(20), r3);
    sim.schedule_command(at(30), r3, Command::Shutdown);
    let end = at(36);

    println!("ha-sim: three VRRPv3 routers on one LAN, VRID 51, VIP {vip}");
    println!(
        "        priorities r1=100 r2=150 r3=200, advert interval {} ms, loss {:.1} %, seed {}",
        args.advert_interval_ms,
        args.loss * 100.0,
        args.seed
    );
    println!(
        "        Master_Down_Interval = 3 x interval + Skew_Time; Skew_Time = (256 - priority) x interval / 256"
    );
    println!();
    sim.run_until(end);

    let mut out = io::stdout().lock();
    for entry in sim.trace() {
        let who = entry.node.map(|n| sim.node_name(n)).unwrap_or("-");
        let line = match &entry.kind {
            TraceKind::Event { event } => describe(event, interval),
            TraceKind::Command { command } => Some(format!("command: {}", command_name(command))),
            TraceKind::Crashed => Some("CRASH (process killed, state lost)".to_string()),
            TraceKind::Restarted { .. } => Some("restart".to_string()),
            TraceKind::Partitioned { groups } => Some(format!("partition {groups:?}")),
            TraceKind::Healed => Some("partition healed".to_string()),
            _ => None,
        };
        if let Some(line) = line {
            writeln!(out, "{:>14}  {who:<3} {line}", entry.at.to_string())
                .map_err(|e| e.to_string())?;
        }
    }
    drop(out);

    println!();
    summarize(&sim, &nodes, interval, at(10), at(30));
    if let Some(path) = &args.trace {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        sim.write_trace_jsonl(io::BufWriter::new(file))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("full trace: {}", path.display());
    }
    let m = masters(&sim);
    if m.len() != 1 || m[0] != r2 {
        return Err(format!("expected r2 to end as the only Master, got {m:?}"));
    }
    let _ = r3;
    Ok(())
}

fn command_name(c: &Command) -> String {
    match c {
        Command::Shutdown => "graceful shutdown (sends priority 0)".into(),
        other => format!("{other:?}"),
    }
}

fn describe(event: &Event, interval: Centiseconds) -> Option<String> {
    match event {
        Event::StateChanged {
            from,
            to,
            reason,
            priority,
            ..
        } => {
            let why = match reason {
                Reason::Startup => "startup".to_string(),
                Reason::AddressOwner => "address owner".to_string(),
                Reason::ConfiguredMaster => "configured MASTER".to_string(),
                Reason::MasterDown => {
                    let skew = interval.to_duration() * (256 - u32::from(priority.get())) / 256;
                    format!(
                        "no advert for 3 x {:?} + skew {:?} = {:?}",
                        interval.to_duration(),
                        skew,
                        interval.to_duration() * 3 + skew
                    )
                }
                Reason::MasterLeft => "Master sent priority 0; waited Skew_Time".to_string(),
                Reason::Preempted { by, priority } => {
                    format!("preempted by {by} (priority {priority})")
                }
                Reason::Shutdown => "shutdown".to_string(),
                Reason::Fault { objects } => format!("fault: {}", objects.join(", ")),
                Reason::FaultCleared => "fault cleared".to_string(),
                Reason::SyncGroup { cause } => format!("sync group ({cause})"),
            };
            Some(format!("{from} -> {to:<7} prio {priority:<3} ({why})"))
        }
        Event::AddAddresses { addresses, .. } => Some(format!("  add VIP {}", list(addresses))),
        Event::RemoveAddresses { addresses, .. } => {
            Some(format!("  remove VIP {}", list(addresses)))
        }
        Event::Gratuitous {
            kind,
            addresses,
            count,
            ..
        } => Some(format!(
            "  gratuitous ARP x{count} ({kind:?}) for {}",
            list(addresses)
        )),
        Event::MasterLearned {
            master, priority, ..
        } => Some(format!("  learned Master {master} (priority {priority})")),
        Event::PriorityChanged { from, to, .. } => Some(format!("priority {from} -> {to}")),
        Event::WantMaster { .. } => Some("ready to become Master (sync group)".to_string()),
    }
}

fn list(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_master_after(sim: &Sim<Router>, after: Instant) -> Option<(Instant, NodeId)> {
    sim.events().find_map(|(t, n, e)| match e {
        Event::StateChanged {
            to: State::Master, ..
        } if t > after => Some((t, n)),
        _ => None,
    })
}

fn summarize(
    sim: &Sim<Router>,
    nodes: &[NodeId],
    interval: Centiseconds,
    crash: Instant,
    shutdown: Instant,
) {
    let skew = |p: u8| interval.to_duration() * (256 - u32::from(p)) / 256;
    if let Some((t, n)) = first_master_after(sim, crash) {
        println!(
            "failover after crash:    {} took over {:?} after the crash (bound: 3 x interval + skew = {:?} after the last advert)",
            sim.node_name(n),
            t - crash,
            interval.to_duration() * 3 + skew(150)
        );
    }
    if let Some((t, n)) = first_master_after(sim, shutdown) {
        println!(
            "failover after shutdown: {} took over {:?} after the shutdown (Skew_Time = {:?})",
            sim.node_name(n),
            t - shutdown,
            skew(150)
        );
    }
    let stats = sim.stats();
    println!(
        "packets: {} sent, {} delivered, {} lost; Masters at the end: {}",
        stats.sent,
        stats.delivered,
        stats.lost,
        masters(sim)
            .iter()
            .map(|n| sim.node_name(*n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = nodes;
}

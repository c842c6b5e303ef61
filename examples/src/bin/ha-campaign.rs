//! `ha-campaign`: simulated fault campaigns against VRRP clusters (see
//! `ha_node::campaign`). Runs a range of seeds, or replays one with its trace.
//!
//! ```text
//! cargo run --release -p ha-examples --bin ha-campaign -- --first 0 --count 100000
//! cargo run --release -p ha-examples --bin ha-campaign -- --seed 1234 --trace seed-1234.jsonl
//! ```
//!
//! `--no-bfd` runs VRRP alone; `--no-hint` keeps BFD and its tracking without the hint.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use ha_node::campaign::{BfdConfig, CampaignConfig, run_seed};

/// Random faults against simulated VRRP clusters, then invariants.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Replay one seed (prints its faults; with --trace, writes its trace).
    #[arg(long)]
    seed: Option<u64>,
    /// First seed of a campaign.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Number of seeds in a campaign.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Faults per seed.
    #[arg(long, default_value_t = 12)]
    faults: u32,
    /// Write the replayed seed's trace (JSON Lines) here.
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
    /// Run VRRP alone, without the BFD sessions, tracking and hint.
    #[arg(long)]
    no_bfd: bool,
    /// Keep the BFD sessions and tracking but not the fast failover hint.
    #[arg(long)]
    no_hint: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let defaults = CampaignConfig::default();
    let bfd = if args.no_bfd {
        None
    } else {
        defaults.bfd.map(|b| BfdConfig {
            hint: !args.no_hint,
            ..b
        })
    };
    let config = CampaignConfig {
        faults: args.faults,
        bfd,
        ..defaults
    };
    if let Some(seed) = args.seed {
        let (report, violations) = run_seed(seed, &config, args.trace.is_some());
        for f in &report.faults {
            println!("fault: {f}");
        }
        if let (Some(path), Some(trace)) = (&args.trace, &report.trace) {
            if let Err(e) = std::fs::write(path, trace) {
                eprintln!("{}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("trace: {}", path.display());
        }
        if violations.is_empty() {
            println!(
                "seed {seed}: ok ({} transitions, {} failovers checked, {} by the BFD hint, \
                 {} BFD detection Downs checked, {} outages within tolerance (up to {:?}) \
                 without a flap; failover {:?}, BFD all Up {:?} after the faults stopped)",
                report.transitions,
                report.failovers_checked,
                report.hint_failovers,
                report.bfd_downs_checked,
                report.tolerable_outages,
                report.longest_tolerable_outage,
                report.failover_time,
                report.bfd_settle
            );
            return ExitCode::SUCCESS;
        }
        for v in violations {
            println!("{v}");
        }
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let mut failed = 0u64;
    let mut transitions = 0usize;
    let mut failovers = 0usize;
    let mut hint_failovers = 0usize;
    let mut bfd_downs = 0usize;
    let mut tolerable_outages = 0usize;
    let mut failover_total = std::time::Duration::ZERO;
    let mut settle_total = std::time::Duration::ZERO;
    let mut settle_max = std::time::Duration::ZERO;
    for seed in args.first..args.first.saturating_add(args.count) {
        let (r, violations) = run_seed(seed, &config, false);
        transitions += r.transitions;
        failovers += r.failovers_checked;
        hint_failovers += r.hint_failovers;
        bfd_downs += r.bfd_downs_checked;
        tolerable_outages += r.tolerable_outages;
        failover_total += r.failover_time.unwrap_or_default();
        settle_total += r.bfd_settle;
        settle_max = settle_max.max(r.bfd_settle);
        if !violations.is_empty() {
            failed += 1;
            for v in violations {
                println!("{v}");
            }
        }
        if (seed - args.first + 1) % 10_000 == 0 {
            eprintln!(
                "... {} seeds, {failed} failed, {:?}",
                seed - args.first + 1,
                started.elapsed()
            );
        }
    }
    println!(
        "campaign: seeds {}..{}: {} passed, {failed} failed; {transitions} transitions, \
         {failovers} failovers checked against their bound ({hint_failovers} by the BFD hint), \
         {bfd_downs} BFD detection Downs checked, {tolerable_outages} outages within \
         tolerance without a flap; {:.1?}",
        args.first,
        args.first + args.count,
        args.count - failed,
        started.elapsed()
    );
    let per =
        |total: std::time::Duration, n: usize| total / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    println!(
        "mean failover after the final crash {:.1?}; BFD all Up after the faults stopped: mean {:.1?}, max {settle_max:.1?}",
        per(failover_total, failovers),
        per(
            settle_total,
            usize::try_from(args.count).unwrap_or(usize::MAX)
        ),
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

//! `ipvsctl`: a small `ipvsadm` over `ha_ipvs::client::IpvsClient` (IPVS generic netlink).
//!
//! ```text
//! ipvsctl list                               # services, destinations, counters
//! ipvsctl save                               # rules, byte for byte as `ipvsadm -Sn`
//! ipvsctl restore < rules                    # make the table equal the rules (reconcile)
//! ipvsctl add    -t 10.0.0.1:80 -s wrr       # a service (ipvsadm's rule options)
//! ipvsctl add    -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 5   # a destination (-r)
//! ipvsctl edit   -t 10.0.0.1:80 -s rr -p 30
//! ipvsctl delete -t 10.0.0.1:80 -r 10.0.1.1:80
//! ipvsctl delete -t 10.0.0.1:80
//! ```
//!
//! Rule options are `ipvsadm`'s: `-t`/`-u`/`--sctp-service ADDR:PORT`, `-f MARK [-6]`,
//! `-s SCHED`, `-b FLAGS`, `-p [SECS]`, `-M MASK`, `--pe NAME`, `-o`, `-r ADDR[:PORT]`,
//! `-g`/`-m`/`-i`, `-w`, `-x`, `-y`, `--tun-type ipip|gue|gre`, `--tun-port`,
//! `--tun-csum`/`--tun-nocsum`/`--tun-remcsum`. `restore` differs from `ipvsadm -R` on
//! purpose: it computes the difference to the current table and applies only that, so
//! restoring the same file twice changes nothing the second time. Needs the `ip_vs`
//! module and CAP_NET_ADMIN.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ha_core::Instant;
use ha_ipvs::client::{ClientConfig, IpvsClient};
use ha_ipvs::ipvsadm::{self, Rule1};
use ha_ipvs::model::{ForwardMethod, Tunnel};
use ha_ipvs::reconcile::{Reconciler, apply};
use ha_ipvs::{IpvsBackend, IpvsError};

#[derive(Parser)]
#[command(
    name = "ipvsctl",
    about = "IPVS tables over generic netlink, ipvsadm-style"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists services and destinations with their counters.
    List,
    /// Writes the table as rules (`ipvsadm -Sn` format).
    Save,
    /// Reads rules from stdin and makes the table equal to them.
    Restore,
    /// Adds a service, or a destination when `-r` is given.
    Add {
        /// ipvsadm rule options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        rule: Vec<String>,
    },
    /// Edits a service, or a destination when `-r` is given.
    Edit {
        /// ipvsadm rule options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        rule: Vec<String>,
    },
    /// Deletes a service, or a destination when `-r` is given.
    Delete {
        /// ipvsadm rule options (only the service and `-r` matter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        rule: Vec<String>,
    },
}

fn fwd_name(f: &ForwardMethod) -> &'static str {
    match f {
        ForwardMethod::Masquerade => "Masq",
        ForwardMethod::Local => "Local",
        ForwardMethod::Tunnel(Tunnel::Ipip) => "Tunnel",
        ForwardMethod::Tunnel(Tunnel::Gue { .. }) => "Tunnel(gue)",
        ForwardMethod::Tunnel(Tunnel::Gre { .. }) => "Tunnel(gre)",
        ForwardMethod::DirectRoute => "Route",
        ForwardMethod::Bypass => "Bypass",
    }
}

async fn list(c: &IpvsClient) -> Result<(), String> {
    let snap = c.dump().await.map_err(|e| e.to_string())?;
    println!(
        "{:<60} {:>8} {:>8} {:>10} {:>10}",
        "service / -> destination", "weight", "active", "inactive", "conns"
    );
    for s in &snap.services {
        println!(
            "{:<60} {:>8} {:>8} {:>10} {:>10}",
            ipvsadm::service_rule(&s.service).trim_start_matches("-A "),
            "",
            "",
            "",
            s.stats.0.conns
        );
        for d in &s.dests {
            let addr = match d.dest.key.addr {
                std::net::IpAddr::V4(a) => format!("{a}:{}", d.dest.key.port),
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", d.dest.key.port),
            };
            println!(
                "  -> {:<55} {:>8} {:>8} {:>10} {:>10}",
                format!("{addr} {}", fwd_name(&d.dest.fwd)),
                d.dest.weight,
                d.stats.active_conns,
                d.stats.inactive_conns,
                d.stats.counters.conns
            );
        }
    }
    Ok(())
}

async fn restore(c: &IpvsClient) -> Result<(), String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("stdin: {e}"))?;
    let desired = ipvsadm::parse(&text).map_err(|e| e.to_string())?;
    let actual = c.dump().await.map_err(|e| e.to_string())?;
    let plan = Reconciler::new(None).plan(Instant::ZERO, &desired, &actual);
    apply(c, &plan.ops).await.map_err(|e| e.to_string())?;
    eprintln!("ipvsctl: {} operation(s) applied", plan.ops.len());
    Ok(())
}

enum Verb {
    Add,
    Edit,
    Delete,
}

async fn change(c: &IpvsClient, verb: Verb, words: &[String]) -> Result<(), String> {
    let rule = ipvsadm::parse_words(words)?;
    let r: Result<(), IpvsError> = match (verb, &rule) {
        (Verb::Add, Rule1::Service(s)) => c.add_service(s).await,
        (Verb::Edit, Rule1::Service(s)) => c.edit_service(s).await,
        (Verb::Delete, Rule1::Service(s)) => c.del_service(&s.key).await,
        (Verb::Add, Rule1::Dest(k, d)) => c.add_dest(k, d).await,
        (Verb::Edit, Rule1::Dest(k, d)) => c.edit_dest(k, d).await,
        (Verb::Delete, Rule1::Dest(k, d)) => c.del_dest(k, &d.key).await,
    };
    r.map_err(|e| e.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match IpvsClient::connect(ClientConfig::default()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvsctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = match args.command {
        Cmd::List => list(&client).await,
        Cmd::Save => match client.dump().await {
            Ok(snap) => {
                print!("{}", ipvsadm::save(&snap));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        Cmd::Restore => restore(&client).await,
        Cmd::Add { rule } => change(&client, Verb::Add, &rule).await,
        Cmd::Edit { rule } => change(&client, Verb::Edit, &rule).await,
        Cmd::Delete { rule } => change(&client, Verb::Delete, &rule).await,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvsctl: {e}");
            ExitCode::FAILURE
        }
    }
}

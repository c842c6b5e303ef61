//! `hakeepd`: a keepalived-compatible daemon. It reads keepalived.conf and runs the VRRP
//! instances with their tracked scripts, files and interfaces, notify scripts and FIFOs;
//! it reloads on SIGHUP, dumps its state on SIGUSR1 (`keepalived.data`), SIGUSR2
//! (`keepalived.stats`) and SIGRTMIN+2 (`keepalived.json`), and can serve Prometheus
//! metrics, a JSON status and a control API on a local address.
//!
//! ```text
//! hakeepd -f /etc/keepalived/keepalived.conf            # run (in the foreground)
//! hakeepd -t -f keepalived.conf                         # check; exit 0 or 5
//! hakeepd -s blue --http 127.0.0.1:9650                 # in netns "blue", with the API
//! curl -X POST 127.0.0.1:9650/vrrp/VI_1/priority/50     # lower a priority, live
//! ```
//!
//! It never forks (`-n` is accepted for compatibility). Needs root (raw sockets, address
//! changes); see the crate's RELIABILITY.md for the capabilities.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hakeepd::daemon::{Daemon, DaemonOptions, IpvsTarget, json_signal};
use hakeepd::{config_test, exit, http, load};
use tracing::{error, info};

/// keepalived-compatible options.
#[derive(Parser, Debug)]
#[command(version, about = "A keepalived-compatible VRRP daemon")]
struct Args {
    /// The configuration file.
    #[arg(
        short = 'f',
        long = "use-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    config: PathBuf,
    /// Check the configuration, print every problem and exit (0 clean, 5 problems).
    #[arg(short = 't', long = "config-test")]
    config_test: bool,
    /// Accepted for compatibility: hakeepd always runs in the foreground.
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Accepted for compatibility: logs go to stderr (RUST_LOG filters).
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Accepted for compatibility: detail comes from RUST_LOG.
    #[arg(short = 'D', long = "log-detail")]
    log_detail: bool,
    /// Write the daemon's pid here (removed at exit).
    #[arg(short = 'p', long = "pid")]
    pid_file: Option<PathBuf>,
    /// Run in this named network namespace (/run/netns/NAME).
    #[arg(short = 's', long = "namespace")]
    namespace: Option<String>,
    /// The id `@ID` conditional lines are matched against (default: the host name).
    #[arg(short = 'i', long = "config-id")]
    config_id: Option<String>,
    /// Print the number of a signal name (HUP, USR1, USR2, TERM, JSON) and exit.
    #[arg(long)]
    signum: Option<String>,
    /// Serve /metrics, /status and the control API on this local address.
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Run only the VRRP side (keepalived's -P).
    #[arg(short = 'P', long = "vrrp")]
    vrrp_only: bool,
    /// Run only the health checks and IPVS (keepalived's -C).
    #[arg(short = 'C', long = "check")]
    check_only: bool,
    /// Do not run BFD (keepalived's -B).
    #[arg(short = 'B', long = "no_bfd")]
    no_bfd: bool,
    /// Keep the IPVS table in memory instead of the kernel (for trying a configuration
    /// on a host without ip_vs; /status shows the table).
    #[arg(long)]
    ipvs_dry_run: bool,
    /// Where SIGUSR1/SIGUSR2/JSON dumps go.
    #[arg(long, default_value = "/tmp")]
    dump_dir: PathBuf,
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
}

fn enter_namespace(name: &str) -> Result<(), String> {
    let path = PathBuf::from("/run/netns").join(name);
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| format!("entering network namespace {name}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(name) = &args.signum {
        let n = match name.to_ascii_uppercase().as_str() {
            "HUP" | "RELOAD" => libc::SIGHUP,
            "USR1" | "DATA" => libc::SIGUSR1,
            "USR2" | "STATS" => libc::SIGUSR2,
            "TERM" | "STOP" => libc::SIGTERM,
            "JSON" => json_signal(),
            other => {
                eprintln!("unknown signal name {other}");
                return ExitCode::from(exit::FATAL);
            }
        };
        println!("{n}");
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // The namespace is per thread: enter it before the runtime starts its threads.
    if let Some(ns) = &args.namespace {
        if let Err(e) = enter_namespace(ns) {
            error!("{e}");
            return ExitCode::from(exit::FATAL);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!(%e, "cannot start the runtime");
            return ExitCode::from(exit::FATAL);
        }
    };
    let conf = ha_core::conf::Options {
        config_id: args.config_id.clone().or_else(host_name),
        ..ha_core::conf::Options::default()
    };
    runtime.block_on(async move {
        if args.config_test {
            let interfaces = match load::system_interfaces().await {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("cannot read the interfaces: {e}");
                    return ExitCode::from(exit::FATAL);
                }
            };
            let code = config_test(&args.config, &conf, &interfaces, &mut std::io::stderr());
            return ExitCode::from(code);
        }
        let opts = DaemonOptions {
            config: args.config.clone(),
            conf,
            dump_dir: args.dump_dir.clone(),
            vrrp: !args.check_only,
            checks: !args.vrrp_only,
            bfd: !args.no_bfd,
            ipvs: if args.ipvs_dry_run {
                IpvsTarget::DryRun
            } else {
                IpvsTarget::Kernel
            },
        };
        let daemon = match Daemon::start(opts).await {
            Ok(d) => d,
            Err(e) => {
                error!("{e}");
                return ExitCode::from(exit::CONFIG);
            }
        };
        if let Some(addr) = args.http {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    info!(%addr, "serving /metrics, /status and the control API");
                    tokio::spawn(http::serve(l, daemon.control()));
                }
                Err(e) => {
                    error!(%addr, %e, "cannot listen");
                    return ExitCode::from(exit::FATAL);
                }
            }
        }
        if let Some(p) = &args.pid_file {
            if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
                error!(path = %p.display(), %e, "cannot write the pid file");
            }
        }
        daemon.run().await;
        if let Some(p) = &args.pid_file {
            let _ = std::fs::remove_file(p);
        }
        ExitCode::SUCCESS
    })
}

//! `hacheck`: runs one health check against a target, once or continuously, and prints
//! each probe's outcome and each verdict.
//!
//! ```text
//! hacheck tcp 127.0.0.1:22
//! hacheck http 127.0.0.1:8080 --path /health --status 200-204
//! hacheck https 10.0.0.5:443 --path / --sni www.example.test --watch --interval 2
//! hacheck dns 127.0.0.1:53 --name example.test --type A
//! hacheck misc --cmd "/usr/local/bin/check arg"
//! hacheck conf /etc/keepalived/keepalived.conf --index 1      # a checker block
//! ```
//!
//! `conf` reads a keepalived.conf (or a snippet holding a checker block), takes the
//! `--index`-th checker block found anywhere in it, and probes the enclosing
//! `real_server`'s address (or `--target`), with the timing of the block and of its
//! `virtual_server` / `real_server`. Unknown or unsupported keywords are printed as
//! warnings with their location.
//!
//! Without `--watch` or `--count`, one probe runs and the exit code is its result.
//! Otherwise the check runs on the scheduler (interval, retry, rise/fall) until `--count`
//! probes have run or SIGINT, and the exit code is the last verdict.
//! Exit codes: 0 up, 1 down, 2 bad usage or configuration.
#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use clap::{Args, Parser, Subcommand};
use ha_core::conf::{Node, Options, parse_file};
use ha_healthcheck::config::{
    CheckConfig, CheckerConfig, ExpectConfig, Payload, TlsConfig, UrlConfig,
};
use ha_healthcheck::keepalived::{CheckDefaults, MapContext, MappedCheck, is_checker, map_checker};
use ha_healthcheck::runner::Runner;
use ha_healthcheck::{CheckOutcome, Checker, Health, SchedulerConfig, Target};

#[derive(Parser)]
#[command(
    version,
    about = "Run a health check once or continuously and print verdicts"
)]
struct Cli {
    #[command(subcommand)]
    kind: Kind,
    #[command(flatten)]
    run: RunOpts,
}

#[derive(Args)]
struct RunOpts {
    /// Probe timeout in seconds (keepalived's connect_timeout).
    #[arg(long, global = true)]
    timeout: Option<f64>,
    /// Run continuously on the scheduler.
    #[arg(long, global = true)]
    watch: bool,
    /// Stop after this many probes (implies --watch).
    #[arg(long, global = true)]
    count: Option<u64>,
    /// Seconds between probes (delay_loop) when watching; 1 unless the configuration says.
    #[arg(long, global = true)]
    interval: Option<f64>,
    /// Successes to go up.
    #[arg(long, global = true)]
    rise: Option<u32>,
    /// Failures to go down.
    #[arg(long, global = true)]
    fall: Option<u32>,
    /// Retries of a failed probe.
    #[arg(long, global = true)]
    retry: Option<u32>,
    /// Seconds before a retry.
    #[arg(long, global = true)]
    delay_before_retry: Option<f64>,
    /// Start down until `rise` successes (keepalived's alpha).
    #[arg(long, global = true)]
    alpha: bool,
}

#[derive(Args)]
struct HttpOpts {
    /// Address and port.
    target: SocketAddr,
    /// URL path; repeat for several URLs (all must pass).
    #[arg(long, default_value = "/")]
    path: Vec<String>,
    /// Accepted statuses, e.g. 200-204,301 (any 2xx by default).
    #[arg(long)]
    status: Option<String>,
    /// Host header.
    #[arg(long)]
    host: Option<String>,
    /// Expected MD5 of the body.
    #[arg(long)]
    digest: Option<String>,
    /// Pattern the body must match.
    #[arg(long)]
    regex: Option<String>,
    /// Keep connections open between probes.
    #[arg(long)]
    keep_alive: bool,
}

#[derive(Subcommand)]
enum Kind {
    /// TCP connect (TCP_CHECK).
    Tcp {
        /// Address and port.
        target: SocketAddr,
    },
    /// HTTP GET (HTTP_GET).
    Http(HttpOpts),
    /// HTTPS GET (SSL_GET).
    Https {
        #[command(flatten)]
        http: HttpOpts,
        /// SNI name.
        #[arg(long)]
        sni: Option<String>,
        /// Verify the server against these PEM roots (no verification without).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Client certificate chain (PEM).
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Client key (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
    },
    /// SMTP greeting, HELO and QUIT (SMTP_CHECK).
    Smtp {
        /// Address and port.
        target: SocketAddr,
        /// Name sent with HELO.
        #[arg(long, default_value = "localhost")]
        helo: String,
    },
    /// UDP datagram (UDP_CHECK).
    Udp {
        /// Address and port.
        target: SocketAddr,
        /// Datagram: text, or hex with a hex: prefix.
        #[arg(long, default_value = "")]
        payload: String,
        /// Require a reply matching this pattern.
        #[arg(long)]
        expect: Option<String>,
        /// Require any reply.
        #[arg(long)]
        require_reply: bool,
    },
    /// DNS query (DNS_CHECK).
    Dns {
        /// Server address and port.
        target: SocketAddr,
        /// Query name.
        #[arg(long, default_value = ".")]
        name: String,
        /// Query type.
        #[arg(long = "type", default_value = "SOA")]
        rtype: String,
    },
    /// ICMP echo (PING_CHECK).
    Ping {
        /// Address.
        target: IpAddr,
    },
    /// A script (MISC_CHECK): exit 0 is up.
    Misc {
        /// Command line (no shell; quotes group words).
        #[arg(long)]
        cmd: String,
        /// Exit codes 2..=255 set the weight (misc_dynamic).
        #[arg(long)]
        dynamic: bool,
    },
    /// A tracked file (FILE_CHECK): its number times --weight.
    File {
        /// The file.
        path: PathBuf,
        /// Multiplier (0: non-zero means down).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        weight: i64,
    },
    /// A checker block from a keepalived.conf file or snippet.
    Conf {
        /// The file.
        file: PathBuf,
        /// Which checker block (0: the first found).
        #[arg(long, default_value_t = 0)]
        index: usize,
        /// Probe this address instead of the enclosing real_server's.
        #[arg(long)]
        target: Option<SocketAddr>,
        /// Configuration id for @ID lines.
        #[arg(long)]
        config_id: Option<String>,
    },
}

fn secs(s: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("--{what}: {e}"))
}

fn http_checker(o: HttpOpts, tls: Option<TlsConfig>) -> (SocketAddr, CheckerConfig) {
    let urls = o
        .path
        .into_iter()
        .map(|path| UrlConfig {
            path,
            status_code: o.status.clone(),
            digest: o.digest.clone(),
            regex: o.regex.clone(),
            regex_no_match: false,
        })
        .collect();
    (
        o.target,
        CheckerConfig::Http {
            urls,
            virtualhost: o.host,
            bind_to: None,
            keep_alive: o.keep_alive,
            tls,
        },
    )
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A checker block found in a configuration, with its inherited timing and real server.
struct Found<'a> {
    node: &'a Node,
    defaults: CheckDefaults,
    real_server: Option<SocketAddr>,
}

fn collect<'a>(
    nodes: &'a [Node],
    defaults: &CheckDefaults,
    real_server: Option<SocketAddr>,
    out: &mut Vec<Found<'a>>,
) -> Result<(), String> {
    let mut here = defaults.clone();
    for n in nodes {
        if !is_checker(&n.keyword) {
            here.apply(n).map_err(|e| e.to_string())?;
        }
    }
    for n in nodes {
        if is_checker(&n.keyword) {
            out.push(Found {
                node: n,
                defaults: here.clone(),
                real_server,
            });
        } else if n.block {
            let rs = if n.keyword == "real_server" {
                let ip = n.args.first().and_then(|a| a.parse::<IpAddr>().ok());
                let port = n
                    .args
                    .get(1)
                    .and_then(|a| a.parse::<u16>().ok())
                    .unwrap_or(0);
                ip.map(|ip| SocketAddr::new(ip, port))
            } else {
                real_server
            };
            collect(&n.children, &here, rs, out)?;
        }
    }
    Ok(())
}

fn from_conf(
    file: PathBuf,
    index: usize,
    target: Option<SocketAddr>,
    config_id: Option<String>,
) -> Result<(Target, CheckConfig), String> {
    let options = Options {
        config_id,
        ..Options::default()
    };
    let conf = parse_file(&file, &options).map_err(|e| e.to_string())?;
    let ctx = MapContext::from_config(&conf).map_err(|e| e.to_string())?;
    for w in &ctx.warnings {
        eprintln!("warning: {w}");
    }
    let mut found = Vec::new();
    collect(&conf.nodes, &CheckDefaults::default(), None, &mut found)?;
    let total = found.len();
    let f = found.into_iter().nth(index).ok_or_else(|| {
        format!(
            "{}: {total} checker block(s), no index {index}",
            file.display()
        )
    })?;
    let mut mctx = ctx.value;
    mctx.defaults = f.defaults;
    let mapped = map_checker(f.node, &mctx).map_err(|e| e.to_string())?;
    for w in &mapped.warnings {
        eprintln!("warning: {w}");
    }
    let probe = match mapped.value {
        MappedCheck::Probe(p) => p,
        MappedCheck::External(e) => {
            return Err(format!(
                "{}: {:?} is decided by another subsystem, not probed",
                e.span, e.source
            ));
        }
    };
    let rs = target.or(f.real_server).ok_or_else(|| {
        format!(
            "{}: {} is not inside a real_server; give --target",
            probe.span, probe.keyword
        )
    })?;
    let t = if target.is_some() {
        Target::new(rs)
    } else {
        probe.target(rs)
    };
    eprintln!("{}: {} -> {t}", probe.span, probe.keyword);
    Ok((t, probe.config))
}

fn build(cli: Cli) -> Result<(Target, CheckConfig, RunOpts), String> {
    let (target, mut config) = match cli.kind {
        Kind::Conf {
            file,
            index,
            target,
            config_id,
        } => from_conf(file, index, target, config_id)?,
        kind => {
            let (addr, checker) = match kind {
                Kind::Tcp { target } => (
                    target,
                    CheckerConfig::Tcp {
                        bind_to: None,
                        steps: Vec::new(),
                    },
                ),
                Kind::Http(o) => http_checker(o, None),
                Kind::Https {
                    http,
                    sni,
                    ca,
                    cert,
                    key,
                } => {
                    let tls = TlsConfig {
                        verify: ca.is_some(),
                        ca_file: ca,
                        cert_file: cert,
                        key_file: key,
                        sni,
                    };
                    http_checker(http, Some(tls))
                }
                Kind::Smtp { target, helo } => (
                    target,
                    CheckerConfig::Smtp {
                        bind_to: None,
                        helo_name: helo,
                    },
                ),
                Kind::Udp {
                    target,
                    payload,
                    expect,
                    require_reply,
                } => (
                    target,
                    CheckerConfig::Udp {
                        bind_to: None,
                        payload: Payload(payload),
                        expect: expect.map(ExpectConfig::Regex),
                        require_reply,
                    },
                ),
                Kind::Dns {
                    target,
                    mut name,
                    rtype,
                } => {
                    if !name.ends_with('.') {
                        name.push('.');
                    }
                    (
                        target,
                        CheckerConfig::Dns {
                            name,
                            rtype,
                            expect: Vec::new(),
                        },
                    )
                }
                Kind::Ping { target } => (
                    SocketAddr::new(target, 0),
                    CheckerConfig::Ping { payload_len: 56 },
                ),
                Kind::Misc { cmd, dynamic } => (
                    unspecified(),
                    CheckerConfig::Misc {
                        path: cmd,
                        timeout: None,
                        dynamic,
                        uid: None,
                        gid: None,
                    },
                ),
                Kind::File { path, weight } => (
                    unspecified(),
                    CheckerConfig::File {
                        path,
                        weight,
                        reverse: false,
                    },
                ),
                Kind::Conf { .. } => unreachable!("handled above"),
            };
            let config = CheckConfig {
                checker,
                delay_loop: Duration::from_secs(1),
                down_interval: None,
                connect_timeout: Duration::from_secs(5),
                retry: 0,
                delay_before_retry: Duration::from_secs(1),
                rise: 1,
                fall: 1,
                warmup: false,
                jitter: Duration::ZERO,
                alpha: false,
            };
            (Target::new(addr), config)
        }
    };
    let run = cli.run;
    if let Some(t) = run.timeout {
        config.connect_timeout = secs(t, "timeout")?;
    }
    if let Some(i) = run.interval {
        config.delay_loop = secs(i, "interval")?;
    }
    if let Some(d) = run.delay_before_retry {
        config.delay_before_retry = secs(d, "delay-before-retry")?;
    }
    config.rise = run.rise.unwrap_or(config.rise);
    config.fall = run.fall.unwrap_or(config.fall);
    config.retry = run.retry.unwrap_or(config.retry);
    config.alpha |= run.alpha;
    // A command-line tool probes at once.
    config.warmup = false;
    Ok((target, config, run))
}

/// Prints every probe's outcome and counts probes.
struct Printing {
    inner: Arc<dyn Checker>,
    probes: AtomicU64,
    done: tokio::sync::Notify,
    limit: Option<u64>,
}

#[async_trait]
impl Checker for Printing {
    async fn check(&self, target: &Target) -> CheckOutcome {
        let started = std::time::Instant::now();
        let outcome = self.inner.check(target).await;
        let n = self.probes.fetch_add(1, Ordering::Relaxed) + 1;
        println!(
            "probe {n} {target}: {} in {:.1} ms",
            describe(&outcome),
            started.elapsed().as_secs_f64() * 1e3
        );
        if self.limit.is_some_and(|l| n >= l) {
            self.done.notify_one();
        }
        outcome
    }
}

fn describe(o: &CheckOutcome) -> String {
    match o {
        CheckOutcome::Success { weight: None } => "ok".into(),
        CheckOutcome::Success { weight: Some(w) } => format!("ok, weight {w:?}"),
        CheckOutcome::Failure(r) => format!("failed ({}: {r})", r.kind()),
    }
}

fn code(h: Health) -> ExitCode {
    match h {
        Health::Up => ExitCode::SUCCESS,
        Health::Down => ExitCode::from(1),
    }
}

async fn run(target: Target, config: CheckConfig, opts: RunOpts) -> Result<ExitCode, String> {
    let checker = config.build().map_err(|e| e.to_string())?;
    if !opts.watch && opts.count.is_none() {
        let started = std::time::Instant::now();
        let timeout = config.timing().timeout;
        let outcome = tokio::time::timeout(timeout, checker.check(&target))
            .await
            .unwrap_or(CheckOutcome::Failure(
                ha_healthcheck::FailureReason::Timeout,
            ));
        println!(
            "{target}: {} in {:.1} ms",
            describe(&outcome),
            started.elapsed().as_secs_f64() * 1e3
        );
        return Ok(code(if outcome.is_success() {
            Health::Up
        } else {
            Health::Down
        }));
    }
    let printing = Arc::new(Printing {
        inner: checker,
        probes: AtomicU64::new(0),
        done: tokio::sync::Notify::new(),
        limit: opts.count,
    });
    let (runner, handle, mut events) =
        Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(0));
    let task = tokio::spawn(runner.run());
    let sub = handle
        .subscribe(config.spec(target), printing.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut last = if config.alpha {
        Health::Down
    } else {
        Health::Up
    };
    let mut finishing = false;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    println!("verdict {target}: {:?} ({:?})", ev.health, ev.cause);
                    last = ev.health;
                }
                None => break,
            },
            _ = printing.done.notified(), if !finishing => {
                finishing = true;
            }
            _ = tokio::signal::ctrl_c() => break,
            // After the last probe, let its verdict arrive.
            _ = tokio::time::sleep(Duration::from_millis(100)), if finishing => break,
        }
    }
    if let Ok(Some(st)) = handle.status(sub).await {
        last = st.health;
    }
    handle.stop().await;
    let _ = task.await;
    Ok(code(last))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (target, config, opts) = match build(cli) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("hacheck: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hacheck: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(target, config, opts)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hacheck: {e}");
            ExitCode::from(2)
        }
    }
}

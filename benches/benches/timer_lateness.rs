//! How late the ha-core driver fires deadlines with each [`Timers`] choice, on this
//! machine, side by side in one run.
//!
//! One endpoint with a single deadline at a time, each drawn 7.5–9 ms after the last (a BFD
//! session's jittered 10 ms interval with a 1 ms slack), runs under the driver over an
//! in-memory packet I/O with nothing to receive, on a current-thread runtime of its own
//! thread. It records `now - deadline` at every `handle_timeout`, and the thread's CPU
//! time. The choices run one after another, `TIMER_LATENESS_ROUNDS` (default 2) times
//! interleaved, `TIMER_LATENESS_DEADLINES` (default 2000) deadlines each.
//! `TIMER_LATENESS_RT_PRIORITY=N` runs the thread under `SCHED_RR` at priority N.
//!
//! `cargo bench -p ha-benches --bench timer_lateness`
// criterion is not used here, but keep the bench crate's lint setting uniform.
#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_core::driver::{Clock, Driver, DriverEvent, Timers, memory_pair};
use ha_core::{Endpoint, Instant, RecvMeta, Transmit};

/// Deadlines one after another, 7.5–9 ms apart (a small LCG keeps runs comparable).
struct Deadlines {
    next: Option<Instant>,
    left: usize,
    state: u64,
    late: Vec<Duration>,
    /// Reported once, when the last deadline has fired.
    done: bool,
}

impl Endpoint for Deadlines {
    type Command = ();
    type Event = ();

    fn handle_packet(&mut self, _: Instant, _: &RecvMeta, _: &[u8]) {}

    fn handle_command(&mut self, _: Instant, _: ()) {}

    fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.next.filter(|d| *d <= now) else {
            return;
        };
        self.late.push(now - deadline);
        self.left -= 1;
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let gap = Duration::from_micros(7_500 + (self.state >> 33) % 1_500);
        self.next = (self.left > 0).then_some(now + gap);
    }

    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<u8>) -> Option<Transmit> {
        None
    }

    fn poll_event(&mut self) -> Option<()> {
        (self.left == 0 && !std::mem::replace(&mut self.done, true)).then_some(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This thread's CPU time (utime + stime, in clock ticks of 10 ms).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |n: usize| -> u64 { fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0) };
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// Runs `deadlines` deadlines under `timers`; returns the sorted lateness and the CPU
/// time used.
fn measure(timers: Timers, deadlines: usize) -> (Vec<Duration>, Duration, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (io, _peer) = memory_pair(local, local);
        let clock = Clock::new();
        let endpoint = Deadlines {
            next: Some(clock.now() + Duration::from_millis(10)),
            left: deadlines,
            state: 7,
            late: Vec::with_capacity(deadlines),
            done: false,
        };
        let (mut driver, handle, mut events) = Driver::with_clock(endpoint, io, clock);
        driver.set_timers(timers).expect("timers");
        let cpu0 = thread_cpu();
        let wall0 = std::time::Instant::now();
        let task = tokio::spawn(driver.run());
        while let Some(event) = events.recv().await {
            if matches!(event, DriverEvent::Endpoint(())) {
                break;
            }
        }
        handle.stop().await;
        let mut endpoint = task.await.expect("driver task").expect("driver");
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        endpoint.late.sort();
        (endpoint.late, cpu, wall)
    })
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(i - 1).copied().unwrap_or_default()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds = env_number("TIMER_LATENESS_ROUNDS", 2);
    let deadlines = env_number("TIMER_LATENESS_DEADLINES", 2000);
    if let Some(p) = std::env::var("TIMER_LATENESS_RT_PRIORITY")
        .ok()
        .and_then(|v| v.parse().ok())
        .and_then(ha_bfd::scheduling::RealtimePriority::new)
    {
        let scheduling = ha_bfd::scheduling::Scheduling {
            realtime: Some(p),
            ..Default::default()
        };
        ha_bfd::linux::apply_scheduling(&scheduling).expect("SCHED_RR");
        println!("SCHED_RR priority {}", p.get());
    }
    let choices = [
        ("tokio", Timers::Tokio),
        ("spin", Timers::Spin),
        (
            "timerfd, no coalescing",
            Timers::TimerFd {
                coalesce: Duration::ZERO,
            },
        ),
        ("timerfd, precise_many", Timers::precise_many()),
    ];
    for round in 1..=rounds {
        for (name, timers) in choices {
            let (late, cpu, wall) = measure(timers, deadlines);
            if late.len() < deadlines {
                println!("{name}: only {} of {deadlines} deadlines fired", late.len());
            }
            println!(
                "round {round}, {name}: {} deadlines, late p50 {:?} p99 {:?} p99.9 {:?} max {:?}; \
                 CPU {:.2} % of a core",
                late.len(),
                quantile(&late, 0.5),
                quantile(&late, 0.99),
                quantile(&late, 0.999),
                late.last().copied().unwrap_or_default(),
                cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
            );
        }
    }
}

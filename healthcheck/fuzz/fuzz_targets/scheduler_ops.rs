//! Arbitrary sequences of scheduler calls: no panic, and the concurrency cap holds.
#![no_main]

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use ha_core::Instant;
use ha_healthcheck::{
    CheckOutcome, CheckSpec, CheckTiming, CheckerKey, FailureReason, ProbeId, Scheduler,
    SchedulerConfig, Target,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cap = data.first().map_or(1, |b| usize::from(b % 4) + 1);
    let mut s = Scheduler::new(
        SchedulerConfig {
            max_in_flight: NonZeroUsize::new(cap),
        },
        ha_core::rng::seeded(u64::from(data.len() as u32)),
    );
    let mut now = Instant::ZERO;
    let mut subs = Vec::new();
    let mut running: Vec<ProbeId> = Vec::new();
    for chunk in data.chunks(3).skip(1) {
        let (op, a, b) = (
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        );
        match op % 6 {
            0 => {
                let timing = CheckTiming {
                    interval: Duration::from_millis(u64::from(a) * 10),
                    down_interval: (b & 1 == 1).then(|| Duration::from_millis(u64::from(b))),
                    timeout: Duration::from_millis(u64::from(b) * 5),
                    rise: u32::from(a % 4),
                    fall: u32::from(b % 4),
                    retry: u32::from(a % 3),
                    delay_before_retry: Duration::from_millis(u64::from(b)),
                    warmup: a & 1 == 1,
                    jitter: Duration::from_millis(u64::from(a)),
                    alpha: b & 2 == 2,
                };
                let addr = SocketAddr::from(([127, 0, 0, 1], u16::from(a % 3)));
                subs.push(s.subscribe(
                    now,
                    CheckSpec {
                        checker: CheckerKey::new(if b % 2 == 0 { "x" } else { "y" }),
                        target: Target::new(addr),
                        timing,
                    },
                ));
            }
            1 if !subs.is_empty() => {
                let i = usize::from(a) % subs.len();
                s.unsubscribe(subs.remove(i));
            }
            2 => {
                now += Duration::from_millis(u64::from(u16::from_be_bytes([a, b])));
                s.handle_timeout(now);
            }
            3 if !running.is_empty() => {
                let p = running.remove(usize::from(a) % running.len());
                let out = if b % 2 == 0 {
                    CheckOutcome::OK
                } else {
                    CheckOutcome::Failure(FailureReason::Timeout)
                };
                s.handle_result(now, p, out);
            }
            4 => s.handle_result(now, ProbeId(u64::from(a)), CheckOutcome::OK),
            _ => {}
        }
        while let Some(req) = s.poll_start() {
            running.push(req.probe_id);
        }
        assert!(s.in_flight() <= cap);
        while s.poll_event().is_some() {}
    }
});

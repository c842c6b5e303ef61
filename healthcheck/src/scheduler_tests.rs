//! Scheduler tests, all in virtual time.

use super::*;
use ha_core::rng::seeded;
use std::net::SocketAddr;

fn target(port: u16) -> Target {
    Target::new(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn timing() -> CheckTiming {
    CheckTiming {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(3),
        delay_before_retry: Duration::from_secs(1),
        ..CheckTiming::default()
    }
}

fn spec(key: &str, port: u16, timing: CheckTiming) -> CheckSpec {
    CheckSpec {
        checker: CheckerKey::new(key),
        target: target(port),
        timing,
    }
}

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

/// What a simulated probe does: answer after a delay, or never.
type Responder<'a> = dyn FnMut(&ProbeRequest, Instant) -> Option<(Duration, CheckOutcome)> + 'a;

struct Run {
    starts: Vec<(Instant, ProbeRequest)>,
    events: Vec<VerdictEvent>,
}

/// Drives the scheduler like a runtime would, until `until` (inclusive).
fn drive(s: &mut Scheduler, start: Instant, until: Instant, respond: &mut Responder<'_>) -> Run {
    let mut pending: Vec<(Instant, ProbeId, CheckOutcome)> = Vec::new();
    let mut run = Run {
        starts: Vec::new(),
        events: Vec::new(),
    };
    let mut now = start;
    for _ in 0..100_000 {
        while let Some(req) = s.poll_start() {
            if let Some((lat, out)) = respond(&req, now) {
                pending.push((now + lat, req.probe_id, out));
            }
            run.starts.push((now, req));
        }
        while let Some(ev) = s.poll_event() {
            run.events.push(ev);
        }
        pending.sort_by_key(|p| (p.0, p.1));
        let next_result = pending.first().map(|p| p.0);
        let next = match (s.poll_timeout(), next_result) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => break,
            },
        };
        if next > until {
            break;
        }
        now = next;
        if next_result == Some(now) {
            let (_, id, out) = pending.remove(0);
            s.handle_result(now, id, out);
        } else {
            s.handle_timeout(now);
        }
    }
    run
}

fn sched() -> Scheduler {
    Scheduler::new(SchedulerConfig::default(), seeded(1))
}

fn ok() -> Option<(Duration, CheckOutcome)> {
    Some((Duration::ZERO, CheckOutcome::OK))
}

fn fail(r: FailureReason) -> Option<(Duration, CheckOutcome)> {
    Some((Duration::ZERO, CheckOutcome::Failure(r)))
}

fn transitions(run: &Run) -> Vec<(Instant, Health)> {
    run.events
        .iter()
        .filter(|e| e.cause != Cause::Initial)
        .map(|e| (e.at, e.health))
        .collect()
}

#[test]
fn alpha_starts_down_and_rises_after_rise_successes() {
    let mut s = sched();
    let t = CheckTiming {
        alpha: true,
        rise: 3,
        ..timing()
    };
    let sub = s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(35), &mut |_, _| ok());
    assert_eq!(run.events[0].cause, Cause::Initial);
    assert_eq!(run.events[0].health, Health::Down);
    assert_eq!(run.events[0].subscription, sub);
    // Probes at 0, 10, 20: the third success brings it up.
    assert_eq!(transitions(&run), vec![(secs(20), Health::Up)]);
    assert_eq!(run.events[1].cause, Cause::Rise);
}

#[test]
fn without_alpha_starts_up() {
    let mut s = sched();
    s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    let ev = s.poll_event().unwrap();
    assert_eq!((ev.health, ev.cause), (Health::Up, Cause::Initial));
}

#[test]
fn fall_needs_consecutive_failures() {
    let mut s = sched();
    let t = CheckTiming {
        fall: 2,
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    // fail, ok, fail, fail: down at the fourth probe (t = 30 s), not before.
    let mut n = 0;
    let run = drive(&mut s, Instant::ZERO, secs(45), &mut |_, _| {
        n += 1;
        match n {
            2 => ok(),
            _ => fail(FailureReason::Refused),
        }
    });
    assert_eq!(transitions(&run), vec![(secs(30), Health::Down)]);
    assert_eq!(
        run.events.last().unwrap().cause,
        Cause::Fall(FailureReason::Refused)
    );
}

#[test]
fn retries_wait_delay_and_count_as_one_failure() {
    let mut s = sched();
    let t = CheckTiming {
        retry: 2,
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(12), &mut |_, _| {
        fail(FailureReason::Reset)
    });
    let starts: Vec<_> = run.starts.iter().map(|(t, r)| (*t, r.attempt)).collect();
    // Once down, no retries: the next attempt at 12 s is the only one of its round.
    assert_eq!(
        starts,
        vec![(secs(0), 0), (secs(1), 1), (secs(2), 2), (secs(12), 0)]
    );
    let later = drive(&mut s, secs(12), secs(23), &mut |_, _| {
        fail(FailureReason::Reset)
    });
    let starts: Vec<_> = later.starts.iter().map(|(t, r)| (*t, r.attempt)).collect();
    assert_eq!(starts, vec![(secs(22), 0)]);
    assert_eq!(transitions(&run), vec![(secs(2), Health::Down)]);
    assert_eq!(s.stats().retries, 2, "none once down");
    assert_eq!(s.stats().failures_by_kind.get("reset"), Some(&5));
}

#[test]
fn first_check_is_retried_even_when_starting_down() {
    let mut s = sched();
    let t = CheckTiming {
        retry: 1,
        alpha: true,
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(12), &mut |_, _| {
        fail(FailureReason::Refused)
    });
    let starts: Vec<_> = run.starts.iter().map(|(t, r)| (*t, r.attempt)).collect();
    assert_eq!(starts, vec![(secs(0), 0), (secs(1), 1), (secs(11), 0)]);
}

#[test]
fn success_on_retry_is_a_success() {
    let mut s = sched();
    let t = CheckTiming {
        retry: 1,
        ..timing()
    };
    let sub = s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(25), &mut |r, _| {
        if r.attempt == 0 {
            fail(FailureReason::Timeout)
        } else {
            ok()
        }
    });
    assert!(transitions(&run).is_empty());
    // Next round starts an interval after the successful retry.
    let starts: Vec<_> = run.starts.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        starts,
        vec![secs(0), secs(1), secs(11), secs(12), secs(22), secs(23)]
    );
    let st = s.status(s.check_of(sub).unwrap()).unwrap();
    assert_eq!(st.health, Health::Up);
    assert_eq!(st.failures, 0);
}

#[test]
fn down_interval_applies_while_down() {
    let mut s = sched();
    let t = CheckTiming {
        down_interval: Some(Duration::from_secs(2)),
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(30), &mut |_, now| {
        if now < secs(5) || now >= secs(6) {
            fail(FailureReason::Refused)
        } else {
            ok()
        }
    });
    // Down at 0; probes every 2 s while down.
    let starts: Vec<_> = run.starts.iter().map(|(t, _)| *t).take(4).collect();
    assert_eq!(starts, vec![secs(0), secs(2), secs(4), secs(6)]);
    let mut s = sched();
    let t = CheckTiming {
        down_interval: Some(Duration::from_secs(2)),
        alpha: true,
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let mut n = 0;
    let run = drive(&mut s, Instant::ZERO, secs(30), &mut |_, _| {
        n += 1;
        if n < 3 {
            fail(FailureReason::Refused)
        } else {
            ok()
        }
    });
    // 0, 2 fail (down interval), 4 succeeds → up, then the normal interval.
    let starts: Vec<_> = run.starts.iter().map(|(t, _)| *t).collect();
    assert_eq!(starts, vec![secs(0), secs(2), secs(4), secs(14), secs(24)]);
}

#[test]
fn jitter_stays_within_bounds_and_varies() {
    let mut s = sched();
    let t = CheckTiming {
        jitter: Duration::from_secs(2),
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(2000), &mut |_, _| ok());
    let times: Vec<_> = run.starts.iter().map(|(t, _)| *t).collect();
    assert!(times.len() > 150);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for g in &gaps {
        assert!(
            *g >= Duration::from_secs(8) && *g <= Duration::from_secs(12),
            "{g:?}"
        );
    }
    let min = gaps.iter().min().unwrap();
    let max = gaps.iter().max().unwrap();
    assert!(*max - *min > Duration::from_secs(2), "jitter should spread");
}

#[test]
fn jitter_is_capped_at_half_the_interval() {
    let mut s = sched();
    let t = CheckTiming {
        jitter: Duration::from_secs(100),
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(1000), &mut |_, _| ok());
    for w in run.starts.windows(2) {
        let g = w[1].0 - w[0].0;
        assert!(g >= Duration::from_secs(5) && g <= Duration::from_secs(15));
    }
}

#[test]
fn warmup_spreads_first_probes_within_the_interval() {
    let mut s = sched();
    let t = CheckTiming {
        warmup: true,
        ..timing()
    };
    for port in 1..=50 {
        s.subscribe(Instant::ZERO, spec("tcp", port, t.clone()));
    }
    let run = drive(
        &mut s,
        Instant::ZERO,
        secs(10) - Duration::from_nanos(1),
        &mut |_, _| ok(),
    );
    assert_eq!(
        run.starts.len(),
        50,
        "every first probe falls in [0, interval)"
    );
    let mut firsts: Vec<_> = run.starts.iter().map(|(t, _)| *t).collect();
    firsts.dedup();
    assert!(firsts.len() > 40);
}

#[test]
fn same_seed_same_schedule() {
    let go = || {
        let mut s = sched();
        let t = CheckTiming {
            warmup: true,
            jitter: Duration::from_secs(1),
            ..timing()
        };
        for port in 1..=5 {
            s.subscribe(Instant::ZERO, spec("tcp", port, t.clone()));
        }
        drive(&mut s, Instant::ZERO, secs(100), &mut |_, _| ok())
            .starts
            .into_iter()
            .map(|(t, r)| (t, r.target))
            .collect::<Vec<_>>()
    };
    assert_eq!(go(), go());
}

#[test]
fn identical_checks_share_one_probe_and_fan_out() {
    let mut s = sched();
    let a = s.subscribe(Instant::ZERO, spec("http:/health", 80, timing()));
    let b = s.subscribe(Instant::ZERO, spec("http:/health", 80, timing()));
    let other_target = s.subscribe(Instant::ZERO, spec("http:/health", 81, timing()));
    let other_checker = s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    assert_eq!(s.check_of(a), s.check_of(b));
    assert_ne!(s.check_of(a), s.check_of(other_target));
    assert_ne!(s.check_of(a), s.check_of(other_checker));
    assert_eq!(s.check_count(), 3);
    let shared = s.check_of(a).unwrap();
    let run = drive(&mut s, Instant::ZERO, secs(25), &mut |r, _| {
        if r.check == shared {
            fail(FailureReason::Status(503))
        } else {
            ok()
        }
    });
    let shared_probes = run.starts.iter().filter(|(_, r)| r.check == shared).count();
    assert_eq!(
        shared_probes, 3,
        "one probe per interval, not one per subscriber"
    );
    let falls: Vec<_> = run
        .events
        .iter()
        .filter(|e| matches!(e.cause, Cause::Fall(_)))
        .map(|e| (e.subscription, e.at))
        .collect();
    assert_eq!(falls, vec![(a, secs(0)), (b, secs(0))]);
}

#[test]
fn late_subscriber_learns_current_state() {
    let mut s = sched();
    let a = s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    drive(&mut s, Instant::ZERO, secs(5), &mut |_, _| {
        fail(FailureReason::Refused)
    });
    let b = s.subscribe(secs(5), spec("tcp", 80, timing()));
    assert_eq!(s.check_of(a), s.check_of(b));
    let ev = s.poll_event().unwrap();
    assert_eq!(
        (ev.subscription, ev.health, ev.cause),
        (b, Health::Down, Cause::Initial)
    );
    // No extra probe for the new subscriber: the next is still at 10 s.
    assert_eq!(s.poll_timeout(), Some(secs(10)));
}

#[test]
fn unsubscribe_keeps_probe_until_last_subscriber_leaves() {
    let mut s = sched();
    let a = s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    let b = s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    assert!(s.unsubscribe(a));
    assert!(!s.unsubscribe(a));
    let run = drive(&mut s, Instant::ZERO, secs(15), &mut |_, _| {
        fail(FailureReason::Refused)
    });
    assert!(run.events.iter().all(|e| e.subscription == b));
    assert_eq!(run.starts.len(), 2);
    assert!(s.unsubscribe(b));
    assert_eq!(s.check_count(), 0);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn result_of_a_removed_check_is_ignored() {
    let mut s = sched();
    let a = s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    s.handle_timeout(Instant::ZERO);
    let req = s.poll_start().unwrap();
    s.unsubscribe(a);
    assert_eq!(s.in_flight(), 1, "the run keeps its slot until it returns");
    s.handle_result(secs(1), req.probe_id, CheckOutcome::OK);
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.stats().ignored_results, 1);
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn concurrency_cap_queues_fifo_and_measures_lateness() {
    let mut s = Scheduler::new(
        SchedulerConfig {
            max_in_flight: NonZeroUsize::new(2),
        },
        seeded(1),
    );
    for port in 1..=5 {
        s.subscribe(Instant::ZERO, spec("tcp", port, timing()));
    }
    let run = drive(&mut s, Instant::ZERO, secs(5), &mut |_, _| {
        Some((Duration::from_secs(1), CheckOutcome::OK))
    });
    let got: Vec<_> = run
        .starts
        .iter()
        .map(|(t, r)| (*t, r.target.addr.port(), r.queued_for))
        .collect();
    let d = Duration::from_secs;
    assert_eq!(
        got,
        vec![
            (secs(0), 1, d(0)),
            (secs(0), 2, d(0)),
            (secs(1), 3, d(1)),
            (secs(1), 4, d(1)),
            (secs(2), 5, d(2)),
        ]
    );
    let st = s.stats();
    assert_eq!(st.delayed_starts, 3);
    assert_eq!(st.max_queue_delay, d(2));
    assert_eq!(st.total_queue_delay, d(4));
    assert_eq!(st.max_queue_len, 5);
}

#[test]
fn queued_probe_of_removed_check_is_skipped() {
    let mut s = Scheduler::new(
        SchedulerConfig {
            max_in_flight: NonZeroUsize::new(1),
        },
        seeded(1),
    );
    s.subscribe(Instant::ZERO, spec("tcp", 1, timing()));
    let b = s.subscribe(Instant::ZERO, spec("tcp", 2, timing()));
    s.subscribe(Instant::ZERO, spec("tcp", 3, timing()));
    s.handle_timeout(Instant::ZERO);
    let first = s.poll_start().unwrap();
    assert!(s.poll_start().is_none());
    s.unsubscribe(b);
    s.handle_result(secs(1), first.probe_id, CheckOutcome::OK);
    assert_eq!(s.poll_start().unwrap().target.addr.port(), 3);
}

#[test]
fn probe_without_result_times_out() {
    let mut s = sched();
    s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    let run = drive(&mut s, Instant::ZERO, secs(10), &mut |_, _| None);
    assert_eq!(
        run.events.last().map(|e| (e.at, e.health, e.cause.clone())),
        Some((secs(3), Health::Down, Cause::Fall(FailureReason::Timeout)))
    );
    assert_eq!(s.stats().timeouts, 1);
    // Next probe an interval after the timeout.
    assert_eq!(run.starts.len(), 1);
    assert_eq!(s.poll_timeout(), Some(secs(13)));
}

#[test]
fn late_result_is_ignored() {
    let mut s = sched();
    s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    let run = drive(&mut s, Instant::ZERO, secs(9), &mut |_, _| {
        Some((Duration::from_secs(5), CheckOutcome::OK))
    });
    assert_eq!(transitions(&run), vec![(secs(3), Health::Down)]);
    assert_eq!(s.stats().ignored_results, 1);
    assert_eq!(s.stats().results, 0);
}

#[test]
fn timeout_counts_toward_retry() {
    let mut s = sched();
    let t = CheckTiming {
        retry: 1,
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let run = drive(&mut s, Instant::ZERO, secs(9), &mut |_, _| None);
    let starts: Vec<_> = run.starts.iter().map(|(t, r)| (*t, r.attempt)).collect();
    // attempt 0 at 0 times out at 3, retry at 4 times out at 7.
    assert_eq!(starts, vec![(secs(0), 0), (secs(4), 1)]);
    assert_eq!(transitions(&run), vec![(secs(7), Health::Down)]);
}

#[test]
fn dynamic_weight_changes_are_reported_while_up() {
    let mut s = sched();
    s.subscribe(Instant::ZERO, spec("misc", 80, timing()));
    let mut n = 0u32;
    let run = drive(&mut s, Instant::ZERO, secs(35), &mut |_, _| {
        n += 1;
        let w = if n <= 2 { 5 } else { 7 };
        Some((
            Duration::ZERO,
            CheckOutcome::Success {
                weight: Some(Weight::Set(w)),
            },
        ))
    });
    let changes: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.cause == Cause::WeightChanged)
        .map(|e| (e.at, e.weight))
        .collect();
    assert_eq!(
        changes,
        vec![
            (secs(0), Some(Weight::Set(5))),
            (secs(20), Some(Weight::Set(7)))
        ]
    );
}

#[test]
fn extreme_durations_do_not_overflow() {
    let mut s = sched();
    let t = CheckTiming {
        interval: Duration::MAX,
        down_interval: Some(Duration::MAX),
        timeout: Duration::MAX,
        delay_before_retry: Duration::MAX,
        jitter: Duration::MAX,
        warmup: true,
        retry: 1,
        ..timing()
    };
    s.subscribe(Instant::ZERO, spec("tcp", 80, t));
    let at = s.poll_timeout().unwrap();
    s.handle_timeout(at);
    if let Some(req) = s.poll_start() {
        s.handle_result(at, req.probe_id, CheckOutcome::fail(FailureReason::Refused));
    }
    let _ = s.poll_timeout();
}

#[test]
fn spurious_calls_are_harmless() {
    let mut s = sched();
    s.handle_timeout(secs(5));
    s.handle_result(secs(5), ProbeId(42), CheckOutcome::OK);
    assert!(s.poll_start().is_none());
    assert!(s.poll_event().is_none());
    assert_eq!(s.stats().ignored_results, 1);
    // Time never goes backwards.
    s.subscribe(secs(1), spec("tcp", 80, timing()));
    assert_eq!(s.poll_timeout(), Some(secs(5)));
}

#[test]
fn probe_now_advances_the_next_probe() {
    let mut s = sched();
    let sub = s.subscribe(Instant::ZERO, spec("tcp", 80, timing()));
    let check = s.check_of(sub).unwrap();
    drive(&mut s, Instant::ZERO, secs(1), &mut |_, _| ok());
    assert_eq!(s.poll_timeout(), Some(secs(10)));
    assert!(s.probe_now(secs(2), check));
    assert_eq!(s.poll_timeout(), Some(secs(2)));
    s.handle_timeout(secs(2));
    let req = s.poll_start().unwrap();
    assert_eq!(req.due, secs(2));
    // Already running: nothing changes.
    assert!(s.probe_now(secs(2), check));
    assert!(s.poll_start().is_none());
    assert!(!s.probe_now(secs(2), CheckId(999)));
}

mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Health follows a simple rise/fall counter model for any outcome sequence.
        #[test]
        fn health_matches_counter_model(
            outcomes in proptest::collection::vec(any::<bool>(), 1..60),
            rise in 1u32..4,
            fall in 1u32..4,
            alpha in any::<bool>(),
        ) {
            let mut s = sched();
            let t = CheckTiming { rise, fall, alpha, ..timing() };
            let sub = s.subscribe(Instant::ZERO, spec("tcp", 80, t));
            let check = s.check_of(sub).unwrap();
            let mut up = !alpha;
            let (mut ok_run, mut fail_run) = (0u32, 0u32);
            let mut now = Instant::ZERO;
            for &o in &outcomes {
                now = s.poll_timeout().unwrap();
                s.handle_timeout(now);
                let req = s.poll_start().unwrap();
                let out = if o { CheckOutcome::OK } else { CheckOutcome::fail(FailureReason::Refused) };
                s.handle_result(now, req.probe_id, out);
                if o { ok_run += 1; fail_run = 0; if !up && ok_run >= rise { up = true; } }
                else { fail_run += 1; ok_run = 0; if up && fail_run >= fall { up = false; } }
                let h = s.status(check).unwrap().health;
                prop_assert_eq!(h == Health::Up, up);
            }
            // Events alternate and end at the current health.
            let evs: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
            for w in evs.windows(2) {
                prop_assert_ne!(w[0].health, w[1].health);
            }
            prop_assert_eq!(evs.last().unwrap().health == Health::Up, up);
            let _ = now;
        }
    }
}

mod ops {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap as Map, HashSet};

    #[derive(Debug, Clone)]
    enum Op {
        Subscribe { port: u16, key: u8, retry: u32 },
        Unsubscribe(usize),
        Advance(u64),
        CompleteOldest(bool),
        CompleteNewest(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u16..4, 0u8..2, 0u32..2).prop_map(|(port, key, retry)| Op::Subscribe {
                port,
                key,
                retry
            }),
            (0usize..16).prop_map(Op::Unsubscribe),
            (0u64..15_000).prop_map(Op::Advance),
            any::<bool>().prop_map(Op::CompleteOldest),
            any::<bool>().prop_map(Op::CompleteNewest),
        ]
    }

    proptest! {
        /// Random interleavings of subscriptions, time and results keep the invariants:
        /// the cap holds, events go only to live subscriptions, every subscription's
        /// first event is Initial and its health then alternates, and identical specs
        /// always share one check.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 1..120), cap in 1usize..4) {
            let mut s = Scheduler::new(
                SchedulerConfig { max_in_flight: NonZeroUsize::new(cap) },
                seeded(3),
            );
            let mut now = Instant::ZERO;
            let mut subs: Vec<(SubscriptionId, CheckSpec)> = Vec::new();
            let mut running: Vec<ProbeId> = Vec::new();
            let mut last: Map<SubscriptionId, Health> = Map::new();
            for op in ops {
                match op {
                    Op::Subscribe { port, key, retry } => {
                        let t = CheckTiming { retry, jitter: Duration::from_millis(500), warmup: true, ..timing() };
                        let sp = spec(if key == 0 { "a" } else { "b" }, port, t);
                        let id = s.subscribe(now, sp.clone());
                        subs.push((id, sp));
                    }
                    Op::Unsubscribe(i) => {
                        if !subs.is_empty() {
                            let (id, _) = subs.remove(i % subs.len());
                            prop_assert!(s.unsubscribe(id));
                            last.remove(&id);
                        }
                    }
                    Op::Advance(ms) => {
                        now += Duration::from_millis(ms);
                        s.handle_timeout(now);
                    }
                    Op::CompleteOldest(ok) | Op::CompleteNewest(ok) if !running.is_empty() => {
                        let p = if matches!(op, Op::CompleteOldest(_)) { running.remove(0) } else { running.pop().unwrap() };
                        let out = if ok { CheckOutcome::OK } else { CheckOutcome::fail(FailureReason::Reset) };
                        s.handle_result(now, p, out);
                    }
                    Op::CompleteOldest(_) | Op::CompleteNewest(_) => {}
                }
                while let Some(req) = s.poll_start() {
                    prop_assert_eq!(req.deadline, now + timing().timeout);
                    running.push(req.probe_id);
                }
                prop_assert!(s.in_flight() <= cap);
                let live: HashSet<SubscriptionId> = subs.iter().map(|(i, _)| *i).collect();
                while let Some(ev) = s.poll_event() {
                    prop_assert!(live.contains(&ev.subscription));
                    match last.get(&ev.subscription) {
                        None => prop_assert_eq!(&ev.cause, &Cause::Initial),
                        Some(h) => {
                            prop_assert_ne!(&ev.cause, &Cause::Initial);
                            if ev.cause != Cause::WeightChanged {
                                prop_assert_ne!(*h, ev.health);
                            }
                        }
                    }
                    last.insert(ev.subscription, ev.health);
                }
                for (a, sa) in &subs {
                    for (b, sb) in &subs {
                        prop_assert_eq!(sa == sb, s.check_of(*a) == s.check_of(*b));
                    }
                }
                let distinct: HashSet<&CheckSpec> = subs.iter().map(|(_, sp)| sp).collect();
                prop_assert_eq!(s.check_count(), distinct.len());
                if let Some(t) = s.poll_timeout() {
                    prop_assert!(t > now || (t == now && s.queued() == 0));
                }
            }
        }
    }
}

#[test]
fn lateness_histogram_quantiles() {
    let mut h = LatenessHistogram::default();
    assert_eq!(h.quantile(0.99), None);
    for _ in 0..98 {
        h.record(Duration::from_micros(80));
    }
    h.record(Duration::from_micros(4_200));
    h.record(Duration::from_secs(20));
    assert_eq!(h.count(), 100);
    assert_eq!(h.quantile(0.5), Some(Duration::from_micros(100)));
    assert_eq!(h.quantile(0.99), Some(Duration::from_millis(5)));
    assert_eq!(h.quantile(1.0), Some(Duration::from_secs(20)));
    assert_eq!(h.max, Duration::from_secs(20));
}

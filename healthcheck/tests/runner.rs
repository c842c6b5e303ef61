//! The tokio runner over mock checkers, in tokio's paused (auto-advancing) time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ha_healthcheck::runner::Runner;
use ha_healthcheck::*;
use std::num::NonZeroUsize;

struct Toggle {
    healthy: AtomicBool,
    calls: AtomicU32,
    latency: Duration,
}

#[async_trait]
impl Checker for Toggle {
    async fn check(&self, _t: &Target) -> CheckOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        if self.healthy.load(Ordering::SeqCst) {
            CheckOutcome::OK
        } else {
            CheckOutcome::fail(FailureReason::Refused)
        }
    }
}

fn toggle(latency: Duration) -> Arc<Toggle> {
    Arc::new(Toggle {
        healthy: AtomicBool::new(true),
        calls: AtomicU32::new(0),
        latency,
    })
}

fn spec(key: &str, port: u16) -> CheckSpec {
    CheckSpec {
        checker: CheckerKey::new(key),
        target: Target::new(([127, 0, 0, 1], port).into()),
        timing: CheckTiming {
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(50),
            ..CheckTiming::default()
        },
    }
}

#[tokio::test(start_paused = true)]
async fn verdicts_follow_the_checker() {
    let (runner, handle, mut rx) = Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
    let task = tokio::spawn(runner.run());
    let c = toggle(Duration::from_millis(1));
    let sub = handle.subscribe(spec("t", 1), c.clone()).await.unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(
        (ev.subscription, ev.health, ev.cause),
        (sub, Health::Up, Cause::Initial)
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    c.healthy.store(false, Ordering::SeqCst);
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.health, Health::Down);
    assert_eq!(ev.cause, Cause::Fall(FailureReason::Refused));
    c.healthy.store(true, Ordering::SeqCst);
    let ev = rx.recv().await.unwrap();
    assert_eq!((ev.health, ev.cause), (Health::Up, Cause::Rise));
    let st = handle.status(sub).await.unwrap().unwrap();
    assert_eq!(st.health, Health::Up);
    handle.stop().await;
    task.await.unwrap();
}

struct Hang;

#[async_trait]
impl Checker for Hang {
    async fn check(&self, _t: &Target) -> CheckOutcome {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn hanging_checker_times_out_at_the_deadline() {
    let (runner, handle, mut rx) = Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
    let task = tokio::spawn(runner.run());
    let start = tokio::time::Instant::now();
    handle
        .subscribe(spec("hang", 1), Arc::new(Hang))
        .await
        .unwrap();
    let _initial = rx.recv().await.unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.cause, Cause::Fall(FailureReason::Timeout));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_millis(60),
        "{took:?}"
    );
    handle.stop().await;
    let sched = task.await.unwrap();
    assert_eq!(sched.stats().timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn identical_specs_share_one_probe() {
    let (runner, handle, mut rx) = Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
    let task = tokio::spawn(runner.run());
    let c = toggle(Duration::ZERO);
    let a = handle.subscribe(spec("t", 1), c.clone()).await.unwrap();
    let b = handle.subscribe(spec("t", 1), c.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        c.calls.load(Ordering::SeqCst),
        5,
        "probes at 0, 100, .., 400 ms"
    );
    c.healthy.store(false, Ordering::SeqCst);
    let mut falls = Vec::new();
    while falls.len() < 2 {
        let ev = rx.recv().await.unwrap();
        if matches!(ev.cause, Cause::Fall(_)) {
            falls.push(ev.subscription);
        }
    }
    assert_eq!(falls, vec![a, b]);
    assert!(handle.unsubscribe(a).await.unwrap());
    assert!(handle.unsubscribe(b).await.unwrap());
    let n = c.calls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        c.calls.load(Ordering::SeqCst),
        n,
        "no probe after the last unsubscribe"
    );
    handle.stop().await;
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn concurrency_cap_delays_starts() {
    let cfg = SchedulerConfig {
        max_in_flight: NonZeroUsize::new(1),
    };
    let (runner, handle, _rx) = Runner::new(cfg, ha_core::rng::seeded(1));
    let task = tokio::spawn(runner.run());
    let c = toggle(Duration::from_millis(10));
    for port in 1..=3 {
        handle.subscribe(spec("t", port), c.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(35)).await;
    let st = handle.stats().await.unwrap();
    assert_eq!(st.probes_started, 3);
    assert_eq!(st.delayed_starts, 2);
    assert!(st.max_queue_delay >= Duration::from_millis(20));
    handle.stop().await;
    task.await.unwrap();
}

struct Panics;

#[async_trait]
impl Checker for Panics {
    async fn check(&self, _t: &Target) -> CheckOutcome {
        panic!("checker bug")
    }
}

#[tokio::test(start_paused = true)]
async fn panicking_checker_is_a_failure() {
    let (runner, handle, mut rx) = Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
    let task = tokio::spawn(runner.run());
    handle
        .subscribe(spec("p", 1), Arc::new(Panics))
        .await
        .unwrap();
    let _initial = rx.recv().await.unwrap();
    let ev = rx.recv().await.unwrap();
    assert!(
        matches!(ev.cause, Cause::Fall(FailureReason::Io(_))),
        "{ev:?}"
    );
    drop(handle);
    task.await.unwrap();
}

#[tokio::test]
async fn real_tcp_check_from_config_end_to_end() {
    use ha_healthcheck::config::CheckConfig;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        for _ in 0..3 {
            if listener.accept().await.is_err() {
                return;
            }
        }
    });
    let cfg: CheckConfig = serde_json::from_str(
        r#"{"checker":{"type":"tcp"},"delay_loop":0.05,"connect_timeout":0.5,"alpha":true,"rise":2}"#,
    )
    .unwrap();
    let (runner, handle, mut rx) = Runner::new(SchedulerConfig::default(), ha_core::rng::seeded(1));
    let task = tokio::spawn(runner.run());
    let sub = handle
        .subscribe(cfg.spec(Target::new(addr)), cfg.build().unwrap())
        .await
        .unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!((ev.health, ev.cause), (Health::Down, Cause::Initial));
    let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.subscription, ev.health, ev.cause),
        (sub, Health::Up, Cause::Rise)
    );
    // The listener accepts three connections then goes away: connections are refused.
    accept.await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.health, Health::Down);
    assert_eq!(ev.cause, Cause::Fall(FailureReason::Refused));
    assert!(handle.probe_now(sub).await.unwrap());
    handle.stop().await;
    task.await.unwrap();
}

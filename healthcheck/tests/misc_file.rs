//! MISC (script) and FILE checkers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ha_healthcheck::checkers::{FileCheck, MiscCheck};
use ha_healthcheck::{CheckOutcome, Checker, FailureReason, Target, Weight};

fn target() -> Target {
    Target::new("127.0.0.1:8080".parse().unwrap())
}

fn sh(script: &str, timeout: Duration) -> MiscCheck {
    MiscCheck::new("/bin/sh", vec!["-c".into(), script.into()], timeout)
}

const T: Duration = Duration::from_secs(2);

#[tokio::test]
async fn exit_code_is_the_verdict() {
    assert_eq!(sh("exit 0", T).check(&target()).await, CheckOutcome::OK);
    assert_eq!(
        sh("exit 1", T).check(&target()).await,
        CheckOutcome::Failure(FailureReason::ScriptExit(1))
    );
    assert_eq!(
        sh("exit 7", T).check(&target()).await,
        CheckOutcome::Failure(FailureReason::ScriptExit(7))
    );
}

#[tokio::test]
async fn misc_dynamic_weight() {
    let mut c = sh("exit 12", T);
    c.dynamic = true;
    assert_eq!(
        c.check(&target()).await,
        CheckOutcome::Success {
            weight: Some(Weight::Set(10))
        }
    );
    let mut c = sh("exit 1", T);
    c.dynamic = true;
    assert_eq!(
        c.check(&target()).await,
        CheckOutcome::Failure(FailureReason::ScriptExit(1))
    );
}

#[tokio::test]
async fn killed_by_signal() {
    assert_eq!(
        sh("kill -TERM $$", T).check(&target()).await,
        CheckOutcome::Failure(FailureReason::ScriptSignal(15))
    );
}

#[tokio::test]
async fn spawn_failure() {
    let c = MiscCheck::new("/nonexistent/check", vec![], T);
    assert!(matches!(
        c.check(&target()).await,
        CheckOutcome::Failure(FailureReason::Spawn(_))
    ));
}

#[tokio::test]
async fn target_and_env_reach_the_script() {
    let mut c = sh(
        r#"echo "$HA_TARGET_ADDR $HA_TARGET_PORT $EXTRA"; echo oops >&2"#,
        T,
    );
    c.env.push(("EXTRA".into(), "x".into()));
    let run = c.run(&target()).await;
    assert_eq!(run.outcome, CheckOutcome::OK);
    assert_eq!(run.stdout, b"127.0.0.1 8080 x\n");
    assert_eq!(run.stderr, b"oops\n");
}

#[tokio::test]
async fn output_is_bounded_and_drained() {
    // 1 MB of output must neither block the script nor be kept.
    let mut c = sh("head -c 1000000 /dev/zero; exit 0", T);
    c.output_limit = 100;
    let run = c.run(&target()).await;
    assert_eq!(run.outcome, CheckOutcome::OK);
    assert_eq!(run.stdout.len(), 100);
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purpose.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2).is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

async fn wait_dead(pid: u32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let pidfile = temp_path("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let c = sh(&script, Duration::from_millis(300));
    let start = Instant::now();
    let out = c.check(&target()).await;
    assert_eq!(out, CheckOutcome::Failure(FailureReason::Timeout));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = std::fs::remove_file(&pidfile);
    assert!(
        wait_dead(pid).await,
        "grandchild {pid} survived the timeout"
    );
}

#[tokio::test]
async fn helper_holding_the_pipe_does_not_stall_the_verdict() {
    // The script exits at once but leaves a helper holding stdout open.
    let pidfile = temp_path("pid");
    let script = format!(
        "sleep 5 & echo $! > {}; echo done; exit 0",
        pidfile.display()
    );
    let c = sh(&script, T);
    let start = Instant::now();
    let run = c.run(&target()).await;
    assert_eq!(run.outcome, CheckOutcome::OK);
    assert!(start.elapsed() < Duration::from_millis(100) + SLACK);
    assert_eq!(run.stdout, b"done\n");
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
    let _ = std::fs::remove_file(&pidfile);
}

#[tokio::test]
async fn cancelled_check_kills_the_group() {
    let pidfile = temp_path("pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
    let c = sh(&script, Duration::from_secs(30));
    let res = tokio::time::timeout(Duration::from_millis(300), c.check(&target())).await;
    assert!(res.is_err(), "the outer timeout cancels the check");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = std::fs::remove_file(&pidfile);
    assert!(
        wait_dead(pid).await,
        "grandchild {pid} survived cancellation"
    );
}

#[tokio::test]
async fn runs_as_configured_user() {
    if !std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
    {
        eprintln!("not root; skipping");
        return;
    }
    let mut c = sh("id -u; id -g", T);
    c.uid = Some(65534);
    c.gid = Some(65534);
    let run = c.run(&target()).await;
    assert_eq!(run.outcome, CheckOutcome::OK);
    assert_eq!(run.stdout, b"65534\n65534\n");
}

#[tokio::test]
async fn file_values() {
    let p = temp_path("file");
    std::fs::write(&p, "3\n").unwrap();
    let c = FileCheck::new(&p, 10);
    assert_eq!(
        c.check(&target()).await,
        CheckOutcome::Success {
            weight: Some(Weight::Offset(30))
        }
    );
    let c = FileCheck::new(&p, 0);
    assert_eq!(
        c.check(&target()).await,
        CheckOutcome::Failure(FailureReason::FileValue(3))
    );
    std::fs::write(&p, "0").unwrap();
    assert_eq!(c.check(&target()).await, CheckOutcome::OK);
    std::fs::write(&p, "garbage").unwrap();
    assert!(matches!(
        c.check(&target()).await,
        CheckOutcome::Failure(FailureReason::File(_))
    ));
    std::fs::remove_file(&p).unwrap();
    assert!(matches!(
        c.check(&target()).await,
        CheckOutcome::Failure(FailureReason::File(_))
    ));
}

//! MISC check: run a script; its exit status is the verdict.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target, Weight};

/// keepalived's `MISC_CHECK`: run a program; exit status 0 means up.
///
/// - With `dynamic` (keepalived's `misc_dynamic`): 0 is up, 1 is down, and `2..=255` is up
///   with weight `code - 2` ([`Weight::Set`]).
/// - The program runs in its own process group; on timeout, or when the check is
///   cancelled, the **whole group** is killed, so helpers it started die with it.
/// - `uid` / `gid` run it as another user (keepalived's `user`), which needs privileges.
/// - It gets the target in `HA_TARGET_ADDR` and `HA_TARGET_PORT`, no stdin, and its
///   stdout and stderr are captured up to `output_limit` bytes each.
/// - A status killed by a signal is [`FailureReason::ScriptSignal`].
#[derive(Clone, Debug)]
pub struct MiscCheck {
    /// The program to run (no shell is involved).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How long it may run (keepalived's `misc_timeout`).
    pub timeout: Duration,
    /// Map exit codes 2..=255 to weights.
    pub dynamic: bool,
    /// Run as this user id.
    pub uid: Option<u32>,
    /// Run as this group id.
    pub gid: Option<u32>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Bytes of stdout and of stderr kept.
    pub output_limit: usize,
}

/// The full result of one script run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptRun {
    /// The verdict.
    pub outcome: CheckOutcome,
    /// Captured stdout (at most `output_limit` bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most `output_limit` bytes).
    pub stderr: Vec<u8>,
}

/// How long output is still collected after the script exited (a helper it left behind
/// may hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(100);

/// Kills a process group when dropped, unless disarmed.
struct GroupKill(Option<Pid>);

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // The group may already be gone; nothing more to do then.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Output collected so far, shared with the task reading it.
type Captured = Arc<Mutex<Vec<u8>>>;

async fn read_bounded<R: AsyncRead + Unpin>(r: Option<R>, limit: usize, kept: Captured) {
    let Some(mut r) = r else {
        return;
    };
    let mut chunk = [0u8; 4096];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                let room = limit.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&chunk[..room]);
                // Keep draining past the limit so the script never blocks on a full pipe.
            }
        }
    }
}

/// Waits a little for a reader to reach end of stream, then takes what it has.
async fn collect(mut task: tokio::task::JoinHandle<()>, kept: Captured) -> Vec<u8> {
    let _ = tokio::time::timeout(OUTPUT_GRACE, &mut task).await;
    task.abort();
    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *kept)
}

impl MiscCheck {
    /// A check running `program` with `args`.
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>, timeout: Duration) -> Self {
        MiscCheck {
            program: program.into(),
            args,
            timeout,
            dynamic: false,
            uid: None,
            gid: None,
            env: Vec::new(),
            output_limit: 4096,
        }
    }

    /// A check from a keepalived-style `misc_path` command line: words split on
    /// whitespace, with single quotes, double quotes and backslash escapes. `None` for an
    /// empty line or an unterminated quote.
    pub fn from_command_line(line: &str, timeout: Duration) -> Option<Self> {
        let mut words = split_command_line(line)?.into_iter();
        let program = words.next()?;
        Some(Self::new(program, words.collect(), timeout))
    }

    /// The verdict for an exit status.
    pub fn verdict(&self, status: ExitStatus) -> CheckOutcome {
        if let Some(sig) = status.signal() {
            return CheckOutcome::Failure(FailureReason::ScriptSignal(sig));
        }
        match status.code() {
            Some(0) => CheckOutcome::OK,
            Some(c @ 2..=255) if self.dynamic => CheckOutcome::Success {
                weight: Some(Weight::Set(c.unsigned_abs() - 2)),
            },
            Some(c) => CheckOutcome::Failure(FailureReason::ScriptExit(c)),
            None => CheckOutcome::Failure(FailureReason::Io("no exit status".into())),
        }
    }

    /// Runs the script once and returns the verdict with its output.
    pub async fn run(&self, target: &Target) -> ScriptRun {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .env("HA_TARGET_ADDR", target.addr.ip().to_string())
            .env("HA_TARGET_PORT", target.addr.port().to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(gid) = self.gid {
            cmd.gid(gid);
        }
        if let Some(uid) = self.uid {
            cmd.uid(uid);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return ScriptRun {
                    outcome: CheckOutcome::Failure(FailureReason::Spawn(e.to_string())),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                };
            }
        };
        let mut group = GroupKill(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        );
        let out_buf = Captured::default();
        let err_buf = Captured::default();
        let out = tokio::spawn(read_bounded(
            child.stdout.take(),
            self.output_limit,
            Arc::clone(&out_buf),
        ));
        let err = tokio::spawn(read_bounded(
            child.stderr.take(),
            self.output_limit,
            Arc::clone(&err_buf),
        ));
        let outcome = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => {
                // Reaped: the group id may be reused from now on, so never kill it.
                group.0 = None;
                self.verdict(status)
            }
            Ok(Err(e)) => {
                group.kill();
                CheckOutcome::Failure(FailureReason::Io(e.to_string()))
            }
            Err(_) => {
                group.kill();
                let _ = child.kill().await;
                CheckOutcome::Failure(FailureReason::Timeout)
            }
        };
        let (stdout, stderr) = tokio::join!(collect(out, out_buf), collect(err, err_buf));
        ScriptRun {
            outcome,
            stdout,
            stderr,
        }
    }
}

#[async_trait]
impl Checker for MiscCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        self.run(target).await.outcome
    }
}

fn split_command_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_splitting() {
        assert_eq!(
            split_command_line(r#"/bin/check "a b" 'c d' e\ f  g"#).unwrap(),
            vec!["/bin/check", "a b", "c d", "e f", "g"]
        );
        assert_eq!(split_command_line("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_command_line("'open"), None);
        assert!(MiscCheck::from_command_line("", Duration::from_secs(1)).is_none());
    }

    #[test]
    fn misc_dynamic_exit_codes() {
        let mut c = MiscCheck::new("/bin/true", vec![], Duration::from_secs(1));
        let st = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(c.verdict(st(0)), CheckOutcome::OK);
        assert_eq!(
            c.verdict(st(3)),
            CheckOutcome::Failure(FailureReason::ScriptExit(3))
        );
        c.dynamic = true;
        assert_eq!(
            c.verdict(st(1)),
            CheckOutcome::Failure(FailureReason::ScriptExit(1))
        );
        assert_eq!(
            c.verdict(st(2)),
            CheckOutcome::Success {
                weight: Some(Weight::Set(0))
            }
        );
        assert_eq!(
            c.verdict(st(255)),
            CheckOutcome::Success {
                weight: Some(Weight::Set(253))
            }
        );
        assert_eq!(
            c.verdict(ExitStatus::from_raw(9)),
            CheckOutcome::Failure(FailureReason::ScriptSignal(9))
        );
    }
}

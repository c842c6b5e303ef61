//! Notifications as keepalived sends them: notify scripts and FIFO lines, in the order the
//! events happen.
//!
//! FIFO lines (keepalived's formats):
//!
//! ```text
//! INSTANCE "VI_1" MASTER 100
//! INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100
//! INSTANCE "VI_1" MASTER_PRIORITY 90
//! GROUP "G1" BACKUP 0
//! VS [10.0.0.1]:tcp:80 UP
//! RS [192.168.1.10]:tcp:80 [10.0.0.1]:tcp:80 DOWN
//! ```
//!
//! `notify_fifo` gets every line, `vrrp_notify_fifo` the `INSTANCE` and `GROUP` lines,
//! `lvs_notify_fifo` the `VS` and `RS` lines. A FIFO that does not exist is created; its
//! `*_script` is started with the FIFO's path as last argument and reads it. Writes never
//! block: a line that does not fit is dropped and counted.
//!
//! Scripts are started in event order and not waited for (a slow script does not delay
//! the next event), except `STOP` scripts at shutdown, which get up to one second, as
//! keepalived gives them. The generic `notify` script gets
//! `INSTANCE|GROUP NAME STATE PRIORITY` appended to its own arguments.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{info, warn};

use super::script::{Account, AccountDb, ScriptError, check_secure, command_line};
use super::settings::FifoConf;
use super::smtp::Mailer;

/// Which notifications are also mailed (keepalived's `smtp_alert*`).
#[derive(Clone, Debug)]
pub struct MailPolicy {
    /// The mailer.
    pub mailer: Mailer,
    /// Mail VRRP instance and group transitions.
    pub vrrp: bool,
    /// Mail real-server and quorum changes.
    pub checker: bool,
    /// No mail for FAULT (`no_email_faults`).
    pub no_faults: bool,
}

/// A VRRP state as notifications name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyState {
    /// `MASTER`.
    Master,
    /// `BACKUP`.
    Backup,
    /// `FAULT`.
    Fault,
    /// `STOP`.
    Stop,
}

impl NotifyState {
    /// keepalived's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }
}

/// The scripts of one instance or group (keepalived's `notify_master`, `notify_backup`,
/// `notify_fault`, `notify_stop` and `notify`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scripts {
    /// Per-state scripts.
    pub master: Option<String>,
    /// Run on BACKUP.
    pub backup: Option<String>,
    /// Run on FAULT.
    pub fault: Option<String>,
    /// Run on STOP.
    pub stop: Option<String>,
    /// The generic script.
    pub any: Option<String>,
    /// `smtp_alert` of the instance or group (`None`: the global default).
    pub smtp_alert: Option<bool>,
}

impl Scripts {
    fn for_state(&self, state: NotifyState) -> Option<&String> {
        match state {
            NotifyState::Master => self.master.as_ref(),
            NotifyState::Backup => self.backup.as_ref(),
            NotifyState::Fault => self.fault.as_ref(),
            NotifyState::Stop => self.stop.as_ref(),
        }
    }
}

impl From<&ha_vrrp::keepalived::Notify> for Scripts {
    fn from(n: &ha_vrrp::keepalived::Notify) -> Self {
        Scripts {
            master: n.master.clone(),
            backup: n.backup.clone(),
            fault: n.fault.clone(),
            stop: n.stop.clone(),
            any: n.any.clone(),
            smtp_alert: n.smtp_alert,
        }
    }
}

/// Counters of the notifier.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Scripts started.
    pub scripts_started: AtomicU64,
    /// Scripts that could not be started (bad command line, refused, exec failure).
    pub script_failures: AtomicU64,
    /// FIFO lines written.
    pub fifo_lines: AtomicU64,
    /// FIFO lines dropped (FIFO full or broken).
    pub fifo_drops: AtomicU64,
}

struct Fifo {
    path: PathBuf,
    file: File,
}

/// Which FIFOs a line goes to.
#[derive(Clone, Copy)]
enum Topic {
    Vrrp,
    Lvs,
}

/// Sends notifications. Methods are called in event order from the daemon's loop.
pub struct Notifier {
    general: Option<Fifo>,
    vrrp: Option<Fifo>,
    lvs: Option<Fifo>,
    account: Account,
    security: bool,
    accounts: AccountDb,
    stats: Arc<NotifyStats>,
    fifo_scripts: Vec<tokio::process::Child>,
    mail: Option<MailPolicy>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Creates `path` as a FIFO unless something is there already.
fn make_fifo(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => Ok(()),
        Ok(_) => Err(std::io::Error::other(format!(
            "{} exists and is not a FIFO",
            path.display()
        ))),
        Err(_) => rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(std::io::Error::from),
    }
}

impl Notifier {
    /// A notifier with the given FIFOs and script account. FIFO failures are logged and
    /// leave that FIFO out.
    pub fn new(
        fifos: [Option<&FifoConf>; 3],
        account: Account,
        security: bool,
        accounts: AccountDb,
    ) -> Notifier {
        let mut n = Notifier {
            general: None,
            vrrp: None,
            lvs: None,
            account,
            security,
            accounts,
            stats: Arc::new(NotifyStats::default()),
            fifo_scripts: Vec::new(),
            mail: None,
        };
        let [general, vrrp, lvs] = fifos;
        n.general = general.and_then(|c| n.open_fifo(c));
        n.vrrp = vrrp.and_then(|c| n.open_fifo(c));
        n.lvs = lvs.and_then(|c| n.open_fifo(c));
        n
    }

    /// Mails notifications as `policy` says (`None`: no mail).
    pub fn set_mail(&mut self, policy: Option<MailPolicy>) {
        self.mail = policy;
    }

    fn mail_vrrp(&self, what: &str, state: NotifyState, body: &str, choice: Option<bool>) {
        if let Some(m) = &self.mail {
            if choice.unwrap_or(m.vrrp) && !(m.no_faults && state == NotifyState::Fault) {
                let subject = match state {
                    NotifyState::Stop => format!("{what} - Stopping"),
                    s => format!("{what} - Entering {} state", s.as_str()),
                };
                m.mailer.alert(&subject, body);
            }
        }
    }

    fn mail_checker(&self, subject: String, body: &str, choice: Option<bool>) {
        if let Some(m) = &self.mail {
            if choice.unwrap_or(m.checker) {
                m.mailer.alert(&subject, body);
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<NotifyStats> {
        self.stats.clone()
    }

    fn open_fifo(&mut self, conf: &FifoConf) -> Option<Fifo> {
        let opened = make_fifo(&conf.path).and_then(|()| {
            // Read-write: opening never waits for a reader, and writes fail with EAGAIN
            // instead of blocking when nobody drains the FIFO.
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&conf.path)
        });
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                warn!(path = %conf.path.display(), %e, "cannot open notify FIFO");
                return None;
            }
        };
        if let Some(script) = &conf.script {
            let with_path = format!("{script} '{}'", conf.path.display());
            match self.spawn(&with_path, &[]) {
                Some(child) => self.fifo_scripts.push(child),
                None => warn!(path = %conf.path.display(), "FIFO script not started"),
            }
        }
        Some(Fifo {
            path: conf.path.clone(),
            file,
        })
    }

    fn write_line(&mut self, topic: Topic, line: &str) {
        let specific = match topic {
            Topic::Vrrp => self.vrrp.as_mut(),
            Topic::Lvs => self.lvs.as_mut(),
        };
        for fifo in [self.general.as_mut(), specific].into_iter().flatten() {
            match fifo.file.write(line.as_bytes()) {
                Ok(n) if n == line.len() => {
                    self.stats.fifo_lines.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) | Err(_) => {
                    self.stats.fifo_drops.fetch_add(1, Ordering::Relaxed);
                    warn!(path = %fifo.path.display(), "notify FIFO full or broken: line dropped");
                }
            }
        }
    }

    /// Parses, checks and starts a script with `extra` arguments appended.
    fn spawn(&self, script: &str, extra: &[&str]) -> Option<tokio::process::Child> {
        let started = (|| -> Result<tokio::process::Child, String> {
            let cmd = command_line(script).map_err(|e| e.to_string())?;
            if self.security {
                check_secure(&cmd.program, self.account).map_err(|e| e.to_string())?;
            }
            let mut command = tokio::process::Command::new(&cmd.program);
            command
                .args(&cmd.args)
                .args(extra)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            // Only root can change user; an unprivileged daemon runs scripts as itself.
            if self.account != Account::ROOT && rustix::process::geteuid().is_root() {
                command.uid(self.account.uid).gid(self.account.gid);
            }
            command
                .spawn()
                .map_err(|e| format!("{}: {e}", cmd.program.display()))
        })();
        match started {
            Ok(child) => {
                self.stats.scripts_started.fetch_add(1, Ordering::Relaxed);
                info!(script, ?extra, "notify script started");
                Some(child)
            }
            Err(e) => {
                self.stats.script_failures.fetch_add(1, Ordering::Relaxed);
                warn!(script, error = %e, "notify script not started");
                None
            }
        }
    }

    /// The account scripts run as.
    pub fn account(&self) -> Account {
        self.account
    }

    /// Resolves a script-specific `user [group]`.
    pub fn resolve(&self, user: &str, group: Option<&str>) -> Result<Account, ScriptError> {
        self.accounts.resolve(user, group)
    }

    fn run(&self, script: Option<&String>, extra: &[&str], wait: &mut Vec<tokio::process::Child>) {
        if let Some(s) = script {
            if let Some(child) = self.spawn(s, extra) {
                wait.push(child);
            }
        }
    }

    /// An instance entered `state` with effective `priority`. Returns the started
    /// processes (the caller may wait for them, as at shutdown).
    pub fn instance(
        &mut self,
        name: &str,
        state: NotifyState,
        priority: u8,
        scripts: &Scripts,
    ) -> Vec<tokio::process::Child> {
        let mut started = Vec::new();
        let prio = priority.to_string();
        self.run(scripts.for_state(state), &[], &mut started);
        self.run(
            scripts.any.as_ref(),
            &["INSTANCE", name, state.as_str(), &prio],
            &mut started,
        );
        self.write_line(
            Topic::Vrrp,
            &format!("INSTANCE \"{name}\" {} {priority}\n", state.as_str()),
        );
        let body = match state {
            NotifyState::Master => "=> VRRP Instance is now owning VRRP VIPs <=",
            NotifyState::Stop => "=> VRRP Instance stopping <=",
            _ => "=> VRRP Instance is no longer owning VRRP VIPs <=",
        };
        self.mail_vrrp(
            &format!("VRRP Instance {name}"),
            state,
            body,
            scripts.smtp_alert,
        );
        started
    }

    /// A sync group entered `state`.
    pub fn group(
        &mut self,
        name: &str,
        state: NotifyState,
        scripts: &Scripts,
    ) -> Vec<tokio::process::Child> {
        let mut started = Vec::new();
        self.run(scripts.for_state(state), &[], &mut started);
        self.run(
            scripts.any.as_ref(),
            &["GROUP", name, state.as_str(), "0"],
            &mut started,
        );
        self.write_line(
            Topic::Vrrp,
            &format!("GROUP \"{name}\" {} 0\n", state.as_str()),
        );
        let body = match state {
            NotifyState::Stop => "=> All VRRP group instances are now stopping <=".to_string(),
            s => format!(
                "=> All VRRP group instances are now in {} state <=",
                s.as_str()
            ),
        };
        self.mail_vrrp(
            &format!("VRRP Group {name}"),
            state,
            &body,
            scripts.smtp_alert,
        );
        started
    }

    /// An instance's effective priority changed (`MASTER_PRIORITY` / `BACKUP_PRIORITY`).
    pub fn priority(&mut self, name: &str, master: bool, priority: u8) {
        let what = if master {
            "MASTER_PRIORITY"
        } else {
            "BACKUP_PRIORITY"
        };
        self.write_line(
            Topic::Vrrp,
            &format!("INSTANCE \"{name}\" {what} {priority}\n"),
        );
    }

    /// A virtual server's quorum went up or down; `script` is its `quorum_up` /
    /// `quorum_down`, `mail` its `smtp_alert`.
    pub fn virtual_server(
        &mut self,
        vs: &str,
        up: bool,
        script: Option<&String>,
        mail: Option<bool>,
    ) {
        let mut started = Vec::new();
        self.run(script, &[], &mut started);
        let state = if up { "UP" } else { "DOWN" };
        self.write_line(Topic::Lvs, &format!("VS {vs} {state}\n"));
        let body = if up {
            "=> Gained quorum: the virtual server is in service <="
        } else {
            "=> Lost quorum: the virtual server is out of service <="
        };
        self.mail_checker(format!("Virtual Server {vs} - {state}"), body, mail);
    }

    /// A real server went up or down; `script` is its `notify_up` / `notify_down`,
    /// `mail` its `smtp_alert`.
    pub fn real_server(
        &mut self,
        rs: &str,
        vs: &str,
        up: bool,
        script: Option<&String>,
        mail: Option<bool>,
    ) {
        let mut started = Vec::new();
        self.run(script, &[], &mut started);
        let state = if up { "UP" } else { "DOWN" };
        self.write_line(Topic::Lvs, &format!("RS {rs} {vs} {state}\n"));
        let body = if up {
            format!("=> CHECK succeed on service {vs} <=")
        } else {
            format!("=> CHECK failed on service {vs} <=")
        };
        self.mail_checker(format!("Realserver {rs} - {state}"), &body, mail);
    }

    /// Waits up to `limit` for `children`, then leaves the rest running.
    pub async fn wait(children: Vec<tokio::process::Child>, limit: Duration) {
        let all = async {
            for mut c in children {
                let _ = c.wait().await;
            }
        };
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Stops the FIFO reader scripts.
    pub async fn close(&mut self) {
        for mut c in self.fifo_scripts.drain(..) {
            let _ = c.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(1), c.wait()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[tokio::test]
    async fn fifo_lines_have_keepalived_formats_in_order() {
        let dir = std::env::temp_dir().join(format!("hakeepd-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let conf = FifoConf {
            path: path.clone(),
            script: None,
        };
        let mut n = Notifier::new(
            [Some(&conf), None, None],
            Account::ROOT,
            false,
            AccountDb::from_text("", ""),
        );
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let none = Scripts::default();
        n.instance("VI_1", NotifyState::Backup, 100, &none);
        n.instance("VI_1", NotifyState::Master, 100, &none);
        n.priority("VI_1", true, 90);
        n.group("G1", NotifyState::Master, &none);
        n.virtual_server("[10.0.0.1]:tcp:80", false, None, None);
        n.real_server(
            "[192.168.1.10]:tcp:80",
            "[10.0.0.1]:tcp:80",
            true,
            None,
            None,
        );
        let mut text = String::new();
        reader.read_to_string(&mut text).ok();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            text,
            "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n\
             INSTANCE \"VI_1\" MASTER_PRIORITY 90\nGROUP \"G1\" MASTER 0\n\
             VS [10.0.0.1]:tcp:80 DOWN\nRS [192.168.1.10]:tcp:80 [10.0.0.1]:tcp:80 UP\n"
        );
        assert_eq!(n.stats().fifo_lines.load(Ordering::Relaxed), 6);
    }

    #[tokio::test]
    async fn scripts_get_keepalived_arguments() {
        let dir = std::env::temp_dir().join(format!("hakeepd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let scripts = Scripts {
            master: Some(format!("/bin/sh -c 'echo master >> {}'", out.display())),
            any: Some(format!(
                "/bin/sh -c 'echo \"$*\" >> {}' generic",
                out.display()
            )),
            ..Scripts::default()
        };
        let mut n = Notifier::new(
            [None, None, None],
            Account::ROOT,
            false,
            AccountDb::from_text("", ""),
        );
        let started = n.instance("VI_1", NotifyState::Master, 150, &scripts);
        assert_eq!(started.len(), 2);
        Notifier::wait(started, Duration::from_secs(5)).await;
        let text = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, vec!["INSTANCE VI_1 MASTER 150", "master"]);
        let bad = Scripts {
            master: Some("'unterminated".into()),
            ..Scripts::default()
        };
        assert!(n.instance("VI_1", NotifyState::Master, 1, &bad).is_empty());
        assert_eq!(n.stats().script_failures.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn smtp_alert_of_an_instance_overrides_the_global_default() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let mailer = super::super::smtp::Mailer::new(super::super::smtp::SmtpConf {
            server: addr,
            helo: "h".into(),
            from: "f@example.org".into(),
            to: vec!["t@example.org".into()],
            timeout: Duration::from_secs(2),
            router_id: "R".into(),
        });
        let stats = mailer.stats();
        let mut n = Notifier::new(
            [None, None, None],
            Account::ROOT,
            false,
            AccountDb::from_text("", ""),
        );
        n.set_mail(Some(MailPolicy {
            mailer,
            vrrp: false,
            checker: true,
            no_faults: true,
        }));
        let quiet = Scripts::default();
        let loud = Scripts {
            smtp_alert: Some(true),
            ..Scripts::default()
        };
        n.instance("A", NotifyState::Master, 100, &quiet);
        n.instance("B", NotifyState::Fault, 100, &loud);
        n.instance("C", NotifyState::Master, 100, &loud);
        n.real_server(
            "[10.0.0.2]:80",
            "[10.0.0.1]:tcp:80",
            false,
            None,
            Some(false),
        );
        n.real_server("[10.0.0.3]:80", "[10.0.0.1]:tcp:80", false, None, None);
        // Attempts: C (B is a FAULT with no_email_faults) and 10.0.0.3; each fails
        // against the closed port and is counted.
        for _ in 0..200 {
            if stats.failed.load(Ordering::Relaxed) >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(stats.failed.load(Ordering::Relaxed), 2);
    }
}

//! E-mail alerts as keepalived sends them (`notification_email`, `smtp_server`, ...): a
//! plain SMTP exchange (RFC 5321: HELO, MAIL FROM, RCPT TO, DATA, QUIT) per alert, in
//! its own task with `smtp_connect_timeout` as the deadline of the whole exchange, so a
//! slow or absent mail server never delays the daemon. Failures are logged and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracing::{debug, warn};

/// Where and how alerts are mailed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConf {
    /// `smtp_server IP [PORT]` (port 25 by default).
    pub server: SocketAddr,
    /// `smtp_helo_name` (default: the router id or the host name).
    pub helo: String,
    /// `notification_email_from`.
    pub from: String,
    /// `notification_email { ... }`.
    pub to: Vec<String>,
    /// `smtp_connect_timeout` (default 30 s): bound of the whole exchange.
    pub timeout: Duration,
    /// The router id, put in every subject as keepalived does (`[LB1] ...`).
    pub router_id: String,
}

/// Counters of the mailer.
#[derive(Debug, Default)]
pub struct SmtpStats {
    /// Alerts the server accepted.
    pub sent: AtomicU64,
    /// Alerts that failed (connection, timeout, refused).
    pub failed: AtomicU64,
}

/// Sends alerts.
#[derive(Clone, Debug)]
pub struct Mailer {
    conf: Arc<SmtpConf>,
    stats: Arc<SmtpStats>,
}

/// Why one exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// Socket trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered something else than expected.
    #[error("after {command}: the server said {reply:?}")]
    Refused {
        /// What we had sent.
        command: String,
        /// Its reply.
        reply: String,
    },
    /// The exchange took longer than `smtp_connect_timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A message body line starting with a dot gets another (RFC 5321 section 4.5.2).
fn dot_stuff(body: &str) -> String {
    body.lines()
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect()
}

async fn expect(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    command: &str,
    code: &str,
) -> Result<(), SmtpError> {
    // Multi-line replies: "250-..." lines until "250 ...".
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Err(SmtpError::Refused {
                command: command.into(),
                reply: "(connection closed)".into(),
            });
        }
        if !line.starts_with(code) {
            return Err(SmtpError::Refused {
                command: command.into(),
                reply: line.trim_end().into(),
            });
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

impl Mailer {
    /// A mailer for `conf`.
    pub fn new(conf: SmtpConf) -> Mailer {
        Mailer {
            conf: Arc::new(conf),
            stats: Arc::new(SmtpStats::default()),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<SmtpStats> {
        self.stats.clone()
    }

    /// Mails `subject` (prefixed with `[router_id]`) and `body` in the background.
    pub fn alert(&self, subject: &str, body: &str) {
        let this = self.clone();
        let subject = format!("[{}] {subject}", self.conf.router_id);
        let body = body.to_string();
        tokio::spawn(async move {
            let timeout = this.conf.timeout;
            let result = match tokio::time::timeout(timeout, this.send(&subject, &body)).await {
                Ok(r) => r,
                Err(_) => Err(SmtpError::Timeout(timeout)),
            };
            match result {
                Ok(()) => {
                    this.stats.sent.fetch_add(1, Ordering::Relaxed);
                    debug!(%subject, "alert mailed");
                }
                Err(e) => {
                    this.stats.failed.fetch_add(1, Ordering::Relaxed);
                    warn!(%subject, server = %this.conf.server, %e, "alert not mailed");
                }
            }
        });
    }

    /// One SMTP exchange.
    pub async fn send(&self, subject: &str, body: &str) -> Result<(), SmtpError> {
        let c = &self.conf;
        let stream = TcpStream::connect(c.server).await?;
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        expect(&mut reader, "(greeting)", "220").await?;
        let mut say = async |line: String, code: &str| -> Result<(), SmtpError> {
            write.write_all(format!("{line}\r\n").as_bytes()).await?;
            expect(&mut reader, &line, code).await
        };
        say(format!("HELO {}", c.helo), "250").await?;
        say(format!("MAIL FROM:<{}>", c.from), "250").await?;
        for to in &c.to {
            say(format!("RCPT TO:<{to}>"), "250").await?;
        }
        say("DATA".into(), "354").await?;
        let message = format!(
            "From: {}\r\nTo: {}\r\nSubject: {subject}\r\nX-Mailer: hakeepd\r\n\r\n{}.",
            c.from,
            c.to.join(", "),
            dot_stuff(body)
        );
        say(message, "250").await?;
        say("QUIT".into(), "221").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A mail server that accepts one message and returns the transcript.
    async fn server(listener: tokio::net::TcpListener) -> String {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"220 test ESMTP\r\n").await.unwrap();
        let mut transcript = String::new();
        let mut buf = vec![0u8; 4096];
        let mut in_data = false;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            transcript.push_str(&text);
            let reply: &[u8] = if in_data {
                if !transcript.ends_with("\r\n.\r\n") {
                    continue;
                }
                in_data = false;
                b"250 queued\r\n"
            } else if text.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if text.starts_with("QUIT") {
                s.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else if text.starts_with("HELO") {
                b"250-test\r\n250 ok\r\n"
            } else {
                b"250 ok\r\n"
            };
            s.write_all(reply).await.unwrap();
        }
        transcript
    }

    fn conf(server: SocketAddr) -> SmtpConf {
        SmtpConf {
            server,
            helo: "lb1.example".into(),
            from: "lb@example.org".into(),
            to: vec!["ops@example.org".into(), "noc@example.org".into()],
            timeout: Duration::from_secs(5),
            router_id: "LB1".into(),
        }
    }

    #[tokio::test]
    async fn an_alert_is_one_smtp_exchange() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(server(listener));
        let mailer = Mailer::new(conf(addr));
        mailer
            .send(
                "[LB1] VRRP Instance VI_1 - Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <=\n.dot line",
            )
            .await
            .unwrap();
        let t = server.await.unwrap();
        assert!(
            t.starts_with("HELO lb1.example\r\nMAIL FROM:<lb@example.org>\r\n"),
            "{t}"
        );
        assert!(t.contains("RCPT TO:<ops@example.org>\r\nRCPT TO:<noc@example.org>\r\nDATA\r\n"));
        assert!(t.contains("Subject: [LB1] VRRP Instance VI_1 - Entering MASTER state\r\n"));
        assert!(t.contains("\r\n..dot line\r\n.\r\n"), "{t}");
        assert!(t.ends_with("QUIT\r\n"));
    }

    #[tokio::test]
    async fn failures_are_typed_and_counted() {
        // Nobody listens: connection refused.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let mailer = Mailer::new(conf(addr));
        assert!(matches!(mailer.send("s", "b").await, Err(SmtpError::Io(_))));
        mailer.alert("s", "b");
        for _ in 0..100 {
            if mailer.stats().failed.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(mailer.stats().failed.load(Ordering::Relaxed), 1);
        // A server that refuses the sender.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220 hi\r\n").await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            s.write_all(b"250 ok\r\n").await.unwrap();
            let _ = s.read(&mut buf).await;
            s.write_all(b"550 no\r\n").await.unwrap();
        });
        let err = Mailer::new(conf(addr)).send("s", "b").await.unwrap_err();
        assert!(err.to_string().contains("550 no"), "{err}");
    }
}

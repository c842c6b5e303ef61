//! SMTP check: banner 220, `HELO` answered by 250.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Conn, bounded, connect, unexpected};
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target};

/// keepalived's `SMTP_CHECK`: read the greeting (code 220), send `HELO`, expect 250, then
/// `QUIT`. Multi-line replies (`220-...`) are read to their last line. A wrong reply code
/// is [`FailureReason::Status`]; anything that is not an SMTP reply is
/// [`FailureReason::Protocol`].
#[derive(Clone, Debug)]
pub struct SmtpCheck {
    /// Whole-probe timeout.
    pub timeout: Duration,
    /// Name sent with `HELO` (keepalived's `helo_name`).
    pub helo_name: String,
    /// Local address to connect from.
    pub bind: Option<SocketAddr>,
}

/// Longest reply accepted, all lines together.
const MAX_REPLY: usize = 16 * 1024;

impl SmtpCheck {
    /// A check sending `HELO helo_name`.
    pub fn new(timeout: Duration, helo_name: impl Into<String>) -> Self {
        SmtpCheck {
            timeout,
            helo_name: helo_name.into(),
            bind: None,
        }
    }

    async fn run(&self, target: &Target) -> Result<CheckOutcome, FailureReason> {
        let stream = connect(target.addr, self.bind).await?;
        let mut conn = Conn::new(stream, MAX_REPLY);
        expect_code(&mut conn, 220).await?;
        let helo = format!("HELO {}\r\n", self.helo_name.trim());
        conn.stream.write_all(helo.as_bytes()).await?;
        expect_code(&mut conn, 250).await?;
        // Politeness only: the verdict is already known.
        let _ = conn.stream.write_all(b"QUIT\r\n").await;
        Ok(CheckOutcome::OK)
    }
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect_code(conn: &mut Conn, want: u16) -> Result<(), FailureReason> {
    loop {
        let line = conn.line().await?;
        let code = parse_code(&line).ok_or_else(|| unexpected(&line))?;
        match line.get(3) {
            Some(b'-') => {
                if code != want {
                    return Err(FailureReason::Status(code));
                }
            }
            None | Some(b' ') => {
                return if code == want {
                    Ok(())
                } else {
                    Err(FailureReason::Status(code))
                };
            }
            Some(_) => return Err(unexpected(&line)),
        }
    }
}

pub(crate) fn parse_code(line: &[u8]) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u16, |a, d| a * 10 + u16::from(d - b'0')),
    )
}

#[async_trait]
impl Checker for SmtpCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run(target)).await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_code;

    #[test]
    fn reply_codes() {
        assert_eq!(parse_code(b"220 ready"), Some(220));
        assert_eq!(parse_code(b"250-a"), Some(250));
        assert_eq!(parse_code(b"25"), None);
        assert_eq!(parse_code(b"HTTP/1.1"), None);
    }
}

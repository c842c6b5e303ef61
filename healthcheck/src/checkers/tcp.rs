//! TCP connect check, with optional send/expect steps.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Conn, DEFAULT_MAX_RESPONSE, Expect, bounded, connect};
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target};

/// One step of a TCP conversation.
#[derive(Clone, Debug)]
pub enum TcpStep {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait for a reply meeting this expectation.
    Expect(Expect),
}

/// keepalived's `TCP_CHECK`: the target is up when a TCP connection succeeds (and, when
/// steps are given, the conversation goes as scripted).
///
/// A refused connection is [`FailureReason::Refused`]; no answer within the timeout is
/// [`FailureReason::Timeout`].
#[derive(Clone, Debug)]
pub struct TcpCheck {
    /// Whole-probe timeout (connect and conversation).
    pub timeout: Duration,
    /// Local address to connect from (keepalived's `bindto`).
    pub bind: Option<SocketAddr>,
    /// The conversation after connecting; empty for a plain connect check.
    pub steps: Vec<TcpStep>,
    /// Cap on the bytes read while waiting for an expectation.
    pub max_response: usize,
}

impl TcpCheck {
    /// A plain connect check.
    pub fn connect(timeout: Duration) -> Self {
        TcpCheck {
            timeout,
            bind: None,
            steps: Vec::new(),
            max_response: DEFAULT_MAX_RESPONSE,
        }
    }

    /// Adds a send step.
    pub fn send(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.steps.push(TcpStep::Send(data.into()));
        self
    }

    /// Adds an expect step.
    pub fn expect(mut self, expect: Expect) -> Self {
        self.steps.push(TcpStep::Expect(expect));
        self
    }

    async fn run(&self, target: &Target) -> Result<CheckOutcome, FailureReason> {
        let stream = connect(target.addr, self.bind).await?;
        let mut conn = Conn::new(stream, self.max_response);
        for step in &self.steps {
            match step {
                TcpStep::Send(data) => conn.stream.write_all(data).await?,
                TcpStep::Expect(e) => conn.expect(e).await?,
            }
        }
        Ok(CheckOutcome::OK)
    }
}

#[async_trait]
impl Checker for TcpCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run(target)).await
    }
}

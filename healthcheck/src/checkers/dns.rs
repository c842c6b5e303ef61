//! DNS check: one query over UDP, built and parsed with hickory-proto.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

use super::bounded;
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target};

/// An invalid DNS check configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsConfigError {
    /// The query name is not a valid domain name.
    #[error("invalid query name {0:?}")]
    Name(String),
    /// The record type is unknown.
    #[error("unknown record type {0:?}")]
    Type(String),
}

/// keepalived's `DNS_CHECK`: send one query to the target and require a well-formed
/// response with the same id and question and rcode `NOERROR`; optionally require
/// answers, or one answer whose data (as text, e.g. `192.0.2.1`) is in `expect`.
///
/// Responses with another id are ignored (and the wait goes on), so a stray or spoofed
/// datagram cannot pass the check. Failures are [`FailureReason::Dns`], except ICMP port
/// unreachable ([`FailureReason::Refused`]) and the timeout.
#[derive(Clone, Debug)]
pub struct DnsCheck {
    /// Whole-probe timeout.
    pub timeout: Duration,
    /// Require at least one answer record.
    pub require_answer: bool,
    /// Accept only if some answer's data, as text, is one of these.
    pub expect: Vec<String>,
    /// Set the RD bit.
    pub recursion_desired: bool,
    /// Local address to send from.
    pub bind: Option<SocketAddr>,
    name: Name,
    rtype: RecordType,
}

impl DnsCheck {
    /// A query for `name` of type `rtype` (`"A"`, `"AAAA"`, `"SOA"`, ...).
    pub fn new(timeout: Duration, name: &str, rtype: &str) -> Result<Self, DnsConfigError> {
        let name = Name::from_ascii(name).map_err(|_| DnsConfigError::Name(name.into()))?;
        let rtype = RecordType::from_str(&rtype.to_ascii_uppercase())
            .map_err(|_| DnsConfigError::Type(rtype.into()))?;
        Ok(DnsCheck {
            timeout,
            require_answer: false,
            expect: Vec::new(),
            recursion_desired: true,
            bind: None,
            name,
            rtype,
        })
    }

    /// The query name.
    pub fn name(&self) -> String {
        self.name.to_ascii()
    }

    /// The query type.
    pub fn record_type(&self) -> String {
        self.rtype.to_string()
    }

    fn query(&self, id: u16) -> Result<Vec<u8>, FailureReason> {
        let mut m = Message::new();
        m.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(self.recursion_desired)
            .add_query(Query::query(self.name.clone(), self.rtype));
        m.to_vec()
            .map_err(|e| FailureReason::Dns(format!("cannot encode query: {e}")))
    }

    /// Judges a response to the query with `id`; `None` when it is not a response to
    /// this query at all (wrong id) and should be ignored.
    pub fn judge_reply(&self, id: u16, reply: &[u8]) -> Option<Result<(), FailureReason>> {
        self.judge(id, reply)
    }

    fn judge(&self, id: u16, reply: &[u8]) -> Option<Result<(), FailureReason>> {
        let m = match Message::from_vec(reply) {
            Ok(m) => m,
            Err(e) => return Some(Err(FailureReason::Dns(format!("malformed reply: {e}")))),
        };
        if m.id() != id {
            return None;
        }
        Some(self.judge_message(&m))
    }

    fn judge_message(&self, m: &Message) -> Result<(), FailureReason> {
        if m.message_type() != MessageType::Response {
            return Err(FailureReason::Dns("reply is not a response".into()));
        }
        if m.response_code() != ResponseCode::NoError {
            return Err(FailureReason::Dns(format!("rcode {}", m.response_code())));
        }
        let q = m.queries();
        if q.len() != 1 || q[0].query_type() != self.rtype || q[0].name() != &self.name {
            return Err(FailureReason::Dns("question does not match".into()));
        }
        if (self.require_answer || !self.expect.is_empty()) && m.answers().is_empty() {
            return Err(FailureReason::Dns("no answer".into()));
        }
        if !self.expect.is_empty() {
            let found = m.answers().iter().any(|r| {
                let text = r.data().to_string();
                self.expect.iter().any(|e| e.eq_ignore_ascii_case(&text))
            });
            if !found {
                return Err(FailureReason::Dns("no expected answer".into()));
            }
        }
        Ok(())
    }

    async fn run(&self, target: &Target) -> Result<CheckOutcome, FailureReason> {
        let id = RandomState::new().hash_one(std::time::SystemTime::now()) as u16;
        let query = self.query(id)?;
        let local = self.bind.unwrap_or(if target.addr.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        });
        let sock = UdpSocket::bind(local).await?;
        sock.connect(target.addr).await?;
        sock.send(&query).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).await?;
            if let Some(verdict) = self.judge(id, &buf[..n]) {
                return verdict.map(|()| CheckOutcome::OK);
            }
        }
    }
}

#[async_trait]
impl Checker for DnsCheck {
    async fn check(&self, target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run(target)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors() {
        assert!(DnsCheck::new(Duration::from_secs(1), "example.test.", "a").is_ok());
        assert_eq!(
            DnsCheck::new(Duration::from_secs(1), "example.test", "NOPE").unwrap_err(),
            DnsConfigError::Type("NOPE".into())
        );
        assert!(DnsCheck::new(Duration::from_secs(1), "a..b", "A").is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let c = DnsCheck::new(Duration::from_secs(1), "example.test.", "A").unwrap();
        for len in 0..64usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let _ = c.judge(0, &data);
        }
    }
}

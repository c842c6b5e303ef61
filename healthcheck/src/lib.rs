//! Health checking for load-balanced real servers.
//!
//! This crate will own:
//! - the `Checker` trait and its checkers (TCP, HTTP/HTTPS, SMTP, DNS, UDP, ICMP, MISC
//!   script, FILE, external verdicts);
//! - the pure **scheduler** (interval, timeout, rise/fall, retries, jitter, shared probes,
//!   a global concurrency cap), testable in virtual time;
//! - the mapping from keepalived.conf's checker blocks.
#![forbid(unsafe_code)]

//! Entry points for the fuzz targets in `fuzz/`: every parser of peer-controlled bytes.
//! Not a stable API.

use std::time::Duration;

/// SMTP reply code of a line.
pub fn smtp_reply_code(line: &[u8]) -> Option<u16> {
    crate::checkers::smtp_reply_code(line)
}

/// Leading integer of a tracked file.
pub fn file_value(data: &[u8]) -> Option<i64> {
    crate::checkers::file_value(data)
}

/// Judges `reply` as a DNS response to an `A` query for `example.test.` with id `id`.
pub fn dns_reply(id: u16, reply: &[u8]) -> bool {
    match crate::checkers::DnsCheck::new(Duration::from_secs(1), "example.test.", "A") {
        Ok(c) => matches!(c.judge_reply(id, reply), Some(Ok(()))),
        Err(_) => false,
    }
}

/// Classifies an ICMP packet against a request with `ident` and `seq`.
pub fn icmp_reply(pkt: &[u8], v6: bool, ip_header: bool, ident: u16, seq: u16) -> bool {
    crate::checkers::icmp_is_echo_reply(pkt, v6, ip_header, ident, seq)
}

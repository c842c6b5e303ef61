//! DNS checker against a UDP DNS responder on 127.0.0.1.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use ha_healthcheck::checkers::DnsCheck;
use ha_healthcheck::{CheckOutcome, Checker, FailureReason, Target};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use tokio::net::UdpSocket;

const T: Duration = Duration::from_millis(400);

#[derive(Clone, Copy)]
enum Mode {
    Answer,
    Empty,
    NxDomain,
    Garbage,
    WrongIdFirst,
    WrongQuestion,
    Silent,
}

async fn dns_server(mode: Mode) -> Target {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        for _ in 0..4 {
            let Ok((n, from)) = s.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id()).set_message_type(MessageType::Response);
            for query in q.queries() {
                let mut query = query.clone();
                if let Mode::WrongQuestion = mode {
                    query.set_name("other.test.".parse().unwrap());
                }
                r.add_query(query);
            }
            let answer = Record::from_rdata(
                q.queries()[0].name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            );
            let bytes = match mode {
                Mode::Silent => continue,
                Mode::Garbage => b"\x00\x01garbage".to_vec(),
                Mode::NxDomain => {
                    r.set_response_code(ResponseCode::NXDomain);
                    r.to_vec().unwrap()
                }
                Mode::Empty => r.to_vec().unwrap(),
                Mode::Answer | Mode::WrongQuestion => {
                    r.add_answer(answer);
                    r.to_vec().unwrap()
                }
                Mode::WrongIdFirst => {
                    r.add_answer(answer);
                    let mut stray = r.clone();
                    stray.set_id(q.id().wrapping_add(1));
                    let _ = s.send_to(&stray.to_vec().unwrap(), from).await;
                    r.to_vec().unwrap()
                }
            };
            let _ = s.send_to(&bytes, from).await;
        }
    });
    Target::new(addr)
}

fn check() -> DnsCheck {
    DnsCheck::new(T, "www.example.test.", "A").unwrap()
}

fn dns_failure(out: &CheckOutcome) -> bool {
    matches!(out, CheckOutcome::Failure(FailureReason::Dns(_)))
}

#[tokio::test]
async fn answer_and_expected_data() {
    let t = dns_server(Mode::Answer).await;
    assert_eq!(check().check(&t).await, CheckOutcome::OK);
    let mut c = check();
    c.expect = vec!["192.0.2.1".into()];
    assert_eq!(c.check(&t).await, CheckOutcome::OK);
    let mut c = check();
    c.expect = vec!["192.0.2.99".into()];
    assert!(dns_failure(&c.check(&t).await));
}

#[tokio::test]
async fn empty_answer_passes_unless_required() {
    let t = dns_server(Mode::Empty).await;
    assert_eq!(check().check(&t).await, CheckOutcome::OK);
    let mut c = check();
    c.require_answer = true;
    assert!(dns_failure(&c.check(&t).await));
}

#[tokio::test]
async fn error_rcode_garbage_and_wrong_question_fail() {
    for mode in [Mode::NxDomain, Mode::Garbage, Mode::WrongQuestion] {
        let t = dns_server(mode).await;
        let out = check().check(&t).await;
        assert!(dns_failure(&out), "{out:?}");
    }
}

#[tokio::test]
async fn stray_id_is_ignored() {
    let t = dns_server(Mode::WrongIdFirst).await;
    assert_eq!(check().check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn silent_server_times_out_and_closed_port_is_refused() {
    let t = dns_server(Mode::Silent).await;
    let (out, took) = timed(check().check(&t)).await;
    assert_eq!(out, CheckOutcome::Failure(FailureReason::Timeout));
    assert!(took < T + SLACK);
    let t = Target::new(closed_udp_port());
    assert_eq!(
        check().check(&t).await,
        CheckOutcome::Failure(FailureReason::Refused)
    );
}

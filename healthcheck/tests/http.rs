//! HTTP checker against hand-written HTTP/1.1 servers on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use ha_healthcheck::checkers::{HeaderMatch, HttpCheck, StatusSet, UrlCheck, md5_hex};
use ha_healthcheck::{CheckOutcome, Checker, FailureReason, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_millis(500);

fn fail(r: FailureReason) -> CheckOutcome {
    CheckOutcome::Failure(r)
}

/// Reads one request head; `None` at end of stream.
async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return None;
        }
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn response(status: u16, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A server answering every request on every connection with `reply(head)`; counts
/// connections.
async fn http_server<F>(reply: F) -> (Target, Arc<AtomicUsize>)
where
    F: Fn(&str) -> Vec<u8> + Send + Sync + 'static,
{
    let conns = Arc::new(AtomicUsize::new(0));
    let reply = Arc::new(reply);
    let c = conns.clone();
    let t = tcp_server(16, move |mut s| {
        let reply = reply.clone();
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            for _ in 0..16 {
                let Some(head) = read_head(&mut s).await else {
                    return;
                };
                if s.write_all(&reply(&head)).await.is_err() {
                    return;
                }
                if head.to_ascii_lowercase().contains("connection: close") {
                    return;
                }
            }
        }
    })
    .await;
    (t, conns)
}

fn url(path: &str) -> UrlCheck {
    UrlCheck::new(path).unwrap()
}

#[tokio::test]
async fn status_codes_and_ranges() {
    let (t, _) = http_server(|head| {
        if head.starts_with("GET /ok ") {
            response(200, "", "fine")
        } else if head.starts_with("GET /moved ") {
            response(301, "Location: /ok\r\n", "")
        } else {
            response(503, "", "busy")
        }
    })
    .await;
    assert_eq!(
        HttpCheck::new(T, url("/ok")).check(&t).await,
        CheckOutcome::OK
    );
    assert_eq!(
        HttpCheck::new(T, url("/down")).check(&t).await,
        fail(FailureReason::Status(503))
    );
    assert_eq!(
        HttpCheck::new(T, url("/moved")).check(&t).await,
        fail(FailureReason::Status(301))
    );
    let mut u = url("/moved");
    u.status = StatusSet::parse("200-204,301").unwrap();
    assert_eq!(HttpCheck::new(T, u).check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn body_regex_and_digest() {
    let body = "<html>status: healthy</html>";
    let (t, _) = http_server(move |_| response(200, "", body)).await;
    let mut u = url("/");
    u.body = Some(regex::bytes::Regex::new("status: healthy").unwrap());
    u.digest = Some(md5_hex(body.as_bytes()).to_uppercase());
    assert_eq!(
        HttpCheck::new(T, u.clone()).check(&t).await,
        CheckOutcome::OK
    );
    let mut bad = u.clone();
    bad.body = Some(regex::bytes::Regex::new("status: sick").unwrap());
    assert_eq!(
        HttpCheck::new(T, bad).check(&t).await,
        fail(FailureReason::Body)
    );
    let mut inverted = u.clone();
    inverted.body_no_match = true;
    assert_eq!(
        HttpCheck::new(T, inverted).check(&t).await,
        fail(FailureReason::Body)
    );
    let mut wrong = u;
    wrong.digest = Some("00000000000000000000000000000000".into());
    assert_eq!(
        HttpCheck::new(T, wrong).check(&t).await,
        fail(FailureReason::Digest)
    );
}

#[tokio::test]
async fn digest_is_over_the_dechunked_body() {
    let (t, _) = http_server(|_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            .to_vec()
    })
    .await;
    let mut u = url("/");
    u.digest = Some(md5_hex(b"hello world"));
    assert_eq!(HttpCheck::new(T, u).check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn header_match() {
    let (t, _) = http_server(|_| response(200, "X-Role: primary\r\n", "")).await;
    let mut u = url("/");
    u.headers.push(HeaderMatch {
        name: "x-role".into(),
        value: Some(regex::bytes::Regex::new("^primary$").unwrap()),
    });
    assert_eq!(
        HttpCheck::new(T, u.clone()).check(&t).await,
        CheckOutcome::OK
    );
    u.headers[0].value = Some(regex::bytes::Regex::new("^backup$").unwrap());
    assert_eq!(
        HttpCheck::new(T, u.clone()).check(&t).await,
        fail(FailureReason::Header)
    );
    u.headers[0] = HeaderMatch {
        name: "x-missing".into(),
        value: None,
    };
    assert_eq!(
        HttpCheck::new(T, u).check(&t).await,
        fail(FailureReason::Header)
    );
}

#[tokio::test]
async fn virtual_host_is_sent() {
    let (t, _) = http_server(|head| {
        let host = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("host: ")
                    .or_else(|| l.strip_prefix("Host: "))
            })
            .unwrap_or("")
            .to_string();
        response(200, "", &host)
    })
    .await;
    let mut u = url("/");
    u.body = Some(regex::bytes::Regex::new("^www.example.test$").unwrap());
    let mut c = HttpCheck::new(T, u.clone());
    c.virtual_host = Some("www.example.test".into());
    assert_eq!(c.check(&t).await, CheckOutcome::OK);
    // Without it, the target address is the Host.
    u.body =
        Some(regex::bytes::Regex::new(&format!("^{}$", regex::escape(&t.to_string()))).unwrap());
    assert_eq!(HttpCheck::new(T, u).check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let (t, conns) = http_server(|_| response(200, "", "ok")).await;
    let mut c = HttpCheck::new(T, url("/a"));
    c.urls.push(url("/b"));
    c.keep_alive = true;
    for _ in 0..3 {
        assert_eq!(c.check(&t).await, CheckOutcome::OK);
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    assert_eq!(c.pooled_connections(), 1);

    let (t, conns) = http_server(|_| response(200, "", "ok")).await;
    let c = HttpCheck::new(T, url("/a"));
    for _ in 0..3 {
        assert_eq!(c.check(&t).await, CheckOutcome::OK);
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3);
    assert_eq!(c.pooled_connections(), 0);
}

#[tokio::test]
async fn keep_alive_recovers_when_server_closed_the_idle_connection() {
    let (t, conns) = http_server(|_| response(200, "Connection: close\r\n", "ok")).await;
    let mut c = HttpCheck::new(T, url("/a"));
    c.keep_alive = true;
    for _ in 0..2 {
        assert_eq!(c.check(&t).await, CheckOutcome::OK);
    }
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refused() {
    let t = closed_port().await;
    assert_eq!(
        HttpCheck::new(T, url("/")).check(&t).await,
        fail(FailureReason::Refused)
    );
}

#[tokio::test]
async fn garbage_response_is_protocol_error() {
    let t = tcp_server(1, |mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    assert!(matches!(
        HttpCheck::new(T, url("/")).check(&t).await,
        CheckOutcome::Failure(FailureReason::Protocol(_))
    ));
}

#[tokio::test]
async fn close_without_response_is_closed() {
    let t = tcp_server(1, |mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s.shutdown().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    assert_eq!(
        HttpCheck::new(T, url("/")).check(&t).await,
        fail(FailureReason::Closed)
    );
}

#[tokio::test]
async fn truncated_body_is_closed() {
    let t = tcp_server(1, |mut s| async move {
        let _ = read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
            .await;
        let _ = s.shutdown().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    assert_eq!(
        HttpCheck::new(T, url("/")).check(&t).await,
        fail(FailureReason::Closed)
    );
}

async fn slowloris(head_first: bool) -> Target {
    tcp_server(1, move |mut s| async move {
        let _ = read_head(&mut s).await;
        let (prefix, trickle): (&[u8], &[u8]) = if head_first {
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"x")
        } else {
            (b"", b"HTTP/1.1 200 OK\r\nX-Slow: ")
        };
        if s.write_all(prefix).await.is_err() {
            return;
        }
        for b in trickle.iter().cycle().take(60) {
            if s.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
}

#[tokio::test]
async fn slowloris_headers_time_out() {
    let t = slowloris(false).await;
    let (out, took) = timed(HttpCheck::new(T, url("/")).check(&t)).await;
    assert_eq!(out, fail(FailureReason::Timeout));
    assert!(took < T + SLACK, "{took:?}");
}

#[tokio::test]
async fn slowloris_body_times_out() {
    let t = slowloris(true).await;
    let (out, took) = timed(HttpCheck::new(T, url("/")).check(&t)).await;
    assert_eq!(out, fail(FailureReason::Timeout));
    assert!(took < T + SLACK, "{took:?}");
}

#[tokio::test]
async fn oversized_body_is_too_large() {
    let big = "y".repeat(10_000);
    let (t, _) = http_server(move |_| response(200, "", &big)).await;
    let mut c = HttpCheck::new(T, url("/"));
    c.max_body = 1000;
    assert_eq!(c.check(&t).await, fail(FailureReason::TooLarge));
}

#[tokio::test]
async fn reset_is_reset() {
    let t = tcp_server(1, |mut s| async move {
        let _ = read_head(&mut s).await;
        #[allow(deprecated)]
        let _ = s.set_linger(Some(Duration::ZERO));
        drop(s);
    })
    .await;
    assert_eq!(
        HttpCheck::new(T, url("/")).check(&t).await,
        fail(FailureReason::Reset)
    );
}

//! HTTPS: SNI, verification on and off, client certificates, against a rustls server on
//! 127.0.0.1 with test certificates from `tests/data` (a test CA, a server certificate for
//! localhost / www.example.test / 127.0.0.1, a client certificate).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ha_healthcheck::checkers::{
    HttpCheck, TlsClient, TlsVerify, UrlCheck, certs_from_pem, key_from_pem, roots_from_pem,
};
use ha_healthcheck::{CheckOutcome, Checker, FailureReason, Target};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

const T: Duration = Duration::from_millis(1500);
const CA: &[u8] = include_bytes!("data/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("data/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("data/server.key");
const CLIENT_CERT: &[u8] = include_bytes!("data/client.pem");
const CLIENT_KEY: &[u8] = include_bytes!("data/client.key");

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Option<()> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    Some(())
}

/// An HTTPS server whose body is the SNI name it received ("-" for none).
async fn tls_server(require_client_cert: bool) -> Target {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let roots = Arc::new(roots_from_pem(CA).unwrap());
        builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    let cfg = builder
        .with_single_cert(
            certs_from_pem(SERVER_CERT).unwrap(),
            key_from_pem(SERVER_KEY).unwrap(),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    tcp_server(8, move |s| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
            if read_head(&mut tls).await.is_none() {
                return;
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{sni}",
                sni.len()
            );
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    })
    .await
}

fn check(tls: TlsClient, body: &str) -> HttpCheck {
    let mut u = UrlCheck::new("/").unwrap();
    u.body = Some(regex::bytes::Regex::new(&format!("^{}$", regex::escape(body))).unwrap());
    let mut c = HttpCheck::new(T, u);
    c.tls = Some(tls);
    c
}

fn verify() -> TlsVerify {
    TlsVerify::Roots(roots_from_pem(CA).unwrap())
}

#[tokio::test]
async fn verified_with_sni() {
    let t = tls_server(false).await;
    let tls = TlsClient::new(verify(), None)
        .unwrap()
        .with_sni("www.example.test")
        .unwrap();
    assert_eq!(
        check(tls, "www.example.test").check(&t).await,
        CheckOutcome::OK
    );
}

#[tokio::test]
async fn virtual_host_is_the_default_sni() {
    let t = tls_server(false).await;
    let mut c = check(TlsClient::new(verify(), None).unwrap(), "localhost");
    c.virtual_host = Some("localhost".into());
    assert_eq!(c.check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn ip_target_without_sni_verifies_the_ip() {
    let t = tls_server(false).await;
    let c = check(TlsClient::new(verify(), None).unwrap(), "-");
    assert_eq!(c.check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn name_mismatch_fails_verification() {
    let t = tls_server(false).await;
    let tls = TlsClient::new(verify(), None)
        .unwrap()
        .with_sni("other.test")
        .unwrap();
    assert!(matches!(
        check(tls, "other.test").check(&t).await,
        CheckOutcome::Failure(FailureReason::Tls(_))
    ));
}

#[tokio::test]
async fn unknown_issuer_fails_unless_verification_is_off() {
    let t = tls_server(false).await;
    let tls = TlsClient::new(TlsVerify::Roots(RootCertStore::empty()), None).unwrap();
    assert!(matches!(
        check(tls, "-").check(&t).await,
        CheckOutcome::Failure(FailureReason::Tls(_))
    ));
    let tls = TlsClient::new(TlsVerify::Skip, None)
        .unwrap()
        .with_sni("other.test")
        .unwrap();
    assert_eq!(check(tls, "other.test").check(&t).await, CheckOutcome::OK);
}

#[tokio::test]
async fn client_certificate() {
    let t = tls_server(true).await;
    let auth = (
        certs_from_pem(CLIENT_CERT).unwrap(),
        key_from_pem(CLIENT_KEY).unwrap(),
    );
    let tls = TlsClient::new(verify(), Some(auth)).unwrap();
    assert_eq!(check(tls, "-").check(&t).await, CheckOutcome::OK);
    let tls = TlsClient::new(verify(), None).unwrap();
    let out = check(tls, "-").check(&t).await;
    assert!(
        matches!(out, CheckOutcome::Failure(FailureReason::Tls(_))),
        "{out:?}"
    );
}

#[tokio::test]
async fn plain_http_server_is_a_tls_failure() {
    let t = tcp_server(1, |mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    })
    .await;
    let tls = TlsClient::new(TlsVerify::Skip, None).unwrap();
    let (out, took) = timed(check(tls, "-").check(&t)).await;
    assert!(
        matches!(out, CheckOutcome::Failure(FailureReason::Tls(_))),
        "{out:?}"
    );
    assert!(took < T);
}

#[tokio::test]
async fn silent_server_times_out_in_handshake() {
    let t = tcp_server(1, |s| async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(s);
    })
    .await;
    let tls = TlsClient::new(TlsVerify::Skip, None).unwrap();
    let mut c = check(tls, "-");
    c.timeout = Duration::from_millis(300);
    let (out, took) = timed(c.check(&t)).await;
    assert_eq!(out, CheckOutcome::Failure(FailureReason::Timeout));
    assert!(took < Duration::from_millis(300) + SLACK);
}

/// Probes resume TLS sessions, for many more targets than rustls' default cache holds
/// (32 servers): here 40 distinct server names, each probed twice.
#[tokio::test]
async fn sessions_resume_across_probes_of_many_targets() {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            certs_from_pem(SERVER_CERT).unwrap(),
            key_from_pem(SERVER_KEY).unwrap(),
        )
        .unwrap();
    cfg.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let t = tcp_server(80, move |s| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let kind = match tls.get_ref().1.handshake_kind() {
                Some(rustls::HandshakeKind::Resumed) => "resumed",
                _ => "full",
            };
            if read_head(&mut tls).await.is_none() {
                return;
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{kind}",
                kind.len()
            );
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    })
    .await;
    let tls = TlsClient::new(TlsVerify::Skip, None).unwrap();
    let checks: Vec<(HttpCheck, HttpCheck)> = (0..40)
        .map(|i| {
            let mut full = check(tls.clone(), "full");
            full.virtual_host = Some(format!("h{i}.example.test"));
            let mut resumed = check(tls.clone(), "resumed");
            resumed.virtual_host = Some(format!("h{i}.example.test"));
            (full, resumed)
        })
        .collect();
    for (full, _) in &checks {
        assert_eq!(full.check(&t).await, CheckOutcome::OK);
    }
    for (_, resumed) in &checks {
        assert_eq!(resumed.check(&t).await, CheckOutcome::OK);
    }
}

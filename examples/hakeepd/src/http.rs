//! The opt-in local HTTP endpoint: `/metrics` (Prometheus), `/status` (JSON) and the
//! runtime control API.
//!
//! | method and path | effect |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /status` | the status document (JSON) |
//! | `POST /vrrp/INSTANCE/priority/N` | change the configured priority, live |
//! | `POST /vrrp/INSTANCE/addresses/IP` | add a virtual address |
//! | `DELETE /vrrp/INSTANCE/addresses/IP` | remove a virtual address |
//! | `POST /ipvs/real-server?vs=VS&rs=IP:PORT[&weight=N]` | add a real server (weight 1 by default) |
//! | `DELETE /ipvs/real-server?vs=VS&rs=IP:PORT` | remove a real server |
//! | `POST /ipvs/real-server/drain?vs=VS&rs=IP:PORT` | drain it: weight 0, existing connections stay |
//! | `POST /ipvs/real-server/undrain?vs=VS&rs=IP:PORT` | back to its configured weight |
//! | `POST /reload` | reload the configuration (as SIGHUP) |
//!
//! `VS` is the virtual server's name as `/status` shows it (`192.0.2.1:80/TCP`,
//! `fwmark 1`, `group NAME`), percent-encoded where needed; an IPv6 real server is
//! written `[2001:db8::1]:80`.
//!
//! Changes answer `200` with a JSON body, `404` for an unknown path, `400` with
//! `{"error": ...}` when refused. Changes are accepted from loopback peers only, whatever
//! address the endpoint listens on. One request per connection; the request head may be
//! at most 8 KiB and must arrive within 5 seconds.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::daemon::{Action, ControlRequest, ControlSender};

const MAX_HEAD: usize = 8192;

/// What the router decided for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Ask the daemon.
    Action(Action),
    /// Unknown path.
    NotFound,
    /// Known path, wrong method.
    MethodNotAllowed,
    /// A malformed parameter.
    BadRequest(String),
}

/// Decodes `%XX` escapes and `+` (a space) of a query value; a malformed escape is
/// kept as it is.
fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(path: &str) -> Vec<(String, String)> {
    path.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn real_server_params(path: &str) -> Result<(String, SocketAddr, Option<u32>), String> {
    let q = query(path);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let vs = get("vs").ok_or("missing vs=")?;
    let rs = get("rs").ok_or("missing rs=")?;
    let rs: SocketAddr = rs
        .parse()
        .map_err(|_| format!("rs={rs:?} is not IP:PORT"))?;
    let weight = match get("weight") {
        None => None,
        Some(w) => Some(
            w.parse::<u32>()
                .ok()
                .filter(|w| *w <= 65535)
                .ok_or_else(|| format!("weight={w:?} is not in 0..=65535"))?,
        ),
    };
    Ok((vs, rs, weight))
}

/// Maps a method and path to an action.
pub fn route(method: &str, full_path: &str) -> Route {
    let path = full_path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["metrics"]) => Route::Action(Action::Metrics),
        ("GET", ["status"]) => Route::Action(Action::Status),
        ("POST", ["reload"]) => Route::Action(Action::Reload),
        ("POST", ["vrrp", instance, "priority", n]) => match n.parse::<u8>() {
            Ok(priority) => Route::Action(Action::SetPriority {
                instance: instance.to_string(),
                priority,
            }),
            Err(_) => Route::BadRequest(format!("priority {n:?} is not a number in 1..=254")),
        },
        (m @ ("POST" | "DELETE"), ["vrrp", instance, "addresses", ip]) => {
            match ip.parse::<IpAddr>() {
                Ok(address) if m == "POST" => Route::Action(Action::AddAddress {
                    instance: instance.to_string(),
                    address,
                }),
                Ok(address) => Route::Action(Action::RemoveAddress {
                    instance: instance.to_string(),
                    address,
                }),
                Err(_) => Route::BadRequest(format!("{ip:?} is not an IP address")),
            }
        }
        (m @ ("POST" | "DELETE"), ["ipvs", "real-server"]) => match real_server_params(full_path) {
            Ok((virtual_server, real_server, weight)) if m == "POST" => {
                Route::Action(Action::AddRealServer {
                    virtual_server,
                    real_server,
                    weight: weight.unwrap_or(1),
                })
            }
            Ok((virtual_server, real_server, _)) => Route::Action(Action::RemoveRealServer {
                virtual_server,
                real_server,
            }),
            Err(why) => Route::BadRequest(why),
        },
        ("POST", ["ipvs", "real-server", verb @ ("drain" | "undrain")]) => {
            match real_server_params(full_path) {
                Ok((virtual_server, real_server, _)) => Route::Action(Action::DrainRealServer {
                    virtual_server,
                    real_server,
                    drain: *verb == "drain",
                }),
                Err(why) => Route::BadRequest(why),
            }
        }
        (_, ["metrics" | "status" | "reload"]) => Route::MethodNotAllowed,
        (_, ["ipvs", "real-server", ..]) => Route::MethodNotAllowed,
        (_, ["vrrp", _, "priority", _]) | (_, ["vrrp", _, "addresses", _]) => {
            Route::MethodNotAllowed
        }
        _ => Route::NotFound,
    }
}

/// Serves the endpoint on `listener` until the daemon stops.
pub async fn serve(listener: TcpListener, control: ControlSender) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(%e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let control = control.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, control).await {
                debug!(%peer, %e, "HTTP connection ended");
            }
        });
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8(buf).ok())
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    control: ControlSender,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(Duration::from_secs(5), read_head(&mut stream)).await {
        Ok(r) => r?,
        Err(_) => None,
    };
    let Some(head) = head else {
        return respond(&mut stream, 400, "text/plain", "bad request\n").await;
    };
    let mut request_line = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = match (request_line.next(), request_line.next()) {
        (Some(m), Some(p)) => (m.to_string(), p.to_string()),
        _ => return respond(&mut stream, 400, "text/plain", "bad request\n").await,
    };
    let action = match route(&method, &path) {
        Route::Action(a) => a,
        Route::NotFound => return respond(&mut stream, 404, "text/plain", "not found\n").await,
        Route::MethodNotAllowed => {
            return respond(&mut stream, 405, "text/plain", "method not allowed\n").await;
        }
        Route::BadRequest(why) => return error(&mut stream, 400, &why).await,
    };
    let mutating = !matches!(action, Action::Status | Action::Metrics);
    if mutating && !peer.ip().is_loopback() {
        return error(&mut stream, 403, "changes are accepted from loopback only").await;
    }
    let (reply, answer) = oneshot::channel();
    let metrics = action == Action::Metrics;
    if control
        .send(ControlRequest { action, reply })
        .await
        .is_err()
    {
        return error(&mut stream, 503, "the daemon is stopping").await;
    }
    match answer.await {
        Ok(Ok(serde_json::Value::String(text))) if metrics => {
            respond(&mut stream, 200, "text/plain; version=0.0.4", &text).await
        }
        Ok(Ok(value)) => {
            let body = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
            respond(&mut stream, 200, "application/json", &body).await
        }
        Ok(Err(why)) => error(&mut stream, 400, &why).await,
        Err(_) => error(&mut stream, 503, "the daemon is stopping").await,
    }
}

async fn error(stream: &mut TcpStream, code: u16, why: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "error": why }).to_string() + "\n";
    respond(stream, code, "application/json", &body).await
}

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_actions() {
        assert_eq!(route("GET", "/metrics"), Route::Action(Action::Metrics));
        assert_eq!(route("GET", "/status?x=1"), Route::Action(Action::Status));
        assert_eq!(
            route("POST", "/vrrp/VI_1/priority/150"),
            Route::Action(Action::SetPriority {
                instance: "VI_1".into(),
                priority: 150
            })
        );
        assert_eq!(
            route("DELETE", "/vrrp/VI_1/addresses/10.0.0.5"),
            Route::Action(Action::RemoveAddress {
                instance: "VI_1".into(),
                address: "10.0.0.5".parse().unwrap()
            })
        );
        assert!(matches!(
            route("POST", "/vrrp/VI_1/priority/300"),
            Route::BadRequest(_)
        ));
        assert!(matches!(
            route("POST", "/vrrp/VI_1/addresses/nope"),
            Route::BadRequest(_)
        ));
        assert_eq!(
            route(
                "POST",
                "/ipvs/real-server/drain?vs=192.0.2.1%3A80%2FTCP&rs=10.0.0.2:80"
            ),
            Route::Action(Action::DrainRealServer {
                virtual_server: "192.0.2.1:80/TCP".into(),
                real_server: "10.0.0.2:80".parse().unwrap(),
                drain: true
            })
        );
        assert_eq!(
            route(
                "POST",
                "/ipvs/real-server?vs=fwmark+1&rs=[2001:db8::2]:0&weight=5"
            ),
            Route::Action(Action::AddRealServer {
                virtual_server: "fwmark 1".into(),
                real_server: "[2001:db8::2]:0".parse().unwrap(),
                weight: 5
            })
        );
        assert!(matches!(
            route("DELETE", "/ipvs/real-server?vs=x"),
            Route::BadRequest(_)
        ));
        assert!(matches!(
            route("POST", "/ipvs/real-server?vs=x&rs=10.0.0.1:80&weight=70000"),
            Route::BadRequest(_)
        ));
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(route("POST", "/metrics"), Route::MethodNotAllowed);
        assert_eq!(route("GET", "/nothing"), Route::NotFound);
    }
}

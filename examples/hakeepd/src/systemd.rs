//! systemd's readiness protocol (`sd_notify`): one datagram to `$NOTIFY_SOCKET`. Without
//! that variable nothing is sent, so the daemon runs the same outside systemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (e.g. `READY=1`) to systemd if it asked for notifications. Failures are
/// logged, never fatal.
pub fn notify(state: &str) {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        let path = path.to_string_lossy().into_owned();
        if let Err(e) = notify_to(&path, state) {
            tracing::warn!(%e, socket = %path, "systemd notification failed");
        }
    }
}

/// Sends `state` to the notification socket `path` (a leading `@` names a socket in the
/// abstract namespace).
pub fn notify_to(path: &str, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(path)?,
    };
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn readiness_reaches_the_socket() {
        let dir = std::env::temp_dir().join(format!("hakeepd-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        super::notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        let abstract_name = format!("hakeepd-sd-test-{}", std::process::id());
        let abstract_listener = {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .unwrap();
            std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap()
        };
        super::notify_to(&format!("@{abstract_name}"), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let n = abstract_listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The few system calls that `socket2` does not wrap: `recvmsg` with IPv6 ancillary data,
//! `IPV6_RECVPKTINFO`, and binding an `AF_PACKET` socket to an interface.
//!
//! This is the only module of the crate allowed to use `unsafe` (the crate root denies it
//! everywhere else). Each block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// What [`recv_v6`] learned about one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecvV6 {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The datagram did not fit the buffer.
    pub truncated: bool,
    /// Source address.
    pub source: Ipv6Addr,
    /// Destination address (`IPV6_PKTINFO`).
    pub destination: Option<Ipv6Addr>,
    /// Arrival interface (`IPV6_PKTINFO`).
    pub ifindex: Option<u32>,
    /// Hop limit (`IPV6_HOPLIMIT`).
    pub hop_limit: Option<u8>,
}

/// Receives one datagram without blocking, with its `IPV6_PKTINFO` and `IPV6_HOPLIMIT`
/// ancillary data (enable them with [`enable_v6_ancillary`] first).
pub(crate) fn recv_v6(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<RecvV6> {
    // 8-byte aligned room for both control messages (2 × 32 bytes at most on 64-bit).
    let mut control = [0u64; 16];
    // SAFETY: sockaddr_in6 and msghdr are plain C structs for which all-zero bytes are a
    // valid value.
    let mut name: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&raw mut name).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points to a live local (`name`, `iov`, `control`) or to
    // `buf`, with the lengths given; the kernel writes at most those lengths. The fd is
    // borrowed, so it stays open for the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = usize::try_from(n).unwrap_or(0).min(buf.len());
    let mut out = RecvV6 {
        len,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        source: Ipv6Addr::from(name.sin6_addr.s6_addr),
        destination: None,
        ifindex: None,
        hop_limit: None,
    };
    // SAFETY: `msg` was filled in by a successful recvmsg; CMSG_FIRSTHDR / CMSG_NXTHDR
    // only walk within msg_control / msg_controllen, which the kernel set and which lie
    // inside `control`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: a non-null header returned by CMSG_FIRSTHDR/NXTHDR lies inside `control`.
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_LEN is a pure computation.
        let data_len =
            (header.cmsg_len as usize).saturating_sub(unsafe { libc::CMSG_LEN(0) } as usize);
        // SAFETY: CMSG_DATA points just past the header, inside `control`; we read only
        // when the message carries at least that many bytes, unaligned.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        if header.cmsg_level == libc::IPPROTO_IPV6 {
            if header.cmsg_type == libc::IPV6_PKTINFO
                && data_len >= mem::size_of::<libc::in6_pktinfo>()
            {
                // SAFETY: see above: the bytes are there and any bit pattern is valid.
                let info: libc::in6_pktinfo =
                    unsafe { data.cast::<libc::in6_pktinfo>().read_unaligned() };
                out.destination = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                out.ifindex = Some(info.ipi6_ifindex);
            } else if header.cmsg_type == libc::IPV6_HOPLIMIT
                && data_len >= mem::size_of::<libc::c_int>()
            {
                // SAFETY: as above.
                let hops: libc::c_int = unsafe { data.cast::<libc::c_int>().read_unaligned() };
                out.hop_limit = u8::try_from(hops).ok();
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(out)
}

fn set_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: we pass a pointer to a live c_int and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Turns on `IPV6_RECVPKTINFO` and `IPV6_RECVHOPLIMIT`.
pub(crate) fn enable_v6_ancillary(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
}

/// Binds an `AF_PACKET` socket to one interface with protocol 0: it can send frames on
/// that interface and receives none.
pub(crate) fn bind_packet(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is a plain C struct; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = 0;
    sll.sll_ifindex = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    // SAFETY: we pass a pointer to a live sockaddr_ll and its exact size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Registers an owned socket with tokio's reactor.
///
/// `AsyncFd::new` is deprecated in recent tokio because it cannot check that the
/// descriptor stays open and the same for the `AsyncFd`'s lifetime. Here it does: a
/// `socket2::Socket` owns its descriptor, is moved into the `AsyncFd`, and closes it only
/// when dropped (after tokio deregistered it). The replacement, `AsyncFd::register`, is
/// missing from the oldest tokio the workspace allows.
#[allow(deprecated)]
pub(crate) fn register(
    socket: socket2::Socket,
) -> io::Result<tokio::io::unix::AsyncFd<socket2::Socket>> {
    tokio::io::unix::AsyncFd::new(socket)
}

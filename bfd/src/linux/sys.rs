//! The few system calls the standard library and `socket2` do not wrap: integer socket
//! options and `recvmsg` with ancillary data (received TTL / hop limit, destination
//! address and arrival interface).
//!
//! This is the only module of the crate allowed to use `unsafe`; every block says why it
//! is sound.

use std::io;
use std::mem::{MaybeUninit, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

/// `IPV6_MINHOPCOUNT` (linux/in6.h); not exported by every libc target.
pub(crate) const IPV6_MINHOPCOUNT: libc::c_int = 73;

/// Sets an `int`-valued socket option.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor for the duration of the borrow; the option value
    // points at a local `c_int` and the length passed is exactly its size, so the kernel
    // reads only initialised memory we own.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast::<libc::c_void>(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram's length and what the kernel told us about it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received {
    /// Payload bytes written to the buffer.
    pub(crate) len: usize,
    /// Whether the datagram was longer than the buffer.
    pub(crate) truncated: bool,
    /// The sender.
    pub(crate) source: SocketAddr,
    /// The destination address (`IP_PKTINFO` / `IPV6_PKTINFO`).
    pub(crate) destination: Option<IpAddr>,
    /// The arrival interface index (from the same control message).
    pub(crate) ifindex: u32,
    /// The received TTL / hop limit (`IP_TTL` / `IPV6_HOPLIMIT` control message).
    pub(crate) ttl: Option<u8>,
}

/// Ancillary data buffer, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 256]);

/// Receives one datagram without blocking (the socket is non-blocking), with its control
/// messages parsed.
pub(crate) fn recv_with_meta(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut addr = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut control = CmsgBuf([0; 256]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<libc::c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero `msghdr` is a valid value (null pointers, zero lengths); every
    // field we rely on is set just below.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_name = addr.as_mut_ptr().cast::<libc::c_void>();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast::<libc::c_void>();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` points at memory that outlives the call: `addr` (sized as stated in
    // msg_namelen), one iovec covering exactly `buf`, and `control` (sized as stated in
    // msg_controllen). The kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = usize::try_from(n).unwrap_or(0).min(buf.len());
    // SAFETY: the kernel initialised `msg_namelen` bytes of `addr` (the storage was zeroed
    // beforehand, so every byte is initialised either way) and sockaddr_storage has no
    // invalid bit patterns.
    let storage = unsafe { addr.assume_init() };
    let source = sockaddr_to_std(&storage)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected address family"))?;
    let mut out = Received {
        len,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        source,
        destination: None,
        ifindex: 0,
        ttl: None,
    };
    // SAFETY: `msg` is the header the kernel just filled; CMSG_FIRSTHDR/CMSG_NXTHDR only
    // return pointers inside `control` (bounded by msg_controllen) or null.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    while !cmsg.is_null() {
        // SAFETY: non-null pointers from CMSG_FIRSTHDR/NXTHDR point at a complete cmsghdr
        // inside `control`; it may be unaligned for nothing (the buffer is 8-aligned and
        // the kernel aligns headers), but read_unaligned does not care.
        let header = unsafe { cmsg.read_unaligned() };
        // SAFETY: CMSG_DATA of a valid header points inside `control`.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        let data_len = (header.cmsg_len as usize).saturating_sub(
            // SAFETY: CMSG_LEN is a pure size computation.
            unsafe { libc::CMSG_LEN(0) } as usize,
        );
        match (header.cmsg_level, header.cmsg_type) {
            (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                if data_len >= size_of::<libc::c_int>() =>
            {
                // SAFETY: the kernel wrote an int here (checked length); unaligned read.
                let v = unsafe { data.cast::<libc::c_int>().read_unaligned() };
                out.ttl = u8::try_from(v).ok();
            }
            (libc::IPPROTO_IP, libc::IP_PKTINFO) if data_len >= size_of::<libc::in_pktinfo>() => {
                // SAFETY: the kernel wrote an in_pktinfo here (checked length).
                let info = unsafe { data.cast::<libc::in_pktinfo>().read_unaligned() };
                out.destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    info.ipi_addr.s_addr,
                ))));
                out.ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                if data_len >= size_of::<libc::in6_pktinfo>() =>
            {
                // SAFETY: the kernel wrote an in6_pktinfo here (checked length).
                let info = unsafe { data.cast::<libc::in6_pktinfo>().read_unaligned() };
                out.destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                out.ifindex = info.ipi6_ifindex;
            }
            _ => {}
        }
        // SAFETY: as for CMSG_FIRSTHDR; `cmsg` is a valid header within `msg`.
        cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
    }
    Ok(out)
}

fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in, which is smaller
            // than sockaddr_storage and has no invalid bit patterns.
            let sin = unsafe { (&raw const *storage).cast::<libc::sockaddr_in>().read() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { (&raw const *storage).cast::<libc::sockaddr_in6>().read() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

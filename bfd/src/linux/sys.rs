//! The few system calls the standard library, `socket2` and `rustix` do not wrap: integer
//! socket options, `recvmmsg` with ancillary data (received TTL / hop limit, destination
//! address and arrival interface), many datagrams per call, and `sched_setscheduler`.
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

/// Puts the calling thread under `SCHED_RR` at `priority` (1–99). On Linux, scheduling
/// is per thread, and `sched_setscheduler` with pid 0 changes the calling thread only.
pub(crate) fn set_realtime(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: libc::c_int::from(priority),
    };
    // SAFETY: `param` is a fully initialised local that outlives the call; the kernel only
    // reads it. Pid 0 names the calling thread, which exists.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &raw const param) };
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
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// How many datagrams one [`recv_batch`] call takes at most.
pub(crate) const BATCH: usize = 32;

/// The room for one datagram in a [`RecvBatch`]. A BFD Control packet's length field is
/// one byte, so no valid packet is longer; longer datagrams are reported truncated.
pub(crate) const SLOT: usize = 256;

/// Buffers for up to [`BATCH`] datagrams received by one `recvmmsg(2)`, and what the
/// kernel said about each. Plain data (no pointers), so it can live in a `Send` type; the
/// pointer structures the system call needs are built on the stack for each call.
pub(crate) struct RecvBatch {
    data: Box<[[u8; SLOT]; BATCH]>,
    control: Box<[CmsgBuf; BATCH]>,
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    /// One entry per datagram of the last call, in arrival order; `None` when the sender's
    /// address was of an unexpected family.
    got: Vec<Option<Received>>,
    /// The next entry of `got` to hand out.
    next: usize,
}

impl RecvBatch {
    /// Empty buffers.
    pub(crate) fn new() -> Self {
        RecvBatch {
            data: Box::new([[0; SLOT]; BATCH]),
            control: Box::new([CmsgBuf([0; 128]); BATCH]),
            // SAFETY: sockaddr_storage is plain integers; all-zero is a valid value.
            addrs: Box::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            got: Vec::with_capacity(BATCH),
            next: 0,
        }
    }

    /// The next datagram not yet handed out: its payload and metadata (`None`: a sender
    /// address of an unexpected family).
    pub(crate) fn pop(&mut self) -> Option<(&[u8], Option<Received>)> {
        let got = *self.got.get(self.next)?;
        let slot = self.next;
        self.next += 1;
        let len = got.map_or(0, |g| g.len);
        Some((&self.data[slot][..len.min(SLOT)], got))
    }
}

/// Receives up to [`BATCH`] datagrams with one `recvmmsg(2)` without blocking (the socket
/// is non-blocking), replacing what `batch` held. Returns how many arrived.
pub(crate) fn recv_batch(fd: BorrowedFd<'_>, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.got.clear();
    batch.next = 0;
    let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
        iov_base: batch.data[i].as_mut_ptr().cast::<libc::c_void>(),
        iov_len: SLOT,
    });
    // SAFETY: an all-zero `mmsghdr` is a valid value (null pointers, zero lengths); every
    // field we rely on is set just below.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
    for (i, h) in headers.iter_mut().enumerate() {
        h.msg_hdr.msg_name = (&raw mut batch.addrs[i]).cast::<libc::c_void>();
        h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_hdr.msg_iov = &raw mut iovecs[i];
        h.msg_hdr.msg_iovlen = 1;
        h.msg_hdr.msg_control = batch.control[i].0.as_mut_ptr().cast::<libc::c_void>();
        h.msg_hdr.msg_controllen = batch.control[i].0.len() as _;
    }
    // SAFETY: `headers` holds BATCH valid message headers, each pointing at memory that
    // outlives the call: its own sockaddr_storage (sized as stated in msg_namelen), one
    // iovec covering exactly its SLOT-byte data buffer, and its control buffer (sized as
    // stated in msg_controllen). The kernel writes at most those lengths, and at most
    // BATCH headers (the count passed). A null timeout is allowed.
    let n = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            headers.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = usize::try_from(n).unwrap_or(0).min(BATCH);
    for (i, h) in headers.iter().enumerate().take(n) {
        let len = (h.msg_len as usize).min(SLOT);
        let got = sockaddr_to_std(&batch.addrs[i]).map(|source| {
            // SAFETY: `h.msg_hdr` is a header the kernel just filled, whose control
            // pointer and length describe `batch.control[i]`.
            unsafe { parse_control(&h.msg_hdr, len, source) }
        });
        batch.got.push(got);
    }
    Ok(n)
}

/// Reads the flags and control messages of a message header the kernel filled.
///
/// # Safety
///
/// `msg` must have been filled by `recvmsg`/`recvmmsg`, with `msg_control` /
/// `msg_controllen` describing a live buffer.
unsafe fn parse_control(msg: &libc::msghdr, len: usize, source: SocketAddr) -> Received {
    let mut out = Received {
        len,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        source,
        destination: None,
        ifindex: 0,
        ttl: None,
    };
    // SAFETY: `msg` is a header the kernel filled (caller's contract); CMSG_FIRSTHDR and
    // CMSG_NXTHDR only return pointers inside its control buffer (bounded by
    // msg_controllen) or null.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: non-null pointers from CMSG_FIRSTHDR/NXTHDR point at a complete cmsghdr
        // inside the control buffer; read_unaligned does not care about alignment.
        let header = unsafe { cmsg.read_unaligned() };
        // SAFETY: CMSG_DATA of a valid header points inside the control buffer.
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
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    out
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

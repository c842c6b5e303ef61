//! Whole netlink messages: the framing around [`IpvsMessage`] as read from and written to
//! a `NETLINK_GENERIC` socket, including `NLMSG_ERROR` with extended-ACK text and the
//! controller's family lookup. Pure: bytes in, bytes out.

use super::{GENL_HDRLEN, IpvsMessage, PacketError};
use netlink_packet_core::{
    Emitable, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload, NlasIterator,
};
use netlink_packet_generic::{
    GenlMessage,
    constants::GENL_ID_CTRL,
    ctrl::{GenlCtrl, GenlCtrlCmd, nlas::GenlCtrlAttrs},
};

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLMSGERR_ATTR_MSG: u16 = 1;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// The generic-netlink controller's family id.
pub const CTRL_FAMILY_ID: u16 = GENL_ID_CTRL;

/// A parsed `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlHeader {
    /// Length of the message, header included.
    pub len: u32,
    /// Message type: a family id, or `NLMSG_*`.
    pub kind: u16,
    /// `NLM_F_*` flags.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
    /// Port id of the sender.
    pub pid: u32,
}

/// One netlink message from a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message of the IPVS family.
    Ipvs {
        /// Its header.
        header: NlHeader,
        /// Its payload.
        message: IpvsMessage,
    },
    /// `NLMSG_ERROR` with error code 0: the request succeeded.
    Ack {
        /// Its header.
        header: NlHeader,
    },
    /// `NLMSG_ERROR` with a non-zero error code.
    Error {
        /// Its header.
        header: NlHeader,
        /// The positive errno.
        errno: i32,
        /// The extended-ACK message, if the kernel sent one.
        ext_ack: Option<String>,
    },
    /// `NLMSG_DONE`: end of a dump.
    Done {
        /// Its header.
        header: NlHeader,
        /// The positive errno the dump ended with, 0 when it succeeded.
        errno: i32,
    },
    /// `NLMSG_NOOP` or `NLMSG_OVERRUN`.
    Control {
        /// Its header.
        header: NlHeader,
    },
    /// A message of another type (e.g. the controller's reply), payload kept.
    Other {
        /// Its header.
        header: NlHeader,
        /// The payload after the netlink header.
        payload: Vec<u8>,
    },
}

impl Frame {
    /// The frame's header.
    pub fn header(&self) -> &NlHeader {
        match self {
            Frame::Ipvs { header, .. }
            | Frame::Ack { header }
            | Frame::Error { header, .. }
            | Frame::Done { header, .. }
            | Frame::Control { header }
            | Frame::Other { header, .. } => header,
        }
    }
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn rd_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_ne_bytes(a)
}

fn rd_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(a)
}

fn parse_header(buf: &[u8]) -> Result<NlHeader, PacketError> {
    if buf.len() < NLMSG_HDRLEN {
        return Err(PacketError::Truncated {
            what: "netlink header",
            need: NLMSG_HDRLEN,
            have: buf.len(),
        });
    }
    Ok(NlHeader {
        len: rd_u32(buf, 0),
        kind: rd_u16(buf, 4),
        flags: rd_u16(buf, 6),
        seq: rd_u32(buf, 8),
        pid: rd_u32(buf, 12),
    })
}

/// Iterator over the netlink messages in one datagram; see [`parse_frames`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    buf: &'a [u8],
    family_id: u16,
    failed: bool,
}

/// Parses the netlink messages of one received datagram. Messages whose type is
/// `family_id` are decoded as [`IpvsMessage`]. After the first error the iterator ends.
pub fn parse_frames(buf: &[u8], family_id: u16) -> Frames<'_> {
    Frames {
        buf,
        family_id,
        failed: false,
    }
}

/// Parses a whole datagram into frames, failing on the first malformed one.
pub fn decode_reply(buf: &[u8], family_id: u16) -> Result<Vec<Frame>, PacketError> {
    parse_frames(buf, family_id).collect()
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let r = self.next_frame();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl Frames<'_> {
    fn next_frame(&mut self) -> Result<Frame, PacketError> {
        let header = parse_header(self.buf)?;
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > self.buf.len() {
            return Err(PacketError::BadMessageLength {
                len,
                have: self.buf.len(),
            });
        }
        let payload = &self.buf[NLMSG_HDRLEN..len];
        let next = align4(len).min(self.buf.len());
        self.buf = &self.buf[next..];
        Ok(match header.kind {
            NLMSG_ERROR => parse_error(header, payload)?,
            NLMSG_DONE => Frame::Done {
                header,
                errno: match payload.get(..4) {
                    Some(b) => (rd_u32(b, 0) as i32).checked_neg().unwrap_or(i32::MAX),
                    None => 0,
                },
            },
            NLMSG_NOOP | NLMSG_OVERRUN => Frame::Control { header },
            k if k == self.family_id && k != 0 => Frame::Ipvs {
                header,
                message: IpvsMessage::decode_genl(payload)?,
            },
            _ => Frame::Other {
                header,
                payload: payload.to_vec(),
            },
        })
    }
}

fn parse_error(header: NlHeader, payload: &[u8]) -> Result<Frame, PacketError> {
    if payload.len() < 4 {
        return Err(PacketError::Truncated {
            what: "netlink error code",
            need: 4,
            have: payload.len(),
        });
    }
    let code = rd_u32(payload, 0) as i32;
    if code == 0 {
        return Ok(Frame::Ack { header });
    }
    let mut ext_ack = None;
    if header.flags & NLM_F_ACK_TLVS != 0 {
        // The original request header follows, then its payload unless capped.
        let rest = &payload[4..];
        let orig = parse_header(rest)?;
        let skip = if header.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(orig.len as usize).max(NLMSG_HDRLEN)
        };
        if let Some(tlvs) = rest.get(skip..) {
            for nla in NlasIterator::new(tlvs) {
                let nla = nla?;
                if nla.kind() == NLMSGERR_ATTR_MSG {
                    let v: &[u8] = nla.value();
                    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                    ext_ack = Some(String::from_utf8_lossy(&v[..end]).into_owned());
                }
            }
        }
    }
    Ok(Frame::Error {
        header,
        errno: code.checked_neg().unwrap_or(i32::MAX),
        ext_ack,
    })
}

/// Encodes a request: netlink header, generic-netlink header and attributes.
/// `dump` adds `NLM_F_DUMP`; every request asks for an ACK.
pub fn encode_request(family_id: u16, seq: u32, dump: bool, msg: &IpvsMessage) -> Vec<u8> {
    let mut flags = NLM_F_REQUEST | NLM_F_ACK;
    if dump {
        flags |= NLM_F_DUMP;
    }
    let mut genl = GenlMessage::from_payload(msg.clone());
    genl.set_resolved_family_id(family_id);
    finish(genl, flags, seq)
}

fn finish<F>(genl: GenlMessage<F>, flags: u16, seq: u32) -> Vec<u8>
where
    F: netlink_packet_generic::GenlFamily + Emitable + std::fmt::Debug,
{
    let mut nl = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(genl));
    nl.header.flags = flags;
    nl.header.sequence_number = seq;
    nl.finalize();
    let mut buf = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// Encodes the controller request that resolves the `IPVS` family id.
pub fn encode_get_family(seq: u32) -> Vec<u8> {
    let genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(super::IPVS_GENL_NAME.to_owned())],
    });
    finish(genl, NLM_F_REQUEST | NLM_F_ACK, seq)
}

/// Reads the family id out of a controller reply's payload (genl header and attributes),
/// if the reply names the `IPVS` family.
pub fn family_id_from_ctrl(payload: &[u8]) -> Result<Option<u16>, PacketError> {
    let attrs = payload.get(GENL_HDRLEN..).ok_or(PacketError::Truncated {
        what: "generic netlink header",
        need: GENL_HDRLEN,
        have: payload.len(),
    })?;
    let mut id = None;
    let mut is_ipvs = false;
    for nla in NlasIterator::new(attrs) {
        let nla = nla?;
        let v: &[u8] = nla.value();
        match nla.kind() {
            CTRL_ATTR_FAMILY_ID => {
                let b: [u8; 2] = v.try_into().map_err(|_| PacketError::Length {
                    attr: "CTRL_FAMILY_ID",
                    expected: 2,
                    got: v.len(),
                })?;
                id = Some(u16::from_ne_bytes(b));
            }
            CTRL_ATTR_FAMILY_NAME => {
                let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
                is_ipvs = &v[..end] == super::IPVS_GENL_NAME.as_bytes();
            }
            _ => {}
        }
    }
    Ok(if is_ipvs { id } else { None })
}

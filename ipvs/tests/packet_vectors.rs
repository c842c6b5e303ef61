//! Byte vectors built by hand from the kernel's `include/uapi/linux/ip_vs.h` layout
//! (little-endian host: netlink integers are host order, ports network order).
#![cfg(target_endian = "little")]

use ha_ipvs::model::{
    DestStats, Destination, DestinationKey, Family, ForwardMethod, Netmask, Protocol, Scheduler,
    Service, ServiceKey, Stats, Tunnel, TunnelChecksum, request,
};
use ha_ipvs::packet::frame::{self, Frame};
use ha_ipvs::packet::{
    DestAttr, IpvsAttr, IpvsCmd, IpvsMessage, PacketError, RawAttr, StatsAttr, SvcAttr,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn web_service() -> Service {
    let mut s = Service::new(
        ServiceKey::Addr {
            addr: v4(10, 0, 0, 1),
            protocol: Protocol::Tcp,
            port: 80,
        },
        Scheduler::Wlc,
    )
    .persistent(Duration::from_secs(300));
    s.netmask = Netmask::V4(Ipv4Addr::new(255, 255, 255, 0));
    s
}

/// IPVS_CMD_ATTR_SERVICE nest of `web_service()`: ip_vs.h IPVS_SVC_ATTR_* 1..9.
#[rustfmt::skip]
const SERVICE_NEST: &[u8] = &[
    0x54, 0x00, 0x01, 0x00,                         // IPVS_CMD_ATTR_SERVICE, len 84
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF = AF_INET (u16) + pad
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL = 6 (u16) + pad
    0x14, 0x00, 0x03, 0x00,                         // ADDR, 16 bytes
    10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = 80, network order + pad
    0x08, 0x00, 0x06, 0x00, b'w', b'l', b'c', 0x00, // SCHED_NAME "wlc\0"
    0x0c, 0x00, 0x07, 0x00,                         // FLAGS {flags, mask}
    0x01, 0x00, 0x00, 0x00, 0x3d, 0x00, 0x00, 0x00, //   persistent; mask of user flags
    0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0x00, 0x00, // TIMEOUT = 300 s
    0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0x00, // NETMASK 255.255.255.0 (be32)
];

#[test]
fn ip_vs_h_new_service_encodes_to_hand_built_bytes() {
    let msg = request::add_service(&web_service()).unwrap();
    assert_eq!(msg.attrs_to_bytes(), SERVICE_NEST);
    let mut genl = vec![IpvsCmd::NewService as u8, 1, 0, 0];
    genl.extend_from_slice(SERVICE_NEST);
    assert_eq!(msg.to_genl_bytes(), genl);
}

#[test]
fn ip_vs_h_new_service_decodes_from_hand_built_bytes() {
    let msg = IpvsMessage::decode(1, SERVICE_NEST).unwrap();
    assert_eq!(msg.cmd, IpvsCmd::NewService);
    let (svc, stats) = request::read_service(&msg).unwrap();
    assert_eq!(svc, web_service());
    assert_eq!(stats.0, Stats::default());
}

fn dr_dest() -> Destination {
    Destination {
        key: DestinationKey {
            addr: v4(10, 0, 0, 2),
            port: 8080,
        },
        fwd: ForwardMethod::DirectRoute,
        weight: 5,
        upper_threshold: 100,
        lower_threshold: 10,
    }
}

/// NEW_DEST: the service's identifying attributes, then IPVS_DEST_ATTR_* with the address
/// family always present.
#[rustfmt::skip]
const NEW_DEST: &[u8] = &[
    0x30, 0x00, 0x01, 0x00,                         // IPVS_CMD_ATTR_SERVICE, len 48
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL
    0x14, 0x00, 0x03, 0x00,
    10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT 80
    0x48, 0x00, 0x02, 0x00,                         // IPVS_CMD_ATTR_DEST, len 72
    0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // ADDR_FAMILY = AF_INET
    0x14, 0x00, 0x01, 0x00,                         // ADDR
    10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00, // PORT 8080
    0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, // FWD_METHOD = DROUTE
    0x08, 0x00, 0x04, 0x00, 0x05, 0x00, 0x00, 0x00, // WEIGHT 5
    0x08, 0x00, 0x05, 0x00, 0x64, 0x00, 0x00, 0x00, // U_THRESH 100
    0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00, // L_THRESH 10
];

#[test]
fn ip_vs_h_new_dest_encodes_to_hand_built_bytes() {
    let msg = request::add_dest(&web_service().key, &dr_dest());
    assert_eq!(msg.attrs_to_bytes(), NEW_DEST);
}

#[test]
fn ip_vs_h_new_dest_decodes_from_hand_built_bytes() {
    let msg = IpvsMessage::decode(5, NEW_DEST).unwrap();
    let (d, stats) = request::read_dest(&msg, Family::V4).unwrap();
    assert_eq!(d, dr_dest());
    assert_eq!(stats, DestStats::default());
}

#[test]
fn ip_vs_h_gue_tunnel_attributes() {
    let mut d = dr_dest();
    d.fwd = ForwardMethod::Tunnel(Tunnel::Gue {
        port: 6080,
        checksum: TunnelChecksum::Checksum,
    });
    let bytes = request::add_dest(&web_service().key, &d).attrs_to_bytes();
    #[rustfmt::skip]
    let tail: &[u8] = &[
        0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, // FWD_METHOD = TUNNEL
        0x08, 0x00, 0x04, 0x00, 0x05, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x05, 0x00, 0x64, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00,
        0x05, 0x00, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x00, // TUN_TYPE = GUE (u8)
        0x06, 0x00, 0x0e, 0x00, 0x17, 0xc0, 0x00, 0x00, // TUN_PORT 6080, network order
        0x06, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x00, // TUN_FLAGS = CSUM
    ];
    assert!(bytes.ends_with(tail));
    let msg = IpvsMessage::decode(5, &bytes).unwrap();
    assert_eq!(request::read_dest(&msg, Family::V4).unwrap().0, d);
}

/// A dumped destination of an IPv6 service from a kernel that predates
/// IPVS_DEST_ATTR_ADDR_FAMILY, with NLA_F_NESTED set and 64-bit stats with padding.
#[rustfmt::skip]
const OLD_KERNEL_V6_DEST: &[u8] = &[
    0x6c, 0x00, 0x02, 0x80,                         // IPVS_CMD_ATTR_DEST | NLA_F_NESTED
    0x14, 0x00, 0x01, 0x00,                         // ADDR 2001:db8::2
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    0x06, 0x00, 0x02, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT 80
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // FWD_METHOD = MASQ
    0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, // WEIGHT 1
    0x08, 0x00, 0x07, 0x00, 0x07, 0x00, 0x00, 0x00, // ACTIVE_CONNS 7
    0x08, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, // INACT_CONNS 3
    0x08, 0x00, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, // PERSIST_CONNS 1
    0x20, 0x00, 0x0c, 0x80,                         // STATS64 | NLA_F_NESTED, len 32
    0x04, 0x00, 0x0b, 0x00,                         //   PAD
    0x0c, 0x00, 0x01, 0x00, 0x2a, 0, 0, 0, 0, 0, 0, 0,          // CONNS 42 (u64)
    0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, // INBYTES 2^32
    0x04, 0x00, 0x63, 0x00,                         // unknown attribute 99, empty
];

#[test]
fn missing_dest_family_falls_back_to_service_family() {
    let msg = IpvsMessage::decode(5, OLD_KERNEL_V6_DEST).unwrap();
    let (d, stats) = request::read_dest(&msg, Family::V6).unwrap();
    assert_eq!(
        d.key.addr,
        IpAddr::V6("2001:db8::2".parse::<Ipv6Addr>().unwrap())
    );
    assert_eq!(d.fwd, ForwardMethod::Masquerade);
    assert_eq!(stats.active_conns, 7);
    assert_eq!(stats.inactive_conns, 3);
    assert_eq!(stats.persistent_conns, 1);
    assert_eq!(stats.counters.conns, 42);
    assert_eq!(stats.counters.in_bytes, 1 << 32);
    // Unknown attributes are preserved.
    let IpvsAttr::Dest(attrs) = &msg.nlas[0] else {
        panic!("not a dest")
    };
    assert!(attrs.contains(&DestAttr::Other(RawAttr {
        kind: 99,
        value: vec![]
    })));
    assert!(matches!(&attrs[7], DestAttr::Stats64(s) if s[0] == StatsAttr::Pad(vec![])));
}

#[test]
fn stats32_nest_has_64_bit_byte_counters_only() {
    #[rustfmt::skip]
    let nest: &[u8] = &[
        0x20, 0x00, 0x01, 0x00,                           // SERVICE
        0x1c, 0x00, 0x0a, 0x00,                           //   STATS (32-bit nest)
        0x08, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00,   //     CONNS u32
        0x0c, 0x00, 0x04, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0,  //   INBYTES u64
        0x04, 0x00, 0x63, 0x00,                           //     unknown, empty
    ];
    let msg = IpvsMessage::decode(1, nest).unwrap();
    assert_eq!(
        msg.nlas,
        vec![IpvsAttr::Service(vec![SvcAttr::Stats(vec![
            StatsAttr::Conns(5),
            StatsAttr::InBytes(9),
            StatsAttr::Other(RawAttr {
                kind: 99,
                value: vec![]
            })
        ]),])]
    );
    assert_eq!(msg.attrs_to_bytes(), nest);
    // A 32-bit counter with 8 bytes is a typed error.
    let mut bad = nest.to_vec();
    bad[8] = 0x0c;
    assert!(IpvsMessage::decode(1, &bad).is_err());
}

#[test]
fn malformed_attributes_are_typed_errors() {
    // AF with 4 bytes instead of 2.
    let bad = [
        0x0c, 0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
    ];
    assert_eq!(
        IpvsMessage::decode(1, &bad),
        Err(PacketError::Length {
            attr: "SVC_AF",
            expected: 2,
            got: 4
        })
    );
    // Length field larger than the buffer.
    assert!(matches!(
        IpvsMessage::decode(1, &[0x10, 0x00, 0x01, 0x00]),
        Err(PacketError::Attribute(_))
    ));
    // Scheduler name that is not UTF-8.
    let bad = [
        0x0c, 0x00, 0x01, 0x00, 0x08, 0x00, 0x06, 0x00, 0xff, 0xfe, 0x00, 0x00,
    ];
    assert_eq!(
        IpvsMessage::decode(1, &bad),
        Err(PacketError::String {
            attr: "SVC_SCHED_NAME"
        })
    );
    assert_eq!(
        IpvsMessage::decode(0, &[]),
        Err(PacketError::UnknownCommand(0))
    );
    assert_eq!(
        IpvsMessage::decode(18, &[]),
        Err(PacketError::UnknownCommand(18))
    );
}

#[test]
fn info_reply_attribute_numbers_depend_on_command() {
    let bytes = [
        0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x01, 0x00, // VERSION 0x010201
        0x08, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, // CONN_TAB_SIZE 4096
    ];
    let msg = IpvsMessage::decode(IpvsCmd::SetInfo as u8, &bytes).unwrap();
    let info = ha_ipvs::model::Info::from_message(&msg).unwrap();
    assert_eq!(
        (info.version.major, info.version.minor, info.version.patch),
        (1, 2, 1)
    );
    assert_eq!(info.conn_table_size, 4096);
}

#[test]
fn every_command_number_matches_ip_vs_h() {
    for (i, cmd) in IpvsCmd::ALL.iter().enumerate() {
        assert_eq!(cmd.as_u8() as usize, i + 1);
        assert_eq!(IpvsCmd::from_u8(cmd.as_u8()), Some(*cmd));
    }
    assert_eq!(IpvsCmd::Flush as u8, 17);
    assert_eq!(IpvsCmd::GetDaemon as u8, 11);
}

#[test]
fn scheduler_names_round_trip() {
    for s in Scheduler::BUILTIN.iter().chain([&Scheduler::None]) {
        assert_eq!(&Scheduler::from_name(s.name()), s);
    }
    assert_eq!(
        Scheduler::from_name("foo"),
        Scheduler::Other("foo".to_owned())
    );
}

#[test]
fn mh_scheduler_flags_are_sched1_and_sched2() {
    let mut s = Service::new(
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 7,
        },
        Scheduler::Mh,
    );
    s.flags.sched_fallback = true;
    s.flags.sched_port = true;
    let attrs = s.to_attrs().unwrap();
    assert!(attrs.contains(&SvcAttr::Flags(ha_ipvs::packet::FlagsMask {
        flags: 0x08 | 0x10,
        mask: 0x3d
    })));
    assert!(attrs.contains(&SvcAttr::Fwmark(7)));
    assert!(attrs.contains(&SvcAttr::Netmask(128)));
    let msg = IpvsMessage {
        cmd: IpvsCmd::NewService,
        nlas: vec![IpvsAttr::Service(attrs)],
    };
    let back = IpvsMessage::decode_genl(&msg.to_genl_bytes()).unwrap();
    assert_eq!(request::read_service(&back).unwrap().0, s);
}

#[test]
fn sync_daemon_attributes() {
    use ha_ipvs::model::{SyncDaemon, SyncState};
    let mut d = SyncDaemon::new(SyncState::Backup, "eth0", 9);
    d.sync_maxlen = Some(1472);
    d.mcast_group = Some(v4(224, 0, 0, 81));
    d.mcast_port = Some(8848);
    d.mcast_ttl = Some(2);
    let msg = request::start_daemon(&d).unwrap();
    let bytes = msg.attrs_to_bytes();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x40, 0x00, 0x03, 0x00,                         // IPVS_CMD_ATTR_DAEMON, len 64
        0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // STATE = BACKUP
        0x09, 0x00, 0x02, 0x00, b'e', b't', b'h', b'0', 0x00, 0x00, 0x00, 0x00, // IFN
        0x08, 0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, // SYNC_ID 9
        0x06, 0x00, 0x04, 0x00, 0xc0, 0x05, 0x00, 0x00, // SYNC_MAXLEN 1472 (u16)
        0x08, 0x00, 0x05, 0x00, 224, 0, 0, 81,          // MCAST_GROUP
        0x06, 0x00, 0x07, 0x00, 0x22, 0x90, 0x00, 0x00, // MCAST_PORT 8848 (be16)
        0x05, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, // MCAST_TTL 2 (u8)
    ];
    assert_eq!(bytes, expected);
    let back = IpvsMessage::decode(IpvsCmd::NewDaemon as u8, &bytes).unwrap();
    assert_eq!(request::read_daemon(&back).unwrap(), d);
}

#[test]
fn timeouts_config_attributes() {
    use ha_ipvs::model::Timeouts;
    let t = Timeouts {
        tcp: Duration::from_secs(900),
        tcp_fin: Duration::from_secs(120),
        udp: Duration::from_secs(300),
    };
    let msg = request::set_timeouts(&t).unwrap();
    assert_eq!(
        msg.attrs_to_bytes(),
        [
            0x08, 0x00, 0x04, 0x00, 0x84, 0x03, 0x00, 0x00, 0x08, 0x00, 0x05, 0x00, 0x78, 0x00,
            0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x2c, 0x01, 0x00, 0x00,
        ]
    );
    assert_eq!(Timeouts::from_message(&msg), t);
}

#[test]
fn request_frame_and_error_reply_with_extended_ack() {
    let req = frame::encode_request(0x24, 7, false, &request::flush());
    // nlmsghdr: len 20, type 0x24, flags REQUEST|ACK, seq 7, pid 0; genl: cmd 17, v1.
    assert_eq!(
        req,
        [
            20, 0, 0, 0, 0x24, 0, 0x05, 0, 7, 0, 0, 0, 0, 0, 0, 0, 17, 1, 0, 0
        ]
    );
    // NLMSG_ERROR, flags CAPPED|ACK_TLVS, errno -EEXIST, capped original, MSG tlv.
    let mut reply = vec![];
    let tlv = b"File exists\0";
    let len = 16 + 4 + 16 + 4 + tlv.len();
    reply.extend_from_slice(&(len as u32).to_le_bytes());
    reply.extend_from_slice(&[2, 0, 0x00, 0x03, 7, 0, 0, 0, 0, 0, 0, 0]);
    reply.extend_from_slice(&(-17i32).to_le_bytes());
    reply.extend_from_slice(&req[..16]);
    reply.extend_from_slice(&((4 + tlv.len()) as u16).to_le_bytes());
    reply.extend_from_slice(&[1, 0]);
    reply.extend_from_slice(tlv);
    let frames = frame::decode_reply(&reply, 0x24).unwrap();
    assert_eq!(frames.len(), 1);
    match &frames[0] {
        Frame::Error { errno, ext_ack, .. } => {
            assert_eq!(*errno, 17);
            assert_eq!(ext_ack.as_deref(), Some("File exists"));
        }
        f => panic!("unexpected {f:?}"),
    }
}

#[test]
fn dump_reply_frames_then_done() {
    let mut svc = IpvsMessage::new(IpvsCmd::NewService);
    svc.nlas
        .push(IpvsAttr::Service(web_service().to_attrs().unwrap()));
    let mut buf = frame::encode_request(0x24, 1, false, &svc);
    buf.extend_from_slice(&[20, 0, 0, 0, 3, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let frames = frame::decode_reply(&buf, 0x24).unwrap();
    assert!(matches!(&frames[0], Frame::Ipvs { message, .. } if message == &svc));
    assert!(matches!(frames[1], Frame::Done { errno: 0, .. }));
}

#[test]
fn controller_family_lookup() {
    let req = frame::encode_get_family(3);
    // type GENL_ID_CTRL (16), cmd GETFAMILY (3), FAMILY_NAME "IPVS\0".
    assert_eq!(&req[4..6], &[16, 0]);
    assert_eq!(req[16], 3);
    assert_eq!(
        &req[req.len() - 12..],
        &[9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0]
    );
    let reply = [
        1, 2, 0, 0, // genl: NEWFAMILY, v2
        6, 0, 1, 0, 0x24, 0, 0, 0, // FAMILY_ID 0x24
        9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0, // FAMILY_NAME
    ];
    assert_eq!(frame::family_id_from_ctrl(&reply), Ok(Some(0x24)));
}

#[test]
fn works_inside_rust_netlink_message_types() {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use netlink_packet_generic::GenlMessage;
    let msg = request::add_dest(&web_service().key, &dr_dest());
    let bytes = frame::encode_request(0x24, 5, false, &msg);
    let nl = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(&bytes).unwrap();
    assert_eq!(nl.header.message_type, 0x24);
    match nl.payload {
        NetlinkPayload::InnerMessage(genl) => assert_eq!(genl.payload, msg),
        other => panic!("unexpected {other:?}"),
    }
}

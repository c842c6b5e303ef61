//! Property tests: packet and model round trips; decoders never panic on any bytes.

use ha_ipvs::model::{
    Destination, DestinationKey, Family, ForwardMethod, Netmask, PersistenceEngine, Protocol,
    Scheduler, Service, ServiceFlags, ServiceKey, Tunnel, TunnelChecksum, request,
};
use ha_ipvs::packet::frame;
use ha_ipvs::packet::{
    DaemonAttr, DestAttr, FlagsMask, IpvsAttr, IpvsCmd, IpvsMessage, RawAttr, StatsAttr, SvcAttr,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9]{0,15}"
}

fn raw(min_kind: u16) -> impl Strategy<Value = RawAttr> {
    (min_kind..0x3fff, prop::collection::vec(any::<u8>(), 0..24))
        .prop_map(|(kind, value)| RawAttr { kind, value })
}

fn stats(nest64: bool) -> impl Strategy<Value = Vec<StatsAttr>> {
    let narrow = move |n: u64| if nest64 { n } else { n & 0xffff_ffff };
    let one = prop_oneof![
        any::<u64>().prop_map(move |n| StatsAttr::Conns(narrow(n))),
        any::<u64>().prop_map(move |n| StatsAttr::InPkts(narrow(n))),
        any::<u64>().prop_map(move |n| StatsAttr::OutPkts(narrow(n))),
        any::<u64>().prop_map(StatsAttr::InBytes),
        any::<u64>().prop_map(StatsAttr::OutBytes),
        any::<u64>().prop_map(move |n| StatsAttr::Cps(narrow(n))),
        any::<u64>().prop_map(move |n| StatsAttr::InPps(narrow(n))),
        any::<u64>().prop_map(move |n| StatsAttr::OutPps(narrow(n))),
        any::<u64>().prop_map(move |n| StatsAttr::InBps(narrow(n))),
        any::<u64>().prop_map(move |n| StatsAttr::OutBps(narrow(n))),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(StatsAttr::Pad),
        raw(12).prop_map(StatsAttr::Other),
    ];
    prop::collection::vec(one, 0..6)
}

fn svc_attr() -> impl Strategy<Value = SvcAttr> {
    prop_oneof![
        any::<u16>().prop_map(SvcAttr::Af),
        any::<u16>().prop_map(SvcAttr::Protocol),
        any::<[u8; 16]>().prop_map(SvcAttr::Addr),
        any::<u16>().prop_map(SvcAttr::Port),
        any::<u32>().prop_map(SvcAttr::Fwmark),
        name().prop_map(SvcAttr::SchedName),
        (any::<u32>(), any::<u32>())
            .prop_map(|(flags, mask)| SvcAttr::Flags(FlagsMask { flags, mask })),
        any::<u32>().prop_map(SvcAttr::Timeout),
        any::<u32>().prop_map(SvcAttr::Netmask),
        stats(false).prop_map(SvcAttr::Stats),
        name().prop_map(SvcAttr::PeName),
        stats(true).prop_map(SvcAttr::Stats64),
        raw(13).prop_map(SvcAttr::Other),
    ]
}

fn dest_attr() -> impl Strategy<Value = DestAttr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(DestAttr::Addr),
        any::<u16>().prop_map(DestAttr::Port),
        any::<u32>().prop_map(DestAttr::FwdMethod),
        any::<u32>().prop_map(DestAttr::Weight),
        any::<u32>().prop_map(DestAttr::UThresh),
        any::<u32>().prop_map(DestAttr::LThresh),
        any::<u32>().prop_map(DestAttr::ActiveConns),
        any::<u32>().prop_map(DestAttr::InactConns),
        any::<u32>().prop_map(DestAttr::PersistConns),
        stats(false).prop_map(DestAttr::Stats),
        any::<u16>().prop_map(DestAttr::AddrFamily),
        stats(true).prop_map(DestAttr::Stats64),
        any::<u8>().prop_map(DestAttr::TunType),
        any::<u16>().prop_map(DestAttr::TunPort),
        any::<u16>().prop_map(DestAttr::TunFlags),
        raw(16).prop_map(DestAttr::Other),
    ]
}

fn daemon_attr() -> impl Strategy<Value = DaemonAttr> {
    prop_oneof![
        any::<u32>().prop_map(DaemonAttr::State),
        name().prop_map(DaemonAttr::McastIfn),
        any::<u32>().prop_map(DaemonAttr::SyncId),
        any::<u16>().prop_map(DaemonAttr::SyncMaxLen),
        any::<[u8; 4]>().prop_map(DaemonAttr::McastGroup),
        any::<[u8; 16]>().prop_map(DaemonAttr::McastGroup6),
        any::<u16>().prop_map(DaemonAttr::McastPort),
        any::<u8>().prop_map(DaemonAttr::McastTtl),
        raw(9).prop_map(DaemonAttr::Other),
    ]
}

fn message() -> impl Strategy<Value = IpvsMessage> {
    let top = prop_oneof![
        prop::collection::vec(svc_attr(), 0..6).prop_map(IpvsAttr::Service),
        prop::collection::vec(dest_attr(), 0..6).prop_map(IpvsAttr::Dest),
        prop::collection::vec(daemon_attr(), 0..6).prop_map(IpvsAttr::Daemon),
        any::<u32>().prop_map(IpvsAttr::TimeoutTcp),
        any::<u32>().prop_map(IpvsAttr::TimeoutTcpFin),
        any::<u32>().prop_map(IpvsAttr::TimeoutUdp),
        raw(7).prop_map(IpvsAttr::Other),
    ];
    let info = prop_oneof![
        any::<u32>().prop_map(IpvsAttr::InfoVersion),
        any::<u32>().prop_map(IpvsAttr::InfoConnTabSize),
        raw(3).prop_map(IpvsAttr::Other),
    ];
    prop_oneof![
        (
            prop::sample::select(
                IpvsCmd::ALL
                    .iter()
                    .copied()
                    .filter(|c| !matches!(c, IpvsCmd::SetInfo | IpvsCmd::GetInfo))
                    .collect::<Vec<_>>()
            ),
            prop::collection::vec(top, 0..5)
        )
            .prop_map(|(cmd, nlas)| IpvsMessage { cmd, nlas }),
        (
            prop::sample::select(vec![IpvsCmd::SetInfo, IpvsCmd::GetInfo]),
            prop::collection::vec(info, 0..4)
        )
            .prop_map(|(cmd, nlas)| IpvsMessage { cmd, nlas }),
    ]
}

fn addr(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::V4 => any::<[u8; 4]>()
            .prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))
            .boxed(),
        Family::V6 => any::<[u8; 16]>()
            .prop_map(|b| IpAddr::V6(Ipv6Addr::from(b)))
            .boxed(),
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

fn service() -> impl Strategy<Value = Service> {
    family()
        .prop_flat_map(|f| {
            let key = prop_oneof![
                (
                    addr(f),
                    prop::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp]),
                    1u16..
                )
                    .prop_map(|(addr, protocol, port)| ServiceKey::Addr {
                        addr,
                        protocol,
                        port
                    }),
                (1u32..).prop_map(move |mark| ServiceKey::Fwmark { family: f, mark }),
            ];
            let netmask = match f {
                Family::V4 => any::<[u8; 4]>()
                    .prop_map(|b| Netmask::V4(Ipv4Addr::from(b)))
                    .boxed(),
                Family::V6 => (1u8..=128).prop_map(Netmask::V6).boxed(),
            };
            (
                key,
                prop::sample::select(
                    Scheduler::BUILTIN
                        .iter()
                        .cloned()
                        .chain([Scheduler::None, Scheduler::Other("x1".into())])
                        .collect::<Vec<_>>(),
                ),
                any::<[bool; 5]>(),
                0u32..100_000,
                netmask,
                prop::option::of(prop_oneof![
                    Just(PersistenceEngine::Sip),
                    Just(PersistenceEngine::Other("pe2".into()))
                ]),
            )
        })
        .prop_map(|(key, scheduler, f, timeout, netmask, pe)| Service {
            key,
            scheduler,
            flags: ServiceFlags {
                persistent: f[0],
                one_packet: f[1],
                sched_fallback: f[2],
                sched_port: f[3],
                sched_flag3: f[4],
            },
            timeout: Duration::from_secs(u64::from(timeout)),
            netmask,
            pe,
        })
}

fn destination(f: Family) -> impl Strategy<Value = Destination> {
    let ck = prop::sample::select(vec![
        TunnelChecksum::None,
        TunnelChecksum::Checksum,
        TunnelChecksum::Remote,
    ]);
    let fwd = prop_oneof![
        Just(ForwardMethod::Masquerade),
        Just(ForwardMethod::Local),
        Just(ForwardMethod::DirectRoute),
        Just(ForwardMethod::Bypass),
        Just(ForwardMethod::Tunnel(Tunnel::Ipip)),
        (any::<u16>(), ck.clone())
            .prop_map(|(port, checksum)| ForwardMethod::Tunnel(Tunnel::Gue { port, checksum })),
        ck.prop_map(|checksum| ForwardMethod::Tunnel(Tunnel::Gre { checksum })),
    ];
    (
        addr(f),
        any::<u16>(),
        fwd,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(addr, port, fwd, weight, upper_threshold, lower_threshold)| Destination {
                key: DestinationKey { addr, port },
                fwd,
                weight,
                upper_threshold,
                lower_threshold,
            },
        )
}

proptest! {
    #[test]
    fn message_round_trips(msg in message()) {
        let bytes = msg.to_genl_bytes();
        prop_assert_eq!(IpvsMessage::decode_genl(&bytes), Ok(msg.clone()));
        let framed = frame::encode_request(0x30, 9, true, &msg);
        let frames = frame::decode_reply(&framed, 0x30).unwrap();
        let ok = matches!(&frames[0], frame::Frame::Ipvs { message, .. } if *message == msg);
        prop_assert!(ok, "framed message did not round trip");
    }

    #[test]
    fn service_round_trips_through_bytes(svc in service()) {
        let msg = request::add_service(&svc).unwrap();
        let back = IpvsMessage::decode_genl(&msg.to_genl_bytes()).unwrap();
        prop_assert_eq!(request::read_service(&back).unwrap().0, svc);
    }

    #[test]
    fn destination_round_trips_through_bytes(
        (sf, d) in family().prop_flat_map(|sf| (Just(sf), family().prop_flat_map(destination)))
    ) {
        let key = ServiceKey::Fwmark { family: sf, mark: 1 };
        let msg = request::add_dest(&key, &d);
        let back = IpvsMessage::decode_genl(&msg.to_genl_bytes()).unwrap();
        let mut want = d;
        // Tunnel parameters that the kernel ignores for IPIP are not carried.
        if let ForwardMethod::Tunnel(Tunnel::Ipip) = d.fwd { want.fwd = d.fwd; }
        prop_assert_eq!(request::read_dest(&back, sf).unwrap().0, want);
    }

    #[test]
    fn decoders_never_panic(cmd in any::<u8>(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = IpvsMessage::decode(cmd, &bytes);
        let _ = IpvsMessage::decode_genl(&bytes);
        let _ = frame::decode_reply(&bytes, 0x24);
        let _ = frame::family_id_from_ctrl(&bytes);
        if let Ok(msg) = IpvsMessage::decode(cmd, &bytes) {
            let _ = request::read_service(&msg);
            let _ = request::read_dest(&msg, Family::V4);
            let _ = request::read_daemon(&msg);
            let _ = ha_ipvs::model::Info::from_message(&msg);
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        msg in message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = frame::encode_request(0x24, 1, false, &msg);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(frames) = frame::decode_reply(&bytes, 0x24) {
            for f in frames {
                if let frame::Frame::Ipvs { message, .. } = f {
                    let _ = request::read_service(&message);
                    let _ = request::read_dest(&message, Family::V6);
                    let _ = request::read_daemon(&message);
                }
            }
        }
    }

    #[test]
    fn decoded_bytes_reencode_stably(
        cmd in 1u8..=17,
        msg in message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        // Start from a valid message, corrupt it, and check that whatever still decodes
        // re-encodes to bytes that decode to the same value (the fuzz target's oracle).
        let mut bytes = msg.attrs_to_bytes();
        for (i, b) in flips {
            if !bytes.is_empty() {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
        }
        if let Ok(m) = IpvsMessage::decode(cmd, &bytes) {
            prop_assert_eq!(IpvsMessage::decode_genl(&m.to_genl_bytes()), Ok(m));
        }
    }
}

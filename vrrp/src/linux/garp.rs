//! Gratuitous ARP (IPv4, RFC 5227 section 3 / RFC 5798 section 8.1.2) and unsolicited
//! neighbour advertisements (IPv6, RFC 4861 section 7.2.6), sent over an `AF_PACKET`
//! socket. Frames are built with `etherparse`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, Icmpv6Type, PacketBuilder, icmpv6::NeighborAdvertisementHeader,
};
use ha_core::IfIndex;
use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::sys;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

const BROADCAST: Mac = [0xff; 6];
/// ff02::1, all nodes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A gratuitous ARP for `address` from `mac`: an ARP request whose sender and target
/// protocol addresses are both `address`, broadcast (the form keepalived sends and every
/// switch and host accepts).
pub fn gratuitous_arp(mac: Mac, address: Ipv4Addr) -> Vec<u8> {
    let arp = ArpEthIpv4Packet {
        operation: ArpOperation::REQUEST,
        sender_mac: mac,
        sender_ipv4: address.octets(),
        target_mac: BROADCAST,
        target_ipv4: address.octets(),
    };
    let builder = PacketBuilder::ethernet2(mac, BROADCAST).arp(arp.to_arp_packet());
    let mut frame = Vec::with_capacity(builder.size());
    // Writing into a Vec cannot fail.
    let _ = builder.write(&mut frame);
    frame
}

/// An unsolicited neighbour advertisement for `target` from `mac`, sent from `source`
/// (a link-local address of the interface) to all nodes with hop limit 255, Override set
/// and the target link-layer address option.
pub fn unsolicited_na(mac: Mac, source: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    // 33:33 + the low 32 bits of ff02::1.
    let dst_mac = [0x33, 0x33, 0, 0, 0, 1];
    let builder = PacketBuilder::ethernet2(mac, dst_mac)
        .ipv6(source.octets(), ALL_NODES.octets(), 255)
        .icmpv6(Icmpv6Type::NeighborAdvertisement(
            NeighborAdvertisementHeader {
                router: false,
                solicited: false,
                r#override: true,
            },
        ));
    let mut payload = Vec::with_capacity(24);
    payload.extend_from_slice(&target.octets());
    // Option 2: target link-layer address, length 1 (8 bytes).
    payload.extend_from_slice(&[2, 1]);
    payload.extend_from_slice(&mac);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    let _ = builder.write(&mut frame, &payload);
    frame
}

/// Sends gratuitous ARPs and unsolicited NAs on one interface.
#[derive(Debug)]
pub struct GarpSocket {
    socket: AsyncFd<Socket>,
    mac: Mac,
    link_local: Option<Ipv6Addr>,
}

impl GarpSocket {
    /// Opens an `AF_PACKET` socket bound to interface `ifindex` (it receives nothing).
    /// `mac` is the source MAC (the interface's, or the virtual MAC); `link_local` the
    /// source of neighbour advertisements (needed only for IPv6). Inside a tokio runtime.
    pub fn open(ifindex: IfIndex, mac: Mac, link_local: Option<Ipv6Addr>) -> io::Result<Self> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)?;
        sys::bind_packet(socket.as_fd(), ifindex.0)?;
        socket.set_nonblocking(true)?;
        Ok(GarpSocket {
            socket: sys::register(socket)?,
            mac,
            link_local,
        })
    }

    /// The source MAC.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// Sends one gratuitous ARP (IPv4) or unsolicited NA (IPv6) for `address`.
    pub async fn announce(&self, address: IpAddr) -> io::Result<()> {
        let frame = match address {
            IpAddr::V4(a) => gratuitous_arp(self.mac, a),
            IpAddr::V6(a) => {
                let source = self.link_local.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        "no IPv6 link-local address to send neighbour advertisements from",
                    )
                })?;
                unsolicited_na(self.mac, source, a)
            }
        };
        loop {
            let mut guard = self.socket.writable().await?;
            match guard.try_io(|s| s.get_ref().send(&frame)) {
                Ok(result) => return result.map(|_| ()),
                Err(_would_block) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    use super::*;

    const MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];

    /// RFC 5798 section 8.1.2 / RFC 5227 section 3: sender and target protocol addresses
    /// are the virtual address; broadcast.
    #[test]
    fn gratuitous_arp_announces_the_address() {
        let frame = gratuitous_arp(MAC, Ipv4Addr::new(10, 99, 0, 100));
        assert_eq!(frame.len(), 14 + 28);
        assert_eq!(&frame[0..6], &BROADCAST);
        assert_eq!(&frame[6..12], &MAC);
        assert_eq!(&frame[12..14], &[0x08, 0x06]);
        assert_eq!(&frame[20..22], &[0, 1], "request");
        assert_eq!(&frame[22..28], &MAC, "sender MAC");
        assert_eq!(&frame[28..32], &[10, 99, 0, 100], "sender IP");
        assert_eq!(&frame[38..42], &[10, 99, 0, 100], "target IP");
    }

    /// RFC 4861 section 7.2.6: unsolicited NA to all nodes, hop limit 255, Override set,
    /// Solicited clear, target link-layer address option; valid ICMPv6 checksum.
    #[test]
    fn unsolicited_na_is_well_formed() {
        let source: Ipv6Addr = "fe80::1".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let frame = unsolicited_na(MAC, source, target);
        assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        let packet = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &packet.net else {
            panic!("not IPv6")
        };
        assert_eq!(ip.header().hop_limit(), 255);
        assert_eq!(ip.header().destination_addr(), ALL_NODES);
        let Some(TransportSlice::Icmpv6(icmp)) = &packet.transport else {
            panic!("not ICMPv6")
        };
        let Icmpv6Type::NeighborAdvertisement(h) = icmp.icmp_type() else {
            panic!("not an NA")
        };
        assert!(h.r#override && !h.solicited && !h.router);
        let payload = icmp.payload();
        assert_eq!(&payload[0..16], &target.octets());
        assert_eq!(&payload[16..18], &[2, 1]);
        assert_eq!(&payload[18..24], &MAC);
        let sum = icmp
            .header()
            .icmp_type
            .calc_checksum(source.octets(), ALL_NODES.octets(), payload)
            .unwrap();
        assert_eq!(sum, icmp.checksum());
    }
}

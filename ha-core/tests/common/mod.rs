//! A toy endpoint for testing the simulator and the driver.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ha_core::{Endpoint, Instant, RecvMeta, Transmit};
use serde::Serialize;

pub const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

pub fn addr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))
}

/// Multicasts a numbered beacon every `interval`; reports every beacon it hears.
#[derive(Debug)]
pub struct Beacon {
    pub interval: Duration,
    pub next: Option<Instant>,
    pub seq: u32,
    pub out: VecDeque<(Transmit, Vec<u8>)>,
    pub events: VecDeque<Heard>,
    pub timeouts: Vec<Instant>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Heard {
    pub from: IpAddr,
    pub seq: u32,
    pub ttl: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BeaconCommand {
    /// Stop sending.
    Mute,
    /// Send one unicast beacon to this address now.
    Unicast(IpAddr),
}

impl Beacon {
    pub fn new(now: Instant, interval: Duration) -> Self {
        Beacon {
            interval,
            next: Some(now),
            seq: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            timeouts: Vec::new(),
        }
    }

    fn queue(&mut self, destination: IpAddr) {
        self.seq += 1;
        let t = Transmit {
            destination,
            destination_port: None,
            source: None,
            source_port: None,
            interface: None,
            ttl: 255,
        };
        self.out.push_back((t, self.seq.to_be_bytes().to_vec()));
    }
}

impl Endpoint for Beacon {
    type Command = BeaconCommand;
    type Event = Heard;

    fn handle_packet(&mut self, _now: Instant, meta: &RecvMeta, payload: &[u8]) {
        let Ok(bytes) = <[u8; 4]>::try_from(payload) else {
            return;
        };
        self.events.push_back(Heard {
            from: meta.source,
            seq: u32::from_be_bytes(bytes),
            ttl: meta.ttl,
        });
    }

    fn handle_command(&mut self, _now: Instant, command: BeaconCommand) {
        match command {
            BeaconCommand::Mute => self.next = None,
            BeaconCommand::Unicast(to) => self.queue(to),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.timeouts.push(now);
        if let Some(next) = self.next.filter(|n| *n <= now) {
            self.next = Some(next + self.interval);
            self.queue(GROUP);
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (t, payload) = self.out.pop_front()?;
        buf.extend_from_slice(&payload);
        Some(t)
    }

    fn poll_event(&mut self) -> Option<Heard> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

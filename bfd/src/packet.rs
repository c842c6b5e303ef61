//! The BFD Control packet (RFC 5880 section 4.1): a checked zero-copy view and a parsed
//! representation.
//!
//! [`Packet::new_checked`] validates everything the accessors rely on, after which no
//! accessor can panic. [`ControlPacket::parse`] additionally applies the reception checks
//! of RFC 5880 section 6.8.6 that need no session state (version, length, Detect Mult,
//! Multipoint, My Discriminator, Your Discriminator versus State), so every packet it
//! returns is one a session may process.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::auth::{AuthError, AuthSection};
use crate::counters::DropReason;

/// The BFD protocol version this crate speaks (RFC 5880 section 4.1).
pub const VERSION: u8 = 1;
/// Length of the mandatory section of a Control packet.
pub const HEADER_LEN: usize = 24;
/// UDP destination port of single-hop Control packets (RFC 5881 section 4).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// UDP destination port of multihop Control packets (RFC 5883 section 5).
pub const MULTIHOP_PORT: u16 = 4784;
/// UDP port of the echo function (RFC 5881 section 4); not implemented here.
pub const ECHO_PORT: u16 = 3785;
/// The lowest UDP source port a session may use (RFC 5881 section 4).
pub const SOURCE_PORT_MIN: u16 = 49152;

mod field {
    use std::ops::Range;
    pub const VERS_DIAG: usize = 0;
    pub const FLAGS: usize = 1;
    pub const DETECT_MULT: usize = 2;
    pub const LENGTH: usize = 3;
    pub const MY_DISCR: Range<usize> = 4..8;
    pub const YOUR_DISCR: Range<usize> = 8..12;
    pub const DESIRED_MIN_TX: Range<usize> = 12..16;
    pub const REQUIRED_MIN_RX: Range<usize> = 16..20;
    pub const REQUIRED_MIN_ECHO_RX: Range<usize> = 20..24;
    pub const AUTH: usize = 24;
}

mod flag {
    pub const POLL: u8 = 0b0010_0000;
    pub const FINAL: u8 = 0b0001_0000;
    pub const CPI: u8 = 0b0000_1000;
    pub const AUTH: u8 = 0b0000_0100;
    pub const DEMAND: u8 = 0b0000_0010;
    pub const MULTIPOINT: u8 = 0b0000_0001;
}

/// A time interval as carried on the wire: an unsigned count of microseconds.
///
/// Converts to and from [`Duration`]; conversion from a `Duration` saturates at
/// `u32::MAX` microseconds (about 71 minutes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Microseconds(pub u32);

impl Microseconds {
    /// Zero microseconds.
    pub const ZERO: Microseconds = Microseconds(0);

    /// As a [`Duration`].
    pub const fn as_duration(self) -> Duration {
        Duration::from_micros(self.0 as u64)
    }

    /// From a [`Duration`], truncated to whole microseconds and saturating at `u32::MAX`.
    pub fn from_duration(d: Duration) -> Self {
        Microseconds(u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
    }
}

impl From<Microseconds> for Duration {
    fn from(m: Microseconds) -> Duration {
        m.as_duration()
    }
}

impl fmt::Debug for Microseconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}us", self.0)
    }
}

impl fmt::Display for Microseconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}us", self.0)
    }
}

/// Session state (RFC 5880 section 4.1, "Sta").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// 0: administratively held down.
    AdminDown,
    /// 1: down.
    Down,
    /// 2: initializing (the peer has been heard but has not yet heard us).
    Init,
    /// 3: up.
    Up,
}

impl State {
    /// The 2-bit wire value.
    pub const fn to_bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// From the 2-bit wire value (upper bits ignored).
    pub const fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// Diagnostic code: why the sender's session last changed state (RFC 5880 section 4.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Diagnostic {
    /// 0: no diagnostic.
    #[default]
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved values, kept as received.
    Reserved(u8),
}

impl Diagnostic {
    /// The 5-bit wire value.
    pub const fn to_bits(self) -> u8 {
        match self {
            Diagnostic::None => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(v) => v & 0x1f,
        }
    }

    /// From the 5-bit wire value (upper bits ignored).
    pub const fn from_bits(bits: u8) -> Diagnostic {
        match bits & 0x1f {
            0 => Diagnostic::None,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            v => Diagnostic::Reserved(v),
        }
    }
}

/// Why bytes were rejected as a BFD Control packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseError {
    /// The buffer is shorter than the mandatory section or than the Length field.
    #[error("truncated packet")]
    Truncated,
    /// Version is not 1 (RFC 5880 section 6.8.6).
    #[error("unsupported version {0}")]
    Version(u8),
    /// The Length field is below the minimum for the A bit, or the authentication
    /// section does not fit it.
    #[error("bad length field")]
    Length,
    /// Detect Mult is zero.
    #[error("detect mult is zero")]
    ZeroDetectMult,
    /// The Multipoint bit is set.
    #[error("multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while State is neither Down nor AdminDown.
    #[error("your discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
    /// The authentication section is malformed.
    #[error("authentication section: {0}")]
    Auth(AuthError),
}

impl ParseError {
    /// The drop counter this rejection is counted under.
    pub const fn drop_reason(self) -> DropReason {
        match self {
            ParseError::Truncated | ParseError::Length => DropReason::Length,
            ParseError::Version(_) => DropReason::Version,
            ParseError::ZeroDetectMult => DropReason::ZeroDetectMult,
            ParseError::Multipoint => DropReason::Multipoint,
            ParseError::ZeroMyDiscriminator => DropReason::ZeroMyDiscriminator,
            ParseError::ZeroYourDiscriminator(_) => DropReason::ZeroYourDiscriminator,
            ParseError::Auth(e) => e.drop_reason(),
        }
    }
}

/// A checked, zero-copy view of a BFD Control packet.
///
/// Created with [`Packet::new_checked`], which guarantees that the buffer holds the
/// mandatory section, that the Length field is within the buffer and at least the minimum
/// for the A bit, and (when the A bit is set) that the authentication section's header
/// fits: after that, no accessor panics.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks. Accessors may panic on a short buffer: use
    /// [`Packet::new_checked`] for untrusted input.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after checking its lengths (RFC 5880 section 6.8.6, length rules).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let packet = Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the lengths [`Packet::new_checked`] promises.
    pub fn check_len(&self) -> Result<(), ParseError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let length = usize::from(data[field::LENGTH]);
        let auth = data[field::FLAGS] & flag::AUTH != 0;
        let min = if auth { HEADER_LEN + 2 } else { HEADER_LEN };
        if length < min {
            return Err(ParseError::Length);
        }
        if length > data.len() {
            return Err(ParseError::Truncated);
        }
        if auth {
            let auth_len = usize::from(data[field::AUTH + 1]);
            if auth_len < 2 || HEADER_LEN + auth_len > length {
                return Err(ParseError::Length);
            }
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn data(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        self.data()[field::VERS_DIAG] >> 5
    }

    /// The diagnostic field.
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::from_bits(self.data()[field::VERS_DIAG])
    }

    /// The state field.
    pub fn state(&self) -> State {
        State::from_bits(self.data()[field::FLAGS] >> 6)
    }

    /// The Poll (P) bit.
    pub fn poll(&self) -> bool {
        self.data()[field::FLAGS] & flag::POLL != 0
    }

    /// The Final (F) bit.
    pub fn final_bit(&self) -> bool {
        self.data()[field::FLAGS] & flag::FINAL != 0
    }

    /// The Control Plane Independent (C) bit.
    pub fn control_plane_independent(&self) -> bool {
        self.data()[field::FLAGS] & flag::CPI != 0
    }

    /// The Authentication Present (A) bit.
    pub fn auth_present(&self) -> bool {
        self.data()[field::FLAGS] & flag::AUTH != 0
    }

    /// The Demand (D) bit.
    pub fn demand(&self) -> bool {
        self.data()[field::FLAGS] & flag::DEMAND != 0
    }

    /// The Multipoint (M) bit.
    pub fn multipoint(&self) -> bool {
        self.data()[field::FLAGS] & flag::MULTIPOINT != 0
    }

    /// Detect Mult.
    pub fn detect_mult(&self) -> u8 {
        self.data()[field::DETECT_MULT]
    }

    /// The Length field: bytes of the Control packet, authentication included.
    pub fn length(&self) -> u8 {
        self.data()[field::LENGTH]
    }

    fn be32(&self, range: std::ops::Range<usize>) -> u32 {
        let d = self.data();
        u32::from_be_bytes([
            d[range.start],
            d[range.start + 1],
            d[range.start + 2],
            d[range.start + 3],
        ])
    }

    /// My Discriminator.
    pub fn my_discriminator(&self) -> u32 {
        self.be32(field::MY_DISCR)
    }

    /// Your Discriminator.
    pub fn your_discriminator(&self) -> u32 {
        self.be32(field::YOUR_DISCR)
    }

    /// Desired Min TX Interval.
    pub fn desired_min_tx(&self) -> Microseconds {
        Microseconds(self.be32(field::DESIRED_MIN_TX))
    }

    /// Required Min RX Interval.
    pub fn required_min_rx(&self) -> Microseconds {
        Microseconds(self.be32(field::REQUIRED_MIN_RX))
    }

    /// Required Min Echo RX Interval.
    pub fn required_min_echo_rx(&self) -> Microseconds {
        Microseconds(self.be32(field::REQUIRED_MIN_ECHO_RX))
    }

    /// The Control packet bytes as covered by the Length field (trailing bytes of the
    /// buffer excluded): what an authentication digest covers.
    pub fn control_bytes(&self) -> &[u8] {
        &self.data()[..usize::from(self.length())]
    }

    /// The authentication section bytes (type, length, body), when the A bit is set.
    pub fn auth_bytes(&self) -> Option<&[u8]> {
        if !self.auth_present() {
            return None;
        }
        let d = self.data();
        let auth_len = usize::from(d[field::AUTH + 1]);
        Some(&d[field::AUTH..field::AUTH + auth_len])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn data_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_be32(&mut self, range: std::ops::Range<usize>, v: u32) {
        self.data_mut()[range].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets version and diagnostic.
    pub fn set_version_diag(&mut self, version: u8, diag: Diagnostic) {
        self.data_mut()[field::VERS_DIAG] = (version << 5) | diag.to_bits();
    }

    /// Sets the state and flag bits at once.
    #[allow(clippy::too_many_arguments)]
    pub fn set_state_flags(
        &mut self,
        state: State,
        poll: bool,
        final_bit: bool,
        cpi: bool,
        auth: bool,
        demand: bool,
        multipoint: bool,
    ) {
        let mut b = state.to_bits() << 6;
        for (set, bit) in [
            (poll, flag::POLL),
            (final_bit, flag::FINAL),
            (cpi, flag::CPI),
            (auth, flag::AUTH),
            (demand, flag::DEMAND),
            (multipoint, flag::MULTIPOINT),
        ] {
            if set {
                b |= bit;
            }
        }
        self.data_mut()[field::FLAGS] = b;
    }

    /// Sets Detect Mult.
    pub fn set_detect_mult(&mut self, v: u8) {
        self.data_mut()[field::DETECT_MULT] = v;
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, v: u8) {
        self.data_mut()[field::LENGTH] = v;
    }

    /// Sets My Discriminator.
    pub fn set_my_discriminator(&mut self, v: u32) {
        self.set_be32(field::MY_DISCR, v);
    }

    /// Sets Your Discriminator.
    pub fn set_your_discriminator(&mut self, v: u32) {
        self.set_be32(field::YOUR_DISCR, v);
    }

    /// Sets Desired Min TX Interval.
    pub fn set_desired_min_tx(&mut self, v: Microseconds) {
        self.set_be32(field::DESIRED_MIN_TX, v.0);
    }

    /// Sets Required Min RX Interval.
    pub fn set_required_min_rx(&mut self, v: Microseconds) {
        self.set_be32(field::REQUIRED_MIN_RX, v.0);
    }

    /// Sets Required Min Echo RX Interval.
    pub fn set_required_min_echo_rx(&mut self, v: Microseconds) {
        self.set_be32(field::REQUIRED_MIN_ECHO_RX, v.0);
    }
}

/// A parsed BFD Control packet (RFC 5880 section 4.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ControlPacket {
    /// The sender's diagnostic.
    pub diagnostic: Diagnostic,
    /// The sender's session state.
    pub state: State,
    /// Poll (P) bit: the sender asks for a Final.
    pub poll: bool,
    /// Final (F) bit: the answer to a Poll.
    pub final_bit: bool,
    /// Control Plane Independent (C) bit.
    pub control_plane_independent: bool,
    /// Demand (D) bit: the sender wishes to run Demand mode.
    pub demand: bool,
    /// Detect Mult (non-zero).
    pub detect_mult: u8,
    /// My Discriminator (non-zero).
    pub my_discriminator: u32,
    /// Your Discriminator (zero when the sender does not know it yet).
    pub your_discriminator: u32,
    /// Desired Min TX Interval.
    pub desired_min_tx: Microseconds,
    /// Required Min RX Interval.
    pub required_min_rx: Microseconds,
    /// Required Min Echo RX Interval.
    pub required_min_echo_rx: Microseconds,
    /// The authentication section; its presence is the A bit.
    pub auth: Option<AuthSection>,
}

impl ControlPacket {
    /// Parses a checked packet, applying the session-independent reception checks of
    /// RFC 5880 section 6.8.6. Authentication is parsed but not verified: see
    /// [`crate::auth::KeyRing::verify`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ControlPacket, ParseError> {
        packet.check_len()?;
        if packet.version() != VERSION {
            return Err(ParseError::Version(packet.version()));
        }
        if packet.detect_mult() == 0 {
            return Err(ParseError::ZeroDetectMult);
        }
        if packet.multipoint() {
            return Err(ParseError::Multipoint);
        }
        if packet.my_discriminator() == 0 {
            return Err(ParseError::ZeroMyDiscriminator);
        }
        let state = packet.state();
        if packet.your_discriminator() == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(ParseError::ZeroYourDiscriminator(state));
        }
        let auth = match packet.auth_bytes() {
            Some(bytes) => Some(AuthSection::parse(bytes).map_err(ParseError::Auth)?),
            None => None,
        };
        Ok(ControlPacket {
            diagnostic: packet.diagnostic(),
            state,
            poll: packet.poll(),
            final_bit: packet.final_bit(),
            control_plane_independent: packet.control_plane_independent(),
            demand: packet.demand(),
            detect_mult: packet.detect_mult(),
            my_discriminator: packet.my_discriminator(),
            your_discriminator: packet.your_discriminator(),
            desired_min_tx: packet.desired_min_tx(),
            required_min_rx: packet.required_min_rx(),
            required_min_echo_rx: packet.required_min_echo_rx(),
            auth,
        })
    }

    /// Checks and parses raw bytes in one step.
    pub fn parse_bytes(bytes: &[u8]) -> Result<ControlPacket, ParseError> {
        ControlPacket::parse(&Packet::new_checked(bytes)?)
    }

    /// Bytes [`ControlPacket::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.auth.as_ref().map_or(0, AuthSection::buffer_len)
    }

    /// Writes the packet into `buf`, which must hold at least
    /// [`buffer_len`](ControlPacket::buffer_len) bytes (a shorter buffer panics: it is a
    /// programming error, not untrusted input). Returns the bytes written.
    ///
    /// Digest authentication sections are written as given; to sign, put the key in the
    /// digest field (as [`crate::auth::KeyRing::tx_section`] does) and then call
    /// [`crate::auth::sign_in_place`].
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let mut p = Packet::new_unchecked(&mut buf[..len]);
        p.set_version_diag(VERSION, self.diagnostic);
        p.set_state_flags(
            self.state,
            self.poll,
            self.final_bit,
            self.control_plane_independent,
            self.auth.is_some(),
            self.demand,
            false,
        );
        p.set_detect_mult(self.detect_mult);
        // buffer_len is at most 24 + 28.
        p.set_length(len as u8);
        p.set_my_discriminator(self.my_discriminator);
        p.set_your_discriminator(self.your_discriminator);
        p.set_desired_min_tx(self.desired_min_tx);
        p.set_required_min_rx(self.required_min_rx);
        p.set_required_min_echo_rx(self.required_min_echo_rx);
        if let Some(auth) = &self.auth {
            auth.emit(&mut buf[HEADER_LEN..len]);
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::ControlDetectionTimeExpired,
            state: State::Up,
            poll: true,
            final_bit: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 0x0a0b_0c0d,
            desired_min_tx: Microseconds(300_000),
            required_min_rx: Microseconds(250_000),
            required_min_echo_rx: Microseconds(0),
            auth: None,
        }
    }

    /// RFC 5880 section 4.1: field layout of the mandatory section.
    #[test]
    fn rfc5880_4_1_layout() {
        let mut buf = [0u8; 24];
        assert_eq!(sample().emit(&mut buf), 24);
        assert_eq!(
            buf,
            [
                0x21, 0xe0, 3, 24, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x04, 0x93, 0xe0,
                0x00, 0x03, 0xd0, 0x90, 0, 0, 0, 0
            ]
        );
        let p = ControlPacket::parse_bytes(&buf).unwrap();
        assert_eq!(p, sample());
    }

    /// RFC 5880 section 6.8.6: the session-independent discard rules.
    #[test]
    fn rfc5880_6_8_6_discards() {
        let mut good = [0u8; 24];
        sample().emit(&mut good);
        let with = |f: &dyn Fn(&mut [u8; 24])| {
            let mut b = good;
            f(&mut b);
            ControlPacket::parse_bytes(&b)
        };
        assert_eq!(with(&|b| b[0] = 0x41), Err(ParseError::Version(2)));
        assert_eq!(with(&|b| b[3] = 23), Err(ParseError::Length));
        assert_eq!(with(&|b| b[3] = 25), Err(ParseError::Truncated));
        assert_eq!(with(&|b| b[2] = 0), Err(ParseError::ZeroDetectMult));
        assert_eq!(with(&|b| b[1] |= 1), Err(ParseError::Multipoint));
        assert_eq!(
            with(&|b| b[4..8].fill(0)),
            Err(ParseError::ZeroMyDiscriminator)
        );
        assert_eq!(
            with(&|b| b[8..12].fill(0)),
            Err(ParseError::ZeroYourDiscriminator(State::Up))
        );
        // Your Discriminator zero is fine in Down.
        assert!(
            with(&|b| {
                b[8..12].fill(0);
                b[1] = (b[1] & 0x3f) | (1 << 6);
            })
            .is_ok()
        );
        // A bit set with a length too short for an auth section.
        assert_eq!(with(&|b| b[1] |= 0x04), Err(ParseError::Length));
        assert_eq!(
            ControlPacket::parse_bytes(&good[..20]),
            Err(ParseError::Truncated)
        );
    }

    /// RFC 5880 section 6.8.6: bytes beyond the Length field are ignored.
    #[test]
    fn trailing_bytes_ignored() {
        let mut buf = [0xffu8; 40];
        sample().emit(&mut buf);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.control_bytes().len(), 24);
        assert_eq!(ControlPacket::parse(&p).unwrap(), sample());
    }

    #[test]
    fn microseconds_conversions() {
        assert_eq!(
            Microseconds::from_duration(Duration::from_millis(300)),
            Microseconds(300_000)
        );
        assert_eq!(
            Microseconds::from_duration(Duration::from_secs(1 << 40)),
            Microseconds(u32::MAX)
        );
        assert_eq!(Microseconds(5).as_duration(), Duration::from_micros(5));
    }

    #[test]
    fn enums_round_trip() {
        for b in 0..4 {
            assert_eq!(State::from_bits(b).to_bits(), b);
        }
        for b in 0..32 {
            assert_eq!(Diagnostic::from_bits(b).to_bits(), b);
        }
    }
}

//! BFD authentication (RFC 5880 sections 4.2–4.4 and 6.7): the authentication section,
//! key rings for hitless key rotation, digest computation and sequence-number rules.
//!
//! All five types are supported: simple password (1), keyed MD5 (2), meticulous keyed
//! MD5 (3), keyed SHA1 (4) and meticulous keyed SHA1 (5). For the digest types the digest
//! is computed over the whole Control packet with the key (zero-padded to the digest
//! length) in the digest field, and then written over it (RFC 5880 sections 6.7.3 and
//! 6.7.4).
//!
//! A [`KeyRing`] holds several keys of one type at once, by key ID: packets are sent with
//! the active key, and a packet signed with any configured key is accepted. To rotate a
//! key without a flap: add the new key on both ends, switch the active key on both ends,
//! then remove the old key.

use std::fmt;

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::counters::DropReason;
use crate::packet::HEADER_LEN;

/// Authentication type (RFC 5880 section 4.1, "Auth Type").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// 1: Simple Password.
    SimplePassword,
    /// 2: Keyed MD5.
    KeyedMd5,
    /// 3: Meticulous Keyed MD5.
    MeticulousKeyedMd5,
    /// 4: Keyed SHA1.
    KeyedSha1,
    /// 5: Meticulous Keyed SHA1.
    MeticulousKeyedSha1,
}

impl AuthType {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
        }
    }

    /// From the wire value.
    pub const fn from_u8(v: u8) -> Option<AuthType> {
        Some(match v {
            1 => AuthType::SimplePassword,
            2 => AuthType::KeyedMd5,
            3 => AuthType::MeticulousKeyedMd5,
            4 => AuthType::KeyedSha1,
            5 => AuthType::MeticulousKeyedSha1,
            _ => return None,
        })
    }

    /// Whether the sequence number must strictly increase with every packet.
    pub const fn is_meticulous(self) -> bool {
        matches!(
            self,
            AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1
        )
    }

    /// The digest length (16 for MD5, 20 for SHA1), or `None` for simple password.
    pub const fn digest_len(self) -> Option<usize> {
        match self {
            AuthType::SimplePassword => None,
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => Some(16),
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => Some(20),
        }
    }

    /// The longest secret this type accepts (16 for password and MD5, 20 for SHA1).
    pub const fn max_secret_len(self) -> usize {
        match self.digest_len() {
            Some(n) => n,
            None => 16,
        }
    }
}

/// Why an authentication section or its verification failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthError {
    /// An Auth Type this implementation does not know.
    #[error("unknown auth type {0}")]
    UnknownType(u8),
    /// The Auth Len does not match the type.
    #[error("bad auth length")]
    BadLength,
    /// Authentication present but not configured, absent but configured, or of another
    /// type than configured.
    #[error("auth type mismatch")]
    TypeMismatch,
    /// No configured key has this key ID.
    #[error("unknown key id {0}")]
    UnknownKey(u8),
    /// The password does not match.
    #[error("wrong password")]
    BadPassword,
    /// The digest does not match.
    #[error("wrong digest")]
    BadDigest,
    /// The sequence number is outside the accepted window.
    #[error("sequence number out of window")]
    Sequence,
}

impl AuthError {
    /// The drop counter this failure is counted under.
    pub const fn drop_reason(self) -> DropReason {
        match self {
            AuthError::UnknownType(_) | AuthError::TypeMismatch => DropReason::AuthTypeMismatch,
            AuthError::BadLength => DropReason::Length,
            AuthError::UnknownKey(_) | AuthError::BadPassword | AuthError::BadDigest => {
                DropReason::AuthFailure
            }
            AuthError::Sequence => DropReason::Sequence,
        }
    }
}

/// A simple password of 1 to 16 bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Password {
    bytes: [u8; 16],
    len: u8,
}

impl Password {
    /// A password from 1 to 16 bytes, or `None`.
    pub fn new(bytes: &[u8]) -> Option<Password> {
        if bytes.is_empty() || bytes.len() > 16 {
            return None;
        }
        let mut b = [0u8; 16];
        b[..bytes.len()].copy_from_slice(bytes);
        Some(Password {
            bytes: b,
            len: bytes.len() as u8,
        })
    }

    /// The password bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len.min(16))]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password({} bytes)", self.len)
    }
}

/// A parsed authentication section (RFC 5880 sections 4.2–4.4).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthSection {
    /// Simple password (type 1).
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password.
        password: Password,
    },
    /// Keyed MD5 (type 2) or meticulous keyed MD5 (type 3).
    KeyedMd5 {
        /// Type 3 rather than 2.
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// Keyed SHA1 (type 4) or meticulous keyed SHA1 (type 5).
    KeyedSha1 {
        /// Type 5 rather than 4.
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        digest: [u8; 20],
    },
}

impl AuthSection {
    /// The Auth Type.
    pub const fn auth_type(&self) -> AuthType {
        match self {
            AuthSection::SimplePassword { .. } => AuthType::SimplePassword,
            AuthSection::KeyedMd5 {
                meticulous: false, ..
            } => AuthType::KeyedMd5,
            AuthSection::KeyedMd5 { .. } => AuthType::MeticulousKeyedMd5,
            AuthSection::KeyedSha1 {
                meticulous: false, ..
            } => AuthType::KeyedSha1,
            AuthSection::KeyedSha1 { .. } => AuthType::MeticulousKeyedSha1,
        }
    }

    /// The Auth Key ID.
    pub const fn key_id(&self) -> u8 {
        match self {
            AuthSection::SimplePassword { key_id, .. }
            | AuthSection::KeyedMd5 { key_id, .. }
            | AuthSection::KeyedSha1 { key_id, .. } => *key_id,
        }
    }

    /// The Sequence Number (`None` for simple password).
    pub const fn sequence(&self) -> Option<u32> {
        match self {
            AuthSection::SimplePassword { .. } => None,
            AuthSection::KeyedMd5 { sequence, .. } | AuthSection::KeyedSha1 { sequence, .. } => {
                Some(*sequence)
            }
        }
    }

    /// The Auth Len: bytes of the section.
    pub fn buffer_len(&self) -> usize {
        match self {
            AuthSection::SimplePassword { password, .. } => 3 + password.as_bytes().len(),
            AuthSection::KeyedMd5 { .. } => 24,
            AuthSection::KeyedSha1 { .. } => 28,
        }
    }

    /// Parses a section: `bytes` runs from Auth Type to the end of the section (exactly
    /// Auth Len bytes).
    pub fn parse(bytes: &[u8]) -> Result<AuthSection, AuthError> {
        let (&ty, rest) = bytes.split_first().ok_or(AuthError::BadLength)?;
        let &len = rest.first().ok_or(AuthError::BadLength)?;
        if usize::from(len) != bytes.len() {
            return Err(AuthError::BadLength);
        }
        let auth_type = AuthType::from_u8(ty).ok_or(AuthError::UnknownType(ty))?;
        let seq = |b: &[u8]| u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        match auth_type {
            AuthType::SimplePassword => {
                if !(4..=19).contains(&bytes.len()) {
                    return Err(AuthError::BadLength);
                }
                let password = Password::new(&bytes[3..]).ok_or(AuthError::BadLength)?;
                Ok(AuthSection::SimplePassword {
                    key_id: bytes[2],
                    password,
                })
            }
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
                if bytes.len() != 24 {
                    return Err(AuthError::BadLength);
                }
                let mut digest = [0u8; 16];
                digest.copy_from_slice(&bytes[8..24]);
                Ok(AuthSection::KeyedMd5 {
                    meticulous: auth_type.is_meticulous(),
                    key_id: bytes[2],
                    sequence: seq(bytes),
                    digest,
                })
            }
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {
                if bytes.len() != 28 {
                    return Err(AuthError::BadLength);
                }
                let mut digest = [0u8; 20];
                digest.copy_from_slice(&bytes[8..28]);
                Ok(AuthSection::KeyedSha1 {
                    meticulous: auth_type.is_meticulous(),
                    key_id: bytes[2],
                    sequence: seq(bytes),
                    digest,
                })
            }
        }
    }

    /// Writes the section into `buf` (at least [`buffer_len`](Self::buffer_len) bytes;
    /// shorter panics). Returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        buf[0] = self.auth_type().to_u8();
        buf[1] = len as u8;
        buf[2] = self.key_id();
        match self {
            AuthSection::SimplePassword { password, .. } => {
                buf[3..].copy_from_slice(password.as_bytes());
            }
            AuthSection::KeyedMd5 {
                sequence, digest, ..
            } => {
                buf[3] = 0;
                buf[4..8].copy_from_slice(&sequence.to_be_bytes());
                buf[8..24].copy_from_slice(digest);
            }
            AuthSection::KeyedSha1 {
                sequence, digest, ..
            } => {
                buf[3] = 0;
                buf[4..8].copy_from_slice(&sequence.to_be_bytes());
                buf[8..28].copy_from_slice(digest);
            }
        }
        len
    }
}

/// Why a key or key ring was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyError {
    /// The secret is empty or longer than the type allows.
    #[error("secret length {len} not in 1..={max}")]
    SecretLength {
        /// The length given.
        len: usize,
        /// The type's maximum.
        max: usize,
    },
    /// No key with this ID is in the ring.
    #[error("no key with id {0}")]
    NoSuchKey(u8),
    /// The active key cannot be removed.
    #[error("key {0} is the active key")]
    ActiveKey(u8),
}

/// One key: an ID and a secret (a password for type 1).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthKey {
    /// The Auth Key ID that names this key on the wire.
    pub id: u8,
    /// The secret (not shown by `Debug`).
    pub secret: Vec<u8>,
}

impl AuthKey {
    /// A key.
    pub fn new(id: u8, secret: impl Into<Vec<u8>>) -> AuthKey {
        AuthKey {
            id,
            secret: secret.into(),
        }
    }

    /// The secret zero-padded to the digest length (or the password).
    fn padded(&self, len: usize) -> [u8; 20] {
        let mut out = [0u8; 20];
        let n = self.secret.len().min(len).min(20);
        out[..n].copy_from_slice(&self.secret[..n]);
        out
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct KeyRingDef {
    auth_type: AuthType,
    keys: Vec<AuthKey>,
    active: u8,
}

/// Several keys of one authentication type, by key ID, with one active for sending.
///
/// ```
/// use ha_bfd::auth::{AuthKey, AuthType, KeyRing};
/// let mut ring = KeyRing::new(AuthType::MeticulousKeyedSha1, AuthKey::new(1, "old secret"))?;
/// ring.insert(AuthKey::new(2, "new secret"))?; // accepted from now on
/// ring.set_active(2)?;                          // sent from now on
/// ring.remove(1)?;                              // no longer accepted
/// assert_eq!(ring.active().id, 2);
/// # Ok::<(), ha_bfd::auth::KeyError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "KeyRingDef")]
pub struct KeyRing {
    auth_type: AuthType,
    keys: Vec<AuthKey>,
    active: u8,
}

impl TryFrom<KeyRingDef> for KeyRing {
    type Error = KeyError;
    fn try_from(def: KeyRingDef) -> Result<Self, KeyError> {
        let mut keys = def.keys.into_iter();
        let first = keys.next().ok_or(KeyError::NoSuchKey(def.active))?;
        let mut ring = KeyRing::new(def.auth_type, first)?;
        for k in keys {
            ring.insert(k)?;
        }
        ring.set_active(def.active)?;
        Ok(ring)
    }
}

impl KeyRing {
    /// A ring of `auth_type` holding `key`, which becomes the active key.
    pub fn new(auth_type: AuthType, key: AuthKey) -> Result<KeyRing, KeyError> {
        check_secret(auth_type, &key)?;
        Ok(KeyRing {
            auth_type,
            active: key.id,
            keys: vec![key],
        })
    }

    /// The ring's authentication type.
    pub const fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    /// Adds a key, replacing any key with the same ID.
    pub fn insert(&mut self, key: AuthKey) -> Result<(), KeyError> {
        check_secret(self.auth_type, &key)?;
        match self.keys.iter_mut().find(|k| k.id == key.id) {
            Some(k) => *k = key,
            None => self.keys.push(key),
        }
        Ok(())
    }

    /// Removes a key that is not the active key.
    pub fn remove(&mut self, id: u8) -> Result<AuthKey, KeyError> {
        if id == self.active {
            return Err(KeyError::ActiveKey(id));
        }
        let index = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or(KeyError::NoSuchKey(id))?;
        Ok(self.keys.remove(index))
    }

    /// Makes a configured key the one packets are sent with.
    pub fn set_active(&mut self, id: u8) -> Result<(), KeyError> {
        if self.get(id).is_none() {
            return Err(KeyError::NoSuchKey(id));
        }
        self.active = id;
        Ok(())
    }

    /// The key packets are sent with.
    pub fn active(&self) -> &AuthKey {
        // The active ID always names a key: `new` inserts it, `remove` refuses it.
        self.get(self.active).unwrap_or(&self.keys[0])
    }

    /// The key with this ID.
    pub fn get(&self, id: u8) -> Option<&AuthKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The configured key IDs.
    pub fn key_ids(&self) -> impl Iterator<Item = u8> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// The section to send with sequence number `sequence`: for digest types the digest
    /// field holds the active key, to be replaced by [`sign_in_place`] once the packet is
    /// emitted.
    pub fn tx_section(&self, sequence: u32) -> AuthSection {
        let key = self.active();
        match self.auth_type {
            AuthType::SimplePassword => AuthSection::SimplePassword {
                key_id: key.id,
                // check_secret guarantees 1..=16 bytes.
                password: Password::new(&key.secret).unwrap_or(Password {
                    bytes: [0; 16],
                    len: 1,
                }),
            },
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => {
                let mut digest = [0u8; 16];
                digest.copy_from_slice(&key.padded(16)[..16]);
                AuthSection::KeyedMd5 {
                    meticulous: self.auth_type.is_meticulous(),
                    key_id: key.id,
                    sequence,
                    digest,
                }
            }
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => AuthSection::KeyedSha1 {
                meticulous: self.auth_type.is_meticulous(),
                key_id: key.id,
                sequence,
                digest: key.padded(20),
            },
        }
    }

    /// Verifies the password or digest of a received packet (not its sequence number:
    /// see [`RxSequence`]). `control` is the Control packet as covered by its Length
    /// field ([`crate::packet::Packet::control_bytes`]) and `section` its parsed
    /// authentication section.
    pub fn verify(&self, control: &[u8], section: &AuthSection) -> Result<(), AuthError> {
        if section.auth_type() != self.auth_type {
            return Err(AuthError::TypeMismatch);
        }
        let key = self
            .get(section.key_id())
            .ok_or(AuthError::UnknownKey(section.key_id()))?;
        match section {
            AuthSection::SimplePassword { password, .. } => {
                if ct_eq(password.as_bytes(), &key.secret) {
                    Ok(())
                } else {
                    Err(AuthError::BadPassword)
                }
            }
            AuthSection::KeyedMd5 { digest, .. } => {
                let computed = digest_with_key::<Md5>(control, &key.padded(16)[..16])
                    .ok_or(AuthError::BadLength)?;
                if ct_eq(&computed, digest) {
                    Ok(())
                } else {
                    Err(AuthError::BadDigest)
                }
            }
            AuthSection::KeyedSha1 { digest, .. } => {
                let computed = digest_with_key::<Sha1>(control, &key.padded(20))
                    .ok_or(AuthError::BadLength)?;
                if ct_eq(&computed, digest) {
                    Ok(())
                } else {
                    Err(AuthError::BadDigest)
                }
            }
        }
    }
}

fn check_secret(auth_type: AuthType, key: &AuthKey) -> Result<(), KeyError> {
    let max = auth_type.max_secret_len();
    if key.secret.is_empty() || key.secret.len() > max {
        return Err(KeyError::SecretLength {
            len: key.secret.len(),
            max,
        });
    }
    Ok(())
}

/// Offset of the digest field in a Control packet.
const DIGEST_OFFSET: usize = HEADER_LEN + 8;

/// The digest of `control` with `key` in place of its digest field, or `None` when the
/// packet is too short to hold the field.
fn digest_with_key<D: Digest>(control: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let end = DIGEST_OFFSET + key.len();
    if control.len() < end {
        return None;
    }
    let mut h = D::new();
    h.update(&control[..DIGEST_OFFSET]);
    h.update(key);
    h.update(&control[end..]);
    Some(h.finalize().to_vec())
}

/// Compares in time independent of where the first difference is.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Computes the digest of an emitted Control packet whose digest field holds the key, and
/// writes it over the key (RFC 5880 sections 6.7.3 and 6.7.4). A packet without
/// authentication, or with a simple password, is left alone.
///
/// `packet` is exactly the Control packet (its Length field's bytes).
pub fn sign_in_place(packet: &mut [u8]) -> Result<(), AuthError> {
    if packet.len() <= HEADER_LEN + 1 || packet[1] & 0x04 == 0 {
        return Ok(());
    }
    let ty = packet[HEADER_LEN];
    let auth_type = AuthType::from_u8(ty).ok_or(AuthError::UnknownType(ty))?;
    let Some(len) = auth_type.digest_len() else {
        return Ok(());
    };
    let end = DIGEST_OFFSET + len;
    if packet.len() < end {
        return Err(AuthError::BadLength);
    }
    let digest: Vec<u8> = if len == 16 {
        Md5::digest(&*packet).to_vec()
    } else {
        Sha1::digest(&*packet).to_vec()
    };
    packet[DIGEST_OFFSET..end].copy_from_slice(&digest);
    Ok(())
}

/// The receive side of the sequence-number rules (RFC 5880 sections 6.7.3 and 6.7.4):
/// `bfd.RcvAuthSeq` and `bfd.AuthSeqKnown`.
///
/// While no sequence number is known any is accepted. Once known, a packet's number must
/// lie within `[last, last + 3 × Detect Mult]` (keyed) or `(last, last + 3 × Detect Mult]`
/// (meticulous), in circular sequence-number space, where Detect Mult is the one the
/// packet carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct RxSequence {
    last: Option<u32>,
}

impl RxSequence {
    /// Nothing known yet.
    pub const fn new() -> Self {
        RxSequence { last: None }
    }

    /// The last accepted number, when known.
    pub const fn last(&self) -> Option<u32> {
        self.last
    }

    /// Whether `sequence` is acceptable.
    pub fn check(&self, sequence: u32, meticulous: bool, detect_mult: u8) -> Result<(), AuthError> {
        let Some(last) = self.last else {
            return Ok(());
        };
        let diff = sequence.wrapping_sub(last);
        let window = 3 * u32::from(detect_mult);
        let low = u32::from(meticulous);
        if diff < low || diff > window {
            return Err(AuthError::Sequence);
        }
        Ok(())
    }

    /// Records an authenticated packet's number.
    pub fn accept(&mut self, sequence: u32) {
        self.last = Some(sequence);
    }

    /// Forgets the number (`bfd.AuthSeqKnown = 0`), as after two Detection Times of
    /// silence.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{ControlPacket, Diagnostic, Microseconds, Packet, State};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn header(auth: AuthSection) -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::None,
            state: State::Up,
            poll: false,
            final_bit: false,
            control_plane_independent: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 0x1122_3344,
            your_discriminator: 0x5566_7788,
            desired_min_tx: Microseconds(1_000_000),
            required_min_rx: Microseconds(1_000_000),
            required_min_echo_rx: Microseconds(0),
            auth: Some(auth),
        }
    }

    /// Signs the reference packet with key 5 = "secret", sequence 16.
    fn signed(auth_type: AuthType) -> Vec<u8> {
        let ring = KeyRing::new(auth_type, AuthKey::new(5, "secret")).unwrap();
        let pkt = header(ring.tx_section(0x10));
        let mut buf = vec![0u8; pkt.buffer_len()];
        pkt.emit(&mut buf);
        sign_in_place(&mut buf).unwrap();
        buf
    }

    // Expected packets computed independently with Python's hashlib over the packet with
    // the zero-padded key in the digest field.
    const MD5: &str = "20c403301122334455667788000f4240000f424000000000021805000000001050da7421d3a6532c4151d206cd6d87ef";
    const MET_MD5: &str = "20c403301122334455667788000f4240000f4240000000000318050000000010369c619b6ecb5b983a3fc15bf3f0ebbb";
    const SHA1: &str = "20c403341122334455667788000f4240000f424000000000041c050000000010d2808700d7d3d0e836d8c6f7d809eda61b975f62";
    const MET_SHA1: &str = "20c403341122334455667788000f4240000f424000000000051c050000000010e3036118fa69a32959fc4061ec91e5facacfcc92";

    fn check_vector(auth_type: AuthType, expected: &str) {
        let bytes = signed(auth_type);
        assert_eq!(bytes, hex(expected), "{auth_type:?}");
        let ring = KeyRing::new(auth_type, AuthKey::new(5, "secret")).unwrap();
        let view = Packet::new_checked(&bytes[..]).unwrap();
        let pkt = ControlPacket::parse(&view).unwrap();
        let section = pkt.auth.unwrap();
        assert_eq!(section.auth_type(), auth_type);
        assert_eq!(section.sequence(), Some(0x10));
        assert_eq!(ring.verify(view.control_bytes(), &section), Ok(()));
        // Any change to the covered bytes breaks the digest.
        let mut tampered = bytes.clone();
        tampered[2] = 4;
        let view = Packet::new_checked(&tampered[..]).unwrap();
        let section = ControlPacket::parse(&view).unwrap().auth.unwrap();
        assert_eq!(
            ring.verify(view.control_bytes(), &section),
            Err(AuthError::BadDigest)
        );
        // A different secret under the same key ID fails too.
        let other = KeyRing::new(auth_type, AuthKey::new(5, "secreT")).unwrap();
        let view = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            other.verify(view.control_bytes(), &section),
            Err(AuthError::BadDigest)
        );
    }

    /// RFC 5880 sections 4.3 and 6.7.3: keyed MD5.
    #[test]
    fn rfc5880_6_7_3_keyed_md5_vector() {
        check_vector(AuthType::KeyedMd5, MD5);
    }

    /// RFC 5880 sections 4.3 and 6.7.3: meticulous keyed MD5.
    #[test]
    fn rfc5880_6_7_3_meticulous_md5_vector() {
        check_vector(AuthType::MeticulousKeyedMd5, MET_MD5);
    }

    /// RFC 5880 sections 4.4 and 6.7.4: keyed SHA1.
    #[test]
    fn rfc5880_6_7_4_keyed_sha1_vector() {
        check_vector(AuthType::KeyedSha1, SHA1);
    }

    /// RFC 5880 sections 4.4 and 6.7.4: meticulous keyed SHA1.
    #[test]
    fn rfc5880_6_7_4_meticulous_sha1_vector() {
        check_vector(AuthType::MeticulousKeyedSha1, MET_SHA1);
    }

    /// RFC 5880 sections 4.2 and 6.7.2: simple password layout and check.
    #[test]
    fn rfc5880_6_7_2_simple_password() {
        let ring = KeyRing::new(AuthType::SimplePassword, AuthKey::new(1, "password")).unwrap();
        let pkt = header(ring.tx_section(0));
        let mut buf = vec![0u8; pkt.buffer_len()];
        assert_eq!(pkt.emit(&mut buf), 35);
        sign_in_place(&mut buf).unwrap();
        assert_eq!(&buf[24..], b"\x01\x0b\x01password");
        assert_eq!(buf[3], 35);
        let view = Packet::new_checked(&buf[..]).unwrap();
        let section = ControlPacket::parse(&view).unwrap().auth.unwrap();
        assert_eq!(section.sequence(), None);
        assert_eq!(ring.verify(view.control_bytes(), &section), Ok(()));
        let wrong = KeyRing::new(AuthType::SimplePassword, AuthKey::new(1, "passwort")).unwrap();
        assert_eq!(
            wrong.verify(view.control_bytes(), &section),
            Err(AuthError::BadPassword)
        );
        let other_id = KeyRing::new(AuthType::SimplePassword, AuthKey::new(2, "password")).unwrap();
        assert_eq!(
            other_id.verify(view.control_bytes(), &section),
            Err(AuthError::UnknownKey(1))
        );
        let md5 = KeyRing::new(AuthType::KeyedMd5, AuthKey::new(1, "password")).unwrap();
        assert_eq!(
            md5.verify(view.control_bytes(), &section),
            Err(AuthError::TypeMismatch)
        );
    }

    /// RFC 5880 section 4.2–4.4: Auth Len must fit the type.
    #[test]
    fn rfc5880_4_auth_len_rules() {
        assert_eq!(AuthSection::parse(&[1, 3, 1]), Err(AuthError::BadLength));
        assert_eq!(AuthSection::parse(&[2, 4, 1, 0]), Err(AuthError::BadLength));
        assert_eq!(AuthSection::parse(&[9, 2]), Err(AuthError::UnknownType(9)));
        assert_eq!(AuthSection::parse(&[1, 5, 1, 0]), Err(AuthError::BadLength));
        assert_eq!(AuthSection::parse(&[]), Err(AuthError::BadLength));
    }

    /// RFC 5880 sections 6.7.3/6.7.4: keyed types accept [last, last + 3×DetectMult],
    /// meticulous types (last, last + 3×DetectMult], with wrap-around.
    #[test]
    fn rfc5880_6_7_3_sequence_windows() {
        let mut seq = RxSequence::new();
        assert_eq!(seq.check(12345, true, 3), Ok(()));
        seq.accept(u32::MAX - 1);
        assert_eq!(seq.check(u32::MAX - 1, false, 3), Ok(()));
        assert_eq!(seq.check(u32::MAX - 1, true, 3), Err(AuthError::Sequence));
        assert_eq!(seq.check(u32::MAX - 2, false, 3), Err(AuthError::Sequence));
        assert_eq!(seq.check(u32::MAX, true, 3), Ok(()));
        assert_eq!(seq.check(7, true, 3), Ok(())); // last + 9 after wrapping
        assert_eq!(seq.check(8, true, 3), Err(AuthError::Sequence));
        assert_eq!(seq.check(8, false, 3), Err(AuthError::Sequence));
        seq.reset();
        assert_eq!(seq.check(8, true, 3), Ok(()));
    }

    #[test]
    fn key_ring_rules() {
        assert_eq!(
            KeyRing::new(AuthType::KeyedMd5, AuthKey::new(1, vec![0u8; 17])),
            Err(KeyError::SecretLength { len: 17, max: 16 })
        );
        assert!(KeyRing::new(AuthType::KeyedSha1, AuthKey::new(1, vec![1u8; 20])).is_ok());
        assert!(KeyRing::new(AuthType::SimplePassword, AuthKey::new(1, "")).is_err());
        let mut ring = KeyRing::new(AuthType::KeyedSha1, AuthKey::new(1, "a")).unwrap();
        assert_eq!(ring.remove(1), Err(KeyError::ActiveKey(1)));
        assert_eq!(ring.set_active(2), Err(KeyError::NoSuchKey(2)));
        ring.insert(AuthKey::new(2, "b")).unwrap();
        ring.set_active(2).unwrap();
        assert_eq!(ring.remove(1).unwrap().id, 1);
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![2]);
        assert!(!format!("{:?}", ring).contains("\"b\""));
    }

    /// Both keys of a ring verify: a packet signed with the old key is accepted while the
    /// new one is active.
    #[test]
    fn ring_accepts_any_configured_key() {
        let old = KeyRing::new(AuthType::MeticulousKeyedMd5, AuthKey::new(5, "secret")).unwrap();
        let mut both = old.clone();
        both.insert(AuthKey::new(6, "newer")).unwrap();
        both.set_active(6).unwrap();
        let bytes = signed(AuthType::MeticulousKeyedMd5);
        let view = Packet::new_checked(&bytes[..]).unwrap();
        let section = ControlPacket::parse(&view).unwrap().auth.unwrap();
        assert_eq!(both.verify(view.control_bytes(), &section), Ok(()));
    }

    #[test]
    fn key_ring_serde_validates() {
        let ring = KeyRing::new(AuthType::KeyedMd5, AuthKey::new(1, "k")).unwrap();
        let json = serde_json::to_string(&ring).unwrap();
        assert_eq!(serde_json::from_str::<KeyRing>(&json).unwrap(), ring);
        let bad = json.replace("\"active\":1", "\"active\":9");
        assert!(serde_json::from_str::<KeyRing>(&bad).is_err());
    }
}

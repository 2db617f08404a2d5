//! The value types of the protocol that are not plain strings and
//! integers: byte strings, secrets, text lists and the documented words
//! (algorithms, states, slots).
//!
//! Invariants:
//! - [`Bytes`], [`Secret`] are written as CBOR byte strings (major type
//!   2) and read only from byte strings, never from arrays.
//! - [`Secret`] and [`SecretText`] have no `Debug`, no `Clone`, are
//!   zeroized on drop and compare in constant time; decoding copies the
//!   value straight into zeroizing storage.
//! - A word enum reads only its documented words (exact case).

use crate::schema::{Kind, WireField};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use zeroize::Zeroizing;

/// Public binary data (messages, signatures, sealed blobs, public keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Take the bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Bytes {
        Bytes(v.to_vec())
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        d.deserialize_byte_buf(BytesVisitor).map(Bytes)
    }
}

/// Secret binary data: plaintexts, vault values, auth secrets. No Debug,
/// no Clone; zeroized on drop.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Take ownership of `bytes` (zeroized when dropped).
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Zeroizing::new(bytes))
    }

    /// Copy `bytes` into a new secret. The caller wipes its own copy.
    pub fn copy_from(bytes: &[u8]) -> Secret {
        Secret::new(bytes.to_vec())
    }

    /// The bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The zeroizing buffer, moved out without a copy.
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Constant-time comparison with `other` (lengths are not secret).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.len() && bool::from(self.0.as_slice().ct_eq(other))
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<Vec<u8>>> for Secret {
    fn from(z: Zeroizing<Vec<u8>>) -> Secret {
        Secret(z)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

struct SecretVisitor;

impl Visitor<'_> for SecretVisitor {
    type Value = Secret;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Secret, E> {
        Ok(Secret::copy_from(v))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Secret, E> {
        Ok(Secret::new(v))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        d.deserialize_byte_buf(SecretVisitor)
    }
}

/// Secret text: a password. No Debug, no Clone; zeroized on drop.
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Copy `text` into a new secret. The caller wipes its own copy.
    pub fn copy_from(text: &str) -> SecretText {
        SecretText(Zeroizing::new(text.to_owned()))
    }

    /// The text. Keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

struct SecretTextVisitor;

impl Visitor<'_> for SecretTextVisitor {
    type Value = SecretText;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a text string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretText, E> {
        Ok(SecretText::copy_from(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretText, E> {
        Ok(SecretText(Zeroizing::new(v)))
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretText, D::Error> {
        d.deserialize_string(SecretTextVisitor)
    }
}

/// The serde name of [`TextList`], by which the protocol's decoder knows
/// to say "an array of text strings".
pub(crate) const TEXT_LIST: &str = "nexus_proto::TextList";

/// An argument that is an array of text strings (`[text]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextList(pub Vec<String>);

impl Serialize for TextList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(TEXT_LIST, &self.0)
    }
}

struct TextListVisitor;

impl<'de> Visitor<'de> for TextListVisitor {
    type Value = TextList;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of text strings")
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<TextList, D::Error> {
        Vec::<String>::deserialize(d).map(TextList)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            out.push(s);
        }
        Ok(TextList(out))
    }
}

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TextList, D::Error> {
        d.deserialize_newtype_struct(TEXT_LIST, TextListVisitor)
    }
}

impl WireField for TextList {
    const KIND: Kind = Kind::Array;
}
impl WireField for Bytes {
    const KIND: Kind = Kind::Bytes;
}
impl WireField for Secret {
    const KIND: Kind = Kind::Bytes;
}
impl WireField for SecretText {
    const KIND: Kind = Kind::Text;
}

/// Define an enum of documented words, read and written as text.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// Every word, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// The value for a word (exact case), if it is one.
            pub fn from_word(word: &str) -> Option<$name> {
                match word { $($word => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::schema::WireField for $name {
            const KIND: $crate::schema::Kind = $crate::schema::Kind::Text;
        }
    };
}

words!(
    /// A key's algorithm, as named on the wire.
    Alg { /** Ed25519 signing. */ Ed25519 = "Ed25519", /** XChaCha20-Poly1305 sealing. */ XChaCha20Poly1305 = "XChaCha20-Poly1305" }
);
words!(
    /// How a signed message was hashed before signing (`key.sign`,
    /// `key.verify`): with a prehash, `msg` is the 64-byte digest the
    /// client computed, and the Ed25519 signature is over that digest, as
    /// minisign's `ED` signatures are.
    Prehash { /** BLAKE2b-512 (RFC 7693), minisign's prehash. */ Blake2b512 = "BLAKE2b-512" }
);
words!(
    /// A key's state.
    KeyState { /** Usable. */ Active = "active", /** Every use fails with `EKEYREVOKED`. */ Revoked = "revoked" }
);
words!(
    /// A key version's state.
    VersionState {
        /** Usable. */ Active = "active",
        /** Below the key's minimum version. */ Retired = "retired",
        /** Revoked. */ Revoked = "revoked",
    }
);
words!(
    /// A session's state.
    SessionState { /** Unlocked: the vault can be used. */ Active = "active", /** Locked: vault calls fail with `ELOCKED`. */ Locked = "locked" }
);
words!(
    /// What keymintd knows of a session id (`km.session.user`).
    KmSessionState {
        /** Its vault key is unsealed. */ Active = "active",
        /** Known (or keymintd restarted and was not synced yet), key not held. */ Locked = "locked",
        /** No such session. */ Unknown = "unknown",
    }
);
words!(
    /// Where a trust root comes from (decided by its location, never its
    /// content).
    RootSource { /** Shipped read-only with the image. */ System = "system", /** Installed at run time. */ Installed = "installed" }
);
words!(
    /// Whether a trust root vouches for anything now.
    RootStatus {
        /** Inside its validity window and not distrusted. */ Valid = "valid",
        /** Past `not_after`. */ Expired = "expired",
        /** Before `not_before`. */ NotYetValid = "not-yet-valid",
        /** Named by a distrust entry: verifies nothing. */ Distrusted = "distrusted",
        /** Whether it is distrusted cannot be read (a damaged distrust
        entry or list): verifies nothing. */ Damaged = "damaged",
    }
);
words!(
    /// An A/B system slot.
    Slot { /** Slot A. */ A = "a", /** Slot B. */ B = "b" }
);

//! The identity a piece of key material is bound to.
//!
//! A key's wrapping key and AEAD associated data are both derived from this
//! identity's canonical encoding, so a blob copied to another app, purpose,
//! name, version or algorithm does not open.

use nexus_core::{AppId, Label};

/// The algorithm of a key's material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// An Ed25519 signing key (32-byte seed).
    Ed25519,
    /// A 256-bit XChaCha20-Poly1305 data key for seal/unseal.
    XChaCha20Poly1305,
}

impl Algorithm {
    /// Stable name, used in records and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::XChaCha20Poly1305 => "XChaCha20-Poly1305",
        }
    }

    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Ed25519" => Some(Algorithm::Ed25519),
            "XChaCha20-Poly1305" => Some(Algorithm::XChaCha20Poly1305),
            _ => None,
        }
    }
}

/// Who a key version belongs to: `(app, purpose, name, version, algorithm)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyIdentity {
    /// Owning app namespace.
    pub app: AppId,
    /// What the key is for (e.g. `device-attest`).
    pub purpose: Label,
    /// The key's name within app and purpose.
    pub name: Label,
    /// The version number (1-based).
    pub version: u32,
    /// The material's algorithm.
    pub alg: Algorithm,
}

impl KeyIdentity {
    /// Canonical, injective encoding: a domain tag, then each field with a
    /// one-byte length prefix (ids are at most 64 bytes), then the version.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"nexus-key-identity/v1");
        for field in [
            self.app.as_str(),
            self.purpose.as_str(),
            self.name.as_str(),
            self.alg.as_str(),
        ] {
            // Ids are validated to at most 64 bytes and algorithm names
            // are short constants, so the length always fits one byte.
            out.push(u8::try_from(field.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(app: &str, purpose: &str, name: &str, v: u32) -> KeyIdentity {
        KeyIdentity {
            app: AppId::new(app).unwrap(),
            purpose: Label::new(purpose).unwrap(),
            name: Label::new(name).unwrap(),
            version: v,
            alg: Algorithm::Ed25519,
        }
    }

    #[test]
    fn encoding_is_injective_across_field_boundaries() {
        // Same concatenated text, different split: must differ.
        assert_ne!(
            id("ab", "c", "k", 1).encode(),
            id("a", "bc", "k", 1).encode()
        );
        assert_ne!(id("a", "b", "k", 1).encode(), id("a", "b", "k", 2).encode());
        let mut x = id("a", "b", "k", 1);
        x.alg = Algorithm::XChaCha20Poly1305;
        assert_ne!(x.encode(), id("a", "b", "k", 1).encode());
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in [Algorithm::Ed25519, Algorithm::XChaCha20Poly1305] {
            assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        }
        assert_eq!(Algorithm::parse("RSA"), None);
    }
}

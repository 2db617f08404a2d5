//! Between keymint's types and the protocol's: key identities and
//! algorithms. Used by this client (keymint → wire) and by keymintd and
//! keystored (wire → keymint).

use keymint::{Algorithm, KeyIdentity};
use nexus_proto::{Alg, KeyIdent};
use std::num::NonZeroU32;

/// keymint's algorithm as named on the wire.
pub fn alg_to_wire(a: Algorithm) -> Alg {
    match a {
        Algorithm::Ed25519 => Alg::Ed25519,
        Algorithm::XChaCha20Poly1305 => Alg::XChaCha20Poly1305,
    }
}

/// The wire's algorithm as keymint's.
pub fn alg_from_wire(a: Alg) -> Algorithm {
    match a {
        Alg::Ed25519 => Algorithm::Ed25519,
        Alg::XChaCha20Poly1305 => Algorithm::XChaCha20Poly1305,
    }
}

/// `ident` as sent to keymintd. `None` for version 0, which names no key
/// version (keymint never makes one).
pub fn ident_to_wire(id: &KeyIdentity) -> Option<KeyIdent> {
    Some(KeyIdent {
        app: id.app.clone(),
        purpose: id.purpose.clone(),
        name: id.name.clone(),
        version: NonZeroU32::new(id.version)?,
        alg: alg_to_wire(id.alg),
    })
}

/// `ident` as keymint takes it.
pub fn ident_from_wire(id: KeyIdent) -> KeyIdentity {
    KeyIdentity {
        app: id.app,
        purpose: id.purpose,
        name: id.name,
        version: id.version.get(),
        alg: alg_from_wire(id.alg),
    }
}

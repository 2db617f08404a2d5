//! Between keymint's types and the protocol's: key identities,
//! algorithms and vault key owners. Used by this client (keymint → wire) and by keymintd and
//! keystored (wire → keymint).

use keymint::{Algorithm, KeyIdentity, VaultOwner};
use nexus_proto::{Alg, KeyIdent, KmOwner};
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

/// A vault key's owner as sent to keymintd.
pub fn owner_to_wire(o: &VaultOwner) -> KmOwner {
    KmOwner {
        user: o.user.clone(),
        instance: o.instance,
        legacy: o.legacy,
    }
}

/// A vault key's owner as keymint takes it.
pub fn owner_from_wire(o: KmOwner) -> VaultOwner {
    VaultOwner {
        user: o.user,
        instance: o.instance,
        legacy: o.legacy,
    }
}

//! keymint-client: [`RemoteKeyMint`], keymint's [`KeyOps`],
//! [`SessionKeyOps`] and [`VaultKeyOps`] over a wire connection to keymintd, with the typed
//! `km.*` ops of `nexus-proto`. keystored and identityd use it so that
//! they hold only wrapped blobs and never private key material; they
//! depend on this library, not on the keymintd service crate.
//!
//! Invariants:
//! - An error reply keeps keymintd's code and its message (secret-free by
//!   the wire contract: keymint's messages say what failed, never with
//!   which bytes), so "authentication failed" reaches the caller as it
//!   was said. `ELOCKED` becomes [`KeyMintError::Locked`], so callers keep
//!   telling "locked" from every other failure. A reply of the wrong
//!   shape is `EIO`.
//! - Secrets built into a request (auth secrets, plaintexts) live in
//!   zeroizing types and the encoded request is wiped once sent;
//!   plaintexts in replies move straight into zeroizing buffers.
//! - Public keys from keymintd pass the strict parser (canonical, not
//!   small-order) before a caller sees them.
//! - Every op is sent as idempotent: keymintd keeps no state that a repeat
//!   could corrupt (generate makes a fresh key the caller alone stores;
//!   session unseal, lock, end and sync are idempotent).
//! - No failure reads as an answer: a session op that could not reach
//!   keymintd is an error (with the upstream's code), never "not
//!   unsealed" or "unknown".

#![forbid(unsafe_code)]

pub mod board;
mod convert;
mod remote;

pub use convert::{
    alg_from_wire, alg_to_wire, ident_from_wire, ident_to_wire, owner_from_wire, owner_to_wire,
};
pub use remote::{connect_upstream, RemoteKeyMint, KEYMINTD};

#[cfg(test)]
mod tests;

pub use keymint::{KeyOps, SessionKeyOps, VaultKeyOps};

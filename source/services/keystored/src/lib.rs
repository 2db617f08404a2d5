//! keystored: key records, the per-user vault and the trust store, served
//! over the wire (docs/architecture/services.md, section keystored).
//!
//! - `key.*`: [`keystore::KeyStore`] over the daemon's state, with keymint
//!   in another process ([`keymint_client::RemoteKeyMint`], from the
//!   `keymint-client` library) as its `KeyOps`; every op is decoded and
//!   answered with the typed `nexus-proto` schema.
//! - `vault.*`: [`vault::Vault`], with the same remote keymint as its
//!   `VaultKeyOps`; per-app limits come from the policy's `vault_quota`.
//!   `vault.purge` (a deleted user instance's vault: file and decrypted
//!   copy) is `system:identityd`'s alone.
//! - `trust.*`: [`trust::TrustStore`] over `--trust-dir` (system roots) and
//!   the state (installed roots and distrust entries).
//! - `device.info`, `status`.
//!
//! Invariants:
//! - keystored never holds private key material: keys exist here only as
//!   wrapped blobs, and every private operation is a call to keymintd.
//! - The caller's subject comes only from its channel
//!   ([`wire::CallContext::subject`]); an `app` argument only selects among
//!   what that subject may read (system subjects: any app's public
//!   metadata; anyone else naming another app: `EPERM`, audited, nothing
//!   read).
//! - Every access decision is in the audit log: capability checks through
//!   the policy engine, the handler's own namespace and system-only
//!   decisions through the daemon's audit log.
//! - Markers: `keystored: ready` only after keymintd answered `km.device`
//!   and the socket is bound; `keystore: ready` right after it;
//!   `keystore: put (app=…, key=…)` per successful vault put, names only.

#![forbid(unsafe_code)]

pub mod entry;
mod error;
mod handler;
mod key_delete;
mod keyfmt;
mod keys;
mod setup;
mod trust_ops;
mod vault_ops;

pub use error::KeystoredError;
pub use handler::Keystored;
/// keystored over a given keymint (fuzzing only: see `fuzz/`).
#[cfg(feature = "fuzzing")]
pub use setup::build_over;
pub use setup::{build, KEYMINTD};
pub use vault_ops::put_marker;

use nexus_daemon::Spec;

/// keystored's place in the process contract.
pub const SPEC: Spec = Spec {
    name: "keystored",
    version: env!("CARGO_PKG_VERSION"),
    public_socket: true,
    needs_trust_dir: true,
    upstreams: &[setup::KEYMINTD],
    // Key records, the trust store (which bundlemgrd and updated read),
    // and each user's vault file.
    owns: &[
        "keystore/**",
        "trust/**",
        "vault/*/vault.kv",
        "identity/*/vault.kv",
    ],
};

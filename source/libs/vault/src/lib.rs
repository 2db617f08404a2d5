//! vault: the per-user encrypted vault (the keychain's storage).
//!
//! `state:/vault/<instance>/vault.kv` holds one user instance's whole
//! vault, every app's names and values, sealed by keymint with the
//! instance's vault key (reachable only through an unsealed session) and
//! an AAD binding the instance id and the format version. Operations are
//! scoped to `(session, app)`: the session picks the user instance, the
//! caller's channel subject picks the app. [`Vault::purge`] destroys a
//! deleted instance's vault (file and decrypted copy).
//!
//! Invariants:
//! - A known locked session gets `ELOCKED`, an unknown or ended one `EPERM`
//!   "no such session"; never `ENOENT`.
//! - A tampered or damaged vault is `EIO` and is never replaced by an
//!   empty one.
//! - No value (and no name of another app) appears in an error, a log line
//!   or Debug output; values are zeroized when dropped.

#![forbid(unsafe_code)]

mod error;
mod format;
mod limits;
mod store;

pub use error::{QuotaMeasure, QuotaScope, VaultError};
pub use limits::{QuotaWarning, Usage, VaultLimits, MAX_NAME_LEN, MAX_VALUE_LEN};
pub use store::{legacy_vault_path, vault_path, PutOutcome, Vault};

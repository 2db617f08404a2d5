//! identity: users and sessions, the logic identityd serves.
//!
//! - A user is an instance: `create_user` mints a random instance id, to
//!   which the user's vault key, vault, sessions and throttle record are
//!   bound; the name only points at the current instance. Users are
//!   created, listed and deleted by subjects holding `identity.user.admin`;
//!   deletion destroys the instance's vault through [`VaultPurge`] and
//!   ends its sessions, or stays pending until it can.
//! - Each user record keeps Argon2id parameters, a random salt, the
//!   password verifier (an HMAC under a pepper only keymint holds) and the
//!   user's vault key wrapped by keymint under a KEK derived from the
//!   password and bound to the instance.
//! - Login yields a [`Session`] owned by the calling subject; lock forgets
//!   the unsealed vault key, unlock re-authenticates and unseals it again,
//!   logout ends the session. Only the owner or a user administrator may
//!   control a session.
//! - Every password check is written to the audit log ([`DecisionLog`])
//!   and counted before it takes effect; failures are throttled per user
//!   and caller (persisted) and per caller over all names (in memory), and
//!   each caller has a bounded queue in front of the one Argon2id gate.
//!
//! Invariants:
//! - Wrong password and unknown user give the same `EPERM` error, after the
//!   same Argon2id work, so the error is no user-enumeration oracle.
//! - Passwords and derived secrets are zeroized on drop and never appear in
//!   an error, a log line or Debug output.
//! - Corrupt or unknown-version records are `EIO`, never a silent reset;
//!   records of the first format are upgraded, never discarded.

#![forbid(unsafe_code)]

mod budget;
mod check;
mod codec;
mod error;
mod gate;
mod kdf;
mod record;
mod service;
mod session;
mod throttle;

pub use budget::CallerBudget;
pub use error::IdentityError;
pub use kdf::{KdfParams, Password, PASSWORD_MAX_LEN};
pub use record::{user_dir, user_record_path};
pub use service::{DecisionLog, Identity, IdentityConfig, IdentityParts, SessionKeys, VaultPurge};
pub use session::{Session, SessionObserver, SessionState};
pub use throttle::{throttle_path, ThrottlePolicy, MAX_CALLERS};

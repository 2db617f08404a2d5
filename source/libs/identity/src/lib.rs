//! identity: users and sessions, the logic identityd serves.
//!
//! - Users are created, listed and deleted by subjects holding
//!   `identity.user.admin`; each user record keeps Argon2id parameters, a
//!   random salt, SHA-256 of the password verifier and the user's vault key
//!   wrapped by keymint under a KEK derived from the password.
//! - Login yields a [`Session`]; lock forgets the unsealed vault key, unlock
//!   re-authenticates and unseals it again, logout ends the session.
//! - Failed logins and unlocks are throttled with a growing delay that is
//!   persisted per user and checked *before* Argon2 runs.
//!
//! Invariants:
//! - Wrong password and unknown user give the same `EPERM` error, after the
//!   same Argon2id work, so the error is no user-enumeration oracle.
//! - Passwords and derived secrets are zeroized on drop and never appear in
//!   an error, a log line or Debug output.
//! - Corrupt or unknown-version records are `EIO`, never a silent reset.

#![forbid(unsafe_code)]

mod codec;
mod error;
mod kdf;
mod record;
mod service;
mod session;
mod throttle;

pub use error::IdentityError;
pub use kdf::{KdfParams, Password, PASSWORD_MAX_LEN};
pub use record::{user_dir, user_record_path};
pub use service::{Identity, IdentityConfig, SessionKeys};
pub use session::{Session, SessionObserver, SessionState};
pub use throttle::{throttle_path, ThrottlePolicy};

//! nexus-keychain: the client library apps use to reach their keys, the
//! per-user vault, sessions and attestation.
//!
//! A [`Keychain`] holds one client each for keystored, identityd and
//! attestd, speaking the wire protocol (docs/architecture/wire.md) and the
//! ops of docs/architecture/services.md, through their typed definitions
//! in `nexus-proto` ([`ServiceClient::call_op`]). It needs no crypto crate:
//! kids and custom claims are `nexus-core` types. Build it from:
//! - the endpoints the supervisor hands over (an app started by nexus-init):
//!   [`Keychain::from_control_channel`] over `std::io::stdin()`, or
//!   [`Keychain::from_streams`] / [`Keychain::from_feed`] with endpoints
//!   received by the app itself (`wire::handoff::recv_endpoint`);
//! - the public sockets of a runtime directory: [`Keychain::connect`].
//!
//! Invariants:
//! - The caller is never named in a request: the service learns who calls
//!   from the channel.
//! - Errors keep the service's stable code ([`KeychainError::Remote`]) and
//!   keep "the service said no" apart from "the service could not be
//!   reached" ([`KeychainError::is_transport`]).
//! - Secrets coming back (vault values, unsealed plaintexts) are
//!   [`SecretBytes`]: no Debug, no Clone, zeroized on drop; secret
//!   arguments going out (passwords, plaintexts, vault values) are
//!   zeroized once the call returns.
//! - A request is sent twice only if it is idempotent and the connection
//!   was lost during the first attempt ([`Retry`]); each op's class is
//!   documented in its module.

#![forbid(unsafe_code)]

mod attest;
mod error;
mod feed;
mod identity;
mod key_delete;
mod keychain;
mod keyfmt;
mod keys;
mod secret;
mod service;
mod trust;
mod types;
mod vault;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use attest::{claims_value, DeviceKey, Token};
pub use error::KeychainError;
pub use feed::EndpointFeed;
pub use identity::{Session, SessionStatus};
pub use keychain::{status_of, Keychain};
pub use keyfmt::PREHASH_LEN;
pub use secret::SecretBytes;
pub use service::{LinkConfig, Retry, Service, ServiceClient};
pub use trust::{TrustAdd, TrustListing, TrustRootInfo, TrustUpdate};
pub use types::{
    CreatedKey, DamagedKey, DeviceInfo, KeyAlg, KeyInfo, KeyListing, KeyVersion, Sealed,
    ServiceStatus, Signed, UnknownAlg, Unsealed, Verified, WrappedExport,
};

pub use nexus_core::{AppId, CustomClaims, CustomValue, ErrorCode, Kid, Label, SessionId, UserId};
pub use nexus_proto::{KeyState, RootSource, RootStatus, SessionState, VersionState};

//! The shared vocabulary of the Nexus identity subsystem.
//!
//! Everything here is small, dependency-light and used by every other crate:
//! the stable error codes that cross the wire ([`ErrorCode`]), validated
//! identifiers ([`AppId`], [`UserId`], [`InstanceId`], [`Label`],
//! [`SessionId`], key ids [`Kid`]), the caller identity
//! ([`Subject`]), the custom claims an attestation carries
//! ([`CustomClaims`]), the authorization contract ([`Authorizer`],
//! [`Capability`]), how damaged records are reported ([`DamageSink`]) and
//! an injectable [`Clock`]. Feature `testkit` (tests
//! only) adds a recording [`Authorizer`] for other crates' tests.
//!
//! Invariant: a value of one of the id types has passed validation; code
//! that holds an `AppId` never re-checks it.

#![forbid(unsafe_code)]

mod authz;
mod claims;
mod clock;
mod code;
mod damage;
mod hex16;
mod ids;
mod instance;
mod kid;
mod session;
mod subject;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use authz::{Authorizer, AuthzError, Capability, QuotaLimits, UnknownCapability};
pub use claims::{
    ClaimError, CustomClaims, CustomValue, CUSTOM_CLAIM_LABEL_MAX, MAX_CUSTOM_CLAIMS,
    MAX_CUSTOM_VALUE_LEN,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use code::{Coded, ErrorCode, UnknownErrorCode};
pub use damage::{DamageSink, DamagedRecord, IgnoreDamage};
pub use ids::{
    AppId, IdError, Label, UserId, LABEL_MAX_LEN, SERVICE_NAMESPACE_PREFIX, SERVICE_NAME_MAX_LEN,
};
pub use instance::{InstanceId, InstanceIdParseError};
pub use kid::{Kid, KidParseError};
pub use session::{SessionId, SessionIdParseError};
pub use subject::{Subject, SubjectParseError};

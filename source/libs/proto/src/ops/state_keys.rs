//! The MAC keys keymintd hands to the services that persist state:
//! `km.state_key` (each service's own state root, derived for the
//! channel's subject, so a service only ever gets its own) and
//! `km.trust_key` (the trust store's manifest, to its writer keystored and
//! its readers bundlemgrd and updated).
//!
//! The key travels as a [`Secret`] (no Debug, no Clone, zeroized on drop);
//! a client refuses any length but 32.

use super::status::Empty;
use crate::schema::ops;
use crate::types::Secret;

ops! {
    /// `km.state_key`: the MAC key of the caller's own state root.
    KmStateKey = "km.state_key" in Keymintd, capability none,
        callers ["keystored", "identityd", "attestd", "bundlemgrd", "updated"];
        args [= Empty]
        reply [KeyReply { key: Secret }]

    /// `km.trust_key`: the MAC key of the trust store's manifest.
    KmTrustKey = "km.trust_key" in Keymintd, capability none,
        callers ["keystored", "bundlemgrd", "updated"];
        args [= Empty]
        reply [= KeyReply]
}

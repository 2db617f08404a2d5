//! keystored's trust store ops (`trust.*`). Writes need
//! `identity.trust.write`, which only system subjects can hold.
//!
//! Retry class: `trust.list` and `trust.show` are retried after a
//! lost connection ([`Retry::Idempotent`]); `trust.add`, `trust.update`,
//! `trust.rm` and `trust.distrust` are sent once.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::service::Retry;
use nexus_core::Kid;
use nexus_proto::{self as proto, Empty, KidArgs, RootInfo, RootSource, RootStatus};

/// What to add to the trust store: a public key with its metadata
/// (`Key { public_key, label, scopes, not_before, not_after }`), or a
/// complete root file's text (`RootFile`), which carries its own.
pub use nexus_proto::TrustAddForm as TrustAdd;

/// What to change in an installed root: its `kid`, and a new `label`,
/// `scopes` (the whole new set) and/or validity; `None` keeps a field.
pub use nexus_proto::TrustUpdateArgs as TrustUpdate;

/// One trust root as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRootInfo {
    /// Its kid.
    pub kid: Kid,
    /// System or installed.
    pub source: RootSource,
    /// What it may vouch for.
    pub scopes: Vec<String>,
    /// Its label.
    pub label: String,
    /// Start of validity.
    pub not_before: u64,
    /// End of validity.
    pub not_after: u64,
    /// Its status now.
    pub status: RootStatus,
    /// The raw public key (`trust.show` only).
    pub public_key: Option<Vec<u8>>,
}

impl From<RootInfo> for TrustRootInfo {
    fn from(r: RootInfo) -> TrustRootInfo {
        TrustRootInfo {
            kid: r.kid,
            source: r.source,
            scopes: r.scopes,
            label: r.label,
            not_before: r.not_before,
            not_after: r.not_after,
            status: r.status,
            public_key: r.public_key.map(proto::Bytes::into_vec),
        }
    }
}

/// What `trust.list` reports: every intact root, and the store's damaged
/// records (`state:/trust/…` or `pkg://trust/…` paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustListing {
    /// Every intact root, system first.
    pub roots: Vec<TrustRootInfo>,
    /// The damaged records (empty when there are none).
    pub damaged: Vec<String>,
}

fn kid_args(kid: &Kid) -> KidArgs {
    KidArgs { kid: *kid }
}

impl Keychain {
    /// `trust.add`: install a root; returns its kid (check it out of band).
    pub fn trust_add(&self, add: &TrustAdd) -> Result<Kid, KeychainError> {
        let args = add.clone().into();
        let r = self
            .keystored
            .call_op::<proto::TrustAdd>(&args, Retry::Once)?;
        Ok(r.kid)
    }

    /// `trust.update`: change an installed root's label, scopes or
    /// validity; returns the root as it is now.
    pub fn trust_update(&self, change: &TrustUpdate) -> Result<TrustRootInfo, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::TrustUpdate>(change, Retry::Once)?;
        Ok(r.into())
    }

    /// `trust.list`: every intact root, system first.
    pub fn trust_list(&self) -> Result<Vec<TrustRootInfo>, KeychainError> {
        Ok(self.trust_listing()?.roots)
    }

    /// `trust.list` in full: every intact root and the damaged records.
    pub fn trust_listing(&self) -> Result<TrustListing, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::TrustList>(&Empty {}, Retry::Idempotent)?;
        Ok(TrustListing {
            roots: r.roots.into_iter().map(TrustRootInfo::from).collect(),
            damaged: r.damaged.unwrap_or_default(),
        })
    }

    /// `trust.show`: one root, with its public key.
    pub fn trust_show(&self, kid: &Kid) -> Result<TrustRootInfo, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::TrustShow>(&kid_args(kid), Retry::Idempotent)?;
        Ok(r.into())
    }

    /// `trust.rm`: remove an installed root (a system root is `EPERM`:
    /// distrust it instead).
    pub fn trust_rm(&self, kid: &Kid) -> Result<(), KeychainError> {
        self.keystored
            .call_op::<proto::TrustRm>(&kid_args(kid), Retry::Once)
            .map(drop)
    }

    /// `trust.distrust`: from now on no root with this kid verifies
    /// anything.
    pub fn trust_distrust(&self, kid: &Kid) -> Result<(), KeychainError> {
        self.keystored
            .call_op::<proto::TrustDistrust>(&kid_args(kid), Retry::Once)
            .map(drop)
    }
}

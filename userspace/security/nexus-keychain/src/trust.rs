//! keystored's trust store ops (`trust.*`). Writes need
//! `identity.trust.write`, which only system subjects can hold.
//!
//! Retry class: `trust.list` and `trust.show` are retried after a
//! lost connection ([`Retry::Idempotent`]); `trust.add`, `trust.rm` and `trust.distrust` are sent
//! once.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::reply::ReplyMap;
use crate::service::Retry;
use crate::types::word_enum;
use keymint::kid::Kid;
use nexus_core::Label;
use std::fmt;
use wire::{Args, Value};

word_enum!(
    /// Where a root comes from (decided by its location, never its content).
    RootSource { /** Shipped read-only with the image. */ System = "system", /** Installed at run time. */ Installed = "installed" }
);
word_enum!(
    /// Whether a root vouches for anything now.
    RootStatus {
        /** Inside its validity window and not distrusted. */ Valid = "valid",
        /** Past `not_after`. */ Expired = "expired",
        /** Before `not_before`. */ NotYetValid = "not-yet-valid",
        /** Named by a distrust entry: verifies nothing. */ Distrusted = "distrusted",
    }
);

/// What to add to the trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustAdd {
    /// A public key with its metadata.
    Key {
        /// A minisign public key file's text, or a base64 key.
        public_key: String,
        /// A label for people.
        label: Label,
        /// Scope names (`packages`, `updates`).
        scopes: Vec<String>,
        /// Start of validity (seconds since the Unix epoch), if not now.
        not_before: Option<u64>,
        /// End of validity, if not the service's default.
        not_after: Option<u64>,
    },
    /// A complete root file's text (it carries its own metadata).
    RootFile(String),
}

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

impl TrustRootInfo {
    fn read(mut r: ReplyMap) -> Result<TrustRootInfo, KeychainError> {
        Ok(TrustRootInfo {
            kid: r.kid("kid")?,
            source: RootSource::read(&r, "source")?,
            scopes: r.text_list("scopes")?,
            label: r.text("label")?,
            not_before: r.u64("not_before")?,
            not_after: r.u64("not_after")?,
            status: RootStatus::read(&r, "status")?,
            public_key: r.opt_bytes("public_key")?,
        })
    }
}

fn kid_args(kid: &Kid) -> Args {
    Args::new().with("kid", kid.to_hex())
}

impl Keychain {
    /// `trust.add`: install a root; returns its kid (check it out of band).
    pub fn trust_add(&self, add: &TrustAdd) -> Result<Kid, KeychainError> {
        let args = match add {
            TrustAdd::Key {
                public_key,
                label,
                scopes,
                not_before,
                not_after,
            } => {
                let mut a = Args::new()
                    .with("public_key", public_key.as_str())
                    .with("label", label.as_str())
                    .with(
                        "scopes",
                        Value::Array(scopes.iter().map(|s| Value::Text(s.clone())).collect()),
                    );
                if let Some(t) = not_before {
                    a = a.with("not_before", *t);
                }
                if let Some(t) = not_after {
                    a = a.with("not_after", *t);
                }
                a
            }
            TrustAdd::RootFile(text) => Args::new().with("root_file", text.as_str()),
        };
        self.keystored
            .call_map("trust.add", &args, Retry::Once)?
            .kid("kid")
    }

    /// `trust.list`: every root, system first.
    pub fn trust_list(&self) -> Result<Vec<TrustRootInfo>, KeychainError> {
        let mut r = self
            .keystored
            .call_map("trust.list", &Args::new(), Retry::Idempotent)?;
        r.maps("roots")?
            .into_iter()
            .map(TrustRootInfo::read)
            .collect()
    }

    /// `trust.show`: one root, with its public key.
    pub fn trust_show(&self, kid: &Kid) -> Result<TrustRootInfo, KeychainError> {
        TrustRootInfo::read(self.keystored.call_map(
            "trust.show",
            &kid_args(kid),
            Retry::Idempotent,
        )?)
    }

    /// `trust.rm`: remove an installed root (a system root is `EPERM`:
    /// distrust it instead).
    pub fn trust_rm(&self, kid: &Kid) -> Result<(), KeychainError> {
        self.keystored
            .call_map("trust.rm", &kid_args(kid), Retry::Once)
            .map(drop)
    }

    /// `trust.distrust`: from now on no root with this kid verifies
    /// anything.
    pub fn trust_distrust(&self, kid: &Kid) -> Result<(), KeychainError> {
        self.keystored
            .call_map("trust.distrust", &kid_args(kid), Retry::Once)
            .map(drop)
    }
}

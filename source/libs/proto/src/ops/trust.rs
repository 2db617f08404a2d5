//! keystored's trust store ops (`trust.*`). Writes need
//! `identity.trust.write`, which only system subjects can hold.

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::{Bytes, RootSource, RootStatus, TextList};
use nexus_core::{Kid, Label};

wire_map!(reply
    /// One trust root, as `trust.list` and `trust.show` report it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    RootInfo {
        /// Its kid.
        kid: Kid,
        /// System or installed.
        source: RootSource,
        /// What it may vouch for.
        scopes: Vec<String>,
        /// Its label.
        label: String,
        /// Start of validity (seconds since the Unix epoch).
        not_before: u64,
        /// End of validity.
        not_after: u64,
        /// Its status now.
        status: RootStatus,
        /// The raw public key (`trust.show` only; absent from `trust.list`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_key: Option<Bytes>,
    }
);

ops! {
    /// `trust.add`: install a root, given either as a key with its
    /// metadata (`public_key`, `label`, `scopes`, optional validity) or as
    /// a complete root file (`root_file` alone). Every field is optional
    /// on the wire; [`TrustAddArgs::form`] says which combinations are
    /// valid.
    TrustAdd = "trust.add" in Keystored, capability TrustWrite, callers [];
        args [
            #[derive(Debug, Clone, Default, PartialEq, Eq)]
            TrustAddArgs {
                /// A minisign public key file's text, or a base64 key.
                public_key: Option<String>,
                /// A label for people.
                label: Option<Label>,
                /// Scope names (`packages`, `updates`).
                scopes: Option<TextList>,
                /// Start of validity, if not now.
                not_before: Option<u64>,
                /// End of validity, if not "never".
                not_after: Option<u64>,
                /// A complete root file's text.
                root_file: Option<String>,
            }
        ]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] KidReply { kid: Kid }]

    /// `trust.update`: change an installed root's label, scopes or
    /// validity (at least one); the key and kid stay. Same rules as
    /// `trust.add`; a system root is `EPERM`.
    TrustUpdate = "trust.update" in Keystored, capability TrustWrite, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            TrustUpdateArgs {
                /// The installed root's kid.
                kid: Kid,
                /// A new label.
                label: Option<Label>,
                /// The new set of scopes (replaces the old one).
                scopes: Option<TextList>,
                /// A new start of validity.
                not_before: Option<u64>,
                /// A new end of validity.
                not_after: Option<u64>,
            }
        ]
        reply [= RootInfo]

    /// `trust.list`: every root, system first.
    TrustList = "trust.list" in Keystored, capability none, callers [];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            TrustListReply {
                /// Every intact root.
                roots: Vec<RootInfo>,
                /// The store's damaged records (`state:/trust/…`,
                /// `pkg://trust/…`); absent when there are none.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                damaged: Option<Vec<String>>,
            }
        ]

    /// `trust.show`: one root, with its public key.
    TrustShow = "trust.show" in Keystored, capability none, callers [];
        args [#[derive(Debug, Clone, PartialEq, Eq)] KidArgs { kid: Kid }]
        reply [= RootInfo]

    /// `trust.rm`: remove an installed root (a system root is `EPERM`).
    TrustRm = "trust.rm" in Keystored, capability TrustWrite, callers [];
        args [= KidArgs]
        reply [= Empty]

    /// `trust.distrust`: from now on no root with this kid verifies.
    TrustDistrust = "trust.distrust" in Keystored, capability TrustWrite, callers [];
        args [= KidArgs]
        reply [= Empty]
}

/// The two forms of `trust.add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustAddForm {
    /// A public key with its metadata.
    Key {
        /// A minisign public key file's text, or a base64 key.
        public_key: String,
        /// A label for people.
        label: Label,
        /// Scope names.
        scopes: Vec<String>,
        /// Start of validity, if not now.
        not_before: Option<u64>,
        /// End of validity, if not "never".
        not_after: Option<u64>,
    },
    /// A complete root file's text.
    RootFile(String),
}

impl TrustAddArgs {
    /// Which form these arguments are: `root_file` alone (any other
    /// argument beside it is unexpected), or `public_key`, `label` and
    /// `scopes` (each then required).
    pub fn form(self) -> Result<TrustAddForm, wire::ArgError> {
        use wire::ArgError;
        if let Some(file) = self.root_file {
            let others = [
                ("public_key", self.public_key.is_some()),
                ("label", self.label.is_some()),
                ("scopes", self.scopes.is_some()),
                ("not_before", self.not_before.is_some()),
                ("not_after", self.not_after.is_some()),
            ];
            return match others.iter().find(|(_, given)| *given) {
                Some((name, _)) => Err(ArgError::Unexpected((*name).to_owned())),
                None => Ok(TrustAddForm::RootFile(file)),
            };
        }
        let missing = |n: &str| ArgError::Missing(n.to_owned());
        Ok(TrustAddForm::Key {
            public_key: self.public_key.ok_or_else(|| missing("public_key"))?,
            label: self.label.ok_or_else(|| missing("label"))?,
            scopes: self.scopes.ok_or_else(|| missing("scopes"))?.0,
            not_before: self.not_before,
            not_after: self.not_after,
        })
    }
}

impl From<TrustAddForm> for TrustAddArgs {
    fn from(f: TrustAddForm) -> TrustAddArgs {
        match f {
            TrustAddForm::Key {
                public_key,
                label,
                scopes,
                not_before,
                not_after,
            } => TrustAddArgs {
                public_key: Some(public_key),
                label: Some(label),
                scopes: Some(TextList(scopes)),
                not_before,
                not_after,
                root_file: None,
            },
            TrustAddForm::RootFile(text) => TrustAddArgs {
                root_file: Some(text),
                ..TrustAddArgs::default()
            },
        }
    }
}

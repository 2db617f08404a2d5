//! A loaded, validated policy and the pure decision over it.
//!
//! Invariants (established by the parser in `file.rs`, the only way to
//! build a [`Policy`]): no non-system subject holds a system-only
//! capability; every uid maps to a `system:` or `app:` subject that has an
//! entry; every quota has soft ≤ hard. Anything not granted is denied.

use nexus_core::{Capability, QuotaLimits, Subject};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Keystore quota of a subject when neither its entry nor `[defaults]` sets
/// one: 1 MiB / 256 keys hard, 768 KiB / 192 keys soft.
pub const DEFAULT_KEYSTORE_QUOTA: QuotaLimits = QuotaLimits {
    soft_bytes: 768 * 1024,
    hard_bytes: 1024 * 1024,
    soft_count: 192,
    hard_count: 256,
};

/// Vault quota of a subject when neither its entry nor `[defaults]` sets
/// one: 256 KiB / 256 entries hard, 192 KiB / 192 entries soft.
pub const DEFAULT_VAULT_QUOTA: QuotaLimits = QuotaLimits {
    soft_bytes: 192 * 1024,
    hard_bytes: 256 * 1024,
    soft_count: 192,
    hard_count: 256,
};

/// What one subject's entry says.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) capabilities: BTreeSet<Capability>,
    pub(crate) keystore_quota: Option<QuotaLimits>,
    pub(crate) vault_quota: Option<QuotaLimits>,
}

/// A loaded policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) grants: BTreeMap<Subject, Grant>,
    pub(crate) uid_map: BTreeMap<u32, Subject>,
    pub(crate) default_keystore_quota: Option<QuotaLimits>,
    pub(crate) default_vault_quota: Option<QuotaLimits>,
}

/// The outcome of evaluating one request, with its stable audit reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The subject's entry grants the capability.
    Allow,
    /// The policy has no entry for the subject.
    DenyUnknownSubject,
    /// The subject has an entry, but it does not grant the capability.
    DenyNotGranted,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allow(self) -> bool {
        self == Decision::Allow
    }

    /// `allow` or `deny`, as written in the audit line.
    pub fn verdict(self) -> &'static str {
        if self.is_allow() {
            "allow"
        } else {
            "deny"
        }
    }

    /// The stable reason written in the audit line.
    pub fn reason(self) -> &'static str {
        match self {
            Decision::Allow => "granted",
            Decision::DenyUnknownSubject => "unknown_subject",
            Decision::DenyNotGranted => "not_granted",
        }
    }
}

impl Policy {
    /// Read and validate the policy file at `path` (at most
    /// [`crate::MAX_POLICY_LEN`] bytes).
    pub fn load(path: &Path) -> Result<Policy, crate::PolicyError> {
        crate::file::load(path)
    }

    /// Validate policy file bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Policy, crate::PolicyError> {
        crate::file::parse_bytes(bytes)
    }

    /// Validate policy file text.
    pub fn from_toml_str(text: &str) -> Result<Policy, crate::PolicyError> {
        crate::file::parse_str(text)
    }

    /// Evaluate a request. Pure: no audit; [`crate::PolicyEngine`] is what
    /// enforcement points call.
    pub fn decide(&self, subject: &Subject, capability: Capability) -> Decision {
        match self.grants.get(subject) {
            None => Decision::DenyUnknownSubject,
            Some(g) if g.capabilities.contains(&capability) => Decision::Allow,
            Some(_) => Decision::DenyNotGranted,
        }
    }

    /// The subject of a local peer whose kernel-reported uid is `uid`: the
    /// mapped subject, or `uid:<n>` when unmapped.
    pub fn subject_for_uid(&self, uid: u32) -> Subject {
        self.uid_map.get(&uid).cloned().unwrap_or(Subject::Uid(uid))
    }

    /// The subject of a caller on a public socket whose peer uid is
    /// `uid`, or `None` when the caller is to be refused at the door: a
    /// uid with neither a mapping nor an entry of its own could be granted
    /// nothing anyway.
    pub fn peer_subject(&self, uid: u32) -> Option<Subject> {
        let subject = self.subject_for_uid(uid);
        self.grants.contains_key(&subject).then_some(subject)
    }

    /// Keystore quota of `subject`: its entry's, else `[defaults]`, else
    /// [`DEFAULT_KEYSTORE_QUOTA`].
    pub fn keystore_quota(&self, subject: &Subject) -> QuotaLimits {
        self.grants
            .get(subject)
            .and_then(|g| g.keystore_quota)
            .or(self.default_keystore_quota)
            .unwrap_or(DEFAULT_KEYSTORE_QUOTA)
    }

    /// Vault quota of `subject`: its entry's, else `[defaults]`, else
    /// [`DEFAULT_VAULT_QUOTA`].
    pub fn vault_quota(&self, subject: &Subject) -> QuotaLimits {
        self.grants
            .get(subject)
            .and_then(|g| g.vault_quota)
            .or(self.default_vault_quota)
            .unwrap_or(DEFAULT_VAULT_QUOTA)
    }

    /// The capabilities granted to `subject`, in `Capability` order (empty
    /// for an unknown subject).
    pub fn capabilities(&self, subject: &Subject) -> Vec<Capability> {
        self.grants
            .get(subject)
            .map(|g| g.capabilities.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every subject with an entry, in order.
    pub fn subjects(&self) -> impl Iterator<Item = &Subject> {
        self.grants.keys()
    }
}

/// What a caller refused by [`Policy::peer_subject`] is told: its uid, the
/// policy file that does not know it, and the two ways to change that.
pub fn unmapped_uid_message(uid: u32, policy_path: &Path) -> String {
    format!(
        "uid {uid} has no subject in the policy {}: map it to one with a [[uid_map]] entry \
         (uid = {uid}, subject = \"app:…\"), or give `uid:{uid}` a [[subjects]] entry, and restart the stack",
        policy_path.display()
    )
}

//! Why a policy file was refused. Every variant names the offending item
//! (subject, capability, uid) so an operator can fix the file; strings taken
//! from the file are shown with `{:?}` so control characters are escaped.
//!
//! Every load error maps to `EIO`: the policy is a persisted input, and a
//! service without a valid policy cannot authorize anything (fail closed).

use nexus_core::{Capability, Coded, ErrorCode, QuotaLimits, Subject, SubjectParseError};

/// A policy file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be opened or read.
    #[error("policy file unreadable: {0}")]
    Io(#[from] std::io::Error),
    /// The path names something other than a regular file.
    #[error("policy file is not a regular file")]
    NotRegularFile,
    /// The file is larger than [`crate::MAX_POLICY_LEN`].
    #[error("policy file larger than {max} bytes", max = crate::MAX_POLICY_LEN)]
    TooLarge,
    /// The file is not UTF-8 text.
    #[error("policy file is not UTF-8")]
    NotUtf8,
    /// The TOML is malformed, a key is unknown, a field is missing or has
    /// the wrong type.
    #[error("policy file{}: {message}", location(*line, *column))]
    Syntax {
        /// 1-based line, where the parser gives one.
        line: Option<usize>,
        /// 1-based column (in characters), where the parser gives one.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// The file has no `version` key.
    #[error("policy file has no version")]
    MissingVersion,
    /// The `version` is not one this build understands.
    #[error("unsupported policy version{} (expected {expected})", found.map(|n| format!(" {n}")).unwrap_or_default(), expected = crate::POLICY_VERSION)]
    UnknownVersion {
        /// The version found, if it was an integer at all.
        found: Option<i64>,
    },
    /// A subject string is not `system:<name>`, `app:<id>` or `uid:<n>`.
    #[error("bad subject {subject:?}: {reason}")]
    BadSubject {
        /// The string as written.
        subject: String,
        /// Why it does not parse.
        #[source]
        reason: SubjectParseError,
    },
    /// A subject parses but is not written in its one canonical form
    /// (e.g. `uid:007` for `uid:7`), which would let two spellings of one
    /// subject hide from the duplicate check and from readers.
    #[error("subject {subject:?} is not in canonical form (write {canonical})")]
    NonCanonicalSubject {
        /// The string as written.
        subject: String,
        /// How it must be written.
        canonical: Subject,
    },
    /// Two `[[subjects]]` entries name the same subject.
    #[error("subject {0} appears more than once")]
    DuplicateSubject(Subject),
    /// A capability name is not one of `Capability::ALL`.
    #[error("unknown capability {name:?} granted to {subject}")]
    UnknownCapability {
        /// The subject whose entry names it.
        subject: Subject,
        /// The name as written.
        name: String,
    },
    /// A capability is listed twice for one subject.
    #[error("capability {capability} listed twice for {subject}")]
    DuplicateCapability {
        /// The subject.
        subject: Subject,
        /// The repeated capability.
        capability: Capability,
    },
    /// A system-only capability is granted to a non-system subject.
    #[error("capability {capability} is system-only and cannot be granted to {subject}")]
    SystemOnlyCapability {
        /// The non-system subject.
        subject: Subject,
        /// The system-only capability.
        capability: Capability,
    },
    /// Two `[[uid_map]]` entries map the same uid.
    #[error("uid {0} is mapped more than once")]
    DuplicateUid(u32),
    /// A uid is mapped to a `uid:` subject; a uid already is its own
    /// subject when unmapped, and mapping one uid onto another would let
    /// one user act as another.
    #[error("uid {uid} may map only to a system: or app: subject, not {subject}")]
    UidMappedToUid {
        /// The mapped uid.
        uid: u32,
        /// The target subject.
        subject: Subject,
    },
    /// A uid is mapped to a subject with no `[[subjects]]` entry (a typo
    /// would otherwise silently leave that user with nothing).
    #[error("uid {uid} is mapped to {subject}, which has no [[subjects]] entry")]
    UidMappedToUnknownSubject {
        /// The mapped uid.
        uid: u32,
        /// The target subject.
        subject: Subject,
    },
    /// A quota's soft limit is above its hard limit.
    #[error("{store} quota of {scope}: soft limit above hard limit ({limits:?})")]
    BadQuota {
        /// `defaults` or the subject.
        scope: String,
        /// `keystore` or `vault`.
        store: &'static str,
        /// The limits as written.
        limits: QuotaLimits,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

impl Coded for PolicyError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}

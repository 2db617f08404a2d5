//! Who is calling. A subject is always established by the channel a request
//! arrived on (an endpoint handed out by nexus-init, or the kernel's peer
//! credentials), never taken from a request payload.

use crate::ids::{AppId, IdError, Label};
use std::fmt;
use std::str::FromStr;

/// The identity of a caller, as established by its channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// One of the OS's own services (e.g. `attestd`, `selftest`), by name.
    System(Label),
    /// An application, by app id.
    App(AppId),
    /// A local user process identified only by its uid.
    Uid(u32),
}

impl Subject {
    /// Whether this subject is one of the OS's own services.
    pub fn is_system(&self) -> bool {
        matches!(self, Subject::System(_))
    }

    /// The app namespace this subject owns in the keystore and the vault.
    /// System services share the reserved `system` namespace; a bare uid
    /// owns `uid-<n>`. Parsing refuses `app:system` and `app:uid-…`, so no
    /// app can share another subject's namespace.
    pub fn app_namespace(&self) -> AppId {
        match self {
            Subject::System(_) => AppId::system(),
            Subject::App(a) => a.clone(),
            Subject::Uid(u) => match AppId::new(format!("uid-{u}")) {
                Ok(a) => a,
                // A decimal u32 with a prefix is always a valid id.
                Err(_) => AppId::system(),
            },
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::System(s) => write!(f, "system:{s}"),
            Subject::App(a) => write!(f, "app:{a}"),
            Subject::Uid(u) => write!(f, "uid:{u}"),
        }
    }
}

/// A string that is not `system:<name>`, `app:<id>` or `uid:<n>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectParseError {
    /// No known `kind:` prefix.
    #[error("subject must be system:<name>, app:<id> or uid:<n>")]
    BadKind,
    /// The name part is not a valid identifier.
    #[error("bad subject name: {0}")]
    BadName(#[from] IdError),
    /// The uid is not a decimal u32.
    #[error("bad uid")]
    BadUid,
    /// An app id that is reserved for another kind of subject (`system`,
    /// `uid-<n>`), which would otherwise share that subject's namespace.
    #[error("app id is reserved")]
    ReservedAppId,
}

impl FromStr for Subject {
    type Err = SubjectParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s.split_once(':').ok_or(SubjectParseError::BadKind)?;
        match kind {
            "system" => Ok(Subject::System(Label::new(rest)?)),
            "app" => {
                let app = AppId::new(rest)?;
                if app.is_system() || app.as_str().starts_with("uid-") {
                    return Err(SubjectParseError::ReservedAppId);
                }
                Ok(Subject::App(app))
            }
            "uid" => {
                if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SubjectParseError::BadUid);
                }
                rest.parse()
                    .map(Subject::Uid)
                    .map_err(|_| SubjectParseError::BadUid)
            }
            _ => Err(SubjectParseError::BadKind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["system:attestd", "app:com.example.a", "uid:1000"] {
            let subj: Subject = s.parse().unwrap();
            assert_eq!(subj.to_string(), s);
        }
        let u: Subject = "uid:42".parse().unwrap();
        assert_eq!(u.app_namespace().as_str(), "uid-42");
        let sys: Subject = "system:selftest".parse().unwrap();
        assert!(sys.is_system());
        assert!(sys.app_namespace().is_system());
    }

    #[test]
    fn test_reject_malformed_subjects() {
        assert_eq!("root".parse::<Subject>(), Err(SubjectParseError::BadKind));
        assert_eq!("user:x".parse::<Subject>(), Err(SubjectParseError::BadKind));
        assert_eq!("uid:-1".parse::<Subject>(), Err(SubjectParseError::BadUid));
        assert_eq!("uid:".parse::<Subject>(), Err(SubjectParseError::BadUid));
        assert_eq!(
            "uid:99999999999".parse::<Subject>(),
            Err(SubjectParseError::BadUid)
        );
        assert_eq!(
            "app:system".parse::<Subject>(),
            Err(SubjectParseError::ReservedAppId)
        );
        assert_eq!(
            "app:uid-1000".parse::<Subject>(),
            Err(SubjectParseError::ReservedAppId)
        );
        assert!(matches!(
            "app:../x".parse::<Subject>(),
            Err(SubjectParseError::BadName(_))
        ));
    }
}

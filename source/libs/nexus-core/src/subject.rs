//! Who is calling. A subject is always established by the channel a request
//! arrived on (an endpoint handed out by nexus-init, or the kernel's peer
//! credentials), never taken from a request payload.

use crate::ids::{AppId, IdError, Label, SERVICE_NAME_MAX_LEN};
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

    /// The app namespace this subject owns in the vault. System services
    /// share the reserved `system` namespace there; a bare uid owns
    /// `uid-<n>`. Keys use [`Subject::key_namespace`] instead.
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

impl Subject {
    /// The key namespace this subject owns in the keystore: each system
    /// service its own, `system.<name>` (`system:attestd` owns
    /// `system.attestd`); an app its app id; a bare uid `uid-<n>`. Parsing
    /// refuses app ids that are `system`, start with `system.` or with
    /// `uid-`, so no app can name itself into another subject's namespace.
    ///
    /// A system subject whose name is too long for a namespace (only
    /// constructible without parsing) gets the reserved `system`, which no
    /// subject may use for private operations: it fails closed.
    pub fn key_namespace(&self) -> AppId {
        match self {
            Subject::System(name) => AppId::service(name).unwrap_or_else(AppId::system),
            other => other.app_namespace(),
        }
    }

    /// Whether `app` is this subject's own key namespace, under the rules
    /// of [`Subject::key_namespace`]: the reserved namespaces belong only
    /// to the kind of subject that owns them.
    pub fn owns_key_namespace(&self, app: &AppId) -> bool {
        if *app != self.key_namespace() {
            return false;
        }
        match self {
            Subject::System(_) => app.service_name().is_some(),
            Subject::App(_) => !app.is_reserved(),
            Subject::Uid(_) => app.as_str().starts_with("uid-"),
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
    /// `system.<name>`, `uid-<n>`), which would otherwise share that
    /// subject's namespace.
    #[error("app id is reserved")]
    ReservedAppId,
}

impl FromStr for Subject {
    type Err = SubjectParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s.split_once(':').ok_or(SubjectParseError::BadKind)?;
        match kind {
            "system" => {
                // The name must also fit the service's key namespace.
                if rest.len() > SERVICE_NAME_MAX_LEN {
                    return Err(SubjectParseError::BadName(IdError::TooLong));
                }
                Ok(Subject::System(Label::new(rest)?))
            }
            "app" => {
                let app = AppId::new(rest)?;
                if app.is_reserved() {
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
    fn each_system_service_owns_its_key_namespace() {
        let attestd: Subject = "system:attestd".parse().unwrap();
        let admin: Subject = "system:admin".parse().unwrap();
        let app: Subject = "app:com.a".parse().unwrap();
        let uid: Subject = "uid:7".parse().unwrap();
        assert_eq!(attestd.key_namespace().as_str(), "system.attestd");
        assert_eq!(admin.key_namespace().as_str(), "system.admin");
        assert_eq!(app.key_namespace().as_str(), "com.a");
        assert_eq!(uid.key_namespace().as_str(), "uid-7");
        for s in [&attestd, &admin, &app, &uid] {
            assert!(s.owns_key_namespace(&s.key_namespace()), "{s}");
        }
        assert!(!admin.owns_key_namespace(&attestd.key_namespace()));
        assert!(!attestd.owns_key_namespace(&AppId::system()));
        // Built without parsing: a reserved app id owns nothing.
        for reserved in ["system", "system.attestd", "uid-7"] {
            let forged = Subject::App(AppId::new(reserved).unwrap());
            assert!(
                !forged.owns_key_namespace(&forged.key_namespace()),
                "{reserved}"
            );
        }
        // A system name too long for a namespace falls back to `system`,
        // which it does not own.
        let long = Subject::System(Label::new("a".repeat(SERVICE_NAME_MAX_LEN + 1)).unwrap());
        assert!(long.key_namespace().is_system());
        assert!(!long.owns_key_namespace(&long.key_namespace()));
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
        assert_eq!(
            "app:system.attestd".parse::<Subject>(),
            Err(SubjectParseError::ReservedAppId)
        );
        let longest = format!("system:{}", "a".repeat(SERVICE_NAME_MAX_LEN));
        assert!(longest.parse::<Subject>().is_ok());
        assert_eq!(
            format!("system:{}", "a".repeat(SERVICE_NAME_MAX_LEN + 1)).parse::<Subject>(),
            Err(SubjectParseError::BadName(IdError::TooLong))
        );
        assert!(matches!(
            "app:../x".parse::<Subject>(),
            Err(SubjectParseError::BadName(_))
        ));
    }
}

//! Per-app storage quotas.
//!
//! Usage of an app is the number of key records under
//! `state:/keystore/<app>/` and the sum of their file sizes (envelope
//! included). Limits come from a [`QuotaSource`] the caller supplies (the
//! policy crate's `keystore_quota(&Subject)` in keystored). Only operations
//! that grow storage (create, rotate) are checked: revoke and retire always
//! go through, so an app over its quota can still shrink.
//!
//! Over a soft limit the operation succeeds and carries a
//! [`QuotaWarning`]; over a hard limit it fails with `EDQUOTA`, naming the
//! current use and the limit.

use crate::error::KeystoreError;
use nexus_core::{AppId, QuotaLimits, Subject};
use std::fmt;

/// Limits used when the caller has nothing better: the same figures as the
/// policy crate's default (768 KiB / 192 keys soft, 1 MiB / 256 keys hard).
pub const DEFAULT_QUOTA: QuotaLimits = QuotaLimits {
    soft_bytes: 768 * 1024,
    hard_bytes: 1024 * 1024,
    soft_count: 192,
    hard_count: 256,
};

/// Where the keystore gets each caller's limits.
pub trait QuotaSource: Send + Sync {
    /// The keystore limits for `subject`'s namespace.
    fn keystore_quota(&self, subject: &Subject) -> QuotaLimits;
}

impl<F> QuotaSource for F
where
    F: Fn(&Subject) -> QuotaLimits + Send + Sync,
{
    fn keystore_quota(&self, subject: &Subject) -> QuotaLimits {
        self(subject)
    }
}

/// [`DEFAULT_QUOTA`] for every subject.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultQuota;

impl QuotaSource for DefaultQuota {
    fn keystore_quota(&self, _subject: &Subject) -> QuotaLimits {
        DEFAULT_QUOTA
    }
}

/// What an app stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes of its record files.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

/// Which quota figure is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaResource {
    /// Stored bytes.
    Bytes,
    /// Number of keys.
    Keys,
    /// Versions of one key (bounded by [`crate::MAX_VERSIONS`]).
    Versions,
}

impl fmt::Display for QuotaResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaResource::Bytes => "bytes",
            QuotaResource::Keys => "keys",
            QuotaResource::Versions => "versions",
        })
    }
}

/// A soft limit was passed; the operation still succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaWarning {
    /// The app namespace.
    pub app: AppId,
    /// Which figure.
    pub resource: QuotaResource,
    /// Use after the operation.
    pub used: u64,
    /// The soft limit passed.
    pub soft_limit: u64,
    /// The hard limit still ahead.
    pub hard_limit: u64,
}

impl fmt::Display for QuotaWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "keystore soft quota exceeded for app {}: {} used {}, soft limit {}, hard limit {}",
            self.app, self.resource, self.used, self.soft_limit, self.hard_limit
        )
    }
}

/// Check the use `after` an operation against `limits`, given the use
/// `before` it. Hard limits fail; soft limits warn.
pub(crate) fn check(
    app: &AppId,
    limits: &QuotaLimits,
    before: Usage,
    after: Usage,
) -> Result<Vec<QuotaWarning>, KeystoreError> {
    let figures = [
        (
            QuotaResource::Keys,
            before.keys,
            after.keys,
            limits.soft_count,
            limits.hard_count,
        ),
        (
            QuotaResource::Bytes,
            before.bytes,
            after.bytes,
            limits.soft_bytes,
            limits.hard_bytes,
        ),
    ];
    let mut warnings = Vec::new();
    for (resource, used, would_be, soft, hard) in figures {
        if would_be > hard {
            return Err(KeystoreError::Quota {
                app: app.to_string(),
                resource,
                used,
                would_be,
                limit: hard,
            });
        }
        if would_be > soft {
            warnings.push(QuotaWarning {
                app: app.clone(),
                resource,
                used: would_be,
                soft_limit: soft,
                hard_limit: hard,
            });
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    const L: QuotaLimits = QuotaLimits {
        soft_bytes: 100,
        hard_bytes: 200,
        soft_count: 2,
        hard_count: 3,
    };

    fn u(bytes: u64, keys: u64) -> Usage {
        Usage { bytes, keys }
    }

    #[test]
    fn within_soft_is_quiet_and_at_hard_is_allowed() {
        let app = AppId::new("a").unwrap();
        assert!(check(&app, &L, u(0, 0), u(100, 2)).unwrap().is_empty());
        let w = check(&app, &L, u(150, 2), u(200, 3)).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].resource, QuotaResource::Keys);
        assert!(w[1].to_string().contains("used 200, soft limit 100"));
    }

    #[test]
    fn test_reject_over_hard_with_figures() {
        let app = AppId::new("a").unwrap();
        let e = check(&app, &L, u(190, 1), u(201, 2)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Edquota);
        assert!(e
            .to_string()
            .contains("bytes used 190, would be 201, hard limit 200"));
        let e = check(&app, &L, u(10, 3), u(20, 4)).unwrap_err();
        assert!(e
            .to_string()
            .contains("keys used 3, would be 4, hard limit 3"));
    }

    #[test]
    fn closures_are_sources() {
        let s = |_: &Subject| L;
        let subj: Subject = "app:x".parse().unwrap();
        assert_eq!(s.keystore_quota(&subj), L);
        assert_eq!(DefaultQuota.keystore_quota(&subj), DEFAULT_QUOTA);
    }
}

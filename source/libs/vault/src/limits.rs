//! Bounds on names, values and how much one app and one user may store.
//!
//! Defaults (bytes count names plus values):
//!
//! | scope    | soft entries | hard entries | soft bytes | hard bytes |
//! |----------|--------------|--------------|------------|------------|
//! | per app  | 192          | 256          | 768 KiB    | 1 MiB      |
//! | per user | 768          | 1024         | 640 KiB    | 768 KiB    |
//!
//! Over soft: the write succeeds and returns a [`QuotaWarning`]. Over
//! hard: `EDQUOTA` with the figures, and nothing is written.
//!
//! The sizes of one name and one value, and of the encoded vault as a
//! whole, are `nexus_proto::limits` (`MAX_VAULT_NAME_LEN`,
//! `MAX_VAULT_VALUE_LEN`, `MAX_VAULT_FILE_LEN`): keymintd seals a user's
//! whole vault in one request, so the per-user figures are set for the
//! fullest vault they allow to fit that limit (a test checks it), and a put
//! past it under other figures is `EDQUOTA` all the same.

use crate::error::{QuotaMeasure, QuotaScope, VaultError};
use nexus_core::QuotaLimits;
use std::fmt;

/// The longest entry name, in bytes.
pub const MAX_NAME_LEN: usize = nexus_proto::limits::MAX_VAULT_NAME_LEN;
/// The largest entry value, in bytes.
pub const MAX_VALUE_LEN: usize = nexus_proto::limits::MAX_VAULT_VALUE_LEN;

/// Per-app and per-user quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultLimits {
    /// One app's share of one user's vault.
    pub per_app: QuotaLimits,
    /// One user's whole vault.
    pub per_user: QuotaLimits,
}

impl Default for VaultLimits {
    fn default() -> Self {
        VaultLimits {
            per_app: QuotaLimits {
                soft_bytes: 768 * 1024,
                hard_bytes: 1024 * 1024,
                soft_count: 192,
                hard_count: 256,
            },
            per_user: QuotaLimits {
                soft_bytes: 640 * 1024,
                hard_bytes: 768 * 1024,
                soft_count: 768,
                hard_count: 1024,
            },
        }
    }
}

/// A soft limit passed by a successful write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWarning {
    /// App or user.
    pub scope: QuotaScope,
    /// Entries or bytes.
    pub measure: QuotaMeasure,
    /// The figure after the write.
    pub used: u64,
    /// The soft limit passed.
    pub soft_limit: u64,
    /// The hard limit ahead.
    pub hard_limit: u64,
}

impl fmt::Display for QuotaWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {} (soft limit {}, hard limit {})",
            self.scope, self.measure, self.used, self.soft_limit, self.hard_limit
        )
    }
}

/// Entries and bytes stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of entries.
    pub entries: u64,
    /// Bytes of names plus values.
    pub bytes: u64,
}

/// Check the would-be usage against `limits`: `EDQUOTA` over hard, a
/// warning per figure over soft.
pub(crate) fn check(
    scope: QuotaScope,
    after: Usage,
    limits: &QuotaLimits,
    warnings: &mut Vec<QuotaWarning>,
) -> Result<(), VaultError> {
    for (measure, used, soft, hard) in [
        (
            QuotaMeasure::Entries,
            after.entries,
            limits.soft_count,
            limits.hard_count,
        ),
        (
            QuotaMeasure::Bytes,
            after.bytes,
            limits.soft_bytes,
            limits.hard_bytes,
        ),
    ] {
        if used > hard {
            return Err(VaultError::Quota {
                scope,
                measure,
                would_be: used,
                limit: hard,
            });
        }
        if used > soft {
            warnings.push(QuotaWarning {
                scope,
                measure,
                used,
                soft_limit: soft,
                hard_limit: hard,
            });
        }
    }
    Ok(())
}

/// An entry name: 1..=255 bytes of UTF-8 without control characters.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("entry name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("entry name is longer than MAX_VAULT_NAME_LEN = 255 bytes");
    }
    if name.chars().any(char::is_control) {
        return Err("entry name has a control character");
    }
    Ok(())
}

/// An entry value: at most 64 KiB.
pub(crate) fn check_value(value: &[u8]) -> Result<(), &'static str> {
    if value.len() > MAX_VALUE_LEN {
        return Err("entry value is larger than MAX_VAULT_VALUE_LEN = 65536 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoded length of the fullest vault `limits` allow: every entry
    /// with the longest app id (the bytes quota counts names and values
    /// only; the format is in `format.rs`).
    fn fullest_encoded_len(limits: &QuotaLimits) -> u64 {
        let per_entry = 1 + nexus_core::LABEL_MAX_LEN as u64 + 2 + 4;
        4 + limits.hard_count.saturating_mul(per_entry) + limits.hard_bytes
    }

    #[test]
    fn the_fullest_default_vault_fits_one_keymintd_request() {
        let fullest = fullest_encoded_len(&VaultLimits::default().per_user);
        assert!(
            fullest <= nexus_proto::limits::MAX_VAULT_FILE_LEN as u64,
            "{fullest}"
        );
    }

    #[test]
    fn names_and_values_at_the_bounds() {
        assert!(check_name("a").is_ok());
        assert!(check_name(&"é".repeat(127)).is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(check_value(&vec![0; MAX_VALUE_LEN]).is_ok());
        assert!(check_value(&[]).is_ok());
    }

    #[test]
    fn test_reject_bad_names_and_values() {
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(check_name(&"é".repeat(128)).is_err());
        for bad in ["a\nb", "a\0", "\u{1b}[31m", "x\u{7f}", "\u{85}"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_value(&vec![0; MAX_VALUE_LEN + 1]).is_err());
    }

    #[test]
    fn quota_warns_over_soft_and_refuses_over_hard() {
        let l = QuotaLimits {
            soft_bytes: 10,
            hard_bytes: 20,
            soft_count: 1,
            hard_count: 2,
        };
        let mut w = Vec::new();
        check(
            QuotaScope::App,
            Usage {
                entries: 1,
                bytes: 10,
            },
            &l,
            &mut w,
        )
        .unwrap();
        assert!(w.is_empty());
        check(
            QuotaScope::App,
            Usage {
                entries: 2,
                bytes: 11,
            },
            &l,
            &mut w,
        )
        .unwrap();
        assert_eq!(w.len(), 2);
        let e = check(
            QuotaScope::User,
            Usage {
                entries: 3,
                bytes: 0,
            },
            &l,
            &mut w,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "user quota exceeded: entries would be 3, hard limit 2"
        );
    }
}

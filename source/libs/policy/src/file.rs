//! The policy file format (TOML) and its parser into a validated
//! [`Policy`].
//!
//! ```toml
//! version = 1
//!
//! [defaults]                      # optional; built-in defaults otherwise
//! keystore_quota = { soft_bytes = 786432, hard_bytes = 1048576, soft_count = 192, hard_count = 256 }
//!
//! [[subjects]]
//! subject = "app:com.example.alpha"
//! capabilities = ["identity.key.create", "identity.key.sign"]
//! vault_quota = { soft_bytes = 1024, hard_bytes = 2048, soft_count = 8, hard_count = 16 }
//!
//! [[uid_map]]
//! uid = 0
//! subject = "system:admin"
//! ```
//!
//! Invariants: the version is checked before anything else, so a newer file
//! is reported as an unknown version rather than as unknown keys; every
//! table refuses unknown keys; subjects must be written canonically; every
//! check that involves more than one entry (duplicates, uid targets) runs
//! here, so a [`Policy`] value is always consistent.

use crate::error::PolicyError;
use crate::policy::{Grant, Policy};
use nexus_core::{Capability, QuotaLimits, Subject};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// The only policy file version this build understands.
pub const POLICY_VERSION: i64 = 1;

/// The largest policy file accepted (1 MiB).
pub const MAX_POLICY_LEN: usize = 1 << 20;

/// Reads only `version`, ignoring everything else, so that a file of
/// another version is named as such.
#[derive(Deserialize)]
struct VersionProbe {
    version: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "version")]
    _version: i64,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    subjects: Vec<RawSubject>,
    #[serde(default)]
    uid_map: Vec<RawUidMap>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    keystore_quota: Option<QuotaLimits>,
    vault_quota: Option<QuotaLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    subject: String,
    capabilities: Vec<String>,
    keystore_quota: Option<QuotaLimits>,
    vault_quota: Option<QuotaLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUidMap {
    uid: u32,
    subject: String,
}

/// Read and parse the policy file at `path`. Reads at most
/// [`MAX_POLICY_LEN`]` + 1` bytes, so an oversized file is refused without
/// being read whole; opens non-blocking so a FIFO cannot stall the caller.
pub(crate) fn load(path: &Path) -> Result<Policy, PolicyError> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)?;
    let file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(PolicyError::NotRegularFile);
    }
    let mut buf = Vec::new();
    file.take(MAX_POLICY_LEN as u64 + 1).read_to_end(&mut buf)?;
    parse_bytes(&buf)
}

/// Parse policy file bytes: size limit, UTF-8, then [`parse_str`].
pub(crate) fn parse_bytes(bytes: &[u8]) -> Result<Policy, PolicyError> {
    if bytes.len() > MAX_POLICY_LEN {
        return Err(PolicyError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PolicyError::NotUtf8)?;
    parse_str(text)
}

/// Parse and validate policy file text.
pub(crate) fn parse_str(text: &str) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_LEN {
        return Err(PolicyError::TooLarge);
    }
    let probe: VersionProbe = toml::from_str(text).map_err(|e| syntax(text, &e))?;
    match probe.version {
        None => return Err(PolicyError::MissingVersion),
        Some(toml::Value::Integer(POLICY_VERSION)) => {}
        Some(toml::Value::Integer(n)) => {
            return Err(PolicyError::UnknownVersion { found: Some(n) })
        }
        Some(_) => return Err(PolicyError::UnknownVersion { found: None }),
    }
    let raw: RawPolicy = toml::from_str(text).map_err(|e| syntax(text, &e))?;
    build(raw)
}

fn build(raw: RawPolicy) -> Result<Policy, PolicyError> {
    let default_keystore = checked_quota(raw.defaults.keystore_quota, "defaults", "keystore")?;
    let default_vault = checked_quota(raw.defaults.vault_quota, "defaults", "vault")?;

    let mut grants = BTreeMap::new();
    for entry in raw.subjects {
        let subject = parse_subject(&entry.subject)?;
        let scope = subject.to_string();
        let grant = Grant {
            capabilities: parse_capabilities(&subject, &entry.capabilities)?,
            keystore_quota: checked_quota(entry.keystore_quota, &scope, "keystore")?,
            vault_quota: checked_quota(entry.vault_quota, &scope, "vault")?,
        };
        if grants.contains_key(&subject) {
            return Err(PolicyError::DuplicateSubject(subject));
        }
        grants.insert(subject, grant);
    }

    let mut uid_map = BTreeMap::new();
    for entry in raw.uid_map {
        let subject = parse_subject(&entry.subject)?;
        if matches!(subject, Subject::Uid(_)) {
            return Err(PolicyError::UidMappedToUid {
                uid: entry.uid,
                subject,
            });
        }
        if !grants.contains_key(&subject) {
            return Err(PolicyError::UidMappedToUnknownSubject {
                uid: entry.uid,
                subject,
            });
        }
        if uid_map.insert(entry.uid, subject).is_some() {
            return Err(PolicyError::DuplicateUid(entry.uid));
        }
    }

    Ok(Policy {
        grants,
        uid_map,
        default_keystore_quota: default_keystore,
        default_vault_quota: default_vault,
    })
}

fn parse_subject(s: &str) -> Result<Subject, PolicyError> {
    let subject: Subject = s.parse().map_err(|reason| PolicyError::BadSubject {
        subject: s.to_owned(),
        reason,
    })?;
    if subject.to_string() != s {
        return Err(PolicyError::NonCanonicalSubject {
            subject: s.to_owned(),
            canonical: subject,
        });
    }
    Ok(subject)
}

fn parse_capabilities(
    subject: &Subject,
    names: &[String],
) -> Result<BTreeSet<Capability>, PolicyError> {
    let mut caps = BTreeSet::new();
    for name in names {
        let capability: Capability = name.parse().map_err(|_| PolicyError::UnknownCapability {
            subject: subject.clone(),
            name: name.clone(),
        })?;
        if capability.is_system_only() && !subject.is_system() {
            return Err(PolicyError::SystemOnlyCapability {
                subject: subject.clone(),
                capability,
            });
        }
        if !caps.insert(capability) {
            return Err(PolicyError::DuplicateCapability {
                subject: subject.clone(),
                capability,
            });
        }
    }
    Ok(caps)
}

fn checked_quota(
    q: Option<QuotaLimits>,
    scope: &str,
    store: &'static str,
) -> Result<Option<QuotaLimits>, PolicyError> {
    match q {
        Some(limits)
            if limits.soft_bytes > limits.hard_bytes || limits.soft_count > limits.hard_count =>
        {
            Err(PolicyError::BadQuota {
                scope: scope.to_owned(),
                store,
                limits,
            })
        }
        other => Ok(other),
    }
}

/// A typed syntax error with the 1-based line and column of the span's
/// start, where the parser reports a span.
fn syntax(text: &str, e: &toml::de::Error) -> PolicyError {
    let (line, column) = match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    PolicyError::Syntax {
        line,
        column,
        message: e.message().trim_end().to_owned(),
    }
}

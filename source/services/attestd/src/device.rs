//! Which device attestation key is current, and how attestd heals it.
//!
//! The device keys live in attestd's own key namespace, purpose
//! `device-attest`: `device`, then `device-2`, `device-3`, … when one had
//! to be replaced. The current one is the highest-numbered name the
//! keystore lists, readable or not (so a damaged key is never reused).
//!
//! attestd must never be kept from starting by the state of its own key
//! ([`resolve`]):
//! - no device key yet: `device` is created (first start);
//! - the current key's primary version is revoked or retired: the key is
//!   rotated; its older active versions keep verifying the tokens they
//!   signed;
//! - the current key is revoked as a whole, damaged (its record cannot be
//!   read), or unusable in any other way: a new key under the next name
//!   replaces it; the damaged record is left as it is, for inspection, and
//!   the versions of a revoked key stay as they were (revoked);
//! - if even that fails (the policy refuses, the quota is full), attestd
//!   still starts and serves what does not need the key; what does answers
//!   with the reason (`EIO`, naming the record when a record is damaged)
//!   and tries again.
//!
//! Every step is a [`DeviceEvent`]: a console line and an audit record
//! (the daemon wires both), besides the keystore's own audit of each
//! create and rotate. Only an unreachable keystored is not healed: it is
//! waited for (`serve.rs`).

use crate::backend::{DeviceKey, DeviceKeyEntry, KeyBackend, DEVICE_KEY_NAME};
use crate::error::AttestError;
use keystore::KeyName;
use nexus_core::{Coded, ErrorCode, Label};
use nexus_daemon::UpstreamError;

/// Something attestd did about its device key, or could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// There was no device key: the first was created.
    Created {
        /// The new key.
        key: DeviceKey,
    },
    /// The primary version could not sign: a new version replaced it.
    Rotated {
        /// The new primary version.
        key: DeviceKey,
        /// Why the old primary could not sign.
        reason: String,
    },
    /// The key could not be used at all: a new key replaced it.
    Replaced {
        /// The key replaced.
        old: KeyName,
        /// The new key.
        key: DeviceKey,
        /// Why the old one could not be used.
        reason: String,
    },
    /// No usable device key, and none could be made.
    Unavailable {
        /// Why (the operations that need the key answer with it).
        reason: String,
    },
}

impl DeviceEvent {
    /// The audit record's reason word.
    pub fn audit_reason(&self) -> &'static str {
        match self {
            DeviceEvent::Created { .. } => "created",
            DeviceEvent::Rotated { .. } => "rotated_unusable_primary",
            DeviceEvent::Replaced { .. } => "replaced_unusable_key",
            DeviceEvent::Unavailable { .. } => "unavailable",
        }
    }

    /// The audit record's target: the key now in use, or the one that
    /// could not be replaced.
    pub fn audit_target(&self) -> String {
        match self {
            DeviceEvent::Created { key }
            | DeviceEvent::Rotated { key, .. }
            | DeviceEvent::Replaced { key, .. } => key.key.to_string(),
            DeviceEvent::Unavailable { .. } => DEVICE_KEY_NAME.to_owned(),
        }
    }

    /// Whether the device key is usable after this event.
    pub fn is_healed(&self) -> bool {
        !matches!(self, DeviceEvent::Unavailable { .. })
    }
}

impl std::fmt::Display for DeviceEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceEvent::Created { key } => write!(
                f,
                "created device key {} v{} kid={}",
                key.key, key.version, key.kid
            ),
            DeviceEvent::Rotated { key, reason } => write!(
                f,
                "device key {} could not sign ({reason}); rotated to v{} kid={} \
                 (older active versions still verify their tokens)",
                key.key, key.version, key.kid
            ),
            DeviceEvent::Replaced { old, key, reason } => write!(
                f,
                "device key {old} cannot be used ({reason}); replaced by {} v{} kid={} \
                 (the old record is left as it is)",
                key.key, key.version, key.kid
            ),
            DeviceEvent::Unavailable { reason } => write!(
                f,
                "no usable device key: {reason}; attest and attest.device_key fail until \
                 this is fixed (tried again on each request)"
            ),
        }
    }
}

/// Whether `e` says keystored could not be reached (wait, do not heal).
pub(crate) fn transient(e: &AttestError) -> bool {
    matches!(
        e,
        AttestError::Upstream(UpstreamError::Unavailable(_) | UpstreamError::Transport { .. })
    )
}

/// Whether a failure to sign with the current key means the key's state
/// (revoked, damaged, gone), which [`resolve`] heals, rather than a
/// refusal or an upstream that cannot be trusted.
pub(crate) fn healable(e: &AttestError) -> bool {
    if transient(e) || matches!(e, AttestError::BadUpstream(_) | AttestError::AttestedKey(_)) {
        return false;
    }
    matches!(
        e.code(),
        ErrorCode::Ekeyrevoked | ErrorCode::Eio | ErrorCode::Enoent
    )
}

/// The number of a device key name: `device` is 1, `device-<n>` is n ≥ 2.
fn number(name: &Label) -> Option<u32> {
    let s = name.as_str();
    if s == DEVICE_KEY_NAME {
        return Some(1);
    }
    let n: u32 = s
        .strip_prefix(DEVICE_KEY_NAME)?
        .strip_prefix('-')?
        .parse()
        .ok()?;
    (n >= 2 && s == format!("{DEVICE_KEY_NAME}-{n}")).then_some(n)
}

/// The device key name numbered `n`.
fn name_for(n: u32) -> Result<Label, AttestError> {
    let s = if n <= 1 {
        DEVICE_KEY_NAME.to_owned()
    } else {
        format!("{DEVICE_KEY_NAME}-{n}")
    };
    Label::new(s).map_err(|_| AttestError::BadUpstream("no name for a new device key"))
}

/// Create device key `name`; one that exists already (a create whose reply
/// was lost, a concurrent start) is read instead.
fn create(backend: &dyn KeyBackend, name: &Label) -> Result<DeviceKey, AttestError> {
    match backend.create_device_key(name) {
        Err(e) if e.code() == ErrorCode::Ealready => backend.device_key(name),
        other => other,
    }
}

/// The current device key, healed if its state makes it unusable (see the
/// module docs). Each step taken is pushed to `events`. An `Err` is either
/// an unreachable keystored ([`transient`]) or [`AttestError::DeviceKey`]
/// (nothing usable, and nothing could be made).
pub(crate) fn resolve(
    backend: &dyn KeyBackend,
    events: &mut Vec<DeviceEvent>,
) -> Result<DeviceKey, AttestError> {
    let entries = backend.device_keys()?;
    let current = entries
        .iter()
        .filter_map(|e| number(&e.key.name).map(|n| (n, e)))
        .max_by_key(|(n, _)| *n);
    let Some((n, entry)) = current else {
        let key = create(backend, &name_for(1)?).map_err(|e| {
            if transient(&e) {
                e
            } else {
                unavailable(None, &e)
            }
        })?;
        events.push(DeviceEvent::Created { key: key.clone() });
        return Ok(key);
    };
    let reason = match why_unusable(backend, entry, events)? {
        Ok(key) => return Ok(key),
        Err(reason) => reason,
    };
    let next = n
        .checked_add(1)
        .ok_or(AttestError::BadUpstream("device key names ran out"))?;
    match create(backend, &name_for(next)?) {
        Ok(key) => {
            events.push(DeviceEvent::Replaced {
                old: entry.key.clone(),
                key: key.clone(),
                reason,
            });
            Ok(key)
        }
        Err(e) if transient(&e) => Err(e),
        Err(e) => Err(unavailable(Some((&entry.key, &reason)), &e)),
    }
}

/// `Ok(Ok(key))` if `entry` is usable (after a rotation if only its primary
/// version was not), `Ok(Err(reason))` if it must be replaced.
fn why_unusable(
    backend: &dyn KeyBackend,
    entry: &DeviceKeyEntry,
    events: &mut Vec<DeviceEvent>,
) -> Result<Result<DeviceKey, String>, AttestError> {
    if let Some(why) = &entry.damaged {
        return Ok(Err(why.clone()));
    }
    let name = &entry.key.name;
    let e = match backend.device_key(name) {
        Ok(key) => return Ok(Ok(key)),
        Err(e) if transient(&e) => return Err(e),
        Err(e) => e,
    };
    if e.code() != ErrorCode::Ekeyrevoked {
        return Ok(Err(e.to_string()));
    }
    // Revoked: the primary version only (rotate), or the whole key.
    match backend.rotate_device_key(name) {
        Ok(key) => {
            events.push(DeviceEvent::Rotated {
                key: key.clone(),
                reason: e.to_string(),
            });
            Ok(Ok(key))
        }
        Err(r) if transient(&r) => Err(r),
        Err(r) if r.code() == ErrorCode::Ekeyrevoked => Ok(Err(e.to_string())),
        Err(r) => Err(unavailable(Some((&entry.key, &e.to_string())), &r)),
    }
}

fn unavailable(old: Option<(&KeyName, &str)>, e: &AttestError) -> AttestError {
    let reason = match old {
        Some((key, why)) => {
            format!("device key {key} cannot be used ({why}) and was not replaced: {e}")
        }
        None => format!("no device key could be created: {e}"),
    };
    AttestError::DeviceKey { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_number_from_one() {
        let l = |s: &str| Label::new(s).unwrap();
        assert_eq!(number(&l("device")), Some(1));
        assert_eq!(number(&l("device-2")), Some(2));
        assert_eq!(number(&l("device-17")), Some(17));
        for other in [
            "device-1",
            "device-0",
            "device-02",
            "device-x",
            "devices",
            "k",
        ] {
            assert_eq!(number(&l(other)), None, "{other}");
        }
        assert_eq!(name_for(1).unwrap().as_str(), "device");
        assert_eq!(name_for(3).unwrap().as_str(), "device-3");
    }
}

//! The vault step and the persistence step, both through identityd
//! (user, session) and keystored (the per-user vault).
//!
//! The selftest's user is a test account: its name and password are
//! constants of this program, and its vault holds only values the
//! selftest made up. The user is created on first use (`user.create`;
//! `EALREADY` means an earlier boot made it).
//!
//! Invariants: `vault ok` means put/get/list/del round-tripped a random
//! value compared in constant time, a deleted entry is `ENOENT`, and a
//! locked session is `ELOCKED` (not `ENOENT`, not `EPERM`). `persist
//! seeded` is printed only after the key and the vault entry were written
//! on a durable stack; `persist ok` only after both were found in a later
//! run and used (the stored signature verified under the stored key, and
//! the key signed anew).

use crate::keys::{label, PURPOSE};
use crate::report::{at, check, refused, StepError};
use crate::Run;
use nexus_core::{ErrorCode, SessionId, UserId};
use nexus_keychain::{KeyAlg, Keychain, KeychainError};
use subtle::ConstantTimeEq;

/// The selftest's user.
pub const USER: &str = "selftest";
/// Its password (a test account; see the module docs).
const PASSWORD: &str = "nexus-selftest-vault";
/// The persistent key's name and the vault entry that goes with it.
pub const PERSIST_NAME: &str = "persist";
/// The message the persistent key signs.
const PERSIST_MSG: &[u8] = b"nexus selftest persistence v1";

fn user() -> Result<UserId, StepError> {
    UserId::new(USER).map_err(|_| StepError::Check("bad user id".into()))
}

/// Make sure the test user exists.
fn ensure_user(kc: &Keychain) -> Result<(), StepError> {
    match kc.user_create(&user()?, PASSWORD) {
        Ok(()) => {
            eprintln!("selftest: vault: created user {USER}");
            Ok(())
        }
        Err(KeychainError::Remote {
            code: ErrorCode::Ealready,
            ..
        }) => Ok(()),
        Err(e) => Err(at("user.create")(e)),
    }
}

fn login(kc: &Keychain) -> Result<SessionId, StepError> {
    Ok(kc
        .login(&user()?, PASSWORD)
        .map_err(at("session.login"))?
        .sid)
}

/// put/get/list/del, then lock → `ELOCKED`, unlock, logout.
pub fn vault(kc: &Keychain, run: &Run) -> Result<(), StepError> {
    ensure_user(kc)?;
    let sid = login(kc)?;
    let name = format!("probe-{}", run.id);
    let value = crate::random::<32>()?;
    kc.put(&sid, &name, value.as_slice())
        .map_err(at("vault.put"))?;
    let got = kc.get(&sid, &name).map_err(at("vault.get"))?;
    check(bool::from(got.expose().ct_eq(value.as_slice())), || {
        "vault.get returned another value".into()
    })?;
    let names = kc.list(&sid).map_err(at("vault.list"))?;
    check(names.contains(&name), || {
        "vault.list does not show the entry".into()
    })?;
    kc.del(&sid, &name).map_err(at("vault.del"))?;
    refused(
        "vault.get (deleted)",
        ErrorCode::Enoent,
        kc.get(&sid, &name),
    )?;
    kc.put(&sid, &name, value.as_slice())
        .map_err(at("vault.put (again)"))?;
    kc.lock(&sid).map_err(at("session.lock"))?;
    refused(
        "vault.get (locked)",
        ErrorCode::Elocked,
        kc.get(&sid, &name),
    )?;
    refused(
        "vault.put (locked)",
        ErrorCode::Elocked,
        kc.put(&sid, &name, b"x"),
    )?;
    kc.unlock(&sid, PASSWORD).map_err(at("session.unlock"))?;
    let again = kc.get(&sid, &name).map_err(at("vault.get (unlocked)"))?;
    check(bool::from(again.expose().ct_eq(value.as_slice())), || {
        "vault.get after unlock returned another value".into()
    })?;
    kc.del(&sid, &name).map_err(at("vault.del (cleanup)"))?;
    kc.logout(&sid).map_err(at("session.logout"))?;
    eprintln!("selftest: vault: {USER}: put/get/list/del, lock gave ELOCKED, unlock");
    Ok(())
}

/// What the persistence step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// First run on this state: the key and the entry were made.
    Seeded,
    /// A later run: both were found and used.
    Found,
}

/// On a durable stack: seed the persistent key and vault entry, or find
/// and use them.
pub fn persist(kc: &Keychain) -> Result<Persist, StepError> {
    let purpose = label(PURPOSE)?;
    let name = label(PERSIST_NAME)?;
    ensure_user(kc)?;
    match kc.show_key(&purpose, &name, None) {
        Err(KeychainError::Remote {
            code: ErrorCode::Enoent,
            ..
        }) => {
            let created = kc
                .create_key(&purpose, &name, KeyAlg::Ed25519)
                .map_err(at("key.create (persist)"))?;
            let signed = kc
                .sign(&purpose, &name, PERSIST_MSG)
                .map_err(at("key.sign (persist)"))?;
            let sid = login(kc)?;
            kc.put(&sid, PERSIST_NAME, &signed.sig)
                .map_err(at("vault.put (persist)"))?;
            kc.logout(&sid).map_err(at("session.logout"))?;
            eprintln!(
                "selftest: persist: seeded {PURPOSE}/{PERSIST_NAME} v{} and vault entry {PERSIST_NAME}",
                created.version
            );
            Ok(Persist::Seeded)
        }
        Err(e) => Err(at("key.show (persist)")(e)),
        Ok(info) => {
            let sid = login(kc)?;
            let stored = match kc.get(&sid, PERSIST_NAME) {
                Ok(v) => v,
                Err(KeychainError::Remote {
                    code: ErrorCode::Enoent,
                    ..
                }) => {
                    return Err(StepError::Check(
                        "the persistent key survived but its vault entry did not".into(),
                    ))
                }
                Err(e) => return Err(at("vault.get (persist)")(e)),
            };
            kc.logout(&sid).map_err(at("session.logout"))?;
            let v = kc
                .verify(&purpose, &name, PERSIST_MSG, stored.expose(), None, None)
                .map_err(at("key.verify (persist)"))?;
            let first = info.versions.iter().find(|x| x.version == v.version);
            check(first.is_some_and(|x| x.kid == Some(v.kid)), || {
                "the stored signature verified under an unknown version".into()
            })?;
            let fresh = kc
                .sign(&purpose, &name, PERSIST_MSG)
                .map_err(at("key.sign (persist)"))?;
            kc.verify(&purpose, &name, PERSIST_MSG, &fresh.sig, None, None)
                .map_err(at("key.verify (persist, fresh)"))?;
            eprintln!(
                "selftest: persist: found {PURPOSE}/{PERSIST_NAME} v{} kid={} and its vault entry",
                v.version, v.kid
            );
            Ok(Persist::Found)
        }
    }
}

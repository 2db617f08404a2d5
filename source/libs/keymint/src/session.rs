//! Per-session unsealed vault keys, and the two traits through which the
//! session owner (identityd) and the vault (keystored) reach them.
//!
//! Each user instance has one random 256-bit vault key, created with the
//! user and stored only wrapped (see [`crate::vault_key`]). Login and
//! unlock unwrap it into this table under the session id; lock forgets the
//! key but keeps the session known (so the vault can answer `ELOCKED`);
//! logout, user deletion and a sync that does not list the session forget
//! the entry. Dropping a key zeroizes it.
//!
//! A fresh table (keymint just started) is *unsynced*: it cannot tell a
//! session it never saw from one an earlier keymint run held, so it
//! answers "locked" for every unknown id until the session owner syncs it
//! ([`SessionKeyOps::sync_sessions`]). After that, unknown ids are
//! unknown.
//!
//! Every change of the table bumps its epoch under the table's lock; the
//! epoch and the boot id make the [`SessionStamp`] the vault checks
//! before it serves a session without asking (see [`crate::SessionStamp`]).
//!
//! Vault data is sealed only through [`VaultKeyOps::vault_seal`] with a
//! session id, so a locked session gets `ELOCKED`, never data and never
//! "not found".

use crate::aead;
use crate::engine::KeyMint;
use crate::error::KeyMintError;
use crate::stamp::SessionStamp;
use crate::verifier::VerifierInput;
use nexus_core::{InstanceId, SessionId, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use zeroize::Zeroizing;

pub(crate) const KIND_VAULT_DATA: u8 = b'D';

/// The secret a user's credential yields (the Argon2id output half that is
/// not the verifier input). No Debug, no Clone; zeroized on drop.
pub struct AuthSecret(Zeroizing<[u8; 32]>);

impl AuthSecret {
    /// Adopt 32 bytes derived from the credential.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        AuthSecret(Zeroizing::new(b))
    }

    /// The secret bytes, only to hand them to keymintd over its private
    /// endpoint. Never log, compare or store them.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A vault key wrapped under a user's KEK. Ciphertext, safe to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedVaultKey(pub(crate) Vec<u8>);

impl WrappedVaultKey {
    /// Adopt stored bytes; checked when unwrapped.
    pub fn from_bytes(b: Vec<u8>) -> Self {
        WrappedVaultKey(b)
    }

    /// The blob bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this blob is bound to the user *name* (the first format,
    /// `'V' | 1`) rather than to the user instance (`'V' | 2`): such a
    /// key is rewrapped on the next successful password check.
    pub fn is_name_bound(&self) -> bool {
        aead::format_of(&self.0) == Some(crate::vault_key::FORMAT_NAME)
    }
}

/// Whose vault a session opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultOwner {
    /// The user's name (shown, and the binding of name-bound keys).
    pub user: UserId,
    /// The user instance: what the vault key, the vault file and every
    /// cache are bound to.
    pub instance: InstanceId,
    /// The instance was upgraded from a name-bound user of the first
    /// format: its vault may still be the name-bound file, which only such
    /// an instance may adopt.
    pub legacy: bool,
}

/// What keymint knows of a session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// Its vault key is unsealed.
    Active(VaultOwner),
    /// Known (or possibly known: an unsynced table) but its key is not
    /// held.
    Locked,
    /// No such session.
    Unknown,
}

/// One session as the session owner knows it, for
/// [`SessionKeyOps::sync_sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    /// The session.
    pub sid: SessionId,
    /// Whose it is.
    pub owner: VaultOwner,
    /// Whether the owner believes it unlocked.
    pub active: bool,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The listed sessions whose key is held (the rest are locked now).
    pub active: Vec<SessionId>,
    /// Entries dropped because the owner no longer knows them.
    pub ended: usize,
}

#[derive(Default)]
struct Table {
    entries: HashMap<SessionId, Entry>,
    synced: bool,
    /// Changes of the table in this run (see [`crate::SessionStamp`]).
    epoch: u64,
}

impl Table {
    /// Note a change of the table. Every mutation calls this under the
    /// same lock, so an unchanged epoch means an unchanged table.
    fn changed(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }
}

struct Entry {
    owner: VaultOwner,
    /// `None`: locked. Dropping the key zeroizes it.
    key: Option<Zeroizing<[u8; 32]>>,
}

/// The table of sessions.
#[derive(Default)]
pub(crate) struct Sessions(Mutex<Table>);

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Each critical section is a few map operations that cannot panic
        // half-way; a poisoned table is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn insert(&self, sid: SessionId, owner: &VaultOwner, key: Zeroizing<[u8; 32]>) {
        let mut table = self.lock();
        table.entries.insert(
            sid,
            Entry {
                owner: owner.clone(),
                key: Some(key),
            },
        );
        table.changed();
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    fn key(&self, sid: SessionId) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let table = self.lock();
        let key = table
            .entries
            .get(&sid)
            .and_then(|e| e.key.as_ref())
            .ok_or(KeyMintError::Locked)?;
        Ok(Zeroizing::new(**key))
    }
}

/// The session owner's operations (identityd's ops in keymintd's caller
/// table).
pub trait SessionKeyOps: Send + Sync {
    /// Create a vault key for `owner`'s instance, wrapped under `auth`.
    fn create_vault_key(
        &self,
        owner: &VaultOwner,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError>;
    /// Unwrap the vault key into memory for `sid` (name-bound and
    /// instance-bound blobs alike).
    fn unseal_session(
        &self,
        sid: SessionId,
        owner: &VaultOwner,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError>;
    /// Re-wrap the vault key under `new` (password change; with
    /// `old == new`, the upgrade of a name-bound blob). The result is
    /// always bound to the instance.
    fn rewrap_vault_key(
        &self,
        owner: &VaultOwner,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError>;
    /// Forget (zeroize) the session's key; the session stays known as
    /// locked. Returns whether a key was held.
    fn lock_session(&self, sid: SessionId) -> Result<bool, KeyMintError>;
    /// Forget the session entirely. Returns whether a key was held.
    fn end_session(&self, sid: SessionId) -> Result<bool, KeyMintError>;
    /// Forget every session of `instance` (user deletion); how many.
    fn end_instance(&self, instance: InstanceId) -> Result<usize, KeyMintError>;
    /// Make the table agree with the owner's: sessions not listed are
    /// forgotten; listed ones that are not active, or whose key is not
    /// held, are locked (and known); the table is synced from now on.
    fn sync_sessions(&self, known: &[SessionRef]) -> Result<SyncReport, KeyMintError>;
    /// The stored password verifier for `input` (HMAC under a key derived
    /// from the device secret: the pepper never leaves keymint).
    fn verifier_mac(&self, input: &VerifierInput) -> Result<[u8; 32], KeyMintError>;
    /// This keymint's boot id: random per start, so a changed id means
    /// the session table was lost.
    fn boot_id(&self) -> Result<[u8; 16], KeyMintError>;
}

/// The vault's operations (keystored's ops in keymintd's caller table).
pub trait VaultKeyOps: Send + Sync {
    /// What keymint knows of `sid`.
    fn session_user(&self, sid: SessionId) -> Result<SessionLookup, KeyMintError>;
    /// What keymint knows of `sid` and, when it is active, which of
    /// `others` are unsealed sessions of the same instance: the vault's
    /// whole check in one question.
    fn session_check(
        &self,
        sid: SessionId,
        others: &[SessionId],
    ) -> Result<(SessionLookup, Vec<SessionId>), KeyMintError> {
        let (lookup, alive, _) = self.session_check_stamped(sid, others)?;
        Ok((lookup, alive))
    }
    /// [`VaultKeyOps::session_check`] with the session table's stamp taken
    /// in the same instant as the answer, when this keymint can tell it
    /// (`None`: it cannot, and nothing may be served on the strength of
    /// this answer later).
    fn session_check_stamped(
        &self,
        sid: SessionId,
        others: &[SessionId],
    ) -> Result<(SessionLookup, Vec<SessionId>, Option<SessionStamp>), KeyMintError>;
    /// The session table's stamp now, read without a round trip to
    /// keymint, or `None` when it cannot be read so (keymint unreachable,
    /// or no published stamp): every change of the table changes the
    /// stamp before the change is acknowledged, so an answer stamped with
    /// the current stamp still holds.
    fn session_stamp(&self) -> Option<SessionStamp> {
        None
    }
    /// Seal vault data with the session's key.
    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError>;
    /// Open vault data with the session's key.
    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError>;
}

impl SessionKeyOps for KeyMint {
    fn create_vault_key(
        &self,
        owner: &VaultOwner,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let key = self.entropy().secret32()?;
        self.wrap_vault_key(owner, auth, &key)
    }

    fn unseal_session(
        &self,
        sid: SessionId,
        owner: &VaultOwner,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError> {
        let key = self.unwrap_vault_key(owner, auth, wrapped)?;
        self.sessions.insert(sid, owner, key);
        Ok(())
    }

    fn rewrap_vault_key(
        &self,
        owner: &VaultOwner,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let key = self.unwrap_vault_key(owner, old, wrapped)?;
        self.wrap_vault_key(owner, new, &key)
    }

    fn lock_session(&self, sid: SessionId) -> Result<bool, KeyMintError> {
        let mut table = self.sessions.lock();
        let held = table
            .entries
            .get_mut(&sid)
            .and_then(|e| e.key.take())
            .is_some();
        table.changed();
        Ok(held)
    }

    fn end_session(&self, sid: SessionId) -> Result<bool, KeyMintError> {
        let mut table = self.sessions.lock();
        let held = table.entries.remove(&sid).is_some_and(|e| e.key.is_some());
        table.changed();
        Ok(held)
    }

    fn end_instance(&self, instance: InstanceId) -> Result<usize, KeyMintError> {
        let mut table = self.sessions.lock();
        let before = table.entries.len();
        table.entries.retain(|_, e| e.owner.instance != instance);
        table.changed();
        Ok(before - table.entries.len())
    }

    fn sync_sessions(&self, known: &[SessionRef]) -> Result<SyncReport, KeyMintError> {
        let mut table = self.sessions.lock();
        let listed: HashSet<SessionId> = known.iter().map(|r| r.sid).collect();
        let before = table.entries.len();
        table.entries.retain(|sid, _| listed.contains(sid));
        let ended = before - table.entries.len();
        let mut active = Vec::new();
        for r in known {
            let entry = table.entries.entry(r.sid).or_insert_with(|| Entry {
                owner: r.owner.clone(),
                key: None,
            });
            if entry.owner != r.owner || !r.active {
                entry.owner = r.owner.clone();
                entry.key = None;
            }
            if entry.key.is_some() {
                active.push(r.sid);
            }
        }
        table.synced = true;
        table.changed();
        Ok(SyncReport { active, ended })
    }

    fn verifier_mac(&self, input: &VerifierInput) -> Result<[u8; 32], KeyMintError> {
        crate::verifier::mac(self.device(), input)
    }

    fn boot_id(&self) -> Result<[u8; 16], KeyMintError> {
        Ok(self.boot_id)
    }
}

impl VaultKeyOps for KeyMint {
    fn session_user(&self, sid: SessionId) -> Result<SessionLookup, KeyMintError> {
        Ok(self.session_check_stamped(sid, &[])?.0)
    }

    fn session_check_stamped(
        &self,
        sid: SessionId,
        others: &[SessionId],
    ) -> Result<(SessionLookup, Vec<SessionId>, Option<SessionStamp>), KeyMintError> {
        // One lock for the answer and its stamp: no change can fall
        // between them.
        let table = self.sessions.lock();
        let stamp = Some(SessionStamp::new(self.boot_id, table.epoch));
        let lookup = match table.entries.get(&sid) {
            Some(Entry {
                owner,
                key: Some(_),
            }) => SessionLookup::Active(owner.clone()),
            Some(_) => SessionLookup::Locked,
            None if table.synced => SessionLookup::Unknown,
            None => SessionLookup::Locked,
        };
        let SessionLookup::Active(owner) = &lookup else {
            return Ok((lookup, Vec::new(), stamp));
        };
        let alive = others
            .iter()
            .filter(|o| {
                table
                    .entries
                    .get(o)
                    .is_some_and(|e| e.key.is_some() && e.owner.instance == owner.instance)
            })
            .copied()
            .collect();
        Ok((lookup, alive, stamp))
    }

    fn session_stamp(&self) -> Option<SessionStamp> {
        Some(SessionStamp::new(self.boot_id, self.sessions.epoch()))
    }

    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError> {
        let key = self.sessions.key(sid)?;
        aead::seal(self.entropy(), KIND_VAULT_DATA, &key, aad, pt)
    }

    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let key = self.sessions.key(sid)?;
        aead::open(KIND_VAULT_DATA, &key, aad, sealed)
    }
}

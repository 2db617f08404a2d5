//! The agent: one [`Agent`] shared by every connection, answering one
//! parsed request at a time per connection.
//!
//! Invariants:
//! - The agent never holds key material: identities are public keys from
//!   `key.list`, signatures come from `key.sign`, imports go to the
//!   keystore (see [`crate::backend`]).
//! - Data of exactly 64 bytes is never signed ([`BARE_DIGEST_LEN`]): the
//!   agent is no oracle for prehashed (minisign) signatures.
//! - Refusals are `SSH_AGENT_FAILURE` (the protocol has no error codes)
//!   plus one log line on stderr naming the reason; never a secret, never
//!   the signed data.
//! - While locked, `REQUEST_IDENTITIES` answers an empty list and
//!   everything but `UNLOCK` fails (OpenSSH's behaviour).
//! - Removing an identity hides it from this agent only (the key stays in
//!   the keystore); a hidden or expired identity neither lists nor signs.
//! - A connection's state (its session bindings) is its own: nothing one
//!   connection sends changes what another connection is answered, except
//!   the documented agent-wide state (lock, removals, added keys).

use crate::backend::KeyBackend;
use crate::bind::{self, Binding, SESSION_BIND};
use crate::confirm::Confirm;
use crate::identities::{self, Listed};
use crate::lock::{Lock, UnlockOutcome};
use crate::log;
use crate::proto::{Identity, Request, Response, SIGN_FLAG_RSA_SHA2_256, SIGN_FLAG_RSA_SHA2_512};
use nexus_core::Label;
use ssh_encoding::Encode;
use ssh_key::{Algorithm, Signature};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The length of data the agent never signs: a BLAKE2b-512 digest. An
/// Ed25519 signature over 64 bytes d is also a minisign (prehashed)
/// signature of every file whose BLAKE2b-512 is d; signing 64 arbitrary
/// bytes for anyone who reaches the socket (including a remote host
/// through `ssh -A`) would let them obtain such signatures from an `ssh`
/// key that also signs releases. No SSH user authentication request
/// (session id, user, service, key: well over 64 bytes) and no `SSHSIG`
/// blob (`ssh-keygen -Y sign`, git) is that short.
pub const BARE_DIGEST_LEN: usize = 64;

/// The agent's settings.
pub struct AgentConfig {
    /// The purpose whose keys are the agent's identities (default `ssh`).
    pub purpose: Label,
    /// The confirmation helper, if any.
    pub confirm: Option<Box<dyn Confirm>>,
    /// The clock (tests move it).
    pub now: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl AgentConfig {
    /// Purpose `purpose`, no confirmation helper, the real clock.
    pub fn new(purpose: Label) -> AgentConfig {
        AgentConfig {
            purpose,
            confirm: None,
            now: Box::new(Instant::now),
        }
    }
}

/// Rules attached to a key when it was added with constraints.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rules {
    pub(crate) expires: Option<Instant>,
    pub(crate) confirm: bool,
}

#[derive(Default)]
pub(crate) struct State {
    /// The last listing, by public key blob.
    pub(crate) listed: HashMap<Vec<u8>, Listed>,
    /// Removed from this agent's view (by blob).
    pub(crate) hidden: HashSet<Vec<u8>>,
    /// Constraints of added keys (by blob).
    pub(crate) rules: HashMap<Vec<u8>, Rules>,
}

/// One connection's own state.
#[derive(Debug, Default)]
pub struct Connection {
    /// Session bindings recorded on this connection.
    pub bindings: Vec<Binding>,
}

/// The agent.
pub struct Agent {
    pub(crate) backend: Box<dyn KeyBackend>,
    pub(crate) config: AgentConfig,
    pub(crate) state: Mutex<State>,
    lock: Mutex<Lock>,
}

impl Agent {
    /// An agent over `backend`.
    pub fn new(backend: Box<dyn KeyBackend>, config: AgentConfig) -> Agent {
        Agent {
            backend,
            config,
            state: Mutex::new(State::default()),
            lock: Mutex::new(Lock::default()),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_state(&self) -> MutexGuard<'_, Lock> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> Instant {
        (self.config.now)()
    }

    /// Answer one request.
    pub fn handle(&self, conn: &mut Connection, req: Request<'_>) -> Response {
        if self.lock_state().is_locked() {
            return match req {
                Request::RequestIdentities => Response::Identities(Vec::new()),
                Request::Unlock { passphrase } => self.unlock(passphrase),
                other => {
                    log(&format!("{} refused: the agent is locked", other.kind()));
                    Response::Failure
                }
            };
        }
        match req {
            Request::RequestIdentities => self.identities(),
            Request::Sign {
                key_blob,
                data,
                flags,
            } => self.sign(conn, key_blob, data, flags),
            Request::Add(add) => self.add(add),
            Request::AddUnsupported { key_type } => {
                log(&format!(
                    "ADD_IDENTITY refused: {} keys cannot be held by the keystore (only ssh-ed25519)",
                    String::from_utf8_lossy(key_type)
                ));
                Response::Failure
            }
            Request::Remove { key_blob } => self.remove(key_blob),
            Request::RemoveAll => self.remove_all(),
            Request::Smartcard => {
                log("smartcard (PKCS#11) requests refused: the agent loads no provider");
                Response::Failure
            }
            Request::Lock { passphrase } => {
                if self.lock_state().lock(passphrase) {
                    log("agent locked");
                    Response::Success
                } else {
                    log("LOCK refused");
                    Response::Failure
                }
            }
            Request::Unlock { .. } => {
                log("UNLOCK refused: the agent is not locked");
                Response::Failure
            }
            Request::Extension { name, contents } => self.extension(conn, name, contents),
            Request::Unknown(kind) => {
                log(&format!("message type {kind} refused: not supported"));
                Response::Failure
            }
        }
    }

    fn unlock(&self, passphrase: &[u8]) -> Response {
        let now = self.now();
        match self.lock_state().unlock(passphrase, now) {
            UnlockOutcome::Unlocked => {
                log("agent unlocked");
                Response::Success
            }
            UnlockOutcome::NotLocked => Response::Failure,
            UnlockOutcome::Wrong(delay) => {
                log(&format!(
                    "UNLOCK refused: wrong passphrase; next attempt in {} ms at the earliest",
                    delay.as_millis()
                ));
                Response::Failure
            }
            UnlockOutcome::Throttled(left) => {
                log(&format!(
                    "UNLOCK refused without checking: throttled for {} ms more",
                    left.as_millis()
                ));
                Response::Failure
            }
        }
    }

    /// Refresh the listing from the keystore: the identities in the
    /// keystore's order, or `None` if `key.list` failed (logged).
    pub(crate) fn refresh(&self) -> Option<Vec<Listed>> {
        let keys = match self.backend.list() {
            Ok(k) => k,
            Err(e) => {
                log(&format!("key.list failed: {e}"));
                return None;
            }
        };
        let selected = identities::select(&keys, &self.config.purpose);
        self.state().listed = selected
            .iter()
            .map(|l| (l.blob.clone(), l.clone()))
            .collect();
        Some(selected)
    }

    fn identities(&self) -> Response {
        let Some(selected) = self.refresh() else {
            return Response::Failure;
        };
        self.expire();
        let st = self.state();
        Response::Identities(
            selected
                .into_iter()
                .filter(|l| !st.hidden.contains(&l.blob))
                .map(|l| Identity {
                    key_blob: l.blob,
                    comment: l.comment,
                })
                .collect(),
        )
    }

    /// Hide keys whose lifetime has ended.
    fn expire(&self) {
        let now = self.now();
        let mut st = self.state();
        let ended: Vec<Vec<u8>> = st
            .rules
            .iter()
            .filter(|(_, r)| r.expires.is_some_and(|t| t <= now))
            .map(|(b, _)| b.clone())
            .collect();
        for blob in ended {
            if let Some(l) = st.listed.get(&blob) {
                log(&format!(
                    "{}: lifetime ended; removed from the agent",
                    l.comment
                ));
            }
            st.rules.remove(&blob);
            st.hidden.insert(blob);
        }
    }

    /// The listed, visible key with this blob, refreshing once on a miss.
    fn find(&self, blob: &[u8]) -> Option<(Listed, Rules)> {
        self.expire();
        let look = |st: &State| {
            st.listed
                .get(blob)
                .filter(|_| !st.hidden.contains(blob))
                .map(|l| (l.clone(), st.rules.get(blob).copied().unwrap_or_default()))
        };
        if let Some(hit) = look(&self.state()) {
            return Some(hit);
        }
        self.refresh()?;
        self.expire();
        look(&self.state())
    }

    fn sign(&self, conn: &Connection, blob: &[u8], data: &[u8], flags: u32) -> Response {
        if flags & (SIGN_FLAG_RSA_SHA2_256 | SIGN_FLAG_RSA_SHA2_512) != 0 {
            log("SIGN_REQUEST refused: RSA signature flags asked for an Ed25519 key");
            return Response::Failure;
        }
        if flags != 0 {
            log(&format!("SIGN_REQUEST refused: unknown flags {flags:#x}"));
            return Response::Failure;
        }
        if data.len() == BARE_DIGEST_LEN {
            log(
                "SIGN_REQUEST refused: 64 bytes of data is no SSH signature input; the agent \
                 does not sign bare digests (one would be a prehashed minisign signature)",
            );
            return Response::Failure;
        }
        let Some((key, rules)) = self.find(blob) else {
            log("SIGN_REQUEST refused: no such identity in this agent");
            return Response::Failure;
        };
        if rules.confirm && !self.confirmed(&key) {
            log(&format!(
                "SIGN_REQUEST with {} refused: not confirmed",
                key.comment
            ));
            return Response::Failure;
        }
        let signed = match self.backend.sign(&key.purpose, &key.name, data) {
            Ok(s) => s,
            Err(e) => {
                log(&format!(
                    "SIGN_REQUEST with {} failed: key.sign: {e}",
                    key.comment
                ));
                return Response::Failure;
            }
        };
        if signed.kid != key.kid || signed.version != key.version {
            // Rotated since it was listed: this signature belongs to
            // another public key. Forget the stale listing.
            self.state().listed.remove(blob);
            log(&format!(
                "SIGN_REQUEST with {} refused: the key was rotated (now v{}); list identities again",
                key.comment, signed.version
            ));
            return Response::Failure;
        }
        let mut out = Vec::with_capacity(83);
        let encoded = Signature::new(Algorithm::Ed25519, signed.sig)
            .and_then(|s| s.encode(&mut out).map_err(Into::into));
        if let Err(e) = encoded {
            log(&format!("SIGN_REQUEST with {} failed: {e}", key.comment));
            return Response::Failure;
        }
        if let Some(b) = conn.bindings.last() {
            log(&format!(
                "signed with {} for host {} ({})",
                key.comment,
                b.host,
                if b.forwarding {
                    "forwarded"
                } else {
                    "authentication"
                }
            ));
        }
        Response::Signature(out)
    }

    fn confirmed(&self, key: &Listed) -> bool {
        match &self.config.confirm {
            Some(c) => c.confirm(&format!(
                "Allow use of key {} ({})?",
                key.comment,
                key.fingerprint()
            )),
            None => false,
        }
    }

    fn remove(&self, blob: &[u8]) -> Response {
        let Some((key, _)) = self.find(blob) else {
            log("REMOVE_IDENTITY refused: no such identity in this agent");
            return Response::Failure;
        };
        let mut st = self.state();
        st.hidden.insert(blob.to_vec());
        st.rules.remove(blob);
        log(&format!(
            "{} removed from the agent (the key stays in the keystore)",
            key.comment
        ));
        Response::Success
    }

    fn remove_all(&self) -> Response {
        if self.refresh().is_none() {
            return Response::Failure;
        }
        let mut st = self.state();
        let blobs: Vec<Vec<u8>> = st.listed.keys().cloned().collect();
        let n = blobs.len();
        st.hidden.extend(blobs);
        st.rules.clear();
        log(&format!(
            "{n} identities removed from the agent (the keys stay in the keystore)"
        ));
        Response::Success
    }

    fn extension(&self, conn: &mut Connection, name: &[u8], contents: &[u8]) -> Response {
        if name != SESSION_BIND {
            log(&format!(
                "extension {} refused: not supported",
                String::from_utf8_lossy(name)
            ));
            return Response::ExtensionFailure;
        }
        match bind::verify(contents).and_then(|b| {
            let line = format!(
                "session bound to host {} ({})",
                b.host,
                if b.forwarding {
                    "forwarding"
                } else {
                    "authentication"
                }
            );
            bind::record(&mut conn.bindings, b).map(|()| line)
        }) {
            Ok(line) => {
                log(&line);
                Response::Success
            }
            Err(e) => {
                log(&format!("session-bind refused: {e}"));
                Response::Failure
            }
        }
    }

    /// The delay an added key's lifetime sets, from now.
    pub(crate) fn expiry(&self, lifetime: Option<u32>) -> Option<Instant> {
        lifetime.map(|s| self.now() + Duration::from_secs(u64::from(s)))
    }
}

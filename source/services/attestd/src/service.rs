//! [`Attestd`]: the attestation logic, independent of transport.
//!
//! Invariants:
//! - The app id in a token is the caller's key namespace
//!   (`Subject::key_namespace`: the app id, or `system.<name>` for a system
//!   service), taken from the channel's subject. No request field can set
//!   it; a request may name an app only to select a key, and only its own
//!   (anything else is `EPERM`, before any lookup and with the same message
//!   whether or not the key exists).
//! - Every attestation asks the [`Authorizer`] for `identity.attest` on the
//!   attested key (`app/purpose/name`), after the namespace rule; the
//!   authorizer audits allow and deny.
//! - The device key signs only token Sig_structures (the start-up self-test
//!   is a real token too). Each signature is checked, before the token is
//!   returned, against the device key version named in the token's header:
//!   attestd never hands out a token that does not verify.
//! - Device key rotation is for system subjects holding
//!   `identity.key.rotate`; older versions keep verifying in the keystore
//!   until retired, so tokens signed before a rotation stay verifiable.
//! - A token names the attested key's primary version as the keystore
//!   reported it in the very call that signed the token (`key.sign` with
//!   `show`). attestd remembers the attested keys it read (public data
//!   only, at most [`MAX_KNOWN`]) so that it can build the token before
//!   that call; when the call reports another key than the one the token
//!   names, the token is dropped and built again, once, over the key now
//!   reported. A read that fails (revoked, gone, not permitted) fails the
//!   attestation and forgets the key.
//! - The state of the device key never keeps attestd from starting: it is
//!   healed (`device.rs`), and if it cannot be, attestd starts anyway and
//!   the operations that need the key fail with the reason, retrying the
//!   healing each time. Every healing step is reported to the event
//!   callback (console and audit in the daemon).

use crate::backend::{AttestedKey, BackendInfo, DeviceKey, DeviceSignature, KeyBackend};
use crate::device::{self, DeviceEvent};
use crate::error::AttestError;
use eat::{Claims, CustomClaims, EatError, Nonce, SwVersion, Ueid};
use keymint::kid::Kid;
use keystore::KeyName;
use nexus_core::{AppId, Authorizer, Capability, Clock, Coded, ErrorCode, Label, Subject};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The `swname` claim of every token attestd signs.
pub const SWNAME: &str = "nexus-attestd";
/// The `swversion` claim: this crate's version.
pub const SWVERSION: &str = env!("CARGO_PKG_VERSION");

/// How many attested keys attestd remembers (public keys, kids and
/// versions); past this the memory is emptied.
pub const MAX_KNOWN: usize = 1024;

/// The nonce of the start-up self-test token. The token is verified and
/// dropped; a verifier's own random nonce never equals this text.
const SELF_TEST_NONCE: &[u8] = b"nexus-attestd/self-test/v1";

/// Which key to attest. `app` may be given only to name the caller's own
/// namespace; `None` means exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// An explicit app namespace (must be the caller's).
    pub app: Option<AppId>,
    /// The key's purpose.
    pub purpose: Label,
    /// The key's name.
    pub name: Label,
}

impl KeyRef {
    /// The caller's own key `(purpose, name)`.
    pub fn own(purpose: Label, name: Label) -> Self {
        KeyRef {
            app: None,
            purpose,
            name,
        }
    }
}

/// A signed token and what it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The tagged COSE_Sign1 token.
    pub token: Vec<u8>,
    /// The kid of the device key version that signed it.
    pub device_kid: Kid,
    /// The app id the token names (the caller's namespace).
    pub app: AppId,
    /// The attested key's kid.
    pub attested_kid: Kid,
    /// The attested key's version.
    pub attested_version: u32,
}

/// What `status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Keys live only in memory.
    pub volatile: bool,
    /// keymint runs on the deterministic test generator, or this build has
    /// the insecure feature.
    pub insecure: bool,
}

/// Where [`DeviceEvent`]s go (the daemon: console and audit log).
pub type DeviceEventFn = Box<dyn Fn(&DeviceEvent) + Send + Sync>;

/// The attestation service.
pub struct Attestd {
    backend: Box<dyn KeyBackend>,
    authz: Arc<dyn Authorizer>,
    clock: Arc<dyn Clock>,
    info: BackendInfo,
    swname: Label,
    swversion: SwVersion,
    /// The device key version last seen (refreshed when the keystore signs
    /// with another one), or why there is none.
    device: RwLock<Result<DeviceKey, String>>,
    /// Serializes rotations and healing made through this service.
    rotating: Mutex<()>,
    /// The attested keys last reported by the keystore, by name: what the
    /// next token over each is built with (and checked against).
    known: Mutex<HashMap<KeyName, AttestedKey>>,
    events: DeviceEventFn,
}

impl std::fmt::Debug for Attestd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestd")
            .field("device", &self.current_device())
            .finish_non_exhaustive()
    }
}

impl Attestd {
    /// [`Attestd::start_with`], with device events dropped.
    pub fn start(
        backend: Box<dyn KeyBackend>,
        authz: Arc<dyn Authorizer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Attestd, AttestError> {
        Self::start_with(backend, authz, clock, Box::new(|_| {}))
    }

    /// Start: find the device key (creating it on first start, healing it
    /// if its state makes it unusable; each step goes to `events`), then
    /// sign a self-test token and verify it. Only an unreachable keystored
    /// or a self-test that fails stops the start; a device key that cannot
    /// be healed leaves the service serving what does not need it.
    pub fn start_with(
        backend: Box<dyn KeyBackend>,
        authz: Arc<dyn Authorizer>,
        clock: Arc<dyn Clock>,
        events: DeviceEventFn,
    ) -> Result<Attestd, AttestError> {
        let info = backend.info()?;
        let svc = Attestd {
            backend,
            authz,
            clock,
            info,
            swname: Label::new(SWNAME).map_err(|_| EatError::ClaimValue)?,
            swversion: SwVersion::new(SWVERSION)?,
            device: RwLock::new(Err("not looked up yet".into())),
            rotating: Mutex::new(()),
            known: Mutex::new(HashMap::new()),
            events,
        };
        match svc.heal() {
            Ok(_) => svc.self_test()?,
            Err(e) if device::transient(&e) => return Err(e),
            // Reported by heal; the service runs without a device key.
            Err(_) => {}
        }
        Ok(svc)
    }

    fn set_device(&self, key: Result<DeviceKey, String>) {
        *self.device.write().unwrap_or_else(PoisonError::into_inner) = key;
    }

    /// Find (and if need be heal) the device key, reporting each step.
    fn heal(&self) -> Result<DeviceKey, AttestError> {
        let _one_at_a_time = self.rotating.lock().unwrap_or_else(PoisonError::into_inner);
        let mut events = Vec::new();
        let found = device::resolve(&*self.backend, &mut events);
        for e in &events {
            (self.events)(e);
        }
        match found {
            Ok(key) => {
                self.set_device(Ok(key.clone()));
                Ok(key)
            }
            Err(e) if device::transient(&e) => Err(e),
            Err(e) => {
                let reason = e.to_string();
                let was = self
                    .device
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                // Say it once per reason, not once per request.
                if was.as_ref().err() != Some(&reason) {
                    (self.events)(&DeviceEvent::Unavailable {
                        reason: reason.clone(),
                    });
                }
                self.set_device(Err(reason));
                Err(e)
            }
        }
    }

    /// The device key in use; healed first if there is none.
    fn current_device(&self) -> Result<DeviceKey, AttestError> {
        let now = self
            .device
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match now {
            Ok(key) => Ok(key),
            Err(_) => self.heal(),
        }
    }

    /// A token over the device key itself, checked with the full verifier.
    fn self_test(&self) -> Result<(), AttestError> {
        let device = self.current_device()?;
        let key = AttestedKey {
            public: device.public,
            kid: device.kid,
            version: device.version,
        };
        let nonce = Nonce::new(SELF_TEST_NONCE)?;
        let app = device.key.app.clone();
        let (token, signer, _) = self.sign(&key, app, nonce, CustomClaims::new(), None)?;
        let now = self.clock.now_unix();
        eat::verify_token(&token, signer.public.as_bytes(), SELF_TEST_NONCE, now)?;
        Ok(())
    }

    /// Attest the caller's key `key` for a verifier's `nonce` (8..=64
    /// bytes), with optional `custom` claims. The token names the caller's
    /// app id.
    pub fn attest(
        &self,
        caller: &Subject,
        key: &KeyRef,
        nonce: &[u8],
        custom: CustomClaims,
    ) -> Result<Attestation, AttestError> {
        let nonce = Nonce::new(nonce)?;
        let app = caller.key_namespace();
        let own = caller.owns_key_namespace(&app);
        if !own || key.app.as_ref().is_some_and(|a| *a != app) {
            return Err(AttestError::Namespace {
                subject: caller.to_string(),
                app: key.app.as_ref().unwrap_or(&app).to_string(),
            });
        }
        let name = KeyName::new(app.clone(), key.purpose.clone(), key.name.clone());
        self.authz
            .authorize(caller, Capability::Attest, &name.to_string())?;
        let remembered = self.known(&name);
        let mut attested = match remembered {
            Some(k) => k,
            None => self.backend.attested_key(&name)?,
        };
        // Twice at most: with what was remembered (or just read), and with
        // what the keystore reported when it signed, if that differed.
        for _ in 0..2 {
            let signed = self.sign(
                &attested,
                app.clone(),
                nonce.clone(),
                custom.clone(),
                Some(&name),
            );
            let (token, signer, now) = match signed {
                Ok(t) => t,
                Err(e) => {
                    self.forget(&name);
                    return Err(match e {
                        AttestError::AttestedKey(e) => *e,
                        e => e,
                    });
                }
            };
            match now {
                Some(now) if now == attested => {
                    self.remember(name, attested.clone());
                    return Ok(Attestation {
                        token,
                        device_kid: signer.kid,
                        app,
                        attested_kid: attested.kid,
                        attested_version: attested.version,
                    });
                }
                // Rotated since it was read: this token names a version
                // that is no longer the primary one, and is dropped.
                Some(now) => attested = now,
                None => return Err(AttestError::BadUpstream("the attested key was not read")),
            }
        }
        self.forget(&name);
        Err(AttestError::AttestedKeyChanged {
            key: name.to_string(),
        })
    }

    fn known(&self, key: &KeyName) -> Option<AttestedKey> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(key).cloned()
    }

    fn remember(&self, key: KeyName, attested: AttestedKey) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= MAX_KNOWN && !known.contains_key(&key) {
            known.clear();
        }
        known.insert(key, attested);
    }

    fn forget(&self, key: &KeyName) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.remove(key);
    }

    /// Build and sign a token; returns it with the device key version that
    /// signed and, with `check`, the attested key as the keystore reported
    /// it in the signing call. If the keystore signed with another version
    /// than the one the header names (a rotation in between), refresh and
    /// sign again, once; if the device key became unusable (revoked,
    /// damaged, gone), heal it and sign again, once.
    fn sign(
        &self,
        attested: &AttestedKey,
        app: AppId,
        nonce: Nonce,
        custom: CustomClaims,
        check: Option<&KeyName>,
    ) -> Result<(Vec<u8>, DeviceKey, Option<AttestedKey>), AttestError> {
        let claims = Claims {
            iat: self.clock.now_unix(),
            nonce,
            ueid: Ueid::from_random(self.info.device_id),
            attested_key: attested.public,
            app_id: app,
            swname: self.swname.clone(),
            swversion: self.swversion.clone(),
            custom,
        };
        let first = self.current_device()?;
        match self.sign_with(&claims, &first, check, attested) {
            Err(AttestError::DeviceKeyChanged) => {
                let fresh = self.backend.device_key(&first.key.name)?;
                self.set_device(Ok(fresh.clone()));
                let (token, now) = self.sign_with(&claims, &fresh, check, attested)?;
                Ok((token, fresh, now))
            }
            Err(e) if device::healable(&e) => {
                let healed = self.heal()?;
                let (token, now) = self.sign_with(&claims, &healed, check, attested)?;
                Ok((token, healed, now))
            }
            Ok((token, now)) => Ok((token, first, now)),
            Err(e) => Err(e),
        }
    }

    /// Sign with `device`; with `check`, read that key in the same call
    /// (`known` is what the token names).
    fn sign_with(
        &self,
        claims: &Claims,
        device: &DeviceKey,
        check: Option<&KeyName>,
        known: &AttestedKey,
    ) -> Result<(Vec<u8>, Option<AttestedKey>), AttestError> {
        let mut failure: Option<AttestError> = None;
        let mut now: Option<AttestedKey> = None;
        let signed = eat::sign_token(claims, &device.kid, |tbs| {
            let name = &device.key.name;
            let signed = match check {
                Some(key) => match self.backend.sign_attesting(name, tbs, key, known) {
                    Ok((s, k)) => {
                        now = Some(k);
                        Ok(s)
                    }
                    // One call failed for one of two keys: a read of the
                    // attested key alone says which.
                    Err(e) => match self.backend.attested_key(key) {
                        Err(read) => Err(AttestError::AttestedKey(Box::new(read))),
                        Ok(k) => {
                            now = Some(k);
                            Err(e)
                        }
                    },
                },
                None => self.backend.sign_with_device_key(name, tbs),
            };
            let checked = signed.and_then(|s| check_signature(device, tbs, &s));
            checked.map_err(|e| {
                let code = e.code();
                failure = Some(e);
                SignFailed(code)
            })
        });
        match (signed, failure) {
            (Ok(token), _) => Ok((token, now)),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// The device key's primary version, as the keystore has it now
    /// (healed first if it is unusable).
    pub fn device_key(&self) -> Result<DeviceKey, AttestError> {
        let current = self.current_device()?;
        match self.backend.device_key(&current.key.name) {
            Ok(key) => {
                self.set_device(Ok(key.clone()));
                Ok(key)
            }
            Err(e) if device::healable(&e) => self.heal(),
            Err(e) => Err(e),
        }
    }

    /// Rotate the device key (system subjects with `identity.key.rotate`
    /// only). New tokens carry the new kid; older tokens keep verifying
    /// with the public key of the version that signed them.
    pub fn rotate_device_key(&self, caller: &Subject) -> Result<DeviceKey, AttestError> {
        if !caller.is_system() {
            return Err(AttestError::NotSystem {
                subject: caller.to_string(),
            });
        }
        let current = self.current_device()?;
        self.authz
            .authorize(caller, Capability::KeyRotate, &current.key.to_string())?;
        let _one_at_a_time = self.rotating.lock().unwrap_or_else(PoisonError::into_inner);
        let key = self.backend.rotate_device_key(&current.key.name)?;
        self.set_device(Ok(key.clone()));
        Ok(key)
    }

    /// Modes to report.
    pub fn status(&self) -> Status {
        Status {
            volatile: self.info.volatile,
            insecure: self.info.insecure || keymint::INSECURE_BUILD,
        }
    }
}

/// The signature the keystore made must be by the version the header
/// names, and must verify (strictly) over exactly these bytes.
fn check_signature(
    device: &DeviceKey,
    tbs: &[u8],
    s: &DeviceSignature,
) -> Result<[u8; 64], AttestError> {
    if s.kid != device.kid {
        return Err(AttestError::DeviceKeyChanged);
    }
    let sig = keymint::ed25519::parse_signature(&s.signature)
        .map_err(|_| AttestError::BadUpstream("device signature is malformed"))?;
    keymint::ed25519::verify(&device.public, tbs, &sig)
        .map_err(|_| AttestError::BadUpstream("device signature does not verify"))?;
    Ok(s.signature)
}

/// The code of a signer failure, handed through `eat::sign_token`; the
/// full error is kept aside by the caller.
#[derive(Debug)]
struct SignFailed(ErrorCode);

impl Coded for SignFailed {
    fn code(&self) -> ErrorCode {
        self.0
    }
}

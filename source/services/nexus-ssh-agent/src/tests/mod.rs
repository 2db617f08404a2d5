//! Unit tests: the parser, the framing and the agent's answers, over a
//! fake keystore with real Ed25519 keys (the real keystore is exercised by
//! the crate's end-to-end tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agent;
mod constraints;
mod frame;
mod parse;

use crate::agent::{Agent, AgentConfig, Connection};
use crate::backend::{ImportError, KeyBackend};
use crate::confirm::Confirm;
use crate::identities::ed25519_blob;
use crate::proto::add::Ed25519Seed;
use crate::proto::cursor::put_string;
use crate::proto::{msg, parse_request, Response};
use ed25519_dalek::{Signer, SigningKey};
use nexus_core::{AppId, ErrorCode, Label};
use nexus_keychain::{
    CreatedKey, KeyAlg, KeyInfo, KeyState, KeyVersion, KeychainError, Kid, Signed, VersionState,
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

pub(crate) fn kid_of(public: &[u8; 32]) -> Kid {
    Kid::from_bytes(Sha256::digest(public).into())
}

/// One key of the fake keystore.
pub(crate) struct FakeKey {
    pub purpose: Label,
    pub name: Label,
    pub alg: KeyAlg,
    pub revoked: bool,
    /// Versions, 1-based; the last is primary.
    pub versions: Vec<SigningKey>,
}

impl FakeKey {
    pub fn primary(&self) -> &SigningKey {
        self.versions.last().unwrap()
    }
    pub fn public(&self) -> [u8; 32] {
        self.primary().verifying_key().to_bytes()
    }
}

/// A keystore in memory: `key.list`, `key.sign` and (when enabled)
/// `key.import` with the keystore's semantics the agent relies on.
#[derive(Default)]
pub(crate) struct Fake {
    pub keys: Mutex<Vec<FakeKey>>,
    pub import_enabled: AtomicBool,
    pub signs: AtomicUsize,
    pub list_fails: AtomicBool,
}

impl Fake {
    pub fn add(&self, purpose: &str, name: &str, seed: u8) -> [u8; 32] {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let public = sk.verifying_key().to_bytes();
        self.keys.lock().unwrap().push(FakeKey {
            purpose: label(purpose),
            name: label(name),
            alg: KeyAlg::Ed25519,
            revoked: false,
            versions: vec![sk],
        });
        public
    }

    pub fn rotate(&self, name: &str, seed: u8) {
        let mut keys = self.keys.lock().unwrap();
        let k = keys.iter_mut().find(|k| k.name.as_str() == name).unwrap();
        k.versions.push(SigningKey::from_bytes(&[seed; 32]));
    }
}

impl KeyBackend for Arc<Fake> {
    fn list(&self) -> Result<Vec<KeyInfo>, KeychainError> {
        if self.list_fails.load(Ordering::SeqCst) {
            return Err(KeychainError::Remote {
                code: ErrorCode::Eperm,
                msg: "uid 1000 maps to no subject".into(),
            });
        }
        let keys = self.keys.lock().unwrap();
        Ok(keys
            .iter()
            .map(|k| {
                let versions: Vec<KeyVersion> = k
                    .versions
                    .iter()
                    .enumerate()
                    .map(|(i, sk)| {
                        let public = sk.verifying_key().to_bytes();
                        KeyVersion {
                            version: i as u64 + 1,
                            state: VersionState::Active,
                            created: 1,
                            kid: (k.alg == KeyAlg::Ed25519).then(|| kid_of(&public)),
                            public_key: (k.alg == KeyAlg::Ed25519).then(|| public.to_vec()),
                        }
                    })
                    .collect();
                KeyInfo {
                    app: AppId::system(),
                    purpose: k.purpose.clone(),
                    name: k.name.clone(),
                    alg: k.alg,
                    state: if k.revoked {
                        KeyState::Revoked
                    } else {
                        KeyState::Active
                    },
                    primary: versions.len() as u64,
                    min_version: 1,
                    created: 1,
                    rotated: 1,
                    versions,
                }
            })
            .collect())
    }

    fn sign(&self, purpose: &Label, name: &Label, data: &[u8]) -> Result<Signed, KeychainError> {
        let keys = self.keys.lock().unwrap();
        let k = keys
            .iter()
            .find(|k| &k.purpose == purpose && &k.name == name)
            .ok_or(KeychainError::Remote {
                code: ErrorCode::Enoent,
                msg: "no such key".into(),
            })?;
        if k.revoked {
            return Err(KeychainError::Remote {
                code: ErrorCode::Ekeyrevoked,
                msg: "key is revoked".into(),
            });
        }
        self.signs.fetch_add(1, Ordering::SeqCst);
        Ok(Signed {
            sig: k.primary().sign(data).to_bytes().to_vec(),
            kid: kid_of(&k.public()),
            version: k.versions.len() as u64,
        })
    }

    fn import_ed25519(
        &self,
        purpose: &Label,
        name: &Label,
        seed: &Ed25519Seed,
    ) -> Result<CreatedKey, ImportError> {
        if !self.import_enabled.load(Ordering::SeqCst) {
            return Err(ImportError::Unavailable);
        }
        let sk = SigningKey::from_bytes(seed.expose());
        let public = sk.verifying_key().to_bytes();
        let mut keys = self.keys.lock().unwrap();
        if keys
            .iter()
            .any(|k| &k.purpose == purpose && &k.name == name)
        {
            return Err(ImportError::Keychain(KeychainError::Remote {
                code: ErrorCode::Ealready,
                msg: "key exists".into(),
            }));
        }
        keys.push(FakeKey {
            purpose: purpose.clone(),
            name: name.clone(),
            alg: KeyAlg::Ed25519,
            revoked: false,
            versions: vec![sk],
        });
        Ok(CreatedKey {
            version: 1,
            kid: Some(kid_of(&public)),
            public_key: Some(public.to_vec()),
            warnings: Vec::new(),
        })
    }
}

/// A confirmation stub that answers `allow` and counts questions.
pub(crate) struct Answer {
    pub allow: bool,
    pub asked: Arc<AtomicUsize>,
}

impl Confirm for Answer {
    fn confirm(&self, _prompt: &str) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.allow
    }
}

/// A test clock: starts now, moves only when told.
#[derive(Clone)]
pub(crate) struct Clock(Arc<Mutex<Instant>>);

impl Clock {
    pub fn new() -> Clock {
        Clock(Arc::new(Mutex::new(Instant::now())))
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

/// An agent over a fake keystore, with a test clock.
pub(crate) struct Harness {
    pub fake: Arc<Fake>,
    pub agent: Agent,
    pub clock: Clock,
    pub conn: Connection,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(|_| {})
    }

    pub fn with(tune: impl FnOnce(&mut AgentConfig)) -> Harness {
        let fake = Arc::new(Fake::default());
        let clock = Clock::new();
        let mut config = AgentConfig::new(label("ssh"));
        let c = clock.clone();
        config.now = Box::new(move || *c.0.lock().unwrap());
        tune(&mut config);
        let agent = Agent::new(Box::new(Arc::clone(&fake)), config);
        Harness {
            fake,
            agent,
            clock,
            conn: Connection::default(),
        }
    }

    /// Send one message body; get the reply.
    pub fn ask(&mut self, body: &[u8]) -> Response {
        match parse_request(body) {
            Ok(req) => self.agent.handle(&mut self.conn, req),
            Err(_) => Response::Failure,
        }
    }

    pub fn identities(&mut self) -> Vec<(Vec<u8>, String)> {
        match self.ask(&[msg::REQUEST_IDENTITIES]) {
            Response::Identities(ids) => ids.into_iter().map(|i| (i.key_blob, i.comment)).collect(),
            other => panic!("identities: {other:?}"),
        }
    }
}

/// `SIGN_REQUEST` for `public` over `data` with `flags`.
pub(crate) fn sign_msg(public: &[u8; 32], data: &[u8], flags: u32) -> Vec<u8> {
    let mut m = vec![msg::SIGN_REQUEST];
    put_string(&mut m, &ed25519_blob(public));
    put_string(&mut m, data);
    m.extend_from_slice(&flags.to_be_bytes());
    m
}

/// `ADD_ID_CONSTRAINED` (or `ADD_IDENTITY` when `constraints` is `None`)
/// of the key with seed `seed`.
pub(crate) fn add_msg(seed: [u8; 32], comment: &str, constraints: Option<&[u8]>) -> Vec<u8> {
    let sk = SigningKey::from_bytes(&seed);
    let public = sk.verifying_key().to_bytes();
    let mut m = vec![if constraints.is_some() {
        msg::ADD_ID_CONSTRAINED
    } else {
        msg::ADD_IDENTITY
    }];
    put_string(&mut m, b"ssh-ed25519");
    put_string(&mut m, &public);
    let mut pair = seed.to_vec();
    pair.extend_from_slice(&public);
    put_string(&mut m, &pair);
    put_string(&mut m, comment.as_bytes());
    if let Some(c) = constraints {
        m.extend_from_slice(c);
    }
    m
}

/// A string-encoded passphrase message (`LOCK` or `UNLOCK`).
pub(crate) fn pass_msg(kind: u8, pass: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    put_string(&mut m, pass);
    m
}

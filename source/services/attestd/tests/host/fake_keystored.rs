//! A stand-in for keystored's wire face: the ops attestd uses
//! (`key.list`, `key.show`, `key.create`, `key.rotate`, `key.sign`,
//! `device.info`,
//! and every service's `status`) with their `nexus-proto` types, served by a real
//! `wire::Server` over a real in-process keystore, acting for the
//! connection's subject. A `Tamper` setting makes it answer the way a
//! broken or hostile keystored might, to show attestd refuses.

use crate::common::*;
use keymint::{Algorithm, KeyOps};
use keystore::{KeyInfo, KeyName};
use nexus_core::{AppId, ErrorCode, Kid, Label, Subject};
use nexus_proto::{
    self as proto, Alg, Bytes, DamagedKey, DeviceInfo, DeviceInfoReply, KeyCreate, KeyCreateReply,
    KeyList, KeyListReply, KeyRotate, KeyShow, KeySign, KeySignReply, KeyVersionInfo, Op, Status,
    StatusReply,
};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use wire::{CallContext, Request, Server, ServerConfig, Value, WireError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// `key.show` of an app key answers with a small-order public key.
    WeakAttestedKey,
    /// `key.show` states a kid that is not the key's thumbprint.
    WrongKid,
    /// `key.show` describes another key than the one asked about.
    OtherKey,
    /// `key.sign` signs with some other key (but names the right kid).
    ForeignSignature,
}

pub struct FakeKeystored {
    pub server: Server,
    pub calls: Arc<Mutex<Vec<String>>>,
}

fn weak_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
}

fn key_state(s: keystore::KeyState) -> proto::KeyState {
    match s {
        keystore::KeyState::Active => proto::KeyState::Active,
        keystore::KeyState::Revoked => proto::KeyState::Revoked,
    }
}

fn version_state(s: keystore::VersionState) -> proto::VersionState {
    match s {
        keystore::VersionState::Active => proto::VersionState::Active,
        keystore::VersionState::Retired => proto::VersionState::Retired,
        keystore::VersionState::Revoked => proto::VersionState::Revoked,
    }
}

fn alg(a: Algorithm) -> Alg {
    match a {
        Algorithm::Ed25519 => Alg::Ed25519,
        Algorithm::XChaCha20Poly1305 => Alg::XChaCha20Poly1305,
    }
}

fn key_info(info: &KeyInfo, tamper: Tamper) -> proto::KeyInfo {
    let versions = info
        .versions
        .iter()
        .map(|v| {
            let mut public_key = v.public.map(|p| Bytes(p.to_vec()));
            let mut kid = v.kid;
            // Tampering applies to app keys only: the device key stays
            // intact so that attestd starts.
            if info.name.app.service_name().is_none() {
                match tamper {
                    Tamper::WeakAttestedKey => {
                        public_key = Some(Bytes(weak_key().to_vec()));
                        kid = Some(Kid::from_bytes(sha_kid(&weak_key())));
                    }
                    Tamper::WrongKid => kid = Some(Kid::from_bytes([0; 32])),
                    _ => {}
                }
            }
            KeyVersionInfo {
                version: v.version,
                state: version_state(v.state),
                created: v.created,
                kid,
                public_key,
            }
        })
        .collect();
    let app = if tamper == Tamper::OtherKey && info.name.app.service_name().is_none() {
        AppId::new("com.example.other").unwrap()
    } else {
        info.name.app.clone()
    };
    proto::KeyInfo {
        app,
        purpose: info.name.purpose.clone(),
        name: info.name.name.clone(),
        alg: alg(info.alg),
        state: key_state(info.state),
        primary: info.primary,
        min_version: info.min_version,
        created: info.created,
        rotated: info.rotated.unwrap_or(info.created),
        versions,
    }
}

/// The RFC 9679 thumbprint of raw bytes, even of a key dalek refuses.
fn sha_kid(x: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(keymint::kid::ed25519_thumbprint_input(x)).into()
}

fn created_reply(info: &KeyInfo) -> KeyCreateReply {
    let v = info.version(info.primary).unwrap();
    KeyCreateReply {
        version: v.version,
        kid: v.kid,
        public_key: v.public.map(|p| Bytes(p.to_vec())),
        warnings: vec![],
    }
}

fn key_of(subject: &Subject, app: Option<AppId>, purpose: Label, name: Label) -> KeyName {
    KeyName::new(
        app.unwrap_or_else(|| subject.key_namespace()),
        purpose,
        name,
    )
}

impl FakeKeystored {
    /// Serve `f`'s keystore; returns the server and attestd's end of a
    /// connection whose subject is `system:attestd`.
    pub fn start(f: &Stack, tamper: Tamper) -> (FakeKeystored, UnixStream) {
        let store = f.store.clone();
        let km = f.keymint.clone();
        let authz = f.engine.clone();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let handler = move |ctx: &CallContext, req: &Request| -> Result<Value, WireError> {
            log.lock().unwrap().push(req.op().to_owned());
            let s = ctx.subject();
            match req.op() {
                KeyList::NAME => proto::serve::<KeyList>(req, |a| {
                    let app = a.app.unwrap_or_else(|| s.key_namespace());
                    let listing = store.list_keys(s, &app)?;
                    Ok(KeyListReply {
                        keys: listing.keys.iter().map(|k| key_info(k, tamper)).collect(),
                        damaged: listing
                            .damaged
                            .into_iter()
                            .map(|d| DamagedKey {
                                app: d.name.app,
                                purpose: d.name.purpose,
                                name: d.name.name,
                                record: d.record,
                                error: d.error.to_string(),
                            })
                            .collect(),
                    })
                }),
                KeyShow::NAME => proto::serve::<KeyShow>(req, |a| {
                    let info = store.describe(s, &key_of(s, a.app, a.purpose, a.name))?;
                    Ok(key_info(&info, tamper))
                }),
                KeyCreate::NAME => proto::serve::<KeyCreate>(req, |a| {
                    let alg = Algorithm::parse(a.alg.as_str())
                        .ok_or_else(|| WireError::new(ErrorCode::Einval, "bad alg"))?;
                    let key = key_of(s, None, a.purpose, a.name);
                    let out = store.create(s, &*authz, &key, alg)?;
                    Ok(created_reply(&out.value))
                }),
                KeyRotate::NAME => proto::serve::<KeyRotate>(req, |a| {
                    let out = store.rotate(s, &*authz, &key_of(s, None, a.purpose, a.name))?;
                    Ok(created_reply(&out.value))
                }),
                KeySign::NAME => proto::serve::<KeySign>(req, |a| {
                    // `show` is answered as key.show is, tampering included.
                    let shown = match a.show {
                        Some(k) => Some(key_info(
                            &store.describe(s, &key_of(s, k.app, k.purpose, k.name))?,
                            tamper,
                        )),
                        None => None,
                    };
                    let key = key_of(s, None, a.purpose, a.name);
                    let out = store.sign(s, &*authz, &key, &a.msg)?;
                    let sig = if tamper == Tamper::ForeignSignature {
                        use ed25519_dalek::Signer;
                        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
                            .sign(&a.msg)
                            .to_bytes()
                    } else {
                        out.signature
                    };
                    Ok(KeySignReply {
                        sig: Bytes(sig.to_vec()),
                        kid: out.kid,
                        version: out.version,
                        shown,
                    })
                }),
                DeviceInfo::NAME => proto::serve::<DeviceInfo>(req, |_| {
                    if !s.is_system() {
                        return Err(WireError::new(ErrorCode::Eperm, "system subjects only"));
                    }
                    Ok(DeviceInfoReply {
                        device_id: Bytes(km.device_id().to_vec()),
                        insecure: km.is_insecure(),
                        volatile: store.is_volatile(),
                    })
                }),
                Status::NAME => proto::serve::<Status>(req, |_| {
                    Ok(StatusReply {
                        service: "keystored".into(),
                        volatile: store.is_volatile(),
                        insecure: km.is_insecure(),
                        version: "0.1.0".into(),
                        damaged: None,
                    })
                }),
                other => Err(WireError::unknown_op(other)),
            }
        };
        let server = Server::new(handler, ServerConfig::default());
        let (ours, theirs) = UnixStream::pair().unwrap();
        server
            .add_connection(theirs, subject("system:attestd"))
            .unwrap();
        (FakeKeystored { server, calls }, ours)
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for FakeKeystored {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

//! A stand-in for keystored's wire face: the ops attestd uses
//! (`key.show`, `key.create`, `key.rotate`, `key.sign`, `device.info`,
//! and every service's `status`) as
//! docs/architecture/services.md specifies them, served by a real
//! `wire::Server` over a real in-process keystore, acting for the
//! connection's subject. A `Tamper` setting makes it answer the way a
//! broken or hostile keystored might, to show attestd refuses.

use crate::common::*;
use keymint::{Algorithm, KeyOps};
use keystore::{KeyInfo, KeyName};
use nexus_core::{AppId, ErrorCode, Label, Subject};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use wire::{Args, CallContext, Request, Server, ServerConfig, Value, WireError};

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

fn key_info(info: &KeyInfo, tamper: Tamper) -> Value {
    let versions: Vec<Value> = info
        .versions
        .iter()
        .map(|v| {
            let state = match v.state {
                keystore::VersionState::Active => "active",
                keystore::VersionState::Retired => "retired",
                keystore::VersionState::Revoked => "revoked",
            };
            let mut public = v.public.map(|p| p.to_vec());
            let mut kid = v.kid.map(|k| k.to_hex());
            // Tampering applies to app keys only: the device key stays
            // intact so that attestd starts.
            if !info.name.app.is_system() {
                match tamper {
                    Tamper::WeakAttestedKey => {
                        public = Some(weak_key().to_vec());
                        kid = Some(keymint::kid::Kid::from_bytes(sha_kid(&weak_key())).to_hex());
                    }
                    Tamper::WrongKid => kid = Some("00".repeat(32)),
                    _ => {}
                }
            }
            Args::new()
                .with("version", u64::from(v.version))
                .with("state", state)
                .with("created", v.created)
                .with("kid", kid.map_or(Value::Null, Value::from))
                .with("public_key", public.map_or(Value::Null, Value::from))
                .into_value()
        })
        .collect();
    let app = if tamper == Tamper::OtherKey && !info.name.app.is_system() {
        "com.example.other".to_owned()
    } else {
        info.name.app.to_string()
    };
    Args::new()
        .with("app", app)
        .with("purpose", info.name.purpose.as_str())
        .with("name", info.name.name.as_str())
        .with("alg", info.alg.as_str())
        .with(
            "state",
            match info.state {
                keystore::KeyState::Active => "active",
                keystore::KeyState::Revoked => "revoked",
            },
        )
        .with("primary", u64::from(info.primary))
        .with("min_version", u64::from(info.min_version))
        .with("created", info.created)
        .with("rotated", info.rotated.map_or(Value::Null, Value::from))
        .with("versions", Value::Array(versions))
        .into_value()
}

/// The RFC 9679 thumbprint of raw bytes, even of a key dalek refuses.
fn sha_kid(x: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(keymint::kid::ed25519_thumbprint_input(x)).into()
}

fn created_reply(info: &KeyInfo) -> Value {
    let v = info.version(info.primary).unwrap();
    Args::new()
        .with("version", u64::from(v.version))
        .with("kid", v.kid.unwrap().to_hex())
        .with("public_key", v.public.unwrap().to_vec())
        .with("warnings", Value::Array(vec![]))
        .into_value()
}

fn key_of(subject: &Subject, args: &Args) -> Result<KeyName, WireError> {
    let app = match args.opt_parse::<AppId>("app")? {
        Some(a) => a,
        None => subject.app_namespace(),
    };
    Ok(KeyName::new(
        app,
        args.parse::<Label>("purpose")?,
        args.parse::<Label>("name")?,
    ))
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
            let a = req.args();
            match req.op() {
                "key.show" => {
                    a.only(&["purpose", "name", "app"])?;
                    let info = store.describe(s, &key_of(s, a)?)?;
                    Ok(key_info(&info, tamper))
                }
                "key.create" => {
                    a.only(&["purpose", "name", "alg"])?;
                    let alg = Algorithm::parse(a.text("alg")?)
                        .ok_or_else(|| WireError::new(ErrorCode::Einval, "bad alg"))?;
                    let out = store.create(s, &*authz, &key_of(s, a)?, alg)?;
                    Ok(created_reply(&out.value))
                }
                "key.rotate" => {
                    a.only(&["purpose", "name"])?;
                    let out = store.rotate(s, &*authz, &key_of(s, a)?)?;
                    Ok(created_reply(&out.value))
                }
                "key.sign" => {
                    a.only(&["purpose", "name", "msg"])?;
                    let out = store.sign(s, &*authz, &key_of(s, a)?, a.bytes("msg")?)?;
                    let sig = if tamper == Tamper::ForeignSignature {
                        use ed25519_dalek::Signer;
                        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
                            .sign(a.bytes("msg")?)
                            .to_bytes()
                    } else {
                        out.signature
                    };
                    Ok(Args::new()
                        .with("sig", sig.to_vec())
                        .with("kid", out.kid.to_hex())
                        .with("version", u64::from(out.version))
                        .into_value())
                }
                "device.info" => {
                    a.only(&[])?;
                    if !s.is_system() {
                        return Err(WireError::new(ErrorCode::Eperm, "system subjects only"));
                    }
                    Ok(Args::new()
                        .with("device_id", km.device_id().to_vec())
                        .with("insecure", km.is_insecure())
                        .with("volatile", store.is_volatile())
                        .into_value())
                }
                "status" => {
                    a.only(&[])?;
                    Ok(Args::new()
                        .with("service", "keystored")
                        .with("volatile", store.is_volatile())
                        .with("insecure", km.is_insecure())
                        .with("version", "0.1.0")
                        .into_value())
                }
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

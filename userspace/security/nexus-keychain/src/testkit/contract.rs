//! A fake that speaks every op of docs/architecture/services.md: it checks
//! each request's arguments (names, CBOR types, required/optional) the way
//! a daemon does and answers with a reply of the documented shape.
//!
//! Behaviour is canned and small, but enough to tell success from each
//! documented error: the vault is a real map (put then get returns the
//! value), [`PASSWORD`] is the only password that logs in, [`FAKE_SIG`] is
//! the only signature that verifies, `missing` names nothing (`ENOENT`),
//! `exists` already exists (`EALREADY`), the session [`LOCKED_SID`] is
//! locked (`ELOCKED`), [`SYSTEM_KID`] is a system root (`trust.rm` is
//! `EPERM`).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use wire::{ArgError, Args, ErrorCode, Value, WireError};

/// The one password the fake accepts.
pub const PASSWORD: &str = "correct horse battery staple";
/// The session id `session.login` returns.
pub const SID: &str = "00112233445566778899aabbccddeeff";
/// A session that is locked.
pub const LOCKED_SID: &str = "ffeeddccbbaa99887766554433221100";
/// The kid of every key version the fake reports.
pub const KID: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// The kid of the device attestation key.
pub const DEVICE_KID: &str = "2222222222222222222222222222222222222222222222222222222222222222";
/// The kid `trust.add` returns.
pub const ADDED_KID: &str = "3333333333333333333333333333333333333333333333333333333333333333";
/// A kid the fake reports as a system root.
pub const SYSTEM_KID: &str = "4444444444444444444444444444444444444444444444444444444444444444";
/// The public key of every Ed25519 key the fake reports.
pub const PUBLIC_KEY: [u8; 32] = [7; 32];
/// The signature `key.sign` returns and the only one `key.verify` accepts.
pub const FAKE_SIG: [u8; 64] = [0xa5; 64];
/// What `key.seal` puts in front of the plaintext.
pub const SEAL_PREFIX: &[u8] = b"sealed:";
/// The token `attest` returns.
pub const TOKEN: &[u8] = b"\xd2fake-token";

/// The kid of the Ed25519 key in a minisign public key (file or line), a
/// raw base64 key, or a root file's `public_key = "…"` line; `None` if no
/// key is found (the fake then answers [`ADDED_KID`]).
pub fn kid_of(text: &str) -> Option<String> {
    use base64::Engine;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let b64 = text
        .lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or(line.trim());
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let key = match raw.len() {
        42 => raw.get(10..)?,
        32 => &raw[..],
        _ => return None,
    };
    let key = keymint::ed25519::parse_public_key(key).ok()?;
    Some(keymint::kid::ed25519_kid(&key).to_hex())
}

fn err(code: ErrorCode, msg: &str) -> WireError {
    WireError::new(code, msg)
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn empty() -> Value {
    Value::Map(Vec::new())
}

fn check(a: &Args, allowed: &[&str]) -> Result<(), ArgError> {
    a.only(allowed)
}

fn key_info(purpose: &str, name: &str, app: &str) -> Value {
    map(vec![
        ("app", app.into()),
        ("purpose", purpose.into()),
        ("name", name.into()),
        ("alg", "Ed25519".into()),
        ("state", "active".into()),
        ("primary", 2u64.into()),
        ("min_version", 1u64.into()),
        ("created", 1_700_000_000u64.into()),
        ("rotated", 1_700_000_100u64.into()),
        (
            "versions",
            Value::Array(vec![
                map(vec![
                    ("version", 1u64.into()),
                    ("state", "retired".into()),
                    ("created", 1_700_000_000u64.into()),
                    ("kid", KID.into()),
                    ("public_key", Value::Bytes(PUBLIC_KEY.to_vec())),
                ]),
                map(vec![
                    ("version", 2u64.into()),
                    ("state", "active".into()),
                    ("created", 1_700_000_100u64.into()),
                    ("kid", KID.into()),
                    ("public_key", Value::Bytes(PUBLIC_KEY.to_vec())),
                ]),
            ]),
        ),
    ])
}

fn created(version: u64, ed25519: bool) -> Value {
    let mut pairs = vec![("version", version.into())];
    if ed25519 {
        pairs.push(("kid", KID.into()));
        pairs.push(("public_key", Value::Bytes(PUBLIC_KEY.to_vec())));
    } else {
        pairs.push(("kid", Value::Null));
        pairs.push(("public_key", Value::Null));
    }
    pairs.push(("warnings", Value::Array(vec![])));
    map(pairs)
}

fn root(kid: &str, source: &str, with_key: bool) -> Value {
    let mut pairs = vec![
        ("kid", kid.into()),
        ("source", source.into()),
        ("scopes", Value::Array(vec!["packages".into()])),
        ("label", "publisher".into()),
        ("not_before", 0u64.into()),
        ("not_after", 4_102_444_800u64.into()),
        ("status", "valid".into()),
    ];
    if with_key {
        pairs.push(("public_key", Value::Bytes(PUBLIC_KEY.to_vec())));
    }
    map(pairs)
}

fn status(service: &str) -> Value {
    map(vec![
        ("service", service.into()),
        ("volatile", true.into()),
        ("insecure", false.into()),
        ("version", "0.1.0".into()),
    ])
}

/// The state behind the fake: the vault's entries.
#[derive(Default)]
pub struct Contract {
    vault: Mutex<BTreeMap<String, Vec<u8>>>,
    service: String,
}

impl Contract {
    /// A fake for `service` (the name `status` reports).
    pub fn new(service: &str) -> Contract {
        Contract {
            vault: Mutex::new(BTreeMap::new()),
            service: service.to_owned(),
        }
    }

    fn session(&self, a: &Args) -> Result<(), WireError> {
        match a.text("sid")? {
            SID => Ok(()),
            LOCKED_SID => Err(err(ErrorCode::Elocked, "the session is locked")),
            _ => Err(err(ErrorCode::Elocked, "no such session")),
        }
    }

    fn named(a: &Args, what: &str) -> Result<(), WireError> {
        match a.text("name")? {
            "missing" => Err(err(ErrorCode::Enoent, &format!("no such {what}"))),
            _ => Ok(()),
        }
    }

    /// Answer one request.
    pub fn answer(&self, op: &str, a: &Args) -> Result<Value, WireError> {
        let mut vault = self.vault.lock().unwrap_or_else(PoisonError::into_inner);
        const KEY: [&str; 2] = ["purpose", "name"];
        match op {
            "status" => {
                check(a, &[])?;
                Ok(status(&self.service))
            }
            "key.create" => {
                check(a, &["purpose", "name", "alg"])?;
                a.text("purpose")?;
                let ed = match a.text("alg")? {
                    "Ed25519" => true,
                    "XChaCha20-Poly1305" => false,
                    _ => return Err(ArgError::Invalid("alg".into()).into()),
                };
                if a.text("name")? == "exists" {
                    return Err(err(ErrorCode::Ealready, "the key exists"));
                }
                Ok(created(1, ed))
            }
            "key.rotate" => {
                check(a, &KEY)?;
                a.text("purpose")?;
                Self::named(a, "key")?;
                Ok(created(3, true))
            }
            "key.revoke" => {
                check(a, &["purpose", "name", "version"])?;
                a.text("purpose")?;
                a.opt_u64("version")?;
                Self::named(a, "key")?;
                Ok(empty())
            }
            "key.retire" => {
                check(a, &["purpose", "name", "min_version"])?;
                a.text("purpose")?;
                a.u64("min_version")?;
                Self::named(a, "key")?;
                Ok(empty())
            }
            "key.list" => {
                check(a, &["app"])?;
                let app = a.opt_text("app")?.unwrap_or("com.example.alpha");
                Ok(map(vec![(
                    "keys",
                    Value::Array(vec![key_info("signing", "k1", app)]),
                )]))
            }
            "key.show" => {
                check(a, &["purpose", "name", "app"])?;
                Self::named(a, "key")?;
                let app = a.opt_text("app")?.unwrap_or("com.example.alpha");
                Ok(key_info(a.text("purpose")?, a.text("name")?, app))
            }
            "key.sign" => {
                check(a, &["purpose", "name", "msg"])?;
                a.text("purpose")?;
                a.bytes("msg")?;
                Self::named(a, "key")?;
                Ok(map(vec![
                    ("sig", Value::Bytes(FAKE_SIG.to_vec())),
                    ("kid", KID.into()),
                    ("version", 2u64.into()),
                ]))
            }
            "key.verify" => {
                check(a, &["purpose", "name", "msg", "sig", "version", "app"])?;
                a.text("purpose")?;
                a.bytes("msg")?;
                a.opt_u64("version")?;
                a.opt_text("app")?;
                Self::named(a, "key")?;
                if a.bytes("sig")? != FAKE_SIG {
                    return Err(err(ErrorCode::Eperm, "signature does not verify"));
                }
                Ok(map(vec![
                    ("valid", true.into()),
                    ("version", 2u64.into()),
                    ("kid", KID.into()),
                ]))
            }
            "key.seal" => {
                check(a, &["purpose", "name", "pt", "aad"])?;
                a.text("purpose")?;
                a.opt_bytes("aad")?;
                Self::named(a, "key")?;
                let mut sealed = SEAL_PREFIX.to_vec();
                sealed.extend_from_slice(a.bytes("pt")?);
                Ok(map(vec![
                    ("sealed", Value::Bytes(sealed)),
                    ("version", 2u64.into()),
                ]))
            }
            "key.unseal" => {
                check(a, &["purpose", "name", "sealed", "aad"])?;
                a.text("purpose")?;
                a.opt_bytes("aad")?;
                Self::named(a, "key")?;
                let pt = a
                    .bytes("sealed")?
                    .strip_prefix(SEAL_PREFIX)
                    .ok_or_else(|| err(ErrorCode::Eio, "cannot unseal"))?;
                Ok(map(vec![
                    ("pt", Value::Bytes(pt.to_vec())),
                    ("version", 2u64.into()),
                ]))
            }
            "key.export" => {
                check(a, &["purpose", "name", "version"])?;
                a.opt_u64("version")?;
                Self::named(a, "key")?;
                Ok(map(vec![
                    ("blob", Value::Bytes(b"wrapped-blob".to_vec())),
                    ("app", "com.example.alpha".into()),
                    ("purpose", a.text("purpose")?.into()),
                    ("name", a.text("name")?.into()),
                    ("version", 2u64.into()),
                    ("alg", "Ed25519".into()),
                ]))
            }
            "device.info" => {
                check(a, &[])?;
                Ok(map(vec![
                    ("device_id", Value::Bytes(vec![9; 32])),
                    ("insecure", false.into()),
                    ("volatile", true.into()),
                ]))
            }
            "vault.put" => {
                check(a, &["sid", "name", "value"])?;
                self.session(a)?;
                let value = a.bytes("value")?.to_vec();
                vault.insert(a.text("name")?.to_owned(), value);
                Ok(map(vec![("warnings", Value::Array(vec![]))]))
            }
            "vault.get" => {
                check(a, &["sid", "name"])?;
                self.session(a)?;
                let v = vault
                    .get(a.text("name")?)
                    .ok_or_else(|| err(ErrorCode::Enoent, "no such entry"))?;
                Ok(map(vec![("value", Value::Bytes(v.clone()))]))
            }
            "vault.del" => {
                check(a, &["sid", "name"])?;
                self.session(a)?;
                vault
                    .remove(a.text("name")?)
                    .ok_or_else(|| err(ErrorCode::Enoent, "no such entry"))?;
                Ok(empty())
            }
            "vault.list" => {
                check(a, &["sid"])?;
                self.session(a)?;
                let names = vault.keys().map(|k| Value::Text(k.clone())).collect();
                Ok(map(vec![("names", Value::Array(names))]))
            }
            _ => self.answer_more(op, a),
        }
    }

    fn answer_more(&self, op: &str, a: &Args) -> Result<Value, WireError> {
        match op {
            "trust.add" => {
                if a.get("root_file").is_some() {
                    check(a, &["root_file"])?;
                    a.text("root_file")?;
                } else {
                    check(
                        a,
                        &["public_key", "label", "scopes", "not_before", "not_after"],
                    )?;
                    a.text("public_key")?;
                    a.text("label")?;
                    a.text_list("scopes")?;
                    a.opt_u64("not_before")?;
                    a.opt_u64("not_after")?;
                }
                let text = a
                    .opt_text("root_file")?
                    .map_or_else(|| a.text("public_key"), Ok)?;
                let kid = kid_of(text).unwrap_or_else(|| ADDED_KID.to_owned());
                Ok(map(vec![("kid", kid.into())]))
            }
            "trust.list" => {
                check(a, &[])?;
                Ok(map(vec![(
                    "roots",
                    Value::Array(vec![
                        root(SYSTEM_KID, "system", false),
                        root(ADDED_KID, "installed", false),
                    ]),
                )]))
            }
            "trust.show" | "trust.rm" | "trust.distrust" => {
                check(a, &["kid"])?;
                let kid = a.text("kid")?;
                if kid.len() != 64 {
                    return Err(ArgError::Invalid("kid".into()).into());
                }
                match (op, kid) {
                    ("trust.rm", SYSTEM_KID) => Err(err(
                        ErrorCode::Eperm,
                        "a system root cannot be removed: distrust it instead",
                    )),
                    (_, SYSTEM_KID | ADDED_KID) if op == "trust.show" => {
                        let source = if kid == SYSTEM_KID {
                            "system"
                        } else {
                            "installed"
                        };
                        Ok(root(kid, source, true))
                    }
                    (_, SYSTEM_KID | ADDED_KID) => Ok(empty()),
                    _ => Err(err(ErrorCode::Enoent, "no such root")),
                }
            }
            "user.create" => {
                check(a, &["user", "password"])?;
                a.text("password")?;
                if a.text("user")? == "exists" {
                    return Err(err(ErrorCode::Ealready, "the user exists"));
                }
                Ok(empty())
            }
            "user.delete" => {
                check(a, &["user"])?;
                a.text("user")?;
                Ok(empty())
            }
            "user.list" => {
                check(a, &[])?;
                Ok(map(vec![(
                    "users",
                    Value::Array(vec!["alice".into(), "bob".into()]),
                )]))
            }
            "user.passwd" => {
                check(a, &["user", "old", "new"])?;
                a.text("user")?;
                a.text("new")?;
                if a.text("old")? != PASSWORD {
                    return Err(err(ErrorCode::Eperm, "wrong user or password"));
                }
                Ok(empty())
            }
            "session.login" => {
                check(a, &["user", "password"])?;
                let user = a.text("user")?;
                if a.text("password")? != PASSWORD {
                    return Err(err(ErrorCode::Eperm, "wrong user or password"));
                }
                Ok(map(vec![
                    ("sid", SID.into()),
                    ("user", user.into()),
                    ("state", "active".into()),
                ]))
            }
            "session.lock" => {
                check(a, &["sid"])?;
                a.text("sid")?;
                Ok(map(vec![("state", "locked".into())]))
            }
            "session.unlock" => {
                check(a, &["sid", "password"])?;
                a.text("sid")?;
                if a.text("password")? != PASSWORD {
                    return Err(err(ErrorCode::Eperm, "wrong user or password"));
                }
                Ok(map(vec![("state", "active".into())]))
            }
            "session.logout" => {
                check(a, &["sid"])?;
                a.text("sid")?;
                Ok(empty())
            }
            "session.status" => {
                check(a, &["sid"])?;
                let state = if a.text("sid")? == LOCKED_SID {
                    "locked"
                } else {
                    "active"
                };
                Ok(map(vec![("user", "alice".into()), ("state", state.into())]))
            }
            _ => self.answer_rest(op, a),
        }
    }

    fn answer_rest(&self, op: &str, a: &Args) -> Result<Value, WireError> {
        let device_key = || {
            map(vec![
                ("public_key", Value::Bytes(PUBLIC_KEY.to_vec())),
                ("kid", DEVICE_KID.into()),
                ("version", 1u64.into()),
            ])
        };
        match op {
            "attest" => {
                check(a, &["purpose", "name", "nonce", "claims"])?;
                a.text("purpose")?;
                Self::named(a, "key")?;
                let n = a.bytes("nonce")?.len();
                if !(8..=64).contains(&n) {
                    return Err(ArgError::Invalid("nonce".into()).into());
                }
                match a.get("claims") {
                    None | Some(Value::Map(_)) => {}
                    Some(_) => return Err(ArgError::Invalid("claims".into()).into()),
                }
                Ok(map(vec![
                    ("token", Value::Bytes(TOKEN.to_vec())),
                    ("device_kid", DEVICE_KID.into()),
                ]))
            }
            "attest.device_key" | "attest.rotate_device_key" => {
                check(a, &[])?;
                Ok(device_key())
            }
            "bundle.install" | "update.stage" => {
                check(a, &["path", "force"])?;
                a.text("path")?;
                a.opt_bool("force")?;
                let first = if op == "bundle.install" {
                    ("name", "com.example.app")
                } else {
                    ("slot", "b")
                };
                Ok(map(vec![
                    (first.0, first.1.into()),
                    ("version", "1.2.0".into()),
                    ("signer_kid", ADDED_KID.into()),
                ]))
            }
            "bundle.uninstall" => {
                check(a, &["name"])?;
                Self::named(a, "bundle")?;
                Ok(empty())
            }
            "bundle.list" => {
                check(a, &[])?;
                Ok(map(vec![(
                    "bundles",
                    Value::Array(vec![map(vec![
                        ("name", "com.example.app".into()),
                        ("version", "1.2.0".into()),
                    ])]),
                )]))
            }
            "update.commit" => {
                check(a, &[])?;
                Ok(map(vec![
                    ("active", "b".into()),
                    ("version", "1.2.0".into()),
                ]))
            }
            "update.rollback" => {
                check(a, &[])?;
                Ok(empty())
            }
            "update.status" => {
                check(a, &[])?;
                Ok(map(vec![
                    ("active", "a".into()),
                    ("pending", "b".into()),
                    (
                        "versions",
                        map(vec![("a", "1.1.0".into()), ("b", "1.2.0".into())]),
                    ),
                ]))
            }
            other => Err(WireError::unknown_op(other)),
        }
    }
}

//! A fake that speaks every op of docs/architecture/services.md: it
//! decodes each request's arguments with the op's `nexus-proto` types, as
//! a daemon does (names, CBOR types, required/optional, validation), and
//! answers with the op's typed reply.
//!
//! Behaviour is canned and small, but enough to tell success from each
//! documented error: the vault is a real map (put then get returns the
//! value), [`PASSWORD`] is the only password that logs in, [`FAKE_SIG`] is
//! the only signature that verifies, `missing` names nothing (`ENOENT`),
//! `exists` already exists (`EALREADY`), the session [`LOCKED_SID`] is
//! locked (`ELOCKED`) and every session id but it and [`SID`] names
//! nothing (`EPERM` "no such session", from the vault and the session ops
//! alike), [`SYSTEM_KID`] is a system root (`trust.rm` is `EPERM`), and
//! `key.list` of the app [`DAMAGED_APP`] has one damaged record besides its
//! readable key.

use nexus_core::{AppId, Kid, Label, SessionId};
use nexus_proto::{
    self as proto, Alg, BundleInfo, BundleInstallReply, BundleListReply, Bytes, DeviceInfoReply,
    DeviceKeyReply, Empty, KeyCreateReply, KeyExportReply, KeyListReply, KeySealReply,
    KeySignReply, KeyState, KeyUnsealReply, KeyVerifyReply, KeyVersionInfo, KidReply, RootInfo,
    RootSource, RootStatus, SessionLoginReply, SessionState, SessionStatusReply, Slot,
    SlotVersions, StateReply, StatusReply, TrustAddForm, TrustListReply, UpdateCommitReply,
    UpdateStageReply, UpdateStatusReply, UserListReply, VaultGetReply, VaultListReply,
    VersionState, WarningsReply,
};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use wire::{ArgError, Args, ErrorCode, Value, WireError};

/// The one password the fake accepts.
pub const PASSWORD: &str = "correct horse battery staple";
/// The session id `session.login` returns.
pub const SID: &str = "00112233445566778899aabbccddeeff";
/// A session that is locked.
pub const LOCKED_SID: &str = "ffeeddccbbaa99887766554433221100";
/// `ENOENT` for a vault entry, naming it as keystored does.
fn no_entry(name: &str) -> WireError {
    err(ErrorCode::Enoent, &format!("no such entry `{name}`"))
}

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
/// An app whose `key.list` names one damaged record (`signing/broken`).
pub const DAMAGED_APP: &str = "com.example.damaged";

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

/// One of the constants above as its type (they are all valid).
fn parsed<T: FromStr>(text: &str) -> Result<T, WireError> {
    text.parse()
        .map_err(|_| err(ErrorCode::Eio, "the fake's own constant does not parse"))
}

fn kid(text: &str) -> Result<Kid, WireError> {
    parsed(text)
}

fn key_info(purpose: Label, name: Label, app: AppId) -> Result<proto::KeyInfo, WireError> {
    let version = |version, state, created| -> Result<KeyVersionInfo, WireError> {
        Ok(KeyVersionInfo {
            version,
            state,
            created,
            kid: Some(kid(KID)?),
            public_key: Some(Bytes(PUBLIC_KEY.to_vec())),
        })
    };
    Ok(proto::KeyInfo {
        app,
        purpose,
        name,
        alg: Alg::Ed25519,
        state: KeyState::Active,
        primary: 2,
        min_version: 1,
        created: 1_700_000_000,
        rotated: 1_700_000_100,
        versions: vec![
            version(1, VersionState::Retired, 1_700_000_000)?,
            version(2, VersionState::Active, 1_700_000_100)?,
        ],
    })
}

fn created(version: u32, ed25519: bool) -> Result<KeyCreateReply, WireError> {
    Ok(KeyCreateReply {
        version,
        kid: if ed25519 { Some(kid(KID)?) } else { None },
        public_key: ed25519.then(|| Bytes(PUBLIC_KEY.to_vec())),
        warnings: vec![],
    })
}

fn root(kid_text: &str, source: RootSource, with_key: bool) -> Result<RootInfo, WireError> {
    Ok(RootInfo {
        kid: kid(kid_text)?,
        source,
        scopes: vec!["packages".into()],
        label: "publisher".into(),
        not_before: 0,
        not_after: 4_102_444_800,
        status: RootStatus::Valid,
        public_key: with_key.then(|| Bytes(PUBLIC_KEY.to_vec())),
    })
}

fn device_key() -> Result<DeviceKeyReply, WireError> {
    Ok(DeviceKeyReply {
        public_key: Bytes(PUBLIC_KEY.to_vec()),
        kid: kid(DEVICE_KID)?,
        version: 1,
    })
}

fn default_app() -> Result<AppId, WireError> {
    parsed("com.example.alpha")
}

/// `missing` names nothing.
fn named(name: &str, what: &str) -> Result<(), WireError> {
    match name {
        "missing" => Err(err(ErrorCode::Enoent, &format!("no such {what}"))),
        _ => Ok(()),
    }
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

    /// A vault op's session: usable, locked, or no such session.
    fn session(sid: &SessionId) -> Result<(), WireError> {
        Self::known(sid)?;
        match sid.to_string().as_str() {
            LOCKED_SID => Err(err(ErrorCode::Elocked, "the session is locked")),
            _ => Ok(()),
        }
    }

    /// A session op's session: known ([`SID`], [`LOCKED_SID`]) or `EPERM`
    /// "no such session".
    fn known(sid: &SessionId) -> Result<(), WireError> {
        match sid.to_string().as_str() {
            SID | LOCKED_SID => Ok(()),
            _ => Err(err(ErrorCode::Eperm, "no such session")),
        }
    }

    /// Answer one request: its arguments are decoded with the op's
    /// `nexus-proto` types, exactly as a daemon decodes them.
    pub fn answer(&self, op: &str, a: &Args) -> Result<Value, WireError> {
        use proto::answer;
        let mut vault = self.vault.lock().unwrap_or_else(PoisonError::into_inner);
        match op {
            "status" => answer::<proto::Status>(a, |_| {
                Ok(StatusReply {
                    service: self.service.clone(),
                    volatile: true,
                    insecure: false,
                    version: "0.1.0".into(),
                    damaged: None,
                })
            }),
            "key.create" => answer::<proto::KeyCreate>(a, |a| {
                if a.name.as_str() == "exists" {
                    return Err(err(ErrorCode::Ealready, "the key exists"));
                }
                created(1, a.alg == Alg::Ed25519)
            }),
            "key.import" => answer::<proto::KeyImport>(a, |a| {
                if a.name.as_str() == "exists" {
                    return Err(err(ErrorCode::Ealready, "the key exists"));
                }
                if a.private.len() != 32 {
                    return Err(WireError::from(wire::ArgError::Invalid("private".into())));
                }
                created(1, true)
            }),
            "key.rotate" => answer::<proto::KeyRotate>(a, |a| {
                named(a.name.as_str(), "key")?;
                created(3, true)
            }),
            "key.revoke" => answer::<proto::KeyRevoke>(a, |a| {
                named(a.name.as_str(), "key")?;
                Ok(Empty {})
            }),
            "key.retire" => answer::<proto::KeyRetire>(a, |a| {
                named(a.name.as_str(), "key")?;
                Ok(Empty {})
            }),
            "key.delete" => answer::<proto::KeyDelete>(a, |a| {
                named(a.name.as_str(), "key")?;
                Ok(Empty {})
            }),
            "key.list" => answer::<proto::KeyList>(a, |a| {
                let app = a.app.map_or_else(default_app, Ok)?;
                let damaged = if app.as_str() == DAMAGED_APP {
                    vec![proto::DamagedKey {
                        app: app.clone(),
                        purpose: parsed("signing")?,
                        name: parsed("broken")?,
                        record: format!("state:/keystore/{app}/signing/broken"),
                        error: format!(
                            "EIO: corrupt record at state:/keystore/{app}/signing/broken: checksum mismatch"
                        ),
                    }]
                } else {
                    Vec::new()
                };
                Ok(KeyListReply {
                    keys: vec![key_info(parsed("signing")?, parsed("k1")?, app)?],
                    damaged,
                })
            }),
            "key.show" => answer::<proto::KeyShow>(a, |a| {
                named(a.name.as_str(), "key")?;
                let app = a.app.map_or_else(default_app, Ok)?;
                key_info(a.purpose, a.name, app)
            }),
            "key.sign" => answer::<proto::KeySign>(a, |a| {
                named(a.name.as_str(), "key")?;
                Ok(KeySignReply {
                    sig: Bytes(FAKE_SIG.to_vec()),
                    kid: kid(KID)?,
                    version: 2,
                    shown: None,
                })
            }),
            "key.verify" => answer::<proto::KeyVerify>(a, |a| {
                named(a.name.as_str(), "key")?;
                if a.sig.as_slice() != FAKE_SIG {
                    return Err(err(ErrorCode::Eperm, "signature does not verify"));
                }
                Ok(KeyVerifyReply {
                    valid: true,
                    version: 2,
                    kid: kid(KID)?,
                })
            }),
            "key.seal" => answer::<proto::KeySeal>(a, |a| {
                named(a.name.as_str(), "key")?;
                let mut sealed = SEAL_PREFIX.to_vec();
                sealed.extend_from_slice(a.pt.expose());
                Ok(KeySealReply {
                    sealed: Bytes(sealed),
                    version: 2,
                })
            }),
            "key.unseal" => answer::<proto::KeyUnseal>(a, |a| {
                named(a.name.as_str(), "key")?;
                let pt = a
                    .sealed
                    .strip_prefix(SEAL_PREFIX)
                    .ok_or_else(|| err(ErrorCode::Eio, "cannot unseal"))?;
                Ok(KeyUnsealReply {
                    pt: proto::Secret::copy_from(pt),
                    version: 2,
                })
            }),
            "key.export" => answer::<proto::KeyExport>(a, |a| {
                named(a.name.as_str(), "key")?;
                Ok(KeyExportReply {
                    blob: Bytes(b"wrapped-blob".to_vec()),
                    app: default_app()?,
                    purpose: a.purpose,
                    name: a.name,
                    version: 2,
                    alg: Alg::Ed25519,
                })
            }),
            "device.info" => answer::<proto::DeviceInfo>(a, |_| {
                Ok(DeviceInfoReply {
                    device_id: Bytes(vec![9; 32]),
                    insecure: false,
                    volatile: true,
                })
            }),
            "vault.put" => answer::<proto::VaultPut>(a, |a| {
                Self::session(&a.sid)?;
                vault.insert(a.name, a.value.expose().to_vec());
                Ok(WarningsReply { warnings: vec![] })
            }),
            "vault.get" => answer::<proto::VaultGet>(a, |a| {
                Self::session(&a.sid)?;
                let v = vault.get(&a.name).ok_or_else(|| no_entry(&a.name))?;
                Ok(VaultGetReply {
                    value: proto::Secret::copy_from(v),
                })
            }),
            "vault.del" => answer::<proto::VaultDel>(a, |a| {
                Self::session(&a.sid)?;
                vault.remove(&a.name).ok_or_else(|| no_entry(&a.name))?;
                Ok(Empty {})
            }),
            "vault.list" => answer::<proto::VaultList>(a, |a| {
                Self::session(&a.sid)?;
                Ok(VaultListReply {
                    names: vault.keys().cloned().collect(),
                })
            }),
            "vault.purge" => answer::<proto::VaultPurge>(a, |_| {
                Err::<Empty, _>(err(ErrorCode::Eperm, "vault.purge is identityd's alone"))
            }),
            _ => self.answer_more(op, a),
        }
    }

    fn answer_more(&self, op: &str, a: &Args) -> Result<Value, WireError> {
        use proto::answer;
        match op {
            "trust.add" => answer::<proto::TrustAdd>(a, |a| {
                let text = match a.form()? {
                    TrustAddForm::RootFile(text) => text,
                    TrustAddForm::Key { public_key, .. } => public_key,
                };
                let kid = kid_of(&text).unwrap_or_else(|| ADDED_KID.to_owned());
                Ok(KidReply {
                    kid: self::kid(&kid)?,
                })
            }),
            "trust.list" => answer::<proto::TrustList>(a, |_| {
                Ok(TrustListReply {
                    roots: vec![
                        root(SYSTEM_KID, RootSource::System, false)?,
                        root(ADDED_KID, RootSource::Installed, false)?,
                    ],
                    damaged: None,
                })
            }),
            "trust.update" => answer::<proto::TrustUpdate>(a, |a| match a.kid.to_hex().as_str() {
                ADDED_KID => root(ADDED_KID, RootSource::Installed, false),
                _ => Err(WireError::new(ErrorCode::Enoent, "no installed root")),
            }),
            "trust.show" => answer::<proto::TrustShow>(a, |a| match a.kid.to_hex().as_str() {
                SYSTEM_KID => root(SYSTEM_KID, RootSource::System, true),
                ADDED_KID => root(ADDED_KID, RootSource::Installed, true),
                _ => Err(err(ErrorCode::Enoent, "no such root")),
            }),
            "trust.rm" => answer::<proto::TrustRm>(a, |a| match a.kid.to_hex().as_str() {
                SYSTEM_KID => Err(err(
                    ErrorCode::Eperm,
                    "a system root cannot be removed: distrust it instead",
                )),
                ADDED_KID => Ok(Empty {}),
                _ => Err(err(ErrorCode::Enoent, "no such root")),
            }),
            "trust.distrust" => {
                answer::<proto::TrustDistrust>(a, |a| match a.kid.to_hex().as_str() {
                    SYSTEM_KID | ADDED_KID => Ok(Empty {}),
                    _ => Err(err(ErrorCode::Enoent, "no such root")),
                })
            }
            "user.create" => answer::<proto::UserCreate>(a, |a| {
                if a.user.as_str() == "exists" {
                    return Err(err(ErrorCode::Ealready, "the user exists"));
                }
                Ok(Empty {})
            }),
            "user.delete" => answer::<proto::UserDelete>(a, |_| Ok(Empty {})),
            "user.list" => answer::<proto::UserList>(a, |_| {
                Ok(UserListReply {
                    users: vec![parsed("alice")?, parsed("bob")?],
                })
            }),
            "user.passwd" => answer::<proto::UserPasswd>(a, |a| {
                if a.old.expose() != PASSWORD {
                    return Err(err(ErrorCode::Eperm, "wrong user or password"));
                }
                Ok(Empty {})
            }),
            "session.login" => answer::<proto::SessionLogin>(a, |a| {
                if a.password.expose() != PASSWORD {
                    return Err(err(ErrorCode::Eperm, "wrong user or password"));
                }
                Ok(SessionLoginReply {
                    sid: parsed(SID)?,
                    user: a.user,
                    state: SessionState::Active,
                })
            }),
            "session.lock" => answer::<proto::SessionLock>(a, |a| {
                Self::known(&a.sid)?;
                Ok(StateReply {
                    state: SessionState::Locked,
                })
            }),
            "session.unlock" => answer::<proto::SessionUnlock>(a, |a| {
                Self::known(&a.sid)?;
                if a.password.expose() != PASSWORD {
                    return Err(err(ErrorCode::Eperm, "wrong user or password"));
                }
                Ok(StateReply {
                    state: SessionState::Active,
                })
            }),
            "session.logout" => answer::<proto::SessionLogout>(a, |a| {
                Self::known(&a.sid)?;
                Ok(Empty {})
            }),
            "session.status" => answer::<proto::SessionStatus>(a, |a| {
                Self::known(&a.sid)?;
                let state = if a.sid.to_string() == LOCKED_SID {
                    SessionState::Locked
                } else {
                    SessionState::Active
                };
                Ok(SessionStatusReply {
                    user: parsed("alice")?,
                    state,
                })
            }),
            _ => self.answer_rest(op, a),
        }
    }

    fn answer_rest(&self, op: &str, a: &Args) -> Result<Value, WireError> {
        use proto::answer;
        match op {
            "attest" => answer::<proto::Attest>(a, |a| {
                named(a.name.as_str(), "key")?;
                if !(8..=64).contains(&a.nonce.len()) {
                    return Err(ArgError::Invalid("nonce".into()).into());
                }
                Ok(proto::AttestReply {
                    token: Bytes(TOKEN.to_vec()),
                    device_kid: kid(DEVICE_KID)?,
                })
            }),
            "attest.device_key" => answer::<proto::AttestDeviceKey>(a, |_| device_key()),
            "attest.rotate_device_key" => {
                answer::<proto::AttestRotateDeviceKey>(a, |_| device_key())
            }
            "bundle.install" => answer::<proto::BundleInstall>(a, |_| {
                Ok(BundleInstallReply {
                    name: parsed("com.example.app")?,
                    version: "1.2.0".into(),
                    signer_kid: kid(ADDED_KID)?,
                })
            }),
            "update.stage" => answer::<proto::UpdateStage>(a, |_| {
                Ok(UpdateStageReply {
                    slot: Slot::B,
                    version: "1.2.0".into(),
                    signer_kid: kid(ADDED_KID)?,
                })
            }),
            "bundle.uninstall" => answer::<proto::BundleUninstall>(a, |a| {
                named(a.name.as_str(), "bundle")?;
                Ok(Empty {})
            }),
            "bundle.list" => answer::<proto::BundleList>(a, |_| {
                Ok(BundleListReply {
                    bundles: vec![BundleInfo {
                        name: parsed("com.example.app")?,
                        version: Some("1.2.0".into()),
                        error: None,
                    }],
                })
            }),
            "update.commit" => answer::<proto::UpdateCommit>(a, |_| {
                Ok(UpdateCommitReply {
                    active: Slot::B,
                    version: "1.2.0".into(),
                })
            }),
            "update.rollback" => answer::<proto::UpdateRollback>(a, |_| {
                Ok(UpdateCommitReply {
                    active: Slot::A,
                    version: "1.1.0".into(),
                })
            }),
            "update.status" => answer::<proto::UpdateStatus>(a, |_| {
                Ok(UpdateStatusReply {
                    active: Slot::A,
                    pending: Some(Slot::B),
                    versions: SlotVersions(vec![
                        (Slot::A, "1.1.0".into()),
                        (Slot::B, "1.2.0".into()),
                    ]),
                    previous: None,
                })
            }),
            other => Err(WireError::unknown_op(other)),
        }
    }
}

//! `nx key import`, `nx key export-public`, and the keystore key as a
//! minisign signer (for `nx key sign --minisig`, `nx bundle sign --key
//! PURPOSE/NAME`, `nx update sign --key PURPOSE/NAME`).
//!
//! Invariants:
//! - An imported key file is parsed here (`crate::keyfile`) and only its
//!   seed is sent, in a zeroizing buffer; the public key keystored
//!   answers must be the file's, else the command fails with `EIO`.
//! - A public key handed out is first parsed strictly (canonical, not
//!   weak) and its kid recomputed and compared with keystored's: a key
//!   that does not match its kid is never printed.
//! - A keystore signer signs with the version it was set up with: a
//!   signature that comes back under another kid (the key was rotated
//!   meanwhile) is refused, never written.

use crate::cli::{ExportPublicArgs, ImportArgs, KeyIdArg, PublicFormat};
use crate::ctx::{b64, obj, Ctx};
use crate::error::NxError;
use crate::io::{read_file, read_password};
use crate::keyfile;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use nexus_core::{AppId, Coded, ErrorCode, Kid, Label};
use nexus_keychain::{KeyAlg, KeyState, Keychain, KeychainError, VersionState};
use nexus_ssh_agent::identities::openssh_line;
use serde_json::{json, Value as Json};
use trust::minisign::{MinisignKeyId, MinisignPublicKey, MinisignSigner, SignerError, DIGEST_LEN};

fn local(code: ErrorCode, msg: String) -> NxError {
    NxError::Local { code, msg }
}

/// One version's public key, as keystored describes it.
pub(crate) struct PublicKey {
    pub(crate) app: AppId,
    pub(crate) version: u64,
    pub(crate) kid: Kid,
    pub(crate) key: VerifyingKey,
}

/// The public key of `purpose/name`, version `version` (default primary),
/// checked strictly and against its kid. Revoked or retired versions are
/// refused (`EKEYREVOKED`): their key should not be handed out.
pub(crate) fn public_key(
    kc: &Keychain,
    purpose: &Label,
    name: &Label,
    version: Option<u64>,
    app: Option<&AppId>,
) -> Result<PublicKey, NxError> {
    let info = kc.show_key(purpose, name, app)?;
    let key = format!("{}/{}/{}", info.app, purpose, name);
    if info.alg != KeyAlg::Ed25519 {
        return Err(local(
            ErrorCode::Einval,
            format!("key {key} is an {} key: it has no public key", info.alg),
        ));
    }
    if info.state == KeyState::Revoked {
        return Err(local(
            ErrorCode::Ekeyrevoked,
            format!("key {key} is revoked"),
        ));
    }
    let v = version.unwrap_or(info.primary);
    let ver = info
        .versions
        .iter()
        .find(|x| x.version == v)
        .ok_or_else(|| local(ErrorCode::Enoent, format!("key {key} has no version {v}")))?;
    if ver.state != VersionState::Active {
        return Err(local(
            ErrorCode::Ekeyrevoked,
            format!("key {key} version {v} is {}", ver.state),
        ));
    }
    let corrupt = |what: &str| local(ErrorCode::Eio, format!("keystored's {what} for {key}"));
    let bytes = ver
        .public_key
        .as_deref()
        .ok_or_else(|| corrupt("reply has no public key"))?;
    let vk = keymint::ed25519::parse_public_key(bytes)
        .map_err(|_| corrupt("public key is not an acceptable Ed25519 key"))?;
    let kid = keymint::kid::ed25519_kid(&vk);
    if ver.kid != Some(kid) {
        return Err(corrupt("kid does not match its public key"));
    }
    Ok(PublicKey {
        app: info.app,
        version: v,
        kid,
        key: vk,
    })
}

/// `nx key import`.
pub fn import(ctx: &mut Ctx<'_>, kc: &Keychain, a: ImportArgs) -> Result<(), NxError> {
    let what = a.from.display().to_string();
    let bytes = read_file(&a.from)?;
    let password_file = a.password_file.clone();
    let io = &mut ctx.io;
    let parsed = keyfile::parse(&bytes, &what, &mut || {
        let prompt = format!("Passphrase of {what}");
        read_password(io, password_file.as_deref(), &prompt).map_err(|e| match e {
            NxError::Usage(m) => NxError::Usage(format!(
                "{what} is encrypted: give its passphrase on stdin or with --password-file ({m})"
            )),
            e => e,
        })
    })?;
    drop(bytes);
    let c = kc.import_key(&a.purpose, &a.name, KeyAlg::Ed25519, parsed.expose_seed())?;
    let key = format!("{}/{}", a.purpose, a.name);
    if c.public_key.as_deref() != Some(&parsed.public()[..]) {
        return Err(local(
            ErrorCode::Eio,
            format!(
                "keystored answered another public key than the file's for {key}: \
                 do not use it; revoke it (nx key revoke {} {})",
                a.purpose, a.name
            ),
        ));
    }
    for w in &c.warnings {
        ctx.warn(w);
    }
    let key_id = parsed.minisign_key_id.map(|k| k.to_hex());
    let j = json!({
        "purpose": a.purpose.as_str(),
        "name": a.name.as_str(),
        "version": c.version,
        "kid": c.kid.map(|k| k.to_hex()),
        "public_key_b64": b64(parsed.public()),
        "format": parsed.format.as_str(),
        "minisign_key_id": key_id,
        "warnings": c.warnings,
    });
    let kid = c.kid.map_or_else(String::new, |k| format!(" kid {k}"));
    let mut human = format!(
        "imported {key} version {}{kid} from {} file {what}",
        c.version,
        parsed.format.as_str()
    );
    if let Some(id) = key_id {
        human.push_str(&format!(
            "\nits minisign key id is {id}: sign with --minisign-key-id {id} to keep \
             verifying with its existing public key file"
        ));
    }
    ctx.emit(j, &human)
}

/// `nx key export-public`.
pub fn export_public(ctx: &mut Ctx<'_>, kc: &Keychain, a: ExportPublicArgs) -> Result<(), NxError> {
    let pk = public_key(kc, &a.purpose, &a.name, a.version, a.app.as_ref())?;
    let comment = format!("{}/{}/{} v{}", pk.app, a.purpose, a.name, pk.version);
    let bytes: Vec<u8> = match a.format {
        PublicFormat::Pem => pk
            .key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| local(ErrorCode::Eio, format!("encoding the PEM failed: {e}")))?
            .into_bytes(),
        PublicFormat::Openssh => {
            format!("{}\n", openssh_line(pk.key.as_bytes(), &comment)).into_bytes()
        }
        PublicFormat::Minisign => {
            let id = a
                .minisign_key_id
                .map_or_else(|| MinisignKeyId::from_kid(&pk.kid), |KeyIdArg(id)| id);
            MinisignPublicKey::new(id, pk.key)
                .to_file_text()
                .into_bytes()
        }
        PublicFormat::Raw => pk.key.as_bytes().to_vec(),
    };
    let meta = obj([
        ("app", Json::String(pk.app.to_string())),
        ("purpose", Json::String(a.purpose.to_string())),
        ("name", Json::String(a.name.to_string())),
        ("version", Json::from(pk.version)),
        ("kid", Json::String(pk.kid.to_hex())),
        ("format", Json::String(a.format.as_str().to_owned())),
    ]);
    let human = format!(
        "wrote the {} public key of {comment} (kid {})",
        a.format.as_str(),
        pk.kid
    );
    ctx.emit_data(a.out.as_deref(), "public_key", &bytes, meta, &human)
}

/// A keystore key signing minisign files through keystored: the digest
/// with `key.sign` prehashed, the global signature with plain `key.sign`.
pub(crate) struct KeystoreSigner<'a> {
    kc: &'a Keychain,
    purpose: Label,
    name: Label,
    pub(crate) public: PublicKey,
    key_id: MinisignKeyId,
}

impl<'a> KeystoreSigner<'a> {
    /// The primary version of `purpose/name` in the caller's namespace;
    /// its minisign key number is `key_id`, or derived from its kid.
    pub(crate) fn primary(
        kc: &'a Keychain,
        purpose: Label,
        name: Label,
        key_id: Option<MinisignKeyId>,
    ) -> Result<KeystoreSigner<'a>, NxError> {
        let public = public_key(kc, &purpose, &name, None, None)?;
        let key_id = key_id.unwrap_or_else(|| MinisignKeyId::from_kid(&public.kid));
        Ok(KeystoreSigner {
            kc,
            purpose,
            name,
            public,
            key_id,
        })
    }

    /// `purpose/name`.
    pub(crate) fn key_name(&self) -> String {
        format!("{}/{}", self.purpose, self.name)
    }

    fn checked(
        &self,
        r: Result<nexus_keychain::Signed, KeychainError>,
    ) -> Result<Signature, SignerError> {
        let s = r.map_err(|e| SignerError {
            code: e.code(),
            msg: e.to_string(),
        })?;
        if s.kid != self.public.kid {
            return Err(SignerError {
                code: ErrorCode::Eio,
                msg: format!(
                    "{} was rotated while signing (now version {}): sign again",
                    self.key_name(),
                    s.version
                ),
            });
        }
        Signature::from_slice(&s.sig).map_err(|_| SignerError {
            code: ErrorCode::Eio,
            msg: "keystored's signature is not 64 bytes".into(),
        })
    }
}

impl MinisignSigner for KeystoreSigner<'_> {
    fn key_id(&self) -> MinisignKeyId {
        self.key_id
    }

    fn verifying_key(&self) -> VerifyingKey {
        self.public.key
    }

    fn sign_digest(&self, digest: &[u8; DIGEST_LEN]) -> Result<Signature, SignerError> {
        self.checked(self.kc.sign_prehashed(&self.purpose, &self.name, digest))
    }

    fn sign_message(&self, msg: &[u8]) -> Result<Signature, SignerError> {
        self.checked(self.kc.sign(&self.purpose, &self.name, msg))
    }
}

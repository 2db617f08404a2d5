//! `nx key sign --prehash | --minisig` and `nx key verify --prehash` (or
//! a `.minisig` signature file): messages of any size, hashed here with
//! BLAKE2b-512 in pieces; only the 64-byte digest goes to keystored.
//!
//! Invariants: the message is streamed, never held whole, so its size is
//! not bounded; a `.minisig` is written only after both of its
//! signatures verified with the key's public key (trust checks it); a
//! `.minisig` verifies only if both its signatures verify with the same
//! key version.

use crate::cli::SignForm;
use crate::cmd::keyfmt::KeystoreSigner;
use crate::ctx::{obj, Ctx};
use crate::error::NxError;
use crate::io::Io;
use nexus_core::{AppId, Label};
use nexus_keychain::Keychain;
use serde_json::{json, Value as Json};
use std::fs::File;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use trust::minisign::{digest_reader, MinisignSignature, DIGEST_LEN};

/// The untrusted comment of the `.minisig` files `nx` writes.
const UNTRUSTED: &str = "signature from a nexus keystore key";

/// BLAKE2b-512 of `--in FILE` or of all of stdin.
pub(crate) fn digest_input(
    io: &mut Io<'_>,
    path: Option<&Path>,
) -> Result<[u8; DIGEST_LEN], NxError> {
    match path {
        Some(p) => {
            let what = p.display().to_string();
            let f = File::open(p).map_err(|e| NxError::io(&what, &e))?;
            digest_reader(f).map_err(|e| NxError::io(&what, &e))
        }
        None => digest_reader(&mut *io.stdin).map_err(|e| NxError::io("stdin", &e)),
    }
}

/// Whether a signature file is a minisign `.minisig`.
pub(crate) fn is_minisig(sig: &[u8]) -> bool {
    sig.starts_with(b"untrusted comment:")
}

fn default_comment(input: Option<&Path>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let file = input
        .and_then(Path::file_name)
        .map_or_else(|| "stdin".to_owned(), |n| n.to_string_lossy().into_owned());
    format!("timestamp:{now}\tfile:{file}\thashed")
}

/// `nx key sign --prehash` or `--minisig`.
pub fn sign(
    ctx: &mut Ctx<'_>,
    kc: &Keychain,
    (purpose, name): (&Label, &Label),
    input: Option<&Path>,
    out: Option<&Path>,
    form: SignForm,
) -> Result<(), NxError> {
    let digest = digest_input(&mut ctx.io, input)?;
    if !form.minisig {
        let s = kc.sign_prehashed(purpose, name, &digest)?;
        let meta = obj([
            ("kid", Json::String(s.kid.to_hex())),
            ("version", Json::from(s.version)),
            ("prehash", Json::String("BLAKE2b-512".into())),
        ]);
        let human = format!(
            "signed the BLAKE2b-512 digest with version {} kid {}",
            s.version, s.kid
        );
        return ctx.emit_data(out, "sig", &s.sig, meta, &human);
    }
    let signer = KeystoreSigner::primary(
        kc,
        purpose.clone(),
        name.clone(),
        form.minisign_key_id.map(|k| k.0),
    )?;
    let comment = form
        .trusted_comment
        .unwrap_or_else(|| default_comment(input));
    let sig = MinisignSignature::sign_digest_with(&signer, &digest, &comment, UNTRUSTED)
        .map_err(|e| NxError::local("signing failed", &e))?;
    let meta = obj([
        ("kid", Json::String(signer.public.kid.to_hex())),
        ("version", Json::from(signer.public.version)),
        ("minisign_key_id", Json::String(sig.key_id().to_hex())),
        ("trusted_comment", Json::String(comment)),
    ]);
    let human = format!(
        "wrote a minisign signature by version {} kid {} (minisign key id {})",
        signer.public.version,
        signer.public.kid,
        sig.key_id()
    );
    ctx.emit_data(out, "minisig", sig.to_text().as_bytes(), meta, &human)
}

/// `nx key verify` of a prehashed signature (raw, with `--prehash`) or a
/// `.minisig` file.
pub fn verify(
    ctx: &mut Ctx<'_>,
    kc: &Keychain,
    (purpose, name): (&Label, &Label),
    sig: &[u8],
    input: Option<&Path>,
    version: Option<u64>,
    app: Option<&AppId>,
) -> Result<(), NxError> {
    let digest = digest_input(&mut ctx.io, input)?;
    if !is_minisig(sig) {
        let v = kc.verify_prehashed(purpose, name, &digest, sig, version, app)?;
        let j = json!({ "valid": true, "version": v.version, "kid": v.kid.to_hex(),
            "prehash": "BLAKE2b-512" });
        return ctx.emit(j, &format!("valid: version {} kid {}", v.version, v.kid));
    }
    let m = MinisignSignature::parse(sig)
        .map_err(|e| NxError::usage(format!("--sig: malformed minisign signature: {e}")))?;
    let v = kc.verify_prehashed(purpose, name, &digest, &m.message_signature(), version, app)?;
    let (global, signed) = m.global_signature();
    // The trusted comment must be signed by the same version.
    kc.verify(purpose, name, &signed, &global, Some(v.version), app)?;
    let j = json!({ "valid": true, "version": v.version, "kid": v.kid.to_hex(),
        "prehash": "BLAKE2b-512", "trusted_comment": m.trusted_comment() });
    let human = format!(
        "valid: version {} kid {}\ntrusted comment: {}",
        v.version,
        v.kid,
        m.trusted_comment()
    );
    ctx.emit(j, &human)
}

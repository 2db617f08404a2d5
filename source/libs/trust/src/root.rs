//! Trust roots and their file format.
//!
//! A root file is named `<kid-hex>.toml`, where kid is the RFC 9679
//! thumbprint of its key, and holds exactly (format 2):
//!
//! ```toml
//! format = 2
//! algorithm = "Ed25519"
//! public_key = "<base64 of the 32-byte key>"
//! minisign_key_id = "3B6A5A5F54BE79A5"   # optional
//! label = "nexus-packages-2025"
//! scopes = ["packages"]
//! not_before = 1735689600
//! not_after = 1893456000
//! checksum = "sha256:<64 hex digits>"
//! ```
//!
//! The last line is the checksum: SHA-256 of every byte before it, so a
//! flipped bit anywhere makes the file refused instead of loaded with
//! another meaning (a digit of `not_after`, a letter of the label, the
//! minisign key number). The store reads only this format
//! ([`TrustRoot::parse_file`]). Format 1 (the same fields without the
//! checksum line) is still accepted from a person handing a root in
//! ([`TrustRoot::parse`]), and converted by `nx key trust seal`.
//! Distrust entries have the same checksum line.
//!
//! Invariants: a [`TrustRoot`] holds a canonical, non-weak key, a valid
//! label, at least one scope without duplicates and `not_before <
//! not_after`. Nothing in the file says whether the root is a system or an
//! installed one: that comes from where the file lives.

use crate::fields::{FieldError, Fields};
use crate::minisign::{MinisignKeyId, MinisignPublicKey};
use crate::scope::Scope;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use keymint::kid::{ed25519_kid, Kid};
use nexus_core::{Coded, ErrorCode, IdError, Label};
use sha2::Digest;
use std::collections::BTreeSet;

/// The root file format the store reads and every writer writes.
pub const ROOT_FORMAT: i64 = 2;
/// The first format: no checksum line. Read only from people's files and
/// by the upgrade of an old state directory.
pub const LEGACY_ROOT_FORMAT: i64 = 1;
const CHECKSUM_PREFIX: &str = "checksum = \"sha256:";
/// The only algorithm.
pub const ALGORITHM: &str = "Ed25519";
/// The largest root or distrust file read, in bytes.
pub const MAX_ROOT_FILE: usize = 16 * 1024;

/// Why a root file (or a distrust entry) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootError {
    /// Larger than [`MAX_ROOT_FILE`].
    #[error("root file too large")]
    TooLarge,
    /// Not UTF-8.
    #[error("root file is not text")]
    NotText,
    /// A structural problem (syntax, missing, unknown or mistyped field).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// A format version this build does not know.
    #[error("unsupported root file format {0}")]
    UnsupportedFormat(i64),
    /// An algorithm other than Ed25519.
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// The key is not canonical base64.
    #[error("public key is not base64")]
    BadBase64,
    /// The key is not acceptable (length, encoding, weak point).
    #[error("bad public key: {0}")]
    BadKey(#[from] keymint::ed25519::PublicKeyError),
    /// `minisign_key_id` is not 16 hex digits.
    #[error("minisign_key_id must be 16 hex digits")]
    BadMinisignKeyId,
    /// The label is not a valid label.
    #[error("bad label: {0}")]
    BadLabel(#[from] IdError),
    /// A scope name is unknown, repeated, or there is none.
    #[error("scopes must be a non-empty set of \"packages\" and \"updates\"")]
    BadScopes,
    /// `not_before` is not before `not_after`, or a bound exceeds i64.
    #[error("validity window is empty or out of range")]
    BadValidity,
    /// The file name is not `<kid-hex>.toml` for this key (or, for a
    /// distrust entry, not the kid it holds).
    #[error("file name does not match the key id")]
    NameMismatch,
    /// A distrust entry's kid is not 64 hex digits.
    #[error("bad key id")]
    BadKid,
    /// A format-2 file without its checksum line (as the last line).
    #[error("no checksum line at the end of the file")]
    MissingChecksum,
    /// The checksum does not match the file: it was changed or damaged.
    #[error("checksum mismatch: the file was changed or damaged")]
    ChecksumMismatch,
}

impl Coded for RootError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// One trust root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRoot {
    key: VerifyingKey,
    kid: Kid,
    minisign_key_id: Option<MinisignKeyId>,
    label: Label,
    scopes: BTreeSet<Scope>,
    not_before: u64,
    not_after: u64,
}

fn check_validity(not_before: u64, not_after: u64) -> Result<(), RootError> {
    let max = i64::MAX.unsigned_abs();
    if not_before >= not_after || not_after > max {
        return Err(RootError::BadValidity);
    }
    Ok(())
}

fn scope_set(scopes: &[Scope]) -> Result<BTreeSet<Scope>, RootError> {
    let set: BTreeSet<Scope> = scopes.iter().copied().collect();
    if set.is_empty() || set.len() != scopes.len() {
        return Err(RootError::BadScopes);
    }
    Ok(set)
}

pub(crate) fn text(bytes: &[u8]) -> Result<&str, RootError> {
    if bytes.len() > MAX_ROOT_FILE {
        return Err(RootError::TooLarge);
    }
    std::str::from_utf8(bytes).map_err(|_| RootError::NotText)
}

/// A file's body and whether it ended in a checksum line that matched
/// (`Ok(None)`: no checksum line at all).
fn checked_body(t: &str) -> Result<(&str, bool), RootError> {
    let Some(without_nl) = t.strip_suffix('\n') else {
        return Ok((t, false));
    };
    let start = without_nl.rfind('\n').map_or(0, |i| i + 1);
    let (body, last) = (&t[..start], &without_nl[start..]);
    let Some(rest) = last.strip_prefix(CHECKSUM_PREFIX) else {
        return Ok((t, false));
    };
    let hex_part = rest.strip_suffix('"').ok_or(RootError::ChecksumMismatch)?;
    let mut want = [0u8; 32];
    if hex_part.len() != 64
        || hex_part.bytes().any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(hex_part, &mut want).is_err()
    {
        return Err(RootError::ChecksumMismatch);
    }
    let got: [u8; 32] = sha2::Sha256::digest(body.as_bytes()).into();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&got[..], &want[..])) {
        return Err(RootError::ChecksumMismatch);
    }
    Ok((body, true))
}

/// `body` followed by its checksum line.
pub(crate) fn seal(body: String) -> String {
    let sum = sha2::Sha256::digest(body.as_bytes());
    format!("{body}{CHECKSUM_PREFIX}{}\"\n", hex::encode(sum))
}

/// The fields of a file: format 2 (checksum verified) or, when
/// `legacy_ok`, format 1 (no checksum line).
fn fields_of(bytes: &[u8], legacy_ok: bool) -> Result<Fields, RootError> {
    let (body, sealed) = checked_body(text(bytes)?)?;
    let mut f = Fields::parse(body)?;
    let format = f.int("format")?;
    match (format, sealed) {
        (ROOT_FORMAT, true) => Ok(f),
        (ROOT_FORMAT, false) => Err(RootError::MissingChecksum),
        (LEGACY_ROOT_FORMAT, false) if legacy_ok => Ok(f),
        (other, _) => Err(RootError::UnsupportedFormat(other)),
    }
}

impl TrustRoot {
    /// Build a root from raw key bytes.
    pub fn new(
        public_key: &[u8],
        minisign_key_id: Option<MinisignKeyId>,
        label: Label,
        scopes: &[Scope],
        not_before: u64,
        not_after: u64,
    ) -> Result<Self, RootError> {
        let key = keymint::ed25519::parse_public_key(public_key)?;
        check_validity(not_before, not_after)?;
        Ok(TrustRoot {
            kid: ed25519_kid(&key),
            key,
            minisign_key_id,
            label,
            scopes: scope_set(scopes)?,
            not_before,
            not_after,
        })
    }

    /// Build a root from a minisign public key, keeping its key number.
    pub fn from_minisign(
        pk: &MinisignPublicKey,
        label: Label,
        scopes: &[Scope],
        not_before: u64,
        not_after: u64,
    ) -> Result<Self, RootError> {
        Self::new(
            pk.verifying_key().as_bytes(),
            Some(pk.key_id()),
            label,
            scopes,
            not_before,
            not_after,
        )
    }

    /// Parse a root file a person hands in: format 2 (checksum checked)
    /// or the first format, without a checksum.
    pub fn parse(bytes: &[u8]) -> Result<Self, RootError> {
        Self::from_fields(fields_of(bytes, true)?)
    }

    /// Parse a root file as the store holds it: format 2 only, checksum
    /// checked.
    pub fn parse_sealed(bytes: &[u8]) -> Result<Self, RootError> {
        Self::from_fields(fields_of(bytes, false)?)
    }

    fn from_fields(mut f: Fields) -> Result<Self, RootError> {
        if f.string("algorithm")? != ALGORITHM {
            return Err(RootError::UnsupportedAlgorithm);
        }
        let key_b64 = f.string("public_key")?;
        let minisign_key_id = match f.opt_string("minisign_key_id")? {
            Some(s) => Some(MinisignKeyId::from_hex(&s).ok_or(RootError::BadMinisignKeyId)?),
            None => None,
        };
        let label = Label::new(f.string("label")?)?;
        let scopes = f
            .strings("scopes")?
            .iter()
            .map(|s| Scope::parse(s).ok_or(RootError::BadScopes))
            .collect::<Result<Vec<_>, _>>()?;
        let not_before = f.u64("not_before")?;
        let not_after = f.u64("not_after")?;
        f.finish()?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_b64)
            .map_err(|_| RootError::BadBase64)?;
        Self::new(&key, minisign_key_id, label, &scopes, not_before, not_after)
    }

    /// Parse a root file of the store found under `file_name`, which must
    /// be `<kid-hex>.toml` for the key inside (format 2 only).
    pub fn parse_file(file_name: &str, bytes: &[u8]) -> Result<Self, RootError> {
        let root = Self::parse_sealed(bytes)?;
        if file_name != root.file_name() {
            return Err(RootError::NameMismatch);
        }
        Ok(root)
    }

    /// The file's contents (format 2, checksum line last). Every value is
    /// from a restricted charset (base64, hex, label, scope names,
    /// integers), so no TOML escaping is needed.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "format = {ROOT_FORMAT}\nalgorithm = \"{ALGORITHM}\"\npublic_key = \"{}\"\n",
            base64::engine::general_purpose::STANDARD.encode(self.key.as_bytes())
        );
        if let Some(id) = self.minisign_key_id {
            out.push_str(&format!("minisign_key_id = \"{id}\"\n"));
        }
        let scopes: Vec<String> = self.scopes.iter().map(|s| format!("\"{s}\"")).collect();
        out.push_str(&format!(
            "label = \"{}\"\nscopes = [{}]\nnot_before = {}\nnot_after = {}\n",
            self.label,
            scopes.join(", "),
            self.not_before,
            self.not_after
        ));
        seal(out)
    }

    /// `<kid-hex>.toml`.
    pub fn file_name(&self) -> String {
        format!("{}.toml", self.kid)
    }

    /// The RFC 9679 thumbprint of the key.
    pub fn kid(&self) -> Kid {
        self.kid
    }

    /// The Ed25519 key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The minisign key number, if recorded.
    pub fn minisign_key_id(&self) -> Option<MinisignKeyId> {
        self.minisign_key_id
    }

    /// The label.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The scopes, sorted.
    pub fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scopes.iter().copied()
    }

    /// Whether the root may vouch for `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Start of validity (inclusive), unix seconds.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// End of validity (exclusive), unix seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }
}

/// A distrust entry's contents (`format = 2`, `kid = "<hex>"`, checksum
/// line), checked against its file name.
pub fn parse_distrust(file_name: &str, bytes: &[u8]) -> Result<Kid, RootError> {
    distrust_from(fields_of(bytes, false)?, file_name)
}

/// A distrust entry of either format (the first had no checksum line).
pub fn parse_distrust_any(file_name: &str, bytes: &[u8]) -> Result<Kid, RootError> {
    distrust_from(fields_of(bytes, true)?, file_name)
}

fn distrust_from(mut f: Fields, file_name: &str) -> Result<Kid, RootError> {
    let kid_hex = f.string("kid")?;
    f.finish()?;
    let kid = Kid::from_hex(&kid_hex).map_err(|_| RootError::BadKid)?;
    if file_name != kid.to_hex() {
        return Err(RootError::NameMismatch);
    }
    Ok(kid)
}

/// A distrust entry's contents (format 2).
pub fn distrust_toml(kid: &Kid) -> String {
    seal(format!("format = {ROOT_FORMAT}\nkid = \"{kid}\"\n"))
}

#[cfg(test)]
#[path = "root_tests.rs"]
mod tests;

//! Trust roots and their file format.
//!
//! A root file is named `<kid-hex>.toml`, where kid is the RFC 9679
//! thumbprint of its key, and holds exactly:
//!
//! ```toml
//! format = 1
//! algorithm = "Ed25519"
//! public_key = "<base64 of the 32-byte key>"
//! minisign_key_id = "3B6A5A5F54BE79A5"   # optional
//! label = "nexus-packages-2025"
//! scopes = ["packages"]
//! not_before = 1735689600
//! not_after = 1893456000
//! ```
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
use std::collections::BTreeSet;

/// The only root file format version.
pub const ROOT_FORMAT: i64 = 1;
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

    /// Parse a root file's contents.
    pub fn parse(bytes: &[u8]) -> Result<Self, RootError> {
        let mut f = Fields::parse(text(bytes)?)?;
        let format = f.int("format")?;
        if format != ROOT_FORMAT {
            return Err(RootError::UnsupportedFormat(format));
        }
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

    /// Parse a root file found under `file_name`, which must be
    /// `<kid-hex>.toml` for the key inside.
    pub fn parse_file(file_name: &str, bytes: &[u8]) -> Result<Self, RootError> {
        let root = Self::parse(bytes)?;
        if file_name != root.file_name() {
            return Err(RootError::NameMismatch);
        }
        Ok(root)
    }

    /// The file's contents. Every value is from a restricted charset
    /// (base64, hex, label, scope names, integers), so no TOML escaping is
    /// needed.
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
        out
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

/// A distrust entry's contents (`format = 1`, `kid = "<hex>"`), checked
/// against its file name.
pub(crate) fn parse_distrust(file_name: &str, bytes: &[u8]) -> Result<Kid, RootError> {
    let mut f = Fields::parse(text(bytes)?)?;
    let format = f.int("format")?;
    if format != ROOT_FORMAT {
        return Err(RootError::UnsupportedFormat(format));
    }
    let kid_hex = f.string("kid")?;
    f.finish()?;
    let kid = Kid::from_hex(&kid_hex).map_err(|_| RootError::BadKid)?;
    if file_name != kid.to_hex() {
        return Err(RootError::NameMismatch);
    }
    Ok(kid)
}

pub(crate) fn distrust_toml(kid: &Kid) -> String {
    format!("format = {ROOT_FORMAT}\nkid = \"{kid}\"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TrustRoot {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        TrustRoot::new(
            key.as_bytes(),
            Some(MinisignKeyId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8])),
            Label::new("test-root").unwrap(),
            &[Scope::Updates, Scope::Packages],
            100,
            200,
        )
        .unwrap()
    }

    #[test]
    fn round_trips_through_its_file() {
        let r = sample();
        let text = r.to_toml();
        assert_eq!(
            TrustRoot::parse_file(&r.file_name(), text.as_bytes()).unwrap(),
            r
        );
        assert_eq!(
            r.file_name(),
            format!("{}.toml", ed25519_kid(r.key()).to_hex())
        );
        assert!(r.allows(Scope::Packages) && r.allows(Scope::Updates));
        let kid = r.kid();
        assert_eq!(
            parse_distrust(&kid.to_hex(), distrust_toml(&kid).as_bytes()),
            Ok(kid)
        );
    }

    fn replace(text: &str, from: &str, to: &str) -> Vec<u8> {
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn test_reject_malformed_root_files() {
        let r = sample();
        let t = r.to_toml();
        let key_line = t
            .lines()
            .find(|l| l.starts_with("public_key"))
            .unwrap()
            .to_owned();
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let weak_b64 = base64::engine::general_purpose::STANDARD.encode(weak);
        let short_b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        let cases: Vec<(Vec<u8>, RootError)> = vec![
            (
                replace(&t, "format = 1", "format = 2"),
                RootError::UnsupportedFormat(2),
            ),
            (
                replace(&t, "format = 1", "format = \"1\""),
                FieldError::WrongType("format").into(),
            ),
            (
                replace(&t, "format = 1\n", ""),
                FieldError::Missing("format").into(),
            ),
            (
                replace(&t, "Ed25519", "Ed448"),
                RootError::UnsupportedAlgorithm,
            ),
            (
                format!("{t}origin = \"system\"\n").into_bytes(),
                FieldError::Unknown("origin".into()).into(),
            ),
            (
                replace(&t, &key_line, "public_key = \"@@@\""),
                RootError::BadBase64,
            ),
            (
                replace(&t, &key_line, &format!("public_key = \"{weak_b64}\"")),
                keymint::ed25519::PublicKeyError::Weak.into(),
            ),
            (
                replace(&t, &key_line, &format!("public_key = \"{short_b64}\"")),
                keymint::ed25519::PublicKeyError::Length.into(),
            ),
            (
                replace(&t, "0807060504030201", "080706050403020"),
                RootError::BadMinisignKeyId,
            ),
            (replace(&t, "test-root", "../etc"), IdError::BadChar.into()),
            (
                replace(
                    &t,
                    "\"packages\", \"updates\"",
                    "\"packages\", \"packages\"",
                ),
                RootError::BadScopes,
            ),
            (
                replace(&t, "\"packages\", \"updates\"", ""),
                RootError::BadScopes,
            ),
            (
                replace(&t, "\"packages\", \"updates\"", "\"admin\""),
                RootError::BadScopes,
            ),
            (
                replace(&t, "not_after = 200", "not_after = 100"),
                RootError::BadValidity,
            ),
            (
                replace(&t, "not_before = 100", "not_before = -1"),
                FieldError::OutOfRange("not_before").into(),
            ),
            (
                t.as_bytes()[..t.len() / 2].to_vec(),
                FieldError::Syntax.into(),
            ),
            (vec![0xff; 10], RootError::NotText),
            (vec![b' '; MAX_ROOT_FILE + 1], RootError::TooLarge),
        ];
        for (input, want) in cases {
            assert_eq!(TrustRoot::parse(&input), Err(want.clone()), "{want:?}");
            assert_eq!(want.code(), ErrorCode::Einval);
        }
        // A copy of a valid root under another key's name is refused.
        let other = format!("{}.toml", "ab".repeat(32));
        assert_eq!(
            TrustRoot::parse_file(&other, t.as_bytes()),
            Err(RootError::NameMismatch)
        );
        assert_eq!(
            TrustRoot::parse_file(&r.file_name().to_uppercase(), t.as_bytes()),
            Err(RootError::NameMismatch)
        );
    }

    #[test]
    fn test_reject_malformed_distrust_entries() {
        let kid = sample().kid();
        let good = distrust_toml(&kid);
        let name = kid.to_hex();
        assert_eq!(
            parse_distrust(&"00".repeat(32), good.as_bytes()),
            Err(RootError::NameMismatch)
        );
        assert_eq!(
            parse_distrust(&name, good.replace("format = 1", "format = 9").as_bytes()),
            Err(RootError::UnsupportedFormat(9))
        );
        assert_eq!(
            parse_distrust(&name, good.replace(&name, "xyz").as_bytes()),
            Err(RootError::BadKid)
        );
        assert_eq!(
            parse_distrust(&name, b"format = 1\n"),
            Err(FieldError::Missing("kid").into())
        );
        assert_eq!(
            parse_distrust(&name, format!("{good}why = \"x\"\n").as_bytes()),
            Err(FieldError::Unknown("why".into()).into())
        );
        assert_eq!(
            parse_distrust(&name, b""),
            Err(FieldError::Missing("format").into())
        );
    }
}

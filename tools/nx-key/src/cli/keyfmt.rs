//! The arguments of `nx key import`, `nx key export-public`, the
//! prehashed and minisign forms of `nx key sign` / `nx key verify`, and
//! how `nx bundle sign` / `nx update sign` name their key.

use clap::{Args, ValueEnum};
use nexus_core::{AppId, Label};
use std::path::PathBuf;
use trust::minisign::MinisignKeyId;

/// A minisign key number: 16 hex digits, as minisign prints it.
#[derive(Debug, Clone, Copy)]
pub struct KeyIdArg(pub MinisignKeyId);

impl std::str::FromStr for KeyIdArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MinisignKeyId::from_hex(s)
            .map(KeyIdArg)
            .ok_or_else(|| "a minisign key id is 16 hex digits".to_owned())
    }
}

/// How `nx key sign` signs and what it writes.
#[derive(Debug, Args)]
pub struct SignForm {
    /// Sign the input's BLAKE2b-512 digest (computed here: the input may be
    /// of any size and never leaves this process) instead of the input
    /// itself; the raw 64-byte signature is minisign's.
    #[arg(long)]
    pub prehash: bool,
    /// Write a minisign signature file (.minisig) instead of the raw
    /// signature; implies --prehash. `minisign -V` verifies it with the
    /// key from `nx key export-public --format minisign`.
    #[arg(long)]
    pub minisig: bool,
    /// The signed trusted comment of a .minisig (default:
    /// "timestamp:<now>\tfile:<name>\thashed").
    #[arg(long, value_name = "TEXT", requires = "minisig")]
    pub trusted_comment: Option<String>,
    /// The key number written into a .minisig (default: derived from the
    /// key's kid); for a key imported from minisign, its original number.
    #[arg(long, value_name = "HEX", requires = "minisig")]
    pub minisign_key_id: Option<KeyIdArg>,
}

/// The public key formats of `nx key export-public`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublicFormat {
    /// SubjectPublicKeyInfo PEM (RFC 8410): `openssl pkey -pubin`.
    Pem,
    /// An OpenSSH public key line (`ssh-ed25519 …`): authorized_keys,
    /// `ssh-keygen -l -f`.
    Openssh,
    /// A minisign public key file: `minisign -V -p`.
    Minisign,
    /// The 32 raw bytes.
    Raw,
}

impl PublicFormat {
    /// The name on the command line and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicFormat::Pem => "pem",
            PublicFormat::Openssh => "openssh",
            PublicFormat::Minisign => "minisign",
            PublicFormat::Raw => "raw",
        }
    }
}

/// `nx key import PURPOSE NAME --from FILE`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The key's purpose label.
    pub purpose: Label,
    /// The key's name label.
    pub name: Label,
    /// The private key file: OpenSSH (ssh-keygen), PKCS#8 PEM (openssl
    /// genpkey -algorithm ed25519) or minisign (minisign -G).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Read the key file's passphrase from the first line of FILE instead
    /// of stdin (asked for only if the file is encrypted).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `nx key export-public PURPOSE NAME --format F`.
#[derive(Debug, Args)]
pub struct ExportPublicArgs {
    /// The key's purpose label.
    pub purpose: Label,
    /// The key's name label.
    pub name: Label,
    /// pem (SPKI), openssh, minisign or raw.
    #[arg(long, value_enum)]
    pub format: PublicFormat,
    /// This version's public key (default: the primary version).
    #[arg(long)]
    pub version: Option<u64>,
    /// Another app's key (system callers only).
    #[arg(long)]
    pub app: Option<AppId>,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The minisign key number to write (default: derived from the kid).
    #[arg(long, value_name = "HEX")]
    pub minisign_key_id: Option<KeyIdArg>,
}

//! `nx attest …`, `nx bundle …`, `nx update …`.

use clap::{Args, Subcommand};
use nexus_core::Label;
use std::path::PathBuf;

/// `nx attest [PURPOSE NAME --nonce HEX] | nx attest key PURPOSE NAME … |
/// nx attest verify … | nx attest device-key`
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  nx attest signing k1 --nonce 0011223344556677 --out token.cbor\n  \
nx attest signing k1 --nonce $(openssl rand -hex 16) --claim=-65538=text:build-42\n  \
nx attest key verify k1 --nonce 0011223344556677   # a key whose purpose is `verify`\n  \
nx attest device-key --out device.pub\n  \
nx attest verify --token token.cbor --pubkey device.pub --nonce 0011223344556677\n\
`nx attest PURPOSE NAME` is short for `nx attest key PURPOSE NAME`; use the long form \
when PURPOSE is `key`, `verify`, `device-key` or `help`."
)]
pub struct AttestCmd {
    /// Verify offline, or fetch the device key.
    #[command(subcommand)]
    pub sub: Option<AttestSub>,
    /// Your key's purpose (the key being attested).
    #[arg(required = true)]
    pub purpose: Option<Label>,
    /// Your key's name.
    #[arg(required = true)]
    pub name: Option<Label>,
    /// The verifier's nonce, 8 to 64 bytes as hex.
    #[arg(long, value_name = "HEX", required = true)]
    pub nonce: Option<String>,
    /// A custom claim LABEL=TYPE:VALUE with LABEL ≤ -65538 and TYPE one of
    /// int, bool, text, hex (bytes) (repeatable; write `--claim=-65538=…`).
    #[arg(
        long = "claim",
        value_name = "LABEL=TYPE:VALUE",
        allow_hyphen_values = true
    )]
    pub claims: Vec<String>,
    /// Write the token to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `nx attest key PURPOSE NAME --nonce HEX`: the explicit form, which
/// reaches a key whatever its purpose is called.
#[derive(Debug, Args)]
pub struct AttestKeyArgs {
    /// Your key's purpose (the key being attested).
    pub purpose: Label,
    /// Your key's name.
    pub name: Label,
    /// The verifier's nonce, 8 to 64 bytes as hex.
    #[arg(long, value_name = "HEX")]
    pub nonce: String,
    /// A custom claim LABEL=TYPE:VALUE with LABEL ≤ -65538 and TYPE one of
    /// int, bool, text, hex (bytes) (repeatable; write `--claim=-65538=…`).
    #[arg(
        long = "claim",
        value_name = "LABEL=TYPE:VALUE",
        allow_hyphen_values = true
    )]
    pub claims: Vec<String>,
    /// Write the token to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `nx attest key | verify | device-key`
#[derive(Debug, Subcommand)]
pub enum AttestSub {
    /// Ask attestd for a token attesting your key PURPOSE/NAME (the same
    /// as `nx attest PURPOSE NAME`, for any purpose, `verify` included).
    #[command(after_help = "Examples:\n  \
nx attest key verify k1 --nonce 0011223344556677 --out token.cbor\n  \
nx attest key signing k1 --nonce 0011223344556677 --json")]
    Key(AttestKeyArgs),
    /// Verify a token offline against the device public key and your nonce.
    #[command(after_help = "Example:\n  \
nx attest verify --token token.cbor --pubkey device.pub --nonce 0011223344556677 --json")]
    Verify {
        /// The token file (raw CBOR).
        #[arg(long, value_name = "FILE")]
        token: PathBuf,
        /// The device public key: 64 hex digits, or a file holding the 32
        /// raw bytes or their hex.
        #[arg(long, value_name = "FILE|HEX")]
        pubkey: String,
        /// The nonce you issued, as hex.
        #[arg(long, value_name = "HEX")]
        nonce: String,
        /// Verify as of this time: RFC 3339, a date, or seconds since the
        /// epoch (default: now).
        #[arg(long, value_name = "TIME")]
        now: Option<crate::when::TimeArg>,
        /// Oldest accepted token age: seconds, or a duration such as 5m.
        #[arg(long, value_name = "DURATION", default_value = "300")]
        max_age: crate::when::DurationArg,
    },
    /// Fetch the device attestation public key (32 raw bytes to --out or
    /// stdout).
    #[command(
        name = "device-key",
        after_help = "Example:\n  nx attest device-key --out device.pub"
    )]
    DeviceKey {
        /// Write the key to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// What `sign` needs to make a signed artifact.
#[derive(Debug, Args)]
pub struct ArtifactArgs {
    /// The folder to sign (manifest.toml and manifest.toml.minisig are
    /// written into it).
    pub dir: PathBuf,
    /// The signing key: PURPOSE/NAME of a key in your keystore namespace,
    /// or a minisign secret key file (unencrypted, `minisign -G -W`).
    #[arg(long, value_name = "PURPOSE/NAME|FILE")]
    pub key: String,
    /// The minisign key number written into the signature, for a keystore
    /// key (default: derived from its kid; for a key imported from
    /// minisign, its original number keeps `minisign -V -p old.pub`
    /// working).
    #[arg(long, value_name = "HEX")]
    pub minisign_key_id: Option<super::KeyIdArg>,
    /// The artifact's name.
    #[arg(long)]
    pub name: Label,
    /// The artifact's version (dotted decimal, e.g. 1.2.0).
    #[arg(long)]
    pub version: String,
    /// The signed trusted comment (default: "<kind> <name> <version>").
    #[arg(long)]
    pub comment: Option<String>,
}

/// `nx bundle …`
#[derive(Debug, Subcommand)]
pub enum BundleCmd {
    /// Sign a folder as a bundle with a keystore key (PURPOSE/NAME) or,
    /// offline, with a minisign secret key file.
    #[command(
        after_help = "Examples:\n  nx bundle sign ./app --key release/k1 --name com.example.app --version 1.2.0\n  \
nx bundle sign ./app --key publisher.key --name com.example.app --version 1.2.0"
    )]
    Sign(ArtifactArgs),
    /// Install a signed bundle folder (verified against the trust store).
    #[command(after_help = "Example:\n  nx bundle install ./app")]
    Install {
        /// The bundle folder (must be readable by bundlemgrd).
        dir: PathBuf,
        /// Allow installing a version not newer than the installed one
        /// (needs identity.artifact.force, system subjects only).
        #[arg(long)]
        force: bool,
    },
    /// Uninstall a bundle by name.
    #[command(after_help = "Example:\n  nx bundle uninstall com.example.app")]
    Uninstall {
        /// The bundle's name.
        name: Label,
    },
    /// List installed bundles.
    #[command(after_help = "Example:\n  nx bundle list --json")]
    List,
}

/// `nx update …`
#[derive(Debug, Subcommand)]
pub enum UpdateCmd {
    /// Sign a folder as a system update with a keystore key (PURPOSE/NAME)
    /// or, offline, with a minisign secret key file.
    #[command(
        after_help = "Examples:\n  nx update sign ./os --key release/os --name nexus-os --version 2.0.0\n  \
nx update sign ./os --key release.key --name nexus-os --version 2.0.0"
    )]
    Sign(ArtifactArgs),
    /// Stage a signed update folder into the inactive slot.
    #[command(after_help = "Example:\n  nx update stage ./os")]
    Stage {
        /// The update folder (must be readable by updated).
        dir: PathBuf,
        /// Allow a version not newer than the active one (needs
        /// identity.artifact.force, system subjects only).
        #[arg(long)]
        force: bool,
    },
    /// Verify the staged slot again and make it active.
    #[command(after_help = "Example:\n  nx update commit")]
    Commit,
    /// Drop the staged update; with --force and nothing staged, go back to
    /// the release the last commit replaced.
    #[command(
        after_help = "Examples:\n  nx update rollback            # drop the staged update\n  nx update rollback --force    # undo the last commit (a downgrade)"
    )]
    Rollback {
        /// Roll back the committed update (needs identity.artifact.force,
        /// system subjects only).
        #[arg(long)]
        force: bool,
    },
    /// The active slot, the pending or previous one and each slot's version.
    #[command(after_help = "Example:\n  nx update status --json")]
    Status,
}

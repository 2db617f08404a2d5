//! `nx key …` and `nx key trust …`.

use super::keyfmt::{ExportPublicArgs, ImportArgs, SignForm};
use crate::when::TimeArg;
use clap::{ArgGroup, Args, Subcommand};
use keymint::kid::Kid;
use nexus_core::{AppId, Label};
use nexus_keychain::KeyAlg;
use std::path::PathBuf;

/// A key's `(purpose, name)` in your app's namespace.
#[derive(Debug, Args)]
pub struct KeyName {
    /// The key's purpose label, e.g. `signing`.
    pub purpose: Label,
    /// The key's name label, e.g. `k1`.
    pub name: Label,
}

/// Optional additional authenticated data for seal/unseal.
#[derive(Debug, Args)]
pub struct Aad {
    /// Additional authenticated data, read from FILE (must be the same to unseal).
    #[arg(long, value_name = "FILE")]
    pub aad_file: Option<PathBuf>,
}

/// `nx key …`
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create a key.
    #[command(after_help = "Examples:\n  nx key create signing k1\n  \
nx key create storage s1 --alg XChaCha20-Poly1305 --json")]
    Create {
        #[command(flatten)]
        key: KeyName,
        /// Ed25519 (signing) or XChaCha20-Poly1305 (sealing).
        #[arg(long, default_value = "Ed25519")]
        alg: KeyAlg,
    },
    /// List your app's keys (system callers: --app for another app's). A
    /// key whose record cannot be read is listed as DAMAGED, with its
    /// record, after the others (and on stderr).
    #[command(after_help = "Example:\n  nx key list --json")]
    List {
        /// Another app's keys (system callers only).
        #[arg(long)]
        app: Option<AppId>,
    },
    /// Show one key's versions, states and kids.
    #[command(after_help = "Example:\n  nx key show signing k1")]
    Show {
        #[command(flatten)]
        key: KeyName,
        /// Another app's key (system callers only).
        #[arg(long)]
        app: Option<AppId>,
    },
    /// Sign a message (--in FILE or stdin); the raw 64-byte signature goes
    /// to --out FILE or stdout. Messages over 1 MiB: --prehash or --minisig.
    #[command(
        after_help = "Examples:\n  nx key sign signing k1 --in msg.txt --out msg.sig\n  \
nx key sign signing k1 --prehash --in release.tar --out release.sig\n  \
nx key sign signing k1 --minisig --in release.tar --out release.tar.minisig"
    )]
    Sign {
        #[command(flatten)]
        key: KeyName,
        /// Read the message from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Write the signature to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        form: SignForm,
    },
    /// Verify a signature (raw bytes, or a .minisig file, in --sig FILE)
    /// over a message (--in FILE or stdin). A bad signature exits with
    /// EPERM (10).
    #[command(
        after_help = "Examples:\n  nx key verify signing k1 --sig msg.sig --in msg.txt\n  \
nx key verify signing k1 --prehash --sig release.sig --in release.tar\n  \
nx key verify signing k1 --sig release.tar.minisig --in release.tar"
    )]
    Verify {
        #[command(flatten)]
        key: KeyName,
        /// The signature file (64 raw bytes, or a minisign .minisig).
        #[arg(long, value_name = "FILE")]
        sig: PathBuf,
        /// The signature is over the message's BLAKE2b-512 digest (made with
        /// `sign --prehash`); implied by a .minisig file.
        #[arg(long)]
        prehash: bool,
        /// Read the message from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Verify with this version (default: the one the service finds).
        #[arg(long)]
        version: Option<u64>,
        /// Another app's key (system callers only).
        #[arg(long)]
        app: Option<AppId>,
    },
    /// Add a version and make it primary.
    #[command(after_help = "Example:\n  nx key rotate signing k1")]
    Rotate {
        #[command(flatten)]
        key: KeyName,
    },
    /// Revoke the key, or one version of it: uses fail with EKEYREVOKED.
    #[command(after_help = "Example:\n  nx key revoke signing k1 --version 1")]
    Revoke {
        #[command(flatten)]
        key: KeyName,
        /// Revoke only this version.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Retire every version below --min-version.
    #[command(after_help = "Example:\n  nx key retire signing k1 --min-version 3")]
    Retire {
        #[command(flatten)]
        key: KeyName,
        /// The lowest version still usable.
        #[arg(long)]
        min_version: u64,
    },
    /// Seal data (--in FILE or stdin); the sealed blob goes to --out or stdout.
    #[command(after_help = "Example:\n  nx key seal storage s1 --in notes.txt --out notes.sealed")]
    Seal {
        #[command(flatten)]
        key: KeyName,
        #[command(flatten)]
        aad: Aad,
        /// Read the plaintext from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Write the sealed blob to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Unseal a blob (--in FILE or stdin); the plaintext goes to --out
    /// (created 0600) or stdout.
    #[command(
        after_help = "Example:\n  nx key unseal storage s1 --in notes.sealed --out notes.txt"
    )]
    Unseal {
        #[command(flatten)]
        key: KeyName,
        #[command(flatten)]
        aad: Aad,
        /// Read the sealed blob from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Write the plaintext to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete a key: its record and every version go, its quota and its
    /// name are freed. What it sealed can no longer be unsealed.
    #[command(after_help = "Example:\n  nx key delete signing k1")]
    Delete {
        #[command(flatten)]
        key: KeyName,
    },
    /// Export a key as a blob only this device can open (never the private
    /// key itself).
    #[command(
        name = "export-wrapped",
        after_help = "Example:\n  nx key export-wrapped signing k1 --out k1.wrapped"
    )]
    ExportWrapped {
        #[command(flatten)]
        key: KeyName,
        /// Export this version (default: the primary).
        #[arg(long)]
        version: Option<u64>,
        /// Write the blob to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Import an existing Ed25519 private key (OpenSSH, PKCS#8 PEM or
    /// minisign file): wrapped at once, never readable again.
    #[command(
        after_help = "Examples:\n  nx key import ssh laptop --from ~/.ssh/id_ed25519\n  \
nx key import release k1 --from release.pem\n  \
nx key import release k1 --from minisign.key --password-file pw.txt\n\
The key file still holds the key afterwards: delete it if the keystore copy \
is to be the only one."
    )]
    Import(ImportArgs),
    /// Print a key's public key as SPKI PEM, an OpenSSH line, a minisign
    /// public key file, or 32 raw bytes.
    #[command(
        name = "export-public",
        after_help = "Examples:\n  nx key export-public signing k1 --format pem --out k1.pem\n  \
nx key export-public ssh laptop --format openssh >> ~/.ssh/authorized_keys\n  \
nx key export-public signing k1 --format minisign --out k1.pub"
    )]
    ExportPublic(ExportPublicArgs),
    /// The trust store: roots that may sign bundles and updates.
    #[command(
        subcommand,
        after_help = "Examples:\n  nx key trust list\n  \
sudo nx key trust add --pubkey-file acme.pub --scope packages --label acme --not-after 365d"
    )]
    Trust(TrustCmd),
}

/// `nx key trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCmd {
    /// Install a root (needs identity.trust.write: system subjects only).
    /// Prints the full kid: compare it with the publisher's out of band.
    #[command(
        group(ArgGroup::new("source").required(true).args(["pubkey_file", "pubkey", "root_file"])),
        after_help = "Examples:\n  nx key trust add --pubkey-file publisher.pub --scope packages --label acme\n  \
nx key trust add --pubkey RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3 --scope packages --label acme --not-after 365d\n  \
nx key trust add --root-file 3f0a….toml"
    )]
    Add {
        /// A minisign public key file (as `minisign -G` writes it).
        #[arg(long, value_name = "FILE")]
        pubkey_file: Option<PathBuf>,
        /// A base64 key: minisign's one-line form, or a raw 32-byte Ed25519 key.
        #[arg(long, value_name = "BASE64")]
        pubkey: Option<String>,
        /// A complete root file (carries its own label, scopes and validity).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["scope", "label", "not_before", "not_after"])]
        root_file: Option<PathBuf>,
        /// What the root may sign: `packages` and/or `updates` (repeatable).
        #[arg(
            long = "scope",
            value_name = "SCOPE",
            required_unless_present = "root_file"
        )]
        scope: Vec<String>,
        /// A label for people, e.g. the publisher's name.
        #[arg(long, required_unless_present = "root_file")]
        label: Option<Label>,
        /// Valid from: an RFC 3339 time, a date, a duration from now or
        /// seconds since the epoch (default: now).
        #[arg(long, value_name = "TIME")]
        not_before: Option<TimeArg>,
        /// Valid until: an RFC 3339 time, a date, a duration from now
        /// (`90d`), seconds since the epoch, or `never` (the default).
        #[arg(long, value_name = "TIME")]
        not_after: Option<TimeArg>,
    },
    /// Change an installed root's scopes, label or validity (needs
    /// identity.trust.write; `updates` only for system subjects). The key
    /// and kid stay; `--scope` replaces the whole set.
    #[command(
        after_help = "Examples:\n  nx key trust update <kid> --scope packages --scope updates\n  \
nx key trust update <kid> --label acme-2026 --not-after 2030-01-01T00:00:00Z"
    )]
    Update {
        /// The installed root's kid (64 hex digits).
        kid: Kid,
        /// The new scopes: `packages` and/or `updates` (repeatable; replaces
        /// the old set).
        #[arg(long = "scope", value_name = "SCOPE")]
        scope: Vec<String>,
        /// A new label.
        #[arg(long)]
        label: Option<Label>,
        /// A new start of validity (RFC 3339, date, duration from now or
        /// seconds since the epoch).
        #[arg(long, value_name = "TIME")]
        not_before: Option<TimeArg>,
        /// A new end of validity (RFC 3339, date, duration from now such as
        /// `90d`, seconds since the epoch, or `never`).
        #[arg(long, value_name = "TIME")]
        not_after: Option<TimeArg>,
    },
    /// List every root with its source, status, scopes and validity.
    #[command(after_help = "Example:\n  nx key trust list --json")]
    List,
    /// Show one root, with its public key.
    #[command(after_help = "Example:\n  nx key trust show <kid>")]
    Show {
        /// The root's kid (64 hex digits).
        kid: Kid,
    },
    /// Remove an installed root (a system root: distrust it instead).
    #[command(after_help = "Example:\n  nx key trust rm <kid>")]
    Rm {
        /// The root's kid.
        kid: Kid,
    },
    /// Distrust a kid: no root with it verifies anything any more.
    #[command(after_help = "Example:\n  nx key trust distrust <kid>")]
    Distrust {
        /// The kid.
        kid: Kid,
    },
    /// Offline: write a system root file `<kid>.toml` (format 2, with its
    /// checksum line) for an image's `pkg://trust/`.
    #[command(
        group(ArgGroup::new("key").required(true).args(["pubkey_file", "pubkey"])),
        after_help = "Example:\n  nx key trust root --pubkey-file vendor.pub --scope packages --label vendor-2025 \\\n      --not-after 1893456000 --out-dir image/pkg/trust"
    )]
    Root(TrustFileArgs),
    /// Offline: rewrite root files (`<kid>.toml`) and distrust entries
    /// (`<kid>`) of either format in format 2, in place or into --out-dir.
    #[command(
        after_help = "Example:\n  nx key trust seal image/pkg/trust/*.toml image/pkg/trust/distrusted/*"
    )]
    Seal {
        /// The files.
        files: Vec<PathBuf>,
        /// Write into this directory instead of beside each file.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// What `nx key trust root` makes a root from.
#[derive(Debug, clap::Args)]
pub struct TrustFileArgs {
    /// A minisign public key file (as `minisign -G` writes it).
    #[arg(long, value_name = "FILE")]
    pub pubkey_file: Option<PathBuf>,
    /// A base64 key: minisign's one-line form, or a raw 32-byte Ed25519 key.
    #[arg(long, value_name = "BASE64")]
    pub pubkey: Option<String>,
    /// What the root may sign: `packages` and/or `updates` (repeatable).
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    pub scope: Vec<String>,
    /// A label for people, e.g. the publisher's name.
    #[arg(long)]
    pub label: Label,
    /// Valid from (seconds since the Unix epoch).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub not_before: u64,
    /// Valid until (seconds since the Unix epoch).
    #[arg(long, value_name = "SECS")]
    pub not_after: u64,
    /// Where to write `<kid>.toml`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

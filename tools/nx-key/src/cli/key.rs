//! `nx key …` and `nx key trust …`.

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
    /// List your app's keys (system callers: --app for another app's).
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
    /// to --out FILE or stdout.
    #[command(after_help = "Example:\n  nx key sign signing k1 --in msg.txt --out msg.sig")]
    Sign {
        #[command(flatten)]
        key: KeyName,
        /// Read the message from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Write the signature to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify a signature (raw bytes in --sig FILE) over a message (--in
    /// FILE or stdin). A bad signature exits with EPERM (10).
    #[command(after_help = "Example:\n  nx key verify signing k1 --sig msg.sig --in msg.txt")]
    Verify {
        #[command(flatten)]
        key: KeyName,
        /// The signature file (64 raw bytes).
        #[arg(long, value_name = "FILE")]
        sig: PathBuf,
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
    /// The trust store: roots that may sign bundles and updates.
    #[command(subcommand)]
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
nx key trust add --pubkey RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3 --scope packages --label acme\n  \
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
        /// Valid from (seconds since the Unix epoch; default: now).
        #[arg(long, value_name = "SECS")]
        not_before: Option<u64>,
        /// Valid until (seconds since the Unix epoch; default: the service's).
        #[arg(long, value_name = "SECS")]
        not_after: Option<u64>,
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

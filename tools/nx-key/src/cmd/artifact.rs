//! `nx bundle …` and `nx update …`: signing artifacts with
//! `trust::sign_artifact_with`, by a keystore key (`--key PURPOSE/NAME`:
//! the manifest's digest and the trusted comment are signed by
//! keystored) or offline by a minisign secret key file (never sent
//! anywhere), and driving bundlemgrd and updated.
//!
//! Invariant: the artifact path sent to a daemon is absolute (the daemon's
//! working directory is not the caller's); install/stage/commit/rollback
//! and uninstall are sent once, never retried.

use crate::cli::{ArtifactArgs, BundleCmd, UpdateCmd};
use crate::cmd::keyfmt::KeystoreSigner;
use crate::ctx::Ctx;
use crate::error::NxError;
use crate::io::read_file;
use keymint::kid::ed25519_kid;
use nexus_core::Label;
use nexus_keychain::{Retry, Service, ServiceClient};
use nexus_proto::{self as proto, ArtifactArgs as PathArgs, BundleNameArgs, Empty, Op};
use serde_json::{json, Map, Value as Json};
use std::path::{Path, PathBuf};
use trust::minisign::{MinisignSecretKey, MinisignSigner};
use trust::{Kind, Version};

/// What `--key` names: a key in the caller's keystore namespace, or a
/// minisign secret key file.
enum KeySource {
    Keystore(Label, Label),
    File(PathBuf),
}

/// `PURPOSE/NAME` (two labels, one `/`) is a keystore key; anything else
/// a file. A value that is both (a file at that relative path exists) is
/// refused rather than guessed.
fn key_source(s: &str) -> Result<KeySource, NxError> {
    let keystore = s
        .split_once('/')
        .and_then(|(p, n)| Some((Label::new(p).ok()?, Label::new(n).ok()?)));
    match keystore {
        Some(_) if Path::new(s).exists() => Err(NxError::usage(format!(
            "--key {s} names both a keystore key and a file: write ./{s} for the file"
        ))),
        Some((p, n)) => Ok(KeySource::Keystore(p, n)),
        None => Ok(KeySource::File(PathBuf::from(s))),
    }
}

/// Sign `a.dir` as an artifact of `kind`.
pub fn sign(ctx: &mut Ctx<'_>, kind: Kind, a: &ArtifactArgs) -> Result<(), NxError> {
    let version =
        Version::parse(&a.version).map_err(|e| NxError::usage(format!("--version: {e}")))?;
    let comment = a
        .comment
        .clone()
        .unwrap_or_else(|| format!("{kind} {} {}", a.name, version.as_str()));
    let file_key;
    let kc;
    let keystore_signer;
    let (signer, signer_key): (&dyn MinisignSigner, Option<String>) = match key_source(&a.key)? {
        KeySource::File(path) => {
            if a.minisign_key_id.is_some() {
                return Err(NxError::usage(
                    "--minisign-key-id is for keystore keys: a minisign key file has its own",
                ));
            }
            let key_bytes = read_file(&path)?;
            file_key = MinisignSecretKey::parse(&key_bytes)
                .map_err(|e| NxError::local("secret key", &e))?;
            (&file_key, None)
        }
        KeySource::Keystore(purpose, name) => {
            kc = ctx.keychain();
            let id = a.minisign_key_id.map(|k| k.0);
            keystore_signer = KeystoreSigner::primary(&kc, purpose, name, id)?;
            let name = keystore_signer.key_name();
            (&keystore_signer, Some(name))
        }
    };
    let manifest = trust::sign_artifact_with(
        &a.dir,
        kind,
        a.name.clone(),
        version,
        kind.scope(),
        signer,
        &comment,
    )
    .map_err(|e| match &e {
        // The folder, or a file in it, could not be read: a local file.
        trust::TrustError::ArtifactIo { source, .. } => {
            NxError::io(&format!("signing failed: {}", a.dir.display()), source)
        }
        _ => NxError::local("signing failed", &e),
    })?;
    let kid = ed25519_kid(&signer.verifying_key());
    let j = json!({
        "kind": kind.as_str(),
        "name": manifest.name().as_str(),
        "version": manifest.version().as_str(),
        "scope": manifest.scope().as_str(),
        "files": manifest.files().len(),
        "signer_kid": kid.to_hex(),
        "minisign_key_id": signer.key_id().to_hex(),
        "signer_key": signer_key,
        "dir": a.dir.display().to_string(),
    });
    let by = signer_key.map_or_else(String::new, |k| format!(" (keystore key {k})"));
    let human = format!(
        "signed {kind} {} {} ({} files) with key {kid}{by}",
        manifest.name(),
        manifest.version().as_str(),
        manifest.files().len()
    );
    ctx.emit(j, &human)
}

fn absolute(dir: &Path) -> Result<String, NxError> {
    let abs =
        std::fs::canonicalize(dir).map_err(|e| NxError::io(&dir.display().to_string(), &e))?;
    abs.to_str()
        .map(str::to_owned)
        .ok_or_else(|| NxError::usage("the artifact path is not UTF-8"))
}

fn path_args(dir: &Path, force: bool) -> Result<PathArgs, NxError> {
    Ok(PathArgs {
        path: absolute(dir)?,
        force: force.then_some(true),
    })
}

fn call<O: Op>(c: &ServiceClient, args: &O::Args, retry: Retry) -> Result<O::Reply, NxError> {
    Ok(c.call_op::<O>(args, retry)?)
}

/// Run one `nx bundle` command.
pub fn bundle(ctx: &mut Ctx<'_>, cmd: BundleCmd) -> Result<(), NxError> {
    let c = ctx.service(Service::Bundlemgrd);
    match cmd {
        BundleCmd::Sign(a) => sign(ctx, Kind::Bundle, &a),
        BundleCmd::Install { dir, force } => {
            let r = call::<proto::BundleInstall>(&c, &path_args(&dir, force)?, Retry::Once)?;
            let (name, version, kid) = (r.name.as_str(), r.version, r.signer_kid);
            let j = json!({ "name": name, "version": version, "signer_kid": kid.to_hex() });
            ctx.emit(j, &format!("installed {name} {version} (signed by {kid})"))
        }
        BundleCmd::Uninstall { name } => {
            let args = BundleNameArgs { name: name.clone() };
            call::<proto::BundleUninstall>(&c, &args, Retry::Once)?;
            ctx.emit(
                json!({ "uninstalled": name.as_str() }),
                &format!("uninstalled {name}"),
            )
        }
        BundleCmd::List => {
            let r = call::<proto::BundleList>(&c, &Empty {}, Retry::Idempotent)?;
            let mut out = Vec::new();
            let mut text = Vec::new();
            let mut damaged = Vec::new();
            for b in r.bundles {
                let name = b.name.as_str();
                let version = b.version.as_deref().unwrap_or("?");
                let error = b.error.map(|e| {
                    damaged.push(format!("{name} ({})", e.msg));
                    json!({ "code": e.code, "message": e.msg })
                });
                text.push(match &error {
                    None => format!("{name} {version}"),
                    Some(_) => format!("{name} {version} DAMAGED"),
                });
                out.push(json!({ "name": name, "version": b.version, "error": error }));
            }
            ctx.emit(json!({ "bundles": out }), &text.join("\n"))?;
            crate::cmd::trust::damaged_exit(&damaged)
        }
    }
}

/// Run one `nx update` command.
pub fn update(ctx: &mut Ctx<'_>, cmd: UpdateCmd) -> Result<(), NxError> {
    let c = ctx.service(Service::Updated);
    match cmd {
        UpdateCmd::Sign(a) => sign(ctx, Kind::Update, &a),
        UpdateCmd::Stage { dir, force } => {
            let r = call::<proto::UpdateStage>(&c, &path_args(&dir, force)?, Retry::Once)?;
            let (slot, version, kid) = (r.slot.as_str(), r.version, r.signer_kid);
            let j = json!({ "slot": slot, "version": version, "signer_kid": kid.to_hex() });
            ctx.emit(
                j,
                &format!("staged {version} into slot {slot} (signed by {kid})"),
            )
        }
        UpdateCmd::Commit => {
            let r = call::<proto::UpdateCommit>(&c, &Empty {}, Retry::Once)?;
            let (active, version) = (r.active.as_str(), r.version);
            let j = json!({ "active": active, "version": version });
            ctx.emit(j, &format!("active slot {active} ({version})"))
        }
        UpdateCmd::Rollback { force } => {
            let args = proto::RollbackArgs {
                force: force.then_some(true),
            };
            let r = call::<proto::UpdateRollback>(&c, &args, Retry::Once)?;
            let (active, version) = (r.active.as_str(), r.version);
            let j = json!({ "rolled_back": true, "active": active, "version": version });
            ctx.emit(j, &format!("rolled back: active slot {active} ({version})"))
        }
        UpdateCmd::Status => {
            let r = call::<proto::UpdateStatus>(&c, &Empty {}, Retry::Idempotent)?;
            let active = r.active.as_str();
            let pending = r.pending.map(|s| s.as_str());
            let previous = r.previous.map(|s| s.as_str());
            let mut human = format!(
                "active {active}\npending {}\nprevious {}",
                pending.unwrap_or("-"),
                previous.unwrap_or("-")
            );
            for (slot, v) in &r.versions.0 {
                human.push_str(&format!("\nslot {} version {v}", slot.as_str()));
            }
            let versions: Map<String, Json> = r
                .versions
                .0
                .into_iter()
                .map(|(slot, v)| (slot.as_str().to_owned(), Json::String(v)))
                .collect();
            let versions = Json::Object(versions);
            ctx.emit(
                json!({
                    "active": active,
                    "pending": pending,
                    "previous": previous,
                    "versions": versions,
                }),
                &human,
            )
        }
    }
}

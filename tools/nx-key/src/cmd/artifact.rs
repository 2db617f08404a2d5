//! `nx bundle …` and `nx update …`: signing artifacts offline with
//! `trust::sign_artifact` (a minisign secret key, never sent anywhere),
//! and driving bundlemgrd and updated.
//!
//! Invariant: the artifact path sent to a daemon is absolute (the daemon's
//! working directory is not the caller's); install/stage/commit/rollback
//! and uninstall are sent once, never retried.

use crate::cli::{ArtifactArgs, BundleCmd, UpdateCmd};
use crate::ctx::Ctx;
use crate::error::NxError;
use crate::io::read_file;
use keymint::kid::ed25519_kid;
use nexus_keychain::{ReplyMap, Retry, Service, ServiceClient};
use serde_json::{json, Map, Value as Json};
use std::path::Path;
use trust::minisign::MinisignSecretKey;
use trust::{Kind, Version};
use wire::{Args, Value};

/// Sign `a.dir` as an artifact of `kind`.
pub fn sign(ctx: &mut Ctx<'_>, kind: Kind, a: &ArtifactArgs) -> Result<(), NxError> {
    let version =
        Version::parse(&a.version).map_err(|e| NxError::usage(format!("--version: {e}")))?;
    let key_bytes = read_file(&a.key)?;
    let key = MinisignSecretKey::parse(&key_bytes).map_err(|e| NxError::local("secret key", &e))?;
    drop(key_bytes);
    let comment = a
        .comment
        .clone()
        .unwrap_or_else(|| format!("{kind} {} {}", a.name, version.as_str()));
    let manifest = trust::sign_artifact(
        &a.dir,
        kind,
        a.name.clone(),
        version,
        kind.scope(),
        &key,
        &comment,
    )
    .map_err(|e| NxError::local("signing failed", &e))?;
    let pk = key.public_key();
    let kid = ed25519_kid(pk.verifying_key());
    let j = json!({
        "kind": kind.as_str(),
        "name": manifest.name().as_str(),
        "version": manifest.version().as_str(),
        "scope": manifest.scope().as_str(),
        "files": manifest.files().len(),
        "signer_kid": kid.to_hex(),
        "minisign_key_id": pk.key_id().to_hex(),
        "dir": a.dir.display().to_string(),
    });
    let human = format!(
        "signed {kind} {} {} ({} files) with key {kid}",
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

fn path_args(dir: &Path, force: bool) -> Result<Args, NxError> {
    let mut args = Args::new().with("path", absolute(dir)?);
    if force {
        args = args.with("force", true);
    }
    Ok(args)
}

/// CBOR to JSON for values the contract leaves open (byte strings as
/// base64 text, non-text map keys as their JSON text).
pub fn cbor_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Integer(i) => i64::try_from(*i)
            .map(Json::from)
            .or_else(|_| u64::try_from(*i).map(Json::from))
            .unwrap_or(Json::Null),
        Value::Text(t) => Json::String(t.clone()),
        Value::Bytes(b) => Json::String(crate::ctx::b64(b)),
        Value::Array(items) => Json::Array(items.iter().map(cbor_json).collect()),
        Value::Map(pairs) => Json::Object(
            pairs
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::Text(t) => t.clone(),
                        other => cbor_json(other).to_string(),
                    };
                    (key, cbor_json(v))
                })
                .collect::<Map<String, Json>>(),
        ),
        Value::Tag(_, inner) => cbor_json(inner),
        _ => Json::Null,
    }
}

fn call(
    c: &ServiceClient,
    op: &'static str,
    args: &Args,
    retry: Retry,
) -> Result<ReplyMap, NxError> {
    Ok(c.call_map(op, args, retry)?)
}

/// Run one `nx bundle` command.
pub fn bundle(ctx: &mut Ctx<'_>, cmd: BundleCmd) -> Result<(), NxError> {
    let c = ctx.service(Service::Bundlemgrd);
    match cmd {
        BundleCmd::Sign(a) => sign(ctx, Kind::Bundle, &a),
        BundleCmd::Install { dir, force } => {
            let r = call(&c, "bundle.install", &path_args(&dir, force)?, Retry::Once)?;
            let (name, version, kid) = (r.text("name")?, r.text("version")?, r.kid("signer_kid")?);
            let j = json!({ "name": name, "version": version, "signer_kid": kid.to_hex() });
            ctx.emit(j, &format!("installed {name} {version} (signed by {kid})"))
        }
        BundleCmd::Uninstall { name } => {
            call(
                &c,
                "bundle.uninstall",
                &Args::new().with("name", name.as_str()),
                Retry::Once,
            )?;
            ctx.emit(
                json!({ "uninstalled": name.as_str() }),
                &format!("uninstalled {name}"),
            )
        }
        BundleCmd::List => {
            let mut r = call(&c, "bundle.list", &Args::new(), Retry::Idempotent)?;
            let mut out = Vec::new();
            let mut text = Vec::new();
            for b in r.maps("bundles")? {
                let (name, version) = (b.text("name")?, b.text("version")?);
                text.push(format!("{name} {version}"));
                out.push(json!({ "name": name, "version": version }));
            }
            ctx.emit(json!({ "bundles": out }), &text.join("\n"))
        }
    }
}

/// Run one `nx update` command.
pub fn update(ctx: &mut Ctx<'_>, cmd: UpdateCmd) -> Result<(), NxError> {
    let c = ctx.service(Service::Updated);
    match cmd {
        UpdateCmd::Sign(a) => sign(ctx, Kind::Update, &a),
        UpdateCmd::Stage { dir, force } => {
            let r = call(&c, "update.stage", &path_args(&dir, force)?, Retry::Once)?;
            let (slot, version, kid) = (r.text("slot")?, r.text("version")?, r.kid("signer_kid")?);
            let j = json!({ "slot": slot, "version": version, "signer_kid": kid.to_hex() });
            ctx.emit(
                j,
                &format!("staged {version} into slot {slot} (signed by {kid})"),
            )
        }
        UpdateCmd::Commit => {
            let r = call(&c, "update.commit", &Args::new(), Retry::Once)?;
            let (active, version) = (r.text("active")?, r.text("version")?);
            let j = json!({ "active": active, "version": version });
            ctx.emit(j, &format!("active slot {active} ({version})"))
        }
        UpdateCmd::Rollback => {
            call(&c, "update.rollback", &Args::new(), Retry::Once)?;
            ctx.emit(json!({ "rolled_back": true }), "rolled back")
        }
        UpdateCmd::Status => {
            let mut r = call(&c, "update.status", &Args::new(), Retry::Idempotent)?;
            let active = r.text("active")?;
            let pending = r.opt_text("pending")?;
            let versions = cbor_json(&r.value("versions")?);
            let human = format!(
                "active {active}\npending {}\nversions {versions}",
                pending.as_deref().unwrap_or("-")
            );
            ctx.emit(
                json!({ "active": active, "pending": pending, "versions": versions }),
                &human,
            )
        }
    }
}

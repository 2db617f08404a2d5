//! `nx key …`: keys in the caller's namespace, over keystored.

use crate::cli::KeyCmd;
use crate::ctx::{b64, obj, Ctx};
use crate::error::NxError;
use crate::io::{read_file, read_file_within, read_input_within};
use nexus_keychain::{CreatedKey, KeyInfo, KeyListing};
use nexus_proto::limits;
use serde_json::{json, Value as Json};
use std::path::Path;

fn opt_hex_kid(k: Option<nexus_keychain::Kid>) -> Json {
    k.map_or(Json::Null, |k| Json::String(k.to_hex()))
}

fn opt_b64(b: Option<&[u8]>) -> Json {
    b.map_or(Json::Null, |b| Json::String(b64(b)))
}

/// The JSON form of `key-info`.
pub fn key_info_json(k: &KeyInfo) -> Json {
    let versions: Vec<Json> = k
        .versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "state": v.state.as_str(),
                "created": v.created,
                "kid": opt_hex_kid(v.kid),
                "public_key_b64": opt_b64(v.public_key.as_deref()),
            })
        })
        .collect();
    json!({
        "app": k.app.as_str(),
        "purpose": k.purpose.as_str(),
        "name": k.name.as_str(),
        "alg": k.alg.as_str(),
        "state": k.state.as_str(),
        "primary": k.primary,
        "min_version": k.min_version,
        "created": k.created,
        "rotated": k.rotated,
        "versions": versions,
    })
}

fn key_info_text(k: &KeyInfo) -> String {
    let mut s = format!(
        "{}/{}/{}  {}  {}  primary {}  min_version {}\n",
        k.app, k.purpose, k.name, k.alg, k.state, k.primary, k.min_version
    );
    for v in &k.versions {
        s.push_str(&format!(
            "  v{}  {}  created {}  kid {}\n",
            v.version,
            v.state,
            crate::when::iso(v.created),
            v.kid.map_or_else(|| "-".to_owned(), |k| k.to_hex())
        ));
    }
    s
}

fn created(
    ctx: &mut Ctx<'_>,
    what: &str,
    purpose: &str,
    name: &str,
    c: &CreatedKey,
) -> Result<(), NxError> {
    for w in &c.warnings {
        ctx.warn(w);
    }
    let j = json!({
        "purpose": purpose,
        "name": name,
        "version": c.version,
        "kid": opt_hex_kid(c.kid),
        "public_key_b64": opt_b64(c.public_key.as_deref()),
        "warnings": c.warnings,
    });
    let kid = c.kid.map_or_else(String::new, |k| format!(" kid {k}"));
    ctx.emit(
        j,
        &format!("{what} {purpose}/{name} version {}{kid}", c.version),
    )
}

/// A message over one frame: say how to sign it anyway.
fn too_large_hint(e: NxError) -> NxError {
    const HINT: &str = "sign and verify large files with --prehash (or --minisig)";
    match e {
        NxError::Usage(m) if m.contains("is larger than") => NxError::Usage(format!("{m}; {HINT}")),
        NxError::Local { code, msg } if msg.contains("the limit is") => NxError::Local {
            code,
            msg: format!("{msg}; {HINT}"),
        },
        e => e,
    }
}

fn aad(file: Option<&Path>) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, NxError> {
    file.map(|f| read_file_within(f, limits::AAD, "aad"))
        .transpose()
}

/// `key.list`'s answer in text: each readable key, then each damaged
/// record, marked.
fn listing_text(l: &KeyListing) -> String {
    let mut text: String = l.keys.iter().map(key_info_text).collect();
    for d in &l.damaged {
        text.push_str(&format!(
            "{}/{}/{}  DAMAGED  {}\n  {}\n",
            d.app, d.purpose, d.name, d.record, d.error
        ));
    }
    if text.is_empty() {
        text.push_str("no keys");
    }
    text
}

/// Run one `nx key` command (trust subcommands go to `cmd::trust`).
pub fn run(ctx: &mut Ctx<'_>, cmd: KeyCmd) -> Result<(), NxError> {
    let kc = ctx.keychain();
    match cmd {
        KeyCmd::Create { key, alg } => {
            let c = kc.create_key(&key.purpose, &key.name, alg)?;
            created(ctx, "created", key.purpose.as_str(), key.name.as_str(), &c)
        }
        KeyCmd::Rotate { key } => {
            let c = kc.rotate(&key.purpose, &key.name)?;
            created(ctx, "rotated", key.purpose.as_str(), key.name.as_str(), &c)
        }
        KeyCmd::List { app } => {
            let l = kc.key_listing(app.as_ref())?;
            for d in &l.damaged {
                ctx.warn(&format!(
                    "key {}/{}/{} cannot be read: {}",
                    d.app, d.purpose, d.name, d.error
                ));
            }
            let damaged: Vec<Json> = l
                .damaged
                .iter()
                .map(|d| {
                    json!({
                        "app": d.app.as_str(),
                        "purpose": d.purpose.as_str(),
                        "name": d.name.as_str(),
                        "state": "damaged",
                        "record": d.record,
                        "error": d.error,
                    })
                })
                .collect();
            let j = json!({
                "keys": l.keys.iter().map(key_info_json).collect::<Vec<_>>(),
                "damaged": damaged,
            });
            ctx.emit(j, listing_text(&l).trim_end())
        }
        KeyCmd::Show { key, app } => {
            let k = kc.show_key(&key.purpose, &key.name, app.as_ref())?;
            ctx.emit(key_info_json(&k), &key_info_text(&k))
        }
        KeyCmd::Sign {
            key,
            input,
            out,
            form,
        } => {
            if form.prehash || form.minisig {
                let k = (&key.purpose, &key.name);
                return crate::cmd::prehash::sign(
                    ctx,
                    &kc,
                    k,
                    input.as_deref(),
                    out.as_deref(),
                    form,
                );
            }
            let msg = read_input_within(&mut ctx.io, input.as_deref(), limits::MESSAGE, "message")
                .map_err(too_large_hint)?;
            let s = kc.sign(&key.purpose, &key.name, &msg)?;
            let meta = obj([
                ("kid", Json::String(s.kid.to_hex())),
                ("version", Json::from(s.version)),
            ]);
            let human = format!("signed with version {} kid {}", s.version, s.kid);
            ctx.emit_data(out.as_deref(), "sig", &s.sig, meta, &human)
        }
        KeyCmd::Verify {
            key,
            sig,
            prehash,
            input,
            version,
            app,
        } => {
            let sig = read_file(&sig)?;
            if prehash || crate::cmd::prehash::is_minisig(&sig) {
                let k = (&key.purpose, &key.name);
                let (i, a) = (input.as_deref(), app.as_ref());
                return crate::cmd::prehash::verify(ctx, &kc, k, &sig, i, version, a);
            }
            let msg = read_input_within(&mut ctx.io, input.as_deref(), limits::MESSAGE, "message")
                .map_err(too_large_hint)?;
            let v = kc.verify(&key.purpose, &key.name, &msg, &sig, version, app.as_ref())?;
            let j = json!({ "valid": true, "version": v.version, "kid": v.kid.to_hex() });
            ctx.emit(j, &format!("valid: version {} kid {}", v.version, v.kid))
        }
        KeyCmd::Revoke { key, version } => {
            kc.revoke(&key.purpose, &key.name, version)?;
            let j = json!({ "revoked": true, "version": version });
            let what = version.map_or_else(String::new, |v| format!(" version {v}"));
            ctx.emit(j, &format!("revoked {}/{}{what}", key.purpose, key.name))
        }
        KeyCmd::Retire { key, min_version } => {
            kc.retire(&key.purpose, &key.name, min_version)?;
            let j = json!({ "retired": true, "min_version": min_version });
            ctx.emit(
                j,
                &format!(
                    "retired {}/{} below version {min_version}",
                    key.purpose, key.name
                ),
            )
        }
        KeyCmd::Seal {
            key,
            aad: a,
            input,
            out,
        } => {
            let aad = aad(a.aad_file.as_deref())?;
            let pt = read_input_within(
                &mut ctx.io,
                input.as_deref(),
                limits::PLAINTEXT,
                "plaintext",
            )?;
            let s = kc.seal(
                &key.purpose,
                &key.name,
                &pt,
                aad.as_deref().map(Vec::as_slice),
            )?;
            let meta = obj([("version", Json::from(s.version))]);
            ctx.emit_data(
                out.as_deref(),
                "sealed",
                &s.sealed,
                meta,
                &format!("sealed with version {}", s.version),
            )
        }
        KeyCmd::Unseal {
            key,
            aad: a,
            input,
            out,
        } => {
            let aad = aad(a.aad_file.as_deref())?;
            let sealed =
                read_input_within(&mut ctx.io, input.as_deref(), limits::SEALED, "sealed data")?;
            let u = kc.unseal(
                &key.purpose,
                &key.name,
                &sealed,
                aad.as_deref().map(Vec::as_slice),
            )?;
            let meta = obj([("version", Json::from(u.version))]);
            let human = format!("unsealed with version {}", u.version);
            ctx.emit_data(
                out.as_deref(),
                "plaintext",
                u.plaintext.expose(),
                meta,
                &human,
            )
        }
        KeyCmd::ExportWrapped { key, version, out } => {
            let e = kc.export_wrapped(&key.purpose, &key.name, version)?;
            let meta = obj([
                ("app", Json::String(e.app.to_string())),
                ("purpose", Json::String(e.purpose.to_string())),
                ("name", Json::String(e.name.to_string())),
                ("version", Json::from(e.version)),
                ("alg", Json::String(e.alg.as_str().to_owned())),
            ]);
            let human = format!(
                "exported {}/{}/{} version {} (wrapped for this device)",
                e.app, e.purpose, e.name, e.version
            );
            ctx.emit_data(out.as_deref(), "blob", &e.blob, meta, &human)
        }
        KeyCmd::Delete { key } => {
            kc.delete_key(&key.purpose, &key.name)?;
            let j = json!({ "deleted": true, "purpose": key.purpose.as_str(), "name": key.name.as_str() });
            ctx.emit(j, &format!("deleted {}/{}", key.purpose, key.name))
        }
        KeyCmd::Import(a) => crate::cmd::keyfmt::import(ctx, &kc, a),
        KeyCmd::ExportPublic(a) => crate::cmd::keyfmt::export_public(ctx, &kc, a),
        KeyCmd::Trust(t) => crate::cmd::trust::run(ctx, &kc, t),
    }
}

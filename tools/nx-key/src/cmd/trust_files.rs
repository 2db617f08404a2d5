//! `nx key trust root` and `nx key trust seal`: making the system trust
//! store's files offline, as an OS image is built (`pkg://trust/`).
//!
//! Invariant: every file written is in format 2 (checksum line last) and
//! reads back with the store's own parser before the command reports it.

use crate::cli::TrustFileArgs;
use crate::cmd::trust::kid_of_key_text;
use crate::ctx::Ctx;
use crate::error::NxError;
use crate::io::read_file;
use base64::Engine;
use serde_json::json;
use std::path::{Path, PathBuf};
use trust::minisign::MinisignPublicKey;
use trust::{Scope, TrustRoot};

fn write_new(path: &Path, text: &str) -> Result<(), NxError> {
    std::fs::write(path, text).map_err(|e| NxError::io(&path.display().to_string(), &e))
}

/// `nx key trust root`: a system root file `<kid>.toml` in `out_dir`.
pub fn root(ctx: &mut Ctx<'_>, a: TrustFileArgs) -> Result<(), NxError> {
    let text = match (&a.pubkey_file, &a.pubkey) {
        (Some(p), _) => String::from_utf8(read_file(p)?.to_vec())
            .map_err(|_| NxError::usage("public key file is not UTF-8"))?,
        (None, Some(t)) => t.clone(),
        (None, None) => return Err(NxError::usage("give --pubkey-file or --pubkey")),
    };
    let kid = kid_of_key_text(&text)?;
    let mut scopes = Vec::new();
    for s in &a.scope {
        let parsed = Scope::parse(s)
            .ok_or_else(|| NxError::usage(format!("unknown scope `{s}` (packages, updates)")))?;
        scopes.push(parsed);
    }
    let root = match MinisignPublicKey::parse(text.as_bytes()) {
        Ok(pk) => {
            TrustRoot::from_minisign(&pk, a.label.clone(), &scopes, a.not_before, a.not_after)
        }
        Err(_) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| {
                    NxError::usage("not a minisign public key nor a base64 Ed25519 key")
                })?;
            TrustRoot::new(
                &raw,
                None,
                a.label.clone(),
                &scopes,
                a.not_before,
                a.not_after,
            )
        }
    }
    .map_err(|e| NxError::local("root", &e))?;
    debug_assert_eq!(root.kid(), kid);
    let path = a.out_dir.join(root.file_name());
    let body = root.to_toml();
    TrustRoot::parse_file(&root.file_name(), body.as_bytes())
        .map_err(|e| NxError::local("root", &e))?;
    write_new(&path, &body)?;
    ctx.emit(
        json!({ "kid": root.kid().to_hex(), "file": path.display().to_string() }),
        &format!("wrote {}", path.display()),
    )
}

/// `nx key trust seal`: rewrite root and distrust files (format 1 or 2)
/// in format 2, in place or into `out_dir`.
pub fn seal(
    ctx: &mut Ctx<'_>,
    files: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
) -> Result<(), NxError> {
    if files.is_empty() {
        return Err(NxError::usage("give at least one file"));
    }
    let mut done = Vec::new();
    for f in files {
        let bytes = read_file(&f)?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| NxError::usage(format!("{}: no file name", f.display())))?
            .to_owned();
        let dir = out_dir
            .clone()
            .or_else(|| f.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let (out_name, text, kind) = if name.ends_with(".toml") {
            let root = TrustRoot::parse(&bytes)
                .map_err(|e| NxError::local(&f.display().to_string(), &e))?;
            if root.file_name() != name {
                return Err(NxError::Local {
                    code: nexus_core::ErrorCode::Einval,
                    msg: format!(
                        "{}: the file name is not the key's kid ({})",
                        f.display(),
                        root.file_name()
                    ),
                });
            }
            (root.file_name(), root.to_toml(), "root")
        } else {
            let kid = trust::parse_distrust_any(&name, &bytes)
                .map_err(|e| NxError::local(&f.display().to_string(), &e))?;
            (kid.to_hex(), trust::distrust_toml(&kid), "distrust")
        };
        let path = dir.join(&out_name);
        write_new(&path, &text)?;
        done.push(json!({ "file": path.display().to_string(), "kind": kind }));
    }
    let text: Vec<String> = done
        .iter()
        .map(|d| {
            format!(
                "sealed {} {}",
                d["kind"].as_str().unwrap_or(""),
                d["file"].as_str().unwrap_or("")
            )
        })
        .collect();
    ctx.emit(json!({ "sealed": done }), &text.join("\n"))
}

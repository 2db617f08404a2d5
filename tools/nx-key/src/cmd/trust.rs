//! `nx key trust …`: the trust store, over keystored.
//!
//! Invariant: `add` computes the kid of what it sends locally (from the
//! minisign key, raw key or root file) before sending it, and refuses to
//! report success if the service names a different kid: the kid printed is
//! the one of the key the user holds, so checking it out of band means
//! something.

use crate::cli::TrustCmd;
use crate::ctx::{b64, Ctx};
use crate::error::NxError;
use crate::io::read_file;
use base64::Engine;
use keymint::kid::{ed25519_kid, Kid};
use nexus_core::ErrorCode;
use nexus_keychain::{Keychain, TrustAdd, TrustRootInfo, TrustUpdate};
use serde_json::{json, Value as Json};
use trust::minisign::MinisignPublicKey;
use trust::{Scope, TrustRoot};

/// The kid of a minisign public key (file text or base64 line) or of a
/// raw base64 Ed25519 key.
pub fn kid_of_key_text(text: &str) -> Result<Kid, NxError> {
    if let Ok(pk) = MinisignPublicKey::parse(text.as_bytes()) {
        return Ok(ed25519_kid(pk.verifying_key()));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| NxError::usage("not a minisign public key nor a base64 Ed25519 key"))?;
    let key = keymint::ed25519::parse_public_key(&raw)
        .map_err(|e| NxError::usage(format!("public key refused: {e}")))?;
    Ok(ed25519_kid(&key))
}

fn root_json(r: &TrustRootInfo) -> Json {
    let mut j = json!({
        "kid": r.kid.to_hex(),
        "source": r.source.as_str(),
        "scopes": r.scopes,
        "label": r.label,
        "not_before": r.not_before,
        "not_after": r.not_after,
        "status": r.status.as_str(),
    });
    if let (Some(pk), Some(m)) = (&r.public_key, j.as_object_mut()) {
        m.insert("public_key_b64".into(), Json::String(b64(pk)));
    }
    j
}

fn root_text(r: &TrustRootInfo) -> String {
    format!(
        "{}  {}  {}  {}  {}  {} .. {}",
        r.kid,
        r.source,
        r.status,
        r.scopes.join(","),
        r.label,
        crate::when::iso(r.not_before),
        crate::when::until(r.not_after)
    )
}

/// After printing a list: `EIO` (19) if any of it is damaged, so scripts
/// do not take a partial list for a whole one.
pub fn damaged_exit(damaged: &[String]) -> Result<(), NxError> {
    match damaged.first() {
        None => Ok(()),
        Some(first) => Err(NxError::Remote {
            code: ErrorCode::Eio,
            msg: format!(
                "{} damaged, first {first}; the rest is listed",
                damaged.len()
            ),
        }),
    }
}

/// Each scope known and given once.
fn check_scopes(scopes: &[String]) -> Result<(), NxError> {
    let mut seen = Vec::new();
    for s in scopes {
        let parsed = Scope::parse(s)
            .ok_or_else(|| NxError::usage(format!("unknown scope `{s}` (packages, updates)")))?;
        if seen.contains(&parsed) {
            return Err(NxError::usage(format!("scope `{s}` given twice")));
        }
        seen.push(parsed);
    }
    Ok(())
}

const CHECK_HINT: &str = "Check this kid with the key's publisher over a channel you trust \
(in person, a signed release note) before relying on the root.";

/// Run one `nx key trust` command.
pub fn run(ctx: &mut Ctx<'_>, kc: &Keychain, cmd: TrustCmd) -> Result<(), NxError> {
    match cmd {
        TrustCmd::Root(a) => crate::cmd::trust_files::root(ctx, a),
        TrustCmd::Seal { files, out_dir } => crate::cmd::trust_files::seal(ctx, files, out_dir),
        TrustCmd::Add {
            pubkey_file,
            pubkey,
            root_file,
            scope,
            label,
            not_before,
            not_after,
        } => {
            let (add, local) = if let Some(p) = root_file {
                let bytes = read_file(&p)?;
                let root = TrustRoot::parse(&bytes).map_err(|e| NxError::local("root file", &e))?;
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| NxError::usage("root file is not UTF-8"))?;
                (TrustAdd::RootFile(text), root.kid())
            } else {
                let text = match (pubkey_file, pubkey) {
                    (Some(p), _) => String::from_utf8(read_file(&p)?.to_vec())
                        .map_err(|_| NxError::usage("public key file is not UTF-8"))?,
                    (None, Some(t)) => t,
                    (None, None) => {
                        return Err(NxError::usage(
                            "give --pubkey-file, --pubkey or --root-file",
                        ))
                    }
                };
                let local = kid_of_key_text(&text)?;
                check_scopes(&scope)?;
                let label = label.ok_or_else(|| NxError::usage("--label is required"))?;
                let now = crate::when::now_secs();
                let add = TrustAdd::Key {
                    public_key: text,
                    label,
                    scopes: scope,
                    not_before: not_before.map(|t| t.resolve(now)),
                    not_after: not_after.map(|t| t.resolve(now)),
                };
                (add, local)
            };
            let kid = kc.trust_add(&add)?;
            if kid != local {
                return Err(NxError::Local {
                    code: ErrorCode::Eio,
                    msg: format!(
                        "the service installed kid {kid} but the key given has kid {local}: \
do not rely on it; remove it with `nx key trust rm {kid}`"
                    ),
                });
            }
            ctx.emit(
                json!({ "kid": kid.to_hex() }),
                &format!("added root {kid}\n{CHECK_HINT}"),
            )
        }
        TrustCmd::Update {
            kid,
            scope,
            label,
            not_before,
            not_after,
        } => {
            check_scopes(&scope)?;
            let now = crate::when::now_secs();
            let change = TrustUpdate {
                kid,
                label,
                scopes: (!scope.is_empty()).then_some(nexus_proto::TextList(scope)),
                not_before: not_before.map(|t| t.resolve(now)),
                not_after: not_after.map(|t| t.resolve(now)),
            };
            if change.label.is_none()
                && change.scopes.is_none()
                && change.not_before.is_none()
                && change.not_after.is_none()
            {
                return Err(NxError::usage(
                    "give --scope, --label, --not-before or --not-after",
                ));
            }
            let r = kc.trust_update(&change)?;
            ctx.emit(root_json(&r), &format!("updated {}", root_text(&r)))
        }
        TrustCmd::List => {
            let listing = kc.trust_listing()?;
            let mut lines: Vec<String> = listing.roots.iter().map(root_text).collect();
            if lines.is_empty() {
                lines.push("no roots".into());
            }
            lines.extend(listing.damaged.iter().map(|p| format!("damaged: {p}")));
            let j = json!({
                "roots": listing.roots.iter().map(root_json).collect::<Vec<_>>(),
                "damaged": listing.damaged,
            });
            ctx.emit(j, &lines.join("\n"))?;
            damaged_exit(&listing.damaged)
        }
        TrustCmd::Show { kid } => {
            let r = kc.trust_show(&kid)?;
            let mut text = root_text(&r);
            if let Some(pk) = &r.public_key {
                text.push_str(&format!("\npublic key (base64): {}", b64(pk)));
            }
            ctx.emit(root_json(&r), &text)
        }
        TrustCmd::Rm { kid } => {
            kc.trust_rm(&kid)?;
            ctx.emit(
                json!({ "removed": kid.to_hex() }),
                &format!("removed root {kid}"),
            )
        }
        TrustCmd::Distrust { kid } => {
            kc.trust_distrust(&kid)?;
            ctx.emit(
                json!({ "distrusted": kid.to_hex() }),
                &format!("distrusted {kid}"),
            )
        }
    }
}

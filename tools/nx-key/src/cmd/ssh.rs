//! `nx ssh …`: create and list the keys nexus-ssh-agent offers to OpenSSH
//! and git. The list is made by the agent's own selection
//! (`nexus_ssh_agent::identities`), so it shows exactly the identities the
//! agent would: the active Ed25519 keys of the purpose, primary version,
//! with the agent's comment.

use crate::cli::SshCmd;
use crate::ctx::Ctx;
use crate::error::NxError;
use nexus_keychain::{KeyAlg, Kid};
use nexus_ssh_agent::identities::{fingerprint, openssh_line, select};
use serde_json::json;

/// Run one `nx ssh` command.
pub fn run(ctx: &mut Ctx<'_>, cmd: SshCmd) -> Result<(), NxError> {
    let kc = ctx.keychain();
    match cmd {
        SshCmd::AddKey { name, purpose } => {
            let c = kc.create_key(&purpose, &name, KeyAlg::Ed25519)?;
            for w in &c.warnings {
                ctx.warn(w);
            }
            // Listed afterwards, so that the line carries the app and the
            // comment exactly as the agent shows them.
            let keys = kc.list_keys(None)?;
            let Some(k) = select(&keys, &purpose).into_iter().find(|k| k.name == name) else {
                return Err(NxError::Local {
                    code: nexus_core::ErrorCode::Eio,
                    msg: format!("{purpose}/{name} was created but is not listed"),
                });
            };
            let line = openssh_line(&k.public, &k.comment);
            let j = json!({
                "purpose": purpose.as_str(),
                "name": name.as_str(),
                "version": c.version,
                "kid": c.kid.map(|k: Kid| k.to_hex()),
                "fingerprint": fingerprint(&k.public),
                "openssh": line,
                "warnings": c.warnings,
            });
            ctx.emit(j, &line)
        }
        SshCmd::List { purpose } => {
            let keys = kc.list_keys(None)?;
            let listed = select(&keys, &purpose);
            let lines: Vec<String> = listed
                .iter()
                .map(|k| openssh_line(&k.public, &k.comment))
                .collect();
            let j = json!({
                "keys": listed.iter().zip(&lines).map(|(k, line)| json!({
                    "purpose": k.purpose.as_str(),
                    "name": k.name.as_str(),
                    "version": k.version,
                    "kid": k.kid.to_hex(),
                    "fingerprint": fingerprint(&k.public),
                    "openssh": line,
                })).collect::<Vec<_>>(),
            });
            let text = lines.join("\n");
            ctx.emit(j, &text)
        }
    }
}

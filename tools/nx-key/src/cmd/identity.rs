//! `nx vault …`, `nx session …`, `nx user …`: the vault over keystored,
//! sessions and users over identityd. Passwords and session ids come from
//! stdin, a file or (session ids) `$NEXUS_SID`, never argv (see `io`); a
//! session id read from stdin is its first line, before the password or
//! value.

use crate::cli::{SessionCmd, UserCmd, VaultCmd};
use crate::ctx::{obj, Ctx};
use crate::error::NxError;
use crate::io::{read_input_within, read_new_password, read_password};
use nexus_proto::limits;
use serde_json::{json, Value as Json};

/// Run one `nx vault` command.
pub fn vault(ctx: &mut Ctx<'_>, cmd: VaultCmd) -> Result<(), NxError> {
    let kc = ctx.keychain();
    match cmd {
        VaultCmd::Put { name, sid, input } => {
            let sid = ctx.sid(&sid)?;
            let value =
                read_input_within(&mut ctx.io, input.as_deref(), limits::VAULT_VALUE, "value")?;
            let warnings = kc.put(&sid, &name, &value)?;
            for w in &warnings {
                ctx.warn(w);
            }
            let j = json!({ "name": name, "bytes": value.len(), "warnings": warnings });
            ctx.emit(j, &format!("stored {name} ({} bytes)", value.len()))
        }
        VaultCmd::Get { name, sid, out } => {
            let value = kc.get(&ctx.sid(&sid)?, &name)?;
            let meta = obj([("name", Json::String(name.clone()))]);
            let human = format!("wrote {name} ({} bytes)", value.len());
            ctx.emit_data(out.as_deref(), "value", value.expose(), meta, &human)
        }
        VaultCmd::Del { name, sid } => {
            kc.del(&ctx.sid(&sid)?, &name)?;
            ctx.emit(json!({ "deleted": name }), &format!("deleted {name}"))
        }
        VaultCmd::List { sid } => {
            let names = kc.list(&ctx.sid(&sid)?)?;
            let text = names.join("\n");
            ctx.emit(json!({ "names": names }), &text)
        }
    }
}

/// Run one `nx session` command.
pub fn session(ctx: &mut Ctx<'_>, cmd: SessionCmd) -> Result<(), NxError> {
    let kc = ctx.keychain();
    match cmd {
        SessionCmd::Login { user, password } => {
            let prompt = format!("Password for {user}");
            let pw = read_password(&mut ctx.io, password.password_file.as_deref(), &prompt)?;
            let s = kc.login(&user, &pw)?;
            let j = json!({ "sid": s.sid.to_string(), "user": s.user.as_str(), "state": s.state.as_str() });
            // Text mode prints the bare sid so that `SID=$(nx session login …)` works.
            ctx.emit(j, &s.sid.to_string())
        }
        SessionCmd::Lock { sid } => {
            kc.lock(&ctx.sid(&sid)?)?;
            ctx.emit(json!({ "state": "locked" }), "locked")
        }
        SessionCmd::Unlock { sid, password } => {
            let sid = ctx.sid(&sid)?;
            let pw = read_password(&mut ctx.io, password.password_file.as_deref(), "Password")?;
            kc.unlock(&sid, &pw)?;
            ctx.emit(json!({ "state": "active" }), "active")
        }
        SessionCmd::Logout { sid } => {
            kc.logout(&ctx.sid(&sid)?)?;
            ctx.emit(json!({ "state": "ended" }), "logged out")
        }
        SessionCmd::Status { sid } => {
            let s = kc.session_status(&ctx.sid(&sid)?)?;
            let j = json!({ "user": s.user.as_str(), "state": s.state.as_str() });
            ctx.emit(j, &format!("{} {}", s.user, s.state))
        }
    }
}

/// Run one `nx user` command.
pub fn user(ctx: &mut Ctx<'_>, cmd: UserCmd) -> Result<(), NxError> {
    let kc = ctx.keychain();
    match cmd {
        UserCmd::Create { user, password } => {
            let prompt = format!("New password for {user}");
            let pw = read_new_password(&mut ctx.io, password.password_file.as_deref(), &prompt)?;
            kc.user_create(&user, &pw)?;
            ctx.emit(
                json!({ "created": user.as_str() }),
                &format!("created user {user}"),
            )
        }
        UserCmd::Delete { user } => {
            kc.user_delete(&user)?;
            ctx.emit(
                json!({ "deleted": user.as_str() }),
                &format!("deleted user {user}"),
            )
        }
        UserCmd::List => {
            let users: Vec<String> = kc.user_list()?.iter().map(ToString::to_string).collect();
            let text = users.join("\n");
            ctx.emit(json!({ "users": users }), &text)
        }
        UserCmd::Passwd {
            user,
            old_password_file,
            new_password_file,
        } => {
            // Without files: two lines of stdin (old, new), or on a
            // terminal three prompts (old, new, new again).
            let old = read_password(&mut ctx.io, old_password_file.as_deref(), "Old password")?;
            let new = read_new_password(&mut ctx.io, new_password_file.as_deref(), "New password")?;
            kc.user_passwd(&user, &old, &new)?;
            ctx.emit(
                json!({ "changed": user.as_str() }),
                &format!("changed the password of {user}"),
            )
        }
    }
}

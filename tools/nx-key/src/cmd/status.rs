//! `nx status`: what nexus-init says of every service (`init.status` on
//! `<run>/init.sock`: keymintd included, with its state, restarts and last
//! exit), and the `status` of every service with a public socket.
//!
//! A service that serves with damaged records lists each (`  damaged:
//! state:/…`): it serves, but the operations that need them fail with
//! `EIO`.
//!
//! Invariant: the command exits 0 only when init answered, boot is done,
//! every daemon init supervises is up and every public service answered;
//! otherwise it still prints every line, then fails with the first
//! problem found.

use crate::ctx::Ctx;
use crate::error::NxError;
use nexus_core::{Coded, ErrorCode};
use nexus_keychain::{status_of, KeychainError, Service};
use nexus_proto::{self as proto, Empty, InitStatus, Op};
use serde_json::{json, Map, Value as Json};
use wire::Client;

/// One entry of `init.status`.
struct Unit {
    name: String,
    daemon: bool,
    core: bool,
    state: String,
    restarts: u64,
    last_exit: Option<String>,
}

/// Ask init for every service's state.
fn init_status(ctx: &Ctx<'_>) -> Result<(bool, Vec<Unit>), NxError> {
    let path = ctx.run.join("init.sock");
    let args = proto::encode_args::<InitStatus>(&Empty {}).map_err(|e| NxError::Transport {
        code: ErrorCode::Eio,
        msg: format!("init: {e}"),
    })?;
    let reply = Client::connect(&path)
        .and_then(|mut c| c.call(InitStatus::NAME, &args))
        .map_err(|e| match (e.remote_code(), e) {
            (_, wire::ClientError::Connect(source)) => NxError::Unreachable {
                service: "init".into(),
                source,
            },
            (Some(code), e) => NxError::Remote {
                code,
                msg: format!("init: {e}"),
            },
            (None, e) => NxError::Transport {
                code: e.code(),
                msg: format!("init: {e}"),
            },
        })?;
    let reply = proto::decode_reply::<InitStatus>(reply).map_err(|e| NxError::Transport {
        code: ErrorCode::Eio,
        msg: format!("init: malformed init.status reply ({e})"),
    })?;
    let units = reply
        .services
        .into_iter()
        .map(|u| Unit {
            daemon: u.kind == "daemon",
            name: u.name,
            core: u.core,
            state: u.state,
            restarts: u.restarts,
            last_exit: u.last_exit,
        })
        .collect();
    Ok((reply.ready, units))
}

/// Run `nx status`.
pub fn run(ctx: &mut Ctx<'_>) -> Result<(), NxError> {
    let mut first_failure: Option<NxError> = None;
    let mut text = Vec::new();
    let init = init_status(ctx);
    let init_json = match &init {
        Ok((ready, _)) => {
            text.push(format!(
                "init: {}",
                if *ready { "ready" } else { "booting" }
            ));
            if !ready {
                first_failure.get_or_insert(NxError::Transport {
                    code: ErrorCode::Eagain,
                    msg: "init: the stack is still booting".into(),
                });
            }
            json!({ "reachable": true, "ready": ready })
        }
        Err(e) => {
            text.push(e.to_string());
            json!({
                "reachable": matches!(e, NxError::Remote { .. }),
                "error": { "code": e.code().as_str(), "msg": e.to_string() },
            })
        }
    };
    let units = match init {
        Ok((_, units)) => units,
        Err(e) => {
            first_failure.get_or_insert(e);
            Vec::new()
        }
    };
    // Every service init supervises, in manifest order; without init, the
    // public services alone.
    let names: Vec<String> = if units.is_empty() {
        Service::ALL.iter().map(|s| s.name().to_owned()).collect()
    } else {
        units.iter().map(|u| u.name.clone()).collect()
    };
    let mut rows = Vec::new();
    for name in names {
        let unit = units.iter().find(|u| u.name == name);
        let mut row = Map::new();
        row.insert("service".into(), Json::from(name.as_str()));
        let mut line = format!("{name}:");
        if let Some(u) = unit {
            row.insert("state".into(), Json::from(u.state.as_str()));
            row.insert("core".into(), Json::from(u.core));
            row.insert("restarts".into(), Json::from(u.restarts));
            row.insert("last_exit".into(), json!(u.last_exit));
            line.push_str(&format!(" {}", u.state));
            if !u.daemon {
                line.push_str(" (app)");
            }
            if u.daemon && u.state != "up" {
                first_failure.get_or_insert(NxError::Transport {
                    code: ErrorCode::Eagain,
                    msg: format!("{} is {}", u.name, u.state),
                });
            }
        }
        let mut damaged = Vec::new();
        if let Some(svc) = Service::ALL.into_iter().find(|s| s.name() == name) {
            let (status, d) = public_status(ctx, svc, &mut row, &mut first_failure);
            line.push_str(&status);
            damaged = d;
        }
        if let Some(u) = unit.filter(|u| u.restarts > 0) {
            let last = u.last_exit.as_deref().unwrap_or("unknown");
            line.push_str(&format!(" [{} restarts, last exit {last}]", u.restarts));
        }
        text.push(line);
        text.extend(damaged.iter().map(|p| format!("  damaged: {p}")));
        rows.push(Json::Object(row));
    }
    ctx.emit(
        json!({ "init": init_json, "services": rows }),
        &text.join("\n"),
    )?;
    match first_failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The service's own `status`, into `row`; the text for its line and the
/// records it reports damaged.
fn public_status(
    ctx: &Ctx<'_>,
    svc: Service,
    row: &mut Map<String, Json>,
    first_failure: &mut Option<NxError>,
) -> (String, Vec<String>) {
    match status_of(&ctx.service(svc)) {
        Ok(s) => {
            let mode = match (s.volatile, s.insecure) {
                (false, false) => "",
                (true, false) => " (volatile)",
                (false, true) => " (INSECURE)",
                (true, true) => " (volatile, INSECURE)",
            };
            row.insert("reachable".into(), Json::from(true));
            row.insert("volatile".into(), Json::from(s.volatile));
            row.insert("insecure".into(), Json::from(s.insecure));
            row.insert("version".into(), Json::from(s.version.as_str()));
            row.insert("damaged".into(), json!(s.damaged));
            (format!(" ok {}{mode}", s.version), s.damaged)
        }
        Err(e) => {
            row.insert("reachable".into(), Json::from(e.remote_code().is_some()));
            row.insert(
                "error".into(),
                json!({ "code": e.code().as_str(), "msg": e.to_string() }),
            );
            let line = format!(" {e}");
            first_failure.get_or_insert(NxError::from(e as KeychainError));
            (line, Vec::new())
        }
    }
}

//! What init knows about each service, published for `init.status` on
//! init's own socket, `<run>/init.sock`.
//!
//! The supervisor's loop owns every unit; after each turn it writes a
//! snapshot ([`Board`]) that the socket's handler threads only read.
//!
//! Invariants:
//! - The socket is a public socket like the daemons': the caller's subject
//!   comes from its peer credentials through the policy's uid map, and a
//!   uid the policy does not know is refused (`EPERM`) at the door.
//! - It is read-only: `init.status` and `status` change nothing, carry no
//!   secret (names, states, counts, exit statuses, pids) and need no
//!   capability, so they make no policy decision to audit.

use crate::child::ExitDesc;
use crate::error::InitError;
use crate::manifest::Kind;
use nexus_proto::{self as proto, InitStatus, InitStatusReply, Status, StatusReply, UnitInfo};
use policy::Policy;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use wire::{
    CallContext, Handler, PeerCredResolver, Request, Server, ServerConfig, Value, WireError,
};

/// A service's state as `init.status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    /// Not started (a daemon later in the boot order, or an app not run).
    Idle,
    /// Started, ready marker not seen yet.
    Starting,
    /// Serving: its ready marker arrived in its current run.
    Up,
    /// Died; waiting out its restart delay.
    Restarting,
    /// Given up on (crash loop, or it could not be spawned); a non-core
    /// daemon after boot is tried again later.
    Failed,
    /// Ended and not restarted (an app, or a daemon with `restart =
    /// false`).
    Stopped,
}

impl UnitState {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Idle => "idle",
            UnitState::Starting => "starting",
            UnitState::Up => "up",
            UnitState::Restarting => "restarting",
            UnitState::Failed => "failed",
            UnitState::Stopped => "stopped",
        }
    }
}

/// One service in the snapshot.
#[derive(Debug, Clone)]
pub struct UnitView {
    /// The manifest's name.
    pub name: String,
    /// Daemon or app.
    pub kind: Kind,
    /// Whether it is a core daemon (never given up after boot).
    pub core: bool,
    /// What it is doing.
    pub state: UnitState,
    /// How many times init restarted it.
    pub restarts: u32,
    /// How its last run ended, if one did.
    pub last_exit: Option<ExitDesc>,
    /// Its process id while it runs.
    pub pid: Option<i32>,
}

/// The snapshot: whether boot finished (`init: ready`) and every service.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `init: ready` has been printed.
    pub ready: bool,
    /// Every entry of the manifest, in file order.
    pub services: Vec<UnitView>,
}

/// The snapshot, shared between the supervisor and the socket's threads.
pub type Board = Arc<Mutex<Snapshot>>;

fn exit_text(e: ExitDesc) -> String {
    match e {
        ExitDesc::Code(c) => format!("exit {c}"),
        ExitDesc::Signal(s) => format!("signal {s}"),
        ExitDesc::Unknown => "unknown".to_owned(),
    }
}

impl Snapshot {
    /// The `init.status` reply.
    pub fn to_reply(&self) -> InitStatusReply {
        InitStatusReply {
            ready: self.ready,
            services: self
                .services
                .iter()
                .map(|u| UnitInfo {
                    name: u.name.clone(),
                    kind: match u.kind {
                        Kind::Daemon => "daemon",
                        Kind::App => "app",
                    }
                    .to_owned(),
                    core: u.core,
                    state: u.state.as_str().to_owned(),
                    restarts: u64::from(u.restarts),
                    last_exit: u.last_exit.map(exit_text),
                    pid: u.pid.and_then(|p| u64::try_from(p).ok()),
                })
                .collect(),
        }
    }
}

/// The socket's request handler: `init.status` from `board`, `status`
/// (the supervisor's own; `volatile` says whether the stack runs without
/// a state disk), `EINVAL` for any other op. Public so that the fuzz
/// workspace drives it in process.
pub fn handler(board: Board, volatile: bool) -> impl Handler {
    move |_: &CallContext, req: &Request| handle(&board, volatile, req)
}

fn handle(board: &Board, volatile: bool, req: &Request) -> Result<Value, WireError> {
    match req.op() {
        "init.status" => proto::serve::<InitStatus>(req, |_| {
            let snap = board.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(snap.to_reply())
        }),
        "status" => proto::serve::<Status>(req, |_| {
            Ok(StatusReply {
                service: "nexus-init".to_owned(),
                volatile,
                insecure: false,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                damaged: None,
            })
        }),
        op => Err(WireError::unknown_op(op)),
    }
}

/// Serve `board` on `socket` (with the manifest's socket mode and
/// group), subjects from `policy_path`'s uid map.
pub fn serve(
    socket: &Path,
    policy_path: &Path,
    volatile: bool,
    board: Board,
    (socket_mode, socket_group): (u32, Option<u32>),
) -> Result<Server, InitError> {
    let policy = Policy::load(policy_path).map_err(|source| InitError::Policy {
        path: policy_path.to_path_buf(),
        source,
    })?;
    // As on the daemons' sockets: a uid with neither a mapping nor an entry
    // of its own is refused at the door, told which policy file to change.
    let path = policy_path.to_path_buf();
    let resolver = PeerCredResolver::new(move |uid| policy.peer_subject(uid))
        .refusing_with(move |uid| policy::unmapped_uid_message(uid, &path));
    let server = Server::new(
        handler(board, volatile),
        ServerConfig {
            socket_mode,
            socket_group,
            ..ServerConfig::default()
        },
    );
    server
        .listen(socket, resolver)
        .map_err(|source| InitError::Serve {
            path: socket.to_path_buf(),
            source,
        })?;
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_shape() {
        let snap = Snapshot {
            ready: true,
            services: vec![UnitView {
                name: "keymintd".into(),
                kind: Kind::Daemon,
                core: true,
                state: UnitState::Restarting,
                restarts: 3,
                last_exit: Some(ExitDesc::Signal(9)),
                pid: None,
            }],
        };
        let bytes = proto::encode_reply::<InitStatus>(&snap.to_reply()).unwrap();
        let back = proto::decode_reply::<InitStatus>(bytes).unwrap();
        assert!(back.ready);
        let one = &back.services[0];
        assert_eq!(one.state, "restarting");
        assert_eq!(one.last_exit.as_deref(), Some("signal 9"));
        assert_eq!(one.restarts, 3);
        assert_eq!(one.pid, None);
    }
}

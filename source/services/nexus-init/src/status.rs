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
use policy::Policy;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use wire::{Args, CallContext, PeerCredResolver, Request, Server, ServerConfig, Value, WireError};

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
    /// The `init.status` reply: `{ready, services: [{name, kind, core,
    /// state, restarts, last_exit, pid}]}`.
    pub fn to_value(&self) -> Value {
        let services = self
            .services
            .iter()
            .map(|u| {
                Args::new()
                    .with("name", u.name.clone())
                    .with(
                        "kind",
                        match u.kind {
                            Kind::Daemon => "daemon",
                            Kind::App => "app",
                        },
                    )
                    .with("core", u.core)
                    .with("state", u.state.as_str())
                    .with("restarts", u64::from(u.restarts))
                    .with(
                        "last_exit",
                        u.last_exit
                            .map_or(Value::Null, |e| Value::Text(exit_text(e))),
                    )
                    .with(
                        "pid",
                        u.pid
                            .and_then(|p| u64::try_from(p).ok())
                            .map_or(Value::Null, Value::from),
                    )
                    .into_value()
            })
            .collect();
        Args::new()
            .with("ready", self.ready)
            .with("services", Value::Array(services))
            .into_value()
    }
}

fn handle(board: &Board, volatile: bool, req: &Request) -> Result<Value, WireError> {
    match req.op() {
        "init.status" => {
            req.args().only(&[])?;
            let snap = board.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(snap.to_value())
        }
        "status" => {
            req.args().only(&[])?;
            Ok(Args::new()
                .with("service", "nexus-init")
                .with("volatile", volatile)
                .with("insecure", false)
                .with("version", env!("CARGO_PKG_VERSION"))
                .into_value())
        }
        op => Err(WireError::unknown_op(op)),
    }
}

/// Serve `board` on `socket`, subjects from `policy_path`'s uid map.
pub fn serve(
    socket: &Path,
    policy_path: &Path,
    volatile: bool,
    board: Board,
) -> Result<Server, InitError> {
    let policy = Policy::load(policy_path).map_err(|source| InitError::Policy {
        path: policy_path.to_path_buf(),
        source,
    })?;
    let resolver = PeerCredResolver::new(move |uid| {
        // As on the daemons' sockets: a uid with neither a mapping nor an
        // entry of its own is refused at the door.
        let subject = policy.subject_for_uid(uid);
        policy.subjects().any(|s| *s == subject).then_some(subject)
    });
    let server = Server::new(
        move |_: &CallContext, req: &Request| handle(&board, volatile, req),
        ServerConfig::default(),
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
        let v = Args::from_value(snap.to_value()).unwrap();
        assert!(v.bool("ready").unwrap());
        let list = v.get("services").unwrap().as_array().unwrap();
        let one = Args::from_value(list[0].clone()).unwrap();
        assert_eq!(one.text("state").unwrap(), "restarting");
        assert_eq!(one.text("last_exit").unwrap(), "signal 9");
        assert_eq!(one.u64("restarts").unwrap(), 3);
        assert_eq!(one.get("pid"), Some(&Value::Null));
    }
}

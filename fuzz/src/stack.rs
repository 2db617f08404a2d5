//! The stack, in process: each daemon's handler built from a real
//! `nexus_daemon::Context` (the flags `--volatile --policy --run
//! --trust-dir --control-stdin`, parsed by the daemons' own parser: volatile state, the
//! policy file, an audit log) the way its `build` does, wrapped as
//! `Daemon::serve` wraps it (`WithDamage`), and wired to the daemons it
//! calls through [`InProc`] routes with the subjects nexus-init's routes
//! give:
//! keystored and identityd to keymintd, attestd and identityd to
//! keystored. nexus-init's `init.sock` handler serves a board with one
//! unit in each state.
//!
//! Differences from the processes, all outside the handlers: no sockets
//! (calls go through [`InProc`]); identityd gets the test Argon2id
//! parameters (`--kdf-test-params`) and no keymintd watcher thread; the
//! markers go nowhere.
//!
//! Invariants: a [`World`] is one input's stack, built lazily (a request
//! to attestd builds keymintd, keystored and attestd); dropping it closes
//! the daemons' audit logs (joining their flusher threads, so that no
//! thread of an input outlives it) and removes what they wrote.

use crate::fixtures::Fixtures;
use crate::inproc::{InProc, Purge, Shared};
use crate::plan::Daemon as Which;
use crate::pool::Pool;
use identity::{Identity, IdentityConfig, IdentityParts, KdfParams};
use keymint::KeyOps;
use keymint_client::RemoteKeyMint;
use nexus_core::{Authorizer, Clock, SystemClock};
use nexus_daemon::{Config, Context, Daemon, Markers, Spec, WithDamage};
use nexus_init::child::ExitDesc;
use nexus_init::status::{Board, Snapshot, UnitState, UnitView};
use nexus_init::Kind;
use statefs::StateFs;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wire::Handler;

/// One built daemon: its handler and its state.
#[derive(Clone)]
pub struct Built {
    /// The handler, as the server would call it.
    pub handler: Shared,
    /// Its state (volatile), for damaging records.
    pub state: Option<StateFs>,
    /// Its audit log, closed when the input ends (that joins the log's
    /// flusher thread, as `Daemon::serve` does at a stop).
    journal: Option<auditlog::Journal>,
}

/// One input's stack (see the module documentation).
pub struct World {
    fx: &'static Fixtures,
    /// Values the daemons produced, shared with the internal routes.
    pub pool: Arc<Mutex<Pool>>,
    built: HashMap<&'static str, Built>,
}

fn start(spec: Spec, fx: &Fixtures) -> Daemon {
    // The command line nexus-init gives a volatile stack, parsed by the
    // daemons' own parser (every other flag at its default).
    let path = |p: &std::path::Path| p.display().to_string();
    let args = [
        spec.name.to_owned(),
        "--volatile".to_owned(),
        "--policy".to_owned(),
        path(&fx.policy),
        "--run".to_owned(),
        path(&fx.run),
        "--trust-dir".to_owned(),
        path(&fx.trust_dir),
        // What nexus-init passes; the channel itself is `None` below.
        "--control-stdin".to_owned(),
    ];
    let config = Config::parse(&spec, args).expect("daemon flags");
    let policy = fx.parsed_policy.clone();
    Daemon::start_with_policy(
        spec,
        config,
        policy,
        None,
        Markers::to_writer(Box::new(std::io::sink())),
    )
    .expect("daemon context")
}

fn wrap<H: Handler>(h: H, ctx: &Context) -> Built {
    Built {
        handler: Arc::new(WithDamage::new(h, ctx.damage().clone())),
        state: Some(ctx.state().clone()),
        journal: Some(ctx.journal().clone()),
    }
}

fn name(d: Which) -> &'static str {
    match d {
        Which::Keymintd => "keymintd",
        Which::Keystored => "keystored",
        Which::Identityd => "identityd",
        Which::Attestd => "attestd",
        Which::Bundlemgrd => "bundlemgrd",
        Which::Updated => "updated",
        Which::Init => "nexus-init",
    }
}

fn board() -> Board {
    let states = [
        UnitState::Idle,
        UnitState::Starting,
        UnitState::Up,
        UnitState::Restarting,
        UnitState::Failed,
        UnitState::Stopped,
    ];
    let services = states
        .iter()
        .enumerate()
        .map(|(i, s)| UnitView {
            name: format!("svc{i}"),
            kind: if i % 2 == 0 { Kind::Daemon } else { Kind::App },
            core: i == 0,
            state: *s,
            restarts: u32::MAX - i as u32,
            last_exit: [
                None,
                Some(ExitDesc::Code(-1)),
                Some(ExitDesc::Signal(9)),
                Some(ExitDesc::Unknown),
            ][i % 4],
            pid: Some(i32::MAX - i as i32),
        })
        .collect();
    Arc::new(Mutex::new(Snapshot {
        ready: true,
        services,
    }))
}

impl World {
    /// An empty stack over the process's fixtures.
    pub fn new() -> World {
        World {
            fx: crate::fixtures::get(),
            pool: Arc::new(Mutex::new(Pool::default())),
            built: HashMap::new(),
        }
    }

    fn route(&mut self, to: Which, service: &'static str, subject: &str) -> InProc {
        InProc::new(
            self.get(to).handler,
            service,
            subject,
            Arc::clone(&self.pool),
        )
    }

    fn keymint(&mut self, subject: &str) -> RemoteKeyMint {
        let route = self.route(Which::Keymintd, "keymintd", subject);
        RemoteKeyMint::connect(route).expect("km.device")
    }

    /// The daemon `d`, built on first use.
    pub fn get(&mut self, d: Which) -> Built {
        if let Some(b) = self.built.get(name(d)) {
            return b.clone();
        }
        let b = self.build(d);
        self.built.insert(name(d), b.clone());
        b
    }

    /// The daemons built so far.
    pub fn built(&self) -> Vec<(&'static str, Built)> {
        let mut all: Vec<_> = self.built.iter().map(|(k, v)| (*k, v.clone())).collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }

    fn build(&mut self, d: Which) -> Built {
        let fx = self.fx;
        match d {
            Which::Keymintd => {
                let daemon = start(keymintd::SPEC, fx);
                let s = keymintd::build(daemon.context()).expect("keymintd");
                wrap(s.handler, daemon.context())
            }
            Which::Keystored => {
                let km = self.keymint("system:keystored");
                let daemon = start(keystored::SPEC, fx);
                let s = keystored::build_over(daemon.context(), km).expect("keystored");
                wrap(s.handler, daemon.context())
            }
            Which::Identityd => {
                let km = self.keymint("system:identityd");
                let purge = Purge(self.route(Which::Keystored, "keystored", "system:identityd"));
                let daemon = start(identityd::SPEC, fx);
                let ctx = daemon.context();
                let insecure = km.is_insecure();
                let clock: Arc<dyn Clock> = Arc::new(SystemClock);
                let identity = Arc::new(Identity::new(IdentityParts {
                    state: ctx.state().clone(),
                    keys: Arc::new(identityd::IdentityKeys::new(km)),
                    clock,
                    authz: Arc::clone(ctx.policy()) as Arc<dyn Authorizer>,
                    audit: Arc::new(identityd::Audit(ctx.audit().clone())),
                    vault: Arc::new(purge),
                    config: IdentityConfig {
                        kdf: KdfParams::INSECURE_TEST,
                        ..IdentityConfig::default()
                    },
                }));
                identity.sync_keymint().expect("session sync");
                wrap(
                    identityd::Identityd::new(identity, ctx.status(insecure)),
                    ctx,
                )
            }
            Which::Attestd => {
                let route = self.route(Which::Keystored, "keystored", "system:attestd");
                let daemon = start(attestd::SPEC, fx);
                let ctx = daemon.context();
                let backend = attestd::RemoteBackend::new(Box::new(route)).expect("backend");
                let authz: Arc<dyn Authorizer> = ctx.policy().clone();
                let svc = attestd::Attestd::start(Box::new(backend), authz, Arc::new(SystemClock))
                    .expect("attestd");
                wrap(
                    attestd::AttestdHandler::new(Arc::new(svc), Box::new(|_| {})),
                    ctx,
                )
            }
            Which::Bundlemgrd => {
                let daemon = start(bundlemgrd::SPEC, fx);
                let s = bundlemgrd::build(daemon.context()).expect("bundlemgrd");
                wrap(s.handler, daemon.context())
            }
            Which::Updated => {
                let daemon = start(updated::SPEC, fx);
                let s = updated::build(daemon.context()).expect("updated");
                wrap(s.handler, daemon.context())
            }
            Which::Init => Built {
                handler: Arc::new(nexus_init::status::handler(board(), true)),
                state: None,
                journal: None,
            },
        }
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let journals: Vec<_> = self.built.drain().filter_map(|(_, b)| b.journal).collect();
        for j in journals {
            let _ = j.close();
        }
        if let Ok(dir) = std::fs::read_dir(self.fx.run.join("audit")) {
            for e in dir.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

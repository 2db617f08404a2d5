//! A daemon's life: start (policy, state, audit, control channel, signals),
//! build the service, serve, say ready, stop.
//!
//! Invariants:
//! - The policy is loaded before anything else and a failure is fatal; so
//!   is a state directory or audit log that cannot be opened. There is no
//!   fallback mode.
//! - In durable mode the daemon's state root is attached before the
//!   service is built (key from keymintd's `km.state_key`, or, for
//!   keymintd itself, attached by its build), and serving without one is
//!   refused. A damaged root is reported on stderr, not fatal: the records
//!   it covers are `EIO`, everything else is served.
//! - The ready marker is written only after the wire server exists, every
//!   queued endpoint is attached to it, the public socket (if any) is
//!   bound, and every required upstream answered `status`.
//! - On stop (SIGTERM/SIGINT, end of the control channel) the server stops
//!   accepting, in-flight requests are answered, the socket file is
//!   removed, upstream clients are dropped.

use crate::args::{Config, StateChoice};
use crate::audit::{AuditLog, JournalSink, SharedSink};
use crate::control::{Control, ServeSlot};
use crate::damage::{Damage, WithDamage};
use crate::error::DaemonError;
use crate::markers::Markers;
use crate::shutdown::{Shutdown, SignalWatcher, StopReason};
use crate::upstreams::{UpstreamConfig, UpstreamError, Upstreams};
use auditlog::Journal;
use nexus_core::{Clock, DamageSink, DamagedRecord, SystemClock};
use policy::{Policy, PolicyEngine};
use statefs::{Ownership, RootConfig, RootReport, StateFs, StateKey};
use std::fs::DirBuilder;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::{Args, Handler, PeerCredResolver, Server};

/// How long startup keeps asking a required upstream for `status`.
const UPSTREAM_STARTUP: Duration = Duration::from_secs(30);

/// What a daemon is, fixed at compile time in its `main.rs`.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The service name (`keymintd`): markers, socket and audit file names.
    pub name: &'static str,
    /// The version reported by `status` (normally `env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    /// Whether it listens on `<run>/<name>.sock`.
    pub public_socket: bool,
    /// Whether `--trust-dir` is required.
    pub needs_trust_dir: bool,
    /// The services it calls, by endpoint name. Each must answer `status`
    /// before the daemon says ready; endpoints with other names are refused.
    /// A daemon that lists `keymintd` gets its state-root key from it.
    pub upstreams: &'static [&'static str],
    /// The records of the state directory it owns, as
    /// [`statefs::Ownership`] patterns (`keystore/**`,
    /// `identity/*/vault.kv`): its state root covers exactly these.
    pub owns: &'static [&'static str],
}

/// What the service is built from.
pub struct Context {
    spec: Spec,
    config: Config,
    state: StateFs,
    journal: Journal,
    clock: Arc<dyn Clock>,
    policy: Arc<PolicyEngine>,
    audit: AuditLog,
    upstreams: Upstreams,
    markers: Markers,
    shutdown: Shutdown,
    damage: Damage,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("spec", &self.spec)
            .field("config", &self.config)
            .field("state", &self.state)
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The daemon's spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// The parsed command line.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The state store (durable or volatile).
    pub fn state(&self) -> &StateFs {
        &self.state
    }
    /// The policy engine, auditing to the daemon's log.
    pub fn policy(&self) -> &Arc<PolicyEngine> {
        &self.policy
    }
    /// The daemon's own audit records, same file as the engine's.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }
    /// Clients to the declared upstream services.
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }
    /// The marker writer (stdout).
    pub fn markers(&self) -> &Markers {
        &self.markers
    }
    /// The shutdown latch (to stop the daemon from inside).
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
    /// Where the service reports damaged records (said on stderr and in
    /// every `status` reply).
    pub fn damage(&self) -> &Damage {
        &self.damage
    }
    /// Whether the daemon runs without a state directory.
    pub fn is_volatile(&self) -> bool {
        self.state.is_volatile()
    }

    /// The daemon's audit log (which also carries its state root's lines).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Attach the daemon's state root with `key` (durable mode; a daemon
    /// that does not get its key from keymintd calls this from its build:
    /// keymintd itself). Reports on stderr what the root found.
    pub fn attach_state_root(&self, key: StateKey) -> Result<RootReport, DaemonError> {
        let owns = Ownership::new(self.spec.owns)
            .map_err(|e| DaemonError::StateRoot(statefs::StateError::Path(e)))?;
        let report = self
            .state
            .attach_root(RootConfig {
                service: self.spec.name.to_owned(),
                key: Arc::new(key),
                owns,
                journal: self.journal.clone(),
                clock: Arc::clone(&self.clock),
                counter: None,
                snapshot_every: statefs::DEFAULT_SNAPSHOT_EVERY,
            })
            .map_err(DaemonError::StateRoot)?;
        let name = self.spec.name;
        if let Some(n) = report.adopted {
            if n == 0 {
                eprintln!("{name}: state root created");
            } else {
                eprintln!("{name}: state root created; adopted {n} existing record(s) as they are");
            }
        }
        if report.settled > 0 {
            eprintln!(
                "{name}: state root: {} change(s) interrupted by a crash settled from disk",
                report.settled
            );
        }
        if report.temp_removed > 0 {
            eprintln!(
                "{name}: removed {} orphaned temp file(s)",
                report.temp_removed
            );
        }
        // A damaged root is one damaged record to report, the same way as
        // any other (console and status): its records are EIO.
        let damaged: Vec<DamagedRecord> = report
            .damaged
            .iter()
            .map(|why| {
                DamagedRecord::new(
                    format!("state:/root/{name}"),
                    format!("state root damaged, the records it covers are EIO: {why}"),
                )
            })
            .collect();
        self.damage.set_damaged("state root", &damaged);
        Ok(report)
    }

    /// A key from keymintd (`km.state_key`, `km.trust_key`), asked until
    /// it answers or [`UPSTREAM_STARTUP`] passes (at start keymintd may
    /// still be coming up; afterwards a call to it fails at once).
    fn keymintd_key<O>(&self) -> Result<StateKey, DaemonError>
    where
        O: nexus_proto::Op<Args = nexus_proto::Empty, Reply = nexus_proto::KeyReply>,
    {
        let deadline = Instant::now() + UPSTREAM_STARTUP;
        let args = nexus_proto::encode_args::<O>(&nexus_proto::Empty {}).map_err(|e| {
            DaemonError::Setup {
                what: "the state key",
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        loop {
            self.upstreams.wait_connected(KEYMINTD, deadline);
            match self.upstreams.call_idempotent(KEYMINTD, O::NAME, &args) {
                Ok(v) => {
                    let not_a_key = |why: String| DaemonError::Setup {
                        what: "the state key",
                        source: std::io::Error::other(format!("{}: {why}", O::NAME)),
                    };
                    let reply =
                        nexus_proto::decode_reply::<O>(v).map_err(|e| not_a_key(e.to_string()))?;
                    return StateKey::from_slice(reply.key.expose())
                        .ok_or_else(|| not_a_key("not a 32-byte key".to_owned()));
                }
                Err(e @ (UpstreamError::Unavailable(_) | UpstreamError::Transport { .. }))
                    if Instant::now() < deadline && self.shutdown.reason().is_none() =>
                {
                    eprintln!("{}: still waiting for keymintd: {e}", self.spec.name);
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(DaemonError::Upstream {
                        service: KEYMINTD,
                        source,
                    })
                }
            }
        }
    }

    /// The trust store's MAC key (keystored writes the trust manifest,
    /// bundlemgrd and updated read it); `None` in volatile mode.
    pub fn trust_key(&self) -> Result<Option<StateKey>, DaemonError> {
        if self.is_volatile() {
            return Ok(None);
        }
        self.keymintd_key::<nexus_proto::KmTrustKey>().map(Some)
    }

    /// The `status` reply every service gives:
    /// `{service, volatile, insecure, version}`. The records in
    /// [`Context::damage`] are added to each reply as it is sent.
    pub fn status(&self, insecure: bool) -> nexus_proto::StatusReply {
        nexus_proto::StatusReply {
            service: self.spec.name.to_owned(),
            volatile: self.is_volatile(),
            insecure,
            version: self.spec.version.to_owned(),
            damaged: None,
        }
    }
}

/// keymintd's endpoint name.
const KEYMINTD: &str = "keymintd";

/// The built service: its handler, and whether it runs in the insecure
/// deterministic mode (said in the ready marker).
#[derive(Debug)]
pub struct Service<H> {
    /// Answers requests.
    pub handler: H,
    /// Whether the ready marker must say INSECURE.
    pub insecure: bool,
}

/// A started daemon, not yet serving.
pub struct Daemon {
    ctx: Context,
    serve: ServeSlot,
    control: Option<Control>,
    signals: Option<SignalWatcher>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

fn create_dir(path: &Path, mode: u32) -> Result<(), DaemonError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|source| DaemonError::Dir {
            path: path.to_path_buf(),
            source,
        })
}

impl Daemon {
    /// Start as a process: control channel on stdin (with
    /// `--control-stdin`), markers on stdout, SIGTERM/SIGINT handled, and
    /// the process made non-dumpable (no core dumps, no ptrace or
    /// `/proc/<pid>/mem` by other processes of the same uid), since
    /// secrets pass through every daemon's memory.
    pub fn start(spec: Spec, config: Config) -> Result<Daemon, DaemonError> {
        Daemon::start_process(spec, config, Markers::stdout())
    }

    /// [`Daemon::start`] with the daemon's own marker writer (a ready note,
    /// a line after ready). Every process start goes through here, so every
    /// daemon is non-dumpable and handles its signals the same way.
    pub fn start_process(
        spec: Spec,
        config: Config,
        markers: Markers,
    ) -> Result<Daemon, DaemonError> {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .map_err(|e| DaemonError::Setup {
                what: "non-dumpable mode",
                source: e.into(),
            })?;
        let control = if config.control_stdin {
            let fd = std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|source| DaemonError::Setup {
                    what: "the control channel",
                    source,
                })?;
            Some(fd)
        } else {
            None
        };
        let mut d = Daemon::start_with(spec, config, control, markers)?;
        let watcher =
            SignalWatcher::start(d.ctx.shutdown.clone()).map_err(|source| DaemonError::Setup {
                what: "the signal handlers",
                source,
            })?;
        d.signals = Some(watcher);
        Ok(d)
    }

    /// Start with an explicit control channel and marker writer, without
    /// touching the process's signals (embedding, tests).
    pub fn start_with(
        spec: Spec,
        config: Config,
        control: Option<OwnedFd>,
        markers: Markers,
    ) -> Result<Daemon, DaemonError> {
        let policy = Policy::load(&config.policy).map_err(|source| DaemonError::Policy {
            path: config.policy.clone(),
            source,
        })?;
        Daemon::start_loaded(spec, config, policy, control, markers)
    }

    /// [`Daemon::start_with`] with the policy already loaded (from
    /// `config.policy`): the fuzz workspace starts several daemons in one
    /// process for every input, and parses the policy once.
    #[cfg(feature = "fuzzing")]
    pub fn start_with_policy(
        spec: Spec,
        config: Config,
        policy: Policy,
        control: Option<OwnedFd>,
        markers: Markers,
    ) -> Result<Daemon, DaemonError> {
        Daemon::start_loaded(spec, config, policy, control, markers)
    }

    fn start_loaded(
        spec: Spec,
        config: Config,
        policy: Policy,
        control: Option<OwnedFd>,
        markers: Markers,
    ) -> Result<Daemon, DaemonError> {
        let state = match &config.state {
            StateChoice::Durable(dir) => StateFs::open(dir)?,
            StateChoice::Volatile => StateFs::volatile(),
        };
        state.set_reserve(config.state_reserve);
        let audit_dir = config.audit_dir();
        create_dir(&audit_dir, 0o700)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let journal = Journal::open(&audit_dir, spec.name, config.audit, Arc::clone(&clock))
            .map_err(|source| DaemonError::Audit {
                path: audit_dir.clone(),
                source,
            })?;
        let sink: Arc<dyn policy::AuditSink> = Arc::new(JournalSink(journal.clone()));
        let gauge_state = state.clone();
        let engine = PolicyEngine::new(
            policy,
            Box::new(SharedSink(Arc::clone(&sink))),
            Arc::clone(&clock),
        )
        .with_reserve(Arc::new(move || gauge_state.reserve_reached()));
        let shutdown = Shutdown::new();
        let upstreams = Upstreams::new(UpstreamConfig::default());
        let serve = ServeSlot::new();
        let control = control
            .map(|fd| {
                Control::spawn(
                    spec.name,
                    fd,
                    serve.clone(),
                    upstreams.clone(),
                    spec.upstreams,
                    shutdown.clone(),
                )
            })
            .transpose()
            .map_err(|source| DaemonError::Setup {
                what: "the control channel",
                source,
            })?;
        let d = Daemon {
            ctx: Context {
                spec,
                config,
                state,
                journal,
                clock: Arc::clone(&clock),
                policy: Arc::new(engine),
                audit: AuditLog::new(sink, clock),
                upstreams,
                markers,
                shutdown,
                damage: Damage::new(spec.name),
            },
            serve,
            control,
            signals: None,
        };
        if !d.ctx.is_volatile() && spec.upstreams.contains(&KEYMINTD) {
            let key = d.ctx.keymintd_key::<nexus_proto::KmStateKey>()?;
            d.ctx.attach_state_root(key)?;
        }
        Ok(d)
    }

    /// What the service is built from.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Serve with `service` until told to stop; returns why it stopped.
    pub fn serve<H: Handler>(mut self, service: Service<H>) -> Result<StopReason, DaemonError> {
        if !self.ctx.is_volatile() && !self.ctx.state.has_root() {
            return Err(DaemonError::StateRoot(statefs::StateError::NoRoot(
                "a durable daemon serves only with its state root attached",
            )));
        }
        let handler = WithDamage::new(service.handler, self.ctx.damage.clone());
        let server = Server::new(handler, self.ctx.config.server_config());
        let result = self.go_live(&server, service.insecure);
        let result = result.map(|()| self.ctx.shutdown.wait());
        if !server.shutdown() {
            eprintln!(
                "{}: some requests did not finish within the shutdown grace",
                self.ctx.spec.name
            );
        }
        self.serve.stop();
        self.ctx.upstreams.close();
        if let Some(c) = self.control.take() {
            c.stop();
        }
        if let Some(s) = self.signals.take() {
            s.stop();
        }
        // A clean stop: the root's last snapshot, then every audit line on
        // disk, so the next start replays nothing.
        if let Err(e) = self.ctx.state.close() {
            eprintln!(
                "{}: state root snapshot at stop failed: {e}",
                self.ctx.spec.name
            );
        }
        if let Err(e) = self.ctx.journal.close() {
            eprintln!("{}: audit log close failed: {e}", self.ctx.spec.name);
        }
        result
    }

    fn go_live(&self, server: &Server, insecure: bool) -> Result<(), DaemonError> {
        let ctx = &self.ctx;
        if ctx.spec.public_socket {
            // Searchable by others: the socket's own mode (0660) and the
            // policy's uid map decide who gets in, not the directory.
            create_dir(&ctx.config.run, 0o755)?;
            let engine = Arc::clone(&ctx.policy);
            let path = ctx.config.policy.clone();
            let resolver = PeerCredResolver::new(move |uid| engine.policy().peer_subject(uid))
                .refusing_with(move |uid| policy::unmapped_uid_message(uid, &path));
            server.listen(ctx.config.socket_path(ctx.spec.name), resolver)?;
        }
        self.serve.attach(server)?;
        for &service in ctx.spec.upstreams {
            self.await_upstream(service)?;
        }
        if ctx.shutdown.reason().is_some() {
            return Ok(());
        }
        ctx.markers
            .ready(ctx.spec.name, ctx.is_volatile(), insecure)
            .map_err(DaemonError::Marker)?;
        eprintln!(
            "{}: serving ({}{})",
            ctx.spec.name,
            ctx.state.mode(),
            if insecure { ", INSECURE" } else { "" }
        );
        Ok(())
    }

    fn await_upstream(&self, service: &'static str) -> Result<(), DaemonError> {
        let deadline = Instant::now() + UPSTREAM_STARTUP;
        let mut said = None;
        loop {
            // Calls fail at once while the service is down: wait here for
            // its endpoint instead of spinning.
            self.ctx.upstreams.wait_connected(service, deadline);
            match self
                .ctx
                .upstreams
                .call_idempotent(service, "status", &Args::new())
            {
                Ok(_) => return Ok(()),
                Err(e @ (UpstreamError::Unavailable(_) | UpstreamError::Transport { .. }))
                    if Instant::now() < deadline && self.ctx.shutdown.reason().is_none() =>
                {
                    if said.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
                        eprintln!("{}: still waiting for {service}: {e}", self.ctx.spec.name);
                        said = Some(Instant::now());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => return Err(DaemonError::Upstream { service, source }),
            }
        }
    }
}

/// The whole life of a daemon process: parse the command line, start,
/// build the service with `build`, serve, stop. Returns the exit status:
/// 0 after an orderly stop, 1 after a fatal error (printed on stderr),
/// 2 for a usage error.
pub fn run<H, E, F>(spec: Spec, build: F) -> ExitCode
where
    H: Handler,
    E: std::error::Error + Send + Sync + 'static,
    F: FnOnce(&Context) -> Result<Service<H>, E>,
{
    run_with(
        spec,
        std::env::args_os().collect(),
        Markers::stdout(),
        build,
    )
}

/// [`run`] with the command line given (a daemon that took its own flags
/// off first) and the daemon's own marker writer.
pub fn run_with<H, E, F>(
    spec: Spec,
    args: Vec<std::ffi::OsString>,
    markers: Markers,
    build: F,
) -> ExitCode
where
    H: Handler,
    E: std::error::Error + Send + Sync + 'static,
    F: FnOnce(&Context) -> Result<Service<H>, E>,
{
    let config = match Config::parse(&spec, args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let outcome = Daemon::start_process(spec, config, markers).and_then(|d| {
        let service = build(d.context()).map_err(|e| DaemonError::Service(Box::new(e)))?;
        d.serve(service)
    });
    match outcome {
        Ok(reason) => {
            eprintln!("{}: stopped ({reason:?})", spec.name);
            ExitCode::from(reason.exit_status())
        }
        Err(e) => {
            eprintln!("{}: fatal: {e}", spec.name);
            ExitCode::FAILURE
        }
    }
}

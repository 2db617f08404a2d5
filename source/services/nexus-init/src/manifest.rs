//! The init manifest (`config/init.toml`): which services exist, how each
//! is started, the order between them and which may call which.
//!
//! Format (version 1; unknown keys are refused):
//!
//! ```toml
//! version = 1
//! [restart]                 # optional; these are the defaults
//! initial_ms = 100
//! max_ms = 5000
//! max_per_minute = 5
//! failed_retry_ms = 60000
//!
//! [[service]]
//! name = "keystored"        # also the endpoint name its clients see
//! binary = "keystored"      # default: the name; relative = next to nexus-init
//! kind = "daemon"           # or "app": started only on demand (--selftest)
//! subject = "system:keystored"
//! after = ["keymintd"]
//! public_socket = true      # listens on <run>/keystored.sock
//! args = []                 # extra arguments after the common flags
//! ready_marker = "keystored: ready"   # the default
//! restart = true            # the default for daemons
//! core = true               # default: whether another daemon routes to it
//! ready_timeout_secs = 30   # the default
//!
//! [[route]]
//! from = "keystored"        # the caller
//! to = "keymintd"           # the server
//! lanes = 4                 # default 1: connections handed out at once
//!
//! [sockets]                 # optional: who may connect to the public sockets
//! group = "nexus-clients"   # a group name (from /etc/group) or a number
//! mode = "0660"             # default "0660" with a group, else "0600"
//! ```
//!
//! Invariant: a [`Manifest`] exists only once every check has passed:
//! names are unique labels, subjects parse and are unique, every `after`
//! and route end exists, the `after` relation has no cycle, and a daemon
//! calls only daemons it starts after (so it never waits for an upstream
//! that is not running). The file is at most [`MAX_MANIFEST_LEN`] bytes,
//! with at most [`MAX_SERVICES`] entries and [`MAX_ROUTES`] routes, each
//! route carries 1..=[`MAX_LANES`] lanes, and every check is O(n log n) or
//! bounded by those caps, so a hostile or broken file costs init little
//! before it is refused (and a hand-out never more than
//! `MAX_ROUTES * MAX_LANES` socketpairs).

use crate::error::ManifestError;
use crate::graph;
use crate::restart::RestartPolicy;
use nexus_core::{Label, Subject};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The manifest version this init reads.
pub const MANIFEST_VERSION: i64 = 1;

/// The name reserved for server-side endpoints on the control channel.
pub const SERVE: &str = "serve";

/// The name of init's own socket (`<run>/init.sock`), which no service may
/// take.
pub const INIT: &str = "init";

/// The largest manifest file, in bytes.
pub const MAX_MANIFEST_LEN: usize = 1 << 20;

/// The most entries (`[[service]]`) a manifest may have.
pub const MAX_SERVICES: usize = 256;

/// The most routes a manifest may have.
pub const MAX_ROUTES: usize = 1024;

/// The most lanes (connections handed out together) a route may have.
/// Each lane is one server connection and one client in the caller's
/// pool; a few already use every core of a small machine.
pub const MAX_LANES: u8 = 8;

/// The flags init passes to every child itself; a manifest may not repeat
/// them in `args`.
pub const COMMON_FLAGS: [&str; 8] = [
    "--state",
    "--volatile",
    "--policy",
    "--run",
    "--trust-dir",
    "--control-stdin",
    "--socket-mode",
    "--socket-group",
];

const DEFAULT_READY_TIMEOUT: u64 = 30;
const MAX_READY_TIMEOUT: u64 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    version: i64,
    restart: Option<RawRestart>,
    #[serde(default)]
    service: Vec<RawService>,
    #[serde(default)]
    route: Vec<RawRoute>,
    sockets: Option<RawSockets>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSockets {
    mode: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    initial_ms: Option<u64>,
    max_ms: Option<u64>,
    max_per_minute: Option<u32>,
    failed_retry_ms: Option<u64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Daemon,
    App,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    binary: Option<String>,
    kind: Option<RawKind>,
    subject: String,
    #[serde(default)]
    after: Vec<String>,
    public_socket: Option<bool>,
    #[serde(default)]
    args: Vec<String>,
    ready_marker: Option<String>,
    restart: Option<bool>,
    core: Option<bool>,
    ready_timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    from: String,
    to: String,
    lanes: Option<u64>,
}

/// Whether an entry is supervised from boot or started on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Started at boot in dependency order, restarted when it dies.
    Daemon,
    /// Started only when asked (`--selftest`), after `init: ready`; never
    /// restarted; its exit status is reported.
    App,
}

/// One validated entry.
#[derive(Debug, Clone)]
pub struct Service {
    name: Label,
    binary: PathBuf,
    kind: Kind,
    subject: Subject,
    after: Vec<usize>,
    public_socket: bool,
    args: Vec<String>,
    ready_marker: String,
    restart: bool,
    core: Option<bool>,
    ready_timeout: Duration,
}

impl Service {
    /// The name (also the endpoint name its clients receive).
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
    /// The binary as written (relative paths resolve next to nexus-init).
    pub fn binary(&self) -> &Path {
        &self.binary
    }
    /// Daemon or app.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The subject its peers see on its endpoints.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }
    /// Indices of the entries it starts after.
    pub fn after(&self) -> &[usize] {
        &self.after
    }
    /// Whether it serves `<run>/<name>.sock`.
    pub fn public_socket(&self) -> bool {
        self.public_socket
    }
    /// Extra arguments after the common flags.
    pub fn args(&self) -> &[String] {
        &self.args
    }
    /// The stdout line that says it serves.
    pub fn ready_marker(&self) -> &str {
        &self.ready_marker
    }
    /// Whether it is restarted when it dies.
    pub fn restart(&self) -> bool {
        self.restart
    }
    /// Whether it is a core daemon, never given up after boot (`core` in
    /// the manifest; by default, whether another daemon routes to it).
    pub fn core(&self) -> bool {
        self.core == Some(true)
    }
    /// How long it may take to print its ready marker.
    pub fn ready_timeout(&self) -> Duration {
        self.ready_timeout
    }
    /// Whether `line` (without its line ending) is this service's ready
    /// marker: exactly the marker, or the marker followed by a mode suffix
    /// such as ` (volatile)`.
    pub fn is_ready_line(&self, line: &[u8]) -> bool {
        crate::child::is_ready_line(&self.ready_marker, line)
    }
}

/// The group that may reach the public sockets, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketGroup {
    /// A group name, looked up in `/etc/group` when init starts.
    Name(String),
    /// A numeric gid.
    Gid(u32),
}

/// Who may connect to the public sockets (`[sockets]`): the file mode of
/// every public socket (init's own included) and, optionally, their group.
/// What a caller may then do is still the policy's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sockets {
    /// Permission bits of each socket file.
    pub mode: u32,
    /// Their group (default: init's effective group).
    pub group: Option<SocketGroup>,
}

impl Default for Sockets {
    /// Owner only: the stack's own user (root) and nobody else.
    fn default() -> Self {
        Sockets {
            mode: 0o600,
            group: None,
        }
    }
}

impl Sockets {
    /// The mode of the run directory that holds the sockets: the owner's
    /// `rwx`, plus `r-x` for the group and for others when the sockets
    /// grant them anything (connecting needs search permission on the
    /// directory).
    pub fn run_dir_mode(&self) -> u32 {
        let mut m = 0o700;
        if self.mode & 0o070 != 0 {
            m |= 0o050;
        }
        if self.mode & 0o007 != 0 {
            m |= 0o005;
        }
        m
    }

    /// Whether anyone besides the owner may reach the sockets.
    pub fn is_shared(&self) -> bool {
        self.run_dir_mode() != 0o700
    }
}

fn sockets(raw: Option<RawSockets>) -> Result<Sockets, ManifestError> {
    let Some(raw) = raw else {
        return Ok(Sockets::default());
    };
    let group = match raw.group {
        None => None,
        Some(g) if !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()) => {
            Some(SocketGroup::Gid(g.parse().map_err(|_| {
                ManifestError::BadSockets(format!("group {g:?} is not a gid"))
            })?))
        }
        Some(g) if valid_group_name(&g) => Some(SocketGroup::Name(g)),
        Some(g) => {
            return Err(ManifestError::BadSockets(format!(
                "group {g:?} is neither a group name nor a number"
            )))
        }
    };
    let mode = match raw.mode {
        Some(m) => wire::parse_socket_mode(&m).map_err(ManifestError::BadSockets)?,
        None if group.is_some() => 0o660,
        None => 0o600,
    };
    if mode & 0o600 != 0o600 {
        return Err(ManifestError::BadSockets(format!(
            "mode {mode:04o} must let the owner read and write (0600)"
        )));
    }
    Ok(Sockets { mode, group })
}

/// A group name as `groupadd` accepts it: 1..=32 bytes of `[a-z0-9_.-]`
/// (any case), not starting with `-`, optionally ending in `$`.
fn valid_group_name(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 32
        && !body.starts_with('-')
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A route: `client` calls `server` (indices into the entries) over
/// `lanes` connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The calling entry.
    pub client: usize,
    /// The serving entry (always a daemon).
    pub server: usize,
    /// How many endpoints each hand-out gives this route: 1..=[`MAX_LANES`]
    /// (checked when the manifest is parsed; default 1). Each carries one
    /// call at a time, so this is how many of the client's calls the
    /// server may execute at once.
    pub lanes: u8,
}

/// A validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    services: Vec<Service>,
    routes: Vec<Route>,
    restart: RestartPolicy,
    start_order: Vec<usize>,
    sockets: Sockets,
}

impl Manifest {
    /// Read and validate the manifest at `path` (at most
    /// [`MAX_MANIFEST_LEN`] bytes are read).
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        use std::io::Read;
        let read_err = |source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(MAX_MANIFEST_LEN as u64 + 1)
                    .read_to_string(&mut text)
            })
            .map_err(read_err)?;
        Manifest::parse(&text)
    }

    /// Parse and validate manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        if text.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge("the file is over 1 MiB"));
        }
        let raw: RawManifest = toml::from_str(text)?;
        if raw.version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(raw.version));
        }
        if raw.service.len() > MAX_SERVICES {
            return Err(ManifestError::TooLarge("more than 256 services"));
        }
        if raw.route.len() > MAX_ROUTES {
            return Err(ManifestError::TooLarge("more than 1024 routes"));
        }
        let restart = restart_policy(raw.restart)?;
        let sockets = sockets(raw.sockets)?;
        let names = entry_names(&raw.service)?;
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let mut subjects = HashSet::new();
        let mut services = Vec::with_capacity(raw.service.len());
        for (svc, name) in raw.service.into_iter().zip(names.iter()) {
            let entry = service(svc, name.clone(), &index)?;
            if !subjects.insert(entry.subject.to_string()) {
                return Err(ManifestError::DuplicateSubject(entry.subject.to_string()));
            }
            services.push(entry);
        }
        for s in &services {
            if let Some(&app) = s.after.iter().find(|&&d| services[d].kind == Kind::App) {
                return Err(ManifestError::AfterApp {
                    service: s.name().to_owned(),
                    app: services[app].name().to_owned(),
                });
            }
        }
        let start_order = graph::start_order(&services)?;
        let routes = routes(raw.route, &services)?;
        // Core by default: a daemon another daemon calls.
        for r in &routes {
            if services[r.client].kind == Kind::Daemon {
                let server = &mut services[r.server];
                server.core.get_or_insert(true);
            }
        }
        Ok(Manifest {
            services,
            routes,
            restart,
            start_order,
            sockets,
        })
    }

    /// Who may connect to the public sockets (`[sockets]`).
    pub fn sockets(&self) -> &Sockets {
        &self.sockets
    }

    /// Every entry, in file order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }
    /// Every route.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
    /// The restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart
    }
    /// Indices of the daemons in the order they start.
    pub fn start_order(&self) -> &[usize] {
        &self.start_order
    }
    /// Names of the daemons in the order they start.
    pub fn start_order_names(&self) -> Vec<&str> {
        self.start_order
            .iter()
            .map(|&i| self.services[i].name())
            .collect()
    }
    /// The index of the entry called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name() == name)
    }
}

fn restart_policy(raw: Option<RawRestart>) -> Result<RestartPolicy, ManifestError> {
    let mut p = RestartPolicy::default();
    let Some(raw) = raw else { return Ok(p) };
    if let Some(ms) = raw.initial_ms {
        p.initial = Duration::from_millis(ms);
    }
    if let Some(ms) = raw.max_ms {
        p.max = Duration::from_millis(ms);
    }
    if let Some(n) = raw.max_per_minute {
        p.max_per_window = n;
    }
    if p.initial.is_zero() || p.initial > Duration::from_secs(60) {
        return Err(ManifestError::BadRestartPolicy(
            "initial_ms must be 1..=60000",
        ));
    }
    if p.max < p.initial || p.max > Duration::from_secs(300) {
        return Err(ManifestError::BadRestartPolicy(
            "max_ms must be at least initial_ms and at most 300000",
        ));
    }
    if p.max_per_window == 0 || p.max_per_window > 1000 {
        return Err(ManifestError::BadRestartPolicy(
            "max_per_minute must be 1..=1000",
        ));
    }
    if let Some(ms) = raw.failed_retry_ms {
        if !(1000..=3_600_000).contains(&ms) {
            return Err(ManifestError::BadRestartPolicy(
                "failed_retry_ms must be 1000..=3600000",
            ));
        }
        p.failed_retry = Duration::from_millis(ms);
    }
    Ok(p)
}

/// Validate every name and refuse duplicates, before anything refers to
/// them by name.
fn entry_names(raw: &[RawService]) -> Result<Vec<Label>, ManifestError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let starts_well = s
            .name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
        let label = Label::new(s.name.as_str())
            .ok()
            .filter(|_| starts_well)
            .ok_or_else(|| ManifestError::BadName(s.name.clone()))?;
        if s.name == SERVE || s.name == INIT {
            return Err(ManifestError::ReservedName(s.name.clone()));
        }
        if !seen.insert(s.name.clone()) {
            return Err(ManifestError::DuplicateName(s.name.clone()));
        }
        out.push(label);
    }
    Ok(out)
}

fn is_reserved_arg(arg: &str) -> bool {
    COMMON_FLAGS
        .iter()
        .any(|f| arg == *f || arg.strip_prefix(f).is_some_and(|r| r.starts_with('=')))
}

fn service(
    raw: RawService,
    name: Label,
    index: &HashMap<&str, usize>,
) -> Result<Service, ManifestError> {
    let n = || raw.name.clone();
    let kind = match raw.kind.unwrap_or(RawKind::Daemon) {
        RawKind::Daemon => Kind::Daemon,
        RawKind::App => Kind::App,
    };
    if kind == Kind::App {
        let daemon_only = [
            ("restart", raw.restart.is_some()),
            ("core", raw.core.is_some()),
            ("public_socket", raw.public_socket.is_some()),
            ("ready_marker", raw.ready_marker.is_some()),
            ("ready_timeout_secs", raw.ready_timeout_secs.is_some()),
        ];
        if let Some((key, _)) = daemon_only.iter().find(|(_, set)| *set) {
            return Err(ManifestError::AppOption { service: n(), key });
        }
    }
    let subject = raw
        .subject
        .parse::<Subject>()
        .map_err(|reason| ManifestError::BadSubject {
            service: n(),
            reason,
        })?;
    let binary = raw.binary.clone().unwrap_or_else(|| raw.name.clone());
    if binary.is_empty() || binary.contains('\0') {
        return Err(ManifestError::BadBinary(n()));
    }
    if let Some(arg) = raw
        .args
        .iter()
        .find(|a| a.contains('\0') || is_reserved_arg(a))
    {
        return Err(ManifestError::BadArg {
            service: n(),
            arg: arg.clone(),
        });
    }
    let ready_marker = raw
        .ready_marker
        .clone()
        .unwrap_or_else(|| format!("{}: ready", raw.name));
    if ready_marker.is_empty() || ready_marker.contains(['\n', '\r']) {
        return Err(ManifestError::BadMarker(n()));
    }
    let secs = raw.ready_timeout_secs.unwrap_or(DEFAULT_READY_TIMEOUT);
    if secs == 0 || secs > MAX_READY_TIMEOUT {
        return Err(ManifestError::BadTimeout(n()));
    }
    let mut after = Vec::with_capacity(raw.after.len().min(index.len()));
    let mut seen = HashSet::new();
    for dep in &raw.after {
        let idx = *index
            .get(dep.as_str())
            .ok_or_else(|| ManifestError::UnknownDependency {
                service: n(),
                dependency: dep.clone(),
            })?;
        if seen.insert(idx) {
            after.push(idx);
        }
    }
    Ok(Service {
        name,
        binary: PathBuf::from(binary),
        kind,
        subject,
        after,
        public_socket: raw.public_socket.unwrap_or(false),
        args: raw.args,
        ready_marker,
        restart: raw.restart.unwrap_or(kind == Kind::Daemon),
        core: raw.core,
        ready_timeout: Duration::from_secs(secs),
    })
}

fn routes(raw: Vec<RawRoute>, services: &[Service]) -> Result<Vec<Route>, ManifestError> {
    let by_name: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name(), i))
        .collect();
    let index = |name: &str, r: &RawRoute| {
        by_name
            .get(name)
            .copied()
            .ok_or_else(|| ManifestError::UnknownRouteEnd {
                from: r.from.clone(),
                to: r.to.clone(),
                missing: name.to_owned(),
            })
    };
    let mut out: Vec<Route> = Vec::with_capacity(raw.len());
    let mut listed = HashSet::new();
    // What each daemon (transitively) starts after, found once per daemon.
    let mut reach: HashMap<usize, Vec<bool>> = HashMap::new();
    for r in &raw {
        let (from, to) = (r.from.clone(), r.to.clone());
        let lanes = match r.lanes {
            None => 1,
            Some(n) => u8::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_LANES).contains(n))
                .ok_or(ManifestError::BadLanes {
                    from: from.clone(),
                    to: to.clone(),
                    lanes: n,
                })?,
        };
        let route = Route {
            client: index(&r.from, r)?,
            server: index(&r.to, r)?,
            lanes,
        };
        if route.client == route.server {
            return Err(ManifestError::SelfRoute(from));
        }
        if !listed.insert((route.client, route.server)) {
            return Err(ManifestError::DuplicateRoute { from, to });
        }
        if services[route.server].kind == Kind::App {
            return Err(ManifestError::RouteToApp { from, to });
        }
        let after = reach
            .entry(route.client)
            .or_insert_with(|| graph::starts_after(services, route.client));
        if services[route.client].kind == Kind::Daemon
            && !after.get(route.server).copied().unwrap_or(false)
        {
            return Err(ManifestError::RouteAgainstOrder { from, to });
        }
        out.push(route);
    }
    Ok(out)
}

//! Running one [`Plan`] against one in-process [`World`], and what must
//! hold for every request (a failure panics; libFuzzer reports it):
//!
//! - no handler panics, anywhere behind the wire (libFuzzer's panic hook
//!   aborts even inside a daemon's own `catch_unwind`);
//! - a request whose argument map has the wrong shape (a required
//!   argument left out, one of another CBOR type, one the op does not
//!   take) is never served;
//! - whatever is served fits one reply frame, and has the shape the op
//!   table gives its reply (field names, CBOR types, `null` only where
//!   optional);
//! - no error message repeats a secret argument (password, plaintext,
//!   vault value, private key, auth secret) of the request;
//! - after the input, every daemon built still answers `status`, and once
//!   the stack is dropped no thread it started is left.
//!
//! Time and memory are bounded by libFuzzer's `-timeout` and
//! `-rss_limit_mb`/`-malloc_limit_mb` (see docs/testing/README.md).

use crate::plan::{AppName, SystemName, UidName};
use crate::plan::{Arg, Daemon, Damage, Harm, OpPick, Plan, Step, SurplusName, To, Who, MAX_STEPS};
use crate::stack::World;
use crate::values::{self, all_fields, is_kind, Ctx};
use nexus_proto::schema::{FieldInfo, OpInfo, Service};
use statefs::StatePath;
use wire::{CallContext, Value, MAX_FRAME_LEN};

/// Arguments whose values are secrets.
const SECRETS: &[&str] = &[
    "password", "old", "new", "pt", "value", "private", "auth", "input",
];
/// A repeated step whose request is larger than this is sent at most
/// [`BIG_REPEATS`] times (the input stays a few MiB of work).
const BIG_BODY: usize = 64 * 1024;
const BIG_REPEATS: usize = 4;

/// One request as built: its frame body, and what the plan made of it.
struct Built {
    body: Vec<u8>,
    /// The argument map has a shape the op refuses.
    malformed: bool,
    /// Secret argument values (12..=1024 bytes) sent.
    secrets: Vec<Vec<u8>>,
}

fn daemon_of(info: Option<&OpInfo>) -> Daemon {
    match info.and_then(|i| i.service) {
        Some(Service::Keymintd) => Daemon::Keymintd,
        Some(Service::Identityd) => Daemon::Identityd,
        Some(Service::Attestd) => Daemon::Attestd,
        Some(Service::Bundlemgrd) => Daemon::Bundlemgrd,
        Some(Service::Updated) => Daemon::Updated,
        Some(Service::NexusInit) => Daemon::Init,
        Some(Service::Keystored) | None => Daemon::Keystored,
    }
}

pub(crate) fn subject(who: Who, info: Option<&OpInfo>) -> String {
    match who {
        Who::Natural => match info {
            Some(i) if !i.callers.is_empty() => format!("system:{}", i.callers[0]),
            _ => "system:admin".to_owned(),
        },
        Who::System(s) => format!(
            "system:{}",
            match s {
                SystemName::Admin => "admin",
                SystemName::Selftest => "selftest",
                SystemName::Keystored => "keystored",
                SystemName::Identityd => "identityd",
                SystemName::Attestd => "attestd",
                SystemName::Bundlemgrd => "bundlemgrd",
                SystemName::Updated => "updated",
                SystemName::Unknown => "nobody",
            }
        ),
        Who::App(a) => format!(
            "app:com.example.{}",
            match a {
                AppName::Alpha => "alpha",
                AppName::Beta => "beta",
                AppName::Tiny => "tiny",
                AppName::Unknown => "unknown",
            }
        ),
        Who::Uid(u) => match u {
            UidName::Granted => "uid:1000",
            UidName::Unknown => "uid:1001",
            UidName::Root => "uid:0",
        }
        .to_owned(),
    }
}

fn secret_bytes(v: &Value) -> Option<Vec<u8>> {
    let b = match v {
        Value::Text(t) => t.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        _ => return None,
    };
    (12..=1024).contains(&b.len()).then_some(b)
}

fn build(step: &Step, op: &str, info: Option<&OpInfo>, c: &Ctx<'_>) -> Option<Built> {
    let mut entries: Vec<(Value, Value)> = Vec::new();
    let mut malformed = false;
    let mut secrets = Vec::new();
    let declared: &[FieldInfo] = info.map_or(&[], |i| i.args);
    for (i, f) in declared.iter().enumerate() {
        let v = match step.args.get(i).unwrap_or(&Arg::Right(0)) {
            Arg::Right(n) if f.optional && *n >= 128 => None,
            Arg::Right(n) => Some(values::right(f, *n, c)),
            Arg::Missing => {
                malformed |= !f.optional;
                None
            }
            Arg::Wrong(j) => {
                let v = values::junk(j, c);
                malformed |= !is_kind(&v, f.kind);
                Some(v)
            }
            Arg::Big(b) => Some(values::big(f.kind, b)),
        };
        if let Some(v) = v {
            if SECRETS.contains(&f.name) {
                secrets.extend(secret_bytes(&v));
            }
            entries.push((Value::Text(f.name.to_owned()), v));
        }
    }
    for s in &step.surplus {
        let name = match &s.name {
            SurplusName::Field(n) => all_fields()[usize::from(*n) % all_fields().len()]
                .name
                .to_owned(),
            SurplusName::Text(t) => t.clone(),
        };
        malformed |= !declared.iter().any(|f| f.name == name);
        entries.push((Value::Text(name), values::junk(&s.value, c)));
    }
    let request = Value::Map(vec![
        (Value::Text("v".into()), Value::Integer(1.into())),
        (Value::Text("id".into()), Value::Integer(7.into())),
        (Value::Text("op".into()), Value::Text(op.to_owned())),
        (Value::Text("args".into()), Value::Map(entries)),
    ]);
    let mut body = Vec::new();
    ciborium::ser::into_writer(&request, &mut body).ok()?;
    Some(Built {
        body,
        malformed,
        secrets,
    })
}

/// The reply of a served request has the table's shape.
fn check_reply(op: &str, info: &OpInfo, ok: &Value) {
    let Value::Map(m) = ok else {
        panic!("{op}: reply is not a map");
    };
    for (k, v) in m {
        let Value::Text(k) = k else {
            panic!("{op}: reply key is not text");
        };
        let f = info
            .reply
            .iter()
            .find(|f| f.name == k.as_str())
            .unwrap_or_else(|| panic!("{op}: reply field `{k}` is not in the op table"));
        match v {
            Value::Null => assert!(f.optional, "{op}: reply field `{k}` is null"),
            v => assert!(
                is_kind(v, f.kind),
                "{op}: reply field `{k}` has another type"
            ),
        }
    }
    for f in info.reply.iter().filter(|f| !f.optional) {
        assert!(
            m.iter()
                .any(|(k, _)| matches!(k, Value::Text(t) if t == f.name)),
            "{op}: reply lacks `{}`",
            f.name
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn damage(world: &mut World, d: &Damage) {
    let Some(state) = world.get(d.daemon).state else {
        return;
    };
    let Ok(mut paths) = state.list(&StatePath::root()) else {
        return;
    };
    paths.sort();
    let Some(path) = paths.get(usize::from(d.record) % paths.len().max(1)) else {
        return;
    };
    if let Harm::Delete = d.how {
        let _ = state.delete(path);
        return;
    }
    let Ok(Some(mut bytes)) = state.read(path) else {
        return;
    };
    match &d.how {
        Harm::Flip { at, bits } if !bytes.is_empty() => {
            let i = usize::from(*at) % bytes.len();
            bytes[i] ^= (*bits).max(1);
        }
        Harm::Truncate(n) => bytes.truncate(usize::from(*n) % (bytes.len() + 1)),
        Harm::Append(more) => bytes.extend_from_slice(more),
        Harm::Replace(with) => bytes = with.clone(),
        _ => {}
    }
    let _ = state.write(path, &bytes);
}

/// Send `step` (as many times as it says).
fn send(world: &mut World, step: &Step, table: &[OpInfo]) {
    let (op, info) = match &step.op {
        OpPick::Table(n) => {
            let i = table[usize::from(*n) % table.len()];
            (i.name.to_owned(), Some(i))
        }
        OpPick::Other(s) => (
            s.clone(),
            table.iter().find(|i| i.name == s.as_str()).copied(),
        ),
    };
    let to = match step.to {
        To::Own => daemon_of(info.as_ref()),
        To::Daemon(d) => d,
    };
    let subject: wire::Subject = match subject(step.who, info.as_ref()).parse() {
        Ok(s) => s,
        Err(_) => return,
    };
    let namespace = subject.key_namespace().as_str().to_owned();
    let mut times = step.times();
    let mut i = 0;
    while i < times {
        let built = {
            let pool = world.pool.lock().expect("pool");
            let c = Ctx {
                pool: &pool,
                fx: crate::fixtures::get(),
                iteration: i,
                namespace: &namespace,
            };
            build(step, &op, info.as_ref(), &c)
        };
        i += 1;
        let Some(built) = built else { return };
        if built.body.len() > BIG_BODY {
            times = times.min(BIG_REPEATS);
        }
        // What the wire refuses never reaches a handler (the wire's own
        // fuzz target covers that side), and a repeat has the same shape:
        // the step ends there.
        if built.body.len() > MAX_FRAME_LEN {
            return;
        }
        let Ok(req) = wire::decode_request(&built.body) else {
            if trace() {
                eprintln!("daemon_requests: {op} to {to:?}: refused by the wire's decoder");
            }
            return;
        };
        let outcome = call(world, to, &subject, &req);
        match &outcome {
            Ok(v) => {
                assert!(
                    !built.malformed,
                    "{op} to {to:?} served a malformed argument map"
                );
                let reply = wire::encode_reply(7, Ok(v)).expect("reply encodes");
                assert!(
                    reply.len() <= MAX_FRAME_LEN,
                    "{op}: served reply exceeds the frame"
                );
                if let Some(info) = info
                    .as_ref()
                    .filter(|i| daemon_of(Some(i)) == to || i.service.is_none())
                {
                    check_reply(&op, info, v);
                }
            }
            Err(e) => {
                for s in &built.secrets {
                    assert!(
                        !contains(e.msg().as_bytes(), s),
                        "{op}: error message repeats a secret"
                    );
                }
            }
        }
    }
}

/// Ask daemon `to`'s handler to answer `req` from `subject`, as the
/// server would; what it says goes into the pool.
pub(crate) fn call(
    world: &mut World,
    to: Daemon,
    subject: &wire::Subject,
    req: &wire::Request,
) -> Result<Value, wire::WireError> {
    let handler = world.get(to).handler;
    let outcome = handler.handle(&CallContext::new(subject.clone()), req);
    if trace() {
        let said = match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{}: {}", e.code(), e.msg()),
        };
        eprintln!(
            "daemon_requests: {} to {to:?} as {subject} -> {said}",
            req.op()
        );
    }
    if let Ok(v) = &outcome {
        world.pool.lock().expect("pool").harvest(v);
    }
    outcome
}

/// Whether `NEXUS_FUZZ_TRACE` is set: each request and its outcome on
/// stderr (to see what a corpus exercises).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("NEXUS_FUZZ_TRACE").is_some())
}

/// The threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Run `plan` on a fresh stack; once the stack is dropped, no thread it
/// started may be left (waited for up to [`THREADS_GONE`]).
pub fn run(plan: &Plan) {
    let before = threads();
    drive(plan);
    let deadline = std::time::Instant::now() + THREADS_GONE;
    while threads() > before {
        assert!(
            std::time::Instant::now() < deadline,
            "{} thread(s) of the input's daemons outlived it",
            threads() - before
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// How long the threads of a dropped stack may take to end (a loaded
/// machine included).
const THREADS_GONE: std::time::Duration = std::time::Duration::from_secs(10);

fn drive(plan: &Plan) {
    let table = nexus_proto::ops::all();
    let mut world = World::new();
    crate::prelude::run(&mut world, &plan.prelude);
    for step in plan.steps.iter().take(MAX_STEPS) {
        if let Some(d) = &step.damage {
            damage(&mut world, d);
        }
        send(&mut world, step, &table);
    }
    let status = wire::decode_request(
        &wire::encode_request(1, "status", &wire::Args::new()).expect("status request"),
    )
    .expect("status request");
    for (name, b) in world.built() {
        let asker = match name {
            "nexus-init" => continue,
            "keymintd" => "system:keystored",
            _ => "system:admin",
        };
        let asker: wire::Subject = asker.parse().expect("subject");
        let r = b.handler.handle(&CallContext::new(asker), &status);
        assert!(r.is_ok(), "{name} no longer answers status: {r:?}");
    }
}

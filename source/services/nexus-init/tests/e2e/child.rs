//! A test service that follows the daemon process contract, so that
//! nexus-init can be tested before (and independently of) the real
//! daemons: common flags, endpoints from the control channel on stdin,
//! `status`, a ready marker only once its upstreams answered, exit 0 on
//! SIGTERM or when the control channel closes.
//!
//! Extra flags: `--name N` (its service name), `--needs S` (an upstream
//! that must answer `status` before ready; repeatable), `--listen` (serve
//! `<run>/<name>.sock`), `--app` (call each upstream's `status`, print
//! the result and exit), `--exit-code C`, `--exit-after-ms N` (die with C
//! after N ms), `--ignore-term`, `--no-ready`.
//!
//! Ops: `status` → `{service, volatile, state, pid, caller, serves}`
//! (`serves`: `serve` endpoints received so far); `relay {to}` → the
//! `status` reply of upstream `to`, through the newest endpoint init handed
//! out (waiting up to 10 s for a re-issued one if the current one broke);
//! `lanes {to}` → `{answered, pids}`: `status` through every live endpoint
//! to `to` (each arrival drops the ones whose server is gone).

use signal_hook::consts::SIGTERM;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wire::{
    Args, CallContext, Client, ClientConfig, PeerCredResolver, Request, Server, ServerConfig,
    Subject, Value, WireError,
};

#[derive(Default)]
struct Opts {
    name: String,
    needs: Vec<String>,
    listen: bool,
    app: bool,
    exit_code: i32,
    exit_after: Option<Duration>,
    ignore_term: bool,
    no_ready: bool,
    volatile: bool,
    state: Option<String>,
    run: String,
    socket_mode: Option<u32>,
    socket_group: Option<u32>,
}

fn parse() -> Opts {
    let mut o = Opts::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().expect("flag value");
        match a.as_str() {
            "--name" => o.name = val(),
            "--needs" => o.needs.push(val()),
            "--listen" => o.listen = true,
            "--app" => o.app = true,
            "--exit-code" => o.exit_code = val().parse().expect("code"),
            "--exit-after-ms" => {
                o.exit_after = Some(Duration::from_millis(val().parse().expect("ms")))
            }
            "--ignore-term" => o.ignore_term = true,
            "--no-ready" => o.no_ready = true,
            "--volatile" => o.volatile = true,
            "--state" => o.state = Some(val()),
            "--run" => o.run = val(),
            "--socket-mode" => o.socket_mode = Some(wire::parse_socket_mode(&val()).unwrap()),
            "--socket-group" => o.socket_group = Some(val().parse().expect("gid")),
            "--policy" | "--trust-dir" => {
                val();
            }
            "--control-stdin" | "--contract-child" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!o.name.is_empty(), "--name is required");
    o
}

/// The client endpoints received: name → (generation, client), oldest
/// first, those whose server died dropped at each arrival.
#[derive(Default)]
struct Upstreams {
    map: Mutex<HashMap<String, Vec<(u64, Client)>>>,
    changed: Condvar,
}

impl Upstreams {
    /// Call `status` on `to`, waiting (bounded) for an endpoint, and once
    /// for a fresh one if the current one is dead.
    fn status(&self, to: &str) -> Result<Value, WireError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut avoid: Option<u64> = None;
        let mut map = self.map.lock().unwrap();
        loop {
            match map.get_mut(to).and_then(|v| v.last_mut()) {
                Some((generation, client)) if Some(*generation) != avoid => {
                    if client.is_usable() {
                        match client.call("status", &Args::new()) {
                            Ok(v) => return Ok(v),
                            Err(e) if !e.is_connection_lost() => {
                                return Err(WireError::new(wire::ErrorCode::Eio, e.to_string()))
                            }
                            Err(_) => {}
                        }
                    }
                    avoid = Some(*generation);
                }
                _ => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WireError::new(wire::ErrorCode::Ebusy, "no usable endpoint"));
            }
            map = self.changed.wait_timeout(map, left).unwrap().0;
        }
    }

    /// Call `status` through every endpoint to `to`.
    fn lanes(&self, to: &str) -> Result<Value, WireError> {
        let mut map = self.map.lock().unwrap();
        let mut pids = Vec::new();
        for (_, client) in map.get_mut(to).into_iter().flatten() {
            let v = client
                .call("status", &Args::new())
                .map_err(|e| WireError::new(wire::ErrorCode::Eio, e.to_string()))?;
            let pid = match &v {
                Value::Map(m) => m
                    .iter()
                    .find(|(k, _)| k.as_text() == Some("pid"))
                    .map(|(_, v)| v.clone()),
                _ => None,
            };
            pids.push(pid.unwrap_or(Value::Null));
        }
        Ok(Args::new()
            .with("answered", pids.len() as u64)
            .with("pids", Value::Array(pids))
            .into_value())
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

pub fn main() {
    let o = Arc::new(parse());
    let ups = Arc::new(Upstreams::default());
    let serves = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let mut signals = signal_hook::iterator::Signals::new([SIGTERM]).unwrap();
    let ignore_term = o.ignore_term;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if !ignore_term {
                std::process::exit(0);
            }
        }
    });
    if let Some(after) = o.exit_after {
        let code = o.exit_code;
        std::thread::spawn(move || {
            std::thread::sleep(after);
            std::process::exit(code);
        });
    }

    let handler = {
        let (o, ups, serves) = (Arc::clone(&o), Arc::clone(&ups), Arc::clone(&serves));
        move |ctx: &CallContext, req: &Request| -> Result<Value, WireError> {
            match req.op() {
                "status" => Ok(Args::new()
                    .with("service", o.name.clone())
                    .with("volatile", o.volatile)
                    .with("state", o.state.clone().map_or(Value::Null, Value::Text))
                    .with("pid", u64::from(std::process::id()))
                    .with("caller", ctx.subject().to_string())
                    .with("notify_socket", std::env::var_os("NOTIFY_SOCKET").is_some())
                    .with("serves", serves.load(std::sync::atomic::Ordering::SeqCst))
                    .into_value()),
                "relay" => {
                    let to = req
                        .args()
                        .text("to")
                        .map_err(|e| WireError::new(wire::ErrorCode::Einval, e.to_string()))?;
                    ups.status(to)
                }
                "lanes" => {
                    let to = req
                        .args()
                        .text("to")
                        .map_err(|e| WireError::new(wire::ErrorCode::Einval, e.to_string()))?;
                    ups.lanes(to)
                }
                other => Err(WireError::unknown_op(other)),
            }
        }
    };
    let defaults = ServerConfig::default();
    let server = Server::new(
        handler,
        ServerConfig {
            socket_mode: o.socket_mode.unwrap_or(defaults.socket_mode),
            socket_group: o.socket_group,
            ..defaults
        },
    );

    // The control channel: endpoints until EOF, which means init is gone.
    {
        let (server, ups) = (server.clone(), Arc::clone(&ups));
        let serves = Arc::clone(&serves);
        std::thread::spawn(move || {
            let mut generation = 0u64;
            loop {
                match wire::handoff::recv_endpoint(std::io::stdin()) {
                    Ok(ep) if ep.name.as_str() == "serve" => {
                        server.add_connection(ep.stream, ep.subject).unwrap();
                        serves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(ep) => {
                        generation += 1;
                        let client = Client::from_stream_with(
                            ep.stream,
                            ClientConfig {
                                timeout: Duration::from_secs(5),
                            },
                        );
                        let mut map = ups.map.lock().unwrap();
                        let pool = map.entry(ep.name.as_str().to_owned()).or_default();
                        pool.retain(|(_, c)| c.is_usable());
                        pool.push((generation, client));
                        ups.changed.notify_all();
                    }
                    Err(_) => std::process::exit(0),
                }
            }
        });
    }

    if o.listen {
        let path = std::path::Path::new(&o.run).join(format!("{}.sock", o.name));
        server
            .listen(&path, PeerCredResolver::new(|uid| Some(Subject::Uid(uid))))
            .unwrap();
    }
    let mut volatile_seen = Vec::new();
    for up in &o.needs {
        let v = ups
            .status(up)
            .unwrap_or_else(|e| panic!("{} cannot reach {up}: {e}", o.name));
        let vol = match &v {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| k.as_text() == Some("volatile"))
                .and_then(|(_, v)| v.as_bool()),
            _ => None,
        };
        volatile_seen.push((up.clone(), vol));
    }
    if o.app {
        for (up, vol) in volatile_seen {
            say(&format!("child {}: upstream {up} volatile={vol:?}", o.name));
        }
        std::process::exit(o.exit_code);
    }
    if !o.no_ready {
        let suffix = if o.volatile { " (volatile)" } else { "" };
        say(&format!("{}: ready{suffix}", o.name));
    }
    server.wait();
}

//! Many concurrent clients against the real stack: the real nexus-init
//! with the shipped manifest and policy, the real daemons. For 1, 8, 64
//! and 256 clients, each with its own connection to keystored's public
//! socket, it measures `status` (keystored alone) and `key.sign` (keystored
//! and keymintd) for a few seconds and prints throughput, p50/p99/max
//! latency, refusals, and keystored's resident memory and thread count
//! (sampled every 100 ms: before, peak, after).
//!
//! Run (release binaries first; the bench runs them from target/release):
//!
//! ```sh
//! cargo build --release --bins && cargo bench -p stack_e2e --bench clients
//! ```
//!
//! `NEXUS_BENCH_SECS` (default 3) sets the length of each measurement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../tests/stack/harness.rs"]
mod harness;
// Shared with the stack tests, which use all of it; the bench does not
// compare process identities.
#[allow(dead_code)]
#[path = "../tests/stack/procs.rs"]
mod procs;

use harness::{Stack, BOOT_WAIT, WAIT};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use wire::{Args, Client, Value};

/// `VmRSS` (KiB) and `Threads` of process `pid`.
fn rss_and_threads(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

struct Outcome {
    ops: usize,
    refused: usize,
    latencies: Vec<Duration>,
    rss: (u64, u64, u64),
    threads: (u64, u64, u64),
}

fn run(
    socket: &std::path::Path,
    pid: u32,
    clients: usize,
    op: &str,
    args: &Args,
    secs: u64,
) -> Outcome {
    let before = rss_and_threads(pid);
    let start = Arc::new(Barrier::new(clients + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (start, stop) = (Arc::clone(&start), Arc::clone(&stop));
            let (socket, op, args) = (socket.to_path_buf(), op.to_owned(), args.clone());
            thread::spawn(move || {
                let mut c = Client::connect(&socket).unwrap();
                c.call("status", &Args::new()).unwrap();
                start.wait();
                let (mut lat, mut refused) = (Vec::new(), 0);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match c.call(&op, &args) {
                        Ok(_) => lat.push(t.elapsed()),
                        Err(_) => {
                            refused += 1;
                            c = Client::connect(&socket).unwrap();
                        }
                    }
                }
                (lat, refused)
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let mut peak = before;
    while t0.elapsed() < Duration::from_secs(secs) {
        thread::sleep(Duration::from_millis(100));
        let now = rss_and_threads(pid);
        peak = (peak.0.max(now.0), peak.1.max(now.1));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut refused) = (Vec::new(), 0);
    for w in workers {
        let (l, r) = w.join().unwrap();
        latencies.extend(l);
        refused += r;
    }
    let elapsed = t0.elapsed();
    thread::sleep(Duration::from_millis(200));
    let after = rss_and_threads(pid);
    latencies.sort_unstable();
    let ops = (latencies.len() as f64 / elapsed.as_secs_f64()) as usize;
    Outcome {
        ops,
        refused,
        latencies,
        rss: (before.0, peak.0, after.0),
        threads: (before.1, peak.1, after.1),
    }
}

fn pct(l: &[Duration], q: f64) -> u128 {
    if l.is_empty() {
        return 0;
    }
    let i = ((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1;
    l[i].as_micros()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: u64 = std::env::var("NEXUS_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let stack = Stack::start();
    stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    let socket = stack.run_dir().join("keystored.sock");
    assert_eq!(stack.daemons().len(), harness::DAEMONS.len());
    let keystored = stack.daemon("keystored").expect("keystored runs");
    let pid = keystored.pid;
    let mut admin = Client::connect(&socket).unwrap();
    admin
        .call(
            "key.create",
            &Args::new()
                .with("purpose", "bench")
                .with("name", "clients")
                .with("alg", "Ed25519"),
        )
        .unwrap();
    drop(admin);
    let sign = Args::new()
        .with("purpose", "bench")
        .with("name", "clients")
        .with("msg", Value::Bytes(vec![0x5a; 64]));
    println!(
        "{:>7} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>26} {:>14}",
        "clients",
        "op",
        "ops/s",
        "p50 us",
        "p99 us",
        "max us",
        "refused",
        "keystored RSS KiB b/peak/a",
        "threads b/peak/a"
    );
    for clients in [1, 8, 64, 256] {
        for (op, args) in [("status", Args::new()), ("key.sign", sign.clone())] {
            let o = run(&socket, pid, clients, op, &args, secs);
            println!(
                "{:>7} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>26} {:>14}",
                clients,
                op,
                o.ops,
                pct(&o.latencies, 0.50),
                pct(&o.latencies, 0.99),
                o.latencies.last().map_or(0, Duration::as_micros),
                o.refused,
                format!("{}/{}/{}", o.rss.0, o.rss.1, o.rss.2),
                format!("{}/{}/{}", o.threads.0, o.threads.1, o.threads.2),
            );
        }
    }
    for name in harness::DAEMONS {
        assert_eq!(stack.state_of(name), "up", "{name} after the bench");
    }
    let init = stack.pid();
    stack.signal(rustix::process::Signal::Term);
    let mut stack = stack;
    let status = stack.wait_exit(WAIT);
    assert!(status.success(), "init {init} exited with {status}");
    assert!(procs::reaped(&keystored), "keystored outlived init");
}

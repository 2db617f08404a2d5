//! The fast path against its floors, in one run: a raw in-process Ed25519
//! sign and verify, a bare Unix-socket round trip, a bare atomic write of
//! the vault file, OpenSSH's ssh-agent (when installed), and the real
//! stack (the real nexus-init, manifest and daemons) durable and volatile:
//! `key.sign` with 1 and 8 clients, `key.verify`, `vault.get`, `vault.put`
//! and `attest`. Every ratio is printed next to its target; the floors of
//! `attest` (three hops, a sign and a verify) and of `vault.put` (its work
//! off the disk, measured volatile, plus the bare write) are printed next
//! to the limits their targets set. Then the stack at scale: 10,000 keys
//! and a 1,000-entry vault, a restart timed to `init: ready`, each
//! daemon's resident memory.
//!
//! Run (release binaries first; the bench runs them from target/release):
//!
//! ```sh
//! cargo build --release --bins && cargo bench -p stack_e2e --bench fastpath
//! ```
//!
//! `NEXUS_BENCH_SECS` (default 3) sets the length of each measurement;
//! `NEXUS_BENCH_KEYS` (default 10000) and `NEXUS_BENCH_ENTRIES` (default
//! 1000) the scale part.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod figures;
// Shared with the stack tests, which use all of it.
#[allow(dead_code)]
#[path = "../../tests/stack/procs.rs"]
mod procs;
mod stack;

use figures::Lat;
use nexus_core::{Label, SessionId, UserId};
use nexus_keychain::{CustomClaims, KeyAlg, Keychain};
use stack::Stack;
use std::path::Path;
use std::time::{Duration, Instant};

const PW: &str = "bench-password-123";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

/// The stack's figures in one mode.
struct StackRun {
    sign: Lat,
    sign8: f64,
    verify: Lat,
    get: Lat,
    put: Lat,
    attest: Lat,
    vault_file_bytes: Option<Vec<u8>>,
}

fn sign_clients(run: &Path, clients: usize, dur: Duration) -> f64 {
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let run = run.to_path_buf();
            std::thread::spawn(move || {
                let kc = Keychain::connect(run);
                let (p, n) = (label("bench"), label("k0"));
                let mut ops = 0u64;
                while start.elapsed() < dur {
                    kc.sign(&p, &n, &[0x5a; 64]).unwrap();
                    ops += 1;
                }
                ops
            })
        })
        .collect();
    let ops: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    ops as f64 / start.elapsed().as_secs_f64()
}

fn session(kc: &Keychain) -> SessionId {
    let user = UserId::new("bench").unwrap();
    kc.user_create(&user, PW).unwrap();
    kc.login(&user, PW).unwrap().sid
}

/// Create keys `bench/k<from>..k<to>`.
fn create_keys(kc: &Keychain, from: u64, to: u64) {
    for i in from..to {
        kc.create_key(&label("bench"), &label(&format!("k{i}")), KeyAlg::Ed25519)
            .unwrap();
    }
}

/// Put vault entries `e<from>..e<to>` of 64 bytes.
fn fill_vault(kc: &Keychain, sid: &SessionId, from: u64, to: u64) {
    for i in from..to {
        kc.put(sid, &format!("e{i}"), &[0x42; 64]).unwrap();
    }
}

fn vault_file(state: &Path) -> Option<Vec<u8>> {
    let dir = std::fs::read_dir(state.join("vault")).ok()?.next()?.ok()?;
    std::fs::read(dir.path().join("vault.kv")).ok()
}

fn measure_stack(dir: &Path, durable: bool, dur: Duration) -> StackRun {
    let s = Stack::start(dir, durable);
    let kc = Keychain::connect(&s.run);
    create_keys(&kc, 0, 10);
    let sid = session(&kc);
    fill_vault(&kc, &sid, 0, 10);
    let (p, n) = (label("bench"), label("k0"));
    let msg = [0x5au8; 64];
    let sig = kc.sign(&p, &n, &msg).unwrap().sig;
    let sign = Lat::measure(dur, |_| {
        kc.sign(&p, &n, &msg).unwrap();
    });
    let sign8 = sign_clients(&s.run, 8, dur);
    let verify = Lat::measure(dur, |_| {
        kc.verify(&p, &n, &msg, &sig, None, None).unwrap();
    });
    let get = Lat::measure(dur, |i| {
        kc.get(&sid, &format!("e{}", i % 10)).unwrap();
    });
    let put = Lat::measure(dur, |i| {
        kc.put(&sid, &format!("e{}", i % 10), &[(i % 251) as u8; 64])
            .unwrap();
    });
    let claims = CustomClaims::new();
    let attest = Lat::measure(dur, |_| {
        kc.attest(&p, &n, &[0x17; 16], &claims).unwrap();
    });
    let vault_file_bytes = durable.then(|| vault_file(&dir.join("state"))).flatten();
    s.stop();
    StackRun {
        sign,
        sign8,
        verify,
        get,
        put,
        attest,
        vault_file_bytes,
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn row(what: &str, value: f64, target: &str, ok: bool) {
    println!(
        "  {what:<58} {value:>8.2}  (target {target}: {})",
        verdict(ok)
    );
}

fn main() {
    let dur = Duration::from_secs(env_num("NEXUS_BENCH_SECS", 3));
    let keys = env_num("NEXUS_BENCH_KEYS", 10_000);
    let entries = env_num("NEXUS_BENCH_ENTRIES", 1_000);
    let tmp = tempfile::tempdir().unwrap();

    println!("fastpath bench: {} s per measurement", dur.as_secs());
    let raw = figures::raw_sign(dur);
    let raw_verify = figures::raw_verify(dur);
    let rt = figures::bare_round_trip(dur);
    let wire_rt = figures::wire_round_trip(tmp.path(), dur);
    let agent = figures::ssh_agent(tmp.path(), dur);
    let floor = 1e6 / (raw.p50() + 2.0 * rt.p50());
    println!("floors");
    println!("  raw Ed25519 sign, in process         {}", raw.line());
    println!(
        "  raw Ed25519 verify, in process       {}",
        raw_verify.line()
    );
    println!("  bare Unix-socket round trip, 64 B    {}", rt.line());
    println!("  wire server echo round trip, 64 B    {}", wire_rt.line());
    println!("  two-hop floor of key.sign (raw sign + 2 round trips): {floor:.0} ops/s");
    match &agent {
        Some(a) => println!("  OpenSSH ssh-agent, Ed25519 sign      {}", a.line()),
        None => println!("  OpenSSH ssh-agent: not installed, skipped"),
    }

    let durable_dir = tmp.path().join("durable");
    let volatile_dir = tmp.path().join("volatile");
    std::fs::create_dir_all(&durable_dir).unwrap();
    std::fs::create_dir_all(&volatile_dir).unwrap();
    let d = measure_stack(&durable_dir, true, dur);
    let v = measure_stack(&volatile_dir, false, dur);
    for (name, r) in [("durable", &d), ("volatile", &v)] {
        println!("stack, {name}");
        println!("  key.sign, 1 client                   {}", r.sign.line());
        println!(
            "  key.sign, 8 clients                  {:>9.0} ops/s",
            r.sign8
        );
        println!("  key.verify                           {}", r.verify.line());
        println!("  vault.get (10 entries)               {}", r.get.line());
        println!("  vault.put (10 entries)               {}", r.put.line());
        println!("  attest                               {}", r.attest.line());
    }
    let atomic = d.vault_file_bytes.as_ref().map(|b| {
        (
            b.len(),
            figures::bare_atomic_write(&tmp.path().join("bare"), b, dur),
        )
    });
    if let Some((len, a)) = &atomic {
        println!(
            "  bare atomic write of the vault file ({len} B) {}",
            a.line()
        );
    }

    println!("ratios (durable unless said)");
    let r = d.sign.rate() / floor;
    row("key.sign 1 client / two-hop floor", r, ">= 0.6", r >= 0.6);
    if let Some(a) = &agent {
        let r = d.sign.rate() / a.rate();
        row("key.sign 1 client / ssh-agent", r, ">= 4", r >= 4.0);
    }
    for (what, dv, vv) in [
        ("sign", &d.sign, &v.sign),
        ("verify", &d.verify, &v.verify),
        ("vault.get", &d.get, &v.get),
        ("attest", &d.attest, &v.attest),
    ] {
        let r = dv.rate() / vv.rate();
        row(
            &format!("{what}: durable / volatile (ops/s)"),
            r,
            ">= 0.9",
            r >= 0.9,
        );
    }
    let r = d.sign8 / d.sign.rate();
    row("key.sign 8 clients / 1 client", r, ">= 1.7", r >= 1.7);
    let r = d.get.p50() / rt.p50();
    row("vault.get p50 / bare round trip p50", r, "<= 2", r <= 2.0);
    if let Some((_, a)) = &atomic {
        let r = d.put.p50() / a.p50();
        row(
            "vault.put p50 / bare atomic write p50",
            r,
            "<= 1.3",
            r <= 1.3,
        );
    }
    let r = d.attest.p50() / d.sign.p50();
    row("attest p50 / key.sign p50", r, "<= 1.3", r <= 1.3);

    // What the two targets above leave to work with: each operation's
    // floor next to the limit its target sets, in µs.
    println!("floors of the last two targets (µs)");
    let attest_floor = raw.p50() + raw_verify.p50() + 3.0 * rt.p50();
    println!(
        "  attest: raw sign + raw verify + 3 round trips {attest_floor:>8.1}  (limit 1.3 x key.sign p50: {:.1})",
        1.3 * d.sign.p50()
    );
    if let Some((_, a)) = &atomic {
        let put_floor = v.put.p50() + a.p50();
        println!(
            "  vault.put: volatile put p50 + bare atomic write p50 {put_floor:>8.1}  (limit 1.3 x bare atomic write: {:.1})",
            1.3 * a.p50()
        );
    }

    // Scale: grow the durable stack's state to `keys` keys and `entries`
    // vault entries, restart it, and measure again.
    println!("scale: {keys} keys, {entries} vault entries (durable)");
    let s = Stack::start(&durable_dir, true);
    let kc = Keychain::connect(&s.run);
    let t = Instant::now();
    create_keys(&kc, 10, keys);
    println!(
        "  created {} keys in {:.1} s",
        keys - 10,
        t.elapsed().as_secs_f64()
    );
    let user = UserId::new("bench").unwrap();
    let sid = kc.login(&user, PW).unwrap().sid;
    let t = Instant::now();
    fill_vault(&kc, &sid, 10, entries);
    println!(
        "  put {} entries in {:.1} s",
        entries - 10,
        t.elapsed().as_secs_f64()
    );
    s.stop();
    let s = Stack::start(&durable_dir, true);
    let kc = Keychain::connect(&s.run);
    let sid = kc.login(&user, PW).unwrap().sid;
    let (p, n) = (label("bench"), label("k0"));
    let sign = Lat::measure(dur, |_| {
        kc.sign(&p, &n, &[0x5a; 64]).unwrap();
    });
    let get = Lat::measure(dur, |i| {
        kc.get(&sid, &format!("e{}", i % 10)).unwrap();
    });
    println!(
        "  nexus-init start to `init: ready`    {:>9.1} ms",
        s.boot.as_secs_f64() * 1e3
    );
    println!("  key.sign, 1 client                   {}", sign.line());
    println!("  vault.get                            {}", get.line());
    let r = sign.p50() / d.sign.p50();
    row(
        "key.sign p50 at scale / with 10 keys",
        r,
        "<= 1.2",
        r <= 1.2,
    );
    let r = get.p50() / d.get.p50();
    row(
        "vault.get p50 at scale / with 10 entries",
        r,
        "<= 1.2",
        r <= 1.2,
    );
    let boot = s.boot.as_secs_f64() * 1e3;
    row("start to `init: ready`, ms", boot, "<= 300", boot <= 300.0);
    for (name, kib) in s.rss_kib() {
        let mib = kib as f64 / 1024.0;
        row(&format!("{name} RSS, MiB"), mib, "<= 64", mib <= 64.0);
    }
    s.stop();
}

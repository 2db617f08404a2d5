//! What the state root and the audit chain cost, against a bare atomic
//! write of the same bytes measured in the same run. Prints a table.
//!
//! - `bare atomic write`: temp file, `fdatasync`, rename, `fsync` of the
//!   directory, with `std` only, of as many bytes as the record measured
//!   next to it;
//! - `statefs write (no root)`: the same through statefs without a root
//!   (record envelope, `O_NOFOLLOW` walk);
//! - `statefs write (root)`: a journaled state change (state line, temp
//!   file, group commit of the journal, rename, directory sync, commit
//!   line);
//! - `vault.put`, `keystore create`, `keystore rotate`: in process, over a
//!   durable state directory with a root, the authorizer a policy engine
//!   whose decision lines go to the same journal;
//! - `decision (group)`, `decision (sync)`, `decision (memory)`: one
//!   read-only `authorize` with its line written to the chained journal
//!   (group commit: write only; sync: one `fdatasync` each) or to memory;
//! - `read (root)` vs `read (no root)`: reading a record, checked or not.
//!
//! Also a soak: 20,000 decision lines with 64 KiB files and 3 kept stay
//! under the journal's disk cap.
//!
//! Run: `cargo bench -p ui_v18b_host --bench state_integrity`
//! (`STATE_BENCH_ITERS`, default 200, per measurement).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use auditlog::{FlushMode, Journal, JournalConfig};
use identity::Password;
use keymint::{Algorithm, Entropy, KeyMint};
use keystore::{KeyName, KeyStore};
use nexus_core::{
    Authorizer, Capability, Clock, ManualClock, QuotaLimits, Subject, SystemClock, UserId,
};
use policy::{AuditError, AuditSink, MemorySink, Policy, PolicyEngine};
use statefs::{Ownership, RootConfig, StateFs, StateKey, StatePath};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ui_v18b_host::{RigConfig, Stack};
use zeroize::Zeroizing;

const POLICY: &str = r#"version = 1
[[subjects]]
subject = "app:com.example.bench"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.sign", "identity.vault.use"]
"#;

struct Sink(Journal);
impl AuditSink for Sink {
    fn append(&self, line: &[u8]) -> Result<(), AuditError> {
        self.0
            .append(line)
            .map(drop)
            .map_err(|e| AuditError::Io(std::io::Error::other(e.to_string())))
    }
}

fn iters() -> usize {
    std::env::var("STATE_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Median and mean of `n` runs of `f`.
fn measure(n: usize, mut f: impl FnMut(usize)) -> (Duration, Duration) {
    let mut t = Vec::with_capacity(n);
    for i in 0..n {
        let s = Instant::now();
        f(i);
        t.push(s.elapsed());
    }
    t.sort();
    let mean = t.iter().sum::<Duration>() / n as u32;
    (t[n / 2], mean)
}

/// Medians of `a` and `b` run alternately `n` times each, so that load
/// on a shared machine weighs on both alike.
fn measure_pair(
    n: usize,
    mut a: impl FnMut(usize),
    mut b: impl FnMut(usize),
) -> (Duration, Duration) {
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let s = Instant::now();
        a(i);
        ta.push(s.elapsed());
        let s = Instant::now();
        b(i);
        tb.push(s.elapsed());
    }
    ta.sort();
    tb.sort();
    (ta[n / 2], tb[n / 2])
}

fn bare_atomic_write(dir: &Path, bytes: &[u8], i: usize) {
    let tmp = dir.join(format!(".tmp.bare.{i}"));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .unwrap();
    f.write_all(bytes).unwrap();
    f.sync_data().unwrap();
    std::fs::rename(&tmp, dir.join("bare")).unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
}

fn rooted(dir: &Path, flush: FlushMode) -> (StateFs, Journal) {
    let state = StateFs::open(dir).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let journal = Journal::open(
        &dir.join("audit"),
        "bench",
        JournalConfig {
            flush,
            ..JournalConfig::default()
        },
        clock.clone(),
    )
    .unwrap();
    state
        .attach_root(RootConfig {
            service: "bench".into(),
            key: Arc::new(StateKey::new(Zeroizing::new([7; 32]))),
            owns: Ownership::everything(),
            journal: journal.clone(),
            clock,
            counter: None,
            snapshot_every: statefs::DEFAULT_SNAPSHOT_EVERY,
        })
        .unwrap();
    (state, journal)
}

fn engine(journal: Option<&Journal>) -> Arc<PolicyEngine> {
    let sink: Box<dyn AuditSink> = match journal {
        Some(j) => Box::new(Sink(j.clone())),
        None => Box::new(MemorySink::new()),
    };
    Arc::new(PolicyEngine::new(
        Policy::from_toml_str(POLICY).unwrap(),
        sink,
        Arc::new(SystemClock),
    ))
}

struct Row {
    what: &'static str,
    p50: Duration,
    mean: Duration,
    base: Option<(&'static str, Duration)>,
}

fn push(
    rows: &mut Vec<Row>,
    what: &'static str,
    p50: Duration,
    mean: Duration,
    bare: Option<Duration>,
) {
    rows.push(Row {
        what,
        p50,
        mean,
        base: bare.map(|b| ("bare", b)),
    });
}

fn main() {
    let n = iters();
    let base = std::env::var_os("CARGO_TARGET_TMPDIR").unwrap_or_else(|| "/tmp".into());
    let tmp = tempfile::tempdir_in(base).unwrap();
    let mut rows: Vec<Row> = Vec::new();
    let app: Subject = "app:com.example.bench".parse().unwrap();

    // Records of a key's size (~400 bytes) and of a vault's (~4 KiB).
    for (size, names) in [
        (
            400usize,
            [
                "statefs write 400 B (no root)",
                "statefs write 400 B (root)",
                "bare atomic write 410 B",
                "read 400 B (root)",
                "read 400 B (no root)",
            ],
        ),
        (
            4096,
            [
                "statefs write 4 KiB (no root)",
                "statefs write 4 KiB (root)",
                "bare atomic write 4106 B",
                "read 4 KiB (root)",
                "read 4 KiB (no root)",
            ],
        ),
    ] {
        let payload = vec![0x5au8; size];
        let bare_dir = tmp.path().join(format!("bare-{size}"));
        std::fs::create_dir_all(&bare_dir).unwrap();
        let record = vec![0x5au8; statefs::record::encoded_len(size)];
        let plain = StateFs::open(&tmp.path().join(format!("plain-{size}"))).unwrap();
        let p = StatePath::parse("state:/r/x").unwrap();
        let (bare, p50) = measure_pair(
            n,
            |i| bare_atomic_write(&bare_dir, &record, i),
            |_| plain.write_record(&p, b"BNCH", 1, &payload).unwrap(),
        );
        push(&mut rows, names[0], p50, p50, Some(bare));
        let (state, _j) = rooted(
            &tmp.path().join(format!("rooted-{size}")),
            FlushMode::Group(auditlog::DEFAULT_WINDOW),
        );
        let (bare, p50) = measure_pair(
            n,
            |i| bare_atomic_write(&bare_dir, &record, i),
            |_| state.write_record(&p, b"BNCH", 1, &payload).unwrap(),
        );
        push(&mut rows, names[1], p50, p50, Some(bare));
        push(&mut rows, names[2], bare, bare, None);
        let (p50, mean) = measure(n * 5, |_| {
            state.read_record(&p, b"BNCH", &[1]).unwrap().unwrap();
        });
        push(&mut rows, names[3], p50, mean, None);
        let (p50, mean) = measure(n * 5, |_| {
            plain.read_record(&p, b"BNCH", &[1]).unwrap().unwrap();
        });
        push(&mut rows, names[4], p50, mean, None);
    }

    // vault.put, in process, rooted and not, against a bare write of the
    // vault file's own bytes.
    for with_root in [false, true] {
        let dir = tmp.path().join(format!("vault-{with_root}"));
        let clock = ManualClock::new(1_700_000_000);
        let (state, _j) = if with_root {
            let (s, j) = rooted(&dir, FlushMode::Group(auditlog::DEFAULT_WINDOW));
            (s, Some(j))
        } else {
            (StateFs::open(&dir).unwrap(), None)
        };
        let s = Stack::over(state.clone(), &clock, RigConfig::crash_test()).unwrap();
        let user = UserId::new("bench").unwrap();
        let admin: Subject = "system:identityd".parse().unwrap();
        s.identity
            .create_user(&admin, &user, &Password::new("pw"))
            .unwrap();
        let sid = s
            .identity
            .login(&app, &user, &Password::new("pw"))
            .unwrap()
            .sid;
        for i in 0..32 {
            s.vault
                .put(&app, sid, &format!("entry-{i:03}"), &[7u8; 100])
                .unwrap();
        }
        let instance = s.identity.instance(&admin, &user).unwrap();
        let vault_file = state
            .host_path(&vault::vault_path(&instance).unwrap())
            .unwrap();
        let vault_bytes = std::fs::read(&vault_file).unwrap();
        let bare_dir = dir.join("bare");
        std::fs::create_dir_all(&bare_dir).unwrap();
        let (bare, p50) = measure_pair(
            n,
            |i| bare_atomic_write(&bare_dir, &vault_bytes, i),
            |i| {
                s.vault
                    .put(&app, sid, "entry-010", &[(i % 251) as u8; 100])
                    .unwrap();
            },
        );
        let what = if with_root {
            "vault.put 32 entries (root)"
        } else {
            "vault.put 32 entries (no root)"
        };
        push(&mut rows, what, p50, p50, Some(bare));
        if with_root {
            push(
                &mut rows,
                "bare atomic write (vault file)",
                bare,
                bare,
                None,
            );
        }
    }

    // keystore create and rotate, rooted, decisions in the same journal.
    {
        let dir = tmp.path().join("keystore");
        let (state, journal) = rooted(&dir, FlushMode::Group(auditlog::DEFAULT_WINDOW));
        let km = Arc::new(KeyMint::open(&state, Entropy::os()).unwrap());
        let quota = |_: &Subject| QuotaLimits {
            soft_bytes: 1 << 30,
            hard_bytes: 1 << 30,
            soft_count: 1 << 20,
            hard_count: 1 << 20,
        };
        let ks = KeyStore::new(state.clone(), km, Arc::new(SystemClock), Arc::new(quota));
        let authz = engine(Some(&journal));
        let name =
            |i: usize| KeyName::parse("com.example.bench", "sign", &format!("k{i}")).unwrap();
        ks.create(&app, authz.as_ref(), &name(n), Algorithm::Ed25519)
            .unwrap();
        let rec_path = format!("state:/keystore/com.example.bench/sign/k{n}");
        let rec = std::fs::read(
            state
                .host_path(&StatePath::parse(&rec_path).unwrap())
                .unwrap(),
        )
        .unwrap();
        let bare_dir = dir.join("bare");
        std::fs::create_dir_all(&bare_dir).unwrap();
        let (bare, p50) = measure_pair(
            n,
            |i| bare_atomic_write(&bare_dir, &rec, i),
            |i| {
                ks.create(&app, authz.as_ref(), &name(i), Algorithm::Ed25519)
                    .unwrap();
            },
        );
        push(&mut rows, "keystore create (root)", p50, p50, Some(bare));
        let (bare, p50) = measure_pair(
            n,
            |i| bare_atomic_write(&bare_dir, &rec, i),
            |i| {
                ks.rotate(&app, authz.as_ref(), &name(i)).unwrap();
            },
        );
        push(&mut rows, "keystore rotate (root)", p50, p50, Some(bare));
        push(
            &mut rows,
            "bare atomic write (key record)",
            bare,
            bare,
            None,
        );
    }

    // Read-only decisions.
    for (what, flush) in [
        (
            "decision (group commit)",
            Some(FlushMode::Group(auditlog::DEFAULT_WINDOW)),
        ),
        ("decision (sync)", Some(FlushMode::Sync)),
        ("decision (memory, no chain)", None),
    ] {
        let dir = tmp.path().join(format!("decide-{}", what.len()));
        let journal = flush.map(|f| {
            Journal::open(
                &dir,
                "bench",
                JournalConfig {
                    flush: f,
                    ..JournalConfig::default()
                },
                Arc::new(SystemClock),
            )
            .unwrap()
        });
        let e = engine(journal.as_ref());
        let iters = if flush == Some(FlushMode::Sync) {
            n
        } else {
            n * 50
        };
        let (p50, mean) = measure(iters, |_| {
            e.authorize(&app, Capability::KeySign, "key:com.example.bench/sign/k")
                .unwrap();
        });
        push(&mut rows, what, p50, mean, None);
    }

    println!("state integrity costs, {n} iterations per write measurement");
    println!(
        "(a write and a bare atomic write of the same bytes alternate; p50/bare is their ratio)"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>8}",
        "operation", "p50", "mean", "p50/bare"
    );
    for r in &rows {
        let ratio = r
            .base
            .map(|(_, b)| format!("{:.2}", r.p50.as_secs_f64() / b.as_secs_f64()))
            .unwrap_or_default();
        println!(
            "{:<34} {:>8.1}µs {:>8.1}µs {:>8}",
            r.what,
            r.p50.as_secs_f64() * 1e6,
            r.mean.as_secs_f64() * 1e6,
            ratio
        );
    }

    // Soak: the journal's disk use stays under its cap.
    let dir = tmp.path().join("soak");
    let cfg = JournalConfig {
        flush: FlushMode::Group(auditlog::DEFAULT_WINDOW),
        max_file_bytes: 64 * 1024,
        keep_files: 3,
    };
    let j = Journal::open(&dir, "soak", cfg, Arc::new(SystemClock)).unwrap();
    let e = engine(Some(&j));
    let used = |d: &Path| -> u64 {
        std::fs::read_dir(d)
            .unwrap()
            .map(|f| f.unwrap().metadata().unwrap().len())
            .sum()
    };
    let mut peak = 0u64;
    for i in 0..20_000 {
        e.authorize(&app, Capability::KeySign, "key:com.example.bench/sign/k")
            .unwrap();
        if i % 500 == 0 {
            peak = peak.max(used(&dir));
        }
    }
    j.close().unwrap();
    let end = used(&dir);
    let cap = cfg.disk_cap() + 1024;
    println!(
        "soak: 20000 decisions with 64 KiB files, 3 kept: {end} bytes at the end, {peak} at most (sampled), cap {cap}"
    );
    assert!(peak <= cap && end <= cap);
}

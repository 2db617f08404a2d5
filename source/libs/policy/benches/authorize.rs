//! Cost of one `authorize` call (decide + JSON audit line + sink append):
//! allow and deny paths with the in-memory sink, and the allow path with a
//! file sink writing to /dev/null (the cost of the write(2) without storage).
//!
//! Run: `cargo bench -p policy --bench authorize -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use nexus_core::{Authorizer, Capability, ManualClock, Subject};
use policy::{Durability, FileSink, MemorySink, Policy, PolicyEngine};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLICY: &str = r#"
version = 1
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.key.create", "identity.key.sign", "identity.key.seal", "identity.key.decrypt", "identity.attest", "identity.vault.use"]
[[subjects]]
subject = "system:attestd"
capabilities = ["identity.key.sign"]
"#;

fn bench(c: &mut Criterion) {
    let policy = Policy::from_toml_str(POLICY).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let sink = MemorySink::new();
    let engine = PolicyEngine::new(policy.clone(), Box::new(sink.clone()), clock.clone());
    let app: Subject = "app:com.example.alpha".parse().unwrap();
    let target = "key:com.example.alpha/sign/main";

    // The memory sink grows by one line per call: clear it between samples,
    // outside the timed region, so memory stays bounded.
    let mut timed = |name: &str, cap: Capability, expect_allow: bool| {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                sink.clear().unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    let r = engine.authorize(black_box(&app), black_box(cap), black_box(target));
                    debug_assert_eq!(r.is_ok(), expect_allow);
                    black_box(r).ok();
                }
                let elapsed: Duration = start.elapsed();
                assert_eq!(sink.lines().unwrap().len() as u64, iters);
                elapsed
            })
        });
    };
    timed("authorize/allow/memory_sink", Capability::KeySign, true);
    timed("authorize/deny/memory_sink", Capability::KeyExport, false);

    let devnull = FileSink::open(Path::new("/dev/null"), Durability::Buffered).unwrap();
    let file_engine = PolicyEngine::new(policy, Box::new(devnull), clock);
    c.bench_function("authorize/allow/file_sink_dev_null", |b| {
        b.iter(|| {
            file_engine
                .authorize(
                    black_box(&app),
                    black_box(Capability::KeySign),
                    black_box(target),
                )
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

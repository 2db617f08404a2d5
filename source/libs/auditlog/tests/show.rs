//! Filtering and following logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use auditlog::show::{collect, Filter, Follower};
use auditlog::{FlushMode, Journal, JournalConfig};
use nexus_core::ManualClock;
use std::sync::Arc;

fn decision(time: u64, subject: &str, cap: &str, decision: &str) -> Vec<u8> {
    format!("{{\"time\":{time},\"subject\":\"{subject}\",\"capability\":\"{cap}\",\"target\":\"t\",\"decision\":\"{decision}\",\"reason\":\"r\"}}").into_bytes()
}

#[test]
fn filters_by_subject_op_decision_and_time_across_services() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(50));
    let cfg = JournalConfig {
        flush: FlushMode::Buffered,
        ..JournalConfig::default()
    };
    let a = Journal::open(dir.path(), "alpha", cfg, clock.clone()).unwrap();
    let b = Journal::open(dir.path(), "beta", cfg, clock).unwrap();
    a.append(&decision(100, "app:x", "identity.key.sign", "allow"))
        .unwrap();
    b.append(&decision(101, "app:y", "identity.key.sign", "deny"))
        .unwrap();
    a.append(&decision(102, "app:y", "identity.vault.use", "allow"))
        .unwrap();
    a.append(b"{\"time\":103,\"state\":\"write\",\"path\":\"state:/k\",\"gen\":4}")
        .unwrap();

    let all = collect(dir.path(), &Filter::default()).unwrap();
    // Two chain-start lines and four others, by time.
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].time() <= w[1].time()));

    let f = |filter: Filter| -> Vec<u64> {
        collect(dir.path(), &filter)
            .unwrap()
            .iter()
            .map(|e| e.time())
            .collect()
    };
    assert_eq!(
        f(Filter {
            subject: Some("app:y".into()),
            ..Filter::default()
        }),
        [101, 102]
    );
    assert_eq!(
        f(Filter {
            op: Some("identity.key.sign".into()),
            ..Filter::default()
        }),
        [100, 101]
    );
    assert_eq!(
        f(Filter {
            op: Some("state.write".into()),
            ..Filter::default()
        }),
        [103]
    );
    assert_eq!(
        f(Filter {
            decision: Some("deny".into()),
            ..Filter::default()
        }),
        [101]
    );
    assert_eq!(
        f(Filter {
            since: Some(101),
            until: Some(103),
            ..Filter::default()
        }),
        [101, 102]
    );
    assert_eq!(
        f(Filter {
            service: Some("beta".into()),
            since: Some(60),
            ..Filter::default()
        }),
        [101]
    );
    let text = collect(
        dir.path(),
        &Filter {
            decision: Some("deny".into()),
            ..Filter::default()
        },
    )
    .unwrap()[0]
        .to_text();
    assert_eq!(
        text,
        "1970-01-01T00:01:41Z beta #1 deny app:y identity.key.sign t (r)"
    );
}

#[test]
fn follow_sees_new_lines_across_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = JournalConfig {
        flush: FlushMode::Buffered,
        max_file_bytes: 4096,
        keep_files: 5,
    };
    let j = Journal::open(dir.path(), "alpha", cfg, Arc::new(ManualClock::new(1))).unwrap();
    let mut follow = Follower::new(dir.path(), Filter::default()).unwrap();
    assert!(follow.poll().unwrap().is_empty());
    for i in 0..60 {
        j.append(&decision(200 + i, "app:x", "identity.key.sign", "allow"))
            .unwrap();
    }
    let seen: Vec<u64> = follow.poll().unwrap().iter().map(|e| e.time()).collect();
    assert_eq!(seen, (200..260).collect::<Vec<_>>());
    j.append(&decision(999, "app:x", "identity.key.sign", "allow"))
        .unwrap();
    assert_eq!(follow.poll().unwrap().len(), 1);
}

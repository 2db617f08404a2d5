//! The writer and the verifier together, on real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use auditlog::files::{self, FileKind};
use auditlog::line;
use auditlog::verify::{verify, Checkpoint};
use auditlog::{FlushMode, Journal, JournalConfig};
use nexus_core::ManualClock;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn cfg(flush: FlushMode, max: u64, keep: u32) -> JournalConfig {
    JournalConfig {
        flush,
        max_file_bytes: max,
        keep_files: keep,
    }
}

fn open(dir: &Path, c: JournalConfig) -> Journal {
    Journal::open(dir, "svc", c, Arc::new(ManualClock::new(1_700_000_000))).unwrap()
}

fn body(i: usize) -> Vec<u8> {
    format!("{{\"time\":{},\"subject\":\"app:a\",\"capability\":\"identity.key.sign\",\"target\":\"k{i}\",\"decision\":\"allow\",\"reason\":\"granted\"}}\n", 1_700_000_000 + i)
        .into_bytes()
}

fn all_lines(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files::list(dir, "svc").unwrap() {
        let text = std::fs::read(&f.path).unwrap();
        out.extend(text.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec));
    }
    out
}

#[test]
fn lines_chain_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), JournalConfig::default());
    for i in 0..5 {
        assert_eq!(j.append(&body(i)).unwrap(), i as u64 + 1);
    }
    j.close().unwrap();
    let lines = all_lines(dir.path());
    assert_eq!(lines.len(), 6);
    let start = String::from_utf8(lines[0].clone()).unwrap();
    assert_eq!(
        start,
        format!(
            "{{\"seq\":0,\"prev\":\"{}\",\"time\":1700000000,\"chain\":\"start\"}}\n",
            "0".repeat(64)
        )
    );
    for w in lines.windows(2) {
        assert_eq!(line::chain_fields(&w[1]).unwrap().prev, line::hash(&w[0]));
    }
    let r = verify(dir.path(), "svc", &[]).unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.lines, r.first_seq, r.last_seq), (6, Some(0), Some(5)));
    assert!(!r.starts_after_retention);
}

#[test]
fn the_chain_continues_after_reopen_and_a_torn_last_line_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), JournalConfig::default());
    j.append(&body(0)).unwrap();
    j.close().unwrap();
    drop(j);
    // A crash in the middle of a write left half a line.
    let cur = dir.path().join("svc.jsonl");
    let mut bytes = std::fs::read(&cur).unwrap();
    bytes.extend_from_slice(b"{\"seq\":2,\"prev\":\"00");
    std::fs::write(&cur, &bytes).unwrap();
    let j = open(dir.path(), JournalConfig::default());
    assert_eq!(j.append(&body(1)).unwrap(), 2);
    j.close().unwrap();
    let r = verify(dir.path(), "svc", &[]).unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.lines, 3);
}

#[test]
fn rotation_keeps_the_chain_and_retention_caps_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(
        dir.path(),
        cfg(FlushMode::Group(Duration::from_millis(1)), 4096, 2),
    );
    for i in 0..200 {
        j.append(&body(i)).unwrap();
    }
    j.close().unwrap();
    let list = files::list(dir.path(), "svc").unwrap();
    let rotated = list
        .iter()
        .filter(|f| matches!(f.kind, FileKind::Rotated(_)))
        .count();
    assert_eq!(rotated, 2, "{list:?}");
    let total: u64 = list
        .iter()
        .map(|f| std::fs::metadata(&f.path).unwrap().len())
        .sum();
    assert!(total <= 3 * 4096 + 400, "{total}");
    let r = verify(dir.path(), "svc", &[]).unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert!(r.starts_after_retention);
    assert_eq!(r.last_seq, Some(200));
}

#[test]
fn retention_keeps_what_the_pin_needs() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), cfg(FlushMode::Buffered, 4096, 1));
    j.set_pin(1);
    for i in 0..200 {
        j.append(&body(i)).unwrap();
    }
    // Everything from line 1 on is still there: the pin held it.
    let r = verify(dir.path(), "svc", &[]).unwrap();
    assert_eq!((r.first_seq, r.last_seq), (Some(0), Some(200)));
    // Moving the pin lets retention go back to one rotated file.
    j.set_pin(j.position().next_seq);
    let rotated = files::list(dir.path(), "svc")
        .unwrap()
        .into_iter()
        .filter(|f| matches!(f.kind, FileKind::Rotated(_)))
        .count();
    assert_eq!(rotated, 1);
}

#[test]
fn an_old_format_log_is_kept_aside_and_bound_into_line_zero() {
    let dir = tempfile::tempdir().unwrap();
    let old = "{\"time\":1,\"subject\":\"app:a\",\"capability\":\"c\",\"target\":\"t\",\"decision\":\"allow\",\"reason\":\"granted\"}\n";
    std::fs::write(dir.path().join("svc.jsonl"), old.repeat(3)).unwrap();
    let j = open(dir.path(), JournalConfig::default());
    j.append(&body(0)).unwrap();
    j.close().unwrap();
    let legacy = dir.path().join("svc.legacy.jsonl");
    assert_eq!(std::fs::read_to_string(&legacy).unwrap(), old.repeat(3));
    let first = all_lines(dir.path())
        .into_iter()
        .find(|l| l.starts_with(b"{\"seq\":0"))
        .unwrap();
    let p = line::parse(&first).unwrap();
    assert_eq!(p.text("legacy_file"), Some("svc.legacy.jsonl"));
    assert_eq!(p.uint("legacy_bytes"), Some(old.len() as u64 * 3));
    let r = verify(dir.path(), "svc", &[]).unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.legacy_lines, 3);

    // Changing the old file afterwards is reported.
    std::fs::write(&legacy, old.repeat(2)).unwrap();
    let r = verify(dir.path(), "svc", &[]).unwrap();
    assert_eq!(r.broken.unwrap().file, "svc.legacy.jsonl");
}

#[test]
fn test_reject_edited_removed_or_inserted_lines() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), JournalConfig::default());
    for i in 0..6 {
        j.append(&body(i)).unwrap();
    }
    j.close().unwrap();
    let cur = dir.path().join("svc.jsonl");
    let good = std::fs::read(&cur).unwrap();
    let lines: Vec<Vec<u8>> = good
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();

    // A "deny" turned into an "allow" (same length) on line 4 (seq 3):
    // reported at the next line, whose prev no longer matches.
    let edited = String::from_utf8(good.clone()).unwrap().replacen(
        "\"target\":\"k2\"",
        "\"target\":\"k9\"",
        1,
    );
    std::fs::write(&cur, edited).unwrap();
    let b = verify(dir.path(), "svc", &[]).unwrap().broken.unwrap();
    assert_eq!((b.line, b.seq), (5, Some(4)));

    // A line removed.
    let mut removed = lines.clone();
    removed.remove(2);
    std::fs::write(&cur, removed.concat()).unwrap();
    let b = verify(dir.path(), "svc", &[]).unwrap().broken.unwrap();
    assert_eq!(b.line, 3);
    assert!(b.reason.contains("follows"), "{b:?}");

    // Every single-bit flip is reported: before the last line by the
    // chain, in the last line by a checkpoint of the head.
    let last_start = good.len() - lines[6].len();
    let head_cp = [Checkpoint {
        seq: 6,
        head: line::hash(&lines[6]),
    }];
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x08;
        std::fs::write(&cur, &bad).unwrap();
        let cps: &[Checkpoint] = if i >= last_start { &head_cp } else { &[] };
        let r = verify(dir.path(), "svc", cps).unwrap();
        assert!(
            r.broken.is_some() || r.partial_tail,
            "flip at {i} not reported"
        );
    }

    // Cutting the tail is invisible to the chain alone, but not to a
    // checkpoint of its head.
    let head = line::hash(&lines[6]);
    std::fs::write(&cur, lines[..5].concat()).unwrap();
    assert!(verify(dir.path(), "svc", &[]).unwrap().is_intact());
    let b = verify(dir.path(), "svc", &[Checkpoint { seq: 6, head }])
        .unwrap()
        .broken
        .unwrap();
    assert!(b.reason.contains("cut short"), "{b:?}");
    std::fs::write(&cur, &good).unwrap();
    let r = verify(dir.path(), "svc", &[Checkpoint { seq: 6, head }]).unwrap();
    assert!(r.is_intact());
    assert_eq!(r.checkpoints_matched, 1);
}

#[test]
fn durable_waits_share_syncs_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    for flush in [FlushMode::Sync, FlushMode::Group(Duration::from_millis(20))] {
        let j = open(
            &dir.path().join(format!("{flush:?}")),
            cfg(flush, 1 << 20, 3),
        );
        std::thread::scope(|s| {
            for t in 0..4 {
                let j = j.clone();
                s.spawn(move || {
                    for i in 0..25 {
                        let seq = j.append(&body(t * 100 + i)).unwrap();
                        j.wait_durable(seq).unwrap();
                    }
                });
            }
        });
        assert_eq!(j.position().next_seq, 101);
        j.close().unwrap();
        assert!(j.append(&body(0)).is_err(), "closed");
    }
}

#[test]
fn test_reject_producer_lines_without_their_chain_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let j = open(dir.path(), JournalConfig::default());
    assert!(j.append_with(|_, _| b"{\"seq\":9}\n".to_vec()).is_err());
    assert!(j.append(b"not json").is_err());
    let seq = j
        .append_with(|seq, prev| format!("{}\"x\":1}}\n", line::prefix(seq, prev)).into_bytes())
        .unwrap();
    assert_eq!(seq, 1);
    j.close().unwrap();
    assert!(verify(dir.path(), "svc", &[]).unwrap().is_intact());
}

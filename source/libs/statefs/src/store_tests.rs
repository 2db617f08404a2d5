//! The store's own tests: both modes, file modes, records, keys, the reserve.

use super::*;
use nexus_core::{Coded, ErrorCode};
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn p(s: &str) -> StatePath {
    StatePath::parse(s).unwrap()
}

fn both() -> (tempfile::TempDir, Vec<StateFs>) {
    let dir = tempfile::tempdir().unwrap();
    let disk = StateFs::open(&dir.path().join("state")).unwrap();
    (dir, vec![disk, StateFs::volatile()])
}

#[test]
fn write_read_delete_list_in_both_modes() {
    let (_d, stores) = both();
    for s in stores {
        assert_eq!(s.read(&p("state:/a/b")).unwrap(), None);
        s.write(&p("state:/a/b"), b"one").unwrap();
        s.write(&p("state:/a/c/d"), b"two").unwrap();
        s.write(&p("state:/z"), b"three").unwrap();
        s.write(&p("state:/a/b"), b"uno").unwrap();
        assert_eq!(s.read(&p("state:/a/b")).unwrap().unwrap(), b"uno");
        assert_eq!(
            s.list(&p("state:/a")).unwrap(),
            vec![p("state:/a/b"), p("state:/a/c/d")]
        );
        assert_eq!(s.list(&p("state:/nothing")).unwrap(), vec![]);
        assert!(s.delete(&p("state:/a/b")).unwrap());
        assert!(!s.delete(&p("state:/a/b")).unwrap());
        assert_eq!(s.delete_prefix(&p("state:/a")).unwrap(), 1);
        assert_eq!(s.list(&StatePath::root()).unwrap(), vec![p("state:/z")]);
        assert!(s.write(&StatePath::root(), b"x").is_err());
    }
}

#[test]
fn modes_are_explicit_and_volatile_has_no_root() {
    let (_d, stores) = both();
    assert!(!stores[0].is_volatile());
    assert!(matches!(stores[0].mode(), StateMode::Durable(_)));
    assert!(stores[1].is_volatile());
    assert_eq!(stores[1].mode().to_string(), "volatile");
    assert!(stores[1].host_path(&p("state:/a")).is_none());
    assert!(!stores[1].has_root());
    assert!(!stores[1].reserve_reached());
}

#[test]
fn files_are_private() {
    let (_d, stores) = both();
    let s = &stores[0];
    s.write(&p("state:/k/secret"), b"x").unwrap();
    let f = s.host_path(&p("state:/k/secret")).unwrap();
    assert_eq!(
        fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let d = f.parent().unwrap();
    assert_eq!(fs::metadata(d).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn leftover_temp_file_from_a_crash_is_invisible() {
    let (_d, stores) = both();
    let s = &stores[0];
    s.write(&p("state:/t/rec"), b"old").unwrap();
    let host = s.host_path(&p("state:/t/rec")).unwrap();
    fs::write(host.with_file_name(".tmp.rec.1.0"), b"new-but-unrenamed").unwrap();
    assert_eq!(s.read(&p("state:/t/rec")).unwrap().unwrap(), b"old");
    assert_eq!(s.list(&p("state:/t")).unwrap(), vec![p("state:/t/rec")]);
}

#[test]
fn records_round_trip_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = StateFs::open(dir.path()).unwrap();
    s.write_record(&p("state:/r"), b"TEST", 1, b"payload")
        .unwrap();
    drop(s);
    let s = StateFs::open(dir.path()).unwrap();
    let r = s
        .read_record_full(&p("state:/r"), b"TEST", &[1])
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.version, r.generation, r.payload.as_slice()),
        (1, 0, &b"payload"[..])
    );
    assert_eq!(r.file_len, record::encoded_len(7));
}

#[test]
fn keyed_records_need_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = StateFs::open(dir.path()).unwrap();
    let k = StateKey::new(Zeroizing::new([3; 32]));
    let other = StateKey::new(Zeroizing::new([4; 32]));
    s.write_record_keyed(&p("state:/m"), b"TEST", 1, b"x", &k)
        .unwrap();
    let r = s
        .read_record_keyed(&p("state:/m"), b"TEST", &[1], &k)
        .unwrap()
        .unwrap();
    assert_eq!(r.payload.as_slice(), b"x");
    assert!(s
        .read_record_keyed(&p("state:/m"), b"TEST", &[1], &other)
        .is_err());
    assert!(s.read_record(&p("state:/m"), b"TEST", &[1]).is_err());
    // A checksummed record where a MAC'd one is expected is refused.
    s.write_record(&p("state:/n"), b"TEST", 1, b"x").unwrap();
    assert!(s
        .read_record_keyed(&p("state:/n"), b"TEST", &[1], &k)
        .is_err());
}

#[test]
fn test_reject_corrupt_record_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let s = StateFs::open(dir.path()).unwrap();
    s.write_record(&p("state:/r"), b"TEST", 1, b"payload")
        .unwrap();
    let host = s.host_path(&p("state:/r")).unwrap();
    let mut bytes = fs::read(&host).unwrap();
    bytes[30] ^= 1;
    fs::write(&host, &bytes).unwrap();
    let err = s.read_record(&p("state:/r"), b"TEST", &[1]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    // The corrupt file is left in place for inspection, not reset.
    assert_eq!(fs::read(&host).unwrap(), bytes);
}

#[test]
fn the_reserve_is_measured_against_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let s = StateFs::open(dir.path()).unwrap();
    let free = s.free_bytes().unwrap();
    assert!(!s.reserve_reached(), "no reserve set");
    s.set_reserve(free.saturating_mul(4).max(1 << 40));
    assert!(s.reserve_reached());
    s.set_reserve(1);
    std::thread::sleep(FREE_SPACE_TTL);
    assert!(!s.reserve_reached());
}

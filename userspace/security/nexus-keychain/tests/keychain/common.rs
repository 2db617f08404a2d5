//! Shared fixtures: the three keychain services faked on sockets in a
//! temp dir, and a helper that compares a recorded request exactly.

use nexus_keychain::testkit::FakeService;
use nexus_keychain::{Keychain, LinkConfig, Service};
use std::time::Duration;
use wire::{Args, Value};

pub struct Rig {
    pub _dir: tempfile::TempDir,
    pub keystored: FakeService,
    pub identityd: FakeService,
    pub attestd: FakeService,
    pub kc: Keychain,
}

pub fn config() -> LinkConfig {
    LinkConfig {
        call_timeout: Duration::from_secs(5),
        endpoint_wait: Duration::from_secs(2),
    }
}

pub fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let keystored = FakeService::contract_at(dir.path(), Service::Keystored).unwrap();
    let identityd = FakeService::contract_at(dir.path(), Service::Identityd).unwrap();
    let attestd = FakeService::contract_at(dir.path(), Service::Attestd).unwrap();
    let kc = Keychain::connect_with(dir.path(), config());
    Rig {
        _dir: dir,
        keystored,
        identityd,
        attestd,
        kc,
    }
}

/// Assert that `fake`'s last request was `op` with exactly `want` (any order).
pub fn assert_last(fake: &FakeService, op: &str, want: Vec<(&str, Value)>) {
    let (got_op, got) = fake.last().expect("a request was recorded");
    assert_eq!(got_op, op);
    assert_args(&got, want);
}

pub fn assert_args(got: &Args, want: Vec<(&str, Value)>) {
    let mut got_names: Vec<&str> = got.names().collect();
    got_names.sort_unstable();
    let mut want_names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
    want_names.sort_unstable();
    assert_eq!(got_names, want_names, "argument names");
    for (name, value) in want {
        assert_eq!(got.get(name), Some(&value), "argument `{name}`");
    }
}

pub fn label(s: &str) -> nexus_keychain::Label {
    s.parse().unwrap()
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

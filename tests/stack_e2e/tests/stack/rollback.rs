//! Putting back an older copy of one record, over the real stack: each
//! attack of the kind "copy yesterday's file back while the device is
//! off" is `EIO` for the record it targets, and the rest of the stack
//! keeps serving. Also: a state directory of the first formats (checked
//! in) is adopted at first start and means what it meant.
//!
//! Each test runs the shipped init over one state directory: the "before"
//! step, a copy of the record's file, the "after" step, a clean stop, the
//! copy put back, a start, the refused use.

use crate::harness::{must, repo, Stack};
use nexus_core::{Coded, ErrorCode, Label, UserId};
use nexus_keychain::{KeyAlg, Keychain, TrustAdd};
use std::path::{Path, PathBuf};
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Version};

const PW: &str = "rollback test password";

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

fn code<T>(r: Result<T, nexus_keychain::KeychainError>) -> ErrorCode {
    match r {
        Err(e) => e.code(),
        Ok(_) => panic!("expected a refusal, got a success"),
    }
}

fn err<T>(r: Result<T, nexus_keychain::KeychainError>) -> nexus_keychain::KeychainError {
    match r {
        Err(e) => e,
        Ok(_) => panic!("expected a refusal, got a success"),
    }
}

/// `nx --run RUN ARGS…` in-process: (exit status, stdout, stderr).
fn nx(run: &Path, args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input: &[u8] = b"";
    let io = nx_key::io::Io {
        stdin: &mut input,
        terminal: false,
        stdout: &mut out,
        stderr: &mut err,
    };
    let run = run.to_str().unwrap();
    let code = nx_key::run(
        ["nx", "--run", run].into_iter().chain(args.iter().copied()),
        io,
    );
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn read(p: &Path) -> Vec<u8> {
    must(std::fs::read(p), &format!("read {}", p.display()))
}

fn put_back(p: &Path, bytes: &[u8]) {
    must(std::fs::write(p, bytes), &format!("write {}", p.display()));
}

/// A restart with the record put back in between.
fn restart_with(stack: Stack, file: &Path, old: &[u8]) -> Stack {
    let dir = stack.stop();
    put_back(file, old);
    let stack = Stack::start_in(dir);
    stack.ready();
    stack
}

#[test]
fn test_reject_a_revoked_key_put_back_with_eio() {
    let stack = Stack::start();
    stack.ready();
    let kc = Keychain::connect(stack.run_dir());
    must(
        kc.create_key(&label("signing"), &label("k"), KeyAlg::Ed25519),
        "create",
    );
    must(
        kc.create_key(&label("signing"), &label("other"), KeyAlg::Ed25519),
        "create",
    );
    must(kc.sign(&label("signing"), &label("k"), b"m"), "sign");
    // The administrator's keys live in its service namespace.
    let file = stack.state_dir().join("keystore/system.admin/signing/k");
    let before = read(&file);
    must(kc.revoke(&label("signing"), &label("k"), None), "revoke");
    assert_eq!(
        code(kc.sign(&label("signing"), &label("k"), b"m")),
        ErrorCode::Ekeyrevoked
    );
    let stack = restart_with(stack, &file, &before);
    let kc = Keychain::connect(stack.run_dir());
    // The key the attacker wanted back does not sign: the record is EIO.
    let e = kc.sign(&label("signing"), &label("k"), b"m").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    assert!(
        e.to_string()
            .contains("state:/keystore/system.admin/signing/k"),
        "{e}"
    );
    // Everything else still works.
    must(
        kc.sign(&label("signing"), &label("other"), b"m"),
        "other key signs",
    );
}

#[test]
fn test_reject_an_old_password_put_back_with_eio() {
    let stack = Stack::start();
    stack.ready();
    let kc = Keychain::connect(stack.run_dir());
    let alice = UserId::new("alice").unwrap();
    let bob = UserId::new("bob").unwrap();
    must(kc.user_create(&alice, PW), "create alice");
    must(kc.user_create(&bob, PW), "create bob");
    let file = stack.state_dir().join("identity/alice/user");
    let before = read(&file);
    must(kc.user_passwd(&alice, PW, "a new password"), "passwd");
    assert_eq!(code(kc.login(&alice, PW)), ErrorCode::Eperm);
    let stack = restart_with(stack, &file, &before);
    let kc = Keychain::connect(stack.run_dir());
    let e = kc.login(&alice, PW).unwrap_err();
    assert_eq!(
        e.code(),
        ErrorCode::Eio,
        "the old password must not work: {e}"
    );
    must(kc.login(&bob, PW), "bob logs in");
}

#[test]
fn test_reject_a_deleted_vault_entry_put_back_with_eio() {
    let stack = Stack::start();
    stack.ready();
    let kc = Keychain::connect(stack.run_dir());
    let alice = UserId::new("alice").unwrap();
    must(kc.user_create(&alice, PW), "create");
    let s = must(kc.login(&alice, PW), "login");
    must(kc.put(&s.sid, "secret", b"old value"), "put");
    // alice's vault: the one user instance's file, `vault/<instance>/vault.kv`.
    let instances: Vec<_> = must(
        std::fs::read_dir(stack.state_dir().join("vault")),
        "vault dir",
    )
    .map(|e| e.unwrap().path())
    .collect();
    assert_eq!(instances.len(), 1, "{instances:?}");
    let file = instances[0].join("vault.kv");
    let before = read(&file);
    must(kc.del(&s.sid, "secret"), "del");
    assert_eq!(code(kc.get(&s.sid, "secret")), ErrorCode::Enoent);
    let stack = restart_with(stack, &file, &before);
    let kc = Keychain::connect(stack.run_dir());
    let s = must(kc.login(&alice, PW), "login again");
    let e = err(kc.get(&s.sid, "secret"));
    assert_eq!(
        e.code(),
        ErrorCode::Eio,
        "the deleted entry must not return: {e}"
    );
}

/// A signed artifact directory in `dir`.
fn artifact(dir: &Path, kind: Kind, name: &str, version: &str, key: &MinisignSecretKey) -> PathBuf {
    let d = dir.join(format!("{name}-{version}"));
    must(std::fs::create_dir_all(d.join("bin")), "artifact dir");
    must(
        std::fs::write(d.join("bin/payload"), format!("{name} {version}")),
        "payload",
    );
    must(
        sign_artifact(
            &d,
            kind,
            label(name),
            Version::parse(version).unwrap(),
            kind.scope(),
            key,
            &format!("{name} {version}"),
        ),
        "sign artifact",
    );
    d
}

fn install_root(kc: &Keychain, key: &MinisignSecretKey, scopes: &[&str]) -> trust::Kid {
    must(
        kc.trust_add(&TrustAdd::Key {
            public_key: key.public_key().to_file_text(),
            label: label("rollback-test"),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            not_before: Some(0),
            not_after: Some(4_000_000_000),
        }),
        "trust add",
    )
}

#[test]
fn test_reject_an_update_floor_put_back_with_eio() {
    let stack = Stack::start();
    stack.ready();
    let kc = Keychain::connect(stack.run_dir());
    let key = MinisignSecretKey::generate().unwrap();
    install_root(&kc, &key, &["updates"]);
    let tmp = must(tempfile::tempdir(), "tmp");
    let run = stack.run_dir();
    for v in ["1.1.0", "1.2.0"] {
        if v == "1.2.0" {
            // Yesterday's copy: 1.1.0 active.
            let old = read(&stack.state_dir().join("update/state"));
            put_back(&tmp.path().join("state.old"), &old);
        }
        let d = artifact(tmp.path(), Kind::Update, "nexus-os", v, &key);
        let (c, _, err) = nx(&run, &["update", "stage", d.to_str().unwrap()]);
        assert_eq!(c, 0, "stage {v}: {err}");
        let (c, _, err) = nx(&run, &["update", "commit"]);
        assert_eq!(c, 0, "commit {v}: {err}");
    }
    let older = artifact(tmp.path(), Kind::Update, "nexus-os", "1.1.5", &key);
    let (c, _, _) = nx(&run, &["update", "stage", older.to_str().unwrap()]);
    assert_eq!(c, ErrorCode::Eperm.exit_status(), "a downgrade is refused");
    let file = stack.state_dir().join("update/state");
    let stack = restart_with(stack, &file, &read(&tmp.path().join("state.old")));
    let (c, _, err) = nx(
        &stack.run_dir(),
        &["update", "stage", older.to_str().unwrap()],
    );
    assert_eq!(
        c,
        ErrorCode::Eio.exit_status(),
        "with the floor put back, 1.1.5 must not stage: {err}"
    );
    assert!(err.contains("state:/update/state"), "{err}");
}

#[test]
fn test_reject_a_removed_distrust_entry_with_eio() {
    let stack = Stack::start();
    stack.ready();
    let kc = Keychain::connect(stack.run_dir());
    let key = MinisignSecretKey::generate().unwrap();
    let kid = install_root(&kc, &key, &["packages"]);
    let tmp = must(tempfile::tempdir(), "tmp");
    let bundle = artifact(tmp.path(), Kind::Bundle, "com.example.app", "1.0.0", &key);
    let trust_dir = stack.state_dir().join("trust");
    let before = tmp.path().join("trust-before");
    copy_dir(&trust_dir, &before);
    must(kc.trust_distrust(&kid), "distrust");
    let (c, _, err) = nx(
        &stack.run_dir(),
        &["bundle", "install", bundle.to_str().unwrap()],
    );
    assert_eq!(c, ErrorCode::Eperm.exit_status(), "distrusted: {err}");

    // The distrust entry removed (the directory as it was before).
    let entry = trust_dir.join(format!("distrusted/{kid}"));
    let dir = stack.stop();
    must(std::fs::remove_file(&entry), "remove the entry");
    let stack = Stack::start_in(dir);
    stack.ready();
    let (c, _, err) = nx(
        &stack.run_dir(),
        &["bundle", "install", bundle.to_str().unwrap()],
    );
    assert_eq!(c, ErrorCode::Eio.exit_status(), "{err}");
    assert!(err.contains("state:/trust/distrusted"), "{err}");

    // The whole trust directory put back (manifest included): bundlemgrd
    // has seen a newer manifest, keystored's root knows every file.
    let dir = stack.stop();
    must(std::fs::remove_dir_all(&trust_dir), "clear trust");
    copy_dir(&before, &trust_dir);
    let stack = Stack::start_in(dir);
    stack.ready();
    let (c, _, err) = nx(
        &stack.run_dir(),
        &["bundle", "install", bundle.to_str().unwrap()],
    );
    assert_eq!(c, ErrorCode::Eio.exit_status(), "{err}");
    let (c, _, err) = nx(&stack.run_dir(), &["key", "trust", "list"]);
    assert_eq!(c, ErrorCode::Eio.exit_status(), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    must(std::fs::create_dir_all(to), "mkdir");
    for e in must(std::fs::read_dir(from), "read dir") {
        let e = must(e, "entry");
        let dst = to.join(e.file_name());
        if must(e.file_type(), "type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            must(std::fs::copy(e.path(), &dst), "copy");
        }
    }
}

#[test]
fn a_state_directory_of_the_first_formats_is_adopted_and_keeps_its_meaning() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = must(tempfile::tempdir(), "tmp");
    let fixture = repo().join("tests/fixtures/state-v1");
    let state = tmp.path().join("state");
    copy_dir(&fixture.join("state"), &state);
    must(
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)),
        "chmod",
    );
    let stack = Stack::start_in(tmp);
    stack.ready();
    let kc = Keychain::connect(stack.run_dir());
    // Keys: k1 (two versions) signs, k2 stays revoked.
    let signed = must(kc.sign(&label("signing"), &label("k1"), b"m"), "k1 signs");
    assert_eq!(
        signed.kid.to_hex(),
        "b3f18978fd4840fc27a31e193a160d0fe754b3b517088db70c15af7f4a226de5"
    );
    assert_eq!(
        code(kc.sign(&label("signing"), &label("k2"), b"m")),
        ErrorCode::Ekeyrevoked
    );
    // The user, her password, her vault; a wrong password still counts.
    let alice = UserId::new("alice").unwrap();
    let s = must(kc.login(&alice, "fixture password"), "login");
    assert_eq!(
        must(kc.get(&s.sid, "token"), "get").expose(),
        b"fixture value"
    );
    assert_eq!(code(kc.get(&s.sid, "other")), ErrorCode::Enoent);
    // Trust: the vendor root, and the distrusted one.
    let roots = must(kc.trust_list(), "trust list");
    assert_eq!(roots.len(), 2);
    assert!(roots.iter().any(|r| r.status.as_str() == "distrusted"));
    // Bundles and updates. A bundle record of the first format keeps no
    // signed manifest: its files cannot be verified again, so it is
    // listed as damaged until it is installed again.
    let (c, out, err) = nx(&stack.run_dir(), &["bundle", "list"]);
    assert_eq!(c, ErrorCode::Eio.exit_status(), "{out}{err}");
    assert!(out.contains("com.example.fixture"), "{out}");
    assert!(err.contains("keeps no signed manifest"), "{err}");
    let (c, out, err) = nx(&stack.run_dir(), &["update", "status"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("active b"), "{out}");
    // A newer bundle from the fixture's vendor installs; an older update does not.
    let work = must(tempfile::tempdir(), "tmp");
    let vendor = must(
        MinisignSecretKey::parse(&read(&fixture.join("vendor.key"))),
        "vendor key",
    );
    let b2 = artifact(
        work.path(),
        Kind::Bundle,
        "com.example.fixture",
        "1.1.0",
        &vendor,
    );
    let (c, _, err) = nx(
        &stack.run_dir(),
        &["bundle", "install", b2.to_str().unwrap()],
    );
    assert_eq!(c, 0, "{err}");
    let u = artifact(work.path(), Kind::Update, "nexus-os", "1.0.9", &vendor);
    let (c, _, _) = nx(&stack.run_dir(), &["update", "stage", u.to_str().unwrap()]);
    assert_eq!(c, ErrorCode::Eperm.exit_status());
    let state = stack.state_dir();
    let lines = stack.stderr();
    for svc in [
        "keymintd",
        "keystored",
        "identityd",
        "bundlemgrd",
        "updated",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{svc}: state root created; adopted"))),
            "{svc} adopted nothing: {lines:#?}"
        );
    }
    // The old logs were kept aside, bound into the new chains.
    assert!(state.join("audit/keystored.legacy.jsonl").exists());
    let dir = stack.stop();
    let (c, out, err) = nx(
        Path::new("/nonexistent"),
        &[
            "audit",
            "verify",
            "--state",
            dir.path().join("state").to_str().unwrap(),
        ],
    );
    assert_eq!(c, 0, "{out}{err}");
}

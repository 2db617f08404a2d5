//! Vault semantics over the real statefs, keymint and identity: session
//! gating, per-app and per-user isolation, persistence, quotas, limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use identity::Password;
use nexus_core::{
    Capability, Coded, ErrorCode, ManualClock, QuotaLimits, SessionId, Subject, UserId,
};
use std::path::Path;
use ui_v18b_host::{caller, RigConfig, Stack};
use vault::{QuotaMeasure, QuotaScope, VaultLimits};

fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

fn pw(s: &str) -> Password {
    Password::new(s)
}

/// A stack over `dir` with users alice and bob (passwords "alice-pw",
/// "bob-pw").
fn setup(dir: &Path, cfg: RigConfig) -> (Stack, ManualClock) {
    let clock = ManualClock::new(1_700_000_000);
    let s = Stack::open(dir, &clock, cfg).unwrap();
    let admin = subject("system:identityd");
    for u in ["alice", "bob"] {
        s.identity
            .create_user(&admin, &user(u), &pw(&format!("{u}-pw")))
            .unwrap();
    }
    (s, clock)
}

fn login(s: &Stack, u: &str) -> SessionId {
    s.identity
        .login(&caller(), &user(u), &pw(&format!("{u}-pw")))
        .unwrap()
        .sid
}

#[test]
fn unseal_then_put_get_delete_works() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.notes");
    let sid = login(&s, "alice");
    assert!(s
        .vault
        .put(&app, sid, "token", b"s3cret")
        .unwrap()
        .warnings
        .is_empty());
    s.vault.put(&app, sid, "other", b"").unwrap();
    assert_eq!(
        s.vault.get(&app, sid, "token").unwrap().as_slice(),
        b"s3cret"
    );
    assert_eq!(s.vault.list(&app, sid).unwrap(), ["other", "token"]);
    s.vault.put(&app, sid, "token", b"v2").unwrap();
    assert_eq!(s.vault.get(&app, sid, "token").unwrap().as_slice(), b"v2");
    s.vault.delete(&app, sid, "token").unwrap();
    assert_eq!(
        s.vault.get(&app, sid, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        s.vault.delete(&app, sid, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(s.vault.list(&app, sid).unwrap(), ["other"]);
    // The file on disk does not contain the value in the clear.
    s.vault
        .put(&app, sid, "token", b"PLAINTEXT-MARKER")
        .unwrap();
    let host = s.vault_file(&user("alice"));
    let raw = std::fs::read(host).unwrap();
    assert!(!raw.windows(16).any(|w| w == b"PLAINTEXT-MARKER"));
    assert!(!raw.windows(5).any(|w| w == b"token"));
}

#[test]
fn test_reject_locked_session_with_elocked_and_ended_or_unknown_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.notes");
    let sid = login(&s, "alice");
    s.vault.put(&app, sid, "token", b"x").unwrap();
    let all_refused = |sid: SessionId, code: ErrorCode| {
        // Existing and missing names alike: never "not found".
        for name in ["token", "missing"] {
            assert_eq!(s.vault.get(&app, sid, name).unwrap_err().code(), code);
            assert_eq!(s.vault.delete(&app, sid, name).unwrap_err().code(), code);
            assert_eq!(s.vault.put(&app, sid, name, b"y").unwrap_err().code(), code);
        }
        assert_eq!(s.vault.list(&app, sid).unwrap_err().code(), code);
    };
    // Locked: a known session, ELOCKED.
    s.identity.lock(&caller(), sid).unwrap();
    all_refused(sid, ErrorCode::Elocked);
    // Unlocked again: works, and the locked-time put did not land.
    s.identity.unlock(&caller(), sid, &pw("alice-pw")).unwrap();
    assert_eq!(s.vault.get(&app, sid, "token").unwrap().as_slice(), b"x");
    assert_eq!(s.vault.list(&app, sid).unwrap(), ["token"]);
    // Ended: no such session.
    s.identity.logout(&caller(), sid).unwrap();
    all_refused(sid, ErrorCode::Eperm);
    let e = s.vault.get(&app, sid, "token").unwrap_err();
    assert_eq!(e.to_string(), "no such session");
    // Never issued.
    all_refused(SessionId::from_bytes([7; 16]), ErrorCode::Eperm);
    // A session whose user was deleted.
    let bob = login(&s, "bob");
    s.vault.put(&app, bob, "k", b"v").unwrap();
    s.identity
        .delete_user(&subject("system:identityd"), &user("bob"))
        .unwrap();
    all_refused(bob, ErrorCode::Eperm);
}

#[test]
fn test_reject_missing_entry_with_enoent_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.notes");
    let sid = login(&s, "alice");
    let e = s.vault.get(&app, sid, "db-password").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    assert_eq!(e.to_string(), "no such entry `db-password`");
    let e = s.vault.delete(&app, sid, "db password").unwrap_err();
    assert_eq!(e.to_string(), "no such entry `db password`");
}

/// The attack on names: delete alice, create alice again, log in: the old
/// alice's entries must not be there (nor come back with a put), through
/// the decrypted cache (a session of the old alice was still using it) or
/// the file.
#[test]
fn test_reject_recreated_user_reading_the_old_users_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.notes");
    let old = login(&s, "alice");
    s.vault.put(&app, old, "token", b"OLD-ALICE").unwrap();
    let old_file = s.vault_file(&user("alice"));
    let admin = subject("system:identityd");
    s.identity.delete_user(&admin, &user("alice")).unwrap();
    assert!(!old_file.exists());
    s.identity
        .create_user(&admin, &user("alice"), &pw("new-pw"))
        .unwrap();
    let new = s
        .identity
        .login(&caller(), &user("alice"), &pw("new-pw"))
        .unwrap()
        .sid;
    assert_eq!(
        s.vault.get(&app, new, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    s.vault.put(&app, new, "fresh", b"new").unwrap();
    assert_eq!(s.vault.list(&app, new).unwrap(), ["fresh"]);
    assert_ne!(s.vault_file(&user("alice")), old_file);
    assert_eq!(
        s.vault.get(&app, old, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );
}

#[test]
fn test_reject_cross_app_read_list_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let a = subject("app:com.example.a");
    let b = subject("app:com.example.b");
    let sid = login(&s, "alice");
    s.vault.put(&a, sid, "token", b"a-secret").unwrap();
    s.vault.put(&a, sid, "only-a", b"1").unwrap();
    // B cannot read, delete or even see A's names.
    assert_eq!(
        s.vault.get(&b, sid, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        s.vault.delete(&b, sid, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(s.vault.list(&b, sid).unwrap(), Vec::<String>::new());
    // B's own entry of the same name is separate.
    s.vault.put(&b, sid, "token", b"b-secret").unwrap();
    assert_eq!(s.vault.list(&b, sid).unwrap(), ["token"]);
    assert_eq!(
        s.vault.get(&a, sid, "token").unwrap().as_slice(),
        b"a-secret"
    );
    assert_eq!(
        s.vault.get(&b, sid, "token").unwrap().as_slice(),
        b"b-secret"
    );
    s.vault.delete(&b, sid, "token").unwrap();
    assert_eq!(
        s.vault.get(&a, sid, "token").unwrap().as_slice(),
        b"a-secret"
    );
    assert_eq!(s.vault.list(&a, sid).unwrap(), ["only-a", "token"]);
    // A uid caller and a system service have namespaces of their own.
    assert_eq!(
        s.vault.list(&subject("uid:1000"), sid).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        s.vault.list(&subject("system:attestd"), sid).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn test_reject_cross_user_access() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.a");
    let alice = login(&s, "alice");
    let bob = login(&s, "bob");
    s.vault.put(&app, alice, "token", b"alice-secret").unwrap();
    assert_eq!(
        s.vault.get(&app, bob, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(s.vault.list(&app, bob).unwrap(), Vec::<String>::new());
    assert_eq!(
        s.vault.delete(&app, bob, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    // Planting alice's sealed vault in bob's place does not open for bob.
    let a_path = s.vault_file(&user("alice"));
    let b_path = s.vault_file(&user("bob"));
    s.identity.logout(&caller(), bob).unwrap();
    std::fs::create_dir_all(b_path.parent().unwrap()).unwrap();
    std::fs::copy(&a_path, &b_path).unwrap();
    let bob = login(&s, "bob");
    assert_eq!(
        s.vault.get(&app, bob, "token").unwrap_err().code(),
        ErrorCode::Eio
    );
    assert_eq!(
        s.vault.get(&app, alice, "token").unwrap().as_slice(),
        b"alice-secret"
    );
}

#[test]
fn vault_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = subject("app:com.example.a");
    {
        let (s, _) = setup(dir.path(), RigConfig::default());
        let sid = login(&s, "alice");
        s.vault.put(&app, sid, "token", b"persisted").unwrap();
        s.vault.put(&app, sid, "gone", b"x").unwrap();
        s.vault.delete(&app, sid, "gone").unwrap();
    }
    // A new StateFs, KeyMint, Identity and Vault over the same directory.
    let clock = ManualClock::new(1_700_000_100);
    let s = Stack::open(dir.path(), &clock, RigConfig::default()).unwrap();
    assert!(!s.keymint.created_device_secret());
    let sid = login(&s, "alice");
    assert_eq!(
        s.vault.get(&app, sid, "token").unwrap().as_slice(),
        b"persisted"
    );
    assert_eq!(s.vault.list(&app, sid).unwrap(), ["token"]);
}

#[test]
fn lock_drops_the_decrypted_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.a");
    let sid = login(&s, "alice");
    s.vault.put(&app, sid, "token", b"x").unwrap();
    let host = s.vault_file(&user("alice"));
    let mut bytes = std::fs::read(&host).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    std::fs::write(&host, &bytes).unwrap();
    // Served from the cache while unsealed...
    assert_eq!(s.vault.get(&app, sid, "token").unwrap().as_slice(), b"x");
    // ...and re-read from disk after lock/unlock: the cache was dropped.
    s.identity.lock(&caller(), sid).unwrap();
    s.identity.unlock(&caller(), sid, &pw("alice-pw")).unwrap();
    assert_eq!(
        s.vault.get(&app, sid, "token").unwrap_err().code(),
        ErrorCode::Eio
    );
}

#[test]
fn quotas_warn_then_edquota() {
    let dir = tempfile::tempdir().unwrap();
    let limits = VaultLimits {
        per_app: QuotaLimits {
            soft_count: 2,
            hard_count: 3,
            soft_bytes: 40,
            hard_bytes: 50,
        },
        per_user: QuotaLimits {
            soft_count: 4,
            hard_count: 5,
            soft_bytes: 1000,
            hard_bytes: 1000,
        },
    };
    let (s, _) = setup(
        dir.path(),
        RigConfig {
            limits,
            ..RigConfig::default()
        },
    );
    let a = subject("app:com.example.a");
    let b = subject("app:com.example.b");
    let sid = login(&s, "alice");
    assert!(s
        .vault
        .put(&a, sid, "k1", b"12345678")
        .unwrap()
        .warnings
        .is_empty());
    assert!(s
        .vault
        .put(&a, sid, "k2", b"12345678")
        .unwrap()
        .warnings
        .is_empty());
    let w = s.vault.put(&a, sid, "k3", b"12345678").unwrap().warnings;
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0].scope, w[0].measure, w[0].used, w[0].soft_limit),
        (QuotaScope::App, QuotaMeasure::Entries, 3, 2)
    );
    // Hard entry limit: refused with the figures, nothing written.
    let e = s.vault.put(&a, sid, "k4", b"x").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Edquota);
    assert_eq!(
        e.to_string(),
        "app quota exceeded: entries would be 4, hard limit 3"
    );
    // Bytes: replacing k3 with a larger value passes soft, then hard.
    let w = s
        .vault
        .put(&a, sid, "k3", b"1234567890123456789")
        .unwrap()
        .warnings;
    let figures: Vec<_> = w.iter().map(|w| (w.measure, w.used)).collect();
    assert_eq!(
        figures,
        [
            (QuotaMeasure::Entries, 3),
            (QuotaMeasure::Bytes, 2 * 10 + 21)
        ]
    );
    let e = s.vault.put(&a, sid, "k3", &[0u8; 40]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "app quota exceeded: bytes would be 62, hard limit 50"
    );
    assert_eq!(s.vault.get(&a, sid, "k3").unwrap().len(), 19);
    // Per user: app b is within its own quota but the user total is not.
    s.vault.put(&b, sid, "k1", b"x").unwrap();
    let w = s.vault.put(&b, sid, "k2", b"x").unwrap().warnings;
    let figures: Vec<_> = w.iter().map(|w| (w.scope, w.measure, w.used)).collect();
    assert_eq!(figures, [(QuotaScope::User, QuotaMeasure::Entries, 5)]);
    let e = s.vault.put(&b, sid, "k3", b"x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "user quota exceeded: entries would be 6, hard limit 5"
    );
    // The refused writes are not on disk either.
    s.identity.logout(&caller(), sid).unwrap();
    let sid = login(&s, "alice");
    assert_eq!(s.vault.list(&a, sid).unwrap(), ["k1", "k2", "k3"]);
    assert_eq!(s.vault.list(&b, sid).unwrap(), ["k1", "k2"]);
    // Deleting frees room.
    s.vault.delete(&b, sid, "k1").unwrap();
    s.vault.put(&b, sid, "k3", b"x").unwrap();
}

#[test]
fn test_reject_oversized_or_bad_names_and_values_with_einval() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.a");
    let sid = login(&s, "alice");
    s.vault
        .put(&app, sid, &"n".repeat(255), &vec![1u8; 64 * 1024])
        .unwrap();
    for name in [
        String::new(),
        "n".repeat(256),
        "a\nb".into(),
        "\u{1b}[2J".into(),
        "tab\t".into(),
    ] {
        assert_eq!(
            s.vault.put(&app, sid, &name, b"v").unwrap_err().code(),
            ErrorCode::Einval,
            "{name:?}"
        );
        assert_eq!(
            s.vault.get(&app, sid, &name).unwrap_err().code(),
            ErrorCode::Einval
        );
        assert_eq!(
            s.vault.delete(&app, sid, &name).unwrap_err().code(),
            ErrorCode::Einval
        );
    }
    let e = s
        .vault
        .put(&app, sid, "big", &vec![1u8; 64 * 1024 + 1])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    // The error never echoes a value.
    let e = s.vault.put(&app, sid, "\n", b"VALUE-MARKER").unwrap_err();
    assert!(!format!("{e} {e:?}").contains("VALUE-MARKER"));
}

#[test]
fn test_reject_vault_use_without_capability() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = setup(dir.path(), RigConfig::default());
    let app = subject("app:com.example.a");
    let sid = login(&s, "alice");
    s.vault.put(&app, sid, "token", b"x").unwrap();
    s.authz.revoke(&app, Capability::VaultUse);
    assert_eq!(
        s.vault.get(&app, sid, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.vault.put(&app, sid, "t", b"x").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.vault.delete(&app, sid, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.vault.list(&app, sid).unwrap_err().code(),
        ErrorCode::Eperm
    );
    // Denied before the session is looked at.
    assert_eq!(
        s.vault
            .list(&app, SessionId::from_bytes([1; 16]))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
}

#[test]
fn test_reject_a_put_past_the_largest_sealable_vault_with_edquota() {
    // Quotas far above what one keymintd request can seal: the encoded
    // vault's own limit (MAX_VAULT_FILE_LEN) still stops the put, with
    // EDQUOTA naming it, and what was there stays readable.
    let dir = tempfile::tempdir().unwrap();
    let big = QuotaLimits {
        soft_count: 1 << 20,
        hard_count: 1 << 20,
        soft_bytes: 1 << 30,
        hard_bytes: 1 << 30,
    };
    let (s, _) = setup(
        dir.path(),
        RigConfig {
            limits: VaultLimits {
                per_app: big,
                per_user: big,
            },
            ..RigConfig::default()
        },
    );
    let app = subject("app:com.example.a");
    let sid = login(&s, "alice");
    let value = vec![7u8; vault::MAX_VALUE_LEN];
    let mut stored = 0;
    let err = loop {
        match s.vault.put(&app, sid, &format!("e{stored}"), &value) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 64, "no limit reached");
    };
    assert_eq!(err.code(), ErrorCode::Edquota);
    let m = err.to_string();
    assert!(
        m.contains("the user's vault is full") && m.contains("MAX_VAULT_FILE_LEN = 983040 bytes"),
        "{m}"
    );
    // 983 040 bytes hold 14 full values and their framing, not 15.
    assert_eq!(stored, 14);
    assert_eq!(s.vault.list(&app, sid).unwrap().len(), 14);
    assert_eq!(
        s.vault.get(&app, sid, "e13").unwrap().as_slice(),
        value.as_slice()
    );
}

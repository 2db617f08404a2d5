//! Malformed policy files: each load error, with its exact variant and
//! code (`EIO`: a service without a valid policy authorizes nothing).

use nexus_core::{Capability, Coded, ErrorCode, Subject};
use policy::{Policy, PolicyError, MAX_POLICY_LEN};

fn reject(text: &str) -> PolicyError {
    let err = Policy::from_toml_str(text).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio);
    err
}

fn app(s: &str) -> Subject {
    Subject::App(s.parse().unwrap())
}

const APP_ENTRY: &str = r#"
[[subjects]]
subject = "app:com.example.a"
capabilities = ["identity.key.sign"]
"#;

#[test]
fn minimal_policy_loads() {
    let p = Policy::from_toml_str(&format!("version = 1\n{APP_ENTRY}")).unwrap();
    assert_eq!(
        p.capabilities(&app("com.example.a")),
        vec![Capability::KeySign]
    );
    let empty = Policy::from_toml_str("version = 1").unwrap();
    assert_eq!(empty.subjects().count(), 0);
}

#[test]
fn test_reject_bad_toml_with_line_and_column() {
    let err = reject("version = 1\n\n[[subjects]\nsubject = \"app:x\"\n");
    match err {
        PolicyError::Syntax { line, column, .. } => {
            assert_eq!(line, Some(3));
            assert_eq!(column, Some(11));
        }
        other => panic!("wrong error: {other:?}"),
    }
    assert!(reject("version = 1\n\n[[subjects]\n")
        .to_string()
        .contains("line 3"));
}

#[test]
fn test_reject_truncated_file() {
    let full = format!("version = 1\n{APP_ENTRY}");
    let cut = &full[..full.len() - 10];
    assert!(matches!(reject(cut), PolicyError::Syntax { .. }));
}

#[test]
fn test_reject_unknown_top_level_key() {
    let err = reject("version = 1\nallow_all = true\n");
    match err {
        PolicyError::Syntax { line, message, .. } => {
            assert_eq!(line, Some(2));
            assert!(message.contains("allow_all"), "{message}");
        }
        other => panic!("wrong error: {other:?}"),
    }
}

#[test]
fn test_reject_unknown_key_in_subject_entry() {
    let text = format!("version = 1\n{APP_ENTRY}wildcard = true\n");
    assert!(matches!(
        reject(&text),
        PolicyError::Syntax { line: Some(6), .. }
    ));
}

#[test]
fn test_reject_unknown_key_in_quota() {
    let text = "version = 1\n[defaults]\nvault_quota = { soft_bytes = 1, hard_bytes = 2, soft_count = 1, hard_count = 2, extra = 3 }\n";
    assert!(matches!(
        reject(text),
        PolicyError::Syntax { line: Some(3), .. }
    ));
}

#[test]
fn test_reject_missing_field() {
    let text = "version = 1\n[[subjects]]\nsubject = \"app:com.example.a\"\n";
    match reject(text) {
        PolicyError::Syntax { message, .. } => {
            assert!(message.contains("capabilities"), "{message}")
        }
        other => panic!("wrong error: {other:?}"),
    }
    let partial_quota = "version = 1\n[defaults]\nvault_quota = { hard_bytes = 2 }\n";
    assert!(matches!(reject(partial_quota), PolicyError::Syntax { .. }));
}

#[test]
fn test_reject_wrong_types() {
    for text in [
        "version = 1\n[[subjects]]\nsubject = 7\ncapabilities = []\n",
        "version = 1\n[[subjects]]\nsubject = \"app:a\"\ncapabilities = \"identity.key.sign\"\n",
        "version = 1\n[[uid_map]]\nuid = -1\nsubject = \"system:admin\"\n",
        "version = 1\n[[uid_map]]\nuid = 4294967296\nsubject = \"system:admin\"\n",
        "version = 1\n[defaults]\nkeystore_quota = { soft_bytes = -1, hard_bytes = 2, soft_count = 1, hard_count = 2 }\n",
        "version = 1\nsubjects = 3\n",
    ] {
        assert!(matches!(reject(text), PolicyError::Syntax { .. }), "{text}");
    }
}

#[test]
fn test_reject_missing_version() {
    assert!(matches!(reject(APP_ENTRY), PolicyError::MissingVersion));
    assert!(matches!(reject(""), PolicyError::MissingVersion));
}

#[test]
fn test_reject_unknown_version() {
    // A version-2 file is named as such even though its keys are unknown.
    let err = reject("version = 2\nnew_feature = true\n");
    assert_eq!(err.to_string(), "unsupported policy version 2 (expected 1)");
    assert!(matches!(
        err,
        PolicyError::UnknownVersion { found: Some(2) }
    ));
    assert!(matches!(
        reject("version = 0"),
        PolicyError::UnknownVersion { found: Some(0) }
    ));
    assert!(matches!(
        reject("version = \"1\""),
        PolicyError::UnknownVersion { found: None }
    ));
    assert!(matches!(
        reject("version = 1.0"),
        PolicyError::UnknownVersion { found: None }
    ));
}

#[test]
fn test_reject_unknown_capability() {
    for name in [
        "identity.key.*",
        "identity.key.Sign",
        "",
        "identity.key.sign ",
    ] {
        let text = format!(
            "version = 1\n[[subjects]]\nsubject = \"app:com.example.a\"\ncapabilities = [\"{name}\"]\n"
        );
        match reject(&text) {
            PolicyError::UnknownCapability { subject, name: n } => {
                assert_eq!(subject, app("com.example.a"));
                assert_eq!(n, name);
            }
            other => panic!("wrong error: {other:?}"),
        }
    }
}

#[test]
fn test_reject_duplicate_capability() {
    let text = "version = 1\n[[subjects]]\nsubject = \"app:com.example.a\"\ncapabilities = [\"identity.key.sign\", \"identity.key.sign\"]\n";
    assert!(matches!(
        reject(text),
        PolicyError::DuplicateCapability {
            capability: Capability::KeySign,
            ..
        }
    ));
}

#[test]
fn test_reject_bad_subject() {
    for s in [
        "root",
        "user:alice",
        "app:../etc",
        "system:",
        "uid:-1",
        "uid:99999999999",
        "app:a b",
        "",
    ] {
        let text = format!("version = 1\n[[subjects]]\nsubject = \"{s}\"\ncapabilities = []\n");
        match reject(&text) {
            PolicyError::BadSubject { subject, .. } => assert_eq!(subject, s),
            other => panic!("wrong error for {s:?}: {other:?}"),
        }
    }
}

#[test]
fn test_reject_non_canonical_subject() {
    let text = "version = 1\n[[subjects]]\nsubject = \"uid:007\"\ncapabilities = []\n";
    match reject(text) {
        PolicyError::NonCanonicalSubject { subject, canonical } => {
            assert_eq!(subject, "uid:007");
            assert_eq!(canonical, Subject::Uid(7));
        }
        other => panic!("wrong error: {other:?}"),
    }
}

#[test]
fn test_reject_duplicate_subject() {
    let text = format!("version = 1\n{APP_ENTRY}{APP_ENTRY}");
    match reject(&text) {
        PolicyError::DuplicateSubject(s) => assert_eq!(s, app("com.example.a")),
        other => panic!("wrong error: {other:?}"),
    }
}

#[test]
fn test_reject_system_only_capability_for_non_system_subject() {
    for (who, cap) in [
        ("app:com.example.a", Capability::TrustWrite),
        ("uid:1000", Capability::TrustWrite),
        ("app:com.example.a", Capability::UserAdmin),
        ("app:com.example.a", Capability::UpdateStage),
    ] {
        let text = format!(
            "version = 1\n[[subjects]]\nsubject = \"{who}\"\ncapabilities = [\"identity.key.sign\", \"{cap}\"]\n"
        );
        let err = reject(&text);
        let msg = err.to_string();
        match err {
            PolicyError::SystemOnlyCapability {
                subject,
                capability,
            } => {
                assert_eq!(subject.to_string(), who);
                assert_eq!(capability, cap);
            }
            other => panic!("wrong error: {other:?}"),
        }
        assert!(msg.contains(who) && msg.contains(cap.as_str()), "{msg}");
    }
}

#[test]
fn test_reject_duplicate_uid_mapping() {
    let text = "version = 1\n[[subjects]]\nsubject = \"system:admin\"\ncapabilities = []\n\
                [[subjects]]\nsubject = \"system:ops\"\ncapabilities = []\n\
                [[uid_map]]\nuid = 0\nsubject = \"system:admin\"\n\
                [[uid_map]]\nuid = 0\nsubject = \"system:ops\"\n";
    assert!(matches!(reject(text), PolicyError::DuplicateUid(0)));
}

#[test]
fn test_reject_uid_mapped_to_uid() {
    let text = "version = 1\n[[subjects]]\nsubject = \"uid:0\"\ncapabilities = []\n\
                [[uid_map]]\nuid = 1000\nsubject = \"uid:0\"\n";
    assert!(matches!(
        reject(text),
        PolicyError::UidMappedToUid {
            uid: 1000,
            subject: Subject::Uid(0)
        }
    ));
}

#[test]
fn test_reject_uid_mapped_to_unknown_subject() {
    let text = "version = 1\n[[uid_map]]\nuid = 0\nsubject = \"system:admn\"\n";
    assert!(matches!(
        reject(text),
        PolicyError::UidMappedToUnknownSubject { uid: 0, .. }
    ));
}

#[test]
fn test_reject_bad_uid_map_subject() {
    let text = "version = 1\n[[uid_map]]\nuid = 0\nsubject = \"root\"\n";
    assert!(matches!(reject(text), PolicyError::BadSubject { .. }));
}

#[test]
fn test_reject_soft_quota_above_hard() {
    let text = "version = 1\n[defaults]\nkeystore_quota = { soft_bytes = 3, hard_bytes = 2, soft_count = 1, hard_count = 2 }\n";
    assert!(matches!(
        reject(text),
        PolicyError::BadQuota { store: "keystore", ref scope, .. } if scope == "defaults"
    ));
    let text = format!(
        "version = 1\n{APP_ENTRY}vault_quota = {{ soft_bytes = 1, hard_bytes = 2, soft_count = 3, hard_count = 2 }}\n"
    );
    assert!(matches!(
        reject(&text),
        PolicyError::BadQuota { store: "vault", ref scope, .. } if scope == "app:com.example.a"
    ));
}

#[test]
fn test_reject_oversized_file() {
    // Valid TOML padded with a comment just past the limit.
    let mut text = String::from("version = 1\n#");
    text.push_str(&"x".repeat(MAX_POLICY_LEN - text.len() + 1));
    assert_eq!(text.len(), MAX_POLICY_LEN + 1);
    assert!(matches!(reject(&text), PolicyError::TooLarge));
    let err = Policy::from_bytes(text.as_bytes()).unwrap_err();
    assert!(matches!(err, PolicyError::TooLarge));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, &text).unwrap();
    assert!(matches!(
        Policy::load(&path).unwrap_err(),
        PolicyError::TooLarge
    ));

    // Exactly at the limit is accepted.
    text.pop();
    std::fs::write(&path, &text).unwrap();
    Policy::load(&path).unwrap();
}

#[test]
fn test_reject_non_utf8() {
    let err = Policy::from_bytes(b"version = 1\n# \xff\xfe\n").unwrap_err();
    assert!(matches!(err, PolicyError::NotUtf8));
    assert_eq!(err.code(), ErrorCode::Eio);
}

#[test]
fn test_reject_flipped_bytes() {
    // Flip each byte of a valid file in turn: the loader must never panic,
    // and whatever it accepts must still be a consistent policy.
    let good =
        format!("version = 1\n{APP_ENTRY}[[uid_map]]\nuid = 5\nsubject = \"app:com.example.a\"\n");
    let mut refused = 0;
    for i in 0..good.len() {
        let mut bytes = good.clone().into_bytes();
        bytes[i] ^= 0x20;
        match Policy::from_bytes(&bytes) {
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::Eio);
                refused += 1;
            }
            Ok(p) => {
                for s in p.subjects() {
                    for c in p.capabilities(s) {
                        assert!(s.is_system() || !c.is_system_only());
                    }
                }
            }
        }
    }
    assert!(
        refused > good.len() / 2,
        "only {refused} of {} flips refused",
        good.len()
    );
}

#[test]
fn test_reject_missing_and_non_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let err = Policy::load(&dir.path().join("absent.toml")).unwrap_err();
    assert!(matches!(err, PolicyError::Io(_)));
    assert_eq!(err.code(), ErrorCode::Eio);
    let err = Policy::load(dir.path()).unwrap_err();
    assert!(matches!(err, PolicyError::NotRegularFile));
    assert_eq!(err.code(), ErrorCode::Eio);
}

/// The largest shapes a policy file can have: nesting at the size limit is
/// refused by the TOML parser's own depth cap; a file at the limit made of
/// uid mappings is accepted (every check goes through sorted maps, so the
/// parse is one pass); one byte more is refused unread. The same inputs
/// seed `fuzz/corpus/state_records/` (`fuzz/worst_cases.py`).
#[test]
fn test_reject_worst_case_policy_files() {
    let nested = format!("version = 1\na = {}", "[".repeat(MAX_POLICY_LEN - 16));
    assert!(matches!(reject(&nested), PolicyError::Syntax { .. }));
    let inline = format!(
        "version = 1\na = {}",
        "{b=".repeat((MAX_POLICY_LEN - 16) / 3)
    );
    assert!(matches!(reject(&inline), PolicyError::Syntax { .. }));
    let dotted = format!(
        "version = 1\n{} = 1",
        vec!["a"; (MAX_POLICY_LEN - 20) / 2].join(".")
    );
    assert!(matches!(reject(&dotted), PolicyError::Syntax { .. }));

    let mut many =
        String::from("version = 1\n[[subjects]]\nsubject = \"system:admin\"\ncapabilities = []\n");
    let mut uid = 0u32;
    while many.len() + 128 < MAX_POLICY_LEN {
        many.push_str(&format!(
            "[[uid_map]]\nuid = {uid}\nsubject = \"system:admin\"\n"
        ));
        uid += 1;
    }
    let p = Policy::from_toml_str(&many).unwrap();
    assert_eq!(
        p.subject_for_uid(uid - 1).to_string(),
        "system:admin",
        "{uid} mappings"
    );
    // The same mapping twice, at the very end: found.
    let dup = format!("{many}[[uid_map]]\nuid = 0\nsubject = \"system:admin\"\n");
    assert!(dup.len() <= MAX_POLICY_LEN);
    assert!(matches!(reject(&dup), PolicyError::DuplicateUid(0)));
}

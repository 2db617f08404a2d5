//! Uid → subject mapping and quota resolution (entry, then `[defaults]`,
//! then the built-in defaults).

use nexus_core::{QuotaLimits, Subject};
use policy::{Policy, DEFAULT_KEYSTORE_QUOTA, DEFAULT_VAULT_QUOTA};

const TEXT: &str = r#"
version = 1

[defaults]
vault_quota = { soft_bytes = 1000, hard_bytes = 2000, soft_count = 10, hard_count = 20 }

[[subjects]]
subject = "system:admin"
capabilities = ["identity.trust.write"]
keystore_quota = { soft_bytes = 1, hard_bytes = 2, soft_count = 3, hard_count = 4 }

[[subjects]]
subject = "app:com.example.alpha"
capabilities = []
vault_quota = { soft_bytes = 5, hard_bytes = 6, soft_count = 7, hard_count = 8 }

[[subjects]]
subject = "uid:1000"
capabilities = ["identity.vault.use"]

[[uid_map]]
uid = 0
subject = "system:admin"

[[uid_map]]
uid = 1001
subject = "app:com.example.alpha"
"#;

fn q(soft_bytes: u64, hard_bytes: u64, soft_count: u64, hard_count: u64) -> QuotaLimits {
    QuotaLimits {
        soft_bytes,
        hard_bytes,
        soft_count,
        hard_count,
    }
}

#[test]
fn uid_mapping_round_trips() {
    let p = Policy::from_toml_str(TEXT).unwrap();
    let admin: Subject = "system:admin".parse().unwrap();
    let alpha: Subject = "app:com.example.alpha".parse().unwrap();
    assert_eq!(p.subject_for_uid(0), admin);
    assert_eq!(p.subject_for_uid(1001), alpha);
    // Unmapped uids are themselves, including the extremes.
    assert_eq!(p.subject_for_uid(1000), Subject::Uid(1000));
    assert_eq!(p.subject_for_uid(1), Subject::Uid(1));
    assert_eq!(p.subject_for_uid(u32::MAX), Subject::Uid(u32::MAX));
    // An unmapped uid with its own entry gets that entry's grants.
    assert!(p
        .decide(&p.subject_for_uid(1000), nexus_core::Capability::VaultUse)
        .is_allow());
}

#[test]
fn quotas_resolve_entry_then_defaults_then_builtin() {
    let p = Policy::from_toml_str(TEXT).unwrap();
    let admin: Subject = "system:admin".parse().unwrap();
    let alpha: Subject = "app:com.example.alpha".parse().unwrap();
    let stranger: Subject = "app:com.example.stranger".parse().unwrap();

    assert_eq!(p.keystore_quota(&admin), q(1, 2, 3, 4));
    assert_eq!(p.vault_quota(&admin), q(1000, 2000, 10, 20));
    assert_eq!(p.keystore_quota(&alpha), DEFAULT_KEYSTORE_QUOTA);
    assert_eq!(p.vault_quota(&alpha), q(5, 6, 7, 8));
    assert_eq!(p.keystore_quota(&stranger), DEFAULT_KEYSTORE_QUOTA);
    assert_eq!(p.vault_quota(&stranger), q(1000, 2000, 10, 20));
}

#[test]
fn builtin_quota_defaults_apply_without_defaults_table() {
    let p = Policy::from_toml_str("version = 1").unwrap();
    let s = Subject::Uid(5);
    assert_eq!(p.keystore_quota(&s), DEFAULT_KEYSTORE_QUOTA);
    assert_eq!(p.vault_quota(&s), DEFAULT_VAULT_QUOTA);
    assert_eq!(DEFAULT_KEYSTORE_QUOTA, q(768 * 1024, 1024 * 1024, 192, 256));
    assert_eq!(DEFAULT_VAULT_QUOTA, q(192 * 1024, 256 * 1024, 192, 256));
}

#[test]
fn soft_equal_to_hard_is_accepted() {
    let p = Policy::from_toml_str(
        "version = 1\n[defaults]\nkeystore_quota = { soft_bytes = 0, hard_bytes = 0, soft_count = 0, hard_count = 0 }\n",
    )
    .unwrap();
    assert_eq!(p.keystore_quota(&Subject::Uid(1)), q(0, 0, 0, 0));
}

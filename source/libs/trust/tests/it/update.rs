//! Changing an installed root (`update_installed`): which fields may
//! change, who may change them, and what is refused.
use crate::common::*;
use nexus_core::{Capability, Coded, ErrorCode};
use trust::minisign::MinisignSecretKey;
use trust::{RootUpdate, Scope, TrustError};

fn admin() -> Grants {
    Grants::new(&[("system:nx", Capability::TrustWrite)])
}

#[test]
fn installed_root_scopes_and_metadata_can_change() {
    let env = Env::new();
    let store = env.store();
    let nx = subject("system:nx");
    let key = MinisignSecretKey::generate().unwrap();
    let r = root_for(&key, &[Scope::Packages], 0, 10);
    store.add_installed(&nx, &admin(), &r).unwrap();
    let change = RootUpdate {
        scopes: Some(vec![Scope::Packages, Scope::Updates]),
        ..RootUpdate::default()
    };
    let new = store
        .update_installed(&nx, &admin(), &r.kid(), &change)
        .unwrap();
    assert!(new.allows(Scope::Updates) && new.allows(Scope::Packages));
    assert_eq!(
        (new.kid(), new.label(), new.not_after()),
        (r.kid(), r.label(), 10)
    );
    assert_eq!(new.minisign_key_id(), r.minisign_key_id());
    let change = RootUpdate {
        label: Some("renamed".parse().unwrap()),
        scopes: Some(vec![Scope::Updates]),
        not_after: Some(20),
        ..RootUpdate::default()
    };
    store
        .update_installed(&nx, &admin(), &r.kid(), &change)
        .unwrap();
    // Persisted: a fresh store reads the changed root.
    let snap = env.store().load().unwrap();
    let got = &snap.find(&r.kid()).unwrap().root;
    assert_eq!(got.label().as_str(), "renamed");
    assert!(!got.allows(Scope::Packages) && got.allows(Scope::Updates));
    assert_eq!(got.not_after(), 20);
}

#[test]
fn test_reject_root_updates_that_are_not_allowed() {
    let env = Env::new();
    let sys = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    env.add_system_root(&sys);
    let store = env.store();
    let nx = subject("system:nx");
    let inst = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    store.add_installed(&nx, &admin(), &inst).unwrap();
    let widen = RootUpdate {
        scopes: Some(vec![Scope::Packages, Scope::Updates]),
        ..RootUpdate::default()
    };
    let code = |r: Result<_, TrustError>| r.unwrap_err().code();
    // A system root's metadata comes with the image.
    let err = store
        .update_installed(&nx, &admin(), &sys.kid(), &widen)
        .unwrap_err();
    assert!(matches!(err, TrustError::SystemRoot(_)), "{err}");
    // No such installed root.
    let unknown = root_for(
        &MinisignSecretKey::generate().unwrap(),
        &[Scope::Packages],
        0,
        10,
    );
    assert_eq!(
        code(store.update_installed(&nx, &admin(), &unknown.kid(), &widen)),
        ErrorCode::Enoent
    );
    // Nobody without the capability; no app even with it; `updates` from
    // a non-system caller never.
    assert_eq!(
        code(store.update_installed(&nx, &Grants::new(&[]), &inst.kid(), &widen)),
        ErrorCode::Eperm
    );
    let lax = Grants::new(&[("app:com.evil", Capability::TrustWrite)]);
    let err = store
        .update_installed(&subject("app:com.evil"), &lax, &inst.kid(), &widen)
        .unwrap_err();
    assert!(
        matches!(err, TrustError::UpdatesScopeRequiresSystem),
        "{err}"
    );
    let relabel = RootUpdate {
        label: Some("x".parse().unwrap()),
        ..RootUpdate::default()
    };
    let err = store
        .update_installed(&subject("app:com.evil"), &lax, &inst.kid(), &relabel)
        .unwrap_err();
    assert!(matches!(err, TrustError::SystemOnly), "{err}");
    // An empty validity window or scope set is malformed.
    let bad = RootUpdate {
        not_before: Some(10),
        ..RootUpdate::default()
    };
    assert_eq!(
        code(store.update_installed(&nx, &admin(), &inst.kid(), &bad)),
        ErrorCode::Einval
    );
    let none = RootUpdate {
        scopes: Some(vec![]),
        ..RootUpdate::default()
    };
    assert_eq!(
        code(store.update_installed(&nx, &admin(), &inst.kid(), &none)),
        ErrorCode::Einval
    );
    // A distrusted root is not revived or changed.
    store.distrust(&nx, &admin(), &inst.kid()).unwrap();
    let err = store
        .update_installed(&nx, &admin(), &inst.kid(), &widen)
        .unwrap_err();
    assert!(matches!(err, TrustError::Distrusted(_)), "{err}");
    let snap = store.load().unwrap();
    assert!(!snap.find(&inst.kid()).unwrap().root.allows(Scope::Updates));
}

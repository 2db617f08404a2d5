//! How often the vault asks keymint per operation: once, however many
//! sessions of the user have used the vault, and lock still takes effect
//! at the next operation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keymint::{
    AuthSecret, Entropy, KeyMint, KeyMintError, SessionKeyOps, SessionLookup, VaultKeyOps,
    VaultOwner,
};
use nexus_core::{
    Authorizer, AuthzError, Capability, Coded, ErrorCode, InstanceId, SessionId, Subject, UserId,
};
use statefs::StateFs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use vault::{Vault, VaultLimits};
use zeroize::Zeroizing;

struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &Subject, _: Capability, _: &str) -> Result<(), AuthzError> {
        Ok(())
    }
}

/// keymint, counting the session questions the vault asks.
struct Counting {
    km: Arc<KeyMint>,
    asked: AtomicUsize,
}

impl VaultKeyOps for Counting {
    fn session_user(&self, sid: SessionId) -> Result<SessionLookup, KeyMintError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.km.session_user(sid)
    }
    fn session_check(
        &self,
        sid: SessionId,
        others: &[SessionId],
    ) -> Result<(SessionLookup, Vec<SessionId>), KeyMintError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.km.session_check(sid, others)
    }
    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError> {
        self.km.vault_seal(sid, aad, pt)
    }
    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        self.km.vault_unseal(sid, aad, sealed)
    }
}

#[test]
fn test_reject_a_locked_session_with_one_question_per_operation() {
    let state = StateFs::volatile();
    let km = Arc::new(KeyMint::open(&state, Entropy::os()).unwrap());
    km.sync_sessions(&[]).unwrap();
    let keys = Arc::new(Counting {
        km: Arc::clone(&km),
        asked: AtomicUsize::new(0),
    });
    let v = Vault::new(
        state,
        keys.clone(),
        Arc::new(AllowAll),
        VaultLimits::default(),
    );
    let owner = VaultOwner {
        user: UserId::new("dave").unwrap(),
        instance: InstanceId::from_bytes([4; 16]),
        legacy: false,
    };
    let auth = AuthSecret::from_bytes([4; 32]);
    let wrapped = km.create_vault_key(&owner, &auth).unwrap();
    let sids: Vec<_> = (1..=8u8).map(|b| SessionId::from_bytes([b; 16])).collect();
    for s in &sids {
        km.unseal_session(*s, &owner, &auth, &wrapped).unwrap();
    }
    let app: Subject = "app:com.example.alpha".parse().unwrap();
    v.put(&app, sids[0], "k", b"value").unwrap();
    for s in &sids {
        v.get(&app, *s, "k").unwrap();
    }
    // Every session has used the vault: each get is still one question.
    let before = keys.asked.load(Ordering::SeqCst);
    for s in &sids {
        assert_eq!(&*v.get(&app, *s, "k").unwrap(), b"value");
        v.list(&app, *s).unwrap();
    }
    assert_eq!(keys.asked.load(Ordering::SeqCst) - before, 2 * sids.len());
    // Lock one: its next get is ELOCKED, the others still read.
    km.lock_session(sids[3]).unwrap();
    let e = v.get(&app, sids[3], "k").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Elocked);
    assert_eq!(&*v.get(&app, sids[4], "k").unwrap(), b"value");
    // Logout: EPERM at once.
    km.end_session(sids[4]).unwrap();
    let e = v.get(&app, sids[4], "k").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    // Every session sealed: nothing is served, ever.
    for s in &sids {
        km.lock_session(*s).unwrap();
    }
    let e = v.get(&app, sids[0], "k").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Elocked);
}

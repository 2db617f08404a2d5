//! How often the vault asks keymint per operation: once, however many
//! sessions of the user have used the vault, and lock still takes effect
//! at the next operation; with the session table's stamp, not at all
//! while nothing in the table changed, and every change (lock, logout,
//! user deletion, sync, a restart) makes it ask again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keymint::{
    AuthSecret, Entropy, KeyMint, KeyMintError, SessionKeyOps, SessionLookup, SessionStamp,
    VaultKeyOps, VaultOwner,
};
use nexus_core::{
    Authorizer, AuthzError, Capability, Coded, ErrorCode, InstanceId, SessionId, Subject, UserId,
};
use statefs::StateFs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use vault::{Vault, VaultLimits};
use zeroize::Zeroizing;

struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &Subject, _: Capability, _: &str) -> Result<(), AuthzError> {
        Ok(())
    }
}

/// keymint, counting the session questions the vault asks; with
/// `stamps`, also showing its session table's stamp (as keymintd's board
/// does), and hiding it while `down` (keymintd unreachable).
struct Counting {
    km: Arc<KeyMint>,
    asked: AtomicUsize,
    stamps: bool,
    down: AtomicBool,
}

impl VaultKeyOps for Counting {
    fn session_user(&self, sid: SessionId) -> Result<SessionLookup, KeyMintError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.km.session_user(sid)
    }
    fn session_check_stamped(
        &self,
        sid: SessionId,
        others: &[SessionId],
    ) -> Result<(SessionLookup, Vec<SessionId>, Option<SessionStamp>), KeyMintError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let (l, o, s) = self.km.session_check_stamped(sid, others)?;
        Ok((l, o, s.filter(|_| self.stamps)))
    }
    fn session_stamp(&self) -> Option<SessionStamp> {
        if !self.stamps || self.down.load(Ordering::SeqCst) {
            return None;
        }
        self.km.session_stamp()
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

/// A vault over an in-process keymint (counting its questions, showing
/// its stamp if `stamps`) and `n` unsealed sessions of one user instance,
/// each of which has read the entry `k` = `value` once.
struct Setup {
    km: Arc<KeyMint>,
    keys: Arc<Counting>,
    v: Vault,
    owner: VaultOwner,
    sids: Vec<SessionId>,
    app: Subject,
}

fn setup(stamps: bool, user: &str, n: u8) -> Setup {
    let state = StateFs::volatile();
    let km = Arc::new(KeyMint::open(&state, Entropy::os()).unwrap());
    km.sync_sessions(&[]).unwrap();
    let keys = Arc::new(Counting {
        km: Arc::clone(&km),
        asked: AtomicUsize::new(0),
        stamps,
        down: AtomicBool::new(false),
    });
    let v = Vault::new(
        state,
        keys.clone(),
        Arc::new(AllowAll),
        VaultLimits::default(),
    );
    let owner = VaultOwner {
        user: UserId::new(user).unwrap(),
        instance: InstanceId::from_bytes([n; 16]),
        legacy: false,
    };
    let auth = AuthSecret::from_bytes([n; 32]);
    let wrapped = km.create_vault_key(&owner, &auth).unwrap();
    let sids: Vec<_> = (1..=n).map(|b| SessionId::from_bytes([b; 16])).collect();
    for s in &sids {
        km.unseal_session(*s, &owner, &auth, &wrapped).unwrap();
    }
    let app: Subject = "app:com.example.alpha".parse().unwrap();
    v.put(&app, sids[0], "k", b"value").unwrap();
    for s in &sids {
        v.get(&app, *s, "k").unwrap();
    }
    Setup {
        km,
        keys,
        v,
        owner,
        sids,
        app,
    }
}

#[test]
fn test_reject_a_locked_session_with_one_question_per_operation() {
    let Setup {
        km,
        keys,
        v,
        sids,
        app,
        ..
    } = setup(false, "dave", 8);
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

#[test]
fn test_reject_every_change_of_the_session_table_on_the_fast_path() {
    let Setup {
        km,
        keys,
        v,
        owner,
        sids,
        app,
    } = setup(true, "erin", 4);
    let asked = || keys.asked.load(Ordering::SeqCst);
    // Nothing changed: no questions at all.
    let before = asked();
    for _ in 0..10 {
        for s in &sids {
            assert_eq!(&*v.get(&app, *s, "k").unwrap(), b"value");
            v.list(&app, *s).unwrap();
        }
    }
    assert_eq!(asked(), before);
    // keymintd unreachable: every operation asks (and would be told so).
    keys.down.store(true, Ordering::SeqCst);
    v.get(&app, sids[0], "k").unwrap();
    assert_eq!(asked(), before + 1);
    keys.down.store(false, Ordering::SeqCst);
    // A lock is seen at once by the locked session, and the others are
    // asked about once more.
    km.lock_session(sids[1]).unwrap();
    assert_eq!(
        v.get(&app, sids[1], "k").unwrap_err().code(),
        ErrorCode::Elocked
    );
    let before = asked();
    v.get(&app, sids[0], "k").unwrap();
    v.get(&app, sids[0], "k").unwrap();
    assert_eq!(asked(), before + 1);
    // Logout: EPERM at once.
    km.end_session(sids[2]).unwrap();
    assert_eq!(
        v.get(&app, sids[2], "k").unwrap_err().code(),
        ErrorCode::Eperm
    );
    // A sync that does not list a session ends it.
    km.sync_sessions(&[keymint::SessionRef {
        sid: sids[0],
        owner: owner.clone(),
        active: true,
    }])
    .unwrap();
    assert_eq!(
        v.get(&app, sids[3], "k").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(&*v.get(&app, sids[0], "k").unwrap(), b"value");
    // The user deleted: every session of the instance ends.
    km.end_instance(owner.instance).unwrap();
    assert_eq!(
        v.get(&app, sids[0], "k").unwrap_err().code(),
        ErrorCode::Eperm
    );
}

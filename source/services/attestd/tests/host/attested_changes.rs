//! attestd remembers the attested keys it read, so that a token can be
//! built before the one keystored call that signs it; that call (`key.sign`
//! with `show`) reports the attested key as keystored has it then. These
//! tests change the attested key behind attestd's back, through keystored's
//! public socket, between two attestations, with the real daemons: the
//! next token must name the key as it is now, or fail as `key.show` would,
//! and never set off the device key's healing.

use crate::common::NONCE;
use crate::daemons::{key, Daemons, ATTESTD_CAPS};
use nexus_core::ErrorCode;
use nexus_daemon::testkit::{field, remote_code};
use wire::{Client, Value};

const BETA: &str = "app:com.example.beta";

fn attest(d: &Daemons, name: &str) -> Result<eat::VerifiedClaims, ErrorCode> {
    let r = d.attestd().connect(BETA).call(
        "attest",
        &key("sign", name).with("nonce", Value::Bytes(NONCE.to_vec())),
    );
    let r = match r {
        Ok(r) => r,
        Err(e) => return Err(remote_code(Err(e))),
    };
    let token = field(&r, "token").as_bytes().unwrap().clone();
    let (public, _, _) = d.device_key();
    let now = nexus_core::Clock::now_unix(&nexus_core::SystemClock);
    Ok(eat::verify_token(&token, &public, NONCE, now).unwrap())
}

/// The public key of `name`'s primary version, as keystored shows it.
fn primary_public(beta: &mut Client, name: &str) -> (Vec<u8>, u64) {
    let info = beta.call("key.show", &key("sign", name)).unwrap();
    let primary = field(&info, "primary").as_integer().unwrap();
    let versions = field(&info, "versions").as_array().unwrap();
    let v = versions
        .iter()
        .find(|v| field(v, "version").as_integer() == Some(primary))
        .unwrap();
    let public = field(v, "public_key").as_bytes().unwrap().clone();
    (public, u64::try_from(primary).unwrap())
}

fn cnf(c: &eat::VerifiedClaims) -> Vec<u8> {
    c.claims.attested_key.as_bytes().to_vec()
}

#[test]
fn test_reject_tokens_over_an_attested_key_that_changed_since_attestd_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemons::start(dir.path(), ATTESTD_CAPS);
    let (_, device_kid, device_version) = d.device_key();
    let mut beta = d.keys(BETA);
    beta.call("key.create", &key("sign", "k").with("alg", "Ed25519"))
        .unwrap();
    let (v1, _) = primary_public(&mut beta, "k");
    assert_eq!(cnf(&attest(&d, "k").unwrap()), v1);
    assert_eq!(cnf(&attest(&d, "k").unwrap()), v1);

    // Rotated: the next token names version 2, not the remembered 1.
    beta.call("key.rotate", &key("sign", "k")).unwrap();
    let (v2, primary) = primary_public(&mut beta, "k");
    assert_eq!(primary, 2);
    assert_ne!(v1, v2);
    assert_eq!(cnf(&attest(&d, "k").unwrap()), v2);

    // Revoked: refused as key.show's answer says, every time.
    beta.call("key.revoke", &key("sign", "k")).unwrap();
    for _ in 0..2 {
        assert_eq!(attest(&d, "k").unwrap_err(), ErrorCode::Ekeyrevoked);
    }

    // Deleted: `ENOENT`, and a new key of that name is a new key.
    beta.call("key.create", &key("sign", "gone").with("alg", "Ed25519"))
        .unwrap();
    let (old, _) = primary_public(&mut beta, "gone");
    assert_eq!(cnf(&attest(&d, "gone").unwrap()), old);
    beta.call("key.delete", &key("sign", "gone")).unwrap();
    assert_eq!(attest(&d, "gone").unwrap_err(), ErrorCode::Enoent);
    beta.call("key.create", &key("sign", "gone").with("alg", "Ed25519"))
        .unwrap();
    let (new, _) = primary_public(&mut beta, "gone");
    assert_ne!(old, new);
    assert_eq!(cnf(&attest(&d, "gone").unwrap()), new);

    // The attested key's failures are its own: the device key was neither
    // replaced nor rotated.
    let (_, kid_now, version_now) = d.device_key();
    assert_eq!((kid_now, version_now), (device_kid, device_version));
}

//! The limits hold end to end: the largest request and reply of every op
//! that carries data fit one frame, on every hop they take, with every
//! other field at its own maximum.

use super::*;
use crate::ops::keymint::{KeyIdent, KmSealArgs, KmSignArgs, KmUnsealArgs, KmVaultSealArgs};
use crate::ops::keymint::{KmVaultUnsealArgs, PlaintextReply, SealedReply};
use crate::ops::keys::KeyVerifyArgs;
use crate::ops::keys::{KeySealArgs, KeySealReply, KeySignArgs, KeyUnsealArgs, KeyUnsealReply};
use crate::ops::vault::{VaultGetReply, VaultPutArgs};
use crate::schema::Op;
use crate::types::{Alg, Bytes, Secret};
use nexus_core::{AppId, Label, SessionId, LABEL_MAX_LEN};
use std::num::NonZeroU32;

/// A wrapped key is 58 bytes today (`'W' | 1 | nonce[24] | 32 + tag[16]`);
/// room for four times that.
const WRAPPED: usize = 256;
const KEYMINT_OVERHEAD: usize = KEYMINT_SEAL_OVERHEAD;

fn label() -> Label {
    Label::new("l".repeat(LABEL_MAX_LEN)).unwrap()
}

fn app() -> AppId {
    AppId::new("a".repeat(LABEL_MAX_LEN)).unwrap()
}

fn ident() -> KeyIdent {
    KeyIdent {
        app: app(),
        purpose: label(),
        name: label(),
        version: NonZeroU32::MAX,
        alg: Alg::XChaCha20Poly1305,
    }
}

fn bytes(n: usize) -> Bytes {
    Bytes(vec![0xa5; n])
}

fn secret(n: usize) -> Secret {
    Secret::new(vec![0x5a; n])
}

/// The whole request frame of `O` with `args` fits; returns its length.
fn request_fits<O: Op>(args: &O::Args) -> usize {
    let args = crate::encode_args::<O>(args).unwrap();
    let body = wire::encode_request(u64::MAX, O::NAME, &args)
        .unwrap_or_else(|e| panic!("{}: the largest request does not fit: {e:?}", O::NAME));
    assert!(body.len() <= MAX_FRAME_LEN);
    body.len()
}

/// The whole reply frame of `O` with `reply` fits; returns its length.
fn reply_fits<O: Op>(reply: &O::Reply) -> usize {
    let value = crate::encode_reply::<O>(reply).unwrap();
    let body = wire::encode_reply(u64::MAX, Ok(&value))
        .unwrap_or_else(|e| panic!("{}: the largest reply does not fit: {e:?}", O::NAME));
    assert!(body.len() <= MAX_FRAME_LEN);
    body.len()
}

#[test]
fn the_figures_are_the_documented_ones() {
    assert_eq!(MAX_FRAME_LEN, 1_048_576);
    assert_eq!(MAX_MESSAGE_LEN, 983_040);
    assert_eq!(MAX_PLAINTEXT_LEN, 983_040);
    assert_eq!(MAX_SEALED_LEN, 983_090);
    assert_eq!(MAX_AAD_LEN, 4096);
    assert_eq!(MAX_VAULT_VALUE_LEN, 65_536);
    assert_eq!(MAX_VAULT_NAME_LEN, 255);
    assert_eq!(MAX_VAULT_FILE_LEN, MAX_PLAINTEXT_LEN);
}

#[test]
fn signing_the_largest_message_fits_every_hop() {
    let sign = KeySignArgs {
        purpose: label(),
        name: label(),
        msg: bytes(MAX_MESSAGE_LEN),
        // Not a valid pair (a prehash is 64 bytes), but the largest frame.
        prehash: Some(crate::Prehash::Blake2b512),
        app: Some(app()),
        show: Some(crate::KeyShowArgs {
            purpose: label(),
            name: label(),
            app: Some(app()),
        }),
    };
    request_fits::<crate::KeySign>(&sign);
    let verify = KeyVerifyArgs {
        purpose: label(),
        name: label(),
        msg: bytes(MAX_MESSAGE_LEN),
        sig: bytes(64),
        version: Some(u32::MAX),
        app: Some(app()),
        prehash: Some(crate::Prehash::Blake2b512),
    };
    request_fits::<crate::KeyVerify>(&verify);
    let km = KmSignArgs {
        ident: ident(),
        wrapped: bytes(WRAPPED),
        msg: bytes(MAX_MESSAGE_LEN),
    };
    request_fits::<crate::KmSign>(&km);
}

#[test]
fn sealing_the_largest_plaintext_fits_every_hop_both_ways() {
    let seal = KeySealArgs {
        purpose: label(),
        name: label(),
        pt: secret(MAX_PLAINTEXT_LEN),
        aad: Some(bytes(MAX_AAD_LEN)),
        app: Some(app()),
    };
    request_fits::<crate::KeySeal>(&seal);
    // keystored binds its 8-byte header into the AAD it hands keymintd.
    let km_seal = KmSealArgs {
        ident: ident(),
        wrapped: bytes(WRAPPED),
        aad: bytes(MAX_BOUND_AAD_LEN),
        pt: secret(MAX_PLAINTEXT_LEN),
    };
    request_fits::<crate::KmSeal>(&km_seal);
    let km_sealed = SealedReply {
        sealed: bytes(MAX_PLAINTEXT_LEN + KEYMINT_OVERHEAD),
    };
    reply_fits::<crate::KmSeal>(&km_sealed);
    let sealed = KeySealReply {
        sealed: bytes(MAX_SEALED_LEN),
        version: u32::MAX,
    };
    reply_fits::<crate::KeySeal>(&sealed);

    let unseal = KeyUnsealArgs {
        purpose: label(),
        name: label(),
        sealed: bytes(MAX_SEALED_LEN),
        aad: Some(bytes(MAX_AAD_LEN)),
        app: Some(app()),
    };
    request_fits::<crate::KeyUnseal>(&unseal);
    let km_unseal = KmUnsealArgs {
        ident: ident(),
        wrapped: bytes(WRAPPED),
        aad: bytes(MAX_BOUND_AAD_LEN),
        sealed: bytes(MAX_KEYMINT_SEALED_LEN),
    };
    request_fits::<crate::KmUnseal>(&km_unseal);
    reply_fits::<crate::KmUnseal>(&PlaintextReply {
        pt: secret(MAX_PLAINTEXT_LEN),
    });
    reply_fits::<crate::KeyUnseal>(&KeyUnsealReply {
        pt: secret(MAX_PLAINTEXT_LEN),
        version: u32::MAX,
    });
}

#[test]
fn the_largest_vault_fits_every_hop_both_ways() {
    let sid = SessionId::from_bytes([0xff; 16]);
    let put = VaultPutArgs {
        sid,
        name: "n".repeat(MAX_VAULT_NAME_LEN),
        value: secret(MAX_VAULT_VALUE_LEN),
    };
    request_fits::<crate::VaultPut>(&put);
    reply_fits::<crate::VaultGet>(&VaultGetReply {
        value: secret(MAX_VAULT_VALUE_LEN),
    });
    // The vault's AAD binds the user id and the format: far under the
    // bound keymintd takes.
    let seal = KmVaultSealArgs {
        sid,
        aad: bytes(MAX_BOUND_AAD_LEN),
        pt: secret(MAX_VAULT_FILE_LEN),
    };
    request_fits::<crate::KmVaultSeal>(&seal);
    reply_fits::<crate::KmVaultSeal>(&SealedReply {
        sealed: bytes(MAX_VAULT_FILE_LEN + KEYMINT_OVERHEAD),
    });
    let unseal = KmVaultUnsealArgs {
        sid,
        aad: bytes(MAX_BOUND_AAD_LEN),
        sealed: bytes(MAX_VAULT_FILE_LEN + KEYMINT_OVERHEAD),
    };
    request_fits::<crate::KmVaultUnseal>(&unseal);
    reply_fits::<crate::KmVaultUnseal>(&PlaintextReply {
        pt: secret(MAX_VAULT_FILE_LEN),
    });
}

#[test]
fn test_reject_one_byte_over_with_einval_naming_the_limit() {
    assert!(MESSAGE.check("message", MAX_MESSAGE_LEN).is_ok());
    let e = MESSAGE.check("message", MAX_MESSAGE_LEN + 1).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    assert_eq!(
        e.to_string(),
        "message is 983041 bytes; the limit is MAX_MESSAGE_LEN = 983040 bytes"
    );
    for (limit, max) in [
        (PLAINTEXT, MAX_PLAINTEXT_LEN),
        (AAD, MAX_AAD_LEN),
        (SEALED, MAX_SEALED_LEN),
        (VAULT_NAME, MAX_VAULT_NAME_LEN),
        (VAULT_VALUE, MAX_VAULT_VALUE_LEN),
        (VAULT_FILE, MAX_VAULT_FILE_LEN),
        (BOUND_AAD, MAX_BOUND_AAD_LEN),
        (KEYMINT_SEALED, MAX_KEYMINT_SEALED_LEN),
    ] {
        assert_eq!(limit.max, max);
        assert!(limit.check("x", max).is_ok());
        let e = limit.check("x", max + 1).unwrap_err();
        assert!(e.to_string().contains(limit.name), "{e}");
    }
}

//! Size limits at the public edge, over the real keystored and keymintd:
//! for every op that carries data, the exact limit is accepted and can be
//! taken back (unsealed, verified, got), and one byte more is `EINVAL`
//! naming the limit. Nothing accepted is ever lost on a later hop.

use crate::common::{args, bytes, field, text, Stack, ALPHA};
use nexus_core::{Coded, ErrorCode};
use nexus_proto::limits::{
    MAX_AAD_LEN, MAX_MESSAGE_LEN, MAX_PLAINTEXT_LEN, MAX_SEALED_LEN, MAX_VAULT_NAME_LEN,
    MAX_VAULT_VALUE_LEN,
};
use wire::{Client, Value};

fn key(purpose: &str, name: &str, more: &[(&'static str, Value)]) -> wire::Args {
    let mut v = vec![("purpose", text(purpose)), ("name", text(name))];
    v.extend_from_slice(more);
    args(&v)
}

/// The call is refused with `EINVAL` and a message naming `limit`.
#[track_caller]
fn over(c: &mut Client, op: &str, a: &wire::Args, limit: &str) {
    let e = c.call(op, a).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval, "{op}: {e}");
    assert!(e.to_string().contains(limit), "{op}: {e}");
}

#[test]
fn test_reject_one_byte_over_each_key_limit_with_einval_and_the_limit_itself_round_trips() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    alpha
        .call(
            "key.create",
            &key("signing", "k", &[("alg", text("Ed25519"))]),
        )
        .unwrap();
    alpha
        .call(
            "key.create",
            &key("storage", "s", &[("alg", text("XChaCha20-Poly1305"))]),
        )
        .unwrap();

    // Sign and verify: the largest message signs, and its signature
    // verifies; one byte more is refused by both.
    let msg = vec![0x6d; MAX_MESSAGE_LEN];
    let signed = alpha
        .call("key.sign", &key("signing", "k", &[("msg", bytes(&msg))]))
        .unwrap();
    let sig = field(&signed, "sig");
    alpha
        .call(
            "key.verify",
            &key(
                "signing",
                "k",
                &[("msg", bytes(&msg)), ("sig", sig.clone())],
            ),
        )
        .unwrap();
    let long = vec![0x6d; MAX_MESSAGE_LEN + 1];
    over(
        &mut alpha,
        "key.sign",
        &key("signing", "k", &[("msg", bytes(&long))]),
        "message is 983041 bytes; the limit is MAX_MESSAGE_LEN = 983040 bytes",
    );
    over(
        &mut alpha,
        "key.verify",
        &key("signing", "k", &[("msg", bytes(&long)), ("sig", sig)]),
        "MAX_MESSAGE_LEN",
    );

    // Seal and unseal: the largest plaintext with the largest AAD seals
    // into the largest sealed blob, which unseals to the same bytes.
    let pt: Vec<u8> = (0..MAX_PLAINTEXT_LEN).map(|i| (i % 251) as u8).collect();
    let aad = vec![0x61; MAX_AAD_LEN];
    let sealed = alpha
        .call(
            "key.seal",
            &key("storage", "s", &[("pt", bytes(&pt)), ("aad", bytes(&aad))]),
        )
        .unwrap();
    let blob = field(&sealed, "sealed").as_bytes().unwrap().clone();
    assert_eq!(blob.len(), MAX_SEALED_LEN);
    let opened = alpha
        .call(
            "key.unseal",
            &key(
                "storage",
                "s",
                &[("sealed", bytes(&blob)), ("aad", bytes(&aad))],
            ),
        )
        .unwrap();
    assert!(
        field(&opened, "pt").as_bytes().unwrap() == &pt,
        "not the same plaintext"
    );
    // One byte over any of them.
    let mut pt1 = pt.clone();
    pt1.push(0);
    over(
        &mut alpha,
        "key.seal",
        &key("storage", "s", &[("pt", bytes(&pt1))]),
        "plaintext is 983041 bytes; the limit is MAX_PLAINTEXT_LEN = 983040 bytes",
    );
    let mut aad1 = aad.clone();
    aad1.push(0);
    over(
        &mut alpha,
        "key.seal",
        &key(
            "storage",
            "s",
            &[("pt", bytes(b"x")), ("aad", bytes(&aad1))],
        ),
        "MAX_AAD_LEN = 4096 bytes",
    );
    let mut blob1 = blob.clone();
    blob1.push(0);
    over(
        &mut alpha,
        "key.unseal",
        &key(
            "storage",
            "s",
            &[("sealed", bytes(&blob1)), ("aad", bytes(&aad))],
        ),
        "sealed data is 983091 bytes; the limit is MAX_SEALED_LEN = 983090 bytes",
    );
    over(
        &mut alpha,
        "key.unseal",
        &key(
            "storage",
            "s",
            &[("sealed", bytes(&blob)), ("aad", bytes(&aad1))],
        ),
        "MAX_AAD_LEN",
    );

    // What used to be accepted and then lost: plaintexts of 1,048,321 to
    // 1,048,368 bytes sealed into blobs no unseal took, and messages just
    // under 1 MiB failed on the internal hop with EIO.
    for n in [1_048_321usize, 1_048_368, (1 << 20) - 200] {
        over(
            &mut alpha,
            "key.seal",
            &key("storage", "s", &[("pt", bytes(&vec![1; n]))]),
            "MAX_PLAINTEXT_LEN",
        );
        over(
            &mut alpha,
            "key.sign",
            &key("signing", "k", &[("msg", bytes(&vec![1; n]))]),
            "MAX_MESSAGE_LEN",
        );
    }
    // keystored kept serving on the same connection.
    alpha.call("status", &wire::Args::new()).unwrap();
}

#[test]
fn test_reject_one_byte_over_each_vault_limit_with_einval_and_the_limit_itself_round_trips() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let sid = text(&s.login("alice", 0x21, 0x51).to_string());
    let mut alpha = s.keystored.connect(ALPHA);
    let name = "n".repeat(MAX_VAULT_NAME_LEN);
    let value: Vec<u8> = (0..MAX_VAULT_VALUE_LEN).map(|i| (i % 253) as u8).collect();
    alpha
        .call(
            "vault.put",
            &args(&[
                ("sid", sid.clone()),
                ("name", text(&name)),
                ("value", bytes(&value)),
            ]),
        )
        .unwrap();
    let got = alpha
        .call(
            "vault.get",
            &args(&[("sid", sid.clone()), ("name", text(&name))]),
        )
        .unwrap();
    assert!(field(&got, "value").as_bytes().unwrap() == &value);
    let mut value1 = value.clone();
    value1.push(0);
    over(
        &mut alpha,
        "vault.put",
        &args(&[
            ("sid", sid.clone()),
            ("name", text("v")),
            ("value", bytes(&value1)),
        ]),
        "MAX_VAULT_VALUE_LEN = 65536 bytes",
    );
    let name1 = "n".repeat(MAX_VAULT_NAME_LEN + 1);
    over(
        &mut alpha,
        "vault.put",
        &args(&[
            ("sid", sid.clone()),
            ("name", text(&name1)),
            ("value", bytes(b"x")),
        ]),
        "MAX_VAULT_NAME_LEN = 255 bytes",
    );
    // The refused puts changed nothing.
    let listed = alpha.call("vault.list", &args(&[("sid", sid)])).unwrap();
    assert_eq!(field(&listed, "names").as_array().unwrap().len(), 1);
}

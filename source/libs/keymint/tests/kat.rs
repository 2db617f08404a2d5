//! Known-answer tests: RFC 8032 §7.1 Ed25519 vectors (through the same
//! dalek calls keymint uses, and through the strict verifier), and the
//! draft-irtf-cfrg-xchacha-03 §A.3.1 AEAD_XChaCha20_Poly1305 vector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signer, SigningKey};

struct Vector {
    sk: &'static str,
    pk: &'static str,
    msg: &'static str,
    sig: &'static str,
}

const RFC8032: [Vector; 3] = [
    Vector {
        sk: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        pk: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        msg: "",
        sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    Vector {
        sk: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        pk: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        msg: "72",
        sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    Vector {
        sk: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        pk: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        msg: "af82",
        sig: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
];

#[test]
fn rfc8032_ed25519_vectors() {
    for v in RFC8032 {
        let sk: [u8; 32] = hex::decode(v.sk).unwrap().try_into().unwrap();
        let key = SigningKey::from_bytes(&sk);
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), v.pk);
        let msg = hex::decode(v.msg).unwrap();
        let sig = key.sign(&msg);
        assert_eq!(hex::encode(sig.to_bytes()), v.sig);

        let pk = keymint::ed25519::parse_public_key(&hex::decode(v.pk).unwrap()).unwrap();
        let parsed = keymint::ed25519::parse_signature(&hex::decode(v.sig).unwrap()).unwrap();
        keymint::ed25519::verify(&pk, &msg, &parsed).unwrap();
        let mut other = msg.clone();
        other.push(0);
        assert!(keymint::ed25519::verify(&pk, &other, &parsed).is_err());
    }
}

#[test]
fn xchacha20_poly1305_draft_vector() {
    let key =
        hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f").unwrap();
    let nonce = hex::decode("404142434445464748494a4b4c4d4e4f5051525354555657").unwrap();
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let expected_ct = "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e";
    let expected_tag = "c0875924c1c7987947deafd8780acf49";
    let cipher = XChaCha20Poly1305::new_from_slice(&key).unwrap();
    let out = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: pt, aad: &aad })
        .unwrap();
    let (ct, tag) = out.split_at(out.len() - 16);
    assert_eq!(hex::encode(ct), expected_ct);
    assert_eq!(hex::encode(tag), expected_tag);
    let back = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &out,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(back, pt);
}

//! Root and distrust files: round trips, both formats, every bit flip, malformed input.

use super::*;

fn sample() -> TrustRoot {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
    TrustRoot::new(
        key.as_bytes(),
        Some(MinisignKeyId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8])),
        Label::new("test-root").unwrap(),
        &[Scope::Updates, Scope::Packages],
        100,
        200,
    )
    .unwrap()
}

/// The file without its checksum line.
fn body(text: &str) -> String {
    let end = text.trim_end_matches('\n').rfind('\n').unwrap() + 1;
    text[..end].to_owned()
}

#[test]
fn round_trips_through_its_file() {
    let r = sample();
    let text = r.to_toml();
    assert!(text.starts_with("format = 2\n"));
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with("checksum = \"sha256:"));
    assert_eq!(
        TrustRoot::parse_file(&r.file_name(), text.as_bytes()).unwrap(),
        r
    );
    assert_eq!(
        r.file_name(),
        format!("{}.toml", ed25519_kid(r.key()).to_hex())
    );
    assert!(r.allows(Scope::Packages) && r.allows(Scope::Updates));
    let kid = r.kid();
    assert_eq!(
        parse_distrust(&kid.to_hex(), distrust_toml(&kid).as_bytes()),
        Ok(kid)
    );
}

#[test]
fn the_first_format_is_read_from_people_but_not_from_the_store() {
    let r = sample();
    let v1 = body(&r.to_toml()).replacen("format = 2", "format = 1", 1);
    assert_eq!(TrustRoot::parse(v1.as_bytes()).unwrap(), r);
    assert_eq!(
        TrustRoot::parse_sealed(v1.as_bytes()),
        Err(RootError::UnsupportedFormat(1))
    );
    assert_eq!(
        TrustRoot::parse_file(&r.file_name(), v1.as_bytes()),
        Err(RootError::UnsupportedFormat(1))
    );
    // Format 2 without its checksum line is neither.
    let unsealed = body(&r.to_toml());
    assert_eq!(
        TrustRoot::parse(unsealed.as_bytes()),
        Err(RootError::MissingChecksum)
    );
    // The fixture of the first format (as installed roots were written).
    let fixture = include_bytes!("../../../../tests/fixtures/trust/root-v1.toml");
    let old = TrustRoot::parse(fixture).unwrap();
    assert_eq!(old.label().as_str(), "fixture-vendor");
    assert_eq!(
        TrustRoot::parse_sealed(&old.to_toml().into_bytes()).unwrap(),
        old
    );
    let kid = r.kid();
    let legacy = format!("format = 1\nkid = \"{kid}\"\n");
    assert_eq!(
        parse_distrust_any(&kid.to_hex(), legacy.as_bytes()),
        Ok(kid)
    );
    assert_eq!(
        parse_distrust(&kid.to_hex(), legacy.as_bytes()),
        Err(RootError::UnsupportedFormat(1))
    );
}

#[test]
fn test_reject_every_single_bit_flip_of_a_sealed_file() {
    let r = sample();
    for text in [r.to_toml(), distrust_toml(&r.kid())] {
        let good = text.into_bytes();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    TrustRoot::parse_file(&r.file_name(), &bad).is_err()
                        && parse_distrust(&r.kid().to_hex(), &bad).is_err()
                        && TrustRoot::parse(&bad).map_or(true, |x| x == r),
                    "flip {i}.{bit} loads"
                );
            }
        }
    }
}

fn replace(text: &str, from: &str, to: &str) -> Vec<u8> {
    assert!(text.contains(from), "{from}");
    seal(text.replacen(from, to, 1)).into_bytes()
}

#[test]
fn test_reject_malformed_root_files() {
    let r = sample();
    let t = body(&r.to_toml());
    let key_line = t
        .lines()
        .find(|l| l.starts_with("public_key"))
        .unwrap()
        .to_owned();
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let weak_b64 = base64::engine::general_purpose::STANDARD.encode(weak);
    let short_b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
    let sealed = r.to_toml();
    let sum_line = sealed.lines().last().unwrap().to_owned();
    let cases: Vec<(Vec<u8>, RootError)> = vec![
        (
            replace(&t, "format = 2", "format = 3"),
            RootError::UnsupportedFormat(3),
        ),
        (
            replace(&t, "format = 2", "format = \"2\""),
            FieldError::WrongType("format").into(),
        ),
        (
            replace(&t, "format = 2\n", ""),
            FieldError::Missing("format").into(),
        ),
        (
            replace(&t, "Ed25519", "Ed448"),
            RootError::UnsupportedAlgorithm,
        ),
        (
            seal(format!("{t}origin = \"system\"\n")).into_bytes(),
            FieldError::Unknown("origin".into()).into(),
        ),
        (
            replace(&t, &key_line, "public_key = \"@@@\""),
            RootError::BadBase64,
        ),
        (
            replace(&t, &key_line, &format!("public_key = \"{weak_b64}\"")),
            keymint::ed25519::PublicKeyError::Weak.into(),
        ),
        (
            replace(&t, &key_line, &format!("public_key = \"{short_b64}\"")),
            keymint::ed25519::PublicKeyError::Length.into(),
        ),
        (
            replace(&t, "0807060504030201", "080706050403020"),
            RootError::BadMinisignKeyId,
        ),
        (replace(&t, "test-root", "../etc"), IdError::BadChar.into()),
        (
            replace(
                &t,
                "\"packages\", \"updates\"",
                "\"packages\", \"packages\"",
            ),
            RootError::BadScopes,
        ),
        (
            replace(&t, "\"packages\", \"updates\"", ""),
            RootError::BadScopes,
        ),
        (
            replace(&t, "\"packages\", \"updates\"", "\"admin\""),
            RootError::BadScopes,
        ),
        (
            replace(&t, "not_after = 200", "not_after = 100"),
            RootError::BadValidity,
        ),
        (
            replace(&t, "not_before = 100", "not_before = -1"),
            FieldError::OutOfRange("not_before").into(),
        ),
        (
            seal(format!("{}\n", &t[..t.len() / 2])).into_bytes(),
            FieldError::Syntax.into(),
        ),
        (
            format!(
                "{t}{}\n",
                sum_line
                    .to_uppercase()
                    .replace("CHECKSUM = \"SHA256:", "checksum = \"sha256:")
            )
            .into_bytes(),
            RootError::ChecksumMismatch,
        ),
        (
            format!("{t}{sum_line}").into_bytes(),
            RootError::MissingChecksum,
        ),
        (
            format!("{t}{sum_line}\n\n").into_bytes(),
            RootError::MissingChecksum,
        ),
        (vec![0xff; 10], RootError::NotText),
        (vec![b' '; MAX_ROOT_FILE + 1], RootError::TooLarge),
    ];
    for (input, want) in cases {
        assert_eq!(TrustRoot::parse(&input), Err(want.clone()), "{want:?}");
        assert_eq!(want.code(), ErrorCode::Einval);
    }
    // A copy of a valid root under another key's name is refused.
    let other = format!("{}.toml", "ab".repeat(32));
    assert_eq!(
        TrustRoot::parse_file(&other, sealed.as_bytes()),
        Err(RootError::NameMismatch)
    );
    assert_eq!(
        TrustRoot::parse_file(&r.file_name().to_uppercase(), sealed.as_bytes()),
        Err(RootError::NameMismatch)
    );
}

#[test]
fn test_reject_malformed_distrust_entries() {
    let kid = sample().kid();
    let good = distrust_toml(&kid);
    let name = kid.to_hex();
    let b = body(&good);
    assert_eq!(
        parse_distrust(&"00".repeat(32), good.as_bytes()),
        Err(RootError::NameMismatch)
    );
    assert_eq!(
        parse_distrust(
            &name,
            seal(b.replace("format = 2", "format = 9")).as_bytes()
        ),
        Err(RootError::UnsupportedFormat(9))
    );
    assert_eq!(
        parse_distrust(&name, seal(b.replace(&name, "xyz")).as_bytes()),
        Err(RootError::BadKid)
    );
    assert_eq!(
        parse_distrust(&name, seal("format = 2\n".into()).as_bytes()),
        Err(FieldError::Missing("kid").into())
    );
    assert_eq!(
        parse_distrust(&name, seal(format!("{b}why = \"x\"\n")).as_bytes()),
        Err(FieldError::Unknown("why".into()).into())
    );
    assert_eq!(
        parse_distrust(&name, b""),
        Err(FieldError::Missing("format").into())
    );
    assert_eq!(
        parse_distrust(&name, b.as_bytes()),
        Err(RootError::MissingChecksum)
    );
}

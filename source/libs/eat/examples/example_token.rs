//! Prints a sample token in CBOR diagnostic notation (RFC 8949 §8, with
//! RFC 8610 `<< >>` for embedded CBOR) and in hex, and writes the files the
//! pycose recipe in docs/identity/attestation.md reads.
//!
//! The keys are fixed test keys (seed bytes 0x01.. and 0x02..), so the
//! output is reproducible byte for byte: Ed25519 signatures are
//! deterministic. They are public: never use them for anything else.
//!
//! cargo run -p eat --example example_token [-- OUT_DIR]

use detcbor::Value;
use eat::{
    sign_token, verify_token, Claims, CustomClaims, CustomValue, EatError, Nonce, SwVersion, Ueid,
};
use ed25519_dalek::{Signer, SigningKey};
use keymint::kid::ed25519_kid;
use nexus_core::{AppId, ErrorCode, Label};
use std::fmt::Write as _;

const IAT: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

struct Infallible;

impl nexus_core::Coded for Infallible {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}

fn claim_name(label: i64) -> Option<&'static str> {
    Some(match label {
        6 => "iat",
        8 => "cnf",
        10 => "eat_nonce",
        256 => "ueid",
        265 => "eat_profile",
        266 => "submods",
        270 => "swname",
        271 => "swversion",
        -65537 => "stub (private)",
        l if l <= eat::label::CUSTOM_MAX => "custom (private)",
        _ => return None,
    })
}

/// One-line diagnostic notation.
fn diag(v: &Value) -> String {
    match v {
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Bytes(b) => format!("h'{}'", hex::encode(b)),
        Value::Text(t) => format!("{t:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Tag(n, inner) => format!("{n}({})", diag(inner)),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(diag).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", diag(k), diag(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        _ => "?".into(),
    }
}

/// The claims map, one claim per line with its name as a comment.
fn diag_claims(claims: &Value, indent: &str) -> Result<String, std::fmt::Error> {
    let Value::Map(entries) = claims else {
        return Ok(diag(claims));
    };
    let mut out = String::from("{\n");
    for (i, (k, v)) in entries.iter().enumerate() {
        let comma = if i + 1 < entries.len() { "," } else { "" };
        let label = match k {
            Value::Integer(l) => i64::try_from(*l).ok(),
            _ => None,
        };
        let name = label.and_then(claim_name).unwrap_or("?");
        writeln!(out, "{indent}  / {name} / {}: {}{comma}", diag(k), diag(v))?;
    }
    write!(out, "{indent}}}")?;
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = SigningKey::from_bytes(&[0x01; 32]);
    let attested = SigningKey::from_bytes(&[0x02; 32]);
    let nonce = b"example-nonce-01";
    let mut custom = CustomClaims::new();
    custom.insert(-65538, CustomValue::Text("example".into()))?;
    let claims = Claims {
        iat: IAT,
        nonce: Nonce::new(nonce)?,
        ueid: Ueid::from_random([0x5a; 32]),
        attested_key: attested.verifying_key(),
        app_id: AppId::new("com.example.notes")?,
        swname: Label::new("nexus-attestd")?,
        swversion: SwVersion::new("0.1.0")?,
        custom,
    };
    let device_kid = ed25519_kid(&device.verifying_key());
    let token = sign_token(&claims, &device_kid, |m: &[u8]| {
        Ok::<_, Infallible>(device.sign(m).to_bytes())
    })?;
    // Print only what verifies.
    verify_token(&token, device.verifying_key().as_bytes(), nonce, IAT)?;

    let Value::Tag(18, body) = detcbor::check_deterministic(&token)? else {
        return Err(EatError::NotCoseSign1.into());
    };
    let Value::Array(parts) = *body else {
        return Err(EatError::Structure.into());
    };
    let [Value::Bytes(protected), unprotected, Value::Bytes(payload), Value::Bytes(sig)] =
        <[Value; 4]>::try_from(parts).map_err(|_| EatError::Structure)?
    else {
        return Err(EatError::Structure.into());
    };
    let header = detcbor::check_deterministic(&protected)?;
    let claims_value = detcbor::check_deterministic(&payload)?;

    println!(
        "device public key: {}",
        hex::encode(device.verifying_key().as_bytes())
    );
    println!("device kid:        {device_kid}");
    println!(
        "nonce:             {} ({:?})",
        hex::encode(nonce),
        std::str::from_utf8(nonce)?
    );
    println!("token ({} bytes):", token.len());
    println!("{}", hex::encode(&token));
    println!();
    println!("18([");
    println!("  / protected / <<{}>>,", diag(&header));
    println!("  / unprotected / {},", diag(&unprotected));
    println!("  / payload / <<{}>>,", diag_claims(&claims_value, "  ")?);
    println!("  / signature / {}", diag(&Value::Bytes(sig)));
    println!("])");

    if let Some(dir) = std::env::args_os().nth(1) {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("token.cbor"), &token)?;
        std::fs::write(
            dir.join("device_pub.bin"),
            device.verifying_key().as_bytes(),
        )?;
        println!();
        println!("wrote {0}/token.cbor and {0}/device_pub.bin", dir.display());
    }
    Ok(())
}

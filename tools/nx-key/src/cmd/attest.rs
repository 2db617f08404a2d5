//! `nx attest …`: request a token from attestd, fetch the device key, or
//! verify a token offline with `eat::verify_token_with` (no service
//! involved: the verifier needs only the token, the device public key and
//! the nonce it issued).

use crate::cli::{AttestCmd, AttestKeyArgs, AttestSub};
use crate::ctx::{b64, obj, Ctx};
use crate::error::NxError;
use crate::io::read_file;
use eat::{Alg, Assurance, CustomClaims, CustomValue, VerifiedClaims, VerifyPolicy};
use serde_json::{json, Value as Json};
use std::path::Path;

/// Parse a hex nonce and check the profile's 8..=64 byte bound.
pub fn parse_nonce(hex_text: &str) -> Result<Vec<u8>, NxError> {
    let n = hex::decode(hex_text.trim()).map_err(|_| NxError::usage("--nonce must be hex"))?;
    if !(eat::NONCE_MIN_LEN..=eat::NONCE_MAX_LEN).contains(&n.len()) {
        return Err(NxError::usage("--nonce must be 8 to 64 bytes"));
    }
    Ok(n)
}

/// Parse `LABEL=TYPE:VALUE` claims into the profile's bounded set.
pub fn parse_claims(specs: &[String]) -> Result<CustomClaims, NxError> {
    let mut claims = CustomClaims::new();
    for spec in specs {
        let bad = || NxError::usage(format!("bad --claim `{spec}`: expected LABEL=TYPE:VALUE"));
        let (label, rest) = spec.split_once('=').ok_or_else(bad)?;
        let label: i64 = label.parse().map_err(|_| bad())?;
        let (kind, value) = rest.split_once(':').ok_or_else(bad)?;
        let value = match kind {
            "int" => CustomValue::Int(value.parse().map_err(|_| bad())?),
            "bool" => CustomValue::Bool(value.parse().map_err(|_| bad())?),
            "text" => CustomValue::Text(value.to_owned()),
            "hex" => CustomValue::Bytes(hex::decode(value).map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        claims.insert(label, value).map_err(|_| {
            NxError::usage(format!(
                "--claim `{spec}`: labels are ≤ -65538 and distinct, at most 16 claims, values ≤ 256 bytes"
            ))
        })?;
    }
    Ok(claims)
}

fn read_pubkey(arg: &str) -> Result<Vec<u8>, NxError> {
    let path = Path::new(arg);
    if !path.exists() && arg.len() == 64 {
        return hex::decode(arg)
            .map_err(|_| NxError::usage("--pubkey is neither a file nor 64 hex digits"));
    }
    let bytes = read_file(path)?;
    if bytes.len() == 32 {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| NxError::usage("--pubkey file: expected 32 raw bytes or 64 hex digits"))?;
    hex::decode(text.trim())
        .map_err(|_| NxError::usage("--pubkey file: expected 32 raw bytes or 64 hex digits"))
}

fn custom_json(v: &CustomValue) -> (&'static str, Json) {
    match v {
        CustomValue::Int(i) => ("int", Json::from(*i)),
        CustomValue::Bool(b) => ("bool", Json::Bool(*b)),
        CustomValue::Text(t) => ("text", Json::String(t.clone())),
        CustomValue::Bytes(b) => ("bytes", Json::String(b64(b))),
    }
}

/// The JSON form of a verified token.
pub fn verified_json(v: &VerifiedClaims) -> Json {
    let c = &v.claims;
    let custom: Vec<Json> = c
        .custom
        .iter()
        .map(|(label, value)| {
            let (kind, value) = custom_json(value);
            json!({ "label": label, "type": kind, "value": value })
        })
        .collect();
    json!({
        "valid": true,
        "assurance": match v.assurance { Assurance::SoftwareStub => eat::STUB_VALUE },
        "alg": match v.alg { Alg::EdDsa => "EdDSA", Alg::Ed25519 => "Ed25519" },
        "device_kid": v.device_kid.to_hex(),
        "attested_kid": v.attested_kid.to_hex(),
        "app": c.app_id.as_str(),
        "iat": c.iat,
        "nonce_b64": b64(c.nonce.as_bytes()),
        "ueid_b64": b64(&c.ueid.to_bytes()),
        "swname": c.swname.as_str(),
        "swversion": c.swversion.as_str(),
        "profile": eat::PROFILE,
        "custom": custom,
    })
}

use crate::when::now_secs;

/// Run `nx attest`.
pub fn run(ctx: &mut Ctx<'_>, cmd: AttestCmd) -> Result<(), NxError> {
    match cmd.sub {
        Some(AttestSub::Verify {
            token,
            pubkey,
            nonce,
            now,
            max_age,
        }) => {
            let token = read_file(&token)?;
            let pk = read_pubkey(&pubkey)?;
            let nonce = parse_nonce(&nonce)?;
            let policy = VerifyPolicy {
                max_age_secs: max_age.0.as_secs(),
                ..VerifyPolicy::DEFAULT
            };
            let now = now.map_or_else(now_secs, |t| t.resolve(now_secs()));
            let v = eat::verify_token_with(&token, &pk, &nonce, now, &policy)
                .map_err(|e| NxError::local("token refused", &e))?;
            let human = format!(
                "valid token (software stub: proves the plumbing, not hardware trust)\n\
app {}\nattested kid {}\ndevice kid {}\nissued at {}",
                v.claims.app_id,
                v.attested_kid,
                v.device_kid,
                crate::when::iso(v.claims.iat)
            );
            ctx.emit(verified_json(&v), &human)
        }
        Some(AttestSub::DeviceKey { out }) => {
            let d = ctx.keychain().device_key()?;
            let meta = obj([
                ("kid", Json::String(d.kid.to_hex())),
                ("version", Json::from(d.version)),
            ]);
            let human = format!("device key version {} kid {}", d.version, d.kid);
            ctx.emit_data(out.as_deref(), "public_key", &d.public_key, meta, &human)
        }
        Some(AttestSub::Key(a)) => request(ctx, a),
        None => {
            let (Some(purpose), Some(name), Some(nonce)) = (cmd.purpose, cmd.name, cmd.nonce)
            else {
                return Err(NxError::usage("nx attest PURPOSE NAME --nonce HEX"));
            };
            let a = AttestKeyArgs {
                purpose,
                name,
                nonce,
                claims: cmd.claims,
                out: cmd.out,
            };
            request(ctx, a)
        }
    }
}

/// Ask attestd for a token over the caller's key.
fn request(ctx: &mut Ctx<'_>, a: AttestKeyArgs) -> Result<(), NxError> {
    let nonce = parse_nonce(&a.nonce)?;
    let claims = parse_claims(&a.claims)?;
    let t = ctx
        .keychain()
        .attest(&a.purpose, &a.name, &nonce, &claims)?;
    let meta = obj([("device_kid", Json::String(t.device_kid.to_hex()))]);
    let human = format!("token signed by device key {}", t.device_kid);
    ctx.emit_data(a.out.as_deref(), "token", &t.token, meta, &human)
}

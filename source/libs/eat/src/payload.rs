//! The claims set as CBOR: building it for signing and parsing it strictly
//! after the signature has verified.
//!
//! Invariant of the parser: it accepts exactly the claims sets the builder
//! can produce — every profile claim present once with its profile type,
//! nothing else but custom claims within their bounds.

use crate::claims::{Claims, CustomClaims, CustomValue, Nonce, SwVersion, Ueid};
use crate::label::{
    CNF, CNF_COSE_KEY, CUSTOM_MAX, EAT_NONCE, EAT_PROFILE, IAT, STUB, SUBMODS, SWNAME, SWVERSION,
    UEID,
};
use crate::{EatError, APP_SUBMOD, PROFILE, STUB_VALUE, VERSION_SCHEME_SEMVER};
use detcbor::{Integer, Value};
use ed25519_dalek::VerifyingKey;
use keymint::kid::ed25519_kid;
use nexus_core::{AppId, Label};

/// COSE_Key labels and values (RFC 9052 §7, RFC 9053 §7.2).
const KEY_KTY: i64 = 1;
const KEY_KID: i64 = 2;
const KEY_CRV: i64 = -1;
const KEY_X: i64 = -2;
const KTY_OKP: i64 = 1;
const CRV_ED25519: i64 = 6;

fn int(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

/// `{1: 1 (OKP), 2: kid, -1: 6 (Ed25519), -2: x}`; the kid is the RFC 9679
/// thumbprint, so a reader can match it against the keystore directly.
fn cose_key(key: &VerifyingKey) -> Value {
    Value::Map(vec![
        (int(KEY_KTY), int(KTY_OKP)),
        (
            int(KEY_KID),
            Value::Bytes(ed25519_kid(key).as_bytes().to_vec()),
        ),
        (int(KEY_CRV), int(CRV_ED25519)),
        (int(KEY_X), Value::Bytes(key.as_bytes().to_vec())),
    ])
}

fn custom_to_value(v: &CustomValue) -> Value {
    match v {
        CustomValue::Int(i) => int(*i),
        CustomValue::Bool(b) => Value::Bool(*b),
        CustomValue::Text(t) => text(t),
        CustomValue::Bytes(b) => Value::Bytes(b.clone()),
    }
}

fn custom_from_value(v: Value) -> Result<CustomValue, EatError> {
    match v {
        Value::Integer(_) => as_i64(&v)
            .map(CustomValue::Int)
            .ok_or(EatError::CustomClaim),
        Value::Bool(b) => Ok(CustomValue::Bool(b)),
        Value::Text(t) => Ok(CustomValue::Text(t)),
        Value::Bytes(b) => Ok(CustomValue::Bytes(b)),
        _ => Err(EatError::CustomClaim),
    }
}

/// The claims set as a CBOR map (entry order is irrelevant: the encoder
/// sorts).
pub(crate) fn to_value(c: &Claims) -> Value {
    let app = Value::Map(vec![(int(SWNAME), text(c.app_id.as_str()))]);
    let mut entries = vec![
        (int(IAT), Value::Integer(Integer::from(c.iat))),
        (
            int(CNF),
            Value::Map(vec![(int(CNF_COSE_KEY), cose_key(&c.attested_key))]),
        ),
        (int(EAT_NONCE), Value::Bytes(c.nonce.as_bytes().to_vec())),
        (int(UEID), Value::Bytes(c.ueid.to_bytes().to_vec())),
        (int(EAT_PROFILE), text(PROFILE)),
        (int(SUBMODS), Value::Map(vec![(text(APP_SUBMOD), app)])),
        (int(SWNAME), text(c.swname.as_str())),
        (
            int(SWVERSION),
            Value::Array(vec![text(c.swversion.as_str()), int(VERSION_SCHEME_SEMVER)]),
        ),
        (int(STUB), text(STUB_VALUE)),
    ];
    entries.extend(c.custom.iter().map(|(l, v)| (int(l), custom_to_value(v))));
    Value::Map(entries)
}

/// Fill a claim slot once; a second value for it is malformed. (The
/// deterministic decoder already refuses duplicate keys; this keeps the
/// parser correct on its own.)
fn put<T>(slot: &mut Option<T>, value: T, label: i64) -> Result<(), EatError> {
    if slot.replace(value).is_some() {
        return Err(EatError::BadClaim(label));
    }
    Ok(())
}

/// The entries of a map with exactly `n` entries.
fn map_of(v: Value, n: usize, label: i64) -> Result<Vec<(Value, Value)>, EatError> {
    match v {
        Value::Map(m) if m.len() == n => Ok(m),
        _ => Err(EatError::BadClaim(label)),
    }
}

fn one_entry(v: Value, label: i64) -> Result<(Value, Value), EatError> {
    map_of(v, 1, label)?.pop().ok_or(EatError::BadClaim(label))
}

fn bytes(v: Value, label: i64) -> Result<Vec<u8>, EatError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(EatError::BadClaim(label)),
    }
}

fn text_of(v: Value, label: i64) -> Result<String, EatError> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(EatError::BadClaim(label)),
    }
}

/// `{1: COSE_Key}` holding an Ed25519 key whose kid is its thumbprint.
fn parse_cnf(v: Value) -> Result<VerifyingKey, EatError> {
    let (k, key) = one_entry(v, CNF)?;
    if as_i64(&k) != Some(CNF_COSE_KEY) {
        return Err(EatError::BadClaim(CNF));
    }
    let (mut kty, mut kid, mut crv, mut x) = (None, None, None, None);
    for (k, v) in map_of(key, 4, CNF)? {
        match as_i64(&k) {
            Some(KEY_KTY) => put(&mut kty, as_i64(&v), CNF)?,
            Some(KEY_KID) => put(&mut kid, bytes(v, CNF)?, CNF)?,
            Some(KEY_CRV) => put(&mut crv, as_i64(&v), CNF)?,
            Some(KEY_X) => put(&mut x, bytes(v, CNF)?, CNF)?,
            _ => return Err(EatError::BadClaim(CNF)),
        }
    }
    if kty != Some(Some(KTY_OKP)) || crv != Some(Some(CRV_ED25519)) {
        return Err(EatError::BadClaim(CNF));
    }
    let x = x.ok_or(EatError::BadClaim(CNF))?;
    let key = keymint::ed25519::parse_public_key(&x).map_err(EatError::AttestedKey)?;
    if kid.as_deref() != Some(ed25519_kid(&key).as_bytes().as_slice()) {
        return Err(EatError::BadClaim(CNF));
    }
    Ok(key)
}

/// `{"app": {270: app_id}}`.
fn parse_submods(v: Value) -> Result<AppId, EatError> {
    let (name, claims) = one_entry(v, SUBMODS)?;
    if name != text(APP_SUBMOD) {
        return Err(EatError::BadClaim(SUBMODS));
    }
    let (k, app) = one_entry(claims, SUBMODS)?;
    if as_i64(&k) != Some(SWNAME) {
        return Err(EatError::BadClaim(SUBMODS));
    }
    AppId::new(text_of(app, SUBMODS)?).map_err(|_| EatError::BadClaim(SUBMODS))
}

/// `[version, 16384]`.
fn parse_swversion(v: Value) -> Result<SwVersion, EatError> {
    let Value::Array(items) = v else {
        return Err(EatError::BadClaim(SWVERSION));
    };
    let [version, scheme]: [Value; 2] = items
        .try_into()
        .map_err(|_| EatError::BadClaim(SWVERSION))?;
    if as_i64(&scheme) != Some(VERSION_SCHEME_SEMVER) {
        return Err(EatError::BadClaim(SWVERSION));
    }
    SwVersion::new(text_of(version, SWVERSION)?).map_err(|_| EatError::BadClaim(SWVERSION))
}

/// Parse a claims set that has already passed the deterministic check.
pub(crate) fn from_value(v: Value) -> Result<Claims, EatError> {
    let Value::Map(entries) = v else {
        return Err(EatError::ClaimsSet);
    };
    let (mut iat, mut cnf, mut nonce, mut ueid) = (None, None, None, None);
    let (mut profile, mut app, mut swname, mut swversion, mut stub) =
        (None, None, None, None, None);
    let mut custom = CustomClaims::new();
    for (k, v) in entries {
        let label = as_i64(&k).ok_or(EatError::ClaimsSet)?;
        match label {
            IAT => {
                let t = match v {
                    Value::Integer(i) => u64::try_from(i).map_err(|_| EatError::BadClaim(IAT))?,
                    _ => return Err(EatError::BadClaim(IAT)),
                };
                put(&mut iat, t, IAT)?;
            }
            CNF => put(&mut cnf, parse_cnf(v)?, CNF)?,
            EAT_NONCE => put(&mut nonce, Nonce::new(&bytes(v, EAT_NONCE)?)?, EAT_NONCE)?,
            UEID => {
                let u = Ueid::from_bytes(&bytes(v, UEID)?).ok_or(EatError::BadClaim(UEID))?;
                put(&mut ueid, u, UEID)?;
            }
            EAT_PROFILE => {
                if text_of(v, EAT_PROFILE)? != PROFILE {
                    return Err(EatError::BadClaim(EAT_PROFILE));
                }
                put(&mut profile, (), EAT_PROFILE)?;
            }
            SUBMODS => put(&mut app, parse_submods(v)?, SUBMODS)?,
            SWNAME => {
                let name =
                    Label::new(text_of(v, SWNAME)?).map_err(|_| EatError::BadClaim(SWNAME))?;
                put(&mut swname, name, SWNAME)?;
            }
            SWVERSION => put(&mut swversion, parse_swversion(v)?, SWVERSION)?,
            STUB => {
                if text_of(v, STUB)? != STUB_VALUE {
                    return Err(EatError::BadClaim(STUB));
                }
                put(&mut stub, (), STUB)?;
            }
            l if l <= CUSTOM_MAX => custom.insert(l, custom_from_value(v)?)?,
            other => return Err(EatError::UnknownClaim(other)),
        }
    }
    profile.ok_or(EatError::MissingClaim(EAT_PROFILE))?;
    stub.ok_or(EatError::MissingClaim(STUB))?;
    Ok(Claims {
        iat: iat.ok_or(EatError::MissingClaim(IAT))?,
        nonce: nonce.ok_or(EatError::MissingClaim(EAT_NONCE))?,
        ueid: ueid.ok_or(EatError::MissingClaim(UEID))?,
        attested_key: cnf.ok_or(EatError::MissingClaim(CNF))?,
        app_id: app.ok_or(EatError::MissingClaim(SUBMODS))?,
        swname: swname.ok_or(EatError::MissingClaim(SWNAME))?,
        swversion: swversion.ok_or(EatError::MissingClaim(SWVERSION))?,
        custom,
    })
}

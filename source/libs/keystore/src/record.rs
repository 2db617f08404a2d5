//! The persisted key record: one file per key at
//! `state:/keystore/<app>/<purpose>/<name>`.
//!
//! The file is a statefs record envelope (magic `NXKS`, the record version
//! below; layout 2: the state root's generation and its MAC; files of
//! layout 1, written before the state root, are still read) around a CBOR
//! payload (RFC 8949, written by ciborium: a map with text keys in the field order below, byte strings for binary
//! fields). Reading is strict: the envelope must check, the version must be
//! known, the CBOR must match that version's schema exactly (unknown
//! fields, wrong types and trailing bytes are refused), and the decoded
//! record must keep the model's invariants and name the key it is stored
//! under. Any failure is `EIO` for that key; the file is left untouched for
//! inspection.
//!
//! Versions: 1 is the original schema; 2 adds `bound_app` to each version
//! (the namespace its material was wrapped under, when that is not the
//! key's own: `system` for versions made before their key moved out of the
//! once-shared `system` namespace). This build reads both and writes 2; a
//! version-1 record becomes version 2 the next time its key changes.

use crate::error::KeystoreError;
use crate::model::{KeyName, KeyRecord, KeyState, VersionInfo, VersionRecord, VersionState};
use crate::MAX_VERSIONS;
use keymint::kid::Kid;
use keymint::{Algorithm, WrappedKey};
use nexus_core::{AppId, Label};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use statefs::StatePath;

/// Magic of a key record envelope.
pub const RECORD_MAGIC: &[u8; 4] = b"NXKS";
/// The record version this build writes.
pub const RECORD_VERSION: u16 = 2;
/// The record versions this build reads.
pub const RECORD_VERSIONS: [u16; 2] = [1, 2];
/// A record file larger than this is refused before decoding.
const MAX_RECORD_LEN: usize = 1 << 20;

/// Bytes that serialize as a CBOR byte string (not an array of integers).
#[derive(Debug, PartialEq, Eq)]
struct Blob(Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// Schema of a record, over its version's per-version schema. Field order
/// is the encoding order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<V> {
    app: AppId,
    purpose: Label,
    name: Label,
    alg: String,
    state: KeyState,
    primary: u32,
    min_version: u32,
    created: u64,
    rotated: Option<u64>,
    versions: Vec<V>,
}

/// One version in record version 1.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionV1 {
    version: u32,
    state: VersionState,
    created: u64,
    public: Option<Blob>,
    kid: Option<Blob>,
    wrapped: Option<Blob>,
}

/// One version in record version 2: version 1's fields, then `bound_app`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionV2 {
    version: u32,
    state: VersionState,
    created: u64,
    public: Option<Blob>,
    kid: Option<Blob>,
    wrapped: Option<Blob>,
    bound_app: Option<AppId>,
}

impl From<VersionV1> for VersionV2 {
    fn from(v: VersionV1) -> Self {
        VersionV2 {
            version: v.version,
            state: v.state,
            created: v.created,
            public: v.public,
            kid: v.kid,
            wrapped: v.wrapped,
            bound_app: None,
        }
    }
}

/// Where a key's record lives.
pub(crate) fn key_path(name: &KeyName) -> Result<StatePath, KeystoreError> {
    Ok(StatePath::from_segments([
        "keystore",
        name.app.as_str(),
        name.purpose.as_str(),
        name.name.as_str(),
    ])
    .map_err(statefs::StateError::from)?)
}

/// Where an app's records live.
pub(crate) fn app_prefix(app: &AppId) -> Result<StatePath, KeystoreError> {
    Ok(StatePath::from_segments(["keystore", app.as_str()]).map_err(statefs::StateError::from)?)
}

/// The key a record path names (`keystore/<app>/<purpose>/<name>`), if it
/// is one.
pub(crate) fn name_of(path: &StatePath) -> Option<KeyName> {
    match path.segments() {
        [root, app, purpose, name] if root == "keystore" => KeyName::parse(app, purpose, name).ok(),
        _ => None,
    }
}

/// The payload (record version [`RECORD_VERSION`]) for `rec`; the
/// envelope is statefs's.
pub(crate) fn payload(rec: &KeyRecord) -> Result<Vec<u8>, KeystoreError> {
    let body = Body {
        app: rec.name.app.clone(),
        purpose: rec.name.purpose.clone(),
        name: rec.name.name.clone(),
        alg: rec.alg.as_str().to_owned(),
        state: rec.state,
        primary: rec.primary,
        min_version: rec.min_version,
        created: rec.created,
        rotated: rec.rotated,
        versions: rec
            .versions
            .iter()
            .map(|v| VersionV2 {
                version: v.info.version,
                state: v.info.state,
                created: v.info.created,
                public: v.info.public.map(|p| Blob(p.to_vec())),
                kid: v.info.kid.map(|k| Blob(k.as_bytes().to_vec())),
                wrapped: v.wrapped.as_ref().map(|w| Blob(w.as_bytes().to_vec())),
                bound_app: v.bound_app.clone(),
            })
            .collect(),
    };
    let mut payload = Vec::with_capacity(256);
    ciborium::into_writer(&body, &mut payload)
        .map_err(|_| KeystoreError::Invalid("key record does not serialize"))?;
    Ok(payload)
}

/// Read and decode the record at `path`, which must hold `expected`;
/// `None` if there is none. Returns the file's size too (for quotas).
pub(crate) fn read(
    state: &statefs::StateFs,
    path: &StatePath,
    expected: &KeyName,
) -> Result<Option<(KeyRecord, usize)>, KeystoreError> {
    let Some(rec) = state.read_record_full(path, RECORD_MAGIC, &RECORD_VERSIONS)? else {
        return Ok(None);
    };
    if rec.file_len > MAX_RECORD_LEN {
        return Err(KeystoreError::Corrupt {
            path: path.to_string(),
            reason: "record is too large",
        });
    }
    Ok(Some((
        decode(path, expected, rec.version, &rec.payload)?,
        rec.file_len,
    )))
}

fn parse<V: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<Body<V>, &'static str> {
    let mut rest = payload;
    let body: Body<V> =
        ciborium::from_reader(&mut rest).map_err(|_| "payload does not match schema")?;
    if !rest.is_empty() {
        return Err("trailing bytes after payload");
    }
    Ok(body)
}

/// Decode the payload of record version `version` at `path`, which must
/// hold `expected`.
pub(crate) fn decode(
    path: &StatePath,
    expected: &KeyName,
    version: u16,
    payload: &[u8],
) -> Result<KeyRecord, KeystoreError> {
    let corrupt = |reason| KeystoreError::Corrupt {
        path: path.to_string(),
        reason,
    };
    if payload.len() > MAX_RECORD_LEN {
        return Err(corrupt("record is too large"));
    }
    let body: Body<VersionV2> = match version {
        1 => {
            let b = parse::<VersionV1>(payload).map_err(corrupt)?;
            Body {
                app: b.app,
                purpose: b.purpose,
                name: b.name,
                alg: b.alg,
                state: b.state,
                primary: b.primary,
                min_version: b.min_version,
                created: b.created,
                rotated: b.rotated,
                versions: b.versions.into_iter().map(VersionV2::from).collect(),
            }
        }
        2 => parse::<VersionV2>(payload).map_err(corrupt)?,
        _ => return Err(corrupt("unknown record version")),
    };
    let name = KeyName::new(body.app, body.purpose, body.name);
    if &name != expected {
        return Err(corrupt("record names another key"));
    }
    let alg = Algorithm::parse(&body.alg).ok_or_else(|| corrupt("unknown algorithm"))?;
    let n = body.versions.len();
    if n == 0 || n > MAX_VERSIONS as usize {
        return Err(corrupt("version count out of range"));
    }
    let latest = u32::try_from(n).map_err(|_| corrupt("version count out of range"))?;
    if !(1 <= body.min_version && body.min_version <= body.primary && body.primary <= latest) {
        return Err(corrupt("primary or min version out of range"));
    }
    let mut versions = Vec::with_capacity(n);
    for (i, v) in body.versions.into_iter().enumerate() {
        if usize::try_from(v.version).ok() != Some(i + 1) {
            return Err(corrupt("versions are not numbered 1..n"));
        }
        let checked = check_version(v, &name.app, alg, body.min_version, body.state);
        versions.push(checked.map_err(corrupt)?);
    }
    Ok(KeyRecord {
        name,
        alg,
        state: body.state,
        primary: body.primary,
        min_version: body.min_version,
        created: body.created,
        rotated: body.rotated,
        versions,
    })
}

/// The only binding a record may carry: a service's key (`system.<name>`)
/// whose material was wrapped in the once-shared `system` namespace.
fn binding_allowed(app: &AppId, bound: Option<&AppId>) -> bool {
    match bound {
        None => true,
        Some(b) => b.is_system() && app.service_name().is_some(),
    }
}

fn check_version(
    v: VersionV2,
    app: &AppId,
    alg: Algorithm,
    min: u32,
    key_state: KeyState,
) -> Result<VersionRecord, &'static str> {
    let state_ok = match v.state {
        VersionState::Active => v.version >= min && key_state == KeyState::Active,
        VersionState::Retired => v.version < min,
        VersionState::Revoked => true,
    };
    if !state_ok {
        return Err("version state contradicts the key");
    }
    if (v.state == VersionState::Active) != v.wrapped.is_some() {
        return Err("material present exactly when active is violated");
    }
    if !binding_allowed(app, v.bound_app.as_ref()) {
        return Err("material bound to a namespace the key cannot come from");
    }
    let (public, kid) = match (alg, v.public, v.kid) {
        (Algorithm::Ed25519, Some(p), Some(k)) => {
            let p: [u8; 32] = p.0.try_into().map_err(|_| "public key length")?;
            let k: [u8; 32] = k.0.try_into().map_err(|_| "kid length")?;
            (Some(p), Some(Kid::from_bytes(k)))
        }
        (Algorithm::XChaCha20Poly1305, None, None) => (None, None),
        _ => return Err("public key fields do not fit the algorithm"),
    };
    Ok(VersionRecord {
        info: VersionInfo {
            version: v.version,
            state: v.state,
            created: v.created,
            public,
            kid,
        },
        wrapped: v.wrapped.map(|w| WrappedKey::from_bytes(w.0)),
        bound_app: v.bound_app,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    fn name() -> KeyName {
        KeyName::parse("com.a", "sign", "k").unwrap()
    }

    fn sample(alg: Algorithm) -> KeyRecord {
        let ed = alg == Algorithm::Ed25519;
        let v = |version, state, wrapped: bool| VersionRecord {
            info: VersionInfo {
                version,
                state,
                created: 100 + u64::from(version),
                public: ed.then_some([version as u8; 32]),
                kid: ed.then(|| Kid::from_bytes([0x40 + version as u8; 32])),
            },
            wrapped: wrapped.then(|| WrappedKey::from_bytes(vec![b'W', 1, version as u8])),
            bound_app: None,
        };
        KeyRecord {
            name: name(),
            alg,
            state: KeyState::Active,
            primary: 3,
            min_version: 2,
            created: 100,
            rotated: Some(103),
            versions: vec![
                v(1, VersionState::Retired, false),
                v(2, VersionState::Revoked, false),
                v(3, VersionState::Active, true),
            ],
        }
    }

    fn path() -> StatePath {
        key_path(&name()).unwrap()
    }

    /// The whole file, as an unrooted store writes it (layout 2,
    /// checksummed).
    fn encode_file(rec: &KeyRecord) -> Result<Vec<u8>, KeystoreError> {
        Ok(statefs::record::encode_v2(
            &path(),
            RECORD_MAGIC,
            RECORD_VERSION,
            0,
            &super::payload(rec)?,
            None,
        )
        .to_vec())
    }

    /// Check the envelope of the file at `path` and decode it: it must
    /// hold `expected`.
    fn decode_file(
        path: &StatePath,
        expected: &KeyName,
        bytes: &[u8],
    ) -> Result<KeyRecord, KeystoreError> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(KeystoreError::Corrupt {
                path: path.to_string(),
                reason: "record is too large",
            });
        }
        let rec = statefs::record::decode(path, bytes, RECORD_MAGIC, &RECORD_VERSIONS)?;
        decode(path, expected, rec.version, rec.payload)
    }

    fn code(bytes: &[u8]) -> ErrorCode {
        decode_file(&path(), &name(), bytes).unwrap_err().code()
    }

    fn payload(rec: &KeyRecord) -> Vec<u8> {
        super::payload(rec).unwrap()
    }

    #[test]
    fn round_trips_both_algorithms() {
        for alg in [Algorithm::Ed25519, Algorithm::XChaCha20Poly1305] {
            let rec = sample(alg);
            let enc = encode_file(&rec).unwrap();
            let back = decode_file(&path(), &name(), &enc).unwrap();
            assert_eq!(back.info(), rec.info());
            assert_eq!(back.versions[2].wrapped, rec.versions[2].wrapped);
            assert_eq!(encode_file(&back).unwrap(), enc, "encoding is stable");
        }
    }

    #[test]
    fn test_reject_truncated_flipped_and_unknown_version() {
        let enc = encode_file(&sample(Algorithm::Ed25519)).unwrap();
        for cut in [0, 5, 20, enc.len() - 1] {
            assert_eq!(code(&enc[..cut]), ErrorCode::Eio, "cut {cut}");
        }
        for i in (0..enc.len()).step_by(7) {
            let mut bad = enc.clone();
            bad[i] ^= 0x01;
            assert_eq!(code(&bad), ErrorCode::Eio, "flip {i}");
        }
        let v3 = statefs::record::encode(RECORD_MAGIC, 3, &payload(&sample(Algorithm::Ed25519)));
        assert_eq!(code(&v3), ErrorCode::Eio);
        assert_eq!(code(&vec![0u8; MAX_RECORD_LEN + 1]), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_payloads_that_break_the_schema() {
        let good = payload(&sample(Algorithm::Ed25519));
        let wrap = |p: &[u8]| statefs::record::encode(RECORD_MAGIC, RECORD_VERSION, p);
        // Trailing bytes after the CBOR item.
        let mut trailing = good.clone();
        trailing.push(0x00);
        assert_eq!(code(&wrap(&trailing)), ErrorCode::Eio);
        // Not CBOR at all, and a CBOR value of the wrong type.
        assert_eq!(code(&wrap(b"\xff\xff")), ErrorCode::Eio);
        assert_eq!(code(&wrap(&[0x01])), ErrorCode::Eio);
        // An unknown field.
        let mut v: ciborium::Value = ciborium::from_reader(good.as_slice()).unwrap();
        if let ciborium::Value::Map(m) = &mut v {
            m.push(("extra".into(), 1.into()));
        }
        let mut extra = Vec::new();
        ciborium::into_writer(&v, &mut extra).unwrap();
        assert_eq!(code(&wrap(&extra)), ErrorCode::Eio);
    }

    type Break = Box<dyn Fn(&mut KeyRecord)>;

    #[test]
    fn test_reject_records_that_break_invariants() {
        let cases: Vec<Break> = vec![
            Box::new(|r| r.primary = 4),
            Box::new(|r| r.min_version = 0),
            Box::new(|r| r.min_version = 3 + 1),
            Box::new(|r| r.versions[1].info.version = 5),
            Box::new(|r| r.versions.clear()),
            Box::new(|r| r.versions[0].info.state = VersionState::Active),
            Box::new(|r| r.versions[2].wrapped = None),
            Box::new(|r| r.versions[1].wrapped = Some(WrappedKey::from_bytes(vec![1]))),
            Box::new(|r| r.versions[2].info.kid = None),
            Box::new(|r| r.alg = Algorithm::XChaCha20Poly1305),
            Box::new(|r| r.state = KeyState::Revoked),
            Box::new(|r| r.name.name = Label::new("other").unwrap()),
            // Only a service's key may carry material bound to `system`.
            Box::new(|r| r.versions[2].bound_app = Some(AppId::system())),
        ];
        for (i, f) in cases.iter().enumerate() {
            let mut rec = sample(Algorithm::Ed25519);
            f(&mut rec);
            assert_eq!(
                code(&encode_file(&rec).unwrap()),
                ErrorCode::Eio,
                "case {i}"
            );
        }
    }

    /// The same record in version 1's schema (no `bound_app`).
    fn v1_payload(rec: &KeyRecord) -> Vec<u8> {
        let mut v: ciborium::Value = ciborium::from_reader(payload(rec).as_slice()).unwrap();
        let ciborium::Value::Map(m) = &mut v else {
            panic!("not a map")
        };
        for (k, val) in m.iter_mut() {
            if k.as_text() == Some("versions") {
                for ver in val.as_array_mut().unwrap() {
                    let ciborium::Value::Map(vm) = ver else {
                        panic!("not a map")
                    };
                    vm.retain(|(k, _)| k.as_text() != Some("bound_app"));
                }
            }
        }
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    }

    #[test]
    fn version_1_records_read_and_are_written_as_version_2() {
        let rec = sample(Algorithm::Ed25519);
        let v1 = statefs::record::encode(RECORD_MAGIC, 1, &v1_payload(&rec));
        let back = decode_file(&path(), &name(), &v1).unwrap();
        assert_eq!(back.info(), rec.info());
        assert!(back.versions.iter().all(|v| v.bound_app.is_none()));
        assert_eq!(encode_file(&back).unwrap(), encode_file(&rec).unwrap());
        // A version-2 field in a version-1 record is not version 1.
        let mislabelled = statefs::record::encode(RECORD_MAGIC, 1, &payload(&rec));
        assert_eq!(code(&mislabelled), ErrorCode::Eio);
    }

    #[test]
    fn a_service_key_may_keep_material_bound_to_system() {
        let key = KeyName::parse("system.attestd", "device-attest", "device").unwrap();
        let mut rec = sample(Algorithm::Ed25519);
        rec.name = key.clone();
        rec.versions[2].bound_app = Some(AppId::system());
        let at = key_path(&key).unwrap();
        let back = decode_file(&at, &key, &encode_file(&rec).unwrap()).unwrap();
        assert_eq!(back.versions[2].bound_app, Some(AppId::system()));
        assert_eq!(back.identity(3).unwrap().app, AppId::system());
        // Bound anywhere else: refused.
        rec.versions[2].bound_app = Some(AppId::new("com.a").unwrap());
        let e = decode_file(&at, &key, &encode_file(&rec).unwrap()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
    }
}

//! The installed-version record: `state:/apps/<name>/installed`, a statefs
//! record (magic `NXBI`) holding JSON. Unknown versions, a bad checksum,
//! unknown fields or values that do not parse are `EIO`.
//!
//! Version 2 (written now) keeps the bundle's signed manifest and its
//! signature exactly as verified at install: the files are checked against
//! that manifest whenever the bundle is read or listed, and the signer is
//! the root its upgrades must come from. Version 1 (read; rewritten as 2
//! by the next install of the bundle) kept only the manifest's hash and
//! file list, so a bundle it describes cannot be verified until it is
//! installed again.

use crate::BundleError;
use keymint::kid::Kid;
use nexus_core::Label;
use statefs::{StateFs, StatePath};
use trust::{ArtifactPath, SignedManifest, Version};

pub(crate) const RECORD_NAME: &str = "installed";
const MAGIC: &[u8; 4] = b"NXBI";
const VERSION: u16 = 2;
const VERSION_1: u16 = 1;

/// What is installed under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledBundle {
    /// The bundle's name.
    pub name: Label,
    /// The installed version.
    pub version: Version,
    /// The root that signed it: its upgrades must come from the same one.
    pub signer: Kid,
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: [u8; 32],
    /// The installed files, relative to `state:/apps/<name>/<version>/`.
    pub files: Vec<ArtifactPath>,
    /// The signed manifest and signature as verified at install (`None`
    /// for a bundle a version 1 record describes).
    pub signed: Option<SignedManifest>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordV1 {
    name: String,
    version: String,
    signer: String,
    manifest_sha256: String,
    files: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordV2 {
    name: String,
    version: String,
    signer: String,
    /// The manifest's text, as signed.
    manifest: String,
    /// The minisign signature file's text.
    signature: String,
}

/// Where `name`'s record lives.
pub(crate) fn record_path(dir: &StatePath) -> Result<StatePath, BundleError> {
    Ok(dir.join(RECORD_NAME)?)
}

fn decode_v1(
    payload: &[u8],
    corrupt: impl Fn(&'static str) -> BundleError,
) -> Result<InstalledBundle, BundleError> {
    let r: RecordV1 = serde_json::from_slice(payload).map_err(|_| corrupt("not a v1 record"))?;
    let mut sha = [0u8; 32];
    hex::decode_to_slice(&r.manifest_sha256, &mut sha).map_err(|_| corrupt("bad manifest hash"))?;
    Ok(InstalledBundle {
        name: Label::new(r.name).map_err(|_| corrupt("bad name"))?,
        version: Version::parse(&r.version).map_err(|_| corrupt("bad version"))?,
        signer: Kid::from_hex(&r.signer).map_err(|_| corrupt("bad signer"))?,
        manifest_sha256: sha,
        files: r
            .files
            .iter()
            .map(|f| ArtifactPath::parse(f))
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt("bad file path"))?,
        signed: None,
    })
}

fn decode_v2(
    payload: &[u8],
    corrupt: impl Fn(&'static str) -> BundleError,
) -> Result<InstalledBundle, BundleError> {
    let r: RecordV2 = serde_json::from_slice(payload).map_err(|_| corrupt("not a v2 record"))?;
    let signed = SignedManifest::new(r.manifest.into_bytes(), r.signature.into_bytes());
    let manifest = signed
        .manifest()
        .map_err(|_| corrupt("kept manifest does not parse"))?;
    let b = InstalledBundle {
        name: Label::new(r.name).map_err(|_| corrupt("bad name"))?,
        version: Version::parse(&r.version).map_err(|_| corrupt("bad version"))?,
        signer: Kid::from_hex(&r.signer).map_err(|_| corrupt("bad signer"))?,
        manifest_sha256: *signed.sha256(),
        files: manifest.files().iter().map(|f| f.path.clone()).collect(),
        signed: Some(signed),
    };
    if manifest.name() != &b.name || manifest.version() != &b.version {
        return Err(corrupt("kept manifest is for another bundle"));
    }
    Ok(b)
}

pub(crate) fn read(
    state: &StateFs,
    dir: &StatePath,
    name: &Label,
) -> Result<Option<InstalledBundle>, BundleError> {
    let path = record_path(dir)?;
    let Some((version, payload)) = state.read_record(&path, MAGIC, &[VERSION_1, VERSION])? else {
        return Ok(None);
    };
    let corrupt = |reason| BundleError::CorruptRecord {
        path: path.to_string(),
        reason,
    };
    let b = if version == VERSION_1 {
        decode_v1(&payload, corrupt)?
    } else {
        decode_v2(&payload, corrupt)?
    };
    if &b.name != name {
        return Err(corrupt("record is for another bundle"));
    }
    Ok(Some(b))
}

pub(crate) fn write(
    state: &StateFs,
    dir: &StatePath,
    b: &InstalledBundle,
    signed: &SignedManifest,
) -> Result<(), BundleError> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let r = RecordV2 {
        name: b.name.to_string(),
        version: b.version.to_string(),
        signer: b.signer.to_hex(),
        manifest: text(signed.manifest_bytes()),
        signature: text(signed.signature_bytes()),
    };
    let payload = serde_json::to_vec(&r).map_err(|_| BundleError::CorruptRecord {
        path: dir.to_string(),
        reason: "record does not serialise",
    })?;
    state.write_record(&record_path(dir)?, MAGIC, VERSION, &payload)?;
    Ok(())
}

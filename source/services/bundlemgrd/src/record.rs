//! The installed-version record: `state:/apps/<name>/installed`, a statefs
//! record (magic `NXBI`, version 1) holding JSON. Unknown versions, a bad
//! checksum, unknown fields or values that do not parse are `EIO`.

use crate::BundleError;
use keymint::kid::Kid;
use nexus_core::Label;
use statefs::{StateFs, StatePath};
use trust::{ArtifactPath, Version};

pub(crate) const RECORD_NAME: &str = "installed";
const MAGIC: &[u8; 4] = b"NXBI";
const VERSION: u16 = 1;

/// What is installed under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledBundle {
    /// The bundle's name.
    pub name: Label,
    /// The installed version.
    pub version: Version,
    /// The root that signed it.
    pub signer: Kid,
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: [u8; 32],
    /// The installed files, relative to `state:/apps/<name>/<version>/`.
    pub files: Vec<ArtifactPath>,
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

pub(crate) fn read(
    state: &StateFs,
    dir: &StatePath,
    name: &Label,
) -> Result<Option<InstalledBundle>, BundleError> {
    let path = dir.join(RECORD_NAME)?;
    let Some((_, payload)) = state.read_record(&path, MAGIC, &[VERSION])? else {
        return Ok(None);
    };
    let corrupt = |reason| BundleError::CorruptRecord {
        path: path.to_string(),
        reason,
    };
    let r: RecordV1 = serde_json::from_slice(&payload).map_err(|_| corrupt("not a v1 record"))?;
    let mut sha = [0u8; 32];
    hex::decode_to_slice(&r.manifest_sha256, &mut sha).map_err(|_| corrupt("bad manifest hash"))?;
    let b = InstalledBundle {
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
) -> Result<(), BundleError> {
    let r = RecordV1 {
        name: b.name.to_string(),
        version: b.version.to_string(),
        signer: b.signer.to_hex(),
        manifest_sha256: hex::encode(b.manifest_sha256),
        files: b.files.iter().map(ToString::to_string).collect(),
    };
    let payload = serde_json::to_vec(&r).map_err(|_| BundleError::CorruptRecord {
        path: dir.to_string(),
        reason: "record does not serialise",
    })?;
    state.write_record(&dir.join(RECORD_NAME)?, MAGIC, VERSION, &payload)?;
    Ok(())
}

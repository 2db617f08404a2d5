//! The A/B state record: `state:/update/state`, a statefs record (magic
//! `NXUP`) holding JSON. Unknown versions, a bad checksum, unknown fields
//! or values that do not parse are `EIO`, never a reset to defaults.
//!
//! Version 2 (written now) keeps, for every release staged through
//! updated, its signed manifest and signature exactly as verified, so the
//! slot can be verified again when it is committed or rolled back to; and
//! the release kept in the other slot behind the active one (`previous`)
//! after a commit. Version 1 (read, upgraded in memory, rewritten as 2 at
//! the next change) had neither: a release it staged keeps no signed
//! manifest, so committing it is refused (`EIO`) until it is staged again.

use crate::UpdateError;
use keymint::kid::Kid;
use nexus_core::Label;
use statefs::{StateFs, StatePath};
use trust::{SignedManifest, Version};

const MAGIC: &[u8; 4] = b"NXUP";
const VERSION: u16 = 2;
/// The first format: no kept manifests, no previous slot.
const VERSION_1: u16 = 1;
/// Where the record lives.
pub const STATE_PATH: &str = "state:/update/state";

/// One of the two system slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Slot A (active on a fresh device).
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub(crate) fn dir_name(self) -> &'static str {
        match self {
            Slot::A => "slot-a",
            Slot::B => "slot-b",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
}

/// A system release: what a slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The product name.
    pub name: Label,
    /// Its version.
    pub version: Version,
    /// The root that signed it (`None` for the factory image).
    pub signer: Option<Kid>,
    /// SHA-256 of its signed manifest (`None` for the factory image).
    pub manifest_sha256: Option<[u8; 32]>,
    /// Its signed manifest and signature as verified (`None` for the
    /// factory image, and for a release a version 1 record staged).
    pub signed: Option<SignedManifest>,
}

impl Release {
    /// The factory image: a name and version, not signed through updated.
    pub fn factory(name: Label, version: Version) -> Self {
        Release {
            name,
            version,
            signer: None,
            manifest_sha256: None,
            signed: None,
        }
    }

    /// Whether it came with the image rather than through `stage`.
    pub fn is_factory(&self) -> bool {
        self.signer.is_none()
    }
}

/// Where the system stands. The slot that is not active holds at most one
/// of `pending` and `previous`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStatus {
    /// The slot the system runs from.
    pub active_slot: Slot,
    /// What the active slot holds.
    pub active: Release,
    /// A staged update waiting for commit or rollback, and its slot.
    pub pending: Option<(Slot, Release)>,
    /// The release the last commit left behind, kept in the other slot
    /// until the next stage: what a forced rollback returns to.
    pub previous: Option<(Slot, Release)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseV1 {
    name: String,
    version: String,
    signer: Option<String>,
    manifest_sha256: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StateV1 {
    active_slot: String,
    active: ReleaseV1,
    pending_slot: Option<String>,
    pending: Option<ReleaseV1>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseV2 {
    name: String,
    version: String,
    signer: Option<String>,
    manifest_sha256: Option<String>,
    /// The manifest's text, as signed.
    manifest: Option<String>,
    /// The minisign signature file's text.
    signature: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotReleaseV2 {
    slot: String,
    release: ReleaseV2,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StateV2 {
    active_slot: String,
    active: ReleaseV2,
    pending: Option<SlotReleaseV2>,
    previous: Option<SlotReleaseV2>,
}

fn path() -> Result<StatePath, UpdateError> {
    Ok(StatePath::parse(STATE_PATH)?)
}

fn corrupt(reason: &'static str) -> UpdateError {
    UpdateError::CorruptState {
        path: STATE_PATH.to_owned(),
        reason,
    }
}

fn to_v2(r: &Release) -> ReleaseV2 {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    ReleaseV2 {
        name: r.name.to_string(),
        version: r.version.to_string(),
        signer: r.signer.map(|k| k.to_hex()),
        manifest_sha256: r.manifest_sha256.map(hex::encode),
        manifest: r.signed.as_ref().map(|s| text(s.manifest_bytes())),
        signature: r.signed.as_ref().map(|s| text(s.signature_bytes())),
    }
}

fn release(
    name: String,
    version: String,
    signer: Option<String>,
    manifest_sha256: Option<String>,
) -> Result<Release, UpdateError> {
    let manifest_sha256 = match manifest_sha256 {
        Some(h) => {
            let mut sha = [0u8; 32];
            hex::decode_to_slice(h, &mut sha).map_err(|_| corrupt("bad manifest hash"))?;
            Some(sha)
        }
        None => None,
    };
    Ok(Release {
        name: Label::new(name).map_err(|_| corrupt("bad name"))?,
        version: Version::parse(&version).map_err(|_| corrupt("bad version"))?,
        signer: match signer {
            Some(s) => Some(Kid::from_hex(&s).map_err(|_| corrupt("bad signer"))?),
            None => None,
        },
        manifest_sha256,
        signed: None,
    })
}

fn from_v1(r: ReleaseV1) -> Result<Release, UpdateError> {
    release(r.name, r.version, r.signer, r.manifest_sha256)
}

fn from_v2(r: ReleaseV2) -> Result<Release, UpdateError> {
    let mut out = release(r.name, r.version, r.signer, r.manifest_sha256)?;
    out.signed = match (r.manifest, r.signature) {
        (Some(m), Some(s)) => {
            let signed = SignedManifest::new(m.into_bytes(), s.into_bytes());
            if out.manifest_sha256 != Some(*signed.sha256()) || out.signer.is_none() {
                return Err(corrupt("kept manifest does not match its hash"));
            }
            let manifest = signed
                .manifest()
                .map_err(|_| corrupt("kept manifest does not parse"))?;
            if manifest.name() != &out.name || manifest.version() != &out.version {
                return Err(corrupt("kept manifest is for another release"));
            }
            Some(signed)
        }
        (None, None) => None,
        _ => return Err(corrupt("half a kept manifest")),
    };
    Ok(out)
}

fn slot(s: &str) -> Result<Slot, UpdateError> {
    Slot::parse(s).ok_or_else(|| corrupt("bad slot"))
}

fn decode_v1(payload: &[u8]) -> Result<UpdateStatus, UpdateError> {
    let s: StateV1 = serde_json::from_slice(payload).map_err(|_| corrupt("not a v1 record"))?;
    let active_slot = slot(&s.active_slot)?;
    let pending = match (s.pending_slot, s.pending) {
        (Some(p), Some(r)) => Some((slot(&p)?, from_v1(r)?)),
        (None, None) => None,
        _ => return Err(corrupt("half a pending update")),
    };
    Ok(UpdateStatus {
        active_slot,
        active: from_v1(s.active)?,
        pending,
        previous: None,
    })
}

fn decode_v2(payload: &[u8]) -> Result<UpdateStatus, UpdateError> {
    let s: StateV2 = serde_json::from_slice(payload).map_err(|_| corrupt("not a v2 record"))?;
    let other = |o: Option<SlotReleaseV2>| -> Result<Option<(Slot, Release)>, UpdateError> {
        o.map(|o| Ok((slot(&o.slot)?, from_v2(o.release)?)))
            .transpose()
    };
    Ok(UpdateStatus {
        active_slot: slot(&s.active_slot)?,
        active: from_v2(s.active)?,
        pending: other(s.pending)?,
        previous: other(s.previous)?,
    })
}

pub(crate) fn read(state: &StateFs) -> Result<Option<UpdateStatus>, UpdateError> {
    let Some((version, payload)) = state.read_record(&path()?, MAGIC, &[VERSION_1, VERSION])?
    else {
        return Ok(None);
    };
    let st = if version == VERSION_1 {
        decode_v1(&payload)?
    } else {
        decode_v2(&payload)?
    };
    let other_slot = st.active_slot.other();
    for (s, _) in st.pending.iter().chain(st.previous.iter()) {
        if *s != other_slot {
            return Err(corrupt("pending or previous release in the active slot"));
        }
    }
    if st.pending.is_some() && st.previous.is_some() {
        return Err(corrupt("pending and previous release in one slot"));
    }
    Ok(Some(st))
}

pub(crate) fn write(state: &StateFs, st: &UpdateStatus) -> Result<(), UpdateError> {
    let other = |o: &Option<(Slot, Release)>| {
        o.as_ref().map(|(s, r)| SlotReleaseV2 {
            slot: s.as_str().to_owned(),
            release: to_v2(r),
        })
    };
    let v2 = StateV2 {
        active_slot: st.active_slot.as_str().to_owned(),
        active: to_v2(&st.active),
        pending: other(&st.pending),
        previous: other(&st.previous),
    };
    let payload = serde_json::to_vec(&v2).map_err(|_| corrupt("record does not serialise"))?;
    state.write_record(&path()?, MAGIC, VERSION, &payload)?;
    Ok(())
}

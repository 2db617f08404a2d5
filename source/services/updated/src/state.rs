//! The A/B state record: `state:/update/state`, a statefs record (magic
//! `NXUP`, version 1) holding JSON. Unknown versions, a bad checksum,
//! unknown fields or values that do not parse are `EIO`, never a reset to
//! defaults.

use crate::UpdateError;
use keymint::kid::Kid;
use nexus_core::Label;
use statefs::{StateFs, StatePath};
use trust::Version;

const MAGIC: &[u8; 4] = b"NXUP";
const VERSION: u16 = 1;
const PATH: &str = "state:/update/state";

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
}

impl Release {
    /// The factory image: a name and version, not signed through updated.
    pub fn factory(name: Label, version: Version) -> Self {
        Release {
            name,
            version,
            signer: None,
            manifest_sha256: None,
        }
    }
}

/// Where the system stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStatus {
    /// The slot the system runs from.
    pub active_slot: Slot,
    /// What the active slot holds.
    pub active: Release,
    /// A staged update waiting for commit or rollback, and its slot.
    pub pending: Option<(Slot, Release)>,
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

fn path() -> Result<StatePath, UpdateError> {
    Ok(StatePath::parse(PATH)?)
}

fn corrupt(reason: &'static str) -> UpdateError {
    UpdateError::CorruptState {
        path: PATH.to_owned(),
        reason,
    }
}

fn to_v1(r: &Release) -> ReleaseV1 {
    ReleaseV1 {
        name: r.name.to_string(),
        version: r.version.to_string(),
        signer: r.signer.map(|k| k.to_hex()),
        manifest_sha256: r.manifest_sha256.map(hex::encode),
    }
}

fn from_v1(r: ReleaseV1) -> Result<Release, UpdateError> {
    let manifest_sha256 = match r.manifest_sha256 {
        Some(h) => {
            let mut sha = [0u8; 32];
            hex::decode_to_slice(h, &mut sha).map_err(|_| corrupt("bad manifest hash"))?;
            Some(sha)
        }
        None => None,
    };
    Ok(Release {
        name: Label::new(r.name).map_err(|_| corrupt("bad name"))?,
        version: Version::parse(&r.version).map_err(|_| corrupt("bad version"))?,
        signer: match r.signer {
            Some(s) => Some(Kid::from_hex(&s).map_err(|_| corrupt("bad signer"))?),
            None => None,
        },
        manifest_sha256,
    })
}

pub(crate) fn read(state: &StateFs) -> Result<Option<UpdateStatus>, UpdateError> {
    let Some((_, payload)) = state.read_record(&path()?, MAGIC, &[VERSION])? else {
        return Ok(None);
    };
    let s: StateV1 = serde_json::from_slice(&payload).map_err(|_| corrupt("not a v1 record"))?;
    let active_slot = Slot::parse(&s.active_slot).ok_or_else(|| corrupt("bad slot"))?;
    let pending = match (s.pending_slot, s.pending) {
        (Some(slot), Some(r)) => {
            let slot = Slot::parse(&slot).ok_or_else(|| corrupt("bad slot"))?;
            if slot == active_slot {
                return Err(corrupt("pending update in the active slot"));
            }
            Some((slot, from_v1(r)?))
        }
        (None, None) => None,
        _ => return Err(corrupt("half a pending update")),
    };
    Ok(Some(UpdateStatus {
        active_slot,
        active: from_v1(s.active)?,
        pending,
    }))
}

pub(crate) fn write(state: &StateFs, st: &UpdateStatus) -> Result<(), UpdateError> {
    let v1 = StateV1 {
        active_slot: st.active_slot.as_str().to_owned(),
        active: to_v1(&st.active),
        pending_slot: st.pending.as_ref().map(|(s, _)| s.as_str().to_owned()),
        pending: st.pending.as_ref().map(|(_, r)| to_v1(r)),
    };
    let payload = serde_json::to_vec(&v1).map_err(|_| corrupt("record does not serialise"))?;
    state.write_record(&path()?, MAGIC, VERSION, &payload)?;
    Ok(())
}

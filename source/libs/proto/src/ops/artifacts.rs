//! bundlemgrd's and updated's ops. `path` is an absolute directory holding
//! the artifact (files, `manifest.toml`, `manifest.toml.minisig`).

use super::status::Empty;
use crate::schema::{ops, wire_map, Kind, WireField};
use crate::types::Slot;
use nexus_core::{Kid, Label};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

wire_map!(args
    /// `{path, force?}`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    ArtifactArgs {
        /// The artifact directory (absolute).
        path: String,
        /// Install even if the version does not go up.
        force: Option<bool>,
    }
);

wire_map!(reply
    /// Why an installed bundle cannot be used: the code and message its
    /// operations fail with.
    #[derive(Debug, Clone, PartialEq, Eq)]
    BundleError {
        /// The stable code (`EIO` for a damaged record or file).
        code: String,
        /// What is damaged (names the `state:/` path).
        msg: String,
    }
);

wire_map!(reply
    /// One installed bundle.
    #[derive(Debug, Clone, PartialEq, Eq)]
    BundleInfo {
        /// Its name.
        name: Label,
        /// Its version (`null` when its record cannot be read).
        version: Option<String>,
        /// `null` when its record and every file verify; else why not.
        error: Option<BundleError>,
    }
);

/// `update.status`'s `versions`: slot to version, the active slot first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotVersions(pub Vec<(Slot, String)>);

impl Serialize for SlotVersions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (slot, version) in &self.0 {
            m.serialize_entry(slot, version)?;
        }
        m.end()
    }
}

struct SlotVersionsVisitor;

impl<'de> Visitor<'de> for SlotVersionsVisitor {
    type Value = SlotVersions;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of slot to version")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SlotVersions, A::Error> {
        let mut out = Vec::new();
        while let Some((slot, version)) = map.next_entry::<Slot, String>()? {
            if out.iter().any(|(s, _)| *s == slot) {
                return Err(de::Error::custom("a slot appears twice"));
            }
            out.push((slot, version));
        }
        Ok(SlotVersions(out))
    }
}

impl<'de> Deserialize<'de> for SlotVersions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SlotVersions, D::Error> {
        d.deserialize_map(SlotVersionsVisitor)
    }
}

impl WireField for SlotVersions {
    const KIND: Kind = Kind::Map;
}

ops! {
    /// `bundle.install`: verify and install a signed bundle.
    BundleInstall = "bundle.install" in Bundlemgrd, capability BundleInstall + force => ArtifactForce, callers [];
        args [= ArtifactArgs]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            BundleInstallReply { name: Label, version: String, signer_kid: Kid }
        ]

    /// `bundle.uninstall`.
    BundleUninstall = "bundle.uninstall" in Bundlemgrd, capability BundleInstall, callers [];
        args [#[derive(Debug, Clone, PartialEq, Eq)] BundleNameArgs { name: Label }]
        reply [= Empty]

    /// `bundle.list`.
    BundleList = "bundle.list" in Bundlemgrd, capability none, callers [];
        args [= Empty]
        reply [#[derive(Debug, Clone, PartialEq, Eq)] BundleListReply { bundles: Vec<BundleInfo> }]

    /// `update.stage`: verify a signed update and stage it in the other
    /// slot.
    UpdateStage = "update.stage" in Updated, capability UpdateStage + force => ArtifactForce, callers [];
        args [= ArtifactArgs]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            UpdateStageReply {
                /// The slot it was staged into.
                slot: Slot,
                /// Its version.
                version: String,
                /// The kid of the root that verified it.
                signer_kid: Kid,
            }
        ]

    /// `update.commit`: make the staged slot the active one.
    UpdateCommit = "update.commit" in Updated, capability UpdateStage, callers [];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            UpdateCommitReply { active: Slot, version: String }
        ]

    /// `update.rollback`: drop the staged update; with `force` and none
    /// staged, return to the slot kept behind the committed one (a
    /// downgrade).
    UpdateRollback = "update.rollback" in Updated, capability UpdateStage + force => ArtifactForce, callers [];
        args [
            #[derive(Debug, Clone, Default, PartialEq, Eq)]
            RollbackArgs {
                /// Roll back the committed update when nothing is staged.
                force: Option<bool>,
            }
        ]
        reply [= UpdateCommitReply]

    /// `update.status`.
    UpdateStatus = "update.status" in Updated, capability none, callers [];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            UpdateStatusReply {
                /// The slot the system runs from.
                active: Slot,
                /// The slot holding a staged update, if any.
                pending: Option<Slot>,
                /// Each slot that holds a release, to its version.
                versions: SlotVersions,
                /// The slot keeping the release the last commit replaced
                /// (what a forced rollback returns to), if any.
                previous: Option<Slot>,
            }
        ]
}

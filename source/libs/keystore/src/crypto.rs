//! The operations that use keys: sign, verify, seal, unseal, public key and
//! export-wrapped.
//!
//! Every private operation hands a wrapped blob to keymint, under the
//! identity that version was wrapped with; this module never sees
//! material. Inputs are bounded before anything else happens, by the
//! limits of `nexus_proto::limits` (messages and plaintexts at 960 KiB,
//! AAD at 4 KiB, sealed data at the largest plaintext plus 50 bytes), so
//! that anything sealed here can be unsealed and anything signed verified.

use crate::access;
use crate::error::KeystoreError;
use crate::model::{
    ExportedKey, KeyName, KeyRecord, KeySelector, KeyUse, PublicKeyInfo, SealOutput, SignOutput,
    Unsealed,
};
use crate::publics::Refused;
use crate::sealfmt;
use crate::store::KeyStore;
use ed25519_dalek::VerifyingKey;
use keymint::KeyMintError;
use nexus_core::{Authorizer, Capability, Subject};
use nexus_proto::limits::{AAD, MESSAGE, PLAINTEXT, SEALED};

// The sealed-data limit is the largest plaintext plus exactly what this
// crate and keymint add to it.
const _: () =
    assert!(nexus_proto::limits::SEALED_OVERHEAD == sealfmt::HEADER_LEN + keymint::SEAL_OVERHEAD);

impl KeyStore {
    /// The public key of version `v`, parsed strictly and checked against
    /// the stored kid (a mismatch means the record is not what was
    /// written); parsed once per distinct key ([`crate::publics`]).
    fn strict_public(
        &self,
        rec: &KeyRecord,
        v: u32,
    ) -> Result<(VerifyingKey, keymint::kid::Kid), KeystoreError> {
        let corrupt = |reason| KeystoreError::Corrupt {
            path: format!("state:/keystore/{}", rec.name),
            reason,
        };
        let info = &rec.version(v)?.info;
        let (Some(public), Some(kid)) = (info.public, info.kid) else {
            return Err(corrupt("signing version without public key"));
        };
        let vk = self.publics.checked(&public, &kid).map_err(|r| {
            corrupt(match r {
                Refused::NotAcceptable => "stored public key is not acceptable",
                Refused::KidMismatch => "stored kid does not match the public key",
            })
        })?;
        Ok((vk, kid))
    }
}

impl KeyStore {
    /// Sign `msg` with the primary version. The output names the version
    /// and kid used.
    pub fn sign(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        msg: &[u8],
    ) -> Result<SignOutput, KeystoreError> {
        MESSAGE.check("message", msg.len())?;
        access::private(subject, authz, Capability::KeySign, key)?;
        let rec = self.load(key)?;
        rec.require_use(KeyUse::Sign)?;
        let v = rec.primary;
        let (ver, wrapped) = rec.usable(v)?;
        let kid = ver.info.kid.ok_or_else(|| KeystoreError::Corrupt {
            path: format!("state:/keystore/{key}"),
            reason: "signing version without kid",
        })?;
        let sig = self.ops.sign(&rec.identity(v)?, wrapped, msg)?;
        Ok(SignOutput {
            signature: sig.to_bytes(),
            version: v,
            kid,
        })
    }

    /// Verify `signature` over `msg` with the version `by` names. Returns
    /// that version. A bad signature is `EPERM`; a retired or revoked
    /// version is `EKEYREVOKED`.
    pub fn verify(
        &self,
        subject: &Subject,
        key: &KeyName,
        by: KeySelector,
        msg: &[u8],
        signature: &[u8],
    ) -> Result<u32, KeystoreError> {
        MESSAGE.check("message", msg.len())?;
        let sig = keymint::ed25519::parse_signature(signature)
            .map_err(|_| KeystoreError::Invalid("an Ed25519 signature is 64 bytes"))?;
        access::public(subject, &key.app)?;
        let rec = self.load(key)?;
        rec.require_use(KeyUse::Verify)?;
        let v = rec.select(by)?;
        rec.usable(v)?;
        let (vk, _) = self.strict_public(&rec, v)?;
        keymint::ed25519::verify(&vk, msg, &sig)?;
        Ok(v)
    }

    /// The public key of the version `by` names (default: primary). Only
    /// usable versions are handed out.
    pub fn public_key(
        &self,
        subject: &Subject,
        key: &KeyName,
        by: Option<KeySelector>,
    ) -> Result<PublicKeyInfo, KeystoreError> {
        access::public(subject, &key.app)?;
        let rec = self.load(key)?;
        rec.require_use(KeyUse::Verify)?;
        let v = match by {
            Some(sel) => rec.select(sel)?,
            None => rec.primary,
        };
        rec.usable(v)?;
        let (vk, kid) = self.strict_public(&rec, v)?;
        Ok(PublicKeyInfo {
            version: v,
            kid,
            key: vk,
        })
    }

    /// Seal `plaintext` with the primary version; `aad` is bound, not
    /// stored. See [`crate::sealfmt`] for the output format.
    pub fn seal(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealOutput, KeystoreError> {
        PLAINTEXT.check("plaintext", plaintext.len())?;
        AAD.check("aad", aad.len())?;
        access::private(subject, authz, Capability::KeySeal, key)?;
        let rec = self.load(key)?;
        rec.require_use(KeyUse::Seal)?;
        let v = rec.primary;
        let (_, wrapped) = rec.usable(v)?;
        let header = sealfmt::header(v);
        let body = self.ops.seal(
            &rec.identity(v)?,
            wrapped,
            &sealfmt::bound_aad(&header, aad),
            plaintext,
        )?;
        let mut sealed = Vec::with_capacity(header.len() + body.len());
        sealed.extend_from_slice(&header);
        sealed.extend_from_slice(&body);
        Ok(SealOutput { sealed, version: v })
    }

    /// Open what [`KeyStore::seal`] made, with the version its header
    /// names. Anything that does not authenticate (changed ciphertext, AAD
    /// or version) is the single opaque `EIO`.
    pub fn unseal(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Unsealed, KeystoreError> {
        SEALED.check("sealed data", sealed.len())?;
        AAD.check("aad", aad.len())?;
        access::private(subject, authz, Capability::KeyDecrypt, key)?;
        let parts = sealfmt::parse(sealed)?;
        let rec = self.load(key)?;
        rec.require_use(KeyUse::Unseal)?;
        if parts.version > rec.latest() {
            // No such version: it cannot have been sealed by this key.
            return Err(KeyMintError::Integrity.into());
        }
        let (_, wrapped) = rec.usable(parts.version)?;
        let plaintext = self.ops.unseal(
            &rec.identity(parts.version)?,
            wrapped,
            &sealfmt::bound_aad(&parts.header, aad),
            parts.body,
        )?;
        Ok(Unsealed {
            plaintext,
            version: parts.version,
        })
    }

    /// Export a version (default: primary) as its wrapped blob and
    /// identity. Only this device's keymint opens the blob, and only under
    /// that identity; no API returns key material.
    pub fn export_wrapped(
        &self,
        subject: &Subject,
        authz: &dyn Authorizer,
        key: &KeyName,
        version: Option<u32>,
    ) -> Result<ExportedKey, KeystoreError> {
        access::private(subject, authz, Capability::KeyExport, key)?;
        let rec = self.load(key)?;
        let v = version.unwrap_or(rec.primary);
        let (ver, wrapped) = rec.usable(v)?;
        Ok(ExportedKey {
            identity: rec.identity(v)?,
            wrapped: wrapped.clone(),
            public: ver.info.public,
            kid: ver.info.kid,
            device_id: self.ops.device_id(),
        })
    }
}

//! `key.import`, `key.sign` (plain, prehashed, with `show`) and the
//! prehashed form of `key.verify`.
//!
//! Invariants:
//! - An imported private key arrives in the request's zeroizing `Secret`
//!   and is copied once, into keymint's zeroizing [`Ed25519Seed`], which
//!   goes to keymintd (`km.import`) by reference and is dropped (wiped)
//!   when the op returns; keystored keeps only the wrapped blob.
//! - An imported key is always in the caller's own key namespace
//!   (`Subject::key_namespace`); a prehashed sign goes through the same
//!   namespace decision as a plain one ([`Keystored::own_key`]). The
//!   keystore asks the policy engine for the op's capability (audited).
//! - With `prehash`, `msg` is the client's 64-byte digest; the signature
//!   is over that digest (see `keystore::Prehash`).
//! - A sign's `show` is read through [`Keystored::show`], the very path of
//!   `key.show` (namespace rule, audit), before anything is signed.

use crate::handler::Keystored;
use keymint::Ed25519Seed;
use keymint_client::alg_from_wire;
use keystore::{KeyName, KeySelector, KeystoreError, Prehash, SignOutput};
use nexus_core::Subject;
use nexus_proto::{
    self as proto, Bytes, KeyCreateReply, KeyImportArgs, KeySignArgs, KeySignReply, Op,
};
use wire::{ArgError, WireError};

fn prehash(p: proto::Prehash) -> Prehash {
    match p {
        proto::Prehash::Blake2b512 => Prehash::Blake2b512,
    }
}

impl Keystored {
    /// `key.import`: a new key from an existing Ed25519 private key.
    pub(crate) fn import(
        &self,
        s: &Subject,
        a: KeyImportArgs,
    ) -> Result<KeyCreateReply, WireError> {
        let seed = Ed25519Seed::from_slice(a.private.expose())
            .map_err(|_| ArgError::Invalid("private".to_owned()))?;
        drop(a.private);
        let key = KeyName::new(s.key_namespace(), a.purpose, a.name);
        let out = self
            .keys
            .import(s, &*self.policy, &key, alg_from_wire(a.alg), &seed)?;
        Ok(self.created(s, out))
    }

    /// `key.sign`, plain or prehashed.
    pub(crate) fn sign(&self, s: &Subject, a: KeySignArgs) -> Result<KeySignReply, WireError> {
        let key = self.own_key(s, proto::KeySign::NAME, a.app, a.purpose, a.name)?;
        // Read before signing, so a `show` that fails signs nothing.
        let shown = a.show.map(|show| self.show(s, show)).transpose()?;
        let authz = &*self.policy;
        let out: SignOutput = match a.prehash {
            None => self.keys.sign(s, authz, &key, &a.msg)?,
            Some(p) => self
                .keys
                .sign_prehashed(s, authz, &key, prehash(p), &a.msg)?,
        };
        Ok(KeySignReply {
            sig: Bytes(out.signature.to_vec()),
            kid: out.kid,
            version: out.version,
            shown,
        })
    }

    /// One version's verdict in `key.verify`, plain or prehashed.
    pub(crate) fn verify_version(
        &self,
        s: &Subject,
        key: &KeyName,
        version: u32,
        mode: Option<proto::Prehash>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<u32, KeystoreError> {
        let by = KeySelector::Version(version);
        match mode {
            None => self.keys.verify(s, key, by, msg, sig),
            Some(p) => self.keys.verify_prehashed(s, key, by, prehash(p), msg, sig),
        }
    }
}

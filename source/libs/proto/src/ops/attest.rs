//! attestd's ops.

use super::status::Empty;
use crate::schema::{ops, wire_map};
use crate::types::Bytes;
use nexus_core::{AppId, CustomClaims, Kid, Label};

wire_map!(reply
    /// The device attestation key's primary version.
    #[derive(Debug, Clone, PartialEq, Eq)]
    DeviceKeyReply {
        /// The raw 32-byte Ed25519 public key.
        public_key: Bytes,
        /// Its kid.
        kid: Kid,
        /// Its version in the keystore.
        version: u32,
    }
);

ops! {
    /// `attest`: a token attesting the caller's key `(purpose, name)`.
    Attest = "attest" in Attestd, capability Attest, callers [];
        args [
            #[derive(Debug, Clone, PartialEq, Eq)]
            AttestArgs {
                purpose: Label,
                name: Label,
                /// 8..=64 bytes, chosen by the verifier.
                nonce: Bytes,
                /// Custom claims at labels ≤ -65538.
                claims: Option<CustomClaims>,
                /// The caller's own app, if named.
                app: Option<AppId>,
            }
        ]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            AttestReply { token: Bytes, device_kid: Kid }
        ]

    /// `attest.device_key`: the public key tokens are signed with.
    AttestDeviceKey = "attest.device_key" in Attestd, capability none, callers [];
        args [= Empty]
        reply [= DeviceKeyReply]

    /// `attest.rotate_device_key` (system subjects only).
    AttestRotateDeviceKey = "attest.rotate_device_key" in Attestd, capability KeyRotate, callers [];
        args [= Empty]
        reply [= DeviceKeyReply]
}

//! Token signing. The private key never enters this crate: the caller
//! passes a signer (in the system, keymint signing with the device
//! attestation key) that receives the COSE Sig_structure and returns the
//! Ed25519 signature.

use crate::claims::Claims;
use crate::{payload, verify, EatError};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use keymint::kid::Kid;
use nexus_core::Coded;

/// Sign `input` as a tagged COSE_Sign1 with protected header
/// `{1: -8, 4: device_kid}` and an empty unprotected header.
///
/// `device_kid` must be the RFC 9679 thumbprint of the key `signer` signs
/// with (verifiers check it). The signer's error code is passed through
/// (`EatError::Signer`), so a locked or revoked key stays visible as such.
pub fn sign_token<E: Coded>(
    input: &Claims,
    device_kid: &Kid,
    signer: impl FnOnce(&[u8]) -> Result<[u8; 64], E>,
) -> Result<Vec<u8>, EatError> {
    let claims = detcbor::encode_with(&payload::to_value(input), &verify::PAYLOAD_LIMITS)?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(device_kid.as_bytes().to_vec())
        .build();
    let mut sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(claims)
        .build();
    // No external AAD: the Sig_structure is ["Signature1", protected, h'', payload].
    let to_be_signed = sign1.tbs_data(&[]);
    let signature = signer(&to_be_signed).map_err(|e| EatError::Signer(e.code()))?;
    sign1.signature = signature.to_vec();
    let token = sign1.to_tagged_vec().map_err(|_| EatError::Encoding)?;
    // What we emit must be exactly what our verifier accepts structurally
    // (deterministic, tagged, header shape, size), whatever coset does.
    verify::parse_envelope(&token)?;
    Ok(token)
}

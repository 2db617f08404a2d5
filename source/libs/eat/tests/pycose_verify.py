#!/usr/bin/env python3
"""Verify a Nexus attestation token with third-party tools only.

The token is a tagged COSE_Sign1 (RFC 9052) carrying an EAT claims set
(RFC 9711) in a CWT (RFC 8392); see docs/identity/attestation.md.
This script checks it with pycose and cbor2, not with the project's code:

    pip install pycose cbor2
    python3 pycose_verify.py --token token.cbor --device-key device_pub.bin \
        --nonce <hex> --app-id <app id>

--device-key is a file holding the device's raw 32-byte Ed25519 public key.
Exit status: 0 verified, 1 refused, 3 a Python module is missing.
"""

import argparse
import hashlib
import hmac
import sys

try:
    import cbor2
    from pycose.algorithms import EdDSA
    from pycose.headers import KID, Algorithm
    from pycose.keys import OKPKey
    from pycose.keys.curves import Ed25519
    from pycose.messages import CoseMessage, Sign1Message
except ImportError as exc:  # a test must fail loudly, never skip
    print(f"missing Python module ({exc}); run: pip install pycose cbor2", file=sys.stderr)
    sys.exit(3)

PROFILE = "tag:nexus-os.org,2026:attest/v1"
STUB_LABEL, STUB_VALUE = -65537, "software-stub"
IAT, CNF, NONCE, UEID, EAT_PROFILE, SUBMODS, SWNAME, SWVERSION = 6, 8, 10, 256, 265, 266, 270, 271


def refuse(why):
    print(f"REFUSED: {why}")
    sys.exit(1)


def thumbprint(x):
    """RFC 9679 kid: SHA-256 of the deterministic CBOR {1: 1, -1: 6, -2: x}."""
    return hashlib.sha256(bytes([0xA3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20]) + x).digest()


def decode_sign1(token):
    """pycose's own decoder, with one compatibility step: pycose 1.1 expects
    cbor2 to decode the content of a tag into a list and dicts, while cbor2
    >= 6 decodes it into immutable types (a tuple and a frozendict), and
    the decode fails ("Bytes cannot be decoded as COSE message"). Handing
    pycose the same values as a list and a dict is exactly what its decoder
    does with an older cbor2."""
    try:
        return CoseMessage.decode(token)
    except TypeError:
        outer = cbor2.loads(token)
        if outer.tag != 18 or not isinstance(outer.value, tuple) or len(outer.value) != 4:
            raise
        obj = list(outer.value)
        obj[1] = dict(obj[1])
        return Sign1Message.from_cose_obj(obj, True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--token", required=True, help="file with the token bytes")
    ap.add_argument("--device-key", required=True, help="file with the raw 32-byte public key")
    ap.add_argument("--nonce", required=True, help="expected nonce, hex")
    ap.add_argument("--app-id", required=True, help="expected app id")
    args = ap.parse_args()

    with open(args.token, "rb") as f:
        token = f.read()
    with open(args.device_key, "rb") as f:
        device_x = f.read()
    nonce = bytes.fromhex(args.nonce)
    if len(device_x) != 32:
        refuse("device key is not 32 bytes")

    outer = cbor2.loads(token)
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != 18:
        refuse("not a tagged COSE_Sign1 (tag 18)")
    try:
        msg = decode_sign1(token)
    except Exception as exc:  # pycose raises several types on bad input
        refuse(f"pycose cannot decode: {exc}")
    if not isinstance(msg, Sign1Message):
        refuse("not a Sign1 message")
    if msg.phdr.get(Algorithm) is not EdDSA:
        refuse(f"algorithm is {msg.phdr.get(Algorithm)}, want EdDSA")
    if msg.uhdr:
        refuse("unprotected header is not empty")
    kid = msg.phdr.get(KID)
    if kid != thumbprint(device_x):
        refuse("kid is not the device key's RFC 9679 thumbprint")

    msg.key = OKPKey(crv=Ed25519, x=device_x)
    try:
        ok = msg.verify_signature()
    except Exception as exc:
        refuse(f"signature check failed: {exc}")
    if not ok:
        refuse("bad signature")

    claims = cbor2.loads(msg.payload)
    if not hmac.compare_digest(claims.get(NONCE, b""), nonce):
        refuse("nonce mismatch")
    if claims.get(EAT_PROFILE) != PROFILE:
        refuse("wrong eat_profile")
    if claims.get(STUB_LABEL) != STUB_VALUE:
        refuse("stub claim missing")
    app = claims.get(SUBMODS, {}).get("app", {}).get(SWNAME)
    if app != args.app_id:
        refuse(f"app id is {app!r}")
    cose_key = claims[CNF][1]
    if cose_key[1] != 1 or cose_key[-1] != 6 or cose_key[2] != thumbprint(cose_key[-2]):
        refuse("cnf is not an Ed25519 COSE_Key with its thumbprint as kid")
    ueid = claims[UEID]
    if len(ueid) != 33 or ueid[0] != 0x01:
        refuse("ueid is not a 33-byte RAND UEID")

    print(
        f"OK app={app} device_kid={kid.hex()} attested_kid={cose_key[2].hex()} "
        f"iat={claims[IAT]} swname={claims[SWNAME]} swversion={claims[SWVERSION]} "
        f"ueid={ueid.hex()} stub={claims[STUB_LABEL]}"
    )


if __name__ == "__main__":
    main()

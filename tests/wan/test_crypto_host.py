"""Firmware ECC/ECDSA/ECDH/DER against the `cryptography` package (independent code)."""
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

CURVES = {"P-256": ec.SECP256R1, "brainpoolP256r1": ec.BrainpoolP256R1}


def _pub(k):
    return k.public_key().public_bytes(serialization.Encoding.X962,
                                       serialization.PublicFormat.UncompressedPoint).hex()


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ecc_matches_cryptography(mpy, curve):
    cases = []
    for i in range(4):
        k = ec.generate_private_key(CURVES[curve]())
        peer = ec.generate_private_key(CURVES[curve]())
        msg = os.urandom(40 + i)
        hsig = k.sign(msg, ec.ECDSA(hashes.SHA256()))
        cases.append({"d": k.private_numbers().private_value, "pub": _pub(k),
                      "peer": _pub(peer), "digest": hashlib.sha256(msg).hexdigest(),
                      "hsig": list(decode_dss_signature(hsig)),
                      "shared": k.exchange(ec.ECDH(), peer.public_key()).hex(),
                      "msg": msg.hex()})
    code = """
import json
from crypto import ecc, ecdsa
c = ecc.CURVES["@CURVE@"]
cases = json.loads(@CASES@)
out = []
for t in cases:
    d = t["d"]
    dig = bytes.fromhex(t["digest"])
    pub = bytes.fromhex(t["pub"])
    r, s = ecdsa.sign(c, d, dig)
    out.append({"pub": c.public(d).hex(), "sig": [r, s],
                "ok": ecdsa.verify(c, pub, dig, *t["hsig"]),
                "bad": ecdsa.verify(c, pub, dig, t["hsig"][0], (t["hsig"][1] + 1) % c.n),
                "shared": ecc.ecdh(c, d, bytes.fromhex(t["peer"])).hex(),
                "sigder": ecdsa.sig_der(r, s).hex()})
print(json.dumps(out))
""".replace("@CURVE@", curve).replace("@CASES@", repr(json.dumps(cases)))
    out = mpy.json(code)
    for t, o in zip(cases, out):
        assert o["pub"] == t["pub"]
        assert o["ok"] is True and o["bad"] is False
        assert o["shared"] == t["shared"]
        k = ec.EllipticCurvePublicKey.from_encoded_point(CURVES[curve](),
                                                         bytes.fromhex(t["pub"]))
        sig = bytes.fromhex(o["sigder"])
        assert sig == encode_dss_signature(*o["sig"])
        k.verify(sig, bytes.fromhex(t["msg"]), ec.ECDSA(hashes.SHA256()))

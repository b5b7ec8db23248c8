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
CURVES_N = {"P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
            "brainpoolP256r1":
            0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7}


def _pub(k):
    return k.public_key().public_bytes(serialization.Encoding.X962,
                                       serialization.PublicFormat.UncompressedPoint).hex()


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ecc_matches_cryptography(mpy, curve):
    cases = []
    n = CURVES_N[curve]
    # random keys, then edge keys (1, 2, n-1, n-2, powers of two, long zero runs): the comb
    # (P-256 k*G) and the signed windows (k*Q, brainpool) must agree with OpenSSL on all
    edges = [1, 2, 3, n - 1, n - 2, 1 << 32, (1 << 32) - 1, 1 << 128, (1 << 255) + 1,
             (1 << 224) - 1, n - (1 << 32), 0xFFFFFFFF << 200]
    keys = [ec.generate_private_key(CURVES[curve]()) for _ in range(6)]
    keys += [ec.derive_private_key(d, CURVES[curve]()) for d in edges]
    for i, k in enumerate(keys):
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


def test_p256_comb_table_is_generated():
    # firmware/crypto/p256g.py is what gwtool.gen_p256g makes (deterministic, from OpenSSL)
    from gwtool import gen_p256g

    assert gen_p256g.OUT.read_text() == gen_p256g.source(gen_p256g.table())

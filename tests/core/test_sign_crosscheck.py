"""CPython cross-check of an OML value signature: the firmware (MicroPython, software
security module) signs at ingest and exports oml.jsonl; the `cryptography` package
verifies the exported signature (ECDSA P-256, SHA-256 over the documented canonical
encoding) with the gateway's public key, and rejects a flipped raw value."""
import json
import struct
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gwtool import mpy

HERE = Path(__file__).parent
SUPPORT = HERE.parent / "support"

CODE = """
import json, binascii, corefix
from core.core import Core
from core.export import export
from crypto.secmod import SoftSecMod
sm = SoftSecMod(key=bytes(range(1, 33)))
m = corefix.fresh_fs()
c = Core(m + "/store", corefix.Clock(1767225600), secmod=sm,
         config={"core": {"tafs": ["TAF7"], "sign_oml": True}})
c.ingest("0a01454d480000000001", "1-0:1.8.0*255", -123456789012, -1, 30, 1767226503, 7)
export(c, OUT)
print(binascii.hexlify(sm.public_key()).decode())
"""


def _message(d):
    """docs/core.md "Value signatures": the canonical byte encoding, independently."""
    m, o = d["meter"].encode(), d["obis"].encode()
    return (b"SMGW-OML\x01" + bytes([len(m)]) + m + bytes([len(o)]) + o +
            struct.pack("<IqbBQ", d["capture_time_s"], d["raw"], d["scaler"], d["unit"],
                        d["status"]))


def test_exported_signature_verifies_with_cryptography(tmp_path):
    out = tmp_path / "export"
    pub_hex = mpy.run("OUT = %r\n" % str(out) + CODE, heapsize="512K",
                      path=(HERE, SUPPORT), env={"GW_TEST_TMP": str(tmp_path)}).strip()
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                       bytes.fromhex(pub_hex))
    d = json.loads((out / "oml.jsonl").read_text().splitlines()[0])
    assert d["raw"] == -123456789012 and d["capture_time"] == "2026-01-01T00:15:03Z"
    sig = bytes.fromhex(d["signature"])
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                               int.from_bytes(sig[32:], "big"))
    pub.verify(der, _message(d), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        pub.verify(der, _message(dict(d, raw=d["raw"] ^ 1)), ec.ECDSA(hashes.SHA256()))

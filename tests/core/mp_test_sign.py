# OML value signatures: signed at ingest by a real software security module (P-256),
# returned by query/last/export, verified; unsigned when there is no key; old records.
# heapsize: 512K
import json

import corefix
from core.oml import REC, message, pack, verify
from crypto.secmod import SoftSecMod
from mptest import eq, tmpdir

M, E = "KAM-12345678", "1-0:1.8.0*255"
T0 = 1767225600
KEY = bytes(range(1, 33))
SIGNED = {"core": {"tafs": ["TAF7"], "sign_oml": True}}


def _core(config, secmod, m=None):
    from core.core import Core

    m = m or corefix.fresh_fs()
    return Core(m + "/store", corefix.Clock(T0), config=config, secmod=secmod), m


def test_sign_on_ingest_query_verify_and_tamper():
    sm = SoftSecMod(key=KEY)
    pub = sm.public_key()
    c, _ = _core(SIGNED, sm)
    c.ingest(M, E, 123456789012, -1, 30, T0 + 3, 0x104)
    c.ingest(M, E, 123456789100, -1, 30, T0 + 903)
    rows = c.oml.query(M, E, T0, T0 + 1000)
    eq(len(rows), 2)
    for d in rows:
        eq(len(d["signature"]), 128)
        eq(verify(d, pub), True)
    eq(c.oml.last(M, E)["signature"], rows[1]["signature"])
    eq(len(c.oml.chans[(M, E)].last), REC + 64)
    bad = dict(rows[0], raw=rows[0]["raw"] ^ 1)  # a flipped bit in the raw value
    eq(verify(bad, pub), False)
    eq(verify(dict(rows[0], status=rows[0]["status"] ^ 0x200), pub), False)
    eq(verify(dict(rows[0], obis="1-0:2.8.0*255"), pub), False)
    other = SoftSecMod(key=bytes(range(2, 34))).public_key()
    eq(verify(rows[0], other), False)
    eq(verify(dict(rows[0], signature=None), pub), False)
    # the canonical encoding is fixed (documented in docs/core.md)
    eq(message("A", "B", 1, -2, -1, 30, 3),
       b"SMGW-OML\x01\x01A\x01B" + b"\x01\x00\x00\x00" + b"\xfe" + b"\xff" * 7 +
       b"\xff\x1e" + b"\x03" + bytes(7))


def test_signature_in_export_and_survives_reopen():
    from core.export import export

    sm = SoftSecMod(key=KEY)
    c, m = _core(SIGNED, sm)
    c.ingest(M, E, 42, 0, 30, T0 + 900)
    out = tmpdir() + "/sigexp"
    export(c, out)
    with open(out + "/oml.jsonl") as f:
        d = json.loads(f.readline())
    eq(verify(d, sm.public_key()), True)  # ISO capture_time: capture_time_s is used
    c2, _ = _core(SIGNED, sm, m)  # reopen: the signature is read back from the store
    eq(verify(c2.oml.last(M, E), sm.public_key()), True)


def test_no_key_stores_unsigned_and_logs_once():
    sm = SoftSecMod(key_path=tmpdir() + "/nokey/gateway.key")  # fresh board: no key
    c, _ = _core(SIGNED, lambda: sm)
    for i in range(3):
        c.ingest(M, E, 10 + i, 0, 30, T0 + 900 * i)
    eq(len(c.oml.query(M, E, T0, T0 + 9000)), 3)
    eq(["signature" in d for d in c.oml.query(M, E, T0, T0 + 9000)], [False] * 3)
    ev = [e for e in c.logs["system"].entries() if e["event"] == "core.oml_unsigned"]
    eq(len(ev), 1)
    c2, _ = _core(SIGNED, None)  # no module at all
    c2.ingest(M, E, 1, 0, 30, T0)
    eq(len([e for e in c2.logs["system"].entries()
            if e["event"] == "core.oml_unsigned"]), 1)


def test_old_unsigned_records_read_back_next_to_signed_ones():
    c, m = _core({"core": {"tafs": ["TAF7"]}}, None)  # switch off: as before
    c.ingest(M, E, 7, 0, 30, T0)
    lst = c.oml.chans[(M, E)]
    eq(lst.read(1), pack(T0, T0, 7, 0, 30, c.oml.last(M, E)["status"]))  # 28-byte format
    eq(len(lst.read(1)), REC)
    sm = SoftSecMod(key=KEY)
    c2, _ = _core(SIGNED, sm, m)
    c2.ingest(M, E, 8, 0, 30, T0 + 900)
    rows = c2.oml.query(M, E, T0, T0 + 900)
    eq([d["raw"] for d in rows], [7, 8])
    eq("signature" in rows[0], False)
    eq(verify(rows[1], sm.public_key()), True)

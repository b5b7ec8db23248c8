"""Random telegrams from the independent encoder (pycryptodome) through the firmware decoder."""
import json
import random

from gwtool import wmbus_encode as enc

BATCH = r"""
import sys, json
from wmbus import WmbusError
from wmbus.telegram import decode
for line in open(sys.argv[1]):
    d = json.loads(line)
    k = d["key"]
    try:
        t = decode(bytes.fromhex(d["hex"]), (lambda m: bytes.fromhex(k)) if k else None,
                   d["fmt"])
        print(json.dumps({"meter": t["meter"], "mode": t["security_mode"],
                          "crc_ok": t["crc_ok"], "mac_ok": t["mac_ok"],
                          "ell": t.get("ell_encrypted", False), "counter": t["counter"],
                          "records": [[r["quantity"], r["storage"], r["tariff"], r["subunit"],
                                       r["function"], r["raw"], r["exponent"]]
                                      for r in t["records"]]}))
    except WmbusError as e:
        print(json.dumps({"error": e.layer}))
"""

QUANT = list(enc.VIFS)


def _random_case(rng):
    recs, want = b"", []
    for _ in range(rng.randint(1, 6)):
        q = rng.choice(QUANT)
        base, e0, nrange = enc.VIFS[q]
        e = e0 + rng.randrange(nrange)
        bcd = rng.random() < 0.4
        size = rng.choice((1, 2, 3, 4, 6) if bcd else (1, 2, 3, 4, 6, 8))
        if bcd:
            raw = rng.randrange(10 ** (2 * size - 1))
            if rng.random() < 0.2:
                raw = -raw
        else:
            raw = rng.randrange(-(1 << (8 * size - 1)), 1 << (8 * size - 1))
        st, ta, su = rng.choice((0, 0, 1, 5, 17, 300)), rng.choice((0, 0, 1, 3, 6)), \
            rng.choice((0, 0, 1, 2))
        fn = rng.choice(enc.FUNCS)
        recs += enc.record(q, raw, e, st, ta, su, fn, size, bcd)
        want.append([q, st, ta, su, fn, raw, e])
    mode = rng.choice((0, 5, 7, 10))
    key = bytes(rng.randrange(256) for _ in range(16))
    ell_ctr = mode == 0 and rng.random() < 0.5
    man = rng.choice(("KAM", "ELS", "DME", "QDS", "ZRI"))
    ident = f"{rng.randrange(10 ** 8):08d}"
    counter = rng.randrange(1, 1 << 32)
    frame = enc.telegram(man, ident, rng.randrange(256), rng.choice((2, 3, 4, 7, 8)), recs,
                         mode=mode, key=key, acc=rng.randrange(256),
                         long_tpl=rng.random() < 0.3, counter=counter,
                         ell=rng.random() < 0.3, ell_ctr=ell_ctr)
    fmt = rng.choice(("A", "B", "none", "auto"))
    if fmt == "A" or (fmt == "auto" and rng.random() < 0.5):
        hexs = enc.add_crc_a(frame).hex()
    elif fmt == "B":
        hexs = enc.add_crc_b(frame).hex()
    else:
        hexs = frame.hex()
    return {"hex": hexs, "key": key.hex() if (mode or ell_ctr) else None, "fmt": fmt,
            "want": want, "mode": mode, "meter": f"{man}-{ident}", "ell": ell_ctr,
            "counter": counter if mode in (7, 10) else None}


def _run(mpy, tmp_path, cases):
    f = tmp_path / "cases.jsonl"
    f.write_text("".join(json.dumps(c) + "\n" for c in cases))
    script = tmp_path / "batch.py"
    script.write_text(BATCH)
    out = mpy.run(script=script, args=[f], heapsize="1M", timeout=120)
    return [json.loads(x) for x in out.strip().splitlines()]


def test_random_telegrams_roundtrip(mpy, tmp_path):
    rng = random.Random(4)
    cases = [_random_case(rng) for _ in range(150)]
    got = _run(mpy, tmp_path, cases)
    assert len(got) == len(cases)
    for c, g in zip(cases, got):
        assert "error" not in g, (c, g)
        assert g["meter"] == c["meter"]
        assert g["mode"] == c["mode"]
        assert g["ell"] == c["ell"]
        assert g["counter"] == c["counter"]
        assert g["records"] == c["want"], c
        assert g["crc_ok"] is (True if c["hex"] != "" and c["fmt"] in ("A", "B") else
                               g["crc_ok"])
        if c["mode"] in (7, 10):
            assert g["mac_ok"] is True
    # the random mix covered every mode and several frame formats
    assert {c["mode"] for c in cases} == {0, 5, 7, 10}
    assert any(c["ell"] for c in cases)


def test_wrong_key_and_bit_flips_are_errors(mpy, tmp_path):
    rng = random.Random(7)
    cases = []
    for _ in range(40):
        c = _random_case(rng)
        if c["key"] is None:
            continue
        bad = dict(c, key=bytes(16).hex())
        cases.append(bad)
    got = _run(mpy, tmp_path, cases)
    for c, g in zip(cases, got):
        assert g.get("error") in ("decrypt", "mac"), (c, g)


FRAG = r"""
import sys, json
from wmbus import WmbusError
from wmbus.telegram import decode
frags = {}
key = bytes(range(16))
for line in sys.stdin:
    try:
        t = decode(bytes.fromhex(line.strip()), lambda m: key, "none", False, frags)
        print(json.dumps({"incomplete": t.get("incomplete"), "mac_ok": t["mac_ok"],
                          "n": t.get("fragments"),
                          "raw": [r["raw"] for r in t["records"]]}))
    except WmbusError as e:
        print(json.dumps({"error": e.layer, "reason": e.reason}))
"""


def test_afl_fragments_reassembled(mpy):
    recs = b"".join(enc.record("volume", 1000 + i, -3, storage=i) for i in range(12))
    frames = enc.fragmented("ELS", "12345678", 1, 3, recs, bytes(range(16)), counter=99,
                            pieces=3)
    assert len(frames) == 3
    seq = [*frames, frames[1], frames[0], frames[2]]  # complete; then an out-of-order one
    out = mpy.run(FRAG, input="".join(f.hex() + "\n" for f in seq))
    got = [json.loads(x) for x in out.strip().splitlines()]
    assert got[0]["incomplete"] == 1 and got[1]["incomplete"] == 2
    assert got[2]["mac_ok"] is True and got[2]["n"] == 3
    assert got[2]["raw"] == [1000 + i for i in range(12)]
    assert got[3] == {"error": "afl", "reason": "fragment 2 out of order"}
    assert got[4]["incomplete"] == 1
    assert got[5]["error"] == "afl"  # fragment 3 without fragment 2

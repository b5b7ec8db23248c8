# Fuzz targets for the LMN parsers, run inside MicroPython (tests and `bench_lmn`).
# Random and mutated inputs; only the documented error type may escape, no hang.
import random
import binascii
import json
import os

from lmn import hdlc, sml


def _vectors(name):
    base = os.getenv("GW_VECTORS") or "../shared/vectors"
    out = []
    with open(base + "/" + name) as f:
        for line in f:
            if line.strip():
                out.append(binascii.unhexlify(json.loads(line)["hex"]))
    return out


def _mutate(b, rnd):
    b = bytearray(b)
    k = rnd(4)
    if k == 0 and b:  # bit flips
        for _ in range(1 + rnd(4)):
            i = rnd(len(b))
            b[i] ^= 1 << rnd(8)
    elif k == 1 and b:  # truncate
        b = b[:rnd(len(b))]
    elif k == 2:  # insert random bytes
        i = rnd(len(b) + 1)
        b = b[:i] + bytes(random.getrandbits(8) for _ in range(1 + rnd(8))) + b[i:]
    else:  # overwrite a byte with an interesting value
        if b:
            b[rnd(len(b))] = (0x00, 0x01, 0x7E, 0x1B, 0x7F, 0x8F, 0xFF, 0x72)[rnd(8)]
    return bytes(b)


def _random(rnd):
    return bytes(random.getrandbits(8) for _ in range(rnd(64)))


def sml_case(data):
    try:
        kind, msgs = sml.decode(data)
        sml.readings(msgs, False)
    except sml.SmlError:
        return 1
    return 0


def sml_payload_case(data):
    try:
        sml.readings(sml.messages(data), False)
    except sml.SmlError:
        return 1
    return 0


def hdlc_case(data):
    sc = hdlc.Scanner()
    n = 0
    for i in range(0, len(data), 37):
        for f in sc.feed(data[i:i + 37]):
            n += 1
            if f.kind in ("SNRM", "UA"):
                try:
                    hdlc.parameters(f.info)
                except hdlc.HdlcError:
                    pass
    return n


def run(n, seed=1):
    """n cases per parser; returns counts. Raises whatever else escapes (a bug)."""
    random.seed(seed)

    def rnd(k):
        return random.getrandbits(16) % k if k else 0

    smlv = _vectors("sml_telegrams.jsonl")
    hdlcv = _vectors("hdlc_frames.jsonl")
    stream = b"".join(hdlcv)
    res = {"sml": 0, "sml_errors": 0, "hdlc": 0, "hdlc_frames": 0}
    for i in range(n):
        if i % 8 == 0:
            d = _random(rnd)
        else:
            d = smlv[rnd(len(smlv))]
            for _ in range(1 + rnd(3)):
                d = _mutate(d, rnd)
        res["sml_errors"] += sml_case(d)
        if i % 2:
            sml_payload_case(d[8:])
        res["sml"] += 1
        if i % 8 == 0:
            d = _random(rnd)
        elif i % 8 == 1:
            d = _mutate(stream, rnd)
        else:
            d = hdlcv[rnd(len(hdlcv))]
            for _ in range(1 + rnd(3)):
                d = _mutate(d, rnd)
        res["hdlc_frames"] += hdlc_case(d)
        res["hdlc"] += 1
    return res

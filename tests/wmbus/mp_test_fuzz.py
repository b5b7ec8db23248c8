# Fuzzing inside MicroPython: every layer lets only WmbusError escape.
# heapsize: 1M
# timeout: 200
import os
import random

from mptest import vectors
from wmbus import WmbusError, apl, frame, phy, three_of_six
from wmbus.telegram import decode

VEC = vectors("wmbus_telegrams.jsonl")
random.seed(13)


def _only_wmbus_error(fn, *a):
    try:
        fn(*a)
        return 0
    except WmbusError:
        return 1


def _mutate(b):
    b = bytearray(b)
    k = random.getrandbits(3)
    if k == 0 and len(b) > 1:
        b = b[:random.getrandbits(8) % len(b)]
    elif k == 1:
        b.extend(os.urandom(random.getrandbits(4)))
    elif k == 2 and len(b) > 12:
        b[10] = random.getrandbits(8)  # random CI
    else:
        for _ in range(1 + random.getrandbits(2)):
            if b:
                i = random.getrandbits(16) % len(b)
                b[i] ^= 1 << random.getrandbits(3)
    return b


def test_fuzz_3of6_and_phy():
    errs = 0
    for n in range(600):
        chips = os.urandom(3 + n % 40)
        errs += _only_wmbus_error(three_of_six.decode, chips, random.getrandbits(6))
        errs += _only_wmbus_error(phy.packet_len, chips)
    assert errs > 100  # random chips are mostly invalid: the error path was exercised


def test_fuzz_frame_strip():
    errs = 0
    for n in range(800):
        b = os.urandom(1 + n % 300)
        for fmt in ("auto", "A", "B", "none"):
            errs += _only_wmbus_error(frame.strip, b, fmt)
    assert errs > 1000


def test_fuzz_apl_records():
    errs = 0
    for n in range(1500):
        b = os.urandom(1 + n % 80)
        errs += _only_wmbus_error(apl.parse, b)
        part = []
        apl.parse(b, 0, -1, part)  # partial mode never raises
    assert errs > 100


def test_fuzz_mutated_vectors_full_decode():
    errs = ok = 0
    for n in range(1500):
        v = VEC[n % len(VEC)]
        k = v.get("key")
        keys = (lambda m, k=k: bytes.fromhex(k)) if k else None
        b = _mutate(bytes.fromhex(v["hex"]))
        for fmt in ("auto", "none"):
            r = _only_wmbus_error(decode, b, keys, fmt)
            errs += r
            ok += 1 - r
    assert errs > 300 and ok > 100, (errs, ok)


def test_fuzz_random_telegram_headers():
    # plausible DLL headers with random payloads reach the deeper layers
    errs = 0
    frags = {}  # AFL reassembly state across the random telegrams
    for n in range(1500):
        body = bytearray(os.urandom(11 + n % 60))
        body[0] = len(body) - 1
        body[10] = random.choice((0x7A, 0x72, 0x78, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x90, 0x79,
                                  0xA0))
        if body[10] == 0x90 and len(body) > 14:
            body[2:10] = b"\x93\x15\x78\x56\x34\x12\x33\x03"  # one meter: fragments meet
            body[11] = random.getrandbits(3) + 2
            body[12] = random.getrandbits(2)
            body[13] = random.choice((0x40, 0x00, 0x2C, 0x6C))
        if len(body) > 14 and random.getrandbits(1):
            body[14] = random.choice((0, 5, 7, 10, 0x15))
        errs += _only_wmbus_error(decode, body, lambda m: bytes(16), "none", False, frags)
    assert errs > 200
    assert len(frags) <= 8

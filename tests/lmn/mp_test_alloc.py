# Garbage per operation on the wired-meter receive path (micropython.mem_total() deltas,
# tests/support/hotalloc.py; numbers in docs/lmn.md). Each bound is below what the code
# allocated before the hot-path cut (in brackets), so it fails on that code.
# heapsize: 1M
from hotalloc import per_call, sml_files, sml_values
from lmn import sml
from mptest import eq


def test_sml_scalars_allocate_nothing():
    # integer, signed 8-byte, boolean, absent: no tuple and no heap frame per value [200 B]
    for b, want in ((b"\x62\x05", 5), (b"\x59\xff\xff\xff\xff\xff\xff\xff\xfe", -2),
                    (b"\x42\x01", True), (b"\x01", None)):
        def f():
            sml._P = 0
            return sml._value(b, len(b), 1)

        eq(f(), want)
        eq(per_call(f, 100), 0, b)


def test_sml_list_allocates_only_the_list():
    b = b"\x72\x62\x05\x01"
    def f():
        sml._P = 0
        return sml._value(b, 4, 1)

    eq(f(), [5, None])
    assert per_call(f, 100) <= 64  # the list object and its items [416 B]


def test_sml_bytes_per_value():
    files = sml_files()
    nv = sml_values(files)

    def dec():
        for b in files:
            sml.readings(sml.decode(b)[1])

    per = per_call(dec, 3) // nv
    print("SML bytes per value", per)
    assert per <= 120, per  # lists, octet strings, message and reading dicts [318 B]


def test_crc_offset_matches_reference():
    import random

    from lmn import crc

    random.seed(5)
    b = bytes(random.getrandbits(8) for _ in range(300))
    for _ in range(200):
        off = random.getrandbits(8)
        n = random.getrandbits(8) % (301 - off) if off <= 300 else 0
        for init in (0, 0xFFFF):
            eq(crc.update(init, b, n, off), crc.update_ref(init, b, n, off), (off, n))
        eq(crc.x25(b, n, off), crc.x25(b[off:off + n]))
        eq(crc.kermit(b, n, off), crc.kermit(memoryview(b)[off:off + n]))
    eq(per_call(lambda: crc.x25(b, 100, 7), 100), 0)  # [a memoryview slice per part: 64 B]


def test_hdlc_bytes_per_frame():
    from hotalloc import hdlc_frames
    from lmn import hdlc

    rr = bytes(hdlc_frames()[1])
    b = bytearray(rr)
    # the Frame and its address bytes; was a tuple from header(), two memoryviews for the
    # CRCs, a heap frame each for decode_at/header and 13 instance attributes [1812 B]
    n = per_call(lambda: hdlc.decode_at(b, 0, len(b)), 100)
    print("HDLC RR frame decode_at", n)
    assert n <= 500, n
    frames = hdlc_frames()
    sc = hdlc.Scanner()
    stream = b"".join(frames)
    eq([f.kind for f in sc.feed(stream)], ["I", "UA", "I"])
    n = per_call(lambda: sc.feed(stream), 50) // 3
    print("HDLC bytes per frame (Scanner.feed)", n)
    assert n <= 1300, n  # includes a 200-byte information field [2415 B]

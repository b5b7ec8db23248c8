# Fuzz sample at the board heap size: random and mutated SML/HDLC input; only SmlError /
# HdlcError may escape, no MemoryError, no hang. The 100k-case run is bench_lmn.
# heapsize: 128K
# timeout: 120
import gc
from mptest import eq
import lmnfuzz
from lmn import sml, hdlc


def test_fuzz_sample_at_board_heap():
    gc.collect()
    r = lmnfuzz.run(1500, seed=42)
    eq(r["sml"], 1500)
    eq(r["hdlc"], 1500)
    assert r["sml_errors"] > 300  # the mutations really break frames
    assert r["hdlc_frames"] > 100  # and some still decode


def test_adversarial_inputs():
    # deep nesting, huge list counts, endless TL continuation, huge HDLC length claims
    for data in (b"\x71" * 500, b"\x7f\xff\xff" + b"\x01" * 10, b"\x8f" * 100,
                 b"\x76" + b"\xff" * 50, b"\xf0\x80\x80\x80\x80\x80"):
        try:
            sml.messages(data)
        except sml.SmlError:
            pass
    sc = hdlc.Scanner(limit=2100)
    for i in range(50):
        sc.feed(b"\x7e\xa7\xff" + bytes(60))
    assert len(sc.buf) <= 2100 + 63
    # a frame claiming 2047 bytes whose HCS matches must be waited for, then dropped
    tr = sml.Transport(limit=1000)
    for i in range(40):
        tr.feed(b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01" + bytes(100))
    assert len(tr.buf) < 1200

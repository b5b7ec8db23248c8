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

# 3-of-6 chip coding, CRC-16/EN-13757, frame formats A and B: viper vs plain references.
# heapsize: 512K
import os

from mptest import eq, raises
from wmbus import WmbusError, frame
from wmbus import crc as wcrc
from wmbus import three_of_six as t36
from refimpl import decode_ref


def test_crc_check_values():
    eq(wcrc.crc(b"123456789"), 0xC2B7)
    eq(wcrc.crc_ref(b"123456789"), 0xC2B7)
    eq(wcrc.crc(bytes.fromhex("01FD1F01")), 0xCC22)


def test_crc_viper_equals_reference_random():
    for n in range(0, 300, 7):
        b = os.urandom(n + 3)
        eq(wcrc.crc(b, 1, n), wcrc.crc_ref(b, 1, n), n)


def test_3of6_viper_equals_reference_random():
    for n in range(1, 120, 5):
        d = os.urandom(n)
        chips = t36.encode(d)
        eq(len(chips), t36.encoded_len(n))
        eq(t36.decode(chips, n), bytearray(d))
        eq(decode_ref(chips, n), bytearray(d))


def test_3of6_known_codes_and_postamble():
    # EN 13757-4 table: 0x0 -> 010110, 0xF -> 101001; odd length ends with 0101
    eq(t36.encode(b"\x0f"), bytearray(b"\x5a\x95"))  # 010110 101001 0101
    eq(t36.encode(b"\x44"), bytearray(b"\x71\xc5"))


def test_3of6_invalid_symbol_reports_offset():
    chips = bytearray(t36.encode(bytes(range(10))))
    chips[6] = 0xFF  # in the 5th/6th byte
    with raises(WmbusError) as r:
        t36.decode(chips, 10)
    eq(r.value.layer, "3of6")
    eq(r.value.reason, "invalid symbol")
    eq(r.value.offset, 6)
    with raises(WmbusError):
        decode_ref(chips, 10)
    with raises(WmbusError):
        t36.decode(chips[:4], 10)  # too short


def test_3of6_preallocated_output():
    out = bytearray(64)
    d = os.urandom(20)
    t36.decode_into(t36.encode(d), 0, out, 20)
    eq(bytes(out[:20]), d)


def _add_crc_a(plain):
    out = bytearray()
    p = 0
    blk = 10
    while p < len(plain):
        b = plain[p:p + blk]
        c = wcrc.crc_ref(b)
        out += b + bytes((c >> 8, c & 0xFF))
        p += blk
        blk = 16
    return out


def test_frame_a_roundtrip_and_crc_error():
    for n in (10, 11, 25, 26, 27, 100):
        plain = bytearray(os.urandom(n))
        plain[0] = n - 1
        a = _add_crc_a(plain)
        eq(len(a), frame.len_a(n - 1))
        eq(frame.strip(a, "A"), (plain, True, "A"))
        eq(frame.strip(a, "auto")[0], plain)
        bad = bytearray(a)
        bad[-1] ^= 0x40
        with raises(WmbusError) as r:
            frame.strip(bad, "A")
        eq(r.value.layer, "frame")
    eq(frame.strip(plain, "auto"), (plain, None, "none"))


def test_frame_b_short_and_long():
    for n in (20, 126, 140, 250):
        plain = bytearray(os.urandom(n))
        plain[0] = n + (1 if n <= 126 else 3)
        if n <= 126:
            c = wcrc.crc_ref(plain[:n])
            b = plain + bytes((c >> 8, c & 0xFF))
        else:
            c1 = wcrc.crc_ref(plain[:126])
            c2 = wcrc.crc_ref(plain[126:])
            b = plain[:126] + bytes((c1 >> 8, c1 & 0xFF)) + plain[126:] + bytes(
                (c2 >> 8, c2 & 0xFF))
        eq(b[0], len(b) - 1)
        out, ok, fmt = frame.strip(b, "B")
        eq(ok, True)
        eq(out[1:], plain[1:])
        eq(out[0], n - 1)
        bad = bytearray(b)
        bad[5] ^= 1
        with raises(WmbusError):
            frame.strip(bad, "B")


def test_frame_truncated():
    with raises(WmbusError):
        frame.strip(b"\x20" + bytes(15), "none")
    with raises(WmbusError):
        frame.strip(b"\x20" + bytes(5), "auto")


def test_tables_in_the_image_equal_computed_ones():
    from wmbus import crc, three_of_six

    dec = bytearray(b"\xff" * 64)
    for i in range(16):
        dec[three_of_six.CODES[i]] = i
    eq(three_of_six._DEC, bytes(dec))
    t = bytearray(512)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x3D65) if c & 0x8000 else (c << 1)
        t[2 * i] = c & 0xFF
        t[2 * i + 1] = (c >> 8) & 0xFF
    for i in range(256):  # crc of one byte b from state 0 = table[b] ^ 0xFFFF
        eq(crc.crc(bytes((i,))), (t[2 * i] | (t[2 * i + 1] << 8)) ^ 0xFFFF, i)

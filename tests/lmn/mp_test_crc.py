# CRC-16 (X.25 / KERMIT): check values and viper vs plain reference on random inputs.
# heapsize: 256K
import random
from mptest import eq
from lmn import crc


def test_check_values():
    eq(crc.x25(b"123456789"), 0x906E)
    eq(crc.kermit(b"123456789"), 0x2189)
    eq(crc.x25(b""), 0)
    # HDLC FCS of a real SNRM frame (vector 1): 7E A0 08 02 23 21 93 [BD 64] 7E
    eq(crc.x25(bytes.fromhex("a00802232193")), 0x64BD)


def test_viper_matches_reference_on_random_inputs():
    random.seed(3)
    for n in list(range(0, 40)) + [255, 256, 257, 1000]:
        b = bytes(random.getrandbits(8) for _ in range(n))
        for init in (0, 0xFFFF, random.getrandbits(16)):
            eq(crc.update(init, b), crc.update_ref(init, b), "n=%d" % n)


def test_partial_buffers_and_memoryview():
    b = bytearray(random.getrandbits(8) for _ in range(300))
    mv = memoryview(b)
    for a, z in ((0, 300), (5, 17), (100, 299), (7, 7)):
        eq(crc.x25(mv[a:z]), crc.update_ref(0xFFFF, b[a:z]) ^ 0xFFFF)
    eq(crc.x25(b, 10), crc.x25(b[:10]))


def test_detects_single_bit_errors():
    b = bytearray(b"SML and HDLC frames")
    c = crc.x25(b)
    for i in range(len(b) * 8):
        b[i // 8] ^= 1 << (i % 8)
        assert crc.x25(b) != c
        b[i // 8] ^= 1 << (i % 8)


def test_table_literal_is_the_polynomial_table():
    # crc._TABLE is a bytes literal (heap-free in the ROMFS image): it must be the table
    # of the reflected CCITT polynomial 0x8408, uint16 little endian
    t = crc._TABLE
    assert isinstance(t, bytes)
    eq(len(t), 512)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        eq(t[2 * i] | t[2 * i + 1] << 8, c, i)

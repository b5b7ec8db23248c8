"""CRC-16/EN-13757 (wM-Bus data link layer, EN 13757-4 / EN 60870-5-1 style blocks).

Polynomial 0x3D65, not reflected, init 0, xorout 0xFFFF; check "123456789" -> 0xC2B7.
The CRC is stored most significant byte first after each block. `crc(buf, off, n)` is
the viper hot path over a preallocated 256-entry table; `crc_ref` the bitwise reference.
"""
import micropython


def _make_table():
    t = bytearray(512)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x3D65) if c & 0x8000 else (c << 1)
        c &= 0xFFFF
        t[2 * i] = c & 0xFF
        t[2 * i + 1] = c >> 8
    return t


_TABLE = _make_table()  # 256 x uint16 little endian


@micropython.viper
def _crc(table: ptr16, buf: ptr8, off: int, n: int) -> int:
    c = 0
    i = off
    end = off + n
    while i < end:
        c = ((c << 8) & 0xFFFF) ^ table[((c >> 8) ^ buf[i]) & 0xFF]
        i += 1
    return (c ^ 0xFFFF) & 0xFFFF


def crc(buf, off=0, n=-1):
    """CRC-16/EN-13757 of buf[off:off+n] (to the end if n < 0)."""
    if n < 0:
        n = len(buf) - off
    if off < 0 or off + n > len(buf):
        raise ValueError("crc range")
    return _crc(_TABLE, buf, off, n)


def crc_ref(buf, off=0, n=-1):
    """Plain bitwise reference of crc()."""
    if n < 0:
        n = len(buf) - off
    c = 0
    for i in range(off, off + n):
        c ^= buf[i] << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x3D65) if c & 0x8000 else (c << 1)
            c &= 0xFFFF
    return c ^ 0xFFFF

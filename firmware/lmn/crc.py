"""CRC-16 for the LMN: X.25 (HDLC HCS/FCS, SML) and the KERMIT variant some meters use.

Both are the reflected CCITT polynomial 0x1021 (0x8408 reflected); they differ only in
init/xorout: X.25 = init 0xFFFF, xorout 0xFFFF (check "123456789" -> 0x906E, RFC 1662
appendix C, ISO/IEC 13239); KERMIT = init 0, xorout 0 (check 0x2189; a Holley DTZ541 on
RS485 sends it high byte first, see ../shared/vectors/README.md).

`update(crc, buf, n)` is the viper hot path over a preallocated 256-entry table;
`update_ref` is the plain reference the tests compare it with on random inputs.
Pass a memoryview to checksum part of a buffer without copying.
"""
import micropython


def _make_table():
    t = bytearray(512)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t[2 * i] = c & 0xFF
        t[2 * i + 1] = c >> 8
    return t


_TABLE = _make_table()  # 256 x uint16, little endian (ESP32, RP2040 and x64 all are)


@micropython.viper
def _update(table: ptr16, crc: int, buf: ptr8, n: int) -> int:
    c = crc & 0xFFFF
    i = 0
    while i < n:
        c = (c >> 8) ^ table[(c ^ buf[i]) & 0xFF]
        i += 1
    return c & 0xFFFF


def update(crc, buf, n=-1):
    """Raw reflected CRC register update over the first n bytes of buf (all if n < 0)."""
    if n < 0:
        n = len(buf)
    return _update(_TABLE, crc, buf, n)


def update_ref(crc, buf, n=-1):
    """Plain-Python reference of update() (bitwise, no table)."""
    if n < 0:
        n = len(buf)
    c = crc & 0xFFFF
    for i in range(n):
        c ^= buf[i]
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
    return c


def x25(buf, n=-1):
    """CRC-16/X.25 (a.k.a. CRC-16/IBM-SDLC, HDLC FCS) of buf[:n]."""
    if n < 0:
        n = len(buf)
    return _update(_TABLE, 0xFFFF, buf, n) ^ 0xFFFF


def kermit(buf, n=-1):
    """CRC-16/KERMIT of buf[:n]."""
    if n < 0:
        n = len(buf)
    return _update(_TABLE, 0, buf, n)

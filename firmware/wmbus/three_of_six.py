"""3-out-of-6 chip coding of wM-Bus mode T (EN 13757-4, 9.2.2 table 10).

Every nibble (high nibble first) becomes a 6-chip code word with three ones; two bytes
are three encoded bytes. An odd byte count ends with 12 chips and a 4-chip postamble
(0101) to fill the last byte. Decoding is a 64-entry table lookup in viper into a
preallocated output buffer; an invalid code word raises WmbusError("3of6", ...) with the
chip-byte offset. The plain reference the tests compare with is in tests/wmbus/refimpl.py
(not loaded on the gateway).
"""
import micropython

from wmbus import WmbusError

CODES = b"\x16\x0d\x0e\x0b\x1c\x19\x1a\x13\x2c\x25\x26\x23\x34\x31\x32\x29"

# chip code word (6 bits) -> nibble, 0xFF = invalid: the inverse of CODES, as bytes (in the
# image, not a bytearray built at import)
_DEC = (
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x03\xff\x01\x02\xff"
    b"\xff\xff\xff\x07\xff\xff\x00\xff\xff\x05\x06\xff\x04\xff\xff\xff"
    b"\xff\xff\xff\x0b\xff\x09\x0a\xff\xff\x0f\xff\xff\x08\xff\xff\xff"
    b"\xff\x0d\x0e\xff\x0c\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
)


def encoded_len(n):
    """Chip bytes needed for n data bytes."""
    return (3 * n + 1) // 2


@micropython.viper
def _decode(tab: ptr8, src: ptr8, soff: int, dst: ptr8, n: int) -> int:
    """Decode n bytes into dst; return -1 or the index of the first bad byte pair."""
    i = 0
    s = soff
    while i < n:
        w = (src[s] << 16) | (src[s + 1] << 8)
        if i + 1 < n:
            w |= src[s + 2]
        a = tab[(w >> 18) & 0x3F]
        b = tab[(w >> 12) & 0x3F]
        if (a | b) & 0xF0:
            return i
        dst[i] = (a << 4) | b
        if i + 1 < n:
            a = tab[(w >> 6) & 0x3F]
            b = tab[w & 0x3F]
            if (a | b) & 0xF0:
                return i + 1
            dst[i + 1] = (a << 4) | b
        i += 2
        s += 3
    return -1


def decode_into(chips, off, out, n):
    """Decode n data bytes from chips[off:] into out[:n] (preallocated)."""
    if n < 0 or off < 0 or off + encoded_len(n) > len(chips) or len(out) < n:
        raise WmbusError("3of6", "short chip buffer", off)
    bad = _decode(_DEC, chips, off, out, n)
    if bad >= 0:
        raise WmbusError("3of6", "invalid symbol", off + bad * 3 // 2)
    return out


def decode(chips, n=-1):
    """Decode n bytes (all whole bytes in chips if n < 0); returns a new bytearray."""
    if n < 0:
        n = len(chips) * 2 // 3
    return decode_into(chips, 0, bytearray(n), n)


def encode(data):
    """Data bytes -> chip bytes (with the 0101 postamble fill when len is odd)."""
    out = bytearray(encoded_len(len(data)))
    acc = 0
    bits = 0
    j = 0
    for b in data:
        acc = (acc << 12) | (CODES[b >> 4] << 6) | CODES[b & 15]
        bits += 12
        while bits >= 8:
            bits -= 8
            out[j] = (acc >> bits) & 0xFF
            j += 1
    if bits:
        out[j] = ((acc << (8 - bits)) | (0x5 if bits == 4 else 0)) & 0xFF
    return out

# Plain-Python references of the viper routines in crypto.xor and wmbus.three_of_six
# (the tests compare them on random inputs; kept here, not in firmware/, so that the
# gateway does not load them: ~66 B of heap per function on x64).
from wmbus import WmbusError
from wmbus.three_of_six import CODES


def xor_into_ref(dst, doff, a, aoff, b, boff, n):
    for i in range(n):
        dst[doff + i] = a[aoff + i] ^ b[boff + i]


def counters_ref(out, block, n, width):
    for b in range(n):
        out[b * 16:b * 16 + 16] = block
        i = 15
        while i >= 16 - width:
            block[i] = (block[i] + 1) & 0xFF
            if block[i]:
                break
            i -= 1


def decode_ref(chips, n):
    """Plain bitwise reference of decode()."""
    out = bytearray(n)
    bits = 0
    acc = 0
    pos = 0
    nib = []
    while len(nib) < 2 * n:
        acc = (acc << 8) | chips[pos]
        pos += 1
        bits += 8
        while bits >= 6 and len(nib) < 2 * n:
            bits -= 6
            code = (acc >> bits) & 0x3F
            v = CODES.find(bytes((code,)))
            if v < 0:
                raise WmbusError("3of6", "invalid symbol", pos - 1)
            nib.append(v)
    for i in range(n):
        out[i] = (nib[2 * i] << 4) | nib[2 * i + 1]
    return out


def with_crc_a(plain):
    """Frame format A on the air: the frame (L first) in a 10-byte first block and 16-byte
    blocks, each followed by its CRC-16/EN-13757, most significant byte first."""
    from wmbus.crc import crc

    out = bytearray()
    p, blk = 0, 10
    while p < len(plain):
        b = plain[p:p + blk]
        c = crc(b)
        out += b + bytes((c >> 8, c & 0xFF))
        p += blk
        blk = 16
    return bytes(out)

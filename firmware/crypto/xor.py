"""Viper glue for the block-cipher modes: XOR, big-endian counter blocks, tag compare.

Each viper routine has a plain-Python reference the tests compare it with
(tests/wmbus/refimpl.py: not loaded on the gateway).
The word-wise variants (`_xor32`, `_counters32`) need 4-byte aligned buffers: only
bytearrays (their data is a separate, aligned heap block on every port) with offsets
that are multiples of 4 take that path - Cortex-M0+ (RP2040) faults on unaligned words.
"""
import micropython


@micropython.viper
def _xor8(dst: ptr8, doff: int, a: ptr8, aoff: int, b: ptr8, boff: int, n: int):
    i = 0
    while i < n:
        dst[doff + i] = a[aoff + i] ^ b[boff + i]
        i += 1


@micropython.viper
def _xor32(dst: ptr32, a: ptr32, b: ptr32, n: int):
    """Word XOR of n words (unrolled by 4); the callers pass offset memoryviews."""
    i = 0
    m = n - 3
    while i < m:
        dst[i] = a[i] ^ b[i]
        dst[i + 1] = a[i + 1] ^ b[i + 1]
        dst[i + 2] = a[i + 2] ^ b[i + 2]
        dst[i + 3] = a[i + 3] ^ b[i + 3]
        i += 4
    while i < n:
        dst[i] = a[i] ^ b[i]
        i += 1


def xor_into(dst, doff, a, aoff, b, boff, n):
    """dst[doff+i] = a[aoff+i] ^ b[boff+i] for i < n (dst may alias a or b)."""
    if n >= 64 and (type(dst) is bytearray and type(a) is bytearray and type(b) is bytearray
                    and not (doff | aoff | boff) & 3):
        w = n >> 2
        _xor32(memoryview(dst)[doff:], memoryview(a)[aoff:], memoryview(b)[boff:], w)
        w <<= 2
        if w < n:
            _xor8(dst, doff + w, a, aoff + w, b, boff + w, n - w)
    else:
        _xor8(dst, doff, a, aoff, b, boff, n)


@micropython.viper
def _counters32(out: ptr32, blk: ptr32, block: ptr8, n: int, width: int):
    """n counter blocks from `block` (aligned bytearray), the last `width` bytes count."""
    p = 0
    end = n * 4
    while p < end:
        out[p] = blk[0]
        out[p + 1] = blk[1]
        out[p + 2] = blk[2]
        out[p + 3] = blk[3]
        i = 15
        v = block[15] + 1
        block[15] = v & 0xFF
        while v > 0xFF and i > 16 - width:
            i -= 1
            v = block[i] + 1
            block[i] = v & 0xFF
        p += 4


def counters(out, block, n, width):
    """Write n counter blocks to out: block, block+1, ... (block is advanced in place)."""
    if type(out) is not bytearray or type(block) is not bytearray:
        raise TypeError("counters: bytearrays")
    _counters32(out, block, block, n, width)


@micropython.viper
def equal(a: ptr8, b: ptr8, n: int) -> int:
    """Constant-time comparison of a[:n] and b[:n]: 1 if equal."""
    d = 0
    i = 0
    while i < n:
        d |= a[i] ^ b[i]
        i += 1
    return 1 if d == 0 else 0

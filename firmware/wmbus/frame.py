"""Data link frame formats of EN 13757-4 (annex/clause "frame format A" and "B").

Format A (T1 and C1): L counts the bytes after L without CRCs. Block 1 = 10 bytes
(L C M M A A A A A A) + CRC; then 16-byte blocks + CRC, the last one shorter.
Format B (C1 only): L counts every byte after L including the CRCs. Block 1+2 = up to
126 data bytes + CRC (so at most 128 bytes); block 3 = the rest + CRC.
CRC-16/EN-13757 (wmbus.crc), stored most significant byte first.

`strip(buf, fmt)` -> (frame without CRCs, crc_ok, fmt) where fmt is "A", "B" or "none";
`fmt="auto"` tries A and B (a CRC that verifies) and then "no CRCs" (len == L + 1).
The returned frame always has A-semantics (len == L + 1 after rewriting L).
"""
from texts import msg
from wmbus import WmbusError
from wmbus.crc import crc

# error texts, msg(_E, i) (one string constant: RAM)
_E = const(("length does not match L for format A"  # 0
      "|CRC error (format A)"  # 1
      "|length does not match L for format B"  # 2
      "|CRC error (format B)"  # 3
      "|CRC error (format B block 2)"  # 4
      "|format B block 3 too short"  # 5
      "|CRC error (format B block 3)"  # 6
      "|shorter than a data link header"  # 7
      "|truncated: L=%d, %d bytes"  # 8
      "|unknown frame format "  # 9
      "|length matches neither L+1 nor format A/B with CRCs"))  # 10


def len_a(l_field):
    """Total on-air bytes of a format A frame with CRCs."""
    if l_field < 9:
        return -1
    return l_field + 1 + 2 * (1 + (l_field - 9 + 15) // 16)


def len_b(l_field):
    """Total on-air bytes of a format B frame (L already counts the CRCs)."""
    return l_field + 1


def _strip_a(buf):
    # few locals (a bytecode frame beyond 11 words comes from the heap on every call)
    out = bytearray(buf[0] + 1)
    if len_a(buf[0]) != len(buf):
        _error(0, 0)  # length does not match L for format A
    p = 0
    o = 0
    k = 10  # block 1, then 16-byte blocks
    while p < len(buf):
        k = min(k, len(out) - o)
        if not _crc_ok(buf, p, k):
            _error(1, p + k)  # CRC error (format A)
        out[o:o + k] = buf[p:p + k]
        o += k
        p += k + 2
        k = 16
    return out


def _crc_ok(buf, p, k):
    """The CRC after buf[p:p+k] (most significant byte first) is right."""
    c = crc(buf, p, k)
    return (buf[p + k] << 8) | buf[p + k + 1] == c


def _error(i, offset):
    raise WmbusError("frame", msg(_E, i), offset)


def _strip_b(buf):
    n = len(buf)
    if len_b(buf[0]) != n or n < 12:
        raise WmbusError("frame", msg(_E, 2), 0)  # length does not match L for format B
    if n <= 128:
        k = n - 2
        if (buf[k] << 8) | buf[k + 1] != crc(buf, 0, k):
            raise WmbusError("frame", msg(_E, 3), k)  # CRC error (format B)
        out = bytearray(buf[:k])
    else:
        if (buf[126] << 8) | buf[127] != crc(buf, 0, 126):
            raise WmbusError("frame", msg(_E, 4), 126)  # CRC error (format B block 2)
        if n < 131:
            raise WmbusError("frame", msg(_E, 5), 128)  # format B block 3 too short
        if (buf[n - 2] << 8) | buf[n - 1] != crc(buf, 128, n - 130):
            raise WmbusError("frame", msg(_E, 6), n - 2)  # CRC error (format B block 3)
        out = bytearray(buf[:126])
        out.extend(buf[128:n - 2])
    out[0] = len(out) - 1
    return out


def strip(buf, fmt="auto"):
    """Remove the block CRCs; see the module docstring. Raises WmbusError("frame")."""
    if len(buf) < 11:
        raise WmbusError("frame", msg(_E, 7), len(buf))  # shorter than a data link header
    if fmt == "A":
        return _strip_a(buf), True, "A"
    if fmt == "B":
        return _strip_b(buf), True, "B"
    if fmt == "none":
        if buf[0] + 1 > len(buf):
            raise WmbusError("frame", msg(_E, 8) % (buf[0], len(buf)), 0)
        return bytearray(buf[:buf[0] + 1]), None, "none"
    if fmt != "auto":
        raise WmbusError("frame", msg(_E, 9) + str(fmt))  # unknown frame format 
    first = None  # (A, then B, without a tuple of candidates per frame)
    if len_a(buf[0]) == len(buf):
        try:
            return _strip_a(buf), True, "A"
        except WmbusError as e:
            first = e
    if len_b(buf[0]) == len(buf):
        try:
            return _strip_b(buf), True, "B"
        except WmbusError as e:
            first = first or e
    if buf[0] + 1 == len(buf):
        return bytearray(buf), None, "none"
    if first:
        raise first
    raise WmbusError("frame", msg(_E, 10), 0)

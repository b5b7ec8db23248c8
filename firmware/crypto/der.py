"""DER (ITU-T X.690 distinguished encoding) for the few ASN.1 types CMS/X.509 need.

Encoder: small functions that return bytes (`seq(integer(1), oid("1.2.3"))`).
Decoder: `read(buf, off)` -> (tag, start, end) over a bytes/memoryview, strict DER:
definite lengths only, minimal length octets, no trailing data where a whole value is
expected. Every decoding problem raises DerError(reason, offset) and nothing else.
Tags are the single identifier octet (low tag numbers < 31 are all CMS/X.509 use).
"""

from texts import msg

# tags (underscore constants: no names at run time; callers use the numbers)
_INTEGER = const(0x02)
_BIT_STRING = const(0x03)
_OCTET_STRING = const(0x04)
_OID = const(0x06)
_UTCTIME = const(0x17)
_GENTIME = const(0x18)
_SEQUENCE = const(0x30)
_SET = const(0x31)


# decoding problems, msg(_T, i): one string constant instead of a heap string each (RAM,
# texts.py); DerError takes the number or a text
_T = const("truncated header|high tag number|indefinite length|bad length|non-minimal length"
           "|truncated value|trailing data|empty integer|non-minimal integer"
           "|non-minimal oid arc|tag %02x, expected %02x")

_E_HEADER = const(0)
_E_HIGH_TAG = const(1)
_E_INDEFINITE = const(2)
_E_LENGTH = const(3)
_E_LONG_LENGTH = const(4)
_E_VALUE = const(5)
_E_TRAILING = const(6)
_E_EMPTY_INT = const(7)
_E_LONG_INT = const(8)
_E_LONG_ARC = const(9)
_E_TAG = const(10)


class DerError(ValueError):
    def __init__(self, reason, offset=0):
        if isinstance(reason, int):
            reason = msg(_T, reason)
        super().__init__("%s at %d" % (reason, offset))
        self.reason = reason
        self.offset = offset


# ---- encoder ---------------------------------------------------------------------------
def _len(n):
    if n < 0x80:
        return bytes((n,))
    b = n.to_bytes((len(bin(n)) + 5) // 8, "big")  # bin(n) = "0b" + bits
    return bytes((0x80 | len(b),)) + b


def tlv(tag, content):
    return bytes((tag,)) + _len(len(content)) + content


def seq(*items):
    return tlv(_SEQUENCE, b"".join(items))


def set_of(*items):
    """SET OF: DER orders the encoded elements as octet strings (X.690 11.6)."""
    return tlv(_SET, b"".join(sorted(items)))


def integer(n):
    """Two's complement, minimal octets (X.690 8.3)."""
    if n >= 0:
        b = n.to_bytes((len(bin(n)) - 2) // 8 + 1, "big")
    else:
        m = -n - 1
        b = bytes(x ^ 0xFF for x in m.to_bytes((len(bin(m)) - 2) // 8 + 1, "big"))
    return tlv(_INTEGER, b)


def octets(b):
    return tlv(_OCTET_STRING, bytes(b))


def bits(b, unused=0):
    return tlv(_BIT_STRING, bytes((unused,)) + bytes(b))


def _arc(v):
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def oid(dotted):
    a = [int(x) for x in dotted.split(".")]
    if len(a) < 2 or a[0] > 2 or (a[0] < 2 and a[1] > 39):
        raise DerError("bad oid " + dotted)
    return tlv(_OID, _arc(a[0] * 40 + a[1]) + b"".join(_arc(x) for x in a[2:]))


def ctx(n, content, constructed=True):
    """Context-specific tag [n]: explicit (constructed, content = encoded value) or
    implicit primitive (content = the value octets)."""
    return tlv((0xA0 if constructed else 0x80) | n, content)


def utctime(t):
    """UTCTime YYMMDDHHMMSSZ for UTC seconds t (RFC 5280 4.1.2.5.1: years 1950-2049)."""
    import time

    # MicroPython's epoch is 1970 on the unix port and on 1.2x boards (MICROPY_EPOCH_IS_1970)
    y, mo, d, h, mi, s = time.gmtime(int(t))[:6]
    return tlv(_UTCTIME, ("%02d%02d%02d%02d%02d%02dZ" % (y % 100, mo, d, h, mi, s)).encode())


# ---- decoder ---------------------------------------------------------------------------
def read(buf, off=0, end=None):
    """Header at `off`: returns (tag, start, stop) with buf[start:stop] the content."""
    if end is None:
        end = len(buf)
    if off + 2 > end:
        raise DerError(_E_HEADER, off)
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        raise DerError(_E_HIGH_TAG, off)
    n = buf[off + 1]
    p = off + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0:
            raise DerError(_E_INDEFINITE, off)
        if k > 4 or p + k > end:
            raise DerError(_E_LENGTH, off)
        n = 0
        for i in range(k):
            n = (n << 8) | buf[p + i]
        if n < 0x80 or buf[p] == 0:
            raise DerError(_E_LONG_LENGTH, off)
        p += k
    if p + n > end:
        raise DerError(_E_VALUE, off)
    return tag, p, p + n


def items(buf, start, stop):
    """The (tag, start, stop, header_offset) of each element inside a constructed value."""
    out = []
    p = start
    while p < stop:
        t, s, e = read(buf, p, stop)
        out.append((t, s, e, p))
        p = e
    return out


def whole(buf, tag=None):
    """Decode one complete value spanning all of buf; returns (tag, start, stop)."""
    t, s, e = read(buf, 0)
    if e != len(buf):
        raise DerError(_E_TRAILING, e)
    if tag is not None and t != tag:
        raise DerError(msg(_T, _E_TAG) % (t, tag), 0)
    return t, s, e


def to_int(buf, s, e):
    if e <= s:
        raise DerError(_E_EMPTY_INT, s)
    if e - s > 1 and ((buf[s] == 0 and buf[s + 1] < 0x80) or
                      (buf[s] == 0xFF and buf[s + 1] >= 0x80)):
        raise DerError(_E_LONG_INT, s)
    n = int.from_bytes(bytes(buf[s:e]), "big")
    if buf[s] & 0x80:
        n -= 1 << (8 * (e - s))
    return n


def to_oid(buf, s, e):
    if e <= s or buf[e - 1] & 0x80:
        raise DerError("bad oid", s)
    arcs = []
    v = 0
    for i in range(s, e):
        b = buf[i]
        if v == 0 and b == 0x80:
            raise DerError(_E_LONG_ARC, i)
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    first = arcs[0]
    head = [0, first] if first < 40 else ([1, first - 40] if first < 80 else [2, first - 80])
    return ".".join(str(x) for x in head + arcs[1:])


def to_time(buf, s, e, tag):
    """UTCTime/GeneralizedTime 'Z' forms -> UTC seconds."""
    try:
        txt = bytes(buf[s:e]).decode()
        if tag == _UTCTIME and len(txt) == 13 and txt[-1] == "Z":
            y = int(txt[0:2])
            y += 2000 if y < 50 else 1900
            r = txt[2:12]
        elif tag == _GENTIME and len(txt) == 15 and txt[-1] == "Z":
            y = int(txt[0:4])
            r = txt[4:14]
        else:
            raise ValueError
        mo, d, h, mi, sec = (int(r[i:i + 2]) for i in range(0, 10, 2))
    except (ValueError, UnicodeError):
        raise DerError("bad time", s)
    # days from civil (H. Hinnant), independent of the port's epoch
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + sec

"""HDLC frames as profiled for meters by IEC 62056-46 (DLMS/COSEM) on ISO/IEC 13239.

Frame (frame format type 3):
  7E | format(2) | dest addr (1,2,4) | src addr (1,2,4) | control | [HCS(2) info] | FCS(2) | 7E
- format = 1010 S LLL LLLLLLLL: type 0xA, S = segmentation (more segments follow),
  11-bit length of everything between the flags (format .. FCS).
- addresses: each byte carries 7 bits, bit 0 = 1 marks the last byte. A 2-byte server
  address is (upper = logical device, lower = physical); a 4-byte one carries 14 bits each.
  Decoded here as a list of ints per IEC 62056-46 8.4.2 (1 byte -> [a], 2 -> [u, l],
  4 -> [u14, l14]).
- control: I = N(R)<<5 | P/F<<4 | N(S)<<1; S = N(R)<<5 | P/F<<4 | 0001 (RR), 0101 (RNR);
  U = 0x83 SNRM, 0x43 DISC, 0x63 UA, 0x0F DM, 0x87 FRMR, 0x03 UI (| 0x10 for P/F).
- HCS (over format..control) only when an information field follows; FCS over
  format..end of info. Both CRC-16/X.25 stored least significant byte first.
- No byte stuffing: frames are delimited by the length field. 0x7E occurs inside real
  frames (payload and FCS); consecutive frames may share one flag.
- SNRM/UA information field (8.4.5.3.2): 81 80 <len> then parameters 05 max info
  length transmit, 06 max info length receive, 07 window transmit, 08 window receive.

Only `HdlcError(reason, offset)` escapes this module.
"""
from micropython import const

from lmn import crc as _crc
from texts import msg

FLAG = const(0x7E)
_MIN_LEN = const(7)  # format 2 + dest 1 + src 1 + control 1 + FCS 2
MAX_LEN = const(2047)

# frame kinds are the strings "I", "RR", "RNR" and these U frames (control without P/F);
# a tuple and a bytes literal instead of two dicts (~0.6 KB of heap on x64)
_U_NAMES = ("SNRM", "DISC", "UA", "DM", "FRMR", "UI")
_U_CODES = b"\x83\x43\x63\x0f\x87\x03"
# the reasons of HdlcError, one string (each literal of 10+ chars costs ~42 B at import);
# _error(i, offset) raises the i-th (0-based)
_REASONS = const("not a frame format type 3|length too short|bad destination address|"
                  "bad source address|length shorter than header|no room for HCS|frame too long|"
                  "truncated parameter|unknown S frame 0x%02x|unknown U frame 0x%02x|"
                  "bad address length|")


class HdlcError(Exception):
    """Bad HDLC input: `reason` and `offset` (byte offset, -1 unknown)."""

    def __init__(self, reason, offset=-1):
        super().__init__(reason, offset)
        self.reason = reason
        self.offset = offset


def _error(i, offset, arg=None):
    r = msg(_REASONS, i)
    raise HdlcError(r if arg is None else r % arg, offset)


class Frame:
    """One decoded frame. dest/src: lists of ints; dest_raw/src_raw the wire bytes."""

    # defaults as class attributes: an instance stores only what differs (each stored
    # attribute may grow the instance's table: 13 of them were ~1 KB of garbage per frame)
    ns = None
    nr = None
    pf = True
    info = b""
    segmented = False
    format = 0
    length = 0
    hcs_ok = None
    fcs_ok = True
    offset = 0

    def __init__(self, kind, dest_raw, src_raw, ns=None, nr=None, pf=True, info=b"",
                 segmented=False):
        self.kind = kind
        self.dest_raw = dest_raw
        self.src_raw = src_raw
        if ns is not None:
            self.ns = ns
        if nr is not None:
            self.nr = nr
        if pf is not True:
            self.pf = pf
        if info:
            self.info = info
        if segmented:
            self.segmented = segmented

    @property
    def dest(self):
        return addr_values(self.dest_raw)

    @property
    def src(self):
        return addr_values(self.src_raw)

    def control(self):
        pf = 0x10 if self.pf else 0
        k = self.kind
        if k == "I":
            return (self.nr & 7) << 5 | pf | (self.ns & 7) << 1
        if k == "RR":
            return (self.nr & 7) << 5 | pf | 0x01
        if k == "RNR":
            return (self.nr & 7) << 5 | pf | 0x05
        return _U_CODES[_U_NAMES.index(k)] | pf

    def encode(self):
        return encode(self.dest_raw, self.src_raw, self.control(), self.info, self.segmented)


def addr(values):
    """Encode an address: [a] -> 1 byte, [u, l] -> 2 bytes (7 bits each) or 4 bytes
    (14 bits each) when a part exceeds 127."""
    if len(values) == 1:
        return bytes(((values[0] & 0x7F) << 1 | 1,))
    u, l = values
    if u < 128 and l < 128:
        return bytes(((u & 0x7F) << 1, (l & 0x7F) << 1 | 1))
    return bytes((((u >> 7) & 0x7F) << 1, (u & 0x7F) << 1, ((l >> 7) & 0x7F) << 1,
                  (l & 0x7F) << 1 | 1))


def addr_values(raw):
    """Wire address (1, 2 or 4 bytes) -> list of ints; HdlcError for any other length."""
    n = len(raw)
    if n == 1:
        return [raw[0] >> 1]
    if n == 2:
        return [raw[0] >> 1, raw[1] >> 1]
    if n != 4:
        _error(10, -1)  # bad address length
    return [(raw[0] >> 1) << 7 | raw[1] >> 1, (raw[2] >> 1) << 7 | raw[3] >> 1]


def encode(dest_raw, src_raw, control, info=b"", segmented=False):
    """Build a complete frame with both flags."""
    hl = 2 + len(dest_raw) + len(src_raw) + 1
    n = hl + 2 + (len(info) + 2 if info else 0)
    if n > MAX_LEN:
        _error(6, n)  # frame too long
    out = bytearray(n + 2)
    out[0] = FLAG
    f = 0xA000 | (0x0800 if segmented else 0) | n
    out[1] = f >> 8
    out[2] = f & 0xFF
    p = 3
    out[p:p + len(dest_raw)] = dest_raw
    p += len(dest_raw)
    out[p:p + len(src_raw)] = src_raw
    p += len(src_raw)
    out[p] = control
    p += 1
    if info:
        c = _crc.x25(out, p - 1, 1)  # (at an offset: no memoryview)
        out[p] = c & 0xFF
        out[p + 1] = c >> 8
        p += 2
        out[p:p + len(info)] = info
        p += len(info)
    c = _crc.x25(out, p - 1, 1)
    out[p] = c & 0xFF
    out[p + 1] = c >> 8
    out[p + 2] = FLAG
    return out


def _addr_len(buf, p, end):
    """Length of the address starting at p (1, 2 or 4), 0 if incomplete, -1 if invalid."""
    i = 0
    while i < 4:
        if p + i >= end:
            return 0
        if buf[p + i] & 1:
            n = i + 1
            return n if n != 3 else -1
        i += 1
    return -1


_DA = 0  # header() leaves the address lengths of the frame it checked here (no tuple)
_SA = 0


def header(buf, i, end):
    """Check the header of a candidate frame at flag position i.

    Returns its length when the header is plausible and (for frames with an information
    field) its HCS is right, the address lengths in _DA/_SA (no tuple); 0 if more bytes
    are needed; raises HdlcError when this cannot be the start of a frame. Few locals: a
    bytecode frame beyond 11 words comes from the heap on every call.
    """
    global _DA, _SA
    end = min(end, len(buf))  # `end` past the data (a truncated frame): what is there
    if i + 3 > end:
        return 0
    ln = buf[i + 1] << 8 | buf[i + 2]
    if ln & 0xF000 != 0xA000:
        _error(0, i + 1)  # not a frame format type 3
    ln &= 0x7FF
    if ln < _MIN_LEN:
        _error(1, i + 1)  # length too short
    da = _addr_len(buf, i + 3, end)
    if da < 0:
        _error(2, i + 3)  # bad destination address
    if da == 0:
        return 0
    _DA = da
    da = _addr_len(buf, i + 3 + da, end)  # (the source address length from here on)
    if da < 0:
        _error(3, i + 3 + _DA)  # bad source address
    if da == 0:
        return 0
    _SA = da
    da += 3 + _DA  # (the header length from here on: format .. control)
    if ln < da + 2:
        _error(4, i + 1)  # length shorter than header
    if ln > da + 2:  # information field present: HCS follows the control field
        if ln < da + 2 + 2:
            _error(5, i + 1)  # no room for HCS
        if i + 1 + da + 2 > end:
            return 0
        if not _crc_ok(buf, i + 1, da):
            raise HdlcError("bad HCS", i + 1 + da)
    return ln


def _crc_ok(buf, off, n):
    """The X.25 CRC of buf[off:off+n] is in the next two bytes (LSB first)."""
    c = _crc.x25(buf, n, off)
    return buf[off + n] | buf[off + n + 1] << 8 == c


def decode_at(buf, i, end, check_fcs=True):
    """Decode the frame whose opening flag is at i. Returns (Frame, next) or None when
    incomplete; raises HdlcError. `next` is the closing flag's index (which may open the
    following frame). `end` beyond len(buf) counts as len(buf): a truncated frame gives
    None, never an IndexError."""
    end = min(end, len(buf))
    if i >= end:
        return None
    if buf[i] != FLAG:
        raise HdlcError("no flag", i)
    ln = header(buf, i, end)
    if not ln or i + 1 + ln > end:
        return None
    ok = _crc_ok(buf, i + 1, ln - 2)
    if check_fcs and not ok:
        raise HdlcError("bad FCS", i + ln - 1)
    return _frame(buf, i, ln, ok), i + 1 + ln


def _frame(buf, i, ln, fcs_ok):
    p = i + 3 + _DA + _SA  # the control field
    fr = Frame(_kind(buf, p), None, None)
    fr.dest_raw = bytes(buf[i + 3:i + 3 + _DA])
    fr.src_raw = bytes(buf[i + 3 + _DA:p])
    if ln > p - i + 4:  # a non-empty information field (after the HCS)
        fr.info = bytes(buf[p + 3:i + ln - 1])
        fr.hcs_ok = True
    if not buf[p] & 0x10:
        fr.pf = False
    if buf[p] & 3 != 3:  # I and S frames carry N(R), I frames N(S)
        fr.nr = buf[p] >> 5
        if not buf[p] & 1:
            fr.ns = (buf[p] >> 1) & 7
    if buf[i + 1] & 0x08:
        fr.segmented = True
    fr.format = buf[i + 1] << 8 | buf[i + 2]
    fr.length = ln
    if not fcs_ok:
        fr.fcs_ok = False
    if i:
        fr.offset = i
    return fr


def _kind(buf, p):
    """Frame kind of the control field buf[p] ("I", "RR", "RNR", a U frame); raises."""
    ctl = buf[p]
    if not ctl & 1:
        return "I"
    if ctl & 3 == 1:
        if ctl & 0x0F == 0x01:
            return "RR"
        if ctl & 0x0F == 0x05:
            return "RNR"
        _error(8, p, ctl)  # unknown S frame
    u = 0
    while u < 6 and _U_CODES[u] != ctl & 0xEF:
        u += 1
    if u == 6:
        _error(9, p, ctl)  # unknown U frame
    return _U_NAMES[u]


class Scanner:
    """Frames out of a byte stream: resynchronises on garbage and bad checksums, keeps an
    incomplete frame across split reads, never loses a good frame after garbage.

    feed(data) -> list of Frame (an empty tuple when none). Counters: `.garbage` bytes skipped, `.errors` bad
    candidates; `.last_errors` holds up to 16 (offset, reason) for diagnostics.
    """

    def __init__(self, limit=4096):
        self.buf = bytearray()
        self.limit = limit
        self.garbage = 0
        self.errors = 0
        self.consumed = 0  # stream offset of buf[0]
        self.last_errors = []

    def _err(self, e):
        self.errors += 1
        if len(self.last_errors) < 16:
            self.last_errors.append((self.consumed + e.offset, e.reason))

    def feed(self, data):
        b = self.buf
        b.extend(data)
        end = len(b)
        out = None  # a list only when a frame came (feed runs on every read)
        p = 0
        while True:
            i = b.find(b"\x7e", p)
            if i < 0:
                self.garbage += end - p
                p = end
                break
            self.garbage += i - p
            if i + 1 < end and b[i + 1] == 0x7E:  # closing flag + opening flag: no
                p = i + 1  # HdlcError("not a frame format type 3") for the gap each time
                continue
            try:
                r = decode_at(b, i, end)
            except HdlcError as e:
                if not e.reason.startswith("not a"):  # format type: flag-to-flag gap
                    self._err(e)
                p = i + 1
                continue
            if r is None:
                p = i
                break
            if out is None:
                out = []
            out.append(r[0])
            r[0].offset += self.consumed
            p = r[1]  # the closing flag may open the next frame
        if end - p > self.limit:  # a stuck candidate: drop it
            self.garbage += end - p
            p = end
        if p:
            self.consumed += p
            if end - p > 16:
                b[0:p] = b""  # in place: no copy of a long candidate per read
            else:  # a closing flag or a short rest: a small new buffer, the big one goes
                self.buf = b[p:]
        return out or ()

    def reset(self):
        self.consumed += len(self.buf)
        self.buf = bytearray()


def parameters(info):
    """SNRM/UA parameter block -> dict {"max_tx", "max_rx", "window_tx", "window_rx"}."""
    out = {}
    if len(info) < 3 or info[0] != 0x81 or info[1] != 0x80:
        return out
    end = min(len(info), 3 + info[2])
    p = 3
    names = {5: "max_tx", 6: "max_rx", 7: "window_tx", 8: "window_rx"}
    while p + 2 <= end:
        t = info[p]
        n = info[p + 1]
        if p + 2 + n > end:
            _error(7, p)  # truncated parameter
        v = 0
        for k in range(n):
            v = v << 8 | info[p + 2 + k]
        if t in names:
            out[names[t]] = v
        p += 2 + n
    return out


def parameter_block(max_tx, max_rx, window_tx=1, window_rx=1):
    body = bytearray()
    for t, v, n in ((5, max_tx, 2), (6, max_rx, 2), (7, window_tx, 4), (8, window_rx, 4)):
        body.append(t)
        body.append(n)
        body.extend(v.to_bytes(n, "big"))
    return bytes((0x81, 0x80, len(body))) + bytes(body)

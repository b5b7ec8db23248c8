"""SML 1.04, the parts the polling of wired meters does not need at run time: the encoder
(requests; lmn.meter builds its request once and patches the transaction id), the
streaming Transport (push meters), value() and obis_bytes(). Reached as `lmn.sml.X`
(module __getattr__ there); see lmn.sml for the format notes and sources.
"""
from micropython import const

from lmn import crc as _crc
from lmn import sml as _sml
from lmn.sml import _ESC, _START, SmlError, _value, frame

_MAX_FRAME = const(8192)  # as lmn.sml


def escape(payload):
    """Wrap SML messages in a transport v1 frame (CRC-16/X.25, LSB first)."""
    payload = bytes(payload)
    pad = (-len(payload)) & 3
    body = payload + b"\x00" * pad
    out = bytearray(_START)
    i = 0
    while True:
        k = body.find(_ESC, i)
        while k >= 0 and k & 3:
            k = body.find(_ESC, k + 1)
        if k < 0:
            out += body[i:]
            break
        out += body[i:k + 4]
        out += _ESC
        i = k + 4
    out += _ESC + bytes((0x1A, pad))
    c = _crc.x25(out)
    out.append(c & 0xFF)
    out.append(c >> 8)
    return bytes(out)


class Transport:
    """Streaming frame finder for a byte stream (push meter UART, HDLC payloads).

    feed(data) -> list of (payload, crc_kind, offset) for complete frames; garbage
    between frames is dropped and counted in `.skipped`; broken frames in `.errors`.
    """

    def __init__(self, limit=_MAX_FRAME):
        self.buf = bytearray()
        self.limit = limit
        self.skipped = 0
        self.errors = 0
        self.consumed = 0

    def feed(self, data):
        self.buf.extend(data)
        out = []
        pos = 0
        b = self.buf
        while True:
            try:
                r = frame(b, pos)
            except SmlError as e:
                self.errors += 1
                pos = e.offset + 1 if e.offset >= pos else pos + 1
                continue
            if r is None:
                break
            s, end, payload, kind = r
            self.skipped += s - pos
            out.append((payload, kind, self.consumed + s))
            pos = end
        # keep from the last possible start; bound the buffer
        s = b.find(_START, pos)
        if s < 0:
            keep = max(pos, len(b) - 7)
        else:
            keep = s
        if len(b) - keep > self.limit:
            keep = len(b) - 7
            self.errors += 1
        self.skipped += keep - pos if keep > pos and s < 0 else 0
        self.consumed += keep
        self.buf = b[keep:]
        return out


def value(buf, pos=0, end=-1):
    """Parse one TL-encoded value at pos: (value, next_pos)."""
    _sml._P = pos
    v = _value(buf, len(buf) if end < 0 else end, 0)
    return v, _sml._P


def obis_bytes(s):
    """"A-B:C.D.E*F" -> 6 bytes."""
    a, rest = s.split("-", 1)
    b, rest = rest.split(":", 1)
    c, d, rest = rest.split(".", 2)
    e, f = rest.split("*", 1)
    return bytes(int(x) for x in (a, b, c, d, e, f))


class Int:
    """A typed integer for the encoder: Int(v, 4) Unsigned32, Int(v, 2, signed=True)."""

    def __init__(self, v, size, signed=False):
        self.v = v
        self.size = size
        self.signed = signed


def _tl_bytes(typ, ln, out):
    if ln < 16:
        out.append(typ << 4 | ln)
        return
    nib = []
    while ln:
        nib.append(ln & 0xF)
        ln >>= 4
    # a scalar's length counts its TL bytes: recompute for len(nib) bytes
    for i in range(len(nib) - 1, -1, -1):
        out.append((0x80 if i else 0) | (typ << 4 if i == len(nib) - 1 else 0) | nib[i])


def encode_value(v, out):
    """Append the TL encoding of v (None, bool, bytes, Int, int (as Int32), list)."""
    if v is None:
        out.append(0x01)
    elif isinstance(v, bool):
        out.append(0x42)
        out.append(1 if v else 0)
    elif isinstance(v, (bytes, bytearray)):
        n = len(v) + 1
        if n >= 16:
            n += 1
            if n >= 256:
                n += 1
        _tl_bytes(0, n, out)
        out.extend(v)
    elif isinstance(v, (Int, int)):
        if not isinstance(v, Int):
            v = Int(v, 4, True)
        out.append((0x50 if v.signed else 0x60) | (v.size + 1))
        x = v.v & ((1 << (8 * v.size)) - 1)
        out.extend(x.to_bytes(v.size, "big"))
    elif isinstance(v, (list, tuple)):
        _tl_bytes(7, len(v), out)
        for e in v:
            encode_value(e, out)
    else:
        raise SmlError("cannot encode %s" % type(v).__name__)


def encode_message(tid, tag, fields, group=0, abort=0):
    """One SML message (with its CRC-16/X.25 and end-of-message) as bytes."""
    out = bytearray(b"\x76")
    encode_value(tid, out)
    encode_value(Int(group, 1), out)
    encode_value(Int(abort, 1), out)
    encode_value([Int(tag, 2), list(fields)], out)
    c = _crc.x25(out)
    out.append(0x63)
    out.append(c >> 8)
    out.append(c & 0xFF)
    out.append(0)
    return bytes(out)


def request_file(tid, client_id, server_id, tag, fields, req_file_id=None):
    """Open + one request + Close, wrapped in a transport frame. tid: bytes prefix."""
    rf = req_file_id or tid
    msgs = encode_message(tid + b"\x01", 0x0100, [None, client_id, rf, server_id, None, None,
                                                  None])
    msgs += encode_message(tid + b"\x02", tag, fields)
    msgs += encode_message(tid + b"\x03", 0x0200, [None])
    return escape(msgs)


def get_list_request(tid, client_id, server_id, list_name=None):
    return request_file(tid, client_id, server_id, 0x0700,
                        [client_id, server_id, None, None, list_name])


def get_proc_parameter_request(tid, client_id, server_id, path):
    return request_file(tid, client_id, server_id, 0x0600,
                        [server_id, None, None, list(path), None])


def get_profile_list_request(tid, client_id, server_id, t0, t1, path):
    return request_file(tid, client_id, server_id, 0x0500,
                        [server_id, None, None, None, [Int(1, 1), Int(t0, 4)],
                         [Int(1, 1), Int(t1, 4)], list(path), None, None])

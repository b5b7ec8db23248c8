"""SML 1.04 (Smart Message Language): transport v1, TL parser, message bodies, encoder.

Source: BSI TR-03109-1 Anlage IIIa "SML - Smart Message Language" v1.04 (FNN/VDE),
clauses 5.1 (TL field), 6 (messages), 8 (transport v1); libsml (volkszaehler/libsml) and
sml-rs for the quirks real meters have.

Transport v1: 1B1B1B1B 01010101 <messages> [00 padding] 1B1B1B1B 1A <pad> <crc16>.
An escape sequence inside the data is doubled (1B1B1B1B 1B1B1B1B); escapes sit on
4-byte boundaries counted from the start sequence (the padding makes the end aligned;
<pad> is 0..3, but a DZG DVS-7412.2 writes 4 with a whole word of zeros: accepted when all
the padding bytes are 0x00).
The frame CRC covers everything from the start escape up to and including <pad>; real
meters write CRC-16/X.25 least significant byte first, one Holley DTZ541 writes
CRC-16/KERMIT most significant byte first, for the frame and each message: `frame()`
accepts all four and reports which one matched (`crc`: "x25_le", "x25_be",
"kermit_be", "kermit_le").

TL field (5.1): bit 7 = another TL byte follows, bits 6..4 type (0 octet string,
4 boolean, 5 signed int, 6 unsigned int, 7 list), bits 3..0 length nibble; with more TL
bytes the nibbles are concatenated. For scalars the length counts the TL bytes, for a
list it is the number of elements. 0x01 = optional value absent (None), 0x00 = end of
message.

Values are Python objects: bytes, int, bool, list, None. An SML_Time is a choice list
[1 secIndex | 2 timestamp | 3 localTimestamp, value] or, on some Holley meters, a bare
Unsigned32 (accepted as it is). Only `SmlError(reason, offset)` escapes this module.
"""
from micropython import const

from lmn import crc as _crc
from texts import msg

_ESC = b"\x1b\x1b\x1b\x1b"
_START = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01"
_MAX_DEPTH = const(12)
_MAX_FRAME = const(8192)


# the reasons of SmlError, one string (each literal of 10+ chars costs ~42 B at import);
# _error(i, offset) raises the i-th (0-based)
_REASONS = const("frame too long|bad padding %d|bad escape sequence|truncated TL|"
                  "bad TL continuation|TL too long|nesting too deep|list longer than data|"
                  "unexpected end of message|bad length|value beyond end|bad boolean|"
                  "bad integer width|unknown type %d|message is not a list of 6|"
                  "missing end of message|bad message body|no complete frame|")


class SmlError(Exception):
    """Bad SML input: `reason` (str) and `offset` (byte offset in the buffer, -1 unknown)."""

    def __init__(self, reason, offset=-1):
        super().__init__(reason, offset)
        self.reason = reason
        self.offset = offset


def _error(i, offset, arg=None):
    r = msg(_REASONS, i)
    raise SmlError(r if arg is None else r % arg, offset)


# body tag -> "Name field field ...", clause 6; one string constant "|<tag hex> Name fields|..."
# (a dict of 14 strings cost ~0.9 KB of heap on x64 for as long as the module is loaded)
_BODIES = const("|0100 OpenRequest codepage client_id req_file_id server_id username password"
                 " sml_version"
                 "|0101 OpenResponse codepage client_id req_file_id server_id ref_time sml_version"
                 "|0200 CloseRequest global_signature"
                 "|0201 CloseResponse global_signature"
                 "|0400 GetProfilePackRequest server_id username password with_rawdata begin_time"
                 " end_time parameter_tree_path object_list das_details"
                 "|0401 GetProfilePackResponse server_id act_time reg_period parameter_tree_path"
                 " header_list period_list rawdata profile_signature"
                 "|0500 GetProfileListRequest server_id username password with_rawdata begin_time"
                 " end_time parameter_tree_path object_list das_details"
                 "|0501 GetProfileListResponse server_id act_time reg_period parameter_tree_path"
                 " val_time status period_list rawdata period_signature"
                 "|0600 GetProcParameterRequest server_id username password parameter_tree_path"
                 " attribute"
                 "|0601 GetProcParameterResponse server_id parameter_tree_path parameter_tree"
                 "|0700 GetListRequest client_id server_id username password list_name"
                 "|0701 GetListResponse client_id server_id list_name act_sensor_time val_list"
                 " list_signature act_gateway_time"
                 "|0800 SetProcParameterRequest server_id username password parameter_tree_path"
                 " parameter_tree"
                 "|ff01 AttentionResponse server_id attention_no attention_msg attention_details|")


def body_spec(tag):
    """The spec "Name field field ..." of a message body tag, or None."""
    i = _BODIES.find("|%04x " % tag)
    if i < 0:
        return None
    return _BODIES[i + 6:_BODIES.find("|", i + 6)]


# ---------------------------------------------------------------- transport v1

def _crc_kind(buf, start, end, got):
    """Which CRC variant the 2 bytes at buf[end:end+2] are for buf[start:end]."""
    x = _crc.x25(buf, end - start, start)  # (at an offset: no memoryview)
    if got == (x & 0xFF) << 8 | x >> 8:
        return "x25_le"
    if got == x:
        return "x25_be"
    k = _crc.kermit(buf, end - start, start)
    if got == k:
        return "kermit_be"
    if got == (k & 0xFF) << 8 | k >> 8:
        return "kermit_le"
    return None


def _zeros(b, end, n):
    """The n bytes before b[end] are all 0x00."""
    i = end - n
    while i < end:
        if b[i]:
            return False
        i += 1
    return True


def frame(buf, pos=0):
    """Find the next transport v1 frame in buf at or after pos.

    Returns (start, end, payload, crc_kind) with payload unescaped and padding removed,
    crc_kind None when the frame CRC matched no variant; or None when no complete frame
    is in buf yet (caller keeps buf[start:] and waits for more). Raises SmlError for a
    frame with a broken escape sequence or padding (caller resumes at offset + 1).
    """
    n = len(buf)
    while True:
        s = buf.find(_START, pos)
        if s < 0:
            return None
        j = s + 8
        parts = None  # only a frame with doubled escape sequences is copied in parts
        while True:
            k = buf.find(_ESC, j)
            while k >= 0 and (k - s) & 3:
                k = buf.find(_ESC, k + 1)
            q = buf.find(_START, j)  # an unaligned new start: this frame was cut off
            if q >= 0 and (k < 0 or q < k):
                pos = q
                break
            if k < 0 or k + 8 > n:
                if n - s > _MAX_FRAME:
                    _error(0, s)  # frame too long
                return None
            t = buf[k + 4]
            if buf.find(_ESC, k + 4, k + 8) == k + 4:  # an escaped escape: keep one
                if parts is None:
                    parts = []
                parts.append(buf[j:k + 4])
                j = k + 8
            elif t == 0x1A:
                pad = buf[k + 5]
                end = k + 8
                if parts is None:
                    dl = k - j
                else:
                    parts.append(buf[j:k])
                    data = b"".join(parts)
                    dl = len(data)
                if pad > dl or (pad > 3 and not _zeros(buf if parts is None else data,
                                                       k if parts is None else dl, pad)):
                    _error(1, k + 5, pad)  # bad padding
                got = buf[k + 6] << 8 | buf[k + 7]
                kind = _crc_kind(buf, s, k + 6, got)
                if parts is None:  # one copy of the data, straight from buf
                    return s, end, bytes(memoryview(buf)[j:k - pad]), kind
                return s, end, data[:dl - pad], kind
            elif buf.find(b"\x01\x01\x01\x01", k + 4, k + 8) == k + 4:
                pos = k  # a new start inside a frame: the old one was cut off
                break
            else:
                _error(2, k)  # bad escape sequence


# ---------------------------------------------------------------- TL parser

# Parser state in module globals: _value reads at _P and advances it, _tlf leaves the type
# and the TL byte count of the field it read in _T/_K (no (value, pos) or (typ, ln, n)
# tuple per value; the parser is synchronous, so one parse runs at a time). Each routine
# keeps at most ~10 locals + stack: a bytecode function with more state than 11 words gets
# its frame from the heap on every call (~140-200 B of garbage per SML value).
_P = 0
_T = 0
_K = 0
_NONE = [None]


def _tlf(buf, pos, end):
    """The TL field at pos -> its length nibbles; sets _T (type) and _K (TL bytes)."""
    global _T, _K
    if pos >= end:
        raise SmlError("truncated", pos)
    b = buf[pos]
    _T = (b >> 4) & 7
    ln = b & 0x0F
    n = 1
    while b & 0x80:
        if pos + n >= end:
            _error(3, pos)  # truncated TL
        b = buf[pos + n]
        if b & 0x70:
            _error(4, pos + n)  # bad TL continuation
        ln = (ln << 4) | (b & 0x0F)
        n += 1
        if n > 4:
            _error(5, pos)  # TL too long
    _K = n
    return ln


def _value(buf, end, depth):
    pos = _P
    ln = _tlf(buf, pos, end)
    if _T == 7:
        return _list(buf, end, depth, pos, ln)
    return _scalar(buf, end, pos, ln)


def _list(buf, end, depth, pos, ln):
    global _P
    if depth >= _MAX_DEPTH:
        _error(6, pos)  # nesting too deep
    if ln > end - pos:
        _error(7, pos)  # list longer than data
    _P = pos + _K
    out = _NONE * ln  # (no [None] list per list)
    i = 0
    depth += 1
    while i < ln:
        out[i] = _value(buf, end, depth)
        i += 1
    return out


def _scalar(buf, end, pos, ln):
    global _P
    n = _K
    if ln < n:
        if ln == 0 and n == 1:
            _error(8, pos)  # unexpected end of message
        _error(9, pos)  # bad length
    p = pos + n
    n = ln - n  # data bytes
    if p + n > end:
        _error(10, pos)  # value beyond end
    _P = p + n
    if _T == 0:
        return None if ln == 1 else bytes(buf[p:p + n])  # (bytes(bytes) is no copy)
    if _T == 4:
        if n != 1:
            _error(11, pos)  # bad boolean
        return buf[p] != 0
    if _T == 5 or _T == 6:
        if n < 1 or n > 8:
            _error(12, pos)  # bad integer width
        # signed: start from -1, so the value is built negative (no 1 << 64 big int)
        ln = -1 if _T == 5 and buf[p] & 0x80 else 0  # (the value from here on)
        n += p
        while p < n:
            ln = (ln << 8) | buf[p]
            p += 1
        return ln
    _error(13, pos, _T)  # unknown type


def messages(payload, kermit=False):
    """Parse the messages of one unescaped file.

    Returns a list of dicts {"transaction_id", "group", "abort_on_error", "tag", "body",
    "fields", "crc_ok", "offset"}; unknown body tags keep the raw body list in "fields".
    """
    global _P
    buf = payload
    end = len(buf)
    pos = 0
    out = []
    while pos < end:
        if buf[pos] == 0:  # padding / stray end-of-message
            pos += 1
            continue
        start = pos
        if _tlf(buf, pos, end) != 6 or _T != 7:
            _error(14, pos)  # message is not a list of 6
        _P = pos + _K
        tid = _value(buf, end, 1)
        group = _value(buf, end, 1)
        abort = _value(buf, end, 1)
        body = _value(buf, end, 1)
        crc_end = _P
        crc16 = _value(buf, end, 1)
        pos = _P
        if pos >= end or buf[pos] != 0:
            _error(15, pos)  # missing end of message
        pos += 1
        if not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], int):
            _error(16, start)  # bad message body
        c = crc_end - start
        c = _crc.kermit(buf, c, start) if kermit else _crc.x25(buf, c, start)
        ok = crc16 is not None and (crc16 == c or (not kermit and crc16 == (
            (c & 0xFF) << 8 | c >> 8)))
        tag = body[0]
        spec = body_spec(tag)
        if spec and isinstance(body[1], list):
            names = spec.split()
            name = names[0]
            vals = body[1]
            nv = len(vals)
            fields = {}
            for i in range(1, len(names)):
                fields[names[i]] = vals[i - 1] if i <= nv else None
        else:
            name = "0x%04X" % tag
            fields = {"raw": body[1]}
        out.append({"transaction_id": tid, "group": group, "abort_on_error": abort, "tag": tag,
                    "body": name, "fields": fields, "crc_ok": ok, "offset": start})
    return out


def decode(buf, pos=0):
    """Convenience: first frame in buf -> (crc_kind, messages). Raises SmlError."""
    r = frame(buf, pos)
    if r is None:
        _error(17, pos)  # no complete frame
    s, end, payload, kind = r
    return kind, messages(payload, kind is not None and kind.startswith("kermit"))


# ---------------------------------------------------------------- OBIS and readings

def obis(name):
    """6-byte object name -> "A-B:C.D.E*F" (IEC 62056-61); other lengths as hex."""
    if isinstance(name, (bytes, bytearray)) and len(name) == 6:
        return "%d-%d:%d.%d.%d*%d" % tuple(name)
    if isinstance(name, (bytes, bytearray)):
        return "".join("%02x" % b for b in name)
    return str(name)


def _time(t):
    """SML_Time (choice list or bare Unsigned32) -> int seconds/index or None."""
    if isinstance(t, list) and len(t) == 2:
        v = t[1]
        if isinstance(v, list):  # localTimestamp [timestamp, localOffset, seasonOffset]
            v = v[0] if v else None
        return v if isinstance(v, int) else None
    return t if isinstance(t, int) else None


def _entry(server, e, k, status, vtime):
    """A value: object name e[0], unit e[k], scaler e[k + 1], value e[k + 2] (few locals:
    a bytecode frame beyond 11 words comes from the heap on every call)."""
    r = {"server_id": server, "obis": obis(e[0]), "status": status if isinstance(
        status, int) else None, "val_time": _time(vtime), "unit": e[k], "scaler": e[k + 1],
        "raw": None}
    val = e[k + 2]
    if isinstance(val, int):  # (bool too)
        r["raw"] = int(val)
    elif isinstance(val, (bytes, bytearray)):
        r["octets"] = val
    return r


def _tree(server, t, vtime, out, depth):
    if not isinstance(t, list) or len(t) < 3 or depth > _MAX_DEPTH:
        return
    pv = t[1]
    if isinstance(pv, list) and len(pv) == 2:
        if pv[0] == 1:
            out.append(_entry(server, [t[0], None, 0, pv[1]], 1, None, vtime))
        elif pv[0] == 2 and isinstance(pv[1], list) and len(pv[1]) >= 4:
            out.append(_entry(server, pv[1], 1, None, vtime))
    for c in _list_or_empty(t[2]):
        _tree(server, c, vtime, out, depth + 1)


def _list_or_empty(v):
    """v if it is a list, else (): a scalar where the schema wants a list (a malformed
    message, whether its CRC matched or not) must not raise TypeError out of readings()."""
    return v if isinstance(v, list) else ()


def readings(msgs, only_crc_ok=True):
    """Values of GetList / GetProfileList / GetProcParameter responses as dicts
    {"server_id": bytes, "obis", "raw": int|None, "scaler", "unit", "status", "val_time"
    [, "octets": bytes]}. Messages with a bad CRC are skipped unless only_crc_ok=False.
    """
    out = []
    for m in msgs:
        if only_crc_ok and not m["crc_ok"]:
            continue
        f = m["fields"]
        tag = m["tag"]
        if tag == 0x0701:
            srv = f.get("server_id")
            for e in _list_or_empty(f.get("val_list")):
                if isinstance(e, list) and len(e) >= 6:
                    out.append(_entry(srv, e, 3, e[1], e[2]))
        elif tag == 0x0501:
            srv = f.get("server_id")
            for e in _list_or_empty(f.get("period_list")):
                if isinstance(e, list) and len(e) >= 4:
                    out.append(_entry(srv, e, 1, f.get("status"), f.get("val_time")))
        elif tag == 0x0601:
            _tree(f.get("server_id"), f.get("parameter_tree"), None, out, 0)
    return out


def __getattr__(name):  # the encoder, Transport, value, obis_bytes: lmn.smlx, on first use
    from lmn import smlx

    return getattr(smlx, name)

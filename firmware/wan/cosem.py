"""TAF values as COSEM XML (UTF-8), in the style of the DLMS/COSEM XML representation
of a Profile generic (class_id 7) buffer (IEC 62056-6-2 / DLMS UA Green Book 9.4.3):
one <ProfileGeneric> per delivery, one <Channel> per (meter, OBIS) with the capture
object's unit and scaler, one <Entry> per captured value.

    <?xml version="1.0" encoding="UTF-8"?>
    <ProfileGeneric gateway="GW1" taf="TAF7" created="2026-01-01T00:15:00Z" id="...">
     <Channel meter="..." obis="1-0:1.8.0*255" classId="3" attributeId="2">
      <Entry captureTime="2026-01-01T00:15:00Z" value="123456" scaler="-1" unit="30"
             status="0"/>
     </Channel>
    </ProfileGeneric>

Values are the exact integers from the meter; value * 10^scaler in `unit` (IEC 62056-6-2
unit code) is the physical quantity. Times are UTC (ISO 8601 with Z).
"""
import time

_ESC = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"))


def esc(s):
    s = str(s)
    for a, b in _ESC:
        if a in s:
            s = s.replace(a, b)
    return s


def iso(t):
    y, mo, d, h, mi, s = time.gmtime(int(t))[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)


def pieces(gateway, taf, created, channels, delivery_id=""):
    """Generator of the document's UTF-8 pieces (one line each): a payload is streamed
    into the CMS buffer, never held as one document (crypto.cms.build).

    channels: list of (meter, obis, values); values: an iterable, or a function returning
    a new iterator (called once per document); a value is a tuple (capture_time, raw,
    scaler, unit, status) or a dict as ctx.core.taf outputs (capture_time, raw, scaler,
    unit, status)."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    yield ('<ProfileGeneric gateway="%s" taf="%s" created="%s" id="%s">\n'
           % (esc(gateway), esc(taf), iso(created), esc(delivery_id))).encode()
    for meter, obis, values in channels:
        yield (' <Channel meter="%s" obis="%s" classId="3" attributeId="2">\n'
               % (esc(meter), esc(obis))).encode()
        for v in values() if callable(values) else values:
            if isinstance(v, dict):
                v = (v["capture_time"], v["raw"], v.get("scaler", 0), v.get("unit", 255),
                     v.get("status"))
            st = v[4]
            yield ('  <Entry captureTime="%s" value="%d" scaler="%d" unit="%d"%s/>\n' % (
                iso(v[0]), v[1], v[2], v[3],
                "" if st is None else ' status="%d"' % st)).encode()
        yield b" </Channel>\n"
    yield b"</ProfileGeneric>\n"


def profile_xml(gateway, taf, created, channels, delivery_id=""):
    """The whole document as bytes (see pieces)."""
    return b"".join(pieces(gateway, taf, created, channels, delivery_id))

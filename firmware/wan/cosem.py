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


def profile_xml(gateway, taf, created, channels, delivery_id=""):
    """channels: list of (meter, obis, [value dicts]) -> UTF-8 bytes.

    value dict as ctx.core.taf outputs: capture_time, raw, scaler, unit, status.
    Built from small encoded pieces joined once (no large intermediate str)."""
    out = [b'<?xml version="1.0" encoding="UTF-8"?>\n',
           ('<ProfileGeneric gateway="%s" taf="%s" created="%s" id="%s">\n'
            % (esc(gateway), esc(taf), iso(created), esc(delivery_id))).encode()]
    for meter, obis, values in channels:
        out.append((' <Channel meter="%s" obis="%s" classId="3" attributeId="2">\n'
                    % (esc(meter), esc(obis))).encode())
        for v in values:
            st = v.get("status")
            out.append(('  <Entry captureTime="%s" value="%d" scaler="%d" unit="%d"%s/>\n' % (
                iso(v["capture_time"]), v["raw"], v.get("scaler", 0), v.get("unit", 255),
                "" if st is None else ' status="%d"' % st)).encode())
        out.append(b" </Channel>\n")
    out.append(b"</ProfileGeneric>\n")
    return b"".join(out)

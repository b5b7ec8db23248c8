"""Wireless readings -> OBIS channels (docs/contracts.md, "Readings").

By the meter's medium (device type, EN 13757-4 / OMS Vol. 2 table 2): electricity energy
"1-0:1.8.0*255" (Wh), heat energy "6-0:1.0.0*255" (Wh), water volume "8-0:1.0.0*255"
(m3), gas volume "7-0:3.0.0*255" (m3), heat-cost allocator units "4-0:1.0.0*255".
Only instantaneous values of subunit 0 are mapped; a storage number > 0 becomes F (the
historical value set), a tariff > 0 becomes E. Units are IEC 62056-6-2 codes.
"""
_U_WH = const(30)
_U_M3 = const(13)
_U_COUNT = const(255)

# medium -> (OBIS prefix "A-B:C.D", quantity, unit code, unit name)
_MEDIA = const((("1-0:1.8", "energy", _U_WH, "Wh"), ("6-0:1.0", "energy", _U_WH, "Wh"),
          ("8-0:1.0", "volume", _U_M3, "m3"), ("7-0:3.0", "volume", _U_M3, "m3"),
          ("4-0:1.0", "hca", _U_COUNT, "")))
# (device type, medium) pairs as bytes, not a dict (RAM): electricity 02, gas 03, heat
# 04/0C/0D, water 06/07/15/16/28, heat-cost allocator 08
_TYPES = const((b"\x02\x00\x03\x03\x04\x01\x0c\x01\x0d\x01\x06\x02"
          b"\x07\x02\x15\x02\x16\x02\x28\x02\x08\x04"))


def channels(device_type, records):
    """-> list of (obis, raw, scaler, unit_code) for the records that map to OBIS."""
    out = []
    i = 0
    while i < len(_TYPES) and _TYPES[i] != device_type:
        i += 2
    if i >= len(_TYPES):
        return out
    prefix, quantity, code, unit = _MEDIA[_TYPES[i + 1]]
    for r in records:
        if (r["quantity"] != quantity or r["function"] != "instantaneous" or r["subunit"]
                or r["unit"] != unit or not isinstance(r["raw"], int)):
            continue
        st = r["storage"]
        if st > 254 or r["tariff"] > 63:
            continue
        out.append(("%s.%d*%d" % (prefix, r["tariff"], st if st else 255), r["raw"],
                    r["exponent"], code))
    return out

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

# device type -> (OBIS prefix "A-B:C.D", quantity, unit code, unit name)
_ELEC = ("1-0:1.8", "energy", _U_WH, "Wh")
_HEAT = ("6-0:1.0", "energy", _U_WH, "Wh")
_WATER = ("8-0:1.0", "volume", _U_M3, "m3")
_GAS = ("7-0:3.0", "volume", _U_M3, "m3")
_HCA = ("4-0:1.0", "hca", _U_COUNT, "")
MEDIA = {0x02: _ELEC, 0x03: _GAS, 0x04: _HEAT, 0x0C: _HEAT, 0x0D: _HEAT, 0x06: _WATER,
         0x07: _WATER, 0x15: _WATER, 0x16: _WATER, 0x28: _WATER, 0x08: _HCA}


def channels(device_type, records):
    """-> list of (obis, raw, scaler, unit_code) for the records that map to OBIS."""
    m = MEDIA.get(device_type)
    out = []
    if m is None:
        return out
    prefix, quantity, code, unit = m
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

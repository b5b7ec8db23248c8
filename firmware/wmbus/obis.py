"""Wireless readings -> OBIS channels (docs/contracts.md, "Readings").

By the meter's medium (device type, EN 13757-4 / OMS Vol. 2 table 2): electricity energy
"1-0:1.8.0*255" (Wh), heat energy "6-0:1.0.0*255" (Wh), water volume "8-0:1.0.0*255"
(m3), gas volume "7-0:3.0.0*255" (m3), heat-cost allocator units "4-0:1.0.0*255".
Only instantaneous values of subunit 0 without a meaning-changing VIFE are mapped (a
backward register is not the total): on an electricity meter the energy with VIFE 0x3B
(forward: import) is "1-0:1.8", with 0x3C (backward: export) "1-0:2.8"; on other media
those are not mapped. A storage number > 0 becomes F (the historical value set), a
tariff > 0 becomes E. Units are IEC 62056-6-2 codes; energy in J (heat meters in MJ or
GJ) keeps its unit (J = 25), never converted: the OML holds what the meter measured, and
only when the telegram has no energy in Wh.
"""
_U_WH = const(30)
_U_J = const(25)
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

# VIFEs after which a record is still the meter's register (EN 13757-3, combinable VIFEs):
# 0x00 none (no error), 0x3A uncorrected unit, 0x3E at base conditions. 0x3B/0x3C
# (forward/backward accumulation) are import/export on an electricity meter; any other
# VIFE makes it another quantity (rates, limits, correction factors, error codes).
_REGISTER_VIFE = const(b"\x00\x3a\x3e")


def _direction(r):
    """-> 0 the register itself, 0x3B forward, 0x3C backward, -1 another quantity."""
    d = 0
    v = r.get("vife")
    if v:
        for e in v:
            e &= 0x7F
            if e == 0x3B or e == 0x3C:
                if d:
                    return -1
                d = e
            elif e not in _REGISTER_VIFE:
                return -1
    return d


def channels(device_type, records):
    """-> list of (obis, raw, scaler, unit_code) for the records that map to OBIS."""
    out = []
    i = 0
    while i < len(_TYPES) and _TYPES[i] != device_type:
        i += 2
    if i >= len(_TYPES):
        return out
    medium = _TYPES[i + 1]
    prefix, quantity, code, unit = _MEDIA[medium]
    if unit == "Wh":
        for r in records:  # energy in J only where the meter gives none in Wh
            if r["quantity"] == "energy" and r["unit"] == "Wh":
                break
        else:
            code, unit = _U_J, "J"
    for r in records:
        if (r["quantity"] != quantity or r["function"] != "instantaneous" or r["subunit"]
                or r["unit"] != unit or not isinstance(r["raw"], int)):
            continue
        d = _direction(r)
        p = prefix
        if d == 0x3C and medium == 0:
            p = "1-0:2.8"  # export
        elif d and not (d == 0x3B and medium == 0):
            continue
        st = r["storage"]
        if st > 254 or r["tariff"] > 63:
            continue
        out.append(("%s.%d*%d" % (p, r["tariff"], st if st else 255), r["raw"],
                    r["exponent"], code))
    return out

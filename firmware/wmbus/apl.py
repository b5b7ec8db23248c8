"""Application layer of M-Bus (EN 13757-3): DIF/DIFE/VIF/VIFE data records.

Record layout: DIF [DIFE...] VIF [VIFE...] data. DIF: bits 0-3 data field (0 none,
1/2/3/4/6/7 signed little-endian integers of 1/2/3/4/6/8 bytes, 5 real32, 9/A/B/C/E BCD of
2/4/6/8/12 digits, D LVAR, F special), bits 4-5 function (instantaneous, maximum,
minimum, error), bit 6 storage number LSB, bit 7 DIFE follows. DIFE: bits 0-3 storage,
4-5 tariff, 6 subunit (each DIFE adds the next higher bits). Special DIFs: 0x0F/0x1F
manufacturer-specific data to the end (kept raw), 0x2F idle filler.
VIF: primary table (EN 13757-3 table 10), 0x7B/0xFB first extension table, 0x7D/0xFD
second extension table, 0x7C/0xFC plain-text VIF, 0x7F/0xFF manufacturer-specific.
BCD with 0xF in the top nibble is negative (EN 13757-3 annex B). Time points: type G
(date, CP16), type F (date+time, CP32), type I (CP48 with seconds).

Normalisation: energy Wh, volume m3, power W, flow m3/h, temperature C, mass kg,
voltage V, current A; `raw` (exact integer) and `exponent` are kept, value = raw*10^exp.
"""
from wmbus import WmbusError

_FUNCS = ("instantaneous", "maximum", "minimum", "error")
# data field -> length in bytes (LVAR=-1, special=-2, real32 reported separately)
_DLEN = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, -1, 6, -2)
_DURATION = ("s", "min", "h", "d")


def _primary(v):
    """VIF (without the extension bit) -> (quantity, unit, exponent) or None."""
    n = v & 7
    if v < 0x08:
        return "energy", "Wh", n - 3
    if v < 0x10:
        return "energy", "J", n
    if v < 0x18:
        return "volume", "m3", n - 6
    if v < 0x20:
        return "mass", "kg", n - 3
    if v < 0x24:
        return "on_time", _DURATION[v & 3], 0
    if v < 0x28:
        return "operating_time", _DURATION[v & 3], 0
    if v < 0x30:
        return "power", "W", n - 3
    if v < 0x38:
        return "power", "J/h", n
    if v < 0x40:
        return "flow", "m3/h", n - 6
    if v < 0x48:
        return "flow", "m3/min", n - 7
    if v < 0x50:
        return "flow", "m3/s", n - 9
    if v < 0x58:
        return "mass_flow", "kg/h", n - 3
    n = v & 3
    if v < 0x5C:
        return "flow_temperature", "C", n - 3
    if v < 0x60:
        return "return_temperature", "C", n - 3
    if v < 0x64:
        return "temperature_difference", "K", n - 3
    if v < 0x68:
        return "external_temperature", "C", n - 3
    if v < 0x6C:
        return "pressure", "bar", n - 3
    if v == 0x6C:
        return "date", "", 0
    if v == 0x6D:
        return "datetime", "", 0
    if v == 0x6E:
        return "hca", "", 0
    if 0x70 <= v < 0x74:
        return "averaging_duration", _DURATION[v & 3], 0
    if 0x74 <= v < 0x78:
        return "actuality_duration", _DURATION[v & 3], 0
    if v == 0x78:
        return "fabrication_no", "", 0
    if v == 0x79:
        return "enhanced_id", "", 0
    if v == 0x7A:
        return "bus_address", "", 0
    return None


# VIF 0xFD names (EN 13757-3 table 14) as one string constant " <vif hex><name> ...": a dict
# literal of 30 strings costs ~1.3 KB of heap (x64) for as long as the module is loaded.
_FD_NAMES = (" 08access_number 09medium 0amanufacturer 0bparameter_set 0cmodel_version"
              " 0dhardware_version 0efirmware_version 0fsoftware_version 10customer_location"
              " 11customer 16password 17error_flags 18error_mask 1adigital_output"
              " 1bdigital_input 1cbaud_rate 20first_storage 21last_storage 22storage_block_size"
              " 3adimensionless 60reset_counter 61cumulation_counter 62control_signal"
              " 63day_of_week 64week_number 66parameter_activation 67supplier_info"
              " 70battery_change 71rssi 74remaining_battery_life ")


def _fd_name(v):
    i = _FD_NAMES.find(" %02x" % v)  # names have no digits: only keys match
    if i < 0:
        return None
    return _FD_NAMES[i + 3:_FD_NAMES.find(" ", i + 3)]


def _ext_fd(v):
    """Second extension table (VIF 0xFD, EN 13757-3 table 14)."""
    if v < 0x08:
        return ("credit" if v < 4 else "debit"), "", (v & 3) - 3
    name = _fd_name(v)
    if name:
        return name, ("d" if v == 0x74 else ""), 0
    if 0x24 <= v < 0x28:
        return "storage_interval", _DURATION[v & 3], 0
    if 0x2C <= v < 0x30:
        return "duration_since_readout", _DURATION[v & 3], 0
    if 0x40 <= v < 0x50:
        return "voltage", "V", (v & 15) - 9
    if 0x50 <= v < 0x60:
        return "current", "A", (v & 15) - 12
    if 0x68 <= v < 0x6C:
        return "duration_since_cumulation", _DURATION[v & 3], 0
    if 0x6C <= v < 0x70:
        return "battery_operating_time", _DURATION[v & 3], 0
    return "fd_%02x" % v, "", 0


def _ext_fb(v):
    """First extension table (VIF 0xFB, EN 13757-3 table 12)."""
    n = v & 1
    if v < 0x02:
        return "energy", "Wh", n + 5  # 0.1 MWh * 10^n
    if 0x08 <= v < 0x0A:
        return "energy", "J", n + 8  # 0.1 GJ
    if 0x10 <= v < 0x12:
        return "volume", "m3", n + 2
    if 0x18 <= v < 0x1A:
        return "mass", "kg", n + 5
    if 0x1A <= v < 0x1C:
        return "relative_humidity", "%", n - 1
    if 0x28 <= v < 0x2A:
        return "power", "W", n + 5
    if 0x2C <= v < 0x30:
        return "frequency", "Hz", (v & 3) - 3
    if 0x30 <= v < 0x32:
        return "power", "J/h", n + 8
    if 0x74 <= v < 0x78:
        return "temperature_limit", "C", (v & 3) - 3
    if 0x78 <= v < 0x80:
        return "max_power", "W", (v & 7) - 3
    return "fb_%02x" % v, "", 0


def _signed(raw, nbytes):
    top = 1 << (8 * nbytes - 1)
    return raw - (top << 1) if raw & top else raw


def _bcd(buf, p, nbytes):
    v = 0
    neg = False
    for i in range(p + nbytes - 1, p - 1, -1):
        b = buf[i]
        hi = b >> 4
        lo = b & 15
        if i == p + nbytes - 1 and hi == 15:
            neg = True
            hi = 0
        if hi > 9 or lo > 9:
            raise WmbusError("apl", "bad BCD digit", i)
        v = v * 100 + hi * 10 + lo
    return -v if neg else v


def _date_g(b0, b1):
    y = ((b0 & 0xE0) >> 5) | ((b1 & 0xF0) >> 1)
    return "%04d-%02d-%02d" % (2000 + y, b1 & 15, b0 & 31)


def time_point(quantity, data):
    """Type G/F/I time point as ISO text (None if the meter marks it invalid)."""
    n = len(data)
    if n == 2:
        return _date_g(data[0], data[1])
    if n == 4:
        if data[0] & 0x80:
            return None
        return "%sT%02d:%02d" % (_date_g(data[2], data[3]), data[1] & 31, data[0] & 63)
    if n == 6:
        return "%sT%02d:%02d:%02d" % (_date_g(data[3], data[4]), data[2] & 31, data[1] & 63,
                                      data[0] & 63)
    return None


def _real32(buf, p):
    import struct

    return struct.unpack_from("<f", buf, p)[0]


def parse(buf, off=0, end=-1, partial=None):
    """Parse the records of buf[off:end] -> list of record dicts. Raises WmbusError("apl").

    With `partial` (a list), a malformed record does not raise: the records before it are
    returned, the error goes into `partial` and the rest is kept as one raw record
    (quantity "undecoded") - proprietary data after 2F2F is common (e.g. Apator).
    """
    if end < 0:
        end = len(buf)
    out = []
    p = off
    try:
        while p < end:
            r = _record(buf, p, end)
            if r is None:  # idle filler
                p += 1
                continue
            p = r.pop("_end")
            out.append(r)
    except Exception as e:  # noqa: BLE001 - every malformation becomes WmbusError
        if not isinstance(e, WmbusError):
            e = WmbusError("apl", "malformed record: %s" % e, p)
        if partial is None:
            raise e
        partial.append(e)
        out.append({"storage": 0, "tariff": 0, "subunit": 0, "function": "instantaneous",
                    "quantity": "undecoded", "unit": "", "value": None,
                    "raw": bytes(buf[p:end]).hex(), "exponent": 0})
    return out


def _record(buf, p, end):
    start = p
    dif = buf[p]
    p += 1
    if dif == 0x2F:
        return None
    if dif in (0x0F, 0x1F):
        return {"storage": 0, "tariff": 0, "subunit": 0, "function": "instantaneous",
                "quantity": "manufacturer_specific", "unit": "", "value": None,
                "raw": bytes(buf[p:end]).hex(), "exponent": 0, "more": dif == 0x1F,
                "_end": end}
    if dif & 0x0F == 0x0F:
        raise WmbusError("apl", "reserved special DIF 0x%02x" % dif, start)
    storage = (dif >> 6) & 1
    tariff = 0
    subunit = 0
    func = _FUNCS[(dif >> 4) & 3]
    ext = dif & 0x80
    k = 0
    while ext:
        if p >= end or k >= 10:
            raise WmbusError("apl", "DIFE chain runs off the end", p)
        d = buf[p]
        p += 1
        storage |= (d & 15) << (1 + 4 * k)
        tariff |= ((d >> 4) & 3) << (2 * k)
        subunit |= ((d >> 6) & 1) << k
        ext = d & 0x80
        k += 1
    if p >= end:
        raise WmbusError("apl", "record without VIF", p)
    vif = buf[p]
    p += 1
    vifes = []
    text_unit = None
    v = vif & 0x7F
    if v == 0x7B or v == 0x7D:
        if p >= end:
            raise WmbusError("apl", "missing VIFE", p)
        e = buf[p]
        p += 1
        q = _ext_fb(e & 0x7F) if v == 0x7B else _ext_fd(e & 0x7F)
        vif = (vif << 8) | e
        ext = e & 0x80
    elif v == 0x7C:  # plain-text unit: length + ASCII (reversed)
        ext = vif & 0x80
        q = ("text_unit", "", 0)
    elif v == 0x7F or v == 0x7E:
        q = ("manufacturer_specific" if v == 0x7F else "any", "", 0)
        ext = vif & 0x80
    else:
        q = _primary(v)
        if q is None:
            q = ("vif_%02x" % v, "", 0)
        ext = vif & 0x80
    k = 0
    while ext:
        if p >= end or k >= 10:
            raise WmbusError("apl", "VIFE chain runs off the end", p)
        e = buf[p]
        p += 1
        vifes.append(e)
        ext = e & 0x80
        k += 1
    if v == 0x7C:
        if p >= end:
            raise WmbusError("apl", "missing plain-text unit", p)
        n = buf[p]
        if p + 1 + n > end:
            raise WmbusError("apl", "plain-text unit runs off the end", p)
        text_unit = bytes(reversed(buf[p + 1:p + 1 + n])).decode()
        p += 1 + n
    quantity, unit, exponent = q
    if text_unit is not None:
        unit = text_unit
    df = dif & 0x0F
    n = _DLEN[df]
    lvar = df == 0x0D
    if lvar:
        if p >= end:
            raise WmbusError("apl", "missing LVAR", p)
        lv = buf[p]
        p += 1
        if lv <= 0xBF:
            n = lv
        elif lv <= 0xCF:
            n = lv - 0xC0
        elif lv <= 0xDF:
            n = lv - 0xD0
        elif lv <= 0xEF:
            n = lv - 0xE0
        elif lv <= 0xFA:
            n = lv - 0xF0
        else:
            raise WmbusError("apl", "reserved LVAR 0x%02x" % lv, p - 1)
    if p + n > end:
        raise WmbusError("apl", "data runs off the end", p)
    data = buf[p:p + n]
    raw = None
    value = None
    if lvar:
        if lv <= 0xBF:
            raw = bytes(reversed(data)).decode() if _printable(data) else bytes(data).hex()
        elif lv <= 0xDF:
            raw = _bcd(buf, p, n)
            if lv >= 0xD0:
                raw = -raw
        else:
            raw = bytes(data).hex()
        value = raw
    elif df == 5:
        value = _real32(buf, p)
        raw = bytes(data).hex()
    elif n == 0:
        raw = None
    elif df >= 9:
        raw = _bcd(buf, p, n)
    else:
        raw = 0
        for i in range(n - 1, -1, -1):
            raw = (raw << 8) | data[i]
        if quantity not in ("date", "datetime", "error_flags", "fabrication_no"):
            raw = _signed(raw, n)
    if quantity in ("date", "datetime") and n in (2, 4, 6) and df < 9:
        value = time_point(quantity, data)
    elif value is None and isinstance(raw, int):
        value = _scale(raw, exponent)
    p += n
    r = {"storage": storage, "tariff": tariff, "subunit": subunit, "function": func,
         "quantity": quantity, "unit": unit, "value": value, "raw": raw,
         "exponent": exponent, "dif": dif, "vif": vif, "_end": p}
    if vifes:
        r["vife"] = vifes
        if vifes[0] == 0xFF or vifes[0] == 0x7F:
            r["quantity"] = quantity + "_manufacturer"
    return r


def _printable(b):
    for c in b:
        if c < 0x20 or c > 0x7E:
            return False
    return True


def _scale(raw, exponent):
    if exponent >= 0:
        return raw * 10 ** exponent
    return raw / 10 ** -exponent

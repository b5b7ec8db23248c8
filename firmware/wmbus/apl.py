"""Application layer of M-Bus (EN 13757-3): DIF/DIFE/VIF/VIFE data records.

Record layout: DIF [DIFE...] VIF [VIFE...] data. DIF: bits 0-3 data field (0 none,
1/2/3/4/6/7 signed little-endian integers of 1/2/3/4/6/8 bytes, 5 real32, 9/A/B/C/E BCD of
2/4/6/8/12 digits, D LVAR, F special), bits 4-5 function (instantaneous, maximum,
minimum, error), bit 6 storage number LSB, bit 7 DIFE follows. DIFE: bits 0-3 storage,
4-5 tariff, 6 subunit (each DIFE adds the next higher bits). Special DIFs: 0x0F/0x1F
manufacturer-specific data to the end (kept raw), 0x2F idle filler.
VIF: primary table (EN 13757-3 table 10), 0x7B/0xFB first extension table, 0x7D/0xFD
second extension table, 0x7C/0xFC plain-text VIF, 0x7F/0xFF manufacturer-specific.
BCD with 0xF in the top nibble is negative (EN 13757-3 annex B); other A-F digits mark the
value invalid (value None, raw = the data as hex; parsing goes on). Time points: type G
(date, CP16), type F (date+time, CP32), type I (CP48 with seconds).

Normalisation: energy Wh, volume m3, power W, flow m3/h, temperature C, mass kg,
voltage V, current A; `raw` (exact integer) and `exponent` are kept, value = raw*10^exp.
"""
from texts import msg
from wmbus import WmbusError

_FUNCS = const(("instantaneous", "maximum", "minimum", "error"))
# data field -> length in bytes (LVAR=-1, special=-2, real32 reported separately)
_DLEN = const(b"\x00\x01\x02\x03\x04\x04\x06\x08\x00\x01\x02\x03\x04\xff\x06\xfe")
_DURATION = const(("s", "min", "h", "d"))

# VIF tables (EN 13757-3 table 10 primary, table 12 first extension 0xFB, table 14 second
# extension 0xFD) as bytes, not as code with one string object per quantity (RAM: ~1 KB of
# heap less on x64 while the decoder is loaded). Rows of 5 bytes, ascending: hi (first
# VIF (without the extension bit) after the row), name offset in _NAMES (2 bytes LE;
# 0xFFFF = not in the table), unit index in _UNITS (0xFF = duration: unit s/min/h/d by
# the VIF's low 2 bits, exponent as stored), exponent + 128 of the row's first VIF (it
# grows by one per VIF within the row). Generated from the functions they replaced;
# tests/wmbus/mp_test_memory.py compares them with those over all 128 VIFs.
_PRI = const((
    b"\x08\x01\x00\x01\x7d\x10\x01\x00\x02\x80\x18\x08\x00\x03\x7a\x20\x0f\x00\x04\x7d"
    b"\x24\x14\x00\xff\x80\x28\x1c\x00\xff\x80\x30\x2b\x00\x05\x7d\x38\x2b\x00\x06\x80"
    b"\x40\x31\x00\x07\x7a\x48\x31\x00\x08\x79\x50\x31\x00\x09\x77\x58\x36\x00\x0a\x7d"
    b"\x5c\x40\x00\x0b\x7d\x60\x51\x00\x0b\x7d\x64\x64\x00\x0c\x7d\x68\x7b\x00\x0b\x7d"
    b"\x6c\x90\x00\x0d\x7d\x6d\x99\x00\x00\x80\x6e\x9e\x00\x00\x80\x6f\xa7\x00\x00\x80"
    b"\x70\xff\xff\x00\x80\x74\xab\x00\xff\x80\x78\xbe\x00\xff\x80\x79\xd1\x00\x00\x80"
    b"\x7a\xe0\x00\x00\x80\x7b\xec\x00\x00\x80\x80\xff\xff\x00\x80"
))
_FB = const((
    b"\x02\x01\x00\x01\x85\x08\xff\xff\x00\x80\x0a\x01\x00\x02\x88\x10\xff\xff\x00\x80"
    b"\x12\x08\x00\x03\x82\x18\xff\xff\x00\x80\x1a\x0f\x00\x04\x85\x1c\xf8\x00\x0e\x7f"
    b"\x28\xff\xff\x00\x80\x2a\x2b\x00\x05\x85\x2c\xff\xff\x00\x80\x30\x0a\x01\x0f\x7d"
    b"\x32\x2b\x00\x06\x88\x74\xff\xff\x00\x80\x78\x14\x01\x0b\x7d\x80\x26\x01\x05\x7d"
))
_FD = const((
    b"\x04\x30\x01\x00\x7d\x08\x37\x01\x00\x7d\x09\x3d\x01\x00\x80\x0a\x4b\x01\x00\x80"
    b"\x0b\x52\x01\x00\x80\x0c\x5f\x01\x00\x80\x0d\x6d\x01\x00\x80\x0e\x7b\x01\x00\x80"
    b"\x0f\x8c\x01\x00\x80\x10\x9d\x01\x00\x80\x11\xae\x01\x00\x80\x12\xc0\x01\x00\x80"
    b"\x16\xff\xff\x00\x80\x17\xc9\x01\x00\x80\x18\xd2\x01\x00\x80\x19\xde\x01\x00\x80"
    b"\x1a\xff\xff\x00\x80\x1b\xe9\x01\x00\x80\x1c\xf8\x01\x00\x80\x1d\x06\x02\x00\x80"
    b"\x20\xff\xff\x00\x80\x21\x10\x02\x00\x80\x22\x1e\x02\x00\x80\x23\x2b\x02\x00\x80"
    b"\x24\xff\xff\x00\x80\x28\x3e\x02\xff\x80\x2c\xff\xff\x00\x80\x30\x4f\x02\xff\x80"
    b"\x3a\xff\xff\x00\x80\x3b\x66\x02\x00\x80\x40\xff\xff\x00\x80\x50\x74\x02\x10\x77"
    b"\x60\x7c\x02\x11\x74\x61\x84\x02\x00\x80\x62\x92\x02\x00\x80\x63\xa5\x02\x00\x80"
    b"\x64\xb4\x02\x00\x80\x65\xc0\x02\x00\x80\x66\xff\xff\x00\x80\x67\xcc\x02\x00\x80"
    b"\x68\xe1\x02\x00\x80\x6c\xef\x02\xff\x80\x70\x09\x03\xff\x80\x71\x20\x03\x00\x80"
    b"\x72\x2f\x03\x00\x80\x74\xff\xff\x00\x80\x75\x34\x03\x12\x80\x80\xff\xff\x00\x80"
))
_NAMES = const((
    " energy volume mass on_time operating_time power flow mass_flow "
    "flow_temperature return_temperature temperature_difference external_temperature "
    "pressure date datetime hca averaging_duration actuality_duration fabrication_no "
    "enhanced_id bus_address relative_humidity frequency temperature_limit max_power "
    "credit debit access_number medium manufacturer parameter_set model_version "
    "hardware_version firmware_version software_version customer_location customer "
    "password error_flags error_mask digital_output digital_input baud_rate "
    "first_storage last_storage storage_block_size storage_interval "
    "duration_since_readout dimensionless voltage current reset_counter "
    "cumulation_counter control_signal day_of_week week_number parameter_activation "
    "supplier_info duration_since_cumulation battery_operating_time battery_change "
    "rssi remaining_battery_life "
))
_UNITS = const(("", "Wh", "J", "m3", "kg", "W", "J/h", "m3/h", "m3/min", "m3/s", "kg/h",
                 "C", "K", "bar", "%", "Hz", "V", "A", "d"))

# error texts, msg(_E, i) (one string constant: RAM)
_E = const(("bad BCD digit"  # 0
      "|malformed record: %s"  # 1
      "|reserved special DIF 0x%02x"  # 2
      "|DIFE chain runs off the end"  # 3
      "|record without VIF"  # 4
      "|missing VIFE"  # 5
      "|VIFE chain runs off the end"  # 6
      "|missing plain-text unit"  # 7
      "|plain-text unit runs off the end"  # 8
      "|missing LVAR"  # 9
      "|reserved LVAR 0x%02x"  # 10
      "|data runs off the end"))  # 11


def _vif(tab, v):
    """VIF (7 bits) -> (quantity, unit, exponent) from one of the tables, or None."""
    lo = 0
    i = 0
    while i < len(tab):  # (no range object per lookup)
        hi = tab[i]
        if v < hi:
            off = tab[i + 1] | (tab[i + 2] << 8)
            if off == 0xFFFF:
                return None
            u = tab[i + 3]
            e = tab[i + 4] - 128
            name = _NAMES[off:_NAMES.find(" ", off)]
            if u == 0xFF:
                return name, _DURATION[v & 3], e
            return name, _UNITS[u], e + v - lo
        lo = hi
        i += 5
    return None


def _bcd(buf, p, nbytes):
    # few locals (a bytecode frame beyond 11 words comes from the heap on every call)
    if nbytes <= 0:
        return 0
    i = p + nbytes - 1
    b = buf[i]
    neg = b >= 0xF0  # sign in the top nibble
    if neg:
        b &= 0x0F
    v = 0
    while True:
        if b >> 4 > 9 or b & 15 > 9:
            _bad_bcd(i)
        v = v * 100 + (b >> 4) * 10 + (b & 15)
        i -= 1
        if i < p:
            return -v if neg else v
        b = buf[i]


def _bad_bcd(i):
    raise WmbusError("apl", msg(_E, 0), i)  # bad BCD digit


def time_point(quantity, data):
    """Type G/F/I time point as ISO text (None if the meter marks it invalid)."""
    n = len(data)
    if n not in (2, 4, 6) or n == 4 and data[0] & 0x80:
        return None
    k = n - 2 - (n > 4)  # the type G date: bytes 0-1, 2-3 (type F), 3-4 (type I)
    b0 = data[k]
    b1 = data[k + 1]
    y = ((b0 & 0xE0) >> 5) | ((b1 & 0xF0) >> 1)
    d = "%04d-%02d-%02d" % (2000 + y, b1 & 15, b0 & 31)
    if n == 2:
        return d
    if n == 4:
        return "%sT%02d:%02d" % (d, data[1] & 31, data[0] & 63)
    return "%sT%02d:%02d:%02d" % (d, data[2] & 31, data[1] & 63, data[0] & 63)


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
            if buf[p] == 0x2F:  # idle filler (not a _record call: its frame is ~0.4 KB)
                p += 1
                continue
            r = _record(buf, p, end)
            p = _END
            out.append(r)
    except Exception as e:  # noqa: BLE001 - every malformation becomes WmbusError
        if not isinstance(e, WmbusError):
            e = WmbusError("apl", msg(_E, 1) % e, p)  # malformed record: %s
        if partial is None:
            raise e
        partial.append(e)
        out.append({"storage": 0, "tariff": 0, "subunit": 0, "function": "instantaneous",
                    "quantity": "undecoded", "unit": "", "value": None,
                    "raw": bytes(buf[p:end]).hex(), "exponent": 0})
    return out


_END = 0  # _record leaves the end of the record it parsed here (no "_end" key per dict)


def _record(buf, p, end):
    global _END
    start = p
    dif = buf[p]
    p += 1
    if dif in (0x0F, 0x1F):
        _END = end
        return {"storage": 0, "tariff": 0, "subunit": 0, "function": "instantaneous",
                "quantity": "manufacturer_specific", "unit": "", "value": None,
                "raw": bytes(buf[p:end]).hex(), "exponent": 0, "more": dif == 0x1F}
    if dif & 0x0F == 0x0F:
        raise WmbusError("apl", msg(_E, 2) % dif, start)  # reserved special DIF 0x%02x
    storage = (dif >> 6) & 1
    tariff = 0
    subunit = 0
    func = _FUNCS[(dif >> 4) & 3]
    ext = dif & 0x80
    k = 0
    while ext:
        if p >= end or k >= 10:
            raise WmbusError("apl", msg(_E, 3), p)  # DIFE chain runs off the end
        d = buf[p]
        p += 1
        storage |= (d & 15) << (1 + 4 * k)
        tariff |= ((d >> 4) & 3) << (2 * k)
        subunit |= ((d >> 6) & 1) << k
        ext = d & 0x80
        k += 1
    if p >= end:
        raise WmbusError("apl", msg(_E, 4), p)  # record without VIF
    vif = buf[p]
    p += 1
    vifes = None  # a list only when there are VIFEs (RAM: no empty list per record)
    text_unit = None
    v = vif & 0x7F
    if v == 0x7B or v == 0x7D:
        if p >= end:
            raise WmbusError("apl", msg(_E, 5), p)  # missing VIFE
        e = buf[p]
        p += 1
        x = e & 0x7F
        q = _vif(_FB, x) or ("fb_%02x" % x, "", 0) if v == 0x7B else \
            _vif(_FD, x) or ("fd_%02x" % x, "", 0)
        vif = (vif << 8) | e
        ext = e & 0x80
    elif v == 0x7C:  # plain-text unit: length + ASCII (reversed)
        ext = vif & 0x80
        q = ("text_unit", "", 0)
    elif v == 0x7F or v == 0x7E:
        q = ("manufacturer_specific" if v == 0x7F else "any", "", 0)
        ext = vif & 0x80
    else:
        q = _vif(_PRI, v) or ("vif_%02x" % v, "", 0)
        ext = vif & 0x80
    k = 0
    while ext:
        if p >= end or k >= 10:
            raise WmbusError("apl", msg(_E, 6), p)  # VIFE chain runs off the end
        e = buf[p]
        p += 1
        if vifes is None:
            vifes = []
        vifes.append(e)
        ext = e & 0x80
        k += 1
    if v == 0x7C:
        if p >= end:
            raise WmbusError("apl", msg(_E, 7), p)  # missing plain-text unit
        n = buf[p]
        if p + 1 + n > end:
            raise WmbusError("apl", msg(_E, 8), p)  # plain-text unit runs off the end
        text_unit = bytes(reversed(buf[p + 1:p + 1 + n])).decode()
        p += 1 + n
    quantity, unit, exponent = q
    if text_unit is not None:
        unit = text_unit
    df = dif & 0x0F
    n = _DLEN[df]
    if n > 127:
        n -= 256
    lvar = df == 0x0D
    if lvar:
        if p >= end:
            raise WmbusError("apl", msg(_E, 9), p)  # missing LVAR
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
            raise WmbusError("apl", msg(_E, 10) % lv, p - 1)  # reserved LVAR 0x%02x
    if p + n > end:
        raise WmbusError("apl", msg(_E, 11), p)  # data runs off the end
    # a copy of the data only where it is needed (RAM: integers are read from buf)
    data = buf[p:p + n] if lvar or df == 5 or quantity in ("date", "datetime") else None
    raw = None
    value = None
    if lvar:
        if lv <= 0xBF:
            for c in data:
                if c < 0x20 or c > 0x7E:
                    raw = bytes(data).hex()
                    break
            else:
                raw = bytes(reversed(data)).decode()
        elif lv <= 0xDF:
            raw = _bcd(buf, p, n)
            if lv >= 0xD0:
                raw = -raw
        else:
            raw = bytes(data).hex()
        value = raw
    elif df == 5:
        import struct

        value = struct.unpack_from("<f", buf, p)[0]
        raw = bytes(data).hex()
    elif n == 0:
        raw = None
    elif df >= 9:
        try:
            raw = _bcd(buf, p, n)
        except WmbusError:  # A-F digits (e.g. FFFFFFFF): the meter marks the value invalid;
            raw = bytes(buf[p:p + n]).hex()  # the record's length is known, so parse on
    else:
        raw = 0
        i = p + n - 1
        while i >= p:
            raw = (raw << 8) | buf[i]
            i -= 1
        top = 1 << (8 * n - 1)
        # dates (0x6C/0x6D), fabrication no./enhanced id/bus address (0x78-0x7A) and 0xFD08-
        # 0xFD1B (access number, versions, error flags, digital I/O, ...) are identifiers,
        # counters or bit fields, never negative: an 8-bit access number 0xF0 is 240, not -16
        # (integer tests, not a tuple of quantity names: ~0.4 KB of heap less)
        if raw & top and not (0x6C <= v <= 0x6D or 0x78 <= v <= 0x7A
                              or v == 0x7D and 0x08 <= vif & 0x7F <= 0x1B):
            raw -= top << 1
    if quantity in ("date", "datetime") and n in (2, 4, 6) and df < 9:
        value = time_point(quantity, data)
    elif value is None and isinstance(raw, int):
        value = raw * 10 ** exponent if exponent >= 0 else raw / 10 ** -exponent
    _END = p + n
    r = {"storage": storage, "tariff": tariff, "subunit": subunit, "function": func,
         "quantity": quantity, "unit": unit, "value": value, "raw": raw,
         "exponent": exponent, "dif": dif, "vif": vif}
    if vifes:
        r["vife"] = vifes
        if vifes[0] == 0xFF or vifes[0] == 0x7F:
            r["quantity"] = quantity + "_manufacturer"
    return r

# RAM measures of the wmbus layer (docs/memory.md): what is loaded lazily stays unloaded
# until needed, and the compact tables decode exactly like the tables they replaced.
# heapsize: 256K
import sys

from mptest import eq

# the VIF 0xFD name table as it was (a dict literal), used by the reference _ext_fd below
_FD_REF = {0x08: 'access_number', 0x09: 'medium', 0x0A: 'manufacturer', 0x0B: 'parameter_set',
           0x0C: 'model_version', 0x0D: 'hardware_version', 0x0E: 'firmware_version',
           0x0F: 'software_version', 0x10: 'customer_location', 0x11: 'customer',
           0x16: 'password', 0x17: 'error_flags', 0x18: 'error_mask', 0x1A: 'digital_output',
           0x1B: 'digital_input', 0x1C: 'baud_rate', 0x20: 'first_storage',
           0x21: 'last_storage', 0x22: 'storage_block_size', 0x3A: 'dimensionless',
           0x60: 'reset_counter', 0x61: 'cumulation_counter', 0x62: 'control_signal',
           0x63: 'day_of_week', 0x64: 'week_number', 0x66: 'parameter_activation',
           0x67: 'supplier_info', 0x70: 'battery_change', 0x71: 'rssi',
           0x74: 'remaining_battery_life'}


# The VIF tables as they were (functions with one string per quantity): the reference
# for apl._PRI/_FB/_FD (bytes tables read by apl._vif)
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


def _ext_fd(v):
    """Second extension table (VIF 0xFD, EN 13757-3 table 14)."""
    if v < 0x08:
        return ("credit" if v < 4 else "debit"), "", (v & 3) - 3
    name = _FD_REF.get(v)
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
    return f"fd_{v:02x}", "", 0


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
    return f"fb_{v:02x}", "", 0


def test_vif_tables_equal_reference_functions():
    from wmbus import apl

    def q(vifs):  # one record: DIF 01 (8-bit integer), the VIF(s), data 05
        r = apl.parse(bytes((0x01,) + vifs + (0x05,)))[0]
        return r["quantity"], r["unit"], r["exponent"]

    for v in range(128):
        if v < 0x7B:
            eq(q((v,)), _primary(v) or (f"vif_{v:02x}", "", 0), v)
        eq(q((0xFB, v)), _ext_fb(v), v)
        eq(q((0xFD, v)), _ext_fd(v), v)


class _Ctx:
    def __init__(self):
        self.logs = []

    def log(self, level, event, msg):
        self.logs.append(event)


def test_decoder_loaded_on_first_frame_only():
    from wmbus import service  # noqa: F401 - the boot-time import set
    from wmbus.keys import KeyStore
    from wmbus.receiver import Receiver

    for m in ("wmbus.telegram", "wmbus.apl", "wmbus.obis", "crypto.aes"):
        assert m not in sys.modules, m
    rx = Receiver(_Ctx(), KeyStore("/nonexistent/keys.json"))
    eq(rx.handle(b"\x05\x44\x00\x00\x00\x00"), 0)  # too short: a dll error, counted
    eq(rx.stats["errors"], 1)
    assert "wmbus.telegram" in sys.modules and "wmbus.apl" in sys.modules


def test_viper_aes_not_loaded_with_cryptolib():
    from crypto import aes

    eq(aes.BACKEND, "cryptolib")
    assert "crypto.aes_viper" not in sys.modules
    v = aes.ViperAES(bytes(16))  # on demand (tests, bench, ports without cryptolib)
    assert "crypto.aes_viper" in sys.modules
    a, b = bytearray(16), bytearray(16)
    v.encrypt(bytes(16), a)
    aes.AES(bytes(16)).encrypt(bytes(16), b)
    eq(a, b)
    eq(aes.expand_key(bytes(16))[:16], bytes(16))
    try:
        getattr(aes, "NoSuchThing")  # noqa: B009 - the module's __getattr__ is under test
    except AttributeError:
        pass
    else:
        raise AssertionError("module __getattr__ must raise AttributeError")


def test_unknown_meters_listed_up_to_a_bound():
    from mptest import vectors
    from wmbus.keys import KeyStore
    from wmbus.receiver import Receiver

    frame = bytearray(bytes.fromhex(vectors("wmbus_telegrams.jsonl")[13]["hex"]))
    ctx = _Ctx()
    rx = Receiver(ctx, KeyStore("/nonexistent/keys.json"))
    for i in range(70):  # 70 neighbours' meters (the id is DLL bytes 4..7, BCD)
        frame[4:8] = bytes((i % 10 | (i // 10) << 4, 0x99, 0x99, 0x99))
        eq(rx.handle(bytes(frame)), 0)
        eq(rx.handle(bytes(frame)), 0)
    eq(len(rx.unknown), 64)
    eq(set(rx.unknown.values()), {2})
    eq(rx.stats["unknown"], 64)
    eq(rx.stats["unknown_unlisted"], 12)  # 6 meters x 2 telegrams
    eq(ctx.logs.count("wmbus.unknown"), 65)  # one per listed meter + one "more than 64"


def test_error_texts_from_message_tables():
    from texts import msg
    from wmbus import WmbusError, apl, frame, telegram

    eq([msg("a|bc||d", i) for i in range(4)], ["a", "bc", "", "d"])
    for f, want in ((lambda: frame.strip(bytes(12), "A"),
                     "frame: length does not match L for format A at 0"),
                    (lambda: apl.parse(b"\x04"), "apl: record without VIF at 1"),
                    (lambda: telegram.decode(bytes.fromhex("0a440000000000000000ff"), None,
                                             "none"), "tpl: unsupported CI 0xff at 10")):
        try:
            f()
        except WmbusError as e:
            eq(str(e), want)
        else:
            raise AssertionError(want)


def test_obis_media_table_equals_dict():
    from wmbus import obis

    elec = ("1-0:1.8", "energy", 30, "Wh")
    heat = ("6-0:1.0", "energy", 30, "Wh")
    water = ("8-0:1.0", "volume", 13, "m3")
    gas = ("7-0:3.0", "volume", 13, "m3")
    hca = ("4-0:1.0", "hca", 255, "")
    ref = {0x02: elec, 0x03: gas, 0x04: heat, 0x0C: heat, 0x0D: heat, 0x06: water,
           0x07: water, 0x15: water, 0x16: water, 0x28: water, 0x08: hca}  # as it was
    for dt in range(256):
        m = ref.get(dt)
        recs = [{"quantity": q, "function": "instantaneous", "subunit": 0, "unit": u,
                 "raw": 7, "storage": 0, "tariff": 0, "exponent": -1}
                for q, u in (("energy", "Wh"), ("volume", "m3"), ("hca", ""))]
        want = [] if m is None else [(m[0] + ".0*255", 7, -1, m[2])]
        eq(obis.channels(dt, recs), want, dt)


def _date_g_ref(b0, b1):
    y = ((b0 & 0xE0) >> 5) | ((b1 & 0xF0) >> 1)
    return f"{2000 + y:04d}-{b1 & 15:02d}-{b0 & 31:02d}"


def _time_point_ref(data):  # apl.time_point as it was (with a helper function)
    n = len(data)
    if n == 2:
        return _date_g_ref(data[0], data[1])
    if n == 4:
        if data[0] & 0x80:
            return None
        return f"{_date_g_ref(data[2], data[3])}T{data[1] & 31:02d}:{data[0] & 63:02d}"
    if n == 6:
        d = _date_g_ref(data[3], data[4])
        return f"{d}T{data[2] & 31:02d}:{data[1] & 63:02d}:{data[0] & 63:02d}"
    return None


def test_inlined_helpers_decode_as_before():
    import os

    from wmbus import apl

    for _ in range(300):
        d = os.urandom(os.urandom(1)[0] % 8)
        eq(apl.time_point("date", d), _time_point_ref(d), d)
    r = apl.parse(bytes.fromhex("0d7c02796103414243" "0d7c0279610301ff43" "05fd17"
                                "0000c03f" "0213feff" "0413feffffff" "02fd17feff"))
    eq([(x["unit"], x["raw"], x["value"]) for x in r],
       [("ay", "CBA", "CBA"), ("ay", "01ff43", "01ff43"), ("", "0000c03f", 1.5),
        ("m3", -2, -0.002), ("m3", -2, -0.002), ("", 0xFFFE, 0xFFFE)])


def test_receiver_texts_from_message_table():
    from wmbus import WmbusError
    from wmbus.keys import KeyStore
    from wmbus.receiver import Receiver

    class Ctx:
        def __init__(self):
            self.logs = []

        def log(self, level, event, msg):
            self.logs.append((level, event, msg))

    ctx = Ctx()
    rx = Receiver(ctx, KeyStore("/nonexistent/keys.json"))
    rx._error(WmbusError("mac", "x", 3, "KAM-1"))
    rx._error(WmbusError("key", "no key", 3, "KAM-2"))
    rx._reset("KAM-3", 5)
    rx._reset("KAM-3", 6)
    rx._reset("KAM-3", 7)
    eq(ctx.logs, [(3, "wmbus.decrypt", "decryption failed for meter KAM-1 (x, 1 times)"),
                  (2, "wmbus.unknown", "unknown meter KAM-2 (encrypted, no key)"),
                  (2, "wmbus.counter", "meter KAM-3 restarted its message counter")])
    eq(sorted(rx.diag()), ["decrypt_failed", "decrypt_failures", "errors", "errors_by_layer",
                           "frames", "good", "keys", "last_decode_us", "readings",
                           "replayed", "unknown", "unknown_meters", "unknown_unlisted"])

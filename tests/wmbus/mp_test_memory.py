# RAM measures of the wmbus layer (docs/memory.md): what is loaded lazily stays unloaded
# until needed, and the compact tables decode exactly like the tables they replaced.
# heapsize: 256K
import sys

from mptest import eq

# the VIF 0xFD name table as it was (a dict literal), the reference for apl._FD_NAMES
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


def test_fd_names_equal_reference_table():
    from wmbus import apl

    for v in range(256):
        eq(apl._fd_name(v), _FD_REF.get(v), v)
    for v in range(8, 128):
        q, unit, exp = apl._ext_fd(v)
        if v in _FD_REF:
            eq((q, unit, exp), (_FD_REF[v], "d" if v == 0x74 else "", 0), v)
        else:
            assert q not in _FD_REF.values(), (v, q)


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

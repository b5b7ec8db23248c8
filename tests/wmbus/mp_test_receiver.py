# Receiver: OBIS mapping, replay protection, unknown meters, decryption failures, key store.
# heapsize: 1M
import json

from mptest import eq, tmpdir, vectors
from wmbus import obis
from wmbus.keys import KeyStore
from wmbus.receiver import Receiver

VEC = vectors("wmbus_telegrams.jsonl")
H = bytes.fromhex


class Ctx:
    def __init__(self):
        self.logs = []
        self.readings = []
        self.leds = []
        self.seen = {}

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))

    def ingest(self, meter, ob, raw, scaler, unit, t, status=None, via="lmn"):
        self.readings.append((meter, ob, raw, scaler, unit, status, via))

    def meter_seen(self, meter, via, **info):
        self.seen[meter] = info

    def led(self, name, v):
        self.leds.append((name, v))

    def now(self):
        return 1700000000


def _store(entries):
    p = tmpdir() + "/meters.json"
    with open(p, "w") as f:
        json.dump(entries, f)
    return KeyStore(p)


def test_keystore_never_shows_keys():
    ks = _store({"ELS-12345678": "0102030405060708090A0B0C0D0E0F11", "76348799": "",
                 "BAD-1": "xyz"})
    eq(ks.get("ELS-12345678"), H("0102030405060708090A0B0C0D0E0F11"))
    eq(ks.get("els-12345678"), H("0102030405060708090A0B0C0D0E0F11"))
    eq(ks.known("KAM-76348799"), True)  # bare id, unencrypted entry
    eq(ks.get("KAM-76348799"), None)
    eq(ks.known("KAM-00000000"), False)
    assert "0102" not in repr(ks) and "0102" not in str(ks)
    eq(ks.error, "bad key for one meter")
    ks.put("DME-1", "00" * 16)
    eq(KeyStore(ks.path).get("DME-1"), bytes(16))
    eq(KeyStore(tmpdir() + "/absent.json").get("X-1"), None)


def _ref_find(d, meter):
    """The key store's lookup as it was (a dict of normalised id -> key bytes)."""
    from wmbus.keys import norm

    k = {norm(m): (bytes.fromhex(v) if v else b"") for m, v in d.items()}
    meter = norm(meter)
    r = k.get(meter)
    if r is None and "-" in meter:
        r = k.get(meter.split("-", 1)[1])
    return r


def test_keystore_packed_table_equals_dict_lookup():
    d = {"kam-12345678": "0102030405060708090A0B0C0D0E0F11",
         "76348799": "", "ELS-76348799": "33" * 16, "@_[-0000abcd": "44" * 16,
         "DME-1": "55" * 16, "1": "66" * 16, "X-Y-Z": "", "ZRI-1234567g": "77" * 16,
         "ab-12345678": "88" * 16, "QDS-99999999": None}
    ks = _store(d)
    eq(len(ks), len(d))
    eq(ks.error, None)
    for m in ("KAM-12345678", "kam-12345678", "Kam-12345678", "DME-76348799",
              "ELS-76348799", "@_[-0000ABCD", "DME-1", "XYZ-1", "1", "x-y-z", "X-Y-Z",
              "ZRI-1234567G", "ab-12345678", "AB-12345678", "QDS-99999999", "99999999",
              "KAM-00000000", "12345678", "0000abcd", "", "-", "KAM-", "KAM-123456789"):
        eq(ks.known(m), _ref_find(d, m) is not None, m)
        eq(ks.get(m), _ref_find(d, m) or None, m)
    ks.put("kam-12345678", "99" * 16)
    eq((ks.get("KAM-12345678"), len(ks)), (H("99" * 16), len(d)))
    ks = _store({"KAM-12345678": "99" * 16, "kam-12345678": "99" * 16})  # one meter
    eq((ks.get("KAM-12345678"), len(ks)), (H("99" * 16), 1))


def test_obis_mapping_by_medium():
    rec = lambda q, raw, e, st=0, ta=0, fn="instantaneous", su=0, unit="m3": {
        "quantity": q, "raw": raw, "exponent": e, "storage": st, "tariff": ta,
        "function": fn, "subunit": su, "unit": unit}
    eq(obis.channels(0x07, [rec("volume", 6408, -3), rec("volume", 1, -3, st=3),
                            rec("volume", 5, -3, fn="maximum")]),
       [("8-0:1.0.0*255", 6408, -3, 13), ("8-0:1.0.0*3", 1, -3, 13)])
    eq(obis.channels(0x02, [rec("energy", 873, 0, ta=1, unit="Wh")]),
       [("1-0:1.8.1*255", 873, 0, 30)])
    eq(obis.channels(0x03, [rec("volume", 9, -2)]), [("7-0:3.0.0*255", 9, -2, 13)])
    eq(obis.channels(0x04, [rec("energy", 9, 3, unit="Wh"), rec("energy", 9, 3, unit="J")]),
       [("6-0:1.0.0*255", 9, 3, 30)])
    eq(obis.channels(0x08, [rec("hca", 1234, 0, unit="")]), [("4-0:1.0.0*255", 1234, 0, 255)])
    eq(obis.channels(0x37, [rec("volume", 1, 0)]), [])


def test_readings_replay_unknown_and_decrypt_failures():
    ctx = Ctx()
    ks = _store({"ELS-12345678": VEC[20]["key"], "KAM-76348799": VEC[0]["key"]})
    rx = Receiver(ctx, ks)
    oms = H(VEC[20]["hex"])  # gas meter, mode 5, 28504.27 m3
    eq(rx.handle(oms, "A", -70, "T1"), 1)
    eq(ctx.readings, [("ELS-12345678", "7-0:3.0.0*255", 2850427, -2, 13, 0, "wmbus")])
    eq(ctx.seen["ELS-12345678"]["rssi_dbm"], -70)
    # a known meter's id is interned (RAM): the one object for every holder, and a
    # string made anew from its parts (as the decoder does per telegram) is that object
    mid = ctx.readings[0][0]
    assert "ELS" + "-" + "12345678" is mid and next(iter(rx.last)) is mid
    assert ("WMT", 1) in ctx.leds
    # a repeater resends the same telegram: dropped
    eq(rx.handle(oms, "A", -75), 0)
    eq(rx.stats["replayed"], 1)
    # mode 7 with an AFL counter: the same counter again is a replay
    ks.put("ELS-12345678", VEC[21]["key"])
    eq(rx.handle(H(VEC[21]["hex"])), 1)
    eq(rx.handle(H(VEC[21]["hex"])), 0)
    eq(rx.stats["replayed"], 2)
    # unknown meters: counted every time, logged once
    for _ in range(3):
        rx.handle(H(VEC[13]["hex"]))  # unencrypted GSS electricity meter, not in the store
        rx.handle(H(VEC[3]["hex"]))  # encrypted, no key
    eq(rx.unknown, {"GSS-18046178": 3, "AAA-61070071": 3})
    eq(len([x for x in ctx.logs if x[1] == "wmbus.unknown"]), 2)
    eq(rx.stats["unknown"], 2)
    # wrong key: logged with the meter id, never with the key
    ks.put("KAM-76348799", "00" * 16)
    rx.handle(H(VEC[0]["hex"]))
    eq(rx.stats["decrypt_failed"], 1)
    lg = [x for x in ctx.logs if x[1] == "wmbus.decrypt"]
    eq(len(lg), 1)
    assert "KAM-76348799" in lg[0][2]
    for x in ctx.logs:
        assert VEC[0]["key"].lower() not in x[2].lower()
    # garbage: counted, no exception
    eq(rx.handle(b"\x05\x44\x00"), 0)
    eq(rx.errors["frame"], 1)
    d = rx.diag()
    eq(d["keys"], 2)
    assert VEC[20]["key"].lower() not in json.dumps(d).lower()


def test_counter_replay_and_meter_counter_reset():
    ctx = Ctx()
    ks = _store({"ELS-12345678": "000102030405060708090A0B0C0D0E0F"})
    rx = Receiver(ctx, ks)
    from wmbus.telegram import decode

    base = H(VEC[21]["hex"])
    eq(decode(base, ks.get)["counter"], 0x0AB3)
    eq(rx.handle(base), 1)
    eq(rx.handle(base), 0)  # same counter: replay
    # a newer counter was seen before: the old telegram is a replay
    rx.last["ELS-12345678"] = (5000 + 1) << 9 | 1  # counter 5000, access number 1
    eq(rx.handle(base), 0)  # 0x0AB3 < 5000: replay (1st backwards)
    eq(rx._reset("ELS-12345678", 0x0AB4), False)  # 2nd, increasing
    eq(rx._reset("ELS-12345678", 0x0AB5), True)  # 3rd: the meter restarted its counter
    eq(len([x for x in ctx.logs if x[1] == "wmbus.counter"]), 1)
    eq(rx.stats["replayed"], 2)

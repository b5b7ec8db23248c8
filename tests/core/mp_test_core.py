# Core: OML status/queries, time deviation rules, logs, tenants, via ctx.core.ingest.
# heapsize: 512K
import corefix
from core.oml import METER_ID, SMGW_ID, TIME_INVALID, OmlError
from mptest import eq, raises

M1, M2 = "0a01454d480000000001", "KAM-12345678"
E = "1-0:1.8.0*255"
T0 = 1767225600  # 2026-01-01T00:00:00Z


def _core(config=None):
    m = corefix.fresh_fs()
    clk = corefix.Clock(T0)
    return corefix.core(m, clk, config), clk, m


def test_ingest_status_word_and_last_value():
    c, clk, _ = _core()
    seq = c.ingest(M1, E, 123456789012, -1, 30, T0 + 3, None)
    eq(seq, 1)
    d = c.oml.last(M1, E)
    eq(d["raw"], 123456789012)
    eq(d["target_time"], T0)  # 3 s from the grid point: target = the grid point
    eq(d["status"] & 0xFFFFFFFF, SMGW_ID)
    eq(d["status"] >> 32, METER_ID)  # meter sent none: identification bit only
    c.ingest(M1, E, 5, 0, 30, T0 + 100, 0x00040104)
    d = c.oml.last(M1, E)
    eq(d["status"] >> 32, 0x00040104)
    eq(d["target_time"], T0 + 100)  # off the grid: target = capture
    eq(c.oml.last(M1, "1-0:2.8.0*255"), None)
    with raises(OmlError):
        c.ingest(M1, E, 1.5, 0, 30, T0 + 200)
    with raises(OmlError):
        c.ingest(M1, E, 1 << 64, 0, 30, T0 + 200)
    eq(c.channels(), [(M1, E)])


def test_queries_inclusive_and_paged():
    c, clk, m = _core()
    for i in range(100):
        c.ingest(M1, E, 1000 + i, -1, 30, T0 + i * 60)
        c.ingest(M2, "8-0:1.0.0*255", i, -3, 13, T0 + i * 60 + 1)
    q = c.oml.query(M1, E, T0 + 600, T0 + 1200, 0, 100)
    eq([d["capture_time"] for d in q], [T0 + 600 + 60 * k for k in range(11)])  # both ends
    eq(len(c.oml.query(M1, E, T0 + 601, T0 + 1199)), 9)
    pages = []
    off = 0
    while True:
        p = c.oml.query(M1, E, T0, T0 + 99 * 60, off, 7)
        if not p:
            break
        pages += p
        off += len(p)
    eq([d["raw"] for d in pages], list(range(1000, 1100)))
    eq(c.oml.query(M1, E, T0 + 10 ** 6, T0 + 10 ** 7), [])
    eq(c.oml.query("nope", E, 0, 1 << 40), [])
    # a reboot: the last value comes back without a scan, queries still work
    from core.core import Core
    c2 = Core(m + "/store", clk)
    eq(c2.oml.last(M2, "8-0:1.0.0*255")["raw"], 99)
    eq(len(c2.oml.query(M1, E, T0, T0 + 99 * 60)), 100)


def test_time_deviation_rules():
    c, clk, _ = _core()
    eq(c.time_status(), "unsynchronised")
    eq(c.time_sync(0.5), "synchronised")
    eq(c.clock.limit_s, 27)
    c.ingest(M1, E, 1, 0, 30, clk.t)
    eq(c.oml.last(M1, E)["status"] & TIME_INVALID, 0)
    eq(c.time_sync(26.0), "synchronised")  # within 3 % of 900 s
    eq(c.logs["calibration"].list.last_seq, 0)
    eq(c.time_sync(-28.0), "invalid")  # beyond: calibration-log event, time invalid
    cal = list(c.logs["calibration"].entries())
    eq([e["event"] for e in cal], ["time.deviation"])
    c.ingest(M1, E, 2, 0, 30, clk.t + 10)
    eq(c.oml.last(M1, E)["status"] & TIME_INVALID, TIME_INVALID)
    eq(c.time_status(), "invalid")
    eq(c.time_sync(1.0), "synchronised")  # resynchronised
    eq([e["event"] for e in c.logs["calibration"].entries()], ["time.deviation",
                                                                 "time.resync"])
    c.ingest(M1, E, 3, 0, 30, clk.t + 20)
    eq(c.oml.last(M1, E)["status"] & TIME_INVALID, 0)
    # the clock itself was corrected each time
    eq(c.clock.rtc.now_ms(), clk.t * 1000 - 500)  # +0.5 +26 -28 +1


def test_logs_chain_read_logged_and_catalogue_fields():
    c, clk, m = _core()
    lg = c.logs["event"]
    for i in range(5):
        clk.t += 1
        lg.append(2, "test.event", "m%d" % i, "ok", subject="s", user="u")
    r = lg.read(reader="gwa")
    eq([e["no"] for e in r], [1, 2, 3, 4, 5])
    eq(sorted(r[0]), ["event", "level", "msg", "no", "outcome", "subject", "time", "user"])
    sys_ = list(c.logs["system"].entries())
    eq((sys_[-1]["event"], sys_[-1]["subject"], sys_[-1]["user"]), ("log.read", "event",
                                                                    "gwa"))
    eq(len(lg.read(T0 + 2, T0 + 3)), 2)  # inclusive time window
    eq(lg.read(start=4)[0]["no"], 4)
    eq(lg.verify(), (True, None))
    # edit an entry on flash (keeping the record CRC valid): the chain catches it
    from store.records import encode, scan
    p = lg.list.path + "/s%d" % lg.list.segs[0]
    with open(p, "rb") as f:
        img = f.read()
    recs = scan(img)
    o, seq, n = recs[2]
    body = bytes(img[o + 7:o + 7 + n])
    body = body.replace(b'"m2"', b'"m9"')
    img = img[:o] + encode(seq, body) + img[o + 7 + n + 4:]
    with open(p, "wb") as f:
        f.write(img)
    from core.core import Core
    c2 = Core(m + "/store", clk)
    eq(c2.logs["event"].verify(), (False, 3))
    eq([e["msg"] for e in c2.logs["event"].entries()][2], "m9")


def test_calibration_log_never_silently_overwritten():
    from core import logs
    old = logs.CAPACITY["calibration"]
    logs.CAPACITY["calibration"] = (40, "block")
    try:
        c, clk, _ = _core()
        n = 0
        while c.logs["calibration"].append(3, "time.deviation", "x%d" % n) is not None:
            n += 1
        assert n >= 40
        eq(c.logs["calibration"].list.first_seq, 1)  # nothing overwritten
        ev = [e["event"] for e in c.logs["event"].entries()]
        assert "store.almost_full" in ev and "log.calibration_full" in ev, ev
    finally:
        logs.CAPACITY["calibration"] = old


def test_ring_log_chain_survives_overwrite():
    from core import logs
    old = logs.CAPACITY["system"]
    logs.CAPACITY["system"] = (64, "drop")
    try:
        c, clk, m = _core()
        for i in range(300):
            c.logs["system"].append(1, "test", "e%d" % i)
        lst = c.logs["system"].list
        assert lst.first_seq > 1
        eq(c.logs["system"].verify(), (True, None))
        from core.core import Core
        eq(Core(m + "/store", clk).logs["system"].verify(), (True, None))
        # power cut after the anchor was written, before the segment was deleted: the
        # anchor points at an entry still in the list -> still verifies
        from store.records import write_atomic
        seg = lst.segs[0]
        p = lst.read(seg + 3)
        write_atomic(lst.path + "/anchor", bytes(p[:16]))
        eq(Core(m + "/store", clk).logs["system"].verify(), (True, None))
        write_atomic(lst.path + "/anchor", b"\x55" * 16)  # a foreign anchor does not
        eq(Core(m + "/store", clk).logs["system"].verify()[0], False)
    finally:
        logs.CAPACITY["system"] = old


TENANTS = [
    {"id": "1", "user": "c1", "password": "p", "meters": [M1], "channels": [],
     "contracts": [{"taf": "TAF7", "emt": "emt1", "valid_from": T0, "valid_to": T0 + 3600}]},
    {"id": "2", "user": "c2", "meters": [M2], "channels": [[M2, "8-0:1.0.0*255"]],
     "contracts": [{"taf": "TAF1", "emt": "emt2", "valid_from": T0, "valid_to": None}]},
    {"id": "3", "user": "old", "meters": [M1], "archived": True,
     "contracts": [{"taf": "TAF7", "emt": "emt1", "valid_from": T0 - 86400,
                    "valid_to": T0 - 1}]},
]


def test_tenants_filtering_and_archive():
    from core.tenants import TenantError
    c, clk, _ = _core({"tenants": TENANTS})
    ts = c.tenants
    eq(sorted(t.user for t in ts.active()), ["c1", "c2"])
    assert "consumer-1" in c.logs and "consumer-3" in c.logs
    assert ts.visible("c1", M1, E, T0)
    assert ts.visible("c1", M1, E, T0 + 3600)  # inclusive window
    assert not ts.visible("c1", M1, E, T0 + 3601)
    assert not ts.visible("c1", M2, "8-0:1.0.0*255", T0)
    assert ts.visible("c2", M2, "8-0:1.0.0*255", T0 + 10 ** 6)
    assert not ts.visible("c2", M2, "8-0:2.0.0*255", T0)  # channel not bound
    assert ts.visible("old", M1, E, T0 - 10)  # archived: own data stays readable
    assert not ts.visible("old", M1, E, T0)
    assert not ts.visible("nobody", M1, E, T0)
    for i in range(3):
        c.ingest(M1, E, i, 0, 30, T0 - 10 + i * 1800)
    rows = c.oml.query(M1, E, 0, 1 << 40)
    eq([r["raw"] for r in ts.filter("c1", rows)], [1, 2])
    eq([r["raw"] for r in ts.filter("old", rows)], [0])
    with raises(TenantError):
        ts.assign("old", M2)
    ts.add({"id": "4", "user": "c4", "meters": [], "contracts": []})
    with raises(TenantError):
        ts.add({"id": "5", "user": "c5", "meters": [], "contracts": []})  # 4th active
    ts.archive("c4", T0)
    ts.add({"id": "5", "user": "c5", "meters": [], "contracts": []})
    # an invalid configuration keeps the tenants in force
    errs = c.reload_config({"tenants": TENANTS + [{"id": "6", "user": "x"},
                                                  {"id": "7", "user": "y"}]})
    assert "tenants" in errs
    assert ts.get("c5") is not None


def _per_channel(config):
    import gc
    from core.oml import Oml

    c, clk, _ = _core(config)
    c.ingest(M1, E, 1, 0, 30, T0, None)  # the first channel: lists and dicts exist
    n = 40
    obis = ("1-0:1.8.0*255", "8-0:1.0.0*255")
    ids = ["KAM-%08d" % (i // 2) for i in range(n)]
    for m in ids + list(obis):
        hasattr(Oml, m)  # interned first, as Oml does: the figure is the channel's own
    gc.collect()  # (and no qstr pool step can land in it)
    a = gc.mem_alloc()
    for i in range(n):
        c.ingest(ids[i], obis[i % 2], 100 + i, 0, 30, T0 + 900, None)
        c.ingest(ids[i], obis[i % 2], 101 + i, 0, 30, T0 + 1800, None)
    gc.collect()
    return (gc.mem_alloc() - a) // n


def test_channel_keys_interned():
    # RAM: a channel's meter id and OBIS code are interned (qstrs): the readings' new
    # copies of them (decoded anew each time) are that object, no heap str
    c, clk, _ = _core()
    c.ingest("KAM-" + "%08d" % 77, "8-0:" + "1.0.0*255", 1, 0, 30, T0)
    (m, o), = [k for k in c.oml.channels() if k[0].startswith("KAM-0")]
    assert "KAM-" + "%08d" % 77 is m and "8-0:" + "1.0.0*255" is o


def test_ram_per_channel():
    # RAM guard (docs/memory.md): what the core keeps per OML channel (record list,
    # channel key, TAF state) with values in it, meter ids and OBIS codes interned (as
    # the core does, before the measurement); 20 wM-Bus meters give ~35 channels. x64,
    # incl. dict growth, with TAF7 only (the default, as in the benchmark's day): 155 B
    # (364 B measured the same way before the channel lists got their own type with 4
    # attributes each and a shared segment tuple while young); with all four TAFs: 278 B
    # (570 B before, incl. TAF1/TAF2 state under (meter, obis) tuples and TAF2's as dicts)
    per = _per_channel({"core": {"tafs": ["TAF7"]}})
    assert per < 180, per
    per = _per_channel(None)
    assert per < 310, per

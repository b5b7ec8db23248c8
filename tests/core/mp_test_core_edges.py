# Core edge cases a field gateway meets: bad input, clock stepped back, full flash, TAF
# module garbage, tenants configuration, TAF2 long gaps / counter decrease / new profile
# mid-day, time-invalid across a reboot, export schema. Each test guards one fix.
# heapsize: 512K
import json
import os

import corefix
from core.oml import TIME_INVALID, OmlError
from core.tenants import TenantError
from mptest import eq, raises, tmpdir
from taf.engine import TafError, load_source

M, M2 = "0a01454d480000000001", "KAM-12345678"
E = "1-0:1.8.0*255"
T0 = 1767225600  # 2026-01-01T00:00:00Z, a Thursday


def _core(config=None, blocks=256):
    m = corefix.fresh_fs(blocks)
    clk = corefix.Clock(T0)
    return corefix.core(m, clk, config), clk, m


def _events(c, log="event"):
    return [e["event"] for e in c.logs[log].entries()]


def test_bad_input_typed_error_nothing_truncated():
    c, _clk, _ = _core()
    # capture times outside u32 were stored wrapped (-5 -> 4294967291, 2**32+7 -> 7)
    for args in ((M, E, 1, 0, 30, -5), (M, E, 1, 0, 30, (1 << 32) + 7),
                 (M, E, 1, 0, 30, None), (M, E, 1, 1.5, 30, T0), (M, E, 1, 0, None, T0),
                 (M, E, 1, 0, 30, T0, "x"), (123, E, 1, 0, 30, T0), ("", E, 1, 0, 30, T0),
                 ("x" * 300, E, 1, 0, 30, T0), (M, None, 1, 0, 30, T0)):
        with raises(OmlError):
            c.ingest(*args)
    eq(c.oml.last(M, E), None)
    eq(c.errors, 10)
    eq(_events(c).count("core.ingest"), 10)
    eq(c.channels(), [])
    # the limits themselves are stored exactly
    c.ingest(M, E, (1 << 63) - 1, 127, 255, 0xFFFFFFFF, 0xFFFFFFFF)
    d = c.oml.last(M, E)
    eq((d["raw"], d["scaler"], d["unit"], d["capture_time"]),
       ((1 << 63) - 1, 127, 255, 0xFFFFFFFF))
    c.ingest(M2, E, -(1 << 63), -128, 0, 0)
    eq(c.oml.last(M2, E)["raw"], -(1 << 63))


def test_clock_stepped_back_queries_find_every_value():
    c, clk, m = _core()
    for k, t in enumerate((1000, 2000, 1500, 2500, 1200)):  # 1500, 1200: after a step back
        c.ingest(M, E, 100 + k, 0, 30, T0 + t)
    c.ingest(M2, E, 7, 0, 30, T0 + 1500)  # another channel, in order
    eq([d["raw"] for d in c.oml.query(M, E, T0 + 1400, T0 + 1600)], [102])
    eq([d["raw"] for d in c.oml.query(M, E, T0 + 1100, T0 + 1300)], [104])
    eq([d["raw"] for d in c.oml.query(M, E, T0, T0 + 3000)], [100, 101, 102, 103, 104])
    eq([d["raw"] for d in c.oml.query(M, E, T0, T0 + 3000, 1, 2)], [101, 102])
    eq(len(c.oml.query(M2, E, T0 + 1500, T0 + 1500)), 1)
    from core.core import Core  # the mark survives a reboot
    c2 = Core(m + "/store", clk)
    eq([d["raw"] for d in c2.oml.query(M, E, T0 + 1400, T0 + 1600)], [102])


def test_full_flash_typed_error_logged_gateway_keeps_running():
    c, clk, _m = _core({"core": {"tafs": ["TAF7"]}}, blocks=64)
    stored = 0
    refused = 0
    for i in range(400):  # 40 young channels (one segment each) fill 256 KiB
        try:
            c.ingest("m%d" % (i % 40), E, i, 0, 30, clk.t)
            stored += 1
        except OmlError:
            refused += 1
        if i % 40 == 39:
            clk.t += 900
    assert stored and refused, (stored, refused)
    eq(c.errors, refused)
    eq(sum(len(c.oml.query(mo[0], mo[1], 0, 1 << 32, 0, 1000)) for mo in c.channels()),
       stored)
    used, free = c.store.usage()  # littlefs reports more used blocks than exist when full
    assert 0.9 <= used <= 1.0 and free == 0, (used, free)


_GARBAGE = {
    "int_out": "def on_value(s, m, o, d): return 5",
    "no_keys": "def on_value(s, m, o, d): return [{'x': 1}]",
    "tick": "def on_value(s, m, o, d): return None\n  def on_tick(s, now): raise ValueError",
    "spoof": "def on_value(s, m, o, d): return [dict(d, meter='another')]",
    "endless": "def on_value(s, m, o, d):\n   while True:\n    yield dict(d)",
}


def _plugin(name, body, extra=""):
    return ("NAME = %r\nINPUTS = ('',)\nOUTPUTS = ('a',)\n%s\ndef make(p, api):\n"
            " class I:\n  %s\n return I()\n" % (name, extra, body))


def test_field_taf_garbage_does_not_take_the_core_down():
    c, _clk, _ = _core({"core": {"tafs": ["TAF7"]}})
    for n, body in _GARBAGE.items():
        c.taf.install(load_source(_plugin("X_" + n, body), n))
    got = []
    c.taf.subscribe(lambda *a: got.append(a[0]))
    for k in range(3):
        eq(c.ingest(M, E, 10 + k, 0, 30, T0 + 900 * k), k + 1)
        c.taf.tick(T0 + 900 * k + 1)  # X_tick raises: TAF7 and the others still tick
    eq([n for n in got if n != "X_endless"], ["TAF7"] * 3)
    eq(len(c.taf.outputs("TAF7", 0, 1 << 40)), 3)
    eq(c.taf.outputs("X_no_keys", 0, 1 << 40), [])  # nothing unreadable was stored
    eq(c.taf.outputs("X_spoof", 0, 1 << 40), [])  # no output for another meter
    eq(len(c.taf.outputs("X_endless", 0, 1 << 40)), 3 * 64)  # bounded, and it returns
    assert _events(c).count("taf.error") >= 9, _events(c)
    # an interface the engine cannot use is refused at load, a raising make() at install
    for extra in ("INPUTS = (1,)", "CAPACITY = 'x'", "DEFAULT = 3"):
        with raises(TafError):
            load_source(_plugin("X_bad", "pass") + extra, "bad")
    with raises(TafError):
        load_source(_plugin("../../evil", "pass"), "evil")
    mod = load_source(_plugin("TAF7", "pass").replace(" class I", " raise OSError(5)\n"
                                                      " class I"), "boom")
    with raises(TafError):
        c.taf.install(mod)
    c.ingest(M, E, 20, 0, 30, T0 + 900 * 3)  # the TAF7 in force is untouched
    eq(len(c.taf.outputs("TAF7", 0, 1 << 40)), 4)
    assert "evil" not in os.listdir(c.store.root)


def test_tenants_duplicate_id_bad_window_bad_id_refused():
    c, _clk, _ = _core()

    def ten(i, u, **k):
        d = {"id": i, "user": u, "meters": [M],
             "contracts": [{"taf": "TAF7", "valid_from": 0, "valid_to": None}]}
        d.update(k)
        return d

    eq(c.reload_config({"tenants": [ten("1", "a")]}), {})
    # two consumers with one id would share (read) one consumer log
    assert "tenants" in c.reload_config({"tenants": [ten("1", "a"), ten("1", "b")]})
    eq(sorted(u for u in c.tenants.by_user), ["a"])
    with raises(TenantError):
        c.tenants.add(ten("1", "b"))
    # a window that is no number failed later, in visible() (TypeError)
    assert "tenants" in c.reload_config({"tenants": [ten("2", "e", contracts=[
        {"valid_from": "x"}])]})
    for bad in (ten("../x", "f"), ten("", "g"), ten("3", "h", meters=M)):
        assert "tenants" in c.reload_config({"tenants": [bad]}), bad
    eq(sorted(c.logs), ["calibration", "consumer-1", "event", "system"])
    eq(c.tenants.visible("a", M, E, 5), True)
    eq(c.tenants.visible("e", M, E, 5), False)
    # the runtime API checks the same: nothing half-applied, visible() keeps working
    with raises(TenantError):
        c.tenants.assign("a", M2, {"valid_from": "soon"})
    with raises(TenantError):
        c.tenants.archive("a", None)
    eq((c.tenants.get("a").meters, len(c.tenants.get("a").contracts)), ([M], 1))
    eq(c.tenants.visible("a", M, E, 5), True)


def _taf2(prof=None):
    cfg = {"core": {"tafs": ["TAF2"]}}
    if prof:
        cfg["taf_profiles"] = {"TAF2": prof}
    c, clk, m = _core(cfg)
    return c, clk, m


def _regs(c):
    return next(iter(c.taf.state("TAF2").values()))["registers"]


def test_taf2_gap_of_weeks_over_a_special_day_goes_to_error():
    prof = {"tariffs": ["T1", "T2"], "day_profiles": {"a": [[0, "T1"]], "b": [[0, "T2"]]},
            "week": ["a"] * 7, "special_days": {"2026-01-20": "b"}}
    c, _clk, _ = _taf2(prof)
    c.ingest(M, E, 1000, 0, 30, T0 + 3600)
    c.ingest(M, E, 2000, 0, 30, T0 + 30 * 86400 + 3600)  # 19 days to the special day
    eq(_regs(c), {"T1": 0, "T2": 0, "error": 1000})


def test_taf2_counter_decrease_not_in_a_tariff_register():
    c, _clk, _ = _taf2()
    c.ingest(M, E, 1000, 0, 30, T0 + 60)
    c.ingest(M, E, 1100, 0, 30, T0 + 120)
    c.ingest(M, E, 5, 0, 30, T0 + 180)  # meter exchanged
    c.ingest(M, E, 15, 0, 30, T0 + 240)
    r = _regs(c)
    eq(r, {"T1": 110, "T2": 0, "error": -1095})
    eq(sum(r.values()), 15 - 1000)  # registers + error = the OML advance
    assert "taf.error" in _events(c, "system")


def test_taf2_new_profile_mid_day_keeps_registers():
    c, _clk, _ = _taf2()
    for i in range(10):
        c.ingest(M, E, 1000 + i * 10, 0, 30, T0 + i * 900 + 300)
    eq(_regs(c)["T1"], 90)
    p = dict(c.taf.profiles["TAF2"], tariffs=["T1", "T2", "T3"],
             special_days={"2027-01-01": "std"})
    eq(c.reload_config({"taf_profiles": {"TAF2": p}}), {})
    c.ingest(M, E, 2000, 0, 30, T0 + 11 * 900 + 300)
    st = next(iter(c.taf.state("TAF2").values()))
    eq(st["first_raw"], 1000)
    eq(st["registers"], {"T1": 1000, "T2": 0, "T3": 0, "error": 0})


def test_time_invalid_survives_reboot():
    c, clk, m = _core()
    eq(c.time_sync(100), "invalid")
    from core.core import Core
    c2 = Core(m + "/store", clk)
    eq(c2.time_status(), "invalid")
    c2.ingest(M, E, 1, 0, 30, T0 + 5)
    eq(c2.oml.last(M, E)["status"] & TIME_INVALID, TIME_INVALID)
    eq(c2.time_sync(1), "synchronised")
    eq(Core(m + "/store", clk).time_status(), "unsynchronised")


def test_export_taf2_current_lines_carry_the_oml_keys():
    c, _clk, _ = _taf2()
    c.ingest(M, E, 1000, -1, 30, T0 + 60, 0x04)
    c.ingest(M, E, 1100, -1, 30, T0 + 120, 0x04)
    from core.export import export
    out = tmpdir() + "/exp_edges"
    export(c, out)
    with open(out + "/taf2.jsonl") as f:
        rows = [json.loads(line) for line in f]
    cur = [r for r in rows if r.get("kind") == "current"]
    eq(len(cur), 3)
    for r in cur:
        for k in ("meter", "obis", "capture_time", "target_time", "raw", "scaler", "unit",
                  "status", "taf", "register", "first_raw", "last_raw"):
            assert k in r, (k, r)
        eq((r["scaler"], r["unit"], r["status"] >> 32), (-1, 30, 0x04))


def test_taf1_every_boundary_missed_while_off_is_logged():
    c, _clk, _ = _core({"core": {"tafs": ["TAF1"]}})
    c.ingest(M, E, 1, 0, 30, T0 + 31 * 86400 + 3)  # 2026-02-01: billing value
    c.ingest(M, E, 2, 0, 30, T0 + 134 * 86400)  # off until 2026-05-15: Mar, Apr, May
    c.ingest(M, E, 3, 0, 30, T0 + 151 * 86400 - 9)  # 2026-06-01 - 9 s: billing value
    eq([(d["target_time"] - T0) // 86400 for d in c.taf.outputs("TAF1", 0, 1 << 40)],
       [31, 151])
    miss = [e["msg"] for e in c.logs["system"].entries() if e["event"] == "taf.missed"]
    eq(len(miss), 1)
    for day in (59, 120):  # 2026-03-01 .. 05-01
        assert ("%d" % (T0 + day * 86400)) in miss[0], miss
    assert "3 boundaries" in miss[0], miss


def test_new_profile_or_contract_starts_a_builtin_taf_at_runtime():
    c, _clk, _ = _core({"core": {"tafs": ["TAF7"]}})
    eq(sorted(c.taf.inst), ["TAF7"])
    eq(c.reload_config({"taf_profiles": {"TAF1": {"months": 3}}}), {})  # was "unknown TAF"
    eq(c.taf.profiles["TAF1"]["months"], 3)
    eq(c.reload_config({"tenants": [{"id": "1", "user": "a", "meters": [M], "contracts": [
        {"taf": "TAF6", "valid_from": 0}]}]}), {})
    eq(sorted(c.taf.inst), ["TAF1", "TAF6", "TAF7"])
    eq(c.reload_config({"taf_profiles": {"TAF9": {}}}), {"TAF9": "unknown TAF"})
    c.ingest(M, E, 5, 0, 30, T0)
    eq([len(c.taf.outputs(n, 0, 1 << 40)) for n in ("TAF1", "TAF6", "TAF7")], [1, 1, 1])


def test_time_sync_garbage_offset_refused_clock_untouched():
    c, _clk, _ = _core()
    before = c.clock.rtc.now()
    for off in (float("nan"), float("inf"), "5", None):
        with raises(ValueError):
            c.time_sync(off)
    eq(c.clock.rtc.now(), before)  # NaN used to poison the clock (every now() raised)
    eq(c.time_sync(2), "synchronised")


def test_garbage_taf_profiles_never_stop_boot_or_reload():
    from core.core import Core
    for cfg in ({"taf_profiles": {"TAF1": [1]}}, {"taf_profiles": "x"},
                {"core": {"oml_capacity": "x", "tafs": "TAF7"}}, {"core": [1]}):
        m = corefix.fresh_fs()
        c = Core(m + "/store", corefix.Clock(T0), config=cfg)
        eq(sorted(c.taf.inst), ["TAF7"])
        c.ingest(M, E, 1, 0, 30, T0)
        eq(len(c.taf.outputs("TAF7", 0, 1 << 40)), 1)
    # the WAN configuration's list form: [{"taf": name, ...profile}]
    c = Core(m + "/store", corefix.Clock(T0),
             config={"taf_profiles": [{"taf": "TAF1", "months": 2}]})
    eq(c.taf.profiles["TAF1"]["months"], 2)
    eq(c.reload_config({"taf_profiles": [{"taf": "TAF1", "months": 4}]}), {})
    eq(c.taf.profiles["TAF1"]["months"], 4)
    errs = c.reload_config({"taf_profiles": {"TAF1": None, "TAF7": [1]}})
    eq(errs, {"TAF7": "profile: object required"})
    assert "taf_profiles" in c.reload_config({"taf_profiles": 5})
    eq((c.taf.profiles["TAF1"]["months"], c.taf.profiles["TAF7"]["period"]), (4, 900))


def test_power_cut_right_after_a_new_segment_was_created():
    from store.records import RecordStore
    m = corefix.fresh_fs()
    st = RecordStore(m + "/st")
    lst = st.open_list("ring", 64)  # 16 records per segment
    for i in range(16):
        lst.append(b"r%d" % (i + 1))
    # the cut: littlefs has committed the new, still empty segment file at its open
    open(lst.path + "/s17", "wb").close()
    lst2 = RecordStore(m + "/st").open_list("ring", 64)  # was a TypeError: store unusable
    eq((lst2.first_seq, lst2.last_seq, lst2.last), (1, 16, b"r16"))
    eq(lst2.append(b"r17"), 17)
    eq([p for _, p in lst2.records(15)], [b"r15", b"r16", b"r17"])

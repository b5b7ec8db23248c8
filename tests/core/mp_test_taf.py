# TAF engine: TAF1/2/6/7 from synthetic readings, plug-in module files, profiles.
# heapsize: 512K
import corefix
from mptest import eq, raises, tmpdir
from taf.engine import (
    TafError,
    civil_from_days,
    days_from_civil,
    load_file,
    load_source,
)

M = "0a01454d480000000001"
E = "1-0:1.8.0*255"
T0 = 1767225600  # 2026-01-01T00:00:00Z, a Thursday


def _core(config=None):
    m = corefix.fresh_fs()
    clk = corefix.Clock(T0)
    return corefix.core(m, clk, config), clk, m


def test_civil_dates_reference():
    import random
    eq(days_from_civil(1970, 1, 1), 0)
    eq(days_from_civil(2026, 1, 1) * 86400, T0)
    eq(civil_from_days(T0 // 86400), (2026, 1, 1))
    eq(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29))
    for _ in range(300):  # round trip on random days, and monotone
        z = random.getrandbits(20)
        eq(days_from_civil(*civil_from_days(z)), z)
        eq(days_from_civil(*civil_from_days(z + 1)), z + 1)


def test_taf7_grid_tolerance_and_first_wins():
    c, clk, _ = _core()
    got = []
    c.taf.subscribe(lambda name, meter, obis, d: got.append((name, d["target_time"])))
    # captures at offsets around grid points: +9 ok, -9 ok, +10 not, -10 not
    for k, off in enumerate((0, 9, -9, 10, -10, 3, 4)):
        g = T0 + 900 * (k + 1)
        c.ingest(M, E, 1000 + k, -1, 30, g + off)
    c.ingest(M, E, 2000, -1, 30, T0 + 900 * 6 + 5)  # second value in the same window
    out = c.taf.outputs("TAF7", 0, 1 << 40)
    eq([d["target_time"] - T0 for d in out], [900 * k for k in (1, 2, 3, 6, 7)])
    eq([d["raw"] for d in out], [1000, 1001, 1002, 1005, 1006])
    eq(out[0]["capture_time"], T0 + 900)
    eq(got, [("TAF7", d["target_time"]) for d in out])
    eq(len(c.taf.outputs("TAF7", T0 + 1800, T0 + 2700)), 2)  # inclusive
    # restart: already produced grid points are not produced again
    from core.core import Core
    c2 = Core(c.store.root, clk)
    c2.ingest(M, E, 3000, -1, 30, T0 + 900 * 7 + 1)
    eq(len(c2.taf.outputs("TAF7", 0, 1 << 40)), 5)


def test_taf6_daily_and_on_demand():
    c, clk, _ = _core()
    for day in range(3):
        for k in range(96):
            c.ingest(M, E, day * 1000 + k, -1, 30, T0 + day * 86400 + k * 900 + 2)
    out = c.taf.outputs("TAF6", 0, 1 << 40)
    eq([(d["target_time"] - T0) // 86400 for d in out], [0, 1, 2])
    eq([d["raw"] for d in out], [0, 1000, 2000])
    clk.t = T0 + 3 * 86400
    d = c.taf.read_now("TAF6", M, E)
    eq((d["kind"], d["raw"], d["target_time"]), ("on_demand", 2095, clk.t))
    with raises(TafError):
        c.taf.read_now("TAF7", M, E)


def test_taf1_monthly_billing():
    c, clk, _ = _core({"taf_profiles": {"TAF1": {"period_start": T0, "months": 1}}})
    # one reading a day at 00:00:03 for 70 days: Jan 1, Feb 1, Mar 1 are boundaries
    for day in range(70):
        c.ingest(M, E, day, -1, 30, T0 + day * 86400 + 3)
    out = c.taf.outputs("TAF1", 0, 1 << 40)
    eq([civil_from_days(d["target_time"] // 86400) for d in out],
       [(2026, 1, 1), (2026, 2, 1), (2026, 3, 1)])
    eq([d["raw"] for d in out], [0, 31, 59])


def test_taf2_registers_sum_to_oml_delta_and_error_register():
    c, clk, _ = _core()
    # weekday programme: T1 0-6h, T2 6-22h, T1 22-24h; readings every 7 minutes so that
    # gaps straddle the switch points
    raw = 50000
    t = T0 - 86400 * 3 + 1  # Monday 2025-12-29
    first = raw
    for i in range(3 * 24 * 60 // 7 + 30):
        c.ingest(M, E, raw, -1, 30, t)
        t += 420
        raw += 10 + (i * 7919) % 37
    last = c.oml.last(M, E)["raw"]
    st = c.taf.state("TAF2")["%s %s" % (M, E)]
    regs = st["registers"]
    eq(sum(regs.values()), last - first)
    assert regs["error"] > 0 and regs["T1"] > 0 and regs["T2"] > 0, regs
    # each switch (6:00, 22:00 on 3+ weekdays) straddled exactly once -> one gap each
    outs = c.taf.outputs("TAF2", 0, 1 << 40)
    assert outs and {d["register"] for d in outs} == {"T1", "T2", "error"}, outs


def test_taf2_stage_and_switch_points():
    from taf import taf2
    p = dict(taf2.DEFAULT)
    p["special_days"] = {"2026-01-01": "weekend"}
    t = taf2.Taf2(p)
    eq(t.stage(T0 + 7 * 3600), "T1")  # New Year (Thursday) is a special day
    eq(t.stage(T0 + 86400 + 7 * 3600), "T2")  # Friday 07:00
    eq(t.next_change(T0 + 86400), T0 + 86400 + 6 * 3600)
    eq(t.stage(T0 + 86400 + 6 * 3600), "T2")  # the switch point itself: new stage
    eq(t.stage(T0 + 86400 + 6 * 3600 - 1), "T1")


PLUGIN = '''
NAME = "TAF99"
INPUTS = ("1-0:1.8.",)
OUTPUTS = ("maximum",)
CAPACITY = 64


def validate(p):
    if not isinstance(p.get("every"), int) or p["every"] < 1:
        raise TafError("every: positive integer")


class Max:
    def __init__(self, p):
        self.every = p["every"]
        self.n = 0
        self.mx = None

    def on_value(self, meter, obis, d):
        self.n += 1
        if self.mx is None or d["raw"] > self.mx["raw"]:
            self.mx = d
        if self.n % self.every == 0:
            return [dict(self.mx, target_time=d["capture_time"], kind="maximum")]


def make(p, api):
    return Max(p)
'''


def test_plugin_module_file_and_profile_validation():
    c, clk, _ = _core()
    path = tmpdir() + "/taf99.py"
    src = PLUGIN
    with open(path, "w") as f:
        f.write(src)
    seen = []
    mod = load_file(path, verify=lambda s: seen.append(len(s)))
    eq(seen, [len(src)])
    eq((mod.NAME, mod.OUTPUTS), ("TAF99", ("maximum",)))
    with raises(TafError) as r:
        c.taf.install(mod, {"every": 0})
    assert "every" in str(r.value)
    c.taf.install(mod, {"every": 3})
    for v in (5, 9, 2, 1, 1, 1):
        c.ingest(M, E, v, 0, 30, clk.t)
        clk.t += 60
    eq([d["raw"] for d in c.taf.outputs("TAF99", 0, 1 << 40)], [9, 9])
    # a refused signature, a module missing its interface, a module that raises
    with raises(TafError):
        load_source("NAME = 'X'\nINPUTS = ()\n", "bad")
    with raises(TafError):
        load_source("raise OSError(5)", "boom")
    with raises(RuntimeError):
        load_source(PLUGIN, "signed", verify=lambda s: (_ for _ in ()).throw(
            RuntimeError("signature")))


def test_invalid_profile_never_replaces_valid():
    c, clk, m = _core()
    good = {"tariffs": ["HT", "NT"], "day_profiles": {"d": [[0, "NT"], [28800, "HT"]]},
            "week": ["d"] * 7, "special_days": {}}
    eq(c.taf.configure({"TAF2": good}), {})
    eq(c.taf.profiles["TAF2"]["tariffs"], ["HT", "NT"])
    bad = dict(good, day_profiles={"d": [[0, "NT"], [28800, "XX"]]})
    errs = c.taf.configure({"TAF2": bad, "TAF7": {"tolerance": 30}, "TAF0": {}})
    eq(sorted(errs), ["TAF0", "TAF2", "TAF7"])
    assert "day_profiles.d[1]" in errs["TAF2"], errs
    assert "tolerance" in errs["TAF7"], errs
    eq(c.taf.profiles["TAF2"]["tariffs"], ["HT", "NT"])
    eq(c.taf.profiles["TAF7"]["tolerance"], 9)
    ev = [e["event"] for e in c.logs["system"].entries()]
    assert ev.count("taf.profile_invalid") == 2, ev
    # after a reboot with an invalid profile in the configuration: the saved valid one
    from core.core import Core
    c2 = Core(m + "/store", clk, config={"taf_profiles": {"TAF2": bad}})
    eq(c2.taf.profiles["TAF2"]["tariffs"], ["HT", "NT"])
    for field, v in (("week", ["d"] * 6), ("tariffs", []), ("special_days", {"1.1.": "d"}),
                     ("day_profiles", {"d": [[5, "NT"]]})):
        e = c2.taf.configure({"TAF2": dict(good, **{field: v})})
        assert field in e["TAF2"], (field, e)

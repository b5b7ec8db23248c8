# Foundation firmware tests; run inside the MicroPython unix port.
# heapsize: 256K
import asyncio
from mptest import eq
from app.supervisor import Supervisor
from app.repl import Repl


class Sink:
    def __init__(self):
        self.buf = bytearray()

    def write(self, b):
        self.buf.extend(b)


async def test_supervisor_restarts_crashed_task_and_keeps_others():
    logs = []
    sup = Supervisor(lambda lvl, ev, msg, detail=None: logs.append((lvl, ev, msg)))
    runs = []
    ticks = []

    async def flaky():
        runs.append(1)
        if len(runs) < 3:
            raise ValueError("bad meter byte")
        await asyncio.sleep(10)

    async def steady():
        while True:
            ticks.append(1)
            await asyncio.sleep_ms(10)

    import app.supervisor as s
    s._BACKOFF_MIN_MS = 10  # noqa - module constant is inlined; use short waits below
    sup.add("flaky", flaky)
    sup.add("steady", steady)
    await asyncio.sleep_ms(3500)
    st = sup.states()
    eq(st["flaky"]["restarts"], 2)
    eq(st["flaky"]["state"], "running")
    eq(st["steady"]["state"], "running")
    assert len(ticks) > 100
    assert logs and logs[0][1] == "task.crash" and "bad meter byte" in logs[0][2]
    sup.stop()
    await asyncio.sleep_ms(10)
    eq(sup.states()["steady"]["state"], "stopped")


async def test_supervised_task_ram():
    # a supervised task is its asyncio.Task + the service's coroutine + a TaskState: the
    # end of a task is a callback (Task.state), no guard coroutine per task (was ~630 B)
    import gc

    async def idle():
        await asyncio.sleep(3600)

    sup = Supervisor(lambda *a, **kw: None)
    names = [f"t{i}" for i in range(10)]
    gc.collect()
    a = gc.mem_alloc()
    for n in names:
        sup.add(n, idle)
    await asyncio.sleep_ms(10)
    gc.collect()
    per = (gc.mem_alloc() - a) // 10
    sup.stop()
    await asyncio.sleep_ms(10)
    eq({st["state"] for st in sup.states().values()}, {"stopped"})
    assert per < 450, per


async def test_supervisor_stop_from_inside_a_task():
    # stop() from a supervised task (or after the scheduler stopped inside one, as
    # app.main does in its finally) cancels the others and raises nothing
    sup = Supervisor(lambda *a, **kw: None)
    seen = []

    async def other():
        await asyncio.sleep(10)

    async def stopper():
        await asyncio.sleep_ms(5)
        try:
            sup.stop()
        except Exception as e:  # noqa: BLE001 - what the test looks for
            seen.append(e)
        await asyncio.sleep_ms(5)

    sup.add("other", other)
    sup.add("stopper", stopper)
    await asyncio.sleep_ms(50)
    eq(seen, [])
    eq(sup.states()["other"]["state"], "stopped")
    eq(sup.states()["stopper"]["state"], "done")


async def test_supervisor_crash_without_heap_for_the_restart():
    # a task crashes when not even its restart can be allocated: the scheduler must not
    # stop (that would stop every task); this task stays crashed, the others run on
    import app.supervisor as s

    sup = Supervisor(lambda *a, **kw: None)
    ticks = []

    async def steady():
        while True:
            ticks.append(1)
            await asyncio.sleep_ms(5)

    async def dies():
        await asyncio.sleep_ms(5)
        raise ValueError("x")

    sup.add("steady", steady)
    st = sup.add("dies", dies)

    def no_heap(coro):  # from here on the supervisor's only create_task is the restart
        coro.close()
        raise MemoryError

    orig = s.asyncio
    class _A:  # the module's view of asyncio, with create_task failing
        CancelledError = orig.CancelledError
        sleep_ms = orig.sleep_ms
        create_task = staticmethod(no_heap)
    s.asyncio = _A
    try:
        await asyncio.sleep_ms(40)
    finally:
        s.asyncio = orig
    n = len(ticks)
    await asyncio.sleep_ms(30)
    assert len(ticks) > n  # the scheduler still runs the other task
    eq(sup.states()["dies"]["state"], "crashed")
    assert st.task is None
    # diag (and the bench's day, which fails on a MemoryError in a task) can see why
    assert "MemoryError" in sup.states()["dies"]["last_error"]
    sup.stop()


async def test_supervisor_task_that_returns_is_done():
    sup = Supervisor(lambda *a, **kw: None)

    async def once():
        await asyncio.sleep_ms(1)

    sup.add("once", once)
    await asyncio.sleep_ms(20)
    eq(sup.states()["once"], {"state": "done", "restarts": 0, "last_error": None})


async def test_supervisor_factory_that_fails_is_a_crash():
    logs = []
    sup = Supervisor(lambda lvl, ev, msg, detail=None: logs.append(ev))
    sup.add("broken", lambda: None)  # no coroutine: create_task raises
    st = sup.states()["broken"]
    eq(st["state"], "crashed")
    eq(st["restarts"], 1)
    assert st["last_error"].startswith("TypeError"), st
    eq(logs, ["task.crash"])
    sup.stop()


def test_repl_raw_mode_protocol():
    out = Sink()
    r = Repl(None, out)
    r.feed(b"\r\x03\r\x01")
    assert out.buf.endswith(b"raw REPL; CTRL-B to exit\r\n>")
    out.buf = bytearray()
    r.feed(b"\x05A\x01")
    eq(bytes(out.buf), b"R\x00")
    out.buf = bytearray()
    r.feed(b"x = 6 * 7\x04")
    eq(bytes(out.buf), b"OK\x04\x04>")
    out.buf = bytearray()
    r.feed(b"1/0\x04")
    assert out.buf.startswith(b"OK\x04Traceback")
    assert b"ZeroDivisionError" in out.buf and out.buf.endswith(b"\x04>")
    eq(r.g["x"], 42)


def test_repl_friendly_mode_evaluates_lines():
    out = Sink()
    r = Repl(None, out)
    r.feed(b"2+3\r")
    assert b"5\r\n>>> " in out.buf, out.buf


def test_meter_seen_compact_state_gives_the_former_dicts():
    # ctx keeps a short list per meter (key tuples shared); ctx.meters (diag, HAN page)
    # must give the former dict per meter, in the former key order (diag JSON bytes)
    import json
    import app

    class Ctx(app.Context):
        def __init__(self):
            self._seen = {}
            self._kt = {}

    old = {}

    def seen(mid, via, **info):
        m = old.get(mid)
        if m is None:
            m = old[mid] = {"via": via, "count": 0}
        m["count"] += 1
        m["last_seen"] = 7
        m.update(info)

    c = Ctx()
    for r in range(3):
        for i in range(12):
            mid = "KAM-%08d" % (i * 7919)
            for f in (c.meter_seen, seen):
                if i < 3:
                    f("0a01454d48%010d" % i, "lmn", address=i, polls=r)
                    f("0a01454d48%010d" % i, "lmn")
                f(mid, "wmbus", rssi_dbm=-70 - i, mode="T1", access_number=r,
                  security_mode=5, device_type=2)
                if i == 4 and r == 1:
                    f(mid, "wmbus", rssi_dbm=-1, mode="C1", access_number=r,
                      security_mode=5, device_type=2, apl_error=3)
                f(mid, "wmbus")
    for m in c._seen.values():
        m[2] = 7
    eq(json.dumps(c.meters), json.dumps(old))
    eq(c.meters["KAM-00031676"]["apl_error"], 3)
    eq(c.meters["0a01454d480000000002"],
       {"via": "lmn", "count": 6, "last_seen": 7, "address": 2, "polls": 2})
    ks = [m[3] for m in c._seen.values() if m[0] == "wmbus" and len(m) == 9]
    assert len(ks) == 11 and all(k is ks[0] for k in ks), ks  # one shared key tuple


async def test_one_big_heap_job_at_a_time():
    """ctx.hold/take/give: the HAN request stack and a WAN session or payload build do not
    hold the heap at the same time; a waiting job goes ahead after wait_ms anyway."""
    import time

    import app

    class Ctx(app.Context):
        def __init__(self):
            self.job = None
            self.jobs = 0

    c = Ctx()
    assert c.hold("han") and c.hold("han") and not c.hold("wan")
    order = []

    async def wan():
        await c.take("wan", 5000)
        order.append("wan")
        c.give("wan")

    t = asyncio.create_task(wan())
    await asyncio.sleep_ms(30)
    assert order == [] and c.job == "han"
    c.give("han")
    await asyncio.sleep_ms(30)
    assert order == [] and c.job == "han"  # two holds, one given
    c.give("han")
    await t
    assert order == ["wan"] and c.job is None and c.jobs == 0
    # a holder that does not give: the other kind goes ahead after wait_ms
    assert c.hold("wan")
    t0 = time.ticks_ms()
    await c.take("han", 60)
    assert 50 <= time.ticks_diff(time.ticks_ms(), t0) < 2000 and c.job == "han"
    c.give("wan")  # the old holder's give does not end the new hold
    assert c.job == "han"
    c.give("han")
    assert c.job is None


def test_events_kept_as_tuples():
    """ctx.events keeps (t, level, event, msg) tuples (RAM: a dict each was ~150 B more
    in a ring that is full on a busy day); app.event() gives the documented dict form,
    which diag's last_errors shows; the PWR LED blinks fast after a recent task crash."""
    import time

    import app
    from app import leds

    class Hal:
        trace = None

    class Ctx(app.Context):
        def __init__(self):
            self.hal = Hal()
            self.events = []
            self.sinks = []
            self.operational_ms = 1

    c = Ctx()
    c.log(1, "x.info", "not kept")
    c.log(3, "wan.retry", "emt1: down")
    assert len(c.events) == 1 and isinstance(c.events[0], tuple)
    d = app.event(c.events[0])
    assert d["level"] == 3 and d["event"] == "wan.retry" and d["msg"] == "emt1: down"
    assert abs(d["t"] - time.time()) < 5, (d, time.time())
    assert len(d) == 4
    eq(leds._pwr_mode(c), "on")
    c.log(3, "task.crash", "radio crashed")
    eq(leds._pwr_mode(c), "fast")
    c.events[-1] = (time.time() - 61,) + c.events[-1][1:]  # a minute ago
    eq(leds._pwr_mode(c), "on")
    for i in range(40):
        c.log(2, "e", str(i))
    eq(app.event(c.events[-1])["msg"], "39")
    assert len(c.events) == 16

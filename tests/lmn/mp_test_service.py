# LMN service logic: poll schedule on the 900 s grid, lost/back events, exactly-once ingest.
# heapsize: 256K
from mptest import eq
from lmn import service
from lmn.hdlc import HdlcError


class Ctx:
    def __init__(self):
        self.got, self.logs, self.leds, self.seen = [], [], [], []
        self.t = 1000

    def ingest(self, *a, **k):
        self.got.append(a)

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))

    def now(self):
        return self.t

    def meter_seen(self, mid, via, **info):
        self.seen.append(mid)

    def led(self, n, v):
        self.leds.append((n, v))


class Session:
    handshakes = renewals = 0


class FakeMeter:
    def __init__(self, answers):
        self.id = "0a01"
        self.address = 17
        self.answers = answers
        self.polls = self.failures = self.readings = 0
        self.lost = False
        self.last_error = None
        self.session = Session()
        self.link = type("L", (), {"stats": {"retries": 0}})()

    async def poll(self):
        a = self.answers.pop(0)
        if a is None:
            raise HdlcError("no response")
        self.polls += 1
        return a


def test_schedule_on_the_grid():
    eq(service.next_poll(0, 60), 60)
    eq(service.next_poll(59, 60), 60)
    eq(service.next_poll(60, 60), 120)
    eq(service.next_poll(899, 600), 900)  # the grid point comes first
    eq(service.next_poll(1000, 7000), 1800)
    t = 3 * 86400 + 17
    for _ in range(100):
        t2 = service.next_poll(t, 60)
        assert t2 > t and t2 % 60 == 0
        t = t2


async def test_lost_and_back_and_ingest_once():
    ctx = Ctx()
    st = service.State()
    v = [{"obis": "1-0:1.8.0*255", "raw": 5, "scaler": -1, "unit": 30, "status": None,
          "server_id": b"\x0a\x01", "val_time": None},
         {"obis": "129-129:199.130.3*255", "raw": None, "octets": b"EMH", "scaler": None,
          "unit": None, "status": None, "server_id": b"\x0a\x01", "val_time": None}]
    m = FakeMeter([v, None, None, None, None, v])
    st.meters = [m]
    for _ in range(6):
        await service.poll_meter(ctx, st, m)
    eq(len(ctx.got), 2)  # octet strings are not readings
    eq(ctx.got[0], ("0a01", "1-0:1.8.0*255", 5, -1, 30, 1000, None))
    ev = [e for e in ctx.logs if e[1] in ("lmn.lost", "lmn.back")]
    eq(ev, [(3, "lmn.lost", "meter lost: 0a01"), (2, "lmn.back", "meter back: 0a01")])
    eq(st.totals["0a01 1-0:1.8.0*255"], [2, 10])
    eq(ctx.leds[-1], ("LMC", 1))
    assert ("LMC", 0) in ctx.leds
    eq(ctx.seen, ["0a01", "0a01"])


async def test_per_meter_schedule():
    ctx = Ctx()
    ctx.t = 0
    calls = []

    async def sleep_until(t):
        assert t > ctx.t or t == ctx.t
        ctx.t = t

    ctx.sleep_until = sleep_until
    v = []
    a, b = FakeMeter([v] * 40), FakeMeter([v] * 40)
    a.id, b.id = "a", "b"
    a.period, b.period = 60, 420
    a.due = b.due = -1
    for m in (a, b):
        orig = m.poll

        async def poll(m=m, orig=orig):
            calls.append((m.id, ctx.t))
            return await orig()

        m.poll = poll
    st = service.State()
    st.meters = [a, b]
    await service.schedule(ctx, st, 16)
    ta = [t for i, t in calls if i == "a"]
    tb = [t for i, t in calls if i == "b"]
    eq(ta, [60 * k for k in range(1, 17)])
    eq(tb, [420, 840, 900])  # its period and the 900 s grid point
    eq(st.cycles, 16)

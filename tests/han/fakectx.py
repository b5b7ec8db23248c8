"""A minimal gateway Context for HAN tests (MicroPython): the names han.* uses."""
import time

from jobctx import Jobs


class Board:
    NAME = "unix"

    def __init__(self, cfg=None):
        self._cfg = cfg or {}

    def config(self):
        return self._cfg


class Pin:
    def __init__(self, name):
        self.name = name
        self.v = 0
        self.history = []

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = 1 if v else 0
        self.history.append(self.v)


class Hal:
    def __init__(self):
        self.endpoints = {}
        self.leds = {n: Pin(n) for n in ("PWR", "TLS", "LMC", "WMT", "RSSI")}
        self.outputs = {n: Pin(n) for n in ("OUT1", "OUT2", "OUT3", "RELAY_SET",
                                            "RELAY_RESET")}
        self.watchdog = None


class Sup:
    def states(self):
        return {"han": {"state": "running", "restarts": 0}}


class Link:
    def __init__(self, state="up", rssi=-80):
        self.state = state
        self.rssi_dbm = rssi

    def info(self):
        return {"variant": "M", "operator": "TestNet"}


class Ctx(Jobs):
    def __init__(self, core=None, cfg=None, now=None):
        self.core = core
        self.board = Board(cfg)
        self.hal = Hal()
        self.logs = []
        self.events = []
        self.meters = {"0a01454d480000b8ef47": {"via": "lmn", "count": 3, "last_seen": 1}}
        self.operational_ms = 100
        self.heap_peak = 0
        self.sup = Sup()
        self.link = None
        self.diag_extra = {}
        self._now = now
        self.t0 = time.ticks_ms()

    def now(self):
        return self._now if self._now is not None else int(time.time())

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))
        if len(self.logs) > 500:
            self.logs.pop(0)

    def led(self, name, v):
        p = self.hal.leds.get(name)
        if p:
            p.value(v)

    def uptime_ms(self):
        return time.ticks_diff(time.ticks_ms(), self.t0)

    def sample_heap(self):
        import gc

        self.heap_peak = max(self.heap_peak, gc.mem_alloc())

    async def sleep(self, s):
        import asyncio

        await asyncio.sleep(s)

# A minimal gateway context for WAN tests inside MicroPython (no vboard).
import asyncio
import time

from jobctx import Jobs


class _Rtc:
    accelerate = 1

    def __init__(self, t0):
        self.base = t0
        self.t0 = time.ticks_ms()
        self.offset = 0

    def now_ms(self):
        return self.base * 1000 + time.ticks_diff(time.ticks_ms(), self.t0) + self.offset

    def now(self):
        return self.now_ms() // 1000

    def set(self, s):
        self.offset += int(s * 1000) - self.now_ms()


class _Hal:
    se = None

    def __init__(self, t0):
        self.rtc = _Rtc(t0)


class Link:
    def __init__(self, state="up"):
        self.state = state
        self.ok = 0

    def session_ok(self):
        self.ok += 1


class Ctx(Jobs):
    def __init__(self, t0=1767225600):
        self.hal = _Hal(t0)
        self.logs = []
        self.core = None
        self.link = None
        self.diag_extra = {}

    def log(self, level, event, msg, detail=None):
        self.logs.append((level, event, msg))

    def now(self):
        return self.hal.rtc.now()

    def now_ms(self):
        return self.hal.rtc.now_ms()

    def led(self, n, v):
        pass

    def real_ms(self, s):
        return int(s * 1000)

    async def sleep(self, s):
        await asyncio.sleep_ms(int(s * 1000))

    async def sleep_until(self, t):
        while self.now_ms() < t * 1000:
            await asyncio.sleep_ms(10)

"""RTC of the virtual board: host clock, optionally simulated and accelerated.

With config {"clock": {"start": epoch_s, "accelerate": N, "wall0": host_epoch_s}} gateway
time is `start + N * (host time - wall0)`: the simulator (gwtool.sim) fixes wall0 when it
starts, so the board's clock and the simulator's agree however long the board takes to
boot. Without wall0 the clock starts at `start` when the board starts. set() shifts the
clock the way a time sync does on a board (core.clock applies the deviation rules).
"""
import time


class Rtc:
    def __init__(self, start=None, accelerate=1, wall0=None):
        self.accelerate = accelerate or 1
        self.offset_ms = 0
        self._wall0_ns = None
        if start and wall0:
            self._wall0_ns = int(wall0 * 1000000) * 1000
            self._base_ms = int(start * 1000)
            return
        self._t0 = time.ticks_ms()
        self._base_ms = int(start * 1000) if start else time.time_ns() // 1000000

    def now_ms(self):
        if self._wall0_ns is not None:
            el = (time.time_ns() - self._wall0_ns) // 1000000
        else:
            el = time.ticks_diff(time.ticks_ms(), self._t0)
        return self._base_ms + int(el * self.accelerate) + self.offset_ms

    def now(self):
        return self.now_ms() // 1000

    def set(self, seconds):
        self.offset_ms += int(seconds * 1000) - self.now_ms()

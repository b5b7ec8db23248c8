"""RTC of the virtual board: host clock, optionally simulated and accelerated.

With config {"clock": {"start": epoch_s, "accelerate": N}} gateway time starts at `start`
and runs N times faster than the host clock (for `gwtool sim --accelerate`). set()
shifts the clock the way a time sync does on a board.
"""
import time


class Rtc:
    def __init__(self, start=None, accelerate=1):
        self.accelerate = accelerate or 1
        self._t0 = time.ticks_ms()
        self._base_ms = int(start * 1000) if start else time.time_ns() // 1000000
        self.offset_ms = 0

    def now_ms(self):
        el = time.ticks_diff(time.ticks_ms(), self._t0)
        return self._base_ms + int(el * self.accelerate) + self.offset_ms

    def now(self):
        return self.now_ms() // 1000

    def set(self, seconds):
        self.offset_ms += int(seconds * 1000) - self.now_ms()

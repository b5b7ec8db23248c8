"""RTC of the virtual board: host clock, optionally simulated and accelerated.

With config {"clock": {"start": epoch_s, "accelerate": N, "wall0": host_epoch_s,
"slow": {...}}} gateway time follows hal.unix.simclock.SimClock from the host time
`wall0`: the simulator (gwtool.sim) uses the same SimClock and the same wall0, so the
board's clock and the simulator's agree however long the board takes to boot. Without
wall0 the clock starts at `start` when the board starts. set() shifts the clock the way
a time sync does on a board (core.clock applies the deviation rules).
"""
import time

from hal.unix.simclock import SimClock


class Rtc:
    def __init__(self, start=None, accelerate=1, wall0=None, slow=None):
        self.accelerate = accelerate or 1
        self.offset_ms = 0
        self._wall0_ns = int(wall0 * 1000000) * 1000 if (start and wall0) else time.time_ns()
        if start is None:
            start = time.time_ns() / 1e9
        self._clock = SimClock.from_config({"start": start, "accelerate": self.accelerate,
                                            "slow": slow})

    def _real_s(self):
        return (time.time_ns() - self._wall0_ns) / 1e9

    def now_ms(self):
        return int(self._clock.sim(self._real_s()) * 1000) + self.offset_ms

    def now(self):
        return self.now_ms() // 1000

    def real_ms_until(self, t_ms):
        """Host milliseconds until gateway time t_ms (0 if already past)."""
        real = self._clock.real((t_ms - self.offset_ms) / 1000)
        return max(0, int((real - self._real_s()) * 1000))

    def set(self, seconds):
        self.offset_ms += int(seconds * 1000) - self.now_ms()

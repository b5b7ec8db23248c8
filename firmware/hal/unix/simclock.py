"""Simulated time for the virtual board: fast between grid points, slower around them.

A plain N-times clock makes real latencies N times longer in gateway time: at 1000x a
50 ms poll lasts 50 s and misses the +/-9 s TAF7 window. So the clock runs at `factor`x
in a window [g - before, g + after] around every grid point g (multiples of `period`
seconds since the epoch) and at `accelerate`x elsewhere: a simulated day stays short,
and what happens at the quarter hour happens at a realistic pace.

Pure arithmetic with no MicroPython specifics: gwtool's simulator imports this same file,
so both ends of the simulation read the same clock. Times in seconds (floats).
"""


class SimClock:
    def __init__(self, start, accelerate, period=0, before=0, after=0, factor=None):
        self.start = start
        self.a = float(accelerate or 1)
        self.p = float(period or 0)
        self.w = float(before + after) if self.p else 0.0
        self.f = float(factor or self.a)
        if self.p and not 0 < self.w < self.p:
            raise ValueError("slow window must be shorter than the period")
        if self.p:
            self.r = self.w / self.f + (self.p - self.w) / self.a  # real length of a period
            self.base = start - ((start + before) % self.p)  # a window start <= start
            self.rho0 = self._real_phase(start - self.base)

    def _real_phase(self, d):
        k = d // self.p
        phi = d - k * self.p
        rp = phi / self.f if phi < self.w else self.w / self.f + (phi - self.w) / self.a
        return k * self.r + rp

    def sim(self, real_elapsed):
        """Simulated time after `real_elapsed` host seconds."""
        if not self.p:
            return self.start + real_elapsed * self.a
        rho = self.rho0 + real_elapsed
        k = rho // self.r
        rr = rho - k * self.r
        wr = self.w / self.f
        phi = rr * self.f if rr < wr else self.w + (rr - wr) * self.a
        return self.base + k * self.p + phi

    def real(self, sim_t):
        """Host seconds after start at which simulated time reaches sim_t."""
        if not self.p:
            return (sim_t - self.start) / self.a
        return self._real_phase(sim_t - self.base) - self.rho0

    @classmethod
    def from_config(cls, c):
        s = c.get("slow") or {}
        return cls(c["start"], c.get("accelerate", 1), s.get("period", 0), s.get("before", 0),
                   s.get("after", 0), s.get("factor"))

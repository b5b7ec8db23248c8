"""An rtc over a now() callable, for a Core built without one (tests)."""


class NowRtc:
    """A clock over a now() callable (tests); set() shifts it."""

    def __init__(self, now):
        self._now = now
        self.off = 0

    def now(self):
        return int(self._now() + self.off)

    def now_ms(self):
        return int((self._now() + self.off) * 1000)

    def set(self, seconds):
        self.off += seconds - self._now() - self.off

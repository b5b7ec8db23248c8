"""TAF6: daily meter readings at the start of each billing day, kept 42 days, plus an
on-demand read (BSI TR-03109-1 Anlage VI, TAF6 "Abruf von Messwerten im Bedarfsfall").
The billing day starts at `day_start` seconds after 00:00 UTC (default 0); the first
reading within `tolerance` (9 s) of that point is the day's value."""
from taf.engine import TafError, value, prev

NAME = "TAF6"
INPUTS = ("1-0:1.8.", "1-0:2.8.", "6-0:1.0.", "7-0:3.0.", "8-0:1.0.")
OUTPUTS = ("daily", "on_demand")
DEFAULT = {"day_start": 0, "tolerance": 9, "keep_days": 42}
CAPACITY = 42 * 64


def validate(p):
    ds = p.get("day_start")
    if not isinstance(ds, int) or not 0 <= ds < 86400 or ds % 900:
        raise TafError("day_start: 0..86399 s on the 900 s grid")
    if not isinstance(p.get("tolerance"), int) or not 0 <= p["tolerance"] <= 9:
        raise TafError("tolerance: 0..9 s")
    if not isinstance(p.get("keep_days"), int) or not 1 <= p["keep_days"] <= 42:
        raise TafError("keep_days: 1..42")


class Taf6:
    def __init__(self, p, api):
        self.ds = p["day_start"]
        self.tol = p["tolerance"]
        self.key = api.oml.key
        self.done = {}  # channel key (oml.key) -> last daily target time produced

    def on_value(self, meter, obis, d):
        t = d["capture_time"] - self.ds
        g = (t + 43200) // 86400 * 86400
        if abs(t - g) > self.tol:
            return None
        g += self.ds
        k = self.key(meter, obis)
        if prev(self.done, k, meter, obis) >= g:
            return None
        self.done[k] = g
        return [value(d, g, kind="daily")]

    def on_demand(self, meter, obis, d, now):
        return [value(d, now, kind="on_demand")]

    def restore(self, o):
        if o.get("kind") == "daily":
            k = self.key(o["meter"], o["obis"])
            self.done[k] = max(self.done.get(k, -1), o["target_time"])


def make(p, api):
    return Taf6(p, api)

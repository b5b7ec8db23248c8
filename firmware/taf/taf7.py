"""TAF7: meter readings on the 900 s grid (BSI TR-03109-1 Anlage VI, TAF7
"Zählerstandsgangmessung"). A reading captured within +-1 % of the period (9 s at
900 s) around a grid point (aligned to the quarter hour, UTC) becomes that point's
value; the first one wins, later ones in the same window are ignored."""
from taf.engine import TafError, value, prev

NAME = "TAF7"
INPUTS = ("1-0:1.8.", "1-0:2.8.", "6-0:1.0.", "7-0:3.0.", "8-0:1.0.")
OUTPUTS = ("reading",)
CAPACITY = 4096  # ~7 days x 6 channels of ~190-byte JSON records (~0.8 MB)
DEFAULT = {"period": 900, "tolerance": 9}


def validate(p):
    per = p.get("period")
    if not isinstance(per, int) or per <= 0 or 86400 % per:
        raise TafError("period: must be a positive divisor of 86400 s")
    tol = p.get("tolerance")
    if not isinstance(tol, int) or not 0 <= tol * 100 <= per * 1:
        raise TafError("tolerance: 0 .. 1 % of period")


class Taf7:
    def __init__(self, p, api):
        self.period = p["period"]
        self.tol = p["tolerance"]
        self.key = api.oml.key
        self.done = {}  # channel key (oml.key) -> last target time produced

    def on_value(self, meter, obis, d):
        t = d["capture_time"]
        g = (t + self.period // 2) // self.period * self.period
        if abs(t - g) > self.tol:
            return None
        k = self.key(meter, obis)
        if prev(self.done, k, meter, obis) >= g:
            return None
        self.done[k] = g
        return [value(d, g)]

    def restore(self, o):
        k = self.key(o["meter"], o["obis"])
        if o["target_time"] > self.done.get(k, -1):
            self.done[k] = o["target_time"]


def make(p, api):
    return Taf7(p, api)

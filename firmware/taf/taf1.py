"""TAF1: one reading per billing period ("Datensparsamer Tarif", BSI TR-03109-1
Anlage VI). Profile: `period_start` (UTC s of the first period's start), `months`
(period length in whole months, >= 1), `capture_offset` (s after the period boundary
at which the reading is taken, default 0), `tolerance` (s, default 9). The first reading
within the tolerance of a boundary is that period's value; a boundary passed without a
reading is logged ("taf.missed") and produces no value."""
from taf.cal import days_from_civil, civil_from_days
from taf.engine import TafError, value, prev

NAME = "TAF1"
INPUTS = ("1-0:1.8.", "1-0:2.8.", "6-0:1.0.", "7-0:3.0.", "8-0:1.0.")
OUTPUTS = ("billing",)
CAPACITY = 1024
DEFAULT = {"period_start": 1767225600, "months": 1, "capture_offset": 0, "tolerance": 9}


def validate(p):
    for f in ("period_start", "months", "capture_offset", "tolerance"):
        if not isinstance(p.get(f), int) or p[f] < 0:
            raise TafError("%s: non-negative integer required" % f)
    if p["months"] < 1:
        raise TafError("months: billing period must be at least one month")
    if p["period_start"] % 86400:
        raise TafError("period_start: must be a day boundary (00:00 UTC)")
    if p["tolerance"] > 9:
        raise TafError("tolerance: at most 9 s")


def add_months(t, n):
    y, m, d = civil_from_days(t // 86400)
    m0 = m - 1 + n
    y += m0 // 12
    m = m0 % 12 + 1
    return days_from_civil(y, m, min(d, 28)) * 86400 + t % 86400


class Taf1:
    def __init__(self, p, api):
        self.p = p
        self.api = api
        self.key = api.oml.key
        self.next = {}  # channel key (oml.key) -> next boundary

    def boundary_after(self, t):
        b = self.p["period_start"] + self.p["capture_offset"]
        while b + self.p["tolerance"] < t:
            b = add_months(b - self.p["capture_offset"], self.p["months"]) + \
                self.p["capture_offset"]
        return b

    def on_value(self, meter, obis, d):
        t = d["capture_time"]
        k = self.key(meter, obis)
        b = prev(self.next, k, meter, obis)
        if b < 0:
            b = self.next[k] = self.boundary_after(t)
        tol = self.p["tolerance"]
        if t < b - tol:
            return None
        if t > b + tol:  # every boundary passed without a reading (gateway off)
            n, nb = 0, b
            while nb + tol < t:
                n += 1
                last = nb
                nb = self.boundary_after(nb + tol + 1)
            self.api.log(2, "taf.missed", "TAF1 %s %s: no reading at %d%s" % (
                meter, obis, b, " .. %d (%d boundaries)" % (last, n) if n > 1 else ""))
            self.next[k] = nb
            return self.on_value(meter, obis, d)
        self.next[k] = self.boundary_after(b + tol + 1)
        return [value(d, b, kind="billing")]

    def restore(self, o):
        self.next[self.key(o["meter"], o["obis"])] = self.boundary_after(
            o["target_time"] + self.p["tolerance"] + 1)


def make(p, api):
    return Taf1(p, api)

"""TAF2: time-variable tariff, energy split into tariff registers by a switching
programme (BSI TR-03109-1 Anlage VI, TAF2 "Zeitvariable Tarife").

Profile:
  "tariffs": ["T1", "T2", ...]                   tariff stages (registers)
  "day_profiles": {"std": [[sec, "T1"], ...]}   switch points (s after 00:00 UTC),
                                                 first at 0, ascending
  "week": [7 day-profile names, Monday first]
  "special_days": {"YYYY-MM-DD": day profile}    (holidays etc.)
The energy between two consecutive readings (t_prev, t] goes to the register of the
stage in force after t_prev if no stage change lies strictly between them; a gap that
straddles a change goes to the "error" register (it cannot be split without
interpolation, which the rules forbid). So the registers plus the error register always
sum to the meter's advance. At each new billing day (00:00 UTC) the registers are
output (one value per register, target time = the day boundary, "register" key);
`state()` gives the current registers."""
from micropython import const

from taf.cal import civil_from_days
from taf.engine import TafError, prev

# a channel's state: a list [registers {stage: sum}, time of the last reading, its raw
# value, day of the last output, raw value at the start] (RAM: a list, not a dict each)
_REGS = const(0)
_T = const(1)
_RAW = const(2)
_DAY = const(3)
_FIRST = const(4)

NAME = "TAF2"
INPUTS = ("1-0:1.8.", "1-0:2.8.")
OUTPUTS = ("register",)
CAPACITY = 4096
DEFAULT = {"tariffs": ["T1", "T2"],
           "day_profiles": {"std": [[0, "T1"], [21600, "T2"], [79200, "T1"]],
                            "weekend": [[0, "T1"]]},
           "week": ["std", "std", "std", "std", "std", "weekend", "weekend"],
           "special_days": {}}


def validate(p):
    tariffs = p.get("tariffs")
    if not isinstance(tariffs, list) or not tariffs or "error" in tariffs:
        raise TafError("tariffs: non-empty list of stage names (not 'error')")
    dps = p.get("day_profiles")
    if not isinstance(dps, dict) or not dps:
        raise TafError("day_profiles: non-empty object")
    for name, sw in dps.items():
        if not isinstance(sw, list) or not sw or sw[0][0] != 0:
            raise TafError("day_profiles.%s: switch list must start at 0" % name)
        last = -1
        for i, e in enumerate(sw):
            if (not isinstance(e, list) or len(e) != 2 or not isinstance(e[0], int)
                    or not last < e[0] < 86400):
                raise TafError("day_profiles.%s[%d]: [seconds ascending < 86400, stage]"
                               % (name, i))
            if e[1] not in tariffs:
                raise TafError("day_profiles.%s[%d]: unknown stage %r" % (name, i, e[1]))
            last = e[0]
    week = p.get("week")
    if not isinstance(week, list) or len(week) != 7:
        raise TafError("week: 7 day-profile names, Monday first")
    for i, n in enumerate(week):
        if n not in dps:
            raise TafError("week[%d]: unknown day profile %r" % (i, n))
    sd = p.get("special_days")
    if not isinstance(sd, dict):
        raise TafError("special_days: object")
    for k, n in sd.items():
        if len(k) != 10 or k[4] != "-" or k[7] != "-":
            raise TafError("special_days.%s: date YYYY-MM-DD" % k)
        if n not in dps:
            raise TafError("special_days.%s: unknown day profile %r" % (k, n))


class Taf2:
    def __init__(self, p, api=None):
        self.p = p
        self.oml = api.oml if api is not None else None
        self.log = api.log if api is not None else None
        self.ch = {}  # channel key (oml.key) -> state list (_REGS .. _FIRST)

    def adopt(self, old):
        """A new profile while running (engine.install): keep every channel's registers,
        last reading and start (a register of a dropped stage stays, so the sum still
        equals the advance); stages new in this profile start at 0."""
        self.ch = old.ch
        for c in self.ch.values():
            for n in self.p["tariffs"]:
                if n not in c[_REGS]:
                    c[_REGS][n] = 0

    def _key(self, meter, obis):
        return (meter, obis) if self.oml is None else self.oml.key(meter, obis)

    def _new(self, t, raw, day, first):
        return [{n: 0 for n in self.p["tariffs"] + ["error"]}, t, raw, day, first]

    def day_profile(self, day):
        y, m, d = civil_from_days(day)
        sp = self.p["special_days"].get("%04d-%02d-%02d" % (y, m, d))
        return self.p["day_profiles"][sp or self.p["week"][(day + 3) % 7]]

    def stage(self, t):
        sw = self.day_profile(t // 86400)
        sec = t % 86400
        st = sw[0][1]
        for s, name in sw:
            if s <= sec:
                st = name
        return st

    def next_change(self, t, until=0):
        """First time > t at which the stage differs from stage(t); searched up to the
        day of `until` (a gap of many days: a special day far ahead) and at least 9
        days; 1 << 62 if none."""
        cur = self.stage(t)
        day = t // 86400
        for k in range(max(9, until // 86400 - day + 1)):
            for s, name in self.day_profile(day + k):
                at = (day + k) * 86400 + s
                if at > t and name != cur:
                    return at
        return 1 << 62

    def on_value(self, meter, obis, d):
        k = self._key(meter, obis)
        t, raw = d["capture_time"], d["raw"]
        c = prev(self.ch, k, meter, obis)
        outs = None
        if c == -1:
            c = self.ch[k] = self._new(t, raw, t // 86400, raw)
        elif t > c[_T]:
            delta = raw - c[_RAW]
            if delta < 0:  # counter went back (meter exchange, wrap): no tariff stage's
                reg = "error"
                if self.log:
                    self.log(2, "taf.error", "TAF2 %s %s: counter decreased %d -> %d"
                             % (meter, obis, c[_RAW], raw))
            else:
                reg = self.stage(c[_T]) if self.next_change(c[_T], t) >= t else "error"
            c[_REGS][reg] += delta
            c[_T], c[_RAW] = t, raw
            if t // 86400 != c[_DAY]:
                c[_DAY] = t // 86400
                outs = self._outputs(meter, obis, c, d, c[_DAY] * 86400)
        return outs

    def _outputs(self, meter, obis, c, d, target):
        return [{"meter": meter, "obis": obis, "capture_time": c[_T], "target_time": target,
                 "raw": v, "scaler": d["scaler"], "unit": d["unit"], "status": d["status"],
                 "register": n, "last_raw": c[_RAW], "first_raw": c[_FIRST]}
                for n, v in sorted(c[_REGS].items())]

    def restore(self, o):
        k = self._key(o["meter"], o["obis"])
        c = self.ch.get(k)
        if c is None or c[_DAY] * 86400 < o["target_time"]:
            c = self.ch[k] = self._new(o["capture_time"], o["last_raw"],
                                       o["target_time"] // 86400, o["first_raw"])
        if o["register"] in c[_REGS]:
            c[_REGS][o["register"]] = o["raw"]

    def state(self):
        names = {}  # channel list object -> (meter, obis)
        if self.oml is not None:
            for mo, lst in self.oml.chans.items():
                names[lst] = mo
        return {"%s %s" % (k if isinstance(k, tuple) else names[k]): {
                "registers": dict(c[_REGS]), "first_raw": c[_FIRST], "last_raw": c[_RAW],
                "last_time": c[_T]} for k, c in self.ch.items()}


def make(p, api):
    return Taf2(p, api)

"""Switching outputs: 3 solid-state outputs (OUT1..OUT3, level pins) and one bistable
relay (RELAY, two coils: a pulse on RELAY_SET closes it, on RELAY_RESET opens it; it
keeps its position without power, so the coil is only pulsed on a change).

State is persisted in /data/outputs.json ({"OUT1": 0, ..., "RELAY": 1}, written
atomically: tmp + rename) and re-applied at boot. Every switch is logged with its
source ("emt" command through CLS/WAN, "taf" schedule, "local"). Sources call
`switch(name, on, source)`; `schedule_tick(now)` applies a TAF switching schedule:
[{"output": "OUT1", "on": "22:00", "off": "06:00"}] in UTC hh:mm.
"""
import json
import os
import time

NAMES = ("OUT1", "OUT2", "OUT3", "RELAY")
_PULSE_MS = const(30)


class OutputError(ValueError):
    pass


class Outputs:
    def __init__(self, pins, path="/data/outputs.json", log=None, schedule=()):
        self.pins = pins  # name -> pin with value(); RELAY_SET/RELAY_RESET for the relay
        self.path = path
        self.log = log or (lambda *a: None)
        self.schedule = list(schedule)
        self.state = {n: 0 for n in NAMES}
        self.switches = 0
        self._load()
        self._apply_all()

    def _load(self):
        try:
            with open(self.path) as f:
                d = json.load(f)
            for n in NAMES:
                if n in d:
                    self.state[n] = 1 if d[n] else 0
        except (OSError, ValueError):
            pass

    def _save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
        os.rename(tmp, self.path)

    def _drive(self, name, on):
        if name == "RELAY":
            coil = self.pins.get("RELAY_SET" if on else "RELAY_RESET")
            if coil is not None:
                coil.value(1)
                time.sleep_ms(_PULSE_MS)
                coil.value(0)
        else:
            p = self.pins.get(name)
            if p is not None:
                p.value(on)

    def _apply_all(self):
        for n in NAMES:
            self._drive(n, self.state[n])

    def switch(self, name, on, source="local"):
        if name not in NAMES:
            raise OutputError("unknown output %r" % (name,))
        on = 1 if on else 0
        if self.state[name] == on:
            return False
        self._drive(name, on)
        self.state[name] = on
        self._save()
        self.switches += 1
        self.log(1, "out.switch", "%s %s by %s" % (name, "on" if on else "off", source))
        return True

    def schedule_tick(self, now):
        """Apply the TAF schedule for UTC seconds `now`; returns the outputs switched."""
        m = now % 86400 // 60
        changed = []
        for e in self.schedule:
            a, b = _minutes(e["on"]), _minutes(e["off"])
            want = (a <= m < b) if a <= b else (m >= a or m < b)
            if self.switch(e["output"], want, "taf"):
                changed.append(e["output"])
        return changed


def _minutes(hhmm):
    h, _, m = hhmm.partition(":")
    return int(h) * 60 + int(m)

"""Time status of the measurement and the deviation rules of a time synchronisation.

Status: "unsynchronised" (no successful sync yet, or none for `max_unsync_s`),
"synchronised", "invalid". The GWA is the synchronisation source (wan.admin calls
ctx.core.time_sync(offset, "gwa") with the NTP offset). Rule (BSI TR-03109-1, time
synchronisation; PTB-A 50.8): a deviation of more than 3 % of the shortest registration
period (27 s at 900 s) is a calibration-log event "time.deviation" and puts measurement
into "invalid" until a later synchronisation finds the clock within the limit again
("time.resync" in the calibration log). Values captured while invalid carry the SMGW
status bit 0x200 (core.oml.TIME_INVALID). The clock itself is corrected at every sync.
"""
from texts import msg as _m

# log events and texts, _m(_T, i) (one string constant: RAM, see texts.py)
_T = const("deviation %.3f s > %.1f s (%s); clock corrected, time invalid|time.deviation"
           "|time.resync|deviation %.3f s (%s); time valid again|offset %.3f s"
           "|offset not a finite number of seconds: %r")


class TimeKeeper:
    def __init__(self, core, rtc, shortest_period=900, max_unsync_s=7 * 86400):
        self.core = core
        self.rtc = rtc
        self.shortest_period = shortest_period
        self.max_unsync_s = max_unsync_s
        self.state = "unsynchronised"
        # "invalid" survives a reboot: it ends only with a sync within the limit, so the
        # calibration log's newest entry being a deviation means still invalid
        cal = core.logs.get("calibration") if core is not None else None
        p = cal.list.last if cal is not None else None
        if p is not None and _m(_T, 1).encode() in bytes(p[16:]):
            try:
                if cal._decode(0, p)["event"] == _m(_T, 1):
                    self.state = "invalid"
            except (ValueError, TypeError):
                pass
        self.last_sync = None
        self.last_offset = None
        self.syncs = 0

    @property
    def limit_s(self):
        return self.shortest_period * 3 / 100

    def status(self, now=None):
        if self.state == "invalid":
            return "invalid"
        if self.last_sync is None:
            return "unsynchronised"
        now = self.rtc.now() if now is None else now
        if now - self.last_sync > self.max_unsync_s:
            return "unsynchronised"
        return "synchronised"

    def invalid(self):
        return self.state == "invalid"

    def sync(self, offset_s, source="gwa"):
        """Apply a measured offset (true time - gateway time, seconds); returns status.
        A non-finite or non-numeric offset raises ValueError before the clock is touched."""
        if (isinstance(offset_s, bool) or not isinstance(offset_s, (int, float))
                or not -1e11 < offset_s < 1e11):  # NaN fails both comparisons
            raise ValueError(_m(_T, 5) % (offset_s,))
        before = self.rtc.now_ms()
        self.rtc.set((before + offset_s * 1000) / 1000)
        now = self.rtc.now()
        self.syncs += 1
        self.last_offset = offset_s
        logs = self.core.logs
        dev = abs(offset_s)
        if dev > self.limit_s:
            self.state = "invalid"
            msg = _m(_T, 0) % (offset_s, self.limit_s, source)
            ev = _m(_T, 1)
            logs["calibration"].append(3, ev, msg, "invalid", subject=source)
            logs["event"].append(3, ev, msg, "invalid", subject=source)
        else:
            if self.state == "invalid":
                logs["calibration"].append(1, _m(_T, 2), _m(_T, 3) % (offset_s, source),
                                           subject=source)
            self.state = "synchronised"
            logs["system"].append(1, "time.sync", _m(_T, 4) % offset_s, subject=source)
        self.last_sync = now
        return self.status(now)

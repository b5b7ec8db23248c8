"""A small in-MicroPython stand-in for ctx.core, with exactly the contract's names
(docs/contracts.md "Core"): ingest, oml.query/last, channels, logs[...].append/read,
tenants.get/visible/active, taf.outputs/subscribe, time_status, time_sync."""


class Oml:
    def __init__(self):
        self.rows = {}  # (meter, obis) -> list of dicts, ascending capture_time

    def add(self, meter, obis, raw, scaler, unit, capture_time, status=None, target=None):
        d = {"meter": meter, "obis": obis, "capture_time": capture_time,
             "target_time": target if target is not None else capture_time - capture_time % 900,
             "raw": raw, "scaler": scaler, "unit": unit, "status": status}
        self.rows.setdefault((meter, obis), []).append(d)
        return d

    def query(self, meter, obis, t0, t1, offset=0, limit=100):
        r = [d for d in self.rows.get((meter, obis), ()) if t0 <= d["capture_time"] <= t1]
        return r[offset:offset + limit]

    def last(self, meter, obis):
        r = self.rows.get((meter, obis))
        return r[-1] if r else None


class Log:
    def __init__(self, name):
        self.name = name
        self.entries = []
        self.reads = []

    def append(self, level, event_id, msg, outcome="ok", subject="", user=""):
        self.entries.append({"no": len(self.entries) + 1, "time": 1700000000 + len(self.entries),
                             "level": level, "event": event_id, "outcome": outcome,
                             "subject": subject, "user": user, "msg": msg})

    def read(self, t0=None, t1=None, start=0, limit=50, reader=""):
        self.reads.append(reader)
        r = [e for e in self.entries if (t0 is None or e["time"] >= t0)
             and (t1 is None or e["time"] <= t1) and e["no"] > start]
        return r[:limit]


class Tenant:
    def __init__(self, id, user, meters, channels, contracts, password=None):
        self.id = id
        self.user = user
        self.meters = meters
        self.channels = channels
        self.contracts = contracts
        self.archived = False
        self.password = password


class Tenants:
    def __init__(self, tenants):
        self.t = {t.user: t for t in tenants}

    def get(self, user):
        return self.t.get(user)

    def visible(self, user, meter, obis, t):
        tn = self.t.get(user)
        if tn is None or meter not in tn.meters:
            return False
        return any(c["valid_from"] <= t <= (c["valid_to"] or 1 << 40) for c in tn.contracts)

    def active(self):
        return [t for t in self.t.values() if not t.archived]


class Taf:
    def __init__(self, oml):
        self.oml = oml
        self.subs = []

    def outputs(self, taf_name, t0, t1):
        out = []
        for (m, o), rows in self.oml.rows.items():
            if o.startswith("1-0:1.8.0"):
                out += [d for d in rows if t0 <= d["target_time"] <= t1
                        and d["target_time"] == d["capture_time"]]
        return out

    def subscribe(self, cb):
        self.subs.append(cb)


class FakeCore:
    def __init__(self, tenants=()):
        self.oml = Oml()
        self.logs = {"system": Log("system"), "calibration": Log("calibration"),
                     "event": Log("event")}
        for t in tenants:
            self.logs["consumer-%s" % t.id] = Log("consumer-%s" % t.id)
        self.tenants = Tenants(tenants)
        self.taf = Taf(self.oml)
        self.ingested = 0

    def ingest(self, meter, obis, raw, scaler, unit, capture_time, status=None):
        self.oml.add(meter, obis, raw, scaler, unit, capture_time, status)
        self.ingested += 1
        return self.ingested

    def channels(self):
        return list(self.oml.rows)

    def time_status(self):
        return "synchronised"

    def time_sync(self, offset_s, source="gwa"):
        return True


MA = "0a01454d480000b8ef47"
MB = "0a01454d480000b8ef48"
T0 = 1700000000 - 1700000000 % 900  # a 15-min grid point


def standard(now=T0 + 86400):
    """Two consumers with one meter each, a day of 15-min readings, logs."""
    a = Tenant("1", "consumer1", [MA], [(MA, "1-0:1.8.0*255"), (MA, "1-0:16.7.0*255")],
               [{"taf": "TAF7", "emt": "emt1", "valid_from": T0 - 86400, "valid_to": None}],
               password="pw-one")
    b = Tenant("2", "consumer2", [MB], [(MB, "1-0:1.8.0*255")],
               [{"taf": "TAF1", "emt": "emt2", "valid_from": T0 - 86400, "valid_to": None}],
               password="pw-two")
    core = FakeCore([a, b])
    for i in range(97):
        t = T0 + i * 900
        core.ingest(MA, "1-0:1.8.0*255", 1000000 + i * 250 + (i % 7) * 30, -1, 30, t, 0x100)
        core.ingest(MB, "1-0:1.8.0*255", 5550000 + i * 90, -1, 30, t, 0)
    core.ingest(MA, "1-0:16.7.0*255", 1234, 0, 27, now - 30, 0)
    core.logs["consumer-1"].append(1, "taf.value", "TAF7 value for A", subject=MA)
    core.logs["consumer-2"].append(1, "taf.value", "TAF1 value for B", subject=MB)
    core.logs["system"].append(1, "boot", "gateway started")
    return core

"""The JSON API for HAN clients, after the public Theben IF_GW_CON description.

Sources: "Schnittstellenbeschreibung IF_GW_CON" (Theben CONEXA 3.0) as summarised in
public client code (maf-soft/SmartmeterGateway docs, conexa clients using requests,
httpx and aiohttp). Shape kept so that those clients work unchanged:

  GET  /smgw/m2m                      -> 307, Location: /smgw/m2m/<user>.sm/json
  POST /smgw/m2m/<user>.sm/json       {"method": ..., ...} -> {"version", "method", <method>: {...}}
  smgw-info         {"smgw-id", "smgw-time", "smgw-state", "time-state",
                     "firmware-info": {"version", "hash", "component"}, "han-certificate"}
  user-info         {"user-id", "role", "usage-points": [{"usage-point-id",
                     "usage-point-name", "taf-number" (string), "taf-state", "emt",
                     "meter": [{"meter-id"}], "start-time", "end-time", "billingPeriods"}]}
  usage-point-info  {"usage-point-id", ..., "databases": [{"database", "channels":
                     [{"obis", "meter-id", "scaler", "unit"}]}]}
  readings          params usage-point-id, database (origin|derived), channels
                    [{"channel": obis}], last-reading, fromtime, totime (<= 31 days)
                    -> {"usage-point-id", "database", "channels": [{"obis", "meter-id",
                    "readings": [{"capture-time", "target-time", "value" (string),
                    "scaler", "unit", "cosem-status"}]}]}
  log               params fromtime, totime, fromindex, count (<= 1500) -> {"entries":
                    [{"index", "time", "level", "event", "outcome", "subject", "message"}]}
  self-test         at most once per 10 minutes (429 + Retry-After otherwise); the
                    result is also written to the log.
Times: "YYYY-MM-DDThh:mm:ssZ" (UTC); an offset +hh:mm is accepted on input.

Tenant rule: a consumer only ever gets rows for which core.tenants.visible(user, meter,
obis, capture_time) holds; the technician gets gateway data and the system log, never
consumption data (usage points, readings, exports answer 403).
"""
import json

from texts import msg

# log and error texts, msg(_T, i): one string constant, not a heap string each (RAM, texts.py)
_T = const("unknown usage-point-id|core not available|request must be a JSON object"
           "|unknown method %r|%s: not for role %s|unknown database %r"
           "|channels must be a list of {\"channel\": obis}|fromindex/count must be integers"
           "|count must be 1..1500|self-test at most every 10 minutes|self-test %s"
           "|han.selftest|export: consumers only|time range must be 0..31 days|bad time %r")

_MAX_RANGE = const(31 * 86400)
_MAX_LOG = const(1500)
_SELFTEST_GAP = const(600)
_PAGE = const(32)  # rows per core query when the core cannot stream a range
_VERSION = const("1.0")
_METHODS = const(" smgw-info user-info usage-point-info readings log self-test ")


class ApiError(Exception):
    def __init__(self, status, text, retry_after=None):
        super().__init__(text)
        self.status = status
        self.retry_after = retry_after


# -- time -----------------------------------------------------------------------------
def iso(t):
    """UTC seconds -> 'YYYY-MM-DDThh:mm:ssZ'."""
    if t is None:
        return None
    t = int(t)
    z = t // 86400 + 719468  # days -> civil date (H. Hinnant's algorithm)
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y = yoe + era * 400 + (m <= 2)
    s = t % 86400
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60)


def parse_iso(s):
    """'YYYY-MM-DD[Thh:mm:ss][Z|+hh:mm]' -> UTC seconds; ApiError 400 if malformed."""
    if isinstance(s, int):
        return s
    try:
        s = s.strip()
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        if s[4] != "-" or s[7] != "-" or not (1 <= mo <= 12 and 1 <= d <= 31):
            raise ValueError
        if d > 28 and d > (30 + (mo + (mo > 7)) % 2 if mo != 2 else
                           28 + (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))):
            raise ValueError  # 2023-02-31 is no day
        y -= mo <= 2  # civil date -> days (H. Hinnant's algorithm)
        era = (y if y >= 0 else y - 399) // 400
        yoe = y - era * 400
        doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
        t = (era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468) * 86400
        rest = s[10:]
        if rest[:1] in ("T", " "):
            hh, mm, ss = int(rest[1:3]), int(rest[4:6]), int(rest[7:9])
            if hh > 23 or mm > 59 or ss > 60:
                raise ValueError
            t += hh * 3600 + mm * 60 + ss
            rest = rest[9:]
            if rest[:1] == ".":
                i = 1
                while i < len(rest) and rest[i].isdigit():
                    i += 1
                rest = rest[i:]
        if rest in ("", "Z", "z"):
            return t
        # " ": a "+" sent unescaped in a query string (form decoding makes it a space)
        if rest[0] in "+- " and len(rest) == 6 and rest[3] == ":" and rest[4] < "6":
            off = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if off > 14 * 3600:  # UTC-12:00 .. UTC+14:00
                raise ValueError
            return t + off if rest[0] == "-" else t - off
        raise ValueError
    except (ValueError, IndexError, TypeError, AttributeError):
        raise ApiError(400, msg(_T, 14) % (s,))


# -- helpers ----------------------------------------------------------------------------
def reading(d):
    st = d.get("status")
    return {"capture-time": iso(d["capture_time"]), "target-time": iso(d.get("target_time")),
            "value": str(d["raw"]), "scaler": d["scaler"], "unit": d["unit"],
            "cosem-status": None if st is None else "%08X" % (st & 0xFFFFFFFF)}


class Api:
    """IF_GW_CON methods over ctx (core, firewall, board) for one authenticated user."""

    def __init__(self, ctx, info=None, clock=None):
        self.ctx = ctx
        self.info = info or {}  # smgw_id, cert fingerprint, firmware ...
        self.clock = clock or ctx.now
        self.last_selftest = None
        self.selftest_hook = None  # callable -> dict of extra checks (service sets it)

    # -- tenant view --------------------------------------------------------------------
    def core(self):
        c = getattr(self.ctx, "core", None)
        if c is None:
            raise ApiError(503, msg(_T, 1))
        return c

    def usage_points(self, user):
        t = self.core().tenants.get(user)
        if t is None or getattr(t, "archived", False):
            return []
        now = self.ctx.now()
        ups = []
        for i, c in enumerate(t.contracts or ()):
            vf, vt = c.get("valid_from"), c.get("valid_to")
            if vf is not None and now < vf:
                state = "not-started"
            elif vt is not None and now > vt:
                state = "finished"
            else:
                state = "running"
            n = str(c.get("taf") or "")
            ups.append({"usage-point-id": "up-%s-%d" % (t.id, i + 1),
                        "usage-point-name": "%s %s" % (c.get("taf", ""), c.get("emt", "")),
                        "taf-number": n[3:] if n.upper().startswith("TAF") else n,
                        "taf-state": state,
                        "emt": c.get("emt"),
                        "meter": [{"meter-id": m} for m in t.meters],
                        "metering-point-id": c.get("metering_point") or t.id,
                        "start-time": iso(vf), "end-time": iso(vt),
                        "billingPeriods": [{"start-time": iso(vf), "end-time": iso(vt)}]})
        return ups

    def _usage_point(self, user, i):
        """The usage point with id i (None: the first)."""
        for up in self.usage_points(user):
            if up["usage-point-id"] == i or i is None:
                return up
        raise ApiError(404, msg(_T, 0))

    def channels(self, user):
        """The tenant's channels; an empty list means every channel of its meters."""
        t = self.core().tenants.get(user)
        if t is None:
            return []
        out = []
        for c in t.channels or self.core().channels():
            # a tenant channel: tuple/list, {"meter","obis"} or "meter/obis"
            if isinstance(c, dict):
                m, o = c.get("meter"), c.get("obis")
            elif isinstance(c, str):
                m, _, o = c.partition("/")
            else:
                m, o = c[0], c[1]
            if m in t.meters and (m, o) not in out:
                out.append((m, o))
        return out

    def rows(self, user, meter, obis, t0, t1):
        """All visible OML rows of one channel in [t0, t1], paged from the core."""
        core = self.core()
        vis = core.tenants.visible
        it = getattr(core.oml, "iter_range", None)
        if it is not None:  # the real core streams a range: no pages, no re-reads
            for d in it(meter, obis, t0, t1):
                if vis(user, d["meter"], d["obis"], d["capture_time"]):
                    yield d
            return
        off = 0
        while True:
            page = core.oml.query(meter, obis, t0, t1, off, _PAGE)
            for d in page:
                if vis(user, d["meter"], d["obis"], d["capture_time"]):
                    yield d
            if len(page) < _PAGE:
                return
            off += _PAGE

    def last(self, user, meter, obis):
        d = self.core().oml.last(meter, obis)
        if d and self.core().tenants.visible(user, d["meter"], d["obis"], d["capture_time"]):
            return d
        return None

    # -- dispatch -------------------------------------------------------------------------
    def call(self, user, role, req):
        if not isinstance(req, dict):
            raise ApiError(400, msg(_T, 2))
        method = req.get("method")
        if not isinstance(method, str) or " " in method or " " + method + " " not in _METHODS:
            raise ApiError(400, msg(_T, 3) % (method,))
        if role != "consumer" and method in ("usage-point-info", "readings"):
            self.ctx.log(2, "han.denied", "%s: %s" % (user, method))
            raise ApiError(403, msg(_T, 4) % (method, role))
        out = getattr(self, method.replace("-", "_"))(user, role, req)
        if not isinstance(out, dict):
            return out  # a generator of JSON text (readings)
        return {"version": _VERSION, "method": method, method: out}

    def smgw_info(self, user, role, req):
        i = self.info
        f = getattr(getattr(self.ctx, "core", None), "time_status", None)
        return {"smgw-id": i.get("smgw_id"), "smgw-time": iso(self.ctx.now()),
                "smgw-state": "operational" if self.ctx.operational_ms is not None
                else "booting",
                "time-state": f() if f else "unknown",
                "firmware-info": {"version": i.get("version"), "hash": i.get("git"),
                                  "component": "osmgw-app"},
                "han-certificate": {"sha256": i.get("fingerprint")}}

    def user_info(self, user, role, req):
        ups = self.usage_points(user) if role == "consumer" else []
        return {"user-id": user, "role": role, "usage-points": ups}

    def usage_point_info(self, user, role, req):
        up = self._usage_point(user, req.get("usage-point-id"))
        chans = []
        for m, o in self.channels(user):
            d = self.last(user, m, o)
            chans.append({"obis": o, "meter-id": m, "scaler": d["scaler"] if d else None,
                          "unit": d["unit"] if d else None})
        dbs = [{"database": self._database(req), "channels": chans}]
        out = dict(up)
        out["databases"] = dbs
        return out

    def _database(self, req):
        db = req.get("database")
        if db in (None, ""):
            return "origin"
        if db not in ("origin", "derived"):
            raise ApiError(400, msg(_T, 5) % (db,))
        return db

    def readings(self, user, role, req):
        """Checks the request, then returns a generator of JSON text (the whole answer):
        31 days of 15-min values do not fit a board's heap as one string."""
        up = self._usage_point(user, req.get("usage-point-id"))
        db = self._database(req)
        want = req.get("channels")
        if want is not None:
            if not isinstance(want, list):
                raise ApiError(400, msg(_T, 6))
            ws = set()
            for w in want:
                w = w.get("channel") if isinstance(w, dict) else w
                if not isinstance(w, str):  # an OBIS string (a list was a 500: unhashable)
                    raise ApiError(400, msg(_T, 6))
                ws.add(w)
            want = ws
        last = req.get("last-reading") in (True, "true", "True", 1)
        t0 = t1 = None
        if not last:
            t0 = parse_iso(req.get("fromtime")) if req.get("fromtime") else None
            t1 = parse_iso(req.get("totime")) if req.get("totime") else self.ctx.now()
            if t0 is None:
                t0 = t1 - 86400
            if t1 < t0 or t1 - t0 > _MAX_RANGE:
                raise ApiError(400, msg(_T, 13))
        plan = []  # (meter, obis, iterable of rows)
        if db == "derived":
            taf = "TAF" + up["taf-number"]
            rows = self.core().taf.outputs(taf, 0 if last else t0,
                                           self.ctx.now() if last else t1)
            by = {}
            vis = self.core().tenants.visible
            for d in rows:
                if (want is None or d["obis"] in want) and vis(user, d["meter"], d["obis"],
                                                               d["capture_time"]):
                    by.setdefault((d["meter"], d["obis"]), []).append(d)
            for (m, o), rs in by.items():
                plan.append((m, o, rs[-1:] if last else rs))
        else:
            for m, o in self.channels(user):
                if want is not None and o not in want:
                    continue
                if last:
                    d = self.last(user, m, o)
                    plan.append((m, o, [d] if d else []))
                else:
                    plan.append((m, o, self.rows(user, m, o, t0, t1)))
        return self._readings_json(up["usage-point-id"], db, plan)

    def _readings_json(self, c, d, p):
        """The readings answer of usage point c, database d, plan p (see readings)."""
        yield '{"version": "%s", "method": "readings", "readings": {"usage-point-id": %s, ' \
              '"database": "%s", "channels": [' % (_VERSION, json.dumps(c), d)
        for i, (m, o, rows) in enumerate(p):
            yield '%s{"obis": %s, "meter-id": %s, "readings": [' % (
                "," if i else "", json.dumps(o), json.dumps(m))
            buf = []
            n = 0
            for r in rows:
                buf.append(("," if n else "") + json.dumps(reading(r)))
                n += 1
                if len(buf) >= 8:  # ~1.2 KB pieces: a fragmented heap has no big blocks
                    yield "".join(buf)
                    buf = []
            buf.append("]}")
            yield "".join(buf)
        yield "]}}"

    def log_name(self, user, role):
        if role == "technician":
            return "system"
        t = self.core().tenants.get(user)
        return "consumer-%s" % t.id if t else None

    def log(self, user, role, req):
        name = self.log_name(user, role)
        logs = self.core().logs
        if name is None or name not in logs:
            return {"entries": []}
        t0 = parse_iso(req["fromtime"]) if req.get("fromtime") else None
        t1 = parse_iso(req["totime"]) if req.get("totime") else None
        try:
            start = int(req.get("fromindex") or 0)
            count = int(req.get("count") or 50)
        except (TypeError, ValueError):
            raise ApiError(400, msg(_T, 7))
        if count < 1 or count > _MAX_LOG or start < 0:
            raise ApiError(400, msg(_T, 8))
        ents = logs[name].read(t0, t1, start, count, user)
        return {"log": name, "entries": [
            {"index": e["no"], "time": iso(e["time"]), "level": e["level"],
             "event": e["event"], "outcome": e.get("outcome"), "subject": e.get("subject"),
             "message": e["msg"]} for e in ents]}

    def self_test(self, user, role, req):
        now = self.clock()
        if self.last_selftest is not None and now - self.last_selftest < _SELFTEST_GAP:
            raise ApiError(429, msg(_T, 9),
                           _SELFTEST_GAP - (now - self.last_selftest))
        self.last_selftest = now
        checks = {}
        ok = True
        if self.selftest_hook:
            r = self.selftest_hook()
            checks.update(r)
            ok = all(v.get("ok", False) if isinstance(v, dict) else bool(v)
                     for v in r.values())
        res = {"result": "ok" if ok else "failed", "time": iso(self.ctx.now()),
               "checks": checks}
        core = getattr(self.ctx, "core", None)
        if core is not None:
            text = msg(_T, 10) % res["result"]
            core.logs["system"].append(1 if ok else 3, msg(_T, 11), text, res["result"],
                                       user=user)
            name = self.log_name(user, role)
            if name and name != "system" and name in core.logs:
                core.logs[name].append(1, msg(_T, 11), text, res["result"], user=user)
        return res

    # -- export ---------------------------------------------------------------------------
    def export(self, user, role, fmt, t0, t1):
        """Generator of text chunks: CSV or JSON lines of the user's visible readings."""
        if role != "consumer":
            self.ctx.log(2, "han.denied", "%s: %s" % (user, "export"))
            raise ApiError(403, msg(_T, 12))
        if t1 < t0 or t1 - t0 > _MAX_RANGE:
            raise ApiError(400, msg(_T, 13))
        chans = self.channels(user)
        return self._export(user, chans, fmt, t0, t1)

    def _export(self, user, chans, fmt, t0, t1):
        if fmt == "csv":
            yield "meter,obis,capture_time,target_time,value,scaler,unit,status\r\n"
        else:
            yield '{"from": "%s", "to": "%s", "rows": [' % (iso(t0), iso(t1))
        first = True
        for m, o in chans:
            buf = []
            for d in self.rows(user, m, o, t0, t1):
                r = reading(d)
                if fmt == "csv":
                    buf.append("%s,%s,%s,%s,%s,%d,%d,%s\r\n" % (
                        m, o, r["capture-time"], r["target-time"] or "", r["value"],
                        r["scaler"], r["unit"], r["cosem-status"] or ""))
                else:
                    r["meter-id"] = m
                    r["obis"] = o
                    buf.append(("" if first else ",") + json.dumps(r))
                    first = False
                if len(buf) >= 32:
                    yield "".join(buf)
                    buf = []
            if buf:
                yield "".join(buf)
        if fmt != "csv":
            yield "]}"



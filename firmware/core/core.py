"""The measurement core: OML, time status, TAF engine, logs and tenants over one store.

ctx.core (docs/contracts.md "Core") is a Core. Every reading goes
ingest() -> status word (time-invalid bit from the time keeper) -> OML record (durable
before ingest returns its sequence number) -> TAF engine (outputs stored, subscribers
called). With "core": {"sign_oml": true} each value is signed at capture by the
security module (`secmod`: the object, or a callable returning ctx.secmod, which the WAN
service may set after the core) before it is stored (core/oml.py, docs/core.md); without a
module or key the value is stored unsigned and "core.oml_unsigned" is logged once. The
OML target time is the 900 s grid point when the capture lies within
+-1 % (9 s) of it, else the capture time itself.
"""
import json

from store.records import RecordStore, StoreError
from core.oml import Oml, OmlError, check, status_word, TIME_INVALID
from core.logs import Log
from core.clock import TimeKeeper
from taf.engine import Engine, profiles_of
from texts import msg as _m


DEFAULT_TAFS = ("TAF7",)
# log events and texts, _m(_T, i) (one string constant: RAM, see texts.py)
_T = const("core.config|tenants refused: %s|core.ingest|no security module|core.oml_unsigned"
           "|OML values stored unsigned (%s)|log.calibration_full"
           "|calibration log full: entry refused|/data/config/active.json|store: %s: %s")


class Core:
    def __init__(self, root, now, rtc=None, config=None, ctx_log=None, taf_dir=None,
                 secmod=None):
        cfg = config or {}
        ccfg = cfg.get("core") or {}
        if not isinstance(ccfg, dict):
            ccfg = {}
        self.now = now
        self.sign_oml = bool(ccfg.get("sign_oml"))
        self.secmod = secmod
        self._unsigned_logged = False
        self.ctx_log = ctx_log
        self.store = RecordStore(root, on_event=self._store_event)
        self.logs = {}
        for n in ("system", "event", "calibration"):
            self.logs[n] = Log(self, n)
        cap = ccfg.get("oml_capacity")
        self.oml = Oml(self.store, cap if isinstance(cap, int) and cap > 0 else 4096)
        self._tenants = None  # loaded on first use when none are configured (saves RAM)
        if cfg.get("tenants"):
            try:
                self.tenants.load(cfg["tenants"])
            except Exception as e:  # noqa: BLE001 - TenantError: keep none, log
                self.log(3, _m(_T, 0), _m(_T, 1) % e)
            self._consumer_logs()
        if rtc is None:  # tests: a clock over now()
            from core.nowrtc import NowRtc

            rtc = NowRtc(now)
        self.clock = TimeKeeper(self, rtc, ccfg.get("shortest_period", 900))
        self.grid = 900
        self.grid_tol = 9
        self.taf = Engine(self, taf_dir or root + "/taf")
        # TAFs in use: "core": {"tafs": [...]} (default TAF7), plus every TAF with a
        # profile or a consumer contract; each built-in TAF costs 2-6 KB of RAM
        tafs = ccfg.get("tafs") or DEFAULT_TAFS
        names = set((tafs,) if isinstance(tafs, str) else tafs)
        names |= set(profiles_of(cfg.get("taf_profiles"))[0])
        for t in (self._tenants.by_user.values() if self._tenants else ()):
            for c in t.contracts:
                if c["taf"]:
                    names.add(c["taf"])
        self.taf.load_builtins(cfg.get("taf_profiles"), names)
        self.ingested = 0
        self.errors = 0

    @property
    def tenants(self):
        if self._tenants is None:
            from core.tenants import Tenants

            self._tenants = Tenants(self)
        return self._tenants

    def _consumer_logs(self):
        for t in self.tenants.by_user.values():
            n = "consumer-" + t.id
            if n not in self.logs:
                self.logs[n] = Log(self, n)

    # ---- readings ---------------------------------------------------------------------
    def ingest(self, meter, obis, raw, scaler, unit, capture_time, status=None):
        """Store one reading; its sequence number once durable. A reading that cannot be
        stored (bad input, or the store refused it: full flash) raises OmlError and is
        logged; a TAF's failure afterwards is the engine's (logged), not the caller's."""
        try:
            scaler = scaler or 0
            capture_time = check(meter, obis, raw, scaler, unit, capture_time, status)
            g = (capture_time + self.grid // 2) // self.grid * self.grid
            target = g if abs(capture_time - g) <= self.grid_tol else capture_time
            st = status_word(TIME_INVALID if self.clock.invalid() else 0, status)
            sig = self._sign(meter, obis, capture_time, raw, scaler, unit, st) \
                if self.sign_oml else None
            try:
                seq = self.oml.append(meter, obis, capture_time, target, raw, scaler, unit,
                                      st, sig)
            except (StoreError, OSError) as e:  # full flash, channel table full
                raise OmlError(_m(_T, 9) % (type(e).__name__, e))
        except OmlError as e:
            self.errors += 1
            self.log(3, _m(_T, 2), "%s %s: %s" % (meter, obis, e))
            raise
        self.ingested += 1
        d = {"meter": meter, "obis": obis, "capture_time": capture_time,
             "target_time": target, "raw": raw, "scaler": scaler, "unit": unit,
             "status": st}
        self.taf.on_value(meter, obis, d)
        return seq

    def channels(self):
        return self.oml.channels()

    def _sign(self, meter, obis, capture, raw, scaler, unit, st):
        """r||s of one value, or None (no module/key: logged once, value kept unsigned).
        Invalid values (OmlError from the canonical encoding) are left to append()."""
        sm = self.secmod
        if sm is not None and not hasattr(sm, "sign"):
            sm = sm()  # a getter (ctx.secmod set later by the WAN service)
        why = None
        if sm is not None:
            from core.omlsig import sign

            try:
                return sign(sm, meter, obis, capture, raw, scaler, unit, st)
            except OmlError:
                return None
            except (OverflowError, TypeError, ValueError):
                return None  # out-of-range value: append() raises OmlError for it
            except Exception as e:  # noqa: BLE001 - SecModError (no key), driver errors
                why = "%s: %s" % (type(e).__name__, e)
        if not self._unsigned_logged:
            self._unsigned_logged = True
            self.log(2, _m(_T, 4), _m(_T, 5) % (why or _m(_T, 3)))
        return None

    # ---- time ----------------------------------------------------------------------------
    def time_status(self):
        return self.clock.status()

    def time_sync(self, offset_s, source="gwa"):
        return self.clock.sync(offset_s, source)

    # ---- configuration ----------------------------------------------------------------
    def check_config(self, cfg):
        """{part: error} for the tenants and TAF profiles of a configuration, nothing
        applied (wan.config refuses such a configuration before it is stored, so the
        GWA hears "refused" instead of "applied" while the old parts stay in force)."""
        errors = {}
        if "tenants" in cfg:
            from core.tenants import Tenants

            try:
                Tenants().load(cfg["tenants"])
            except Exception as e:  # noqa: BLE001 - TenantError, or a bug in the check
                errors["tenants"] = str(e)
        if "taf_profiles" in cfg:
            profiles, bad = profiles_of(cfg["taf_profiles"])
            errors.update(bad)
            for name, prof in profiles.items():
                try:
                    if self.taf.profile(name, prof, False)[0] is None:
                        errors[name] = "unknown TAF"
                except Exception as e:  # noqa: BLE001 - TafError: a refused profile
                    errors[name] = str(e)
        return errors

    def reload_config(self, cfg):
        """New configuration (wan.admin hook): tenants and TAF profiles; invalid parts
        keep what is in force and are logged."""
        errors = {}
        if "tenants" in cfg:
            try:
                self.tenants.load(cfg["tenants"])
                self._consumer_logs()
            except Exception as e:  # noqa: BLE001 - TenantError: keep those in force
                errors["tenants"] = str(e)
                self.log(3, _m(_T, 0), _m(_T, 1) % e)
        if "taf_profiles" in cfg:
            errors.update(self.taf.configure(cfg["taf_profiles"]))
        for t in self._tenants.by_user.values() if self._tenants else ():
            for c in t.contracts:  # a contract's TAF runs from now on (as at boot)
                n = c["taf"]
                if isinstance(n, str) and n not in self.taf.inst:
                    errors.update(self.taf.configure({n: {}}))
        return errors

    # ---- logging ----------------------------------------------------------------------
    def log(self, level, event, msg):
        """Core's own messages: through ctx.log (trace, sinks -> system log) when wired."""
        if self.ctx_log is not None:
            self.ctx_log(level, event, msg)
        else:
            try:
                self.sink(level, event, msg)
            except (StoreError, OSError):  # full flash: logging must not break the caller
                pass

    def sink(self, level, event, msg):
        """ctx.sinks entry: the system log, and the event log from level 3 (error) on."""
        self.logs["system"].append(level, event, msg, "ok" if level < 3 else "failed")
        if level >= 3:
            self.logs["event"].append(level, event, msg, "failed")

    def _store_event(self, level, event, msg):
        self.logs["system"].append(level, event, msg, "warning")
        self.logs["event"].append(max(level, 2), event, msg, "warning")

    def full_calibration(self):
        for n in ("system", "event"):
            self.logs[n].append(4, _m(_T, 6), _m(_T, 7), "failed", subject="calibration")

    def status(self):
        used, free = self.store.usage()
        return {"time": self.time_status(), "channels": len(self.oml.chans),
                "ingested": self.ingested, "errors": self.errors,
                "store_used_pct": int(used * 100), "store_free": free,
                "tenants": len(self._tenants.active()) if self._tenants else 0}


def load_config(path=None):
    path = path or _m(_T, 8)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

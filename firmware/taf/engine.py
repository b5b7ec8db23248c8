"""TAF engine: tariff applications as plug-in modules fed from the OML.

Plug-in interface (a TAF module, built in as `taf.tafN` or loaded from a module file):

    NAME = "TAF7"                 # declared name
    INPUTS = ("1-0:1.8.", ...)    # OBIS prefixes it consumes ("" = every channel)
    OUTPUTS = ("reading",)        # kinds of values it produces
    CAPACITY = 8192               # records kept in its output list (ring)
    DEFAULT = {...}               # default profile
    def validate(profile): ...    # raise TafError("field: reason") per bad field
    def make(profile, api): ...   # -> object with on_value(meter, obis, d) -> [out]
                                  #    and optional on_tick(now) -> [out], restore(out)

An output is a value dict as an OML query row ("meter", "obis", "capture_time",
"target_time", "raw", "scaler", "unit", "status") plus TAF-specific keys ("register",
"kind"). The engine stores each output in the list "taf-<name>" (JSON) and calls every
subscriber (WAN) with (name, meter, obis, output). `api` gives a module `now()`,
`oml` (read access) and `log(level, event, msg)`.

Module files: `load_file(path, verify)` reads the source, hands it to `verify(source)`
(the signature check of the WAN issue; here any callable that raises to refuse), then
executes it in a fresh namespace and checks the declared interface. Profiles are data
(JSON): `configure()` validates every profile first and keeps the previous valid
profile of a TAF whose new profile is invalid (errors returned and logged); the last
valid profiles are kept in /data/taf/profiles.json.
"""
import json

from store.records import mkdirs, write_atomic
from texts import msg as _m

BUILTIN = ("taf1", "taf2", "taf6", "taf7")
# errors, log events and texts, _m(_T, i) (one string constant: RAM, see texts.py)
_T = const("%s: %s missing|unknown TAF|/profiles.json|taf.profile_invalid"
           "|%s: %s (previous profile kept)|taf.profile|%s profile applied|%s: %s: %s"
           "|taf.subscriber|%s has no on-demand read")


class TafError(Exception):
    pass


def __getattr__(name):
    # rarely used parts, loaded on first use: module files (taf.plugin) and the civil
    # calendar (taf.cal, for TAF1/TAF2 and exports)
    if name in ("load_source", "load_file"):
        from taf import plugin

        return getattr(plugin, name)
    if name in ("days_from_civil", "civil_from_days"):
        from taf import cal

        return getattr(cal, name)
    raise AttributeError(name)


class _Mod:
    """A checked plug-in: the module's attributes in one object."""

    def __init__(self, ns, origin):
        g = ns.get if isinstance(ns, dict) else (lambda k, d=None: getattr(ns, k, d))
        self.origin = origin
        self.NAME = g("NAME")
        self.INPUTS = g("INPUTS")
        self.OUTPUTS = g("OUTPUTS")
        self.CAPACITY = g("CAPACITY", 4096)
        self.DEFAULT = g("DEFAULT", {})
        self.validate = g("validate", lambda p: None)
        self.make = g("make")
        if not isinstance(self.NAME, str) or not self.NAME:
            raise TafError(_m(_T, 0) % (origin, "NAME"))
        if not isinstance(self.INPUTS, (tuple, list)):
            raise TafError(_m(_T, 0) % (origin, "INPUTS"))
        if not isinstance(self.OUTPUTS, (tuple, list)) or not self.OUTPUTS:
            raise TafError(_m(_T, 0) % (origin, "OUTPUTS"))
        if not callable(self.make):
            raise TafError(_m(_T, 0) % (origin, "make()"))


def load_builtin(modname):
    mod = __import__("taf." + modname, None, None, ("make",))
    return _Mod(mod, "taf." + modname)


class Engine:
    def __init__(self, core, state_dir="/data/taf"):
        self.core = core
        self.state_dir = state_dir
        self.mods = {}  # name -> _Mod
        self.profiles = {}  # name -> valid profile in use
        self.inst = {}
        self.lists = {}
        self.subs = []
        self.oml = core.oml  # the engine is the modules' `api`: now(), oml, log()
        mkdirs(state_dir)

    # ---- plug-ins and profiles ---------------------------------------------------------
    def install(self, mod, profile=None):
        prof = dict(mod.DEFAULT)
        if profile:
            prof.update(profile)
        try:
            mod.validate(prof)
        except TafError:
            raise
        except Exception as e:  # noqa: BLE001 - a buggy validator refuses the profile
            raise TafError("%s: %s" % (mod.NAME, e))
        self.mods[mod.NAME] = mod
        self.profiles[mod.NAME] = prof
        lst = self.core.store.open_list("taf-" + mod.NAME.lower(), mod.CAPACITY, "drop")
        self.lists[mod.NAME] = lst
        inst = mod.make(prof, self)
        restore = getattr(inst, "restore", None)
        if restore:
            start = max(lst.first_seq, lst.last_seq - 511)
            for _, p in lst.records(start):
                restore(json.loads(p))
        self.inst[mod.NAME] = inst
        return inst

    def load_builtins(self, profiles=None, names=None):
        """Install the built-in TAFs in `names` (default all; each costs RAM)."""
        saved = self._saved()
        for m in BUILTIN:
            if names is not None and m.upper() not in names:
                continue
            mod = load_builtin(m)
            prof = (profiles or {}).get(mod.NAME)
            try:
                self.install(mod, prof if prof is not None else saved.get(mod.NAME))
            except TafError as e:
                self.core.log(3, _m(_T, 3), "%s: %s" % (mod.NAME, e))
                self.install(mod, saved.get(mod.NAME))
        self._save()

    def configure(self, profiles):
        """Apply new profiles {name: dict}; invalid ones keep the old. -> {name: error}."""
        errors = {}
        for name, prof in (profiles or {}).items():
            mod = self.mods.get(name)
            if mod is None:
                errors[name] = _m(_T, 1)
                continue
            p = dict(mod.DEFAULT)
            p.update(prof)
            try:
                mod.validate(p)
            except Exception as e:  # noqa: BLE001 - TafError or a validator bug
                errors[name] = str(e)
                self.core.log(3, _m(_T, 3), _m(_T, 4) % (name, e))
                continue
            if p != self.profiles.get(name):
                self.install(mod, p)
                self.core.log(1, _m(_T, 5), _m(_T, 6) % name)
        self._save()
        return errors

    def _saved(self):
        try:
            with open(self.state_dir + _m(_T, 2)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save(self):
        write_atomic(self.state_dir + _m(_T, 2), json.dumps(self.profiles).encode())

    # ---- values --------------------------------------------------------------------------
    def on_value(self, meter, obis, d):
        for name, inst in self.inst.items():
            mod = self.mods[name]
            if not _matches(mod.INPUTS, obis):
                continue
            want = self.profiles[name].get("obis")
            if want and obis not in want:
                continue
            try:
                outs = inst.on_value(meter, obis, d)
            except Exception as e:  # noqa: BLE001 - one TAF's bug must not stop the others
                self.core.log(3, "taf.error", _m(_T, 7) % (name, type(e).__name__, e))
                continue
            if outs:
                self.emit(name, outs)

    def tick(self, now):
        for name, inst in self.inst.items():
            f = getattr(inst, "on_tick", None)
            if f:
                outs = f(now)
                if outs:
                    self.emit(name, outs)

    def emit(self, name, outs):
        lst = self.lists[name]
        for d in outs:
            d["taf"] = name
            d["no"] = lst.append(json.dumps(d).encode())
            for cb in self.subs:
                try:
                    cb(name, d["meter"], d["obis"], d)
                except Exception as e:  # noqa: BLE001 - a subscriber must not stop TAFs
                    self.core.log(3, _m(_T, 8), "%s: %s" % (type(e).__name__, e))

    def now(self):
        return self.core.now()

    def log(self, level, event, msg):
        self.core.log(level, event, msg)

    def subscribe(self, callback):
        self.subs.append(callback)

    def outputs(self, taf_name, t0, t1, offset=0, limit=None):
        """Stored outputs of one TAF with target time in [t0, t1] (inclusive)."""
        lst = self.lists.get(taf_name)
        out = []
        if lst is None:
            return out
        for seq, p in lst.records():
            d = json.loads(p)
            d["no"] = seq
            if t0 <= d["target_time"] <= t1:
                if offset:
                    offset -= 1
                    continue
                out.append(d)
                if limit and len(out) >= limit:
                    break
        return out

    def read_now(self, taf_name, meter, obis):
        """On-demand reading (TAF6): the channel's last OML value as an output."""
        inst = self.inst.get(taf_name)
        f = getattr(inst, "on_demand", None)
        if f is None:
            raise TafError(_m(_T, 9) % taf_name)
        d = self.core.oml.last(meter, obis)
        if d is None:
            return None
        outs = f(meter, obis, d, self.core.now())
        self.emit(taf_name, outs)
        return outs[0] if outs else None

    def state(self, taf_name):
        f = getattr(self.inst.get(taf_name), "state", None)
        return f() if f else None


def _matches(prefixes, obis):
    for p in prefixes:
        if obis.startswith(p):
            return True
    return False


def prev(state, k, meter, obis):
    """state[k] for a channel key k = oml.key(meter, obis), or -1; an entry restored under
    (meter, obis) before the channel existed moves to k."""
    v = state.get(k)
    if v is None:
        v = -1
        if not isinstance(k, tuple):
            v = state.pop((meter, obis), -1)
            if v != -1:
                state[k] = v
    return v


def value(d, target, **extra):
    """An output built from an OML row with a target time."""
    o = {"meter": d["meter"], "obis": d["obis"], "capture_time": d["capture_time"],
         "target_time": target, "raw": d["raw"], "scaler": d["scaler"], "unit": d["unit"],
         "status": d["status"]}
    o.update(extra)
    return o

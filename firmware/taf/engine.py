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
_T = const("%s: %s missing or invalid|unknown TAF|/profiles.json|taf.profile_invalid"
           "|%s: %s (previous profile kept)|taf.profile|%s profile applied|%s: %s: %s"
           "|taf.subscriber|%s has no on-demand read|taf.error|%s: output dropped: %r"
           "|profile: object required|taf_profiles: {TAF name: profile} or [{taf, ...}]")
# an output must carry these (value dict, engine "An output is ..."): texts, then numbers
_KEYS = ("meter", "obis", "capture_time", "target_time", "raw")
_MAX_OUT = const(64)  # outputs of one call (TAF2: one per register)


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
        lst = self.core.store.open_list("taf-" + mod.NAME.lower(), mod.CAPACITY, "drop")
        old = self.inst.get(mod.NAME)
        try:  # a module's make/restore bug refuses it: the one in force stays
            inst = mod.make(prof, self)
            adopt = getattr(inst, "adopt", None)
            restore = getattr(inst, "restore", None)
            if adopt and type(old) is type(inst):
                adopt(old)  # a new profile mid-period: carry the running state over
            elif restore:
                start = max(lst.first_seq, lst.last_seq - 511)
                for _, p in lst.records(start):
                    try:
                        restore(json.loads(p))
                    except (KeyError, TypeError, ValueError):
                        pass  # an output this module cannot read: not its state
        except Exception as e:  # noqa: BLE001
            raise TafError(_m(_T, 7) % (mod.NAME, type(e).__name__, e))
        self.mods[mod.NAME] = mod
        self.profiles[mod.NAME] = prof
        self.lists[mod.NAME] = lst
        self.inst[mod.NAME] = inst
        return inst

    def load_builtins(self, profiles=None, names=None):
        """Install the built-in TAFs in `names` (default all; each costs RAM)."""
        saved = self._saved()
        profiles, errors = profiles_of(profiles)
        for name, e in errors.items():
            self.core.log(3, _m(_T, 3), _m(_T, 4) % (name, e))
        for m in BUILTIN:
            if names is not None and m.upper() not in names:
                continue
            mod = load_builtin(m)
            prof = profiles.get(mod.NAME)
            try:
                self.install(mod, prof if prof is not None else saved.get(mod.NAME))
            except TafError as e:
                self.core.log(3, _m(_T, 3), "%s: %s" % (mod.NAME, e))
                try:
                    self.install(mod, saved.get(mod.NAME))
                except TafError as e:  # e.g. a stored output restore() cannot read
                    self.core.log(3, _m(_T, 10), str(e))
        self._save()

    def profile(self, name, prof, start=True):
        """(module, full profile) of a new profile for TAF name, validated (TafError);
        (None, None) for an unknown TAF. start: a built-in not running yet is loaded
        (False: it is known by its name, nothing loaded: Core.check_config)."""
        mod = self.mods.get(name)
        if mod is None and isinstance(name, str) and name.lower() in BUILTIN:
            if not start:
                return True, prof
            mod = load_builtin(name.lower())  # a built-in not running yet: start it
        if mod is None:
            return None, None
        p = dict(mod.DEFAULT)
        p.update(prof)
        try:
            mod.validate(p)
        except Exception as e:  # noqa: BLE001 - TafError or a validator bug
            raise TafError(str(e))
        return mod, p

    def configure(self, profiles):
        """Apply new profiles {name: dict}; invalid ones keep the old. -> {name: error}."""
        profiles, errors = profiles_of(profiles)
        for name, e in errors.items():
            self.core.log(3, _m(_T, 3), _m(_T, 4) % (name, e))
        for name, prof in profiles.items():
            try:
                mod, p = self.profile(name, prof)
            except TafError as e:
                errors[name] = str(e)
                self.core.log(3, _m(_T, 3), _m(_T, 4) % (name, e))
                continue
            if mod is None:
                errors[name] = _m(_T, 1)  # unknown TAF
                continue
            if p != self.profiles.get(name):
                try:
                    self.install(mod, p)
                except TafError as e:
                    errors[name] = str(e)
                    self.core.log(3, _m(_T, 3), _m(_T, 4) % (name, e))
                    continue
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
            # one TAF's bug (or its full output list) must not stop the others or
            # the caller: the value is already stored in the OML
            try:
                if not _matches(self.mods[name].INPUTS, obis):
                    continue
                want = self.profiles[name].get("obis")
                if want and obis not in want:
                    continue
                outs = inst.on_value(meter, obis, d)
                if outs:
                    self.emit(name, outs, (meter, obis))
            except Exception as e:  # noqa: BLE001
                self._error(name, e)

    def tick(self, now):
        for name, inst in self.inst.items():
            try:
                f = getattr(inst, "on_tick", None)
                outs = f(now) if f else None
                if outs:
                    self.emit(name, outs)
            except Exception as e:  # noqa: BLE001 - the other TAFs still tick
                self._error(name, e)

    def _error(self, name, e):
        self.core.log(3, _m(_T, 10), _m(_T, 7) % (name, type(e).__name__, e))

    def emit(self, name, outs, chan=None):
        """Store and publish outputs; chan = (meter, obis) the value fed (a TAF's output
        for a value is that channel's: no module writes another meter's data)."""
        lst = self.lists[name]
        n = 0
        for d in outs:
            n += 1
            if n > _MAX_OUT:  # a runaway module (endless generator): the rest dropped
                self.core.log(3, _m(_T, 10), _m(_T, 11) % (name, "> %d" % _MAX_OUT))
                break
            if not _output_ok(d) or chan and (d["meter"], d["obis"]) != chan:
                self.core.log(3, _m(_T, 10), _m(_T, 11) % (name, d))  # never stored
                continue
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


def profiles_of(x):
    """({name: profile dict}, {name: error}) of a configuration's "taf_profiles": an object
    {"TAF2": {...}} (docs/core.md), or a list of profiles naming their TAF under "taf"
    (the WAN configuration's list form); anything else is refused, never raised."""
    ok, errors = {}, {}
    if isinstance(x, list):
        d = {}
        for p in x:
            if not isinstance(p, dict) or not isinstance(p.get("taf"), str):
                errors["taf_profiles"] = _m(_T, 13)
                continue
            p = dict(p)
            d[p.pop("taf")] = p
        x = d
    elif x is not None and not isinstance(x, dict):
        return ok, {"taf_profiles": _m(_T, 13)}
    for name, p in (x or {}).items():
        if isinstance(p, dict):
            ok[name] = p
        elif p is not None:
            errors[name] = _m(_T, 12)
    return ok, errors


def _output_ok(d):
    if not isinstance(d, dict):
        return False
    for k in _KEYS:
        v = d.get(k)
        if not isinstance(v, str if k in ("meter", "obis") else int if k == "raw"
                          else (int, float)):
            return False
    return True


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
